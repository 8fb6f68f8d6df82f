/* SPDX-License-Identifier: ISC */
/* cfg: the INI configuration (kexwatch.conf(5)), read with inih.
 *
 * The parser knows every section and key; an unknown one, or a bad value, is
 * an error reported as "FILE:LINE: message". All errors of a file are
 * collected, not only the first, so `kexwatchd -t` can list them.
 * Relative paths are resolved against the configuration file's directory.
 */
#ifndef KW_CFG_H
#define KW_CFG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

/* One listen address, "127.0.0.1:5514" or "[::1]:5514". */
struct cfg_addr {
    struct sockaddr_storage ss;
    socklen_t len;
    char text[64]; /* as written, normalised: "127.0.0.1:5514", "[::1]:5514" */
};

enum cfg_identify { CFG_IDENTIFY_SOURCE = 0, CFG_IDENTIFY_HOSTNAME, CFG_IDENTIFY_CERTIFICATE };

/* [listen] tls_verify: whether TLS senders must show a certificate */
enum cfg_tls_verify { CFG_TLS_VERIFY_REQUIRE = 0, CFG_TLS_VERIFY_OPTIONAL, CFG_TLS_VERIFY_NONE };

/* A network: an address with a prefix length ("10.0.0.0/8", "2001:db8::/32",
 * a bare address is /32 or /128). */
struct cfg_net {
    int family; /* AF_INET or AF_INET6 */
    unsigned char addr[16];
    unsigned prefix;
};

/* [alerts] stdout: no; yes (a short human line per alert when stdout is a
 * terminal, JSON Lines otherwise); json (always JSON Lines); text (always
 * the human line) */
enum cfg_stdout { CFG_STDOUT_NO = 0, CFG_STDOUT_AUTO, CFG_STDOUT_JSON, CFG_STDOUT_TEXT };

/* The SSH algorithm categories a server profile has. */
enum cfg_category { CFG_CAT_KEX = 0, CFG_CAT_HOSTKEY, CFG_CAT_CIPHER, CFG_CAT_MAC, CFG_CAT_COMPRESSION,
                    CFG_CAT_COUNT };

/* A name-list as configured: names as written (wire names or vendor
 * keywords), in order. */
struct cfg_list {
    char **names;
    size_t n;
    bool set; /* the key was present (an empty list is then meaningful) */
};

/* A [device NAME] or [group NAME] section. */
struct cfg_device {
    char *name;
    bool is_group;
    char **match; /* source addresses, CIDRs or host names, as written */
    size_t n_match;
    char *vendor; /* huawei | cisco | h3c | openssh | dropbear, or NULL */
    char *group;  /* device only: the [group] it inherits from, or NULL */
    unsigned probe_port; /* [probe] asks its SSH server on this port; 0: [probe] port (or the group's) */
    struct cfg_list lists[CFG_CAT_COUNT];
    int line;     /* where the section starts, for messages */
    int group_line; /* where group = was set */
};

struct cfg {
    char *path; /* the file read */
    char *dir;  /* its directory, for relative paths */

    /* [daemon] */
    char *user;         /* drop privileges to this user after binding; NULL */
    int log_level;      /* enum log_level */
    size_t max_memory;  /* bytes for sessions, the database queue and alert state together */

    /* [listen] */
    struct cfg_addr *udp;
    size_t n_udp;
    struct cfg_addr *tcp;
    size_t n_tcp;
    size_t max_message;       /* bytes */
    unsigned max_connections;
    enum cfg_identify identify;
    int udp_rcvbuf;           /* bytes asked for; default CFG_DEFAULT_UDP_RCVBUF; 0 = kernel default */
    unsigned tcp_idle_timeout; /* seconds; 0 = never */
    size_t tcp_max_buffer;    /* bytes buffered per connection before reads pause */
    struct cfg_addr *tls;     /* RFC 5425 listeners */
    size_t n_tls;
    char *tls_cert;           /* PEM certificate chain; needed when tls is set */
    char *tls_key;            /* PEM private key */
    char *tls_ca;             /* PEM CAs that sign senders' certificates; NULL = none */
    enum cfg_tls_verify tls_verify; /* default require */
    char **tls_peers;         /* allowed names (wildcards) or "sha256:HEX"; none = any verified peer */
    size_t n_tls_peers;
    unsigned tls_handshake_timeout; /* seconds a TLS handshake may take (10) */

    /* [store] */
    char *database;
    unsigned retention_days;
    unsigned keep_successes; /* seconds success rows are kept (then only counted, in daily); 0 = as long as failures */

    /* [alerts] */
    char *alert_file;     /* NULL = off */
    enum cfg_stdout alert_stdout;
    char *webhook;        /* NULL = off */
    char *webhook_format; /* "alertmanager" (default) or "generic" */
    unsigned repeat_interval; /* seconds */
    unsigned resolve_after;   /* seconds of quiet before "resolved"; 0 = never */
    unsigned resend_interval; /* firing alerts re-sent to Alertmanager webhooks this often (endsAt 3x ahead); 0 = never */
    char *syslog_sink;        /* "udp://HOST:PORT", "tcp://HOST:PORT" or "tcp+tls://HOST:PORT" (RFC 5424), NULL = off */
    char *syslog_ca;          /* PEM CAs for a tcp+tls:// sink; NULL = the system's */
    char *webhook_ca;         /* PEM CAs for an https:// webhook; NULL = the system's */
    char *webhook_cert;       /* client certificate for the webhook, or NULL */
    char *webhook_key;        /* its key (defaults to webhook_cert's file) */
    char *exec_sink;          /* program run per alert with the JSON on stdin, NULL = off */
    unsigned exec_timeout;    /* seconds before the program is killed */
    unsigned exec_max;        /* programs running at once; more wait */
    unsigned webhook_queue;   /* webhook notifications held in memory; more wait in the outbox for the next start */

    /* [patterns] and knowledge files under conf/ */
    char *patterns_dir;
    char *algorithms;
    char *catalogue;
    char *keywords;

    /* [http] (listen also as [metrics] listen) */
    struct cfg_addr *metrics_listen; /* NULL = off */
    char *http_users;                /* basic-auth users file, NULL = no authentication */
    unsigned http_max_connections;   /* default 64 */
    bool http_tls;                   /* [http] tls: serve HTTPS (default no) */
    char *http_tls_cert;             /* NULL = [listen] tls_cert */
    char *http_tls_key;              /* NULL = [listen] tls_key */
    char *http_tls_ca;               /* client-certificate CAs, NULL = [listen] tls_ca */
    enum cfg_tls_verify http_tls_verify; /* default none: browsers show no certificate */
    /* where people reach the console (like Alertmanager's --web.external-url):
     * "http(s)://HOST[:PORT][/PATH]/", always ending in '/'; alerts link
     * their page (console_url, Alertmanager's generatorURL) under it.
     * NULL = not set: alerts carry no link */
    char *http_external_url;

    /* [probe]: the daemon asks devices' SSH servers for their lists */
    bool probe_enable;          /* default no: nothing is probed */
    struct cfg_net *probe_allow; /* only these networks are ever probed */
    size_t n_probe_allow;
    unsigned probe_port;         /* default 22 */
    unsigned probe_interval;     /* seconds between probes of a device (24h) */
    unsigned probe_after_failure; /* seconds after a failure with unknown server lists (5m) */
    unsigned probe_max_parallel; /* default 8 */
    unsigned probe_timeout;      /* seconds (10s) */

    /* [device NAME] and [group NAME] */
    struct cfg_device *devices;
    size_t n_devices;
};

/* Error list filled by cfg_load(). */
struct cfg_errors {
    char **msgs; /* "FILE:LINE: text" */
    size_t n;
};

/* Reads the file at path. On success returns 0 and sets *out (free with
 * cfg_free()). On failure returns -1, sets *out to NULL and appends every
 * problem found to errs (free with cfg_errors_free()). A file that cannot be
 * opened is one error. */
int cfg_load(const char *path, struct cfg **out, struct cfg_errors *errs);

/* Returns a configuration with every default and no listeners, database
 * ":memory:" and no sinks, as `kexwatch replay` without -c uses. NULL when
 * memory is short. */
struct cfg *cfg_new_default(void);

void cfg_free(struct cfg *c);
void cfg_errors_free(struct cfg_errors *errs);

/* Parses "HOST:PORT" ("[v6]:PORT" for IPv6, numeric addresses only) into a.
 * Returns 0 or -1. */
int cfg_parse_addr(const char *text, struct cfg_addr *a);

/* Parses "ADDRESS[/PREFIX]" into n. Returns 0 or -1. */
int cfg_parse_net(const char *text, struct cfg_net *n);

/* True when sa (IPv4, IPv6 or IPv4-mapped IPv6) lies in n. */
bool cfg_net_contains(const struct cfg_net *n, const struct sockaddr *sa);

/* Parses a duration "90", "30s", "5m", "4h", "7d" into seconds. Returns 0 or -1. */
int cfg_parse_duration(const char *text, unsigned *seconds);

/* The same into 64 bits ("100000d" works). Returns 0, -1 when text is not
 * a duration, or -2 when it is one but exceeds INT64_MAX seconds
 * (CFG_DURATION64_MAX_DAYS = 106751991167300 days is the largest whole
 * number of days). */
/* [daemon] max_memory when not set: what 100,000 devices need with room to
 * spare (measured: tests/bench/README.md, "Memory") */
#define CFG_MAX_MEMORY_DEFAULT (1024ULL << 20)
#define CFG_DURATION64_MAX_DAYS 106751991167300LL
int cfg_parse_duration64(const char *text, int64_t *seconds);

/* The key name of a category ("kex", "hostkey", "cipher", "mac", "compression"). */
const char *cfg_category_name(enum cfg_category c);

#endif
