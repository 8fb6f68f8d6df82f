/* SPDX-License-Identifier: ISC */
/* kexinit: the server's identification and KEXINIT, parsed from bytes. */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "kexinit.h"

#define SSH_MSG_IGNORE 2
#define SSH_MSG_DEBUG 4
#define SSH_MSG_KEXINIT 20
/* a line before the identification may be longer than 255 bytes, not endless */
#define PRELINE_MAX 1024

char *kexinit_escape(char *dst, size_t dstsize, const unsigned char *src, size_t len)
{
    size_t o = 0;
    if (!dstsize)
        return dst;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = src[i];
        if (c >= 0x20 && c <= 0x7e && c != '\\') {
            if (o + 1 >= dstsize)
                break;
            dst[o++] = (char)c;
        } else if (c == '\\') {
            if (o + 2 >= dstsize)
                break;
            dst[o++] = '\\';
            dst[o++] = '\\';
        } else {
            if (o + 4 >= dstsize)
                break;
            snprintf(dst + o, dstsize - o, "\\x%02x", c);
            o += 4;
        }
    }
    dst[o] = '\0';
    return dst;
}

/* why = before, the first 32 bytes of bytes[0..n) escaped (then "..."), after */
static void say(char *why, size_t whysize, const char *before, const unsigned char *bytes, size_t n,
                const char *after)
{
    char esc[160];
    kexinit_escape(esc, sizeof esc, bytes, n > 32 ? 32 : n);
    snprintf(why, whysize, "%s%s%s%s", before, esc, n > 32 ? "..." : "", after);
}

/* bytes no text protocol sends: NUL and controls other than TAB, CR, LF */
static int binary_byte(unsigned char c)
{
    return (c < 0x20 && c != '\t' && c != '\r' && c != '\n') || c == 0x7f;
}

/* the first line of buf without CR LF */
static size_t first_line_len(const unsigned char *buf, size_t len)
{
    const unsigned char *lf = memchr(buf, '\n', len);
    size_t n = lf ? (size_t)(lf - buf) : len;
    return n && buf[n - 1] == '\r' ? n - 1 : n;
}

/* Splits "SSH-protoversion-softwareversion SP comments" into v. */
static void split_version(const unsigned char *line, size_t n, struct kexinit_version *v)
{
    kexinit_escape(v->line, sizeof v->line, line, n);
    const unsigned char *p = line + 4, *end = line + n;
    const unsigned char *dash = memchr(p, '-', (size_t)(end - p));
    if (!dash) {
        kexinit_escape(v->proto, sizeof v->proto, p, (size_t)(end - p));
        v->software[0] = v->comments[0] = '\0';
        return;
    }
    kexinit_escape(v->proto, sizeof v->proto, p, (size_t)(dash - p));
    const unsigned char *sw = dash + 1;
    const unsigned char *sp = memchr(sw, ' ', (size_t)(end - sw));
    kexinit_escape(v->software, sizeof v->software, sw, (size_t)((sp ? sp : end) - sw));
    if (sp)
        kexinit_escape(v->comments, sizeof v->comments, sp + 1, (size_t)(end - sp - 1));
    else
        v->comments[0] = '\0';
}

int kexinit_read_version(const unsigned char *buf, size_t len, int eof, struct kexinit_version *v,
                         size_t *used, char *why, size_t whysize)
{
    size_t off = 0;
    unsigned lines = 0;
    memset(v, 0, sizeof *v);
    why[0] = '\0';
    for (;;) {
        const unsigned char *line = buf + off;
        size_t avail = len - off;
        const unsigned char *lf = memchr(line, '\n', avail);
        size_t n = lf ? (size_t)(lf - line) : avail; /* without LF */
        int is_ssh = avail >= 4 ? memcmp(line, "SSH-", 4) == 0 : memcmp(line, "SSH-", avail) == 0;
        /* judged on the bytes within the line limit only, so that the
         * verdict does not depend on how much has arrived */
        size_t limit = is_ssh ? KEXINIT_VERSION_MAX + 1 : PRELINE_MAX + 1;
        for (size_t i = 0; i < n && i < limit; i++) {
            if (binary_byte(line[i])) {
                say(why, whysize, "not SSH: binary bytes instead of a version string ('", line, n, "')");
                return KEXINIT_NOT_SSH;
            }
        }
        if (avail >= 9 && (strncasecmp((const char *)line, "<!DOCTYPE", 9) == 0 ||
                           strncasecmp((const char *)line, "<html", 5) == 0)) {
            say(why, whysize, "not SSH: the port speaks HTTP (an HTML page: '", line, first_line_len(line, avail),
                "')");
            return KEXINIT_NOT_SSH;
        }
        if (avail >= 5 && memcmp(line, "HTTP/", 5) == 0) {
            say(why, whysize, "not SSH: the port speaks HTTP ('", line, first_line_len(line, avail), "')");
            return KEXINIT_NOT_SSH;
        }
        if (is_ssh && n + (lf ? 1 : 0) > KEXINIT_VERSION_MAX) {
            say(why, whysize,
                "endless version line: more than 255 bytes without an end of line ('",
                line, n, "'), RFC 4253 allows 255");
            return KEXINIT_LONG_LINE;
        }
        if (!is_ssh && n > PRELINE_MAX) {
            say(why, whysize, "not SSH: a line of more than 1024 bytes before any version string ('",
                line, n, "')");
            return KEXINIT_NOT_SSH;
        }
        if (!lf) {
            if (!eof)
                return KEXINIT_MORE;
            if (avail == 0 && lines == 0) {
                snprintf(why, whysize, "closed the connection without sending a version string");
                return KEXINIT_NOT_SSH;
            }
            say(why, whysize, "not SSH: closed the connection after '",
                buf, first_line_len(buf, len), "' without an SSH version string");
            return KEXINIT_NOT_SSH;
        }
        size_t body = n > 0 && line[n - 1] == '\r' ? n - 1 : n;
        if (is_ssh) {
            if (body >= 8 && memcmp(line, "SSH-1.", 6) == 0 && memcmp(line, "SSH-1.99-", 9) != 0) {
                say(why, whysize, "SSH-1 only: the server speaks only SSH protocol 1 ('",
                    line, body, "'); kexwatch reads SSH-2 servers");
                return KEXINIT_SSH1;
            }
            if (body < 8 || (memcmp(line, "SSH-2.0-", 8) != 0 && memcmp(line, "SSH-1.99-", 9) != 0)) {
                say(why, whysize, "not SSH: malformed version string '", line, body, "'");
                return KEXINIT_NOT_SSH;
            }
            split_version(line, body, v);
            v->prelines = lines;
            *used = off + n + 1;
            return KEXINIT_OK;
        }
        lines++;
        off += n + 1;
        if (lines > KEXINIT_MAX_PRELINES || off > KEXINIT_MAX_PREBYTES) {
            say(why, whysize, "not SSH: '", buf,
                first_line_len(buf, len), "' and more lines without a version string");
            return KEXINIT_NOT_SSH;
        }
    }
}

static uint32_t get_u32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

/* RFC 4251 5: names are printable US-ASCII without comma or blank; the
 * list is empty or names joined by single commas */
static int valid_namelist(const unsigned char *p, size_t n)
{
    size_t start = 0;
    for (size_t i = 0; i <= n; i++) {
        if (i == n || p[i] == ',') {
            if (n && i == start)
                return 0;
            start = i + 1;
        } else if (p[i] <= 0x20 || p[i] > 0x7e) {
            return 0;
        }
    }
    return 1;
}

void kexinit_clear(struct kexinit *k)
{
    if (!k)
        return;
    for (int i = 0; i < KEXINIT_NLISTS; i++)
        free(k->lists[i]);
    memset(k, 0, sizeof *k);
}

int kexinit_read_packet(const unsigned char *buf, size_t len, struct kexinit *k, size_t *used, char *why,
                        size_t whysize)
{
    memset(k, 0, sizeof *k);
    why[0] = '\0';
    if (len < 5)
        return KEXINIT_MORE;
    uint32_t plen = get_u32(buf);
    unsigned pad = buf[4];
    if (plen > KEXINIT_MAX_PACKET || plen < 2 || pad >= plen) {
        snprintf(why, whysize,
                 "malformed packet: length %lu, padding %u (unencrypted SSH packets are 2 to %d bytes)",
                 (unsigned long)plen, pad, KEXINIT_MAX_PACKET);
        return KEXINIT_BAD_PACKET;
    }
    if (len - 4 < plen)
        return KEXINIT_MORE;
    const unsigned char *p = buf + 5;
    size_t n = plen - pad - 1; /* payload */
    *used = 4 + (size_t)plen;
    if (n == 0) {
        snprintf(why, whysize, "malformed packet: empty payload");
        return KEXINIT_BAD_PACKET;
    }
    if (p[0] == SSH_MSG_IGNORE || p[0] == SSH_MSG_DEBUG)
        return KEXINIT_SKIP;
    if (p[0] != SSH_MSG_KEXINIT) {
        snprintf(why, whysize, "the first packet is message %u, not SSH_MSG_KEXINIT (20)", p[0]);
        return KEXINIT_NOT_KEXINIT;
    }
    if (n < 1 + 16) {
        snprintf(why, whysize, "malformed KEXINIT: %zu bytes, too short for its cookie", n);
        return KEXINIT_BAD_PACKET;
    }
    memcpy(k->cookie, p + 1, 16);
    size_t o = 17;
    for (int i = 0; i < KEXINIT_NLISTS; i++) {
        if (n - o < 4) {
            snprintf(why, whysize, "malformed KEXINIT: ends before the %s list", kexinit_list_name(i));
            goto bad;
        }
        uint32_t l = get_u32(p + o);
        o += 4;
        if (l > n - o) {
            snprintf(why, whysize, "malformed KEXINIT: the %s list claims %lu bytes, %zu remain",
                     kexinit_list_name(i), (unsigned long)l, n - o);
            goto bad;
        }
        if (!valid_namelist(p + o, l)) {
            char esc[160];
            kexinit_escape(esc, sizeof esc, p + o, l > 32 ? 32 : l);
            snprintf(why, whysize, "malformed KEXINIT: the %s list is not a name-list ('%s%s')",
                     kexinit_list_name(i), esc, l > 32 ? "..." : "");
            goto bad;
        }
        if (!(k->lists[i] = malloc(l + 1))) {
            snprintf(why, whysize, "out of memory");
            goto bad;
        }
        memcpy(k->lists[i], p + o, l);
        k->lists[i][l] = '\0';
        o += l;
    }
    if (n - o < 5) {
        snprintf(why, whysize, "malformed KEXINIT: ends before first_kex_packet_follows and reserved");
        goto bad;
    }
    k->first_kex_follows = p[o] != 0;
    return KEXINIT_OK;
bad:
    kexinit_clear(k);
    return KEXINIT_BAD_PACKET;
}

const char *kexinit_list_name(enum kexinit_list l)
{
    static const char *const names[KEXINIT_NLISTS] = {
        "kex",        "hostkey",    "cipher_c2s",      "cipher_s2c",    "mac_c2s",
        "mac_s2c",    "compression_c2s", "compression_s2c", "languages_c2s", "languages_s2c",
    };
    return (unsigned)l < KEXINIT_NLISTS ? names[l] : "?";
}
