/* The pacer with the estimator on a bottleneck link, on a virtual clock.
 *
 * A subscriber receives 30 fps video at 500 kbit/s in all (a 60 kB
 * keyframe every 2 s, delta frames of 1.1 kB between) and Opus-like audio
 * (100 bytes every 20 ms) over a 600 kbit/s link with a drop-tail queue of
 * 400 ms. The sender either paces (pl_pacer at the estimate, probe
 * clusters from the estimator handed to the pacer) or sends every packet
 * the moment it has it, as the router does today. Either way each packet
 * carries a transport-wide sequence number; the receiver returns real
 * transport-wide feedback every 100 ms over an uncongested path, which
 * goes to the estimator, whose estimate is the pacer's rate.
 *
 * Figures: the link's drops and queue delay, the time audio and video
 * spend in the pacer, and for each probe cluster where it started and the
 * rate it went at. Seeded: a run replays exactly. PACER_TRACE=1 prints
 * the estimate, the pacer's rate and backlog and the link's queue every
 * 100 ms; PACER_FACTOR=x runs the pacer with another pacing factor. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "link.h"
#include "parley/buf.h"
#include "parley/bwe.h"
#include "parley/pacer.h"
#include "parley/rtp.h"
#include "twcc_path.h"

#define MS 1000
#define SECOND 1000000
#define TWCC_EXT 3
#define AUDIO_SSRC 0x1111
#define VIDEO_SSRC 0x2222
#define RTX_SSRC 0x3333
#define PAD_SSRC 0x4444
#define FRAME_US 33333
#define FRAMES_PER_KEY 60
#define KEYFRAME_BYTES 60000
#define VIDEO_BPS 500000
#define AUDIO_US 20000
#define AUDIO_BYTES 100
#define PAYLOAD 1200
#define LINK_BPS 600000
#define LINK_DELAY_US (40 * MS)
#define LINK_QUEUE_US (400 * MS)
#define MAX_CLUSTERS 64

typedef struct cluster {
    uint32_t id;
    uint64_t bps;
    int64_t asked, first, last;
    uint64_t bytes, last_len;
    uint32_t packets;
    bool mid_frame; /* its first packet left inside a video frame */
} cluster;

typedef struct sim {
    uint64_t seed;
    pl_env env;
    link down;
    twcc_path path; /* the receiver's feedback, back to the sender */
    pl_bwe *bwe;
    pl_pacer *pacer; /* NULL: every packet leaves at once */
    int64_t now;
    /* The sources. */
    uint16_t video_seq, audio_seq, rtx_seq, twcc_seq;
    uint32_t frames;
    int64_t next_frame, next_audio;
    /* What was sent, and what the pacer did to it. */
    bool in_frame; /* the last video packet sent did not end its frame */
    int64_t audio_wait_max, video_wait_max, rtx_wait_max;
    uint64_t audio_sent, video_sent, rtx_sent;
    cluster clusters[MAX_CLUSTERS];
    size_t n_clusters;
    /* What the link did to it. */
    int64_t link_q_max, audio_link_q_max;
    uint64_t link_rx_bytes;
    int64_t next_trace;
    int64_t next_request;  /* the caller asks for a probe at twice the estimate */
    int64_t request_every; /* 0: never */
    int64_t steady_from;   /* link figures from then on */
    int64_t steady_q_max, steady_audio_q_max;
} sim;

static sim *sim_new(uint64_t seed, bool paced)
{
    sim *s = calloc(1, sizeof(*s));
    s->env = pl_env_seeded(&s->seed, seed);
    link_init(&s->down, seed + 1, LINK_BPS, LINK_DELAY_US);
    s->down.max_queue_us = LINK_QUEUE_US;
    twcc_path_init(&s->path, &s->env, TWCC_EXT, seed + 2, LINK_DELAY_US);
    s->bwe = pl_bwe_create(&s->env, 300000);
    s->steady_from = 2 * SECOND;
    pl_bwe_on_rtt(s->bwe, 2 * LINK_DELAY_US);
    if (paced) {
        pl_pacer_config cfg = {.twcc_ext = TWCC_EXT, .padding_ssrc = PAD_SSRC, .padding_pt = 97};
        if (getenv("PACER_FACTOR"))
            cfg.pacing_factor = atof(getenv("PACER_FACTOR"));
        s->pacer = pl_pacer_create(&s->env, &cfg);
        assert_non_null(s->pacer);
        pl_pacer_set_rate(s->pacer, pl_bwe_estimate(s->bwe));
    }
    assert_non_null(s->bwe);
    return s;
}

static void sim_free(sim *s)
{
    pl_pacer_destroy(s->pacer);
    pl_bwe_destroy(s->bwe);
    twcc_path_free(&s->path);
    link_free(&s->down);
    free(s);
}

/* ---- the sender ---- */

static cluster *find_cluster(sim *s, uint32_t id)
{
    for (size_t i = 0; i < s->n_clusters; i++)
        if (s->clusters[i].id == id)
            return &s->clusters[i];
    return NULL;
}

/* A packet leaves the sender: to the estimator's history and the link. */
static void on_wire(sim *s, const uint8_t *pkt, size_t len, enum pl_pacer_class cls,
                    uint16_t twcc_seq, uint32_t id, int64_t waited, bool marker)
{
    pl_bwe_on_sent(s->bwe, s->now, twcc_seq, len, id);
    link_send(&s->down, s->now, pkt, len);
    int64_t *max = cls == PL_PACER_AUDIO   ? &s->audio_wait_max
                   : cls == PL_PACER_VIDEO ? &s->video_wait_max
                   : cls == PL_PACER_RTX   ? &s->rtx_wait_max
                                           : NULL;
    if (max && waited > *max)
        *max = waited;
    s->audio_sent += cls == PL_PACER_AUDIO;
    s->video_sent += cls == PL_PACER_VIDEO;
    s->rtx_sent += cls == PL_PACER_RTX;
    cluster *c = id ? find_cluster(s, id) : NULL;
    if (c) {
        if (!c->packets) {
            c->first = s->now;
            c->mid_frame = s->in_frame;
        }
        c->packets++;
        c->bytes += len;
        c->last = s->now;
        c->last_len = len;
    }
    if (cls == PL_PACER_VIDEO)
        s->in_frame = !marker;
}

static void push(sim *s, enum pl_pacer_class cls, const uint8_t *pkt, size_t len, bool marker)
{
    if (s->pacer) {
        int rc = pl_pacer_push(s->pacer, s->now, cls, pkt, len, marker);
        assert_true(rc == PL_OK || (cls == PL_PACER_RTX && rc == PL_ENOSPC));
        return;
    }
    uint8_t buf[LINK_MTU];
    memcpy(buf, pkt, len);
    uint16_t seq = s->twcc_seq++;
    int n = pl_pacer_write_twcc(buf, len, sizeof(buf), TWCC_EXT, seq);
    assert_true(n > 0);
    on_wire(s, buf, (size_t)n, cls, seq, 0, 0, marker);
}

static void pace(sim *s)
{
    if (!s->pacer)
        return;
    pl_pacer_out o;
    uint8_t buf[LINK_MTU];
    while (pl_pacer_poll(s->pacer, s->now, &o, buf, sizeof(buf)) == PL_OK)
        on_wire(s, buf, o.len, o.cls, o.twcc_seq, o.cluster, o.queued_us, o.marker);
}

static size_t rtp(uint8_t *out, uint32_t ssrc, uint8_t pt, uint16_t seq, uint32_t ts, bool marker,
                  size_t payload)
{
    pl_wbuf w = pl_wbuf_make(out, LINK_MTU);
    pl_rtp_header h = {
        .payload_type = pt, .seq = seq, .timestamp = ts, .ssrc = ssrc, .marker = marker};
    pl_rtp_write_header(&w, &h, NULL, 0);
    pl_wbuf_zeros(&w, payload);
    assert_true(pl_wbuf_ok(&w));
    return w.len;
}

/* A frame: a keyframe every 2 s, deltas so that the whole is 500 kbit/s,
 * in packets of at most 1200 bytes of payload, the marker on the last. */
static void encode_frame(sim *s)
{
    const uint64_t period_bytes = (uint64_t)VIDEO_BPS / 8 * FRAMES_PER_KEY * FRAME_US / SECOND;
    const size_t delta = (size_t)(period_bytes - KEYFRAME_BYTES) / (FRAMES_PER_KEY - 1);
    size_t bytes = s->frames % FRAMES_PER_KEY == 0 ? KEYFRAME_BYTES : delta;
    size_t packets = (bytes + PAYLOAD - 1) / PAYLOAD;
    uint32_t ts = s->frames * 3000;
    for (size_t i = 0; i < packets; i++) {
        uint8_t pkt[LINK_MTU];
        size_t part = bytes / packets + (i < bytes % packets);
        bool last = i + 1 == packets;
        size_t n = rtp(pkt, VIDEO_SSRC, 96, s->video_seq++, ts, last, part);
        push(s, PL_PACER_VIDEO, pkt, n, last);
    }
    s->frames++;
}

static void encode_audio(sim *s)
{
    uint8_t pkt[LINK_MTU];
    size_t n = rtp(pkt, AUDIO_SSRC, 111, s->audio_seq, s->audio_seq * 960u, false,
                   AUDIO_BYTES - PL_RTP_HEADER_MIN);
    s->audio_seq++;
    push(s, PL_PACER_AUDIO, pkt, n, false);
}

/* A subscriber's NACKs for the last `n` video packets at once. */
static void nack_storm(sim *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        uint8_t pkt[LINK_MTU];
        size_t len = rtp(pkt, RTX_SSRC, 98, s->rtx_seq++, 0, false, PAYLOAD + 2);
        push(s, PL_PACER_RTX, pkt, len, false);
    }
}

static void take_probe(sim *s)
{
    pl_bwe_probe pr;
    if (!s->pacer || !pl_bwe_probe_poll(s->bwe, s->now, &pr))
        return;
    assert_int_equal(pl_pacer_probe(s->pacer, s->now, &pr), PL_OK);
    if (s->n_clusters < MAX_CLUSTERS)
        s->clusters[s->n_clusters++] = (cluster){.id = pr.id, .bps = pr.bps, .asked = s->now};
}

/* ---- the receiver and the feedback path ---- */

static void receive(sim *s)
{
    link_packet p;
    while (link_pop(&s->down, s->now, &p)) {
        pl_rtp_header h = twcc_path_arrive(&s->path, s->now, p.data, p.len);
        if (p.queue_us > s->link_q_max)
            s->link_q_max = p.queue_us;
        if (h.ssrc == AUDIO_SSRC && p.queue_us > s->audio_link_q_max)
            s->audio_link_q_max = p.queue_us;
        if (s->now >= s->steady_from && p.queue_us > s->steady_q_max)
            s->steady_q_max = p.queue_us;
        if (s->now >= s->steady_from && h.ssrc == AUDIO_SSRC && p.queue_us > s->steady_audio_q_max)
            s->steady_audio_q_max = p.queue_us;
        s->link_rx_bytes += p.len;
    }
}

/* The pacer goes at the estimate each feedback leaves. */
static void take_feedback(sim *s)
{
    while (twcc_path_take(&s->path, s->now, s->bwe))
        if (s->pacer)
            pl_pacer_set_rate(s->pacer, pl_bwe_estimate(s->bwe));
}

/* ---- the clock ---- */

static int64_t earliest(int64_t a, int64_t b)
{
    return a < b ? a : b;
}

static void sim_run(sim *s, int64_t until)
{
    while (s->now < until) {
        int64_t t = earliest(s->next_frame, s->next_audio);
        if (s->request_every)
            t = earliest(t, s->next_request);
        if (s->pacer)
            t = earliest(t, pl_pacer_next_timeout(s->pacer));
        t = earliest(t, link_next(&s->down));
        t = earliest(t, vnet_next(&s->path.up));
        t = earliest(t, twcc_path_feedback_due(&s->path));
        t = earliest(t, until);
        if (t > s->now)
            s->now = t;
        if (s->next_audio <= s->now) {
            encode_audio(s);
            s->next_audio += AUDIO_US;
        }
        if (s->next_frame <= s->now) {
            encode_frame(s);
            s->next_frame += FRAME_US;
        }
        if (s->request_every && s->next_request <= s->now) {
            pl_bwe_request_probe(s->bwe, s->now, 2 * pl_bwe_estimate(s->bwe));
            s->next_request += s->request_every;
        }
        take_probe(s);
        pace(s);
        receive(s);
        twcc_path_send(&s->path, s->now);
        take_feedback(s);
        if (getenv("PACER_TRACE") && s->now >= s->next_trace) {
            s->next_trace += 100 * MS;
            pl_pacer_stats st = {0};
            if (s->pacer)
                pl_pacer_get_stats(s->pacer, s->now, &st);
            print_message("t=%.1f est=%llu rate=%llu pacer video %zu B oldest %lld ms; link q %lld "
                          "ms dropped %llu\n",
                          (double)s->now / SECOND, (unsigned long long)pl_bwe_estimate(s->bwe),
                          (unsigned long long)st.rate_bps, st.cls[PL_PACER_VIDEO].queued_bytes,
                          (long long)(st.cls[PL_PACER_VIDEO].oldest_us / MS),
                          (long long)(link_queue_delay(&s->down, s->now) / MS),
                          (unsigned long long)s->down.dropped_queue);
        }
    }
}

static void print_figures(sim *s, const char *name)
{
    print_message("# %s: link dropped %llu of %llu, queue delay max %lld ms (audio %lld ms; "
                  "from 2 s %lld ms, audio %lld ms); pacer delay max: audio %.1f ms, video %lld "
                  "ms, rtx %lld ms; estimate %llu; received %.0f kbit/s\n",
                  name, (unsigned long long)s->down.dropped_queue, (unsigned long long)s->down.sent,
                  (long long)(s->link_q_max / MS), (long long)(s->audio_link_q_max / MS),
                  (long long)(s->steady_q_max / MS), (long long)(s->steady_audio_q_max / MS),
                  (double)s->audio_wait_max / MS, (long long)(s->video_wait_max / MS),
                  (long long)(s->rtx_wait_max / MS), (unsigned long long)pl_bwe_estimate(s->bwe),
                  (double)s->link_rx_bytes * 8 / ((double)s->now / SECOND) / 1000);
    if (!s->pacer)
        return;
    pl_pacer_stats st;
    pl_pacer_get_stats(s->pacer, s->now, &st);
    print_message("# %s pacer: drained faster %llu, rtx over %llu expired %llu, probes %llu "
                  "started %llu done %llu expired, padding %llu packets %llu B\n",
                  name, (unsigned long long)st.drained_faster, (unsigned long long)st.rtx_over,
                  (unsigned long long)st.rtx_expired, (unsigned long long)st.probes_started,
                  (unsigned long long)st.probes_done, (unsigned long long)st.probes_expired,
                  (unsigned long long)st.padding_packets, (unsigned long long)st.padding_bytes);
}

/* ---- the scenarios ---- */

/* Keyframes burst into the link overflow its queue; paced, they do not,
 * and audio passes the video waiting in the pacer. */
static void test_keyframes_paced_and_burst(void **state)
{
    (void)state;
    sim *burst = sim_new(1, false);
    sim_run(burst, 20 * SECOND);
    print_figures(burst, "burst");
    sim *paced = sim_new(1, true);
    sim_run(paced, 20 * SECOND);
    print_figures(paced, "paced");

    assert_true(burst->down.dropped_queue > 0);
    assert_int_equal(paced->down.dropped_queue, 0);
    assert_true(paced->link_q_max < LINK_QUEUE_US);
    assert_true(paced->audio_wait_max < 20 * MS);
    assert_true(paced->audio_link_q_max < burst->audio_link_q_max);
    /* Video is spread: keyframes wait in the pacer, not in the link. */
    assert_true(paced->video_wait_max > 100 * MS);
    assert_true(paced->video_wait_max <= PL_PACER_MAX_VIDEO_DELAY_US * 11 / 10);
    assert_true(paced->audio_sent >= 20 * SECOND / AUDIO_US);
    sim_free(burst);
    sim_free(paced);
}

/* A storm of NACKs: the retransmissions cannot push audio back, and what
 * exceeds what the rate sends in 200 ms is refused, counted. */
static void test_rtx_storm(void **state)
{
    (void)state;
    sim *s = sim_new(2, true);
    sim_run(s, 5 * SECOND);
    int64_t audio_before = s->audio_wait_max;
    nack_storm(s, 100);
    sim_run(s, 10 * SECOND);
    print_figures(s, "rtx storm");
    pl_pacer_stats st;
    pl_pacer_get_stats(s->pacer, s->now, &st);
    assert_true(st.rtx_over > 50);
    assert_true(s->rtx_sent > 5 && s->rtx_sent < 50);
    assert_int_equal(s->rtx_sent + st.rtx_over + st.rtx_expired, 100);
    assert_true(s->audio_wait_max < 20 * MS);
    assert_true(s->audio_wait_max <= audio_before + 10 * MS);
    assert_int_equal(s->down.dropped_queue, 0);
    sim_free(s);
}

/* Every cluster the estimator asks for (at the start, and every 1.3 s
 * when the caller asks for twice the estimate, so that some requests
 * come in the middle of a keyframe) starts at a frame boundary and goes
 * at its rate. */
static void test_probes(void **state)
{
    (void)state;
    sim *s = sim_new(3, true);
    s->next_request = 2500 * MS;
    s->request_every = 1300 * MS;
    sim_run(s, 20 * SECOND);
    size_t measured = 0;
    for (size_t i = 0; i < s->n_clusters; i++) {
        cluster *c = &s->clusters[i];
        if (!c->packets)
            continue;
        double bps = c->last > c->first
                         ? (double)(c->bytes - c->last_len) * 8e6 / (double)(c->last - c->first)
                         : 0;
        print_message("# cluster %u: asked %llu bit/s, started %.1f ms later, %u packets, %llu B "
                      "over %.1f ms: %.0f bit/s\n",
                      c->id, (unsigned long long)c->bps, (double)(c->first - c->asked) / MS,
                      c->packets, (unsigned long long)c->bytes, (double)(c->last - c->first) / MS,
                      bps);
        assert_false(c->mid_frame);
        assert_true(c->packets >= PL_BWE_PROBE_PACKETS);
        assert_true(bps >= 0.85 * (double)c->bps && bps <= 1.3 * (double)c->bps);
        measured++;
    }
    print_figures(s, "probes");
    assert_true(measured >= 3);
    pl_pacer_stats st;
    pl_pacer_get_stats(s->pacer, s->now, &st);
    assert_int_equal(st.probes_cut, 0);
    assert_int_equal(st.probes_done, measured);
    sim_free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_keyframes_paced_and_burst),
        cmocka_unit_test(test_rtx_storm),
        cmocka_unit_test(test_probes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
