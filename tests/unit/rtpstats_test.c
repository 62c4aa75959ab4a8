/* Receiver reports and sender-report mapping on a virtual clock. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "parley/rtpstats.h"

static void test_receiver_report(void **state)
{
    (void)state;
    pl_rtp_rx rx;
    pl_rtp_rx_init(&rx, 90000);
    /* 100 packets 10 ms apart, seq wrapping; 10 lost in the middle. */
    int64_t t = 5000000;
    for (int i = 0; i < 100; i++) {
        uint16_t seq = (uint16_t)(65500 + i);
        if (i >= 40 && i < 50)
            continue;
        pl_rtp_rx_packet(&rx, seq, (uint32_t)(900 * i), t + 10000 * i, false);
    }
    pl_rtp_rx_sr(&rx, (uint64_t)1000 << 32 | 0x80000000u, 123456, t + 500000);
    pl_rtcp_report r;
    pl_rtp_rx_report(&rx, 0xabc, t + 750000, &r);
    assert_int_equal(r.ssrc, 0xabc);
    assert_int_equal(r.cumulative_lost, 10);
    assert_int_equal(r.fraction_lost, 10 * 256 / 100);
    assert_int_equal(r.highest_seq, (1u << 16) + (uint16_t)(65500 + 99));
    assert_int_equal(r.jitter, 0); /* perfectly paced */
    /* LSR: the middle 32 bits of the SR's NTP time; DLSR in 1/65536 s. */
    assert_int_equal(r.lsr, (1000u << 16) | 0x8000u);
    assert_int_equal(r.dlsr, 250000ull * 65536u / 1000000u); /* 0.25 s */
    /* Next interval: 10 more, none lost. Retransmissions of the lost ones
     * bring the cumulative count down. */
    for (int i = 100; i < 110; i++)
        pl_rtp_rx_packet(&rx, (uint16_t)(65500 + i), (uint32_t)(900 * i), t + 10000 * i, false);
    for (int i = 40; i < 45; i++)
        pl_rtp_rx_packet(&rx, (uint16_t)(65500 + i), (uint32_t)(900 * i), t + 2000000, true);
    pl_rtp_rx_report(&rx, 0xabc, t + 2000000, &r);
    assert_int_equal(r.fraction_lost, 0);
    assert_int_equal(r.cumulative_lost, 5);
    assert_int_equal(r.jitter, 0); /* retransmissions take no part in jitter */
}

static void test_jitter(void **state)
{
    (void)state;
    pl_rtp_rx rx;
    pl_rtp_rx_init(&rx, 90000);
    /* Arrivals alternate 0 and +2 ms around the ideal: |D| = 180 ticks. */
    for (int i = 0; i < 200; i++)
        pl_rtp_rx_packet(&rx, (uint16_t)i, (uint32_t)(3000 * i),
                         1000000 + 33333 * i + (i % 2) * 2000, false);
    pl_rtcp_report r;
    pl_rtp_rx_report(&rx, 1, 9000000, &r);
    assert_true(r.jitter >= 170 && r.jitter <= 181);
}

static void test_sr_mapping(void **state)
{
    (void)state;
    pl_rtp_rx src;
    pl_rtp_rx_init(&src, 48000);
    pl_rtcp_sr sr;
    /* Nothing to map before the publisher's first SR. */
    assert_false(pl_sr_map(&src, 7, 0, 0, 0, 1000000, &sr));
    uint64_t ntp = pl_ntp_from_us(1700000000LL * 1000000);
    pl_rtp_rx_sr(&src, ntp, 4000000000u, 1000000);
    /* 500 ms later, on a route that shifted timestamps by 1000: NTP moved
     * 500 ms, RTP 24000 ticks plus the offset (wrapping). */
    assert_true(pl_sr_map(&src, 7, 1000, 42, 4200, 1500000, &sr));
    assert_int_equal(sr.ssrc, 7);
    assert_int_equal(sr.ntp - ntp, 1ull << 31);
    assert_int_equal(sr.rtp_ts, (uint32_t)(4000000000u + 1000u + 24000u));
    assert_int_equal(sr.packet_count, 42);
    assert_int_equal(sr.octet_count, 4200);
    /* Seconds in the high word, the fraction of a second in the low one
     * (truncated). */
    assert_int_equal(pl_ntp_from_us(0), 0);
    assert_int_equal(pl_ntp_from_us(1), 4294);
    assert_int_equal(pl_ntp_from_us(2750000), (2ull << 32) | (3ull << 30));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_receiver_report),
        cmocka_unit_test(test_jitter),
        cmocka_unit_test(test_sr_mapping),
    };
    return cmocka_run_group_tests_name("rtpstats", tests, NULL, NULL);
}
