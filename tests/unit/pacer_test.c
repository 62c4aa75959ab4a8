/* The pacer on a virtual clock, without a network: priorities, the rate
 * and its batches, the burst after idle, the pool and the slots kept for
 * audio, retransmissions bounded and expired, draining a late queue,
 * probe clusters at frame boundaries and their padding, and the
 * transport-wide sequence number stamped at send. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "parley/buf.h"
#include "parley/pacer.h"
#include "parley/rtp.h"

#define MS 1000
#define AUDIO_SSRC 0xA0A0
#define VIDEO_SSRC 0xB0B0
#define RTX_SSRC 0xC0C0
#define PAD_SSRC 0xD0D0
#define TWCC_EXT 5

typedef struct fx {
    uint64_t seed;
    pl_env env;
    pl_pacer *p;
    uint16_t seq[3];
} fx;

static pl_pacer *make(fx *f, const pl_pacer_config *cfg)
{
    f->env = pl_env_seeded(&f->seed, 42);
    f->p = pl_pacer_create(&f->env, cfg);
    assert_non_null(f->p);
    return f->p;
}

static int teardown(void **state)
{
    fx *f = *state;
    if (f)
        pl_pacer_destroy(f->p);
    free(f);
    return 0;
}

static int setup(void **state)
{
    *state = calloc(1, sizeof(fx));
    return *state ? 0 : -1;
}

/* An RTP packet of `len` bytes in all; its first payload byte is `tag`. */
static size_t rtp(uint8_t *out, enum pl_pacer_class cls, uint16_t seq, size_t len, uint8_t tag)
{
    pl_wbuf w = pl_wbuf_make(out, PL_PACER_PKT_MAX);
    uint32_t ssrc = cls == PL_PACER_AUDIO ? AUDIO_SSRC
                    : cls == PL_PACER_RTX ? RTX_SSRC
                                          : VIDEO_SSRC;
    pl_rtp_header h = {.payload_type = 96, .seq = seq, .timestamp = 1000u * seq, .ssrc = ssrc};
    pl_rtp_write_header(&w, &h, NULL, 0);
    pl_wbuf_u8(&w, tag);
    if (w.len < len)
        pl_wbuf_zeros(&w, len - w.len);
    assert_true(pl_wbuf_ok(&w));
    return w.len;
}

static int push(fx *f, int64_t now, enum pl_pacer_class cls, size_t len, uint8_t tag, bool marker)
{
    uint8_t pkt[PL_PACER_PKT_MAX];
    size_t n = rtp(pkt, cls, f->seq[cls]++, len, tag);
    return pl_pacer_push(f->p, now, cls, pkt, n, marker);
}

/* Polls once: the class sent, or -1 for PL_EAGAIN. */
/* A video packet of another stream than VIDEO_SSRC. */
static int push_other(fx *f, int64_t now, uint32_t ssrc, uint8_t tag)
{
    uint8_t pkt[PL_PACER_PKT_MAX];
    pl_wbuf w = pl_wbuf_make(pkt, sizeof(pkt));
    pl_rtp_header h = {.payload_type = 96, .seq = tag, .timestamp = 1, .ssrc = ssrc};
    pl_rtp_write_header(&w, &h, NULL, 0);
    pl_wbuf_u8(&w, tag);
    pl_wbuf_zeros(&w, 300);
    assert_true(pl_wbuf_ok(&w));
    return pl_pacer_push(f->p, now, PL_PACER_VIDEO, pkt, w.len, false);
}

static int poll1(fx *f, int64_t now, pl_pacer_out *o, uint8_t *buf)
{
    int rc = pl_pacer_poll(f->p, now, o, buf, PL_PACER_PKT_MAX + PL_PACER_TWCC_GROWTH);
    if (rc == PL_EAGAIN)
        return -1;
    assert_int_equal(rc, PL_OK);
    return (int)o->cls;
}

static uint8_t tag_of(const uint8_t *buf, size_t len)
{
    pl_rtp_header h;
    assert_int_equal(pl_rtp_parse(buf, len, &h), PL_OK);
    return buf[h.header_len];
}

static void test_empty(void **state)
{
    fx *f = *state;
    make(f, NULL);
    pl_pacer_out o;
    uint8_t buf[2000];
    assert_int_equal(pl_pacer_poll(f->p, 0, &o, buf, sizeof(buf)), PL_EAGAIN);
    assert_int_equal(pl_pacer_next_timeout(f->p), INT64_MAX);
    /* Invalid configurations and pushes. */
    pl_pacer_config bad = {.slots = 8};
    assert_null(pl_pacer_create(&f->env, &bad));
    bad = (pl_pacer_config){.twcc_ext = 15};
    assert_null(pl_pacer_create(&f->env, &bad));
    uint8_t junk[20] = {0};
    assert_int_equal(pl_pacer_push(f->p, 0, PL_PACER_VIDEO, junk, sizeof(junk), false),
                     PL_EMALFORMED);
    size_t n = rtp(buf, PL_PACER_VIDEO, 1, 100, 0);
    assert_int_equal(pl_pacer_push(f->p, 0, PL_PACER_PADDING, buf, n, false), PL_EINVAL);
    assert_int_equal(pl_pacer_push(f->p, 0, PL_PACER_VIDEO, buf, PL_PACER_PKT_MAX + 1, false),
                     PL_EINVAL);
    pl_pacer_stats st;
    pl_pacer_get_stats(f->p, 0, &st);
    assert_int_equal(st.invalid, 3);
    assert_string_equal(pl_pacer_class_name(PL_PACER_RTX), "rtx");
}

/* Audio first, then retransmissions, then video; FIFO within a class. */
static void test_priorities(void **state)
{
    fx *f = *state;
    make(f, NULL);
    pl_pacer_set_rate(f->p, 1000000);
    /* Spend the credit, so that the next ones queue. */
    assert_int_equal(push(f, 0, PL_PACER_VIDEO, 1200, 0, false), PL_OK);
    pl_pacer_out o;
    uint8_t buf[2000];
    assert_int_equal(poll1(f, 0, &o, buf), PL_PACER_VIDEO);
    assert_int_equal(poll1(f, 0, &o, buf), -1);
    for (uint8_t i = 1; i <= 3; i++) {
        assert_int_equal(push(f, 1 * MS, PL_PACER_VIDEO, 1000, (uint8_t)(10 + i), i == 3), PL_OK);
        assert_int_equal(push(f, 1 * MS, PL_PACER_RTX, 1000, (uint8_t)(20 + i), false), PL_OK);
        assert_int_equal(push(f, 1 * MS, PL_PACER_AUDIO, 100, (uint8_t)(30 + i), false), PL_OK);
    }
    pl_pacer_stats st;
    pl_pacer_get_stats(f->p, 2 * MS, &st);
    assert_int_equal(st.cls[PL_PACER_VIDEO].queued_packets, 3);
    assert_int_equal(st.cls[PL_PACER_RTX].queued_bytes, 3000);
    assert_int_equal(st.cls[PL_PACER_AUDIO].oldest_us, 1 * MS);
    /* Audio goes at once, debt or not. */
    assert_int_equal(pl_pacer_next_timeout(f->p), 1 * MS);
    for (uint8_t i = 1; i <= 3; i++) {
        assert_int_equal(poll1(f, 2 * MS, &o, buf), PL_PACER_AUDIO);
        assert_int_equal(tag_of(buf, o.len), 30 + i);
        assert_int_equal(o.queued_us, 1 * MS);
    }
    assert_int_equal(poll1(f, 2 * MS, &o, buf), -1);
    uint8_t order[6];
    size_t n = 0;
    int64_t now = 2 * MS;
    while (n < 6) {
        int64_t t = pl_pacer_next_timeout(f->p);
        assert_true(t > now && t < now + 50 * MS);
        now = t;
        while (n < 6 && poll1(f, now, &o, buf) >= 0)
            order[n++] = tag_of(buf, o.len);
    }
    const uint8_t want[6] = {21, 22, 23, 11, 12, 13};
    assert_memory_equal(order, want, 6);
    assert_true(o.marker);
    assert_int_equal(pl_pacer_next_timeout(f->p), INT64_MAX);
}

/* Paced packets leave at the estimate times the factor, in batches at
 * most every interval, except for a backlog of more than 66 ms at the
 * estimate, which goes at the estimate; after idle the credit is capped
 * at the burst. */
static void test_rate_and_batches(void **state)
{
    fx *f = *state;
    pl_pacer_config cfg = {.pacing_factor = 2.0};
    make(f, &cfg);
    pl_pacer_set_rate(f->p, 4000000); /* 500 bytes a ms, 1000 with the factor */
    for (int i = 0; i < 200; i++)
        assert_int_equal(push(f, 0, PL_PACER_VIDEO, 1000, 0, false), PL_OK);
    pl_pacer_out o;
    uint8_t buf[2000];
    int64_t now = 0, last_batch = -1, first = -1, last = 0, fast_from = -1;
    size_t sent = 0, batches = 0, biggest = 0;
    while (sent < 200) {
        size_t in_batch = 0;
        while (poll1(f, now, &o, buf) >= 0) {
            in_batch++;
            sent++;
            last = now;
            if (first < 0)
                first = now;
        }
        pl_pacer_stats st;
        pl_pacer_get_stats(f->p, now, &st);
        if (fast_from < 0 && st.rate_bps == 8000000)
            fast_from = now;
        if (in_batch) {
            if (last_batch >= 0)
                assert_true(now - last_batch >= PL_PACER_INTERVAL_US);
            last_batch = now;
            batches++;
            biggest = in_batch > biggest ? in_batch : biggest;
        }
        if (sent < 200) {
            int64_t t = pl_pacer_next_timeout(f->p);
            assert_true(t > now);
            now = t;
        }
    }
    /* 167 kB beyond the 33 kB backlog at 500 bytes a ms (334 ms), the
     * rest at 1000 bytes a ms (33 ms), in batches of 5 ms. */
    double ms = (double)(last - first) / MS;
    print_message("# 200 x 1000 B at 4 Mbit/s, factor 2: %.1f ms (at the factor from %.1f ms) in "
                  "%zu batches, at most %zu packets\n",
                  ms, (double)fast_from / MS, batches, biggest);
    assert_true(ms > 355 && ms < 380);
    assert_true(fast_from > 320 * MS && fast_from < 345 * MS);
    assert_true(biggest <= 6);
    assert_true(batches >= 68 && batches <= 78);

    /* After 1 s idle, only the burst (5 ms: 5000 bytes) goes at once. */
    now += 1000 * MS;
    for (int i = 0; i < 20; i++)
        assert_int_equal(push(f, now, PL_PACER_VIDEO, 1000, 0, false), PL_OK);
    size_t at_once = 0;
    while (poll1(f, now, &o, buf) >= 0)
        at_once++;
    assert_int_equal(at_once, 6); /* 5000 bytes of credit, and one more into debt */
    pl_pacer_stats st;
    pl_pacer_get_stats(f->p, now, &st);
    assert_int_equal(st.media_bps, 8000000);
    assert_int_equal(st.cls[PL_PACER_VIDEO].sent_packets, 206);
}

/* How long `n` video packets of `len` bytes take to leave at 800 kbit/s
 * (100 bytes a ms) with each packet costing `overhead` more. */
static int64_t drain_ms(fx *f, size_t n, size_t len, uint16_t overhead, size_t *queued)
{
    pl_pacer_config cfg = {.pacing_factor = 1.0,
                           .max_video_delay_us = 5000 * MS,
                           .backlog_us = 5000 * MS,
                           .packet_overhead = overhead};
    pl_pacer_destroy(f->p);
    make(f, &cfg);
    pl_pacer_set_rate(f->p, 800000);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(push(f, 0, PL_PACER_VIDEO, len, 0, false), PL_OK);
    pl_pacer_stats st;
    pl_pacer_get_stats(f->p, 0, &st);
    *queued = st.cls[PL_PACER_VIDEO].queued_bytes;
    pl_pacer_out o;
    uint8_t buf[2000];
    int64_t now = 0, last = 0;
    for (size_t sent = 0; sent < n;) {
        while (poll1(f, now, &o, buf) >= 0) {
            sent++;
            last = now;
        }
        if (sent < n)
            now = pl_pacer_next_timeout(f->p);
    }
    return last / MS;
}

/* The wire carries each packet's IP and UDP headers and SRTP tag too: a
 * 100-byte packet costing 100 more goes at half the packets a second. */
static void test_packet_overhead(void **state)
{
    fx *f = *state;
    size_t q0, q1;
    int64_t bare = drain_ms(f, 100, 100, 0, &q0);
    int64_t with = drain_ms(f, 100, 100, 100, &q1);
    print_message("# 100 x 100 B at 800 kbit/s: %lld ms, %lld ms with 100 B of overhead each\n",
                  (long long)bare, (long long)with);
    assert_int_equal(q0, 100 * 100);
    assert_int_equal(q1, 100 * 200);
    assert_true(bare >= 90 && bare <= 105);
    assert_true(with >= 190 && with <= 205);
}

/* Video and RTX cannot take the slots kept for audio. */
static void test_pool(void **state)
{
    fx *f = *state;
    pl_pacer_config cfg = {.slots = 64};
    make(f, &cfg);
    pl_pacer_set_rate(f->p, 100000);
    int ok = 0, full = 0;
    for (int i = 0; i < 100; i++) {
        int rc = push(f, 0, PL_PACER_VIDEO, 1200, 0, false);
        ok += rc == PL_OK;
        full += rc == PL_ENOSPC;
    }
    assert_int_equal(ok, 64 - PL_PACER_AUDIO_SLOTS);
    assert_int_equal(full, 100 - ok);
    for (int i = 0; i < PL_PACER_AUDIO_SLOTS; i++)
        assert_int_equal(push(f, 0, PL_PACER_AUDIO, 100, 0, false), PL_OK);
    assert_int_equal(push(f, 0, PL_PACER_AUDIO, 100, 0, false), PL_ENOSPC);
    assert_int_equal(push(f, 0, PL_PACER_RTX, 100, 0, false), PL_ENOSPC);
    pl_pacer_stats st;
    pl_pacer_get_stats(f->p, 0, &st);
    assert_int_equal(st.cls[PL_PACER_VIDEO].refused, 100 - ok);
    assert_int_equal(st.cls[PL_PACER_AUDIO].refused, 1);
    assert_int_equal(st.cls[PL_PACER_RTX].refused, 1);
    /* A buffer too small drops the packet, counted. */
    pl_pacer_out o;
    uint8_t buf[2000];
    assert_int_equal(pl_pacer_poll(f->p, 0, &o, buf, 50), PL_ENOSPC);
    assert_int_equal(poll1(f, 0, &o, buf), PL_PACER_AUDIO);
    pl_pacer_get_stats(f->p, 0, &st);
    assert_int_equal(st.too_big_for_buf, 1);
    assert_int_equal(st.cls[PL_PACER_AUDIO].queued_packets, PL_PACER_AUDIO_SLOTS - 2);
}

/* A burst of retransmissions: bounded to what the rate sends in
 * max_rtx_delay_us, charged to the budget, dropped when too old, and
 * never ahead of audio. */
static void test_rtx_bounded(void **state)
{
    fx *f = *state;
    pl_pacer_config cfg = {.pacing_factor = 1.0, .max_rtx_delay_us = 100 * MS};
    make(f, &cfg);
    pl_pacer_set_rate(f->p, 800000); /* 100 bytes a ms: the RTX queue holds 10 kB */
    int ok = 0;
    for (int i = 0; i < 50; i++)
        ok += push(f, 0, PL_PACER_RTX, 1000, (uint8_t)i, false) == PL_OK;
    assert_int_equal(ok, 10);
    pl_pacer_stats st;
    pl_pacer_get_stats(f->p, 0, &st);
    assert_int_equal(st.rtx_over, 40);
    assert_int_equal(st.cls[PL_PACER_RTX].refused, 40);
    /* Video behind them waits its turn; audio every 20 ms does not. */
    assert_int_equal(push(f, 0, PL_PACER_VIDEO, 1000, 99, true), PL_OK);
    pl_pacer_out o;
    uint8_t buf[2000];
    int64_t now = 0, next_audio = 0, video_at = -1;
    size_t rtx = 0;
    while (now < 300 * MS) {
        if (now >= next_audio) {
            assert_int_equal(push(f, now, PL_PACER_AUDIO, 100, 0, false), PL_OK);
            next_audio += 20 * MS;
        }
        int c;
        while ((c = poll1(f, now, &o, buf)) >= 0) {
            if (c == PL_PACER_AUDIO)
                assert_int_equal(o.queued_us, 0);
            rtx += c == PL_PACER_RTX;
            if (c == PL_PACER_VIDEO)
                video_at = now;
        }
        now = pl_pacer_next_timeout(f->p) < next_audio ? pl_pacer_next_timeout(f->p) : next_audio;
    }
    pl_pacer_get_stats(f->p, now, &st);
    /* 100 bytes a ms, with 5 kbit/s of audio: each RTX takes 10.5 ms; the
     * ones still queued after 100 ms are dropped. */
    print_message("# 10 RTX of 1000 B at 800 kbit/s: %zu sent, %llu expired; video after %lld ms\n",
                  rtx, (unsigned long long)st.rtx_expired, (long long)(video_at / MS));
    assert_true(rtx >= 9 && rtx <= 10);
    assert_int_equal(rtx + st.rtx_expired, 10);
    assert_true(video_at >= 90 * MS && video_at <= 120 * MS);
    assert_int_equal(st.cls[PL_PACER_AUDIO].max_delay_us, 0);
    assert_true(st.cls[PL_PACER_RTX].max_delay_us <= 100 * MS);
}

/* Old RTX is dropped when its turn comes. */
static void test_rtx_expired(void **state)
{
    fx *f = *state;
    make(f, NULL);
    pl_pacer_set_rate(f->p, 1000000);
    for (int i = 0; i < 3; i++)
        assert_int_equal(push(f, 0, PL_PACER_RTX, 500, (uint8_t)i, false), PL_OK);
    assert_int_equal(push(f, 150 * MS, PL_PACER_RTX, 500, 7, false), PL_OK);
    pl_pacer_out o;
    uint8_t buf[2000];
    assert_int_equal(poll1(f, PL_PACER_MAX_RTX_DELAY_US + 1, &o, buf), PL_PACER_RTX);
    assert_int_equal(tag_of(buf, o.len), 7);
    pl_pacer_stats st;
    pl_pacer_get_stats(f->p, 0, &st);
    assert_int_equal(st.rtx_expired, 3);
}

/* A queue that the rate would take longer than max_video_delay_us to send
 * drains faster; nothing is dropped. */
static void test_drains_faster(void **state)
{
    fx *f = *state;
    make(f, NULL);
    pl_pacer_set_rate(f->p, 100000); /* 150 kbit/s: 120 kB would take 6.4 s */
    for (int i = 0; i < 100; i++)
        assert_int_equal(push(f, 0, PL_PACER_VIDEO, 1200, 0, i == 99), PL_OK);
    pl_pacer_out o;
    uint8_t buf[2000];
    int64_t now = 0, max_wait = 0;
    size_t sent = 0;
    while (sent < 100) {
        while (poll1(f, now, &o, buf) >= 0) {
            sent++;
            max_wait = o.queued_us > max_wait ? o.queued_us : max_wait;
        }
        if (sent < 100)
            now = pl_pacer_next_timeout(f->p);
        assert_true(now < 10000000);
    }
    pl_pacer_stats st;
    pl_pacer_get_stats(f->p, now, &st);
    print_message("# 120 kB at 150 kbit/s: all sent after %lld ms, %llu drained faster\n",
                  (long long)(max_wait / MS), (unsigned long long)st.drained_faster);
    assert_true(max_wait <= PL_PACER_MAX_VIDEO_DELAY_US * 11 / 10);
    assert_true(max_wait >= PL_PACER_MAX_VIDEO_DELAY_US - 50 * MS);
    assert_true(st.drained_faster > 90);
    /* Once the queue is gone, the rate is the media rate again. */
    assert_int_equal(st.rate_bps, 150000);
}

/* A stream that ended leaves nothing queued behind: its packets go from
 * the head, the middle and the tail of each queue, the others stay in
 * order, and the queue takes pushes at its tail after. */
static void test_drop_ssrc(void **state)
{
    fx *f = *state;
    make(f, NULL);
    pl_pacer_set_rate(f->p, 100000);
    const uint32_t other = 0xE0E0;
    assert_int_equal(push(f, 0, PL_PACER_VIDEO, 300, 1, false), PL_OK);
    assert_int_equal(push_other(f, 0, other, 2), PL_OK);
    assert_int_equal(push(f, 0, PL_PACER_VIDEO, 300, 3, false), PL_OK);
    assert_int_equal(push(f, 0, PL_PACER_VIDEO, 300, 4, false), PL_OK);
    assert_int_equal(push_other(f, 0, other, 5), PL_OK);
    assert_int_equal(push(f, 0, PL_PACER_VIDEO, 300, 6, false), PL_OK);
    assert_int_equal(push(f, 0, PL_PACER_AUDIO, 100, 7, false), PL_OK);
    assert_int_equal(pl_pacer_drop_ssrc(f->p, VIDEO_SSRC), 4);
    assert_int_equal(pl_pacer_drop_ssrc(f->p, VIDEO_SSRC), 0);
    assert_int_equal(push_other(f, 0, other, 8), PL_OK);
    pl_pacer_stats st;
    pl_pacer_get_stats(f->p, 0, &st);
    assert_int_equal(st.ended_dropped, 4);
    assert_int_equal(st.cls[PL_PACER_VIDEO].queued_packets, 3);
    assert_int_equal(st.cls[PL_PACER_AUDIO].queued_packets, 1);
    pl_pacer_out o;
    uint8_t buf[2000];
    const uint8_t want[] = {7, 2, 5, 8};
    int64_t now = 0;
    for (size_t i = 0; i < sizeof(want); i++) {
        int c;
        while ((c = poll1(f, now, &o, buf)) < 0)
            now += MS;
        assert_int_equal(tag_of(buf, o.len), want[i]);
    }
    for (int i = 0; i < 1000; i++)
        assert_int_equal(poll1(f, now + i * MS, &o, buf), -1);
    /* Every slot came back to the pool. */
    for (int i = 0; i < PL_PACER_SLOTS - PL_PACER_AUDIO_SLOTS; i++)
        assert_int_equal(push(f, now, PL_PACER_VIDEO, 100, 1, false), PL_OK);
}

/* Queued video can be dropped at once; audio and RTX stay. */
static void test_drop_video(void **state)
{
    fx *f = *state;
    make(f, NULL);
    pl_pacer_set_rate(f->p, 100000);
    for (int i = 0; i < 20; i++)
        assert_int_equal(push(f, 0, PL_PACER_VIDEO, 1200, 1, false), PL_OK);
    assert_int_equal(push(f, 0, PL_PACER_RTX, 500, 2, false), PL_OK);
    assert_int_equal(pl_pacer_drop_video(f->p), 20);
    assert_int_equal(pl_pacer_drop_video(f->p), 0);
    pl_pacer_stats st;
    pl_pacer_get_stats(f->p, 0, &st);
    assert_int_equal(st.video_dropped, 20);
    assert_int_equal(st.cls[PL_PACER_VIDEO].queued_packets, 0);
    assert_int_equal(st.cls[PL_PACER_RTX].queued_packets, 1);
    pl_pacer_out o;
    uint8_t buf[2000];
    assert_int_equal(poll1(f, 0, &o, buf), PL_PACER_RTX);
    /* The slots came back: the pool takes a full load again. */
    for (int i = 0; i < PL_PACER_SLOTS - PL_PACER_AUDIO_SLOTS; i++)
        assert_int_equal(push(f, 0, PL_PACER_VIDEO, 100, 1, false), PL_OK);
}

/* The transport-wide sequence number: one per packet whatever its class,
 * written as a one-byte extension. */
static void test_twcc_stamped(void **state)
{
    fx *f = *state;
    pl_pacer_config cfg = {.twcc_ext = TWCC_EXT};
    make(f, &cfg);
    pl_pacer_set_rate(f->p, 5000000);
    pl_pacer_out o;
    uint8_t buf[2000];
    int first = -1;
    for (int i = 0; i < 70000; i++) {
        enum pl_pacer_class c = i % 3 == 0   ? PL_PACER_AUDIO
                                : i % 3 == 1 ? PL_PACER_RTX
                                             : PL_PACER_VIDEO;
        assert_int_equal(push(f, (int64_t)i * 10 * MS, c, 200, (uint8_t)i, false), PL_OK);
        assert_int_equal(poll1(f, (int64_t)i * 10 * MS, &o, buf), (int)c);
        if (first < 0)
            first = o.twcc_seq;
        assert_int_equal(o.twcc_seq, (uint16_t)(first + i));
        assert_int_equal(o.len, 208);
        pl_rtp_header h;
        pl_rtp_ext e;
        uint16_t seq;
        assert_int_equal(pl_rtp_parse(buf, o.len, &h), PL_OK);
        assert_int_equal(pl_rtp_ext_find(buf, &h, TWCC_EXT, &e), PL_OK);
        assert_int_equal(pl_rtp_ext_twcc_seq(&e, &seq), PL_OK);
        assert_int_equal(seq, o.twcc_seq);
        assert_int_equal(buf[h.header_len], (uint8_t)i);
    }
}

static void check_twcc(const uint8_t *pkt, size_t len, uint16_t want, size_t payload_len)
{
    pl_rtp_header h;
    pl_rtp_ext e;
    uint16_t seq;
    assert_int_equal(pl_rtp_parse(pkt, len, &h), PL_OK);
    assert_int_equal(pl_rtp_ext_find(pkt, &h, TWCC_EXT, &e), PL_OK);
    assert_int_equal(pl_rtp_ext_twcc_seq(&e, &seq), PL_OK);
    assert_int_equal(seq, want);
    assert_int_equal(h.payload_len, payload_len);
    for (size_t i = 0; i < payload_len; i++)
        assert_int_equal(pkt[h.header_len + i], (uint8_t)(0x40 + i));
}

/* The helper on packets with CSRCs and padding, with one-byte blocks with
 * and without room, with the element already there, and its refusals. */
static void test_write_twcc(void **state)
{
    (void)state;
    uint8_t pkt[200];
    uint8_t payload[10];
    for (size_t i = 0; i < sizeof(payload); i++)
        payload[i] = (uint8_t)(0x40 + i);
    /* No block, CSRCs and 4 bytes of padding. */
    pl_wbuf w = pl_wbuf_make(pkt, sizeof(pkt));
    pl_rtp_header h = {.payload_type = 96, .seq = 1, .ssrc = 9, .csrc_count = 2, .padding = true};
    h.csrc[0] = 1;
    h.csrc[1] = 2;
    pl_rtp_write_header(&w, &h, NULL, 0);
    pl_wbuf_bytes(&w, payload, sizeof(payload));
    const uint8_t pad[4] = {0, 0, 0, 4};
    pl_wbuf_bytes(&w, pad, 4);
    assert_true(pl_wbuf_ok(&w));
    pkt[0] |= 0x20; /* the writer leaves the padding bit to the caller */
    size_t len = w.len;
    assert_int_equal(pl_pacer_write_twcc(pkt, len, len + 7, TWCC_EXT, 1), PL_ENOSPC);
    int n = pl_pacer_write_twcc(pkt, len, sizeof(pkt), TWCC_EXT, 0x1234);
    assert_int_equal(n, (int)len + 8);
    check_twcc(pkt, (size_t)n, 0x1234, sizeof(payload));
    /* Again: rewritten in place. */
    assert_int_equal(pl_pacer_write_twcc(pkt, (size_t)n, (size_t)n, TWCC_EXT, 0xBEEF), n);
    check_twcc(pkt, (size_t)n, 0xBEEF, sizeof(payload));
    pl_rtp_header ph;
    assert_int_equal(pl_rtp_parse(pkt, (size_t)n, &ph), PL_OK);
    assert_int_equal(ph.padding_len, 4);
    assert_int_equal(ph.csrc_count, 2);

    /* A one-byte block with a 4-byte element: 3 bytes free, in place. */
    uint8_t lvl[4] = {0x85, 1, 2, 3};
    pl_rtp_ext_spec one = {.id = 1, .data = lvl, .len = 4};
    w = pl_wbuf_make(pkt, sizeof(pkt));
    h = (pl_rtp_header){.payload_type = 96, .seq = 2, .ssrc = 9};
    pl_rtp_write_header(&w, &h, &one, 1);
    pl_wbuf_bytes(&w, payload, sizeof(payload));
    len = w.len;
    assert_int_equal(pl_pacer_write_twcc(pkt, len, len, TWCC_EXT, 7), (int)len);
    check_twcc(pkt, len, 7, sizeof(payload));
    pl_rtp_ext e;
    assert_int_equal(pl_rtp_parse(pkt, len, &ph), PL_OK);
    assert_int_equal(pl_rtp_ext_find(pkt, &ph, 1, &e), PL_OK);
    assert_int_equal(e.data[0], 0x85);

    /* A full block (a 3-byte element and its header): grows. */
    uint8_t mid[3] = {'a', 'b', 'c'};
    pl_rtp_ext_spec m = {.id = 2, .data = mid, .len = 3};
    w = pl_wbuf_make(pkt, sizeof(pkt));
    pl_rtp_write_header(&w, &h, &m, 1);
    pl_wbuf_bytes(&w, payload, sizeof(payload));
    len = w.len;
    assert_int_equal(pl_pacer_write_twcc(pkt, len, len + 3, TWCC_EXT, 8), PL_ENOSPC);
    assert_int_equal(pl_pacer_write_twcc(pkt, len, sizeof(pkt), TWCC_EXT, 8), (int)len + 4);
    check_twcc(pkt, len + 4, 8, sizeof(payload));
    assert_int_equal(pl_rtp_parse(pkt, len + 4, &ph), PL_OK);
    assert_int_equal(pl_rtp_ext_find(pkt, &ph, 2, &e), PL_OK);
    assert_memory_equal(e.data, mid, 3);

    /* The element with another length, a two-byte block, bad input. */
    uint8_t four[4] = {0};
    pl_rtp_ext_spec wrong = {.id = TWCC_EXT, .data = four, .len = 4};
    w = pl_wbuf_make(pkt, sizeof(pkt));
    pl_rtp_write_header(&w, &h, &wrong, 1);
    assert_int_equal(pl_pacer_write_twcc(pkt, w.len, sizeof(pkt), TWCC_EXT, 1), PL_EMALFORMED);
    pl_rtp_ext_spec two = {.id = 20, .data = four, .len = 2};
    w = pl_wbuf_make(pkt, sizeof(pkt));
    pl_rtp_write_header(&w, &h, &two, 1);
    assert_int_equal(pl_pacer_write_twcc(pkt, w.len, sizeof(pkt), TWCC_EXT, 1), PL_EUNSUPPORTED);
    assert_int_equal(pl_pacer_write_twcc(pkt, w.len, sizeof(pkt), 15, 1), PL_EINVAL);
    assert_int_equal(pl_pacer_write_twcc(pkt, 5, sizeof(pkt), TWCC_EXT, 1), PL_EMALFORMED);
}

/* A cluster waits for the end of the frame being sent, then goes at its
 * rate, media first and padding after, every packet tagged. */
static void test_probe_at_frame_boundary(void **state)
{
    fx *f = *state;
    pl_pacer_config cfg = {.padding_ssrc = PAD_SSRC, .padding_pt = 97, .twcc_ext = TWCC_EXT};
    make(f, &cfg);
    pl_pacer_set_rate(f->p, 500000); /* 750 kbit/s: 1000 bytes in 10.7 ms */
    /* Half a frame: 3 packets pushed, the first one sent. */
    for (int i = 0; i < 3; i++)
        assert_int_equal(push(f, 0, PL_PACER_VIDEO, 1000, (uint8_t)i, false), PL_OK);
    pl_pacer_out o;
    uint8_t buf[2000];
    assert_int_equal(poll1(f, 0, &o, buf), PL_PACER_VIDEO);
    assert_int_equal(o.cluster, 0);
    pl_bwe_probe pr = {
        .id = 7, .bps = 2000000, .duration_us = 30 * MS, .bytes = 7500, .min_packets = 5};
    assert_int_equal(pl_pacer_probe(f->p, 1 * MS, &pr), PL_OK);
    /* The rest of the frame, its marker last, at the media rate. */
    int64_t now = 1 * MS;
    size_t sent = 0;
    bool marker = false;
    while (!marker) {
        now = pl_pacer_next_timeout(f->p) > now ? pl_pacer_next_timeout(f->p) : now;
        while (!marker && poll1(f, now, &o, buf) >= 0) {
            assert_int_equal(o.cls, PL_PACER_VIDEO);
            assert_int_equal(o.cluster, 0);
            marker = o.marker;
            if (++sent == 1)
                assert_int_equal(push(f, now, PL_PACER_VIDEO, 1000, 9, true), PL_OK);
        }
    }
    assert_int_equal(sent, 3);
    /* The marker packet went: the cluster starts with the next frame's
     * packets and padding. */
    assert_true(now >= 15 * MS);
    assert_int_equal(push(f, now, PL_PACER_VIDEO, 1000, 10, true), PL_OK);
    int64_t start = -1, end = 0;
    uint64_t bytes = 0, last_len = 0, padding = 0;
    size_t packets = 0;
    pl_pacer_stats st;
    for (;;) {
        while (poll1(f, now, &o, buf) >= 0) {
            assert_int_equal(o.cluster, 7);
            if (start < 0) {
                start = now;
                assert_int_equal(o.cls, PL_PACER_VIDEO);
            }
            end = now;
            bytes += o.len;
            last_len = o.len;
            packets++;
            if (o.cls == PL_PACER_PADDING) {
                padding++;
                pl_rtp_header h;
                assert_int_equal(pl_rtp_parse(buf, o.len, &h), PL_OK);
                assert_true(h.padding);
                assert_int_equal(h.payload_len, 0);
                assert_int_equal(h.ssrc, PAD_SSRC);
                assert_int_equal(h.payload_type, 97);
                assert_true(h.padding_len >= PL_PACER_PADDING_MIN);
                pl_rtp_ext e;
                assert_int_equal(pl_rtp_ext_find(buf, &h, TWCC_EXT, &e), PL_OK);
            }
        }
        pl_pacer_get_stats(f->p, now, &st);
        if (st.probes_done)
            break;
        now = pl_pacer_next_timeout(f->p);
        assert_true(now < 200 * MS);
    }
    double bps = (double)(bytes - last_len) * 8e6 / (double)(end - start);
    print_message("# cluster of 2 Mbit/s, 7500 B: %zu packets (%llu padding), %llu B over %.1f ms: "
                  "%.0f kbit/s\n",
                  packets, (unsigned long long)padding, (unsigned long long)bytes,
                  (double)(end - start) / MS, bps / 1000);
    assert_true(packets >= 5 && bytes >= 7500);
    assert_true(padding > 0);
    assert_true(bps > 0.85 * 2000000 && bps < 1.2 * 2000000);
    assert_int_equal(st.probes_started, 1);
    assert_int_equal(st.padding_packets, padding);
    /* Then back to the media rate: nothing more is tagged. */
    assert_int_equal(push(f, now, PL_PACER_VIDEO, 1000, 11, true), PL_OK);
    now = pl_pacer_next_timeout(f->p);
    assert_int_equal(poll1(f, now, &o, buf), PL_PACER_VIDEO);
    assert_int_equal(o.cluster, 0);
}

/* A cluster that finds no frame boundary is dropped after a while; a
 * second one asked before the first started replaces it. */
static void test_probe_expires(void **state)
{
    fx *f = *state;
    pl_pacer_config cfg = {.padding_ssrc = PAD_SSRC, .padding_pt = 97};
    make(f, &cfg);
    pl_pacer_set_rate(f->p, 500000);
    assert_int_equal(push(f, 0, PL_PACER_VIDEO, 1000, 0, false), PL_OK);
    pl_pacer_out o;
    uint8_t buf[2000];
    assert_int_equal(poll1(f, 0, &o, buf), PL_PACER_VIDEO);
    pl_bwe_probe pr = {
        .id = 1, .bps = 1000000, .duration_us = 30 * MS, .bytes = 3750, .min_packets = 5};
    assert_int_equal(pl_pacer_probe(f->p, 0, &pr), PL_OK);
    pr.id = 2;
    assert_int_equal(pl_pacer_probe(f->p, 10 * MS, &pr), PL_OK);
    pr.id = 0;
    assert_int_equal(pl_pacer_probe(f->p, 10 * MS, &pr), PL_EINVAL);
    /* The frame never ends: the pacer wakes to drop the cluster. */
    int64_t t = pl_pacer_next_timeout(f->p);
    assert_int_equal(t, 10 * MS + PL_PACER_PROBE_WAIT_US + 1);
    assert_int_equal(poll1(f, t, &o, buf), -1);
    pl_pacer_stats st;
    pl_pacer_get_stats(f->p, t, &st);
    assert_int_equal(st.probes_expired, 1);
    assert_int_equal(st.probes_replaced, 1);
    assert_int_equal(st.probes_started, 0);
    assert_int_equal(pl_pacer_next_timeout(f->p), INT64_MAX);
}

/* With no media at all (an idle transport), a cluster is padding alone,
 * and starts at once. */
static void test_probe_padding_only(void **state)
{
    fx *f = *state;
    pl_pacer_config cfg = {.padding_ssrc = PAD_SSRC, .padding_pt = 97};
    make(f, &cfg);
    pl_bwe_probe pr = {
        .id = 3, .bps = 900000, .duration_us = 30 * MS, .bytes = 3375, .min_packets = 5};
    assert_int_equal(pl_pacer_probe(f->p, 100 * MS, &pr), PL_OK);
    assert_int_equal(pl_pacer_next_timeout(f->p), 100 * MS);
    pl_pacer_out o;
    uint8_t buf[2000];
    int64_t now = 100 * MS, end = 0;
    uint64_t bytes = 0;
    size_t packets = 0;
    while (now != INT64_MAX) {
        while (poll1(f, now, &o, buf) >= 0) {
            assert_int_equal(o.cls, PL_PACER_PADDING);
            assert_int_equal(o.cluster, 3);
            assert_true(o.len <= PL_RTP_HEADER_MIN + PL_PACER_PADDING_MAX);
            bytes += o.len;
            packets++;
            end = now;
        }
        now = pl_pacer_next_timeout(f->p);
    }
    print_message("# padding-only cluster of 900 kbit/s: %zu packets, %llu B in %.1f ms\n", packets,
                  (unsigned long long)bytes, (double)(end - 100 * MS) / MS);
    assert_true(bytes >= 3375 && bytes < 3375 + 300);
    assert_true(end - 100 * MS >= 25 * MS && end - 100 * MS <= 35 * MS);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_empty, setup, teardown),
        cmocka_unit_test_setup_teardown(test_priorities, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rate_and_batches, setup, teardown),
        cmocka_unit_test_setup_teardown(test_packet_overhead, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pool, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rtx_bounded, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rtx_expired, setup, teardown),
        cmocka_unit_test_setup_teardown(test_drains_faster, setup, teardown),
        cmocka_unit_test_setup_teardown(test_twcc_stamped, setup, teardown),
        cmocka_unit_test(test_write_twcc),
        cmocka_unit_test_setup_teardown(test_probe_at_frame_boundary, setup, teardown),
        cmocka_unit_test_setup_teardown(test_probe_expires, setup, teardown),
        cmocka_unit_test_setup_teardown(test_probe_padding_only, setup, teardown),
        cmocka_unit_test_setup_teardown(test_drop_video, setup, teardown),
        cmocka_unit_test_setup_teardown(test_drop_ssrc, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
