/* SPDX-License-Identifier: ISC */
/* Benchmark of the store, on a file database, with a fleet's shape:
 * 5,000 devices, ~200 client types, a few hundred distinct lists, a year of
 * history.
 *  1. negotiations stored per second through store_enqueue + store_flush,
 *     committing every 2,000 (the daemon's STORE_BATCH) and every 10,000:
 *     failures only (the worst case: every index is written), successes
 *     only, and a mix with 10% failures;
 *  2. database bytes per stored failure and per success (pages in use);
 *  3. the time of the SPEC's history queries on the failures database
 *     (best of 3), with the indexes the query plan uses.
 * Prints figures; asserts nothing.
 * Usage: store_bench DIR [FAILURES [OTHERS [QUERY_N QUERY_PCT]]]
 * FAILURES (default 2000000) negotiations for the failures-only runs, OTHERS
 * (default 1000000) for the others (0 skips a kind). With QUERY_N, the
 * queries run on a database of QUERY_N negotiations, QUERY_PCT% of them
 * failures, instead of the failures-only one. */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "negotiate.h"
#include "store.h"

#define DEVICES         5000
#define CLIENTS         200
#define SERVER_PROFILES 50
#define SPAN_S          (365 * 86400) /* a year of history */
#define T0              1700000000

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static uint64_t g_rng = 0x9e3779b97f4a7c15ULL;

static uint32_t rnd(uint32_t n)
{
    g_rng ^= g_rng << 13;
    g_rng ^= g_rng >> 7;
    g_rng ^= g_rng << 17;
    return (uint32_t)(g_rng % n);
}

/* Real algorithm names per slot family, so list lengths are realistic. */
static const char *const kex_names[] = {"curve25519-sha256",
                                        "curve25519-sha256@libssh.org",
                                        "ecdh-sha2-nistp256",
                                        "ecdh-sha2-nistp384",
                                        "ecdh-sha2-nistp521",
                                        "diffie-hellman-group-exchange-sha256",
                                        "diffie-hellman-group16-sha512",
                                        "diffie-hellman-group18-sha512",
                                        "diffie-hellman-group14-sha256",
                                        "diffie-hellman-group14-sha1",
                                        "diffie-hellman-group1-sha1",
                                        "diffie-hellman-group-exchange-sha1",
                                        "sntrup761x25519-sha512@openssh.com",
                                        "mlkem768x25519-sha256",
                                        "ext-info-c",
                                        "kex-strict-c-v00@openssh.com"};
static const char *const hk_names[] = {"ssh-ed25519",
                                       "ecdsa-sha2-nistp256",
                                       "ecdsa-sha2-nistp384",
                                       "rsa-sha2-512",
                                       "rsa-sha2-256",
                                       "ssh-rsa",
                                       "ssh-dss",
                                       "ssh-ed25519-cert-v01@openssh.com",
                                       "rsa-sha2-512-cert-v01@openssh.com"};
static const char *const cipher_names[] = {"chacha20-poly1305@openssh.com",
                                           "aes128-ctr",
                                           "aes192-ctr",
                                           "aes256-ctr",
                                           "aes128-gcm@openssh.com",
                                           "aes256-gcm@openssh.com",
                                           "aes128-cbc",
                                           "aes256-cbc",
                                           "3des-cbc",
                                           "blowfish-cbc",
                                           "arcfour256",
                                           "aes128-gcm",
                                           "aes256-gcm",
                                           "sm4-ctr"};
static const char *const mac_names[] = {"umac-64-etm@openssh.com",
                                        "umac-128-etm@openssh.com",
                                        "hmac-sha2-256-etm@openssh.com",
                                        "hmac-sha2-512-etm@openssh.com",
                                        "hmac-sha1-etm@openssh.com",
                                        "umac-64@openssh.com",
                                        "hmac-sha2-256",
                                        "hmac-sha2-512",
                                        "hmac-sha1",
                                        "hmac-md5",
                                        "hmac-sha1-96"};
static const char *const comp_names[] = {"none", "zlib@openssh.com", "zlib"};

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

/* A random list of k..m names of a family, in random order, no repeats. */
static struct negotiate_list *random_list(const char *const *names, size_t n, size_t kmin, size_t kmax)
{
    char buf[2048];
    size_t len = 0, k = kmin + rnd((uint32_t)(kmax - kmin + 1));
    int used[32] = {0};
    for (size_t i = 0; i < k && i < n; i++) {
        size_t j;
        do
            j = rnd((uint32_t)n);
        while (used[j]);
        used[j] = 1;
        len += (size_t)snprintf(buf + len, sizeof buf - len, "%s%s", i ? "," : "", names[j]);
    }
    struct negotiate_list *l = NULL;
    if (negotiate_list_parse(buf, len, 0, &l, NULL) < 0)
        exit(1);
    return l;
}

struct pool {
    struct negotiate_list *l[64];
    size_t n;
};

static void pool_fill(struct pool *p, size_t n, const char *const *names, size_t nn, size_t kmin, size_t kmax)
{
    p->n = n;
    for (size_t i = 0; i < n; i++)
        p->l[i] = random_list(names, nn, kmin, kmax);
}

static void pool_free(struct pool *p)
{
    for (size_t i = 0; i < p->n; i++)
        negotiate_list_free(p->l[i]);
}

struct client {
    char software[64];
    char fp[33];
    const struct negotiate_list *list[NEG_NSLOTS];
};

struct device {
    char key[24];
    char name[24];
    const char *vendor;
    int profile;
};

static struct client g_clients[CLIENTS];
static struct device g_devices[DEVICES];
static const struct negotiate_list *g_server[SERVER_PROFILES][NEG_NSLOTS];
static struct pool g_pkex, g_phk, g_pcipher, g_pmac, g_pcomp, g_skex, g_shk, g_scipher, g_smac;

static void make_fleet(void)
{
    /* client lists: what ~200 client builds offer */
    pool_fill(&g_pkex, 60, kex_names, NELEM(kex_names), 3, 10);
    pool_fill(&g_phk, 40, hk_names, NELEM(hk_names), 2, 7);
    pool_fill(&g_pcipher, 60, cipher_names, NELEM(cipher_names), 2, 9);
    pool_fill(&g_pmac, 40, mac_names, NELEM(mac_names), 2, 8);
    pool_fill(&g_pcomp, 3, comp_names, NELEM(comp_names), 1, 2);
    /* server lists: what the fleet's configurations allow */
    pool_fill(&g_skex, 20, kex_names, NELEM(kex_names), 2, 6);
    pool_fill(&g_shk, 10, hk_names, NELEM(hk_names), 1, 4);
    pool_fill(&g_scipher, 20, cipher_names, NELEM(cipher_names), 2, 6);
    pool_fill(&g_smac, 15, mac_names, NELEM(mac_names), 1, 5);
    for (int i = 0; i < CLIENTS; i++) {
        struct client *c = &g_clients[i];
        snprintf(c->software, sizeof c->software, "SSH-2.0-%s_%d.%d",
                 (const char *const[]){"OpenSSH", "PuTTY_Release", "libssh", "SecureCRT", "paramiko"}[i % 5], i / 5,
                 i % 7);
        c->list[NEG_KEX] = g_pkex.l[rnd((uint32_t)g_pkex.n)];
        c->list[NEG_HOSTKEY] = g_phk.l[rnd((uint32_t)g_phk.n)];
        c->list[NEG_CIPHER_C2S] = c->list[NEG_CIPHER_S2C] = g_pcipher.l[rnd((uint32_t)g_pcipher.n)];
        c->list[NEG_MAC_C2S] = c->list[NEG_MAC_S2C] = g_pmac.l[rnd((uint32_t)g_pmac.n)];
        c->list[NEG_COMP_C2S] = c->list[NEG_COMP_S2C] = g_pcomp.l[rnd((uint32_t)g_pcomp.n)];
        struct negotiate_offer o;
        memcpy(o.list, c->list, sizeof o.list);
        if (negotiate_fingerprint(&o, c->fp) < 0)
            snprintf(c->fp, sizeof c->fp, "%032x", i);
    }
    for (int i = 0; i < SERVER_PROFILES; i++) {
        g_server[i][NEG_KEX] = g_skex.l[rnd((uint32_t)g_skex.n)];
        g_server[i][NEG_HOSTKEY] = g_shk.l[rnd((uint32_t)g_shk.n)];
        g_server[i][NEG_CIPHER_C2S] = g_server[i][NEG_CIPHER_S2C] = g_scipher.l[rnd((uint32_t)g_scipher.n)];
        g_server[i][NEG_MAC_C2S] = g_server[i][NEG_MAC_S2C] = g_smac.l[rnd((uint32_t)g_smac.n)];
        g_server[i][NEG_COMP_C2S] = g_server[i][NEG_COMP_S2C] = g_pcomp.l[0];
    }
    static const char *const vendors[] = {"huawei", "cisco", "h3c", "openssh", "dropbear"};
    for (int i = 0; i < DEVICES; i++) {
        struct device *d = &g_devices[i];
        snprintf(d->key, sizeof d->key, "10.%d.%d.%d", i / 65536, (i / 256) % 256, i % 256);
        snprintf(d->name, sizeof d->name, "sw-%04d", i);
        d->vendor = vendors[i % 5];
        d->profile = (int)rnd(SERVER_PROFILES);
    }
}

/* Failing slot, weighted as a fleet fails: kex and host keys most. */
static int failing_slot(void)
{
    uint32_t r = rnd(100);
    if (r < 40)
        return NEG_KEX;
    if (r < 65)
        return NEG_HOSTKEY;
    if (r < 75)
        return NEG_CIPHER_C2S;
    if (r < 85)
        return NEG_CIPHER_S2C;
    if (r < 90)
        return NEG_MAC_C2S;
    if (r < 95)
        return NEG_MAC_S2C;
    return NEG_COMP_C2S;
}

static char g_addr[65536][20];

static void remove_db(const char *p)
{
    char x[4200];
    unlink(p);
    snprintf(x, sizeof x, "%s-wal", p);
    unlink(x);
    snprintf(x, sizeof x, "%s-shm", p);
    unlink(x);
}

/* Stores n negotiations over a year into a new database, pct_failed of
 * them failures, committing every batch; returns the rate. */
static double store_run(const char *path, long n, unsigned pct_failed, long batch, double *elapsed)
{
    remove_db(path);
    char err[512];
    struct store *s = NULL;
    if (store_open(path, 0, 200000, &s, err, sizeof err) < 0) {
        fprintf(stderr, "%s\n", err);
        exit(1);
    }
    static const char *const reasons[] = {
        "no matching key exchange method found. Their offer: diffie-hellman-group1-sha1 [preauth]",
        "%SSH-3-NO_MATCH: No matching kex algorithm found: client diffie-hellman-group14-sha1 server "
        "curve25519-sha256",
        NULL, NULL};
    double t0 = now_s();
    for (long i = 0; i < n; i++) {
        const struct client *c = &g_clients[rnd(CLIENTS)];
        const struct device *d = &g_devices[rnd(DEVICES)];
        struct negotiation ng;
        memset(&ng, 0, sizeof ng);
        ng.device = d->key;
        ng.device_name = d->name;
        ng.vendor = d->vendor;
        ng.peer = g_addr[rnd(65536)];
        ng.port = 1024 + rnd(60000);
        ng.software = c->software;
        ng.fingerprint = c->fp;
        ng.time = T0 + (int64_t)((double)i * SPAN_S / (double)n);
        memcpy(ng.client, c->list, sizeof ng.client);
        memcpy(ng.server, g_server[d->profile], sizeof ng.server);
        ng.slot = -1;
        ng.category = -1;
        if (rnd(100) < pct_failed) {
            ng.failed = true;
            ng.slot = failing_slot();
            ng.category = (int)negotiate_slot_category((enum negotiate_slot)ng.slot);
            ng.evidence = rnd(2) ? EVIDENCE_EXPLICIT : EVIDENCE_INFERRED;
            ng.reason = ng.evidence == EVIDENCE_EXPLICIT ? reasons[rnd(4)] : NULL;
        }
        if (store_enqueue(s, &ng) < 0) {
            fprintf(stderr, "enqueue refused\n");
            exit(1);
        }
        if ((long)store_pending(s) >= batch && store_flush(s) < 0) {
            fprintf(stderr, "flush failed\n");
            exit(1);
        }
    }
    while (store_pending(s))
        if (store_flush(s) < 0)
            exit(1);
    *elapsed = now_s() - t0;
    const struct store_counts *k = store_get_counts(s);
    if ((long)k->committed != n)
        fprintf(stderr, "committed %llu of %ld\n", (unsigned long long)k->committed, n);
    store_close(s);
    return (double)n / *elapsed;
}

/* Pages in use (not free), after a checkpoint, in bytes. */
static double used_bytes(const char *path, long *pages_out, long *file_out)
{
    sqlite3 *db;
    sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL);
    sqlite3_exec(db, "PRAGMA wal_checkpoint(TRUNCATE)", NULL, NULL, NULL);
    sqlite3_stmt *st;
    long pc = 0, fl = 0, ps = 0;
    sqlite3_prepare_v2(db,
                       "SELECT (SELECT page_count FROM pragma_page_count), (SELECT freelist_count FROM "
                       "pragma_freelist_count), (SELECT page_size FROM pragma_page_size)",
                       -1, &st, NULL);
    if (sqlite3_step(st) == SQLITE_ROW) {
        pc = sqlite3_column_int64(st, 0);
        fl = sqlite3_column_int64(st, 1);
        ps = sqlite3_column_int64(st, 2);
    }
    sqlite3_finalize(st);
    sqlite3_close(db);
    *pages_out = pc - fl;
    *file_out = pc * ps;
    return (double)(pc - fl) * (double)ps;
}

/* Bytes of each table and index (dbstat, when SQLite has it). */
static void print_dbstat(const char *path)
{
    sqlite3 *db;
    sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL);
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db, "SELECT name, sum(pgsize) FROM dbstat GROUP BY name ORDER BY 2 DESC LIMIT 8", -1, &st,
                           NULL) == SQLITE_OK) {
        printf("    largest:");
        while (sqlite3_step(st) == SQLITE_ROW)
            printf(" %s %.1f MB;", (const char *)sqlite3_column_text(st, 0), sqlite3_column_double(st, 1) / 1e6);
        printf("\n");
        sqlite3_finalize(st);
    }
    sqlite3_close(db);
}

struct query {
    const char *what;
    const char *sql; /* ?1 = since (seconds), ?2 = a device key */
};

/* The history queries of SPEC "Query command line", as the tool would
 * write them against this schema. The index is named (INDEXED BY): with
 * statistics sampled from a few rows, SQLite may otherwise read a window
 * through failures_device, row by row, at 10x the cost (see sql/README). */
#define WINDOW "FROM negotiations INDEXED BY failures_window WHERE failed = 1 AND time >= ?1"
static const struct query queries[] = {
    {"failures --since 30d --by client",
     "SELECT c.software, c.fingerprint, x.failures, x.devices, x.first_seen, x.last_seen FROM"
     " (SELECT client_id, count(*) AS failures, count(DISTINCT device_id) AS devices, min(time) AS first_seen,"
     " max(time) AS last_seen " WINDOW " GROUP BY client_id) x"
     " LEFT JOIN clients c ON c.id = x.client_id ORDER BY x.failures DESC"},
    {"failures --since 30d --by device",
     "SELECT d.key, x.failures, x.first_seen, x.last_seen FROM"
     " (SELECT device_id, count(*) AS failures, min(time) AS first_seen, max(time) AS last_seen"
     " FROM negotiations INDEXED BY failures_device WHERE failed = 1 AND time >= ?1 GROUP BY device_id) x"
     " JOIN devices d ON d.id = x.device_id ORDER BY x.failures DESC"},
    {"failures --since 30d --by category",
     "SELECT category, count(*), count(DISTINCT device_id), min(time), max(time) " WINDOW
     " GROUP BY category ORDER BY 2 DESC"},
    {"failures --since 30d --by mismatch",
     "SELECT ifnull(mismatch, 'unclassified'), count(*), count(DISTINCT device_id), min(time), max(time) " WINDOW
     " GROUP BY mismatch ORDER BY 2 DESC"},
    {"failures --since 30d --by algorithm",
     "SELECT li.name, sum(x.n), count(DISTINCT x.device_id), min(x.f), max(x.l) FROM"
     " (SELECT client_list, device_id, count(*) AS n, min(time) AS f, max(time) AS l " WINDOW
     " GROUP BY client_list, device_id) x"
     " JOIN list_items li ON li.list_id = x.client_list GROUP BY li.name ORDER BY 2 DESC"},
    {"  (its pairs: failures by list and device)",
     "SELECT client_list, device_id, count(*), min(time), max(time) " WINDOW " GROUP BY client_list, device_id"},
    {"failures --since 365d --by client",
     "SELECT client_id, count(*), count(DISTINCT device_id), min(time), max(time) FROM negotiations"
     " INDEXED BY failures_window WHERE failed = 1 AND time >= ?1 - 335 * 86400 GROUP BY client_id ORDER BY 2 DESC"},
    {"failures --since 30d --device KEY --by client",
     "SELECT client_id, count(*), min(time), max(time) FROM negotiations INDEXED BY failures_device"
     " WHERE device_id = (SELECT id FROM devices WHERE key = ?2) AND failed = 1 AND time >= ?1"
     " GROUP BY client_id ORDER BY 2 DESC"},
    {"device KEY (50 most recent failures)",
     "SELECT n.time, n.address, n.port, n.category, n.direction, n.evidence, c.software, l.names"
     " FROM negotiations n INDEXED BY failures_device"
     " LEFT JOIN clients c ON c.id = n.client_id LEFT JOIN lists l ON l.id = n.client_list"
     " WHERE n.device_id = (SELECT id FROM devices WHERE key = ?2) AND n.failed = 1 ORDER BY n.time DESC LIMIT 50"},
    {"devices (all, most recently seen first)",
     "SELECT key, name, vendor, first_seen, last_seen FROM devices ORDER BY last_seen DESC"},
};

static void time_queries(const char *path)
{
    sqlite3 *db;
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK)
        return;
    int64_t since = T0 + SPAN_S - 30 * 86400;
    for (size_t q = 0; q < NELEM(queries); q++) {
        sqlite3_stmt *st;
        if (sqlite3_prepare_v2(db, queries[q].sql, -1, &st, NULL) != SQLITE_OK) {
            printf("  %-48s prepare: %s\n", queries[q].what, sqlite3_errmsg(db));
            continue;
        }
        double best = 1e9;
        long rows = 0;
        for (int rep = 0; rep < 3; rep++) {
            double t0 = now_s();
            sqlite3_bind_int64(st, 1, since);
            if (sqlite3_bind_parameter_count(st) >= 2)
                sqlite3_bind_text(st, 2, "10.0.7.208", -1, SQLITE_STATIC);
            rows = 0;
            while (sqlite3_step(st) == SQLITE_ROW)
                rows++;
            sqlite3_reset(st);
            double dt = now_s() - t0;
            if (dt < best)
                best = dt;
        }
        sqlite3_finalize(st);
        /* which indexes the plan uses */
        char plan[512] = "", sql[4096];
        snprintf(sql, sizeof sql, "EXPLAIN QUERY PLAN %s", queries[q].sql);
        if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK) {
            size_t len = 0;
            while (sqlite3_step(st) == SQLITE_ROW && len < sizeof plan - 80) {
                const char *d = (const char *)sqlite3_column_text(st, 3);
                const char *ix = d ? strstr(d, "INDEX ") : NULL;
                if (ix) {
                    ix += 6;
                    size_t k = strcspn(ix, " ");
                    len += (size_t)snprintf(plan + len, sizeof plan - len, "%s%.*s", len ? "," : "", (int)k, ix);
                } else if (d && strncmp(d, "SCAN ", 5) == 0) {
                    len += (size_t)snprintf(plan + len, sizeof plan - len, "%sscan %.*s", len ? "," : "",
                                            (int)strcspn(d + 5, " "), d + 5);
                }
            }
            sqlite3_finalize(st);
        }
        printf("  %-48s %8.1f ms  %6ld rows  [%s]\n", queries[q].what, best * 1e3, rows, plan);
    }
    sqlite3_close(db);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: store_bench DIR [FAILURES [OTHERS [QUERY_N QUERY_PCT]]]\n");
        return 2;
    }
    long nfail = argc > 2 ? atol(argv[2]) : 2000000;
    long nother = argc > 3 ? atol(argv[3]) : 1000000;
    long nquery = argc > 5 ? atol(argv[4]) : 0;
    unsigned pctquery = argc > 5 ? (unsigned)atoi(argv[5]) : 100;
    char fpath[4096], opath[4096];
    snprintf(fpath, sizeof fpath, "%s/bench-failures.db", argv[1]);
    snprintf(opath, sizeof opath, "%s/bench-other.db", argv[1]);
    for (int i = 0; i < 65536; i++)
        snprintf(g_addr[i], sizeof g_addr[i], "192.168.%d.%d", i / 256, i % 256);
    make_fleet();
    printf("fleet: %d devices, %d client types, %zu client and %zu server lists; database in %s\n", DEVICES, CLIENTS,
           g_pkex.n + g_phk.n + g_pcipher.n + g_pmac.n + g_pcomp.n, g_skex.n + g_shk.n + g_scipher.n + g_smac.n,
           argv[1]);

    static const long batches[] = {2000, 10000};
    static const struct {
        const char *what;
        unsigned pct;
    } mixes[] = {{"failures only", 100}, {"successes only", 0}, {"10% failures", 10}};
    double el, bytes_ok = 0;
    long pages, file;
    for (size_t m = 0; m < NELEM(mixes); m++) {
        for (size_t b = 0; b < NELEM(batches); b++) {
            long n = mixes[m].pct == 100 ? nfail : nother;
            const char *path = mixes[m].pct == 100 ? fpath : opath;
            if (n <= 0)
                continue;
            double rate = store_run(path, n, mixes[m].pct, batches[b], &el);
            printf("%-15s commit every %5ld: %8ld stored in %6.2f s = %7.0f negotiations/s\n", mixes[m].what,
                   batches[b], n, el, rate);
            if (mixes[m].pct == 0)
                bytes_ok = used_bytes(path, &pages, &file) / (double)n;
        }
    }
    remove_db(opath);
    /* sizes and queries on the database of the last failures-only run */
    if (nfail > 0) {
        double used = used_bytes(fpath, &pages, &file);
        printf("size: %.1f bytes per stored failure (%ld failures: %ld pages in use, file %.1f MB)",
               used / (double)nfail, nfail, pages, (double)file / 1e6);
        if (bytes_ok > 0)
            printf("; %.1f bytes per stored success", bytes_ok);
        printf("\n");
        print_dbstat(fpath);
    }
    const char *qpath = fpath;
    if (nquery > 0) {
        double rate = store_run(opath, nquery, pctquery, 10000, &el);
        used_bytes(opath, &pages, &file);
        printf("query database: %ld negotiations, %u%% failures, stored at %.0f/s, file %.1f MB\n", nquery, pctquery,
               rate, (double)file / 1e6);
        qpath = opath;
    } else {
        nquery = nfail;
    }
    if (nquery > 0) {
        printf("history queries on %ld negotiations (%u%% failures) over a year (best of 3; [indexes used]):\n", nquery,
               pctquery);
        time_queries(qpath);
    }
    remove_db(opath);

    pool_free(&g_pkex);
    pool_free(&g_phk);
    pool_free(&g_pcipher);
    pool_free(&g_pmac);
    pool_free(&g_pcomp);
    pool_free(&g_skex);
    pool_free(&g_shk);
    pool_free(&g_scipher);
    pool_free(&g_smac);
    return 0;
}
