/* SPDX-License-Identifier: ISC */
/* Tests for daemon/frame.c: RFC 6587 framing and datagram splitting.
 *
 * The samples live in tests/data/frame/{stream,datagram}.tsv. Every stream
 * sample is fed whole, split in two at every byte boundary, one byte at a
 * time and in random pieces, and must give the same messages and counters
 * each time: the framer must not depend on how TCP happened to cut the reads.
 */
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "frame.h"
#include "testutil.h"

/* What a framer handed out, copied so it outlives the callback. */
struct result {
    size_t max;       /* the framer's max_message, checked on every message */
    size_t n, cap;
    char **msg;
    size_t *len;
    struct frame_counts counts;
    size_t stop_at;   /* callback returns 7 on this message (1-based), 0: never */
    const char *in_lo, *in_hi; /* caller's buffer of the current feed */
    size_t zero_copy; /* messages handed out from inside [in_lo, in_hi) */
};

static void result_init(struct result *r, size_t max)
{
    memset(r, 0, sizeof *r);
    r->max = max;
}

static void result_free(struct result *r)
{
    for (size_t i = 0; i < r->n; i++)
        free(r->msg[i]);
    free(r->msg);
    free(r->len);
    memset(r, 0, sizeof *r);
}

/* Checks the promises of frame.h on every message, then keeps a copy. */
static int collect(void *arg, const char *msg, size_t len)
{
    struct result *r = arg;
    assert_non_null(msg);
    assert_true(len > 0);
    assert_true(len <= r->max);
    assert_null(memchr(msg, '\0', len));
    assert_null(memchr(msg, '\r', len));
    if (r->in_lo && msg >= r->in_lo && msg + len <= r->in_hi)
        r->zero_copy++;
    if (r->n == r->cap) {
        r->cap = r->cap ? r->cap * 2 : 16;
        r->msg = realloc(r->msg, r->cap * sizeof *r->msg);
        r->len = realloc(r->len, r->cap * sizeof *r->len);
        assert_non_null(r->msg);
        assert_non_null(r->len);
    }
    r->msg[r->n] = malloc(len);
    assert_non_null(r->msg[r->n]);
    memcpy(r->msg[r->n], msg, len);
    r->len[r->n] = len;
    r->n++;
    return r->stop_at != 0 && r->n == r->stop_at ? 7 : 0;
}

static int feed(struct framer *f, struct result *r, const char *p, size_t n)
{
    r->in_lo = p;
    r->in_hi = p + n;
    int rc = framer_feed(f, p, n, collect, r);
    r->in_lo = r->in_hi = NULL;
    return rc;
}

static void finish(struct framer *f, struct result *r)
{
    assert_int_equal(framer_finish(f, collect, r), 0);
    r->counts = *framer_counts(f);
}

static bool same_result(const struct result *a, const struct result *b)
{
    if (a->n != b->n || memcmp(&a->counts, &b->counts, sizeof a->counts) != 0)
        return false;
    for (size_t i = 0; i < a->n; i++)
        if (a->len[i] != b->len[i] || memcmp(a->msg[i], b->msg[i], a->len[i]) != 0)
            return false;
    return true;
}

/* Feeds input in pieces whose ends are cuts[0..ncuts) (ascending), then
 * finishes. */
static void run_cuts(const char *in, size_t n, size_t max, const size_t *cuts, size_t ncuts,
                     struct result *r)
{
    struct framer *f = framer_new(max);
    assert_non_null(f);
    result_init(r, max);
    size_t pos = 0;
    for (size_t i = 0; i <= ncuts; i++) {
        size_t end = i < ncuts ? cuts[i] : n;
        assert_int_equal(feed(f, r, in + pos, end - pos), 0);
        pos = end;
    }
    finish(f, r);
    framer_free(f);
}

static void run_whole(const char *in, size_t n, size_t max, struct result *r)
{
    run_cuts(in, n, max, NULL, 0, r);
}

static void run_bytewise(const char *in, size_t n, size_t max, struct result *r)
{
    struct framer *f = framer_new(max);
    assert_non_null(f);
    result_init(r, max);
    for (size_t i = 0; i < n; i++) {
        /* a private copy, so a message handed out from the feed buffer is
         * caught by ASan if it outlived the call */
        char *one = malloc(1);
        assert_non_null(one);
        *one = in[i];
        assert_int_equal(feed(f, r, one, 1), 0);
        free(one);
    }
    finish(f, r);
    framer_free(f);
}

/* Feeding whole must equal feeding split at every k in [0, n] (every
 * stride-th k for long inputs), one byte at a time, and in random pieces. */
static void check_split_invariance(const char *name, const char *in, size_t n, size_t max,
                                   const struct result *whole, size_t stride)
{
    struct result r;
    for (size_t k = 0; k <= n; k += stride) {
        run_cuts(in, n, max, &k, 1, &r);
        if (!same_result(whole, &r))
            fail_msg("%s: feeding [0,%zu) then [%zu,%zu) differs from feeding whole", name, k, k,
                     n);
        result_free(&r);
    }
    run_bytewise(in, n, max, &r);
    if (!same_result(whole, &r))
        fail_msg("%s: feeding one byte at a time differs from feeding whole", name);
    result_free(&r);

    /* random cuts, reproducible */
    unsigned seed = 12345;
    for (int round = 0; round < 20 && n > 2; round++) {
        size_t cuts[16], ncuts = 0, at = 0;
        while (ncuts < 16) {
            seed = seed * 1103515245u + 12345u;
            at += 1 + (seed >> 8) % (n / 4 + 1);
            if (at >= n)
                break;
            cuts[ncuts++] = at;
        }
        run_cuts(in, n, max, cuts, ncuts, &r);
        if (!same_result(whole, &r))
            fail_msg("%s: feeding in %zu random pieces (round %d) differs", name, ncuts + 1, round);
        result_free(&r);
    }
}

/* One parsed sample line of a .tsv file. */
struct sample {
    const char *name;
    size_t max;
    char *input;
    size_t input_len;
    struct frame_counts counts;
    size_t nmsg;
    char *msg[32];
    size_t msg_len[32];
};

/* Parses a sample line; returns false for comments and blank lines. */
static bool parse_sample(char *line, struct sample *s)
{
    if (line[0] == '\0' || line[0] == '#')
        return false;
    char *fields[4 + 32];
    size_t nf = tu_fields(line, fields, sizeof fields / sizeof fields[0]);
    if (nf < 4)
        fail_msg("sample line '%s' has %zu fields, wants at least 4", fields[0], nf);
    memset(s, 0, sizeof *s);
    s->name = fields[0];
    s->max = strtoul(fields[1], NULL, 10);
    s->input = fields[2];
    s->input_len = tu_unescape(fields[2]);
    unsigned long long m, fe, o, e;
    if (sscanf(fields[3], "%llu %llu %llu %llu", &m, &fe, &o, &e) != 4)
        fail_msg("%s: bad counts field '%s'", s->name, fields[3]);
    s->counts.messages = m;
    s->counts.framing_errors = fe;
    s->counts.oversize = o;
    s->counts.empty = e;
    s->nmsg = nf - 4;
    for (size_t i = 0; i < s->nmsg; i++) {
        s->msg[i] = fields[4 + i];
        s->msg_len[i] = tu_unescape(fields[4 + i]);
    }
    if (s->nmsg != s->counts.messages)
        fail_msg("%s: %zu messages listed but counts say %llu", s->name, s->nmsg, m);
    return true;
}

static void print_counts(const char *what, const struct frame_counts *c)
{
    print_error("  %s: messages %llu framing_errors %llu oversize %llu empty %llu\n", what,
                (unsigned long long)c->messages, (unsigned long long)c->framing_errors,
                (unsigned long long)c->oversize, (unsigned long long)c->empty);
}

static void expect_sample(const struct sample *s, const struct result *r)
{
    bool ok = r->n == s->nmsg && memcmp(&r->counts, &s->counts, sizeof s->counts) == 0;
    for (size_t i = 0; ok && i < s->nmsg; i++)
        ok = r->len[i] == s->msg_len[i] && memcmp(r->msg[i], s->msg[i], s->msg_len[i]) == 0;
    if (ok)
        return;
    print_counts("expected", &s->counts);
    print_counts("got     ", &r->counts);
    for (size_t i = 0; i < r->n; i++)
        print_error("  got message %zu: '%.*s' (%zu bytes)\n", i, (int)r->len[i], r->msg[i],
                    r->len[i]);
    fail_msg("sample %s: wrong result", s->name);
}

static void test_stream_samples(void **state)
{
    (void)state;
    size_t nlines, tested = 0;
    char *data = tu_read_data("frame/stream.tsv", NULL);
    char **lines = tu_lines(data, &nlines);
    for (size_t i = 0; i < nlines; i++) {
        struct sample s;
        if (!parse_sample(lines[i], &s))
            continue;
        struct result whole;
        run_whole(s.input, s.input_len, s.max, &whole);
        expect_sample(&s, &whole);
        check_split_invariance(s.name, s.input, s.input_len, s.max, &whole, 1);
        result_free(&whole);
        tested++;
    }
    assert_true(tested >= 40);
    free(lines);
    free(data);
}

static void test_datagram_samples(void **state)
{
    (void)state;
    size_t nlines, tested = 0;
    char *data = tu_read_data("frame/datagram.tsv", NULL);
    char **lines = tu_lines(data, &nlines);
    for (size_t i = 0; i < nlines; i++) {
        struct sample s;
        if (!parse_sample(lines[i], &s))
            continue;
        struct result r;
        result_init(&r, s.max);
        /* a private buffer of the exact size, so ASan sees any overrun */
        char *dgram = malloc(s.input_len ? s.input_len : 1);
        assert_non_null(dgram);
        memcpy(dgram, s.input, s.input_len);
        assert_int_equal(
            frame_split_datagram(dgram, s.input_len, s.max, &r.counts, collect, &r), 0);
        expect_sample(&s, &r);
        /* counts may be NULL */
        memcpy(dgram, s.input, s.input_len);
        struct result r2;
        result_init(&r2, s.max);
        assert_int_equal(frame_split_datagram(dgram, s.input_len, s.max, NULL, collect, &r2), 0);
        r2.counts = r.counts;
        assert_true(same_result(&r, &r2));
        result_free(&r2);
        result_free(&r);
        free(dgram);
        tested++;
    }
    assert_true(tested >= 15);
    free(lines);
    free(data);
}

/* Builds "<fill x len>\n" + tail. */
static char *long_line(size_t len, char fill, const char *tail, size_t *n)
{
    size_t tl = strlen(tail);
    char *s = malloc(len + 1 + tl);
    assert_non_null(s);
    memset(s, fill, len);
    s[len] = '\n';
    memcpy(s + len + 1, tail, tl);
    *n = len + 1 + tl;
    return s;
}

static void expect_msg(const struct result *r, size_t i, size_t len, char fill)
{
    assert_true(i < r->n);
    assert_int_equal(r->len[i], len);
    for (size_t j = 0; j < len; j++)
        if (r->msg[i][j] != fill)
            fail_msg("message %zu byte %zu is 0x%02x", i, j, (unsigned char)r->msg[i][j]);
}

static void expect_counts(const struct result *r, uint64_t m, uint64_t fe, uint64_t o, uint64_t e)
{
    assert_int_equal(r->counts.messages, m);
    assert_int_equal(r->counts.framing_errors, fe);
    assert_int_equal(r->counts.oversize, o);
    assert_int_equal(r->counts.empty, e);
}

/* A 64 KiB line fits max_message 65536 exactly; a smaller max truncates it
 * and the next line still comes out whole. */
static void test_long_lines(void **state)
{
    (void)state;
    size_t n;
    struct result r;
    char *in = long_line(65536, 'a', "<13>next\n", &n);

    run_whole(in, n, 65536, &r);
    expect_counts(&r, 2, 0, 0, 0);
    expect_msg(&r, 0, 65536, 'a');
    assert_int_equal(r.len[1], 8);
    assert_memory_equal(r.msg[1], "<13>next", 8);
    check_split_invariance("64k_line_max_65536", in, n, 65536, &r, 4099);
    result_free(&r);

    run_whole(in, n, 1000, &r);
    expect_counts(&r, 2, 0, 1, 0);
    expect_msg(&r, 0, 1000, 'a');
    assert_memory_equal(r.msg[1], "<13>next", 8);
    check_split_invariance("64k_line_max_1000", in, n, 1000, &r, 997);
    result_free(&r);

    /* one byte over the limit is oversize */
    run_whole(in, n, 65535, &r);
    expect_counts(&r, 2, 0, 1, 0);
    expect_msg(&r, 0, 65535, 'a');
    result_free(&r);
    free(in);
}

/* An octet-counted frame longer than max_message: truncated, the rest of its
 * bytes (LFs and digits included) skipped, the next frame intact. */
static void test_octet_oversize_large(void **state)
{
    (void)state;
    const size_t body = 70000;
    char *in = malloc(body + 64);
    assert_non_null(in);
    size_t n = (size_t)sprintf(in, "%zu ", body);
    for (size_t i = 0; i < body; i++)
        in[n + i] = (i % 100 == 99) ? '\n' : (i % 7 == 0 ? '5' : 'b');
    n += body;
    n += (size_t)sprintf(in + n, "8 <13>next");

    struct result r;
    run_whole(in, n, 1024, &r);
    expect_counts(&r, 2, 0, 1, 0);
    assert_int_equal(r.len[0], 1024);
    assert_memory_equal(r.msg[0], in + strlen("70000 "), 99);
    assert_int_equal(r.len[1], 8);
    assert_memory_equal(r.msg[1], "<13>next", 8);
    check_split_invariance("octet_70000_max_1024", in, n, 1024, &r, 1009);
    result_free(&r);
    free(in);
}

/* A legal-looking octet count far above max_message ("999999999 ") is not
 * believed: a framing error, the frame read up to its LF, and the stream is
 * back in sync for the next frame instead of swallowing the connection. A
 * count up to 1 MiB is still believed and skipped. */
static void test_octet_count_absurd(void **state)
{
    (void)state;
    static const char in[] = "999999999 <13>Nov 25 10:00:00 h app: x\n8 <13>next<13>last\n";
    struct result r;
    run_whole(in, sizeof in - 1, 2048, &r);
    expect_counts(&r, 3, 1, 0, 0);
    assert_int_equal(r.len[0], strlen("999999999 <13>Nov 25 10:00:00 h app: x"));
    assert_memory_equal(r.msg[0], "999999999 <13>", 14);
    assert_int_equal(r.len[1], 8);
    assert_memory_equal(r.msg[1], "<13>next", 8);
    assert_memory_equal(r.msg[2], "<13>last", 8);
    check_split_invariance("octet_999999999_max_2048", in, sizeof in - 1, 2048, &r, 1);
    result_free(&r);

    /* at the limit of belief: a 1 MiB count is believed, so what follows
     * is its body (cut short here by the end of the stream) */
    static const char big[] = "1048576 <13>x\n8 <13>next";
    run_whole(big, sizeof big - 1, 2048, &r);
    expect_counts(&r, 1, 1, 0, 0);
    assert_memory_equal(r.msg[0], "<13>x\n8 <13>next", 16);
    result_free(&r);
}

/* 10 MB with no LF through max_message 1024: one truncated message at the
 * end, whatever the read size; ASan/valgrind check the buffer stays bounded
 * in the sense that nothing overruns, and the run must stay fast. */
static void test_bounded_memory(void **state)
{
    (void)state;
    const size_t total = 10u * 1024 * 1024;
    const size_t chunk = 65536;
    char *block = malloc(chunk);
    assert_non_null(block);
    memset(block, 'x', chunk);
    static const size_t reads[] = {chunk, 1, 4093, 1500};

    for (size_t v = 0; v < sizeof reads / sizeof reads[0]; v++) {
        struct framer *f = framer_new(1024);
        assert_non_null(f);
        struct result r;
        result_init(&r, 1024);
        for (size_t done = 0; done < total;) {
            size_t len = reads[v];
            /* one byte at a time only for the first 64 KiB: enough to
             * exercise the path without making the test slow */
            if (len == 1 && done >= chunk)
                len = chunk;
            if (len > total - done)
                len = total - done;
            assert_int_equal(feed(f, &r, block, len), 0);
            done += len;
        }
        assert_int_equal(r.n, 0);
        assert_int_equal(feed(f, &r, "\n<13>after\n", 11), 0);
        finish(f, &r);
        expect_counts(&r, 2, 0, 1, 0);
        expect_msg(&r, 0, 1024, 'x');
        assert_memory_equal(r.msg[1], "<13>after", 9);
        result_free(&r);
        framer_free(f);
    }

    /* the same through framer_finish, and after a 9-digit octet count */
    static const char *const heads[] = {"", "999999999 "};
    for (size_t h = 0; h < 2; h++) {
        struct framer *f = framer_new(1024);
        assert_non_null(f);
        struct result r;
        result_init(&r, 1024);
        assert_int_equal(feed(f, &r, heads[h], strlen(heads[h])), 0);
        for (size_t done = 0; done < total; done += chunk)
            assert_int_equal(feed(f, &r, block, chunk), 0);
        finish(f, &r);
        expect_counts(&r, 1, h, 1, 0);
        if (h == 0) {
            expect_msg(&r, 0, 1024, 'x');
        } else {
            /* a count that large is not believed: the frame is read as a
             * line, the digits with it */
            assert_int_equal(r.len[0], 1024);
            assert_memory_equal(r.msg[0], "999999999 xxx", 13);
        }
        result_free(&r);
        framer_free(f);
    }
    free(block);
}

/* The hot path: a whole, clean message inside the fed buffer is handed out
 * from that buffer, without a copy; a split or stripped one is copied. */
static void test_zero_copy(void **state)
{
    (void)state;
    struct framer *f = framer_new(2048);
    assert_non_null(f);
    struct result r;
    result_init(&r, 2048);
    static const char clean[] = "<13>a\n5 hello<14>b\r\n<15>c\0\n";
    assert_int_equal(feed(f, &r, clean, sizeof clean - 1), 0);
    assert_int_equal(r.n, 4);
    assert_int_equal(r.zero_copy, 4);

    static const char dirty[] = "a\rb\n4 c\0de<13>split";
    assert_int_equal(feed(f, &r, dirty, sizeof dirty - 1), 0);
    assert_int_equal(r.n, 6);
    assert_int_equal(r.zero_copy, 4);
    assert_int_equal(feed(f, &r, " here\n", 7), 0);
    assert_int_equal(r.n, 7);
    assert_int_equal(r.zero_copy, 4);
    assert_memory_equal(r.msg[6], "<13>split here", 14);
    result_free(&r);
    framer_free(f);
}

/* A non-zero callback return stops handing out messages for that call; the
 * rest of the bytes are consumed and the framer stays in sync. */
static void test_callback_stop(void **state)
{
    (void)state;
    struct framer *f = framer_new(2048);
    assert_non_null(f);
    struct result r;
    result_init(&r, 2048);
    r.stop_at = 2;
    static const char in[] = "a\nb\nc\n3 xyzpart";
    assert_int_equal(feed(f, &r, in, sizeof in - 1), 7);
    assert_int_equal(r.n, 2);
    assert_memory_equal(r.msg[1], "b", 1);
    assert_int_equal(framer_counts(f)->messages, 2);
    r.stop_at = 0;
    assert_int_equal(feed(f, &r, "ial\n", 4), 0);
    assert_int_equal(r.n, 3);
    assert_int_equal(r.len[2], 7);
    assert_memory_equal(r.msg[2], "partial", 7);
    result_free(&r);

    /* the same from framer_finish */
    result_init(&r, 2048);
    r.stop_at = 1;
    assert_int_equal(feed(f, &r, "last", 4), 0);
    assert_int_equal(framer_finish(f, collect, &r), 7);
    assert_int_equal(r.n, 1);
    result_free(&r);
    framer_free(f);

    /* a datagram stops at once */
    char dgram[] = "a\nb\nc";
    result_init(&r, 2048);
    r.stop_at = 2;
    struct frame_counts c = {0};
    assert_int_equal(frame_split_datagram(dgram, 5, 2048, &c, collect, &r), 7);
    assert_int_equal(r.n, 2);
    assert_int_equal(c.messages, 2);
    result_free(&r);
}

/* After framer_finish the framer starts over, and counts accumulate. */
static void test_finish_and_reuse(void **state)
{
    (void)state;
    struct framer *f = framer_new(64);
    assert_non_null(f);
    struct result r;
    result_init(&r, 64);
    assert_int_equal(feed(f, &r, "12", 2), 0);
    finish(f, &r);
    assert_int_equal(r.n, 1);
    assert_int_equal(feed(f, &r, "3 abc", 5), 0);
    finish(f, &r);
    assert_int_equal(r.n, 2);
    assert_memory_equal(r.msg[1], "abc", 3);
    expect_counts(&r, 2, 1, 0, 0);
    /* finishing twice hands out nothing more */
    finish(f, &r);
    assert_int_equal(r.n, 2);
    /* feeding nothing changes nothing */
    assert_int_equal(feed(f, &r, "", 0), 0);
    finish(f, &r);
    expect_counts(&r, 2, 1, 0, 0);
    result_free(&r);
    framer_free(f);
}

static void test_new_free(void **state)
{
    (void)state;
    assert_null(framer_new(0));
    framer_free(NULL);
    struct framer *f = framer_new(1);
    assert_non_null(f);
    const struct frame_counts *c = framer_counts(f);
    assert_int_equal(c->messages + c->framing_errors + c->oversize + c->empty, 0);
    framer_free(f);

    /* max_message 0 breaks the precondition; it must still never hand out
     * an empty message */
    char dgram[] = "ab";
    struct result r;
    result_init(&r, 1);
    assert_int_equal(frame_split_datagram(dgram, 2, 0, &r.counts, collect, &r), 0);
    assert_int_equal(r.n, 1);
    assert_int_equal(r.len[0], 1);
    result_free(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_stream_samples),
        cmocka_unit_test(test_datagram_samples),
        cmocka_unit_test(test_long_lines),
        cmocka_unit_test(test_octet_oversize_large),
        cmocka_unit_test(test_octet_count_absurd),
        cmocka_unit_test(test_bounded_memory),
        cmocka_unit_test(test_zero_copy),
        cmocka_unit_test(test_callback_stop),
        cmocka_unit_test(test_finish_and_reuse),
        cmocka_unit_test(test_new_free),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
