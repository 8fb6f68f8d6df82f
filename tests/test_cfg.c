/* SPDX-License-Identifier: ISC */
/* Tests for cfg.c. Bad configurations are data: each file under
 * tests/data/cfg/bad-*.conf lists the errors it must produce in
 * "; expect-error: LINE: TEXT" comments. */
#include "config.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include <cmocka.h>

#include "cfg.h"
#include "testutil.h"

static void check_bad_file(const char *rel)
{
    const char *path = tu_data_path(rel);
    char *pathcopy = strdup(path);
    char *text = tu_read_data(rel, NULL);
    size_t nlines;
    char **lines = tu_lines(text, &nlines);
    struct cfg *c = (struct cfg *)1;
    struct cfg_errors errs = {0};
    assert_int_equal(cfg_load(pathcopy, &c, &errs), -1);
    assert_null(c);
    size_t expected = 0;
    for (size_t i = 0; i < nlines; i++) {
        const char *e = strstr(lines[i], "expect-error: ");
        if (!e)
            continue;
        expected++;
        e += strlen("expect-error: ");
        int line = atoi(e);
        const char *want = strchr(e, ':') + 2;
        char prefix[4200];
        snprintf(prefix, sizeof prefix, "%s:%d: ", pathcopy, line);
        int found = 0;
        for (size_t k = 0; k < errs.n; k++)
            if (strncmp(errs.msgs[k], prefix, strlen(prefix)) == 0 && strstr(errs.msgs[k], want))
                found = 1;
        if (!found) {
            for (size_t k = 0; k < errs.n; k++)
                print_message("got: %s\n", errs.msgs[k]);
            fail_msg("%s: no error '%s' at line %d", rel, want, line);
        }
    }
    if (errs.n != expected) {
        for (size_t k = 0; k < errs.n; k++)
            print_message("got: %s\n", errs.msgs[k]);
        fail_msg("%s: %zu errors, expected %zu", rel, errs.n, expected);
    }
    cfg_errors_free(&errs);
    free(lines);
    free(text);
    free(pathcopy);
}

static void test_bad_keys(void **state)
{
    (void)state;
    check_bad_file("cfg/bad-keys.conf");
}

static void test_bad_devices(void **state)
{
    (void)state;
    check_bad_file("cfg/bad-devices.conf");
}

static void test_bad_syntax(void **state)
{
    (void)state;
    check_bad_file("cfg/bad-syntax.conf");
}

static void test_missing_file(void **state)
{
    (void)state;
    struct cfg *c;
    struct cfg_errors errs = {0};
    assert_int_equal(cfg_load("/nonexistent/kexwatch.conf", &c, &errs), -1);
    assert_int_equal(errs.n, 1);
    assert_non_null(strstr(errs.msgs[0], "/nonexistent/kexwatch.conf: cannot open"));
    cfg_errors_free(&errs);
}

static void test_good_long_lines(void **state)
{
    (void)state;
    char *path = strdup(tu_data_path("cfg/good-long.conf"));
    struct cfg *c;
    struct cfg_errors errs = {0};
    int rc = cfg_load(path, &c, &errs);
    for (size_t k = 0; k < errs.n; k++)
        print_message("got: %s\n", errs.msgs[k]);
    assert_int_equal(rc, 0);
    assert_int_equal(c->n_udp, 2);
    assert_string_equal(c->udp[0].text, "127.0.0.1:5514");
    assert_string_equal(c->udp[1].text, "[::1]:5515");
    assert_int_equal(c->udp[1].ss.ss_family, AF_INET6);
    assert_int_equal(c->n_tcp, 0);
    assert_int_equal(c->max_message, 65536);
    assert_int_equal(c->identify, CFG_IDENTIFY_HOSTNAME);
    char want[4200];
    snprintf(want, sizeof want, "%s/var/test.db", c->dir);
    assert_string_equal(c->database, want);
    assert_string_equal(c->webhook, "http://127.0.0.1:9093/api/v2/alerts#not-a-comment");
    assert_string_equal(c->http_external_url, "https://kexwatch.noc.example.net:8443/kw/");
    assert_int_equal(c->n_devices, 1);
    struct cfg_device *d = &c->devices[0];
    assert_string_equal(d->name, "agg-ctr-3");
    assert_int_equal(d->n_match, 2);
    assert_string_equal(d->match[1], "192.0.2.0/24");
    assert_string_equal(d->vendor, "openssh");
    /* a 330-byte line, longer than inih's buffer, arrives whole */
    assert_int_equal(d->lists[CFG_CAT_KEX].n, 10);
    assert_string_equal(d->lists[CFG_CAT_KEX].names[0], "sntrup761x25519-sha512@openssh.com");
    assert_string_equal(d->lists[CFG_CAT_KEX].names[9], "diffie-hellman-group14-sha256");
    assert_int_equal(d->lists[CFG_CAT_CIPHER].n, 2);
    assert_string_equal(d->lists[CFG_CAT_CIPHER].names[1], "aes256-ctr");
    assert_int_equal(d->lists[CFG_CAT_MAC].n, 1);
    assert_false(d->lists[CFG_CAT_HOSTKEY].set);
    cfg_free(c);
    free(path);
}

/* every split point of a long value must glue back to the same list */
static void test_long_values_every_length(void **state)
{
    (void)state;
    for (int len = 150; len < 700; len += 7) {
        char text[1024];
        int n = snprintf(text, sizeof text, "[device x]\nkex = ");
        int names = 0;
        while (n < len) {
            n += snprintf(text + n, sizeof text - (size_t)n, "%salgo%d-sha256", names ? (names % 2 ? "," : ", ") : "",
                          names);
            names++;
        }
        snprintf(text + n, sizeof text - (size_t)n, "\nvendor = openssh\n");
        char *path = tu_temp_file(text);
        struct cfg *c;
        struct cfg_errors errs = {0};
        assert_int_equal(cfg_load(path, &c, &errs), 0);
        assert_int_equal(c->devices[0].lists[CFG_CAT_KEX].n, names);
        for (int i = 0; i < names; i++) {
            char want[32];
            snprintf(want, sizeof want, "algo%d-sha256", i);
            assert_string_equal(c->devices[0].lists[CFG_CAT_KEX].names[i], want);
        }
        assert_string_equal(c->devices[0].vendor, "openssh");
        cfg_free(c);
        remove(path);
        free(path);
    }
}

static void test_sample_config(void **state)
{
    (void)state;
    const char *src = getenv("KW_SRCDIR");
    char path[4096];
    snprintf(path, sizeof path, "%s/conf/kexwatch.conf", src ? src : ".");
    struct cfg *c;
    struct cfg_errors errs = {0};
    int rc = cfg_load(path, &c, &errs);
    for (size_t k = 0; k < errs.n; k++)
        print_message("got: %s\n", errs.msgs[k]);
    assert_int_equal(rc, 0);
    assert_int_equal(c->n_udp, 2);
    assert_int_equal(c->n_tcp, 1);
    assert_true(c->alert_stdout);
    assert_non_null(strstr(c->database, "/../var/kexwatch.db"));
    assert_int_equal(c->repeat_interval, 4 * 3600);
    cfg_free(c);
}

static void test_corpus_inventories(void **state)
{
    (void)state;
    const char *files[] = {"corpus/openssh-lab/inventory.conf", "corpus/huawei-assumed/huawei-inventory.conf"};
    for (size_t i = 0; i < 2; i++) {
        char *path = strdup(tu_data_path(files[i]));
        struct cfg *c;
        struct cfg_errors errs = {0};
        int rc = cfg_load(path, &c, &errs);
        for (size_t k = 0; k < errs.n; k++)
            print_message("got: %s\n", errs.msgs[k]);
        assert_int_equal(rc, 0);
        assert_true(c->n_devices >= 2);
        for (size_t k = 0; k < c->n_devices; k++) {
            assert_true(c->devices[k].lists[CFG_CAT_KEX].n > 0);
            assert_true(c->devices[k].lists[CFG_CAT_CIPHER].n > 0);
        }
        cfg_free(c);
        free(path);
    }
}

static void test_parse_addr(void **state)
{
    (void)state;
    struct cfg_addr a;
    assert_int_equal(cfg_parse_addr("127.0.0.1:514", &a), 0);
    assert_int_equal(a.ss.ss_family, AF_INET);
    assert_int_equal(cfg_parse_addr("[::1]:514", &a), 0);
    assert_int_equal(a.ss.ss_family, AF_INET6);
    assert_int_equal(cfg_parse_addr("::1:514", &a), -1);
    assert_int_equal(cfg_parse_addr("localhost:514", &a), -1);
    assert_int_equal(cfg_parse_addr("127.0.0.1:65536", &a), -1);
    assert_int_equal(cfg_parse_addr("127.0.0.1:", &a), -1);
    assert_int_equal(cfg_parse_addr("127.0.0.1:-1", &a), -1);
}

static void test_parse_duration(void **state)
{
    (void)state;
    unsigned s;
    assert_int_equal(cfg_parse_duration("90", &s), 0);
    assert_int_equal(s, 90);
    assert_int_equal(cfg_parse_duration("5m", &s), 0);
    assert_int_equal(s, 300);
    assert_int_equal(cfg_parse_duration("4h", &s), 0);
    assert_int_equal(s, 14400);
    assert_int_equal(cfg_parse_duration("7d", &s), 0);
    assert_int_equal(s, 604800);
    assert_int_equal(cfg_parse_duration("7w", &s), -1);
    assert_int_equal(cfg_parse_duration("h", &s), -1);
    assert_int_equal(cfg_parse_duration("99999999999d", &s), -1);
    assert_int_equal(cfg_parse_duration("4294967295s", &s), 0);
    assert_int_equal(cfg_parse_duration("4294967296s", &s), -1);
}

/* 64-bit durations: "100000d" works; the edges of INT64_MAX seconds in
 * seconds, hours and days; beyond them "too large" (-2), not "not a duration" */
static void test_parse_duration64(void **state)
{
    (void)state;
    int64_t s;
    assert_int_equal(cfg_parse_duration64("100000d", &s), 0);
    assert_true(s == 8640000000LL);
    assert_int_equal(cfg_parse_duration64("9223372036854775807s", &s), 0);
    assert_true(s == INT64_MAX);
    assert_int_equal(cfg_parse_duration64("9223372036854775807", &s), 0);
    assert_int_equal(cfg_parse_duration64("9223372036854775808s", &s), -2);
    assert_int_equal(cfg_parse_duration64("18446744073709551616s", &s), -2); /* beyond strtoull */
    assert_int_equal(cfg_parse_duration64("2562047788015215h", &s), 0);
    assert_int_equal(cfg_parse_duration64("2562047788015216h", &s), -2);
    assert_int_equal(cfg_parse_duration64("106751991167300d", &s), 0);
    assert_true(s == CFG_DURATION64_MAX_DAYS * 86400);
    assert_int_equal(cfg_parse_duration64("106751991167301d", &s), -2);
    assert_int_equal(cfg_parse_duration64("99999999999999999999999999d", &s), -2);
    assert_int_equal(cfg_parse_duration64("7w", &s), -1);
    assert_int_equal(cfg_parse_duration64("-1d", &s), -1);
    assert_int_equal(cfg_parse_duration64("", &s), -1);
    assert_int_equal(cfg_parse_duration64("1dd", &s), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bad_keys),
        cmocka_unit_test(test_bad_devices),
        cmocka_unit_test(test_bad_syntax),
        cmocka_unit_test(test_missing_file),
        cmocka_unit_test(test_good_long_lines),
        cmocka_unit_test(test_long_values_every_length),
        cmocka_unit_test(test_sample_config),
        cmocka_unit_test(test_corpus_inventories),
        cmocka_unit_test(test_parse_addr),
        cmocka_unit_test(test_parse_duration),
        cmocka_unit_test(test_parse_duration64),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
