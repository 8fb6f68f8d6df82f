/* SPDX-License-Identifier: ISC */
/* libFuzzer harness for daemon/pattern.c: the shipped patterns against
 * untrusted text.
 *
 * The pattern set is loaded once, from $KW_PATTERNS or else conf/patterns.d
 * relative to the working directory (CI runs the harness from the top of
 * the source tree). Input layout: byte 0 picks the record's app tag, the
 * rest is the text. The text is matched from a heap copy of exactly its
 * size, so ASan sees any read past its end; every span of a match must lie
 * inside the text, the pre-filter must pass every line that matched, and
 * the slot wording of a match is fed back to pattern_slot_from_text().
 *
 * Build: clang -g -O1 -fsanitize=fuzzer,address,undefined -D_GNU_SOURCE \
 *        -I daemon -I build tests/fuzz/fuzz_pattern.c daemon/pattern.c \
 *        $(pkg-config --cflags --libs libpcre2-8) -o fuzz_pattern
 * Seeds: tests/fuzz/corpus/pattern/
 */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "negotiate.h"
#include "pattern.h"

#define FUZZ_NAME "fuzz_pattern"
#include "fuzzcheck.h"

/* Tags the shipped patterns care about (some are app-gated), and others. */
static const char *const apps[] = {NULL, "sshd", "sshd-session", "SSH", "dropbear", "SHELL", "", "SSHD"};

static struct pattern_set *set;

/* Loads the patterns on the first input; a set that does not load is a
 * broken checkout, not a finding, so it stops the run loudly. */
static const struct pattern_set *patterns(void)
{
    if (set)
        return set;
    const char *dir = getenv("KW_PATTERNS");
    if (!dir)
        dir = "conf/patterns.d";
    struct pattern_errors errs = {0};
    if (pattern_set_load(dir, &set, &errs) != 0) {
        for (size_t i = 0; i < errs.n; i++)
            fprintf(stderr, "fuzz_pattern: %s\n", errs.msgs[i]);
        fprintf(stderr, "fuzz_pattern: cannot load %s (set KW_PATTERNS)\n", dir);
        abort();
    }
    pattern_errors_free(&errs);
    return set;
}

static void check_span(const char *text, size_t len, struct pat_span sp)
{
    if (!sp.p) {
        CHECK(sp.len == 0);
        return;
    }
    CHECK(sp.p >= text);
    CHECK(sp.len <= len);
    CHECK((size_t)(sp.p - text) <= len - sp.len);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const struct pattern_set *s = patterns();
    if (size < 1)
        return 0;
    const char *app = apps[data[0] % (sizeof apps / sizeof apps[0])];
    size_t len = size - 1;
    char *text = malloc(len ? len : 1);
    CHECK(text != NULL);
    memcpy(text, data + 1, len);

    struct pat_match m;
    memset(&m, 0xa5, sizeof m);
    int rc = pattern_match(s, text, len, app, app ? strlen(app) : 0, &m);
    CHECK(rc >= -1 && rc <= 1);
    bool pre = pattern_prefilter(s, text, len);
    if (rc == 1) {
        CHECK(pre);
        CHECK((int)m.event >= 0 && m.event < PAT_EV_COUNT);
        CHECK(pattern_event_name(m.event) != NULL);
        CHECK(m.pattern != NULL && m.vendor != NULL);
        CHECK(m.side == PAT_SIDE_NONE || m.side == PAT_SIDE_CLIENT || m.side == PAT_SIDE_SERVER);
        CHECK(m.slot >= PAT_SLOT_IGNORED && m.slot < NEG_NSLOTS);
        CHECK(m.category >= -1 && m.category < ALGO_NCATEGORIES);
        const struct pat_span spans[] = {m.list, m.client_list, m.server_list, m.session,
                                         m.peer, m.port,        m.software,    m.reason};
        for (size_t i = 0; i < sizeof spans / sizeof spans[0]; i++)
            check_span(text, len, spans[i]);
    }

    /* the slot reader on raw bytes */
    int cat = 7;
    int slot = pattern_slot_from_text(text, len, &cat);
    CHECK(slot >= PAT_SLOT_IGNORED && slot < NEG_NSLOTS);
    CHECK(cat >= -1 && cat < ALGO_NCATEGORIES);
    if (cat >= 0)
        CHECK(slot >= 0);
    free(text);
    return 0;
}
