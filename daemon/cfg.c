/* SPDX-License-Identifier: ISC */
#include "config.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <ini.h>

#include "cfg.h"
#include "log.h"

#define CFG_DEFAULT_MAX_MESSAGE 65536
/* bursts of 60-100k msg/s overflow the kernel default (about 208 KiB) */
#define CFG_DEFAULT_UDP_RCVBUF (8 * 1024 * 1024)
#define CFG_MAX_MESSAGE_LIMIT (16u * 1024 * 1024)

static const char *const category_names[CFG_CAT_COUNT] = {"kex", "hostkey", "cipher", "mac", "compression"};

const char *cfg_category_name(enum cfg_category c)
{
    return (unsigned)c < CFG_CAT_COUNT ? category_names[c] : "?";
}

/* ------------------------------------------------------------ small parsers */

static int parse_uint(const char *text, unsigned long long max, unsigned long long *out)
{
    if (!*text || !isdigit((unsigned char)*text))
        return -1;
    errno = 0;
    char *end;
    unsigned long long v = strtoull(text, &end, 10);
    if (errno || *end || v > max)
        return -1;
    *out = v;
    return 0;
}

int cfg_parse_duration64(const char *text, int64_t *seconds)
{
    if (!*text || !isdigit((unsigned char)*text))
        return -1;
    errno = 0;
    char *end;
    unsigned long long v = strtoull(text, &end, 10);
    int too_large = errno == ERANGE;
    if (errno && !too_large)
        return -1;
    unsigned long long mul = 1;
    if (*end) {
        switch (*end) {
        case 's': mul = 1; break;
        case 'm': mul = 60; break;
        case 'h': mul = 3600; break;
        case 'd': mul = 86400; break;
        default: return -1;
        }
        if (end[1])
            return -1;
    }
    if (too_large || v > (unsigned long long)INT64_MAX / mul)
        return -2;
    *seconds = (int64_t)(v * mul);
    return 0;
}

int cfg_parse_duration(const char *text, unsigned *seconds)
{
    int64_t v;
    if (cfg_parse_duration64(text, &v) < 0 || v > (int64_t)UINT_MAX)
        return -1;
    *seconds = (unsigned)v;
    return 0;
}

int cfg_parse_net(const char *text, struct cfg_net *n)
{
    char host[64];
    const char *slash = strchr(text, '/');
    size_t hl = slash ? (size_t)(slash - text) : strlen(text);
    if (hl == 0 || hl >= sizeof host)
        return -1;
    memcpy(host, text, hl);
    host[hl] = '\0';
    memset(n, 0, sizeof *n);
    unsigned max;
    if (inet_pton(AF_INET, host, n->addr) == 1) {
        n->family = AF_INET;
        max = 32;
    } else if (inet_pton(AF_INET6, host, n->addr) == 1) {
        n->family = AF_INET6;
        max = 128;
    } else {
        return -1;
    }
    n->prefix = max;
    if (slash) {
        char *end;
        unsigned long p = strtoul(slash + 1, &end, 10);
        if (end == slash + 1 || *end || p > max)
            return -1;
        n->prefix = (unsigned)p;
    }
    return 0;
}

bool cfg_net_contains(const struct cfg_net *n, const struct sockaddr *sa)
{
    unsigned char a[16];
    int fam = sa->sa_family;
    if (fam == AF_INET) {
        memcpy(a, &((const struct sockaddr_in *)(const void *)sa)->sin_addr, 4);
    } else if (fam == AF_INET6) {
        const struct in6_addr *a6 = &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr;
        if (IN6_IS_ADDR_V4MAPPED(a6)) {
            fam = AF_INET;
            memcpy(a, &a6->s6_addr[12], 4);
        } else {
            memcpy(a, a6, 16);
        }
    } else {
        return false;
    }
    if (fam != n->family)
        return false;
    unsigned full = n->prefix / 8, rest = n->prefix % 8;
    if (memcmp(a, n->addr, full) != 0)
        return false;
    unsigned char mask = (unsigned char)(0xff << (8 - rest));
    return !rest || (a[full] & mask) == (n->addr[full] & mask);
}

/* "65536", "64k", "1m" (binary multiples) */
static int parse_size(const char *text, unsigned long long max, unsigned long long *out)
{
    if (!*text || !isdigit((unsigned char)*text))
        return -1;
    errno = 0;
    char *end;
    unsigned long long v = strtoull(text, &end, 10);
    if (errno)
        return -1;
    unsigned long long mul = 1;
    if (*end) {
        switch (tolower((unsigned char)*end)) {
        case 'k': mul = 1024; break;
        case 'm': mul = 1024 * 1024; break;
        case 'g': mul = 1024 * 1024 * 1024; break;
        default: return -1;
        }
        if (end[1] && !(tolower((unsigned char)end[1]) == 'i' && tolower((unsigned char)end[2]) == 'b' && !end[3]) &&
            !(tolower((unsigned char)end[1]) == 'b' && !end[2]))
            return -1;
    }
    if (v > max / mul)
        return -1;
    *out = v * mul;
    return 0;
}

static int parse_bool(const char *text, bool *out)
{
    static const char *const yes[] = {"yes", "true", "on", "1"};
    static const char *const no[] = {"no", "false", "off", "0"};
    for (size_t i = 0; i < 4; i++) {
        if (strcasecmp(text, yes[i]) == 0) {
            *out = true;
            return 0;
        }
        if (strcasecmp(text, no[i]) == 0) {
            *out = false;
            return 0;
        }
    }
    return -1;
}

int cfg_parse_addr(const char *text, struct cfg_addr *a)
{
    char host[INET6_ADDRSTRLEN + 2];
    const char *port;
    memset(a, 0, sizeof *a);
    if (text[0] == '[') {
        const char *close = strchr(text, ']');
        if (!close || close[1] != ':' || (size_t)(close - text - 1) >= sizeof host)
            return -1;
        memcpy(host, text + 1, (size_t)(close - text - 1));
        host[close - text - 1] = '\0';
        port = close + 2;
    } else {
        const char *colon = strrchr(text, ':');
        if (!colon || strchr(text, ':') != colon || (size_t)(colon - text) >= sizeof host)
            return -1;
        memcpy(host, text, (size_t)(colon - text));
        host[colon - text] = '\0';
        port = colon + 1;
    }
    unsigned long long p;
    if (parse_uint(port, 65535, &p) < 0)
        return -1;
    struct sockaddr_in *sin = (struct sockaddr_in *)&a->ss;
    struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&a->ss;
    if (inet_pton(AF_INET, host, &sin->sin_addr) == 1) {
        sin->sin_family = AF_INET;
        sin->sin_port = htons((uint16_t)p);
        a->len = sizeof *sin;
        snprintf(a->text, sizeof a->text, "%s:%llu", host, p);
    } else if (inet_pton(AF_INET6, host, &sin6->sin6_addr) == 1) {
        sin6->sin6_family = AF_INET6;
        sin6->sin6_port = htons((uint16_t)p);
        a->len = sizeof *sin6;
        snprintf(a->text, sizeof a->text, "[%s]:%llu", host, p);
    } else {
        return -1;
    }
    return 0;
}

/* ---------------------------------------------------------- parse context */

/* inih reads at most INI_MAX_LINE bytes a line (200 in Debian's build), but
 * algorithm lists are longer. The reader below hands inih a long line in
 * pieces, the later ones indented so inih reports them as continuation lines;
 * the handler glues the pieces back together exactly. It also counts lines,
 * which inih's handler does not get, so errors can name file:line. */
struct section {
    char *name; /* as written between [ ] */
    int line;
};

struct entry { /* one key=value, collected across its continuation pieces */
    char *section;
    char *name;
    char *value;
    size_t value_len;
    int line;
    bool active;
};

struct ctx {
    FILE *f;
    const char *path;
    int line;           /* physical line last read */
    char *phys;         /* physical line being handed out in pieces */
    size_t phys_cap, phys_len, phys_off;
    bool piece;         /* the chunk just returned continues a split line */
    bool indented;      /* the physical line just read started with blanks */
    struct section *sections;
    size_t n_sections;
    struct entry cur;
    struct cfg *cfg;
    struct cfg_errors *errs;
    int *linemap;       /* physical line of each line handed to inih */
    size_t n_linemap, cap_linemap;
    bool keys_pass;     /* second pass: report syntax errors */
    int syntax_errors;
    bool oom;
};

static void add_error(struct ctx *x, int line, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void add_error(struct ctx *x, int line, const char *fmt, ...)
{
    char buf[1024];
    int n = line > 0 ? snprintf(buf, sizeof buf, "%s:%d: ", x->path, line) : snprintf(buf, sizeof buf, "%s: ", x->path);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf + n, sizeof buf - (size_t)n, fmt, ap);
    va_end(ap);
    char **v = realloc(x->errs->msgs, (x->errs->n + 1) * sizeof *v);
    if (!v || !(v[x->errs->n] = strdup(buf))) {
        if (v)
            x->errs->msgs = v;
        x->oom = true;
        return;
    }
    x->errs->msgs = v;
    x->errs->n++;
}

static bool is_blank(int c)
{
    return c == ' ' || c == '\t';
}

/* a split point where neither side is blank nor a comment start, so inih's
 * trimming and inline-comment rules cannot change the glued value */
static size_t split_point(const char *s, size_t len, size_t max)
{
    for (size_t k = max; k > max / 2; k--)
        if (k < len && !is_blank(s[k - 1]) && !is_blank(s[k]) && s[k] != ';' && s[k] != '#')
            return k;
    return max;
}

static char *cfg_reader(char *str, int num, void *stream)
{
    struct ctx *x = stream;
    size_t room = (size_t)num - 2; /* inih needs space for the NUL; keep one spare */
    x->piece = false;
    if (x->n_linemap == x->cap_linemap) {
        size_t cap = x->cap_linemap ? x->cap_linemap * 2 : 64;
        int *m = realloc(x->linemap, cap * sizeof *m);
        if (!m) {
            x->oom = true;
            return NULL;
        }
        x->linemap = m;
        x->cap_linemap = cap;
    }
    if (x->phys && x->phys_off < x->phys_len) {
        x->linemap[x->n_linemap++] = x->line;
        const char *rest = x->phys + x->phys_off;
        size_t left = x->phys_len - x->phys_off;
        size_t k = left <= room - 1 ? left : split_point(rest, left, room - 1);
        str[0] = ' ';
        memcpy(str + 1, rest, k);
        str[k + 1] = '\0';
        x->phys_off += k;
        x->piece = true;
        return str;
    }
    ssize_t got = getline(&x->phys, &x->phys_cap, x->f);
    if (got < 0)
        return NULL;
    x->line++;
    x->linemap[x->n_linemap++] = x->line;
    size_t len = (size_t)got;
    while (len && (x->phys[len - 1] == '\n' || x->phys[len - 1] == '\r'))
        len--;
    x->phys[len] = '\0';
    x->phys_len = len;
    x->indented = len && is_blank(x->phys[0]);
    size_t skip = 0;
    while (skip < len && is_blank(x->phys[skip]))
        skip++;
    bool comment = skip < len && (x->phys[skip] == ';' || x->phys[skip] == '#');
    /* inih reports only its first syntax error; find them all here */
    if (x->keys_pass && skip < len && !comment && !x->indented) {
        bool bad = x->phys[skip] == '[' ? !strchr(x->phys + skip, ']')
                                        : !strchr(x->phys + skip, '=') && !strchr(x->phys + skip, ':');
        if (bad) {
            add_error(x, x->line, "syntax error (expected [section], key = value, or a ; or # comment)");
            x->syntax_errors++;
        }
    }
    size_t k = len <= room ? len : (comment ? room : split_point(x->phys, len, room));
    memcpy(str, x->phys, k);
    str[k] = '\0';
    x->phys_off = comment ? len : k;
    if (skip < len && x->phys[skip] == '[') {
        struct section *v = realloc(x->sections, (x->n_sections + 1) * sizeof *v);
        if (!v) {
            x->oom = true;
            return str;
        }
        x->sections = v;
        const char *b = x->phys + skip + 1;
        const char *e = strchr(b, ']');
        size_t n = e ? (size_t)(e - b) : strlen(b);
        v[x->n_sections].name = strndup(b, n);
        v[x->n_sections].line = x->line;
        if (!v[x->n_sections].name)
            x->oom = true;
        else
            x->n_sections++;
    }
    return str;
}

/* ------------------------------------------------------------- key tables */

enum ktype { K_ADDRS, K_SIZE, K_UINT, K_DURATION, K_BOOL, K_PATH, K_STRING, K_IDENTIFY, K_LOGLEVEL, K_ADDR,
             K_FORMAT, K_STDOUT, K_NETS, K_TLSVERIFY, K_STRLIST, K_URL };

struct keydef {
    const char *section;
    const char *name;
    enum ktype type;
    size_t offset;
    unsigned long long max; /* K_SIZE, K_UINT */
};

#define OFF(f) offsetof(struct cfg, f)
static const struct keydef keys[] = {
    {"daemon", "user", K_STRING, OFF(user), 0},
    {"daemon", "log_level", K_LOGLEVEL, OFF(log_level), 0},
    {"daemon", "max_memory", K_SIZE, OFF(max_memory), 1ULL << 40},
    {"listen", "udp", K_ADDRS, OFF(udp), 0},
    {"listen", "tcp", K_ADDRS, OFF(tcp), 0},
    {"listen", "max_message", K_SIZE, OFF(max_message), CFG_MAX_MESSAGE_LIMIT},
    {"listen", "max_connections", K_UINT, OFF(max_connections), 1000000},
    {"listen", "identify", K_IDENTIFY, OFF(identify), 0},
    {"listen", "udp_rcvbuf", K_SIZE, OFF(udp_rcvbuf), INT_MAX},
    {"listen", "tcp_idle_timeout", K_DURATION, OFF(tcp_idle_timeout), 0},
    {"listen", "tcp_max_buffer", K_SIZE, OFF(tcp_max_buffer), 1u << 30},
    {"listen", "tls", K_ADDRS, OFF(tls), 0},
    {"listen", "tls_cert", K_PATH, OFF(tls_cert), 0},
    {"listen", "tls_key", K_PATH, OFF(tls_key), 0},
    {"listen", "tls_ca", K_PATH, OFF(tls_ca), 0},
    {"listen", "tls_verify", K_TLSVERIFY, OFF(tls_verify), 0},
    {"listen", "tls_peers", K_STRLIST, OFF(tls_peers), 0},
    {"listen", "tls_handshake_timeout", K_DURATION, OFF(tls_handshake_timeout), 0},
    {"store", "database", K_PATH, OFF(database), 0},
    {"store", "retention_days", K_UINT, OFF(retention_days), 100000},
    {"store", "keep_successes", K_DURATION, OFF(keep_successes), 0},
    {"alerts", "file", K_PATH, OFF(alert_file), 0},
    {"alerts", "stdout", K_STDOUT, OFF(alert_stdout), 0},
    {"alerts", "webhook", K_STRING, OFF(webhook), 0},
    {"alerts", "webhook_format", K_FORMAT, OFF(webhook_format), 0},
    {"alerts", "repeat_interval", K_DURATION, OFF(repeat_interval), 0},
    {"alerts", "resolve_after", K_DURATION, OFF(resolve_after), 0},
    {"alerts", "resend_interval", K_DURATION, OFF(resend_interval), 0},
    {"alerts", "syslog", K_STRING, OFF(syslog_sink), 0},
    {"alerts", "syslog_ca", K_PATH, OFF(syslog_ca), 0},
    {"alerts", "webhook_ca", K_PATH, OFF(webhook_ca), 0},
    {"alerts", "webhook_cert", K_PATH, OFF(webhook_cert), 0},
    {"alerts", "webhook_key", K_PATH, OFF(webhook_key), 0},
    {"alerts", "exec", K_PATH, OFF(exec_sink), 0},
    {"alerts", "exec_timeout", K_DURATION, OFF(exec_timeout), 0},
    {"alerts", "exec_max", K_UINT, OFF(exec_max), 64},
    {"alerts", "webhook_queue", K_UINT, OFF(webhook_queue), 1000000},
    {"knowledge", "patterns", K_PATH, OFF(patterns_dir), 0},
    {"knowledge", "algorithms", K_PATH, OFF(algorithms), 0},
    {"knowledge", "catalogue", K_PATH, OFF(catalogue), 0},
    {"knowledge", "keywords", K_PATH, OFF(keywords), 0},
    {"metrics", "listen", K_ADDR, OFF(metrics_listen), 0},
    {"http", "listen", K_ADDR, OFF(metrics_listen), 0},
    {"http", "users", K_PATH, OFF(http_users), 0},
    {"http", "max_connections", K_UINT, OFF(http_max_connections), 100000},
    {"http", "tls", K_BOOL, OFF(http_tls), 0},
    {"http", "tls_cert", K_PATH, OFF(http_tls_cert), 0},
    {"http", "tls_key", K_PATH, OFF(http_tls_key), 0},
    {"http", "tls_ca", K_PATH, OFF(http_tls_ca), 0},
    {"http", "tls_verify", K_TLSVERIFY, OFF(http_tls_verify), 0},
    {"http", "external_url", K_URL, OFF(http_external_url), 0},
    {"probe", "enable", K_BOOL, OFF(probe_enable), 0},
    {"probe", "allow", K_NETS, OFF(probe_allow), 0},
    {"probe", "port", K_UINT, OFF(probe_port), 65535},
    {"probe", "interval", K_DURATION, OFF(probe_interval), 0},
    {"probe", "after_failure", K_DURATION, OFF(probe_after_failure), 0},
    {"probe", "max_parallel", K_UINT, OFF(probe_max_parallel), 256},
    {"probe", "timeout", K_DURATION, OFF(probe_timeout), 0},
};

static const char *const known_sections[] = {"daemon", "listen", "store",  "alerts",
                                             "knowledge", "metrics", "http", "probe"};
static const char *const vendors[] = {"huawei", "cisco", "h3c", "openssh", "dropbear"};

static char *resolve_path(const struct cfg *c, const char *value)
{
    if (!*value)
        return NULL;
    if (value[0] == '/' || strcmp(value, ":memory:") == 0 || !c->dir)
        return strdup(value);
    size_t n = strlen(c->dir) + strlen(value) + 2;
    char *p = malloc(n);
    if (p)
        snprintf(p, n, "%s/%s", c->dir, value);
    return p;
}

/* splits at commas and/or blanks; returns the count, -1 when memory is short */
static int split_list(const char *value, char ***out, size_t *n)
{
    char **v = NULL;
    size_t count = 0;
    const char *p = value;
    while (*p) {
        while (*p == ',' || is_blank(*p))
            p++;
        if (!*p)
            break;
        const char *s = p;
        while (*p && *p != ',' && !is_blank(*p))
            p++;
        char **nv = realloc(v, (count + 1) * sizeof *nv);
        if (!nv)
            goto oom;
        v = nv;
        if (!(v[count] = strndup(s, (size_t)(p - s))))
            goto oom;
        count++;
    }
    *out = v;
    *n = count;
    return (int)count;
oom:
    for (size_t i = 0; i < count; i++)
        free(v[i]);
    free(v);
    return -1;
}

static void free_list(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

/* [http] external_url: an absolute http(s) URL with a host, no query or
 * fragment, nothing a link or a log line would need to escape; returned
 * with a '/' at its end (the alert pages are under it), NULL when bad (said
 * with the line) or memory is short. */
static char *external_url(struct ctx *x, const struct keydef *k, const char *value, int line)
{
    size_t scheme = strncmp(value, "https://", 8) == 0 ? 8 : strncmp(value, "http://", 7) == 0 ? 7 : 0;
    const char *bad = NULL;
    if (!scheme || !value[scheme] || value[scheme] == '/')
        bad = "not http://HOST[:PORT][/PATH] or https://HOST[:PORT][/PATH]";
    for (const unsigned char *p = (const unsigned char *)value; *p && !bad; p++)
        if (*p <= ' ' || *p >= 0x7f || strchr("\"'<>\\^`{|}?#", *p))
            bad = "not usable as a link: it has a blank, a control or non-ASCII byte, a quote, <>\\^`{|}, a query "
                  "(?) or a fragment (#)";
    if (bad) {
        add_error(x, line, "[%s] %s: '%s' is %s; give the console's address as people reach it, e.g. "
                  "https://kexwatch.noc.example.net/",
                  k->section, k->name, value, bad);
        return NULL;
    }
    size_t n = strlen(value);
    char *u = malloc(n + 2);
    if (!u) {
        x->oom = true;
        return NULL;
    }
    memcpy(u, value, n);
    if (value[n - 1] != '/')
        u[n++] = '/';
    u[n] = '\0';
    return u;
}

static void apply_key(struct ctx *x, const struct keydef *k, const char *value, int line)
{
    struct cfg *c = x->cfg;
    char *base = (char *)c + k->offset;
    unsigned long long u;
    switch (k->type) {
    case K_ADDRS: {
        struct cfg_addr **addrs = (struct cfg_addr **)(void *)base;
        size_t *count = k->offset == OFF(udp) ? &c->n_udp : k->offset == OFF(tls) ? &c->n_tls : &c->n_tcp;
        char **items;
        size_t n;
        if (split_list(value, &items, &n) < 0) {
            x->oom = true;
            return;
        }
        free(*addrs);
        *addrs = n ? calloc(n, sizeof **addrs) : NULL;
        *count = 0;
        for (size_t i = 0; i < n; i++) {
            if (cfg_parse_addr(items[i], &(*addrs)[*count]) < 0)
                add_error(x, line, "[%s] %s: '%s' is not a numeric ADDRESS:PORT (write IPv6 as [::1]:5514)",
                          k->section, k->name, items[i]);
            else
                (*count)++;
        }
        free_list(items, n);
        return;
    }
    case K_ADDR: {
        struct cfg_addr **a = (struct cfg_addr **)(void *)base;
        if (*a && k->offset == OFF(metrics_listen))
            add_error(x, line, "[%s] %s: the HTTP listener is already set ([http] listen and [metrics] listen "
                      "are one setting); give it once", k->section, k->name);
        free(*a);
        *a = NULL;
        if (!*value)
            return;
        *a = calloc(1, sizeof **a);
        if (!*a) {
            x->oom = true;
            return;
        }
        if (cfg_parse_addr(value, *a) < 0) {
            add_error(x, line, "[%s] %s: '%s' is not a numeric ADDRESS:PORT", k->section, k->name, value);
            free(*a);
            *a = NULL;
        }
        return;
    }
    case K_SIZE:
        /* udp_rcvbuf = 0 leaves the kernel's default buffer */
        if (k->offset == OFF(udp_rcvbuf) && strcmp(value, "0") == 0) {
            *(int *)(void *)base = 0;
            return;
        }
        if (parse_size(value, k->max, &u) < 0 || u == 0) {
            add_error(x, line, "[%s] %s: '%s' is not a size from 1 to %llu bytes (suffixes k, m, g allowed)",
                      k->section, k->name, value, k->max);
            return;
        }
        if (k->offset == OFF(udp_rcvbuf))
            *(int *)(void *)base = (int)u;
        else
            *(size_t *)(void *)base = (size_t)u;
        return;
    case K_UINT:
        if (parse_uint(value, k->max, &u) < 0) {
            add_error(x, line, "[%s] %s: '%s' is not a whole number from 0 to %llu", k->section, k->name, value,
                      k->max);
            return;
        }
        *(unsigned *)(void *)base = (unsigned)u;
        return;
    case K_DURATION: {
        int64_t s;
        int rc = cfg_parse_duration64(value, &s);
        if (rc == -2 || (rc == 0 && s > (int64_t)UINT_MAX)) {
            add_error(x, line, "[%s] %s: '%s' is too large (at most %ud, about 136 years)", k->section, k->name,
                      value, UINT_MAX / 86400);
            return;
        }
        if (rc < 0) {
            add_error(x, line, "[%s] %s: '%s' is not a duration (e.g. 90s, 30m, 4h, 7d)", k->section, k->name,
                      value);
            return;
        }
        *(unsigned *)(void *)base = (unsigned)s;
        return;
    }
    case K_BOOL:
        if (parse_bool(value, (bool *)(void *)base) < 0)
            add_error(x, line, "[%s] %s: '%s' is not yes or no", k->section, k->name, value);
        return;
    case K_PATH: {
        char **p = (char **)(void *)base;
        free(*p);
        *p = resolve_path(c, value);
        return;
    }
    case K_STRING: {
        char **p = (char **)(void *)base;
        free(*p);
        *p = *value ? strdup(value) : NULL;
        return;
    }
    case K_IDENTIFY:
        if (strcmp(value, "source") == 0)
            c->identify = CFG_IDENTIFY_SOURCE;
        else if (strcmp(value, "hostname") == 0)
            c->identify = CFG_IDENTIFY_HOSTNAME;
        else if (strcmp(value, "certificate") == 0)
            c->identify = CFG_IDENTIFY_CERTIFICATE;
        else
            add_error(x, line, "[listen] identify: '%s' must be 'source', 'hostname' or 'certificate'", value);
        return;
    case K_TLSVERIFY: {
        enum cfg_tls_verify *v = (enum cfg_tls_verify *)(void *)base;
        if (strcmp(value, "require") == 0)
            *v = CFG_TLS_VERIFY_REQUIRE;
        else if (strcmp(value, "optional") == 0)
            *v = CFG_TLS_VERIFY_OPTIONAL;
        else if (strcmp(value, "none") == 0)
            *v = CFG_TLS_VERIFY_NONE;
        else
            add_error(x, line, "[%s] %s: '%s' must be none, optional or require", k->section, k->name, value);
        return;
    }
    case K_STRLIST: {
        char ***v = (char ***)(void *)base;
        free_list(c->tls_peers, c->n_tls_peers);
        *v = NULL;
        c->n_tls_peers = 0;
        if (split_list(value, v, &c->n_tls_peers) < 0) {
            x->oom = true;
            return;
        }
        for (size_t i = 0; i < c->n_tls_peers; i++) {
            const char *p = (*v)[i];
            if (strncasecmp(p, "sha256:", 7) == 0) {
                size_t hex = 0, n = strlen(p);
                for (size_t j = 7; j < n; j++)
                    hex += isxdigit((unsigned char)p[j]) != 0;
                if (hex != 64 || n - 7 - hex > 31)
                    add_error(x, line,
                              "[listen] tls_peers: '%s' is not a SHA-256 fingerprint (sha256: and 64 hex digits, "
                              "colons allowed, as `openssl x509 -noout -fingerprint -sha256` prints)",
                              p);
            } else if (strchr(p, '*') && (p[0] != '*' || p[1] != '.' || strchr(p + 1, '*') || !p[2])) {
                add_error(x, line,
                          "[listen] tls_peers: '%s': a wildcard may only be the whole left-most label (*.noc.example.net)",
                          p);
            }
        }
        return;
    }
    case K_LOGLEVEL: {
        int lv = log_level_from_name(value);
        if (lv < 0)
            add_error(x, line, "[daemon] log_level: '%s' must be error, warning, notice, info or debug", value);
        else
            c->log_level = lv;
        return;
    }
    case K_NETS: {
        char **items = NULL;
        size_t n = 0;
        if (split_list(value, &items, &n) < 0) {
            x->oom = true;
            return;
        }
        struct cfg_net *v = n ? calloc(n, sizeof *v) : NULL;
        if (n && !v) {
            x->oom = true;
            free_list(items, n);
            return;
        }
        for (size_t i = 0; i < n; i++) {
            if (cfg_parse_net(items[i], &v[i]) < 0) {
                add_error(x, line, "[%s] %s: '%s' is not an address or network (10.0.0.0/8, 2001:db8::/32)",
                          k->section, k->name, items[i]);
                free(v);
                free_list(items, n);
                return;
            }
        }
        free_list(items, n);
        free(c->probe_allow);
        c->probe_allow = v;
        c->n_probe_allow = n;
        return;
    }
    case K_STDOUT: {
        bool on;
        if (strcmp(value, "json") == 0)
            c->alert_stdout = CFG_STDOUT_JSON;
        else if (strcmp(value, "text") == 0)
            c->alert_stdout = CFG_STDOUT_TEXT;
        else if (parse_bool(value, &on) == 0)
            c->alert_stdout = on ? CFG_STDOUT_AUTO : CFG_STDOUT_NO;
        else
            add_error(x, line,
                      "[alerts] stdout: '%s' must be yes (text on a terminal, else JSON), no, json or text",
                      value);
        return;
    }
    case K_URL: {
        char **p = (char **)(void *)base;
        free(*p);
        *p = NULL;
        if (*value)
            *p = external_url(x, k, value, line);
        return;
    }
    case K_FORMAT: {
        if (strcmp(value, "alertmanager") != 0 && strcmp(value, "generic") != 0) {
            add_error(x, line, "[alerts] webhook_format: '%s' must be 'alertmanager' or 'generic'", value);
            return;
        }
        free(c->webhook_format);
        c->webhook_format = strdup(value);
        return;
    }
    }
}

static struct cfg_device *find_device(struct cfg *c, const char *name, bool group)
{
    for (size_t i = 0; i < c->n_devices; i++)
        if (c->devices[i].is_group == group && strcmp(c->devices[i].name, name) == 0)
            return &c->devices[i];
    return NULL;
}

static void apply_device_key(struct ctx *x, struct cfg_device *d, const char *name, const char *value, int line)
{
    const char *kind = d->is_group ? "group" : "device";
    for (int cat = 0; cat < CFG_CAT_COUNT; cat++) {
        if (strcmp(name, category_names[cat]) != 0)
            continue;
        struct cfg_list *l = &d->lists[cat];
        free_list(l->names, l->n);
        l->names = NULL;
        l->n = 0;
        if (split_list(value, &l->names, &l->n) < 0)
            x->oom = true;
        l->set = true;
        return;
    }
    if (strcmp(name, "match") == 0) {
        free_list(d->match, d->n_match);
        d->match = NULL;
        d->n_match = 0;
        if (split_list(value, &d->match, &d->n_match) < 0)
            x->oom = true;
    } else if (strcmp(name, "vendor") == 0) {
        bool ok = false;
        for (size_t i = 0; i < sizeof vendors / sizeof vendors[0]; i++)
            ok |= strcmp(value, vendors[i]) == 0;
        if (!ok) {
            add_error(x, line, "[%s %s] vendor: '%s' must be one of huawei, cisco, h3c, openssh, dropbear", kind,
                      d->name, value);
            return;
        }
        free(d->vendor);
        d->vendor = strdup(value);
    } else if (strcmp(name, "probe_port") == 0) {
        unsigned long long port;
        if (parse_uint(value, 65535, &port) < 0 || port == 0) {
            add_error(x, line, "[%s %s] probe_port: '%s' is not a port (1-65535)", kind, d->name, value);
            return;
        }
        d->probe_port = (unsigned)port;
    } else if (strcmp(name, "group") == 0 && !d->is_group) {
        free(d->group);
        d->group = *value ? strdup(value) : NULL;
        d->group_line = line;
    } else {
        add_error(x, line,
                  "[%s %s]: unknown key '%s' (known: match, vendor,%s kex, hostkey, cipher, mac, compression, "
                  "probe_port)",
                  kind, d->name, name, d->is_group ? "" : " group,");
    }
}

/* strips an inline "# comment" (inih only knows ';' inline) and blanks */
static void strip_hash_comment(char *v)
{
    for (char *p = v; *p; p++) {
        if (*p == '#' && (p == v || is_blank(p[-1]))) {
            *p = '\0';
            break;
        }
    }
    size_t n = strlen(v);
    while (n && is_blank(v[n - 1]))
        v[--n] = '\0';
}

static bool is_list_key(const char *section, const char *name)
{
    if (strncmp(section, "device ", 7) == 0 || strncmp(section, "group ", 6) == 0)
        return strcmp(name, "vendor") != 0 && strcmp(name, "group") != 0 && strcmp(name, "probe_port") != 0;
    return strcmp(section, "listen") == 0 && (strcmp(name, "udp") == 0 || strcmp(name, "tcp") == 0 ||
                                               strcmp(name, "tls") == 0 || strcmp(name, "tls_peers") == 0);
}

static void flush_entry(struct ctx *x)
{
    struct entry *e = &x->cur;
    if (!e->active)
        return;
    e->active = false;
    strip_hash_comment(e->value);
    const char *sec = e->section;
    if (strncmp(sec, "device ", 7) == 0 || strncmp(sec, "group ", 6) == 0) {
        bool group = sec[0] == 'g';
        const char *dn = sec + (group ? 6 : 7);
        while (is_blank(*dn))
            dn++;
        struct cfg_device *d = find_device(x->cfg, dn, group);
        if (d)
            apply_device_key(x, d, e->name, e->value, e->line);
    } else {
        bool found_section = false;
        for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
            if (strcmp(keys[i].section, sec) != 0)
                continue;
            found_section = true;
            if (strcmp(keys[i].name, e->name) == 0) {
                apply_key(x, &keys[i], e->value, e->line);
                goto done;
            }
        }
        if (found_section) {
            char known[512] = "";
            for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
                if (strcmp(keys[i].section, sec) != 0)
                    continue;
                if (*known)
                    strncat(known, ", ", sizeof known - strlen(known) - 1);
                strncat(known, keys[i].name, sizeof known - strlen(known) - 1);
            }
            add_error(x, e->line, "[%s]: unknown key '%s' (known: %s)", sec, e->name, known);
        }
        /* keys of unknown sections are reported once, with the section */
    }
done:
    free(e->section);
    free(e->name);
    free(e->value);
    e->section = e->name = e->value = NULL;
}

static int cfg_handler(void *user, const char *section, const char *name, const char *value)
{
    struct ctx *x = user;
    struct entry *e = &x->cur;
    if (x->piece && e->active) { /* a split piece of the same physical line */
        size_t add = strlen(value);
        char *nv = realloc(e->value, e->value_len + add + 1);
        if (!nv) {
            x->oom = true;
            return 1;
        }
        memcpy(nv + e->value_len, value, add + 1);
        e->value = nv;
        e->value_len += add;
        return 1;
    }
    if (x->indented && e->active && strcmp(e->name, name) == 0 && strcmp(e->section, section) == 0) {
        /* an indented line the operator wrote to continue a long list */
        if (!is_list_key(section, name)) {
            add_error(x, x->line, "[%s] %s: continuation lines are only allowed for lists", section, name);
            return 1;
        }
        size_t add = strlen(value);
        char *nv = realloc(e->value, e->value_len + add + 3);
        if (!nv) {
            x->oom = true;
            return 1;
        }
        memcpy(nv + e->value_len, ", ", 2);
        memcpy(nv + e->value_len + 2, value, add + 1);
        e->value = nv;
        e->value_len += add + 2;
        return 1;
    }
    flush_entry(x);
    e->section = strdup(section);
    e->name = strdup(name);
    e->value = strdup(value);
    e->value_len = strlen(value);
    e->line = x->line;
    e->active = true;
    if (!e->section || !e->name || !e->value)
        x->oom = true;
    /* the same key twice in one section is almost always a mistake */
    return 1;
}

/* ---------------------------------------------------------- public API */

static void set_defaults(struct cfg *c)
{
    c->log_level = LOG_LV_INFO;
    c->max_message = CFG_DEFAULT_MAX_MESSAGE;
    c->max_connections = 4096;
    c->max_memory = CFG_MAX_MEMORY_DEFAULT;
    c->identify = CFG_IDENTIFY_SOURCE;
    c->udp_rcvbuf = CFG_DEFAULT_UDP_RCVBUF;
    c->tcp_idle_timeout = 3600;
    c->tcp_max_buffer = 4 * CFG_DEFAULT_MAX_MESSAGE;
    c->retention_days = 400;
    c->keep_successes = 7 * 86400;
    c->repeat_interval = 4 * 3600;
    c->resolve_after = 24 * 3600;
    c->resend_interval = 60;
    c->exec_timeout = 30;
    c->exec_max = 4;
    c->probe_port = 22;
    c->probe_interval = 24 * 3600;
    c->probe_after_failure = 300;
    c->probe_max_parallel = 8;
    c->http_max_connections = 64;
    c->probe_timeout = 10;
    c->webhook_queue = 10000;
    c->tls_verify = CFG_TLS_VERIFY_REQUIRE;
    c->http_tls_verify = CFG_TLS_VERIFY_NONE;
    c->tls_handshake_timeout = 10;
}

/* knowledge files the configuration does not name are looked for in
 * $KEXWATCH_CONFDIR (a source checkout, a test), else the installed
 * configuration directory */
static char *default_knowledge(const char *file)
{
    const char *dir = getenv("KEXWATCH_CONFDIR");
    if (!dir || !*dir)
        dir = KW_SYSCONFDIR;
    size_t n = strlen(dir) + strlen(file) + 2;
    char *p = malloc(n);
    if (p)
        snprintf(p, n, "%s/%s", dir, file);
    return p;
}

static void resolve_default_paths(struct cfg *c)
{
    if (!c->database)
        c->database = resolve_path(c, KW_LOCALSTATEDIR "/kexwatch.db");
    if (!c->patterns_dir)
        c->patterns_dir = default_knowledge("patterns.d");
    if (!c->algorithms)
        c->algorithms = default_knowledge("algorithms.tsv");
    if (!c->catalogue)
        c->catalogue = default_knowledge("catalogue.conf");
    if (!c->keywords)
        c->keywords = default_knowledge("keywords.tsv");
    if (!c->webhook_format)
        c->webhook_format = strdup("alertmanager");
}

struct cfg *cfg_new_default(void)
{
    struct cfg *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    set_defaults(c);
    c->database = strdup(":memory:");
    c->dir = strdup(KW_SYSCONFDIR);
    resolve_default_paths(c);
    return c;
}

/* sections are checked after parsing, from the reader's list, so that empty
 * and repeated sections are caught too */
static void check_sections(struct ctx *x)
{
    struct cfg *c = x->cfg;
    for (size_t i = 0; i < x->n_sections; i++) {
        const char *s = x->sections[i].name;
        int line = x->sections[i].line;
        bool group = strncmp(s, "group ", 6) == 0;
        if (group || strncmp(s, "device ", 7) == 0) {
            const char *dn = s + (group ? 6 : 7);
            while (is_blank(*dn))
                dn++;
            if (!*dn) {
                add_error(x, line, "[%s]: a %s section needs a name, e.g. [%s core-sw-1]", s, group ? "group" : "device",
                          group ? "group" : "device");
                continue;
            }
            if (find_device(c, dn, group)) {
                add_error(x, line, "[%s]: defined twice", s);
                continue;
            }
            struct cfg_device *v = realloc(c->devices, (c->n_devices + 1) * sizeof *v);
            if (!v) {
                x->oom = true;
                return;
            }
            c->devices = v;
            memset(&v[c->n_devices], 0, sizeof v[0]);
            v[c->n_devices].name = strdup(dn);
            v[c->n_devices].is_group = group;
            v[c->n_devices].line = line;
            c->n_devices++;
            continue;
        }
        bool known = false;
        for (size_t k = 0; k < sizeof known_sections / sizeof known_sections[0]; k++)
            known |= strcmp(s, known_sections[k]) == 0;
        if (!known) {
            add_error(x, line,
                      "unknown section [%s] (known: daemon, listen, store, alerts, knowledge, metrics, device NAME, "
                      "group NAME)",
                      s);
            continue;
        }
        for (size_t j = 0; j < i; j++)
            if (strcmp(x->sections[j].name, s) == 0)
                add_error(x, line, "[%s]: section repeated (first at line %d)", s, x->sections[j].line);
    }
}

static int noop_handler(void *user, const char *section, const char *name, const char *value)
{
    (void)user;
    (void)section;
    (void)name;
    (void)value;
    return 1;
}

static void check_devices(struct ctx *x)
{
    struct cfg *c = x->cfg;
    for (size_t i = 0; i < c->n_devices; i++) {
        struct cfg_device *d = &c->devices[i];
        if (d->group && !find_device(c, d->group, true))
            add_error(x, d->group_line, "[device %s] group: no [group %s] section", d->name, d->group);
        if (d->is_group && d->n_match == 0)
            add_error(x, d->line, "[group %s]: needs match = (addresses, CIDRs or host names)", d->name);
        if (!d->is_group && d->n_match == 0) {
            /* a device section without match = matches its own name */
            d->match = calloc(1, sizeof *d->match);
            if (!d->match || !(d->match[0] = strdup(d->name)))
                x->oom = true;
            else
                d->n_match = 1;
        }
    }
}

/* what a TLS listener needs to start; the files themselves are read by
 * tls.c (at start, on SIGHUP and by kexwatchd -t) */
static void check_tls(struct ctx *x)
{
    struct cfg *c = x->cfg;
    if (!c->n_tls)
        return;
    bool pinned = false;
    for (size_t i = 0; i < c->n_tls_peers; i++)
        pinned |= strncasecmp(c->tls_peers[i], "sha256:", 7) == 0;
    if (!c->tls_cert || !c->tls_key)
        add_error(x, 0, "[listen] tls is set but tls_cert or tls_key is missing: name the server's certificate "
                        "chain and key (PEM)");
    if (c->tls_verify != CFG_TLS_VERIFY_NONE && !c->tls_ca && !pinned)
        add_error(x, 0, "[listen] tls_verify = %s needs tls_ca (the CA that signs the devices' certificates) or "
                        "sha256: fingerprints in tls_peers; or set tls_verify = none",
                  c->tls_verify == CFG_TLS_VERIFY_REQUIRE ? "require" : "optional");
    if (c->tls_verify == CFG_TLS_VERIFY_NONE && c->n_tls_peers)
        add_error(x, 0, "[listen] tls_peers needs tls_verify = optional or require: with none no certificate is "
                        "asked for, so no peer can be matched");
    if (c->tls_handshake_timeout == 0)
        add_error(x, 0, "[listen] tls_handshake_timeout must be at least 1s");
}

/* [http] tls: a certificate and key of its own or the TLS listener's */
static void check_http_tls(struct ctx *x)
{
    struct cfg *c = x->cfg;
    if (!c->http_tls)
        return;
    if (!c->metrics_listen)
        add_error(x, 0, "[http] tls = yes but [http] listen is not set: name the address to serve HTTPS on");
    if (!(c->http_tls_cert ? c->http_tls_cert : c->tls_cert) || !(c->http_tls_key ? c->http_tls_key : c->tls_key))
        add_error(x, 0, "[http] tls = yes needs a certificate and key: set [http] tls_cert and tls_key, or "
                        "[listen] tls_cert and tls_key (PEM) to share the TLS listener's");
    if (c->http_tls_verify != CFG_TLS_VERIFY_NONE && !(c->http_tls_ca ? c->http_tls_ca : c->tls_ca))
        add_error(x, 0, "[http] tls_verify = %s needs [http] tls_ca or [listen] tls_ca (the CA that signs the "
                        "browsers' client certificates); or set tls_verify = none",
                  c->http_tls_verify == CFG_TLS_VERIFY_REQUIRE ? "require" : "optional");
}

int cfg_load(const char *path, struct cfg **out, struct cfg_errors *errs)
{
    *out = NULL;
    struct ctx x = {.path = path, .errs = errs};
    x.f = fopen(path, "r");
    if (!x.f) {
        add_error(&x, 0, "cannot open the configuration file: %s", strerror(errno));
        return -1;
    }
    struct cfg *c = calloc(1, sizeof *c);
    if (!c) {
        fclose(x.f);
        return -1;
    }
    x.cfg = c;
    set_defaults(c);
    c->path = strdup(path);
    const char *slash = strrchr(path, '/');
    c->dir = slash ? strndup(path, (size_t)(slash - path) + (slash == path)) : strdup(".");

    size_t errs_before = errs->n;
    /* pass 1: sections only */
    int rc = ini_parse_stream(cfg_reader, &x, noop_handler, &x);
    check_sections(&x);
    /* pass 2: keys, with device sections known */
    rewind(x.f);
    x.line = 0;
    x.phys_off = x.phys_len = 0;
    x.n_linemap = 0;
    for (size_t i = 0; i < x.n_sections; i++)
        free(x.sections[i].name);
    free(x.sections);
    x.sections = NULL;
    x.n_sections = 0;
    x.keys_pass = true;
    rc = ini_parse_stream(cfg_reader, &x, cfg_handler, &x);
    flush_entry(&x);
    if (rc > 0 && x.syntax_errors == 0)
        add_error(&x, (size_t)rc <= x.n_linemap ? x.linemap[rc - 1] : rc, "syntax error (expected [section], key = value, or a ; or # comment)");
    check_devices(&x);
    check_tls(&x);
    check_http_tls(&x);
    resolve_default_paths(c);
    if (!c->webhook_format || !c->database || !c->path || !c->dir)
        x.oom = true;
    if (x.oom)
        add_error(&x, 0, "out of memory while reading the configuration");

    for (size_t i = 0; i < x.n_sections; i++)
        free(x.sections[i].name);
    free(x.sections);
    free(x.phys);
    free(x.linemap);
    fclose(x.f);
    if (errs->n > errs_before) {
        cfg_free(c);
        return -1;
    }
    *out = c;
    return 0;
}

void cfg_free(struct cfg *c)
{
    if (!c)
        return;
    free(c->path);
    free(c->dir);
    free(c->user);
    free(c->udp);
    free(c->tcp);
    free(c->tls);
    free(c->tls_cert);
    free(c->tls_key);
    free(c->tls_ca);
    free_list(c->tls_peers, c->n_tls_peers);
    free(c->syslog_ca);
    free(c->webhook_ca);
    free(c->webhook_cert);
    free(c->webhook_key);
    free(c->database);
    free(c->alert_file);
    free(c->webhook);
    free(c->webhook_format);
    free(c->syslog_sink);
    free(c->exec_sink);
    free(c->patterns_dir);
    free(c->algorithms);
    free(c->catalogue);
    free(c->keywords);
    free(c->metrics_listen);
    free(c->http_users);
    free(c->http_tls_cert);
    free(c->http_tls_key);
    free(c->http_tls_ca);
    free(c->http_external_url);
    free(c->probe_allow);
    for (size_t i = 0; i < c->n_devices; i++) {
        struct cfg_device *d = &c->devices[i];
        free(d->name);
        free_list(d->match, d->n_match);
        free(d->vendor);
        free(d->group);
        for (int k = 0; k < CFG_CAT_COUNT; k++)
            free_list(d->lists[k].names, d->lists[k].n);
    }
    free(c->devices);
    free(c);
}

void cfg_errors_free(struct cfg_errors *errs)
{
    for (size_t i = 0; i < errs->n; i++)
        free(errs->msgs[i]);
    free(errs->msgs);
    errs->msgs = NULL;
    errs->n = 0;
}
