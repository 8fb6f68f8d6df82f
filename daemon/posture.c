/* SPDX-License-Identifier: ISC */
/* posture: `kexwatch posture`, the fleet's SSH server lists at a glance.
 * For every device with stored server lists (the newest learned or probed
 * list of each slot), the broken and weak algorithms it still offers
 * (ratings from the algorithm table), the client types that still need one
 * of them (from the successes in the database: removing it would break
 * them), and the vendor command that removes the rest, rendered by the
 * catalogue as remedies are (the device's platform from its vendor and the
 * software its server announced to a probe). */
#include "config.h"

#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "algo.h"
#include "catalogue.h"
#include "cfg.h"
#include "negotiate.h"
#include "negotiation.h"
#include "posture.h"
#include "query.h"
#include "store.h"
#include "text.h"

#define POSTURE_WINDOW (30 * 86400) /* successes looked at: --since, default 30 days */
#define POSTURE_ROUNDS 8            /* keep-back rounds per device (each adds at least one name) */

/* One client type that negotiated with a device: its label and lists per
 * category (client to server, as stored; NULL unknown). */
struct pcli {
    char *label;
    char *list[ALGO_NCATEGORIES];
};

struct pdev {
    char *key, *name, *vendor, *banner;
    int64_t probed_at;
    char *list[NEG_NSLOTS], *source[NEG_NSLOTS];
    int64_t at[NEG_NSLOTS];
    struct pcli *cli;
    size_t ncli, capcli;
    unsigned unknown; /* client types whose lists are not all known */
};

struct fleet {
    struct pdev *dev;
    size_t n, cap;
    bool oom;
};

static char *dup_value(const struct store_value *v)
{
    return v->is_null || !v->text ? NULL : strdup(v->text);
}

static struct pdev *find_dev(struct fleet *f, const char *key)
{
    /* rows come sorted by key; a device's rows are adjacent */
    for (size_t i = f->n; i-- > 0;)
        if (strcmp(f->dev[i].key, key) == 0)
            return &f->dev[i];
    return NULL;
}

/* store_posture_lists: one row per device and slot */
static int collect_list(void *arg, size_t ncol, const char *const *names, const struct store_value *v)
{
    struct fleet *f = arg;
    (void)names;
    if (ncol != 9 || !v[0].text || !v[3].text)
        return 0;
    int slot = negotiate_slot_from_name(v[3].text);
    if (slot < 0)
        return 0;
    struct pdev *d = f->n && strcmp(f->dev[f->n - 1].key, v[0].text) == 0 ? &f->dev[f->n - 1] : NULL;
    if (!d) {
        if (f->n == f->cap) {
            size_t nc = f->cap ? 2 * f->cap : 64;
            struct pdev *nd = realloc(f->dev, nc * sizeof *nd);
            if (!nd)
                goto oom;
            f->dev = nd;
            f->cap = nc;
        }
        d = &f->dev[f->n++];
        memset(d, 0, sizeof *d);
        d->key = strdup(v[0].text);
        d->name = dup_value(&v[1]);
        d->vendor = dup_value(&v[2]);
        d->banner = dup_value(&v[7]);
        d->probed_at = v[8].is_int ? v[8].num : 0;
        if (!d->key)
            goto oom;
    }
    /* ties: the last row (probed sorts after learned) wins */
    if (d->list[slot] && d->at[slot] > v[6].num)
        return 0;
    free(d->list[slot]);
    free(d->source[slot]);
    d->list[slot] = dup_value(&v[5]);
    d->source[slot] = dup_value(&v[4]);
    d->at[slot] = v[6].num;
    return 0;
oom:
    f->oom = true;
    return -1;
}

/* store_posture_clients: one row per device and client type */
static int collect_client(void *arg, size_t ncol, const char *const *names, const struct store_value *v)
{
    struct fleet *f = arg;
    (void)names;
    if (ncol != 8 || !v[0].text)
        return 0;
    struct pdev *d = find_dev(f, v[0].text);
    if (!d)
        return 0;
    bool known = true;
    for (int c = 0; c < ALGO_NCATEGORIES; c++)
        known = known && !v[3 + c].is_null;
    if (!known) {
        d->unknown++;
        return 0;
    }
    if (d->ncli == d->capcli) {
        size_t nc = d->capcli ? 2 * d->capcli : 8;
        struct pcli *n = realloc(d->cli, nc * sizeof *n);
        if (!n) {
            f->oom = true;
            return -1;
        }
        d->cli = n;
        d->capcli = nc;
    }
    struct pcli *c = &d->cli[d->ncli++];
    memset(c, 0, sizeof *c);
    const char *sw = v[1].text, *fp = v[2].text;
    size_t len = (sw ? strlen(sw) : 9) + (fp ? strlen(fp) : 0) + 4;
    if ((c->label = malloc(len)))
        snprintf(c->label, len, "%s%s%s%s", sw ? sw : "(unknown)", fp ? " (" : "", fp ? fp : "", fp ? ")" : "");
    for (int k = 0; k < ALGO_NCATEGORIES; k++)
        c->list[k] = dup_value(&v[3 + k]);
    return 0;
}

static void fleet_free(struct fleet *f)
{
    for (size_t i = 0; i < f->n; i++) {
        struct pdev *d = &f->dev[i];
        free(d->key);
        free(d->name);
        free(d->vendor);
        free(d->banner);
        for (int s = 0; s < NEG_NSLOTS; s++) {
            free(d->list[s]);
            free(d->source[s]);
        }
        for (size_t k = 0; k < d->ncli; k++) {
            free(d->cli[k].label);
            for (int c = 0; c < ALGO_NCATEGORIES; c++)
                free(d->cli[k].list[c]);
        }
        free(d->cli);
    }
    free(f->dev);
}

/* The slot that holds a category's list in the posture (client to server;
 * servers configure both directions alike). */
static enum negotiate_slot category_slot(enum algo_category c)
{
    static const enum negotiate_slot s[ALGO_NCATEGORIES] = {
        [ALGO_KEX] = NEG_KEX, [ALGO_HOSTKEY] = NEG_HOSTKEY, [ALGO_CIPHER] = NEG_CIPHER_C2S,
        [ALGO_MAC] = NEG_MAC_C2S, [ALGO_COMPRESSION] = NEG_COMP_C2S,
    };
    return s[c];
}

/* The software of an identification line: "SSH-2.0-OpenSSH_9.2p1 Debian"
 * gives "OpenSSH_9.2p1". */
static void banner_software(const char *banner, char *out, size_t size)
{
    out[0] = '\0';
    if (!banner || strncmp(banner, "SSH-", 4) != 0)
        return;
    const char *p = strchr(banner + 4, '-');
    if (!p)
        return;
    p++;
    size_t len = strcspn(p, " ");
    snprintf(out, size, "%.*s", (int)(len < size ? len : size - 1), p);
}

/* What posture found for one category of one device. */
struct pcat {
    bool present;
    json_t *bad;       /* [{"name", "rating", "needed_by": [...]}] */
    char *keep;        /* comma-joined names of the server list to keep (bad ones needed included) */
    bool change;       /* keep differs from the offered list */
};

static bool list_has(const char *csv, const char *name)
{
    size_t n = strlen(name);
    for (const char *p = csv; p && *p;) {
        size_t len = strcspn(p, ",");
        if (len == n && memcmp(p, name, n) == 0)
            return true;
        p += len + (p[len] == ',');
    }
    return false;
}

/* The offered list without the bad names not in keep (a comma list). */
static char *pruned(const struct algo_db *db, enum algo_category cat, const char *offered, const char *keep)
{
    size_t cap = strlen(offered) + 1;
    char *out = malloc(cap);
    if (!out)
        return NULL;
    out[0] = '\0';
    size_t used = 0;
    for (const char *p = offered; *p;) {
        size_t len = strcspn(p, ",");
        char name[256];
        snprintf(name, sizeof name, "%.*s", (int)(len < sizeof name ? len : sizeof name - 1), p);
        enum algo_rating r = algo_entry_rating(algo_db_find_str(db, cat, name));
        if ((r != ALGO_RATING_BROKEN && r != ALGO_RATING_WEAK) || list_has(keep, name)) {
            used += (size_t)snprintf(out + used, cap - used, "%s%s", used ? "," : "", name);
        }
        p += len + (p[len] == ',');
    }
    return out;
}

static struct negotiate_list *parse(const char *csv)
{
    struct negotiate_list *l = NULL;
    if (csv && negotiate_list_parse(csv, strlen(csv), 0, &l, NULL) < 0)
        return NULL;
    return l;
}

static char *append_name(char *csv, const char *name)
{
    size_t len = csv ? strlen(csv) : 0;
    char *n = realloc(csv, len + strlen(name) + 2);
    if (!n)
        return csv;
    snprintf(n + len, strlen(name) + 2, "%s%s", len ? "," : "", name);
    return n;
}

/* Decides, for one device, which bad names its clients still need: each
 * client type is negotiated against the lists without the bad names; a
 * slot it agreed on before and cannot now keeps the name it agreed on. */
static void judge_device(const struct algo_db *db, const struct pdev *d, struct pcat cat[ALGO_NCATEGORIES])
{
    char *keep[ALGO_NCATEGORIES] = {NULL};
    json_t *needed = json_object(); /* "cat\x1fname" -> [client labels] */
    for (int round = 0; round < POSTURE_ROUNDS; round++) {
        struct negotiate_offer orig = {{0}}, less = {{0}};
        struct negotiate_list *owned[2 * NEG_NSLOTS] = {NULL};
        for (int s = 0; s < NEG_NSLOTS; s++) {
            enum algo_category c = negotiate_slot_category((enum negotiate_slot)s);
            orig.list[s] = owned[s] = parse(d->list[s]);
            char *p = d->list[s] ? pruned(db, c, d->list[s], keep[c] ? keep[c] : "") : NULL;
            less.list[s] = owned[NEG_NSLOTS + s] = parse(p);
            free(p);
        }
        bool added = false;
        for (size_t k = 0; k < d->ncli; k++) {
            const struct pcli *cl = &d->cli[k];
            struct negotiate_offer co = {{0}};
            struct negotiate_list *cown[ALGO_NCATEGORIES] = {NULL};
            for (int c = 0; c < ALGO_NCATEGORIES; c++)
                cown[c] = parse(cl->list[c]);
            for (int s = 0; s < NEG_NSLOTS; s++)
                co.list[s] = cown[negotiate_slot_category((enum negotiate_slot)s)];
            struct negotiate_result before, after;
            negotiate_run(db, &co, &orig, &before);
            negotiate_run(db, &co, &less, &after);
            for (int s = 0; s < NEG_NSLOTS; s++) {
                const char *name = before.slot[s].agreed;
                if (before.slot[s].status != NEG_AGREED || after.slot[s].status != NEG_NO_MATCH || !name)
                    continue;
                enum algo_category c = negotiate_slot_category((enum negotiate_slot)s);
                char nk[320];
                snprintf(nk, sizeof nk, "%d\x1f%s", (int)c, name);
                json_t *who = json_object_get(needed, nk);
                if (!who) {
                    json_object_set_new(needed, nk, who = json_array());
                    keep[c] = append_name(keep[c], name);
                    added = true;
                }
                bool dup = false;
                for (size_t w = 0; w < json_array_size(who); w++)
                    dup = dup || strcmp(json_string_value(json_array_get(who, w)), cl->label) == 0;
                if (!dup && cl->label)
                    json_array_append_new(who, json_string(cl->label));
            }
            for (int c = 0; c < ALGO_NCATEGORIES; c++)
                negotiate_list_free(cown[c]);
        }
        for (int s = 0; s < 2 * NEG_NSLOTS; s++)
            negotiate_list_free(owned[s]);
        if (!added)
            break;
    }
    for (int c = 0; c < ALGO_NCATEGORIES; c++) {
        const char *offered = d->list[category_slot((enum algo_category)c)];
        cat[c] = (struct pcat){.present = offered != NULL, .bad = json_array()};
        if (!offered)
            continue;
        for (const char *p = offered; *p;) {
            size_t len = strcspn(p, ",");
            char name[256];
            snprintf(name, sizeof name, "%.*s", (int)(len < sizeof name ? len : sizeof name - 1), p);
            p += len + (p[len] == ',');
            enum algo_rating r = algo_entry_rating(algo_db_find_str(db, (enum algo_category)c, name));
            if (r != ALGO_RATING_BROKEN && r != ALGO_RATING_WEAK)
                continue;
            char nk[320];
            snprintf(nk, sizeof nk, "%d\x1f%s", c, name);
            json_t *who = json_object_get(needed, nk);
            json_t *b = json_object();
            json_object_set_new(b, "name", json_string(name));
            json_object_set_new(b, "rating", json_string(algo_rating_name(r)));
            json_object_set_new(b, "needed_by", who ? json_incref(who) : json_array());
            json_array_append_new(cat[c].bad, b);
        }
        cat[c].keep = pruned(db, (enum algo_category)c, offered, keep[c] ? keep[c] : "");
        cat[c].change = cat[c].keep && strcmp(cat[c].keep, offered) != 0;
    }
    json_decref(needed);
    for (int c = 0; c < ALGO_NCATEGORIES; c++)
        free(keep[c]);
}

/* The names of a list as JSON, markers (ext-info-s, kex-strict-*) left out. */
static json_t *csv_array(const struct algo_db *db, const char *csv)
{
    json_t *a = json_array();
    for (const char *p = csv; p && *p;) {
        size_t len = strcspn(p, ",");
        if (algo_db_is_marker(db, p, len)) {
            p += len + (p[len] == ',');
            continue;
        }
        char buf[3 * 256 + 4];
        text_to_utf8(buf, sizeof buf, p, len);
        json_array_append_new(a, json_string(buf));
        p += len + (p[len] == ',');
    }
    return a;
}

static json_t *opt_text(const char *s)
{
    if (!s)
        return json_null();
    size_t cap = 3 * strlen(s) + 4;
    char *buf = malloc(cap);
    if (!buf)
        return json_null();
    text_to_utf8(buf, cap, s, strlen(s));
    json_t *j = json_string(buf);
    free(buf);
    return j ? j : json_null();
}

/* One device's posture as a JSON object. */
static json_t *device_object(const struct algo_db *db, const struct catalogue *catl, const struct pdev *d)
{
    char tbuf[40], sw[128];
    struct pcat cat[ALGO_NCATEGORIES];
    judge_device(db, d, cat);
    banner_software(d->banner, sw, sizeof sw);
    json_t *o = json_object();
    json_t *dev = json_object();
    json_object_set_new(dev, "key", opt_text(d->key));
    json_object_set_new(dev, "name", opt_text(d->name));
    json_object_set_new(dev, "vendor", opt_text(d->vendor));
    json_object_set_new(o, "device", dev);
    json_object_set_new(o, "banner", opt_text(d->banner));
    json_object_set_new(o, "probed_at",
                        d->probed_at ? json_string(text_rfc3339(tbuf, sizeof tbuf, d->probed_at, -1)) : json_null());
    json_object_set_new(o, "clients_seen", json_integer((json_int_t)(d->ncli + d->unknown)));
    json_object_set_new(o, "clients_lists_unknown", json_integer((json_int_t)d->unknown));
    json_t *cats = json_object(), *steps = json_array();
    struct negotiation n = {.device = d->key, .device_name = d->name, .vendor = d->vendor,
                            .server_software = sw[0] ? sw : NULL};
    bool safe = true;
    for (int c = 0; c < ALGO_NCATEGORIES; c++) {
        if (!cat[c].present) {
            json_decref(cat[c].bad);
            continue;
        }
        enum negotiate_slot s = category_slot((enum algo_category)c);
        json_t *co = json_object();
        json_object_set_new(co, "source", opt_text(d->source[s]));
        json_object_set_new(co, "learned_at", json_string(text_rfc3339(tbuf, sizeof tbuf, d->at[s], -1)));
        json_object_set_new(co, "offered", csv_array(db, d->list[s]));
        json_object_set_new(co, "weak", cat[c].bad);
        json_object_set_new(co, "new_list", cat[c].change ? csv_array(db, cat[c].keep) : json_null());
        if (cat[c].change) {
            char out[CATALOGUE_STEPS_SIZE];
            struct negotiate_list *l = parse(cat[c].keep);
            int rc = l && cat[c].keep[0] ? catalogue_render_list(catl, db, &n, c, l, out,
                                                                    sizeof out)
                                         : 0;
            negotiate_list_free(l);
            if (rc == 1)
                for (const char *p = out; *p;) {
                    size_t len = strcspn(p, "\n");
                    char buf[3 * CATALOGUE_STEPS_SIZE];
                    text_to_utf8(buf, sizeof buf, p, len);
                    /* begin/end lines (configure, commit) once */
                    bool dup = false;
                    for (size_t k = 0; k < json_array_size(steps); k++)
                        dup = dup || strcmp(json_string_value(json_array_get(steps, k)), buf) == 0;
                    if (!dup)
                        json_array_append_new(steps, json_string(buf));
                    p += len + (p[len] == '\n');
                }
            else
                safe = false;
        }
        free(cat[c].keep);
        json_object_set_new(cats, algo_category_name((enum algo_category)c), co);
    }
    json_object_set_new(o, "categories", cats);
    json_object_set_new(o, "steps", steps);
    json_object_set_new(o, "fix", json_string(json_array_size(steps) ? "apply steps"
                                              : safe                ? "nothing to remove"
                                                                    : "no command for this platform: edit the lists by hand"));
    return o;
}

/* ------------------------------------------------------------ output */

/* A received string for a terminal or a CSV cell: bytes outside printable
 * ASCII as \xHH (the query tool's rule). */
static void put_esc(FILE *f, const char *s)
{
    for (const unsigned char *p = (const unsigned char *)(s ? s : ""); *p; p++)
        if (*p < 0x20 || *p >= 0x7f)
            fprintf(f, "\\x%02X", *p);
        else
            fputc(*p, f);
}

static void put_csv(FILE *f, const char *s, bool last)
{
    fputc('"', f);
    for (const char *p = s ? s : ""; *p; p++) {
        if (*p == '"')
            fputc('"', f);
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            fprintf(f, "\\x%02X", (unsigned char)*p);
        else
            fputc(*p, f);
    }
    fputs(last ? "\"\r\n" : "\",", f);
}

static char *join_array(json_t *a, const char *sep)
{
    size_t len = 1;
    for (size_t i = 0; i < json_array_size(a); i++)
        len += strlen(json_string_value(json_array_get(a, i))) + strlen(sep);
    char *s = calloc(1, len);
    for (size_t i = 0; s && i < json_array_size(a); i++) {
        if (i)
            strcat(s, sep);
        strcat(s, json_string_value(json_array_get(a, i)));
    }
    return s;
}

static const char *jstr(json_t *o, const char *k)
{
    const char *s = json_string_value(json_object_get(o, k));
    return s ? s : "";
}

static void print_table(FILE *f, json_t *all)
{
    size_t i;
    json_t *o;
    json_array_foreach(all, i, o) {
        json_t *dev = json_object_get(o, "device");
        fputs(i ? "\ndevice " : "device ", f);
        put_esc(f, jstr(dev, "key"));
        if (json_string_value(json_object_get(dev, "name"))) {
            fputs(" (", f);
            put_esc(f, jstr(dev, "name"));
            fputc(')', f);
        }
        if (json_string_value(json_object_get(o, "banner"))) {
            fputs(": ", f);
            put_esc(f, jstr(o, "banner"));
            fprintf(f, ", probed %s", jstr(o, "probed_at"));
        }
        fprintf(f, "; %lld client type(s) connected in the window",
                (long long)json_integer_value(json_object_get(o, "clients_seen")));
        if (json_integer_value(json_object_get(o, "clients_lists_unknown")))
            fprintf(f, " (%lld of them without known lists: raise the device's log level to see what they need)",
                    (long long)json_integer_value(json_object_get(o, "clients_lists_unknown")));
        fputc('\n', f);
        const char *k;
        json_t *c;
        json_object_foreach(json_object_get(o, "categories"), k, c) {
            char *offered = join_array(json_object_get(c, "offered"), ",");
            fprintf(f, "  %-11s %s %s: ", k, jstr(c, "source"), jstr(c, "learned_at"));
            put_esc(f, offered);
            fputc('\n', f);
            free(offered);
            size_t j;
            json_t *b;
            json_array_foreach(json_object_get(c, "weak"), j, b) {
                fprintf(f, "    %-7s ", jstr(b, "rating"));
                put_esc(f, jstr(b, "name"));
                json_t *who = json_object_get(b, "needed_by");
                if (json_array_size(who)) {
                    char *w = join_array(who, ", ");
                    fputs("  kept: needed by ", f);
                    put_esc(f, w);
                    free(w);
                } else {
                    fputs("  remove: no client in the window needs it", f);
                }
                fputc('\n', f);
            }
        }
        json_t *steps = json_object_get(o, "steps");
        if (json_array_size(steps)) {
            fputs("  fix:\n", f);
            size_t j;
            json_t *st;
            json_array_foreach(steps, j, st) {
                fputs("    ", f);
                put_esc(f, json_string_value(st));
                fputc('\n', f);
            }
        } else {
            fprintf(f, "  fix: %s\n", jstr(o, "fix"));
        }
    }
}

/* One row per broken or weak algorithm a device offers. */
static void print_csv(FILE *f, json_t *all)
{
    fputs("device,category,algorithm,rating,needed_by,source,learned_at,fix\r\n", f);
    size_t i;
    json_t *o;
    json_array_foreach(all, i, o) {
        char *fix = join_array(json_object_get(o, "steps"), "; ");
        const char *k;
        json_t *c;
        json_object_foreach(json_object_get(o, "categories"), k, c) {
            size_t j;
            json_t *b;
            json_array_foreach(json_object_get(c, "weak"), j, b) {
                char *who = join_array(json_object_get(b, "needed_by"), "; ");
                put_csv(f, jstr(json_object_get(o, "device"), "key"), false);
                put_csv(f, k, false);
                put_csv(f, jstr(b, "name"), false);
                put_csv(f, jstr(b, "rating"), false);
                put_csv(f, who, false);
                put_csv(f, jstr(c, "source"), false);
                put_csv(f, jstr(c, "learned_at"), false);
                put_csv(f, fix, true);
                free(who);
            }
        }
        free(fix);
    }
}

static void help(FILE *f)
{
    fprintf(f,
            "Usage: kexwatch [-c CONFIG | --db PATH] posture [--since 30d] [--format table|json|csv]\n"
            "Every device with stored server lists (the newest learned or probed list per slot): the\n"
            "broken and weak algorithms it still offers (ratings of the algorithm table), the client\n"
            "types that connected to it since --since ago and still need one of them (removing it\n"
            "would break them: it is kept), and the vendor command that removes the rest. Client\n"
            "types whose lists were not logged are counted, not judged. CSV: one row per broken or\n"
            "weak algorithm offered.\n");
}

int posture_command(const char *cfg_path, const char *db_path, int argc, char **argv)
{
    static const struct option opts[] = {
        {"db", required_argument, NULL, 'd'},     {"since", required_argument, NULL, 's'},
        {"format", required_argument, NULL, 'f'}, {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *fmt = "table";
    int64_t window = POSTURE_WINDOW;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'd': db_path = optarg; break;
        case 's':
            if (cfg_parse_duration64(optarg, &window) < 0) {
                fprintf(stderr, "kexwatch posture: --since takes a duration such as 30d\n");
                return 2;
            }
            break;
        case 'f': fmt = optarg; break;
        case 'h': help(stdout); return 0;
        default: help(stderr); return 2;
        }
    }
    if (strcmp(fmt, "table") != 0 && strcmp(fmt, "json") != 0 && strcmp(fmt, "csv") != 0) {
        fprintf(stderr, "kexwatch posture: --format is table, json or csv\n");
        return 2;
    }
    if (optind < argc) {
        fprintf(stderr, "kexwatch posture: unexpected argument '%s'\n", argv[optind]);
        return 2;
    }
    struct cfg *cfg = NULL;
    if (cfg_path) {
        struct cfg_errors errs = {0};
        if (cfg_load(cfg_path, &cfg, &errs) < 0) {
            for (size_t i = 0; i < errs.n; i++)
                fprintf(stderr, "%s\n", errs.msgs[i]);
            cfg_errors_free(&errs);
            return 1;
        }
    } else if (!(cfg = cfg_new_default())) {
        fprintf(stderr, "kexwatch posture: out of memory\n");
        return 1;
    }
    struct algo_db *db = NULL;
    struct catalogue *catl = NULL;
    struct store *s = NULL;
    struct fleet f = {0};
    char err[1024];
    int rc = 1;
    if (algo_db_load(cfg->algorithms, cfg->keywords, &db, err, sizeof err) < 0 ||
        catalogue_load(cfg->catalogue, &catl, err, sizeof err) < 0) {
        fprintf(stderr, "kexwatch posture: %s\n", err);
        goto out;
    }
    if (query_open_store("posture", cfg_path, db_path, &s) < 0)
        goto out;
    int64_t since = (int64_t)time(NULL) - (int64_t)window;
    if (store_posture_lists(s, collect_list, &f, err, sizeof err) < 0 ||
        store_posture_clients(s, since, collect_client, &f, err, sizeof err) < 0 || f.oom) {
        fprintf(stderr, "kexwatch posture: %s\n", f.oom ? "out of memory" : err);
        goto out;
    }
    json_t *all = json_array();
    for (size_t i = 0; i < f.n; i++)
        json_array_append_new(all, device_object(db, catl, &f.dev[i]));
    if (strcmp(fmt, "json") == 0) {
        json_dumpf(all, stdout, JSON_INDENT(1));
        fputc('\n', stdout);
    } else if (strcmp(fmt, "csv") == 0) {
        print_csv(stdout, all);
    } else if (!f.n) {
        printf("no device has stored server lists (enable [probe], or raise the devices' log level)\n");
    } else {
        print_table(stdout, all);
    }
    json_decref(all);
    rc = ferror(stdout) ? 1 : 0;
out:
    fleet_free(&f);
    store_close(s);
    catalogue_free(catl);
    algo_db_free(db);
    cfg_free(cfg);
    return rc;
}
