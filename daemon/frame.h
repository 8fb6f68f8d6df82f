/* SPDX-License-Identifier: ISC */
/* frame: cutting received bytes into syslog messages.
 *
 * TCP streams follow RFC 6587: each frame is either octet-counted
 * ("LEN SP MSG", recognised because the frame starts with a digit) or
 * non-transparent, ended by LF. The method is detected per frame, so a sender
 * may mix them. UDP datagrams (RFC 5426) carry one message, but devices put
 * several LF-separated lines in one datagram; each line is a message.
 *
 * In every message handed out, NUL and CR bytes are removed, and a message
 * longer than max_message is truncated to max_message bytes (the rest of the
 * frame is skipped, so the stream stays in sync). Empty messages are never
 * handed out; they are counted.
 *
 * Pure code: no I/O, no libevent. Fuzzed by tests/fuzz/fuzz_frame.c.
 */
#ifndef KW_FRAME_H
#define KW_FRAME_H

#include <stddef.h>
#include <stdint.h>

/* Counts kept by a framer or the datagram splitter; the caller adds them to
 * the global stats. */
struct frame_counts {
    uint64_t messages;       /* messages handed out */
    uint64_t framing_errors; /* octet counts that were not valid (see below) */
    uint64_t oversize;       /* messages truncated to max_message */
    uint64_t empty;          /* empty frames dropped */
};

/* Called once per complete message. msg is valid only during the call and
 * holds len > 0 bytes (not NUL-terminated). Return 0 to go on; a non-zero
 * return stops the current frame_feed()/frame_split_datagram() call, which then
 * returns that value. */
typedef int (*frame_cb)(void *arg, const char *msg, size_t len);

struct framer;

/* Creates a framer for one TCP connection. max_message is at least 1.
 * Returns NULL when memory is short. The framer buffers at most
 * max_message + 32 bytes, whatever it is fed. */
struct framer *framer_new(size_t max_message);

/* Frees a framer; framer_free(NULL) is a no-op. */
void framer_free(struct framer *f);

/* Feeds len bytes of the stream. Complete messages are passed to cb in order;
 * an incomplete last frame stays buffered for the next call. Always consumes
 * all len bytes. Returns 0, or the first non-zero cb return value; after such
 * a return, the remaining complete frames of buf are still framed and counted
 * (so the stream stays in sync) but their messages are not handed out, and
 * only an unfinished last frame is kept. kexwatchd's callbacks return 0.
 *
 * An octet count is invalid when it has more than 9 digits, is 0, or is not
 * followed by exactly one space and then a non-space byte (leading zeros are
 * tolerated, though RFC 6587 forbids them), or when it is larger than
 * both 1 MiB and twice max_message (no honest sender means it, and
 * believing it would skip the rest of the connection); such a frame is
 * counted as a framing error and read as an LF-framed frame instead, so no
 * bytes are lost and the stream resynchronises at the next LF. */
int framer_feed(struct framer *f, const char *buf, size_t len, frame_cb cb, void *arg);

/* Hands out what is buffered at end of stream (a last line without LF) as a
 * message; an unfinished octet-counted frame is handed out truncated and
 * counted as a framing error. Returns as framer_feed(). */
int framer_finish(struct framer *f, frame_cb cb, void *arg);

/* Counts since framer_new(). */
const struct frame_counts *framer_counts(const struct framer *f);

/* Splits one datagram into messages at LF (a datagram without LF is one
 * message), with the same NUL/CR stripping, truncation and empty-message rules.
 * buf is modified in place (stripping). counts (may be NULL) are incremented.
 * Returns 0 or the first non-zero cb return value. */
int frame_split_datagram(char *buf, size_t len, size_t max_message, struct frame_counts *counts,
                         frame_cb cb, void *arg);

#endif
