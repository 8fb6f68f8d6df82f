/* SPDX-License-Identifier: ISC */
/* store-private.h: what the store's files share (store.c: open, migrate,
 * close; store-write.c: the queue, interning, flush and retention;
 * store-query.c: history queries; store-alert.c: alert state and outbox).
 * Included by those files only: it is the one place besides them that
 * includes sqlite3.h. See store.c for the design of the write path. */
#ifndef KW_STORE_PRIVATE_H
#define KW_STORE_PRIVATE_H

#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <sqlite3.h>

#include "hashtab.h"
#include "log.h"
#include "negotiate.h"
#include "store.h"

#define STORE_QUEUE_DEFAULT 100000              /* queued negotiations when the caller says 0 */
#define STORE_FLUSH_MAX     20000               /* negotiations per transaction: bounds one commit's time */
#define STORE_PROFILES_MAX  8192                /* queued learned lists */
#define STORE_STR_MAX       1024                /* bytes kept of a received string (device, software, reason...) */
#define STORE_CACHE_MAX     65536               /* entries per id cache before it is emptied */
#define STORE_BUSY_MS       5000                /* wait for another writer (kexwatch replay --db) this long */
#define STORE_APP_ID        0x4b455857          /* "KEXW", set by 001-initial.sql */
#define STORE_ANALYZE_US    (3600ULL * 1000000) /* planner statistics refreshed hourly */
#define STORE_OPS_MAX       65536               /* queued alert and outbox operations */
#define STORE_BATCH_US      100000              /* the writer commits at least this often */
#define STORE_BATCH_MIN     10000               /* ... and at once when this many negotiations wait */
#define STORE_DAY_ROWS      64                  /* daily rows written per statement step */

/* Common head of every cached thing: its key, which the cache's hashtab
 * borrows while the node is in it. */
struct hnode {
    size_t klen;
    char *key;
};

/* ------------------------------------------------------------ cached rows */

/* A device row as committed (or as this transaction has made it). */
struct dev_node {
    struct hnode h;
    int64_t id;
    int64_t first, last;
    char *name, *vendor;
    bool touched; /* first/last/name/vendor to be written at the end of the batch */
};

/* A client type row. key is "fingerprint\0software" ("" for unknown). */
struct cli_node {
    struct hnode h;
    int64_t id;
    int64_t first, last;
    unsigned nulls; /* bit per CL_*: list column still NULL in the row */
    bool touched;
};

/* An interned name-list. key is "names\0P" (P '1' when partial, else '0'),
 * so a partial list never matches the whole one. The row id, and used (its
 * last_used), are valid while gen equals the store's list generation. */
struct list_node {
    struct hnode h;
    _Atomic uint32_t refs; /* queued records holding it (taken by the loop, released by the writer) */
    uint64_t gen;
    int64_t id;
    int64_t used;
    bool touched; /* used to be written at the end of the batch */
};

/* The client type's lists stored with it, and the failing slot's two. */
enum { CL_KEX = 0, CL_HOSTKEY, CL_CIPHER, CL_MAC, CL_COMP, CL_FAIL_CLIENT, CL_FAIL_SERVER, CL_N };

/* Strings of a record, in this order in its buffer: FP and SOFTWARE are
 * adjacent so "fp\0software" is the client key in place. */
enum { RS_DEVICE = 0, RS_NAME, RS_VENDOR, RS_PEER, RS_FP, RS_SOFTWARE, RS_REASON, RS_MISMATCH, RS_N };

/* One queued negotiation: a deep copy, strings in one allocation. */
struct rec {
    int64_t time;
    unsigned port;
    signed char failed, category, slot, evidence;
    unsigned char nulls; /* bit per RS_*: the string was NULL */
    struct list_node *list[CL_N];
    uint16_t off[RS_N], len[RS_N];
    char buf[];
};

/* One batch's counts for one row of daily (sql/007-daily.sql): the key
 * fields, then the mismatch id, are the hashtab key (key[]); the writer
 * adds them to the table in the batch's transaction. */
struct day_key {
    int64_t day, device, client, list; /* 0 for an unknown client or list */
    int32_t failed, category;          /* category -1: none */
};
/* Nodes are carved from chunks of this many bytes (a node never spans
 * two), kept for the next batch. */
#define STORE_DAY_CHUNK 65536
struct day_chunk {
    struct day_chunk *next;
    size_t used;
    _Alignas(max_align_t) unsigned char mem[STORE_DAY_CHUNK];
};
struct month_ent;
struct day_node {
    int64_t n, first, last;
    size_t klen;
    unsigned char key[]; /* struct day_key, then the mismatch id's bytes */
};

/* One queued server list of a device: learned from its logs, or probed. */
enum { PREC_LEARNED = 0, PREC_PROBED };
struct prec {
    int64_t learned_at;
    int slot;
    int source; /* PREC_* */
    struct list_node *list;
    size_t dlen;
    char device[];
};

enum qkind { Q_NEG = 1, Q_PROFILE, Q_ALERT, Q_OUTBOX_ADD, Q_OUTBOX_DONE, Q_OUTBOX_FAILED, Q_PROBE, Q_OUTBOX_FORGET };

struct qent {
    unsigned char kind; /* enum qkind */
    uint32_t bytes;     /* heap of p, for the memory budget */
    void *p;            /* struct rec, struct prec or struct sop */
};

/* A queued alert or outbox operation; strings in buf. */
struct sop {
    int64_t id;    /* outbox row */
    int64_t t[5];  /* alert: first_seen, last_seen, last_notified, count, fixed_at; outbox: now or next attempt;
                      probe: time, port */
    uint16_t off[12];
    uint16_t nulls; /* bit per string: NULL */
    char buf[];
};

/* store_after_commit: cb runs once every entry up to seq is finished. */
struct store_waiter {
    struct store_waiter *next;
    uint64_t seq;
    void (*cb)(void *arg);
    void *arg;
};

struct store {
    sqlite3 *db;
    char *path;
    unsigned flags;
    int version;
    struct store_counts counts;
    struct log_ratelimit rl;

    /* The queue: one ring of entries in the order they were given, so an
     * alert is written after the negotiation naming its device and an
     * outbox row after its alert. Appended by the caller (the event loop),
     * written and removed by the writer; ring indexes and counts under mu.
     * Entries [qhead, qhead + qlen) never move except by the writer. */
    struct qent *q;
    size_t qsize, qhead, qlen; /* ring slots, first, entries */
    size_t qcap;               /* bound on queued negotiations */
    size_t nrec, nprof, nops;  /* queued entries of each kind */
    size_t qbytes;             /* heap of the queued entries */
    size_t lbytes;             /* loop: heap of the interned lists */
    _Atomic size_t cbytes;     /* writer: heap of the device and client caches */
    struct hashtab *known;     /* loop: client types ("fingerprint\0software") whose lists were queued */
    size_t known_bytes;        /* loop: heap of known's keys */

    /* The writer thread (store_start); without it store_flush writes on the
     * caller's thread. Counters the writer keeps are in wcounts, under mu;
     * store_get_counts merges them. */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    pthread_t thread;
    bool threaded, stop, flush_now;
    int notify_fd;              /* eventfd: the writer finished something */
    struct store_counts wcounts;
    int64_t outbox_next_id;     /* loop: the id the next outbox row gets */
    int64_t outbox_done_id;     /* under mu: every outbox row up to it committed or given up */
    int64_t outbox_seen_id;     /* loop: outbox_done_id as of the last store_poll */
    int64_t purge_before;       /* under mu: a retention step asked for (0: none) */
    int64_t purge_ok_before;    /* under mu: its cut-off for success rows (keep_successes) */
    unsigned purge_max;
    struct store_waiter *waiters; /* loop: store_after_commit callbacks, oldest first */
    struct store_waiter **waiters_tail;
    uint64_t enq_seq;           /* under mu: entries ever queued */
    uint64_t done_seq;          /* under mu: entries ever finished (committed or given up) */

    /* the integrity check, on its own thread and connection (store_check_start) */
    pthread_t check_thread;
    bool check_running;
    sqlite3 *check_db;
    _Atomic int check_state; /* STORE_CHECK_* */

    /* caches keyed by hnode.key (hashtab.h): the writer's devices and
     * clients, the loop's interned lists */
    struct hashtab *devices, *clients, *lists;
    uint64_t list_gen;
    /* rows touched by the current batch; sized so they cannot overflow (a
     * record touches one device, one client type, two lists) */
    struct dev_node **dtouched;
    size_t ndtouched, dtouched_cap;
    struct cli_node **ctouched;
    size_t nctouched, ctouched_cap;
    struct list_node **ltouched;
    size_t nltouched, ltouched_cap;

    char lasterr[256]; /* SQLite's words for the last failed transaction */
    char *scratch;     /* joining lists */
    size_t scratch_cap;

    /* the batch's daily counts (writer): by key in days, in order in dnodes */
    struct hashtab *days;
    struct day_node **dnodes;
    size_t ndnodes, dnodes_cap;
    struct day_chunk *dchunks; /* where the nodes live: chunks, never moved, reused */
    struct day_chunk *dcur;
    struct month_ent *ments; /* the batch's monthly counts (write_months), reused */
    size_t mcap;

    bool orphans_due;     /* negotiations were purged since the last orphan pass */
    bool rows_only;       /* queries read failures from rows only (store_rows_only) */
    bool days_only;       /* ... from daily and rows, no monthly (store_days_only) */
    uint64_t analyzed_us; /* when the planner's statistics were last refreshed */

    sqlite3_stmt *st_begin, *st_commit, *st_rollback;
    sqlite3_stmt *st_dev_sel, *st_dev_ins, *st_dev_upd;
    sqlite3_stmt *st_cli_sel, *st_cli_ins, *st_cli_fill, *st_cli_upd;
    sqlite3_stmt *st_list_sel, *st_list_ins, *st_list_upd, *st_item_ins;
    sqlite3_stmt *st_neg_ins, *st_prof_up, *st_prof_load, *st_daily_up, *st_daily_up_many;
    sqlite3_stmt *st_purge_fail, *st_purge_ok, *st_purge_old, *st_purge_cli, *st_purge_dev, *st_purge_list;
    sqlite3_stmt *st_purge_daily, *st_purge_monthly, *st_monthly_up, *st_monthly_up_many, *st_count_ok;
};

/* ------------------------------------------------------------ small helpers */

static inline void set_err(char *err, size_t errsize, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static inline void set_err(char *err, size_t errsize, const char *fmt, ...)
{
    if (!err || !errsize)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errsize, fmt, ap);
    va_end(ap);
}

/* The UTC day of a time (floor, also before 1970) and the first second of
 * a day: daily's day column (sql/007-daily.sql). */
#define STORE_DAY 86400
static inline int64_t day_of(int64_t t)
{
    return t / STORE_DAY - (t % STORE_DAY < 0);
}

/* The UTC day number of the first day of day's month: monthly's month
 * column (sql/009-monthly.sql). The civil calendar from a day count
 * (proleptic Gregorian, any day an int64_t time can have). */
static inline int64_t month_start(int64_t day)
{
    int64_t z = day + 719468, era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    return day - (doy - (153 * mp + 2) / 5);
}

static inline uint64_t mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* Length of s kept: at most max bytes, not ending inside a UTF-8 sequence. */
static inline size_t cut_len(const char *s, size_t max)
{
    size_t n = strlen(s);
    if (n <= max)
        return n;
    n = max;
    while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
        n--;
    return n;
}

static inline int bind_text(sqlite3_stmt *st, int i, const char *p, size_t n)
{
    if (!p)
        return sqlite3_bind_null(st, i);
    /* static: every bound string outlives the statement's reset */
    return sqlite3_bind_text(st, i, p, (int)n, SQLITE_STATIC);
}

static inline int bind_id(sqlite3_stmt *st, int i, int64_t id)
{
    return id > 0 ? sqlite3_bind_int64(st, i, id) : sqlite3_bind_null(st, i);
}

/* Runs a statement that returns no rows; 0 or the SQLite error code. */
static inline int run(sqlite3_stmt *st)
{
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return rc == SQLITE_DONE || rc == SQLITE_ROW ? 0 : rc;
}

/* Runs a statement of fixed text (no received data in it) to the end;
 * *first (may be NULL) gets a copy of the first column of the first row. */
static inline int exec_sql(sqlite3 *db, const char *sql, char *first, size_t firstsize)
{
    sqlite3_stmt *st;
    const char *tail = sql;
    if (first && firstsize)
        first[0] = '\0';
    while (tail && *tail) {
        int rc = sqlite3_prepare_v2(db, tail, -1, &st, &tail);
        if (rc != SQLITE_OK)
            return rc;
        if (!st) /* only whitespace or comments left */
            break;
        while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
            if (first && firstsize && !first[0]) {
                const unsigned char *t = sqlite3_column_text(st, 0);
                snprintf(first, firstsize, "%s", t ? (const char *)t : "");
            }
        }
        sqlite3_finalize(st);
        if (rc != SQLITE_DONE)
            return rc;
    }
    return SQLITE_OK;
}

static inline int pragma_int(sqlite3 *db, const char *sql, int *out)
{
    sqlite3_stmt *st;
    int rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
    if (rc != SQLITE_OK)
        return rc;
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        *out = sqlite3_column_int(st, 0);
        rc = SQLITE_OK;
    }
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

/* store-write.c: allocates the queues of a writable store (queue_max
 * negotiations, 0: the default); 0 or -1 when memory is short. */
int store_writer_init(struct store *s, size_t queue_max);

/* store-write.c: frees what is queued (uncommitted: lost) and the caches. */
void store_writer_free(struct store *s);

/* Copies the writer's counters into the caller's view (under mu). */
static inline void store_counts_merge(struct store *s)
{
    s->counts.committed = s->wcounts.committed;
    s->counts.batches = s->wcounts.batches;
    s->counts.errors = s->wcounts.errors;
    s->counts.dropped = s->wcounts.dropped;
    s->counts.purged = s->wcounts.purged;
    s->counts.last_batch_us = s->wcounts.last_batch_us;
}

/* store-write.c: runs every pending store_after_commit callback, finished
 * or not (closing). */
void store_waiters_release(struct store *s);

/* store-write.c: stops the writer thread (if any) once it has committed
 * what it could; the caller's thread owns the connection again. */
void store_writer_stop(struct store *s);

/* store-write.c: refreshes the planner's statistics (a few milliseconds). */
void store_refresh_statistics(struct store *s);

/* store-write.c: appends an entry (under mu); 0, or -1 when its kind's
 * bound is reached. Wakes the writer when urgent. */
int store_queue_push(struct store *s, enum qkind kind, void *p, size_t bytes, bool urgent);

/* store-alert.c: writes one queued alert or outbox operation in the
 * writer's transaction; 0 or the SQLite error code. */
int store_op_write(struct store *s, enum qkind kind, struct sop *op);

/* store-alert.c: a queued operation of n (up to 12) strings, NULL kept as
 * NULL (*bytes: its heap); string i of it; queues it (committed at once
 * without a writer thread; what: the log's words when the queue is full).
 * 0 or -1 (op freed). */
struct sop *store_sop_new(const char *const *str, int n, size_t *bytes);
const char *store_sop_str(const struct sop *op, int i);
int store_push_op(struct store *s, enum qkind kind, struct sop *op, size_t bytes, const char *what);

/* store-query.c: runs a query of fixed text (its ?1, when bind1 is not
 * NULL, bound to *bind1) row by row into cb, as the history queries do.
 * Returns the rows, the callback's non-zero value or -1 (err). */
int store_query_rows(struct store *s, const char *sql, const int64_t *bind1, store_row_cb cb, void *arg, char *err,
                     size_t errsize);

/* store-probe.c: writes a queued probe (Q_PROBE) inside the transaction. */
int store_probe_write(struct store *s, const struct sop *op);
/* store-write.c: queues a server list of a device with its source. */
int store_enqueue_list(struct store *s, const char *device, int slot, const char *list, int64_t at, int source);

/* store-alert.c: the outbox row id the next notification gets, read at open. */
int store_outbox_init(struct store *s);

/* store-write.c: the device row for key in the writer's cache (inserted
 * when missing, first/last seen raised to t); 0 or the SQLite error. */
int store_device_id(struct store *s, const char *key, int64_t t, int64_t *id);

#endif
