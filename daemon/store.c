/* SPDX-License-Identifier: ISC */
/* store: negotiation history and device state in SQLite (see store.h).
 *
 * Files: store.c opens, checks, migrates and closes the database;
 * store-write.c queues, interns and flushes (below); store-query.c answers
 * history questions; store-alert.c keeps alert state and the outbox; they
 * share store-private.h.
 *
 * Shape: store_enqueue() deep-copies a negotiation into a bounded FIFO;
 * store_flush() writes up to STORE_FLUSH_MAX of them in one transaction,
 * resolving device, client type and list ids through in-memory caches so the
 * common case is one INSERT per negotiation. Name-lists are interned: every
 * queued record that carries the same list shares one refcounted copy, which
 * also remembers the list's row id.
 *
 * Cache validity: device and client caches are dropped whole whenever a
 * transaction rolls back or retention deletes rows they may name; list ids
 * are tagged with a generation that is bumped on the same events. So a
 * cached id is one that was committed. Another process (kexwatch replay
 * --db) may still delete a row under us: the batch's closing update of that
 * row's last_seen/last_used then finds nothing, and the batch is redone with
 * empty caches.
 *
 * Negotiations name devices, client types and lists without declared
 * foreign keys (see sql/001-initial.sql); what keeps them right is that each
 * batch raises the last_seen/last_used of every row it names, in the same
 * transaction, and retention deletes only rows older than its cut-off once
 * no older negotiation is left.
 */
#include "config.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "stats.h"
#include "store-private.h"

/* Generated from sql/NNN-*.sql by sql/embed.sh. */
extern const char *const store_migrations[];
extern const char *const store_migration_names[];
extern const int store_migration_count;

/* ------------------------------------------------------------ open / close */

#define DAILY_UPSERT(values)                                                                                         \
    "INSERT INTO daily (failed, day, device_id, client_id, category, mismatch, client_list, n, first, last)"          \
    " VALUES " values " ON CONFLICT (failed, day, device_id, client_id, category, mismatch, client_list) DO UPDATE SET" \
    " n = n + excluded.n, first = min(first, excluded.first), last = max(last, excluded.last)"
#define MONTHLY_UPSERT(values)                                                                                       \
    "INSERT INTO monthly (month, device_id, client_id, category, mismatch, client_list, n, first, last)"              \
    " VALUES " values " ON CONFLICT (month, device_id, client_id, category, mismatch, client_list) DO UPDATE SET"      \
    " n = n + excluded.n, first = min(first, excluded.first), last = max(last, excluded.last)"

/* Writes to buf (at least STORE_DAY_ROWS * strlen(one) bytes) the VALUES
 * list of STORE_DAY_ROWS rows of one's shape "(?, ?, ...), ", unterminated
 * by the last ", ". */
static void values_rows(char *buf, const char *one)
{
    size_t len = strlen(one);
    for (int i = 0; i < STORE_DAY_ROWS; i++)
        memcpy(buf + (size_t)i * len, one, len);
    buf[STORE_DAY_ROWS * len - 2] = '\0';
}

static int prepare_all(struct store *s)
{
    /* one statement step per STORE_DAY_ROWS daily (and monthly: no outcome
     * column) rows: a row each costs as much again in statement overhead as
     * in the table */
    static const char one_day[] = "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?), ", one_month[] = "(?, ?, ?, ?, ?, ?, ?, ?, ?), ";
    char values[STORE_DAY_ROWS * sizeof one_day], daily_many[sizeof values + 400], monthly_many[sizeof values + 400];
    values_rows(values, one_day);
    snprintf(daily_many, sizeof daily_many, DAILY_UPSERT("%s"), values);
    values_rows(values, one_month);
    snprintf(monthly_many, sizeof monthly_many, MONTHLY_UPSERT("%s"), values);
    struct {
        sqlite3_stmt **st;
        const char *sql;
        bool write;
    } const stmts[] = {
        {&s->st_begin, "BEGIN IMMEDIATE", true},
        {&s->st_commit, "COMMIT", true},
        {&s->st_rollback, "ROLLBACK", true},
        {&s->st_dev_sel, "SELECT id, name, vendor, first_seen, last_seen FROM devices WHERE key = ?1", true},
        {&s->st_dev_ins, "INSERT INTO devices (key, name, vendor, first_seen, last_seen) VALUES (?1, ?2, ?3, ?4, ?4)",
         true},
        {&s->st_dev_upd,
         "UPDATE devices SET name = coalesce(?2, name), vendor = coalesce(?3, vendor),"
         " first_seen = min(first_seen, ?4), last_seen = max(last_seen, ?5) WHERE id = ?1",
         true},
        {&s->st_cli_sel,
         "SELECT id, first_seen, last_seen, kex_list IS NULL, hostkey_list IS NULL, cipher_list IS NULL,"
         " mac_list IS NULL, compression_list IS NULL FROM clients"
         " WHERE ifnull(fingerprint, '') = ?1 AND ifnull(software, '') = ?2",
         true},
        {&s->st_cli_ins,
         "INSERT INTO clients (fingerprint, software, first_seen, last_seen, kex_list, hostkey_list,"
         " cipher_list, mac_list, compression_list) VALUES (?1, ?2, ?3, ?3, ?4, ?5, ?6, ?7, ?8)",
         true},
        {&s->st_cli_fill,
         "UPDATE clients SET kex_list = coalesce(kex_list, ?2), hostkey_list = coalesce(hostkey_list, ?3),"
         " cipher_list = coalesce(cipher_list, ?4), mac_list = coalesce(mac_list, ?5),"
         " compression_list = coalesce(compression_list, ?6) WHERE id = ?1",
         true},
        {&s->st_cli_upd,
         "UPDATE clients SET first_seen = min(first_seen, ?2), last_seen = max(last_seen, ?3) WHERE id = ?1", true},
        {&s->st_list_sel, "SELECT id, last_used FROM lists WHERE names = ?1 AND partial = ?2", true},
        {&s->st_list_ins, "INSERT INTO lists (names, partial, last_used) VALUES (?1, ?2, ?3)", true},
        {&s->st_list_upd, "UPDATE lists SET last_used = max(last_used, ?2) WHERE id = ?1", true},
        {&s->st_item_ins, "INSERT INTO list_items (list_id, pos, name) VALUES (?1, ?2, ?3)", true},
        {&s->st_neg_ins,
         "INSERT INTO negotiations (time, device_id, client_id, address, port, failed, category, direction,"
         " evidence, mismatch, client_list, server_list, reason)"
         " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
         true},
        {&s->st_prof_up,
         "INSERT INTO profiles (device_id, slot, source, list_id, learned_at) VALUES (?1, ?2, ?5, ?3, ?4)"
         " ON CONFLICT (device_id, slot, source) DO UPDATE SET list_id = excluded.list_id,"
         " learned_at = excluded.learned_at WHERE excluded.learned_at >= profiles.learned_at",
         true},
        {&s->st_prof_load,
         "SELECT d.key, p.slot, l.names, p.learned_at FROM profiles p JOIN devices d ON d.id = p.device_id"
         " JOIN lists l ON l.id = p.list_id WHERE p.source IN ('learned', 'probed')"
         " ORDER BY d.key, p.slot, p.learned_at",
         false},
        /* failures and successes each by their own time index */
        {&s->st_purge_fail,
         "DELETE FROM negotiations WHERE id IN"
         " (SELECT id FROM negotiations WHERE failed = 1 AND time < ?1 LIMIT ?2)",
         true},
        {&s->st_purge_ok,
         "DELETE FROM negotiations WHERE id IN"
         " (SELECT id FROM negotiations WHERE failed = 0 AND time < ?1 LIMIT ?2)",
         true},
        /* the success rows st_purge_ok deletes next (its subquery, word for
         * word), counted in daily first: a success is a count once its row
         * is gone (sql/009-monthly.sql) */
        {&s->st_count_ok,
         "INSERT INTO daily (failed, day, device_id, client_id, category, mismatch, client_list, n, first, last)"
         " SELECT 0, (time - ((time % 86400) + 86400) % 86400) / 86400, device_id, ifnull(client_id, 0),"
         " ifnull(category, ''), ifnull(mismatch, ''), ifnull(client_list, 0), count(*), min(time), max(time)"
         " FROM negotiations WHERE id IN"
         " (SELECT id FROM negotiations WHERE failed = 0 AND time < ?1 LIMIT ?2)"
         " GROUP BY 2, 3, 4, 5, 6, 7"
         " ON CONFLICT (failed, day, device_id, client_id, category, mismatch, client_list) DO UPDATE SET"
         " n = n + excluded.n, first = min(first, excluded.first), last = max(last, excluded.last)",
         true},
        {&s->st_purge_old,
         "SELECT EXISTS (SELECT 1 FROM negotiations WHERE failed = 1 AND time < ?1)"
         " OR EXISTS (SELECT 1 FROM negotiations WHERE failed = 0 AND time < ?1)"
         " OR EXISTS (SELECT 1 FROM daily WHERE failed = 1 AND day < ?2)"
         " OR EXISTS (SELECT 1 FROM daily WHERE failed = 0 AND day < ?2)"
         " OR EXISTS (SELECT 1 FROM monthly WHERE month < ?3)",
         true},
        /* counts of one outcome before the cut-off day, oldest first */
        {&s->st_purge_daily,
         "DELETE FROM daily WHERE (failed, day, device_id, client_id, category, mismatch, client_list) IN"
         " (SELECT failed, day, device_id, client_id, category, mismatch, client_list FROM daily"
         "  WHERE failed = ?2 AND day < ?1 ORDER BY day LIMIT ?3)",
         true},
        /* a batch's counts per daily row (store-write.c), and the same for
         * STORE_DAY_ROWS rows at once */
        {&s->st_daily_up, DAILY_UPSERT("(?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"), true},
        {&s->st_daily_up_many, daily_many, true},
        /* monthly: the months all of whose days are gone, oldest first;
         * a batch's failure counts per month row */
        {&s->st_purge_monthly,
         "DELETE FROM monthly WHERE (month, device_id, client_id, category, mismatch, client_list) IN"
         " (SELECT month, device_id, client_id, category, mismatch, client_list FROM monthly"
         "  WHERE month < ?1 ORDER BY month LIMIT ?2)",
         true},
        {&s->st_monthly_up, MONTHLY_UPSERT("(?, ?, ?, ?, ?, ?, ?, ?, ?)"), true},
        {&s->st_monthly_up_many, monthly_many, true},
        {&s->st_purge_cli, "DELETE FROM clients WHERE id IN (SELECT id FROM clients WHERE last_seen < ?1 LIMIT ?2)",
         true},
        {&s->st_purge_dev,
         "DELETE FROM devices WHERE id IN (SELECT d.id FROM devices d WHERE d.last_seen < ?1"
         " AND NOT EXISTS (SELECT 1 FROM profiles p WHERE p.device_id = d.id)"
         " AND NOT EXISTS (SELECT 1 FROM alerts a WHERE a.device_id = d.id) LIMIT ?2)",
         true},
        {&s->st_purge_list,
         "DELETE FROM lists WHERE id IN (SELECT l.id FROM lists l WHERE l.last_used < ?1"
         " AND l.id NOT IN (SELECT kex_list FROM clients WHERE kex_list IS NOT NULL"
         " UNION ALL SELECT hostkey_list FROM clients WHERE hostkey_list IS NOT NULL"
         " UNION ALL SELECT cipher_list FROM clients WHERE cipher_list IS NOT NULL"
         " UNION ALL SELECT mac_list FROM clients WHERE mac_list IS NOT NULL"
         " UNION ALL SELECT compression_list FROM clients WHERE compression_list IS NOT NULL)"
         " AND NOT EXISTS (SELECT 1 FROM profiles p WHERE p.list_id = l.id) LIMIT ?2)",
         true},
    };
    bool ro = s->flags & STORE_READONLY;
    for (size_t i = 0; i < sizeof stmts / sizeof stmts[0]; i++)
        if ((!ro || !stmts[i].write) &&
            sqlite3_prepare_v3(s->db, stmts[i].sql, -1, SQLITE_PREPARE_PERSISTENT, stmts[i].st, NULL) != SQLITE_OK)
            return -1;
    return 0;
}

/* The operator's message for an error met while reading the file. */
static void explain_read_error(struct store *s, sqlite3 *db, int rc, char *err, size_t errsize)
{
    switch (rc & 0xff) {
    case SQLITE_NOTADB:
        set_err(err, errsize,
                "%s: not a SQLite database, or its header is corrupt (%s); move it aside and restart to start a "
                "new one",
                s->path, sqlite3_errmsg(db));
        break;
    case SQLITE_CORRUPT:
        set_err(err, errsize, "%s: database is corrupt (%s); move it aside and restart to start a new one", s->path,
                sqlite3_errmsg(db));
        break;
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
        set_err(err, errsize,
                "%s: database stayed locked for %d s by another program (%s); stop it or wait, then retry", s->path,
                STORE_BUSY_MS / 1000, sqlite3_errmsg(db));
        break;
    case SQLITE_CANTOPEN:
    case SQLITE_READONLY:
    case SQLITE_PERM:
        set_err(err, errsize,
                "%s: cannot open (%s); SQLite must be able to write %s-wal and %s-shm beside the database: check "
                "the owner and mode of those files and of the directory",
                s->path, sqlite3_errmsg(db), s->path, s->path);
        break;
    default: set_err(err, errsize, "%s: cannot read the database (%s)", s->path, sqlite3_errmsg(db)); break;
    }
}

/* The directory part of path ("." when none), into buf. */
static void dir_of(const char *path, char *buf, size_t size)
{
    const char *slash = strrchr(path, '/');
    if (!slash)
        snprintf(buf, size, ".");
    else if (slash == path)
        snprintf(buf, size, "/");
    else
        snprintf(buf, size, "%.*s", (int)(slash - path), path);
}

/* Checks, before SQLite does, what it would report less clearly: a missing
 * or read-only directory, a read-only file. */
static int check_access(struct store *s, char *err, size_t errsize)
{
    char dir[4096];
    struct stat sb;
    dir_of(s->path, dir, sizeof dir);
    bool ro = s->flags & STORE_READONLY;
    if (stat(s->path, &sb) < 0) {
        if (errno != ENOENT) {
            set_err(err, errsize, "%s: cannot access: %s", s->path, strerror(errno));
            return -1;
        }
        if (ro) {
            set_err(err, errsize,
                    "%s: no database there (kexwatchd creates it when it starts; check [store] database or --db)",
                    s->path);
            return -1;
        }
        if (stat(dir, &sb) < 0 || !S_ISDIR(sb.st_mode)) {
            set_err(err, errsize,
                    "%s: cannot create: directory %s does not exist; create it (owned by the user "
                    "kexwatchd runs as)",
                    s->path, dir);
            return -1;
        }
        if (access(dir, W_OK | X_OK) < 0) {
            set_err(err, errsize,
                    "%s: cannot create: read-only directory %s (%s); make it writable for the user "
                    "kexwatchd runs as",
                    s->path, dir, strerror(errno));
            return -1;
        }
        return 0;
    }
    if (S_ISDIR(sb.st_mode)) {
        set_err(err, errsize, "%s: is a directory; [store] database names the database file", s->path);
        return -1;
    }
    if (access(s->path, ro ? R_OK : R_OK | W_OK) < 0) {
        set_err(err, errsize, "%s: %s (%s); check the file's owner and mode", s->path,
                ro ? "cannot read the database" : "the database file is read-only", strerror(errno));
        return -1;
    }
    if (!ro && access(dir, W_OK | X_OK) < 0) {
        set_err(err, errsize,
                "%s: read-only directory %s (%s); SQLite creates %s-wal and %s-shm beside the "
                "database: make the directory writable for the user kexwatchd runs as",
                s->path, dir, strerror(errno), s->path, s->path);
        return -1;
    }
    return 0;
}

/* Runs PRAGMA quick_check on db: O(database size), so never for a query,
 * and for the daemon on a thread of its own (store_check_start). Returns 0,
 * 1 when interrupted, or -1 with the operator's message in err. */
static int quick_check_db(struct store *s, sqlite3 *db, char *err, size_t errsize)
{
    sqlite3_stmt *st;
    int rc = sqlite3_prepare_v2(db, "PRAGMA quick_check", -1, &st, NULL);
    if (rc != SQLITE_OK) {
        explain_read_error(s, db, rc, err, errsize);
        return -1;
    }
    char first[256] = "";
    int problems = 0;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *t = (const char *)sqlite3_column_text(st, 0);
        if (t && strcmp(t, "ok") == 0)
            continue;
        if (!problems++)
            snprintf(first, sizeof first, "%s", t ? t : "?");
    }
    sqlite3_finalize(st);
    if ((rc & 0xff) == SQLITE_INTERRUPT)
        return 1;
    if (rc != SQLITE_DONE) {
        explain_read_error(s, db, rc, err, errsize);
        return -1;
    }
    if (problems) {
        set_err(err, errsize,
                "%s: database is corrupt (quick_check: %s%s); move it aside and restart to start a new one", s->path,
                first, problems > 1 ? ", and more" : "");
        return -1;
    }
    return 0;
}

/* Applies migrations from+1 .. latest, each in its own transaction with
 * its user_version. Foreign keys are off meanwhile, as SQLite's procedure
 * for rebuilding tables requires, and checked before each commit. */
static int migrate_steps(struct store *s, int from, char *err, size_t errsize)
{
    char buf[256];
    int rc = exec_sql(s->db, "PRAGMA foreign_keys = OFF", NULL, 0);
    for (int v = from + 1; rc == SQLITE_OK && v <= store_migration_count; v++) {
        const char *name = store_migration_names[v - 1];
        char setv[64];
        snprintf(setv, sizeof setv, "PRAGMA user_version = %d", v);
        if ((rc = exec_sql(s->db, "BEGIN IMMEDIATE", NULL, 0)) != SQLITE_OK)
            break;
        if ((rc = exec_sql(s->db, store_migrations[v - 1], NULL, 0)) == SQLITE_OK &&
            (rc = exec_sql(s->db, "PRAGMA foreign_key_check", buf, sizeof buf)) == SQLITE_OK && buf[0]) {
            set_err(err, errsize,
                    "%s: migration %s leaves rows of table %s pointing nowhere; the database is "
                    "unchanged at version %d",
                    s->path, name, buf, v - 1);
            exec_sql(s->db, "ROLLBACK", NULL, 0);
            return -1;
        }
        if (rc == SQLITE_OK)
            rc = exec_sql(s->db, setv, NULL, 0);
        if (rc == SQLITE_OK)
            rc = exec_sql(s->db, "COMMIT", NULL, 0);
        if (rc != SQLITE_OK) {
            set_err(err, errsize, "%s: migration %s failed (%s); the database is unchanged at version %d", s->path,
                    name, sqlite3_errmsg(s->db), v - 1);
            if (!sqlite3_get_autocommit(s->db))
                exec_sql(s->db, "ROLLBACK", NULL, 0);
            return -1;
        }
        s->version = v;
    }
    if (rc != SQLITE_OK) {
        set_err(err, errsize, "%s: cannot upgrade the schema (%s)", s->path, sqlite3_errmsg(s->db));
        return -1;
    }
    if (from < s->version) {
        if (from == 0)
            log_info("database %s: created (schema version %d)", s->path, s->version);
        else
            log_notice("database %s: schema upgraded from version %d to %d", s->path, from, s->version);
    }
    return 0;
}

/* migrate_steps with the sorts and temporary tables of the migrations in
 * temporary files (SQLite's temporary directory: SQLITE_TMPDIR, TMPDIR or
 * /var/tmp) instead of memory, as the store's own statements have them:
 * building the counts of a large history sorts all of it (measured on
 * 100,000,000 negotiations: tests/bench/README.md). */
static int migrate(struct store *s, int from, char *err, size_t errsize)
{
    if (from >= store_migration_count)
        return migrate_steps(s, from, err, errsize);
    int rc = exec_sql(s->db, "PRAGMA temp_store = FILE", NULL, 0);
    if (rc != SQLITE_OK) {
        set_err(err, errsize, "%s: cannot upgrade the schema (%s)", s->path, sqlite3_errmsg(s->db));
        return -1;
    }
    int ret = migrate_steps(s, from, err, errsize);
    if ((rc = exec_sql(s->db, "PRAGMA temp_store = MEMORY", NULL, 0)) != SQLITE_OK && ret == 0) {
        set_err(err, errsize, "%s: cannot set temp_store (%s)", s->path, sqlite3_errmsg(s->db));
        ret = -1;
    }
    return ret;
}

static int open_db(struct store *s, char *err, size_t errsize)
{
    bool ro = s->flags & STORE_READONLY;
    if (check_access(s, err, errsize) < 0)
        return -1;
    int oflags = ro ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE;
    int rc = sqlite3_open_v2(s->path, &s->db, oflags | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK) {
        set_err(err, errsize, "%s: cannot open: %s", s->path, s->db ? sqlite3_errmsg(s->db) : sqlite3_errstr(rc));
        return -1;
    }
    sqlite3_extended_result_codes(s->db, 1);
    sqlite3_busy_timeout(s->db, STORE_BUSY_MS);
    if (!ro && sqlite3_db_readonly(s->db, "main") == 1) {
        set_err(err, errsize, "%s: the database file is read-only; check its owner and mode", s->path);
        return -1;
    }

    int version = 0, app_id = 0, objects = 0;
    if ((rc = pragma_int(s->db, "PRAGMA user_version", &version)) != SQLITE_OK ||
        (rc = pragma_int(s->db, "PRAGMA application_id", &app_id)) != SQLITE_OK ||
        (rc = pragma_int(s->db, "SELECT count(*) FROM sqlite_master", &objects)) != SQLITE_OK) {
        explain_read_error(s, s->db, rc, err, errsize);
        return -1;
    }
    if (app_id != 0 && app_id != STORE_APP_ID) {
        set_err(err, errsize, "%s: not a kexwatch database (application_id 0x%08x); give kexwatch a path of its own",
                s->path, (unsigned)app_id);
        return -1;
    }
    if (version == 0 && objects > 0) {
        set_err(err, errsize,
                "%s: not a kexwatch database (it has tables, but no kexwatch schema version); give "
                "kexwatch a path of its own",
                s->path);
        return -1;
    }
    if (version > store_migration_count) {
        set_err(err, errsize,
                "%s: schema version %d is newer than this kexwatch (%d); upgrade kexwatch or use "
                "another database",
                s->path, version, store_migration_count);
        return -1;
    }
    s->version = version;

    if (ro) {
        if (version == 0) {
            set_err(err, errsize, "%s: not a kexwatch database (empty); check --db or [store] database", s->path);
            return -1;
        }
        if (version < store_migration_count) {
            set_err(err, errsize,
                    "%s: schema version %d is older than this kexwatch (%d); start kexwatchd of this "
                    "version once to upgrade it",
                    s->path, version, store_migration_count);
            return -1;
        }
        if ((rc = exec_sql(s->db, "PRAGMA query_only = ON", NULL, 0)) != SQLITE_OK) {
            explain_read_error(s, s->db, rc, err, errsize);
            return -1;
        }
        return 0;
    }

    if (version > 0 && !(s->flags & STORE_NOCHECK) && quick_check_db(s, s->db, err, errsize) != 0)
        return -1;
    char mode[32];
    if ((rc = exec_sql(s->db, "PRAGMA journal_mode = WAL", mode, sizeof mode)) != SQLITE_OK) {
        explain_read_error(s, s->db, rc, err, errsize);
        return -1;
    }
    if (strcmp(mode, "wal") != 0) {
        set_err(err, errsize,
                "%s: cannot use write-ahead logging (journal mode stays \"%s\"); the database must be "
                "on a local file system",
                s->path, mode);
        return -1;
    }
    /* NORMAL: a power cut may lose the last commits, never consistency.
     * Checkpoints every 8000 pages (32 MiB) rather than SQLite's 1000: a
     * batch of failures rewrites a page of failures_device per device, and
     * a longer WAL lets one checkpoint write each such page once for several
     * batches (measured: +20% stored/s). The WAL file is cut back to 64 MiB
     * after a checkpoint; 32 MiB of page cache holds the indexes' hot pages. */
    if ((rc = exec_sql(s->db,
                       "PRAGMA synchronous = NORMAL; PRAGMA wal_autocheckpoint = 8000;"
                       " PRAGMA journal_size_limit = 67108864; PRAGMA cache_size = -32768;"
                       " PRAGMA temp_store = MEMORY",
                       NULL, 0)) != SQLITE_OK) {
        explain_read_error(s, s->db, rc, err, errsize);
        return -1;
    }
    if (migrate(s, version, err, errsize) < 0)
        return -1;
    int fk = 0;
    if ((rc = exec_sql(s->db, "PRAGMA foreign_keys = ON", NULL, 0)) != SQLITE_OK ||
        (rc = pragma_int(s->db, "PRAGMA foreign_keys", &fk)) != SQLITE_OK || fk != 1) {
        set_err(err, errsize, "%s: cannot turn foreign keys on (this SQLite lacks them?)", s->path);
        return -1;
    }
    return 0;
}

static void finalize_all(struct store *s)
{
    sqlite3_stmt **all[] = {
        &s->st_begin,    &s->st_commit,    &s->st_rollback,  &s->st_dev_sel,   &s->st_dev_ins,    &s->st_dev_upd,
        &s->st_cli_sel,  &s->st_cli_ins,   &s->st_cli_fill,  &s->st_cli_upd,   &s->st_list_sel,   &s->st_list_ins,
        &s->st_list_upd, &s->st_item_ins,  &s->st_neg_ins,   &s->st_prof_up,   &s->st_prof_load,  &s->st_purge_fail,
        &s->st_purge_ok, &s->st_purge_old, &s->st_purge_cli, &s->st_purge_dev, &s->st_purge_list,
        &s->st_purge_daily, &s->st_daily_up, &s->st_daily_up_many, &s->st_purge_monthly, &s->st_monthly_up,
        &s->st_monthly_up_many, &s->st_count_ok,
    };
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) {
        sqlite3_finalize(*all[i]);
        *all[i] = NULL;
    }
}

static void check_stop(struct store *s);

static void store_destroy(struct store *s)
{
    stats_unregister(s, sizeof *s);
    check_stop(s);
    finalize_all(s);
    if (s->db)
        sqlite3_close(s->db);
    store_writer_free(s);
    if (s->notify_fd >= 0)
        close(s->notify_fd);
    pthread_mutex_destroy(&s->mu);
    pthread_cond_destroy(&s->cv);
    free(s->path);
    free(s);
}

/* ---------------------------------------------------------------- counters */

#define STORE_COUNT(f)                                                                                                \
    static double read_##f(const void *s)                                                                             \
    {                                                                                                                 \
        return (double)store_get_counts(s)->f;                                                                        \
    }
STORE_COUNT(queued)
STORE_COUNT(committed)
STORE_COUNT(refused)
STORE_COUNT(batches)
STORE_COUNT(errors)
STORE_COUNT(dropped)
STORE_COUNT(purged)
#undef STORE_COUNT

static double read_last_batch(const void *s)
{
    return (double)store_get_counts(s)->last_batch_us / 1e6;
}

static double read_pending(const void *s)
{
    return (double)store_pending(s);
}

static double read_check_failed(const void *s)
{
    return store_check_state(s) == STORE_CHECK_FAILED;
}

/* the file and its write-ahead log */
static double read_bytes(const void *arg)
{
    const struct store *s = arg;
    struct stat sb;
    double size = 0;
    char wal[4200];
    if (stat(s->path, &sb) == 0)
        size += (double)sb.st_size;
    snprintf(wal, sizeof wal, "%s-wal", s->path);
    if (stat(wal, &sb) == 0)
        size += (double)sb.st_size;
    return size;
}

/* A writable store's counters in the daemon's registry (stats.h). */
static void register_counters(struct store *s)
{
    stats_register("store_queued", STATS_COUNTER, "negotiations queued for the database", read_queued, s);
    stats_register("store_committed", STATS_COUNTER, "negotiations committed to the database", read_committed, s);
    stats_register("store_refused", STATS_COUNTER, "negotiations refused: database queue full", read_refused, s);
    stats_register("store_batches", STATS_COUNTER, "database transactions committed", read_batches, s);
    stats_register("store_errors", STATS_COUNTER, "failed database transactions (retried)", read_errors, s);
    stats_register("store_dropped", STATS_COUNTER, "records the schema refused twice (a bug, logged)", read_dropped,
                   s);
    stats_register("store_purged", STATS_COUNTER, "negotiations removed by [store] retention_days", read_purged, s);
    stats_register("store_pending", STATS_GAUGE | STATS_STATUS, "negotiations queued for the database now",
                   read_pending, s);
    stats_register("store_last_batch_seconds", STATS_GAUGE, "duration of the last database commit",
                   read_last_batch, s);
    stats_register("database_check_failed", STATS_GAUGE,
                   "1 when the integrity check at start found the database corrupt", read_check_failed, s);
    stats_register("database_bytes", STATS_GAUGE, "database file and write-ahead log size", read_bytes, s);
}

int store_open(const char *path, unsigned flags, size_t queue_max, struct store **out, char *err, size_t errsize)
{
    if (err && errsize)
        err[0] = '\0';
    if (!out)
        return -1;
    *out = NULL;
    if (!path || !*path) {
        set_err(err, errsize, "no database path given ([store] database)");
        return -1;
    }
    struct store *s = calloc(1, sizeof *s);
    if (!s || !(s->path = strdup(path))) {
        free(s);
        set_err(err, errsize, "%s: out of memory", path);
        return -1;
    }
    s->flags = flags;
    s->notify_fd = -1;
    s->waiters_tail = &s->waiters;
    pthread_mutex_init(&s->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&s->cv, &ca);
    pthread_condattr_destroy(&ca);
    s->rl = (struct log_ratelimit)LOG_RATELIMIT_INIT(60, 5);
    s->list_gen = 1;
    s->devices = hashtab_new();
    s->clients = hashtab_new();
    s->lists = hashtab_new();
    s->days = hashtab_new();
    if (!s->devices || !s->clients || !s->lists || !s->days) {
        set_err(err, errsize, "%s: out of memory", path);
        store_destroy(s);
        return -1;
    }
    s->orphans_due = true; /* one orphan pass after each start */
    s->analyzed_us = mono_us();
    if (!(flags & STORE_READONLY)) {
        if (store_writer_init(s, queue_max) < 0) {
            set_err(err, errsize, "%s: out of memory for a queue of %zu", path, s->qcap);
            store_destroy(s);
            return -1;
        }
    }
    if (open_db(s, err, errsize) < 0 || prepare_all(s) < 0 ||
        (!(flags & STORE_READONLY) && store_outbox_init(s) < 0)) {
        if (err && errsize && !err[0])
            set_err(err, errsize, "%s: cannot prepare the database's statements (%s)", path,
                    s->db ? sqlite3_errmsg(s->db) : "no connection");
        store_destroy(s);
        return -1;
    }
    if (!(flags & STORE_READONLY))
        register_counters(s);
    *out = s;
    return 0;
}

void store_finish(struct store *s)
{
    if (!s || (s->flags & STORE_READONLY))
        return;
    /* the writer commits what it can and stops; what finished is reported
     * to the waiters, which may queue more (outbox rows), committed here */
    store_writer_stop(s);
    for (int round = 0; round < 3; round++) {
        /* a failed flush that still made progress (dropped a bad record)
         * is worth another try; one that did not is given up */
        size_t before;
        while ((before = store_pending(s)) > 0) {
            if (store_flush(s) < 0 && store_pending(s) == before)
                break;
        }
        store_poll(s);
    }
    /* what could not be stored still reaches its waiters (an alert still
     * goes to its sinks) */
    store_waiters_release(s);
}

void store_close(struct store *s)
{
    if (!s)
        return;
    if (!(s->flags & STORE_READONLY)) {
        store_finish(s);
        if (s->qlen)
            log_error("database %s: %zu record(s) could not be stored before closing and are lost", s->path,
                      s->qlen);
        /* the query tool finds statistics that know what was written */
        if (s->wcounts.committed)
            store_refresh_statistics(s);
    }
    store_destroy(s);
}

int store_schema_version(const struct store *s)
{
    return s ? s->version : -1;
}

int store_schema_latest(void)
{
    return store_migration_count;
}

const struct store_counts *store_get_counts(const struct store *s)
{
    if (!s)
        return NULL;
    /* the writer's figures merged into the caller's view, under the lock */
    struct store *m = (struct store *)s;
    pthread_mutex_lock(&m->mu);
    store_counts_merge(m);
    pthread_mutex_unlock(&m->mu);
    return &s->counts;
}

/* ------------------------------------------------------- integrity check */

/* The check reads through a connection of its own on a thread of its own:
 * WAL lets it read while the writer commits, so neither the start nor the
 * writes wait for it. */
static void *check_main(void *arg)
{
    struct store *s = arg;
    uint64_t t0 = mono_us();
    char err[512] = "";
    int rc = quick_check_db(s, s->check_db, err, sizeof err);
    double secs = (double)(mono_us() - t0) / 1e6;
    if (rc == 0) {
        atomic_store(&s->check_state, STORE_CHECK_OK);
        log_info("database %s: integrity check (quick_check) passed in %.1f s", s->path, secs);
    } else if (rc == 1) {
        atomic_store(&s->check_state, STORE_CHECK_NONE); /* interrupted by store_close */
    } else {
        atomic_store(&s->check_state, STORE_CHECK_FAILED);
        log_error("DATABASE CORRUPT: %s; kexwatchd keeps collecting, but queries and restarts may fail: stop "
                  "kexwatchd, move the database aside (or restore a backup) and start it again",
                  err);
    }
    if (s->notify_fd >= 0) {
        uint64_t one = 1;
        ssize_t w = write(s->notify_fd, &one, sizeof one);
        (void)w;
    }
    return NULL;
}

int store_check_start(struct store *s)
{
    if (!s || s->check_running)
        return -1;
    int rc = sqlite3_open_v2(s->path, &s->check_db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK) {
        log_error("database %s: cannot open it for the integrity check: %s", s->path,
                  s->check_db ? sqlite3_errmsg(s->check_db) : sqlite3_errstr(rc));
        sqlite3_close(s->check_db);
        s->check_db = NULL;
        return -1;
    }
    sqlite3_busy_timeout(s->check_db, STORE_BUSY_MS);
    atomic_store(&s->check_state, STORE_CHECK_RUNNING);
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old);
    rc = pthread_create(&s->check_thread, NULL, check_main, s);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc != 0) {
        log_error("database %s: cannot start the integrity check: %s", s->path, strerror(rc));
        atomic_store(&s->check_state, STORE_CHECK_NONE);
        sqlite3_close(s->check_db);
        s->check_db = NULL;
        return -1;
    }
    s->check_running = true;
    return 0;
}

int store_check_state(const struct store *s)
{
    return s ? atomic_load(&s->check_state) : STORE_CHECK_NONE;
}

/* Ends a running check at once (sqlite3_interrupt) and joins it. */
static void check_stop(struct store *s)
{
    if (!s->check_running)
        return;
    sqlite3_interrupt(s->check_db);
    pthread_join(s->check_thread, NULL);
    sqlite3_close(s->check_db);
    s->check_db = NULL;
    s->check_running = false;
}
