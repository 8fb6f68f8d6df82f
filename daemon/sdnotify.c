/* SPDX-License-Identifier: ISC */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>

#include <systemd/sd-daemon.h>

#include "sdnotify.h"

int sdnotify_listen_fds(void)
{
    /* unset the variables so children (exec sinks) do not inherit them */
    return sd_listen_fds(1);
}

int sdnotify_listen_fds_names(char ***names)
{
    *names = NULL;
    return sd_listen_fds_with_names(1, names);
}

void sdnotify_names_free(char **names, int n)
{
    if (!names)
        return;
    for (int i = 0; i < n; i++)
        free(names[i]);
    free(names);
}

int sdnotify_is_socket(int fd, int type)
{
    return sd_is_socket(fd, AF_UNSPEC, type, type == SOCK_STREAM ? 1 : -1);
}

void sdnotify_ready(void)
{
    sd_notify(0, "READY=1");
}

void sdnotify_stopping(void)
{
    sd_notify(0, "STOPPING=1");
}

void sdnotify_reloading(void)
{
    sd_notify(0, "RELOADING=1");
}

void sdnotify_watchdog(void)
{
    sd_notify(0, "WATCHDOG=1");
}

void sdnotify_status(const char *text)
{
    sd_notifyf(0, "STATUS=%s", text);
}

uint64_t sdnotify_watchdog_usec(void)
{
    uint64_t usec = 0;
    if (sd_watchdog_enabled(0, &usec) > 0)
        return usec;
    return 0;
}
