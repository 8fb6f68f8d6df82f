/* SPDX-License-Identifier: ISC */
/* frame: RFC 6587 TCP framing and UDP datagram splitting (see frame.h).
 *
 * The hot path never copies: when a whole frame lies inside the caller's
 * buffer and holds no NUL or CR (a trailing "\r" or "\0" is trimmed for free),
 * the message is handed out straight from that buffer. Only a frame cut by
 * the end of a read, or one that must be stripped, goes through the internal
 * buffer, which never holds more than max_message bytes: the rest of an
 * oversized frame is looked at only to find where the frame ends.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "frame.h"

/* An octet count is at most 9 digits and one space. */
#define HDR_MAX 10
/* The largest octet count believed: max_message twice, at least 1 MiB. A
 * larger one (say "999999999 ") would make the framer skip the rest of the
 * connection; it is a framing error and the frame is read up to its LF. */
#define OCTET_TRUST_MIN (1u << 20)
/* First allocation of the message buffer; it doubles up to max_message, so
 * a connection that only sends short lines stays small. */
#define BUF_INITIAL 256

enum fr_state {
    FR_START,  /* between frames, nothing buffered */
    FR_HEADER, /* a frame began with digits; not yet known if they are a count */
    FR_LF,     /* inside an LF-framed frame */
    FR_OCTET,  /* inside an octet-counted frame */
};

struct framer {
    size_t max;       /* max_message */
    enum fr_state state;
    char hdr[HDR_MAX]; /* FR_HEADER: the digits (and space) seen so far */
    size_t hdr_len;
    size_t remaining; /* FR_OCTET: frame bytes still to come */
    bool truncated;   /* the current frame went past max (counted once) */
    char *buf;        /* the current frame's message bytes, stripped */
    size_t used;
    size_t cap;
    int rc;           /* first non-zero callback return in this call */
    struct frame_counts counts;
};

enum hdr_result { HDR_MORE, HDR_INVALID, HDR_VALID };

/* Reads the octet count at the start of p[0..n) (p[0] is a digit). Decides as
 * soon as the bytes allow, so the answer never depends on where reads split. */
static enum hdr_result read_count(const char *p, size_t n, size_t *hlen, size_t *count)
{
    size_t i = 0, v = 0;
    while (i < n && i < HDR_MAX && p[i] >= '0' && p[i] <= '9') {
        v = v * 10 + (size_t)(p[i] - '0');
        i++;
    }
    if (i == HDR_MAX)
        return HDR_INVALID; /* more than 9 digits */
    if (i == n)
        return HDR_MORE;
    if (p[i] != ' ' || v == 0)
        return HDR_INVALID;
    /* "exactly one space": the first message byte must be seen to tell */
    if (i + 1 == n)
        return HDR_MORE;
    if (p[i + 1] == ' ')
        return HDR_INVALID;
    *hlen = i + 1;
    *count = v;
    return HDR_VALID;
}

static bool count_believed(const struct framer *f, size_t count)
{
    return count <= OCTET_TRUST_MIN || count / 2 <= f->max;
}

static bool is_strip(char c)
{
    return c == '\0' || c == '\r';
}

static bool has_strip(const char *p, size_t n)
{
    return memchr(p, '\r', n) != NULL || memchr(p, '\0', n) != NULL;
}

/* True when p[0..n) holds a byte that stripping keeps. */
static bool has_kept(const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!is_strip(p[i]))
            return true;
    return false;
}

/* Copies p[0..n) without NUL/CR into dst, at most room bytes. Returns the
 * bytes written; *more is set when a kept byte did not fit. */
static size_t strip_copy(char *dst, size_t room, const char *p, size_t n, bool *more)
{
    if (!has_strip(p, n)) {
        size_t w = n < room ? n : room;
        if (w > 0)
            memcpy(dst, p, w);
        *more = n > room;
        return w;
    }
    size_t w = 0, i = 0;
    for (; i < n && w < room; i++)
        if (!is_strip(p[i]))
            dst[w++] = p[i];
    *more = has_kept(p + i, n - i);
    return w;
}

/* Adds bytes of the current frame to the message buffer, growing it as
 * needed but never past max; what does not fit only marks the frame. */
static void append(struct framer *f, const char *p, size_t n)
{
    if (f->truncated || n == 0)
        return;
    size_t want = n < f->max - f->used ? f->used + n : f->max;
    if (want > f->cap) {
        size_t cap = f->cap ? f->cap : BUF_INITIAL;
        while (cap < want)
            cap *= 2;
        if (cap > f->max)
            cap = f->max;
        char *nb = realloc(f->buf, cap);
        if (nb) {
            f->buf = nb;
            f->cap = cap;
        }
    }
    /* out of memory leaves no room: the frame is cut at what fits, like an
     * oversized one, rather than stopping the connection */
    bool more;
    if (f->cap > f->used)
        f->used += strip_copy(f->buf + f->used, f->cap - f->used, p, n, &more);
    else
        more = has_kept(p, n);
    if (more) {
        /* counted once: later bytes of this frame are not even looked at */
        f->truncated = true;
        f->counts.oversize++;
    }
}

/* Hands one stripped, truncated message to cb, or counts it as empty. After a
 * callback has asked to stop, messages are still framed (to stay in sync) but
 * dropped, since the caller's buffer cannot be kept for later. */
static void deliver(struct framer *f, const char *p, size_t n, frame_cb cb, void *arg)
{
    if (n == 0) {
        f->counts.empty++;
        return;
    }
    if (f->rc != 0)
        return;
    f->counts.messages++;
    f->rc = cb(arg, p, n);
}

static void deliver_buffered(struct framer *f, frame_cb cb, void *arg)
{
    deliver(f, f->buf, f->used, cb, arg);
    f->used = 0;
    f->truncated = false;
    f->state = FR_START;
}

/* A whole frame inside the caller's buffer: handed out in place unless it
 * needs stripping beyond a trailing CR/NUL. */
static void emit_slice(struct framer *f, const char *p, size_t n, frame_cb cb, void *arg)
{
    while (n > 0 && is_strip(p[n - 1]))
        n--;
    if (has_strip(p, n)) {
        append(f, p, n);
        deliver_buffered(f, cb, arg);
        return;
    }
    if (n > f->max) {
        n = f->max;
        f->counts.oversize++;
    }
    deliver(f, p, n, cb, arg);
    f->state = FR_START;
}

/* Starts an LF-framed frame at p; returns the bytes consumed. */
static size_t lf_frame(struct framer *f, const char *p, size_t n, frame_cb cb, void *arg)
{
    const char *lf = memchr(p, '\n', n);
    if (lf) {
        emit_slice(f, p, (size_t)(lf - p), cb, arg);
        return (size_t)(lf - p) + 1;
    }
    append(f, p, n);
    f->state = FR_LF;
    return n;
}

/* Starts the body of an octet-counted frame at p; returns the bytes consumed. */
static size_t octet_frame(struct framer *f, const char *p, size_t n, size_t count, frame_cb cb,
                          void *arg)
{
    if (count <= n) {
        emit_slice(f, p, count, cb, arg);
        return count;
    }
    append(f, p, n);
    f->remaining = count - n;
    f->state = FR_OCTET;
    return n;
}

/* Continues a frame that began with digits split across reads; returns the
 * bytes of p consumed. */
static size_t header_more(struct framer *f, const char *p, size_t n, frame_cb cb, void *arg)
{
    /* enough for a full header and the byte after it, whatever is buffered */
    char tmp[2 * HDR_MAX + 2];
    size_t take = n < HDR_MAX + 1 ? n : HDR_MAX + 1;
    memcpy(tmp, f->hdr, f->hdr_len);
    memcpy(tmp + f->hdr_len, p, take);
    size_t hlen = 0, count = 0;
    enum hdr_result hr = read_count(tmp, f->hdr_len + take, &hlen, &count);
    if (hr == HDR_VALID && !count_believed(f, count))
        hr = HDR_INVALID;
    switch (hr) {
    case HDR_MORE:
        /* only when everything is digits or digits and a space: fits in hdr */
        memcpy(f->hdr + f->hdr_len, p, n);
        f->hdr_len += n;
        return n;
    case HDR_INVALID:
        f->counts.framing_errors++;
        f->state = FR_LF;
        append(f, f->hdr, f->hdr_len);
        f->hdr_len = 0;
        return 0;
    case HDR_VALID:
    default: {
        size_t skip = hlen - f->hdr_len;
        f->hdr_len = 0;
        return skip + octet_frame(f, p + skip, n - skip, count, cb, arg);
    }
    }
}

/* At a frame boundary: picks the framing method from the first byte. */
static size_t frame_start(struct framer *f, const char *p, size_t n, frame_cb cb, void *arg)
{
    if (*p < '0' || *p > '9')
        return lf_frame(f, p, n, cb, arg);
    size_t hlen = 0, count = 0;
    enum hdr_result hr = read_count(p, n, &hlen, &count);
    if (hr == HDR_VALID && !count_believed(f, count))
        hr = HDR_INVALID;
    switch (hr) {
    case HDR_MORE:
        memcpy(f->hdr, p, n);
        f->hdr_len = n;
        f->state = FR_HEADER;
        return n;
    case HDR_INVALID:
        f->counts.framing_errors++;
        return lf_frame(f, p, n, cb, arg);
    case HDR_VALID:
    default:
        return hlen + octet_frame(f, p + hlen, n - hlen, count, cb, arg);
    }
}

struct framer *framer_new(size_t max_message)
{
    if (max_message == 0 || max_message > SIZE_MAX / 2)
        return NULL;
    struct framer *f = calloc(1, sizeof *f);
    if (!f)
        return NULL;
    f->max = max_message;
    f->state = FR_START;
    return f;
}

void framer_free(struct framer *f)
{
    if (!f)
        return;
    free(f->buf);
    free(f);
}

int framer_feed(struct framer *f, const char *buf, size_t len, frame_cb cb, void *arg)
{
    size_t pos = 0;
    f->rc = 0;
    while (pos < len) {
        const char *p = buf + pos;
        size_t n = len - pos;
        switch (f->state) {
        case FR_START:
            pos += frame_start(f, p, n, cb, arg);
            break;
        case FR_HEADER:
            pos += header_more(f, p, n, cb, arg);
            break;
        case FR_LF: {
            const char *lf = memchr(p, '\n', n);
            if (!lf) {
                append(f, p, n);
                pos = len;
                break;
            }
            append(f, p, (size_t)(lf - p));
            deliver_buffered(f, cb, arg);
            pos += (size_t)(lf - p) + 1;
            break;
        }
        case FR_OCTET: {
            size_t take = n < f->remaining ? n : f->remaining;
            append(f, p, take);
            f->remaining -= take;
            pos += take;
            if (f->remaining == 0)
                deliver_buffered(f, cb, arg);
            break;
        }
        }
    }
    return f->rc;
}

int framer_finish(struct framer *f, frame_cb cb, void *arg)
{
    f->rc = 0;
    switch (f->state) {
    case FR_START:
        break;
    case FR_HEADER:
        /* the count was never completed: the digits are an LF-framed line */
        f->counts.framing_errors++;
        append(f, f->hdr, f->hdr_len);
        f->hdr_len = 0;
        deliver_buffered(f, cb, arg);
        break;
    case FR_LF:
        deliver_buffered(f, cb, arg);
        break;
    case FR_OCTET:
        f->counts.framing_errors++;
        f->remaining = 0;
        deliver_buffered(f, cb, arg);
        break;
    }
    return f->rc;
}

const struct frame_counts *framer_counts(const struct framer *f)
{
    return &f->counts;
}

/* Strips NUL/CR from p[0..n) in place; returns the new length. */
static size_t strip_inplace(char *p, size_t n)
{
    size_t w = 0;
    for (size_t i = 0; i < n; i++)
        if (!is_strip(p[i]))
            p[w++] = p[i];
    return w;
}

int frame_split_datagram(char *buf, size_t len, size_t max_message, struct frame_counts *counts,
                         frame_cb cb, void *arg)
{
    struct frame_counts dummy = {0};
    if (!counts)
        counts = &dummy;
    /* max_message must be at least 1; never hand out an empty message */
    if (max_message == 0)
        max_message = 1;
    if (len == 0) {
        counts->empty++;
        return 0;
    }
    /* LF ends a line rather than separating two: nothing after the last LF
     * is another message */
    for (size_t pos = 0; pos < len;) {
        char *p = buf + pos;
        size_t n = len - pos;
        char *lf = memchr(p, '\n', n);
        if (lf) {
            n = (size_t)(lf - p);
            pos += n + 1;
        } else {
            pos = len;
        }
        while (n > 0 && is_strip(p[n - 1]))
            n--;
        if (has_strip(p, n))
            n = strip_inplace(p, n);
        if (n == 0) {
            counts->empty++;
            continue;
        }
        if (n > max_message) {
            n = max_message;
            counts->oversize++;
        }
        counts->messages++;
        int rc = cb(arg, p, n);
        if (rc != 0)
            return rc;
    }
    return 0;
}
