/* SPDX-License-Identifier: ISC */
/* stats: the daemon's counters, one global set, read by SIGUSR1 dumps,
 * sd_notify STATUS= and (later) the metrics endpoint.
 *
 * Counters are plain uint64_t: kexwatchd is single-threaded.
 */
#ifndef KW_STATS_H
#define KW_STATS_H

#include <stdint.h>
#include <stdio.h>

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
    uint64_t messages_udp;       /* messages received over UDP */
    uint64_t messages_tcp;       /* messages received over TCP */
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

/* Calls fn for every counter with its name and value (for the metrics
 * endpoint). */
void stats_each(void (*fn)(void *arg, const char *name, uint64_t value), void *arg);

/* Writes every counter as "name value" lines to f. */
void stats_dump(FILE *f);

/* Formats a one-line summary for sd_notify STATUS= into buf. */
void stats_status_line(char *buf, size_t size);

#endif
