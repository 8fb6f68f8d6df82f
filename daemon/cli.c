/* SPDX-License-Identifier: ISC */
/* kexwatch: the operator's command line. Every subcommand runs the same
 * library the daemon runs; `replay` feeds files through the daemon's own
 * pipeline. Exit codes: 0 success, 1 error, 2 usage. */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "algo.h"
#include "catalogue.h"
#include "alert.h"
#include "cfg.h"
#include "negotiate.h"
#include "pattern.h"
#include "syslog.h"
#include "text.h"
#include "log.h"
#include "pipeline.h"
#include "posture.h"
#include "probe.h"
#include "query.h"
#include "stats.h"
#include "store.h"

static void usage(FILE *f)
{
    fprintf(f, "Usage: kexwatch [-c CONFIG | --db PATH] COMMAND [ARGS]\n"
               "\n"
               "Commands:\n"
               "  failures [--since 30d | --from T --until T] [--device KEY]\n"
               "           [--by client|device|category|algorithm|mismatch] [--format table|json|csv]\n"
               "                               failed negotiations in a window, grouped, most first\n"
               "  devices [--format F]         every device: last seen, failures in 30 days\n"
               "  device KEY [--format F]      one device's server profile, failures and client types\n"
               "  clients [--since 30d] [--format F]\n"
               "                               client types: failures, devices they fail on, lists offered\n"
               "  alerts [--status firing|resolved] [--since 30d] [--format F]\n"
               "                               alerts: device, mismatch, client, count and the fix\n"
               "  alert ID                     one alert: its JSON object as last sent, with its state now\n"
               "  daily [--since 30d] [--format F]\n"
               "                               failures per UTC day and mismatch\n"
               "                               (failures, devices, device, clients, alerts: --local for local times)\n"
               "  replay [--records] FILE...   run stored syslog lines ('-' = stdin) through the daemon's\n"
               "                               pipeline; prints each negotiation outcome as a JSON line\n"
               "                               (--records: every parsed record instead)\n"
               "  test-patterns FILE...        per line: which pattern matched and what it captured; a\n"
               "                               summary of SSH-looking lines no pattern matched\n"
               "  explain --client LISTS --server LISTS [--vendor V]\n"
               "                               the RFC 4253 negotiation of the lists, slot by slot\n"
               "  probe [--format table|json] HOST[:PORT]...\n"
               "                               ask SSH servers for their version and KEXINIT lists, rated\n"
               "  posture [--since 30d] [--format table|json|csv]\n"
               "                               every device's server lists: broken and weak algorithms still\n"
               "                               offered, the client types that need them, the command to\n"
               "                               remove the rest\n"
               "\n"
               "Options:\n"
               "  -c, --config FILE   configuration (inventory, knowledge files); default: built-in\n"
               "      --db PATH       database the query commands read (default: [store] database)\n"
               "  -h, --help          this text; COMMAND --help for a command's own\n"
               "  -V, --version       print the version\n"
               "See kexwatch(1).\n");
}

static int load_cfg(const char *path, struct cfg **out);

struct replay_ctx {
    struct pipeline *p;
    struct store *store;
    struct alerter *alerter; /* NULL: print every outcome instead of alerts */
    int failed_store;
};

static void print_outcome(void *arg, const struct negotiation *n)
{
    struct replay_ctx *r = arg;
    if (r->alerter) {
        /* the log's own time drives repeat_interval and resolution */
        alerter_process(r->alerter, r->p, n, n->time);
    } else {
        char *json = pipeline_outcome_json(r->p, n);
        if (json) {
            puts(json);
            free(json);
        }
    }
    if (!r->store)
        return;
    /* backfill commits in large batches; nothing is dropped silently */
    if (store_pending(r->store) >= 10000 && store_flush(r->store) < 0)
        r->failed_store = 1;
    if (store_enqueue(r->store, n) < 0)
        r->failed_store = 1;
}

static void replay_profile(void *arg, const char *device, int slot, const char *list, int64_t learned_at)
{
    struct replay_ctx *r = arg;
    if (r->store)
        store_enqueue_profile(r->store, device, slot, list, learned_at);
}

static void ignore_outcome(void *arg, const struct negotiation *n)
{
    (void)arg;
    (void)n;
}

static int load_cfg(const char *path, struct cfg **out)
{
    if (!path) {
        *out = cfg_new_default();
        if (!*out) {
            fprintf(stderr, "kexwatch: out of memory\n");
            return -1;
        }
        return 0;
    }
    struct cfg_errors errs = {0};
    if (cfg_load(path, out, &errs) < 0) {
        for (size_t i = 0; i < errs.n; i++)
            fprintf(stderr, "%s\n", errs.msgs[i]);
        cfg_errors_free(&errs);
        return -1;
    }
    return 0;
}

/* Lines as a collector stored them: one message per line, LF or CRLF. */
static int replay_stream(struct pipeline *p, FILE *in, size_t max_message)
{
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    while ((n = getline(&line, &cap, in)) >= 0) {
        size_t len = (size_t)n;
        while (len && (line[len - 1] == '\n' || line[len - 1] == '\r'))
            len--;
        if (!len)
            continue;
        if (len > max_message) {
            len = max_message;
            g_stats.oversize++;
        }
        struct timespec now;
        clock_gettime(CLOCK_REALTIME, &now);
        struct msg m = {.data = line, .len = len, .transport = MSG_FILE, .rx_sec = now.tv_sec,
                        .rx_usec = (int32_t)(now.tv_nsec / 1000)};
        g_stats.messages_file++;
        g_stats.bytes += len;
        pipeline_feed(p, &m);
    }
    free(line);
    return ferror(in) ? -1 : 0;
}

static int cmd_replay(const char *cfg_path, int argc, char **argv)
{
    static const struct option opts[] = {
        {"records", no_argument, NULL, 'r'},
        {"outcomes", no_argument, NULL, 'o'},
        {"db", required_argument, NULL, 'd'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int records = 0, outcomes = 0, c;
    const char *db = NULL;
    optind = 1;
    while ((c = getopt_long(argc, argv, "rh", opts, NULL)) != -1) {
        switch (c) {
        case 'r': records = 1; break;
        case 'o': outcomes = 1; break;
        case 'd': db = optarg; break;
        case 'h':
            printf("Usage: kexwatch [-c CONFIG] replay [--db PATH] [--outcomes | --records] FILE...\n"
                   "Runs stored syslog lines (one per line, with or without <PRI>) through the daemon's\n"
                   "pipeline and prints the alerts it raises as JSON Lines (deduplicated within\n"
                   "repeat_interval of the logs' own time; resolved when a success follows). The device\n"
                   "is the header's host name. '-' reads standard input. --outcomes prints every\n"
                   "negotiation outcome (failures and successes) instead; --records every parsed record.\n"
                   "--db PATH also stores the outcomes (backfilling history; the daemon may be writing\n"
                   "the same database).\n");
            return 0;
        default: return 2;
        }
    }
    if (optind >= argc) {
        fprintf(stderr, "kexwatch replay: name at least one FILE ('-' for standard input)\n");
        return 2;
    }
    struct cfg *cfg;
    if (load_cfg(cfg_path, &cfg) < 0)
        return 1;
    struct pipeline *p;
    struct cfg_errors errs = {0};
    if (pipeline_new(cfg, &p, &errs) < 0) {
        for (size_t i = 0; i < errs.n; i++)
            fprintf(stderr, "%s\n", errs.msgs[i]);
        cfg_errors_free(&errs);
        cfg_free(cfg);
        return 1;
    }
    pipeline_set_replay(p);
    struct replay_ctx rc_ctx = {.p = p};
    if (db) {
        char err[1024];
        if (store_open(db, 0, 0, &rc_ctx.store, err, sizeof err) < 0) {
            fprintf(stderr, "kexwatch replay: %s\n", err);
            pipeline_free(p);
            cfg_free(cfg);
            return 1;
        }
        pipeline_set_profile_cb(p, replay_profile, &rc_ctx);
    }
    if (records) {
        pipeline_set_dump(p, stdout);
        pipeline_set_outcome_cb(p, ignore_outcome, NULL);
    } else {
        if (!outcomes && alerter_new_replay(cfg, &rc_ctx.alerter) < 0) {
            fprintf(stderr, "kexwatch: out of memory\n");
            rc_ctx.alerter = NULL;
        }
        pipeline_set_outcome_cb(p, print_outcome, &rc_ctx);
    }
    int rc = 0;
    for (int i = optind; i < argc; i++) {
        FILE *in = strcmp(argv[i], "-") == 0 ? stdin : fopen(argv[i], "r");
        if (!in) {
            fprintf(stderr, "kexwatch replay: cannot open %s: %s\n", argv[i], strerror(errno));
            rc = 1;
            continue;
        }
        if (replay_stream(p, in, cfg->max_message) < 0) {
            fprintf(stderr, "kexwatch replay: error reading %s: %s\n", argv[i], strerror(errno));
            rc = 1;
        }
        if (in != stdin)
            fclose(in);
    }
    pipeline_finish(p);
    alerter_free(rc_ctx.alerter);
    if (rc_ctx.store) {
        if (store_flush(rc_ctx.store) < 0 || rc_ctx.failed_store) {
            fprintf(stderr, "kexwatch replay: some outcomes could not be stored in %s\n", db);
            rc = 1;
        }
        store_close(rc_ctx.store);
    }
    pipeline_free(p);
    cfg_free(cfg);
    return rc;
}


/* ---------------------------------------------------------- test-patterns */

static void print_span(const char *label, struct pat_span sp)
{
    if (!sp.p)
        return;
    char buf[1024];
    log_escape(buf, sizeof buf, sp.p, sp.len);
    printf("    %-12s %s\n", label, buf);
}

static int cmd_test_patterns(const char *cfg_path, int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        printf("Usage: kexwatch [-c CONFIG] test-patterns FILE...\n"
               "Shows, line by line, which SSH pattern matched and what it captured, then counts the\n"
               "lines that passed the SSH pre-filter but matched no pattern (listed, to adapt the\n"
               "pattern files to a firmware). Exit 0 when every SSH-looking line matched, 1 otherwise.\n");
        return argc < 2 ? 2 : 0;
    }
    struct cfg *cfg;
    if (load_cfg(cfg_path, &cfg) < 0)
        return 1;
    struct pattern_set *ps;
    struct pattern_errors perr = {0};
    if (pattern_set_load(cfg->patterns_dir, &ps, &perr) < 0) {
        for (size_t i = 0; i < perr.n; i++)
            fprintf(stderr, "%s\n", perr.msgs[i]);
        pattern_errors_free(&perr);
        cfg_free(cfg);
        return 1;
    }
    printf("%zu patterns from %s\n", pattern_set_count(ps), cfg->patterns_dir);
    unsigned long lines = 0, candidates = 0, matched = 0, missed = 0;
    unsigned long per_event[PAT_EV_COUNT] = {0};
    int rc = 0;
    for (int i = 1; i < argc; i++) {
        FILE *in = strcmp(argv[i], "-") == 0 ? stdin : fopen(argv[i], "r");
        if (!in) {
            fprintf(stderr, "kexwatch test-patterns: cannot open %s: %s\n", argv[i], strerror(errno));
            rc = 1;
            continue;
        }
        char *line = NULL;
        size_t cap = 0;
        ssize_t n;
        unsigned long lineno = 0;
        while ((n = getline(&line, &cap, in)) >= 0) {
            lineno++;
            size_t len = (size_t)n;
            while (len && (line[len - 1] == '\n' || line[len - 1] == '\r'))
                len--;
            if (!len)
                continue;
            lines++;
            struct syslog_record r;
            syslog_parse(line, len, (int64_t)time(NULL), &r);
            if (!r.text.p || !pattern_prefilter(ps, r.text.p, r.text.len))
                continue;
            candidates++;
            struct pat_match m;
            char esc[600];
            if (pattern_match(ps, r.text.p, r.text.len, r.app.p, r.app.len, &m) <= 0) {
                missed++;
                log_escape(esc, sizeof esc, r.text.p, r.text.len);
                printf("%s:%lu: NO MATCH: %s\n", argv[i], lineno, esc);
                continue;
            }
            matched++;
            per_event[m.event]++;
            printf("%s:%lu: %s -> %s", argv[i], lineno, m.pattern, pattern_event_name(m.event));
            if (m.slot >= 0)
                printf(" slot=%s", negotiate_slot_name((enum negotiate_slot)m.slot));
            else if (m.slot == PAT_SLOT_IGNORED)
                printf(" slot=(ignored)");
            if (m.category >= 0)
                printf(" category=%s", algo_category_name((enum algo_category)m.category));
            if (m.side != PAT_SIDE_NONE)
                printf(" side=%s", m.side == PAT_SIDE_CLIENT ? "client" : "server");
            printf("\n");
            print_span("list", m.list);
            print_span("client_list", m.client_list);
            print_span("server_list", m.server_list);
            print_span("session", m.session);
            print_span("peer", m.peer);
            print_span("port", m.port);
            print_span("software", m.software);
            print_span("reason", m.reason);
        }
        free(line);
        if (in != stdin)
            fclose(in);
    }
    printf("\n%lu lines, %lu passed the SSH pre-filter, %lu matched a pattern, %lu matched none\n", lines,
           candidates, matched, missed);
    for (int e = 0; e < PAT_EV_COUNT; e++)
        if (per_event[e])
            printf("  %-10s %lu\n", pattern_event_name((enum pat_event)e), per_event[e]);
    pattern_set_free(ps);
    cfg_free(cfg);
    return rc ? rc : missed ? 1 : 0;
}

/* ---------------------------------------------------------------- explain */

/* "kex=a,b;hostkey=c;cipher=d;mac=e;compression=f" (also cipher_c2s= etc.)
 * into per-slot lists; a category fills both directions */
static int parse_lists(const char *spec, const struct algo_db *db, const char *vendor,
                       struct negotiate_list *lists[NEG_NSLOTS])
{
    const char *p = spec;
    while (*p) {
        const char *end = strchr(p, ';');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        const char *eq = memchr(p, '=', len);
        if (!eq) {
            fprintf(stderr, "kexwatch explain: '%.*s' is not CATEGORY=LIST\n", (int)len, p);
            return -1;
        }
        char name[32];
        size_t nl = (size_t)(eq - p);
        while (nl && (p[nl - 1] == ' '))
            nl--;
        const char *np = p;
        while (nl && *np == ' ') {
            np++;
            nl--;
        }
        snprintf(name, sizeof name, "%.*s", (int)nl, np);
        int slots[2] = {-1, -1};
        int cat = algo_category_from_name(name);
        if (cat >= 0) {
            static const int first[] = {NEG_KEX, NEG_HOSTKEY, NEG_CIPHER_C2S, NEG_MAC_C2S, NEG_COMP_C2S};
            slots[0] = first[cat];
            slots[1] = cat >= ALGO_CIPHER ? first[cat] + 1 : -1;
        } else if ((slots[0] = negotiate_slot_from_name(name)) < 0) {
            fprintf(stderr,
                    "kexwatch explain: unknown category '%s' (kex, hostkey, cipher, mac, compression, or a "
                    "direction: cipher_c2s, mac_s2c, comp_c2s ...)\n",
                    name);
            return -1;
        }
        struct negotiate_list *raw = NULL, *wire = NULL;
        const char *lv = eq + 1;
        if (negotiate_list_parse(lv, len - (size_t)(lv - p), 0, &raw, NULL) < 0)
            return -1;
        enum algo_category c = negotiate_slot_category((enum negotiate_slot)slots[0]);
        if (negotiate_list_expand(db, vendor, c, raw, &wire) < 0) {
            negotiate_list_free(raw);
            return -1;
        }
        negotiate_list_free(raw);
        for (int k = 0; k < 2; k++) {
            if (slots[k] < 0)
                continue;
            negotiate_list_free(lists[slots[k]]);
            struct negotiate_list *copy = NULL;
            negotiate_list_expand(db, NULL, c, wire, &copy);
            lists[slots[k]] = copy;
        }
        negotiate_list_free(wire);
        p = end ? end + 1 : p + len;
    }
    return 0;
}

static void print_list(const char *label, const struct negotiate_list *l)
{
    printf("  %-7s ", label);
    if (!l) {
        printf("(unknown)\n");
        return;
    }
    if (!negotiate_list_count(l))
        printf("(empty)");
    for (size_t i = 0; i < negotiate_list_count(l); i++)
        printf("%s%s%s", i ? "," : "", negotiate_list_name(l, i), negotiate_list_maybe(l, i) ? "(?)" : "");
    printf("%s\n", negotiate_list_partial(l) ? ",..." : "");
}

/* the probe itself lives in probe.c and probecmd.c; here only the configuration */
static int cmd_probe(const char *cfg_path, int argc, char **argv)
{
    struct cfg *cfg;
    if (load_cfg(cfg_path, &cfg) < 0)
        return 1;
    int rc = probe_command(cfg, argc, argv);
    cfg_free(cfg);
    return rc;
}

static int cmd_explain(const char *cfg_path, int argc, char **argv)
{
    static const struct option opts[] = {
        {"client", required_argument, NULL, 'C'}, {"server", required_argument, NULL, 'S'},
        {"vendor", required_argument, NULL, 'v'}, {"software", required_argument, NULL, 's'},
        {"help", no_argument, NULL, 'h'},        {NULL, 0, NULL, 0},
    };
    const char *client = NULL, *server = NULL, *vendor = NULL, *software = NULL;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'C': client = optarg; break;
        case 'S': server = optarg; break;
        case 'v': vendor = optarg; break;
        case 's': software = optarg; break;
        case 'h':
            printf("Usage: kexwatch explain --client LISTS --server LISTS [--vendor V] [--software S]\n"
                   "LISTS: 'kex=A,B;hostkey=C;cipher=D;mac=E;compression=F' (a category sets both\n"
                   "directions; cipher_c2s=, mac_s2c= ... set one). A category left out is unknown.\n"
                   "--vendor reads the server's lists as that vendor's CLI keywords (e.g. aes128_ctr)\n"
                   "and renders the fix for that platform (huawei, cisco, cisco-iosxe, cisco-iosxr,\n"
                   "cisco-nxos, h3c, openssh, dropbear); --software is the server's own version\n"
                   "string (OpenSSH_9.2p1), which names the platform and its release.\n"
                   "Prints the RFC 4253 negotiation slot by slot and the failing category.\n"
                   "Exit 0 when the negotiation succeeds, 1 when it fails or cannot be decided.\n");
            return 0;
        default: return 2;
        }
    }
    if (!client || !server) {
        fprintf(stderr, "kexwatch explain: --client and --server are both needed (see --help)\n");
        return 2;
    }
    struct cfg *cfg;
    if (load_cfg(cfg_path, &cfg) < 0)
        return 1;
    struct algo_db *db;
    char err[512];
    if (algo_db_load(cfg->algorithms, cfg->keywords, &db, err, sizeof err) < 0) {
        fprintf(stderr, "%s\n", err);
        cfg_free(cfg);
        return 1;
    }
    struct negotiate_list *cl[NEG_NSLOTS] = {0}, *sl[NEG_NSLOTS] = {0};
    int rc = 1;
    if (parse_lists(client, db, NULL, cl) < 0 || parse_lists(server, db, vendor, sl) < 0) {
        rc = 2;
        goto out;
    }
    struct negotiate_offer co, so;
    for (int i = 0; i < NEG_NSLOTS; i++) {
        co.list[i] = cl[i];
        so.list[i] = sl[i];
    }
    struct negotiate_result res;
    negotiate_run(db, &co, &so, &res);
    for (size_t k = 0; k < NEG_NSLOTS; k++) {
        enum negotiate_slot s = negotiate_check_order(k);
        const struct negotiate_slot_result *r = &res.slot[s];
        printf("%s: %s%s%s\n", negotiate_slot_name(s), negotiate_status_name(r->status), r->agreed ? " " : "",
               r->agreed ? r->agreed : "");
        print_list("client", cl[s]);
        print_list("server", sl[s]);
    }
    char fp[33] = "", hassh[33] = "";
    if (negotiate_fingerprint(&co, fp) == 0)
        printf("client fingerprint: %s\n", fp);
    if (negotiate_hassh(&co, hassh) == 0)
        printf("client HASSH: %s\n", hassh);
    if (res.outcome == NEG_OUTCOME_FAIL) {
        enum negotiate_slot s = (enum negotiate_slot)res.first_fail;
        const char *dir = negotiate_slot_direction(s);
        printf("verdict: FAILS on %s%s%s: no algorithm in common%s\n",
               algo_category_name(negotiate_slot_category(s)), dir ? " " : "", dir ? dir : "",
               res.decided ? "" : " (an earlier category is unknown and might fail first)");
        /* the same classification and remedy an alert carries */
        struct catalogue *cat = NULL;
        if (catalogue_load(cfg->catalogue, &cat, err, sizeof err) < 0) {
            fprintf(stderr, "%s\n", err);
        } else {
            struct negotiation n = {.device = "the server", .vendor = vendor, .server_software = software,
                                    .failed = true, .slot = (int)s,
                                    .category = (int)negotiate_slot_category(s), .evidence = EVIDENCE_INFERRED,
                                    .result = &res, .fingerprint = fp[0] ? fp : NULL,
                                    .hassh = hassh[0] ? hassh : NULL};
            for (int i = 0; i < NEG_NSLOTS; i++) {
                n.client[i] = cl[i];
                n.server[i] = sl[i];
            }
            struct catalogue_match m;
            struct catalogue_remedy r;
            if (catalogue_classify(cat, db, &n, &m) == 1)
                printf("mismatch: %s (%s): %s\n", m.id, m.severity, m.summary);
            if (catalogue_remedy(cat, db, &n, &r) == 1) {
                printf("fix on the server: %s\n", r.server);
                printf("fix on the client: %s\n", r.client);
                if (r.risk[0])
                    printf("risk: %s\n", r.risk);
                for (const char *st = r.steps; *st;) {
                    size_t len = strcspn(st, "\n");
                    printf("step: %.*s\n", (int)len, st);
                    st += len + (st[len] == '\n');
                }
                if (r.verify[0])
                    printf("verify: %s\n", r.verify);
            }
            catalogue_free(cat);
        }
    } else if (res.outcome == NEG_OUTCOME_OK) {
        printf("verdict: succeeds\n");
        rc = 0;
    } else {
        printf("verdict: undecided: some lists are unknown or incomplete\n");
    }
out:
    for (int i = 0; i < NEG_NSLOTS; i++) {
        negotiate_list_free(cl[i]);
        negotiate_list_free(sl[i]);
    }
    algo_db_free(db);
    cfg_free(cfg);
    return rc;
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'},
        {"db", required_argument, NULL, 'D'},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0},
    };
    const char *cfg_path = NULL, *db_path = NULL;
    const char *more_db[16];
    int n_more = 0, c;
    /* '+' stops at the subcommand so its options are its own */
    while ((c = getopt_long(argc, argv, "+c:hV", opts, NULL)) != -1) {
        switch (c) {
        case 'c': cfg_path = optarg; break;
        case 'D':
            /* several --db merge databases: the commands take them after
             * their name, so the extra ones are passed on there */
            if (!db_path)
                db_path = optarg;
            else if (n_more < 16)
                more_db[n_more++] = optarg;
            else {
                fprintf(stderr, "kexwatch: at most 17 --db databases\n");
                return 2;
            }
            break;
        case 'h': usage(stdout); return 0;
        case 'V': printf("kexwatch %s\n", PACKAGE_VERSION); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (optind >= argc) {
        usage(stderr);
        return 2;
    }
    log_set_level(LOG_LV_WARNING);
    const char *cmd = argv[optind];
    int sub_argc = argc - optind;
    char **sub_argv = argv + optind;
    char *merged[256];
    if (n_more) {
        if (sub_argc + 2 * (n_more + 1) >= (int)(sizeof merged / sizeof merged[0])) {
            fprintf(stderr, "kexwatch: too many arguments\n");
            return 2;
        }
        int k = 0;
        merged[k++] = sub_argv[0];
        merged[k++] = (char *)"--db";
        merged[k++] = (char *)db_path;
        for (int i = 0; i < n_more; i++) {
            merged[k++] = (char *)"--db";
            merged[k++] = (char *)more_db[i];
        }
        for (int i = 1; i < sub_argc; i++)
            merged[k++] = sub_argv[i];
        merged[k] = NULL;
        sub_argc = k;
        sub_argv = merged;
        db_path = NULL;
    }
    if (strcmp(cmd, "replay") == 0)
        return cmd_replay(cfg_path, sub_argc, sub_argv);
    if (strcmp(cmd, "test-patterns") == 0)
        return cmd_test_patterns(cfg_path, sub_argc, sub_argv);
    if (strcmp(cmd, "explain") == 0)
        return cmd_explain(cfg_path, sub_argc, sub_argv);
    if (strcmp(cmd, "probe") == 0)
        return cmd_probe(cfg_path, sub_argc, sub_argv);
    if (strcmp(cmd, "failures") == 0)
        return query_failures(cfg_path, db_path, sub_argc, sub_argv);
    if (strcmp(cmd, "devices") == 0)
        return query_devices(cfg_path, db_path, sub_argc, sub_argv);
    if (strcmp(cmd, "device") == 0)
        return query_device(cfg_path, db_path, sub_argc, sub_argv);
    if (strcmp(cmd, "clients") == 0)
        return query_clients(cfg_path, db_path, sub_argc, sub_argv);
    if (strcmp(cmd, "alerts") == 0)
        return query_alerts(cfg_path, db_path, sub_argc, sub_argv);
    if (strcmp(cmd, "alert") == 0)
        return query_alert(cfg_path, db_path, sub_argc, sub_argv);
    if (strcmp(cmd, "daily") == 0)
        return query_daily(cfg_path, db_path, sub_argc, sub_argv);
    if (strcmp(cmd, "posture") == 0)
        return posture_command(cfg_path, db_path, sub_argc, sub_argv);
    fprintf(stderr, "kexwatch: unknown command '%s'\n", cmd);
    usage(stderr);
    return 2;
}
