/* SPDX-License-Identifier: ISC */
#include "config.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "stats.h"

struct stats g_stats;

struct entry {
    const char *name;
    const char *help;
    int type;
    const uint64_t *value; /* or: */
    stats_read_fn read;
    const void *arg;
};

/* the built-in counters come first, in this order */
#define B(f, t, h) {#f, h, t, &g_stats.f, NULL, NULL}
static const struct entry builtin[] = {
    B(udp_datagrams, STATS_COUNTER, "datagrams read from UDP sockets"),
    B(udp_kernel_drops, STATS_COUNTER | STATS_STATUS,
      "datagrams the kernel dropped before kexwatchd read them (SO_RXQ_OVFL; raise [listen] udp_rcvbuf)"),
    B(udp_empty, STATS_COUNTER, "empty datagrams (ignored)"),
    B(tcp_accepted, STATS_COUNTER, "TCP connections accepted"),
    B(tcp_rejected, STATS_COUNTER, "TCP connections refused: [listen] max_connections reached"),
    B(tcp_accept_errors, STATS_COUNTER, "accept failed (out of descriptors or memory): a waiting connection shed"),
    B(tcp_closed, STATS_COUNTER, "TCP connections closed (by the peer, an error or idleness)"),
    B(tcp_idle_closed, STATS_COUNTER, "TCP connections closed for idleness"),
    B(tcp_open, STATS_GAUGE | STATS_STATUS, "TCP connections open now"),
    B(tls_handshakes, STATS_COUNTER, "TLS connections whose handshake and peer check passed"),
    B(tls_handshake_failed, STATS_COUNTER | STATS_STATUS,
      "TLS handshakes that failed (the tls_handshake_failed_* causes added up)"),
    B(tls_handshake_failed_protocol, STATS_COUNTER,
      "TLS handshakes refused: TLS older than 1.2, no shared cipher, or not TLS at all"),
    B(tls_handshake_failed_timeout, STATS_COUNTER, "TLS handshakes not done within [listen] tls_handshake_timeout"),
    B(tls_handshake_failed_closed, STATS_COUNTER, "TLS handshakes the sender gave up (it may not trust tls_cert)"),
    B(tls_handshake_failed_other, STATS_COUNTER, "TLS handshakes that failed for another reason (see the log)"),
    B(tls_peer_rejected, STATS_COUNTER | STATS_STATUS,
      "TLS senders refused by the certificate checks (the tls_peer_rejected_* causes added up)"),
    B(tls_peer_rejected_no_certificate, STATS_COUNTER, "TLS senders refused: no client certificate"),
    B(tls_peer_rejected_untrusted, STATS_COUNTER, "TLS senders refused: certificate not signed by [listen] tls_ca"),
    B(tls_peer_rejected_expired, STATS_COUNTER, "TLS senders refused: certificate expired or not yet valid"),
    B(tls_peer_rejected_name, STATS_COUNTER, "TLS senders refused: no name or fingerprint in [listen] tls_peers"),
    B(messages_udp, STATS_COUNTER | STATS_STATUS, "syslog messages received over UDP"),
    B(messages_tcp, STATS_COUNTER | STATS_STATUS, "syslog messages received over TCP"),
    B(messages_tls, STATS_COUNTER | STATS_STATUS, "syslog messages received over TLS"),
    B(messages_file, STATS_COUNTER, "syslog messages read from files (replay)"),
    B(bytes, STATS_COUNTER, "message bytes received (after framing)"),
    B(framing_errors, STATS_COUNTER | STATS_STATUS, "invalid octet counts and other framing faults"),
    B(oversize, STATS_COUNTER, "messages truncated to [listen] max_message"),
    B(empty_messages, STATS_COUNTER, "empty frames and lines (dropped)"),
    B(parse_fallbacks, STATS_COUNTER, "messages with no recognisable syslog header"),
    B(ssh_candidates, STATS_COUNTER, "messages that passed the SSH pre-filter"),
    B(ssh_matched, STATS_COUNTER, "SSH-looking lines an SSH pattern matched"),
    B(ssh_unmatched, STATS_COUNTER,
      "SSH-looking lines no pattern matched (run kexwatch test-patterns on a sample)"),
    B(pattern_errors, STATS_COUNTER, "PCRE2 matching errors (treated as no match)"),
};
#undef B
#define NBUILTIN (sizeof builtin / sizeof builtin[0])

static struct entry *reg; /* registered by modules, in order */
static size_t nreg, capreg;

static int valid_name(const char *name)
{
    if (!name || !*name)
        return 0;
    for (const char *c = name; *c; c++)
        if (!((*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') || *c == '_'))
            return 0;
    return 1;
}

static int add(const struct entry *e)
{
    if (!valid_name(e->name) || !e->help || (e->type & ~STATS_STATUS) > STATS_GAUGE)
        return -1;
    for (size_t i = 0; i < nreg; i++)
        if (strcmp(reg[i].name, e->name) == 0) {
            reg[i] = *e;
            return 0;
        }
    for (size_t i = 0; i < NBUILTIN; i++)
        if (strcmp(builtin[i].name, e->name) == 0)
            return -1;
    if (nreg == capreg) {
        size_t cap = capreg ? capreg * 2 : 64;
        struct entry *v = realloc(reg, cap * sizeof *v);
        if (!v)
            return -1;
        reg = v;
        capreg = cap;
    }
    reg[nreg++] = *e;
    return 0;
}

int stats_register(const char *name, int type, const char *help, stats_read_fn read, const void *arg)
{
    if (!read)
        return -1;
    return add(&(struct entry){name, help, type, NULL, read, arg});
}

int stats_register_u64(const char *name, int type, const char *help, const uint64_t *value)
{
    if (!value)
        return -1;
    return add(&(struct entry){name, help, type, value, NULL, NULL});
}

static int within(const void *p, const void *obj, size_t size)
{
    uintptr_t a = (uintptr_t)p, o = (uintptr_t)obj;
    return p && a >= o && a - o < size;
}

void stats_unregister(const void *obj, size_t size)
{
    size_t j = 0;
    for (size_t i = 0; i < nreg; i++)
        if (!within(reg[i].value, obj, size) && !within(reg[i].arg, obj, size))
            reg[j++] = reg[i];
    nreg = j;
    if (!nreg) {
        free(reg);
        reg = NULL;
        capreg = 0;
    }
}

static const struct entry *entry_at(size_t i)
{
    return i < NBUILTIN ? &builtin[i] : i - NBUILTIN < nreg ? &reg[i - NBUILTIN] : NULL;
}

static double value_of(const struct entry *e)
{
    return e->value ? (double)*e->value : e->read(e->arg);
}

/* A counter exactly; a fraction with the digits it has. */
static void format_value(const struct entry *e, char *buf, size_t size)
{
    if (e->value) {
        snprintf(buf, size, "%" PRIu64, *e->value);
        return;
    }
    double v = e->read(e->arg);
    if (v >= 0 && v < 9.0e15 && v == (double)(uint64_t)v)
        snprintf(buf, size, "%" PRIu64, (uint64_t)v);
    else
        snprintf(buf, size, "%.9g", v);
}

void stats_each(void (*fn)(void *arg, const char *name, const char *help, int type, double value), void *arg)
{
    const struct entry *e;
    for (size_t i = 0; (e = entry_at(i)); i++)
        fn(arg, e->name, e->help, e->type & ~STATS_STATUS, value_of(e));
}

void stats_dump(FILE *f)
{
    const struct entry *e;
    char v[32];
    for (size_t i = 0; (e = entry_at(i)); i++) {
        format_value(e, v, sizeof v);
        fprintf(f, "%s %s\n", e->name, v);
    }
    fflush(f);
}

void stats_status_line(char *buf, size_t size)
{
    const struct entry *e;
    char v[32];
    size_t len = 0;
    if (size)
        buf[0] = '\0';
    for (size_t i = 0; (e = entry_at(i)) && len < size; i++) {
        if (!(e->type & STATS_STATUS))
            continue;
        format_value(e, v, sizeof v);
        int n = snprintf(buf + len, size - len, "%s%s=%s", len ? " " : "", e->name, v);
        if (n < 0)
            break;
        len += (size_t)n;
    }
}
