/* SPDX-License-Identifier: ISC */
/* store-probe.c: what the daemon's prober learned of devices' SSH servers
 * (see store.h): the last probe of each device and its lists, stored as
 * profiles with source 'probed'. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "store-private.h"

enum { PS_DEVICE = 0, PS_ADDRESS, PS_BANNER, PS_ERROR, PS_N };

int store_enqueue_probe(struct store *s, const struct store_probe *p)
{
    if (!s || (s->flags & STORE_READONLY) || !p || !p->device || !p->address)
        return -1;
    /* received text (the banner) and the key are kept as a negotiation's */
    char *cut[PS_N] = {NULL};
    const char *str[PS_N] = {p->device, p->address, p->banner, p->error};
    for (int i = 0; i < PS_N; i++)
        if (str[i] && strlen(str[i]) > STORE_STR_MAX && !(str[i] = cut[i] = strndup(str[i], cut_len(str[i], STORE_STR_MAX))))
            goto nomem;
    size_t bytes = 0;
    struct sop *op = store_sop_new(str, PS_N, &bytes);
    if (!op)
        goto nomem;
    op->t[0] = p->time;
    op->t[1] = (int64_t)p->port;
    int rc = store_push_op(s, Q_PROBE, op, bytes, "record a probe");
    /* its lists after it: the device row is made by the probe's write */
    for (int slot = 0; rc == 0 && slot < NEG_NSLOTS; slot++)
        if (p->lists[slot] && p->lists[slot][0])
            rc = store_enqueue_list(s, str[PS_DEVICE], slot, p->lists[slot], p->time, PREC_PROBED);
    for (int i = 0; i < PS_N; i++)
        free(cut[i]);
    return rc;
nomem:
    for (int i = 0; i < PS_N; i++)
        free(cut[i]);
    return -1;
}

int store_probe_write(struct store *s, const struct sop *op)
{
    int64_t dev;
    int rc = store_device_id(s, store_sop_str(op, PS_DEVICE), op->t[0], &dev);
    if (rc)
        return rc;
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(s->db,
                           "INSERT INTO probes (device_id, time, address, port, banner, error)"
                           " VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (device_id) DO UPDATE SET"
                           " time = excluded.time, address = excluded.address, port = excluded.port,"
                           " banner = coalesce(excluded.banner, probes.banner), error = excluded.error"
                           " WHERE excluded.time >= probes.time",
                           -1, &st, NULL) != SQLITE_OK)
        return sqlite3_errcode(s->db);
    sqlite3_bind_int64(st, 1, dev);
    sqlite3_bind_int64(st, 2, op->t[0]);
    for (int i = PS_ADDRESS; i < PS_N; i++) {
        const char *v = store_sop_str(op, i);
        int col = i == PS_ADDRESS ? 3 : i + 3;
        if (v)
            sqlite3_bind_text(st, col, v, -1, SQLITE_STATIC);
        else
            sqlite3_bind_null(st, col);
    }
    sqlite3_bind_int64(st, 4, op->t[1]);
    rc = sqlite3_step(st);
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? 0 : rc;
}

int store_posture_lists(struct store *s, store_row_cb cb, void *arg, char *err, size_t errsize)
{
    /* a device has at most 16 profile rows (8 slots, 2 sources) */
    static const char sql[] =
        "SELECT d.key AS key, d.name AS name, d.vendor AS vendor, p.slot AS slot, p.source AS source,"
        " l.names AS list, p.learned_at AS learned_at, pr.banner AS banner, pr.time AS probed_at"
        " FROM profiles p JOIN devices d ON d.id = p.device_id JOIN lists l ON l.id = p.list_id"
        " LEFT JOIN probes pr ON pr.device_id = d.id"
        " WHERE p.source IN ('learned', 'probed') ORDER BY d.key, p.slot, p.learned_at, p.source";
    return store_query_rows(s, sql, NULL, cb, arg, err, errsize);
}

int store_posture_clients(struct store *s, int64_t since, store_row_cb cb, void *arg, char *err, size_t errsize)
{
    /* successes by their own time index (successes_time), grouped per
     * device and client type: a report, read once */
    static const char sql[] =
        "SELECT d.key AS key, c.software AS software, c.fingerprint AS fingerprint,"
        " (SELECT names FROM lists WHERE id = c.kex_list) AS kex,"
        " (SELECT names FROM lists WHERE id = c.hostkey_list) AS hostkey,"
        " (SELECT names FROM lists WHERE id = c.cipher_list) AS cipher,"
        " (SELECT names FROM lists WHERE id = c.mac_list) AS mac,"
        " (SELECT names FROM lists WHERE id = c.compression_list) AS compression"
        " FROM (SELECT DISTINCT device_id, client_id FROM negotiations INDEXED BY successes_time"
        "       WHERE failed = 0 AND time >= ?1) g"
        " JOIN devices d ON d.id = g.device_id LEFT JOIN clients c ON c.id = g.client_id"
        " ORDER BY d.key, c.software, c.fingerprint";
    return store_query_rows(s, sql, &since, cb, arg, err, errsize);
}
