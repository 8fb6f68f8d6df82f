/* SPDX-License-Identifier: ISC */
/* store-alert.c: alert deduplication state and the delivery outbox (see
 * store.h). */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

static void bind_str(sqlite3_stmt *st, int i, const char *v)
{
    if (v)
        sqlite3_bind_text(st, i, v, -1, SQLITE_TRANSIENT);
    else
        sqlite3_bind_null(st, i);
}

/* A queued operation with up to 12 strings (NULL kept as NULL). */
struct sop *store_sop_new(const char *const *str, int n, size_t *bytes)
{
    size_t total = 0;
    for (int i = 0; i < n; i++)
        total += (str[i] ? strlen(str[i]) : 0) + 1;
    struct sop *op = calloc(1, sizeof *op + total);
    if (!op)
        return NULL;
    *bytes = sizeof *op + total;
    size_t off = 0;
    for (int i = 0; i < n; i++) {
        size_t len = str[i] ? strlen(str[i]) : 0;
        if (!str[i])
            op->nulls |= (uint16_t)(1u << i);
        else
            memcpy(op->buf + off, str[i], len);
        op->buf[off + len] = '\0';
        op->off[i] = (uint16_t)off;
        off += len + 1;
    }
    return op;
}

const char *store_sop_str(const struct sop *op, int i)
{
    return op->nulls & (1u << i) ? NULL : op->buf + op->off[i];
}

/* Queues op; without a writer thread it is committed at once (with what
 * was queued before it) unless lazy. A lazy op does not wake the writer:
 * it is committed with the next batch. Returns 0 or -1. */
static int push_op_as(struct store *s, enum qkind kind, struct sop *op, size_t bytes, const char *what, bool lazy)
{
    if (store_queue_push(s, kind, op, bytes, !lazy) < 0) {
        free(op);
        log_error("database %s: %d alert operations queued, cannot %s; the disk is too slow or full", s->path,
                  STORE_OPS_MAX, what);
        return -1;
    }
    if (!s->threaded && !lazy) {
        size_t before;
        while ((before = store_pending(s)) > 0)
            if (store_flush(s) < 0 && store_pending(s) == before)
                return -1;
        store_poll(s);
    }
    return 0;
}

int store_push_op(struct store *s, enum qkind kind, struct sop *op, size_t bytes, const char *what)
{
    return push_op_as(s, kind, op, bytes, what, false);
}

static int alert_save(struct store *s, const struct store_alert *a, bool lazy)
{
    if (!s || (s->flags & STORE_READONLY) || !a || !a->alert_id || !a->device)
        return -1;
    /* the device row is the writer's to find or make; the alert is queued
     * after the negotiation that raised it, so both commit in order */
    size_t bytes = 0;
    /* the object last: offsets are 16 bits, so only it may be long */
    const char *str[12] = {a->alert_id, a->device, a->mismatch ? a->mismatch : "unclassified", a->fingerprint,
                           a->category, a->status, a->software, a->offer, a->slot, a->address, a->hassh, a->object};
    /* received text is kept up to STORE_STR_MAX bytes, like a negotiation's */
    char *cuts[4] = {NULL, NULL, NULL, NULL};
    for (int i = 6; i < 10; i++)
        if (str[i] && strlen(str[i]) > STORE_STR_MAX &&
            (cuts[i - 6] = strndup(str[i], cut_len(str[i], STORE_STR_MAX))))
            str[i] = cuts[i - 6];
    size_t dlen = strlen(a->device);
    if (dlen > STORE_STR_MAX)
        str[1] = NULL; /* cut below, at a character boundary */
    struct sop *op = store_sop_new(str, 12, &bytes);
    if (!op) {
        for (int i = 0; i < 4; i++)
            free(cuts[i]);
        return -1;
    }
    if (!str[1]) {
        /* the key as store_enqueue keeps it, so it is the same device row */
        struct sop *op2 = NULL;
        char *cut = strndup(a->device, cut_len(a->device, STORE_STR_MAX));
        if (cut) {
            str[1] = cut;
            op2 = store_sop_new(str, 12, &bytes);
            free(cut);
        }
        free(op);
        op = op2;
    }
    for (int i = 0; i < 4; i++)
        free(cuts[i]);
    if (!op)
        return -1;
    op->t[0] = a->first_seen;
    op->t[1] = a->last_seen;
    op->t[2] = a->last_notified;
    op->t[3] = (int64_t)a->count;
    op->t[4] = a->fixed_at;
    return push_op_as(s, Q_ALERT, op, bytes, "save an alert", lazy);
}

int store_alert_save(struct store *s, const struct store_alert *a)
{
    return alert_save(s, a, false);
}

int store_alert_note(struct store *s, const struct store_alert *a)
{
    return alert_save(s, a, true);
}

int store_alerts_load(struct store *s, store_alert_cb cb, void *arg)
{
    if (!s || s->threaded)
        return -1;
    sqlite3_stmt *st = prep(s, "SELECT a.alert_id, d.key, a.mismatch, a.fingerprint, a.category, a.status,"
                               " a.first_seen, a.last_seen, a.count, a.last_notified,"
                               " a.software, a.offer, a.slot, a.address, a.object, a.fixed_at, a.hassh"
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
            .software = (const char *)sqlite3_column_text(st, 10),
            .offer = (const char *)sqlite3_column_text(st, 11),
            .slot = (const char *)sqlite3_column_text(st, 12),
            .address = (const char *)sqlite3_column_text(st, 13),
            .object = (const char *)sqlite3_column_text(st, 14),
            .fixed_at = sqlite3_column_int64(st, 15),
            .hassh = (const char *)sqlite3_column_text(st, 16),
        };
        if (a.alert_id && a.device) {
            cb(arg, &a);
            n++;
        }
    }
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? n : -1;
}

int store_outbox_add_peer(struct store *s, const char *alert_id, const char *sink, const char *peer,
                          const char *payload, int64_t now, int64_t *id)
{
    if (!s || (s->flags & STORE_READONLY) || !alert_id || !sink || !payload)
        return -1;
    size_t bytes = 0;
    const char *str[4] = {alert_id, sink, payload, peer};
    struct sop *op = store_sop_new(str, 4, &bytes);
    if (!op)
        return -1;
    /* the id is given here, so the caller knows it before the row commits */
    op->id = ++s->outbox_next_id;
    op->t[0] = now;
    if (id)
        *id = op->id;
    return store_push_op(s, Q_OUTBOX_ADD, op, bytes, "add to the alert outbox");
}

int store_outbox_add(struct store *s, const char *alert_id, const char *sink, const char *payload, int64_t now,
                     int64_t *id)
{
    return store_outbox_add_peer(s, alert_id, sink, NULL, payload, now, id);
}

int store_outbox_forget(struct store *s, const char *sink, const char *peer)
{
    if (!s || (s->flags & STORE_READONLY) || !sink || !peer)
        return -1;
    size_t bytes = 0;
    const char *str[2] = {sink, peer};
    struct sop *op = store_sop_new(str, 2, &bytes);
    if (!op)
        return -1;
    return store_push_op(s, Q_OUTBOX_FORGET, op, bytes, "forget a removed peer's notifications");
}

int store_outbox_done(struct store *s, int64_t id)
{
    if (!s || (s->flags & STORE_READONLY))
        return -1;
    size_t bytes = 0;
    struct sop *op = store_sop_new(NULL, 0, &bytes);
    if (!op)
        return -1;
    op->id = id;
    return store_push_op(s, Q_OUTBOX_DONE, op, bytes, "clear a delivered alert from the outbox");
}

int store_outbox_failed(struct store *s, int64_t id, int64_t next_attempt)
{
    if (!s || (s->flags & STORE_READONLY))
        return -1;
    size_t bytes = 0;
    struct sop *op = store_sop_new(NULL, 0, &bytes);
    if (!op)
        return -1;
    op->id = id;
    op->t[0] = next_attempt;
    return store_push_op(s, Q_OUTBOX_FAILED, op, bytes, "count a failed delivery");
}

/* Writes one operation inside the writer's transaction. */
int store_op_write(struct store *s, enum qkind kind, struct sop *op)
{
    sqlite3_stmt *st = NULL;
    int rc;
    switch (kind) {
    case Q_ALERT: {
        int64_t dev;
        if ((rc = store_device_id(s, store_sop_str(op, 1), op->t[1], &dev)))
            return rc;
        st = prep(s, "INSERT INTO alerts (alert_id, device_id, mismatch, fingerprint, category, status,"
                     " first_seen, last_seen, count, last_notified, software, offer, slot, address, hassh, object,"
                     " fixed_at)"
                     " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17)"
                     " ON CONFLICT (alert_id) DO UPDATE SET status = excluded.status,"
                     " fingerprint = excluded.fingerprint, hassh = coalesce(excluded.hassh, alerts.hassh),"
                     " last_seen = excluded.last_seen, count = excluded.count,"
                     " last_notified = excluded.last_notified, fixed_at = excluded.fixed_at,"
                     " address = coalesce(excluded.address, alerts.address),"
                     " object = coalesce(excluded.object, alerts.object)");
        if (!st)
            return sqlite3_errcode(s->db);
        bind_str(st, 1, store_sop_str(op, 0));
        sqlite3_bind_int64(st, 2, dev);
        for (int i = 2; i < 6; i++)
            bind_str(st, i + 1, store_sop_str(op, i));
        sqlite3_bind_int64(st, 7, op->t[0]);
        sqlite3_bind_int64(st, 8, op->t[1]);
        sqlite3_bind_int64(st, 9, op->t[3]);
        if (op->t[2])
            sqlite3_bind_int64(st, 10, op->t[2]);
        for (int i = 6; i < 12; i++)
            bind_str(st, i + 5, store_sop_str(op, i));
        if (op->t[4])
            sqlite3_bind_int64(st, 17, op->t[4]);
        break;
    }
    case Q_OUTBOX_ADD:
        st = prep(s, "INSERT INTO outbox (id, alert_id, sink, payload, next_attempt, created, peer)"
                     " VALUES (?1, ?2, ?3, ?4, ?5, ?5, ?6)");
        if (!st)
            return sqlite3_errcode(s->db);
        sqlite3_bind_int64(st, 1, op->id);
        for (int i = 0; i < 3; i++)
            bind_str(st, i + 2, store_sop_str(op, i));
        sqlite3_bind_int64(st, 5, op->t[0]);
        bind_str(st, 6, store_sop_str(op, 3));
        break;
    case Q_OUTBOX_FORGET:
        if (!(st = prep(s, "DELETE FROM outbox WHERE sink = ?1 AND peer = ?2")))
            return sqlite3_errcode(s->db);
        bind_str(st, 1, store_sop_str(op, 0));
        bind_str(st, 2, store_sop_str(op, 1));
        break;
    case Q_OUTBOX_DONE:
        if (!(st = prep(s, "DELETE FROM outbox WHERE id = ?1")))
            return sqlite3_errcode(s->db);
        sqlite3_bind_int64(st, 1, op->id);
        break;
    case Q_OUTBOX_FAILED:
        if (!(st = prep(s, "UPDATE outbox SET attempts = attempts + 1, next_attempt = ?2 WHERE id = ?1")))
            return sqlite3_errcode(s->db);
        sqlite3_bind_int64(st, 1, op->id);
        sqlite3_bind_int64(st, 2, op->t[0]);
        break;
    case Q_PROBE: return store_probe_write(s, op);
    default: return SQLITE_MISUSE;
    }
    rc = sqlite3_step(st);
    sqlite3_finalize(st);
    return rc == SQLITE_DONE || rc == SQLITE_ROW ? 0 : rc;
}

int store_outbox_init(struct store *s)
{
    sqlite3_stmt *st = prep(s, "SELECT ifnull(max(id), 0) FROM outbox");
    if (!st)
        return -1;
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        s->outbox_next_id = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    s->outbox_done_id = s->outbox_seen_id = s->outbox_next_id;
    return rc == SQLITE_ROW ? 0 : -1;
}

int store_outbox_load_peer(struct store *s, const char *sink, const char *peer, bool adopt, store_outbox_cb cb,
                           void *arg)
{
    if (!s || !sink || s->threaded)
        return -1;
    sqlite3_stmt *st = prep(s, "SELECT id, payload FROM outbox WHERE sink = ?1"
                               " AND (peer IS ?2 OR (?3 AND peer IS NULL)) ORDER BY id");
    if (!st)
        return -1;
    bind_str(st, 1, sink);
    bind_str(st, 2, peer);
    sqlite3_bind_int(st, 3, adopt);
    int n = 0, rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *payload = (const char *)sqlite3_column_text(st, 1);
        if (payload) {
            cb(arg, sqlite3_column_int64(st, 0), payload);
            n++;
        }
    }
    sqlite3_finalize(st);
    if (rc == SQLITE_DONE && adopt && peer && !(s->flags & STORE_READONLY)) {
        /* the adopted rows are the peer's from now on */
        if ((st = prep(s, "UPDATE outbox SET peer = ?2 WHERE sink = ?1 AND peer IS NULL"))) {
            bind_str(st, 1, sink);
            bind_str(st, 2, peer);
            if (sqlite3_step(st) != SQLITE_DONE)
                log_error("database %s: cannot give the outbox's %s notifications to %s: %s", s->path, sink, peer,
                          sqlite3_errmsg(s->db));
            sqlite3_finalize(st);
        }
    }
    return rc == SQLITE_DONE ? n : -1;
}

int store_outbox_load(struct store *s, const char *sink, store_outbox_cb cb, void *arg)
{
    return store_outbox_load_peer(s, sink, NULL, false, cb, arg);
}

int store_outbox_prune(struct store *s, const char *sink, const char *const *peers, size_t n)
{
    if (!s || !sink || s->threaded || (s->flags & STORE_READONLY))
        return -1;
    sqlite3_stmt *sel = prep(s, "SELECT peer, count(*) FROM outbox WHERE sink = ?1 AND peer IS NOT NULL GROUP BY peer");
    if (!sel)
        return -1;
    bind_str(sel, 1, sink);
    int total = 0, rc;
    char **gone = NULL;
    size_t ngone = 0;
    while ((rc = sqlite3_step(sel)) == SQLITE_ROW) {
        const char *p = (const char *)sqlite3_column_text(sel, 0);
        bool kept = false;
        for (size_t i = 0; p && i < n && !kept; i++)
            kept = strcmp(peers[i], p) == 0;
        char **g = kept || !p ? NULL : realloc(gone, (ngone + 1) * sizeof *gone);
        if (g && (g[ngone] = strdup(p))) {
            gone = g;
            ngone++;
            log_notice("%d %s notification(s) for %s, no longer configured, are dropped from the outbox",
                       sqlite3_column_int(sel, 1), sink, p);
            total += sqlite3_column_int(sel, 1);
        } else if (g) {
            gone = g;
        }
    }
    sqlite3_finalize(sel);
    sqlite3_stmt *del = prep(s, "DELETE FROM outbox WHERE sink = ?1 AND peer = ?2");
    for (size_t i = 0; i < ngone; i++) {
        if (del) {
            bind_str(del, 1, sink);
            bind_str(del, 2, gone[i]);
            if (sqlite3_step(del) != SQLITE_DONE)
                rc = SQLITE_ERROR;
            sqlite3_reset(del);
        }
        free(gone[i]);
    }
    sqlite3_finalize(del);
    free(gone);
    return rc == SQLITE_DONE ? total : -1;
}
