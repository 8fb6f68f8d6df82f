/* SPDX-License-Identifier: ISC */
/* httpauth: HTTP basic authentication against a users file ([http] users):
 * one "NAME:HASH" per line, HASH a crypt(3) hash as `mkpasswd` (yescrypt)
 * or `openssl passwd -6` (sha512-crypt) print it; '#' starts a comment
 * line. The only module that includes crypt.h (libxcrypt). */
#ifndef KW_HTTPAUTH_H
#define KW_HTTPAUTH_H

#include <stddef.h>

struct httpauth;

/* Reads the users file. Returns 0 and *out, or -1 with "FILE:LINE: what is
 * wrong; what to do" in err: unreadable file, no user, a line without
 * NAME:HASH, a hash crypt(3) does not know. */
int httpauth_load(const char *path, struct httpauth **out, char *err, size_t errsize);

/* Checks an Authorization header value (NULL: none). Returns 1 when it is
 * "Basic BASE64(NAME:PASSWORD)" for a listed user whose hash the password
 * matches, else 0; the hash comparison takes the same time wherever the
 * strings differ, and an unknown user costs a hash as a known one does.
 * user gets the name given (empty when none), for the log. Slow on purpose
 * (the hash): call it off the event loop. Not reentrant: one call at a time
 * per object. */
int httpauth_check(struct httpauth *a, const char *authorization, char *user, size_t usersize);

/* How many users a holds. */
size_t httpauth_count(const struct httpauth *a);

/* Decodes an Authorization header value "Basic BASE64(NAME:PASSWORD)"
 * (scheme case-insensitive, spaces around the token allowed): 0 with the
 * name and the password (NUL-terminated, the password may hold ':'), or -1
 * when it is another scheme, not base64, too long (a token over
 * HTTPAUTH_TOKEN_MAX characters, a name over 64 bytes or a password over
 * 256), holds a NUL byte or no ':'. No hashing: what httpauth_check
 * decodes first; the fuzz harness drives it. */
#define HTTPAUTH_TOKEN_MAX 435 /* 64 + 1 + 256 bytes in base64, and room for padding */
int httpauth_decode(const char *authorization, char *name, size_t namesize, char *password, size_t passwordsize);

void httpauth_free(struct httpauth *a);

#endif
