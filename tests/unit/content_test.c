/* The bot's identity-carrying media and its receive statistics: what the
 * load and interop tests rely on to say "this stream came from that bot,
 * complete and uncorrupted". */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "content.h"
#include "playout.h"
#include "rxstats.h"

#define LOOP 90

static void test_pattern_draw_read(void **state)
{
    (void)state;
    static uint8_t y[PL_CONTENT_WIDTH * PL_CONTENT_HEIGHT];
    static uint8_t u[PL_CONTENT_WIDTH * PL_CONTENT_HEIGHT / 4], v[sizeof(u)];
    for (unsigned id = 0; id < 256; id += 51)
        for (unsigned c = 0; c < 256; c += 17) {
            pl_content_draw(y, u, v, id, c, c);
            unsigned rid, rc;
            assert_int_equal(pl_content_read(y, PL_CONTENT_WIDTH, PL_CONTENT_WIDTH,
                                             PL_CONTENT_HEIGHT, &rid, &rc),
                             0);
            assert_int_equal(rid, id);
            assert_int_equal(rc, c);
        }
    /* A grey picture, or one cell flipped, is unreadable, not misread. */
    memset(y, 128, sizeof(y));
    unsigned rid, rc;
    assert_int_equal(
        pl_content_read(y, PL_CONTENT_WIDTH, PL_CONTENT_WIDTH, PL_CONTENT_HEIGHT, &rid, &rc), -1);
    pl_content_draw(y, u, v, 3, 4, 4);
    for (unsigned r = 0; r < 40; r++)
        memset(y + (size_t)r * PL_CONTENT_WIDTH, 235, 40); /* top-left cell to 1 */
    assert_int_equal(
        pl_content_read(y, PL_CONTENT_WIDTH, PL_CONTENT_WIDTH, PL_CONTENT_HEIGHT, &rid, &rc), -1);
    /* Too small to carry the grid. */
    assert_int_equal(pl_content_read(y, PL_CONTENT_WIDTH, 48, 32, &rid, &rc), -1);
    /* Other sizes scale the grid (simulcast layers), odd ones included. */
    static const unsigned sizes[][2] = {{160, 90}, {640, 360}, {200, 100}, {66, 50}};
    for (size_t k = 0; k < 4; k++) {
        unsigned w = sizes[k][0], h = sizes[k][1];
        uint8_t *py = malloc((size_t)w * h), *pu = malloc((size_t)(w + 1) / 2 * ((h + 1) / 2));
        uint8_t *pv = malloc((size_t)(w + 1) / 2 * ((h + 1) / 2));
        pl_content_draw_sized(py, pu, pv, w, h, 77, 9, 9);
        assert_int_equal(pl_content_read(py, (int)w, w, h, &rid, &rc), 0);
        assert_int_equal(rid, 77);
        assert_int_equal(rc, 9);
        free(py);
        free(pu);
        free(pv);
    }
}

static void test_video_survives_vp8(void **state)
{
    (void)state;
    static const unsigned ids[] = {0, 7, 200};
    for (size_t k = 0; k < 3; k++) {
        pl_clip *c = pl_clip_create(ids[k], LOOP, 5);
        assert_non_null(c);
        assert_int_equal(pl_clip_video_count(c), LOOP);
        assert_true(pl_clip_video(c, 0)->keyframe);
        assert_true(pl_clip_video(c, 60)->keyframe);
        assert_false(pl_clip_video(c, 1)->keyframe);
        pl_vcheck *v = pl_vcheck_create(LOOP, (int)ids[k]);
        pl_vcheck_result r;
        /* Twice around the loop: the wrap from frame 89 to the keyframe 0
         * is in order. */
        for (unsigned i = 0; i < 2 * LOOP; i++) {
            const pl_clip_frame *f = pl_clip_video(c, i % LOOP);
            pl_vcheck_frame(v, f->data, f->len, i * 3000, f->keyframe, -1, false, &r);
            assert_true(r.decoded);
            assert_false(r.corrupt);
            if (!r.in_order)
                fail_msg("identity %u frame %u out of order (counter %d)", ids[k], i, r.counter);
            assert_int_equal(r.identity, ids[k]);
            assert_int_equal(r.counter, (int)(i % LOOP));
        }
        /* A restart at the keyframe (a keyframe request) is in order too;
         * a jump to another counter without a loss report is not. */
        const pl_clip_frame *f0 = pl_clip_video(c, 0), *f60 = pl_clip_video(c, 60);
        pl_vcheck_frame(v, f0->data, f0->len, 0, true, -1, false, &r);
        assert_true(r.in_order);
        pl_vcheck_frame(v, f60->data, f60->len, 0, true, -1, false, &r);
        assert_true(r.decoded && !r.corrupt);
        assert_false(r.in_order);
        pl_vcheck_stats st;
        pl_vcheck_stats_get(v, &st);
        assert_int_equal(st.decoded, 2 * LOOP + 2);
        assert_int_equal(st.corrupt, 0);
        assert_int_equal(st.out_of_order, 1);
        assert_int_equal(st.wrong_identity, 0);
        pl_vcheck_destroy(v);
        pl_clip_destroy(c);
    }
}

static void test_video_after_loss_and_damage(void **state)
{
    (void)state;
    pl_clip *c = pl_clip_create(42, LOOP, 5);
    pl_vcheck *v = pl_vcheck_create(LOOP, 42);
    pl_vcheck_result r;
    const pl_clip_frame *f;
    /* Before any keyframe, and after a reported loss, P-frames wait. */
    f = pl_clip_video(c, 3);
    pl_vcheck_frame(v, f->data, f->len, 0, false, -1, false, &r);
    assert_true(r.skipped);
    f = pl_clip_video(c, 0);
    pl_vcheck_frame(v, f->data, f->len, 0, true, -1, false, &r);
    assert_true(r.decoded && !r.corrupt);
    f = pl_clip_video(c, 2);
    pl_vcheck_frame(v, f->data, f->len, 6000, false, -1, true, &r);
    assert_true(r.skipped);

    /* Damaged keyframes: every outcome is "corrupt" or a correct picture,
     * never a picture read as another sender. */
    f = pl_clip_video(c, 0);
    uint8_t *bad = malloc(f->len);
    unsigned wrong = 0, corrupt = 0;
    for (size_t pos = 20; pos < f->len; pos += f->len / 16) {
        memcpy(bad, f->data, f->len);
        for (size_t i = pos; i < pos + 64 && i < f->len; i++)
            bad[i] ^= 0x5a;
        pl_vcheck_frame(v, bad, f->len, 0, true, -1, false, &r);
        corrupt += r.corrupt;
        if (!r.corrupt && r.identity != 42)
            wrong++;
    }
    assert_int_equal(wrong, 0);
    assert_true(corrupt > 0);
    free(bad);
    pl_vcheck_destroy(v);

    /* Expecting someone else: every picture counts as the wrong sender. */
    v = pl_vcheck_create(LOOP, 41);
    f = pl_clip_video(c, 0);
    pl_vcheck_frame(v, f->data, f->len, 0, true, -1, false, &r);
    pl_vcheck_stats st;
    pl_vcheck_stats_get(v, &st);
    assert_int_equal(st.wrong_identity, 1);
    pl_vcheck_destroy(v);
    pl_clip_destroy(c);
}

/* Simulcast layers: three temporal layers at the sizes of q, h and f. */
static void test_layers_decode_and_switch(void **state)
{
    (void)state;
    static const unsigned sizes[3][3] = {{160, 90, 150}, {320, 180, 400}, {640, 360, 1000}};
    pl_clip *layer[3];
    for (int l = 0; l < 3; l++) {
        pl_clip_config cfg = {.video_frames = LOOP,
                              .width = sizes[l][0],
                              .height = sizes[l][1],
                              .kbps = sizes[l][2],
                              .temporal_layers = 3};
        layer[l] = pl_clip_create_with(9, &cfg);
        assert_non_null(layer[l]);
        assert_int_equal(pl_clip_audio_count(layer[l]), 0);
        /* The pattern 0 2 1 2; only TL2 frames are unreferenced. */
        static const uint8_t tid[4] = {0, 2, 1, 2};
        for (unsigned i = 0; i < 8; i++) {
            const pl_clip_frame *f = pl_clip_video(layer[l], i);
            assert_int_equal(f->tid, tid[i % 4]);
            assert_int_equal(f->non_reference, f->tid == 2);
            assert_int_equal(f->layer_sync, i % 4 == 1 || i % 4 == 2);
        }
        /* Every frame decodes to the sender at the layer's size... */
        pl_vcheck *v = pl_vcheck_create(LOOP, 9);
        pl_vcheck_result r;
        for (unsigned i = 0; i < LOOP; i++) {
            const pl_clip_frame *f = pl_clip_video(layer[l], i);
            pl_vcheck_frame(v, f->data, f->len, i * 3000, f->keyframe, -1, false, &r);
            assert_true(r.decoded && !r.corrupt && r.in_order);
            assert_int_equal(r.identity, 9);
            assert_int_equal(r.width, sizes[l][0]);
            assert_int_equal(r.height, sizes[l][1]);
        }
        pl_vcheck_destroy(v);
        /* ...and so does TL0 alone, or TL0 and TL1, when the upper layers
         * are dropped: in order, told each frame's layer; out of order
         * without it, the counter jumping. */
        for (unsigned keep = 0; keep < 2; keep++) {
            v = pl_vcheck_create(LOOP, 9);
            pl_vcheck *blind = pl_vcheck_create(LOOP, 9);
            for (unsigned i = 0; i < LOOP; i++) {
                const pl_clip_frame *f = pl_clip_video(layer[l], i);
                if (f->tid > keep)
                    continue;
                pl_vcheck_frame(v, f->data, f->len, i * 3000, f->keyframe, f->tid, false, &r);
                assert_true(r.decoded && !r.corrupt && r.in_order);
                assert_int_equal(r.identity, 9);
                pl_vcheck_frame(blind, f->data, f->len, i * 3000, f->keyframe, -1, false, &r);
                assert_true(r.decoded && !r.corrupt);
                assert_true(r.in_order == (i == 0));
            }
            pl_vcheck_destroy(blind);
            pl_vcheck_destroy(v);
        }
        /* A TL0 frame left out is no layer's choice: the next one does not
         * pass (out of order, or its reference gone). */
        v = pl_vcheck_create(LOOP, 9);
        for (unsigned i = 0; i < 9; i++) {
            const pl_clip_frame *f = pl_clip_video(layer[l], i);
            if (f->tid > 0 || i == 4)
                continue;
            pl_vcheck_frame(v, f->data, f->len, i * 3000, f->keyframe, f->tid, false, &r);
            if (i == 8)
                assert_false(r.in_order && !r.corrupt);
            else
                assert_true(r.in_order && !r.corrupt);
        }
        pl_vcheck_destroy(v);
    }
    /* Switching layers at a keyframe: q, then f, then h, one decoder. */
    pl_vcheck *v = pl_vcheck_create(LOOP, 9);
    pl_vcheck_result r;
    static const int order[3] = {0, 2, 1};
    for (int k = 0; k < 3; k++)
        for (unsigned i = 0; i < 20; i++) {
            const pl_clip_frame *f = pl_clip_video(layer[order[k]], i);
            pl_vcheck_frame(v, f->data, f->len, i * 3000, f->keyframe, -1, false, &r);
            assert_true(r.decoded && !r.corrupt && r.in_order);
            assert_int_equal(r.width, sizes[order[k]][0]);
        }
    pl_vcheck_stats st;
    pl_vcheck_stats_get(v, &st);
    assert_int_equal(st.decode_errors, 0);
    assert_int_equal(st.size_changes, 2);
    assert_int_equal(st.n_sizes, 3);
    for (int k = 0; k < 3; k++)
        assert_int_equal(st.sizes[k][2], 20);
    assert_int_equal(st.width, 320);
    assert_int_equal(st.height, 180);
    pl_vcheck_destroy(v);
    for (int l = 0; l < 3; l++)
        pl_clip_destroy(layer[l]);
}

static void test_audio_identity(void **state)
{
    (void)state;
    static const unsigned ids[] = {0, 1, 128, 254, 255};
    for (size_t k = 0; k < 5; k++) {
        pl_clip *c = pl_clip_create(ids[k], 1, 50);
        pl_acheck *a = pl_acheck_create();
        pl_acheck_stats st;
        /* Two seconds around the 1 s loop, with a lost packet now and then. */
        for (unsigned i = 0; i < 100; i++) {
            if (i % 23 == 22) {
                pl_acheck_lost(a);
                continue;
            }
            const pl_clip_frame *f = pl_clip_audio(c, i);
            pl_acheck_packet(a, f->data, f->len);
            pl_acheck_stats_get(a, &st);
            if (i < 20)
                assert_int_equal(st.identity, -1); /* not enough audio yet */
        }
        pl_acheck_stats_get(a, &st);
        assert_int_equal(st.identity, ids[k]);
        assert_int_equal(st.errors, 0);
        assert_int_equal(st.concealed, 4);
        pl_acheck_destroy(a);
        pl_clip_destroy(c);
    }
}

static void test_rxstats_loss_jitter(void **state)
{
    (void)state;
    pl_rxstats s;
    pl_rxstats_init(&s, 90000);
    int64_t t = 1000000000;
    /* 100 packets with a perfect clock, then one gap of 3 around the wrap. */
    uint16_t seq = 65500;
    for (int i = 0; i < 100; i++, seq++, t += 10000)
        assert_int_equal(pl_rxstats_packet(&s, seq, pl_rtp_clock_ts(t - 500, 90000), 100, t, true),
                         0);
    assert_int_equal(pl_rxstats_lost(&s), 0);
    assert_true(pl_rxstats_jitter_ms(&s) < 0.05);
    seq += 3;
    assert_int_equal(pl_rxstats_packet(&s, seq, pl_rtp_clock_ts(t - 500, 90000), 100, t, true), 3);
    assert_int_equal(pl_rxstats_expected(&s), 104);
    assert_int_equal(pl_rxstats_lost(&s), 3);
    /* A duplicate counts as received (RFC 3550 A.3) and moves nothing. */
    assert_int_equal(pl_rxstats_packet(&s, seq, pl_rtp_clock_ts(t - 500, 90000), 100, t, true), 0);
    assert_int_equal(pl_rxstats_lost(&s), 2);
    /* Delay: every packet was 500 us old, within the 10 us buckets and the
     * clock's 11 us resolution. */
    int64_t p50 = pl_delay_quantile(&s.delay, 0.5);
    assert_true(p50 >= 490 && p50 <= 520);
    /* Frames 250 ms apart are freezes. */
    pl_rxstats_frame(&s, 0);
    pl_rxstats_frame(&s, 100000);
    pl_rxstats_frame(&s, 350000);
    assert_int_equal(s.freezes, 1);
    assert_int_equal(s.freeze_us, 250000);
}

static void test_delay_histogram(void **state)
{
    (void)state;
    pl_delay_hist h;
    memset(&h, 0, sizeof(h));
    assert_int_equal(pl_delay_quantile(&h, 0.5), -1);
    for (int i = 0; i < 98; i++)
        pl_delay_add(&h, 150);
    pl_delay_add(&h, 5500);
    pl_delay_add(&h, 20000000);
    assert_int_equal(pl_delay_quantile(&h, 0.5), 160);
    assert_int_equal(pl_delay_quantile(&h, 0.99), 6000);
    assert_int_equal(pl_delay_quantile(&h, 1.0), 20000000);
    pl_delay_hist m;
    memset(&m, 0, sizeof(m));
    pl_delay_merge(&m, &h);
    pl_delay_merge(&m, &h);
    assert_int_equal(m.n, 200);
    assert_int_equal(m.max_us, 20000000);
}

static void count_turns(void *user, enum pl_playout_kind kind, const uint8_t *data, size_t len)
{
    (void)data, (void)len;
    uint64_t *n = user;
    n[kind]++;
}

/* The bot's audio playout after a stall: the packets that missed their
 * turn were concealed, and the ones after the stall play, because the
 * schedule moved back by what they missed it by; without a stall nothing
 * is late and nothing moves. */
static void test_playout_stretches_after_a_stall(void **state)
{
    (void)state;
    static pl_playout p;
    pl_playout_init(&p, 100000);
    uint64_t turns[3] = {0};
    uint8_t pkt[20] = {1};
    int64_t t = 0;
    uint16_t seq = 500;
    for (int i = 0; i < 50; i++, t += 20000) { /* a second on time */
        pl_playout_push(&p, seq++, pkt, sizeof(pkt), t);
        pl_playout_run(&p, t, count_turns, turns);
    }
    assert_int_equal(p.late, 0);
    assert_int_equal(p.stretched_us, 0);
    /* 400 ms of nothing, then the held packets all at once, then on time. */
    for (int i = 0; i < 20; i++, t += 20000)
        pl_playout_run(&p, t, count_turns, turns);
    for (int i = 0; i < 20; i++)
        pl_playout_push(&p, seq++, pkt, sizeof(pkt), t);
    for (int i = 0; i < 100; i++, t += 20000) {
        pl_playout_push(&p, seq++, pkt, sizeof(pkt), t);
        pl_playout_run(&p, t, count_turns, turns);
    }
    while (p.next_seq != seq) /* what is still waiting, and no further */
        pl_playout_run(&p, pl_playout_next(&p), count_turns, turns);
    /* The 15 frames due during the stall were concealed and their packets
     * came late; the schedule moved back 300 ms, and everything after
     * played: the 5 held packets still in time and the 100 that followed. */
    assert_int_equal(p.late, 15);
    assert_int_equal(p.stretched_us, 300000);
    assert_int_equal(turns[PL_PLAYOUT_LOST], 15);
    assert_int_equal(turns[PL_PLAYOUT_PACKET], 50 + 5 + 100);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pattern_draw_read),
        cmocka_unit_test(test_video_survives_vp8),
        cmocka_unit_test(test_video_after_loss_and_damage),
        cmocka_unit_test(test_layers_decode_and_switch),
        cmocka_unit_test(test_audio_identity),
        cmocka_unit_test(test_rxstats_loss_jitter),
        cmocka_unit_test(test_delay_histogram),
        cmocka_unit_test(test_playout_stretches_after_a_stall),
    };
    return cmocka_run_group_tests_name("content", tests, NULL, NULL);
}
