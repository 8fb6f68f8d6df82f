/* SPDX-License-Identifier: ISC */
#include "config.h"

#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hashtab.h"
#include "session.h"
#include "stats.h"


struct sess {
    struct sess *prev, *next; /* the device's sessions, most recent first */
    char key[72];             /* "s:<marker>", "p:<pid>" or "" */
    char peer[64];
    unsigned port;
    char software[256];
    char reason[160];
    char vendor[16];          /* the patterns' vendor (copied: patterns are replaced on reload) */
    char platform[24];        /* the patterns' platform, likewise */
    char server_software[64]; /* the device's own version string, from this session */
    struct negotiate_list *client[NEG_NSLOTS];
    struct negotiate_list *server[NEG_NSLOTS];
    enum pat_side last_side;
    int64_t last;
    bool explicit_fail;
    int fail_slot;
    int fail_cat;
    bool success;
    bool decided; /* reported; kept until idle to absorb repeated lines */
    bool has_data;
};

struct dev {
    struct dev *lru_prev, *lru_next; /* most recently used first */
    char *key;
    struct sockaddr_storage src;
    bool has_src;
    struct sess *sessions;
    unsigned n_sessions;
    struct negotiate_list *learned[NEG_NSLOTS]; /* from the device's own proposals */
    char server_software[64]; /* the device's own version string, last seen */
};

struct session_table {
    const struct algo_db *db;
    const struct inventory *inv;
    struct session_limits lim;
    session_outcome_cb cb;
    void *arg;
    session_profile_cb profile_cb;
    void *profile_arg;
    struct hashtab *devs; /* key -> struct dev */
    struct dev *lru_head, *lru_tail;
    size_t n_devices;
    size_t n_sessions;
    size_t bytes; /* heap held by devices, sessions and their lists */
    struct session_counts counts;
};

static double read_sessions(const void *t)
{
    return (double)((const struct session_table *)t)->n_sessions;
}

static double read_devices(const void *t)
{
    return (double)((const struct session_table *)t)->n_devices;
}

/* The table's counters in the daemon's registry (stats.h). */
static void register_counters(struct session_table *t)
{
    const struct session_counts *c = &t->counts;
    stats_register_u64("negotiations_failed", STATS_COUNTER | STATS_STATUS, "negotiations decided as failures",
                       &c->failures);
    stats_register_u64("negotiations_succeeded", STATS_COUNTER, "negotiations decided as successes", &c->successes);
    stats_register_u64("negotiations_undecided", STATS_COUNTER, "sessions that ended with too little known",
                       &c->undecided);
    stats_register_u64("session_events", STATS_COUNTER, "SSH events joined to a session", &c->events);
    stats_register_u64("session_orphans", STATS_COUNTER, "outcome events that matched no open session",
                       &c->orphans);
    stats_register_u64("session_duplicates", STATS_COUNTER, "failure lines repeating a decided session's",
                       &c->duplicates);
    stats_register_u64("sessions_expired", STATS_COUNTER, "sessions decided when their lines stopped coming",
                       &c->expired);
    stats_register_u64("sessions_evicted", STATS_COUNTER, "sessions decided early: per-device session limit",
                       &c->evicted);
    stats_register_u64("sessions_memory_evicted", STATS_COUNTER,
                       "undecided sessions decided early: memory budget ([daemon] max_memory)", &c->memory_evicted);
    stats_register_u64("devices_evicted", STATS_COUNTER, "device state forgotten: device limit or memory budget",
                       &c->devices_evicted);
    stats_register("sessions_open", STATS_GAUGE, "sessions open now", read_sessions, t);
    stats_register("devices_tracked", STATS_GAUGE, "devices with state held now", read_devices, t);
}

struct session_table *session_table_new(const struct algo_db *db, const struct inventory *inv,
                                        const struct session_limits *limits, session_outcome_cb cb, void *arg)
{
    struct session_table *t = calloc(1, sizeof *t);
    if (!t || !(t->devs = hashtab_new())) {
        free(t);
        return NULL;
    }
    t->db = db;
    t->inv = inv;
    t->lim = *limits;
    if (!t->lim.per_device)
        t->lim.per_device = 64;
    if (!t->lim.devices)
        t->lim.devices = 100000;
    if (!t->lim.idle_s)
        t->lim.idle_s = 120;
    t->cb = cb;
    t->arg = arg;
    register_counters(t);
    return t;
}

void session_table_set_knowledge(struct session_table *t, const struct algo_db *db, const struct inventory *inv)
{
    t->db = db;
    t->inv = inv;
}

void session_table_set_profile_cb(struct session_table *t, session_profile_cb cb, void *arg)
{
    t->profile_cb = cb;
    t->profile_arg = arg;
}

const struct session_counts *session_table_counts(const struct session_table *t)
{
    return &t->counts;
}

size_t session_table_devices(const struct session_table *t)
{
    return t->n_devices;
}

size_t session_table_sessions(const struct session_table *t)
{
    return t->n_sessions;
}

/* ------------------------------------------------------------ helpers */

static void copy_span(char *dst, size_t size, struct pat_span sp)
{
    size_t n = sp.len < size - 1 ? sp.len : size - 1;
    if (sp.p)
        memcpy(dst, sp.p, n);
    else
        n = 0;
    dst[n] = '\0';
}

static void sess_free(struct session_table *t, struct sess *s)
{
    t->bytes -= sizeof *s;
    for (int i = 0; i < NEG_NSLOTS; i++) {
        t->bytes -= negotiate_list_bytes(s->client[i]) + negotiate_list_bytes(s->server[i]);
        negotiate_list_free(s->client[i]);
        negotiate_list_free(s->server[i]);
    }
    free(s);
}

static void sess_unlink(struct session_table *t, struct dev *d, struct sess *s)
{
    if (s->prev)
        s->prev->next = s->next;
    else
        d->sessions = s->next;
    if (s->next)
        s->next->prev = s->prev;
    d->n_sessions--;
    t->n_sessions--;
}

/* ------------------------------------------------------------ deciding */

static int slot_category(int slot)
{
    return slot < 0 ? -1 : (int)negotiate_slot_category((enum negotiate_slot)slot);
}

/* Reports what a session came to. The device's word (an explicit failure,
 * a login) outranks the engine; the engine decides the rest. */
static void decide(struct session_table *t, struct dev *d, struct sess *s)
{
    if (s->decided)
        return;
    s->decided = true;
    if (!s->has_data && !s->explicit_fail && !s->success) {
        t->counts.undecided++;
        return;
    }
    const struct inv_device *inv =
        inventory_lookup(t->inv, d->key, d->has_src ? (const struct sockaddr *)&d->src : NULL);
    struct negotiate_offer client = {{0}}, server = {{0}};
    for (int i = 0; i < NEG_NSLOTS; i++) {
        client.list[i] = s->client[i];
        server.list[i] = s->server[i] ? s->server[i] : d->learned[i] ? d->learned[i] : inv ? inv->list[i] : NULL;
    }
    struct negotiate_result res;
    negotiate_run(t->db, &client, &server, &res);
    char fp[33], hassh[33];
    struct negotiation n = {
        .device = d->key,
        .device_name = inv ? inv->name : NULL,
        .vendor = inv && inv->vendor ? inv->vendor : s->vendor[0] ? s->vendor : NULL,
        .platform = s->platform[0] ? s->platform : NULL,
        .server_software = s->server_software[0]   ? s->server_software
                           : d->server_software[0] ? d->server_software
                                                   : NULL,
        .peer = s->peer[0] ? s->peer : NULL,
        .port = s->port,
        .software = s->software[0] ? s->software : NULL,
        .fingerprint = negotiate_fingerprint(&client, fp) == 0 ? fp : NULL,
        .hassh = negotiate_hassh(&client, hassh) == 0 ? hassh : NULL,
        .time = s->last,
        .slot = -1,
        .category = -1,
        .reason = s->reason[0] ? s->reason : NULL,
        .result = &res,
    };
    memcpy(n.client, client.list, sizeof n.client);
    memcpy(n.server, server.list, sizeof n.server);
    if (s->explicit_fail) {
        n.failed = true;
        n.evidence = EVIDENCE_EXPLICIT;
        n.slot = s->fail_slot;
        n.category = s->fail_cat >= 0 ? s->fail_cat : slot_category(s->fail_slot);
        /* a category-only report (Dropbear, old sshd) names no direction:
         * take the engine's when it proves one in that category */
        if (res.outcome == NEG_OUTCOME_FAIL && slot_category(res.first_fail) == n.category)
            n.slot = res.first_fail;
    } else if (s->success) {
        n.failed = false;
    } else if (res.outcome == NEG_OUTCOME_FAIL) {
        n.failed = true;
        n.evidence = EVIDENCE_INFERRED;
        n.slot = res.first_fail;
        n.category = slot_category(res.first_fail);
    } else if (res.outcome == NEG_OUTCOME_OK) {
        n.failed = false;
    } else {
        t->counts.undecided++;
        return;
    }
    if (n.failed)
        t->counts.failures++;
    else
        t->counts.successes++;
    t->cb(t->arg, &n);
}

/* ------------------------------------------------------------ devices */

static void lru_unlink(struct session_table *t, struct dev *d)
{
    if (d->lru_prev)
        d->lru_prev->lru_next = d->lru_next;
    else
        t->lru_head = d->lru_next;
    if (d->lru_next)
        d->lru_next->lru_prev = d->lru_prev;
    else
        t->lru_tail = d->lru_prev;
    d->lru_prev = d->lru_next = NULL;
}

static void lru_front(struct session_table *t, struct dev *d)
{
    d->lru_next = t->lru_head;
    d->lru_prev = NULL;
    if (t->lru_head)
        t->lru_head->lru_prev = d;
    t->lru_head = d;
    if (!t->lru_tail)
        t->lru_tail = d;
}

static void dev_drop_sessions(struct session_table *t, struct dev *d)
{
    while (d->sessions) {
        struct sess *s = d->sessions;
        decide(t, d, s);
        sess_unlink(t, d, s);
        sess_free(t, s);
    }
}

static void dev_free(struct session_table *t, struct dev *d)
{
    hashtab_remove(t->devs, d->key, strlen(d->key));
    lru_unlink(t, d);
    dev_drop_sessions(t, d);
    for (int i = 0; i < NEG_NSLOTS; i++) {
        t->bytes -= negotiate_list_bytes(d->learned[i]);
        negotiate_list_free(d->learned[i]);
    }
    t->bytes -= sizeof *d + strlen(d->key) + 1;
    free(d->key);
    free(d);
    t->n_devices--;
}

static struct dev *dev_get(struct session_table *t, const char *key, const struct sockaddr *src)
{
    size_t klen = strlen(key);
    struct dev *d = hashtab_find(t->devs, key, klen);
    if (d) {
        lru_unlink(t, d);
        lru_front(t, d);
        return d;
    }
    if (t->n_devices >= t->lim.devices && t->lru_tail) {
        t->counts.devices_evicted++;
        dev_free(t, t->lru_tail);
    }
    d = calloc(1, sizeof *d);
    if (!d || !(d->key = strdup(key)) || hashtab_put(t->devs, d->key, klen, d, NULL) < 0) {
        if (d)
            free(d->key);
        free(d);
        return NULL;
    }
    if (src && (src->sa_family == AF_INET || src->sa_family == AF_INET6)) {
        memcpy(&d->src, src, src->sa_family == AF_INET ? sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6));
        d->has_src = true;
    }
    lru_front(t, d);
    t->n_devices++;
    t->bytes += sizeof *d + strlen(key) + 1;
    return d;
}

/* ------------------------------------------------------------ sessions */

static struct sess *sess_new(struct session_table *t, struct dev *d, const char *key, int64_t now)
{
    if (d->n_sessions >= t->lim.per_device) {
        /* the oldest goes; decided ones are only kept to absorb repeats */
        struct sess *old = d->sessions;
        while (old->next)
            old = old->next;
        if (!old->decided)
            t->counts.evicted++;
        decide(t, d, old);
        sess_unlink(t, d, old);
        sess_free(t, old);
    }
    struct sess *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    t->bytes += sizeof *s;
    snprintf(s->key, sizeof s->key, "%s", key);
    s->fail_slot = -1;
    s->fail_cat = -1;
    s->last = now;
    s->next = d->sessions;
    if (d->sessions)
        d->sessions->prev = s;
    d->sessions = s;
    d->n_sessions++;
    t->n_sessions++;
    return s;
}

static void expire_device(struct session_table *t, struct dev *d, int64_t now)
{
    struct sess *s = d->sessions;
    while (s) {
        struct sess *next = s->next;
        if (now - s->last >= (int64_t)t->lim.idle_s) {
            if (!s->decided)
                t->counts.expired++;
            decide(t, d, s);
            sess_unlink(t, d, s);
            sess_free(t, s);
        }
        s = next;
    }
}

static struct sess *find_by_key(struct dev *d, const char *key)
{
    for (struct sess *s = d->sessions; s; s = s->next)
        if (strcmp(s->key, key) == 0)
            return s;
    return NULL;
}

/* A session of the same client address (and port, when both know it);
 * one keyed by another PID or session marker is another connection. */
static struct sess *find_by_peer(struct dev *d, struct pat_span peer, unsigned port, const char *key)
{
    char p[64];
    copy_span(p, sizeof p, peer);
    /* an open session first, then a decided one (to absorb its repeats) */
    for (int pass = 0; pass < 2; pass++)
        for (struct sess *s = d->sessions; s; s = s->next)
            if (s->decided == (pass == 1) && strcmp(s->peer, p) == 0 && (!port || !s->port || s->port == port) &&
                !(key[0] && s->key[0] && strcmp(key, s->key) != 0))
                return s;
    return NULL;
}

static bool starts_connection(enum pat_event ev)
{
    return ev == PAT_EV_CONNECT || ev == PAT_EV_VERSION;
}

/* lines that end a negotiation without starting one */
static bool is_outcome(enum pat_event ev)
{
    return ev == PAT_EV_LOGIN_FAIL || ev == PAT_EV_CLOSE;
}

static unsigned span_uint(struct pat_span sp)
{
    unsigned v = 0;
    for (size_t i = 0; i < sp.len && i < 6; i++) {
        if (sp.p[i] < '0' || sp.p[i] > '9')
            return 0;
        v = v * 10 + (unsigned)(sp.p[i] - '0');
    }
    return v <= 65535 ? v : 0;
}

/* a list that runs to the end of a line that may have been truncated may
 * have lost names */
static void set_list(struct session_table *t, struct negotiate_list **dst, struct pat_span sp, const char *cut_at)
{
    struct negotiate_list *l = NULL;
    bool cut = cut_at && sp.p && sp.p + sp.len >= cut_at;
    if (negotiate_list_parse(sp.p, sp.p ? sp.len : 0, cut ? NEGOTIATE_PARSE_CUT : 0, &l, NULL) < 0)
        return;
    t->bytes += negotiate_list_bytes(l);
    t->bytes -= negotiate_list_bytes(*dst);
    negotiate_list_free(*dst);
    *dst = l;
}

static bool list_equal(const struct negotiate_list *a, const struct negotiate_list *b)
{
    if (!a || !b || negotiate_list_count(a) != negotiate_list_count(b) ||
        negotiate_list_partial(a) != negotiate_list_partial(b))
        return false;
    for (size_t i = 0; i < negotiate_list_count(a); i++)
        if (strcmp(negotiate_list_name(a, i), negotiate_list_name(b, i)) != 0)
            return false;
    return true;
}

/* Keeps a device's own proposal as its server profile and, when it
 * changed, tells the store so it survives restarts. */
static void learn(struct session_table *t, struct dev *d, int slot, struct pat_span sp, const char *cut_at,
                  int64_t now)
{
    struct negotiate_list *l = NULL;
    set_list(t, &l, sp, cut_at);
    if (!l)
        return;
    if (list_equal(l, d->learned[slot])) {
        t->bytes -= negotiate_list_bytes(l);
        negotiate_list_free(l);
        return;
    }
    t->bytes -= negotiate_list_bytes(d->learned[slot]);
    negotiate_list_free(d->learned[slot]);
    d->learned[slot] = l;
    if (t->profile_cb && !negotiate_list_partial(l)) {
        char *text = negotiate_list_join(l);
        if (text)
            t->profile_cb(t->profile_arg, d->key, slot, text, now);
        free(text);
    }
}

int session_restore_profile(struct session_table *t, const char *device, int slot, const char *list,
                            int64_t learned_at)
{
    (void)learned_at;
    if (slot < 0 || slot >= NEG_NSLOTS)
        return -1;
    struct dev *d = dev_get(t, device, NULL);
    if (!d)
        return -1;
    struct negotiate_list *l = NULL;
    if (negotiate_list_parse(list, strlen(list), 0, &l, NULL) < 0)
        return -1;
    t->bytes += negotiate_list_bytes(l);
    t->bytes -= negotiate_list_bytes(d->learned[slot]);
    negotiate_list_free(d->learned[slot]);
    d->learned[slot] = l;
    return 0;
}

int session_set_server_software(struct session_table *t, const char *device, const char *software)
{
    struct dev *d = dev_get(t, device, NULL);
    if (!d)
        return -1;
    snprintf(d->server_software, sizeof d->server_software, "%s", software ? software : "");
    return 0;
}

/* the slot a list of this event fills: the pattern's, else the category's
 * client-to-server slot */
static int event_slot(const struct pat_match *m)
{
    if (m->slot >= 0)
        return m->slot;
    if (m->slot == PAT_SLOT_IGNORED)
        return PAT_SLOT_IGNORED;
    static const int cat_slot[] = {NEG_KEX, NEG_HOSTKEY, NEG_CIPHER_C2S, NEG_MAC_C2S, NEG_COMP_C2S};
    if (m->category >= 0 && m->category < 5)
        return cat_slot[m->category];
    return PAT_SLOT_NONE;
}

void session_event(struct session_table *t, const char *device, const struct sockaddr *src, const char *procid,
                   size_t procid_len, int64_t now, const struct pat_match *m, const char *cut_at)
{
    struct dev *d = dev_get(t, device, src);
    if (!d)
        return;
    expire_device(t, d, now);

    char key[72] = "";
    if (m->session.p && m->session.len) {
        char v[64];
        copy_span(v, sizeof v, m->session);
        snprintf(key, sizeof key, "s:%s", v);
    } else if (procid && procid_len) {
        char v[64];
        copy_span(v, sizeof v, (struct pat_span){procid, procid_len});
        snprintf(key, sizeof key, "p:%s", v);
    }
    unsigned port = span_uint(m->port);

    struct sess *s = NULL;
    if (key[0])
        s = find_by_key(d, key);
    if (!s && m->peer.p && m->peer.len)
        s = find_by_peer(d, m->peer, port, key);
    if (!s && !key[0] && d->sessions && !d->sessions->decided && now - d->sessions->last < (int64_t)t->lim.idle_s)
        s = d->sessions; /* arrival order: the device's current negotiation */

    if (is_outcome(m->event) && (!s || s->decided)) {
        if (!s)
            t->counts.orphans++;
        return;
    }
    if ((m->event == PAT_EV_FAILURE || m->event == PAT_EV_NO_MATCH) && s && s->decided) {
        /* a failure line repeating a decided session's (a relay's duplicate) */
        t->counts.duplicates++;
        s->last = now;
        return;
    }
    if (m->event == PAT_EV_SUCCESS && s && s->decided) {
        /* a session past key exchange logs many such lines (Postponed,
         * Failed password, Accepted, ...): the first decided it. One from
         * another client address or port is another connection (at INFO
         * sshd logs no connection line that would tell). */
        char p[64];
        copy_span(p, sizeof p, m->peer);
        if (!(p[0] && s->peer[0] && strcmp(p, s->peer) != 0) && !(port && s->port && port != s->port)) {
            s->last = now;
            return;
        }
    }
    if (s && (s->decided ||
              (starts_connection(m->event) && m->side != PAT_SIDE_SERVER && (s->has_data || s->software[0])))) {
        /* a new connection reusing a key (VTY numbers and pids are reused) */
        decide(t, d, s);
        s = NULL;
    }
    if (!s) {
        s = sess_new(t, d, key, now);
        if (!s)
            return;
    }
    t->counts.events++;
    s->last = now;
    if (!s->vendor[0] && m->vendor)
        snprintf(s->vendor, sizeof s->vendor, "%s", m->vendor);
    if (m->peer.p && m->peer.len && !s->peer[0])
        copy_span(s->peer, sizeof s->peer, m->peer);
    if (port && !s->port)
        s->port = port;
    if (!s->platform[0] && m->platform)
        snprintf(s->platform, sizeof s->platform, "%s", m->platform);
    if (m->software.p && m->software.len && m->side == PAT_SIDE_SERVER) {
        /* the device announcing itself: names its platform and release */
        copy_span(s->server_software, sizeof s->server_software, m->software);
        snprintf(d->server_software, sizeof d->server_software, "%s", s->server_software);
    } else if (m->software.p && m->software.len) {
        copy_span(s->software, sizeof s->software, m->software);
    }
    if (m->reason.p && m->reason.len)
        copy_span(s->reason, sizeof s->reason, m->reason);

    int slot = event_slot(m);
    switch (m->event) {
    case PAT_EV_CONNECT:
    case PAT_EV_VERSION:
        break;
    case PAT_EV_PROPOSAL:
        s->last_side = m->side;
        break;
    case PAT_EV_LIST: {
        if (slot < 0)
            break;
        enum pat_side side = m->side != PAT_SIDE_NONE ? m->side : s->last_side;
        struct pat_span sp = m->list.p ? m->list : m->client_list.p ? m->client_list : m->server_list;
        if (side == PAT_SIDE_SERVER) {
            set_list(t, &s->server[slot], sp, cut_at);
            /* the device's own proposal is its current server profile */
            learn(t, d, slot, sp, cut_at, now);
        } else {
            set_list(t, &s->client[slot], sp, cut_at);
            s->has_data = true;
        }
        break;
    }
    case PAT_EV_AGREED:
        s->has_data = true;
        break;
    case PAT_EV_NO_MATCH:
        /* the failure line with the client's offer is still to come: it
         * decides (else the session's end does) */
        s->explicit_fail = true;
        s->fail_slot = slot >= 0 ? slot : -1;
        s->fail_cat = m->category >= 0 ? m->category : slot_category(s->fail_slot);
        break;
    case PAT_EV_FAILURE:
        s->explicit_fail = true;
        s->fail_slot = slot >= 0 ? slot : -1;
        s->fail_cat = m->category >= 0 ? m->category : slot_category(s->fail_slot);
        if (slot >= 0) {
            struct pat_span cl = m->client_list.p ? m->client_list : m->list;
            if (cl.p)
                set_list(t, &s->client[slot], cl, cut_at);
            if (m->server_list.p)
                set_list(t, &s->server[slot], m->server_list, cut_at);
        }
        decide(t, d, s);
        break;
    case PAT_EV_SUCCESS:
        s->success = true;
        decide(t, d, s);
        break;
    case PAT_EV_LOGIN_FAIL:
    case PAT_EV_CLOSE:
        decide(t, d, s);
        break;
    case PAT_EV_COUNT:
        break;
    }
}

void session_expire(struct session_table *t, int64_t now)
{
    for (struct dev *d = t->lru_head; d; d = d->lru_next)
        expire_device(t, d, now);
}

void session_flush(struct session_table *t)
{
    for (struct dev *d = t->lru_head; d; d = d->lru_next)
        dev_drop_sessions(t, d);
}

size_t session_table_bytes(const struct session_table *t)
{
    return t ? t->bytes + sizeof *t + hashtab_bytes(t->devs) : 0;
}

/* The oldest session of d (its list is most recent first). */
static struct sess *oldest_sess(struct dev *d, bool undecided)
{
    struct sess *found = NULL;
    for (struct sess *s = d->sessions; s; s = s->next)
        if (!undecided || !s->decided)
            found = s;
    return found;
}

size_t session_shed(struct session_table *t, size_t want)
{
    size_t before = t->bytes;
#define SHED_DONE (before - t->bytes >= want)
    /* decided sessions first: they only absorb repeated lines */
    for (struct dev *d = t->lru_tail; d && !SHED_DONE; d = d->lru_prev) {
        struct sess *s = d->sessions, *next;
        for (; s && !SHED_DONE; s = next) {
            next = s->next;
            if (s->decided) {
                sess_unlink(t, d, s);
                sess_free(t, s);
            }
        }
    }
    /* then the oldest undecided ones, of the least recently heard devices,
     * decided early with what they have */
    for (struct dev *d = t->lru_tail; d && !SHED_DONE; d = d->lru_prev) {
        struct sess *s;
        while (!SHED_DONE && (s = oldest_sess(d, true))) {
            t->counts.memory_evicted++;
            decide(t, d, s);
            sess_unlink(t, d, s);
            sess_free(t, s);
        }
    }
    /* last, whole devices (learned lists come back from the database at
     * the next start) */
    while (t->lru_tail && !SHED_DONE) {
        t->counts.devices_evicted++;
        dev_free(t, t->lru_tail);
    }
#undef SHED_DONE
    return before - t->bytes;
}

void session_table_free(struct session_table *t)
{
    if (!t)
        return;
    while (t->lru_head)
        dev_free(t, t->lru_head);
    hashtab_free(t->devs);
    stats_unregister(t, sizeof *t);
    free(t);
}
