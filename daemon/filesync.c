/* SPDX-License-Identifier: ISC */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "filesync.h"

struct filesync {
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    /* under mu: records queued, not yet taken by the thread */
    char *buf;
    size_t len, cap, nrec;
    /* under mu: what the thread is writing now */
    size_t busy_len, busy_rec;
    /* under mu: a reopened file, used once the first switch_len bytes
     * (switch_rec records) of buf are in the old one */
    int next_fd;
    size_t switch_len, switch_rec;
    /* under mu: results since the last filesync_poll */
    uint64_t synced, failed;
    int error;
    bool stop;
    int fd; /* the thread's */
    int notify_fd;
};

static uint64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static int open_append(const char *path)
{
    return open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0666);
}

/* Writes len bytes and syncs them; 0 or an errno. */
static int write_sync(int fd, const char *p, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return errno;
        }
        p += n;
        len -= (size_t)n;
    }
    return fdatasync(fd) < 0 ? errno : 0;
}

/* Takes everything queued, writes it and syncs it once: a group commit.
 * Groups start at most every FILESYNC_INTERVAL_MS, so a fast stream of
 * records costs a few hundred fsyncs a second, not one per record. */
static void *sync_main(void *arg)
{
    struct filesync *f = arg;
    uint64_t next_at = 0;
    pthread_mutex_lock(&f->mu);
    for (;;) {
        while (!f->stop && f->len == 0 && f->next_fd < 0)
            pthread_cond_wait(&f->cv, &f->mu);
        if (f->len == 0 && f->next_fd < 0)
            break; /* stopping, nothing left */
        uint64_t now = mono_ms();
        if (!f->stop && now < next_at) {
            struct timespec until;
            clock_gettime(CLOCK_MONOTONIC, &until);
            long ns = until.tv_nsec + (long)(next_at - now) * 1000000L;
            until.tv_sec += ns / 1000000000L;
            until.tv_nsec = ns % 1000000000L;
            pthread_cond_timedwait(&f->cv, &f->mu, &until);
            continue;
        }
        next_at = now + FILESYNC_INTERVAL_MS;
        char *b = f->buf;
        size_t blen = f->len, brec = f->nrec, sw = 0, swrec = 0;
        int nfd = f->next_fd;
        if (nfd >= 0) {
            sw = f->switch_len;
            swrec = f->switch_rec;
        }
        f->buf = NULL;
        f->len = f->cap = f->nrec = 0;
        f->next_fd = -1;
        f->busy_len = blen;
        f->busy_rec = brec;
        pthread_mutex_unlock(&f->mu);

        uint64_t ok = 0, bad = 0;
        int err = 0, e;
        if (nfd >= 0) {
            /* what came before the reopen ends the old file */
            e = write_sync(f->fd, b, sw);
            if (e)
                err = e, bad += swrec;
            else
                ok += swrec;
            close(f->fd);
            f->fd = nfd;
        }
        if (blen > sw) {
            e = write_sync(f->fd, b + sw, blen - sw);
            if (e)
                err = e, bad += brec - swrec;
            else
                ok += brec - swrec;
        }
        free(b);

        pthread_mutex_lock(&f->mu);
        f->busy_len = f->busy_rec = 0;
        f->synced += ok;
        f->failed += bad;
        if (err)
            f->error = err;
        uint64_t one = 1;
        if (write(f->notify_fd, &one, sizeof one) < 0) {
            /* the counter is saturated: the loop is woken anyway */
        }
    }
    pthread_mutex_unlock(&f->mu);
    return NULL;
}

int filesync_open(const char *path, struct filesync **out)
{
    *out = NULL;
    struct filesync *f = calloc(1, sizeof *f);
    if (!f) {
        errno = ENOMEM;
        return -1;
    }
    f->next_fd = -1;
    f->notify_fd = -1;
    if ((f->fd = open_append(path)) < 0) {
        int e = errno;
        free(f);
        errno = e;
        return -1;
    }
    if ((f->notify_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) < 0) {
        int e = errno;
        close(f->fd);
        free(f);
        errno = e;
        return -1;
    }
    pthread_mutex_init(&f->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&f->cv, &ca);
    pthread_condattr_destroy(&ca);
    /* the thread takes no signals: the event loop's thread handles them */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old);
    int rc = pthread_create(&f->thread, NULL, sync_main, f);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc != 0) {
        pthread_cond_destroy(&f->cv);
        pthread_mutex_destroy(&f->mu);
        close(f->notify_fd);
        close(f->fd);
        free(f);
        errno = rc;
        return -1;
    }
    *out = f;
    return 0;
}

int filesync_append(struct filesync *f, const char *data, size_t len)
{
    int rc = -1;
    pthread_mutex_lock(&f->mu);
    if (f->len + f->busy_len + len + 1 <= FILESYNC_MAX_BYTES) {
        if (f->len + len + 1 > f->cap) {
            size_t cap = f->cap ? f->cap : 65536;
            while (cap < f->len + len + 1)
                cap *= 2;
            char *b = realloc(f->buf, cap);
            if (!b)
                goto out;
            f->buf = b;
            f->cap = cap;
        }
        memcpy(f->buf + f->len, data, len);
        f->buf[f->len + len] = '\n';
        f->len += len + 1;
        f->nrec++;
        rc = 0;
        pthread_cond_signal(&f->cv);
    }
out:
    pthread_mutex_unlock(&f->mu);
    return rc;
}

int filesync_notify_fd(const struct filesync *f)
{
    return f->notify_fd;
}

void filesync_poll(struct filesync *f, uint64_t *synced, uint64_t *failed, int *error)
{
    uint64_t v;
    while (read(f->notify_fd, &v, sizeof v) == (ssize_t)sizeof v)
        ;
    pthread_mutex_lock(&f->mu);
    *synced = f->synced;
    *failed = f->failed;
    *error = f->error;
    f->synced = f->failed = 0;
    f->error = 0;
    pthread_mutex_unlock(&f->mu);
}

size_t filesync_pending(const struct filesync *f, size_t *bytes)
{
    struct filesync *m = (struct filesync *)f; /* the lock, not the contents */
    pthread_mutex_lock(&m->mu);
    size_t n = f->nrec + f->busy_rec;
    if (bytes)
        *bytes = f->len + f->busy_len;
    pthread_mutex_unlock(&m->mu);
    return n;
}

int filesync_reopen(struct filesync *f, const char *path)
{
    int fd = open_append(path);
    if (fd < 0)
        return -1;
    pthread_mutex_lock(&f->mu);
    if (f->next_fd >= 0) {
        /* reopened twice before the thread switched: the newest file wins,
         * what came between the two goes to the oldest */
        close(f->next_fd);
    } else {
        f->switch_len = f->len;
        f->switch_rec = f->nrec;
    }
    f->next_fd = fd;
    pthread_cond_signal(&f->cv);
    pthread_mutex_unlock(&f->mu);
    return 0;
}

uint64_t filesync_close(struct filesync *f)
{
    if (!f)
        return 0;
    pthread_mutex_lock(&f->mu);
    f->stop = true;
    pthread_cond_signal(&f->cv);
    pthread_mutex_unlock(&f->mu);
    pthread_join(f->thread, NULL);
    uint64_t failed = f->failed;
    close(f->fd);
    close(f->notify_fd);
    free(f->buf);
    pthread_cond_destroy(&f->cv);
    pthread_mutex_destroy(&f->mu);
    free(f);
    return failed;
}
