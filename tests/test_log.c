/* SPDX-License-Identifier: ISC */
/* Tests for log.c: escaping of received bytes and rate limiting. */
#include "config.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "log.h"

static void test_escape_printable(void **state)
{
    (void)state;
    char buf[64];
    assert_string_equal(log_escape(buf, sizeof buf, "hello world", 11), "hello world");
}

static void test_escape_controls_and_backslash(void **state)
{
    (void)state;
    char buf[64];
    assert_string_equal(log_escape(buf, sizeof buf, "a\nb\\c\0d\x7f\xff", 9), "a\\x0ab\\x5cc\\x00d\\x7f\\xff");
}

static void test_escape_no_format_injection(void **state)
{
    (void)state;
    char buf[64];
    /* the escaped text is data; %n survives as text and is never interpreted */
    assert_string_equal(log_escape(buf, sizeof buf, "%n%s", 4), "%n%s");
}

static void test_escape_truncates(void **state)
{
    (void)state;
    char buf[16];
    char big[1000];
    memset(big, 'x', sizeof big);
    log_escape(buf, sizeof buf, big, sizeof big);
    assert_int_equal(strlen(buf), 15);
    assert_memory_equal(buf + 12, "...", 3);
    /* an escape sequence is never cut in half */
    memset(big, '\n', sizeof big);
    log_escape(buf, sizeof buf, big, sizeof big);
    assert_string_equal(buf, "\\x0a\\x0a\\x0a...");
}

/* The logger escapes at the output whatever its callers pass: a received
 * name with ESC, LF and TAB is one line of plain ASCII. */
static void test_log_line_escaped(void **state)
{
    (void)state;
    unsetenv("JOURNAL_STREAM");
    char path[] = "/tmp/kw-test-log.XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    unlink(path);
    int saved = dup(STDERR_FILENO);
    dup2(fd, STDERR_FILENO);
    log_msg(LOG_LV_ERROR, "device %s: x", "a\x1b[31mb\nforged: line\tc\xc3\xa9\\x41");
    dup2(saved, STDERR_FILENO);
    close(saved);
    char buf[512] = {0};
    ssize_t n = pread(fd, buf, sizeof buf - 1, 0);
    close(fd);
    assert_true(n > 0);
    const char *text = strstr(buf, "error: ");
    assert_non_null(text);
    assert_string_equal(text, "error: device a\\x1b[31mb\\x0aforged: line\\x09c\\xc3\\xa9\\x41: x\n");
}

static void test_escape_tiny_buffers(void **state)
{
    (void)state;
    char buf[4] = "zzz";
    log_escape(buf, 1, "abc", 3);
    assert_string_equal(buf, "");
    log_escape(buf, 4, "abcdef", 6);
    assert_true(strlen(buf) < 4);
}

static void test_ratelimit(void **state)
{
    (void)state;
    struct log_ratelimit rl = LOG_RATELIMIT_INIT(60, 3);
    uint64_t held = 99;
    assert_int_equal(log_ratelimit_allow(&rl, 1000, &held), 1);
    assert_int_equal(held, 0);
    assert_int_equal(log_ratelimit_allow(&rl, 1001, &held), 1);
    assert_int_equal(log_ratelimit_allow(&rl, 1002, &held), 1);
    for (int i = 0; i < 10; i++)
        assert_int_equal(log_ratelimit_allow(&rl, 1003, &held), 0);
    assert_int_equal(rl.suppressed, 10);
    /* the next window reports what was held back */
    assert_int_equal(log_ratelimit_allow(&rl, 1060, &held), 1);
    assert_int_equal(held, 10);
    assert_int_equal(log_ratelimit_allow(&rl, 1061, &held), 1);
    assert_int_equal(held, 0);
}

static void test_level_names(void **state)
{
    (void)state;
    assert_int_equal(log_level_from_name("debug"), LOG_LV_DEBUG);
    assert_int_equal(log_level_from_name("error"), LOG_LV_ERROR);
    assert_int_equal(log_level_from_name("loud"), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_escape_printable),
        cmocka_unit_test(test_escape_controls_and_backslash),
        cmocka_unit_test(test_escape_no_format_injection),
        cmocka_unit_test(test_escape_truncates),
        cmocka_unit_test(test_escape_tiny_buffers),
        cmocka_unit_test(test_log_line_escaped),
        cmocka_unit_test(test_ratelimit),
        cmocka_unit_test(test_level_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
