/* SPDX-License-Identifier: ISC */
/* http: the daemon's one HTTP listener ([http] listen, also accepted as
 * [metrics] listen) serving /metrics, /healthz, the JSON API under /api/v1/
 * and the console pages at /, through libevent's evhttp.
 *
 * Read-only: only GET and HEAD are served, nothing here changes state.
 * Every request has hard limits (8 KiB of headers, 1 KiB of body, 10 s
 * between reads) and the listener holds at most max_connections at once:
 * libevent 2.1's evhttp has no cap, so each accepted connection is counted
 * here (evhttp_set_bevcb + the connection's close callback) and one past the
 * cap is answered 503 and closed at once. A connection lives at most 30 s,
 * so clients that trickle bytes cannot keep the slots.
 *
 * The event loop never waits for the database or a password hash: every
 * request is handed to one worker thread that checks basic authentication
 * (users file, crypt(3) hashes) and answers API and console requests from a
 * read-only SQLite connection of its own (WAL lets it read while the
 * daemon's writer writes). /metrics is rendered back on the loop (the
 * counters are the loop's). Requests wait in a queue bounded by the
 * connection cap (a connection has one request in flight). */
#ifndef KW_HTTP_H
#define KW_HTTP_H

#include <stdint.h>
#include <stdio.h>

#include "cfg.h"
#include "metrics.h"

struct event_base;
struct http;
struct tls_server;

struct http_env {
    const char *database;     /* read by the worker, read-only; borrowed for http's life */
    const char *users;        /* basic-auth users file, NULL: no authentication */
    const char *algorithms, *keywords; /* knowledge files for the ratings pages show (NULL: none) */
    unsigned max_connections; /* 0: HTTP_DEFAULT_MAX_CONNECTIONS */
    struct tls_server *tls;   /* [http] tls: serve HTTPS with it (borrowed, outlives http), NULL: plain HTTP */
    metrics_write_cb metrics; /* the /metrics text, called on the loop */
    void *metrics_arg;
};

#define HTTP_DEFAULT_MAX_CONNECTIONS 64

struct http_counts {
    uint64_t requests;    /* requests answered */
    uint64_t refused;     /* connections closed at once: max_connections reached */
    uint64_t expired;     /* connections closed at their 30 s deadline */
    uint64_t auth_failed; /* requests answered 401 after a wrong or missing password */
    uint64_t open;        /* connections open now */
};

/* Binds addr ("host:port", "[v6]:port") and serves. Loads the users file
 * when env->users is set (a missing, unreadable or empty file, or a line
 * that is not NAME:CRYPT-HASH, is an error naming FILE:LINE). Returns 0 and
 * *out, or -1 with a message in err. */
int http_new(struct event_base *base, const struct cfg_addr *addr, const struct http_env *env, struct http **out,
             char *err, size_t errsize);

/* Reads the users file again (SIGHUP), on the worker: when the whole new
 * file is good it replaces the users (users NULL: authentication off),
 * else the old users stay and the error says which FILE:LINE is wrong; both
 * logged. Requests queued before are answered with the old users. Returns
 * 0, or -1 when memory is short (nothing changes); NULL h: a no-op. */
int http_reload_users(struct http *h, const char *users);

/* The listener's counters (NULL h: all zero). */
struct http_counts http_get_counts(const struct http *h);

/* Stops the worker (after the request it is answering), closes the
 * listener and every connection; NULL is a no-op. */
void http_free(struct http *h);

#endif
