/* SPDX-License-Identifier: ISC */
/* The exec sink: a program run per alert with the JSON on its standard
 * input (exec_timeout, at most exec_max at once, the rest waiting). The
 * pipe is non-blocking: what does not fit is written when the program
 * reads (an event on the loop), so a program that never reads its input
 * costs a slot until exec_timeout kills it, never the event loop. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "cfg.h"
#include "log.h"
#include "sink.h"
#include "store.h"

#define EXEC_QUEUE_MAX 1000u

struct exec_job {
    struct exec_job *next;
    char *json;
    int64_t outbox_id; /* 0 when not in the store's outbox */
};

struct exec_child {
    pid_t pid;
    int64_t started;
    int64_t outbox_id;
    /* the alert not yet written to the program's stdin: buf[off..len) to
     * the pipe wfd (non-blocking), ev waiting for it to take more; wfd -1
     * once all is written (then closed) or given up */
    int wfd;
    char *buf;
    size_t len, off;
    struct event *ev;
};

struct exec_sink {
    struct sink s;
    char *path;
    struct exec_job *head, *tail;
    struct exec_child *running; /* cap_running slots, grown when exec_max is raised */
    unsigned n_running, cap_running;
    int waiting; /* for the store to commit the head's outbox row */
};

/* Ends the write to a program's stdin: closes the pipe (the program sees
 * the end of its input) and frees what was left. */
static void child_close_input(struct exec_child *c)
{
    if (c->ev)
        event_free(c->ev);
    c->ev = NULL;
    if (c->wfd >= 0)
        close(c->wfd);
    c->wfd = -1;
    free(c->buf);
    c->buf = NULL;
}

/* Writes what the pipe takes now. Returns 1 when all is written (or the
 * program went away: EPIPE), 0 when the rest waits for the program. */
static int child_write(struct exec_child *c)
{
    while (c->off < c->len) {
        ssize_t w = write(c->wfd, c->buf + c->off, c->len - c->off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return 0;
        if (w <= 0)
            return 1; /* EPIPE: it exited without reading; reaped as usual */
        c->off += (size_t)w;
    }
    return 1;
}

static void on_writable(evutil_socket_t fd, short what, void *arg)
{
    struct exec_sink *ex = arg;
    (void)what;
    /* children move in the table as others finish: found by descriptor */
    for (unsigned i = 0; i < ex->n_running; i++) {
        struct exec_child *c = &ex->running[i];
        if (c->wfd == fd) {
            if (child_write(c))
                child_close_input(c);
            return;
        }
    }
}

/* Starts the program for job; takes job->json (it becomes the input). */
static void exec_start(struct exec_sink *ex, struct exec_job *job, int64_t now)
{
    int p[2];
    size_t len = strlen(job->json);
    char *buf = realloc(job->json, len + 2);
    if (!buf) {
        ex->s.failed++;
        return;
    }
    job->json = NULL;
    buf[len] = '\n';
    buf[len + 1] = '\0';
    if (pipe2(p, O_CLOEXEC) < 0) {
        free(buf);
        ex->s.failed++;
        return;
    }
    pid_t pid = fork();
    if (pid < 0) {
        close(p[0]);
        close(p[1]);
        free(buf);
        ex->s.failed++;
        return;
    }
    if (pid == 0) {
        /* the program gets the alert on stdin, the daemon's stdout and
         * stderr, and a clean environment: nothing of the daemon's (every
         * descriptor of the daemon is close-on-exec) */
        static char env_path[] = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
        static char env_home[] = "HOME=/";
        char *const envp[] = {env_path, env_home, NULL};
        if (p[0] == STDIN_FILENO)
            fcntl(p[0], F_SETFD, 0); /* dup2 would not clear close-on-exec */
        else
            dup2(p[0], STDIN_FILENO);
        /* and in case a library opened one without O_CLOEXEC */
        close_range(3, ~0u, 0);
        execle(ex->path, ex->path, (char *)NULL, envp);
        _exit(127);
    }
    close(p[0]);
    struct exec_child *c = &ex->running[ex->n_running++];
    *c = (struct exec_child){.pid = pid, .started = now, .outbox_id = job->outbox_id, .wfd = p[1], .buf = buf,
                             .len = len + 1};
    /* the program's end only: it reads at its own pace */
    if (fcntl(c->wfd, F_SETFL, O_NONBLOCK) < 0 || child_write(c)) {
        child_close_input(c);
        return;
    }
    /* the rest when the program reads; without a loop, every tick */
    struct event_base *base = ex->s.env->base;
    if (base && (c->ev = event_new(base, c->wfd, EV_WRITE | EV_PERSIST, on_writable, ex)) &&
        event_add(c->ev, NULL) < 0) {
        event_free(c->ev);
        c->ev = NULL;
    }
}

/* Reaps finished programs, kills those over exec_timeout, starts waiting
 * ones while fewer than exec_max run. */
static void exec_tick(struct sink *s, int64_t now);

static void exec_kick(void *arg)
{
    struct exec_sink *ex = arg;
    ex->waiting = 0;
    exec_tick(&ex->s, (int64_t)time(NULL));
}

static void exec_tick(struct sink *s, int64_t now)
{
    struct exec_sink *ex = (struct exec_sink *)s;
    const struct cfg *cfg = s->env->cfg;
    for (unsigned i = 0; i < ex->n_running;) {
        int status;
        pid_t r = waitpid(ex->running[i].pid, &status, WNOHANG);
        if (r == 0 && now - ex->running[i].started >= (int64_t)cfg->exec_timeout) {
            kill(ex->running[i].pid, SIGKILL);
            r = waitpid(ex->running[i].pid, &status, 0);
            status = -1;
            if (log_ratelimit_allow(s->env->rl, time(NULL), NULL))
                log_warning("alert program %s ran longer than %u s and was killed%s; check it", ex->path,
                            cfg->exec_timeout,
                            ex->running[i].wfd >= 0 ? " (it had not read the whole alert from its stdin)" : "");
        }
        if (r == 0) {
            /* no loop to wake us: the input moves on every tick */
            if (ex->running[i].wfd >= 0 && !ex->running[i].ev && child_write(&ex->running[i]))
                child_close_input(&ex->running[i]);
            i++;
            continue;
        }
        child_close_input(&ex->running[i]);
        /* the program ran: its outbox row goes either way; one that failed
         * or hung is not run again (it may have half acted), only counted
         * and reported */
        if (ex->running[i].outbox_id && s->env->store)
            store_outbox_done(s->env->store, ex->running[i].outbox_id);
        if (r > 0 && status == 0) {
            s->sent++;
        } else {
            s->failed++;
            if (status != -1 && log_ratelimit_allow(s->env->rl, time(NULL), NULL))
                log_warning("alert program %s failed (exit status %d); the alert was still written to the other "
                            "sinks",
                            ex->path, WIFEXITED(status) ? WEXITSTATUS(status) : -1);
        }
        ex->running[i] = ex->running[--ex->n_running];
    }
    if (cfg->exec_max > ex->cap_running) { /* raised by SIGHUP */
        struct exec_child *r = realloc(ex->running, cfg->exec_max * sizeof *r);
        if (r) {
            ex->running = r;
            ex->cap_running = cfg->exec_max;
        }
    }
    while (ex->head && ex->n_running < cfg->exec_max && ex->n_running < ex->cap_running &&
           sink_outbox_ready(s, ex->head->outbox_id, &ex->waiting, exec_kick)) {
        struct exec_job *job = ex->head;
        ex->head = job->next;
        if (!ex->head)
            ex->tail = NULL;
        s->pending--;
        exec_start(ex, job, now);
        free(job->json);
        free(job);
    }
}

static void exec_enqueue(struct exec_sink *ex, const char *json, int64_t outbox_id)
{
    if (ex->s.pending >= EXEC_QUEUE_MAX) {
        ex->s.failed++;
        if (log_ratelimit_allow(ex->s.env->rl, time(NULL), NULL))
            log_error("alert program %s: %u alerts waiting, one was not run; the program is too slow",
                      ex->path, EXEC_QUEUE_MAX);
        return;
    }
    struct exec_job *job = calloc(1, sizeof *job);
    if (!job || !(job->json = strdup(json))) {
        free(job);
        return;
    }
    job->outbox_id = outbox_id;
    if (ex->tail)
        ex->tail->next = job;
    else
        ex->head = job;
    ex->tail = job;
    ex->s.pending++;
    exec_tick(&ex->s, (int64_t)time(NULL));
}

static void exec_send(struct sink *s, struct json_t *o, const char *line, const char *alert_id)
{
    (void)o;
    int64_t oid = 0;
    if (s->env->store)
        store_outbox_add(s->env->store, alert_id, "exec", line, (int64_t)time(NULL), &oid);
    exec_enqueue((struct exec_sink *)s, line, oid);
}

static void restore_one(void *arg, int64_t id, const char *payload)
{
    exec_enqueue(arg, payload, id);
}

static int exec_restore(struct sink *s)
{
    return s->env->store ? store_outbox_load(s->env->store, "exec", restore_one, s) : 0;
}

static void exec_free(struct sink *s)
{
    struct exec_sink *ex = (struct exec_sink *)s;
    if (ex->waiting && s->env->store)
        store_after_commit_cancel(s->env->store, ex);
    /* programs still running finish on their own; reap what has. Every
     * started program leaves the outbox (committed by store_close): one
     * that is still running may already have paged someone, and running it
     * again at the next start would open a duplicate ticket */
    unsigned still = 0;
    for (unsigned i = 0; i < ex->n_running; i++) {
        /* one still reading gets the end of its input */
        child_close_input(&ex->running[i]);
        if (waitpid(ex->running[i].pid, NULL, WNOHANG) == 0)
            still++;
        if (ex->running[i].outbox_id && s->env->store)
            store_outbox_done(s->env->store, ex->running[i].outbox_id);
    }
    if (still)
        log_notice("%u alert program(s) %s still running at stop: they finish on their own and are not run "
                   "again at the next start",
                   still, ex->path);
    while (ex->head) {
        struct exec_job *j = ex->head;
        ex->head = j->next;
        free(j->json);
        free(j);
    }
    free(ex->running);
    free(ex->path);
    free(ex);
}

static const struct sink_ops exec_ops = {
    .name = "exec",
    .send = exec_send,
    .restore = exec_restore,
    .tick = exec_tick,
    .free = exec_free,
};

int sink_exec_new(const struct sink_env *env, const char *path, struct sink **out, char *err, size_t errsize)
{
    *out = NULL;
    struct exec_sink *ex = calloc(1, sizeof *ex);
    if (ex) {
        ex->s.ops = &exec_ops;
        ex->s.env = env;
        ex->path = strdup(path);
        ex->cap_running = env->cfg->exec_max ? env->cfg->exec_max : 1;
        ex->running = calloc(ex->cap_running, sizeof *ex->running);
    }
    if (!ex || !ex->path || !ex->running) {
        snprintf(err, errsize, "out of memory");
        if (ex)
            exec_free(&ex->s);
        return -1;
    }
    if (access(path, X_OK) != 0) {
        snprintf(err, errsize, "[alerts] exec: %s is not an executable program: %s", path, strerror(errno));
        exec_free(&ex->s);
        return -1;
    }
    *out = &ex->s;
    return 0;
}
