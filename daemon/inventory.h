/* SPDX-License-Identifier: ISC */
/* inventory: what the logs cannot tell — each device's configured server
 * lists, from [device NAME] and [group NAME] sections, with vendor CLI
 * keywords expanded to wire names. Built once from a configuration and the
 * algorithm database; immutable afterwards (replaced whole on reload).
 */
#ifndef KW_INVENTORY_H
#define KW_INVENTORY_H

#include <stddef.h>
#include <sys/socket.h>

#include "algo.h"
#include "cfg.h"
#include "negotiate.h"

struct inventory;

/* A device's configured profile. Lists per KEXINIT slot (NULL = not
 * configured); "cipher =" fills both cipher slots, likewise mac and
 * compression. Everything is borrowed from the inventory. */
struct inv_device {
    const char *name;   /* the [device]/[group] section name */
    const char *vendor; /* NULL when not configured */
    unsigned probe_port; /* [probe]'s port for it (the device's, else its group's); 0: not set */
    const struct negotiate_list *list[NEG_NSLOTS];
};

/* Builds the inventory. Devices inherit unset keys from their group = .
 * Returns NULL when memory is short. Configured names that are neither wire
 * names nor keywords of the vendor are kept as written (a log line may still
 * show them) and counted in *unknown_names (may be NULL). */
struct inventory *inventory_new(const struct cfg *cfg, const struct algo_db *db, size_t *unknown_names);

void inventory_free(struct inventory *inv);

/* The profile for a device: a [device] whose match = names the key (host
 * name or address, compared exactly, host names case-insensitively) or
 * contains the source address (CIDR), else the first [group] that does.
 * src may be NULL. Returns NULL when nothing matches. */
const struct inv_device *inventory_lookup(const struct inventory *inv, const char *key,
                                          const struct sockaddr *src);

size_t inventory_count(const struct inventory *inv);

#endif
