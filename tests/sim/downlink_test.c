/* A subscriber's downlink on a virtual clock: publishers send audio and
 * VP8 video (simulcast or not) into the router, the router's output for
 * the subscriber goes through a bottleneck link (link.c), and the
 * subscriber's side answers as a browser would, with transport-wide
 * feedback (twcc.c) about what arrived, sent back over a second link.
 * Assertions are about what the subscriber receives and what the router
 * says about its downlink. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "link.h"
#include "parley/buf.h"
#include "parley/router.h"
#include "parley/rtcp.h"
#include "parley/rtp.h"
#include "parley/twcc.h"
#include "parley/vp8.h"

#define SUB 10
#define TWCC_EXT 3
#define FRAME_US 33333
#define AUDIO_US 20000
#define MAX_PUBS 3
#define STEP_US 500
#define SUB_SSRC 0x7777
#define LEVEL_EXT 4

static const char *const rids[3] = {"q", "h", "f"};
static const uint16_t widths[3] = {320, 640, 1280};
static const uint16_t heights[3] = {180, 360, 720};

/* One stream a publisher sends: a simulcast layer, or the whole video. */
typedef struct vsrc {
    uint32_t ssrc;
    uint16_t seq, pid;
    uint32_t ts;
    uint64_t bps;
    bool want_key;
} vsrc;

typedef struct pubr {
    uint64_t id;
    uint32_t audio_ssrc;
    uint16_t aseq;
    size_t n_layers; /* 0: no simulcast */
    vsrc v[3];
    uint64_t audio_sent;
    uint8_t level; /* of its audio: loud (a speaker) below 60 */
} pubr;

typedef struct sim {
    uint64_t seed;
    pl_env env;
    pl_router *r;
    int64_t now, next_frame, next_audio;
    unsigned frame_no, audio_no;
    bool not_estimated; /* routes without pl_route.estimate */
    link down, up;
    pl_twcc_rx *rx;
    pl_rtcp_twcc *fb;
    pubr pubs[MAX_PUBS];
    size_t n_pubs;
    /* What the subscriber got. */
    uint64_t audio_got, video_got, video_bytes, padding_got;
    int64_t audio_max_delay;
    uint64_t paused_events, resumed_events;
    /* The router's outputs: resends, PLIs to publishers, and the output
     * numbers of the first publisher's video as it went out. */
    uint64_t resent, plis;
    uint16_t vseq[8192];
    size_t n_vseq;
    bool paused[MAX_PUBS];
    /* Layer of the video the subscriber got last, per publisher (by the
     * frame width its key frames say), and how often it changed. */
    int layer[MAX_PUBS];
    unsigned switches[MAX_PUBS];
    uint64_t pub_video_bytes[MAX_PUBS];
    uint8_t buf[1600];
} sim;

static int setup(void **state)
{
    sim *s = calloc(1, sizeof(*s));
    s->env = pl_env_seeded(&s->seed, 11);
    s->r = pl_router_create(&s->env);
    s->rx = pl_twcc_rx_create(&s->env);
    s->fb = calloc(1, sizeof(*s->fb));
    link_init(&s->down, 5, 600000, 20000);
    s->down.max_queue_us = 400000;
    link_init(&s->up, 6, 10000000, 20000);
    for (size_t i = 0; i < MAX_PUBS; i++)
        s->layer[i] = -1;
    *state = s;
    return 0;
}

static int teardown(void **state)
{
    sim *s = *state;
    pl_router_destroy(s->r);
    pl_twcc_rx_destroy(s->rx);
    link_free(&s->down);
    link_free(&s->up);
    free(s->fb);
    free(s);
    return 0;
}

/* ---- the room ---- */

/* A publisher (transport 1 + i) with audio (mid "a") and video (mid "v"),
 * simulcast when layer_bps has three rates, else one stream at its first;
 * and the subscriber's routes to both. */
static void add_publisher(sim *s, const uint64_t *layer_bps, size_t n_layers)
{
    size_t i = s->n_pubs++;
    pubr *p = &s->pubs[i];
    p->id = 1 + i;
    p->audio_ssrc = 0x1000u + (uint32_t)i;
    p->level = 127;
    p->n_layers = n_layers > 1 ? n_layers : 0;
    for (size_t k = 0; k < (n_layers ? n_layers : 1); k++)
        p->v[k] = (vsrc){.ssrc = 0x2000u + 16u * (uint32_t)i + (uint32_t)k,
                         .seq = (uint16_t)(1000 * k),
                         .bps = layer_bps[k],
                         .want_key = true};
    assert_int_equal(pl_router_add_transport(s->r, p->id), PL_OK);
    pl_track t[2] = {{.mid = "a", .ssrc = p->audio_ssrc, .pt = 111, .audio_level_ext = LEVEL_EXT},
                     {.mid = "v", .ssrc = p->v[0].ssrc, .video = true, .pt = 96, .nack = true}};
    if (p->n_layers) {
        t[1].n_layers = (uint8_t)p->n_layers;
        for (size_t k = 0; k < p->n_layers; k++) {
            snprintf(t[1].layers[k].rid, sizeof(t[1].layers[k].rid), "%s", rids[k]);
            t[1].layers[k].ssrc = p->v[k].ssrc;
        }
    }
    assert_int_equal(pl_router_set_tracks(s->r, p->id, t, 2), PL_OK);
    pl_router_set_connected(s->r, p->id, s->now);
}

static void set_routes(sim *s, uint8_t twcc_ext)
{
    pl_route routes[2 * MAX_PUBS];
    size_t n = 0;
    for (size_t i = 0; i < s->n_pubs; i++) {
        uint32_t base = 0x100u * (uint32_t)(i + 1);
        routes[n++] = (pl_route){.publisher = s->pubs[i].id,
                                 .mid = "a",
                                 .out_ssrc = base + 1,
                                 .out_pt = 111,
                                 .twcc_ext = twcc_ext,
                                 .estimate = !s->not_estimated};
        routes[n++] = (pl_route){.publisher = s->pubs[i].id,
                                 .mid = "v",
                                 .out_ssrc = base + 2,
                                 .out_pt = 96,
                                 .out_rtx_ssrc = base + 3,
                                 .out_rtx_pt = 97,
                                 .max_width = 1280,
                                 .max_height = 720,
                                 .twcc_ext = twcc_ext,
                                 .estimate = !s->not_estimated};
    }
    if (!pl_router_add_transport(s->r, SUB))
        pl_router_set_connected(s->r, SUB, s->now);
    assert_int_equal(pl_router_set_routes(s->r, SUB, routes, n, s->now), PL_OK);
}

/* ---- the router's outputs ---- */

static void to_publisher(sim *s, const pl_router_output *o)
{
    pl_rtcp_iter it;
    pl_rtcp_packet p;
    pl_rtcp_iter_init(&it, s->buf, o->len);
    while (pl_rtcp_next(&it, &p) == 1) {
        if (p.kind != PL_RTCP_K_PLI)
            continue;
        for (size_t i = 0; i < s->n_pubs; i++)
            for (size_t k = 0; k < 3; k++)
                if (s->pubs[i].v[k].ssrc == p.u.pli.media_ssrc) {
                    s->pubs[i].v[k].want_key = true;
                    s->plis++;
                }
    }
}

/* The layer of a key frame the subscriber is sent (by its width). */
static void note_layer(sim *s, size_t pub, const uint8_t *pkt, size_t len)
{
    pl_rtp_header h;
    pl_vp8_desc d;
    if (pl_rtp_parse(pkt, len, &h) != PL_OK ||
        pl_vp8_parse_descriptor(pkt + h.header_len, h.payload_len, &d) != PL_OK || !d.keyframe)
        return;
    const uint8_t *f = pkt + h.header_len + d.header_len;
    uint16_t w = (uint16_t)(f[6] | f[7] << 8);
    for (int k = 0; k < 3; k++)
        if (widths[k] == w && s->layer[pub] != k) {
            s->switches[pub] += s->layer[pub] >= 0;
            s->layer[pub] = k;
        }
}

static void pump(sim *s)
{
    pl_router_output o;
    for (;;) {
        int rc = pl_router_poll_output(s->r, &o, s->buf, sizeof(s->buf));
        if (rc == PL_EAGAIN)
            return;
        assert_int_equal(rc, PL_OK);
        if (o.kind == PL_ROUTER_OUT_VIDEO_PAUSED) {
            size_t i = (o.ssrc >> 8) - 1;
            assert_int_equal(o.transport, SUB);
            assert_true(i < s->n_pubs && o.ssrc == 0x100u * (i + 1) + 2);
            assert_string_equal(o.mid, "v");
            assert_true(s->paused[i] != o.paused); /* on change only */
            s->paused[i] = o.paused;
            s->paused_events += o.paused;
            s->resumed_events += !o.paused;
        }
        if (o.kind == PL_ROUTER_OUT_RTP && o.transport == SUB) {
            uint32_t ssrc = pl_get_u32(s->buf + 8);
            size_t pub = (ssrc >> 8) - 1;
            if (o.reason == PL_ROUTER_MEDIA && (ssrc & 0xff) == 2 && pub < s->n_pubs) {
                note_layer(s, pub, s->buf, o.len);
                s->pub_video_bytes[pub] += o.len;
            }
            s->resent += o.reason == PL_ROUTER_RESENT;
            if (o.reason == PL_ROUTER_MEDIA && pl_get_u32(s->buf + 8) == 0x102 &&
                s->n_vseq < sizeof(s->vseq) / sizeof(s->vseq[0]))
                s->vseq[s->n_vseq++] = pl_get_u16(s->buf + 2);
            link_send(&s->down, s->now, s->buf, o.len);
        } else if (o.kind == PL_ROUTER_OUT_RTCP && o.transport != SUB)
            to_publisher(s, &o);
    }
}

/* ---- publishers ---- */

static void send_rtp(sim *s, const pubr *p, const uint8_t *pkt, size_t len)
{
    pl_router_handle_rtp(s->r, s->now, p->id, pkt, len);
    pump(s);
}

static void send_audio(sim *s, pubr *p)
{
    uint8_t pkt[200];
    pl_wbuf w = pl_wbuf_make(pkt, sizeof(pkt));
    pl_rtp_header h = {.payload_type = 111,
                       .seq = p->aseq++,
                       .timestamp = s->audio_no * 960u,
                       .ssrc = p->audio_ssrc};
    uint8_t level = (uint8_t)(0x80 | p->level);
    pl_rtp_ext_spec ext = {.id = LEVEL_EXT, .data = &level, .len = 1};
    pl_rtp_write_header(&w, &h, &ext, 1);
    for (int i = 0; i < 80; i++)
        pl_wbuf_u8(&w, (uint8_t)i);
    p->audio_sent++;
    send_rtp(s, p, pkt, w.len);
}

/* One frame of a stream: a key frame (three times the size) when asked
 * for, its size saying the layer's width and height. */
static void send_frame(sim *s, vsrc *v, const pubr *p, size_t layer)
{
    static uint8_t frame[40000], payloads[48000];
    size_t bytes = (size_t)(v->bps / 8 * FRAME_US / 1000000);
    bool key = v->want_key;
    v->want_key = false;
    if (key)
        bytes *= 3;
    if (bytes < 20)
        bytes = 20;
    if (bytes > sizeof(frame))
        bytes = sizeof(frame);
    memset(frame, 0x55, bytes);
    frame[0] = key ? 0x10 : 0x11; /* frame tag: bit 0 clear on a key frame */
    frame[3] = 0x9d;
    frame[4] = 0x01;
    frame[5] = 0x2a;
    frame[6] = (uint8_t)widths[layer];
    frame[7] = (uint8_t)(widths[layer] >> 8);
    frame[8] = (uint8_t)heights[layer];
    frame[9] = (uint8_t)(heights[layer] >> 8);
    size_t lens[64];
    int n = pl_vp8_packetize(v->pid++, frame, bytes, 1100, payloads, sizeof(payloads), lens, 64);
    assert_true(n > 0);
    size_t off = 0;
    for (int i = 0; i < n; i++) {
        uint8_t pkt[1300];
        pl_wbuf w = pl_wbuf_make(pkt, sizeof(pkt));
        pl_rtp_header h = {.payload_type = 96,
                           .marker = i == n - 1,
                           .seq = v->seq++,
                           .timestamp = v->ts,
                           .ssrc = v->ssrc};
        pl_rtp_write_header(&w, &h, NULL, 0);
        pl_wbuf_bytes(&w, payloads + off, lens[i]);
        off += lens[i];
        send_rtp(s, p, pkt, w.len);
    }
    v->ts += 3000;
}

/* ---- the subscriber ---- */

static void arrive(sim *s, const link_packet *lp)
{
    pl_rtp_header h;
    assert_int_equal(pl_rtp_parse(lp->data, lp->len, &h), PL_OK);
    pl_rtp_ext ext;
    uint16_t seq;
    if (pl_rtp_ext_find(lp->data, &h, TWCC_EXT, &ext) == PL_OK &&
        pl_rtp_ext_twcc_seq(&ext, &seq) == PL_OK)
        pl_twcc_rx_packet(s->rx, seq, s->now);
    if (h.payload_type == 111) {
        /* Sent at the instant its timestamp says. */
        int64_t delay = s->now - (int64_t)h.timestamp / 960 * AUDIO_US;
        if (delay > s->audio_max_delay)
            s->audio_max_delay = delay;
        s->audio_got++;
    } else if (h.payload_len == 0) {
        s->padding_got++;
    } else {
        s->video_got++;
        s->video_bytes += lp->len;
    }
}

static void subscriber(sim *s)
{
    link_packet lp;
    while (link_pop(&s->down, s->now, &lp))
        arrive(s, &lp);
    if (pl_twcc_rx_next(s->rx) <= s->now &&
        pl_twcc_rx_feedback(s->rx, s->now, SUB_SSRC, 0x102, s->fb)) {
        uint8_t buf[1500];
        pl_wbuf w = pl_wbuf_make(buf, sizeof(buf));
        pl_rtcp_write_twcc(&w, s->fb);
        assert_true(pl_wbuf_ok(&w));
        link_send(&s->up, s->now, buf, w.len);
    }
    while (link_pop(&s->up, s->now, &lp)) {
        pl_router_handle_rtcp(s->r, s->now, SUB, lp.data, lp.len);
        pump(s);
    }
}

/* Runs the room until `until`. */
static void run(sim *s, int64_t until)
{
    for (; s->now < until; s->now += STEP_US) {
        if (s->now >= s->next_audio) {
            for (size_t i = 0; i < s->n_pubs; i++)
                send_audio(s, &s->pubs[i]);
            s->audio_no++;
            s->next_audio += AUDIO_US;
        }
        if (s->now >= s->next_frame) {
            /* A key frame every two seconds: bursts the pacer spreads. */
            for (size_t i = 0; i < s->n_pubs && s->frame_no % 60 == 59; i++)
                for (size_t k = 0; k < 3; k++)
                    s->pubs[i].v[k].want_key = true;
            for (size_t i = 0; i < s->n_pubs; i++)
                for (size_t k = 0; k < (s->pubs[i].n_layers ? s->pubs[i].n_layers : 1); k++)
                    send_frame(s, &s->pubs[i].v[k], &s->pubs[i], s->pubs[i].n_layers ? k : 1);
            s->frame_no++;
            s->next_frame += FRAME_US;
        }
        if (pl_router_next_timeout(s->r) <= s->now) {
            pl_router_handle_timeout(s->r, s->now);
            pump(s);
        }
        subscriber(s);
    }
}

static uint64_t audio_sent(const sim *s)
{
    uint64_t n = 0;
    for (size_t i = 0; i < s->n_pubs; i++)
        n += s->pubs[i].audio_sent;
    return n;
}

/* ---- stage 1 and 3: estimate, pace, allocate ---- */

static void print_layers(const sim *s, const char *when)
{
    for (size_t i = 0; i < s->n_pubs; i++)
        print_message("# %s: publisher %zu layer %c%s, %u switches, %llu kB received in all\n",
                      when, i, s->layer[i] < 0 ? '-' : rids[s->layer[i]][0],
                      s->paused[i] ? " (paused for bandwidth)" : "", s->switches[i],
                      (unsigned long long)(s->pub_video_bytes[i] / 1000));
}

/* A simulcast publisher sends 1.2 Mbit/s and more of video (q 150k, h
 * 500k, f 1.2M, a key frame of every layer every two seconds) and audio;
 * the subscriber is behind 600 kbit/s. The allocator keeps the video
 * within the estimate: the estimate settles near the link's rate, the
 * subscriber gets the layer that fits, the link's queue stays short (no
 * drops after the warm-up) and every audio packet arrives soon. Without
 * the allocator, f would overflow the link and the estimate collapse. */
static void test_paced_to_the_estimate(void **state)
{
    sim *s = *state;
    const uint64_t bps[3] = {150000, 500000, 1200000};
    add_publisher(s, bps, 3);
    set_routes(s, TWCC_EXT);
    pump(s);
    run(s, 5000000);
    uint64_t dropped_before = s->down.dropped_queue;
    uint64_t bytes_before = s->pub_video_bytes[0];
    int64_t max_queue = 0;
    uint64_t est_min = UINT64_MAX, est_max = 0;
    for (int i = 0; i < 150; i++) {
        run(s, s->now + 100000);
        int64_t q = link_queue_delay(&s->down, s->now);
        if (q > max_queue)
            max_queue = q;
        pl_router_downlink dl = {0};
        assert_int_equal(pl_router_downlink_get(s->r, SUB, &dl), PL_OK);
        est_min = dl.estimate_bps < est_min ? dl.estimate_bps : est_min;
        est_max = dl.estimate_bps > est_max ? dl.estimate_bps : est_max;
    }
    pl_router_stats st;
    pl_router_stats_get(s->r, &st);
    pl_router_downlink dl = {0};
    assert_int_equal(pl_router_downlink_get(s->r, SUB, &dl), PL_OK);
    uint64_t got_bps = (s->pub_video_bytes[0] - bytes_before) * 8 / 15;
    print_message("# 1 simulcast publisher (q 150k h 500k f 1.2M) into 600 kbit/s, 20 s\n");
    print_message("# estimate %llu bps (from 5 s: %llu..%llu), video received from 5 s %llu "
                  "bit/s\n",
                  (unsigned long long)dl.estimate_bps, (unsigned long long)est_min,
                  (unsigned long long)est_max, (unsigned long long)got_bps);
    print_message("# allocations %llu, probes asked %llu, pauses %llu, flushes %llu, feedback "
                  "%llu, padding %llu\n",
                  (unsigned long long)st.allocations, (unsigned long long)st.alloc_probes,
                  (unsigned long long)st.video_pauses, (unsigned long long)st.video_flushes,
                  (unsigned long long)st.downlink_feedback, (unsigned long long)st.padding_packets);
    print_message("# link: sent %llu dropped %llu (from 5 s: %llu), max queue from 5 s %lld ms; "
                  "audio %llu/%llu, max delay %lld ms\n",
                  (unsigned long long)s->down.sent, (unsigned long long)s->down.dropped_queue,
                  (unsigned long long)(s->down.dropped_queue - dropped_before),
                  (long long)(max_queue / 1000), (unsigned long long)s->audio_got,
                  (unsigned long long)audio_sent(s), (long long)(s->audio_max_delay / 1000));
    print_layers(s, "at 20 s");
    assert_true(dl.estimated);
    assert_true(est_min >= 480000 && est_max <= 600000);
    assert_true(st.allocations > 50);
    /* The layer that fits: not f, and what arrives is near the link's rate
     * less audio and headroom. */
    assert_true(s->layer[0] >= 0 && s->layer[0] < 2);
    assert_true(got_bps > 120000);
    assert_true(s->switches[0] <= 4);
    /* Steady state: no drops at the bottleneck, a short queue. */
    assert_int_equal(s->down.dropped_queue - dropped_before, 0);
    assert_true(max_queue < 150000);
    /* Every audio packet, except those still on their way, soon. */
    assert_true(s->audio_got + 3 >= audio_sent(s));
    assert_true(s->audio_max_delay < 150000);
    assert_int_equal(st.videos_paused, 0);
}

/* One phase of the three-publisher run: the link's rate, then what the
 * subscriber got of each publisher's video, and of audio. */
typedef struct phase {
    uint64_t video[MAX_PUBS];
    uint64_t audio_got, audio_sent;
    int64_t audio_max_delay;
    unsigned pauses_seen[MAX_PUBS]; /* allocation checks that found it paused */
    unsigned checks;
    uint64_t est_min, est_max; /* from 2 s into the phase */
} phase;

static void run_phase(sim *s, uint64_t link_bps, int64_t until, phase *ph)
{
    memset(ph, 0, sizeof(*ph));
    ph->est_min = UINT64_MAX;
    s->down.rate_bps = link_bps;
    int64_t settled = s->now + 2000000;
    uint64_t v0[MAX_PUBS];
    memcpy(v0, s->pub_video_bytes, sizeof(v0));
    uint64_t a0 = s->audio_got, as0 = audio_sent(s);
    s->audio_max_delay = 0;
    bool dump = getenv("DL_DUMP") != NULL;
    while (s->now < until) {
        run(s, s->now + 250000);
        ph->checks++;
        pl_router_downlink dl = {0};
        assert_int_equal(pl_router_downlink_get(s->r, SUB, &dl), PL_OK);
        if (s->now >= settled) {
            ph->est_min = dl.estimate_bps < ph->est_min ? dl.estimate_bps : ph->est_min;
            ph->est_max = dl.estimate_bps > ph->est_max ? dl.estimate_bps : ph->est_max;
        }
        if (dump) {
            print_message("# t=%.2f link %llu est %llu queue %lld ms paused %d%d%d layers %d%d%d\n",
                          (double)s->now / 1e6, (unsigned long long)link_bps,
                          (unsigned long long)dl.estimate_bps,
                          (long long)(link_queue_delay(&s->down, s->now) / 1000), s->paused[0],
                          s->paused[1], s->paused[2], s->layer[0], s->layer[1], s->layer[2]);
        }
        for (size_t i = 0; i < s->n_pubs; i++)
            ph->pauses_seen[i] += s->paused[i];
    }
    for (size_t i = 0; i < s->n_pubs; i++)
        ph->video[i] = s->pub_video_bytes[i] - v0[i];
    ph->audio_got = s->audio_got - a0;
    ph->audio_sent = audio_sent(s) - as0;
    ph->audio_max_delay = s->audio_max_delay;
}

static void print_phase(const sim *s, const char *name, int64_t secs, const phase *ph)
{
    pl_router_downlink dl = {0};
    pl_router_stats st;
    pl_router_stats_get(s->r, &st);
    assert_int_equal(pl_router_downlink_get(s->r, SUB, &dl), PL_OK);
    print_message("# %s for %lld s: estimate from 2 s on %llu..%llu, at the end %llu; audio "
                  "%llu/%llu, max delay %lld ms; "
                  "paused now %llu (pauses %llu, resumes told %llu), probes asked %llu, flushes "
                  "%llu\n",
                  name, (long long)secs, (unsigned long long)ph->est_min,
                  (unsigned long long)ph->est_max, (unsigned long long)dl.estimate_bps,
                  (unsigned long long)ph->audio_got, (unsigned long long)ph->audio_sent,
                  (long long)(ph->audio_max_delay / 1000), (unsigned long long)st.videos_paused,
                  (unsigned long long)st.video_pauses, (unsigned long long)s->resumed_events,
                  (unsigned long long)st.alloc_probes, (unsigned long long)st.video_flushes);
    for (size_t i = 0; i < s->n_pubs; i++)
        print_message("#   publisher %zu%s: %llu kbit/s, paused %u%% of the time, layer now %c%s, "
                      "%u switches in all\n",
                      i, i == 0 ? " (speaker)" : "",
                      (unsigned long long)(ph->video[i] * 8 / 1000 / (uint64_t)secs),
                      ph->pauses_seen[i] * 100 / ph->checks,
                      s->layer[i] < 0 ? '-' : rids[s->layer[i]][0], s->paused[i] ? " (paused)" : "",
                      s->switches[i]);
}

/* Three simulcast publishers into one subscriber, the first one the
 * speaker: behind 600 kbit/s the videos step down to their low layers,
 * behind 300 kbit/s the others' videos are paused (and the subscriber
 * told) while the speaker keeps q all along (the estimate stays within
 * 80% of the link), and when the link grows to 2 Mbit/s they come back (probes
 * find the room) to higher layers, without flapping. Audio is never
 * starved. */
static void test_three_publishers(void **state)
{
    sim *s = *state;
    /* q at 120k: with three audio streams (40k each on the wire), 300
     * kbit/s leaves room for one q with the allocator's 10% headroom. */
    const uint64_t bps[3] = {120000, 500000, 1200000};
    for (int i = 0; i < 3; i++)
        add_publisher(s, bps, 3);
    s->pubs[0].level = 30;
    set_routes(s, TWCC_EXT);
    pump(s);
    print_message("# 3 simulcast publishers (q 120k h 500k f 1.2M, the first speaking)\n");
    phase p600, p300, p2m;
    run_phase(s, 600000, 15000000, &p600);
    print_phase(s, "600 kbit/s", 15, &p600);
    unsigned switches600[MAX_PUBS];
    int layer600[MAX_PUBS];
    memcpy(switches600, s->switches, sizeof(switches600));
    memcpy(layer600, s->layer, sizeof(layer600));
    run_phase(s, 300000, 30000000, &p300);
    print_phase(s, "300 kbit/s", 15, &p300);
    run_phase(s, 2000000, 40000000, &p2m);
    print_phase(s, "2 Mbit/s", 10, &p2m);
    pl_router_stats st;
    pl_router_stats_get(s->r, &st);

    /* 600k: nothing above q, the speaker never paused. */
    for (size_t i = 0; i < 3; i++) {
        assert_true(layer600[i] <= 0 || switches600[i] == 0);
        assert_true(p600.video[i] * 8 / 15 < 200000);
    }
    assert_int_equal(p600.pauses_seen[0], 0);
    assert_true(p600.video[0] * 8 / 15 > 80000);
    /* 300k: the estimate holds near the link once it found it (an
     * overuse while the relay sends less than the estimate, every packet
     * arriving at the pace it left, is no cut below what arrives: the
     * burst of a key frame or a probe once dipped it to half the link
     * every few seconds, pausing the speaker too); the others paused, the
     * speaker never, and it gets more than each of them. */
    assert_true(p300.est_min >= 300000 * 80 / 100);
    assert_int_equal(p300.pauses_seen[0], 0);
    for (size_t i = 1; i < 3; i++) {
        assert_true(p300.pauses_seen[i] * 10 > p300.checks * 6);
        assert_true(p300.video[0] > 2 * p300.video[i]);
    }
    /* 2M: all back (told), the speaker and another above q. */
    for (size_t i = 0; i < 3; i++)
        assert_false(s->paused[i]);
    assert_true(s->resumed_events >= 2);
    assert_true(s->layer[0] >= 1);
    assert_true(p2m.video[0] * 8 / 10 > 300000);
    assert_true(st.alloc_probes > 0);
    /* Audio never starved: all of it, except at the 600k to 300k step. */
    assert_true(p600.audio_got + 9 >= p600.audio_sent);
    assert_true(p300.audio_got + 9 >= p300.audio_sent);
    assert_true(p2m.audio_got + 9 >= p2m.audio_sent);
    assert_true(p600.audio_max_delay < 150000 && p2m.audio_max_delay < 150000);
    assert_true(p300.audio_max_delay < 400000);
    /* No flapping: a bounded, small number of switches and pauses. */
    for (size_t i = 0; i < 3; i++)
        assert_true(s->switches[i] <= 8);
    assert_true(st.video_pauses <= 16);
}

static void grab_sr(sim *s, uint32_t ssrc, uint64_t *ntp)
{
    pl_router_output o;
    while (pl_router_poll_output(s->r, &o, s->buf, sizeof(s->buf)) != PL_EAGAIN) {
        pl_rtcp_iter it;
        pl_rtcp_packet p;
        if (o.kind != PL_ROUTER_OUT_RTCP || o.transport != SUB)
            continue;
        pl_rtcp_iter_init(&it, s->buf, o.len);
        while (pl_rtcp_next(&it, &p) == 1)
            if (p.kind == PL_RTCP_K_SR && p.u.sr.ssrc == ssrc)
                *ntp = p.u.sr.ntp;
    }
}

/* The round-trip time comes from the subscriber's receiver report about a
 * stream the relay sends: the time since the sender report it echoes
 * (LSR), less the subscriber's delay since it (DLSR). A subscriber without
 * transport-wide feedback that sends REMB is paced at its REMB; one that
 * sends neither is not held back. */
static void test_rtt_and_remb(void **state)
{
    sim *s = *state;
    const uint64_t bps[1] = {300000};
    add_publisher(s, bps, 1);
    set_routes(s, 0);
    pump(s);
    pl_router_downlink dl = {0};
    assert_int_equal(pl_router_downlink_get(s->r, SUB, &dl), PL_OK);
    assert_false(dl.estimated);
    assert_int_equal(dl.estimate_bps, PL_ROUTER_UNPACED_BPS);
    /* The publisher's sender report for its audio: the relay's SRs to the
     * subscriber follow. */
    send_audio(s, &s->pubs[0]);
    uint8_t buf[256];
    pl_wbuf w = pl_wbuf_make(buf, sizeof(buf));
    pl_rtcp_write_sr(&w, &(pl_rtcp_sr){.ssrc = 0x1000, .ntp = 5000ull << 32, .rtp_ts = 0});
    pl_router_handle_rtcp(s->r, s->now, 1, w.data, w.len);
    pump(s);
    uint64_t ntp = 0;
    for (int i = 0; i < 300 && !ntp; i++) {
        s->now += 10000;
        if (pl_router_next_timeout(s->r) <= s->now)
            pl_router_handle_timeout(s->r, s->now);
        grab_sr(s, 0x101, &ntp);
    }
    assert_true(ntp != 0);
    /* Back 50 ms later, 10 ms of which the subscriber held it. */
    s->now += 50000;
    w = pl_wbuf_make(buf, sizeof(buf));
    pl_rtcp_rr rr = {.ssrc = SUB_SSRC, .n_reports = 1};
    rr.reports[0] = (pl_rtcp_report){.ssrc = 0x101, .lsr = (uint32_t)(ntp >> 16), .dlsr = 655};
    pl_rtcp_write_rr(&w, &rr);
    pl_rtcp_write_remb(&w, &(pl_rtcp_remb){.sender_ssrc = SUB_SSRC, .bitrate_bps = 400000});
    pl_router_handle_rtcp(s->r, s->now, SUB, w.data, w.len);
    pump(s);
    assert_int_equal(pl_router_downlink_get(s->r, SUB, &dl), PL_OK);
    assert_true(dl.rtt_us > 39000 && dl.rtt_us < 41000);
    assert_true(dl.estimated);
    assert_int_equal(dl.estimate_bps, 400000);
    pl_router_stats st;
    pl_router_stats_get(s->r, &st);
    assert_int_equal(st.downlink_remb, 1);
}

/* Without pl_route.estimate (the server's default), a subscriber with
 * transport-wide feedback and REMB is still forwarded unpaced, and its
 * packets carry no transport-wide number. */
static void test_estimation_off(void **state)
{
    sim *s = *state;
    s->not_estimated = true;
    const uint64_t bps[1] = {300000};
    add_publisher(s, bps, 1);
    set_routes(s, TWCC_EXT);
    for (int i = 0; i < 100; i++) {
        s->now += 10000;
        send_audio(s, &s->pubs[0]);
        pump(s);
    }
    uint8_t buf[256];
    pl_wbuf w = pl_wbuf_make(buf, sizeof(buf));
    pl_rtcp_write_rr(&w, &(pl_rtcp_rr){.ssrc = SUB_SSRC});
    pl_rtcp_write_remb(&w, &(pl_rtcp_remb){.sender_ssrc = SUB_SSRC, .bitrate_bps = 100000});
    pl_router_handle_rtcp(s->r, s->now, SUB, w.data, w.len);
    pump(s);
    pl_router_downlink dl = {0};
    assert_int_equal(pl_router_downlink_get(s->r, SUB, &dl), PL_OK);
    assert_false(dl.estimated);
    assert_int_equal(dl.estimate_bps, PL_ROUTER_UNPACED_BPS);
    pl_router_stats st;
    pl_router_stats_get(s->r, &st);
    assert_int_equal(st.probes, 0);
}

/* ---- stage 2: loss repair inside the budget ---- */

static void nack(sim *s, const uint16_t *lost, size_t n)
{
    uint8_t buf[512];
    pl_wbuf w = pl_wbuf_make(buf, sizeof(buf));
    pl_rtcp_write_rr(&w, &(pl_rtcp_rr){.ssrc = SUB_SSRC});
    pl_rtcp_nack nk = {.sender_ssrc = SUB_SSRC, .media_ssrc = 0x102};
    nk.n_items = pl_rtcp_nack_pack(lost, n, nk.items, PL_RTCP_MAX_NACK);
    pl_rtcp_write_nack(&w, &nk);
    pl_router_handle_rtcp(s->r, s->now, SUB, w.data, w.len);
    pump(s);
}

/* A packet resent less than a round trip ago (100 ms until measured) is
 * not resent again on a second NACK; after a round trip it is. */
static void test_nack_repeat_within_rtt(void **state)
{
    sim *s = *state;
    const uint64_t bps[1] = {600000};
    add_publisher(s, bps, 1);
    set_routes(s, 0);
    pump(s);
    run(s, 1000000);
    uint16_t lost = s->vseq[s->n_vseq - 1];
    nack(s, &lost, 1);
    assert_int_equal(s->resent, 1);
    s->now += 50000;
    nack(s, &lost, 1);
    assert_int_equal(s->resent, 1);
    pl_router_stats st;
    pl_router_stats_get(s->r, &st);
    assert_int_equal(st.nack_repeats, 1);
    s->now += 60000;
    nack(s, &lost, 1);
    assert_int_equal(s->resent, 2);
}

/* A NACK asking for more bytes than the layer's last key frame is
 * answered with a key frame request to the publisher, not with resends;
 * one asking for less is resent. */
static void test_big_nack_becomes_keyframe(void **state)
{
    sim *s = *state;
    const uint64_t bps[1] = {600000};
    add_publisher(s, bps, 1);
    set_routes(s, 0);
    pump(s);
    run(s, 1000000);
    /* A key frame is three frames: about 7.5 kB. Ask for 16 packets, more
     * than five frames' worth. */
    uint16_t lost[16];
    for (size_t i = 0; i < 16; i++)
        lost[i] = s->vseq[s->n_vseq - 16 + i];
    uint64_t plis = s->plis;
    nack(s, lost, 16);
    assert_int_equal(s->resent, 0);
    assert_int_equal(s->plis, plis + 1);
    pl_router_stats st;
    pl_router_stats_get(s->r, &st);
    assert_int_equal(st.nack_keyframes, 1);
    /* Four packets: resent. */
    nack(s, lost, 4);
    assert_int_equal(s->resent, 4);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_paced_to_the_estimate, setup, teardown),
        cmocka_unit_test_setup_teardown(test_three_publishers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rtt_and_remb, setup, teardown),
        cmocka_unit_test_setup_teardown(test_estimation_off, setup, teardown),
        cmocka_unit_test_setup_teardown(test_nack_repeat_within_rtt, setup, teardown),
        cmocka_unit_test_setup_teardown(test_big_nack_becomes_keyframe, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
