#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "parley/rewriter.h"

static bool fwd(pl_rewriter *rw, int64_t now, uint16_t seq, uint32_t ts, bool drop, uint16_t *s,
                uint32_t *t)
{
    return pl_rewriter_packet(rw, now, seq, ts, drop, s, t);
}

/* The first source keeps its numbers; a switch to a source whose numbers
 * are behind continues after the last one sent, by the wall clock; a late
 * packet of the current source does not move the continuation. */
static void test_continuation(void **state)
{
    (void)state;
    pl_rewriter rw;
    pl_rewriter_init(&rw, 48000);
    uint16_t s;
    uint32_t ts;
    assert_false(fwd(&rw, 0, 100, 5000, false, &s, &ts)); /* nothing mapped yet */
    pl_rewriter_switch(&rw, 0, 100, 5000, NULL);
    assert_true(fwd(&rw, 0, 100, 5000, false, &s, &ts));
    assert_int_equal(s, 100);
    assert_int_equal(ts, 5000);
    assert_true(fwd(&rw, 20000, 102, 5960, false, &s, &ts));
    assert_int_equal(s, 102);
    /* 101 was lost: it takes its place when it comes. */
    assert_true(fwd(&rw, 20000, 101, 5000 + 480, false, &s, &ts));
    assert_int_equal(s, 101);
    assert_false(fwd(&rw, 20000, 99, 4000, false, &s, &ts)); /* never a gap */
    pl_rewriter_switch(&rw, 40000, 7, 10, NULL);
    assert_true(fwd(&rw, 40000, 7, 10, false, &s, &ts));
    assert_int_equal(s, 103);
    assert_int_equal(ts, 5960 + 960); /* 20 ms at 48 kHz */
    /* A switch within the same instant still moves the timestamp on. */
    pl_rewriter_switch(&rw, 40000, 0, 0, NULL);
    assert_true(fwd(&rw, 40000, 0, 0, false, &s, &ts));
    assert_int_equal(s, 104);
    assert_int_equal(ts, 5960 + 960 + 1);
}

/* Sequence numbers and timestamps wrap around without a jump. */
static void test_wrap_around(void **state)
{
    (void)state;
    pl_rewriter rw;
    pl_rewriter_init(&rw, 90000);
    uint16_t s;
    uint32_t ts;
    pl_rewriter_switch(&rw, 0, 65535, 0xffffff00u, NULL);
    assert_true(fwd(&rw, 0, 65535, 0xffffff00u, false, &s, &ts));
    pl_rewriter_switch(&rw, 100000, 30000, 5, NULL);
    assert_true(fwd(&rw, 100000, 30000, 5, false, &s, &ts));
    assert_int_equal(s, 0);
    assert_int_equal(ts, 0xffffff00u + 9000u);
    assert_true(fwd(&rw, 133000, 30001, 3005, false, &s, &ts));
    assert_int_equal(s, 1);
    assert_int_equal(ts, (uint32_t)(0xffffff00u + 9000u + 3000u));
}

/* Dropped packets take no number; a gap left by an upstream loss before a
 * drop keeps the number the lost packet had, and the packet takes it when
 * it arrives. */
static void test_drops_and_gaps(void **state)
{
    (void)state;
    pl_rewriter rw;
    pl_rewriter_init(&rw, 90000);
    uint16_t s;
    uint32_t ts;
    pl_rewriter_switch(&rw, 0, 10, 0, NULL);
    assert_true(fwd(&rw, 0, 10, 0, false, &s, &ts));
    assert_false(fwd(&rw, 0, 11, 3000, true, &s, &ts));
    assert_true(fwd(&rw, 0, 12, 6000, false, &s, &ts));
    assert_int_equal(s, 11);
    /* 13 lost, 14 dropped, 15 sent: 13 keeps 12. */
    assert_false(fwd(&rw, 0, 14, 9000, true, &s, &ts));
    assert_true(fwd(&rw, 0, 15, 12000, false, &s, &ts));
    assert_int_equal(s, 13);
    assert_int_equal(pl_rewriter_out_high(&rw), 13);
    assert_true(fwd(&rw, 0, 13, 9000, false, &s, &ts));
    assert_int_equal(s, 12);
    assert_int_equal(ts, 9000);
    /* A late packet that would be dropped is not sent. */
    assert_false(fwd(&rw, 0, 11, 3000, true, &s, &ts));
}

/* A loss whose retransmission comes a round trip later still finds its
 * number after many reorderings meanwhile (jitter swaps neighbours all the
 * time, each leaving a hole it fills at once); a duplicate of a filled
 * number and one older than the window do not go out. */
static void test_late_repair_after_reordering(void **state)
{
    (void)state;
    pl_rewriter rw;
    pl_rewriter_init(&rw, 90000);
    uint16_t s;
    uint32_t ts;
    pl_rewriter_switch(&rw, 0, 1000, 0, NULL);
    assert_true(fwd(&rw, 0, 1000, 0, false, &s, &ts));
    /* 1001 lost; then 40 pairs arrive swapped. */
    uint16_t seq = 1002;
    for (int i = 0; i < 40; i++, seq += 2) {
        assert_true(fwd(&rw, 0, (uint16_t)(seq + 1), 0, false, &s, &ts));
        assert_int_equal(s, (uint16_t)(seq + 1));
        assert_true(fwd(&rw, 0, seq, 0, false, &s, &ts));
        assert_int_equal(s, seq);
    }
    assert_false(fwd(&rw, 0, 1003, 0, false, &s, &ts)); /* a duplicate */
    assert_true(fwd(&rw, 0, 1001, 0, false, &s, &ts));  /* the repair */
    assert_int_equal(s, 1001);
    assert_false(fwd(&rw, 0, 1001, 0, false, &s, &ts));
    /* 2000 numbers later, a hole from the start is forgotten; of a jump past
     * the window, the newest numbers stay open. */
    assert_true(fwd(&rw, 0, 3100, 0, false, &s, &ts));
    assert_true(fwd(&rw, 0, 3102, 0, false, &s, &ts));
    assert_true(fwd(&rw, 0, 3101, 0, false, &s, &ts));
    assert_false(fwd(&rw, 0, 1500, 0, false, &s, &ts));
    assert_true(fwd(&rw, 0, 3000, 0, false, &s, &ts)); /* skipped within the window */
}

/* A timestamp mapped through sender reports is taken when it is near the
 * wall clock's and after the last one sent; otherwise the wall clock. */
static void test_mapped_timestamps(void **state)
{
    (void)state;
    pl_rewriter rw;
    pl_rewriter_init(&rw, 90000);
    uint16_t s;
    uint32_t ts;
    pl_rewriter_switch(&rw, 0, 1, 1000, NULL);
    assert_true(fwd(&rw, 0, 1, 1000, false, &s, &ts));
    uint32_t m = 1000 + 2970; /* 33 ms later in the capture clock */
    pl_rewriter_switch(&rw, 40000, 500, 777, &m);
    assert_true(fwd(&rw, 40000, 500, 777, false, &s, &ts));
    assert_int_equal(s, 2);
    assert_int_equal(ts, m);
    m = ts - 100; /* before the last one sent: one tick after it */
    pl_rewriter_switch(&rw, 41000, 900, 5, &m);
    assert_true(fwd(&rw, 41000, 900, 5, false, &s, &ts));
    assert_int_equal(ts, 1000 + 2970 + 1);
    m = ts + 5 * 90000; /* five seconds off: stale reports */
    pl_rewriter_switch(&rw, 51000, 1900, 5, &m);
    assert_true(fwd(&rw, 51000, 1900, 5, false, &s, &ts));
    assert_int_equal(ts, 1000 + 2970 + 1 + 900);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_continuation),
        cmocka_unit_test(test_wrap_around),
        cmocka_unit_test(test_drops_and_gaps),
        cmocka_unit_test(test_late_repair_after_reordering),
        cmocka_unit_test(test_mapped_timestamps),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
