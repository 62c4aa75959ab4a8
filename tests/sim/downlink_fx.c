/* The downlink simulation tests' fixture (downlink_fx.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "downlink_fx.h"
#include "parley/buf.h"
#include "parley/rtp.h"
#include "parley/vp8.h"

const char *const rids[3] = {"q", "h", "f"};
static const uint16_t widths[3] = {320, 640, 1280};
static const uint16_t heights[3] = {180, 360, 720};

int setup(void **state)
{
    sim *s = calloc(1, sizeof(*s));
    /* SIM_SEED=n draws every random thing afresh (0: the draws the
     * assertions were made on), to tell a result from its luck. */
    uint64_t sd = getenv("SIM_SEED") ? strtoull(getenv("SIM_SEED"), NULL, 10) : 0;
    s->env = pl_env_seeded(&s->seed, 11 + sd);
    s->r = pl_router_create(&s->env);
    s->rx = pl_twcc_rx_create(&s->env);
    s->fb = calloc(1, sizeof(*s->fb));
    link_init(&s->down, 5 + sd * 7, 600000, 20000);
    s->down.max_queue_us = 400000;
    s->down.overhead = PL_ROUTER_PACKET_OVERHEAD;
    link_init(&s->up, 6 + sd * 7, 10000000, 20000);
    for (size_t i = 0; i < MAX_PUBS; i++)
        s->layer[i] = -1;
    *state = s;
    return 0;
}

int teardown(void **state)
{
    sim *s = *state;
    pl_router_destroy(s->r);
    pl_twcc_rx_destroy(s->rx);
    link_free(&s->down);
    link_free(&s->up);
    free(s->fb);
    free(s->held);
    free(s);
    return 0;
}

/* ---- the room ---- */

/* A publisher (transport 1 + i) with audio (mid "a") and video (mid "v"),
 * simulcast when layer_bps has three rates, else one stream at its first;
 * and the subscriber's routes to both. */
void add_publisher(sim *s, const uint64_t *layer_bps, size_t n_layers)
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

void set_routes(sim *s, uint8_t twcc_ext)
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

void pump(sim *s)
{
    pl_router_output o;
    for (;;) {
        int rc = pl_router_poll_output(s->r, s->now, &o, s->buf, sizeof(s->buf));
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
            if (pub < MAX_PUBS)
                s->pub_rtp[pub]++;
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

/* ---- a stalled worker ---- */

static bool stalled(const sim *s)
{
    return s->now >= s->stall_from && s->now < s->stall_until;
}

static void hold(sim *s, uint64_t from, bool rtcp, const uint8_t *pkt, size_t len)
{
    if (s->n_held == s->cap_held) {
        s->cap_held = s->cap_held ? 2 * s->cap_held : 256;
        s->held = realloc(s->held, s->cap_held * sizeof(*s->held));
        assert_non_null(s->held);
    }
    assert_true(len <= sizeof(s->held[0].data));
    held_dgram *h = &s->held[s->n_held++];
    *h = (held_dgram){.at = s->now, .from = from, .rtcp = rtcp, .len = len};
    memcpy(h->data, pkt, len);
}

/* The worker resumed: what waited, in order, each at its arrival. */
static void resume(sim *s)
{
    for (size_t i = 0; i < s->n_held; i++) {
        const held_dgram *h = &s->held[i];
        if (h->rtcp)
            pl_router_handle_rtcp(s->r, h->at, h->from, h->data, h->len);
        else
            pl_router_handle_rtp(s->r, h->at, h->from, h->data, h->len);
        pump(s);
    }
    s->n_held = 0;
}

/* ---- publishers ---- */

static void send_rtp(sim *s, const pubr *p, const uint8_t *pkt, size_t len)
{
    if (stalled(s)) {
        hold(s, p->id, false, pkt, len);
        return;
    }
    pl_router_handle_rtp(s->r, s->now, p->id, pkt, len);
    pump(s);
}

void send_audio(sim *s, pubr *p)
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
        if (stalled(s)) {
            hold(s, SUB, true, lp.data, lp.len);
            continue;
        }
        pl_router_handle_rtcp(s->r, s->now, SUB, lp.data, lp.len);
        pump(s);
    }
}

/* Runs the room until `until`. */
void run(sim *s, int64_t until)
{
    for (; s->now < until; s->now += STEP_US) {
        if (s->n_held && !stalled(s))
            resume(s);
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
        if (!stalled(s) && pl_router_next_timeout(s->r) <= s->now) {
            pl_router_handle_timeout(s->r, s->now);
            pump(s);
        }
        subscriber(s);
    }
}

uint64_t audio_sent(const sim *s)
{
    uint64_t n = 0;
    for (size_t i = 0; i < s->n_pubs; i++)
        n += s->pubs[i].audio_sent;
    return n;
}

void print_layers(const sim *s, const char *when)
{
    for (size_t i = 0; i < s->n_pubs; i++)
        print_message("# %s: publisher %zu layer %c%s, %u switches, %llu kB received in all\n",
                      when, i, s->layer[i] < 0 ? '-' : rids[s->layer[i]][0],
                      s->paused[i] ? " (paused for bandwidth)" : "", s->switches[i],
                      (unsigned long long)(s->pub_video_bytes[i] / 1000));
}
