/* SPDX-License-Identifier: ISC */
/* stats: the one registry of the daemon's counters. Every counter is
 * registered once, with its name, a one-line help text and its type, by the
 * module that keeps it; the SIGUSR1 dump ("NAME VALUE" lines), sd_notify
 * STATUS= ("NAME=VALUE ...", the entries flagged STATS_STATUS) and /metrics
 * (kexwatch_NAME_total for a counter, kexwatch_NAME for a gauge) are all
 * generated from it, so a counter cannot be missing from one output or have
 * two names.
 *
 * The listener and framing counters (struct stats, g_stats) are built in;
 * other modules register theirs when they are created and unregister them
 * when freed:
 *
 *     stats_register_u64("tls_handshakes", STATS_COUNTER, "TLS handshakes completed", &t->handshakes);
 *     ...
 *     stats_unregister(t, sizeof *t);
 *
 * The registry is used from the event loop's thread only (a value kept by
 * another thread is registered with a read function that takes its lock).
 */
#ifndef KW_STATS_H
#define KW_STATS_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* Built-in counters, incremented where they happen (listen, frame,
 * pipeline, replay). */
struct stats {
    uint64_t udp_datagrams;      /* datagrams read from UDP sockets */
    uint64_t udp_kernel_drops;   /* SO_RXQ_OVFL: datagrams the kernel dropped */
    uint64_t udp_empty;          /* empty datagrams (ignored) */
    uint64_t tcp_accepted;       /* connections accepted */
    uint64_t tcp_rejected;       /* connections refused: max_connections */
    uint64_t tcp_accept_errors;  /* accept() failed (EMFILE, ENFILE, ENOMEM…): a connection shed */
    uint64_t tcp_closed;         /* connections closed (peer, error, idle) */
    uint64_t tcp_idle_closed;    /* of those, closed for idleness */
    uint64_t tcp_open;           /* connections open now (gauge) */
    uint64_t tls_handshakes;     /* TLS connections whose handshake and peer check passed */
    uint64_t tls_handshake_failed; /* TLS handshakes that failed (sum of the causes below) */
    uint64_t tls_handshake_failed_protocol; /* TLS < 1.2, no shared cipher, not TLS */
    uint64_t tls_handshake_failed_timeout;  /* longer than tls_handshake_timeout */
    uint64_t tls_handshake_failed_closed;   /* peer closed during the handshake */
    uint64_t tls_handshake_failed_other;
    uint64_t tls_peer_rejected;  /* TLS peers refused by certificate checks (sum of the causes below) */
    uint64_t tls_peer_rejected_no_certificate;
    uint64_t tls_peer_rejected_untrusted; /* not signed by tls_ca */
    uint64_t tls_peer_rejected_expired;   /* expired or not yet valid */
    uint64_t tls_peer_rejected_name;      /* not in tls_peers */
    uint64_t messages_udp;       /* messages received over UDP */
    uint64_t messages_tcp;       /* messages received over TCP */
    uint64_t messages_tls;       /* messages received over TLS */
    uint64_t messages_file;      /* messages read by replay */
    uint64_t bytes;              /* message bytes received (after framing) */
    uint64_t framing_errors;     /* bad octet counts and other framing faults */
    uint64_t oversize;           /* messages truncated to max_message */
    uint64_t empty_messages;     /* empty frames and lines (dropped) */
    uint64_t parse_fallbacks;    /* messages whose header could not be parsed */
    uint64_t ssh_candidates;     /* messages that passed the SSH pre-filter */
    uint64_t ssh_matched;        /* of those, lines an SSH pattern matched */
    uint64_t ssh_unmatched;      /* of those, lines no pattern matched */
    uint64_t pattern_errors;     /* PCRE2 matching errors (treated as no match) */
};

extern struct stats g_stats;

/* What a value is: a counter only grows (/metrics adds _total), a gauge is
 * a level now. Or STATS_STATUS in to show it in sd_notify STATUS= too. */
enum stats_type { STATS_COUNTER = 0, STATS_GAUGE = 1, STATS_STATUS = 0x100 };

/* Reads a registered value; arg is the one given at registration. */
typedef double (*stats_read_fn)(const void *arg);

/* Registers the value read(arg) as name: lower_snake_case, without the
 * kexwatch_ prefix or a _total suffix. name and help are borrowed for as
 * long as the entry stays (string literals). Registering a name again
 * replaces the older entry (the newest object of a kind is shown). Returns
 * 0, or -1 when memory is short or an argument is invalid. */
int stats_register(const char *name, int type, const char *help, stats_read_fn read, const void *arg);

/* The same for a uint64_t the caller keeps up to date at *value. */
int stats_register_u64(const char *name, int type, const char *help, const uint64_t *value);

/* Removes every entry whose arg or value lies within [obj, obj + size):
 * call it with the object (and its size) whose fields were registered,
 * before freeing it. */
void stats_unregister(const void *obj, size_t size);

/* Calls fn for every entry in registration order: its name, help, type
 * (STATS_COUNTER or STATS_GAUGE, without STATS_STATUS) and value now. */
void stats_each(void (*fn)(void *arg, const char *name, const char *help, int type, double value), void *arg);

/* Writes every entry as a "name value" line to f (the SIGUSR1 dump). */
void stats_dump(FILE *f);

/* Writes the STATS_STATUS entries as "name=value ..." into buf (sd_notify
 * STATUS=), truncated to size. */
void stats_status_line(char *buf, size_t size);

#endif
