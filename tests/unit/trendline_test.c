/* The delay-based detector on synthetic arrivals: a steady path is normal
 * use, a growing queue overuse, a draining one underuse; jitter that does
 * not trend is not mistaken for a queue, and a receiver clock jump restarts
 * the detector instead of reading as congestion. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "parley/trendline.h"

#define MS 1000

/* The path as the test drives it: the next send time, and the one-way
 * delay now (which a queue grows or drains). */
typedef struct path {
    int64_t send;
    double delay;
} path;

/* Groups of 3 packets 1 ms apart every `gap_us`, for `n` groups; between
 * groups the delay changes by `slope` times the gap (plus `jitter`
 * alternating in sign, and a receiver clock `offset`). Returns the last
 * state and counts how often each state was seen at the end of a group. */
static enum pl_bwe_usage feed(pl_trendline *t, path *p, int64_t gap_us, int n, double slope,
                              int64_t jitter, int64_t offset, unsigned seen[3])
{
    enum pl_bwe_usage u = t->state;
    for (int g = 0; g < n; g++) {
        int64_t delay = 20 * MS + (int64_t)p->delay + ((g & 1) ? jitter : -jitter);
        for (int k = 0; k < 3; k++) {
            int64_t s = p->send + k * MS;
            u = pl_trendline_packet(t, s, s + delay + offset);
        }
        if (seen)
            seen[u]++;
        p->send += gap_us;
        p->delay += slope * (double)gap_us;
    }
    return u;
}

static void test_steady_path_is_normal(void **state)
{
    (void)state;
    pl_trendline t;
    pl_trendline_init(&t);
    path send = {0, 0};
    unsigned seen[3] = {0};
    feed(&t, &send, 20 * MS, 200, 0, 0, 0, seen);
    assert_int_equal(seen[PL_BWE_OVERUSE], 0);
    assert_int_equal(seen[PL_BWE_UNDERUSE], 0);
    assert_true(t.trend > -0.5 && t.trend < 0.5);
}

static void test_jitter_without_trend_is_normal(void **state)
{
    (void)state;
    pl_trendline t;
    pl_trendline_init(&t);
    path send = {0, 0};
    unsigned seen[3] = {0};
    feed(&t, &send, 20 * MS, 300, 0, 3 * MS, 0, seen);
    assert_int_equal(seen[PL_BWE_OVERUSE], 0);
}

static void test_growing_queue_is_overuse(void **state)
{
    (void)state;
    pl_trendline t;
    pl_trendline_init(&t);
    path send = {0, 0};
    feed(&t, &send, 20 * MS, 50, 0, 0, 0, NULL);
    /* Sending 10% above the path's rate: the queue grows 0.1 ms per ms. */
    unsigned seen[3] = {0};
    enum pl_bwe_usage u = feed(&t, &send, 20 * MS, 30, 0.1, 0, 0, seen);
    assert_int_equal(u, PL_BWE_OVERUSE);
    assert_true(t.trend > t.threshold);
    /* It is seen within the regression window of 20 groups (400 ms). */
    pl_trendline t2;
    pl_trendline_init(&t2);
    send = (path){0, 0};
    feed(&t2, &send, 20 * MS, 50, 0, 0, 0, NULL);
    int groups = 0;
    while (t2.state != PL_BWE_OVERUSE && groups < 100) {
        feed(&t2, &send, 20 * MS, 1, 0.1, 0, 0, NULL);
        groups++;
    }
    print_message("# 10%% over the path's rate: overuse after %d groups\n", groups);
    assert_true(groups <= PL_TRENDLINE_WINDOW);
}

static void test_draining_queue_is_underuse(void **state)
{
    (void)state;
    pl_trendline t;
    pl_trendline_init(&t);
    path send = {0, 0};
    feed(&t, &send, 20 * MS, 50, 0, 0, 0, NULL);
    unsigned seen[3] = {0};
    feed(&t, &send, 20 * MS, 30, -0.1, 0, 0, seen);
    assert_true(seen[PL_BWE_UNDERUSE] > 0);
    assert_int_equal(seen[PL_BWE_OVERUSE], 0);
}

static void test_threshold_adapts_to_a_noisy_path(void **state)
{
    (void)state;
    pl_trendline t;
    pl_trendline_init(&t);
    path send = {0, 0};
    /* A steady path takes it from its start down to its floor. */
    feed(&t, &send, 20 * MS, 300, 0, 0, 0, NULL);
    assert_true(t.threshold < PL_TRENDLINE_THRESHOLD_MIN + 0.5);
    /* A queue that grows and drains by turns, every 30 groups: the
     * threshold rises towards the trend's swings. */
    double highest = 0;
    for (int i = 0; i < 40; i++) {
        feed(&t, &send, 20 * MS, 30, (i & 1) ? -0.07 : 0.07, 0, 0, NULL);
        highest = t.threshold > highest ? t.threshold : highest;
    }
    print_message("# threshold up to %.1f\n", highest);
    assert_true(highest > PL_TRENDLINE_THRESHOLD_MIN + 3);
    /* And falls back once the path is steady again. */
    feed(&t, &send, 20 * MS, 300, 0, 0, 0, NULL);
    assert_true(t.threshold < PL_TRENDLINE_THRESHOLD_MIN + 0.5);
}

static void test_receiver_clock_jump_restarts(void **state)
{
    (void)state;
    pl_trendline t;
    pl_trendline_init(&t);
    path send = {0, 0};
    feed(&t, &send, 20 * MS, 50, 0, 0, 0, NULL);
    unsigned seen[3] = {0};
    feed(&t, &send, 20 * MS, 50, 0, 0, 10 * 1000 * MS, seen);
    assert_int_equal(t.resets, 1);
    assert_int_equal(seen[PL_BWE_OVERUSE], 0);
}

static void test_reordered_packets_are_ignored(void **state)
{
    (void)state;
    pl_trendline t;
    pl_trendline_init(&t);
    path send = {0, 0};
    feed(&t, &send, 20 * MS, 50, 0, 0, 0, NULL);
    /* A packet sent long before the group being gathered. */
    enum pl_bwe_usage u = pl_trendline_packet(&t, send.send - 500 * MS, send.send + 5 * MS);
    assert_int_equal(u, PL_BWE_NORMAL);
    unsigned seen[3] = {0};
    feed(&t, &send, 20 * MS, 50, 0, 0, 0, seen);
    assert_int_equal(seen[PL_BWE_OVERUSE], 0);
    assert_int_equal(t.resets, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_steady_path_is_normal),
        cmocka_unit_test(test_jitter_without_trend_is_normal),
        cmocka_unit_test(test_growing_queue_is_overuse),
        cmocka_unit_test(test_draining_queue_is_underuse),
        cmocka_unit_test(test_threshold_adapts_to_a_noisy_path),
        cmocka_unit_test(test_receiver_clock_jump_restarts),
        cmocka_unit_test(test_reordered_packets_are_ignored),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
