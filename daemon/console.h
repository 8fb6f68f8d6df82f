/* SPDX-License-Identifier: ISC */
/* console: what the HTTP listener answers besides /metrics and /healthz:
 * the JSON API under /api/v1/ (the query commands' own JSON, made by
 * query_run, the function `kexwatch ... --format json` prints) and the
 * console's HTML pages (server-rendered, inline SVG charts, nothing loaded
 * from anywhere). No I/O but the store's queries: the HTTP module hands
 * requests in and sends the replies. Every received or stored string that
 * reaches a page goes through one HTML escaping function. */
#ifndef KW_CONSOLE_H
#define KW_CONSOLE_H

#include <stddef.h>
#include <stdint.h>

struct algo_db;
struct store;

struct console_param {
    const char *name, *value; /* decoded */
};

struct console_request {
    const char *path; /* decoded, starts with '/' */
    const struct console_param *params;
    size_t nparams;
    int64_t now;
    const char *store_error; /* why the store is NULL */
    const struct algo_db *algorithms; /* ratings of listed algorithms, NULL: none shown */
};

struct console_reply {
    int status;       /* 200, 400, 404, 500, 503 */
    const char *type; /* static Content-Type */
    char *body;       /* malloc'd (the caller frees), may hold no NUL */
    size_t len;
};

/* Answers r from s (NULL: the database could not be opened; r->store_error
 * says why, answered 503). Always fills *out; out->body may be NULL only
 * when memory is short (status 500). */
void console_answer(struct store *s, const struct console_request *r, struct console_reply *out);

/* A 400 answer for path (JSON under /api/, else a page) saying what. */
void console_bad_request(const char *path, const char *what, struct console_reply *out);

#endif
