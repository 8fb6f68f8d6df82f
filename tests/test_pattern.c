/* SPDX-License-Identifier: ISC */
/* Tests for daemon/pattern.c: the SSH line patterns.
 *
 * The samples live in tests/data/pattern/: lines.tsv holds texts (hand-made
 * variants, then every distinct line of the corpus logs) with what the
 * shipped conf/patterns.d must make of each; slots.tsv the vendors' slot
 * wordings; bad-* directories pattern files that must fail to load, with the
 * errors expected in their EXPECT file; good-features a file using every
 * loader feature. Every text is matched from a heap copy of exactly its
 * length, so AddressSanitizer sees any read past the end (pattern_match()
 * gets no NUL terminator). On top: long lines, every prefix of the matching
 * samples, random and mutated bytes.
 */
#include "config.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "negotiate.h"
#include "pattern.h"
#include "testutil.h"

#define N_COLS 17

static const char *const slot_names[NEG_NSLOTS] = {
    "kex", "hostkey", "cipher_c2s", "cipher_s2c", "mac_c2s", "mac_s2c", "comp_c2s", "comp_s2c",
};
static const char *const category_names[ALGO_NCATEGORIES] = {"kex", "hostkey", "cipher", "mac", "compression"};

static const char *slot_name(int slot)
{
    if (slot >= 0 && slot < NEG_NSLOTS)
        return slot_names[slot];
    return slot == PAT_SLOT_IGNORED ? "ignored" : slot == PAT_SLOT_NONE ? "-" : "?";
}

static const char *category_name(int cat)
{
    return cat >= 0 && cat < ALGO_NCATEGORIES ? category_names[cat] : cat == -1 ? "-" : "?";
}

static const char *side_name(enum pat_side side)
{
    return side == PAT_SIDE_CLIENT ? "client" : side == PAT_SIDE_SERVER ? "server" : "-";
}

/* Prints bytes with C escapes, for failure messages. */

/* Where the shipped patterns are: $KW_SRCDIR/conf/patterns.d, else beside
 * the test data, else relative to the working directory. */
static const char *shipped_dir(void)
{
    static char buf[4096];
    struct stat st;
    const char *src = getenv("KW_SRCDIR");
    if (src) {
        snprintf(buf, sizeof buf, "%s/conf/patterns.d", src);
        return buf;
    }
    snprintf(buf, sizeof buf, "%s/../../conf/patterns.d", tu_data_path(""));
    if (stat(buf, &st) == 0)
        return buf;
    return "conf/patterns.d";
}

static struct pattern_set *load_ok(const char *dir)
{
    struct pattern_set *s = NULL;
    struct pattern_errors errs = {0};
    int rc = pattern_set_load(dir, &s, &errs);
    for (size_t i = 0; i < errs.n; i++)
        fprintf(stderr, "load error: %s\n", errs.msgs[i]);
    assert_int_equal(rc, 0);
    assert_int_equal(errs.n, 0);
    assert_non_null(s);
    pattern_errors_free(&errs);
    return s;
}

static int setup_shipped(void **state)
{
    *state = load_ok(shipped_dir());
    return 0;
}

static int teardown_set(void **state)
{
    pattern_set_free(*state);
    return 0;
}

/* A match of a heap copy of exactly len bytes; the copy stays alive in
 * *copy (free it) because the spans point into it. */
static int match_copy(const struct pattern_set *s, const char *text, size_t len, const char *app, struct pat_match *m,
                      char **copy)
{
    *copy = malloc(len ? len : 1);
    assert_non_null(*copy);
    memcpy(*copy, text, len);
    char *app_copy = NULL;
    size_t app_len = 0;
    if (app) {
        app_len = strlen(app);
        app_copy = malloc(app_len ? app_len : 1);
        assert_non_null(app_copy);
        memcpy(app_copy, app, app_len);
    }
    memset(m, 0x5a, sizeof *m);
    int rc = pattern_match(s, *copy, len, app_copy, app_len, m);
    free(app_copy);
    return rc;
}

/* What must hold of any result: spans inside the text, values in range. */
static void check_invariants(const struct pat_match *m, const char *text, size_t len)
{
    const struct pat_span *spans[] = {&m->list, &m->client_list, &m->server_list, &m->session,
                                      &m->peer, &m->port,        &m->software,    &m->reason};
    for (size_t i = 0; i < sizeof spans / sizeof spans[0]; i++) {
        const struct pat_span *sp = spans[i];
        if (!sp->p) {
            assert_int_equal(sp->len, 0);
            continue;
        }
        assert_true(sp->p >= text);
        assert_true(sp->len <= len);
        assert_true((size_t)(sp->p - text) <= len - sp->len);
    }
    assert_true((int)m->event >= 0 && m->event < PAT_EV_COUNT);
    assert_non_null(m->pattern);
    assert_non_null(m->vendor);
    assert_true(m->slot >= PAT_SLOT_IGNORED && m->slot < NEG_NSLOTS);
    assert_true(m->category >= -1 && m->category < ALGO_NCATEGORIES);
    assert_true(m->side == PAT_SIDE_NONE || m->side == PAT_SIDE_CLIENT || m->side == PAT_SIDE_SERVER);
}

/* Compares a span with a lines.tsv cell ('-' absent, '""' empty, else the
 * C-escaped bytes). Returns true when equal, else prints why. */
static bool span_is(const char *what, unsigned row, const struct pat_span *sp, char *cell)
{
    bool ok;
    char *want = cell;
    size_t want_len = 0;
    if (strcmp(cell, "-") == 0) {
        ok = sp->p == NULL;
        want = NULL;
    } else if (strcmp(cell, "\"\"") == 0) {
        ok = sp->p != NULL && sp->len == 0;
    } else {
        want_len = tu_unescape(cell);
        ok = sp->p != NULL && sp->len == want_len && memcmp(sp->p, want, want_len) == 0;
    }
    if (!ok) {
        fprintf(stderr, "lines.tsv:%u: %s: want ", row, what);
        tu_fput_escaped(stderr, want, want_len, 160);
        fputs(", got ", stderr);
        tu_fput_escaped(stderr, sp->p, sp->len, 160);
        fputc('\n', stderr);
    }
    return ok;
}

static bool str_is(const char *what, unsigned row, const char *got, const char *want)
{
    if (strcmp(got ? got : "(null)", want) == 0)
        return true;
    fprintf(stderr, "lines.tsv:%u: %s: want %s, got %s\n", row, what, want, got ? got : "(null)");
    return false;
}

/* Every sample of lines.tsv against the shipped patterns. */
static void test_lines(void **state)
{
    const struct pattern_set *s = *state;
    char *buf = tu_read_data("pattern/lines.tsv", NULL);
    size_t n;
    char **lines = tu_lines(buf, &n);
    unsigned rows = 0, matches = 0, failures = 0;

    for (size_t i = 0; i < n; i++) {
        unsigned row = (unsigned)i + 1;
        if (lines[i][0] == '#' || lines[i][0] == '\0')
            continue;
        char *f[N_COLS + 1];
        size_t nf = tu_fields(lines[i], f, N_COLS + 1);
        bool expect_none = nf >= 3 && strcmp(f[2], "-") == 0;
        if (!(expect_none && nf == 3) && nf != N_COLS) {
            fprintf(stderr, "lines.tsv:%u: %zu columns\n", row, nf);
            fail();
        }
        rows++;
        size_t len = tu_unescape(f[0]);
        const char *app = strcmp(f[1], "-") == 0 ? NULL : f[1];
        struct pat_match m;
        char *copy;
        int rc = match_copy(s, f[0], len, app, &m, &copy);
        bool ok = true;

        if (expect_none) {
            if (rc != 0) {
                fprintf(stderr, "lines.tsv:%u: must not match, got %d (%s)\n", row, rc, rc == 1 ? m.pattern : "error");
                ok = false;
            }
        } else if (rc != 1) {
            fprintf(stderr, "lines.tsv:%u: want %s by %s, got %d: ", row, f[2], f[3], rc);
            tu_fput_escaped(stderr, copy, len, 160);
            fputc('\n', stderr);
            ok = false;
        } else {
            matches++;
            check_invariants(&m, copy, len);
            assert_true(pattern_prefilter(s, copy, len));
            ok &= str_is("event", row, pattern_event_name(m.event), f[2]);
            ok &= str_is("pattern", row, m.pattern, f[3]);
            ok &= str_is("vendor", row, m.vendor, f[4]);
            ok &= str_is("side", row, side_name(m.side), f[5]);
            ok &= str_is("slot", row, slot_name(m.slot), f[6]);
            ok &= str_is("category", row, category_name(m.category), f[7]);
            ok &= span_is("list", row, &m.list, f[8]);
            ok &= span_is("client_list", row, &m.client_list, f[9]);
            ok &= span_is("server_list", row, &m.server_list, f[10]);
            ok &= span_is("session", row, &m.session, f[11]);
            ok &= span_is("peer", row, &m.peer, f[12]);
            ok &= span_is("port", row, &m.port, f[13]);
            ok &= span_is("software", row, &m.software, f[14]);
            ok &= span_is("reason", row, &m.reason, f[15]);
            ok &= str_is("cut", row, m.cut ? "yes" : "no", f[16]);
        }
        free(copy);
        if (!ok)
            failures++;
    }
    fprintf(stderr, "# lines.tsv: %u samples, %u must match, %u wrong\n", rows, matches, failures);
    assert_true(rows > 400);
    assert_int_equal(failures, 0);
    free(lines);
    free(buf);
}

/* Every vendor wording of slots.tsv through pattern_slot_from_text(). */
static void test_slot_words(void **state)
{
    (void)state;
    char *buf = tu_read_data("pattern/slots.tsv", NULL);
    size_t n;
    char **lines = tu_lines(buf, &n);
    unsigned rows = 0, failures = 0;
    for (size_t i = 0; i < n; i++) {
        if (lines[i][0] == '#' || lines[i][0] == '\0')
            continue;
        char *f[3];
        assert_int_equal(tu_fields(lines[i], f, 3), 3);
        rows++;
        size_t len = tu_unescape(f[0]);
        char *copy = malloc(len ? len : 1);
        assert_non_null(copy);
        memcpy(copy, f[0], len);
        int cat = 99;
        int slot = pattern_slot_from_text(copy, len, &cat);
        if (strcmp(slot_name(slot), f[1]) != 0 || strcmp(category_name(cat), f[2]) != 0) {
            fprintf(stderr, "slots.tsv:%zu: ", i + 1);
            tu_fput_escaped(stderr, copy, len, 160);
            fprintf(stderr, ": want %s/%s, got %s/%s\n", f[1], f[2], slot_name(slot), category_name(cat));
            failures++;
        }
        /* a NULL category pointer is allowed and changes nothing else */
        assert_int_equal(pattern_slot_from_text(copy, len, NULL), slot);
        free(copy);
    }
    assert_true(rows > 60);
    assert_int_equal(failures, 0);

    int cat = 5;
    assert_int_equal(pattern_slot_from_text(NULL, 0, &cat), PAT_SLOT_NONE);
    assert_int_equal(cat, -1);
    assert_int_equal(pattern_slot_from_text("kex", 0, &cat), PAT_SLOT_NONE);
    /* only the first SLOT_TEXT_MAX bytes are looked at; a long text is safe */
    char big[5000];
    memset(big, 'x', sizeof big);
    memcpy(big + sizeof big - 4, " mac", 4);
    assert_int_equal(pattern_slot_from_text(big, sizeof big, &cat), PAT_SLOT_NONE);
    memcpy(big, "ciph_stoc ", 10);
    assert_int_equal(pattern_slot_from_text(big, sizeof big, &cat), NEG_CIPHER_S2C);
    free(lines);
    free(buf);
}

static void test_event_names(void **state)
{
    (void)state;
    static const char *const want[PAT_EV_COUNT] = {"connect", "version", "proposal",   "list", "agreed",
                                                   "failure", "success", "login_fail", "close", "no_match"};
    for (int i = 0; i < PAT_EV_COUNT; i++)
        assert_string_equal(pattern_event_name((enum pat_event)i), want[i]);
    assert_null(pattern_event_name(PAT_EV_COUNT));
    assert_null(pattern_event_name((enum pat_event) - 1));
}

/* Replaces every occurrence of dir in msg by '@' (into out). */
static void relative(const char *msg, const char *dir, char *out, size_t size)
{
    size_t dl = strlen(dir), o = 0;
    for (const char *p = msg; *p && o + 1 < size;) {
        if (strncmp(p, dir, dl) == 0) {
            out[o++] = '@';
            p += dl;
        } else {
            out[o++] = *p++;
        }
    }
    out[o] = '\0';
}

/* Loads a bad-* directory: must fail with exactly the errors of its EXPECT. */
static void check_bad_dir(const char *name)
{
    char dir[4096], rel[512];
    snprintf(dir, sizeof dir, "%s", tu_data_path(name));
    snprintf(rel, sizeof rel, "pattern/%s/EXPECT", name + strlen("pattern/"));
    char *buf = tu_read_data(rel, NULL);
    size_t n;
    char **lines = tu_lines(buf, &n);
    const char *want[64];
    size_t nwant = 0;
    for (size_t i = 0; i < n; i++)
        if (lines[i][0] != '#' && lines[i][0] != '\0' && nwant < 64)
            want[nwant++] = lines[i];

    static char dummy;
    struct pattern_set *s = (struct pattern_set *)(void *)&dummy; /* must be reset to NULL */
    struct pattern_errors errs = {0};
    assert_int_equal(pattern_set_load(dir, &s, &errs), -1);
    assert_null(s);
    bool ok = errs.n == nwant;
    for (size_t i = 0; i < errs.n; i++) {
        char got[2048];
        relative(errs.msgs[i], dir, got, sizeof got);
        bool same = false;
        if (i < nwant) {
            size_t wl = strlen(want[i]);
            same = wl && want[i][wl - 1] == '*' ? strncmp(got, want[i], wl - 1) == 0 : strcmp(got, want[i]) == 0;
        }
        if (!same) {
            fprintf(stderr, "%s: error %zu: want %s\n    got %s\n", name, i + 1, i < nwant ? want[i] : "(none)", got);
            ok = false;
        }
    }
    if (errs.n != nwant)
        fprintf(stderr, "%s: want %zu errors, got %zu\n", name, nwant, errs.n);
    assert_true(ok);
    pattern_errors_free(&errs);
    assert_null(errs.msgs);
    assert_int_equal(errs.n, 0);
    free(lines);
    free(buf);
}

static void test_bad_dirs(void **state)
{
    (void)state;
    static const char *const dirs[] = {"pattern/bad-regex",  "pattern/bad-keys",    "pattern/bad-duplicate",
                                       "pattern/bad-groups", "pattern/bad-missing", "pattern/bad-empty"};
    for (size_t i = 0; i < sizeof dirs / sizeof dirs[0]; i++)
        check_bad_dir(dirs[i]);
}

static void test_missing_dir(void **state)
{
    (void)state;
    struct pattern_set *s = NULL;
    struct pattern_errors errs = {0};
    assert_int_equal(pattern_set_load(tu_data_path("pattern/no-such-dir"), &s, &errs), -1);
    assert_null(s);
    assert_int_equal(errs.n, 1);
    assert_non_null(strstr(errs.msgs[0], "no-such-dir: cannot open pattern directory: "));
    pattern_errors_free(&errs);
    /* errors may be ignored */
    assert_int_equal(pattern_set_load(tu_data_path("pattern/bad-keys"), &s, NULL), -1);
    assert_null(s);
    assert_int_equal(pattern_set_load(NULL, &s, NULL), -1);
}

static void expect_match(const struct pattern_set *s, const char *text, const char *app, int want_rc,
                         struct pat_match *m, char **copy)
{
    int rc = match_copy(s, text, strlen(text), app, m, copy);
    if (rc != want_rc)
        fprintf(stderr, "\"%s\" (app %s): want %d, got %d\n", text, app ? app : "NULL", want_rc, rc);
    assert_int_equal(rc, want_rc);
    if (rc == 1)
        check_invariants(m, *copy, strlen(text));
}

static void assert_span(const struct pat_span *sp, const char *want)
{
    if (!want) {
        assert_null(sp->p);
        return;
    }
    assert_non_null(sp->p);
    assert_int_equal(sp->len, strlen(want));
    assert_memory_equal(sp->p, want, sp->len);
}

/* The loader features of good-features/10-features.conf, one by one. */
static void test_good_features(void **state)
{
    (void)state;
    struct pattern_set *s = load_ok(tu_data_path("pattern/good-features"));
    assert_int_equal(pattern_set_count(s), 7);
    struct pat_match m;
    char *c;

    /* app = sshd*, dropbear: case-insensitive, '*' a prefix, else whole */
    static const char *const yes[] = {"sshd", "sshd-session", "SSHD", "dropbear"};
    static const char *const no[] = {"dropbearx", "xsshd", "ssh", ""};
    for (size_t i = 0; i < 4; i++) {
        expect_match(s, "Connection from 192.0.2.1 port 22", yes[i], 1, &m, &c);
        assert_string_equal(m.pattern, "app-gated");
        assert_string_equal(m.vendor, "other");
        assert_int_equal(m.event, PAT_EV_CONNECT);
        assert_span(&m.peer, "192.0.2.1");
        assert_span(&m.port, "22");
        free(c);
        expect_match(s, "Connection from 192.0.2.1 port 22", no[i], 0, &m, &c);
        free(c);
    }
    expect_match(s, "Connection from 192.0.2.1 port 22", NULL, 0, &m, &c);
    free(c);

    /* regex keeps ';', '#', '=' and its tail; category's inline comment went */
    expect_match(s, "a weird;#=abc;# tail", NULL, 1, &m, &c);
    assert_string_equal(m.pattern, "semicolons");
    assert_int_equal(m.category, ALGO_CIPHER);
    assert_int_equal(m.slot, NEG_CIPHER_C2S);
    assert_span(&m.reason, "abc");
    free(c);
    expect_match(s, "a weird;#=abc;", NULL, 0, &m, &c);
    free(c);

    /* no require =: tried whenever some literal occurs */
    expect_match(s, "GENERIC 192.0.2.9 OK", NULL, 1, &m, &c);
    assert_string_equal(m.pattern, "no-require");
    assert_int_equal(m.event, PAT_EV_SUCCESS);
    assert_span(&m.peer, "192.0.2.9");
    free(c);
    assert_true(pattern_prefilter(s, "xxGENERICxx", 11));
    assert_false(pattern_prefilter(s, "generic", 7));
    assert_false(pattern_prefilter(s, "GENERI", 6));

    /* groups sharing a name: whichever took part; '_' groups are private */
    expect_match(s, "VERSION 1.0", NULL, 1, &m, &c);
    assert_span(&m.software, "1.0");
    free(c);
    expect_match(s, "VERS: 2.0 (77)", NULL, 1, &m, &c);
    assert_string_equal(m.pattern, "dup-names");
    assert_span(&m.software, "2.0");
    free(c);

    /* role words give the side */
    expect_match(s, "local server PROPOSAL", NULL, 1, &m, &c);
    assert_int_equal(m.side, PAT_SIDE_SERVER);
    free(c);
    expect_match(s, "peer client PROPOSAL", NULL, 1, &m, &c);
    assert_int_equal(m.side, PAT_SIDE_CLIENT);
    free(c);
    expect_match(s, "some thing PROPOSAL", NULL, 1, &m, &c);
    assert_int_equal(m.side, PAT_SIDE_NONE);
    free(c);

    /* a direction turns the category's slot into that direction's */
    expect_match(s, "AGREED s->c hmac-sha1", NULL, 1, &m, &c);
    assert_int_equal(m.slot, NEG_MAC_S2C);
    assert_int_equal(m.category, -1);
    assert_span(&m.list, "hmac-sha1");
    free(c);
    expect_match(s, "AGREED up hmac-sha1", NULL, 1, &m, &c);
    assert_int_equal(m.slot, NEG_MAC_C2S);
    assert_int_equal(m.category, ALGO_MAC);
    free(c);

    /* (?<slot>) read through pattern_slot_from_text(); (?<cut>) sets cut */
    expect_match(s, "NOMATCH enc c->s: aes128-cbc END", NULL, 1, &m, &c);
    assert_int_equal(m.slot, NEG_CIPHER_C2S);
    assert_int_equal(m.category, -1);
    assert_false(m.cut);
    assert_span(&m.client_list, "aes128-cbc");
    free(c);
    expect_match(s, "NOMATCH hostkey: ssh-rsa", NULL, 1, &m, &c);
    assert_int_equal(m.slot, NEG_HOSTKEY);
    assert_int_equal(m.category, ALGO_HOSTKEY);
    assert_true(m.cut);
    free(c);
    expect_match(s, "NOMATCH nothing-known: x END", NULL, 1, &m, &c);
    assert_int_equal(m.slot, PAT_SLOT_NONE);
    assert_int_equal(m.category, -1);
    free(c);

    pattern_set_free(s);
}

/* Writes text to dir/name. */
static void write_file(const char *dir, const char *name, const char *text)
{
    char path[4096];
    assert_true(snprintf(path, sizeof path, "%s/%s", dir, name) < (int)sizeof path);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    assert_int_equal(fwrite(text, 1, strlen(text), f), strlen(text));
    assert_int_equal(fclose(f), 0);
}

static void remove_file(const char *dir, const char *name)
{
    char path[4096];
    assert_true(snprintf(path, sizeof path, "%s/%s", dir, name) < (int)sizeof path);
    unlink(path);
}

/* Long lines: a 40 KB regex loads, a line past the limit is an error. */
static void test_long_lines(void **state)
{
    (void)state;
    const char *tmp = getenv("TMPDIR");
    char dir[1024];
    assert_true(snprintf(dir, sizeof dir, "%s/kwpat.XXXXXX", tmp ? tmp : "/tmp") < (int)sizeof dir);
    assert_non_null(mkdtemp(dir));

    size_t words = 4000, cap = 64 + words * 12 + 128;
    char *conf = malloc(cap);
    assert_non_null(conf);
    size_t o = (size_t)snprintf(conf, cap,
                                "[long]\nvendor = other\nevent = failure\nrequire = LONGLINE\nregex = LONGLINE (?:");
    for (size_t i = 0; i < words; i++)
        o += (size_t)snprintf(conf + o, cap - o, "%sw%05zu", i ? "|" : "", i);
    snprintf(conf + o, cap - o, ") (?<peer>\\S+)\n");
    assert_true(strlen(conf) > 28000);
    write_file(dir, "10-long.conf", conf);
    struct pattern_set *s = load_ok(dir);
    struct pat_match m;
    char *c;
    expect_match(s, "LONGLINE w03999 192.0.2.3", NULL, 1, &m, &c);
    assert_span(&m.peer, "192.0.2.3");
    free(c);
    pattern_set_free(s);

    /* more than 64 KB on one line */
    size_t big = 70 * 1024;
    char *huge = malloc(big + 64);
    assert_non_null(huge);
    o = (size_t)snprintf(huge, big + 64, "[huge]\nvendor = other\nevent = failure\nregex = ");
    memset(huge + o, 'a', big);
    strcpy(huge + o + big, "\n");
    write_file(dir, "10-long.conf", huge);
    struct pattern_errors errs = {0};
    assert_int_equal(pattern_set_load(dir, &s, &errs), -1);
    assert_int_equal(errs.n, 2);
    assert_non_null(strstr(errs.msgs[0], "10-long.conf:4: pattern huge: line longer than 65536 bytes"));
    assert_non_null(strstr(errs.msgs[1], "10-long.conf:1: pattern huge: missing regex ="));
    pattern_errors_free(&errs);

    remove_file(dir, "10-long.conf");
    rmdir(dir);
    free(huge);
    free(conf);
}

/* The shipped set loads and holds a pattern per vendor. */
static void test_shipped(void **state)
{
    const struct pattern_set *s = *state;
    assert_true(pattern_set_count(s) >= 30);
    /* the generic literals make a line look like SSH */
    assert_true(pattern_prefilter(s, "sshd", 4));
    assert_true(pattern_prefilter(s, "xx negotiation xx", 17));
    assert_false(pattern_prefilter(s, "Line protocol on Interface Gi1/0/1, changed state to up", 56));
    assert_false(pattern_prefilter(s, "", 0));
    assert_false(pattern_prefilter(s, NULL, 0));
    assert_false(pattern_prefilter(s, "SS", 2));
    assert_true(pattern_prefilter(s, "SSH", 3));
}

static void test_null_args(void **state)
{
    const struct pattern_set *s = *state;
    struct pat_match m;
    assert_int_equal(pattern_match(NULL, "x", 1, NULL, 0, &m), -1);
    assert_int_equal(pattern_match(s, NULL, 5, NULL, 0, &m), -1);
    assert_int_equal(pattern_match(s, "x", 1, NULL, 0, NULL), -1);
    assert_int_equal(pattern_match(s, NULL, 0, NULL, 0, &m), 0);
    assert_int_equal(pattern_match(s, "", 0, "sshd", 4, &m), 0);
    assert_false(pattern_prefilter(NULL, "SSH", 3));
    assert_int_equal(pattern_set_count(NULL), 0);
    pattern_set_free(NULL);
    pattern_errors_free(NULL);
    struct pattern_errors none = {0};
    pattern_errors_free(&none);
}

static uint32_t rng_next(uint32_t *x)
{
    *x ^= *x << 13;
    *x ^= *x >> 17;
    *x ^= *x << 5;
    return *x;
}

/* Every prefix of every matching sample, and mutations of them: whatever
 * the result, spans stay inside the text and nothing reads past it. */
static void test_prefixes_and_mutations(void **state)
{
    const struct pattern_set *s = *state;
    char *buf = tu_read_data("pattern/lines.tsv", NULL);
    size_t n;
    char **lines = tu_lines(buf, &n);
    uint32_t seed = 0x9e3779b9u;
    size_t tried = 0;
    for (size_t i = 0; i < n; i++) {
        if (lines[i][0] == '#' || lines[i][0] == '\0')
            continue;
        char *f[N_COLS + 1];
        size_t nf = tu_fields(lines[i], f, N_COLS + 1);
        if (nf < 3)
            continue;
        size_t len = tu_unescape(f[0]);
        const char *app = strcmp(f[1], "-") == 0 ? NULL : f[1];
        for (size_t cut = 0; cut <= len; cut++) {
            struct pat_match m;
            char *copy;
            int rc = match_copy(s, f[0], cut, app, &m, &copy);
            assert_true(rc == 0 || rc == 1);
            if (rc == 1)
                check_invariants(&m, copy, cut);
            free(copy);
            tried++;
        }
        for (int k = 0; k < 8; k++) {
            char *mut = malloc(len ? len : 1);
            assert_non_null(mut);
            memcpy(mut, f[0], len);
            for (int j = 0; j < 4 && len; j++)
                mut[rng_next(&seed) % len] = (char)(rng_next(&seed) & 0xff);
            struct pat_match m;
            char *copy;
            int rc = match_copy(s, mut, len, app, &m, &copy);
            assert_true(rc == 0 || rc == 1);
            if (rc == 1)
                check_invariants(&m, copy, len);
            free(copy);
            free(mut);
        }
    }
    assert_true(tried > 10000);

    /* random bytes, with SSH words sprinkled in */
    static const char *const words[] = {"SSH protocol packet received",
                                        "key_ex",
                                        ": ",
                                        "Their offer: ",
                                        "Unable to negotiate with ",
                                        " port ",
                                        "No matching ",
                                        "（",
                                        "＝",
                                        "\xff",
                                        "kex: ",
                                        "(no match)",
                                        "[preauth]"};
    char text[700];
    for (int k = 0; k < 20000; k++) {
        size_t len = rng_next(&seed) % sizeof text;
        for (size_t j = 0; j < len;) {
            if (rng_next(&seed) % 4 == 0) {
                const char *w = words[rng_next(&seed) % (sizeof words / sizeof words[0])];
                size_t wl = strlen(w);
                if (wl > len - j)
                    wl = len - j;
                memcpy(text + j, w, wl);
                j += wl;
            } else {
                text[j++] = (char)(rng_next(&seed) & 0xff);
            }
        }
        struct pat_match m;
        char *copy;
        int rc = match_copy(s, text, len, k % 2 ? "sshd" : NULL, &m, &copy);
        assert_true(rc == 0 || rc == 1);
        if (rc == 1)
            check_invariants(&m, copy, len);
        free(copy);
    }
    free(lines);
    free(buf);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_lines, setup_shipped, teardown_set),
        cmocka_unit_test(test_slot_words),
        cmocka_unit_test(test_event_names),
        cmocka_unit_test(test_bad_dirs),
        cmocka_unit_test(test_missing_dir),
        cmocka_unit_test(test_good_features),
        cmocka_unit_test(test_long_lines),
        cmocka_unit_test_setup_teardown(test_shipped, setup_shipped, teardown_set),
        cmocka_unit_test_setup_teardown(test_null_args, setup_shipped, teardown_set),
        cmocka_unit_test_setup_teardown(test_prefixes_and_mutations, setup_shipped, teardown_set),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
