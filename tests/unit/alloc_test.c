/* The stream allocator on made-up subscribers: audio is never starved,
 * screen share and speaker come first, everyone gets a low layer before
 * anyone a high one, caps hold, a budget that wobbles around a threshold
 * does not make layers flap, a budget that comes back brings layers back
 * after the hold, and the dynacast mask is the union of what subscribers
 * are granted. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "parley/alloc.h"
#include "parley/common.h"

#define MS 1000
#define SEC 1000000
#define K 1000

/* A camera as Chrome sends 720p: 320x180 150k, 640x360 500k, 1280x720
 * 1.5M at full frame rate, three temporal layers (7.5/15/30 fps)
 * cumulative. */
static const uint32_t camera_bps[3][3] = {
    {60 * K, 100 * K, 150 * K},
    {200 * K, 350 * K, 500 * K},
    {600 * K, 1000 * K, 1500 * K},
};

/* A subscriber: its streams, each carrying the previous result. */
typedef struct sub {
    pl_alloc_stream st[PL_ALLOC_MAX_STREAMS];
    size_t n;
    pl_alloc_config cfg;
    pl_alloc_result r;
} sub;

static void sub_init(sub *s)
{
    memset(s, 0, sizeof(*s));
    s->cfg = pl_alloc_config_default();
}

static int add_audio(sub *s, uint32_t bps)
{
    pl_alloc_stream *st = &s->st[s->n];
    st->kind = PL_ALLOC_AUDIO;
    st->bps[0][0] = bps;
    return (int)s->n++;
}

static int add_camera(sub *s, enum pl_alloc_class prio)
{
    pl_alloc_stream *st = &s->st[s->n];
    st->kind = PL_ALLOC_VIDEO;
    st->priority = (uint8_t)prio;
    st->n_spatial = 3;
    st->n_temporal = 3;
    st->max_spatial = 2;
    st->max_temporal = 2;
    for (int l = 0; l < 3; l++)
        for (int t = 0; t < 3; t++)
            st->bps[l][t] = camera_bps[l][t];
    return (int)s->n++;
}

/* Runs the allocator and carries each result into the next run. */
static const pl_alloc_result *run(sub *s, int64_t now, uint64_t budget)
{
    assert_int_equal(pl_alloc_run(&s->cfg, now, budget, s->st, s->n, &s->r), PL_OK);
    /* Video never overdraws the budget, but for streams in their pause
     * grace, within its overdraft; audio alone may. */
    bool graced = false;
    for (size_t i = 0; i < s->n; i++)
        graced |= s->r.streams[i].short_of_budget;
    assert_true(s->r.total_bps <= budget || s->r.total_bps == s->r.audio_bps ||
                (graced && s->r.total_bps * 100 <= budget * (100 + s->cfg.grace_overdraft_pct)));
    for (size_t i = 0; i < s->n; i++)
        s->st[i].prev = s->r.streams[i];
    return &s->r;
}

static const pl_alloc_choice *ch(const sub *s, int i)
{
    return &s->r.streams[i];
}

/* Fails at the caller's line. */
static void assert_layer_at(const sub *s, int i, int spatial, int temporal, const char *file,
                            int line)
{
    _assert_int_equal(ch(s, i)->state, PL_ALLOC_ON, file, line);
    _assert_int_equal(ch(s, i)->spatial, (uintmax_t)spatial, file, line);
    _assert_int_equal(ch(s, i)->temporal, (uintmax_t)temporal, file, line);
}
#define assert_layer(s, i, spatial, temporal)                                                      \
    assert_layer_at(s, i, spatial, temporal, __FILE__, __LINE__)

static void test_audio_never_paused(void **state)
{
    (void)state;
    sub s;
    sub_init(&s);
    int v = add_camera(&s, PL_ALLOC_SPEAKER);
    int a1 = add_audio(&s, 40 * K);
    int a2 = add_audio(&s, 40 * K);
    run(&s, 0, 50 * K); /* less than the audio alone */
    assert_int_equal(ch(&s, a1)->state, PL_ALLOC_ON);
    assert_int_equal(ch(&s, a2)->state, PL_ALLOC_ON);
    assert_int_equal(ch(&s, v)->state, PL_ALLOC_NOFIT);
    assert_int_equal(s.r.audio_bps, 80 * K);
    assert_int_equal(s.r.total_bps, 80 * K);
    run(&s, 100 * MS, 0);
    assert_int_equal(ch(&s, a1)->state, PL_ALLOC_ON);
    assert_int_equal(ch(&s, a2)->state, PL_ALLOC_ON);
    /* Audio the subscriber does not want is not counted. */
    s.st[a2].unwanted = true;
    run(&s, 200 * MS, 0);
    assert_int_equal(ch(&s, a2)->state, PL_ALLOC_UNWANTED);
    assert_int_equal(s.r.total_bps, 40 * K);
}

static void test_screen_share_before_camera(void **state)
{
    (void)state;
    sub s;
    sub_init(&s);
    int cam = add_camera(&s, PL_ALLOC_SPEAKER);
    int scr = add_camera(&s, PL_ALLOC_SCREEN);
    int a = add_audio(&s, 30 * K);
    /* Room for one lowest step besides the audio. */
    run(&s, 0, 30 * K + 100 * K);
    assert_layer(&s, scr, 0, 0);
    assert_int_equal(ch(&s, cam)->state, PL_ALLOC_NOFIT);
    assert_int_equal(ch(&s, a)->state, PL_ALLOC_ON);

    /* With more, the screen share climbs to its top before the camera
     * leaves its lowest step. */
    sub_init(&s);
    cam = add_camera(&s, PL_ALLOC_SPEAKER);
    scr = add_camera(&s, PL_ALLOC_SCREEN);
    run(&s, 0, 1750 * K);
    assert_layer(&s, scr, 2, 2);
    assert_layer(&s, cam, 0, 0);
}

static void test_speaker_before_others(void **state)
{
    (void)state;
    sub s;
    sub_init(&s);
    int o1 = add_camera(&s, PL_ALLOC_OTHER);
    int o2 = add_camera(&s, PL_ALLOC_OTHER);
    int spk = add_camera(&s, PL_ALLOC_SPEAKER);
    run(&s, 0, 140 * K); /* two lowest steps and the margin */
    assert_layer(&s, spk, 0, 0);
    assert_layer(&s, o1, 0, 0);
    assert_int_equal(ch(&s, o2)->state, PL_ALLOC_NOFIT);

    /* Every camera's smallest layer at full frame rate (2 x 150k), then
     * the speaker is served before the others climb: 150k + 1500k and the
     * margin. */
    sub_init(&s);
    o1 = add_camera(&s, PL_ALLOC_OTHER);
    spk = add_camera(&s, PL_ALLOC_SPEAKER);
    run(&s, 0, 1900 * K);
    assert_layer(&s, spk, 2, 2);
    assert_layer(&s, o1, 0, 2);
    /* Short of keeping that, the speaker keeps its layer at half frame
     * rate (a dip's cushion), not the other at a few frames a second. */
    run(&s, 1 * MS, 1200 * K);
    assert_layer(&s, spk, 2, 1);
    assert_layer(&s, o1, 0, 2);
    /* A dip that lasts: a layer down, at full frame rate. */
    run(&s, 1 * MS + PL_ALLOC_HALF_RATE_US, 1200 * K);
    assert_layer(&s, spk, 1, 2);
    assert_layer(&s, o1, 0, 2);
}

static void test_everyone_low_rather_than_one_high(void **state)
{
    (void)state;
    sub s;
    sub_init(&s);
    int c[3];
    for (int i = 0; i < 3; i++)
        c[i] = add_camera(&s, PL_ALLOC_OTHER);
    run(&s, 0, 600 * K);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(ch(&s, c[i])->state, PL_ALLOC_ON);
        assert_int_equal(ch(&s, c[i])->spatial, 0);
    }
    /* Full frame rate for all three: 3 x 150k; the next step (360p)
     * would need 800k plus the margin. */
    for (int i = 0; i < 3; i++)
        assert_layer(&s, c[i], 0, 2);
    assert_int_equal(s.r.total_bps, 450 * K);
    assert_true(s.r.total_bps <= 600 * K);
}

static void test_tiny_budget_pauses_lowest_priority_first(void **state)
{
    (void)state;
    sub s;
    sub_init(&s);
    int scr = add_camera(&s, PL_ALLOC_SCREEN);
    int o1 = add_camera(&s, PL_ALLOC_OTHER);
    int spk = add_camera(&s, PL_ALLOC_SPEAKER);
    int o2 = add_camera(&s, PL_ALLOC_OTHER);
    int a = add_audio(&s, 30 * K);
    run(&s, 0, 300 * K);
    for (int i = 0; i < 4; i++)
        assert_int_equal(ch(&s, i)->state, PL_ALLOC_ON);
    /* Less and less: the last of the others goes first, then the other
     * one, then the speaker; the screen share stays. */
    run(&s, 1 * SEC, 30 * K + 3 * 60 * K);
    assert_int_equal(ch(&s, o2)->state, PL_ALLOC_NOFIT);
    assert_int_equal(ch(&s, o1)->state, PL_ALLOC_ON);
    assert_int_equal(s.r.downgrades, 1);
    run(&s, 2 * SEC, 30 * K + 2 * 60 * K);
    assert_int_equal(ch(&s, o1)->state, PL_ALLOC_NOFIT);
    assert_int_equal(ch(&s, spk)->state, PL_ALLOC_ON);
    run(&s, 3 * SEC, 30 * K + 60 * K);
    assert_int_equal(ch(&s, spk)->state, PL_ALLOC_NOFIT);
    assert_layer(&s, scr, 0, 0);
    run(&s, 4 * SEC, 30 * K);
    assert_int_equal(ch(&s, scr)->state, PL_ALLOC_NOFIT);
    assert_int_equal(ch(&s, a)->state, PL_ALLOC_ON);
    assert_int_equal(s.r.total_bps, 30 * K);
    /* Paused videos want their lowest step back. */
    assert_int_equal(s.r.wants_bps, 4 * 60 * K);
}

/* A dip of the budget below a video's lowest step does not pause it at
 * once: it keeps that step for the grace (2 s) while the whole stays
 * within the overdraft (15%), and carries on when the dip is over. A dip
 * that lasts pauses it when the grace ends, a deep one at once, and audio
 * is never what pays: a budget below the audio graces no video. */
static void test_pause_grace(void **state)
{
    (void)state;
    sub s;
    sub_init(&s);
    int spk = add_camera(&s, PL_ALLOC_SPEAKER);
    int a = add_audio(&s, 40 * K);
    run(&s, 0, 300 * K);
    assert_layer(&s, spk, 0, 2);
    /* 190k: the speaker's 60k lowest step would need 100k with the audio;
     * a 10% short dip is ridden out. */
    run(&s, 1 * SEC, 90 * K);
    assert_layer(&s, spk, 0, 0);
    assert_true(ch(&s, spk)->short_of_budget);
    run(&s, 2 * SEC, 90 * K);
    assert_layer(&s, spk, 0, 0);
    run(&s, 2500 * MS, 200 * K);
    assert_int_equal(ch(&s, spk)->state, PL_ALLOC_ON);
    assert_false(ch(&s, spk)->short_of_budget);
    /* A shortfall that lasts: paused when the grace is over. */
    run(&s, 4 * SEC, 90 * K);
    assert_true(ch(&s, spk)->short_of_budget);
    run(&s, 5 * SEC, 90 * K);
    run(&s, 5900 * MS, 90 * K);
    assert_int_equal(ch(&s, spk)->state, PL_ALLOC_ON);
    run(&s, 6 * SEC, 90 * K);
    assert_int_equal(ch(&s, spk)->state, PL_ALLOC_NOFIT);
    assert_false(ch(&s, spk)->short_of_budget);
    /* A paused stream is not brought back by the grace: it needs its step
     * with the margin. */
    run(&s, 7 * SEC, 95 * K);
    assert_int_equal(ch(&s, spk)->state, PL_ALLOC_NOFIT);
    run(&s, 20 * SEC, 300 * K);
    assert_int_equal(ch(&s, spk)->state, PL_ALLOC_ON);
    /* A deep dip (100k needed, 80k there: beyond 15%) pauses at once. */
    run(&s, 21 * SEC, 80 * K);
    assert_int_equal(ch(&s, spk)->state, PL_ALLOC_NOFIT);
    run(&s, 50 * SEC, 300 * K); /* after its hold, doubled for a flap */
    assert_int_equal(ch(&s, spk)->state, PL_ALLOC_ON);
    /* Less than the audio: no video kept. */
    run(&s, 51 * SEC, 39 * K);
    assert_int_equal(ch(&s, spk)->state, PL_ALLOC_NOFIT);
    assert_int_equal(ch(&s, a)->state, PL_ALLOC_ON);
    /* Without a grace, the first dip pauses. */
    s.cfg.pause_grace_us = 0;
    run(&s, 90 * SEC, 300 * K);
    assert_int_equal(ch(&s, spk)->state, PL_ALLOC_ON);
    run(&s, 91 * SEC, 90 * K);
    assert_int_equal(ch(&s, spk)->state, PL_ALLOC_NOFIT);
}

/* A spatial step up is taken only once it has fitted, with 25% of
 * headroom, for 3 s: a budget that reaches it for a moment (a probe's
 * spike) costs no key frame; one that stays brings it, and one far beyond
 * it (a link that recovered) brings it at once. Temporal steps are taken
 * at once. */
static void test_spatial_up_waits(void **state)
{
    (void)state;
    sub s;
    sub_init(&s);
    int v = add_camera(&s, PL_ALLOC_OTHER);
    run(&s, 0, 200 * K);
    assert_layer(&s, v, 0, 2);
    /* 700k for 2 s: h (500k) would fit with 25%, but not for long
     * enough. */
    run(&s, 1 * SEC, 700 * K);
    assert_layer(&s, v, 0, 2);
    assert_true(ch(&s, v)->up_fits);
    run(&s, 3 * SEC, 700 * K);
    assert_layer(&s, v, 0, 2);
    run(&s, 3250 * MS, 200 * K);
    assert_layer(&s, v, 0, 2);
    assert_false(ch(&s, v)->up_fits);
    /* 600k: h would fit with 10%, not with 25%. */
    run(&s, 3500 * MS, 600 * K);
    assert_false(ch(&s, v)->up_fits);
    run(&s, 7 * SEC, 600 * K);
    assert_layer(&s, v, 0, 2);
    /* It stays at 700k: after 3 s, h. */
    run(&s, 8 * SEC, 700 * K);
    run(&s, 10 * SEC, 700 * K);
    assert_layer(&s, v, 0, 2);
    run(&s, 11 * SEC, 700 * K);
    assert_layer(&s, v, 1, 2);
    assert_false(ch(&s, v)->up_fits);
    /* Down at once, and the temporal steps at once too. */
    run(&s, 12 * SEC, 130 * K);
    assert_layer(&s, v, 0, 1);
    s.st[v].prev.hold_until_us = 0;
    run(&s, 13 * SEC, 200 * K);
    assert_layer(&s, v, 0, 2);
    /* Far beyond (800k: the allocation after the step fits one and a
     * half times over): at once. */
    s.st[v].prev.hold_until_us = 0;
    run(&s, 14 * SEC, 800 * K);
    assert_layer(&s, v, 1, 2);
}

static void test_tile_caps(void **state)
{
    (void)state;
    sub s;
    sub_init(&s);
    int big = add_camera(&s, PL_ALLOC_OTHER);
    int mid = add_camera(&s, PL_ALLOC_OTHER);
    int small = add_camera(&s, PL_ALLOC_OTHER);
    int slow = add_camera(&s, PL_ALLOC_OTHER);
    s.st[mid].max_spatial = 1;
    s.st[small].max_spatial = 0;
    s.st[slow].max_temporal = 0; /* one temporal layer asked for */
    run(&s, 0, 20 * 1000 * K);
    assert_layer(&s, big, 2, 2);
    assert_layer(&s, mid, 1, 2);
    assert_layer(&s, small, 0, 2);
    assert_layer(&s, slow, 2, 0);
    /* At their caps they want no more. */
    assert_int_equal(s.r.wants_bps, 0);
    assert_int_equal(s.r.probe_bps, 0);

    /* The tile size picks the smallest layer at least as big. */
    const uint16_t w[3] = {320, 640, 1280}, h[3] = {180, 360, 720};
    assert_int_equal(pl_alloc_tile_cap(w, h, 3, 0, 0), 2);
    assert_int_equal(pl_alloc_tile_cap(w, h, 3, 320, 180), 0);
    assert_int_equal(pl_alloc_tile_cap(w, h, 3, 400, 0), 1);
    assert_int_equal(pl_alloc_tile_cap(w, h, 3, 0, 360), 1);
    assert_int_equal(pl_alloc_tile_cap(w, h, 3, 641, 200), 2);
    assert_int_equal(pl_alloc_tile_cap(w, h, 3, 1920, 1080), 2); /* the largest there is */
    assert_int_equal(pl_alloc_tile_cap(w, h, 2, 1920, 1080), 1);
    assert_int_equal(pl_alloc_tile_cap(w, h, 0, 100, 100), 0);
}

/* How often a stream's layer changed over a run. */
static unsigned changes(const pl_alloc_choice *a, const pl_alloc_choice *b)
{
    return a->state != b->state || a->spatial != b->spatial || a->temporal != b->temporal;
}

/* Three cameras and a budget that swings by `pct` percent either side of
 * the point where the last of them reaches 720p, every `half_period`, for
 * a simulated minute allocated every 100 ms. Returns the layer switches,
 * and in *late those of the last half minute. */
static unsigned oscillate(const pl_alloc_config *cfg, int64_t half_period, unsigned pct,
                          unsigned *late)
{
    sub s;
    sub_init(&s);
    s.cfg = *cfg;
    for (int i = 0; i < 3; i++)
        add_camera(&s, PL_ALLOC_OTHER);
    const uint64_t threshold = 3 * 1500 * K;
    const uint64_t high = threshold * (100 + pct) / 100, low = threshold * (100 - pct) / 100;
    run(&s, 0, threshold * 2);
    pl_alloc_choice last[3];
    memcpy(last, s.r.streams, sizeof(last));
    unsigned n = 0;
    *late = 0;
    for (int64_t now = 100 * MS; now <= 60 * SEC; now += 100 * MS) {
        run(&s, now, (now / half_period) % 2 ? low : high);
        for (int i = 0; i < 3; i++) {
            unsigned c = changes(&last[i], &s.r.streams[i]);
            n += c;
            if (now > 30 * SEC)
                *late += c;
            last[i] = s.r.streams[i];
        }
    }
    return n;
}

static void test_hysteresis_prevents_flapping(void **state)
{
    (void)state;
    pl_alloc_config none = {.hold_us = 0, .hold_max_us = 0, .flap_window_us = 0, .margin_pct = 0};
    pl_alloc_config def = pl_alloc_config_default();
    const int64_t periods[] = {500 * MS, 1 * SEC, 2 * SEC, 4 * SEC};
    for (size_t i = 0; i < sizeof(periods) / sizeof(periods[0]); i++) {
        unsigned late_without, late_with, late_small;
        unsigned without = oscillate(&none, periods[i], 15, &late_without);
        unsigned with = oscillate(&def, periods[i], 15, &late_with);
        unsigned small = oscillate(&def, periods[i], 5, &late_small);
        print_message("budget ±15%% every %lld ms: %u switches in a minute without hysteresis "
                      "(%u in the last 30 s), %u with (%u); ±5%%: %u (%u)\n",
                      (long long)(periods[i] / MS), without, late_without, with, late_with, small,
                      late_small);
        /* Without, every swing moves layers. */
        assert_true(without >= (unsigned)(60 * SEC / periods[i]) - 1);
        /* With, the two cameras that lose a step move back up after 3,
         * 6, 12, then 24 s: at most 7 moves each in the minute, one
         * down-and-up in its last half. */
        assert_true(with <= 14);
        assert_true(late_with <= 4);
        /* Within the margin: one move down, then none. */
        assert_true(small <= 2);
    }
}

static void test_recovery_after_hold(void **state)
{
    (void)state;
    sub s;
    sub_init(&s);
    s.cfg.spatial_up_us = 0; /* steps up at once: not what this is about */
    int c = add_camera(&s, PL_ALLOC_SPEAKER);
    run(&s, 0, 2000 * K);
    assert_layer(&s, c, 2, 2);
    assert_int_equal(s.r.upgrades, 1);
    /* The budget collapses, long after the climb: down at once, and held. */
    run(&s, 40 * SEC, 400 * K);
    assert_layer(&s, c, 0, 2);
    assert_int_equal(s.r.downgrades, 1);
    assert_int_equal(ch(&s, c)->hold_until_us, 40 * SEC + PL_ALLOC_HOLD_US);
    /* It comes back: nothing above the kept layer before the hold ends. */
    int64_t now = 40 * SEC;
    for (now += 100 * MS; now < 40 * SEC + PL_ALLOC_HOLD_US; now += 100 * MS) {
        run(&s, now, 2000 * K);
        assert_layer(&s, c, 0, 2);
    }
    run(&s, now, 2000 * K);
    assert_layer(&s, c, 2, 2);
    assert_int_equal(s.r.upgrades, 1);

    /* Down again soon after: held twice as long. */
    int64_t down = now + 2 * SEC;
    run(&s, down, 400 * K);
    assert_layer(&s, c, 0, 2);
    assert_int_equal(ch(&s, c)->hold_until_us, down + 2 * PL_ALLOC_HOLD_US);
    run(&s, down + PL_ALLOC_HOLD_US, 2000 * K);
    assert_layer(&s, c, 0, 2);
    run(&s, down + 2 * PL_ALLOC_HOLD_US, 2000 * K);
    assert_layer(&s, c, 2, 2);
    /* Down long after: the hold is back to its start. */
    down += 60 * SEC;
    run(&s, down, 400 * K);
    assert_int_equal(ch(&s, c)->hold_until_us, down + PL_ALLOC_HOLD_US);

    /* A paused stream resumes after the hold too, and needs the margin. */
    run(&s, down + 1 * SEC, 10 * K);
    assert_int_equal(ch(&s, c)->state, PL_ALLOC_NOFIT);
    run(&s, down + 1 * SEC + PL_ALLOC_HOLD_US, 65 * K); /* 60k + 10% does not fit */
    assert_int_equal(ch(&s, c)->state, PL_ALLOC_NOFIT);
    run(&s, down + 1 * SEC + PL_ALLOC_HOLD_US, 66 * K);
    assert_layer(&s, c, 0, 0);
}

/* The smallest layer's frame rate: a step down of it is held for the
 * first hold only, however soon after it came back; a larger layer's
 * step down soon after it came up is held twice as long
 * (test_recovery_after_hold). */
static void test_lowest_layer_rate_held_briefly(void **state)
{
    (void)state;
    sub s;
    sub_init(&s);
    int c = add_camera(&s, PL_ALLOC_OTHER);
    s.st[c].max_spatial = 0;
    run(&s, 0, 200 * K);
    assert_layer(&s, c, 0, 2);
    run(&s, 40 * SEC, 120 * K);
    assert_layer(&s, c, 0, 1);
    assert_int_equal(ch(&s, c)->hold_until_us, 40 * SEC + PL_ALLOC_HOLD_US);
    run(&s, 40 * SEC + PL_ALLOC_HOLD_US, 200 * K);
    assert_layer(&s, c, 0, 2);
    /* Down again 2 s after it came back: the same hold, not twice it. */
    int64_t down = 40 * SEC + PL_ALLOC_HOLD_US + 2 * SEC;
    run(&s, down, 120 * K);
    assert_layer(&s, c, 0, 1);
    assert_int_equal(ch(&s, c)->hold_until_us, down + PL_ALLOC_HOLD_US);
    run(&s, down + PL_ALLOC_HOLD_US, 200 * K);
    assert_layer(&s, c, 0, 2);
    assert_int_equal(s.r.downgrades + s.r.upgrades, 1);
}

/* A camera that cannot keep a larger layer's full frame rate keeps the
 * layer at half (no key frame) for a dip, back to full rate after the
 * hold; a dip that lasts takes it down a layer; and no camera climbs to a
 * half frame rate step. */
static void test_half_rate_cushion(void **state)
{
    (void)state;
    sub s;
    sub_init(&s);
    s.cfg.spatial_up_us = 0; /* steps up at once: not what this is about */
    int c = add_camera(&s, PL_ALLOC_OTHER);
    s.st[c].max_spatial = 1;
    run(&s, 0, 600 * K);
    assert_layer(&s, c, 1, 2);
    assert_int_equal(ch(&s, c)->half_since_us, 0);
    /* A dip, long after the climb: 360p at half frame rate (350k), not
     * 180p, and held for the first hold. */
    run(&s, 40 * SEC, 400 * K);
    assert_layer(&s, c, 1, 1);
    assert_int_equal(ch(&s, c)->half_since_us, 40 * SEC);
    assert_int_equal(ch(&s, c)->hold_until_us, 40 * SEC + PL_ALLOC_HOLD_US);
    /* Over: back to full rate once the hold is, without a key frame. */
    run(&s, 41 * SEC, 600 * K);
    assert_layer(&s, c, 1, 1);
    run(&s, 40 * SEC + PL_ALLOC_HOLD_US, 600 * K);
    assert_layer(&s, c, 1, 2);
    assert_int_equal(ch(&s, c)->half_since_us, 0);
    /* A dip that lasts: down a layer after half_rate_us. */
    run(&s, 50 * SEC, 400 * K);
    assert_layer(&s, c, 1, 1);
    run(&s, 50 * SEC + PL_ALLOC_HALF_RATE_US - 1, 400 * K);
    assert_layer(&s, c, 1, 1);
    run(&s, 50 * SEC + PL_ALLOC_HALF_RATE_US, 400 * K);
    assert_layer(&s, c, 0, 2);
    /* From there, a budget that fits the half step but not the full one
     * leaves it on the smaller layer at full frame rate. */
    run(&s, 100 * SEC, 450 * K);
    assert_layer(&s, c, 0, 2);
    run(&s, 101 * SEC, 700 * K); /* with the spatial margin */
    assert_layer(&s, c, 1, 2);
    /* Without the cushion, a dip goes down a layer at once. */
    s.cfg.half_rate_us = 0;
    run(&s, 102 * SEC, 400 * K);
    assert_layer(&s, c, 0, 2);
}

static void test_upgrade_needs_margin_keep_does_not(void **state)
{
    (void)state;
    sub s;
    sub_init(&s);
    int c = add_camera(&s, PL_ALLOC_OTHER);
    s.cfg.spatial_up_us = 0; /* steps up at once: not what this is about */
    s.st[c].max_spatial = 0;
    /* (0,2) is 150k: 160k is not 10% above it. */
    run(&s, 0, 160 * K);
    assert_layer(&s, c, 0, 1);
    run(&s, 100 * MS, 165 * K);
    assert_layer(&s, c, 0, 2);
    /* Kept down to exactly what it needs. */
    run(&s, 200 * MS, 150 * K);
    assert_layer(&s, c, 0, 2);
    run(&s, 300 * MS, 149 * K);
    assert_layer(&s, c, 0, 1);
}

static void test_kept_layer_not_given_to_a_peer(void **state)
{
    (void)state;
    sub s;
    sub_init(&s);
    s.cfg.spatial_up_us = 0; /* steps up at once: not what this is about */
    int a = add_camera(&s, PL_ALLOC_OTHER);
    int b = add_camera(&s, PL_ALLOC_OTHER);
    s.st[a].max_spatial = 0; /* a small tile at first */
    run(&s, 0, 850 * K);
    assert_layer(&s, a, 0, 2);
    assert_layer(&s, b, 1, 2);
    /* a's tile grows: it may climb, but not at b's expense. */
    s.st[a].max_spatial = 2;
    run(&s, 10 * SEC, 850 * K);
    assert_layer(&s, a, 0, 2);
    assert_layer(&s, b, 1, 2);
    assert_int_equal(s.r.downgrades, 0);
    /* a becomes the speaker: now b gives way (to its half frame rate, then
     * its smallest layer), and a climbs to the larger one: 500k + 350k,
     * then 500k + 150k (650k, and the spatial margin). */
    s.st[a].priority = PL_ALLOC_SPEAKER;
    run(&s, 11 * SEC, 850 * K);
    assert_layer(&s, a, 1, 2);
    assert_layer(&s, b, 1, 1);
    assert_int_equal(s.r.downgrades, 1);
    run(&s, 11 * SEC + PL_ALLOC_HALF_RATE_US, 850 * K);
    assert_layer(&s, a, 1, 2);
    assert_layer(&s, b, 0, 2);
}

static void test_wants_next_step(void **state)
{
    (void)state;
    sub s;
    sub_init(&s);
    s.cfg.spatial_up_us = 0; /* steps up at once: not what this is about */
    int a = add_audio(&s, 30 * K);
    int c1 = add_camera(&s, PL_ALLOC_SPEAKER);
    int c2 = add_camera(&s, PL_ALLOC_OTHER);
    run(&s, 0, 320 * K);
    assert_int_equal(ch(&s, a)->state, PL_ALLOC_ON);
    assert_layer(&s, c1, 0, 2);
    assert_layer(&s, c2, 0, 1);
    /* c1's next is (1,2), 500k - 150k; c2's is (0,2), 150k - 100k. */
    assert_int_equal(ch(&s, c1)->next_bps, 350 * K);
    assert_int_equal(ch(&s, c2)->next_bps, 50 * K);
    assert_int_equal(s.r.wants_bps, 400 * K);
    assert_int_equal(s.r.total_bps, 280 * K);
    /* c1's next step is to a larger layer: the probe target carries the
     * spatial margin (25%), not the 10% of temporal steps. */
    assert_int_equal(s.r.probe_bps, (280 + 400) * K * 125 / 100);
    /* A budget at the probe target takes both steps. */
    run(&s, 100 * MS, s.r.probe_bps);
    assert_layer(&s, c1, 1, 2);
    assert_layer(&s, c2, 0, 2);
}

static void test_screen_share_sharpness_first(void **state)
{
    (void)state;
    sub s;
    sub_init(&s);
    int scr = add_camera(&s, PL_ALLOC_SCREEN);
    run(&s, 0, 700 * K);
    /* 720p at 7.5 fps (600k) rather than 360p at 30 (500k). */
    assert_layer(&s, scr, 2, 0);
    assert_int_equal(ch(&s, scr)->next_bps, 400 * K);
}

static void test_suspended_and_off_layers(void **state)
{
    (void)state;
    sub s;
    sub_init(&s);
    s.cfg.spatial_up_us = 0; /* steps up at once: not what this is about */
    int c = add_camera(&s, PL_ALLOC_OTHER);
    s.st[c].layer[2] = PL_ALLOC_LAYER_SUSPENDED;
    s.st[c].layer[1] = PL_ALLOC_LAYER_SUSPENDED;
    run(&s, 0, 2000 * K);
    /* Granted (and counted) 720p; forwarding 180p until it resumes. */
    assert_layer(&s, c, 2, 2);
    assert_int_equal(ch(&s, c)->bps, 1500 * K);
    assert_true(ch(&s, c)->forward);
    assert_int_equal(ch(&s, c)->fwd_spatial, 0);
    assert_int_equal(ch(&s, c)->fwd_temporal, 2);
    s.st[c].layer[2] = PL_ALLOC_LAYER_ACTIVE;
    run(&s, 100 * MS, 2000 * K);
    assert_int_equal(ch(&s, c)->fwd_spatial, 2);

    /* A layer the publisher does not send is never chosen, and that is no
     * downgrade. */
    s.st[c].layer[2] = PL_ALLOC_LAYER_OFF;
    s.st[c].layer[1] = PL_ALLOC_LAYER_ACTIVE;
    run(&s, 200 * MS, 2000 * K);
    assert_layer(&s, c, 1, 2);
    assert_int_equal(s.r.downgrades, 0);
    assert_int_equal(s.r.wants_bps, 0);
    s.st[c].layer[2] = PL_ALLOC_LAYER_ACTIVE;
    run(&s, 300 * MS, 2000 * K);
    assert_layer(&s, c, 2, 2);

    /* No layer with a known rate: paused, and said why. */
    memset(s.st[c].bps, 0, sizeof(s.st[c].bps));
    run(&s, 400 * MS, 2000 * K);
    assert_int_equal(ch(&s, c)->state, PL_ALLOC_NOLAYER);
    /* Unwanted. */
    s.st[c].unwanted = true;
    run(&s, 500 * MS, 2000 * K);
    assert_int_equal(ch(&s, c)->state, PL_ALLOC_UNWANTED);
    assert_int_equal(s.r.total_bps, 0);
    assert_int_equal(s.r.wants_bps, 0);
}

static void test_dynacast_layers_needed(void **state)
{
    (void)state;
    /* One publisher's camera seen by four subscribers. */
    sub subs[4];
    const uint64_t budgets[4] = {2000 * K, 200 * K, 10 * K, 2000 * K};
    const pl_alloc_choice *cs[5];
    for (int i = 0; i < 4; i++) {
        sub_init(&subs[i]);
        add_camera(&subs[i], PL_ALLOC_OTHER);
    }
    subs[3].st[0].max_spatial = 1;
    for (int i = 0; i < 4; i++) {
        run(&subs[i], 0, budgets[i]);
        cs[i] = &subs[i].r.streams[0];
    }
    cs[4] = NULL;
    assert_int_equal(cs[0]->spatial, 2);
    assert_int_equal(cs[1]->spatial, 0);
    assert_int_equal(cs[2]->state, PL_ALLOC_NOFIT);
    assert_int_equal(cs[3]->spatial, 1);
    assert_int_equal(pl_alloc_layers_needed(cs, 5), 0x7);
    assert_int_equal(pl_alloc_layers_needed(cs + 1, 2), 0x1);
    assert_int_equal(pl_alloc_layers_needed(cs + 2, 1), 0);
    assert_int_equal(pl_alloc_layers_needed(cs, 0), 0);
    /* Subscriber 0 alone: 720p only. Its tile shrinks to 360p, which is
     * suspended, as is 180p: 360p is needed, with nothing to forward
     * meanwhile (the route keeps forwarding 720p until the switch, which
     * the caller adds to the mask). */
    assert_int_equal(pl_alloc_layers_needed(cs, 1), 0x4);
    subs[0].st[0].layer[1] = PL_ALLOC_LAYER_SUSPENDED;
    subs[0].st[0].layer[0] = PL_ALLOC_LAYER_SUSPENDED;
    subs[0].st[0].max_spatial = 1;
    run(&subs[0], 100 * MS, 2000 * K);
    assert_int_equal(cs[0]->spatial, 1);
    assert_false(cs[0]->forward); /* nothing active at or below 360p */
    assert_int_equal(pl_alloc_layers_needed(cs, 1), 0x2);
    subs[0].st[0].layer[0] = PL_ALLOC_LAYER_ACTIVE;
    run(&subs[0], 200 * MS, 2000 * K);
    assert_int_equal(pl_alloc_layers_needed(cs, 1), 0x3);
}

static void test_invalid_input_and_determinism(void **state)
{
    (void)state;
    sub s;
    sub_init(&s);
    add_camera(&s, PL_ALLOC_OTHER);
    pl_alloc_result r;
    s.st[0].n_spatial = 0;
    assert_int_equal(pl_alloc_run(NULL, 0, 1000 * K, s.st, 1, &r), PL_EINVAL);
    assert_int_equal(r.n_streams, 0);
    s.st[0].n_spatial = 4;
    assert_int_equal(pl_alloc_run(NULL, 0, 1000 * K, s.st, 1, &r), PL_EINVAL);
    s.st[0].n_spatial = 3;
    s.st[0].n_temporal = 5;
    assert_int_equal(pl_alloc_run(NULL, 0, 1000 * K, s.st, 1, &r), PL_EINVAL);
    s.st[0].n_temporal = 3;
    s.st[0].priority = 7;
    assert_int_equal(pl_alloc_run(NULL, 0, 1000 * K, s.st, 1, &r), PL_EINVAL);
    s.st[0].priority = PL_ALLOC_OTHER;
    assert_int_equal(pl_alloc_run(NULL, 0, 1000 * K, s.st, PL_ALLOC_MAX_STREAMS + 1, &r),
                     PL_EINVAL);
    assert_int_equal(pl_alloc_run(NULL, 0, 1000 * K, NULL, 0, &r), PL_OK);
    assert_int_equal(r.total_bps, 0);

    /* Same input, same output; huge budgets are fine. */
    for (int i = 1; i < 8; i++)
        add_camera(&s, (enum pl_alloc_class)(i % 3));
    add_audio(&s, 30 * K);
    pl_alloc_result r2;
    assert_int_equal(pl_alloc_run(NULL, 5 * SEC, 2345 * K, s.st, s.n, &r), PL_OK);
    assert_int_equal(pl_alloc_run(NULL, 5 * SEC, 2345 * K, s.st, s.n, &r2), PL_OK);
    assert_memory_equal(&r, &r2, sizeof(r));
    assert_int_equal(pl_alloc_run(NULL, 0, UINT64_MAX, s.st, s.n, &r), PL_OK);
    for (size_t i = 0; i + 1 < s.n; i++)
        assert_int_equal(r.streams[i].spatial, 2);
    assert_string_equal(pl_alloc_state_name(PL_ALLOC_NOFIT), "paused (does not fit)");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_audio_never_paused),
        cmocka_unit_test(test_screen_share_before_camera),
        cmocka_unit_test(test_speaker_before_others),
        cmocka_unit_test(test_everyone_low_rather_than_one_high),
        cmocka_unit_test(test_tiny_budget_pauses_lowest_priority_first),
        cmocka_unit_test(test_pause_grace),
        cmocka_unit_test(test_spatial_up_waits),
        cmocka_unit_test(test_tile_caps),
        cmocka_unit_test(test_hysteresis_prevents_flapping),
        cmocka_unit_test(test_recovery_after_hold),
        cmocka_unit_test(test_lowest_layer_rate_held_briefly),
        cmocka_unit_test(test_half_rate_cushion),
        cmocka_unit_test(test_upgrade_needs_margin_keep_does_not),
        cmocka_unit_test(test_kept_layer_not_given_to_a_peer),
        cmocka_unit_test(test_wants_next_step),
        cmocka_unit_test(test_screen_share_sharpness_first),
        cmocka_unit_test(test_suspended_and_off_layers),
        cmocka_unit_test(test_dynacast_layers_needed),
        cmocka_unit_test(test_invalid_input_and_determinism),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
