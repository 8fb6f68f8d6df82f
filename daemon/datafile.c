/* SPDX-License-Identifier: ISC */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "datafile.h"

int datafile_fail(struct datafile *r, const char *fmt, ...)
{
    if (!r->err || r->errsize == 0)
        return -1;
    int n;
    if (r->line)
        n = snprintf(r->err, r->errsize, "%s:%zu: ", r->path, r->line);
    else
        n = snprintf(r->err, r->errsize, "%s: ", r->path);
    if (n < 0 || (size_t)n >= r->errsize)
        return -1;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->err + n, r->errsize - (size_t)n, fmt, ap);
    va_end(ap);
    return -1;
}

int datafile_grow(void **p, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap)
        return 0;
    size_t n = *cap ? *cap : 16;
    while (n < need)
        n *= 2;
    void *q = realloc(*p, n * elem);
    if (!q)
        return -1;
    *p = q;
    *cap = n;
    return 0;
}

char *datafile_read(struct datafile *r, size_t max_bytes)
{
    FILE *f = fopen(r->path, "rb");
    if (!f) {
        datafile_fail(r, "cannot open: %s", strerror(errno));
        return NULL;
    }
    /* one byte more than allowed tells a file that is too large */
    char *buf = malloc(max_bytes + 2);
    if (!buf) {
        fclose(f);
        datafile_fail(r, "out of memory");
        return NULL;
    }
    size_t n = fread(buf, 1, max_bytes + 1, f);
    int bad = ferror(f);
    fclose(f);
    if (bad || n > max_bytes) {
        if (bad)
            datafile_fail(r, "read error");
        else
            datafile_fail(r, "larger than %zu bytes", max_bytes);
        free(buf);
        return NULL;
    }
    buf[n] = '\0';
    if (memchr(buf, '\0', n)) {
        datafile_fail(r, "contains a NUL byte");
        free(buf);
        return NULL;
    }
    return buf;
}
