/* SPDX-License-Identifier: ISC */
/* text: byte-string helpers shared by the stages that emit received text. */
#ifndef KW_TEXT_H
#define KW_TEXT_H

#include <stddef.h>

/* Copies src[0..len) into dst (size dstsize >= 4, always NUL-terminated),
 * replacing every byte that is not part of valid UTF-8 (and every NUL) with
 * U+FFFD, so JSON encoders accept it. Stops early rather than split a
 * character when dst is full. Returns the number of bytes written. */
size_t text_to_utf8(char *dst, size_t dstsize, const char *src, size_t len);

/* Formats a socket address as its numeric host ("192.0.2.1", "2001:db8::1";
 * IPv4-mapped IPv6 addresses as IPv4) into buf. Returns buf. */
struct sockaddr;
char *text_addr_host(const struct sockaddr *sa, char *buf, size_t size);

/* Port of an IPv4/IPv6 socket address, 0 otherwise. */
unsigned text_addr_port(const struct sockaddr *sa);

/* Formats seconds since the epoch (UTC) as RFC 3339 "2026-11-24T14:36:04Z"
 * (with ".uuuuuu" when usec >= 0). Returns buf. */
char *text_rfc3339(char *buf, size_t size, long long sec, long usec);

#endif
