/* SPDX-License-Identifier: ISC */
#include "config.h"

#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "inventory.h"

struct matcher {
    char *text;         /* exact key (host name or address as written) */
    bool is_net;        /* text is an address or network too */
    struct cfg_net net;
};

struct entry {
    struct inv_device dev;
    bool is_group;
    struct matcher *m;
    size_t n_m;
    struct negotiate_list *owned[NEG_NSLOTS];
};

struct inventory {
    struct entry *e;
    size_t n;
};

static const enum negotiate_slot cat_slots[CFG_CAT_COUNT][2] = {
    [CFG_CAT_KEX] = {NEG_KEX, NEG_KEX},
    [CFG_CAT_HOSTKEY] = {NEG_HOSTKEY, NEG_HOSTKEY},
    [CFG_CAT_CIPHER] = {NEG_CIPHER_C2S, NEG_CIPHER_S2C},
    [CFG_CAT_MAC] = {NEG_MAC_C2S, NEG_MAC_S2C},
    [CFG_CAT_COMPRESSION] = {NEG_COMP_C2S, NEG_COMP_S2C},
};

static int parse_matcher(const char *text, struct matcher *m)
{
    memset(m, 0, sizeof *m);
    m->text = strdup(text);
    if (!m->text)
        return -1;
    /* anything that is not an address or network is a host name */
    m->is_net = cfg_parse_net(text, &m->net) == 0;
    return 0;
}

static bool matcher_hit(const struct matcher *m, const char *key, const struct sockaddr *src)
{
    if (key && strcasecmp(m->text, key) == 0)
        return true;
    return m->is_net && src && cfg_net_contains(&m->net, src);
}

static const struct cfg_device *find_group(const struct cfg *cfg, const char *name)
{
    for (size_t i = 0; i < cfg->n_devices; i++)
        if (cfg->devices[i].is_group && strcmp(cfg->devices[i].name, name) == 0)
            return &cfg->devices[i];
    return NULL;
}

static int build_entry(struct entry *e, const struct cfg *cfg, const struct cfg_device *d, const struct algo_db *db,
                       size_t *unknown)
{
    const struct cfg_device *g = d->group ? find_group(cfg, d->group) : NULL;
    e->is_group = d->is_group;
    e->dev.name = d->name;
    e->dev.vendor = d->vendor ? d->vendor : g ? g->vendor : NULL;
    e->dev.probe_port = d->probe_port ? d->probe_port : g ? g->probe_port : 0;
    e->m = calloc(d->n_match ? d->n_match : 1, sizeof *e->m);
    if (!e->m)
        return -1;
    for (size_t i = 0; i < d->n_match; i++) {
        if (parse_matcher(d->match[i], &e->m[i]) < 0)
            return -1;
        e->n_m++;
    }
    for (int cat = 0; cat < CFG_CAT_COUNT; cat++) {
        const struct cfg_list *cl = d->lists[cat].set ? &d->lists[cat] : g && g->lists[cat].set ? &g->lists[cat] : NULL;
        if (!cl)
            continue;
        /* join and reparse: the engine's parser applies its own limits */
        size_t total = 1;
        for (size_t i = 0; i < cl->n; i++)
            total += strlen(cl->names[i]) + 1;
        char *joined = malloc(total);
        if (!joined)
            return -1;
        size_t o = 0;
        for (size_t i = 0; i < cl->n; i++) {
            size_t l = strlen(cl->names[i]);
            memcpy(joined + o, cl->names[i], l);
            o += l;
            joined[o++] = ',';
        }
        joined[o] = '\0';
        struct negotiate_list *raw = NULL, *wire = NULL;
        int rc = negotiate_list_parse(joined, o, 0, &raw, NULL);
        free(joined);
        if (rc < 0)
            return -1;
        rc = negotiate_list_expand(db, e->dev.vendor, (enum algo_category)cat, raw, &wire);
        if (rc < 0) {
            negotiate_list_free(raw);
            return -1;
        }
        if (unknown)
            for (size_t i = 0; i < negotiate_list_count(raw); i++)
                if (!algo_db_find_str(db, (enum algo_category)cat, negotiate_list_name(raw, i)) &&
                    !(e->dev.vendor && algo_db_keyword(db, e->dev.vendor, (enum algo_category)cat,
                                                       negotiate_list_name(raw, i),
                                                       strlen(negotiate_list_name(raw, i)))))
                    (*unknown)++;
        negotiate_list_free(raw);
        e->owned[cat_slots[cat][0]] = wire;
        e->dev.list[cat_slots[cat][0]] = wire;
        e->dev.list[cat_slots[cat][1]] = wire;
    }
    return 0;
}

static void free_entry(struct entry *e)
{
    for (size_t i = 0; i < e->n_m; i++)
        free(e->m[i].text);
    free(e->m);
    for (int s = 0; s < NEG_NSLOTS; s++)
        negotiate_list_free(e->owned[s]);
}

struct inventory *inventory_new(const struct cfg *cfg, const struct algo_db *db, size_t *unknown_names)
{
    struct inventory *inv = calloc(1, sizeof *inv);
    if (!inv)
        return NULL;
    if (unknown_names)
        *unknown_names = 0;
    inv->e = calloc(cfg->n_devices ? cfg->n_devices : 1, sizeof *inv->e);
    if (!inv->e) {
        free(inv);
        return NULL;
    }
    /* devices first, so a device always wins over a group */
    for (int pass = 0; pass < 2; pass++) {
        for (size_t i = 0; i < cfg->n_devices; i++) {
            const struct cfg_device *d = &cfg->devices[i];
            if (d->is_group != (pass == 1))
                continue;
            if (build_entry(&inv->e[inv->n], cfg, d, db, unknown_names) < 0) {
                free_entry(&inv->e[inv->n]);
                inventory_free(inv);
                return NULL;
            }
            inv->n++;
        }
    }
    return inv;
}

void inventory_free(struct inventory *inv)
{
    if (!inv)
        return;
    for (size_t i = 0; i < inv->n; i++)
        free_entry(&inv->e[i]);
    free(inv->e);
    free(inv);
}

const struct inv_device *inventory_lookup(const struct inventory *inv, const char *key, const struct sockaddr *src)
{
    if (!inv)
        return NULL;
    for (size_t i = 0; i < inv->n; i++)
        for (size_t k = 0; k < inv->e[i].n_m; k++)
            if (matcher_hit(&inv->e[i].m[k], key, src))
                return &inv->e[i].dev;
    return NULL;
}

size_t inventory_count(const struct inventory *inv)
{
    return inv ? inv->n : 0;
}
