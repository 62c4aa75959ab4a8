/* A new subscriber's first seconds on the virtual clock: the estimate
 * starts low (PL_ROUTER_START_BPS) because nothing is known of the path,
 * and on a fast path it must not hold the subscriber's video back for long
 * nor drop what the publishers' first key frames put in the pacer. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "downlink_fx.h"

/* Whether the subscriber gets every publisher's video. */
static bool all_video(const sim *s)
{
    return !s->paused[0] && !s->paused[1] && !s->paused[2] && s->layer[0] >= 0 &&
           s->layer[1] >= 0 && s->layer[2] >= 0;
}

/* Three publishers of one 700 kbit/s video each (no simulcast: the
 * allocator can only send it whole or pause it) and audio, to a subscriber
 * behind 20 Mbit/s: from the start of the room (`late` false: the tracks'
 * rates are not known yet), or joining it 2 s after it started. */
static void fast_path(sim *s, bool late)
{
    s->down.rate_bps = 20000000;
    const uint64_t bps[1] = {700000};
    for (int i = 0; i < 3; i++)
        add_publisher(s, bps, 1);
    int64_t t0 = late ? 2000000 : 0;
    if (late)
        run(s, t0);
    set_routes(s, TWCC_EXT);
    pump(s);
    int64_t all_video_at = -1;
    bool dump = getenv("DL_DUMP") != NULL;
    while (s->now < t0 + 5000000) {
        run(s, s->now + 50000);
        pl_router_downlink dl = {0};
        assert_int_equal(pl_router_downlink_get(s->r, SUB, &dl), PL_OK);
        bool all = all_video(s);
        if (all && all_video_at < 0)
            all_video_at = s->now - t0;
        if (dump)
            print_message("# t=%.2f est %llu queue %lld ms paused %d%d%d layers %d%d%d\n",
                          (double)s->now / 1e6, (unsigned long long)dl.estimate_bps,
                          (long long)(link_queue_delay(&s->down, s->now) / 1000), s->paused[0],
                          s->paused[1], s->paused[2], s->layer[0], s->layer[1], s->layer[2]);
    }
    pl_router_stats st;
    pl_router_stats_get(s->r, &st);
    pl_router_downlink dl = {0};
    assert_int_equal(pl_router_downlink_get(s->r, SUB, &dl), PL_OK);
    print_message("# 3 x 700 kbit/s video behind 20 Mbit/s, subscribed %s: every video %.2f s "
                  "after; 5 s after, "
                  "estimate %llu; pacer refused %llu, pauses %llu, repair key frames %llu; "
                  "audio %llu/%llu, max delay %lld ms\n",
                  late ? "2 s after they started" : "as they started", (double)all_video_at / 1e6,
                  (unsigned long long)dl.estimate_bps, (unsigned long long)st.pacer_refused,
                  (unsigned long long)st.video_pauses, (unsigned long long)st.nack_keyframes,
                  (unsigned long long)s->audio_got, (unsigned long long)audio_sent(s),
                  (long long)(s->audio_max_delay / 1000));
    /* Joining late, the tracks' rates are known and the probes alone
     * decide; from the start, their rates are measured within a second. */
    assert_true(all_video_at >= 0 && all_video_at < (late ? 1000000 : 1500000));
    assert_int_equal(st.pacer_refused, 0);
    assert_true(s->audio_max_delay < 100000);
    assert_int_equal(st.video_pauses, 0);
}

static void test_fast_path_from_the_start(void **state)
{
    fast_path(*state, false);
}

static void test_fast_path_joining_late(void **state)
{
    fast_path(*state, true);
}

/* The impaired e2e meeting's path (impaired.test.mjs): no bottleneck, but
 * 5% loss, 50 ms delay and each packet's delay +- 20 ms both ways (the
 * feedback's way too). Neither the loss, which repair hides, nor the
 * jitter, which has no trend, is congestion: the estimate must carry the
 * three videos and pause none of them once started. */
static void lossy_jittery_path(sim *s, bool staggered, bool fifo)
{
    s->down.rate_bps = 20000000;
    s->down.loss = s->up.loss = 0.05;
    s->down.delay_us = s->up.delay_us = 50000;
    s->down.jitter_us = s->up.jitter_us = 20000;
    s->down.jitter_keeps_order = s->up.jitter_keeps_order = fifo;
    const uint64_t bps[1] = {400000};
    /* All at once, or as a meeting fills: the subscriber's first
     * publisher, then one more every 1.5 s. */
    for (int i = 0; i < 3; i++) {
        if (staggered && i)
            run(s, s->now + 1500000);
        {
            add_publisher(s, bps, 1);
            if (staggered || i == 2) {
                set_routes(s, TWCC_EXT);
                pump(s);
            }
        }
    }
    bool dump = getenv("DL_DUMP") != NULL;
    uint64_t pauses_after_start = 0, min_est = UINT64_MAX;
    bool was_paused[MAX_PUBS] = {0}, seen = false;
    int64_t all_video_at = -1;
    while (s->now < 20000000) {
        run(s, s->now + 50000);
        pl_router_downlink dl = {0};
        assert_int_equal(pl_router_downlink_get(s->r, SUB, &dl), PL_OK);
        bool all = all_video(s);
        if (all && all_video_at < 0)
            all_video_at = s->now;
        if (s->now > 3000000) {
            if (dl.estimate_bps < min_est)
                min_est = dl.estimate_bps;
            for (int i = 0; i < 3; i++) {
                if (seen && s->paused[i] && !was_paused[i])
                    pauses_after_start++;
                was_paused[i] = s->paused[i];
            }
            seen = true;
        }
        if (dump)
            print_message(
                "# t=%.2f est %llu (delay %llu loss %llu acked %llu) loss %.3f jitter %.1f trend "
                "%.2f/%.2f "
                "overuses %llu loss cuts %llu probes %llu/%llu/%llu last %llu paused %d%d%d\n",
                (double)s->now / 1e6, (unsigned long long)dl.estimate_bps,
                (unsigned long long)dl.bwe.delay_bps, (unsigned long long)dl.bwe.loss_bps,
                (unsigned long long)dl.bwe.acked_bps, dl.bwe.loss, dl.bwe.jitter_ms, dl.bwe.trend,
                dl.bwe.threshold, (unsigned long long)dl.bwe.overuses,
                (unsigned long long)dl.bwe.loss_cuts, (unsigned long long)dl.bwe.probes_sent,
                (unsigned long long)dl.bwe.probes_ok, (unsigned long long)dl.bwe.probes_failed,
                (unsigned long long)dl.bwe.last_probe_bps, s->paused[0], s->paused[1],
                s->paused[2]);
    }
    pl_router_stats st;
    pl_router_stats_get(s->r, &st);
    print_message("# 3 x 400 kbit/s video%s, 5%% loss, 50 ms +- 20 ms both ways: every video at "
                  "%.2f s; lowest estimate after 3 s %llu, pauses after 3 s %llu (all %llu), "
                  "audio %llu/%llu\n",
                  staggered ? " (publishers joining 1.5 s apart)" : "", (double)all_video_at / 1e6,
                  (unsigned long long)min_est, (unsigned long long)pauses_after_start,
                  (unsigned long long)st.video_pauses, (unsigned long long)s->audio_got,
                  (unsigned long long)audio_sent(s));
    assert_true(all_video_at >= 0 && all_video_at < (staggered ? 6000000 : 3000000));
    assert_int_equal(pauses_after_start, 0);
    assert_true(min_est > 3 * 400000);
}

static void test_lossy_jittery_path(void **state)
{
    lossy_jittery_path(*state, false, false);
}

static void test_lossy_jittery_path_filling(void **state)
{
    lossy_jittery_path(*state, true, false);
}

static void test_lossy_fifo_jitter(void **state)
{
    lossy_jittery_path(*state, false, true);
}

static void test_lossy_fifo_jitter_filling(void **state)
{
    lossy_jittery_path(*state, true, true);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_fast_path_from_the_start, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fast_path_joining_late, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lossy_jittery_path, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lossy_jittery_path_filling, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lossy_fifo_jitter, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lossy_fifo_jitter_filling, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
