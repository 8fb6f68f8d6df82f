/* SPDX-License-Identifier: ISC */
/* libFuzzer harness for the untrusted-bytes front of the pipeline: frame.c
 * (TCP framing and datagram splitting) and syslog.c (header parsing).
 *
 * Input layout: byte 0 picks max_message, byte 1 seeds how the stream is cut
 * into reads, the rest is the stream. The stream is framed twice, whole and
 * cut into pieces, and both runs must hand out the same messages and counts;
 * it is also split as one datagram. Every message is checked against the
 * promises of frame.h, then parsed by syslog_parse() from an exact-size copy
 * so that ASan sees any read past its end, and the record is checked against
 * syslog.h.
 *
 * Build: clang -g -O1 -fsanitize=fuzzer,address,undefined -I daemon \
 *        tests/fuzz/fuzz_frame.c daemon/frame.c daemon/syslog.c -o fuzz_frame
 * Seeds: tests/fuzz/corpus/frame/
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "frame.h"
#include "syslog.h"

#define FUZZ_NAME "fuzz_frame"
#include "fuzzcheck.h"

/* Small limits find truncation edges; real ones find the rest. */
static const size_t max_choices[] = {1, 2, 3, 4, 5, 8, 11, 16, 64, 480, 1024, 2048, 8192, 65536};

/* 2024-11-25 09:00:00 UTC: year inference needs some "now". */
#define FUZZ_NOW INT64_C(1732525200)

/* What one framing run saw, reduced to a digest so two runs can be compared
 * without keeping the messages. */
struct run {
    size_t max;
    uint64_t calls;
    uint64_t bytes;
    uint64_t hash;
    uint64_t stop_every; /* return non-zero on every n-th message; 0: never */
};

static void check_slice(const char *msg, size_t len, struct sl_str s)
{
    if (s.p == NULL) {
        CHECK(s.len == 0);
        return;
    }
    CHECK(s.p >= msg);
    CHECK(s.len <= len);
    CHECK((size_t)(s.p - msg) <= len - s.len);
}

static void parse_and_check(const char *msg, size_t len)
{
    struct syslog_record rec;
    memset(&rec, 0xa5, sizeof rec); /* syslog_parse must fill it completely */
    syslog_parse(msg, len, FUZZ_NOW, &rec);

    CHECK((int)rec.format >= (int)SL_FMT_NONE && (int)rec.format <= (int)SL_FMT_CISCO);
    CHECK(syslog_format_name(rec.format) != NULL);
    CHECK(rec.pri >= -1 && rec.pri <= 191);
    if (rec.pri >= 0) {
        CHECK(rec.facility == rec.pri / 8);
        CHECK(rec.severity == rec.pri % 8);
    } else {
        CHECK(rec.facility == -1);
    }
    if (rec.ts_flags & SL_TS_PRESENT)
        CHECK(rec.ts_usec >= 0 && rec.ts_usec < 1000000);

    const struct sl_str slices[] = {rec.host,        rec.app,   rec.procid, rec.msgid,
                                    rec.sd,          rec.brief, rec.flag,   rec.cid,
                                    rec.hw_severity, rec.seq,   rec.text};
    for (size_t i = 0; i < sizeof slices / sizeof slices[0]; i++)
        check_slice(msg, len, slices[i]);
}

static int on_message(void *arg, const char *msg, size_t len)
{
    struct run *r = arg;
    CHECK(msg != NULL);
    CHECK(len > 0);
    CHECK(len <= r->max);
    CHECK(memchr(msg, '\0', len) == NULL);
    CHECK(memchr(msg, '\r', len) == NULL);

    r->calls++;
    r->bytes += len;
    /* FNV-1a over the message and its length, chained across messages */
    uint64_t h = r->hash ^ len;
    for (size_t i = 0; i < len; i++)
        h = (h ^ (unsigned char)msg[i]) * UINT64_C(1099511628211);
    r->hash = h * UINT64_C(1099511628211);

    /* the message lives only during this call; parse a copy of exactly its
     * size so a read past the end is caught */
    char *copy = malloc(len);
    CHECK(copy != NULL);
    memcpy(copy, msg, len);
    parse_and_check(copy, len);
    free(copy);
    return r->stop_every != 0 && r->calls % r->stop_every == 0 ? 42 : 0;
}

static void feed_piece(struct framer *f, const uint8_t *p, size_t n, struct run *r)
{
    /* each read in its own buffer, freed at once: a framer that kept a
     * pointer into the caller's buffer would be caught on the next call */
    char *piece = malloc(n ? n : 1);
    CHECK(piece != NULL);
    memcpy(piece, p, n);
    uint64_t before = r->calls;
    int rc = framer_feed(f, piece, n, on_message, r);
    free(piece);
    /* a stop is returned exactly when the callback asked for one */
    if (r->stop_every == 0)
        CHECK(rc == 0);
    else
        CHECK((rc == 42) == (r->calls / r->stop_every > before / r->stop_every));
}

static void check_counts(const struct frame_counts *c, const struct run *r)
{
    CHECK(c->messages == r->calls);
    /* messages dropped after a stop are framed, so still counted oversize */
    if (r->stop_every == 0)
        CHECK(c->oversize <= c->messages);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    size_t max = max_choices[data[0] % (sizeof max_choices / sizeof max_choices[0])];
    uint32_t seed = data[1];
    const uint8_t *in = data + 2;
    size_t n = size - 2;

    /* whole */
    struct run whole = {.max = max};
    struct framer *f = framer_new(max);
    if (!f)
        return 0;
    feed_piece(f, in, n, &whole);
    CHECK(framer_finish(f, on_message, &whole) == 0);
    struct frame_counts whole_counts = *framer_counts(f);
    check_counts(&whole_counts, &whole);
    CHECK(whole.bytes <= n);
    framer_free(f);

    /* in pieces (seed 0: one byte at a time); the second time the callback
     * keeps asking to stop, which drops messages but must not change the
     * framing */
    for (int stopping = 0; stopping < 2; stopping++) {
        struct run cut = {.max = max, .stop_every = stopping ? 1 + data[1] % 3 : 0};
        uint32_t s = seed;
        f = framer_new(max);
        if (!f)
            return 0;
        for (size_t pos = 0; pos < n;) {
            size_t len = 1;
            if (s != 0) {
                s = s * 1664525u + 1013904223u;
                /* mostly short reads, sometimes empty or long ones */
                len = (s >> 24) % 4 == 0 ? (s >> 8) % 4096 : (s >> 8) % 16;
            }
            if (len > n - pos)
                len = n - pos;
            feed_piece(f, in + pos, len, &cut);
            pos += len;
        }
        int rc = framer_finish(f, on_message, &cut);
        CHECK(rc == 0 || (stopping && rc == 42));
        const struct frame_counts *cut_counts = framer_counts(f);
        check_counts(cut_counts, &cut);
        if (stopping) {
            CHECK(cut_counts->messages <= whole_counts.messages);
            CHECK(cut_counts->framing_errors == whole_counts.framing_errors);
            CHECK(cut_counts->oversize == whole_counts.oversize);
            CHECK(cut_counts->empty == whole_counts.empty);
        } else {
            CHECK(memcmp(cut_counts, &whole_counts, sizeof whole_counts) == 0);
            CHECK(cut.calls == whole.calls && cut.bytes == whole.bytes &&
                  cut.hash == whole.hash);
        }
        framer_free(f);
    }

    /* the same bytes as one datagram */
    struct run dg = {.max = max};
    struct frame_counts dg_counts = {0};
    char *dgram = malloc(n ? n : 1);
    CHECK(dgram != NULL);
    memcpy(dgram, in, n);
    CHECK(frame_split_datagram(dgram, n, max, &dg_counts, on_message, &dg) == 0);
    free(dgram);
    check_counts(&dg_counts, &dg);
    CHECK(dg_counts.framing_errors == 0);
    CHECK(dg_counts.messages + dg_counts.empty >= 1);
    CHECK(dg.bytes <= n);
    return 0;
}
