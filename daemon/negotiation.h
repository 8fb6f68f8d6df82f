/* SPDX-License-Identifier: ISC */
/* negotiation: one decided SSH negotiation, as the correlation stage
 * (session.h) hands it on to the catalogue, the store and the alerts. A
 * plain record of borrowed pointers: nothing here allocates or frees.
 */
#ifndef KW_NEGOTIATION_H
#define KW_NEGOTIATION_H

#include <stdbool.h>
#include <stdint.h>

#include "negotiate.h"

enum evidence { EVIDENCE_EXPLICIT = 0, EVIDENCE_INFERRED };

struct catalogue_match;
struct catalogue_remedy;

/* One negotiation outcome, handed to the outcome callback. Everything is
 * borrowed and lives only during the callback. */
struct negotiation {
    const char *device;      /* device key */
    const char *device_name; /* inventory section name, or NULL */
    const char *vendor;      /* inventory vendor, else the patterns' vendor, or NULL */
    const char *platform;    /* the platform the log lines' shapes name ("cisco-iosxr"), or NULL */
    const char *server_software; /* the device's own SSH software as it announced it, or NULL */
    const char *peer;        /* client address, or NULL */
    unsigned port;           /* client port, 0 when unknown */
    const char *software;    /* client software ("SSH-2.0-..." or as logged), or NULL */
    const char *fingerprint; /* 32 hex digits (negotiate_fingerprint), or NULL when the offer is incomplete */
    const char *hassh;       /* 32 hex digits (negotiate_hassh), or NULL when the offer is incomplete */
    int64_t time;            /* seconds since the epoch of the deciding line */
    bool failed;
    int slot;                /* failing enum negotiate_slot, or -1 */
    int category;            /* failing enum algo_category, or -1 */
    enum evidence evidence;  /* for failures */
    const char *reason;      /* the device's own words, when it gave some, or NULL */
    const struct negotiate_list *client[NEG_NSLOTS]; /* NULL = unknown */
    const struct negotiate_list *server[NEG_NSLOTS]; /* the lists used; NULL = unknown */
    const struct negotiate_result *result;           /* the engine's verdict on those lists */
    /* Filled by the pipeline from the mismatch catalogue for failures (NULL
     * from the session stage and for successes). */
    const struct catalogue_match *match;
    const struct catalogue_remedy *remedy;
};

#endif
