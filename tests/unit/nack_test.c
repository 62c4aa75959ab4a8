/* NACK timing and keyframe merging on a virtual clock (times are plain
 * numbers: nothing here reads a clock). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "parley/nack.h"

#define MS 1000

static void test_first_request_after_reordering_allowance(void **state)
{
    (void)state;
    pl_nack_gen g;
    pl_nack_gen_init(&g, NULL);
    uint16_t out[16];
    pl_nack_gen_packet(&g, 100, 0);
    pl_nack_gen_packet(&g, 101, 20 * MS);
    /* 102 and 103 go missing. */
    pl_nack_gen_packet(&g, 104, 40 * MS);
    assert_int_equal(pl_nack_gen_next(&g), 50 * MS);
    assert_int_equal(pl_nack_gen_poll(&g, 49 * MS, out, 16), 0);
    /* A reordered 102 shows up inside the allowance: never requested. */
    assert_true(pl_nack_gen_packet(&g, 102, 45 * MS));
    assert_int_equal(pl_nack_gen_poll(&g, 50 * MS, out, 16), 1);
    assert_int_equal(out[0], 103);
    /* Retried every 100 ms, not before. */
    assert_int_equal(pl_nack_gen_next(&g), 150 * MS);
    assert_int_equal(pl_nack_gen_poll(&g, 149 * MS, out, 16), 0);
    assert_int_equal(pl_nack_gen_poll(&g, 150 * MS, out, 16), 1);
    /* The retransmission arrives: done. */
    assert_true(pl_nack_gen_packet(&g, 103, 170 * MS));
    assert_int_equal(pl_nack_gen_next(&g), INT64_MAX);
    assert_int_equal(g.st.requested, 2);
    assert_int_equal(g.st.recovered, 2);
    assert_false(pl_nack_gen_take_keyframe_need(&g));
}

static void test_gives_up_after_retries(void **state)
{
    (void)state;
    pl_nack_config cfg = {
        .reorder_us = 0, .retry_us = 50 * MS, .max_retries = 3, .max_age_us = 10000 * MS};
    pl_nack_gen g;
    pl_nack_gen_init(&g, &cfg);
    uint16_t out[4];
    pl_nack_gen_packet(&g, 65535, 0);
    pl_nack_gen_packet(&g, 1, 0); /* 0 missing, across the wrap */
    int64_t t = 0;
    unsigned asked = 0;
    for (; t < 1000 * MS; t += MS)
        asked += (unsigned)pl_nack_gen_poll(&g, t, out, 4);
    assert_int_equal(asked, 3);
    assert_int_equal(out[0], 0);
    assert_int_equal(g.st.given_up, 1);
    /* Giving up asks for a keyframe, once. */
    assert_true(pl_nack_gen_take_keyframe_need(&g));
    assert_false(pl_nack_gen_take_keyframe_need(&g));
    /* A late arrival of a given-up packet is not a recovery. */
    assert_false(pl_nack_gen_packet(&g, 0, t));
}

static void test_age_limit_and_bounds(void **state)
{
    (void)state;
    pl_nack_gen g;
    pl_nack_gen_init(&g, NULL);
    uint16_t out[PL_NACK_MAX_MISSING];
    pl_nack_gen_packet(&g, 0, 0);
    pl_nack_gen_packet(&g, 11, 0); /* 1..10 missing */
    assert_int_equal(pl_nack_gen_poll(&g, 10 * MS, out, PL_NACK_MAX_MISSING), 10);
    /* Older than a second: abandoned at the next due time. */
    size_t n = 0;
    for (int64_t t = 11 * MS; t < 2000 * MS; t += 10 * MS)
        n += pl_nack_gen_poll(&g, t, out, PL_NACK_MAX_MISSING);
    assert_true(n <= 40); /* at most the retries */
    assert_int_equal(g.st.given_up, 10);
    assert_int_equal(g.n, 0);

    /* A hole too big to repair packet by packet: straight to a keyframe. */
    pl_nack_gen_init(&g, NULL);
    pl_nack_gen_take_keyframe_need(&g);
    pl_nack_gen_packet(&g, 0, 0);
    pl_nack_gen_packet(&g, PL_NACK_MAX_MISSING + 10, 0);
    assert_int_equal(g.n, 0);
    assert_true(pl_nack_gen_take_keyframe_need(&g));
    /* The list never grows past its bound; the oldest go first. */
    pl_nack_gen_init(&g, NULL);
    pl_nack_gen_packet(&g, 0, 0);
    for (uint16_t s = 2; s <= 2 * PL_NACK_MAX_MISSING + 20; s += 2)
        pl_nack_gen_packet(&g, s, 0); /* every odd number missing: 266 of them */
    assert_int_equal(g.n, PL_NACK_MAX_MISSING);
    assert_int_equal(g.missing[0].seq, 21);
    assert_int_equal(g.st.given_up, 10);
}

static void test_keyframe_limiter(void **state)
{
    (void)state;
    pl_keyframe_limiter k;
    pl_keyframe_limiter_init(&k, 300 * MS);
    /* Ten subscribers ask within 50 ms: one request now, one more when the
     * interval ends (for those who asked after it went out). */
    assert_true(pl_keyframe_limiter_request(&k, 1000 * MS));
    for (int i = 1; i < 10; i++)
        assert_false(pl_keyframe_limiter_request(&k, (1000 + 5 * i) * MS));
    assert_int_equal(pl_keyframe_limiter_next(&k), 1300 * MS);
    assert_false(pl_keyframe_limiter_poll(&k, 1299 * MS));
    assert_true(pl_keyframe_limiter_poll(&k, 1300 * MS));
    assert_false(pl_keyframe_limiter_poll(&k, 1400 * MS));
    assert_int_equal(k.sent, 2);
    assert_int_equal(k.absorbed, 8);
    /* Quiet for a while: the next request goes at once. */
    assert_true(pl_keyframe_limiter_request(&k, 2000 * MS));
    assert_int_equal(pl_keyframe_limiter_next(&k), INT64_MAX);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_first_request_after_reordering_allowance),
        cmocka_unit_test(test_gives_up_after_retries),
        cmocka_unit_test(test_age_limit_and_bounds),
        cmocka_unit_test(test_keyframe_limiter),
    };
    return cmocka_run_group_tests_name("nack", tests, NULL, NULL);
}
