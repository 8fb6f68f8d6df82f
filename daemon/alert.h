/* SPDX-License-Identifier: ISC */
/* alert: what the person on call receives. Turns each decided failure into
 * the alert object of SPEC ("Alerts"), deduplicated by alert_id (device,
 * mismatch, client fingerprint, category): a repeat updates count and
 * last_seen and is re-sent at most once per repeat_interval; a later
 * success of the same client type on the same device resolves it.
 *
 * Delivery is the sinks' (sink.h, one file each): the JSON Lines file and
 * stdout (sink_file.c), a webhook (sink_webhook.c), syslog forwarding
 * (sink_syslog.c) and a program run per alert (sink_exec.c). With a store,
 * every alert sent is saved (its deduplication state survives a restart)
 * and every durable sink's notification goes through the store's outbox
 * first, so one accepted is delivered after a restart too.
 */
#ifndef KW_ALERT_H
#define KW_ALERT_H

#include <stdint.h>

#include "cfg.h"
#include "negotiate.h"
#include "pipeline.h"

struct alerter;

struct event_base;
struct store;

/* Opens the sinks cfg names ([alerts] file, stdout, webhook). base runs the
 * webhook's HTTP requests and retries (NULL: no webhook). store (may be
 * NULL: nothing durable) restores firing alerts and pending webhook
 * notifications. Returns 0 and *out, or -1 with a message for the operator
 * in err. cfg and store are borrowed. */
int alerter_new(const struct cfg *cfg, struct event_base *base, struct store *store, struct alerter **out, char *err,
                size_t errsize);

/* Sent and failed counts of the "syslog" and "exec" sinks. */
uint64_t alerter_sink_sent(const struct alerter *a, const char *sink);
uint64_t alerter_sink_failed(const struct alerter *a, const char *sink);

/* Webhook notifications delivered, failed attempts, and waiting (queued or
 * in flight). */
uint64_t alerter_webhook_sent(const struct alerter *a);
uint64_t alerter_webhook_failed(const struct alerter *a);
size_t alerter_webhook_pending(const struct alerter *a);

/* An alerter for `kexwatch replay`: alerts go to stdout only, nothing is
 * durable, and times are the log's (pass n->time as now). */
int alerter_new_replay(const struct cfg *cfg, struct alerter **out);

/* Takes a decided negotiation (failures fire or repeat, successes may
 * resolve); p renders the outcome. now is the wall clock. */
void alerter_process(struct alerter *a, struct pipeline *p, const struct negotiation *n, int64_t now);

/* A probe of device answered: lists are its server's lists per slot (enum
 * negotiate_slot; NULL unknown), software its SSH software ("OpenSSH_9.2p1",
 * may be NULL: the platform and release of remedies). Each firing alert of
 * the device whose failure came before now is judged again with them:
 * - when the device now offers what the alert's client needs in the failing
 *   category, the alert is marked fixed ("fixed": {"time", "by": "probe",
 *   "server_offer"}, saved as alerts.fixed_at) and sent again; it still
 *   resolves as SPEC says (a success of the client, or the quiet period);
 * - else, when it fired without the server's list of its failing slot, it
 *   is re-classified and sent again with the server's list and the complete
 *   remedy; a changed catalogue id gives a new alert id: the old alert is
 *   resolved with "superseded_by" naming the new one, which keeps its
 *   count and first_seen. */
void alerter_probed(struct alerter *a, struct pipeline *p, const char *device, const char *const lists[NEG_NSLOTS],
                    const char *software, int64_t now);

/* Resolves firing alerts not repeated for [alerts] resolve_after (the quiet
 * period); call about once a second. */
void alerter_tick(struct alerter *a, int64_t now);

/* Saves the count and last_seen of repeats held back by repeat_interval
 * (store_alert_note: with the store's next batch, never a write per
 * repeat), so they survive a restart. alerter_tick does it every second;
 * call it before store_finish when stopping. */
void alerter_sync(struct alerter *a);

/* Takes cfg (borrowed until the next alerter_reopen or alerter_free) in
 * place of the configuration in force, always, and reopens the file sink
 * (after logrotate moved it). Returns 0, or -1 with a message in err when
 * the new file cannot be opened: alerts keep going to the old file. */
int alerter_reopen(struct alerter *a, const struct cfg *cfg, char *err, size_t errsize);

/* Alerts written, and repeats held back by repeat_interval. */
uint64_t alerter_sent(const struct alerter *a);

/* Alerts firing now (sent and not yet resolved). */
size_t alerter_firing(const struct alerter *a);
uint64_t alerter_suppressed(const struct alerter *a);

void alerter_free(struct alerter *a);

/* Heap the remembered alerts hold (an estimate: their count times what one
 * takes), for the memory budget. */
size_t alerter_bytes(const struct alerter *a);

/* Forgets least recently seen alerts until about want bytes are freed (a
 * forgotten alert that fails again is sent again, as after repeat_interval).
 * Returns the bytes freed. */
size_t alerter_shed(struct alerter *a, size_t want);

#endif
