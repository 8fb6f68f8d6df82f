/* SPDX-License-Identifier: ISC */
/* sdnotify: the daemon's side of systemd's service protocol. The only module
 * that includes <systemd/sd-daemon.h>; a build without libsystemd links
 * sdnotify-stub.c instead, where these do nothing. */
#ifndef KW_SDNOTIFY_H
#define KW_SDNOTIFY_H

#include <stdint.h>

/* Number of sockets passed by systemd (starting at fd 3), 0 if none.
 * Returns a negative errno value on error. */
int sdnotify_listen_fds(void);

/* The same, with each socket's FileDescriptorName= (systemd.socket(5)):
 * *names is set to an array of n strings ("tcp", "tls", or systemd's
 * default "unknown"/the unit name) to free with sdnotify_names_free(), or
 * NULL. */
int sdnotify_listen_fds_names(char ***names);
void sdnotify_names_free(char **names, int n);

/* Returns 1 if fd is a socket of the given type (SOCK_DGRAM/SOCK_STREAM;
 * listening for SOCK_STREAM), 0 if not, negative on error. */
int sdnotify_is_socket(int fd, int type);

/* Sends READY=1 / STOPPING=1 / RELOADING=1 / WATCHDOG=1 / STATUS=text.
 * Silent no-ops when not run by systemd. */
void sdnotify_ready(void);
void sdnotify_stopping(void);
void sdnotify_reloading(void);
void sdnotify_watchdog(void);
void sdnotify_status(const char *text);

/* Watchdog period in microseconds if systemd asked for pings, else 0. */
uint64_t sdnotify_watchdog_usec(void);

#endif
