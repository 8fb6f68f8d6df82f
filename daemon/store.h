/* SPDX-License-Identifier: ISC */
/* store: everything kexwatch knows, in SQLite, surviving restarts and
 * answering history questions. The only module that includes sqlite3.h.
 *
 * The schema lives in sql/NNN-*.sql, numbered migrations applied in order
 * and recorded with PRAGMA user_version; a database newer than this build
 * knows is refused. The migrations are compiled in (generated from sql/ at
 * build time), so an installed daemon needs no sql/ directory.
 *
 * Writes are queued by the event loop (store_enqueue copies what it is
 * given, alert and outbox operations too) and committed in one transaction
 * per batch, in the order they were queued. With store_start a writer
 * thread owns the connection and commits (every 100 ms, or at once when
 * 10000 negotiations or an alert operation wait), so the loop never waits
 * for the disk, a commit, a checkpoint or another program's write lock: it
 * only queues and, when store_notify_fd is readable, calls store_poll.
 * Without store_start (the kexwatch tool, tests) store_flush commits on the
 * caller's thread. The queue is bounded: a full queue refuses (counted) and
 * the caller back-pressures.
 * Distinct name-lists, devices and client types are stored once and
 * referenced by id, with their ids cached in memory.
 */
#ifndef KW_STORE_H
#define KW_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "negotiation.h"

struct store;

#define STORE_READONLY 0x1u /* open for queries only (the kexwatch tool); never migrates or writes */
#define STORE_NOCHECK  0x2u /* no quick_check at open: the daemon runs store_check_start once it is ready */

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
 * runs PRAGMA quick_check (unless STORE_NOCHECK), applies pending migrations, and sets WAL,
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
 * NULL is a no-op. With a writer thread: stops it after it committed what
 * it could, runs the store_after_commit callbacks whose entries finished
 * (what they queue is committed on the caller's thread), then closes. */
void store_close(struct store *s);

/* The first half of store_close, for a caller whose store_after_commit
 * callbacks must run while what they use still exists: stops the writer,
 * commits what it can (what the callbacks queue too) and runs every
 * pending callback, even one whose entries could not be stored. The store
 * then works on the caller's thread (as without store_start). */
void store_finish(struct store *s);

/* Starts the writer thread; from then on only it uses the database
 * connection (the _load functions refuse). Returns 0 or -1 (logged). */
int store_start(struct store *s);

/* A descriptor that becomes readable when the writer finished something
 * (a batch, a dropped record, the integrity check): the caller then calls
 * store_poll. -1 before store_start. */
int store_notify_fd(const struct store *s);

/* Takes the writer's news on the caller's thread: runs, in order, the
 * store_after_commit callbacks whose entries are committed (or given up),
 * and updates store_outbox_committed. */
void store_poll(struct store *s);

/* Calls cb(arg) once everything queued before this call is committed (or
 * given up: a record the schema refuses). Called from store_poll or
 * store_close; at once when nothing is pending (without a writer, what is
 * queued is committed first). Returns 0 or -1 (memory short). */
int store_after_commit(struct store *s, void (*cb)(void *arg), void *arg);

/* Forgets the pending store_after_commit callbacks with this arg (its owner
 * is going away). */
void store_after_commit_cancel(struct store *s, void *arg);

/* The integrity check (PRAGMA quick_check), on a thread and a read-only
 * connection of its own, so neither the start nor the writer waits for it
 * (seconds on a large file). A failure is logged as an error at once;
 * store_check_state tells the outcome. Returns 0 or -1 (logged). */
enum { STORE_CHECK_NONE = 0, STORE_CHECK_RUNNING, STORE_CHECK_OK, STORE_CHECK_FAILED };
int store_check_start(struct store *s);
int store_check_state(const struct store *s);

/* Queues one negotiation outcome (everything in n is copied; received
 * strings are kept up to 1024 bytes, cut at a UTF-8 character boundary).
 * Returns 0, or -1 when the queue is full or memory is short (counted in
 * refused), or n or its device is NULL, or the store is read-only. */
int store_enqueue(struct store *s, const struct negotiation *n);

/* Commits the oldest queued entries (up to 20000 negotiations, so one call
 * never takes long, with the profiles and alert operations queued among
 * them) in one transaction. Returns how many negotiations were committed
 * (0 when none were queued), or -1 on an error (logged, counted; the
 * records stay queued for the next call). A record the schema itself
 * refuses (a constraint, twice in a row) would block the queue for ever: it
 * alone is dropped and counted. With a writer thread it only asks the
 * writer to commit now and returns 0. */
int store_flush(struct store *s);

/* Heap the store holds for the daemon's memory budget: the queued entries,
 * the queue itself, interned lists and id caches. */
size_t store_memory(const struct store *s);

/* Queued, not yet committed: negotiations, learned profiles and alert
 * operations. */
size_t store_pending(const struct store *s);

/* Retention, one small step: deletes at most max_rows negotiations, failures
 * older than before and successes older than successes_before (the later
 * of the two: [store] keep_successes), then the oldest day of daily counts
 * older than before, and, once a step finds nothing old left, the list,
 * client and device rows nothing refers to any more (a device keeps its row
 * while it has a stored profile or alert). Cut-offs go down to the start of
 * their UTC day: a day goes whole, so the days that are left keep their
 * failure rows and daily counts in agreement (queries rely on it). Returns
 * the rows deleted (negotiations and daily counts; 0: nothing left to do)
 * or -1; store_counts.purged counts negotiations. Called repeatedly in small
 * steps so it never stalls the loop; with a writer thread it only asks the
 * writer for the step and returns 0. */
int store_retain(struct store *s, int64_t before, int64_t successes_before, unsigned max_rows);

/* store_retain with one cut-off for failures and successes. */
int store_purge(struct store *s, int64_t before, unsigned max_rows);

/* Queues a device's learned server list for one slot (negotiate_slot), as
 * logged in its own proposal: comma-joined wire names. A stored list is
 * replaced only by one learned at the same time or later. Returns 0 or -1
 * (full: 8192 queued, or memory short). */
int store_enqueue_profile(struct store *s, const char *device, int slot, const char *list, int64_t learned_at);

/* A probe of a device's SSH server (the daemon's [probe]): when, the
 * address and port asked, the server's identification line (NULL: none
 * was read), the error for a person (NULL: it answered) and the lists it
 * sent per slot (enum negotiate_slot; NULL or "": unknown). Queues the
 * probe (the device's last one is kept) and its lists as profiles with
 * source 'probed' and time p->time (replacing only older probed ones).
 * Everything is copied. Returns 0 or -1 (queue full, memory short,
 * read-only store, NULL device or address). */
struct store_probe {
    const char *device;
    int64_t time;
    const char *address;
    unsigned port;
    const char *banner;
    const char *error;
    const char *lists[NEG_NSLOTS];
};
int store_enqueue_probe(struct store *s, const struct store_probe *p);

/* Calls cb for every stored learned or probed profile (restoring state at
 * start), committed ones only, oldest first within a device's slot (so the
 * newest source wins when each replaces the one before). Strings are borrowed for the call. Works read-only
 * too. Returns the count or -1. */
typedef void (*store_profile_cb)(void *arg, const char *device, int slot, const char *list, int64_t learned_at);
int store_load_profiles(struct store *s, store_profile_cb cb, void *arg);

/* The schema version of the open database and the newest this build knows. */
int store_schema_version(const struct store *s);
int store_schema_latest(void);

const struct store_counts *store_get_counts(const struct store *s);

/* ------------------------------------------------------------ history queries
 * For the kexwatch tool, on a store opened STORE_READONLY (they work on any
 * store). Answers come row by row through a callback so that the caller never
 * sees SQLite: each value is text (borrowed for the call) or an integer, or
 * null. Times are seconds since the epoch, UTC. Every query names its index
 * (sql/README) and binds every value it is given. */

struct store_value {
    const char *text; /* NULL when the value is null or an integer */
    int64_t num;
    bool is_int;
    bool is_null;
};

/* Called once per row; a non-zero return stops the query (returned as is). */
typedef int (*store_row_cb)(void *arg, size_t ncol, const char *const *names, const struct store_value *v);

enum store_by { STORE_BY_CLIENT, STORE_BY_DEVICE, STORE_BY_CATEGORY, STORE_BY_ALGORITHM, STORE_BY_MISMATCH };

struct store_failures_query {
    enum store_by by;
    int64_t from, until; /* time >= from AND time < until */
    const char *device;  /* devices.key, or NULL for every device */
};

/* Every failures question below answers the whole UTC months of its
 * window from the monthly counts, its other whole UTC days from the daily
 * counts and the partial days at its edges from the rows; the answer is the
 * same as from the rows alone. With on, they read the rows alone (slower on
 * long windows): for tests that compare the two, and kexwatch's hidden
 * --rows-only. store_days_only: daily and rows, no monthly counts (hidden
 * --days-only), for the same tests. */
void store_rows_only(struct store *s, bool on);
void store_days_only(struct store *s, bool on);

/* Failures in the window grouped by q->by, most failures first. Columns:
 * key, detail (client: its fingerprint; device: its inventory name; else
 * null), failures, devices, first_seen, last_seen. A key that is not known
 * (client type, mismatch id) is null. By algorithm, key is each name the
 * failing client offered in the failing slot (markers such as ext-info-c
 * left out; failures whose list is unknown are not counted). Returns the
 * number of rows, -1 on an error (message in err) or the callback's value. */
int store_failures(struct store *s, const struct store_failures_query *q, store_row_cb cb, void *arg, char *err,
                   size_t errsize);

/* The EXPLAIN QUERY PLAN of the statement store_failures runs for q, one
 * row per step (column "detail"), so a test can check that an index is used. */
int store_failures_plan(struct store *s, const struct store_failures_query *q, store_row_cb cb, void *arg,
                        char *err, size_t errsize);

/* Every device, most recently seen first: key, name, vendor, first_seen,
 * last_seen, failures (since the given time). */
int store_devices(struct store *s, int64_t since, store_row_cb cb, void *arg, char *err, size_t errsize);

/* One device, by key, in four parts; returns 0 when the device is unknown.
 * STORE_DEVICE_INFO: key, name, vendor, first_seen, last_seen;
 * STORE_DEVICE_PROFILE: slot, source, list, learned_at (every stored list);
 * STORE_DEVICE_FAILURES: time, category, direction, mismatch, evidence,
 *   software, fingerprint, address (failures since the time, newest first,
 *   at most limit);
 * STORE_DEVICE_CLIENTS: software, fingerprint, failures, first_seen,
 *   last_seen (client types that failed on it since the time);
 * STORE_DEVICE_PROBE: time, address, port, banner, error (its last probe;
 *   no row when never probed);
 * STORE_DEVICE_ALERTS: alert_id, status, mismatch, category, software,
 *   fingerprint, first_seen, last_seen, count, fixed_at (its alerts whose
 *   last failure is since the time, newest first, at most limit). */
enum store_device_part { STORE_DEVICE_INFO, STORE_DEVICE_PROFILE, STORE_DEVICE_FAILURES, STORE_DEVICE_CLIENTS,
                         STORE_DEVICE_PROBE, STORE_DEVICE_ALERTS };
int store_device(struct store *s, enum store_device_part part, const char *key, int64_t since, unsigned limit,
                 store_row_cb cb, void *arg, char *err, size_t errsize);

/* ---------------------------------------------------------------- alerts
 * Alert deduplication state and the delivery outbox, queued like the
 * negotiations (after them, so the device row exists) and committed at the
 * writer's next turn (at once without a writer). Each returns 0, or -1 when
 * 65536 operations are already queued (logged) or memory is short. */

struct store_alert {
    const char *alert_id; /* 32 hex digits */
    const char *device;   /* device key (its row must exist: queued negotiations are committed first) */
    const char *mismatch;
    const char *fingerprint; /* may be NULL */
    const char *category;
    const char *status;      /* "firing" or "resolved" */
    int64_t first_seen, last_seen, last_notified;
    uint64_t count;
    /* the client's identity besides its fingerprint (each may be NULL):
     * software, its list of the failing slot comma-joined, that slot's name
     * (negotiate_slot_name), the address it was seen at last */
    const char *software, *offer, *slot, *address;
    /* the alert's JSON object as last sent (may be NULL: not kept), so a
     * restored alert is re-sent and resolved with the same labels */
    const char *object;
    int64_t fixed_at; /* when a probe showed the fix applied; 0: not */
    /* the client's HASSH (may be NULL); equal to fingerprint in alerts
     * saved before fingerprints covered host keys (sql/006-hassh.sql) */
    const char *hassh;
};

/* Inserts or updates an alert (by alert_id); the device row is made when
 * missing (its negotiation may have been refused). */
int store_alert_save(struct store *s, const struct store_alert *a);

/* The same, for what may wait (the count and last_seen of repeats): does
 * not wake the writer, so it is committed in the writer's next batch
 * (within 100 ms) with the negotiations, never in a transaction of its own;
 * without a writer, at the next store_flush. Returns 0 or -1 as above. */
int store_alert_note(struct store *s, const struct store_alert *a);

/* Calls cb for every firing alert (restoring deduplication at start-up,
 * before store_start). Strings are borrowed for the call. Returns the
 * count or -1. */
typedef void (*store_alert_cb)(void *arg, const struct store_alert *a);
int store_alerts_load(struct store *s, store_alert_cb cb, void *arg);

/* Queues a notification for a sink into the outbox; *id gets its row id at
 * once. The alert must have been saved (queued) before. The sink must not
 * try it before store_outbox_committed(id) (store_after_commit tells when):
 * an accepted notification is then in the outbox across a crash. */
int store_outbox_add(struct store *s, const char *alert_id, const char *sink, const char *payload, int64_t now,
                     int64_t *id);

/* The same for one peer of a sink with several destinations (a webhook
 * URL): each peer has its own row, tried and removed on its own. */
int store_outbox_add_peer(struct store *s, const char *alert_id, const char *sink, const char *peer,
                          const char *payload, int64_t now, int64_t *id);

/* Removes every notification of sink's peer from the outbox (queued like
 * the others): the peer left the configuration. Returns 0 or -1. */
int store_outbox_forget(struct store *s, const char *sink, const char *peer);

/* At start (before store_start): removes the notifications of sink for
 * peers not among peers[0..n) (rows without a peer are kept); returns how
 * many, or -1. */
int store_outbox_prune(struct store *s, const char *sink, const char *const *peers, size_t n);

/* Whether outbox row id is committed (or was given up: the schema refused
 * it, logged) as of the last store_poll. */
bool store_outbox_committed(const struct store *s, int64_t id);

/* A notification the sink accepted: removed. */
int store_outbox_done(struct store *s, int64_t id);

/* A failed attempt: counted, next attempt time kept. Returns 0 or -1. */
int store_outbox_failed(struct store *s, int64_t id, int64_t next_attempt);

/* Calls cb for every notification of sink still in the outbox, oldest
 * first (after a restart, before store_start). Returns the count or -1. */
typedef void (*store_outbox_cb)(void *arg, int64_t id, const char *payload);
int store_outbox_load(struct store *s, const char *sink, store_outbox_cb cb, void *arg);

/* The same for one peer; with adopt, the rows without a peer too (written
 * before sinks had peers: the first peer takes them, and they become its). */
int store_outbox_load_peer(struct store *s, const char *sink, const char *peer, bool adopt, store_outbox_cb cb,
                           void *arg);

/* Client types seen or failing since from: software, fingerprint, failures
 * and devices (failed in [from, until)), fails_on (up to three device keys,
 * space-separated, most failures first), first_seen, last_seen, and the
 * offered kex, hostkey, cipher, mac and compression lists (client to
 * server). Most failures first. */
int store_clients(struct store *s, int64_t from, int64_t until, store_row_cb cb, void *arg, char *err,
                  size_t errsize);

/* Alerts whose last_seen is at or after since, firing first, then most
 * recently seen first; status "firing" or "resolved" keeps those only (NULL:
 * both). Columns: alert_id, status, device (key), name, mismatch,
 * category, software, fingerprint, address, first_seen, last_seen, count,
 * fix (remediation.server of the alert object last sent), fix_steps
 * (remediation.steps, one per line); both null when no object was kept
 * (alerts saved before schema 5). Returns the rows or -1 (err). */
int store_alerts(struct store *s, const char *status, int64_t since, store_row_cb cb, void *arg, char *err,
                 size_t errsize);

/* One alert by its id: one column, alert, its JSON object as last sent
 * with the row's status, first_seen, last_seen, count and fixed (for an
 * alert saved before schema 5, the fields the row holds). Returns the
 * rows (0: no such alert) or -1 (err). */
int store_alert_one(struct store *s, const char *alert_id, store_row_cb cb, void *arg, char *err, size_t errsize);

/* Failures per UTC day and mismatch in [from, until): day ("2026-11-24"),
 * mismatch (null: unclassified), failures; oldest day first, then most
 * failures. Returns the rows or -1 (err). */
int store_failures_daily(struct store *s, int64_t from, int64_t until, store_row_cb cb, void *arg, char *err,
                         size_t errsize);

/* Failures of [from, until) over time, for the console's charts and lists:
 * per bucket (UTC hour "2026-11-24T13:00Z", day "2026-11-24", week — its
 * Monday "2026-11-23" —, month "2026-11", or the whole window: null) and
 * series. Columns: bucket, then mismatch (MISMATCH; null: unclassified),
 * software and fingerprint (CLIENT; both null: the unidentified client
 * type), those and the device key (CLIENT_DEVICE), then failures; oldest
 * bucket first, then most failures. Whole days come from the daily counts
 * (hours from the rows). Returns the rows or -1 (err). */
enum store_bucket { STORE_BUCKET_DAY, STORE_BUCKET_HOUR, STORE_BUCKET_WEEK, STORE_BUCKET_MONTH, STORE_BUCKET_WINDOW };
enum store_series { STORE_SERIES_MISMATCH, STORE_SERIES_CLIENT, STORE_SERIES_CLIENT_DEVICE };
int store_failures_timeline(struct store *s, int64_t from, int64_t until, enum store_bucket bucket,
                            enum store_series series, store_row_cb cb, void *arg, char *err, size_t errsize);

/* kexwatch posture. store_posture_lists: every stored learned or probed
 * list, by device and slot, oldest first (the caller keeps the newest):
 * key, name, vendor, slot, source, list, learned_at, banner and probed_at
 * (the device's last probe; null when never probed).
 * store_posture_clients: the client types that negotiated successfully
 * with each device since the time: key, software, fingerprint, and their
 * kex, hostkey, cipher, mac and compression lists (client to server; null
 * when not logged; a success whose client is unknown gives a row of nulls).
 * Both return the number of rows, -1 (err) or the callback's value. */
int store_posture_lists(struct store *s, store_row_cb cb, void *arg, char *err, size_t errsize);
int store_posture_clients(struct store *s, int64_t since, store_row_cb cb, void *arg, char *err, size_t errsize);

/* Several databases at once (kexwatch --db A --db B ...): store_attach
 * attaches another kexwatch database to a STORE_READONLY store, read-only,
 * after the checks store_open makes (at most 16 in all). The _merged
 * queries then answer over the main database and every attached one (UNION
 * ALL of each one's rows): counts add up, and devices are counted distinct
 * by key across databases (client types by software and fingerprint), with
 * the columns of store_failures (not by algorithm), store_devices and
 * store_clients. They work with one database too. */
int store_attach(struct store *s, const char *path, char *err, size_t errsize);
int store_failures_merged(struct store *s, const struct store_failures_query *q, store_row_cb cb, void *arg,
                          char *err, size_t errsize);
int store_devices_merged(struct store *s, int64_t since, store_row_cb cb, void *arg, char *err, size_t errsize);
int store_clients_merged(struct store *s, int64_t from, int64_t until, store_row_cb cb, void *arg, char *err,
                         size_t errsize);

#endif
