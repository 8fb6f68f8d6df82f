/* SPDX-License-Identifier: ISC */
/* Tests for inventory.c: matching devices by name, address and CIDR, group
 * inheritance, and vendor keywords expanded to wire names. */
#include "config.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "inventory.h"
#include "testutil.h"

struct fixture {
    struct cfg *cfg;
    struct algo_db *db;
    struct inventory *inv;
    char *path;
};

static const char *conf_dir(void)
{
    static char buf[4096];
    const char *src = getenv("KW_SRCDIR");
    snprintf(buf, sizeof buf, "%s/conf", src ? src : ".");
    return buf;
}

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof *f);
    f->path = tu_temp_file("[device core-1]\n"
                           "match = 10.0.0.1, core-1.example.net\n"
                           "vendor = huawei\n"
                           "kex = dh_group14_sha1 curve25519_sha256\n"
                           "cipher = aes128_ctr\n"
                           "[device edge-7]\n"
                           "group = lab\n"
                           "kex = curve25519-sha256\n"
                           "[group lab]\n"
                           "match = 192.0.2.0/24, 2001:db8::/32\n"
                           "vendor = huawei\n"
                           "cipher = aes256_gcm\n"
                           "mac = sha2_256\n");
    struct cfg_errors errs = {0};
    assert_int_equal(cfg_load(f->path, &f->cfg, &errs), 0);
    char a[4200], k[4200], err[512];
    snprintf(a, sizeof a, "%s/algorithms.tsv", conf_dir());
    snprintf(k, sizeof k, "%s/keywords.tsv", conf_dir());
    if (algo_db_load(a, k, &f->db, err, sizeof err) < 0)
        fail_msg("%s", err);
    size_t unknown = 99;
    f->inv = inventory_new(f->cfg, f->db, &unknown);
    assert_non_null(f->inv);
    assert_int_equal(unknown, 0);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    inventory_free(f->inv);
    algo_db_free(f->db);
    cfg_free(f->cfg);
    remove(f->path);
    free(f->path);
    free(f);
    return 0;
}

static struct sockaddr_storage v4(const char *a)
{
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof ss);
    struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
    sin->sin_family = AF_INET;
    inet_pton(AF_INET, a, &sin->sin_addr);
    return ss;
}

static struct sockaddr_storage v6(const char *a)
{
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof ss);
    struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;
    sin6->sin6_family = AF_INET6;
    inet_pton(AF_INET6, a, &sin6->sin6_addr);
    return ss;
}

static bool has(const struct negotiate_list *l, const char *name)
{
    for (size_t i = 0; i < negotiate_list_count(l); i++)
        if (strcmp(negotiate_list_name(l, i), name) == 0)
            return true;
    return false;
}

static void test_match_by_key_and_address(void **state)
{
    struct fixture *f = *state;
    const struct inv_device *d = inventory_lookup(f->inv, "10.0.0.1", NULL);
    assert_non_null(d);
    assert_string_equal(d->name, "core-1");
    assert_ptr_equal(inventory_lookup(f->inv, "CORE-1.example.net", NULL), d);
    struct sockaddr_storage ss = v4("10.0.0.1");
    assert_ptr_equal(inventory_lookup(f->inv, "something-else", (struct sockaddr *)&ss), d);
    assert_null(inventory_lookup(f->inv, "10.0.0.2", NULL));
}

static void test_cidr_groups(void **state)
{
    struct fixture *f = *state;
    struct sockaddr_storage in = v4("192.0.2.200"), out = v4("192.0.3.1"), six = v6("2001:db8:1::5"),
                            mapped = v6("::ffff:192.0.2.9");
    const struct inv_device *g = inventory_lookup(f->inv, "x", (struct sockaddr *)&in);
    assert_non_null(g);
    assert_string_equal(g->name, "lab");
    assert_null(inventory_lookup(f->inv, "x", (struct sockaddr *)&out));
    assert_ptr_equal(inventory_lookup(f->inv, "x", (struct sockaddr *)&six), g);
    assert_ptr_equal(inventory_lookup(f->inv, "x", (struct sockaddr *)&mapped), g);
}

static void test_keywords_expanded(void **state)
{
    struct fixture *f = *state;
    /* match = is given, so the section name itself is not a match */
    assert_null(inventory_lookup(f->inv, "core-1", NULL));
    const struct inv_device *d = inventory_lookup(f->inv, "10.0.0.1", NULL);
    assert_non_null(d);
    assert_true(has(d->list[NEG_KEX], "diffie-hellman-group14-sha1"));
    assert_true(has(d->list[NEG_KEX], "curve25519-sha256"));
    assert_true(has(d->list[NEG_CIPHER_C2S], "aes128-ctr"));
    assert_ptr_equal(d->list[NEG_CIPHER_C2S], d->list[NEG_CIPHER_S2C]);
    assert_null(d->list[NEG_MAC_C2S]);
    assert_null(d->list[NEG_HOSTKEY]);
}

static void test_device_inherits_group(void **state)
{
    struct fixture *f = *state;
    const struct inv_device *d = inventory_lookup(f->inv, "edge-7", NULL);
    assert_non_null(d);
    assert_string_equal(d->name, "edge-7");
    assert_string_equal(d->vendor, "huawei");
    assert_true(has(d->list[NEG_KEX], "curve25519-sha256"));
    assert_true(has(d->list[NEG_CIPHER_C2S], "aes256-gcm@openssh.com"));
    assert_true(has(d->list[NEG_MAC_S2C], "hmac-sha2-256"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_match_by_key_and_address),
        cmocka_unit_test(test_cidr_groups),
        cmocka_unit_test(test_keywords_expanded),
        cmocka_unit_test(test_device_inherits_group),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
