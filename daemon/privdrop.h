/* SPDX-License-Identifier: ISC */
/* privdrop: become an unprivileged user after start-up has bound the
 * sockets and opened the files it needs ([daemon] user = NAME), for runs
 * without systemd (under systemd, User= in kexwatchd.service does this).
 */
#ifndef KW_PRIVDROP_H
#define KW_PRIVDROP_H

#include <stddef.h>

/* Switches the process to user's uid and primary gid, with that gid as the
 * only supplementary group (setgroups, setgid, setuid, in that order), then
 * verifies the result: real and effective uid and gid are the user's, no
 * other group is left, and setuid(0)/setgid(0) now fail.
 *
 * Not running as root: returns 0 without changing anything when the real,
 * effective and saved uids already are user's, and fails otherwise.
 * A user with uid 0 is refused (it would drop nothing).
 *
 * Returns 0 on success, -1 on any failure with a message for the operator
 * in err (always NUL-terminated when errsize > 0). After a failure the
 * process may be half-dropped: the caller must exit. user is borrowed. */
int privdrop_to(const char *user, char *err, size_t errsize);

#endif
