/* store-write.c: the write path of the store (see store.h, store-private.h).
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

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "algo.h"
#include "catalogue.h"
#include "log.h"
#include "negotiate.h"
#include "store-private.h"

/* ------------------------------------------------------------ hash table */

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

static const int client_list_slot[CL_FAIL_CLIENT] = {NEG_KEX, NEG_HOSTKEY, NEG_CIPHER_C2S, NEG_MAC_C2S, NEG_COMP_C2S};

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
void store_refresh_statistics(struct store *s)
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
        store_refresh_statistics(s);
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


/* ------------------------------------------------------------ set-up */

int store_writer_init(struct store *s, size_t queue_max)
{
    s->qcap = queue_max ? queue_max : STORE_QUEUE_DEFAULT;
    /* every record of a batch touches at most one device and one client */
    s->dtouched_cap = s->ctouched_cap = STORE_FLUSH_MAX + STORE_PROFILES_MAX;
    s->ltouched_cap = 2 * STORE_FLUSH_MAX;
    s->q = calloc(s->qcap, sizeof *s->q);
    s->pq = calloc(STORE_PROFILES_MAX, sizeof *s->pq);
    s->dtouched = calloc(s->dtouched_cap, sizeof *s->dtouched);
    s->ctouched = calloc(s->ctouched_cap, sizeof *s->ctouched);
    s->ltouched = calloc(s->ltouched_cap, sizeof *s->ltouched);
    if (!s->q || !s->pq || !s->dtouched || !s->ctouched || !s->ltouched)
        return -1;
    return 0;
}

void store_writer_free(struct store *s)
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
}
