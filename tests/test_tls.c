/* SPDX-License-Identifier: ISC */
/* Tests for daemon/tls.c: tls_peers name matching as RFC 5425 section 5.2
 * describes it (a wildcard is exactly one whole left-most label, matching
 * is case-insensitive), in both directions (a wildcard configured, or in
 * the certificate's dNSName), with the cases that must NOT match. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>

#include <cmocka.h>

#include "tls.h"

static const struct {
    const char *pattern, *name;
    int match;
} cases[] = {
    {"r1.noc.example.net", "r1.noc.example.net", 1},
    {"R1.NOC.example.net", "r1.noc.EXAMPLE.net", 1},
    {"*.noc.example.net", "r1.noc.example.net", 1},
    {"*.noc.example.net", "R7.Noc.Example.Net", 1},
    {"r1.noc.example.net", "*.noc.example.net", 1},  /* wildcard in the certificate */
    {"*.noc.example.net", "noc.example.net", 0},     /* one label, not none */
    {"*.noc.example.net", "a.b.noc.example.net", 0}, /* one label, not two */
    {"*.noc.example.net", ".noc.example.net", 0},
    {"*.noc.example.net", "r1.noc.example.net.evil", 0},
    {"*.noc.example.net", "r1.xnoc.example.net", 0},
    {"*.noc.example.net", "*.noc.example.net", 1},   /* the same pattern */
    {"*.noc.example.net", "*.a.noc.example.net", 0},
    {"r1.noc.example.net", "r2.noc.example.net", 0},
    {"r1.noc.example.net", "", 0},
    {"", "r1", 0},
    {"noc.example.net", "*.example.net", 1},
    {"a.noc.example.net", "*.example.net", 0},
};

static void test_name_match(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int got = tls_name_match(cases[i].pattern, cases[i].name);
        if (got != cases[i].match)
            fail_msg("'%s' vs '%s': got %d, want %d", cases[i].pattern, cases[i].name, got, cases[i].match);
    }
}

static void test_cause_names(void **state)
{
    (void)state;
    assert_string_equal(tls_cause_name(TLS_REJECT_EXPIRED), "expired");
    assert_true(tls_cause_is_reject(TLS_REJECT_NAME));
    assert_false(tls_cause_is_reject(TLS_FAIL_TIMEOUT));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_name_match),
        cmocka_unit_test(test_cause_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
