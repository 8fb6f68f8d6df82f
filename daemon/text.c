/* SPDX-License-Identifier: ISC */
#include "config.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "text.h"

/* length of the valid UTF-8 sequence at s (RFC 3629: no overlongs, no
 * surrogates, nothing above U+10FFFF), 0 when invalid */
static size_t utf8_seq(const unsigned char *s, size_t len)
{
    unsigned char c = s[0];
    if (c >= 0x01 && c < 0x80)
        return 1;
    size_t n;
    unsigned char lo = 0x80, hi = 0xbf;
    if (c >= 0xc2 && c <= 0xdf)
        n = 2;
    else if (c >= 0xe0 && c <= 0xef) {
        n = 3;
        if (c == 0xe0)
            lo = 0xa0;
        if (c == 0xed)
            hi = 0x9f;
    } else if (c >= 0xf0 && c <= 0xf4) {
        n = 4;
        if (c == 0xf0)
            lo = 0x90;
        if (c == 0xf4)
            hi = 0x8f;
    } else
        return 0;
    if (len < n || s[1] < lo || s[1] > hi)
        return 0;
    for (size_t i = 2; i < n; i++)
        if (s[i] < 0x80 || s[i] > 0xbf)
            return 0;
    return n;
}

size_t text_to_utf8(char *dst, size_t dstsize, const char *src, size_t len)
{
    const unsigned char *s = (const unsigned char *)src;
    size_t o = 0, i = 0;
    while (i < len) {
        size_t n = utf8_seq(s + i, len - i);
        if (n) {
            if (o + n >= dstsize)
                break;
            memcpy(dst + o, s + i, n);
            o += n;
            i += n;
        } else {
            if (o + 3 >= dstsize)
                break;
            memcpy(dst + o, "\xef\xbf\xbd", 3);
            o += 3;
            i++;
        }
    }
    dst[o] = '\0';
    return o;
}

char *text_addr_host(const struct sockaddr *sa, char *buf, size_t size)
{
    buf[0] = '\0';
    if (!sa)
        return buf;
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *sin = (const void *)sa;
        inet_ntop(AF_INET, &sin->sin_addr, buf, (socklen_t)size);
    } else if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *sin6 = (const void *)sa;
        if (IN6_IS_ADDR_V4MAPPED(&sin6->sin6_addr))
            inet_ntop(AF_INET, &sin6->sin6_addr.s6_addr[12], buf, (socklen_t)size);
        else
            inet_ntop(AF_INET6, &sin6->sin6_addr, buf, (socklen_t)size);
    }
    return buf;
}

unsigned text_addr_port(const struct sockaddr *sa)
{
    if (sa && sa->sa_family == AF_INET)
        return ntohs(((const struct sockaddr_in *)(const void *)sa)->sin_port);
    if (sa && sa->sa_family == AF_INET6)
        return ntohs(((const struct sockaddr_in6 *)(const void *)sa)->sin6_port);
    return 0;
}

char *text_rfc3339(char *buf, size_t size, long long sec, long usec)
{
    time_t t = (time_t)sec;
    struct tm tm;
    if (!gmtime_r(&t, &tm)) {
        snprintf(buf, size, "invalid");
        return buf;
    }
    if (usec >= 0)
        snprintf(buf, size, "%04d-%02d-%02dT%02d:%02d:%02d.%06ldZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                 tm.tm_hour, tm.tm_min, tm.tm_sec, usec);
    else
        snprintf(buf, size, "%04d-%02d-%02dT%02d:%02d:%02dZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                 tm.tm_hour, tm.tm_min, tm.tm_sec);
    return buf;
}
