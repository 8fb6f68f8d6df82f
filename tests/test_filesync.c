/* SPDX-License-Identifier: ISC */
/* Tests for daemon/filesync.c: the alert file's group commit.
 *
 * Every record appended reaches the file whole, in order, once, and counts
 * as synced only after it was written; appending never waits for the disk
 * (thousands of records are queued while the thread writes); a reopen
 * (logrotate) puts what came before it in the old file and what came after
 * in the new one; a disk that refuses the data (/dev/full) is counted as
 * failed with its errno, never as synced; an unopenable path is an error.
 */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "filesync.h"

static char dir[] = "/tmp/kwfilesync.XXXXXX";

static int setup(void **state)
{
    (void)state;
    return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    return system(cmd) == 0 ? 0 : -1;
}

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    rewind(f);
    char *b = calloc(1, (size_t)n + 1);
    assert_non_null(b);
    assert_int_equal(fread(b, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    *len = (size_t)n;
    return b;
}

/* waits until n records were synced (bounded: 10 s) */
static void wait_synced(struct filesync *f, uint64_t n, uint64_t *synced, uint64_t *failed, int *error)
{
    *synced = *failed = 0;
    *error = 0;
    for (int i = 0; i < 1000 && *synced + *failed < n; i++) {
        uint64_t s, fl;
        int e;
        filesync_poll(f, &s, &fl, &e);
        *synced += s;
        *failed += fl;
        if (e)
            *error = e;
        if (*synced + *failed < n)
            usleep(10000);
    }
}

static void test_order_and_counts(void **state)
{
    (void)state;
    char path[256];
    snprintf(path, sizeof path, "%s/alerts.jsonl", dir);
    struct filesync *f = NULL;
    assert_int_equal(filesync_open(path, &f), 0);
    enum { N = 20000 };
    char line[64];
    for (int i = 0; i < N; i++) {
        int n = snprintf(line, sizeof line, "{\"n\":%d}", i);
        assert_int_equal(filesync_append(f, line, (size_t)n), 0);
    }
    uint64_t synced, failed;
    int error;
    wait_synced(f, N, &synced, &failed, &error);
    assert_int_equal(synced, N);
    assert_int_equal(failed, 0);
    assert_int_equal(error, 0);
    assert_int_equal(filesync_pending(f, NULL), 0);
    assert_int_equal(filesync_close(f), 0);
    size_t len;
    char *text = slurp(path, &len);
    char *p = text;
    for (int i = 0; i < N; i++) {
        int n = snprintf(line, sizeof line, "{\"n\":%d}\n", i);
        assert_memory_equal(p, line, (size_t)n);
        p += n;
    }
    assert_ptr_equal(p, text + len);
    free(text);
}

static void test_close_writes_what_is_queued(void **state)
{
    (void)state;
    char path[256];
    snprintf(path, sizeof path, "%s/closing.jsonl", dir);
    struct filesync *f = NULL;
    assert_int_equal(filesync_open(path, &f), 0);
    for (int i = 0; i < 1000; i++)
        assert_int_equal(filesync_append(f, "x", 1), 0);
    assert_int_equal(filesync_close(f), 0);
    size_t len;
    free(slurp(path, &len));
    assert_int_equal(len, 2000);
}

static void test_reopen(void **state)
{
    (void)state;
    char path[256], moved[256];
    snprintf(path, sizeof path, "%s/rot.jsonl", dir);
    snprintf(moved, sizeof moved, "%s/rot.jsonl.1", dir);
    struct filesync *f = NULL;
    assert_int_equal(filesync_open(path, &f), 0);
    for (int i = 0; i < 500; i++)
        assert_int_equal(filesync_append(f, "old", 3), 0);
    /* logrotate: the file is moved, then the daemon reopens */
    assert_int_equal(rename(path, moved), 0);
    assert_int_equal(filesync_reopen(f, path), 0);
    for (int i = 0; i < 300; i++)
        assert_int_equal(filesync_append(f, "new", 3), 0);
    assert_int_equal(filesync_close(f), 0);
    size_t len;
    char *text = slurp(moved, &len);
    assert_int_equal(len, 500 * 4);
    assert_null(strstr(text, "new"));
    free(text);
    text = slurp(path, &len);
    assert_int_equal(len, 300 * 4);
    assert_null(strstr(text, "old"));
    free(text);
    /* a directory that does not exist: the old file is kept */
    assert_int_equal(filesync_open(path, &f), 0);
    char bad[300];
    snprintf(bad, sizeof bad, "%s/none/alerts.jsonl", dir);
    assert_int_equal(filesync_reopen(f, bad), -1);
    assert_int_equal(errno, ENOENT);
    assert_int_equal(filesync_append(f, "kept", 4), 0);
    assert_int_equal(filesync_close(f), 0);
    text = slurp(path, &len);
    assert_non_null(strstr(text, "kept\n"));
    free(text);
}

static void test_disk_full(void **state)
{
    (void)state;
    if (access("/dev/full", W_OK) != 0)
        skip();
    struct filesync *f = NULL;
    assert_int_equal(filesync_open("/dev/full", &f), 0);
    for (int i = 0; i < 10; i++)
        assert_int_equal(filesync_append(f, "lost", 4), 0);
    uint64_t synced, failed;
    int error;
    wait_synced(f, 10, &synced, &failed, &error);
    assert_int_equal(synced, 0);
    assert_int_equal(failed, 10);
    assert_int_equal(error, ENOSPC);
    filesync_close(f);
}

static void test_unopenable(void **state)
{
    (void)state;
    char bad[300];
    snprintf(bad, sizeof bad, "%s/none/alerts.jsonl", dir);
    struct filesync *f = (struct filesync *)1;
    assert_int_equal(filesync_open(bad, &f), -1);
    assert_int_equal(errno, ENOENT);
    assert_null(f);
    assert_int_equal(filesync_close(NULL), 0);
}

static void test_bounded(void **state)
{
    (void)state;
    char path[256];
    snprintf(path, sizeof path, "%s/big.jsonl", dir);
    struct filesync *f = NULL;
    assert_int_equal(filesync_open(path, &f), 0);
    /* more than the bound at once: some is refused, nothing is torn */
    size_t chunk = 1 << 20;
    char *big = malloc(chunk);
    assert_non_null(big);
    memset(big, 'a', chunk);
    int refused = 0, taken = 0;
    for (int i = 0; i < 2 * (int)(FILESYNC_MAX_BYTES >> 20); i++) {
        if (filesync_append(f, big, chunk) < 0)
            refused++;
        else
            taken++;
    }
    free(big);
    assert_true(taken > 0);
    assert_true(refused > 0 || taken == 2 * (int)(FILESYNC_MAX_BYTES >> 20));
    assert_int_equal(filesync_close(f), 0);
    struct stat sb;
    assert_int_equal(stat(path, &sb), 0);
    assert_int_equal((size_t)sb.st_size, (size_t)taken * (chunk + 1));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_order_and_counts),
        cmocka_unit_test(test_close_writes_what_is_queued),
        cmocka_unit_test(test_reopen),
        cmocka_unit_test(test_disk_full),
        cmocka_unit_test(test_unopenable),
        cmocka_unit_test(test_bounded),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
