/* SPDX-License-Identifier: ISC */
/* store-query.c: history queries of the store, for the kexwatch tool (see
 * store.h): row by row through a callback, every value bound. */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "algo.h"
#include "store-private.h"

/* Generated from sql/NNN-*.sql by sql/embed.sh. */
extern const int store_migration_count;

/* ---------------------------------------------------------- history queries */

/* Hands one result row to the caller as store_values (no sqlite3 types
 * outside this file). */
static int emit_row(sqlite3_stmt *st, store_row_cb cb, void *arg)
{
    enum { MAXCOL = 16 };
    int ncol = sqlite3_column_count(st);
    if (ncol > MAXCOL)
        ncol = MAXCOL;
    const char *names[MAXCOL];
    struct store_value v[MAXCOL];
    for (int i = 0; i < ncol; i++) {
        names[i] = sqlite3_column_name(st, i);
        v[i] = (struct store_value){0};
        switch (sqlite3_column_type(st, i)) {
        case SQLITE_NULL: v[i].is_null = true; break;
        case SQLITE_INTEGER:
            v[i].is_int = true;
            v[i].num = sqlite3_column_int64(st, i);
            break;
        default: v[i].text = (const char *)sqlite3_column_text(st, i); break;
        }
    }
    return cb(arg, (size_t)ncol, names, v);
}

/* Steps st to the end, row by row into cb; returns the rows, the callback's
 * non-zero value, or -1 with SQLite's words in err. Finalizes st. */
static int run_rows(struct store *s, sqlite3_stmt *st, store_row_cb cb, void *arg, char *err, size_t errsize)
{
    int rc, rows = 0, stop = 0;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if ((stop = emit_row(st, cb, arg)) != 0)
            break;
        rows++;
    }
    if (!stop && rc != SQLITE_DONE) {
        set_err(err, errsize, "%s: query failed: %s", s->path, sqlite3_errmsg(s->db));
        rows = -1;
    }
    sqlite3_finalize(st);
    return stop ? stop : rows;
}

static int prepare_query(struct store *s, const char *sql, sqlite3_stmt **st, char *err, size_t errsize)
{
    /* prepared once per command: the tool asks one question and exits */
    if (sqlite3_prepare_v2(s->db, sql, -1, st, NULL) != SQLITE_OK) {
        set_err(err, errsize, "%s: cannot prepare a query: %s", s->path, sqlite3_errmsg(s->db));
        return -1;
    }
    return 0;
}

/* --------------------------------------------- failures: counts and rows
 * Every question about failures in a window [from, until) reads the whole
 * UTC months of the window from monthly (sql/009-monthly.sql), its other
 * whole UTC days from daily (sql/007-daily.sql) and the partial days at
 * its edges from the negotiations rows: the writer keeps all three in the
 * same transactions and retention takes whole days of rows and daily, so
 * the answer is the one the rows alone give. A month some of whose days
 * retention has taken is read from daily: monthly is used from the first
 * month that starts on or after the oldest failure day daily has.
 * The parameters every such statement binds (bind_window): ?1 from, ?2
 * until, ?3 the device key, ?4 ?5 the whole days [d1, d2), ?6 ?7 the
 * edges' bounds (rows in [from, ?6) and [?7, until)), ?8 ?9 the whole
 * months' days [m1, m2) within [d1, d2) (both d2 when none). */

struct window {
    int64_t from, until, d1, d2, lo, hi, m1, m2;
};

void store_rows_only(struct store *s, bool on)
{
    if (s)
        s->rows_only = on;
}

void store_days_only(struct store *s, bool on)
{
    if (s)
        s->days_only = on;
}

static void window_split(const struct store *s, int64_t from, int64_t until, struct window *w)
{
    /* the first whole day starts at or after from, the last ends by until */
    int64_t d1 = from / STORE_DAY + (from % STORE_DAY > 0), d2 = day_of(until);
    *w = (struct window){.from = from, .until = until};
    if (!s->rows_only && d1 < d2) {
        w->d1 = d1;
        w->d2 = d2;
        w->lo = d1 * STORE_DAY;
        w->hi = d2 * STORE_DAY;
        /* whole months: from the first month starting at or after d1 to
         * the start of d2's month */
        int64_t m1 = month_start(d1), m2 = month_start(d2);
        if (m1 < d1)
            m1 = month_start(m1 + 31);
        w->m1 = w->m2 = d2;
        if (!s->days_only && m1 < m2) {
            w->m1 = m1;
            w->m2 = m2;
        }
    } else {
        /* no whole day: every failure from the rows */
        w->lo = w->hi = until;
    }
}

static int bind_split(sqlite3_stmt *st, const struct window *w, const char *key)
{
    const int64_t v[] = {w->from, w->until, 0, w->d1, w->d2, w->lo, w->hi, w->m1, w->m2};
    int rc = SQLITE_OK;
    for (int i = 0; i < 9 && rc == SQLITE_OK; i++)
        if (i != 2)
            rc = sqlite3_bind_int64(st, i + 1, v[i]);
    if (rc == SQLITE_OK && key)
        rc = sqlite3_bind_text(st, 3, key, -1, SQLITE_STATIC);
    return rc;
}

/* Writes to buf the condition "col IN (the values of col that table has
 * in [lo, hi))", found one after the other, each by a seek of table's key
 * (which starts with col, after "failed = 1" for daily), and read by
 * seeks of (col, device_id) in turn: one device's counts without an index
 * of their own and without reading every device's counts of the window
 * (sql/010-no-device-indexes.sql). A series of the days of the window
 * would not do: a window may start at INT64_MIN or end at INT64_MAX.
 * from: "S.daily WHERE failed = 1 AND " or "S.monthly WHERE ". 0 or -1
 * (too long). */
static int key_series(char *buf, size_t size, const char *col, const char *from, const char *lo, const char *hi)
{
    int n = snprintf(buf, size,
                     "%s IN (WITH RECURSIVE ks(x) AS (SELECT (SELECT %s FROM %s%s >= %s ORDER BY %s LIMIT 1)"
                     " UNION ALL SELECT (SELECT %s FROM %s%s > x ORDER BY %s LIMIT 1) FROM ks WHERE x < %s)"
                     " SELECT x FROM ks WHERE x < %s)",
                     col, col, from, col, lo, col, col, from, col, col, hi, hi);
    return n > 0 && (size_t)n < size ? 0 : -1;
}

/* Writes to buf the failures of the window in schema S (NULL: the main
 * database; "{S}" for run_merged to fill in) as rows of (d device id, c client id, cat, mm,
 * cl client list, n failures, f first, l last time): monthly's whole
 * months, daily's whole days before and after them, then the rows of the
 * edges, one each. Unknowns come as the count tables store them (c 0,
 * cat '', mm '', cl 0; sql/007-daily.sql): the few edge rows are turned
 * into that form, not the tens of thousands of count rows of a year into
 * NULLs (measured: half the time of reading them, tests/bench/README.md);
 * a caller that shows them turns them back after grouping (nullif). dev: a condition on device_id ("= (SELECT ...)",
 * "= d.id") or NULL for every device; with it monthly and daily are read
 * a seek per month and day (key_series); by_device: read the rows through
 * failures_device (sql/README). Returns 0 or -1 (too long). */
static int failure_source(char *buf, size_t size, const char *S, const char *dev, bool by_device)
{
    const char *index = dev || by_device ? "failures_device" : "failures_window";
    char devcond[200] = "";
    if (dev)
        snprintf(devcond, sizeof devcond, "device_id %s AND ", dev);
    char sp[16] = "";
    if (S)
        snprintf(sp, sizeof sp, "%s.", S);
    /* E: where monthly takes over from daily, [E, ?9): ?8 unless the
     * oldest failure day daily still has is later (retention) */
    char e[400];
    snprintf(e, sizeof e,
             "min(max(?8, ifnull((SELECT CAST(julianday((day - 1) * 86400, 'unixepoch', 'start of month',"
             " '+1 month') - 2440587.5 AS INTEGER) FROM %sdaily WHERE failed = 1 ORDER BY day LIMIT 1), ?8)), ?9)",
             sp);
    /* the keys of the three count parts: months [E, ?9), days [?4, E)
     * and [?9, ?5) */
    char mon[1200], early[1200], late[600];
    if (dev) {
        char md[40], dd[60];
        snprintf(md, sizeof md, "%smonthly WHERE ", sp);
        snprintf(dd, sizeof dd, "%sdaily WHERE failed = 1 AND ", sp);
        if (key_series(mon, sizeof mon, "month", md, e, "?9") < 0 ||
            key_series(early, sizeof early, "day", dd, "?4", e) < 0 ||
            key_series(late, sizeof late, "day", dd, "?9", "?5") < 0)
            return -1;
    } else {
        snprintf(mon, sizeof mon, "month >= %s AND month < ?9", e);
        snprintf(early, sizeof early, "day >= ?4 AND day < %s", e);
        snprintf(late, sizeof late, "day >= ?9 AND day < ?5");
    }
    const char *cols = "device_id AS d, client_id AS c, category AS cat, mismatch AS mm, client_list AS cl, n,"
                       " first AS f, last AS l";
    const char *rcols = "device_id, ifnull(client_id, 0), ifnull(category, ''), ifnull(mismatch, ''),"
                        " ifnull(client_list, 0), 1, time, time";
    int n = snprintf(buf, size,
                     "SELECT %s FROM %smonthly WHERE %s%s"
                     " UNION ALL SELECT %s FROM %sdaily WHERE %sfailed = 1 AND %s"
                     " UNION ALL SELECT %s FROM %sdaily WHERE %sfailed = 1 AND %s"
                     " UNION ALL SELECT %s FROM %snegotiations INDEXED BY %s WHERE %sfailed = 1 AND time >= ?1"
                     " AND time < ?6"
                     " UNION ALL SELECT %s FROM %snegotiations INDEXED BY %s WHERE %sfailed = 1 AND time >= ?7"
                     " AND time < ?2",
                     cols, sp, devcond, mon, cols, sp, devcond, early, cols, sp, devcond, late, rcols, sp, index,
                     devcond, rcols, sp, index, devcond);
    return n > 0 && (size_t)n < size ? 0 : -1;
}

/* The statement text for a failures query; every value is a parameter
 * (see bind_split), the text is only fixed fragments. */
static int failures_sql(const struct store_failures_query *q, char *buf, size_t size)
{
    static const char *const col[] = {
        [STORE_BY_CLIENT] = "c", [STORE_BY_DEVICE] = "d", [STORE_BY_CATEGORY] = "cat",
        [STORE_BY_ALGORITHM] = "cl", [STORE_BY_MISMATCH] = "mm",
    };
    if ((unsigned)q->by > STORE_BY_MISMATCH)
        return -1;
    char src[4000];
    if (failure_source(src, sizeof src, NULL, q->device ? "= (SELECT id FROM devices WHERE key = ?3)" : NULL,
                       q->by == STORE_BY_DEVICE) < 0)
        return -1;
    int n;
    if (q->by == STORE_BY_ALGORITHM) {
        /* per (list, device) pair: the names are expanded and devices
         * counted in C (README: count(DISTINCT) over the expansion is ten
         * times slower) */
        n = snprintf(buf, size,
                     "SELECT cl, d, sum(n), min(f), max(l) FROM (%s) WHERE cl <> 0 GROUP BY cl, d", src);
    } else {
        /* category and mismatch: '' (unknown) shown as NULL */
        const char *outer_cols = "nullif(g.k, '') AS key, NULL AS detail", *join = "";
        if (q->by == STORE_BY_CLIENT) {
            outer_cols = "c.software AS key, c.fingerprint AS detail";
            join = " LEFT JOIN clients c ON c.id = g.k";
        } else if (q->by == STORE_BY_DEVICE) {
            outer_cols = "dv.key AS key, dv.name AS detail";
            join = " LEFT JOIN devices dv ON dv.id = g.k";
        }
        /* the caller's column names: key, detail, failures, devices, first_seen, last_seen */
        n = snprintf(buf, size,
                     "SELECT %s, g.n AS failures, g.d AS devices, g.f AS first_seen, g.l AS last_seen FROM"
                     " (SELECT %s AS k, sum(n) AS n, count(DISTINCT d) AS d, min(f) AS f, max(l) AS l"
                     " FROM (%s) GROUP BY %s) g%s ORDER BY g.n DESC, 1, 2",
                     outer_cols, col[q->by], src, col[q->by], join);
    }
    return n > 0 && (size_t)n < size ? 0 : -1;
}

static int bind_window(struct store *s, sqlite3_stmt *st, const struct store_failures_query *q)
{
    struct window w;
    window_split(s, q->from, q->until, &w);
    return bind_split(st, &w, q->device);
}

/* Prepares the failures query q (as EXPLAIN QUERY PLAN when explain) with
 * its window and device bound. 0 and *out, or -1 with err set. */
static int prepare_failures(struct store *s, const struct store_failures_query *q, bool explain, sqlite3_stmt **out,
                            char *err, size_t errsize)
{
    static const char prefix[] = "EXPLAIN QUERY PLAN ";
    size_t skip = explain ? sizeof prefix - 1 : 0;
    char sql[8000];
    memcpy(sql, prefix, skip);
    if (!s || !q || failures_sql(q, sql + skip, sizeof sql - skip) < 0) {
        set_err(err, errsize, "invalid failures query");
        return -1;
    }
    if (prepare_query(s, sql, out, err, errsize) < 0)
        return -1;
    if (bind_window(s, *out, q) != SQLITE_OK) {
        sqlite3_finalize(*out);
        set_err(err, errsize, "%s: cannot bind: %s", s->path, sqlite3_errmsg(s->db));
        return -1;
    }
    return 0;
}

int store_failures_plan(struct store *s, const struct store_failures_query *q, store_row_cb cb, void *arg,
                        char *err, size_t errsize)
{
    sqlite3_stmt *st;
    if (!cb) {
        set_err(err, errsize, "invalid failures query");
        return -1;
    }
    if (prepare_failures(s, q, true, &st, err, errsize) < 0)
        return -1;
    return run_rows(s, st, cb, arg, err, errsize);
}

/* Markers are not algorithms a server could enable; the tool loads no
 * algorithm table for a query, so they are recognised by name here (the
 * same names algo's marker rows hold). */
static bool is_marker(const char *name)
{
    return strcmp(name, "ext-info-c") == 0 || strcmp(name, "ext-info-s") == 0 ||
           strncmp(name, "kex-strict-", 11) == 0 || strcmp(name, "kexguess2@matt.ucc.asn.au") == 0;
}

struct algo_pair {
    int64_t list, device, n, first, last;
};

struct algo_agg {
    char *name;
    int64_t n, devices, first, last;
    uint64_t *bits; /* devices seen, by device id */
};

static int cmp_pair(const void *a, const void *b)
{
    const struct algo_pair *x = a, *y = b;
    return x->list < y->list ? -1 : x->list > y->list;
}

static int cmp_agg(const void *a, const void *b)
{
    const struct algo_agg *x = a, *y = b;
    if (x->n != y->n)
        return x->n > y->n ? -1 : 1;
    return strcmp(x->name, y->name);
}

static int failures_by_algorithm(struct store *s, const struct store_failures_query *q, sqlite3_stmt *st,
                                 store_row_cb cb, void *arg, char *err, size_t errsize)
{
    struct algo_pair *pairs = NULL;
    size_t npairs = 0, cap = 0;
    struct algo_agg *agg = NULL;
    size_t nagg = 0, aggcap = 0;
    int64_t maxdev = 0;
    int rc, ret = -1;
    sqlite3_stmt *items = NULL;
    (void)q;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (npairs == cap) {
            size_t nc = cap ? 2 * cap : 256;
            struct algo_pair *np = realloc(pairs, nc * sizeof *np);
            if (!np) {
                set_err(err, errsize, "out of memory");
                goto out;
            }
            pairs = np;
            cap = nc;
        }
        struct algo_pair *p = &pairs[npairs++];
        p->list = sqlite3_column_int64(st, 0);
        p->device = sqlite3_column_int64(st, 1);
        p->n = sqlite3_column_int64(st, 2);
        p->first = sqlite3_column_int64(st, 3);
        p->last = sqlite3_column_int64(st, 4);
        if (p->device > maxdev)
            maxdev = p->device;
    }
    if (rc != SQLITE_DONE) {
        set_err(err, errsize, "%s: query failed: %s", s->path, sqlite3_errmsg(s->db));
        goto out;
    }
    /* device ids are rowids, small and dense: one bit each */
    size_t words = (size_t)(maxdev / 64 + 1);
    if (npairs)
        qsort(pairs, npairs, sizeof *pairs, cmp_pair);
    if (prepare_query(s, "SELECT name FROM list_items WHERE list_id = ?1 ORDER BY pos", &items, err, errsize) < 0)
        goto out;
    for (size_t i = 0; i < npairs;) {
        size_t j = i;
        while (j < npairs && pairs[j].list == pairs[i].list)
            j++;
        /* each list expanded once, then its pairs added to each name */
        sqlite3_bind_int64(items, 1, pairs[i].list);
        while ((rc = sqlite3_step(items)) == SQLITE_ROW) {
            const char *name = (const char *)sqlite3_column_text(items, 0);
            if (!name || is_marker(name))
                continue;
            size_t k = 0;
            while (k < nagg && strcmp(agg[k].name, name) != 0)
                k++;
            if (k == nagg) {
                if (nagg == aggcap) {
                    size_t nc = aggcap ? 2 * aggcap : 64;
                    struct algo_agg *na = realloc(agg, nc * sizeof *na);
                    if (!na) {
                        set_err(err, errsize, "out of memory");
                        goto out;
                    }
                    agg = na;
                    aggcap = nc;
                }
                agg[nagg] = (struct algo_agg){.name = strdup(name), .bits = calloc(words, sizeof(uint64_t)),
                                              .first = INT64_MAX, .last = INT64_MIN};
                if (!agg[nagg].name || !agg[nagg].bits) {
                    free(agg[nagg].name);
                    free(agg[nagg].bits);
                    set_err(err, errsize, "out of memory");
                    goto out;
                }
                nagg++;
            }
            struct algo_agg *a = &agg[k];
            for (size_t m = i; m < j; m++) {
                uint64_t bit = UINT64_C(1) << (pairs[m].device % 64);
                uint64_t *w = &a->bits[pairs[m].device / 64];
                if (!(*w & bit)) {
                    *w |= bit;
                    a->devices++;
                }
                a->n += pairs[m].n;
                if (pairs[m].first < a->first)
                    a->first = pairs[m].first;
                if (pairs[m].last > a->last)
                    a->last = pairs[m].last;
            }
        }
        sqlite3_reset(items);
        if (rc != SQLITE_DONE) {
            set_err(err, errsize, "%s: query failed: %s", s->path, sqlite3_errmsg(s->db));
            goto out;
        }
        i = j;
    }
    if (nagg)
        qsort(agg, nagg, sizeof *agg, cmp_agg);
    static const char *const names[] = {"key", "detail", "failures", "devices", "first_seen", "last_seen"};
    ret = 0;
    for (size_t k = 0; k < nagg; k++) {
        struct store_value v[6] = {
            {.text = agg[k].name}, {.is_null = true}, {.num = agg[k].n, .is_int = true},
            {.num = agg[k].devices, .is_int = true}, {.num = agg[k].first, .is_int = true},
            {.num = agg[k].last, .is_int = true},
        };
        int stop = cb(arg, 6, names, v);
        if (stop) {
            ret = stop;
            break;
        }
        ret++;
    }
out:
    for (size_t k = 0; k < nagg; k++) {
        free(agg[k].name);
        free(agg[k].bits);
    }
    free(agg);
    free(pairs);
    sqlite3_finalize(items);
    sqlite3_finalize(st);
    return ret;
}

int store_failures(struct store *s, const struct store_failures_query *q, store_row_cb cb, void *arg, char *err,
                   size_t errsize)
{
    sqlite3_stmt *st;
    if (!cb) {
        set_err(err, errsize, "invalid failures query");
        return -1;
    }
    if (prepare_failures(s, q, false, &st, err, errsize) < 0)
        return -1;
    if (q->by == STORE_BY_ALGORITHM)
        return failures_by_algorithm(s, q, st, cb, arg, err, errsize);
    return run_rows(s, st, cb, arg, err, errsize);
}

int store_devices(struct store *s, int64_t since, store_row_cb cb, void *arg, char *err, size_t errsize)
{
    if (!s || !cb)
        return -1;
    char src[4000], sql[6000];
    if (failure_source(src, sizeof src, NULL, NULL, true) < 0)
        return -1;
    snprintf(sql, sizeof sql,
             "SELECT d.key AS key, d.name AS name, d.vendor AS vendor, d.first_seen AS first_seen,"
             " d.last_seen AS last_seen, ifnull(f.n, 0) AS failures"
             " FROM devices d LEFT JOIN (SELECT d, sum(n) AS n FROM (%s) GROUP BY d) f ON f.d = d.id"
             " ORDER BY d.last_seen DESC, d.key",
             src);
    sqlite3_stmt *st;
    if (prepare_query(s, sql, &st, err, errsize) < 0)
        return -1;
    struct window w;
    window_split(s, since, INT64_MAX, &w);
    bind_split(st, &w, NULL);
    return run_rows(s, st, cb, arg, err, errsize);
}

int store_device(struct store *s, enum store_device_part part, const char *key, int64_t since, unsigned limit,
                 store_row_cb cb, void *arg, char *err, size_t errsize)
{
    static const char *const sql[] = {
        [STORE_DEVICE_INFO] = "SELECT key, name, vendor, first_seen, last_seen FROM devices WHERE key = ?1",
        [STORE_DEVICE_PROFILE] =
            "SELECT p.slot AS slot, p.source AS source, l.names AS list, p.learned_at AS learned_at"
            " FROM profiles p JOIN lists l ON l.id = p.list_id"
            " WHERE p.device_id = (SELECT id FROM devices WHERE key = ?1)"
            " ORDER BY CASE p.slot WHEN 'kex' THEN 0 WHEN 'hostkey' THEN 1 WHEN 'cipher_c2s' THEN 2"
            " WHEN 'cipher_s2c' THEN 3 WHEN 'mac_c2s' THEN 4 WHEN 'mac_s2c' THEN 5 WHEN 'comp_c2s' THEN 6"
            " ELSE 7 END, p.source",
        /* sql/README: a device's recent failures come from failures_device in
         * time order */
        [STORE_DEVICE_FAILURES] =
            "SELECT n.time AS time, n.category AS category, n.direction AS direction, n.mismatch AS mismatch,"
            " n.evidence AS evidence, c.software AS software, c.fingerprint AS fingerprint, n.address AS address"
            " FROM negotiations n INDEXED BY failures_device LEFT JOIN clients c ON c.id = n.client_id"
            " WHERE n.device_id = (SELECT id FROM devices WHERE key = ?1) AND n.failed = 1 AND n.time >= ?2"
            " ORDER BY n.time DESC LIMIT ?3",
        [STORE_DEVICE_CLIENTS] = NULL, /* below */
        [STORE_DEVICE_PROBE] = "SELECT time, address, port, banner, error FROM probes"
                               " WHERE device_id = (SELECT id FROM devices WHERE key = ?1)",
        /* alerts_device: a device has few alerts */
        [STORE_DEVICE_ALERTS] =
            "SELECT alert_id, status, mismatch, category, software, fingerprint, first_seen, last_seen, count,"
            " fixed_at FROM alerts WHERE device_id = (SELECT id FROM devices WHERE key = ?1) AND last_seen >= ?2"
            " ORDER BY last_seen DESC, alert_id LIMIT ?3",
    };
    if (!s || !cb || !key || (unsigned)part > STORE_DEVICE_ALERTS)
        return -1;
    sqlite3_stmt *st;
    if (part == STORE_DEVICE_CLIENTS) {
        /* client types that failed on it: failures only, counts and rows */
        char src[4000], q[6000];
        if (failure_source(src, sizeof src, NULL, "= (SELECT id FROM devices WHERE key = ?3)", true) < 0)
            return -1;
        snprintf(q, sizeof q,
                 "SELECT c.software AS software, c.fingerprint AS fingerprint, g.n AS failures, g.f AS first_seen,"
                 " g.l AS last_seen FROM (SELECT c AS k, sum(n) AS n, min(f) AS f, max(l) AS l FROM (%s)"
                 " GROUP BY c) g LEFT JOIN clients c ON c.id = g.k ORDER BY g.n DESC, 1, 2",
                 src);
        if (prepare_query(s, q, &st, err, errsize) < 0)
            return -1;
        struct window w;
        window_split(s, since, INT64_MAX, &w);
        bind_split(st, &w, key);
        return run_rows(s, st, cb, arg, err, errsize);
    }
    if (prepare_query(s, sql[part], &st, err, errsize) < 0)
        return -1;
    sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
    if (part == STORE_DEVICE_FAILURES || part == STORE_DEVICE_ALERTS)
        sqlite3_bind_int64(st, 2, since);
    if (part == STORE_DEVICE_FAILURES || part == STORE_DEVICE_ALERTS)
        sqlite3_bind_int64(st, 3, limit ? limit : 50);
    return run_rows(s, st, cb, arg, err, errsize);
}

/* Client types, most failures in [from, until) first: software, fingerprint,
 * failures, devices (distinct, failed on), fails_on (up to three device keys,
 * most failures first), first_seen, last_seen, and the lists it offered.
 * The failures (daily counts and edge rows: failure_source) are counted
 * per client type and device here,
 * in C: grouping the pairs in SQL needs a temporary b-tree and takes several
 * times as long on a year of failures. */
struct cli_pair {
    int64_t client, device, n;
};

struct cli_agg {
    int64_t client, n, devices;
    int64_t top[3], topn[3]; /* device ids with most failures; 0: none */
};

struct cli_row {
    char *text[8]; /* software, fingerprint, fails_on, kex, hostkey, cipher, mac, compression */
    int64_t failures, devices, first, last;
};

static int cmp_cli_pair(const void *a, const void *b)
{
    const struct cli_pair *x = a, *y = b;
    if (x->client != y->client)
        return x->client < y->client ? -1 : 1;
    return x->device < y->device ? -1 : x->device > y->device;
}

/* NULL sorts first, as in SQLite */
static int cmp_text(const char *a, const char *b)
{
    if (!a || !b)
        return !a && !b ? 0 : !a ? -1 : 1;
    return strcmp(a, b);
}

static int cmp_cli_row(const void *a, const void *b)
{
    const struct cli_row *x = a, *y = b;
    if (x->failures != y->failures)
        return x->failures > y->failures ? -1 : 1;
    int c = cmp_text(x->text[0], y->text[0]);
    return c ? c : cmp_text(x->text[1], y->text[1]);
}

static char *dup_col(sqlite3_stmt *st, int i)
{
    const char *t = (const char *)sqlite3_column_text(st, i);
    return t ? strdup(t) : NULL;
}

/* a zeroed row at the end of *rows, or NULL when out of memory */
static struct cli_row *cli_row_add(struct cli_row **rows, size_t *n, size_t *cap)
{
    if (*n == *cap) {
        size_t nc = *cap ? 2 * *cap : 256;
        struct cli_row *r = realloc(*rows, nc * sizeof *r);
        if (!r)
            return NULL;
        *rows = r;
        *cap = nc;
    }
    struct cli_row *r = &(*rows)[(*n)++];
    *r = (struct cli_row){0};
    return r;
}

/* the keys of a client type's top devices, blank separated; NULL for none */
static char *cli_top_keys(sqlite3_stmt *key_st, const struct cli_agg *a)
{
    char keys[1024] = "";
    size_t off = 0;
    for (int t = 0; t < 3 && a->top[t]; t++) {
        sqlite3_bind_int64(key_st, 1, a->top[t]);
        if (sqlite3_step(key_st) == SQLITE_ROW && off < sizeof keys)
            off += (size_t)snprintf(keys + off, sizeof keys - off, "%s%s", off ? " " : "",
                                    (const char *)sqlite3_column_text(key_st, 0));
        sqlite3_reset(key_st);
    }
    return off ? strdup(keys) : NULL;
}

int store_clients(struct store *s, int64_t from, int64_t until, store_row_cb cb, void *arg, char *err,
                  size_t errsize)
{
    /* failures without a client type (no software, no fingerprint) count
     * as one client type, the one failures --by client lists too */
    static const char clients_sql[] =
        "SELECT c.id, c.software, c.fingerprint, c.first_seen, c.last_seen, lk.names, lh.names, lc.names,"
        " lm.names, lz.names FROM clients c"
        " LEFT JOIN lists lk ON lk.id = c.kex_list LEFT JOIN lists lh ON lh.id = c.hostkey_list"
        " LEFT JOIN lists lc ON lc.id = c.cipher_list LEFT JOIN lists lm ON lm.id = c.mac_list"
        " LEFT JOIN lists lz ON lz.id = c.compression_list ORDER BY c.id";
    if (!s || !cb)
        return -1;
    struct cli_pair *pairs = NULL;
    struct cli_agg *aggs = NULL;
    struct cli_row *rows = NULL;
    size_t npairs = 0, cap = 0, naggs = 0, nrows = 0, rowcap = 0;
    sqlite3_stmt *st = NULL, *key_st = NULL;
    int ret = -1, rc;
    int64_t unid_first = INT64_MAX, unid_last = INT64_MIN; /* the unidentified client type's failures */

    char src[4000], pairs_sql[6000];
    if (failure_source(src, sizeof src, NULL, NULL, false) < 0)
        return -1;
    snprintf(pairs_sql, sizeof pairs_sql, "SELECT c, d, n, f, l FROM (%s)", src);
    if (prepare_query(s, pairs_sql, &st, err, errsize) < 0)
        return -1;
    struct window w;
    window_split(s, from, until, &w);
    bind_split(st, &w, NULL);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (npairs == cap) {
            size_t nc = cap ? 2 * cap : 4096;
            struct cli_pair *n = realloc(pairs, nc * sizeof *n);
            if (!n)
                goto oom;
            pairs = n;
            cap = nc;
        }
        pairs[npairs++] = (struct cli_pair){sqlite3_column_int64(st, 0), sqlite3_column_int64(st, 1),
                                            sqlite3_column_int64(st, 2)};
        if (pairs[npairs - 1].client == 0) {
            int64_t f = sqlite3_column_int64(st, 3), l = sqlite3_column_int64(st, 4);
            unid_first = f < unid_first ? f : unid_first;
            unid_last = l > unid_last ? l : unid_last;
        }
    }
    if (rc != SQLITE_DONE)
        goto sqlerr;
    sqlite3_finalize(st);
    st = NULL;
    qsort(pairs, npairs, sizeof *pairs, cmp_cli_pair);
    /* one aggregate per client type: failures, devices, the top three */
    for (size_t i = 0; i < npairs;) {
        size_t j = i;
        while (j < npairs && pairs[j].client == pairs[i].client)
            j++;
        if (!naggs || naggs % 256 == 0) {
            struct cli_agg *n = realloc(aggs, (naggs + 256) * sizeof *n);
            if (!n)
                goto oom;
            aggs = n;
        }
        struct cli_agg *a = &aggs[naggs++];
        *a = (struct cli_agg){.client = pairs[i].client};
        for (size_t k = i; k < j;) {
            size_t m = k;
            int64_t dn = 0, dev = pairs[k].device;
            while (m < j && pairs[m].device == dev)
                dn += pairs[m++].n;
            a->n += dn;
            a->devices++;
            /* devices come in id order: a later one wins only with more failures */
            for (int t = 0; t < 3; t++) {
                if (!a->top[t] || dn > a->topn[t]) {
                    for (int u = 2; u > t; u--) {
                        a->top[u] = a->top[u - 1];
                        a->topn[u] = a->topn[u - 1];
                    }
                    a->top[t] = dev;
                    a->topn[t] = dn;
                    break;
                }
            }
            k = m;
        }
        i = j;
    }
    free(pairs);
    pairs = NULL;

    if (prepare_query(s, "SELECT key FROM devices WHERE id = ?1", &key_st, err, errsize) < 0 ||
        prepare_query(s, clients_sql, &st, err, errsize) < 0)
        goto out;
    size_t ai = 0;
    if (naggs && aggs[0].client == 0) {
        /* the unidentified client type: no software, fingerprint or lists */
        struct cli_row *r = cli_row_add(&rows, &nrows, &rowcap);
        if (!r)
            goto oom;
        *r = (struct cli_row){.failures = aggs[0].n, .devices = aggs[0].devices, .first = unid_first,
                              .last = unid_last};
        r->text[2] = cli_top_keys(key_st, &aggs[0]);
        ai = 1;
    }
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        int64_t id = sqlite3_column_int64(st, 0), last = sqlite3_column_int64(st, 4);
        while (ai < naggs && aggs[ai].client < id)
            ai++;
        const struct cli_agg *a = ai < naggs && aggs[ai].client == id ? &aggs[ai] : NULL;
        if (!a && last < from)
            continue;
        struct cli_row *r = cli_row_add(&rows, &nrows, &rowcap);
        if (!r)
            goto oom;
        *r = (struct cli_row){.failures = a ? a->n : 0, .devices = a ? a->devices : 0,
                              .first = sqlite3_column_int64(st, 3), .last = last};
        r->text[0] = dup_col(st, 1);
        r->text[1] = dup_col(st, 2);
        for (int k = 0; k < 5; k++)
            r->text[3 + k] = dup_col(st, 5 + k);
        if (a)
            r->text[2] = cli_top_keys(key_st, a);
    }
    if (rc != SQLITE_DONE)
        goto sqlerr;
    qsort(rows, nrows, sizeof *rows, cmp_cli_row);
    static const char *const names[] = {"software", "fingerprint", "failures", "devices", "fails_on", "first_seen",
                                        "last_seen", "kex", "hostkey", "cipher", "mac", "compression"};
    ret = 0;
    for (size_t i = 0; i < nrows; i++) {
        const struct cli_row *r = &rows[i];
        struct store_value v[12] = {0};
        const char *txt[12] = {r->text[0], r->text[1], NULL, NULL, r->text[2], NULL, NULL,
                               r->text[3], r->text[4], r->text[5], r->text[6], r->text[7]};
        const int64_t num[12] = {0, 0, r->failures, r->devices, 0, r->first, r->last};
        for (int c = 0; c < 12; c++) {
            if (c == 2 || c == 3 || c == 5 || c == 6)
                v[c] = (struct store_value){.num = num[c], .is_int = true};
            else
                v[c] = (struct store_value){.text = txt[c], .is_null = !txt[c]};
        }
        int stop = cb(arg, 12, names, v);
        if (stop) {
            ret = stop;
            break;
        }
        ret++;
    }
    goto out;
oom:
    set_err(err, errsize, "out of memory");
    goto out;
sqlerr:
    set_err(err, errsize, "%s: query failed: %s", s->path, sqlite3_errmsg(s->db));
out:
    sqlite3_finalize(st);
    sqlite3_finalize(key_st);
    for (size_t i = 0; i < nrows; i++)
        for (int k = 0; k < 8; k++)
            free(rows[i].text[k]);
    free(rows);
    free(aggs);
    free(pairs);
    return ret;
}

/* --------------------------------------------- several databases (ATTACH) */

#define STORE_MAX_SCHEMAS 16

/* Attaches another kexwatch database as schema kwdbN, read-only (the
 * connection was opened SQLITE_OPEN_READONLY and ATTACH inherits that; it is
 * checked), after the same checks store_open makes: a kexwatch database of
 * exactly this build's schema version. */
int store_attach(struct store *s, const char *path, char *err, size_t errsize)
{
    if (!s || !path || !(s->flags & STORE_READONLY)) {
        set_err(err, errsize, "%s: only a read-only store attaches databases", path ? path : "?");
        return -1;
    }
    int n = 0;
    sqlite3_stmt *st;
    if (prepare_query(s, "SELECT count(*) FROM pragma_database_list WHERE name <> 'temp'", &st, err, errsize) < 0)
        return -1;
    if (sqlite3_step(st) == SQLITE_ROW)
        n = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    if (n < 1 || n >= STORE_MAX_SCHEMAS) {
        set_err(err, errsize, "%s: at most %d databases at once", path, STORE_MAX_SCHEMAS);
        return -1;
    }
    if (access(path, R_OK) != 0) {
        set_err(err, errsize, "%s: cannot read: %s; check --db", path, strerror(errno));
        return -1;
    }
    char name[16], sql[160];
    snprintf(name, sizeof name, "kwdb%d", n);
    snprintf(sql, sizeof sql, "ATTACH DATABASE ?1 AS %s", name);
    if (prepare_query(s, sql, &st, err, errsize) < 0)
        return -1;
    sqlite3_bind_text(st, 1, path, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE) {
        set_err(err, errsize, "%s: cannot attach: %s", path, sqlite3_errmsg(s->db));
        return -1;
    }
    int version = 0, app_id = 0;
    snprintf(sql, sizeof sql, "PRAGMA %s.user_version", name);
    int r1 = pragma_int(s->db, sql, &version);
    snprintf(sql, sizeof sql, "PRAGMA %s.application_id", name);
    int r2 = pragma_int(s->db, sql, &app_id);
    const char *why = NULL;
    if (r1 != SQLITE_OK || r2 != SQLITE_OK)
        why = sqlite3_errmsg(s->db);
    else if (sqlite3_db_readonly(s->db, name) != 1)
        why = "not attached read-only";
    else if (app_id != STORE_APP_ID || version == 0)
        why = "not a kexwatch database";
    else if (version > store_migration_count)
        why = "schema version newer than this kexwatch; upgrade kexwatch";
    else if (version < store_migration_count)
        why = "schema version older than this kexwatch; start kexwatchd of this version once to upgrade it";
    if (why) {
        set_err(err, errsize, "%s: %s", path, why);
        snprintf(sql, sizeof sql, "DETACH DATABASE %s", name);
        exec_sql(s->db, sql, NULL, 0);
        return -1;
    }
    return 0;
}

/* The schemas to read: main and every kwdbN attached, in order. */
static int schema_names(struct store *s, char names[][16], char *err, size_t errsize)
{
    sqlite3_stmt *st;
    if (prepare_query(s, "SELECT name FROM pragma_database_list WHERE name <> 'temp' ORDER BY seq", &st, err,
                      errsize) < 0)
        return -1;
    int n = 0;
    while (n < STORE_MAX_SCHEMAS && sqlite3_step(st) == SQLITE_ROW) {
        const char *x = (const char *)sqlite3_column_text(st, 0);
        /* only names this file gave (main, kwdbN): they go into SQL text */
        if (x && (strcmp(x, "main") == 0 ||
                  (strncmp(x, "kwdb", 4) == 0 && strspn(x + 4, "0123456789") == strlen(x + 4))))
            snprintf(names[n++], 16, "%s", x);
    }
    sqlite3_finalize(st);
    return n;
}

/* Runs the statement made of head, then each schema's part (with the
 * schema name at every {S}) joined by UNION ALL, then tail, with the window
 * [from, until) and key (when not NULL) bound as bind_split says. */
static int run_merged(struct store *s, const char *head, const char *part, const char *tail, int64_t from,
                      int64_t until, const char *key, store_row_cb cb, void *arg, char *err, size_t errsize)
{
    char names[STORE_MAX_SCHEMAS][16];
    int n = schema_names(s, names, err, errsize);
    if (n <= 0) {
        if (n == 0)
            set_err(err, errsize, "%s: no database to read", s->path);
        return -1;
    }
    size_t cap = strlen(head) + strlen(tail) + (size_t)n * (strlen(part) * 2 + 200) + 1;
    char *sql = malloc(cap);
    if (!sql) {
        set_err(err, errsize, "out of memory");
        return -1;
    }
    size_t off = (size_t)snprintf(sql, cap, "%s", head);
    for (int i = 0; i < n; i++) {
        if (i)
            off += (size_t)snprintf(sql + off, cap - off, " UNION ALL ");
        /* part names the schema as {S}: replaced here */
        for (const char *p = part; *p && off + 16 < cap;) {
            if (strncmp(p, "{S}", 3) == 0) {
                off += (size_t)snprintf(sql + off, cap - off, "%s", names[i]);
                p += 3;
            } else {
                sql[off++] = *p++;
            }
        }
        sql[off] = '\0';
    }
    snprintf(sql + off, cap - off, "%s", tail);
    sqlite3_stmt *st;
    int rc = prepare_query(s, sql, &st, err, errsize);
    free(sql);
    if (rc < 0)
        return -1;
    struct window w;
    window_split(s, from, until, &w);
    if (bind_split(st, &w, key) != SQLITE_OK) {
        sqlite3_finalize(st);
        set_err(err, errsize, "%s: cannot bind: %s", s->path, sqlite3_errmsg(s->db));
        return -1;
    }
    return run_rows(s, st, cb, arg, err, errsize);
}

int store_failures_merged(struct store *s, const struct store_failures_query *q, store_row_cb cb, void *arg,
                          char *err, size_t errsize)
{
    if (!s || !q || !cb || q->by == STORE_BY_ALGORITHM || (unsigned)q->by > STORE_BY_MISMATCH) {
        set_err(err, errsize, "this failures query does not merge several databases");
        return -1;
    }
    /* per database: grouped by ids first, then named, with the device's
     * key so that devices are counted distinct across databases by key */
    static const char *const keys[] = {
        [STORE_BY_CLIENT] = "c.software AS k, c.fingerprint AS x",
        [STORE_BY_DEVICE] = "dv.key AS k, dv.name AS x",
        [STORE_BY_CATEGORY] = "nullif(g.g, '') AS k, NULL AS x",
        [STORE_BY_MISMATCH] = "nullif(g.g, '') AS k, NULL AS x",
    };
    static const char *const groups[] = {
        [STORE_BY_CLIENT] = "c", [STORE_BY_DEVICE] = "d",
        [STORE_BY_CATEGORY] = "cat", [STORE_BY_MISMATCH] = "mm",
    };
    char src[4000], part[6000];
    if (failure_source(src, sizeof src, "{S}", q->device ? "= (SELECT id FROM {S}.devices WHERE key = ?3)" : NULL,
                       q->by == STORE_BY_DEVICE) < 0)
        return -1;
    snprintf(part, sizeof part,
             "SELECT %s, dv.key AS dkey, g.n AS n, g.f AS f, g.l AS l FROM"
             " (SELECT %s AS g, d, sum(n) AS n, min(f) AS f, max(l) AS l FROM (%s) GROUP BY %s, d) g"
             " JOIN {S}.devices dv ON dv.id = g.d%s",
             keys[q->by], groups[q->by], src, groups[q->by],
             q->by == STORE_BY_CLIENT ? " LEFT JOIN {S}.clients c ON c.id = g.g" : "");
    const char *head = q->by == STORE_BY_DEVICE
                           ? "SELECT k AS key, max(x) AS detail, sum(n) AS failures, count(DISTINCT dkey) AS devices,"
                             " min(f) AS first_seen, max(l) AS last_seen FROM ("
                           : "SELECT k AS key, x AS detail, sum(n) AS failures, count(DISTINCT dkey) AS devices,"
                             " min(f) AS first_seen, max(l) AS last_seen FROM (";
    const char *tail = q->by == STORE_BY_DEVICE ? ") GROUP BY k ORDER BY failures DESC, 1, 2"
                                                : ") GROUP BY k, x ORDER BY failures DESC, 1, 2";
    return run_merged(s, head, part, tail, q->from, q->until, q->device, cb, arg, err, errsize);
}

int store_devices_merged(struct store *s, int64_t since, store_row_cb cb, void *arg, char *err, size_t errsize)
{
    if (!s || !cb)
        return -1;
    char src[4000], part[6000];
    if (failure_source(src, sizeof src, "{S}", NULL, true) < 0)
        return -1;
    snprintf(part, sizeof part,
             "SELECT d.key AS key, d.name AS name, d.vendor AS vendor, d.first_seen AS first_seen,"
             " d.last_seen AS last_seen, ifnull(f.n, 0) AS failures FROM {S}.devices d"
             " LEFT JOIN (SELECT d, sum(n) AS n FROM (%s) GROUP BY d) f ON f.d = d.id",
             src);
    return run_merged(s,
                      "SELECT key, max(name) AS name, max(vendor) AS vendor, min(first_seen) AS first_seen,"
                      " max(last_seen) AS last_seen, sum(failures) AS failures FROM (",
                      part, ") GROUP BY key ORDER BY last_seen DESC, key", since, INT64_MAX, NULL, cb, arg, err,
                      errsize);
}

int store_clients_merged(struct store *s, int64_t from, int64_t until, store_row_cb cb, void *arg, char *err,
                         size_t errsize)
{
    if (!s || !cb)
        return -1;
    char src[4000], part[9000];
    if (failure_source(src, sizeof src, "{S}", NULL, false) < 0)
        return -1;
    /* one UNION ALL of two kinds of rows per database: kind 0, a client type
     * with its lists; kind 1, failures of a client type on a device */
    snprintf(part, sizeof part,
             "SELECT 0 AS kind, c.software AS sw, c.fingerprint AS fp, NULL AS dkey, 0 AS n, c.first_seen AS fs,"
             " c.last_seen AS ls, lk.names AS kex, lh.names AS hostkey, lc.names AS cipher, lm.names AS mac,"
             " lz.names AS compression FROM {S}.clients c"
             " LEFT JOIN {S}.lists lk ON lk.id = c.kex_list LEFT JOIN {S}.lists lh ON lh.id = c.hostkey_list"
             " LEFT JOIN {S}.lists lc ON lc.id = c.cipher_list LEFT JOIN {S}.lists lm ON lm.id = c.mac_list"
             " LEFT JOIN {S}.lists lz ON lz.id = c.compression_list"
             /* the unidentified client type (no client_id) as in store_clients */
             " UNION ALL SELECT 0, NULL, NULL, NULL, 0, min(f), max(l), NULL, NULL, NULL, NULL, NULL"
             " FROM (%s) WHERE c = 0 HAVING count(*) > 0"
             " UNION ALL SELECT 1, c.software, c.fingerprint, dv.key, g.n, NULL, NULL, NULL, NULL, NULL, NULL, NULL"
             " FROM (SELECT c AS cid, d AS did, sum(n) AS n FROM (%s) GROUP BY c, d) g"
             " LEFT JOIN {S}.clients c ON c.id = g.cid JOIN {S}.devices dv ON dv.id = g.did",
             src, src);
    return run_merged(
        s, "WITH u AS MATERIALIZED (", part,
        "),"
        " f AS MATERIALIZED (SELECT sw, fp, dkey, sum(n) AS n FROM u WHERE kind = 1 GROUP BY sw, fp, dkey),"
        " cl AS (SELECT sw, fp, min(fs) AS fs, max(ls) AS ls, max(kex) AS kex, max(hostkey) AS hostkey,"
        "  max(cipher) AS cipher, max(mac) AS mac, max(compression) AS compression FROM u WHERE kind = 0"
        "  GROUP BY sw, fp),"
        " t AS (SELECT sw, fp, sum(n) AS n, count(*) AS d FROM f GROUP BY sw, fp),"
        " top AS (SELECT sw, fp, group_concat(dkey, ' ') AS keys FROM"
        "  (SELECT sw, fp, dkey, row_number() OVER (PARTITION BY sw, fp ORDER BY n DESC, dkey) AS rn FROM f"
        "   ORDER BY sw, fp, rn) WHERE rn <= 3 GROUP BY sw, fp)"
        " SELECT cl.sw AS software, cl.fp AS fingerprint, ifnull(t.n, 0) AS failures, ifnull(t.d, 0) AS devices,"
        " top.keys AS fails_on, cl.fs AS first_seen, cl.ls AS last_seen, cl.kex AS kex, cl.hostkey AS hostkey,"
        " cl.cipher AS cipher, cl.mac AS mac, cl.compression AS compression"
        " FROM cl LEFT JOIN t ON t.sw IS cl.sw AND t.fp IS cl.fp LEFT JOIN top ON top.sw IS cl.sw AND top.fp IS cl.fp"
        " WHERE cl.ls >= ?1 OR t.n IS NOT NULL ORDER BY failures DESC, cl.sw, cl.fp",
        from, until, NULL, cb, arg, err, errsize);
}

/* ------------------------------------------------------ alerts and the day */

int store_alerts(struct store *s, const char *status, int64_t since, store_row_cb cb, void *arg, char *err,
                 size_t errsize)
{
    /* at most a few thousand rows a year (one per device, mismatch and
     * client type): read whole, sorted here */
    static const char sql[] =
        "SELECT a.alert_id AS alert_id, a.status AS status, d.key AS device, d.name AS name,"
        " a.mismatch AS mismatch, a.category AS category, a.software AS software, a.fingerprint AS fingerprint,"
        " a.address AS address, a.first_seen AS first_seen, a.last_seen AS last_seen, a.count AS count,"
        " json_extract(a.object, '$.remediation.server') AS fix,"
        " (SELECT group_concat(value, char(10)) FROM json_each(a.object, '$.remediation.steps')) AS fix_steps"
        " FROM alerts a JOIN devices d ON d.id = a.device_id"
        " WHERE a.last_seen >= ?1 AND (?2 IS NULL OR a.status = ?2)"
        " ORDER BY a.status = 'resolved', a.last_seen DESC, a.alert_id";
    if (!s || !cb)
        return -1;
    sqlite3_stmt *st;
    if (prepare_query(s, sql, &st, err, errsize) < 0)
        return -1;
    sqlite3_bind_int64(st, 1, since);
    if (status)
        sqlite3_bind_text(st, 2, status, -1, SQLITE_STATIC);
    return run_rows(s, st, cb, arg, err, errsize);
}

int store_alert_one(struct store *s, const char *alert_id, store_row_cb cb, void *arg, char *err, size_t errsize)
{
    /* the object as last sent (for an alert saved before schema 5, what the
     * row holds), with the row's state: it is newer (repeats, resolution
     * and probes update the row, not always the object) */
#define T(col) "strftime('%Y-%m-%dT%H:%M:%SZ', " col ", 'unixepoch')"
    static const char sql[] =
        "SELECT json_set(coalesce(a.object, json_object('alert_id', a.alert_id,"
        "   'device', json_object('key', d.key, 'name', d.name, 'vendor', d.vendor),"
        "   'client', json_object('address', a.address, 'software', a.software, 'fingerprint', a.fingerprint),"
        "   'category', a.category, 'mismatch', json_object('id', a.mismatch), 'remediation', json('null'))),"
        " '$.status', a.status, '$.first_seen', " T("a.first_seen") ", '$.last_seen', " T("a.last_seen") ","
        " '$.count', a.count,"
        " '$.fixed', CASE WHEN a.fixed_at IS NULL THEN json('null')"
        "   WHEN json_type(a.object, '$.fixed') = 'object' THEN json(json_extract(a.object, '$.fixed'))"
        "   ELSE json_object('time', " T("a.fixed_at") ", 'by', 'probe', 'server_offer', json('null')) END) AS alert"
        " FROM alerts a JOIN devices d ON d.id = a.device_id WHERE a.alert_id = ?1";
#undef T
    if (!s || !cb || !alert_id)
        return -1;
    sqlite3_stmt *st;
    if (prepare_query(s, sql, &st, err, errsize) < 0)
        return -1;
    sqlite3_bind_text(st, 1, alert_id, -1, SQLITE_STATIC);
    return run_rows(s, st, cb, arg, err, errsize);
}

/* The number of the UTC hour or day (unit %d seconds, given four times)
 * of time f, counted from 1970 and floored before it too. */
#define UNIT_OF_F "((f - ((f %% %d) + %d) %% %d) / %d)"

int store_failures_daily(struct store *s, int64_t from, int64_t until, store_row_cb cb, void *arg, char *err,
                         size_t errsize)
{
    /* per UTC day: the whole days from daily (a count's first time is in
     * its day), the edges from the rows; monthly is of no use here */
    if (!s || !cb)
        return -1;
    char src[4000], sql[6000];
    if (failure_source(src, sizeof src, NULL, NULL, false) < 0)
        return -1;
    /* grouped by day number first, the day's name made once per group
     * (date() on each of a year's count rows took most of the time) */
    snprintf(sql, sizeof sql,
             "SELECT date(g.u * 86400, 'unixepoch') AS day, nullif(g.mm, '') AS mismatch, g.n AS failures FROM"
             " (SELECT " UNIT_OF_F " AS u, mm, sum(n) AS n FROM (%s) GROUP BY u, mm) g"
             " ORDER BY g.u, g.n DESC, 2",
             86400, 86400, 86400, 86400, src);
    sqlite3_stmt *st;
    if (prepare_query(s, sql, &st, err, errsize) < 0)
        return -1;
    struct window w;
    window_split(s, from, until, &w);
    w.m1 = w.m2 = w.d2;
    bind_split(st, &w, NULL);
    return run_rows(s, st, cb, arg, err, errsize);
}

int store_failures_timeline(struct store *s, int64_t from, int64_t until, enum store_bucket bucket,
                            enum store_series series, store_row_cb cb, void *arg, char *err, size_t errsize)
{
    /* f is a failure's time, or the first failure's of a daily row (the
     * same UTC day, so the same day, week and month) or of a monthly row
     * (the same month: used for month buckets and the whole window only).
     * The failures are grouped by hour or day number u first and each
     * group named by its bucket then: formatting each of a year's count
     * rows took most of the time. */
    static const char *const bucket_expr[] = {
        [STORE_BUCKET_HOUR] = "strftime('%Y-%m-%dT%H:00Z', u * 3600, 'unixepoch')",
        [STORE_BUCKET_DAY] = "date(u * 86400, 'unixepoch')",
        /* its Monday: 1970-01-01 (day 0) was a Thursday */
        [STORE_BUCKET_WEEK] = "date((u - ((u + 3) % 7 + 7) % 7) * 86400, 'unixepoch')",
        [STORE_BUCKET_MONTH] = "strftime('%Y-%m', u * 86400, 'unixepoch')",
        [STORE_BUCKET_WINDOW] = "NULL",
    };
    if (!s || !cb || (unsigned)bucket > STORE_BUCKET_WINDOW || (unsigned)series > STORE_SERIES_CLIENT_DEVICE)
        return -1;
    char src[4000], sql[6000];
    if (failure_source(src, sizeof src, NULL, NULL, false) < 0) {
        set_err(err, errsize, "%s: a timeline query is too long", s->path);
        return -1;
    }
    const char *b = bucket_expr[bucket];
    int unit = bucket == STORE_BUCKET_HOUR ? 3600 : 86400;
    char units[300];
    snprintf(units, sizeof units, UNIT_OF_F, unit, unit, unit, unit);
    int n;
    if (series == STORE_SERIES_MISMATCH)
        n = snprintf(sql, sizeof sql,
                     "SELECT g.b, nullif(g.mm, ''), g.n FROM (SELECT %s AS b, mm, sum(n) AS n FROM"
                     " (SELECT %s AS u, mm, sum(n) AS n FROM (%s) GROUP BY u, mm) GROUP BY b, mm) g"
                     " ORDER BY g.b, g.n DESC, g.mm",
                     b, units, src);
    else if (series == STORE_SERIES_CLIENT)
        n = snprintf(sql, sizeof sql,
                     "SELECT g.b, c.software, c.fingerprint, g.n FROM (SELECT %s AS b, cid, sum(n) AS n FROM"
                     " (SELECT %s AS u, c AS cid, sum(n) AS n FROM (%s) GROUP BY u, cid) GROUP BY b, cid) g"
                     " LEFT JOIN clients c ON c.id = g.cid ORDER BY g.b, g.n DESC, 2, 3",
                     b, units, src);
    else
        n = snprintf(sql, sizeof sql,
                     "SELECT g.b, c.software, c.fingerprint, dv.key, g.n FROM (SELECT %s AS b, cid, did, sum(n) AS n"
                     " FROM (SELECT %s AS u, c AS cid, d AS did, sum(n) AS n FROM (%s) GROUP BY u, cid, did)"
                     " GROUP BY b, cid, did) g LEFT JOIN clients c ON c.id = g.cid"
                     " JOIN devices dv ON dv.id = g.did ORDER BY g.b, g.n DESC, 2, 3, 4",
                     b, units, src);
    if (n < 0 || (size_t)n >= sizeof sql) {
        set_err(err, errsize, "%s: a timeline query is too long", s->path);
        return -1;
    }
    sqlite3_stmt *st;
    if (prepare_query(s, sql, &st, err, errsize) < 0)
        return -1;
    struct window w;
    window_split(s, from, until, &w);
    if (bucket != STORE_BUCKET_MONTH && bucket != STORE_BUCKET_WINDOW)
        w.m1 = w.m2 = w.d2; /* a monthly row's first time says nothing of its day or week */
    if (bucket == STORE_BUCKET_HOUR) /* a daily row has no hour: the rows alone */
        w = (struct window){.from = from, .until = until, .lo = until, .hi = until};
    bind_split(st, &w, NULL);
    return run_rows(s, st, cb, arg, err, errsize);
}

int store_query_rows(struct store *s, const char *sql, const int64_t *bind1, store_row_cb cb, void *arg, char *err,
                     size_t errsize)
{
    sqlite3_stmt *st;
    if (!s || !cb || prepare_query(s, sql, &st, err, errsize) < 0)
        return -1;
    if (bind1)
        sqlite3_bind_int64(st, 1, *bind1);
    return run_rows(s, st, cb, arg, err, errsize);
}
