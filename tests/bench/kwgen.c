/* SPDX-License-Identifier: ISC */
/* kwgen: syslog load generator for tests/bench/ingest.sh.
 *
 * Sends a mixed stream to 127.0.0.1 only: 99 % ordinary network-device lines
 * (interface up/down, OSPF, command records, ARP, firewall, BGP; RFC 3164,
 * RFC 5424, Huawei "%%01" and H3C "%%10" headers) and 1 % SSH negotiation
 * lines. Every SSH line contains the string "SSH" and no ordinary line does,
 * so a collector that keeps lines containing "SSH" must keep exactly the
 * "ssh=" figure printed at the end.
 *
 * The stream is a fixed pool of POOL lines built once from a seeded PRNG;
 * message k of a run is pool[k % POOL], and pool[i] is an SSH line exactly
 * when i % 100 == SSH_SLOT.
 *
 * Every mode is bounded by a message count and a number of seconds, and
 * prints one line:  sent=N ssh=N bytes=N seconds=S rate=R
 * (bytes are payload bytes; TCP counts the LF framing byte too).
 *
 * Mode tls (built with -DKWGEN_TLS and -lssl -lcrypto) is mode tcp over TLS
 * (RFC 5425): every line octet-counted ("LEN TEXT", no LF), each connection
 * verified against a CA and showing a client certificate; the handshakes are
 * done before the clock starts, so the figure is the data phase only.
 *
 * UDP modes send one line per datagram (RFC 5426) with sendmmsg. With the
 * extra argument "gso" every datagram is the line padded with blanks to
 * GSO_LEN bytes, and up to 64 of them leave in one send() with UDP_SEGMENT:
 * the kernel cuts them into ordinary datagrams before the receiving socket,
 * which sees no difference, while the sender's cost per message drops about
 * fourfold. On a two-core machine that is what lets one generator core
 * outrun one daemon core.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <arpa/inet.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>
#ifdef KWGEN_TLS
#include <openssl/err.h>
#include <openssl/ssl.h>
#endif

#define POOL 10000
#define SSH_SLOT 37
#define LINE_MAX_LEN 512
#define UDP_BATCH 64
#define GSO_LEN 248 /* fixed datagram size in gso mode: the longest line, blank-padded */
#define TCP_WRITE_MAX 65536
#define TICK_NS 250000L /* pacing tick: bursts of rate/4000 messages */

static char *pool_buf;           /* all lines, each followed by '\n' */
static size_t pool_off[POOL + 1]; /* line i is pool_buf[pool_off[i] .. pool_off[i+1]) incl. '\n' */
static unsigned char pool_ssh[POOL];
static char *fixed_buf; /* gso mode: line i is fixed_buf[i * GSO_LEN ..], blank-padded */

static void die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("kwgen: ", stderr);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    exit(2);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ------------------------------------------------------------ the pool */

static uint64_t rng_state = 0x6b6578776174636bULL;

/* xorshift64*: deterministic, so every run sends the same stream */
static uint32_t rnd(uint32_t n)
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return (uint32_t)((rng_state * 0x2545F4914F6CDD1DULL) >> 32) % n;
}

#define PICK(a) ((a)[rnd(sizeof(a) / sizeof((a)[0]))])

static const char MON[] = "Nov";
static const char *const hw_dev[] = {"HW-CORE-1", "HW-CORE-2", "HW-AGG-03", "HW-AGG-12", "HW-ACC-117",
                                     "HW-ACC-204", "HW-BNG-2", "HW-PE-AMS-1"};
static const char *const cs_dev[] = {"r1-wan", "r2-core", "edge-r4", "dc1-leaf-07", "dc1-spine-2", "pop-fra-rr1"};
static const char *const lx_dev[] = {"jump-1", "fw-edge-2", "srv-db-3", "mon-01", "radius-2"};
static const char *const h3_dev[] = {"H3C-SW1", "H3C-S6850-2", "H3C-ACC-31"};
static const char *const users[] = {"noc-ops", "jdoe", "asmith", "netadmin", "automation", "k.nakamura"};
static const char *const hw_cmds[] = {"display interface brief", "display ospf peer brief", "undo shutdown",
                                      "interface GigabitEthernet0/0/4", "display current-configuration | include vlan",
                                      "port link-type trunk", "port trunk allow-pass vlan 100 to 199",
                                      "display bgp peer", "ospf cost 20", "commit"};
static const char *const if_reasons[] = {"The link protocol is down", "The interface is shut down",
                                         "The link protocol is up", "The physical link is down"};

static void ip4(char *buf, size_t size, int a)
{
    snprintf(buf, size, "%d.%u.%u.%u", a, rnd(255), rnd(255), 1 + rnd(253));
}

/* One ordinary line into buf (no LF); returns its length. */
static int ordinary_line(char *buf, size_t size, int i)
{
    char ip[32], ip2[32];
    int sec = i % 60, min = (i / 60) % 60, ms = rnd(1000);
    int day = 24, pri;
    int port = rnd(48) + 1;
    ip4(ip, sizeof ip, 10);
    ip4(ip2, sizeof ip2, 192);
    switch (rnd(12)) {
    case 0: {
        int up = rnd(2);
        pri = up ? 189 : 185;
        return snprintf(buf, size,
                        "<%d>%s %d 2026 09:%02d:%02d.%03d %s %%%%01IFNET/%d/linkDown_%s(l)[%u]:The interface status "
                        "changes. (ifName=GigabitEthernet0/0/%d, AdminStatus=UP, OperStatus=%s, Reason=%s)",
                        pri, MON, day, min, sec, ms, PICK(hw_dev), up ? 5 : 1, up ? "clear" : "active",
                        rnd(900), port, up ? "UP" : "DOWN", up ? if_reasons[2] : if_reasons[(int[]){0, 1, 3}[rnd(3)]]);
    }
    case 1:
        return snprintf(buf, size,
                        "<188>%s %d 2026 09:%02d:%02d.%03d %s %%%%01OSPF/3/NBR_CHG_DOWN(l)[%u]:Neighbor event:neighbor "
                        "state changed to Down. (ProcessId=%u, NeighborAddress=%s, NeighborEvent=KillNbr, "
                        "NeighborCurrentState=Down)",
                        MON, day, min, sec, ms, PICK(hw_dev), rnd(900), 1 + rnd(4), ip);
    case 2:
        return snprintf(buf, size,
                        "<189>%s %d 2026 09:%02d:%02d %s %%%%01SHELL/5/CMDRECORD(s)[%u]:Recorded command "
                        "information. (Task=VT%u, Ip=%s, VpnName=, User=%s, AuthenticationMethod=\"Local-user\", "
                        "Command=\"%s\")",
                        MON, day, min, sec, PICK(hw_dev), rnd(900), rnd(5), ip2, PICK(users), PICK(hw_cmds));
    case 3:
        return snprintf(buf, size,
                        "<188>%s %d 2026 09:%02d:%02d.%03d %s %%%%01ARP/4/ARP_DUPLICATE_IPADDR(l)[%u]:Received an "
                        "ARP packet with a duplicate IP address from the interface. (IpAddress=%s, "
                        "InterfaceName=Vlanif%u, MacAddress=%04x-%04x-%04x)",
                        MON, day, min, sec, ms, PICK(hw_dev), rnd(900), ip, 100 + rnd(50), rnd(65536),
                        rnd(65536), rnd(65536));
    case 4: {
        int up = rnd(2);
        return snprintf(buf, size,
                        "<%d>%s %d 09:%02d:%02d %s %u: %s %d 09:%02d:%02d.%03d UTC: %%LINEPROTO-5-UPDOWN: Line "
                        "protocol on Interface TenGigabitEthernet1/0/%d, changed state to %s",
                        up ? 189 : 187, MON, day, min, sec, PICK(cs_dev), rnd(999999), MON, day, min,
                        sec, ms, port, up ? "up" : "down");
    }
    case 5:
        return snprintf(buf, size,
                        "<189>%s %d 09:%02d:%02d %s %u: %s %d 09:%02d:%02d.%03d UTC: %%OSPF-5-ADJCHG: Process %u, "
                        "Nbr %s on TenGigabitEthernet1/0/%d from FULL to DOWN, Neighbor Down: Dead timer expired",
                        MON, day, min, sec, PICK(cs_dev), rnd(999999), MON, day, min, sec, ms,
                        1 + rnd(9), ip, port);
    case 6:
        return snprintf(buf, size,
                        "<189>%s %d 09:%02d:%02d %s %u: %s %d 09:%02d:%02d.%03d UTC: %%PARSER-5-CFGLOG_LOGGEDCMD: "
                        "User:%s  logged command:interface TenGigabitEthernet1/0/%d ; description uplink-%u",
                        MON, day, min, sec, PICK(cs_dev), rnd(999999), MON, day, min, sec, ms,
                        PICK(users), port, rnd(9999));
    case 7:
        return snprintf(buf, size,
                        "<4>%s %d 09:%02d:%02d %s kernel: [%u.%06u] DROP IN=eth0 OUT= SRC=%s DST=%s LEN=60 "
                        "TOS=0x00 PREC=0x00 TTL=%u ID=%u DF PROTO=TCP SPT=%u DPT=443 WINDOW=64240 RES=0x00 SYN URGP=0",
                        MON, day, min, sec, PICK(lx_dev), 100000 + rnd(900000), rnd(1000000), ip2, ip,
                        32 + rnd(100), rnd(65536), 1024 + rnd(60000));
    case 8:
        return snprintf(buf, size,
                        "<165>1 2026-11-24T09:%02d:%02d.%03dZ %s bgpd %u BGP_NBR - BGP neighbor %s (AS %u) state "
                        "changed from Established to Idle: hold timer expired, %u prefixes withdrawn",
                        min, sec, ms, PICK(cs_dev), 1000 + rnd(30000), ip2, 64512 + rnd(1000), rnd(900000));
    case 9: {
        int up = rnd(2);
        return snprintf(buf, size,
                        "<%d>%s %d 09:%02d:%02d:%03d 2026 %s %%%%10IFNET/%d/PHY_UPDOWN: Physical state on the "
                        "interface Ten-GigabitEthernet1/0/%d changed to %s. (peer %s, vlan %u)",
                        up ? 190 : 188, MON, day, min, sec, ms, PICK(h3_dev), up ? 5 : 3, port,
                        up ? "up" : "down", ip, 1 + rnd(4094));
    }
    case 10:
        return snprintf(buf, size,
                        "<86>%s %d 09:%02d:%02d %s CRON[%u]: pam_unix(cron:session): session opened for user %s"
                        "(uid=%u) by (uid=0); job /usr/local/bin/backup-configs --site=%s --all",
                        MON, day, min, sec, PICK(lx_dev), 1000 + rnd(60000), PICK(users), 1000 + rnd(50),
                        PICK(hw_dev));
    default:
        return snprintf(buf, size,
                        "<190>%s %d 2026 09:%02d:%02d %s %%%%01NTP/4/PEER_SELE(l)[%u]:The peer selected by the "
                        "system is %s. (SourceAddress=%s, Stratum=%u, Offset=%u us, Delay=%u us)",
                        MON, day, min, sec, PICK(hw_dev), rnd(900), ip, ip2, 1 + rnd(4), rnd(2000),
                        rnd(50000));
    }
}

/* SSH negotiation lines, as in tests/data/corpus (Huawei debug, Huawei
 * information centre, Cisco IOS, OpenSSH sshd). OpenSSH's "Unable to
 * negotiate" text holds no "SSH", so the sshd lines are ones that do. */
static int ssh_line(char *buf, size_t size, int i)
{
    int sec = i % 60, min = (i / 60) % 60, ms = rnd(1000);
    char ip[32];
    ip4(ip, sizeof ip, 192);
    switch (rnd(7)) {
    case 0:
        return snprintf(buf, size,
                        "<191>Nov 24 2026 09:%02d:%02d.%03d %s SSH/7/SSH_DEBUG: SSH protocol packet received: "
                        "key_ex: diffie-hellman-group-exchange-sha1,diffie-hellman-group14-sha1,"
                        "diffie-hellman-group1-sha1",
                        min, sec, ms, PICK(hw_dev));
    case 1:
        return snprintf(buf, size,
                        "<191>Nov 24 2026 09:%02d:%02d.%03d %s SSH/7/SSH_DEBUG: SSH protocol packet received: "
                        "ciph_ctos: aes128-ctr,aes128-cbc,3des-ctr,3des-cbc,blowfish-cbc",
                        min, sec, ms, PICK(hw_dev));
    case 2:
        return snprintf(buf, size,
                        "<191>Nov 24 2026 09:%02d:%02d.%03d %s SSH/7/SSH_DEBUG: SSH protocol version string "
                        "received (VTY %u, %s): SSH-2.0-JSCH-0.1.54",
                        min, sec, ms, PICK(hw_dev), rnd(5), ip);
    case 3:
        return snprintf(buf, size,
                        "<189>Nov 24 2026 09:%02d:%02d.%03d %s %%%%01SSH/5/SSH_USER_LOGIN_FAIL(s):CID=0x80932723; "
                        "The SSH user failed to login. (ServiceType=stelnet, FailedReason=Key exchange failed, "
                        "UserName=**, IPAddress=%s, VPNInstanceName=_public_.)",
                        min, sec, ms, PICK(hw_dev), ip);
    case 4:
        return snprintf(buf, size,
                        "<187>Nov 24 09:%02d:%02d %s %u: Nov 24 09:%02d:%02d.%03d: %%SSH-3-NO_MATCH: No matching "
                        "cipher found: client aes128-ctr,aes192-ctr,aes256-ctr,aes128-cbc,3des-cbc server aes256-cbc",
                        min, sec, PICK(cs_dev), rnd(999999), min, sec, ms);
    case 5:
        return snprintf(buf, size,
                        "<151>Nov 24 09:%02d:%02d %s sshd[%u]: debug1: Remote protocol version 2.0, remote software "
                        "version OpenSSH_7.4",
                        min, sec, PICK(lx_dev), 2000 + rnd(60000));
    default:
        return snprintf(buf, size, "<151>Nov 24 09:%02d:%02d %s sshd[%u]: debug1: SSH2_MSG_KEXINIT received [preauth]",
                        min, sec, PICK(lx_dev), 2000 + rnd(60000));
    }
}

static void pool_build(void)
{
    pool_buf = malloc((size_t)POOL * (LINE_MAX_LEN + 1));
    if (!pool_buf)
        die("out of memory");
    size_t pos = 0;
    for (int i = 0; i < POOL; i++) {
        int ssh = i % 100 == SSH_SLOT;
        int n = ssh ? ssh_line(pool_buf + pos, LINE_MAX_LEN, i) : ordinary_line(pool_buf + pos, LINE_MAX_LEN, i);
        if (n <= 0 || n >= LINE_MAX_LEN)
            die("line %d does not fit", i);
        /* the contract ingest.sh relies on */
        if ((memmem(pool_buf + pos, (size_t)n, "SSH", 3) != NULL) != ssh)
            die("line %d breaks the SSH marker rule: %.*s", i, n, pool_buf + pos);
        pool_off[i] = pos;
        pool_ssh[i] = (unsigned char)ssh;
        pos += (size_t)n;
        pool_buf[pos++] = '\n';
    }
    pool_off[POOL] = pos;
    fixed_buf = malloc((size_t)POOL * GSO_LEN);
    if (!fixed_buf)
        die("out of memory");
    memset(fixed_buf, ' ', (size_t)POOL * GSO_LEN);
    for (int i = 0; i < POOL; i++) {
        size_t n = pool_off[i + 1] - pool_off[i] - 1;
        if (n > GSO_LEN)
            die("line %d is longer than GSO_LEN", i);
        memcpy(fixed_buf + (size_t)i * GSO_LEN, pool_buf + pool_off[i], n);
    }
}

/* ------------------------------------------------------------- sockets */

static struct sockaddr_in target(int port)
{
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK); /* loopback only, by design */
    return sin;
}

static int use_gso;   /* "gso" given */
static int gso_ready; /* UDP_SEGMENT accepted by the kernel */

static int udp_socket(int port)
{
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    if (fd < 0)
        die("socket: %s", strerror(errno));
    int sz = 4 << 20;
    setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sz, sizeof sz);
    struct sockaddr_in sin = target(port);
    if (connect(fd, (struct sockaddr *)&sin, sizeof sin) < 0)
        die("connect udp: %s", strerror(errno));
    if (use_gso) {
        int seg = GSO_LEN;
        gso_ready = setsockopt(fd, SOL_UDP, UDP_SEGMENT, &seg, sizeof seg) == 0;
        if (!gso_ready)
            fprintf(stderr, "kwgen: UDP_SEGMENT unavailable (%s); padded datagrams go by sendmmsg\n",
                    strerror(errno));
    }
    return fd;
}

struct result {
    uint64_t sent, ssh, bytes;
    double secs;
};

static void report(const struct result *r)
{
    printf("sent=%llu ssh=%llu bytes=%llu seconds=%.4f rate=%.0f\n", (unsigned long long)r->sent,
           (unsigned long long)r->ssh, (unsigned long long)r->bytes, r->secs,
           r->secs > 0 ? (double)r->sent / r->secs : 0.0);
    fflush(stdout);
}

/* gso mode: up to 64 consecutive pool lines in one send(); returns how
 * many messages the kernel took. */
static unsigned udp_send_gso(int fd, uint64_t *k, unsigned n, struct result *r)
{
    unsigned total = 0;
    while (total < n) {
        size_t i = (size_t)(*k % POOL);
        unsigned b = n - total < UDP_BATCH ? n - total : UDP_BATCH;
        if (b > POOL - i)
            b = (unsigned)(POOL - i); /* the segments must lie end to end */
        if (send(fd, fixed_buf + i * GSO_LEN, (size_t)b * GSO_LEN, 0) < 0) {
            if (errno == EINTR || errno == ENOBUFS || errno == EAGAIN)
                continue;
            die("send (gso): %s", strerror(errno));
        }
        for (unsigned j = 0; j < b; j++)
            r->ssh += pool_ssh[i + j];
        r->bytes += (uint64_t)b * GSO_LEN;
        *k += b;
        r->sent += b;
        total += b;
    }
    return total;
}

/* Sends up to n messages starting at stream position *k with sendmmsg (or
 * GSO); returns how many the kernel took. */
static unsigned udp_send_batch(int fd, uint64_t *k, unsigned n, struct result *r)
{
    if (gso_ready)
        return udp_send_gso(fd, k, n, r);
    struct mmsghdr mm[UDP_BATCH];
    struct iovec iov[UDP_BATCH];
    unsigned total = 0;
    while (total < n) {
        unsigned b = n - total < UDP_BATCH ? n - total : UDP_BATCH;
        for (unsigned j = 0; j < b; j++) {
            size_t i = (size_t)((*k + j) % POOL);
            if (use_gso) {
                iov[j].iov_base = fixed_buf + i * GSO_LEN;
                iov[j].iov_len = GSO_LEN;
            } else {
                iov[j].iov_base = pool_buf + pool_off[i];
                iov[j].iov_len = pool_off[i + 1] - pool_off[i] - 1; /* no LF in a datagram */
            }
            memset(&mm[j].msg_hdr, 0, sizeof mm[j].msg_hdr);
            mm[j].msg_hdr.msg_iov = &iov[j];
            mm[j].msg_hdr.msg_iovlen = 1;
        }
        int s = sendmmsg(fd, mm, b, 0);
        if (s < 0) {
            if (errno == EINTR || errno == ENOBUFS || errno == EAGAIN)
                continue;
            die("sendmmsg: %s", strerror(errno));
        }
        for (int j = 0; j < s; j++) {
            size_t i = (size_t)((*k + (unsigned)j) % POOL);
            r->ssh += pool_ssh[i];
            r->bytes += iov[j].iov_len;
        }
        *k += (unsigned)s;
        r->sent += (unsigned)s;
        total += (unsigned)s;
    }
    return total;
}

/* UDP at a target rate: every TICK_NS the messages now due are sent in one
 * burst, so the average rate is exact and bursts stay at rate/4000. */
static void mode_udp_rate(int port, double rate, uint64_t count, double max_s)
{
    int fd = udp_socket(port);
    struct result r = {0};
    uint64_t k = 0;
    struct timespec t0, next;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    next = t0;
    double start = now_s();
    while (r.sent < count) {
        double el = now_s() - start;
        if (el >= max_s)
            break;
        uint64_t due = (uint64_t)(rate * el) + 1;
        if (due > count)
            due = count;
        if (due > r.sent)
            udp_send_batch(fd, &k, (unsigned)(due - r.sent), &r);
        next.tv_nsec += TICK_NS;
        if (next.tv_nsec >= 1000000000L) {
            next.tv_nsec -= 1000000000L;
            next.tv_sec++;
        }
        while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &next, NULL) == EINTR)
            ;
    }
    r.secs = now_s() - start;
    close(fd);
    report(&r);
}

static void mode_udp_flood(int port, uint64_t count, double max_s)
{
    int fd = udp_socket(port);
    struct result r = {0};
    uint64_t k = 0;
    double start = now_s();
    while (r.sent < count) {
        uint64_t left = count - r.sent;
        udp_send_batch(fd, &k, left < 4096 ? (unsigned)left : 4096, &r);
        if (now_s() - start >= max_s)
            break;
    }
    r.secs = now_s() - start;
    close(fd);
    report(&r);
}

static int tcp_connect(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        die("socket: %s", strerror(errno));
    struct sockaddr_in sin = target(port);
    struct timeval tv = {.tv_sec = 5};
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv); /* bounds a blocking connect */
    if (connect(fd, (struct sockaddr *)&sin, sizeof sin) < 0) {
        close(fd);
        return -1;
    }
    return fd;
}

struct tconn {
    int fd;
    void *ssl;        /* SSL * in mode tls, else NULL */
    size_t i;         /* pool line being written */
    size_t pos;       /* next pool byte to write */
    uint64_t left;    /* whole messages still to send */
};

/* the stream mode tcp writes: pool_buf/pool_off (LF framing) or, in mode
 * tls, the same lines octet-counted */
static const char *stream_buf;
static const size_t *stream_off;

#ifdef KWGEN_TLS
static char *oct_buf;
static size_t oct_off[POOL + 1];
static SSL_CTX *tls_ctx;

static void tls_setup(const char *ca, const char *cert, const char *key)
{
    tls_ctx = SSL_CTX_new(TLS_client_method());
    if (!tls_ctx || SSL_CTX_load_verify_locations(tls_ctx, ca, NULL) != 1 ||
        SSL_CTX_use_certificate_chain_file(tls_ctx, cert) != 1 ||
        SSL_CTX_use_PrivateKey_file(tls_ctx, key, SSL_FILETYPE_PEM) != 1)
        die("TLS set-up (CA %s, certificate %s, key %s) failed: %s", ca, cert, key,
            ERR_error_string(ERR_get_error(), NULL));
    SSL_CTX_set_verify(tls_ctx, SSL_VERIFY_PEER, NULL);
    SSL_CTX_set_mode(tls_ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    /* octet-counted pool */
    size_t cap = pool_off[POOL] + (size_t)POOL * 8, o = 0;
    if (!(oct_buf = malloc(cap)))
        die("out of memory");
    for (size_t i = 0; i < POOL; i++) {
        size_t n = pool_off[i + 1] - pool_off[i] - 1; /* without the LF */
        oct_off[i] = o;
        o += (size_t)snprintf(oct_buf + o, cap - o, "%zu ", n);
        memcpy(oct_buf + o, pool_buf + pool_off[i], n);
        o += n;
    }
    oct_off[POOL] = o;
    stream_buf = oct_buf;
    stream_off = oct_off;
}

/* a blocking handshake on a connected socket */
static void *tls_open(int fd)
{
    SSL *ssl = SSL_new(tls_ctx);
    if (!ssl || SSL_set_fd(ssl, fd) != 1)
        die("SSL_new failed");
    X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), "127.0.0.1");
    if (SSL_connect(ssl) != 1)
        die("TLS handshake with 127.0.0.1 failed: %s", ERR_error_string(ERR_get_error(), NULL));
    return ssl;
}

/* like write(2): bytes written, or -1 with errno EAGAIN when the socket is full */
static ssize_t tls_write(void *ssl, const char *buf, size_t len)
{
    int w = SSL_write(ssl, buf, (int)len);
    if (w > 0)
        return w;
    int e = SSL_get_error(ssl, w);
    if (e == SSL_ERROR_WANT_WRITE || e == SSL_ERROR_WANT_READ) {
        errno = EAGAIN;
        return -1;
    }
    die("SSL_write: %s", ERR_error_string(ERR_get_error(), NULL));
    return -1;
}

static void tls_close(void *ssl, int fd)
{
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
    SSL_shutdown(ssl); /* close_notify: the end of the stream */
    SSL_free(ssl);
}
#endif

/* N connections, LF framing (octet counting over TLS), as fast as the
 * receiver reads; count is split evenly. A connection stops only at a
 * message boundary, even at the time limit, so the receiver never sees a
 * cut line. */
static void mode_tcp(int port, int nconn, uint64_t count, double max_s, int tls)
{
    const char *buf = stream_buf ? stream_buf : pool_buf;
    const size_t *off = stream_off ? stream_off : pool_off;
    struct tconn *c = calloc((size_t)nconn, sizeof *c);
    struct pollfd *pfd = calloc((size_t)nconn, sizeof *pfd);
    int *idx = calloc((size_t)nconn, sizeof *idx); /* pfd slot -> connection */
    if (!c || !pfd || !idx)
        die("out of memory");
    for (int j = 0; j < nconn; j++) {
        c[j].fd = tcp_connect(port);
        if (c[j].fd < 0)
            die("connect tcp 127.0.0.1:%d: %s", port, strerror(errno));
#ifdef KWGEN_TLS
        if (tls)
            c[j].ssl = tls_open(c[j].fd);
#else
        (void)tls;
#endif
        fcntl(c[j].fd, F_SETFL, fcntl(c[j].fd, F_GETFL) | O_NONBLOCK);
        c[j].i = (size_t)j * (POOL / (size_t)nconn) % POOL;
        c[j].pos = off[c[j].i];
        c[j].left = count / (uint64_t)nconn + ((uint64_t)j < count % (uint64_t)nconn);
    }
    struct result r = {0};
    double start = now_s();
    int active = nconn, stopping = 0;
    while (active > 0) {
        if (!stopping && now_s() - start >= max_s) {
            stopping = 1;
            for (int j = 0; j < nconn; j++)
                if (c[j].left)
                    c[j].left = c[j].pos > off[c[j].i] ? 1 : 0;
        }
        int np = 0;
        for (int j = 0; j < nconn; j++) {
            if (c[j].left) {
                pfd[np].fd = c[j].fd;
                pfd[np].events = POLLOUT;
                idx[np++] = j;
            }
        }
        active = np;
        if (np == 0)
            break;
        if (poll(pfd, (nfds_t)np, 200) <= 0)
            continue;
        for (int p = 0; p < np; p++) {
            if (!(pfd[p].revents & (POLLOUT | POLLERR | POLLHUP)))
                continue;
            struct tconn *t = &c[idx[p]];
            /* write whole lines up to the end of the pool, the count or 64 KB */
            size_t end_i = t->i + (t->left < POOL ? (size_t)t->left : POOL);
            if (end_i > POOL)
                end_i = POOL;
            size_t end = off[end_i];
            if (end - t->pos > TCP_WRITE_MAX)
                end = t->pos + TCP_WRITE_MAX;
            ssize_t w;
#ifdef KWGEN_TLS
            if (t->ssl)
                w = tls_write(t->ssl, buf + t->pos, end - t->pos);
            else
#endif
                w = write(t->fd, buf + t->pos, end - t->pos);
            if (w < 0) {
                if (errno == EAGAIN || errno == EINTR)
                    continue;
                die("write tcp: %s", strerror(errno));
            }
            t->pos += (size_t)w;
            r.bytes += (uint64_t)w;
            while (t->left && off[t->i + 1] <= t->pos) {
                r.sent++;
                r.ssh += pool_ssh[t->i];
                t->left--;
                if (++t->i == POOL) {
                    t->i = 0;
                    t->pos = 0;
                }
            }
        }
    }
    r.secs = now_s() - start;
    for (int j = 0; j < nconn; j++) {
#ifdef KWGEN_TLS
        if (c[j].ssl)
            tls_close(c[j].ssl, c[j].fd);
#endif
        close(c[j].fd);
    }
    free(c);
    free(pfd);
    free(idx);
    report(&r);
}

static volatile sig_atomic_t g_stop;

static void on_term(int sig)
{
    (void)sig;
    g_stop = 1;
}

/* Opens nconn connections, sends one line on each (as a device that logs now
 * and then would), prints "open=N", then holds them idle for hold_s seconds
 * or until SIGTERM. */
static void mode_idle(int port, int nconn, double hold_s)
{
    int *fds = calloc((size_t)nconn, sizeof *fds);
    if (!fds)
        die("out of memory");
    struct result r = {0};
    double start = now_s();
    int open = 0;
    for (int j = 0; j < nconn && now_s() - start < 30; j++) {
        fds[j] = tcp_connect(port);
        if (fds[j] < 0)
            break;
        open++;
        size_t i = (size_t)j % POOL;
        size_t len = pool_off[i + 1] - pool_off[i];
        if (write(fds[j], pool_buf + pool_off[i], len) == (ssize_t)len) {
            r.sent++;
            r.ssh += pool_ssh[i];
            r.bytes += len;
        }
    }
    printf("open=%d ssh=%llu connect_seconds=%.3f\n", open, (unsigned long long)r.ssh, now_s() - start);
    fflush(stdout);
    signal(SIGTERM, on_term);
    double hold_start = now_s();
    while (!g_stop && now_s() - hold_start < hold_s)
        usleep(20000);
    for (int j = 0; j < open; j++)
        close(fds[j]);
    free(fds);
    r.secs = now_s() - start;
    report(&r);
}

static void usage(void)
{
    fputs("usage: kwgen udp-rate PORT RATE COUNT MAX_SECONDS [gso]\n"
          "       kwgen udp-flood PORT COUNT MAX_SECONDS [gso]\n"
          "       kwgen tcp PORT CONNECTIONS COUNT MAX_SECONDS\n"
          "       kwgen tls PORT CONNECTIONS COUNT MAX_SECONDS CA CERT KEY   (built with -DKWGEN_TLS)\n"
          "       kwgen idle PORT CONNECTIONS HOLD_SECONDS\n"
          "       kwgen sample N        (print the first N lines of the stream)\n"
          "Sends to 127.0.0.1 only.\n",
          stderr);
    exit(2);
}

static double num(const char *s, double lo, double hi)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || *end || v < lo || v > hi)
        die("bad number '%s' (%g..%g)", s, lo, hi);
    return v;
}

int main(int argc, char **argv)
{
    if (argc < 3)
        usage();
    signal(SIGPIPE, SIG_IGN);
    pool_build();
    const char *m = argv[1];
    if (strcmp(m, "sample") == 0) {
        size_t n = (size_t)num(argv[2], 1, POOL);
        fwrite(pool_buf, 1, pool_off[n], stdout);
        return 0;
    }
    int port = (int)num(argv[2], 1, 65535);
    if (strncmp(m, "udp-", 4) == 0 && strcmp(argv[argc - 1], "gso") == 0) {
        use_gso = 1;
        argc--;
    }
    if (strcmp(m, "udp-rate") == 0 && argc == 6)
        mode_udp_rate(port, num(argv[3], 1, 1e8), (uint64_t)num(argv[4], 1, 1e10), num(argv[5], 0.01, 600));
    else if (strcmp(m, "udp-flood") == 0 && argc == 5)
        mode_udp_flood(port, (uint64_t)num(argv[3], 1, 1e10), num(argv[4], 0.01, 600));
    else if (strcmp(m, "tcp") == 0 && argc == 6)
        mode_tcp(port, (int)num(argv[3], 1, 10000), (uint64_t)num(argv[4], 1, 1e10), num(argv[5], 0.01, 600), 0);
#ifdef KWGEN_TLS
    else if (strcmp(m, "tls") == 0 && argc == 9) {
        tls_setup(argv[6], argv[7], argv[8]);
        mode_tcp(port, (int)num(argv[3], 1, 10000), (uint64_t)num(argv[4], 1, 1e10), num(argv[5], 0.01, 600), 1);
        SSL_CTX_free(tls_ctx);
        free(oct_buf);
    }
#endif
    else if (strcmp(m, "idle") == 0 && argc == 5)
        mode_idle(port, (int)num(argv[3], 1, 10000), num(argv[4], 0, 600));
    else
        usage();
    free(pool_buf);
    free(fixed_buf);
    return 0;
}
