/* SPDX-License-Identifier: ISC */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "alert.h"
#include "algo.h"
#include "catalogue.h"
#include "hashtab.h"
#include "log.h"
#include "store.h"
#include "negotiate.h"
#include "sink.h"
#include "stats.h"
#include "text.h"

#define ALERT_MAX 200000u /* alerts remembered for deduplication */
/* heap of one remembered alert beyond its struct: the last alert object
 * (jansson, ~40 values; measured with tests/bench/rss.sh) */
#define ALERT_OBJECT_BYTES 6144u
/* the client identity string: a fingerprint, "offer:" and an MD5, or the
 * software as the store keeps it */
#define STORE_IDENTITY_MAX 1100

/* Who the client is, by the best of what the device logged: its
 * fingerprint, its software, its offer in the failing category (names
 * comma-joined as offered), and its address. The alert's id covers the
 * fingerprint, else the software and the offer, else the offer (and the
 * offer with a fingerprint too for host-key failures: the fingerprint does
 * not cover host-key algorithms), so two clients that fail differently
 * never share an alert; a success resolves the alert when it names the
 * same client by the best identity both know (alert_same_client). */
struct alert_state {
    struct alert_state *next; /* of the same device */
    char id[33];
    char *device;   /* the device key, whole */
    char fingerprint[33];
    char hassh[33]; /* "" unknown; equal to fingerprint: saved before fingerprints covered host keys */
    char *software; /* NULL: not logged */
    char *offer;    /* NULL: not logged */
    int slot;       /* the failing slot (whose client list offer is), or -1 */
    char address[64];
    char mismatch[64];
    char category[16];
    int64_t first_seen, last_seen, last_sent;
    int64_t last_rx; /* wall clock of the last failure (device clocks may be off) */
    int64_t fixed_at; /* a probe showed the device offering what the client needs; 0: not */
    bool server_known; /* the device's list of the failing slot was known when it last failed */
    uint64_t count;
    bool dirty;   /* count/last_seen of repeats not saved yet (alerter_sync) */
    json_t *last; /* the last alert object sent, for the resolved notice */
};

/* The alerts of one device, most recent first; the table's key is device. */
struct alert_dev {
    struct alert_state *head;
    size_t len;
    char device[];
};

enum { SINK_STDOUT, SINK_FILE, SINK_SYSLOG, SINK_EXEC, SINK_N };
#define WEBHOOK_MAX 16 /* URLs in [alerts] webhook */

/* An alert waiting for its state to be committed before it is emitted. */
struct alert_pending {
    struct alert_pending *next;
    json_t *o;
    char id[33];
};

struct alerter {
    struct sink_env env;
    struct sink *sinks[SINK_N]; /* in the order each alert reaches them; NULL: not configured */
    /* the webhook peers ([alerts] webhook URLs, in order; each with its own
     * queue, back-off and outbox rows), after the sinks above */
    struct sink *hooks[WEBHOOK_MAX];
    size_t nhooks;
    uint64_t hooks_gone[2]; /* sent and failed of peers removed by SIGHUP (counters never go back) */
    int64_t next_resend;    /* wall clock of the next re-send of firing alerts */
    int replay; /* stdout only, whatever the configuration says */
    struct hashtab *devs; /* device key -> struct alert_dev */
    size_t dev_bytes;     /* heap of the struct alert_dev */
    size_t n;
    uint64_t sent, suppressed;
    size_t dirty; /* alerts with repeats not saved yet */
    struct log_ratelimit rl;
    /* alerts emitted once their state is committed, oldest first: one
     * store_after_commit callback each, called in order */
    struct alert_pending *pend_head, **pend_tail;
};

/* Alerts are kept by device, so a success (one per login, frequent) looks
 * at its device's alerts only. The device's entry, NULL when it has none. */
static struct alert_dev *dev_find(const struct alerter *a, const char *device)
{
    return hashtab_find(a->devs, device, strlen(device));
}

/* Puts s first among its device's alerts; -1 when memory is short. */
static int dev_add(struct alerter *a, struct alert_state *s)
{
    struct alert_dev *d = dev_find(a, s->device);
    if (!d) {
        size_t len = strlen(s->device);
        if (!(d = malloc(sizeof *d + len + 1)))
            return -1;
        d->head = NULL;
        d->len = len;
        memcpy(d->device, s->device, len + 1);
        if (hashtab_put(a->devs, d->device, len, d, NULL) < 0) {
            free(d);
            return -1;
        }
        a->dev_bytes += sizeof *d + len + 1;
    }
    s->next = d->head;
    d->head = s;
    a->n++;
    return 0;
}

/* Forgets d once its last alert is gone. */
static void dev_release(struct alerter *a, struct alert_dev *d)
{
    if (d->head)
        return;
    hashtab_remove(a->devs, d->device, d->len);
    a->dev_bytes -= sizeof *d + d->len + 1;
    free(d);
}

static void state_free(struct alert_state *s)
{
    json_decref(s->last);
    free(s->device);
    free(s->software);
    free(s->offer);
    free(s);
}

/* An alert saved before fingerprints covered host keys (schema 006 copied
 * its fingerprint, a HASSH, to hassh): it is matched by the HASSH, the
 * rule it was raised under, until its client's next failure gives it the
 * new fingerprint (alerter_process). */
static bool alert_legacy(const struct alert_state *s)
{
    return s->fingerprint[0] && strcmp(s->fingerprint, s->hassh) == 0;
}

/* Whether the success n names the client of alert s, by the best identity
 * both know: the fingerprint (the HASSH for an alert of an earlier
 * version); else the software and the client's list of
 * the alert's failing slot (each when both know it); else the address.
 * With nothing in common, no. */
static bool alert_same_client(const struct alert_state *s, const struct negotiation *n)
{
    if (alert_legacy(s) && n->hassh)
        return strcmp(s->fingerprint, n->hassh) == 0;
    if (s->fingerprint[0] && n->fingerprint)
        return strcmp(s->fingerprint, n->fingerprint) == 0;
    bool known = false, same = true;
    if (s->software && n->software) {
        known = true;
        same = strcmp(s->software, n->software) == 0;
    }
    if (same && s->offer && s->slot >= 0 && s->slot < NEG_NSLOTS && n->client[s->slot]) {
        char *o = negotiate_list_join(n->client[s->slot]);
        known = true;
        same = o && strcmp(o, s->offer) == 0;
        free(o);
    }
    if (known)
        return same;
    if (s->address[0] && n->peer)
        return strcmp(s->address, n->peer) == 0;
    return false;
}

/* The client part of the alert's identity as one string (the `client`
 * label of Alertmanager): the fingerprint, else the software, else
 * "offer:" and the MD5 of the client's list of the failing slot, else
 * "unknown". */
static json_t *client_identity(const struct alert_state *s)
{
    char buf[4 * STORE_IDENTITY_MAX];
    if (s->fingerprint[0])
        return json_string(s->fingerprint);
    if (s->software) /* received text: made UTF-8 as the alert object's */
        return json_stringn(buf, text_to_utf8(buf, sizeof buf, s->software, strlen(s->software)));
    if (s->offer) {
        char md5[33];
        negotiate_md5_hex(s->offer, strlen(s->offer), md5);
        snprintf(buf, sizeof buf, "offer:%s", md5);
        return json_string(buf);
    }
    return json_string("unknown");
}

/* Received text as a JSON string (made UTF-8 as the alert object's). */
static json_t *jtext(const char *t)
{
    char buf[4 * STORE_IDENTITY_MAX];
    return t ? json_stringn(buf, text_to_utf8(buf, sizeof buf, t, strlen(t))) : json_null();
}

/* The webhook figures: the sum over its peers. */
static uint64_t hooks_sum(const struct alerter *a, int f)
{
    uint64_t v = f < 2 ? a->hooks_gone[f] : 0;
    for (size_t i = 0; i < a->nhooks; i++) {
        const struct sink *h = a->hooks[i];
        v += f == 0 ? h->sent : f == 1 ? h->failed : f == 2 ? h->pending : h->dropped;
    }
    return v;
}
static const struct sink *find_sink(const struct alerter *a, const char *name)
{
    for (int i = 0; i < SINK_N; i++)
        if (a->sinks[i] && strcmp(a->sinks[i]->ops->name, name) == 0)
            return a->sinks[i];
    return NULL;
}

uint64_t alerter_sink_sent(const struct alerter *a, const char *sink)
{
    const struct sink *s = find_sink(a, sink);
    return s ? s->sent : 0;
}

uint64_t alerter_sink_failed(const struct alerter *a, const char *sink)
{
    const struct sink *s = find_sink(a, sink);
    return s ? s->failed : 0;
}

uint64_t alerter_webhook_sent(const struct alerter *a)
{
    return hooks_sum(a, 0);
}

uint64_t alerter_webhook_failed(const struct alerter *a)
{
    return hooks_sum(a, 1);
}

size_t alerter_webhook_pending(const struct alerter *a)
{
    return (size_t)hooks_sum(a, 2);
}

static double read_sent(const void *a)
{
    return (double)((const struct alerter *)a)->sent;
}

static double read_suppressed(const void *a)
{
    return (double)((const struct alerter *)a)->suppressed;
}

static void restore_alert(void *arg, const struct store_alert *sa)
{
    struct alerter *a = arg;
    if (a->n >= ALERT_MAX || strlen(sa->alert_id) != 32)
        return;
    struct alert_state *s = calloc(1, sizeof *s);
    if (!s)
        return;
    memcpy(s->id, sa->alert_id, 33);
    if (!(s->device = strdup(sa->device))) {
        free(s);
        return;
    }
    snprintf(s->fingerprint, sizeof s->fingerprint, "%s", sa->fingerprint ? sa->fingerprint : "");
    snprintf(s->hassh, sizeof s->hassh, "%s", sa->hassh ? sa->hassh : "");
    snprintf(s->mismatch, sizeof s->mismatch, "%s", sa->mismatch ? sa->mismatch : "unclassified");
    snprintf(s->category, sizeof s->category, "%s", sa->category ? sa->category : "kex");
    s->software = sa->software ? strdup(sa->software) : NULL;
    s->offer = sa->offer ? strdup(sa->offer) : NULL;
    s->slot = sa->slot ? negotiate_slot_from_name(sa->slot) : -1;
    snprintf(s->address, sizeof s->address, "%s", sa->address ? sa->address : "");
    s->first_seen = sa->first_seen;
    s->last_seen = sa->last_seen;
    s->last_sent = sa->last_notified;
    s->last_rx = sa->last_notified;
    s->fixed_at = sa->fixed_at;
    s->count = sa->count;
    /* the object it was last sent with (schema 004): re-sent and resolved
     * with the same labels */
    json_t *o = sa->object ? json_loads(sa->object, 0, NULL) : NULL;
    if (json_is_object(o) && json_is_object(json_object_get(o, "client")))
        s->last = o;
    else
        json_decref(o);
    if (dev_add(a, s) < 0)
        state_free(s);
}

/* Each sink's figures by its slot: the sink behind a slot may change
 * (SIGHUP reopens the file sink), the slot stays. */
#define SINK_FIGURE(f)                                                                                                \
    static double read_sink_##f(const void *slot)                                                                     \
    {                                                                                                                 \
        const struct sink *s = *(struct sink *const *)slot;                                                          \
        return s ? (double)s->f : 0;                                                                                 \
    }
SINK_FIGURE(sent)
SINK_FIGURE(failed)
SINK_FIGURE(pending)
SINK_FIGURE(dropped)
#undef SINK_FIGURE

static double read_hooks_sent(const void *a)
{
    return (double)hooks_sum(a, 0);
}
static double read_hooks_failed(const void *a)
{
    return (double)hooks_sum(a, 1);
}
static double read_hooks_pending(const void *a)
{
    return (double)hooks_sum(a, 2);
}
static double read_hooks_dropped(const void *a)
{
    return (double)hooks_sum(a, 3);
}

static double read_firing(const void *a)
{
    return (double)((const struct alerter *)a)->n;
}

/* The alerter's and its sinks' counters in the daemon's registry (stats.h). */
static void register_counters(struct alerter *a)
{
    static const struct {
        int slot;
        const char *name[4], *help[4];
    } sk[] = {
        {SINK_FILE,
         {"file_sent", "file_failed", "file_pending", NULL},
         {"alerts written to [alerts] file and synced to disk", "alerts the alert file could not take",
          "alerts waiting for the alert file's next fsync", NULL}},
        {SINK_SYSLOG,
         {"syslog_sent", "syslog_failed", "syslog_pending", NULL},
         {"alerts forwarded by syslog", "alerts the syslog sink could not send", "syslog notifications waiting",
          NULL}},
        {SINK_EXEC,
         {"exec_sent", "exec_failed", "exec_pending", NULL},
         {"alert programs that exited 0", "alert programs that failed, were killed or not run (queue full)",
          "alert programs waiting or running", NULL}},
    };
    static const stats_read_fn read[4] = {read_sink_sent, read_sink_failed, read_sink_pending, read_sink_dropped};
    stats_register("alerts_sent", STATS_COUNTER | STATS_STATUS,
                   "alert notifications (firing, repeated, resolved) handed to the sinks", read_sent, a);
    stats_register("alerts_suppressed", STATS_COUNTER, "repeats held back by [alerts] repeat_interval",
                   read_suppressed, a);
    stats_register("alerts_firing", STATS_GAUGE, "alerts firing now (not yet resolved)", read_firing, a);
    stats_register("webhook_sent", STATS_COUNTER, "alerts the webhook peers accepted (each peer counts)",
                   read_hooks_sent, a);
    stats_register("webhook_failed", STATS_COUNTER, "failed webhook attempts (all peers)", read_hooks_failed, a);
    stats_register("webhook_pending", STATS_GAUGE, "alerts waiting for the webhook peers (each peer counts)",
                   read_hooks_pending, a);
    stats_register("webhook_dropped", STATS_COUNTER,
                   "alerts set aside by a full [alerts] webhook_queue (kept in the outbox for the next start)",
                   read_hooks_dropped, a);
    for (size_t i = 0; i < sizeof sk / sizeof sk[0]; i++)
        for (int f = 0; f < 4; f++)
            if (sk[i].name[f])
                stats_register(sk[i].name[f], f == 2 ? STATS_GAUGE : STATS_COUNTER, sk[i].help[f], read[f],
                               &a->sinks[sk[i].slot]);
}

/* Splits [alerts] webhook (URLs separated by commas and/or blanks) into
 * urls (each the caller's to free). Returns how many, or -1 with err set
 * (too many, or one named twice). */
static int webhook_urls(const char *list, char **urls, char *err, size_t errsize)
{
    int n = 0;
    for (const char *p = list; *p;) {
        p += strspn(p, ", \t");
        size_t len = strcspn(p, ", \t");
        if (!len)
            break;
        bool twice = false;
        for (int i = 0; i < n && !twice; i++)
            twice = strlen(urls[i]) == len && strncmp(urls[i], p, len) == 0;
        if (n == WEBHOOK_MAX || twice || !(urls[n] = strndup(p, len))) {
            if (n == WEBHOOK_MAX)
                snprintf(err, errsize, "[alerts] webhook: more than %d URLs", WEBHOOK_MAX);
            else if (twice)
                snprintf(err, errsize, "[alerts] webhook: %.*s is named twice", (int)len, p);
            else
                snprintf(err, errsize, "out of memory");
            while (n > 0)
                free(urls[--n]);
            return -1;
        }
        n++;
        p += len;
    }
    return n;
}

int alerter_new(const struct cfg *cfg, struct event_base *base, struct store *store, struct alerter **out, char *err,
                size_t errsize)
{
    *out = NULL;
    struct alerter *a = calloc(1, sizeof *a);
    if (!a || !(a->devs = hashtab_new())) {
        free(a);
        snprintf(err, errsize, "out of memory");
        return -1;
    }
    a->rl = (struct log_ratelimit)LOG_RATELIMIT_INIT(60, 5);
    a->pend_tail = &a->pend_head;
    a->env = (struct sink_env){.cfg = cfg, .store = store, .base = base, .rl = &a->rl};
    /* the store stays unset while the sinks are made, so nothing is
     * restored before every sink exists */
    a->env.store = NULL;
    if (sink_file_new(&a->env, NULL, 0, &a->sinks[SINK_STDOUT], err, errsize) < 0 ||
        (cfg->alert_file && sink_file_new(&a->env, cfg->alert_file, 0, &a->sinks[SINK_FILE], err, errsize) < 0) ||
        (cfg->syslog_sink && base && sink_syslog_new(&a->env, cfg->syslog_sink, &a->sinks[SINK_SYSLOG], err, errsize) < 0) ||
        (cfg->exec_sink && sink_exec_new(&a->env, cfg->exec_sink, &a->sinks[SINK_EXEC], err, errsize) < 0)) {
        alerter_free(a);
        return -1;
    }
    if (base && cfg->webhook) {
        char *urls[WEBHOOK_MAX];
        int n = webhook_urls(cfg->webhook, urls, err, errsize);
        for (int i = 0; i < n && a->nhooks == (size_t)i; i++)
            if (sink_webhook_new(&a->env, urls[i], cfg->webhook_format, &a->hooks[a->nhooks], err, errsize) == 0)
                a->nhooks++;
        for (int i = 0; i < n; i++)
            free(urls[i]);
        if (n < 0 || a->nhooks != (size_t)n) {
            alerter_free(a);
            return -1;
        }
        if (a->nhooks)
            sink_webhook_adopt(a->hooks[0]);
    }
    a->env.store = store;
    register_counters(a);
    if (store) {
        int n = store_alerts_load(store, restore_alert, a);
        if (n > 0)
            log_info("restored %d firing alert(s) from the database", n);
        const char *peers[WEBHOOK_MAX];
        for (size_t i = 0; i < a->nhooks; i++) {
            struct sink *h = a->hooks[i];
            peers[i] = sink_webhook_url(h);
            n = h->ops->restore(h);
            if (n > 0)
                log_notice("%d webhook notification(s) for %s from before the restart are being delivered", n,
                           peers[i]);
        }
        store_outbox_prune(store, "webhook", peers, a->nhooks);
        static const struct {
            int slot;
            const char *what;
        } resume[] = {
            {SINK_SYSLOG, "syslog notification(s) from before the restart are being sent"},
            {SINK_EXEC, "alert program run(s) from before the restart are being started"},
        };
        for (size_t i = 0; i < sizeof resume / sizeof resume[0]; i++) {
            struct sink *s = a->sinks[resume[i].slot];
            n = s && s->ops->restore ? s->ops->restore(s) : 0;
            if (n > 0)
                log_notice("%d %s", n, resume[i].what);
        }
    }
    *out = a;
    return 0;
}

/* SIGHUP with a new [alerts] webhook list: a peer still listed keeps its
 * queue, back-off and outbox rows; a new peer starts with the alerts sent
 * from now on (and every firing alert at the next re-send); a removed
 * peer's waiting notifications are dropped from memory and the outbox
 * (said). A bad new list keeps the old peers. */
static void hooks_reload(struct alerter *a, const struct cfg *cfg)
{
    char err[512], *urls[WEBHOOK_MAX];
    int n = cfg->webhook && a->env.base ? webhook_urls(cfg->webhook, urls, err, sizeof err) : 0;
    if (n < 0) {
        log_error("SIGHUP: %s; the webhook peers stay as they were", err);
        return;
    }
    struct sink *next[WEBHOOK_MAX] = {NULL};
    bool kept[WEBHOOK_MAX] = {false}, made[WEBHOOK_MAX] = {false}, ok = true;
    for (int i = 0; i < n && ok; i++) {
        for (size_t j = 0; j < a->nhooks && !next[i]; j++)
            if (!kept[j] && strcmp(sink_webhook_url(a->hooks[j]), urls[i]) == 0) {
                next[i] = a->hooks[j];
                kept[j] = true;
            }
        if (!next[i]) {
            if (sink_webhook_new(&a->env, urls[i], cfg->webhook_format, &next[i], err, sizeof err) < 0) {
                log_error("SIGHUP: %s; the webhook peers stay as they were", err);
                ok = false;
            } else {
                made[i] = true;
            }
        }
    }
    for (int i = 0; i < n; i++) {
        if (!ok && made[i])
            sink_free(next[i]);
        else if (made[i])
            log_notice("SIGHUP: webhook %s added: it gets the alerts from now on, and every firing alert at the "
                       "next re-send ([alerts] resend_interval)",
                       urls[i]);
        if (!ok)
            free(urls[i]);
    }
    if (!ok)
        return;
    for (size_t j = 0; j < a->nhooks; j++) {
        if (kept[j])
            continue;
        struct sink *h = a->hooks[j];
        log_notice("SIGHUP: webhook %s removed from [alerts] webhook: its %zu waiting notification(s) are dropped",
                   sink_webhook_url(h), h->pending);
        if (a->env.store)
            store_outbox_forget(a->env.store, "webhook", sink_webhook_url(h));
        a->hooks_gone[0] += h->sent;
        a->hooks_gone[1] += h->failed;
        sink_free(h);
    }
    for (int i = 0; i < n; i++) {
        a->hooks[i] = next[i];
        free(urls[i]);
    }
    a->nhooks = (size_t)n;
}

int alerter_reopen(struct alerter *a, const struct cfg *cfg, char *err, size_t errsize)
{
    /* the new configuration is taken whatever happens to the file: the
     * caller frees the old one */
    a->env.cfg = cfg;
    hooks_reload(a, cfg);
    struct sink *f = a->sinks[SINK_FILE];
    if (f && cfg->alert_file)
        return f->ops->reopen(f, cfg, err, errsize);
    if (cfg->alert_file) {
        if (sink_file_new(&a->env, cfg->alert_file, 0, &f, err, errsize) < 0)
            return -1;
        a->sinks[SINK_FILE] = f;
        return 0;
    }
    sink_free(f);
    a->sinks[SINK_FILE] = NULL;
    return 0;
}

int alerter_new_replay(const struct cfg *cfg, struct alerter **out)
{
    struct alerter *a = calloc(1, sizeof *a);
    if (a && !(a->devs = hashtab_new())) {
        free(a);
        a = NULL;
    }
    *out = a;
    if (!a)
        return -1;
    a->replay = 1;
    a->pend_tail = &a->pend_head;
    a->rl = (struct log_ratelimit)LOG_RATELIMIT_INIT(60, 5);
    a->env = (struct sink_env){.cfg = cfg, .rl = &a->rl};
    char err[256];
    if (sink_file_new(&a->env, NULL, 1, &a->sinks[SINK_STDOUT], err, sizeof err) < 0) {
        free(a);
        *out = NULL;
        return -1;
    }
    return 0;
}

size_t alerter_firing(const struct alerter *a)
{
    return a->n;
}

uint64_t alerter_sent(const struct alerter *a)
{
    return a->sent;
}

uint64_t alerter_suppressed(const struct alerter *a)
{
    return a->suppressed;
}

/* One line to every sink; the file is flushed to disk so an acknowledged
 * alert survives a crash. */
/* One line to every sink, in order: stdout, the file (synced to disk so an
 * acknowledged alert survives a crash), syslog, the program, the webhook. */
static void emit_now(struct alerter *a, json_t *o, const char *alert_id)
{
    char *line = json_dumps(o, JSON_COMPACT);
    if (!line)
        return;
    for (int i = 0; i < SINK_N; i++)
        if (a->sinks[i])
            a->sinks[i]->ops->send(a->sinks[i], o, line, alert_id);
    for (size_t i = 0; i < a->nhooks; i++)
        a->hooks[i]->ops->send(a->hooks[i], o, line, alert_id);
    a->sent++;
    free(line);
}

/* The oldest pending alert's state is committed: it goes out. */
static void emit_committed(void *arg)
{
    struct alerter *a = arg;
    struct alert_pending *p = a->pend_head;
    if (!p)
        return;
    if (!(a->pend_head = p->next))
        a->pend_tail = &a->pend_head;
    emit_now(a, p->o, p->id);
    json_decref(p->o);
    free(p);
}

/* "console_url": the console's page of the alert under [http]
 * external_url (Alertmanager's generatorURL), null when it is not set.
 * Set on every object saved or sent, from the configuration in force. */
static void set_console_url(const struct alerter *a, json_t *o, const char *alert_id)
{
    const char *base = a->env.cfg ? a->env.cfg->http_external_url : NULL;
    char *u = NULL;
    if (base && asprintf(&u, "%salerts/%s", base, alert_id) < 0)
        u = NULL;
    json_object_set_new(o, "console_url", u ? json_string(u) : json_null());
    free(u);
}

/* The alert goes to the sinks once the state saved just before it is
 * committed (the database's writer commits within milliseconds, or when a
 * lock or a slow disk lets it): so every alert in the file is in the
 * database too, even after a crash, and the loop never waits for the disk. */
static void emit(struct alerter *a, json_t *o, const char *alert_id)
{
    set_console_url(a, o, alert_id);
    struct alert_pending *p = a->env.store ? calloc(1, sizeof *p) : NULL;
    if (!p) {
        emit_now(a, o, alert_id);
        return;
    }
    p->o = json_incref(o);
    snprintf(p->id, sizeof p->id, "%s", alert_id);
    *a->pend_tail = p;
    a->pend_tail = &p->next;
    if (store_after_commit(a->env.store, emit_committed, a) < 0) {
        /* out of memory: at once rather than never */
        a->pend_tail = &a->pend_head;
        for (struct alert_pending *q = a->pend_head; q; q = q->next)
            if (q->next == p)
                a->pend_tail = &q->next;
        *a->pend_tail = NULL;
        json_decref(p->o);
        free(p);
        emit_now(a, o, alert_id);
    }
}

/* Saves an alert's state: at once (status changes), or lazily, with the
 * store's next batch (the count and last_seen of repeats). */
static void save_state_as(struct alerter *a, struct alert_state *st, const char *status, bool lazy)
{
    st->dirty = false;
    if (!a->env.store)
        return;
    /* the object sent, kept while the alert fires (restored with it) */
    bool keep = !lazy && st->last && strcmp(status, "firing") == 0;
    if (keep)
        set_console_url(a, st->last, st->id);
    char *object = keep ? json_dumps(st->last, JSON_COMPACT) : NULL;
    struct store_alert sa = {
        .alert_id = st->id,
        .device = st->device,
        .mismatch = st->mismatch,
        .fingerprint = st->fingerprint[0] ? st->fingerprint : NULL,
        .category = st->category,
        .status = status,
        .first_seen = st->first_seen,
        .last_seen = st->last_seen,
        .last_notified = st->last_sent,
        .count = st->count,
        .software = st->software,
        .offer = st->offer,
        .slot = st->slot >= 0 ? negotiate_slot_name((enum negotiate_slot)st->slot) : NULL,
        .address = st->address[0] ? st->address : NULL,
        .object = object,
        .fixed_at = st->fixed_at,
        .hassh = st->hassh[0] ? st->hassh : NULL,
    };
    int rc = lazy ? store_alert_note(a->env.store, &sa) : store_alert_save(a->env.store, &sa);
    free(object);
    if (rc < 0 && log_ratelimit_allow(&a->rl, time(NULL), NULL))
        log_error("alert %s of device %s could not be saved in the database; it is still sent, but a restart "
                  "would forget it",
                  st->id, st->device);
}

static void save_state(struct alerter *a, struct alert_state *st, const char *status)
{
    save_state_as(a, st, status, false);
}

void alerter_sync(struct alerter *a)
{
    if (!a->dirty)
        return;
    size_t pos = 0;
    void *v;
    while (hashtab_next(a->devs, &pos, &v, NULL, NULL))
        for (struct alert_state *s = ((struct alert_dev *)v)->head; s; s = s->next)
            if (s->dirty)
                save_state_as(a, s, "firing", true);
    a->dirty = 0;
}

/* "fixed": null, or when and what a probe showed (SPEC's alert gains it). */
static json_t *fixed_json(int64_t at, json_t *server_offer)
{
    char tbuf[40];
    if (!at)
        return json_null();
    json_t *f = json_object();
    json_object_set_new(f, "time", json_string(text_rfc3339(tbuf, sizeof tbuf, at, -1)));
    json_object_set_new(f, "by", json_string("probe"));
    json_object_set(f, "server_offer", server_offer ? server_offer : json_null());
    return f;
}

/* The alert object of SPEC, taken from the pipeline's outcome object o
 * (released here) so the offers, mismatch and remediation are rendered in
 * one place. */
static json_t *alert_object_of(json_t *o, const char *id, const struct alert_state *st)
{
    if (!o)
        return NULL;
    json_t *a = json_object();
    char tbuf[40];
    json_object_set_new(a, "alert_id", json_string(id));
    json_object_set_new(a, "status", json_string("firing"));
    json_object_set(a, "time", json_object_get(o, "time"));
    static const char *const keep[] = {"device", "client", "category", "direction", "client_offer",
                                       "server_offer", "evidence", "mismatch", "remediation"};
    for (size_t i = 0; i < sizeof keep / sizeof keep[0]; i++) {
        json_t *v = json_object_get(o, keep[i]);
        json_object_set(a, keep[i], v ? v : json_null());
    }
    json_object_set_new(a, "first_seen", json_string(text_rfc3339(tbuf, sizeof tbuf, st->first_seen, -1)));
    json_object_set_new(a, "last_seen", json_string(text_rfc3339(tbuf, sizeof tbuf, st->last_seen, -1)));
    json_object_set_new(a, "count", json_integer((json_int_t)st->count));
    json_t *cl = json_object_get(a, "client");
    /* an alert keeps the identity it was first sent with (Alertmanager's
     * label): an alert of an earlier version that took its client's new
     * fingerprint stays the same Alertmanager alert */
    json_t *was = st->last ? json_object_get(json_object_get(st->last, "client"), "identity") : NULL;
    if (json_is_object(cl))
        json_object_set_new(cl, "identity", json_is_string(was) ? json_copy(was) : client_identity(st));
    json_object_set_new(a, "fixed", fixed_json(st->fixed_at, NULL));
    json_decref(o);
    return a;
}

static json_t *alert_object(struct pipeline *p, const struct negotiation *n, const char *id,
                            const struct alert_state *st)
{
    return alert_object_of(pipeline_outcome_object(p, n), id, st);
}

static void forget_one(struct alerter *a)
{
    /* the table is full: drop the least recently seen alert of a device */
    size_t pos = 0;
    void *v;
    if (!hashtab_next(a->devs, &pos, &v, NULL, NULL))
        return;
    struct alert_dev *d = v;
    struct alert_state **pp = &d->head, **oldest = pp;
    for (; *pp; pp = &(*pp)->next)
        if ((*pp)->last_seen < (*oldest)->last_seen)
            oldest = pp;
    struct alert_state *victim = *oldest;
    *oldest = victim->next;
    state_free(victim);
    a->n--;
    dev_release(a, d);
}

/* The last object sent of s; for one restored from the store, made of
 * what the store kept. NULL when memory is short. */
static json_t *last_object(struct alert_state *s)
{
    char tbuf[40];
    if (!s->last) { /* restored from the store: what it kept */
        s->last = json_object();
        json_object_set_new(s->last, "alert_id", json_string(s->id));
        json_t *dev = json_object();
        json_object_set_new(dev, "key", json_string(s->device));
        json_object_set_new(s->last, "device", dev);
        json_object_set_new(s->last, "category", json_string(s->category));
        json_t *mm = json_object();
        json_object_set_new(mm, "id", json_string(s->mismatch));
        json_object_set_new(s->last, "mismatch", mm);
        json_object_set_new(s->last, "first_seen", json_string(text_rfc3339(tbuf, sizeof tbuf, s->first_seen, -1)));
        json_t *cl = json_object();
        json_object_set_new(cl, "software", jtext(s->software));
        json_object_set_new(cl, "fingerprint", s->fingerprint[0] ? json_string(s->fingerprint) : json_null());
        json_object_set_new(cl, "identity", client_identity(s));
        json_object_set_new(s->last, "client", cl);
        json_object_set_new(s->last, "fixed", fixed_json(s->fixed_at, NULL));
    }
    return s->last;
}

/* Sends the resolved notice of *pp and forgets it (unlinks it from its
 * device's list; the caller releases an emptied struct alert_dev). */
static void resolve(struct alerter *a, struct alert_state **pp, int64_t now)
{
    struct alert_state *s = *pp;
    char tbuf[40];
    last_object(s);
    json_object_set_new(s->last, "last_seen", json_string(text_rfc3339(tbuf, sizeof tbuf, s->last_seen, -1)));
    json_object_set_new(s->last, "count", json_integer((json_int_t)s->count));
    json_object_set_new(s->last, "status", json_string("resolved"));
    json_object_set_new(s->last, "time", json_string(text_rfc3339(tbuf, sizeof tbuf, now, -1)));
    s->last_sent = now;
    save_state(a, s, "resolved");
    emit(a, s->last, s->id);
    json_decref(s->last);
    s->last = NULL;
    *pp = s->next;
    state_free(s);
    a->n--;
}

struct tick_arg {
    struct alerter *a;
    int64_t now;
};

/* hashtab_filter: resolves the device's quiet alerts (no repeat of the
 * failure for resolve_after); drops the device when none is left. */
static bool resolve_quiet(void *v, void *arg)
{
    struct alert_dev *d = v;
    struct tick_arg *ta = arg;
    struct alerter *a = ta->a;
    int64_t after = (int64_t)a->env.cfg->resolve_after;
    for (struct alert_state **pp = &d->head; *pp;) {
        if ((*pp)->last_sent && ta->now - (*pp)->last_rx >= after && ta->now - (*pp)->last_sent >= after)
            resolve(a, pp, ta->now);
        else
            pp = &(*pp)->next;
    }
    if (d->head)
        return false;
    a->dev_bytes -= sizeof *d + d->len + 1;
    free(d);
    return true;
}

/* Alertmanager's client contract: a firing alert is sent again every
 * resend_interval (its endsAt three intervals ahead), so it stays active
 * while it fires and ends by itself if kexwatchd dies. Only to the
 * Alertmanager webhooks, outside the outbox; the other sinks get state
 * changes only. */
static void resend_firing(struct alerter *a, int64_t now)
{
    unsigned every = a->env.cfg->resend_interval;
    if (!every || !a->nhooks || now < a->next_resend)
        return;
    a->next_resend = now + every;
    size_t pos = 0;
    void *v;
    while (hashtab_next(a->devs, &pos, &v, NULL, NULL))
        for (struct alert_state *s = ((struct alert_dev *)v)->head; s; s = s->next)
            if (s->last && s->last_sent) {
                set_console_url(a, s->last, s->id);
                for (size_t i = 0; i < a->nhooks; i++)
                    sink_webhook_refresh(a->hooks[i], s->last);
            }
}

void alerter_tick(struct alerter *a, int64_t now)
{
    for (int i = 0; i < SINK_N; i++)
        if (a->sinks[i] && a->sinks[i]->ops->tick)
            a->sinks[i]->ops->tick(a->sinks[i], now);
    alerter_sync(a);
    resend_firing(a, now);
    if (!a->env.cfg->resolve_after)
        return;
    struct tick_arg ta = {a, now};
    hashtab_filter(a->devs, resolve_quiet, &ta);
}

/* The alert id of (device, mismatch, client, category): the client is its
 * fingerprint, else its software and its offer in the failing category,
 * else that offer (the offer with a fingerprint too for host keys). 0 or
 * -1 (memory short). */
static int make_id(const char *device, const char *mismatch, const char *fingerprint, const char *software,
                   int category, const char *offer, char id[33])
{
    const char *who = fingerprint ? fingerprint : software ? software : "";
    const char *what = offer && (!fingerprint || category == ALGO_HOSTKEY) ? offer : "";
    size_t klen = strlen(device) + strlen(mismatch) + strlen(who) + strlen(what) + 32;
    char *key = malloc(klen);
    if (!key)
        return -1;
    /* without an offer the id is the one earlier versions gave */
    snprintf(key, klen, "%s\x1f%s\x1f%s\x1f%d%s%s", device, mismatch, who, category, what[0] ? "\x1f" : "", what);
    negotiate_md5_hex(key, strlen(key), id);
    free(key);
    return 0;
}

void alerter_process(struct alerter *a, struct pipeline *p, const struct negotiation *n, int64_t now)
{
    struct alert_dev *d = dev_find(a, n->device);
    if (!n->failed) {
        /* a success of the same client resolves its alerts on the device */
        if (!d)
            return;
        for (struct alert_state **pp = &d->head; *pp;) {
            struct alert_state *s = *pp;
            if (alert_same_client(s, n))
                resolve(a, pp, now);
            else
                pp = &s->next;
        }
        dev_release(a, d);
        return;
    }
    /* identity (SPEC "Alert identity"): device, mismatch, client, category;
     * the client is its fingerprint, else its software and its offer in the
     * failing category, else that offer (see struct alert_state) */
    char *offer = n->slot >= 0 && n->slot < NEG_NSLOTS ? negotiate_list_join(n->client[n->slot]) : NULL;
    char id[33];
    if (make_id(n->device, n->match ? n->match->id : "unclassified", n->fingerprint, n->software, n->category,
                offer, id) < 0) {
        free(offer);
        return;
    }
    struct alert_state *s = NULL;
    const char *mm = n->match ? n->match->id : "unclassified";
    const char *cat = n->category >= 0 ? algo_category_name((enum algo_category)n->category) : "kex";
    if (d)
        for (s = d->head; s; s = s->next)
            if (strcmp(s->id, id) == 0)
                break;
    if (!s && d && n->hassh)
        /* an alert of an earlier version (its fingerprint a HASSH) for this
         * client: it takes the new fingerprint and keeps its alert_id, so
         * the upgrade neither re-fires it nor leaves it firing; an alert
         * that took one is found by its fields (its id is the old one) */
        for (s = d->head; s; s = s->next) {
            if (strcmp(s->mismatch, mm) != 0 || strcmp(s->category, cat) != 0 || !s->fingerprint[0] ||
                (n->category == ALGO_HOSTKEY && !(s->offer && offer && strcmp(s->offer, offer) == 0)))
                continue;
            if (alert_legacy(s) && strcmp(s->fingerprint, n->hassh) == 0) {
                snprintf(s->fingerprint, sizeof s->fingerprint, "%s", n->fingerprint ? n->fingerprint : "");
                break;
            }
            if (n->fingerprint && strcmp(s->fingerprint, n->fingerprint) == 0 && strcmp(s->hassh, n->hassh) == 0)
                break;
        }
    if (!s) {
        if (a->n >= ALERT_MAX)
            forget_one(a);
        s = calloc(1, sizeof *s);
        if (!s) {
            free(offer);
            return;
        }
        memcpy(s->id, id, sizeof s->id);
        if (!(s->device = strdup(n->device))) {
            free(s);
            free(offer);
            return;
        }
        snprintf(s->fingerprint, sizeof s->fingerprint, "%s", n->fingerprint ? n->fingerprint : "");
        snprintf(s->hassh, sizeof s->hassh, "%s", n->hassh ? n->hassh : "");
        s->software = n->software ? strdup(n->software) : NULL;
        s->offer = offer;
        offer = NULL;
        s->slot = n->slot;
        snprintf(s->address, sizeof s->address, "%s", n->peer ? n->peer : "");
        snprintf(s->mismatch, sizeof s->mismatch, "%s", n->match ? n->match->id : "unclassified");
        snprintf(s->category, sizeof s->category, "%s",
                 n->category >= 0 ? algo_category_name((enum algo_category)n->category) : "kex");
        s->first_seen = n->time;
        if (dev_add(a, s) < 0) {
            state_free(s);
            free(offer);
            return;
        }
    }
    free(offer);
    /* the address of the client seen last (it may move) */
    if (n->peer)
        snprintf(s->address, sizeof s->address, "%s", n->peer);
    s->server_known = n->slot >= 0 && n->slot < NEG_NSLOTS && n->server[n->slot];
    /* failing again: whatever a probe showed did not fix it for this client */
    s->fixed_at = 0;
    s->count++;
    s->last_rx = now;
    if (n->time > s->last_seen)
        s->last_seen = n->time;
    if (s->last_sent && now - s->last_sent < (int64_t)a->env.cfg->repeat_interval) {
        /* held back; its count and last_seen are saved by the next
         * alerter_sync, in one batch with every other repeat */
        a->suppressed++;
        if (!s->dirty) {
            s->dirty = true;
            a->dirty++;
        }
        return;
    }
    json_t *o = alert_object(p, n, id, s);
    if (!o)
        return;
    s->last_sent = now;
    json_decref(s->last);
    s->last = o;
    save_state(a, s, "firing");
    emit(a, o, id);
}

/* What a probe's lists mean for one firing alert: the failure judged
 * again with them. Returns the new outcome object (NULL: memory short or
 * nothing known of the client) and *met. */
static json_t *rejudge(struct pipeline *p, const struct alert_state *s, struct negotiate_list *const server[NEG_NSLOTS],
                       const char *software, int *met)
{
    *met = 0;
    if (!s->offer || s->slot < 0 || s->slot >= NEG_NSLOTS)
        return NULL;
    struct negotiate_list *offer = NULL;
    if (negotiate_list_parse(s->offer, strlen(s->offer), 0, &offer, NULL) < 0)
        return NULL;
    json_t *last = s->last ? json_object_get(s->last, "device") : NULL;
    const char *ev = s->last ? json_string_value(json_object_get(s->last, "evidence")) : NULL;
    struct negotiation n = {
        .device = s->device,
        .device_name = json_string_value(json_object_get(last, "name")),
        .vendor = json_string_value(json_object_get(last, "vendor")),
        .server_software = software,
        .peer = s->address[0] ? s->address : NULL,
        .software = s->software,
        .fingerprint = s->fingerprint[0] ? s->fingerprint : NULL,
        .time = s->last_seen,
        .failed = true,
        .slot = s->slot,
        .category = (int)negotiate_slot_category((enum negotiate_slot)s->slot),
        .evidence = ev && strcmp(ev, "inferred") == 0 ? EVIDENCE_INFERRED : EVIDENCE_EXPLICIT,
    };
    /* a client offers the same list both ways: the other direction of the
     * category must be met too */
    for (int i = 0; i < NEG_NSLOTS; i++) {
        n.server[i] = server[i];
        if (negotiate_slot_category((enum negotiate_slot)i) == (enum algo_category)n.category)
            n.client[i] = offer;
    }
    json_t *o = pipeline_rejudge_object(p, &n, met);
    negotiate_list_free(offer);
    return o;
}

/* A probe showed the device offering what s's client needs: the alert is
 * marked fixed (it still resolves as SPEC says) and sent again. */
static void mark_fixed(struct alerter *a, struct alert_state *s, json_t *outcome, int64_t now)
{
    json_t *o = json_deep_copy(last_object(s));
    if (!o)
        return;
    char tbuf[40];
    s->fixed_at = now;
    s->last_sent = now;
    json_object_set_new(o, "status", json_string("firing"));
    json_object_set_new(o, "time", json_string(text_rfc3339(tbuf, sizeof tbuf, now, -1)));
    json_object_set_new(o, "count", json_integer((json_int_t)s->count));
    json_object_set_new(o, "fixed", fixed_json(now, json_object_get(outcome, "server_offer")));
    json_decref(s->last);
    s->last = o;
    save_state(a, s, "firing");
    emit(a, o, s->id);
    log_notice("alert %s of device %s (%s): a probe shows the device now offers what the client needs; marked "
               "fixed (it resolves when the client connects or after resolve_after)",
               s->id, s->device, s->mismatch);
}

/* The failure of s judged again with the server's lists: its alert is sent
 * again with them (the complete remedy); when its catalogue id changed, the
 * old alert is resolved naming the new one, which takes its history. */
static void reclassify(struct alerter *a, struct alert_state **pp, json_t *outcome, int64_t now)
{
    struct alert_state *s = *pp;
    const char *mm = json_string_value(json_object_get(json_object_get(outcome, "mismatch"), "id"));
    char id[33];
    if (!mm || make_id(s->device, mm, s->fingerprint[0] ? s->fingerprint : NULL, s->software,
                       algo_category_from_name(s->category), s->offer, id) < 0)
        return;
    struct alert_state *t = s;
    if (strcmp(id, s->id) != 0) {
        struct alert_dev *d = dev_find(a, s->device);
        for (t = d ? d->head : NULL; t && strcmp(t->id, id) != 0; t = t->next)
            ;
        if (!t) {
            if (!(t = calloc(1, sizeof *t)) || !(t->device = strdup(s->device))) {
                free(t);
                return;
            }
            memcpy(t->id, id, sizeof t->id);
            memcpy(t->fingerprint, s->fingerprint, sizeof t->fingerprint);
            memcpy(t->address, s->address, sizeof t->address);
            memcpy(t->category, s->category, sizeof t->category);
            t->software = s->software ? strdup(s->software) : NULL;
            t->offer = s->offer ? strdup(s->offer) : NULL;
            t->slot = s->slot;
            t->first_seen = s->first_seen;
            t->last_seen = s->last_seen;
            t->last_rx = s->last_rx;
            t->count = s->count;
            if (dev_add(a, t) < 0) {
                state_free(t);
                return;
            }
        }
        snprintf(t->mismatch, sizeof t->mismatch, "%s", mm);
        log_notice("alert %s of device %s is now %s (%s): the device's server lists arrived from a probe", s->id,
                   s->device, t->id, mm);
        json_object_set_new(last_object(s), "superseded_by", json_string(t->id));
        if (*pp != s) /* dev_add put t first: s moved one down */
            pp = &(*pp)->next;
        resolve(a, pp, now);
    }
    t->server_known = true;
    json_t *o = alert_object_of(json_incref(outcome), t->id, t);
    if (!o)
        return;
    char tbuf[40];
    json_object_set_new(o, "time", json_string(text_rfc3339(tbuf, sizeof tbuf, now, -1)));
    t->last_sent = now;
    json_decref(t->last);
    t->last = o;
    save_state(a, t, "firing");
    emit(a, o, t->id);
}

void alerter_probed(struct alerter *a, struct pipeline *p, const char *device, const char *const lists[NEG_NSLOTS],
                    const char *software, int64_t now)
{
    struct alert_dev *d = dev_find(a, device);
    if (!d)
        return;
    struct negotiate_list *server[NEG_NSLOTS] = {NULL};
    for (int i = 0; i < NEG_NSLOTS; i++)
        if (lists[i] && negotiate_list_parse(lists[i], strlen(lists[i]), 0, &server[i], NULL) < 0)
            server[i] = NULL;
    /* the alerts as they are now: reclassify adds and removes */
    size_t n = 0;
    for (struct alert_state *s = d->head; s; s = s->next)
        n++;
    char(*ids)[33] = calloc(n ? n : 1, sizeof *ids);
    size_t k = 0;
    for (struct alert_state *s = d->head; ids && s; s = s->next)
        memcpy(ids[k++], s->id, 33);
    for (size_t i = 0; ids && i < k; i++) {
        if (!(d = dev_find(a, device)))
            break;
        struct alert_state **pp = &d->head;
        while (*pp && strcmp((*pp)->id, ids[i]) != 0)
            pp = &(*pp)->next;
        struct alert_state *s = *pp;
        /* only failures before this probe; one already fixed stays so */
        if (!s || s->fixed_at || s->last_rx > now)
            continue;
        int met;
        json_t *o = rejudge(p, s, server, software, &met);
        if (!o)
            continue;
        if (met)
            mark_fixed(a, s, o, now);
        else if (!s->server_known)
            reclassify(a, pp, o, now);
        json_decref(o);
    }
    free(ids);
    for (int i = 0; i < NEG_NSLOTS; i++)
        negotiate_list_free(server[i]);
    if ((d = dev_find(a, device)))
        dev_release(a, d);
}

size_t alerter_bytes(const struct alerter *a)
{
    return a ? a->n * (sizeof(struct alert_state) + ALERT_OBJECT_BYTES) + a->dev_bytes + hashtab_bytes(a->devs) : 0;
}

size_t alerter_shed(struct alerter *a, size_t want)
{
    /* what alerter_bytes no longer counts: the alerts and the per-device
     * entries (and table slots) that went with the last of their alerts */
    size_t before = alerter_bytes(a), now = before;
    while (a->n && before - now < want) {
        forget_one(a);
        now = alerter_bytes(a);
        if (now > before)
            now = before;
    }
    return before - now;
}

static bool free_dev(void *v, void *arg)
{
    (void)arg;
    struct alert_dev *d = v;
    while (d->head) {
        struct alert_state *s = d->head;
        d->head = s->next;
        state_free(s);
    }
    free(d);
    return true;
}

void alerter_free(struct alerter *a)
{
    if (!a)
        return;
    stats_unregister(a, sizeof *a);
    alerter_sync(a); /* committed by store_close at the latest */
    /* store_finish ran the pending ones before; any left are not sent */
    if (a->env.store)
        store_after_commit_cancel(a->env.store, a);
    while (a->pend_head) {
        struct alert_pending *p = a->pend_head;
        a->pend_head = p->next;
        json_decref(p->o);
        free(p);
    }
    if (a->devs)
        hashtab_filter(a->devs, free_dev, NULL);
    hashtab_free(a->devs);
    for (int i = 0; i < SINK_N; i++)
        sink_free(a->sinks[i]);
    for (size_t i = 0; i < a->nhooks; i++)
        sink_free(a->hooks[i]);
    free(a);
}
