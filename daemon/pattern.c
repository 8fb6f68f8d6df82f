/* SPDX-License-Identifier: ISC */
/* pattern: loading the SSH line patterns and matching text against them
 * (see pattern.h; the file format is in conf/patterns.d/README).
 *
 * Pattern files are read by hand, one line at a time: a regex value is the
 * raw rest of its line (expressions hold ';', '#' and '=' that an INI
 * library would take for comments or separators) and lines may be long.
 *
 * Expressions are compiled without UTF (PCRE2_NEVER_UTF): received text is
 * arbitrary bytes, and in UTF mode invalid UTF-8 either fails every match
 * (an error per line) or, with PCRE2_MATCH_INVALID_UTF, costs speed for
 * nothing: every token an SSH pattern needs is ASCII and spans are byte
 * offsets anyway. Non-ASCII text such as Huawei's full-width punctuation
 * ("＝", "（") is matched as its UTF-8 byte sequence, written in an
 * alternation ("(?:=|＝)"), never inside a [class].
 *
 * The pre-filter is a set of literals (the [prefilter] section and every
 * pattern's require =), each at least 3 bytes long. One pass over the text
 * hashes every 3-byte window into a 64 Kbit table (8 KB, stays in L1) that
 * holds the hashes of the literals' first 3 bytes; only a set bit leads to
 * comparing the literals chained on that hash. The pass records which
 * literals occur, so a pattern whose require = names none of them is not
 * even tried.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "negotiate.h"
#include "pattern.h"

#define MAX_LINE        (64u * 1024) /* bytes per line of a pattern file */
#define MAX_NAME        64           /* bytes of a pattern name */
#define MAX_PATTERNS    10000
#define MAX_FILES       1000
#define MAX_ERRORS      200 /* messages kept per load; more are summarised */
#define MAX_LITERALS    4096
#define MIN_LITERAL     3
#define MAX_LITERAL     255
#define MAX_APPS        32
#define MATCH_LIMIT     1000000u /* PCRE2 backtracking budget per expression and line */
#define DEPTH_LIMIT     20000u
#define JIT_STACK_START (32u * 1024)
#define JIT_STACK_MAX   (1024u * 1024)
#define SLOT_TEXT_MAX   160 /* bytes of a slot wording looked at */

#define HASH_BITS   16
#define BUCKET_BITS 10

/* What a named group feeds. */
enum field {
    F_LIST = 0,
    F_CLIENT_LIST,
    F_SERVER_LIST,
    F_SESSION,
    F_PEER,
    F_PORT,
    F_SOFTWARE,
    F_REASON,
    F_SLOT,
    F_CATEGORY,
    F_DIR,
    F_ROLE,
    F_CUT,
    F_NFIELDS
};

static const char *const field_names[F_NFIELDS] = {
    "list",   "client_list", "server_list", "session", "peer", "port", "software",
    "reason", "slot",        "category",    "dir",     "role", "cut",
};

static const char *const vendor_names[] = {"huawei", "h3c", "cisco", "openssh", "dropbear", "libssh", "other"};
#define N_VENDORS (sizeof vendor_names / sizeof vendor_names[0])

static const char *const event_names[PAT_EV_COUNT] = {
    "connect", "version", "proposal", "list", "agreed", "failure", "success", "login_fail", "close", "no_match",
};

static const char *const category_words[ALGO_NCATEGORIES] = {"kex", "hostkey", "cipher", "mac", "compression"};

struct group_ref {
    uint32_t number;
    enum field field;
};

struct app_glob {
    char *s; /* lower case, without the '*' */
    size_t len;
    bool prefix; /* written with a trailing '*' */
};

struct pat {
    char *name;
    const char *vendor; /* one of vendor_names */
    char *platform;     /* platform = (the line shape names one), or NULL */
    enum pat_event event;
    enum pat_side side;
    int slot;     /* slot = / category =, PAT_SLOT_NONE when not given */
    int category; /* from slot = / category =, -1 */
    struct app_glob *apps;
    size_t napps;
    uint32_t *require; /* literal indices; none: any literal will do */
    size_t nrequire;
    pcre2_code *code;
    struct group_ref *groups;
    size_t ngroups;
};

struct literal {
    char *s;
    uint32_t len;
    uint32_t key; /* the first 3 bytes, see window_key() */
    int32_t next; /* next literal on the same hash bucket, -1 at the end */
};

struct prefilter {
    struct literal *lit;
    size_t n, cap;
    uint8_t bits[(1u << HASH_BITS) / 8];
    int32_t head[1u << BUCKET_BITS];
};

struct pattern_set {
    struct pat *pats;
    size_t n, cap;
    struct prefilter pf;
    uint64_t *hits; /* scratch: one bit per literal */
    size_t nwords;
    uint32_t max_captures;
    pcre2_match_data *md;
    pcre2_match_context *mctx;
    pcre2_jit_stack *jit;
};

/* ------------------------------------------------------------ small text helpers */

static int lower_ascii(int c)
{
    return c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c;
}

static bool is_alnum_ascii(int c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

static bool is_blank(int c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f';
}

static bool eq_ci(const char *a, size_t alen, const char *b, size_t blen)
{
    if (alen != blen)
        return false;
    for (size_t i = 0; i < alen; i++)
        if (lower_ascii((unsigned char)a[i]) != lower_ascii((unsigned char)b[i]))
            return false;
    return true;
}

static bool starts(const char *tok, size_t len, const char *prefix)
{
    size_t n = strlen(prefix);
    return len >= n && memcmp(tok, prefix, n) == 0;
}

static bool is_word(const char *tok, size_t len, const char *word)
{
    return strlen(word) == len && memcmp(tok, word, len) == 0;
}

static bool contains(const char *tok, size_t len, const char *needle)
{
    size_t n = strlen(needle);
    for (size_t i = 0; i + n <= len; i++)
        if (memcmp(tok + i, needle, n) == 0)
            return true;
    return false;
}

/* Lower-cases text into buf (at most SLOT_TEXT_MAX bytes, NUL bytes made
 * spaces) and returns the length copied. */
static size_t fold(const char *text, size_t len, char buf[SLOT_TEXT_MAX + 1])
{
    size_t n = len < SLOT_TEXT_MAX ? len : SLOT_TEXT_MAX;
    for (size_t i = 0; i < n; i++) {
        int c = (unsigned char)text[i];
        buf[i] = (char)(c == 0 ? ' ' : lower_ascii(c));
    }
    buf[n] = '\0';
    return n;
}

/* 0 for client-to-server, 1 for server-to-client, -1 when the folded
 * text names no direction. */
static int direction_in(const char *s, size_t n)
{
    static const char *const c2s[] = {"client->server", "client to server", "client-to-server", "ctos", "c2s", "c->s"};
    static const char *const s2c[] = {"server->client", "server to client", "server-to-client", "stoc", "s2c", "s->c"};
    for (size_t i = 0; i < sizeof c2s / sizeof c2s[0]; i++)
        if (contains(s, n, c2s[i]))
            return 0;
    for (size_t i = 0; i < sizeof s2c / sizeof s2c[0]; i++)
        if (contains(s, n, s2c[i]))
            return 1;
    return -1;
}

static int slot_category(int slot)
{
    switch (slot) {
    case NEG_KEX: return ALGO_KEX;
    case NEG_HOSTKEY: return ALGO_HOSTKEY;
    case NEG_CIPHER_C2S:
    case NEG_CIPHER_S2C: return ALGO_CIPHER;
    case NEG_MAC_C2S:
    case NEG_MAC_S2C: return ALGO_MAC;
    case NEG_COMP_C2S:
    case NEG_COMP_S2C: return ALGO_COMPRESSION;
    default: return -1;
    }
}

/* The client-to-server slot of a directional category, or the one slot of
 * kex and hostkey. */
static int category_slot(int cat)
{
    switch (cat) {
    case ALGO_KEX: return NEG_KEX;
    case ALGO_HOSTKEY: return NEG_HOSTKEY;
    case ALGO_CIPHER: return NEG_CIPHER_C2S;
    case ALGO_MAC: return NEG_MAC_C2S;
    case ALGO_COMPRESSION: return NEG_COMP_C2S;
    default: return PAT_SLOT_NONE;
    }
}

/* Vendors name slots in free words: a category word (in any of their
 * spellings) plus, for cipher/MAC/compression, maybe a direction. When
 * several category words occur the most specific wins: "kex: host key
 * algorithm" is about the host key, "kex: client->server cipher" about the
 * cipher. */
int pattern_slot_from_text(const char *text, size_t len, int *category)
{
    if (category)
        *category = -1;
    if (!text || len == 0)
        return PAT_SLOT_NONE;

    char buf[SLOT_TEXT_MAX + 1];
    size_t n = fold(text, len, buf);
    bool lang = false, host = false, kex = false, ciph = false, mac = false, comp = false;
    const char *prev = "";
    size_t prevlen = 0;
    for (size_t i = 0; i < n;) {
        if (!is_alnum_ascii((unsigned char)buf[i])) {
            i++;
            continue;
        }
        size_t j = i;
        while (j < n && is_alnum_ascii((unsigned char)buf[j]))
            j++;
        const char *t = buf + i;
        size_t tl = j - i;
        if (starts(t, tl, "lang"))
            lang = true;
        if (starts(t, tl, "hostkey") || is_word(t, tl, "pubkey") || is_word(t, tl, "publickey") ||
            ((is_word(prev, prevlen, "host") || is_word(prev, prevlen, "public")) && starts(t, tl, "key")))
            host = true;
        if (starts(t, tl, "kex") || is_word(t, tl, "keyexchange") ||
            (is_word(prev, prevlen, "key") && (is_word(t, tl, "ex") || starts(t, tl, "exch"))))
            kex = true;
        if (starts(t, tl, "ciph") || starts(t, tl, "enc") || contains(t, tl, "encrypt"))
            ciph = true;
        if (is_word(t, tl, "mac") || is_word(t, tl, "macs") || starts(t, tl, "hmac") ||
            (tl > 3 && memcmp(t + tl - 3, "mac", 3) == 0)) /* H3C InMac, OutMac */
            mac = true;
        if (is_word(t, tl, "comp") || is_word(t, tl, "comps") || starts(t, tl, "compr"))
            comp = true;
        prev = t;
        prevlen = tl;
        i = j;
    }

    if (lang)
        return PAT_SLOT_IGNORED;
    int cat;
    if (host)
        cat = ALGO_HOSTKEY;
    else if (ciph)
        cat = ALGO_CIPHER;
    else if (mac)
        cat = ALGO_MAC;
    else if (comp)
        cat = ALGO_COMPRESSION;
    else if (kex)
        cat = ALGO_KEX;
    else
        return PAT_SLOT_NONE;

    int slot = category_slot(cat);
    if (cat == ALGO_KEX || cat == ALGO_HOSTKEY) {
        if (category)
            *category = cat;
        return slot;
    }
    int dir = direction_in(buf, n);
    if (dir < 0) {
        if (category)
            *category = cat;
        return slot;
    }
    return slot + dir;
}

/* Whose proposal a captured role names: "local server"/"server" -> server,
 * "peer client"/"client" -> client. */
static enum pat_side side_from_text(const char *text, size_t len)
{
    char buf[SLOT_TEXT_MAX + 1];
    size_t n = fold(text, len, buf);
    bool server = contains(buf, n, "server"), client = contains(buf, n, "client");
    if (server && !client)
        return PAT_SIDE_SERVER;
    if (client && !server)
        return PAT_SIDE_CLIENT;
    return PAT_SIDE_NONE;
}

const char *pattern_event_name(enum pat_event ev)
{
    if ((int)ev < 0 || ev >= PAT_EV_COUNT)
        return NULL;
    return event_names[ev];
}

/* ------------------------------------------------------------ pre-filter */

static uint32_t lit_hash(uint32_t key)
{
    /* multiplicative hashing: the top bits mix every byte of the window */
    return (key * UINT32_C(0x9E3779B1)) >> (32 - HASH_BITS);
}

/* The 3 bytes at p as a number, first byte lowest (what the scan's
 * rolling window holds). */
static uint32_t window_key(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16;
}

static void prefilter_init(struct prefilter *f)
{
    memset(f, 0, sizeof *f);
    for (size_t i = 0; i < (1u << BUCKET_BITS); i++)
        f->head[i] = -1;
}

static void prefilter_free(struct prefilter *f)
{
    for (size_t i = 0; i < f->n; i++)
        free(f->lit[i].s);
    free(f->lit);
    f->lit = NULL;
    f->n = f->cap = 0;
}

/* Returns the index of the literal s[0..len) (added when new), -1 when out
 * of memory or room. */
static int prefilter_add(struct prefilter *f, const char *s, size_t len)
{
    for (size_t i = 0; i < f->n; i++)
        if (f->lit[i].len == len && memcmp(f->lit[i].s, s, len) == 0)
            return (int)i;
    if (f->n >= MAX_LITERALS)
        return -1;
    if (f->n == f->cap) {
        size_t cap = f->cap ? f->cap * 2 : 32;
        struct literal *v = realloc(f->lit, cap * sizeof *v);
        if (!v)
            return -1;
        f->lit = v;
        f->cap = cap;
    }
    struct literal *l = &f->lit[f->n];
    l->s = malloc(len + 1);
    if (!l->s)
        return -1;
    memcpy(l->s, s, len);
    l->s[len] = '\0';
    l->len = (uint32_t)len;
    l->key = window_key((const unsigned char *)s);
    uint32_t h = lit_hash(l->key);
    f->bits[h >> 3] |= (uint8_t)(1u << (h & 7));
    l->next = f->head[h >> (HASH_BITS - BUCKET_BITS)];
    f->head[h >> (HASH_BITS - BUCKET_BITS)] = (int32_t)f->n;
    return (int)f->n++;
}

/* Compares the literals chained at head against text at position i.
 * Records each one found in hits; with hits == NULL returns at the first. */
static bool prefilter_verify(const struct prefilter *f, int32_t head, uint32_t key, const unsigned char *p, size_t i,
                             size_t len, uint64_t *hits)
{
    bool found = false;
    for (int32_t j = head; j >= 0; j = f->lit[j].next) {
        const struct literal *l = &f->lit[j];
        if (l->key != key || l->len > len - i || memcmp(p + i + 3, l->s + 3, l->len - 3) != 0)
            continue;
        if (!hits)
            return true;
        hits[(uint32_t)j >> 6] |= UINT64_C(1) << ((uint32_t)j & 63);
        found = true;
    }
    return found;
}

#define BIT_SET(bits, h) ((bits)[(h) >> 3] & (1u << ((h)&7)))
#define BUCKET(h)        ((h) >> (HASH_BITS - BUCKET_BITS))

/* One pass over the text; see the file comment. */
static bool prefilter_scan(const struct prefilter *f, const unsigned char *p, size_t len, uint64_t *hits)
{
    if (f->n == 0 || len < MIN_LITERAL)
        return false;
    bool any = false;
    uint32_t w = (uint32_t)p[0] | (uint32_t)p[1] << 8;
    for (size_t i = 0; i + 3 <= len; i++, w >>= 8) {
        w |= (uint32_t)p[i + 2] << 16; /* now window_key(p + i) */
        uint32_t h = lit_hash(w);
        if (BIT_SET(f->bits, h) && prefilter_verify(f, f->head[BUCKET(h)], w, p, i, len, hits)) {
            if (!hits)
                return true;
            any = true;
        }
    }
    return any;
}

bool pattern_prefilter(const struct pattern_set *s, const char *text, size_t len)
{
    if (!s || (!text && len))
        return false;
    return prefilter_scan(&s->pf, (const unsigned char *)(text ? text : ""), len, NULL);
}

/* ------------------------------------------------------------ errors */

void pattern_errors_free(struct pattern_errors *e)
{
    if (!e)
        return;
    for (size_t i = 0; i < e->n; i++)
        free(e->msgs[i]);
    free(e->msgs);
    e->msgs = NULL;
    e->n = 0;
}

struct seen_name {
    char *name;
    const char *file; /* borrowed from the loader's file list */
    unsigned line;
};

/* Loader state. */
struct load {
    struct pattern_set *set;
    struct pattern_errors *errs;
    size_t nerrors;
    const char *file; /* path of the file being read */
    unsigned lineno;

    /* the pattern being read */
    bool in_prefilter;
    bool skip; /* in a section whose header was reported bad */
    bool active;
    bool bad; /* an error was reported for it: do not keep it */
    struct pat cur;
    const char *cur_file;
    unsigned cur_line;
    char *regex;
    size_t regex_len;
    unsigned regex_line;
    bool seen_vendor, seen_event, seen_side, seen_slot, seen_category, seen_app, seen_require, seen_regex, seen_platform;

    struct seen_name *names; /* every pattern name seen, for duplicates */
    size_t nnames, capnames;
};

static void add_msg(struct load *ld, char *msg)
{
    ld->nerrors++;
    if (!ld->errs || !msg) {
        free(msg);
        return;
    }
    if (ld->nerrors > MAX_ERRORS) {
        free(msg);
        if (ld->nerrors != MAX_ERRORS + 1)
            return;
        msg = strdup("too many errors; the rest are not listed");
        if (!msg)
            return;
    }
    char **v = realloc(ld->errs->msgs, (ld->errs->n + 1) * sizeof *v);
    if (!v) {
        free(msg);
        return;
    }
    ld->errs->msgs = v;
    v[ld->errs->n++] = msg;
}

/* "WHERE:LINE: pattern NAME: message", the parts given; line 0 and
 * name NULL leave theirs out. */
__attribute__((format(printf, 5, 6))) static void errf(struct load *ld, const char *where, unsigned line,
                                                       const char *name, const char *fmt, ...)
{
    char text[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);

    char linebuf[16] = "";
    if (line)
        snprintf(linebuf, sizeof linebuf, ":%u", line);
    const char *pfx = name ? " pattern " : "", *nm = name ? name : "", *colon = name ? ":" : "";
    int n = snprintf(NULL, 0, "%s%s:%s%s%s %s", where, linebuf, pfx, nm, colon, text);
    char *msg = n >= 0 ? malloc((size_t)n + 1) : NULL;
    if (msg)
        snprintf(msg, (size_t)n + 1, "%s%s:%s%s%s %s", where, linebuf, pfx, nm, colon, text);
    add_msg(ld, msg);
}

/* ------------------------------------------------------------ loading */

static void pat_free(struct pat *p)
{
    free(p->name);
    free(p->platform);
    for (size_t i = 0; i < p->napps; i++)
        free(p->apps[i].s);
    free(p->apps);
    free(p->require);
    pcre2_code_free(p->code);
    free(p->groups);
    memset(p, 0, sizeof *p);
}

void pattern_set_free(struct pattern_set *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->n; i++)
        pat_free(&s->pats[i]);
    free(s->pats);
    prefilter_free(&s->pf);
    free(s->hits);
    pcre2_match_data_free(s->md);
    pcre2_match_context_free(s->mctx);
    pcre2_jit_stack_free(s->jit);
    free(s);
}

size_t pattern_set_count(const struct pattern_set *s)
{
    return s ? s->n : 0;
}

static char *trim(char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    size_t n = strlen(s);
    while (n && is_blank((unsigned char)s[n - 1]))
        s[--n] = '\0';
    return s;
}

/* Cuts an inline comment: ';' or '#' at the start of the value or after
 * a blank. Not applied to regex values. */
static char *strip_comment(char *v)
{
    for (char *p = v; *p; p++)
        if ((*p == ';' || *p == '#') && (p == v || p[-1] == ' ' || p[-1] == '\t')) {
            *p = '\0';
            break;
        }
    return trim(v);
}

/* Calls fn for each comma-separated, trimmed, non-empty item of v. */
static void for_items(struct load *ld, char *v, void (*fn)(struct load *, char *))
{
    char *save = NULL;
    for (char *item = strtok_r(v, ",", &save); item; item = strtok_r(NULL, ",", &save)) {
        item = trim(item);
        if (*item)
            fn(ld, item);
    }
}

static const char *cur_name(const struct load *ld)
{
    return ld->active ? ld->cur.name : NULL;
}

/* Adds a literal to the pre-filter; returns its index or -1 (reported). */
static int add_literal(struct load *ld, const char *item)
{
    size_t len = strlen(item);
    if (len < MIN_LITERAL || len > MAX_LITERAL) {
        errf(ld, ld->file, ld->lineno, cur_name(ld), "literal '%s' must be %d to %d bytes long", item, MIN_LITERAL,
             MAX_LITERAL);
        return -1;
    }
    int idx = prefilter_add(&ld->set->pf, item, len);
    if (idx < 0)
        errf(ld, ld->file, ld->lineno, cur_name(ld), "cannot add literal '%s' (more than %d literals?)", item,
             MAX_LITERALS);
    return idx;
}

static void prefilter_item(struct load *ld, char *item)
{
    add_literal(ld, item);
}

static void require_item(struct load *ld, char *item)
{
    int idx = add_literal(ld, item);
    if (idx < 0) {
        ld->bad = true;
        return;
    }
    uint32_t *v = realloc(ld->cur.require, (ld->cur.nrequire + 1) * sizeof *v);
    if (!v) {
        ld->bad = true;
        errf(ld, ld->file, ld->lineno, cur_name(ld), "out of memory");
        return;
    }
    ld->cur.require = v;
    v[ld->cur.nrequire++] = (uint32_t)idx;
}

static void app_item(struct load *ld, char *item)
{
    size_t len = strlen(item);
    bool prefix = len > 0 && item[len - 1] == '*';
    if (prefix)
        len--;
    if (memchr(item, '*', len) || ld->cur.napps >= MAX_APPS || (len == 0 && !prefix)) {
        errf(ld, ld->file, ld->lineno, cur_name(ld), "bad app '%s' (a tag, or a tag prefix ending in '*'; at most %d)",
             item, MAX_APPS);
        ld->bad = true;
        return;
    }
    struct app_glob *v = realloc(ld->cur.apps, (ld->cur.napps + 1) * sizeof *v);
    char *s = malloc(len + 1);
    if (v)
        ld->cur.apps = v;
    if (!v || !s) {
        free(s);
        errf(ld, ld->file, ld->lineno, cur_name(ld), "out of memory");
        ld->bad = true;
        return;
    }
    for (size_t i = 0; i < len; i++)
        s[i] = (char)lower_ascii((unsigned char)item[i]);
    s[len] = '\0';
    v[ld->cur.napps++] = (struct app_glob){.s = s, .len = len, .prefix = prefix};
}

static int event_from_name(const char *v)
{
    char buf[32];
    size_t n = strlen(v);
    if (n >= sizeof buf)
        return -1;
    for (size_t i = 0; i <= n; i++)
        buf[i] = (char)(v[i] == '-' ? '_' : lower_ascii((unsigned char)v[i]));
    for (int i = 0; i < PAT_EV_COUNT; i++)
        if (strcmp(buf, event_names[i]) == 0)
            return i;
    return -1;
}

/* Maps the named groups of a compiled expression to fields. */
static bool map_groups(struct load *ld, struct pat *p)
{
    uint32_t count = 0, entry = 0;
    PCRE2_SPTR table = NULL;
    pcre2_pattern_info(p->code, PCRE2_INFO_NAMECOUNT, &count);
    pcre2_pattern_info(p->code, PCRE2_INFO_NAMEENTRYSIZE, &entry);
    pcre2_pattern_info(p->code, PCRE2_INFO_NAMETABLE, &table);
    if (count == 0)
        return true;
    p->groups = calloc(count, sizeof *p->groups);
    if (!p->groups) {
        errf(ld, ld->cur_file, ld->regex_line, p->name, "out of memory");
        return false;
    }
    bool ok = true;
    for (uint32_t i = 0; i < count; i++) {
        PCRE2_SPTR e = table + (size_t)i * entry;
        uint32_t number = ((uint32_t)e[0] << 8) | e[1];
        const char *name = (const char *)(e + 2);
        int f = -1;
        for (int k = 0; k < F_NFIELDS; k++)
            if (strcmp(name, field_names[k]) == 0)
                f = k;
        if (f < 0) {
            if (name[0] != '_') {
                errf(ld, ld->cur_file, ld->regex_line, p->name,
                     "unknown group name '%s' (list, client_list, server_list, session, peer, port, "
                     "software, reason, slot, category, dir, role, cut; or begin it with '_')",
                     name);
                ok = false;
            }
            continue;
        }
        p->groups[p->ngroups++] = (struct group_ref){.number = number, .field = (enum field)f};
    }
    return ok;
}

static bool has_field(const struct pat *p, enum field f)
{
    for (size_t i = 0; i < p->ngroups; i++)
        if (p->groups[i].field == f)
            return true;
    return false;
}

/* The checks that need the compiled expression: what each event needs. */
static bool check_pattern(struct load *ld, const struct pat *p)
{
    const char *file = ld->cur_file;
    unsigned line = ld->cur_line;
    int sources = (p->slot != PAT_SLOT_NONE || p->category >= 0) + has_field(p, F_SLOT) + has_field(p, F_CATEGORY);
    bool ok = true;
    if (sources > 1) {
        errf(ld, file, line, p->name, "give only one of slot =, category =, (?<slot>) and (?<category>)");
        ok = false;
    }
    if (has_field(p, F_DIR) && sources == 0) {
        errf(ld, file, line, p->name, "(?<dir>) needs a slot (slot =, category =, (?<slot>) or (?<category>))");
        ok = false;
    }
    if ((p->event == PAT_EV_LIST || p->event == PAT_EV_AGREED) && (!has_field(p, F_LIST) || sources == 0)) {
        errf(ld, file, line, p->name, "event %s needs a (?<list>) group and a slot", event_names[p->event]);
        ok = false;
    }
    if (p->event == PAT_EV_PROPOSAL && p->side == PAT_SIDE_NONE && !has_field(p, F_ROLE)) {
        errf(ld, file, line, p->name, "event proposal needs side = or a (?<role>) group");
        ok = false;
    }
    if (p->event == PAT_EV_VERSION && !has_field(p, F_SOFTWARE)) {
        errf(ld, file, line, p->name, "event version needs a (?<software>) group");
        ok = false;
    }
    return ok;
}

static void compile_pattern(struct load *ld, struct pat *p)
{
    int code = 0;
    PCRE2_SIZE off = 0;
    p->code = pcre2_compile((PCRE2_SPTR)ld->regex, ld->regex_len, PCRE2_DUPNAMES | PCRE2_NEVER_UTF, &code, &off, NULL);
    if (!p->code) {
        PCRE2_UCHAR msg[256];
        if (pcre2_get_error_message(code, msg, sizeof msg) < 0)
            snprintf((char *)msg, sizeof msg, "error %d", code);
        errf(ld, ld->cur_file, ld->regex_line, p->name, "regex error at offset %zu: %s", (size_t)off,
             (const char *)msg);
        ld->bad = true;
        return;
    }
    /* without JIT support the interpreter runs the same expression */
    (void)pcre2_jit_compile(p->code, PCRE2_JIT_COMPLETE);
    if (!map_groups(ld, p))
        ld->bad = true;
}

/* Ends the pattern being read: checks it, compiles it and keeps it, or
 * drops it after reporting why. */
static void finish_pattern(struct load *ld)
{
    if (!ld->active)
        return;
    struct pat *p = &ld->cur;
    if (!ld->seen_vendor)
        errf(ld, ld->cur_file, ld->cur_line, p->name, "missing vendor =");
    if (!ld->seen_event)
        errf(ld, ld->cur_file, ld->cur_line, p->name, "missing event =");
    if (!ld->seen_regex)
        errf(ld, ld->cur_file, ld->cur_line, p->name, "missing regex =");
    if (!ld->seen_vendor || !ld->seen_event || !ld->regex)
        ld->bad = true;
    if (ld->regex)
        compile_pattern(ld, p);
    if (!ld->bad && !check_pattern(ld, p))
        ld->bad = true;

    if (!ld->bad && ld->set->n >= MAX_PATTERNS) {
        errf(ld, ld->cur_file, ld->cur_line, p->name, "more than %d patterns", MAX_PATTERNS);
        ld->bad = true;
    }
    if (!ld->bad && ld->set->n == ld->set->cap) {
        size_t cap = ld->set->cap ? ld->set->cap * 2 : 32;
        struct pat *v = realloc(ld->set->pats, cap * sizeof *v);
        if (!v) {
            errf(ld, ld->cur_file, ld->cur_line, p->name, "out of memory");
            ld->bad = true;
        } else {
            ld->set->pats = v;
            ld->set->cap = cap;
        }
    }
    if (ld->bad) {
        pat_free(p);
    } else {
        uint32_t captures = 0;
        pcre2_pattern_info(p->code, PCRE2_INFO_CAPTURECOUNT, &captures);
        if (captures > ld->set->max_captures)
            ld->set->max_captures = captures;
        ld->set->pats[ld->set->n++] = *p;
        memset(p, 0, sizeof *p);
    }
    free(ld->regex);
    ld->regex = NULL;
    ld->active = false;
}

static bool valid_name(const char *s, size_t n)
{
    if (n == 0 || n > MAX_NAME || !is_alnum_ascii((unsigned char)s[0]))
        return false;
    for (size_t i = 0; i < n; i++)
        if (!is_alnum_ascii((unsigned char)s[i]) && s[i] != '_' && s[i] != '-' && s[i] != '.')
            return false;
    return true;
}

static void start_section(struct load *ld, char *p)
{
    finish_pattern(ld);
    ld->in_prefilter = false;
    ld->skip = true; /* until the header proves good */

    char *end = strchr(p, ']');
    if (!end) {
        errf(ld, ld->file, ld->lineno, NULL, "section header without ']'");
        return;
    }
    char *rest = end + 1;
    *end = '\0';
    char *name = trim(p + 1);
    rest = trim(rest);
    if (*rest && *rest != '#' && *rest != ';') {
        errf(ld, ld->file, ld->lineno, NULL, "text after the section header");
        return;
    }
    if (strcmp(name, "prefilter") == 0) {
        ld->in_prefilter = true;
        ld->skip = false;
        return;
    }
    if (!valid_name(name, strlen(name))) {
        errf(ld, ld->file, ld->lineno, NULL,
             "bad pattern name '%s' (1 to %d letters, digits, '_', '-', '.'; a letter or digit first)", name, MAX_NAME);
        return;
    }

    ld->skip = false;
    ld->active = true;
    ld->bad = false;
    memset(&ld->cur, 0, sizeof ld->cur);
    ld->cur.slot = PAT_SLOT_NONE;
    ld->cur.category = -1;
    ld->cur.name = strdup(name);
    ld->cur_line = ld->lineno;
    ld->seen_vendor = ld->seen_event = ld->seen_side = ld->seen_slot = ld->seen_platform = false;
    ld->seen_category = ld->seen_app = ld->seen_require = ld->seen_regex = false;
    if (!ld->cur.name) {
        errf(ld, ld->file, ld->lineno, NULL, "out of memory");
        ld->active = false;
        return;
    }

    for (size_t i = 0; i < ld->nnames; i++)
        if (strcmp(ld->names[i].name, name) == 0) {
            errf(ld, ld->file, ld->lineno, name, "duplicate name (first defined at %s:%u)", ld->names[i].file,
                 ld->names[i].line);
            ld->bad = true;
            return;
        }
    if (ld->nnames == ld->capnames) {
        size_t cap = ld->capnames ? ld->capnames * 2 : 64;
        struct seen_name *v = realloc(ld->names, cap * sizeof *v);
        if (!v) {
            errf(ld, ld->file, ld->lineno, name, "out of memory");
            ld->bad = true;
            return;
        }
        ld->names = v;
        ld->capnames = cap;
    }
    char *nm = strdup(name);
    if (!nm) {
        errf(ld, ld->file, ld->lineno, name, "out of memory");
        ld->bad = true;
        return;
    }
    ld->names[ld->nnames++] = (struct seen_name){.name = nm, .file = ld->cur_file, .line = ld->lineno};
}

static bool once(struct load *ld, bool *seen, const char *key)
{
    if (*seen) {
        errf(ld, ld->file, ld->lineno, cur_name(ld), "%s = given twice", key);
        ld->bad = true;
        return false;
    }
    *seen = true;
    return true;
}

static void pattern_key(struct load *ld, const char *key, char *value)
{
    struct pat *p = &ld->cur;
    const char *nm = p->name;

    if (strcmp(key, "regex") == 0) {
        if (ld->seen_regex) {
            errf(ld, ld->file, ld->lineno, nm, "regex = given twice");
            ld->bad = true;
            return;
        }
        ld->seen_regex = true;
        size_t n = strlen(value);
        while (n && is_blank((unsigned char)value[n - 1]))
            n--;
        if (n == 0) {
            errf(ld, ld->file, ld->lineno, nm, "empty regex");
            ld->bad = true;
            return;
        }
        ld->regex = malloc(n + 1);
        if (!ld->regex) {
            errf(ld, ld->file, ld->lineno, nm, "out of memory");
            ld->bad = true;
            return;
        }
        memcpy(ld->regex, value, n);
        ld->regex[n] = '\0';
        ld->regex_len = n;
        ld->regex_line = ld->lineno;
        return;
    }

    char *v = strip_comment(value);
    if (strcmp(key, "note") == 0)
        return;
    if (strcmp(key, "vendor") == 0) {
        if (!once(ld, &ld->seen_vendor, key))
            return;
        for (size_t i = 0; i < N_VENDORS; i++)
            if (strcmp(v, vendor_names[i]) == 0)
                p->vendor = vendor_names[i];
        if (!p->vendor) {
            errf(ld, ld->file, ld->lineno, nm,
                 "unknown vendor '%s' (huawei, h3c, cisco, openssh, dropbear, libssh, other)", v);
            ld->bad = true;
        }
    } else if (strcmp(key, "platform") == 0) {
        if (!once(ld, &ld->seen_platform, key))
            return;
        bool ok = *v && strlen(v) < 24;
        for (const char *c = v; *c; c++)
            ok = ok && ((*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') || *c == '-');
        if (!ok) {
            errf(ld, ld->file, ld->lineno, nm, "platform '%s': 1 to 23 of a-z, 0-9 and '-'", v);
            ld->bad = true;
        } else if (!(p->platform = strdup(v))) {
            errf(ld, ld->file, ld->lineno, nm, "out of memory");
            ld->bad = true;
        }
    } else if (strcmp(key, "event") == 0) {
        if (!once(ld, &ld->seen_event, key))
            return;
        int ev = event_from_name(v);
        if (ev < 0) {
            errf(ld, ld->file, ld->lineno, nm,
                 "unknown event '%s' (connect, version, proposal, list, agreed, failure, success, "
                 "login_fail, close)",
                 v);
            ld->bad = true;
            return;
        }
        p->event = (enum pat_event)ev;
    } else if (strcmp(key, "side") == 0) {
        if (!once(ld, &ld->seen_side, key))
            return;
        if (eq_ci(v, strlen(v), "client", 6))
            p->side = PAT_SIDE_CLIENT;
        else if (eq_ci(v, strlen(v), "server", 6))
            p->side = PAT_SIDE_SERVER;
        else {
            errf(ld, ld->file, ld->lineno, nm, "unknown side '%s' (client, server)", v);
            ld->bad = true;
        }
    } else if (strcmp(key, "slot") == 0) {
        if (!once(ld, &ld->seen_slot, key))
            return;
        int cat;
        int slot = pattern_slot_from_text(v, strlen(v), &cat);
        if (slot == PAT_SLOT_NONE) {
            errf(ld, ld->file, ld->lineno, nm,
                 "unknown slot '%s' (kex, hostkey, cipher_c2s, cipher_s2c, mac_c2s, mac_s2c, comp_c2s, "
                 "comp_s2c, languages, or a category)",
                 v);
            ld->bad = true;
            return;
        }
        p->slot = slot;
        p->category = cat;
    } else if (strcmp(key, "category") == 0) {
        if (!once(ld, &ld->seen_category, key))
            return;
        int cat = -1;
        for (int i = 0; i < ALGO_NCATEGORIES; i++)
            if (eq_ci(v, strlen(v), category_words[i], strlen(category_words[i])))
                cat = i;
        if (cat < 0) {
            errf(ld, ld->file, ld->lineno, nm, "unknown category '%s' (kex, hostkey, cipher, mac, compression)", v);
            ld->bad = true;
            return;
        }
        p->category = cat;
        p->slot = category_slot(cat);
    } else if (strcmp(key, "app") == 0) {
        if (once(ld, &ld->seen_app, key))
            for_items(ld, v, app_item);
    } else if (strcmp(key, "require") == 0) {
        if (!once(ld, &ld->seen_require, key))
            return;
        for_items(ld, v, require_item);
        if (p->nrequire == 0 && !ld->bad) {
            errf(ld, ld->file, ld->lineno, nm, "require = names no literal");
            ld->bad = true;
        }
    } else {
        errf(ld, ld->file, ld->lineno, nm,
             "unknown key '%s' (vendor, platform, event, side, slot, category, app, require, regex, note)", key);
        ld->bad = true;
    }
    if (ld->seen_slot && ld->seen_category) {
        errf(ld, ld->file, ld->lineno, nm, "give slot = or category =, not both");
        ld->bad = true;
        ld->seen_category = false; /* say it once */
    }
}

static void handle_line(struct load *ld, char *s, size_t len)
{
    while (len && (s[len - 1] == '\n' || s[len - 1] == '\r'))
        s[--len] = '\0';
    if (memchr(s, '\0', len)) {
        errf(ld, ld->file, ld->lineno, cur_name(ld), "NUL byte in line");
        if (ld->active)
            ld->bad = true;
        return;
    }
    if (ld->lineno == 1 && len >= 3 && memcmp(s, "\xEF\xBB\xBF", 3) == 0)
        s += 3; /* a UTF-8 byte order mark from an editor */
    char *p = s;
    while (*p == ' ' || *p == '\t')
        p++;
    if (*p == '\0' || *p == '#' || *p == ';')
        return;
    if (*p == '[') {
        start_section(ld, p);
        return;
    }

    char *eq = strchr(p, '=');
    if (!eq) {
        errf(ld, ld->file, ld->lineno, cur_name(ld), "expected '[name]', 'key = value' or a comment");
        if (ld->active)
            ld->bad = true;
        return;
    }
    *eq = '\0';
    char *key = trim(p);
    char *value = eq + 1;
    while (*value == ' ' || *value == '\t')
        value++;

    if (ld->in_prefilter) {
        if (strcmp(key, "literals") == 0)
            for_items(ld, strip_comment(value), prefilter_item);
        else
            errf(ld, ld->file, ld->lineno, NULL, "[prefilter]: unknown key '%s' (literals)", key);
        return;
    }
    if (!ld->active) {
        if (!ld->skip)
            errf(ld, ld->file, ld->lineno, NULL, "%s = outside a [section]", key);
        return;
    }
    pattern_key(ld, key, value);
}

static void load_file(struct load *ld, const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        errf(ld, path, 0, NULL, "cannot open: %s", strerror(errno));
        return;
    }
    ld->file = path;
    ld->cur_file = path;
    ld->lineno = 0;
    ld->in_prefilter = false;
    ld->skip = false;
    ld->active = false;

    char *line = NULL;
    size_t cap = 0;
    ssize_t got;
    while ((got = getline(&line, &cap, f)) >= 0) {
        ld->lineno++;
        size_t content = (size_t)got - (got > 0 && line[got - 1] == '\n');
        if (content > MAX_LINE) {
            errf(ld, path, ld->lineno, cur_name(ld), "line longer than %u bytes", MAX_LINE);
            if (ld->active)
                ld->bad = true;
            continue;
        }
        handle_line(ld, line, (size_t)got);
    }
    if (ferror(f))
        errf(ld, path, ld->lineno, NULL, "read error: %s", strerror(errno));
    finish_pattern(ld);
    ld->in_prefilter = false;
    ld->skip = true; /* until the header proves good */
    free(line);
    fclose(f);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Paths of the regular *.conf files of dir, sorted by name (NULL when
 * there are none); *opened says whether the directory could be read (an
 * error is reported when not). */
static char **list_files(struct load *ld, const char *dir, size_t *n, bool *opened)
{
    *n = 0;
    *opened = false;
    DIR *d = opendir(dir);
    if (!d) {
        errf(ld, dir, 0, NULL, "cannot open pattern directory: %s", strerror(errno));
        return NULL;
    }
    *opened = true;
    char **v = NULL;
    size_t cap = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        size_t len = strlen(e->d_name);
        if (e->d_name[0] == '.' || len < 6 || strcmp(e->d_name + len - 5, ".conf") != 0)
            continue;
        if (*n >= MAX_FILES) {
            errf(ld, dir, 0, NULL, "more than %d pattern files", MAX_FILES);
            break;
        }
        size_t plen = strlen(dir) + 1 + len + 1;
        char *path = malloc(plen);
        if (!path)
            break;
        snprintf(path, plen, "%s/%s", dir, e->d_name);
        struct stat st;
        if (stat(path, &st) != 0 || !S_ISREG(st.st_mode)) {
            free(path);
            continue;
        }
        if (*n == cap) {
            cap = cap ? cap * 2 : 16;
            char **nv = realloc(v, cap * sizeof *nv);
            if (!nv) {
                free(path);
                break;
            }
            v = nv;
        }
        v[(*n)++] = path;
    }
    closedir(d);
    if (*n)
        qsort(v, *n, sizeof *v, cmp_str);
    return v;
}

/* The per-set matching state, made once the patterns are known. */
static int prepare_matching(struct pattern_set *s)
{
    s->nwords = (s->pf.n + 63) / 64;
    if (s->nwords == 0)
        s->nwords = 1;
    s->hits = calloc(s->nwords, sizeof *s->hits);
    s->md = pcre2_match_data_create(s->max_captures + 1, NULL);
    s->mctx = pcre2_match_context_create(NULL);
    s->jit = pcre2_jit_stack_create(JIT_STACK_START, JIT_STACK_MAX, NULL);
    if (!s->hits || !s->md || !s->mctx)
        return -1;
    pcre2_set_match_limit(s->mctx, MATCH_LIMIT);
    pcre2_set_depth_limit(s->mctx, DEPTH_LIMIT);
    if (s->jit)
        pcre2_jit_stack_assign(s->mctx, NULL, s->jit);
    return 0;
}

int pattern_set_load(const char *dir, struct pattern_set **out, struct pattern_errors *errs)
{
    if (out)
        *out = NULL;
    struct load ld = {.errs = errs};
    if (!dir || !out) {
        errf(&ld, dir ? dir : "(null)", 0, NULL, "no pattern directory or result given");
        return -1;
    }
    ld.set = calloc(1, sizeof *ld.set);
    if (!ld.set) {
        errf(&ld, dir, 0, NULL, "out of memory");
        return -1;
    }
    prefilter_init(&ld.set->pf);

    size_t nfiles = 0;
    bool opened;
    char **files = list_files(&ld, dir, &nfiles, &opened);
    if (opened && nfiles == 0)
        errf(&ld, dir, 0, NULL, "no *.conf pattern files");
    for (size_t i = 0; i < nfiles; i++)
        load_file(&ld, files[i]);

    if (ld.nerrors == 0 && ld.set->n == 0)
        errf(&ld, dir, 0, NULL, "no patterns defined");
    if (ld.nerrors == 0 && ld.set->pf.n == 0)
        errf(&ld, dir, 0, NULL, "no pre-filter literals ([prefilter] literals = or require =)");
    if (ld.nerrors == 0 && prepare_matching(ld.set) != 0)
        errf(&ld, dir, 0, NULL, "out of memory");

    for (size_t i = 0; i < ld.nnames; i++)
        free(ld.names[i].name);
    free(ld.names);
    for (size_t i = 0; i < nfiles; i++)
        free(files[i]);
    free(files);

    if (ld.nerrors) {
        pattern_set_free(ld.set);
        return -1;
    }
    *out = ld.set;
    return 0;
}

/* ------------------------------------------------------------ matching */

static bool app_allowed(const struct pat *p, const char *app, size_t app_len)
{
    if (p->napps == 0)
        return true;
    if (!app)
        app_len = 0;
    for (size_t i = 0; i < p->napps; i++) {
        const struct app_glob *g = &p->apps[i];
        if (g->prefix ? app_len >= g->len && eq_ci(app, g->len, g->s, g->len) : eq_ci(app, app_len, g->s, g->len))
            return true;
    }
    return false;
}

static bool required_present(const struct pat *p, const uint64_t *hits)
{
    if (p->nrequire == 0)
        return true; /* the caller saw some literal */
    for (size_t i = 0; i < p->nrequire; i++) {
        uint32_t j = p->require[i];
        if (hits[j >> 6] & (UINT64_C(1) << (j & 63)))
            return true;
    }
    return false;
}

static void fill_match(const struct pat *p, const char *text, size_t len, pcre2_match_data *md, struct pat_match *m)
{
    const PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
    uint32_t pairs = pcre2_get_ovector_count(md);
    struct pat_span got[F_NFIELDS];
    memset(got, 0, sizeof got);
    for (size_t i = 0; i < p->ngroups; i++) {
        const struct group_ref *g = &p->groups[i];
        if (g->number >= pairs || got[g->field].p)
            continue; /* of groups sharing a name, the first that took part wins */
        PCRE2_SIZE a = ov[2 * g->number], b = ov[2 * g->number + 1];
        if (a == PCRE2_UNSET || b < a || b > len)
            continue; /* \K in an assertion can give start > end */
        got[g->field] = (struct pat_span){.p = text + a, .len = b - a};
    }

    memset(m, 0, sizeof *m);
    m->event = p->event;
    m->pattern = p->name;
    m->vendor = p->vendor;
    m->platform = p->platform;
    m->side = p->side;
    m->list = got[F_LIST];
    m->client_list = got[F_CLIENT_LIST];
    m->server_list = got[F_SERVER_LIST];
    m->session = got[F_SESSION];
    m->peer = got[F_PEER];
    m->port = got[F_PORT];
    m->software = got[F_SOFTWARE];
    m->reason = got[F_REASON];
    m->cut = got[F_CUT].p != NULL;

    int slot = p->slot, cat = p->category;
    const struct pat_span *words = got[F_SLOT].p ? &got[F_SLOT] : got[F_CATEGORY].p ? &got[F_CATEGORY] : NULL;
    if (words)
        slot = pattern_slot_from_text(words->p, words->len, &cat);
    if (got[F_DIR].p && slot >= 0 && slot_category(slot) >= ALGO_CIPHER) {
        char buf[SLOT_TEXT_MAX + 1];
        size_t n = fold(got[F_DIR].p, got[F_DIR].len, buf);
        int dir = direction_in(buf, n);
        if (dir >= 0) {
            slot = category_slot(slot_category(slot)) + dir;
            cat = -1;
        }
    }
    m->slot = slot;
    m->category = cat;
    if (got[F_ROLE].p) {
        enum pat_side side = side_from_text(got[F_ROLE].p, got[F_ROLE].len);
        if (side != PAT_SIDE_NONE)
            m->side = side;
    }
}

int pattern_match(const struct pattern_set *s, const char *text, size_t len, const char *app, size_t app_len,
                  struct pat_match *m)
{
    if (!s || !m || (!text && len))
        return -1;
    if (!text)
        text = "";
    memset(s->hits, 0, s->nwords * sizeof *s->hits);
    if (!prefilter_scan(&s->pf, (const unsigned char *)text, len, s->hits))
        return 0;

    int result = 0;
    for (size_t i = 0; i < s->n; i++) {
        const struct pat *p = &s->pats[i];
        if (!required_present(p, s->hits) || !app_allowed(p, app, app_len))
            continue;
        int rc = pcre2_match(p->code, (PCRE2_SPTR)text, len, 0, 0, s->md, s->mctx);
        if (rc == PCRE2_ERROR_NOMATCH)
            continue;
        if (rc < 0) {
            result = -1; /* a limit hit: this expression says nothing; later ones may */
            continue;
        }
        fill_match(p, text, len, s->md, m);
        return 1;
    }
    return result;
}
