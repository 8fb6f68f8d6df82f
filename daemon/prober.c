/* SPDX-License-Identifier: ISC */
/* prober: which device to probe when, on the daemon's loop. */
#include "config.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>

#include "cfg.h"
#include "log.h"
#include "prober.h"
#include "stats.h"

#define PROBER_MAX_DEVICES 65536

struct pdev {
    struct prober *owner;
    char key[64];
    struct sockaddr_storage ss;
    socklen_t len;
    int64_t due;          /* next probe; 0: none planned */
    struct probe *running; /* NULL when idle */
};

struct prober {
    struct event_base *base;
    const struct cfg *cfg;
    prober_result_cb cb;
    void *arg;
    struct event *tick;
    struct pdev **dev; /* pointers: a running probe holds its device */
    size_t n, cap;
    size_t running;
    struct prober_counts counts;
};

/* the device key as an allowed address with [probe] port, or -1 */
static int device_address(const struct prober *p, const char *key, struct sockaddr_storage *ss, socklen_t *len)
{
    memset(ss, 0, sizeof *ss);
    struct sockaddr_in *sin = (struct sockaddr_in *)(void *)ss;
    struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)(void *)ss;
    if (inet_pton(AF_INET, key, &sin->sin_addr) == 1) {
        sin->sin_family = AF_INET;
        sin->sin_port = htons((uint16_t)p->cfg->probe_port);
        *len = sizeof *sin;
    } else if (inet_pton(AF_INET6, key, &sin6->sin6_addr) == 1) {
        sin6->sin6_family = AF_INET6;
        sin6->sin6_port = htons((uint16_t)p->cfg->probe_port);
        *len = sizeof *sin6;
    } else {
        return -1;
    }
    for (size_t i = 0; i < p->cfg->n_probe_allow; i++)
        if (cfg_net_contains(&p->cfg->probe_allow[i], (const struct sockaddr *)ss))
            return 0;
    return -1;
}

static struct pdev *find(struct prober *p, const char *key)
{
    for (size_t i = 0; i < p->n; i++)
        if (strcmp(p->dev[i]->key, key) == 0)
            return p->dev[i];
    return NULL;
}

static void done(void *arg, const struct probe_result *r)
{
    struct pdev *d = arg;
    struct prober *p = d->owner;
    d->running = NULL;
    p->running--;
    d->due = (int64_t)time(NULL) + p->cfg->probe_interval;
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

static void start_due(struct prober *p, int64_t now)
{
    for (size_t i = 0; i < p->n && p->running < p->cfg->probe_max_parallel; i++) {
        struct pdev *d = p->dev[i];
        if (d->running || !d->due || d->due > now)
            continue;
        char err[256];
        d->due = 0;
        if (probe_start(p->base, (const struct sockaddr *)&d->ss, d->len, p->cfg->probe_timeout * 1000, done, d,
                        &d->running, err, sizeof err) < 0) {
            log_warning("probe of device %s not started: %s; retried in %us", d->key, err, p->cfg->probe_interval);
            p->counts.not_started++;
            d->due = now + p->cfg->probe_interval;
            continue;
        }
        p->running++;
        p->counts.started++;
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
    for (int i = 1; i < PROBER_NCAUSES; i++)
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
        if (d->running || (cfg->probe_enable && device_address(p, d->key, &ss, &len) == 0)) {
            if (!d->running) {
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

void prober_failure(struct prober *p, const char *device, int64_t now)
{
    if (!p->cfg->probe_enable)
        return;
    struct pdev *d = find(p, device);
    if (!d) {
        struct sockaddr_storage ss;
        socklen_t len;
        if (strlen(device) >= sizeof d->key || device_address(p, device, &ss, &len) < 0) {
            p->counts.not_allowed++;
            return;
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
        d->ss = ss;
        d->len = len;
        p->dev[p->n++] = d;
    }
    int64_t when = now + p->cfg->probe_after_failure;
    if (!d->running && (!d->due || d->due > when))
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
        free(p->dev[i]);
    }
    free(p->dev);
    if (p->tick)
        event_free(p->tick);
    free(p);
}
