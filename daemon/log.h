/* SPDX-License-Identifier: ISC */
/* log: levelled messages to stderr, escaping of received bytes, and
 * rate-limited complaints about peers.
 *
 * Everything kexwatch prints about itself goes through here. Received bytes
 * are never a format string: pass them through log_escape() first.
 */
#ifndef KW_LOG_H
#define KW_LOG_H

#include <stddef.h>
#include <stdint.h>

enum log_level { LOG_LV_ERROR = 0, LOG_LV_WARNING, LOG_LV_NOTICE, LOG_LV_INFO, LOG_LV_DEBUG };

/* Sets the most verbose level printed (default LOG_LV_INFO). */
void log_set_level(enum log_level level);
enum log_level log_get_level(void);

/* Parses "error", "warning", "notice", "info", "debug". Returns the level or
 * -1 when the name is unknown. */
int log_level_from_name(const char *name);

/* Prints one line "kexwatchd[pid]: <level>: text" to stderr when level is
 * enabled. With journald (stderr is a journal stream) the line carries an
 * sd-daemon "<N>" prefix instead. Every byte of text outside printable
 * ASCII (control bytes such as ESC, LF, TAB; bytes of UTF-8) is written as
 * \xHH, so a line is always one line of plain ASCII whatever it quotes. */
void log_msg(enum log_level level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#define log_error(...) log_msg(LOG_LV_ERROR, __VA_ARGS__)
#define log_warning(...) log_msg(LOG_LV_WARNING, __VA_ARGS__)
#define log_notice(...) log_msg(LOG_LV_NOTICE, __VA_ARGS__)
#define log_info(...) log_msg(LOG_LV_INFO, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_LV_DEBUG, __VA_ARGS__)

/* Writes src[0..len) into dst (size dstsize, always NUL-terminated when
 * dstsize > 0) with every byte outside printable ASCII, and '\\', written as
 * \xHH, and truncated so the result fits; a truncated result ends in "...".
 * Returns dst. */
char *log_escape(char *dst, size_t dstsize, const void *src, size_t len);

/* Rate limiter for complaints about one kind of bad input: allows `burst`
 * messages, then one per `interval_s` seconds, and counts what it held back.
 * Zero-initialise with LOG_RATELIMIT_INIT. */
struct log_ratelimit {
    unsigned interval_s;
    unsigned burst;
    unsigned used;
    int64_t window_start;
    uint64_t suppressed;
};
#define LOG_RATELIMIT_INIT(interval, burst_) { (interval), (burst_), 0, 0, 0 }

/* Returns 1 when a message may be printed now, 0 when it must be held back
 * (and counted). When a new window opens and messages were held back, the
 * number is stored in *suppressed (if not NULL) and reset, so the caller can
 * mention it; otherwise *suppressed is set to 0. */
int log_ratelimit_allow(struct log_ratelimit *rl, int64_t now_s, uint64_t *suppressed);

#endif
