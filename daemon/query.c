/* SPDX-License-Identifier: ISC */
/* query: `kexwatch failures`, `devices` and `device KEY`. The store answers
 * row by row (store.h); rows are collected into a small table here so that
 * the human format can align its columns, then printed as an aligned table,
 * JSON (the SPEC's shape) or RFC 4180 CSV. Nothing here writes: the
 * database is opened STORE_READONLY, so a query never migrates or locks
 * the daemon out. */
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

#define DEFAULT_WINDOW (30 * 86400) /* the SPEC's default --since 30d */

enum format { FMT_TABLE, FMT_JSON, FMT_CSV };

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
static bool local_times;

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

static int parse_format(const char *cmd, const char *text, enum format *out)
{
    if (strcmp(text, "table") == 0)
        *out = FMT_TABLE;
    else if (strcmp(text, "json") == 0)
        *out = FMT_JSON;
    else if (strcmp(text, "csv") == 0)
        *out = FMT_CSV;
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

/* ---------------------------------------------------------------- failures */

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

/* --since DURATION into the window's start, now - DURATION, in 64 bits:
 * "100000d" works; more than INT64_MAX seconds is refused as too large.
 * Returns 0, or -1 after saying what is wrong. */
static int parse_since(const char *cmd, const char *text, time_t now, int64_t *from)
{
    int64_t secs;
    int rc = cfg_parse_duration64(text, &secs);
    if (rc == -2) {
        fprintf(stderr,
                "kexwatch %s: --since '%s' is too large: at most %lldd (2^63 - 1 seconds), which already "
                "reaches back before any stored time\n",
                cmd, text, CFG_DURATION64_MAX_DAYS);
        return -1;
    }
    if (rc < 0) {
        fprintf(stderr, "kexwatch %s: --since '%s' is not a duration (30d, 12h, 90m, 3600s)\n", cmd, text);
        return -1;
    }
    *from = (int64_t)now - secs;
    return 0;
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
        {"help", no_argument, NULL, 'h'},         {NULL, 0, NULL, 0},
    };
    static const char *const by_names[] = {
        [STORE_BY_CLIENT] = "client",       [STORE_BY_DEVICE] = "device",       [STORE_BY_CATEGORY] = "category",
        [STORE_BY_ALGORITHM] = "algorithm", [STORE_BY_MISMATCH] = "mismatch",
    };
    const char *since = NULL, *from = NULL, *until = NULL;
    struct store_failures_query q = {.by = STORE_BY_CLIENT};
    enum format fmt = FMT_TABLE;
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
        case 'L': local_times = true; break;
        case 'b': {
            int i = 0;
            while (i <= STORE_BY_MISMATCH && strcmp(by_names[i], optarg) != 0)
                i++;
            if (i > STORE_BY_MISMATCH) {
                fprintf(stderr, "kexwatch failures: unknown --by '%s' (client, device, category, algorithm or "
                                "mismatch)\n",
                        optarg);
                return 2;
            }
            q.by = (enum store_by)i;
            break;
        }
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
    if (since && (from || until)) {
        fprintf(stderr, "kexwatch failures: give --since or --from/--until, not both\n");
        return 2;
    }
    time_t now = time(NULL);
    q.from = (int64_t)now - DEFAULT_WINDOW;
    q.until = INT64_MAX;
    long long t;
    if (since && parse_since("failures", since, now, &q.from) < 0)
        return 2;
    if (from) {
        if (query_parse_time(from, &t) < 0) {
            fprintf(stderr, "kexwatch failures: --from '%s' is not an RFC 3339 time (2026-11-01T00:00:00Z)\n",
                    from);
            return 2;
        }
        q.from = t;
    } else if (until) {
        q.from = INT64_MIN; /* --until alone: everything before it */
    }
    if (until) {
        if (query_parse_time(until, &t) < 0) {
            fprintf(stderr, "kexwatch failures: --until '%s' is not an RFC 3339 time (2026-12-01T00:00:00Z)\n",
                    until);
            return 2;
        }
        q.until = t;
    }
    if (q.until <= q.from) {
        fprintf(stderr, "kexwatch failures: --until must be later than --from\n");
        return 2;
    }

    if (n_extra_dbs && q.by == STORE_BY_ALGORITHM && !explain) {
        fprintf(stderr, "kexwatch failures: --by algorithm reads one database; give one --db\n");
        return 2;
    }
    struct store *s;
    if (open_store("failures", cfg_path, db_path, &s) < 0)
        return 1;
    char err[1024] = "";
    int rc;
    if (explain) {
        /* hidden: the plan of the exact statement the query runs, for tests */
        rc = store_failures_plan(s, &q, print_plan, NULL, err, sizeof err);
        if (rc < 0)
            fprintf(stderr, "kexwatch failures: %s\n", err);
        store_close(s);
        return rc < 0 ? 1 : 0;
    }
    struct failures_ctx fc = {.by = q.by};
    rc = n_extra_dbs ? store_failures_merged(s, &q, collect_failure, &fc, err, sizeof err)
                     : store_failures(s, &q, collect_failure, &fc, err, sizeof err);
    store_close(s);
    if (rc < 0 || fc.t.oom) {
        fprintf(stderr, "kexwatch failures: %s\n", fc.t.oom ? "out of memory" : err);
        table_free(&fc.t);
        return 1;
    }
    if (!fc.t.cols) {
        static const char *const cols[] = {"key", "failures", "devices", "first_seen", "last_seen"};
        if (table_set_cols(&fc.t, 5, cols) < 0) {
            table_free(&fc.t);
            return 1;
        }
    }
    if (fmt == FMT_JSON) {
        print_json_array(stdout, &fc.t, "");
        putchar('\n');
    } else if (fmt == FMT_CSV) {
        print_csv(stdout, &fc.t);
    } else if (fc.t.nrows) {
        free(fc.t.cols[0]);
        fc.t.cols[0] = strdup(by_names[q.by]);
        if (!fc.t.cols[0])
            fc.t.cols[0] = strdup("key");
        print_table(stdout, &fc.t);
    } else {
        printf("no failures in the window\n");
    }
    table_free(&fc.t);
    return ferror(stdout) ? 1 : 0;
}

/* ----------------------------------------------------------------- devices */

/* --format, --db and --since (the failures window, default 30 days) of
 * devices and device; returns an exit code, or -1 to go on */
static int simple_options(const char *cmd, int argc, char **argv, const char **db_path, enum format *fmt,
                          int64_t *since, void (*help)(FILE *))
{
    static const struct option opts[] = {
        {"format", required_argument, NULL, 'F'},
        {"since", required_argument, NULL, 's'},
        {"db", required_argument, NULL, 'd'},
        {"local", no_argument, NULL, 'L'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int c;
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
        case 'L': local_times = true; break;
        case 's':
            if (parse_since(cmd, optarg, time(NULL), since) < 0)
                return 2;
            break;
        case 'h': help(stdout); return 0;
        default: help(stderr); return 2;
        }
    }
    return -1;
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
    enum format fmt = FMT_TABLE;
    int64_t since = (int64_t)time(NULL) - DEFAULT_WINDOW;
    int rc = simple_options("devices", argc, argv, &db_path, &fmt, &since, devices_help);
    if (rc >= 0)
        return rc;
    if (optind < argc) {
        fprintf(stderr, "kexwatch devices: unexpected argument '%s'\n", argv[optind]);
        return 2;
    }
    struct store *s;
    if (open_store("devices", cfg_path, db_path, &s) < 0)
        return 1;
    char err[1024] = "";
    struct table t = {0};
    rc = n_extra_dbs ? store_devices_merged(s, since, collect_row, &t, err, sizeof err)
                     : store_devices(s, since, collect_row, &t, err, sizeof err);
    store_close(s);
    if (rc < 0 || t.oom) {
        fprintf(stderr, "kexwatch devices: %s\n", t.oom ? "out of memory" : err);
        table_free(&t);
        return 1;
    }
    if (!t.cols) {
        static const char *const cols[] = {"key", "name", "vendor", "first_seen", "last_seen", "failures"};
        if (table_set_cols(&t, 6, cols) < 0) {
            table_free(&t);
            return 1;
        }
    }
    if (fmt == FMT_JSON) {
        print_json_array(stdout, &t, "");
        putchar('\n');
    } else if (fmt == FMT_CSV) {
        print_csv(stdout, &t);
    } else if (t.nrows) {
        free(t.cols[5]);
        t.cols[5] = strdup("failures_window");
        if (!t.cols[5])
            t.cols[5] = strdup("failures");
        print_table(stdout, &t);
    } else {
        printf("no devices\n");
    }
    table_free(&t);
    return ferror(stdout) ? 1 : 0;
}

/* ------------------------------------------------------------------ device */

/* The first row of t as one JSON object (numbers bare, null for none). */
static void print_json_row(FILE *f, const struct table *t)
{
    fputc('{', f);
    for (size_t c = 0; c < t->ncol; c++) {
        const struct cell *x = &t->cells[c];
        fputs(c ? ", " : "", f);
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

/* The profile part gains an "age" column (now - learned_at), computed
 * here because "now" is the tool's, not the database's. */
struct profile_ctx {
    struct table t;
    time_t now;
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
    format_age((int64_t)pc->now - v[3].num, age, sizeof age);
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
    enum format fmt = FMT_TABLE;
    time_t now = time(NULL);
    int64_t since = (int64_t)now - DEFAULT_WINDOW;
    int rc = simple_options("device", argc, argv, &db_path, &fmt, &since, device_help);
    if (rc >= 0)
        return rc;
    if (argc - optind != 1) {
        fprintf(stderr, "kexwatch device: name one device KEY (see kexwatch devices)\n");
        return 2;
    }
    const char *key = argv[optind];
    if (n_extra_dbs) {
        fprintf(stderr, "kexwatch device: reads one database; give one --db\n");
        return 2;
    }
    struct store *s;
    if (open_store("device", cfg_path, db_path, &s) < 0)
        return 1;
    char err[1024] = "";
    struct table info = {.title = "device"}, recent = {.title = "failures"}, clients = {.title = "clients"};
    struct table probe = {.title = "probe"}, alerts = {.title = "alerts"};
    struct profile_ctx pc = {.t = {.title = "profile"}, .now = now};
    int found = store_device(s, STORE_DEVICE_INFO, key, since, 0, collect_row, &info, err, sizeof err);
    rc = 0;
    if (found < 0 || info.oom) {
        rc = 1;
    } else if (found == 0) {
        fprintf(stderr, "kexwatch device: no device '%s' in the database (see kexwatch devices)\n", key);
        store_close(s);
        table_free(&info);
        return 1;
    } else if (store_device(s, STORE_DEVICE_PROFILE, key, since, 0, collect_profile, &pc, err, sizeof err) < 0 ||
               store_device(s, STORE_DEVICE_FAILURES, key, since, 50, collect_recent, &recent, err, sizeof err) <
                   0 ||
               store_device(s, STORE_DEVICE_CLIENTS, key, since, 0, collect_client, &clients, err, sizeof err) <
                   0 ||
               store_device(s, STORE_DEVICE_PROBE, key, since, 0, collect_row, &probe, err, sizeof err) < 0 ||
               store_device(s, STORE_DEVICE_ALERTS, key, since, 50, collect_row, &alerts, err, sizeof err) < 0) {
        rc = 1;
    }
    store_close(s);
    if (rc || pc.t.oom || recent.oom || clients.oom || probe.oom || alerts.oom) {
        fprintf(stderr, "kexwatch device: %s\n", rc ? err : "out of memory");
        rc = 1;
        goto out;
    }
    /* empty parts still print their header (and [] in JSON) */
    static const char *const pcols[] = {"slot", "source", "age", "learned_at", "list"};
    static const char *const rcols[] = {"time", "category", "direction", "mismatch", "evidence", "client",
                                        "address"};
    static const char *const ccols[] = {"client", "failures", "first_seen", "last_seen"};
    static const char *const bcols[] = {"time", "address", "port", "banner", "error"};
    static const char *const acols[] = {"alert_id",    "status",     "mismatch",  "category", "software",
                                        "fingerprint", "first_seen", "last_seen", "count",    "fixed_at"};
    if (table_set_cols(&pc.t, 5, pcols) < 0 || table_set_cols(&recent, 7, rcols) < 0 ||
        table_set_cols(&clients, 4, ccols) < 0 || table_set_cols(&probe, 5, bcols) < 0 ||
        table_set_cols(&alerts, 10, acols) < 0) {
        rc = 1;
        goto out;
    }
    if (fmt == FMT_JSON) {
        /* {"device": {...}, "profile": [...], "failures": [...], "clients": [...],
         *  "probe": {...} or null, "alerts": [...]} */
        printf("{\"device\": ");
        print_json_row(stdout, &info);
        printf(",\n \"profile\": ");
        print_json_array(stdout, &pc.t, " ");
        printf(",\n \"failures\": ");
        print_json_array(stdout, &recent, " ");
        printf(",\n \"clients\": ");
        print_json_array(stdout, &clients, " ");
        printf(",\n \"probe\": ");
        if (probe.nrows)
            print_json_row(stdout, &probe);
        else
            fputs("null", stdout);
        printf(",\n \"alerts\": ");
        print_json_array(stdout, &alerts, " ");
        printf("}\n");
    } else if (fmt == FMT_CSV) {
        print_csv(stdout, &info);
        fputs("\r\n", stdout);
        print_csv(stdout, &pc.t);
        fputs("\r\n", stdout);
        print_csv(stdout, &recent);
        fputs("\r\n", stdout);
        print_csv(stdout, &clients);
        fputs("\r\n", stdout);
        print_csv(stdout, &probe);
        fputs("\r\n", stdout);
        print_csv(stdout, &alerts);
    } else {
        const struct cell *d = info.cells;
        printf("device %s", d[0].s);
        if (d[1].s)
            printf(" (%s)", d[1].s);
        if (d[2].s)
            printf(", vendor %s", d[2].s);
        printf(", first seen %s, last seen %s\n", d[3].s ? d[3].s : "-", d[4].s ? d[4].s : "-");
        printf("\nserver profile:\n");
        if (pc.t.nrows)
            print_table(stdout, &pc.t);
        else
            printf("(none stored)\n");
        printf("\nfailures in the window (latest %zu):\n", recent.nrows);
        if (recent.nrows)
            print_table(stdout, &recent);
        else
            printf("(none)\n");
        printf("\nclient types that failed:\n");
        if (clients.nrows)
            print_table(stdout, &clients);
        else
            printf("(none)\n");
        printf("\nlast probe:\n");
        if (probe.nrows)
            print_table(stdout, &probe);
        else
            printf("(never probed)\n");
        printf("\nalerts in the window:\n");
        if (alerts.nrows)
            print_table(stdout, &alerts);
        else
            printf("(none)\n");
    }
    if (ferror(stdout))
        rc = 1;
out:
    table_free(&info);
    table_free(&pc.t);
    table_free(&recent);
    table_free(&clients);
    table_free(&probe);
    table_free(&alerts);
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
    enum format fmt = FMT_TABLE;
    int64_t since = (int64_t)time(NULL) - DEFAULT_WINDOW;
    int rc = simple_options("clients", argc, argv, &db_path, &fmt, &since, clients_help);
    if (rc >= 0)
        return rc;
    if (optind < argc) {
        fprintf(stderr, "kexwatch clients: unexpected argument '%s'\n", argv[optind]);
        return 2;
    }
    struct store *s;
    if (open_store("clients", cfg_path, db_path, &s) < 0)
        return 1;
    char err[1024] = "";
    struct table t = {0};
    rc = n_extra_dbs ? store_clients_merged(s, since, INT64_MAX, collect_clients, &t, err, sizeof err)
                     : store_clients(s, since, INT64_MAX, collect_clients, &t, err, sizeof err);
    store_close(s);
    if (rc < 0 || t.oom || table_set_cols(&t, 11, clients_cols) < 0) {
        fprintf(stderr, "kexwatch clients: %s\n", t.oom || rc >= 0 ? "out of memory" : err);
        table_free(&t);
        return 1;
    }
    if (fmt == FMT_JSON) {
        print_json_array(stdout, &t, "");
        putchar('\n');
    } else if (fmt == FMT_CSV) {
        print_csv(stdout, &t);
    } else if (t.nrows) {
        /* the lists are too wide for a terminal: the first six columns */
        struct table v = {.ncol = 6, .cols = t.cols, .nrows = t.nrows};
        if (!(v.cells = malloc(t.nrows * 6 * sizeof *v.cells))) {
            table_free(&t);
            return 1;
        }
        for (size_t r = 0; r < t.nrows; r++)
            memcpy(&v.cells[r * 6], &t.cells[r * 11], 6 * sizeof *v.cells);
        print_table(stdout, &v);
        free(v.cells);
    } else {
        printf("no client types in the window\n");
    }
    table_free(&t);
    return ferror(stdout) ? 1 : 0;
}
