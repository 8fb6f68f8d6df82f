/* SPDX-License-Identifier: ISC */
/* Tests for daemon/negotiate.c: RFC 4253 negotiation, name-list parsing,
 * keyword expansion, the client fingerprint and MD5.
 *
 * The negotiation samples are data: tests/data/negotiate/corpus.tsv holds
 * every session of the shared corpus (openssh-lab and huawei-assumed) with
 * the outcome the corpus expects, handmade.tsv the cases for each rule; the
 * column layout is described at the top of both files. Every row is checked
 * and every failing row is reported before the test fails, so one run shows
 * all that is wrong. The engine runs against the shipped conf/ tables.
 */
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "algo.h"
#include "negotiate.h"
#include "testutil.h"

#define NFIELDS (1 + NEG_NSLOTS + 1 + NEG_NSLOTS + 4)


static int setup(void **state)
{
    char a[4096], k[4096], err[512];
    struct algo_db *db = NULL;
    if (algo_db_load(tu_conf_path("algorithms.tsv", a, sizeof a),
                     tu_conf_path("keywords.tsv", k, sizeof k), &db, err, sizeof err) != 0) {
        fprintf(stderr, "loading the shipped tables: %s\n", err);
        return -1;
    }
    *state = db;
    return 0;
}

static int teardown(void **state)
{
    algo_db_free(*state);
    return 0;
}

static struct negotiate_list *parse_str(const char *s)
{
    struct negotiate_list *l = NULL;
    assert_int_equal(negotiate_list_parse(s, strlen(s), 0, &l, NULL), 0);
    assert_non_null(l);
    return l;
}

/* One list cell of a sample: "?" unknown, "-" empty, "..." at the end cut. */
static struct negotiate_list *cell_list(const struct algo_db *db, char *cell, const char *vendor,
                                        enum negotiate_slot slot)
{
    if (strcmp(cell, "?") == 0)
        return NULL;
    unsigned flags = 0;
    size_t len = 0;
    if (strcmp(cell, "-") != 0) {
        len = tu_unescape(cell);
        if (len >= 3 && memcmp(cell + len - 3, "...", 3) == 0) {
            len -= 3;
            flags = NEGOTIATE_PARSE_CUT;
        }
    }
    struct negotiate_list *l = NULL;
    assert_int_equal(negotiate_list_parse(cell, len, flags, &l, NULL), 0);
    if (vendor && strcmp(vendor, "wire") != 0) {
        struct negotiate_list *x = NULL;
        enum algo_category cat = negotiate_slot_category(slot);
        assert_int_equal(negotiate_list_expand(db, vendor, cat, l, &x), 0);
        negotiate_list_free(l);
        l = x;
    }
    return l;
}

static const char *slot_value(const struct negotiate_slot_result *r)
{
    switch (r->status) {
    case NEG_AGREED:
        return r->agreed ? r->agreed : "*";
    case NEG_NO_MATCH:
        return "!";
    case NEG_IMPLICIT:
        return "<implicit>";
    default:
        return "?";
    }
}

static void describe(const char *id, const struct negotiate_result *res)
{
    fprintf(stderr, "  %s: outcome %d first_fail %s decided %s\n", id, res->outcome,
            res->first_fail >= 0 ? negotiate_slot_name((enum negotiate_slot)res->first_fail)
                                 : "-",
            res->decided ? "yes" : "no");
    for (int s = 0; s < NEG_NSLOTS; s++)
        fprintf(stderr, "    %s=%s\n", negotiate_slot_name((enum negotiate_slot)s),
                slot_value(&res->slot[s]));
}

/* Checks one sample; returns the number of mismatches (printed). */
static int check_sample(const struct algo_db *db, char **f)
{
    const char *id = f[0];
    struct negotiate_list *lists[2][NEG_NSLOTS];
    struct negotiate_offer client, server;
    const char *vendor = f[1 + NEG_NSLOTS];
    for (int s = 0; s < NEG_NSLOTS; s++) {
        lists[0][s] = cell_list(db, f[1 + s], NULL, (enum negotiate_slot)s);
        lists[1][s] = cell_list(db, f[2 + NEG_NSLOTS + s], vendor, (enum negotiate_slot)s);
        client.list[s] = lists[0][s];
        server.list[s] = lists[1][s];
    }
    const char *verdict = f[2 + 2 * NEG_NSLOTS];
    const char *decided = f[3 + 2 * NEG_NSLOTS];
    char *agreed = f[4 + 2 * NEG_NSLOTS];
    const char *fp = f[5 + 2 * NEG_NSLOTS];

    struct negotiate_result res;
    memset(&res, 0x5a, sizeof res);
    assert_int_equal(negotiate_run(db, &client, &server, &res), 0);
    int bad = 0;

    char got[64];
    if (res.outcome == NEG_OUTCOME_FAIL)
        snprintf(got, sizeof got, "fail:%s",
                 negotiate_slot_name((enum negotiate_slot)res.first_fail));
    else
        snprintf(got, sizeof got, "%s", res.outcome == NEG_OUTCOME_OK ? "ok" : "open");
    if (res.outcome != NEG_OUTCOME_FAIL && res.first_fail != -1) {
        fprintf(stderr, "%s: first_fail %d without a failure\n", id, res.first_fail);
        bad++;
    }
    if (strcmp(got, verdict) != 0) {
        fprintf(stderr, "%s: verdict %s, expected %s\n", id, got, verdict);
        bad++;
    }
    if (strcmp(res.decided ? "yes" : "no", decided) != 0) {
        fprintf(stderr, "%s: decided %s, expected %s\n", id, res.decided ? "yes" : "no", decided);
        bad++;
    }
    if (strcmp(agreed, "-") != 0) {
        for (char *tok = strtok(agreed, " "); tok; tok = strtok(NULL, " ")) {
            char *eq = strchr(tok, '=');
            assert_non_null(eq);
            *eq = '\0';
            int slot = negotiate_slot_from_name(tok);
            if (slot < 0)
                fail_msg("%s: bad slot '%s' in test data", id, tok);
            const char *v = slot_value(&res.slot[slot]);
            if (strcmp(v, eq + 1) != 0) {
                fprintf(stderr, "%s: %s=%s, expected %s\n", id, tok, v, eq + 1);
                bad++;
            }
        }
    }
    if (strcmp(fp, "-") != 0) {
        char hex[33];
        memset(hex, 'x', sizeof hex);
        int rc = negotiate_hassh(&client, hex);
        const char *want = strcmp(fp, "none") == 0 ? "" : fp;
        if ((rc == 0) != (*want != '\0') || strcmp(hex, want) != 0) {
            fprintf(stderr, "%s: fingerprint '%s' (%d), expected %s\n", id, hex, rc, fp);
            bad++;
        }
    }
    if (bad)
        describe(id, &res);
    for (int s = 0; s < NEG_NSLOTS; s++) {
        negotiate_list_free(lists[0][s]);
        negotiate_list_free(lists[1][s]);
    }
    return bad;
}

static void run_samples(const struct algo_db *db, const char *rel, size_t min_rows)
{
    char *buf = tu_read_data(rel, NULL);
    size_t n, rows = 0;
    int bad = 0;
    char **lines = tu_lines(buf, &n);
    for (size_t i = 0; i < n; i++) {
        if (lines[i][0] == '\0' || lines[i][0] == '#')
            continue;
        char *f[NFIELDS + 1];
        size_t nf = tu_fields(lines[i], f, NFIELDS + 1);
        if (nf != NFIELDS)
            fail_msg("%s:%zu: %zu fields, expected %d", rel, i + 1, nf, NFIELDS);
        rows++;
        bad += check_sample(db, f) ? 1 : 0;
    }
    free(lines);
    free(buf);
    if (bad)
        fail_msg("%s: %d of %zu samples wrong", rel, bad, rows);
    assert_true(rows >= min_rows);
}

static void test_corpus_samples(void **state)
{
    run_samples(*state, "negotiate/corpus.tsv", 74);
}

static void test_handmade_samples(void **state)
{
    run_samples(*state, "negotiate/handmade.tsv", 50);
}

static void test_md5_rfc1321(void **state)
{
    (void)state;
    /* RFC 1321 appendix A.5 test suite. */
    static const char *const suite[][2] = {
        { "", "d41d8cd98f00b204e9800998ecf8427e" },
        { "a", "0cc175b9c0f1b6a831c399e269772661" },
        { "abc", "900150983cd24fb0d6963f7d28e17f72" },
        { "message digest", "f96b697d7cb7938d525a2f31aaf161d0" },
        { "abcdefghijklmnopqrstuvwxyz", "c3fcd3d76192e4007dfb496cca67e13b" },
        { "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789",
          "d174ab98d277d9f5a5611c2c9f419d9f" },
        { "1234567890123456789012345678901234567890123456789012345678901234567890123456789"
          "0",
          "57edf4a22be3c955ac49da2e2107b67a" },
    };
    char hex[33];
    for (size_t i = 0; i < sizeof suite / sizeof suite[0]; i++) {
        negotiate_md5_hex(suite[i][0], strlen(suite[i][0]), hex);
        assert_string_equal(hex, suite[i][1]);
    }
    negotiate_md5_hex(NULL, 0, hex);
    assert_string_equal(hex, "d41d8cd98f00b204e9800998ecf8427e");
}

static void test_md5_padding_boundaries(void **state)
{
    (void)state;
    /* Lengths around the 56-byte padding limit and block edges, checked
     * against an independent MD5 (Python hashlib) of "x" * n. */
    static const struct {
        size_t n;
        const char *md5;
    } v[] = {
        { 55, "04364420e25c512fd958a70738aa8f72" },  { 56, "668a72d5ba17f08e62dabcafad6db14b" },
        { 57, "693037871c4a9d3d8685018905cb530a" },  { 63, "7dc2ca208106a2f703567bdff99d8981" },
        { 64, "c1bb4f81d892b2d57947682aeb252456" },  { 65, "1bc932052302d074bdec39795fe00cf6" },
        { 119, "ab347a5f68c8a443cfcddc633f12c24f" }, { 120, "fb98667f98096de92620b64f46e1c5b5" },
        { 128, "d69cb61a6ee87200676eb0d4b90edbcb" }, { 1000, "398533d48111e9f664b1f64cb10c4b63" },
    };
    char buf[1000], hex[33];
    memset(buf, 'x', sizeof buf);
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
        negotiate_md5_hex(buf, v[i].n, hex);
        assert_string_equal(hex, v[i].md5);
    }
    char *mil = malloc(1000000);
    assert_non_null(mil);
    memset(mil, 'a', 1000000);
    negotiate_md5_hex(mil, 1000000, hex);
    assert_string_equal(hex, "7707d6ae4e027c70eea2a935c2296f21");
    free(mil);
}

static void expect_names(const struct negotiate_list *l, const char *const *names, size_t n)
{
    assert_int_equal(negotiate_list_count(l), n);
    for (size_t i = 0; i < n; i++)
        assert_string_equal(negotiate_list_name(l, i), names[i]);
    assert_null(negotiate_list_name(l, n));
}

static void test_parse_separators(void **state)
{
    (void)state;
    static const char *const abc[] = { "a", "b", "c" };
    static const char *const inputs[] = {
        "a,b,c", "a, b, c", "a b c", " a ,, b\t,c\r", ",a,b,c,", "a\r\nb\r\nc\r\n", "a,\0b,c",
    };
    static const size_t lens[] = { 5, 7, 5, 11, 7, 9, 6 };
    for (size_t i = 0; i < sizeof inputs / sizeof inputs[0]; i++) {
        struct negotiate_list *l = NULL;
        struct negotiate_parse_stats st;
        assert_int_equal(negotiate_list_parse(inputs[i], lens[i], 0, &l, &st), 0);
        expect_names(l, abc, 3);
        assert_int_equal(st.names, 3);
        assert_int_equal(st.dropped, 0);
        assert_int_equal(st.truncated, 0);
        assert_false(negotiate_list_partial(l));
        assert_false(negotiate_list_maybe(l, 0));
        negotiate_list_free(l);
    }

    /* Only the given length is read. */
    struct negotiate_list *l = NULL;
    assert_int_equal(negotiate_list_parse("aes128-ctr,aes256-ctr", 10, 0, &l, NULL), 0);
    expect_names(l, (const char *const[]){ "aes128-ctr" }, 1);
    negotiate_list_free(l);

    /* Empty text is an empty known list, NULL text too. */
    const char *empties[] = { "", " , ,\r\n", NULL };
    for (size_t i = 0; i < 3; i++) {
        assert_int_equal(
            negotiate_list_parse(empties[i], empties[i] ? strlen(empties[i]) : 0, 0, &l, NULL), 0);
        assert_non_null(l);
        assert_int_equal(negotiate_list_count(l), 0);
        assert_false(negotiate_list_partial(l));
        negotiate_list_free(l);
    }
    assert_int_equal(negotiate_list_parse(NULL, 99, 0, &l, NULL), 0);
    assert_int_equal(negotiate_list_count(l), 0);
    negotiate_list_free(l);

    /* Bytes other than separators are kept as they are. */
    assert_int_equal(negotiate_list_parse("caf\xc3\xa9,x=y;z", 12, 0, &l, NULL), 0);
    expect_names(l, (const char *const[]){ "caf\xc3\xa9", "x=y;z" }, 2);
    negotiate_list_free(l);

    assert_int_equal(negotiate_list_parse("a", 1, 0, NULL, NULL), -1);
    negotiate_list_free(NULL);
    assert_int_equal(negotiate_list_count(NULL), 0);
    assert_null(negotiate_list_name(NULL, 0));
    assert_false(negotiate_list_maybe(NULL, 0));
    assert_false(negotiate_list_partial(NULL));
}

static void test_parse_limits(void **state)
{
    (void)state;
    /* 130 names: 128 kept, 2 dropped, and the list knows it is partial. */
    char text[130 * 8];
    size_t len = 0;
    for (int i = 0; i < 130; i++)
        len += (size_t)snprintf(text + len, sizeof text - len, "n%d,", i);
    struct negotiate_list *l = NULL;
    struct negotiate_parse_stats st;
    assert_int_equal(negotiate_list_parse(text, len, 0, &l, &st), 0);
    assert_int_equal(negotiate_list_count(l), NEGOTIATE_MAX_NAMES);
    assert_int_equal(st.names, 128);
    assert_int_equal(st.dropped, 2);
    assert_string_equal(negotiate_list_name(l, 127), "n127");
    assert_true(negotiate_list_partial(l));
    negotiate_list_free(l);

    /* Exactly 128 is complete. */
    len = 0;
    for (int i = 0; i < 128; i++)
        len += (size_t)snprintf(text + len, sizeof text - len, "n%d ", i);
    assert_int_equal(negotiate_list_parse(text, len, 0, &l, &st), 0);
    assert_int_equal(st.dropped, 0);
    assert_false(negotiate_list_partial(l));
    negotiate_list_free(l);

    /* A 64-byte name is whole; 65 bytes and 100 kB are cut to 64. */
    size_t huge = 100000;
    char *big = malloc(huge + 200);
    assert_non_null(big);
    memset(big, 'k', 64);
    big[64] = ',';
    memset(big + 65, 'm', 65);
    big[130] = ',';
    memset(big + 131, 'h', huge);
    memcpy(big + 131 + huge, ",tail", 5);
    assert_int_equal(negotiate_list_parse(big, 136 + huge, 0, &l, &st), 0);
    assert_int_equal(negotiate_list_count(l), 4);
    assert_int_equal(st.truncated, 2);
    assert_int_equal(strlen(negotiate_list_name(l, 0)), 64);
    assert_int_equal(strlen(negotiate_list_name(l, 1)), 64);
    assert_int_equal(strlen(negotiate_list_name(l, 2)), 64);
    assert_int_equal(negotiate_list_name(l, 2)[63], 'h');
    assert_string_equal(negotiate_list_name(l, 3), "tail");
    assert_false(negotiate_list_partial(l));
    negotiate_list_free(l);

    /* 128 names of 100 bytes each, then more: bounded whatever the input. */
    size_t blen = 200 * 101;
    char *many = malloc(blen);
    assert_non_null(many);
    memset(many, 'z', blen);
    for (size_t i = 100; i < blen; i += 101)
        many[i] = ',';
    assert_int_equal(negotiate_list_parse(many, blen, 0, &l, &st), 0);
    assert_int_equal(negotiate_list_count(l), 128);
    assert_int_equal(st.truncated, 128);
    assert_int_equal(st.dropped, 72);
    negotiate_list_free(l);

    /* A megabyte of separators is an empty list. */
    memset(big, ',', huge);
    assert_int_equal(negotiate_list_parse(big, huge, 0, &l, &st), 0);
    assert_int_equal(negotiate_list_count(l), 0);
    negotiate_list_free(l);
    free(many);
    free(big);
}

static void test_parse_cut(void **state)
{
    (void)state;
    struct negotiate_list *l = NULL;
    struct negotiate_parse_stats st;
    /* Cut inside a name: that name goes. */
    assert_int_equal(negotiate_list_parse("a,b,kex-s", 9, NEGOTIATE_PARSE_CUT, &l, &st), 0);
    expect_names(l, (const char *const[]){ "a", "b" }, 2);
    assert_int_equal(st.dropped, 1);
    assert_true(negotiate_list_partial(l));
    negotiate_list_free(l);
    /* Cut after a separator: nothing goes, still partial. */
    assert_int_equal(negotiate_list_parse("a,b,", 4, NEGOTIATE_PARSE_CUT, &l, &st), 0);
    expect_names(l, (const char *const[]){ "a", "b" }, 2);
    assert_int_equal(st.dropped, 0);
    assert_true(negotiate_list_partial(l));
    negotiate_list_free(l);
    /* A single cut name leaves nothing. */
    assert_int_equal(negotiate_list_parse("curve", 5, NEGOTIATE_PARSE_CUT, &l, &st), 0);
    assert_int_equal(negotiate_list_count(l), 0);
    assert_true(negotiate_list_partial(l));
    negotiate_list_free(l);
}

static void test_expand(void **state)
{
    const struct algo_db *db = *state;
    struct negotiate_list *in = parse_str("ecc rsa_sha2_256 rsa-sha2-256 ssh-ed25519 ecc");
    struct negotiate_list *out = NULL;
    assert_int_equal(negotiate_list_expand(db, "huawei", ALGO_HOSTKEY, in, &out), 0);
    static const char *const want[] = {
        "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384", "ecdsa-sha2-nistp521",
        "rsa-sha2-256",        "ssh-ed25519",
    };
    expect_names(out, want, 5);
    assert_true(negotiate_list_maybe(out, 0));
    assert_true(negotiate_list_maybe(out, 2));
    assert_false(negotiate_list_maybe(out, 3));
    assert_false(negotiate_list_partial(out));
    negotiate_list_free(out);

    /* A certain name stays certain when a keyword also offers it maybe. */
    negotiate_list_free(in);
    in = parse_str("ecdsa-sha2-nistp384,ecc");
    assert_int_equal(negotiate_list_expand(db, "huawei", ALGO_HOSTKEY, in, &out), 0);
    assert_string_equal(negotiate_list_name(out, 0), "ecdsa-sha2-nistp384");
    assert_false(negotiate_list_maybe(out, 0));
    assert_true(negotiate_list_maybe(out, 1));
    assert_int_equal(negotiate_list_count(out), 3);
    negotiate_list_free(out);

    /* Undocumented keywords make the list partial; keywords of another
     * category are just names. */
    negotiate_list_free(in);
    in = parse_str("sm2_kep,aes128_ctr");
    assert_int_equal(negotiate_list_expand(db, "huawei", ALGO_KEX, in, &out), 0);
    expect_names(out, (const char *const[]){ "aes128_ctr" }, 1);
    assert_true(negotiate_list_partial(out));
    negotiate_list_free(out);

    /* No vendor: a copy; unknown vendor: a copy. */
    assert_int_equal(negotiate_list_expand(db, NULL, ALGO_KEX, in, &out), 0);
    expect_names(out, (const char *const[]){ "sm2_kep", "aes128_ctr" }, 2);
    assert_false(negotiate_list_partial(out));
    negotiate_list_free(out);
    assert_int_equal(negotiate_list_expand(db, "cisco", ALGO_KEX, in, &out), 0);
    assert_int_equal(negotiate_list_count(out), 2);
    negotiate_list_free(out);

    /* Expansions past 128 names make the list partial, never overflow. */
    negotiate_list_free(in);
    char text[128 * 4 + 8] = "";
    for (int i = 0; i < 128; i++)
        strcat(text, "ecc ");
    strcat(text, "x");
    in = parse_str(text);
    assert_int_equal(negotiate_list_count(in), 128);
    assert_true(negotiate_list_partial(in)); /* "x" was the 129th name */
    assert_int_equal(negotiate_list_expand(db, "huawei", ALGO_HOSTKEY, in, &out), 0);
    assert_int_equal(negotiate_list_count(out), 3);
    assert_true(negotiate_list_partial(out));
    negotiate_list_free(out);
    negotiate_list_free(in);
    char text2[200 * 4];
    size_t len = 0;
    for (int i = 0; i < 127; i++)
        len += (size_t)snprintf(text2 + len, sizeof text2 - len, "n%d ", i);
    strcpy(text2 + len, "ecc");
    in = parse_str(text2);
    assert_int_equal(negotiate_list_expand(db, "huawei", ALGO_HOSTKEY, in, &out), 0);
    assert_int_equal(negotiate_list_count(out), 128);
    assert_true(negotiate_list_partial(out));
    negotiate_list_free(out);

    assert_int_equal(negotiate_list_expand(NULL, "huawei", ALGO_KEX, in, &out), -1);
    assert_null(out);
    assert_int_equal(negotiate_list_expand(db, "huawei", ALGO_KEX, NULL, &out), -1);
    assert_int_equal(negotiate_list_expand(db, "huawei", ALGO_KEX, in, NULL), -1);
    negotiate_list_free(in);
}

/* Builds an offer where every slot holds text (NULL = unknown). */
static void offer_from(struct negotiate_offer *o, struct negotiate_list **keep,
                       const char *const *text)
{
    for (int s = 0; s < NEG_NSLOTS; s++) {
        keep[s] = text[s] ? parse_str(text[s]) : NULL;
        o->list[s] = keep[s];
    }
}

static void free_lists(struct negotiate_list **l)
{
    for (int s = 0; s < NEG_NSLOTS; s++)
        negotiate_list_free(l[s]);
}

static void test_many_names(void **state)
{
    const struct algo_db *db = *state;
    /* The only common kex is the 130th client name: dropped by the parser,
     * so the engine must not claim a failure. */
    char text[130 * 24];
    size_t len = 0;
    for (int i = 0; i < 129; i++)
        len += (size_t)snprintf(text + len, sizeof text - len, "x%d@example.org,", i);
    snprintf(text + len, sizeof text - len, "curve25519-sha256");
    const char *ct[NEG_NSLOTS] = { text, "ssh-ed25519", "aes128-ctr", "aes128-ctr",
                                   "hmac-sha2-256", "hmac-sha2-256", "none", "none" };
    const char *st[NEG_NSLOTS] = { "curve25519-sha256", "ssh-ed25519", "aes128-ctr", "aes128-ctr",
                                   "hmac-sha2-256", "hmac-sha2-256", "none", "none" };
    struct negotiate_list *cl[NEG_NSLOTS], *sl[NEG_NSLOTS];
    struct negotiate_offer c, s;
    offer_from(&c, cl, ct);
    offer_from(&s, sl, st);
    struct negotiate_result res;
    assert_int_equal(negotiate_run(db, &c, &s, &res), 0);
    assert_int_equal(res.slot[NEG_KEX].status, NEG_UNKNOWN);
    assert_int_equal(res.outcome, NEG_OUTCOME_OPEN);
    assert_false(res.decided);
    free_lists(cl);

    /* At position 128 it is kept and agreed. */
    len = 0;
    for (int i = 0; i < 127; i++)
        len += (size_t)snprintf(text + len, sizeof text - len, "x%d@example.org,", i);
    snprintf(text + len, sizeof text - len, "curve25519-sha256,more1,more2");
    offer_from(&c, cl, ct);
    assert_int_equal(negotiate_run(db, &c, &s, &res), 0);
    assert_int_equal(res.slot[NEG_KEX].status, NEG_AGREED);
    assert_string_equal(res.slot[NEG_KEX].agreed, "curve25519-sha256");
    assert_int_equal(res.outcome, NEG_OUTCOME_OK);
    assert_true(res.decided);
    /* The agreed name is borrowed from the client's list. */
    assert_ptr_equal(res.slot[NEG_KEX].agreed, negotiate_list_name(cl[NEG_KEX], 127));
    char hex[33];
    assert_int_equal(negotiate_hassh(&c, hex), -1);
    assert_string_equal(hex, "");
    assert_int_equal(negotiate_fingerprint(&c, hex), -1);
    assert_string_equal(hex, "");
    free_lists(cl);
    free_lists(sl);
}

static void test_run_edges(void **state)
{
    const struct algo_db *db = *state;
    struct negotiate_result res;
    assert_int_equal(negotiate_run(NULL, NULL, NULL, &res), -1);
    assert_int_equal(negotiate_run(db, NULL, NULL, NULL), -1);
    /* No offers at all: nothing known, nothing failed. */
    assert_int_equal(negotiate_run(db, NULL, NULL, &res), 0);
    assert_int_equal(res.outcome, NEG_OUTCOME_OPEN);
    assert_int_equal(res.first_fail, -1);
    assert_false(res.decided);
    for (int s = 0; s < NEG_NSLOTS; s++) {
        assert_int_equal(res.slot[s].status, NEG_UNKNOWN);
        assert_null(res.slot[s].agreed);
    }
    /* Running twice on the same lists gives the same result. */
    const char *t[NEG_NSLOTS] = { "curve25519-sha256", "ssh-ed25519", "aes128-ctr", "aes128-ctr",
                                  "hmac-sha2-256", "hmac-sha2-256", "none", "none" };
    struct negotiate_list *l[NEG_NSLOTS];
    struct negotiate_offer o;
    offer_from(&o, l, t);
    struct negotiate_result a, b;
    assert_int_equal(negotiate_run(db, &o, &o, &a), 0);
    assert_int_equal(negotiate_run(db, &o, &o, &b), 0);
    assert_memory_equal(&a, &b, sizeof a);
    assert_int_equal(a.outcome, NEG_OUTCOME_OK);
    free_lists(l);
}

static void test_fingerprint_edges(void **state)
{
    (void)state;
    char hex[33];
    memset(hex, 'x', sizeof hex);
    assert_int_equal(negotiate_hassh(NULL, hex), -1);
    assert_string_equal(hex, "");

    /* Same string through MD5 directly and through the fingerprint. */
    const char *t[NEG_NSLOTS] = { "curve25519-sha256,ext-info-c", NULL, "aes128-ctr", NULL,
                                  "hmac-sha2-256", NULL, "none", NULL };
    struct negotiate_list *l[NEG_NSLOTS];
    struct negotiate_offer o;
    offer_from(&o, l, t);
    assert_int_equal(negotiate_hassh(&o, hex), 0);
    char direct[33];
    const char *joined = "curve25519-sha256,ext-info-c;aes128-ctr;hmac-sha2-256;none";
    negotiate_md5_hex(joined, strlen(joined), direct);
    assert_string_equal(hex, direct);
    free_lists(l);

    /* A cut name cannot be fingerprinted: it is not what the client sent. */
    char longname[80];
    memset(longname, 'k', 79);
    longname[79] = '\0';
    t[NEG_KEX] = longname;
    offer_from(&o, l, t);
    assert_int_equal(negotiate_hassh(&o, hex), -1);
    free_lists(l);

    /* Empty lists are lists: ";;;". */
    const char *e[NEG_NSLOTS] = { "", NULL, "", NULL, "", NULL, "", NULL };
    offer_from(&o, l, e);
    assert_int_equal(negotiate_hassh(&o, hex), 0);
    negotiate_md5_hex(";;;", 3, direct);
    assert_string_equal(hex, direct);
    free_lists(l);
}

/* The fingerprint tells apart clients that differ only in host keys (or
 * in s2c lists), where the HASSH cannot; identical s2c lists, logged or
 * not, give the same fingerprint. */
static void test_fingerprint_covers_every_category(void **state)
{
    (void)state;
    const char *a[NEG_NSLOTS] = { "curve25519-sha256", "ssh-ed25519", "aes128-ctr", NULL,
                                  "hmac-sha2-256",     NULL,          "none",       NULL };
    const char *b[NEG_NSLOTS] = { "curve25519-sha256", "ssh-rsa", "aes128-ctr", NULL,
                                  "hmac-sha2-256",     NULL,      "none",       NULL };
    const char *a2[NEG_NSLOTS] = { "curve25519-sha256", "ssh-ed25519",   "aes128-ctr", "aes128-ctr",
                                   "hmac-sha2-256",     "hmac-sha2-256", "none",       "none" };
    const char *a3[NEG_NSLOTS] = { "curve25519-sha256", "ssh-ed25519",   "aes128-ctr", "aes256-ctr",
                                   "hmac-sha2-256",     "hmac-sha2-256", "none",       "none" };
    const char *nohk[NEG_NSLOTS] = { "curve25519-sha256", NULL, "aes128-ctr", NULL, "hmac-sha2-256", NULL, "none", NULL };
    struct negotiate_list *l[5][NEG_NSLOTS];
    struct negotiate_offer o[5];
    offer_from(&o[0], l[0], a);
    offer_from(&o[1], l[1], b);
    offer_from(&o[2], l[2], a2);
    offer_from(&o[3], l[3], a3);
    offer_from(&o[4], l[4], nohk);
    char fa[33], fb[33], f2[33], f3[33], ha[33], hb[33], direct[33];
    assert_int_equal(negotiate_hassh(&o[0], ha), 0);
    assert_int_equal(negotiate_hassh(&o[1], hb), 0);
    assert_string_equal(ha, hb); /* the HASSH has no host-key field */
    assert_int_equal(negotiate_fingerprint(&o[0], fa), 0);
    assert_int_equal(negotiate_fingerprint(&o[1], fb), 0);
    assert_string_not_equal(fa, fb);
    assert_string_not_equal(fa, ha);
    const char *joined = "curve25519-sha256;ssh-ed25519;aes128-ctr;hmac-sha2-256;none";
    negotiate_md5_hex(joined, strlen(joined), direct);
    assert_string_equal(fa, direct);
    /* s2c lists equal to c2s ones: as if not logged */
    assert_int_equal(negotiate_fingerprint(&o[2], f2), 0);
    assert_string_equal(f2, fa);
    /* an s2c list of its own: a different client */
    assert_int_equal(negotiate_fingerprint(&o[3], f3), 0);
    assert_string_not_equal(f3, fa);
    joined = "curve25519-sha256;ssh-ed25519;aes128-ctr;hmac-sha2-256;none;aes256-ctr;hmac-sha2-256;none";
    negotiate_md5_hex(joined, strlen(joined), direct);
    assert_string_equal(f3, direct);
    /* no host-key list: no fingerprint, though the HASSH is known */
    assert_int_equal(negotiate_fingerprint(&o[4], f3), -1);
    assert_int_equal(negotiate_hassh(&o[4], f3), 0);
    for (int i = 0; i < 5; i++)
        free_lists(l[i]);
}

static void test_slot_helpers(void **state)
{
    (void)state;
    static const char *const cats[NEG_NSLOTS] = { "kex", "hostkey", "cipher", "cipher",
                                                  "mac", "mac",     "compression", "compression" };
    for (int s = 0; s < NEG_NSLOTS; s++) {
        const char *name = negotiate_slot_name((enum negotiate_slot)s);
        assert_non_null(name);
        assert_int_equal(negotiate_slot_from_name(name), s);
        assert_string_equal(algo_category_name(negotiate_slot_category((enum negotiate_slot)s)),
                            cats[s]);
    }
    assert_null(negotiate_slot_direction(NEG_KEX));
    assert_null(negotiate_slot_direction(NEG_HOSTKEY));
    assert_string_equal(negotiate_slot_direction(NEG_CIPHER_C2S), "c2s");
    assert_string_equal(negotiate_slot_direction(NEG_COMP_S2C), "s2c");
    assert_null(negotiate_slot_name(NEG_NSLOTS));
    assert_int_equal(negotiate_slot_from_name("cipher"), -1);
    assert_int_equal(negotiate_slot_from_name(NULL), -1);
    assert_int_equal(negotiate_slot_category(NEG_NSLOTS), ALGO_NCATEGORIES);
    assert_string_equal(negotiate_status_name(NEG_NO_MATCH), "no-match");
    assert_null(negotiate_status_name((enum negotiate_status)9));

    /* sshd's order: kex, hostkey, then each direction's cipher, MAC,
     * compression, client to server first. */
    static const enum negotiate_slot order[NEG_NSLOTS] = {
        NEG_KEX,      NEG_HOSTKEY,    NEG_CIPHER_C2S, NEG_MAC_C2S,
        NEG_COMP_C2S, NEG_CIPHER_S2C, NEG_MAC_S2C,    NEG_COMP_S2C,
    };
    for (size_t i = 0; i < NEG_NSLOTS; i++)
        assert_int_equal(negotiate_check_order(i), order[i]);
    assert_int_equal(negotiate_check_order(NEG_NSLOTS), NEG_NSLOTS);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_corpus_samples),
        cmocka_unit_test(test_handmade_samples),
        cmocka_unit_test(test_md5_rfc1321),
        cmocka_unit_test(test_md5_padding_boundaries),
        cmocka_unit_test(test_parse_separators),
        cmocka_unit_test(test_parse_limits),
        cmocka_unit_test(test_parse_cut),
        cmocka_unit_test(test_expand),
        cmocka_unit_test(test_many_names),
        cmocka_unit_test(test_run_edges),
        cmocka_unit_test(test_fingerprint_edges),
        cmocka_unit_test(test_fingerprint_covers_every_category),
        cmocka_unit_test(test_slot_helpers),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
