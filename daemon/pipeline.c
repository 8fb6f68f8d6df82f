/* SPDX-License-Identifier: ISC */
#include "config.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "algo.h"
#include "catalogue.h"
#include "inventory.h"
#include "log.h"
#include "pattern.h"
#include "pipeline.h"
#include "stats.h"
#include "syslog.h"
#include "text.h"

struct pipeline {
    const struct cfg *cfg;
    struct algo_db *db;
    struct pattern_set *patterns;
    struct inventory *inv;
    struct catalogue *catalogue;
    struct session_table *sessions;
    session_outcome_cb cb;
    void *cb_arg;
    FILE *dump;
    int replay;
    char *scratch; /* UTF-8 conversion buffer */
    size_t scratch_size;
    struct log_ratelimit rl_outcome;
};

static void add_err(struct cfg_errors *errs, const char *msg)
{
    char **v = realloc(errs->msgs, (errs->n + 1) * sizeof *v);
    if (!v)
        return;
    errs->msgs = v;
    if ((v[errs->n] = strdup(msg)))
        errs->n++;
}

/* Failures get their catalogue id and computed remedy before they leave
 * the pipeline. */
static void on_outcome(void *arg, const struct negotiation *n)
{
    struct pipeline *p = arg;
    struct negotiation full = *n;
    struct catalogue_match match;
    struct catalogue_remedy remedy;
    if (n->failed && catalogue_classify(p->catalogue, p->db, n, &match) == 1) {
        full.match = &match;
        if (catalogue_remedy(p->catalogue, p->db, n, &remedy) == 1)
            full.remedy = &remedy;
    }
    if (p->cb)
        p->cb(p->cb_arg, &full);
    else
        pipeline_log_outcome(p, &full);
}

struct knowledge {
    struct algo_db *db;
    struct pattern_set *patterns;
    struct inventory *inv;
    struct catalogue *catalogue;
};

static void knowledge_free(struct knowledge *k)
{
    catalogue_free(k->catalogue);
    inventory_free(k->inv);
    pattern_set_free(k->patterns);
    algo_db_free(k->db);
    memset(k, 0, sizeof *k);
}

/* Loads everything cfg names, or nothing: on failure every problem is in
 * errs and k is left empty. */
static int knowledge_load(const struct cfg *cfg, struct knowledge *k, struct cfg_errors *errs)
{
    char err[1024];
    memset(k, 0, sizeof *k);
    if (algo_db_load(cfg->algorithms, cfg->keywords, &k->db, err, sizeof err) < 0) {
        add_err(errs, err);
        return -1;
    }
    struct pattern_errors perr = {0};
    if (pattern_set_load(cfg->patterns_dir, &k->patterns, &perr) < 0) {
        for (size_t i = 0; i < perr.n; i++)
            add_err(errs, perr.msgs[i]);
        if (perr.n == 0) {
            snprintf(err, sizeof err, "%s: cannot load the patterns", cfg->patterns_dir);
            add_err(errs, err);
        }
        pattern_errors_free(&perr);
        knowledge_free(k);
        return -1;
    }
    if (catalogue_load(cfg->catalogue, &k->catalogue, err, sizeof err) < 0) {
        add_err(errs, err);
        knowledge_free(k);
        return -1;
    }
    size_t unknown = 0;
    k->inv = inventory_new(cfg, k->db, &unknown);
    if (!k->inv) {
        add_err(errs, "out of memory building the inventory");
        knowledge_free(k);
        return -1;
    }
    if (unknown)
        log_notice("inventory: %zu configured algorithm name(s) are neither in %s nor vendor keywords; they are "
                   "kept as written",
                   unknown, cfg->algorithms);
    return 0;
}

static int scratch_fit(struct pipeline *p, size_t max_message)
{
    /* worst case: every byte becomes a 3-byte U+FFFD */
    size_t want = max_message * 3 + 4;
    if (want <= p->scratch_size)
        return 0;
    char *n = realloc(p->scratch, want);
    if (!n)
        return -1;
    p->scratch = n;
    p->scratch_size = want;
    return 0;
}

int pipeline_new(const struct cfg *cfg, struct pipeline **out, struct cfg_errors *errs)
{
    *out = NULL;
    struct pipeline *p = calloc(1, sizeof *p);
    if (!p) {
        add_err(errs, "out of memory");
        return -1;
    }
    p->cfg = cfg;
    p->rl_outcome = (struct log_ratelimit)LOG_RATELIMIT_INIT(60, 100);
    if (scratch_fit(p, cfg->max_message) < 0) {
        add_err(errs, "out of memory");
        goto fail;
    }
    struct knowledge k;
    if (knowledge_load(cfg, &k, errs) < 0)
        goto fail;
    p->db = k.db;
    p->patterns = k.patterns;
    p->inv = k.inv;
    p->catalogue = k.catalogue;
    struct session_limits lim = {0};
    p->sessions = session_table_new(p->db, p->inv, &lim, on_outcome, p);
    if (!p->sessions) {
        add_err(errs, "out of memory");
        goto fail;
    }
    *out = p;
    return 0;
fail:
    pipeline_free(p);
    return -1;
}

int pipeline_reload(struct pipeline *p, const struct cfg *cfg, struct cfg_errors *errs)
{
    struct knowledge k;
    if (knowledge_load(cfg, &k, errs) < 0)
        return -1;
    if (scratch_fit(p, cfg->max_message) < 0) {
        add_err(errs, "out of memory");
        knowledge_free(&k);
        return -1;
    }
    struct knowledge old = {p->db, p->patterns, p->inv, p->catalogue};
    p->db = k.db;
    p->patterns = k.patterns;
    p->inv = k.inv;
    p->catalogue = k.catalogue;
    p->cfg = cfg;
    session_table_set_knowledge(p->sessions, p->db, p->inv);
    knowledge_free(&old);
    return 0;
}

void pipeline_set_outcome_cb(struct pipeline *p, session_outcome_cb cb, void *arg)
{
    p->cb = cb;
    p->cb_arg = arg;
}

void pipeline_set_dump(struct pipeline *p, FILE *f)
{
    p->dump = f;
}

void pipeline_set_replay(struct pipeline *p)
{
    p->replay = 1;
}

size_t pipeline_memory(const struct pipeline *p)
{
    return session_table_bytes(p->sessions);
}

size_t pipeline_shed(struct pipeline *p, size_t want)
{
    return session_shed(p->sessions, want);
}

const struct session_counts *pipeline_session_counts(const struct pipeline *p)
{
    return session_table_counts(p->sessions);
}

/* The device key: the sender's address, or the header host name for streams
 * relayed by another collector (and always for replayed files), or the name
 * in a TLS sender's verified certificate (identify = certificate). */
static const char *device_key(struct pipeline *p, const struct msg *m, const struct syslog_record *r, char *buf,
                              size_t size)
{
    if (p->cfg->identify == CFG_IDENTIFY_CERTIFICATE && m->peer_name && *m->peer_name && !p->replay) {
        snprintf(buf, size, "%s", m->peer_name);
        return buf;
    }
    int by_host = p->replay || m->transport == MSG_FILE || p->cfg->identify == CFG_IDENTIFY_HOSTNAME;
    if (by_host && r->host.len) {
        size_t n = r->host.len < size - 1 ? r->host.len : size - 1;
        text_to_utf8(buf, size, r->host.p, n);
        return buf;
    }
    if (m->src)
        return text_addr_host(m->src, buf, size);
    return "";
}

static json_t *jstrn(struct pipeline *p, const char *s, size_t len)
{
    if (!s)
        return json_null();
    size_t n = text_to_utf8(p->scratch, p->scratch_size, s, len);
    return json_stringn(p->scratch, n);
}

static json_t *jstr(struct pipeline *p, struct sl_str s)
{
    return jstrn(p, s.p, s.len);
}

static void dump_record(struct pipeline *p, const struct msg *m, const struct syslog_record *r, const char *dev)
{
    char tbuf[40], addr[64];
    json_t *o = json_object();
    if (!o)
        return;
    json_object_set_new(o, "rx", json_string(text_rfc3339(tbuf, sizeof tbuf, m->rx_sec, m->rx_usec)));
    json_object_set_new(o, "transport",
                        json_string(m->transport == MSG_UDP   ? "udp"
                                    : m->transport == MSG_TCP ? "tcp"
                                    : m->transport == MSG_TLS ? "tls"
                                                              : "file"));
    json_object_set_new(o, "source", m->src ? json_string(text_addr_host(m->src, addr, sizeof addr)) : json_null());
    json_object_set_new(o, "device", json_string(dev));
    json_object_set_new(o, "format", json_string(syslog_format_name(r->format)));
    json_object_set_new(o, "pri", r->pri >= 0 ? json_integer(r->pri) : json_null());
    json_object_set_new(o, "facility", r->facility >= 0 ? json_integer(r->facility) : json_null());
    json_object_set_new(o, "severity", r->severity >= 0 ? json_integer(r->severity) : json_null());
    if ((r->ts_flags & SL_TS_PRESENT) && !(r->ts_flags & SL_TS_BOOT))
        json_object_set_new(o, "time", json_string(text_rfc3339(tbuf, sizeof tbuf, r->ts_sec, r->ts_usec)));
    else
        json_object_set_new(o, "time", json_null());
    json_object_set_new(o, "ts_flags", json_integer(r->ts_flags));
    json_object_set_new(o, "host", jstr(p, r->host));
    json_object_set_new(o, "app", jstr(p, r->app));
    json_object_set_new(o, "procid", jstr(p, r->procid));
    json_object_set_new(o, "msgid", jstr(p, r->msgid));
    json_object_set_new(o, "brief", jstr(p, r->brief));
    json_object_set_new(o, "flag", jstr(p, r->flag));
    json_object_set_new(o, "cid", jstr(p, r->cid));
    json_object_set_new(o, "text", jstr(p, r->text));
    json_object_set_new(o, "length", json_integer((json_int_t)m->len));
    json_dumpf(o, p->dump, JSON_COMPACT);
    fputc('\n', p->dump);
    json_decref(o);
}

/* Whether the end of the text may be a cut rather than the line's end:
 * OpenSSH cuts its log lines near 512 bytes (MSGBUFSIZ) and then the usual
 * "[preauth]" ending is missing; relays cut at round sizes; kexwatchd cuts
 * at max_message. */
static const char *cut_point(const struct pipeline *p, const struct msg *m, const struct syslog_record *r)
{
    const char *end = r->text.p + r->text.len;
    if (m->len >= p->cfg->max_message)
        return end;
    static const size_t relay_limits[] = {480, 1024, 2048, 4096, 8192};
    for (size_t i = 0; i < sizeof relay_limits / sizeof relay_limits[0]; i++)
        if (m->len == relay_limits[i])
            return end;
    if (r->app.len == 4 && memcmp(r->app.p, "sshd", 4) == 0 && r->text.len >= 450 && r->text.len <= 512 &&
        r->text.p[r->text.len - 1] != ']')
        return end;
    return NULL;
}

void pipeline_feed(struct pipeline *p, const struct msg *m)
{
    struct syslog_record r;
    syslog_parse(m->data, m->len, m->rx_sec, &r);
    if (r.format == SL_FMT_NONE)
        g_stats.parse_fallbacks++;
    /* the device key is formatted only for the few lines that need it:
     * inet_ntop on every message was a fifth of the per-message cost */
    char dev[256];
    const char *key = NULL;
    if (p->dump) {
        key = device_key(p, m, &r, dev, sizeof dev);
        dump_record(p, m, &r, key);
    }
    if (!r.text.p || !pattern_prefilter(p->patterns, r.text.p, r.text.len))
        return;
    g_stats.ssh_candidates++;
    struct pat_match pm;
    int rc = pattern_match(p->patterns, r.text.p, r.text.len, r.app.p, r.app.len, &pm);
    if (rc <= 0) {
        if (rc < 0)
            g_stats.pattern_errors++;
        else
            g_stats.ssh_unmatched++;
        return;
    }
    g_stats.ssh_matched++;
    if (!key)
        key = device_key(p, m, &r, dev, sizeof dev);
    int64_t now = m->rx_sec;
    /* stored lines carry their own time; live ones are judged by arrival */
    if (p->replay && (r.ts_flags & SL_TS_PRESENT) && !(r.ts_flags & SL_TS_BOOT))
        now = r.ts_sec;
    /* a pattern may itself recognise a cut line (its (?<cut>) group) */
    const char *cut = pm.cut ? r.text.p + r.text.len : cut_point(p, m, &r);
    session_event(p->sessions, key, m->src, r.procid.p, r.procid.len, now, &pm, cut);
}

void pipeline_tick(struct pipeline *p, int64_t now)
{
    if (!p->replay)
        session_expire(p->sessions, now);
}

void pipeline_finish(struct pipeline *p)
{
    session_flush(p->sessions);
    pipeline_flush(p);
}

void pipeline_flush(struct pipeline *p)
{
    if (p->dump)
        fflush(p->dump);
}

/* ------------------------------------------------------------ outcomes */

static json_t *offer_json(const struct pipeline *p, const struct negotiate_list *l, int slot)
{
    if (!l)
        return json_null();
    json_t *a = json_array();
    for (size_t i = 0; i < negotiate_list_count(l); i++) {
        const char *name = negotiate_list_name(l, i);
        if (slot == NEG_KEX && algo_db_is_marker(p->db, name, strlen(name)))
            continue;
        char buf[3 * 64 + 4];
        text_to_utf8(buf, sizeof buf, name, strlen(name));
        json_array_append_new(a, json_string(buf));
    }
    return a;
}

static json_t *opt_str(const struct pipeline *p, const char *s)
{
    return s ? jstrn((struct pipeline *)p, s, strlen(s)) : json_null();
}

json_t *pipeline_outcome_object(const struct pipeline *p, const struct negotiation *n)
{
    char tbuf[40];
    json_t *o = json_object();
    if (!o)
        return NULL;
    json_object_set_new(o, "time", json_string(text_rfc3339(tbuf, sizeof tbuf, n->time, -1)));
    json_object_set_new(o, "outcome", json_string(n->failed ? "failure" : "success"));
    json_t *dev = json_object();
    json_object_set_new(dev, "key", opt_str(p, n->device));
    json_object_set_new(dev, "name", opt_str(p, n->device_name));
    json_object_set_new(dev, "vendor", opt_str(p, n->vendor));
    json_object_set_new(o, "device", dev);
    json_t *cl = json_object();
    json_object_set_new(cl, "address", opt_str(p, n->peer));
    json_object_set_new(cl, "port", n->port ? json_integer(n->port) : json_null());
    json_object_set_new(cl, "software", opt_str(p, n->software));
    json_object_set_new(cl, "fingerprint", opt_str(p, n->fingerprint));
    json_object_set_new(cl, "hassh", opt_str(p, n->hassh));
    json_object_set_new(o, "client", cl);
    if (n->failed) {
        json_object_set_new(o, "category",
                            n->category >= 0 ? json_string(algo_category_name((enum algo_category)n->category))
                                             : json_null());
        const char *dir = n->slot >= 0 ? negotiate_slot_direction((enum negotiate_slot)n->slot) : NULL;
        json_object_set_new(o, "direction", dir ? json_string(dir) : json_null());
        json_object_set_new(o, "evidence", json_string(n->evidence == EVIDENCE_EXPLICIT ? "explicit" : "inferred"));
        json_object_set_new(o, "client_offer", n->slot >= 0 ? offer_json(p, n->client[n->slot], n->slot) : json_null());
        json_object_set_new(o, "server_offer", n->slot >= 0 ? offer_json(p, n->server[n->slot], n->slot) : json_null());
        json_object_set_new(o, "reason", opt_str(p, n->reason));
        json_t *mm = json_object();
        json_object_set_new(mm, "id", n->match ? json_string(n->match->id) : json_string("unclassified"));
        json_object_set_new(mm, "severity", n->match ? json_string(n->match->severity) : json_null());
        json_object_set_new(mm, "summary", n->match ? opt_str(p, n->match->summary) : json_null());
        json_object_set_new(o, "mismatch", mm);
        json_t *rem = json_object();
        json_object_set_new(rem, "server", n->remedy ? opt_str(p, n->remedy->server) : json_null());
        json_object_set_new(rem, "client", n->remedy ? opt_str(p, n->remedy->client) : json_null());
        json_object_set_new(rem, "risk", n->remedy ? opt_str(p, n->remedy->risk) : json_null());
        json_t *steps = json_array();
        for (const char *s = n->remedy ? n->remedy->steps : ""; *s;) {
            size_t len = strcspn(s, "\n");
            json_array_append_new(steps, jstrn((struct pipeline *)p, s, len));
            s += len + (s[len] == '\n');
        }
        json_object_set_new(rem, "steps", steps);
        json_object_set_new(rem, "verify",
                            n->remedy && n->remedy->verify[0] ? opt_str(p, n->remedy->verify) : json_null());
        json_object_set_new(o, "remediation", rem);
    }
    json_t *agreed = json_object();
    for (int s = 0; s < NEG_NSLOTS; s++) {
        const struct negotiate_slot_result *sr = &n->result->slot[s];
        json_t *v;
        if (sr->status == NEG_AGREED && sr->agreed)
            v = opt_str(p, sr->agreed);
        else
            v = json_string(negotiate_status_name(sr->status));
        json_object_set_new(agreed, negotiate_slot_name((enum negotiate_slot)s), v);
    }
    json_object_set_new(o, "slots", agreed);
    return o;
}

json_t *pipeline_rejudge_object(const struct pipeline *p, const struct negotiation *n, int *met)
{
    if (met)
        *met = 0;
    if (!n->failed || n->slot < 0 || n->slot >= NEG_NSLOTS)
        return NULL;
    struct negotiation full = *n;
    struct negotiate_offer client = {{0}}, server = {{0}};
    for (int i = 0; i < NEG_NSLOTS; i++) {
        client.list[i] = n->client[i];
        server.list[i] = n->server[i];
    }
    struct negotiate_result res;
    struct catalogue_match match;
    struct catalogue_remedy remedy;
    negotiate_run(p->db, &client, &server, &res);
    if (met) {
        *met = res.slot[n->slot].status == NEG_AGREED;
        for (int i = 0; i < NEG_NSLOTS; i++)
            if (n->client[i] && negotiate_slot_category((enum negotiate_slot)i) ==
                                    negotiate_slot_category((enum negotiate_slot)n->slot))
                *met = *met && res.slot[i].status == NEG_AGREED;
    }
    full.result = &res;
    full.match = NULL;
    full.remedy = NULL;
    if (catalogue_classify(p->catalogue, p->db, &full, &match) == 1) {
        full.match = &match;
        if (catalogue_remedy(p->catalogue, p->db, &full, &remedy) == 1)
            full.remedy = &remedy;
    }
    return pipeline_outcome_object(p, &full);
}

unsigned pipeline_probe_port(const struct pipeline *p, const char *device)
{
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof ss);
    struct sockaddr_in *sin = (struct sockaddr_in *)(void *)&ss;
    struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)(void *)&ss;
    const struct sockaddr *src = (const struct sockaddr *)&ss;
    if (inet_pton(AF_INET, device, &sin->sin_addr) == 1)
        sin->sin_family = AF_INET;
    else if (inet_pton(AF_INET6, device, &sin6->sin6_addr) == 1)
        sin6->sin6_family = AF_INET6;
    else
        src = NULL;
    const struct inv_device *inv = inventory_lookup(p->inv, device, src);
    return inv ? inv->probe_port : 0;
}

int pipeline_set_server_software(struct pipeline *p, const char *device, const char *software)
{
    return session_set_server_software(p->sessions, device, software);
}

char *pipeline_outcome_json(const struct pipeline *p, const struct negotiation *n)
{
    json_t *o = pipeline_outcome_object(p, n);
    if (!o)
        return NULL;
    char *text = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    return text;
}

void pipeline_set_profile_cb(struct pipeline *p, session_profile_cb cb, void *arg)
{
    session_table_set_profile_cb(p->sessions, cb, arg);
}

int pipeline_restore_profile(struct pipeline *p, const char *device, int slot, const char *list, int64_t learned_at)
{
    return session_restore_profile(p->sessions, device, slot, list, learned_at);
}

/* Until alerts exist, failures are at least logged for the person on call. */
void pipeline_log_outcome(struct pipeline *p, const struct negotiation *n)
{
    if (!n->failed)
        return;
    uint64_t held = 0;
    if (!log_ratelimit_allow(&p->rl_outcome, time(NULL), &held))
        return;
    char dev[128], peer[80], sw[128];
    log_escape(dev, sizeof dev, n->device, strlen(n->device));
    log_escape(peer, sizeof peer, n->peer ? n->peer : "unknown", strlen(n->peer ? n->peer : "unknown"));
    log_escape(sw, sizeof sw, n->software ? n->software : "unknown", strlen(n->software ? n->software : "unknown"));
    char fix[600] = "";
    if (n->remedy && n->remedy->server[0])
        log_escape(fix, sizeof fix, n->remedy->server, strlen(n->remedy->server));
    log_warning("device %s: SSH client %s (%s) shares no %s algorithm with the device (%s, %s evidence)%s%s%s", dev,
                peer, sw, n->category >= 0 ? algo_category_name((enum algo_category)n->category) : "(unknown category)",
                n->match ? n->match->id : "unclassified", n->evidence == EVIDENCE_EXPLICIT ? "explicit" : "inferred",
                fix[0] ? "; fix on the device: " : "", fix, held ? "; more failures were not logged" : "");
}

void pipeline_free(struct pipeline *p)
{
    if (!p)
        return;
    pipeline_flush(p);
    session_table_free(p->sessions);
    catalogue_free(p->catalogue);
    inventory_free(p->inv);
    pattern_set_free(p->patterns);
    algo_db_free(p->db);
    free(p->scratch);
    free(p);
}
