/* SPDX-License-Identifier: ISC */
/* The file sink: alerts as JSON Lines in [alerts] file, or on stdout. The
 * file is written and fsync'ed by its own thread in groups (filesync.h):
 * the event loop never waits for the disk, and an alert counts as written
 * (file_sent) only once its fsync returned, so a counted alert survives a
 * crash. */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <jansson.h>

#include "cfg.h"
#include "filesync.h"
#include "log.h"
#include "sink.h"

struct file_sink {
    struct sink s;
    struct filesync *f;
    struct event *synced_ev; /* the file's thread synced a group */
    char *path;  /* NULL: stdout */
    int always;  /* stdout as JSON whatever [alerts] stdout says (replay) */
    int tty;     /* stdout was a terminal when the sink was made */
};

/* Appends text to the line, every control byte (C0, DEL, UTF-8 encoded C1)
 * as \xNN: received names must not drive the operator's terminal. */
static void put_text(char *buf, size_t size, size_t *off, const char *text)
{
    const unsigned char *p = (const unsigned char *)(text ? text : "");
    for (; *p && *off + 5 < size; p++) {
        if (*p < 0x20 || *p == 0x7f || (*p == 0xc2 && p[1] >= 0x80 && p[1] <= 0x9f)) {
            unsigned c = *p == 0xc2 ? *++p : *p;
            *off += (size_t)snprintf(buf + *off, size - *off, "\\x%02x", c);
        } else {
            buf[(*off)++] = (char)*p;
        }
    }
    buf[*off] = '\0';
}

static const char *str_at(json_t *o, const char *obj, const char *key)
{
    json_t *v = obj ? json_object_get(json_object_get(o, obj), key) : json_object_get(o, key);
    return json_is_string(v) ? json_string_value(v) : NULL;
}

/* One short line for a person at a terminal: status, severity, device,
 * client, mismatch, the fix (the server change, else the client's) and
 * the console's page of the alert when [http] external_url is set.
 * buf holds the line without newline. */
static void text_line(json_t *o, char *buf, size_t size)
{
    size_t off = 0;
    buf[0] = '\0';
    const char *status = str_at(o, NULL, "status");
    int resolved = status && strcmp(status, "resolved") == 0;
    const char *sev = str_at(o, "mismatch", "severity");
    put_text(buf, size, &off, str_at(o, NULL, "time"));
    put_text(buf, size, &off, resolved ? " RESOLVED " : " ALERT ");
    if (sev && !resolved) {
        put_text(buf, size, &off, sev);
        put_text(buf, size, &off, " ");
    }
    const char *key = str_at(o, "device", "key"), *name = str_at(o, "device", "name");
    put_text(buf, size, &off, name ? name : key);
    if (name && key && strcmp(name, key) != 0) {
        put_text(buf, size, &off, " (");
        put_text(buf, size, &off, key);
        put_text(buf, size, &off, ")");
    }
    const char *sw = str_at(o, "client", "software"), *addr = str_at(o, "client", "address");
    if (sw || addr) {
        put_text(buf, size, &off, sw ? ": client " : ": unidentified client");
        put_text(buf, size, &off, sw);
        if (addr) {
            put_text(buf, size, &off, " from ");
            put_text(buf, size, &off, addr);
        }
    }
    put_text(buf, size, &off, ": ");
    put_text(buf, size, &off, str_at(o, "mismatch", "id"));
    const char *cat = str_at(o, NULL, "category"), *dir = str_at(o, NULL, "direction");
    if (cat) {
        put_text(buf, size, &off, " (");
        put_text(buf, size, &off, cat);
        if (dir) {
            put_text(buf, size, &off, " ");
            put_text(buf, size, &off, dir);
        }
        put_text(buf, size, &off, ")");
    }
    json_t *count = json_object_get(o, "count");
    if (json_is_integer(count) && json_integer_value(count) > 1 && off + 32 < size)
        off += (size_t)snprintf(buf + off, size - off, " x%lld", (long long)json_integer_value(count));
    const char *fix = resolved ? NULL : str_at(o, "remediation", "server");
    if (fix) {
        put_text(buf, size, &off, "; fix: ");
        put_text(buf, size, &off, fix);
    } else if (!resolved && (fix = str_at(o, "remediation", "client"))) {
        put_text(buf, size, &off, "; fix on the client: ");
        put_text(buf, size, &off, fix);
    }
    /* the console's page of the alert ([http] external_url) */
    const char *page = str_at(o, NULL, "console_url");
    if (page) {
        put_text(buf, size, &off, "; see ");
        put_text(buf, size, &off, page);
    }
}

static int open_file(const char *path, struct filesync **out, char *err, size_t errsize)
{
    /* close-on-exec: alert programs do not inherit it */
    if (filesync_open(path, out) < 0) {
        snprintf(err, errsize, "%s: cannot open the alert file ([alerts] file): %s; create its directory or fix "
                 "its permissions",
                 path, strerror(errno));
        return -1;
    }
    return 0;
}

/* Counts what the file's thread synced or failed since the last look. */
static void file_account(struct file_sink *fs)
{
    uint64_t synced, failed;
    int error;
    if (!fs->f)
        return;
    filesync_poll(fs->f, &synced, &failed, &error);
    fs->s.sent += synced;
    fs->s.failed += failed;
    size_t bytes;
    fs->s.pending = filesync_pending(fs->f, &bytes);
    if (failed && log_ratelimit_allow(fs->s.env->rl, time(NULL), NULL))
        log_error("alert file %s: %llu alert(s) could not be written: %s; alerts still go to the other sinks (check "
                  "free space)",
                  fs->path, (unsigned long long)failed, strerror(error));
}

static void on_synced(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    file_account(arg);
}

static void file_tick(struct sink *s, int64_t now)
{
    (void)now;
    file_account((struct file_sink *)s);
}

static void file_send(struct sink *s, struct json_t *o, const char *line, const char *alert_id)
{
    struct file_sink *fs = (struct file_sink *)s;
    (void)alert_id;
    if (!fs->path) {
        enum cfg_stdout mode = fs->always ? CFG_STDOUT_JSON : s->env->cfg->alert_stdout;
        if (mode == CFG_STDOUT_NO)
            return;
        if (mode == CFG_STDOUT_AUTO)
            mode = fs->tty ? CFG_STDOUT_TEXT : CFG_STDOUT_JSON;
        if (mode == CFG_STDOUT_TEXT && o) {
            char text[4096];
            text_line(o, text, sizeof text);
            fputs(text, stdout);
        } else {
            fputs(line, stdout);
        }
        fputc('\n', stdout);
        fflush(stdout);
        s->sent++;
        return;
    }
    /* counted in file_account once synced */
    if (filesync_append(fs->f, line, strlen(line)) < 0) {
        s->failed++;
        if (log_ratelimit_allow(s->env->rl, time(NULL), NULL))
            log_error("alert file %s: %u MiB of alerts are waiting for the disk; this one was not written (it "
                      "still goes to the other sinks); check the disk",
                      fs->path, FILESYNC_MAX_BYTES >> 20);
        return;
    }
    s->pending++;
}

static int file_reopen(struct sink *s, const struct cfg *cfg, char *err, size_t errsize)
{
    struct file_sink *fs = (struct file_sink *)s;
    if (!fs->path)
        return 0;
    char *path = strdup(cfg->alert_file);
    if (!path) {
        snprintf(err, errsize, "out of memory");
        return -1;
    }
    /* alerts written before this go to the old file, later ones to the new */
    if (filesync_reopen(fs->f, path) < 0) {
        snprintf(err, errsize, "%s: cannot open the alert file ([alerts] file): %s; create its directory or fix "
                 "its permissions",
                 path, strerror(errno));
        free(path);
        return -1;
    }
    free(fs->path);
    fs->path = path;
    return 0;
}

static void file_free(struct sink *s)
{
    struct file_sink *fs = (struct file_sink *)s;
    if (fs->synced_ev)
        event_free(fs->synced_ev);
    /* what is queued is written and synced before the file closes */
    uint64_t lost = filesync_close(fs->f);
    if (lost)
        log_error("alert file %s: %llu alert(s) could not be written before closing (check free space)", fs->path,
                  (unsigned long long)lost);
    free(fs->path);
    free(fs);
}

static const struct sink_ops file_ops = {
    .name = "file",
    .send = file_send,
    .tick = file_tick,
    .reopen = file_reopen,
    .free = file_free,
};

int sink_file_new(const struct sink_env *env, const char *path, int always, struct sink **out, char *err,
                  size_t errsize)
{
    *out = NULL;
    struct file_sink *fs = calloc(1, sizeof *fs);
    if (!fs || (path && !(fs->path = strdup(path)))) {
        free(fs);
        snprintf(err, errsize, "out of memory");
        return -1;
    }
    fs->s.ops = &file_ops;
    fs->s.env = env;
    fs->always = always;
    fs->tty = !path && isatty(STDOUT_FILENO);
    if (path && open_file(path, &fs->f, err, errsize) < 0) {
        file_free(&fs->s);
        return -1;
    }
    /* without a loop the counts are taken every tick */
    if (fs->f && env->base &&
        (!(fs->synced_ev = event_new(env->base, filesync_notify_fd(fs->f), EV_READ | EV_PERSIST, on_synced, fs)) ||
         event_add(fs->synced_ev, NULL) < 0)) {
        snprintf(err, errsize, "out of memory");
        file_free(&fs->s);
        return -1;
    }
    *out = &fs->s;
    return 0;
}
