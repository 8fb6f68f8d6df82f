/* SPDX-License-Identifier: ISC */
/* kexinit: what an SSH server sends before any key is agreed, read from
 * bytes without any I/O — its identification string (RFC 4253 section 4.2)
 * and its first binary packets up to the SSH_MSG_KEXINIT (sections 6 and
 * 7.1), which travel unencrypted and without MAC.
 *
 * Both readers work on a buffer the caller fills: they return
 * KEXINIT_MORE until the buffer holds what they need, and never read past
 * len. Every text they hand out is printable ASCII: bytes outside 0x20..0x7e
 * in an identification line are written as \xNN, and name-lists with such
 * bytes are refused. Nothing here allocates except kexinit_read_packet(),
 * whose lists kexinit_clear() frees.
 */
#ifndef KW_KEXINIT_H
#define KW_KEXINIT_H

#include <stddef.h>

/* RFC 4253 4.2: the identification line is at most 255 bytes with CR LF. */
#define KEXINIT_VERSION_MAX 255
/* Lines a server may send before its identification (RFC 4253 4.2): at most
 * this many, and this many bytes in all. */
#define KEXINIT_MAX_PRELINES 32
#define KEXINIT_MAX_PREBYTES 8192
/* The largest packet_length accepted (RFC 4253 6.1 asks for 35000; OpenSSH
 * accepts 256 KiB, a KEXINIT is a few KiB). */
#define KEXINIT_MAX_PACKET 65536

enum kexinit_status {
    KEXINIT_OK = 0,
    KEXINIT_MORE = 1,          /* the buffer holds too little yet */
    KEXINIT_SKIP = 2,          /* a packet to pass over (IGNORE, DEBUG) */
    KEXINIT_NOT_SSH = -1,      /* the peer speaks something else */
    KEXINIT_SSH1 = -2,         /* the server speaks only SSH protocol 1 */
    KEXINIT_LONG_LINE = -3,    /* identification line longer than 255 bytes */
    KEXINIT_BAD_PACKET = -4,   /* malformed binary packet or KEXINIT */
    KEXINIT_NOT_KEXINIT = -5,  /* a first packet that is not a KEXINIT */
};

/* The ten name-lists of a KEXINIT, in wire order. */
enum kexinit_list {
    KEXINIT_KEX = 0,
    KEXINIT_HOSTKEY,
    KEXINIT_CIPHER_C2S,
    KEXINIT_CIPHER_S2C,
    KEXINIT_MAC_C2S,
    KEXINIT_MAC_S2C,
    KEXINIT_COMP_C2S,
    KEXINIT_COMP_S2C,
    KEXINIT_LANG_C2S,
    KEXINIT_LANG_S2C,
    KEXINIT_NLISTS
};

/* The server's identification. Texts are NUL-terminated, escaped. */
struct kexinit_version {
    char line[4 * KEXINIT_VERSION_MAX + 1]; /* the identification line without CR LF */
    char proto[4 * 32 + 1];                 /* "2.0", "1.99", "1.5" */
    char software[4 * KEXINIT_VERSION_MAX + 1]; /* "OpenSSH_9.2p1" */
    char comments[4 * KEXINIT_VERSION_MAX + 1]; /* "Debian-2+deb12u3", "" */
    unsigned prelines;                      /* lines skipped before it */
};

struct kexinit {
    unsigned char cookie[16];
    char *lists[KEXINIT_NLISTS]; /* comma-separated names as sent; "" for an empty list */
    int first_kex_follows;
};

/* Reads the identification from buf[0..len), skipping the lines RFC 4253
 * allows before it. eof: the peer has closed, so an unfinished line is all
 * there is. Returns
 *   KEXINIT_OK with *used = the bytes through the identification's LF (the
 *     binary packets start there) and v filled;
 *   KEXINIT_MORE when more bytes are needed;
 *   KEXINIT_NOT_SSH (no "SSH-" line: an HTTP answer, binary bytes, too many
 *     or too long lines, or eof), KEXINIT_SSH1 ("SSH-1.x" other than 1.99),
 *     KEXINIT_LONG_LINE (an "SSH-" line longer than 255 bytes), each with
 *     why (whysize > 0 bytes, always NUL-terminated, never NULL) saying what
 *     was seen, the peer's bytes escaped. */
int kexinit_read_version(const unsigned char *buf, size_t len, int eof, struct kexinit_version *v,
                         size_t *used, char *why, size_t whysize);

/* Reads one unencrypted binary packet from buf[0..len). Returns
 *   KEXINIT_OK with *used = the packet's size and k filled (the caller owns
 *     the lists: kexinit_clear());
 *   KEXINIT_SKIP with *used for SSH_MSG_IGNORE (2) and SSH_MSG_DEBUG (4),
 *     which a server may send first;
 *   KEXINIT_MORE when more bytes are needed;
 *   KEXINIT_BAD_PACKET or KEXINIT_NOT_KEXINIT with why. */
int kexinit_read_packet(const unsigned char *buf, size_t len, struct kexinit *k, size_t *used, char *why,
                        size_t whysize);

/* Frees the lists of k and zeroes it; NULL is a no-op. */
void kexinit_clear(struct kexinit *k);

/* The SPEC's name of a list: "kex", "hostkey", "cipher_c2s", ...,
 * "compression_s2c", "languages_c2s", "languages_s2c". */
const char *kexinit_list_name(enum kexinit_list l);

/* Escapes src[0..len) into dst (always NUL-terminated): bytes outside
 * 0x20..0x7e as \xNN, backslash as \\. Stops before a sequence that does not
 * fit. Returns dst. */
char *kexinit_escape(char *dst, size_t dstsize, const unsigned char *src, size_t len);

#endif
