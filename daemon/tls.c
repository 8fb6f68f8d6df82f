/* SPDX-License-Identifier: ISC */
#include "config.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>

#include "log.h"
#include "tls.h"

/* tls_peers as the verify callback needs it; owned by the SSL_CTX (ex_data),
 * so a context replaced on SIGHUP keeps its own list while connections that
 * started with it are open */
struct peers {
    char **names;
    size_t n_names;
    unsigned char (*fp)[32];
    size_t n_fp;
};

struct tls_server {
    SSL_CTX *ctx;
};

struct tls_client {
    SSL_CTX *ctx;
};

static int ctx_peers_idx = -1; /* SSL_CTX ex_data: struct peers */
static int ssl_note_idx = -1;  /* SSL ex_data: malloc'd text of the verification failure */

static void peers_free(struct peers *p)
{
    if (!p)
        return;
    for (size_t i = 0; i < p->n_names; i++)
        free(p->names[i]);
    free(p->names);
    free(p->fp);
    free(p);
}

static void peers_free_cb(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx, long argl, void *argp)
{
    (void)parent;
    (void)ad;
    (void)idx;
    (void)argl;
    (void)argp;
    peers_free(ptr);
}

static void note_free_cb(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx, long argl, void *argp)
{
    (void)parent;
    (void)ad;
    (void)idx;
    (void)argl;
    (void)argp;
    free(ptr);
}

static int init_indexes(void)
{
    if (ctx_peers_idx < 0)
        ctx_peers_idx = SSL_CTX_get_ex_new_index(0, NULL, NULL, NULL, peers_free_cb);
    if (ssl_note_idx < 0)
        ssl_note_idx = SSL_get_ex_new_index(0, NULL, NULL, NULL, note_free_cb);
    return ctx_peers_idx >= 0 && ssl_note_idx >= 0 ? 0 : -1;
}

/* OpenSSL's queued errors as one line (the queue is emptied) */
static void ssl_errors(char *buf, size_t size)
{
    size_t off = 0;
    unsigned long e;
    buf[0] = '\0';
    while ((e = ERR_get_error()) != 0) {
        char one[256];
        ERR_error_string_n(e, one, sizeof one);
        if (off < size)
            off += (size_t)snprintf(buf + off, size - off, "%s%s", off ? "; " : "", one);
    }
    if (!buf[0])
        snprintf(buf, size, "no detail from OpenSSL");
}

/* printable ASCII kept, anything else as \xHH (certificate text comes from the peer) */
static void escape(char *dst, size_t size, const char *src, size_t len)
{
    size_t o = 0;
    for (size_t i = 0; i < len && o + 5 < size; i++) {
        unsigned char ch = (unsigned char)src[i];
        if (ch >= 0x20 && ch < 0x7f && ch != '\\')
            dst[o++] = (char)ch;
        else
            o += (size_t)snprintf(dst + o, size - o, "\\x%02x", ch);
    }
    dst[o] = '\0';
}

static void subject_text(X509 *x, char *buf, size_t size)
{
    char raw[256] = "";
    if (x)
        X509_NAME_oneline(X509_get_subject_name(x), raw, sizeof raw);
    escape(buf, size, raw, strlen(raw));
}

const char *tls_cause_name(enum tls_cause c)
{
    switch (c) {
    case TLS_OK: return "ok";
    case TLS_FAIL_PROTOCOL: return "protocol";
    case TLS_FAIL_TIMEOUT: return "timeout";
    case TLS_FAIL_CLOSED: return "closed";
    case TLS_FAIL_OTHER: return "other";
    case TLS_REJECT_NO_CERT: return "no_certificate";
    case TLS_REJECT_UNTRUSTED: return "untrusted";
    case TLS_REJECT_EXPIRED: return "expired";
    case TLS_REJECT_NAME: return "name";
    case TLS_CAUSE_COUNT: break;
    }
    return "other";
}

int tls_cause_is_reject(enum tls_cause c)
{
    return c >= TLS_REJECT_NO_CERT && c < TLS_CAUSE_COUNT;
}

/* ------------------------------------------------------------ names */

static int label_len(const char *s)
{
    const char *dot = strchr(s, '.');
    return dot ? (int)(dot - s) : (int)strlen(s);
}

/* "*.b.c" against "a.b.c": the wildcard is one whole non-empty label */
static int wild_match(const char *wild, const char *name)
{
    const char *suffix = wild + 1; /* ".b.c" */
    if (name[0] == '*')
        return 0;
    int l = label_len(name);
    if (l == 0 || name[l] != '.')
        return 0;
    return strcasecmp(name + l, suffix) == 0;
}

int tls_name_match(const char *pattern, const char *name)
{
    if (!*pattern || !*name)
        return 0;
    if (strcasecmp(pattern, name) == 0)
        return 1;
    if (pattern[0] == '*' && pattern[1] == '.')
        return wild_match(pattern, name);
    if (name[0] == '*' && name[1] == '.')
        return wild_match(name, pattern);
    return 0;
}

/* the certificate's dNSNames, else its subject CN (RFC 5425 section 5.2);
 * calls fn until it returns nonzero; returns that value or 0 */
static int each_name(X509 *x, int (*fn)(void *arg, const char *name), void *arg)
{
    int rc = 0, any = 0;
    GENERAL_NAMES *gens = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
    for (int i = 0; gens && i < sk_GENERAL_NAME_num(gens) && !rc; i++) {
        const GENERAL_NAME *g = sk_GENERAL_NAME_value(gens, i);
        if (g->type != GEN_DNS)
            continue;
        any = 1;
        const unsigned char *d = ASN1_STRING_get0_data(g->d.dNSName);
        int len = ASN1_STRING_length(g->d.dNSName);
        char buf[256];
        if (len <= 0 || (size_t)len >= sizeof buf || memchr(d, 0, (size_t)len))
            continue; /* an embedded NUL is an attack, not a name */
        memcpy(buf, d, (size_t)len);
        buf[len] = '\0';
        rc = fn(arg, buf);
    }
    GENERAL_NAMES_free(gens);
    if (!any && !rc) {
        char cn[256];
        int len = X509_NAME_get_text_by_NID(X509_get_subject_name(x), NID_commonName, cn, sizeof cn);
        if (len > 0 && (size_t)len == strlen(cn))
            rc = fn(arg, cn);
    }
    return rc;
}

static int name_allowed(void *arg, const char *name)
{
    const struct peers *p = arg;
    for (size_t i = 0; i < p->n_names; i++)
        if (tls_name_match(p->names[i], name))
            return 1;
    return 0;
}

static int first_name(void *arg, const char *name)
{
    char **out = arg;
    *out = strdup(name);
    return 1;
}

static int fp_pinned(const struct peers *p, X509 *x)
{
    if (!p->n_fp)
        return 0;
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned len = 0;
    if (!X509_digest(x, EVP_sha256(), md, &len) || len != 32)
        return 0;
    for (size_t i = 0; i < p->n_fp; i++)
        if (memcmp(p->fp[i], md, 32) == 0)
            return 1;
    return 0;
}

static void set_note(SSL *ssl, int err, X509 *x)
{
    char subj[300], *note = malloc(512);
    if (!note)
        return;
    subject_text(x, subj, sizeof subj);
    snprintf(note, 512, "%s (certificate %s)",
             err == X509_V_ERR_APPLICATION_VERIFICATION ? "no name or fingerprint of the certificate is in tls_peers"
                                                         : X509_verify_cert_error_string(err),
             subj);
    SSL_set_ex_data(ssl, ssl_note_idx, note); /* the free callback does not run on replace */
}

/* Chain errors are OpenSSL's; a pinned fingerprint is trusted by itself;
 * at the leaf, tls_peers decides. */
static int verify_cb(int ok, X509_STORE_CTX *xs)
{
    SSL *ssl = X509_STORE_CTX_get_ex_data(xs, SSL_get_ex_data_X509_STORE_CTX_idx());
    const struct peers *p = ssl ? SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl), ctx_peers_idx) : NULL;
    X509 *leaf = X509_STORE_CTX_get0_cert(xs);
    if (p && leaf && fp_pinned(p, leaf)) {
        X509_STORE_CTX_set_error(xs, X509_V_OK);
        return 1;
    }
    if (!ok) {
        if (ssl && !SSL_get_ex_data(ssl, ssl_note_idx))
            set_note(ssl, X509_STORE_CTX_get_error(xs), X509_STORE_CTX_get_current_cert(xs));
        return 0;
    }
    if (X509_STORE_CTX_get_error_depth(xs) != 0 || !p || (!p->n_names && !p->n_fp))
        return 1;
    if (leaf && p->n_names && each_name(leaf, name_allowed, (void *)p))
        return 1;
    X509_STORE_CTX_set_error(xs, X509_V_ERR_APPLICATION_VERIFICATION);
    if (ssl && !SSL_get_ex_data(ssl, ssl_note_idx))
        set_note(ssl, X509_V_ERR_APPLICATION_VERIFICATION, leaf);
    return 0;
}

static int parse_fp(const char *text, unsigned char out[32])
{
    size_t n = 0;
    int hi = -1;
    for (const char *s = text + 7; *s; s++) {
        if (*s == ':')
            continue;
        if (!isxdigit((unsigned char)*s))
            return -1;
        int v = isdigit((unsigned char)*s) ? *s - '0' : tolower((unsigned char)*s) - 'a' + 10;
        if (hi < 0) {
            hi = v;
        } else {
            if (n >= 32)
                return -1;
            out[n++] = (unsigned char)(hi << 4 | v);
            hi = -1;
        }
    }
    return n == 32 && hi < 0 ? 0 : -1;
}

static struct peers *peers_new(const struct tls_server_opts *o)
{
    struct peers *p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    size_t n = o->n_peers;
    p->names = calloc(n ? n : 1, sizeof *p->names);
    p->fp = calloc(n ? n : 1, sizeof *p->fp);
    if (!p->names || !p->fp) {
        peers_free(p);
        return NULL;
    }
    for (size_t i = 0; i < n; i++) {
        const char *e = o->peers[i];
        if (strncasecmp(e, "sha256:", 7) == 0) {
            if (parse_fp(e, p->fp[p->n_fp]) == 0)
                p->n_fp++;
        } else if (!(p->names[p->n_names++] = strdup(e))) {
            peers_free(p);
            return NULL;
        }
    }
    return p;
}

/* ------------------------------------------------------------ server */

static SSL_CTX *server_ctx(const struct tls_server_opts *o, char *err, size_t errsize)
{
    char why[512];
    if (init_indexes() < 0) {
        snprintf(err, errsize, "TLS: OpenSSL could not be initialised");
        return NULL;
    }
    ERR_clear_error();
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    if (!ctx) {
        ssl_errors(why, sizeof why);
        snprintf(err, errsize, "TLS: cannot create a context: %s", why);
        return NULL;
    }
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    /* devices close without close_notify: that is the end of the stream
     * (libevent 2.1's dirty-shutdown flag predates OpenSSL 3's error for it) */
    SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_NO_COMPRESSION |
                                 SSL_OP_IGNORE_UNEXPECTED_EOF);
    SSL_CTX_set_session_id_context(ctx, (const unsigned char *)"kexwatchd", 9);
    SSL_CTX_set_num_tickets(ctx, 0);
    if (SSL_CTX_use_certificate_chain_file(ctx, o->cert) != 1) {
        ssl_errors(why, sizeof why);
        snprintf(err, errsize,
                 "[%s] tls_cert %s cannot be read as a PEM certificate chain (%s); check the path, its "
                 "permissions for the daemon's user, and that it holds -----BEGIN CERTIFICATE----- blocks",
                 o->section, o->cert, why);
        goto fail;
    }
    if (SSL_CTX_use_PrivateKey_file(ctx, o->key, SSL_FILETYPE_PEM) != 1) {
        if (ERR_GET_REASON(ERR_peek_last_error()) == X509_R_KEY_VALUES_MISMATCH) {
            ERR_clear_error();
            snprintf(err, errsize,
                     "[%s] tls_key %s does not belong to the certificate in tls_cert %s; install the key the "
                     "certificate was issued for",
                     o->section, o->key, o->cert);
            goto fail;
        }
        ssl_errors(why, sizeof why);
        snprintf(err, errsize,
                 "[%s] tls_key %s cannot be read as a PEM private key (%s); check the path, its permissions "
                 "for the daemon's user, and that it is not encrypted with a passphrase",
                 o->section, o->key, why);
        goto fail;
    }
    if (SSL_CTX_check_private_key(ctx) != 1) {
        ERR_clear_error();
        snprintf(err, errsize,
                 "[%s] tls_key %s does not belong to the certificate in tls_cert %s; install the key the "
                 "certificate was issued for",
                 o->section, o->key, o->cert);
        goto fail;
    }
    X509 *own = SSL_CTX_get0_certificate(ctx);
    if (own && X509_cmp_current_time(X509_get0_notAfter(own)) < 0) {
        char subj[300];
        subject_text(own, subj, sizeof subj);
        log_warning("[%s] tls_cert %s (%s) has expired: senders that verify it will refuse to connect; "
                    "renew it and send SIGHUP",
                    o->section, o->cert, subj);
    }
    if (o->ca) {
        if (SSL_CTX_load_verify_locations(ctx, o->ca, NULL) != 1) {
            ssl_errors(why, sizeof why);
            snprintf(err, errsize,
                     "[%s] tls_ca %s cannot be read as PEM CA certificates (%s); check the path and its "
                     "permissions",
                     o->section, o->ca, why);
            goto fail;
        }
        STACK_OF(X509_NAME) *names = SSL_load_client_CA_file(o->ca);
        if (names)
            SSL_CTX_set_client_CA_list(ctx, names);
        ERR_clear_error();
    }
    int mode = o->verify == CFG_TLS_VERIFY_NONE       ? SSL_VERIFY_NONE
               : o->verify == CFG_TLS_VERIFY_OPTIONAL ? SSL_VERIFY_PEER
                                                            : SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT;
    SSL_CTX_set_verify(ctx, mode, verify_cb);
    struct peers *p = peers_new(o);
    if (!p || !SSL_CTX_set_ex_data(ctx, ctx_peers_idx, p)) {
        peers_free(p);
        snprintf(err, errsize, "TLS: out of memory");
        goto fail;
    }
    return ctx;
fail:
    SSL_CTX_free(ctx);
    return NULL;
}

struct tls_server_opts tls_opts_listen(const struct cfg *cfg)
{
    return (struct tls_server_opts){.section = "listen", .cert = cfg->tls_cert, .key = cfg->tls_key,
                                    .ca = cfg->tls_ca, .verify = cfg->tls_verify, .peers = cfg->tls_peers,
                                    .n_peers = cfg->n_tls_peers};
}

struct tls_server_opts tls_opts_http(const struct cfg *cfg)
{
    return (struct tls_server_opts){.section = "http",
                                    .cert = cfg->http_tls_cert ? cfg->http_tls_cert : cfg->tls_cert,
                                    .key = cfg->http_tls_key ? cfg->http_tls_key : cfg->tls_key,
                                    .ca = cfg->http_tls_ca ? cfg->http_tls_ca : cfg->tls_ca,
                                    .verify = cfg->http_tls_verify};
}

int tls_server_new(const struct tls_server_opts *o, struct tls_server **out, char *err, size_t errsize)
{
    *out = NULL;
    struct tls_server *t = calloc(1, sizeof *t);
    if (!t) {
        snprintf(err, errsize, "TLS: out of memory");
        return -1;
    }
    if (!(t->ctx = server_ctx(o, err, errsize))) {
        free(t);
        return -1;
    }
    *out = t;
    return 0;
}

int tls_server_reload(struct tls_server *t, const struct tls_server_opts *o, char *err, size_t errsize)
{
    SSL_CTX *ctx = server_ctx(o, err, errsize);
    if (!ctx)
        return -1;
    SSL_CTX_free(t->ctx); /* open connections hold their own reference */
    t->ctx = ctx;
    return 0;
}

void tls_server_free(struct tls_server *t)
{
    if (!t)
        return;
    SSL_CTX_free(t->ctx);
    free(t);
}

struct bufferevent *tls_server_accept(struct tls_server *t, struct event_base *base, int fd)
{
    SSL *ssl = SSL_new(t->ctx);
    if (!ssl)
        return NULL;
    /* deferred callbacks: libevent 2.1 reports an end of stream read
     * together with the last records before it has handed those records
     * over; deferred, the read callback runs first */
    struct bufferevent *bev = bufferevent_openssl_socket_new(base, fd, ssl, BUFFEREVENT_SSL_ACCEPTING,
                                                             BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS);
    if (!bev)
        return NULL;
    /* devices close without close_notify: that is the end of the stream, not an error */
    bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
    return bev;
}

struct bufferevent *tls_server_bev(struct tls_server *t, struct event_base *base)
{
    SSL *ssl = SSL_new(t->ctx);
    if (!ssl)
        return NULL;
    struct bufferevent *bev =
        bufferevent_openssl_socket_new(base, -1, ssl, BUFFEREVENT_SSL_ACCEPTING, BEV_OPT_CLOSE_ON_FREE);
    if (!bev)
        return NULL;
    bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
    return bev;
}

enum tls_cause tls_handshake_cause(struct bufferevent *bev, char *why, size_t whysize)
{
    SSL *ssl = bufferevent_openssl_get_ssl(bev);
    unsigned long e, first = 0;
    int reason = 0;
    enum tls_cause cause = TLS_FAIL_OTHER;
    while ((e = bufferevent_get_openssl_error(bev)) != 0) {
        if (!first)
            first = e;
        if (ERR_GET_LIB(e) != ERR_LIB_SSL)
            continue;
        reason = ERR_GET_REASON(e);
        switch (reason) {
        case SSL_R_PEER_DID_NOT_RETURN_A_CERTIFICATE: cause = TLS_REJECT_NO_CERT; break;
        case SSL_R_CERTIFICATE_VERIFY_FAILED: {
            long vr = ssl ? SSL_get_verify_result(ssl) : X509_V_OK;
            cause = vr == X509_V_ERR_CERT_HAS_EXPIRED || vr == X509_V_ERR_CERT_NOT_YET_VALID ? TLS_REJECT_EXPIRED
                    : vr == X509_V_ERR_APPLICATION_VERIFICATION                                ? TLS_REJECT_NAME
                                                                                               : TLS_REJECT_UNTRUSTED;
            break;
        }
        case SSL_R_UNSUPPORTED_PROTOCOL:
        case SSL_R_WRONG_VERSION_NUMBER:
        case SSL_R_VERSION_TOO_LOW:
        case SSL_R_NO_SHARED_CIPHER:
        case SSL_R_NO_PROTOCOLS_AVAILABLE:
        case SSL_R_HTTP_REQUEST:
        case SSL_R_HTTPS_PROXY_REQUEST:
        case SSL_R_PACKET_LENGTH_TOO_LONG:
        case SSL_R_RECORD_LENGTH_MISMATCH:
        case SSL_R_UNEXPECTED_MESSAGE:
        case SSL_R_UNEXPECTED_RECORD:
        case SSL_R_BAD_PACKET_LENGTH:
        case SSL_R_LENGTH_MISMATCH:
        case SSL_R_NO_SHARED_SIGNATURE_ALGORITHMS: cause = TLS_FAIL_PROTOCOL; break;
        default: break;
        }
        if (cause != TLS_FAIL_OTHER)
            break;
    }
    while (bufferevent_get_openssl_error(bev) != 0)
        ;
    const char *note = ssl ? SSL_get_ex_data(ssl, ssl_note_idx) : NULL;
    if (cause == TLS_REJECT_NO_CERT)
        snprintf(why, whysize, "the sender sent no client certificate");
    else if (tls_cause_is_reject(cause) && note)
        snprintf(why, whysize, "%s", note);
    else if (first) {
        char one[256];
        ERR_error_string_n(first, one, sizeof one);
        snprintf(why, whysize, "%s", one);
    } else {
        cause = TLS_FAIL_CLOSED;
        snprintf(why, whysize, "the connection closed during the handshake");
    }
    return cause;
}

static void keep_name_chars(char *s)
{
    for (; *s; s++)
        if (!isalnum((unsigned char)*s) && *s != '.' && *s != '-' && *s != '_' && *s != '*')
            *s = '?';
}

enum tls_cause tls_server_peer(struct tls_server *t, struct bufferevent *bev, char *name, size_t namesize,
                               char *proto, size_t protosize)
{
    SSL *ssl = bufferevent_openssl_get_ssl(bev);
    name[0] = '\0';
    snprintf(proto, protosize, "%s %s", ssl ? SSL_get_version(ssl) : "?", ssl ? SSL_get_cipher_name(ssl) : "?");
    X509 *x = ssl ? SSL_get1_peer_certificate(ssl) : NULL;
    if (!x) {
        const struct peers *p = ssl ? SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl), ctx_peers_idx) : NULL;
        (void)t;
        return p && (p->n_names || p->n_fp) ? TLS_REJECT_NO_CERT : TLS_OK;
    }
    char *first = NULL;
    each_name(x, first_name, &first);
    if (first) {
        snprintf(name, namesize, "%s", first);
        keep_name_chars(name);
        free(first);
    }
    X509_free(x);
    return TLS_OK;
}

/* ------------------------------------------------------------ client */

int tls_client_new(const char *ca_file, const char *cert_file, const char *key_file, struct tls_client **out,
                   char *err, size_t errsize)
{
    char why[512];
    *out = NULL;
    if (init_indexes() < 0) {
        snprintf(err, errsize, "TLS: OpenSSL could not be initialised");
        return -1;
    }
    ERR_clear_error();
    struct tls_client *c = calloc(1, sizeof *c);
    if (!c || !(c->ctx = SSL_CTX_new(TLS_client_method()))) {
        free(c);
        snprintf(err, errsize, "TLS: cannot create a client context");
        return -1;
    }
    SSL_CTX_set_min_proto_version(c->ctx, TLS1_2_VERSION);
    SSL_CTX_set_verify(c->ctx, SSL_VERIFY_PEER, NULL);
    int ok = ca_file ? SSL_CTX_load_verify_locations(c->ctx, ca_file, NULL) : SSL_CTX_set_default_verify_paths(c->ctx);
    if (ok != 1) {
        ssl_errors(why, sizeof why);
        snprintf(err, errsize, "CA file %s cannot be read as PEM certificates (%s); check the path and permissions",
                 ca_file ? ca_file : "(system default)", why);
        goto fail;
    }
    if (cert_file) {
        const char *kf = key_file ? key_file : cert_file;
        if (SSL_CTX_use_certificate_chain_file(c->ctx, cert_file) != 1) {
            ssl_errors(why, sizeof why);
            snprintf(err, errsize, "client certificate %s cannot be read as PEM (%s)", cert_file, why);
            goto fail;
        }
        if (SSL_CTX_use_PrivateKey_file(c->ctx, kf, SSL_FILETYPE_PEM) != 1) {
            ssl_errors(why, sizeof why);
            snprintf(err, errsize, "client key %s cannot be read as an unencrypted PEM key (%s)", kf, why);
            goto fail;
        }
        if (SSL_CTX_check_private_key(c->ctx) != 1) {
            ERR_clear_error();
            snprintf(err, errsize, "client key %s does not belong to the certificate %s", kf, cert_file);
            goto fail;
        }
    }
    *out = c;
    return 0;
fail:
    tls_client_free(c);
    return -1;
}

void tls_client_free(struct tls_client *c)
{
    if (!c)
        return;
    SSL_CTX_free(c->ctx);
    free(c);
}

struct bufferevent *tls_client_bev(struct tls_client *c, struct event_base *base, const char *host)
{
    SSL *ssl = SSL_new(c->ctx);
    if (!ssl)
        return NULL;
    unsigned char ip[16];
    int is_ip = inet_pton(AF_INET, host, ip) == 1 || inet_pton(AF_INET6, host, ip) == 1;
    X509_VERIFY_PARAM *vp = SSL_get0_param(ssl);
    X509_VERIFY_PARAM_set_hostflags(vp, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
    if (is_ip) {
        X509_VERIFY_PARAM_set1_ip_asc(vp, host);
    } else {
        SSL_set_tlsext_host_name(ssl, host);
        SSL_set1_host(ssl, host);
    }
    struct bufferevent *bev = bufferevent_openssl_socket_new(base, -1, ssl, BUFFEREVENT_SSL_CONNECTING,
                                                             BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS);
    if (bev)
        bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
    return bev;
}

const char *tls_client_error(struct bufferevent *bev, char *buf, size_t size)
{
    SSL *ssl = bufferevent_openssl_get_ssl(bev);
    buf[0] = '\0';
    long vr = ssl ? SSL_get_verify_result(ssl) : X509_V_OK;
    unsigned long e, first = 0;
    while ((e = bufferevent_get_openssl_error(bev)) != 0)
        if (!first)
            first = e;
    if (vr != X509_V_OK) {
        snprintf(buf, size, "certificate verify failed: %s", X509_verify_cert_error_string(vr));
    } else if (first) {
        ERR_error_string_n(first, buf, size);
    }
    return buf;
}

int tls_check_cfg(const struct cfg *cfg, char *err, size_t errsize)
{
    struct tls_server *t = NULL;
    if (cfg->n_tls) {
        struct tls_server_opts o = tls_opts_listen(cfg);
        if (tls_server_new(&o, &t, err, errsize) < 0)
            return -1;
        tls_server_free(t);
    }
    if (cfg->http_tls) {
        struct tls_server_opts o = tls_opts_http(cfg);
        if (tls_server_new(&o, &t, err, errsize) < 0)
            return -1;
        tls_server_free(t);
    }
    return 0;
}
