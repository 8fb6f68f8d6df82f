/* SPDX-License-Identifier: ISC */
/* query: `kexwatch failures`, `devices`, `device KEY`, `clients`, `alerts`
 * and `daily`, and the same questions for the daemon's API (query_run). The
 * store answers row by row (store.h); rows are collected into a small table
 * here so that the human format can align its columns, then printed as an
 * aligned table, JSON (the SPEC's shape) or RFC 4180 CSV. Nothing here
 * writes: the database is opened STORE_READONLY, so a query never migrates
 * or locks the daemon out. */
#include "config.h"

#include <ctype.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cfg.h"
#include "query.h"
#include "store.h"


/* ------------------------------------------------------------------ times */

int query_parse_time(const char *text, long long *out)
{
    int y, mo, d, h = 0, mi = 0, sec = 0, used = 0;
    if (!text || sscanf(text, "%4d-%2d-%2d%n", &y, &mo, &d, &used) != 3 || used != 10)
        return -1;
    const char *p = text + used;
    long offset = 0;
    if (*p == 'T' || *p == 't' || *p == ' ') {
        int n = 0;
        if (sscanf(p + 1, "%2d:%2d%n", &h, &mi, &n) != 2 || n != 5)
            return -1;
        p += 1 + n;
        if (*p == ':') {
            if (!isdigit((unsigned char)p[1]) || !isdigit((unsigned char)p[2]))
                return -1;
            sec = (p[1] - '0') * 10 + (p[2] - '0');
            p += 3;
        }
        if (*p == '.') /* fractions of a second: the database keeps seconds */
            while (isdigit((unsigned char)*++p))
                ;
        if (*p == 'Z' || *p == 'z') {
            p++;
        } else if (*p == '+' || *p == '-') {
            int oh, om, n2 = 0;
            if (sscanf(p + 1, "%2d:%2d%n", &oh, &om, &n2) != 2 || n2 != 5 || oh > 23 || om > 59)
                return -1;
            offset = (*p == '-' ? -1 : 1) * (oh * 3600L + om * 60L);
            p += 1 + n2;
        } else {
            /* a time without a zone would silently mean the tool's zone */
            return -1;
        }
    }
    if (*p || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60)
        return -1;
    struct tm tm = {.tm_year = y - 1900, .tm_mon = mo - 1, .tm_mday = d, .tm_hour = h, .tm_min = mi, .tm_sec = sec};
    time_t t = timegm(&tm);
    if (t == (time_t)-1)
        return -1;
    *out = (long long)t - offset;
    return 0;
}

/* --local: times in the tool's time zone, RFC 3339 with its offset */
static _Thread_local bool local_times;
/* the tool's hidden --rows-only: failures from the rows alone
 * (store_rows_only), and --days-only: from daily and the rows, no monthly
 * (store_days_only), for the tests that compare them with the usual answer */
static bool rows_only, days_only;

static void format_time(int64_t t, char *buf, size_t size)
{
    time_t tt = (time_t)t;
    struct tm tm;
    if (local_times) {
        char base[40];
        if (localtime_r(&tt, &tm) && strftime(base, sizeof base, "%Y-%m-%dT%H:%M:%S", &tm)) {
            long off = tm.tm_gmtoff;
            char sign = off < 0 ? '-' : '+';
            if (off < 0)
                off = -off;
            snprintf(buf, size, "%s%c%02ld:%02ld", base, sign, off / 3600, off / 60 % 60);
            return;
        }
    } else if (gmtime_r(&tt, &tm) && strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm)) {
        return;
    }
    snprintf(buf, size, "%lld", (long long)t);
}

/* "3d", "5h", "12m", "40s": a human age for the device's profiles */
static void format_age(int64_t secs, char *buf, size_t size)
{
    if (secs < 0)
        secs = 0;
    if (secs >= 86400)
        snprintf(buf, size, "%lldd", (long long)(secs / 86400));
    else if (secs >= 3600)
        snprintf(buf, size, "%lldh", (long long)(secs / 3600));
    else if (secs >= 60)
        snprintf(buf, size, "%lldm", (long long)(secs / 60));
    else
        snprintf(buf, size, "%llds", (long long)secs);
}

static bool is_time_column(const char *name)
{
    return strcmp(name, "first_seen") == 0 || strcmp(name, "last_seen") == 0 || strcmp(name, "time") == 0 ||
           strcmp(name, "learned_at") == 0 || strcmp(name, "fixed_at") == 0;
}

/* ------------------------------------------------------------------ table */

struct cell {
    char *s;  /* NULL: null */
    bool num; /* printed bare in JSON, right-aligned in a table */
};

struct table {
    const char *title; /* section name in JSON objects and tables */
    size_t ncol;
    char **cols;
    struct cell *cells;
    size_t nrows, cap;
    bool oom;
};

static void table_free(struct table *t)
{
    for (size_t i = 0; i < t->nrows * t->ncol; i++)
        free(t->cells[i].s);
    for (size_t i = 0; i < t->ncol; i++)
        free(t->cols[i]);
    free(t->cells);
    free(t->cols);
    *t = (struct table){.title = t->title};
}

static int table_set_cols(struct table *t, size_t ncol, const char *const *names)
{
    if (t->cols)
        return 0;
    t->cols = calloc(ncol, sizeof *t->cols);
    if (!t->cols)
        return -1;
    t->ncol = ncol;
    for (size_t i = 0; i < ncol; i++)
        if (!(t->cols[i] = strdup(names[i])))
            return -1;
    return 0;
}

/* Appends a row of ncol cells (taking the strings); -1 when memory is short */
static int table_add(struct table *t, struct cell *row)
{
    if (t->nrows == t->cap) {
        size_t nc = t->cap ? 2 * t->cap : 32;
        struct cell *n = realloc(t->cells, nc * t->ncol * sizeof *n);
        if (!n)
            return -1;
        t->cells = n;
        t->cap = nc;
    }
    memcpy(&t->cells[t->nrows * t->ncol], row, t->ncol * sizeof *row);
    t->nrows++;
    return 0;
}

static struct cell cell_value(const char *col, const struct store_value *v)
{
    char buf[64];
    if (v->is_null)
        return (struct cell){0};
    if (v->is_int && is_time_column(col)) {
        format_time(v->num, buf, sizeof buf);
        return (struct cell){.s = strdup(buf)};
    }
    if (v->is_int) {
        snprintf(buf, sizeof buf, "%lld", (long long)v->num);
        return (struct cell){.s = strdup(buf), .num = true};
    }
    return (struct cell){.s = strdup(v->text ? v->text : "")};
}

/* The generic collector: every column as the store named it. */
static int collect_row(void *arg, size_t ncol, const char *const *names, const struct store_value *v)
{
    struct table *t = arg;
    if (table_set_cols(t, ncol, names) < 0) {
        t->oom = true;
        return -1;
    }
    struct cell row[16];
    for (size_t i = 0; i < ncol && i < 16; i++)
        row[i] = cell_value(names[i], &v[i]);
    if (table_add(t, row) < 0) {
        t->oom = true;
        return -1;
    }
    return 0;
}

static void json_string(FILE *f, const char *s)
{
    fputc('"', f);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        switch (*p) {
        case '"': fputs("\\\"", f); break;
        case '\\': fputs("\\\\", f); break;
        case '\n': fputs("\\n", f); break;
        case '\r': fputs("\\r", f); break;
        case '\t': fputs("\\t", f); break;
        default:
            if (*p < 0x20)
                fprintf(f, "\\u%04x", *p);
            else
                fputc(*p, f);
        }
    }
    fputc('"', f);
}

static void print_json_array(FILE *f, const struct table *t, const char *indent)
{
    fputc('[', f);
    for (size_t r = 0; r < t->nrows; r++) {
        fprintf(f, "%s\n%s  {", r ? "," : "", indent);
        for (size_t c = 0; c < t->ncol; c++) {
            const struct cell *x = &t->cells[r * t->ncol + c];
            fprintf(f, "%s", c ? ", " : "");
            json_string(f, t->cols[c]);
            fputs(": ", f);
            if (!x->s)
                fputs("null", f);
            else if (x->num)
                fputs(x->s, f);
            else
                json_string(f, x->s);
        }
        fputc('}', f);
    }
    if (t->nrows)
        fprintf(f, "\n%s", indent);
    fputc(']', f);
}

static void csv_field(FILE *f, const char *s)
{
    /* RFC 4180: quote a field holding a comma, quote or line break */
    if (!strpbrk(s, ",\"\r\n")) {
        fputs(s, f);
        return;
    }
    fputc('"', f);
    for (; *s; s++) {
        if (*s == '"')
            fputc('"', f);
        fputc(*s, f);
    }
    fputc('"', f);
}

static void print_csv(FILE *f, const struct table *t)
{
    for (size_t c = 0; c < t->ncol; c++) {
        if (c)
            fputc(',', f);
        csv_field(f, t->cols[c]);
    }
    fputs("\r\n", f);
    for (size_t r = 0; r < t->nrows; r++) {
        for (size_t c = 0; c < t->ncol; c++) {
            const struct cell *x = &t->cells[r * t->ncol + c];
            if (c)
                fputc(',', f);
            csv_field(f, x->s ? x->s : "");
        }
        fputs("\r\n", f);
    }
}

/* display width: UTF-8 continuation bytes take no column */
static size_t width(const char *s)
{
    size_t w = 0;
    for (; *s; s++)
        w += ((unsigned char)*s & 0xC0) != 0x80;
    return w;
}

/* A cell as the terminal may show it: C0 controls (ESC, LF, TAB, ...), DEL
 * and the C1 controls (U+0080..U+009F) as \xHH, so a received host name or
 * client software can neither drive the operator's terminal nor forge rows
 * or columns. Returns a malloc'd string, or NULL when memory is short. */
static char *cell_escape(const char *s)
{
    size_t n = strlen(s);
    char *out = malloc(n * 4 + 1), *o = out;
    if (!out)
        return NULL;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p < 0x20 || *p == 0x7f) {
            o += sprintf(o, "\\x%02x", *p);
        } else if (*p == 0xc2 && p[1] >= 0x80 && p[1] <= 0x9f) {
            o += sprintf(o, "\\x%02x", p[1]); /* the C1 control's code point */
            p++;
        } else {
            *o++ = (char)*p;
        }
    }
    *o = '\0';
    return out;
}

static void print_table(FILE *f, const struct table *t)
{
    /* every cell escaped once, here at the output (JSON and CSV have their
     * own encodings) */
    size_t ncells = t->nrows * t->ncol;
    char **esc = calloc(ncells ? ncells : 1, sizeof *esc);
    if (!esc)
        return;
    for (size_t i = 0; i < ncells; i++)
        esc[i] = cell_escape(t->cells[i].s ? t->cells[i].s : "-");
    size_t w[16] = {0};
    for (size_t c = 0; c < t->ncol && c < 16; c++) {
        w[c] = width(t->cols[c]);
        for (size_t r = 0; r < t->nrows; r++) {
            const char *s = esc[r * t->ncol + c];
            size_t n = width(s ? s : "-");
            if (n > w[c])
                w[c] = n;
        }
    }
    for (size_t c = 0; c < t->ncol && c < 16; c++) {
        bool num = t->nrows && t->cells[c].num;
        size_t pad = w[c] - width(t->cols[c]);
        /* no trailing blanks on the last column */
        fprintf(f, "%s%*s%s%*s", c ? "  " : "", num ? (int)pad : 0, "", t->cols[c],
                (!num && c + 1 < t->ncol) ? (int)pad : 0, "");
    }
    fputc('\n', f);
    for (size_t r = 0; r < t->nrows; r++) {
        for (size_t c = 0; c < t->ncol && c < 16; c++) {
            const struct cell *x = &t->cells[r * t->ncol + c];
            const char *s = esc[r * t->ncol + c] ? esc[r * t->ncol + c] : "-";
            size_t pad = w[c] - width(s);
            fprintf(f, "%s%*s%s%*s", c ? "  " : "", x->num ? (int)pad : 0, "", s,
                    (!x->num && c + 1 < t->ncol) ? (int)pad : 0, "");
        }
        fputc('\n', f);
    }
    for (size_t i = 0; i < ncells; i++)
        free(esc[i]);
    free(esc);
}

/* ------------------------------------------------------- shared plumbing */

static int parse_format(const char *cmd, const char *text, enum query_format *out)
{
    if (strcmp(text, "table") == 0)
        *out = QUERY_TABLE;
    else if (strcmp(text, "json") == 0)
        *out = QUERY_JSON;
    else if (strcmp(text, "csv") == 0)
        *out = QUERY_CSV;
    else {
        fprintf(stderr, "kexwatch %s: unknown --format '%s' (table, json or csv)\n", cmd, text);
        return -1;
    }
    return 0;
}

/* The command's --db options: the first replaces the one given before the
 * command, each further one adds a database to merge (ATTACHed read-only). */
#define MAX_EXTRA_DBS 15
static const char *extra_dbs[MAX_EXTRA_DBS];
static size_t n_extra_dbs;
static bool command_db_seen;

static int add_db(const char *cmd, const char **db_path, const char *path)
{
    if (!command_db_seen) {
        command_db_seen = true;
        *db_path = path;
        return 0;
    }
    if (n_extra_dbs == MAX_EXTRA_DBS) {
        fprintf(stderr, "kexwatch %s: at most %d databases (--db) at once\n", cmd, MAX_EXTRA_DBS + 1);
        return -1;
    }
    extra_dbs[n_extra_dbs++] = path;
    return 0;
}

/* --db wins; else -c's [store] database; else the daemon's own default
 * configuration when it exists (so `kexwatch failures` on the collector
 * host reads the daemon's database), else the built-in default path. */
static int open_store(const char *cmd, const char *cfg_path, const char *db_path, struct store **out)
{
    char *path = NULL;
    if (db_path) {
        path = strdup(db_path);
    } else {
        const char *cp = cfg_path;
        if (!cp && access(KW_SYSCONFDIR "/kexwatch.conf", F_OK) == 0)
            cp = KW_SYSCONFDIR "/kexwatch.conf";
        if (cp) {
            struct cfg *cfg = NULL;
            struct cfg_errors errs = {0};
            if (cfg_load(cp, &cfg, &errs) < 0) {
                for (size_t i = 0; i < errs.n; i++)
                    fprintf(stderr, "%s\n", errs.msgs[i]);
                cfg_errors_free(&errs);
                return -1;
            }
            path = cfg->database ? strdup(cfg->database) : NULL;
            cfg_free(cfg);
        } else {
            path = strdup(KW_LOCALSTATEDIR "/kexwatch.db");
        }
    }
    if (!path) {
        fprintf(stderr, "kexwatch %s: no database: give --db PATH or -c CONFIG\n", cmd);
        return -1;
    }
    char err[1024];
    int rc = store_open(path, STORE_READONLY, 0, out, err, sizeof err);
    if (rc == 0)
        store_rows_only(*out, rows_only);
    if (rc == 0)
        store_days_only(*out, days_only);
    for (size_t i = 0; rc == 0 && i < n_extra_dbs; i++) {
        if ((rc = store_attach(*out, extra_dbs[i], err, sizeof err)) < 0) {
            store_close(*out);
            *out = NULL;
        }
    }
    if (rc < 0)
        fprintf(stderr, "kexwatch %s: %s\n", cmd, err);
    free(path);
    return rc;
}

/* "PuTTY_Release_0.70 (fingerprint)": the software without the protocol
 * prefix every client shares, and the fingerprint that tells builds apart */
static char *client_key(const char *software, const char *fingerprint)
{
    const char *sw = software;
    if (sw && strncmp(sw, "SSH-2.0-", 8) == 0)
        sw += 8;
    else if (sw && strncmp(sw, "SSH-1.99-", 9) == 0)
        sw += 9;
    char *out = NULL;
    int n;
    if (sw && fingerprint)
        n = asprintf(&out, "%s (%s)", sw, fingerprint);
    else if (sw)
        n = asprintf(&out, "%s", sw);
    else if (fingerprint)
        n = asprintf(&out, "(unknown software) (%s)", fingerprint);
    else
        n = asprintf(&out, "(unknown client)");
    return n < 0 ? NULL : out;
}

static void print_json_object(FILE *f, const struct table *t)
{
    fputc('{', f);
    for (size_t c = 0; t->nrows && c < t->ncol; c++) {
        const struct cell *x = &t->cells[c];
        fprintf(f, "%s", c ? ", " : "");
        json_string(f, t->cols[c]);
        fputs(": ", f);
        if (!x->s)
            fputs("null", f);
        else if (x->num)
            fputs(x->s, f);
        else
            json_string(f, x->s);
    }
    fputc('}', f);
}

/* One table in fmt; a table with no rows prints empty_text as a table. */
static void print_as(FILE *f, struct table *t, enum query_format fmt, const char *first_col, const char *empty_text)
{
    if (fmt == QUERY_JSON) {
        print_json_array(f, t, "");
        fputc('\n', f);
    } else if (fmt == QUERY_CSV) {
        print_csv(f, t);
    } else if (t->nrows) {
        if (first_col) {
            char *n = strdup(first_col);
            if (n) {
                free(t->cols[0]);
                t->cols[0] = n;
            }
        }
        print_table(f, t);
    } else {
        fprintf(f, "%s\n", empty_text);
    }
}

/* ---------------------------------------------------------------- failures */

static const char *const by_names[] = {
    [STORE_BY_CLIENT] = "client",       [STORE_BY_DEVICE] = "device",       [STORE_BY_CATEGORY] = "category",
    [STORE_BY_ALGORITHM] = "algorithm", [STORE_BY_MISMATCH] = "mismatch",
};

int query_parse_by(const char *text, enum store_by *out)
{
    for (int i = 0; i <= STORE_BY_MISMATCH; i++) {
        if (strcmp(by_names[i], text) == 0) {
            *out = (enum store_by)i;
            return 0;
        }
    }
    return -1;
}

struct failures_ctx {
    struct table t;
    enum store_by by;
};

/* key, failures, devices, first_seen, last_seen: the SPEC's JSON shape;
 * the store's detail column is folded into the key (client) or dropped */
static int collect_failure(void *arg, size_t ncol, const char *const *names, const struct store_value *v)
{
    struct failures_ctx *fc = arg;
    static const char *const cols[] = {"key", "failures", "devices", "first_seen", "last_seen"};
    (void)names;
    if (ncol != 6 || table_set_cols(&fc->t, 5, cols) < 0) {
        fc->t.oom = true;
        return -1;
    }
    struct cell row[5];
    if (fc->by == STORE_BY_CLIENT) {
        row[0].s = client_key(v[0].text, v[1].text);
        row[0].num = false;
    } else if (v[0].is_null) {
        static const char *const unknown[] = {
            [STORE_BY_CLIENT] = "(unknown client)",     [STORE_BY_DEVICE] = "(unknown device)",
            [STORE_BY_CATEGORY] = "(unknown category)", [STORE_BY_ALGORITHM] = "(unknown)",
            [STORE_BY_MISMATCH] = "(unclassified)",
        };
        row[0] = (struct cell){.s = strdup(unknown[fc->by])};
    } else {
        row[0] = cell_value("key", &v[0]);
        row[0].num = false; /* a key is a name even when it looks like a number */
    }
    for (size_t i = 1; i < 5; i++)
        row[i] = cell_value(cols[i], &v[i + 1]);
    if (table_add(&fc->t, row) < 0) {
        fc->t.oom = true;
        return -1;
    }
    return 0;
}

static int print_plan(void *arg, size_t ncol, const char *const *names, const struct store_value *v)
{
    (void)arg;
    for (size_t i = 0; i < ncol; i++)
        if (strcmp(names[i], "detail") == 0 && v[i].text)
            printf("%s\n", v[i].text);
    return 0;
}

/* since DURATION into the window's start, now - DURATION, in 64 bits:
 * "100000d" works; more than INT64_MAX seconds is refused as too large. */
static int parse_since(const char *text, int64_t now, const char *prefix, int64_t *from, char *err, size_t errsize)
{
    int64_t secs;
    int rc = cfg_parse_duration64(text, &secs);
    if (rc == -2) {
        snprintf(err, errsize,
                 "%ssince '%s' is too large: at most %lldd (2^63 - 1 seconds), which already reaches back "
                 "before any stored time",
                 prefix, text, CFG_DURATION64_MAX_DAYS);
        return -1;
    }
    if (rc < 0) {
        snprintf(err, errsize, "%ssince '%s' is not a duration (30d, 12h, 90m, 3600s)", prefix, text);
        return -1;
    }
    *from = now - secs;
    return 0;
}

int query_window(const char *since, const char *from, const char *until, int64_t now, const char *prefix,
                 int64_t *out_from, int64_t *out_until, char *err, size_t errsize)
{
    if (since && (from || until)) {
        snprintf(err, errsize, "give %ssince or %sfrom/%suntil, not both", prefix, prefix, prefix);
        return -1;
    }
    int64_t f = now - QUERY_DEFAULT_WINDOW, u = INT64_MAX;
    long long t;
    if (since && parse_since(since, now, prefix, &f, err, errsize) < 0)
        return -1;
    if (from) {
        if (query_parse_time(from, &t) < 0) {
            snprintf(err, errsize, "%sfrom '%s' is not an RFC 3339 time (2026-11-01T00:00:00Z)", prefix, from);
            return -1;
        }
        f = t;
    } else if (until) {
        f = INT64_MIN; /* until alone: everything before it */
    }
    if (until) {
        if (query_parse_time(until, &t) < 0) {
            snprintf(err, errsize, "%suntil '%s' is not an RFC 3339 time (2026-12-01T00:00:00Z)", prefix, until);
            return -1;
        }
        u = t;
    }
    if (u <= f) {
        snprintf(err, errsize, "%suntil must be later than %sfrom", prefix, prefix);
        return -1;
    }
    *out_from = f;
    *out_until = u;
    return 0;
}

static const char *const failure_cols[] = {"key", "failures", "devices", "first_seen", "last_seen"};

static int run_failures(struct store *s, const struct query_request *q, enum query_format fmt, FILE *out,
                        char *err, size_t errsize)
{
    struct store_failures_query sq = {.by = q->by, .from = q->from, .until = q->until, .device = q->device};
    struct failures_ctx fc = {.by = q->by};
    int rc = q->merged ? store_failures_merged(s, &sq, collect_failure, &fc, err, errsize)
                       : store_failures(s, &sq, collect_failure, &fc, err, errsize);
    if (rc >= 0 && !fc.t.oom && table_set_cols(&fc.t, 5, failure_cols) < 0)
        fc.t.oom = true;
    if (rc < 0 || fc.t.oom) {
        if (fc.t.oom)
            snprintf(err, errsize, "out of memory");
        table_free(&fc.t);
        return -1;
    }
    print_as(out, &fc.t, fmt, by_names[q->by], "no failures in the window");
    table_free(&fc.t);
    return 0;
}

/* ----------------------------------------------------------------- devices */

static const char *const device_cols[] = {"key", "name", "vendor", "first_seen", "last_seen", "failures"};

static int run_devices(struct store *s, const struct query_request *q, enum query_format fmt, FILE *out,
                       char *err, size_t errsize)
{
    struct table t = {0};
    int rc = q->merged ? store_devices_merged(s, q->from, collect_row, &t, err, errsize)
                       : store_devices(s, q->from, collect_row, &t, err, errsize);
    if (rc >= 0 && !t.oom && table_set_cols(&t, 6, device_cols) < 0)
        t.oom = true;
    if (rc < 0 || t.oom) {
        if (t.oom)
            snprintf(err, errsize, "out of memory");
        table_free(&t);
        return -1;
    }
    if (fmt == QUERY_TABLE && t.nrows) {
        char *n = strdup("failures_window");
        if (n) {
            free(t.cols[5]);
            t.cols[5] = n;
        }
    }
    print_as(out, &t, fmt, NULL, "no devices");
    table_free(&t);
    return 0;
}

int query_open_store(const char *cmd, const char *cfg_path, const char *db_path, struct store **out)
{
    return open_store(cmd, cfg_path, db_path, out);
}

/* ------------------------------------------------------------------ device */

/* The profile part gains an "age" column (now - learned_at), computed
 * here because "now" is the asker's, not the database's. */
struct profile_ctx {
    struct table t;
    int64_t now;
};

static int collect_profile(void *arg, size_t ncol, const char *const *names, const struct store_value *v)
{
    struct profile_ctx *pc = arg;
    static const char *const cols[] = {"slot", "source", "age", "learned_at", "list"};
    if (ncol != 4 || table_set_cols(&pc->t, 5, cols) < 0) {
        pc->t.oom = true;
        return -1;
    }
    (void)names;
    char age[32];
    format_age(pc->now - v[3].num, age, sizeof age);
    struct cell row[5] = {
        cell_value("slot", &v[0]), cell_value("source", &v[1]), {.s = strdup(age)},
        cell_value("learned_at", &v[3]), cell_value("list", &v[2]),
    };
    if (table_add(&pc->t, row) < 0) {
        pc->t.oom = true;
        return -1;
    }
    return 0;
}

/* client rows: software and fingerprint folded into one "client" key, as
 * failures --by client prints it */
static int collect_client(void *arg, size_t ncol, const char *const *names, const struct store_value *v)
{
    struct table *t = arg;
    static const char *const cols[] = {"client", "failures", "first_seen", "last_seen"};
    if (ncol != 5 || table_set_cols(t, 4, cols) < 0) {
        t->oom = true;
        return -1;
    }
    (void)names;
    struct cell row[4] = {
        {.s = client_key(v[0].text, v[1].text)},
        cell_value("failures", &v[2]),
        cell_value("first_seen", &v[3]),
        cell_value("last_seen", &v[4]),
    };
    if (table_add(t, row) < 0) {
        t->oom = true;
        return -1;
    }
    return 0;
}

static int collect_recent(void *arg, size_t ncol, const char *const *names, const struct store_value *v)
{
    struct table *t = arg;
    static const char *const cols[] = {"time", "category", "direction", "mismatch", "evidence", "client",
                                       "address"};
    if (ncol != 8 || table_set_cols(t, 7, cols) < 0) {
        t->oom = true;
        return -1;
    }
    (void)names;
    struct cell row[7] = {
        cell_value("time", &v[0]),     cell_value("category", &v[1]), cell_value("direction", &v[2]),
        cell_value("mismatch", &v[3]), cell_value("evidence", &v[4]), {.s = client_key(v[5].text, v[6].text)},
        cell_value("address", &v[7]),
    };
    if (table_add(t, row) < 0) {
        t->oom = true;
        return -1;
    }
    return 0;
}

static int run_device(struct store *s, const struct query_request *q, enum query_format fmt, FILE *out, char *err,
                      size_t errsize)
{
    const char *key = q->device ? q->device : "";
    struct table info = {.title = "device"}, recent = {.title = "failures"}, clients = {.title = "clients"};
    struct table probe = {.title = "probe"}, alerts = {.title = "alerts"};
    struct profile_ctx pc = {.t = {.title = "profile"}, .now = q->now};
    int rc = 0;
    int found = store_device(s, STORE_DEVICE_INFO, key, q->from, 0, collect_row, &info, err, errsize);
    if (found < 0 || info.oom) {
        rc = -1;
    } else if (found == 0) {
        snprintf(err, errsize, "no device '%s' in the database (see kexwatch devices)", key);
        rc = QUERY_NOT_FOUND;
    } else if (store_device(s, STORE_DEVICE_PROFILE, key, q->from, 0, collect_profile, &pc, err, errsize) < 0 ||
               store_device(s, STORE_DEVICE_FAILURES, key, q->from, 50, collect_recent, &recent, err, errsize) <
                   0 ||
               store_device(s, STORE_DEVICE_CLIENTS, key, q->from, 0, collect_client, &clients, err, errsize) <
                   0 ||
               store_device(s, STORE_DEVICE_PROBE, key, q->from, 0, collect_row, &probe, err, errsize) < 0 ||
               store_device(s, STORE_DEVICE_ALERTS, key, q->from, 50, collect_row, &alerts, err, errsize) < 0) {
        rc = -1;
    }
    /* empty parts still print their header (and [] in JSON) */
    static const char *const pcols[] = {"slot", "source", "age", "learned_at", "list"};
    static const char *const rcols[] = {"time", "category", "direction", "mismatch", "evidence", "client",
                                        "address"};
    static const char *const ccols[] = {"client", "failures", "first_seen", "last_seen"};
    static const char *const bcols[] = {"time", "address", "port", "banner", "error"};
    static const char *const acols[] = {"alert_id",    "status",     "mismatch",  "category", "software",
                                        "fingerprint", "first_seen", "last_seen", "count",    "fixed_at"};
    if (rc == 0 && (info.oom || pc.t.oom || recent.oom || clients.oom || probe.oom || alerts.oom ||
                    table_set_cols(&pc.t, 5, pcols) < 0 || table_set_cols(&recent, 7, rcols) < 0 ||
                    table_set_cols(&clients, 4, ccols) < 0 || table_set_cols(&probe, 5, bcols) < 0 ||
                    table_set_cols(&alerts, 10, acols) < 0)) {
        snprintf(err, errsize, "out of memory");
        rc = -1;
    }
    if (rc)
        goto out;
    if (fmt == QUERY_JSON) {
        /* {"device": {...}, "profile": [...], "failures": [...], "clients": [...],
         *  "probe": {...} or null, "alerts": [...]} */
        fputs("{\"device\": ", out);
        print_json_object(out, &info);
        fputs(",\n \"profile\": ", out);
        print_json_array(out, &pc.t, " ");
        fputs(",\n \"failures\": ", out);
        print_json_array(out, &recent, " ");
        fputs(",\n \"clients\": ", out);
        print_json_array(out, &clients, " ");
        fputs(",\n \"probe\": ", out);
        if (probe.nrows)
            print_json_object(out, &probe);
        else
            fputs("null", out);
        fputs(",\n \"alerts\": ", out);
        print_json_array(out, &alerts, " ");
        fputs("}\n", out);
    } else if (fmt == QUERY_CSV) {
        print_csv(out, &info);
        fputs("\r\n", out);
        print_csv(out, &pc.t);
        fputs("\r\n", out);
        print_csv(out, &recent);
        fputs("\r\n", out);
        print_csv(out, &clients);
        fputs("\r\n", out);
        print_csv(out, &probe);
        fputs("\r\n", out);
        print_csv(out, &alerts);
    } else {
        const struct cell *d = info.cells;
        char *name[3] = {cell_escape(d[0].s ? d[0].s : ""), d[1].s ? cell_escape(d[1].s) : NULL,
                         d[2].s ? cell_escape(d[2].s) : NULL};
        fprintf(out, "device %s", name[0] ? name[0] : "");
        if (name[1])
            fprintf(out, " (%s)", name[1]);
        if (name[2])
            fprintf(out, ", vendor %s", name[2]);
        for (int i = 0; i < 3; i++)
            free(name[i]);
        fprintf(out, ", first seen %s, last seen %s\n", d[3].s ? d[3].s : "-", d[4].s ? d[4].s : "-");
        fputs("\nserver profile:\n", out);
        if (pc.t.nrows)
            print_table(out, &pc.t);
        else
            fputs("(none stored)\n", out);
        fprintf(out, "\nfailures in the window (latest %zu):\n", recent.nrows);
        if (recent.nrows)
            print_table(out, &recent);
        else
            fputs("(none)\n", out);
        fputs("\nclient types that failed:\n", out);
        if (clients.nrows)
            print_table(out, &clients);
        else
            fputs("(none)\n", out);
        fputs("\nlast probe:\n", out);
        if (probe.nrows)
            print_table(out, &probe);
        else
            fputs("(never probed)\n", out);
        fputs("\nalerts in the window:\n", out);
        if (alerts.nrows)
            print_table(out, &alerts);
        else
            fputs("(none)\n", out);
    }
out:
    table_free(&probe);
    table_free(&alerts);
    table_free(&info);
    table_free(&pc.t);
    table_free(&recent);
    table_free(&clients);
    return rc;
}

/* ----------------------------------------------------------------- clients */

static const char *const clients_cols[] = {"client", "failures", "devices", "fails_on", "first_seen",
                                           "last_seen", "kex", "hostkey", "cipher", "mac", "compression"};

/* software and fingerprint folded into one "client" key (as failures --by
 * client prints it), then the store's columns as they come */
static int collect_clients(void *arg, size_t ncol, const char *const *names, const struct store_value *v)
{
    struct table *t = arg;
    if (ncol != 12 || table_set_cols(t, 11, clients_cols) < 0) {
        t->oom = true;
        return -1;
    }
    struct cell row[11];
    row[0] = (struct cell){.s = client_key(v[0].text, v[1].text)};
    for (size_t i = 1; i < 11; i++)
        row[i] = cell_value(names[i + 1], &v[i + 1]);
    if (table_add(t, row) < 0) {
        t->oom = true;
        return -1;
    }
    return 0;
}

static int run_clients(struct store *s, const struct query_request *q, enum query_format fmt, FILE *out,
                       char *err, size_t errsize)
{
    struct table t = {0};
    int rc = q->merged ? store_clients_merged(s, q->from, q->until, collect_clients, &t, err, errsize)
                       : store_clients(s, q->from, q->until, collect_clients, &t, err, errsize);
    if (rc >= 0 && !t.oom && table_set_cols(&t, 11, clients_cols) < 0)
        t.oom = true;
    if (rc < 0 || t.oom) {
        if (t.oom)
            snprintf(err, errsize, "out of memory");
        table_free(&t);
        return -1;
    }
    if (fmt == QUERY_TABLE && t.nrows) {
        /* the lists are too wide for a terminal: the first six columns */
        struct table v = {.ncol = 6, .cols = t.cols, .nrows = t.nrows};
        if (!(v.cells = malloc(t.nrows * 6 * sizeof *v.cells))) {
            table_free(&t);
            snprintf(err, errsize, "out of memory");
            return -1;
        }
        for (size_t r = 0; r < t.nrows; r++)
            memcpy(&v.cells[r * 6], &t.cells[r * 11], 6 * sizeof *v.cells);
        print_table(out, &v);
        free(v.cells);
    } else {
        print_as(out, &t, fmt, NULL, "no client types in the window");
    }
    table_free(&t);
    return 0;
}

/* ------------------------------------------------------------------ alerts */

static const char *const alerts_cols[] = {"alert_id", "status", "device", "name", "mismatch", "category",
                                          "client", "address", "first_seen", "last_seen", "count", "fix",
                                          "fix_steps"};

static int collect_alert(void *arg, size_t ncol, const char *const *names, const struct store_value *v)
{
    struct table *t = arg;
    /* the store's columns: alert_id, status, device, name, mismatch,
     * category, software, fingerprint, address, first_seen, last_seen,
     * count, fix, fix_steps */
    if (ncol != 14 || table_set_cols(t, 13, alerts_cols) < 0) {
        t->oom = true;
        return -1;
    }
    (void)names;
    struct cell row[13];
    for (size_t i = 0; i < 6; i++)
        row[i] = cell_value(alerts_cols[i], &v[i]);
    row[6] = (struct cell){.s = client_key(v[6].text, v[7].text)};
    for (size_t i = 7; i < 13; i++)
        row[i] = cell_value(alerts_cols[i], &v[i + 1]);
    if (table_add(t, row) < 0) {
        t->oom = true;
        return -1;
    }
    return 0;
}

static int run_alerts(struct store *s, const struct query_request *q, enum query_format fmt, FILE *out,
                      char *err, size_t errsize)
{
    struct table t = {0};
    int rc = store_alerts(s, q->status, q->from, collect_alert, &t, err, errsize);
    if (rc >= 0 && !t.oom && table_set_cols(&t, 13, alerts_cols) < 0)
        t.oom = true;
    if (rc < 0 || t.oom) {
        if (t.oom)
            snprintf(err, errsize, "out of memory");
        table_free(&t);
        return -1;
    }
    if (fmt == QUERY_TABLE && t.nrows) {
        /* the fix is long and multi-line: the table shows up to count */
        struct table v = {.ncol = 11, .cols = t.cols, .nrows = t.nrows};
        if (!(v.cells = malloc(t.nrows * 11 * sizeof *v.cells))) {
            table_free(&t);
            snprintf(err, errsize, "out of memory");
            return -1;
        }
        for (size_t r = 0; r < t.nrows; r++)
            memcpy(&v.cells[r * 11], &t.cells[r * 13], 11 * sizeof *v.cells);
        print_table(out, &v);
        free(v.cells);
    } else {
        print_as(out, &t, fmt, NULL, "no alerts in the window");
    }
    table_free(&t);
    return 0;
}

/* ------------------------------------------------------------------- daily */

static const char *const daily_cols[] = {"day", "mismatch", "failures"};

struct daily_ctx {
    struct table t;
    enum store_bucket bucket;
    enum store_series series;
};

static int collect_daily(void *arg, size_t ncol, const char *const *names, const struct store_value *v)
{
    struct table *t = arg;
    if (ncol != 3 || table_set_cols(t, 3, daily_cols) < 0) {
        t->oom = true;
        return -1;
    }
    struct cell row[3] = {cell_value(names[0], &v[0]),
                          v[1].is_null ? (struct cell){.s = strdup("(unclassified)")} : cell_value(names[1], &v[1]),
                          cell_value(names[2], &v[2])};
    if (table_add(t, row) < 0) {
        t->oom = true;
        return -1;
    }
    return 0;
}

static const char *const bucket_names[] = {[STORE_BUCKET_DAY] = "day", [STORE_BUCKET_HOUR] = "hour",
                                            [STORE_BUCKET_WEEK] = "week", [STORE_BUCKET_MONTH] = "month",
                                            [STORE_BUCKET_WINDOW] = "window"};
static const char *const series_names[] = {[STORE_SERIES_MISMATCH] = "mismatch", [STORE_SERIES_CLIENT] = "client",
                                           [STORE_SERIES_CLIENT_DEVICE] = "client-device"};

static int parse_name(const char *text, const char *const *names, size_t n)
{
    for (size_t i = 0; text && i < n; i++)
        if (strcmp(text, names[i]) == 0)
            return (int)i;
    return -1;
}

int query_parse_bucket(const char *text, enum store_bucket *out)
{
    int i = parse_name(text, bucket_names, sizeof bucket_names / sizeof bucket_names[0]);
    if (i >= 0)
        *out = (enum store_bucket)i;
    return i < 0 ? -1 : 0;
}

int query_parse_series(const char *text, enum store_series *out)
{
    int i = parse_name(text, series_names, sizeof series_names / sizeof series_names[0]);
    if (i >= 0)
        *out = (enum store_series)i;
    return i < 0 ? -1 : 0;
}

const char *query_bucket_name(enum store_bucket b)
{
    return (unsigned)b <= STORE_BUCKET_WINDOW ? bucket_names[b] : "?";
}

/* The timeline's columns: the bucket's name (none for the whole window),
 * mismatch or client (and device), failures. */
static int timeline_cols(struct daily_ctx *dc)
{
    const char *cols[4];
    size_t nc = 0;
    if (dc->bucket != STORE_BUCKET_WINDOW)
        cols[nc++] = bucket_names[dc->bucket];
    cols[nc++] = dc->series == STORE_SERIES_MISMATCH ? "mismatch" : "client";
    if (dc->series == STORE_SERIES_CLIENT_DEVICE)
        cols[nc++] = "device";
    cols[nc++] = "failures";
    return table_set_cols(&dc->t, nc, cols);
}

/* A timeline row: the bucket (none for the whole window), the series'
 * key (mismatch; client; client and device), failures. */
static int collect_timeline(void *arg, size_t ncol, const char *const *names, const struct store_value *v)
{
    struct daily_ctx *dc = arg;
    struct table *t = &dc->t;
    bool window = dc->bucket == STORE_BUCKET_WINDOW;
    size_t want = dc->series == STORE_SERIES_MISMATCH ? 3 : dc->series == STORE_SERIES_CLIENT ? 4 : 5;
    (void)names;
    if (ncol != want || timeline_cols(dc) < 0) {
        t->oom = true;
        return -1;
    }
    struct cell row[4];
    size_t c = 0;
    if (!window)
        row[c++] = cell_value("bucket", &v[0]);
    if (dc->series == STORE_SERIES_MISMATCH)
        row[c++] = v[1].is_null ? (struct cell){.s = strdup("(unclassified)")} : cell_value("mismatch", &v[1]);
    else
        row[c++] = (struct cell){.s = client_key(v[1].text, v[2].text)};
    if (dc->series == STORE_SERIES_CLIENT_DEVICE) {
        row[c] = cell_value("device", &v[3]);
        row[c++].num = false;
    }
    row[c++] = cell_value("failures", &v[ncol - 1]);
    if (table_add(t, row) < 0) {
        t->oom = true;
        return -1;
    }
    return 0;
}

static int run_daily(struct store *s, const struct query_request *q, enum query_format fmt, FILE *out, char *err,
                     size_t errsize)
{
    struct daily_ctx dc = {.bucket = q->bucket, .series = q->series};
    struct table t = {0};
    int rc;
    if (q->bucket == STORE_BUCKET_DAY && q->series == STORE_SERIES_MISMATCH) {
        rc = store_failures_daily(s, q->from, q->until, collect_daily, &t, err, errsize);
        if (rc >= 0 && !t.oom && table_set_cols(&t, 3, daily_cols) < 0)
            t.oom = true;
    } else {
        rc = store_failures_timeline(s, q->from, q->until, q->bucket, q->series, collect_timeline, &dc, err,
                                     errsize);
        if (rc >= 0 && !dc.t.oom && timeline_cols(&dc) < 0)
            dc.t.oom = true;
        t = dc.t;
    }
    if (rc < 0 || t.oom) {
        if (t.oom)
            snprintf(err, errsize, "out of memory");
        table_free(&t);
        return -1;
    }
    print_as(out, &t, fmt, NULL, "no failures in the window");
    table_free(&t);
    return 0;
}

/* ------------------------------------------------------------------- alert */

static int collect_text(void *arg, size_t ncol, const char *const *names, const struct store_value *v)
{
    (void)names;
    char **text = arg;
    if (ncol != 1 || v[0].is_null || !(*text = strdup(v[0].text ? v[0].text : "")))
        return -1;
    return 0;
}

static int run_alert(struct store *s, const struct query_request *q, FILE *out, char *err, size_t errsize)
{
    char *text = NULL;
    if (errsize)
        err[0] = '\0';
    int rc = store_alert_one(s, q->alert_id, collect_text, &text, err, errsize);
    if (rc == 0) {
        snprintf(err, errsize, "no alert %.64s in the database (see kexwatch alerts, or /api/v1/alerts)",
                 q->alert_id ? q->alert_id : "");
        return QUERY_NOT_FOUND;
    }
    if (rc < 0 || !text) {
        if (rc > 0 || !*err)
            snprintf(err, errsize, "out of memory");
        free(text);
        return -1;
    }
    fprintf(out, "%s\n", text);
    free(text);
    return 0;
}

int query_run(struct store *s, const struct query_request *q, enum query_format fmt, FILE *out, char *err,
              size_t errsize)
{
    local_times = q->local_times;
    switch (q->kind) {
    case QUERY_FAILURES: return run_failures(s, q, fmt, out, err, errsize);
    case QUERY_DEVICES: return run_devices(s, q, fmt, out, err, errsize);
    case QUERY_DEVICE: return run_device(s, q, fmt, out, err, errsize);
    case QUERY_CLIENTS: return run_clients(s, q, fmt, out, err, errsize);
    case QUERY_ALERTS: return run_alerts(s, q, fmt, out, err, errsize);
    case QUERY_DAILY: return run_daily(s, q, fmt, out, err, errsize);
    case QUERY_ALERT: return run_alert(s, q, out, err, errsize);
    }
    snprintf(err, errsize, "unknown question");
    return -1;
}

/* ------------------------------------------------------------ the commands */

/* Opens the store, runs q, prints to stdout; the exit code. */
static int run_command(const char *cmd, const char *cfg_path, const char *db_path, struct query_request *q,
                       enum query_format fmt)
{
    struct store *s;
    if (open_store(cmd, cfg_path, db_path, &s) < 0)
        return 1;
    q->merged = n_extra_dbs > 0;
    char err[1024] = "";
    int rc = query_run(s, q, fmt, stdout, err, sizeof err);
    store_close(s);
    if (rc < 0) {
        fprintf(stderr, "kexwatch %s: %s\n", cmd, err);
        return 1;
    }
    return ferror(stdout) ? 1 : 0;
}

static void failures_help(FILE *f)
{
    fprintf(f, "Usage: kexwatch [-c CONFIG | --db PATH] failures [--since 30d | --from T --until T]\n"
               "         [--device KEY] [--by client|device|category|algorithm|mismatch]\n"
               "         [--local] [--format table|json|csv]\n"
               "Failed negotiations in a time window, grouped (default --by client, --since 30d),\n"
               "most failures first. T is RFC 3339 (2026-11-01T00:00:00Z) or a date (UTC midnight).\n"
               "--by algorithm counts each algorithm the failing clients offered in the failing\n"
               "category. --local: times in the local time zone, not UTC.\n"
               "--db PATH again after the first merges several databases (not with --by algorithm).\n"
               "Reads the database read-only. Exit 0 (also for no failures), 1 error, 2 usage.\n");
}

int query_failures(const char *cfg_path, const char *db_path, int argc, char **argv)
{
    static const struct option opts[] = {
        {"since", required_argument, NULL, 's'},  {"from", required_argument, NULL, 'f'},
        {"until", required_argument, NULL, 'u'},  {"device", required_argument, NULL, 'D'},
        {"by", required_argument, NULL, 'b'},     {"format", required_argument, NULL, 'F'},
        {"db", required_argument, NULL, 'd'},     {"explain", no_argument, NULL, 'E'},
        {"local", no_argument, NULL, 'L'},
        {"rows-only", no_argument, NULL, 'R'},
        {"days-only", no_argument, NULL, 'Y'},
        {"help", no_argument, NULL, 'h'},         {NULL, 0, NULL, 0},
    };
    const char *since = NULL, *from = NULL, *until = NULL;
    struct query_request q = {.kind = QUERY_FAILURES, .by = STORE_BY_CLIENT, .now = (int64_t)time(NULL)};
    enum query_format fmt = QUERY_TABLE;
    bool explain = false;
    int c;
    optind = 0; /* 0, not 1: glibc then forgets the "+" (stop at the first operand) of main's scan */
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 's': since = optarg; break;
        case 'f': from = optarg; break;
        case 'u': until = optarg; break;
        case 'D': q.device = optarg; break;
        case 'd':
            if (add_db("failures", &db_path, optarg) < 0)
                return 2;
            break;
        case 'E': explain = true; break;
        case 'L': q.local_times = true; break;
        case 'R': rows_only = true; break;
        case 'Y': days_only = true; break;
        case 'b':
            if (query_parse_by(optarg, &q.by) < 0) {
                fprintf(stderr, "kexwatch failures: unknown --by '%s' (client, device, category, algorithm or "
                                "mismatch)\n",
                        optarg);
                return 2;
            }
            break;
        case 'F':
            if (parse_format("failures", optarg, &fmt) < 0)
                return 2;
            break;
        case 'h': failures_help(stdout); return 0;
        default: failures_help(stderr); return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "kexwatch failures: unexpected argument '%s'\n", argv[optind]);
        return 2;
    }
    char err[1024];
    if (query_window(since, from, until, q.now, "--", &q.from, &q.until, err, sizeof err) < 0) {
        fprintf(stderr, "kexwatch failures: %s\n", err);
        return 2;
    }
    if (n_extra_dbs && q.by == STORE_BY_ALGORITHM && !explain) {
        fprintf(stderr, "kexwatch failures: --by algorithm reads one database; give one --db\n");
        return 2;
    }
    if (explain) {
        /* hidden: the plan of the exact statement the query runs, for tests */
        struct store *s;
        if (open_store("failures", cfg_path, db_path, &s) < 0)
            return 1;
        struct store_failures_query sq = {.by = q.by, .from = q.from, .until = q.until, .device = q.device};
        int rc = store_failures_plan(s, &sq, print_plan, NULL, err, sizeof err);
        if (rc < 0)
            fprintf(stderr, "kexwatch failures: %s\n", err);
        store_close(s);
        return rc < 0 ? 1 : 0;
    }
    return run_command("failures", cfg_path, db_path, &q, fmt);
}

/* --format, --db, --local and --since (default 30 days) of the commands
 * but failures; returns an exit code, or -1 to go on */
static int simple_options(const char *cmd, int argc, char **argv, const char **db_path, enum query_format *fmt,
                          struct query_request *q, void (*help)(FILE *))
{
    static const struct option opts[] = {
        {"format", required_argument, NULL, 'F'},
        {"since", required_argument, NULL, 's'},
        {"db", required_argument, NULL, 'd'},
        {"local", no_argument, NULL, 'L'},
        {"rows-only", no_argument, NULL, 'R'},
        {"days-only", no_argument, NULL, 'Y'},
        {"status", required_argument, NULL, 'S'},
        {"bucket", required_argument, NULL, 'B'},
        {"by", required_argument, NULL, 'y'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int c;
    char err[1024];
    q->now = (int64_t)time(NULL);
    q->from = q->now - QUERY_DEFAULT_WINDOW;
    q->until = INT64_MAX;
    optind = 0; /* 0, not 1: glibc then forgets the "+" (stop at the first operand) of main's scan */
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'F':
            if (parse_format(cmd, optarg, fmt) < 0)
                return 2;
            break;
        case 'd':
            if (add_db(cmd, db_path, optarg) < 0)
                return 2;
            break;
        case 'L': q->local_times = true; break;
        case 'R': rows_only = true; break;
        case 'Y': days_only = true; break;
        case 's':
            if (query_window(optarg, NULL, NULL, q->now, "--", &q->from, &q->until, err, sizeof err) < 0) {
                fprintf(stderr, "kexwatch %s: %s\n", cmd, err);
                return 2;
            }
            break;
        case 'S':
            if (q->kind != QUERY_ALERTS || (strcmp(optarg, "firing") != 0 && strcmp(optarg, "resolved") != 0)) {
                fprintf(stderr, "kexwatch %s: --status is firing or resolved (alerts only)\n", cmd);
                return 2;
            }
            q->status = optarg;
            break;
        case 'B':
            if (q->kind != QUERY_DAILY || query_parse_bucket(optarg, &q->bucket) < 0) {
                fprintf(stderr, "kexwatch %s: --bucket is hour, day, week, month or window (daily only)\n", cmd);
                return 2;
            }
            break;
        case 'y':
            if (q->kind != QUERY_DAILY || query_parse_series(optarg, &q->series) < 0) {
                fprintf(stderr, "kexwatch %s: --by is mismatch, client or client-device (daily only)\n", cmd);
                return 2;
            }
            break;
        case 'h': help(stdout); return 0;
        default: help(stderr); return 2;
        }
    }
    return -1;
}

/* A listing command but failures: its name, question, help and whether
 * it takes one positional KEY (the device's or the alert's: key_usage is the message
 * when it is missing or more are given; NULL: none taken) and refuses
 * merged databases. */
struct listing {
    const char *cmd;
    enum query_kind kind;
    void (*help)(FILE *);
    const char *key_usage;
    bool one_db;
};

/* Parses the command's options and positional arguments, then runs it;
 * the exit code. */
static int run_listing(const struct listing *l, const char *cfg_path, const char *db_path, int argc, char **argv)
{
    enum query_format fmt = QUERY_TABLE;
    struct query_request q = {.kind = l->kind};
    int rc = simple_options(l->cmd, argc, argv, &db_path, &fmt, &q, l->help);
    if (rc >= 0)
        return rc;
    if (l->key_usage && argc - optind != 1) {
        fprintf(stderr, "kexwatch %s: %s\n", l->cmd, l->key_usage);
        return 2;
    }
    if (!l->key_usage && optind < argc) {
        fprintf(stderr, "kexwatch %s: unexpected argument '%s'\n", l->cmd, argv[optind]);
        return 2;
    }
    if (l->key_usage && l->kind == QUERY_ALERT)
        q.alert_id = argv[optind];
    else if (l->key_usage)
        q.device = argv[optind];
    if (l->one_db && n_extra_dbs) {
        fprintf(stderr, "kexwatch %s: reads one database; give one --db\n", l->cmd);
        return 2;
    }
    return run_command(l->cmd, cfg_path, db_path, &q, fmt);
}

static void devices_help(FILE *f)
{
    fprintf(f, "Usage: kexwatch [-c CONFIG | --db PATH] devices [--since 30d] [--local] [--format table|json|csv]\n"
               "Every device in the database, most recently seen first, with its failures since\n"
               "--since ago (default 30 days). Repeat --db PATH to merge several databases.\n"
               "--local prints times in the local time zone instead of UTC.\n");
}

int query_devices(const char *cfg_path, const char *db_path, int argc, char **argv)
{
    static const struct listing l = {"devices", QUERY_DEVICES, devices_help, NULL, false};
    return run_listing(&l, cfg_path, db_path, argc, argv);
}

static void device_help(FILE *f)
{
    fprintf(f, "Usage: kexwatch [-c CONFIG | --db PATH] device KEY [--since 30d] [--local] [--format table|json|csv]\n"
               "One device: what it offers as server per slot (with source and age), its latest 50\n"
               "failures since --since ago (default 30 days) with their mismatch, and the client\n"
               "types that failed on it, its last probe ([probe]: when, where, the server's banner\n"
               "or the error) and its alerts in the window (fixed_at: when a probe showed the fix\n"
               "applied). CSV prints the parts one after another, each with its header, separated\n"
               "by a blank line. Exit 1 when the device is not in the database.\n");
}

int query_device(const char *cfg_path, const char *db_path, int argc, char **argv)
{
    static const struct listing l = {"device", QUERY_DEVICE, device_help,
                                     "name one device KEY (see kexwatch devices)", true};
    return run_listing(&l, cfg_path, db_path, argc, argv);
}

static void clients_help(FILE *f)
{
    fprintf(f, "Usage: kexwatch [-c CONFIG | --db PATH] clients [--since 30d] [--local] [--format table|json|csv]\n"
               "Client types (software and fingerprint) seen or failing since --since ago (default\n"
               "30 days), most failures first: their failures and the devices they failed on (how\n"
               "many, and the first three keys), and the lists they offer (kex, hostkey, cipher,\n"
               "mac, compression; client to server). The table leaves the lists out; JSON and CSV\n"
               "carry them. --local prints times in the local time zone instead of UTC.\n"
               "Repeat --db PATH to merge several databases (devices counted once by key).\n");
}

int query_clients(const char *cfg_path, const char *db_path, int argc, char **argv)
{
    static const struct listing l = {"clients", QUERY_CLIENTS, clients_help, NULL, false};
    return run_listing(&l, cfg_path, db_path, argc, argv);
}

static void alerts_help(FILE *f)
{
    fprintf(f, "Usage: kexwatch [-c CONFIG | --db PATH] alerts [--status firing|resolved] [--since 30d] [--local]\n"
               "         [--format table|json|csv]\n"
               "Alerts seen since --since ago (default 30 days), firing first, most recent first:\n"
               "device, mismatch, client, how often, and the fix on the server (JSON and CSV also\n"
               "carry its steps, one per line). --status keeps firing or resolved ones only.\n");
}

int query_alerts(const char *cfg_path, const char *db_path, int argc, char **argv)
{
    static const struct listing l = {"alerts", QUERY_ALERTS, alerts_help, NULL, true};
    return run_listing(&l, cfg_path, db_path, argc, argv);
}

static void daily_help(FILE *f)
{
    fprintf(f, "Usage: kexwatch [-c CONFIG | --db PATH] daily [--since 30d] [--bucket hour|day|week|month|window]\n"
               "         [--by mismatch|client|client-device] [--format table|json|csv]\n"
               "Failures per UTC day (or --bucket: hour, week from Monday, month, the whole window)\n"
               "and mismatch (or --by: client type, client type and device) since --since ago\n"
               "(default 30 days), oldest first: the numbers behind the console's charts.\n");
}

int query_daily(const char *cfg_path, const char *db_path, int argc, char **argv)
{
    static const struct listing l = {"daily", QUERY_DAILY, daily_help, NULL, true};
    return run_listing(&l, cfg_path, db_path, argc, argv);
}

static void alert_help(FILE *f)
{
    fprintf(f, "Usage: kexwatch [-c CONFIG | --db PATH] alert ID\n"
               "One alert (an alert_id of kexwatch alerts): its JSON object as it was last sent,\n"
               "with its status, first_seen, last_seen, count and fixed as the database has them\n"
               "now; JSON in every --format (the console's /api/v1/alerts/ID prints the same).\n"
               "Exit 1 when the alert is not in the database.\n");
}

int query_alert(const char *cfg_path, const char *db_path, int argc, char **argv)
{
    static const struct listing l = {"alert", QUERY_ALERT, alert_help, "name one alert ID (see kexwatch alerts)",
                                     true};
    return run_listing(&l, cfg_path, db_path, argc, argv);
}
