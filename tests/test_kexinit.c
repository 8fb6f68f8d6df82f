/* SPDX-License-Identifier: ISC */
/* Tests for daemon/kexinit.c: the server's identification line and its
 * KEXINIT packet, read from bytes.
 *
 * Identification samples are data (tests/data/kexinit/version.tsv); each is
 * also fed by every proper prefix, which must answer "more" or the same
 * error, never a different verdict. KEXINIT packets are built here, and the
 * ones real servers sent (tests/data/kexinit/NAME.hex, captured by
 * `kexwatch probe` from OpenSSH sshd and Dropbear on loopback) are parsed
 * against the lists those servers were configured with.
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

#include "kexinit.h"
#include "testutil.h"

static int status_of(const char *name)
{
    static const struct {
        const char *name;
        int status;
    } map[] = {{"ok", KEXINIT_OK},           {"more", KEXINIT_MORE},          {"not-ssh", KEXINIT_NOT_SSH},
               {"ssh1", KEXINIT_SSH1},       {"long-line", KEXINIT_LONG_LINE}, {"bad", KEXINIT_BAD_PACKET},
               {"not-kexinit", KEXINIT_NOT_KEXINIT}};
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
        if (strcmp(map[i].name, name) == 0)
            return map[i].status;
    fail_msg("unknown status '%s' in version.tsv", name);
    return 99;
}

static void test_version_samples(void **state)
{
    (void)state;
    size_t n, len;
    char *buf = tu_read_data("kexinit/version.tsv", &len);
    char **lines = tu_lines(buf, &n);
    size_t samples = 0;
    for (size_t i = 0; i < n; i++) {
        if (lines[i][0] == '#' || (!lines[i][0] && i == n - 1))
            continue;
        char *f[8] = {0};
        size_t nf = tu_fields(lines[i], f, 8);
        assert_true(nf >= 3);
        size_t inlen = tu_unescape(f[0]);
        int eof = atoi(f[1]);
        int want = status_of(f[2]);
        /* an exact-size copy, so ASan sees any read past len */
        unsigned char *in = malloc(inlen ? inlen : 1);
        memcpy(in, f[0], inlen);
        struct kexinit_version v;
        size_t used = 0;
        char why[512];
        int got = kexinit_read_version(in, inlen, eof, &v, &used, why, sizeof why);
        if (got != want) {
            fprintf(stderr, "version.tsv line %zu: status %d, want %s (%s)\n", i + 1, got, f[2], why);
            fail();
        }
        if (want == KEXINIT_OK) {
            assert_true(nf >= 8);
            tu_unescape(f[4]);
            tu_unescape(f[5]);
            assert_string_equal(v.proto, f[3]);
            assert_string_equal(v.software, f[4]);
            assert_string_equal(v.comments, strcmp(f[5], "-") == 0 ? "" : f[5]);
            assert_int_equal(used, strtoul(f[6], NULL, 10));
            assert_int_equal(v.prelines, strtoul(f[7], NULL, 10));
        } else if (want != KEXINIT_MORE) {
            assert_true(nf >= 4);
            tu_unescape(f[3]);
            if (!strstr(why, f[3])) {
                fprintf(stderr, "version.tsv line %zu: message '%s' lacks '%s'\n", i + 1, why, f[3]);
                fail();
            }
        }
        /* proper prefixes, without eof: more, the same error, or the same
         * identification once the prefix holds all of it */
        size_t whole = want == KEXINIT_OK ? used : inlen + 1;
        for (size_t k = 0; k < inlen; k++) {
            int pg = kexinit_read_version(in, k, 0, &v, &used, why, sizeof why);
            int same = k >= whole ? pg == KEXINIT_OK && used == whole : pg == KEXINIT_MORE || (want < 0 && pg == want);
            if (!same) {
                fprintf(stderr, "version.tsv line %zu: prefix of %zu bytes gives %d\n", i + 1, k, pg);
                fail();
            }
        }
        free(in);
        samples++;
    }
    assert_true(samples >= 20);
    free(lines);
    free(buf);
}

/* ------------------------------------------------------------- packets */

struct pkt {
    unsigned char b[4096];
    size_t n;
};

static void put_u32(struct pkt *p, uint32_t v)
{
    p->b[p->n++] = (unsigned char)(v >> 24);
    p->b[p->n++] = (unsigned char)(v >> 16);
    p->b[p->n++] = (unsigned char)(v >> 8);
    p->b[p->n++] = (unsigned char)v;
}

static void put_str(struct pkt *p, const char *s)
{
    put_u32(p, (uint32_t)strlen(s));
    memcpy(p->b + p->n, s, strlen(s));
    p->n += strlen(s);
}

/* wraps payload[0..n) in an RFC 4253 binary packet with pad bytes of padding */
static void wrap(struct pkt *out, const unsigned char *payload, size_t n, unsigned pad)
{
    out->n = 0;
    put_u32(out, (uint32_t)(n + pad + 1));
    out->b[out->n++] = (unsigned char)pad;
    memcpy(out->b + out->n, payload, n);
    out->n += n;
    memset(out->b + out->n, 0, pad);
    out->n += pad;
}

static const char *const sample_lists[KEXINIT_NLISTS] = {
    "curve25519-sha256,diffie-hellman-group14-sha1,ext-info-s",
    "rsa-sha2-512,ssh-ed25519",
    "aes128-ctr,aes256-gcm@openssh.com",
    "chacha20-poly1305@openssh.com",
    "hmac-sha2-256-etm@openssh.com,hmac-sha1",
    "hmac-sha2-512",
    "none,zlib@openssh.com",
    "none",
    "",
    "",
};

/* a KEXINIT payload with the given lists and trailer */
static void kexinit_payload(struct pkt *p, const char *const *lists, int trailer)
{
    p->n = 0;
    p->b[p->n++] = 20;
    for (int i = 0; i < 16; i++)
        p->b[p->n++] = (unsigned char)(0xa0 + i);
    for (int i = 0; i < KEXINIT_NLISTS; i++)
        put_str(p, lists[i]);
    if (trailer) {
        p->b[p->n++] = 1;
        put_u32(p, 0);
    }
}

static void test_packet_kexinit(void **state)
{
    (void)state;
    struct pkt pay, pk;
    kexinit_payload(&pay, sample_lists, 1);
    wrap(&pk, pay.b, pay.n, 7);
    struct kexinit k;
    size_t used = 0;
    char why[256];
    assert_int_equal(kexinit_read_packet(pk.b, pk.n, &k, &used, why, sizeof why), KEXINIT_OK);
    assert_int_equal(used, pk.n);
    for (int i = 0; i < KEXINIT_NLISTS; i++)
        assert_string_equal(k.lists[i], sample_lists[i]);
    assert_int_equal(k.cookie[0], 0xa0);
    assert_int_equal(k.cookie[15], 0xaf);
    assert_int_equal(k.first_kex_follows, 1);
    kexinit_clear(&k);
    kexinit_clear(NULL);
    /* trailing bytes (the next packet) are left alone */
    memcpy(pk.b + pk.n, "\0\0\0\x0c", 4);
    assert_int_equal(kexinit_read_packet(pk.b, pk.n + 4, &k, &used, why, sizeof why), KEXINIT_OK);
    assert_int_equal(used, pk.n);
    kexinit_clear(&k);
    /* every proper prefix, in an exact-size copy: more */
    for (size_t len = 0; len < pk.n; len++) {
        unsigned char *c = malloc(len ? len : 1);
        memcpy(c, pk.b, len);
        assert_int_equal(kexinit_read_packet(c, len, &k, &used, why, sizeof why), KEXINIT_MORE);
        free(c);
    }
    assert_string_equal(kexinit_list_name(KEXINIT_COMP_S2C), "compression_s2c");
    assert_string_equal(kexinit_list_name(KEXINIT_MAC_C2S), "mac_c2s");
}

static void test_packet_skip_and_other(void **state)
{
    (void)state;
    struct pkt pk;
    struct kexinit k;
    size_t used = 0;
    char why[256];
    const unsigned char ignore[] = {2, 0, 0, 0, 3, 'a', 'b', 'c'};
    wrap(&pk, ignore, sizeof ignore, 4);
    assert_int_equal(kexinit_read_packet(pk.b, pk.n, &k, &used, why, sizeof why), KEXINIT_SKIP);
    assert_int_equal(used, pk.n);
    const unsigned char debug[] = {4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0};
    wrap(&pk, debug, sizeof debug, 4);
    assert_int_equal(kexinit_read_packet(pk.b, pk.n, &k, &used, why, sizeof why), KEXINIT_SKIP);
    const unsigned char newkeys[] = {21};
    wrap(&pk, newkeys, sizeof newkeys, 10);
    assert_int_equal(kexinit_read_packet(pk.b, pk.n, &k, &used, why, sizeof why), KEXINIT_NOT_KEXINIT);
    assert_non_null(strstr(why, "message 21"));
}

static void expect_bad(const unsigned char *b, size_t n, const char *piece)
{
    struct kexinit k;
    size_t used = 0;
    char why[256];
    int rc = kexinit_read_packet(b, n, &k, &used, why, sizeof why);
    if (rc != KEXINIT_BAD_PACKET || !strstr(why, piece)) {
        fprintf(stderr, "got %d '%s', want bad packet with '%s'\n", rc, why, piece);
        fail();
    }
    for (int i = 0; i < KEXINIT_NLISTS; i++)
        assert_null(k.lists[i]);
}

static void test_packet_malformed(void **state)
{
    (void)state;
    struct pkt pay, pk;
    /* packet_length beyond the limit, and padding covering everything */
    const unsigned char huge[] = {0, 0x10, 0, 0, 4, 20};
    expect_bad(huge, sizeof huge, "malformed packet: length 1048576");
    const unsigned char allpad[] = {0, 0, 0, 5, 5, 20, 0, 0, 0, 0};
    expect_bad(allpad, sizeof allpad, "malformed packet");
    /* no trailer */
    kexinit_payload(&pay, sample_lists, 0);
    wrap(&pk, pay.b, pay.n, 4);
    expect_bad(pk.b, pk.n, "ends before first_kex_packet_follows");
    /* cut inside the lists */
    kexinit_payload(&pay, sample_lists, 1);
    wrap(&pk, pay.b, 30, 4);
    expect_bad(pk.b, pk.n, "list claims");
    wrap(&pk, pay.b, 10, 4);
    expect_bad(pk.b, pk.n, "too short for its cookie");
    /* lists that are not name-lists */
    const char *bad_names[] = {"a,,b", "a b", "a,", ",a", "a\x01", "caf\xc3\xa9"};
    for (size_t i = 0; i < sizeof bad_names / sizeof bad_names[0]; i++) {
        const char *lists[KEXINIT_NLISTS];
        memcpy(lists, sample_lists, sizeof lists);
        lists[KEXINIT_MAC_S2C] = bad_names[i];
        kexinit_payload(&pay, lists, 1);
        wrap(&pk, pay.b, pay.n, 4);
        expect_bad(pk.b, pk.n, "the mac_s2c list is not a name-list");
    }
}

/* tests/data/kexinit/NAME.hex: the server's bytes after its identification
 * line, as hex; NAME.lists: the ten lists it must yield, one per line */
static void check_capture(const char *name)
{
    char rel[128];
    snprintf(rel, sizeof rel, "kexinit/%s.hex", name);
    size_t hexlen;
    char *hex = tu_read_data(rel, &hexlen);
    unsigned char *bin = malloc(hexlen / 2 + 1);
    size_t n = 0;
    for (size_t i = 0; i + 1 < hexlen; i += 2) {
        while (i < hexlen && (hex[i] == '\n' || hex[i] == ' '))
            i++;
        if (i + 1 >= hexlen)
            break;
        unsigned v;
        sscanf(hex + i, "%2x", &v);
        bin[n++] = (unsigned char)v;
    }
    snprintf(rel, sizeof rel, "kexinit/%s.lists", name);
    size_t ln, nlines;
    char *want = tu_read_data(rel, &ln);
    char **lines = tu_lines(want, &nlines);
    assert_true(nlines >= KEXINIT_NLISTS);
    struct kexinit k;
    size_t used = 0, off = 0;
    char why[256];
    int rc;
    while ((rc = kexinit_read_packet(bin + off, n - off, &k, &used, why, sizeof why)) == KEXINIT_SKIP)
        off += used;
    if (rc != KEXINIT_OK) {
        fprintf(stderr, "%s: %d %s\n", name, rc, why);
        fail();
    }
    for (int i = 0; i < KEXINIT_NLISTS; i++)
        assert_string_equal(k.lists[i], lines[i]);
    kexinit_clear(&k);
    free(lines);
    free(want);
    free(bin);
    free(hex);
}

static void test_real_captures(void **state)
{
    (void)state;
    check_capture("openssh-9.2");
    check_capture("dropbear-2022.83");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_version_samples),
        cmocka_unit_test(test_packet_kexinit),
        cmocka_unit_test(test_packet_skip_and_other),
        cmocka_unit_test(test_packet_malformed),
        cmocka_unit_test(test_real_captures),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
