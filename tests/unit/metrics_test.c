/* The Prometheus text writer: the exact lines of each kind of family, the
 * escaping, and the names and orders the format would not parse refused. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "parley/metrics.h"

static const char *text_of(pl_metrics *m)
{
    const char *t;
    size_t len;
    assert_int_equal(pl_metrics_text(m, &t, &len), PL_OK);
    assert_int_equal(strlen(t), len);
    return t;
}

static void test_counter_and_gauge(void **state)
{
    (void)state;
    pl_env env = pl_env_default();
    pl_metrics *m = pl_metrics_create(&env);
    assert_string_equal(text_of(m), "");
    assert_int_equal(pl_metrics_family(m, "parley_rooms", PL_METRICS_GAUGE, "Rooms open."), PL_OK);
    assert_int_equal(pl_metrics_u64(m, NULL, 0, 3), PL_OK);
    assert_int_equal(pl_metrics_family(m, "parley_packets_forwarded_total", PL_METRICS_COUNTER,
                                       "Packets forwarded."),
                     PL_OK);
    pl_metrics_label w0 = {"worker", "0"}, w1 = {"worker", "1"};
    assert_int_equal(pl_metrics_u64(m, &w0, 1, 18446744073709551615ull), PL_OK);
    assert_int_equal(pl_metrics_u64(m, &w1, 1, 0), PL_OK);
    assert_int_equal(
        pl_metrics_family(m, "parley_worker_cpu_seconds_total", PL_METRICS_COUNTER, "CPU."), PL_OK);
    assert_int_equal(pl_metrics_double(m, &w0, 1, 1.25), PL_OK);
    assert_string_equal(text_of(m), "# HELP parley_rooms Rooms open.\n"
                                    "# TYPE parley_rooms gauge\n"
                                    "parley_rooms 3\n"
                                    "# HELP parley_packets_forwarded_total Packets forwarded.\n"
                                    "# TYPE parley_packets_forwarded_total counter\n"
                                    "parley_packets_forwarded_total{worker=\"0\"} "
                                    "18446744073709551615\n"
                                    "parley_packets_forwarded_total{worker=\"1\"} 0\n"
                                    "# HELP parley_worker_cpu_seconds_total CPU.\n"
                                    "# TYPE parley_worker_cpu_seconds_total counter\n"
                                    "parley_worker_cpu_seconds_total{worker=\"0\"} 1.25\n");
    pl_metrics_destroy(m);
}

static void test_escaping(void **state)
{
    (void)state;
    pl_env env = pl_env_default();
    pl_metrics *m = pl_metrics_create(&env);
    assert_int_equal(
        pl_metrics_family(m, "x_total", PL_METRICS_COUNTER, "a \\ back\nslash \"quoted\""), PL_OK);
    pl_metrics_label l[2] = {{"reason", "a\"b\\c\nd"}, {"room", "caf\xc3\xa9"}};
    assert_int_equal(pl_metrics_u64(m, l, 2, 7), PL_OK);
    assert_string_equal(text_of(m), "# HELP x_total a \\\\ back\\nslash \"quoted\"\n"
                                    "# TYPE x_total counter\n"
                                    "x_total{reason=\"a\\\"b\\\\c\\nd\",room=\"caf\xc3\xa9\"} 7\n");
    pl_metrics_destroy(m);
}

static void test_histogram(void **state)
{
    (void)state;
    pl_env env = pl_env_default();
    pl_metrics *m = pl_metrics_create(&env);
    const double le[] = {0.00002, 0.001, 0.02};
    const uint64_t cum[] = {4, 9, 9};
    assert_int_equal(pl_metrics_histogram(m, "parley_relay_delay_seconds", "Delay.", NULL, 0, le,
                                          cum, 3, 10, 0.5),
                     PL_OK);
    assert_string_equal(text_of(m), "# HELP parley_relay_delay_seconds Delay.\n"
                                    "# TYPE parley_relay_delay_seconds histogram\n"
                                    "parley_relay_delay_seconds_bucket{le=\"2e-05\"} 4\n"
                                    "parley_relay_delay_seconds_bucket{le=\"0.001\"} 9\n"
                                    "parley_relay_delay_seconds_bucket{le=\"0.02\"} 9\n"
                                    "parley_relay_delay_seconds_bucket{le=\"+Inf\"} 10\n"
                                    "parley_relay_delay_seconds_sum 0.5\n"
                                    "parley_relay_delay_seconds_count 10\n");
    /* No sample may be added to a histogram afterwards. */
    assert_int_equal(pl_metrics_u64(m, NULL, 0, 1), PL_ESTATE);
    /* With labels, le comes last. */
    pl_metrics_label w = {"worker", "2"};
    assert_int_equal(pl_metrics_histogram(m, "h2", "H.", &w, 1, le, cum, 1, 4, 0), PL_OK);
    assert_non_null(strstr(text_of(m), "h2_bucket{worker=\"2\",le=\"2e-05\"} 4\n"
                                       "h2_bucket{worker=\"2\",le=\"+Inf\"} 4\n"
                                       "h2_sum{worker=\"2\"} 0\n"
                                       "h2_count{worker=\"2\"} 4\n"));
    pl_metrics_destroy(m);
}

static void test_refused(void **state)
{
    (void)state;
    pl_env env = pl_env_default();
    pl_metrics *m = pl_metrics_create(&env);
    /* A sample needs a family. */
    assert_int_equal(pl_metrics_u64(m, NULL, 0, 1), PL_ESTATE);
    /* Names the format does not take; a counter not named _total. */
    assert_int_equal(pl_metrics_family(m, "9lives", PL_METRICS_GAUGE, ""), PL_EINVAL);
    assert_int_equal(pl_metrics_family(m, "a-b", PL_METRICS_GAUGE, ""), PL_EINVAL);
    assert_int_equal(pl_metrics_family(m, "", PL_METRICS_GAUGE, ""), PL_EINVAL);
    assert_int_equal(pl_metrics_family(m, "parley_packets", PL_METRICS_COUNTER, ""), PL_EINVAL);
    assert_int_equal(pl_metrics_family(m, "h", PL_METRICS_HISTOGRAM, ""), PL_EINVAL);
    /* A family twice. */
    assert_int_equal(pl_metrics_family(m, "g", PL_METRICS_GAUGE, ""), PL_OK);
    assert_int_equal(pl_metrics_family(m, "g", PL_METRICS_GAUGE, ""), PL_EINVAL);
    /* Bad label names: empty, reserved, a colon. */
    pl_metrics_label bad[] = {{"", "v"}, {"__name", "v"}, {"a:b", "v"}, {"ok", NULL}};
    for (size_t i = 0; i < 4; i++)
        assert_int_equal(pl_metrics_u64(m, &bad[i], 1, 1), PL_EINVAL);
    /* Histogram edges out of order, counts that go down or past the total,
     * or a label named le. */
    const double le[] = {0.1, 0.05};
    const uint64_t cum[] = {1, 2}, down[] = {3, 2};
    const double up[] = {0.1, 0.2};
    assert_int_equal(pl_metrics_histogram(m, "h1", "", NULL, 0, le, cum, 2, 2, 0), PL_EINVAL);
    assert_int_equal(pl_metrics_histogram(m, "h1", "", NULL, 0, up, down, 2, 3, 0), PL_EINVAL);
    assert_int_equal(pl_metrics_histogram(m, "h1", "", NULL, 0, up, cum, 2, 1, 0), PL_EINVAL);
    pl_metrics_label lel = {"le", "1"};
    assert_int_equal(pl_metrics_histogram(m, "h1", "", &lel, 1, up, cum, 2, 2, 0), PL_EINVAL);
    /* Nothing of the refused got written. */
    assert_string_equal(text_of(m), "# HELP g \n# TYPE g gauge\n");
    pl_metrics_destroy(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_counter_and_gauge),
        cmocka_unit_test(test_escaping),
        cmocka_unit_test(test_histogram),
        cmocka_unit_test(test_refused),
    };
    return cmocka_run_group_tests_name("metrics", tests, NULL, NULL);
}
