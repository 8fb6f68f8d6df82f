/* SPDX-License-Identifier: ISC */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "algo.h"
#include "console.h"
#include "http.h"
#include "httpauth.h"
#include "log.h"
#include "stats.h"
#include "store.h"
#include "tls.h"

/* Bounds of one request: a browser or scraper sends a few hundred bytes of
 * headers and no body (GET/HEAD only). */
#define HTTP_MAX_HEADERS 8192
#define HTTP_MAX_BODY 1024
#define HTTP_TIMEOUT_S 10
/* A connection must finish its next request within this long of its
 * accept or its last answer: evhttp's timeout is per read, so a client
 * sending a byte every few seconds would otherwise hold a slot for hours. */
#define HTTP_DEADLINE_S 30
#define HTTP_MAX_PARAMS 16

struct conn {
    struct http *h;
    struct evhttp_connection *evcon;
    evutil_socket_t fd;
    time_t since; /* accept or last answer */
    bool killed;
    struct conn *next;
};

enum job_kind { JOB_PAGE, JOB_METRICS, JOB_HEALTHZ, JOB_USERS };

struct job {
    struct evhttp_request *req;
    enum job_kind kind;
    char *path;
    char *query; /* raw query string, NULL: none */
    char *authorization;
    char peer[64];
    /* the answer */
    struct console_reply reply;
    bool auth_failed;
    char user[65];
    struct job *next;
};

struct http {
    struct event_base *base;
    struct evhttp *http;
    char *addr_text;
    char *database;
    struct httpauth *auth;
    struct algo_db *algorithms;
    unsigned max_conn;
    struct tls_server *tls; /* HTTPS: each connection's TLS bufferevent comes from it */
    metrics_write_cb metrics;
    void *metrics_arg;

    struct conn *conns;
    struct bufferevent **fresh; /* accepted since the last hook turn */
    size_t nfresh, fresh_cap;
    struct event *ev_hook, *ev_sweep, *ev_done;
    struct http_counts counts;
    struct log_ratelimit rl_auth;

    /* the worker */
    pthread_t thread;
    bool thread_started, stop;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct job *todo, **todo_tail, *done, **done_tail;
    size_t ntodo;
    int notify[2];
    struct store *store; /* the worker's read-only connection, opened at first use */
};

/* ------------------------------------------------------------ connections */

static void on_close(struct evhttp_connection *evcon, void *arg)
{
    struct conn *c = arg;
    struct http *h = c->h;
    (void)evcon;
    for (struct conn **pp = &h->conns; *pp; pp = &(*pp)->next) {
        if (*pp == c) {
            *pp = c->next;
            h->counts.open--;
            break;
        }
    }
    free(c);
}

/* Called by evhttp for every accepted connection, before it has a
 * descriptor: the bufferevent is noted, and counted in on_hook once evhttp
 * has set it up (its callback argument is then the connection). */
static struct bufferevent *on_bev(struct event_base *base, void *arg)
{
    struct http *h = arg;
    if (h->nfresh == h->fresh_cap) {
        size_t nc = h->fresh_cap ? 2 * h->fresh_cap : 16;
        struct bufferevent **n = realloc(h->fresh, nc * sizeof *n);
        if (!n)
            return NULL; /* evhttp makes its own; this one goes uncounted */
        h->fresh = n;
        h->fresh_cap = nc;
    }
    struct bufferevent *bev = h->tls ? tls_server_bev(h->tls, base) : bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE);
    if (!bev)
        return NULL;
    h->fresh[h->nfresh++] = bev;
    event_active(h->ev_hook, 0, 0);
    return bev;
}

static void refuse(struct http *h, evutil_socket_t fd)
{
    static const char busy[] = "HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\n"
                               "Content-Type: text/plain\r\nContent-Length: 45\r\n\r\n"
                               "too many connections; [http] max_connections\n";
    h->counts.refused++;
    /* a small answer fits the new socket's buffer; evhttp then reads EOF
     * and frees the connection itself (over HTTPS it is just closed: the
     * handshake has not happened yet) */
    if (!h->tls) {
        ssize_t n = send(fd, busy, sizeof busy - 1, MSG_NOSIGNAL | MSG_DONTWAIT);
        (void)n;
    }
    shutdown(fd, SHUT_RDWR);
}

static void on_hook(evutil_socket_t fd_unused, short what, void *arg)
{
    struct http *h = arg;
    (void)fd_unused;
    (void)what;
    for (size_t i = 0; i < h->nfresh; i++) {
        struct bufferevent *bev = h->fresh[i];
        void *cbarg = NULL;
        bufferevent_getcb(bev, NULL, NULL, NULL, &cbarg);
        evutil_socket_t fd = bufferevent_getfd(bev);
        if (!cbarg || fd < 0)
            continue;
        if (h->counts.open >= h->max_conn) {
            refuse(h, fd);
            continue;
        }
        struct conn *c = calloc(1, sizeof *c);
        if (!c) {
            refuse(h, fd);
            continue;
        }
        *c = (struct conn){.h = h, .evcon = cbarg, .fd = fd, .since = time(NULL), .next = h->conns};
        h->conns = c;
        h->counts.open++;
        evhttp_connection_set_closecb(c->evcon, on_close, c);
    }
    h->nfresh = 0;
}

/* Closes connections past their deadline (shutdown: evhttp sees EOF and
 * frees them through its own paths, also one whose request is being
 * answered). */
static void on_sweep(evutil_socket_t fd_unused, short what, void *arg)
{
    struct http *h = arg;
    (void)fd_unused;
    (void)what;
    time_t now = time(NULL);
    for (struct conn *c = h->conns; c; c = c->next) {
        if (!c->killed && now - c->since > HTTP_DEADLINE_S) {
            c->killed = true;
            h->counts.expired++;
            shutdown(c->fd, SHUT_RDWR);
        }
    }
}

static void conn_answered(struct http *h, struct evhttp_request *req)
{
    struct evhttp_connection *evcon = evhttp_request_get_connection(req);
    for (struct conn *c = h->conns; c && evcon; c = c->next)
        if (c->evcon == evcon)
            c->since = time(NULL);
}

/* ----------------------------------------------------------------- worker */

static void job_free(struct job *j)
{
    if (!j)
        return;
    free(j->path);
    free(j->query);
    free(j->authorization);
    free(j->reply.body);
    free(j);
}

/* Splits the query string into names and values (decoded, borrowed from
 * kv); returns the count, or -1 when malformed or too many. */
static int split_query(const char *query, struct evkeyvalq *kv, struct console_param *params)
{
    kv->tqh_first = NULL; /* TAILQ_INIT without sys/queue.h */
    kv->tqh_last = &kv->tqh_first;
    if (!query)
        return 0;
    if (evhttp_parse_query_str(query, kv) < 0)
        return -1;
    int n = 0;
    for (struct evkeyval *e = kv->tqh_first; e; e = e->next.tqe_next) {
        if (n == HTTP_MAX_PARAMS)
            return -1;
        params[n++] = (struct console_param){.name = e->key, .value = e->value};
    }
    return n;
}

static void reply_text(struct console_reply *r, int status, const char *text)
{
    free(r->body);
    r->status = status;
    r->type = "text/plain; charset=utf-8";
    r->body = strdup(text);
    r->len = r->body ? strlen(r->body) : 0;
}

/* JOB_USERS: the users file (path, NULL: none) read again; the new list
 * replaces the old one only when the whole file is good. The answer is
 * the sentence the loop logs (status 200: replaced, else kept). Here, on
 * the worker: it alone uses h->auth, and checking each hash takes time. */
static void reload_users(struct http *h, struct job *j)
{
    char err[1200];
    struct httpauth *a = NULL;
    if (j->path && httpauth_load(j->path, &a, err, sizeof err) < 0) {
        char msg[1400];
        snprintf(msg, sizeof msg, "SIGHUP: %s; the users read before stay in force (%zu)", err,
                 httpauth_count(h->auth));
        reply_text(&j->reply, 500, msg);
        return;
    }
    httpauth_free(h->auth);
    h->auth = a;
    char msg[1200];
    if (a)
        snprintf(msg, sizeof msg, "SIGHUP: [http] users re-read from %s: %zu user(s)", j->path, httpauth_count(a));
    else
        snprintf(msg, sizeof msg, "SIGHUP: [http] users removed: the console, API and metrics answer without a "
                 "password now");
    reply_text(&j->reply, 200, msg);
}

static void work(struct http *h, struct job *j)
{
    if (j->kind == JOB_USERS) {
        reload_users(h, j);
        return;
    }
    if (h->auth && httpauth_check(h->auth, j->authorization, j->user, sizeof j->user) != 1) {
        j->auth_failed = true;
        reply_text(&j->reply, 401, "authentication required: a user and password of the [http] users file\n");
        return;
    }
    if (j->kind == JOB_METRICS)
        return; /* rendered on the loop */
    if (j->kind == JOB_HEALTHZ) {
        reply_text(&j->reply, 200, "ok\n");
        return;
    }
    char store_err[1024] = "";
    if (!h->store && store_open(h->database, STORE_READONLY, 0, &h->store, store_err, sizeof store_err) < 0)
        h->store = NULL;
    struct console_param params[HTTP_MAX_PARAMS];
    struct evkeyvalq kv;
    int n = split_query(j->query, &kv, params);
    if (n < 0) {
        console_bad_request(j->path, "the query string is malformed or has more than 16 parameters", &j->reply);
    } else {
        struct console_request r = {
            .path = j->path, .params = params, .nparams = (size_t)n, .now = (int64_t)time(NULL),
            .store_error = store_err, .algorithms = h->algorithms,
        };
        console_answer(h->store, &r, &j->reply);
        if (j->reply.status >= 500 && h->store) {
            /* the database went away or changed under us: open it again next time */
            store_close(h->store);
            h->store = NULL;
        }
    }
    evhttp_clear_headers(&kv);
}

static void *worker(void *arg)
{
    struct http *h = arg;
    pthread_mutex_lock(&h->mu);
    for (;;) {
        while (!h->stop && !h->todo)
            pthread_cond_wait(&h->cv, &h->mu);
        if (h->stop)
            break;
        struct job *j = h->todo;
        h->todo = j->next;
        if (!h->todo)
            h->todo_tail = &h->todo;
        h->ntodo--;
        pthread_mutex_unlock(&h->mu);
        work(h, j);
        pthread_mutex_lock(&h->mu);
        j->next = NULL;
        *h->done_tail = j;
        h->done_tail = &j->next;
        pthread_mutex_unlock(&h->mu);
        char b = 1;
        ssize_t w = write(h->notify[1], &b, 1); /* full pipe: a wake-up is already pending */
        (void)w;
        pthread_mutex_lock(&h->mu);
    }
    pthread_mutex_unlock(&h->mu);
    store_close(h->store);
    h->store = NULL;
    return NULL;
}

/* ------------------------------------------------------------ the loop side */

static void send_answer(struct http *h, struct evhttp_request *req, int status, const char *type, const char *body,
                        size_t len)
{
    struct evkeyvalq *hd = evhttp_request_get_output_headers(req);
    evhttp_add_header(hd, "Content-Type", type);
    evhttp_add_header(hd, "Cache-Control", "no-store");
    evhttp_add_header(hd, "X-Content-Type-Options", "nosniff");
    evhttp_add_header(hd, "X-Frame-Options", "DENY");
    evhttp_add_header(hd, "Referrer-Policy", "no-referrer");
    /* the pages load nothing from anywhere: inline style and script only */
    evhttp_add_header(hd, "Content-Security-Policy",
                      "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:; "
                      "form-action 'self'; frame-ancestors 'none'; base-uri 'none'");
    if (status == 401)
        evhttp_add_header(hd, "WWW-Authenticate", "Basic realm=\"kexwatch\", charset=\"UTF-8\"");
    struct evbuffer *out = evbuffer_new();
    if (!out || evbuffer_add(out, body ? body : "", len) < 0) {
        evbuffer_free(out);
        evhttp_send_error(req, HTTP_INTERNAL, "out of memory");
        return;
    }
    static const struct {
        int code;
        const char *reason;
    } reasons[] = {{200, "OK"}, {400, "Bad Request"}, {401, "Unauthorized"}, {404, "Not Found"},
                   {500, "Internal Server Error"}, {503, "Service Unavailable"}};
    const char *reason = "Error";
    for (size_t i = 0; i < sizeof reasons / sizeof reasons[0]; i++)
        if (reasons[i].code == status)
            reason = reasons[i].reason;
    conn_answered(h, req);
    h->counts.requests++;
    evhttp_send_reply(req, status, reason, out);
    evbuffer_free(out);
}

static void answer_metrics(struct http *h, struct evhttp_request *req)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    if (!f) {
        evhttp_send_error(req, HTTP_INTERNAL, "out of memory");
        return;
    }
    h->metrics(h->metrics_arg, f);
    fclose(f);
    send_answer(h, req, 200, "text/plain; version=0.0.4", text, len);
    free(text);
}

static void on_done(evutil_socket_t fd, short what, void *arg)
{
    struct http *h = arg;
    (void)what;
    char buf[64];
    while (read(fd, buf, sizeof buf) > 0)
        ;
    pthread_mutex_lock(&h->mu);
    struct job *list = h->done;
    h->done = NULL;
    h->done_tail = &h->done;
    pthread_mutex_unlock(&h->mu);
    while (list) {
        struct job *j = list;
        list = j->next;
        if (j->kind == JOB_USERS) {
            if (j->reply.status == 200)
                log_notice("%s", j->reply.body ? j->reply.body : "SIGHUP: [http] users re-read");
            else
                log_error("%s", j->reply.body ? j->reply.body : "SIGHUP: [http] users: out of memory");
            job_free(j);
            continue;
        }
        if (j->auth_failed) {
            h->counts.auth_failed++;
            /* the logger escapes the received name (log.h) */
            if (j->user[0] && log_ratelimit_allow(&h->rl_auth, time(NULL), NULL))
                log_warning("HTTP request from %s refused: wrong password or unknown user '%s'; check them "
                            "against the [http] users file",
                            j->peer, j->user);
        }
        if (j->kind == JOB_METRICS && !j->auth_failed)
            answer_metrics(h, j->req);
        else
            send_answer(h, j->req, j->reply.status, j->reply.type, j->reply.body, j->reply.len);
        job_free(j);
    }
}

static void on_request(struct evhttp_request *req, void *arg)
{
    struct http *h = arg;
    const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
    const char *path = uri ? evhttp_uri_get_path(uri) : NULL;
    const char *query = uri ? evhttp_uri_get_query(uri) : NULL;
    struct job *j = calloc(1, sizeof *j);
    size_t plen = 0;
    if (j)
        j->path = evhttp_uridecode(path && *path ? path : "/", 0, &plen);
    if (!j || !j->path || (query && !(j->query = strdup(query)))) {
        job_free(j);
        evhttp_send_error(req, HTTP_INTERNAL, "out of memory");
        return;
    }
    if (strlen(j->path) != plen) { /* %00 in the path */
        job_free(j);
        evhttp_send_error(req, HTTP_BADREQUEST, "bad path");
        return;
    }
    j->req = req;
    j->kind = strcmp(j->path, "/metrics") == 0 ? JOB_METRICS
              : strcmp(j->path, "/healthz") == 0 ? JOB_HEALTHZ
                                                  : JOB_PAGE;
    const char *auth = evhttp_find_header(evhttp_request_get_input_headers(req), "Authorization");
    if (auth && !(j->authorization = strdup(auth))) {
        job_free(j);
        evhttp_send_error(req, HTTP_INTERNAL, "out of memory");
        return;
    }
    char *host = NULL;
    ev_uint16_t port = 0;
    struct evhttp_connection *evcon = evhttp_request_get_connection(req);
    if (evcon)
        evhttp_connection_get_peer(evcon, &host, &port);
    snprintf(j->peer, sizeof j->peer, "%s port %u", host ? host : "?", (unsigned)port);
    pthread_mutex_lock(&h->mu);
    bool full = h->ntodo >= h->max_conn;
    if (!full) {
        *h->todo_tail = j;
        h->todo_tail = &j->next;
        h->ntodo++;
        pthread_cond_signal(&h->cv);
    }
    pthread_mutex_unlock(&h->mu);
    if (full) {
        job_free(j);
        evhttp_send_error(req, 503, "busy");
    }
}

/* --------------------------------------------------------------- set-up */

static bool is_loopback(const struct cfg_addr *a)
{
    if (a->ss.ss_family == AF_INET)
        return (ntohl(((const struct sockaddr_in *)&a->ss)->sin_addr.s_addr) >> 24) == 127;
    if (a->ss.ss_family == AF_INET6)
        return IN6_IS_ADDR_LOOPBACK(&((const struct sockaddr_in6 *)&a->ss)->sin6_addr);
    return false;
}

int http_reload_users(struct http *h, const char *users)
{
    if (!h)
        return 0;
    struct job *j = calloc(1, sizeof *j);
    if (!j || (users && !(j->path = strdup(users)))) {
        job_free(j);
        return -1;
    }
    j->kind = JOB_USERS;
    pthread_mutex_lock(&h->mu);
    *h->todo_tail = j;
    h->todo_tail = &j->next;
    h->ntodo++;
    pthread_cond_signal(&h->cv);
    pthread_mutex_unlock(&h->mu);
    return 0;
}

struct http_counts http_get_counts(const struct http *h)
{
    return h ? h->counts : (struct http_counts){0};
}

int http_new(struct event_base *base, const struct cfg_addr *addr, const struct http_env *env, struct http **out,
             char *err, size_t errsize)
{
    *out = NULL;
    struct http *h = calloc(1, sizeof *h);
    if (!h) {
        snprintf(err, errsize, "out of memory");
        return -1;
    }
    h->base = base;
    h->notify[0] = h->notify[1] = -1;
    h->todo_tail = &h->todo;
    h->done_tail = &h->done;
    h->max_conn = env->max_connections ? env->max_connections : HTTP_DEFAULT_MAX_CONNECTIONS;
    h->tls = env->tls;
    h->metrics = env->metrics;
    h->metrics_arg = env->metrics_arg;
    h->rl_auth = (struct log_ratelimit)LOG_RATELIMIT_INIT(60, 5);
    pthread_mutex_init(&h->mu, NULL);
    pthread_cond_init(&h->cv, NULL);
    if (!(h->addr_text = strdup(addr->text)) || !(h->database = strdup(env->database ? env->database : ""))) {
        snprintf(err, errsize, "out of memory");
        goto fail;
    }
    if (env->users && httpauth_load(env->users, &h->auth, err, errsize) < 0)
        goto fail;
    if (env->algorithms && algo_db_load(env->algorithms, env->keywords, &h->algorithms, err, errsize) < 0)
        goto fail;
    if (pipe2(h->notify, O_CLOEXEC | O_NONBLOCK) < 0) {
        snprintf(err, errsize, "[http] listen %s: cannot make a pipe: %s", addr->text, strerror(errno));
        goto fail;
    }
    if (!(h->http = evhttp_new(base)) || !(h->ev_hook = event_new(base, -1, 0, on_hook, h)) ||
        !(h->ev_sweep = event_new(base, -1, EV_PERSIST, on_sweep, h)) ||
        !(h->ev_done = event_new(base, h->notify[0], EV_READ | EV_PERSIST, on_done, h))) {
        snprintf(err, errsize, "out of memory");
        goto fail;
    }
    /* cfg_addr.text is "host:port" or "[v6]:port" */
    char host[64];
    unsigned port = 0;
    const char *colon = strrchr(addr->text, ':');
    size_t hl = colon ? (size_t)(colon - addr->text) : 0;
    if (hl >= sizeof host)
        hl = sizeof host - 1;
    memcpy(host, addr->text, hl);
    host[hl] = '\0';
    if (host[0] == '[') {
        memmove(host, host + 1, strlen(host));
        char *rb = strchr(host, ']');
        if (rb)
            *rb = '\0';
    }
    if (colon)
        port = (unsigned)strtoul(colon + 1, NULL, 10);
    if (evhttp_bind_socket(h->http, host, (unsigned short)port) != 0) {
        snprintf(err, errsize, "[http] listen %s: cannot bind: %s; choose a free address and port", addr->text,
                 strerror(errno));
        goto fail;
    }
    evhttp_set_allowed_methods(h->http, EVHTTP_REQ_GET | EVHTTP_REQ_HEAD);
    evhttp_set_max_headers_size(h->http, HTTP_MAX_HEADERS);
    evhttp_set_max_body_size(h->http, HTTP_MAX_BODY);
    evhttp_set_timeout(h->http, HTTP_TIMEOUT_S);
    evhttp_set_bevcb(h->http, on_bev, h);
    evhttp_set_gencb(h->http, on_request, h);
    struct timeval sec = {1, 0};
    if (event_add(h->ev_done, NULL) < 0 || event_add(h->ev_sweep, &sec) < 0) {
        snprintf(err, errsize, "out of memory");
        goto fail;
    }
    if (pthread_create(&h->thread, NULL, worker, h) != 0) {
        snprintf(err, errsize, "[http] listen %s: cannot start the HTTP worker thread", addr->text);
        goto fail;
    }
    h->thread_started = true;
    struct {
        const char *name, *help;
        int type;
        const uint64_t *v;
    } regs[] = {
        {"http_connections", "HTTP connections open now", STATS_GAUGE, &h->counts.open},
        {"http_requests", "HTTP requests answered", STATS_COUNTER, &h->counts.requests},
        {"http_refused", "HTTP connections refused: [http] max_connections", STATS_COUNTER, &h->counts.refused},
        {"http_expired", "HTTP connections closed at their 30 s deadline", STATS_COUNTER, &h->counts.expired},
        {"http_auth_failed", "HTTP requests refused: wrong or no password", STATS_COUNTER, &h->counts.auth_failed},
    };
    for (size_t i = 0; i < sizeof regs / sizeof regs[0]; i++)
        stats_register_u64(regs[i].name, regs[i].type, regs[i].help, regs[i].v);
    if (!h->auth && !is_loopback(addr))
        log_warning("[http] listen %s is reachable from the network and has no [http] users file: anyone who "
                    "can connect reads the device history; set users or listen on 127.0.0.1",
                    addr->text);
    log_info("serving the console, API and metrics on %s://%s/ (at most %u connections%s)", h->tls ? "https" : "http",
             addr->text, h->max_conn, h->auth ? ", basic authentication" : "");
    *out = h;
    return 0;
fail:
    http_free(h);
    return -1;
}

void http_free(struct http *h)
{
    if (!h)
        return;
    stats_unregister(h, sizeof *h);
    if (h->thread_started) {
        pthread_mutex_lock(&h->mu);
        h->stop = true;
        pthread_cond_signal(&h->cv);
        pthread_mutex_unlock(&h->mu);
        pthread_join(h->thread, NULL);
    }
    /* the requests of unanswered jobs go with their connections */
    for (struct job *j = h->todo, *n; j; j = n) {
        n = j->next;
        job_free(j);
    }
    for (struct job *j = h->done, *n; j; j = n) {
        n = j->next;
        job_free(j);
    }
    if (h->http)
        evhttp_free(h->http); /* closes every connection: on_close frees each conn */
    for (struct conn *c = h->conns, *n; c; c = n) {
        n = c->next;
        free(c);
    }
    free(h->fresh);
    if (h->ev_hook)
        event_free(h->ev_hook);
    if (h->ev_sweep)
        event_free(h->ev_sweep);
    if (h->ev_done)
        event_free(h->ev_done);
    if (h->notify[0] >= 0)
        close(h->notify[0]);
    if (h->notify[1] >= 0)
        close(h->notify[1]);
    httpauth_free(h->auth);
    algo_db_free(h->algorithms);
    pthread_mutex_destroy(&h->mu);
    pthread_cond_destroy(&h->cv);
    free(h->addr_text);
    free(h->database);
    free(h);
}
