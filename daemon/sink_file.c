/* SPDX-License-Identifier: ISC */
/* The file sink: alerts as JSON Lines in [alerts] file (flushed to disk so
 * an acknowledged alert survives a crash), or on stdout. */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "cfg.h"
#include "log.h"
#include "sink.h"

struct file_sink {
    struct sink s;
    FILE *f;
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
 * client, mismatch and the fix (the server change, else the client's).
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
    if (resolved)
        return;
    const char *fix = str_at(o, "remediation", "server");
    if (fix) {
        put_text(buf, size, &off, "; fix: ");
        put_text(buf, size, &off, fix);
    } else if ((fix = str_at(o, "remediation", "client"))) {
        put_text(buf, size, &off, "; fix on the client: ");
        put_text(buf, size, &off, fix);
    }
}

static int open_file(const char *path, FILE **out, char *err, size_t errsize)
{
    *out = fopen(path, "ae"); /* close-on-exec: alert programs do not inherit it */
    if (!*out) {
        snprintf(err, errsize, "%s: cannot open the alert file ([alerts] file): %s; create its directory or fix "
                 "its permissions",
                 path, strerror(errno));
        return -1;
    }
    return 0;
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
    if (fputs(line, fs->f) < 0 || fputc('\n', fs->f) == EOF || fflush(fs->f) != 0 || fsync(fileno(fs->f)) != 0) {
        s->failed++;
        if (log_ratelimit_allow(s->env->rl, time(NULL), NULL))
            log_error("alert file %s: write failed: %s; alerts still go to the other sinks (check free space)",
                      fs->path, strerror(errno));
        return;
    }
    s->sent++;
}

static int file_reopen(struct sink *s, const struct cfg *cfg, char *err, size_t errsize)
{
    struct file_sink *fs = (struct file_sink *)s;
    if (!fs->path)
        return 0;
    FILE *f;
    char *path = strdup(cfg->alert_file);
    if (!path) {
        snprintf(err, errsize, "out of memory");
        return -1;
    }
    if (open_file(path, &f, err, errsize) < 0) {
        free(path);
        return -1;
    }
    fclose(fs->f);
    fs->f = f;
    free(fs->path);
    fs->path = path;
    return 0;
}

static void file_free(struct sink *s)
{
    struct file_sink *fs = (struct file_sink *)s;
    if (fs->path && fs->f)
        fclose(fs->f);
    free(fs->path);
    free(fs);
}

static const struct sink_ops file_ops = {
    .name = "file",
    .send = file_send,
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
    *out = &fs->s;
    return 0;
}
