/* SPDX-License-Identifier: ISC */
/* pipeline: what happens to a received message, in order:
 * syslog header -> device key -> ssh line patterns -> session correlation ->
 * negotiation engine -> (store -> alert, with their issues).
 *
 * The daemon and `kexwatch replay` both feed messages through the same
 * pipeline; replay only differs in where messages come from and where
 * outcomes go.
 */
#ifndef KW_PIPELINE_H
#define KW_PIPELINE_H

#include <stdint.h>
#include <stdio.h>

#include "cfg.h"
#include "msg.h"
#include "session.h"

struct pipeline;

/* Creates a pipeline for cfg (borrowed: must outlive the pipeline), loading
 * the knowledge it names: the algorithm table and keyword map, the pattern
 * files, and the inventory. Returns 0 and sets *out, or -1 with every
 * problem appended to errs ("FILE:LINE: text"). */
int pipeline_new(const struct cfg *cfg, struct pipeline **out, struct cfg_errors *errs);

/* Replaces the knowledge (algorithm table, keyword map, patterns,
 * inventory) with what cfg names, keeping every open session and learned
 * profile. cfg replaces the borrowed configuration (it must outlive the
 * pipeline). Returns 0, or -1 with every problem in errs and nothing
 * changed. */
int pipeline_reload(struct pipeline *p, const struct cfg *cfg, struct cfg_errors *errs);

/* Where negotiation outcomes go. Without a callback they are logged. */
void pipeline_set_outcome_cb(struct pipeline *p, session_outcome_cb cb, void *arg);

/* Logs a failure as a rate-limited warning for the person on call (what the
 * default outcome callback does). */
void pipeline_log_outcome(struct pipeline *p, const struct negotiation *n);

/* Where learned server profiles go (session_table_set_profile_cb), and
 * restoring one at start-up (session_restore_profile). */
void pipeline_set_profile_cb(struct pipeline *p, session_profile_cb cb, void *arg);
int pipeline_restore_profile(struct pipeline *p, const char *device, int slot, const char *list, int64_t learned_at);

/* The device's SSH software as a probe read it from its server
 * ("OpenSSH_9.2p1"): the platform and release of later remedies
 * (session_set_server_software). 0 or -1. */
int pipeline_set_server_software(struct pipeline *p, const char *device, const char *software);

/* The [probe] port the inventory gives a device (probe_port of its
 * [device] or [group], matched by key, or by the key as an address for
 * CIDRs); 0 when none is set. */
unsigned pipeline_probe_port(const struct pipeline *p, const char *device);

/* Every parsed record is written as one JSON object per line to f (borrowed,
 * NULL = off). A debugging aid: `kexwatchd --dump-records FILE`. */
void pipeline_set_dump(struct pipeline *p, FILE *f);

/* Identify devices by the header host name whatever cfg says, and take
 * event times from device timestamps (replay of stored lines). */
void pipeline_set_replay(struct pipeline *p);

/* Runs one message through the pipeline. Never fails: bad input is counted. */
void pipeline_feed(struct pipeline *p, const struct msg *m);

/* Decides negotiations idle since before now (call about once a second). */
void pipeline_tick(struct pipeline *p, int64_t now);

/* Decides every open negotiation and flushes output (end of input, stop). */
void pipeline_finish(struct pipeline *p);

/* Flushes buffered output (dump file). */
void pipeline_flush(struct pipeline *p);

/* The negotiation outcome as a JSON object (jansson's json_t; a new
 * reference the caller releases with json_decref), built once for every
 * consumer: the alert object takes its fields from it. NULL when memory is
 * short. Marker pseudo-algorithms are left out of the offers shown. */
struct json_t;
struct json_t *pipeline_outcome_object(const struct pipeline *p, const struct negotiation *n);

/* A failure judged again, as the pipeline judges a decided one: n as it
 * failed (device, client, lists) with the server lists now known (a
 * probe's); its result, match and remedy are ignored and computed here
 * (the engine, the catalogue id, the remedy). *met (may be NULL) is 1
 * when the engine finds an algorithm agreed in n->slot and in every other
 * slot of its category whose client list is given (the server now offers
 * what the client needs there), else 0. Returns the outcome object
 * as pipeline_outcome_object does (the caller releases it), NULL when
 * memory is short or n did not fail. */
struct json_t *pipeline_rejudge_object(const struct pipeline *p, const struct negotiation *n, int *met);

/* The same object as one line of JSON (no newline) in a malloc'd string the
 * caller frees; NULL when memory is short. */
char *pipeline_outcome_json(const struct pipeline *p, const struct negotiation *n);

/* Counters of the correlation stage. */
const struct session_counts *pipeline_session_counts(const struct pipeline *p);

/* Heap the correlation state holds, and shedding it (session_shed). */
size_t pipeline_memory(const struct pipeline *p);
size_t pipeline_shed(struct pipeline *p, size_t want);

void pipeline_free(struct pipeline *p);

#endif
