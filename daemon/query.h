/* SPDX-License-Identifier: ISC */
/* query: the history questions (failures, devices, device, clients,
 * alerts, daily), asked by the kexwatch tool's commands and by the daemon's
 * JSON API and console alike: both fill a struct query_request and call
 * query_run, which reads the store and prints the answer, so the API's JSON
 * is the tool's `--format json` byte for byte. Argument parsing of the
 * commands, time parsing and the table/json/csv output live here; SQL
 * stays in the store. */
#ifndef KW_QUERY_H
#define KW_QUERY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "store.h"

/* Each runs one command: argv[0] is the command's name, the rest its
 * arguments. cfg_path (-c) names the configuration whose [store] database
 * is read, db_path (--db, may be NULL) overrides it. Returns the exit code:
 * 0 an answer (an empty one too), 1 an error, 2 a usage error. */
int query_failures(const char *cfg_path, const char *db_path, int argc, char **argv);
int query_devices(const char *cfg_path, const char *db_path, int argc, char **argv);
int query_device(const char *cfg_path, const char *db_path, int argc, char **argv);
int query_clients(const char *cfg_path, const char *db_path, int argc, char **argv);
int query_alerts(const char *cfg_path, const char *db_path, int argc, char **argv);
int query_daily(const char *cfg_path, const char *db_path, int argc, char **argv);
int query_alert(const char *cfg_path, const char *db_path, int argc, char **argv);

/* Parses an RFC 3339 time ("2026-11-01T00:00:00Z", offsets, fractions
 * ignored) or a date ("2026-11-01", midnight UTC) into seconds since the
 * epoch. Returns 0 or -1. */
int query_parse_time(const char *text, long long *out);

/* QUERY_ALERT: one alert by id, its JSON object (as last sent, with its
 * state now) in every format; the console's alert page and
 * /api/v1/alerts/ID ask it. */
enum query_kind { QUERY_FAILURES, QUERY_DEVICES, QUERY_DEVICE, QUERY_CLIENTS, QUERY_ALERTS, QUERY_DAILY, QUERY_ALERT };
enum query_format { QUERY_TABLE, QUERY_JSON, QUERY_CSV };

#define QUERY_DEFAULT_WINDOW (30 * 86400) /* the SPEC's default --since 30d */

struct query_request {
    enum query_kind kind;
    enum store_by by;     /* failures */
    int64_t from, until;  /* the window: [from, until); the others than failures and daily use from only */
    const char *device;   /* failures: only this device; device: its key */
    const char *status;   /* alerts: "firing", "resolved" or NULL for both */
    const char *alert_id; /* alert: its id */
    int64_t now;          /* for ages */
    bool local_times;     /* times in the local zone (the tool's --local) */
    bool merged;          /* the store has attached databases: the _merged queries */
    enum store_bucket bucket; /* daily: per day (0), hour, week, month or the whole window */
    enum store_series series; /* daily: by mismatch (0), client type, client type and device */
};

/* The names of store_bucket (hour, day, week, month, window) and
 * store_series (mismatch, client, client-device): 0 and *out, or -1. */
int query_parse_bucket(const char *text, enum store_bucket *out);
int query_parse_series(const char *text, enum store_series *out);
const char *query_bucket_name(enum store_bucket b);

/* Fills from/until from the window parameters as the tool and the API take
 * them (each may be NULL): since (a duration back from now), or from and/or
 * until (RFC 3339 times or dates); none: the last 30 days. prefix names the
 * parameters in messages ("--" for the tool, "" for the API). Returns 0, or
 * -1 with what is wrong in err. */
int query_window(const char *since, const char *from, const char *until, int64_t now, const char *prefix,
                 int64_t *out_from, int64_t *out_until, char *err, size_t errsize);

/* The names of store_by for "by" (client, device, category, algorithm,
 * mismatch): returns 0 and *out, or -1. */
int query_parse_by(const char *text, enum store_by *out);

#define QUERY_NOT_FOUND (-2)

/* Asks q of s and prints the answer to out in fmt. Returns 0,
 * QUERY_NOT_FOUND (the device of QUERY_DEVICE or the alert of QUERY_ALERT
 * is not in the database: err says so, nothing printed), or -1 with what went wrong in err. */
int query_run(struct store *s, const struct query_request *q, enum query_format fmt, FILE *out, char *err,
              size_t errsize);

/* Opens the database read-only for command cmd: db_path, else cfg_path's
 * [store] database, else the installed configuration's, else the default;
 * checks as the query commands do (messages on stderr). 0 or -1. */
struct store;
int query_open_store(const char *cmd, const char *cfg_path, const char *db_path, struct store **out);

#endif
