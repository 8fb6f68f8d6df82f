/* SPDX-License-Identifier: ISC */
/* libFuzzer harness for the TLS listener's framing path: the bytes a sender
 * writes inside TLS, through the daemon's own listener code (listen.c:
 * accept, tls.c's server bufferevent and handshake, the peer check, the read
 * callback, the framer, the end-of-stream handling) over a real TLS session.
 *
 * The listener is listen.c adopting a listening AF_UNIX stream socket as a
 * TLS socket (LISTEN_TLS, as systemd socket activation hands one over); the
 * certificate and key are made in memory at start. For each input the
 * harness connects as an OpenSSL client in the same thread, drives the
 * handshake by turning the event loop, writes the input as TLS records cut
 * where byte 0 says, closes (with or without close_notify, byte 1), and
 * turns the loop until the daemon has closed the connection. Oracle: the
 * messages delivered must be exactly those the plain framer (frame.h) makes
 * of the same bytes fed whole: same count, lengths and contents, and every
 * one marked as TLS. After the first full handshake the client resumes the
 * TLS 1.2 session, so most inputs cost no key exchange.
 *
 * Build: make fuzzers (configure --enable-fuzzing CC=clang)
 * Seeds: tests/fuzz/corpus/tls/
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <event2/event.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "cfg.h"
#include "frame.h"
#include "listen.h"
#include "log.h"
#include "msg.h"
#include "stats.h"

#define FUZZ_NAME "fuzz_tls"
#include "fuzzcheck.h"

#define MAX_MESSAGE 2048 /* [listen] max_message: small, so truncation is reached */
#define SPIN_MAX 200000  /* loop turns allowed for one input (a stuck path aborts) */

static struct event_base *g_base;
static struct cfg *g_cfg;
static struct listen *g_listen;
static SSL_CTX *g_client;
static SSL_SESSION *g_session;
static char g_path[108];
static char g_dir[64];

/* what one path delivered: count, bytes and a chained hash */
struct digest {
    uint64_t n, bytes, hash;
    int not_tls;
};
static struct digest g_got;

static void add(struct digest *d, const char *p, size_t len)
{
    uint64_t h = d->hash ^ len;
    for (size_t i = 0; i < len; i++)
        h = (h ^ (unsigned char)p[i]) * UINT64_C(1099511628211);
    d->hash = h * UINT64_C(1099511628211);
    d->n++;
    d->bytes += len;
}

static void on_msg(void *arg, const struct msg *m)
{
    (void)arg;
    CHECK(m->len > 0 && m->len <= MAX_MESSAGE);
    g_got.not_tls |= m->transport != MSG_TLS;
    add(&g_got, m->data, m->len);
}

static int on_frame(void *arg, const char *p, size_t len)
{
    add(arg, p, len);
    return 0;
}

static void write_file(const char *path, int (*fn)(FILE *, void *), void *obj)
{
    FILE *f = fopen(path, "w");
    CHECK(f && fn(f, obj) == 1 && fclose(f) == 0);
}

static int write_key(FILE *f, void *k)
{
    return PEM_write_PrivateKey(f, k, NULL, NULL, 0, NULL, NULL);
}

static int write_cert(FILE *f, void *x)
{
    return PEM_write_X509(f, x);
}

/* a self-signed P-256 certificate and its key, written to DIR */
static void make_cert(const char *cert, const char *key)
{
    EVP_PKEY *pk = EVP_EC_gen("P-256");
    X509 *x = X509_new();
    CHECK(pk && x);
    ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
    X509_gmtime_adj(X509_getm_notBefore(x), -3600);
    X509_gmtime_adj(X509_getm_notAfter(x), 3600L * 24 * 365);
    X509_set_pubkey(x, pk);
    X509_NAME *n = X509_get_subject_name(x);
    X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, (const unsigned char *)"fuzz.example.net", -1, -1, 0);
    X509_set_issuer_name(x, n);
    CHECK(X509_sign(x, pk, EVP_sha256()) > 0);
    write_file(cert, write_cert, x);
    write_file(key, write_key, pk);
    X509_free(x);
    EVP_PKEY_free(pk);
}

static void cleanup(void)
{
    char p[128];
    const char *files[] = {"cert.pem", "key.pem", "kexwatch.conf"};
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        snprintf(p, sizeof p, "%s/%s", g_dir, files[i]);
        unlink(p);
    }
    unlink(g_path);
    rmdir(g_dir);
}

static void init(void)
{
    log_set_level(LOG_LV_ERROR);
    snprintf(g_dir, sizeof g_dir, "/tmp/fuzz_tls.XXXXXX");
    CHECK(mkdtemp(g_dir) != NULL);
    atexit(cleanup);
    char cert[128], key[128], conf[128];
    snprintf(cert, sizeof cert, "%s/cert.pem", g_dir);
    snprintf(key, sizeof key, "%s/key.pem", g_dir);
    snprintf(conf, sizeof conf, "%s/kexwatch.conf", g_dir);
    make_cert(cert, key);
    FILE *f = fopen(conf, "w");
    CHECK(f);
    fprintf(f,
            "[listen]\ntls_cert = %s\ntls_key = %s\ntls_verify = none\nmax_message = %d\n"
            "tls_handshake_timeout = 30s\n[store]\ndatabase = %s/unused.db\n",
            cert, key, MAX_MESSAGE, g_dir);
    CHECK(fclose(f) == 0);
    struct cfg_errors errs = {0};
    if (cfg_load(conf, &g_cfg, &errs) < 0) {
        for (size_t i = 0; i < errs.n; i++)
            fprintf(stderr, "fuzz_tls: %s\n", errs.msgs[i]);
        abort();
    }
    cfg_errors_free(&errs);

    g_base = event_base_new();
    g_listen = g_base ? listen_new(g_base, g_cfg, on_msg, NULL) : NULL;
    CHECK(g_listen);
    int lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    CHECK(lfd >= 0);
    struct sockaddr_un sun = {.sun_family = AF_UNIX};
    snprintf(g_path, sizeof g_path, "%s/tls.sock", g_dir);
    snprintf(sun.sun_path, sizeof sun.sun_path, "%s", g_path);
    CHECK(bind(lfd, (struct sockaddr *)&sun, sizeof sun) == 0 && listen(lfd, 16) == 0);
    CHECK(listen_adopt_fd(g_listen, lfd, LISTEN_TLS) == 0);

    g_client = SSL_CTX_new(TLS_client_method());
    CHECK(g_client);
    SSL_CTX_set_verify(g_client, SSL_VERIFY_NONE, NULL);
    /* 1.2: the server issues no TLS 1.3 tickets, but resumes 1.2 sessions by id */
    SSL_CTX_set_max_proto_version(g_client, TLS1_2_VERSION);
    SSL_CTX_set_session_cache_mode(g_client, SSL_SESS_CACHE_OFF);
}

static void turn(void)
{
    event_base_loop(g_base, EVLOOP_NONBLOCK);
}

/* one TLS connection carrying in[0..n), cut into records as seed says */
static void send_over_tls(const uint8_t *in, size_t n, uint32_t seed, int notify)
{
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    CHECK(fd >= 0);
    struct sockaddr_un sun = {.sun_family = AF_UNIX};
    snprintf(sun.sun_path, sizeof sun.sun_path, "%s", g_path);
    CHECK(connect(fd, (struct sockaddr *)&sun, sizeof sun) == 0);
    int big = 4 << 20;
    setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &big, sizeof big);
    CHECK(fcntl(fd, F_SETFL, O_NONBLOCK) == 0);
    SSL *ssl = SSL_new(g_client);
    CHECK(ssl && SSL_set_fd(ssl, fd) == 1);
    if (g_session)
        SSL_set_session(ssl, g_session);
    int spins = 0, rc;
    while ((rc = SSL_connect(ssl)) != 1) {
        int e = SSL_get_error(ssl, rc);
        CHECK(e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE);
        turn();
        CHECK(++spins < SPIN_MAX);
    }
    if (!g_session)
        g_session = SSL_get1_session(ssl);
    /* the records: mostly short, sometimes long, seed 0 one byte each */
    for (size_t pos = 0; pos < n;) {
        size_t len = 1;
        if (seed != 0) {
            seed = seed * 1664525u + 1013904223u;
            len = (seed >> 24) % 4 == 0 ? 1 + (seed >> 8) % 16384 : 1 + (seed >> 8) % 64;
        }
        if (len > n - pos)
            len = n - pos;
        while ((rc = SSL_write(ssl, in + pos, (int)len)) <= 0) {
            int e = SSL_get_error(ssl, rc);
            CHECK(e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE);
            turn();
            CHECK(++spins < SPIN_MAX);
        }
        pos += (size_t)rc;
        if (seed % 3 == 0)
            turn(); /* sometimes the daemon reads between records */
    }
    if (notify)
        SSL_shutdown(ssl); /* close_notify; devices often just close */
    SSL_free(ssl);
    close(fd);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!g_base)
        init();
    if (size < 2)
        return 0;
    const uint8_t *in = data + 2;
    size_t n = size - 2;

    /* the expected messages: the framer fed the same bytes whole */
    struct digest want = {0};
    struct framer *f = framer_new(MAX_MESSAGE);
    CHECK(f);
    CHECK(framer_feed(f, (const char *)in, n, on_frame, &want) == 0);
    CHECK(framer_finish(f, on_frame, &want) == 0);
    framer_free(f);

    memset(&g_got, 0, sizeof g_got);
    uint64_t closed = g_stats.tcp_closed, handshakes = g_stats.tls_handshakes;
    send_over_tls(in, n, data[0], data[1] & 1);
    /* until the daemon has read to the end and closed the connection */
    for (int spins = 0; g_stats.tcp_closed == closed; spins++) {
        CHECK(spins < SPIN_MAX);
        turn();
    }
    CHECK(g_stats.tls_handshakes == handshakes + 1);
    CHECK(g_stats.tcp_open == 0);
    CHECK(!g_got.not_tls);
    if (g_got.n != want.n || g_got.bytes != want.bytes || g_got.hash != want.hash) {
        fprintf(stderr, "fuzz_tls: over TLS %llu messages (%llu bytes), the framer alone %llu (%llu bytes)\n",
                (unsigned long long)g_got.n, (unsigned long long)g_got.bytes, (unsigned long long)want.n,
                (unsigned long long)want.bytes);
        abort();
    }
    return 0;
}
