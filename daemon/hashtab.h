/* SPDX-License-Identifier: ISC */
/* hashtab.h: the daemon's one hash table (store caches, sessions' devices,
 * alert state, the algorithm catalogue).
 *
 * Maps byte-string keys to non-NULL pointers. Open addressing with linear
 * probing and deletion without tombstones; the table doubles when it would
 * be more than half full; it does not shrink, except that a table that
 * becomes empty frees its slots (its heap is then that of a new table).
 *
 * Ownership: the table owns only its slot array. Keys and values belong to
 * the caller; the table borrows the key bytes for as long as the entry is in
 * it (so a key usually lives inside its value). It never reads a key after
 * the entry was removed, so a value may be freed while it is removed.
 *
 * Hashing: SipHash-2-4 keyed by 128 random bits per table (getrandom), so a
 * sender cannot choose device keys or client names that collide: keys that
 * come from the network cannot turn lookups into scans.
 *
 * Not thread-safe: one thread at a time per table. hashtab_hash() reads only
 * the key fixed at creation and may run on any thread.
 */
#ifndef KW_HASHTAB_H
#define KW_HASHTAB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct hashtab;

/* A new empty table with a random key; NULL when memory is short. No slot
 * array is allocated until the first insertion. */
struct hashtab *hashtab_new(void);

/* A table with the given 16-byte SipHash key (tests, reproducible runs). */
struct hashtab *hashtab_new_seeded(const unsigned char key[16]);

/* A table hashing with fn(key, klen, arg) instead; for tests (e.g. every key
 * on one hash) and never for keys that come from the network. */
struct hashtab *hashtab_new_hashfn(uint64_t (*fn)(const void *key, size_t klen, void *arg), void *arg);

/* Frees the table's slots; keys and values are untouched. NULL: no-op. */
void hashtab_free(struct hashtab *t);

/* The table's hash of key (for callers that keep sets of hashes). */
uint64_t hashtab_hash(const struct hashtab *t, const void *key, size_t klen);

/* The value under key, NULL when absent. */
void *hashtab_find(const struct hashtab *t, const void *key, size_t klen);

/* Adds key -> value (value not NULL). key is borrowed until the entry is
 * removed. When key is present its value and borrowed key are replaced and
 * *old (if old) gets the previous value. Returns 0 added, 1 replaced, -1
 * when memory is short to grow (nothing changed). */
int hashtab_put(struct hashtab *t, const void *key, size_t klen, void *value, void **old);

/* Removes key; returns its value, NULL when absent. */
void *hashtab_remove(struct hashtab *t, const void *key, size_t klen);

/* Entries in the table. */
size_t hashtab_count(const struct hashtab *t);

/* Heap the table itself holds (its slots and head), for memory budgets;
 * keys and values are the caller's to count. */
size_t hashtab_bytes(const struct hashtab *t);

/* Iteration: start with *pos = 0; each call returns true with the next
 * entry's value (and key/klen when not NULL), false at the end. The order is
 * unspecified. The table must not change during it: to remove while
 * iterating use hashtab_filter. */
bool hashtab_next(const struct hashtab *t, size_t *pos, void **value, const void **key, size_t *klen);

/* Calls drop(value, arg) once for every entry and removes those for which
 * it returns true (drop may free the value and its key). drop must not touch
 * the table. Allocates nothing (it may run when memory is short). */
void hashtab_filter(struct hashtab *t, bool (*drop)(void *value, void *arg), void *arg);

/* Removes every entry and frees the slots; keys and values are untouched. */
void hashtab_clear(struct hashtab *t);

#endif
