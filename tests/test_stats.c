/* SPDX-License-Identifier: ISC */
/* Tests for daemon/stats.c: the one counter registry behind the SIGUSR1
 * dump, sd_notify STATUS= and /metrics.
 *
 * Registered values are read when an output is made (a value changed after
 * registration shows), in registration order after the built-in ones; a
 * name registered again replaces the older entry; unregistering an object
 * removes exactly the entries that point into it; STATUS= shows the flagged
 * entries only, under the same names; bad names are refused.
 */
#include "config.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "stats.h"

struct owner {
    uint64_t hits;
    uint64_t misses;
    double level;
};

static double read_level(const void *arg)
{
    return ((const struct owner *)arg)->level;
}

struct seen {
    char names[4096];
    int counters, gauges;
    double hits;
};

static void collect(void *arg, const char *name, const char *help, int type, double value)
{
    struct seen *s = arg;
    assert_non_null(help);
    assert_true(help[0] != '\0');
    assert_true(type == STATS_COUNTER || type == STATS_GAUGE);
    strcat(s->names, name);
    strcat(s->names, ",");
    if (type == STATS_COUNTER)
        s->counters++;
    else
        s->gauges++;
    if (strcmp(name, "test_hits") == 0)
        s->hits = value;
}

/* the SIGUSR1 dump of the registry, as text */
static char *dump(void)
{
    FILE *f = tmpfile();
    assert_non_null(f);
    stats_dump(f);
    long len = ftell(f);
    assert_true(len > 0);
    char *text = calloc(1, (size_t)len + 1);
    assert_non_null(text);
    rewind(f);
    assert_int_equal(fread(text, 1, (size_t)len, f), (size_t)len);
    fclose(f);
    return text;
}

static void test_builtin_and_registered(void **state)
{
    (void)state;
    struct owner o = {.hits = 3};
    g_stats.messages_udp = 7;
    assert_int_equal(stats_register_u64("test_hits", STATS_COUNTER, "hits", &o.hits), 0);
    assert_int_equal(stats_register("test_level", STATS_GAUGE, "level now", read_level, &o), 0);
    o.hits = 41; /* read when output, not when registered */
    o.level = 0.25;
    char *text = dump();
    assert_non_null(strstr(text, "messages_udp 7\n"));
    assert_non_null(strstr(text, "test_hits 41\n"));
    assert_non_null(strstr(text, "test_level 0.25\n"));
    /* built-in ones first, then in registration order */
    assert_true(strstr(text, "pattern_errors ") < strstr(text, "test_hits "));
    assert_true(strstr(text, "test_hits ") < strstr(text, "test_level "));
    free(text);
    struct seen s = {0};
    stats_each(collect, &s);
    assert_non_null(strstr(s.names, "test_hits,test_level,"));
    assert_true(s.hits == 41.0);
    assert_true(s.gauges >= 2); /* tcp_open, test_level */
    stats_unregister(&o, sizeof o);
    text = dump();
    assert_null(strstr(text, "test_hits"));
    assert_null(strstr(text, "test_level"));
    assert_non_null(strstr(text, "messages_udp 7\n"));
    free(text);
}

static void test_replace_and_unregister(void **state)
{
    (void)state;
    struct owner a = {.hits = 1}, b = {.hits = 2};
    assert_int_equal(stats_register_u64("test_hits", STATS_COUNTER, "hits", &a.hits), 0);
    assert_int_equal(stats_register_u64("test_misses", STATS_COUNTER, "misses", &a.misses), 0);
    /* a newer object of the same kind takes the name; the name appears once */
    assert_int_equal(stats_register_u64("test_hits", STATS_COUNTER, "hits", &b.hits), 0);
    char *text = dump();
    assert_non_null(strstr(text, "test_hits 2\n"));
    assert_null(strstr(strstr(text, "test_hits") + 1, "test_hits"));
    free(text);
    /* freeing the older object removes its remaining entry only */
    stats_unregister(&a, sizeof a);
    text = dump();
    assert_non_null(strstr(text, "test_hits 2\n"));
    assert_null(strstr(text, "test_misses"));
    free(text);
    stats_unregister(&b, sizeof b);
    text = dump();
    assert_null(strstr(text, "test_hits"));
    free(text);
}

static void test_status_line(void **state)
{
    (void)state;
    struct owner o = {.hits = 5, .misses = 9};
    g_stats.messages_udp = 12;
    g_stats.messages_file = 77; /* not flagged for STATUS= */
    assert_int_equal(stats_register_u64("test_hits", STATS_COUNTER | STATS_STATUS, "hits", &o.hits), 0);
    assert_int_equal(stats_register_u64("test_misses", STATS_COUNTER, "misses", &o.misses), 0);
    char line[512];
    stats_status_line(line, sizeof line);
    assert_non_null(strstr(line, "messages_udp=12"));
    assert_non_null(strstr(line, "test_hits=5"));
    assert_null(strstr(line, "messages_file"));
    assert_null(strstr(line, "test_misses"));
    /* every STATUS= name is a dump name with the same value */
    char *text = dump();
    char *save = NULL;
    for (char *tok = strtok_r(line, " ", &save); tok; tok = strtok_r(NULL, " ", &save)) {
        char want[128];
        char *eq = strchr(tok, '=');
        assert_non_null(eq);
        snprintf(want, sizeof want, "\n%.*s %s\n", (int)(eq - tok), tok, eq + 1);
        assert_non_null(strstr(text, want));
    }
    free(text);
    /* a short buffer is cut, never overrun */
    char small[10];
    memset(small, 'x', sizeof small);
    stats_status_line(small, sizeof small);
    assert_true(strlen(small) < sizeof small);
    stats_unregister(&o, sizeof o);
}

static void test_refused(void **state)
{
    (void)state;
    uint64_t v = 0;
    assert_int_equal(stats_register_u64("Bad-Name", STATS_COUNTER, "x", &v), -1);
    assert_int_equal(stats_register_u64("", STATS_COUNTER, "x", &v), -1);
    assert_int_equal(stats_register_u64("test_x", STATS_COUNTER, NULL, &v), -1);
    assert_int_equal(stats_register_u64("test_x", STATS_COUNTER, "x", NULL), -1);
    assert_int_equal(stats_register("test_x", STATS_GAUGE, "x", NULL, &v), -1);
    assert_int_equal(stats_register_u64("test_x", 7, "x", &v), -1);
    /* a built-in name cannot be taken: it would have two values */
    assert_int_equal(stats_register_u64("messages_udp", STATS_COUNTER, "x", &v), -1);
    char *text = dump();
    assert_null(strstr(text, "test_x"));
    free(text);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_builtin_and_registered),
        cmocka_unit_test(test_replace_and_unregister),
        cmocka_unit_test(test_status_line),
        cmocka_unit_test(test_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
