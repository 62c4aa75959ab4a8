/* The receive-side estimate told to REMB publishers: it grows while what
 * is sent arrives, holds on moderate loss, falls on heavy loss, and does
 * not run ahead of a sender that does not use it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "parley/rxbwe.h"

#define SECOND 1000000

/* One second of a sender that sends min(estimate, want) bit/s. */
static uint64_t second(pl_rxbwe *e, int64_t *now, uint64_t estimate, uint64_t want, uint8_t loss)
{
    uint64_t rate = estimate < want ? estimate : want;
    for (int i = 0; i < 100; i++)
        pl_rxbwe_packet(e, (size_t)(rate / 8 / 100));
    *now += SECOND;
    return pl_rxbwe_update(e, *now, loss);
}

static void test_grows_to_the_ceiling_without_loss(void **state)
{
    (void)state;
    pl_rxbwe e;
    pl_rxbwe_init(&e, 2500000);
    int64_t now = 0;
    uint64_t est = pl_rxbwe_update(&e, now, 0);
    assert_int_equal(est, PL_RXBWE_START_BPS);
    int seconds = 0;
    while (est < 2500000 && seconds < 30) {
        uint64_t next = second(&e, &now, est, UINT64_MAX, 0);
        assert_true(next >= est);
        est = next;
        seconds++;
    }
    /* 300 kbit/s to 2.5 Mbit/s: a sender that fills its allowance grows
     * by half of it a second. */
    assert_int_equal(est, 2500000);
    assert_true(seconds <= 8);
    assert_int_equal(second(&e, &now, est, UINT64_MAX, 0), 2500000);
}

static void test_does_not_run_ahead_of_an_idle_sender(void **state)
{
    (void)state;
    pl_rxbwe e;
    pl_rxbwe_init(&e, 0);
    int64_t now = 0;
    uint64_t est = pl_rxbwe_update(&e, now, 0);
    for (int i = 0; i < 60; i++)
        est = second(&e, &now, est, 100000, 0);
    /* Twice what arrives plus the start: room to grow, not a blank cheque. */
    assert_true(est <= 2 * 100000 + PL_RXBWE_START_BPS);
    assert_true(est >= 100000);
    /* Once it sends more, the estimate follows. */
    for (int i = 0; i < 10; i++)
        est = second(&e, &now, est, 2000000, 0);
    assert_true(est >= 2000000);
    assert_true(est <= PL_RXBWE_MAX_BPS);
}

static void test_loss(void **state)
{
    (void)state;
    pl_rxbwe e;
    pl_rxbwe_init(&e, 0);
    int64_t now = 0;
    uint64_t est = pl_rxbwe_update(&e, now, 0);
    for (int i = 0; i < 10; i++)
        est = second(&e, &now, est, 1000000, 0);
    uint64_t before = est;
    /* 5% lost: hold. */
    est = second(&e, &now, est, 1000000, 13);
    assert_int_equal(est, before);
    /* 20% lost: down by 10%. */
    est = second(&e, &now, est, 1000000, 51);
    assert_int_equal(est, before - before * 51 / 512);
    /* Everything lost, again and again: the floor. */
    for (int i = 0; i < 40; i++)
        est = second(&e, &now, est, 1000000, 255);
    assert_int_equal(est, PL_RXBWE_MIN_BPS);
    /* A time that does not move restarts the measurement, it divides by nothing. */
    assert_int_equal(pl_rxbwe_update(&e, now, 0), PL_RXBWE_MIN_BPS);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_grows_to_the_ceiling_without_loss),
        cmocka_unit_test(test_does_not_run_ahead_of_an_idle_sender),
        cmocka_unit_test(test_loss),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
