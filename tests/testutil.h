/* SPDX-License-Identifier: ISC */
/* Helpers shared by the cmocka tests. */
#ifndef KW_TESTUTIL_H
#define KW_TESTUTIL_H

#include <stddef.h>

/* Absolute path of a file under tests/data (KW_TESTDATA, or ./tests/data
 * when unset). Returns a static buffer, overwritten by the next call. */
const char *tu_data_path(const char *rel);

/* Reads a whole file under tests/data into a NUL-terminated malloc'd buffer;
 * *len (may be NULL) gets its size. Fails the test when it cannot. */
char *tu_read_data(const char *rel, size_t *len);

/* Splits buf into lines in place (LF removed, not CR). Returns a malloc'd
 * array of n line pointers; *n is the count. */
char **tu_lines(char *buf, size_t *n);

/* Splits one line in place at TABs into at most max fields; returns the count. */
size_t tu_fields(char *line, char **fields, size_t max);

/* Decodes C-style escapes (\n \r \t \0 \\ \xHH) in place; returns the new length. */
/* The reverse of tu_unescape() for newline, TAB and backslash: writes src
 * into dst (size bytes, NUL-terminated, cut when short). */
void tu_escape(char *dst, size_t size, const char *src);

size_t tu_unescape(char *s);

/* Path of a shipped knowledge file under conf/ (KW_SRCDIR/conf, else
 * relative to KW_TESTDATA, else ./conf) in buf; returns buf. */
const char *tu_conf_path(const char *name, char *buf, size_t size);

/* Writes p[0..len) to f in quotes with \\, \" and \xHH escapes, at most max
 * bytes (then "..."), or (absent) for NULL: readable failure messages. */
#include <stdio.h>
void tu_fput_escaped(FILE *f, const char *p, size_t len, size_t max);

/* Writes text to a new temporary file and returns its malloc'd path. */
char *tu_temp_file(const char *text);

#endif
