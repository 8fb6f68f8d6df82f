/* SPDX-License-Identifier: ISC */
/* An LD_PRELOAD shim for the e2e tests: fsync and fdatasync sleep
 * KW_SLOW_FSYNC_MS milliseconds (default 500) while the file named by
 * KW_SLOW_FSYNC_FLAG exists: a slow disk, switched on and off by a test. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

static void slow(void)
{
    const char *flag = getenv("KW_SLOW_FSYNC_FLAG");
    const char *ms = getenv("KW_SLOW_FSYNC_MS");
    if (flag && access(flag, F_OK) == 0) {
        long n = ms ? atol(ms) : 500;
        struct timespec ts = {n / 1000, (n % 1000) * 1000000L};
        nanosleep(&ts, NULL);
    }
}

int fsync(int fd)
{
    static int (*real)(int);
    if (!real)
        real = (int (*)(int))dlsym(RTLD_NEXT, "fsync");
    slow();
    return real(fd);
}

int fdatasync(int fd)
{
    static int (*real)(int);
    if (!real)
        real = (int (*)(int))dlsym(RTLD_NEXT, "fdatasync");
    slow();
    return real(fd);
}
