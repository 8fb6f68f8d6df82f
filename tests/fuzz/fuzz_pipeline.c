/* SPDX-License-Identifier: ISC */
/* libFuzzer harness over the pipeline after framing: header parsing, the
 * SSH patterns, session correlation, the negotiation engine and the outcome
 * JSON. Each input is a few lines (split at LF) fed as replayed messages,
 * first with live device keys and then as a replay, so sessions accumulate
 * across inputs as they do in the daemon. Knowledge files come from
 * $KEXWATCH_CONFDIR, default ./conf (the repository top as working
 * directory). */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cfg.h"
#include "pipeline.h"

#define FUZZ_NAME "fuzz_pipeline"
#include "fuzzcheck.h"

static struct cfg *g_cfg;
static struct pipeline *g_live, *g_replay;
static unsigned long g_outcomes;

static void on_outcome(void *arg, const struct negotiation *n)
{
    struct pipeline *p = arg;
    char *json = pipeline_outcome_json(p, n);
    if (!json)
        abort();
    /* the slot and category must agree with each other */
    if (n->failed && n->slot >= 0 && n->category >= 0 &&
        (int)negotiate_slot_category((enum negotiate_slot)n->slot) != n->category)
        abort();
    free(json);
    g_outcomes++;
}

static void init(void)
{
    if (!getenv("KEXWATCH_CONFDIR"))
        setenv("KEXWATCH_CONFDIR", "conf", 0);
    g_cfg = cfg_new_default();
    struct cfg_errors errs = {0};
    if (!g_cfg || pipeline_new(g_cfg, &g_live, &errs) < 0 || pipeline_new(g_cfg, &g_replay, &errs) < 0) {
        for (size_t i = 0; i < errs.n; i++)
            fprintf(stderr, "%s\n", errs.msgs[i]);
        fprintf(stderr, "fuzz_pipeline: set KEXWATCH_CONFDIR to the repository's conf/\n");
        abort();
    }
    pipeline_set_replay(g_replay);
    pipeline_set_outcome_cb(g_live, on_outcome, g_live);
    pipeline_set_outcome_cb(g_replay, on_outcome, g_replay);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static unsigned long runs;
    if (!g_cfg)
        init();
    const char *p = (const char *)data, *end = p + size;
    int64_t now = 1795000000 + (int64_t)(runs % 1000);
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *le = nl ? nl : end;
        /* an exact-size copy, so reads past the message are caught */
        size_t len = (size_t)(le - p);
        char *copy = malloc(len ? len : 1);
        if (!copy)
            return 0;
        memcpy(copy, p, len);
        struct msg m = {.data = copy, .len = len, .transport = MSG_TCP, .rx_sec = now};
        pipeline_feed(g_live, &m);
        m.transport = MSG_FILE;
        pipeline_feed(g_replay, &m);
        free(copy);
        p = nl ? nl + 1 : end;
    }
    /* expiry walks every device, as the daemon does once a second: here
     * once every 64 inputs, with a long gap now and then */
    if (runs % 64 == 0)
        pipeline_tick(g_live, now + (runs % 448 == 0 ? 3600 : 1));
    if (++runs % 256 == 0)
        pipeline_finish(g_replay);
    return 0;
}
