/* SPDX-License-Identifier: ISC */
/* libFuzzer harness for the decoding of an HTTP Authorization header
 * (daemon/httpauth.c: httpauth_decode, what httpauth_check runs on every
 * received header before any hash): the scheme, the base64 token and the
 * NAME:PASSWORD split.
 *
 * Input: the header value as received (any bytes; cut at the first NUL as
 * evhttp hands it over). Checks, besides the sanitizers:
 * - an accepted header agrees with a plain reference decoder written here
 *   (RFC 4648 alphabet, '=' only at the end, the first ':' splits);
 * - the name has no ':', neither part holds a NUL, both fit their bounds;
 * - re-encoding the decoded NAME:PASSWORD as "Basic " + base64 decodes to
 *   the same name and password (round trip);
 * - a header the reference decoder accepts within the bounds is accepted.
 *
 * Build: `make fuzzers` (configure CC=clang --enable-fuzzing)
 * Seeds: tests/fuzz/corpus/httpauth/
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "httpauth.h"

#define FUZZ_NAME "fuzz_httpauth"
#include "fuzzcheck.h"

enum { NAME_MAX_ = 64, PASSWORD_MAX_ = 256 };

static const char B64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* The reference: returns the decoded length, or -1. Slow and plain. */
static long ref_b64(const char *in, size_t n, unsigned char *out, size_t outsize)
{
    size_t end = n;
    while (end > 0 && in[end - 1] == '=')
        end--;
    unsigned long acc = 0;
    int bits = 0;
    size_t o = 0;
    for (size_t i = 0; i < end; i++) {
        const char *p = in[i] ? strchr(B64, in[i]) : NULL;
        if (!p)
            return -1;
        acc = (acc << 6) | (unsigned long)(p - B64);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            if (o >= outsize)
                return -1;
            out[o++] = (unsigned char)((acc >> bits) & 0xff);
        }
    }
    return (long)o;
}

/* Reference for the whole header: 1 and name/password, 0 when refused. */
static int ref_decode(const char *h, char *name, char *password)
{
    while (*h == ' ')
        h++;
    if (strncasecmp(h, "Basic ", 6) != 0)
        return 0;
    h += 6;
    while (*h == ' ')
        h++;
    size_t tl = strcspn(h, " ");
    if (tl > HTTPAUTH_TOKEN_MAX)
        return 0; /* the documented bound */
    for (const char *t = h + tl; *t; t++)
        if (*t != ' ')
            return 0;
    unsigned char cred[NAME_MAX_ + 1 + PASSWORD_MAX_ + 1];
    long n = ref_b64(h, tl, cred, sizeof cred);
    if (n < 0 || memchr(cred, 0, (size_t)n))
        return 0;
    unsigned char *colon = memchr(cred, ':', (size_t)n);
    if (!colon || colon - cred > NAME_MAX_ || n - (colon - cred) - 1 > PASSWORD_MAX_)
        return 0;
    memcpy(name, cred, (size_t)(colon - cred));
    name[colon - cred] = '\0';
    memcpy(password, colon + 1, (size_t)(n - (colon - cred) - 1));
    password[n - (colon - cred) - 1] = '\0';
    return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *h = malloc(size + 1);
    if (!h)
        return 0;
    memcpy(h, data, size);
    h[size] = '\0';
    char name[NAME_MAX_ + 1], password[PASSWORD_MAX_ + 1];
    int rc = httpauth_decode(h, name, sizeof name, password, sizeof password);
    char rn[NAME_MAX_ + 1], rp[PASSWORD_MAX_ + 1];
    int ref = ref_decode(h, rn, rp);
    if (rc == 0) {
        CHECK(strlen(name) <= NAME_MAX_ && strlen(password) <= PASSWORD_MAX_);
        CHECK(!strchr(name, ':'));
        CHECK(ref == 1 && strcmp(name, rn) == 0 && strcmp(password, rp) == 0);
        /* round trip */
        char cred[NAME_MAX_ + 1 + PASSWORD_MAX_ + 1];
        size_t cl = (size_t)snprintf(cred, sizeof cred, "%s:%s", name, password);
        char enc[6 + 4 * (sizeof cred / 3 + 1) + 1] = "Basic ";
        size_t o = 6;
        for (size_t i = 0; i < cl; i += 3) {
            unsigned long v = (unsigned long)(unsigned char)cred[i] << 16;
            if (i + 1 < cl)
                v |= (unsigned long)(unsigned char)cred[i + 1] << 8;
            if (i + 2 < cl)
                v |= (unsigned char)cred[i + 2];
            enc[o++] = B64[(v >> 18) & 63];
            enc[o++] = B64[(v >> 12) & 63];
            enc[o++] = i + 1 < cl ? B64[(v >> 6) & 63] : '=';
            enc[o++] = i + 2 < cl ? B64[v & 63] : '=';
        }
        enc[o] = '\0';
        char n2[NAME_MAX_ + 1], p2[PASSWORD_MAX_ + 1];
        CHECK(httpauth_decode(enc, n2, sizeof n2, p2, sizeof p2) == 0);
        CHECK(strcmp(n2, name) == 0 && strcmp(p2, password) == 0);
    } else {
        CHECK(rc == -1);
        CHECK(name[0] == '\0' && password[0] == '\0');
        CHECK(ref == 0);
    }
    free(h);
    return 0;
}
