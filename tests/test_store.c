/* SPDX-License-Identifier: ISC */
/* Tests for store.c on temporary file databases: creation, migrations from
 * every earlier version, refusals (newer schema, corrupt or foreign file,
 * read-only file or directory), round trips checked with our own SQL, the
 * queue bound, retention, a reader beside the writer, learned profiles,
 * received strings stored byte for byte, and errors that must leave the
 * records queued (disk full, a lock held too long, a record the schema
 * refuses). */
#include "config.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "catalogue.h"
#include "negotiate.h"
#include "store.h"
#include "testutil.h"

/* the compiled-in migrations, to build databases of earlier versions */
extern const char *const store_migrations[];
extern const char *const store_migration_names[];
extern const int store_migration_count;

static char g_dir[4096];  /* this run's temporary directory */
static char g_path[4200]; /* the database of the current test */
static int g_seq;

/* ------------------------------------------------------------ helpers */

static void remove_db(const char *path)
{
    char p[4300];
    unlink(path);
    snprintf(p, sizeof p, "%s-wal", path);
    unlink(p);
    snprintf(p, sizeof p, "%s-shm", path);
    unlink(p);
    snprintf(p, sizeof p, "%s-journal", path);
    unlink(p);
}

/* a fresh database path for each test */
static int setup_test(void **state)
{
    (void)state;
    snprintf(g_path, sizeof g_path, "%s/t%d.db", g_dir, ++g_seq);
    remove_db(g_path);
    return 0;
}

static int teardown_test(void **state)
{
    (void)state;
    remove_db(g_path);
    return 0;
}

static int setup(void **state)
{
    (void)state;
    const char *tmp = getenv("TMPDIR");
    snprintf(g_dir, sizeof g_dir, "%s/kwstore.XXXXXX", tmp ? tmp : "/tmp");
    if (!mkdtemp(g_dir))
        fail_msg("mkdtemp: %s", strerror(errno));
    /* the unprivileged child of the read-only tests must get through */
    chmod(g_dir, 0755);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    rmdir(g_dir);
    return 0;
}

static sqlite3 *raw_open(const char *path, int flags)
{
    sqlite3 *db = NULL;
    if (sqlite3_open_v2(path, &db, flags, NULL) != SQLITE_OK)
        fail_msg("sqlite3_open_v2 %s: %s", path, db ? sqlite3_errmsg(db) : "?");
    sqlite3_busy_timeout(db, 5000);
    return db;
}

static void raw_exec(sqlite3 *db, const char *sql)
{
    char *msg = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK) {
        fail_msg("%s: %s", sql, msg ? msg : "?");
    }
}

/* First column of the first row of sql, with an optional text parameter;
 * -1 when there is no row. */
static int64_t q_int(sqlite3 *db, const char *sql, const char *param)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
        fail_msg("prepare %s: %s", sql, sqlite3_errmsg(db));
    if (param)
        sqlite3_bind_text(st, 1, param, -1, SQLITE_TRANSIENT);
    int64_t v = -1;
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        v = sqlite3_column_type(st, 0) == SQLITE_NULL ? -2 : sqlite3_column_int64(st, 0);
    else if (rc != SQLITE_DONE)
        fail_msg("step %s: %s", sql, sqlite3_errmsg(db));
    sqlite3_finalize(st);
    return v;
}

/* Same for text, into buf ("<NULL>" for NULL, "<none>" for no row); the
 * parameter may hold any bytes (plen). Returns the length. */
static size_t q_text(sqlite3 *db, const char *sql, const char *param, size_t plen, char *buf, size_t size)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
        fail_msg("prepare %s: %s", sql, sqlite3_errmsg(db));
    if (param)
        sqlite3_bind_text(st, 1, param, (int)plen, SQLITE_TRANSIENT);
    int rc = sqlite3_step(st);
    size_t n;
    if (rc == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL) {
        n = (size_t)sqlite3_column_bytes(st, 0);
        assert_true(n < size);
        memcpy(buf, sqlite3_column_text(st, 0), n);
        buf[n] = '\0';
    } else {
        n = (size_t)snprintf(buf, size, "%s", rc == SQLITE_ROW ? "<NULL>" : "<none>");
    }
    sqlite3_finalize(st);
    return n;
}

static struct store *open_ok(const char *path, unsigned flags, size_t queue_max)
{
    struct store *s = NULL;
    char err[1024];
    if (store_open(path, flags, queue_max, &s, err, sizeof err) < 0)
        fail_msg("store_open: %s", err);
    assert_non_null(s);
    return s;
}

/* store_open must fail with a message containing every given fragment */
static void open_fails(const char *path, unsigned flags, ...)
{
    struct store *s = (struct store *)1;
    char err[1024];
    assert_int_equal(store_open(path, flags, 0, &s, err, sizeof err), -1);
    assert_null(s);
    va_list ap;
    va_start(ap, flags);
    const char *frag;
    while ((frag = va_arg(ap, const char *))) {
        if (!strstr(err, frag))
            fail_msg("message \"%s\" lacks \"%s\"", err, frag);
    }
    va_end(ap);
}

/* A negotiation built by hand, owning its lists. */
struct tneg {
    struct negotiation n;
    struct negotiate_list *c[NEG_NSLOTS], *s[NEG_NSLOTS];
};

static struct negotiate_list *mklist(const char *text, unsigned flags)
{
    struct negotiate_list *l = NULL;
    assert_int_equal(negotiate_list_parse(text, strlen(text), flags, &l, NULL), 0);
    return l;
}

static void tneg_init(struct tneg *t, const char *device, const char *software, const char *fp, int64_t time)
{
    memset(t, 0, sizeof *t);
    t->n.device = device;
    t->n.software = software;
    t->n.fingerprint = fp;
    t->n.time = time;
    t->n.slot = -1;
    t->n.category = -1;
}

static void tneg_client(struct tneg *t, int slot, const char *text)
{
    negotiate_list_free(t->c[slot]);
    t->c[slot] = mklist(text, 0);
    t->n.client[slot] = t->c[slot];
}

static void tneg_server(struct tneg *t, int slot, const char *text)
{
    negotiate_list_free(t->s[slot]);
    t->s[slot] = mklist(text, 0);
    t->n.server[slot] = t->s[slot];
}

static void tneg_fail(struct tneg *t, int slot, enum evidence ev)
{
    t->n.failed = true;
    t->n.slot = slot;
    t->n.category = (int)negotiate_slot_category((enum negotiate_slot)slot);
    t->n.evidence = ev;
}

static void tneg_free(struct tneg *t)
{
    for (int i = 0; i < NEG_NSLOTS; i++) {
        negotiate_list_free(t->c[i]);
        negotiate_list_free(t->s[i]);
    }
}

/* two client types as a fleet sees them */
#define PUTTY        "PuTTY_Release_0.70"
#define PUTTY_FP     "0123456789abcdef0123456789abcdef"
#define PUTTY_KEX    "diffie-hellman-group1-sha1,diffie-hellman-group14-sha1"
#define PUTTY_HK     "ssh-rsa,ssh-dss"
#define PUTTY_CIPHER "aes256-cbc,aes128-cbc,3des-cbc"
#define PUTTY_MAC    "hmac-sha1,hmac-md5"
#define OSSH         "SSH-2.0-OpenSSH_9.6"
#define OSSH_FP      "fedcba9876543210fedcba9876543210"
#define OSSH_KEX     "curve25519-sha256,ecdh-sha2-nistp256,ext-info-c"
#define OSSH_HK      "ssh-ed25519,rsa-sha2-512"
#define OSSH_CIPHER  "chacha20-poly1305@openssh.com,aes128-ctr"
#define OSSH_MAC     "hmac-sha2-256-etm@openssh.com"
#define SRV_KEX      "curve25519-sha256,diffie-hellman-group16-sha512"
#define SRV_CIPHER   "aes128-gcm,aes256-gcm"

static void putty(struct tneg *t, const char *device, int64_t time)
{
    tneg_init(t, device, PUTTY, PUTTY_FP, time);
    tneg_client(t, NEG_KEX, PUTTY_KEX);
    tneg_client(t, NEG_HOSTKEY, PUTTY_HK);
    tneg_client(t, NEG_CIPHER_C2S, PUTTY_CIPHER);
    tneg_client(t, NEG_CIPHER_S2C, PUTTY_CIPHER);
    tneg_client(t, NEG_MAC_C2S, PUTTY_MAC);
    tneg_client(t, NEG_MAC_S2C, PUTTY_MAC);
    tneg_client(t, NEG_COMP_C2S, "none");
    tneg_client(t, NEG_COMP_S2C, "none");
    tneg_server(t, NEG_KEX, SRV_KEX);
    tneg_fail(t, NEG_KEX, EVIDENCE_EXPLICIT);
}

static void openssh(struct tneg *t, const char *device, int64_t time, bool fail_cipher)
{
    tneg_init(t, device, OSSH, OSSH_FP, time);
    tneg_client(t, NEG_KEX, OSSH_KEX);
    tneg_client(t, NEG_HOSTKEY, OSSH_HK);
    tneg_client(t, NEG_CIPHER_C2S, OSSH_CIPHER);
    tneg_client(t, NEG_CIPHER_S2C, OSSH_CIPHER);
    tneg_client(t, NEG_MAC_C2S, OSSH_MAC);
    tneg_client(t, NEG_MAC_S2C, OSSH_MAC);
    tneg_client(t, NEG_COMP_C2S, "none,zlib@openssh.com");
    tneg_client(t, NEG_COMP_S2C, "none,zlib@openssh.com");
    if (fail_cipher) {
        tneg_server(t, NEG_CIPHER_S2C, SRV_CIPHER);
        tneg_fail(t, NEG_CIPHER_S2C, EVIDENCE_INFERRED);
    }
}

static void enqueue_ok(struct store *s, struct tneg *t)
{
    assert_int_equal(store_enqueue(s, &t->n), 0);
}

/* list names of a stored list id column, e.g. "SELECT client_list FROM ..." */
static const char *list_names(sqlite3 *db, const char *id_sql, const char *param, char *buf, size_t size)
{
    char sql[1024];
    snprintf(sql, sizeof sql, "SELECT names FROM lists WHERE id = (%s)", id_sql);
    q_text(db, sql, param, param ? strlen(param) : 0, buf, size);
    return buf;
}

/* Runs fn in a child process that, when we are root, has become "nobody"
 * (root ignores file modes). Returns the child's exit status, or 77 when
 * privileges could not be dropped. */
static int run_unprivileged(int (*fn)(void *), void *arg)
{
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        if (geteuid() == 0 && (setgroups(0, NULL) < 0 || setgid(65534) < 0 || setuid(65534) < 0))
            _exit(77);
        _exit(fn(arg));
    }
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    return WEXITSTATUS(status);
}

/* ------------------------------------------------------------ tests */

static void test_create_reopen(void **state)
{
    (void)state;
    struct store *s = open_ok(g_path, 0, 0);
    assert_int_equal(store_schema_version(s), store_schema_latest());
    assert_int_equal(store_schema_latest(), store_migration_count);
    assert_true(store_schema_latest() >= 2);
    struct tneg t;
    putty(&t, "10.0.0.1", 1000);
    enqueue_ok(s, &t);
    enqueue_ok(s, &t);
    assert_int_equal(store_pending(s), 2);
    assert_int_equal(store_flush(s), 2);
    assert_int_equal(store_pending(s), 0);
    assert_int_equal(store_flush(s), 0);
    enqueue_ok(s, &t); /* committed by close */
    store_close(s);
    tneg_free(&t);

    sqlite3 *db = raw_open(g_path, SQLITE_OPEN_READONLY);
    assert_int_equal(q_int(db, "SELECT count(*) FROM negotiations", NULL), 3);
    assert_int_equal(q_int(db, "PRAGMA user_version", NULL), store_schema_latest());
    assert_int_equal(q_int(db, "PRAGMA application_id", NULL), 0x4b455857);
    char mode[16];
    q_text(db, "PRAGMA journal_mode", NULL, 0, mode, sizeof mode);
    assert_string_equal(mode, "wal");
    sqlite3_close(db);

    s = open_ok(g_path, 0, 0);
    const struct store_counts *c = store_get_counts(s);
    assert_int_equal(c->committed, 0);
    putty(&t, "10.0.0.1", 2000);
    enqueue_ok(s, &t);
    assert_int_equal(store_flush(s), 1);
    store_close(s);
    tneg_free(&t);
    db = raw_open(g_path, SQLITE_OPEN_READONLY);
    assert_int_equal(q_int(db, "SELECT count(*) FROM negotiations", NULL), 4);
    assert_int_equal(q_int(db, "SELECT count(*) FROM devices", NULL), 1);
    assert_int_equal(q_int(db, "SELECT count(*) FROM clients", NULL), 1);
    assert_int_equal(q_int(db, "SELECT last_seen FROM devices", NULL), 2000);
    char ok[16];
    q_text(db, "PRAGMA integrity_check", NULL, 0, ok, sizeof ok);
    assert_string_equal(ok, "ok");
    sqlite3_close(db);
}

/* A database at version v, built with the first v migrations as the store
 * would have (v = 0: an empty file), holding one device row when v >= 1. */
static void build_version(const char *path, int v)
{
    remove_db(path);
    if (v == 0) {
        FILE *f = fopen(path, "w");
        assert_non_null(f);
        fclose(f);
        return;
    }
    sqlite3 *db = raw_open(path, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
    raw_exec(db, "PRAGMA journal_mode = WAL");
    for (int i = 0; i < v; i++) {
        char setv[64];
        raw_exec(db, "BEGIN");
        raw_exec(db, store_migrations[i]);
        snprintf(setv, sizeof setv, "PRAGMA user_version = %d", i + 1);
        raw_exec(db, setv);
        raw_exec(db, "COMMIT");
    }
    raw_exec(db, "INSERT INTO devices (key, name, vendor, first_seen, last_seen) VALUES ('old', 'o', 'huawei', 5, 6)");
    sqlite3_close(db);
}

/* (ROWS_BY_DAY is a format: %% is %) The rows of daily that are not the GROUP BY of the negotiations rows
 * (restricted by cond), and the other way round: 0 when they agree. */
#define ROWS_BY_DAY                                                                                                  \
    "SELECT failed, (time - ((time %% 86400) + 86400) %% 86400) / 86400 AS day, device_id, ifnull(client_id, 0),"     \
    " ifnull(category, ''), ifnull(mismatch, ''), ifnull(client_list, 0), count(*), min(time), max(time)"           \
    " FROM negotiations GROUP BY 1, 2, 3, 4, 5, 6, 7"
static int64_t daily_disagrees(sqlite3 *db, const char *cond)
{
    char sql[2048];
    snprintf(sql, sizeof sql,
             "SELECT (SELECT count(*) FROM (SELECT * FROM (" ROWS_BY_DAY ") WHERE %s EXCEPT"
             " SELECT * FROM daily WHERE %s)) + (SELECT count(*) FROM (SELECT * FROM daily WHERE %s EXCEPT"
             " SELECT * FROM (" ROWS_BY_DAY ") WHERE %s))",
             cond, cond, cond, cond);
    return q_int(db, sql, NULL);
}

/* negotiation i of a mixed stream over several days: successes and
 * failures, known and unknown clients, classified or not, times before
 * 1970 too */
static void mixed(struct tneg *t, int i, char *dev, size_t devsize, const struct catalogue_match *m)
{
    snprintf(dev, devsize, "dev-%d", i % 7);
    int64_t time = -86400 + (int64_t)i * 997 % (9 * 86400);
    if (i % 5 == 0) {
        putty(t, dev, time); /* a kex failure */
        t->n.match = i % 10 ? m : NULL;
    } else if (i % 11 == 0) {
        tneg_init(t, dev, NULL, NULL, time); /* nothing known of the client */
        tneg_client(t, NEG_CIPHER_C2S, "3des-cbc");
        tneg_server(t, NEG_CIPHER_C2S, SRV_CIPHER);
        tneg_fail(t, NEG_CIPHER_C2S, EVIDENCE_INFERRED);
    } else {
        openssh(t, dev, time, i % 13 == 0);
    }
}

static void test_daily_counts(void **state)
{
    (void)state;
    struct store *s = open_ok(g_path, 0, 0);
    struct catalogue_match m = {.id = "kex-sha1-only"};
    char dev[32];
    /* several batches, so rows of the same day are added to */
    for (int i = 0; i < 3000; i++) {
        struct tneg t;
        mixed(&t, i, dev, sizeof dev, &m);
        enqueue_ok(s, &t);
        tneg_free(&t);
        if (i % 700 == 699)
            assert_true(store_flush(s) > 0);
    }
    assert_true(store_flush(s) > 0);
    sqlite3 *db = raw_open(g_path, SQLITE_OPEN_READONLY);
    /* failures are counted as written, successes only once their rows go */
    assert_int_equal(q_int(db, "SELECT sum(n) FROM daily", NULL),
                     q_int(db, "SELECT count(*) FROM negotiations WHERE failed = 1", NULL));
    assert_int_equal(q_int(db, "SELECT count(*) FROM daily WHERE failed = 0", NULL), 0);
    assert_true(q_int(db, "SELECT count(*) FROM daily", NULL) > 50);
    assert_true(q_int(db, "SELECT count(*) FROM daily WHERE client_id = 0 AND failed = 1", NULL) > 0);
    assert_true(q_int(db, "SELECT count(*) FROM daily WHERE mismatch = 'kex-sha1-only'", NULL) > 0);
    assert_true(q_int(db, "SELECT count(*) FROM daily WHERE day = -1", NULL) > 0);
    assert_int_equal(daily_disagrees(db, "failed = 1"), 0);
    /* the success rows of days 2 and 3 grouped as daily would, before
     * retention counts them */
    raw_exec(db, "CREATE TEMP TABLE ok_before AS SELECT 0, (time - ((time % 86400) + 86400) % 86400) / 86400 AS day,"
                 " device_id, ifnull(client_id, 0), ifnull(category, ''), ifnull(mismatch, ''), ifnull(client_list, 0),"
                 " count(*) AS n, min(time), max(time) FROM negotiations WHERE failed = 0"
                 " AND time >= 2 * 86400 AND time < 4 * 86400 GROUP BY 1, 2, 3, 4, 5, 6, 7");
    assert_true(q_int(db, "SELECT sum(n) FROM temp.ok_before", NULL) > 100);

    /* retention: successes older than day 4 go (rows only), failures older
     * than day 2 (rows and counts); the cut-offs fall within their days */
    int r, steps = 0;
    while ((r = store_retain(s, 2 * 86400 + 500, 4 * 86400 + 7, 100)) > 0)
        assert_true(++steps < 1000);
    assert_int_equal(r, 0);
    assert_int_equal(q_int(db, "SELECT count(*) FROM negotiations WHERE failed = 0 AND time < 4 * 86400", NULL), 0);
    assert_true(q_int(db, "SELECT count(*) FROM negotiations WHERE failed = 0 AND time >= 4 * 86400", NULL) > 0);
    assert_int_equal(q_int(db, "SELECT count(*) FROM negotiations WHERE time < 2 * 86400", NULL), 0);
    assert_int_equal(q_int(db, "SELECT count(*) FROM daily WHERE day < 2", NULL), 0);
    /* the successes of days 2 and 3 live on as counts only, exactly those
     * rows' (counted as they went, in steps of 100); days 4 on are rows */
    assert_int_equal(q_int(db, "SELECT count(*) FROM (SELECT * FROM daily WHERE failed = 0 EXCEPT"
                               " SELECT * FROM temp.ok_before)", NULL), 0);
    assert_int_equal(q_int(db, "SELECT count(*) FROM (SELECT * FROM temp.ok_before EXCEPT"
                               " SELECT * FROM daily WHERE failed = 0)", NULL), 0);
    assert_int_equal(daily_disagrees(db, "failed = 1"), 0);
    char buf[256];
    q_text(db, "PRAGMA foreign_key_check", NULL, 0, buf, sizeof buf);
    assert_string_equal(buf, "<none>");
    sqlite3_close(db);
    store_close(s);
}

/* The rows of monthly that are not daily's failures grouped by UTC month,
 * and the other way round: 0 when they agree. */
#define DAILY_BY_MONTH                                                                                               \
    "SELECT CAST(julianday(day * 86400, 'unixepoch', 'start of month') - 2440587.5 AS INTEGER), device_id,"          \
    " client_id, category, mismatch, client_list, sum(n), min(first), max(last) FROM daily WHERE failed = 1"        \
    " GROUP BY 1, 2, 3, 4, 5, 6"
static int64_t monthly_disagrees(sqlite3 *db)
{
    return q_int(db,
                 "SELECT (SELECT count(*) FROM (" DAILY_BY_MONTH " EXCEPT SELECT * FROM monthly))"
                 " + (SELECT count(*) FROM (SELECT * FROM monthly EXCEPT " DAILY_BY_MONTH "))",
                 NULL);
}

/* Appends a query's rows to a string (arg: struct answer). */
struct answer {
    char buf[16384];
    size_t len;
    int rows;
};

static void answer_reset(struct answer *a)
{
    a->len = 0;
    a->rows = 0;
    a->buf[0] = '\0';
}

/* Appends a row to a: each value as "name=value;", or "value;" when names
 * is NULL. */
static void answer_append(struct answer *a, size_t ncol, const char *const *names, const struct store_value *v)
{
    for (size_t i = 0; i < ncol; i++) {
        int n;
        if (names) {
            n = snprintf(a->buf + a->len, sizeof a->buf - a->len, "%s=", names[i]);
            a->len += (size_t)n;
        }
        if (v[i].is_null)
            n = snprintf(a->buf + a->len, sizeof a->buf - a->len, "null;");
        else if (v[i].is_int)
            n = snprintf(a->buf + a->len, sizeof a->buf - a->len, "%lld;", (long long)v[i].num);
        else
            n = snprintf(a->buf + a->len, sizeof a->buf - a->len, "%s;", v[i].text);
        a->len += (size_t)n;
        assert_true(a->len < sizeof a->buf - 1);
    }
    a->rows++;
}

static int answer_row(void *arg, size_t ncol, const char *const *names, const struct store_value *v)
{
    answer_append(arg, ncol, names, v);
    return 0;
}

/* Every failures question over [from, until) answers the same from monthly,
 * daily and rows, from daily and rows, and from the rows alone. */
static void same_answers(struct store *s, int64_t from, int64_t until)
{
    for (int by = STORE_BY_CLIENT; by <= STORE_BY_MISMATCH; by++) {
        for (int dev = 0; dev < 2; dev++) {
            struct store_failures_query q = {.by = (enum store_by)by, .from = from, .until = until,
                                             .device = dev ? "dev-3" : NULL};
            static struct answer a[3];
            char err[256];
            for (int mode = 0; mode < 3; mode++) {
                answer_reset(&a[mode]);
                store_rows_only(s, mode == 2);
                store_days_only(s, mode == 1);
                assert_true(store_failures(s, &q, answer_row, &a[mode], err, sizeof err) >= 0);
            }
            store_rows_only(s, false);
            store_days_only(s, false);
            if (strcmp(a[0].buf, a[2].buf) != 0 || strcmp(a[1].buf, a[2].buf) != 0)
                fail_msg("by %d device %d window [%lld, %lld): months '%s' days '%s' rows '%s'", by, dev,
                         (long long)from, (long long)until, a[0].buf, a[1].buf, a[2].buf);
        }
    }
}

/* Appends a row's values to a string (arg: struct answer), without names. */
static int values_row(void *arg, size_t ncol, const char *const *names, const struct store_value *v)
{
    (void)names;
    answer_append(arg, ncol, NULL, v);
    return 0;
}

/* The failures timeline of [from, until) per day, week, month and the
 * whole window, by mismatch and by client type, equals the rows' own,
 * grouped by SQLite's date functions (weeks from Monday). Returns the
 * number of rows compared. */
static int same_timeline(struct store *s, sqlite3 *db, int64_t from, int64_t until)
{
    static const struct {
        enum store_bucket bucket;
        const char *expr;
    } b[] = {
        {STORE_BUCKET_DAY, "date(n.time, 'unixepoch')"},
        {STORE_BUCKET_WEEK, "date(n.time, 'unixepoch', '-6 days', 'weekday 1')"},
        {STORE_BUCKET_MONTH, "strftime('%Y-%m', n.time, 'unixepoch')"},
        {STORE_BUCKET_WINDOW, "NULL"},
    };
    int rows = 0;
    for (size_t i = 0; i < sizeof b / sizeof b[0]; i++) {
        for (int series = STORE_SERIES_MISMATCH; series <= STORE_SERIES_CLIENT; series++) {
            static struct answer got, want;
            answer_reset(&got);
            answer_reset(&want);
            char err[256], sql[600];
            assert_true(store_failures_timeline(s, from, until, b[i].bucket, (enum store_series)series, values_row,
                                                &got, err, sizeof err) >= 0);
            if (series == STORE_SERIES_MISMATCH)
                snprintf(sql, sizeof sql,
                         "SELECT %s AS b, n.mismatch, count(*) AS k FROM negotiations n WHERE n.failed = 1"
                         " AND n.time >= ?1 AND n.time < ?2 GROUP BY b, n.mismatch ORDER BY b, k DESC, 2",
                         b[i].expr);
            else
                snprintf(sql, sizeof sql,
                         "SELECT %s AS b, c.software, c.fingerprint, count(*) AS k FROM negotiations n"
                         " LEFT JOIN clients c ON c.id = n.client_id WHERE n.failed = 1 AND n.time >= ?1"
                         " AND n.time < ?2 GROUP BY b, n.client_id ORDER BY b, k DESC, 2, 3",
                         b[i].expr);
            sqlite3_stmt *st;
            assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
            sqlite3_bind_int64(st, 1, from);
            sqlite3_bind_int64(st, 2, until);
            while (sqlite3_step(st) == SQLITE_ROW) {
                for (int c = 0; c < sqlite3_column_count(st); c++) {
                    const unsigned char *t = sqlite3_column_text(st, c);
                    want.len += (size_t)snprintf(want.buf + want.len, sizeof want.buf - want.len, "%s;",
                                                 t ? (const char *)t : "null");
                    assert_true(want.len < sizeof want.buf - 1);
                }
                want.rows++;
            }
            sqlite3_finalize(st);
            if (strcmp(got.buf, want.buf) != 0)
                fail_msg("timeline bucket %d series %d window [%lld, %lld): store '%s' rows '%s'", (int)b[i].bucket,
                         series, (long long)from, (long long)until, got.buf, want.buf);
            rows += want.rows;
        }
    }
    return rows;
}

/* The plan of one device's failures question: the count tables read by
 * seeks of their primary keys (no device index since schema 10), the rows
 * by failures_device, nothing scanned. */
static void device_plan_seeks(struct store *s)
{
    struct store_failures_query q = {.by = STORE_BY_MISMATCH, .from = -31 * 86400, .until = 59 * 86400,
                                     .device = "dev-3"};
    static struct answer a;
    char err[256];
    answer_reset(&a);
    assert_true(store_failures_plan(s, &q, answer_row, &a, err, sizeof err) > 0);
    if (!strstr(a.buf, "SEARCH monthly USING PRIMARY KEY (month=? AND device_id=?)") ||
        !strstr(a.buf, "SEARCH monthly USING PRIMARY KEY (month>?)") ||
        !strstr(a.buf, "SEARCH daily USING PRIMARY KEY (failed=? AND day=? AND device_id=?)") ||
        !strstr(a.buf, "SEARCH daily USING PRIMARY KEY (failed=? AND day>?)") ||
        !strstr(a.buf, "SEARCH negotiations USING INDEX failures_device (device_id=? AND time>? AND time<?)") ||
        strstr(a.buf, "SCAN daily") || strstr(a.buf, "SCAN monthly") || strstr(a.buf, "SCAN negotiations"))
        fail_msg("plan: %s", a.buf);
}

/* Monthly counts: the writer keeps them equal to daily's failures by month
 * over several batches and months (before 1970 too), queries answer from
 * them as from the rows over windows of whole months and windows that cut
 * through months, and after retention has taken part of a month (which is
 * then read from daily) and whole months (whose counts go). */
static void test_monthly_counts(void **state)
{
    (void)state;
    struct store *s = open_ok(g_path, 0, 0);
    struct catalogue_match m = {.id = "kex-sha1-only"};
    char dev[32];
    /* day -40 (1969-11-22) to day 60 (1970-03-02) */
    for (int i = 0; i < 4000; i++) {
        struct tneg t;
        mixed(&t, i, dev, sizeof dev, &m);
        t.n.time = -40 * 86400 + (int64_t)i * 9973 % (100 * 86400);
        enqueue_ok(s, &t);
        tneg_free(&t);
        if (i % 900 == 899)
            assert_true(store_flush(s) > 0);
    }
    assert_true(store_flush(s) > 0);
    sqlite3 *db = raw_open(g_path, SQLITE_OPEN_READONLY);
    assert_int_equal(q_int(db, "SELECT count(DISTINCT month) FROM monthly", NULL), 5); /* Nov to Mar */
    assert_int_equal(q_int(db, "SELECT min(month) FROM monthly", NULL), -61); /* 1969-11-01 */
    assert_int_equal(monthly_disagrees(db), 0);
    assert_int_equal(q_int(db, "SELECT sum(n) FROM monthly", NULL),
                     q_int(db, "SELECT count(*) FROM negotiations WHERE failed = 1", NULL));
    const int64_t D = 86400;
    const int64_t windows[][2] = {
        {-31 * D, 0},                 /* December 1969, whole */
        {-31 * D, 59 * D},            /* December to February, whole months */
        {-20 * D + 123, 45 * D + 77}, /* cuts through December and February */
        {-61 * D, 90 * D},            /* everything */
        {3 * D, 31 * D + 1},          /* within January, a second past it */
        {-31 * D + 1, 31 * D},        /* December less a second, January */
        {5 * D + 7, 5 * D + 9000},    /* no whole day */
        /* the tool's --since alone and --until alone: open ends (a
         * device's counts are sought month by month and day by day among
         * those the tables have, never over the window's days) */
        {-20 * D + 123, INT64_MAX},
        {INT64_MIN, 45 * D + 77},
        {INT64_MIN, INT64_MAX},
    };
    int compared = 0;
    for (size_t i = 0; i < sizeof windows / sizeof windows[0]; i++) {
        same_answers(s, windows[i][0], windows[i][1]);
        compared += same_timeline(s, db, windows[i][0], windows[i][1]);
    }
    assert_true(compared > 500);
    device_plan_seeks(s);

    /* retention to day 10 + 500 s (January 1970): November and December go
     * from monthly, January stays there but is read from daily */
    int r, steps = 0;
    while ((r = store_retain(s, 10 * D + 500, 10 * D + 500, 100)) > 0)
        assert_true(++steps < 1000);
    assert_int_equal(r, 0);
    assert_int_equal(q_int(db, "SELECT count(*) FROM monthly WHERE month < 0", NULL), 0);
    assert_true(q_int(db, "SELECT count(*) FROM monthly WHERE month = 0", NULL) > 0);
    assert_int_equal(q_int(db, "SELECT min(day) FROM daily", NULL), 10);
    for (size_t i = 0; i < sizeof windows / sizeof windows[0]; i++) {
        same_answers(s, windows[i][0], windows[i][1]);
        same_timeline(s, db, windows[i][0], windows[i][1]);
    }
    same_answers(s, 0, 31 * D);
    sqlite3_close(db);
    store_close(s);
}

/* A database of the version before daily, holding negotiations written by
 * that version's store, gets its counts from the migration. */
static void test_daily_migration(void **state)
{
    (void)state;
    struct store *s = open_ok(g_path, 0, 0);
    struct catalogue_match m = {.id = "cipher-cbc-only"};
    char dev[32];
    for (int i = 0; i < 2000; i++) {
        struct tneg t;
        mixed(&t, i, dev, sizeof dev, &m);
        enqueue_ok(s, &t);
        tneg_free(&t);
    }
    while (store_pending(s))
        assert_true(store_flush(s) > 0);
    store_close(s);
    /* back to the version before daily: no counts, and without what the
     * migrations after it add (each one after daily must be undone here) */
    int daily = -1;
    for (int i = 0; i < store_migration_count; i++)
        if (strstr(store_migrations[i], "CREATE TABLE daily"))
            daily = i;
    assert_true(daily >= 0);
    /* 008 outbox.peer and 009 monthly, undone below; 010 dropped indexes
     * of daily and monthly, which go with the tables */
    assert_int_equal(store_migration_count, daily + 4);
    sqlite3 *db = raw_open(g_path, SQLITE_OPEN_READWRITE);
    raw_exec(db, "DROP TABLE monthly");
    raw_exec(db, "DROP TABLE daily");
    raw_exec(db, "ALTER TABLE outbox DROP COLUMN peer");
    char setv[64];
    snprintf(setv, sizeof setv, "PRAGMA user_version = %d", daily);
    raw_exec(db, setv);
    sqlite3_close(db);

    s = open_ok(g_path, 0, 0);
    assert_int_equal(store_schema_version(s), store_migration_count);
    store_close(s);
    db = raw_open(g_path, SQLITE_OPEN_READONLY);
    /* 007 counted every row; 009 takes out the successes still stored */
    assert_int_equal(q_int(db, "SELECT sum(n) FROM daily", NULL),
                     q_int(db, "SELECT count(*) FROM negotiations WHERE failed = 1", NULL));
    assert_int_equal(q_int(db, "SELECT count(*) FROM daily WHERE failed = 0", NULL), 0);
    assert_int_equal(daily_disagrees(db, "failed = 1"), 0);
    assert_true(q_int(db, "SELECT count(*) FROM monthly", NULL) > 0);
    assert_int_equal(monthly_disagrees(db), 0);
    /* 010: the counts have no device index (the writer's cost per key) */
    assert_int_equal(q_int(db, "SELECT count(*) FROM sqlite_master WHERE tbl_name IN ('daily', 'monthly')"
                               " AND type = 'index' AND sql IS NOT NULL", NULL), 0);
    sqlite3_close(db);
}

static void test_migrations_from_every_version(void **state)
{
    (void)state;
    for (int v = 0; v < store_migration_count; v++) {
        build_version(g_path, v);
        struct store *s = open_ok(g_path, 0, 0);
        assert_int_equal(store_schema_version(s), store_migration_count);
        struct tneg t;
        putty(&t, "old", 100);
        enqueue_ok(s, &t);
        assert_int_equal(store_flush(s), 1);
        store_close(s);
        tneg_free(&t);

        sqlite3 *db = raw_open(g_path, SQLITE_OPEN_READONLY);
        assert_int_equal(q_int(db, "PRAGMA user_version", NULL), store_migration_count);
        /* the row written at version v survived, and was brought up to date */
        assert_int_equal(q_int(db, "SELECT count(*) FROM devices", NULL), 1);
        assert_int_equal(q_int(db, "SELECT first_seen FROM devices WHERE key = 'old'", NULL), v ? 5 : 100);
        assert_int_equal(q_int(db, "SELECT count(*) FROM negotiations", NULL), 1);
        /* what the migrations add is there */
        assert_int_equal(
            q_int(db, "SELECT count(*) FROM sqlite_master WHERE name IN ('devices_last_seen', 'clients_last_seen')",
                  NULL),
            2);
        assert_int_equal(q_int(db, "SELECT count(*) FROM sqlite_master WHERE name IN ('probes', 'profiles_list')",
                               NULL),
                         2);
        /* and what they take away (010) */
        assert_int_equal(q_int(db, "SELECT count(*) FROM sqlite_master WHERE name IN ('daily_device', 'monthly_device')",
                               NULL),
                         0);
        sqlite3_close(db);
        /* the database of a version opens read-only only once upgraded */
        struct store *r = open_ok(g_path, STORE_READONLY, 0);
        store_close(r);
    }
}

static void test_migration_failure_is_atomic(void **state)
{
    (void)state;
    build_version(g_path, 1);
    /* something in the way of migration 2 */
    sqlite3 *db = raw_open(g_path, SQLITE_OPEN_READWRITE);
    raw_exec(db, "CREATE INDEX devices_last_seen ON devices (name)");
    sqlite3_close(db);
    open_fails(g_path, 0, g_path, "migration 002-last-seen.sql failed", "unchanged at version 1", NULL);
    db = raw_open(g_path, SQLITE_OPEN_READONLY);
    assert_int_equal(q_int(db, "PRAGMA user_version", NULL), 1);
    assert_int_equal(q_int(db, "SELECT count(*) FROM sqlite_master WHERE name = 'clients_last_seen'", NULL), 0);
    sqlite3_close(db);
}

static void test_newer_schema_refused(void **state)
{
    (void)state;
    build_version(g_path, store_migration_count);
    sqlite3 *db = raw_open(g_path, SQLITE_OPEN_READWRITE);
    char sql[64], want[128];
    snprintf(sql, sizeof sql, "PRAGMA user_version = %d", store_migration_count + 5);
    raw_exec(db, sql);
    sqlite3_close(db);
    snprintf(want, sizeof want, "schema version %d is newer than this kexwatch (%d)", store_migration_count + 5,
             store_migration_count);
    open_fails(g_path, 0, g_path, want, "upgrade kexwatch or use another database", NULL);
    open_fails(g_path, STORE_READONLY, want, NULL);
    /* refused without being touched */
    db = raw_open(g_path, SQLITE_OPEN_READONLY);
    assert_int_equal(q_int(db, "PRAGMA user_version", NULL), store_migration_count + 5);
    sqlite3_close(db);
}

static void test_readonly_older_or_missing(void **state)
{
    (void)state;
    open_fails(g_path, STORE_READONLY, g_path, "no database", NULL);
    assert_int_equal(access(g_path, F_OK), -1); /* not created */
    build_version(g_path, 1);
    char want[128];
    snprintf(want, sizeof want, "schema version 1 is older than this kexwatch (%d)", store_migration_count);
    open_fails(g_path, STORE_READONLY, want, "start kexwatchd", NULL);
    sqlite3 *db = raw_open(g_path, SQLITE_OPEN_READONLY);
    assert_int_equal(q_int(db, "PRAGMA user_version", NULL), 1); /* never migrated */
    sqlite3_close(db);
    build_version(g_path, 0);
    open_fails(g_path, STORE_READONLY, "not a kexwatch database", NULL);
}

static void test_junk_refused(void **state)
{
    (void)state;
    FILE *f = fopen(g_path, "wb");
    assert_non_null(f);
    for (int i = 0; i < 4096; i++)
        fputc((i * 7919 + 13) & 0xff, f);
    fclose(f);
    open_fails(g_path, 0, g_path, "not a SQLite database", "move it aside and restart", NULL);
    open_fails(g_path, STORE_READONLY, "not a SQLite database", NULL);
    /* not touched */
    struct stat sb;
    assert_int_equal(stat(g_path, &sb), 0);
    assert_int_equal(sb.st_size, 4096);
}

static void test_corrupt_refused(void **state)
{
    (void)state;
    struct store *s = open_ok(g_path, 0, 0);
    struct tneg t;
    for (int i = 0; i < 2000; i++) {
        char dev[32];
        snprintf(dev, sizeof dev, "10.1.%d.%d", i / 250, i % 250);
        putty(&t, dev, 1000 + i);
        t.n.reason = "Unable to negotiate: padding padding padding padding padding padding padding";
        enqueue_ok(s, &t);
        tneg_free(&t);
    }
    assert_int_equal(store_flush(s), 2000);
    store_close(s);
    sqlite3 *db = raw_open(g_path, SQLITE_OPEN_READWRITE);
    raw_exec(db, "PRAGMA wal_checkpoint(TRUNCATE)");
    raw_exec(db, "PRAGMA journal_mode = DELETE");
    int64_t pages = q_int(db, "PRAGMA page_count", NULL), psize = q_int(db, "PRAGMA page_size", NULL);
    sqlite3_close(db);
    assert_true(pages > 20);
    /* scribble over pages in the middle of the file, header left intact */
    int fd = open(g_path, O_WRONLY);
    assert_true(fd >= 0);
    char junk[512];
    for (size_t i = 0; i < sizeof junk; i++)
        junk[i] = (char)(i * 31 + 7);
    for (int64_t p = 2; p < pages; p += 3)
        assert_int_equal(pwrite(fd, junk, sizeof junk, (off_t)(p * psize + 8)), (ssize_t)sizeof junk);
    close(fd);
    open_fails(g_path, 0, g_path, "database is corrupt", "move it aside and restart to start a new one", NULL);
}

static void test_foreign_database_refused(void **state)
{
    (void)state;
    sqlite3 *db = raw_open(g_path, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
    raw_exec(db, "CREATE TABLE mail (id INTEGER PRIMARY KEY, body TEXT)");
    sqlite3_close(db);
    open_fails(g_path, 0, "not a kexwatch database", NULL);
    db = raw_open(g_path, SQLITE_OPEN_READWRITE);
    raw_exec(db, "PRAGMA application_id = 1234");
    sqlite3_close(db);
    open_fails(g_path, 0, "not a kexwatch database", "application_id", NULL);
}

static char g_err[1024];

static int try_open(void *arg)
{
    struct store *s = NULL;
    if (store_open(arg, 0, 0, &s, g_err, sizeof g_err) == 0) {
        store_close(s);
        return 1;
    }
    fprintf(stderr, "%s\n", g_err);
    /* the message goes back through a file beside the database */
    char p[4300];
    snprintf(p, sizeof p, "%s/msg", g_dir);
    FILE *f = fopen(p, "w");
    if (!f)
        return 2;
    fputs(g_err, f);
    fclose(f);
    return 0;
}

static void child_message(char *buf, size_t size)
{
    char p[4300];
    snprintf(p, sizeof p, "%s/msg", g_dir);
    FILE *f = fopen(p, "r");
    assert_non_null(f);
    size_t n = fread(buf, 1, size - 1, f);
    buf[n] = '\0';
    fclose(f);
    unlink(p);
}

static void test_readonly_directory_refused(void **state)
{
    (void)state;
    char dir[4200], path[4300], msg[1024];
    snprintf(dir, sizeof dir, "%s/ro", g_dir);
    assert_int_equal(mkdir(dir, 0755), 0);
    snprintf(path, sizeof path, "%s/kw.db", dir);
    /* g_dir must be writable by the child for its message */
    chmod(g_dir, 0777);
    chmod(dir, 0555);
    int rc = run_unprivileged(try_open, path);
    if (rc != 77) {
        assert_int_equal(rc, 0);
        child_message(msg, sizeof msg);
        if (!strstr(msg, "cannot create: read-only directory") || !strstr(msg, dir))
            fail_msg("message: %s", msg);
        assert_int_equal(access(path, F_OK), -1);
    }

    /* an existing database in a directory that became read-only */
    chmod(dir, 0777);
    struct store *s = open_ok(path, 0, 0);
    store_close(s);
    chmod(path, 0666);
    chmod(dir, 0555);
    rc = run_unprivileged(try_open, path);
    if (rc != 77) {
        assert_int_equal(rc, 0);
        child_message(msg, sizeof msg);
        if (!strstr(msg, "read-only directory") || !strstr(msg, "-wal"))
            fail_msg("message: %s", msg);
    }
    chmod(dir, 0755);
    chmod(g_dir, 0755);
    remove_db(path);
    rmdir(dir);
    if (rc == 77)
        skip();
}

static void test_readonly_file_refused(void **state)
{
    (void)state;
    char msg[1024];
    struct store *s = open_ok(g_path, 0, 0);
    store_close(s);
    chmod(g_path, 0444);
    chmod(g_dir, 0777);
    int rc = run_unprivileged(try_open, g_path);
    chmod(g_dir, 0755);
    if (rc == 77) {
        chmod(g_path, 0644);
        skip();
    }
    assert_int_equal(rc, 0);
    child_message(msg, sizeof msg);
    if (!strstr(msg, "read-only") || !strstr(msg, g_path))
        fail_msg("message: %s", msg);
    /* the query tool may still read it */
    s = open_ok(g_path, STORE_READONLY, 0);
    store_close(s);
    chmod(g_path, 0644);
}

static void test_round_trip(void **state)
{
    (void)state;
    struct store *s = open_ok(g_path, 0, 0);
    struct tneg a, b, c, d, e, f;
    putty(&a, "10.0.0.1", 1000);
    a.n.device_name = "core-sw-1";
    a.n.vendor = "huawei";
    a.n.peer = "192.0.2.10";
    a.n.port = 51022;
    a.n.reason = "no matching key exchange method found";
    putty(&b, "10.0.0.2", 1100);
    b.n.evidence = EVIDENCE_INFERRED;
    openssh(&c, "10.0.0.1", 900, false); /* a success, earlier than a */
    c.n.peer = "2001:db8::1";
    openssh(&d, "10.0.0.2", 1200, true);
    /* software only, and a cut (partial) kex list */
    tneg_init(&e, "10.0.0.2", "SSH-2.0-libssh_0.9.6", NULL, 1300);
    e.c[NEG_KEX] = mklist("curve25519-sha256,diffie-hellman-group14-sha1,diffie-hel", NEGOTIATE_PARSE_CUT);
    e.n.client[NEG_KEX] = e.c[NEG_KEX];
    tneg_server(&e, NEG_KEX, SRV_KEX);
    tneg_fail(&e, NEG_KEX, EVIDENCE_INFERRED);
    /* nothing known of the client */
    tneg_init(&f, "10.0.0.3", NULL, NULL, 1400);
    f.n.failed = true;
    f.n.category = ALGO_MAC; /* category without a slot (Cisco-style) */
    f.n.evidence = EVIDENCE_EXPLICIT;

    for (int i = 0; i < 10; i++) {
        enqueue_ok(s, &a);
        enqueue_ok(s, &b);
        enqueue_ok(s, &c);
        enqueue_ok(s, &d);
    }
    enqueue_ok(s, &e);
    enqueue_ok(s, &f);
    assert_int_equal(store_flush(s), 42);
    const struct store_counts *cnt = store_get_counts(s);
    assert_int_equal(cnt->queued, 42);
    assert_int_equal(cnt->committed, 42);
    assert_int_equal(cnt->batches, 1);
    assert_int_equal(cnt->errors, 0);

    sqlite3 *db = raw_open(g_path, SQLITE_OPEN_READONLY);
    char buf[1024];
    assert_int_equal(q_int(db, "SELECT count(*) FROM negotiations", NULL), 42);
    assert_int_equal(q_int(db, "SELECT count(*) FROM negotiations WHERE failed = 1", NULL), 32);
    assert_int_equal(q_int(db, "SELECT count(*) FROM devices", NULL), 3);
    q_text(db, "SELECT name || '/' || vendor FROM devices WHERE key = ?", "10.0.0.1", 8, buf, sizeof buf);
    assert_string_equal(buf, "core-sw-1/huawei");
    assert_int_equal(q_int(db, "SELECT first_seen FROM devices WHERE key = ?", "10.0.0.1"), 900);
    assert_int_equal(q_int(db, "SELECT last_seen FROM devices WHERE key = ?", "10.0.0.1"), 1000);
    assert_int_equal(q_int(db, "SELECT last_seen FROM devices WHERE key = ?", "10.0.0.2"), 1300);
    q_text(db, "SELECT name FROM devices WHERE key = ?", "10.0.0.2", 8, buf, sizeof buf);
    assert_string_equal(buf, "<NULL>");

    /* client types: PuTTY, OpenSSH, libssh (software only); f has none */
    assert_int_equal(q_int(db, "SELECT count(*) FROM clients", NULL), 3);
    assert_int_equal(q_int(db, "SELECT count(*) FROM negotiations WHERE client_id IS NULL", NULL), 1);
    assert_int_equal(q_int(db, "SELECT first_seen FROM clients WHERE fingerprint = ?", PUTTY_FP), 1000);
    assert_int_equal(q_int(db, "SELECT last_seen FROM clients WHERE fingerprint = ?", PUTTY_FP), 1100);
    assert_string_equal(
        list_names(db, "SELECT kex_list FROM clients WHERE fingerprint = ?1", PUTTY_FP, buf, sizeof buf), PUTTY_KEX);
    assert_string_equal(
        list_names(db, "SELECT hostkey_list FROM clients WHERE fingerprint = ?1", PUTTY_FP, buf, sizeof buf), PUTTY_HK);
    assert_string_equal(
        list_names(db, "SELECT cipher_list FROM clients WHERE fingerprint = ?1", PUTTY_FP, buf, sizeof buf),
        PUTTY_CIPHER);
    assert_string_equal(
        list_names(db, "SELECT mac_list FROM clients WHERE fingerprint = ?1", PUTTY_FP, buf, sizeof buf), PUTTY_MAC);
    assert_string_equal(
        list_names(db, "SELECT compression_list FROM clients WHERE fingerprint = ?1", PUTTY_FP, buf, sizeof buf),
        "none");
    assert_string_equal(
        list_names(db, "SELECT kex_list FROM clients WHERE software = ?1", "SSH-2.0-libssh_0.9.6", buf, sizeof buf),
        "curve25519-sha256,diffie-hellman-group14-sha1");
    assert_int_equal(q_int(db, "SELECT partial FROM lists WHERE id = (SELECT kex_list FROM clients WHERE software = ?)",
                           "SSH-2.0-libssh_0.9.6"),
                     1);
    assert_int_equal(q_int(db, "SELECT cipher_list IS NULL FROM clients WHERE software = ?", "SSH-2.0-libssh_0.9.6"),
                     1);

    /* every distinct list once: PuTTY 5 (cipher twice, mac twice, comp),
     * OpenSSH 5, the server's kex and cipher, libssh's partial kex */
    assert_int_equal(q_int(db, "SELECT count(*) FROM lists", NULL), 13);
    assert_int_equal(q_int(db,
                           "SELECT count(*) FROM (SELECT names FROM lists GROUP BY names, partial HAVING "
                           "count(*) > 1)",
                           NULL),
                     0);
    assert_int_equal(
        q_int(db, "SELECT count(*) FROM list_items WHERE list_id = (SELECT id FROM lists WHERE names = ?)", OSSH_KEX),
        3);
    q_text(db,
           "SELECT group_concat(name, '|') FROM (SELECT name FROM list_items WHERE list_id = (SELECT id FROM lists "
           "WHERE names = ?) ORDER BY pos)",
           PUTTY_CIPHER, strlen(PUTTY_CIPHER), buf, sizeof buf);
    assert_string_equal(buf, "aes256-cbc|aes128-cbc|3des-cbc");

    /* the failure rows */
    q_text(db,
           "SELECT category || '/' || ifnull(direction, 'NULL') || '/' || evidence || '/' || address || '/' || "
           "port || '/' || reason FROM negotiations WHERE time = 1000 LIMIT 1",
           NULL, 0, buf, sizeof buf);
    assert_string_equal(buf, "kex/NULL/explicit/192.0.2.10/51022/no matching key exchange method found");
    assert_string_equal(
        list_names(db, "SELECT client_list FROM negotiations WHERE time = 1000 LIMIT 1", NULL, buf, sizeof buf),
        PUTTY_KEX);
    assert_string_equal(
        list_names(db, "SELECT server_list FROM negotiations WHERE time = 1000 LIMIT 1", NULL, buf, sizeof buf),
        SRV_KEX);
    q_text(db, "SELECT evidence FROM negotiations WHERE time = 1100 LIMIT 1", NULL, 0, buf, sizeof buf);
    assert_string_equal(buf, "inferred");
    q_text(db, "SELECT category || '/' || direction || '/' || evidence FROM negotiations WHERE time = 1200 LIMIT 1",
           NULL, 0, buf, sizeof buf);
    assert_string_equal(buf, "cipher/s2c/inferred");
    assert_string_equal(
        list_names(db, "SELECT client_list FROM negotiations WHERE time = 1200 LIMIT 1", NULL, buf, sizeof buf),
        OSSH_CIPHER);
    assert_string_equal(
        list_names(db, "SELECT server_list FROM negotiations WHERE time = 1200 LIMIT 1", NULL, buf, sizeof buf),
        SRV_CIPHER);
    q_text(db,
           "SELECT category || '/' || ifnull(direction, 'NULL') || '/' || ifnull(client_list, 'NULL') FROM "
           "negotiations WHERE time = 1400",
           NULL, 0, buf, sizeof buf);
    assert_string_equal(buf, "mac/NULL/NULL");
    /* the success row: outcome fields empty */
    assert_int_equal(q_int(db,
                           "SELECT count(*) FROM negotiations WHERE time = 900 AND failed = 0 AND category IS NULL "
                           "AND direction IS NULL AND evidence IS NULL AND client_list IS NULL AND server_list IS "
                           "NULL AND port IS NULL AND mismatch IS NULL AND address = '2001:db8::1'",
                           NULL),
                     10);
    sqlite3_close(db);
    store_close(s);

    /* a second run with cold caches finds the same rows instead of adding */
    s = open_ok(g_path, 0, 0);
    enqueue_ok(s, &a);
    enqueue_ok(s, &d);
    enqueue_ok(s, &e);
    /* the libssh client type is now seen with its cipher list too */
    tneg_client(&e, NEG_CIPHER_C2S, OSSH_CIPHER);
    e.n.time = 1500;
    enqueue_ok(s, &e);
    assert_int_equal(store_flush(s), 4);
    store_close(s);
    db = raw_open(g_path, SQLITE_OPEN_READONLY);
    assert_int_equal(q_int(db, "SELECT count(*) FROM negotiations", NULL), 46);
    assert_int_equal(q_int(db, "SELECT count(*) FROM devices", NULL), 3);
    assert_int_equal(q_int(db, "SELECT count(*) FROM clients", NULL), 3);
    assert_int_equal(q_int(db, "SELECT count(*) FROM lists", NULL), 13);
    assert_string_equal(
        list_names(db, "SELECT cipher_list FROM clients WHERE software = ?1", "SSH-2.0-libssh_0.9.6", buf, sizeof buf),
        OSSH_CIPHER);
    assert_int_equal(q_int(db, "SELECT last_seen FROM clients WHERE software = ?", "SSH-2.0-libssh_0.9.6"), 1500);
    q_text(db, "PRAGMA foreign_key_check", NULL, 0, buf, sizeof buf);
    assert_string_equal(buf, "<none>");
    sqlite3_close(db);
    tneg_free(&a);
    tneg_free(&b);
    tneg_free(&c);
    tneg_free(&d);
    tneg_free(&e);
    tneg_free(&f);
}

static void test_queue_bound(void **state)
{
    (void)state;
    struct store *s = open_ok(g_path, 0, 5);
    struct tneg t;
    putty(&t, "10.0.0.1", 1000);
    for (int i = 0; i < 5; i++)
        enqueue_ok(s, &t);
    assert_int_equal(store_enqueue(s, &t.n), -1);
    assert_int_equal(store_enqueue(s, &t.n), -1);
    const struct store_counts *c = store_get_counts(s);
    assert_int_equal(c->refused, 2);
    assert_int_equal(c->queued, 5);
    assert_int_equal(store_pending(s), 5);
    assert_int_equal(store_flush(s), 5);
    enqueue_ok(s, &t); /* room again */
    assert_int_equal(store_flush(s), 1);
    assert_int_equal(c->committed, 6);
    assert_int_equal(c->batches, 2);
    /* arguments the store refuses without counting */
    t.n.device = NULL;
    assert_int_equal(store_enqueue(s, &t.n), -1);
    assert_int_equal(store_enqueue(s, NULL), -1);
    assert_int_equal(store_enqueue_profile(s, "d", NEG_NSLOTS, "a", 1), -1);
    assert_int_equal(store_enqueue_profile(s, "d", -1, "a", 1), -1);
    assert_int_equal(c->refused, 2);
    store_close(s);
    tneg_free(&t);
    store_close(NULL);
    assert_int_equal(store_pending(NULL), 0);
    assert_int_equal(store_flush(NULL), -1);
}

static void test_purge(void **state)
{
    (void)state;
    struct store *s = open_ok(g_path, 0, 0);
    struct tneg old, keep, fresh, ok_old, ok_new;
    /* an old device with an old client type whose lists nobody else uses */
    tneg_init(&old, "old-dev", "SSH-2.0-Ancient_1.0", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", 1000);
    tneg_client(&old, NEG_KEX, "old-kex-1,old-kex-2");
    tneg_client(&old, NEG_CIPHER_C2S, "old-cipher");
    tneg_server(&old, NEG_KEX, "old-server-kex");
    tneg_fail(&old, NEG_KEX, EVIDENCE_EXPLICIT);
    /* an old device that keeps a learned profile */
    putty(&keep, "keep-dev", 1000);
    putty(&fresh, "new-dev", 100000);
    /* successes too: an old device seen only then, and the new one */
    openssh(&ok_old, "ok-old-dev", 1500, false);
    openssh(&ok_new, "new-dev", 100100, false);
    for (int i = 0; i < 7; i++) {
        old.n.time = 1000 + i;
        keep.n.time = 1000 + i;
        enqueue_ok(s, &old);
        enqueue_ok(s, &keep);
    }
    for (int i = 0; i < 5; i++)
        enqueue_ok(s, &ok_old);
    for (int i = 0; i < 3; i++)
        enqueue_ok(s, &fresh);
    enqueue_ok(s, &ok_new);
    enqueue_ok(s, &ok_new);
    assert_int_equal(store_enqueue_profile(s, "keep-dev", NEG_KEX, "profile-kex", 1000), 0);
    assert_int_equal(store_flush(s), 24);

    sqlite3 *db = raw_open(g_path, SQLITE_OPEN_READONLY);
    assert_int_equal(q_int(db, "SELECT count(*) FROM lists WHERE names LIKE 'old-%'", NULL), 3);

    /* small steps until nothing is left to do */
    int total = 0, r, steps = 0;
    /* the two failures' counts; ok-old-dev's successes are counted when
     * their rows go */
    assert_int_equal(q_int(db, "SELECT count(*) FROM daily WHERE day = 0", NULL), 2);
    /* 50000 is within day 0 (UTC): retention keeps the day whole */
    assert_int_equal(store_purge(s, 50000, 3), 0);
    assert_int_equal(q_int(db, "SELECT count(*) FROM negotiations", NULL), 24);
    while ((r = store_purge(s, 86400, 3)) > 0) {
        total += r;
        assert_true(r <= 3);
        assert_true(++steps < 100);
    }
    assert_int_equal(r, 0);
    /* 19 negotiations and their 3 daily rows (old-dev, keep-dev, ok-old-dev) */
    assert_int_equal(total, 22);
    assert_int_equal(store_get_counts(s)->purged, 19);
    assert_int_equal(q_int(db, "SELECT count(*) FROM daily WHERE day = 0", NULL), 0);
    assert_int_equal(q_int(db, "SELECT sum(n) FROM daily", NULL), 3); /* new-dev's failures */

    assert_int_equal(q_int(db, "SELECT count(*) FROM negotiations", NULL), 5);
    assert_int_equal(q_int(db, "SELECT count(*) FROM devices WHERE key = 'ok-old-dev'", NULL), 0);
    /* the OpenSSH client type is still seen (new-dev), its lists too */
    assert_int_equal(q_int(db, "SELECT count(*) FROM clients WHERE software = ?", OSSH), 1);
    assert_int_equal(q_int(db, "SELECT count(*) FROM lists WHERE names = ?", OSSH_KEX), 1);
    assert_int_equal(q_int(db, "SELECT count(*) FROM negotiations WHERE time < 86400", NULL), 0);
    assert_int_equal(q_int(db, "SELECT count(*) FROM devices WHERE key = 'old-dev'", NULL), 0);
    assert_int_equal(q_int(db, "SELECT count(*) FROM devices WHERE key = 'keep-dev'", NULL), 1); /* profile */
    assert_int_equal(q_int(db, "SELECT count(*) FROM devices WHERE key = 'new-dev'", NULL), 1);
    assert_int_equal(q_int(db, "SELECT count(*) FROM clients WHERE software = 'SSH-2.0-Ancient_1.0'", NULL), 0);
    assert_int_equal(q_int(db, "SELECT count(*) FROM clients WHERE software = ?", PUTTY), 1);
    assert_int_equal(q_int(db, "SELECT count(*) FROM lists WHERE names LIKE 'old-%'", NULL), 0);
    assert_int_equal(q_int(db, "SELECT count(*) FROM list_items WHERE name LIKE 'old-%'", NULL), 0);
    assert_int_equal(q_int(db, "SELECT count(*) FROM lists WHERE names = 'profile-kex'", NULL), 1);
    assert_int_equal(q_int(db, "SELECT count(*) FROM lists WHERE names = ?", PUTTY_KEX), 1);
    assert_int_equal(q_int(db, "SELECT count(*) FROM lists WHERE names = ?", SRV_KEX), 1);

    /* the caches forgot the deleted rows: the old device comes back */
    old.n.time = 200000;
    enqueue_ok(s, &old);
    assert_int_equal(store_flush(s), 1);
    assert_int_equal(q_int(db, "SELECT count(*) FROM devices WHERE key = 'old-dev'", NULL), 1);
    assert_int_equal(q_int(db, "SELECT count(*) FROM lists WHERE names LIKE 'old-%'", NULL), 3);
    char buf[256];
    q_text(db, "PRAGMA foreign_key_check", NULL, 0, buf, sizeof buf);
    assert_string_equal(buf, "<none>");
    assert_int_equal(store_purge(s, 86400, 0), 0);
    sqlite3_close(db);
    store_close(s);
    tneg_free(&old);
    tneg_free(&keep);
    tneg_free(&fresh);
    tneg_free(&ok_old);
    tneg_free(&ok_new);
}

struct prof {
    char device[64];
    int slot;
    char list[256];
    int64_t at;
};

struct profs {
    struct prof p[16];
    int n;
};

static void collect(void *arg, const char *device, int slot, const char *list, int64_t learned_at)
{
    struct profs *ps = arg;
    assert_true(ps->n < 16);
    struct prof *p = &ps->p[ps->n++];
    snprintf(p->device, sizeof p->device, "%s", device);
    p->slot = slot;
    snprintf(p->list, sizeof p->list, "%s", list);
    p->at = learned_at;
}

static void test_profiles(void **state)
{
    (void)state;
    struct store *s = open_ok(g_path, 0, 0);
    struct profs ps = {0};
    assert_int_equal(store_load_profiles(s, collect, &ps), 0);
    assert_int_equal(store_enqueue_profile(s, "10.0.0.1", NEG_KEX, SRV_KEX, 100), 0);
    assert_int_equal(store_enqueue_profile(s, "10.0.0.1", NEG_CIPHER_C2S, "aes128-ctr, aes256-ctr", 100), 0);
    assert_int_equal(store_enqueue_profile(s, "10.0.0.2", NEG_COMP_S2C, "none", 50), 0);
    assert_int_equal(store_pending(s), 3);
    assert_int_equal(store_flush(s), 0);
    assert_int_equal(store_pending(s), 0);
    assert_int_equal(store_load_profiles(s, collect, &ps), 3);
    assert_string_equal(ps.p[0].device, "10.0.0.1");
    assert_int_equal(ps.p[0].slot, NEG_CIPHER_C2S); /* ordered by slot name */
    assert_string_equal(ps.p[0].list, "aes128-ctr,aes256-ctr");
    assert_int_equal(ps.p[0].at, 100);
    assert_int_equal(ps.p[1].slot, NEG_KEX);
    assert_string_equal(ps.p[1].list, SRV_KEX);
    assert_string_equal(ps.p[2].device, "10.0.0.2");
    assert_int_equal(ps.p[2].slot, NEG_COMP_S2C);

    /* an older list does not replace a newer one; a newer does */
    assert_int_equal(store_enqueue_profile(s, "10.0.0.1", NEG_KEX, "older-kex", 90), 0);
    assert_int_equal(store_flush(s), 0);
    ps.n = 0;
    assert_int_equal(store_load_profiles(s, collect, &ps), 3);
    assert_string_equal(ps.p[1].list, SRV_KEX);
    assert_int_equal(store_enqueue_profile(s, "10.0.0.1", NEG_KEX, "newer-kex", 200), 0);
    store_close(s); /* committed by close */

    s = open_ok(g_path, STORE_READONLY, 0);
    ps.n = 0;
    assert_int_equal(store_load_profiles(s, collect, &ps), 3);
    assert_string_equal(ps.p[1].list, "newer-kex");
    assert_int_equal(ps.p[1].at, 200);
    /* a read-only store queues nothing */
    assert_int_equal(store_enqueue_profile(s, "10.0.0.1", NEG_KEX, "x", 300), -1);
    assert_int_equal(store_flush(s), -1);
    assert_int_equal(store_purge(s, 1000, 10), -1);
    store_close(s);

    sqlite3 *db = raw_open(g_path, SQLITE_OPEN_READONLY);
    assert_int_equal(q_int(db, "SELECT count(*) FROM profiles WHERE source = 'learned'", NULL), 3);
    assert_int_equal(q_int(db, "SELECT count(*) FROM devices", NULL), 2);
    sqlite3_close(db);
}

static int count_rows(void *arg, size_t ncol, const char *const *names, const struct store_value *v)
{
    (void)arg;
    (void)ncol;
    (void)names;
    (void)v;
    return 0;
}

/* Probed lists are profiles with source 'probed' beside the learned ones;
 * loading gives each slot's lists oldest first, so the newest source wins.
 * The device's last probe is kept: banner, or the error (banner kept). */
static void test_probed_profiles(void **state)
{
    (void)state;
    struct store *s = open_ok(g_path, 0, 0);
    struct profs ps = {0};
    assert_int_equal(store_enqueue_profile(s, "10.0.0.1", NEG_KEX, "learned-kex", 100), 0);
    struct store_probe p = {.device = "10.0.0.1",
                            .time = 150,
                            .address = "10.0.0.1",
                            .port = 2222,
                            .banner = "SSH-2.0-OpenSSH_9.2p1 Debian-2",
                            .lists = {[NEG_KEX] = "curve25519-sha256,diffie-hellman-group14-sha256",
                                      [NEG_HOSTKEY] = "ssh-ed25519"}};
    assert_int_equal(store_enqueue_probe(s, &p), 0);
    assert_int_equal(store_flush(s), 0);
    assert_int_equal(store_load_profiles(s, collect, &ps), 3);
    /* hostkey < kex by slot name; kex: learned (100) then probed (150) */
    assert_int_equal(ps.p[0].slot, NEG_HOSTKEY);
    assert_string_equal(ps.p[0].list, "ssh-ed25519");
    assert_int_equal(ps.p[1].slot, NEG_KEX);
    assert_string_equal(ps.p[1].list, "learned-kex");
    assert_int_equal(ps.p[2].slot, NEG_KEX);
    assert_string_equal(ps.p[2].list, "curve25519-sha256,diffie-hellman-group14-sha256");
    assert_int_equal(ps.p[2].at, 150);
    /* learned later: it comes last */
    assert_int_equal(store_enqueue_profile(s, "10.0.0.1", NEG_KEX, "newer-learned", 200), 0);
    /* a probe that failed keeps the banner, records the error, adds no list */
    struct store_probe f = {.device = "10.0.0.1", .time = 300, .address = "10.0.0.1", .port = 2222,
                            .error = "connection refused"};
    assert_int_equal(store_enqueue_probe(s, &f), 0);
    assert_int_equal(store_flush(s), 0);
    ps.n = 0;
    assert_int_equal(store_load_profiles(s, collect, &ps), 3);
    assert_string_equal(ps.p[2].list, "newer-learned");
    store_close(s);

    sqlite3 *db = raw_open(g_path, SQLITE_OPEN_READONLY);
    assert_int_equal(q_int(db, "SELECT count(*) FROM profiles WHERE source = 'probed'", NULL), 2);
    assert_int_equal(q_int(db, "SELECT time FROM probes", NULL), 300);
    assert_int_equal(q_int(db, "SELECT port FROM probes", NULL), 2222);
    char buf[128];
    q_text(db, "SELECT banner FROM probes", NULL, 0, buf, sizeof buf);
    assert_string_equal(buf, "SSH-2.0-OpenSSH_9.2p1 Debian-2");
    q_text(db, "SELECT error FROM probes", NULL, 0, buf, sizeof buf);
    assert_string_equal(buf, "connection refused");
    sqlite3_close(db);

    /* kexwatch device KEY reads them: source and time per list, the probe */
    s = open_ok(g_path, STORE_READONLY, 0);
    char err[256];
    assert_int_equal(store_device(s, STORE_DEVICE_PROFILE, "10.0.0.1", 0, 0, count_rows, NULL, err, sizeof err), 3);
    assert_int_equal(store_device(s, STORE_DEVICE_PROBE, "10.0.0.1", 0, 0, count_rows, NULL, err, sizeof err), 1);
    store_close(s);
}

/* A version 3 database's learned profile survives the rebuild of profiles
 * (its CHECK now allows 'probed'). */
static void test_migration_keeps_profiles(void **state)
{
    (void)state;
    build_version(g_path, 3);
    sqlite3 *db = raw_open(g_path, SQLITE_OPEN_READWRITE);
    raw_exec(db, "INSERT INTO lists (names, last_used) VALUES ('curve25519-sha256', 7)");
    raw_exec(db, "INSERT INTO profiles (device_id, slot, source, list_id, learned_at) VALUES (1, 'kex', 'learned', 1, 7)");
    sqlite3_close(db);
    struct store *s = open_ok(g_path, 0, 0);
    struct profs ps = {0};
    assert_int_equal(store_load_profiles(s, collect, &ps), 1);
    assert_string_equal(ps.p[0].device, "old");
    assert_string_equal(ps.p[0].list, "curve25519-sha256");
    store_close(s);
}

static void test_reader_while_writing(void **state)
{
    (void)state;
    struct store *w = open_ok(g_path, 0, 0);
    struct tneg t;
    putty(&t, "10.0.0.1", 1000);
    enqueue_ok(w, &t);
    assert_int_equal(store_flush(w), 1);
    assert_int_equal(store_enqueue_profile(w, "10.0.0.1", NEG_KEX, SRV_KEX, 1000), 0);
    assert_int_equal(store_flush(w), 0);

    /* the query tool opens while the daemon has the database open */
    struct store *r = open_ok(g_path, STORE_READONLY, 0);
    assert_int_equal(store_schema_version(r), store_schema_latest());
    struct profs ps = {0};
    assert_int_equal(store_load_profiles(r, collect, &ps), 1);

    /* a reader in the middle of a read transaction does not stop the
     * writer, and sees a consistent snapshot until it ends */
    sqlite3 *db = raw_open(g_path, SQLITE_OPEN_READONLY);
    raw_exec(db, "BEGIN");
    assert_int_equal(q_int(db, "SELECT count(*) FROM negotiations", NULL), 1);
    for (int batch = 0; batch < 5; batch++) {
        for (int i = 0; i < 100; i++)
            enqueue_ok(w, &t);
        assert_int_equal(store_flush(w), 100);
        assert_int_equal(q_int(db, "SELECT count(*) FROM negotiations", NULL), 1);
    }
    raw_exec(db, "COMMIT");
    assert_int_equal(q_int(db, "SELECT count(*) FROM negotiations", NULL), 501);
    assert_int_equal(store_get_counts(w)->errors, 0);
    assert_int_equal(store_enqueue(r, &t.n), -1); /* read-only */

    /* the store reader follows the writer's commits too */
    assert_int_equal(store_enqueue_profile(w, "10.0.0.2", NEG_KEX, SRV_KEX, 1000), 0);
    assert_int_equal(store_flush(w), 0);
    ps.n = 0;
    assert_int_equal(store_load_profiles(r, collect, &ps), 2);
    sqlite3_close(db);
    store_close(r);
    store_close(w);
    tneg_free(&t);
}

static void test_strings_exact(void **state)
{
    (void)state;
    char *text = tu_read_data("store/strings.tsv", NULL);
    size_t nlines;
    char **lines = tu_lines(text, &nlines);
    struct store *s = open_ok(g_path, 0, 0);
    struct {
        char *f[5];
        size_t len[5];
    } cases[16];
    size_t ncases = 0;
    for (size_t i = 0; i < nlines; i++) {
        if (!lines[i][0] || lines[i][0] == '#')
            continue;
        assert_true(ncases < 16);
        char *f[5];
        assert_int_equal(tu_fields(lines[i], f, 5), 5);
        for (int k = 0; k < 5; k++) {
            cases[ncases].len[k] = tu_unescape(f[k]);
            cases[ncases].f[k] = strcmp(f[k], "-") ? f[k] : NULL;
        }
        struct tneg t;
        tneg_init(&t, cases[ncases].f[0], cases[ncases].f[2], NULL, 1000 + (int64_t)ncases);
        t.n.device_name = cases[ncases].f[1];
        t.n.reason = cases[ncases].f[3];
        t.n.peer = cases[ncases].f[0];
        tneg_client(&t, NEG_KEX, cases[ncases].f[4]);
        tneg_server(&t, NEG_KEX, cases[ncases].f[4]);
        tneg_fail(&t, NEG_KEX, EVIDENCE_EXPLICIT);
        enqueue_ok(s, &t);
        tneg_free(&t);
        ncases++;
    }
    assert_true(ncases >= 5);
    assert_int_equal(store_flush(s), (int)ncases);
    store_close(s);

    sqlite3 *db = raw_open(g_path, SQLITE_OPEN_READONLY);
    assert_int_equal(
        q_int(db, "SELECT count(*) FROM sqlite_master WHERE name IN ('negotiations', 'devices', 'lists')", NULL), 3);
    assert_int_equal(q_int(db, "SELECT count(*) FROM negotiations", NULL), (int64_t)ncases);
    assert_int_equal(q_int(db, "SELECT count(*) FROM devices", NULL), (int64_t)ncases);
    char buf[2048];
    for (size_t i = 0; i < ncases; i++) {
        const char *key = cases[i].f[0];
        size_t klen = cases[i].len[0];
        size_t n;
        n = q_text(db, "SELECT key FROM devices WHERE key = ?", key, klen, buf, sizeof buf);
        assert_int_equal(n, klen);
        assert_memory_equal(buf, key, klen);
        n = q_text(db, "SELECT address FROM negotiations n JOIN devices d ON d.id = n.device_id WHERE d.key = ?", key,
                   klen, buf, sizeof buf);
        assert_int_equal(n, klen);
        assert_memory_equal(buf, key, klen);
        n = q_text(db, "SELECT name FROM devices WHERE key = ?", key, klen, buf, sizeof buf);
        if (cases[i].f[1]) {
            assert_int_equal(n, cases[i].len[1]);
            assert_memory_equal(buf, cases[i].f[1], n);
        } else {
            assert_string_equal(buf, "<NULL>");
        }
        n = q_text(db,
                   "SELECT c.software FROM negotiations n JOIN devices d ON d.id = n.device_id JOIN clients c ON "
                   "c.id = n.client_id WHERE d.key = ?",
                   key, klen, buf, sizeof buf);
        assert_int_equal(n, cases[i].len[2]);
        assert_memory_equal(buf, cases[i].f[2], n);
        n = q_text(db, "SELECT reason FROM negotiations n JOIN devices d ON d.id = n.device_id WHERE d.key = ?", key,
                   klen, buf, sizeof buf);
        assert_int_equal(n, cases[i].len[3]);
        assert_memory_equal(buf, cases[i].f[3], n);
        n = q_text(db,
                   "SELECT l.names FROM negotiations n JOIN devices d ON d.id = n.device_id JOIN lists l ON l.id = "
                   "n.client_list WHERE d.key = ?",
                   key, klen, buf, sizeof buf);
        assert_int_equal(n, cases[i].len[4]);
        assert_memory_equal(buf, cases[i].f[4], n);
    }
    sqlite3_close(db);
    free(lines);
    free(text);
}

static void test_long_strings_cut(void **state)
{
    (void)state;
    struct store *s = open_ok(g_path, 0, 0);
    char soft[3001];
    for (int i = 0; i < 1000; i++)
        memcpy(soft + 3 * i, "\xe4\xb8\xad", 3); /* U+4E2D, 3 bytes */
    soft[3000] = '\0';
    struct tneg t;
    tneg_init(&t, "10.0.0.1", soft, NULL, 1);
    t.n.reason = soft;
    enqueue_ok(s, &t);
    assert_int_equal(store_flush(s), 1);
    store_close(s);
    sqlite3 *db = raw_open(g_path, SQLITE_OPEN_READONLY);
    /* 1024 bytes at most, never half a character */
    assert_int_equal(q_int(db, "SELECT length(CAST(software AS BLOB)) FROM clients", NULL), 1023);
    assert_int_equal(q_int(db, "SELECT length(software) FROM clients", NULL), 341);
    assert_int_equal(q_int(db, "SELECT length(CAST(reason AS BLOB)) FROM negotiations", NULL), 1023);
    sqlite3_close(db);
}

/* Disk full, in a child whose file size limit stands for the disk. */
static int disk_full_child(void *arg)
{
    const char *path = arg;
    signal(SIGXFSZ, SIG_IGN);
    struct store *s = NULL;
    char err[512];
    if (store_open(path, 0, 0, &s, err, sizeof err) < 0)
        return 10;
    struct tneg t;
    tneg_init(&t, "10.0.0.1", "SSH-2.0-x", NULL, 1);
    char reason[1001];
    memset(reason, 'r', 1000);
    reason[1000] = '\0';
    t.n.reason = reason;
    if (store_enqueue(s, &t.n) < 0 || store_flush(s) != 1)
        return 11;
    struct stat sb;
    char wal[4300];
    snprintf(wal, sizeof wal, "%s-wal", path);
    off_t biggest = 0;
    if (stat(path, &sb) == 0)
        biggest = sb.st_size;
    if (stat(wal, &sb) == 0 && sb.st_size > biggest)
        biggest = sb.st_size;
    struct rlimit rl;
    getrlimit(RLIMIT_FSIZE, &rl);
    struct rlimit small = {(rlim_t)biggest + 16384, rl.rlim_max};
    if (setrlimit(RLIMIT_FSIZE, &small) < 0)
        return 12;
    for (int i = 0; i < 3000; i++) {
        t.n.time = 2 + i;
        if (store_enqueue(s, &t.n) < 0)
            return 13;
    }
    int rc = store_flush(s);
    const struct store_counts *c = store_get_counts(s);
    if (rc != -1 || store_pending(s) != 3000 || c->errors != 1 || c->committed != 1)
        return 14;
    /* again, still full: kept again */
    if (store_flush(s) != -1 || store_pending(s) != 3000 || c->errors != 2)
        return 15;
    /* room again: everything goes in */
    setrlimit(RLIMIT_FSIZE, &rl);
    if (store_flush(s) != 3000 || store_pending(s) != 0 || c->committed != 3001 || c->dropped != 0)
        return 16;
    store_close(s);
    return 0;
}

static void test_disk_full_keeps_records(void **state)
{
    (void)state;
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0)
        _exit(disk_full_child(g_path));
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    sqlite3 *db = raw_open(g_path, SQLITE_OPEN_READONLY);
    assert_int_equal(q_int(db, "SELECT count(*) FROM negotiations", NULL), 3001);
    char ok[16];
    q_text(db, "PRAGMA integrity_check", NULL, 0, ok, sizeof ok);
    assert_string_equal(ok, "ok");
    sqlite3_close(db);
}

static void test_busy_keeps_records(void **state)
{
    (void)state;
    struct store *s = open_ok(g_path, 0, 0);
    struct tneg t;
    putty(&t, "10.0.0.1", 1000);
    enqueue_ok(s, &t);
    assert_int_equal(store_flush(s), 1);
    /* another writer holds the lock past the busy timeout */
    sqlite3 *db = raw_open(g_path, SQLITE_OPEN_READWRITE);
    raw_exec(db, "BEGIN IMMEDIATE");
    enqueue_ok(s, &t);
    enqueue_ok(s, &t);
    assert_int_equal(store_flush(s), -1);
    assert_int_equal(store_pending(s), 2);
    assert_int_equal(store_get_counts(s)->errors, 1);
    raw_exec(db, "COMMIT");
    assert_int_equal(store_flush(s), 2);
    assert_int_equal(q_int(db, "SELECT count(*) FROM negotiations", NULL), 3);
    sqlite3_close(db);
    store_close(s);
    tneg_free(&t);
}

static void test_refused_record_dropped_alone(void **state)
{
    (void)state;
    struct store *s = open_ok(g_path, 0, 0);
    struct tneg t;
    putty(&t, "10.0.0.1", 1000);
    enqueue_ok(s, &t);
    assert_int_equal(store_flush(s), 1);
    sqlite3 *db = raw_open(g_path, SQLITE_OPEN_READWRITE);
    /* another program deletes the device row the store has cached... */
    raw_exec(db, "PRAGMA foreign_keys = OFF");
    raw_exec(db, "DELETE FROM negotiations; DELETE FROM devices");
    /* ...and a record the schema refuses, whatever is tried */
    raw_exec(db, "CREATE TRIGGER poison BEFORE INSERT ON negotiations WHEN NEW.reason = 'poison'"
                 " BEGIN SELECT RAISE(ABORT, 'poisoned'); END");
    t.n.time = 2000;
    enqueue_ok(s, &t);
    t.n.reason = "poison";
    enqueue_ok(s, &t);
    t.n.reason = NULL;
    t.n.time = 3000;
    enqueue_ok(s, &t);
    assert_int_equal(store_flush(s), -1);
    const struct store_counts *c = store_get_counts(s);
    assert_int_equal(c->dropped, 1);
    assert_int_equal(store_pending(s), 2);
    /* the others go in, under a new device row */
    assert_int_equal(store_flush(s), 2);
    assert_int_equal(q_int(db, "SELECT count(*) FROM negotiations", NULL), 2);
    assert_int_equal(q_int(db, "SELECT count(*) FROM devices", NULL), 1);
    assert_int_equal(
        q_int(db, "SELECT count(*) FROM negotiations WHERE device_id NOT IN (SELECT id FROM devices)", NULL), 0);
    sqlite3_close(db);
    store_close(s);
    tneg_free(&t);
}

static void test_many_batches_and_caches(void **state)
{
    (void)state;
    /* enough devices, client types and lists to grow every hash table
     * several times, across batches, with the store's own ids checked */
    struct store *s = open_ok(g_path, 0, 50000);
    int total = 0;
    for (int i = 0; i < 30000; i++) {
        char dev[32], soft[32], kex[64];
        snprintf(dev, sizeof dev, "dev-%d", i % 1500);
        snprintf(soft, sizeof soft, "client-%d", i % 150);
        snprintf(kex, sizeof kex, "kex-%d,common-kex", i % 300);
        struct tneg t;
        tneg_init(&t, dev, soft, NULL, 1000 + i);
        tneg_client(&t, NEG_KEX, kex);
        tneg_server(&t, NEG_KEX, "srv-kex");
        tneg_fail(&t, NEG_KEX, EVIDENCE_INFERRED);
        enqueue_ok(s, &t);
        tneg_free(&t);
        if (store_pending(s) >= 7000) {
            int n = store_flush(s);
            assert_true(n > 0);
            total += n;
        }
    }
    while (store_pending(s))
        total += store_flush(s);
    assert_int_equal(total, 30000);
    store_close(s);
    sqlite3 *db = raw_open(g_path, SQLITE_OPEN_READONLY);
    assert_int_equal(q_int(db, "SELECT count(*) FROM negotiations", NULL), 30000);
    assert_int_equal(q_int(db, "SELECT count(*) FROM devices", NULL), 1500);
    assert_int_equal(q_int(db, "SELECT count(*) FROM clients", NULL), 150);
    /* 300 client kex lists (first seen per client type or failing) + server */
    assert_int_equal(q_int(db, "SELECT count(*) FROM lists", NULL), 301);
    assert_int_equal(q_int(db,
                           "SELECT count(*) FROM negotiations n JOIN lists l ON l.id = n.client_list WHERE "
                           "l.names <> 'kex-' || ((n.time - 1000) % 300) || ',common-kex'",
                           NULL),
                     0);
    assert_int_equal(q_int(db,
                           "SELECT count(*) FROM negotiations n JOIN devices d ON d.id = n.device_id WHERE "
                           "d.key <> 'dev-' || ((n.time - 1000) % 1500)",
                           NULL),
                     0);
    assert_int_equal(q_int(db, "SELECT min(last_seen - first_seen) FROM devices", NULL), 30000 - 1500);
    sqlite3_close(db);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_create_reopen, setup_test, teardown_test),
        cmocka_unit_test_setup_teardown(test_migrations_from_every_version, setup_test, teardown_test),
        cmocka_unit_test_setup_teardown(test_migration_failure_is_atomic, setup_test, teardown_test),
        cmocka_unit_test_setup_teardown(test_newer_schema_refused, setup_test, teardown_test),
        cmocka_unit_test_setup_teardown(test_readonly_older_or_missing, setup_test, teardown_test),
        cmocka_unit_test_setup_teardown(test_junk_refused, setup_test, teardown_test),
        cmocka_unit_test_setup_teardown(test_corrupt_refused, setup_test, teardown_test),
        cmocka_unit_test_setup_teardown(test_foreign_database_refused, setup_test, teardown_test),
        cmocka_unit_test_setup_teardown(test_readonly_directory_refused, setup_test, teardown_test),
        cmocka_unit_test_setup_teardown(test_readonly_file_refused, setup_test, teardown_test),
        cmocka_unit_test_setup_teardown(test_round_trip, setup_test, teardown_test),
        cmocka_unit_test_setup_teardown(test_queue_bound, setup_test, teardown_test),
        cmocka_unit_test_setup_teardown(test_purge, setup_test, teardown_test),
        cmocka_unit_test_setup_teardown(test_daily_counts, setup_test, teardown_test),
        cmocka_unit_test_setup_teardown(test_daily_migration, setup_test, teardown_test),
        cmocka_unit_test_setup_teardown(test_monthly_counts, setup_test, teardown_test),
        cmocka_unit_test_setup_teardown(test_profiles, setup_test, teardown_test),
        cmocka_unit_test_setup_teardown(test_probed_profiles, setup_test, teardown_test),
        cmocka_unit_test_setup_teardown(test_migration_keeps_profiles, setup_test, teardown_test),
        cmocka_unit_test_setup_teardown(test_reader_while_writing, setup_test, teardown_test),
        cmocka_unit_test_setup_teardown(test_strings_exact, setup_test, teardown_test),
        cmocka_unit_test_setup_teardown(test_long_strings_cut, setup_test, teardown_test),
        cmocka_unit_test_setup_teardown(test_disk_full_keeps_records, setup_test, teardown_test),
        cmocka_unit_test_setup_teardown(test_busy_keeps_records, setup_test, teardown_test),
        cmocka_unit_test_setup_teardown(test_refused_record_dropped_alone, setup_test, teardown_test),
        cmocka_unit_test_setup_teardown(test_many_batches_and_caches, setup_test, teardown_test),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
