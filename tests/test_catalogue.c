/* SPDX-License-Identifier: ISC */
/* Tests for daemon/catalogue.c: the mismatch catalogue and remedies.
 *
 * The shipped conf/catalogue.conf is loaded with the shipped algorithm
 * tables, as the daemon loads them. Every sample of tests/data/catalogue/
 * *.tsv is a negotiation (the failing slot, both sides' lists, vendor,
 * client software) with the expected catalogue id beside it and, where a
 * column asks for it, the expected summary, remedy or set of matching
 * rules; the format is described at the top of corpus.tsv. errors.tsv
 * holds broken catalogues and the exact message the loader must give.
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
#include <limits.h>
#include <unistd.h>

#include <cmocka.h>

#include "algo.h"
#include "catalogue.h"
#include "negotiate.h"
#include "session.h"
#include "testutil.h"

#define MAX_FIELDS 24

struct fixture {
    struct algo_db *db;
    struct catalogue *cat;
};

static struct catalogue *load_catalogue(const char *path)
{
    char err[1024];
    struct catalogue *cat = NULL;
    if (catalogue_load(path, &cat, err, sizeof err) != 0)
        fail_msg("loading %s: %s", path, err);
    assert_non_null(cat);
    assert_string_equal(err, "");
    return cat;
}

static int setup(void **state)
{
    struct fixture *fx = calloc(1, sizeof *fx);
    assert_non_null(fx);
    char a[4096], k[4096], c[4096], err[512];
    if (algo_db_load(tu_conf_path("algorithms.tsv", a, sizeof a), tu_conf_path("keywords.tsv", k, sizeof k), &fx->db,
                     err, sizeof err) != 0)
        fail_msg("loading the shipped tables: %s", err);
    fx->cat = load_catalogue(tu_conf_path("catalogue.conf", c, sizeof c));
    *state = fx;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *fx = *state;
    catalogue_free(fx->cat);
    algo_db_free(fx->db);
    free(fx);
    return 0;
}

static bool is_comment(const char *line)
{
    return line[0] == '\0' || line[0] == '#';
}

/* ------------------------------------------------------------ samples */

/* One row of a sample file, turned into the struct negotiation the session
 * stage would hand over. */
struct sample {
    const char *file;
    size_t line;
    char *f[MAX_FIELDS];
    size_t nf;
    struct negotiate_list *owned[2][NEG_NSLOTS];
    struct negotiate_offer offer[2];
    struct negotiate_result res;
    struct negotiation n;
};

static const char *opt(const char *s)
{
    return strcmp(s, "-") == 0 ? NULL : s;
}

/* The value of a trailing "key=value" column, or NULL. */
static const char *column(const struct sample *s, const char *key)
{
    size_t kl = strlen(key);
    for (size_t i = 9; i < s->nf; i++)
        if (strncmp(s->f[i], key, kl) == 0 && s->f[i][kl] == '=')
            return s->f[i] + kl + 1;
    return NULL;
}

static void set_list(struct sample *s, const struct algo_db *db, int side, const char *vendor, int slot,
                     const char *text)
{
    size_t len = strlen(text);
    unsigned flags = 0;
    if (strcmp(text, "-") == 0) {
        len = 0;
    } else if (len >= 3 && strcmp(text + len - 3, "...") == 0) {
        len -= 3;
        flags = NEGOTIATE_PARSE_CUT;
    }
    struct negotiate_list *l = NULL;
    assert_int_equal(negotiate_list_parse(text, len, flags, &l, NULL), 0);
    if (side == 1 && vendor) {
        /* Server lists may be written in the vendor's keywords, as in an
         * inventory; expand them the way the inventory does. */
        struct negotiate_list *x = NULL;
        assert_int_equal(negotiate_list_expand(db, vendor, negotiate_slot_category((enum negotiate_slot)slot), l, &x),
                         0);
        negotiate_list_free(l);
        l = x;
    }
    negotiate_list_free(s->owned[side][slot]);
    s->owned[side][slot] = l;
    s->offer[side].list[slot] = l;
}

/* "kex=a,b ; cipher=c d ; mac_c2s=e": a category fills both directions. */
static void parse_lists(struct sample *s, const struct algo_db *db, int side, const char *vendor, char *text)
{
    if (strcmp(text, "-") == 0)
        return;
    for (char *save = NULL, *g = strtok_r(text, ";", &save); g; g = strtok_r(NULL, ";", &save)) {
        while (*g == ' ')
            g++;
        char *eq = strchr(g, '=');
        if (!eq)
            fail_msg("%s:%zu: list group without '=': %s", s->file, s->line, g);
        *eq = '\0';
        char *val = eq + 1;
        size_t vl = strlen(val);
        while (vl && val[vl - 1] == ' ')
            val[--vl] = '\0';
        int slot = negotiate_slot_from_name(g);
        int cat = algo_category_from_name(g);
        if (slot >= 0) {
            set_list(s, db, side, vendor, slot, val);
        } else if (cat >= 0) {
            for (int k = 0; k < NEG_NSLOTS; k++)
                if ((int)negotiate_slot_category((enum negotiate_slot)k) == cat)
                    set_list(s, db, side, vendor, k, val);
        } else {
            fail_msg("%s:%zu: unknown slot '%s'", s->file, s->line, g);
        }
    }
}

static void sample_build(struct sample *s, const struct algo_db *db)
{
    const char *vendor = opt(s->f[2]);
    parse_lists(s, db, 0, NULL, s->f[6]);
    parse_lists(s, db, 1, vendor, s->f[7]);
    assert_int_equal(negotiate_run(db, &s->offer[0], &s->offer[1], &s->res), 0);

    struct negotiation *n = &s->n;
    memset(n, 0, sizeof *n);
    n->device = s->f[1];
    n->device_name = column(s, "name");
    n->vendor = vendor;
    n->peer = column(s, "peer");
    n->software = opt(s->f[3]);
    n->server_software = column(s, "server_software");
    n->platform = column(s, "platform");
    n->result = &s->res;
    for (int k = 0; k < NEG_NSLOTS; k++) {
        n->client[k] = s->offer[0].list[k];
        n->server[k] = s->offer[1].list[k];
    }
    const char *ev = s->f[4];
    n->failed = strcmp(ev, "-") != 0;
    n->slot = -1;
    n->category = -1;
    if (n->failed) {
        n->evidence = strcmp(ev, "inferred") == 0 ? EVIDENCE_INFERRED : EVIDENCE_EXPLICIT;
        if (strcmp(s->f[5], "-") != 0) {
            n->slot = negotiate_slot_from_name(s->f[5]);
            if (n->slot < 0)
                fail_msg("%s:%zu: bad slot '%s'", s->file, s->line, s->f[5]);
            n->category = (int)negotiate_slot_category((enum negotiate_slot)n->slot);
        }
    }
    /* The samples must describe what the engine decides: an inferred
     * failure is the engine's own verdict, and a sample without a failure
     * must not be one the engine calls failed. */
    if (n->failed && n->evidence == EVIDENCE_INFERRED &&
        (s->res.outcome != NEG_OUTCOME_FAIL || s->res.first_fail != n->slot))
        fail_msg("%s:%zu: %s: the engine does not find the inferred %s failure", s->file, s->line, s->f[0], s->f[5]);
    if (!n->failed && s->res.outcome == NEG_OUTCOME_FAIL)
        fail_msg("%s:%zu: %s: the engine finds a failure in a sample that has none", s->file, s->line, s->f[0]);
}

static void sample_free(struct sample *s)
{
    for (int side = 0; side < 2; side++)
        for (int k = 0; k < NEG_NSLOTS; k++)
            negotiate_list_free(s->owned[side][k]);
}

static void expect_text(const struct sample *s, const char *what, const char *want, const char *got)
{
    if (getenv("KW_GOLDEN_PRINT"))
        return; /* printing what the samples would need, not checking */
    if (want && strcmp(want, got) != 0)
        fail_msg("%s:%zu: %s: %s\n  expected: %s\n  got:      %s", s->file, s->line, s->f[0], what, want, got);
}

/* Checks one sample; returns whether it was a failure. */
static bool check_sample(const struct fixture *fx, struct sample *s)
{
    sample_build(s, fx->db);
    const struct negotiation *n = &s->n;
    struct catalogue_match m;
    int rc = catalogue_classify(fx->cat, fx->db, n, &m);
    const char *want = s->f[8];
    if (strcmp(want, "-") == 0) {
        if (rc != 0)
            fail_msg("%s:%zu: %s: classified %s, but it is no failure", s->file, s->line, s->f[0], m.id);
        assert_string_equal(m.id, "");
        struct catalogue_remedy r;
        assert_int_equal(catalogue_remedy(fx->cat, fx->db, n, &r), 0);
        assert_string_equal(r.server, "");
        return false;
    }
    assert_int_equal(rc, 1);
    expect_text(s, "mismatch", want, m.id);
    expect_text(s, "severity", column(s, "severity"), m.severity);
    expect_text(s, "summary", column(s, "summary"), m.summary);
    if (!m.summary[0] || strchr(m.summary, '{') || !m.severity[0])
        fail_msg("%s:%zu: %s: summary '%s' severity '%s'", s->file, s->line, s->f[0], m.summary, m.severity);

    const char *matches = column(s, "matches");
    if (matches) {
        const char *ids[32];
        int count = catalogue_matches(fx->cat, fx->db, n, ids, 32);
        assert_true(count >= 0 && count <= 32);
        char got[1024] = "";
        for (int i = 0; i < count; i++) {
            size_t used = strlen(got);
            snprintf(got + used, sizeof got - used, "%s%s", i ? " " : "", ids[i]);
        }
        expect_text(s, "matching rules", matches, got);
        /* The winner is the first of the matching rules, or the fallback. */
        if (count > 0)
            expect_text(s, "winner", ids[0], m.id);
    }

    struct catalogue_remedy r;
    assert_int_equal(catalogue_remedy(fx->cat, fx->db, n, &r), 1);
    expect_text(s, "remedy server", column(s, "server"), r.server);
    expect_text(s, "remedy client", column(s, "client"), r.client);
    expect_text(s, "remedy risk", column(s, "risk"), r.risk);
    char steps[CATALOGUE_STEPS_SIZE * 2];
    tu_escape(steps, sizeof steps, r.steps);
    expect_text(s, "remedy steps", column(s, "steps"), r.steps);
    expect_text(s, "remedy verify", column(s, "verify"), r.verify);
    /* Every step is a line of the change; a change comes with its check. */
    if (r.steps[0] && !r.verify[0])
        fail_msg("%s:%zu: %s: steps without verify", s->file, s->line, s->f[0]);
    if (getenv("KW_GOLDEN_PRINT"))
        fprintf(stderr, "GOLDEN\t%s\tserver=%s\tsteps=%s\tverify=%s\trisk=%s\tclient=%s\tid=%s\n", s->f[0], r.server,
                steps, r.verify, r.risk, r.client, m.id);
    if (n->slot >= 0 && (!r.server[0] || !r.client[0] || !r.risk[0]))
        fail_msg("%s:%zu: %s: empty remedy field: server '%s' client '%s' risk '%s'", s->file, s->line, s->f[0],
                 r.server, r.client, r.risk);
    return true;
}

/* Runs every sample of a file; returns the number of samples. */
static size_t run_samples(const struct fixture *fx, const char *rel, size_t *failures)
{
    char *buf = tu_read_data(rel, NULL);
    size_t nlines, rows = 0;
    char **lines = tu_lines(buf, &nlines);
    *failures = 0;
    for (size_t i = 0; i < nlines; i++) {
        if (is_comment(lines[i]))
            continue;
        struct sample s;
        memset(&s, 0, sizeof s);
        s.file = rel;
        s.line = i + 1;
        s.nf = tu_fields(lines[i], s.f, MAX_FIELDS);
        if (s.nf < 9)
            fail_msg("%s:%zu: need at least 9 fields, got %zu", rel, i + 1, s.nf);
        for (size_t k = 9; k < s.nf; k++)
            tu_unescape(s.f[k]);
        rows++;
        if (check_sample(fx, &s))
            (*failures)++;
        sample_free(&s);
    }
    free(lines);
    free(buf);
    return rows;
}

/* ------------------------------------------------------------ tests */

static void test_load_shipped(void **state)
{
    const struct fixture *fx = *state;
    /* Every id of SPEC's table, and the fallback, with a valid severity. */
    char *buf = tu_read_data("catalogue/spec-ids.txt", NULL);
    size_t n, ids = 0;
    char **lines = tu_lines(buf, &n);
    for (size_t i = 0; i < n; i++) {
        if (is_comment(lines[i]))
            continue;
        ids++;
        bool found = false;
        for (size_t k = 0; k < catalogue_count(fx->cat); k++) {
            if (strcmp(catalogue_id(fx->cat, k), lines[i]) != 0)
                continue;
            found = true;
            const char *sev = catalogue_severity(fx->cat, k);
            assert_true(strcmp(sev, "critical") == 0 || strcmp(sev, "warning") == 0 || strcmp(sev, "info") == 0);
        }
        if (!found)
            fail_msg("the shipped catalogue lacks '%s'", lines[i]);
    }
    assert_int_equal(ids, 15);
    assert_true(catalogue_count(fx->cat) >= ids);
    assert_null(catalogue_id(fx->cat, catalogue_count(fx->cat)));
    assert_null(catalogue_severity(fx->cat, catalogue_count(fx->cat)));
    free(lines);
    free(buf);
}

/* Every reason tag of the shipped algorithm table has a risk phrase (or is
 * declared not worth one), so no risk line ever shows a bare tag. */
static void test_reasons_cover_table(void **state)
{
    const struct fixture *fx = *state;
    char a[4096];
    FILE *f = fopen(tu_conf_path("algorithms.tsv", a, sizeof a), "r");
    assert_non_null(f);
    char line[4096];
    int why_col = -1;
    size_t tags = 0;
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\r\n")] = '\0';
        if (is_comment(line))
            continue;
        char *fields[16];
        size_t nf = tu_fields(line, fields, 16);
        if (why_col < 0) {
            for (size_t i = 0; i < nf; i++)
                if (strcmp(fields[i], "why") == 0)
                    why_col = (int)i;
            assert_true(why_col >= 0);
            continue;
        }
        assert_true((size_t)why_col < nf);
        if (strcmp(fields[why_col], "-") == 0)
            continue;
        for (char *save = NULL, *t = strtok_r(fields[why_col], ",", &save); t; t = strtok_r(NULL, ",", &save)) {
            tags++;
            if (!catalogue_reason(fx->cat, t))
                fail_msg("reason tag '%s' of algorithms.tsv has no phrase in [reason]", t);
        }
    }
    fclose(f);
    assert_true(tags > 100);
    assert_string_equal(catalogue_reason(fx->cat, "sha1"), "relies on SHA-1");
    assert_string_equal(catalogue_reason(fx->cat, "no-pq"), "");
    assert_null(catalogue_reason(fx->cat, "no-such-tag"));
    assert_null(catalogue_reason(NULL, "sha1"));
}

static void test_corpus(void **state)
{
    size_t failures;
    size_t rows = run_samples(*state, "catalogue/corpus.tsv", &failures);
    /* 36 openssh-lab + 20 huawei-assumed + 11 published rows. */
    assert_int_equal(rows, 67);
    assert_int_equal(failures, 43);
}

static void test_precedence(void **state)
{
    size_t failures;
    size_t rows = run_samples(*state, "catalogue/precedence.tsv", &failures);
    assert_true(rows >= 10);
    assert_int_equal(failures, rows);
}

static void test_partial(void **state)
{
    size_t failures;
    size_t rows = run_samples(*state, "catalogue/partial.tsv", &failures);
    assert_true(rows >= 10);
}

static void test_remediation(void **state)
{
    size_t failures;
    size_t rows = run_samples(*state, "catalogue/remediation.tsv", &failures);
    assert_true(rows >= 15);
    assert_int_equal(failures, rows);
}

/* The rule language on its own, with a catalogue that uses every form. */
static void test_vocabulary(void **state)
{
    const struct fixture *fx = *state;
    struct fixture vocab = {.db = fx->db, .cat = load_catalogue(tu_data_path("catalogue/vocabulary.conf"))};
    size_t failures;
    size_t rows = run_samples(&vocab, "catalogue/vocabulary.tsv", &failures);
    assert_int_equal(rows, 15);
    assert_int_equal(failures, rows);
    catalogue_free(vocab.cat);
}

/* Precedence is data: lowering cipher-cbc-only below cipher-no-aead in a
 * copy of the shipped file makes the overlapping sample change id. */
static void test_precedence_is_data(void **state)
{
    const struct fixture *fx = *state;
    char c[4096];
    FILE *f = fopen(tu_conf_path("catalogue.conf", c, sizeof c), "r");
    assert_non_null(f);
    size_t cap = 1 << 20, len = 0;
    char *text = malloc(cap);
    assert_non_null(text);
    len = fread(text, 1, cap - 1, f);
    fclose(f);
    text[len] = '\0';
    char *sec = strstr(text, "[mismatch cipher-cbc-only]");
    assert_non_null(sec);
    char *prio = strstr(sec, "priority = 70");
    assert_non_null(prio);
    memcpy(prio, "priority = 45", 13);
    /* The copy lives elsewhere: point it at the shipped platforms table. */
    char plat[4096], abs[PATH_MAX], line[PATH_MAX + 16];
    assert_non_null(realpath(tu_conf_path("platforms.tsv", plat, sizeof plat), abs));
    snprintf(line, sizeof line, "file = %s", abs);
    char *file = strstr(text, "file = platforms.tsv");
    assert_non_null(file);
    size_t tail = strlen(file + 20);
    assert_true(len + strlen(line) < cap);
    memmove(file + strlen(line), file + 20, tail + 1);
    memcpy(file, line, strlen(line));
    char *path = tu_temp_file(text);
    struct catalogue *flipped = load_catalogue(path);

    char row[] = "flip\tedge-modern-1\topenssh\t-\texplicit\tcipher_c2s\tcipher=aes128-cbc,aes256-cbc,3des-cbc\t"
                 "cipher=aes256-gcm@openssh.com,chacha20-poly1305@openssh.com\t-";
    struct sample s;
    memset(&s, 0, sizeof s);
    s.file = "(inline)";
    s.nf = tu_fields(row, s.f, MAX_FIELDS);
    sample_build(&s, fx->db);
    struct catalogue_match m;
    assert_int_equal(catalogue_classify(fx->cat, fx->db, &s.n, &m), 1);
    assert_string_equal(m.id, "cipher-cbc-only");
    assert_int_equal(catalogue_classify(flipped, fx->db, &s.n, &m), 1);
    assert_string_equal(m.id, "cipher-no-aead");
    const char *ids[4];
    assert_int_equal(catalogue_matches(flipped, fx->db, &s.n, ids, 4), 2);
    assert_string_equal(ids[0], "cipher-no-aead");
    assert_string_equal(ids[1], "cipher-cbc-only");
    sample_free(&s);
    catalogue_free(flipped);
    unlink(path);
    free(path);
    free(text);
}

/* text with every "{MIN}" replaced by minimal; malloc'd. */
static char *with_minimal(const char *text, const char *minimal)
{
    size_t cap = strlen(text) + 1, ml = strlen(minimal);
    for (const char *p = text; (p = strstr(p, "{MIN}")); p += 5)
        cap += ml;
    char *out = malloc(cap), *w = out;
    assert_non_null(out);
    for (const char *p = text; *p;) {
        if (strncmp(p, "{MIN}", 5) == 0) {
            memcpy(w, minimal, ml);
            w += ml;
            p += 5;
        } else {
            *w++ = *p++;
        }
    }
    *w = '\0';
    return out;
}

static void test_minimal(void **state)
{
    (void)state;
    struct catalogue *cat = load_catalogue(tu_data_path("catalogue/minimal.conf"));
    assert_int_equal(catalogue_count(cat), 1);
    assert_string_equal(catalogue_id(cat, 0), "unclassified");
    catalogue_free(cat);
}

static void test_errors(void **state)
{
    (void)state;
    char *minimal = tu_read_data("catalogue/minimal.conf", NULL);
    char *buf = tu_read_data("catalogue/errors.tsv", NULL);
    size_t n, rows = 0;
    char **lines = tu_lines(buf, &n);
    size_t bad = 0;
    for (size_t i = 0; i < n; i++) {
        if (is_comment(lines[i]))
            continue;
        char *f[3];
        if (tu_fields(lines[i], f, 3) != 3)
            fail_msg("errors.tsv:%zu: need 3 fields", i + 1);
        rows++;
        tu_unescape(f[1]);
        char *text = with_minimal(f[1], minimal);
        char *path = tu_temp_file(text);
        free(text);
        char expected[1024];
        if (strcmp(f[2], "ok") == 0)
            expected[0] = '\0';
        else
            snprintf(expected, sizeof expected, "%s%s", path, f[2] + 1); /* F = the file's path */
        struct catalogue *cat = (struct catalogue *)1;
        char err[1024];
        int rc = catalogue_load(path, &cat, err, sizeof err);
        /* Report every bad sample, not only the first. */
        if (!expected[0] && rc != 0) {
            print_error("%s: failed: %s\n", f[0], err);
            bad++;
        } else if (expected[0] && (rc != -1 || cat || strcmp(err, expected) != 0)) {
            print_error("%s:\n  expected: %s\n  got:      %s\n", f[0], expected, rc ? err : "(loaded)");
            bad++;
        }
        if (rc == 0)
            catalogue_free(cat);
        unlink(path);
        free(path);
    }
    assert_int_equal(bad, 0);
    assert_true(rows >= 60);
    free(lines);
    free(buf);
    free(minimal);

    /* A line over the limit. */
    char *longline = malloc(5000 + 64);
    assert_non_null(longline);
    strcpy(longline, "[text]\nrisk = ");
    size_t used = strlen(longline);
    memset(longline + used, 'x', 5000);
    longline[used + 5000] = '\0';
    char *path = tu_temp_file(longline);
    struct catalogue *big = (struct catalogue *)1;
    char msg[1024], want[1024];
    assert_int_equal(catalogue_load(path, &big, msg, sizeof msg), -1);
    snprintf(want, sizeof want, "%s:2: line longer than 4096 bytes", path);
    assert_string_equal(msg, want);
    unlink(path);
    free(path);
    free(longline);

    /* A missing file, a NULL path, a tiny error buffer. */
    struct catalogue *cat = (struct catalogue *)1;
    char err[256];
    assert_int_equal(catalogue_load("/nonexistent/catalogue.conf", &cat, err, sizeof err), -1);
    assert_null(cat);
    assert_string_equal(err, "/nonexistent/catalogue.conf: cannot open: No such file or directory");
    assert_int_equal(catalogue_load(NULL, &cat, err, sizeof err), -1);
    assert_int_equal(catalogue_load("/nonexistent", &cat, err, 4), -1);
    assert_int_equal(strlen(err), 3);
    assert_int_equal(catalogue_load("/nonexistent", &cat, NULL, 0), -1);
}

static void test_bad_arguments(void **state)
{
    const struct fixture *fx = *state;
    struct negotiation n;
    memset(&n, 0, sizeof n);
    struct catalogue_match m;
    struct catalogue_remedy r;
    const char *ids[2];
    memset(&m, 'x', sizeof m);
    assert_int_equal(catalogue_classify(NULL, fx->db, &n, &m), -1);
    assert_string_equal(m.id, "");
    assert_int_equal(catalogue_classify(fx->cat, NULL, &n, &m), -1);
    assert_int_equal(catalogue_classify(fx->cat, fx->db, NULL, &m), -1);
    assert_int_equal(catalogue_classify(fx->cat, fx->db, &n, NULL), -1);
    assert_int_equal(catalogue_remedy(fx->cat, fx->db, &n, NULL), -1);
    assert_int_equal(catalogue_remedy(NULL, fx->db, &n, &r), -1);
    assert_int_equal(catalogue_matches(NULL, fx->db, &n, ids, 2), -1);
    /* Not a failure. */
    n.slot = -1;
    assert_int_equal(catalogue_classify(fx->cat, fx->db, &n, &m), 0);
    assert_int_equal(catalogue_remedy(fx->cat, fx->db, &n, &r), 0);
    assert_int_equal(catalogue_matches(fx->cat, fx->db, &n, ids, 2), 0);
    /* A failure in a slot that does not exist. */
    n.failed = true;
    n.slot = NEG_NSLOTS;
    assert_int_equal(catalogue_classify(fx->cat, fx->db, &n, &m), -1);
    assert_int_equal(catalogue_remedy(fx->cat, fx->db, &n, &r), -1);
    n.slot = -2;
    assert_int_equal(catalogue_matches(fx->cat, fx->db, &n, ids, 2), -1);
    /* A failure whose slot is unknown: the fallback, and nothing to remedy. */
    n.slot = -1;
    assert_int_equal(catalogue_classify(fx->cat, fx->db, &n, &m), 1);
    assert_string_equal(m.id, "unclassified");
    assert_int_equal(catalogue_remedy(fx->cat, fx->db, &n, &r), 1);
    assert_string_equal(r.server, "");
    catalogue_free(NULL);
    assert_int_equal(catalogue_count(NULL), 0);
    assert_null(catalogue_id(NULL, 0));
}

/* Output longer than the buffers is cut, NUL-terminated, never inside a
 * UTF-8 character; hostile software strings are reduced to printable ASCII. */
static void test_limits(void **state)
{
    const struct fixture *fx = *state;
    char server[NEGOTIATE_MAX_NAMES * 64];
    size_t used = 0;
    for (int i = 0; i < NEGOTIATE_MAX_NAMES; i++)
        used += (size_t)snprintf(server + used, sizeof server - used, "%sx%060d", i ? "," : "", i);
    struct negotiate_list *cl = NULL, *sl = NULL;
    const char *offer = "aes128-ctr";
    assert_int_equal(negotiate_list_parse(offer, strlen(offer), 0, &cl, NULL), 0);
    assert_int_equal(negotiate_list_parse(server, used, 0, &sl, NULL), 0);
    struct negotiation n;
    memset(&n, 0, sizeof n);
    n.failed = true;
    n.slot = NEG_CIPHER_C2S;
    n.category = ALGO_CIPHER;
    n.vendor = "cisco";
    n.device = "r9";
    n.software = "SSH-2.0-\x01\x7f\xc3\xa9vil\n";
    n.client[NEG_CIPHER_C2S] = cl;
    n.server[NEG_CIPHER_C2S] = sl;
    struct catalogue_remedy r;
    assert_int_equal(catalogue_remedy(fx->cat, fx->db, &n, &r), 1);
    /* Names the platform does not know make the list one kexwatch cannot
     * rewrite: the remedy says what to check, and stays in bounds. */
    assert_true(strlen(r.server) < CATALOGUE_COMMAND_SIZE);
    assert_string_equal(r.steps, "");
    assert_memory_equal(r.server, "the device's current list is not known", 38);
    /* A generic vendor's list of as many long names: the risk and client
     * texts are cut, never overrun. */
    n.vendor = NULL;
    assert_int_equal(catalogue_remedy(fx->cat, fx->db, &n, &r), 1);
    assert_true(strlen(r.client) < CATALOGUE_TEXT_SIZE);
    struct catalogue_match m;
    assert_int_equal(catalogue_classify(fx->cat, fx->db, &n, &m), 1);
    assert_string_equal(m.id, "unclassified");
    assert_non_null(strstr(m.summary, "Client ????vil? and r9 "));
    negotiate_list_free(cl);
    negotiate_list_free(sl);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_load_shipped),
        cmocka_unit_test(test_reasons_cover_table),
        cmocka_unit_test(test_corpus),
        cmocka_unit_test(test_precedence),
        cmocka_unit_test(test_partial),
        cmocka_unit_test(test_remediation),
        cmocka_unit_test(test_precedence_is_data),
        cmocka_unit_test(test_vocabulary),
        cmocka_unit_test(test_minimal),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_bad_arguments),
        cmocka_unit_test(test_limits),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
