/* SPDX-License-Identifier: ISC */
/* prober: which device to probe when, on the daemon's loop. */
#include "config.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/dns.h>
#include <event2/event.h>
#include <event2/util.h>

#include "cfg.h"
#include "log.h"
#include "prober.h"
#include "stats.h"

#define PROBER_MAX_DEVICES 65536

struct pdev {
    struct prober *owner;
    char key[256];
    bool named;           /* the key is a host name: resolved before each probe */
    unsigned port;        /* the inventory's probe_port; 0: [probe] port */
    struct sockaddr_storage ss;
    socklen_t len;
    int64_t due;          /* next probe; 0: none planned */
    bool busy;            /* resolving or probing (counted in running) */
    bool resolving;       /* its name is being resolved (dns may still be NULL) */
    struct evdns_getaddrinfo_request *dns;
    struct probe *running; /* NULL when no probe runs */
};

struct prober {
    struct event_base *base;
    const struct cfg *cfg;
    prober_result_cb cb;
    void *arg;
    struct event *tick;
    struct evdns_base *dns; /* made at the first device named by a host name */
    struct pdev **dev; /* pointers: a running probe holds its device */
    size_t n, cap;
    size_t running;
    struct prober_counts counts;
};

static bool allowed(const struct prober *p, const struct sockaddr *sa)
{
    for (size_t i = 0; i < p->cfg->n_probe_allow; i++)
        if (cfg_net_contains(&p->cfg->probe_allow[i], sa))
            return true;
    return false;
}

/* The device key as an address (port unset): 0 when it lies in allow, -1
 * when not or not an address. */
static int device_address(const struct prober *p, const char *key, struct sockaddr_storage *ss, socklen_t *len)
{
    memset(ss, 0, sizeof *ss);
    struct sockaddr_in *sin = (struct sockaddr_in *)(void *)ss;
    struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)(void *)ss;
    if (inet_pton(AF_INET, key, &sin->sin_addr) == 1) {
        sin->sin_family = AF_INET;
        *len = sizeof *sin;
    } else if (inet_pton(AF_INET6, key, &sin6->sin6_addr) == 1) {
        sin6->sin6_family = AF_INET6;
        *len = sizeof *sin6;
    } else {
        return -1;
    }
    return allowed(p, (const struct sockaddr *)ss) ? 0 : -1;
}

/* A key that may be a host name (RFC 1123 letters, digits, '-', '.', '_'). */
static bool host_name(const char *key)
{
    size_t n = strlen(key);
    if (!n || n > 253)
        return false;
    for (const char *c = key; *c; c++)
        if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') || *c == '-' ||
              *c == '.' || *c == '_'))
            return false;
    return true;
}

static struct pdev *find(struct prober *p, const char *key)
{
    for (size_t i = 0; i < p->n; i++)
        if (strcmp(p->dev[i]->key, key) == 0)
            return p->dev[i];
    return NULL;
}

/* The device's probe or resolution ended: the next one is due interval
 * seconds later. */
static void idle(struct prober *p, struct pdev *d)
{
    d->busy = false;
    p->running--;
    d->due = (int64_t)time(NULL) + p->cfg->probe_interval;
}

static void done(void *arg, const struct probe_result *r)
{
    struct pdev *d = arg;
    struct prober *p = d->owner;
    d->running = NULL;
    idle(p, d);
    if (r->error == PROBE_OK) {
        p->counts.answered++;
        log_info("probe of device %s (%s port %u): %s, server lists stored; next probe in %us", d->key, r->address,
                 r->port, r->version.line, p->cfg->probe_interval);
    } else {
        p->counts.failed++;
        if ((unsigned)r->error < PROBER_NCAUSES)
            p->counts.failed_by[r->error]++;
        log_warning("probe of device %s failed: %s; check [probe] port and allow, or the device's SSH server",
                    d->key, r->message);
    }
    p->cb(p->arg, d->key, r);
}

/* Probes d at d->ss (its address), on its port. */
static void start_probe(struct prober *p, struct pdev *d)
{
    unsigned port = d->port ? d->port : p->cfg->probe_port;
    if (d->ss.ss_family == AF_INET)
        ((struct sockaddr_in *)(void *)&d->ss)->sin_port = htons((uint16_t)port);
    else
        ((struct sockaddr_in6 *)(void *)&d->ss)->sin6_port = htons((uint16_t)port);
    char err[256];
    if (probe_start(p->base, (const struct sockaddr *)&d->ss, d->len, p->cfg->probe_timeout * 1000, done, d,
                    &d->running, err, sizeof err) < 0) {
        log_warning("probe of device %s not started: %s; retried in %us", d->key, err, p->cfg->probe_interval);
        p->counts.not_started++;
        idle(p, d);
        return;
    }
    p->counts.started++;
}

/* The device's host name resolved (evdns, off the loop's path): its first
 * address inside allow is probed. */
static void resolved(int result, struct evutil_addrinfo *res, void *arg)
{
    struct pdev *d = arg;
    if (result == EVUTIL_EAI_CANCEL) /* prober_free */
        return;
    struct prober *p = d->owner;
    d->dns = NULL;
    d->resolving = false;
    const struct evutil_addrinfo *use = NULL;
    bool any = false;
    for (const struct evutil_addrinfo *a = result == 0 ? res : NULL; a && !use; a = a->ai_next) {
        if ((a->ai_family != AF_INET && a->ai_family != AF_INET6) || a->ai_addrlen > sizeof d->ss)
            continue;
        any = true;
        if (allowed(p, a->ai_addr))
            use = a;
    }
    if (use) {
        memcpy(&d->ss, use->ai_addr, use->ai_addrlen);
        d->len = (socklen_t)use->ai_addrlen;
        start_probe(p, d);
    } else if (any) {
        p->counts.not_allowed++;
        log_warning("probe of device %s: none of the addresses its name resolves to is in [probe] allow; not "
                    "probed (add its network to allow, or fix its DNS)",
                    d->key);
        idle(p, d);
    } else {
        p->counts.failed_by[0]++;
        log_warning("probe of device %s: its name does not resolve (%s); not probed: check DNS or /etc/hosts, or "
                    "name the device by its address (identify = source)",
                    d->key, result ? evutil_gai_strerror(result) : "no address");
        idle(p, d);
    }
    if (res)
        evutil_freeaddrinfo(res);
}

static void start_due(struct prober *p, int64_t now)
{
    for (size_t i = 0; i < p->n && p->running < p->cfg->probe_max_parallel; i++) {
        struct pdev *d = p->dev[i];
        if (d->busy || !d->due || d->due > now)
            continue;
        d->due = 0;
        d->busy = true;
        p->running++;
        if (!d->named) {
            start_probe(p, d);
            continue;
        }
        if (!p->dns && !(p->dns = evdns_base_new(p->base, EVDNS_BASE_INITIALIZE_NAMESERVERS))) {
            log_warning("probe of device %s: no DNS resolver (/etc/resolv.conf?); retried in %us", d->key,
                        p->cfg->probe_interval);
            idle(p, d);
            continue;
        }
        struct evutil_addrinfo hints;
        memset(&hints, 0, sizeof hints);
        hints.ai_family = AF_UNSPEC;
        hints.ai_socktype = SOCK_STREAM;
        d->resolving = true;
        /* the callback may run before this returns (a hosts-file name) */
        struct evdns_getaddrinfo_request *req = evdns_getaddrinfo(p->dns, d->key, NULL, &hints, resolved, d);
        if (d->resolving)
            d->dns = req;
    }
}

static void tick_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct prober *p = arg;
    if (p->cfg->probe_enable)
        start_due(p, (int64_t)time(NULL));
}

static double read_running(const void *p)
{
    return (double)((const struct prober *)p)->running;
}

static double read_devices(const void *p)
{
    return (double)((const struct prober *)p)->n;
}

_Static_assert(PROBE_BAD_KEXINIT + 1 == PROBER_NCAUSES, "a probe error without its counter");

/* The prober's counters in the daemon's registry (stats.h). */
static void register_counters(struct prober *p)
{
    static const struct {
        const char *name, *help;
    } cause[PROBER_NCAUSES] = {
        [0] = {"probes_failed_resolve", "probes not made: the device's host name did not resolve"},
        [PROBE_REFUSED] = {"probes_failed_refused", "probes refused: nothing listens on the port"},
        [PROBE_TIMEOUT] = {"probes_failed_timeout", "probes that got no answer within [probe] timeout"},
        [PROBE_UNREACHABLE] = {"probes_failed_unreachable", "probes that could not connect (unreachable, ...)"},
        [PROBE_CLOSED] = {"probes_failed_closed", "probes the server closed before its KEXINIT"},
        [PROBE_NOT_SSH] = {"probes_failed_not_ssh", "probes answered by something that is not SSH"},
        [PROBE_SSH1] = {"probes_failed_ssh1", "probes answered by an SSH-1-only server"},
        [PROBE_LONG_LINE] = {"probes_failed_long_line", "probes answered with an overlong version line"},
        [PROBE_BAD_KEXINIT] = {"probes_failed_bad_kexinit", "probes answered with a malformed KEXINIT"},
    };
    const struct prober_counts *c = &p->counts;
    stats_register_u64("probes_started", STATS_COUNTER, "[probe]: probes of devices' SSH servers started", &c->started);
    stats_register_u64("probes_answered", STATS_COUNTER, "probes answered with the server's lists", &c->answered);
    stats_register_u64("probes_failed", STATS_COUNTER, "probes that failed (any cause)", &c->failed);
    for (int i = 0; i < PROBER_NCAUSES; i++)
        stats_register_u64(cause[i].name, STATS_COUNTER, cause[i].help, &c->failed_by[i]);
    stats_register_u64("probes_not_started", STATS_COUNTER, "probes that could not start (no socket)",
                       &c->not_started);
    stats_register_u64("probes_not_allowed", STATS_COUNTER,
                       "failures on devices whose key is not an address in [probe] allow (not probed)",
                       &c->not_allowed);
    stats_register("probes_in_flight", STATS_GAUGE, "probes running now (at most [probe] max_parallel)",
                   read_running, p);
    stats_register("probe_devices", STATS_GAUGE, "devices the prober keeps a schedule for", read_devices, p);
}

struct prober *prober_new(struct event_base *base, const struct cfg *cfg, prober_result_cb cb, void *arg)
{
    struct prober *p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    p->base = base;
    p->cfg = cfg;
    p->cb = cb;
    p->arg = arg;
    p->tick = event_new(base, -1, EV_PERSIST, tick_cb, p);
    struct timeval one = {1, 0};
    if (!p->tick || event_add(p->tick, &one) < 0) {
        prober_free(p);
        return NULL;
    }
    register_counters(p);
    return p;
}

void prober_set_cfg(struct prober *p, const struct cfg *cfg)
{
    p->cfg = cfg;
    for (size_t i = 0; i < p->n;) {
        struct pdev *d = p->dev[i];
        struct sockaddr_storage ss;
        socklen_t len;
        if (d->busy || (cfg->probe_enable && (d->named || device_address(p, d->key, &ss, &len) == 0))) {
            if (!d->busy && !d->named) {
                d->ss = ss;
                d->len = len;
            }
            i++;
            continue;
        }
        free(d);
        p->dev[i] = p->dev[--p->n];
    }
}

void prober_failure(struct prober *p, const char *device, unsigned port, int64_t now)
{
    if (!p->cfg->probe_enable)
        return;
    struct pdev *d = find(p, device);
    if (!d) {
        struct sockaddr_storage ss = {0};
        socklen_t len = 0;
        bool named = false;
        if (strlen(device) >= sizeof d->key ||
            (device_address(p, device, &ss, &len) < 0 && !(named = host_name(device) && !strchr(device, ':')))) {
            p->counts.not_allowed++;
            return;
        }
        /* an address outside allow is a valid host name too: not one */
        if (named) {
            struct in6_addr a6;
            struct in_addr a4;
            if (inet_pton(AF_INET, device, &a4) == 1 || inet_pton(AF_INET6, device, &a6) == 1) {
                p->counts.not_allowed++;
                return;
            }
        }
        if (p->n == PROBER_MAX_DEVICES)
            return;
        if (p->n == p->cap) {
            size_t nc = p->cap ? 2 * p->cap : 64;
            struct pdev **v = realloc(p->dev, nc * sizeof *v);
            if (!v)
                return;
            p->dev = v;
            p->cap = nc;
        }
        if (!(d = calloc(1, sizeof *d)))
            return;
        d->owner = p;
        snprintf(d->key, sizeof d->key, "%s", device);
        d->named = named;
        d->ss = ss;
        d->len = len;
        p->dev[p->n++] = d;
    }
    d->port = port;
    int64_t when = now + p->cfg->probe_after_failure;
    if (!d->busy && (!d->due || d->due > when))
        d->due = when;
}

void prober_counts(const struct prober *p, struct prober_counts *out)
{
    *out = p->counts;
    out->devices = p->n;
    out->running = p->running;
}

void prober_free(struct prober *p)
{
    if (!p)
        return;
    stats_unregister(p, sizeof *p);
    for (size_t i = 0; i < p->n; i++) {
        probe_cancel(p->dev[i]->running);
        if (p->dev[i]->dns)
            evdns_getaddrinfo_cancel(p->dev[i]->dns);
        free(p->dev[i]);
    }
    if (p->dns)
        evdns_base_free(p->dns, 0);
    free(p->dev);
    if (p->tick)
        event_free(p->tick);
    free(p);
}
