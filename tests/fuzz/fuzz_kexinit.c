/* SPDX-License-Identifier: ISC */
/* libFuzzer harness for daemon/kexinit.c, the reader of what an SSH server
 * sends before any key is agreed: its identification and its first binary
 * packets up to the KEXINIT.
 *
 * Input layout: byte 0 picks whether the stream ends (eof) and how it is
 * cut into reads; the rest is the server's bytes. They are read the way
 * probe.c reads them (identification, then packets, skipping IGNORE/DEBUG),
 * whole and again one growing prefix at a time; both runs must agree.
 * Every text handed out must be printable ASCII, every list a name-list.
 *
 * Build: clang -g -O1 -fsanitize=fuzzer,address,undefined -I daemon \
 *        tests/fuzz/fuzz_kexinit.c daemon/kexinit.c -o fuzz_kexinit
 * Seeds: tests/fuzz/corpus/kexinit/
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kexinit.h"

#define FUZZ_NAME "fuzz_kexinit"
#include "fuzzcheck.h"

static void check_printable(const char *s, size_t max)
{
    size_t n = strnlen(s, max);
    CHECK(n < max);
    for (size_t i = 0; i < n; i++)
        CHECK(s[i] >= 0x20 && s[i] <= 0x7e);
}

static void check_namelist(const char *s)
{
    size_t n = strlen(s);
    for (size_t i = 0; i < n; i++)
        CHECK(s[i] > 0x20 && s[i] <= 0x7e);
    if (n) {
        CHECK(s[0] != ',' && s[n - 1] != ',');
        CHECK(!strstr(s, ",,"));
    }
}

/* The outcome of reading buf[0..len): status, bytes through the KEXINIT,
 * and a digest of the lists. */
struct outcome {
    int status;
    size_t end;
    uint64_t hash;
};

static struct outcome read_all(const uint8_t *buf, size_t len, int eof)
{
    struct outcome o = {0};
    struct kexinit_version v;
    char why[512];
    size_t used = 0;
    o.status = kexinit_read_version(buf, len, eof, &v, &used, why, sizeof why);
    check_printable(why, sizeof why);
    if (o.status != KEXINIT_OK)
        return o;
    CHECK(used > 0 && used <= len);
    check_printable(v.line, sizeof v.line);
    check_printable(v.proto, sizeof v.proto);
    check_printable(v.software, sizeof v.software);
    check_printable(v.comments, sizeof v.comments);
    size_t off = used;
    for (int skips = 0;; skips++) {
        struct kexinit k;
        memset(&k, 0xa5, sizeof k);
        o.status = kexinit_read_packet(buf + off, len - off, &k, &used, why, sizeof why);
        check_printable(why, sizeof why);
        if (o.status == KEXINIT_SKIP && skips < 16) {
            CHECK(used >= 5 && used <= len - off);
            off += used;
            continue;
        }
        if (o.status == KEXINIT_OK) {
            CHECK(used >= 5 && used <= len - off);
            o.end = off + used;
            o.hash = 1469598103934665603ull;
            for (int i = 0; i < KEXINIT_NLISTS; i++) {
                CHECK(k.lists[i] != NULL);
                check_namelist(k.lists[i]);
                for (const char *p = k.lists[i]; *p; p++)
                    o.hash = (o.hash ^ (unsigned char)*p) * 1099511628211ull;
                o.hash = (o.hash ^ ';') * 1099511628211ull;
            }
            kexinit_clear(&k);
        } else {
            for (int i = 0; i < KEXINIT_NLISTS; i++)
                CHECK(k.lists[i] == NULL);
        }
        return o;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    int eof = data[0] & 1;
    size_t step = (size_t)(data[0] >> 1) + 1;
    data++;
    size--;
    /* an exact-size copy so ASan sees reads past the end */
    uint8_t *buf = malloc(size ? size : 1);
    memcpy(buf, data, size);
    struct outcome whole = read_all(buf, size, eof);
    /* growing prefixes, without eof, as reads arrive: an answer other than
     * "more" must be the final one (errors are sticky, the KEXINIT is the same) */
    for (size_t k = 0; k < size; k += step) {
        struct outcome part = read_all(buf, k, 0);
        if (part.status == KEXINIT_MORE)
            continue;
        CHECK(part.status == whole.status);
        if (part.status == KEXINIT_OK) {
            CHECK(part.end == whole.end && part.hash == whole.hash);
        }
        break;
    }
    free(buf);
    return 0;
}
