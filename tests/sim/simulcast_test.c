/* The router with a simulcast publisher on a virtual clock: three layers
 * (q 320x180, h 640x360, f 1280x720) whose SSRCs are learned from the RID
 * extension, VP8 frames with picture ids, TL0PICIDX, KEYIDX and temporal
 * layers, and subscribers of different sizes. Every assertion is about
 * what comes out of the router's queue. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
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
#define SUB2 11
#define OUT_SSRC 0x5555
#define OUT2_SSRC 0x6666
#define MID_EXT 4
#define RID_EXT 10
#define RRID_EXT 11
#define FRAME_US 33333
#define PKTS_PER_FRAME 2

enum { Q, H, F };
static const char *const rids[3] = {"q", "h", "f"};
static const uint16_t widths[3] = {320, 640, 1280};
static const uint16_t heights[3] = {180, 360, 720};
/* L1T3 after a key frame. */
static const uint8_t pattern[4] = {0, 2, 1, 2};

typedef struct lsrc {
    uint32_t ssrc, rtx_ssrc, ts0;
    uint16_t seq, rtx_seq, pid;
    uint8_t tl0, keyidx;
    unsigned since_key;
} lsrc;

typedef struct out {
    pl_router_output o;
    int64_t at;
    uint8_t buf[1600];
} out;

typedef struct fx {
    uint64_t seed;
    pl_env env;
    pl_router *r;
    lsrc L[3];
    int64_t now;
    long instant;
    out log[2048];
    size_t n;
} fx;

static int setup(void **state)
{
    fx *f = calloc(1, sizeof(*f));
    f->env = pl_env_seeded(&f->seed, 7);
    f->r = pl_router_create(&f->env);
    /* Each layer's numbers and clock start somewhere else. */
    const uint32_t ts0[3] = {1000, 0x7fff0000u, 0xfffff000u};
    const uint16_t seq0[3] = {100, 40000, 65500};
    for (int l = 0; l < 3; l++)
        f->L[l] = (lsrc){.ssrc = 0xa0u + (uint32_t)l,
                         .rtx_ssrc = 0xb0u + (uint32_t)l,
                         .ts0 = ts0[l],
                         .seq = seq0[l],
                         .pid = (uint16_t)(1000 * l + 5),
                         .tl0 = (uint8_t)(50 * l),
                         .keyidx = (uint8_t)(3 * l)};
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

/* Appends what the last call queued to the log. */
static void drain(fx *f)
{
    pl_router_output o;
    for (;;) {
        assert_true(f->n < sizeof(f->log) / sizeof(f->log[0]));
        out *d = &f->log[f->n];
        int rc = pl_router_poll_output(f->r, 0, &o, d->buf, sizeof(d->buf));
        if (rc == PL_EAGAIN)
            break;
        assert_int_equal(rc, PL_OK);
        d->o = o;
        d->at = f->now;
        f->n++;
    }
}

static void run_timers(fx *f, int64_t until)
{
    while (pl_router_next_timeout(f->r) <= until) {
        int64_t t = pl_router_next_timeout(f->r);
        if (t > f->now)
            f->now = t;
        pl_router_handle_timeout(f->r, f->now);
        drain(f);
    }
    if (until > f->now)
        f->now = until;
}

static pl_track simulcast_track(void)
{
    pl_track t = {.mid = "1",
                  .video = true,
                  .pt = 96,
                  .rtx_pt = 97,
                  .nack = true,
                  .mid_ext = MID_EXT,
                  .rid_ext = RID_EXT,
                  .rrid_ext = RRID_EXT,
                  .n_layers = 3};
    for (int l = 0; l < 3; l++)
        strcpy(t.layers[l].rid, rids[l]);
    return t;
}

static pl_route route(uint32_t out_ssrc, uint16_t w, uint16_t h, uint8_t temporal)
{
    pl_route r = {.publisher = PUB,
                  .mid = "1",
                  .out_ssrc = out_ssrc,
                  .out_pt = 100,
                  .out_rtx_ssrc = out_ssrc + 1,
                  .out_rtx_pt = 101,
                  .max_width = w,
                  .max_height = h,
                  .temporal_layers = temporal};
    return r;
}

/* A publisher with the simulcast track and the given subscribers, all
 * connected at t=0. */
static void meeting(fx *f, const pl_route *routes, size_t n)
{
    assert_int_equal(pl_router_add_transport(f->r, PUB), PL_OK);
    pl_track t = simulcast_track();
    assert_int_equal(pl_router_set_tracks(f->r, PUB, &t, 1), PL_OK);
    pl_router_set_connected(f->r, PUB, 0);
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(pl_router_add_transport(f->r, SUB + i), PL_OK);
        assert_int_equal(pl_router_set_routes(f->r, SUB + i, &routes[i], 1, 0), PL_OK);
        pl_router_set_connected(f->r, SUB + i, 0);
    }
    drain(f);
}

/* One packet of a layer's frame: MID and RID extensions when `tag`, a VP8
 * descriptor (15-bit picture id, TL0PICIDX, TID/Y, KEYIDX), a key frame
 * header with the layer's size on the first packet of a key frame, and
 * the layer and source sequence number at payload offset 16. */
static size_t vp8_packet(uint8_t *buf, int l, const lsrc *s, uint16_t seq, uint32_t ts, int j,
                         bool key, uint8_t tid, bool sync, bool marker, bool tag)
{
    pl_rtp_ext_spec ext[2] = {{.id = MID_EXT, .data = "1", .len = 1},
                              {.id = RID_EXT, .data = rids[l], .len = 1}};
    pl_wbuf w = pl_wbuf_make(buf, 1500);
    pl_rtp_header h = {
        .payload_type = 96, .seq = seq, .timestamp = ts, .ssrc = s->ssrc, .marker = marker};
    pl_rtp_write_header(&w, &h, ext, tag ? 2 : 0);
    uint8_t d[6] = {(uint8_t)(0x80 | (j == 0 ? 0x10 : 0)),
                    0xf0,
                    (uint8_t)(0x80 | (s->pid >> 8)),
                    (uint8_t)s->pid,
                    s->tl0,
                    (uint8_t)(tid << 6 | (sync ? 0x20 : 0) | (s->keyidx & 0x1f))};
    pl_wbuf_bytes(&w, d, sizeof(d));
    uint8_t v[10] = {0x55, 0, 0, 0, 0, 0, 0, 0, 0, 0};
    if (j == 0 && key) {
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
    } else if (j == 0) {
        v[0] = 0x01; /* an interframe */
    }
    pl_wbuf_bytes(&w, v, sizeof(v));
    pl_wbuf_u8(&w, (uint8_t)l);
    pl_wbuf_u16(&w, seq);
    pl_wbuf_zeros(&w, 60);
    assert_true(pl_wbuf_ok(&w));
    return w.len;
}

/* One frame of a layer at the current instant. */
static void frame(fx *f, int l, bool key, bool tag)
{
    lsrc *s = &f->L[l];
    if (key)
        s->since_key = 0;
    uint8_t tid = pattern[s->since_key++ % 4];
    if (tid == 0)
        s->tl0++;
    if (key)
        s->keyidx++;
    s->pid = (uint16_t)((s->pid + 1) & 0x7fff);
    uint32_t ts = s->ts0 + (uint32_t)f->instant * 3000u;
    for (int j = 0; j < PKTS_PER_FRAME; j++) {
        uint8_t buf[1500];
        size_t len =
            vp8_packet(buf, l, s, s->seq++, ts, j, key, tid, false, j == PKTS_PER_FRAME - 1, tag);
        pl_router_handle_rtp(f->r, f->now, PUB, buf, len);
        drain(f);
    }
}

/* One capture instant: a frame of each layer (f first), key frames on the
 * layers in key_mask, then the clock moves on to the next instant. */
static void instant(fx *f, unsigned key_mask, bool tag)
{
    for (int l = F; l >= Q; l--)
        frame(f, l, key_mask >> l & 1, tag);
    f->instant++;
    run_timers(f, f->instant * FRAME_US);
}

typedef struct seen {
    pl_rtp_header h;
    pl_vp8_desc d;
    int layer;
    uint16_t src_seq;
} seen;

static seen inspect(const out *o)
{
    seen s;
    assert_int_equal(pl_rtp_parse(o->buf, o->o.len, &s.h), PL_OK);
    const uint8_t *p = o->buf + s.h.header_len;
    size_t len = s.h.payload_len;
    if (s.h.ssrc == OUT_SSRC + 1 || s.h.ssrc == OUT2_SSRC + 1) {
        p += 2; /* the OSN of an RTX packet */
        len -= 2;
    }
    assert_int_equal(pl_vp8_parse_descriptor(p, len, &s.d), PL_OK);
    s.layer = p[16];
    s.src_seq = (uint16_t)(p[17] << 8 | p[18]);
    return s;
}

/* The media the log holds for one subscriber, from index `from`. */
static size_t media_for(const fx *f, uint64_t to, size_t from, seen *outv, size_t cap)
{
    size_t n = 0;
    for (size_t i = from; i < f->n && n < cap; i++)
        if (f->log[i].o.kind == PL_ROUTER_OUT_RTP && f->log[i].o.reason == PL_ROUTER_MEDIA &&
            f->log[i].o.transport == to)
            outv[n++] = inspect(&f->log[i]);
    return n;
}

/* The PLIs to the publisher in the log from index `from`: their media
 * SSRCs and times. */
static size_t plis(const fx *f, size_t from, uint32_t *ssrcs, int64_t *at, size_t cap)
{
    size_t n = 0;
    pl_rtcp_packet p;
    for (size_t i = from; i < f->n && n < cap; i++) {
        if (f->log[i].o.kind != PL_ROUTER_OUT_RTCP || f->log[i].o.reason != PL_ROUTER_KEYFRAME)
            continue;
        assert_int_equal(f->log[i].o.transport, PUB);
        pl_rtcp_iter it;
        pl_rtcp_iter_init(&it, f->log[i].buf, f->log[i].o.len);
        while (pl_rtcp_next(&it, &p) == 1)
            if (p.kind == PL_RTCP_K_PLI && n < cap) {
                ssrcs[n] = p.u.pli.media_ssrc;
                at[n++] = f->log[i].at;
            }
    }
    return n;
}

/* Consecutive output packets: sequence numbers one apart, and at each new
 * frame the next picture id, TL0PICIDX moving exactly at base layer
 * frames, timestamps moving forwards. */
static void assert_continuous(const seen *v, size_t n)
{
    for (size_t i = 1; i < n; i++) {
        assert_int_equal(v[i].h.seq, (uint16_t)(v[i - 1].h.seq + 1));
        bool new_frame = v[i].h.timestamp != v[i - 1].h.timestamp;
        if (new_frame) {
            assert_true((int32_t)(v[i].h.timestamp - v[i - 1].h.timestamp) > 0);
            assert_int_equal(v[i].d.picture_id, (v[i - 1].d.picture_id + 1) & 0x7fff);
            assert_int_equal(v[i].d.tl0picidx, (uint8_t)(v[i - 1].d.tl0picidx + (v[i].d.tid == 0)));
        } else {
            assert_int_equal(v[i].d.picture_id, v[i - 1].d.picture_id);
            assert_int_equal(v[i].layer, v[i - 1].layer);
        }
    }
}

/* Layers named only by RID: their SSRCs are learned from MID and RID
 * (RTX ones from the repaired RID) and kept when the extensions stop;
 * an unknown RID, or an unknown SSRC without extensions, is dropped and
 * counted. */
static void test_rid_binding(void **state)
{
    fx *f = *state;
    pl_route r = route(OUT_SSRC, 0, 0, 0); /* no size: the largest layer */
    meeting(f, &r, 1);
    instant(f, 7, true);
    size_t mark = f->n;
    instant(f, 0, false); /* no extensions any more */
    seen v[64];
    size_t n = media_for(f, SUB, mark, v, 64);
    assert_int_equal(n, PKTS_PER_FRAME);
    assert_int_equal(v[0].layer, F);
    pl_router_stats st;
    pl_router_stats_get(f->r, &st);
    assert_int_equal(st.unknown_ssrc, 0);
    /* Receiver reports name the three learned SSRCs. */
    run_timers(f, f->now + 1100000);
    pl_rtcp_packet *p = malloc(sizeof(*p));
    bool reported = false;
    for (size_t i = 0; i < f->n && !reported; i++) {
        if (f->log[i].o.transport != PUB || f->log[i].o.reason != PL_ROUTER_REPORT)
            continue;
        pl_rtcp_iter it;
        pl_rtcp_iter_init(&it, f->log[i].buf, f->log[i].o.len);
        while (pl_rtcp_next(&it, p) == 1)
            if (p->kind == PL_RTCP_K_RR && p->u.rr.n_reports == 3) {
                for (int l = 0; l < 3; l++)
                    assert_int_equal(p->u.rr.reports[l].ssrc, f->L[l].ssrc);
                reported = true;
            }
    }
    assert_true(reported);
    free(p);
    /* A retransmission of f's last packet tagged with the repaired RID. */
    uint8_t orig[1500], rtxp[1500], tagged[1500];
    lsrc *s = &f->L[F];
    uint16_t lost = s->seq++; /* lost before the next frame */
    f->instant++;
    frame(f, F, false, false);
    mark = f->n;
    size_t len = vp8_packet(orig, F, s, lost, s->ts0, 1, false, 0, false, true, false);
    pl_rtp_header h;
    assert_int_equal(pl_rtp_parse(orig, len, &h), PL_OK);
    int rn = pl_rtp_rtx_wrap(orig, &h, s->rtx_ssrc, 97, s->rtx_seq++, rtxp, sizeof(rtxp));
    pl_rtp_header rh;
    assert_int_equal(pl_rtp_parse(rtxp, (size_t)rn, &rh), PL_OK);
    pl_rtp_ext_spec e[2] = {{.id = MID_EXT, .data = "1", .len = 1},
                            {.id = RRID_EXT, .data = "f", .len = 1}};
    pl_wbuf w = pl_wbuf_make(tagged, sizeof(tagged));
    pl_rtp_write_header(&w, &rh, e, 2);
    pl_wbuf_bytes(&w, rtxp + rh.header_len, rh.payload_len);
    pl_router_handle_rtp(f->r, f->now, PUB, tagged, w.len);
    drain(f);
    n = media_for(f, SUB, mark, v, 64);
    assert_int_equal(n, 1);
    assert_int_equal(v[0].src_seq, lost);
    /* Again without the extension: the RTX SSRC is known now (a
     * duplicate, then). */
    pl_router_handle_rtp(f->r, f->now, PUB, rtxp, (size_t)rn);
    drain(f);
    pl_router_stats_get(f->r, &st);
    assert_int_equal(st.duplicates, 1);
    /* An unknown RID, and an unknown SSRC without extensions. */
    uint8_t buf[1500];
    lsrc stranger = {.ssrc = 0xcc};
    len = vp8_packet(buf, F, &stranger, 1, 0, 0, false, 0, false, true, false);
    pl_router_handle_rtp(f->r, f->now, PUB, buf, len);
    pl_rtp_ext_spec bad[2] = {{.id = MID_EXT, .data = "1", .len = 1},
                              {.id = RID_EXT, .data = "x", .len = 1}};
    w = pl_wbuf_make(buf, sizeof(buf));
    pl_rtp_write_header(&w, &(pl_rtp_header){.payload_type = 96, .ssrc = 0xcd}, bad, 2);
    pl_wbuf_zeros(&w, 20);
    pl_router_handle_rtp(f->r, f->now, PUB, buf, w.len);
    drain(f);
    pl_router_stats_get(f->r, &st);
    assert_int_equal(st.unknown_ssrc, 2);
}

/* The same publisher at the same time: a subscriber showing 320x180 gets
 * q, one showing 1280x720 gets f. */
/* Browsers probe on a layer's RTX stream before its media starts, with
 * padding and with resends: not an unknown source (the RTX SSRC is bound),
 * nothing to forward; resends are counted as dropped. */
static void test_padding_probe_before_media(void **state)
{
    fx *f = *state;
    pl_route r = route(OUT_SSRC, 0, 0, 0);
    meeting(f, &r, 1);
    uint8_t buf[1500];
    pl_rtp_ext_spec e[2] = {{.id = MID_EXT, .data = "1", .len = 1},
                            {.id = RRID_EXT, .data = "q", .len = 1}};
    pl_wbuf w = pl_wbuf_make(buf, sizeof(buf));
    pl_rtp_write_header(&w, &(pl_rtp_header){.payload_type = 97, .ssrc = 0xabc}, e, 2);
    pl_wbuf_zeros(&w, 199);
    pl_wbuf_u8(&w, 200);
    buf[0] |= 0x20; /* P: the 200 bytes are padding */
    pl_rtp_header h;
    assert_int_equal(pl_rtp_parse(buf, w.len, &h), PL_OK);
    assert_int_equal(h.payload_len, 0);
    pl_router_handle_rtp(f->r, f->now, PUB, buf, w.len);
    drain(f);
    pl_router_stats st;
    pl_router_stats_get(f->r, &st);
    assert_int_equal(st.unknown_ssrc, 0);
    assert_int_equal(st.malformed, 0);
    /* The same with an original sequence number and payload after it. */
    w = pl_wbuf_make(buf, sizeof(buf));
    pl_rtp_write_header(&w, &(pl_rtp_header){.payload_type = 97, .ssrc = 0xabc}, e, 2);
    pl_wbuf_zeros(&w, 40);
    pl_router_handle_rtp(f->r, f->now, PUB, buf, w.len);
    drain(f);
    pl_router_stats_get(f->r, &st);
    assert_int_equal(st.unknown_ssrc, 0);
    assert_int_equal(st.rtx_before_media, 1);
    assert_int_equal(f->n, 0); /* nothing went anywhere */
}

static void test_sizes_choose_layers(void **state)
{
    fx *f = *state;
    pl_route r[2] = {route(OUT_SSRC, 320, 180, 0), route(OUT2_SSRC, 1280, 720, 0)};
    meeting(f, r, 2);
    instant(f, 7, true); /* sizes learned */
    instant(f, 7, true);
    size_t mark = f->n;
    for (int i = 0; i < 10; i++)
        instant(f, 0, false);
    seen a[64], b[64];
    size_t na = media_for(f, SUB, mark, a, 64), nb = media_for(f, SUB + 1, mark, b, 64);
    assert_int_equal(na, 10 * PKTS_PER_FRAME);
    assert_int_equal(nb, 10 * PKTS_PER_FRAME);
    for (size_t i = 0; i < na; i++) {
        assert_int_equal(a[i].layer, Q);
        assert_int_equal(b[i].layer, F);
    }
    assert_continuous(a, na);
    assert_continuous(b, nb);
}

/* A route that grows switches to f at f's next key frame, and only then:
 * until it comes it keeps getting q, and f alone is asked for a key frame,
 * again every 300 ms, and no more once it came. */
static void test_resize_switches_on_keyframe(void **state)
{
    fx *f = *state;
    pl_route r = route(OUT_SSRC, 320, 180, 0);
    meeting(f, &r, 1);
    instant(f, 7, true);
    instant(f, 7, true);
    pl_router_stats st0;
    pl_router_stats_get(f->r, &st0);
    size_t mark = f->n;
    r.max_width = 1280;
    r.max_height = 720;
    assert_int_equal(pl_router_set_routes(f->r, SUB, &r, 1, f->now), PL_OK);
    drain(f);
    for (int i = 0; i < 30; i++) /* a second without a key frame of f */
        instant(f, 0, false);
    uint32_t ssrcs[32];
    int64_t at[32];
    size_t np = plis(f, mark, ssrcs, at, 32);
    assert_true(np >= 3 && np <= 4);
    for (size_t i = 0; i < np; i++) {
        assert_int_equal(ssrcs[i], f->L[F].ssrc);
        if (i)
            assert_true(at[i] - at[i - 1] >= 300000);
    }
    seen v[256];
    size_t n = media_for(f, SUB, mark, v, 256);
    assert_int_equal(n, 30 * PKTS_PER_FRAME);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(v[i].layer, Q);
    size_t before = n;
    instant(f, 1u << F, false);
    size_t after_key = f->n;
    for (int i = 0; i < 30; i++)
        instant(f, 0, false);
    n = media_for(f, SUB, mark, v, 256);
    assert_int_equal(n, before + 31 * PKTS_PER_FRAME);
    assert_int_equal(v[before].layer, F);
    assert_true(v[before].d.keyframe);
    for (size_t i = before; i < n; i++)
        assert_int_equal(v[i].layer, F);
    assert_continuous(v, n);
    assert_int_equal(plis(f, after_key, ssrcs, at, 32), 0);
    pl_router_stats st;
    pl_router_stats_get(f->r, &st);
    assert_int_equal(st.layer_switches, st0.layer_switches + 1);
    assert_int_equal(st.layer_keyframe_requests, st0.layer_keyframe_requests + np);
}

/* temporal_layers 1: only base layer frames go out, with sequence numbers
 * and picture ids continuous; 3 again: the upper layers come back. */
static void test_temporal_cap(void **state)
{
    fx *f = *state;
    pl_route r = route(OUT_SSRC, 320, 180, 1);
    meeting(f, &r, 1);
    instant(f, 7, true);
    instant(f, 7, true);
    size_t mark = f->n;
    for (int i = 0; i < 16; i++)
        instant(f, 0, false);
    seen v[256];
    size_t n = media_for(f, SUB, mark, v, 256);
    assert_int_equal(n, 4 * PKTS_PER_FRAME); /* one frame in four is TID 0 */
    for (size_t i = 0; i < n; i++)
        assert_int_equal(v[i].d.tid, 0);
    assert_continuous(v, n);
    r.temporal_layers = 3;
    pl_router_set_routes(f->r, SUB, &r, 1, f->now);
    drain(f);
    instant(f, 1u << Q, false);
    for (int i = 0; i < 7; i++)
        instant(f, 0, false);
    n = media_for(f, SUB, mark, v, 256);
    assert_int_equal(n, (4 + 8) * PKTS_PER_FRAME);
    assert_continuous(v, n);
}

/* NACKs for numbers sent before and after a switch, across frames that
 * were dropped: each is answered with the packet that went out under
 * that number, from its own layer's cache, as RTX. */
static void test_nack_after_switch_and_drops(void **state)
{
    fx *f = *state;
    pl_route r = route(OUT_SSRC, 320, 180, 2);
    meeting(f, &r, 1);
    instant(f, 7, true);
    instant(f, 7, true);
    size_t mark = f->n;
    for (int i = 0; i < 8; i++)
        instant(f, 0, false);
    r.max_width = 1280;
    r.max_height = 720;
    pl_router_set_routes(f->r, SUB, &r, 1, f->now);
    drain(f);
    instant(f, 1u << F, false);
    for (int i = 0; i < 8; i++)
        instant(f, 0, false);
    seen v[256];
    size_t n = media_for(f, SUB, mark, v, 256);
    assert_true(n > 16);
    assert_continuous(v, n);
    uint16_t lost[256];
    size_t nl = 0;
    for (size_t i = 0; i < n; i += 3)
        lost[nl++] = v[i].h.seq;
    uint8_t buf[512];
    pl_wbuf w = pl_wbuf_make(buf, sizeof(buf));
    pl_rtcp_write_rr(&w, &(pl_rtcp_rr){.ssrc = 0x77});
    pl_rtcp_nack nack = {.sender_ssrc = 0x77, .media_ssrc = OUT_SSRC};
    nack.n_items = pl_rtcp_nack_pack(lost, nl, nack.items, PL_RTCP_MAX_NACK);
    pl_rtcp_write_nack(&w, &nack);
    size_t resent_from = f->n;
    pl_router_handle_rtcp(f->r, f->now, SUB, w.data, w.len);
    drain(f);
    size_t k = 0;
    for (size_t i = resent_from; i < f->n; i++) {
        if (f->log[i].o.reason != PL_ROUTER_RESENT)
            continue;
        seen s = inspect(&f->log[i]);
        assert_int_equal(s.h.ssrc, OUT_SSRC + 1);
        uint16_t osn;
        assert_int_equal(pl_rtp_rtx_osn(f->log[i].buf, &s.h, &osn), PL_OK);
        const seen *o = &v[3 * k];
        assert_int_equal(osn, o->h.seq);
        assert_int_equal(s.layer, o->layer);
        assert_int_equal(s.src_seq, o->src_seq);
        assert_int_equal(s.h.timestamp, o->h.timestamp);
        assert_int_equal(s.d.picture_id, o->d.picture_id);
        assert_int_equal(s.d.tl0picidx, o->d.tl0picidx);
        k++;
    }
    assert_int_equal(k, nl);
}

static void publisher_sr(fx *f, int l, uint64_t ntp, uint32_t rtp)
{
    uint8_t buf[128];
    pl_wbuf w = pl_wbuf_make(buf, sizeof(buf));
    pl_rtcp_write_sr(&w, &(pl_rtcp_sr){.ssrc = f->L[l].ssrc, .ntp = ntp, .rtp_ts = rtp});
    pl_router_handle_rtcp(f->r, f->now, PUB, w.data, w.len);
    drain(f);
}

/* Layers whose RTP clocks start far apart, their sender reports taken at
 * different times: across the switch, the first frame of f goes out with
 * exactly the timestamp q's frame of that instant would have had (one
 * frame, 3000 ticks, after the last one), not a wall clock estimate. */
static void test_reports_map_timestamps_across_switch(void **state)
{
    fx *f = *state;
    pl_route r = route(OUT_SSRC, 320, 180, 0);
    meeting(f, &r, 1);
    instant(f, 7, true);
    instant(f, 7, true);
    /* q's report at instant 0, f's at instant 30: one second later. */
    uint64_t ntp0 = 3000ull << 32;
    publisher_sr(f, Q, ntp0, f->L[Q].ts0);
    publisher_sr(f, F, ntp0 + (1ull << 32), f->L[F].ts0 + 30u * 3000u);
    for (int i = 0; i < 5; i++)
        instant(f, 0, false);
    r.max_width = 1280;
    r.max_height = 720;
    pl_router_set_routes(f->r, SUB, &r, 1, f->now);
    drain(f);
    size_t mark = f->n;
    instant(f, 0, false);
    /* The key frame of f comes 50 ms late: the wall clock would say 7500. */
    f->now += 50000;
    instant(f, 1u << F, false);
    seen v[64];
    size_t n = media_for(f, SUB, mark, v, 64);
    assert_int_equal(n, 2 * PKTS_PER_FRAME);
    size_t sw = PKTS_PER_FRAME;
    assert_int_equal(v[sw - 1].layer, Q);
    assert_int_equal(v[sw].layer, F);
    assert_int_equal(v[sw].h.timestamp, v[sw - 1].h.timestamp + 3000u);
    assert_continuous(v, n);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_rid_binding, setup, teardown),
        cmocka_unit_test_setup_teardown(test_padding_probe_before_media, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sizes_choose_layers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_resize_switches_on_keyframe, setup, teardown),
        cmocka_unit_test_setup_teardown(test_temporal_cap, setup, teardown),
        cmocka_unit_test_setup_teardown(test_nack_after_switch_and_drops, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reports_map_timestamps_across_switch, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
