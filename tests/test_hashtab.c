/* SPDX-License-Identifier: ISC */
/* Tests for daemon/hashtab.c: the one hash table of the daemon.
 *
 * Every operation is checked against a plain array that says which keys must
 * be present: insertion, lookup, replacement, deletion, growth from empty to
 * tens of thousands of keys, iteration, filtering while deleting, and the
 * same with every key on one hash (the worst case a sender could force on an
 * unkeyed table). The keyed hash is checked against SipHash-2-4's reference
 * vectors, and two tables must hash the same key differently.
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

#include "hashtab.h"

#define MANY 20000

struct item {
    int n;
    bool in;
    bool seen;
    char key[24];
    size_t klen;
};

static void set_key(struct item *it, size_t i)
{
    it->klen = (size_t)snprintf(it->key, sizeof it->key, "dev-%zu", i);
    /* binary keys with NULs in them too: keys are bytes, not strings */
    if (i % 7 == 0)
        it->key[it->klen++] = '\0';
}

static struct item *items(size_t n)
{
    struct item *v = calloc(n, sizeof *v);
    assert_non_null(v);
    for (size_t i = 0; i < n; i++) {
        v[i].n = (int)i;
        set_key(&v[i], i);
    }
    return v;
}

/* The table holds exactly the items marked in, each under its key. */
static void check_all(struct hashtab *t, struct item *v, size_t n)
{
    size_t in = 0;
    for (size_t i = 0; i < n; i++) {
        void *got = hashtab_find(t, v[i].key, v[i].klen);
        if (v[i].in) {
            assert_ptr_equal(got, &v[i]);
            in++;
        } else {
            assert_null(got);
        }
    }
    assert_int_equal(hashtab_count(t), in);
    /* iteration visits each entry once */
    for (size_t i = 0; i < n; i++)
        v[i].seen = false;
    size_t pos = 0, visited = 0;
    void *val;
    const void *key;
    size_t klen;
    while (hashtab_next(t, &pos, &val, &key, &klen)) {
        struct item *it = val;
        assert_true(it->in);
        assert_false(it->seen);
        assert_ptr_equal(key, it->key);
        assert_int_equal(klen, it->klen);
        it->seen = true;
        visited++;
    }
    assert_int_equal(visited, in);
}

static bool drop_odd(void *value, void *arg)
{
    struct item *it = value;
    size_t *calls = arg;
    (*calls)++;
    assert_false(it->seen); /* once per entry */
    it->seen = true;
    if (it->n % 2) {
        it->in = false;
        memset(it->key, 'X', sizeof it->key); /* the table must not read it again */
        return true;
    }
    return false;
}

static void exercise(struct hashtab *t, size_t n)
{
    struct item *v = items(n);
    size_t empty = hashtab_bytes(t);
    check_all(t, v, n);
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(hashtab_put(t, v[i].key, v[i].klen, &v[i], NULL), 0);
        v[i].in = true;
        if (i % 1000 == 0 || i < 40)
            check_all(t, v, n);
    }
    check_all(t, v, n);
    assert_true(hashtab_bytes(t) >= n * 2 * sizeof(void *));

    /* a second put of a key replaces its value */
    void *old = NULL;
    struct item other = v[3];
    assert_int_equal(hashtab_put(t, other.key, other.klen, &other, &old), 1);
    assert_ptr_equal(old, &v[3]);
    assert_ptr_equal(hashtab_find(t, v[3].key, v[3].klen), &other);
    assert_int_equal(hashtab_put(t, v[3].key, v[3].klen, &v[3], &old), 1);
    assert_ptr_equal(old, &other);

    /* delete every third key, in an order unlike insertion */
    for (size_t i = n; i-- > 0;) {
        if (i % 3 == 0) {
            assert_ptr_equal(hashtab_remove(t, v[i].key, v[i].klen), &v[i]);
            v[i].in = false;
            assert_null(hashtab_remove(t, v[i].key, v[i].klen));
        }
    }
    check_all(t, v, n);

    /* filter: each entry offered once, odd ones dropped (keys scribbled) */
    size_t before = hashtab_count(t), calls = 0;
    for (size_t i = 0; i < n; i++)
        v[i].seen = false;
    hashtab_filter(t, drop_odd, &calls);
    assert_int_equal(calls, before);
    for (size_t i = 0; i < n; i++) {
        assert_true(v[i].seen == (i % 3 != 0));
        if (v[i].key[0] == 'X') /* dropped: its key back for the checks */
            set_key(&v[i], i);
    }
    check_all(t, v, n);

    /* reinsert what was removed, then clear */
    for (size_t i = 0; i < n; i++)
        if (!v[i].in) {
            assert_int_equal(hashtab_put(t, v[i].key, v[i].klen, &v[i], NULL), 0);
            v[i].in = true;
        }
    check_all(t, v, n);
    hashtab_clear(t);
    assert_int_equal(hashtab_bytes(t), empty);
    for (size_t i = 0; i < n; i++)
        v[i].in = false;
    check_all(t, v, n);
    free(v);
}

static void test_basic(void **state)
{
    (void)state;
    struct hashtab *t = hashtab_new();
    assert_non_null(t);
    assert_int_equal(hashtab_count(t), 0);
    assert_null(hashtab_find(t, "a", 1));
    assert_null(hashtab_remove(t, "a", 1));
    size_t pos = 0;
    void *val;
    assert_false(hashtab_next(t, &pos, &val, NULL, NULL));
    int x = 1, y = 2;
    assert_int_equal(hashtab_put(t, "a", 1, &x, NULL), 0);
    assert_int_equal(hashtab_put(t, "a\0b", 3, &y, NULL), 0);
    assert_int_equal(hashtab_put(t, "", 0, &y, NULL), 0);
    assert_ptr_equal(hashtab_find(t, "a", 1), &x);
    assert_ptr_equal(hashtab_find(t, "a\0b", 3), &y);
    assert_ptr_equal(hashtab_find(t, "", 0), &y);
    assert_null(hashtab_find(t, "a\0c", 3));
    assert_int_equal(hashtab_count(t), 3);
    /* emptied by removal: back to a new table's heap, and usable again */
    size_t grown = hashtab_bytes(t);
    assert_ptr_equal(hashtab_remove(t, "a", 1), &x);
    assert_ptr_equal(hashtab_remove(t, "a\0b", 3), &y);
    assert_int_equal(hashtab_bytes(t), grown);
    assert_ptr_equal(hashtab_remove(t, "", 0), &y);
    assert_true(hashtab_bytes(t) < grown);
    assert_int_equal(hashtab_put(t, "a", 1, &x, NULL), 0);
    assert_ptr_equal(hashtab_find(t, "a", 1), &x);
    hashtab_free(t);
    hashtab_free(NULL);
}

static void test_many(void **state)
{
    (void)state;
    struct hashtab *t = hashtab_new();
    assert_non_null(t);
    exercise(t, MANY);
    hashtab_free(t);
}

static uint64_t one_hash(const void *key, size_t klen, void *arg)
{
    (void)key;
    (void)klen;
    (void)arg;
    return 42;
}

/* a few hashes only, so runs of many home slots interleave */
static uint64_t few_hashes(const void *key, size_t klen, void *arg)
{
    (void)arg;
    const unsigned char *p = key;
    uint64_t h = 0;
    for (size_t i = 0; i < klen; i++)
        h += p[i];
    return h % 5 * 0x9E3779B97F4A7C15ULL;
}

static void test_collisions(void **state)
{
    (void)state;
    struct hashtab *t = hashtab_new_hashfn(one_hash, NULL);
    assert_non_null(t);
    exercise(t, 1500);
    hashtab_free(t);
    t = hashtab_new_hashfn(few_hashes, NULL);
    assert_non_null(t);
    exercise(t, 3000);
    hashtab_free(t);
}

static void test_siphash(void **state)
{
    (void)state;
    /* SipHash-2-4 reference vectors: key 00..0f, messages 00..(n-1) */
    unsigned char key[16], msg[64];
    for (int i = 0; i < 16; i++)
        key[i] = (unsigned char)i;
    for (int i = 0; i < 64; i++)
        msg[i] = (unsigned char)i;
    struct hashtab *t = hashtab_new_seeded(key);
    assert_non_null(t);
    assert_int_equal(hashtab_hash(t, msg, 0), 0x726fdb47dd0e0e31ULL);
    assert_int_equal(hashtab_hash(t, msg, 1), 0x74f839c593dc67fdULL);
    assert_int_equal(hashtab_hash(t, msg, 8), 0x93f5f5799a932462ULL);
    assert_int_equal(hashtab_hash(t, msg, 15), 0xa129ca6149be45e5ULL);
    hashtab_free(t);

    /* two tables: different keys, so different hashes of the same bytes */
    struct hashtab *a = hashtab_new(), *b = hashtab_new();
    assert_non_null(a);
    assert_non_null(b);
    int differ = 0;
    for (int i = 1; i <= 8; i++)
        differ += hashtab_hash(a, msg, (size_t)i) != hashtab_hash(b, msg, (size_t)i);
    assert_true(differ >= 7);
    hashtab_free(a);
    hashtab_free(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_basic),
        cmocka_unit_test(test_many),
        cmocka_unit_test(test_collisions),
        cmocka_unit_test(test_siphash),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
