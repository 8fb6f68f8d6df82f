/* SPDX-License-Identifier: ISC */
/* Tests for daemon/algo.c: the algorithm knowledge base and keyword maps.
 *
 * The shipped conf/algorithms.tsv and conf/keywords.tsv are loaded as the
 * daemon loads them; tests/data/algo/lookup.tsv and keywords.tsv say what
 * lookups in them must give, and tests/data/algo/errors.tsv lists broken
 * files with the exact message the loader must print. Every row of the
 * shipped table is also read back through the API, so a row the loader
 * silently mangles cannot pass.
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
#include "testutil.h"

/* Path of a shipped file under conf/: $KW_SRCDIR/conf, else next to the
 * test data ($KW_TESTDATA/../../conf), else ./conf. */

static struct algo_db *load_shipped(void)
{
    char a[4096], k[4096], err[512];
    struct algo_db *db = NULL;
    int rc = algo_db_load(tu_conf_path("algorithms.tsv", a, sizeof a),
                          tu_conf_path("keywords.tsv", k, sizeof k), &db, err, sizeof err);
    if (rc != 0)
        fail_msg("loading the shipped tables: %s", err);
    assert_non_null(db);
    return db;
}

static int setup(void **state)
{
    *state = load_shipped();
    return 0;
}

static int teardown(void **state)
{
    algo_db_free(*state);
    return 0;
}

static bool is_comment(const char *line)
{
    return line[0] == '\0' || line[0] == '#';
}

static void test_load_shipped(void **state)
{
    const struct algo_db *db = *state;
    assert_true(algo_db_count(db) > 300);
    assert_true(algo_db_keyword_count(db) >= 40);
    algo_db_free(NULL);
}

static int rating_from(const char *s)
{
    for (int r = ALGO_RATING_UNKNOWN; r <= ALGO_RATING_MARKER; r++)
        if (strcmp(s, algo_rating_name((enum algo_rating)r)) == 0)
            return r;
    fail_msg("bad rating '%s' in test data", s);
    return -1;
}

static void test_lookup_table(void **state)
{
    const struct algo_db *db = *state;
    char *buf = tu_read_data("algo/lookup.tsv", NULL);
    size_t n, rows = 0;
    char **lines = tu_lines(buf, &n);
    for (size_t i = 0; i < n; i++) {
        if (is_comment(lines[i]))
            continue;
        char *f[8];
        if (tu_fields(lines[i], f, 8) != 8)
            fail_msg("lookup.tsv:%zu: need 8 fields", i + 1);
        int cat = algo_category_from_name(f[0]);
        assert_true(cat >= 0);
        size_t len = tu_unescape(f[1]);
        const struct algo_entry *e = algo_db_find(db, (enum algo_category)cat, f[1], len);
        const char *what = f[1];
        rows++;

        int rating = rating_from(f[2]);
        if ((int)algo_entry_rating(e) != rating)
            fail_msg("%s %s: rating %s, expected %s", f[0], what,
                     algo_rating_name(algo_entry_rating(e)), f[2]);
        if (rating == ALGO_RATING_UNKNOWN)
            assert_null(e);
        else
            assert_int_equal(algo_entry_category(e), cat);

        enum algo_aead aead = strcmp(f[3], "yes") == 0       ? ALGO_AEAD_IMPLICIT
                              : strcmp(f[3], "rfc5647") == 0 ? ALGO_AEAD_RFC5647
                                                             : ALGO_AEAD_NONE;
        if (algo_entry_aead(e) != aead)
            fail_msg("%s %s: aead %d, expected %s", f[0], what, algo_entry_aead(e), f[3]);

        bool marker = strcmp(f[4], "yes") == 0;
        assert_int_equal(algo_entry_is_marker(e), marker);
        if (cat == ALGO_KEX)
            assert_int_equal(algo_db_is_marker(db, f[1], len), marker);

        enum algo_hostkey_use use = strcmp(f[5], "any") == 0    ? ALGO_HK_ANY
                                    : strcmp(f[5], "none") == 0 ? ALGO_HK_NONE
                                                                : ALGO_HK_SIGN;
        if (algo_entry_hostkey_use(e) != use)
            fail_msg("%s %s: hostkey_use %d, expected %s", f[0], what,
                     algo_entry_hostkey_use(e), f[5]);

        const char *kw = algo_entry_keyword(e, "huawei");
        if (strcmp(f[6], "-") == 0) {
            if (kw)
                fail_msg("%s %s: huawei keyword %s, expected none", f[0], what, kw);
        } else if (!kw || strcmp(kw, f[6]) != 0) {
            fail_msg("%s %s: huawei keyword %s, expected %s", f[0], what, kw ? kw : "(none)",
                     f[6]);
        }
        assert_null(algo_entry_keyword(e, "nosuchvendor"));

        if (strcmp(f[7], "-") != 0) {
            bool want = f[7][0] != '!';
            const char *tag = want ? f[7] : f[7] + 1;
            if (algo_entry_has_reason(e, tag) != want)
                fail_msg("%s %s: reason '%s' %s in '%s'", f[0], what, tag,
                         want ? "missing" : "present", algo_entry_why(e));
        }
    }
    assert_true(rows > 40);
    free(lines);
    free(buf);
}

static void test_keyword_table(void **state)
{
    const struct algo_db *db = *state;
    char *buf = tu_read_data("algo/keywords.tsv", NULL);
    size_t n, rows = 0;
    char **lines = tu_lines(buf, &n);
    for (size_t i = 0; i < n; i++) {
        if (is_comment(lines[i]))
            continue;
        char *f[4];
        if (tu_fields(lines[i], f, 4) != 4)
            fail_msg("keywords.tsv:%zu: need 4 fields", i + 1);
        int cat = algo_category_from_name(f[1]);
        assert_true(cat >= 0);
        rows++;
        const struct algo_keyword *kw =
            algo_db_keyword(db, f[0], (enum algo_category)cat, f[2], strlen(f[2]));
        if (strcmp(f[3], "(none)") == 0) {
            if (kw)
                fail_msg("%s %s %s: is a keyword", f[0], f[1], f[2]);
            continue;
        }
        if (!kw)
            fail_msg("%s %s %s: not a keyword", f[0], f[1], f[2]);
        assert_string_equal(algo_keyword_name(kw), f[2]);
        if (strcmp(f[3], "?") == 0) {
            assert_true(algo_keyword_undocumented(kw));
            assert_int_equal(algo_keyword_wire_count(kw), 0);
            assert_null(algo_keyword_wire(kw, 0, NULL));
            continue;
        }
        assert_false(algo_keyword_undocumented(kw));
        /* Rebuild the expansion in the file's notation and compare. */
        char got[1024] = "";
        for (size_t k = 0; k < algo_keyword_wire_count(kw); k++) {
            enum algo_wire_certainty c;
            const char *w = algo_keyword_wire(kw, k, &c);
            assert_non_null(w);
            assert_non_null(algo_db_find_str(db, (enum algo_category)cat, w));
            size_t used = strlen(got);
            snprintf(got + used, sizeof got - used, "%s%s%s", k ? "," : "", w,
                     c == ALGO_WIRE_MAYBE ? "?" : "");
        }
        assert_null(algo_keyword_wire(kw, algo_keyword_wire_count(kw), NULL));
        if (strcmp(got, f[3]) != 0)
            fail_msg("%s %s %s: expands to %s, expected %s", f[0], f[1], f[2], got, f[3]);
    }
    assert_true(rows > 10);
    free(lines);
    free(buf);
}

/* Reads the shipped table with a plain TSV split and checks every row
 * against what the loader made of it, and that every vendor keyword in it
 * expands back to the row's name. */
static void test_every_shipped_row(void **state)
{
    const struct algo_db *db = *state;
    char path[4096];
    FILE *fp = fopen(tu_conf_path("algorithms.tsv", path, sizeof path), "r");
    assert_non_null(fp);
    char line[4200];
    size_t rows = 0;
    bool header = true;
    while (fgets(line, sizeof line, fp)) {
        line[strcspn(line, "\r\n")] = '\0';
        if (is_comment(line))
            continue;
        char *f[7];
        size_t nf = tu_fields(line, f, 7);
        assert_int_equal(nf, 7);
        if (header) {
            assert_string_equal(f[5], "huawei");
            header = false;
            continue;
        }
        rows++;
        int cat = algo_category_from_name(f[0]);
        assert_true(cat >= 0);
        const struct algo_entry *e = algo_db_find_str(db, (enum algo_category)cat, f[1]);
        if (!e)
            fail_msg("%s %s not found", f[0], f[1]);
        assert_string_equal(algo_entry_name(e), f[1]);
        assert_string_equal(algo_rating_name(algo_entry_rating(e)), f[2]);
        assert_string_equal(algo_entry_why(e), strcmp(f[3], "-") == 0 ? "" : f[3]);
        if (strcmp(f[5], "-") != 0) {
            assert_string_equal(algo_entry_keyword(e, "huawei"), f[5]);
            const struct algo_keyword *kw =
                algo_db_keyword(db, "huawei", (enum algo_category)cat, f[5], strlen(f[5]));
            assert_non_null(kw);
            bool found = false;
            for (size_t k = 0; k < algo_keyword_wire_count(kw); k++)
                found |= strcmp(algo_keyword_wire(kw, k, NULL), f[1]) == 0;
            if (!found)
                fail_msg("huawei %s does not expand to %s", f[5], f[1]);
        }
    }
    fclose(fp);
    assert_int_equal(rows, algo_db_count(db));
}

/* Writes text to a temporary file (exact bytes, NULs included). */
static char *temp_file_bytes(const char *text, size_t len)
{
    char *path = tu_temp_file("");
    FILE *fp = fopen(path, "wb");
    assert_non_null(fp);
    assert_int_equal(fwrite(text, 1, len, fp), len);
    fclose(fp);
    return path;
}

static void test_errors_table(void **state)
{
    (void)state;
    char *buf = tu_read_data("algo/errors.tsv", NULL);
    size_t n, rows = 0;
    char **lines = tu_lines(buf, &n);
    for (size_t i = 0; i < n; i++) {
        if (is_comment(lines[i]))
            continue;
        char *f[4];
        if (tu_fields(lines[i], f, 4) != 4)
            fail_msg("errors.tsv:%zu: need 4 fields", i + 1);
        rows++;
        size_t alen = tu_unescape(f[1]);
        char *pa = temp_file_bytes(f[1], alen);
        char *pk = NULL;
        if (strcmp(f[2], "-") != 0) {
            size_t klen = tu_unescape(f[2]);
            pk = temp_file_bytes(f[2], klen);
        }
        char expected[1024];
        if (strcmp(f[3], "ok") == 0)
            expected[0] = '\0';
        else if (f[3][0] == 'A')
            snprintf(expected, sizeof expected, "%s%s", pa, f[3] + 1);
        else
            snprintf(expected, sizeof expected, "%s%s", pk ? pk : "?", f[3] + 1);

        struct algo_db *db = (struct algo_db *)1;
        char err[1024];
        int rc = algo_db_load(pa, pk, &db, err, sizeof err);
        if (expected[0] == '\0') {
            if (rc != 0)
                fail_msg("%s: failed: %s", f[0], err);
            assert_non_null(db);
            assert_string_equal(err, "");
        } else {
            if (rc != -1)
                fail_msg("%s: loaded, expected: %s", f[0], expected);
            assert_null(db);
            if (strcmp(err, expected) != 0)
                fail_msg("%s: error\n  got:  %s\n  want: %s", f[0], err, expected);
        }
        algo_db_free(db);
        remove(pa);
        free(pa);
        if (pk) {
            remove(pk);
            free(pk);
        }
    }
    assert_true(rows > 30);
    free(lines);
    free(buf);
}

static void test_file_errors(void **state)
{
    (void)state;
    struct algo_db *db = NULL;
    char err[512];

    assert_int_equal(algo_db_load("/nonexistent/kexwatch/algorithms.tsv", NULL, &db, err,
                                  sizeof err),
                     -1);
    assert_null(db);
    assert_string_equal(err, "/nonexistent/kexwatch/algorithms.tsv: cannot open: "
                             "No such file or directory");

    static const char nul[] = "category\tname\trating\nkex\tfo\0o\tok\n";
    char *p = temp_file_bytes(nul, sizeof nul - 1);
    assert_int_equal(algo_db_load(p, NULL, &db, err, sizeof err), -1);
    char want[600];
    snprintf(want, sizeof want, "%s: contains a NUL byte", p);
    assert_string_equal(err, want);
    remove(p);
    free(p);

    /* A 5000-byte line: counted, never read into a fixed buffer. */
    size_t big = 5000;
    char *text = malloc(big + 64);
    assert_non_null(text);
    int off = snprintf(text, big + 64, "category\tname\trating\nkex\t");
    memset(text + off, 'k', big);
    strcpy(text + off + big, "\tok\n");
    p = temp_file_bytes(text, strlen(text));
    assert_int_equal(algo_db_load(p, NULL, &db, err, sizeof err), -1);
    snprintf(want, sizeof want, "%s:2: line longer than 4096 bytes", p);
    assert_string_equal(err, want);
    remove(p);
    free(p);
    free(text);

    /* Missing keyword file: the algorithm file is fine. */
    char a[4096];
    assert_int_equal(algo_db_load(tu_conf_path("algorithms.tsv", a, sizeof a), "/nonexistent/kw.tsv",
                                  &db, err, sizeof err),
                     -1);
    assert_string_equal(err, "/nonexistent/kw.tsv: cannot open: No such file or directory");
    assert_null(db);
}

static void test_error_buffer(void **state)
{
    (void)state;
    struct algo_db *db = NULL;
    char err[8];
    memset(err, 'x', sizeof err);
    /* A short buffer gets a truncated, terminated message. */
    assert_int_equal(algo_db_load("/nonexistent/a", NULL, &db, err, sizeof err), -1);
    assert_int_equal(strlen(err), sizeof err - 1);
    /* No buffer at all is fine too. */
    assert_int_equal(algo_db_load("/nonexistent/a", NULL, &db, NULL, 0), -1);
    assert_int_equal(algo_db_load("/nonexistent/a", NULL, &db, err, 0), -1);
    assert_int_equal(algo_db_load(NULL, NULL, &db, err, sizeof err), -1);
    assert_null(db);
    assert_int_equal(algo_db_load("/nonexistent/a", NULL, NULL, err, sizeof err), -1);
}

static void test_null_and_odd_lookups(void **state)
{
    const struct algo_db *db = *state;
    /* Accessors take the NULL of an unknown name. */
    assert_null(algo_entry_name(NULL));
    assert_int_equal(algo_entry_category(NULL), ALGO_NCATEGORIES);
    assert_int_equal(algo_entry_rating(NULL), ALGO_RATING_UNKNOWN);
    assert_false(algo_entry_is_marker(NULL));
    assert_int_equal(algo_entry_aead(NULL), ALGO_AEAD_NONE);
    assert_int_equal(algo_entry_hostkey_use(NULL), ALGO_HK_SIGN);
    assert_string_equal(algo_entry_why(NULL), "");
    assert_false(algo_entry_has_reason(NULL, "sha1"));
    assert_null(algo_entry_keyword(NULL, "huawei"));
    assert_null(algo_keyword_name(NULL));
    assert_int_equal(algo_keyword_wire_count(NULL), 0);
    assert_null(algo_keyword_wire(NULL, 0, NULL));
    assert_false(algo_keyword_undocumented(NULL));

    assert_null(algo_db_find(NULL, ALGO_KEX, "ext-info-c", 10));
    assert_null(algo_db_find(db, ALGO_KEX, NULL, 3));
    assert_null(algo_db_find(db, ALGO_KEX, "ext-info-c", 0));
    assert_null(algo_db_find(db, ALGO_NCATEGORIES, "ext-info-c", 10));
    assert_null(algo_db_find_str(db, ALGO_KEX, NULL));
    assert_false(algo_db_is_marker(NULL, "ext-info-c", 10));
    assert_null(algo_db_keyword(db, NULL, ALGO_CIPHER, "aes128_ctr", 10));
    assert_null(algo_db_keyword(NULL, "huawei", ALGO_CIPHER, "aes128_ctr", 10));
    assert_int_equal(algo_db_count(NULL), 0);
    assert_int_equal(algo_db_keyword_count(NULL), 0);

    /* Names are taken by length, not NUL: a prefix of a longer buffer. */
    const char *buf = "ext-info-c,kex-strict-c-v00@openssh.com";
    assert_true(algo_db_is_marker(db, buf, 10));
    assert_false(algo_db_is_marker(db, buf, 9));
    assert_true(algo_db_is_marker(db, buf + 11, strlen(buf + 11)));
    const char *cipher = "aes128-ctrXYZ";
    assert_string_equal(algo_entry_name(algo_db_find(db, ALGO_CIPHER, cipher, 10)), "aes128-ctr");
    /* Tags are matched whole. */
    const struct algo_entry *e = algo_db_find_str(db, ALGO_KEX, "diffie-hellman-group1-sha1");
    assert_true(algo_entry_has_reason(e, "sha1"));
    assert_true(algo_entry_has_reason(e, "no-pq"));
    assert_false(algo_entry_has_reason(e, "sha"));
    assert_false(algo_entry_has_reason(e, "1024"));
    assert_false(algo_entry_has_reason(e, ""));
    assert_false(algo_entry_has_reason(e, NULL));
    /* A wildcard row is found by its own name too. */
    e = algo_db_find_str(db, ALGO_KEX, "gss-gex-sha1-*");
    assert_string_equal(algo_entry_name(e), "gss-gex-sha1-*");
}

static void test_names(void **state)
{
    (void)state;
    for (int c = 0; c < ALGO_NCATEGORIES; c++)
        assert_int_equal(algo_category_from_name(algo_category_name((enum algo_category)c)), c);
    assert_null(algo_category_name(ALGO_NCATEGORIES));
    assert_int_equal(algo_category_from_name("cipher_c2s"), -1);
    assert_int_equal(algo_category_from_name(NULL), -1);
    assert_string_equal(algo_rating_name(ALGO_RATING_UNKNOWN), "unknown");
    assert_string_equal(algo_rating_name(ALGO_RATING_MARKER), "marker");
    assert_null(algo_rating_name((enum algo_rating)99));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_load_shipped),
        cmocka_unit_test(test_lookup_table),
        cmocka_unit_test(test_keyword_table),
        cmocka_unit_test(test_every_shipped_row),
        cmocka_unit_test(test_errors_table),
        cmocka_unit_test(test_file_errors),
        cmocka_unit_test(test_error_buffer),
        cmocka_unit_test(test_null_and_odd_lookups),
        cmocka_unit_test(test_names),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
