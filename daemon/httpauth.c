/* SPDX-License-Identifier: ISC */
#include "config.h"

#include <crypt.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "httpauth.h"

#define MAX_USERS 256
#define MAX_NAME 64
#define MAX_PASSWORD 256

struct user {
    char *name;
    char *hash;
};

struct httpauth {
    struct user *users;
    size_t n;
    struct crypt_data *cd; /* crypt_rn's scratch (about 32 KiB) */
};

void httpauth_free(struct httpauth *a)
{
    if (!a)
        return;
    for (size_t i = 0; i < a->n; i++) {
        free(a->users[i].name);
        free(a->users[i].hash);
    }
    free(a->users);
    free(a->cd);
    free(a);
}

/* A hash crypt(3) can verify: hashing a word with it as the setting works. */
static bool hash_known(struct crypt_data *cd, const char *hash)
{
    const char *out = crypt_rn("x", hash, cd, (int)sizeof *cd);
    return out && out[0] != '*';
}

int httpauth_load(const char *path, struct httpauth **out, char *err, size_t errsize)
{
    *out = NULL;
    FILE *f = fopen(path, "re");
    if (!f) {
        snprintf(err, errsize, "%s: cannot read the [http] users file: %s; create it with lines NAME:HASH "
                 "(mkpasswd or openssl passwd -6)", path, strerror(errno));
        return -1;
    }
    struct httpauth *a = calloc(1, sizeof *a);
    if (!a || !(a->cd = calloc(1, sizeof *a->cd)) || !(a->users = calloc(MAX_USERS, sizeof *a->users))) {
        snprintf(err, errsize, "out of memory");
        fclose(f);
        httpauth_free(a);
        return -1;
    }
    char line[1024];
    unsigned lineno = 0;
    int rc = 0;
    while (rc == 0 && fgets(line, sizeof line, f)) {
        lineno++;
        line[strcspn(line, "\r\n")] = '\0';
        const char *p = line + strspn(line, " \t");
        if (!*p || *p == '#')
            continue;
        const char *colon = strchr(p, ':');
        size_t nl = colon ? (size_t)(colon - p) : 0;
        if (!colon || nl == 0 || nl > MAX_NAME || !colon[1]) {
            snprintf(err, errsize, "%s:%u: not NAME:HASH (a user name of 1 to %d characters, a colon, a crypt(3) "
                     "hash as mkpasswd or openssl passwd -6 print it)", path, lineno, MAX_NAME);
            rc = -1;
        } else if (!hash_known(a->cd, colon + 1)) {
            snprintf(err, errsize, "%s:%u: the hash of user %.*s is not one crypt(3) knows; make one with "
                     "mkpasswd (yescrypt) or openssl passwd -6 (sha512-crypt)", path, lineno, (int)nl, p);
            rc = -1;
        } else if (a->n == MAX_USERS) {
            snprintf(err, errsize, "%s:%u: more than %d users", path, lineno, MAX_USERS);
            rc = -1;
        } else if (!(a->users[a->n].name = strndup(p, nl)) || !(a->users[a->n].hash = strdup(colon + 1))) {
            free(a->users[a->n].name);
            snprintf(err, errsize, "out of memory");
            rc = -1;
        } else {
            a->n++;
        }
    }
    fclose(f);
    if (rc == 0 && a->n == 0) {
        snprintf(err, errsize, "%s: no user in the [http] users file; add lines NAME:HASH", path);
        rc = -1;
    }
    if (rc < 0) {
        httpauth_free(a);
        return -1;
    }
    *out = a;
    return 0;
}

static int b64_value(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return -1;
}

/* RFC 4648 base64 into out (NUL-terminated); -1 when malformed or too long */
static int b64_decode(const char *in, char *out, size_t outsize)
{
    size_t o = 0;
    unsigned acc = 0;
    int bits = 0;
    for (; *in && *in != '='; in++) {
        int v = b64_value((unsigned char)*in);
        if (v < 0)
            return -1;
        acc = (acc << 6) | (unsigned)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            if (o + 1 >= outsize)
                return -1;
            out[o++] = (char)((acc >> bits) & 0xff);
        }
    }
    while (*in == '=')
        in++;
    if (*in)
        return -1;
    out[o] = '\0';
    return memchr(out, '\0', o) ? -1 : 0;
}

/* Equal strings, in a time that depends on their lengths only. */
static bool same(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    size_t n = la > lb ? la : lb;
    unsigned char diff = (unsigned char)(la != lb);
    for (size_t i = 0; i < n; i++)
        diff |= (unsigned char)((i < la ? a[i] : 0) ^ (i < lb ? b[i] : 0));
    return diff == 0;
}

size_t httpauth_count(const struct httpauth *a)
{
    return a ? a->n : 0;
}

int httpauth_decode(const char *authorization, char *name, size_t namesize, char *password, size_t passwordsize)
{
    if (namesize)
        name[0] = '\0';
    if (passwordsize)
        password[0] = '\0';
    if (!authorization)
        return -1;
    const char *p = authorization + strspn(authorization, " ");
    if (strncasecmp(p, "Basic ", 6) != 0)
        return -1;
    p += 6;
    p += strspn(p, " ");
    char token[HTTPAUTH_TOKEN_MAX + 1];
    size_t tl = strcspn(p, " ");
    if (tl >= sizeof token || p[tl + strspn(p + tl, " ")] != '\0')
        return -1; /* too long, or something after the token */
    memcpy(token, p, tl);
    token[tl] = '\0';
    char cred[MAX_NAME + 1 + MAX_PASSWORD + 2]; /* b64_decode keeps a byte for the NUL */
    int rc = -1;
    if (b64_decode(token, cred, sizeof cred) == 0) {
        char *colon = strchr(cred, ':');
        size_t nl = colon ? (size_t)(colon - cred) : 0;
        if (colon && nl <= MAX_NAME && nl < namesize && strlen(colon + 1) < passwordsize) {
            memcpy(name, cred, nl);
            name[nl] = '\0';
            memcpy(password, colon + 1, strlen(colon + 1) + 1);
            rc = 0;
        }
    }
    explicit_bzero(cred, sizeof cred);
    return rc;
}

int httpauth_check(struct httpauth *a, const char *authorization, char *user, size_t usersize)
{
    if (usersize)
        user[0] = '\0';
    if (!a || !a->n || !authorization)
        return 0;
    char name[MAX_NAME + 1], password[MAX_PASSWORD + 1];
    if (httpauth_decode(authorization, name, sizeof name, password, sizeof password) < 0)
        return 0;
    snprintf(user, usersize, "%s", name);
    const struct user *u = NULL;
    for (size_t i = 0; i < a->n; i++)
        if (strcmp(a->users[i].name, name) == 0)
            u = &a->users[i];
    /* an unknown user is hashed with the first user's setting, so the
     * answer takes as long as for a known one */
    const char *hash = u ? u->hash : a->users[0].hash;
    const char *out = crypt_rn(password, hash, a->cd, (int)sizeof *a->cd);
    bool ok = out && out[0] != '*' && same(out, hash) && u;
    explicit_bzero(password, sizeof password);
    return ok ? 1 : 0;
}
