/* SPDX-License-Identifier: ISC */
/* query: the history commands of the kexwatch tool (failures, devices,
 * device), reading the database read-only through store's query functions.
 * Argument parsing, time parsing and the table/json/csv output live here;
 * SQL stays in store.c. */
#ifndef KW_QUERY_H
#define KW_QUERY_H

/* Each runs one command: argv[0] is the command's name, the rest its
 * arguments. cfg_path (-c) names the configuration whose [store] database
 * is read, db_path (--db, may be NULL) overrides it. Returns the exit code:
 * 0 an answer (an empty one too), 1 an error, 2 a usage error. */
int query_failures(const char *cfg_path, const char *db_path, int argc, char **argv);
int query_devices(const char *cfg_path, const char *db_path, int argc, char **argv);
int query_device(const char *cfg_path, const char *db_path, int argc, char **argv);
int query_clients(const char *cfg_path, const char *db_path, int argc, char **argv);

/* Parses an RFC 3339 time ("2026-11-01T00:00:00Z", offsets, fractions
 * ignored) or a date ("2026-11-01", midnight UTC) into seconds since the
 * epoch. Returns 0 or -1. */
int query_parse_time(const char *text, long long *out);

#endif
