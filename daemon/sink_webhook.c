/* SPDX-License-Identifier: ISC */
/* The webhook sink: HTTP(S) POST through libevent's evhttp (Alertmanager v2
 * /api/v2/alerts body by default, or the alert object itself with
 * webhook_format = generic), retried with exponential back-off and jitter
 * while the receiver is down. Host names resolve through evdns on the loop
 * (/etc/hosts, then /etc/resolv.conf), never a blocking getaddrinfo; https://
 * verifies the receiver against webhook_ca (else the system's CAs) and its
 * host name, with an optional client certificate (tls.h). */
#include "config.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/dns.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <jansson.h>

#include "cfg.h"
#include "log.h"
#include "sink.h"
#include "store.h"
#include "text.h"
#include "tls.h"

#define HOOK_BACKOFF_MIN 1u     /* seconds */
#define HOOK_BACKOFF_MAX 300u
#define HOOK_TIMEOUT_S 10
#define HOOK_BATCH_MAX 100      /* Alertmanager alerts grouped in one POST */

struct hook_item {
    struct hook_item *next;
    char *body;
    size_t len;
    int64_t outbox_id; /* 0 when not in the store's outbox */
    bool refresh;      /* a firing alert re-sent (sink_webhook_refresh): not durable */
    bool ends_at_send; /* Alertmanager body without endsAt: given at sending */
};

struct webhook {
    struct sink s;
    struct evhttp_connection *conn;
    char url[512];
    char host[256];
    char path[1024];
    int alertmanager;
    struct hook_item *head, *tail;
    int in_flight;        /* notifications the request in flight carries */
    struct event *retry_ev;
    unsigned backoff;
    int waiting; /* for the store to commit the head's outbox row */
    int restoring; /* loading the outbox at start: no limit (they are all on disk already) */
    struct evdns_base *dns;  /* resolves the receiver's host name without blocking */
    struct tls_client *tls;  /* https:// only */
    char hostname[256];      /* as in the URL: for DNS, SNI and certificate checks */
    int port;
    bool adopt;    /* takes the outbox rows written before webhooks had peers */
};

static void hook_send(struct webhook *w);

/* How far ahead a firing alert's endsAt is: three re-send intervals, or
 * resolve_after without re-sending (then the quiet period ends it). */
static int64_t hook_ahead(const struct cfg *cfg)
{
    if (cfg->resend_interval)
        return 3 * (int64_t)cfg->resend_interval;
    return cfg->resolve_after ? (int64_t)cfg->resolve_after : 24 * 3600;
}

static void hook_kick(void *arg)
{
    struct webhook *w = arg;
    w->waiting = 0;
    hook_send(w);
}

static void hook_pop(struct webhook *w)
{
    struct hook_item *it = w->head;
    if (!it)
        return;
    w->head = it->next;
    if (!w->head)
        w->tail = NULL;
    w->s.pending--;
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
    w->s.failed++;
    uint64_t held = 0;
    if (log_ratelimit_allow(w->s.env->rl, time(NULL), &held))
        log_warning("webhook %s: delivery failed (%s); %zu alert(s) waiting, retrying in %u s; check the "
                    "receiver%s",
                    w->url, why, w->s.pending, w->backoff, held ? " (similar warnings were held back)" : "");
    struct timeval tv = {.tv_sec = (time_t)w->backoff, .tv_usec = (suseconds_t)(rand() % 250000)};
    evtimer_add(w->retry_ev, &tv);
    w->backoff = w->backoff * 2 > HOOK_BACKOFF_MAX ? HOOK_BACKOFF_MAX : w->backoff * 2;
}

static void hook_done(struct evhttp_request *req, void *arg)
{
    struct webhook *w = arg;
    struct store *store = w->s.env->store;
    int carried = w->in_flight;
    w->in_flight = 0;
    int code = req ? evhttp_request_get_response_code(req) : 0;
    if (code >= 200 && code < 300) {
        w->backoff = HOOK_BACKOFF_MIN;
        for (int i = 0; i < carried && w->head; i++) {
            if (w->head->outbox_id && store)
                store_outbox_done(store, w->head->outbox_id);
            if (!w->head->refresh)
                w->s.sent++;
            hook_pop(w);
        }
        /* the next request starts from the loop, once evhttp is done with
         * this connection (a receiver that closes after each answer would
         * otherwise fail it) */
        struct timeval now = {0, 0};
        evtimer_add(w->retry_ev, &now);
        return;
    }
    int i = 0;
    for (struct hook_item *it = w->head; it && i < carried; it = it->next, i++)
        if (it->outbox_id && store)
            store_outbox_failed(store, it->outbox_id, (int64_t)time(NULL) + w->backoff);
    char why[320], tlswhy[256] = "";
    if (!code && w->tls && w->conn)
        tls_client_error(evhttp_connection_get_bufferevent(w->conn), tlswhy, sizeof tlswhy);
    if (code)
        snprintf(why, sizeof why, "HTTP %d", code);
    else if (tlswhy[0])
        snprintf(why, sizeof why, "TLS: %s; check webhook_ca and the receiver's certificate name", tlswhy);
    else
        snprintf(why, sizeof why, "no response: connection refused, name not resolved, or timed out");
    hook_failed(w, why);
}

/* One request at a time per sink; in Alertmanager mode the waiting alerts
 * go together (up to HOOK_BATCH_MAX per POST), so a storm of failures makes
 * a bounded number of requests without dropping any alert. */
/* The connection to the receiver: plain, or TLS over a fresh bufferevent
 * (an OpenSSL session cannot be reconnected, so https gets a new
 * connection for each POST; the old one is idle when this runs). */
static int hook_connect(struct webhook *w)
{
    if (w->conn && !w->tls)
        return 0;
    if (w->conn)
        evhttp_connection_free(w->conn);
    w->conn = NULL;
    const struct sink_env *env = w->s.env;
    if (w->tls) {
        struct bufferevent *bev = tls_client_bev(w->tls, env->base, w->hostname);
        if (bev)
            w->conn = evhttp_connection_base_bufferevent_new(env->base, w->dns, bev, w->hostname,
                                                             (unsigned short)w->port);
        else
            return -1;
    } else {
        w->conn = evhttp_connection_base_new(env->base, w->dns, w->hostname, (unsigned short)w->port);
    }
    if (!w->conn)
        return -1;
    evhttp_connection_set_timeout(w->conn, HOOK_TIMEOUT_S);
    return 0;
}

static void hook_send(struct webhook *w)
{
    if (w->in_flight || !w->head || evtimer_pending(w->retry_ev, NULL) ||
        !sink_outbox_ready(&w->s, w->head->outbox_id, &w->waiting, hook_kick))
        return;
    if (hook_connect(w) < 0) {
        hook_failed(w, "out of memory");
        return;
    }
    struct evhttp_request *req = evhttp_request_new(hook_done, w);
    if (!req) {
        hook_failed(w, "out of memory");
        return;
    }
    struct evkeyvalq *h = evhttp_request_get_output_headers(req);
    evhttp_add_header(h, "Host", w->host);
    evhttp_add_header(h, "Content-Type", "application/json");
    evhttp_add_header(h, "User-Agent", "kexwatchd/" PACKAGE_VERSION);
    /* a connection per request: a receiver that closes an idle kept-alive
     * connection would otherwise fail the next POST with EOF (and a
     * retried POST could be delivered twice) */
    evhttp_add_header(h, "Connection", "close");
    struct evbuffer *out = evhttp_request_get_output_buffer(req);
    int n = 0;
    if (w->alertmanager) {
        /* each body is a one-alert array "[{...}]": join their insides */
        evbuffer_add(out, "[", 1);
        /* a firing alert ends a few re-send intervals after it is sent
         * (not after it was queued: a peer that was down gets alerts that
         * are still active); kexwatchd re-sends it before then while it
         * fires, so it ends by itself if kexwatchd dies */
        char ends[64];
        int elen = snprintf(ends, sizeof ends, "{\"endsAt\":\"");
        text_rfc3339(ends + elen, sizeof ends - (size_t)elen, (long long)time(NULL) + hook_ahead(w->s.env->cfg), -1);
        elen = (int)strlen(ends);
        elen += snprintf(ends + elen, sizeof ends - (size_t)elen, "\",");
        for (struct hook_item *it = w->head;
             it && n < HOOK_BATCH_MAX && (!it->outbox_id || !w->s.env->store ||
                                          store_outbox_committed(w->s.env->store, it->outbox_id));
             it = it->next, n++) {
            if (n)
                evbuffer_add(out, ",", 1);
            if (it->len >= 4 && it->ends_at_send) {
                evbuffer_add(out, ends, (size_t)elen);
                evbuffer_add(out, it->body + 2, it->len - 3);
            } else if (it->len >= 2) {
                evbuffer_add(out, it->body + 1, it->len - 2);
            }
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
    /* evhttp makes its socket without close-on-exec: set it at once */
    evutil_socket_t fd = bufferevent_getfd(evhttp_connection_get_bufferevent(w->conn));
    if (fd >= 0)
        evutil_make_socket_closeonexec(fd);
    w->in_flight = n;
}

static void hook_enqueue(struct webhook *w, char *body, int64_t outbox_id, bool refresh)
{
    unsigned max = w->s.env->cfg->webhook_queue ? w->s.env->cfg->webhook_queue : 1;
    if (refresh && w->s.pending >= max) {
        free(body); /* a re-send never sets aside a state change */
        return;
    }
    if (w->s.pending >= max && !w->restoring) {
        /* bounded: the oldest waiting notification leaves memory, never one
         * the request in flight carries (its answer removes those from the
         * head); its outbox row stays for the next start */
        struct hook_item **pp = &w->head, *prev = NULL;
        for (int i = 0; i < w->in_flight && *pp; i++) {
            prev = *pp;
            pp = &(*pp)->next;
        }
        struct hook_item *victim = *pp;
        if (victim) {
            *pp = victim->next;
            if (w->tail == victim)
                w->tail = prev;
            w->s.pending--;
            free(victim->body);
            free(victim);
        } else {
            free(body); /* every one held is in flight: the new one waits in the outbox */
            body = NULL;
        }
        w->s.dropped++;
        if (log_ratelimit_allow(w->s.env->rl, time(NULL), NULL))
            log_error("webhook %s: %u alerts waiting, the oldest waiting one was set aside%s; the receiver has "
                      "been down too long (check it, or raise [alerts] webhook_queue)",
                      w->url, max,
                      w->s.env->store ? " (it stays in the database's outbox and is sent after the next start)"
                                      : " and is lost (no database)");
        if (!body)
            return;
    }
    struct hook_item *it = calloc(1, sizeof *it);
    if (!it) {
        free(body);
        return;
    }
    it->body = body;
    it->len = strlen(body);
    it->outbox_id = outbox_id;
    it->refresh = refresh;
    /* bodies of earlier versions carry their endsAt: sent as they are */
    it->ends_at_send = w->alertmanager && strncmp(body, "[{", 2) == 0 && !strstr(body, "\"endsAt\":");
    if (w->tail)
        w->tail->next = it;
    else
        w->head = it;
    w->tail = it;
    w->s.pending++;
    hook_send(w);
}

/* Alertmanager v2 (/api/v2/alerts): an array of alerts with labels that
 * route and group (the label set is kexwatch's alert identity),
 * annotations for people, and startsAt/endsAt. */
static char *alertmanager_body(json_t *o, int64_t now)
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
    /* the client and the alert_id make the label set kexwatch's identity:
     * one Alertmanager alert per kexwatch alert, resolved on its own */
    json_object_set(labels, "client", json_object_get(cl, "identity"));
    json_object_set(labels, "alert_id", json_object_get(o, "alert_id"));
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
    json_object_foreach_safe(ann, tmp, k, v)
    {
        if (!json_is_string(v))
            json_object_del(ann, k);
    }
    char tbuf[40];
    json_object_set_new(al, "labels", labels);
    json_object_set_new(al, "annotations", ann);
    json_object_set(al, "startsAt", json_object_get(o, "first_seen"));
    /* the console's page of the alert (issue 14): the alert object's
     * "console_url" once the console fills it; Alertmanager links it */
    json_t *gen = json_object_get(o, "console_url");
    json_object_set_new(al, "generatorURL", json_is_string(gen) ? json_copy(gen) : json_string(""));
    /* firing: endsAt is given when it is sent (hook_send); resolved: now */
    const char *status = json_string_value(json_object_get(o, "status"));
    if (status && strcmp(status, "resolved") == 0)
        json_object_set_new(al, "endsAt", json_string(text_rfc3339(tbuf, sizeof tbuf, now, -1)));
    json_t *arr = json_array();
    json_array_append_new(arr, al);
    char *body = json_dumps(arr, JSON_COMPACT);
    json_decref(arr);
    return body;
}

static void hook_sink_send(struct sink *s, json_t *o, const char *line, const char *alert_id)
{
    struct webhook *w = (struct webhook *)s;
    char *body = w->alertmanager ? alertmanager_body(o, (int64_t)time(NULL)) : strdup(line);
    if (!body)
        return;
    int64_t oid = 0;
    /* in the outbox before the first attempt, a row per peer: accepted
     * means delivered to each, even across a restart */
    if (s->env->store)
        store_outbox_add_peer(s->env->store, alert_id, "webhook", w->url, body, (int64_t)time(NULL), &oid);
    hook_enqueue(w, body, oid, false);
}

void sink_webhook_refresh(struct sink *s, json_t *o)
{
    struct webhook *w = (struct webhook *)s;
    /* a peer that is failing gets it at the next round, after what it
     * missed (its outbox) */
    if (!w->alertmanager || evtimer_pending(w->retry_ev, NULL) || w->backoff > HOOK_BACKOFF_MIN)
        return;
    char *body = alertmanager_body(o, (int64_t)time(NULL));
    if (body)
        hook_enqueue(w, body, 0, true);
}

const char *sink_webhook_url(const struct sink *s)
{
    return ((const struct webhook *)s)->url;
}

void sink_webhook_adopt(struct sink *s)
{
    ((struct webhook *)s)->adopt = true;
}

static void restore_one(void *arg, int64_t id, const char *payload)
{
    char *body = strdup(payload);
    if (body)
        hook_enqueue(arg, body, id, false);
}

static int hook_restore(struct sink *s)
{
    struct webhook *w = (struct webhook *)s;
    w->restoring = 1;
    int n = s->env->store ? store_outbox_load_peer(s->env->store, "webhook", w->url, w->adopt, restore_one, s) : 0;
    w->restoring = 0;
    return n;
}

static void hook_free(struct sink *s)
{
    struct webhook *w = (struct webhook *)s;
    if (w->waiting && s->env->store)
        store_after_commit_cancel(s->env->store, w);
    while (w->head)
        hook_pop(w);
    if (w->retry_ev)
        event_free(w->retry_ev);
    if (w->conn)
        evhttp_connection_free(w->conn);
    if (w->dns)
        evdns_base_free(w->dns, 0);
    tls_client_free(w->tls);
    free(w);
}

static const struct sink_ops webhook_ops = {
    .name = "webhook",
    .send = hook_sink_send,
    .restore = hook_restore,
    .free = hook_free,
};

int sink_webhook_new(const struct sink_env *env, const char *url, const char *format, struct sink **out, char *err,
                     size_t errsize)
{
    *out = NULL;
    struct evhttp_uri *u = evhttp_uri_parse(url);
    const char *scheme = u ? evhttp_uri_get_scheme(u) : NULL;
    const char *host = u ? evhttp_uri_get_host(u) : NULL;
    int https = scheme && strcmp(scheme, "https") == 0;
    if (!u || !scheme || (!https && strcmp(scheme, "http") != 0) || !host || !*host) {
        snprintf(err, errsize, "[alerts] webhook: '%s' is not an http:// or https:// URL", url);
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
    w->s.ops = &webhook_ops;
    w->s.env = env;
    w->backoff = HOOK_BACKOFF_MIN;
    w->alertmanager = strcmp(format, "generic") != 0;
    int port = evhttp_uri_get_port(u);
    if (port < 0)
        port = https ? 443 : 80;
    snprintf(w->hostname, sizeof w->hostname, "%s", host);
    w->port = port;
    if (https && tls_client_new(env->cfg->webhook_ca, env->cfg->webhook_cert, env->cfg->webhook_key, &w->tls, err,
                                errsize) < 0) {
        char why[512];
        snprintf(why, sizeof why, "%s", err);
        snprintf(err, errsize, "[alerts] webhook %s: %s (webhook_ca, webhook_cert, webhook_key)", url, why);
        evhttp_uri_free(u);
        free(w);
        return -1;
    }
    snprintf(w->url, sizeof w->url, "%s", url);
    snprintf(w->host, sizeof w->host, "%s:%d", host, port);
    const char *path = evhttp_uri_get_path(u);
    const char *query = evhttp_uri_get_query(u);
    snprintf(w->path, sizeof w->path, "%s%s%s", path && *path ? path : "/", query ? "?" : "", query ? query : "");
    /* /etc/resolv.conf's servers and /etc/hosts; a missing resolv.conf
     * leaves numeric addresses and /etc/hosts working */
    w->dns = evdns_base_new(env->base, 0);
    if (w->dns) {
        evdns_base_resolv_conf_parse(w->dns, DNS_OPTIONS_ALL, "/etc/resolv.conf");
        evdns_base_load_hosts(w->dns, NULL);
    }
    w->retry_ev = evtimer_new(env->base, hook_retry_cb, w);
    evhttp_uri_free(u);
    if (!w->dns || hook_connect(w) < 0 || !w->retry_ev) {
        hook_free(&w->s);
        snprintf(err, errsize, "out of memory");
        return -1;
    }
    *out = &w->s;
    return 0;
}
