/* The send-time history: feedback becomes per-packet results whatever the
 * wrap of sequence numbers or reference times, losses, duplicates,
 * reordered feedback, or packets it never sent or forgot. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "parley/sendhist.h"

typedef struct fx {
    uint64_t seed;
    pl_env env;
    pl_sendhist *h;
    pl_rtcp_twcc fb;
    pl_sendhist_result out[PL_RTCP_MAX_TWCC];
} fx;

static int setup(void **state)
{
    fx *f = calloc(1, sizeof(*f));
    f->env = pl_env_seeded(&f->seed, 3);
    f->h = pl_sendhist_create(&f->env);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fx *f = *state;
    pl_sendhist_destroy(f->h);
    free(f);
    return 0;
}

/* A feedback from `base` for n packets; received[i] says which arrived,
 * 1 ms apart from the reference time. */
static void feedback(fx *f, uint16_t base, int32_t ref, const bool *received, size_t n)
{
    memset(&f->fb, 0, offsetof(pl_rtcp_twcc, packets));
    f->fb.base_seq = base;
    f->fb.reference_time = ref;
    f->fb.n_packets = n;
    for (size_t i = 0; i < n; i++) {
        f->fb.packets[i] = (pl_rtcp_twcc_packet){.seq = (uint16_t)(base + i),
                                                 .received = received[i],
                                                 .delta_us = received[i] ? 1000 : 0};
    }
}

static void test_results_across_the_sequence_wrap(void **state)
{
    fx *f = *state;
    int64_t first = 0;
    for (int i = 0; i < 10; i++) {
        int64_t ext = pl_sendhist_sent(f->h, 1000 * i, (uint16_t)(65531 + i), 100 + (size_t)i, 0);
        if (i == 0)
            first = ext;
        assert_int_equal(ext, first + i); /* one run of numbers through 65535 -> 0 */
    }
    assert_int_equal(pl_sendhist_in_flight(f->h), 10 * 100 + 45);
    bool rx[10] = {true, true, false, true, true, true, true, false, true, true};
    feedback(f, 65531, 100, rx, 10);
    size_t n = pl_sendhist_feedback(f->h, &f->fb, f->out, PL_RTCP_MAX_TWCC);
    assert_int_equal(n, 10);
    int64_t arrival = 100 * 64000;
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(f->out[i].seq, first + (int64_t)i);
        assert_int_equal(f->out[i].send_us, 1000 * (int64_t)i);
        assert_int_equal(f->out[i].size, 100 + i);
        assert_int_equal(f->out[i].received, rx[i]);
        if (rx[i]) {
            arrival += 1000;
            assert_int_equal(f->out[i].arrival_us, arrival);
        }
    }
    assert_int_equal(pl_sendhist_in_flight(f->h), 0);
    pl_sendhist_stats st = pl_sendhist_get_stats(f->h);
    assert_int_equal(st.received, 8);
    assert_int_equal(st.lost, 2);
}

static void test_duplicate_and_overlapping_feedback_told_once(void **state)
{
    fx *f = *state;
    for (int i = 0; i < 6; i++)
        pl_sendhist_sent(f->h, 1000 * i, (uint16_t)(10 + i), 500, 0);
    bool rx[6] = {true, false, true, true, true, true};
    feedback(f, 10, 5, rx, 4);
    assert_int_equal(pl_sendhist_feedback(f->h, &f->fb, f->out, PL_RTCP_MAX_TWCC), 4);
    /* The same feedback again: nothing new. */
    assert_int_equal(pl_sendhist_feedback(f->h, &f->fb, f->out, PL_RTCP_MAX_TWCC), 0);
    /* One that overlaps it (12, 13 again) and goes on to 15: only 14, 15. */
    feedback(f, 12, 5, rx + 2, 4);
    size_t n = pl_sendhist_feedback(f->h, &f->fb, f->out, PL_RTCP_MAX_TWCC);
    assert_int_equal(n, 2);
    assert_int_equal((uint16_t)f->out[0].seq, 14);
    assert_int_equal((uint16_t)f->out[1].seq, 15);
    pl_sendhist_stats st = pl_sendhist_get_stats(f->h);
    assert_int_equal(st.repeated, 4 + 2);
    assert_int_equal(st.lost, 1);
}

static void test_a_late_arrival_after_a_loss(void **state)
{
    fx *f = *state;
    for (int i = 0; i < 3; i++)
        pl_sendhist_sent(f->h, 1000 * i, (uint16_t)(200 + i), 300, 0);
    bool first[3] = {true, false, true};
    feedback(f, 200, 7, first, 3);
    assert_int_equal(pl_sendhist_feedback(f->h, &f->fb, f->out, PL_RTCP_MAX_TWCC), 3);
    assert_false(f->out[1].received);
    /* A receiver that reports 201 after all: told, marked late. */
    bool later[1] = {true};
    feedback(f, 201, 7, later, 1);
    assert_int_equal(pl_sendhist_feedback(f->h, &f->fb, f->out, PL_RTCP_MAX_TWCC), 1);
    assert_true(f->out[0].received);
    assert_true(f->out[0].late);
    /* And an older feedback saying it was lost, arriving last: nothing. */
    feedback(f, 200, 7, first, 3);
    assert_int_equal(pl_sendhist_feedback(f->h, &f->fb, f->out, PL_RTCP_MAX_TWCC), 0);
}

static void test_reordered_feedback(void **state)
{
    fx *f = *state;
    for (int i = 0; i < 8; i++)
        pl_sendhist_sent(f->h, 1000 * i, (uint16_t)(40 + i), 200, 0);
    bool rx[4] = {true, true, true, true};
    /* The second feedback (44..47) arrives before the first (40..43). */
    feedback(f, 44, 11, rx, 4);
    assert_int_equal(pl_sendhist_feedback(f->h, &f->fb, f->out, PL_RTCP_MAX_TWCC), 4);
    assert_int_equal(f->out[0].arrival_us, 11 * 64000 + 1000);
    feedback(f, 40, 10, rx, 4);
    assert_int_equal(pl_sendhist_feedback(f->h, &f->fb, f->out, PL_RTCP_MAX_TWCC), 4);
    assert_int_equal(f->out[0].arrival_us, 10 * 64000 + 1000);
    assert_int_equal((uint16_t)f->out[3].seq, 43);
}

static void test_unknown_and_forgotten_packets(void **state)
{
    fx *f = *state;
    /* Feedback before anything was sent. */
    bool rx[4] = {true, true, true, true};
    feedback(f, 0, 0, rx, 4);
    assert_int_equal(pl_sendhist_feedback(f->h, &f->fb, f->out, PL_RTCP_MAX_TWCC), 0);
    /* Sent 1000..1000+CAP+10: the first 10 fall out of the ring. */
    for (int i = 0; i < PL_SENDHIST_CAP + 10; i++)
        pl_sendhist_sent(f->h, i, (uint16_t)(1000 + i), 100, 0);
    pl_sendhist_result r;
    assert_int_equal(pl_sendhist_lookup(f->h, 0x10000 + 1000 + 5, &r), PL_ENOTFOUND);
    feedback(f, 1005, 0, rx, 4); /* 1005, 1006 forgotten; 1010, 1011 kept */
    f->fb.base_seq = 1008;
    size_t n = pl_sendhist_feedback(f->h, &f->fb, f->out, PL_RTCP_MAX_TWCC);
    assert_int_equal(n, 2);
    assert_int_equal((uint16_t)f->out[0].seq, 1010);
    /* Numbers beyond the highest sent are unknown too. */
    feedback(f, (uint16_t)(1000 + PL_SENDHIST_CAP + 9), 0, rx, 3);
    assert_int_equal(pl_sendhist_feedback(f->h, &f->fb, f->out, PL_RTCP_MAX_TWCC), 1);
    pl_sendhist_stats st = pl_sendhist_get_stats(f->h);
    assert_int_equal(st.unknown, 4 + 2 + 2);
    /* Forgotten packets are no longer in flight either. */
    assert_int_equal(pl_sendhist_in_flight(f->h), (uint64_t)(PL_SENDHIST_CAP - 3) * 100);
}

/* The ring is sized by the rate: a meeting's subscriber (150 packets a
 * second, feedback every 100 ms) keeps the smallest one for good; a burst
 * of 3000 packets within 300 ms, none told yet, grows it to hold them
 * all. */
static void test_the_ring_grows_with_the_rate(void **state)
{
    fx *f = *state;
    bool rx[16];
    for (size_t i = 0; i < 16; i++)
        rx[i] = true;
    uint16_t seq = 0;
    for (int64_t t = 0; t < 10000000; t += 100000) {
        uint16_t base = seq;
        for (int k = 0; k < 15; k++)
            pl_sendhist_sent(f->h, t + k * 6667, seq++, 1000, 0);
        feedback(f, base, (int32_t)(t / 64000), rx, 15);
        assert_int_equal(pl_sendhist_feedback(f->h, &f->fb, f->out, PL_RTCP_MAX_TWCC), 15);
    }
    pl_sendhist_stats st = pl_sendhist_get_stats(f->h);
    assert_int_equal(st.capacity, PL_SENDHIST_MIN_CAP);
    assert_int_equal(st.unknown, 0);

    uint16_t first = seq;
    for (int i = 0; i < 3000; i++)
        pl_sendhist_sent(f->h, 10000000 + i * 100, seq++, 1000, 0);
    st = pl_sendhist_get_stats(f->h);
    assert_int_equal(st.capacity, PL_SENDHIST_CAP);
    for (int i = 0; i < 3000; i += 499) {
        pl_sendhist_result r;
        assert_int_equal(pl_sendhist_lookup(f->h, 0x10000 + (int64_t)first + i, &r), PL_OK);
        assert_int_equal(r.send_us, 10000000 + i * 100);
    }
    assert_int_equal(pl_sendhist_in_flight(f->h), 3000u * 1000u);
}

static void test_reference_time_wraps(void **state)
{
    fx *f = *state;
    for (int i = 0; i < 2; i++)
        pl_sendhist_sent(f->h, i, (uint16_t)i, 100, 0);
    bool rx[1] = {true};
    /* 24-bit reference time at its top, then past the wrap (negative as
     * the parser sign-extends it). */
    feedback(f, 0, 0x7fffff, rx, 1);
    assert_int_equal(pl_sendhist_feedback(f->h, &f->fb, f->out, PL_RTCP_MAX_TWCC), 1);
    int64_t a = f->out[0].arrival_us;
    feedback(f, 1, -0x800000, rx, 1);
    assert_int_equal(pl_sendhist_feedback(f->h, &f->fb, f->out, PL_RTCP_MAX_TWCC), 1);
    assert_int_equal(f->out[0].arrival_us - a, 64000);
}

static void test_capacity_of_out_is_respected(void **state)
{
    fx *f = *state;
    for (int i = 0; i < 5; i++)
        pl_sendhist_sent(f->h, i, (uint16_t)i, 100, 7);
    bool rx[5] = {true, true, true, true, true};
    feedback(f, 0, 0, rx, 5);
    assert_int_equal(pl_sendhist_feedback(f->h, &f->fb, f->out, 2), 2);
    assert_int_equal(f->out[1].cluster, 7);
    /* All five were told, though only two were written. */
    assert_int_equal(pl_sendhist_get_stats(f->h).received, 5);
}

/* A ring entry keeps the low bits of a packet's send time and probe
 * cluster: the results still carry them whole, across the 32-bit wrap of
 * microseconds (71 minutes into a call) and cluster numbers past 65535. */
static void test_send_times_and_clusters_whole_past_their_wraps(void **state)
{
    fx *f = *state;
    const int64_t t0 = ((int64_t)1 << 32) - 3000; /* 3 ms before the wrap */
    const uint32_t c0 = 65534;
    for (int i = 0; i < 6; i++)
        pl_sendhist_sent(f->h, t0 + 1000 * i, (uint16_t)(100 + i), 1200,
                         i % 2 ? 0 : c0 + (uint32_t)i);
    bool rx[6] = {true, true, true, true, true, true};
    feedback(f, 100, 5, rx, 6);
    size_t n = pl_sendhist_feedback(f->h, &f->fb, f->out, PL_RTCP_MAX_TWCC);
    assert_int_equal(n, 6);
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(f->out[i].send_us, t0 + 1000 * (int64_t)i);
        assert_int_equal(f->out[i].cluster, i % 2 ? 0 : c0 + (uint32_t)i);
        assert_int_equal(f->out[i].size, 1200);
    }
    pl_sendhist_result r;
    assert_int_equal(pl_sendhist_lookup(f->h, f->out[5].seq, &r), PL_OK);
    assert_int_equal(r.send_us, t0 + 5000);
    /* A number beyond the newest sent is not one the ring holds. */
    assert_int_equal(pl_sendhist_lookup(f->h, f->out[5].seq + 1, &r), PL_ENOTFOUND);
    assert_int_equal(pl_sendhist_lookup(f->h, f->out[0].seq + ((int64_t)1 << 32), &r),
                     PL_ENOTFOUND);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_results_across_the_sequence_wrap, setup, teardown),
        cmocka_unit_test_setup_teardown(test_send_times_and_clusters_whole_past_their_wraps, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_duplicate_and_overlapping_feedback_told_once, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_a_late_arrival_after_a_loss, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reordered_feedback, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unknown_and_forgotten_packets, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reference_time_wraps, setup, teardown),
        cmocka_unit_test_setup_teardown(test_the_ring_grows_with_the_rate, setup, teardown),
        cmocka_unit_test_setup_teardown(test_capacity_of_out_is_respected, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
