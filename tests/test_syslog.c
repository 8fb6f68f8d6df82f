/* SPDX-License-Identifier: ISC */
/* Tests for daemon/syslog.c: reading the header of one message.
 *
 * The samples live in tests/data/syslog/: headers.tsv holds hand-made and
 * published lines with every field expected; corpus.tsv gives, for every
 * line of every log under tests/data/corpus/, the format, host, app, time
 * and the byte where the program's text begins. Every input is parsed from a
 * heap copy of exactly its length, so AddressSanitizer sees any read past
 * the end (the parser gets no NUL terminator). On top of the samples: every
 * prefix of representative lines, random bytes and mutated lines, and the
 * date arithmetic against the C library's timegm().
 */
#include "config.h" /* _GNU_SOURCE: timegm, gmtime_r */

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "syslog.h"
#include "testutil.h"

/* Every test runs at 2026-11-25T12:00:00Z. */
#define NOW 1795608000LL

#define N_COLS 16

/* A parsed heap copy; the record's slices point into buf. */
struct parsed {
    char *buf;
    size_t len;
    struct syslog_record rec;
};

static void parse_copy(const char *msg, size_t len, int64_t now, struct parsed *out)
{
    out->buf = malloc(len ? len : 1);
    assert_non_null(out->buf);
    if (len)
        memcpy(out->buf, msg, len);
    out->len = len;
    syslog_parse(out->buf, len, now, &out->rec);
}

/* Prints bytes with C escapes, for failure messages. */

/* Checks what must hold for any input: slices inside the input (or absent),
 * numbers in range, NONE meaning "whole input as text and nothing else". */
static void check_invariants(const struct parsed *ps)
{
    const struct syslog_record *r = &ps->rec;
    const struct sl_str *fields[] = {&r->host, &r->app, &r->procid, &r->msgid, &r->sd,
                                     &r->hw_severity, &r->brief, &r->flag, &r->cid,
                                     &r->seq, &r->text, &r->addr};
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++) {
        const struct sl_str *s = fields[i];
        if (s->len == 0) {
            assert_null(s->p);
            continue;
        }
        assert_non_null(s->p);
        assert_true(s->p >= ps->buf);
        assert_true(s->len <= ps->len);
        assert_true((size_t)(s->p - ps->buf) <= ps->len - s->len);
    }
    assert_true(r->format >= SL_FMT_NONE && r->format <= SL_FMT_CISCO);
    assert_true(r->pri >= -1 && r->pri <= 191);
    if (r->pri >= 0) {
        assert_int_equal(r->facility, r->pri / 8);
        assert_int_equal(r->severity, r->pri % 8);
    } else {
        assert_int_equal(r->facility, -1);
        assert_true(r->severity >= -1 && r->severity <= 7);
    }
    assert_true(r->ts_usec >= 0 && r->ts_usec < 1000000);
    if (!(r->ts_flags & SL_TS_PRESENT))
        assert_int_equal(r->ts_flags, 0);
    if (r->format == SL_FMT_NONE) {
        assert_int_equal(r->pri, -1);
        assert_int_equal(r->ts_flags, 0);
        assert_int_equal(r->text.len, ps->len);
        if (ps->len)
            assert_ptr_equal(r->text.p, ps->buf);
        for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++)
            if (fields[i] != &r->text)
                assert_int_equal(fields[i]->len, 0);
    }
}

/* The record's device time as the samples write it: "-", "boot:SEC[.usec]"
 * or ISO 8601 UTC with ".usec" when not zero. gmtime_r is the independent
 * check on the parser's own calendar arithmetic. */
static void format_ts(const struct syslog_record *r, char *buf, size_t size)
{
    char frac[16] = "";
    if (!(r->ts_flags & SL_TS_PRESENT)) {
        snprintf(buf, size, "-");
        return;
    }
    if (r->ts_usec)
        snprintf(frac, sizeof frac, ".%06d", (int)r->ts_usec);
    if (r->ts_flags & SL_TS_BOOT) {
        snprintf(buf, size, "boot:%lld%s", (long long)r->ts_sec, frac);
        return;
    }
    time_t t = (time_t)r->ts_sec;
    struct tm tm;
    assert_non_null(gmtime_r(&t, &tm));
    snprintf(buf, size, "%04d-%02d-%02dT%02d:%02d:%02d%sZ", tm.tm_year + 1900, tm.tm_mon + 1,
             tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, frac);
}

/* Flags as letters: Present, Year, Zone, Dst, Boot, Unsynchronised. */
static void format_flags(unsigned f, char *buf)
{
    static const struct {
        unsigned bit;
        char c;
    } map[] = {{SL_TS_PRESENT, 'P'}, {SL_TS_YEAR, 'Y'}, {SL_TS_ZONE, 'Z'},
               {SL_TS_DST, 'D'},     {SL_TS_BOOT, 'B'}, {SL_TS_UNSYNC, 'U'}};
    char *w = buf;
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
        if (f & map[i].bit)
            *w++ = map[i].c;
    if (w == buf)
        *w++ = '-';
    *w = '\0';
}

/* Compares a slice with an expected field as written in a sample file: "-"
 * for absent, C escapes, and a trailing "..." for "starts with". Returns
 * true when they match. */
static bool slice_matches(struct sl_str got, const char *want_raw)
{
    if (strcmp(want_raw, "-") == 0)
        return got.len == 0;
    size_t rawlen = strlen(want_raw);
    bool prefix = rawlen >= 3 && strcmp(want_raw + rawlen - 3, "...") == 0;
    char *want = strdup(want_raw);
    assert_non_null(want);
    if (prefix)
        want[rawlen - 3] = '\0';
    size_t wlen = tu_unescape(want);
    bool ok = prefix ? (got.len >= wlen && (wlen == 0 || memcmp(got.p, want, wlen) == 0))
                     : (got.len == wlen && (wlen == 0 || memcmp(got.p, want, wlen) == 0));
    free(want);
    return ok;
}

struct sample_ctx {
    const char *file;
    size_t line;
    int failures;
};

static void mismatch(struct sample_ctx *c, const char *field, const char *want, const char *got_p,
                     size_t got_len)
{
    fprintf(stderr, "# %s:%zu: %s: want %s, got ", c->file, c->line, field, want);
    tu_fput_escaped(stderr, got_p, got_len, 200);
    fputc('\n', stderr);
    c->failures++;
}

static void expect_slice(struct sample_ctx *c, const char *field, struct sl_str got, const char *want)
{
    if (!slice_matches(got, want))
        mismatch(c, field, want, got.p, got.len);
}

static void expect_str(struct sample_ctx *c, const char *field, const char *got, const char *want)
{
    if (strcmp(got, want) != 0)
        mismatch(c, field, want, got, strlen(got));
}

static void expect_int(struct sample_ctx *c, const char *field, long long got, const char *want)
{
    char buf[32];
    snprintf(buf, sizeof buf, "%lld", got);
    expect_str(c, field, buf, want);
}

/* The last column: space-separated key=value checks of the rarer fields
 * (values C-escaped, a space written \x20). */
static void expect_extra(struct sample_ctx *c, const struct syslog_record *r, char *extra)
{
    if (strcmp(extra, "-") == 0)
        return;
    for (char *kv = strtok(extra, " "); kv; kv = strtok(NULL, " ")) {
        char *eq = strchr(kv, '=');
        if (!eq) {
            mismatch(c, "extra", kv, "(not key=value)", 15);
            continue;
        }
        *eq = '\0';
        const char *v = eq + 1;
        if (strcmp(kv, "sd") == 0)
            expect_slice(c, "sd", r->sd, v);
        else if (strcmp(kv, "addr") == 0)
            expect_slice(c, "addr", r->addr, v);
        else if (strcmp(kv, "hwsev") == 0)
            expect_slice(c, "hw_severity", r->hw_severity, v);
        else if (strcmp(kv, "fac") == 0)
            expect_int(c, "facility", r->facility, v);
        else if (strcmp(kv, "tz") == 0)
            expect_int(c, "tz_offset_min", r->tz_offset_min, v);
        else
            mismatch(c, "extra key", "sd|addr|hwsev|fac|tz", kv, strlen(kv));
    }
}

/* Reads a sample file, calling fn on every line that is neither empty nor a
 * '#' comment. */
static void for_each_sample(const char *rel, void (*fn)(struct sample_ctx *, char *, void *),
                            void *arg, struct sample_ctx *c)
{
    char *text = tu_read_data(rel, NULL);
    size_t n;
    char **lines = tu_lines(text, &n);
    c->file = rel;
    for (size_t i = 0; i < n; i++) {
        if (lines[i][0] == '\0' || lines[i][0] == '#')
            continue;
        c->line = i + 1;
        fn(c, lines[i], arg);
    }
    free(lines);
    free(text);
}

static void check_header_sample(struct sample_ctx *c, char *line, void *arg)
{
    char *f[N_COLS];
    int *count = arg;
    if (tu_fields(line, f, N_COLS) != N_COLS) {
        fprintf(stderr, "# %s:%zu: needs %d TAB-separated columns\n", c->file, c->line, N_COLS);
        c->failures++;
        return;
    }
    size_t len = tu_unescape(f[0]);
    struct parsed ps;
    parse_copy(f[0], len, NOW, &ps);
    check_invariants(&ps);
    const struct syslog_record *r = &ps.rec;
    char ts[64], flags[8];
    format_ts(r, ts, sizeof ts);
    format_flags(r->ts_flags, flags);

    expect_str(c, "format", syslog_format_name(r->format), f[1]);
    expect_int(c, "pri", r->pri, f[2]);
    expect_int(c, "severity", r->severity, f[3]);
    expect_slice(c, "host", r->host, f[4]);
    expect_slice(c, "app", r->app, f[5]);
    expect_slice(c, "procid", r->procid, f[6]);
    expect_slice(c, "msgid", r->msgid, f[7]);
    expect_slice(c, "brief", r->brief, f[8]);
    expect_slice(c, "flag", r->flag, f[9]);
    expect_slice(c, "cid", r->cid, f[10]);
    expect_slice(c, "seq", r->seq, f[11]);
    expect_str(c, "ts", ts, f[12]);
    expect_str(c, "ts_flags", flags, f[13]);
    expect_slice(c, "text", r->text, f[14]);
    expect_extra(c, r, f[15]);
    free(ps.buf);
    (*count)++;
}

static void test_header_samples(void **state)
{
    (void)state;
    struct sample_ctx c = {0};
    int count = 0;
    for_each_sample("syslog/headers.tsv", check_header_sample, &count, &c);
    fprintf(stderr, "# %d header samples, %d mismatches\n", count, c.failures);
    assert_true(count >= 60);
    assert_int_equal(c.failures, 0);
}

/* ------------------------------------------------------------ corpus */

/* One corpus log, split into lines, with the rows of corpus.tsv seen. */
struct corpus_file {
    char name[128];
    char *text;
    char **lines;
    size_t n;
    bool *seen;
};

struct corpus_ctx {
    struct corpus_file files[16];
    size_t nfiles;
    int rows;
    /* Device names from the corpus's own expectation files. */
    char **published_devices;
    size_t n_published;
    char *published_text;
    char *inventory_text;
};

static struct corpus_file *corpus_file(struct corpus_ctx *cc, const char *name)
{
    for (size_t i = 0; i < cc->nfiles; i++)
        if (strcmp(cc->files[i].name, name) == 0)
            return &cc->files[i];
    assert_true(cc->nfiles < sizeof cc->files / sizeof cc->files[0]);
    struct corpus_file *f = &cc->files[cc->nfiles++];
    char rel[160];
    snprintf(f->name, sizeof f->name, "%s", name);
    snprintf(rel, sizeof rel, "corpus/%s", name);
    f->text = tu_read_data(rel, NULL);
    f->lines = tu_lines(f->text, &f->n);
    if (f->n && f->lines[f->n - 1][0] == '\0')
        f->n--; /* the empty string after the last LF */
    f->seen = calloc(f->n ? f->n : 1, sizeof *f->seen);
    assert_non_null(f->seen);
    return f;
}

/* The device a corpus line must be attributed to, from the corpus's own
 * data rather than from corpus.tsv: the file name for the lab, the
 * inventory for the Huawei streams, published.expected.tsv row by row. */
static bool device_is_plausible(struct corpus_ctx *cc, const char *file, size_t lineno,
                                struct sl_str host)
{
    char want[128];
    if (strncmp(file, "openssh-lab/", 12) == 0) {
        const char *base = file + 12;
        size_t n = strlen(base) - 4; /* ".log" */
        return host.len == n && memcmp(host.p, base, n) == 0;
    }
    if (strncmp(file, "published/", 10) == 0) {
        if (lineno > cc->n_published)
            return false;
        snprintf(want, sizeof want, "%s", cc->published_devices[lineno - 1]);
        return host.len == strlen(want) && memcmp(host.p, want, host.len) == 0;
    }
    /* "match = NAME" lines of huawei-inventory.conf. */
    snprintf(want, sizeof want, "match = %.*s\n", (int)host.len, host.p);
    return host.len > 0 && strstr(cc->inventory_text, want) != NULL;
}

static void check_corpus_row(struct sample_ctx *c, char *line, void *arg)
{
    struct corpus_ctx *cc = arg;
    char *f[8];
    if (tu_fields(line, f, 8) != 8) {
        fprintf(stderr, "# %s:%zu: needs 8 columns\n", c->file, c->line);
        c->failures++;
        return;
    }
    struct corpus_file *cf = corpus_file(cc, f[0]);
    size_t lineno = (size_t)strtoul(f[1], NULL, 10);
    if (lineno == 0 || lineno > cf->n) {
        fprintf(stderr, "# %s:%zu: %s has no line %s\n", c->file, c->line, f[0], f[1]);
        c->failures++;
        return;
    }
    cf->seen[lineno - 1] = true;
    cc->rows++;

    const char *src = cf->lines[lineno - 1];
    struct parsed ps;
    parse_copy(src, strlen(src), NOW, &ps);
    check_invariants(&ps);
    const struct syslog_record *r = &ps.rec;
    char ts[64];
    format_ts(r, ts, sizeof ts);

    if (r->format == SL_FMT_NONE)
        mismatch(c, "format (must not be none)", f[2], "none", 4);
    expect_str(c, "format", syslog_format_name(r->format), f[2]);
    expect_slice(c, "host", r->host, f[3]);
    if (!device_is_plausible(cc, f[0], lineno, r->host))
        mismatch(c, "host vs the corpus's device names", f[0], r->host.p, r->host.len);
    expect_slice(c, "app", r->app, f[4]);
    expect_str(c, "ts", ts, f[6]);
    size_t off = (size_t)strtoul(f[5], NULL, 10);
    if (!r->text.p || (size_t)(r->text.p - ps.buf) != off || r->text.len != ps.len - off) {
        char want[64];
        snprintf(want, sizeof want, "text from byte %zu", off);
        mismatch(c, "text", want, r->text.p, r->text.len);
    }
    char head[128];
    snprintf(head, sizeof head, "%s...", f[7]);
    if (!slice_matches(r->text, head))
        mismatch(c, "text head", f[7], r->text.p, r->text.len);
    free(ps.buf);
}

static void test_corpus_lines(void **state)
{
    (void)state;
    struct corpus_ctx cc;
    memset(&cc, 0, sizeof cc);

    cc.inventory_text = tu_read_data("corpus/huawei-assumed/huawei-inventory.conf", NULL);
    cc.published_text = tu_read_data("corpus/published/published.expected.tsv", NULL);
    size_t n;
    char **rows = tu_lines(cc.published_text, &n);
    cc.published_devices = calloc(n, sizeof *cc.published_devices);
    assert_non_null(cc.published_devices);
    for (size_t i = 1; i < n; i++) { /* row 0 is the column header */
        if (rows[i][0] == '\0')
            continue;
        char *tab = strchr(rows[i], '\t');
        if (tab)
            *tab = '\0';
        cc.published_devices[cc.n_published++] = rows[i];
    }
    free(rows);

    struct sample_ctx c = {0};
    for_each_sample("syslog/corpus.tsv", check_corpus_row, &cc, &c);

    /* Every line of every corpus log has a row: the four lab devices, the
     * Huawei streams and the published lines. */
    size_t lines = 0;
    assert_int_equal(cc.nfiles, 6);
    for (size_t i = 0; i < cc.nfiles; i++) {
        for (size_t j = 0; j < cc.files[i].n; j++) {
            if (!cc.files[i].seen[j]) {
                fprintf(stderr, "# corpus/%s:%zu has no row in corpus.tsv\n", cc.files[i].name,
                        j + 1);
                c.failures++;
            }
        }
        lines += cc.files[i].n;
        free(cc.files[i].seen);
        free(cc.files[i].lines);
        free(cc.files[i].text);
    }
    fprintf(stderr, "# %d corpus rows over %zu lines, %d mismatches\n", cc.rows, lines,
            c.failures);
    assert_int_equal((size_t)cc.rows, lines);
    assert_true(lines >= 1249);
    free(cc.published_devices);
    free(cc.published_text);
    free(cc.inventory_text);
    assert_int_equal(c.failures, 0);
}

/* ---------------------------------------------------------- edge cases */

static const char *const representative[] = {
    "<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 "
    "[exampleSDID@32473 iut=\"3\" a=\"x\\]y\"] \xef\xbb\xbf" "An application event",
    "<143>Nov 24 14:50:11 edge-modern-1 sshd[19974]: debug2: peer client KEXINIT proposal",
    "<191>Nov 24 2026 09:00:05.970 HW-CORE-1 SSH/7/SSH_DEBUG: SSH protocol packet received: "
    "key_ex: curve25519-sha256",
    "<191>Nov 24 2026 09:00:51+08:00 HW-CORE-1 %%01SSH/7/DEBUG(d):CID=0x80d20433;VTY1: SSH "
    "protocol packet received, key_ex = curve25519-sha256",
    "Mar 26 2022 17:06:48+03:00 DST IGW-HU-Test %%01SSH/4/SSHS_IP_BLOCK_CLIENT(s):"
    "CID=0x8093043a;SSH client IP blocked",
    "<189>Oct  4 23:46:14 Huawei %%01SHELL/5/CMDRECORD[l](324):Record command information.",
    "<189>2026-11-24 09:00:05 AR2200 UTC+08:00 10.1.1.1 %%01SSH/5/X(l):VS=Admin-VS-CID=0x1;t",
    "Sep 2 2011 10:21:56.390.3-08:00 HUAWEI RSVP/7/HELLO: 008:00569: Receiving Hello",
    "May 15 2016 21:48:33 223.171 : The SSH user failed to login.",
    "<189>1.1234 HUAWEI %%01SSH/5/X(l):t",
    "*Nov 9 17:06:19:156 2008 Sysname SSL/7/EVENT: Server hello",
    "<189>Oct 9 14:59:04 2009 Sysname %%10SHELL/5/SHELL_LOGIN(l): VTY logged in",
    "Jul  9 11:25:38 r1-wan 000231: Jul  9 11:25:38.179: %SSH-3-NO_MATCH: No matching cipher",
    "<189>53: R1: *Mar  1 00:01:23.456 UTC: %SYS-5-CONFIG_I: Configured",
    "<189>000123: 1d02h: %LINK-3-UPDOWN: Interface up",
    "2020 Jul  9 11:25:38 sw1 %AUTHPRIV-3-SYSTEM_MSG: x",
};

/* Every prefix of every representative line, each in a buffer of exactly
 * that length: no crash, no read past the end, slices inside the input. */
static void test_truncated_headers(void **state)
{
    (void)state;
    size_t parsed = 0;
    for (size_t i = 0; i < sizeof representative / sizeof representative[0]; i++) {
        size_t full = strlen(representative[i]);
        for (size_t len = 0; len <= full; len++) {
            struct parsed ps;
            parse_copy(representative[i], len, NOW, &ps);
            check_invariants(&ps);
            free(ps.buf);
            parsed++;
        }
        /* The whole line must be recognised. */
        struct parsed ps;
        parse_copy(representative[i], full, NOW, &ps);
        if (ps.rec.format == SL_FMT_NONE)
            fail_msg("representative line %zu not recognised", i);
        free(ps.buf);
    }
    assert_true(parsed > 1000);
}

/* A deterministic generator, so a failure can be replayed. */
static uint32_t rng_next(uint32_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 17;
    *s ^= *s << 5;
    return *s;
}

/* Random bytes, bytes drawn from the header alphabet, and representative
 * lines with bytes flipped, cut and duplicated: the invariants must hold. */
static void test_junk_and_mutations(void **state)
{
    (void)state;
    static const char alphabet[] = "<>0123456789 :.-+*%/[]()=;TZDSTJanNovMayUTC\"\\\xef\xbb\xbf\xff";
    uint32_t seed = 0x2545F491u;
    char buf[512];
    for (int iter = 0; iter < 200000; iter++) {
        size_t len = rng_next(&seed) % sizeof buf;
        int kind = iter % 3;
        if (kind == 0) {
            for (size_t i = 0; i < len; i++)
                buf[i] = (char)rng_next(&seed);
        } else if (kind == 1) {
            for (size_t i = 0; i < len; i++)
                buf[i] = alphabet[rng_next(&seed) % (sizeof alphabet - 1)];
        } else {
            const char *src =
                representative[rng_next(&seed) % (sizeof representative / sizeof representative[0])];
            len = strlen(src);
            memcpy(buf, src, len);
            for (int m = 0, nm = 1 + (int)(rng_next(&seed) % 4); m < nm; m++) {
                size_t at = rng_next(&seed) % len;
                switch (rng_next(&seed) % 4) {
                case 0: buf[at] = (char)rng_next(&seed); break;
                case 1: buf[at] = alphabet[rng_next(&seed) % (sizeof alphabet - 1)]; break;
                case 2: len = at + 1; break;
                default:
                    if (len < sizeof buf) {
                        memmove(buf + at + 1, buf + at, len - at);
                        len++;
                    }
                }
            }
        }
        struct parsed ps;
        parse_copy(buf, len, (int64_t)(rng_next(&seed) % 4000000000u), &ps);
        check_invariants(&ps);
        free(ps.buf);
    }
}

static void test_edge_inputs(void **state)
{
    (void)state;
    struct syslog_record r;

    /* No buffer at all. */
    syslog_parse(NULL, 0, NOW, &r);
    assert_int_equal(r.format, SL_FMT_NONE);
    assert_null(r.text.p);
    assert_int_equal(r.pri, -1);

    /* Extreme clocks must not overflow the year arithmetic. */
    static const char line[] = "<13>Nov 24 14:50:11 host sshd[1]: x";
    syslog_parse(line, sizeof line - 1, INT64_MAX, &r);
    assert_int_equal(r.format, SL_FMT_RFC3164);
    syslog_parse(line, sizeof line - 1, INT64_MIN, &r);
    assert_int_equal(r.format, SL_FMT_RFC3164);

    /* A 64 KiB line: header found, text runs to the last byte. */
    size_t big = 64 * 1024;
    char *msg = malloc(big);
    assert_non_null(msg);
    static const char hdr[] = "<191>Nov 24 2026 09:00:05.970 HW-CORE-1 SSH/7/SSH_DEBUG: ";
    memcpy(msg, hdr, sizeof hdr - 1);
    for (size_t i = sizeof hdr - 1; i < big; i++)
        msg[i] = "curve25519-sha256,"[i % 18];
    struct parsed ps;
    parse_copy(msg, big, NOW, &ps);
    check_invariants(&ps);
    assert_int_equal(ps.rec.format, SL_FMT_HUAWEI_DEBUG);
    assert_int_equal(ps.rec.text.len, big - (sizeof hdr - 1));
    free(ps.buf);

    /* 64 KiB with no header: spaces, digits and '%' that keep the parser
     * looking, then give up as NONE. */
    for (size_t i = 0; i < big; i++)
        msg[i] = " 1%:"[i % 4];
    parse_copy(msg, big, NOW, &ps);
    check_invariants(&ps);
    free(ps.buf);

    /* A header, then 64 KiB of a single token. */
    memcpy(msg, line, sizeof line - 1);
    memset(msg + sizeof line - 1, 'a', big - (sizeof line - 1));
    parse_copy(msg, big, NOW, &ps);
    check_invariants(&ps);
    assert_int_equal(ps.rec.format, SL_FMT_RFC3164);
    free(ps.buf);
    free(msg);
}

/* ------------------------------------------------------------- dates */

/* Day-by-day over 1900..2400 plus every leap day in the range, in three
 * written forms, against timegm(). */
static void test_date_arithmetic(void **state)
{
    (void)state;
    static const char *const mon[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                      "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    char line[128];
    struct syslog_record r;
    int checked = 0;
    for (int64_t day = -25567; day < 157054; day += 7) { /* 1900-01-01 .. 2400 */
        /* A different time of day each step. */
        time_t t = (time_t)(day * 86400 + ((day < 0 ? -day : day) * 3727) % 86400);
        struct tm tm;
        assert_non_null(gmtime_r(&t, &tm));
        for (int form = 0; form < 3; form++) {
            int n;
            if (form == 0)
                n = snprintf(line, sizeof line, "<13>%04d-%02d-%02d %02d:%02d:%02d h a: x",
                             tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
                             tm.tm_sec);
            else if (form == 1)
                n = snprintf(line, sizeof line, "<13>%s %2d %04d %02d:%02d:%02d h a: x",
                             mon[tm.tm_mon], tm.tm_mday, tm.tm_year + 1900, tm.tm_hour,
                             tm.tm_min, tm.tm_sec);
            else
                n = snprintf(line, sizeof line, "<13>1 %04d-%02d-%02dT%02d:%02d:%02d+05:30 h a - - -",
                             tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
                             tm.tm_sec);
            syslog_parse(line, (size_t)n, NOW, &r);
            if (!(r.ts_flags & SL_TS_PRESENT))
                fail_msg("no time read from %s", line);
            int64_t want = (int64_t)timegm(&tm) - (form == 2 ? 330 * 60 : 0);
            if (r.ts_sec != want)
                fail_msg("%s: got %lld, want %lld", line, (long long)r.ts_sec, (long long)want);
            checked++;
        }
    }
    assert_true(checked > 70000);
}

/* Year-less times take the year nearest to now but at most 31 days ahead of
 * it, for every day of the year, at several moments of the year for now
 * (checked by brute force). */
static void test_year_inference(void **state)
{
    (void)state;
    static const char *const mon[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                      "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    int64_t nows[48] = {NOW,
                        1767225600LL /* 2026-01-01 */,
                        1830297599LL /* 2027-12-31T23:59:59 */,
                        951782400LL /* 2000-02-29 */,
                        4107542400LL /* 2100-03-01, no Feb 29 that year */,
                        0};
    uint32_t seed = 0x9E3779B9u;
    for (size_t k = 6; k < sizeof nows / sizeof nows[0]; k++) /* 1970 .. 2200 */
        nows[k] = (int64_t)(rng_next(&seed) % 7258118400u);
    char line[96];
    struct syslog_record r;
    for (size_t k = 0; k < sizeof nows / sizeof nows[0]; k++) {
        time_t nt = (time_t)nows[k];
        struct tm ntm;
        assert_non_null(gmtime_r(&nt, &ntm));
        for (int m = 0; m < 12; m++) {
            for (int d = 1; d <= 31; d++) {
                int n = snprintf(line, sizeof line, "<13>%s %2d 06:30:00 h a: x", mon[m], d);
                /* The brute-force answer: the valid year within nine of
                 * now's whose time lies nearest to now, not over 31 days ahead. */
                int64_t best = 0, best_d = INT64_MAX;
                for (int y = ntm.tm_year + 1900 - 9; y <= ntm.tm_year + 1900 + 9; y++) {
                    struct tm tm = {.tm_year = y - 1900, .tm_mon = m, .tm_mday = d, .tm_hour = 6,
                                    .tm_min = 30};
                    time_t t = timegm(&tm);
                    struct tm back;
                    gmtime_r(&t, &back);
                    if (back.tm_mday != d)
                        continue; /* no such day that year */
                    int64_t dist = (int64_t)t - nows[k];
                    if (dist > 31 * 86400)
                        continue;
                    if (dist < 0)
                        dist = -dist;
                    if (dist < best_d) {
                        best_d = dist;
                        best = (int64_t)t;
                    }
                }
                syslog_parse(line, (size_t)n, nows[k], &r);
                if (best_d == INT64_MAX) {
                    /* Apr 31 and the like: no such date in any year. */
                    assert_int_equal(r.format, SL_FMT_NONE);
                    continue;
                }
                assert_int_equal(r.format, SL_FMT_RFC3164);
                assert_int_equal(r.ts_flags, SL_TS_PRESENT);
                if (r.ts_sec != best)
                    fail_msg("%s at now=%lld: got %lld, want %lld", line, (long long)nows[k],
                             (long long)r.ts_sec, (long long)best);
            }
        }
    }
}

static void test_format_names(void **state)
{
    (void)state;
    assert_string_equal(syslog_format_name(SL_FMT_NONE), "none");
    assert_string_equal(syslog_format_name(SL_FMT_RFC5424), "rfc5424");
    assert_string_equal(syslog_format_name(SL_FMT_RFC3164), "rfc3164");
    assert_string_equal(syslog_format_name(SL_FMT_HUAWEI), "huawei");
    assert_string_equal(syslog_format_name(SL_FMT_HUAWEI_DEBUG), "huawei-debug");
    assert_string_equal(syslog_format_name(SL_FMT_H3C), "h3c");
    assert_string_equal(syslog_format_name(SL_FMT_CISCO), "cisco");
    assert_string_equal(syslog_format_name((enum sl_format)99), "none");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_format_names),
        cmocka_unit_test(test_header_samples),
        cmocka_unit_test(test_corpus_lines),
        cmocka_unit_test(test_edge_inputs),
        cmocka_unit_test(test_truncated_headers),
        cmocka_unit_test(test_junk_and_mutations),
        cmocka_unit_test(test_date_arithmetic),
        cmocka_unit_test(test_year_inference),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
