/* SPDX-License-Identifier: ISC */
/* session: correlation. Joins the events of one SSH negotiation (pattern.h)
 * per device, by the best key available — a captured session marker (Cisco
 * session number, Huawei VTY), the syslog PID (sshd[1234]), the client
 * address — else arrival order within a short window; keeps each device's
 * server lists learned from its own proposals; and decides, with the
 * negotiation engine, what each negotiation came to.
 *
 * A negotiation becomes a failure when the device logged one (explicit
 * evidence) or when the client's offer meets known server lists that make
 * agreement impossible (inferred: the Huawei debug case); a negotiation the
 * device reports as having got through, or that the engine proves agrees, is
 * a success. Server lists for a slot come from the session's own proposal,
 * else the device's last learned proposal, else the inventory.
 *
 * State is bounded: sessions per device, devices, and an idle expiry; every
 * limit hit is counted. Single-threaded.
 */
#ifndef KW_SESSION_H
#define KW_SESSION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "algo.h"
#include "inventory.h"
#include "negotiate.h"
#include "negotiation.h"
#include "pattern.h"

typedef void (*session_outcome_cb)(void *arg, const struct negotiation *n);

struct session_limits {
    unsigned per_device;  /* open sessions per device (oldest are decided early) */
    unsigned devices;     /* devices with state */
    unsigned idle_s;      /* a session silent this long is decided with what it has */
};

struct session_counts {
    uint64_t events;          /* events joined to a session */
    uint64_t orphans;         /* outcome events that matched no open session */
    uint64_t duplicates;      /* failure lines repeating a decided session's */
    uint64_t evicted;         /* sessions decided early: per-device limit */
    uint64_t devices_evicted; /* device state dropped: device limit or memory budget */
    uint64_t memory_evicted;  /* undecided sessions decided early: memory budget ([daemon] max_memory) */
    uint64_t expired;         /* sessions decided at idle expiry */
    uint64_t failures;
    uint64_t successes;
    uint64_t undecided;       /* sessions that ended with too little known */
};

struct session_table;

/* db and inv are borrowed (inv may be NULL) and must outlive the table or be
 * replaced with session_table_set_knowledge(). Returns NULL when memory is short. */
struct session_table *session_table_new(const struct algo_db *db, const struct inventory *inv,
                                        const struct session_limits *limits, session_outcome_cb cb, void *arg);

void session_table_set_knowledge(struct session_table *t, const struct algo_db *db, const struct inventory *inv);

/* Called when a device's own proposal teaches a server list for a slot, so
 * it can be kept across restarts; list is the names comma-joined, borrowed
 * for the call. */
typedef void (*session_profile_cb)(void *arg, const char *device, int slot, const char *list, int64_t learned_at);
void session_table_set_profile_cb(struct session_table *t, session_profile_cb cb, void *arg);

/* Restores a learned server list (from the store at start-up). Returns 0,
 * or -1 when memory is short or slot is out of range. */
int session_restore_profile(struct session_table *t, const char *device, int slot, const char *list,
                            int64_t learned_at);

/* The device's SSH software as its server announced it to a probe
 * ("OpenSSH_9.2p1"): what later failures name as the server's software
 * (platform and release of the remedy) until the logs say otherwise.
 * Returns 0, or -1 when memory is short. */
int session_set_server_software(struct session_table *t, const char *device, const char *software);

/* Joins one matched line. device is the device key; src the sender (for
 * inventory CIDR matches; may be NULL); procid the syslog PID slice (may be
 * NULL/0); now the time of the line (seconds); cut_at is the end of the
 * matched text when the line may have been truncated (a list running up to
 * it is then partial), else NULL. */
void session_event(struct session_table *t, const char *device, const struct sockaddr *src, const char *procid,
                   size_t procid_len, int64_t now, const struct pat_match *m, const char *cut_at);

/* Decides sessions idle for limits.idle_s before now. */
void session_expire(struct session_table *t, int64_t now);

/* Decides every open session (end of a replay, shutdown). */
void session_flush(struct session_table *t);

const struct session_counts *session_table_counts(const struct session_table *t);

/* Number of devices and open sessions held. */
size_t session_table_devices(const struct session_table *t);
size_t session_table_sessions(const struct session_table *t);

/* Heap bytes the table holds (devices, sessions, their lists). */
size_t session_table_bytes(const struct session_table *t);

/* Frees at least want bytes when it can, cheapest loss first: decided
 * sessions (kept only to absorb repeats), then the oldest undecided
 * sessions of the least recently heard devices, decided early with what
 * they have (counted in memory_evicted; their outcomes are reported as
 * usual), then whole devices from the least recently heard (counted in
 * devices_evicted). Returns the bytes freed. */
size_t session_shed(struct session_table *t, size_t want);

void session_table_free(struct session_table *t);

#endif
