#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "parley/buf.h"
#include "parley/common.h"
#include "parley/recframe.h"
#include "parley/rtp.h"
#include "parley/vp8.h"

#define MS 1000
#define SEC 1000000
/* The recording started at 10 s on the clock arrival times use. */
#define EPOCH (10 * SEC)

/* One RTP packet, written with the project's RTP writer; pad > 0 adds that
 * many padding bytes (the P bit and the count in the last byte). */
typedef struct pkt {
    uint8_t b[1600];
    size_t len;
} pkt;

static void rtp(pkt *p, uint32_t ssrc, uint16_t seq, uint32_t ts, bool marker,
                const uint8_t *payload, size_t len, uint8_t pad)
{
    pl_wbuf w = pl_wbuf_make(p->b, sizeof(p->b));
    pl_rtp_header h = {
        .payload_type = 111, .seq = seq, .timestamp = ts, .ssrc = ssrc, .marker = marker};
    pl_rtp_write_header(&w, &h, NULL, 0);
    if (len)
        pl_wbuf_bytes(&w, payload, len);
    if (pad) {
        p->b[0] |= 0x20;
        pl_wbuf_zeros(&w, pad - 1u);
        pl_wbuf_u8(&w, pad);
    }
    assert_true(pl_wbuf_ok(&w));
    p->len = w.len;
}

static int push(pl_recframe *rf, const pkt *p, int64_t now)
{
    return pl_recframe_push(rf, p->b, p->len, now);
}

/* Frames handed out, with what the tests look at. */
typedef struct got {
    int n;
    pl_recframe_frame f[512];
    /* Their first and last bytes (the data is gone by the next call):
     * the tests' tags. */
    uint8_t first[512], last[512];
} got;

static void drain(pl_recframe *rf, int64_t now, got *g)
{
    pl_recframe_frame f;
    while (pl_recframe_poll(rf, now, &f)) {
        assert_true(g->n < 512);
        assert_non_null(f.data);
        assert_true(f.len > 0);
        if (g->n > 0)
            assert_true(f.pts_us >= g->f[g->n - 1].pts_us); /* never backwards */
        assert_true(f.pts_us >= 0);
        g->first[g->n] = f.data[0];
        g->last[g->n] = f.data[f.len - 1];
        g->f[g->n++] = f;
    }
}

/* An Opus packet: 20 ms at 48 kHz is 960 ticks; the payload's first byte
 * is a tag the test recognises it by. */
static void opus(pkt *p, uint32_t ssrc, uint16_t seq, uint32_t ts, uint8_t tag)
{
    uint8_t payload[40];
    memset(payload, 0x5a, sizeof(payload));
    payload[0] = tag;
    rtp(p, ssrc, seq, ts, false, payload, sizeof(payload), 0);
}

/* Arrival jitter within +-15 ms does not show in the pts, which follow the
 * RTP clock from the first packet's arrival; the clock and the sequence
 * numbers wrap on the way. */
static void test_opus_follows_rtp_clock(void **state)
{
    (void)state;
    pl_recframe *rf = pl_recframe_create(PL_RECFRAME_OPUS, EPOCH);
    static got g;
    memset(&g, 0, sizeof(g));
    const uint32_t ts0 = 0xffffffffu - 960 * 10;
    const int64_t t0 = EPOCH + 2 * SEC;
    static const int jitter_ms[] = {0, 15, -3, 9, -10, 2, 14, 0, -7, 11};
    pkt p;
    for (int k = 0; k < 100; k++) {
        opus(&p, 0x1111, (uint16_t)(65500 + k), ts0 + 960u * (uint32_t)k, (uint8_t)k);
        int64_t now = t0 + k * 20 * MS + 10 * MS + jitter_ms[k % 10] * MS;
        assert_int_equal(push(rf, &p, now), 0);
        drain(rf, now, &g);
    }
    drain(rf, t0 + 10 * SEC, &g);
    assert_int_equal(g.n, 100);
    /* The first arrived 10 ms late; the one with -10 ms jitter (k = 4)
     * arrived earlier than that predicts, and placed the source. */
    for (int k = 0; k < 100; k++) {
        assert_int_equal(g.first[k], k);
        assert_int_equal(g.f[k].pts_us, 2 * SEC + k * 20 * MS);
        assert_int_equal(g.f[k].ssrc, 0x1111);
        assert_int_equal(g.f[k].rtp_timestamp, ts0 + 960u * (uint32_t)k);
        assert_true(g.f[k].keyframe);
        assert_false(g.f[k].lost_before);
        assert_int_equal(g.f[k].new_source, k == 0);
    }
    pl_recframe_stats st;
    pl_recframe_stats_get(rf, &st);
    assert_int_equal(st.frames, 100);
    assert_int_equal(st.resyncs, 0);
    assert_int_equal(st.gaps, 0);
    assert_int_equal(st.clamped, 0);
    assert_false(pl_recframe_wants_keyframe(rf, NULL));
    pl_recframe_destroy(rf);
}

/* DTX, mute: a silence with the RTP clock running keeps its length on the
 * timeline; no frame is invented for it. A sender whose clock stopped
 * during a pause is placed again by arrival. */
static void test_opus_silences(void **state)
{
    (void)state;
    pl_recframe *rf = pl_recframe_create(PL_RECFRAME_OPUS, EPOCH);
    static got g;
    memset(&g, 0, sizeof(g));
    pkt p;
    uint16_t seq = 7;
    int64_t now = EPOCH;
    /* 10 packets, 3 s of DTX (the clock runs, sequence numbers go on), 10
     * more. */
    for (int k = 0; k < 20; k++) {
        uint32_t ts = 960u * (uint32_t)k + (k >= 10 ? 48000u * 3 : 0);
        now = EPOCH + k * 20 * MS + (k >= 10 ? 3 * SEC : 0);
        opus(&p, 0x2222, seq++, ts, (uint8_t)k);
        assert_int_equal(push(rf, &p, now), 0);
        drain(rf, now, &g);
    }
    /* Then 5 s of pause during which the clock stood still, and 10 more:
     * placed by arrival. */
    for (int k = 20; k < 30; k++) {
        uint32_t ts = 960u * (uint32_t)k + 48000u * 3;
        now = EPOCH + k * 20 * MS + 8 * SEC;
        opus(&p, 0x2222, seq++, ts, (uint8_t)k);
        assert_int_equal(push(rf, &p, now), 0);
        drain(rf, now, &g);
    }
    drain(rf, now + SEC, &g);
    assert_int_equal(g.n, 30);
    for (int k = 0; k < 30; k++) {
        int64_t want = k * 20 * MS + (k >= 20 ? 8 * SEC : k >= 10 ? 3 * SEC : 0);
        assert_int_equal(g.f[k].pts_us, want);
        assert_false(g.f[k].lost_before);
    }
    pl_recframe_stats st;
    pl_recframe_stats_get(rf, &st);
    assert_int_equal(st.resyncs, 1);
    assert_int_equal(st.lost_packets, 0);
    pl_recframe_destroy(rf);
}

/* A stall: 2 s of packets held up on the way (a TCP path) come in a
 * burst. Their first one disagrees with the clock by 2 s, but those after
 * it close in on it: the clock stays, every frame keeps its place. */
static void test_opus_stall_burst(void **state)
{
    (void)state;
    pl_recframe *rf = pl_recframe_create(PL_RECFRAME_OPUS, EPOCH);
    static got g;
    memset(&g, 0, sizeof(g));
    pkt p;
    int64_t now = EPOCH;
    for (int k = 0; k < 130; k++) {
        if (k < 10 || k >= 110)
            now = EPOCH + k * 20 * MS + (k >= 110 ? 5 * MS : 0);
        else
            now = EPOCH + 2200 * MS + (k - 10) * 100;
        opus(&p, 0x7777, (uint16_t)k, 960u * (uint32_t)k, (uint8_t)k);
        assert_int_equal(push(rf, &p, now), 0);
        drain(rf, now, &g);
    }
    drain(rf, now + SEC, &g);
    assert_int_equal(g.n, 130);
    for (int k = 0; k < 130; k++) {
        assert_int_equal(g.first[k], k);
        assert_int_equal(g.f[k].pts_us, k * 20 * MS);
    }
    pl_recframe_stats st;
    pl_recframe_stats_get(rf, &st);
    assert_int_equal(st.resyncs, 0);
    assert_true(st.bursts >= 1);
    assert_int_equal(st.clamped, 0);
    pl_recframe_destroy(rf);
}

/* Reordered packets leave in sequence order; duplicates, before or after
 * they left, are dropped; a packet that never comes is skipped after the
 * reorder window, and one that comes after that is late. */
static void test_opus_reorder_loss_duplicates(void **state)
{
    (void)state;
    pl_recframe *rf = pl_recframe_create(PL_RECFRAME_OPUS, EPOCH);
    static got g;
    memset(&g, 0, sizeof(g));
    /* Arrival order by index, each when it was sent or just after its
     * predecessor; 5 is lost, then arrives too late. */
    static const int order[] = {0, 2, 1, 3, 3, 4, 7, 6, 8, 9, 2, 10, 11, 12, 13, 14, 5, 15};
    pkt p;
    int64_t now = EPOCH;
    for (size_t i = 0; i < sizeof(order) / sizeof(order[0]); i++) {
        int k = order[i];
        now = EPOCH + k * 20 * MS > now ? EPOCH + k * 20 * MS : now + MS;
        opus(&p, 0x3333, (uint16_t)(65533 + k), 960u * (uint32_t)k, (uint8_t)k);
        assert_int_equal(push(rf, &p, now), 0);
        drain(rf, now, &g);
        /* 6 waits for 5 the reorder window long (from 141 ms), then goes
         * with what follows it. */
        if (k == 12)
            assert_int_equal(g.n, 5);
        if (k == 13)
            assert_int_equal(g.n, 13);
    }
    drain(rf, now + SEC, &g);
    static const int want[] = {0, 1, 2, 3, 4, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15};
    assert_int_equal(g.n, 15);
    for (int i = 0; i < 15; i++) {
        assert_int_equal(g.first[i], want[i]);
        assert_int_equal(g.f[i].pts_us, want[i] * 20 * MS);
        assert_int_equal(g.f[i].lost_before, want[i] == 6);
    }
    pl_recframe_stats st;
    pl_recframe_stats_get(rf, &st);
    assert_int_equal(st.duplicates, 2); /* 3 held, 2 left */
    assert_int_equal(st.late, 1);       /* 5 */
    assert_int_equal(st.lost_packets, 1);
    assert_int_equal(st.gaps, 1);
    pl_recframe_destroy(rf);
}

/* A reconnection: a new SSRC with unrelated numbers, 3 s later, continues
 * on the same timeline at its arrival; a straggler of the old one does not
 * switch back. */
static void test_opus_new_ssrc(void **state)
{
    (void)state;
    pl_recframe *rf = pl_recframe_create(PL_RECFRAME_OPUS, EPOCH);
    static got g;
    memset(&g, 0, sizeof(g));
    pkt p;
    int64_t now = EPOCH;
    for (int k = 0; k < 10; k++) {
        now = EPOCH + SEC + k * 20 * MS;
        opus(&p, 0xaaaa, (uint16_t)(100 + k), 5000u + 960u * (uint32_t)k, (uint8_t)k);
        assert_int_equal(push(rf, &p, now), 0);
        drain(rf, now, &g);
    }
    for (int k = 0; k < 10; k++) {
        now = EPOCH + 4 * SEC + k * 20 * MS;
        opus(&p, 0xbbbb, (uint16_t)(40000 + k), 3000000000u + 960u * (uint32_t)k,
             (uint8_t)(100 + k));
        assert_int_equal(push(rf, &p, now), 0);
        drain(rf, now, &g);
        if (k == 5) {
            opus(&p, 0xaaaa, 110, 5000u + 960u * 10, 10); /* the old one's straggler */
            assert_int_equal(push(rf, &p, now), 0);
            drain(rf, now, &g);
        }
    }
    drain(rf, now + SEC, &g);
    assert_int_equal(g.n, 20);
    for (int k = 0; k < 20; k++) {
        int64_t want = k < 10 ? SEC + k * 20 * MS : 4 * SEC + (k - 10) * 20 * MS;
        assert_int_equal(g.f[k].pts_us, want);
        assert_int_equal(g.f[k].ssrc, k < 10 ? 0xaaaa : 0xbbbb);
        assert_int_equal(g.f[k].new_source, k == 0 || k == 10);
    }
    assert_int_equal(pl_recframe_source_ssrc(rf), 0xbbbb);
    pl_recframe_stats st;
    pl_recframe_stats_get(rf, &st);
    assert_int_equal(st.source_changes, 1);
    assert_int_equal(st.stale_source, 1);
    pl_recframe_destroy(rf);
}

/* A new source placed earlier than what already left (its first packet
 * came while the old one still sent): its first frames are held at the
 * last pts, never before. */
static void test_opus_overlap_never_backwards(void **state)
{
    (void)state;
    pl_recframe *rf = pl_recframe_create(PL_RECFRAME_OPUS, EPOCH);
    static got g;
    memset(&g, 0, sizeof(g));
    pkt p;
    for (int k = 0; k < 20; k++) {
        int64_t now = EPOCH + k * 20 * MS;
        if (k < 10) {
            opus(&p, 0xa, (uint16_t)k, 960u * (uint32_t)k, (uint8_t)k);
            assert_int_equal(push(rf, &p, now), 0);
            drain(rf, now, &g);
        }
        if (k >= 7) { /* B from 140 ms */
            opus(&p, 0xb, (uint16_t)(900 + k), 12345u + 960u * (uint32_t)k, (uint8_t)(100 + k));
            assert_int_equal(push(rf, &p, now), 0);
            drain(rf, now, &g);
        }
    }
    drain(rf, EPOCH + SEC, &g);
    assert_int_equal(g.n, 10 + 13);
    assert_int_equal(g.f[9].pts_us, 180 * MS);
    /* B's 140 and 160 ms go out at 180 ms; from 180 ms on, its own. */
    for (int i = 10; i < 23; i++) {
        int k = i - 3;
        assert_int_equal(g.first[i], 100 + k);
        assert_int_equal(g.f[i].pts_us, k < 9 ? 180 * MS : k * 20 * MS);
    }
    pl_recframe_stats st;
    pl_recframe_stats_get(rf, &st);
    assert_int_equal(st.clamped, 2);
    assert_int_equal(st.source_changes, 1);
    pl_recframe_destroy(rf);
}

/* The timeout names when poll releases something: a later number that
 * arrived first does not make it earlier than the window of the lowest
 * number held (a caller waking up then would find nothing, again and
 * again). */
static void test_opus_timeout_follows_lowest(void **state)
{
    (void)state;
    pl_recframe *rf = pl_recframe_create(PL_RECFRAME_OPUS, EPOCH);
    static got g;
    memset(&g, 0, sizeof(g));
    pkt p;
    opus(&p, 0xa, 11, 960u * 11, 11);
    assert_int_equal(push(rf, &p, EPOCH), 0);
    opus(&p, 0xa, 10, 960u * 10, 10);
    assert_int_equal(push(rf, &p, EPOCH + 30 * MS), 0);
    drain(rf, EPOCH + 30 * MS, &g);
    assert_int_equal(g.n, 0);
    int64_t at = pl_recframe_next_timeout(rf);
    assert_int_equal(at, EPOCH + 30 * MS + PL_RECFRAME_REORDER_US);
    drain(rf, at - 1, &g);
    assert_int_equal(g.n, 0);
    drain(rf, at, &g);
    assert_int_equal(g.n, 2);
    assert_int_equal(g.first[0], 10);
    assert_int_equal(g.first[1], 11);
    assert_int_equal(pl_recframe_next_timeout(rf), INT64_MAX);
    pl_recframe_destroy(rf);
}

/* Padding-only packets take sequence numbers but are no loss; pts never go
 * below 0 (a packet from before the epoch) nor backwards. */
static void test_opus_padding_and_floor(void **state)
{
    (void)state;
    pl_recframe *rf = pl_recframe_create(PL_RECFRAME_OPUS, EPOCH);
    static got g;
    memset(&g, 0, sizeof(g));
    pkt p;
    int64_t now = EPOCH - 100 * MS;
    for (int k = 0; k < 20; k++) {
        now = EPOCH - 100 * MS + k * 20 * MS;
        if (k % 4 == 3)
            rtp(&p, 0x4444, (uint16_t)k, 960u * (uint32_t)(k - 1), false, NULL, 0, 200);
        else
            opus(&p, 0x4444, (uint16_t)k, 960u * (uint32_t)k, (uint8_t)k);
        assert_int_equal(push(rf, &p, now), 0);
        drain(rf, now, &g);
    }
    drain(rf, now + SEC, &g);
    assert_int_equal(g.n, 15);
    int i = 0;
    for (int k = 0; k < 20; k++) {
        if (k % 4 == 3)
            continue;
        assert_int_equal(g.first[i], k);
        int64_t want = -100 * MS + k * 20 * MS;
        assert_int_equal(g.f[i].pts_us, want < 0 ? 0 : want);
        assert_false(g.f[i].lost_before);
        i++;
    }
    pl_recframe_stats st;
    pl_recframe_stats_get(rf, &st);
    assert_int_equal(st.padding, 5);
    assert_int_equal(st.gaps, 0);
    assert_int_equal(st.clamped, 4); /* -100, -80, -60 and -20 ms */
    pl_recframe_destroy(rf);
}

/* Bad input is a counted drop: what does not parse, an oversized payload,
 * pushes with no poll between them past the hold. */
static void test_bad_input_and_bounds(void **state)
{
    (void)state;
    pl_recframe *rf = pl_recframe_create(PL_RECFRAME_OPUS, EPOCH);
    const uint8_t junk[] = {0x12, 0x34, 0x56};
    assert_int_equal(pl_recframe_push(rf, junk, sizeof(junk), EPOCH), PL_EMALFORMED);
    assert_int_equal(pl_recframe_push(rf, NULL, 0, EPOCH), PL_EMALFORMED);
    static uint8_t big[PL_RECFRAME_MAX_PAYLOAD + 1];
    pkt p;
    rtp(&p, 1, 1, 1, false, big, sizeof(big), 0);
    assert_int_equal(push(rf, &p, EPOCH), PL_EUNSUPPORTED);
    rtp(&p, 1, 1, 1, false, big, PL_RECFRAME_MAX_PAYLOAD, 0);
    assert_int_equal(push(rf, &p, EPOCH), 0);
    /* Held packets: a gap at 2 keeps them back; no poll, so the hold
     * fills. */
    for (int k = 0; k < PL_RECFRAME_HOLD - 1; k++) {
        opus(&p, 1, (uint16_t)(3 + k), 960u * (uint32_t)(3 + k), (uint8_t)k);
        assert_int_equal(push(rf, &p, EPOCH), 0);
    }
    opus(&p, 1, 500, 960u * 500, 0);
    assert_int_equal(push(rf, &p, EPOCH), PL_ENOSPC);
    /* A full hold lets its first go at once; the rest wait for the gap
     * before them as long as the window says. */
    static got g;
    memset(&g, 0, sizeof(g));
    drain(rf, EPOCH, &g);
    assert_int_equal(g.n, 1);
    assert_int_equal(pl_recframe_next_timeout(rf), EPOCH + PL_RECFRAME_REORDER_US);
    drain(rf, EPOCH + PL_RECFRAME_REORDER_US, &g);
    assert_int_equal(g.n, PL_RECFRAME_HOLD);
    assert_int_equal(pl_recframe_next_timeout(rf), INT64_MAX);
    assert_true(g.f[1].lost_before);
    pl_recframe_stats st;
    pl_recframe_stats_get(rf, &st);
    assert_int_equal(st.packets, 3 + PL_RECFRAME_HOLD + 1);
    assert_int_equal(st.malformed, 2);
    assert_int_equal(st.oversized, 1);
    assert_int_equal(st.evicted, 1);
    pl_recframe_destroy(rf);
    assert_null(pl_recframe_create((pl_recframe_codec)7, 0));
}

/* VP8: frames cut by pl_vp8_packetize, in RTP packets. */
typedef struct vframe {
    pkt p[160];
    int n;
} vframe;

static size_t vp8_frame(uint8_t *f, size_t len, bool key, uint16_t w, uint16_t h, uint8_t tag)
{
    for (size_t i = 0; i < len; i++)
        f[i] = (uint8_t)(i * 7 + tag);
    if (key) {
        const uint8_t hdr[10] = {0x10,
                                 0x02,
                                 0x00,
                                 0x9d,
                                 0x01,
                                 0x2a,
                                 (uint8_t)(w & 0xff),
                                 (uint8_t)(w >> 8),
                                 (uint8_t)(h & 0xff),
                                 (uint8_t)(h >> 8)};
        memcpy(f, hdr, sizeof(hdr));
    } else {
        f[0] = 0x11; /* P: an interframe */
    }
    f[len - 1] = tag; /* the test recognises a frame by its last byte */
    return len;
}

static void vp8_pkts_mtu(vframe *v, uint32_t ssrc, uint16_t seq, uint32_t ts, bool key, uint16_t w,
                         uint16_t h, size_t len, uint8_t tag, size_t mtu)
{
    static uint8_t f[20000], out[24000];
    size_t lens[160];
    vp8_frame(f, len, key, w, h, tag);
    v->n = pl_vp8_packetize(seq, f, len, mtu, out, sizeof(out), lens, 160);
    assert_true(v->n > 0);
    size_t off = 0;
    for (int i = 0; i < v->n; i++) {
        rtp(&v->p[i], ssrc, (uint16_t)(seq + i), ts, i == v->n - 1, out + off, lens[i], 0);
        off += lens[i];
    }
}

static void vp8_pkts(vframe *v, uint32_t ssrc, uint16_t seq, uint32_t ts, bool key, uint16_t w,
                     uint16_t h, size_t len, uint8_t tag)
{
    vp8_pkts_mtu(v, ssrc, seq, ts, key, w, h, len, tag, 1000);
}

/* A stream of one source: key frames each `gop` frames from frame key_at,
 * at 30 fps; every
 * frame of size 2500 bytes (3 packets). Pushes frame k arriving at
 * t0 + k * 33 ms. */
typedef struct vstream {
    uint32_t ssrc;
    uint16_t seq;
    uint32_t ts0;
    int64_t t0;
    uint16_t w, h;
    int gop, key_at;
} vstream;

static void vs_frame(vstream *s, int k, vframe *v)
{
    bool key = k >= s->key_at && (k - s->key_at) % s->gop == 0;
    vp8_pkts(v, s->ssrc, s->seq, s->ts0 + 3000u * (uint32_t)k, key, s->w, s->h, 2500, (uint8_t)k);
    s->seq = (uint16_t)(s->seq + v->n);
}

static int64_t vs_time(const vstream *s, int k)
{
    return s->t0 + k * 33333;
}

static void vs_push_all(pl_recframe *rf, const vframe *v, int64_t now, got *g)
{
    for (int i = 0; i < v->n; i++) {
        assert_int_equal(push(rf, &v->p[i], now), 0);
        drain(rf, now, g);
    }
}

/* Whole frames leave with their key frame flag and size; the pts follow
 * the 90 kHz clock from the first packet's arrival; a key frame is wanted
 * until one came. Packets reordered within and across frames and
 * duplicated change nothing. */
static void test_vp8_frames_in_order(void **state)
{
    (void)state;
    pl_recframe *rf = pl_recframe_create(PL_RECFRAME_VP8, EPOCH);
    static got g;
    memset(&g, 0, sizeof(g));
    uint32_t want_ssrc = 1;
    assert_true(pl_recframe_wants_keyframe(rf, &want_ssrc));
    assert_int_equal(want_ssrc, 0);
    vstream s = {.ssrc = 0x5555,
                 .seq = 65530,
                 .ts0 = 0xfffff000u,
                 .t0 = EPOCH + 500 * MS,
                 .w = 640,
                 .h = 360,
                 .gop = 30};
    static vframe v, prev;
    for (int k = 0; k < 60; k++) {
        vs_frame(&s, k, &v);
        int64_t now = vs_time(&s, k);
        if (k % 5 == 2) {
            /* This frame's packets backwards, then its predecessor's last
             * packet again. */
            for (int i = v.n - 1; i >= 0; i--) {
                assert_int_equal(push(rf, &v.p[i], now), 0);
                drain(rf, now, &g);
            }
            assert_int_equal(push(rf, &prev.p[prev.n - 1], now), 0);
        } else if (k % 5 == 3) {
            /* Its first packet after the next frame's: held back below. */
            for (int i = 1; i < v.n; i++)
                assert_int_equal(push(rf, &v.p[i], now), 0);
            prev = v;
            continue;
        } else {
            vs_push_all(rf, &v, now, &g);
        }
        if (k % 5 == 4) {
            assert_int_equal(push(rf, &prev.p[0], now), 0);
            drain(rf, now, &g);
        }
        prev = v;
        if (k == 0)
            assert_false(pl_recframe_wants_keyframe(rf, NULL));
    }
    assert_int_equal(g.n, 60);
    for (int k = 0; k < 60; k++) {
        assert_int_equal(g.last[k], k);
        assert_int_equal(g.f[k].len, 2500);
        assert_int_equal(g.f[k].keyframe, k % 30 == 0);
        assert_int_equal(g.f[k].width, 640);
        assert_int_equal(g.f[k].height, 360);
        assert_int_equal(g.f[k].rtp_timestamp, 0xfffff000u + 3000u * (uint32_t)k);
        assert_int_equal(g.f[k].pts_us, 500 * MS + 100000 * k / 3);
        assert_false(g.f[k].lost_before);
    }
    pl_recframe_stats st;
    pl_recframe_stats_get(rf, &st);
    assert_int_equal(st.keyframes, 2);
    assert_int_equal(st.gaps, 0);
    assert_true(st.duplicates + st.late >= 12);
    pl_recframe_destroy(rf);
}

/* A packet lost for good: its frame is given up once the assembler's wait
 * for a retransmission is over, the delta frames after it are dropped and a
 * key frame is wanted from the source until one comes. A packet that comes
 * back within the wait (a retransmission) loses nothing. */
static void test_vp8_loss_until_keyframe(void **state)
{
    (void)state;
    pl_recframe *rf = pl_recframe_create(PL_RECFRAME_VP8, EPOCH);
    static got g;
    memset(&g, 0, sizeof(g));
    vstream s = {.ssrc = 0x6666, .seq = 1, .ts0 = 77, .t0 = EPOCH, .w = 320, .h = 180, .gop = 30};
    static vframe v, held;
    bool wanted = false;
    for (int k = 0; k < 45; k++) {
        vs_frame(&s, k, &v);
        int64_t now = vs_time(&s, k);
        for (int i = 0; i < v.n; i++) {
            if ((k == 3 || k == 5) && i == 1)
                continue; /* 3's never comes; 5's comes 200 ms later */
            assert_int_equal(push(rf, &v.p[i], now), 0);
            drain(rf, now, &g);
        }
        if (k == 5)
            held = v;
        if (k == 11) {
            assert_int_equal(push(rf, &held.p[1], now), 0);
            drain(rf, now, &g);
        }
        uint32_t ssrc = 0;
        if (pl_recframe_wants_keyframe(rf, &ssrc)) {
            assert_int_equal(ssrc, 0x6666);
            assert_true(k > 3 && k < 30);
            wanted = true;
        }
        /* Nothing leaves while 3 may still be retransmitted: 500 ms. */
        if (k > 3 && now - vs_time(&s, 3) < PL_VP8_WAIT_US)
            assert_int_equal(g.n, 3);
    }
    assert_true(wanted);
    assert_false(pl_recframe_wants_keyframe(rf, NULL));
    drain(rf, vs_time(&s, 44) + SEC, &g);
    /* 0, 1, 2, then the key frame 30 and what follows. */
    assert_int_equal(g.n, 3 + 15);
    for (int i = 0; i < g.n; i++) {
        int k = i < 3 ? i : 30 + i - 3;
        assert_int_equal(g.last[i], k);
        assert_int_equal(g.f[i].keyframe, k == 0 || k == 30);
        assert_int_equal(g.f[i].lost_before, k == 30);
        assert_int_equal(g.f[i].pts_us, 100000 * k / 3);
    }
    pl_recframe_stats st;
    pl_recframe_stats_get(rf, &st);
    assert_int_equal(st.incomplete_frames, 1);
    assert_int_equal(st.undecodable_frames, 26); /* 4 .. 29 */
    assert_int_equal(st.gaps, 1);
    pl_recframe_destroy(rf);
}

/* Padding-only packets between frames (a sender probing the path) are no
 * loss; a frame of more packets than the assembler's window is given up
 * (bounded memory) and waits for a key frame like a loss. */
static void test_vp8_padding_and_big_frame(void **state)
{
    (void)state;
    pl_recframe *rf = pl_recframe_create(PL_RECFRAME_VP8, EPOCH);
    static got g;
    memset(&g, 0, sizeof(g));
    vstream s = {.ssrc = 7, .seq = 65000, .ts0 = 0, .t0 = EPOCH, .w = 64, .h = 48, .gop = 10};
    static vframe v;
    pkt pad;
    int64_t now = EPOCH;
    for (int k = 0; k < 10; k++) {
        vs_frame(&s, k, &v);
        now = vs_time(&s, k);
        vs_push_all(rf, &v, now, &g);
        for (int j = 0; j < 3; j++) {
            rtp(&pad, 7, s.seq++, 3000u * (uint32_t)k, false, NULL, 0, 255);
            assert_int_equal(push(rf, &pad, now), 0);
            drain(rf, now, &g);
        }
    }
    assert_int_equal(g.n, 10);
    assert_false(pl_recframe_wants_keyframe(rf, NULL));
    /* A delta frame of 150 packets, then deltas, then a key frame. */
    vp8_pkts_mtu(&v, 7, s.seq, 3000u * 10, false, 0, 0, 150 * 96, 10, 100);
    assert_int_equal(v.n, 150);
    s.seq = (uint16_t)(s.seq + v.n);
    now = vs_time(&s, 10);
    vs_push_all(rf, &v, now, &g);
    for (int k = 11; k < 21; k++) {
        vs_frame(&s, k, &v);
        now = vs_time(&s, k);
        vs_push_all(rf, &v, now, &g);
    }
    drain(rf, now + SEC, &g);
    assert_int_equal(g.n, 11);
    assert_int_equal(g.last[10], 20);
    assert_true(g.f[10].keyframe);
    assert_true(g.f[10].lost_before);
    assert_int_equal(g.f[10].width, 64);
    pl_recframe_stats st;
    pl_recframe_stats_get(rf, &st);
    assert_int_equal(st.padding, 30);
    assert_int_equal(st.gaps, 1);
    assert_true(st.incomplete_frames >= 1);
    assert_int_equal(st.undecodable_frames, 9); /* 11 .. 19 */
    pl_recframe_destroy(rf);
}

/* A sender whose clock jumps 10 s ahead with no pause: once the packets
 * after the jump confirm it, the frames from the jump on are placed by
 * arrival, in the place they came; none waits for good. */
static void test_vp8_clock_jump(void **state)
{
    (void)state;
    pl_recframe *rf = pl_recframe_create(PL_RECFRAME_VP8, EPOCH);
    static got g;
    memset(&g, 0, sizeof(g));
    vstream s = {.ssrc = 9, .seq = 5, .ts0 = 1000, .t0 = EPOCH, .w = 160, .h = 120, .gop = 100};
    static vframe v;
    for (int k = 0; k < 30; k++) {
        if (k == 15)
            s.ts0 += 900000; /* 10 s */
        vs_frame(&s, k, &v);
        vs_push_all(rf, &v, vs_time(&s, k), &g);
        /* Frames after the jump wait at most the confirmation. */
        if (k >= 15 && vs_time(&s, k) - vs_time(&s, 15) >= PL_RECFRAME_CONFIRM_US)
            assert_int_equal(g.n, k + 1);
    }
    drain(rf, vs_time(&s, 29) + SEC, &g);
    assert_int_equal(g.n, 30);
    for (int k = 0; k < 30; k++) {
        assert_int_equal(g.last[k], k);
        int64_t want = k < 15 ? 100000 * k / 3 : 15 * 33333 + 100000 * (k - 15) / 3;
        assert_int_equal(g.f[k].pts_us, want);
    }
    pl_recframe_stats st;
    pl_recframe_stats_get(rf, &st);
    assert_int_equal(st.resyncs, 1);
    assert_int_equal(st.gaps, 0);
    pl_recframe_destroy(rf);
}

/* A first frame sent 400 ms after it was taken, 40 ms before the next
 * one, taken 440 ms after it (a camera starting): it leaves at once,
 * placed by its arrival; the next packets, which arrive far earlier than
 * its clock says, place the source again by their arrival, and the frame
 * after it says so (replaced). Jitter under 50 ms moves nothing once
 * frames have left. */
static void test_vp8_late_first_frame(void **state)
{
    (void)state;
    pl_recframe *rf = pl_recframe_create(PL_RECFRAME_VP8, EPOCH);
    static got g;
    memset(&g, 0, sizeof(g));
    static vframe v;
    vp8_pkts(&v, 0x77, 10, 5000, true, 320, 180, 2500, 0);
    vs_push_all(rf, &v, EPOCH + SEC, &g);
    assert_int_equal(g.n, 1);
    assert_int_equal(g.f[0].pts_us, SEC);
    uint16_t seq = (uint16_t)(10 + v.n);
    for (int k = 1; k < 30; k++) {
        /* Taken 440 ms after the first, then at 30 fps; arriving from
         * 40 ms after it, each 0 to 45 ms late. */
        int64_t now = EPOCH + SEC + 40 * MS + (k - 1) * 33333 + (k % 4) * 15 * MS;
        vp8_pkts(&v, 0x77, seq, 5000u + 39600u + 3000u * (uint32_t)(k - 1), false, 320, 180, 2500,
                 (uint8_t)k);
        seq = (uint16_t)(seq + v.n);
        vs_push_all(rf, &v, now, &g);
    }
    drain(rf, EPOCH + 3 * SEC, &g);
    assert_int_equal(g.n, 30);
    for (int k = 1; k < 30; k++) {
        assert_int_equal(g.last[k], k);
        /* The first of them arrived 15 ms late: the others' 15 ms less
         * move nothing. */
        assert_int_equal(g.f[k].pts_us, SEC + 55 * MS + (k - 1) * 100000 / 3);
        assert_int_equal(g.f[k].replaced, k == 1);
        assert_false(g.f[k].new_source);
    }
    pl_recframe_stats st;
    pl_recframe_stats_get(rf, &st);
    assert_int_equal(st.earlier, 1);
    assert_int_equal(st.resyncs + st.clamped, 0);
    pl_recframe_destroy(rf);
}

/* A simulcast layer switch: the caller feeds layer B (another SSRC, its
 * own numbers and clock, another size) besides A until the recorder says
 * it took B over, at B's first key frame; the output goes on from there on
 * the same timeline with B's size. */
static void test_vp8_layer_switch(void **state)
{
    (void)state;
    pl_recframe *rf = pl_recframe_create(PL_RECFRAME_VP8, EPOCH);
    static got g;
    memset(&g, 0, sizeof(g));
    vstream a = {
        .ssrc = 0xa, .seq = 100, .ts0 = 1000, .t0 = EPOCH + SEC, .w = 640, .h = 360, .gop = 30};
    vstream b = {.ssrc = 0xb,
                 .seq = 60000,
                 .ts0 = 0xfff00000u,
                 .t0 = EPOCH + SEC + 2 * MS,
                 .w = 1280,
                 .h = 720,
                 .gop = 30,
                 .key_at = 25};
    static vframe v;
    int switched_at = -1;
    for (int k = 0; k < 45; k++) {
        int64_t now = vs_time(&a, k);
        if (k >= 20) {
            vs_frame(&b, k, &v);
            vs_push_all(rf, &v, vs_time(&b, k), &g);
        }
        if (pl_recframe_source_ssrc(rf) == 0xb && switched_at < 0)
            switched_at = k;
        vs_frame(&a, k, &v);
        if (switched_at < 0) {
            vs_push_all(rf, &v, now, &g);
        } else if (k == switched_at) {
            assert_int_equal(push(rf, &v.p[0], now), 0); /* late to stop: dropped */
        }
        uint32_t ssrc = 0;
        bool wants = pl_recframe_wants_keyframe(rf, &ssrc);
        assert_int_equal(wants, k >= 20 && k < 25);
        if (wants)
            assert_int_equal(ssrc, 0xb);
    }
    drain(rf, vs_time(&a, 44) + SEC, &g);
    assert_int_equal(switched_at, 25);
    assert_int_equal(g.n, 45);
    for (int k = 0; k < 45; k++) {
        assert_int_equal(g.last[k], k);
        assert_int_equal(g.f[k].ssrc, k < 25 ? 0xa : 0xb);
        assert_int_equal(g.f[k].keyframe, k == 0 || k == 25);
        assert_int_equal(g.f[k].new_source, k == 0 || k == 25);
        assert_int_equal(g.f[k].width, k < 25 ? 640 : 1280);
        assert_int_equal(g.f[k].height, k < 25 ? 360 : 720);
        /* B placed by its first packet's arrival, 2 ms after A's. */
        int64_t want = SEC + 100000 * k / 3 + (k < 25 ? 0 : 2 * MS);
        if (!(g.f[k].pts_us >= want - 10 && g.f[k].pts_us <= want + 10))
            fail_msg("frame %d: pts %lld, want %lld", k, (long long)g.f[k].pts_us, (long long)want);
    }
    pl_recframe_stats st;
    pl_recframe_stats_get(rf, &st);
    assert_int_equal(st.source_changes, 1);
    assert_int_equal(st.undecodable_frames, 5); /* B's 20 .. 24 */
    assert_int_equal(st.stale_source, 1);
    assert_int_equal(st.gaps, 0);
    pl_recframe_destroy(rf);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_opus_follows_rtp_clock),
        cmocka_unit_test(test_opus_silences),
        cmocka_unit_test(test_opus_stall_burst),
        cmocka_unit_test(test_opus_reorder_loss_duplicates),
        cmocka_unit_test(test_opus_new_ssrc),
        cmocka_unit_test(test_opus_overlap_never_backwards),
        cmocka_unit_test(test_opus_timeout_follows_lowest),
        cmocka_unit_test(test_opus_padding_and_floor),
        cmocka_unit_test(test_bad_input_and_bounds),
        cmocka_unit_test(test_vp8_frames_in_order),
        cmocka_unit_test(test_vp8_loss_until_keyframe),
        cmocka_unit_test(test_vp8_padding_and_big_frame),
        cmocka_unit_test(test_vp8_clock_jump),
        cmocka_unit_test(test_vp8_late_first_frame),
        cmocka_unit_test(test_vp8_layer_switch),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
