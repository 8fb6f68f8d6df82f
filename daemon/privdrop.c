/* SPDX-License-Identifier: ISC */
/* privdrop: drop root for a configured user, and prove it took. */
#include "config.h"

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

#include "privdrop.h"

#define PW_BUF_MAX (1024u * 1024u) /* getpwnam_r buffer ceiling (ERANGE retries) */

/* Looks user up: 0 with its uid and gid, or -1 with err filled */
static int lookup(const char *user, uid_t *uid, gid_t *gid, char *err, size_t errsize)
{
    long hint = sysconf(_SC_GETPW_R_SIZE_MAX);
    size_t size = hint > 0 ? (size_t)hint : 16384;
    struct passwd pw, *res = NULL;
    char *buf = NULL;
    int e;
    for (;;) {
        char *nb = realloc(buf, size);
        if (!nb) {
            free(buf);
            snprintf(err, errsize, "[daemon] user = %s: out of memory looking the user up", user);
            return -1;
        }
        buf = nb;
        e = getpwnam_r(user, &pw, buf, size, &res);
        if (e != ERANGE || size >= PW_BUF_MAX)
            break;
        size *= 2;
    }
    if (e == 0 && res) {
        *uid = pw.pw_uid;
        *gid = pw.pw_gid;
    }
    free(buf);
    /* some C libraries say "not found" with an errno instead of res == NULL */
    if (e == ENOENT || e == ESRCH)
        e = 0;
    if (e != 0) {
        snprintf(err, errsize, "[daemon] user = %s: cannot look the user up: %s", user, strerror(e));
        return -1;
    }
    if (!res) {
        snprintf(err, errsize,
                 "[daemon] user = %s: no such user; create it (systemd-sysusers with kexwatch.sysusers, or "
                 "useradd --system %s) or remove the setting",
                 user, user);
        return -1;
    }
    return 0;
}

/* 0 when the process now is exactly uid/gid with no way back to root */
static int verify(const char *user, uid_t uid, gid_t gid, char *err, size_t errsize)
{
    uid_t ruid, euid, suid;
    gid_t rgid, egid, sgid;
    if (getresuid(&ruid, &euid, &suid) < 0 || getresgid(&rgid, &egid, &sgid) < 0) {
        snprintf(err, errsize, "[daemon] user = %s: cannot read back the process ids: %s", user, strerror(errno));
        return -1;
    }
    if (ruid != uid || euid != uid || suid != uid || rgid != gid || egid != gid || sgid != gid) {
        snprintf(err, errsize,
                 "[daemon] user = %s: privilege drop did not take: uid %u/%u/%u gid %u/%u/%u, want uid %u gid %u",
                 user, (unsigned)ruid, (unsigned)euid, (unsigned)suid, (unsigned)rgid, (unsigned)egid,
                 (unsigned)sgid, (unsigned)uid, (unsigned)gid);
        return -1;
    }
    gid_t groups[16];
    int n = getgroups((int)(sizeof groups / sizeof groups[0]), groups);
    if (n < 0 || n > 1 || (n == 1 && groups[0] != gid)) {
        snprintf(err, errsize, "[daemon] user = %s: supplementary groups were not reset (%d left)", user, n);
        return -1;
    }
    if (setuid(0) == 0 || seteuid(0) == 0 || setgid(0) == 0) {
        snprintf(err, errsize, "[daemon] user = %s: root could be regained after the drop; refusing to run", user);
        return -1;
    }
    return 0;
}

int privdrop_to(const char *user, char *err, size_t errsize)
{
    uid_t uid = 0;
    gid_t gid = 0;
    if (errsize)
        err[0] = '\0';
    if (!user || !*user) {
        snprintf(err, errsize, "[daemon] user is empty");
        return -1;
    }
    if (lookup(user, &uid, &gid, err, errsize) < 0)
        return -1;
    if (uid == 0) {
        snprintf(err, errsize, "[daemon] user = %s: that user has uid 0, which drops nothing; name an unprivileged "
                 "user or remove the setting", user);
        return -1;
    }
    if (geteuid() != 0) {
        uid_t ruid, euid, suid;
        if (getresuid(&ruid, &euid, &suid) == 0 && ruid == uid && euid == uid && suid == uid)
            return 0; /* already that user (e.g. User= under systemd) */
        snprintf(err, errsize,
                 "[daemon] user = %s: running as uid %u, not root, so cannot become uid %u; start kexwatchd as "
                 "root or as %s, or remove the setting",
                 user, (unsigned)geteuid(), (unsigned)uid, user);
        return -1;
    }
    if (setgroups(1, &gid) < 0) {
        snprintf(err, errsize, "[daemon] user = %s: setgroups(%u): %s", user, (unsigned)gid, strerror(errno));
        return -1;
    }
    if (setgid(gid) < 0) {
        snprintf(err, errsize, "[daemon] user = %s: setgid(%u): %s", user, (unsigned)gid, strerror(errno));
        return -1;
    }
    if (setuid(uid) < 0) {
        snprintf(err, errsize, "[daemon] user = %s: setuid(%u): %s", user, (unsigned)uid, strerror(errno));
        return -1;
    }
    return verify(user, uid, gid, err, errsize);
}
