/* SPDX-License-Identifier: ISC */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

#include "log.h"

static enum log_level g_level = LOG_LV_INFO;
static int g_journal = -1; /* -1 unknown, 0 plain stderr, 1 journald stream */

static const char *const level_names[] = {"error", "warning", "notice", "info", "debug"};
/* syslog(3) priorities journald understands as "<N>" prefixes */
static const int level_prio[] = {3, 4, 5, 6, 7};

void log_set_level(enum log_level level)
{
    g_level = level;
}

enum log_level log_get_level(void)
{
    return g_level;
}

int log_level_from_name(const char *name)
{
    for (size_t i = 0; i < sizeof level_names / sizeof level_names[0]; i++)
        if (strcmp(name, level_names[i]) == 0)
            return (int)i;
    return -1;
}

void log_msg(enum log_level level, const char *fmt, ...)
{
    if (level > g_level)
        return;
    if (g_journal < 0) {
        /* systemd sets JOURNAL_STREAM when stderr is connected to journald */
        const char *js = getenv("JOURNAL_STREAM");
        g_journal = js && *js;
    }
    char text[2048], line[2048];
    int n;
    if (g_journal)
        n = snprintf(line, sizeof line, "<%d>", level_prio[level]);
    else
        n = snprintf(line, sizeof line, "kexwatchd[%ld]: %s: ", (long)getpid(), level_names[level]);
    if (n < 0)
        n = 0;
    va_list ap;
    va_start(ap, fmt);
    int m = vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    size_t tlen = m < 0 ? 0 : (size_t)m < sizeof text ? (size_t)m : sizeof text - 1;
    /* one escaping rule at the output: whatever a message carries (a
     * received name its caller forgot to escape), a control byte or a
     * non-ASCII byte is written as \xHH, so one call is one line and no
     * byte reaches a terminal or the journal raw; the backslash stays, so
     * text escaped by log_escape() is not escaped twice */
    static const char hex[] = "0123456789abcdef";
    size_t len = (size_t)n;
    for (size_t i = 0; i < tlen && len < sizeof line - 2; i++) {
        unsigned char c = (unsigned char)text[i];
        if (c >= 0x20 && c < 0x7f) {
            line[len++] = (char)c;
        } else if (len + 4 <= sizeof line - 2) {
            line[len++] = '\\';
            line[len++] = 'x';
            line[len++] = hex[c >> 4];
            line[len++] = hex[c & 15];
        } else {
            break;
        }
    }
    line[len++] = '\n';
    /* one write() per line so lines of concurrent writers do not interleave */
    ssize_t w = write(STDERR_FILENO, line, len);
    (void)w;
}

char *log_escape(char *dst, size_t dstsize, const void *src, size_t len)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *s = src;
    size_t o = 0;
    if (dstsize == 0)
        return dst;
    /* keep room for "..." and the NUL */
    size_t limit = dstsize > 4 ? dstsize - 4 : 0;
    size_t i;
    for (i = 0; i < len; i++) {
        unsigned char c = s[i];
        size_t need = (c >= 0x20 && c < 0x7f && c != '\\') ? 1 : 4;
        if (o + need > limit)
            break;
        if (need == 1) {
            dst[o++] = (char)c;
        } else {
            dst[o++] = '\\';
            dst[o++] = 'x';
            dst[o++] = hex[c >> 4];
            dst[o++] = hex[c & 15];
        }
    }
    if (i < len && dstsize > 4) {
        memcpy(dst + o, "...", 3);
        o += 3;
    }
    dst[o < dstsize ? o : dstsize - 1] = '\0';
    return dst;
}

int log_ratelimit_allow(struct log_ratelimit *rl, int64_t now_s, uint64_t *suppressed)
{
    if (suppressed)
        *suppressed = 0;
    if (rl->window_start == 0 || now_s - rl->window_start >= (int64_t)rl->interval_s) {
        if (suppressed)
            *suppressed = rl->suppressed;
        rl->suppressed = 0;
        rl->window_start = now_s;
        rl->used = 0;
    }
    if (rl->used < rl->burst) {
        rl->used++;
        return 1;
    }
    rl->suppressed++;
    return 0;
}
