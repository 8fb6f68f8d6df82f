/* store: everything kexwatch knows, in SQLite, surviving restarts and
 * answering history questions. The only module that includes sqlite3.h.
 *
 * The schema lives in sql/NNN-*.sql, numbered migrations applied in order
 * and recorded with PRAGMA user_version; a database newer than this build
 * knows is refused. The migrations are compiled in (generated from sql/ at
 * build time), so an installed daemon needs no sql/ directory.
 *
 * Writes are queued by the event loop (store_enqueue copies what it is
 * given) and committed in one transaction per batch (store_flush), so the
 * loop never waits on the disk for longer than one batch. The queue is
 * bounded: a full queue refuses (counted) and the caller back-pressures.
 * Distinct name-lists, devices and client types are stored once and
 * referenced by id, with their ids cached in memory.
 */
#ifndef KW_STORE_H
#define KW_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "session.h"

struct store;

#define STORE_READONLY 0x1u /* open for queries only (the kexwatch tool); never migrates or writes */

struct store_counts {
    uint64_t queued;        /* negotiations accepted by store_enqueue */
    uint64_t committed;     /* negotiations committed */
    uint64_t refused;       /* store_enqueue calls refused: queue full */
    uint64_t batches;       /* transactions committed */
    uint64_t errors;        /* failed transactions (kept queued and retried) */
    uint64_t dropped;       /* records given up: refused by the schema twice (a bug, logged) */
    uint64_t purged;        /* negotiations removed by retention */
    uint64_t last_batch_us; /* duration of the last commit, microseconds */
};

/* Opens (creating when missing, unless STORE_READONLY) the database at path,
 * runs PRAGMA quick_check, applies pending migrations, and sets WAL,
 * synchronous=NORMAL, busy_timeout (5 s) and foreign keys. queue_max bounds
 * the queued negotiations (0: default 100000). With STORE_READONLY the file
 * is opened read-only, never created or migrated, and not quick_checked (it
 * reads the whole file: the daemon checks at start); a schema older or newer
 * than this build is refused. Returns 0 and *out, or -1 with a message for
 * the operator in err ("PATH: what happened; what to do"): missing, unreadable
 * or corrupt file, not a kexwatch database, read-only file or directory,
 * older (read-only) or newer schema. */
int store_open(const char *path, unsigned flags, size_t queue_max, struct store **out, char *err, size_t errsize);

/* Commits what is queued (what cannot be is logged as lost) and closes;
 * NULL is a no-op. */
void store_close(struct store *s);

/* Queues one negotiation outcome (everything in n is copied; received
 * strings are kept up to 1024 bytes, cut at a UTF-8 character boundary).
 * Returns 0, or -1 when the queue is full or memory is short (counted in
 * refused), or n or its device is NULL, or the store is read-only. */
int store_enqueue(struct store *s, const struct negotiation *n);

/* Commits the queued negotiations (at most 20000 of them, the oldest, so
 * one call never takes long) and every queued profile in one transaction.
 * Returns how many negotiations were committed (0 when none were queued),
 * or -1 on an error (logged, counted; the records stay queued for the next
 * call). A record the schema itself refuses (a constraint, twice in a row)
 * would block the queue for ever: it alone is dropped and counted. */
int store_flush(struct store *s);

/* Queued, not yet committed: negotiations plus learned profiles. */
size_t store_pending(const struct store *s);

/* Deletes at most max_rows negotiations older than before (seconds since
 * the epoch) and, once a step finds fewer than max_rows, the list, client
 * and device rows nothing refers to any more (a device keeps its row while
 * it has a stored profile or alert). Returns the number of negotiations
 * deleted or -1. Called repeatedly in small steps so it never stalls the
 * loop. */
int store_purge(struct store *s, int64_t before, unsigned max_rows);

/* Queues a device's learned server list for one slot (negotiate_slot), as
 * logged in its own proposal: comma-joined wire names. A stored list is
 * replaced only by one learned at the same time or later. Returns 0 or -1
 * (full: 8192 queued, or memory short). */
int store_enqueue_profile(struct store *s, const char *device, int slot, const char *list, int64_t learned_at);

/* Calls cb for every stored learned profile (restoring state at start),
 * committed ones only. Strings are borrowed for the call. Works read-only
 * too. Returns the count or -1. */
typedef void (*store_profile_cb)(void *arg, const char *device, int slot, const char *list, int64_t learned_at);
int store_load_profiles(struct store *s, store_profile_cb cb, void *arg);

/* The schema version of the open database and the newest this build knows. */
int store_schema_version(const struct store *s);
int store_schema_latest(void);

const struct store_counts *store_get_counts(const struct store *s);

#endif
