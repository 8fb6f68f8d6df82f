/* SPDX-License-Identifier: ISC */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>

#include "frame.h"
#include "listen.h"
#include "log.h"
#include "stats.h"
#include "tls.h"

#define UDP_BATCH 32
#define UDP_SLOT 65536          /* larger than any UDP payload */
#define UDP_MAX_BATCHES_PER_WAKEUP 64 /* then let TCP connections have a turn */
#define TCP_BACKLOG 1024
/* descriptors kept free of connections: sockets, database, WAL, alert file,
 * eventfds, epoll, alert programs' pipes, webhook and syslog sinks */
#define FD_HEADROOM 64
#define ACCEPT_RETRY_MS 200 /* accept paused this long after it failed */

struct udp_sock {
    struct listen *l;
    int fd;
    struct event *ev;
    uint32_t last_ovfl; /* SO_RXQ_OVFL is cumulative per socket */
    char text[64];
};

struct tcp_listener {
    struct listen *l;
    struct evconnlistener *lev;
    int tls; /* RFC 5425: connections start with a TLS handshake */
    char text[64];
};

struct conn {
    struct listen *l;
    struct bufferevent *bev;
    struct framer *framer;
    struct frame_counts seen; /* framer counts already added to g_stats */
    struct sockaddr_storage peer;
    socklen_t peerlen;
    struct timespec rx;
    int tls;                /* a TLS connection */
    struct event *hs_timer; /* TLS: the handshake deadline, NULL once done */
    char peer_name[256];    /* TLS: the verified certificate's name, or "" */
    struct conn *prev, *next;
};

struct listen {
    struct event_base *base;
    const struct cfg *cfg;
    listen_msg_cb cb;
    void *arg;
    struct udp_sock **udp; /* pointers: events and callbacks hold them */
    size_t n_udp;
    struct tcp_listener **tcp;
    size_t n_tcp;
    struct conn *conns;
    char *udp_buf;          /* UDP_BATCH slots, allocated with the first UDP socket */
    struct sockaddr_storage udp_addr[UDP_BATCH];
    char udp_ctl[UDP_BATCH][CMSG_SPACE(sizeof(uint32_t))];
    int no_recvmmsg;
    int paused;
    int adopted; /* sockets came from systemd: [listen] is not ours to apply */
    int rcvbuf_warned; /* said once that the kernel granted less than udp_rcvbuf */
    unsigned max_conns;   /* max_connections capped to what RLIMIT_NOFILE allows */
    int reserve_fd;       /* spent to accept and close a connection on EMFILE */
    struct event *accept_retry; /* re-enables accept after a failure */
    int accept_backoff;   /* accept is disabled until accept_retry fires */
    struct log_ratelimit rl_reject;
    struct log_ratelimit rl_conn;
    struct log_ratelimit rl_input; /* complaints about bad input */
    struct log_ratelimit rl_tls;   /* refused TLS handshakes and peers */
    struct tls_server *tls;        /* the certificate and checks of TLS listeners, NULL until one opens */
};

static void addr_text(const struct sockaddr *sa, char *buf, size_t size)
{
    char host[INET6_ADDRSTRLEN];
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *sin = (const void *)sa;
        inet_ntop(AF_INET, &sin->sin_addr, host, sizeof host);
        snprintf(buf, size, "%s:%u", host, ntohs(sin->sin_port));
    } else if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *sin6 = (const void *)sa;
        inet_ntop(AF_INET6, &sin6->sin6_addr, host, sizeof host);
        snprintf(buf, size, "[%s]:%u", host, ntohs(sin6->sin6_port));
    } else {
        snprintf(buf, size, "(family %d)", sa->sa_family);
    }
}

/* One rate-limited warning about what a sender's input cost, naming the
 * sender and what to change; the counters keep the full tally. */
static void complain(struct listen *l, const char *proto, const struct sockaddr *sa, uint64_t framing,
                     uint64_t oversize)
{
    if (!framing && !oversize)
        return;
    uint64_t held = 0;
    if (!log_ratelimit_allow(&l->rl_input, time(NULL), &held))
        return;
    char peer[80];
    addr_text(sa, peer, sizeof peer);
    if (oversize)
        log_warning("%s %s: %llu message(s) longer than max_message (%zu bytes) were truncated; raise [listen] "
                    "max_message if the device's SSH lists are cut%s",
                    proto, peer, (unsigned long long)oversize, l->cfg->max_message,
                    held ? " (similar warnings were held back)" : "");
    if (framing)
        log_warning("%s %s: %llu frame(s) had an invalid RFC 6587 octet count and were read as LF-framed lines; "
                    "check the sender's TCP framing setting%s",
                    proto, peer, (unsigned long long)framing, held ? " (similar warnings were held back)" : "");
}

/* Connections may use every descriptor the soft limit allows, so raise it
 * to the hard limit once: the hard limit is the administrator's word. */
static void raise_nofile(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

/* max_connections larger than the descriptors left would end in EMFILE:
 * cap it, and say so once per setting. */
static void cap_connections(struct listen *l)
{
    unsigned want = l->cfg->max_connections;
    struct rlimit rl;
    l->max_conns = want;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY)
        return;
    rlim_t room = rl.rlim_cur > 2 * FD_HEADROOM ? rl.rlim_cur - FD_HEADROOM : rl.rlim_cur / 2;
    if (room < 1)
        room = 1;
    if ((rlim_t)want > room) {
        l->max_conns = (unsigned)room;
        log_warning("[listen] max_connections = %u but the open-files limit is %llu: at most %u TCP "
                    "connections are accepted; raise LimitNOFILE= (systemd) or ulimit -n to allow more",
                    want, (unsigned long long)rl.rlim_cur, l->max_conns);
    }
}

static void accept_enable(struct listen *l, int on)
{
    for (size_t i = 0; i < l->n_tcp; i++) {
        if (on)
            evconnlistener_enable(l->tcp[i]->lev);
        else
            evconnlistener_disable(l->tcp[i]->lev);
    }
}

static void accept_retry_cb(evutil_socket_t fd, short what, void *arg)
{
    struct listen *l = arg;
    (void)fd;
    (void)what;
    l->accept_backoff = 0;
    if (!l->paused)
        accept_enable(l, 1);
}

struct listen *listen_new(struct event_base *base, const struct cfg *cfg, listen_msg_cb cb, void *arg)
{
    struct listen *l = calloc(1, sizeof *l);
    if (!l)
        return NULL;
    l->base = base;
    l->cfg = cfg;
    l->cb = cb;
    l->arg = arg;
    l->rl_reject = (struct log_ratelimit)LOG_RATELIMIT_INIT(60, 5);
    l->rl_conn = (struct log_ratelimit)LOG_RATELIMIT_INIT(60, 10);
    l->rl_input = (struct log_ratelimit)LOG_RATELIMIT_INIT(60, 10);
    l->rl_tls = (struct log_ratelimit)LOG_RATELIMIT_INIT(60, 10);
    l->reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    l->accept_retry = evtimer_new(base, accept_retry_cb, l);
    if (!l->accept_retry) {
        free(l);
        return NULL;
    }
    raise_nofile();
    cap_connections(l);
    return l;
}

void listen_set_cfg(struct listen *l, const struct cfg *cfg)
{
    l->cfg = cfg;
    cap_connections(l);
}

size_t listen_count(const struct listen *l)
{
    return l->n_udp + l->n_tcp;
}

/* ------------------------------------------------------------------ UDP */

struct udp_deliver {
    struct listen *l;
    struct msg m;
};

static int udp_deliver_one(void *arg, const char *data, size_t len)
{
    struct udp_deliver *d = arg;
    d->m.data = data;
    d->m.len = len;
    g_stats.messages_udp++;
    g_stats.bytes += len;
    d->l->cb(d->l->arg, &d->m);
    return 0;
}

static void udp_account_ovfl(struct udp_sock *u, struct msghdr *mh)
{
    for (struct cmsghdr *c = CMSG_FIRSTHDR(mh); c; c = CMSG_NXTHDR(mh, c)) {
        if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SO_RXQ_OVFL) {
            uint32_t v;
            memcpy(&v, CMSG_DATA(c), sizeof v);
            g_stats.udp_kernel_drops += (uint32_t)(v - u->last_ovfl);
            u->last_ovfl = v;
        }
    }
}

static void udp_handle(struct udp_sock *u, size_t slot, size_t len, int flags, struct udp_deliver *d)
{
    struct listen *l = u->l;
    g_stats.udp_datagrams++;
    if (len == 0) {
        g_stats.udp_empty++;
        return;
    }
    char *buf = l->udp_buf + slot * UDP_SLOT;
    struct frame_counts fc = {0};
    if (flags & MSG_TRUNC)
        fc.oversize++;
    d->m.src = (const struct sockaddr *)&l->udp_addr[slot];
    d->m.srclen = sizeof l->udp_addr[slot];
    frame_split_datagram(buf, len, l->cfg->max_message, &fc, udp_deliver_one, d);
    complain(l, "udp", d->m.src, fc.framing_errors, fc.oversize);
    g_stats.oversize += fc.oversize;
    g_stats.empty_messages += fc.empty;
    g_stats.framing_errors += fc.framing_errors;
}

/* Drains the socket in recvmmsg() batches, reading the clock once per batch. */
static void udp_read_cb(evutil_socket_t fd, short what, void *arg)
{
    struct udp_sock *u = arg;
    struct listen *l = u->l;
    (void)what;
    struct mmsghdr mm[UDP_BATCH];
    struct iovec iov[UDP_BATCH];
    struct udp_deliver d = {.l = l, .m.transport = MSG_UDP};
    for (int round = 0; round < UDP_MAX_BATCHES_PER_WAKEUP; round++) {
        for (size_t i = 0; i < UDP_BATCH; i++) {
            iov[i].iov_base = l->udp_buf + i * UDP_SLOT;
            iov[i].iov_len = UDP_SLOT;
            memset(&mm[i].msg_hdr, 0, sizeof mm[i].msg_hdr);
            mm[i].msg_hdr.msg_name = &l->udp_addr[i];
            mm[i].msg_hdr.msg_namelen = sizeof l->udp_addr[i];
            mm[i].msg_hdr.msg_iov = &iov[i];
            mm[i].msg_hdr.msg_iovlen = 1;
            mm[i].msg_hdr.msg_control = l->udp_ctl[i];
            mm[i].msg_hdr.msg_controllen = sizeof l->udp_ctl[i];
        }
        int n;
#ifdef HAVE_RECVMMSG
        if (!l->no_recvmmsg) {
            n = recvmmsg(fd, mm, UDP_BATCH, MSG_DONTWAIT, NULL);
            if (n < 0 && errno == ENOSYS) {
                l->no_recvmmsg = 1;
                continue;
            }
        } else
#endif
        {
            ssize_t r = recvmsg(fd, &mm[0].msg_hdr, MSG_DONTWAIT);
            n = r < 0 ? -1 : 1;
            if (r >= 0)
                mm[0].msg_len = (unsigned)r;
        }
        if (n < 0) {
            if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
                if (log_ratelimit_allow(&l->rl_conn, time(NULL), NULL))
                    log_warning("udp %s: receive failed: %s; continuing", u->text, strerror(errno));
            }
            return;
        }
        struct timespec now;
        clock_gettime(CLOCK_REALTIME, &now);
        d.m.rx_sec = now.tv_sec;
        d.m.rx_usec = (int32_t)(now.tv_nsec / 1000);
        for (int i = 0; i < n; i++) {
            udp_account_ovfl(u, &mm[i].msg_hdr);
            udp_handle(u, (size_t)i, mm[i].msg_len, mm[i].msg_hdr.msg_flags, &d);
        }
        if (n < UDP_BATCH)
            return;
    }
}

/* The usable receive buffer: Linux reports twice what was set (the other
 * half is its bookkeeping), so this is comparable with udp_rcvbuf. */
static int udp_rcvbuf_get(int fd)
{
    int v = 0;
    socklen_t len = sizeof v;
    if (getsockopt(fd, SOL_SOCKET, SO_RCVBUF, &v, &len) < 0)
        return 0;
    return v / 2;
}

/* Asks for [listen] udp_rcvbuf: SO_RCVBUFFORCE passes net.core.rmem_max but
 * needs CAP_NET_ADMIN, SO_RCVBUF is capped at rmem_max. A buffer already as
 * large (systemd's ReceiveBuffer=) is kept. When the kernel grants less than
 * asked it says so once per listen object, with the sysctl that raises the cap.
 * Returns the usable buffer in bytes. */
static int udp_set_rcvbuf(struct listen *l, int fd, const char *text)
{
    int want = l->cfg->udp_rcvbuf;
    int have = udp_rcvbuf_get(fd);
    if (want <= 0 || have >= want)
        return have;
    if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &want, sizeof want) < 0 &&
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &want, sizeof want) < 0)
        log_warning("udp %s: cannot set the receive buffer to %d bytes: %s", text, want, strerror(errno));
    have = udp_rcvbuf_get(fd);
    if (have < want && !l->rcvbuf_warned) {
        l->rcvbuf_warned = 1;
        long long cap = -1;
        FILE *f = fopen("/proc/sys/net/core/rmem_max", "r");
        if (f) {
            if (fscanf(f, "%lld", &cap) != 1)
                cap = -1;
            fclose(f);
        }
        char capt[48] = "";
        if (cap >= 0)
            snprintf(capt, sizeof capt, " (now %lld)", cap);
        log_warning("udp %s: the kernel granted a receive buffer of %d KiB, less than the %d KiB asked "
                    "([listen] udp_rcvbuf); bursts beyond it are dropped: without CAP_NET_ADMIN the cap is "
                    "net.core.rmem_max%s, raise it with 'sysctl -w net.core.rmem_max=%d' (and a file in "
                    "/etc/sysctl.d/ to keep it)",
                    text, have / 1024, want / 1024, capt, want);
    }
    return have;
}

static int udp_add(struct listen *l, int fd, const char *text)
{
    if (!l->udp_buf) {
        l->udp_buf = malloc((size_t)UDP_BATCH * UDP_SLOT);
        if (!l->udp_buf)
            return -1;
    }
    struct udp_sock **v = realloc(l->udp, (l->n_udp + 1) * sizeof *v);
    if (!v)
        return -1;
    l->udp = v;
    struct udp_sock *u = calloc(1, sizeof *u);
    if (!u)
        return -1;
    u->l = l;
    u->fd = fd;
    snprintf(u->text, sizeof u->text, "%s", text);
    int one = 1;
    if (setsockopt(fd, SOL_SOCKET, SO_RXQ_OVFL, &one, sizeof one) < 0)
        log_notice("udp %s: kernel drop counting unavailable: %s", text, strerror(errno));
    int granted = udp_set_rcvbuf(l, fd, text);
    evutil_make_socket_nonblocking(fd);
    evutil_make_socket_closeonexec(fd);
    u->ev = event_new(l->base, fd, EV_READ | EV_PERSIST, udp_read_cb, u);
    if (!u->ev || event_add(u->ev, NULL) < 0) {
        if (u->ev)
            event_free(u->ev);
        free(u);
        return -1;
    }
    l->udp[l->n_udp++] = u;
    log_info("listening for syslog on udp %s (receive buffer %d KiB)", text, granted / 1024);
    return 0;
}

/* ------------------------------------------------------------------ TCP */

static void conn_free(struct conn *c)
{
    struct listen *l = c->l;
    if (c->prev)
        c->prev->next = c->next;
    else
        l->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    if (c->hs_timer)
        event_free(c->hs_timer);
    bufferevent_free(c->bev);
    framer_free(c->framer);
    free(c);
    g_stats.tcp_open--;
    g_stats.tcp_closed++;
}

static int tcp_deliver_one(void *arg, const char *data, size_t len)
{
    struct conn *c = arg;
    struct msg m = {
        .data = data,
        .len = len,
        .src = (const struct sockaddr *)&c->peer,
        .srclen = c->peerlen,
        .transport = c->tls ? MSG_TLS : MSG_TCP,
        .rx_sec = c->rx.tv_sec,
        .rx_usec = (int32_t)(c->rx.tv_nsec / 1000),
        .peer_name = c->peer_name[0] ? c->peer_name : NULL,
    };
    if (c->tls)
        g_stats.messages_tls++;
    else
        g_stats.messages_tcp++;
    g_stats.bytes += len;
    c->l->cb(c->l->arg, &m);
    return 0;
}

static void conn_account(struct conn *c)
{
    const struct frame_counts *fc = framer_counts(c->framer);
    complain(c->l, c->tls ? "tls" : "tcp", (const struct sockaddr *)&c->peer, fc->framing_errors - c->seen.framing_errors,
             fc->oversize - c->seen.oversize);
    g_stats.framing_errors += fc->framing_errors - c->seen.framing_errors;
    g_stats.oversize += fc->oversize - c->seen.oversize;
    g_stats.empty_messages += fc->empty - c->seen.empty;
    c->seen = *fc;
}

/* Feeds everything buffered to the framer; the framer keeps partial frames
 * itself, so the input buffer is emptied on every call and a connection's
 * memory is bounded by the framer's limit plus one socket read. */
static void conn_read_cb(struct bufferevent *bev, void *arg)
{
    struct conn *c = arg;
    struct evbuffer *in = bufferevent_get_input(bev);
    if (c->hs_timer) /* nothing is read from a peer not yet checked */
        return;
    clock_gettime(CLOCK_REALTIME, &c->rx);
    struct evbuffer_iovec vec[8];
    for (;;) {
        int n = evbuffer_peek(in, -1, NULL, vec, 8);
        if (n <= 0)
            break;
        size_t total = 0;
        for (int i = 0; i < n && i < 8; i++) {
            framer_feed(c->framer, vec[i].iov_base, vec[i].iov_len, tcp_deliver_one, c);
            total += vec[i].iov_len;
        }
        evbuffer_drain(in, total);
        if (n <= 8)
            break;
    }
    conn_account(c);
}

/* What a refused TLS sender should change, by cause. */
static const char *tls_advice(enum tls_cause cause)
{
    switch (cause) {
    case TLS_FAIL_PROTOCOL:
        return "the sender must speak TLS 1.2 or newer with a common cipher suite (and TLS on this port, not plain "
               "syslog)";
    case TLS_FAIL_TIMEOUT:
        return "it did not finish the handshake within [listen] tls_handshake_timeout; a plain-TCP sender pointed at "
               "the TLS port looks like this";
    case TLS_FAIL_CLOSED:
        return "the sender gave up during the handshake; it may not trust our certificate: give it the CA that "
               "signed [listen] tls_cert";
    case TLS_REJECT_NO_CERT:
        return "configure a client certificate signed by [listen] tls_ca on the sender, or set tls_verify = optional "
               "(without tls_peers)";
    case TLS_REJECT_UNTRUSTED:
        return "issue the sender's certificate from the CA in [listen] tls_ca, or add its CA there (or pin its sha256 "
               "fingerprint in tls_peers)";
    case TLS_REJECT_EXPIRED: return "renew the sender's certificate (and check both clocks)";
    case TLS_REJECT_NAME:
        return "add its name or sha256: fingerprint to [listen] tls_peers, or re-issue the certificate with an "
               "allowed name";
    default: return "check the sender's TLS settings";
    }
}

/* A TLS connection that ends before its peer was accepted: counted by
 * cause, logged rate-limited with the sender, closed unread. */
static void tls_refuse(struct conn *c, enum tls_cause cause, const char *why)
{
    struct listen *l = c->l;
    uint64_t *by[TLS_CAUSE_COUNT] = {
        [TLS_FAIL_PROTOCOL] = &g_stats.tls_handshake_failed_protocol,
        [TLS_FAIL_TIMEOUT] = &g_stats.tls_handshake_failed_timeout,
        [TLS_FAIL_CLOSED] = &g_stats.tls_handshake_failed_closed,
        [TLS_FAIL_OTHER] = &g_stats.tls_handshake_failed_other,
        [TLS_REJECT_NO_CERT] = &g_stats.tls_peer_rejected_no_certificate,
        [TLS_REJECT_UNTRUSTED] = &g_stats.tls_peer_rejected_untrusted,
        [TLS_REJECT_EXPIRED] = &g_stats.tls_peer_rejected_expired,
        [TLS_REJECT_NAME] = &g_stats.tls_peer_rejected_name,
    };
    if (cause <= TLS_OK || cause >= TLS_CAUSE_COUNT)
        cause = TLS_FAIL_OTHER;
    (*by[cause])++;
    if (tls_cause_is_reject(cause))
        g_stats.tls_peer_rejected++;
    else
        g_stats.tls_handshake_failed++;
    uint64_t held = 0;
    if (log_ratelimit_allow(&l->rl_tls, time(NULL), &held)) {
        char peer[80];
        addr_text((struct sockaddr *)&c->peer, peer, sizeof peer);
        log_warning("tls %s: %s (%s): %s; %s%s", peer,
                    tls_cause_is_reject(cause) ? "sender refused" : "TLS handshake failed", tls_cause_name(cause), why,
                    tls_advice(cause), held ? " (more refusals were not logged)" : "");
    }
    conn_free(c);
}

static void tls_timeout_cb(evutil_socket_t fd, short what, void *arg)
{
    struct conn *c = arg;
    (void)fd;
    (void)what;
    char why[64];
    snprintf(why, sizeof why, "no complete handshake after %u s", c->l->cfg->tls_handshake_timeout);
    tls_refuse(c, TLS_FAIL_TIMEOUT, why);
}

/* The handshake finished: check the peer, then read like any TCP stream. */
static void tls_connected(struct conn *c)
{
    char proto[96], peer[80];
    event_free(c->hs_timer);
    c->hs_timer = NULL;
    enum tls_cause cause = tls_server_peer(c->l->tls, c->bev, c->peer_name, sizeof c->peer_name, proto, sizeof proto);
    if (cause != TLS_OK) {
        tls_refuse(c, cause, "tls_peers is set and the sender sent no certificate");
        return;
    }
    g_stats.tls_handshakes++;
    if (c->l->cfg->tcp_idle_timeout) {
        struct timeval tv = {.tv_sec = c->l->cfg->tcp_idle_timeout};
        bufferevent_set_timeouts(c->bev, &tv, NULL);
    }
    addr_text((struct sockaddr *)&c->peer, peer, sizeof peer);
    log_debug("tls %s: %s, certificate name '%s'", peer, proto, c->peer_name);
    /* records that came with the last handshake flight are already buffered */
    if (evbuffer_get_length(bufferevent_get_input(c->bev)))
        conn_read_cb(c->bev, c);
}

static void conn_event_cb(struct bufferevent *bev, short what, void *arg)
{
    struct conn *c = arg;
    (void)bev;
    char peer[80];
    if (c->hs_timer) {
        if (what & BEV_EVENT_CONNECTED) {
            tls_connected(c);
            return;
        }
        char why[512];
        enum tls_cause cause = TLS_FAIL_CLOSED;
        snprintf(why, sizeof why, "the connection closed during the handshake");
        if (what & BEV_EVENT_ERROR)
            cause = tls_handshake_cause(c->bev, why, sizeof why);
        tls_refuse(c, cause, why);
        return;
    }
    if (what & BEV_EVENT_TIMEOUT) {
        g_stats.tcp_idle_closed++;
        addr_text((struct sockaddr *)&c->peer, peer, sizeof peer);
        log_debug("tcp %s: closed after %u s without data", peer, c->l->cfg->tcp_idle_timeout);
    } else if (what & BEV_EVENT_ERROR) {
        int err = EVUTIL_SOCKET_ERROR();
        char why[512] = "";
        if (c->tls)
            tls_handshake_cause(c->bev, why, sizeof why);
        addr_text((struct sockaddr *)&c->peer, peer, sizeof peer);
        if (log_ratelimit_allow(&c->l->rl_conn, time(NULL), NULL))
            log_info("%s %s: connection error: %s; the sender will reconnect", c->tls ? "tls" : "tcp", peer,
                     c->tls && why[0] && !strstr(why, "closed during") ? why : evutil_socket_error_to_string(err));
    }
    if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR | BEV_EVENT_TIMEOUT)) {
        /* the TLS bufferevent reports the end before handing over the
         * records it decrypted with it: read them first */
        conn_read_cb(c->bev, c);
        /* a last line without LF still counts (RFC 6587 senders may omit it) */
        clock_gettime(CLOCK_REALTIME, &c->rx);
        framer_finish(c->framer, tcp_deliver_one, c);
        conn_account(c);
        conn_free(c);
    }
}

static void tcp_accept_cb(struct evconnlistener *lev, evutil_socket_t fd, struct sockaddr *sa, int salen,
                          void *arg)
{
    struct tcp_listener *t = arg;
    struct listen *l = t->l;
    (void)lev;
    char peer[80];
    if (g_stats.tcp_open >= l->max_conns) {
        g_stats.tcp_rejected++;
        uint64_t held = 0;
        if (log_ratelimit_allow(&l->rl_reject, time(NULL), &held)) {
            addr_text(sa, peer, sizeof peer);
            log_warning("tcp %s: connection refused: max_connections (%u) reached; raise [listen] "
                        "max_connections or find the sender that opens so many%s",
                        peer, l->max_conns, held ? " (more refusals were not logged)" : "");
        }
        evutil_closesocket(fd);
        return;
    }
    struct conn *c = calloc(1, sizeof *c);
    if (!c) {
        evutil_closesocket(fd);
        return;
    }
    c->l = l;
    memcpy(&c->peer, sa, (size_t)salen < sizeof c->peer ? (size_t)salen : sizeof c->peer);
    c->peerlen = (socklen_t)salen;
    c->framer = framer_new(l->cfg->max_message);
    c->tls = t->tls;
    if (t->tls) {
        c->hs_timer = evtimer_new(l->base, tls_timeout_cb, c);
        c->bev = c->hs_timer && l->tls ? tls_server_accept(l->tls, l->base, fd) : NULL;
    } else {
        c->bev = bufferevent_socket_new(l->base, fd, BEV_OPT_CLOSE_ON_FREE);
    }
    if (!c->framer || !c->bev) {
        if (c->hs_timer)
            event_free(c->hs_timer);
        if (c->bev)
            bufferevent_free(c->bev);
        else
            evutil_closesocket(fd);
        framer_free(c->framer);
        free(c);
        return;
    }
    bufferevent_setcb(c->bev, conn_read_cb, NULL, conn_event_cb, c);
    /* reads pause when this much is buffered, so one sender cannot grow memory */
    bufferevent_setwatermark(c->bev, EV_READ, 0, l->cfg->tcp_max_buffer);
    if (c->hs_timer) {
        /* the idle timeout starts once the handshake is done */
        struct timeval tv = {.tv_sec = l->cfg->tls_handshake_timeout};
        evtimer_add(c->hs_timer, &tv);
    } else if (l->cfg->tcp_idle_timeout) {
        struct timeval tv = {.tv_sec = l->cfg->tcp_idle_timeout};
        bufferevent_set_timeouts(c->bev, &tv, NULL);
    }
    bufferevent_enable(c->bev, EV_READ);
    c->next = l->conns;
    if (l->conns)
        l->conns->prev = c;
    l->conns = c;
    g_stats.tcp_accepted++;
    g_stats.tcp_open++;
}

/* accept() failed. Out of descriptors (EMFILE/ENFILE), the pending
 * connection stays in the backlog and the listener would wake the loop again
 * at once, forever: spend the reserve descriptor to accept and close one
 * connection, then stop accepting for ACCEPT_RETRY_MS. */
static void tcp_error_cb(struct evconnlistener *lev, void *arg)
{
    struct tcp_listener *t = arg;
    struct listen *l = t->l;
    int err = EVUTIL_SOCKET_ERROR();
    g_stats.tcp_accept_errors++;
    int shed = 0;
    if ((err == EMFILE || err == ENFILE) && l->reserve_fd >= 0) {
        close(l->reserve_fd);
        int fd = accept4(evconnlistener_get_fd(lev), NULL, NULL, SOCK_CLOEXEC);
        if (fd >= 0) {
            close(fd);
            shed = 1;
        }
        l->reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    }
    if (!l->accept_backoff) {
        struct timeval tv = {.tv_sec = 0, .tv_usec = ACCEPT_RETRY_MS * 1000};
        l->accept_backoff = 1;
        accept_enable(l, 0);
        evtimer_add(l->accept_retry, &tv);
    }
    uint64_t held = 0;
    if (log_ratelimit_allow(&l->rl_reject, time(NULL), &held))
        log_warning("tcp %s: accept failed: %s (%u connections open)%s; accepting again in %d ms; raise the "
                    "open-files limit (ulimit -n, LimitNOFILE=) or lower [listen] max_connections%s",
                    t->text, evutil_socket_error_to_string(err), (unsigned)g_stats.tcp_open,
                    shed ? ", one waiting connection was closed" : "", ACCEPT_RETRY_MS,
                    held ? " (more failures were not logged)" : "");
}

/* The TLS context is made when the first TLS listener opens. */
static int tls_ready(struct listen *l)
{
    if (l->tls)
        return 0;
    char err[1024];
    if (!l->cfg->tls_cert || !l->cfg->tls_key) {
        log_error("a TLS socket is to listen but [listen] tls_cert and tls_key are not set; name the server "
                  "certificate chain and key");
        return -1;
    }
    struct tls_server_opts o = tls_opts_listen(l->cfg);
    if (tls_server_new(&o, &l->tls, err, sizeof err) < 0) {
        log_error("%s", err);
        return -1;
    }
    return 0;
}

static int tcp_add(struct listen *l, int fd, const char *text, int tls)
{
    if (tls && tls_ready(l) < 0)
        return -1;
    struct tcp_listener **v = realloc(l->tcp, (l->n_tcp + 1) * sizeof *v);
    if (!v)
        return -1;
    l->tcp = v;
    struct tcp_listener *t = calloc(1, sizeof *t);
    if (!t)
        return -1;
    t->l = l;
    t->tls = tls;
    snprintf(t->text, sizeof t->text, "%s", text);
    evutil_make_socket_nonblocking(fd);
    evutil_make_socket_closeonexec(fd); /* systemd's sockets come without */
    /* accepted connections close on exec too (accept4 SOCK_CLOEXEC): an
     * alert program must not hold a device's connection open */
    t->lev = evconnlistener_new(l->base, tcp_accept_cb, t, LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, -1, fd);
    if (!t->lev) {
        free(t);
        return -1;
    }
    evconnlistener_set_error_cb(t->lev, tcp_error_cb);
    l->tcp[l->n_tcp++] = t;
    if (tls)
        log_info("listening for syslog on tls %s (RFC 5425; client certificates: %s)", text,
                 l->cfg->tls_verify == CFG_TLS_VERIFY_NONE       ? "not asked for"
                 : l->cfg->tls_verify == CFG_TLS_VERIFY_OPTIONAL ? "optional"
                                                                 : "required");
    else
        log_info("listening for syslog on tcp %s", text);
    return 0;
}

/* ------------------------------------------------------------ opening */

static int open_socket(const struct cfg_addr *a, int type)
{
    int fd = socket(a->ss.ss_family, type | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return -1;
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (a->ss.ss_family == AF_INET6) /* so [::]:514 and 0.0.0.0:514 can coexist */
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
    if (bind(fd, (const struct sockaddr *)&a->ss, a->len) < 0 ||
        (type == SOCK_STREAM && listen(fd, TCP_BACKLOG) < 0)) {
        int e = errno;
        close(fd);
        errno = e;
        return -1;
    }
    return fd;
}

/* The three kinds of [listen] addresses: 0 udp, 1 tcp, 2 tls. */
static const struct cfg_addr *kind_addrs(const struct cfg *c, int kind, size_t *n)
{
    *n = kind == 0 ? c->n_udp : kind == 1 ? c->n_tcp : c->n_tls;
    return kind == 0 ? c->udp : kind == 1 ? c->tcp : c->tls;
}

static const char *const kind_names[] = {"udp", "tcp", "tls"};

static int kind_add(struct listen *l, int kind, int fd, const char *text)
{
    return kind == 0 ? udp_add(l, fd, text) : tcp_add(l, fd, text, kind == 2);
}

int listen_open_config(struct listen *l)
{
    const struct cfg *c = l->cfg;
    for (int kind = 0; kind < 3; kind++) {
        size_t n;
        const struct cfg_addr *addrs = kind_addrs(c, kind, &n);
        const char *proto = kind_names[kind];
        for (size_t i = 0; i < n; i++) {
            int fd = open_socket(&addrs[i], kind ? SOCK_STREAM : SOCK_DGRAM);
            if (fd < 0) {
                log_error("cannot listen on %s %s: %s%s", proto, addrs[i].text, strerror(errno),
                          errno == EACCES ? " (ports below 1024 need root or CAP_NET_BIND_SERVICE)"
                          : errno == EADDRINUSE ? " (another syslog daemon may hold it; see ss -lnp)"
                                                : "");
                return -1;
            }
            if (kind_add(l, kind, fd, addrs[i].text) < 0) {
                close(fd);
                log_error("cannot listen on %s %s%s", proto, addrs[i].text, kind == 2 ? "" : ": out of memory");
                return -1;
            }
        }
    }
    return 0;
}

int listen_adopt_fd(struct listen *l, int fd, int kind)
{
    l->adopted = 1;
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    char text[80] = "(unknown)";
    if (getsockname(fd, (struct sockaddr *)&ss, &len) == 0)
        addr_text((struct sockaddr *)&ss, text, sizeof text);
    return kind_add(l, kind < 0 || kind > 2 ? 1 : kind, fd, text);
}

static int has_listener(const struct cfg *cfg, int kind, const char *text)
{
    size_t n;
    const struct cfg_addr *addrs = kind_addrs(cfg, kind, &n);
    for (size_t i = 0; i < n; i++)
        if (strcmp(addrs[i].text, text) == 0)
            return 1;
    return 0;
}

/* Re-reads the TLS certificate, key and CAs; a bad new set keeps the old. */
static void tls_reload(struct listen *l, const struct cfg *cfg)
{
    int have_tls = 0;
    for (size_t i = 0; i < l->n_tcp; i++)
        have_tls |= l->tcp[i]->tls;
    if (!l->tls || (!have_tls && !cfg->n_tls))
        return;
    char err[1024];
    struct tls_server_opts o = tls_opts_listen(cfg);
    if (!cfg->tls_cert || !cfg->tls_key)
        log_error("SIGHUP: [listen] tls_cert or tls_key is no longer set; the TLS listener keeps the certificate "
                  "it had");
    else if (tls_server_reload(l->tls, &o, err, sizeof err) < 0)
        log_error("SIGHUP: %s; the TLS listener keeps the certificate and key it had (fix the files and send "
                  "SIGHUP again)",
                  err);
    else
        log_notice("SIGHUP: TLS certificate %s, key and CAs re-read; new connections use them, open ones continue",
                   cfg->tls_cert);
}

int listen_reconfigure(struct listen *l, const struct cfg *cfg)
{
    l->cfg = cfg;
    tls_reload(l, cfg);
    if (l->adopted)
        return 0;
    int rc = 0;
    /* removed addresses close; open TCP connections of a removed listener
     * stay until their peers close them */
    for (size_t i = l->n_udp; i-- > 0;) {
        if (has_listener(cfg, 0, l->udp[i]->text))
            continue;
        log_notice("stopped listening on udp %s", l->udp[i]->text);
        event_free(l->udp[i]->ev);
        close(l->udp[i]->fd);
        free(l->udp[i]);
        memmove(&l->udp[i], &l->udp[i + 1], (l->n_udp - i - 1) * sizeof l->udp[0]);
        l->n_udp--;
    }
    for (size_t i = l->n_tcp; i-- > 0;) {
        if (has_listener(cfg, l->tcp[i]->tls ? 2 : 1, l->tcp[i]->text))
            continue;
        log_notice("stopped listening on %s %s", l->tcp[i]->tls ? "tls" : "tcp", l->tcp[i]->text);
        evconnlistener_free(l->tcp[i]->lev);
        free(l->tcp[i]);
        memmove(&l->tcp[i], &l->tcp[i + 1], (l->n_tcp - i - 1) * sizeof l->tcp[0]);
        l->n_tcp--;
    }
    /* new addresses open; unchanged ones are kept as they are */
    for (int kind = 0; kind < 3; kind++) {
        size_t n;
        const struct cfg_addr *addrs = kind_addrs(cfg, kind, &n);
        for (size_t i = 0; i < n; i++) {
            int present = 0;
            if (kind == 0)
                for (size_t k = 0; k < l->n_udp; k++)
                    present |= strcmp(l->udp[k]->text, addrs[i].text) == 0;
            else
                for (size_t k = 0; k < l->n_tcp; k++)
                    present |= l->tcp[k]->tls == (kind == 2) && strcmp(l->tcp[k]->text, addrs[i].text) == 0;
            if (present)
                continue;
            int fd = open_socket(&addrs[i], kind ? SOCK_STREAM : SOCK_DGRAM);
            if (fd < 0 || kind_add(l, kind, fd, addrs[i].text) < 0) {
                log_error("cannot listen on %s %s: %s; the other addresses keep working", kind_names[kind],
                          addrs[i].text, fd < 0 ? strerror(errno) : "see the message before");
                if (fd >= 0)
                    close(fd);
                rc = -1;
            }
        }
    }
    if (l->paused) { /* new sockets follow the pause */
        l->paused = 0;
        listen_set_paused(l, 1);
    }
    return rc;
}

void listen_set_paused(struct listen *l, int paused)
{
    paused = !!paused;
    if (l->paused == paused)
        return;
    l->paused = paused;
    for (size_t i = 0; i < l->n_udp; i++) {
        if (paused)
            event_del(l->udp[i]->ev);
        else
            event_add(l->udp[i]->ev, NULL);
    }
    if (paused || !l->accept_backoff)
        accept_enable(l, !paused);
    for (struct conn *c = l->conns; c; c = c->next) {
        if (paused)
            bufferevent_disable(c->bev, EV_READ);
        else
            bufferevent_enable(c->bev, EV_READ);
    }
}

void listen_stop(struct listen *l)
{
    for (size_t i = 0; i < l->n_udp; i++) {
        event_free(l->udp[i]->ev);
        close(l->udp[i]->fd);
        free(l->udp[i]);
    }
    l->n_udp = 0;
    for (size_t i = 0; i < l->n_tcp; i++) {
        evconnlistener_free(l->tcp[i]->lev);
        free(l->tcp[i]);
    }
    l->n_tcp = 0;
    while (l->conns) {
        struct conn *c = l->conns;
        /* what is already buffered is complete data: read it before closing */
        conn_read_cb(c->bev, c);
        framer_finish(c->framer, tcp_deliver_one, c);
        conn_account(c);
        conn_free(c);
    }
}

void listen_free(struct listen *l)
{
    if (!l)
        return;
    listen_stop(l);
    if (l->accept_retry)
        event_free(l->accept_retry);
    if (l->reserve_fd >= 0)
        close(l->reserve_fd);
    free(l->udp);
    free(l->tcp);
    free(l->udp_buf);
    tls_server_free(l->tls);
    free(l);
}
