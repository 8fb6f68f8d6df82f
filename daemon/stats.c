/* SPDX-License-Identifier: ISC */
#include "config.h"

#include <inttypes.h>
#include <stdio.h>

#include "stats.h"

struct stats g_stats;

/* name and offset of every counter, so dumps cannot forget one */
#define STAT(f) {#f, &g_stats.f}
static const struct {
    const char *name;
    uint64_t *value;
} stat_table[] = {
    STAT(udp_datagrams), STAT(udp_kernel_drops), STAT(udp_empty),      STAT(tcp_accepted),
    STAT(tcp_rejected),  STAT(tcp_accept_errors), STAT(tcp_closed),       STAT(tcp_idle_closed), STAT(tcp_open),
    STAT(messages_udp),  STAT(messages_tcp),     STAT(messages_file),  STAT(bytes),
    STAT(framing_errors), STAT(oversize),        STAT(empty_messages), STAT(parse_fallbacks),
    STAT(ssh_candidates), STAT(ssh_matched), STAT(ssh_unmatched), STAT(pattern_errors),
};

void stats_each(void (*fn)(void *arg, const char *name, uint64_t value), void *arg)
{
    for (size_t i = 0; i < sizeof stat_table / sizeof stat_table[0]; i++)
        fn(arg, stat_table[i].name, *stat_table[i].value);
}

void stats_dump(FILE *f)
{
    for (size_t i = 0; i < sizeof stat_table / sizeof stat_table[0]; i++)
        fprintf(f, "%s %" PRIu64 "\n", stat_table[i].name, *stat_table[i].value);
    fflush(f);
}

void stats_status_line(char *buf, size_t size)
{
    snprintf(buf, size,
             "%" PRIu64 " messages (%" PRIu64 " udp, %" PRIu64 " tcp), %" PRIu64
             " tcp connections open, %" PRIu64 " kernel drops, %" PRIu64 " framing errors",
             g_stats.messages_udp + g_stats.messages_tcp, g_stats.messages_udp, g_stats.messages_tcp,
             g_stats.tcp_open, g_stats.udp_kernel_drops, g_stats.framing_errors);
}
