/* SPDX-License-Identifier: ISC */
/* sink: one destination of alerts (the JSON Lines file or stdout, a
 * webhook, syslog forwarding, a program run per alert), behind one
 * interface so the alerter decides what to say and each sink only how to
 * deliver it.
 *
 * A sink is created by its own constructor (sink_file_new, sink_webhook_new,
 * sink_syslog_new, sink_exec_new); every constructor returns 0 and *out, or
 * -1 with a message for the operator in err. The alerter then only calls
 * the operations below. A sink borrows its environment (struct sink_env)
 * for its whole life; the environment belongs to the alerter.
 *
 * Durable sinks (webhook, syslog, exec) put each notification in the
 * store's outbox before they first try it and remove it once delivered, so
 * an accepted alert is delivered after a restart too.
 */
#ifndef KW_SINK_H
#define KW_SINK_H

#include <stddef.h>
#include <stdint.h>

#include "store.h"

struct cfg;
struct event_base;
struct json_t;
struct log_ratelimit;
struct store;

/* What every sink shares with the alerter, borrowed for the sink's life. */
struct sink_env {
    const struct cfg *cfg;      /* the configuration in force (replaced on SIGHUP) */
    struct store *store;        /* NULL: nothing durable, no outbox */
    struct event_base *base;    /* runs network I/O and timers; NULL: none */
    struct log_ratelimit *rl;   /* complaints about delivery */
};

struct sink;

struct sink_ops {
    /* the outbox's name for this sink, also the prefix of its counters */
    const char *name;
    /* Delivers one alert: o is the alert object (borrowed for the call),
     * line its compact JSON on one line without newline (borrowed),
     * alert_id its id. Never blocks the caller on a slow destination. */
    void (*send)(struct sink *s, struct json_t *o, const char *line, const char *alert_id);
    /* Resumes the notifications of this sink left in the outbox by the last
     * run. Returns how many (0 when none or no store). May be NULL. */
    int (*restore)(struct sink *s);
    /* Called about once a second (reaping, timeouts). May be NULL. */
    void (*tick)(struct sink *s, int64_t now);
    /* Reopens what SIGHUP reopens (the alert file after logrotate), with
     * the new configuration cfg (borrowed for the call). Returns 0, or -1
     * with err set and the old resource kept. May be NULL. */
    int (*reopen)(struct sink *s, const struct cfg *cfg, char *err, size_t errsize);
    void (*free)(struct sink *s);
};

/* The part every sink starts with. */
struct sink {
    const struct sink_ops *ops;
    const struct sink_env *env;
    uint64_t sent;   /* notifications delivered */
    uint64_t failed; /* failed attempts or notifications given up */
    size_t pending;  /* notifications waiting (queued or in flight) */
    uint64_t dropped; /* notifications set aside: the sink's queue was full */
};

/* The JSON Lines file [alerts] file (path; synced to disk before an alert
 * counts as written), or stdout when path is NULL: then alerts are printed
 * while [alerts] stdout is on, or always when always is set (replay). */
int sink_file_new(const struct sink_env *env, const char *path, int always, struct sink **out, char *err,
                  size_t errsize);

/* HTTP POST to url ("http://HOST[:PORT]/PATH"); format "generic" posts the
 * alert object, anything else an Alertmanager v2 body. Needs env->base. */
int sink_webhook_new(const struct sink_env *env, const char *url, const char *format, struct sink **out, char *err,
                     size_t errsize);

/* Queues a re-send of the firing alert o (borrowed for the call) to an
 * Alertmanager webhook, outside the outbox: it only keeps the alert active
 * (endsAt ahead). Skipped while the peer is failing or its queue is full. */
void sink_webhook_refresh(struct sink *s, struct json_t *o);

/* The webhook's URL (its peer name in the outbox), borrowed for its life. */
const char *sink_webhook_url(const struct sink *s);

/* Makes the webhook take, at restore, the outbox rows written before
 * webhooks had peers (the first URL of the list). */
void sink_webhook_adopt(struct sink *s);

/* RFC 5424 to url ("udp://ADDR:PORT" or "tcp://ADDR:PORT", numeric).
 * Needs env->base. */
int sink_syslog_new(const struct sink_env *env, const char *url, struct sink **out, char *err, size_t errsize);

/* Runs the program path once per alert with the JSON on its standard input
 * ([alerts] exec_timeout, exec_max). */
int sink_exec_new(const struct sink_env *env, const char *path, struct sink **out, char *err, size_t errsize);

/* For a durable sink: whether its notification in outbox row id may be
 * tried now (committed, or no store). When not, kick(s) is called once the
 * store has committed more (store_after_commit; *waiting is set meanwhile
 * so one wait is asked for at a time) and 0 is returned: a notification is
 * in the outbox across a crash before its first attempt. */
static inline int sink_outbox_ready(struct sink *s, int64_t id, int *waiting, void (*kick)(void *arg))
{
    struct store *st = s->env->store;
    if (!st || !id || store_outbox_committed(st, id))
        return 1;
    if (!*waiting) {
        *waiting = 1;
        if (store_after_commit(st, kick, s) < 0)
            *waiting = 0;
    }
    return 0;
}

/* s->ops->free(s); NULL is a no-op. */
static inline void sink_free(struct sink *s)
{
    if (s)
        s->ops->free(s);
}

#endif
