/* SPDX-License-Identifier: ISC */
/* kexwatchd: start-up and shut-down. Modules are set up in dependency order
 * (configuration, pipeline, listeners, systemd) and torn down in reverse.
 * Only this file may exit the process. */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "alert.h"
#include "cfg.h"
#include "listen.h"
#include "log.h"
#include "http.h"
#include "metrics.h"
#include "pipeline.h"
#include "prober.h"
#include "privdrop.h"
#include "sdnotify.h"
#include "stats.h"
#include "tls.h"
#include "store.h"

#define STATUS_INTERVAL_S 10
#define STORE_QUEUE_MAX 200000    /* queued negotiations before refusing */
#define STORE_PAUSE_AT 150000     /* stop reading input above this many queued */
#define STORE_RESUME_AT 20000     /* and start again below this many */
#define PURGE_STEP 2000           /* negotiations deleted per retention step */

struct daemon {
    struct event_base *base;
    struct cfg *cfg;
    const char *cfg_path;
    struct pipeline *pipeline;
    struct listen *listen;
    struct store *store;
    struct alerter *alerter;
    struct http *http;
    struct tls_server *http_tls; /* [http] tls: the HTTPS certificate, re-read on SIGHUP */
    struct prober *prober; /* [probe]: idle unless enable = yes */
    int paused;
    uint64_t pauses; /* times reading was paused for the database */
    int mem_paused;  /* reading paused: the memory budget is spent on the database queue */
    uint64_t mem_pauses, mem_sheds;
    size_t mem_used; /* at the last check */
    unsigned mem_tick;
    struct log_ratelimit rl_mem;
    int debug; /* -d: debug logging whatever the configuration says */
    struct log_ratelimit rl_store;
    FILE *dump;
    struct event *ev_term, *ev_int, *ev_hup, *ev_usr1, *ev_status, *ev_watchdog, *ev_tick, *ev_store;
};

static void usage(FILE *f)
{
    fprintf(f,
            "Usage: kexwatchd [-c FILE] [-t] [-d] [--dump-records FILE]\n"
            "Watches syslog streams from network devices for SSH algorithm negotiation failures.\n"
            "\n"
            "  -c, --config FILE        configuration file (default %s/kexwatch.conf)\n"
            "  -t, --test               check the configuration, print every error, exit 0 or 1\n"
            "  -d, --debug              log at debug level (overrides [daemon] log_level)\n"
            "      --dump-records FILE  write every parsed syslog record as a JSON line to FILE\n"
            "                           ('-' = stdout); a debugging aid\n"
            "  -h, --help               this text\n"
            "  -V, --version            print the version\n"
            "\n"
            "Signals: TERM/INT stop cleanly, HUP re-reads the configuration, USR1 dumps counters to stderr\n"
            "(and flushes the record dump).\n"
            "kexwatchd never forks; it logs to stderr. See kexwatchd(8).\n",
            KW_SYSCONFDIR);
}

static void on_stop(evutil_socket_t sig, short what, void *arg)
{
    struct daemon *d = arg;
    (void)what;
    log_notice("received %s; stopping", sig == SIGTERM ? "SIGTERM" : "SIGINT");
    sdnotify_stopping();
    event_base_loopbreak(d->base);
}

static void on_usr1(evutil_socket_t sig, short what, void *arg)
{
    struct daemon *d = arg;
    (void)sig;
    (void)what;
    pipeline_flush(d->pipeline);
    stats_dump(stderr);
}

/* Reading pauses while the database's queue is long, so the database's
 * pace, not memory, bounds the input; the writer thread commits. */
static void store_backpressure(struct daemon *d)
{
    size_t pending = store_pending(d->store);
    if (!d->paused && pending >= STORE_PAUSE_AT) {
        d->paused = 1;
        d->pauses++;
        listen_set_paused(d->listen, 1);
        log_warning("database %s is behind (%zu negotiations queued): reading paused; senders are slowed and "
                    "UDP may be dropped by the kernel until it catches up (check the disk)",
                    d->cfg->database, pending);
    } else if (d->paused && pending <= STORE_RESUME_AT && !d->mem_paused) {
        d->paused = 0;
        listen_set_paused(d->listen, 0);
        log_notice("database %s caught up: reading resumed", d->cfg->database);
    }
}

static void memory_budget(struct daemon *d);

/* The writer finished something: its callbacks run here, on the loop. */
static void on_store(evutil_socket_t fd, short what, void *arg)
{
    struct daemon *d = arg;
    (void)fd;
    (void)what;
    store_poll(d->store);
    store_backpressure(d);
    if (d->mem_paused)
        memory_budget(d);
}

static void on_outcome(void *arg, const struct negotiation *n)
{
    struct daemon *d = arg;
    pipeline_log_outcome(d->pipeline, n);
    /* the negotiation is queued before its alert, which names its device */
    if (store_enqueue(d->store, n) < 0) {
        uint64_t held = 0;
        if (log_ratelimit_allow(&d->rl_store, time(NULL), &held))
            log_error("database %s: queue full, a negotiation of device %s was not stored; the disk is too slow "
                      "or full",
                      d->cfg->database, n->device);
    }
    if (d->alerter)
        alerter_process(d->alerter, d->pipeline, n, (int64_t)time(NULL));
    /* the device's lists were unknown: ask its SSH server ([probe]) */
    if (d->prober && n->failed && n->slot >= 0 && n->slot < NEG_NSLOTS && !n->server[n->slot])
        prober_failure(d->prober, n->device, pipeline_probe_port(d->pipeline, n->device), (int64_t)time(NULL));
    store_backpressure(d);
}

/* A probe ended: recorded with its device (its banner or its error), and
 * when it answered its lists are the device's server lists from now on,
 * for the sessions (newest wins) and in the store with source 'probed'.
 * KEXINIT's first eight lists are the negotiation slots in the same order. */
static void on_probed(void *arg, const char *device, const struct probe_result *r)
{
    struct daemon *d = arg;
    int64_t now = (int64_t)time(NULL);
    struct store_probe sp = {
        .device = device,
        .time = now,
        .address = r->address,
        .port = r->port,
        .banner = r->have_version ? r->version.line : NULL,
        .error = r->error == PROBE_OK ? NULL : r->message,
    };
    for (int slot = 0; r->error == PROBE_OK && slot < NEG_NSLOTS; slot++) {
        const char *list = r->kexinit.lists[slot];
        if (!list || !*list)
            continue;
        sp.lists[slot] = list;
        if (pipeline_restore_profile(d->pipeline, device, slot, list, now) < 0)
            log_warning("probe of device %s: the %s list could not be kept (memory short)", device,
                        kexinit_list_name(slot));
    }
    if (r->error == PROBE_OK) {
        /* the banner names the platform and release of later remedies */
        if (r->have_version && r->version.software[0])
            pipeline_set_server_software(d->pipeline, device, r->version.software);
        if (d->alerter)
            alerter_probed(d->alerter, d->pipeline, device, sp.lists,
                           r->have_version && r->version.software[0] ? r->version.software : NULL, now);
    }
    if (store_enqueue_probe(d->store, &sp) < 0)
        log_warning("probe of device %s: not stored (database queue full or memory short); the lists are used "
                    "until the next restart",
                    device);
}

static void put_metric(void *arg, const char *name, const char *help, int type, double value)
{
    char full[128];
    snprintf(full, sizeof full, "kexwatch_%s%s", name, type == STATS_COUNTER ? "_total" : "");
    metrics_put(arg, full, type == STATS_COUNTER ? "counter" : "gauge", help, value);
}

/* The /metrics page: the registry (stats.h), as SIGUSR1 and STATUS= see it. */
static void write_metrics(void *arg, FILE *f)
{
    (void)arg;
    stats_each(put_metric, f);
}

static double read_paused(const void *d)
{
    return ((const struct daemon *)d)->paused;
}

static double read_mem_used(const void *d)
{
    return (double)((const struct daemon *)d)->mem_used;
}

static double read_mem_limit(const void *d)
{
    return (double)((const struct daemon *)d)->cfg->max_memory;
}

/* The daemon's own figures in the registry (stats.h); the modules register theirs. */
static void register_counters(struct daemon *d)
{
    stats_register("store_paused", STATS_GAUGE, "1 while reading is paused: the database queue is long", read_paused,
                   d);
    stats_register_u64("store_pauses", STATS_COUNTER, "times reading was paused for the database", &d->pauses);
    stats_register("memory_bytes", STATS_GAUGE,
                   "memory held by sessions, the database queue and alert state ([daemon] max_memory)",
                   read_mem_used, d);
    stats_register("memory_limit_bytes", STATS_GAUGE, "[daemon] max_memory", read_mem_limit, d);
    stats_register_u64("memory_pauses", STATS_COUNTER,
                       "times reading paused: the memory budget was spent on the database queue", &d->mem_pauses);
    stats_register_u64("memory_sheds", STATS_COUNTER, "times the memory budget was reached and state was freed",
                       &d->mem_sheds);
}

static void on_profile(void *arg, const char *device, int slot, const char *list, int64_t learned_at)
{
    struct daemon *d = arg;
    store_enqueue_profile(d->store, device, slot, list, learned_at);
}

static void restore_profile(void *arg, const char *device, int slot, const char *list, int64_t learned_at)
{
    struct daemon *d = arg;
    pipeline_restore_profile(d->pipeline, device, slot, list, learned_at);
}


/* Re-reads the HTTPS certificate and key ([http] tls); a bad new pair keeps
 * the old one. [http] tls itself and the listen address need a restart. */
static void http_tls_reload(struct daemon *d, const struct cfg *c)
{
    if (!d->http_tls) {
        if (c->http_tls && d->http)
            log_warning("SIGHUP: [http] tls = yes takes effect at the next start; the console stays plain HTTP "
                        "until kexwatchd restarts");
        return;
    }
    if (!c->http_tls) {
        log_warning("SIGHUP: [http] tls = no takes effect at the next start; the console stays HTTPS until "
                    "kexwatchd restarts");
        return;
    }
    char err[1024];
    struct tls_server_opts o = tls_opts_http(c);
    if (tls_server_reload(d->http_tls, &o, err, sizeof err) < 0)
        log_error("SIGHUP: %s; the HTTPS listener keeps the certificate and key it had (fix the files and send "
                  "SIGHUP again)",
                  err);
    else
        log_notice("SIGHUP: HTTPS certificate %s and key re-read; new connections use them, open ones continue",
                   o.cert);
}

/* Reloads the knowledge (patterns, algorithm table, keyword map,
 * catalogue), the inventory, the alert file and the listen addresses (new
 * ones opened, removed ones closed, unchanged ones kept) without dropping
 * sessions, alert state or learned profiles. A bad new configuration is
 * reported and the running one stays. The database path needs a restart,
 * and says so. */
static void on_hup(evutil_socket_t sig, short what, void *arg)
{
    struct daemon *d = arg;
    (void)sig;
    (void)what;
    sdnotify_reloading();
    struct cfg *c = NULL;
    struct cfg_errors errs = {0};
    if (cfg_load(d->cfg_path, &c, &errs) < 0 || pipeline_reload(d->pipeline, c, &errs) < 0) {
        for (size_t i = 0; i < errs.n; i++)
            log_error("%s", errs.msgs[i]);
        log_error("SIGHUP: %s has %zu error(s); the running configuration stays in force", d->cfg_path, errs.n);
        cfg_free(c);
    } else {
        if (strcmp(c->database, d->cfg->database) != 0)
            log_warning("SIGHUP: [store] database changed; it is opened only at start: restart kexwatchd to use "
                        "%s",
                        c->database);
        char aerr[512];
        if (alerter_reopen(d->alerter, c, aerr, sizeof aerr) < 0)
            log_error("SIGHUP: %s; alerts keep going to the old file", aerr);
        listen_reconfigure(d->listen, c);
        if (http_reload_users(d->http, c->http_users) < 0)
            log_error("SIGHUP: out of memory; the [http] users read before stay in force");
        http_tls_reload(d, c);
        prober_set_cfg(d->prober, c);
        log_set_level(d->debug ? LOG_LV_DEBUG : (enum log_level)c->log_level);
        cfg_free(d->cfg);
        d->cfg = c;
        log_notice("SIGHUP: reloaded %s (patterns, algorithm table, inventory: %zu device/group section(s))",
                   d->cfg_path, c->n_devices);
    }
    cfg_errors_free(&errs);
    if (d->dump)
        fflush(d->dump);
    sdnotify_ready();
}

static void on_status(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    (void)arg;
    char line[256];
    stats_status_line(line, sizeof line);
    sdnotify_status(line);
}

/* decides negotiations whose lines stopped coming, and enforces retention
 * a small step at a time */
static void on_tick(evutil_socket_t fd, short what, void *arg)
{
    struct daemon *d = arg;
    (void)fd;
    (void)what;
    int64_t now = (int64_t)time(NULL);
    pipeline_tick(d->pipeline, now);
    if (d->alerter)
        alerter_tick(d->alerter, now);
    /* retention_days 0 keeps everything; keep_successes 0 keeps success
     * rows as long as failures */
    int64_t keep = d->cfg->retention_days ? now - (int64_t)d->cfg->retention_days * 86400 : INT64_MIN;
    int64_t keep_ok = d->cfg->keep_successes ? now - (int64_t)d->cfg->keep_successes : keep;
    if (d->cfg->retention_days || d->cfg->keep_successes)
        store_retain(d->store, keep, keep_ok, PURGE_STEP);
}

static void on_watchdog(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    (void)arg;
    sdnotify_watchdog();
}

/* The memory budget ([daemon] max_memory) over sessions, the database
 * queue and alert state. Over it, the daemon frees down to 90 %: oldest
 * undecided sessions first (decided early, counted), then remembered
 * alerts; what the database queue holds cannot be freed, so then reading
 * pauses until the writer has caught up. */
static void memory_budget(struct daemon *d)
{
    size_t max = d->cfg->max_memory;
    size_t sess = pipeline_memory(d->pipeline), queue = store_memory(d->store);
    size_t alerts = d->alerter ? alerter_bytes(d->alerter) : 0;
    size_t total = sess + queue + alerts;
    d->mem_used = total;
    if (total <= max) {
        if (d->mem_paused && total <= max - max / 10) {
            d->mem_paused = 0;
            if (!d->paused)
                listen_set_paused(d->listen, 0);
            log_notice("memory back under [daemon] max_memory (%zu MiB used of %zu): reading resumed",
                       total >> 20, max >> 20);
        }
        return;
    }
    const struct session_counts *sc = pipeline_session_counts(d->pipeline);
    uint64_t ev0 = sc->memory_evicted, dev0 = sc->devices_evicted;
    size_t want = total - max + max / 10;
    size_t freed = pipeline_shed(d->pipeline, want);
    if (freed < want && d->alerter)
        freed += alerter_shed(d->alerter, want - freed);
    d->mem_sheds++;
    uint64_t held = 0;
    if (log_ratelimit_allow(&d->rl_mem, time(NULL), &held))
        log_warning("memory budget [daemon] max_memory = %zu MiB reached (sessions %zu MiB, database queue %zu MiB, "
                    "alert state %zu MiB): %llu undecided session(s) decided early, %llu device(s) forgotten; "
                    "raise max_memory if the machine has room%s",
                    max >> 20, sess >> 20, queue >> 20, alerts >> 20,
                    (unsigned long long)(sc->memory_evicted - ev0), (unsigned long long)(sc->devices_evicted - dev0),
                    held ? " (similar warnings were held back)" : "");
    if (freed < want && !d->mem_paused) {
        /* the rest is the database queue: wait for the writer */
        d->mem_paused = 1;
        d->mem_pauses++;
        listen_set_paused(d->listen, 1);
        log_warning("memory budget [daemon] max_memory = %zu MiB: %zu MiB wait for the database; reading paused "
                    "until it catches up (check the disk)",
                    max >> 20, queue >> 20);
    }
}

static void on_message(void *arg, const struct msg *m)
{
    struct daemon *d = arg;
    pipeline_feed(d->pipeline, m);
    /* every 64 messages: the check takes the store's lock, which showed in
     * the TCP benchmark when done for each message */
    if ((++d->mem_tick & 63) == 0)
        memory_budget(d);
}

/* A passed stream socket is TLS when its FileDescriptorName= is "tls"
 * (kexwatchd-tls.socket), or when its port is one of [listen] tls. */
static int adopted_is_tls(const struct daemon *d, int fd, const char *name)
{
    if (name && strcmp(name, "tls") == 0)
        return 1;
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0)
        return 0;
    unsigned port = ss.ss_family == AF_INET    ? ntohs(((struct sockaddr_in *)&ss)->sin_port)
                    : ss.ss_family == AF_INET6 ? ntohs(((struct sockaddr_in6 *)&ss)->sin6_port)
                                               : 0;
    for (size_t i = 0; i < d->cfg->n_tls; i++) {
        const struct sockaddr_storage *t = &d->cfg->tls[i].ss;
        unsigned tp = t->ss_family == AF_INET    ? ntohs(((const struct sockaddr_in *)t)->sin_port)
                      : t->ss_family == AF_INET6 ? ntohs(((const struct sockaddr_in6 *)t)->sin6_port)
                                                 : 0;
        if (port && tp == port)
            return 1;
    }
    return 0;
}

static int adopt_systemd_sockets(struct daemon *d, int n, char **names)
{
    int n_tls = 0;
    for (int fd = 3; fd < 3 + n; fd++) {
        const char *name = names ? names[fd - 3] : NULL;
        int stream = sdnotify_is_socket(fd, SOCK_STREAM);
        int dgram = sdnotify_is_socket(fd, SOCK_DGRAM);
        if (stream <= 0 && dgram <= 0) {
            log_error("socket activation: fd %d is neither a listening stream nor a datagram socket; check "
                      "ListenStream=/ListenDatagram= in kexwatchd.socket",
                      fd);
            return -1;
        }
        int tls = stream > 0 && adopted_is_tls(d, fd, name);
        n_tls += tls;
        if (listen_adopt_fd(d->listen, fd, tls ? LISTEN_TLS : stream > 0 ? LISTEN_TCP : LISTEN_UDP) < 0) {
            log_error("socket activation: cannot use fd %d (%s)", fd, tls ? "tls" : stream > 0 ? "tcp" : "udp");
            return -1;
        }
    }
    log_info("socket activation: using %d socket(s) from systemd instead of [listen] (%d of them TLS)", n, n_tls);
    return 0;
}

static struct event *add_timer(struct daemon *d, unsigned long usec, event_callback_fn fn)
{
    struct event *ev = event_new(d->base, -1, EV_PERSIST, fn, d);
    struct timeval tv = {.tv_sec = (time_t)(usec / 1000000), .tv_usec = (suseconds_t)(usec % 1000000)};
    if (ev)
        event_add(ev, &tv);
    return ev;
}

static void teardown(struct daemon *d)
{
    if (d->listen)
        listen_stop(d->listen);
    listen_free(d->listen);
    prober_free(d->prober);
    if (d->pipeline)
        pipeline_finish(d->pipeline);
    /* what the pipeline decided last is committed, and the alerts waiting
     * for their state to commit go out, before the alerter and the
     * database close */
    if (d->alerter)
        alerter_sync(d->alerter);
    store_finish(d->store);
    stats_unregister(d, sizeof *d);
    alerter_free(d->alerter);
    store_close(d->store);
    http_free(d->http);
    tls_server_free(d->http_tls);
    pipeline_free(d->pipeline);
    struct event *evs[] = {d->ev_term,     d->ev_int,  d->ev_hup,  d->ev_usr1,
                           d->ev_status,   d->ev_watchdog, d->ev_tick, d->ev_store};
    for (size_t i = 0; i < sizeof evs / sizeof evs[0]; i++)
        if (evs[i])
            event_free(evs[i]);
    if (d->base) {
        /* a connection freed while one of its deferred callbacks was
         * still queued (a TLS peer refused or closing at SIGTERM) is only
         * released when that callback runs: run what is queued once */
        event_base_loop(d->base, EVLOOP_NONBLOCK);
        event_base_free(d->base);
    }
    if (d->dump && d->dump != stdout)
        fclose(d->dump);
    cfg_free(d->cfg);
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'},
        {"test", no_argument, NULL, 't'},
        {"debug", no_argument, NULL, 'd'},
        {"dump-records", required_argument, NULL, 'D'},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0},
    };
    struct daemon d = {.cfg_path = KW_SYSCONFDIR "/kexwatch.conf"};
    int test_only = 0, debug = 0, c;
    const char *dump_path = NULL;
    while ((c = getopt_long(argc, argv, "c:tdhV", opts, NULL)) != -1) {
        switch (c) {
        case 'c': d.cfg_path = optarg; break;
        case 't': test_only = 1; break;
        case 'd': debug = 1; break;
        case 'D': dump_path = optarg; break;
        case 'h': usage(stdout); return 0;
        case 'V': printf("kexwatchd %s\n", PACKAGE_VERSION); return 0;
        default: usage(stderr); return 1;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "kexwatchd: unexpected argument '%s'\n", argv[optind]);
        usage(stderr);
        return 1;
    }

    struct cfg_errors errs = {0};
    if (cfg_load(d.cfg_path, &d.cfg, &errs) < 0) {
        for (size_t i = 0; i < errs.n; i++)
            fprintf(stderr, "%s\n", errs.msgs[i]);
        fprintf(stderr, "kexwatchd: %s: %zu error(s); nothing started\n", d.cfg_path, errs.n);
        cfg_errors_free(&errs);
        return 1;
    }
    if (test_only) {
        /* patterns compile, knowledge files load, inventory builds */
        struct pipeline *p = NULL;
        log_set_level(LOG_LV_WARNING);
        if (pipeline_new(d.cfg, &p, &errs) < 0) {
            for (size_t i = 0; i < errs.n; i++)
                fprintf(stderr, "%s\n", errs.msgs[i]);
            fprintf(stderr, "kexwatchd: %s: %zu error(s)\n", d.cfg_path, errs.n);
            cfg_errors_free(&errs);
            cfg_free(d.cfg);
            return 1;
        }
        pipeline_free(p);
        /* the database opens (created or migrated as a start would) */
        char err[1024];
        struct store *st = NULL;
        if (store_open(d.cfg->database, 0, 0, &st, err, sizeof err) < 0) {
            fprintf(stderr, "%s\n", err);
            cfg_free(d.cfg);
            return 1;
        }
        store_close(st);
        /* the alert sinks open (file, webhook URL) */
        struct event_base *b = event_base_new();
        struct alerter *al = NULL;
        if (!b || alerter_new(d.cfg, b, NULL, &al, err, sizeof err) < 0) {
            fprintf(stderr, "%s\n", b ? err : "out of memory");
            if (b)
                event_base_free(b);
            cfg_free(d.cfg);
            return 1;
        }
        alerter_free(al);
        event_base_free(b);
        /* the TLS certificate, key (matching it) and CAs load */
        if (tls_check_cfg(d.cfg, err, sizeof err) < 0) {
            fprintf(stderr, "%s\n", err);
            cfg_free(d.cfg);
            return 1;
        }
        printf("%s: configuration OK\n", d.cfg_path);
        cfg_free(d.cfg);
        return 0;
    }
    d.debug = debug;
    log_set_level(debug ? LOG_LV_DEBUG : (enum log_level)d.cfg->log_level);
    signal(SIGPIPE, SIG_IGN);

    if (dump_path) {
        d.dump = strcmp(dump_path, "-") == 0 ? stdout : fopen(dump_path, "ae");
        if (!d.dump) {
            log_error("cannot open the record dump %s: %s", dump_path, strerror(errno));
            cfg_free(d.cfg);
            return 1;
        }
    }
    if (pipeline_new(d.cfg, &d.pipeline, &errs) < 0) {
        for (size_t i = 0; i < errs.n; i++)
            log_error("%s", errs.msgs[i]);
        log_error("cannot load the knowledge files named in %s; nothing started", d.cfg_path);
        cfg_errors_free(&errs);
        teardown(&d);
        return 1;
    }
    char err[1024];
    /* the integrity check runs once the daemon is ready (store_check_start) */
    if (store_open(d.cfg->database, STORE_NOCHECK, STORE_QUEUE_MAX, &d.store, err, sizeof err) < 0) {
        log_error("%s", err);
        log_error("cannot open the database named in %s ([store] database); nothing started", d.cfg_path);
        teardown(&d);
        return 1;
    }
    register_counters(&d);
    d.rl_store = (struct log_ratelimit)LOG_RATELIMIT_INIT(60, 5);
    d.rl_mem = (struct log_ratelimit)LOG_RATELIMIT_INIT(60, 5);
    int restored = store_load_profiles(d.store, restore_profile, &d);
    if (restored > 0)
        log_info("restored %d learned server list(s) from %s", restored, d.cfg->database);
    pipeline_set_outcome_cb(d.pipeline, on_outcome, &d);
    pipeline_set_profile_cb(d.pipeline, on_profile, &d);
    d.base = event_base_new();
    if (d.base && alerter_new(d.cfg, d.base, d.store, &d.alerter, err, sizeof err) < 0) {
        log_error("%s", err);
        teardown(&d);
        return 1;
    }
    if (d.base && d.cfg->metrics_listen && d.cfg->http_tls) {
        struct tls_server_opts o = tls_opts_http(d.cfg);
        if (tls_server_new(&o, &d.http_tls, err, sizeof err) < 0) {
            log_error("%s", err);
            teardown(&d);
            return 1;
        }
    }
    struct http_env henv = {.tls = d.http_tls, .database = d.cfg->database, .users = d.cfg->http_users,
                            .algorithms = d.cfg->algorithms, .keywords = d.cfg->keywords,
                            .max_connections = d.cfg->http_max_connections, .metrics = write_metrics,
                            .metrics_arg = &d};
    if (d.base && d.cfg->metrics_listen && http_new(d.base, d.cfg->metrics_listen, &henv, &d.http, err, sizeof err) < 0) {
        log_error("%s", err);
        teardown(&d);
        return 1;
    }
    d.listen = d.base ? listen_new(d.base, d.cfg, on_message, &d) : NULL;
    d.prober = d.base ? prober_new(d.base, d.cfg, on_probed, &d) : NULL;
    if (!d.listen || !d.prober) {
        log_error("out of memory at start-up");
        teardown(&d);
        return 1;
    }
    if (d.dump)
        pipeline_set_dump(d.pipeline, d.dump);

    char **fdnames = NULL;
    int nfds = sdnotify_listen_fds_names(&fdnames);
    int rc = nfds > 0 ? adopt_systemd_sockets(&d, nfds, fdnames) : listen_open_config(d.listen);
    sdnotify_names_free(fdnames, nfds);
    if (rc < 0) {
        teardown(&d);
        return 1;
    }
    if (listen_count(d.listen) == 0)
        log_warning("no [listen] udp or tcp address configured: nothing will be received");

    /* sockets are bound, the database, alert file and record dump are open:
     * nothing left needs root */
    if (d.cfg->user && *d.cfg->user) {
        if (privdrop_to(d.cfg->user, err, sizeof err) < 0) {
            log_error("%s; nothing started", err);
            teardown(&d);
            return 1;
        }
        log_info("dropped privileges to user %s", d.cfg->user);
    }

    d.ev_term = evsignal_new(d.base, SIGTERM, on_stop, &d);
    d.ev_int = evsignal_new(d.base, SIGINT, on_stop, &d);
    d.ev_hup = evsignal_new(d.base, SIGHUP, on_hup, &d);
    d.ev_usr1 = evsignal_new(d.base, SIGUSR1, on_usr1, &d);
    struct event *sigs[] = {d.ev_term, d.ev_int, d.ev_hup, d.ev_usr1};
    for (size_t i = 0; i < 4; i++) {
        if (!sigs[i] || event_add(sigs[i], NULL) < 0) {
            log_error("cannot install signal handlers");
            teardown(&d);
            return 1;
        }
    }
    d.ev_status = add_timer(&d, STATUS_INTERVAL_S * 1000000UL, on_status);
    d.ev_tick = add_timer(&d, 1000000UL, on_tick);
    /* from here on the writer thread owns the database connection */
    if (store_start(d.store) < 0) {
        teardown(&d);
        return 1;
    }
    d.ev_store = event_new(d.base, store_notify_fd(d.store), EV_READ | EV_PERSIST, on_store, &d);
    if (!d.ev_store || event_add(d.ev_store, NULL) < 0) {
        log_error("cannot watch the database writer");
        teardown(&d);
        return 1;
    }
    uint64_t wd = sdnotify_watchdog_usec();
    if (wd)
        d.ev_watchdog = add_timer(&d, (unsigned long)(wd / 2), on_watchdog);

    log_notice("kexwatchd %s started: %zu listener(s), configuration %s", PACKAGE_VERSION, listen_count(d.listen),
               d.cfg_path);
    sdnotify_ready();
    store_check_start(d.store);
    on_status(-1, 0, &d);
    event_base_dispatch(d.base);

    teardown(&d);
    log_notice("kexwatchd stopped");
    return 0;
}
