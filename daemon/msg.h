/* SPDX-License-Identifier: ISC */
/* msg: one received syslog message, as the transport stages hand it to the
 * pipeline. A plain struct, no functions. */
#ifndef KW_MSG_H
#define KW_MSG_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

enum msg_transport { MSG_UDP = 0, MSG_TCP, MSG_FILE, MSG_TLS };

struct msg {
    const char *data; /* message bytes, framing removed; not NUL-terminated */
    size_t len;
    const struct sockaddr *src; /* sender, or NULL for MSG_FILE */
    socklen_t srclen;
    enum msg_transport transport;
    int64_t rx_sec; /* receive time, seconds since the epoch (UTC) */
    int32_t rx_usec;
    const char *peer_name; /* MSG_TLS: the verified certificate's name, else NULL */
};

#endif
