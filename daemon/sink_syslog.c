/* SPDX-License-Identifier: ISC */
/* The syslog sink: RFC 5424 over UDP, or over TCP with RFC 6587 octet
 * counting; fire and forget. */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <jansson.h>

#include "cfg.h"
#include "log.h"
#include "sink.h"
#include "store.h"
#include "text.h"
#include "tls.h"

struct syslog_sink {
    struct sink s;
    int64_t *pending_ids; /* TCP: outbox rows written but not yet drained */
    size_t n_pending, cap_pending;
    struct cfg_addr addr;
    int tcp;
    struct tls_client *tls;  /* tcp+tls:// (RFC 5425), verified against syslog_ca and the address */
    char addrhost[64];       /* the address without the port, for certificate checks */
    int fd;                  /* UDP socket */
    struct bufferevent *bev; /* TCP connection, made on demand */
    char target[80];
    char host[128];
    struct syslog_wait *wait_head, **wait_tail; /* notifications whose outbox row is not committed yet */
    int waiting;
};

struct syslog_wait {
    struct syslog_wait *next;
    char *json;
    char severity[16], status[16];
    int64_t outbox_id;
};

/* Everything written so far reached the kernel: those notifications are
 * delivered as far as a TCP sender can know. */
static void syslog_drained_cb(struct bufferevent *bev, void *arg)
{
    struct syslog_sink *sk = arg;
    (void)bev;
    for (size_t i = 0; i < sk->n_pending; i++)
        if (sk->s.env->store)
            store_outbox_done(sk->s.env->store, sk->pending_ids[i]);
    sk->n_pending = 0;
}

static void syslog_event_cb(struct bufferevent *bev, short what, void *arg)
{
    struct syslog_sink *sk = arg;
    (void)bev;
    if (what & (BEV_EVENT_ERROR | BEV_EVENT_EOF)) {
        /* what was still buffered is lost with the connection: counted; its
         * outbox rows stay and are sent again at the next start */
        char why[256] = "";
        if (sk->tls)
            tls_client_error(sk->bev, why, sizeof why);
        uint64_t held = 0;
        if (why[0] && log_ratelimit_allow(sk->s.env->rl, time(NULL), &held))
            log_warning("syslog sink %s: TLS: %s; check [alerts] syslog_ca and the receiver's certificate (it "
                        "must name %s)%s",
                        sk->target, why, sk->addrhost, held ? " (similar warnings were held back)" : "");
        sk->s.failed++;
        sk->n_pending = 0;
        bufferevent_free(sk->bev);
        sk->bev = NULL;
    }
}

static void syslog_deliver(struct syslog_sink *sk, const char *json, const char *severity, const char *status,
                           int64_t outbox_id)
{
    struct store *store = sk->s.env->store;
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
            sk->s.failed++;
        } else {
            sk->s.sent++;
            if (outbox_id && store)
                store_outbox_done(store, outbox_id);
        }
        free(msg);
        return;
    }
    if (!sk->bev) {
        /* our own socket, close-on-exec (libevent's would not be) */
        int fd = socket(sk->addr.ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (sk->tls) {
            sk->bev = fd >= 0 ? tls_client_bev(sk->tls, sk->s.env->base, sk->addrhost) : NULL;
            if (sk->bev && bufferevent_setfd(sk->bev, fd) < 0) {
                bufferevent_free(sk->bev);
                sk->bev = NULL;
            }
        } else {
            sk->bev = fd >= 0 ? bufferevent_socket_new(sk->s.env->base, fd, BEV_OPT_CLOSE_ON_FREE) : NULL;
        }
        if (!sk->bev && fd >= 0)
            close(fd);
        if (!sk->bev || bufferevent_socket_connect(sk->bev, (struct sockaddr *)&sk->addr.ss, (int)sk->addr.len) < 0) {
            if (sk->bev)
                bufferevent_free(sk->bev);
            sk->bev = NULL;
            sk->s.failed++;
            return;
        }
        bufferevent_setcb(sk->bev, NULL, syslog_drained_cb, syslog_event_cb, sk);
        bufferevent_enable(sk->bev, EV_WRITE);
    }
    /* octet counting keeps a JSON with any byte in it one frame */
    evbuffer_add_printf(bufferevent_get_output(sk->bev), "%zu ", (size_t)hn + jl);
    bufferevent_write(sk->bev, head, (size_t)hn);
    bufferevent_write(sk->bev, json, jl);
    sk->s.sent++;
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

/* Sends the waiting notifications whose outbox rows are committed. */
static void syslog_kick(void *arg)
{
    struct syslog_sink *sk = arg;
    sk->waiting = 0;
    while (sk->wait_head && sink_outbox_ready(&sk->s, sk->wait_head->outbox_id, &sk->waiting, syslog_kick)) {
        struct syslog_wait *wt = sk->wait_head;
        if (!(sk->wait_head = wt->next))
            sk->wait_tail = &sk->wait_head;
        syslog_deliver(sk, wt->json, wt->severity, wt->status, wt->outbox_id);
        free(wt->json);
        free(wt);
    }
}

static void syslog_send(struct sink *s, json_t *o, const char *line, const char *alert_id)
{
    struct syslog_sink *sk = (struct syslog_sink *)s;
    json_t *mm = json_object_get(o, "mismatch");
    const char *severity = json_string_value(json_object_get(mm, "severity"));
    const char *status = json_string_value(json_object_get(o, "status"));
    int64_t oid = 0;
    /* in the outbox (committed) before it is tried */
    if (s->env->store)
        store_outbox_add(s->env->store, alert_id, "syslog", line, (int64_t)time(NULL), &oid);
    struct syslog_wait *wt = oid && !store_outbox_committed(s->env->store, oid) ? calloc(1, sizeof *wt) : NULL;
    if (!wt || !(wt->json = strdup(line))) {
        free(wt);
        syslog_deliver(sk, line, severity, status, oid);
        return;
    }
    snprintf(wt->severity, sizeof wt->severity, "%s", severity ? severity : "");
    snprintf(wt->status, sizeof wt->status, "%s", status ? status : "");
    wt->outbox_id = oid;
    *sk->wait_tail = wt;
    sk->wait_tail = &wt->next;
    if (!sk->waiting)
        syslog_kick(sk);
}

static void restore_one(void *arg, int64_t id, const char *payload)
{
    struct syslog_sink *sk = arg;
    json_t *o = json_loads(payload, 0, NULL);
    json_t *mm = o ? json_object_get(o, "mismatch") : NULL;
    syslog_deliver(sk, payload, json_string_value(json_object_get(mm, "severity")),
                   json_string_value(json_object_get(o, "status")), id);
    json_decref(o);
}

static int syslog_restore(struct sink *s)
{
    return s->env->store ? store_outbox_load(s->env->store, "syslog", restore_one, s) : 0;
}

static void syslog_free(struct sink *s)
{
    struct syslog_sink *sk = (struct syslog_sink *)s;
    if (sk->waiting && s->env->store)
        store_after_commit_cancel(s->env->store, sk);
    while (sk->wait_head) {
        struct syslog_wait *wt = sk->wait_head;
        sk->wait_head = wt->next;
        free(wt->json);
        free(wt);
    }
    if (sk->bev)
        bufferevent_free(sk->bev);
    if (sk->fd >= 0)
        close(sk->fd);
    tls_client_free(sk->tls);
    free(sk->pending_ids);
    free(sk);
}

static const struct sink_ops syslog_ops = {
    .name = "syslog",
    .send = syslog_send,
    .restore = syslog_restore,
    .free = syslog_free,
};

int sink_syslog_new(const struct sink_env *env, const char *url, struct sink **out, char *err, size_t errsize)
{
    *out = NULL;
    struct syslog_sink *sk = calloc(1, sizeof *sk);
    if (!sk) {
        snprintf(err, errsize, "out of memory");
        return -1;
    }
    sk->s.ops = &syslog_ops;
    sk->wait_tail = &sk->wait_head;
    sk->s.env = env;
    sk->fd = -1;
    const char *rest = NULL;
    if (strncmp(url, "udp://", 6) == 0)
        rest = url + 6;
    else if (strncmp(url, "tcp://", 6) == 0) {
        rest = url + 6;
        sk->tcp = 1;
    } else if (strncmp(url, "tcp+tls://", 10) == 0) {
        rest = url + 10;
        sk->tcp = 2;
    }
    if (!rest || cfg_parse_addr(rest, &sk->addr) < 0) {
        snprintf(err, errsize,
                 "[alerts] syslog: '%s' must be udp://ADDRESS:PORT, tcp://ADDRESS:PORT or tcp+tls://ADDRESS:PORT "
                 "(numeric)",
                 url);
        free(sk);
        return -1;
    }
    if (sk->tcp == 2) {
        const void *a = sk->addr.ss.ss_family == AF_INET6 ? (const void *)&((struct sockaddr_in6 *)&sk->addr.ss)->sin6_addr
                                                          : (const void *)&((struct sockaddr_in *)&sk->addr.ss)->sin_addr;
        inet_ntop(sk->addr.ss.ss_family, a, sk->addrhost, sizeof sk->addrhost);
        char why[512];
        if (tls_client_new(env->cfg->syslog_ca, NULL, NULL, &sk->tls, why, sizeof why) < 0) {
            snprintf(err, errsize, "[alerts] syslog %s: %s ([alerts] syslog_ca)", url, why);
            free(sk);
            return -1;
        }
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
    *out = &sk->s;
    return 0;
}
