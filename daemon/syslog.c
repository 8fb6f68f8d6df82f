/* SPDX-License-Identifier: ISC */
/* syslog: reading the header of one message (see syslog.h).
 *
 * One forward pass over the bytes with a few bytes of look-ahead; nothing is
 * copied or allocated, every field is a slice of the input. Every read is
 * bounded by the end pointer: the input is not NUL-terminated and may hold
 * any byte. Dates are turned into seconds by hand (days from civil), so no
 * libc time or locale function is on the path.
 *
 * Shape of the legacy (non-RFC 5424) parser: an optional Cisco sequence
 * number, an optional timestamp, then up to four space-separated tokens until
 * an "anchor" that says which vendor wrote the rest ("%%01", "%FAC-6-X:",
 * "MODULE/7/DIGEST:", "000123:", a lone ":"). The tokens before the anchor are
 * the host name plus, on Huawei AR routers, a time zone and a source address.
 * Without an anchor the line is RFC 3164: host, then "TAG[PID]:".
 */
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "syslog.h"

/* Longest token looked at as a tag, module, brief or origin host; beyond that
 * a token is taken as text, which bounds the work on hostile input. */
#define TAG_MAX 64
#define BRIEF_MAX 128
/* Bytes after "%%..:" searched for the ';' that ends "CID=...;". */
#define CID_MAX 96
/* Tokens allowed between the timestamp and a vendor anchor. */
#define PRE_TOKENS 4

/* Range of 'now' that keeps all date arithmetic inside int64_t:
 * 0001-01-01 .. 9999-12-31. */
#define NOW_MIN (-62135596800LL)
#define NOW_MAX 253402300799LL

/* A timestamp as read, before it becomes seconds. */
struct tsp {
    int year, mon, day, hour, min, sec;
    int32_t usec;
    int32_t off_min;
    unsigned flags;   /* SL_TS_YEAR, SL_TS_ZONE, SL_TS_DST, SL_TS_BOOT */
    int64_t boot_sec;
    bool frac;        /* had a fraction: Cisco-style when followed by ':' */
    bool comware;     /* H3C forms: ":mmm" milliseconds or the year after the time */
};

/* A "MODULE/SEV/BRIEF(flag)[count]:CID=..;" record. */
struct modrec {
    struct sl_str app, sev, brief, flag, seq, cid;
    int version; /* the "dd" of "%%dd", -1 without "%%" */
};

/* A Cisco "%FAC-SEV-MNEMONIC:". */
struct mnemonic {
    struct sl_str fac, sev, mnem;
};

enum tok_class { TOK_OTHER, TOK_IPV4, TOK_ZONE };

struct tok {
    const char *p, *e;
    enum tok_class cls;
    int32_t off_min; /* TOK_ZONE */
};

static inline bool is_digit(char c)
{
    return (unsigned)((unsigned char)c - '0') < 10u;
}

static inline bool is_alpha(char c)
{
    return (unsigned)(((unsigned char)c | 0x20u) - 'a') < 26u;
}

static inline bool is_upper(char c)
{
    return (unsigned)((unsigned char)c - 'A') < 26u;
}

static inline bool is_alnum(char c)
{
    return is_digit(c) || is_alpha(c);
}

static inline const char *skip_sp(const char *p, const char *e)
{
    while (p < e && *p == ' ')
        p++;
    return p;
}

/* Skips exactly one space: the separator, not indentation that belongs to
 * the text. */
static inline const char *skip_one_sp(const char *p, const char *e)
{
    return (p < e && *p == ' ') ? p + 1 : p;
}

static inline const char *tok_end(const char *p, const char *e)
{
    while (p < e && *p != ' ')
        p++;
    return p;
}

/* Empty slices are reported as absent, so callers only test len. */
static inline struct sl_str slice(const char *p, const char *q)
{
    struct sl_str s = {NULL, 0};
    if (p && q > p) {
        s.p = p;
        s.len = (size_t)(q - p);
    }
    return s;
}

/* Reads min..max decimal digits (max <= 9). Fails when fewer, or when a
 * further digit follows, so "2026" is never read as a two-digit day. */
static const char *read_uint(const char *p, const char *e, int min, int max, int *out)
{
    int v = 0, n = 0;
    while (p < e && is_digit(*p)) {
        if (n == max)
            return NULL;
        v = v * 10 + (*p - '0');
        p++;
        n++;
    }
    if (n < min)
        return NULL;
    *out = v;
    return p;
}

/* ---------------------------------------------------------------- dates */

static bool is_leap(int64_t y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int days_in_month(int64_t y, int m)
{
    static const unsigned char dim[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return (m == 2 && is_leap(y)) ? 29 : dim[m - 1];
}

/* Days since 1970-01-01 of a proleptic Gregorian date. Counts in 400-year
 * eras from March 1st so that the leap day falls at the end of the counted
 * year and needs no special case. */
static int64_t days_from_civil(int64_t y, int m, int d)
{
    if (m <= 2)
        y--;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;                           /* 0..399 */
    int64_t mp = m > 2 ? m - 3 : m + 9;                    /* March = 0 */
    int64_t doy = (153 * mp + 2) / 5 + d - 1;              /* 0..365 */
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;   /* 0..146096 */
    return era * 146097 + doe - 719468;
}

static int64_t civil_seconds(int64_t y, const struct tsp *t)
{
    return days_from_civil(y, t->mon, t->day) * 86400 + t->hour * 3600 + t->min * 60 + t->sec -
           (int64_t)t->off_min * 60;
}

/* The year for a year-less time: the one that puts it nearest to now
 * without being more than FUTURE_SLACK ahead of now (syslog.h). A relayed or
 * stored line is almost always from the past; a month of slack covers clocks
 * that run ahead. Only leap years have Feb 29, and those can be eight years
 * apart around 2100, hence the wider search for that day. */
#define FUTURE_SLACK (31 * 86400)
static int64_t infer_year(const struct tsp *t, int64_t now)
{
    int64_t y = 1970 + (now / 86400) * 400 / 146097; /* within a year or so */
    int span = (t->mon == 2 && t->day == 29) ? 9 : 2;
    int64_t best = y, best_d = INT64_MAX;
    for (int64_t c = y - span; c <= y + span; c++) {
        if (t->mon == 2 && t->day == 29 && !is_leap(c))
            continue;
        int64_t d = civil_seconds(c, t) - now;
        if (d > FUTURE_SLACK)
            continue;
        if (d < 0)
            d = -d;
        if (d < best_d) {
            best_d = d;
            best = c;
        }
    }
    return best;
}

static void ts_commit(struct syslog_record *rec, const struct tsp *t, int64_t now)
{
    rec->ts_flags = SL_TS_PRESENT | t->flags;
    rec->ts_usec = t->usec;
    rec->tz_offset_min = (t->flags & SL_TS_ZONE) ? t->off_min : 0;
    if (t->flags & SL_TS_BOOT) {
        rec->ts_sec = t->boot_sec;
        return;
    }
    if (now < NOW_MIN)
        now = NOW_MIN;
    if (now > NOW_MAX)
        now = NOW_MAX;
    int64_t y = (t->flags & SL_TS_YEAR) ? t->year : infer_year(t, now);
    rec->ts_sec = civil_seconds(y, t);
}

/* ----------------------------------------------------------- timestamps */

/* Month from its English abbreviation (any case); 0 when not a month. */
static int month3(const char *p, const char *e)
{
    if (e - p < 3)
        return 0;
    uint32_t k = ((uint32_t)((unsigned char)p[0] | 0x20u) << 16) |
                 ((uint32_t)((unsigned char)p[1] | 0x20u) << 8) | ((unsigned char)p[2] | 0x20u);
#define M3(a, b, c) (((uint32_t)(a) << 16) | ((uint32_t)(b) << 8) | (uint32_t)(c))
    switch (k) {
    case M3('j', 'a', 'n'): return 1;
    case M3('f', 'e', 'b'): return 2;
    case M3('m', 'a', 'r'): return 3;
    case M3('a', 'p', 'r'): return 4;
    case M3('m', 'a', 'y'): return 5;
    case M3('j', 'u', 'n'): return 6;
    case M3('j', 'u', 'l'): return 7;
    case M3('a', 'u', 'g'): return 8;
    case M3('s', 'e', 'p'): return 9;
    case M3('o', 'c', 't'): return 10;
    case M3('n', 'o', 'v'): return 11;
    case M3('d', 'e', 'c'): return 12;
    default: return 0;
    }
#undef M3
}

/* Reads fraction digits into microseconds, continuing *us and *nd so that the
 * Huawei ".ddd.d" form reads as one longer fraction. Digits past the sixth
 * are dropped. */
static const char *read_frac(const char *p, const char *e, int32_t *us, int *nd)
{
    while (p < e && is_digit(*p)) {
        if (*nd < 6) {
            *us = *us * 10 + (*p - '0');
            (*nd)++;
        }
        p++;
    }
    return p;
}

/* "+hh:mm", "-hh:mm", "+hhmm", "+hh" or "+h"; fails when more digits
 * follow. */
static const char *read_offset(const char *p, const char *e, int32_t *off)
{
    if (e - p < 2 || (*p != '+' && *p != '-') || !is_digit(p[1]))
        return NULL;
    int sign = *p == '-' ? -1 : 1, h = p[1] - '0', m = 0;
    const char *q = p + 2;
    if (q < e && is_digit(*q))
        h = h * 10 + (*q++ - '0');
    if (e - q >= 3 && *q == ':' && is_digit(q[1]) && is_digit(q[2])) {
        m = (q[1] - '0') * 10 + (q[2] - '0');
        q += 3;
    } else if (q - p == 3 && e - q >= 2 && is_digit(q[0]) && is_digit(q[1])) {
        m = (q[0] - '0') * 10 + (q[1] - '0');
        q += 2;
    }
    if ((q < e && is_digit(*q)) || h > 23 || m > 59)
        return NULL;
    *off = sign * (h * 60 + m);
    return q;
}

/* "hh:mm:ss" with an optional fraction (".d", ".ddd", ".ddd.d", more digits
 * for RFC 3339, H3C ":mmm") and an optional attached offset or 'Z'. */
static const char *parse_clock(const char *p, const char *e, struct tsp *t)
{
    p = read_uint(p, e, 1, 2, &t->hour);
    if (!p || p >= e || *p != ':')
        return NULL;
    p = read_uint(p + 1, e, 2, 2, &t->min);
    if (!p || p >= e || *p != ':')
        return NULL;
    p = read_uint(p + 1, e, 2, 2, &t->sec);
    if (!p || t->hour > 23 || t->min > 59 || t->sec > 60)
        return NULL;

    int nd = 0;
    int32_t us = 0;
    if (e - p >= 2 && *p == '.' && is_digit(p[1])) {
        p = read_frac(p + 1, e, &us, &nd);
        /* Huawei ".ddd.d": a tenth of a millisecond after the milliseconds. */
        if (nd == 3 && e - p >= 2 && *p == '.' && is_digit(p[1]) && (e - p == 2 || !is_digit(p[2])))
            p = read_frac(p + 1, e, &us, &nd);
        t->frac = true;
    } else if (e - p >= 4 && *p == ':' && is_digit(p[1]) && is_digit(p[2]) && is_digit(p[3]) &&
               (e - p == 4 || !is_digit(p[4]))) {
        /* H3C console and debug output: "17:06:19:156". */
        p = read_frac(p + 1, e, &us, &nd);
        t->frac = true;
        t->comware = true;
    }
    while (nd > 0 && nd < 6) {
        us *= 10;
        nd++;
    }
    t->usec = us;

    if (p < e && *p == 'Z') {
        t->off_min = 0;
        t->flags |= SL_TS_ZONE;
        p++;
    } else if (p < e && (*p == '+' || *p == '-')) {
        const char *q = read_offset(p, e, &t->off_min);
        if (!q)
            return NULL;
        t->flags |= SL_TS_ZONE;
        p = q;
    }
    return p;
}

/* "yyyy-mm-ddThh:mm:ss..." (RFC 3339, H3C iso) or, when space_ok, the Huawei
 * format-date "yyyy-mm-dd hh:mm:ss". */
static const char *parse_iso(const char *p, const char *e, struct tsp *t, bool space_ok)
{
    p = read_uint(p, e, 4, 4, &t->year);
    if (!p || p >= e || *p != '-')
        return NULL;
    p = read_uint(p + 1, e, 2, 2, &t->mon);
    if (!p || p >= e || *p != '-')
        return NULL;
    p = read_uint(p + 1, e, 2, 2, &t->day);
    if (!p || p >= e || !(*p == 'T' || (space_ok && *p == ' ')))
        return NULL;
    if (t->mon < 1 || t->mon > 12 || t->day < 1 || t->day > days_in_month(t->year, t->mon))
        return NULL;
    t->flags |= SL_TS_YEAR;
    return parse_clock(p + 1, e, t);
}

/* Huawei boot time "xxxxxx.yyyyyy": the high and low 32 bits of the
 * milliseconds since start-up (Huawei command reference, "info-center
 * timestamp"), not seconds and a fraction. Must end the token. */
static const char *parse_boot(const char *p, const char *e, struct tsp *t)
{
    uint64_t hi = 0, lo = 0;
    const char *q = p;
    while (q < e && is_digit(*q) && q - p < 10)
        hi = hi * 10 + (uint64_t)(*q++ - '0');
    if (q == p || q >= e || *q != '.')
        return NULL;
    const char *s = ++q;
    while (q < e && is_digit(*q) && q - s < 10)
        lo = lo * 10 + (uint64_t)(*q++ - '0');
    if (q == s || (q < e && *q != ' ') || hi > 0xFFFFFFFFu || lo > 0xFFFFFFFFu)
        return NULL;
    uint64_t ms = (hi << 32) | lo;
    t->boot_sec = (int64_t)(ms / 1000);
    t->usec = (int32_t)(ms % 1000) * 1000;
    t->flags |= SL_TS_BOOT;
    return q;
}

/* Any timestamp form a device puts first: "Mmm d[d] [yyyy ]hh:mm:ss...",
 * "yyyy-mm-dd[T ]hh:mm:ss...", NX-OS "yyyy Mmm dd hh:mm:ss", Huawei boot
 * time; then the Huawei extras (" +hh:mm", " DST") and the H3C year after
 * the time. Returns the end of the timestamp, or NULL. */
static const char *parse_timestamp(const char *p, const char *e, struct tsp *t)
{
    if (p >= e)
        return NULL;
    if (is_alpha(*p)) {
        t->mon = month3(p, e);
        if (!t->mon)
            return NULL;
        p += 3;
        if (p >= e || *p != ' ')
            return NULL;
        p = skip_sp(p, e);
        p = read_uint(p, e, 1, 2, &t->day);
        if (!p || p >= e || *p != ' ')
            return NULL;
        p++;
        if (e - p >= 5 && p[4] == ' ' && is_digit(p[0]) && is_digit(p[1]) && is_digit(p[2]) &&
            is_digit(p[3])) {
            t->year = (p[0] - '0') * 1000 + (p[1] - '0') * 100 + (p[2] - '0') * 10 + (p[3] - '0');
            t->flags |= SL_TS_YEAR;
            p += 5;
        }
        p = parse_clock(p, e, t);
        if (!p)
            return NULL;
        /* H3C "Mmm dd hh:mm:ss[:mmm] yyyy Sysname": a year between the
         * time and a further token. */
        if (!(t->flags & SL_TS_YEAR) && e - p >= 6 && p[0] == ' ' && is_digit(p[1]) &&
            is_digit(p[2]) && is_digit(p[3]) && is_digit(p[4]) && p[5] == ' ') {
            int y = (p[1] - '0') * 1000 + (p[2] - '0') * 100 + (p[3] - '0') * 10 + (p[4] - '0');
            if (y >= 1970 && y <= 2199) {
                t->year = y;
                t->flags |= SL_TS_YEAR;
                t->comware = true;
                p += 5;
            }
        }
    } else if (is_digit(*p)) {
        if (e - p >= 5 && p[4] == '-') {
            p = parse_iso(p, e, t, true);
        } else if (e - p >= 9 && p[4] == ' ' && is_alpha(p[5])) {
            /* NX-OS "2020 Jul  9 11:25:38". */
            if (!read_uint(p, e, 4, 4, &t->year) || !(t->mon = month3(p + 5, e)))
                return NULL;
            p = skip_sp(p + 8, e);
            p = read_uint(p, e, 1, 2, &t->day);
            if (!p || p >= e || *p != ' ')
                return NULL;
            t->flags |= SL_TS_YEAR;
            p = parse_clock(p + 1, e, t);
        } else {
            return parse_boot(p, e, t);
        }
        if (!p)
            return NULL;
    } else {
        return NULL;
    }

    if (t->day < 1 || t->day > days_in_month((t->flags & SL_TS_YEAR) ? t->year : 2000, t->mon))
        return NULL;
    /* Huawei "hh:mm:ss +08:00": the offset after a space. No host name
     * starts with '+' or '-', so this cannot eat one. */
    if (!(t->flags & SL_TS_ZONE) && e - p >= 2 && p[0] == ' ' && (p[1] == '+' || p[1] == '-')) {
        int32_t off;
        const char *q = read_offset(p + 1, e, &off);
        if (q && (q == e || *q == ' ')) {
            t->off_min = off;
            t->flags |= SL_TS_ZONE;
            p = q;
        }
    }
    /* Huawei " DST" follows an offset; demanding the offset keeps a host
     * that happens to be called DST a host. */
    if ((t->flags & SL_TS_ZONE) && e - p >= 4 && memcmp(p, " DST", 4) == 0 &&
        (e - p == 4 || p[4] == ' ')) {
        t->flags |= SL_TS_DST;
        p += 4;
    }
    return p;
}

/* Cisco "service timestamps ... uptime": "00:01:23", "1d02h", "2w3d",
 * "1y2w". Read as boot-relative seconds. */
static const char *parse_uptime(const char *p, const char *e, struct tsp *t)
{
    int a, b, c;
    const char *q = read_uint(p, e, 1, 5, &a);
    if (!q || q >= e)
        return NULL;
    if (*q == ':') {
        q = read_uint(q + 1, e, 2, 2, &b);
        if (!q || q >= e || *q != ':')
            return NULL;
        q = read_uint(q + 1, e, 2, 2, &c);
        if (!q || b > 59 || c > 59)
            return NULL;
        t->boot_sec = (int64_t)a * 3600 + b * 60 + c;
    } else {
        static const char units[] = "ywdh";
        static const int32_t secs[] = {365 * 86400, 7 * 86400, 86400, 3600};
        const char *u1 = memchr(units, *q, 4);
        if (!u1)
            return NULL;
        q = read_uint(q + 1, e, 1, 2, &b);
        if (!q || q >= e)
            return NULL;
        const char *u2 = memchr(units, *q, 4);
        if (!u2 || u2 <= u1)
            return NULL;
        t->boot_sec = (int64_t)a * secs[u1 - units] + (int64_t)b * secs[u2 - units];
        q++;
    }
    t->flags |= SL_TS_BOOT;
    return q;
}

/* -------------------------------------------------------------- vendors */

static inline bool brief_char(char c)
{
    return is_alnum(c) || c == '_' || c == '-' || c == '.';
}

/* "CID=0x..;", "VS=Admin-VS-CID=0x..;", "VR=1-CID=..;", "CID=..-alarmID=..;"
 * right after the record's ':'. Returns the byte after ';', or p when there
 * is none. */
static const char *parse_cid(const char *p, const char *e, struct sl_str *cid)
{
    if (e - p < 4 || !((p[0] == 'C' && p[1] == 'I' && p[2] == 'D' && p[3] == '=') ||
                       ((p[0] == 'V') && (p[1] == 'S' || p[1] == 'R') && p[2] == '=')))
        return p;
    const char *lim = (e - p > CID_MAX) ? p + CID_MAX : e;
    const char *semi = p, *val = NULL;
    for (; semi < lim && *semi != ';'; semi++) {
        if (*semi == ' ')
            return p;
        if (!val && lim - semi >= 4 && (semi == p || semi[-1] == '-') && memcmp(semi, "CID=", 4) == 0)
            val = semi + 4;
    }
    if (semi >= lim || !val)
        return p;
    const char *ve = val;
    while (ve < semi && *ve != '-')
        ve++;
    *cid = slice(val, ve);
    return semi + 1;
}

/* "[%%dd]MODULE/SEV/BRIEF" then "(flag)" and "[count]" in either order (the
 * published "CMDRECORD[l](324)" swaps both the brackets and the order), ':'
 * and the component id. Returns the start of the text, or NULL. */
static const char *parse_modrec(const char *p, const char *e, bool pct, struct modrec *m)
{
    const char *q;
    int version = -1;
    if (pct) {
        p += 2;
        p = skip_one_sp(p, e); /* "%% 01 HWCM/5/EXIT" in some manuals */
        if (e - p < 2 || !is_digit(p[0]) || !is_digit(p[1]))
            return NULL;
        version = (p[0] - '0') * 10 + (p[1] - '0');
        p = skip_one_sp(p + 2, e);
    }
    for (q = p; q < e && brief_char(*q) && q - p < TAG_MAX; q++)
        ;
    if (q == p || q >= e || *q != '/')
        return NULL;
    /* Most tokens tried here are host names and tags that fail above;
     * the record is only cleared once it looks like one. */
    memset(m, 0, sizeof *m);
    m->version = version;
    m->app = slice(p, q);
    p = ++q;
    while (q < e && is_digit(*q) && q - p < 2)
        q++;
    if (q == p || q >= e || *q != '/')
        return NULL;
    m->sev = slice(p, q);
    p = ++q;
    while (q < e && brief_char(*q) && q - p < BRIEF_MAX)
        q++;
    if (q == p || q >= e)
        return NULL;
    m->brief = slice(p, q);
    for (int i = 0; i < 3 && q < e && (*q == '(' || *q == '['); i++) {
        char close = *q == '(' ? ')' : ']';
        const char *s = ++q;
        bool digits = true, letters = true;
        for (; q < e && *q != close && q - s < 16; q++) {
            digits = digits && is_digit(*q);
            letters = letters && is_alpha(*q);
        }
        if (q == s || q >= e || *q != close)
            return NULL;
        if (digits)
            m->seq = slice(s, q);
        else if (letters)
            m->flag = slice(s, q);
        q++;
    }
    if (q >= e || *q != ':')
        return NULL;
    q = parse_cid(q + 1, e, &m->cid);
    return skip_one_sp(q, e);
}

static void apply_modrec(struct syslog_record *rec, const struct modrec *m)
{
    rec->app = m->app;
    rec->hw_severity = m->sev;
    rec->brief = m->brief;
    rec->flag = m->flag;
    rec->seq = m->seq;
    rec->cid = m->cid;
}

/* "%FAC[-SUB]-SEV-MNEMONIC:" with SEV one digit 0..7; IOS XR puts a space
 * before the colon. Returns the start of the text, or NULL. */
static const char *parse_mnemonic(const char *p, const char *e, struct mnemonic *mn)
{
    const char *s = p + 1, *q = s, *g = s, *sev = NULL;
    if (q >= e || !is_alpha(*q))
        return NULL;
    for (; q < e && q - s < BRIEF_MAX; q++) {
        if (is_alnum(*q) || *q == '_')
            continue;
        if (*q != '-' || q == g)
            break;
        if (!sev && g != s && q - g == 1 && *g >= '0' && *g <= '7')
            sev = g;
        g = q + 1;
    }
    if (!sev || q == g || q >= e)
        return NULL;
    mn->fac = slice(s, sev - 1);
    mn->sev = slice(sev, sev + 1);
    mn->mnem = slice(sev + 2, q);
    if (*q == ' ')
        q++;
    if (q >= e || *q != ':')
        return NULL;
    return skip_one_sp(q + 1, e);
}

static void apply_mnemonic(struct syslog_record *rec, const struct mnemonic *mn)
{
    rec->app = mn->fac;
    rec->hw_severity = mn->sev;
    rec->brief = mn->mnem;
}

/* Cisco sequence number "000231:" followed by a space or the end; returns
 * the byte after ':'. */
static const char *seq_anchor(const char *p, const char *e)
{
    const char *q = p;
    while (q < e && is_digit(*q) && q - p < 10)
        q++;
    if (q == p || q >= e || *q != ':' || (q + 1 < e && q[1] != ' '))
        return NULL;
    return q + 1;
}

/* After a Cisco time: ':' directly, or a zone name (" UTC:") when zone_ok.
 * Returns the byte after ':' and one space, or NULL. */
static const char *cisco_ts_tail(const char *p, const char *e, struct tsp *t, bool zone_ok)
{
    if (p < e && *p == ':' && (p + 1 == e || p[1] == ' '))
        return skip_one_sp(p + 1, e);
    if (!zone_ok || p >= e || *p != ' ')
        return NULL;
    const char *z = ++p;
    while (p < e && is_upper(*p) && p - z < 6)
        p++;
    if (p - z < 2 || p >= e || *p != ':' || (p + 1 < e && p[1] != ' '))
        return NULL;
    /* Only names that are certainly UTC become an offset; "CET", "EST"
     * and the like are ambiguous, so the time stays local. */
    if (p - z == 3 && (memcmp(z, "UTC", 3) == 0 || memcmp(z, "GMT", 3) == 0) &&
        !(t->flags & SL_TS_ZONE)) {
        t->off_min = 0;
        t->flags |= SL_TS_ZONE;
    }
    return skip_one_sp(p + 1, e);
}

/* The device's own time at p ("*Mar  1 00:01:23.456: ", "1d02h: ",
 * "Jul  9 11:25:38.179 UTC: "); when found it replaces any relay time.
 * Returns the byte after it, or NULL with rec untouched. */
static const char *cisco_device_time(const char *p, const char *e, int64_t now,
                                     struct syslog_record *rec)
{
    bool unsync = p < e && (*p == '*' || *p == '.');
    const char *q = p + unsync;
    struct tsp t;
    memset(&t, 0, sizeof t);
    const char *r = parse_timestamp(q, e, &t);
    if (!r) {
        memset(&t, 0, sizeof t);
        r = parse_uptime(q, e, &t);
    }
    if (!r || !(r = cisco_ts_tail(r, e, &t, true)))
        return NULL;
    ts_commit(rec, &t, now);
    if (unsync)
        rec->ts_flags |= SL_TS_UNSYNC;
    return r;
}

/* Mnemonic (if any) and text after Cisco's times. */
static void cisco_rest(const char *p, const char *e, struct syslog_record *rec)
{
    struct mnemonic mn;
    const char *r;
    if (p < e && *p == '%' && (r = parse_mnemonic(p, e, &mn))) {
        apply_mnemonic(rec, &mn);
        p = r;
    }
    rec->text = slice(p, e);
    rec->format = SL_FMT_CISCO;
}

/* What follows "000231:": an optional "logging origin-id" host ("R1: "),
 * the device time, the mnemonic, the text. */
static void cisco_after_seq(const char *p, const char *e, int64_t now, struct syslog_record *rec)
{
    p = skip_sp(p, e);
    const char *q = cisco_device_time(p, e, now, rec);
    if (!q) {
        const char *c = p;
        while (c < e && *c != ' ' && *c != ':' && c - p < TAG_MAX)
            c++;
        if (c > p && e - c >= 2 && c[0] == ':' && c[1] == ' ') {
            /* Only a host if a time or a mnemonic follows: "SSH0: sent ..."
             * is debug text, not an origin id. */
            const char *after = c + 2;
            struct mnemonic mn;
            q = cisco_device_time(after, e, now, rec);
            if (!q && after < e && *after == '%' && parse_mnemonic(after, e, &mn))
                q = after;
            if (q && !rec->host.len)
                rec->host = slice(p, c);
        }
    }
    cisco_rest(q ? q : p, e, rec);
}

/* ---------------------------------------------------------- the header */

static bool is_ipv4(const char *p, const char *e)
{
    for (int i = 0; i < 4; i++) {
        int v;
        p = read_uint(p, e, 1, 3, &v);
        if (!p || v > 255)
            return false;
        if (i < 3) {
            if (p >= e || *p != '.')
                return false;
            p++;
        }
    }
    return p == e;
}

/* "+08:00", "UTC+8", "GMT-05:30", "UTC": a time zone token sent between
 * the time and the host (Huawei AR). */
static bool is_zone(const char *p, const char *e, int32_t *off)
{
    if (e - p >= 3 && (memcmp(p, "UTC", 3) == 0 || memcmp(p, "GMT", 3) == 0)) {
        p += 3;
        if (p == e) {
            *off = 0;
            return true;
        }
    }
    const char *q = read_offset(p, e, off);
    return q && q == e;
}

static enum tok_class classify(const char *p, const char *e, int32_t *off)
{
    if (is_digit(*p) && is_ipv4(p, e))
        return TOK_IPV4;
    if ((*p == '+' || *p == '-' || *p == 'U' || *p == 'G') && is_zone(p, e, off))
        return TOK_ZONE;
    return TOK_OTHER;
}

/* "sshd[123]:" or "su:" where a host name was expected: the sender left the
 * host out. A single ':' at the end; IPv6 addresses have more. */
static bool tag_like(const char *p, const char *e)
{
    if (e - p < 2 || e[-1] != ':')
        return false;
    return memchr(p, ':', (size_t)(e - p - 1)) == NULL;
}

/* The tokens met before a vendor anchor: the host is the first that is
 * neither a zone nor an address (a device may be named by its address); an
 * IPv4 token after it is the AR source address; a zone token supplies the
 * offset when the time had none. */
static void apply_tokens(struct syslog_record *rec, const struct tok *tk, int n, struct tsp *t)
{
    int host = -1;
    for (int i = 0; i < n && host < 0; i++)
        if (tk[i].cls == TOK_OTHER)
            host = i;
    for (int i = 0; i < n && host < 0; i++)
        if (tk[i].cls == TOK_IPV4)
            host = i;
    if (host < 0 && n > 0)
        host = 0;
    for (int i = 0; i < n; i++) {
        if (i == host) {
            rec->host = slice(tk[i].p, tk[i].e);
        } else if (tk[i].cls == TOK_IPV4) {
            if (!rec->addr.len)
                rec->addr = slice(tk[i].p, tk[i].e);
        } else if (tk[i].cls == TOK_ZONE && !(t->flags & SL_TS_ZONE)) {
            t->off_min = tk[i].off_min;
            t->flags |= SL_TS_ZONE;
        }
    }
}

/* RFC 3164 "TAG[PID]: text", "TAG: text", or just text. */
static void parse_tag(const char *p, const char *e, struct syslog_record *rec)
{
    const char *q = p;
    while (q < e && *q != ' ' && *q != ':' && *q != '[' && q - p < TAG_MAX)
        q++;
    if (q > p && q < e && *q == '[') {
        const char *s = q + 1, *r = s;
        while (r < e && *r != ']' && *r != ' ' && r - s < 32)
            r++;
        if (e - r >= 2 && r[0] == ']' && r[1] == ':') {
            rec->app = slice(p, q);
            rec->procid = slice(s, r);
            rec->text = slice(skip_one_sp(r + 2, e), e);
            return;
        }
    } else if (q > p && q < e && *q == ':') {
        rec->app = slice(p, q);
        rec->text = slice(skip_one_sp(q + 1, e), e);
        return;
    }
    rec->text = slice(p, e);
}

/* Everything that is not RFC 5424. Returns false when no header is found. */
static bool parse_legacy(const char *p, const char *e, bool had_pri, int64_t now,
                         struct syslog_record *rec)
{
    struct tsp t;
    struct modrec m;
    struct mnemonic mn;
    struct tok tk[PRE_TOKENS];
    const char *q, *r;
    bool have_ts = false;
    int n = 0, others = 0;

    memset(&t, 0, sizeof t);
    if (p >= e)
        return false;

    /* Cisco without a relay header: "000231: ..." */
    if (is_digit(*p) && (q = seq_anchor(p, e))) {
        rec->seq = slice(p, q - 1);
        cisco_after_seq(q, e, now, rec);
        return true;
    }

    /* A mark before the time: Cisco '*'/'.' (clock not synchronised), H3C
     * '%' (log) and '*' (debug) on the console, Huawei '#' (trap). */
    char mark = (*p == '*' || *p == '.' || *p == '#' || *p == '%') ? *p : 0;
    r = parse_timestamp(p + (mark != 0), e, &t);
    if (r && mark == '%')
        t.comware = true;
    if (r) {
        q = cisco_ts_tail(r, e, &t, mark || t.frac);
        if (q) {
            /* "Jul  9 11:25:38.179: %SSH-3-NO_MATCH: ..." */
            ts_commit(rec, &t, now);
            if (mark == '*' || mark == '.')
                rec->ts_flags |= SL_TS_UNSYNC;
            cisco_rest(q, e, rec);
            return true;
        }
        have_ts = true;
        q = r;
    } else {
        memset(&t, 0, sizeof t);
        r = parse_uptime(p, e, &t);
        if (r && (q = cisco_ts_tail(r, e, &t, false))) {
            ts_commit(rec, &t, now);
            cisco_rest(q, e, rec);
            return true;
        }
        memset(&t, 0, sizeof t);
        if (mark && mark != '%')
            return false;
        q = p;
    }

    /* Tokens up to a vendor anchor. */
    for (;;) {
        q = skip_sp(q, e);
        if (q >= e)
            break;
        char c = *q;
        if (c == '%') {
            if (e - q >= 2 && q[1] == '%') {
                if (!(r = parse_modrec(q, e, true, &m)))
                    break;
                apply_tokens(rec, tk, n, &t);
                apply_modrec(rec, &m);
                rec->format = m.version == 10 ? SL_FMT_H3C : SL_FMT_HUAWEI;
                rec->text = slice(r, e);
                goto done;
            }
            if (!(r = parse_mnemonic(q, e, &mn)))
                break;
            apply_tokens(rec, tk, n, &t);
            apply_mnemonic(rec, &mn);
            rec->format = SL_FMT_CISCO;
            rec->text = slice(r, e);
            goto done;
        }
        if (c == ':' && have_ts && n > 0 && (e - q == 1 || q[1] == ' ')) {
            /* Huawei "brief" loghost option: "TIME HOST : text". */
            apply_tokens(rec, tk, n, &t);
            rec->format = SL_FMT_HUAWEI;
            rec->text = slice(skip_one_sp(q + 1, e), e);
            goto done;
        }
        if (is_digit(c) && (r = seq_anchor(q, e))) {
            /* A relay header before Cisco's own: "HOST 000231: ...". */
            apply_tokens(rec, tk, n, &t);
            if (have_ts)
                ts_commit(rec, &t, now);
            rec->seq = slice(q, r - 1);
            cisco_after_seq(r, e, now, rec);
            return true;
        }
        if (is_alnum(c) && (r = parse_modrec(q, e, false, &m))) {
            /* Debug record "HOST MODULE/7/DIGEST: text"; H3C writes the same
             * layout, told apart by its time format. */
            apply_tokens(rec, tk, n, &t);
            apply_modrec(rec, &m);
            rec->format = t.comware ? SL_FMT_H3C : SL_FMT_HUAWEI_DEBUG;
            rec->text = slice(r, e);
            goto done;
        }
        if (n == PRE_TOKENS)
            break;
        r = tok_end(q, e);
        tk[n].p = q;
        tk[n].e = r;
        tk[n].off_min = 0;
        tk[n].cls = classify(q, r, &tk[n].off_min);
        /* A second ordinary word means this is text, not a vendor prefix. */
        if (tk[n++].cls == TOK_OTHER && ++others == 2)
            break;
        if (n == 1 && tag_like(q, r))
            break;
        q = r;
    }

    /* No anchor: RFC 3164. */
    if (n == 0) {
        if (!have_ts)
            return false;
        rec->format = SL_FMT_RFC3164;
        goto done;
    }
    if (tag_like(tk[0].p, tk[0].e)) {
        if (!have_ts && !had_pri)
            return false;
        parse_tag(tk[0].p, e, rec);
    } else {
        if (!have_ts)
            return false;
        rec->host = slice(tk[0].p, tk[0].e);
        parse_tag(skip_sp(tk[0].e, e), e, rec);
    }
    rec->format = SL_FMT_RFC3164;
done:
    if (have_ts) {
        /* Huawei's log reference reads "Jan 8 2013 03:58:15+07:00" as made at
         * local time 10:58:15: the printed time is UTC and the offset only
         * names the device's zone, so it is kept but not applied */
        int32_t off = t.off_min;
        bool huawei = rec->format == SL_FMT_HUAWEI || rec->format == SL_FMT_HUAWEI_DEBUG;
        if (huawei)
            t.off_min = 0;
        ts_commit(rec, &t, now);
        if (huawei && (t.flags & SL_TS_ZONE))
            rec->tz_offset_min = off;
    }
    return true;
}

/* Structured data: one or more "[id k="v" ...]"; inside quotes '\' escapes
 * the next byte, so "\]" does not end the element. Returns the byte after
 * the last ']', or NULL when an element is not closed. */
static const char *scan_sd(const char *p, const char *e)
{
    while (p < e && *p == '[') {
        bool quoted = false;
        for (p++;; p++) {
            if (p >= e)
                return NULL;
            if (quoted) {
                if (*p == '\\') {
                    if (++p >= e)
                        return NULL;
                } else if (*p == '"') {
                    quoted = false;
                }
            } else if (*p == '"') {
                quoted = true;
            } else if (*p == ']') {
                break;
            }
        }
        p++;
    }
    return p;
}

/* "1 TIMESTAMP HOST APP PROCID MSGID SD [MSG]" with '-' for NILVALUE. */
static bool parse_5424(const char *p, const char *e, int64_t now, struct syslog_record *rec)
{
    struct sl_str f[4];
    struct tsp t;
    const char *q = p, *r;
    bool have_ts = false;

    if (q >= e || *q < '1' || *q > '9')
        return false;
    while (++q < e && is_digit(*q) && q - p < 3)
        ;
    if (q >= e || *q != ' ')
        return false;
    q++;
    memset(&t, 0, sizeof t);
    if (q < e && *q == '-') {
        q++;
    } else {
        if (!(q = parse_iso(q, e, &t, false)))
            return false;
        have_ts = true;
    }
    for (int i = 0; i < 4; i++) {
        if (q >= e || *q != ' ')
            return false;
        r = tok_end(++q, e);
        if (r == q)
            return false;
        f[i] = (r - q == 1 && *q == '-') ? slice(NULL, NULL) : slice(q, r);
        q = r;
    }
    if (e - q < 2 || *q != ' ')
        return false;
    q++;
    if (*q == '-') {
        q++;
    } else if (*q == '[') {
        if (!(r = scan_sd(q, e)))
            return false;
        rec->sd = slice(q, r);
        q = r;
    } else {
        return false;
    }
    if (q < e) {
        if (*q != ' ')
            return false;
        q++;
    }
    if (e - q >= 3 && (unsigned char)q[0] == 0xEF && (unsigned char)q[1] == 0xBB &&
        (unsigned char)q[2] == 0xBF)
        q += 3;

    rec->format = SL_FMT_RFC5424;
    rec->host = f[0];
    rec->app = f[1];
    rec->procid = f[2];
    rec->msgid = f[3];
    if (have_ts)
        ts_commit(rec, &t, now);
    /* A Huawei record carried in the MSG part keeps its module fields. */
    struct modrec m;
    if (e - q >= 2 && q[0] == '%' && q[1] == '%' && (r = parse_modrec(q, e, true, &m))) {
        struct sl_str app = rec->app;
        apply_modrec(rec, &m);
        if (app.len)
            rec->app = app;
        q = r;
    }
    rec->text = slice(q, e);
    return true;
}

static void rec_reset(struct syslog_record *rec, const char *msg, size_t len)
{
    memset(rec, 0, sizeof *rec);
    rec->format = SL_FMT_NONE;
    rec->pri = rec->facility = rec->severity = -1;
    rec->text = slice(msg, msg ? msg + len : NULL);
}

void syslog_parse(const char *msg, size_t len, int64_t now, struct syslog_record *rec)
{
    rec_reset(rec, msg, len);
    if (!msg || len == 0)
        return;
    const char *p = msg, *e = msg + len;
    int pri = -1;

    if (*p == '<') {
        const char *q = read_uint(p + 1, e, 1, 3, &pri);
        if (!q || q >= e || *q != '>' || pri > 191)
            return;
        p = q + 1;
    }
    rec->pri = pri;
    rec->text = slice(NULL, NULL);
    if (!parse_5424(p, e, now, rec)) {
        /* A failed RFC 5424 attempt can only have set sd. */
        rec->sd = slice(NULL, NULL);
        if (!parse_legacy(p, e, pri >= 0, now, rec)) {
            rec_reset(rec, msg, len);
            return;
        }
    }
    if (pri >= 0) {
        rec->facility = pri >> 3;
        rec->severity = pri & 7;
    } else if (rec->format != SL_FMT_RFC3164 && rec->hw_severity.len == 1 &&
               rec->hw_severity.p[0] >= '0' && rec->hw_severity.p[0] <= '7') {
        rec->severity = rec->hw_severity.p[0] - '0';
    }
}

const char *syslog_format_name(enum sl_format format)
{
    switch (format) {
    case SL_FMT_RFC5424: return "rfc5424";
    case SL_FMT_RFC3164: return "rfc3164";
    case SL_FMT_HUAWEI: return "huawei";
    case SL_FMT_HUAWEI_DEBUG: return "huawei-debug";
    case SL_FMT_H3C: return "h3c";
    case SL_FMT_CISCO: return "cisco";
    case SL_FMT_NONE: break;
    }
    return "none";
}
