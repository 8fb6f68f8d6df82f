/* SPDX-License-Identifier: ISC */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "log.h"
#include "metrics.h"

struct metrics {
    struct evhttp *http;
    metrics_write_cb cb;
    void *arg;
};

void metrics_put(FILE *f, const char *name, const char *type, const char *help, double value)
{
    fprintf(f, "# HELP %s %s\n# TYPE %s %s\n%s %.17g\n", name, help, name, type, name, value);
}

/* Bounds of one HTTP request on the metrics listener. */
#define METRICS_MAX_HEADERS 8192
#define METRICS_MAX_BODY 1024
#define METRICS_TIMEOUT_S 10

static void on_metrics(struct evhttp_request *req, void *arg)
{
    struct metrics *m = arg;
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    if (!f) {
        evhttp_send_error(req, HTTP_INTERNAL, "out of memory");
        return;
    }
    m->cb(m->arg, f);
    fclose(f);
    struct evbuffer *out = evbuffer_new();
    if (!out) {
        free(text);
        evhttp_send_error(req, HTTP_INTERNAL, "out of memory");
        return;
    }
    evbuffer_add(out, text, len);
    free(text);
    evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type", "text/plain; version=0.0.4");
    evhttp_send_reply(req, HTTP_OK, "OK", out);
    evbuffer_free(out);
}

static void on_healthz(struct evhttp_request *req, void *arg)
{
    (void)arg;
    struct evbuffer *out = evbuffer_new();
    if (!out) {
        evhttp_send_error(req, HTTP_INTERNAL, "out of memory");
        return;
    }
    /* the loop answered: the daemon is alive and not stuck */
    evbuffer_add(out, "ok\n", 3);
    evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type", "text/plain");
    evhttp_send_reply(req, HTTP_OK, "OK", out);
    evbuffer_free(out);
}

int metrics_new(struct event_base *base, const struct cfg_addr *addr, metrics_write_cb cb, void *arg,
                struct metrics **out, char *err, size_t errsize)
{
    *out = NULL;
    struct metrics *m = calloc(1, sizeof *m);
    if (!m || !(m->http = evhttp_new(base))) {
        free(m);
        snprintf(err, errsize, "out of memory");
        return -1;
    }
    m->cb = cb;
    m->arg = arg;
    /* cfg_addr.text is "host:port" or "[v6]:port" */
    char host[64];
    unsigned port = 0;
    const char *colon = strrchr(addr->text, ':');
    size_t hl = colon ? (size_t)(colon - addr->text) : 0;
    if (hl >= sizeof host)
        hl = sizeof host - 1;
    memcpy(host, addr->text, hl);
    host[hl] = '\0';
    if (host[0] == '[') {
        memmove(host, host + 1, strlen(host));
        char *rb = strchr(host, ']');
        if (rb)
            *rb = '\0';
    }
    if (colon)
        port = (unsigned)strtoul(colon + 1, NULL, 10);
    if (evhttp_bind_socket(m->http, host, (unsigned short)port) != 0) {
        snprintf(err, errsize, "[metrics] listen %s: cannot bind: %s", addr->text, strerror(errno));
        evhttp_free(m->http);
        free(m);
        return -1;
    }
    evhttp_set_allowed_methods(m->http, EVHTTP_REQ_GET | EVHTTP_REQ_HEAD);
    /* a scraper sends a few hundred bytes of headers and no body; without
     * limits evhttp would buffer endless headers and keep a silent
     * connection forever (libevent 2.1 has no connection cap) */
    evhttp_set_max_headers_size(m->http, METRICS_MAX_HEADERS);
    evhttp_set_max_body_size(m->http, METRICS_MAX_BODY);
    evhttp_set_timeout(m->http, METRICS_TIMEOUT_S);
    evhttp_set_cb(m->http, "/metrics", on_metrics, m);
    evhttp_set_cb(m->http, "/healthz", on_healthz, m);
    log_info("serving metrics on http://%s/metrics", addr->text);
    *out = m;
    return 0;
}

void metrics_free(struct metrics *m)
{
    if (!m)
        return;
    evhttp_free(m->http);
    free(m);
}
