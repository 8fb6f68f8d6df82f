/* SPDX-License-Identifier: ISC */
/* platform: the platforms table (see platform.h; the format is documented
 * in conf/platforms.tsv). The file is read into one buffer, split in place,
 * and rows point into it; lookups are linear scans of a few hundred rows,
 * done only when a failure is remedied. */
#include "config.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "datafile.h"
#include "platform.h"

#define MAX_FILE    (1024u * 1024)
#define MAX_ROWS    8192
#define MAX_COLUMNS 8

struct platform_row {
    const char *platform;
    int category;
    const char *name, *word, *since, *until, *option;
    size_t line;
};

struct platform_db {
    char *text;
    struct platform_row *rows;
    size_t nrows;
};

static const char *const columns[] = {"platform", "category", "name", "word", "since", "until", "option"};
enum { C_PLATFORM, C_CATEGORY, C_NAME, C_WORD, C_SINCE, C_UNTIL, C_OPTION, C_COUNT };

static bool valid_version(const char *s)
{
    if (strcmp(s, "-") == 0)
        return true;
    if (*s < '0' || *s > '9')
        return false;
    for (; *s; s++)
        if (!((*s >= '0' && *s <= '9') || *s == '.' || (*s >= 'a' && *s <= 'z') || *s == '(' || *s == ')'))
            return false;
    return true;
}

static bool valid_word(const char *s)
{
    if (!*s)
        return false;
    for (; *s; s++)
        if ((unsigned char)*s <= ' ' || (unsigned char)*s >= 0x7f)
            return false;
    return true;
}

static char *dash_empty(char *s)
{
    return strcmp(s, "-") == 0 ? s + 1 : s;
}

static int split(char *line, char **f, int max)
{
    int n = 0;
    for (char *p = line;;) {
        if (n == max)
            return -1;
        f[n++] = p;
        char *tab = strchr(p, '\t');
        if (!tab)
            break;
        *tab = '\0';
        p = tab + 1;
    }
    return n;
}

static int add_row(struct platform_db *db, size_t *cap, struct datafile *r, const char *plat, char **f, const int *col)
{
    if (db->nrows == MAX_ROWS)
        return datafile_fail(r, "more than %d rows", MAX_ROWS);
    int cat = algo_category_from_name(f[col[C_CATEGORY]]);
    if (cat < 0)
        return datafile_fail(r, "unknown category '%s'", f[col[C_CATEGORY]]);
    const char *name = f[col[C_NAME]];
    if (!valid_word(name))
        return datafile_fail(r, "bad name '%s'", name);
    if (platform_find(db, plat, (enum algo_category)cat, name))
        return datafile_fail(r, "%s %s %s listed twice", plat, f[col[C_CATEGORY]], name);
    if (datafile_grow((void **)&db->rows, cap, db->nrows + 1, sizeof *db->rows) < 0)
        return datafile_fail(r, "out of memory");
    struct platform_row *row = &db->rows[db->nrows++];
    row->platform = plat;
    row->category = cat;
    row->name = name;
    row->word = col[C_WORD] >= 0 ? dash_empty(f[col[C_WORD]]) : "";
    row->since = col[C_SINCE] >= 0 ? dash_empty(f[col[C_SINCE]]) : "";
    row->until = col[C_UNTIL] >= 0 ? dash_empty(f[col[C_UNTIL]]) : "";
    row->option = col[C_OPTION] >= 0 ? dash_empty(f[col[C_OPTION]]) : "";
    row->line = r->line;
    return 0;
}

static int parse(struct platform_db *db, struct datafile *r)
{
    int col[C_COUNT], ncols = 0;
    size_t cap = 0;
    char *p = db->text;
    r->line = 0;
    while (*p) {
        char *line = p, *nl = strchr(p, '\n');
        if (nl) {
            *nl = '\0';
            p = nl + 1;
        } else {
            p += strlen(p);
        }
        r->line++;
        size_t len = strlen(line);
        if (len && line[len - 1] == '\r')
            line[--len] = '\0';
        if (!len || line[0] == '#')
            continue;
        char *f[MAX_COLUMNS];
        int n = split(line, f, MAX_COLUMNS);
        if (n < 0)
            return datafile_fail(r, "more than %d columns", MAX_COLUMNS);
        if (!ncols) {
            for (int c = 0; c < C_COUNT; c++)
                col[c] = -1;
            for (int i = 0; i < n; i++) {
                int found = -1;
                for (int c = 0; c < C_COUNT; c++)
                    if (strcmp(f[i], columns[c]) == 0)
                        found = c;
                if (found < 0)
                    return datafile_fail(r, "unknown column '%s'", f[i]);
                if (col[found] >= 0)
                    return datafile_fail(r, "column '%s' twice", f[i]);
                col[found] = i;
            }
            if (col[C_PLATFORM] < 0 || col[C_CATEGORY] < 0 || col[C_NAME] < 0)
                return datafile_fail(r, "header needs the columns platform, category and name");
            ncols = n;
            continue;
        }
        if (n != ncols)
            return datafile_fail(r, "%d fields, the header has %d", n, ncols);
        for (int c = C_SINCE; c <= C_UNTIL; c++)
            if (col[c] >= 0 && !valid_version(f[col[c]]))
                return datafile_fail(r, "bad release '%s' (digits and dots, or -)", f[col[c]]);
        if (col[C_WORD] >= 0 && !valid_word(f[col[C_WORD]]))
            return datafile_fail(r, "bad word '%s'", f[col[C_WORD]]);
        /* "cisco-ios,cisco-iosxe": one row per platform, sharing strings. */
        for (char *save = NULL, *plat = strtok_r(f[col[C_PLATFORM]], ",", &save); plat;
             plat = strtok_r(NULL, ",", &save))
            if (add_row(db, &cap, r, plat, f, col) < 0)
                return -1;
    }
    if (!ncols) {
        r->line = 0;
        return datafile_fail(r, "no header line");
    }
    return 0;
}

int platform_db_load(const char *path, struct platform_db **out, char *err, size_t errsize)
{
    struct datafile r = {.path = path ? path : "(null)", .err = err, .errsize = errsize};
    if (err && errsize)
        err[0] = '\0';
    if (out)
        *out = NULL;
    if (!path || !out)
        return datafile_fail(&r, "no file");
    struct platform_db *db = calloc(1, sizeof *db);
    if (!db)
        return datafile_fail(&r, "out of memory");
    db->text = datafile_read(&r, MAX_FILE);
    if (!db->text || parse(db, &r) < 0) {
        platform_db_free(db);
        return -1;
    }
    *out = db;
    return 0;
}

void platform_db_free(struct platform_db *db)
{
    if (!db)
        return;
    free(db->rows);
    free(db->text);
    free(db);
}

bool platform_knows(const struct platform_db *db, const char *platform, enum algo_category cat)
{
    for (size_t i = 0; db && platform && i < db->nrows; i++)
        if (db->rows[i].category == (int)cat && strcmp(db->rows[i].platform, platform) == 0)
            return true;
    return false;
}

const struct platform_row *platform_find(const struct platform_db *db, const char *platform, enum algo_category cat,
                                         const char *name)
{
    for (size_t i = 0; db && platform && name && i < db->nrows; i++) {
        const struct platform_row *r = &db->rows[i];
        if (r->category == (int)cat && strcmp(r->name, name) == 0 && strcmp(r->platform, platform) == 0)
            return r;
    }
    return NULL;
}

const struct platform_row *platform_find_word(const struct platform_db *db, const char *platform,
                                              enum algo_category cat, const char *word)
{
    for (size_t i = 0; db && platform && word && i < db->nrows; i++) {
        const struct platform_row *r = &db->rows[i];
        if (r->category == (int)cat && strcmp(platform_row_word(r), word) == 0 && strcmp(r->platform, platform) == 0)
            return r;
    }
    return NULL;
}

/* The next number of a release string, skipping anything else. */
static bool next_number(const char **s, unsigned long *v)
{
    while (**s && (**s < '0' || **s > '9'))
        (*s)++;
    if (!**s)
        return false;
    *v = strtoul(*s, (char **)s, 10);
    return true;
}

int platform_version_cmp(const char *a, const char *b)
{
    for (;;) {
        unsigned long x = 0, y = 0;
        bool hx = next_number(&a, &x), hy = next_number(&b, &y);
        if (!hx && !hy)
            return 0;
        if (x != y)
            return x < y ? -1 : 1;
        if (!hx || !hy)
            return hx ? 1 : -1;
    }
}

bool platform_row_available(const struct platform_row *r, const char *version)
{
    if (!r)
        return false;
    if (!version || !*version)
        return true;
    if (r->since[0] && platform_version_cmp(version, r->since) < 0)
        return false;
    if (r->until[0] && platform_version_cmp(version, r->until) >= 0)
        return false;
    return true;
}

const char *platform_row_name(const struct platform_row *r)
{
    return r ? r->name : NULL;
}

const char *platform_row_word(const struct platform_row *r)
{
    return r ? (r->word[0] ? r->word : r->name) : NULL;
}

const char *platform_row_since(const struct platform_row *r)
{
    return r ? r->since : NULL;
}

const char *platform_row_option(const struct platform_row *r)
{
    return r ? r->option : NULL;
}
