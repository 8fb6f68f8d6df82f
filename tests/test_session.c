/* SPDX-License-Identifier: ISC */
/* Tests for session.c: joining events into negotiations, deciding them,
 * and the bounds on state. Events are built by hand (the patterns have
 * their own tests), with the shipped algorithm table. */
#include "config.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "session.h"
#include "testutil.h"

struct seen {
    int n;
    int failures;
    char last_device[64];
    char last_peer[64];
    char last_software[64];
    bool last_failed;
    int last_slot;
    int last_category;
    enum evidence last_evidence;
    bool last_has_fp;
    size_t last_offer; /* names in the client's list of the failing slot */
};

static struct algo_db *g_db;

static void on_outcome(void *arg, const struct negotiation *n)
{
    struct seen *s = arg;
    s->n++;
    s->failures += n->failed;
    snprintf(s->last_device, sizeof s->last_device, "%s", n->device);
    snprintf(s->last_peer, sizeof s->last_peer, "%s", n->peer ? n->peer : "");
    snprintf(s->last_software, sizeof s->last_software, "%s", n->software ? n->software : "");
    s->last_failed = n->failed;
    s->last_slot = n->slot;
    s->last_category = n->category;
    s->last_evidence = n->evidence;
    s->last_has_fp = n->fingerprint != NULL;
    s->last_offer = n->slot >= 0 ? negotiate_list_count(n->client[n->slot]) : 0;
}

static int setup(void **state)
{
    (void)state;
    const char *src = getenv("KW_SRCDIR");
    char a[4096], k[4096], err[512];
    snprintf(a, sizeof a, "%s/conf/algorithms.tsv", src ? src : ".");
    snprintf(k, sizeof k, "%s/conf/keywords.tsv", src ? src : ".");
    if (algo_db_load(a, k, &g_db, err, sizeof err) < 0)
        fail_msg("%s", err);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    algo_db_free(g_db);
    return 0;
}

static struct pat_span sp(const char *s)
{
    return (struct pat_span){s, s ? strlen(s) : 0};
}

static struct pat_match ev(enum pat_event e, int slot, enum pat_side side, const char *list)
{
    struct pat_match m;
    memset(&m, 0, sizeof m);
    m.event = e;
    m.pattern = "test";
    m.vendor = "huawei";
    m.slot = slot;
    m.category = -1;
    m.side = side;
    m.list = sp(list);
    return m;
}

/* a whole client offer, the way Huawei debug output logs it */
static void client_offer(struct session_table *t, const char *dev, int64_t now, const char *kex)
{
    struct pat_match m = ev(PAT_EV_LIST, NEG_KEX, PAT_SIDE_CLIENT, kex);
    session_event(t, dev, NULL, NULL, 0, now, &m, NULL);
    const char *rest[][2] = {
        {"ssh-ed25519,rsa-sha2-256", NULL}, {"aes128-ctr", NULL}, {"aes128-ctr", NULL},
        {"hmac-sha2-256", NULL},            {"hmac-sha2-256", NULL}, {"none", NULL}, {"none", NULL},
    };
    for (int s = NEG_HOSTKEY; s < NEG_NSLOTS; s++) {
        m = ev(PAT_EV_LIST, s, PAT_SIDE_CLIENT, rest[s - 1][0]);
        session_event(t, dev, NULL, NULL, 0, now, &m, NULL);
    }
}

static void server_offer(struct session_table *t, const char *dev, int64_t now, const char *kex)
{
    const char *lists[NEG_NSLOTS] = {kex, "ssh-ed25519", "aes128-ctr", "aes128-ctr", "hmac-sha2-256",
                                     "hmac-sha2-256", "none", "none"};
    for (int s = 0; s < NEG_NSLOTS; s++) {
        struct pat_match m = ev(PAT_EV_LIST, s, PAT_SIDE_SERVER, lists[s]);
        session_event(t, dev, NULL, NULL, 0, now, &m, NULL);
    }
}

static struct session_table *table(struct seen *s, unsigned per_device, unsigned devices)
{
    struct session_limits lim = {.per_device = per_device, .devices = devices, .idle_s = 120};
    memset(s, 0, sizeof *s);
    struct session_table *t = session_table_new(g_db, NULL, &lim, on_outcome, s);
    assert_non_null(t);
    return t;
}

/* Huawei: version line, the client's lists, a login failure naming the
 * address; the server lists learned from the device's own proposal */
static void test_inferred_failure_on_login_fail(void **state)
{
    (void)state;
    struct seen s;
    struct session_table *t = table(&s, 0, 0);
    server_offer(t, "hw1", 1000, "curve25519-sha256");
    struct pat_match v = ev(PAT_EV_VERSION, PAT_SLOT_NONE, PAT_SIDE_NONE, NULL);
    v.software = sp("JSCH-0.1.54");
    v.peer = sp("192.0.2.14");
    v.session = sp("VTY 2");
    session_event(t, "hw1", NULL, NULL, 0, 1001, &v, NULL);
    client_offer(t, "hw1", 1001, "diffie-hellman-group14-sha1");
    assert_int_equal(s.n, 0);
    struct pat_match f = ev(PAT_EV_LOGIN_FAIL, PAT_SLOT_NONE, PAT_SIDE_NONE, NULL);
    f.peer = sp("192.0.2.14");
    session_event(t, "hw1", NULL, NULL, 0, 1002, &f, NULL);
    assert_int_equal(s.n, 1);
    assert_true(s.last_failed);
    assert_int_equal(s.last_slot, NEG_KEX);
    assert_int_equal(s.last_category, ALGO_KEX);
    assert_int_equal(s.last_evidence, EVIDENCE_INFERRED);
    assert_string_equal(s.last_peer, "192.0.2.14");
    assert_string_equal(s.last_software, "JSCH-0.1.54");
    assert_true(s.last_has_fp);
    session_table_free(t);
}

/* the device's word outranks the engine: a login is a success */
static void test_success_on_login(void **state)
{
    (void)state;
    struct seen s;
    struct session_table *t = table(&s, 0, 0);
    server_offer(t, "hw1", 1000, "curve25519-sha256");
    client_offer(t, "hw1", 1001, "curve25519-sha256");
    struct pat_match ok = ev(PAT_EV_SUCCESS, PAT_SLOT_NONE, PAT_SIDE_NONE, NULL);
    session_event(t, "hw1", NULL, NULL, 0, 1002, &ok, NULL);
    assert_int_equal(s.n, 1);
    assert_false(s.last_failed);
    session_table_free(t);
}

/* sshd: "(no match)" then "Unable to negotiate" for one pid is one failure */
static void test_duplicate_failure_absorbed(void **state)
{
    (void)state;
    struct seen s;
    struct session_table *t = table(&s, 0, 0);
    struct pat_match f = ev(PAT_EV_FAILURE, NEG_KEX, PAT_SIDE_NONE, NULL);
    session_event(t, "edge", NULL, "4242", 4, 1000, &f, NULL);
    f.client_list = sp("diffie-hellman-group1-sha1");
    f.peer = sp("192.0.2.9");
    f.port = sp("50404");
    session_event(t, "edge", NULL, "4242", 4, 1000, &f, NULL);
    assert_int_equal(s.n, 1);
    assert_int_equal(s.failures, 1);
    assert_int_equal(session_table_counts(t)->duplicates, 1);
    /* another pid is another negotiation */
    session_event(t, "edge", NULL, "4243", 4, 1001, &f, NULL);
    assert_int_equal(s.failures, 2);
    assert_int_equal(s.last_evidence, EVIDENCE_EXPLICIT);
    assert_string_equal(s.last_peer, "192.0.2.9");
    session_table_free(t);
}

/* Dropbear names a category only: explicit failure, no lists */
static void test_category_only_failure(void **state)
{
    (void)state;
    struct seen s;
    struct session_table *t = table(&s, 0, 0);
    struct pat_match f = ev(PAT_EV_FAILURE, PAT_SLOT_NONE, PAT_SIDE_NONE, NULL);
    f.category = ALGO_HOSTKEY;
    session_event(t, "owrt", NULL, "8624", 4, 1000, &f, NULL);
    assert_int_equal(s.n, 1);
    assert_true(s.last_failed);
    assert_int_equal(s.last_category, ALGO_HOSTKEY);
    assert_false(s.last_has_fp);
    session_table_free(t);
}

/* a VTY number reused by the next connection starts a new negotiation */
static void test_reused_session_marker(void **state)
{
    (void)state;
    struct seen s;
    struct session_table *t = table(&s, 0, 0);
    server_offer(t, "hw1", 1000, "curve25519-sha256");
    for (int i = 0; i < 2; i++) {
        struct pat_match v = ev(PAT_EV_VERSION, PAT_SLOT_NONE, PAT_SIDE_NONE, NULL);
        v.software = sp(i ? "second" : "first");
        v.session = sp("VTY 1");
        session_event(t, "hw1", NULL, NULL, 0, 1001 + i, &v, NULL);
        client_offer(t, "hw1", 1001 + i, i ? "curve25519-sha256" : "diffie-hellman-group1-sha1");
    }
    /* the first was decided when the second began */
    assert_int_equal(s.n, 1);
    assert_true(s.last_failed);
    assert_string_equal(s.last_software, "first");
    session_flush(t);
    assert_int_equal(s.n, 2);
    assert_false(s.last_failed);
    assert_string_equal(s.last_software, "second");
    session_table_free(t);
}

/* silence decides a session with what it has */
static void test_idle_expiry(void **state)
{
    (void)state;
    struct seen s;
    struct session_table *t = table(&s, 0, 0);
    server_offer(t, "hw1", 1000, "curve25519-sha256");
    client_offer(t, "hw1", 1000, "diffie-hellman-group1-sha1");
    session_expire(t, 1100);
    assert_int_equal(s.n, 0);
    session_expire(t, 1121);
    assert_int_equal(s.n, 1);
    assert_true(s.last_failed);
    assert_int_equal(session_table_counts(t)->expired, 1);
    assert_int_equal(session_table_sessions(t), 0);
    session_table_free(t);
}

/* unknown server lists never make a failure */
static void test_unknown_server_no_failure(void **state)
{
    (void)state;
    struct seen s;
    struct session_table *t = table(&s, 0, 0);
    client_offer(t, "nobody-knows", 1000, "diffie-hellman-group1-sha1");
    struct pat_match c = ev(PAT_EV_CLOSE, PAT_SLOT_NONE, PAT_SIDE_NONE, NULL);
    session_event(t, "nobody-knows", NULL, NULL, 0, 1001, &c, NULL);
    assert_int_equal(s.n, 0);
    assert_int_equal(session_table_counts(t)->undecided, 1);
    session_table_free(t);
}

/* bounds: sessions per device and devices */
static void test_bounds(void **state)
{
    (void)state;
    struct seen s;
    struct session_table *t = table(&s, 4, 3);
    char pid[16];
    for (int i = 0; i < 10; i++) {
        snprintf(pid, sizeof pid, "%d", 100 + i);
        struct pat_match c = ev(PAT_EV_CONNECT, PAT_SLOT_NONE, PAT_SIDE_NONE, NULL);
        session_event(t, "busy", NULL, pid, strlen(pid), 1000, &c, NULL);
    }
    assert_int_equal(session_table_sessions(t), 4);
    assert_int_equal(session_table_counts(t)->evicted, 6);
    char dev[16];
    for (int i = 0; i < 10; i++) {
        snprintf(dev, sizeof dev, "dev-%d", i);
        struct pat_match c = ev(PAT_EV_CONNECT, PAT_SLOT_NONE, PAT_SIDE_NONE, NULL);
        session_event(t, dev, NULL, "1", 1, 1000, &c, NULL);
    }
    assert_int_equal(session_table_devices(t), 3);
    assert_int_equal(session_table_counts(t)->devices_evicted, 8);
    session_table_free(t);
}

/* The memory budget: bytes are accounted as sessions and lists come and
 * go, and shedding takes the oldest undecided sessions of the least
 * recently heard devices first, reporting each as usual. */
static void test_memory_shed(void **state)
{
    (void)state;
    struct seen s;
    struct session_table *t = table(&s, 64, 100000);
    size_t empty = session_table_bytes(t);
    char dev[16], pid[16];
    for (int d = 0; d < 10; d++) {
        snprintf(dev, sizeof dev, "dev-%d", d);
        for (int i = 0; i < 5; i++) {
            snprintf(pid, sizeof pid, "%d", 100 + i);
            struct pat_match c = ev(PAT_EV_CONNECT, PAT_SLOT_NONE, PAT_SIDE_NONE, NULL);
            session_event(t, dev, NULL, pid, strlen(pid), 1000 + d, &c, NULL);
        }
    }
    size_t full = session_table_bytes(t);
    assert_true(full > empty + 50 * 500); /* 50 sessions of a few hundred bytes each */
    client_offer(t, "dev-9", 1009, "diffie-hellman-group1-sha1"); /* lists add up */
    assert_true(session_table_bytes(t) > full);
    full = session_table_bytes(t);

    /* a little: the oldest sessions of the least recently heard device */
    size_t freed = session_shed(t, 1);
    assert_true(freed > 0);
    assert_int_equal(session_table_bytes(t), full - freed);
    assert_int_equal(session_table_counts(t)->memory_evicted, 1);
    assert_int_equal(session_table_counts(t)->undecided, 1); /* decided early: nothing known */
    assert_int_equal(session_table_sessions(t), 49);

    /* more than the sessions hold: every session, then devices */
    freed = session_shed(t, full);
    assert_int_equal(session_table_sessions(t), 0);
    assert_int_equal(session_table_devices(t), 0);
    assert_int_equal(session_table_counts(t)->memory_evicted, 50);
    assert_int_equal(session_table_counts(t)->devices_evicted, 10);
    /* each decided with what it had: too little (no server lists) */
    assert_int_equal(session_table_counts(t)->undecided, 50);
    assert_int_equal(session_table_bytes(t), empty);
    session_table_free(t);
}

/* sshd DEBUG1: "kex: algorithm: (no match)" comes BEFORE "Unable to
 * negotiate ... Their offer": the first must not decide without the offer */
static void test_no_match_then_offer(void **state)
{
    (void)state;
    struct seen s;
    struct session_table *t = table(&s, 0, 0);
    struct pat_match nm = ev(PAT_EV_NO_MATCH, NEG_HOSTKEY, PAT_SIDE_NONE, NULL);
    session_event(t, "edge", NULL, "4358", 4, 1000, &nm, NULL);
    assert_int_equal(s.n, 0);
    struct pat_match f = ev(PAT_EV_FAILURE, NEG_HOSTKEY, PAT_SIDE_NONE, NULL);
    f.client_list = sp("ssh-rsa,ssh-dss");
    f.peer = sp("127.0.0.1");
    f.port = sp("35010");
    session_event(t, "edge", NULL, "4358", 4, 1000, &f, NULL);
    assert_int_equal(s.n, 1);
    assert_true(s.last_failed);
    assert_int_equal(s.last_slot, NEG_HOSTKEY);
    assert_int_equal(s.last_offer, 2);
    assert_int_equal(s.last_evidence, EVIDENCE_EXPLICIT);
    /* without the failure line, the session's end decides it all the same */
    session_event(t, "edge", NULL, "4400", 4, 1001, &nm, NULL);
    assert_int_equal(s.n, 1);
    session_expire(t, 1001 + 120);
    assert_int_equal(s.n, 2);
    assert_true(s.last_failed);
    assert_int_equal(s.last_slot, NEG_HOSTKEY);
    assert_int_equal(s.last_offer, 0);
    session_table_free(t);
}

/* sshd INFO/VERBOSE, Dropbear: a userauth line with no lists and no
 * connection line before it is a success; the session's later userauth
 * lines are the same success; another port is another connection */
static void test_success_without_lists(void **state)
{
    (void)state;
    struct seen s;
    struct session_table *t = table(&s, 0, 0);
    struct pat_match ok = ev(PAT_EV_SUCCESS, PAT_SLOT_NONE, PAT_SIDE_NONE, NULL);
    ok.peer = sp("127.0.0.1");
    ok.port = sp("55074");
    for (int i = 0; i < 4; i++) /* "Failed password" x4, "maximum ... exceeded" */
        session_event(t, "lab", NULL, "3779", 4, 1000 + i, &ok, NULL);
    assert_int_equal(s.n, 1);
    assert_false(s.last_failed);
    assert_string_equal(s.last_peer, "127.0.0.1");
    assert_int_equal(session_table_counts(t)->successes, 1);
    /* the pid reused by another connection (port 55080) */
    ok.port = sp("55080");
    session_event(t, "lab", NULL, "3779", 4, 1010, &ok, NULL);
    assert_int_equal(s.n, 2);
    /* a close with no session stays an orphan; a success after a failure
     * of the same session changes nothing */
    struct pat_match f = ev(PAT_EV_FAILURE, PAT_SLOT_NONE, PAT_SIDE_NONE, NULL);
    f.category = ALGO_KEX;
    session_event(t, "lab", NULL, "3800", 4, 1011, &f, NULL);
    session_event(t, "lab", NULL, "3800", 4, 1011, &ok, NULL);
    assert_int_equal(s.n, 3);
    assert_true(s.last_failed);
    session_table_free(t);
}

/* an outcome line with no session to join is counted, not invented */
static void test_orphans(void **state)
{
    (void)state;
    struct seen s;
    struct session_table *t = table(&s, 0, 0);
    struct pat_match f = ev(PAT_EV_LOGIN_FAIL, PAT_SLOT_NONE, PAT_SIDE_NONE, NULL);
    f.peer = sp("192.0.2.1");
    session_event(t, "hw9", NULL, NULL, 0, 1000, &f, NULL);
    assert_int_equal(s.n, 0);
    assert_int_equal(session_table_counts(t)->orphans, 1);
    session_table_free(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_inferred_failure_on_login_fail),
        cmocka_unit_test(test_success_on_login),
        cmocka_unit_test(test_duplicate_failure_absorbed),
        cmocka_unit_test(test_category_only_failure),
        cmocka_unit_test(test_reused_session_marker),
        cmocka_unit_test(test_idle_expiry),
        cmocka_unit_test(test_unknown_server_no_failure),
        cmocka_unit_test(test_bounds),
        cmocka_unit_test(test_orphans),
        cmocka_unit_test(test_memory_shed),
        cmocka_unit_test(test_no_match_then_offer),
        cmocka_unit_test(test_success_without_lists),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
