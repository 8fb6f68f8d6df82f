/* SPDX-License-Identifier: ISC */
/* probe: one non-blocking TCP exchange with an SSH server, up to its KEXINIT. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "probe.h"
#include "text.h"

/* identification and skipped lines, then at most a few skipped packets and
 * the KEXINIT */
#define PROBE_BUF (KEXINIT_MAX_PREBYTES + KEXINIT_VERSION_MAX + 2 * (KEXINIT_MAX_PACKET + 4))
#define PROBE_MAX_SKIPPED 16

enum phase { PH_CONNECT, PH_VERSION, PH_PACKETS };

struct probe {
    struct event_base *base;
    int fd;
    struct event *wev, *rev, *timer; /* connected; readable; the deadline */
    enum probe_error early;          /* connect() failed at once: reported from the loop */
    enum phase phase;
    unsigned char *buf;
    size_t len, off; /* bytes read; where the binary packets start */
    unsigned skipped;
    struct timespec t0;
    probe_done_cb cb;
    void *arg;
    struct probe_result r;
};

const char *probe_error_name(enum probe_error e)
{
    static const char *const names[] = {"ok",     "refused", "timeout",   "unreachable", "closed",
                                        "not-ssh", "ssh1",    "long-line", "bad-kexinit"};
    return (unsigned)e < sizeof names / sizeof names[0] ? names[e] : "?";
}

static double since(const struct timespec *t0)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)(now.tv_sec - t0->tv_sec) + (double)(now.tv_nsec - t0->tv_nsec) / 1e9;
}

/* Hands the result over and frees everything; the probe is gone after. */
static void finish(struct probe *p, enum probe_error e)
{
    p->r.error = e;
    p->r.seconds = since(&p->t0);
    if (p->wev)
        event_free(p->wev);
    if (p->rev)
        event_free(p->rev);
    if (p->timer)
        event_free(p->timer);
    if (p->fd >= 0)
        close(p->fd);
    free(p->buf);
    if (p->cb)
        p->cb(p->arg, &p->r);
    kexinit_clear(&p->r.kexinit);
    free(p);
}

/* Frees a probe that never started: no callback. */
static void finish_silently(struct probe *p)
{
    p->cb = NULL;
    finish(p, PROBE_UNREACHABLE);
}

/* Finishes with message "ADDRESS port PORT: " before detail after. */
static void fail(struct probe *p, enum probe_error e, const char *before, const char *detail, const char *after)
{
    snprintf(p->r.message, sizeof p->r.message, "%s port %u: %s%s%s", p->r.address, p->r.port, before,
             detail ? detail : "", after);
    finish(p, e);
}

/* Parses what has arrived; eof: the server has closed. Returns 1 when the
 * probe is finished (and freed), 0 to read on. */
static int parse(struct probe *p, int eof)
{
    char why[400];
    if (p->phase == PH_VERSION) {
        size_t used = 0;
        int rc = kexinit_read_version(p->buf, p->len, eof, &p->r.version, &used, why, sizeof why);
        if (rc == KEXINIT_MORE)
            return 0;
        if (rc == KEXINIT_SSH1) {
            fail(p, PROBE_SSH1, "", why, "");
            return 1;
        }
        if (rc == KEXINIT_LONG_LINE) {
            fail(p, PROBE_LONG_LINE, "", why, "");
            return 1;
        }
        if (rc != KEXINIT_OK) {
            fail(p, PROBE_NOT_SSH, "", why, "; is this the device's SSH port?");
            return 1;
        }
        p->r.have_version = 1;
        p->off = used;
        p->phase = PH_PACKETS;
    }
    for (;;) {
        size_t used = 0;
        int rc = kexinit_read_packet(p->buf + p->off, p->len - p->off, &p->r.kexinit, &used, why, sizeof why);
        if (rc == KEXINIT_OK) {
            finish(p, PROBE_OK);
            return 1;
        }
        if (rc == KEXINIT_SKIP && ++p->skipped <= PROBE_MAX_SKIPPED) {
            p->off += used;
            continue;
        }
        if (rc == KEXINIT_SKIP) {
            fail(p, PROBE_BAD_KEXINIT, "more than 16 IGNORE/DEBUG packets before the KEXINIT", NULL, "");
            return 1;
        }
        if (rc == KEXINIT_MORE) {
            if (!eof)
                return 0;
            fail(p, PROBE_CLOSED,
                 "the server closed the connection after its version string, before its KEXINIT",
                 NULL, " (a connection limit, or an address it refuses: check its logs)");
            return 1;
        }
        fail(p, PROBE_BAD_KEXINIT, "", why, "");
        return 1;
    }
}

static void on_read(struct probe *p)
{
    for (;;) {
        if (p->len == PROBE_BUF) {
            fail(p, PROBE_BAD_KEXINIT, "more than 150 KiB before a KEXINIT", NULL, "");
            return;
        }
        ssize_t n = recv(p->fd, p->buf + p->len, PROBE_BUF - p->len, 0);
        if (n > 0) {
            p->len += (size_t)n;
            if (parse(p, 0))
                return;
            continue;
        }
        if (n == 0) {
            parse(p, 1);
            return;
        }
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
            return;
        if (errno == ECONNRESET && p->phase == PH_VERSION && p->len == 0)
            fail(p, PROBE_CLOSED, "the server reset the connection before its version string", NULL, "");
        else
            fail(p, PROBE_UNREACHABLE, "receive failed: ", strerror(errno), "");
        return;
    }
}

static void on_connected(struct probe *p)
{
    int soerr = 0;
    socklen_t sl = sizeof soerr;
    if (getsockopt(p->fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) < 0)
        soerr = errno;
    if (soerr == ECONNREFUSED) {
        fail(p, PROBE_REFUSED, "connection refused: nothing listens there",
             NULL, " (is the SSH server on another port?)");
        return;
    }
    if (soerr) {
        fail(p, PROBE_UNREACHABLE, "cannot connect: ", strerror(soerr), "");
        return;
    }
    static const char hello[] = PROBE_VERSION_STRING "\r\n";
    ssize_t n = send(p->fd, hello, sizeof hello - 1, MSG_NOSIGNAL);
    if (n != (ssize_t)(sizeof hello - 1)) {
        /* a fresh socket's buffer takes 40 bytes; anything else is a dead peer */
        fail(p, PROBE_UNREACHABLE, "cannot send the version string: ", n < 0 ? strerror(errno) : "short write",
             "");
        return;
    }
    p->phase = PH_VERSION;
    if (event_add(p->rev, NULL) < 0)
        fail(p, PROBE_UNREACHABLE, "cannot wait for the answer", NULL, "");
}

static void write_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    on_connected(arg);
}

static void read_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    on_read(arg);
}

static void timer_cb(evutil_socket_t fd, short what, void *arg)
{
    struct probe *p = arg;
    (void)fd;
    (void)what;
    char t[64];
    snprintf(t, sizeof t, "%.1f s", since(&p->t0));
    if (p->early)
        finish(p, p->early);
    else if (p->phase == PH_CONNECT)
        fail(p, PROBE_TIMEOUT,
             "timed out connecting after ",
             t, " (a firewall dropping the connection, or a wrong address)");
    else if (p->phase == PH_VERSION && p->len == 0)
        fail(p, PROBE_TIMEOUT,
             "timed out after ",
             t, ": connected, but the server sent nothing (not an SSH server, or one too busy to answer)");
    else if (p->phase == PH_VERSION)
        fail(p, PROBE_TIMEOUT,
             "timed out after ",
             t, " waiting for the rest of the version string (not SSH, or a tarpit)");
    else
        fail(p, PROBE_TIMEOUT, "timed out after ", t, " waiting for the server's KEXINIT");
}

void probe_cancel(struct probe *p)
{
    if (p)
        finish_silently(p);
}

int probe_start(struct event_base *base, const struct sockaddr *sa, socklen_t salen, unsigned timeout_ms,
                probe_done_cb cb, void *arg, struct probe **handle, char *err, size_t errsize)
{
    if (handle)
        *handle = NULL;
    struct probe *p = calloc(1, sizeof *p);
    if (!p || !(p->buf = malloc(PROBE_BUF))) {
        free(p);
        snprintf(err, errsize, "out of memory");
        return -1;
    }
    p->fd = -1;
    p->base = base;
    p->cb = cb;
    p->arg = arg;
    clock_gettime(CLOCK_MONOTONIC, &p->t0);
    text_addr_host(sa, p->r.address, sizeof p->r.address);
    p->r.port = text_addr_port(sa);
    p->fd = socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (p->fd < 0) {
        snprintf(err, errsize, "%s port %u: cannot make a socket: %s", p->r.address, p->r.port, strerror(errno));
        free(p->buf);
        free(p);
        return -1;
    }
    p->wev = event_new(base, p->fd, EV_WRITE, write_cb, p);
    p->rev = event_new(base, p->fd, EV_READ | EV_PERSIST, read_cb, p);
    p->timer = evtimer_new(base, timer_cb, p);
    struct timeval tv = {.tv_sec = timeout_ms / 1000, .tv_usec = (long)(timeout_ms % 1000) * 1000};
    if (!p->wev || !p->rev || !p->timer) {
        snprintf(err, errsize, "out of memory");
        p->cb = NULL;
        finish_silently(p);
        return -1;
    }
    if (connect(p->fd, sa, salen) < 0 && errno != EINPROGRESS) {
        /* reported from the loop like every other outcome */
        int e = errno;
        p->early = e == ECONNREFUSED ? PROBE_REFUSED : PROBE_UNREACHABLE;
        snprintf(p->r.message, sizeof p->r.message, "%s port %u: cannot connect: %s", p->r.address, p->r.port,
                 strerror(e));
        tv = (struct timeval){0, 0};
    } else if (event_add(p->wev, NULL) < 0) {
        snprintf(err, errsize, "cannot watch the socket");
        finish_silently(p);
        return -1;
    }
    if (evtimer_add(p->timer, &tv) < 0) {
        snprintf(err, errsize, "cannot arm the timer");
        finish_silently(p);
        return -1;
    }
    if (handle)
        *handle = p;
    return 0;
}
