/* kexwatch: the operator's command line. Every subcommand runs the same
 * library the daemon runs; `replay` feeds files through the daemon's own
 * pipeline. Exit codes: 0 success, 1 error, 2 usage. */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cfg.h"
#include "log.h"
#include "pipeline.h"
#include "stats.h"

static void usage(FILE *f)
{
    fprintf(f, "Usage: kexwatch [-c CONFIG] COMMAND [ARGS]\n"
               "\n"
               "Commands:\n"
               "  replay [--records] FILE...   run stored syslog lines ('-' = stdin) through the daemon's\n"
               "                               pipeline; --records prints every parsed record as JSON\n"
               "\n"
               "Options:\n"
               "  -c, --config FILE   configuration (inventory, knowledge files); default: built-in\n"
               "  -h, --help          this text; COMMAND --help for a command's own\n"
               "  -V, --version       print the version\n"
               "See kexwatch(1).\n");
}

static int load_cfg(const char *path, struct cfg **out)
{
    if (!path) {
        *out = cfg_new_default();
        if (!*out) {
            fprintf(stderr, "kexwatch: out of memory\n");
            return -1;
        }
        return 0;
    }
    struct cfg_errors errs = {0};
    if (cfg_load(path, out, &errs) < 0) {
        for (size_t i = 0; i < errs.n; i++)
            fprintf(stderr, "%s\n", errs.msgs[i]);
        cfg_errors_free(&errs);
        return -1;
    }
    return 0;
}

/* Lines as a collector stored them: one message per line, LF or CRLF. */
static int replay_stream(struct pipeline *p, FILE *in, size_t max_message)
{
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    while ((n = getline(&line, &cap, in)) >= 0) {
        size_t len = (size_t)n;
        while (len && (line[len - 1] == '\n' || line[len - 1] == '\r'))
            len--;
        if (!len)
            continue;
        if (len > max_message) {
            len = max_message;
            g_stats.oversize++;
        }
        struct timespec now;
        clock_gettime(CLOCK_REALTIME, &now);
        struct msg m = {.data = line, .len = len, .transport = MSG_FILE, .rx_sec = now.tv_sec,
                        .rx_usec = (int32_t)(now.tv_nsec / 1000)};
        g_stats.messages_file++;
        g_stats.bytes += len;
        pipeline_feed(p, &m);
    }
    free(line);
    return ferror(in) ? -1 : 0;
}

static int cmd_replay(const char *cfg_path, int argc, char **argv)
{
    static const struct option opts[] = {
        {"records", no_argument, NULL, 'r'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int records = 0, c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "rh", opts, NULL)) != -1) {
        switch (c) {
        case 'r': records = 1; break;
        case 'h':
            printf("Usage: kexwatch [-c CONFIG] replay [--records] FILE...\n"
                   "Runs stored syslog lines (one per line, with or without <PRI>) through the daemon's\n"
                   "pipeline. The device is the header's host name. '-' reads standard input.\n");
            return 0;
        default: return 2;
        }
    }
    if (optind >= argc) {
        fprintf(stderr, "kexwatch replay: name at least one FILE ('-' for standard input)\n");
        return 2;
    }
    struct cfg *cfg;
    if (load_cfg(cfg_path, &cfg) < 0)
        return 1;
    struct pipeline *p = pipeline_new(cfg);
    if (!p) {
        cfg_free(cfg);
        fprintf(stderr, "kexwatch: out of memory\n");
        return 1;
    }
    pipeline_force_hostname_identity(p);
    if (records)
        pipeline_set_dump(p, stdout);
    int rc = 0;
    for (int i = optind; i < argc; i++) {
        FILE *in = strcmp(argv[i], "-") == 0 ? stdin : fopen(argv[i], "r");
        if (!in) {
            fprintf(stderr, "kexwatch replay: cannot open %s: %s\n", argv[i], strerror(errno));
            rc = 1;
            continue;
        }
        if (replay_stream(p, in, cfg->max_message) < 0) {
            fprintf(stderr, "kexwatch replay: error reading %s: %s\n", argv[i], strerror(errno));
            rc = 1;
        }
        if (in != stdin)
            fclose(in);
    }
    pipeline_free(p);
    cfg_free(cfg);
    return rc;
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0},
    };
    const char *cfg_path = NULL;
    int c;
    /* '+' stops at the subcommand so its options are its own */
    while ((c = getopt_long(argc, argv, "+c:hV", opts, NULL)) != -1) {
        switch (c) {
        case 'c': cfg_path = optarg; break;
        case 'h': usage(stdout); return 0;
        case 'V': printf("kexwatch %s\n", PACKAGE_VERSION); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (optind >= argc) {
        usage(stderr);
        return 2;
    }
    log_set_level(LOG_LV_WARNING);
    const char *cmd = argv[optind];
    int sub_argc = argc - optind;
    char **sub_argv = argv + optind;
    if (strcmp(cmd, "replay") == 0)
        return cmd_replay(cfg_path, sub_argc, sub_argv);
    fprintf(stderr, "kexwatch: unknown command '%s'\n", cmd);
    usage(stderr);
    return 2;
}
