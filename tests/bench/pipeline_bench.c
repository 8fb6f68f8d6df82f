/* SPDX-License-Identifier: ISC */
/* Benchmark of the stages after framing, on one core, in-process:
 *  1. ordinary lines (no SSH content) through header parsing and the SSH
 *     pre-filter: what most of a NOC's traffic costs;
 *  2. SSH negotiation lines (the corpus streams, spread over many devices)
 *     through header parsing, patterns, correlation and the engine.
 * Prints lines per second for each. Not a test: it asserts nothing.
 * Usage: pipeline_bench CONFDIR CORPUSDIR [SECONDS] */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include "cfg.h"
#include "pipeline.h"
#include "stats.h"

static unsigned long g_outcomes;

static void count_outcome(void *arg, const struct negotiation *n)
{
    (void)arg;
    (void)n;
    g_outcomes++;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double cpu_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* lines of a file, each rewritten so its host name is "dNNNN" when
 * spread is set (the host is the 4th field of these corpus lines) */
static char **read_lines(const char *path, size_t *n)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        perror(path);
        exit(1);
    }
    char **v = NULL;
    size_t cap = 0, cnt = 0;
    char *line = NULL;
    size_t lcap = 0;
    ssize_t len;
    while ((len = getline(&line, &lcap, f)) > 0) {
        while (len && (line[len - 1] == '\n' || line[len - 1] == '\r'))
            line[--len] = '\0';
        if (!len)
            continue;
        if (cnt == cap) {
            cap = cap ? cap * 2 : 256;
            v = realloc(v, cap * sizeof *v);
        }
        v[cnt++] = strdup(line);
    }
    free(line);
    fclose(f);
    *n = cnt;
    return v;
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: pipeline_bench CONFDIR CORPUSDIR [SECONDS]\n");
        return 2;
    }
    double secs = argc > 3 ? atof(argv[3]) : 3.0;
    setenv("KEXWATCH_CONFDIR", argv[1], 1);
    /* the corpus devices' server lists, as groups over 5,000 addresses */
    char path[4096];
    snprintf(path, sizeof path, "%s/kw-bench-%ld.conf", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp", (long)getpid());
    FILE *cf = fopen(path, "w");
    if (!cf) {
        perror(path);
        return 1;
    }
    fprintf(cf, "[group core]\nmatch = 10.1.0.0/16\nvendor = huawei\n"
                "kex = dh_group_exchange_sha256 dh_group16_sha512 curve25519_sha256\n"
                "hostkey = ecc rsa_sha2_256 rsa_sha2_512\n"
                "cipher = aes256_gcm aes128_gcm aes256_ctr aes192_ctr aes128_ctr\n"
                "mac = sha2_512_etm sha2_256_etm sha2_512 sha2_256\ncompression = none\n"
                "[group edge]\nmatch = 10.2.0.0/16\nvendor = huawei\n"
                "kex = dh_group14_sha1 dh_group1_sha1 dh_group_exchange_sha1\nhostkey = rsa\n"
                "cipher = aes128_cbc aes256_cbc 3des_cbc\nmac = sha1 md5\ncompression = none\n"
                "[group agg]\nmatch = 10.3.0.0/16\nvendor = huawei\n"
                "kex = curve25519-sha256,diffie-hellman-group16-sha512\nhostkey = rsa-sha2-512,rsa-sha2-256\n"
                "cipher = aes256-gcm@openssh.com,aes128-gcm@openssh.com\n"
                "mac = hmac-sha2-256-etm@openssh.com,hmac-sha2-256\ncompression = none\n");
    fclose(cf);
    struct cfg *cfg;
    struct cfg_errors errs = {0};
    if (cfg_load(path, &cfg, &errs) < 0) {
        fprintf(stderr, "%s\n", errs.n ? errs.msgs[0] : "config");
        return 1;
    }
    remove(path);
    struct pipeline *p;
    if (pipeline_new(cfg, &p, &errs) < 0) {
        fprintf(stderr, "%s\n", errs.n ? errs.msgs[0] : "pipeline");
        return 1;
    }
    pipeline_set_outcome_cb(p, count_outcome, NULL);

    /* 1: ordinary lines */
    static const char *const ordinary[] = {
        "<189>Nov 24 2026 09:00:05.970 HW-CORE-1 %%01IFNET/4/LINK_STATE(l)[12]:The line protocol IP on the "
        "interface GigabitEthernet0/0/1 has entered the UP state.",
        "<190>Nov 24 2026 09:00:05.970 HW-CORE-1 %%01SHELL/6/DISPLAY_CMDRECORD(s)[204]: Recorded display command "
        "information. (Task=VT1, Ip=192.0.2.40, VpnName=, User=netops, Command=\"display interface brief\")",
        "<187>Nov 24 09:00:05 core-rtr-7 OSPF[1234]: Neighbor 10.1.1.2 on GigabitEthernet0/0/2 changed state from "
        "Loading to Full, LoadingDone",
        "<14>1 2026-11-24T09:00:05.123Z edge-fw-3 kernel - - - nf_conntrack: table full, dropping packet from "
        "198.51.100.23 to 203.0.113.9 port 443 proto 6",
        "<13>Nov 24 09:00:05 acc-sw-12 000231: Nov 24 09:00:05.179: %LINEPROTO-5-UPDOWN: Line protocol on "
        "Interface GigabitEthernet1/0/7, changed state to down",
    };
    struct msg m = {.transport = MSG_UDP, .rx_sec = 1795000000};
    unsigned long n = 0;
    double t0 = now_s(), c0 = cpu_s();
    while (now_s() - t0 < secs) {
        for (int k = 0; k < 1000; k++) {
            const char *l = ordinary[n++ % 5];
            m.data = l;
            m.len = strlen(l);
            pipeline_feed(p, &m);
        }
    }
    double dt = now_s() - t0, dc = cpu_s() - c0;
    printf("ordinary lines (header + pre-filter): %.0f lines/s (%lu lines, %.2f s CPU, %lu passed the "
           "pre-filter)\n",
           (double)n / dc, n, dc, (unsigned long)g_stats.ssh_candidates);
    (void)dt;

    /* 2: SSH lines over 5,000 devices: each pass of the Huawei stream comes
     * from other source addresses (identify = source), so sessions open,
     * join and decide per device as in a fleet, and inventory groups match
     * by CIDR */
    snprintf(path, sizeof path, "%s/huawei-assumed/huawei.log", argv[2]);
    size_t nl;
    char **lines = read_lines(path, &nl);
    unsigned long ssh = 0, pass = 0;
    uint64_t matched0 = g_stats.ssh_matched;
    struct sockaddr_in sin = {.sin_family = AF_INET};
    m.transport = MSG_UDP;
    m.src = (const struct sockaddr *)&sin;
    m.srclen = sizeof sin;
    t0 = now_s();
    c0 = cpu_s();
    while (now_s() - t0 < secs) {
        unsigned dev = (unsigned)(pass++ % 1667);
        for (size_t i = 0; i < nl; i++) {
            /* HW-CORE-1 -> 10.1.x.y, HW-EDGE-2 -> 10.2.x.y, HW-AGG-3 -> 10.3.x.y */
            const char *h = strstr(lines[i], " HW-");
            unsigned net = !h ? 1 : h[4] == 'C' ? 1 : h[4] == 'E' ? 2 : 3;
            sin.sin_addr.s_addr = htonl((10u << 24) | (net << 16) | dev);
            m.data = lines[i];
            m.len = strlen(lines[i]);
            m.rx_sec = 1795000000 + (int64_t)pass;
            pipeline_feed(p, &m);
            ssh++;
        }
    }
    dc = cpu_s() - c0;
    pipeline_finish(p);
    printf("corpus lines (header + patterns + correlation + engine): %.0f lines/s (%lu lines, %.2f s CPU, "
           "%lu matched an SSH pattern, %lu negotiations decided)\n",
           (double)ssh / dc, ssh, dc, (unsigned long)(g_stats.ssh_matched - matched0), g_outcomes);
    const struct session_counts *sc = pipeline_session_counts(p);
    printf("  correlation: %llu events, %llu failures, %llu successes, %llu undecided, %llu orphans, %llu "
           "duplicates, %llu evicted, %llu expired\n",
           (unsigned long long)sc->events, (unsigned long long)sc->failures, (unsigned long long)sc->successes,
           (unsigned long long)sc->undecided, (unsigned long long)sc->orphans, (unsigned long long)sc->duplicates,
           (unsigned long long)sc->evicted, (unsigned long long)sc->expired);
    for (size_t i = 0; i < nl; i++)
        free(lines[i]);
    free(lines);
    pipeline_free(p);
    cfg_free(cfg);
    return 0;
}
