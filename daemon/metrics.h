/* SPDX-License-Identifier: ISC */
/* metrics: the Prometheus text format of /metrics (served by http.c).
 * What the metrics are is the caller's: it writes them when asked. */
#ifndef KW_METRICS_H
#define KW_METRICS_H

#include <stdio.h>

/* Writes the Prometheus exposition text to f. */
typedef void (*metrics_write_cb)(void *arg, FILE *f);

/* Writes one metric in Prometheus text format: its HELP and TYPE lines
 * ("counter" or "gauge") and the value. */
void metrics_put(FILE *f, const char *name, const char *type, const char *help, double value);

#endif
