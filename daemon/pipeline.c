#include "config.h"

#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "log.h"
#include "pipeline.h"
#include "stats.h"
#include "syslog.h"
#include "text.h"

struct pipeline {
    const struct cfg *cfg;
    FILE *dump;
    int force_hostname;
    char *scratch; /* UTF-8 conversion buffer for the dump */
    size_t scratch_size;
};

struct pipeline *pipeline_new(const struct cfg *cfg)
{
    struct pipeline *p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    p->cfg = cfg;
    /* worst case: every byte becomes a 3-byte U+FFFD */
    p->scratch_size = cfg->max_message * 3 + 4;
    p->scratch = malloc(p->scratch_size);
    if (!p->scratch) {
        free(p);
        return NULL;
    }
    return p;
}

void pipeline_set_dump(struct pipeline *p, FILE *f)
{
    p->dump = f;
}

void pipeline_force_hostname_identity(struct pipeline *p)
{
    p->force_hostname = 1;
}

/* The device key: the sender's address, or the header host name for streams
 * relayed by another collector (and always for replayed files). */
static const char *device_key(struct pipeline *p, const struct msg *m, const struct syslog_record *r, char *buf,
                              size_t size)
{
    int by_host = p->force_hostname || m->transport == MSG_FILE || p->cfg->identify == CFG_IDENTIFY_HOSTNAME;
    if (by_host && r->host.len) {
        size_t n = r->host.len < size - 1 ? r->host.len : size - 1;
        text_to_utf8(buf, size, r->host.p, n);
        return buf;
    }
    if (m->src)
        return text_addr_host(m->src, buf, size);
    return "";
}

static json_t *jstr(struct pipeline *p, struct sl_str s)
{
    if (!s.p)
        return json_null();
    size_t n = text_to_utf8(p->scratch, p->scratch_size, s.p, s.len);
    return json_stringn(p->scratch, n);
}

static void dump_record(struct pipeline *p, const struct msg *m, const struct syslog_record *r, const char *dev)
{
    char tbuf[40], addr[64];
    json_t *o = json_object();
    if (!o)
        return;
    json_object_set_new(o, "rx", json_string(text_rfc3339(tbuf, sizeof tbuf, m->rx_sec, m->rx_usec)));
    json_object_set_new(o, "transport",
                        json_string(m->transport == MSG_UDP ? "udp" : m->transport == MSG_TCP ? "tcp" : "file"));
    json_object_set_new(o, "source", m->src ? json_string(text_addr_host(m->src, addr, sizeof addr)) : json_null());
    json_object_set_new(o, "device", json_string(dev));
    json_object_set_new(o, "format", json_string(syslog_format_name(r->format)));
    json_object_set_new(o, "pri", r->pri >= 0 ? json_integer(r->pri) : json_null());
    json_object_set_new(o, "facility", r->facility >= 0 ? json_integer(r->facility) : json_null());
    json_object_set_new(o, "severity", r->severity >= 0 ? json_integer(r->severity) : json_null());
    if ((r->ts_flags & SL_TS_PRESENT) && !(r->ts_flags & SL_TS_BOOT))
        json_object_set_new(o, "time", json_string(text_rfc3339(tbuf, sizeof tbuf, r->ts_sec, r->ts_usec)));
    else
        json_object_set_new(o, "time", json_null());
    json_object_set_new(o, "ts_flags", json_integer(r->ts_flags));
    json_object_set_new(o, "host", jstr(p, r->host));
    json_object_set_new(o, "app", jstr(p, r->app));
    json_object_set_new(o, "procid", jstr(p, r->procid));
    json_object_set_new(o, "msgid", jstr(p, r->msgid));
    json_object_set_new(o, "brief", jstr(p, r->brief));
    json_object_set_new(o, "flag", jstr(p, r->flag));
    json_object_set_new(o, "cid", jstr(p, r->cid));
    json_object_set_new(o, "text", jstr(p, r->text));
    json_object_set_new(o, "length", json_integer((json_int_t)m->len));
    json_dumpf(o, p->dump, JSON_COMPACT);
    fputc('\n', p->dump);
    json_decref(o);
}

void pipeline_feed(struct pipeline *p, const struct msg *m)
{
    struct syslog_record r;
    syslog_parse(m->data, m->len, m->rx_sec, &r);
    if (r.format == SL_FMT_NONE)
        g_stats.parse_fallbacks++;
    char dev[256];
    const char *key = device_key(p, m, &r, dev, sizeof dev);
    if (p->dump)
        dump_record(p, m, &r, key);
}

void pipeline_flush(struct pipeline *p)
{
    if (p->dump)
        fflush(p->dump);
}

void pipeline_free(struct pipeline *p)
{
    if (!p)
        return;
    pipeline_flush(p);
    free(p->scratch);
    free(p);
}
