/* SPDX-License-Identifier: ISC */
/* query_gen: builds a kexwatch database for the history-query benchmark
 * (tests/bench/query.sh) straight through the real schema: the migration
 * files given on the command line are applied in order and user_version set
 * to their count, exactly as the store would leave a fresh database.
 *
 *   query_gen OUT.db NEGOTIATIONS DEVICES CLIENTS sql/001-....sql sql/002-....sql ...
 *
 * NEGOTIATIONS spread evenly over the 365 days before now, about 10 %
 * failed (QUERY_GEN_SHAPE: fleet or uniform, see below); DEVICES devices (five vendors, each with a learned server profile);
 * CLIENTS client types (OpenSSH, PuTTY, JSch, paramiko, ... builds), each
 * offering realistic lists drawn from real algorithm names. The store's
 * invariants hold: devices.last_seen, clients.last_seen and lists.last_used
 * are never older than a negotiation naming them. Ends with ANALYZE, as the
 * store does. Deterministic (fixed seed). Every value is a bound parameter. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sqlite3.h>

static uint64_t rng = 0x9E3779B97F4A7C15u;
static uint64_t next(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}
static unsigned pick(unsigned n) { return (unsigned)(next() % n); }

static sqlite3 *db;

static void die(const char *what)
{
    fprintf(stderr, "query_gen: %s: %s\n", what, sqlite3_errmsg(db));
    exit(1);
}

static void exec(const char *sql)
{
    char *msg = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK) {
        fprintf(stderr, "query_gen: %s\n", msg ? msg : "exec failed");
        exit(1);
    }
}

static sqlite3_stmt *prep(const char *sql)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
        die(sql);
    return st;
}

static void step(sqlite3_stmt *st)
{
    if (sqlite3_step(st) != SQLITE_DONE)
        die("insert");
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
}

static const char *const KEX[] = {
    "sntrup761x25519-sha512@openssh.com", "curve25519-sha256", "curve25519-sha256@libssh.org",
    "ecdh-sha2-nistp256", "ecdh-sha2-nistp384", "ecdh-sha2-nistp521", "diffie-hellman-group-exchange-sha256",
    "diffie-hellman-group16-sha512", "diffie-hellman-group18-sha512", "diffie-hellman-group14-sha256",
    "diffie-hellman-group14-sha1", "diffie-hellman-group-exchange-sha1", "diffie-hellman-group1-sha1",
};
static const char *const HOSTKEY[] = {
    "ssh-ed25519", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384", "ecdsa-sha2-nistp521",
    "rsa-sha2-512", "rsa-sha2-256", "ssh-rsa", "ssh-dss",
};
static const char *const CIPHER[] = {
    "chacha20-poly1305@openssh.com", "aes128-ctr", "aes192-ctr", "aes256-ctr", "aes128-gcm@openssh.com",
    "aes256-gcm@openssh.com", "aes128-cbc", "aes256-cbc", "3des-cbc", "blowfish-cbc",
};
static const char *const MAC[] = {
    "umac-64-etm@openssh.com", "umac-128-etm@openssh.com", "hmac-sha2-256-etm@openssh.com",
    "hmac-sha2-512-etm@openssh.com", "hmac-sha1-etm@openssh.com", "umac-64@openssh.com", "umac-128@openssh.com",
    "hmac-sha2-256", "hmac-sha2-512", "hmac-sha1", "hmac-md5", "hmac-sha1-96",
};
static const char *const COMP[] = {"none", "zlib@openssh.com", "zlib"};
static const struct {
    const char *const *names;
    unsigned n;
} CAT[5] = {{KEX, 13}, {HOSTKEY, 8}, {CIPHER, 10}, {MAC, 12}, {COMP, 3}};
static const char *const CATNAME[5] = {"kex", "hostkey", "cipher", "mac", "compression"};
static const char *const MISMATCH[5][3] = {
    {"kex-sha1-only", "kex-no-common", "kex-gex-only"},
    {"hostkey-rsa-sha1-only", "hostkey-dss-only", "hostkey-no-common"},
    {"cipher-cbc-only", "cipher-no-common", "cipher-3des-only"},
    {"mac-md5-sha1-only", "mac-no-common", "mac-etm-only"},
    {"compression-zlib-only", "compression-none-only", "compression-no-common"},
};
static const char *const SLOT[8] = {"kex", "hostkey", "cipher_c2s", "cipher_s2c",
                                    "mac_c2s", "mac_s2c", "comp_c2s", "comp_s2c"};
static const char *const VENDOR[5] = {"huawei", "cisco", "h3c", "openssh", "dropbear"};

static sqlite3_stmt *st_list, *st_item;
static int64_t nlists;

/* a list: a contiguous window of the category's names (newest first, as
 * real builds offer them), sometimes shifted towards the legacy end */
static int64_t make_list(unsigned cat, int64_t when)
{
    unsigned n = CAT[cat].n, start = pick(n), len = 1 + pick(n - start);
    if (cat == 4) {
        start = pick(2);
        len = 1 + pick(3 - start);
    }
    char buf[1024] = "";
    size_t off = 0;
    for (unsigned i = 0; i < len; i++)
        off += (size_t)snprintf(buf + off, sizeof buf - off, "%s%s", i ? "," : "", CAT[cat].names[start + i]);
    if (cat == 0 && pick(2))
        off += (size_t)snprintf(buf + off, sizeof buf - off, ",ext-info-c");
    /* the same list twice is stored once */
    sqlite3_stmt *sel = prep("SELECT id FROM lists WHERE names = ?1 AND partial = 0");
    sqlite3_bind_text(sel, 1, buf, -1, SQLITE_TRANSIENT);
    int64_t id = 0;
    if (sqlite3_step(sel) == SQLITE_ROW)
        id = sqlite3_column_int64(sel, 0);
    sqlite3_finalize(sel);
    if (id)
        return id;
    sqlite3_bind_text(st_list, 1, buf, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st_list, 2, when);
    step(st_list);
    id = sqlite3_last_insert_rowid(db);
    nlists++;
    unsigned pos = 0;
    for (char *save = NULL, *p = strtok_r(buf, ",", &save); p; p = strtok_r(NULL, ",", &save)) {
        sqlite3_bind_int64(st_item, 1, id);
        sqlite3_bind_int64(st_item, 2, pos++);
        sqlite3_bind_text(st_item, 3, p, -1, SQLITE_TRANSIENT);
        step(st_item);
    }
    return id;
}

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        perror(path);
        exit(1);
    }
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    rewind(f);
    char *s = malloc((size_t)n + 1);
    if (!s || fread(s, 1, (size_t)n, f) != (size_t)n)
        exit(1);
    s[n] = 0;
    fclose(f);
    return s;
}

int main(int argc, char **argv)
{
    if (argc < 6) {
        fprintf(stderr, "usage: query_gen OUT.db NEGOTIATIONS DEVICES CLIENTS MIGRATION.sql...\n");
        return 2;
    }
    long long total = atoll(argv[2]);
    unsigned ndev = (unsigned)atoi(argv[3]), ncli = (unsigned)atoi(argv[4]);
    if (total <= 0 || !ndev || !ncli)
        return 2;
    remove(argv[1]);
    if (sqlite3_open(argv[1], &db) != SQLITE_OK)
        die("open");
    exec("PRAGMA journal_mode = OFF; PRAGMA synchronous = OFF; PRAGMA cache_size = -400000;"
         " PRAGMA temp_store = MEMORY");
    for (int i = 5; i < argc; i++) {
        char *sql = slurp(argv[i]);
        exec("BEGIN");
        exec(sql);
        free(sql);
        exec("COMMIT");
    }
    /* PRAGMA takes no parameter; the number is the count of files given */
    char pragma[64];
    snprintf(pragma, sizeof pragma, "PRAGMA user_version = %d", argc - 5);
    exec(pragma);

    int64_t now = (int64_t)time(NULL), span = 365LL * 86400, t0 = now - span;
    exec("BEGIN");
    st_list = prep("INSERT INTO lists (names, partial, last_used) VALUES (?1, 0, ?2)");
    st_item = prep("INSERT INTO list_items (list_id, pos, name) VALUES (?1, ?2, ?3)");

    /* devices and their learned profiles: 60 server lists per category */
    int64_t srv[5][60];
    for (unsigned c = 0; c < 5; c++)
        for (unsigned i = 0; i < 60; i++)
            srv[c][i] = make_list(c, now);
    sqlite3_stmt *st_dev =
        prep("INSERT INTO devices (id, key, name, vendor, first_seen, last_seen) VALUES (?1, ?2, ?3, ?4, ?5, ?6)");
    sqlite3_stmt *st_prof = prep("INSERT INTO profiles (device_id, slot, source, list_id, learned_at)"
                                 " VALUES (?1, ?2, 'learned', ?3, ?4)");
    unsigned *devprof = malloc(ndev * sizeof *devprof);
    for (unsigned d = 0; d < ndev; d++) {
        char key[32], name[48];
        snprintf(key, sizeof key, "10.%u.%u.%u", d / 65536 % 256, d / 256 % 256, d % 256 + 1);
        snprintf(name, sizeof name, "SITE%03u-R%u", d / 10, d % 10);
        sqlite3_bind_int64(st_dev, 1, d + 1);
        sqlite3_bind_text(st_dev, 2, key, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(st_dev, 3, name, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(st_dev, 4, VENDOR[d % 5], -1, SQLITE_STATIC);
        sqlite3_bind_int64(st_dev, 5, t0);
        sqlite3_bind_int64(st_dev, 6, now);
        step(st_dev);
        devprof[d] = pick(60);
        for (unsigned s = 0; s < 8; s++) {
            unsigned c = s < 2 ? s : 2 + (s - 2) / 2;
            sqlite3_bind_int64(st_prof, 1, d + 1);
            sqlite3_bind_text(st_prof, 2, SLOT[s], -1, SQLITE_STATIC);
            sqlite3_bind_int64(st_prof, 3, srv[c][devprof[d]]);
            sqlite3_bind_int64(st_prof, 4, now - pick(86400 * 30));
            step(st_prof);
        }
    }

    /* client types and what they offer */
    static const char *const SW[] = {"SSH-2.0-OpenSSH_%u.%up1", "SSH-2.0-PuTTY_Release_0.%u%u",
                                     "SSH-2.0-JSCH-0.1.%u%u",   "SSH-2.0-paramiko_%u.%u.0",
                                     "SSH-2.0-libssh_0.%u.%u",  "SSH-2.0-NetMgr_%u.%u"};
    sqlite3_stmt *st_cli = prep("INSERT INTO clients (id, fingerprint, software, first_seen, last_seen, kex_list,"
                                " hostkey_list, cipher_list, mac_list, compression_list)"
                                " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)");
    int64_t (*cl)[5] = malloc(ncli * sizeof *cl);
    for (unsigned c = 0; c < ncli; c++) {
        char sw[64], fp[40];
        snprintf(sw, sizeof sw, SW[c % 6], 2 + c / 6 % 8, c / 48 % 10);
        snprintf(fp, sizeof fp, "%016" PRIx64 "%016" PRIx64, next(), next());
        sqlite3_bind_int64(st_cli, 1, c + 1);
        sqlite3_bind_text(st_cli, 2, fp, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(st_cli, 3, sw, -1, SQLITE_TRANSIENT);
        sqlite3_bind_int64(st_cli, 4, t0);
        sqlite3_bind_int64(st_cli, 5, now);
        for (unsigned k = 0; k < 5; k++) {
            cl[c][k] = make_list(k, now);
            sqlite3_bind_int64(st_cli, 6 + (int)k, cl[c][k]);
        }
        step(st_cli);
    }

    /* negotiations in time order, ~10 % failed; a few client types and
     * devices fail far more often than the rest */
    sqlite3_stmt *st_neg = prep("INSERT INTO negotiations (time, device_id, client_id, address, port, failed, category,"
                                " direction, evidence, mismatch, client_list, server_list)"
                                " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)");
    /* QUERY_GEN_SHAPE=uniform: every negotiation's device and client type
     * drawn at random from all (the shape of the issue 6 figures); the
     * default, fleet: each device is polled by its own four client types
     * (the automation's builds: 50, 25, 15 and 10 % of its negotiations),
     * and a pair that fails fails every time, the same way (negotiation is
     * deterministic), one pair in ten */
    const char *shape = getenv("QUERY_GEN_SHAPE");
    int uniform = shape && strcmp(shape, "uniform") == 0;
    for (long long i = 0; i < total; i++) {
        int64_t t = t0 + (int64_t)((double)i * (double)span / (double)total);
        unsigned d = pick(ndev), c = pick(ncli);
        int failed = pick(1000) < 100;
        uint64_t pair = 0;
        if (!uniform) {
            unsigned w = pick(100), j = w < 50 ? 0 : w < 75 ? 1 : w < 90 ? 2 : 3;
            c = (unsigned)(((uint64_t)d * 2654435761u + j * 40503u) % ncli);
            pair = ((uint64_t)d * 1000003u + c) * 0x9E3779B97F4A7C15u;
            failed = (pair >> 40) % 10 == 0;
        }
        char addr[24];
        snprintf(addr, sizeof addr, "192.168.%u.%u", c % 250, pick(250) + 1);
        sqlite3_bind_int64(st_neg, 1, t);
        sqlite3_bind_int64(st_neg, 2, d + 1);
        sqlite3_bind_int64(st_neg, 3, c + 1);
        sqlite3_bind_text(st_neg, 4, addr, -1, SQLITE_TRANSIENT);
        sqlite3_bind_int64(st_neg, 5, 1024 + pick(60000));
        sqlite3_bind_int(st_neg, 6, failed);
        if (failed) {
            unsigned k = uniform ? pick(100) : (unsigned)(pair >> 8) % 100;
            k = k < 35 ? 0 : k < 55 ? 1 : k < 80 ? 2 : k < 97 ? 3 : 4;
            unsigned m = uniform ? pick(3) : (unsigned)(pair >> 20) % 3;
            sqlite3_bind_text(st_neg, 7, CATNAME[k], -1, SQLITE_STATIC);
            if (k >= 2)
                sqlite3_bind_text(st_neg, 8, pick(2) ? "c2s" : "s2c", -1, SQLITE_STATIC);
            sqlite3_bind_text(st_neg, 9, pick(4) ? "explicit" : "inferred", -1, SQLITE_STATIC);
            sqlite3_bind_text(st_neg, 10, MISMATCH[k][m], -1, SQLITE_STATIC);
            sqlite3_bind_int64(st_neg, 11, cl[c][k]);
            sqlite3_bind_int64(st_neg, 12, srv[k][devprof[d]]);
        }
        step(st_neg);
        if (i % 1000000 == 999999)
            fprintf(stderr, "query_gen: %lld negotiations\n", i + 1);
    }
    exec("COMMIT");
    sqlite3_finalize(st_neg);
    sqlite3_finalize(st_cli);
    sqlite3_finalize(st_dev);
    sqlite3_finalize(st_prof);
    sqlite3_finalize(st_list);
    sqlite3_finalize(st_item);
    exec("ANALYZE; PRAGMA journal_mode = WAL");
    fprintf(stderr, "query_gen: %lld negotiations, %u devices, %u client types, %lld lists\n", total, ndev, ncli,
            (long long)nlists);
    free(devprof);
    free(cl);
    return sqlite3_close(db) == SQLITE_OK ? 0 : 1;
}
