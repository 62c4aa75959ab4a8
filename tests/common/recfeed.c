/* The recorder tests' senders and readers (see recfeed.h). */
#include "recfeed.h"

#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "mediaprobe.h"
#include "parley/buf.h"
#include "parley/rtp.h"
#include "parley/vp8.h"

bool rt_in_child;
const double rt_talk_all[] = {0, 1000, -1};
static char root[] = "/tmp/recorder-XXXXXX";

/* The clips' sizes: each participant's video is told by its size. */
const unsigned rt_sizes[3][2] = {{320, 240}, {256, 192}, {176, 144}};
pl_clip *rt_clips[3];

int rt_setup(void **state)
{
    (void)state;
    if (!mkdtemp(root))
        return -1;
    for (int i = 0; i < 3; i++) {
        /* Four seconds, key frames at 0 and 2 s, looped. */
        pl_clip_config cfg = {
            .video_frames = 120, .width = rt_sizes[i][0], .height = rt_sizes[i][1]};
        if (!(rt_clips[i] = pl_clip_create_with((unsigned)(14 + i), &cfg)))
            return -1;
    }
    return 0;
}

int rt_teardown(void **state)
{
    (void)state;
    for (int i = 0; i < 3; i++)
        pl_clip_destroy(rt_clips[i]);
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", root);
    return system(cmd) == 0 ? 0 : -1;
}

/* A fresh directory for one test's recording. */
void rt_dir(char *out, size_t cap, const char *name)
{
    snprintf(out, cap, "%s/%s", root, name);
    assert_int_equal(mkdir(out, 0755), 0);
}

void rt_path(char *out, size_t cap, const char *dir, const char *name)
{
    snprintf(out, cap, "%s/%s", dir, name);
}

/* ---- what the participants send ------------------------------------------ */

static uint64_t rng = 0x9e3779b97f4a7c15ull;

uint32_t rt_rand(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint32_t)(rng >> 11);
}

static rt_ev *rt_ev_new(rt_events *l, int64_t at, int op)
{
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 4096;
        l->e = realloc(l->e, l->cap * sizeof(rt_ev));
        assert_non_null(l->e);
    }
    rt_ev *e = &l->e[l->n];
    memset(e, 0, offsetof(rt_ev, b));
    e->at = at;
    e->order = l->n++;
    e->op = op;
    return e;
}

void rt_op(rt_events *l, int64_t t, int op, const char *who, uint32_t key, int codec)
{
    rt_ev *e = rt_ev_new(l, EPOCH + t, op);
    e->who = who;
    e->key = key;
    e->codec = codec;
}

void rt_sender_init(rt_sender *s, const char *id, uint32_t keys, double hz, const pl_clip *clip,
                    const double *talk)
{
    memset(s, 0, sizeof(*s));
    s->id = id;
    s->akey = keys;
    s->vkey = keys + 1;
    s->hz = hz;
    s->clip = clip;
    s->talk = talk;
    int err;
    s->enc = opus_encoder_create(SR, 1, OPUS_APPLICATION_VOIP, &err);
    assert_int_equal(err, OPUS_OK);
    opus_encoder_ctl(s->enc, OPUS_SET_BITRATE(32000));
}

/* A new source: what a reconnected sender's new peer connection sends. */
void rt_source(rt_sender *s, int64_t t)
{
    s->assrc = rt_rand();
    s->vssrc = rt_rand();
    s->aseq = (uint16_t)rt_rand();
    s->vseq = (uint16_t)rt_rand();
    s->abase = rt_rand();
    s->vbase = rt_rand();
    s->vsrc_t0 = t;
}

static bool rt_talking(const rt_sender *s, int64_t t)
{
    for (const double *p = s->talk; p && p[0] >= 0; p += 2)
        if (t >= (int64_t)(p[0] * SEC) && t < (int64_t)(p[1] * SEC))
            return true;
    return false;
}

/* Arrival: 30 ms after sending, and 0-40 ms of jitter, which reorders.
 * A slow path's queue drains at slow_until: what it held arrives in a
 * burst, in order. */
static int64_t rt_arrival(const rt_sender *s, int64_t t)
{
    int64_t queued = s->slow_until ? s->slow_until + 300 * MS - t : 0;
    if (queued > 300 * MS)
        queued = 300 * MS;
    return EPOCH + t + 30 * MS + (int64_t)(rt_rand() % 40000) + (queued > 0 ? queued : 0);
}

static void rt_rtp(rt_ev *e, uint32_t ssrc, uint16_t seq, uint32_t ts, bool marker,
                   const uint8_t *p, size_t len)
{
    pl_wbuf w = pl_wbuf_make(e->b, sizeof(e->b));
    pl_rtp_header h = {.payload_type = 111, .seq = seq, .timestamp = ts, .ssrc = ssrc};
    h.marker = marker;
    pl_rtp_write_header(&w, &h, NULL, 0);
    pl_wbuf_bytes(&w, p, len);
    assert_true(pl_wbuf_ok(&w));
    e->len = (uint16_t)w.len;
}

/* Audio packets every 20 ms in [t0, t1): the tone while talking, silence
 * otherwise (no DTX: a packet every 20 ms). */
void rt_send_audio(rt_events *l, rt_sender *s, int64_t t0, int64_t t1)
{
    float pcm[960];
    uint8_t out[400];
    for (int64_t t = t0; t < t1; t += 20 * MS) {
        int64_t s0 = t * SR / SEC;
        double amp = rt_talking(s, t) ? AMP : 0;
        for (int i = 0; i < 960; i++)
            pcm[i] = (float)(amp * sin(2 * M_PI * s->hz * (double)(s0 + i) / SR));
        int n = opus_encode_float(s->enc, pcm, 960, out, sizeof(out));
        assert_true(n > 0);
        rt_ev *e = rt_ev_new(l, rt_arrival(s, t), RT_PKT);
        e->key = s->akey;
        rt_rtp(e, s->assrc, s->aseq++, s->abase + (uint32_t)s0, false, out, (size_t)n);
    }
}

/* Video frames at 30 fps in [t0, t1), each split into RTP packets. */
void rt_send_video(rt_events *l, rt_sender *s, int64_t t0, int64_t t1)
{
    static uint8_t out[64 * 1024];
    size_t lens[64];
    for (int64_t j = (t0 * FPS + SEC - 1) / SEC; j * SEC / FPS < t1; j++) {
        int64_t t = j * SEC / FPS;
        size_t idx = (size_t)((t - s->vsrc_t0) * FPS / SEC) % pl_clip_video_count(s->clip);
        const pl_clip_frame *f = pl_clip_video(s->clip, idx);
        int n = pl_vp8_packetize(s->pic++ & 0x7fff, f->data, f->len, MAX_PAYLOAD, out, sizeof(out),
                                 lens, 64);
        assert_true(n > 0);
        size_t off = 0;
        for (int i = 0; i < n; i++) {
            rt_ev *e = rt_ev_new(l, rt_arrival(s, t), RT_PKT);
            e->key = s->vkey;
            rt_rtp(e, s->vssrc, s->vseq++, s->vbase + (uint32_t)(j * 3000), i == n - 1, out + off,
                   lens[i]);
            off += lens[i];
        }
    }
}

void rt_send(rt_events *l, rt_sender *s, int64_t t0, int64_t t1)
{
    rt_send_audio(l, s, t0, t1);
    if (s->clip)
        rt_send_video(l, s, t0, t1);
}

int rt_by_arrival(const void *a, const void *b)
{
    const rt_ev *x = a, *y = b;
    if (x->at != y->at)
        return x->at < y->at ? -1 : 1;
    return x->order < y->order ? -1 : x->order > y->order;
}

static void rt_poll_keyframes(pl_recorder *r, int64_t now, rt_keyframes *k)
{
    uint32_t key, ssrc;
    while (pl_recorder_poll_keyframe(r, now, &key, &ssrc)) {
        if (k && k->n < 64) {
            k->at[k->n] = now;
            k->key[k->n] = key;
            k->ssrc[k->n++] = ssrc;
        }
    }
}

/* What the recorder thread does: advance at each timeout up to now. */
void rt_run_until(pl_recorder *r, int64_t now, rt_keyframes *k)
{
    int64_t nt;
    int guard = 0;
    while ((nt = pl_recorder_next_timeout(r)) <= now) {
        must(++guard < 100000);
        must(pl_recorder_advance(r, nt) == PL_OK);
        rt_poll_keyframes(r, nt, k);
    }
}

/* Plays the events from `from` that arrive before `until`, in arrival
 * order (sorted by feed); every packet must be taken. Returns where it
 * stopped. */
size_t rt_feed_range(pl_recorder *r, rt_events *l, size_t from, int64_t until, rt_keyframes *k)
{
    size_t i = from;
    for (; i < l->n && l->e[i].at < until; i++) {
        rt_ev *e = &l->e[i];
        rt_run_until(r, e->at, k);
        switch (e->op) {
        case RT_PKT:
            must(pl_recorder_push(r, e->key, e->b, e->len, e->at) == PL_OK);
            break;
        case RT_ADD_TRACK:
            must(pl_recorder_add_track(r, e->who, e->key, e->codec) == PL_OK);
            break;
        case RT_RM_TRACK:
            must(pl_recorder_remove_track(r, e->key, e->at) == PL_OK);
            break;
        case RT_ADD_PART:
            must(pl_recorder_add_participant(r, e->who, e->who, (unsigned)e->codec) == PL_OK);
            break;
        case RT_RM_PART:
            must(pl_recorder_remove_participant(r, e->who, e->at) == PL_OK);
            break;
        }
        rt_poll_keyframes(r, e->at, k);
    }
    return i;
}

void rt_feed(pl_recorder *r, rt_events *l, rt_keyframes *k)
{
    qsort(l->e, l->n, sizeof(rt_ev), rt_by_arrival);
    rt_feed_range(r, l, 0, INT64_MAX, k);
    l->n = 0;
}

pl_recorder *rt_recorder(const char *dir, uint64_t max_bytes)
{
    pl_recorder_config cfg = {.dir = dir, .epoch_us = EPOCH, .max_bytes = max_bytes};
    pl_env env = pl_env_default();
    pl_recorder *r = NULL;
    must(pl_recorder_create(&env, &cfg, &r) == PL_OK);
    return r;
}

void rt_join(pl_recorder *r, rt_sender *s, unsigned media)
{
    must(pl_recorder_add_participant(r, s->id, s->id, media) == PL_OK);
    if (media & PL_RECORDER_AUDIO)
        must(pl_recorder_add_track(r, s->id, s->akey, PL_RECFRAME_OPUS) == PL_OK);
    if (media & PL_RECORDER_VIDEO)
        must(pl_recorder_add_track(r, s->id, s->vkey, PL_RECFRAME_VP8) == PL_OK);
}

const pl_recorder_file *rt_summary_file(const pl_recorder_summary *s, const char *name)
{
    for (size_t i = 0; i < s->n_files; i++)
        if (strcmp(s->files[i].name, name) == 0)
            return &s->files[i];
    fail_msg("no file %s in the summary", name);
    return NULL;
}

/* ---- reading the files back ---------------------------------------------- */

unsigned rt_tones(const float *x, size_t n, double t0, double t1, const double *hz, int k)
{
    unsigned on = 0;
    for (int i = 0; i < k; i++) {
        double a = mp_tone_amp(x, n, t0, t1, hz[i]);
        if (a > AMP / 3)
            on |= 1u << i;
        else if (a > AMP / 30)
            fail_msg("%.0f Hz at %.3f in [%.1f, %.1f): neither there nor absent", hz[i], a, t0, t1);
    }
    return on;
}

size_t rt_packet_times(const char *file, char kind, double *out, size_t cap)
{
    static char buf[1 << 17];
    assert_int_equal(mp_run(buf, sizeof(buf),
                            "ffprobe -v error -select_streams %c:0 -show_entries packet=pts_time "
                            "-of csv=p=0 %s",
                            kind, file),
                     0);
    size_t n = 0;
    for (char *line = strtok(buf, "\n"); line && n < cap; line = strtok(NULL, "\n"))
        out[n++] = strtod(line, NULL);
    return n;
}

/* One timeline: packet times strictly increasing, audio never
 * overlapping (20 ms packets, in Matroska's milliseconds); returns the
 * longest gap and where it starts. */
double rt_one_timeline(const char *file, char kind, double *gap_at, size_t *count)
{
    static double t[4096];
    size_t n = rt_packet_times(file, kind, t, 4096);
    assert_true(n > 1);
    double gap = 0;
    for (size_t i = 1; i < n; i++) {
        double d = t[i] - t[i - 1];
        if (d < (kind == 'a' ? 0.019 : 0.0005))
            fail_msg("%s %c: %.3f after %.3f", file, kind, t[i], t[i - 1]);
        if (d > gap) {
            gap = d;
            *gap_at = t[i - 1];
        }
    }
    *count = n;
    return gap;
}

/* The tracks of a participant's file as they were sent. */
void rt_check_tracks(const char *file, unsigned w, unsigned h)
{
    char s[64];
    mp_probe(file, 'v', "codec_name", s, sizeof(s));
    assert_string_equal(s, "vp8");
    assert_int_equal(mp_probe_long(file, 'v', "width"), w);
    assert_int_equal(mp_probe_long(file, 'v', "height"), h);
    mp_probe(file, 'v', "r_frame_rate", s, sizeof(s));
    assert_string_equal(s, "30/1");
    mp_probe(file, 'a', "codec_name", s, sizeof(s));
    assert_string_equal(s, "opus");
}

void rt_sender_free(rt_sender *s)
{
    opus_encoder_destroy(s->enc);
    s->enc = NULL;
}
