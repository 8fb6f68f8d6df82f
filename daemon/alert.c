#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "alert.h"
#include "catalogue.h"
#include "log.h"
#include "negotiate.h"
#include "text.h"

#define ALERT_BUCKETS 4096u
#define ALERT_MAX 200000u /* alerts remembered for deduplication */

struct alert_state {
    struct alert_state *next;
    char id[33];
    char device[128];
    char fingerprint[33];
    int64_t first_seen, last_seen, last_sent;
    uint64_t count;
    json_t *last; /* the last alert object sent, for the resolved notice */
};

struct alerter {
    const struct cfg *cfg;
    FILE *file;
    struct alert_state *buckets[ALERT_BUCKETS];
    size_t n;
    uint64_t sent, suppressed;
    struct log_ratelimit rl;
};

static unsigned bucket_of(const char *id)
{
    unsigned h = 0;
    for (int i = 0; i < 8 && id[i]; i++)
        h = h * 16 + (unsigned)(id[i] <= '9' ? id[i] - '0' : id[i] - 'a' + 10);
    return h % ALERT_BUCKETS;
}

static int open_file(const struct cfg *cfg, FILE **out, char *err, size_t errsize)
{
    *out = NULL;
    if (!cfg->alert_file)
        return 0;
    *out = fopen(cfg->alert_file, "a");
    if (!*out) {
        snprintf(err, errsize, "%s: cannot open the alert file ([alerts] file): %s; create its directory or fix "
                 "its permissions",
                 cfg->alert_file, strerror(errno));
        return -1;
    }
    return 0;
}

int alerter_new(const struct cfg *cfg, struct alerter **out, char *err, size_t errsize)
{
    *out = NULL;
    struct alerter *a = calloc(1, sizeof *a);
    if (!a) {
        snprintf(err, errsize, "out of memory");
        return -1;
    }
    a->cfg = cfg;
    a->rl = (struct log_ratelimit)LOG_RATELIMIT_INIT(60, 5);
    if (open_file(cfg, &a->file, err, errsize) < 0) {
        free(a);
        return -1;
    }
    *out = a;
    return 0;
}

int alerter_reopen(struct alerter *a, const struct cfg *cfg, char *err, size_t errsize)
{
    FILE *f;
    if (open_file(cfg, &f, err, errsize) < 0)
        return -1;
    if (a->file)
        fclose(a->file);
    a->file = f;
    a->cfg = cfg;
    return 0;
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
static void emit(struct alerter *a, json_t *o)
{
    char *line = json_dumps(o, JSON_COMPACT);
    if (!line)
        return;
    if (a->cfg->alert_stdout) {
        fputs(line, stdout);
        fputc('\n', stdout);
        fflush(stdout);
    }
    if (a->file) {
        if (fputs(line, a->file) < 0 || fputc('\n', a->file) == EOF || fflush(a->file) != 0 ||
            fsync(fileno(a->file)) != 0) {
            if (log_ratelimit_allow(&a->rl, time(NULL), NULL))
                log_error("alert file %s: write failed: %s; alerts still go to the other sinks (check free space)",
                          a->cfg->alert_file, strerror(errno));
        }
    }
    a->sent++;
    free(line);
}

/* The alert object of SPEC, reshaped from the pipeline's outcome JSON so
 * the offers, mismatch and remediation are rendered in one place. */
static json_t *alert_object(struct pipeline *p, const struct negotiation *n, const char *id,
                            const struct alert_state *st)
{
    char *text = pipeline_outcome_json(p, n);
    if (!text)
        return NULL;
    json_t *o = json_loads(text, 0, NULL);
    free(text);
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
    json_decref(o);
    return a;
}

static void forget_one(struct alerter *a)
{
    /* the table is full: drop the least recently seen alert of a bucket */
    for (unsigned b = 0; b < ALERT_BUCKETS; b++) {
        struct alert_state **pp = &a->buckets[b];
        if (!*pp)
            continue;
        struct alert_state **oldest = pp;
        for (; *pp; pp = &(*pp)->next)
            if ((*pp)->last_seen < (*oldest)->last_seen)
                oldest = pp;
        struct alert_state *victim = *oldest;
        *oldest = victim->next;
        json_decref(victim->last);
        free(victim);
        a->n--;
        return;
    }
}

void alerter_process(struct alerter *a, struct pipeline *p, const struct negotiation *n, int64_t now)
{
    if (!n->failed) {
        /* a success of the same client type resolves its alerts on the device */
        if (!n->fingerprint)
            return;
        for (unsigned b = 0; b < ALERT_BUCKETS; b++) {
            for (struct alert_state **pp = &a->buckets[b]; *pp;) {
                struct alert_state *s = *pp;
                if (strcmp(s->fingerprint, n->fingerprint) == 0 && strcmp(s->device, n->device) == 0) {
                    if (s->last) {
                        char tbuf[40];
                        json_object_set_new(s->last, "status", json_string("resolved"));
                        json_object_set_new(s->last, "time", json_string(text_rfc3339(tbuf, sizeof tbuf, now, -1)));
                        emit(a, s->last);
                        json_decref(s->last);
                    }
                    *pp = s->next;
                    free(s);
                    a->n--;
                } else {
                    pp = &s->next;
                }
            }
        }
        return;
    }
    /* identity: device, mismatch, client fingerprint, category */
    char key[512], id[33];
    snprintf(key, sizeof key, "%s\x1f%s\x1f%s\x1f%d", n->device, n->match ? n->match->id : "unclassified",
             n->fingerprint ? n->fingerprint : (n->software ? n->software : ""), n->category);
    negotiate_md5_hex(key, strlen(key), id);
    unsigned b = bucket_of(id);
    struct alert_state *s;
    for (s = a->buckets[b]; s; s = s->next)
        if (strcmp(s->id, id) == 0)
            break;
    if (!s) {
        if (a->n >= ALERT_MAX)
            forget_one(a);
        s = calloc(1, sizeof *s);
        if (!s)
            return;
        memcpy(s->id, id, sizeof s->id);
        snprintf(s->device, sizeof s->device, "%s", n->device);
        snprintf(s->fingerprint, sizeof s->fingerprint, "%s", n->fingerprint ? n->fingerprint : "");
        s->first_seen = n->time;
        s->next = a->buckets[b];
        a->buckets[b] = s;
        a->n++;
    }
    s->count++;
    if (n->time > s->last_seen)
        s->last_seen = n->time;
    if (s->last_sent && now - s->last_sent < (int64_t)a->cfg->repeat_interval) {
        a->suppressed++;
        return;
    }
    json_t *o = alert_object(p, n, id, s);
    if (!o)
        return;
    emit(a, o);
    s->last_sent = now;
    json_decref(s->last);
    s->last = o;
}

void alerter_free(struct alerter *a)
{
    if (!a)
        return;
    for (unsigned b = 0; b < ALERT_BUCKETS; b++) {
        while (a->buckets[b]) {
            struct alert_state *s = a->buckets[b];
            a->buckets[b] = s->next;
            json_decref(s->last);
            free(s);
        }
    }
    if (a->file)
        fclose(a->file);
    free(a);
}
