/* SPDX-License-Identifier: ISC */
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

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "algo.h"
#include "catalogue.h"
#include "log.h"
#include "negotiate.h"
#include "store-private.h"

static const int client_list_slot[CL_FAIL_CLIENT] = {NEG_KEX, NEG_HOSTKEY, NEG_CIPHER_C2S, NEG_MAC_C2S, NEG_COMP_C2S};

static const char *rec_str(const struct rec *r, int i)
{
    return r->nulls & (1u << i) ? NULL : r->buf + r->off[i];
}

/* ------------------------------------------------------------ caches */

static bool drop_dev(void *v, void *arg)
{
    (void)arg;
    struct dev_node *d = v;
    free(d->h.key);
    free(d->name);
    free(d->vendor);
    free(d);
    return true;
}

static bool drop_cli(void *v, void *arg)
{
    (void)arg;
    struct cli_node *c = v;
    free(c->h.key);
    free(c);
    return true;
}

static bool drop_unused_list(void *v, void *arg)
{
    (void)arg;
    struct list_node *l = v;
    if (atomic_load(&l->refs))
        return false;
    free(l);
    return true;
}

/* Forgets every cached id: after a rollback, or when retention deleted rows
 * the caches may name. Interned lists stay (queued records hold them), only
 * their ids are invalidated. */
static void caches_reset(struct store *s)
{
    hashtab_filter(s->devices, drop_dev, NULL);
    hashtab_filter(s->clients, drop_cli, NULL);
    atomic_store(&s->cbytes, 0);
    s->list_gen++;
    for (size_t i = 0; i < s->nltouched; i++)
        s->ltouched[i]->touched = false;
    s->ndtouched = s->nctouched = s->nltouched = 0;
}

static void list_unref(struct list_node *l)
{
    if (l)
        atomic_fetch_sub(&l->refs, 1);
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

/* Forgets the interned lists no queued record holds (on the loop). */
static void lists_trim(struct store *s)
{
    hashtab_filter(s->lists, drop_unused_list, NULL);
    s->lbytes = 0;
    size_t pos = 0;
    void *v;
    while (hashtab_next(s->lists, &pos, &v, NULL, NULL))
        s->lbytes += sizeof(struct list_node) + ((struct list_node *)v)->h.klen + 1;
}

/* Returns the interned copy of l (one more reference), creating it. */
static struct list_node *list_intern(struct store *s, const struct negotiate_list *l)
{
    long klen = join_list(s, l);
    if (klen < 0)
        return NULL;
    struct list_node *ln = hashtab_find(s->lists, s->scratch, (size_t)klen);
    if (!ln) {
        if (hashtab_count(s->lists) >= STORE_CACHE_MAX)
            lists_trim(s);
        ln = malloc(sizeof *ln + (size_t)klen + 1);
        if (!ln)
            return NULL;
        ln->h.klen = (size_t)klen;
        ln->h.key = (char *)(ln + 1);
        memcpy(ln->h.key, s->scratch, (size_t)klen + 1);
        atomic_init(&ln->refs, 0);
        ln->gen = 0;
        ln->id = 0;
        ln->used = 0;
        ln->touched = false;
        if (hashtab_put(s->lists, ln->h.key, ln->h.klen, ln, NULL) < 0) {
            free(ln);
            return NULL;
        }
        s->lbytes += sizeof *ln + (size_t)klen + 1;
    }
    atomic_fetch_add(&ln->refs, 1);
    return ln;
}

/* ------------------------------------------------------- known clients */

static bool drop_known(void *v, void *arg)
{
    (void)arg;
    free(v);
    return true;
}

/* Remembers a client type whose lists were queued, taking k (its key of
 * klen bytes, malloc'ed; NULL: nothing); when the set is full it is emptied
 * first (it only saves copying lists). */
static void known_add(struct store *s, char *k, size_t klen)
{
    if (!k)
        return;
    if (hashtab_count(s->known) >= STORE_CACHE_MAX) {
        hashtab_filter(s->known, drop_known, NULL);
        s->known_bytes = 0;
    }
    if (hashtab_put(s->known, k, klen, k, NULL) < 0) {
        free(k);
        return;
    }
    s->known_bytes += klen;
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

static void qent_free(struct qent *e)
{
    switch (e->kind) {
    case Q_NEG: rec_free(e->p); break;
    case Q_PROFILE: prec_free(e->p); break;
    default: free(e->p); break;
    }
    e->p = NULL;
}

static void wake_writer(struct store *s)
{
    pthread_cond_signal(&s->cv);
}

int store_queue_push(struct store *s, enum qkind kind, void *p, size_t bytes, bool urgent)
{
    pthread_mutex_lock(&s->mu);
    size_t *n = kind == Q_NEG ? &s->nrec : kind == Q_PROFILE ? &s->nprof : &s->nops;
    size_t max = kind == Q_NEG ? s->qcap : kind == Q_PROFILE ? STORE_PROFILES_MAX : STORE_OPS_MAX;
    if (*n >= max || s->qlen >= s->qsize) {
        pthread_mutex_unlock(&s->mu);
        return -1;
    }
    s->q[(s->qhead + s->qlen) % s->qsize] = (struct qent){.kind = (unsigned char)kind, .bytes = (uint32_t)bytes, .p = p};
    s->qlen++;
    s->qbytes += bytes;
    (*n)++;
    s->enq_seq++;
    if (s->threaded && (urgent || s->nrec == STORE_BATCH_MIN))
        wake_writer(s);
    pthread_mutex_unlock(&s->mu);
    return 0;
}

/* Negotiations queued now (for an early refusal before copying). */
static size_t queued_recs(struct store *s)
{
    pthread_mutex_lock(&s->mu);
    size_t n = s->nrec;
    pthread_mutex_unlock(&s->mu);
    return n;
}

int store_enqueue(struct store *s, const struct negotiation *n)
{
    if (!s || (s->flags & STORE_READONLY) || !n || !n->device)
        return -1;
    if (queued_recs(s) >= s->qcap) {
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

    /* The client type's lists are copied until one record has carried all
     * five: after that a known client type costs one hash lookup, not five
     * joins (the writer fills a row's missing lists from such a record). The
     * set is the loop's own: the writer's caches are not the loop's to read. */
    bool has_client = n->fingerprint || n->software;
    bool want_lists = false;
    const char *ckey = r->buf + r->off[RS_FP];
    size_t cklen = (size_t)r->len[RS_FP] + 1 + r->len[RS_SOFTWARE];
    if (has_client)
        want_lists = !hashtab_find(s->known, ckey, cklen);
    int complete = 0;
    for (int i = 0; want_lists && i < CL_FAIL_CLIENT; i++) {
        const struct negotiate_list *l = n->client[client_list_slot[i]];
        if (l && !(r->list[i] = list_intern(s, l)))
            goto nomem;
        complete += l && !negotiate_list_partial(l);
    }
    if (r->slot >= 0) {
        if (n->client[r->slot] && !(r->list[CL_FAIL_CLIENT] = list_intern(s, n->client[r->slot])))
            goto nomem;
        if (n->server[r->slot] && !(r->list[CL_FAIL_SERVER] = list_intern(s, n->server[r->slot])))
            goto nomem;
    }
    /* the key is copied now: once queued, the record is the writer's */
    char *known = NULL;
    if (want_lists && complete == CL_FAIL_CLIENT && (known = malloc(cklen ? cklen : 1)))
        memcpy(known, ckey, cklen);
    if (store_queue_push(s, Q_NEG, r, sizeof *r + total, false) < 0) {
        free(known);
        rec_free(r);
        s->counts.refused++;
        return -1;
    }
    known_add(s, known, cklen);
    s->counts.queued++;
    return 0;
nomem:
    rec_free(r);
    s->counts.refused++;
    return -1;
}

int store_enqueue_profile(struct store *s, const char *device, int slot, const char *list, int64_t learned_at)
{
    return store_enqueue_list(s, device, slot, list, learned_at, PREC_LEARNED);
}

int store_enqueue_list(struct store *s, const char *device, int slot, const char *list, int64_t learned_at,
                       int source)
{
    if (!s || (s->flags & STORE_READONLY) || !device || !list || slot < 0 || slot >= NEG_NSLOTS)
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
    p->source = source;
    p->dlen = dlen;
    memcpy(p->device, device, dlen);
    p->device[dlen] = '\0';
    p->list = list_intern(s, l);
    negotiate_list_free(l);
    if (!p->list) {
        free(p);
        return -1;
    }
    if (store_queue_push(s, Q_PROFILE, p, sizeof *p + dlen + 1, false) < 0) {
        prec_free(p);
        return -1;
    }
    return 0;
}

size_t store_memory(const struct store *s)
{
    if (!s || (s->flags & STORE_READONLY))
        return 0;
    struct store *m = (struct store *)s; /* the lock, not the contents */
    pthread_mutex_lock(&m->mu);
    size_t n = s->qbytes;
    pthread_mutex_unlock(&m->mu);
    /* the ring, the batch's arrays, the caches and interned lists */
    return n + s->qsize * sizeof *s->q +
           (s->dtouched_cap + s->ctouched_cap + s->ltouched_cap) * sizeof(void *) + s->lbytes +
           atomic_load(&s->cbytes) + hashtab_bytes(s->known) +
           s->known_bytes + hashtab_bytes(s->lists);
}

size_t store_pending(const struct store *s)
{
    if (!s || (s->flags & STORE_READONLY))
        return 0;
    struct store *m = (struct store *)s; /* the lock, not the contents */
    pthread_mutex_lock(&m->mu);
    size_t n = s->qlen;
    pthread_mutex_unlock(&m->mu);
    return n;
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
    struct dev_node *d = hashtab_find(s->devices, key, klen);
    if (!d) {
        d = calloc(1, sizeof *d);
        if (!d || !(d->h.key = malloc(klen + 1))) {
            free(d);
            return SQLITE_NOMEM;
        }
        memcpy(d->h.key, key, klen);
        d->h.key[klen] = '\0';
        d->h.klen = klen;
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
        if (rc || hashtab_put(s->devices, d->h.key, klen, d, NULL) < 0) {
            drop_dev(d, NULL);
            return rc ? rc : SQLITE_NOMEM;
        }
        atomic_fetch_add(&s->cbytes, sizeof *d + klen + 1 + nlen + vlen + 2);
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
    int64_t ids[CL_FAIL_CLIENT];
    int rc;
    struct cli_node *c = hashtab_find(s->clients, key, klen);
    if (!c) {
        c = calloc(1, sizeof *c);
        if (!c || !(c->h.key = malloc(klen + 1))) {
            free(c);
            return SQLITE_NOMEM;
        }
        memcpy(c->h.key, key, klen);
        c->h.key[klen] = '\0';
        c->h.klen = klen;
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
        if (rc || hashtab_put(s->clients, c->h.key, klen, c, NULL) < 0) {
            drop_cli(c, NULL);
            return rc ? rc : SQLITE_NOMEM;
        }
        atomic_fetch_add(&s->cbytes, sizeof *c + klen + 1);
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

static bool drop_day(void *v, void *arg)
{
    (void)v;
    (void)arg;
    return true;
}

/* Forgets the batch's daily counts (written, or rolled back); their
 * chunks stay for the next batch. */
static void days_reset(struct store *s)
{
    if (s->ndnodes)
        hashtab_filter(s->days, drop_day, NULL);
    s->ndnodes = 0;
    for (struct day_chunk *c = s->dchunks; c; c = c->next)
        c->used = 0;
    s->dcur = s->dchunks;
}

/* Room for a node with a key of klen bytes, or NULL when memory is short. */
static struct day_node *day_alloc(struct store *s, size_t klen)
{
    size_t need = (sizeof(struct day_node) + klen + _Alignof(max_align_t) - 1) & ~(_Alignof(max_align_t) - 1);
    while (s->dcur && s->dcur->used + need > STORE_DAY_CHUNK)
        s->dcur = s->dcur->next;
    if (!s->dcur) {
        struct day_chunk *c = malloc(sizeof *c);
        if (!c)
            return NULL;
        c->used = 0;
        c->next = NULL;
        /* appended: the chunks before it are full for this batch */
        struct day_chunk **tail = &s->dchunks;
        while (*tail)
            tail = &(*tail)->next;
        *tail = c;
        s->dcur = c;
    }
    struct day_node *dn = (struct day_node *)(void *)(s->dcur->mem + s->dcur->used);
    s->dcur->used += need;
    return dn;
}

/* Counts negotiation r in its daily row for this batch (written by
 * write_days). SQLITE_NOMEM when memory is short (the batch is retried). */
static int day_count(struct store *s, const struct rec *r, int64_t device, int64_t client, int64_t list)
{
    unsigned char key[sizeof(struct day_key) + STORE_STR_MAX];
    struct day_key k;
    memset(&k, 0, sizeof k); /* the padding is part of the key */
    k.day = day_of(r->time);
    k.device = device;
    k.client = client;
    k.list = list;
    k.failed = r->failed;
    k.category = r->category;
    size_t mlen = (r->nulls & (1u << RS_MISMATCH)) ? 0 : r->len[RS_MISMATCH];
    memcpy(key, &k, sizeof k);
    if (mlen)
        memcpy(key + sizeof k, rec_str(r, RS_MISMATCH), mlen);
    size_t klen = sizeof k + mlen;
    struct day_node *dn = hashtab_find(s->days, key, klen);
    if (dn) {
        dn->n++;
        dn->first = r->time < dn->first ? r->time : dn->first;
        dn->last = r->time > dn->last ? r->time : dn->last;
        return 0;
    }
    if (s->ndnodes == s->dnodes_cap) {
        size_t nc = s->dnodes_cap ? 2 * s->dnodes_cap : 1024;
        struct day_node **nd = realloc(s->dnodes, nc * sizeof *nd);
        if (!nd)
            return SQLITE_NOMEM;
        s->dnodes = nd;
        s->dnodes_cap = nc;
    }
    if (!(dn = day_alloc(s, klen)))
        return SQLITE_NOMEM;
    dn->n = 1;
    dn->first = dn->last = r->time;
    dn->klen = klen;
    memcpy(dn->key, key, klen);
    if (hashtab_put(s->days, dn->key, klen, dn, NULL) < 0)
        return SQLITE_NOMEM; /* (its room is taken back by days_reset) */
    s->dnodes[s->ndnodes++] = dn;
    return 0;
}

/* daily's order (failed, day, device, client first), so that one batch's
 * rows are written next to each other in the table */
static int cmp_day_node(const void *a, const void *b)
{
    struct day_key x, y;
    memcpy(&x, (*(struct day_node *const *)a)->key, sizeof x);
    memcpy(&y, (*(struct day_node *const *)b)->key, sizeof y);
    if (x.failed != y.failed)
        return x.failed < y.failed ? -1 : 1;
    if (x.day != y.day)
        return x.day < y.day ? -1 : 1;
    if (x.device != y.device)
        return x.device < y.device ? -1 : 1;
    return x.client < y.client ? -1 : x.client > y.client;
}

/* One batch's counts for one row of monthly: a failed day node under its
 * month (the node's own key is left alone: it is the hashtab's). */
struct month_ent {
    struct day_key k; /* k.day: the month's first day */
    const struct day_node *dn;
    int64_t n, first, last;
};

static int cmp_month_ent(const void *a, const void *b)
{
    const struct month_ent *x = a, *y = b;
    if (x->k.day != y->k.day)
        return x->k.day < y->k.day ? -1 : 1;
    if (x->k.device != y->k.device)
        return x->k.device < y->k.device ? -1 : 1;
    if (x->k.client != y->k.client)
        return x->k.client < y->k.client ? -1 : 1;
    if (x->k.category != y->k.category)
        return x->k.category < y->k.category ? -1 : 1;
    if (x->k.list != y->k.list)
        return x->k.list < y->k.list ? -1 : 1;
    size_t xl = x->dn->klen - sizeof x->k, yl = y->dn->klen - sizeof y->k;
    int c = memcmp(x->dn->key + sizeof x->k, y->dn->key + sizeof y->k, xl < yl ? xl : yl);
    return c ? c : xl < yl ? -1 : xl > yl;
}

/* Binds the count row i of the batch (a day node; a month entry) as the
 * statement's row starting after parameter p. */
static void bind_day_row(struct store *s, sqlite3_stmt *st, int p, size_t i)
{
    const struct day_node *dn = s->dnodes[i];
    struct day_key k;
    memcpy(&k, dn->key, sizeof k);
    const char *cat = k.category >= 0 ? algo_category_name((enum algo_category)k.category) : "";
    sqlite3_bind_int(st, p + 1, k.failed);
    sqlite3_bind_int64(st, p + 2, k.day);
    sqlite3_bind_int64(st, p + 3, k.device);
    sqlite3_bind_int64(st, p + 4, k.client);
    bind_text(st, p + 5, cat, strlen(cat));
    bind_text(st, p + 6, (const char *)dn->key + sizeof k, dn->klen - sizeof k);
    sqlite3_bind_int64(st, p + 7, k.list);
    sqlite3_bind_int64(st, p + 8, dn->n);
    sqlite3_bind_int64(st, p + 9, dn->first);
    sqlite3_bind_int64(st, p + 10, dn->last);
}

static void bind_month_row(struct store *s, sqlite3_stmt *st, int p, size_t i)
{
    const struct month_ent *e = &s->ments[i];
    const char *cat = e->k.category >= 0 ? algo_category_name((enum algo_category)e->k.category) : "";
    sqlite3_bind_int64(st, p + 1, e->k.day);
    sqlite3_bind_int64(st, p + 2, e->k.device);
    sqlite3_bind_int64(st, p + 3, e->k.client);
    bind_text(st, p + 4, cat, strlen(cat));
    bind_text(st, p + 5, (const char *)e->dn->key + sizeof e->k, e->dn->klen - sizeof e->k);
    sqlite3_bind_int64(st, p + 6, e->k.list);
    sqlite3_bind_int64(st, p + 7, e->n);
    sqlite3_bind_int64(st, p + 8, e->first);
    sqlite3_bind_int64(st, p + 9, e->last);
}

/* Writes n count rows, ncols parameters each, bound by bind: STORE_DAY_ROWS
 * per step of many while that many are left, then one per step of one. */
static int write_count_rows(struct store *s, sqlite3_stmt *one, sqlite3_stmt *many, size_t n, int ncols,
                            void (*bind)(struct store *, sqlite3_stmt *, int, size_t))
{
    for (size_t i = 0; i < n;) {
        size_t rows = n - i >= STORE_DAY_ROWS ? STORE_DAY_ROWS : 1;
        sqlite3_stmt *st = rows > 1 ? many : one;
        for (size_t r = 0; r < rows; r++, i++)
            bind(s, st, (int)r * ncols, i);
        int rc = sqlite3_step(st);
        sqlite3_reset(st);
        if (rc != SQLITE_DONE)
            return rc;
    }
    return 0;
}

/* Adds the batch's failure counts to monthly (sql/009-monthly.sql), in the
 * batch's transaction: the failed day nodes, each under its month, nodes
 * of one month and key added together first, so a month row is written
 * once per batch. SQLITE_NOMEM when memory is short. */
static int write_months(struct store *s)
{
    size_t nm = 0;
    for (size_t i = 0; i < s->ndnodes; i++) {
        const struct day_node *dn = s->dnodes[i];
        struct day_key k;
        memcpy(&k, dn->key, sizeof k);
        if (!k.failed)
            continue;
        if (nm == s->mcap) {
            size_t nc = s->mcap ? 2 * s->mcap : 256;
            struct month_ent *ne = realloc(s->ments, nc * sizeof *ne);
            if (!ne)
                return SQLITE_NOMEM;
            s->ments = ne;
            s->mcap = nc;
        }
        k.day = month_start(k.day);
        s->ments[nm++] = (struct month_ent){.k = k, .dn = dn, .n = dn->n, .first = dn->first, .last = dn->last};
    }
    if (nm > 1)
        qsort(s->ments, nm, sizeof *s->ments, cmp_month_ent);
    size_t out = 0;
    for (size_t i = 0; i < nm; i++) {
        struct month_ent *e = &s->ments[i];
        if (out && cmp_month_ent(&s->ments[out - 1], e) == 0) {
            struct month_ent *into = &s->ments[out - 1];
            into->n += e->n;
            into->first = e->first < into->first ? e->first : into->first;
            into->last = e->last > into->last ? e->last : into->last;
        } else {
            s->ments[out++] = *e;
        }
    }
    return write_count_rows(s, s->st_monthly_up, s->st_monthly_up_many, out, 9, bind_month_row);
}

/* Adds the batch's counts to daily, one row each (in the batch's
 * transaction, so the rows and the counts never disagree). */
static int write_days(struct store *s)
{
    int rc;
    if (s->ndnodes > 1)
        qsort(s->dnodes, s->ndnodes, sizeof *s->dnodes, cmp_day_node);
    if ((rc = write_count_rows(s, s->st_daily_up, s->st_daily_up_many, s->ndnodes, 10, bind_day_row)))
        return rc;
    if ((rc = write_months(s)))
        return rc;
    days_reset(s);
    return 0;
}

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
    if ((rc = run(st)))
        return rc;
    /* failures are counted as they are written; a success when its row
     * goes (purge_step: keep_successes, retention), so that the writer adds
     * a count row per failure key only (sql/009-monthly.sql) */
    return r->failed ? day_count(s, r, d->id, c ? c->id : 0, cl) : 0;
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
    const char *source = p->source == PREC_PROBED ? "probed" : "learned";
    bind_text(st, 5, source, strlen(source));
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

static struct qent *qat(struct store *s, size_t i)
{
    return &s->q[(s->qhead + i) % s->qsize];
}

/* One transaction over the first nent queued entries (their slots do not
 * move while the writer works: the caller only appends). On failure *bad is
 * the index of the entry being written, or -1 when none was. */
static int write_batch(struct store *s, size_t nent, long *bad)
{
    int rc;
    *bad = -1;
    days_reset(s);
    if ((rc = run(s->st_begin)))
        goto fail;
    for (size_t i = 0; i < nent; i++) {
        struct qent *e = qat(s, i);
        switch (e->kind) {
        case Q_NEG: rc = store_rec(s, e->p); break;
        case Q_PROFILE: rc = store_prec(s, e->p); break;
        default: rc = store_op_write(s, (enum qkind)e->kind, e->p); break;
        }
        if (rc) {
            *bad = (long)i;
            goto fail;
        }
    }
    if ((rc = write_days(s)) || (rc = write_touched(s)) || (rc = run(s->st_commit)))
        goto fail;
    return 0;
fail:
    snprintf(s->lasterr, sizeof s->lasterr, "%s", sqlite3_errmsg(s->db));
    days_reset(s);
    /* an I/O error or a full disk may already have rolled it back */
    if (!sqlite3_get_autocommit(s->db))
        run(s->st_rollback);
    caches_reset(s);
    return rc;
}

/* Takes entry e off the counts (under mu): it is finished. */
static void qent_done(struct store *s, struct qent *e)
{
    switch (e->kind) {
    case Q_NEG: s->nrec--; break;
    case Q_PROFILE: s->nprof--; break;
    default:
        s->nops--;
        if (e->kind == Q_OUTBOX_ADD) {
            const struct sop *op = e->p;
            if (op->id > s->outbox_done_id)
                s->outbox_done_id = op->id;
        }
        break;
    }
    s->done_seq++;
    s->qbytes -= e->bytes;
    qent_free(e);
}

/* Gives up entry bad, keeping the order of the others. */
static void drop_entry(struct store *s, long bad)
{
    pthread_mutex_lock(&s->mu);
    qent_done(s, qat(s, (size_t)bad));
    /* close the gap: later entries move up one place */
    for (size_t i = (size_t)bad; i + 1 < s->qlen; i++)
        *qat(s, i) = *qat(s, i + 1);
    s->qlen--;
    s->wcounts.dropped++;
    if (!s->threaded)
        store_counts_merge(s); /* the caller's thread: its view stays live */
    pthread_mutex_unlock(&s->mu);
}

static void notify(struct store *s)
{
    if (s->notify_fd >= 0) {
        uint64_t one = 1;
        ssize_t w = write(s->notify_fd, &one, sizeof one);
        (void)w; /* full (EAGAIN): the loop has a wake-up pending anyway */
    }
}

/* Commits the oldest queued entries (up to STORE_FLUSH_MAX negotiations) in
 * one transaction. Returns the negotiations committed, or -1 (logged,
 * counted; the entries stay queued). On the writer's thread, or the
 * caller's when there is no writer. */
static int batch_once(struct store *s)
{
    pthread_mutex_lock(&s->mu);
    size_t avail = s->qlen;
    pthread_mutex_unlock(&s->mu);
    if (!avail)
        return 0;
    uint64_t t0 = mono_us();
    size_t nent = 0, nrec = 0;
    while (nent < avail) {
        bool neg = qat(s, nent)->kind == Q_NEG;
        if (neg && nrec == STORE_FLUSH_MAX)
            break;
        nrec += neg;
        nent++;
    }
    if (hashtab_count(s->devices) > STORE_CACHE_MAX || hashtab_count(s->clients) > STORE_CACHE_MAX)
        caches_reset(s);
    long bad;
    bool dropped = false;
    int rc = write_batch(s, nent, &bad);
    if (rc && permanent_error(rc)) {
        /* a cached id may have gone under us (another writer's retention):
         * once more with empty caches, then the entry is given up */
        rc = write_batch(s, nent, &bad);
        if (rc && permanent_error(rc) && bad >= 0) {
            log_error("database %s: a record cannot be stored and is dropped: %s", s->path, s->lasterr);
            drop_entry(s, bad);
            dropped = true;
        }
    }
    if (rc) {
        pthread_mutex_lock(&s->mu);
        s->wcounts.errors++;
        if (!s->threaded)
            store_counts_merge(s);
        size_t left = s->qlen;
        pthread_mutex_unlock(&s->mu);
        uint64_t held = 0;
        if (!dropped && log_ratelimit_allow(&s->rl, (int64_t)time(NULL), &held))
            log_warning("database %s: cannot commit %zu record(s), kept for retry: %s%s", s->path, left, s->lasterr,
                        (rc & 0xff) == SQLITE_FULL ? " (the disk is full)"
                        : (rc & 0xff) == SQLITE_BUSY
                            ? " (another program holds the write lock: kexwatch replay --db? reading goes on)"
                            : "");
        if (dropped)
            notify(s);
        return -1;
    }
    pthread_mutex_lock(&s->mu);
    for (size_t i = 0; i < nent; i++) {
        qent_done(s, qat(s, 0));
        s->qhead = (s->qhead + 1) % s->qsize;
        s->qlen--;
    }
    s->wcounts.committed += nrec;
    s->wcounts.batches++;
    s->wcounts.last_batch_us = mono_us() - t0;
    if (!s->threaded)
        store_counts_merge(s);
    pthread_mutex_unlock(&s->mu);
    notify(s);
    return (int)nrec;
}

int store_flush(struct store *s)
{
    if (!s || (s->flags & STORE_READONLY))
        return -1;
    if (s->threaded) {
        /* the writer commits; the caller never waits for the disk */
        pthread_mutex_lock(&s->mu);
        s->flush_now = true;
        wake_writer(s);
        pthread_mutex_unlock(&s->mu);
        return 0;
    }
    return batch_once(s);
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
    sqlite3_bind_int64(st, 2, day_of(before));
    sqlite3_bind_int64(st, 3, month_start(day_of(before)));
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

/* One retention step (see store_retain), on the writer's thread: rows and
 * daily counts go by whole UTC days (a day once all of it is older than the
 * cut-off), so for every day that is left the failure rows and the daily
 * failure counts still agree. */
static int purge_step(struct store *s, int64_t before, int64_t ok_before, unsigned max_rows)
{
    int rc;
    bool changed = false;
    /* (a cut-off before the first day there can be is that day) */
    int64_t cut_day = day_of(before), ok_day = day_of(ok_before);
    cut_day = cut_day < INT64_MIN / STORE_DAY ? INT64_MIN / STORE_DAY : cut_day;
    ok_day = ok_day < cut_day ? cut_day : ok_day;
    int64_t cut = cut_day * STORE_DAY, ok_cut = ok_day * STORE_DAY;
    if ((rc = run(s->st_begin)))
        goto fail;
    int deleted = 0, counts = 0;
    /* failures (counted in daily as written), then successes: counted in
     * daily first, the same rows (the same statement text on the same
     * data in one transaction), then deleted */
    sqlite3_stmt *const kinds[3] = {s->st_purge_fail, s->st_count_ok, s->st_purge_ok};
    for (int i = 0; i < 3 && (unsigned)deleted < max_rows; i++) {
        sqlite3_bind_int64(kinds[i], 1, i ? ok_cut : cut);
        sqlite3_bind_int(kinds[i], 2, (int)(max_rows - (unsigned)deleted));
        if ((rc = run(kinds[i])))
            goto fail;
        if (kinds[i] != s->st_count_ok)
            deleted += sqlite3_changes(s->db);
    }
    /* then the daily counts of the days gone */
    for (int failed = 1; failed >= 0 && (unsigned)(deleted + counts) < max_rows; failed--) {
        sqlite3_bind_int64(s->st_purge_daily, 1, cut_day);
        sqlite3_bind_int(s->st_purge_daily, 2, failed);
        sqlite3_bind_int(s->st_purge_daily, 3, (int)(max_rows - (unsigned)(deleted + counts)));
        if ((rc = run(s->st_purge_daily)))
            goto fail;
        counts += sqlite3_changes(s->db);
    }
    /* and the months all of whose days are gone (a month partly gone is
     * read from daily by the queries until then: sql/009-monthly.sql) */
    if ((unsigned)(deleted + counts) < max_rows) {
        sqlite3_bind_int64(s->st_purge_monthly, 1, month_start(cut_day));
        sqlite3_bind_int(s->st_purge_monthly, 2, (int)(max_rows - (unsigned)(deleted + counts)));
        if ((rc = run(s->st_purge_monthly)))
            goto fail;
        counts += sqlite3_changes(s->db);
    }
    if (counts)
        s->orphans_due = true;
    if (deleted)
        s->orphans_due = true;
    /* orphans once the old negotiations are gone, not at every step */
    bool more = true;
    if (s->orphans_due && (unsigned)(deleted + counts) < max_rows) {
        if ((rc = purge_orphans(s, cut, max_rows, &changed, &more)))
            goto fail;
    }
    if ((rc = run(s->st_commit)))
        goto fail;
    if (!more)
        s->orphans_due = false;
    if (changed)
        caches_reset(s);
    pthread_mutex_lock(&s->mu);
    s->wcounts.purged += (uint64_t)deleted;
    if (!s->threaded)
        store_counts_merge(s);
    pthread_mutex_unlock(&s->mu);
    /* retention runs on the daemon's tick: a good place for upkeep */
    if (mono_us() - s->analyzed_us > STORE_ANALYZE_US && s->wcounts.committed)
        store_refresh_statistics(s);
    return deleted + counts;
fail:
    snprintf(s->lasterr, sizeof s->lasterr, "%s", sqlite3_errmsg(s->db));
    if (!sqlite3_get_autocommit(s->db))
        run(s->st_rollback);
    caches_reset(s);
    pthread_mutex_lock(&s->mu);
    s->wcounts.errors++;
    if (!s->threaded)
        store_counts_merge(s);
    pthread_mutex_unlock(&s->mu);
    uint64_t held = 0;
    if (log_ratelimit_allow(&s->rl, (int64_t)time(NULL), &held))
        log_warning("database %s: retention step failed, retried later: %s", s->path, s->lasterr);
    return -1;
}

int store_retain(struct store *s, int64_t before, int64_t successes_before, unsigned max_rows)
{
    if (!s || (s->flags & STORE_READONLY))
        return -1;
    if (max_rows == 0)
        return 0;
    if (max_rows > 1000000)
        max_rows = 1000000;
    if (s->threaded) {
        /* the writer takes the step between two batches */
        pthread_mutex_lock(&s->mu);
        s->purge_before = before;
        s->purge_ok_before = successes_before;
        s->purge_max = max_rows;
        pthread_mutex_unlock(&s->mu);
        return 0;
    }
    return purge_step(s, before, successes_before, max_rows);
}

int store_purge(struct store *s, int64_t before, unsigned max_rows)
{
    return store_retain(s, before, before, max_rows);
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


/* ------------------------------------------------------------ the writer */

static void deadline_in(struct timespec *ts, uint64_t us)
{
    clock_gettime(CLOCK_MONOTONIC, ts);
    uint64_t ns = (uint64_t)ts->tv_nsec + us * 1000u;
    ts->tv_sec += (time_t)(ns / 1000000000u);
    ts->tv_nsec = (long)(ns % 1000000000u);
}

/* The writer: commits what is queued every STORE_BATCH_US, at once when
 * STORE_BATCH_MIN negotiations or an urgent entry (alert, outbox) wait,
 * takes retention steps between batches, and on stop commits what it can
 * before it returns. A failed batch is retried at the next turn. */
static void *writer_main(void *arg)
{
    struct store *s = arg;
    pthread_mutex_lock(&s->mu);
    for (;;) {
        if (!s->stop && !s->flush_now && s->nrec < STORE_BATCH_MIN && !s->purge_before) {
            struct timespec ts;
            deadline_in(&ts, STORE_BATCH_US);
            pthread_cond_timedwait(&s->cv, &s->mu, &ts);
        }
        bool stop = s->stop;
        s->flush_now = false;
        int64_t before = s->purge_before, ok_before = s->purge_ok_before;
        unsigned pmax = s->purge_max;
        s->purge_before = 0;
        size_t queued = s->qlen;
        pthread_mutex_unlock(&s->mu);
        if (queued) {
            int rc = batch_once(s);
            if (stop && rc < 0 && store_pending(s) == queued) {
                pthread_mutex_lock(&s->mu);
                break; /* no progress: store_close reports what is lost */
            }
        }
        if (before && !stop)
            purge_step(s, before, ok_before, pmax);
        pthread_mutex_lock(&s->mu);
        if (stop && !s->qlen)
            break;
        if (queued && s->nrec >= STORE_BATCH_MIN)
            s->flush_now = true; /* more than one batch waits: no pause */
    }
    pthread_mutex_unlock(&s->mu);
    return NULL;
}

int store_start(struct store *s)
{
    if (!s || (s->flags & STORE_READONLY) || s->threaded)
        return -1;
    s->notify_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (s->notify_fd < 0) {
        log_error("database %s: cannot create the writer's notification (eventfd: %s)", s->path, strerror(errno));
        return -1;
    }
    /* the writer takes no signals: the event loop's thread handles them */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old);
    int rc = pthread_create(&s->thread, NULL, writer_main, s);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc != 0) {
        log_error("database %s: cannot start the writer thread: %s", s->path, strerror(rc));
        close(s->notify_fd);
        s->notify_fd = -1;
        return -1;
    }
    s->threaded = true;
    return 0;
}

/* Stops the writer after it committed what it could; the caller's thread
 * owns the connection again. */
void store_writer_stop(struct store *s)
{
    if (!s->threaded)
        return;
    pthread_mutex_lock(&s->mu);
    s->stop = true;
    wake_writer(s);
    pthread_mutex_unlock(&s->mu);
    pthread_join(s->thread, NULL);
    s->threaded = false;
    s->stop = false;
}

int store_notify_fd(const struct store *s)
{
    return s ? s->notify_fd : -1;
}

/* Runs the callbacks whose entries are finished (in order). */
static void run_waiters(struct store *s, uint64_t done)
{
    while (s->waiters && s->waiters->seq <= done) {
        struct store_waiter *w = s->waiters;
        s->waiters = w->next;
        if (!s->waiters)
            s->waiters_tail = &s->waiters;
        w->cb(w->arg);
        free(w);
    }
}

void store_waiters_release(struct store *s)
{
    run_waiters(s, UINT64_MAX);
}

void store_poll(struct store *s)
{
    if (!s)
        return;
    uint64_t v;
    if (s->notify_fd >= 0)
        while (read(s->notify_fd, &v, sizeof v) == (ssize_t)sizeof v)
            ;
    pthread_mutex_lock(&s->mu);
    uint64_t done = s->done_seq;
    s->outbox_seen_id = s->outbox_done_id;
    pthread_mutex_unlock(&s->mu);
    run_waiters(s, done);
}

int store_after_commit(struct store *s, void (*cb)(void *arg), void *arg)
{
    if (!s || !cb || (s->flags & STORE_READONLY))
        return -1;
    if (!s->threaded) {
        /* no writer: commit now, on the caller's thread */
        size_t before;
        while ((before = store_pending(s)) > 0)
            if (batch_once(s) < 0 && store_pending(s) == before)
                break;
        store_poll(s);
        if (!store_pending(s)) {
            cb(arg);
            return 0;
        }
    }
    struct store_waiter *w = malloc(sizeof *w);
    if (!w)
        return -1;
    pthread_mutex_lock(&s->mu);
    w->seq = s->enq_seq;
    bool done = s->done_seq >= w->seq;
    if (done)
        s->outbox_seen_id = s->outbox_done_id; /* what the callback may ask */
    else if (s->threaded)
        wake_writer(s);
    pthread_mutex_unlock(&s->mu);
    if (done && !s->waiters) {
        free(w);
        cb(arg);
        return 0;
    }
    w->cb = cb;
    w->arg = arg;
    w->next = NULL;
    *s->waiters_tail = w;
    s->waiters_tail = &w->next;
    return 0;
}

void store_after_commit_cancel(struct store *s, void *arg)
{
    if (!s)
        return;
    struct store_waiter **pp = &s->waiters;
    s->waiters_tail = &s->waiters;
    while (*pp) {
        struct store_waiter *w = *pp;
        if (w->arg == arg) {
            *pp = w->next;
            free(w);
        } else {
            pp = &w->next;
            s->waiters_tail = pp;
        }
    }
}

bool store_outbox_committed(const struct store *s, int64_t id)
{
    if (!s)
        return true;
    if (!s->threaded)
        return store_pending(s) == 0 || id <= s->outbox_seen_id;
    return id <= s->outbox_seen_id;
}

/* ------------------------------------------------------------ set-up */

int store_writer_init(struct store *s, size_t queue_max)
{
    s->qcap = queue_max ? queue_max : STORE_QUEUE_DEFAULT;
    s->qsize = s->qcap + STORE_PROFILES_MAX + STORE_OPS_MAX;
    /* every record of a batch touches at most one device and one client */
    s->dtouched_cap = s->ctouched_cap = STORE_FLUSH_MAX + STORE_PROFILES_MAX;
    s->ltouched_cap = 2 * STORE_FLUSH_MAX;
    s->q = calloc(s->qsize, sizeof *s->q);
    s->dtouched = calloc(s->dtouched_cap, sizeof *s->dtouched);
    s->ctouched = calloc(s->ctouched_cap, sizeof *s->ctouched);
    s->ltouched = calloc(s->ltouched_cap, sizeof *s->ltouched);
    s->known = hashtab_new();
    if (!s->q || !s->dtouched || !s->ctouched || !s->ltouched || !s->known)
        return -1;
    return 0;
}

void store_writer_free(struct store *s)
{
    while (s->qlen) {
        qent_free(&s->q[s->qhead]);
        s->qhead = (s->qhead + 1) % s->qsize;
        s->qlen--;
    }
    while (s->waiters) {
        struct store_waiter *w = s->waiters;
        s->waiters = w->next;
        free(w);
    }
    if (s->known)
        hashtab_filter(s->known, drop_known, NULL);
    hashtab_free(s->known);
    if (s->devices)
        hashtab_filter(s->devices, drop_dev, NULL);
    if (s->clients)
        hashtab_filter(s->clients, drop_cli, NULL);
    if (s->lists)
        hashtab_filter(s->lists, drop_unused_list, NULL);
    hashtab_free(s->devices);
    hashtab_free(s->clients);
    hashtab_free(s->lists);
    if (s->days)
        days_reset(s);
    hashtab_free(s->days);
    free(s->dnodes);
    free(s->ments);
    while (s->dchunks) {
        struct day_chunk *c = s->dchunks;
        s->dchunks = c->next;
        free(c);
    }
    s->devices = s->clients = s->lists = NULL;
    s->days = NULL;
    free(s->dtouched);
    free(s->ctouched);
    free(s->ltouched);
    free(s->scratch);
    free(s->q);
}

int store_device_id(struct store *s, const char *key, int64_t t, int64_t *id)
{
    struct dev_node *d;
    int rc = dev_get(s, key, strlen(key), NULL, 0, NULL, 0, t, &d);
    if (!rc)
        *id = d->id;
    return rc;
}
