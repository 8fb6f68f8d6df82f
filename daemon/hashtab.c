/* SPDX-License-Identifier: ISC */
/* hashtab.c: see hashtab.h. */
#include "config.h"

#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "hashtab.h"

#define HASHTAB_MIN 16 /* slots at the first insertion */

struct slot {
    uint64_t hash;
    const void *key;
    size_t klen;
    void *value; /* NULL: empty */
};

struct hashtab {
    struct slot *slot;
    size_t mask; /* slots - 1; 0 with no slots */
    size_t count;
    uint64_t k0, k1;
    uint64_t (*fn)(const void *key, size_t klen, void *arg);
    void *arg;
};

/* ------------------------------------------------------------ SipHash-2-4 */

static inline uint64_t rotl(uint64_t x, int b)
{
    return (x << b) | (x >> (64 - b));
}

static inline uint64_t le64(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

#define SIPROUND()                                                                                                   \
    do {                                                                                                             \
        v0 += v1;                                                                                                    \
        v1 = rotl(v1, 13);                                                                                           \
        v1 ^= v0;                                                                                                    \
        v0 = rotl(v0, 32);                                                                                           \
        v2 += v3;                                                                                                    \
        v3 = rotl(v3, 16);                                                                                           \
        v3 ^= v2;                                                                                                    \
        v0 += v3;                                                                                                    \
        v3 = rotl(v3, 21);                                                                                           \
        v3 ^= v0;                                                                                                    \
        v2 += v1;                                                                                                    \
        v1 = rotl(v1, 17);                                                                                           \
        v1 ^= v2;                                                                                                    \
        v2 = rotl(v2, 32);                                                                                           \
    } while (0)

static uint64_t siphash(uint64_t k0, uint64_t k1, const void *data, size_t n)
{
    const unsigned char *p = data;
    uint64_t v0 = k0 ^ 0x736f6d6570736575ULL, v1 = k1 ^ 0x646f72616e646f6dULL;
    uint64_t v2 = k0 ^ 0x6c7967656e657261ULL, v3 = k1 ^ 0x7465646279746573ULL;
    size_t whole = n & ~(size_t)7;
    for (size_t i = 0; i < whole; i += 8) {
        uint64_t m = le64(p + i);
        v3 ^= m;
        SIPROUND();
        SIPROUND();
        v0 ^= m;
    }
    uint64_t b = (uint64_t)n << 56;
    for (size_t i = 0; i < (n & 7); i++)
        b |= (uint64_t)p[whole + i] << (8 * i);
    v3 ^= b;
    SIPROUND();
    SIPROUND();
    v0 ^= b;
    v2 ^= 0xff;
    SIPROUND();
    SIPROUND();
    SIPROUND();
    SIPROUND();
    return v0 ^ v1 ^ v2 ^ v3;
}

/* ------------------------------------------------------------ the table */

static struct hashtab *make(const unsigned char key[16])
{
    struct hashtab *t = calloc(1, sizeof *t);
    if (t) {
        t->k0 = le64(key);
        t->k1 = le64(key + 8);
    }
    return t;
}

struct hashtab *hashtab_new(void)
{
    unsigned char key[16];
    size_t got = 0;
    while (got < sizeof key) {
        ssize_t r = getrandom(key + got, sizeof key - got, GRND_NONBLOCK);
        if (r <= 0)
            break;
        got += (size_t)r;
    }
    if (got < sizeof key) {
        /* no entropy yet (early boot): a per-process key from what varies */
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        uint64_t a = (uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 30) ^ ((uint64_t)getpid() << 17);
        uint64_t b = (uint64_t)(uintptr_t)&got ^ (uint64_t)(uintptr_t)key;
        uint64_t k[2] = {siphash(a, b, &ts, sizeof ts), siphash(b, a, key, sizeof key)};
        memcpy(key, k, sizeof key);
    }
    return make(key);
}

struct hashtab *hashtab_new_seeded(const unsigned char key[16])
{
    return make(key);
}

struct hashtab *hashtab_new_hashfn(uint64_t (*fn)(const void *key, size_t klen, void *arg), void *arg)
{
    static const unsigned char zero[16];
    struct hashtab *t = make(zero);
    if (t) {
        t->fn = fn;
        t->arg = arg;
    }
    return t;
}

void hashtab_free(struct hashtab *t)
{
    if (!t)
        return;
    free(t->slot);
    free(t);
}

uint64_t hashtab_hash(const struct hashtab *t, const void *key, size_t klen)
{
    return t->fn ? t->fn(key, klen, t->arg) : siphash(t->k0, t->k1, key, klen);
}

/* The slot holding key, or the empty slot ending its probe sequence. */
static size_t locate(const struct hashtab *t, uint64_t h, const void *key, size_t klen)
{
    for (size_t i = h & t->mask;; i = (i + 1) & t->mask) {
        const struct slot *s = &t->slot[i];
        if (!s->value || (s->hash == h && s->klen == klen && memcmp(s->key, key, klen) == 0))
            return i;
    }
}

void *hashtab_find(const struct hashtab *t, const void *key, size_t klen)
{
    if (!t->count)
        return NULL;
    return t->slot[locate(t, hashtab_hash(t, key, klen), key, klen)].value;
}

static int grow(struct hashtab *t)
{
    size_t size = t->slot ? 2 * (t->mask + 1) : HASHTAB_MIN;
    if (size < t->mask + 1 || size > SIZE_MAX / sizeof(struct slot))
        return -1;
    struct slot *ns = calloc(size, sizeof *ns);
    if (!ns)
        return -1;
    for (size_t i = 0; t->slot && i <= t->mask; i++) {
        if (!t->slot[i].value)
            continue;
        size_t j = t->slot[i].hash & (size - 1);
        while (ns[j].value)
            j = (j + 1) & (size - 1);
        ns[j] = t->slot[i];
    }
    free(t->slot);
    t->slot = ns;
    t->mask = size - 1;
    return 0;
}

int hashtab_put(struct hashtab *t, const void *key, size_t klen, void *value, void **old)
{
    uint64_t h = hashtab_hash(t, key, klen);
    if (t->slot) {
        struct slot *s = &t->slot[locate(t, h, key, klen)];
        if (s->value) {
            if (old)
                *old = s->value;
            s->key = key;
            s->value = value;
            return 1;
        }
    }
    if ((!t->slot || 2 * (t->count + 1) > t->mask + 1) && grow(t) < 0)
        return -1;
    struct slot *s = &t->slot[locate(t, h, key, klen)];
    *s = (struct slot){h, key, klen, value};
    t->count++;
    return 0;
}

/* Empties slot i, moving later entries of the run back so that every probe
 * sequence stays unbroken (no tombstones). Reads hashes only, never keys. */
static void remove_at(struct hashtab *t, size_t i)
{
    size_t j = i;
    for (;;) {
        j = (j + 1) & t->mask;
        struct slot *s = &t->slot[j];
        if (!s->value)
            break;
        size_t home = s->hash & t->mask;
        /* the entry stays when its home lies cyclically in (i, j] */
        bool stays = i <= j ? (i < home && home <= j) : (i < home || home <= j);
        if (stays)
            continue;
        t->slot[i] = *s;
        i = j;
    }
    t->slot[i] = (struct slot){0};
    t->count--;
}

/* An empty table gives its slots back (the heap it reports returns to that
 * of a new table). */
static void release_if_empty(struct hashtab *t)
{
    if (!t->count && t->slot) {
        free(t->slot);
        t->slot = NULL;
        t->mask = 0;
    }
}

void *hashtab_remove(struct hashtab *t, const void *key, size_t klen)
{
    if (!t->count)
        return NULL;
    size_t i = locate(t, hashtab_hash(t, key, klen), key, klen);
    void *v = t->slot[i].value;
    if (v) {
        remove_at(t, i);
        release_if_empty(t);
    }
    return v;
}

size_t hashtab_count(const struct hashtab *t)
{
    return t->count;
}

size_t hashtab_bytes(const struct hashtab *t)
{
    return sizeof *t + (t->slot ? (t->mask + 1) * sizeof *t->slot : 0);
}

bool hashtab_next(const struct hashtab *t, size_t *pos, void **value, const void **key, size_t *klen)
{
    for (size_t i = *pos; t->slot && i <= t->mask; i++) {
        if (t->slot[i].value) {
            *pos = i + 1;
            *value = t->slot[i].value;
            if (key)
                *key = t->slot[i].key;
            if (klen)
                *klen = t->slot[i].klen;
            return true;
        }
    }
    *pos = t->slot ? t->mask + 1 : 0;
    return false;
}

void hashtab_filter(struct hashtab *t, bool (*drop)(void *value, void *arg), void *arg)
{
    if (!t->count)
        return;
    /* Start after an empty slot (one exists: never more than half full):
     * removal moves entries back only within their run, and no run crosses
     * that slot, so each entry is looked at exactly once. */
    size_t start = 0;
    while (t->slot[start].value)
        start++;
    for (size_t k = 1; k <= t->mask + 1; k++) {
        size_t i = (start + k) & t->mask;
        /* an entry moved into i by the removal is looked at too */
        while (t->slot[i].value && drop(t->slot[i].value, arg))
            remove_at(t, i);
    }
    release_if_empty(t);
}

void hashtab_clear(struct hashtab *t)
{
    t->count = 0;
    release_if_empty(t);
}
