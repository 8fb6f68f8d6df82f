/* SPDX-License-Identifier: ISC */
/* Built instead of sdnotify.c when libsystemd is absent: the daemon then
 * behaves as if it were never started by systemd. */
#include "config.h"

#include "sdnotify.h"

int sdnotify_listen_fds(void)
{
    return 0;
}

int sdnotify_listen_fds_names(char ***names)
{
    *names = NULL;
    return 0;
}

void sdnotify_names_free(char **names, int n)
{
    (void)names;
    (void)n;
}

int sdnotify_is_socket(int fd, int type)
{
    (void)fd;
    (void)type;
    return 0;
}

void sdnotify_ready(void) {}
void sdnotify_stopping(void) {}
void sdnotify_reloading(void) {}
void sdnotify_watchdog(void) {}

void sdnotify_status(const char *text)
{
    (void)text;
}

uint64_t sdnotify_watchdog_usec(void)
{
    return 0;
}
