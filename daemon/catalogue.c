/* SPDX-License-Identifier: ISC */
/* catalogue: loading the mismatch catalogue, classifying failures and
 * computing remedies (see catalogue.h; the file format is documented in
 * conf/catalogue.conf).
 *
 * Rules are compiled at load time into one pool of expression nodes and
 * evaluated in three-valued logic (false, unknown, true) against the
 * failing slot's lists, so a list nobody logged makes a rule "unknown"
 * rather than wrongly true or false. Rendering writes through a bounded
 * appender into the caller's buffers; nothing is allocated after loading.
 */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "algo.h"
#include "datafile.h"
#include "catalogue.h"
#include "negotiate.h"
#include "negotiation.h"
#include "platform.h"

#define MAX_FILE        (1024u * 1024)
#define MAX_LINE        4096
#define MAX_VALUE       8192 /* a value with its continuation lines */
#define MAX_SECTIONS    256
#define MAX_NODES       8192
#define MAX_DEPTH       48 /* nesting of ( and ! in one rule */
#define MAX_ID          63
#define MAX_PRIORITY    1000
#define MAX_NAMES_SHOWN 10 /* client names quoted in one sentence */
#define MAX_KEYTYPES    16
#define MAX_GLOBS       8
#define STEP_SEP        ";;" /* separates the lines of a multi-line template */

/* ------------------------------------------------------------ structures */

enum tri { TRI_FALSE = 0, TRI_UNKNOWN = 1, TRI_TRUE = 2 };

enum node_kind {
    /* rule level: over lists */
    R_TRUE,
    R_NOT,
    R_AND,
    R_OR,
    R_QUANT,
    R_ALIASED,
    /* predicate level: over one name */
    P_NOT,
    P_AND,
    P_OR,
    P_TAG,
    P_RATING,
    P_AEAD,
    P_NAME,
    P_KNOWN,
    P_KEYWORD,
};

enum side { SIDE_CLIENT, SIDE_SERVER, SIDE_CIPHER };
enum quant { Q_ALL, Q_ANY, Q_NONE };

struct node {
    uint8_t kind;
    uint8_t side;
    uint8_t quant;
    bool optional;    /* "side?": unknown counts as true */
    int rating;       /* P_RATING */
    int a, b;         /* children; R_QUANT and R_ALIASED keep their predicate in a */
    const char *text; /* P_TAG tag, P_NAME glob */
    size_t line;      /* for errors found after parsing (unlisted tags) */
};

struct entry {
    const char *id;
    const char *severity;
    const char *summary;
    unsigned cats; /* bit per enum algo_category */
    int priority;
    int match; /* root node; -1 for the fallback */
    size_t line;
    bool has_cats, has_priority;
};

enum vendor_key { VK_SHOW, VK_UNKNOWN_LIST, VK_OFFER_UNKNOWN, VK_WEAK_NOTE, VK_COUNT };

/* A vendor section's raw "keygen-TYPE" key, resolved against [keytype]
 * once the whole file is read. */
struct keygen_raw {
    size_t vendor;
    const char *type, *tpl;
    size_t line;
};

struct vendor {
    const char *name; /* "*" for the generic section */
    const char *cmd[ALGO_NCATEGORIES];
    const char *key[VK_COUNT];
    int supports, weak; /* predicate roots, or -1 */
    bool keyword_names;
    bool has_names, has_join, has_config, has_keygen_first;
    char join;
    size_t line;
    /* the platform's knowledge and the shape of its change */
    const char *platform;          /* platforms.tsv name; NULL: the section's name */
    const char *like_name;         /* missing keys come from this section, then [vendor *] */
    const struct vendor *like;     /* resolved at validation */
    const char *software[MAX_GLOBS]; /* server software that identifies the platform */
    size_t nsoftware;
    bool software_release;         /* the software string carries the release */
    bool config;                   /* commands are configuration lines (steps) */
    bool keygen_first;             /* key generation precedes begin (an EXEC command) */
    const char *begin, *end, *verify, *server;
    const char *keygen[MAX_KEYTYPES]; /* by [keytype] index */
};

struct keytype {
    const char *name;
    const char *names[MAX_GLOBS * 2]; /* host key algorithms that use this key */
    size_t nnames;
};

struct alias {
    const char *name;
    size_t cls;
};

struct reason {
    const char *tag;
    const char *phrase; /* "" for '-' */
};

enum text_key {
    T_BROKEN_ONLY,
    T_CANNOT_ENABLE,
    T_CLIENT_UPGRADE,
    T_CLIENT_WEAKEN,
    T_CLIENT_SERVER_UNKNOWN,
    T_CLIENT_NOTHING,
    T_RISK,
    T_RISK_CLEAN,
    T_RISK_BROKEN,
    T_RISK_NONE,
    T_MAC_UNKNOWN,
    T_COUNT
};

struct catalogue {
    struct entry *entries; /* mismatches, highest priority first */
    size_t nentries;
    struct entry fallback;
    bool has_fallback;
    size_t order_n; /* file order, for catalogue_id() */
    const struct entry **order;
    struct node *nodes;
    size_t nnodes;
    struct vendor *vendors;
    size_t nvendors;
    struct alias *aliases;
    size_t naliases;
    size_t nclasses;
    struct reason *reasons;
    size_t nreasons;
    const char **upgrade[ALGO_NCATEGORIES];
    size_t nupgrade[ALGO_NCATEGORIES];
    const char *text[T_COUNT];
    struct keytype keytypes[MAX_KEYTYPES];
    size_t nkeytypes;
    struct platform_db *platforms; /* [platforms] file, or NULL */
    char **strings; /* every string above, owned */
    size_t nstrings;
};

/* ------------------------------------------------------------ placeholders */

enum placeholder {
    PH_CLIENT,
    PH_CLIENT_SOFTWARE,
    PH_PEER,
    PH_DEVICE,
    PH_VENDOR,
    PH_CATEGORY,
    PH_DIRECTION,
    PH_NAME,
    PH_WIRE,
    PH_KEYWORD,
    PH_LIST,
    PH_COMMAND,
    PH_SHOW,
    PH_NAMES,
    PH_RATING,
    PH_REASONS,
    PH_OPTION,
    PH_CHANGE,
    PH_STEPS,
    PH_COUNT
};

/* The template language's own words, not knowledge about algorithms. */
static const char *const ph_names[PH_COUNT] = {
    "client", "client_software", "peer", "device",  "vendor", "category", "direction", "name",
    "wire",   "keyword",         "list", "command", "show",   "names",    "rating",    "reasons",
    "option", "change",          "steps",
};

#define PH(x) (1u << (x))
#define PH_SUMMARY                                                                                                     \
    (PH(PH_CLIENT) | PH(PH_CLIENT_SOFTWARE) | PH(PH_PEER) | PH(PH_DEVICE) | PH(PH_VENDOR) | PH(PH_CATEGORY) |          \
     PH(PH_DIRECTION))
#define PH_COMMAND_VARS                                                                                                \
    (PH(PH_NAME) | PH(PH_WIRE) | PH(PH_LIST) | PH(PH_CATEGORY) | PH(PH_DEVICE) | PH(PH_VENDOR) | PH(PH_OPTION))

static const char *const text_keys[T_COUNT] = {
    "broken-only",    "cannot-enable", "client-upgrade", "client-weaken", "client-server-unknown",
    "client-nothing", "risk",          "risk-clean",     "risk-broken",   "risk-none",
    "mac-unknown",
};

static const unsigned text_masks[T_COUNT] = {
    [T_BROKEN_ONLY] = PH(PH_CATEGORY) | PH(PH_NAMES) | PH(PH_DEVICE) | PH(PH_VENDOR),
    [T_CANNOT_ENABLE] = PH(PH_CATEGORY) | PH(PH_NAMES) | PH(PH_DEVICE) | PH(PH_VENDOR),
    [T_CLIENT_UPGRADE] = PH(PH_NAME) | PH(PH_CATEGORY) | PH(PH_DEVICE),
    [T_CLIENT_WEAKEN] = PH(PH_NAME) | PH(PH_CATEGORY) | PH(PH_RATING) | PH(PH_REASONS) | PH(PH_DEVICE),
    [T_CLIENT_SERVER_UNKNOWN] = PH(PH_CATEGORY) | PH(PH_SHOW) | PH(PH_DEVICE),
    [T_CLIENT_NOTHING] = PH(PH_CATEGORY) | PH(PH_SHOW) | PH(PH_DEVICE),
    [T_RISK] = PH(PH_NAME) | PH(PH_WIRE) | PH(PH_KEYWORD) | PH(PH_REASONS) | PH(PH_RATING) | PH(PH_DEVICE),
    [T_RISK_CLEAN] = PH(PH_NAME) | PH(PH_WIRE) | PH(PH_KEYWORD) | PH(PH_RATING) | PH(PH_DEVICE),
    [T_RISK_BROKEN] = PH(PH_NAME) | PH(PH_WIRE) | PH(PH_KEYWORD) | PH(PH_REASONS) | PH(PH_RATING) | PH(PH_DEVICE),
    [T_RISK_NONE] = PH(PH_CATEGORY) | PH(PH_DEVICE),
    [T_MAC_UNKNOWN] = PH(PH_WIRE) | PH(PH_DEVICE) | PH(PH_SHOW),
};

static const char *const vendor_keys[VK_COUNT] = {"show", "unknown-list", "offer-unknown", "weak-note"};

static const unsigned vendor_masks[VK_COUNT] = {
    [VK_SHOW] = 0,
    [VK_UNKNOWN_LIST] =
        PH(PH_COMMAND) | PH(PH_SHOW) | PH(PH_NAME) | PH(PH_WIRE) | PH(PH_CATEGORY) | PH(PH_DEVICE) | PH(PH_VENDOR),
    [VK_OFFER_UNKNOWN] = PH(PH_CATEGORY) | PH(PH_SHOW) | PH(PH_DEVICE) | PH(PH_VENDOR),
    [VK_WEAK_NOTE] = PH(PH_KEYWORD) | PH(PH_NAME) | PH(PH_WIRE) | PH(PH_VENDOR),
};

/* ------------------------------------------------------------ loading */




/* Capacities of the catalogue's growing arrays: only loading needs them. */
struct caps {
    size_t entries, nodes, vendors, aliases, reasons, strings, upgrade[ALGO_NCATEGORIES];
};

struct loader {
    struct catalogue *c;
    struct caps cap;
    struct datafile r;
    size_t sections;
    /* the section being filled */
    enum {
        SEC_NONE,
        SEC_MISMATCH,
        SEC_FALLBACK,
        SEC_ALIAS,
        SEC_REASON,
        SEC_UPGRADE,
        SEC_TEXT,
        SEC_VENDOR,
        SEC_KEYTYPE,
        SEC_PLATFORMS
    } sec;
    struct entry *entry; /* SEC_MISMATCH, SEC_FALLBACK */
    size_t vendor;       /* SEC_VENDOR: index */
    /* duplicate-key detection within one section */
    char keys[64][32];
    size_t nkeys;
    bool seen_text, seen_upgrade, seen_reason, seen_alias, seen_keytype, seen_platforms;
    struct keygen_raw *keygens;
    size_t nkeygens, cap_keygens;
    const char *dir; /* the catalogue file's directory, for [platforms] file */
};

static char *keep(struct loader *L, const char *s, size_t len)
{
    struct catalogue *c = L->c;
    if (datafile_grow((void **)&c->strings, &L->cap.strings, c->nstrings + 1, sizeof *c->strings) < 0)
        return NULL;
    char *p = malloc(len + 1);
    if (!p)
        return NULL;
    memcpy(p, s, len);
    p[len] = '\0';
    c->strings[c->nstrings++] = p;
    return p;
}

static char *keep_str(struct loader *L, const char *s)
{
    char *p = keep(L, s, strlen(s));
    if (!p)
        datafile_fail(&L->r, "out of memory");
    return p;
}

/* Checks that every {placeholder} of a template is one of mask. */
static int check_template(struct loader *L, const char *key, const char *tpl, unsigned mask)
{
    for (const char *p = tpl; *p; p++) {
        if (*p == '}')
            return datafile_fail(&L->r, "%s: '}' without '{'", key);
        if (*p != '{')
            continue;
        const char *end = strchr(p, '}');
        if (!end)
            return datafile_fail(&L->r, "%s: '{' without '}'", key);
        size_t len = (size_t)(end - p - 1);
        int found = -1;
        for (int i = 0; i < PH_COUNT; i++)
            if (strlen(ph_names[i]) == len && memcmp(ph_names[i], p + 1, len) == 0)
                found = i;
        if (found < 0)
            return datafile_fail(&L->r, "%s: unknown placeholder {%.*s}", key, (int)(len > 40 ? 40 : len), p + 1);
        if (!(mask & PH(found)))
            return datafile_fail(&L->r, "%s: placeholder {%s} means nothing here", key, ph_names[found]);
        p = end;
    }
    return 0;
}

/* --- rule parser: recursive descent over one value */

struct parser {
    struct loader *L;
    const char *key;
    const char *s;
    size_t pos;
    int depth;
    char tok[128];
    size_t toklen;
    bool is_word;
};

static bool is_punct(char ch)
{
    return ch == '(' || ch == ')' || ch == '|' || ch == '&' || ch == '!';
}

/* Reads the next token into p->tok; "" at the end. */
static void next(struct parser *p)
{
    while (p->s[p->pos] == ' ' || p->s[p->pos] == '\t')
        p->pos++;
    p->toklen = 0;
    p->is_word = false;
    char ch = p->s[p->pos];
    if (!ch) {
        p->tok[0] = '\0';
        return;
    }
    if (is_punct(ch)) {
        p->tok[0] = ch;
        p->tok[1] = '\0';
        p->toklen = 1;
        p->pos++;
        return;
    }
    p->is_word = true;
    while (p->s[p->pos] && p->s[p->pos] != ' ' && p->s[p->pos] != '\t' && !is_punct(p->s[p->pos])) {
        if (p->toklen + 1 < sizeof p->tok)
            p->tok[p->toklen++] = p->s[p->pos];
        p->pos++;
    }
    p->tok[p->toklen] = '\0';
}

static int perr(struct parser *p, const char *what)
{
    if (p->tok[0])
        return datafile_fail(&p->L->r, "%s: %s at '%s'", p->key, what, p->tok);
    return datafile_fail(&p->L->r, "%s: %s at the end", p->key, what);
}

static int new_node(struct parser *p, enum node_kind kind, int a, int b)
{
    struct catalogue *c = p->L->c;
    if (c->nnodes >= MAX_NODES)
        return datafile_fail(&p->L->r, "%s: more than %u rule parts in the file", p->key, MAX_NODES);
    if (datafile_grow((void **)&c->nodes, &p->L->cap.nodes, c->nnodes + 1, sizeof *c->nodes) < 0)
        return datafile_fail(&p->L->r, "out of memory");
    struct node *nd = &c->nodes[c->nnodes];
    memset(nd, 0, sizeof *nd);
    nd->kind = (uint8_t)kind;
    nd->a = a;
    nd->b = b;
    nd->line = p->L->r.line;
    return (int)c->nnodes++;
}

static bool word_is(const struct parser *p, const char *w)
{
    return p->is_word && strcmp(p->tok, w) == 0;
}

static bool has_prefix(const char *s, const char *prefix)
{
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

static int parse_pred_or(struct parser *p);

static int parse_pred_atom(struct parser *p)
{
    if (++p->depth > MAX_DEPTH)
        return perr(p, "nested too deeply");
    int id;
    if (p->tok[0] == '!') {
        next(p);
        int a = parse_pred_atom(p);
        if (a < 0)
            return -1;
        id = new_node(p, P_NOT, a, -1);
    } else if (p->tok[0] == '(') {
        next(p);
        id = parse_pred_or(p);
        if (id < 0)
            return -1;
        if (p->tok[0] != ')')
            return perr(p, "expected ')'");
        next(p);
    } else if (!p->is_word) {
        return perr(p, "expected tag:, rating:, name:, aead, known or keyword");
    } else if (has_prefix(p->tok, "tag:") && p->tok[4]) {
        id = new_node(p, P_TAG, -1, -1);
        if (id >= 0 && !(p->L->c->nodes[id].text = keep_str(p->L, p->tok + 4)))
            return -1;
        next(p);
    } else if (has_prefix(p->tok, "name:") && p->tok[5]) {
        if (p->toklen >= sizeof p->tok - 1)
            return perr(p, "name pattern too long");
        id = new_node(p, P_NAME, -1, -1);
        if (id >= 0 && !(p->L->c->nodes[id].text = keep_str(p->L, p->tok + 5)))
            return -1;
        next(p);
    } else if (has_prefix(p->tok, "rating:")) {
        int r = -1;
        /* "unknown" is what a name missing from the table gets; markers
         * are skipped before any rule looks at a list. */
        for (int i = ALGO_RATING_UNKNOWN; i < ALGO_RATING_MARKER; i++)
            if (strcmp(p->tok + 7, algo_rating_name((enum algo_rating)i)) == 0)
                r = i;
        if (r < 0)
            return perr(p, "rating must be broken, weak, ok or unknown");
        id = new_node(p, P_RATING, -1, -1);
        if (id >= 0)
            p->L->c->nodes[id].rating = r;
        next(p);
    } else if (word_is(p, "aead") || word_is(p, "known") || word_is(p, "keyword")) {
        id = new_node(p, word_is(p, "aead") ? P_AEAD : word_is(p, "known") ? P_KNOWN : P_KEYWORD, -1, -1);
        next(p);
    } else {
        return perr(p, "expected tag:, rating:, name:, aead, known or keyword");
    }
    p->depth--;
    return id;
}

static int parse_pred_and(struct parser *p)
{
    int a = parse_pred_atom(p);
    while (a >= 0 && p->tok[0] == '&') {
        next(p);
        int b = parse_pred_atom(p);
        if (b < 0)
            return -1;
        a = new_node(p, P_AND, a, b);
    }
    return a;
}

static int parse_pred_or(struct parser *p)
{
    int a = parse_pred_and(p);
    while (a >= 0 && p->tok[0] == '|') {
        next(p);
        int b = parse_pred_and(p);
        if (b < 0)
            return -1;
        a = new_node(p, P_OR, a, b);
    }
    return a;
}

/* "(" pred ")" after a quantifier or aliased. */
static int parse_paren_pred(struct parser *p)
{
    if (p->tok[0] != '(')
        return perr(p, "expected '('");
    next(p);
    int a = parse_pred_or(p);
    if (a < 0)
        return -1;
    if (p->tok[0] != ')')
        return perr(p, "expected ')'");
    next(p);
    return a;
}

static int parse_rule_or(struct parser *p);

static int parse_rule_atom(struct parser *p)
{
    if (++p->depth > MAX_DEPTH)
        return perr(p, "nested too deeply");
    int id;
    if (p->tok[0] == '!') {
        next(p);
        int a = parse_rule_atom(p);
        if (a < 0)
            return -1;
        id = new_node(p, R_NOT, a, -1);
    } else if (p->tok[0] == '(') {
        next(p);
        id = parse_rule_or(p);
        if (id < 0)
            return -1;
        if (p->tok[0] != ')')
            return perr(p, "expected ')'");
        next(p);
    } else if (word_is(p, "true")) {
        id = new_node(p, R_TRUE, -1, -1);
        next(p);
    } else if (p->is_word) {
        char word[sizeof p->tok];
        memcpy(word, p->tok, sizeof word);
        size_t wl = strlen(word);
        bool optional = wl > 0 && word[wl - 1] == '?';
        if (optional)
            word[--wl] = '\0';
        if (strcmp(word, "aliased") == 0) {
            next(p);
            int pred = parse_paren_pred(p);
            if (pred < 0)
                return -1;
            id = new_node(p, R_ALIASED, pred, -1);
        } else {
            int side = strcmp(word, "client") == 0   ? SIDE_CLIENT
                       : strcmp(word, "server") == 0 ? SIDE_SERVER
                       : strcmp(word, "cipher") == 0 ? SIDE_CIPHER
                                                     : -1;
            if (side < 0)
                return perr(p, "expected client, server, cipher, aliased or true");
            next(p);
            int q = word_is(p, "all") ? Q_ALL : word_is(p, "any") ? Q_ANY : word_is(p, "none") ? Q_NONE : -1;
            if (q < 0)
                return perr(p, "expected all, any or none");
            next(p);
            int pred = parse_paren_pred(p);
            if (pred < 0)
                return -1;
            id = new_node(p, R_QUANT, pred, -1);
            if (id >= 0) {
                p->L->c->nodes[id].side = (uint8_t)side;
                p->L->c->nodes[id].quant = (uint8_t)q;
            }
        }
        if (id >= 0)
            p->L->c->nodes[id].optional = optional;
    } else {
        return perr(p, "expected a rule");
    }
    p->depth--;
    return id;
}

static int parse_rule_and(struct parser *p)
{
    int a = parse_rule_atom(p);
    while (a >= 0 && p->tok[0] == '&') {
        next(p);
        int b = parse_rule_atom(p);
        if (b < 0)
            return -1;
        a = new_node(p, R_AND, a, b);
    }
    return a;
}

static int parse_rule_or(struct parser *p)
{
    int a = parse_rule_and(p);
    while (a >= 0 && p->tok[0] == '|') {
        next(p);
        int b = parse_rule_and(p);
        if (b < 0)
            return -1;
        a = new_node(p, R_OR, a, b);
    }
    return a;
}

/* Compiles a whole value as a rule (pred false) or a predicate (true). */
static int compile(struct loader *L, const char *key, const char *value, bool pred)
{
    struct parser p = {.L = L, .key = key, .s = value};
    next(&p);
    int root = pred ? parse_pred_or(&p) : parse_rule_or(&p);
    if (root < 0)
        return -1;
    if (p.tok[0])
        return perr(&p, "unexpected text");
    return root;
}

/* --- sections and keys */

static bool valid_id(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > MAX_ID)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '-'))
            return false;
    return true;
}

static const struct entry *find_entry(const struct catalogue *c, const char *id)
{
    for (size_t i = 0; i < c->nentries; i++)
        if (strcmp(c->entries[i].id, id) == 0)
            return &c->entries[i];
    if (c->has_fallback && strcmp(c->fallback.id, id) == 0)
        return &c->fallback;
    return NULL;
}

static struct vendor *find_vendor(const struct catalogue *c, const char *name)
{
    for (size_t i = 0; name && i < c->nvendors; i++)
        if (strcasecmp(c->vendors[i].name, name) == 0)
            return &c->vendors[i];
    return NULL;
}

static int open_section(struct loader *L, char *name)
{
    struct catalogue *c = L->c;
    if (++L->sections > MAX_SECTIONS)
        return datafile_fail(&L->r, "more than %u sections", MAX_SECTIONS);
    L->nkeys = 0;
    L->entry = NULL;
    char *arg = strchr(name, ' ');
    if (arg) {
        *arg++ = '\0';
        while (*arg == ' ' || *arg == '\t')
            arg++;
    }
    bool single = !arg || !*arg;
    if (strcmp(name, "mismatch") == 0 || strcmp(name, "fallback") == 0) {
        if (single || !valid_id(arg))
            return datafile_fail(&L->r, "[%s ID]: the id must be 1..%d of a-z, 0-9 and '-'", name, MAX_ID);
        if (find_entry(c, arg))
            return datafile_fail(&L->r, "mismatch '%s' defined twice", arg);
        struct entry *e;
        if (name[0] == 'f') {
            if (c->has_fallback)
                return datafile_fail(&L->r, "a second [fallback] (there is one, '%s')", c->fallback.id);
            c->has_fallback = true;
            e = &c->fallback;
            L->sec = SEC_FALLBACK;
        } else {
            if (datafile_grow((void **)&c->entries, &L->cap.entries, c->nentries + 1, sizeof *c->entries) < 0)
                return datafile_fail(&L->r, "out of memory");
            e = &c->entries[c->nentries++];
            L->sec = SEC_MISMATCH;
        }
        memset(e, 0, sizeof *e);
        e->match = -1;
        e->line = L->r.line;
        if (!(e->id = keep_str(L, arg)))
            return -1;
        L->entry = e;
        return 0;
    }
    if (strcmp(name, "vendor") == 0) {
        if (single)
            return datafile_fail(&L->r, "[vendor NAME]: a name or * is needed");
        if (find_vendor(c, arg))
            return datafile_fail(&L->r, "[vendor %s] twice", arg);
        if (datafile_grow((void **)&c->vendors, &L->cap.vendors, c->nvendors + 1, sizeof *c->vendors) < 0)
            return datafile_fail(&L->r, "out of memory");
        struct vendor *v = &c->vendors[c->nvendors];
        memset(v, 0, sizeof *v);
        v->supports = v->weak = -1;
        v->join = ' ';
        v->line = L->r.line;
        if (!(v->name = keep_str(L, arg)))
            return -1;
        L->vendor = c->nvendors++;
        L->sec = SEC_VENDOR;
        return 0;
    }
    struct {
        const char *name;
        int sec;
        bool *seen;
    } plain[] = {
        {"alias", SEC_ALIAS, &L->seen_alias},
        {"reason", SEC_REASON, &L->seen_reason},
        {"upgrade", SEC_UPGRADE, &L->seen_upgrade},
        {"text", SEC_TEXT, &L->seen_text},
        {"keytype", SEC_KEYTYPE, &L->seen_keytype},
        {"platforms", SEC_PLATFORMS, &L->seen_platforms},
    };
    for (size_t i = 0; i < sizeof plain / sizeof plain[0]; i++) {
        if (strcmp(name, plain[i].name) != 0)
            continue;
        if (!single)
            return datafile_fail(&L->r, "[%s] takes no name", name);
        if (*plain[i].seen)
            return datafile_fail(&L->r, "[%s] twice", name);
        *plain[i].seen = true;
        L->sec = plain[i].sec;
        return 0;
    }
    return datafile_fail(&L->r, "unknown section [%s]", name);
}

static int parse_categories(struct loader *L, struct entry *e, char *value)
{
    e->cats = 0;
    for (char *save = NULL, *w = strtok_r(value, " \t,", &save); w; w = strtok_r(NULL, " \t,", &save)) {
        if (strcmp(w, "*") == 0) {
            e->cats |= (1u << ALGO_NCATEGORIES) - 1;
            continue;
        }
        int cat = algo_category_from_name(w);
        if (cat < 0)
            return datafile_fail(&L->r, "category: unknown category '%s'", w);
        e->cats |= 1u << cat;
    }
    if (!e->cats)
        return datafile_fail(&L->r, "category: empty");
    e->has_cats = true;
    return 0;
}

static int entry_key(struct loader *L, const char *key, char *value)
{
    struct entry *e = L->entry;
    bool fallback = L->sec == SEC_FALLBACK;
    if (strcmp(key, "severity") == 0) {
        if (strcmp(value, "critical") != 0 && strcmp(value, "warning") != 0 && strcmp(value, "info") != 0)
            return datafile_fail(&L->r, "severity: '%s' is not critical, warning or info", value);
        return (e->severity = keep_str(L, value)) ? 0 : -1;
    }
    if (strcmp(key, "summary") == 0) {
        if (check_template(L, key, value, PH_SUMMARY) < 0)
            return -1;
        return (e->summary = keep_str(L, value)) ? 0 : -1;
    }
    if (fallback)
        return datafile_fail(&L->r, "unknown key '%s' in [fallback] (severity, summary)", key);
    if (strcmp(key, "category") == 0)
        return parse_categories(L, e, value);
    if (strcmp(key, "priority") == 0) {
        char *end;
        errno = 0;
        long v = strtol(value, &end, 10);
        if (errno || end == value || *end || v < 0 || v > MAX_PRIORITY)
            return datafile_fail(&L->r, "priority: '%s' is not a number in 0..%d", value, MAX_PRIORITY);
        e->priority = (int)v;
        e->has_priority = true;
        return 0;
    }
    if (strcmp(key, "match") == 0) {
        e->match = compile(L, key, value, false);
        return e->match < 0 ? -1 : 0;
    }
    return datafile_fail(&L->r, "unknown key '%s' in [mismatch] (category, severity, priority, match, summary)", key);
}

static int vendor_key(struct loader *L, const char *key, const char *value)
{
    struct vendor *v = &L->c->vendors[L->vendor];
    if (strcmp(key, "names") == 0) {
        if (strcmp(value, "keyword") != 0 && strcmp(value, "wire") != 0)
            return datafile_fail(&L->r, "names: '%s' is not keyword or wire", value);
        v->keyword_names = value[0] == 'k';
        v->has_names = true;
        if (v->keyword_names && strcmp(v->name, "*") == 0)
            return datafile_fail(&L->r, "names: [vendor *] has no keywords");
        return 0;
    }
    if (strcmp(key, "join") == 0) {
        if (strcmp(value, "space") != 0 && strcmp(value, "comma") != 0)
            return datafile_fail(&L->r, "join: '%s' is not space or comma", value);
        v->join = value[0] == 's' ? ' ' : ',';
        v->has_join = true;
        return 0;
    }
    if (strcmp(key, "supports") == 0 || strcmp(key, "weak") == 0) {
        int root = compile(L, key, value, true);
        if (root < 0)
            return -1;
        *(key[0] == 's' ? &v->supports : &v->weak) = root;
        return 0;
    }
    if (strcmp(key, "software-release") == 0 || strcmp(key, "config") == 0 || strcmp(key, "keygen-first") == 0) {
        if (strcmp(value, "yes") != 0 && strcmp(value, "no") != 0)
            return datafile_fail(&L->r, "%s: '%s' is not yes or no", key, value);
        bool yes = value[0] == 'y';
        if (key[0] == 's')
            v->software_release = yes;
        else if (key[0] == 'c')
            v->config = yes, v->has_config = true;
        else
            v->keygen_first = yes, v->has_keygen_first = true;
        return 0;
    }
    if (strcmp(key, "software") == 0) {
        char *copy = keep_str(L, value);
        if (!copy)
            return -1;
        for (char *save = NULL, *w = strtok_r(copy, " \t", &save); w; w = strtok_r(NULL, " \t", &save)) {
            if (v->nsoftware == MAX_GLOBS)
                return datafile_fail(&L->r, "software: more than %d patterns", MAX_GLOBS);
            v->software[v->nsoftware++] = w;
        }
        return 0;
    }
    struct {
        const char *key;
        const char **dst;
        unsigned mask;
    } plain[] = {
        {"platform", &v->platform, 0},
        {"like", &v->like_name, 0},
        {"begin", &v->begin, 0},
        {"end", &v->end, 0},
        {"verify", &v->verify, PH(PH_DEVICE)},
        {"server", &v->server, PH(PH_CHANGE) | PH(PH_STEPS) | PH(PH_DEVICE)},
    };
    for (size_t i = 0; i < sizeof plain / sizeof plain[0]; i++) {
        if (strcmp(key, plain[i].key) != 0)
            continue;
        if (check_template(L, key, value, plain[i].mask) < 0)
            return -1;
        return (*plain[i].dst = keep_str(L, value)) ? 0 : -1;
    }
    if (has_prefix(key, "keygen-") && key[7]) {
        if (check_template(L, key, value, 0) < 0)
            return -1;
        if (datafile_grow((void **)&L->keygens, &L->cap_keygens, L->nkeygens + 1, sizeof *L->keygens) < 0)
            return datafile_fail(&L->r, "out of memory");
        struct keygen_raw *k = &L->keygens[L->nkeygens];
        if (!(k->type = keep_str(L, key + 7)) || !(k->tpl = keep_str(L, value)))
            return -1;
        k->vendor = L->vendor;
        k->line = L->r.line;
        L->nkeygens++;
        return 0;
    }
    int cat = algo_category_from_name(key);
    if (cat >= 0) {
        if (strcmp(value, "-") != 0 && check_template(L, key, value, PH_COMMAND_VARS) < 0)
            return -1;
        return (v->cmd[cat] = keep_str(L, value)) ? 0 : -1;
    }
    for (int k = 0; k < VK_COUNT; k++) {
        if (strcmp(key, vendor_keys[k]) != 0)
            continue;
        if (check_template(L, key, value, vendor_masks[k]) < 0)
            return -1;
        return (v->key[k] = keep_str(L, value)) ? 0 : -1;
    }
    return datafile_fail(&L->r, "unknown key '%s' in [vendor]", key);
}

static int add_alias(struct loader *L, const char *name, size_t cls, size_t first)
{
    struct catalogue *c = L->c;
    for (size_t i = 0; i < c->naliases; i++)
        if (strcmp(c->aliases[i].name, name) == 0)
            return datafile_fail(&L->r, "alias: '%s' is already an alias%s", name, i >= first ? " on this line" : "");
    if (datafile_grow((void **)&c->aliases, &L->cap.aliases, c->naliases + 1, sizeof *c->aliases) < 0)
        return datafile_fail(&L->r, "out of memory");
    if (!(c->aliases[c->naliases].name = keep_str(L, name)))
        return -1;
    c->aliases[c->naliases++].cls = cls;
    return 0;
}

static int alias_key(struct loader *L, const char *key, char *value)
{
    struct catalogue *c = L->c;
    size_t cls = c->nclasses++;
    size_t first = c->naliases;
    if (add_alias(L, key, cls, first) < 0)
        return -1;
    for (char *save = NULL, *w = strtok_r(value, " \t,", &save); w; w = strtok_r(NULL, " \t,", &save))
        if (add_alias(L, w, cls, first) < 0)
            return -1;
    if (c->naliases - first < 2)
        return datafile_fail(&L->r, "alias: '%s' needs at least one other spelling", key);
    return 0;
}

static int reason_key(struct loader *L, const char *key, const char *value)
{
    struct catalogue *c = L->c;
    if (datafile_grow((void **)&c->reasons, &L->cap.reasons, c->nreasons + 1, sizeof *c->reasons) < 0)
        return datafile_fail(&L->r, "out of memory");
    struct reason *rs = &c->reasons[c->nreasons];
    if (!(rs->tag = keep_str(L, key)) || !(rs->phrase = keep_str(L, strcmp(value, "-") == 0 ? "" : value)))
        return -1;
    c->nreasons++;
    return 0;
}

static int upgrade_key(struct loader *L, const char *key, char *value)
{
    struct catalogue *c = L->c;
    int cat = algo_category_from_name(key);
    if (cat < 0)
        return datafile_fail(&L->r, "unknown category '%s' in [upgrade]", key);
    for (char *save = NULL, *w = strtok_r(value, " \t,", &save); w; w = strtok_r(NULL, " \t,", &save)) {
        if (datafile_grow((void **)&c->upgrade[cat], &L->cap.upgrade[cat], c->nupgrade[cat] + 1, sizeof(char *)) < 0)
            return datafile_fail(&L->r, "out of memory");
        if (!(c->upgrade[cat][c->nupgrade[cat]] = keep_str(L, w)))
            return -1;
        c->nupgrade[cat]++;
    }
    return 0;
}

static int keytype_key(struct loader *L, const char *key, char *value)
{
    struct catalogue *c = L->c;
    if (c->nkeytypes == MAX_KEYTYPES)
        return datafile_fail(&L->r, "more than %d key types", MAX_KEYTYPES);
    struct keytype *k = &c->keytypes[c->nkeytypes];
    memset(k, 0, sizeof *k);
    if (!(k->name = keep_str(L, key)))
        return -1;
    for (char *save = NULL, *w = strtok_r(value, " \t,", &save); w; w = strtok_r(NULL, " \t,", &save)) {
        if (k->nnames == sizeof k->names / sizeof k->names[0])
            return datafile_fail(&L->r, "%s: too many names", key);
        if (!(k->names[k->nnames++] = keep_str(L, w)))
            return -1;
    }
    c->nkeytypes++;
    return 0;
}

static int platforms_key(struct loader *L, const char *key, const char *value)
{
    if (strcmp(key, "file") != 0)
        return datafile_fail(&L->r, "unknown key '%s' in [platforms] (file)", key);
    char path[4096], err[512];
    if (value[0] == '/' || !L->dir)
        snprintf(path, sizeof path, "%s", value);
    else
        snprintf(path, sizeof path, "%s/%s", L->dir, value);
    if (platform_db_load(path, &L->c->platforms, err, sizeof err) < 0)
        return datafile_fail(&L->r, "[platforms] file: %s", err);
    return 0;
}

static int text_key(struct loader *L, const char *key, const char *value)
{
    for (int t = 0; t < T_COUNT; t++) {
        if (strcmp(key, text_keys[t]) != 0)
            continue;
        if (check_template(L, key, value, text_masks[t]) < 0)
            return -1;
        return (L->c->text[t] = keep_str(L, value)) ? 0 : -1;
    }
    return datafile_fail(&L->r, "unknown key '%s' in [text]", key);
}

static int handle_key(struct loader *L, char *key, char *value)
{
    if (L->sec == SEC_NONE)
        return datafile_fail(&L->r, "'%s' outside a section", key);
    if (!*key)
        return datafile_fail(&L->r, "empty key");
    if (!*value)
        return datafile_fail(&L->r, "%s: empty value", key);
    if (L->sec != SEC_ALIAS && L->sec != SEC_REASON && L->sec != SEC_KEYTYPE) {
        /* The other sections have few, fixed keys. */
        for (size_t i = 0; i < L->nkeys; i++)
            if (strcmp(L->keys[i], key) == 0)
                return datafile_fail(&L->r, "%s twice in this section", key);
        if (L->nkeys < sizeof L->keys / sizeof L->keys[0])
            snprintf(L->keys[L->nkeys++], sizeof L->keys[0], "%s", key);
    } else if (L->sec == SEC_REASON && catalogue_reason(L->c, key)) {
        return datafile_fail(&L->r, "reason '%s' twice", key);
    }
    switch (L->sec) {
    case SEC_MISMATCH:
    case SEC_FALLBACK: return entry_key(L, key, value);
    case SEC_VENDOR: return vendor_key(L, key, value);
    case SEC_ALIAS: return alias_key(L, key, value);
    case SEC_REASON: return reason_key(L, key, value);
    case SEC_UPGRADE: return upgrade_key(L, key, value);
    case SEC_TEXT: return text_key(L, key, value);
    case SEC_KEYTYPE: return keytype_key(L, key, value);
    case SEC_PLATFORMS: return platforms_key(L, key, value);
    case SEC_NONE: break;
    }
    return -1;
}

static char *trim(char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    size_t n = strlen(s);
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t'))
        s[--n] = '\0';
    return s;
}

/* One logical "key = value" line, continuations joined, is handed over
 * with the line number of its first physical line. */
static int flush(struct loader *L, char *pending, size_t *plen, size_t pline)
{
    if (!*plen)
        return 0;
    size_t save = L->r.line;
    L->r.line = pline;
    char *eq = strchr(pending, '=');
    int rc;
    if (!eq) {
        rc = datafile_fail(&L->r, "expected 'key = value'");
    } else {
        *eq = '\0';
        rc = handle_key(L, trim(pending), trim(eq + 1));
    }
    *plen = 0;
    L->r.line = save;
    return rc;
}

static int parse_lines(struct loader *L, char *text, char *pending)
{
    size_t plen = 0, pline = 0;
    char *p = text;
    L->r.line = 0;
    while (*p) {
        char *nl = strchr(p, '\n');
        char *line = p;
        if (nl) {
            *nl = '\0';
            p = nl + 1;
        } else {
            p += strlen(p);
        }
        L->r.line++;
        size_t len = strlen(line);
        if (len > MAX_LINE)
            return datafile_fail(&L->r, "line longer than %u bytes", MAX_LINE);
        if (len && line[len - 1] == '\r')
            line[--len] = '\0';
        char *t = trim(line);
        if (!*t) {
            if (flush(L, pending, &plen, pline) < 0)
                return -1;
            continue;
        }
        if (*t == '#' || *t == ';')
            continue;
        if (line[0] == ' ' || line[0] == '\t') {
            if (!plen)
                return datafile_fail(&L->r, "continuation line without a key above");
            size_t tl = strlen(t);
            if (plen + 1 + tl > MAX_VALUE)
                return datafile_fail(&L->r, "value longer than %u bytes", MAX_VALUE);
            pending[plen++] = ' ';
            memcpy(pending + plen, t, tl + 1);
            plen += tl;
            continue;
        }
        if (flush(L, pending, &plen, pline) < 0)
            return -1;
        if (*t == '[') {
            size_t tl = strlen(t);
            if (t[tl - 1] != ']')
                return datafile_fail(&L->r, "section line without ']'");
            t[tl - 1] = '\0';
            if (open_section(L, trim(t + 1)) < 0)
                return -1;
            continue;
        }
        memcpy(pending, t, strlen(t) + 1);
        plen = strlen(t);
        pline = L->r.line;
    }
    return flush(L, pending, &plen, pline);
}

static int parse_text(struct loader *L, char *text)
{
    char *pending = malloc(MAX_VALUE + 1);
    if (!pending)
        return datafile_fail(&L->r, "out of memory");
    int rc = parse_lines(L, text, pending);
    free(pending);
    return rc;
}


static bool template_has_list(const char *tpl)
{
    return tpl && strstr(tpl, "{list}") != NULL;
}

/* Cross-checks that need the whole file. */
static int validate(struct loader *L)
{
    struct catalogue *c = L->c;
    struct datafile *r = &L->r;
    for (size_t i = 0; i < c->nentries; i++) {
        const struct entry *e = &c->entries[i];
        r->line = e->line;
        const char *missing = !e->has_cats       ? "category"
                              : !e->severity     ? "severity"
                              : !e->has_priority ? "priority"
                              : e->match < 0     ? "match"
                              : !e->summary      ? "summary"
                                                 : NULL;
        if (missing)
            return datafile_fail(r, "[mismatch %s] has no %s", e->id, missing);
        for (size_t j = 0; j < i; j++) {
            const struct entry *o = &c->entries[j];
            if (o->priority == e->priority && (o->cats & e->cats))
                return datafile_fail(r,
                            "[mismatch %s] has the priority of [mismatch %s] (line %zu), which shares a category: "
                            "precedence must be explicit",
                            e->id, o->id, o->line);
        }
    }
    r->line = 0;
    if (!c->has_fallback)
        return datafile_fail(r, "no [fallback] section");
    if (!c->fallback.severity || !c->fallback.summary) {
        r->line = c->fallback.line;
        return datafile_fail(r, "[fallback %s] has no %s", c->fallback.id, !c->fallback.severity ? "severity" : "summary");
    }
    for (size_t i = 0; i < c->nnodes; i++) {
        if (c->nodes[i].kind == P_TAG && !catalogue_reason(c, c->nodes[i].text)) {
            r->line = c->nodes[i].line;
            return datafile_fail(r, "tag '%s' is not listed in [reason]", c->nodes[i].text);
        }
    }
    r->line = 0;
    for (int t = 0; t < T_COUNT; t++)
        if (!c->text[t] && t != T_MAC_UNKNOWN) /* optional: no note without it */
            return datafile_fail(r, "[text] has no %s", text_keys[t]);
    const struct vendor *gen = find_vendor(c, "*");
    if (!gen)
        return datafile_fail(r, "no [vendor *] section");
    r->line = gen->line;
    for (int cat = 0; cat < ALGO_NCATEGORIES; cat++)
        if (!gen->cmd[cat])
            return datafile_fail(r, "[vendor *] has no %s", algo_category_name((enum algo_category)cat));
    if (!gen->key[VK_SHOW] || !gen->key[VK_OFFER_UNKNOWN])
        return datafile_fail(r, "[vendor *] has no %s", gen->key[VK_SHOW] ? "offer-unknown" : "show");
    for (size_t i = 0; i < L->nkeygens; i++) {
        const struct keygen_raw *k = &L->keygens[i];
        size_t t = 0;
        while (t < c->nkeytypes && strcmp(c->keytypes[t].name, k->type) != 0)
            t++;
        r->line = k->line;
        if (t == c->nkeytypes)
            return datafile_fail(r, "keygen-%s: '%s' is not listed in [keytype]", k->type, k->type);
        c->vendors[k->vendor].keygen[t] = k->tpl;
    }
    for (size_t i = 0; i < c->nvendors; i++) {
        struct vendor *v = &c->vendors[i];
        r->line = v->line;
        if (v->like_name) {
            struct vendor *like = find_vendor(c, v->like_name);
            if (!like || like == v || like->like_name)
                return datafile_fail(r, "[vendor %s] like = %s: no such section (or it is itself like another)",
                                     v->name, v->like_name);
            v->like = like;
        }
    }
    for (size_t i = 0; i < c->nvendors; i++) {
        struct vendor *v = &c->vendors[i];
        const struct vendor *like = v->like;
        r->line = v->line;
        if (like) {
            /* Inherit what the section does not say itself. */
            for (int cat = 0; cat < ALGO_NCATEGORIES; cat++)
                if (!v->cmd[cat])
                    v->cmd[cat] = like->cmd[cat];
            for (int k = 0; k < VK_COUNT; k++)
                if (!v->key[k])
                    v->key[k] = like->key[k];
            for (size_t t = 0; t < c->nkeytypes; t++)
                if (!v->keygen[t])
                    v->keygen[t] = like->keygen[t];
            const char **own[] = {&v->platform, &v->begin, &v->end, &v->verify, &v->server};
            const char *const theirs[] = {like->platform, like->begin, like->end, like->verify, like->server};
            for (size_t k = 0; k < sizeof own / sizeof own[0]; k++)
                if (!*own[k])
                    *own[k] = theirs[k];
            if (v->supports < 0)
                v->supports = like->supports;
            if (v->weak < 0)
                v->weak = like->weak;
            if (!v->has_names)
                v->keyword_names = like->keyword_names;
            if (!v->has_join)
                v->join = like->join;
            if (!v->has_config)
                v->config = like->config;
            if (!v->has_keygen_first)
                v->keygen_first = like->keygen_first;
        }
        for (int cat = 0; cat < ALGO_NCATEGORIES; cat++) {
            const char *cmd = v->cmd[cat] ? v->cmd[cat] : gen->cmd[cat];
            if (template_has_list(cmd) && !v->key[VK_UNKNOWN_LIST] && !gen->key[VK_UNKNOWN_LIST])
                return datafile_fail(r, "[vendor %s] %s uses {list} but no unknown-list says what to do without it", v->name,
                            algo_category_name((enum algo_category)cat));
        }
    }
    return 0;
}

static int by_priority(const void *a, const void *b)
{
    const struct entry *x = a, *y = b;
    if (x->priority != y->priority)
        return x->priority > y->priority ? -1 : 1;
    return x->line < y->line ? -1 : x->line > y->line;
}

void catalogue_free(struct catalogue *cat)
{
    if (!cat)
        return;
    for (size_t i = 0; i < cat->nstrings; i++)
        free(cat->strings[i]);
    free(cat->strings);
    free(cat->entries);
    free(cat->order);
    free(cat->nodes);
    free(cat->vendors);
    free(cat->aliases);
    free(cat->reasons);
    for (int i = 0; i < ALGO_NCATEGORIES; i++)
        free(cat->upgrade[i]);
    platform_db_free(cat->platforms);
    free(cat);
}

int catalogue_load(const char *path, struct catalogue **out, char *err, size_t errsize)
{
    if (err && errsize)
        err[0] = '\0';
    if (out)
        *out = NULL;
    struct loader L = {.r = {.path = path ? path : "(null)", .err = err, .errsize = errsize}};
    if (!path || !out)
        return datafile_fail(&L.r, "no file");
    char *text = datafile_read(&L.r, MAX_FILE);
    if (!text)
        return -1;
    L.c = calloc(1, sizeof *L.c);
    if (!L.c) {
        free(text);
        return datafile_fail(&L.r, "out of memory");
    }
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash) {
        *slash = '\0';
        L.dir = slash == dir ? "/" : dir;
    }
    int rc = parse_text(&L, text);
    free(text);
    if (rc == 0)
        rc = validate(&L);
    free(L.keygens);
    struct catalogue *c = L.c;
    if (rc == 0) {
        /* Ids in file order for catalogue_id(), then rules by precedence;
         * the order array points at the entries after sorting. */
        c->order_n = c->nentries + 1;
        c->order = malloc(c->order_n * sizeof *c->order);
        if (!c->order) {
            L.r.line = 0;
            rc = datafile_fail(&L.r, "out of memory");
        }
    }
    if (rc < 0) {
        catalogue_free(c);
        return -1;
    }
    if (c->nentries)
        qsort(c->entries, c->nentries, sizeof *c->entries, by_priority);
    for (size_t i = 0; i < c->order_n; i++)
        c->order[i] = NULL;
    /* Insertion by line keeps the file order. */
    for (size_t i = 0; i < c->order_n; i++) {
        const struct entry *e = i < c->nentries ? &c->entries[i] : &c->fallback;
        size_t k = i;
        while (k > 0 && c->order[k - 1]->line > e->line) {
            c->order[k] = c->order[k - 1];
            k--;
        }
        c->order[k] = e;
    }
    *out = c;
    return 0;
}

size_t catalogue_count(const struct catalogue *cat)
{
    return cat ? cat->order_n : 0;
}

const char *catalogue_id(const struct catalogue *cat, size_t i)
{
    return cat && i < cat->order_n ? cat->order[i]->id : NULL;
}

const char *catalogue_severity(const struct catalogue *cat, size_t i)
{
    return cat && i < cat->order_n ? cat->order[i]->severity : NULL;
}

const char *catalogue_reason(const struct catalogue *cat, const char *tag)
{
    for (size_t i = 0; cat && tag && i < cat->nreasons; i++)
        if (strcmp(cat->reasons[i].tag, tag) == 0)
            return cat->reasons[i].phrase;
    return NULL;
}

/* ------------------------------------------------------------ evaluation */

static enum tri tri_and(enum tri a, enum tri b)
{
    return a < b ? a : b;
}

static enum tri tri_or(enum tri a, enum tri b)
{
    return a > b ? a : b;
}

static enum tri tri_not(enum tri a)
{
    return (enum tri)(TRI_TRUE - a);
}

/* '*' matches any run of bytes; everything else itself. */
static bool glob_match(const char *pat, const char *s)
{
    const char *star = NULL, *resume = NULL;
    while (*s) {
        if (*pat == '*') {
            star = pat++;
            resume = s;
        } else if (*pat == *s) {
            pat++;
            s++;
        } else if (star) {
            pat = star + 1;
            s = ++resume;
        } else {
            return false;
        }
    }
    while (*pat == '*')
        pat++;
    return *pat == '\0';
}

/* What a rule is evaluated against. */
struct ctx {
    const struct catalogue *c;
    const struct algo_db *db;
    const char *vendor; /* for the keyword predicate; may be NULL */
    enum algo_category cat;
    const struct negotiate_list *list[2]; /* client, server of the failing slot */
    const char *cipher;                   /* the agreed cipher, or NULL */
};

static bool pred_eval(const struct ctx *x, int id, const struct algo_entry *e, const char *name)
{
    const struct node *nd = &x->c->nodes[id];
    switch ((enum node_kind)nd->kind) {
    case P_NOT: return !pred_eval(x, nd->a, e, name);
    case P_AND: return pred_eval(x, nd->a, e, name) && pred_eval(x, nd->b, e, name);
    case P_OR: return pred_eval(x, nd->a, e, name) || pred_eval(x, nd->b, e, name);
    case P_TAG: return algo_entry_has_reason(e, nd->text);
    case P_RATING: return (int)algo_entry_rating(e) == nd->rating;
    case P_AEAD: return algo_entry_aead(e) != ALGO_AEAD_NONE;
    case P_NAME: return glob_match(nd->text, name);
    case P_KNOWN: return e != NULL;
    case P_KEYWORD: return x->vendor && algo_entry_keyword(e, x->vendor) != NULL;
    default: return false;
    }
}

static bool skip_name(const struct algo_db *db, const char *name)
{
    return algo_db_is_marker(db, name, strlen(name));
}

/* all/any/none over one list, three-valued: a "maybe" name is only
 * possibly on the list, and a partial list may hold more names. */
static enum tri quant_list(const struct ctx *x, enum algo_category cat, const struct negotiate_list *l,
                           const char *single, int quant, int pred)
{
    if (!l && !single)
        return TRI_UNKNOWN;
    enum tri any = TRI_FALSE, all = TRI_TRUE, nonempty = TRI_FALSE;
    size_t n = single ? 1 : negotiate_list_count(l);
    for (size_t i = 0; i < n; i++) {
        const char *name = single ? single : negotiate_list_name(l, i);
        if (skip_name(x->db, name))
            continue;
        enum tri member = !single && negotiate_list_maybe(l, i) ? TRI_UNKNOWN : TRI_TRUE;
        bool p = pred_eval(x, pred, algo_db_find_str(x->db, cat, name), name);
        nonempty = tri_or(nonempty, member);
        if (p)
            any = tri_or(any, member);
        else
            all = tri_and(all, tri_not(member));
    }
    if (!single && negotiate_list_partial(l)) {
        any = tri_or(any, TRI_UNKNOWN);
        all = tri_and(all, TRI_UNKNOWN);
        nonempty = tri_or(nonempty, TRI_UNKNOWN);
    }
    switch (quant) {
    case Q_ALL: return tri_and(nonempty, all);
    case Q_ANY: return any;
    default: return tri_not(any);
    }
}

/* The alias class of a name, or -1. */
static long alias_class(const struct catalogue *c, const char *name)
{
    for (size_t i = 0; i < c->naliases; i++)
        if (strcmp(c->aliases[i].name, name) == 0)
            return (long)c->aliases[i].cls;
    return -1;
}

static enum tri aliased(const struct ctx *x, int pred)
{
    const struct negotiate_list *cl = x->list[0], *sl = x->list[1];
    if (!cl || !sl)
        return TRI_UNKNOWN;
    enum tri res = TRI_FALSE;
    for (size_t i = 0; i < negotiate_list_count(cl); i++) {
        const char *cn = negotiate_list_name(cl, i);
        long cls = alias_class(x->c, cn);
        if (cls < 0 || skip_name(x->db, cn) || !pred_eval(x, pred, algo_db_find_str(x->db, x->cat, cn), cn))
            continue;
        for (size_t j = 0; j < negotiate_list_count(sl); j++) {
            const char *sn = negotiate_list_name(sl, j);
            if (strcmp(cn, sn) == 0 || alias_class(x->c, sn) != cls ||
                !pred_eval(x, pred, algo_db_find_str(x->db, x->cat, sn), sn))
                continue;
            enum tri m = tri_and(negotiate_list_maybe(cl, i) ? TRI_UNKNOWN : TRI_TRUE,
                                 negotiate_list_maybe(sl, j) ? TRI_UNKNOWN : TRI_TRUE);
            res = tri_or(res, m);
        }
    }
    if (negotiate_list_partial(cl) || negotiate_list_partial(sl))
        res = tri_or(res, TRI_UNKNOWN);
    return res;
}

static enum tri rule_eval(const struct ctx *x, int id)
{
    const struct node *nd = &x->c->nodes[id];
    enum tri v;
    switch ((enum node_kind)nd->kind) {
    case R_TRUE: return TRI_TRUE;
    case R_NOT: return tri_not(rule_eval(x, nd->a));
    case R_AND: return tri_and(rule_eval(x, nd->a), rule_eval(x, nd->b));
    case R_OR: return tri_or(rule_eval(x, nd->a), rule_eval(x, nd->b));
    case R_QUANT:
        if (nd->side == SIDE_CIPHER)
            v = x->cipher ? quant_list(x, ALGO_CIPHER, NULL, x->cipher, nd->quant, nd->a) : TRI_UNKNOWN;
        else
            v = quant_list(x, x->cat, x->list[nd->side], NULL, nd->quant, nd->a);
        break;
    case R_ALIASED: v = aliased(x, nd->a); break;
    default: return TRI_UNKNOWN;
    }
    return nd->optional && v == TRI_UNKNOWN ? TRI_TRUE : v;
}

/* Fills a ctx for a failed negotiation; false when the slot is unknown. */
static bool make_ctx(struct ctx *x, const struct catalogue *c, const struct algo_db *db, const struct negotiation *n)
{
    memset(x, 0, sizeof *x);
    x->c = c;
    x->db = db;
    x->vendor = n->vendor;
    if (n->slot < 0)
        return false;
    enum negotiate_slot slot = (enum negotiate_slot)n->slot;
    x->cat = negotiate_slot_category(slot);
    x->list[0] = n->client[slot];
    x->list[1] = n->server[slot];
    /* The cipher of the failing direction; kex and hostkey come before
     * any cipher, c2s is the one sshd looks at first. */
    const char *dir = negotiate_slot_direction(slot);
    enum negotiate_slot cs = dir && strcmp(dir, "s2c") == 0 ? NEG_CIPHER_S2C : NEG_CIPHER_C2S;
    if (n->result && n->result->slot[cs].status == NEG_AGREED)
        x->cipher = n->result->slot[cs].agreed;
    return true;
}

static bool args_ok(const struct catalogue *c, const struct algo_db *db, const struct negotiation *n)
{
    return c && db && n && (!n->failed || (n->slot >= -1 && n->slot < NEG_NSLOTS));
}

/* ------------------------------------------------------------ rendering */

/* A bounded appender that never splits a UTF-8 character. */
struct buf {
    char *p;
    size_t size, len;
};

static void buf_init(struct buf *b, char *p, size_t size)
{
    b->p = p;
    b->size = size;
    b->len = 0;
    if (size)
        p[0] = '\0';
}

static void buf_add(struct buf *b, const char *s, size_t n)
{
    if (!b->size || !s)
        return;
    size_t room = b->size - 1 - b->len;
    if (n > room) {
        n = room;
        while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
            n--;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

static void buf_str(struct buf *b, const char *s)
{
    if (s)
        buf_add(b, s, strlen(s));
}

struct vars {
    const char *v[PH_COUNT];
};

/* Renders a template checked at load time; unset placeholders render as "". */
static void render(struct buf *b, const char *tpl, const struct vars *vars)
{
    for (const char *p = tpl; p && *p;) {
        const char *open = strchr(p, '{');
        if (!open) {
            buf_str(b, p);
            return;
        }
        buf_add(b, p, (size_t)(open - p));
        const char *close = strchr(open, '}');
        if (!close)
            return;
        size_t len = (size_t)(close - open - 1);
        for (int i = 0; i < PH_COUNT; i++)
            if (strlen(ph_names[i]) == len && memcmp(ph_names[i], open + 1, len) == 0)
                buf_str(b, vars->v[i]);
        p = close + 1;
    }
}

static void render_to(char *dst, size_t size, const char *tpl, const struct vars *vars)
{
    struct buf b;
    buf_init(&b, dst, size);
    render(&b, tpl, vars);
}

/* Received text (the client's software) reduced to printable ASCII, without
 * the protocol prefix sshd also drops. */
static void clean_software(char *dst, size_t size, const char *sw)
{
    static const char *const prefixes[] = {"SSH-2.0-", "SSH-1.99-"};
    for (size_t i = 0; i < sizeof prefixes / sizeof prefixes[0]; i++)
        if (strncmp(sw, prefixes[i], strlen(prefixes[i])) == 0)
            sw += strlen(prefixes[i]);
    size_t k = 0;
    for (; *sw && k + 1 < size; sw++)
        dst[k++] = (unsigned char)*sw >= 0x20 && (unsigned char)*sw < 0x7f ? *sw : '?';
    dst[k] = '\0';
}

/* Placeholders every sentence may use; buffers belong to the caller. */
struct common {
    char software[96];
    char client[128];
    char device[128];
    char names[512];
};

static void set_common(struct vars *vars, struct common *cm, const struct ctx *x, const struct negotiation *n)
{
    memset(vars, 0, sizeof *vars);
    cm->software[0] = '\0';
    if (n->software)
        clean_software(cm->software, sizeof cm->software, n->software);
    if (cm->software[0])
        snprintf(cm->client, sizeof cm->client, "%s", cm->software);
    else if (n->peer)
        snprintf(cm->client, sizeof cm->client, "at %.100s", n->peer);
    else
        snprintf(cm->client, sizeof cm->client, "(unidentified)");
    clean_software(cm->device, sizeof cm->device,
                   n->device_name ? n->device_name
                   : n->device    ? n->device
                                  : "the device");
    vars->v[PH_CLIENT] = cm->client;
    vars->v[PH_CLIENT_SOFTWARE] = cm->software[0] ? cm->software : "unknown software";
    vars->v[PH_PEER] = n->peer ? n->peer : "unknown address";
    vars->v[PH_DEVICE] = cm->device;
    vars->v[PH_VENDOR] = n->vendor ? n->vendor : "unknown vendor";
    vars->v[PH_CATEGORY] = n->slot >= 0 ? algo_category_name(x->cat) : "SSH";
    const char *dir = n->slot >= 0 ? negotiate_slot_direction((enum negotiate_slot)n->slot) : NULL;
    vars->v[PH_DIRECTION] = dir ? dir : "";

    /* The client's offer as quoted in sentences. */
    struct buf b;
    buf_init(&b, cm->names, sizeof cm->names);
    const struct negotiate_list *cl = x->list[0];
    size_t shown = 0;
    for (size_t i = 0; cl && i < negotiate_list_count(cl); i++) {
        const char *name = negotiate_list_name(cl, i);
        if (skip_name(x->db, name))
            continue;
        if (shown == MAX_NAMES_SHOWN) {
            buf_str(&b, ", ...");
            break;
        }
        buf_str(&b, shown++ ? ", " : "");
        buf_str(&b, name);
    }
    vars->v[PH_NAMES] = cm->names;
}

int catalogue_matches(const struct catalogue *cat, const struct algo_db *db, const struct negotiation *n,
                      const char **ids, size_t max)
{
    if (!args_ok(cat, db, n))
        return -1;
    struct ctx x;
    if (!n->failed || !make_ctx(&x, cat, db, n))
        return 0;
    int count = 0;
    for (size_t i = 0; i < cat->nentries; i++) {
        const struct entry *e = &cat->entries[i];
        if (!(e->cats & (1u << x.cat)) || rule_eval(&x, e->match) != TRI_TRUE)
            continue;
        if (ids && (size_t)count < max)
            ids[count] = e->id;
        count++;
    }
    return count;
}

int catalogue_classify(const struct catalogue *cat, const struct algo_db *db, const struct negotiation *n,
                       struct catalogue_match *out)
{
    if (out)
        memset(out, 0, sizeof *out);
    if (!out || !args_ok(cat, db, n))
        return -1;
    if (!n->failed)
        return 0;
    struct ctx x;
    const struct entry *hit = &cat->fallback;
    if (make_ctx(&x, cat, db, n)) {
        for (size_t i = 0; i < cat->nentries; i++) {
            const struct entry *e = &cat->entries[i];
            if ((e->cats & (1u << x.cat)) && rule_eval(&x, e->match) == TRI_TRUE) {
                hit = e;
                break;
            }
        }
    }
    struct vars vars;
    struct common cm;
    set_common(&vars, &cm, &x, n);
    snprintf(out->id, sizeof out->id, "%s", hit->id);
    snprintf(out->severity, sizeof out->severity, "%s", hit->severity);
    render_to(out->summary, sizeof out->summary, hit->summary, &vars);
    return 1;
}

/* ------------------------------------------------------------ remedy */

/* The next reason phrase of an algorithm's tags from *why on, or NULL;
 * tags the catalogue does not list are named as they are. */
static const char *next_phrase(const struct catalogue *c, const char **why, char *tag, size_t size)
{
    while (*why && **why) {
        size_t len = strcspn(*why, ",");
        snprintf(tag, size, "%.*s", (int)(len < size ? len : size - 1), *why);
        *why += len + ((*why)[len] == ',');
        const char *phrase = catalogue_reason(c, tag);
        if (!phrase)
            return tag;
        if (*phrase)
            return phrase;
    }
    return NULL;
}

/* The reason phrases of an algorithm as a sentence: "a, b and c". */
static void render_reasons(const struct catalogue *c, const struct algo_entry *e, char *dst, size_t size)
{
    struct buf b;
    buf_init(&b, dst, size);
    const char *why = algo_entry_why(e);
    char tag[2][64];
    size_t k = 0;
    const char *cur = next_phrase(c, &why, tag[k], sizeof tag[k]);
    bool first = true;
    while (cur) {
        k ^= 1;
        const char *after = next_phrase(c, &why, tag[k], sizeof tag[k]);
        buf_str(&b, first ? "" : after ? ", " : " and ");
        buf_str(&b, cur);
        first = false;
        cur = after;
    }
}

static int rating_rank(const struct algo_entry *e)
{
    switch (algo_entry_rating(e)) {
    case ALGO_RATING_OK: return 3;
    case ALGO_RATING_WEAK: return 2;
    case ALGO_RATING_BROKEN: return 1;
    default: return 0; /* unknown and markers are never recommended */
    }
}

static bool list_has(const struct negotiate_list *l, const char *name, bool certain_only)
{
    for (size_t i = 0; l && i < negotiate_list_count(l); i++)
        if (strcmp(negotiate_list_name(l, i), name) == 0 && !(certain_only && negotiate_list_maybe(l, i)))
            return true;
    return false;
}

/* True when word is one of the items of the list rendered so far. */
static bool rendered_has(const char *list, char join, const char *word)
{
    size_t wl = strlen(word);
    for (const char *p = list; *p;) {
        size_t len = strcspn(p, join == ' ' ? " " : ",");
        if (len == wl && memcmp(p, word, wl) == 0)
            return true;
        p += len + (p[len] != '\0');
    }
    return false;
}

/* What the remedy is rendered for: the vendor section of the device's
 * platform, the platforms.tsv name and the release when known. */
struct target {
    const struct vendor *v, *gen;
    const char *platform; /* NULL: no platform rows apply */
    char release[32];     /* "" when unknown */
};

/* The section for a name: its own, or NULL. */
static const struct vendor *section(const struct catalogue *c, const char *name)
{
    const struct vendor *v = name ? find_vendor(c, name) : NULL;
    return v && strcmp(v->name, "*") != 0 ? v : NULL;
}

/* The platform, most specific evidence first: what the line shapes said
 * (a pattern's platform), what the server's own software string says, then
 * the inventory's or patterns' vendor. */
static void resolve_target(const struct catalogue *c, const struct negotiation *n, struct target *t)
{
    memset(t, 0, sizeof *t);
    t->gen = find_vendor(c, "*");
    const struct vendor *v = section(c, n->platform);
    const char *sw = n->server_software;
    if (sw) {
        for (size_t i = 0; !v && i < c->nvendors; i++) {
            const struct vendor *cand = &c->vendors[i];
            for (size_t k = 0; k < cand->nsoftware; k++) {
                if (!glob_match(cand->software[k], sw))
                    continue;
                v = cand;
                break;
            }
        }
    }
    if (!v)
        v = section(c, n->vendor);
    if (v && sw && v->software_release) {
        for (size_t k = 0; k < v->nsoftware; k++) {
            if (!glob_match(v->software[k], sw))
                continue;
            const char *d = sw + strcspn(sw, "0123456789");
            size_t len = strspn(d, "0123456789.");
            while (len && d[len - 1] == '.')
                len--;
            if (len && len < sizeof t->release)
                memcpy(t->release, d, len);
            break;
        }
    }
    t->v = v ? v : t->gen;
    t->platform = v ? (v->platform ? v->platform : v->name) : NULL;
}

static bool table_knows(const struct catalogue *c, const struct target *t, enum algo_category cat)
{
    return t->platform && c->platforms && platform_knows(c->platforms, t->platform, cat);
}

/* The key type a host key algorithm needs, or -1. */
static int keytype_of(const struct catalogue *c, const char *name)
{
    for (size_t t = 0; t < c->nkeytypes; t++)
        for (size_t i = 0; i < c->keytypes[t].nnames; i++)
            if (glob_match(c->keytypes[t].names[i], name))
                return (int)t;
    return -1;
}

/* The device's current list in the platform's spelling: keyword vendors
 * collapse every wire name of a keyword (Huawei "ecc") into that keyword
 * and drop names no keyword enables; platforms with their own spelling map
 * each name through the platforms table; others keep the names the device
 * certainly offers. Returns false when a name cannot be written (the list
 * would then lose it). */
static bool render_current(const struct ctx *x, const struct target *t, const struct negotiate_list *sl, struct buf *b)
{
    const struct vendor *v = t->v;
    bool table = table_knows(x->c, t, x->cat);
    size_t start = b->len;
    bool complete = true;
    for (size_t i = 0; i < negotiate_list_count(sl); i++) {
        const char *name = negotiate_list_name(sl, i);
        if (skip_name(x->db, name))
            continue;
        const char *word = name;
        if (v->keyword_names) {
            word = algo_entry_keyword(algo_db_find_str(x->db, x->cat, name), v->name);
            if (!word && !negotiate_list_maybe(sl, i))
                complete = false; /* the device offers a name no keyword writes */
        } else if (negotiate_list_maybe(sl, i)) {
            word = NULL;
        } else if (table) {
            word = platform_row_word(platform_find(x->c->platforms, t->platform, x->cat, name));
            if (!word)
                complete = false;
        }
        if (!word || rendered_has(b->p + start, v->join, word))
            continue;
        if (b->len > start) {
            char sep[2] = {v->join, '\0'};
            buf_str(b, sep);
        }
        buf_str(b, word);
    }
    return complete;
}

/* One candidate algorithm to enable. */
struct cand {
    const char *name, *word;
    const struct algo_entry *e;
    const struct platform_row *row;
    int rank, keytype;
    bool needs_key;
};

/* Whether a beats b: the safer rating; a name the device has the key for
 * over one that needs a new key; with the release unknown, the name more
 * releases have; else the client's order (b came first). */
static bool better(const struct cand *a, const struct cand *b, bool release_known)
{
    if (a->rank != b->rank)
        return a->rank > b->rank;
    if (a->needs_key != b->needs_key)
        return !a->needs_key;
    if (!release_known && a->row && b->row) {
        int cmp = platform_version_cmp(platform_row_since(a->row), platform_row_since(b->row));
        if (!platform_row_since(a->row)[0] || !platform_row_since(b->row)[0])
            cmp = (int)(platform_row_since(a->row)[0] != 0) - (int)(platform_row_since(b->row)[0] != 0);
        if (cmp)
            return cmp < 0;
    }
    return false;
}

/* The best name of the client's offer the platform can enable. For host
 * keys, a name whose key type the device has no key of (as its current list
 * shows) needs a new key, which the vendor section must know how to make. */
static bool pick_fix(const struct ctx *x, const struct target *t, const char *current, struct cand *best)
{
    const struct vendor *v = t->v;
    int supports = v->supports >= 0 ? v->supports : t->gen->supports;
    const struct negotiate_list *cl = x->list[0], *sl = x->list[1];
    bool table = table_knows(x->c, t, x->cat);
    bool keys_known = x->cat == ALGO_HOSTKEY && sl && !negotiate_list_partial(sl);
    bool present[MAX_KEYTYPES] = {false};
    for (size_t i = 0; keys_known && i < negotiate_list_count(sl); i++) {
        int kt = negotiate_list_maybe(sl, i) ? -1 : keytype_of(x->c, negotiate_list_name(sl, i));
        if (kt >= 0)
            present[kt] = true;
    }
    bool found = false;
    for (size_t i = 0; i < negotiate_list_count(cl); i++) {
        const char *name = negotiate_list_name(cl, i);
        if (skip_name(x->db, name) || negotiate_list_maybe(cl, i))
            continue;
        struct cand c = {.name = name, .word = name, .keytype = -1};
        c.e = algo_db_find_str(x->db, x->cat, name);
        c.rank = rating_rank(c.e);
        if (c.rank == 0)
            continue;
        if (v->keyword_names) {
            c.word = algo_entry_keyword(c.e, v->name);
            /* Re-entering a keyword the device already has changes nothing. */
            if (!c.word || (current && rendered_has(current, v->join, c.word)))
                continue;
        } else if (list_has(sl, name, true)) {
            continue;
        } else if (table) {
            c.row = platform_find(x->c->platforms, t->platform, x->cat, name);
            if (!c.row || !platform_row_available(c.row, t->release))
                continue;
            c.word = platform_row_word(c.row);
        }
        if (supports >= 0 && !pred_eval(x, supports, c.e, name))
            continue;
        if (x->cat == ALGO_HOSTKEY) {
            c.keytype = keytype_of(x->c, name);
            c.needs_key = keys_known && c.keytype >= 0 && !present[c.keytype];
            /* A broken name stays a candidate, to be refused with its reason. */
            if (c.needs_key && v->config && c.rank > 1 &&
                (!v->keygen[c.keytype] || strcmp(v->keygen[c.keytype], "-") == 0))
                continue;
        }
        if (!found || better(&c, best, t->release[0] != '\0')) {
            *best = c;
            found = true;
        }
    }
    return found;
}

/* The best algorithm the device offers and the client lacks: rating, then
 * the catalogue's [upgrade] order, then the device's order. */
static const char *pick_upgrade(const struct ctx *x, const struct algo_entry **entry)
{
    const struct negotiate_list *sl = x->list[1];
    const char *best = NULL;
    int best_rank = 0;
    size_t best_pref = 0;
    for (size_t i = 0; i < negotiate_list_count(sl); i++) {
        const char *name = negotiate_list_name(sl, i);
        if (skip_name(x->db, name) || negotiate_list_maybe(sl, i) || list_has(x->list[0], name, false))
            continue;
        const struct algo_entry *e = algo_db_find_str(x->db, x->cat, name);
        int rank = rating_rank(e);
        size_t pref = x->c->nupgrade[x->cat];
        for (size_t k = 0; k < x->c->nupgrade[x->cat]; k++) {
            if (glob_match(x->c->upgrade[x->cat][k], name)) {
                pref = k;
                break;
            }
        }
        if (rank == 0 || rank < best_rank || (rank == best_rank && pref >= best_pref))
            continue;
        best = name;
        best_rank = rank;
        best_pref = pref;
        *entry = e;
    }
    return best;
}

static const char *vendor_text(const struct vendor *v, const struct vendor *gen, enum vendor_key k)
{
    return v->key[k] ? v->key[k] : gen->key[k];
}

/* The remedy being put together, category by category. */
struct plan {
    const struct catalogue *c;
    const struct target *t;
    const struct negotiation *n;
    struct buf keys, cmds;  /* step lines, '\n'-separated: key generation, commands */
    struct buf change;      /* the same, "; "-joined, for the server sentence */
    struct buf notes;       /* sentences for categories without a written change */
    struct buf risk;
    char keys_s[CATALOGUE_STEPS_SIZE], cmds_s[CATALOGUE_STEPS_SIZE];
    char change_s[CATALOGUE_COMMAND_SIZE], notes_s[CATALOGUE_COMMAND_SIZE], risk_s[CATALOGUE_TEXT_SIZE * 2];
};

static void join_add(struct buf *b, const char *sep, const char *s)
{
    if (!s || !*s)
        return;
    if (b->len)
        buf_str(b, sep);
    buf_str(b, s);
}

/* Adds the lines of a rendered template (STEP_SEP-separated) as steps. */
static void add_steps(struct plan *p, struct buf *steps, const char *text)
{
    for (const char *s = text; s && *s;) {
        const char *sep = strstr(s, STEP_SEP);
        size_t len = sep ? (size_t)(sep - s) : strlen(s);
        while (len && (*s == ' ' || *s == '\t'))
            s++, len--;
        while (len && (s[len - 1] == ' ' || s[len - 1] == '\t'))
            len--;
        if (len) {
            if (steps->len)
                buf_str(steps, "\n");
            buf_add(steps, s, len);
            if (p->change.len)
                buf_str(&p->change, "; ");
            buf_add(&p->change, s, len);
        }
        s = sep ? sep + strlen(STEP_SEP) : s + len;
    }
}

/* Remedies one failing category; returns 1 and the new server list (wire
 * names, comma-joined, into newlist) when it wrote a change the engine can
 * check, 0 when it could only say what to do (a sentence in notes). */
static int fix_category(struct plan *p, const struct ctx *x, struct vars *vars, char *newlist, size_t newsize)
{
    const struct catalogue *c = p->c;
    const struct target *t = p->t;
    const struct vendor *v = t->v, *gen = t->gen;
    char text[CATALOGUE_COMMAND_SIZE];
    if (!x->list[0]) {
        render_to(text, sizeof text, vendor_text(v, gen, VK_OFFER_UNKNOWN), vars);
        join_add(&p->notes, "; ", text);
        render_to(text, sizeof text, c->text[T_RISK_NONE], vars);
        join_add(&p->risk, "; ", text);
        return 0;
    }
    const char *cmd = v->cmd[x->cat] ? v->cmd[x->cat] : gen->cmd[x->cat];
    const struct negotiate_list *sl = x->list[1];
    char current[CATALOGUE_COMMAND_SIZE];
    struct buf cur;
    buf_init(&cur, current, sizeof current);
    bool list_known = sl && !negotiate_list_partial(sl) && render_current(x, t, sl, &cur);

    struct cand best;
    memset(&best, 0, sizeof best);
    bool found = strcmp(cmd, "-") != 0 && pick_fix(x, t, list_known ? current : NULL, &best);
    if (!found) {
        render_to(text, sizeof text, c->text[T_CANNOT_ENABLE], vars);
        join_add(&p->notes, "; ", text);
        render_to(text, sizeof text, c->text[T_RISK_NONE], vars);
        join_add(&p->risk, "; ", text);
        return 0;
    }
    char reasons[CATALOGUE_TEXT_SIZE];
    render_reasons(c, best.e, reasons, sizeof reasons);
    vars->v[PH_NAME] = best.word;
    vars->v[PH_WIRE] = best.name;
    vars->v[PH_KEYWORD] = v->keyword_names ? best.word : NULL;
    vars->v[PH_RATING] = algo_rating_name(algo_entry_rating(best.e));
    vars->v[PH_REASONS] = reasons;
    vars->v[PH_OPTION] = best.row && platform_row_option(best.row)[0] ? platform_row_option(best.row) : "its option";
    if (algo_entry_rating(best.e) == ALGO_RATING_BROKEN) {
        /* Only broken algorithms would do: refuse, and say why. */
        render_to(text, sizeof text, c->text[T_BROKEN_ONLY], vars);
        join_add(&p->notes, "; ", text);
        render_to(text, sizeof text, c->text[T_RISK_BROKEN], vars);
        join_add(&p->risk, "; ", text);
        return 0;
    }

    char list[CATALOGUE_COMMAND_SIZE];
    struct buf lb;
    buf_init(&lb, list, sizeof list);
    char sep[2] = {v->join, '\0'};
    buf_str(&lb, list_known ? current : "<current list>");
    buf_str(&lb, list_known && !current[0] ? "" : sep);
    buf_str(&lb, best.word);
    vars->v[PH_LIST] = list;

    char risk[CATALOGUE_TEXT_SIZE];
    struct buf rb;
    buf_init(&rb, risk, sizeof risk);
    render(&rb, reasons[0] ? c->text[T_RISK] : c->text[T_RISK_CLEAN], vars);
    if (v->weak >= 0 && v->key[VK_WEAK_NOTE] && pred_eval(x, v->weak, best.e, best.name)) {
        buf_str(&rb, "; ");
        render(&rb, v->key[VK_WEAK_NOTE], vars);
    }
    join_add(&p->risk, "; ", risk);

    bool needs_list = template_has_list(cmd);
    if (needs_list && !list_known) {
        char command[CATALOGUE_COMMAND_SIZE];
        render_to(command, sizeof command, cmd, vars);
        vars->v[PH_COMMAND] = command;
        render_to(text, sizeof text, vendor_text(v, gen, VK_UNKNOWN_LIST), vars);
        vars->v[PH_COMMAND] = NULL;
        join_add(&p->notes, "; ", text);
        return 0;
    }
    render_to(text, sizeof text, cmd, vars);
    if (!v->config) {
        /* Words, not configuration lines: nothing to apply as written. */
        join_add(&p->notes, "; ", text);
        return 0;
    }
    if (best.needs_key)
        add_steps(p, &p->keys, v->keygen[best.keytype]);
    add_steps(p, &p->cmds, text);
    /* A cipher with a separate MAC: when the client's MACs were not logged,
     * the next attempt may fail on them, and this change cannot know. */
    if (x->cat == ALGO_CIPHER && c->text[T_MAC_UNKNOWN] && algo_entry_aead(best.e) != ALGO_AEAD_IMPLICIT &&
        (!p->n->client[NEG_MAC_C2S] || !p->n->client[NEG_MAC_S2C])) {
        render_to(text, sizeof text, c->text[T_MAC_UNKNOWN], vars);
        join_add(&p->notes, "; ", text);
    }

    /* The device's list after the change, for the engine to re-check. */
    struct buf nb;
    buf_init(&nb, newlist, newsize);
    for (size_t i = 0; sl && i < negotiate_list_count(sl); i++) {
        if (negotiate_list_maybe(sl, i))
            continue;
        join_add(&nb, ",", negotiate_list_name(sl, i));
    }
    join_add(&nb, ",", best.name);
    return needs_list ? 1 : 0;
}

/* The slots of a category: both directions for cipher, MAC, compression. */
static void set_category(struct negotiate_offer *o, enum algo_category cat, const struct negotiate_list *l)
{
    for (int s = 0; s < NEG_NSLOTS; s++)
        if (negotiate_slot_category((enum negotiate_slot)s) == cat)
            o->list[s] = l;
}

static void remedy_server(const struct catalogue *c, const struct algo_db *db, const struct negotiation *n,
                          const struct target *t, struct catalogue_remedy *out)
{
    struct plan p;
    memset(&p, 0, sizeof p);
    p.c = c;
    p.t = t;
    p.n = n;
    buf_init(&p.keys, p.keys_s, sizeof p.keys_s);
    buf_init(&p.cmds, p.cmds_s, sizeof p.cmds_s);
    buf_init(&p.change, p.change_s, sizeof p.change_s);
    buf_init(&p.notes, p.notes_s, sizeof p.notes_s);
    buf_init(&p.risk, p.risk_s, sizeof p.risk_s);

    /* Fix the failing category; while the engine, with every list known,
     * still finds the next category failing, fix that one too, so one
     * remedy covers every category that would fail. */
    struct negotiate_offer client, server;
    for (int s = 0; s < NEG_NSLOTS; s++) {
        client.list[s] = n->client[s];
        server.list[s] = n->server[s];
    }
    struct negotiate_list *owned[ALGO_NCATEGORIES] = {NULL};
    unsigned fixed = 0;
    int slot = n->slot;
    struct negotiate_result res = *n->result;
    for (int round = 0; round < ALGO_NCATEGORIES && slot >= 0; round++) {
        struct ctx x;
        memset(&x, 0, sizeof x);
        x.c = c;
        x.db = db;
        x.vendor = t->v->keyword_names ? t->v->name : n->vendor;
        x.cat = negotiate_slot_category((enum negotiate_slot)slot);
        if (fixed & (1u << x.cat))
            break;
        fixed |= 1u << x.cat;
        x.list[0] = client.list[slot];
        x.list[1] = server.list[slot];
        const char *dir = negotiate_slot_direction((enum negotiate_slot)slot);
        enum negotiate_slot cs = dir && strcmp(dir, "s2c") == 0 ? NEG_CIPHER_S2C : NEG_CIPHER_C2S;
        if (res.slot[cs].status == NEG_AGREED)
            x.cipher = res.slot[cs].agreed;
        struct vars vars;
        struct common cm;
        set_common(&vars, &cm, &x, n);
        vars.v[PH_CATEGORY] = algo_category_name(x.cat);
        vars.v[PH_SHOW] = vendor_text(t->v, t->gen, VK_SHOW);
        char newlist[CATALOGUE_COMMAND_SIZE];
        if (fix_category(&p, &x, &vars, newlist, sizeof newlist) != 1)
            break;
        if (negotiate_list_parse(newlist, strlen(newlist), 0, &owned[x.cat], NULL) < 0)
            break;
        set_category(&server, x.cat, owned[x.cat]);
        if (negotiate_run(db, &client, &server, &res) < 0 || res.outcome != NEG_OUTCOME_FAIL)
            break;
        slot = res.first_fail;
    }
    for (int k = 0; k < ALGO_NCATEGORIES; k++)
        negotiate_list_free(owned[k]);

    const struct vendor *v = t->v;
    struct buf steps;
    buf_init(&steps, out->steps, sizeof out->steps);
    if (p.cmds.len) {
        if (v->keygen_first)
            join_add(&steps, "\n", p.keys_s);
        struct plan q = p; /* begin/end lines go into the steps only */
        buf_init(&q.change, q.change_s, sizeof q.change_s);
        struct buf tmp;
        char tmp_s[CATALOGUE_STEPS_SIZE];
        buf_init(&tmp, tmp_s, sizeof tmp_s);
        add_steps(&q, &tmp, v->begin);
        join_add(&steps, "\n", tmp_s);
        if (!v->keygen_first)
            join_add(&steps, "\n", p.keys_s);
        join_add(&steps, "\n", p.cmds_s);
        buf_init(&tmp, tmp_s, sizeof tmp_s);
        add_steps(&q, &tmp, v->end);
        join_add(&steps, "\n", tmp_s);
        struct vars vars;
        memset(&vars, 0, sizeof vars);
        char flat[CATALOGUE_STEPS_SIZE];
        struct buf fb;
        buf_init(&fb, flat, sizeof flat);
        for (const char *s = out->steps; *s;) {
            size_t len = strcspn(s, "\n");
            buf_str(&fb, fb.len ? "; " : "");
            buf_add(&fb, s, len);
            s += len + (s[len] == '\n');
        }
        vars.v[PH_CHANGE] = p.change_s;
        vars.v[PH_STEPS] = flat;
        vars.v[PH_DEVICE] = n->device_name ? n->device_name : n->device;
        render_to(out->verify, sizeof out->verify, v->verify ? v->verify : t->gen->verify, &vars);
        char sentence[CATALOGUE_COMMAND_SIZE];
        render_to(sentence, sizeof sentence, v->server ? v->server : "{change}", &vars);
        struct buf sb;
        buf_init(&sb, out->server, sizeof out->server);
        join_add(&sb, "; ", sentence);
        join_add(&sb, "; ", p.notes_s);
    } else {
        snprintf(out->server, sizeof out->server, "%s", p.notes_s);
    }
    snprintf(out->risk, sizeof out->risk, "%s", p.risk_s);
}

static void remedy_client(const struct ctx *x, struct vars *vars, struct catalogue_remedy *out)
{
    const struct catalogue *c = x->c;
    if (!x->list[1]) {
        render_to(out->client, sizeof out->client, c->text[T_CLIENT_SERVER_UNKNOWN], vars);
        return;
    }
    const struct algo_entry *e = NULL;
    const char *name = pick_upgrade(x, &e);
    if (!name) {
        render_to(out->client, sizeof out->client, c->text[T_CLIENT_NOTHING], vars);
        return;
    }
    char reasons[CATALOGUE_TEXT_SIZE];
    render_reasons(c, e, reasons, sizeof reasons);
    vars->v[PH_NAME] = name;
    vars->v[PH_RATING] = algo_rating_name(algo_entry_rating(e));
    vars->v[PH_REASONS] = reasons;
    bool ok = algo_entry_rating(e) == ALGO_RATING_OK;
    render_to(out->client, sizeof out->client, c->text[ok ? T_CLIENT_UPGRADE : T_CLIENT_WEAKEN], vars);
}

int catalogue_remedy(const struct catalogue *cat, const struct algo_db *db, const struct negotiation *n,
                     struct catalogue_remedy *out)
{
    if (out)
        memset(out, 0, sizeof *out);
    if (!out || !args_ok(cat, db, n))
        return -1;
    if (!n->failed)
        return 0;
    struct ctx x;
    if (!make_ctx(&x, cat, db, n))
        return 1; /* no failing category known: nothing to compute */
    struct target t;
    resolve_target(cat, n, &t);
    struct negotiate_result none;
    if (!n->result) {
        memset(&none, 0, sizeof none);
        none.first_fail = -1;
    }
    struct negotiation m = *n;
    if (!m.result)
        m.result = &none;
    remedy_server(cat, db, &m, &t, out);
    struct vars cvars;
    struct common cm;
    set_common(&cvars, &cm, &x, n);
    cvars.v[PH_SHOW] = vendor_text(t.v, t.gen, VK_SHOW);
    remedy_client(&x, &cvars, out);
    return 1;
}

int catalogue_render_list(const struct catalogue *cat, const struct algo_db *db, const struct negotiation *n,
                          int c, const struct negotiate_list *list, char *out, size_t size)
{
    if (out && size)
        out[0] = '\0';
    if (!cat || !db || !n || !list || !out || !size || (int)c < 0 || c >= ALGO_NCATEGORIES)
        return -1;
    struct target t;
    resolve_target(cat, n, &t);
    const struct vendor *v = t.v, *gen = t.gen;
    const char *cmd = v->cmd[c] ? v->cmd[c] : gen->cmd[c];
    if (!v->config || !cmd || strcmp(cmd, "-") == 0 || !template_has_list(cmd))
        return 0;
    struct ctx x;
    memset(&x, 0, sizeof x);
    x.c = cat;
    x.db = db;
    x.vendor = v->keyword_names ? v->name : n->vendor;
    x.cat = (enum algo_category)c;
    x.list[1] = list;
    char current[CATALOGUE_COMMAND_SIZE];
    struct buf cur;
    buf_init(&cur, current, sizeof current);
    if (!render_current(&x, &t, list, &cur) || !current[0])
        return 0;
    struct vars vars;
    struct common cm;
    set_common(&vars, &cm, &x, n);
    vars.v[PH_CATEGORY] = algo_category_name((enum algo_category)c);
    vars.v[PH_LIST] = current;
    char text[CATALOGUE_COMMAND_SIZE];
    render_to(text, sizeof text, cmd, &vars);
    struct plan *p = calloc(1, sizeof *p);
    if (!p)
        return -1;
    buf_init(&p->change, p->change_s, sizeof p->change_s);
    struct buf steps;
    buf_init(&steps, out, size);
    add_steps(p, &steps, v->begin);
    add_steps(p, &steps, text);
    add_steps(p, &steps, v->end);
    free(p);
    return 1;
}
