/* store-alert.c: alert deduplication state and the delivery outbox (see
 * store.h). */
#include "config.h"

#include <stdio.h>

#include "log.h"
#include "store-private.h"

/* ---------------------------------------------------------------- alerts */

static sqlite3_stmt *prep(struct store *s, const char *sql)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(s->db, sql, -1, &st, NULL) != SQLITE_OK) {
        log_error("database %s: cannot prepare an alert statement: %s", s->path, sqlite3_errmsg(s->db));
        return NULL;
    }
    return st;
}

static int step_done(struct store *s, sqlite3_stmt *st, const char *what)
{
    int rc = sqlite3_step(st);
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE && rc != SQLITE_ROW) {
        log_error("database %s: cannot %s: %s", s->path, what, sqlite3_errmsg(s->db));
        return -1;
    }
    return 0;
}

static void bind_str(sqlite3_stmt *st, int i, const char *v)
{
    if (v)
        sqlite3_bind_text(st, i, v, -1, SQLITE_TRANSIENT);
    else
        sqlite3_bind_null(st, i);
}

int store_alert_save(struct store *s, const struct store_alert *a)
{
    if (!s || (s->flags & STORE_READONLY) || !a || !a->alert_id || !a->device)
        return -1;
    /* the alert names its device by id: the negotiation that raised it may
     * still be queued */
    if (store_flush(s) < 0)
        return -1;
    sqlite3_stmt *st = prep(s, "INSERT INTO alerts (alert_id, device_id, mismatch, fingerprint, category, status,"
                               " first_seen, last_seen, count, last_notified)"
                               " VALUES (?1, (SELECT id FROM devices WHERE key = ?2), ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)"
                               " ON CONFLICT (alert_id) DO UPDATE SET status = excluded.status,"
                               " last_seen = excluded.last_seen, count = excluded.count,"
                               " last_notified = excluded.last_notified");
    if (!st)
        return -1;
    bind_str(st, 1, a->alert_id);
    bind_str(st, 2, a->device);
    bind_str(st, 3, a->mismatch ? a->mismatch : "unclassified");
    bind_str(st, 4, a->fingerprint);
    bind_str(st, 5, a->category);
    bind_str(st, 6, a->status);
    sqlite3_bind_int64(st, 7, a->first_seen);
    sqlite3_bind_int64(st, 8, a->last_seen);
    sqlite3_bind_int64(st, 9, (sqlite3_int64)a->count);
    if (a->last_notified)
        sqlite3_bind_int64(st, 10, a->last_notified);
    return step_done(s, st, "save an alert");
}

int store_alerts_load(struct store *s, store_alert_cb cb, void *arg)
{
    if (!s)
        return -1;
    sqlite3_stmt *st = prep(s, "SELECT a.alert_id, d.key, a.mismatch, a.fingerprint, a.category, a.status,"
                               " a.first_seen, a.last_seen, a.count, a.last_notified"
                               " FROM alerts a JOIN devices d ON d.id = a.device_id WHERE a.status = 'firing'");
    if (!st)
        return -1;
    int n = 0, rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        struct store_alert a = {
            .alert_id = (const char *)sqlite3_column_text(st, 0),
            .device = (const char *)sqlite3_column_text(st, 1),
            .mismatch = (const char *)sqlite3_column_text(st, 2),
            .fingerprint = (const char *)sqlite3_column_text(st, 3),
            .category = (const char *)sqlite3_column_text(st, 4),
            .status = (const char *)sqlite3_column_text(st, 5),
            .first_seen = sqlite3_column_int64(st, 6),
            .last_seen = sqlite3_column_int64(st, 7),
            .count = (uint64_t)sqlite3_column_int64(st, 8),
            .last_notified = sqlite3_column_int64(st, 9),
        };
        if (a.alert_id && a.device) {
            cb(arg, &a);
            n++;
        }
    }
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? n : -1;
}

int store_outbox_add(struct store *s, const char *alert_id, const char *sink, const char *payload, int64_t now,
                     int64_t *id)
{
    if (!s || (s->flags & STORE_READONLY) || !alert_id || !sink || !payload)
        return -1;
    sqlite3_stmt *st = prep(s, "INSERT INTO outbox (alert_id, sink, payload, next_attempt, created)"
                               " VALUES (?1, ?2, ?3, ?4, ?4)");
    if (!st)
        return -1;
    bind_str(st, 1, alert_id);
    bind_str(st, 2, sink);
    bind_str(st, 3, payload);
    sqlite3_bind_int64(st, 4, now);
    if (step_done(s, st, "add to the alert outbox") < 0)
        return -1;
    if (id)
        *id = sqlite3_last_insert_rowid(s->db);
    return 0;
}

int store_outbox_done(struct store *s, int64_t id)
{
    if (!s || (s->flags & STORE_READONLY))
        return -1;
    sqlite3_stmt *st = prep(s, "DELETE FROM outbox WHERE id = ?1");
    if (!st)
        return -1;
    sqlite3_bind_int64(st, 1, id);
    return step_done(s, st, "clear a delivered alert from the outbox");
}

int store_outbox_failed(struct store *s, int64_t id, int64_t next_attempt)
{
    if (!s || (s->flags & STORE_READONLY))
        return -1;
    sqlite3_stmt *st = prep(s, "UPDATE outbox SET attempts = attempts + 1, next_attempt = ?2 WHERE id = ?1");
    if (!st)
        return -1;
    sqlite3_bind_int64(st, 1, id);
    sqlite3_bind_int64(st, 2, next_attempt);
    return step_done(s, st, "count a failed delivery");
}

int store_outbox_load(struct store *s, const char *sink, store_outbox_cb cb, void *arg)
{
    if (!s || !sink)
        return -1;
    sqlite3_stmt *st = prep(s, "SELECT id, payload FROM outbox WHERE sink = ?1 ORDER BY id");
    if (!st)
        return -1;
    bind_str(st, 1, sink);
    int n = 0, rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *payload = (const char *)sqlite3_column_text(st, 1);
        if (payload) {
            cb(arg, sqlite3_column_int64(st, 0), payload);
            n++;
        }
    }
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? n : -1;
}
