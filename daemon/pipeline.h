/* pipeline: what happens to a received message, in order:
 * syslog header -> device key -> ssh line patterns -> session correlation ->
 * negotiation engine -> store -> alert.
 *
 * The daemon and `kexwatch replay` both feed messages through the same
 * pipeline; replay only differs in where messages come from.
 */
#ifndef KW_PIPELINE_H
#define KW_PIPELINE_H

#include <stdio.h>

#include "cfg.h"
#include "msg.h"

struct pipeline;

/* Creates a pipeline for cfg (borrowed: must outlive the pipeline).
 * Returns NULL when memory is short. */
struct pipeline *pipeline_new(const struct cfg *cfg);

/* Every parsed record is written as one JSON object per line to f (borrowed,
 * NULL = off). A debugging aid: `kexwatchd --dump-records FILE`. */
void pipeline_set_dump(struct pipeline *p, FILE *f);

/* Identify devices by the header host name whatever cfg says (replay). */
void pipeline_force_hostname_identity(struct pipeline *p);

/* Runs one message through the pipeline. Never fails: bad input is counted. */
void pipeline_feed(struct pipeline *p, const struct msg *m);

/* Flushes buffered output (dump file). */
void pipeline_flush(struct pipeline *p);

void pipeline_free(struct pipeline *p);

#endif
