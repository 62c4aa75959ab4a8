#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "parley/rewriter.h"

/* The rewriter alone: a switch to a source whose numbers are behind, and a
 * late packet of the current source that must not move the continuation. */
static void test_continuation(void **state)
{
    (void)state;
    pl_rewriter rw;
    pl_rewriter_init(&rw, 48000);
    uint16_t s;
    uint32_t ts;
    pl_rewriter_map(&rw, 0, 1, 100, 5000, &s, &ts);
    assert_int_equal(s, 100);
    pl_rewriter_map(&rw, 20000, 1, 102, 5960, &s, &ts);
    pl_rewriter_map(&rw, 20000, 1, 101, 5000 + 480, &s, &ts); /* late: mapped, not the last */
    assert_int_equal(s, 101);
    pl_rewriter_map(&rw, 40000, 2, 7, 10, &s, &ts);
    assert_int_equal(s, 103);
    assert_int_equal(ts, 5960 + 960); /* 20 ms at 48 kHz */
    assert_int_equal(pl_rewriter_source_seq(&rw, 103), 7);
    uint16_t again;
    uint32_t ts_again;
    assert_true(pl_rewriter_map_again(&rw, 2, 7, 10, &again, &ts_again));
    assert_int_equal(again, 103);
    assert_false(pl_rewriter_map_again(&rw, 1, 102, 5960, &again, &ts_again));
    /* A switch within the same instant still moves the timestamp on. */
    pl_rewriter_map(&rw, 40000, 3, 0, 0, &s, &ts);
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
    pl_rewriter_map(&rw, 0, 1, 65535, 0xffffff00u, &s, &ts);
    pl_rewriter_map(&rw, 100000, 2, 30000, 5, &s, &ts);
    assert_int_equal(s, 0);
    assert_int_equal(ts, 0xffffff00u + 9000u);
    pl_rewriter_map(&rw, 133000, 2, 30001, 3005, &s, &ts);
    assert_int_equal(s, 1);
    assert_int_equal(ts, (uint32_t)(0xffffff00u + 9000u + 3000u));
    assert_int_equal(pl_rewriter_source_seq(&rw, 0), 30000);
    assert_int_equal(pl_rewriter_source_seq(&rw, 65535), 29999);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_continuation),
        cmocka_unit_test(test_wrap_around),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
