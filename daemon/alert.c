#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <jansson.h>

#include "alert.h"
#include "algo.h"
#include "catalogue.h"
#include "log.h"
#include "store.h"
#include "negotiate.h"
#include "text.h"

#define ALERT_BUCKETS 4096u
#define ALERT_MAX 200000u /* alerts remembered for deduplication */

struct alert_state {
    struct alert_state *next;
    char id[33];
    char device[128];
    char fingerprint[33];
    char mismatch[64];
    char category[16];
    int64_t first_seen, last_seen, last_sent;
    int64_t last_rx; /* wall clock of the last failure (device clocks may be off) */
    uint64_t count;
    json_t *last; /* the last alert object sent, for the resolved notice */
};

#define HOOK_QUEUE_MAX 10000u  /* notifications waiting for the webhook */
#define HOOK_BACKOFF_MIN 1u     /* seconds */
#define HOOK_BACKOFF_MAX 300u
#define HOOK_TIMEOUT_S 10
#define HOOK_BATCH_MAX 100      /* Alertmanager alerts grouped in one POST */

struct hook_item {
    struct hook_item *next;
    char *body;
    size_t len;
    int64_t outbox_id; /* 0 when not in the store's outbox */
};

struct webhook {
    struct alerter *a;
    struct event_base *base;
    struct evhttp_connection *conn;
    char url[512];
    char host[256];
    char path[1024];
    int alertmanager;
    struct hook_item *head, *tail;
    size_t queued;
    int in_flight;        /* notifications the request in flight carries */
    struct event *retry_ev;
    unsigned backoff;
    uint64_t sent, failed, dropped;
};

/* RFC 5424 over UDP, or over TCP with RFC 6587 octet counting */
struct syslog_sink {
    struct alerter *a;
    int64_t *pending_ids;    /* TCP: outbox rows written but not yet drained */
    size_t n_pending, cap_pending;
    struct event_base *base;
    struct cfg_addr addr;
    int tcp;
    int fd;                  /* UDP socket */
    struct bufferevent *bev; /* TCP connection, made on demand */
    char target[80];
    char host[128];
    uint64_t sent, failed;
};

#define EXEC_QUEUE_MAX 1000u

struct exec_job {
    struct exec_job *next;
    char *json;
    int64_t outbox_id; /* 0 when not in the store's outbox */
};

struct exec_child {
    pid_t pid;
    int64_t started;
    int64_t outbox_id;
};

struct exec_sink {
    char *path;
    struct exec_job *head, *tail;
    size_t queued;
    struct exec_child *running;
    unsigned n_running;
    uint64_t sent, failed;
};

struct alerter {
    const struct cfg *cfg;
    FILE *file;
    struct webhook *hook;
    struct syslog_sink *syslog;
    struct exec_sink *exec;
    struct store *store;
    int replay; /* stdout only, whatever the configuration says */
    struct alert_state *buckets[ALERT_BUCKETS];
    size_t n;
    uint64_t sent, suppressed;
    struct log_ratelimit rl;
};

static unsigned bucket_of(const char *id)
{
    unsigned h = 0;
    for (int i = 0; i < 8 && id[i]; i++)
        h = h * 16 + (unsigned)(id[i] <= '9' ? id[i] - '0' : id[i] - 'a' + 10);
    return h % ALERT_BUCKETS;
}

static int open_file(const struct cfg *cfg, FILE **out, char *err, size_t errsize)
{
    *out = NULL;
    if (!cfg->alert_file)
        return 0;
    *out = fopen(cfg->alert_file, "a");
    if (!*out) {
        snprintf(err, errsize, "%s: cannot open the alert file ([alerts] file): %s; create its directory or fix "
                 "its permissions",
                 cfg->alert_file, strerror(errno));
        return -1;
    }
    return 0;
}



/* ------------------------------------------------------------ syslog sink */

/* Everything written so far reached the kernel: those notifications are
 * delivered as far as a TCP sender can know. */
static void syslog_drained_cb(struct bufferevent *bev, void *arg)
{
    struct syslog_sink *sk = arg;
    (void)bev;
    for (size_t i = 0; i < sk->n_pending; i++)
        if (sk->a->store)
            store_outbox_done(sk->a->store, sk->pending_ids[i]);
    sk->n_pending = 0;
}

static void syslog_event_cb(struct bufferevent *bev, short what, void *arg)
{
    struct syslog_sink *sk = arg;
    (void)bev;
    if (what & (BEV_EVENT_ERROR | BEV_EVENT_EOF)) {
        /* what was still buffered is lost with the connection: counted; its
         * outbox rows stay and are sent again at the next start */
        sk->failed++;
        sk->n_pending = 0;
        bufferevent_free(sk->bev);
        sk->bev = NULL;
    }
}

static int syslog_new(struct alerter *a, struct event_base *base, const char *url, char *err, size_t errsize)
{
    struct syslog_sink *sk = calloc(1, sizeof *sk);
    if (!sk) {
        snprintf(err, errsize, "out of memory");
        return -1;
    }
    sk->fd = -1;
    sk->base = base;
    sk->a = a;
    const char *rest = NULL;
    if (strncmp(url, "udp://", 6) == 0)
        rest = url + 6;
    else if (strncmp(url, "tcp://", 6) == 0) {
        rest = url + 6;
        sk->tcp = 1;
    }
    if (!rest || cfg_parse_addr(rest, &sk->addr) < 0) {
        snprintf(err, errsize, "[alerts] syslog: '%s' must be udp://ADDRESS:PORT or tcp://ADDRESS:PORT (numeric)",
                 url);
        free(sk);
        return -1;
    }
    snprintf(sk->target, sizeof sk->target, "%s", url);
    if (gethostname(sk->host, sizeof sk->host) != 0 || !sk->host[0])
        snprintf(sk->host, sizeof sk->host, "-");
    if (!sk->tcp) {
        sk->fd = socket(sk->addr.ss.ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (sk->fd < 0) {
            snprintf(err, errsize, "[alerts] syslog %s: %s", url, strerror(errno));
            free(sk);
            return -1;
        }
    }
    a->syslog = sk;
    return 0;
}

static void syslog_send(struct alerter *a, const char *json, const char *severity, const char *status,
                        int64_t outbox_id)
{
    struct syslog_sink *sk = a->syslog;
    /* facility local0; crit/warning/info, resolved as notice */
    int sev = status && strcmp(status, "resolved") == 0 ? 5
              : severity && strcmp(severity, "critical") == 0 ? 2
              : severity && strcmp(severity, "info") == 0 ? 6 : 4;
    char tbuf[40], head[256];
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    int hn = snprintf(head, sizeof head, "<%d>1 %s %s kexwatchd %ld ALERT - ", 16 * 8 + sev,
                      text_rfc3339(tbuf, sizeof tbuf, ts.tv_sec, ts.tv_nsec / 1000), sk->host, (long)getpid());
    size_t jl = strlen(json);
    if (!sk->tcp) {
        char *msg = malloc((size_t)hn + jl);
        if (!msg)
            return;
        memcpy(msg, head, (size_t)hn);
        memcpy(msg + hn, json, jl);
        if (sendto(sk->fd, msg, (size_t)hn + jl, 0, (struct sockaddr *)&sk->addr.ss, sk->addr.len) < 0) {
            sk->failed++;
        } else {
            sk->sent++;
            if (outbox_id && a->store)
                store_outbox_done(a->store, outbox_id);
        }
        free(msg);
        return;
    }
    if (!sk->bev) {
        sk->bev = bufferevent_socket_new(sk->base, -1, BEV_OPT_CLOSE_ON_FREE);
        if (!sk->bev || bufferevent_socket_connect(sk->bev, (struct sockaddr *)&sk->addr.ss, (int)sk->addr.len) < 0) {
            if (sk->bev)
                bufferevent_free(sk->bev);
            sk->bev = NULL;
            sk->failed++;
            return;
        }
        bufferevent_setcb(sk->bev, NULL, syslog_drained_cb, syslog_event_cb, sk);
        bufferevent_enable(sk->bev, EV_WRITE);
    }
    /* octet counting keeps a JSON with any byte in it one frame */
    evbuffer_add_printf(bufferevent_get_output(sk->bev), "%zu ", (size_t)hn + jl);
    bufferevent_write(sk->bev, head, (size_t)hn);
    bufferevent_write(sk->bev, json, jl);
    sk->sent++;
    if (outbox_id) {
        if (sk->n_pending == sk->cap_pending) {
            size_t cap = sk->cap_pending ? sk->cap_pending * 2 : 16;
            int64_t *v = realloc(sk->pending_ids, cap * sizeof *v);
            if (!v)
                return;
            sk->pending_ids = v;
            sk->cap_pending = cap;
        }
        sk->pending_ids[sk->n_pending++] = outbox_id;
    }
}

static void syslog_free(struct syslog_sink *sk)
{
    if (!sk)
        return;
    if (sk->bev)
        bufferevent_free(sk->bev);
    if (sk->fd >= 0)
        close(sk->fd);
    free(sk->pending_ids);
    free(sk);
}

/* -------------------------------------------------------------- exec sink */

static void exec_start(struct alerter *a, struct exec_job *job, int64_t now)
{
    struct exec_sink *ex = a->exec;
    int p[2];
    if (pipe2(p, O_CLOEXEC) < 0) {
        ex->failed++;
        return;
    }
    pid_t pid = fork();
    if (pid < 0) {
        close(p[0]);
        close(p[1]);
        ex->failed++;
        return;
    }
    if (pid == 0) {
        dup2(p[0], STDIN_FILENO);
        execl(ex->path, ex->path, (char *)NULL);
        _exit(127);
    }
    close(p[0]);
    /* an alert is a few kilobytes: it fits the pipe, so this never blocks */
    size_t len = strlen(job->json), off = 0;
    while (off < len) {
        ssize_t w = write(p[1], job->json + off, len - off);
        if (w <= 0)
            break;
        off += (size_t)w;
    }
    if (write(p[1], "\n", 1) < 0)
        off = 0;
    close(p[1]);
    ex->running[ex->n_running].pid = pid;
    ex->running[ex->n_running].started = now;
    ex->running[ex->n_running].outbox_id = job->outbox_id;
    ex->n_running++;
}

/* Reaps finished programs, kills those over exec_timeout, starts waiting
 * ones while fewer than exec_max run. */
static void exec_tick(struct alerter *a, int64_t now)
{
    struct exec_sink *ex = a->exec;
    if (!ex)
        return;
    for (unsigned i = 0; i < ex->n_running;) {
        int status;
        pid_t r = waitpid(ex->running[i].pid, &status, WNOHANG);
        if (r == 0 && now - ex->running[i].started >= (int64_t)a->cfg->exec_timeout) {
            kill(ex->running[i].pid, SIGKILL);
            r = waitpid(ex->running[i].pid, &status, 0);
            status = -1;
            if (log_ratelimit_allow(&a->rl, time(NULL), NULL))
                log_warning("alert program %s ran longer than %u s and was killed; check it", ex->path,
                            a->cfg->exec_timeout);
        }
        if (r == 0) {
            i++;
            continue;
        }
        /* the program ran: its outbox row goes either way; one that failed
         * or hung is not run again (it may have half acted), only counted
         * and reported */
        if (ex->running[i].outbox_id && a->store)
            store_outbox_done(a->store, ex->running[i].outbox_id);
        if (r > 0 && status == 0) {
            ex->sent++;
        } else {
            ex->failed++;
            if (status != -1 && log_ratelimit_allow(&a->rl, time(NULL), NULL))
                log_warning("alert program %s failed (exit status %d); the alert was still written to the other "
                            "sinks",
                            ex->path, WIFEXITED(status) ? WEXITSTATUS(status) : -1);
        }
        ex->running[i] = ex->running[--ex->n_running];
    }
    while (ex->head && ex->n_running < a->cfg->exec_max) {
        struct exec_job *job = ex->head;
        ex->head = job->next;
        if (!ex->head)
            ex->tail = NULL;
        ex->queued--;
        exec_start(a, job, now);
        free(job->json);
        free(job);
    }
}

static void exec_enqueue(struct alerter *a, const char *json, int64_t outbox_id)
{
    struct exec_sink *ex = a->exec;
    if (ex->queued >= EXEC_QUEUE_MAX) {
        ex->failed++;
        if (log_ratelimit_allow(&a->rl, time(NULL), NULL))
            log_error("alert program %s: %u alerts waiting, one was not run; the program is too slow",
                      ex->path, EXEC_QUEUE_MAX);
        return;
    }
    struct exec_job *job = calloc(1, sizeof *job);
    if (!job || !(job->json = strdup(json))) {
        free(job);
        return;
    }
    job->outbox_id = outbox_id;
    if (ex->tail)
        ex->tail->next = job;
    else
        ex->head = job;
    ex->tail = job;
    ex->queued++;
    exec_tick(a, (int64_t)time(NULL));
}

static void exec_free(struct exec_sink *ex)
{
    if (!ex)
        return;
    /* programs still running finish on their own; reap what has */
    for (unsigned i = 0; i < ex->n_running; i++)
        waitpid(ex->running[i].pid, NULL, WNOHANG);
    while (ex->head) {
        struct exec_job *j = ex->head;
        ex->head = j->next;
        free(j->json);
        free(j);
    }
    free(ex->running);
    free(ex->path);
    free(ex);
}

uint64_t alerter_sink_sent(const struct alerter *a, const char *sink)
{
    if (strcmp(sink, "syslog") == 0)
        return a->syslog ? a->syslog->sent : 0;
    if (strcmp(sink, "exec") == 0)
        return a->exec ? a->exec->sent : 0;
    return 0;
}

uint64_t alerter_sink_failed(const struct alerter *a, const char *sink)
{
    if (strcmp(sink, "syslog") == 0)
        return a->syslog ? a->syslog->failed : 0;
    if (strcmp(sink, "exec") == 0)
        return a->exec ? a->exec->failed : 0;
    return 0;
}

/* ------------------------------------------------------------ webhook */

static void hook_send(struct webhook *w);

static void hook_pop(struct webhook *w)
{
    struct hook_item *it = w->head;
    if (!it)
        return;
    w->head = it->next;
    if (!w->head)
        w->tail = NULL;
    w->queued--;
    free(it->body);
    free(it);
}

static void hook_retry_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    hook_send(arg);
}

/* A failed attempt waits longer each time (with jitter, so a fleet of
 * collectors does not hammer a recovering receiver in step). */
static void hook_failed(struct webhook *w, const char *why)
{
    w->failed++;
    uint64_t held = 0;
    if (log_ratelimit_allow(&w->a->rl, time(NULL), &held))
        log_warning("webhook %s: delivery failed (%s); %zu alert(s) waiting, retrying in %u s; check the "
                    "receiver%s",
                    w->url, why, w->queued, w->backoff, held ? " (similar warnings were held back)" : "");
    struct timeval tv = {.tv_sec = (time_t)w->backoff, .tv_usec = (suseconds_t)(rand() % 250000)};
    evtimer_add(w->retry_ev, &tv);
    w->backoff = w->backoff * 2 > HOOK_BACKOFF_MAX ? HOOK_BACKOFF_MAX : w->backoff * 2;
}

static void hook_done(struct evhttp_request *req, void *arg)
{
    struct webhook *w = arg;
    int carried = w->in_flight;
    w->in_flight = 0;
    int code = req ? evhttp_request_get_response_code(req) : 0;
    if (code >= 200 && code < 300) {
        w->backoff = HOOK_BACKOFF_MIN;
        for (int i = 0; i < carried && w->head; i++) {
            if (w->head->outbox_id && w->a->store)
                store_outbox_done(w->a->store, w->head->outbox_id);
            hook_pop(w);
            w->sent++;
        }
        hook_send(w);
        return;
    }
    int i = 0;
    for (struct hook_item *it = w->head; it && i < carried; it = it->next, i++)
        if (it->outbox_id && w->a->store)
            store_outbox_failed(w->a->store, it->outbox_id, (int64_t)time(NULL) + w->backoff);
    char why[64];
    if (code)
        snprintf(why, sizeof why, "HTTP %d", code);
    else
        snprintf(why, sizeof why, "no response: connection refused or timed out");
    hook_failed(w, why);
}

/* One request at a time per sink; in Alertmanager mode the waiting alerts
 * go together (up to HOOK_BATCH_MAX per POST), so a storm of failures makes
 * a bounded number of requests without dropping any alert. */
static void hook_send(struct webhook *w)
{
    if (w->in_flight || !w->head || evtimer_pending(w->retry_ev, NULL))
        return;
    struct evhttp_request *req = evhttp_request_new(hook_done, w);
    if (!req) {
        hook_failed(w, "out of memory");
        return;
    }
    struct evkeyvalq *h = evhttp_request_get_output_headers(req);
    evhttp_add_header(h, "Host", w->host);
    evhttp_add_header(h, "Content-Type", "application/json");
    evhttp_add_header(h, "User-Agent", "kexwatchd/" PACKAGE_VERSION);
    struct evbuffer *out = evhttp_request_get_output_buffer(req);
    int n = 0;
    if (w->alertmanager) {
        /* each body is a one-alert array "[{...}]": join their insides */
        evbuffer_add(out, "[", 1);
        for (struct hook_item *it = w->head; it && n < HOOK_BATCH_MAX; it = it->next, n++) {
            if (n)
                evbuffer_add(out, ",", 1);
            if (it->len >= 2)
                evbuffer_add(out, it->body + 1, it->len - 2);
        }
        evbuffer_add(out, "]", 1);
    } else {
        evbuffer_add(out, w->head->body, w->head->len);
        n = 1;
    }
    if (evhttp_make_request(w->conn, req, EVHTTP_REQ_POST, w->path) != 0) {
        hook_failed(w, "cannot start the request");
        return;
    }
    w->in_flight = n;
}

static void hook_enqueue(struct webhook *w, char *body, int64_t outbox_id)
{
    if (w->queued >= HOOK_QUEUE_MAX) {
        /* bounded: the oldest notification goes, and the operator is told */
        hook_pop(w);
        w->dropped++;
        if (log_ratelimit_allow(&w->a->rl, time(NULL), NULL))
            log_error("webhook %s: %u alerts waiting, the oldest was dropped; the receiver has been down too long",
                      w->url, HOOK_QUEUE_MAX);
    }
    struct hook_item *it = calloc(1, sizeof *it);
    if (!it) {
        free(body);
        return;
    }
    it->body = body;
    it->len = strlen(body);
    it->outbox_id = outbox_id;
    if (w->tail)
        w->tail->next = it;
    else
        w->head = it;
    w->tail = it;
    w->queued++;
    hook_send(w);
}

static int hook_new(struct alerter *a, struct event_base *base, const char *url, const char *format, char *err,
                    size_t errsize)
{
    struct evhttp_uri *u = evhttp_uri_parse(url);
    const char *scheme = u ? evhttp_uri_get_scheme(u) : NULL;
    const char *host = u ? evhttp_uri_get_host(u) : NULL;
    if (!u || !scheme || strcmp(scheme, "http") != 0 || !host) {
        snprintf(err, errsize,
                 "[alerts] webhook: '%s' is not an http:// URL (for https put a TLS-terminating proxy in front)",
                 url);
        if (u)
            evhttp_uri_free(u);
        return -1;
    }
    struct webhook *w = calloc(1, sizeof *w);
    if (!w) {
        evhttp_uri_free(u);
        snprintf(err, errsize, "out of memory");
        return -1;
    }
    w->a = a;
    w->base = base;
    w->backoff = HOOK_BACKOFF_MIN;
    w->alertmanager = strcmp(format, "generic") != 0;
    int port = evhttp_uri_get_port(u);
    if (port < 0)
        port = 80;
    snprintf(w->url, sizeof w->url, "%s", url);
    snprintf(w->host, sizeof w->host, "%s:%d", host, port);
    const char *path = evhttp_uri_get_path(u);
    const char *query = evhttp_uri_get_query(u);
    snprintf(w->path, sizeof w->path, "%s%s%s", path && *path ? path : "/", query ? "?" : "", query ? query : "");
    w->conn = evhttp_connection_base_new(base, NULL, host, (unsigned short)port);
    w->retry_ev = evtimer_new(base, hook_retry_cb, w);
    evhttp_uri_free(u);
    if (!w->conn || !w->retry_ev) {
        if (w->conn)
            evhttp_connection_free(w->conn);
        if (w->retry_ev)
            event_free(w->retry_ev);
        free(w);
        snprintf(err, errsize, "out of memory");
        return -1;
    }
    evhttp_connection_set_timeout(w->conn, HOOK_TIMEOUT_S);
    a->hook = w;
    return 0;
}

static void hook_free(struct webhook *w)
{
    if (!w)
        return;
    while (w->head)
        hook_pop(w);
    event_free(w->retry_ev);
    evhttp_connection_free(w->conn);
    free(w);
}

/* Alertmanager v2 (/api/v2/alerts): an array of alerts with labels that
 * route and group, annotations for people, and startsAt/endsAt. A firing
 * alert ends after resolve_after unless it is repeated, so the quiet period
 * resolves it in Alertmanager too. */
static char *alertmanager_body(const struct alerter *a, json_t *o, int64_t now)
{
    json_t *labels = json_object(), *ann = json_object(), *al = json_object();
    json_t *dev = json_object_get(o, "device"), *cl = json_object_get(o, "client");
    json_t *mm = json_object_get(o, "mismatch"), *rem = json_object_get(o, "remediation");
    json_object_set_new(labels, "alertname", json_string("SSHAlgorithmMismatch"));
    json_object_set(labels, "device", json_object_get(dev, "key"));
    json_object_set(labels, "mismatch", json_object_get(mm, "id"));
    json_object_set(labels, "category", json_object_get(o, "category"));
    json_object_set(labels, "severity", json_object_get(mm, "severity"));
    json_t *sw = json_object_get(cl, "software");
    json_object_set_new(labels, "client_software", json_is_string(sw) ? json_copy(sw) : json_string("unknown"));
    /* Alertmanager labels and annotations must be strings */
    const char *k;
    json_t *v;
    void *tmp;
    json_object_foreach_safe(labels, tmp, k, v)
    {
        if (!json_is_string(v))
            json_object_set_new(labels, k, json_string(""));
    }
    json_object_set(ann, "summary", json_object_get(mm, "summary"));
    json_object_set(ann, "remediation", json_object_get(rem, "server"));
    json_object_set(ann, "client_remediation", json_object_get(rem, "client"));
    json_object_set(ann, "risk", json_object_get(rem, "risk"));
    json_object_set(ann, "alert_id", json_object_get(o, "alert_id"));
    json_object_foreach_safe(ann, tmp, k, v)
    {
        if (!json_is_string(v))
            json_object_del(ann, k);
    }
    char tbuf[40];
    json_object_set_new(al, "labels", labels);
    json_object_set_new(al, "annotations", ann);
    json_object_set(al, "startsAt", json_object_get(o, "first_seen"));
    const char *status = json_string_value(json_object_get(o, "status"));
    int64_t ends = status && strcmp(status, "resolved") == 0 ? now : now + (int64_t)a->cfg->resolve_after;
    json_object_set_new(al, "endsAt", json_string(text_rfc3339(tbuf, sizeof tbuf, ends, -1)));
    json_t *arr = json_array();
    json_array_append_new(arr, al);
    char *body = json_dumps(arr, JSON_COMPACT);
    json_decref(arr);
    return body;
}

uint64_t alerter_webhook_sent(const struct alerter *a)
{
    return a->hook ? a->hook->sent : 0;
}

uint64_t alerter_webhook_failed(const struct alerter *a)
{
    return a->hook ? a->hook->failed : 0;
}

size_t alerter_webhook_pending(const struct alerter *a)
{
    return a->hook ? a->hook->queued : 0;
}

static void restore_alert(void *arg, const struct store_alert *sa)
{
    struct alerter *a = arg;
    if (a->n >= ALERT_MAX || strlen(sa->alert_id) != 32)
        return;
    struct alert_state *s = calloc(1, sizeof *s);
    if (!s)
        return;
    memcpy(s->id, sa->alert_id, 33);
    snprintf(s->device, sizeof s->device, "%s", sa->device);
    snprintf(s->fingerprint, sizeof s->fingerprint, "%s", sa->fingerprint ? sa->fingerprint : "");
    snprintf(s->mismatch, sizeof s->mismatch, "%s", sa->mismatch ? sa->mismatch : "unclassified");
    snprintf(s->category, sizeof s->category, "%s", sa->category ? sa->category : "kex");
    s->first_seen = sa->first_seen;
    s->last_seen = sa->last_seen;
    s->last_sent = sa->last_notified;
    s->last_rx = sa->last_notified;
    s->count = sa->count;
    unsigned b = bucket_of(s->id);
    s->next = a->buckets[b];
    a->buckets[b] = s;
    a->n++;
}

static void restore_syslog(void *arg, int64_t id, const char *payload)
{
    struct alerter *a = arg;
    json_t *o = json_loads(payload, 0, NULL);
    json_t *mm = o ? json_object_get(o, "mismatch") : NULL;
    syslog_send(a, payload, json_string_value(json_object_get(mm, "severity")),
                json_string_value(json_object_get(o, "status")), id);
    json_decref(o);
}

static void restore_exec(void *arg, int64_t id, const char *payload)
{
    exec_enqueue(arg, payload, id);
}

static void restore_outbox(void *arg, int64_t id, const char *payload)
{
    struct alerter *a = arg;
    char *body = strdup(payload);
    if (body)
        hook_enqueue(a->hook, body, id);
}

int alerter_new(const struct cfg *cfg, struct event_base *base, struct store *store, struct alerter **out, char *err,
                size_t errsize)
{
    *out = NULL;
    struct alerter *a = calloc(1, sizeof *a);
    if (!a) {
        snprintf(err, errsize, "out of memory");
        return -1;
    }
    a->cfg = cfg;
    a->rl = (struct log_ratelimit)LOG_RATELIMIT_INIT(60, 5);
    if (open_file(cfg, &a->file, err, errsize) < 0) {
        free(a);
        return -1;
    }
    if (cfg->webhook && base && hook_new(a, base, cfg->webhook, cfg->webhook_format, err, errsize) < 0) {
        if (a->file)
            fclose(a->file);
        free(a);
        return -1;
    }
    if (cfg->syslog_sink && base && syslog_new(a, base, cfg->syslog_sink, err, errsize) < 0) {
        alerter_free(a);
        return -1;
    }
    if (cfg->exec_sink) {
        a->exec = calloc(1, sizeof *a->exec);
        if (a->exec) {
            a->exec->path = strdup(cfg->exec_sink);
            a->exec->running = calloc(cfg->exec_max ? cfg->exec_max : 1, sizeof *a->exec->running);
        }
        if (!a->exec || !a->exec->path || !a->exec->running) {
            snprintf(err, errsize, "out of memory");
            alerter_free(a);
            return -1;
        }
        if (access(cfg->exec_sink, X_OK) != 0) {
            snprintf(err, errsize, "[alerts] exec: %s is not an executable program: %s", cfg->exec_sink,
                     strerror(errno));
            alerter_free(a);
            return -1;
        }
    }
    a->store = store;
    if (store) {
        int n = store_alerts_load(store, restore_alert, a);
        if (n > 0)
            log_info("restored %d firing alert(s) from the database", n);
        if (a->hook) {
            n = store_outbox_load(store, "webhook", restore_outbox, a);
            if (n > 0)
                log_notice("%d webhook notification(s) from before the restart are being delivered", n);
        }
        if (a->syslog) {
            n = store_outbox_load(store, "syslog", restore_syslog, a);
            if (n > 0)
                log_notice("%d syslog notification(s) from before the restart are being sent", n);
        }
        if (a->exec) {
            n = store_outbox_load(store, "exec", restore_exec, a);
            if (n > 0)
                log_notice("%d alert program run(s) from before the restart are being started", n);
        }
    }
    *out = a;
    return 0;
}

int alerter_reopen(struct alerter *a, const struct cfg *cfg, char *err, size_t errsize)
{
    FILE *f;
    if (open_file(cfg, &f, err, errsize) < 0)
        return -1;
    if (a->file)
        fclose(a->file);
    a->file = f;
    a->cfg = cfg;
    return 0;
}

int alerter_new_replay(const struct cfg *cfg, struct alerter **out)
{
    struct alerter *a = calloc(1, sizeof *a);
    *out = a;
    if (!a)
        return -1;
    a->cfg = cfg;
    a->replay = 1;
    a->rl = (struct log_ratelimit)LOG_RATELIMIT_INIT(60, 5);
    return 0;
}

size_t alerter_firing(const struct alerter *a)
{
    return a->n;
}

uint64_t alerter_sent(const struct alerter *a)
{
    return a->sent;
}

uint64_t alerter_suppressed(const struct alerter *a)
{
    return a->suppressed;
}

/* One line to every sink; the file is flushed to disk so an acknowledged
 * alert survives a crash. */
static void emit(struct alerter *a, json_t *o, const char *alert_id)
{
    char *line = json_dumps(o, JSON_COMPACT);
    if (!line)
        return;
    if (a->cfg->alert_stdout || a->replay) {
        fputs(line, stdout);
        fputc('\n', stdout);
        fflush(stdout);
    }
    if (a->file) {
        if (fputs(line, a->file) < 0 || fputc('\n', a->file) == EOF || fflush(a->file) != 0 ||
            fsync(fileno(a->file)) != 0) {
            if (log_ratelimit_allow(&a->rl, time(NULL), NULL))
                log_error("alert file %s: write failed: %s; alerts still go to the other sinks (check free space)",
                          a->cfg->alert_file, strerror(errno));
        }
    }
    a->sent++;
    /* each sink's notification is in the outbox before it is tried */
    if (a->syslog) {
        json_t *mm = json_object_get(o, "mismatch");
        int64_t oid = 0;
        if (a->store)
            store_outbox_add(a->store, alert_id, "syslog", line, (int64_t)time(NULL), &oid);
        syslog_send(a, line, json_string_value(json_object_get(mm, "severity")),
                    json_string_value(json_object_get(o, "status")), oid);
    }
    if (a->exec) {
        int64_t oid = 0;
        if (a->store)
            store_outbox_add(a->store, alert_id, "exec", line, (int64_t)time(NULL), &oid);
        exec_enqueue(a, line, oid);
    }
    if (a->hook) {
        char *body = a->hook->alertmanager ? alertmanager_body(a, o, (int64_t)time(NULL)) : line;
        int64_t oid = 0;
        /* in the outbox before the first attempt: accepted means delivered,
         * even across a restart */
        if (body && a->store)
            store_outbox_add(a->store, alert_id, "webhook", body, (int64_t)time(NULL), &oid);
        if (body)
            hook_enqueue(a->hook, body, oid);
        if (body == line)
            return; /* the queue owns it now */
    }
    free(line);
}

static void save_state(struct alerter *a, const struct alert_state *st, const char *status)
{
    if (!a->store)
        return;
    struct store_alert sa = {
        .alert_id = st->id,
        .device = st->device,
        .mismatch = st->mismatch,
        .fingerprint = st->fingerprint[0] ? st->fingerprint : NULL,
        .category = st->category,
        .status = status,
        .first_seen = st->first_seen,
        .last_seen = st->last_seen,
        .last_notified = st->last_sent,
        .count = st->count,
    };
    if (store_alert_save(a->store, &sa) < 0 && log_ratelimit_allow(&a->rl, time(NULL), NULL))
        log_error("alert %s of device %s could not be saved in the database; it is still sent, but a restart "
                  "would forget it",
                  st->id, st->device);
}

/* The alert object of SPEC, taken from the pipeline's outcome object so
 * the offers, mismatch and remediation are rendered in one place. */
static json_t *alert_object(struct pipeline *p, const struct negotiation *n, const char *id,
                            const struct alert_state *st)
{
    json_t *o = pipeline_outcome_object(p, n);
    if (!o)
        return NULL;
    json_t *a = json_object();
    char tbuf[40];
    json_object_set_new(a, "alert_id", json_string(id));
    json_object_set_new(a, "status", json_string("firing"));
    json_object_set(a, "time", json_object_get(o, "time"));
    static const char *const keep[] = {"device", "client", "category", "direction", "client_offer",
                                       "server_offer", "evidence", "mismatch", "remediation"};
    for (size_t i = 0; i < sizeof keep / sizeof keep[0]; i++) {
        json_t *v = json_object_get(o, keep[i]);
        json_object_set(a, keep[i], v ? v : json_null());
    }
    json_object_set_new(a, "first_seen", json_string(text_rfc3339(tbuf, sizeof tbuf, st->first_seen, -1)));
    json_object_set_new(a, "last_seen", json_string(text_rfc3339(tbuf, sizeof tbuf, st->last_seen, -1)));
    json_object_set_new(a, "count", json_integer((json_int_t)st->count));
    json_decref(o);
    return a;
}

static void forget_one(struct alerter *a)
{
    /* the table is full: drop the least recently seen alert of a bucket */
    for (unsigned b = 0; b < ALERT_BUCKETS; b++) {
        struct alert_state **pp = &a->buckets[b];
        if (!*pp)
            continue;
        struct alert_state **oldest = pp;
        for (; *pp; pp = &(*pp)->next)
            if ((*pp)->last_seen < (*oldest)->last_seen)
                oldest = pp;
        struct alert_state *victim = *oldest;
        *oldest = victim->next;
        json_decref(victim->last);
        free(victim);
        a->n--;
        return;
    }
}

/* Sends the resolved notice of *pp and forgets it (unlinks it from its
 * bucket). */
static void resolve(struct alerter *a, struct alert_state **pp, int64_t now)
{
    struct alert_state *s = *pp;
    char tbuf[40];
    if (!s->last) { /* restored from the store: what it kept */
        s->last = json_object();
        json_object_set_new(s->last, "alert_id", json_string(s->id));
        json_t *dev = json_object();
        json_object_set_new(dev, "key", json_string(s->device));
        json_object_set_new(s->last, "device", dev);
        json_object_set_new(s->last, "category", json_string(s->category));
        json_t *mm = json_object();
        json_object_set_new(mm, "id", json_string(s->mismatch));
        json_object_set_new(s->last, "mismatch", mm);
        json_object_set_new(s->last, "first_seen", json_string(text_rfc3339(tbuf, sizeof tbuf, s->first_seen, -1)));
    }
    json_object_set_new(s->last, "last_seen", json_string(text_rfc3339(tbuf, sizeof tbuf, s->last_seen, -1)));
    json_object_set_new(s->last, "count", json_integer((json_int_t)s->count));
    json_object_set_new(s->last, "status", json_string("resolved"));
    json_object_set_new(s->last, "time", json_string(text_rfc3339(tbuf, sizeof tbuf, now, -1)));
    s->last_sent = now;
    save_state(a, s, "resolved");
    emit(a, s->last, s->id);
    json_decref(s->last);
    *pp = s->next;
    free(s);
    a->n--;
}

void alerter_tick(struct alerter *a, int64_t now)
{
    exec_tick(a, now);
    if (!a->cfg->resolve_after)
        return;
    for (unsigned b = 0; b < ALERT_BUCKETS; b++)
        for (struct alert_state **pp = &a->buckets[b]; *pp;) {
            /* quiet: no repeat of the failure for resolve_after */
            if ((*pp)->last_sent && now - (*pp)->last_rx >= (int64_t)a->cfg->resolve_after &&
                now - (*pp)->last_sent >= (int64_t)a->cfg->resolve_after)
                resolve(a, pp, now);
            else
                pp = &(*pp)->next;
        }
}

void alerter_process(struct alerter *a, struct pipeline *p, const struct negotiation *n, int64_t now)
{
    if (!n->failed) {
        /* a success of the same client type resolves its alerts on the device */
        if (!n->fingerprint)
            return;
        for (unsigned b = 0; b < ALERT_BUCKETS; b++) {
            for (struct alert_state **pp = &a->buckets[b]; *pp;) {
                struct alert_state *s = *pp;
                if (strcmp(s->fingerprint, n->fingerprint) == 0 && strcmp(s->device, n->device) == 0)
                    resolve(a, pp, now);
                else
                    pp = &s->next;
            }
        }
        return;
    }
    /* identity: device, mismatch, client fingerprint, category */
    char key[512], id[33];
    snprintf(key, sizeof key, "%s\x1f%s\x1f%s\x1f%d", n->device, n->match ? n->match->id : "unclassified",
             n->fingerprint ? n->fingerprint : (n->software ? n->software : ""), n->category);
    negotiate_md5_hex(key, strlen(key), id);
    unsigned b = bucket_of(id);
    struct alert_state *s;
    for (s = a->buckets[b]; s; s = s->next)
        if (strcmp(s->id, id) == 0)
            break;
    if (!s) {
        if (a->n >= ALERT_MAX)
            forget_one(a);
        s = calloc(1, sizeof *s);
        if (!s)
            return;
        memcpy(s->id, id, sizeof s->id);
        snprintf(s->device, sizeof s->device, "%s", n->device);
        snprintf(s->fingerprint, sizeof s->fingerprint, "%s", n->fingerprint ? n->fingerprint : "");
        snprintf(s->mismatch, sizeof s->mismatch, "%s", n->match ? n->match->id : "unclassified");
        snprintf(s->category, sizeof s->category, "%s",
                 n->category >= 0 ? algo_category_name((enum algo_category)n->category) : "kex");
        s->first_seen = n->time;
        s->next = a->buckets[b];
        a->buckets[b] = s;
        a->n++;
    }
    s->count++;
    s->last_rx = now;
    if (n->time > s->last_seen)
        s->last_seen = n->time;
    if (s->last_sent && now - s->last_sent < (int64_t)a->cfg->repeat_interval) {
        a->suppressed++;
        return;
    }
    json_t *o = alert_object(p, n, id, s);
    if (!o)
        return;
    s->last_sent = now;
    save_state(a, s, "firing");
    emit(a, o, id);
    json_decref(s->last);
    s->last = o;
}

void alerter_free(struct alerter *a)
{
    if (!a)
        return;
    for (unsigned b = 0; b < ALERT_BUCKETS; b++) {
        while (a->buckets[b]) {
            struct alert_state *s = a->buckets[b];
            a->buckets[b] = s->next;
            json_decref(s->last);
            free(s);
        }
    }
    hook_free(a->hook);
    syslog_free(a->syslog);
    exec_free(a->exec);
    if (a->file)
        fclose(a->file);
    free(a);
}
