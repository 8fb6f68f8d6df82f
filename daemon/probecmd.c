/* SPDX-License-Identifier: ISC */
/* kexwatch probe: the SSH servers' lists, asked for over the network, with
 * each algorithm's rating from the algorithm table. */
#include "config.h"

#include <getopt.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <event2/event.h>
#include <jansson.h>

#include "algo.h"
#include "cfg.h"
#include "probe.h"

#define PROBE_CMD_PARALLEL 16

/* the SPEC's lists, in KEXINIT order; languages are left out */
#define SHOWN_LISTS KEXINIT_LANG_C2S

struct run;

struct target {
    struct run *run;
    const char *arg;   /* HOST[:PORT] as given */
    char host[256];
    char port[8];
    struct probe_result r; /* the lists are our own copies */
    int done;
};

struct run {
    struct event_base *base;
    struct target *t;
    size_t n, next, running;
    unsigned timeout_ms;
};

static enum algo_category list_category(int l)
{
    static const enum algo_category cat[SHOWN_LISTS] = {ALGO_KEX,    ALGO_HOSTKEY, ALGO_CIPHER,
                                                        ALGO_CIPHER, ALGO_MAC,     ALGO_MAC,
                                                        ALGO_COMPRESSION, ALGO_COMPRESSION};
    return cat[l];
}

static const char *rating_name(enum algo_rating r)
{
    switch (r) {
    case ALGO_RATING_BROKEN: return "broken";
    case ALGO_RATING_WEAK: return "weak";
    case ALGO_RATING_OK: return "ok";
    case ALGO_RATING_MARKER: return "marker";
    default: return "unknown";
    }
}

/* "HOST", "HOST:PORT", "[V6]", "[V6]:PORT", or a bare IPv6 address */
static int split_target(const char *arg, const char *default_port, struct target *t)
{
    const char *host = arg, *port = default_port;
    size_t hlen = strlen(arg);
    if (arg[0] == '[') {
        const char *close = strchr(arg, ']');
        if (!close || (close[1] && close[1] != ':'))
            return -1;
        host = arg + 1;
        hlen = (size_t)(close - host);
        if (close[1] == ':')
            port = close + 2;
    } else {
        const char *colon = strchr(arg, ':');
        if (colon && !strchr(colon + 1, ':')) {
            hlen = (size_t)(colon - arg);
            port = colon + 1;
        }
    }
    char *end;
    unsigned long p = strtoul(port, &end, 10);
    if (!hlen || hlen >= sizeof t->host || !*port || *end || p == 0 || p > 65535)
        return -1;
    memcpy(t->host, host, hlen);
    t->host[hlen] = '\0';
    snprintf(t->port, sizeof t->port, "%lu", p);
    return 0;
}

static void start_next(struct run *run);

static void probe_done(void *arg, const struct probe_result *r)
{
    struct target *t = arg;
    t->r = *r;
    for (int i = 0; i < KEXINIT_NLISTS; i++)
        t->r.kexinit.lists[i] = r->kexinit.lists[i] ? strdup(r->kexinit.lists[i]) : NULL;
    for (int i = 0; i < SHOWN_LISTS; i++) {
        if (t->r.error == PROBE_OK && !t->r.kexinit.lists[i]) {
            t->r.error = PROBE_BAD_KEXINIT;
            snprintf(t->r.message, sizeof t->r.message, "out of memory");
        }
    }
    t->done = 1;
    t->run->running--;
    start_next(t->run);
}

static void start_next(struct run *run)
{
    while (run->running < PROBE_CMD_PARALLEL && run->next < run->n) {
        struct target *t = &run->t[run->next++];
        struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *ai = NULL;
        int gai = getaddrinfo(t->host, t->port, &hints, &ai);
        if (gai != 0 || !ai) {
            snprintf(t->r.address, sizeof t->r.address, "%.63s", t->host);
            t->r.port = (unsigned)atoi(t->port);
            t->r.error = PROBE_UNREACHABLE;
            snprintf(t->r.message, sizeof t->r.message, "%s: cannot resolve the name: %s", t->host,
                     gai ? gai_strerror(gai) : "no address");
            t->done = 1;
            continue;
        }
        char err[256];
        if (probe_start(run->base, ai->ai_addr, ai->ai_addrlen, run->timeout_ms, probe_done, t, NULL, err,
                        sizeof err) < 0) {
            t->r.error = PROBE_UNREACHABLE;
            snprintf(t->r.message, sizeof t->r.message, "%s", err);
            t->done = 1;
        } else {
            run->running++;
        }
        freeaddrinfo(ai);
    }
}

/* appends word[0..n) to the blank-separated words in buf unless there */
static void add_word(char *buf, size_t size, const char *word, size_t n)
{
    size_t o = strlen(buf);
    for (const char *p = buf; *p;) {
        size_t k = strcspn(p, " ");
        if (k == n && memcmp(p, word, n) == 0)
            return;
        p += k;
        if (*p == ' ')
            p++;
    }
    if (o + n + 2 < size)
        snprintf(buf + o, size - o, "%s%.*s", o ? " " : "", (int)n, word);
}

static void print_table(const struct algo_db *db, const struct target *t)
{
    const struct probe_result *r = &t->r;
    if (r->error != PROBE_OK) {
        printf("%s: error (%s): %s\n\n", t->arg, probe_error_name(r->error), r->message);
        return;
    }
    printf("%s port %u: %s (%.2f s)\n", r->address, r->port, r->version.line, r->seconds);
    char weak[1024] = "", broken[1024] = "";
    for (int l = 0; l < SHOWN_LISTS; l++) {
        printf("  %-16s", kexinit_list_name(l));
        const char *list = r->kexinit.lists[l];
        if (!*list)
            printf(" (empty)");
        for (const char *p = list; *p;) {
            size_t n = strcspn(p, ",");
            enum algo_rating rt = algo_entry_rating(algo_db_find(db, list_category(l), p, n));
            printf(" %.*s", (int)n, p);
            if (rt != ALGO_RATING_OK)
                printf("[%s]", rating_name(rt));
            if (rt == ALGO_RATING_BROKEN)
                add_word(broken, sizeof broken, p, n);
            else if (rt == ALGO_RATING_WEAK)
                add_word(weak, sizeof weak, p, n);
            p += n;
            if (*p == ',')
                p++;
        }
        printf("\n");
    }
    printf("  %-16s %s\n  %-16s %s\n\n", "broken", *broken ? broken : "-", "weak", *weak ? weak : "-");
}

static json_t *target_json(const struct algo_db *db, const struct target *t)
{
    const struct probe_result *r = &t->r;
    json_t *o = json_object();
    json_object_set_new(o, "host", json_string(t->arg));
    json_object_set_new(o, "address", json_string(r->address));
    json_object_set_new(o, "port", json_integer(r->port));
    json_object_set_new(o, "banner", r->have_version ? json_string(r->version.line) : json_null());
    json_object_set_new(o, "software", r->have_version ? json_string(r->version.software) : json_null());
    json_object_set_new(o, "comments",
                        r->have_version && r->version.comments[0] ? json_string(r->version.comments) : json_null());
    json_t *ratings = json_object();
    static const char *const cat_names[] = {"kex", "hostkey", "cipher", "mac", "compression"};
    for (int c = 0; c < 5; c++)
        json_object_set_new(ratings, cat_names[c], json_object());
    for (int l = 0; l < SHOWN_LISTS; l++) {
        if (r->error != PROBE_OK) {
            json_object_set_new(o, kexinit_list_name(l), json_null());
            continue;
        }
        json_t *a = json_array();
        json_t *rc = json_object_get(ratings, cat_names[list_category(l)]);
        for (const char *p = r->kexinit.lists[l]; *p;) {
            size_t n = strcspn(p, ",");
            json_t *name = json_stringn(p, n);
            json_array_append(a, name);
            enum algo_rating rt = algo_entry_rating(algo_db_find(db, list_category(l), p, n));
            json_object_set_new(rc, json_string_value(name), json_string(rating_name(rt)));
            json_decref(name);
            p += n;
            if (*p == ',')
                p++;
        }
        json_object_set_new(o, kexinit_list_name(l), a);
    }
    json_object_set_new(o, "ratings", r->error == PROBE_OK ? ratings : (json_decref(ratings), json_null()));
    json_object_set_new(o, "seconds", json_real((double)(long)(r->seconds * 1000) / 1000));
    if (r->error == PROBE_OK) {
        json_object_set_new(o, "error", json_null());
    } else {
        json_t *e = json_object();
        json_object_set_new(e, "kind", json_string(probe_error_name(r->error)));
        json_object_set_new(e, "message", json_string(r->message));
        json_object_set_new(o, "error", e);
    }
    return o;
}

static void help(FILE *f)
{
    fprintf(f, "Usage: kexwatch probe [--format table|json] [--timeout 10s] [--port 22] HOST[:PORT]...\n"
               "Connects to each SSH server (HOST is a name, an IPv4 address or an IPv6 address,\n"
               "[2001:db8::1]:2222 with a port), sends the version string " PROBE_VERSION_STRING ",\n"
               "reads the server's version string and KEXINIT, and closes: no authentication, no\n"
               "key exchange. Prints per host its banner and its lists (kex, hostkey, cipher_c2s,\n"
               "cipher_s2c, mac_c2s, mac_s2c, compression_c2s, compression_s2c) in the server's order,\n"
               "with each algorithm's rating from the algorithm table (table: [weak], [broken] ...\n"
               "after a name; json: an array of objects with a ratings object per category).\n"
               "Exit 0 when every host answered, 1 when one did not, 2 on usage errors.\n");
}

int probe_command(const struct cfg *cfg, int argc, char **argv)
{
    static const struct option opts[] = {
        {"format", required_argument, NULL, 'F'}, {"timeout", required_argument, NULL, 't'},
        {"port", required_argument, NULL, 'p'},   {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int json = 0, c;
    unsigned timeout = 10;
    const char *port = "22";
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'F':
            if (strcmp(optarg, "json") == 0)
                json = 1;
            else if (strcmp(optarg, "table") != 0) {
                fprintf(stderr, "kexwatch probe: --format '%s' must be table or json\n", optarg);
                return 2;
            }
            break;
        case 't':
            if (cfg_parse_duration(optarg, &timeout) < 0 || timeout == 0 || timeout > 3600) {
                fprintf(stderr, "kexwatch probe: --timeout '%s' must be a duration from 1s to 1h\n", optarg);
                return 2;
            }
            break;
        case 'p': port = optarg; break;
        case 'h': help(stdout); return 0;
        default: help(stderr); return 2;
        }
    }
    if (optind >= argc) {
        fprintf(stderr, "kexwatch probe: name at least one HOST[:PORT]\n");
        help(stderr);
        return 2;
    }
    struct run run = {.n = (size_t)(argc - optind), .timeout_ms = timeout * 1000};
    run.t = calloc(run.n, sizeof *run.t);
    if (!run.t)
        return 1;
    for (size_t i = 0; i < run.n; i++) {
        run.t[i].arg = argv[optind + (int)i];
        run.t[i].run = &run;
        if (split_target(run.t[i].arg, port, &run.t[i]) < 0) {
            fprintf(stderr, "kexwatch probe: '%s' is not HOST, HOST:PORT or [IPV6]:PORT (port 1 to 65535)\n",
                    run.t[i].arg);
            free(run.t);
            return 2;
        }
    }
    struct algo_db *db;
    char err[512];
    if (algo_db_load(cfg->algorithms, cfg->keywords, &db, err, sizeof err) < 0) {
        fprintf(stderr, "kexwatch probe: %s\n", err);
        free(run.t);
        return 1;
    }
    run.base = event_base_new();
    if (!run.base) {
        algo_db_free(db);
        free(run.t);
        return 1;
    }
    start_next(&run);
    while (run.running || run.next < run.n) {
        event_base_loop(run.base, EVLOOP_ONCE);
        start_next(&run);
    }
    int rc = 0;
    json_t *arr = json ? json_array() : NULL;
    for (size_t i = 0; i < run.n; i++) {
        struct target *t = &run.t[i];
        if (t->r.error != PROBE_OK)
            rc = 1;
        if (json)
            json_array_append_new(arr, target_json(db, t));
        else
            print_table(db, t);
        kexinit_clear(&t->r.kexinit);
    }
    if (json) {
        char *s = json_dumps(arr, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
        if (s)
            puts(s);
        free(s);
        json_decref(arr);
    }
    fflush(stdout);
    event_base_free(run.base);
    algo_db_free(db);
    free(run.t);
    return rc;
}
