/* SPDX-License-Identifier: ISC */
/* metrics: the optional HTTP endpoint ([metrics] listen) serving Prometheus
 * text format on /metrics and a liveness answer on /healthz, through
 * libevent's evhttp. What the metrics are is the caller's: it writes them
 * when asked. */
#ifndef KW_METRICS_H
#define KW_METRICS_H

#include <stdio.h>

#include "cfg.h"

struct event_base;
struct metrics;

/* Writes the Prometheus exposition text to f. */
typedef void (*metrics_write_cb)(void *arg, FILE *f);

/* Binds addr and serves. Returns 0 and *out, or -1 with a message in err. */
int metrics_new(struct event_base *base, const struct cfg_addr *addr, metrics_write_cb cb, void *arg,
                struct metrics **out, char *err, size_t errsize);

/* Writes one metric in Prometheus text format: its HELP and TYPE lines
 * ("counter" or "gauge") and the value. */
void metrics_put(FILE *f, const char *name, const char *type, const char *help, double value);

void metrics_free(struct metrics *m);

#endif
