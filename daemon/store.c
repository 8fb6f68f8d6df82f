/* store: negotiation history and device state in SQLite (see store.h).
 *
 * Shape: store_enqueue() deep-copies a negotiation into a bounded FIFO;
 * store_flush() writes up to STORE_FLUSH_MAX of them in one transaction,
 * resolving device, client type and list ids through in-memory caches so the
 * common case is one INSERT per negotiation. Name-lists are interned: every
 * queued record that carries the same list shares one refcounted copy, which
 * also remembers the list's row id.
 *
 * Cache validity: device and client caches are dropped whole whenever a
 * transaction rolls back or retention deletes rows they may name; list ids
 * are tagged with a generation that is bumped on the same events. So a
 * cached id is one that was committed. Another process (kexwatch replay
 * --db) may still delete a row under us: the batch's closing update of that
 * row's last_seen/last_used then finds nothing, and the batch is redone with
 * empty caches.
 *
 * Negotiations name devices, client types and lists without declared
 * foreign keys (see sql/001-initial.sql); what keeps them right is that each
 * batch raises the last_seen/last_used of every row it names, in the same
 * transaction, and retention deletes only rows older than its cut-off once
 * no older negotiation is left.
 */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "algo.h"
#include "log.h"
#include "negotiate.h"
#include "catalogue.h"
#include "store.h"

/* Generated from sql/NNN-*.sql by sql/embed.sh. */
extern const char *const store_migrations[];
extern const char *const store_migration_names[];
extern const int store_migration_count;

#define STORE_QUEUE_DEFAULT 100000              /* queued negotiations when the caller says 0 */
#define STORE_FLUSH_MAX     20000               /* negotiations per transaction: bounds one commit's time */
#define STORE_PROFILES_MAX  8192                /* queued learned lists */
#define STORE_STR_MAX       1024                /* bytes kept of a received string (device, software, reason...) */
#define STORE_CACHE_MAX     65536               /* entries per id cache before it is emptied */
#define STORE_BUSY_MS       5000                /* wait for another writer (kexwatch replay --db) this long */
#define STORE_APP_ID        0x4b455857          /* "KEXW", set by 001-initial.sql */
#define STORE_ANALYZE_US    (3600ULL * 1000000) /* planner statistics refreshed hourly */

/* ------------------------------------------------------------ hash table */

/* Common head of every cached thing: its key and the key's hash. */
struct hnode {
    uint64_t hash;
    size_t klen;
    char *key;
};

/* Open addressing, linear probing, never more than half full. Nodes are
 * owned by whoever put them there. */
struct htab {
    struct hnode **slot;
    size_t mask; /* slots - 1; 0 with no slots */
    size_t count;
};

/* FNV-1a, 64 bits, from a per-store seed: keys come from received logs, and
 * a seed no sender knows keeps them from lining up colliding keys in
 * advance (each table is bounded anyway). */
static uint64_t hash_bytes(uint64_t seed, const char *p, size_t n)
{
    uint64_t h = 0xcbf29ce484222325ULL ^ seed;
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)p[i];
        h *= 0x100000001b3ULL;
    }
    return h;
}

static struct hnode *htab_find(const struct htab *t, uint64_t h, const char *key, size_t klen)
{
    if (!t->slot)
        return NULL;
    for (size_t i = h & t->mask;; i = (i + 1) & t->mask) {
        struct hnode *n = t->slot[i];
        if (!n)
            return NULL;
        if (n->hash == h && n->klen == klen && memcmp(n->key, key, klen) == 0)
            return n;
    }
}

static void htab_put(struct hnode **slot, size_t mask, struct hnode *n)
{
    size_t i = n->hash & mask;
    while (slot[i])
        i = (i + 1) & mask;
    slot[i] = n;
}

static int htab_add(struct htab *t, struct hnode *n)
{
    if (2 * (t->count + 1) > t->mask + 1 || !t->slot) {
        size_t size = t->slot ? 2 * (t->mask + 1) : 64;
        struct hnode **ns = calloc(size, sizeof *ns);
        if (!ns)
            return -1;
        if (t->slot) {
            for (size_t i = 0; i <= t->mask; i++)
                if (t->slot[i])
                    htab_put(ns, size - 1, t->slot[i]);
            free(t->slot);
        }
        t->slot = ns;
        t->mask = size - 1;
    }
    htab_put(t->slot, t->mask, n);
    t->count++;
    return 0;
}

/* Empties slot i, moving later nodes of the run back so that every probe
 * sequence stays unbroken (deletion without tombstones). */
static void htab_remove_at(struct htab *t, size_t i)
{
    size_t j = i;
    for (;;) {
        j = (j + 1) & t->mask;
        struct hnode *n = t->slot[j];
        if (!n)
            break;
        size_t home = n->hash & t->mask;
        /* n stays when its home lies cyclically in (i, j] */
        bool stays = i <= j ? (i < home && home <= j) : (i < home || home <= j);
        if (stays)
            continue;
        t->slot[i] = n;
        i = j;
    }
    t->slot[i] = NULL;
    t->count--;
}

/* Removes every node for which drop() says so (drop frees it). Allocates
 * nothing: it runs when memory may be short. */
static void htab_filter(struct htab *t, bool (*drop)(struct hnode *))
{
    if (!t->slot)
        return;
    for (size_t i = 0; i <= t->mask; i++) {
        /* a node moved into i by the removal is looked at too */
        while (t->slot[i] && drop(t->slot[i]))
            htab_remove_at(t, i);
    }
}

/* ------------------------------------------------------------ cached rows */

/* A device row as committed (or as this transaction has made it). */
struct dev_node {
    struct hnode h;
    int64_t id;
    int64_t first, last;
    char *name, *vendor;
    bool touched; /* first/last/name/vendor to be written at the end of the batch */
};

/* A client type row. key is "fingerprint\0software" ("" for unknown). */
struct cli_node {
    struct hnode h;
    int64_t id;
    int64_t first, last;
    unsigned nulls; /* bit per CL_*: list column still NULL in the row */
    bool touched;
};

/* An interned name-list. key is "names\0P" (P '1' when partial, else '0'),
 * so a partial list never matches the whole one. The row id, and used (its
 * last_used), are valid while gen equals the store's list generation. */
struct list_node {
    struct hnode h;
    uint32_t refs; /* queued records holding it */
    uint64_t gen;
    int64_t id;
    int64_t used;
    bool touched; /* used to be written at the end of the batch */
};

/* The client type's lists stored with it, and the failing slot's two. */
enum { CL_KEX = 0, CL_HOSTKEY, CL_CIPHER, CL_MAC, CL_COMP, CL_FAIL_CLIENT, CL_FAIL_SERVER, CL_N };
static const int client_list_slot[CL_FAIL_CLIENT] = {NEG_KEX, NEG_HOSTKEY, NEG_CIPHER_C2S, NEG_MAC_C2S, NEG_COMP_C2S};

/* Strings of a record, in this order in its buffer: FP and SOFTWARE are
 * adjacent so "fp\0software" is the client key in place. */
enum { RS_DEVICE = 0, RS_NAME, RS_VENDOR, RS_PEER, RS_FP, RS_SOFTWARE, RS_REASON, RS_MISMATCH, RS_N };

/* One queued negotiation: a deep copy, strings in one allocation. */
struct rec {
    int64_t time;
    unsigned port;
    signed char failed, category, slot, evidence;
    unsigned char nulls; /* bit per RS_*: the string was NULL */
    struct list_node *list[CL_N];
    uint16_t off[RS_N], len[RS_N];
    char buf[];
};

/* One queued learned server list. */
struct prec {
    int64_t learned_at;
    int slot;
    struct list_node *list;
    size_t dlen;
    char device[];
};

struct store {
    sqlite3 *db;
    char *path;
    unsigned flags;
    int version;
    struct store_counts counts;
    struct log_ratelimit rl;

    struct rec **q; /* ring of queued negotiations */
    size_t qcap, qhead, qlen;
    struct prec **pq; /* ring of queued profiles */
    size_t pqhead, pqlen;

    struct htab devices, clients, lists;
    uint64_t seed; /* of the hashes */
    uint64_t list_gen;
    /* rows touched by the current batch; sized so they cannot overflow (a
     * record touches one device, one client type, two lists) */
    struct dev_node **dtouched;
    size_t ndtouched, dtouched_cap;
    struct cli_node **ctouched;
    size_t nctouched, ctouched_cap;
    struct list_node **ltouched;
    size_t nltouched, ltouched_cap;

    char lasterr[256]; /* SQLite's words for the last failed transaction */
    char *scratch;     /* joining lists */
    size_t scratch_cap;

    bool orphans_due;     /* negotiations were purged since the last orphan pass */
    uint64_t analyzed_us; /* when the planner's statistics were last refreshed */

    sqlite3_stmt *st_begin, *st_commit, *st_rollback;
    sqlite3_stmt *st_dev_sel, *st_dev_ins, *st_dev_upd;
    sqlite3_stmt *st_cli_sel, *st_cli_ins, *st_cli_fill, *st_cli_upd;
    sqlite3_stmt *st_list_sel, *st_list_ins, *st_list_upd, *st_item_ins;
    sqlite3_stmt *st_neg_ins, *st_prof_up, *st_prof_load;
    sqlite3_stmt *st_purge_fail, *st_purge_ok, *st_purge_old, *st_purge_cli, *st_purge_dev, *st_purge_list;
};

/* ------------------------------------------------------------ small helpers */

static void set_err(char *err, size_t errsize, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void set_err(char *err, size_t errsize, const char *fmt, ...)
{
    if (!err || !errsize)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errsize, fmt, ap);
    va_end(ap);
}

static uint64_t mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* Length of s kept: at most max bytes, not ending inside a UTF-8 sequence. */
static size_t cut_len(const char *s, size_t max)
{
    size_t n = strlen(s);
    if (n <= max)
        return n;
    n = max;
    while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
        n--;
    return n;
}

static int bind_text(sqlite3_stmt *st, int i, const char *p, size_t n)
{
    if (!p)
        return sqlite3_bind_null(st, i);
    /* static: every bound string outlives the statement's reset */
    return sqlite3_bind_text(st, i, p, (int)n, SQLITE_STATIC);
}

static int bind_id(sqlite3_stmt *st, int i, int64_t id)
{
    return id > 0 ? sqlite3_bind_int64(st, i, id) : sqlite3_bind_null(st, i);
}

/* Runs a statement that returns no rows; 0 or the SQLite error code. */
static int run(sqlite3_stmt *st)
{
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return rc == SQLITE_DONE || rc == SQLITE_ROW ? 0 : rc;
}

/* Runs a statement of fixed text (no received data in it) to the end;
 * *first (may be NULL) gets a copy of the first column of the first row. */
static int exec_sql(sqlite3 *db, const char *sql, char *first, size_t firstsize)
{
    sqlite3_stmt *st;
    const char *tail = sql;
    if (first && firstsize)
        first[0] = '\0';
    while (tail && *tail) {
        int rc = sqlite3_prepare_v2(db, tail, -1, &st, &tail);
        if (rc != SQLITE_OK)
            return rc;
        if (!st) /* only whitespace or comments left */
            break;
        while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
            if (first && firstsize && !first[0]) {
                const unsigned char *t = sqlite3_column_text(st, 0);
                snprintf(first, firstsize, "%s", t ? (const char *)t : "");
            }
        }
        sqlite3_finalize(st);
        if (rc != SQLITE_DONE)
            return rc;
    }
    return SQLITE_OK;
}

static const char *rec_str(const struct rec *r, int i)
{
    return r->nulls & (1u << i) ? NULL : r->buf + r->off[i];
}

/* ------------------------------------------------------------ caches */

static bool drop_dev(struct hnode *h)
{
    struct dev_node *d = (struct dev_node *)h;
    free(d->h.key);
    free(d->name);
    free(d->vendor);
    free(d);
    return true;
}

static bool drop_cli(struct hnode *h)
{
    struct cli_node *c = (struct cli_node *)h;
    free(c->h.key);
    free(c);
    return true;
}

static bool drop_unused_list(struct hnode *h)
{
    struct list_node *l = (struct list_node *)h;
    if (l->refs)
        return false;
    free(l);
    return true;
}

/* Forgets every cached id: after a rollback, or when retention deleted rows
 * the caches may name. Interned lists stay (queued records hold them), only
 * their ids are invalidated. */
static void caches_reset(struct store *s)
{
    htab_filter(&s->devices, drop_dev);
    htab_filter(&s->clients, drop_cli);
    s->list_gen++;
    for (size_t i = 0; i < s->nltouched; i++)
        s->ltouched[i]->touched = false;
    s->ndtouched = s->nctouched = s->nltouched = 0;
}

static void list_unref(struct list_node *l)
{
    if (l && l->refs)
        l->refs--;
}

/* Joins a list's names with commas into s->scratch ("names\0P"); returns the
 * key length or -1 when memory is short. */
static long join_list(struct store *s, const struct negotiate_list *l)
{
    size_t n = negotiate_list_count(l), need = 3;
    for (size_t i = 0; i < n; i++)
        need += strlen(negotiate_list_name(l, i)) + 1;
    if (need > s->scratch_cap) {
        char *p = realloc(s->scratch, need);
        if (!p)
            return -1;
        s->scratch = p;
        s->scratch_cap = need;
    }
    size_t len = 0;
    for (size_t i = 0; i < n; i++) {
        const char *name = negotiate_list_name(l, i);
        size_t nl = strlen(name);
        if (i)
            s->scratch[len++] = ',';
        memcpy(s->scratch + len, name, nl);
        len += nl;
    }
    s->scratch[len++] = '\0';
    s->scratch[len++] = negotiate_list_partial(l) ? '1' : '0';
    s->scratch[len] = '\0';
    return (long)len;
}

/* Returns the interned copy of l (one more reference), creating it. */
static struct list_node *list_intern(struct store *s, const struct negotiate_list *l)
{
    long klen = join_list(s, l);
    if (klen < 0)
        return NULL;
    uint64_t h = hash_bytes(s->seed, s->scratch, (size_t)klen);
    struct list_node *ln = (struct list_node *)htab_find(&s->lists, h, s->scratch, (size_t)klen);
    if (!ln) {
        if (s->lists.count >= STORE_CACHE_MAX)
            htab_filter(&s->lists, drop_unused_list);
        ln = malloc(sizeof *ln + (size_t)klen + 1);
        if (!ln)
            return NULL;
        ln->h.hash = h;
        ln->h.klen = (size_t)klen;
        ln->h.key = (char *)(ln + 1);
        memcpy(ln->h.key, s->scratch, (size_t)klen + 1);
        ln->refs = 0;
        ln->gen = 0;
        ln->id = 0;
        ln->used = 0;
        ln->touched = false;
        if (htab_add(&s->lists, &ln->h) < 0) {
            free(ln);
            return NULL;
        }
    }
    ln->refs++;
    return ln;
}

/* ------------------------------------------------------------ queue */

static void rec_free(struct rec *r)
{
    if (!r)
        return;
    for (int i = 0; i < CL_N; i++)
        list_unref(r->list[i]);
    free(r);
}

static void prec_free(struct prec *p)
{
    if (!p)
        return;
    list_unref(p->list);
    free(p);
}

int store_enqueue(struct store *s, const struct negotiation *n)
{
    if (!s || (s->flags & STORE_READONLY) || !n || !n->device)
        return -1;
    if (s->qlen >= s->qcap) {
        s->counts.refused++;
        return -1;
    }
    const char *src[RS_N] = {n->device,   n->device_name, n->vendor, n->peer, n->fingerprint,
                             n->software, n->reason,      n->match ? n->match->id : NULL};
    size_t len[RS_N], total = 0;
    for (int i = 0; i < RS_N; i++) {
        len[i] = src[i] ? cut_len(src[i], STORE_STR_MAX) : 0;
        total += len[i] + 1;
    }
    struct rec *r = malloc(sizeof *r + total);
    if (!r) {
        s->counts.refused++;
        return -1;
    }
    memset(r, 0, sizeof *r);
    size_t off = 0;
    for (int i = 0; i < RS_N; i++) {
        if (!src[i])
            r->nulls |= (unsigned char)(1u << i);
        else
            memcpy(r->buf + off, src[i], len[i]);
        r->buf[off + len[i]] = '\0';
        r->off[i] = (uint16_t)off;
        r->len[i] = (uint16_t)len[i];
        off += len[i] + 1;
    }
    r->time = n->time;
    r->port = n->port;
    r->failed = n->failed ? 1 : 0;
    r->slot = n->failed && n->slot >= 0 && n->slot < NEG_NSLOTS ? (signed char)n->slot : -1;
    r->category = n->failed && n->category >= 0 && n->category < ALGO_NCATEGORIES ? (signed char)n->category : -1;
    if (r->category < 0 && r->slot >= 0)
        r->category = (signed char)negotiate_slot_category((enum negotiate_slot)r->slot);
    r->evidence = n->failed ? (signed char)n->evidence : -1;

    /* The client type's lists are copied only when its row may still lack
     * some: a known client type costs one hash lookup, not five joins. */
    bool has_client = n->fingerprint || n->software;
    bool want_lists = false;
    if (has_client) {
        size_t klen = (size_t)r->len[RS_FP] + 1 + r->len[RS_SOFTWARE];
        const char *key = r->buf + r->off[RS_FP];
        struct cli_node *c = (struct cli_node *)htab_find(&s->clients, hash_bytes(s->seed, key, klen), key, klen);
        want_lists = !c || c->nulls;
    }
    for (int i = 0; want_lists && i < CL_FAIL_CLIENT; i++) {
        const struct negotiate_list *l = n->client[client_list_slot[i]];
        if (l && !(r->list[i] = list_intern(s, l)))
            goto nomem;
    }
    if (r->slot >= 0) {
        if (n->client[r->slot] && !(r->list[CL_FAIL_CLIENT] = list_intern(s, n->client[r->slot])))
            goto nomem;
        if (n->server[r->slot] && !(r->list[CL_FAIL_SERVER] = list_intern(s, n->server[r->slot])))
            goto nomem;
    }
    s->q[(s->qhead + s->qlen) % s->qcap] = r;
    s->qlen++;
    s->counts.queued++;
    return 0;
nomem:
    rec_free(r);
    s->counts.refused++;
    return -1;
}

int store_enqueue_profile(struct store *s, const char *device, int slot, const char *list, int64_t learned_at)
{
    if (!s || (s->flags & STORE_READONLY) || !device || !list || slot < 0 || slot >= NEG_NSLOTS)
        return -1;
    if (s->pqlen >= STORE_PROFILES_MAX)
        return -1;
    /* parsed and re-joined, so it is the same list row as the negotiations' */
    struct negotiate_list *l = NULL;
    if (negotiate_list_parse(list, strlen(list), 0, &l, NULL) < 0)
        return -1;
    size_t dlen = cut_len(device, STORE_STR_MAX);
    struct prec *p = malloc(sizeof *p + dlen + 1);
    if (!p) {
        negotiate_list_free(l);
        return -1;
    }
    p->learned_at = learned_at;
    p->slot = slot;
    p->dlen = dlen;
    memcpy(p->device, device, dlen);
    p->device[dlen] = '\0';
    p->list = list_intern(s, l);
    negotiate_list_free(l);
    if (!p->list) {
        free(p);
        return -1;
    }
    s->pq[(s->pqhead + s->pqlen) % STORE_PROFILES_MAX] = p;
    s->pqlen++;
    return 0;
}

size_t store_pending(const struct store *s)
{
    return s ? s->qlen + s->pqlen : 0;
}

/* ------------------------------------------------------------ id resolution */

/* Row id of an interned list, inserting the list (and its names) when new,
 * for a negotiation at time t. */
static int list_id(struct store *s, struct list_node *l, int64_t t, int64_t *id)
{
    if (!l) {
        *id = 0;
        return 0;
    }
    if (l->gen == s->list_gen && l->id > 0) {
        *id = l->id;
        return 0;
    }
    size_t nlen = l->h.klen - 2;
    int partial = l->h.key[nlen + 1] == '1';
    int rc;
    sqlite3_stmt *st = s->st_list_sel;
    bind_text(st, 1, l->h.key, nlen);
    sqlite3_bind_int(st, 2, partial);
    rc = sqlite3_step(st);
    int64_t found = 0, used = 0;
    if (rc == SQLITE_ROW) {
        found = sqlite3_column_int64(st, 0);
        used = sqlite3_column_int64(st, 1);
    }
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return rc;
    if (!found) {
        st = s->st_list_ins;
        bind_text(st, 1, l->h.key, nlen);
        sqlite3_bind_int(st, 2, partial);
        sqlite3_bind_int64(st, 3, t);
        if ((rc = run(st)))
            return rc;
        found = sqlite3_last_insert_rowid(s->db);
        used = t;
        /* the names one by one; l->h.key is "a,b,c\0P" and names hold no comma */
        const char *p = l->h.key, *end = l->h.key + nlen;
        for (int pos = 0; nlen > 0; pos++) {
            const char *comma = memchr(p, ',', (size_t)(end - p));
            const char *stop = comma ? comma : end;
            st = s->st_item_ins;
            sqlite3_bind_int64(st, 1, found);
            sqlite3_bind_int(st, 2, pos);
            bind_text(st, 3, p, (size_t)(stop - p));
            if ((rc = run(st)))
                return rc;
            if (!comma)
                break;
            p = comma + 1;
        }
    }
    l->id = found;
    l->used = used;
    l->gen = s->list_gen;
    *id = found;
    return 0;
}

/* Row id of the list a negotiation at time t names, its last_used raised
 * (written at the end of the batch). */
static int list_use(struct store *s, struct list_node *l, int64_t t, int64_t *id)
{
    int rc = list_id(s, l, t, id);
    if (rc || !l)
        return rc;
    if (t > l->used) {
        l->used = t;
        if (!l->touched && s->nltouched < s->ltouched_cap) {
            l->touched = true;
            s->ltouched[s->nltouched++] = l;
        }
    }
    return 0;
}

static void dev_touch(struct store *s, struct dev_node *d, const char *name, size_t nlen, const char *vendor,
                      size_t vlen, int64_t t)
{
    bool changed = false;
    if (t < d->first) {
        d->first = t;
        changed = true;
    }
    if (t > d->last) {
        d->last = t;
        changed = true;
    }
    /* names given by the inventory win; a missing one keeps what is stored */
    if (name && (!d->name || strlen(d->name) != nlen || memcmp(d->name, name, nlen) != 0)) {
        char *c = strndup(name, nlen);
        if (c) {
            free(d->name);
            d->name = c;
            changed = true;
        }
    }
    if (vendor && (!d->vendor || strlen(d->vendor) != vlen || memcmp(d->vendor, vendor, vlen) != 0)) {
        char *c = strndup(vendor, vlen);
        if (c) {
            free(d->vendor);
            d->vendor = c;
            changed = true;
        }
    }
    if (changed && !d->touched && s->ndtouched < s->dtouched_cap) {
        d->touched = true;
        s->dtouched[s->ndtouched++] = d;
    }
}

static char *col_dup(sqlite3_stmt *st, int i)
{
    const unsigned char *t = sqlite3_column_text(st, i);
    return t ? strndup((const char *)t, (size_t)sqlite3_column_bytes(st, i)) : NULL;
}

/* The cached device row for key, read or inserted when not cached; its
 * first/last seen and names are brought up to date (written at batch end). */
static int dev_get(struct store *s, const char *key, size_t klen, const char *name, size_t nlen, const char *vendor,
                   size_t vlen, int64_t t, struct dev_node **out)
{
    uint64_t h = hash_bytes(s->seed, key, klen);
    struct dev_node *d = (struct dev_node *)htab_find(&s->devices, h, key, klen);
    if (!d) {
        d = calloc(1, sizeof *d);
        if (!d || !(d->h.key = malloc(klen + 1))) {
            free(d);
            return SQLITE_NOMEM;
        }
        memcpy(d->h.key, key, klen);
        d->h.key[klen] = '\0';
        d->h.klen = klen;
        d->h.hash = h;
        sqlite3_stmt *st = s->st_dev_sel;
        bind_text(st, 1, key, klen);
        int rc = sqlite3_step(st);
        if (rc == SQLITE_ROW) {
            d->id = sqlite3_column_int64(st, 0);
            d->name = col_dup(st, 1);
            d->vendor = col_dup(st, 2);
            d->first = sqlite3_column_int64(st, 3);
            d->last = sqlite3_column_int64(st, 4);
        }
        sqlite3_reset(st);
        sqlite3_clear_bindings(st);
        if (rc == SQLITE_DONE) {
            st = s->st_dev_ins;
            bind_text(st, 1, key, klen);
            bind_text(st, 2, name, nlen);
            bind_text(st, 3, vendor, vlen);
            sqlite3_bind_int64(st, 4, t);
            if (!(rc = run(st))) {
                d->id = sqlite3_last_insert_rowid(s->db);
                d->first = d->last = t;
                d->name = name ? strndup(name, nlen) : NULL;
                d->vendor = vendor ? strndup(vendor, vlen) : NULL;
            }
        } else if (rc == SQLITE_ROW) {
            rc = 0;
        }
        if (rc || htab_add(&s->devices, &d->h) < 0) {
            drop_dev(&d->h);
            return rc ? rc : SQLITE_NOMEM;
        }
    }
    dev_touch(s, d, name, nlen, vendor, vlen, t);
    *out = d;
    return 0;
}

/* The client type of a record (NULL when neither fingerprint nor software
 * is known), read or inserted when not cached; fills list columns its row
 * still lacks. */
static int cli_get(struct store *s, struct rec *r, struct cli_node **out)
{
    *out = NULL;
    const char *fp = rec_str(r, RS_FP), *sw = rec_str(r, RS_SOFTWARE);
    if (!fp && !sw)
        return 0;
    const char *key = r->buf + r->off[RS_FP];
    size_t klen = (size_t)r->len[RS_FP] + 1 + r->len[RS_SOFTWARE];
    uint64_t h = hash_bytes(s->seed, key, klen);
    int64_t ids[CL_FAIL_CLIENT];
    int rc;
    struct cli_node *c = (struct cli_node *)htab_find(&s->clients, h, key, klen);
    if (!c) {
        c = calloc(1, sizeof *c);
        if (!c || !(c->h.key = malloc(klen + 1))) {
            free(c);
            return SQLITE_NOMEM;
        }
        memcpy(c->h.key, key, klen);
        c->h.key[klen] = '\0';
        c->h.klen = klen;
        c->h.hash = h;
        sqlite3_stmt *st = s->st_cli_sel;
        bind_text(st, 1, key, r->len[RS_FP]);
        bind_text(st, 2, key + r->len[RS_FP] + 1, r->len[RS_SOFTWARE]);
        rc = sqlite3_step(st);
        if (rc == SQLITE_ROW) {
            c->id = sqlite3_column_int64(st, 0);
            c->first = sqlite3_column_int64(st, 1);
            c->last = sqlite3_column_int64(st, 2);
            for (int i = 0; i < CL_FAIL_CLIENT; i++)
                if (sqlite3_column_int(st, 3 + i))
                    c->nulls |= 1u << i;
            rc = 0;
        }
        sqlite3_reset(st);
        sqlite3_clear_bindings(st);
        if (rc == SQLITE_DONE) {
            rc = 0;
            for (int i = 0; i < CL_FAIL_CLIENT && !rc; i++)
                rc = list_id(s, r->list[i], r->time, &ids[i]);
            st = s->st_cli_ins;
            if (!rc) {
                bind_text(st, 1, fp, r->len[RS_FP]);
                bind_text(st, 2, sw, r->len[RS_SOFTWARE]);
                sqlite3_bind_int64(st, 3, r->time);
                for (int i = 0; i < CL_FAIL_CLIENT; i++)
                    bind_id(st, 4 + i, ids[i]);
                rc = run(st);
            }
            if (!rc) {
                c->id = sqlite3_last_insert_rowid(s->db);
                c->first = c->last = r->time;
                for (int i = 0; i < CL_FAIL_CLIENT; i++)
                    if (!ids[i])
                        c->nulls |= 1u << i;
            }
        }
        if (rc || htab_add(&s->clients, &c->h) < 0) {
            drop_cli(&c->h);
            return rc ? rc : SQLITE_NOMEM;
        }
    } else if (c->nulls) {
        bool fill = false;
        for (int i = 0; i < CL_FAIL_CLIENT; i++) {
            ids[i] = 0;
            if ((c->nulls & (1u << i)) && r->list[i]) {
                if ((rc = list_id(s, r->list[i], r->time, &ids[i])))
                    return rc;
                fill = true;
            }
        }
        if (fill) {
            sqlite3_stmt *st = s->st_cli_fill;
            sqlite3_bind_int64(st, 1, c->id);
            for (int i = 0; i < CL_FAIL_CLIENT; i++)
                bind_id(st, 2 + i, ids[i]);
            if ((rc = run(st)))
                return rc;
            if (sqlite3_changes(s->db) != 1)
                return SQLITE_CONSTRAINT_FOREIGNKEY; /* deleted by another process */
            for (int i = 0; i < CL_FAIL_CLIENT; i++)
                if (ids[i])
                    c->nulls &= ~(1u << i);
        }
    }
    bool changed = false;
    if (r->time < c->first) {
        c->first = r->time;
        changed = true;
    }
    if (r->time > c->last) {
        c->last = r->time;
        changed = true;
    }
    if (changed && !c->touched && s->nctouched < s->ctouched_cap) {
        c->touched = true;
        s->ctouched[s->nctouched++] = c;
    }
    *out = c;
    return 0;
}

/* ------------------------------------------------------------ flush */

static const char *const evidence_names[] = {"explicit", "inferred"};

static int store_rec(struct store *s, struct rec *r)
{
    struct dev_node *d;
    struct cli_node *c;
    int64_t cl, sl;
    int rc = dev_get(s, rec_str(r, RS_DEVICE), r->len[RS_DEVICE], rec_str(r, RS_NAME), r->len[RS_NAME],
                     rec_str(r, RS_VENDOR), r->len[RS_VENDOR], r->time, &d);
    if (!rc)
        rc = cli_get(s, r, &c);
    if (!rc)
        rc = list_use(s, r->list[CL_FAIL_CLIENT], r->time, &cl);
    if (!rc)
        rc = list_use(s, r->list[CL_FAIL_SERVER], r->time, &sl);
    if (rc)
        return rc;
    sqlite3_stmt *st = s->st_neg_ins;
    sqlite3_bind_int64(st, 1, r->time);
    sqlite3_bind_int64(st, 2, d->id);
    bind_id(st, 3, c ? c->id : 0);
    bind_text(st, 4, rec_str(r, RS_PEER), r->len[RS_PEER]);
    if (r->port)
        sqlite3_bind_int(st, 5, (int)r->port);
    sqlite3_bind_int(st, 6, r->failed);
    if (r->category >= 0) {
        const char *cat = algo_category_name((enum algo_category)r->category);
        bind_text(st, 7, cat, strlen(cat));
    }
    if (r->slot >= 0) {
        const char *dir = negotiate_slot_direction((enum negotiate_slot)r->slot);
        bind_text(st, 8, dir, dir ? strlen(dir) : 0);
    }
    if (r->evidence >= 0 && r->evidence <= EVIDENCE_INFERRED)
        bind_text(st, 9, evidence_names[r->evidence], strlen(evidence_names[r->evidence]));
    bind_text(st, 10, rec_str(r, RS_MISMATCH), r->len[RS_MISMATCH]);
    bind_id(st, 11, cl);
    bind_id(st, 12, sl);
    bind_text(st, 13, rec_str(r, RS_REASON), r->len[RS_REASON]);
    return run(st);
}

static int store_prec(struct store *s, struct prec *p)
{
    struct dev_node *d;
    int64_t lid;
    int rc = dev_get(s, p->device, p->dlen, NULL, 0, NULL, 0, p->learned_at, &d);
    if (!rc)
        rc = list_id(s, p->list, p->learned_at, &lid);
    if (rc)
        return rc;
    const char *slot = negotiate_slot_name((enum negotiate_slot)p->slot);
    sqlite3_stmt *st = s->st_prof_up;
    sqlite3_bind_int64(st, 1, d->id);
    bind_text(st, 2, slot, strlen(slot));
    sqlite3_bind_int64(st, 3, lid);
    sqlite3_bind_int64(st, 4, p->learned_at);
    return run(st);
}

/* Writes the first/last seen (and names) of the devices and client types,
 * and the last_used of the lists, that the batch touched. A row that is not
 * there any more was deleted by another process: the batch is redone. */
static int write_touched(struct store *s)
{
    int rc;
    for (size_t i = 0; i < s->ndtouched; i++) {
        struct dev_node *d = s->dtouched[i];
        sqlite3_stmt *st = s->st_dev_upd;
        sqlite3_bind_int64(st, 1, d->id);
        bind_text(st, 2, d->name, d->name ? strlen(d->name) : 0);
        bind_text(st, 3, d->vendor, d->vendor ? strlen(d->vendor) : 0);
        sqlite3_bind_int64(st, 4, d->first);
        sqlite3_bind_int64(st, 5, d->last);
        if ((rc = run(st)))
            return rc;
        if (sqlite3_changes(s->db) != 1)
            return SQLITE_CONSTRAINT_FOREIGNKEY;
        d->touched = false;
    }
    s->ndtouched = 0;
    for (size_t i = 0; i < s->nctouched; i++) {
        struct cli_node *c = s->ctouched[i];
        sqlite3_stmt *st = s->st_cli_upd;
        sqlite3_bind_int64(st, 1, c->id);
        sqlite3_bind_int64(st, 2, c->first);
        sqlite3_bind_int64(st, 3, c->last);
        if ((rc = run(st)))
            return rc;
        if (sqlite3_changes(s->db) != 1)
            return SQLITE_CONSTRAINT_FOREIGNKEY;
        c->touched = false;
    }
    s->nctouched = 0;
    for (size_t i = 0; i < s->nltouched; i++) {
        struct list_node *l = s->ltouched[i];
        sqlite3_stmt *st = s->st_list_upd;
        sqlite3_bind_int64(st, 1, l->id);
        sqlite3_bind_int64(st, 2, l->used);
        if ((rc = run(st)))
            return rc;
        if (sqlite3_changes(s->db) != 1)
            return SQLITE_CONSTRAINT_FOREIGNKEY;
        l->touched = false;
    }
    s->nltouched = 0;
    return 0;
}

/* Errors that retrying the same data cannot fix. */
static bool permanent_error(int rc)
{
    switch (rc & 0xff) {
    case SQLITE_CONSTRAINT:
    case SQLITE_TOOBIG:
    case SQLITE_MISMATCH:
    case SQLITE_RANGE: return true;
    default: return false;
    }
}

/* One transaction over the first nrec queued negotiations and every queued
 * profile. On failure *bad is the index of the record being written (rec
 * indexes first, then nrec + profile index), or -1 when none was. */
static int write_batch(struct store *s, size_t nrec, long *bad)
{
    int rc;
    *bad = -1;
    if ((rc = run(s->st_begin)))
        goto fail;
    for (size_t i = 0; i < nrec; i++) {
        if ((rc = store_rec(s, s->q[(s->qhead + i) % s->qcap]))) {
            *bad = (long)i;
            goto fail;
        }
    }
    for (size_t i = 0; i < s->pqlen; i++) {
        if ((rc = store_prec(s, s->pq[(s->pqhead + i) % STORE_PROFILES_MAX]))) {
            *bad = (long)(nrec + i);
            goto fail;
        }
    }
    if ((rc = write_touched(s)) || (rc = run(s->st_commit)))
        goto fail;
    return 0;
fail:
    snprintf(s->lasterr, sizeof s->lasterr, "%s", sqlite3_errmsg(s->db));
    /* an I/O error or a full disk may already have rolled it back */
    if (!sqlite3_get_autocommit(s->db))
        run(s->st_rollback);
    caches_reset(s);
    return rc;
}

static void drop_record(struct store *s, size_t nrec, long bad)
{
    if ((size_t)bad < nrec) {
        size_t at = (s->qhead + (size_t)bad) % s->qcap;
        rec_free(s->q[at]);
        /* close the gap: later records move up one place, keeping order */
        for (size_t i = (size_t)bad; i + 1 < s->qlen; i++)
            s->q[(s->qhead + i) % s->qcap] = s->q[(s->qhead + i + 1) % s->qcap];
        s->qlen--;
    } else {
        size_t pi = (size_t)bad - nrec;
        prec_free(s->pq[(s->pqhead + pi) % STORE_PROFILES_MAX]);
        for (size_t i = pi; i + 1 < s->pqlen; i++)
            s->pq[(s->pqhead + i) % STORE_PROFILES_MAX] = s->pq[(s->pqhead + i + 1) % STORE_PROFILES_MAX];
        s->pqlen--;
    }
    s->counts.dropped++;
}

int store_flush(struct store *s)
{
    if (!s || (s->flags & STORE_READONLY))
        return -1;
    if (!s->qlen && !s->pqlen)
        return 0;
    uint64_t t0 = mono_us();
    size_t nrec = s->qlen < STORE_FLUSH_MAX ? s->qlen : STORE_FLUSH_MAX;
    if (s->devices.count > STORE_CACHE_MAX || s->clients.count > STORE_CACHE_MAX)
        caches_reset(s);
    long bad;
    bool dropped = false;
    int rc = write_batch(s, nrec, &bad);
    if (rc && permanent_error(rc)) {
        /* a cached id may have gone under us (another writer's retention):
         * once more with empty caches, then the record is given up */
        rc = write_batch(s, nrec, &bad);
        if (rc && permanent_error(rc) && bad >= 0) {
            log_error("database %s: a record cannot be stored and is dropped: %s", s->path, s->lasterr);
            drop_record(s, nrec, bad);
            dropped = true;
        }
    }
    if (rc) {
        s->counts.errors++;
        uint64_t held = 0;
        if (!dropped && log_ratelimit_allow(&s->rl, (int64_t)time(NULL), &held))
            log_warning("database %s: cannot commit %zu record(s), kept for retry: %s%s", s->path, s->qlen + s->pqlen,
                        s->lasterr, (rc & 0xff) == SQLITE_FULL ? " (the disk is full)" : "");
        return -1;
    }
    for (size_t i = 0; i < nrec; i++) {
        rec_free(s->q[s->qhead]);
        s->qhead = (s->qhead + 1) % s->qcap;
    }
    s->qlen -= nrec;
    while (s->pqlen) {
        prec_free(s->pq[s->pqhead]);
        s->pqhead = (s->pqhead + 1) % STORE_PROFILES_MAX;
        s->pqlen--;
    }
    if (s->lists.count > STORE_CACHE_MAX)
        htab_filter(&s->lists, drop_unused_list);
    s->counts.committed += nrec;
    s->counts.batches++;
    s->counts.last_batch_us = mono_us() - t0;
    return (int)nrec;
}

/* ------------------------------------------------------------ retention */

/* Deletes the client types, devices and lists nothing refers to any more
 * (at most max_rows of each), once no negotiation older than before is
 * left: a row whose last_seen/last_used is older than before is then named
 * by no negotiation (see the head of this file). Sets *more when a kind had
 * more to delete than max_rows. */
static int purge_orphans(struct store *s, int64_t before, unsigned max_rows, bool *changed, bool *more)
{
    int rc, n[3] = {0, 0, 0};
    sqlite3_stmt *st = s->st_purge_old;
    sqlite3_bind_int64(st, 1, before);
    rc = sqlite3_step(st);
    bool old_left = rc == SQLITE_ROW && sqlite3_column_int(st, 0);
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    if (rc != SQLITE_ROW)
        return rc;
    *changed = *more = false;
    if (old_left) {
        *more = true;
        return 0;
    }
    /* clients first: they hold lists */
    sqlite3_stmt *const order[3] = {s->st_purge_cli, s->st_purge_dev, s->st_purge_list};
    for (int i = 0; i < 3; i++) {
        st = order[i];
        sqlite3_bind_int64(st, 1, before);
        sqlite3_bind_int(st, 2, (int)max_rows);
        if ((rc = run(st)))
            return rc;
        n[i] = sqlite3_changes(s->db);
        if ((unsigned)n[i] >= max_rows)
            *more = true;
    }
    *changed = n[0] || n[1] || n[2];
    if (*changed)
        log_debug("database %s: retention removed %d client type(s), %d device(s), %d list(s) no longer used", s->path,
                  n[0], n[1], n[2]);
    return 0;
}

/* Refreshes the statistics SQLite's planner chooses indexes by (which
 * history queries need: see sql/README), reading at most ~1000 rows per
 * index so it takes milliseconds whatever the size. */
static void refresh_statistics(struct store *s)
{
    s->analyzed_us = mono_us();
    if (exec_sql(s->db, "PRAGMA analysis_limit = 1000; ANALYZE", NULL, 0) != SQLITE_OK)
        log_debug("database %s: ANALYZE failed: %s", s->path, sqlite3_errmsg(s->db));
}

int store_purge(struct store *s, int64_t before, unsigned max_rows)
{
    if (!s || (s->flags & STORE_READONLY))
        return -1;
    if (max_rows == 0)
        return 0;
    if (max_rows > 1000000)
        max_rows = 1000000;
    int rc;
    bool changed = false;
    if ((rc = run(s->st_begin)))
        goto fail;
    int deleted = 0;
    sqlite3_stmt *const kinds[2] = {s->st_purge_fail, s->st_purge_ok};
    for (int i = 0; i < 2 && (unsigned)deleted < max_rows; i++) {
        sqlite3_bind_int64(kinds[i], 1, before);
        sqlite3_bind_int(kinds[i], 2, (int)(max_rows - (unsigned)deleted));
        if ((rc = run(kinds[i])))
            goto fail;
        deleted += sqlite3_changes(s->db);
    }
    if (deleted)
        s->orphans_due = true;
    /* orphans once the old negotiations are gone, not at every step */
    bool more = true;
    if (s->orphans_due && (unsigned)deleted < max_rows) {
        if ((rc = purge_orphans(s, before, max_rows, &changed, &more)))
            goto fail;
    }
    if ((rc = run(s->st_commit)))
        goto fail;
    if (!more)
        s->orphans_due = false;
    if (changed)
        caches_reset(s);
    s->counts.purged += (uint64_t)deleted;
    /* retention runs on the daemon's tick: a good place for upkeep */
    if (mono_us() - s->analyzed_us > STORE_ANALYZE_US && s->counts.committed)
        refresh_statistics(s);
    return deleted;
fail:
    snprintf(s->lasterr, sizeof s->lasterr, "%s", sqlite3_errmsg(s->db));
    if (!sqlite3_get_autocommit(s->db))
        run(s->st_rollback);
    caches_reset(s);
    s->counts.errors++;
    uint64_t held = 0;
    if (log_ratelimit_allow(&s->rl, (int64_t)time(NULL), &held))
        log_warning("database %s: retention step failed, retried later: %s", s->path, s->lasterr);
    return -1;
}

/* ------------------------------------------------------------ profiles */

int store_load_profiles(struct store *s, store_profile_cb cb, void *arg)
{
    if (!s || !cb)
        return -1;
    sqlite3_stmt *st = s->st_prof_load;
    int rc, count = 0;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *device = (const char *)sqlite3_column_text(st, 0);
        int slot = negotiate_slot_from_name((const char *)sqlite3_column_text(st, 1));
        const char *list = (const char *)sqlite3_column_text(st, 2);
        if (!device || !list || slot < 0)
            continue;
        cb(arg, device, slot, list, sqlite3_column_int64(st, 3));
        count++;
    }
    sqlite3_reset(st);
    if (rc != SQLITE_DONE) {
        log_error("database %s: cannot read learned server lists: %s", s->path, sqlite3_errmsg(s->db));
        return -1;
    }
    return count;
}

/* ------------------------------------------------------------ open / close */

static int prepare_all(struct store *s)
{
    struct {
        sqlite3_stmt **st;
        const char *sql;
        bool write;
    } const stmts[] = {
        {&s->st_begin, "BEGIN IMMEDIATE", true},
        {&s->st_commit, "COMMIT", true},
        {&s->st_rollback, "ROLLBACK", true},
        {&s->st_dev_sel, "SELECT id, name, vendor, first_seen, last_seen FROM devices WHERE key = ?1", true},
        {&s->st_dev_ins, "INSERT INTO devices (key, name, vendor, first_seen, last_seen) VALUES (?1, ?2, ?3, ?4, ?4)",
         true},
        {&s->st_dev_upd,
         "UPDATE devices SET name = coalesce(?2, name), vendor = coalesce(?3, vendor),"
         " first_seen = min(first_seen, ?4), last_seen = max(last_seen, ?5) WHERE id = ?1",
         true},
        {&s->st_cli_sel,
         "SELECT id, first_seen, last_seen, kex_list IS NULL, hostkey_list IS NULL, cipher_list IS NULL,"
         " mac_list IS NULL, compression_list IS NULL FROM clients"
         " WHERE ifnull(fingerprint, '') = ?1 AND ifnull(software, '') = ?2",
         true},
        {&s->st_cli_ins,
         "INSERT INTO clients (fingerprint, software, first_seen, last_seen, kex_list, hostkey_list,"
         " cipher_list, mac_list, compression_list) VALUES (?1, ?2, ?3, ?3, ?4, ?5, ?6, ?7, ?8)",
         true},
        {&s->st_cli_fill,
         "UPDATE clients SET kex_list = coalesce(kex_list, ?2), hostkey_list = coalesce(hostkey_list, ?3),"
         " cipher_list = coalesce(cipher_list, ?4), mac_list = coalesce(mac_list, ?5),"
         " compression_list = coalesce(compression_list, ?6) WHERE id = ?1",
         true},
        {&s->st_cli_upd,
         "UPDATE clients SET first_seen = min(first_seen, ?2), last_seen = max(last_seen, ?3) WHERE id = ?1", true},
        {&s->st_list_sel, "SELECT id, last_used FROM lists WHERE names = ?1 AND partial = ?2", true},
        {&s->st_list_ins, "INSERT INTO lists (names, partial, last_used) VALUES (?1, ?2, ?3)", true},
        {&s->st_list_upd, "UPDATE lists SET last_used = max(last_used, ?2) WHERE id = ?1", true},
        {&s->st_item_ins, "INSERT INTO list_items (list_id, pos, name) VALUES (?1, ?2, ?3)", true},
        {&s->st_neg_ins,
         "INSERT INTO negotiations (time, device_id, client_id, address, port, failed, category, direction,"
         " evidence, mismatch, client_list, server_list, reason)"
         " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
         true},
        {&s->st_prof_up,
         "INSERT INTO profiles (device_id, slot, source, list_id, learned_at) VALUES (?1, ?2, 'learned', ?3, ?4)"
         " ON CONFLICT (device_id, slot, source) DO UPDATE SET list_id = excluded.list_id,"
         " learned_at = excluded.learned_at WHERE excluded.learned_at >= profiles.learned_at",
         true},
        {&s->st_prof_load,
         "SELECT d.key, p.slot, l.names, p.learned_at FROM profiles p JOIN devices d ON d.id = p.device_id"
         " JOIN lists l ON l.id = p.list_id WHERE p.source = 'learned' ORDER BY d.key, p.slot",
         false},
        /* failures and successes each by their own time index */
        {&s->st_purge_fail,
         "DELETE FROM negotiations WHERE id IN"
         " (SELECT id FROM negotiations WHERE failed = 1 AND time < ?1 LIMIT ?2)",
         true},
        {&s->st_purge_ok,
         "DELETE FROM negotiations WHERE id IN"
         " (SELECT id FROM negotiations WHERE failed = 0 AND time < ?1 LIMIT ?2)",
         true},
        {&s->st_purge_old,
         "SELECT EXISTS (SELECT 1 FROM negotiations WHERE failed = 1 AND time < ?1)"
         " OR EXISTS (SELECT 1 FROM negotiations WHERE failed = 0 AND time < ?1)",
         true},
        {&s->st_purge_cli, "DELETE FROM clients WHERE id IN (SELECT id FROM clients WHERE last_seen < ?1 LIMIT ?2)",
         true},
        {&s->st_purge_dev,
         "DELETE FROM devices WHERE id IN (SELECT d.id FROM devices d WHERE d.last_seen < ?1"
         " AND NOT EXISTS (SELECT 1 FROM profiles p WHERE p.device_id = d.id)"
         " AND NOT EXISTS (SELECT 1 FROM alerts a WHERE a.device_id = d.id) LIMIT ?2)",
         true},
        {&s->st_purge_list,
         "DELETE FROM lists WHERE id IN (SELECT l.id FROM lists l WHERE l.last_used < ?1"
         " AND l.id NOT IN (SELECT kex_list FROM clients WHERE kex_list IS NOT NULL"
         " UNION ALL SELECT hostkey_list FROM clients WHERE hostkey_list IS NOT NULL"
         " UNION ALL SELECT cipher_list FROM clients WHERE cipher_list IS NOT NULL"
         " UNION ALL SELECT mac_list FROM clients WHERE mac_list IS NOT NULL"
         " UNION ALL SELECT compression_list FROM clients WHERE compression_list IS NOT NULL)"
         " AND NOT EXISTS (SELECT 1 FROM profiles p WHERE p.list_id = l.id) LIMIT ?2)",
         true},
    };
    bool ro = s->flags & STORE_READONLY;
    for (size_t i = 0; i < sizeof stmts / sizeof stmts[0]; i++)
        if ((!ro || !stmts[i].write) &&
            sqlite3_prepare_v3(s->db, stmts[i].sql, -1, SQLITE_PREPARE_PERSISTENT, stmts[i].st, NULL) != SQLITE_OK)
            return -1;
    return 0;
}

static int pragma_int(sqlite3 *db, const char *sql, int *out)
{
    sqlite3_stmt *st;
    int rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
    if (rc != SQLITE_OK)
        return rc;
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        *out = sqlite3_column_int(st, 0);
        rc = SQLITE_OK;
    }
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

/* The operator's message for an error met while reading the file. */
static void explain_read_error(struct store *s, int rc, char *err, size_t errsize)
{
    switch (rc & 0xff) {
    case SQLITE_NOTADB:
        set_err(err, errsize,
                "%s: not a SQLite database, or its header is corrupt (%s); move it aside and restart to start a "
                "new one",
                s->path, sqlite3_errmsg(s->db));
        break;
    case SQLITE_CORRUPT:
        set_err(err, errsize, "%s: database is corrupt (%s); move it aside and restart to start a new one", s->path,
                sqlite3_errmsg(s->db));
        break;
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
        set_err(err, errsize,
                "%s: database stayed locked for %d s by another program (%s); stop it or wait, then retry", s->path,
                STORE_BUSY_MS / 1000, sqlite3_errmsg(s->db));
        break;
    case SQLITE_CANTOPEN:
    case SQLITE_READONLY:
    case SQLITE_PERM:
        set_err(err, errsize,
                "%s: cannot open (%s); SQLite must be able to write %s-wal and %s-shm beside the database: check "
                "the owner and mode of those files and of the directory",
                s->path, sqlite3_errmsg(s->db), s->path, s->path);
        break;
    default: set_err(err, errsize, "%s: cannot read the database (%s)", s->path, sqlite3_errmsg(s->db)); break;
    }
}

/* The directory part of path ("." when none), into buf. */
static void dir_of(const char *path, char *buf, size_t size)
{
    const char *slash = strrchr(path, '/');
    if (!slash)
        snprintf(buf, size, ".");
    else if (slash == path)
        snprintf(buf, size, "/");
    else
        snprintf(buf, size, "%.*s", (int)(slash - path), path);
}

/* Checks, before SQLite does, what it would report less clearly: a missing
 * or read-only directory, a read-only file. */
static int check_access(struct store *s, char *err, size_t errsize)
{
    char dir[4096];
    struct stat sb;
    dir_of(s->path, dir, sizeof dir);
    bool ro = s->flags & STORE_READONLY;
    if (stat(s->path, &sb) < 0) {
        if (errno != ENOENT) {
            set_err(err, errsize, "%s: cannot access: %s", s->path, strerror(errno));
            return -1;
        }
        if (ro) {
            set_err(err, errsize,
                    "%s: no database there (kexwatchd creates it when it starts; check [store] database or --db)",
                    s->path);
            return -1;
        }
        if (stat(dir, &sb) < 0 || !S_ISDIR(sb.st_mode)) {
            set_err(err, errsize,
                    "%s: cannot create: directory %s does not exist; create it (owned by the user "
                    "kexwatchd runs as)",
                    s->path, dir);
            return -1;
        }
        if (access(dir, W_OK | X_OK) < 0) {
            set_err(err, errsize,
                    "%s: cannot create: read-only directory %s (%s); make it writable for the user "
                    "kexwatchd runs as",
                    s->path, dir, strerror(errno));
            return -1;
        }
        return 0;
    }
    if (S_ISDIR(sb.st_mode)) {
        set_err(err, errsize, "%s: is a directory; [store] database names the database file", s->path);
        return -1;
    }
    if (access(s->path, ro ? R_OK : R_OK | W_OK) < 0) {
        set_err(err, errsize, "%s: %s (%s); check the file's owner and mode", s->path,
                ro ? "cannot read the database" : "the database file is read-only", strerror(errno));
        return -1;
    }
    if (!ro && access(dir, W_OK | X_OK) < 0) {
        set_err(err, errsize,
                "%s: read-only directory %s (%s); SQLite creates %s-wal and %s-shm beside the "
                "database: make the directory writable for the user kexwatchd runs as",
                s->path, dir, strerror(errno), s->path, s->path);
        return -1;
    }
    return 0;
}

/* Runs PRAGMA quick_check: O(database size), so only where the daemon
 * starts, never for a query. */
static int quick_check(struct store *s, char *err, size_t errsize)
{
    sqlite3_stmt *st;
    int rc = sqlite3_prepare_v2(s->db, "PRAGMA quick_check", -1, &st, NULL);
    if (rc != SQLITE_OK) {
        explain_read_error(s, rc, err, errsize);
        return -1;
    }
    char first[256] = "";
    int problems = 0;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *t = (const char *)sqlite3_column_text(st, 0);
        if (t && strcmp(t, "ok") == 0)
            continue;
        if (!problems++)
            snprintf(first, sizeof first, "%s", t ? t : "?");
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE) {
        explain_read_error(s, rc, err, errsize);
        return -1;
    }
    if (problems) {
        set_err(err, errsize,
                "%s: database is corrupt (quick_check: %s%s); move it aside and restart to start a new one", s->path,
                first, problems > 1 ? ", and more" : "");
        return -1;
    }
    return 0;
}

/* Applies migrations from+1 .. latest, each in its own transaction with
 * its user_version. Foreign keys are off meanwhile, as SQLite's procedure
 * for rebuilding tables requires, and checked before each commit. */
static int migrate(struct store *s, int from, char *err, size_t errsize)
{
    char buf[256];
    int rc = exec_sql(s->db, "PRAGMA foreign_keys = OFF", NULL, 0);
    for (int v = from + 1; rc == SQLITE_OK && v <= store_migration_count; v++) {
        const char *name = store_migration_names[v - 1];
        char setv[64];
        snprintf(setv, sizeof setv, "PRAGMA user_version = %d", v);
        if ((rc = exec_sql(s->db, "BEGIN IMMEDIATE", NULL, 0)) != SQLITE_OK)
            break;
        if ((rc = exec_sql(s->db, store_migrations[v - 1], NULL, 0)) == SQLITE_OK &&
            (rc = exec_sql(s->db, "PRAGMA foreign_key_check", buf, sizeof buf)) == SQLITE_OK && buf[0]) {
            set_err(err, errsize,
                    "%s: migration %s leaves rows of table %s pointing nowhere; the database is "
                    "unchanged at version %d",
                    s->path, name, buf, v - 1);
            exec_sql(s->db, "ROLLBACK", NULL, 0);
            return -1;
        }
        if (rc == SQLITE_OK)
            rc = exec_sql(s->db, setv, NULL, 0);
        if (rc == SQLITE_OK)
            rc = exec_sql(s->db, "COMMIT", NULL, 0);
        if (rc != SQLITE_OK) {
            set_err(err, errsize, "%s: migration %s failed (%s); the database is unchanged at version %d", s->path,
                    name, sqlite3_errmsg(s->db), v - 1);
            if (!sqlite3_get_autocommit(s->db))
                exec_sql(s->db, "ROLLBACK", NULL, 0);
            return -1;
        }
        s->version = v;
    }
    if (rc != SQLITE_OK) {
        set_err(err, errsize, "%s: cannot upgrade the schema (%s)", s->path, sqlite3_errmsg(s->db));
        return -1;
    }
    if (from < s->version) {
        if (from == 0)
            log_info("database %s: created (schema version %d)", s->path, s->version);
        else
            log_notice("database %s: schema upgraded from version %d to %d", s->path, from, s->version);
    }
    return 0;
}

static int open_db(struct store *s, char *err, size_t errsize)
{
    bool ro = s->flags & STORE_READONLY;
    if (check_access(s, err, errsize) < 0)
        return -1;
    int oflags = ro ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE;
    int rc = sqlite3_open_v2(s->path, &s->db, oflags | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK) {
        set_err(err, errsize, "%s: cannot open: %s", s->path, s->db ? sqlite3_errmsg(s->db) : sqlite3_errstr(rc));
        return -1;
    }
    sqlite3_extended_result_codes(s->db, 1);
    sqlite3_busy_timeout(s->db, STORE_BUSY_MS);
    if (!ro && sqlite3_db_readonly(s->db, "main") == 1) {
        set_err(err, errsize, "%s: the database file is read-only; check its owner and mode", s->path);
        return -1;
    }

    int version = 0, app_id = 0, objects = 0;
    if ((rc = pragma_int(s->db, "PRAGMA user_version", &version)) != SQLITE_OK ||
        (rc = pragma_int(s->db, "PRAGMA application_id", &app_id)) != SQLITE_OK ||
        (rc = pragma_int(s->db, "SELECT count(*) FROM sqlite_master", &objects)) != SQLITE_OK) {
        explain_read_error(s, rc, err, errsize);
        return -1;
    }
    if (app_id != 0 && app_id != STORE_APP_ID) {
        set_err(err, errsize, "%s: not a kexwatch database (application_id 0x%08x); give kexwatch a path of its own",
                s->path, (unsigned)app_id);
        return -1;
    }
    if (version == 0 && objects > 0) {
        set_err(err, errsize,
                "%s: not a kexwatch database (it has tables, but no kexwatch schema version); give "
                "kexwatch a path of its own",
                s->path);
        return -1;
    }
    if (version > store_migration_count) {
        set_err(err, errsize,
                "%s: schema version %d is newer than this kexwatch (%d); upgrade kexwatch or use "
                "another database",
                s->path, version, store_migration_count);
        return -1;
    }
    s->version = version;

    if (ro) {
        if (version == 0) {
            set_err(err, errsize, "%s: not a kexwatch database (empty); check --db or [store] database", s->path);
            return -1;
        }
        if (version < store_migration_count) {
            set_err(err, errsize,
                    "%s: schema version %d is older than this kexwatch (%d); start kexwatchd of this "
                    "version once to upgrade it",
                    s->path, version, store_migration_count);
            return -1;
        }
        if ((rc = exec_sql(s->db, "PRAGMA query_only = ON", NULL, 0)) != SQLITE_OK) {
            explain_read_error(s, rc, err, errsize);
            return -1;
        }
        return 0;
    }

    if (version > 0 && quick_check(s, err, errsize) < 0)
        return -1;
    char mode[32];
    if ((rc = exec_sql(s->db, "PRAGMA journal_mode = WAL", mode, sizeof mode)) != SQLITE_OK) {
        explain_read_error(s, rc, err, errsize);
        return -1;
    }
    if (strcmp(mode, "wal") != 0) {
        set_err(err, errsize,
                "%s: cannot use write-ahead logging (journal mode stays \"%s\"); the database must be "
                "on a local file system",
                s->path, mode);
        return -1;
    }
    /* NORMAL: a power cut may lose the last commits, never consistency.
     * Checkpoints every 8000 pages (32 MiB) rather than SQLite's 1000: a
     * batch of failures rewrites a page of failures_device per device, and
     * a longer WAL lets one checkpoint write each such page once for several
     * batches (measured: +20% stored/s). The WAL file is cut back to 64 MiB
     * after a checkpoint; 32 MiB of page cache holds the indexes' hot pages. */
    if ((rc = exec_sql(s->db,
                       "PRAGMA synchronous = NORMAL; PRAGMA wal_autocheckpoint = 8000;"
                       " PRAGMA journal_size_limit = 67108864; PRAGMA cache_size = -32768;"
                       " PRAGMA temp_store = MEMORY",
                       NULL, 0)) != SQLITE_OK) {
        explain_read_error(s, rc, err, errsize);
        return -1;
    }
    if (migrate(s, version, err, errsize) < 0)
        return -1;
    int fk = 0;
    if ((rc = exec_sql(s->db, "PRAGMA foreign_keys = ON", NULL, 0)) != SQLITE_OK ||
        (rc = pragma_int(s->db, "PRAGMA foreign_keys", &fk)) != SQLITE_OK || fk != 1) {
        set_err(err, errsize, "%s: cannot turn foreign keys on (this SQLite lacks them?)", s->path);
        return -1;
    }
    return 0;
}

static void finalize_all(struct store *s)
{
    sqlite3_stmt **all[] = {
        &s->st_begin,    &s->st_commit,    &s->st_rollback,  &s->st_dev_sel,   &s->st_dev_ins,    &s->st_dev_upd,
        &s->st_cli_sel,  &s->st_cli_ins,   &s->st_cli_fill,  &s->st_cli_upd,   &s->st_list_sel,   &s->st_list_ins,
        &s->st_list_upd, &s->st_item_ins,  &s->st_neg_ins,   &s->st_prof_up,   &s->st_prof_load,  &s->st_purge_fail,
        &s->st_purge_ok, &s->st_purge_old, &s->st_purge_cli, &s->st_purge_dev, &s->st_purge_list,
    };
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) {
        sqlite3_finalize(*all[i]);
        *all[i] = NULL;
    }
}

static void store_destroy(struct store *s)
{
    while (s->qlen) {
        rec_free(s->q[s->qhead]);
        s->qhead = (s->qhead + 1) % s->qcap;
        s->qlen--;
    }
    while (s->pqlen) {
        prec_free(s->pq[s->pqhead]);
        s->pqhead = (s->pqhead + 1) % STORE_PROFILES_MAX;
        s->pqlen--;
    }
    finalize_all(s);
    if (s->db)
        sqlite3_close(s->db);
    htab_filter(&s->devices, drop_dev);
    htab_filter(&s->clients, drop_cli);
    htab_filter(&s->lists, drop_unused_list);
    free(s->devices.slot);
    free(s->clients.slot);
    free(s->lists.slot);
    free(s->dtouched);
    free(s->ctouched);
    free(s->ltouched);
    free(s->scratch);
    free(s->q);
    free(s->pq);
    free(s->path);
    free(s);
}

int store_open(const char *path, unsigned flags, size_t queue_max, struct store **out, char *err, size_t errsize)
{
    if (err && errsize)
        err[0] = '\0';
    if (!out)
        return -1;
    *out = NULL;
    if (!path || !*path) {
        set_err(err, errsize, "no database path given ([store] database)");
        return -1;
    }
    struct store *s = calloc(1, sizeof *s);
    if (!s || !(s->path = strdup(path))) {
        free(s);
        set_err(err, errsize, "%s: out of memory", path);
        return -1;
    }
    s->flags = flags;
    s->rl = (struct log_ratelimit)LOG_RATELIMIT_INIT(60, 5);
    s->list_gen = 1;
    s->seed = mono_us() ^ ((uint64_t)getpid() << 32) ^ (uint64_t)(uintptr_t)s;
    s->orphans_due = true; /* one orphan pass after each start */
    s->analyzed_us = mono_us();
    if (!(flags & STORE_READONLY)) {
        s->qcap = queue_max ? queue_max : STORE_QUEUE_DEFAULT;
        /* every record of a batch touches at most one device and one client */
        s->dtouched_cap = s->ctouched_cap = STORE_FLUSH_MAX + STORE_PROFILES_MAX;
        s->ltouched_cap = 2 * STORE_FLUSH_MAX;
        s->q = calloc(s->qcap, sizeof *s->q);
        s->pq = calloc(STORE_PROFILES_MAX, sizeof *s->pq);
        s->dtouched = calloc(s->dtouched_cap, sizeof *s->dtouched);
        s->ctouched = calloc(s->ctouched_cap, sizeof *s->ctouched);
        s->ltouched = calloc(s->ltouched_cap, sizeof *s->ltouched);
        if (!s->q || !s->pq || !s->dtouched || !s->ctouched || !s->ltouched) {
            set_err(err, errsize, "%s: out of memory for a queue of %zu", path, s->qcap);
            store_destroy(s);
            return -1;
        }
    }
    if (open_db(s, err, errsize) < 0 || prepare_all(s) < 0) {
        if (err && errsize && !err[0])
            set_err(err, errsize, "%s: cannot prepare the database's statements (%s)", path,
                    s->db ? sqlite3_errmsg(s->db) : "no connection");
        store_destroy(s);
        return -1;
    }
    *out = s;
    return 0;
}

void store_close(struct store *s)
{
    if (!s)
        return;
    if (!(s->flags & STORE_READONLY)) {
        /* a failed flush that still made progress (dropped a bad record)
         * is worth another try; one that did not is given up */
        size_t before;
        while ((before = s->qlen + s->pqlen) > 0) {
            if (store_flush(s) < 0 && s->qlen + s->pqlen == before)
                break;
        }
        if (s->qlen || s->pqlen)
            log_error("database %s: %zu record(s) could not be stored before closing and are lost", s->path,
                      s->qlen + s->pqlen);
        /* the query tool finds statistics that know what was written */
        if (s->counts.committed)
            refresh_statistics(s);
    }
    store_destroy(s);
}

int store_schema_version(const struct store *s)
{
    return s ? s->version : -1;
}

int store_schema_latest(void)
{
    return store_migration_count;
}

const struct store_counts *store_get_counts(const struct store *s)
{
    return s ? &s->counts : NULL;
}

/* ---------------------------------------------------------- history queries */

/* Hands one result row to the caller as store_values (no sqlite3 types
 * outside this file). */
static int emit_row(sqlite3_stmt *st, store_row_cb cb, void *arg)
{
    enum { MAXCOL = 16 };
    int ncol = sqlite3_column_count(st);
    if (ncol > MAXCOL)
        ncol = MAXCOL;
    const char *names[MAXCOL];
    struct store_value v[MAXCOL];
    for (int i = 0; i < ncol; i++) {
        names[i] = sqlite3_column_name(st, i);
        v[i] = (struct store_value){0};
        switch (sqlite3_column_type(st, i)) {
        case SQLITE_NULL: v[i].is_null = true; break;
        case SQLITE_INTEGER:
            v[i].is_int = true;
            v[i].num = sqlite3_column_int64(st, i);
            break;
        default: v[i].text = (const char *)sqlite3_column_text(st, i); break;
        }
    }
    return cb(arg, (size_t)ncol, names, v);
}

/* Steps st to the end, row by row into cb; returns the rows, the callback's
 * non-zero value, or -1 with SQLite's words in err. Finalizes st. */
static int run_rows(struct store *s, sqlite3_stmt *st, store_row_cb cb, void *arg, char *err, size_t errsize)
{
    int rc, rows = 0, stop = 0;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if ((stop = emit_row(st, cb, arg)) != 0)
            break;
        rows++;
    }
    if (!stop && rc != SQLITE_DONE) {
        set_err(err, errsize, "%s: query failed: %s", s->path, sqlite3_errmsg(s->db));
        rows = -1;
    }
    sqlite3_finalize(st);
    return stop ? stop : rows;
}

static int prepare_query(struct store *s, const char *sql, sqlite3_stmt **st, char *err, size_t errsize)
{
    /* prepared once per command: the tool asks one question and exits */
    if (sqlite3_prepare_v2(s->db, sql, -1, st, NULL) != SQLITE_OK) {
        set_err(err, errsize, "%s: cannot prepare a query: %s", s->path, sqlite3_errmsg(s->db));
        return -1;
    }
    return 0;
}

/* The statement text for a failures query; every value is a parameter
 * (?1 from, ?2 until, ?3 device key), the text is only fixed fragments. */
static int failures_sql(const struct store_failures_query *q, char *buf, size_t size)
{
    static const char *const col[] = {
        [STORE_BY_CLIENT] = "client_id",       [STORE_BY_DEVICE] = "device_id",
        [STORE_BY_CATEGORY] = "category",      [STORE_BY_ALGORITHM] = "client_list",
        [STORE_BY_MISMATCH] = "mismatch",
    };
    if ((unsigned)q->by > STORE_BY_MISMATCH)
        return -1;
    /* sql/README: a device's failures, and failures per device, read
     * failures_device; every other window query the covering failures_window */
    bool by_device_index = q->device || q->by == STORE_BY_DEVICE;
    const char *index = by_device_index ? "failures_device" : "failures_window";
    const char *devcond = q->device ? "device_id = (SELECT id FROM devices WHERE key = ?3) AND " : "";
    int n;
    if (q->by == STORE_BY_ALGORITHM) {
        /* per (list, device) pair: the names are expanded and devices
         * counted in C (README: count(DISTINCT) over the expansion is ten
         * times slower) */
        n = snprintf(buf, size,
                     "SELECT client_list, device_id, count(*), min(time), max(time)"
                     " FROM negotiations INDEXED BY %s"
                     " WHERE %sfailed = 1 AND time >= ?1 AND time < ?2 AND client_list IS NOT NULL"
                     " GROUP BY client_list, device_id",
                     index, devcond);
    } else {
        char inner[512];
        snprintf(inner, sizeof inner,
                 "SELECT %s AS k, count(*) AS n, count(DISTINCT device_id) AS d, min(time) AS f, max(time) AS l"
                 " FROM negotiations INDEXED BY %s WHERE %sfailed = 1 AND time >= ?1 AND time < ?2 GROUP BY %s",
                 col[q->by], index, devcond, col[q->by]);
        const char *outer_cols = "g.k AS key, NULL AS detail", *join = "";
        if (q->by == STORE_BY_CLIENT) {
            outer_cols = "c.software AS key, c.fingerprint AS detail";
            join = " LEFT JOIN clients c ON c.id = g.k";
        } else if (q->by == STORE_BY_DEVICE) {
            outer_cols = "dv.key AS key, dv.name AS detail";
            join = " LEFT JOIN devices dv ON dv.id = g.k";
        }
        /* the caller's column names: key, detail, failures, devices, first_seen, last_seen */
        n = snprintf(buf, size,
                     "SELECT %s, g.n AS failures, g.d AS devices, g.f AS first_seen, g.l AS last_seen"
                     " FROM (%s) g%s ORDER BY g.n DESC, 1, 2",
                     outer_cols, inner, join);
    }
    return n > 0 && (size_t)n < size ? 0 : -1;
}

static int bind_window(sqlite3_stmt *st, const struct store_failures_query *q)
{
    int rc = sqlite3_bind_int64(st, 1, q->from);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_int64(st, 2, q->until);
    if (rc == SQLITE_OK && q->device)
        rc = sqlite3_bind_text(st, 3, q->device, -1, SQLITE_STATIC);
    return rc;
}

int store_failures_plan(struct store *s, const struct store_failures_query *q, store_row_cb cb, void *arg,
                        char *err, size_t errsize)
{
    char sql[1200];
    memcpy(sql, "EXPLAIN QUERY PLAN ", 19);
    if (!s || !q || !cb || failures_sql(q, sql + 19, sizeof sql - 19) < 0) {
        set_err(err, errsize, "invalid failures query");
        return -1;
    }
    sqlite3_stmt *st;
    if (prepare_query(s, sql, &st, err, errsize) < 0)
        return -1;
    if (bind_window(st, q) != SQLITE_OK) {
        sqlite3_finalize(st);
        set_err(err, errsize, "%s: cannot bind: %s", s->path, sqlite3_errmsg(s->db));
        return -1;
    }
    return run_rows(s, st, cb, arg, err, errsize);
}

/* Markers are not algorithms a server could enable; the tool loads no
 * algorithm table for a query, so they are recognised by name here (the
 * same names algo's marker rows hold). */
static bool is_marker(const char *name)
{
    return strcmp(name, "ext-info-c") == 0 || strcmp(name, "ext-info-s") == 0 ||
           strncmp(name, "kex-strict-", 11) == 0 || strcmp(name, "kexguess2@matt.ucc.asn.au") == 0;
}

struct algo_pair {
    int64_t list, device, n, first, last;
};

struct algo_agg {
    char *name;
    int64_t n, devices, first, last;
    uint64_t *bits; /* devices seen, by device id */
};

static int cmp_pair(const void *a, const void *b)
{
    const struct algo_pair *x = a, *y = b;
    return x->list < y->list ? -1 : x->list > y->list;
}

static int cmp_agg(const void *a, const void *b)
{
    const struct algo_agg *x = a, *y = b;
    if (x->n != y->n)
        return x->n > y->n ? -1 : 1;
    return strcmp(x->name, y->name);
}

static int failures_by_algorithm(struct store *s, const struct store_failures_query *q, sqlite3_stmt *st,
                                 store_row_cb cb, void *arg, char *err, size_t errsize)
{
    struct algo_pair *pairs = NULL;
    size_t npairs = 0, cap = 0;
    struct algo_agg *agg = NULL;
    size_t nagg = 0, aggcap = 0;
    int64_t maxdev = 0;
    int rc, ret = -1;
    sqlite3_stmt *items = NULL;
    (void)q;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (npairs == cap) {
            size_t nc = cap ? 2 * cap : 256;
            struct algo_pair *np = realloc(pairs, nc * sizeof *np);
            if (!np) {
                set_err(err, errsize, "out of memory");
                goto out;
            }
            pairs = np;
            cap = nc;
        }
        struct algo_pair *p = &pairs[npairs++];
        p->list = sqlite3_column_int64(st, 0);
        p->device = sqlite3_column_int64(st, 1);
        p->n = sqlite3_column_int64(st, 2);
        p->first = sqlite3_column_int64(st, 3);
        p->last = sqlite3_column_int64(st, 4);
        if (p->device > maxdev)
            maxdev = p->device;
    }
    if (rc != SQLITE_DONE) {
        set_err(err, errsize, "%s: query failed: %s", s->path, sqlite3_errmsg(s->db));
        goto out;
    }
    /* device ids are rowids, small and dense: one bit each */
    size_t words = (size_t)(maxdev / 64 + 1);
    if (npairs)
        qsort(pairs, npairs, sizeof *pairs, cmp_pair);
    if (prepare_query(s, "SELECT name FROM list_items WHERE list_id = ?1 ORDER BY pos", &items, err, errsize) < 0)
        goto out;
    for (size_t i = 0; i < npairs;) {
        size_t j = i;
        while (j < npairs && pairs[j].list == pairs[i].list)
            j++;
        /* each list expanded once, then its pairs added to each name */
        sqlite3_bind_int64(items, 1, pairs[i].list);
        while ((rc = sqlite3_step(items)) == SQLITE_ROW) {
            const char *name = (const char *)sqlite3_column_text(items, 0);
            if (!name || is_marker(name))
                continue;
            size_t k = 0;
            while (k < nagg && strcmp(agg[k].name, name) != 0)
                k++;
            if (k == nagg) {
                if (nagg == aggcap) {
                    size_t nc = aggcap ? 2 * aggcap : 64;
                    struct algo_agg *na = realloc(agg, nc * sizeof *na);
                    if (!na) {
                        set_err(err, errsize, "out of memory");
                        goto out;
                    }
                    agg = na;
                    aggcap = nc;
                }
                agg[nagg] = (struct algo_agg){.name = strdup(name), .bits = calloc(words, sizeof(uint64_t)),
                                              .first = INT64_MAX, .last = INT64_MIN};
                if (!agg[nagg].name || !agg[nagg].bits) {
                    free(agg[nagg].name);
                    free(agg[nagg].bits);
                    set_err(err, errsize, "out of memory");
                    goto out;
                }
                nagg++;
            }
            struct algo_agg *a = &agg[k];
            for (size_t m = i; m < j; m++) {
                uint64_t bit = UINT64_C(1) << (pairs[m].device % 64);
                uint64_t *w = &a->bits[pairs[m].device / 64];
                if (!(*w & bit)) {
                    *w |= bit;
                    a->devices++;
                }
                a->n += pairs[m].n;
                if (pairs[m].first < a->first)
                    a->first = pairs[m].first;
                if (pairs[m].last > a->last)
                    a->last = pairs[m].last;
            }
        }
        sqlite3_reset(items);
        if (rc != SQLITE_DONE) {
            set_err(err, errsize, "%s: query failed: %s", s->path, sqlite3_errmsg(s->db));
            goto out;
        }
        i = j;
    }
    if (nagg)
        qsort(agg, nagg, sizeof *agg, cmp_agg);
    static const char *const names[] = {"key", "detail", "failures", "devices", "first_seen", "last_seen"};
    ret = 0;
    for (size_t k = 0; k < nagg; k++) {
        struct store_value v[6] = {
            {.text = agg[k].name}, {.is_null = true}, {.num = agg[k].n, .is_int = true},
            {.num = agg[k].devices, .is_int = true}, {.num = agg[k].first, .is_int = true},
            {.num = agg[k].last, .is_int = true},
        };
        int stop = cb(arg, 6, names, v);
        if (stop) {
            ret = stop;
            break;
        }
        ret++;
    }
out:
    for (size_t k = 0; k < nagg; k++) {
        free(agg[k].name);
        free(agg[k].bits);
    }
    free(agg);
    free(pairs);
    sqlite3_finalize(items);
    sqlite3_finalize(st);
    return ret;
}

int store_failures(struct store *s, const struct store_failures_query *q, store_row_cb cb, void *arg, char *err,
                   size_t errsize)
{
    char sql[1200];
    if (!s || !q || !cb || failures_sql(q, sql, sizeof sql) < 0) {
        set_err(err, errsize, "invalid failures query");
        return -1;
    }
    sqlite3_stmt *st;
    if (prepare_query(s, sql, &st, err, errsize) < 0)
        return -1;
    if (bind_window(st, q) != SQLITE_OK) {
        sqlite3_finalize(st);
        set_err(err, errsize, "%s: cannot bind: %s", s->path, sqlite3_errmsg(s->db));
        return -1;
    }
    if (q->by == STORE_BY_ALGORITHM)
        return failures_by_algorithm(s, q, st, cb, arg, err, errsize);
    return run_rows(s, st, cb, arg, err, errsize);
}

int store_devices(struct store *s, int64_t since, store_row_cb cb, void *arg, char *err, size_t errsize)
{
    static const char sql[] =
        "SELECT d.key AS key, d.name AS name, d.vendor AS vendor, d.first_seen AS first_seen,"
        " d.last_seen AS last_seen,"
        " (SELECT count(*) FROM negotiations INDEXED BY failures_device"
        "  WHERE device_id = d.id AND failed = 1 AND time >= ?1) AS failures"
        " FROM devices d ORDER BY d.last_seen DESC, d.key";
    if (!s || !cb)
        return -1;
    sqlite3_stmt *st;
    if (prepare_query(s, sql, &st, err, errsize) < 0)
        return -1;
    sqlite3_bind_int64(st, 1, since);
    return run_rows(s, st, cb, arg, err, errsize);
}

int store_device(struct store *s, enum store_device_part part, const char *key, int64_t since, unsigned limit,
                 store_row_cb cb, void *arg, char *err, size_t errsize)
{
    static const char *const sql[] = {
        [STORE_DEVICE_INFO] = "SELECT key, name, vendor, first_seen, last_seen FROM devices WHERE key = ?1",
        [STORE_DEVICE_PROFILE] =
            "SELECT p.slot AS slot, p.source AS source, l.names AS list, p.learned_at AS learned_at"
            " FROM profiles p JOIN lists l ON l.id = p.list_id"
            " WHERE p.device_id = (SELECT id FROM devices WHERE key = ?1)"
            " ORDER BY CASE p.slot WHEN 'kex' THEN 0 WHEN 'hostkey' THEN 1 WHEN 'cipher_c2s' THEN 2"
            " WHEN 'cipher_s2c' THEN 3 WHEN 'mac_c2s' THEN 4 WHEN 'mac_s2c' THEN 5 WHEN 'comp_c2s' THEN 6"
            " ELSE 7 END, p.source",
        /* sql/README: a device's recent failures come from failures_device in
         * time order */
        [STORE_DEVICE_FAILURES] =
            "SELECT n.time AS time, n.category AS category, n.direction AS direction, n.mismatch AS mismatch,"
            " n.evidence AS evidence, c.software AS software, c.fingerprint AS fingerprint, n.address AS address"
            " FROM negotiations n INDEXED BY failures_device LEFT JOIN clients c ON c.id = n.client_id"
            " WHERE n.device_id = (SELECT id FROM devices WHERE key = ?1) AND n.failed = 1 AND n.time >= ?2"
            " ORDER BY n.time DESC LIMIT ?3",
        /* client types that failed on it: failures only, since reading every
         * negotiation of a device has no index (successes are by time) */
        [STORE_DEVICE_CLIENTS] =
            "SELECT c.software AS software, c.fingerprint AS fingerprint, g.n AS failures, g.f AS first_seen,"
            " g.l AS last_seen FROM"
            " (SELECT client_id AS k, count(*) AS n, min(time) AS f, max(time) AS l"
            "  FROM negotiations INDEXED BY failures_device"
            "  WHERE device_id = (SELECT id FROM devices WHERE key = ?1) AND failed = 1 AND time >= ?2"
            "  GROUP BY client_id) g LEFT JOIN clients c ON c.id = g.k ORDER BY g.n DESC, 1, 2",
    };
    if (!s || !cb || !key || (unsigned)part > STORE_DEVICE_CLIENTS)
        return -1;
    sqlite3_stmt *st;
    if (prepare_query(s, sql[part], &st, err, errsize) < 0)
        return -1;
    sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
    if (part == STORE_DEVICE_FAILURES || part == STORE_DEVICE_CLIENTS)
        sqlite3_bind_int64(st, 2, since);
    if (part == STORE_DEVICE_FAILURES)
        sqlite3_bind_int64(st, 3, limit ? limit : 50);
    return run_rows(s, st, cb, arg, err, errsize);
}

/* Client types, most failures in [from, until) first: software, fingerprint,
 * failures, devices (distinct, failed on), fails_on (up to three device keys,
 * most failures first), first_seen, last_seen, and the lists it offered.
 * The failures are one range scan of the covering failures_window (client
 * and device ids only); they are counted per client type and device here,
 * in C: grouping the pairs in SQL needs a temporary b-tree and takes several
 * times as long on a year of failures. */
struct cli_pair {
    int64_t client, device;
};

struct cli_agg {
    int64_t client, n, devices;
    int64_t top[3], topn[3]; /* device ids with most failures; 0: none */
};

struct cli_row {
    char *text[8]; /* software, fingerprint, fails_on, kex, hostkey, cipher, mac, compression */
    int64_t failures, devices, first, last;
};

static int cmp_cli_pair(const void *a, const void *b)
{
    const struct cli_pair *x = a, *y = b;
    if (x->client != y->client)
        return x->client < y->client ? -1 : 1;
    return x->device < y->device ? -1 : x->device > y->device;
}

/* NULL sorts first, as in SQLite */
static int cmp_text(const char *a, const char *b)
{
    if (!a || !b)
        return !a && !b ? 0 : !a ? -1 : 1;
    return strcmp(a, b);
}

static int cmp_cli_row(const void *a, const void *b)
{
    const struct cli_row *x = a, *y = b;
    if (x->failures != y->failures)
        return x->failures > y->failures ? -1 : 1;
    int c = cmp_text(x->text[0], y->text[0]);
    return c ? c : cmp_text(x->text[1], y->text[1]);
}

static char *dup_col(sqlite3_stmt *st, int i)
{
    const char *t = (const char *)sqlite3_column_text(st, i);
    return t ? strdup(t) : NULL;
}

int store_clients(struct store *s, int64_t from, int64_t until, store_row_cb cb, void *arg, char *err,
                  size_t errsize)
{
    static const char pairs_sql[] =
        "SELECT client_id, device_id FROM negotiations INDEXED BY failures_window"
        " WHERE failed = 1 AND time >= ?1 AND time < ?2 AND client_id IS NOT NULL";
    static const char clients_sql[] =
        "SELECT c.id, c.software, c.fingerprint, c.first_seen, c.last_seen, lk.names, lh.names, lc.names,"
        " lm.names, lz.names FROM clients c"
        " LEFT JOIN lists lk ON lk.id = c.kex_list LEFT JOIN lists lh ON lh.id = c.hostkey_list"
        " LEFT JOIN lists lc ON lc.id = c.cipher_list LEFT JOIN lists lm ON lm.id = c.mac_list"
        " LEFT JOIN lists lz ON lz.id = c.compression_list ORDER BY c.id";
    if (!s || !cb)
        return -1;
    struct cli_pair *pairs = NULL;
    struct cli_agg *aggs = NULL;
    struct cli_row *rows = NULL;
    size_t npairs = 0, cap = 0, naggs = 0, nrows = 0, rowcap = 0;
    sqlite3_stmt *st = NULL, *key_st = NULL;
    int ret = -1, rc;

    if (prepare_query(s, pairs_sql, &st, err, errsize) < 0)
        return -1;
    sqlite3_bind_int64(st, 1, from);
    sqlite3_bind_int64(st, 2, until);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (npairs == cap) {
            size_t nc = cap ? 2 * cap : 4096;
            struct cli_pair *n = realloc(pairs, nc * sizeof *n);
            if (!n)
                goto oom;
            pairs = n;
            cap = nc;
        }
        pairs[npairs++] = (struct cli_pair){sqlite3_column_int64(st, 0), sqlite3_column_int64(st, 1)};
    }
    if (rc != SQLITE_DONE)
        goto sqlerr;
    sqlite3_finalize(st);
    st = NULL;
    qsort(pairs, npairs, sizeof *pairs, cmp_cli_pair);
    /* one aggregate per client type: failures, devices, the top three */
    for (size_t i = 0; i < npairs;) {
        size_t j = i;
        while (j < npairs && pairs[j].client == pairs[i].client)
            j++;
        if (!naggs || naggs % 256 == 0) {
            struct cli_agg *n = realloc(aggs, (naggs + 256) * sizeof *n);
            if (!n)
                goto oom;
            aggs = n;
        }
        struct cli_agg *a = &aggs[naggs++];
        *a = (struct cli_agg){.client = pairs[i].client, .n = (int64_t)(j - i)};
        for (size_t k = i; k < j;) {
            size_t m = k;
            while (m < j && pairs[m].device == pairs[k].device)
                m++;
            int64_t dn = (int64_t)(m - k), dev = pairs[k].device;
            a->devices++;
            /* devices come in id order: a later one wins only with more failures */
            for (int t = 0; t < 3; t++) {
                if (!a->top[t] || dn > a->topn[t]) {
                    for (int u = 2; u > t; u--) {
                        a->top[u] = a->top[u - 1];
                        a->topn[u] = a->topn[u - 1];
                    }
                    a->top[t] = dev;
                    a->topn[t] = dn;
                    break;
                }
            }
            k = m;
        }
        i = j;
    }
    free(pairs);
    pairs = NULL;

    if (prepare_query(s, "SELECT key FROM devices WHERE id = ?1", &key_st, err, errsize) < 0 ||
        prepare_query(s, clients_sql, &st, err, errsize) < 0)
        goto out;
    size_t ai = 0;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        int64_t id = sqlite3_column_int64(st, 0), last = sqlite3_column_int64(st, 4);
        while (ai < naggs && aggs[ai].client < id)
            ai++;
        const struct cli_agg *a = ai < naggs && aggs[ai].client == id ? &aggs[ai] : NULL;
        if (!a && last < from)
            continue;
        if (nrows == rowcap) {
            size_t nc = rowcap ? 2 * rowcap : 256;
            struct cli_row *n = realloc(rows, nc * sizeof *n);
            if (!n)
                goto oom;
            rows = n;
            rowcap = nc;
        }
        struct cli_row *r = &rows[nrows++];
        *r = (struct cli_row){.failures = a ? a->n : 0, .devices = a ? a->devices : 0,
                              .first = sqlite3_column_int64(st, 3), .last = last};
        r->text[0] = dup_col(st, 1);
        r->text[1] = dup_col(st, 2);
        for (int k = 0; k < 5; k++)
            r->text[3 + k] = dup_col(st, 5 + k);
        if (a) {
            char keys[1024] = "";
            size_t off = 0;
            for (int t = 0; t < 3 && a->top[t]; t++) {
                sqlite3_bind_int64(key_st, 1, a->top[t]);
                if (sqlite3_step(key_st) == SQLITE_ROW && off < sizeof keys)
                    off += (size_t)snprintf(keys + off, sizeof keys - off, "%s%s", off ? " " : "",
                                            (const char *)sqlite3_column_text(key_st, 0));
                sqlite3_reset(key_st);
            }
            r->text[2] = off ? strdup(keys) : NULL;
        }
    }
    if (rc != SQLITE_DONE)
        goto sqlerr;
    qsort(rows, nrows, sizeof *rows, cmp_cli_row);
    static const char *const names[] = {"software", "fingerprint", "failures", "devices", "fails_on", "first_seen",
                                        "last_seen", "kex", "hostkey", "cipher", "mac", "compression"};
    ret = 0;
    for (size_t i = 0; i < nrows; i++) {
        const struct cli_row *r = &rows[i];
        struct store_value v[12] = {0};
        const char *txt[12] = {r->text[0], r->text[1], NULL, NULL, r->text[2], NULL, NULL,
                               r->text[3], r->text[4], r->text[5], r->text[6], r->text[7]};
        const int64_t num[12] = {0, 0, r->failures, r->devices, 0, r->first, r->last};
        for (int c = 0; c < 12; c++) {
            if (c == 2 || c == 3 || c == 5 || c == 6)
                v[c] = (struct store_value){.num = num[c], .is_int = true};
            else
                v[c] = (struct store_value){.text = txt[c], .is_null = !txt[c]};
        }
        int stop = cb(arg, 12, names, v);
        if (stop) {
            ret = stop;
            break;
        }
        ret++;
    }
    goto out;
oom:
    set_err(err, errsize, "out of memory");
    goto out;
sqlerr:
    set_err(err, errsize, "%s: query failed: %s", s->path, sqlite3_errmsg(s->db));
out:
    sqlite3_finalize(st);
    sqlite3_finalize(key_st);
    for (size_t i = 0; i < nrows; i++)
        for (int k = 0; k < 8; k++)
            free(rows[i].text[k]);
    free(rows);
    free(aggs);
    free(pairs);
    return ret;
}

/* --------------------------------------------- several databases (ATTACH) */

#define STORE_MAX_SCHEMAS 16

/* Attaches another kexwatch database as schema kwdbN, read-only (the
 * connection was opened SQLITE_OPEN_READONLY and ATTACH inherits that; it is
 * checked), after the same checks store_open makes: a kexwatch database of
 * exactly this build's schema version. */
int store_attach(struct store *s, const char *path, char *err, size_t errsize)
{
    if (!s || !path || !(s->flags & STORE_READONLY)) {
        set_err(err, errsize, "%s: only a read-only store attaches databases", path ? path : "?");
        return -1;
    }
    int n = 0;
    sqlite3_stmt *st;
    if (prepare_query(s, "SELECT count(*) FROM pragma_database_list WHERE name <> 'temp'", &st, err, errsize) < 0)
        return -1;
    if (sqlite3_step(st) == SQLITE_ROW)
        n = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    if (n < 1 || n >= STORE_MAX_SCHEMAS) {
        set_err(err, errsize, "%s: at most %d databases at once", path, STORE_MAX_SCHEMAS);
        return -1;
    }
    if (access(path, R_OK) != 0) {
        set_err(err, errsize, "%s: cannot read: %s; check --db", path, strerror(errno));
        return -1;
    }
    char name[16], sql[160];
    snprintf(name, sizeof name, "kwdb%d", n);
    snprintf(sql, sizeof sql, "ATTACH DATABASE ?1 AS %s", name);
    if (prepare_query(s, sql, &st, err, errsize) < 0)
        return -1;
    sqlite3_bind_text(st, 1, path, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE) {
        set_err(err, errsize, "%s: cannot attach: %s", path, sqlite3_errmsg(s->db));
        return -1;
    }
    int version = 0, app_id = 0;
    snprintf(sql, sizeof sql, "PRAGMA %s.user_version", name);
    int r1 = pragma_int(s->db, sql, &version);
    snprintf(sql, sizeof sql, "PRAGMA %s.application_id", name);
    int r2 = pragma_int(s->db, sql, &app_id);
    const char *why = NULL;
    if (r1 != SQLITE_OK || r2 != SQLITE_OK)
        why = sqlite3_errmsg(s->db);
    else if (sqlite3_db_readonly(s->db, name) != 1)
        why = "not attached read-only";
    else if (app_id != STORE_APP_ID || version == 0)
        why = "not a kexwatch database";
    else if (version > store_migration_count)
        why = "schema version newer than this kexwatch; upgrade kexwatch";
    else if (version < store_migration_count)
        why = "schema version older than this kexwatch; start kexwatchd of this version once to upgrade it";
    if (why) {
        set_err(err, errsize, "%s: %s", path, why);
        snprintf(sql, sizeof sql, "DETACH DATABASE %s", name);
        exec_sql(s->db, sql, NULL, 0);
        return -1;
    }
    return 0;
}

/* The schemas to read: main and every kwdbN attached, in order. */
static int schema_names(struct store *s, char names[][16], char *err, size_t errsize)
{
    sqlite3_stmt *st;
    if (prepare_query(s, "SELECT name FROM pragma_database_list WHERE name <> 'temp' ORDER BY seq", &st, err,
                      errsize) < 0)
        return -1;
    int n = 0;
    while (n < STORE_MAX_SCHEMAS && sqlite3_step(st) == SQLITE_ROW) {
        const char *x = (const char *)sqlite3_column_text(st, 0);
        /* only names this file gave (main, kwdbN): they go into SQL text */
        if (x && (strcmp(x, "main") == 0 ||
                  (strncmp(x, "kwdb", 4) == 0 && strspn(x + 4, "0123456789") == strlen(x + 4))))
            snprintf(names[n++], 16, "%s", x);
    }
    sqlite3_finalize(st);
    return n;
}

/* Runs the statement made of head, then each schema's part (fmt with the
 * schema name at every %1$s) joined by UNION ALL, then tail, with ?1 ?2 ?3
 * bound to from, until and key (when not NULL). */
static int run_merged(struct store *s, const char *head, const char *part, const char *tail, int64_t from,
                      int64_t until, const char *key, store_row_cb cb, void *arg, char *err, size_t errsize)
{
    char names[STORE_MAX_SCHEMAS][16];
    int n = schema_names(s, names, err, errsize);
    if (n <= 0) {
        if (n == 0)
            set_err(err, errsize, "%s: no database to read", s->path);
        return -1;
    }
    size_t cap = strlen(head) + strlen(tail) + (size_t)n * (strlen(part) * 2 + 200) + 1;
    char *sql = malloc(cap);
    if (!sql) {
        set_err(err, errsize, "out of memory");
        return -1;
    }
    size_t off = (size_t)snprintf(sql, cap, "%s", head);
    for (int i = 0; i < n; i++) {
        if (i)
            off += (size_t)snprintf(sql + off, cap - off, " UNION ALL ");
        /* part names the schema as {S}: replaced here */
        for (const char *p = part; *p && off + 16 < cap;) {
            if (strncmp(p, "{S}", 3) == 0) {
                off += (size_t)snprintf(sql + off, cap - off, "%s", names[i]);
                p += 3;
            } else {
                sql[off++] = *p++;
            }
        }
        sql[off] = '\0';
    }
    snprintf(sql + off, cap - off, "%s", tail);
    sqlite3_stmt *st;
    int rc = prepare_query(s, sql, &st, err, errsize);
    free(sql);
    if (rc < 0)
        return -1;
    sqlite3_bind_int64(st, 1, from);
    sqlite3_bind_int64(st, 2, until);
    if (key)
        sqlite3_bind_text(st, 3, key, -1, SQLITE_STATIC);
    return run_rows(s, st, cb, arg, err, errsize);
}

int store_failures_merged(struct store *s, const struct store_failures_query *q, store_row_cb cb, void *arg,
                          char *err, size_t errsize)
{
    if (!s || !q || !cb || q->by == STORE_BY_ALGORITHM || (unsigned)q->by > STORE_BY_MISMATCH) {
        set_err(err, errsize, "this failures query does not merge several databases");
        return -1;
    }
    /* per database: grouped by ids first (one range scan of an index),
     * then named, with the device's key so that devices are counted
     * distinct across databases by key */
    static const char *const keys[] = {
        [STORE_BY_CLIENT] = "c.software AS k, c.fingerprint AS x",
        [STORE_BY_DEVICE] = "dv.key AS k, dv.name AS x",
        [STORE_BY_CATEGORY] = "g.g AS k, NULL AS x",
        [STORE_BY_MISMATCH] = "g.g AS k, NULL AS x",
    };
    static const char *const groups[] = {
        [STORE_BY_CLIENT] = "client_id", [STORE_BY_DEVICE] = "device_id",
        [STORE_BY_CATEGORY] = "category", [STORE_BY_MISMATCH] = "mismatch",
    };
    char part[1200];
    snprintf(part, sizeof part,
             "SELECT %s, dv.key AS dkey, g.n AS n, g.f AS f, g.l AS l FROM"
             " (SELECT %s AS g, device_id AS d, count(*) AS n, min(time) AS f, max(time) AS l"
             "  FROM {S}.negotiations INDEXED BY %s WHERE %sfailed = 1 AND time >= ?1 AND time < ?2"
             "  GROUP BY %s, device_id) g JOIN {S}.devices dv ON dv.id = g.d%s",
             keys[q->by], groups[q->by], q->device ? "failures_device" : "failures_window",
             q->device ? "device_id = (SELECT id FROM {S}.devices WHERE key = ?3) AND " : "", groups[q->by],
             q->by == STORE_BY_CLIENT ? " LEFT JOIN {S}.clients c ON c.id = g.g" : "");
    const char *head = q->by == STORE_BY_DEVICE
                           ? "SELECT k AS key, max(x) AS detail, sum(n) AS failures, count(DISTINCT dkey) AS devices,"
                             " min(f) AS first_seen, max(l) AS last_seen FROM ("
                           : "SELECT k AS key, x AS detail, sum(n) AS failures, count(DISTINCT dkey) AS devices,"
                             " min(f) AS first_seen, max(l) AS last_seen FROM (";
    const char *tail = q->by == STORE_BY_DEVICE ? ") GROUP BY k ORDER BY failures DESC, 1, 2"
                                                : ") GROUP BY k, x ORDER BY failures DESC, 1, 2";
    return run_merged(s, head, part, tail, q->from, q->until, q->device, cb, arg, err, errsize);
}

int store_devices_merged(struct store *s, int64_t since, store_row_cb cb, void *arg, char *err, size_t errsize)
{
    if (!s || !cb)
        return -1;
    return run_merged(
        s,
        "SELECT key, max(name) AS name, max(vendor) AS vendor, min(first_seen) AS first_seen,"
        " max(last_seen) AS last_seen, sum(failures) AS failures FROM (",
        "SELECT d.key AS key, d.name AS name, d.vendor AS vendor, d.first_seen AS first_seen,"
        " d.last_seen AS last_seen, (SELECT count(*) FROM {S}.negotiations INDEXED BY failures_device"
        " WHERE device_id = d.id AND failed = 1 AND time >= ?1 AND time < ?2) AS failures FROM {S}.devices d",
        ") GROUP BY key ORDER BY last_seen DESC, key", since, INT64_MAX, NULL, cb, arg, err, errsize);
}

int store_clients_merged(struct store *s, int64_t from, int64_t until, store_row_cb cb, void *arg, char *err,
                         size_t errsize)
{
    if (!s || !cb)
        return -1;
    /* one UNION ALL of two kinds of rows per database: kind 0, a client type
     * with its lists; kind 1, failures of a client type on a device */
    return run_merged(
        s,
        "WITH u AS MATERIALIZED (",
        "SELECT 0 AS kind, c.software AS sw, c.fingerprint AS fp, NULL AS dkey, 0 AS n, c.first_seen AS fs,"
        " c.last_seen AS ls, lk.names AS kex, lh.names AS hostkey, lc.names AS cipher, lm.names AS mac,"
        " lz.names AS compression FROM {S}.clients c"
        " LEFT JOIN {S}.lists lk ON lk.id = c.kex_list LEFT JOIN {S}.lists lh ON lh.id = c.hostkey_list"
        " LEFT JOIN {S}.lists lc ON lc.id = c.cipher_list LEFT JOIN {S}.lists lm ON lm.id = c.mac_list"
        " LEFT JOIN {S}.lists lz ON lz.id = c.compression_list"
        " UNION ALL SELECT 1, c.software, c.fingerprint, dv.key, g.n, NULL, NULL, NULL, NULL, NULL, NULL, NULL"
        " FROM (SELECT client_id AS c, device_id AS d, count(*) AS n FROM {S}.negotiations INDEXED BY failures_window"
        "  WHERE failed = 1 AND time >= ?1 AND time < ?2 AND client_id IS NOT NULL GROUP BY client_id, device_id) g"
        " JOIN {S}.clients c ON c.id = g.c JOIN {S}.devices dv ON dv.id = g.d",
        "),"
        " f AS MATERIALIZED (SELECT sw, fp, dkey, sum(n) AS n FROM u WHERE kind = 1 GROUP BY sw, fp, dkey),"
        " cl AS (SELECT sw, fp, min(fs) AS fs, max(ls) AS ls, max(kex) AS kex, max(hostkey) AS hostkey,"
        "  max(cipher) AS cipher, max(mac) AS mac, max(compression) AS compression FROM u WHERE kind = 0"
        "  GROUP BY sw, fp),"
        " t AS (SELECT sw, fp, sum(n) AS n, count(*) AS d FROM f GROUP BY sw, fp),"
        " top AS (SELECT sw, fp, group_concat(dkey, ' ') AS keys FROM"
        "  (SELECT sw, fp, dkey, row_number() OVER (PARTITION BY sw, fp ORDER BY n DESC, dkey) AS rn FROM f"
        "   ORDER BY sw, fp, rn) WHERE rn <= 3 GROUP BY sw, fp)"
        " SELECT cl.sw AS software, cl.fp AS fingerprint, ifnull(t.n, 0) AS failures, ifnull(t.d, 0) AS devices,"
        " top.keys AS fails_on, cl.fs AS first_seen, cl.ls AS last_seen, cl.kex AS kex, cl.hostkey AS hostkey,"
        " cl.cipher AS cipher, cl.mac AS mac, cl.compression AS compression"
        " FROM cl LEFT JOIN t ON t.sw IS cl.sw AND t.fp IS cl.fp LEFT JOIN top ON top.sw IS cl.sw AND top.fp IS cl.fp"
        " WHERE cl.ls >= ?1 OR t.n IS NOT NULL ORDER BY failures DESC, cl.sw, cl.fp",
        from, until, NULL, cb, arg, err, errsize);
}

/* ---------------------------------------------------------------- alerts */

static sqlite3_stmt *prep(struct store *s, const char *sql)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(s->db, sql, -1, &st, NULL) != SQLITE_OK) {
        log_error("database %s: cannot prepare an alert statement: %s", s->path, sqlite3_errmsg(s->db));
        return NULL;
    }
    return st;
}

static int step_done(struct store *s, sqlite3_stmt *st, const char *what)
{
    int rc = sqlite3_step(st);
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE && rc != SQLITE_ROW) {
        log_error("database %s: cannot %s: %s", s->path, what, sqlite3_errmsg(s->db));
        return -1;
    }
    return 0;
}

static void bind_str(sqlite3_stmt *st, int i, const char *v)
{
    if (v)
        sqlite3_bind_text(st, i, v, -1, SQLITE_TRANSIENT);
    else
        sqlite3_bind_null(st, i);
}

int store_alert_save(struct store *s, const struct store_alert *a)
{
    if (!s || (s->flags & STORE_READONLY) || !a || !a->alert_id || !a->device)
        return -1;
    /* the alert names its device by id: the negotiation that raised it may
     * still be queued */
    if (store_flush(s) < 0)
        return -1;
    sqlite3_stmt *st = prep(s, "INSERT INTO alerts (alert_id, device_id, mismatch, fingerprint, category, status,"
                               " first_seen, last_seen, count, last_notified)"
                               " VALUES (?1, (SELECT id FROM devices WHERE key = ?2), ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)"
                               " ON CONFLICT (alert_id) DO UPDATE SET status = excluded.status,"
                               " last_seen = excluded.last_seen, count = excluded.count,"
                               " last_notified = excluded.last_notified");
    if (!st)
        return -1;
    bind_str(st, 1, a->alert_id);
    bind_str(st, 2, a->device);
    bind_str(st, 3, a->mismatch ? a->mismatch : "unclassified");
    bind_str(st, 4, a->fingerprint);
    bind_str(st, 5, a->category);
    bind_str(st, 6, a->status);
    sqlite3_bind_int64(st, 7, a->first_seen);
    sqlite3_bind_int64(st, 8, a->last_seen);
    sqlite3_bind_int64(st, 9, (sqlite3_int64)a->count);
    if (a->last_notified)
        sqlite3_bind_int64(st, 10, a->last_notified);
    return step_done(s, st, "save an alert");
}

int store_alerts_load(struct store *s, store_alert_cb cb, void *arg)
{
    if (!s)
        return -1;
    sqlite3_stmt *st = prep(s, "SELECT a.alert_id, d.key, a.mismatch, a.fingerprint, a.category, a.status,"
                               " a.first_seen, a.last_seen, a.count, a.last_notified"
                               " FROM alerts a JOIN devices d ON d.id = a.device_id WHERE a.status = 'firing'");
    if (!st)
        return -1;
    int n = 0, rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        struct store_alert a = {
            .alert_id = (const char *)sqlite3_column_text(st, 0),
            .device = (const char *)sqlite3_column_text(st, 1),
            .mismatch = (const char *)sqlite3_column_text(st, 2),
            .fingerprint = (const char *)sqlite3_column_text(st, 3),
            .category = (const char *)sqlite3_column_text(st, 4),
            .status = (const char *)sqlite3_column_text(st, 5),
            .first_seen = sqlite3_column_int64(st, 6),
            .last_seen = sqlite3_column_int64(st, 7),
            .count = (uint64_t)sqlite3_column_int64(st, 8),
            .last_notified = sqlite3_column_int64(st, 9),
        };
        if (a.alert_id && a.device) {
            cb(arg, &a);
            n++;
        }
    }
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? n : -1;
}

int store_outbox_add(struct store *s, const char *alert_id, const char *sink, const char *payload, int64_t now,
                     int64_t *id)
{
    if (!s || (s->flags & STORE_READONLY) || !alert_id || !sink || !payload)
        return -1;
    sqlite3_stmt *st = prep(s, "INSERT INTO outbox (alert_id, sink, payload, next_attempt, created)"
                               " VALUES (?1, ?2, ?3, ?4, ?4)");
    if (!st)
        return -1;
    bind_str(st, 1, alert_id);
    bind_str(st, 2, sink);
    bind_str(st, 3, payload);
    sqlite3_bind_int64(st, 4, now);
    if (step_done(s, st, "add to the alert outbox") < 0)
        return -1;
    if (id)
        *id = sqlite3_last_insert_rowid(s->db);
    return 0;
}

int store_outbox_done(struct store *s, int64_t id)
{
    if (!s || (s->flags & STORE_READONLY))
        return -1;
    sqlite3_stmt *st = prep(s, "DELETE FROM outbox WHERE id = ?1");
    if (!st)
        return -1;
    sqlite3_bind_int64(st, 1, id);
    return step_done(s, st, "clear a delivered alert from the outbox");
}

int store_outbox_failed(struct store *s, int64_t id, int64_t next_attempt)
{
    if (!s || (s->flags & STORE_READONLY))
        return -1;
    sqlite3_stmt *st = prep(s, "UPDATE outbox SET attempts = attempts + 1, next_attempt = ?2 WHERE id = ?1");
    if (!st)
        return -1;
    sqlite3_bind_int64(st, 1, id);
    sqlite3_bind_int64(st, 2, next_attempt);
    return step_done(s, st, "count a failed delivery");
}

int store_outbox_load(struct store *s, const char *sink, store_outbox_cb cb, void *arg)
{
    if (!s || !sink)
        return -1;
    sqlite3_stmt *st = prep(s, "SELECT id, payload FROM outbox WHERE sink = ?1 ORDER BY id");
    if (!st)
        return -1;
    bind_str(st, 1, sink);
    int n = 0, rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *payload = (const char *)sqlite3_column_text(st, 1);
        if (payload) {
            cb(arg, sqlite3_column_int64(st, 0), payload);
            n++;
        }
    }
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? n : -1;
}
