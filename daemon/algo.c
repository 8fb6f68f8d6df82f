/* SPDX-License-Identifier: ISC */
/* algo: loading and querying the algorithm knowledge base (see algo.h).
 *
 * Both files are read whole into buffers owned by the database and split in
 * place, so every name the database hands out points into those buffers and
 * no string is copied. Exact names are found through one hash table
 * (hashtab.h) per category; the few wildcard rows (GSS-API kex names end in
 * a per-mechanism hash) are tried afterwards, longest first. Keywords have a
 * table per category too, keyed by keyword; the rows of several vendors
 * that share a keyword are chained.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "algo.h"
#include "datafile.h"
#include "hashtab.h"

#define MAX_FILE (4u * 1024 * 1024)
#define MAX_LINE 4096
#define MAX_ROWS 65535
#define MAX_NAME 64 /* RFC 4251 section 6 */
#define MAX_FIELDS 16
#define MAX_VENDORS 4

struct algo_entry {
    const struct algo_db *db;
    const char *name;
    const char *why; /* "" when the file says "-" */
    const char *kw[MAX_VENDORS];
    uint32_t line;
    uint8_t len;
    uint8_t category;
    uint8_t rating;
    uint8_t aead;
    uint8_t hk_use;
    bool wildcard;
};

struct algo_keyword {
    const struct algo_db *db;
    const char *vendor;
    const char *name;
    size_t first; /* index of the first wire name in db->wires */
    size_t nwire;
    const struct algo_keyword *same; /* next row with this category and keyword, another vendor */
    uint32_t line;
    uint16_t len;
    uint8_t category;
    bool undocumented;
};

struct algo_db {
    char *text[2]; /* file contents, split in place */
    struct algo_entry *entries;
    size_t nentries;
    struct hashtab *names[ALGO_NCATEGORIES]; /* name -> struct algo_entry */
    const struct algo_entry **wild[ALGO_NCATEGORIES]; /* longest prefix first */
    size_t nwild[ALGO_NCATEGORIES];
    const char *vendor[MAX_VENDORS];
    size_t nvendors;
    struct algo_keyword *keywords;
    size_t nkeywords;
    struct hashtab *kws[ALGO_NCATEGORIES]; /* keyword -> struct algo_keyword (chained by same) */
    const char **wires;
    uint8_t *wire_maybe;
    size_t nwires;
};

static const char *const category_names[ALGO_NCATEGORIES] = {
    "kex", "hostkey", "cipher", "mac", "compression",
};

static const char *const rating_names[] = {
    "unknown", "broken", "weak", "ok", "marker",
};

/* State of one file being read, for error messages. */


const char *algo_category_name(enum algo_category cat)
{
    return (unsigned)cat < ALGO_NCATEGORIES ? category_names[cat] : NULL;
}

int algo_category_from_name(const char *name)
{
    for (int i = 0; name && i < ALGO_NCATEGORIES; i++)
        if (strcmp(name, category_names[i]) == 0)
            return i;
    return -1;
}

const char *algo_rating_name(enum algo_rating r)
{
    return (unsigned)r <= ALGO_RATING_MARKER ? rating_names[r] : NULL;
}




/* Hands out the next line of *pos (in place, CR LF or LF ended) or NULL at
 * the end; counts lines in r->line. */
static char *next_line(struct datafile *r, char **pos)
{
    char *p = *pos;
    if (!*p)
        return NULL;
    char *nl = strchr(p, '\n');
    if (nl) {
        *nl = '\0';
        *pos = nl + 1;
    } else {
        *pos = p + strlen(p);
    }
    size_t len = strlen(p);
    if (len && p[len - 1] == '\r')
        p[--len] = '\0';
    r->line++;
    return p;
}

static bool skip_line(const char *line)
{
    while (*line == ' ' || *line == '\t')
        line++;
    return *line == '\0' || *line == '#';
}

/* Splits a line at TABs in place. Returns the field count, or -1 when there
 * are more than max. */
static int split_fields(char *line, char **f, int max)
{
    int n = 0;
    for (;;) {
        if (n == max)
            return -1;
        f[n++] = line;
        char *tab = strchr(line, '\t');
        if (!tab)
            return n;
        *tab = '\0';
        line = tab + 1;
    }
}

/* A wire name: 1..64 printable US-ASCII bytes, no comma (RFC 4251 section 6).
 * allow_star: a final '*' makes it a wildcard. */
static bool valid_name(const char *s, bool allow_star)
{
    size_t n = strlen(s);
    if (n == 0 || n > MAX_NAME)
        return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c <= 0x20 || c >= 0x7f || c == ',' || c == '?')
            return false;
        if (c == '*' && !(allow_star && i == n - 1 && n > 1))
            return false;
    }
    return true;
}

static bool valid_ident(const char *s)
{
    if (!*s)
        return false;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '_' || *s == '-'))
            return false;
    return true;
}

/* Finds the column named name in the header, or -1. */
static int column(const char *const *hdr, int n, const char *name)
{
    for (int i = 0; i < n; i++)
        if (strcmp(hdr[i], name) == 0)
            return i;
    return -1;
}

static const struct algo_entry *find_exact(const struct algo_db *db, enum algo_category cat,
                                           const char *name, size_t len)
{
    if ((unsigned)cat >= ALGO_NCATEGORIES || !db->names[cat])
        return NULL;
    return hashtab_find(db->names[cat], name, len);
}

static int wild_cmp(const void *a, const void *b)
{
    const struct algo_entry *x = *(const struct algo_entry *const *)a;
    const struct algo_entry *y = *(const struct algo_entry *const *)b;
    return (int)y->len - (int)x->len;
}

/* Builds the hash table and the wildcard lists once all rows are in. */
static int index_entries(struct algo_db *db, struct datafile *r)
{
    for (int c = 0; c < ALGO_NCATEGORIES; c++)
        if (!(db->names[c] = hashtab_new()))
            return datafile_fail(r, "out of memory");
    for (size_t k = 0; k < db->nentries; k++) {
        struct algo_entry *e = &db->entries[k];
        e->db = db;
        const struct algo_entry *dup = find_exact(db, e->category, e->name, e->len);
        if (dup) {
            r->line = e->line;
            return datafile_fail(r, "duplicate of line %u: %s %s", (unsigned)dup->line,
                        category_names[e->category], e->name);
        }
        if (hashtab_put(db->names[e->category], e->name, e->len, e, NULL) < 0)
            return datafile_fail(r, "out of memory");
        if (e->wildcard)
            db->nwild[e->category]++;
    }
    for (int c = 0; c < ALGO_NCATEGORIES; c++) {
        if (!db->nwild[c])
            continue;
        db->wild[c] = malloc(db->nwild[c] * sizeof *db->wild[c]);
        if (!db->wild[c])
            return datafile_fail(r, "out of memory");
        size_t n = 0;
        for (size_t k = 0; k < db->nentries; k++)
            if (db->entries[k].wildcard && db->entries[k].category == c)
                db->wild[c][n++] = &db->entries[k];
        qsort(db->wild[c], n, sizeof *db->wild[c], wild_cmp);
    }
    return 0;
}

/* The value of a TSV cell, "" for "-". */
static const char *cell(const char *s)
{
    return strcmp(s, "-") == 0 ? "" : s;
}

static int parse_algo_row(struct algo_db *db, struct datafile *r, char **f, const int *col,
                          const int *vcol, struct algo_entry *e)
{
    memset(e, 0, sizeof *e);
    e->line = (uint32_t)r->line;
    int cat = algo_category_from_name(f[col[0]]);
    if (cat < 0)
        return datafile_fail(r, "unknown category '%s'", f[col[0]]);
    e->category = (uint8_t)cat;
    const char *name = f[col[1]];
    if (!valid_name(name, true))
        return datafile_fail(r, "bad algorithm name '%s'", name);
    e->name = name;
    e->len = (uint8_t)strlen(name);
    e->wildcard = name[e->len - 1] == '*';

    const char *rating = f[col[2]];
    int rt = -1;
    for (int i = ALGO_RATING_BROKEN; i <= ALGO_RATING_MARKER; i++)
        if (strcmp(rating, rating_names[i]) == 0)
            rt = i;
    if (rt < 0)
        return datafile_fail(r, "unknown rating '%s' (broken, weak, ok or marker)", rating);
    if (rt == ALGO_RATING_MARKER && (cat != ALGO_KEX || e->wildcard))
        return datafile_fail(r, "only exact kex names can be markers");
    e->rating = (uint8_t)rt;

    e->why = col[3] >= 0 ? cell(f[col[3]]) : "";
    for (const char *p = e->why; *p; p++)
        if ((unsigned char)*p <= 0x20 || (unsigned char)*p >= 0x7f)
            return datafile_fail(r, "bad reason tags '%s'", e->why);

    const char *aead = col[4] >= 0 ? f[col[4]] : "-";
    if (strcmp(aead, "-") == 0)
        e->aead = ALGO_AEAD_NONE;
    else if (strcmp(aead, "yes") == 0)
        e->aead = ALGO_AEAD_IMPLICIT;
    else if (strcmp(aead, "rfc5647") == 0)
        e->aead = ALGO_AEAD_RFC5647;
    else
        return datafile_fail(r, "bad aead value '%s' (-, yes or rfc5647)", aead);
    if (e->aead != ALGO_AEAD_NONE && cat != ALGO_CIPHER && cat != ALGO_MAC)
        return datafile_fail(r, "aead is only for ciphers and MACs");

    const char *use = col[5] >= 0 ? f[col[5]] : "-";
    if (strcmp(use, "-") == 0 || strcmp(use, "sign") == 0)
        e->hk_use = ALGO_HK_SIGN;
    else if (strcmp(use, "any") == 0 && cat == ALGO_KEX)
        e->hk_use = ALGO_HK_ANY;
    else if (strcmp(use, "none") == 0 && cat == ALGO_HOSTKEY)
        e->hk_use = ALGO_HK_NONE;
    else
        return datafile_fail(r, "bad hostkey_use '%s' for %s", use, category_names[cat]);
    if (strcmp(use, "-") != 0 && cat != ALGO_KEX && cat != ALGO_HOSTKEY)
        return datafile_fail(r, "hostkey_use is only for kex and hostkey");

    for (size_t v = 0; v < db->nvendors; v++) {
        const char *kw = cell(f[vcol[v]]);
        if (!*kw)
            continue;
        if (strlen(kw) > MAX_NAME || strchr(kw, ',') || strchr(kw, ' '))
            return datafile_fail(r, "bad %s keyword '%s'", db->vendor[v], kw);
        e->kw[v] = kw;
    }
    return 0;
}

static int load_algorithms(struct algo_db *db, struct datafile *r)
{
    char *pos = db->text[0], *line;
    char *hdr[MAX_FIELDS], *f[MAX_FIELDS];
    int nhdr = 0;
    int col[6], vcol[MAX_VENDORS];
    size_t cap = 0;

    while ((line = next_line(r, &pos))) {
        if (strlen(line) > MAX_LINE)
            return datafile_fail(r, "line longer than %d bytes", MAX_LINE);
        if (skip_line(line))
            continue;
        if (!nhdr) {
            nhdr = split_fields(line, hdr, MAX_FIELDS);
            if (nhdr < 0)
                return datafile_fail(r, "more than %d columns", MAX_FIELDS);
            static const char *const fixed[6] = {
                "category", "name", "rating", "why", "aead", "hostkey_use",
            };
            for (int i = 0; i < 6; i++)
                col[i] = column((const char *const *)hdr, nhdr, fixed[i]);
            if (col[0] < 0 || col[1] < 0 || col[2] < 0)
                return datafile_fail(r, "header needs the columns category, name and rating");
            for (int i = 0; i < nhdr; i++) {
                if (column((const char *const *)hdr, i, hdr[i]) >= 0)
                    return datafile_fail(r, "column '%s' twice", hdr[i]);
                if (column(fixed, 6, hdr[i]) >= 0)
                    continue;
                /* Any other column is a vendor's CLI keyword column. */
                if (!valid_ident(hdr[i]))
                    return datafile_fail(r, "bad column name '%s'", hdr[i]);
                if (db->nvendors == MAX_VENDORS)
                    return datafile_fail(r, "more than %d vendor columns", MAX_VENDORS);
                vcol[db->nvendors] = i;
                db->vendor[db->nvendors++] = hdr[i];
            }
            continue;
        }
        int n = split_fields(line, f, MAX_FIELDS);
        if (n < 0)
            return datafile_fail(r, "more than %d fields, the header has %d", MAX_FIELDS, nhdr);
        if (n != nhdr)
            return datafile_fail(r, "%d fields, the header has %d", n, nhdr);
        if (db->nentries == MAX_ROWS)
            return datafile_fail(r, "more than %d rows", MAX_ROWS);
        if (datafile_grow((void **)&db->entries, &cap, db->nentries + 1, sizeof *db->entries) < 0)
            return datafile_fail(r, "out of memory");
        if (parse_algo_row(db, r, f, col, vcol, &db->entries[db->nentries]) < 0)
            return -1;
        db->nentries++;
    }
    if (!nhdr) {
        r->line = 0;
        return datafile_fail(r, "no header line");
    }
    return index_entries(db, r);
}

static const struct algo_keyword *find_keyword(const struct algo_db *db, const char *vendor,
                                               enum algo_category cat, const char *kw,
                                               size_t len)
{
    if ((unsigned)cat >= ALGO_NCATEGORIES || !db->kws[cat] || !vendor)
        return NULL;
    for (const struct algo_keyword *k = hashtab_find(db->kws[cat], kw, len); k; k = k->same)
        if (strcmp(k->vendor, vendor) == 0)
            return k;
    return NULL;
}

/* Splits the wire column of one keyword row into db->wires. */
static int parse_wires(struct algo_db *db, struct datafile *r, struct algo_keyword *k, char *wire,
                       size_t *cap, size_t *mcap)
{
    k->first = db->nwires;
    if (strcmp(wire, "?") == 0) {
        k->undocumented = true;
        return 0;
    }
    for (char *p = wire;;) {
        char *comma = strchr(p, ',');
        if (comma)
            *comma = '\0';
        size_t n = strlen(p);
        bool maybe = n > 1 && p[n - 1] == '?';
        if (maybe)
            p[--n] = '\0';
        if (!valid_name(p, false))
            return datafile_fail(r, "bad wire name '%s'", p);
        if (!find_exact(db, (enum algo_category)k->category, p, n))
            return datafile_fail(r, "wire name '%s' is not in the algorithm table as %s", p,
                        category_names[k->category]);
        for (size_t i = k->first; i < db->nwires; i++)
            if (strcmp(db->wires[i], p) == 0)
                return datafile_fail(r, "wire name '%s' twice", p);
        if (datafile_grow((void **)&db->wires, cap, db->nwires + 1, sizeof *db->wires) < 0 ||
            datafile_grow((void **)&db->wire_maybe, mcap, db->nwires + 1, 1) < 0)
            return datafile_fail(r, "out of memory");
        db->wires[db->nwires] = p;
        db->wire_maybe[db->nwires] = maybe;
        db->nwires++;
        if (!comma)
            break;
        p = comma + 1;
    }
    k->nwire = db->nwires - k->first;
    return 0;
}

static int index_keywords(struct algo_db *db, struct datafile *r)
{
    for (int c = 0; c < ALGO_NCATEGORIES; c++)
        if (!(db->kws[c] = hashtab_new()))
            return datafile_fail(r, "out of memory");
    for (size_t k = 0; k < db->nkeywords; k++) {
        struct algo_keyword *kw = &db->keywords[k];
        kw->db = db;
        enum algo_category cat = (enum algo_category)kw->category;
        const struct algo_keyword *dup = find_keyword(db, kw->vendor, cat, kw->name, kw->len);
        if (dup) {
            r->line = kw->line;
            return datafile_fail(r, "duplicate of line %u: %s %s %s", (unsigned)dup->line, kw->vendor,
                        category_names[cat], kw->name);
        }
        /* the first row of a keyword stays in the table, later vendors' follow it */
        struct algo_keyword *head = hashtab_find(db->kws[cat], kw->name, kw->len);
        if (head) {
            kw->same = head->same;
            head->same = kw;
        } else if (hashtab_put(db->kws[cat], kw->name, kw->len, kw, NULL) < 0) {
            return datafile_fail(r, "out of memory");
        }
    }
    return 0;
}

static int load_keywords(struct algo_db *db, struct datafile *r)
{
    char *pos = db->text[1], *line;
    char *hdr[MAX_FIELDS], *f[MAX_FIELDS];
    int nhdr = 0, col[5];
    size_t cap = 0, wcap = 0, mcap = 0;

    while ((line = next_line(r, &pos))) {
        if (strlen(line) > MAX_LINE)
            return datafile_fail(r, "line longer than %d bytes", MAX_LINE);
        if (skip_line(line))
            continue;
        if (!nhdr) {
            nhdr = split_fields(line, hdr, MAX_FIELDS);
            if (nhdr < 0)
                return datafile_fail(r, "more than %d columns", MAX_FIELDS);
            static const char *const names[5] = { "vendor", "category", "keyword", "wire", "note" };
            for (int i = 0; i < 5; i++)
                col[i] = column((const char *const *)hdr, nhdr, names[i]);
            if (col[0] < 0 || col[1] < 0 || col[2] < 0 || col[3] < 0)
                return datafile_fail(r, "header needs the columns vendor, category, keyword and wire");
            for (int i = 0; i < nhdr; i++)
                if (column(names, 5, hdr[i]) < 0)
                    return datafile_fail(r, "unknown column '%s'", hdr[i]);
                else if (column((const char *const *)hdr, i, hdr[i]) >= 0)
                    return datafile_fail(r, "column '%s' twice", hdr[i]);
            continue;
        }
        int n = split_fields(line, f, MAX_FIELDS);
        if (n < 0)
            return datafile_fail(r, "more than %d fields, the header has %d", MAX_FIELDS, nhdr);
        if (n != nhdr)
            return datafile_fail(r, "%d fields, the header has %d", n, nhdr);
        if (db->nkeywords == MAX_ROWS)
            return datafile_fail(r, "more than %d rows", MAX_ROWS);
        if (datafile_grow((void **)&db->keywords, &cap, db->nkeywords + 1, sizeof *db->keywords) < 0)
            return datafile_fail(r, "out of memory");
        struct algo_keyword *k = &db->keywords[db->nkeywords];
        memset(k, 0, sizeof *k);
        k->line = (uint32_t)r->line;
        if (!valid_ident(f[col[0]]))
            return datafile_fail(r, "bad vendor '%s'", f[col[0]]);
        k->vendor = f[col[0]];
        int cat = algo_category_from_name(f[col[1]]);
        if (cat < 0)
            return datafile_fail(r, "unknown category '%s'", f[col[1]]);
        k->category = (uint8_t)cat;
        if (!valid_name(f[col[2]], false))
            return datafile_fail(r, "bad keyword '%s'", f[col[2]]);
        k->name = f[col[2]];
        k->len = (uint16_t)strlen(k->name);
        if (parse_wires(db, r, k, f[col[3]], &wcap, &mcap) < 0)
            return -1;
        db->nkeywords++;
    }
    if (!nhdr) {
        r->line = 0;
        return datafile_fail(r, "no header line");
    }
    return index_keywords(db, r);
}

/* The vendor columns of algorithms.tsv and keywords.tsv describe the same
 * mapping from two sides; a disagreement is a typo in one of them. */
static int cross_check(const struct algo_db *db, struct datafile *r)
{
    for (size_t k = 0; k < db->nentries; k++) {
        const struct algo_entry *e = &db->entries[k];
        for (size_t v = 0; v < db->nvendors; v++) {
            if (!e->kw[v])
                continue;
            r->line = e->line;
            const struct algo_keyword *kw = find_keyword(
                db, db->vendor[v], (enum algo_category)e->category, e->kw[v], strlen(e->kw[v]));
            if (!kw)
                return datafile_fail(r, "%s keyword '%s' is not defined in the keyword file",
                            db->vendor[v], e->kw[v]);
            bool found = false;
            for (size_t i = 0; i < kw->nwire; i++)
                if (strcmp(db->wires[kw->first + i], e->name) == 0)
                    found = true;
            if (!found)
                return datafile_fail(r, "%s keyword '%s' does not expand to %s in the keyword file",
                            db->vendor[v], e->kw[v], e->name);
        }
    }
    return 0;
}

int algo_db_load(const char *path_algorithms, const char *path_keywords, struct algo_db **out,
                 char *err, size_t errsize)
{
    struct datafile r = { .path = path_algorithms, .err = err, .errsize = errsize };
    if (err && errsize)
        err[0] = '\0';
    if (!out)
        return -1;
    *out = NULL;
    if (!path_algorithms)
        return datafile_fail(&(struct datafile){ .path = "(null)", .err = err, .errsize = errsize },
                    "no algorithm file given");
    struct algo_db *db = calloc(1, sizeof *db);
    if (!db)
        return datafile_fail(&r, "out of memory");
    db->text[0] = datafile_read(&r, MAX_FILE);
    if (!db->text[0] || load_algorithms(db, &r) < 0)
        goto bad;
    if (path_keywords) {
        struct datafile rk = { .path = path_keywords, .err = err, .errsize = errsize };
        db->text[1] = datafile_read(&rk, MAX_FILE);
        if (!db->text[1] || load_keywords(db, &rk) < 0)
            goto bad;
        r.line = 0;
        if (cross_check(db, &r) < 0)
            goto bad;
    }
    *out = db;
    return 0;
bad:
    algo_db_free(db);
    return -1;
}

void algo_db_free(struct algo_db *db)
{
    if (!db)
        return;
    for (int c = 0; c < ALGO_NCATEGORIES; c++) {
        free(db->wild[c]);
        hashtab_free(db->names[c]);
        hashtab_free(db->kws[c]);
    }
    free(db->entries);
    free(db->keywords);
    free(db->wires);
    free(db->wire_maybe);
    free(db->text[0]);
    free(db->text[1]);
    free(db);
}

size_t algo_db_count(const struct algo_db *db)
{
    return db ? db->nentries : 0;
}

size_t algo_db_keyword_count(const struct algo_db *db)
{
    return db ? db->nkeywords : 0;
}

const struct algo_entry *algo_db_find(const struct algo_db *db, enum algo_category cat,
                                      const char *name, size_t len)
{
    if (!db || !name || (unsigned)cat >= ALGO_NCATEGORIES || len == 0 || len > MAX_NAME)
        return NULL;
    const struct algo_entry *e = find_exact(db, cat, name, len);
    if (e)
        return e;
    for (size_t i = 0; i < db->nwild[cat]; i++) {
        const struct algo_entry *w = db->wild[cat][i];
        size_t plen = (size_t)w->len - 1;
        if (len >= plen && memcmp(name, w->name, plen) == 0)
            return w;
    }
    return NULL;
}

const struct algo_entry *algo_db_find_str(const struct algo_db *db, enum algo_category cat,
                                          const char *name)
{
    return name ? algo_db_find(db, cat, name, strlen(name)) : NULL;
}

bool algo_db_is_marker(const struct algo_db *db, const char *name, size_t len)
{
    return algo_entry_is_marker(algo_db_find(db, ALGO_KEX, name, len));
}

const char *algo_entry_name(const struct algo_entry *e)
{
    return e ? e->name : NULL;
}

enum algo_category algo_entry_category(const struct algo_entry *e)
{
    return e ? (enum algo_category)e->category : ALGO_NCATEGORIES;
}

enum algo_rating algo_entry_rating(const struct algo_entry *e)
{
    return e ? (enum algo_rating)e->rating : ALGO_RATING_UNKNOWN;
}

bool algo_entry_is_marker(const struct algo_entry *e)
{
    return e && e->rating == ALGO_RATING_MARKER;
}

enum algo_aead algo_entry_aead(const struct algo_entry *e)
{
    return e ? (enum algo_aead)e->aead : ALGO_AEAD_NONE;
}

enum algo_hostkey_use algo_entry_hostkey_use(const struct algo_entry *e)
{
    return e ? (enum algo_hostkey_use)e->hk_use : ALGO_HK_SIGN;
}

const char *algo_entry_why(const struct algo_entry *e)
{
    return e ? e->why : "";
}

bool algo_entry_has_reason(const struct algo_entry *e, const char *tag)
{
    if (!e || !tag || !*tag)
        return false;
    size_t n = strlen(tag);
    for (const char *p = e->why; *p;) {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (len == n && memcmp(p, tag, n) == 0)
            return true;
        if (!end)
            break;
        p = end + 1;
    }
    return false;
}

const char *algo_entry_keyword(const struct algo_entry *e, const char *vendor)
{
    if (!e || !vendor)
        return NULL;
    for (size_t v = 0; v < e->db->nvendors; v++)
        if (strcmp(e->db->vendor[v], vendor) == 0)
            return e->kw[v];
    return NULL;
}

const struct algo_keyword *algo_db_keyword(const struct algo_db *db, const char *vendor,
                                           enum algo_category cat, const char *keyword,
                                           size_t len)
{
    if (!db || !keyword || (unsigned)cat >= ALGO_NCATEGORIES || len == 0 || len > MAX_NAME)
        return NULL;
    return find_keyword(db, vendor, cat, keyword, len);
}

const char *algo_keyword_name(const struct algo_keyword *kw)
{
    return kw ? kw->name : NULL;
}

size_t algo_keyword_wire_count(const struct algo_keyword *kw)
{
    return kw ? kw->nwire : 0;
}

const char *algo_keyword_wire(const struct algo_keyword *kw, size_t i,
                              enum algo_wire_certainty *certainty)
{
    if (!kw || i >= kw->nwire)
        return NULL;
    if (certainty)
        *certainty = kw->db->wire_maybe[kw->first + i] ? ALGO_WIRE_MAYBE : ALGO_WIRE_CERTAIN;
    return kw->db->wires[kw->first + i];
}

bool algo_keyword_undocumented(const struct algo_keyword *kw)
{
    return kw && kw->undocumented;
}
