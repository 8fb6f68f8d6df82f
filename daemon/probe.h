/* SPDX-License-Identifier: ISC */
/* probe: asks one SSH server for its identification and its KEXINIT over
 * TCP, on the caller's event loop, without authenticating and without
 * completing the key exchange.
 *
 * A probe connects without blocking, sends the version string
 * PROBE_VERSION_STRING (naming kexwatch), reads the server's identification
 * and binary packets up to its SSH_MSG_KEXINIT (daemon/kexinit.c parses
 * them), and closes: nothing else is sent. Every byte read is bounded
 * (identification, skipped lines and packets, the KEXINIT), and one deadline
 * covers the whole exchange. The callback runs exactly once per started
 * probe, from the event loop, never from probe_start().
 */
#ifndef KW_PROBE_H
#define KW_PROBE_H

#include <stddef.h>
#include <sys/socket.h>

#include "kexinit.h"

#define PROBE_VERSION_STRING "SSH-2.0-kexwatch_probe_" PACKAGE_VERSION

/* Why a probe found no KEXINIT. */
enum probe_error {
    PROBE_OK = 0,
    PROBE_REFUSED,     /* nothing listens (ECONNREFUSED) */
    PROBE_TIMEOUT,     /* the deadline passed (connect, version or KEXINIT) */
    PROBE_UNREACHABLE, /* other connect or socket errors */
    PROBE_CLOSED,      /* the server closed after its version string */
    PROBE_NOT_SSH,     /* HTTP, binary bytes, no version string ... */
    PROBE_SSH1,        /* SSH protocol 1 only */
    PROBE_LONG_LINE,   /* identification line longer than 255 bytes */
    PROBE_BAD_KEXINIT, /* malformed packet or KEXINIT, or another first message */
};

/* What a probe found; handed to the callback, borrowed for the call. */
struct probe_result {
    char address[64]; /* numeric host, "192.0.2.1" or "2001:db8::1" */
    unsigned port;
    enum probe_error error;
    char message[600];      /* the error, for a person: what happened and what to check; "" when OK */
    struct kexinit_version version; /* valid when the identification was read */
    int have_version;
    struct kexinit kexinit; /* valid when error == PROBE_OK */
    double seconds;         /* from start to the answer or the error */
};

typedef void (*probe_done_cb)(void *arg, const struct probe_result *r);

struct event_base;

struct probe;

/* Starts a probe of sa (IPv4 or IPv6, with its port) that gives up after
 * timeout_ms. Returns 0 (cb will be called once, from the loop, unless the
 * probe is cancelled first) and *handle (may be NULL) for probe_cancel(),
 * valid until cb runs; or -1 with err set when no socket could be made (cb
 * is then never called). */
int probe_start(struct event_base *base, const struct sockaddr *sa, socklen_t salen, unsigned timeout_ms,
                probe_done_cb cb, void *arg, struct probe **handle, char *err, size_t errsize);

/* Abandons a running probe: its socket is closed, cb is never called. */
void probe_cancel(struct probe *p);

/* A short name of an error: "ok", "refused", "timeout", "unreachable",
 * "closed", "not-ssh", "ssh1", "long-line", "bad-kexinit". */
const char *probe_error_name(enum probe_error e);

/* `kexwatch probe [--format table|json] [--timeout T] [--port P] HOST[:PORT]...`
 * (daemon/probecmd.c): ratings come from cfg's algorithm table. Returns the
 * exit code: 0 every host answered, 1 one did not or an error, 2 usage. */
struct cfg;
int probe_command(const struct cfg *cfg, int argc, char **argv);

#endif
