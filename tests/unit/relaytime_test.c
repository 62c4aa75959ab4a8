/* The relay's delay histogram: percentiles, and the cumulative buckets and
 * sum a Prometheus histogram is made of. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "parley/relaytime.h"

static void test_cumulative(void **state)
{
    (void)state;
    static pl_relaytime h; /* zeroed */
    const int64_t samples[] = {-5, 0, 9, 10, 19, 20, 45, 999, 1000, 19999, 20000, 50000};
    for (size_t i = 0; i < sizeof(samples) / sizeof(samples[0]); i++)
        pl_relaytime_add(&h, samples[i]);
    const uint32_t le[] = {10, 20, 50, 1000, 20000};
    uint64_t cum[5], n, sum;
    pl_relaytime_cumulative(&h, le, 5, cum, &n, &sum);
    assert_int_equal(n, 12);
    /* A 10 us bucket [b*10, b*10+10) is within an edge its top reaches:
     * -5, 0 and 9 by 10 us; 10 and 19 by 20; 20 and 45 by 50; 999 by 1000
     * (1000 starts the next bucket); 1000 and 19999 by 20 ms; 20 ms and
     * more only in the total. */
    assert_int_equal(cum[0], 3);
    assert_int_equal(cum[1], 5);
    assert_int_equal(cum[2], 7);
    assert_int_equal(cum[3], 8);
    assert_int_equal(cum[4], 10);
    assert_int_equal(sum, 0 + 0 + 9 + 10 + 19 + 20 + 45 + 999 + 1000 + 19999 + 20000 + 50000);
    uint64_t samples_n;
    uint32_t p50, p99;
    pl_relaytime_get(&h, &samples_n, &p50, &p99);
    assert_int_equal(samples_n, 12);
    assert_int_equal(p50, 30); /* the 6th of 12, 20 us, in the bucket up to 30 */
}

static void test_empty(void **state)
{
    (void)state;
    static pl_relaytime h;
    const uint32_t le[] = {100};
    uint64_t cum[1] = {99}, n = 99, sum = 99;
    pl_relaytime_cumulative(&h, le, 1, cum, &n, &sum);
    assert_int_equal(cum[0], 0);
    assert_int_equal(n, 0);
    assert_int_equal(sum, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cumulative),
        cmocka_unit_test(test_empty),
    };
    return cmocka_run_group_tests_name("relaytime", tests, NULL, NULL);
}
