/* SPDX-License-Identifier: ISC */
/* prober: the daemon's [probe] — asks devices' SSH servers for their lists
 * (probe.h) on the daemon's event loop: a device is probed after_failure
 * seconds after a failure whose server list was unknown, and again every
 * interval, never more than max_parallel at once, and only when [probe]
 * enable = yes and its address lies in allow. A device is probed at the
 * address its key names (identify = source) or its host name resolves to
 * (identify = hostname), on its inventory probe_port, else [probe] port.
 *
 * Results go to the owner's callback, on the loop: the device key and what
 * the probe found (borrowed for the call).
 */
#ifndef KW_PROBER_H
#define KW_PROBER_H

#include <stdint.h>

#include "probe.h"

struct cfg;
struct event_base;
struct prober;

typedef void (*prober_result_cb)(void *arg, const char *device, const struct probe_result *r);

/* cfg is borrowed until prober_set_cfg() replaces it or prober_free().
 * Returns NULL when memory is short. */
struct prober *prober_new(struct event_base *base, const struct cfg *cfg, prober_result_cb cb, void *arg);

/* A new configuration (SIGHUP): devices no longer allowed are forgotten. */
void prober_set_cfg(struct prober *p, const struct cfg *cfg);

/* A failure on device whose server list for the failing slot was unknown:
 * the device is probed after_failure seconds after now, unless a probe of it
 * is already due sooner, on port (the inventory's probe_port; 0: [probe]
 * port). A key that is an address is probed there when it lies in allow
 * (else ignored, counted); a key that is a host name (identify = hostname)
 * is resolved before each probe with evdns (the loop never waits: DNS and
 * /etc/hosts) and its first address inside allow probed (none: logged,
 * counted as not allowed). */
void prober_failure(struct prober *p, const char *device, unsigned port, int64_t now);

/* Probes started, answered, failed (in all and by cause, enum
 * probe_error; failed_by[0]: the device's name did not resolve), not
 * started (no socket), devices outside allow; devices
 * known and probes in flight. Also in the daemon's counter registry
 * (stats.h) as probes_started, probes_answered, probes_failed,
 * probes_failed_CAUSE, probes_not_started, probes_not_allowed,
 * probes_in_flight and probe_devices. */
#define PROBER_NCAUSES 9
struct prober_counts {
    uint64_t started, answered, failed, not_allowed, not_started;
    uint64_t failed_by[PROBER_NCAUSES];
    size_t devices, running;
};
void prober_counts(const struct prober *p, struct prober_counts *out);

/* Frees everything; probes in flight are abandoned (their sockets closed
 * when the loop is freed). NULL is a no-op. */
void prober_free(struct prober *p);

#endif
