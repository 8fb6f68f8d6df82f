/* SPDX-License-Identifier: ISC */
/* console.c: the JSON API and the HTML pages. Both ask query_run, the
 * function behind `kexwatch ... --format json`: the API sends its text as
 * it is, the pages parse it (jansson) and render it, so a page shows what
 * the API and the tool say. Every string from the answer reaches the page
 * through html() (text and attribute values alike) or url() (link
 * parameters, percent-encoded, then html()). */
#include "config.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "algo.h"
#include "console.h"
#include "query.h"
#include "store.h"

#define JSON_TYPE "application/json; charset=utf-8"
#define HTML_TYPE "text/html; charset=utf-8"

/* ------------------------------------------------------------ the replies */

static void reply_take(struct console_reply *out, int status, const char *type, FILE *f, char **buf, size_t *len)
{
    if (fclose(f) != 0) {
        free(*buf);
        *buf = NULL;
        *len = 0;
        status = 500;
    }
    *out = (struct console_reply){.status = status, .type = type, .body = *buf, .len = *len};
}

/* {"error": what, "status": N} */
static void reply_json_error(struct console_reply *out, int status, const char *what)
{
    json_t *o = json_pack("{s:s, s:i}", "error", what, "status", status);
    char *text = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    size_t len = text ? strlen(text) : 0;
    if (text) {
        char *t = realloc(text, len + 2);
        if (t) {
            text = t;
            text[len++] = '\n';
            text[len] = '\0';
        }
    }
    *out = (struct console_reply){.status = text ? status : 500, .type = JSON_TYPE, .body = text, .len = len};
}

/* --------------------------------------------------------------- escaping */

/* The one HTML escaping: text and quoted attribute values alike. */
static void html(FILE *f, const char *s)
{
    for (const unsigned char *p = (const unsigned char *)(s ? s : ""); *p; p++) {
        switch (*p) {
        case '&': fputs("&amp;", f); break;
        case '<': fputs("&lt;", f); break;
        case '>': fputs("&gt;", f); break;
        case '"': fputs("&quot;", f); break;
        case '\'': fputs("&#39;", f); break;
        default:
            /* C0 controls but TAB and LF, and DEL, shown as U+FFFD */
            if ((*p < 0x20 && *p != '\t' && *p != '\n') || *p == 0x7f)
                fputs("\xef\xbf\xbd", f);
            else
                fputc(*p, f);
        }
    }
}

/* A link parameter: RFC 3986 unreserved bytes as they are, the rest %HH;
 * then html() (a no-op on what is left, kept so every string passes it). */
static void url(FILE *f, const char *s)
{
    char buf[3 * 1024 + 1];
    size_t o = 0;
    for (const unsigned char *p = (const unsigned char *)(s ? s : ""); *p && o + 4 < sizeof buf; p++) {
        if ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || strchr("-._~", *p))
            buf[o++] = (char)*p;
        else
            o += (size_t)snprintf(buf + o, sizeof buf - o, "%%%02X", *p);
    }
    buf[o] = '\0';
    html(f, buf);
}

/* ----------------------------------------------------------- parameters */

struct params {
    const struct console_request *r;
    const char *const *allowed;
    const char *bad; /* the first unknown or repeated parameter */
};

static const char *param(const struct console_request *r, const char *name)
{
    for (size_t i = 0; i < r->nparams; i++)
        if (strcmp(r->params[i].name, name) == 0)
            return r->params[i].value;
    return NULL;
}

/* The first parameter not in allowed (NULL-terminated) or given twice. */
static const char *param_check(const struct console_request *r, const char *const *allowed)
{
    for (size_t i = 0; i < r->nparams; i++) {
        bool ok = false;
        for (const char *const *a = allowed; *a && !ok; a++)
            ok = strcmp(*a, r->params[i].name) == 0;
        for (size_t j = 0; j < i && ok; j++)
            ok = strcmp(r->params[j].name, r->params[i].name) != 0;
        if (!ok)
            return r->params[i].name;
    }
    return NULL;
}

/* ------------------------------------------------------------------- API */

/* Runs q as JSON into *text; returns query_run's value (err on failure). */
static int ask(struct store *s, const struct query_request *q, char **text, size_t *len, char *err, size_t errsize)
{
    *text = NULL;
    *len = 0;
    FILE *f = open_memstream(text, len);
    if (!f) {
        snprintf(err, errsize, "out of memory");
        return -1;
    }
    int rc = query_run(s, q, QUERY_JSON, f, err, errsize);
    if (fclose(f) != 0 && rc == 0) {
        snprintf(err, errsize, "out of memory");
        rc = -1;
    }
    if (rc != 0) {
        free(*text);
        *text = NULL;
        *len = 0;
    }
    return rc;
}

/* daily's bucket and by (the tool's --bucket and --by): 0, or -1 with a
 * 400 message in err */
static int api_daily(const struct console_request *r, struct query_request *q, char *err, size_t errsize)
{
    const char *bucket = param(r, "bucket"), *by = param(r, "by");
    if (bucket && query_parse_bucket(bucket, &q->bucket) < 0) {
        snprintf(err, errsize, "bucket '%.64s' is not hour, day, week, month or window", bucket);
        return -1;
    }
    if (by && query_parse_series(by, &q->series) < 0) {
        snprintf(err, errsize, "by '%.64s' is not mismatch, client or client-device", by);
        return -1;
    }
    return 0;
}

/* The request's question: the tool's parameters under the same names
 * (since, from, until, device, by, status). Returns 0, or -1 with a 400
 * message in err. */
static int api_question(const struct console_request *r, const char *what, struct query_request *q, char *err,
                        size_t errsize)
{
    static const char *const p_failures[] = {"since", "from", "until", "device", "by", NULL};
    static const char *const p_since[] = {"since", NULL};
    static const char *const p_alerts[] = {"since", "status", NULL};
    static const char *const p_none[] = {NULL};
    static const char *const p_daily[] = {"since", "bucket", "by", NULL};
    *q = (struct query_request){.now = r->now, .until = INT64_MAX};
    const char *const *allowed = p_since;
    if (strcmp(what, "failures") == 0) {
        q->kind = QUERY_FAILURES;
        allowed = p_failures;
    } else if (strcmp(what, "devices") == 0) {
        q->kind = QUERY_DEVICES;
    } else if (strncmp(what, "devices/", 8) == 0 && what[8]) {
        q->kind = QUERY_DEVICE;
        q->device = what + 8;
    } else if (strcmp(what, "clients") == 0) {
        q->kind = QUERY_CLIENTS;
    } else if (strcmp(what, "alerts") == 0) {
        q->kind = QUERY_ALERTS;
        allowed = p_alerts;
    } else if (strcmp(what, "daily") == 0) {
        q->kind = QUERY_DAILY;
        allowed = p_daily;
    } else if (strncmp(what, "alerts/", 7) == 0 && what[7]) {
        q->kind = QUERY_ALERT;
        q->alert_id = what + 7;
        allowed = p_none;
    } else {
        return 1;
    }
    const char *bad = param_check(r, allowed);
    if (bad) {
        snprintf(err, errsize, "parameter '%.64s' is unknown here or given twice; this endpoint takes:", bad);
        for (const char *const *a = allowed; *a; a++)
            snprintf(err + strlen(err), errsize - strlen(err), " %s", *a);
        if (!*allowed)
            snprintf(err + strlen(err), errsize - strlen(err), " none");
        return -1;
    }
    if (query_window(param(r, "since"), param(r, "from"), param(r, "until"), r->now, "", &q->from, &q->until, err,
                     errsize) < 0)
        return -1;
    const char *by = param(r, "by");
    q->by = STORE_BY_CLIENT;
    if (q->kind == QUERY_DAILY)
        return api_daily(r, q, err, errsize);
    if (by && query_parse_by(by, &q->by) < 0) {
        snprintf(err, errsize, "by '%.64s' is not client, device, category, algorithm or mismatch", by);
        return -1;
    }
    if (q->kind == QUERY_FAILURES)
        q->device = param(r, "device");
    const char *status = param(r, "status");
    if (status && strcmp(status, "firing") != 0 && strcmp(status, "resolved") != 0) {
        snprintf(err, errsize, "status '%.64s' is not firing or resolved", status);
        return -1;
    }
    q->status = status;
    return 0;
}

static void api(struct store *s, const struct console_request *r, struct console_reply *out)
{
    char err[1200];
    struct query_request q;
    int rc = api_question(r, r->path + strlen("/api/v1/"), &q, err, sizeof err);
    if (rc > 0) {
        reply_json_error(out, 404,
                         "no such endpoint; see /api/v1/failures, devices, devices/KEY, clients, alerts, alerts/ID, daily");
        return;
    }
    if (rc < 0) {
        reply_json_error(out, 400, err);
        return;
    }
    if (!s) {
        snprintf(err, sizeof err, "the database cannot be read: %s", r->store_error ? r->store_error : "");
        reply_json_error(out, 503, err);
        return;
    }
    char *text;
    size_t len;
    rc = ask(s, &q, &text, &len, err, sizeof err);
    if (rc == QUERY_NOT_FOUND)
        reply_json_error(out, 404, err);
    else if (rc < 0)
        reply_json_error(out, 500, err);
    else
        *out = (struct console_reply){.status = 200, .type = JSON_TYPE, .body = text, .len = len};
}

void console_bad_request(const char *path, const char *what, struct console_reply *out)
{
    if (strncmp(path, "/api/", 5) == 0) {
        reply_json_error(out, 400, what);
        return;
    }
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f) {
        *out = (struct console_reply){.status = 500, .type = HTML_TYPE};
        return;
    }
    fputs("<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>kexwatch: bad request</title>"
          "</head><body><p>",
          f);
    html(f, what);
    fputs("</p><p><a href=\"/\">Overview</a></p></body></html>\n", f);
    reply_take(out, 400, HTML_TYPE, f, &buf, &len);
}

/* ----------------------------------------------------------------- pages */

static const struct {
    const char *name;
    int64_t secs;
} windows[] = {{"24h", 86400}, {"7d", 7 * 86400}, {"30d", 30 * 86400}, {"365d", 365 * 86400}};

struct page {
    FILE *f;
    const struct console_request *r;
    struct store *s;
    const char *window; /* one of windows[].name */
    int64_t since;      /* now - the window */
    char err[1200];
    int status;
};

static const char *jstr(json_t *o, const char *key)
{
    return json_string_value(json_object_get(o, key));
}

static long long jint(json_t *o, const char *key)
{
    return (long long)json_integer_value(json_object_get(o, key));
}

/* The answer of q parsed, or NULL with the page's status and err set. */
static json_t *page_ask(struct page *pg, const struct query_request *q)
{
    char *text;
    size_t len;
    int rc = ask(pg->s, q, &text, &len, pg->err, sizeof pg->err);
    if (rc != 0) {
        pg->status = rc == QUERY_NOT_FOUND ? 404 : 500;
        return NULL;
    }
    json_error_t je;
    json_t *o = json_loadb(text, len, 0, &je);
    free(text);
    if (!o) {
        snprintf(pg->err, sizeof pg->err, "the answer did not parse: %s", je.text);
        pg->status = 500;
    }
    return o;
}

static struct query_request page_question(const struct page *pg, enum query_kind kind)
{
    return (struct query_request){.kind = kind, .from = pg->since, .until = INT64_MAX, .now = pg->r->now};
}

/* "3d 4h", "2h 10m", "45s": how long ago t was */
static void age(FILE *f, int64_t now, const char *rfc3339)
{
    long long t;
    if (!rfc3339 || query_parse_time(rfc3339, &t) < 0) {
        fputs("?", f);
        return;
    }
    long long d = now - t;
    if (d < 0)
        d = 0;
    if (d >= 86400)
        fprintf(f, "%lldd %lldh", d / 86400, d % 86400 / 3600);
    else if (d >= 3600)
        fprintf(f, "%lldh %lldm", d / 3600, d % 3600 / 60);
    else if (d >= 60)
        fprintf(f, "%lldm", d / 60);
    else
        fprintf(f, "%llds", d);
}

static const char STYLE[] =
    "*{box-sizing:border-box}"
    "body{font:15px/1.4 system-ui,-apple-system,'Segoe UI',sans-serif;margin:0;color:#1b1f24;background:#f6f7f9}"
    "header{background:#1b2a3a;color:#fff;padding:.6em 1em;display:flex;flex-wrap:wrap;gap:.4em 1.2em;"
    "align-items:center}"
    "header a{color:#fff;text-decoration:none}header a.on{border-bottom:2px solid #7fc1ff}"
    "header .brand{font-weight:600;margin-right:1em}"
    ".win{margin-left:auto;display:flex;gap:.3em}.win a{padding:.1em .5em;border:1px solid #567;border-radius:3px}"
    ".win a.on{background:#7fc1ff;color:#000}"
    "main{padding:1em;max-width:1400px;margin:0 auto}"
    "section{background:#fff;border:1px solid #dde1e6;border-radius:6px;padding:1em;margin-bottom:1em}"
    "h1{font-size:1.3em;margin:.2em 0 .6em}h2{font-size:1.1em;margin:0 0 .6em}"
    ".scroll{overflow-x:auto}"
    "table{border-collapse:collapse;width:100%}th,td{text-align:left;padding:.3em .5em;border-bottom:1px solid #eee;"
    "vertical-align:top}th{font-weight:600;background:#fafbfc}td.n,th.n{text-align:right}"
    "pre{margin:0;white-space:pre-wrap;word-break:break-all;font-size:.85em;background:#f3f4f6;padding:.4em;"
    "border-radius:4px}"
    "code{font-size:.85em;word-break:break-all}"
    "button.copy{font-size:.8em;margin-top:.3em}"
    ".empty{color:#667}.err{color:#a00}"
    ".rating-broken{color:#fff;background:#c0392b;padding:0 .3em;border-radius:3px}"
    ".rating-weak{background:#f5c26b;padding:0 .3em;border-radius:3px}"
    ".rating-unknown{background:#ddd;padding:0 .3em;border-radius:3px}"
    ".rating-ok{background:#cdebd3;padding:0 .3em;border-radius:3px}.rating-marker{background:#e3e8f0;padding:0 .3em;"
    "border-radius:3px}.rating{white-space:nowrap;word-break:normal}h3{font-size:1em;margin:.6em 0 .3em}"
    ".ct-devices{margin:0;padding-left:1.2em;columns:2 14em}"
    ".grid{display:grid;grid-template-columns:minmax(0,1fr) minmax(0,1fr);gap:1em}.grid>*{min-width:0}"
    ".grid section{margin:0}"
    "svg{width:100%;height:auto;display:block}.legend{display:flex;flex-wrap:wrap;gap:.3em 1em;font-size:.85em}"
    ".legend span i{display:inline-block;width:.9em;height:.9em;margin-right:.3em;vertical-align:-.1em}"
    "@media (max-width:760px){body{overflow-wrap:anywhere}.grid{grid-template-columns:minmax(0,1fr)}"
    "main{padding:.5em}.win{margin-left:0}"
    "table.wide thead{display:none}table.wide tr{display:block;border-bottom:2px solid #dde1e6;padding:.3em 0}"
    "table.wide td{display:block;border:0;padding:.15em .3em}"
    "table.wide td::before{content:attr(data-label) ': ';font-weight:600}}";

static const char SCRIPT[] =
    "document.addEventListener('click',function(e){var b=e.target;if(!b.classList||!b.classList.contains('copy'))"
    "return;var t=b.previousElementSibling.textContent;if(navigator.clipboard){navigator.clipboard.writeText(t)"
    ".then(function(){b.textContent='copied'},function(){})}else{var r=document.createRange();"
    "r.selectNodeContents(b.previousElementSibling);var s=getSelection();s.removeAllRanges();s.addRange(r)}});";

/* href to path with the window (and one more parameter when name is set) */
static void href(struct page *pg, const char *path, const char *name, const char *value, const char *window)
{
    fputs(" href=\"", pg->f);
    html(pg->f, path);
    fputs("?window=", pg->f);
    url(pg->f, window ? window : pg->window);
    if (name) {
        fputs("&amp;", pg->f);
        url(pg->f, name);
        fputc('=', pg->f);
        url(pg->f, value);
    }
    fputc('"', pg->f);
}

/* The anchor of a client type's part of the Client types page: "ct-" and
 * a hash of its name (FNV-1a), so every page can link to it. */
static void client_anchor(FILE *f, const char *client)
{
    uint32_t h = 2166136261u;
    for (const unsigned char *p = (const unsigned char *)(client ? client : ""); *p; p++)
        h = (h ^ *p) * 16777619u;
    fprintf(f, "ct-%08x", (unsigned)h);
}

/* href to the client type's part of the Client types page */
static void href_client(struct page *pg, const char *client)
{
    fputs(" href=\"/clients?window=", pg->f);
    url(pg->f, pg->window);
    fputc('#', pg->f);
    client_anchor(pg->f, client);
    fputc('"', pg->f);
}

static void page_head(struct page *pg, const char *title, const char *path, const char *pname, const char *pvalue)
{
    FILE *f = pg->f;
    fputs("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
          "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
          "<link rel=\"icon\" href=\"data:,\"><title>",
          f);
    html(f, title);
    fputs(" · kexwatch</title><style>", f);
    fputs(STYLE, f);
    fputs("</style></head><body><header><span class=\"brand\">kexwatch</span>", f);
    static const struct {
        const char *path, *label;
    } nav[] = {{"/", "Overview"}, {"/clients", "Client types"}, {"/devices", "Devices"}};
    for (size_t i = 0; i < sizeof nav / sizeof nav[0]; i++) {
        fputs("<a", f);
        href(pg, nav[i].path, NULL, NULL, NULL);
        if (strcmp(path, nav[i].path) == 0)
            fputs(" class=\"on\"", f);
        fputc('>', f);
        html(f, nav[i].label);
        fputs("</a>", f);
    }
    fputs("<nav class=\"win\" aria-label=\"window\">", f);
    for (size_t i = 0; i < sizeof windows / sizeof windows[0]; i++) {
        fputs("<a", f);
        href(pg, path, pname, pvalue, windows[i].name);
        if (strcmp(windows[i].name, pg->window) == 0)
            fputs(" class=\"on\"", f);
        fputc('>', f);
        html(f, windows[i].name);
        fputs("</a>", f);
    }
    fputs("</nav></header><main><h1>", f);
    html(f, title);
    fputs("</h1>\n", f);
}

static void page_tail(struct page *pg)
{
    fputs("</main><script>", pg->f);
    fputs(SCRIPT, pg->f);
    fputs("</script></body></html>\n", pg->f);
}

static void td(FILE *f, const char *label, const char *cls, const char *text)
{
    fputs("<td data-label=\"", f);
    html(f, label);
    fputc('"', f);
    if (cls) {
        fputs(" class=\"", f);
        html(f, cls);
        fputc('"', f);
    }
    fputc('>', f);
    html(f, text ? text : "-");
    fputs("</td>", f);
}

static void td_int(FILE *f, const char *label, long long v)
{
    char buf[32];
    snprintf(buf, sizeof buf, "%lld", v);
    td(f, label, "n", buf);
}

static void td_device(struct page *pg, const char *label, const char *key, const char *name)
{
    FILE *f = pg->f;
    fputs("<td data-label=\"", f);
    html(f, label);
    fputs("\"><a class=\"device\"", f);
    href(pg, "/device", "key", key, NULL);
    fputs(">", f);
    html(f, key);
    fputs("</a>", f);
    if (name && *name) {
        fputs(" <span class=\"name\">(", f);
        html(f, name);
        fputs(")</span>", f);
    }
    fputs("</td>", f);
}

/* A wide table in its scrolling box, up to its body: the head row of the
 * column names; table_close ends it. */
static void table_open(FILE *f, const char *id, const char *const *cols, size_t n)
{
    fputs("<div class=\"scroll\"><table class=\"wide\" id=\"", f);
    html(f, id);
    fputs("\"><thead><tr>", f);
    for (size_t i = 0; i < n; i++) {
        fputs("<th>", f);
        html(f, cols[i]);
        fputs("</th>", f);
    }
    fputs("</tr></thead><tbody>", f);
}

static void table_close(FILE *f)
{
    fputs("</tbody></table></div>", f);
}

/* The fix as copyable text: its steps when known, else the sentence. */
static void td_fix(FILE *f, json_t *alert)
{
    const char *steps = jstr(alert, "fix_steps"), *fix = jstr(alert, "fix");
    fputs("<td data-label=\"fix\">", f);
    if (fix && steps && *steps) {
        fputs("<div class=\"fixtext\">", f);
        html(f, fix);
        fputs("</div>", f);
    }
    if ((steps && *steps) || fix) {
        fputs("<pre class=\"fix\">", f);
        html(f, steps && *steps ? steps : fix);
        fputs("</pre><button type=\"button\" class=\"copy\">copy</button>", f);
    } else {
        fputs("<span class=\"empty\">none computed</span>", f);
    }
    fputs("</td>", f);
}

/* The mismatch of an alert, linked to the alert's own page (/alerts/ID),
 * in the page's window. */
static void td_alert(struct page *pg, json_t *a)
{
    FILE *f = pg->f;
    const char *id = jstr(a, "alert_id");
    fputs("<td data-label=\"mismatch\" class=\"mismatch\">", f);
    if (id) {
        fputs("<a class=\"alert-page\" href=\"/alerts/", f);
        url(f, id);
        fputs("?window=", f);
        url(f, pg->window);
        fputs("\">", f);
    }
    html(f, jstr(a, "mismatch") ? jstr(a, "mismatch") : "-");
    if (id)
        fputs("</a>", f);
    fputs("</td>", f);
}

static void alerts_table(struct page *pg, json_t *alerts, const char *device, const char *id)
{
    FILE *f = pg->f;
    static const char *const cols[] = {"device", "client", "mismatch", "category", "firing for", "count", "fix"};
    size_t shown = 0, i;
    json_t *a;
    table_open(f, id, cols, 7);
    json_array_foreach(alerts, i, a) {
        if (device && (!jstr(a, "device") || strcmp(jstr(a, "device"), device) != 0))
            continue;
        shown++;
        fputs("<tr class=\"alert\" data-alert-id=\"", f);
        html(f, jstr(a, "alert_id"));
        fputs("\">", f);
        td_device(pg, "device", jstr(a, "device"), jstr(a, "name"));
        fputs("<td data-label=\"client\"><a class=\"client\"", f);
        href_client(pg, jstr(a, "client"));
        fputs(">", f);
        html(f, jstr(a, "client"));
        fputs("</a>", f);
        if (jstr(a, "address")) {
            fputs("<br><code>", f);
            html(f, jstr(a, "address"));
            fputs("</code>", f);
        }
        fputs("</td>", f);
        td_alert(pg, a);
        td(f, "category", NULL, jstr(a, "category"));
        fputs("<td data-label=\"firing for\">", f);
        age(f, pg->r->now, jstr(a, "first_seen"));
        fputs("</td>", f);
        td_int(f, "count", jint(a, "count"));
        td_fix(f, a);
        fputs("</tr>\n", f);
    }
    table_close(f);
    if (!shown)
        fputs("<p class=\"empty\">No alert is firing.</p>", f);
}

/* A colour per mismatch, stable across pages: by its place in the sorted
 * list of mismatches the chart shows. */
static const char *const palette[] = {"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b",
                                      "#e377c2", "#7f7f7f", "#bcbd22", "#17becf", "#393b79", "#637939",
                                      "#8c6d31", "#843c39", "#7b4173"};

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The buckets of a page's charts, from the window: hours for 24h, days
 * for 7d and 30d, months (UTC) for 365d; each named as the daily answer
 * names it. */
#define MAX_BUCKETS 64
#define MAX_SERIES 64

struct buckets {
    enum store_bucket kind;
    const char *unit; /* "hour", "day", "month" */
    size_t n;
    char label[MAX_BUCKETS][24];
    char tick[MAX_BUCKETS][8]; /* shorter, for the axis */
};

static void buckets_of(const struct page *pg, struct buckets *b)
{
    int64_t step = 86400, t = pg->since < 0 ? 0 : pg->since;
    *b = (struct buckets){.kind = STORE_BUCKET_DAY, .unit = "day"};
    if (strcmp(pg->window, "24h") == 0) {
        *b = (struct buckets){.kind = STORE_BUCKET_HOUR, .unit = "hour"};
        step = 3600;
    } else if (strcmp(pg->window, "365d") == 0) {
        /* months: whole ones come from the monthly counts */
        *b = (struct buckets){.kind = STORE_BUCKET_MONTH, .unit = "month"};
        time_t tt = (time_t)t;
        struct tm tm;
        gmtime_r(&tt, &tm);
        for (tm.tm_mday = 1, tm.tm_hour = tm.tm_min = tm.tm_sec = 0; timegm(&tm) < pg->r->now && b->n < MAX_BUCKETS;
             tm.tm_mon++, b->n++) {
            time_t m = timegm(&tm); /* normalises tm_mon past 11 */
            gmtime_r(&m, &tm);
            strftime(b->label[b->n], sizeof b->label[b->n], "%Y-%m", &tm);
            strftime(b->tick[b->n], sizeof b->tick[b->n], "%b", &tm);
        }
        return;
    }
    t -= t % (step == 3600 ? 3600 : 86400);
    if (b->kind == STORE_BUCKET_WEEK) {
        t -= ((t / 86400 + 3) % 7) * 86400; /* 1970-01-01 was a Thursday */
        step = 7 * 86400;
    }
    for (; t < pg->r->now && b->n < MAX_BUCKETS; t += step, b->n++) {
        time_t tt = (time_t)t;
        struct tm tm;
        gmtime_r(&tt, &tm);
        if (b->kind == STORE_BUCKET_HOUR) {
            strftime(b->label[b->n], sizeof b->label[b->n], "%Y-%m-%dT%H:00Z", &tm);
            strftime(b->tick[b->n], sizeof b->tick[b->n], "%H:00", &tm);
        } else {
            strftime(b->label[b->n], sizeof b->label[b->n], "%Y-%m-%d", &tm);
            strftime(b->tick[b->n], sizeof b->tick[b->n], "%m-%d", &tm);
        }
    }
}

/* "per hour (UTC), last 24h", "per month (UTC), last 365d" */
static void chart_title(FILE *f, const struct page *pg, const struct buckets *b)
{
    fprintf(f, "per %s%s, last ", b->unit, b->kind == STORE_BUCKET_WEEK ? " (weeks from Monday, UTC)" : " (UTC)");
    html(f, pg->window);
}

/* A chart of a daily answer (bucket column as b names it, series column
 * key: mismatch or client), only the rows whose key is only (NULL: all):
 * one bar per bucket, stacked by key; one rect per row of the answer
 * (bucket, key, failures), each with its numbers in data- attributes. */
static void timeline_chart(struct page *pg, const struct buckets *b, json_t *rows, const char *key,
                           const char *only, const char *id, int height)
{
    FILE *f = pg->f;
    enum { W = 900, L = 44, B = 24, T = 10 };
    const int H = height;
    const char *bcol = query_bucket_name(b->kind);
    const char *names[MAX_SERIES];
    static long long v[MAX_BUCKETS][MAX_SERIES];
    long long total[MAX_BUCKETS] = {0};
    size_t nnames = 0, i;
    json_t *row;
    json_array_foreach(rows, i, row) {
        const char *k = jstr(row, key);
        if (!k || (only && strcmp(k, only) != 0))
            continue;
        bool seen = false;
        for (size_t n = 0; n < nnames && !seen; n++)
            seen = strcmp(names[n], k) == 0;
        if (!seen && nnames < MAX_SERIES)
            names[nnames++] = k;
    }
    qsort(names, nnames, sizeof names[0], cmp_str);
    memset(v, 0, sizeof v);
    json_array_foreach(rows, i, row) {
        const char *k = jstr(row, key), *at = jstr(row, bcol);
        if (!k || !at || (only && strcmp(k, only) != 0))
            continue;
        size_t bi = 0, ki = 0;
        while (bi < b->n && strcmp(b->label[bi], at) != 0)
            bi++;
        while (ki < nnames && strcmp(names[ki], k) != 0)
            ki++;
        if (bi < b->n && ki < nnames) {
            v[bi][ki] += jint(row, "failures");
            total[bi] += jint(row, "failures");
        }
    }
    long long max = 1;
    for (size_t d = 0; d < b->n; d++)
        if (total[d] > max)
            max = total[d];
    double bw = b->n ? (double)(W - L) / (double)b->n : 1;
    fputs("<svg", f);
    if (id)
        fprintf(f, " id=\"%s\"", id);
    fprintf(f, " class=\"chart\" viewBox=\"0 0 %d %d\" role=\"img\" aria-label=\"failures per %s\">", W, H, b->unit);
    fprintf(f, "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"#999\"/>", L, H - B, W, H - B);
    fprintf(f, "<text x=\"%d\" y=\"%d\" font-size=\"12\" text-anchor=\"end\">%lld</text>", L - 4, T + 10, max);
    fprintf(f, "<text x=\"%d\" y=\"%d\" font-size=\"12\" text-anchor=\"end\">0</text>", L - 4, H - B);
    double plot = H - B - T;
    size_t every = b->n > 10 ? (b->n + 9) / 10 : 1;
    for (size_t d = 0; d < b->n; d++) {
        double x = L + (double)d * bw + 1, y = H - B;
        if (d % every == 0)
            fprintf(f, "<text x=\"%.1f\" y=\"%d\" font-size=\"11\" text-anchor=\"middle\">%s</text>", x + bw / 2,
                    H - 6, b->tick[d]);
        for (size_t k = 0; k < nnames; k++) {
            if (!v[d][k])
                continue;
            double h = plot * (double)v[d][k] / (double)max;
            y -= h;
            fprintf(f, "<rect class=\"bar\" x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"%s\" "
                       "data-bucket=\"%s\" data-key=\"",
                    x, y, bw > 3 ? bw - 2 : bw, h, palette[k % (sizeof palette / sizeof palette[0])], b->label[d]);
            html(f, names[k]);
            fprintf(f, "\" data-failures=\"%lld\"><title>%s ", v[d][k], b->label[d]);
            html(f, names[k]);
            fprintf(f, ": %lld</title></rect>", v[d][k]);
        }
    }
    fputs("</svg>", f);
    if (only)
        return;
    fputs("<div class=\"legend\">", f);
    for (size_t k = 0; k < nnames; k++) {
        fprintf(f, "<span><i style=\"background:%s\"></i>", palette[k % (sizeof palette / sizeof palette[0])]);
        html(f, names[k]);
        fputs("</span>", f);
    }
    if (!nnames)
        fputs("<span class=\"empty\">No failure in the window.</span>", f);
    fputs("</div>", f);
}

/* key, failures, devices: the first n rows of a failures answer */
static void top_table(struct page *pg, json_t *rows, const char *what, const char *id, size_t n)
{
    FILE *f = pg->f;
    const char *cols[] = {what, "failures", "devices", "last seen"};
    table_open(f, id, cols, 4);
    size_t i;
    json_t *r;
    json_array_foreach(rows, i, r) {
        if (i == n)
            break;
        fputs("<tr>", f);
        if (strcmp(what, "device") == 0) {
            td_device(pg, what, jstr(r, "key"), NULL);
        } else {
            fputs("<td data-label=\"client\"><a class=\"client\"", f);
            href_client(pg, jstr(r, "key"));
            fputs(">", f);
            html(f, jstr(r, "key"));
            fputs("</a></td>", f);
        }
        td_int(f, "failures", jint(r, "failures"));
        td_int(f, "devices", jint(r, "devices"));
        td(f, "last seen", NULL, jstr(r, "last_seen"));
        fputs("</tr>", f);
    }
    table_close(f);
    if (!json_array_size(rows))
        fputs("<p class=\"empty\">No failure in the window.</p>", f);
}

static void overview(struct page *pg)
{
    struct query_request qa = page_question(pg, QUERY_ALERTS);
    qa.status = "firing";
    struct buckets b;
    buckets_of(pg, &b);
    struct query_request qd = page_question(pg, QUERY_DAILY);
    qd.bucket = b.kind;
    struct query_request qc = page_question(pg, QUERY_FAILURES);
    qc.by = STORE_BY_CLIENT;
    struct query_request qv = page_question(pg, QUERY_FAILURES);
    qv.by = STORE_BY_DEVICE;
    json_t *alerts = page_ask(pg, &qa);
    json_t *daily = alerts ? page_ask(pg, &qd) : NULL;
    json_t *clients = daily ? page_ask(pg, &qc) : NULL;
    json_t *devices = clients ? page_ask(pg, &qv) : NULL;
    if (devices) {
        FILE *f = pg->f;
        page_head(pg, "Overview", "/", NULL, NULL);
        fprintf(f, "<section><h2>Firing alerts (<span id=\"firing-count\">%zu</span>)</h2>",
                json_array_size(alerts));
        alerts_table(pg, alerts, NULL, "alerts");
        fputs("</section><section><h2 id=\"chart-title\">Failures ", f);
        chart_title(f, pg, &b);
        fputs(", stacked by mismatch</h2>", f);
        timeline_chart(pg, &b, daily, "mismatch", NULL, "daily", 260);
        fputs("</section><div class=\"grid\"><section><h2>Top failing client types</h2>", f);
        top_table(pg, clients, "client", "top-clients", 10);
        fputs("</section><section><h2>Top failing devices</h2>", f);
        top_table(pg, devices, "device", "top-devices", 10);
        fputs("</section></div>", f);
        page_tail(pg);
    }
    json_decref(alerts);
    json_decref(daily);
    json_decref(clients);
    json_decref(devices);
}

static void devices_page(struct page *pg)
{
    struct query_request q = page_question(pg, QUERY_DEVICES);
    json_t *devices = page_ask(pg, &q);
    if (!devices)
        return;
    FILE *f = pg->f;
    page_head(pg, "Devices", "/devices", NULL, NULL);
    static const char *const cols[] = {"device", "vendor", "failures", "first seen", "last seen"};
    fputs("<section>", f);
    table_open(f, "devices", cols, 5);
    size_t i;
    json_t *d;
    json_array_foreach(devices, i, d) {
        fputs("<tr>", f);
        td_device(pg, "device", jstr(d, "key"), jstr(d, "name"));
        td(f, "vendor", NULL, jstr(d, "vendor"));
        td_int(f, "failures", jint(d, "failures"));
        td(f, "first seen", NULL, jstr(d, "first_seen"));
        td(f, "last seen", NULL, jstr(d, "last_seen"));
        fputs("</tr>", f);
    }
    table_close(f);
    if (!json_array_size(devices))
        fputs("<p class=\"empty\">No device in the database yet.</p>", f);
    fputs("</section>", f);
    page_tail(pg);
    json_decref(devices);
}

/* A comma-joined list, each name with its rating from the algorithm
 * table (ok, weak, broken, marker — a pseudo-algorithm such as
 * ext-info-c —, unknown: not in the table), one span per name. */
static void rated_list(FILE *f, const struct algo_db *db, const char *slot, const char *list)
{
    enum algo_category cat = ALGO_NCATEGORIES;
    if (slot) {
        char c[16];
        snprintf(c, sizeof c, "%.*s", (int)strcspn(slot, "_"), slot);
        if (strcmp(c, "comp") == 0)
            snprintf(c, sizeof c, "compression");
        int k = algo_category_from_name(c);
        if (k >= 0)
            cat = (enum algo_category)k;
    }
    fputs("<code>", f);
    for (const char *p = list ? list : ""; *p;) {
        size_t n = strcspn(p, ",");
        char name[256];
        snprintf(name, sizeof name, "%.*s", (int)(n < 255 ? n : 255), p);
        fputs("<span class=\"alg\">", f);
        html(f, name);
        if (db && cat != ALGO_NCATEGORIES) {
            const char *rt = algo_rating_name(algo_entry_rating(algo_db_find(db, cat, p, n)));
            fputs(" <span class=\"rating rating-", f);
            html(f, rt);
            fputs("\">", f);
            html(f, rt);
            fputs("</span>", f);
        }
        fputs("</span>", f);
        p += n;
        if (*p == ',') {
            fputs(", ", f);
            p++;
        }
    }
    fputs("</code>", f);
}

/* The fix for a client type failing on a device: that of its alert
 * (a firing one first; alerts come firing first), else why there is none. */
static void client_fix(FILE *f, json_t *alerts, const char *device, const char *client)
{
    size_t i;
    json_t *a;
    json_array_foreach(alerts, i, a) {
        const char *d = jstr(a, "device"), *c = jstr(a, "client");
        if (d && c && device && client && strcmp(d, device) == 0 && strcmp(c, client) == 0) {
            td_fix(f, a);
            return;
        }
    }
    fputs("<td data-label=\"fix\"><span class=\"empty\">none: no alert of this client type on this device in the "
          "window (see its failures below)</span></td>",
          f);
}

static void device_page(struct page *pg, const char *key)
{
    struct query_request q = page_question(pg, QUERY_DEVICE);
    q.device = key;
    struct query_request qa = page_question(pg, QUERY_ALERTS);
    json_t *dev = page_ask(pg, &q);
    json_t *alerts = dev ? page_ask(pg, &qa) : NULL;
    if (!alerts) {
        json_decref(dev);
        return;
    }
    FILE *f = pg->f;
    json_t *info = json_object_get(dev, "device");
    char title[300];
    snprintf(title, sizeof title, "Device %s", key);
    page_head(pg, title, "/device", "key", key);
    fputs("<section><p>", f);
    if (jstr(info, "name")) {
        fputs("Name <b id=\"device-name\">", f);
        html(f, jstr(info, "name"));
        fputs("</b>, ", f);
    }
    fputs("vendor <b>", f);
    html(f, jstr(info, "vendor") ? jstr(info, "vendor") : "unknown");
    fputs("</b>, first seen ", f);
    html(f, jstr(info, "first_seen"));
    fputs(", last seen ", f);
    html(f, jstr(info, "last_seen"));
    fputs(".</p></section>", f);

    fputs("<section><h2>Alerts and their fix</h2>", f);
    alerts_table(pg, alerts, key, "device-alerts");
    fputs("</section>", f);

    static const char *const pcols[] = {"slot", "source", "age", "learned at", "list, each name rated"};
    fputs("<section><h2>Server lists</h2>", f);
    table_open(f, "profile", pcols, 5);
    size_t i;
    json_t *r;
    json_t *profile = json_object_get(dev, "profile");
    json_array_foreach(profile, i, r) {
        fputs("<tr>", f);
        td(f, "slot", "slot", jstr(r, "slot"));
        td(f, "source", "source", jstr(r, "source"));
        td(f, "age", NULL, jstr(r, "age"));
        td(f, "learned at", NULL, jstr(r, "learned_at"));
        fputs("<td data-label=\"list\">", f);
        rated_list(f, pg->r->algorithms, jstr(r, "slot"), jstr(r, "list"));
        fputs("</td></tr>", f);
    }
    table_close(f);
    if (!json_array_size(profile))
        fputs("<p class=\"empty\">No server list known yet (logged, probed or configured).</p>", f);
    fputs("</section>", f);

    static const char *const ccols[] = {"client type", "failures", "first seen", "last seen", "fix"};
    fputs("<section><h2>Client types that fail here, and the fix for each</h2>", f);
    table_open(f, "device-clients", ccols, 5);
    json_t *clients = json_object_get(dev, "clients");
    json_array_foreach(clients, i, r) {
        fputs("<tr><td data-label=\"client\"><a class=\"client\"", f);
        href_client(pg, jstr(r, "client"));
        fputs(">", f);
        html(f, jstr(r, "client"));
        fputs("</a></td>", f);
        td_int(f, "failures", jint(r, "failures"));
        td(f, "first seen", NULL, jstr(r, "first_seen"));
        td(f, "last seen", NULL, jstr(r, "last_seen"));
        client_fix(f, alerts, key, jstr(r, "client"));
        fputs("</tr>", f);
    }
    table_close(f);
    if (!json_array_size(clients))
        fputs("<p class=\"empty\">No failing client in the window.</p>", f);
    fputs("</section>", f);

    static const char *const fcols[] = {"time", "category", "direction", "mismatch", "evidence", "client",
                                        "address"};
    json_t *fails = json_object_get(dev, "failures");
    fprintf(f, "<section><h2>Latest failures (%zu)</h2>", json_array_size(fails));
    table_open(f, "device-failures", fcols, 7);
    json_array_foreach(fails, i, r) {
        fputs("<tr>", f);
        for (size_t c = 0; c < 7; c++)
            td(f, fcols[c], NULL, jstr(r, fcols[c]));
        fputs("</tr>", f);
    }
    table_close(f);
    fputs("</section>", f);
    page_tail(pg);
    json_decref(dev);
    json_decref(alerts);
}

/* The devices a client type fails on (a daily answer by client-device over
 * the window, most failures first), each linked to its page. */
static void client_devices(struct page *pg, json_t *pairs, const char *client)
{
    FILE *f = pg->f;
    size_t i, shown = 0;
    json_t *r;
    json_array_foreach(pairs, i, r) {
        const char *c = jstr(r, "client");
        if (!c || !client || strcmp(c, client) != 0)
            continue;
        if (!shown++)
            fputs("<ul class=\"ct-devices\">", f);
        fputs("<li><a class=\"device\"", f);
        href(pg, "/device", "key", jstr(r, "device"), NULL);
        fputs(">", f);
        html(f, jstr(r, "device"));
        fprintf(f, "</a> <span class=\"n\" data-failures=\"%lld\">%lld</span></li>", jint(r, "failures"),
                jint(r, "failures"));
    }
    fputs(shown ? "</ul>" : "<p class=\"empty\">No failure in the window.</p>", f);
}

/* One client type: its numbers, failures over time, the devices it fails
 * on and the lists it offers, each name rated. */
static void client_type(struct page *pg, const struct buckets *b, json_t *c, json_t *series, json_t *pairs)
{
    FILE *f = pg->f;
    const char *name = jstr(c, "client");
    fputs("<section class=\"client-type\" id=\"", f);
    client_anchor(f, name);
    fputs("\" data-client=\"", f);
    html(f, name);
    fputs("\"><h2 class=\"ct-name\">", f);
    html(f, name);
    fprintf(f, "</h2><p><b class=\"ct-failures\">%lld</b> failures on <b>%lld</b> devices in the last ",
            jint(c, "failures"), jint(c, "devices"));
    html(f, pg->window);
    fputs("; first seen ", f);
    html(f, jstr(c, "first_seen"));
    fputs(", last seen ", f);
    html(f, jstr(c, "last_seen"));
    fputs(".</p><div class=\"grid\"><div><h3>Failures ", f);
    chart_title(f, pg, b);
    fputs("</h3>", f);
    timeline_chart(pg, b, series, "client", name ? name : "", NULL, 140);
    fputs("<h3>Devices it fails on</h3>", f);
    client_devices(pg, pairs, name);
    fputs("</div><div><h3>Offers (client to server), rated</h3>", f);
    static const char *const lists[] = {"kex", "hostkey", "cipher", "mac", "compression"};
    static const char *const slots[] = {"kex", "hostkey", "cipher_c2s", "mac_c2s", "comp_c2s"};
    bool any = false;
    for (size_t k = 0; k < sizeof lists / sizeof lists[0]; k++) {
        if (!jstr(c, lists[k]))
            continue;
        any = true;
        fputs("<div class=\"offer\"><b>", f);
        html(f, lists[k]);
        fputs("</b> ", f);
        rated_list(f, pg->r->algorithms, slots[k], jstr(c, lists[k]));
        fputs("</div>", f);
    }
    if (!any)
        fputs("<p class=\"empty\">Not known (the client's KEXINIT was never logged).</p>", f);
    fputs("</div></div></section>\n", f);
}

static void clients_page(struct page *pg)
{
    struct buckets b;
    buckets_of(pg, &b);
    struct query_request q = page_question(pg, QUERY_CLIENTS);
    struct query_request qs = page_question(pg, QUERY_DAILY);
    qs.bucket = b.kind;
    qs.series = STORE_SERIES_CLIENT;
    struct query_request qp = page_question(pg, QUERY_DAILY);
    qp.bucket = STORE_BUCKET_WINDOW;
    qp.series = STORE_SERIES_CLIENT_DEVICE;
    json_t *clients = page_ask(pg, &q);
    json_t *series = clients ? page_ask(pg, &qs) : NULL;
    json_t *pairs = series ? page_ask(pg, &qp) : NULL;
    if (!pairs) {
        json_decref(clients);
        json_decref(series);
        return;
    }
    FILE *f = pg->f;
    page_head(pg, "Client types", "/clients", NULL, NULL);
    static const char *const cols[] = {"client type", "failures", "devices", "first seen", "last seen"};
    fputs("<section>", f);
    table_open(f, "clients", cols, 5);
    size_t i;
    json_t *c;
    json_array_foreach(clients, i, c) {
        fputs("<tr class=\"client-row\"><td data-label=\"client type\"><a class=\"client\"", f);
        href_client(pg, jstr(c, "client"));
        fputs(">", f);
        html(f, jstr(c, "client"));
        fputs("</a></td>", f);
        td_int(f, "failures", jint(c, "failures"));
        td_int(f, "devices", jint(c, "devices"));
        td(f, "first seen", NULL, jstr(c, "first_seen"));
        td(f, "last seen", NULL, jstr(c, "last_seen"));
        fputs("</tr>\n", f);
    }
    table_close(f);
    if (!json_array_size(clients))
        fputs("<p class=\"empty\">No client type in the window.</p>", f);
    fputs("</section>", f);
    json_array_foreach(clients, i, c)
        client_type(pg, &b, c, series, pairs);
    page_tail(pg);
    json_decref(clients);
    json_decref(series);
    json_decref(pairs);
}

/* ------------------------------------------------------- the alert page */

/* pre, text escaped, post; nothing when text is NULL */
static void opt(FILE *f, const char *pre, const char *text, const char *post)
{
    if (!text)
        return;
    fputs(pre, f);
    html(f, text);
    fputs(post, f);
}

/* a row of the alert's facts: <tr><th>label</th><td id=id>text</td></tr> */
static void fact(FILE *f, const char *label, const char *id, const char *text)
{
    opt(f, "<tr><th>", label, "</th>");
    opt(f, "<td id=\"", id, "\">");
    html(f, text ? text : "-");
    fputs("</td></tr>", f);
}

/* the names of an array of strings, comma-joined (malloc'd; NULL: none) */
static char *joined(json_t *list, const char *sep)
{
    char *buf = NULL;
    size_t len = 0, i;
    json_t *v;
    FILE *j = open_memstream(&buf, &len);
    if (!j)
        return NULL;
    json_array_foreach(list, i, v) {
        fprintf(j, "%s%s", i && *sep != '\n' ? sep : "", json_string_value(v) ? json_string_value(v) : "");
        if (*sep == '\n')
            fputc('\n', j);
    }
    if (fclose(j) != 0 || !len) {
        free(buf);
        return NULL;
    }
    return buf;
}

/* a list of the category with its ratings */
static void offer_fact(struct page *pg, const char *label, const char *id, json_t *list, const char *category)
{
    char *names = joined(list, ",");
    opt(pg->f, "<tr><th>", label, "</th>");
    opt(pg->f, "<td id=\"", id, "\">");
    if (names)
        rated_list(pg->f, pg->r->algorithms, category, names);
    else
        fputs("<span class=\"empty\">not logged</span>", pg->f);
    fputs("</td></tr>", pg->f);
    free(names);
}

/* copyable text in a <pre id=id> */
static void copyable(FILE *f, const char *id, const char *text)
{
    opt(f, "<pre class=\"fix\" id=\"", id, "\">");
    html(f, text);
    fputs("</pre><button type=\"button\" class=\"copy\">copy</button>", f);
}

/* the alert's facts: device and client (linked), mismatch, when, how often,
 * the offers */
static void alert_facts(struct page *pg, json_t *a)
{
    FILE *f = pg->f;
    json_t *dev = json_object_get(a, "device"), *cl = json_object_get(a, "client");
    json_t *mm = json_object_get(a, "mismatch");
    fputs("<div class=\"scroll\"><table id=\"alert\"><tbody><tr><th>device</th><td id=\"alert-device\">"
          "<a class=\"device\"",
          f);
    href(pg, "/device", "key", jstr(dev, "key"), NULL);
    opt(f, ">", jstr(dev, "key") ? jstr(dev, "key") : "?", "</a>");
    opt(f, " <span class=\"name\">(", jstr(dev, "name"), ")</span>");
    opt(f, ", vendor ", jstr(dev, "vendor"), "");
    fputs("</td></tr><tr><th>client</th><td id=\"alert-client\"><a class=\"client\"", f);
    href(pg, "/clients", NULL, NULL, NULL);
    opt(f, ">", jstr(cl, "software") ? jstr(cl, "software") : "(unknown software)", "</a>");
    opt(f, " fingerprint <code>", jstr(cl, "fingerprint"), "</code>");
    opt(f, " from <code>", jstr(cl, "address"), "");
    json_t *port = json_object_get(cl, "port");
    if (jstr(cl, "address") && json_is_integer(port))
        fprintf(f, " port %lld", (long long)json_integer_value(port));
    if (jstr(cl, "address"))
        fputs("</code>", f);
    opt(f, "<br>identity <code>", jstr(cl, "identity"), "</code>");
    opt(f, "</td></tr><tr><th>mismatch</th><td id=\"alert-mismatch\"><code class=\"mismatch\">",
        jstr(mm, "id") ? jstr(mm, "id") : "?", "</code>");
    opt(f, " (", jstr(mm, "severity"), ")");
    fputs("</td></tr>", f);
    char cat[64], count[32];
    snprintf(cat, sizeof cat, "%s%s%s", jstr(a, "category") ? jstr(a, "category") : "-",
             jstr(a, "direction") ? " " : "", jstr(a, "direction") ? jstr(a, "direction") : "");
    snprintf(count, sizeof count, "%lld", jint(a, "count"));
    fact(f, "category", "alert-category", cat);
    fact(f, "evidence", "alert-evidence", jstr(a, "evidence"));
    fact(f, "first seen", "alert-first-seen", jstr(a, "first_seen"));
    fact(f, "last seen", "alert-last-seen", jstr(a, "last_seen"));
    fact(f, "count", "alert-count", count);
    offer_fact(pg, "client offers", "client-offer", json_object_get(a, "client_offer"), jstr(a, "category"));
    offer_fact(pg, "server offers", "server-offer", json_object_get(a, "server_offer"), jstr(a, "category"));
    fact(f, "alert id", "alert-id", jstr(a, "alert_id"));
    fputs("</tbody></table></div>", f);
}

/* the fix: the change, its steps and how to verify it as copyable text,
 * the client's way out and the risk */
static void alert_fix(FILE *f, json_t *rem)
{
    char *steps = joined(json_object_get(rem, "steps"), "\n");
    fputs("<section><h2>The fix</h2>", f);
    opt(f, "<p>On the device: <span id=\"fix-server\">", jstr(rem, "server"), "</span></p>");
    if (steps || jstr(rem, "server")) {
        fputs(steps ? "<h3>Steps</h3>" : "", f);
        copyable(f, "fix-steps", steps ? steps : jstr(rem, "server"));
    } else {
        fputs("<p class=\"empty\" id=\"fix-none\">No change of the device is computed for this alert.</p>", f);
    }
    free(steps);
    if (jstr(rem, "verify")) {
        fputs("<h3>Verify</h3>", f);
        copyable(f, "fix-verify", jstr(rem, "verify"));
    }
    opt(f, "<p>On the client: <span id=\"fix-client\">", jstr(rem, "client"), "</span></p>");
    opt(f, "<p>Risk: <span id=\"fix-risk\">", jstr(rem, "risk"), "</span></p>");
    fputs("</section>", f);
}

/* /alerts/ID: one alert whole (what the API's /api/v1/alerts/ID says):
 * where, which client, which mismatch, since when, its state and the fix
 * as copyable text. The page alerts link to ([http] external_url). */
static void alert_page(struct page *pg, const char *id)
{
    struct query_request q = page_question(pg, QUERY_ALERT);
    q.alert_id = id;
    json_t *a = page_ask(pg, &q);
    if (!a)
        return;
    FILE *f = pg->f;
    json_t *fixed = json_object_get(a, "fixed");
    const char *status = jstr(a, "status") ? jstr(a, "status") : "?";
    if (strcmp(status, "firing") == 0 && json_is_object(fixed))
        status = "fixed";
    char title[300];
    snprintf(title, sizeof title, "Alert %s", id);
    page_head(pg, title, pg->r->path, NULL, NULL);
    opt(f, "<section><p>Status <b id=\"alert-status\">", status, "</b>");
    if (strcmp(status, "fixed") == 0)
        opt(f, ": a probe showed the device offering what the client needs at ", jstr(fixed, "time"),
            "; it resolves when the client connects (or after the quiet period)");
    else if (strcmp(status, "resolved") == 0)
        fputs(": the client negotiated since, or it was quiet for [alerts] resolve_after", f);
    const char *summary = jstr(json_object_get(a, "mismatch"), "summary");
    opt(f, ".</p><p class=\"summary\" id=\"mismatch-summary\">",
        summary ? summary : "No summary is known for this mismatch.", "</p>");
    alert_facts(pg, a);
    fputs("</section>", f);
    alert_fix(f, json_object_get(a, "remediation"));
    fputs("<p><a id=\"alert-json\" href=\"/api/v1/alerts/", f);
    url(f, id);
    fputs("\">This alert as JSON</a></p>", f);
    page_tail(pg);
    json_decref(a);
}

static void pages(struct store *s, const struct console_request *r, struct console_reply *out)
{
    static const char *const p_page[] = {"window", NULL};
    static const char *const p_device[] = {"window", "key", NULL};
    bool is_device = strcmp(r->path, "/device") == 0;
    const char *alert = strncmp(r->path, "/alerts/", 8) == 0 && r->path[8] ? r->path + 8 : NULL;
    if (!is_device && !alert && strcmp(r->path, "/") != 0 && strcmp(r->path, "/clients") != 0 &&
        strcmp(r->path, "/devices") != 0) {
        console_bad_request(r->path, "no such page: see the Overview", out);
        out->status = 404;
        return;
    }
    const char *bad = param_check(r, is_device ? p_device : p_page);
    if (bad) {
        console_bad_request(r->path, "unknown or repeated parameter", out);
        return;
    }
    struct page pg = {.r = r, .s = s, .window = "30d", .status = 200};
    const char *w = param(r, "window");
    bool known = !w;
    for (size_t i = 0; i < sizeof windows / sizeof windows[0]; i++) {
        if ((w && strcmp(w, windows[i].name) == 0) || (!w && strcmp(windows[i].name, "30d") == 0)) {
            pg.window = windows[i].name;
            pg.since = r->now - windows[i].secs;
            known = true;
        }
    }
    if (!known) {
        console_bad_request(r->path, "window is 24h, 7d, 30d or 365d", out);
        return;
    }
    const char *key = param(r, "key");
    if (is_device && !key) {
        console_bad_request(r->path, "which device? /device?key=KEY", out);
        return;
    }
    if (!s) {
        snprintf(pg.err, sizeof pg.err, "the database cannot be read: %s", r->store_error ? r->store_error : "");
        pg.status = 503;
    }
    char *buf = NULL;
    size_t len = 0;
    pg.f = open_memstream(&buf, &len);
    if (!pg.f) {
        *out = (struct console_reply){.status = 500, .type = HTML_TYPE};
        return;
    }
    if (pg.status == 200) {
        if (alert)
            alert_page(&pg, alert);
        else if (is_device)
            device_page(&pg, key);
        else if (strcmp(r->path, "/clients") == 0)
            clients_page(&pg);
        else if (strcmp(r->path, "/devices") == 0)
            devices_page(&pg);
        else
            overview(&pg);
    }
    if (pg.status != 200) {
        /* what was written of the page is dropped: the error alone */
        fclose(pg.f);
        free(buf);
        buf = NULL;
        len = 0;
        if (!(pg.f = open_memstream(&buf, &len))) {
            *out = (struct console_reply){.status = 500, .type = HTML_TYPE};
            return;
        }
        page_head(&pg, pg.status == 404 ? "Not found" : "Error", r->path, key ? "key" : NULL, key);
        fputs("<section><p class=\"err\">", pg.f);
        html(pg.f, pg.err);
        fputs("</p></section>", pg.f);
        page_tail(&pg);
    }
    reply_take(out, pg.status, HTML_TYPE, pg.f, &buf, &len);
}

void console_answer(struct store *s, const struct console_request *r, struct console_reply *out)
{
    if (strncmp(r->path, "/api/v1/", 8) == 0)
        api(s, r, out);
    else if (strncmp(r->path, "/api/", 5) == 0)
        reply_json_error(out, 404, "no such endpoint; the API is under /api/v1/");
    else
        pages(s, r, out);
}
