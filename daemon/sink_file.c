/* The file sink: alerts as JSON Lines in [alerts] file (flushed to disk so
 * an acknowledged alert survives a crash), or on stdout. */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cfg.h"
#include "log.h"
#include "sink.h"

struct file_sink {
    struct sink s;
    FILE *f;
    char *path;  /* NULL: stdout */
    int always;  /* stdout whatever [alerts] stdout says */
};

static int open_file(const char *path, FILE **out, char *err, size_t errsize)
{
    *out = fopen(path, "a");
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
    (void)o;
    (void)alert_id;
    if (!fs->path) {
        if (!fs->always && !s->env->cfg->alert_stdout)
            return;
        fputs(line, stdout);
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
    if (path && open_file(path, &fs->f, err, errsize) < 0) {
        file_free(&fs->s);
        return -1;
    }
    *out = &fs->s;
    return 0;
}
