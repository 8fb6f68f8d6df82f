/* SPDX-License-Identifier: ISC */
/* listen: the UDP, TCP and TLS (RFC 5425) syslog listeners.
 *
 * UDP sockets are drained with recvmmsg() batches (recvmsg() where the kernel
 * or libc lacks it); kernel drops are read from SO_RXQ_OVFL. TCP uses libevent
 * listeners and bufferevents with a per-connection framer (frame.h), read
 * watermarks, an idle timeout and max_connections. TLS connections are the
 * same TCP connections behind a TLS bufferevent (tls.h): a non-blocking
 * handshake with a deadline, the peer checked, then the same framer, limits
 * and back-pressure; max_connections counts both. Each message goes to the
 * callback given to listen_new(), with the receive time read once per batch.
 */
#ifndef KW_LISTEN_H
#define KW_LISTEN_H

#include "cfg.h"
#include "msg.h"

struct event_base;
struct listen;

/* Called for every message received; m and its data live only during the call. */
typedef void (*listen_msg_cb)(void *arg, const struct msg *m);

/* Creates the listener set (no sockets yet). Returns NULL when memory is short. */
struct listen *listen_new(struct event_base *base, const struct cfg *cfg, listen_msg_cb cb, void *arg);

/* Applies a new configuration on SIGHUP: sockets of addresses no longer
 * listed close, new addresses open, unchanged ones are kept; limits and
 * timeouts apply from now on. Sockets passed by systemd are left alone.
 * cfg is borrowed. Returns 0, or -1 when a new address could not be
 * opened (logged; everything else is applied). The TLS certificate, key
 * and CAs are re-read (sockets from systemd too); a bad new set keeps the
 * old one, and open TLS connections continue either way. */
int listen_reconfigure(struct listen *l, const struct cfg *cfg);

/* Replaces the borrowed configuration (limits and timeouts apply to new
 * connections and reads from now on; addresses are not re-bound). */
void listen_set_cfg(struct listen *l, const struct cfg *cfg);

/* Opens and binds every [listen] address of cfg. Returns 0, or -1 after
 * logging which address failed and why. */
int listen_open_config(struct listen *l);

/* Kinds of socket for listen_adopt_fd(). */
#define LISTEN_UDP 0
#define LISTEN_TCP 1
#define LISTEN_TLS 2 /* a listening stream socket for RFC 5425 (needs tls_cert/tls_key) */

/* Adopts an already bound socket (from systemd socket activation) of the
 * given kind. Returns 0 or -1 (logged). */
int listen_adopt_fd(struct listen *l, int fd, int kind);

/* Number of sockets listening. */
size_t listen_count(const struct listen *l);

/* Pauses (paused != 0) or resumes reading from every socket and connection
 * and accepting new ones: back-pressure while a later stage catches up.
 * While paused the kernel buffers, then drops (counted as kernel drops for
 * UDP; TCP senders are slowed by the window). Idempotent. */
void listen_set_paused(struct listen *l, int paused);

/* Stops accepting: closes listening sockets; open TCP connections are
 * drained of complete messages and closed. */
void listen_stop(struct listen *l);

/* Frees everything; listen_free(NULL) is a no-op. */
void listen_free(struct listen *l);

#endif
