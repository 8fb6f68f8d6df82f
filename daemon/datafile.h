/* SPDX-License-Identifier: ISC */
/* datafile: reading the knowledge files under conf/ (algorithms.tsv,
 * keywords.tsv, catalogue.conf) with "FILE:LINE: what" error messages. */
#ifndef KW_DATAFILE_H
#define KW_DATAFILE_H

#include <stddef.h>

/* One file being read: its path, the line being parsed (0 = none) and where
 * the first error message goes (err may be NULL). */
struct datafile {
    const char *path;
    size_t line;
    char *err;
    size_t errsize;
};

/* Writes "PATH:LINE: message" (or "PATH: message" when line is 0) into
 * r->err, always NUL-terminated. Returns -1, so a caller can
 * `return datafile_fail(r, ...)`. */
int datafile_fail(struct datafile *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Reads the whole file into a NUL-terminated malloc'd buffer (the caller
 * frees it). Returns NULL after datafile_fail() when the file cannot be
 * read, is larger than max_bytes, or holds a NUL byte. */
char *datafile_read(struct datafile *r, size_t max_bytes);

/* Makes *p hold at least need elements of elem bytes, doubling; *cap is the
 * capacity in elements. Returns 0, or -1 when memory is short (*p kept). */
int datafile_grow(void **p, size_t *cap, size_t need, size_t elem);

#endif
