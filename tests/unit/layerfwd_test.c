/* One route's layer forwarding on a virtual clock: a publisher's three
 * simulcast layers (each with its own sequence numbers, timestamps,
 * picture ids, TL0PICIDX and KEYIDX, three temporal layers, key frames at
 * random), a route told to switch at random, and every packet that comes
 * out checked against what a decoder needs. Seeded: the same run every
 * time. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "parley/common.h"
#include "parley/layerfwd.h"

static uint64_t rng = 0x9e3779b97f4a7c15ull;

static uint32_t rnd(uint32_t n)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint32_t)(rng % n);
}

typedef struct layer_src {
    uint16_t seq, pid;
    uint32_t ts_base;
    uint8_t tl0, keyidx;
    unsigned since_key;
} layer_src;

/* The temporal layer of each frame after a key frame (L1T3). */
static const uint8_t pattern[4] = {0, 2, 1, 2};

typedef struct frame_src {
    uint16_t pid;
    uint8_t tl0, tid, keyidx;
    bool key, sync;
} frame_src;

static size_t build(uint8_t *b, const frame_src *fr, int j)
{
    memset(b, 0, 16);
    b[0] = (uint8_t)(0x80 | (j == 0 ? 0x10 : 0));
    b[1] = 0xf0; /* I, L, T, K */
    b[2] = (uint8_t)(0x80 | (fr->pid >> 8));
    b[3] = (uint8_t)fr->pid;
    b[4] = fr->tl0;
    b[5] = (uint8_t)(fr->tid << 6 | (fr->sync ? 0x20 : 0) | (fr->keyidx & 0x1f));
    b[6] = j == 0 ? (fr->key ? 0x00 : 0x01) : 0x55;
    return 16;
}

typedef struct expect {
    uint8_t layer;
    uint16_t in_seq;
    bool valid;
} expect;

/* 1,000 completed switches at random targets, temporal caps changed at
 * random: sequence numbers without a gap, each new frame the next picture
 * id, a timestamp after the last and no further on than the capture clock,
 * TL0PICIDX up by one exactly at base layer frames, KEYIDX up by one
 * exactly at key frames, no frame of a capped temporal layer, every
 * switch on the first packet of a key frame of the target, and the NACK
 * history naming the source packet of every output number. */
static void run_switches(bool reports)
{
    pl_layerfwd *f = test_malloc(sizeof(*f));
    pl_layerfwd_init(f, 90000, true);
    layer_src L[3];
    pl_layer_clock clocks[3];
    for (int l = 0; l < 3; l++) {
        L[l] = (layer_src){.seq = (uint16_t)rnd(65536),
                           .pid = (uint16_t)rnd(0x8000),
                           .ts_base = (uint32_t)rnd(0xffffffffu),
                           .tl0 = (uint8_t)rnd(256),
                           .keyidx = (uint8_t)rnd(32)};
        /* Every layer's clock read at instant 0: the same NTP time. */
        clocks[l] =
            (pl_layer_clock){.valid = true, .epoch = 0, .ntp = 1000ull << 32, .rtp = L[l].ts_base};
    }
    uint8_t target = (uint8_t)rnd(3);
    pl_layerfwd_set_target(f, target);
    uint8_t want_cap = 0;
    expect exp[PL_LAYERFWD_HISTORY] = {0};
    bool have = false;
    uint16_t prev_seq = 0, prev_pid = 0;
    uint32_t prev_ts = 0, first_ts = 0;
    uint8_t prev_tl0 = 0, prev_key = 0, prev_layer = PL_LAYER_NONE;
    long prev_k = -1, first_k = 0;
    unsigned switches = 0, dropped = 0, top_layer_frames = 0;
    for (long k = 0; switches < 1000; k++) {
        assert_true(k < 400000);
        int64_t now = (int64_t)k * 33333;
        if (rnd(20) == 0) {
            want_cap = (uint8_t)rnd(4);
            pl_layerfwd_set_temporal(f, want_cap);
        }
        if (rnd(60) == 0) {
            target = (uint8_t)rnd(3); /* changed before it was reached, or back */
            pl_layerfwd_set_target(f, target);
        }
        uint8_t order[3] = {0, 1, 2};
        for (int i = 2; i > 0; i--) {
            int j = (int)rnd((uint32_t)i + 1);
            uint8_t t = order[i];
            order[i] = order[j];
            order[j] = t;
        }
        for (int oi = 0; oi < 3; oi++) {
            uint8_t l = order[oi];
            layer_src *s = &L[l];
            frame_src fr = {.key = k == 0 || rnd(12) == 0};
            if (fr.key)
                s->since_key = 0;
            fr.tid = pattern[s->since_key++ % 4];
            if (fr.tid == 0)
                s->tl0++;
            if (fr.key)
                s->keyidx++;
            fr.sync = fr.tid > 0 && rnd(4) == 0;
            fr.pid = s->pid = (uint16_t)((s->pid + 1) & 0x7fff);
            fr.tl0 = s->tl0;
            fr.keyidx = s->keyidx;
            for (int j = 0; j <= l; j++) {
                uint8_t b[16];
                size_t len = build(b, &fr, j);
                pl_vp8_desc d;
                assert_int_equal(pl_vp8_parse_descriptor(b, len, &d), PL_OK);
                pl_layerfwd_pkt p = {.layer = l,
                                     .seq = s->seq++,
                                     .ts = s->ts_base + (uint32_t)k * 3000u,
                                     .vp8 = &d,
                                     .clocks = reports ? clocks : NULL};
                pl_layerfwd_out o;
                bool go = pl_layerfwd_packet(f, now, &p, &o);
                if (!go) {
                    dropped += l == prev_layer;
                    continue;
                }
                if (l != prev_layer) {
                    /* A start or a switch: the first packet of a key frame
                     * of the target. */
                    assert_true(fr.key && j == 0 && l == target);
                    assert_int_equal(o.switched, prev_layer != PL_LAYER_NONE);
                    if (o.switched) {
                        switches++;
                        target = (uint8_t)((l + 1 + rnd(2)) % 3);
                        pl_layerfwd_set_target(f, target);
                    }
                } else {
                    assert_false(o.switched);
                }
                /* What the subscriber reads: the fields written into the
                 * packet's own descriptor. */
                assert_true(o.vp8);
                assert_int_equal(pl_vp8_write_fields(b, len, &o.vf), PL_OK);
                pl_vp8_desc w;
                assert_int_equal(pl_vp8_parse_descriptor(b, len, &w), PL_OK);
                assert_int_equal(w.tid, fr.tid);
                if (have) {
                    assert_int_equal(o.seq, (uint16_t)(prev_seq + 1));
                    bool new_frame = l != prev_layer || k != prev_k;
                    if (new_frame) {
                        assert_int_equal(w.picture_id, (prev_pid + 1) & 0x7fff);
                        int32_t step = (int32_t)(o.ts - prev_ts);
                        assert_true(step >= 1 && step <= (k - prev_k) * 3000 + 1);
                        int64_t drift = (int64_t)(int32_t)(o.ts - first_ts) - (k - first_k) * 3000;
                        assert_true(drift >= -(int64_t)switches - 1 && drift <= switches + 1);
                        assert_int_equal(w.tl0picidx, (uint8_t)(prev_tl0 + (fr.tid == 0)));
                        assert_int_equal(w.keyidx, (prev_key + fr.key) & 0x1f);
                        if (want_cap)
                            assert_true(fr.tid < want_cap);
                        top_layer_frames += fr.tid == 2;
                    } else {
                        assert_int_equal(w.picture_id, prev_pid);
                        assert_int_equal(o.ts, prev_ts);
                        assert_int_equal(w.tl0picidx, prev_tl0);
                    }
                } else {
                    first_ts = o.ts;
                    first_k = k;
                }
                have = true;
                prev_seq = o.seq;
                prev_ts = o.ts;
                prev_k = k;
                prev_pid = w.picture_id;
                prev_tl0 = w.tl0picidx;
                prev_key = w.keyidx;
                prev_layer = l;
                exp[o.seq % PL_LAYERFWD_HISTORY] =
                    (expect){.layer = l, .in_seq = p.seq, .valid = true};
                /* The history: this number and one sent before it. */
                for (int back = 0; back < 2; back++) {
                    uint16_t q = (uint16_t)(o.seq - (back ? rnd(PL_LAYERFWD_HISTORY) : 0));
                    const expect *e = &exp[q % PL_LAYERFWD_HISTORY];
                    pl_layerfwd_sent sent;
                    if (!e->valid)
                        continue;
                    assert_true(pl_layerfwd_lookup(f, q, &sent));
                    assert_int_equal(sent.layer, e->layer);
                    assert_int_equal(sent.in_seq, e->in_seq);
                }
            }
        }
    }
    assert_int_equal(switches, 1000);
    assert_true(dropped > 1000);          /* temporal layers were dropped ... */
    assert_true(top_layer_frames > 1000); /* ... and forwarded */
    test_free(f);
}

static void test_random_switches_with_reports(void **state)
{
    (void)state;
    run_switches(true);
}

static void test_random_switches_by_wall_clock(void **state)
{
    (void)state;
    run_switches(false);
}

/* With both layers' sender reports, the first frame of the new layer
 * takes the timestamp the old layer's frame of the same capture instant
 * would have had, however far apart the layers' RTP clocks start. */
static void test_reports_map_timestamps(void **state)
{
    (void)state;
    pl_layerfwd f;
    pl_layerfwd_init(&f, 90000, true);
    pl_layerfwd_set_target(&f, 0);
    pl_layer_clock clocks[2] = {
        {.valid = true, .ntp = 5000ull << 32, .rtp = 1000},
        /* Layer 1's report is 0.5 s later and its clock starts elsewhere. */
        {.valid = true, .ntp = (5000ull << 32) + (1ull << 31), .rtp = 77777777},
    };
    uint8_t key[] = {0x90, 0x80, 0x80, 0x01, 0x00};
    pl_vp8_desc d;
    assert_int_equal(pl_vp8_parse_descriptor(key, sizeof(key), &d), PL_OK);
    pl_layerfwd_out o;
    pl_layerfwd_pkt p = {.layer = 0, .seq = 10, .ts = 1000 + 90000, .vp8 = &d, .clocks = clocks};
    assert_true(pl_layerfwd_packet(&f, 1000000, &p, &o));
    assert_int_equal(o.ts, 1000 + 90000);
    pl_layerfwd_set_target(&f, 1);
    assert_true(pl_layerfwd_waiting(&f));
    assert_int_equal(pl_layerfwd_keyframe_layer(&f), 1);
    /* Layer 1's key frame captured 0.1 s after layer 0's frame: 1.1 s
     * after layer 0's report, 0.6 s after its own. */
    p = (pl_layerfwd_pkt){
        .layer = 1, .seq = 5000, .ts = 77777777 + 54000, .vp8 = &d, .clocks = clocks};
    assert_true(pl_layerfwd_packet(&f, 1150000, &p, &o));
    assert_true(o.switched);
    assert_int_equal(o.seq, 11);
    assert_int_equal(o.ts, 1000 + 90000 + 9000);
    assert_false(pl_layerfwd_waiting(&f));
}

/* A one-layer route starts at any packet; after a stop it starts again at
 * the next one, sequence numbers continuing and timestamps by the source's
 * own clock (by the wall clock when another source comes). A simulcast
 * route waits for a key frame of its target, and packets without a
 * descriptor never start it. */
static void test_start_rules(void **state)
{
    (void)state;
    pl_layerfwd f;
    pl_layerfwd_init(&f, 48000, false);
    pl_layerfwd_set_target(&f, 0);
    pl_layerfwd_out o;
    pl_layerfwd_pkt p = {.layer = 0, .seq = 7, .ts = 100};
    assert_true(pl_layerfwd_packet(&f, 0, &p, &o));
    assert_false(o.vp8);
    pl_layerfwd_stop(&f);
    p.seq = 9000;
    p.ts = 100 + 4800; /* 100 ms on in the source, 20 ms on the wall */
    assert_true(pl_layerfwd_packet(&f, 20000, &p, &o));
    assert_int_equal(o.seq, 8);
    assert_int_equal(o.ts, 100 + 4800);
    pl_layerfwd_stop(&f);
    p.epoch = 1;
    p.seq = 20;
    assert_true(pl_layerfwd_packet(&f, 40000, &p, &o));
    assert_int_equal(o.seq, 9);
    assert_int_equal(o.ts, 100 + 4800 + 960);
    pl_layerfwd_init(&f, 90000, true);
    pl_layerfwd_set_target(&f, 1);
    p.layer = 1;
    assert_false(pl_layerfwd_packet(&f, 0, &p, &o));
    uint8_t inter[] = {0x90, 0x80, 0x80, 0x01, 0x01};
    pl_vp8_desc d;
    assert_int_equal(pl_vp8_parse_descriptor(inter, sizeof(inter), &d), PL_OK);
    p.vp8 = &d;
    assert_false(pl_layerfwd_packet(&f, 0, &p, &o));
    assert_true(pl_layerfwd_waiting(&f));
}

/* A single-layer video route starts at any packet, but once VP8 went out
 * a restart (a pause ended, another source) waits for a key frame: the
 * numbers continue, so a P-frame spliced on would reach the decoder with
 * nothing to tell it that the pictures it refers to never came. */
static void test_video_restarts_at_key(void **state)
{
    (void)state;
    pl_layerfwd f;
    pl_layerfwd_init(&f, 90000, false);
    pl_layerfwd_set_target(&f, 0);
    uint8_t inter[] = {0x90, 0x80, 0x80, 0x01, 0x01}, key[] = {0x90, 0x80, 0x80, 0x05, 0x00};
    pl_vp8_desc di, dk;
    assert_int_equal(pl_vp8_parse_descriptor(inter, sizeof(inter), &di), PL_OK);
    assert_int_equal(pl_vp8_parse_descriptor(key, sizeof(key), &dk), PL_OK);
    assert_true(dk.keyframe);
    pl_layerfwd_out o;
    pl_layerfwd_pkt p = {.layer = 0, .seq = 100, .ts = 3000, .vp8 = &di};
    assert_false(pl_layerfwd_waiting(&f));
    assert_true(pl_layerfwd_packet(&f, 0, &p, &o)); /* the first: any packet */
    assert_int_equal(o.seq, 100);
    pl_layerfwd_stop(&f); /* paused */
    assert_true(pl_layerfwd_waiting(&f));
    p.seq = 110;
    p.ts = 6000;
    assert_false(pl_layerfwd_packet(&f, 33000, &p, &o)); /* a P-frame: not spliced */
    p.vp8 = &dk;
    p.seq = 111;
    p.ts = 9000;
    assert_true(pl_layerfwd_packet(&f, 66000, &p, &o)); /* the key frame restarts it */
    assert_int_equal(o.seq, 101);
    assert_false(pl_layerfwd_waiting(&f));
    /* Audio (no VP8) restarts at any packet. */
    pl_layerfwd_init(&f, 48000, false);
    pl_layerfwd_set_target(&f, 0);
    p = (pl_layerfwd_pkt){.layer = 0, .seq = 5, .ts = 960};
    assert_true(pl_layerfwd_packet(&f, 0, &p, &o));
    pl_layerfwd_stop(&f);
    assert_false(pl_layerfwd_waiting(&f));
    p.seq = 50;
    assert_true(pl_layerfwd_packet(&f, 20000, &p, &o));
}

/* The choice: the smallest active layer at least the size asked for (each
 * non-zero side), else the largest; by size when all are known, by index
 * otherwise; inactive layers only when none is active. */
static void test_layer_choice(void **state)
{
    (void)state;
    /* Listed large to small. */
    pl_layer_info l[3] = {{true, 1280, 720}, {true, 640, 360}, {true, 320, 180}};
    assert_int_equal(pl_layer_choose(l, 3, 320, 180, PL_LAYER_NONE), 2);
    assert_int_equal(pl_layer_choose(l, 3, 321, 0, PL_LAYER_NONE), 1);
    assert_int_equal(pl_layer_choose(l, 3, 0, 400, PL_LAYER_NONE), 0);
    assert_int_equal(pl_layer_choose(l, 3, 1920, 1080, PL_LAYER_NONE), 0);
    assert_int_equal(pl_layer_choose(l, 3, 0, 0, PL_LAYER_NONE), 0);
    l[0].active = false;
    assert_int_equal(pl_layer_choose(l, 3, 1920, 1080, PL_LAYER_NONE), 1);
    /* Unknown sizes: the offer's order, the last the largest. */
    pl_layer_info u[3] = {{true, 0, 0}, {true, 0, 0}, {true, 0, 0}};
    assert_int_equal(pl_layer_choose(u, 3, 320, 180, PL_LAYER_NONE), 2);
    u[1].width = 640;
    u[1].height = 360;
    assert_int_equal(pl_layer_choose(u, 3, 320, 180, PL_LAYER_NONE), 1);
    pl_layer_info off[2] = {{false, 320, 180}, {false, 640, 360}};
    assert_int_equal(pl_layer_choose(off, 2, 100, 100, PL_LAYER_NONE), 0);
    assert_int_equal(pl_layer_choose(off, 0, 100, 100, PL_LAYER_NONE), PL_LAYER_NONE);
}

/* A bandwidth cap: nothing larger than the capped layer, the smallest
 * when every candidate is larger; a cap past the layers does not limit. */
static void test_layer_choice_cap(void **state)
{
    (void)state;
    pl_layer_info l[3] = {{true, 1280, 720}, {true, 640, 360}, {true, 320, 180}};
    assert_int_equal(pl_layer_choose(l, 3, 1280, 720, 1), 1);
    assert_int_equal(pl_layer_choose(l, 3, 1280, 720, 2), 2);
    assert_int_equal(pl_layer_choose(l, 3, 320, 180, 1), 2);
    assert_int_equal(pl_layer_choose(l, 3, 1280, 720, 3), 0);
    /* The capped layer is not active: the largest active one below it. */
    l[1].active = false;
    assert_int_equal(pl_layer_choose(l, 3, 1280, 720, 1), 2);
    /* By index when sizes are unknown. */
    pl_layer_info u[3] = {{true, 0, 0}, {true, 0, 0}, {true, 0, 0}};
    assert_int_equal(pl_layer_choose(u, 3, 0, 0, 1), 1);
    assert_int_equal(pl_layer_choose(u, 3, 0, 0, 0), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_random_switches_with_reports),
        cmocka_unit_test(test_random_switches_by_wall_clock),
        cmocka_unit_test(test_reports_map_timestamps),
        cmocka_unit_test(test_start_rules),
        cmocka_unit_test(test_video_restarts_at_key),
        cmocka_unit_test(test_layer_choice),
        cmocka_unit_test(test_layer_choice_cap),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
