/* SPDX-License-Identifier: ISC */
#include "config.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "testutil.h"

const char *tu_data_path(const char *rel)
{
    static char buf[4096];
    const char *dir = getenv("KW_TESTDATA");
    snprintf(buf, sizeof buf, "%s/%s", dir ? dir : "tests/data", rel);
    return buf;
}

char *tu_read_data(const char *rel, size_t *len)
{
    const char *path = tu_data_path(rel);
    FILE *f = fopen(path, "rb");
    if (!f)
        fail_msg("cannot open test data %s", path);
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    assert_non_null(buf);
    size_t got;
    while ((got = fread(buf + n, 1, cap - n - 1, f)) > 0) {
        n += got;
        if (cap - n - 1 == 0) {
            cap *= 2;
            buf = realloc(buf, cap);
            assert_non_null(buf);
        }
    }
    fclose(f);
    buf[n] = '\0';
    if (len)
        *len = n;
    return buf;
}

char **tu_lines(char *buf, size_t *n)
{
    size_t cap = 64, count = 0;
    char **v = malloc(cap * sizeof *v);
    assert_non_null(v);
    char *p = buf;
    while (*p) {
        char *nl = strchr(p, '\n');
        if (count == cap) {
            cap *= 2;
            v = realloc(v, cap * sizeof *v);
            assert_non_null(v);
        }
        v[count++] = p;
        if (!nl)
            break;
        *nl = '\0';
        p = nl + 1;
    }
    *n = count;
    return v;
}

size_t tu_fields(char *line, char **fields, size_t max)
{
    size_t n = 0;
    char *p = line;
    while (n < max) {
        fields[n++] = p;
        char *tab = strchr(p, '\t');
        if (!tab)
            break;
        *tab = '\0';
        p = tab + 1;
    }
    return n;
}

static int hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

size_t tu_unescape(char *s)
{
    char *w = s;
    for (char *r = s; *r; r++) {
        if (*r != '\\' || !r[1]) {
            *w++ = *r;
            continue;
        }
        r++;
        switch (*r) {
        case 'n': *w++ = '\n'; break;
        case 'r': *w++ = '\r'; break;
        case 't': *w++ = '\t'; break;
        case '0': *w++ = '\0'; break;
        case '\\': *w++ = '\\'; break;
        case 'x':
            if (hexval(r[1]) >= 0 && hexval(r[2]) >= 0) {
                *w++ = (char)(hexval(r[1]) * 16 + hexval(r[2]));
                r += 2;
                break;
            }
            /* fall through */
        default:
            *w++ = '\\';
            *w++ = *r;
        }
    }
    *w = '\0';
    return (size_t)(w - s);
}

char *tu_temp_file(const char *text)
{
    const char *tmp = getenv("TMPDIR");
    char *path = malloc(4096);
    assert_non_null(path);
    snprintf(path, 4096, "%s/kwtest.XXXXXX", tmp ? tmp : "/tmp");
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    size_t len = strlen(text);
    assert_int_equal(write(fd, text, len), (ssize_t)len);
    close(fd);
    return path;
}

const char *tu_conf_path(const char *name, char *buf, size_t size)
{
    const char *src = getenv("KW_SRCDIR");
    const char *data = getenv("KW_TESTDATA");
    if (src)
        snprintf(buf, size, "%s/conf/%s", src, name);
    else if (data)
        snprintf(buf, size, "%s/../../conf/%s", data, name);
    else
        snprintf(buf, size, "conf/%s", name);
    return buf;
}

void tu_fput_escaped(FILE *f, const char *p, size_t len, size_t max)
{
    if (!p) {
        fputs("(absent)", f);
        return;
    }
    fputc('"', f);
    for (size_t i = 0; i < len && i < max; i++) {
        unsigned char c = (unsigned char)p[i];
        if (c == '\\' || c == '"')
            fprintf(f, "\\%c", c);
        else if (c < 0x20 || c >= 0x7f)
            fprintf(f, "\\x%02x", c);
        else
            fputc(c, f);
    }
    fputs(len > max ? "\"..." : "\"", f);
}

void tu_escape(char *dst, size_t size, const char *src)
{
    size_t k = 0;
    for (; *src && k + 3 < size; src++) {
        if (*src == '\n' || *src == '\t' || *src == '\\') {
            dst[k++] = '\\';
            dst[k++] = *src == '\n' ? 'n' : *src == '\t' ? 't' : '\\';
        } else {
            dst[k++] = *src;
        }
    }
    if (size)
        dst[k] = '\0';
}
