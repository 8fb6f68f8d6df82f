/* SPDX-License-Identifier: ISC */
/* An LD_PRELOAD shim for the e2e tests: every pipe the program makes holds
 * one page (F_SETPIPE_SZ 4096), as Linux gives a user past
 * /proc/sys/fs/pipe-user-pages-soft, so an alert of a few kilobytes does
 * not fit an alert program's stdin at once. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <fcntl.h>
#include <unistd.h>

int pipe2(int fds[2], int flags)
{
    static int (*real)(int[2], int);
    if (!real)
        real = (int (*)(int[2], int))dlsym(RTLD_NEXT, "pipe2");
    int rc = real(fds, flags);
    if (rc == 0)
        fcntl(fds[1], F_SETPIPE_SZ, 4096);
    return rc;
}

int pipe(int fds[2])
{
    return pipe2(fds, 0);
}
