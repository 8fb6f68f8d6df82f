/* SPDX-License-Identifier: ISC */
/* tls: TLS contexts and peer checks (RFC 5425), the only module that
 * includes OpenSSL and <event2/bufferevent_ssl.h>.
 *
 * A server context holds the listener's certificate, key, CAs and the
 * tls_peers list; it is rebuilt from the files on SIGHUP and replaced only
 * when the new one is whole, so established connections (which keep a
 * reference to the context they started with) are never dropped. TLS 1.2
 * is the minimum in both directions.
 *
 * A client context verifies an https:// webhook or a tcp+tls:// syslog sink
 * against a CA file (or the system's CAs) and the host name.
 */
#ifndef KW_TLS_H
#define KW_TLS_H

#include <stddef.h>

#include "cfg.h"

struct bufferevent;
struct event_base;
struct tls_server;
struct tls_client;

/* Why a TLS connection ended before it could be read. */
enum tls_cause {
    TLS_OK = 0,
    /* tls_handshake_failed */
    TLS_FAIL_PROTOCOL,  /* TLS older than 1.2, no shared cipher, or not TLS at all */
    TLS_FAIL_TIMEOUT,   /* the handshake took longer than tls_handshake_timeout */
    TLS_FAIL_CLOSED,    /* the peer closed during the handshake */
    TLS_FAIL_OTHER,
    /* tls_peer_rejected */
    TLS_REJECT_NO_CERT,   /* no certificate where one is required (or tls_peers is set) */
    TLS_REJECT_UNTRUSTED, /* not signed by tls_ca (and not a pinned fingerprint) */
    TLS_REJECT_EXPIRED,   /* expired or not yet valid */
    TLS_REJECT_NAME,      /* verified, but neither a name nor the fingerprint is in tls_peers */
    TLS_CAUSE_COUNT
};

/* True for the causes counted as tls_peer_rejected. */
int tls_cause_is_reject(enum tls_cause c);

/* The cause's label in counters ("protocol", "timeout", "no_certificate", …). */
const char *tls_cause_name(enum tls_cause c);

/* What a server context is made of: the TLS listener's keys ([listen]
 * tls_cert, tls_key, tls_ca, tls_verify, tls_peers) or the HTTPS listener's
 * ([http] tls_cert, tls_key, tls_ca, tls_verify, each defaulting to the
 * [listen] key of the same name; no peer list). Pointers borrow from cfg. */
struct tls_server_opts {
    const char *section; /* "listen" or "http": names the keys in messages */
    const char *cert, *key, *ca;
    enum cfg_tls_verify verify;
    char *const *peers;
    size_t n_peers;
};
struct tls_server_opts tls_opts_listen(const struct cfg *cfg);
struct tls_server_opts tls_opts_http(const struct cfg *cfg);

/* Reads cert, key (which must match the certificate) and ca of o into a new
 * server context. Returns 0 and sets *out, or -1 with a sentence saying
 * which file is wrong and why in err. */
int tls_server_new(const struct tls_server_opts *o, struct tls_server **out, char *err, size_t errsize);

/* Re-reads the files of o. On success the new context serves connections
 * accepted from now on and 0 is returned; on failure the old one stays and
 * -1 is returned with the reason in err. */
int tls_server_reload(struct tls_server *t, const struct tls_server_opts *o, char *err, size_t errsize);

/* tls_server_free(NULL) is a no-op. Connections still open keep working. */
void tls_server_free(struct tls_server *t);

/* A server-side TLS bufferevent over the accepted socket fd, its handshake
 * started (non-blocking). The bufferevent owns fd (closed when freed).
 * Returns NULL when memory is short (fd is then still the caller's). */
struct bufferevent *tls_server_accept(struct tls_server *t, struct event_base *base, int fd);

/* A server-side TLS bufferevent without a socket yet (evhttp_set_bevcb:
 * evhttp gives it the accepted socket and the handshake then starts).
 * Returns NULL when memory is short. */
struct bufferevent *tls_server_bev(struct tls_server *t, struct event_base *base);

/* After a failed handshake (BEV_EVENT_ERROR before BEV_EVENT_CONNECTED):
 * the cause, and in why a short text for the log (certificate subject and
 * OpenSSL's reason; bytes outside printable ASCII escaped). Clears the
 * bufferevent's OpenSSL error queue. */
enum tls_cause tls_handshake_cause(struct bufferevent *bev, char *why, size_t whysize);

/* After BEV_EVENT_CONNECTED: the peer is accepted when tls_peers allows it
 * (chain and names were checked during the handshake; this catches a peer
 * without a certificate when tls_peers is set). Fills name with the peer's
 * certificate name (first dNSName, else the subject CN; "" without a
 * certificate; only [A-Za-z0-9.*_-] kept, anything else as '?') and proto
 * with the protocol and cipher. Returns TLS_OK or TLS_REJECT_NO_CERT. */
enum tls_cause tls_server_peer(struct tls_server *t, struct bufferevent *bev, char *name, size_t namesize,
                               char *proto, size_t protosize);

/* Matches a configured name (may start with "*.") against a certificate's
 * dNSName (may start with "*."), as RFC 5425 section 5.2 describes: case
 * insensitive, a wildcard stands for exactly one whole left-most label.
 * Returns 1 on a match. Exposed for the unit test. */
int tls_name_match(const char *pattern, const char *name);

/* A client context: CAs from ca_file (NULL = the system's default paths),
 * optional client certificate and key (key_file NULL = in cert_file).
 * Returns 0 or -1 with the reason in err. */
int tls_client_new(const char *ca_file, const char *cert_file, const char *key_file, struct tls_client **out,
                   char *err, size_t errsize);
void tls_client_free(struct tls_client *c);

/* A client-side TLS bufferevent for a new connection to host (SNI and
 * certificate host-name/IP verification set), socket not yet connected: use
 * bufferevent_socket_connect*() on it. Returns NULL when memory is short. */
struct bufferevent *tls_client_bev(struct tls_client *c, struct event_base *base, const char *host);

/* After an error on a client bufferevent: the verification or OpenSSL
 * reason as text (certificate verify failed: …), "" when none. */
const char *tls_client_error(struct bufferevent *bev, char *buf, size_t size);

/* Checks that the files of a [listen] tls and an [http] tls configuration
 * load and match (kexwatchd -t). Returns 0 or -1 with err. */
int tls_check_cfg(const struct cfg *cfg, char *err, size_t errsize);

#endif
