/* Dynacast on the router's virtual clock: a simulcast publisher (q
 * 320x180, h 640x360, f 1280x720, SSRCs learned from the RID extension)
 * that does what the router asks in PL_ROUTER_OUT_PUBLISHER_LAYERS, as
 * the web client does with setParameters: a layer switched off sends
 * nothing, one switched on starts again with a key frame after the
 * client's reaction time. Subscribers' tiles decide what is needed. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "parley/buf.h"
#include "parley/router.h"
#include "parley/rtcp.h"
#include "parley/rtp.h"
#include "parley/vp8.h"

#define PUB 1
#define SUB 10
#define OUT_SSRC 0x5000
#define MID_EXT 4
#define RID_EXT 10
#define FRAME_US 33333
/* What a browser takes from the event to its first packet of a layer
 * switched on: signaling, setParameters, the encoder's key frame. */
#define CLIENT_US 150000

enum { Q, H, F };
static const char *const rids[3] = {"q", "h", "f"};
static const uint16_t widths[3] = {320, 640, 1280};
static const uint16_t heights[3] = {180, 360, 720};
/* Bytes of a frame (one packet) of each layer: about 90, 230 and 370
 * kbit/s at 30 fps. */
static const uint16_t payloads[3] = {300, 900, 1450};

typedef struct fx {
    uint64_t seed;
    pl_env env;
    pl_router *r;
    int64_t now;
    long instant;
    uint16_t seq[3], pid[3];
    /* The publisher: what it sends now, and layers it was told to start
     * and will at `start_at` (with a key frame). */
    unsigned sending, starting;
    int64_t start_at;
    unsigned pli;    /* layers asked for a key frame */
    unsigned refuse; /* layers it does not send, whatever it is told */
    /* What the router said. */
    unsigned told;
    int64_t told_at[16];
    unsigned told_mask[16];
    size_t n_told;
    /* Media per subscriber: the layer of each packet and whether it
     * started a key frame, in order. */
    uint8_t layer[4][4096];
    bool key[4][4096];
    int64_t at[4][4096];
    size_t n_media[4];
} fx;

static int setup(void **state)
{
    fx *f = calloc(1, sizeof(*f));
    f->env = pl_env_seeded(&f->seed, 11);
    f->r = pl_router_create(&f->env);
    f->sending = 7;
    for (int l = 0; l < 3; l++)
        f->seq[l] = (uint16_t)(1000 * l + 7);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fx *f = *state;
    pl_router_destroy(f->r);
    free(f);
    return 0;
}

static void drain(fx *f)
{
    pl_router_output o;
    uint8_t buf[1600];
    for (;;) {
        int rc = pl_router_poll_output(f->r, f->now, &o, buf, sizeof(buf));
        if (rc == PL_EAGAIN)
            break;
        assert_int_equal(rc, PL_OK);
        if (o.kind == PL_ROUTER_OUT_PUBLISHER_LAYERS) {
            assert_int_equal(o.transport, PUB);
            assert_string_equal(o.mid, "1");
            assert_true(f->n_told < 16);
            f->told_at[f->n_told] = f->now;
            f->told_mask[f->n_told++] = o.layers;
            unsigned on = o.layers & ~f->sending & ~f->starting;
            f->sending &= o.layers;
            f->starting = (f->starting & o.layers) | on;
            if (on)
                f->start_at = f->now + CLIENT_US;
            f->told = o.layers;
            if (getenv("DYNACAST_DUMP"))
                printf("# %lld ms: layers 0x%x\n", (long long)(f->now / 1000), o.layers);
            continue;
        }
        if (o.kind == PL_ROUTER_OUT_RTCP && o.reason == PL_ROUTER_KEYFRAME) {
            pl_rtcp_iter it;
            pl_rtcp_packet p;
            pl_rtcp_iter_init(&it, buf, o.len);
            while (pl_rtcp_next(&it, &p) == 1)
                if (p.kind == PL_RTCP_K_PLI && p.u.pli.media_ssrc - 0xa0u < 3)
                    f->pli |= 1u << (p.u.pli.media_ssrc - 0xa0u);
            continue;
        }
        if (o.kind != PL_ROUTER_OUT_RTP || o.reason != PL_ROUTER_MEDIA)
            continue;
        pl_rtp_header h;
        assert_int_equal(pl_rtp_parse(buf, o.len, &h), PL_OK);
        size_t s = o.transport - SUB;
        assert_true(s < 4 && f->n_media[s] < 4096);
        pl_vp8_desc d;
        assert_int_equal(pl_vp8_parse_descriptor(buf + h.header_len, h.payload_len, &d), PL_OK);
        f->layer[s][f->n_media[s]] = buf[h.header_len + d.header_len + 10];
        f->key[s][f->n_media[s]] = d.keyframe && d.start;
        f->at[s][f->n_media[s]++] = f->now;
    }
}

/* One packet (a whole frame) of a layer: MID and RID, a VP8 descriptor,
 * a key frame header with the layer's size, the layer's index after it. */
static void frame(fx *f, int l, bool key)
{
    uint8_t buf[1500];
    pl_rtp_ext_spec ext[2] = {{.id = MID_EXT, .data = "1", .len = 1},
                              {.id = RID_EXT, .data = rids[l], .len = 1}};
    pl_wbuf w = pl_wbuf_make(buf, sizeof(buf));
    pl_rtp_header h = {.payload_type = 96,
                       .seq = f->seq[l]++,
                       .timestamp = (uint32_t)f->instant * 3000u,
                       .ssrc = 0xa0u + (uint32_t)l,
                       .marker = true};
    pl_rtp_write_header(&w, &h, ext, 2);
    f->pid[l] = (uint16_t)((f->pid[l] + 1) & 0x7fff);
    uint8_t d[4] = {0x90, 0x80, (uint8_t)(0x80 | f->pid[l] >> 8), (uint8_t)f->pid[l]};
    pl_wbuf_bytes(&w, d, sizeof(d));
    uint8_t v[10] = {0x01};
    if (key) {
        const uint8_t kf[10] = {0x10,
                                0x02,
                                0x00,
                                0x9d,
                                0x01,
                                0x2a,
                                (uint8_t)widths[l],
                                (uint8_t)(widths[l] >> 8),
                                (uint8_t)heights[l],
                                (uint8_t)(heights[l] >> 8)};
        memcpy(v, kf, sizeof(v));
    }
    pl_wbuf_bytes(&w, v, sizeof(v));
    pl_wbuf_u8(&w, (uint8_t)l);
    pl_wbuf_zeros(&w, payloads[l]);
    assert_true(pl_wbuf_ok(&w));
    pl_router_handle_rtp(f->r, f->now, PUB, buf, w.len);
    drain(f);
}

/* One capture instant of the layers the publisher sends (layers starting
 * again begin with a key frame, as do layers a PLI asked; every layer has
 * one each 3 s), then the router's timers up to the next. */
static void instant(fx *f)
{
    unsigned key = f->instant % 90 == 0 ? 7u : f->pli;
    f->pli = 0;
    if (f->starting && f->now >= f->start_at) {
        key |= f->starting;
        f->sending |= f->starting;
        f->starting = 0;
    }
    for (int l = F; l >= Q; l--)
        if ((f->sending & ~f->refuse) >> l & 1)
            frame(f, l, key >> l & 1);
    f->instant++;
    int64_t until = f->instant * FRAME_US;
    while (pl_router_next_timeout(f->r) <= until) {
        int64_t t = pl_router_next_timeout(f->r);
        if (t > f->now)
            f->now = t;
        pl_router_handle_timeout(f->r, f->now);
        drain(f);
    }
    f->now = until;
}

static void run_until(fx *f, int64_t t)
{
    while (f->now < t)
        instant(f);
}

static pl_route route(uint32_t ssrc, uint16_t w, uint16_t h)
{
    return (pl_route){.publisher = PUB,
                      .mid = "1",
                      .out_ssrc = ssrc,
                      .out_pt = 100,
                      .max_width = w,
                      .max_height = h};
}

static void set_route(fx *f, size_t s, pl_route rt)
{
    assert_int_equal(pl_router_set_routes(f->r, SUB + s, &rt, 1, f->now), PL_OK);
    drain(f);
}

static void meeting(fx *f, const pl_route *routes, size_t n)
{
    assert_int_equal(pl_router_add_transport(f->r, PUB), PL_OK);
    pl_track t = {.mid = "1",
                  .video = true,
                  .pt = 96,
                  .mid_ext = MID_EXT,
                  .rid_ext = RID_EXT,
                  .n_layers = 3,
                  .dynacast = true};
    for (int l = 0; l < 3; l++)
        strcpy(t.layers[l].rid, rids[l]);
    assert_int_equal(pl_router_set_tracks(f->r, PUB, &t, 1), PL_OK);
    pl_router_set_connected(f->r, PUB, 0);
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(pl_router_add_transport(f->r, SUB + i), PL_OK);
        set_route(f, i, routes[i]);
        pl_router_set_connected(f->r, SUB + i, 0);
    }
    drain(f);
}

static size_t last_media(const fx *f, size_t s)
{
    assert_true(f->n_media[s] > 0);
    return f->n_media[s] - 1;
}

/* Two small tiles: h and f are needed by nobody and go off at the
 * publisher after PL_ROUTER_DYNACAST_OFF_US, not before; q stays. One tile
 * grows to 1280x720: f is asked for in the same call, comes back with a
 * key frame, and the subscriber switches to it on that key frame,
 * having been sent q meanwhile without a gap. */
static void test_unwatched_layers_off_and_back(void **state)
{
    fx *f = *state;
    pl_route rs[2] = {route(OUT_SSRC, 320, 180), route(OUT_SSRC + 16, 320, 180)};
    meeting(f, rs, 2);
    run_until(f, PL_ROUTER_DYNACAST_OFF_US - 100000);
    assert_int_equal(f->n_told, 0);
    run_until(f, PL_ROUTER_DYNACAST_OFF_US + 1000000);
    /* h and f off (in one step, or two when a layer was still a target
     * at the start, before the layers' sizes were known). */
    size_t told = f->n_told;
    assert_true(told >= 1 && told <= 2);
    assert_int_equal(f->told_mask[told - 1], 1u << Q);
    printf("# h and f off at the publisher %lld ms after the meeting started\n",
           (long long)(f->told_at[told - 1] / 1000));
    assert_true(f->told_at[0] >= PL_ROUTER_DYNACAST_OFF_US &&
                f->told_at[told - 1] <= PL_ROUTER_DYNACAST_OFF_US + 600000);
    pl_router_stats st;
    pl_router_stats_get(f->r, &st);
    assert_int_equal(st.layers_paused_at_publisher, 2);
    assert_int_equal(st.dynacast_updates, told);
    /* Both subscribers get q all along. */
    for (size_t s = 0; s < 2; s++)
        assert_int_equal(f->layer[s][last_media(f, s)], Q);
    run_until(f, f->now + 2000000); /* h and f silent for more than a second */

    /* The second tile grows. */
    int64_t grown = f->now;
    size_t from = f->n_media[1];
    set_route(f, 1, route(OUT_SSRC + 16, 1280, 720));
    assert_int_equal(f->n_told, told + 1);
    assert_int_equal(f->told_mask[told], (1u << Q) | (1u << F));
    assert_int_equal(f->told_at[told], grown);
    pl_router_stats_get(f->r, &st);
    assert_int_equal(st.layers_paused_at_publisher, 1);
    run_until(f, grown + 1000000);
    size_t sw = from;
    while (sw < f->n_media[1] && f->layer[1][sw] != F)
        sw++;
    assert_true(sw < f->n_media[1]);
    assert_true(f->key[1][sw]); /* on f's first key frame */
    printf("# the grown tile on f %lld ms after its size reached the relay\n",
           (long long)((f->at[1][sw] - grown) / 1000));
    assert_true(f->at[1][sw] - grown <= CLIENT_US + FRAME_US);
    /* Meanwhile q, every frame: no gap before the switch. */
    assert_true(sw - from >= (size_t)(CLIENT_US / FRAME_US));
    for (size_t i = from; i < sw; i++)
        assert_int_equal(f->layer[1][i], Q);
    assert_int_equal(f->layer[0][last_media(f, 0)], Q); /* the other is not moved */
    /* h stays off: nobody needs it. */
    run_until(f, f->now + 5000000);
    assert_int_equal(f->n_told, told + 1);
}

/* A resize back and forth within the delay switches nothing off; nobody
 * subscribing keeps only the smallest layer; a paused (off-screen) route
 * needs nothing. */
static void test_no_flap_and_nobody(void **state)
{
    fx *f = *state;
    pl_route rs[1] = {route(OUT_SSRC, 1280, 720)};
    meeting(f, rs, 1);
    for (int k = 0; k < 6; k++) { /* 12 s of a window dragged every second */
        run_until(f, f->now + 1000000);
        set_route(f, 0, route(OUT_SSRC, 320, 180));
        run_until(f, f->now + 1000000);
        set_route(f, 0, route(OUT_SSRC, 1280, 720));
    }
    /* h was never needed: off after the delay; f was needed every 2 s. */
    assert_int_equal(f->n_told, 1);
    assert_int_equal(f->told_mask[0], (1u << Q) | (1u << F));
    /* Off screen: f goes too, q stays. */
    pl_route paused = route(OUT_SSRC, 1280, 720);
    paused.paused = true;
    set_route(f, 0, paused);
    int64_t at = f->now;
    run_until(f, at + PL_ROUTER_DYNACAST_OFF_US + 1000000);
    assert_int_equal(f->n_told, 2);
    assert_int_equal(f->told_mask[1], 1u << Q);
    assert_true(f->told_at[1] - at >= PL_ROUTER_DYNACAST_OFF_US);
    /* Nobody at all: still q only, nothing more said. */
    pl_router_remove_transport(f->r, SUB);
    run_until(f, f->now + 5000000);
    assert_int_equal(f->n_told, 2);
    assert_true(f->sending == (1u << Q));
    pl_router_stats st;
    pl_router_stats_get(f->r, &st);
    assert_int_equal(st.layers_paused_at_publisher, 2);
}

/* A publisher that ignores the request (a bot) keeps sending: its layers
 * are forwarded as ever, and a tile that grows gets f at its next key
 * frame without waiting for anything. */
static void test_publisher_that_ignores(void **state)
{
    fx *f = *state;
    pl_route rs[1] = {route(OUT_SSRC, 320, 180)};
    meeting(f, rs, 1);
    run_until(f, 5000000);
    assert_int_equal(f->told_mask[f->n_told - 1], 1u << Q);
    f->sending = 7; /* deaf */
    run_until(f, 6000000);
    size_t from = f->n_media[0];
    set_route(f, 0, route(OUT_SSRC, 1280, 720));
    run_until(f, 10000000);
    size_t i = from;
    while (i < f->n_media[0] && f->layer[0][i] != F)
        i++;
    assert_true(i < f->n_media[0]);
    assert_true(f->key[0][i]);
}

/* With an estimate of the subscriber's downlink (`--downlink-estimate`,
 * here from REMB): the allocation's grant is what is needed. A small tile
 * is granted q, so h and f go off; the tile grows and the allocation,
 * seeing f suspended at its last rate, grants it: f is asked for within
 * an allocation period, and the subscriber switches to its key frame. */
static void remb(fx *f, uint64_t bps)
{
    uint8_t buf[128];
    pl_wbuf w = pl_wbuf_make(buf, sizeof(buf));
    pl_rtcp_write_rr(&w, &(pl_rtcp_rr){.ssrc = 0x77});
    pl_rtcp_write_remb(
        &w, &(pl_rtcp_remb){
                .sender_ssrc = 0x77, .bitrate_bps = bps, .n_ssrcs = 1, .ssrcs = {OUT_SSRC}});
    pl_router_handle_rtcp(f->r, f->now, SUB, buf, w.len);
    drain(f);
}

static void test_with_estimate(void **state)
{
    fx *f = *state;
    pl_route rt = route(OUT_SSRC, 320, 180);
    rt.estimate = true;
    meeting(f, &rt, 1);
    while (f->now < 5000000) {
        remb(f, 5000000);
        run_until(f, f->now + 200000);
    }
    assert_true(f->n_told >= 1);
    assert_int_equal(f->told_mask[f->n_told - 1], 1u << Q);
    pl_router_downlink dl;
    assert_int_equal(pl_router_downlink_get(f->r, SUB, &dl), PL_OK);
    assert_true(dl.estimated);
    size_t told = f->n_told;
    int64_t grown = f->now;
    size_t from = f->n_media[0];
    pl_route big = route(OUT_SSRC, 1280, 720);
    big.estimate = true;
    set_route(f, 0, big);
    while (f->now < grown + 2000000) {
        remb(f, 5000000);
        run_until(f, f->now + 100000);
    }
    assert_true(f->n_told > told);
    assert_true(f->told_mask[told] >> F & 1);
    printf("# with an estimate: f asked for %lld ms after the tile grew\n",
           (long long)((f->told_at[told] - grown) / 1000));
    /* The allocation runs when the route changes, not at its next period
     * (116 ms later in this run when it did). */
    assert_true(f->told_at[told] - grown <= 10000);
    size_t sw = from;
    while (sw < f->n_media[0] && f->layer[0][sw] != F)
        sw++;
    assert_true(sw < f->n_media[0]);
    assert_true(f->key[0][sw]);
    printf("# with an estimate: the tile on f %lld ms after it grew\n",
           (long long)((f->at[0][sw] - grown) / 1000));
    assert_true(f->at[0][sw] - grown <= 1000000);
    for (size_t i = from; i < sw; i++)
        assert_int_equal(f->layer[0][i], Q);
    /* h, passed over, is not switched on on the way. */
    for (size_t k = told; k < f->n_told; k++)
        assert_false(f->told_mask[k] >> H & 1);

    /* The downlink shrinks to what carries h but not f: the route falls
     * back to q, the layer sent below f, and h is asked for at once and
     * taken at its first key frame. */
    run_until(f, f->now + 4000000);
    told = f->n_told;
    int64_t shrunk = f->now;
    from = f->n_media[0];
    while (f->now < shrunk + 3000000) {
        remb(f, 330000);
        run_until(f, f->now + 100000);
    }
    assert_true(f->n_told > told);
    assert_true(f->told_mask[told] >> H & 1);
    printf("# downlink at 330 kbit/s: h asked for %lld ms later\n",
           (long long)((f->told_at[told] - shrunk) / 1000));
    assert_true(f->told_at[told] - shrunk <= 1000000);
    sw = from;
    while (sw < f->n_media[0] && f->layer[0][sw] != H)
        sw++;
    assert_true(sw < f->n_media[0]);
    assert_true(f->key[0][sw]);
    printf("# downlink at 330 kbit/s: on h %lld ms later\n",
           (long long)((f->at[0][sw] - shrunk) / 1000));
    assert_true(f->at[0][sw] - shrunk <= 1500000);
    assert_int_equal(f->layer[0][f->n_media[0] - 1], H);
    size_t on_q = 0;
    for (size_t i = from; i < sw; i++)
        on_q += f->layer[0][i] == Q;
    printf("# meanwhile %zu frames of f, then %zu of q\n", sw - from - on_q, on_q);
    assert_true(on_q > 0);
}

/* A publisher that stops f by itself (its own estimate, its CPU) while a
 * large tile watches: the tile gets h, switched back on for it, and f is
 * not switched off and on again: nothing more is said. */
static void test_layer_the_publisher_holds_back(void **state)
{
    fx *f = *state;
    pl_route rs[1] = {route(OUT_SSRC, 1280, 720)};
    meeting(f, rs, 1);
    run_until(f, 4000000);
    assert_int_equal(f->n_told, 1); /* h off, nobody needs it */
    f->refuse = 1u << F;
    run_until(f, 20000000);
    /* h back on for the tile, and f never said off. */
    assert_int_equal(f->n_told, 2);
    assert_int_equal(f->told_mask[1], 7);
    assert_int_equal(f->layer[0][f->n_media[0] - 1], H);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_unwatched_layers_off_and_back, setup, teardown),
        cmocka_unit_test_setup_teardown(test_no_flap_and_nobody, setup, teardown),
        cmocka_unit_test_setup_teardown(test_publisher_that_ignores, setup, teardown),
        cmocka_unit_test_setup_teardown(test_with_estimate, setup, teardown),
        cmocka_unit_test_setup_teardown(test_layer_the_publisher_holds_back, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
