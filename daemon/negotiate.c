/* SPDX-License-Identifier: ISC */
/* negotiate: RFC 4253 section 7.1 negotiation over partly known offers (see
 * negotiate.h), the client fingerprint, and the MD5 it needs (RFC 1321).
 *
 * Every question ("is this client name on the server's list?", "does a host
 * key fit this kex?") has three answers here: yes, no, or maybe, where maybe
 * comes from a list that is unknown or partial, or a name marked maybe. A
 * slot's walk down the client's list stops at the first definite yes; if a
 * maybe came before it, an algorithm is certainly agreed but which one is
 * not. An unknown list is handled as an empty partial list, which makes
 * every answer about it maybe; the status of a slot with an unknown list is
 * forced to NEG_UNKNOWN anyway, but the walk still tells which names could
 * be chosen, which is what the MAC and host key slots need from the cipher
 * and kex slots.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "negotiate.h"

#define NAME_MAYBE 1u /* the side may not really offer this name */
#define NAME_CUT 2u   /* longer than NEGOTIATE_MAX_NAME, cut */

struct name_ref {
    uint16_t off; /* into text; NUL-terminated there */
    uint8_t len;
    uint8_t flags;
};

struct negotiate_list {
    size_t count;
    size_t cap;
    size_t text_used;
    size_t text_cap;
    bool partial;
    char *text; /* right after name[cap] in the same allocation */
    struct name_ref name[];
};

/* What an unknown (NULL) list behaves like inside a walk. */
static const struct negotiate_list unknown_list = { .partial = true };

/* ------------------------------------------------------------ lists */

size_t negotiate_list_bytes(const struct negotiate_list *l)
{
    return l ? sizeof *l + l->cap * sizeof l->name[0] + l->text_cap : 0;
}

static struct negotiate_list *list_alloc(size_t names, size_t text)
{
    struct negotiate_list *l =
        malloc(sizeof *l + names * sizeof l->name[0] + (text ? text : 1));
    if (!l)
        return NULL;
    l->count = 0;
    l->cap = names;
    l->text_used = 0;
    l->text_cap = text ? text : 1;
    l->partial = false;
    l->text = (char *)&l->name[names];
    l->text[0] = '\0';
    return l;
}

static const char *list_str(const struct negotiate_list *l, size_t i)
{
    return l->text + l->name[i].off;
}

/* Appends a name (len <= NEGOTIATE_MAX_NAME). Callers size lists for what
 * they add; a list that is full anyway only becomes partial. */
static void list_push(struct negotiate_list *l, const char *s, size_t len, unsigned flags)
{
    if (l->count == l->cap || l->text_used + len + 1 > l->text_cap) {
        l->partial = true;
        return;
    }
    struct name_ref *r = &l->name[l->count++];
    r->off = (uint16_t)l->text_used;
    r->len = (uint8_t)len;
    r->flags = (uint8_t)flags;
    memcpy(l->text + l->text_used, s, len);
    l->text[l->text_used + len] = '\0';
    l->text_used += len + 1;
}

/* RFC 4251 names hold no comma, space or control byte; anything like that
 * separates names, which also absorbs a trailing CR or NUL. */
static bool is_sep(unsigned char c)
{
    return c == ',' || c <= 0x20 || c == 0x7f;
}

/* Finds the next name in text[*pos..end): returns its length (0 at the end)
 * and its start in *start. */
static size_t next_token(const char *text, size_t end, size_t *pos, size_t *start)
{
    size_t i = *pos;
    while (i < end && is_sep((unsigned char)text[i]))
        i++;
    size_t j = i;
    while (j < end && !is_sep((unsigned char)text[j]))
        j++;
    *start = i;
    *pos = j;
    return j - i;
}

int negotiate_list_parse(const char *text, size_t len, unsigned flags,
                         struct negotiate_list **out, struct negotiate_parse_stats *stats)
{
    struct negotiate_parse_stats st = { 0, 0, 0 };
    if (!out)
        return -1;
    *out = NULL;
    if (!text)
        len = 0;

    /* A cut text ends inside its last name unless it ends in a separator. */
    size_t end = len;
    if ((flags & NEGOTIATE_PARSE_CUT) && end && !is_sep((unsigned char)text[end - 1])) {
        while (end && !is_sep((unsigned char)text[end - 1]))
            end--;
        st.dropped++;
    }

    size_t n = 0, bytes = 0, pos = 0, start, tl;
    while ((tl = next_token(text, end, &pos, &start)) > 0) {
        if (n == NEGOTIATE_MAX_NAMES)
            continue;
        n++;
        bytes += (tl > NEGOTIATE_MAX_NAME ? NEGOTIATE_MAX_NAME : tl) + 1;
    }

    struct negotiate_list *l = list_alloc(n, bytes);
    if (!l)
        return -1;
    pos = 0;
    while ((tl = next_token(text, end, &pos, &start)) > 0) {
        if (l->count == NEGOTIATE_MAX_NAMES) {
            st.dropped++;
            continue;
        }
        unsigned nf = 0;
        if (tl > NEGOTIATE_MAX_NAME) {
            tl = NEGOTIATE_MAX_NAME;
            nf = NAME_CUT;
            st.truncated++;
        }
        list_push(l, text + start, tl, nf);
    }
    st.names = l->count;
    l->partial = st.dropped > 0 || (flags & NEGOTIATE_PARSE_CUT);
    if (stats)
        *stats = st;
    *out = l;
    return 0;
}

/* Adds a name unless it is already there; a name offered for certain by one
 * keyword and maybe by another is certain. */
static void list_add_unique(struct negotiate_list *l, const char *s, size_t len, unsigned flags)
{
    for (size_t i = 0; i < l->count; i++) {
        struct name_ref *r = &l->name[i];
        if (r->len == len && ((r->flags ^ flags) & NAME_CUT) == 0 &&
            memcmp(list_str(l, i), s, len) == 0) {
            if (!(flags & NAME_MAYBE))
                r->flags &= (uint8_t)~NAME_MAYBE;
            return;
        }
    }
    list_push(l, s, len, flags);
}

int negotiate_list_expand(const struct algo_db *db, const char *vendor, enum algo_category cat,
                          const struct negotiate_list *in, struct negotiate_list **out)
{
    if (!out)
        return -1;
    *out = NULL;
    if (!db || !in)
        return -1;

    /* Size for the worst case: every name expanded, nothing merged. */
    size_t n = 0, bytes = 0;
    for (size_t i = 0; i < in->count; i++) {
        const struct algo_keyword *kw =
            vendor ? algo_db_keyword(db, vendor, cat, list_str(in, i), in->name[i].len) : NULL;
        if (!kw) {
            n++;
            bytes += in->name[i].len + 1u;
            continue;
        }
        for (size_t k = 0; k < algo_keyword_wire_count(kw); k++) {
            n++;
            bytes += strlen(algo_keyword_wire(kw, k, NULL)) + 1;
        }
    }
    if (n > NEGOTIATE_MAX_NAMES)
        n = NEGOTIATE_MAX_NAMES;
    if (bytes > NEGOTIATE_MAX_NAMES * (NEGOTIATE_MAX_NAME + 1))
        bytes = NEGOTIATE_MAX_NAMES * (NEGOTIATE_MAX_NAME + 1);

    struct negotiate_list *l = list_alloc(n, bytes);
    if (!l)
        return -1;
    l->partial = in->partial;
    for (size_t i = 0; i < in->count; i++) {
        const char *s = list_str(in, i);
        const struct algo_keyword *kw =
            vendor ? algo_db_keyword(db, vendor, cat, s, in->name[i].len) : NULL;
        if (!kw) {
            list_add_unique(l, s, in->name[i].len, in->name[i].flags);
            continue;
        }
        if (algo_keyword_undocumented(kw))
            l->partial = true;
        for (size_t k = 0; k < algo_keyword_wire_count(kw); k++) {
            enum algo_wire_certainty c;
            const char *w = algo_keyword_wire(kw, k, &c);
            unsigned f = in->name[i].flags & NAME_MAYBE;
            if (c == ALGO_WIRE_MAYBE)
                f |= NAME_MAYBE;
            list_add_unique(l, w, strlen(w), f);
        }
    }
    *out = l;
    return 0;
}

char *negotiate_list_join(const struct negotiate_list *l)
{
    if (!l)
        return NULL;
    size_t total = 1;
    for (size_t i = 0; i < negotiate_list_count(l); i++)
        total += strlen(negotiate_list_name(l, i)) + 1;
    char *out = malloc(total);
    if (!out)
        return NULL;
    size_t o = 0;
    for (size_t i = 0; i < negotiate_list_count(l); i++) {
        size_t k = strlen(negotiate_list_name(l, i));
        if (o)
            out[o++] = ',';
        memcpy(out + o, negotiate_list_name(l, i), k);
        o += k;
    }
    out[o] = '\0';
    return out;
}

void negotiate_list_free(struct negotiate_list *l)
{
    free(l);
}

size_t negotiate_list_count(const struct negotiate_list *l)
{
    return l ? l->count : 0;
}

const char *negotiate_list_name(const struct negotiate_list *l, size_t i)
{
    return l && i < l->count ? list_str(l, i) : NULL;
}

bool negotiate_list_maybe(const struct negotiate_list *l, size_t i)
{
    return l && i < l->count && (l->name[i].flags & NAME_MAYBE);
}

bool negotiate_list_partial(const struct negotiate_list *l)
{
    return l && l->partial;
}

/* ------------------------------------------------------------ engine */

enum tri { TRI_NO = 0, TRI_MAYBE, TRI_YES };

static enum tri tri_min(enum tri a, enum tri b)
{
    return a < b ? a : b;
}

/* Is the client's i-th name on the server's list? */
static enum tri member(const struct negotiate_list *c, size_t i, const struct negotiate_list *s)
{
    const struct name_ref *cn = &c->name[i];
    const char *cs = list_str(c, i);
    enum tri best = TRI_NO;
    for (size_t j = 0; j < s->count && best != TRI_YES; j++) {
        const struct name_ref *sn = &s->name[j];
        if (sn->len != cn->len || ((sn->flags ^ cn->flags) & NAME_CUT) ||
            memcmp(list_str(s, j), cs, cn->len) != 0)
            continue;
        /* Two cut names agree on 64 bytes only: maybe the same name. */
        enum tri t = ((cn->flags | sn->flags) & (NAME_MAYBE | NAME_CUT)) ? TRI_MAYBE : TRI_YES;
        if (t > best)
            best = t;
    }
    if (best == TRI_NO && s->partial)
        best = TRI_MAYBE;
    return best;
}

/* Extra condition a chosen name must meet (host key fit), and a class of
 * names (AEAD or not, host key need) collected over the candidates. */
typedef enum tri (*pred_fn)(const void *ctx, const char *name, size_t len);
typedef unsigned (*class_fn)(const struct algo_db *db, const char *name, size_t len);

#define CLASS_ALL (~0u)

enum walk_status {
    W_NONE,    /* certainly nothing qualifies */
    W_UNKNOWN, /* nothing certain; something might qualify */
    W_UNSURE,  /* something certainly qualifies, but an earlier name might win */
    W_AGREED   /* index is certainly the choice */
};

struct walk {
    enum walk_status st;
    size_t index;
    /* OR of cls over every name that might be the choice (CLASS_ALL when
     * those are unknowable), so callers can tell "whatever is agreed is
     * AEAD" from "it depends". */
    unsigned mask;
};

struct engine {
    const struct algo_db *db;
    const struct negotiate_list *c[NEG_NSLOTS];
    const struct negotiate_list *s[NEG_NSLOTS];
    bool known[NEG_NSLOTS]; /* both sides' lists known */
};

/* RFC 4253: the first client name also on the server's list (and meeting
 * pred). */
static void walk(const struct engine *e, enum negotiate_slot slot, pred_fn pred, const void *ctx,
                 class_fn cls, struct walk *w)
{
    const struct negotiate_list *c = e->c[slot], *s = e->s[slot];
    bool skip_markers = slot == NEG_KEX;
    bool saw_maybe = false;
    w->index = 0;
    w->mask = 0;
    for (size_t i = 0; i < c->count; i++) {
        const char *name = list_str(c, i);
        size_t len = c->name[i].len;
        if (skip_markers && algo_db_is_marker(e->db, name, len))
            continue;
        enum tri t = member(c, i, s);
        if (t != TRI_NO && pred)
            t = tri_min(t, pred(ctx, name, len));
        if (t == TRI_NO)
            continue;
        if (cls)
            w->mask |= cls(e->db, name, len);
        if (t == TRI_YES) {
            w->st = saw_maybe ? W_UNSURE : W_AGREED;
            w->index = i;
            return;
        }
        saw_maybe = true;
    }
    if (c->partial) {
        /* The unseen rest of the client's list may hold any server name. */
        saw_maybe = true;
        if (cls && s->partial)
            w->mask = CLASS_ALL;
        for (size_t j = 0; cls && !s->partial && j < s->count; j++)
            if (!skip_markers || !algo_db_is_marker(e->db, list_str(s, j), s->name[j].len))
                w->mask |= cls(e->db, list_str(s, j), s->name[j].len);
    }
    w->st = saw_maybe ? W_UNKNOWN : W_NONE;
}

/* Slot status from a walk over two known lists. */
static void set_slot(struct negotiate_slot_result *r, const struct engine *e,
                     enum negotiate_slot slot, const struct walk *w)
{
    r->agreed = NULL;
    if (!e->known[slot]) {
        r->status = NEG_UNKNOWN;
        return;
    }
    switch (w->st) {
    case W_AGREED:
        r->status = NEG_AGREED;
        r->agreed = list_str(e->c[slot], w->index);
        break;
    case W_UNSURE:
        r->status = NEG_AGREED;
        break;
    case W_NONE:
        r->status = NEG_NO_MATCH;
        break;
    default:
        r->status = NEG_UNKNOWN;
        break;
    }
}

static bool single_class(unsigned mask)
{
    return mask != 0 && (mask & (mask - 1)) == 0;
}

/* Host key needs of kex methods: bit 1 = needs a signing key, bit 2 = any. */
static unsigned kex_need(const struct algo_db *db, const char *name, size_t len)
{
    return algo_entry_hostkey_use(algo_db_find(db, ALGO_KEX, name, len)) == ALGO_HK_ANY ? 2u : 1u;
}

struct hk_ctx {
    const struct algo_db *db;
    unsigned need; /* kex_need() bit */
};

/* Does this host key algorithm serve a kex with that need? Names missing
 * from the table can sign: RFC 4253 defines no other kind in use. */
static enum tri hostkey_fits(const void *ctx, const char *name, size_t len)
{
    const struct hk_ctx *h = ctx;
    if (h->need == 2u)
        return TRI_YES;
    return algo_entry_hostkey_use(algo_db_find(h->db, ALGO_HOSTKEY, name, len)) == ALGO_HK_NONE
               ? TRI_NO
               : TRI_YES;
}

struct kex_ctx {
    const struct algo_db *db;
    enum tri fits[3]; /* by kex_need() bit: is there a common host key for it */
};

static enum tri kex_fits(const void *ctx, const char *name, size_t len)
{
    const struct kex_ctx *k = ctx;
    return k->fits[kex_need(k->db, name, len)];
}

/* Is there a host key algorithm both sides support that serves need? */
static enum tri hostkey_exists(const struct engine *e, unsigned need)
{
    if (!e->known[NEG_HOSTKEY])
        return TRI_MAYBE;
    struct hk_ctx h = { e->db, need };
    struct walk w;
    walk(e, NEG_HOSTKEY, hostkey_fits, &h, NULL, &w);
    if (w.st == W_AGREED || w.st == W_UNSURE)
        return TRI_YES;
    return w.st == W_NONE ? TRI_NO : TRI_MAYBE;
}

/* Host key slot when what the kex needs is known (need) or not (0). */
static void negotiate_hostkey(const struct engine *e, unsigned need, struct negotiate_result *res)
{
    struct negotiate_slot_result *r = &res->slot[NEG_HOSTKEY];
    struct walk w;
    if (single_class(need)) {
        struct hk_ctx h = { e->db, need };
        walk(e, NEG_HOSTKEY, hostkey_fits, &h, NULL, &w);
        set_slot(r, e, NEG_HOSTKEY, &w);
        return;
    }
    /* Kex methods with different needs may win: the host key is certain
     * only if the strictest need finds the same name as the loosest. */
    struct hk_ctx any = { e->db, 2u }, sign = { e->db, 1u };
    struct walk wa, ws;
    walk(e, NEG_HOSTKEY, hostkey_fits, &any, NULL, &wa);
    walk(e, NEG_HOSTKEY, hostkey_fits, &sign, NULL, &ws);
    r->agreed = NULL;
    if (!e->known[NEG_HOSTKEY])
        r->status = NEG_UNKNOWN;
    else if (wa.st == W_NONE)
        r->status = NEG_NO_MATCH;
    else if (ws.st == W_AGREED || ws.st == W_UNSURE) {
        r->status = NEG_AGREED;
        if (ws.st == W_AGREED && wa.st == W_AGREED && ws.index == wa.index)
            r->agreed = list_str(e->c[NEG_HOSTKEY], ws.index);
    } else
        r->status = NEG_UNKNOWN;
}

static void negotiate_kex(const struct engine *e, struct negotiate_result *res)
{
    struct negotiate_slot_result *r = &res->slot[NEG_KEX];
    struct walk names;
    walk(e, NEG_KEX, NULL, NULL, kex_need, &names);
    r->agreed = NULL;

    if (!e->known[NEG_KEX] || names.st == W_UNKNOWN) {
        r->status = NEG_UNKNOWN;
        negotiate_hostkey(e, names.mask, res);
        return;
    }
    if (names.st == W_NONE) {
        /* Which host key would have been chosen depends on the kex. */
        r->status = NEG_NO_MATCH;
        res->slot[NEG_HOSTKEY].status = NEG_UNKNOWN;
        res->slot[NEG_HOSTKEY].agreed = NULL;
        return;
    }

    /* Kex names are certainly common: the kex category cannot fail, and a
     * missing host key is the host key's failure. */
    struct kex_ctx k = { .db = e->db };
    k.fits[1] = hostkey_exists(e, 1u);
    k.fits[2] = hostkey_exists(e, 2u);
    struct walk full;
    walk(e, NEG_KEX, kex_fits, &k, kex_need, &full);
    r->status = NEG_AGREED;
    switch (full.st) {
    case W_AGREED:
        r->agreed = list_str(e->c[NEG_KEX], full.index);
        negotiate_hostkey(e, kex_need(e->db, r->agreed, strlen(r->agreed)), res);
        break;
    case W_UNSURE:
        negotiate_hostkey(e, full.mask, res);
        break;
    case W_NONE:
        if (names.st == W_AGREED)
            r->agreed = list_str(e->c[NEG_KEX], names.index);
        res->slot[NEG_HOSTKEY].status = NEG_NO_MATCH;
        res->slot[NEG_HOSTKEY].agreed = NULL;
        break;
    default:
        /* The host key lists cannot settle which kex fits. When every
         * candidate needs the same, they all fit or none does, so the name
         * the lists alone give is the choice. */
        if (single_class(full.mask) && names.st == W_AGREED)
            r->agreed = list_str(e->c[NEG_KEX], names.index);
        negotiate_hostkey(e, full.mask, res);
        break;
    }
}

/* Cipher classes: bit 1 = MAC implicit, bit 2 = MAC negotiated. */
static unsigned cipher_class(const struct algo_db *db, const char *name, size_t len)
{
    return algo_entry_aead(algo_db_find(db, ALGO_CIPHER, name, len)) == ALGO_AEAD_IMPLICIT ? 1u
                                                                                         : 2u;
}

static void negotiate_direction(const struct engine *e, enum negotiate_slot cipher,
                                enum negotiate_slot mac, enum negotiate_slot comp,
                                struct negotiate_result *res)
{
    struct walk wc, wm, wz;
    walk(e, cipher, NULL, NULL, cipher_class, &wc);
    set_slot(&res->slot[cipher], e, cipher, &wc);

    struct negotiate_slot_result *rm = &res->slot[mac];
    rm->agreed = NULL;
    if (res->slot[cipher].status == NEG_NO_MATCH || wc.st == W_NONE) {
        /* Whether a MAC would be needed depends on a cipher nobody agreed. */
        rm->status = NEG_UNKNOWN;
    } else if (wc.mask == 1u) {
        rm->status = NEG_IMPLICIT;
    } else {
        walk(e, mac, NULL, NULL, NULL, &wm);
        set_slot(rm, e, mac, &wm);
        if (wc.mask != 2u) {
            /* The cipher may or may not be AEAD: a MAC match is still a
             * success (the name is not certain), no match proves nothing. */
            rm->agreed = NULL;
            if (rm->status == NEG_NO_MATCH)
                rm->status = NEG_UNKNOWN;
        }
    }

    walk(e, comp, NULL, NULL, NULL, &wz);
    set_slot(&res->slot[comp], e, comp, &wz);
}

static const enum negotiate_slot check_order[NEG_NSLOTS] = {
    NEG_KEX,     NEG_HOSTKEY,    NEG_CIPHER_C2S, NEG_MAC_C2S,
    NEG_COMP_C2S, NEG_CIPHER_S2C, NEG_MAC_S2C,    NEG_COMP_S2C,
};

int negotiate_run(const struct algo_db *db, const struct negotiate_offer *client,
                  const struct negotiate_offer *server, struct negotiate_result *res)
{
    if (!db || !res)
        return -1;
    memset(res, 0, sizeof *res);
    struct engine e = { .db = db };
    for (int i = 0; i < NEG_NSLOTS; i++) {
        const struct negotiate_list *c = client ? client->list[i] : NULL;
        const struct negotiate_list *s = server ? server->list[i] : NULL;
        e.known[i] = c && s;
        e.c[i] = c ? c : &unknown_list;
        e.s[i] = s ? s : &unknown_list;
    }

    negotiate_kex(&e, res);
    negotiate_direction(&e, NEG_CIPHER_C2S, NEG_MAC_C2S, NEG_COMP_C2S, res);
    negotiate_direction(&e, NEG_CIPHER_S2C, NEG_MAC_S2C, NEG_COMP_S2C, res);

    res->first_fail = -1;
    res->decided = true;
    bool all_agreed = true;
    for (int i = 0; i < NEG_NSLOTS; i++) {
        enum negotiate_status st = res->slot[check_order[i]].status;
        if (st == NEG_NO_MATCH) {
            res->first_fail = (int)check_order[i];
            break;
        }
        if (st == NEG_UNKNOWN) {
            all_agreed = false;
            res->decided = false;
        }
    }
    if (res->first_fail >= 0)
        res->outcome = NEG_OUTCOME_FAIL;
    else if (all_agreed)
        res->outcome = NEG_OUTCOME_OK;
    else
        res->outcome = NEG_OUTCOME_OPEN;
    return 0;
}

enum negotiate_slot negotiate_check_order(size_t i)
{
    return i < NEG_NSLOTS ? check_order[i] : NEG_NSLOTS;
}

static const char *const slot_names[NEG_NSLOTS] = {
    "kex", "hostkey", "cipher_c2s", "cipher_s2c", "mac_c2s", "mac_s2c", "comp_c2s", "comp_s2c",
};

const char *negotiate_slot_name(enum negotiate_slot slot)
{
    return (unsigned)slot < NEG_NSLOTS ? slot_names[slot] : NULL;
}

int negotiate_slot_from_name(const char *name)
{
    for (int i = 0; name && i < NEG_NSLOTS; i++)
        if (strcmp(name, slot_names[i]) == 0)
            return i;
    return -1;
}

enum algo_category negotiate_slot_category(enum negotiate_slot slot)
{
    static const enum algo_category cat[NEG_NSLOTS] = {
        ALGO_KEX, ALGO_HOSTKEY, ALGO_CIPHER, ALGO_CIPHER,
        ALGO_MAC, ALGO_MAC,     ALGO_COMPRESSION, ALGO_COMPRESSION,
    };
    return (unsigned)slot < NEG_NSLOTS ? cat[slot] : ALGO_NCATEGORIES;
}

const char *negotiate_slot_direction(enum negotiate_slot slot)
{
    switch (slot) {
    case NEG_CIPHER_C2S:
    case NEG_MAC_C2S:
    case NEG_COMP_C2S:
        return "c2s";
    case NEG_CIPHER_S2C:
    case NEG_MAC_S2C:
    case NEG_COMP_S2C:
        return "s2c";
    default:
        return NULL;
    }
}

const char *negotiate_status_name(enum negotiate_status status)
{
    static const char *const names[] = { "unknown", "agreed", "no-match", "implicit" };
    return (unsigned)status <= NEG_IMPLICIT ? names[status] : NULL;
}

/* ------------------------------------------------------------ MD5 (RFC 1321) */

struct md5 {
    uint32_t h[4];
    uint64_t bytes;
    unsigned char buf[64];
    size_t nbuf;
};

/* T[i] = floor(2^32 * |sin(i + 1)|), RFC 1321 section 3.4. */
static const uint32_t md5_t[64] = {
    0xd76aa478u, 0xe8c7b756u, 0x242070dbu, 0xc1bdceeeu, 0xf57c0fafu, 0x4787c62au, 0xa8304613u,
    0xfd469501u, 0x698098d8u, 0x8b44f7afu, 0xffff5bb1u, 0x895cd7beu, 0x6b901122u, 0xfd987193u,
    0xa679438eu, 0x49b40821u, 0xf61e2562u, 0xc040b340u, 0x265e5a51u, 0xe9b6c7aau, 0xd62f105du,
    0x02441453u, 0xd8a1e681u, 0xe7d3fbc8u, 0x21e1cde6u, 0xc33707d6u, 0xf4d50d87u, 0x455a14edu,
    0xa9e3e905u, 0xfcefa3f8u, 0x676f02d9u, 0x8d2a4c8au, 0xfffa3942u, 0x8771f681u, 0x6d9d6122u,
    0xfde5380cu, 0xa4beea44u, 0x4bdecfa9u, 0xf6bb4b60u, 0xbebfbc70u, 0x289b7ec6u, 0xeaa127fau,
    0xd4ef3085u, 0x04881d05u, 0xd9d4d039u, 0xe6db99e5u, 0x1fa27cf8u, 0xc4ac5665u, 0xf4292244u,
    0x432aff97u, 0xab9423a7u, 0xfc93a039u, 0x655b59c3u, 0x8f0ccc92u, 0xffeff47du, 0x85845dd1u,
    0x6fa87e4fu, 0xfe2ce6e0u, 0xa3014314u, 0x4e0811a1u, 0xf7537e82u, 0xbd3af235u, 0x2ad7d2bbu,
    0xeb86d391u,
};

/* Rotation amounts, four per round (RFC 1321 section 3.4). */
static const unsigned char md5_r[4][4] = {
    { 7, 12, 17, 22 }, { 5, 9, 14, 20 }, { 4, 11, 16, 23 }, { 6, 10, 15, 21 },
};

static uint32_t rotl(uint32_t x, unsigned n)
{
    return (x << n) | (x >> (32 - n));
}

static void md5_block(uint32_t h[4], const unsigned char *p)
{
    uint32_t x[16];
    for (int i = 0; i < 16; i++)
        x[i] = (uint32_t)p[4 * i] | (uint32_t)p[4 * i + 1] << 8 | (uint32_t)p[4 * i + 2] << 16 |
               (uint32_t)p[4 * i + 3] << 24;
    uint32_t a = h[0], b = h[1], c = h[2], d = h[3];
    for (unsigned i = 0; i < 64; i++) {
        unsigned round = i / 16, k;
        uint32_t f;
        switch (round) {
        case 0:
            f = (b & c) | (~b & d);
            k = i;
            break;
        case 1:
            f = (b & d) | (c & ~d);
            k = (5 * i + 1) % 16;
            break;
        case 2:
            f = b ^ c ^ d;
            k = (3 * i + 5) % 16;
            break;
        default:
            f = c ^ (b | ~d);
            k = (7 * i) % 16;
            break;
        }
        uint32_t t = d;
        d = c;
        c = b;
        b = b + rotl(a + f + md5_t[i] + x[k], md5_r[round][i % 4]);
        a = t;
    }
    h[0] += a;
    h[1] += b;
    h[2] += c;
    h[3] += d;
}

static void md5_init(struct md5 *m)
{
    m->h[0] = 0x67452301u;
    m->h[1] = 0xefcdab89u;
    m->h[2] = 0x98badcfeu;
    m->h[3] = 0x10325476u;
    m->bytes = 0;
    m->nbuf = 0;
}

static void md5_update(struct md5 *m, const void *data, size_t n)
{
    const unsigned char *p = data;
    m->bytes += n;
    if (m->nbuf) {
        size_t take = 64 - m->nbuf < n ? 64 - m->nbuf : n;
        memcpy(m->buf + m->nbuf, p, take);
        m->nbuf += take;
        p += take;
        n -= take;
        if (m->nbuf < 64)
            return;
        md5_block(m->h, m->buf);
        m->nbuf = 0;
    }
    for (; n >= 64; p += 64, n -= 64)
        md5_block(m->h, p);
    memcpy(m->buf, p, n);
    m->nbuf = n;
}

static void md5_hex_final(struct md5 *m, char out[33])
{
    /* Pad with 0x80 and zeros to 56 mod 64 bytes, then the bit length,
     * little-endian (RFC 1321 sections 3.1 and 3.2). */
    uint64_t bits = m->bytes * 8;
    unsigned char pad[72] = { 0x80 };
    size_t padlen = (m->nbuf < 56 ? 56 : 120) - m->nbuf;
    for (int i = 0; i < 8; i++)
        pad[padlen + (size_t)i] = (unsigned char)(bits >> (8 * i));
    md5_update(m, pad, padlen + 8);
    static const char hex[] = "0123456789abcdef";
    for (int i = 0; i < 16; i++) {
        unsigned char byte = (unsigned char)(m->h[i / 4] >> (8 * (i % 4)));
        out[2 * i] = hex[byte >> 4];
        out[2 * i + 1] = hex[byte & 15];
    }
    out[32] = '\0';
}

void negotiate_md5_hex(const void *data, size_t len, char out[33])
{
    struct md5 m;
    md5_init(&m);
    if (data && len)
        md5_update(&m, data, len);
    md5_hex_final(&m, out);
}

/* Whether list l can be hashed as the client sent it. */
static bool list_whole(const struct negotiate_list *l)
{
    if (!l || l->partial)
        return false;
    for (size_t i = 0; i < l->count; i++)
        if (l->name[i].flags & (NAME_MAYBE | NAME_CUT))
            return false;
    return true;
}

static bool list_same(const struct negotiate_list *a, const struct negotiate_list *b)
{
    if (a->count != b->count)
        return false;
    for (size_t i = 0; i < a->count; i++)
        if (a->name[i].len != b->name[i].len || memcmp(list_str(a, i), list_str(b, i), a->name[i].len) != 0)
            return false;
    return true;
}

/* MD5 of the lists of parts[0..n) joined by ';' (names by ','); -1 when
 * one is not whole. */
static int hash_lists(const struct negotiate_list *const *lists, int n, char out[33])
{
    out[0] = '\0';
    for (int p = 0; p < n; p++)
        if (!list_whole(lists[p]))
            return -1;
    struct md5 m;
    md5_init(&m);
    for (int p = 0; p < n; p++) {
        const struct negotiate_list *l = lists[p];
        if (p)
            md5_update(&m, ";", 1);
        for (size_t i = 0; i < l->count; i++) {
            if (i)
                md5_update(&m, ",", 1);
            md5_update(&m, list_str(l, i), l->name[i].len);
        }
    }
    md5_hex_final(&m, out);
    return 0;
}

int negotiate_hassh(const struct negotiate_offer *client, char out[33])
{
    out[0] = '\0';
    if (!client)
        return -1;
    const struct negotiate_list *l[4] = {client->list[NEG_KEX], client->list[NEG_CIPHER_C2S],
                                         client->list[NEG_MAC_C2S], client->list[NEG_COMP_C2S]};
    return hash_lists(l, 4, out);
}

int negotiate_fingerprint(const struct negotiate_offer *client, char out[33])
{
    out[0] = '\0';
    if (!client)
        return -1;
    const struct negotiate_list *const *c = client->list;
    const struct negotiate_list *l[8] = {c[NEG_KEX],     c[NEG_HOSTKEY], c[NEG_CIPHER_C2S], c[NEG_MAC_C2S],
                                         c[NEG_COMP_C2S], NULL,          NULL,              NULL};
    /* the s2c lists count only where they say something the c2s ones do
     * not: many logs show one direction only */
    static const enum negotiate_slot s2c[3][2] = {
        {NEG_CIPHER_S2C, NEG_CIPHER_C2S}, {NEG_MAC_S2C, NEG_MAC_C2S}, {NEG_COMP_S2C, NEG_COMP_C2S}};
    bool differ = false;
    for (int k = 0; k < 3; k++) {
        const struct negotiate_list *a = c[s2c[k][0]], *b = c[s2c[k][1]];
        l[5 + k] = list_whole(a) ? a : b;
        if (list_whole(a) && list_whole(b) && !list_same(a, b))
            differ = true;
    }
    return hash_lists(l, differ ? 8 : 5, out);
}
