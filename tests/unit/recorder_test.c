/* A recording session end to end: participants' real VP8 (libvpx, the
 * bot's clips) and real Opus (libopus: a tone per participant while it
 * talks) packetized into RTP with the project's writer, pushed with
 * arrival jitter on a virtual clock; the WebM files and the mix read back
 * by the real ffprobe and ffmpeg. */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <opus.h>

#include "content.h"
#include "mediaprobe.h"
#include "parley/buf.h"
#include "parley/recorder.h"
#include "parley/rtp.h"
#include "parley/vp8.h"

#define MS 1000LL
#define SEC 1000000LL
#define EPOCH (100 * SEC) /* the test's clock at the recording's time 0 */
#define SR 48000
#define FPS 30
#define AMP 0.3
#define MAX_PAYLOAD 1200

static char root[] = "/tmp/recorder-XXXXXX";
/* In a forked child a failed check exits instead of jumping back into
 * cmocka, which would run the remaining tests in the child too. */
static bool in_child;
#define must(x)                                                                                    \
    do {                                                                                           \
        if (!(x)) {                                                                                \
            if (in_child)                                                                          \
                _exit(100);                                                                        \
            fail_msg("%s", #x);                                                                    \
        }                                                                                          \
    } while (0)
/* The clips' sizes: each participant's video is told by its size. */
static const unsigned sizes[3][2] = {{320, 240}, {256, 192}, {176, 144}};
static pl_clip *clips[3];

static int setup(void **state)
{
    (void)state;
    if (!mkdtemp(root))
        return -1;
    for (int i = 0; i < 3; i++) {
        /* Four seconds, key frames at 0 and 2 s, looped. */
        pl_clip_config cfg = {.video_frames = 120, .width = sizes[i][0], .height = sizes[i][1]};
        if (!(clips[i] = pl_clip_create_with((unsigned)(14 + i), &cfg)))
            return -1;
    }
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    for (int i = 0; i < 3; i++)
        pl_clip_destroy(clips[i]);
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", root);
    return system(cmd) == 0 ? 0 : -1;
}

/* A fresh directory for one test's recording. */
static void new_dir(char *out, size_t cap, const char *name)
{
    snprintf(out, cap, "%s/%s", root, name);
    assert_int_equal(mkdir(out, 0755), 0);
}

static void file_in(char *out, size_t cap, const char *dir, const char *name)
{
    snprintf(out, cap, "%s/%s", dir, name);
}

/* ---- what the participants send ------------------------------------------ */

enum { OP_PKT, OP_ADD_TRACK, OP_RM_TRACK, OP_ADD_PART, OP_RM_PART };

typedef struct ev {
    int64_t at; /* arrival on the test's clock */
    size_t order;
    int op;
    uint32_t key;
    int codec;
    const char *who;
    uint16_t len;
    uint8_t b[MAX_PAYLOAD + 64];
} ev;

typedef struct evlist {
    ev *e;
    size_t n, cap;
} evlist;

static uint64_t rng = 0x9e3779b97f4a7c15ull;

static uint32_t rnd(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint32_t)(rng >> 11);
}

static ev *ev_new(evlist *l, int64_t at, int op)
{
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 4096;
        l->e = realloc(l->e, l->cap * sizeof(ev));
        assert_non_null(l->e);
    }
    ev *e = &l->e[l->n];
    memset(e, 0, offsetof(ev, b));
    e->at = at;
    e->order = l->n++;
    e->op = op;
    return e;
}

static void ev_op(evlist *l, int64_t t, int op, const char *who, uint32_t key, int codec)
{
    ev *e = ev_new(l, EPOCH + t, op);
    e->who = who;
    e->key = key;
    e->codec = codec;
}

typedef struct sender {
    const char *id;
    uint32_t akey, vkey, assrc, vssrc;
    uint16_t aseq, vseq, pic;
    uint32_t abase, vbase; /* RTP timestamps at time 0 */
    int64_t vsrc_t0;       /* when the current video source started: its key frame */
    double hz;
    const pl_clip *clip;
    OpusEncoder *enc;
    const double *talk; /* on/off pairs, seconds; ends with a negative */
    int64_t slow_until; /* sent before it: a path slower by 300 ms (0: none) */
} sender;

static void sender_init(sender *s, const char *id, uint32_t keys, double hz, const pl_clip *clip,
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
static void sender_source(sender *s, int64_t t)
{
    s->assrc = rnd();
    s->vssrc = rnd();
    s->aseq = (uint16_t)rnd();
    s->vseq = (uint16_t)rnd();
    s->abase = rnd();
    s->vbase = rnd();
    s->vsrc_t0 = t;
}

static bool talking(const sender *s, int64_t t)
{
    for (const double *p = s->talk; p && p[0] >= 0; p += 2)
        if (t >= (int64_t)(p[0] * SEC) && t < (int64_t)(p[1] * SEC))
            return true;
    return false;
}

/* Arrival: 30 ms after sending, and 0-40 ms of jitter, which reorders.
 * A slow path's queue drains at slow_until: what it held arrives in a
 * burst, in order. */
static int64_t arrival(const sender *s, int64_t t)
{
    int64_t queued = s->slow_until ? s->slow_until + 300 * MS - t : 0;
    if (queued > 300 * MS)
        queued = 300 * MS;
    return EPOCH + t + 30 * MS + (int64_t)(rnd() % 40000) + (queued > 0 ? queued : 0);
}

static void rtp(ev *e, uint32_t ssrc, uint16_t seq, uint32_t ts, bool marker, const uint8_t *p,
                size_t len)
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
static void send_audio(evlist *l, sender *s, int64_t t0, int64_t t1)
{
    float pcm[960];
    uint8_t out[400];
    for (int64_t t = t0; t < t1; t += 20 * MS) {
        int64_t s0 = t * SR / SEC;
        double amp = talking(s, t) ? AMP : 0;
        for (int i = 0; i < 960; i++)
            pcm[i] = (float)(amp * sin(2 * M_PI * s->hz * (double)(s0 + i) / SR));
        int n = opus_encode_float(s->enc, pcm, 960, out, sizeof(out));
        assert_true(n > 0);
        ev *e = ev_new(l, arrival(s, t), OP_PKT);
        e->key = s->akey;
        rtp(e, s->assrc, s->aseq++, s->abase + (uint32_t)s0, false, out, (size_t)n);
    }
}

/* Video frames at 30 fps in [t0, t1), each split into RTP packets. */
static void send_video(evlist *l, sender *s, int64_t t0, int64_t t1)
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
            ev *e = ev_new(l, arrival(s, t), OP_PKT);
            e->key = s->vkey;
            rtp(e, s->vssrc, s->vseq++, s->vbase + (uint32_t)(j * 3000), i == n - 1, out + off,
                lens[i]);
            off += lens[i];
        }
    }
}

static void send_both(evlist *l, sender *s, int64_t t0, int64_t t1)
{
    send_audio(l, s, t0, t1);
    if (s->clip)
        send_video(l, s, t0, t1);
}

static int by_arrival(const void *a, const void *b)
{
    const ev *x = a, *y = b;
    if (x->at != y->at)
        return x->at < y->at ? -1 : 1;
    return x->order < y->order ? -1 : x->order > y->order;
}

/* Keyframe requests seen while feeding. */
typedef struct kfs {
    int n;
    int64_t at[64];
    uint32_t key[64], ssrc[64];
} kfs;

static void poll_kf(pl_recorder *r, int64_t now, kfs *k)
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
static void run_until(pl_recorder *r, int64_t now, kfs *k)
{
    int64_t nt;
    int guard = 0;
    while ((nt = pl_recorder_next_timeout(r)) <= now) {
        must(++guard < 100000);
        must(pl_recorder_advance(r, nt) == PL_OK);
        poll_kf(r, nt, k);
    }
}

/* Plays the events from `from` that arrive before `until`, in arrival
 * order (sorted by feed); every packet must be taken. Returns where it
 * stopped. */
static size_t feed_range(pl_recorder *r, evlist *l, size_t from, int64_t until, kfs *k)
{
    size_t i = from;
    for (; i < l->n && l->e[i].at < until; i++) {
        ev *e = &l->e[i];
        run_until(r, e->at, k);
        switch (e->op) {
        case OP_PKT:
            must(pl_recorder_push(r, e->key, e->b, e->len, e->at) == PL_OK);
            break;
        case OP_ADD_TRACK:
            must(pl_recorder_add_track(r, e->who, e->key, e->codec) == PL_OK);
            break;
        case OP_RM_TRACK:
            must(pl_recorder_remove_track(r, e->key, e->at) == PL_OK);
            break;
        case OP_ADD_PART:
            must(pl_recorder_add_participant(r, e->who, e->who, (unsigned)e->codec) == PL_OK);
            break;
        case OP_RM_PART:
            must(pl_recorder_remove_participant(r, e->who, e->at) == PL_OK);
            break;
        }
        poll_kf(r, e->at, k);
    }
    return i;
}

static void feed(pl_recorder *r, evlist *l, kfs *k)
{
    qsort(l->e, l->n, sizeof(ev), by_arrival);
    feed_range(r, l, 0, INT64_MAX, k);
    l->n = 0;
}

static pl_recorder *rec_new(const char *dir, uint64_t max_bytes)
{
    pl_recorder_config cfg = {.dir = dir, .epoch_us = EPOCH, .max_bytes = max_bytes};
    pl_env env = pl_env_default();
    pl_recorder *r = NULL;
    must(pl_recorder_create(&env, &cfg, &r) == PL_OK);
    return r;
}

static void join(pl_recorder *r, sender *s, unsigned media)
{
    must(pl_recorder_add_participant(r, s->id, s->id, media) == PL_OK);
    if (media & PL_RECORDER_AUDIO)
        must(pl_recorder_add_track(r, s->id, s->akey, PL_RECFRAME_OPUS) == PL_OK);
    if (media & PL_RECORDER_VIDEO)
        must(pl_recorder_add_track(r, s->id, s->vkey, PL_RECFRAME_VP8) == PL_OK);
}

static const pl_recorder_file *summary_file(const pl_recorder_summary *s, const char *name)
{
    for (size_t i = 0; i < s->n_files; i++)
        if (strcmp(s->files[i].name, name) == 0)
            return &s->files[i];
    fail_msg("no file %s in the summary", name);
    return NULL;
}

/* ---- reading the files back ---------------------------------------------- */

/* The first audio stream decoded to mono float at 48 kHz. */
static float *decode(const char *file, size_t *n)
{
    unsetenv("MALLOC_PERTURB_");
    char cmd[512];
    snprintf(cmd, sizeof(cmd),
             "ffmpeg -nostdin -v error -i %s -map 0:a:0 -f f32le -ac 1 -ar 48000 -", file);
    FILE *f = popen(cmd, "r");
    assert_non_null(f);
    size_t cap = 30 * SR, len = 0, got;
    float *x = malloc(cap * sizeof(float));
    assert_non_null(x);
    while ((got = fread(x + len, sizeof(float), cap - len, f)) > 0) {
        len += got;
        if (len == cap) {
            cap *= 2;
            x = realloc(x, cap * sizeof(float));
            assert_non_null(x);
        }
    }
    assert_int_equal(pclose(f), 0);
    *n = len;
    return x;
}

/* Amplitude of freq in x over [t0, t1) seconds (Goertzel). */
static double tone(const float *x, size_t n, double t0, double t1, double freq)
{
    size_t a = (size_t)(t0 * SR), b = (size_t)(t1 * SR);
    assert_true(b <= n);
    double w = 2 * M_PI * freq / SR, c = 2 * cos(w), s1 = 0, s2 = 0;
    for (size_t i = a; i < b; i++) {
        double s0 = x[i] + c * s1 - s2;
        s2 = s1;
        s1 = s0;
    }
    return 2 * sqrt(s1 * s1 + s2 * s2 - c * s1 * s2) / (double)(b - a);
}

/* Which of the tones sound in [t0, t1): a bit per tone, at a tenth of
 * what was sent; the others must be far below it. */
static unsigned tones_in(const float *x, size_t n, double t0, double t1, const double *hz, int k)
{
    unsigned on = 0;
    for (int i = 0; i < k; i++) {
        double a = tone(x, n, t0, t1, hz[i]);
        if (a > AMP / 3)
            on |= 1u << i;
        else if (a > AMP / 30)
            fail_msg("%.0f Hz at %.3f in [%.1f, %.1f): neither there nor absent", hz[i], a, t0, t1);
    }
    return on;
}

/* Packet times of a file's first stream of a kind. */
static size_t packet_times(const char *file, char kind, double *out, size_t cap)
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
static double one_timeline(const char *file, char kind, double *gap_at, size_t *count)
{
    static double t[4096];
    size_t n = packet_times(file, kind, t, 4096);
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
static void check_tracks(const char *file, unsigned w, unsigned h)
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

/* ---- the tests ----------------------------------------------------------- */

static const double talk_a[] = {1, 8, -1}, talk_b[] = {6, 14, -1}, talk_c[] = {12, 19, -1};
static const double hz3[] = {440, 660, 880};

/* Three participants, 20 s each of VP8 and of Opus that talks in turns:
 * each file has its tracks as sent, for 20 s; the mix has each tone where
 * its participant talked and the speech intervals say when. */
static void test_three_participants(void **state)
{
    (void)state;
    char dir[256], file[512];
    new_dir(dir, sizeof(dir), "three");
    pl_recorder *r = rec_new(dir, 0);
    static const char *ids[3] = {"pA", "pB", "pC"};
    const double *talks[3] = {talk_a, talk_b, talk_c};
    sender s[3];
    evlist l = {0};
    for (int i = 0; i < 3; i++) {
        sender_init(&s[i], ids[i], 10 + 10 * (uint32_t)i, hz3[i], clips[i], talks[i]);
        sender_source(&s[i], 0);
        join(r, &s[i], PL_RECORDER_AUDIO | PL_RECORDER_VIDEO);
        send_both(&l, &s[i], 0, 20 * SEC);
    }
    size_t pushed = 0;
    for (size_t i = 0; i < l.n; i++)
        pushed += l.e[i].op == OP_PKT;
    kfs k = {0};
    qsort(l.e, l.n, sizeof(ev), by_arrival);
    size_t next = feed_range(r, &l, 0, EPOCH + 10 * SEC, &k);
    run_until(r, EPOCH + 10 * SEC, &k);
    /* Ten seconds in: every file open, on disk as far as it is counted
     * (the mix's pages and the WebM clusters are written as they come);
     * pA has spoken, pB speaks. */
    pl_recorder_summary sum;
    assert_int_equal(pl_recorder_summary_get(r, &sum), PL_OK);
    assert_int_equal(sum.n_files, 4);
    for (size_t i = 0; i < sum.n_files; i++) {
        const pl_recorder_file *f = &sum.files[i];
        file_in(file, sizeof(file), dir, f->name);
        struct stat sb;
        assert_int_equal(stat(file, &sb), 0);
        assert_true(f->open && f->present && f->bytes > 0);
        assert_int_equal(f->bytes, (uint64_t)sb.st_size);
    }
    assert_int_equal(sum.n_speech, 2);
    assert_string_equal(sum.speech[0].participant, "pA");
    assert_true(sum.speech[0].end_ms > 7900 && sum.speech[0].end_ms < 8200);
    assert_string_equal(sum.speech[1].participant, "pB");
    feed_range(r, &l, next, INT64_MAX, &k);
    run_until(r, EPOCH + 20200 * MS, &k);
    assert_int_equal(pl_recorder_stop(r, EPOCH + 20200 * MS, &sum), PL_OK);
    assert_int_equal(sum.error, PL_OK);
    assert_int_equal(sum.n_files, 4);

    pl_recorder_stats st;
    pl_recorder_stats_get(r, &st);
    print_message("# %llu packets, %llu audio and %llu video frames, %llu mixed, %d keyframe "
                  "requests, %llu bytes\n",
                  (unsigned long long)st.packets, (unsigned long long)st.frames[0],
                  (unsigned long long)st.frames[1], (unsigned long long)st.mixed, k.n,
                  (unsigned long long)st.bytes);
    assert_int_equal(st.packets, pushed);
    assert_int_equal(st.frames[0], 3 * 1000);
    assert_int_equal(st.frames[1], 3 * 600);
    assert_int_equal(st.mixed, 3 * 1000);
    assert_int_equal(st.unknown_track + st.malformed + st.file_refused + st.file_failed + st.quota +
                         st.mix_refused + st.moved,
                     0);
    assert_int_equal(st.tracks.gaps + st.tracks.resyncs, 0);
    assert_int_equal(st.files_open, 0);

    for (int i = 0; i < 3; i++) {
        char name[64];
        snprintf(name, sizeof(name), "%s.webm", ids[i]);
        file_in(file, sizeof(file), dir, name);
        const pl_recorder_file *f = summary_file(&sum, name);
        struct stat sb;
        assert_int_equal(stat(file, &sb), 0);
        assert_true(f->present && !f->open && f->error == PL_OK && !f->mix);
        assert_int_equal(f->bytes, (uint64_t)sb.st_size);
        assert_string_equal(f->participant, ids[i]);
        assert_string_equal(f->display_name, ids[i]);
        assert_int_equal(f->frames[0], 1000);
        assert_int_equal(f->frames[1], 600);
        check_tracks(file, sizes[i][0], sizes[i][1]);
        double d = mp_format_duration(file);
        assert_true(d > 19.0 && d < 21.0);
        assert_int_equal(mp_decoded_frames(file, 'v'), 600);
        assert_int_equal(mp_decoded_frames(file, 'a'), 1000);
        mp_assert_decodes_clean(file);
        /* Its own tone, only its own, while it talks. */
        size_t n;
        float *x = decode(file, &n);
        double mid = (talks[i][0] + talks[i][1]) / 2;
        assert_int_equal(tones_in(x, n, mid - 2, mid + 2, hz3, 3), 1u << i);
        free(x);
    }

    file_in(file, sizeof(file), dir, "mix.ogg");
    const pl_recorder_file *mf = summary_file(&sum, "mix.ogg");
    assert_true(mf->mix && mf->present && mf->error == PL_OK && mf->bytes > 0);
    struct stat sb;
    assert_int_equal(stat(file, &sb), 0);
    assert_int_equal(mf->bytes, (uint64_t)sb.st_size);
    double d = mp_format_duration(file);
    assert_true(d > 20.1 && d < 20.3);
    size_t n;
    float *x = decode(file, &n);
    assert_true(n >= (size_t)(20.1 * SR));
    assert_int_equal(tones_in(x, n, 2, 5.5, hz3, 3), 1u);
    assert_int_equal(tones_in(x, n, 6.5, 7.5, hz3, 3), 3u);
    assert_int_equal(tones_in(x, n, 9, 11.5, hz3, 3), 2u);
    assert_int_equal(tones_in(x, n, 12.5, 13.5, hz3, 3), 6u);
    assert_int_equal(tones_in(x, n, 15, 18.5, hz3, 3), 4u);
    assert_int_equal(tones_in(x, n, 19.5, 20, hz3, 3), 0u);
    free(x);

    /* One interval per participant, its talking time within 150 ms. */
    assert_int_equal(sum.n_speech, 3);
    for (int i = 0; i < 3; i++) {
        const pl_recorder_speech *sp = NULL;
        for (size_t j = 0; j < sum.n_speech; j++)
            if (strcmp(sum.speech[j].participant, ids[i]) == 0)
                sp = &sum.speech[j];
        assert_non_null(sp);
        print_message("# %s spoke %lld-%lld ms\n", ids[i], (long long)sp->start_ms,
                      (long long)sp->end_ms);
        assert_true(llabs(sp->start_ms - (long long)(talks[i][0] * 1000)) <= 150);
        assert_true(llabs(sp->end_ms - (long long)(talks[i][1] * 1000)) <= 150);
    }
    pl_recorder_destroy(r);
    for (int i = 0; i < 3; i++)
        opus_encoder_destroy(s[i].enc);
    free(l.e);
}

static const double talk_all[] = {0, 100, -1};

/* pD mutes (nothing sent from 5 s to 10 s, its clocks running); pE's
 * media reconnects (new tracks, new keys and SSRCs after a second
 * without); pF's source changes under the same keys without a pause; so
 * does pH's, whose first second came 300 ms late, which placed its first
 * source late: the new one, placed by its arrival, would overlap it. pG,
 * audio only, leaves at 10 s and comes back at 11 s. Each file keeps one
 * timeline and decodes cleanly; pG's return is a second file. */
static void test_mute_and_reconnect(void **state)
{
    (void)state;
    char dir[256], file[512];
    new_dir(dir, sizeof(dir), "reconnect");
    pl_recorder *r = rec_new(dir, 0);
    sender d, e, f, g, h;
    sender_init(&d, "pD", 10, 440, clips[0], talk_all);
    sender_init(&e, "pE", 20, 660, clips[1], talk_all);
    sender_init(&f, "pF", 30, 880, clips[2], talk_all);
    sender_init(&g, "pG", 40, 550, NULL, talk_all);
    sender_init(&h, "pH", 60, 770, clips[0], talk_all);
    h.slow_until = 1 * SEC;
    sender *all[5] = {&d, &e, &f, &g, &h};
    evlist l = {0};
    for (int i = 0; i < 5; i++) {
        sender_source(all[i], 0);
        join(r, all[i], i == 3 ? PL_RECORDER_AUDIO : PL_RECORDER_AUDIO | PL_RECORDER_VIDEO);
    }
    const int64_t end = 15 * SEC;
    send_both(&l, &d, 0, 5 * SEC);
    send_both(&l, &d, 10 * SEC, end);
    send_both(&l, &e, 0, 8 * SEC);
    ev_op(&l, 8500 * MS, OP_RM_TRACK, NULL, e.akey, 0);
    ev_op(&l, 8500 * MS, OP_RM_TRACK, NULL, e.vkey, 0);
    e.akey = 120;
    e.vkey = 121;
    ev_op(&l, 8600 * MS, OP_ADD_TRACK, "pE", e.akey, PL_RECFRAME_OPUS);
    ev_op(&l, 8600 * MS, OP_ADD_TRACK, "pE", e.vkey, PL_RECFRAME_VP8);
    sender_source(&e, 9 * SEC);
    send_both(&l, &e, 9 * SEC, end);
    send_both(&l, &f, 0, 8 * SEC);
    sender_source(&f, 8 * SEC);
    send_both(&l, &f, 8 * SEC, end);
    send_both(&l, &g, 0, 10 * SEC);
    ev_op(&l, 10200 * MS, OP_RM_PART, "pG", 0, 0);
    ev_op(&l, 10900 * MS, OP_ADD_PART, "pG", 0, PL_RECORDER_AUDIO);
    ev_op(&l, 10900 * MS, OP_ADD_TRACK, "pG", g.akey, PL_RECFRAME_OPUS);
    send_both(&l, &g, 11 * SEC, end);
    send_both(&l, &h, 0, 8 * SEC);
    sender_source(&h, 8 * SEC);
    send_both(&l, &h, 8 * SEC, end);
    feed(r, &l, NULL);
    /* The tracks follow their new sources. */
    assert_int_equal(pl_recorder_track_source(r, f.akey), f.assrc);
    assert_int_equal(pl_recorder_track_source(r, f.vkey), f.vssrc);
    assert_int_equal(pl_recorder_track_source(r, e.vkey), e.vssrc);
    assert_int_equal(pl_recorder_track_source(r, 10000), 0);
    pl_recorder_summary sum;
    assert_int_equal(pl_recorder_stop(r, EPOCH + end + 100 * MS, &sum), PL_OK);
    assert_int_equal(sum.error, PL_OK);
    /* pD, pE, pF, pG, pG's second, pH, the mix. */
    assert_int_equal(sum.n_files, 7);
    pl_recorder_stats st;
    pl_recorder_stats_get(r, &st);
    print_message("# moved %llu, source changes %llu, resyncs %llu, replaced %llu\n",
                  (unsigned long long)st.moved, (unsigned long long)st.tracks.source_changes,
                  (unsigned long long)st.tracks.resyncs,
                  (unsigned long long)st.tracks.replaced_frames);
    assert_int_equal(st.tracks.source_changes, 4); /* pF's and pH's audio and video */
    assert_true(st.moved > 0);                     /* pH's new source */
    assert_int_equal(
        st.file_refused + st.file_failed + st.malformed + st.unknown_track + st.misplaced, 0);

    double gap_at, gap;
    size_t n;
    /* pD: a gap of five seconds in both, where it was muted. */
    file_in(file, sizeof(file), dir, "pD.webm");
    gap = one_timeline(file, 'a', &gap_at, &n);
    print_message("# pD audio: %zu packets, gap %.3f s at %.3f\n", n, gap, gap_at);
    assert_true(gap > 4.9 && gap < 5.1 && gap_at > 4.9 && gap_at < 5.1);
    assert_int_equal(n, 500);
    gap = one_timeline(file, 'v', &gap_at, &n);
    assert_true(gap > 4.9 && gap < 5.1 && gap_at > 4.9 && gap_at < 5.1);
    assert_int_equal(n, 300);
    check_tracks(file, sizes[0][0], sizes[0][1]);
    mp_assert_decodes_clean(file);

    /* pE: a second without, then on, in the same file. */
    file_in(file, sizeof(file), dir, "pE.webm");
    gap = one_timeline(file, 'a', &gap_at, &n);
    print_message("# pE audio: %zu packets, gap %.3f s at %.3f\n", n, gap, gap_at);
    assert_true(gap > 0.9 && gap < 1.1 && gap_at > 7.9 && gap_at < 8.1);
    assert_int_equal(n, 700);
    gap = one_timeline(file, 'v', &gap_at, &n);
    assert_true(gap > 0.9 && gap < 1.1);
    assert_int_equal(n, 420);
    double dur = mp_format_duration(file);
    assert_true(dur > 14.5 && dur < 15.5);
    mp_assert_decodes_clean(file);

    /* pF: no pause at all across its change of source. */
    file_in(file, sizeof(file), dir, "pF.webm");
    gap = one_timeline(file, 'a', &gap_at, &n);
    print_message("# pF audio: %zu packets, longest gap %.3f s\n", n, gap);
    assert_true(gap < 0.1);
    assert_true(n >= 745 && n <= 750);
    gap = one_timeline(file, 'v', &gap_at, &n);
    assert_true(gap < 0.1);
    mp_assert_decodes_clean(file);

    /* pH: the same, its new source moved after the old one. */
    file_in(file, sizeof(file), dir, "pH.webm");
    gap = one_timeline(file, 'a', &gap_at, &n);
    print_message("# pH audio: %zu packets, longest gap %.3f s\n", n, gap);
    assert_true(gap < 0.1);
    assert_true(n >= 745 && n <= 750);
    gap = one_timeline(file, 'v', &gap_at, &n);
    assert_true(gap < 0.1);
    mp_assert_decodes_clean(file);

    /* pG: its first file to 10 s, its second from 11 s. */
    file_in(file, sizeof(file), dir, "pG.webm");
    assert_int_equal(mp_stream_count(file), 1);
    one_timeline(file, 'a', &gap_at, &n);
    assert_int_equal(n, 500);
    mp_assert_decodes_clean(file);
    file_in(file, sizeof(file), dir, "pG.2.webm");
    const pl_recorder_file *g2 = summary_file(&sum, "pG.2.webm");
    assert_string_equal(g2->participant, "pG");
    assert_true(g2->present && g2->error == PL_OK);
    double start = mp_probe_double(file, 'a', "start_time");
    assert_true(start > 10.95 && start < 11.1);
    one_timeline(file, 'a', &gap_at, &n);
    assert_int_equal(n, 200);
    mp_assert_decodes_clean(file);
    pl_recorder_destroy(r);
    for (int i = 0; i < 5; i++)
        opus_encoder_destroy(all[i]->enc);
    free(l.e);
}

/* A VP8 packet lost: the track is asked a key frame for, at most every
 * 500 ms, from when its frame is given up until the next key frame;
 * then no more. The frames between are not in the file, which decodes. */
static void test_keyframe_requests(void **state)
{
    (void)state;
    char dir[256], file[512];
    new_dir(dir, sizeof(dir), "keyframe");
    pl_recorder *r = rec_new(dir, 0);
    sender v;
    sender_init(&v, "pV", 50, 0, clips[0], NULL);
    sender_source(&v, 0);
    join(r, &v, PL_RECORDER_VIDEO);
    evlist l = {0};
    send_video(&l, &v, 0, 5 * SEC);
    /* The first packet of frame 10 (a delta frame) never arrives. */
    uint32_t ts10 = v.vbase + 10 * 3000;
    size_t lost = SIZE_MAX;
    for (size_t i = 0; i < l.n && lost == SIZE_MAX; i++) {
        pl_rtp_header h;
        assert_int_equal(pl_rtp_parse(l.e[i].b, l.e[i].len, &h), 0);
        if (h.timestamp == ts10)
            lost = i;
    }
    assert_true(lost != SIZE_MAX);
    memmove(&l.e[lost], &l.e[lost + 1], (l.n - lost - 1) * sizeof(ev));
    l.n--;
    kfs k = {0};
    feed(r, &l, &k);
    run_until(r, EPOCH + 6 * SEC, &k);
    int after = 0;
    int64_t last = 0;
    for (int i = 0; i < k.n; i++) {
        print_message("# keyframe request at %.3f s\n", (double)(k.at[i] - EPOCH) / SEC);
        assert_int_equal(k.key[i], v.vkey);
        assert_int_equal(k.ssrc[i], v.vssrc);
        if (k.at[i] < EPOCH + 300 * MS)
            continue; /* the start, before the first key frame was out */
        /* From the loss (0.33 s, given up 0.5 s later) to the key frame
         * at 2 s. */
        assert_true(k.at[i] > EPOCH + 800 * MS && k.at[i] < EPOCH + 2100 * MS);
        if (after)
            assert_true(k.at[i] - last >= PL_RECORDER_PLI_US);
        last = k.at[i];
        after++;
    }
    assert_true(after >= 2 && after <= 3);
    assert_false(pl_recorder_poll_keyframe(r, EPOCH + 7 * SEC, NULL, NULL));
    pl_recorder_stats st;
    pl_recorder_stats_get(r, &st);
    assert_int_equal(st.tracks.incomplete_frames, 1);
    assert_int_equal(st.tracks.undecodable_frames, 49);
    assert_int_equal(st.keyframe_requests, (uint64_t)k.n);
    assert_int_equal(pl_recorder_stop(r, EPOCH + 6 * SEC, NULL), PL_OK);
    file_in(file, sizeof(file), dir, "pV.webm");
    assert_int_equal(mp_stream_count(file), 1);
    assert_int_equal(mp_decoded_frames(file, 'v'), 150 - 50);
    mp_assert_decodes_clean(file);
    pl_recorder_destroy(r);
    opus_encoder_destroy(v.enc);
    free(l.e);
}

/* SIGKILLed fifteen seconds in: ffprobe and ffmpeg read at least twelve
 * seconds of every participant's file; the mix, which went on through
 * two more seconds without packets, has at least sixteen. */
static void test_killed(void **state)
{
    (void)state;
    char dir[256], file[512];
    new_dir(dir, sizeof(dir), "killed");
    sender s[3];
    evlist l = {0};
    static const char *ids[3] = {"kA", "kB", "kC"};
    for (int i = 0; i < 3; i++) {
        sender_init(&s[i], ids[i], 10 + 10 * (uint32_t)i, hz3[i], clips[i], talk_all);
        sender_source(&s[i], 0);
        send_both(&l, &s[i], 0, 15 * SEC);
    }
    int pfd[2];
    assert_int_equal(pipe(pfd), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        in_child = true;
        close(pfd[0]);
        pl_recorder *r = rec_new(dir, 0);
        for (int i = 0; i < 3; i++)
            join(r, &s[i], PL_RECORDER_AUDIO | PL_RECORDER_VIDEO);
        feed(r, &l, NULL);
        /* Two seconds without a packet: the mix goes on by the clock. */
        run_until(r, EPOCH + 17 * SEC, NULL);
        char done = 'x';
        if (write(pfd[1], &done, 1) != 1)
            _exit(1);
        for (;;)
            pause();
    }
    close(pfd[1]);
    char done = 0;
    assert_int_equal(read(pfd[0], &done, 1), 1);
    close(pfd[0]);
    assert_int_equal(kill(pid, SIGKILL), 0);
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);

    for (int i = 0; i < 3; i++) {
        char name[64];
        snprintf(name, sizeof(name), "%s.webm", ids[i]);
        file_in(file, sizeof(file), dir, name);
        long video = mp_decoded_frames(file, 'v'), audio = mp_decoded_frames(file, 'a');
        print_message("# %s: %ld video frames, %ld audio packets\n", name, video, audio);
        assert_true(video >= 12 * FPS);
        assert_true(audio >= 12 * 50);
        mp_assert_decodes_clean(file);
    }
    file_in(file, sizeof(file), dir, "mix.ogg");
    size_t n;
    float *x = decode(file, &n);
    print_message("# mix.ogg: %.2f s\n", (double)n / SR);
    assert_true(n >= 16 * SR);
    assert_int_equal(tones_in(x, n, 2, 11, hz3, 3), 7u);
    free(x);
    mp_assert_decodes_clean(file);
    for (int i = 0; i < 3; i++)
        opus_encoder_destroy(s[i].enc);
    free(l.e);
}

/* A file that cannot be created (a directory is in its way): the error is
 * the participant's file's and the recording's; its video is a counted
 * drop, its audio still mixed; the others are whole. A recording whose
 * directory is gone reports every file and goes on without crashing. */
static void test_file_errors(void **state)
{
    (void)state;
    char dir[256], file[512];
    new_dir(dir, sizeof(dir), "errors");
    file_in(file, sizeof(file), dir, "pX.webm");
    assert_int_equal(mkdir(file, 0755), 0);
    pl_recorder *r = rec_new(dir, 0);
    sender x, y;
    sender_init(&x, "pX", 10, 440, clips[0], talk_all);
    sender_init(&y, "pY", 20, 660, clips[1], talk_all);
    sender_source(&x, 0);
    sender_source(&y, 0);
    errno = 0;
    assert_int_equal(
        pl_recorder_add_participant(r, "pX", "X", PL_RECORDER_AUDIO | PL_RECORDER_VIDEO), PL_EIO);
    assert_int_equal(errno, EISDIR);
    int os_error = 0;
    assert_int_equal(pl_recorder_error(r, &os_error), PL_EIO);
    assert_int_equal(os_error, EISDIR);
    assert_int_equal(pl_recorder_add_track(r, "pX", x.akey, PL_RECFRAME_OPUS), PL_OK);
    assert_int_equal(pl_recorder_add_track(r, "pX", x.vkey, PL_RECFRAME_VP8), PL_OK);
    join(r, &y, PL_RECORDER_AUDIO | PL_RECORDER_VIDEO);
    evlist l = {0};
    send_both(&l, &x, 0, 5 * SEC);
    send_both(&l, &y, 0, 5 * SEC);
    /* pX's video is refused, everything else taken. */
    qsort(l.e, l.n, sizeof(ev), by_arrival);
    uint64_t refused = 0;
    for (size_t i = 0; i < l.n; i++) {
        run_until(r, l.e[i].at, NULL);
        int rc = pl_recorder_push(r, l.e[i].key, l.e[i].b, l.e[i].len, l.e[i].at);
        if (l.e[i].key == x.vkey) {
            assert_int_equal(rc, PL_EIO);
            refused++;
        } else {
            assert_int_equal(rc, PL_OK);
        }
    }
    pl_recorder_summary sum;
    assert_int_equal(pl_recorder_stop(r, EPOCH + 5200 * MS, &sum), PL_OK);
    assert_int_equal(sum.error, PL_EIO);
    const pl_recorder_file *fx = summary_file(&sum, "pX.webm");
    assert_true(!fx->present && fx->error == PL_EIO && fx->os_error == EISDIR);
    const pl_recorder_file *fy = summary_file(&sum, "pY.webm");
    assert_true(fy->present && fy->error == PL_OK);
    pl_recorder_stats st;
    pl_recorder_stats_get(r, &st);
    assert_int_equal(st.files_failed, 1);
    /* Its video packets at push, its audio frames after the mix. */
    assert_int_equal(st.file_failed, refused + 250);
    assert_int_equal(st.mixed, 2 * 250);
    file_in(file, sizeof(file), dir, "pY.webm");
    assert_int_equal(mp_decoded_frames(file, 'v'), 150);
    mp_assert_decodes_clean(file);
    file_in(file, sizeof(file), dir, "mix.ogg");
    size_t n;
    float *pcm = decode(file, &n);
    assert_int_equal(tones_in(pcm, n, 1, 4.5, (const double[]){440, 660}, 2), 3u);
    free(pcm);
    pl_recorder_destroy(r);

    /* No directory at all. */
    file_in(file, sizeof(file), dir, "gone");
    pl_recorder_config cfg = {.dir = file, .epoch_us = EPOCH};
    pl_env env = pl_env_default();
    assert_int_equal(pl_recorder_create(&env, &cfg, &r), PL_OK);
    assert_int_equal(pl_recorder_error(r, &os_error), PL_EIO);
    assert_int_equal(os_error, ENOENT);
    assert_int_equal(pl_recorder_add_participant(r, "pX", "X", PL_RECORDER_AUDIO), PL_EIO);
    assert_int_equal(pl_recorder_add_track(r, "pX", x.akey, PL_RECFRAME_OPUS), PL_OK);
    l.n = 0;
    send_audio(&l, &x, 5 * SEC, 7 * SEC);
    for (size_t i = 0; i < l.n; i++) {
        run_until(r, l.e[i].at, NULL);
        assert_int_equal(pl_recorder_push(r, l.e[i].key, l.e[i].b, l.e[i].len, l.e[i].at), PL_OK);
    }
    assert_int_equal(pl_recorder_stop(r, EPOCH + 7 * SEC, &sum), PL_OK);
    assert_int_equal(sum.n_files, 2);
    for (size_t i = 0; i < sum.n_files; i++)
        assert_true(!sum.files[i].present && sum.files[i].error == PL_EIO &&
                    sum.files[i].os_error == ENOENT);
    /* The mix went on without its file: the speech is there. */
    assert_int_equal(sum.n_speech, 1);
    pl_recorder_destroy(r);
    opus_encoder_destroy(x.enc);
    opus_encoder_destroy(y.enc);
    free(l.e);
}

/* A disk that fills in the middle (a file size limit, in a child): the
 * file that reaches it fails with EFBIG and stays readable; the other
 * participant's file and the mix, smaller, are whole. */
static void test_write_fails_midway(void **state)
{
    (void)state;
    char dir[256], file[512];
    new_dir(dir, sizeof(dir), "midway");
    sender big, small;
    sender_init(&big, "pBig", 10, 440, clips[0], talk_all);
    sender_init(&small, "pSmall", 20, 660, NULL, talk_all);
    sender_source(&big, 0);
    sender_source(&small, 0);
    evlist l = {0};
    send_both(&l, &big, 0, 10 * SEC);
    send_both(&l, &small, 0, 10 * SEC);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        in_child = true;
        signal(SIGXFSZ, SIG_IGN);
        struct rlimit lim = {.rlim_cur = 300 * 1024, .rlim_max = 300 * 1024};
        if (setrlimit(RLIMIT_FSIZE, &lim) != 0)
            exit(10);
        pl_recorder *r = rec_new(dir, 0);
        join(r, &big, PL_RECORDER_AUDIO | PL_RECORDER_VIDEO);
        join(r, &small, PL_RECORDER_AUDIO);
        qsort(l.e, l.n, sizeof(ev), by_arrival);
        for (size_t i = 0; i < l.n; i++) {
            run_until(r, l.e[i].at, NULL);
            int rc = pl_recorder_push(r, l.e[i].key, l.e[i].b, l.e[i].len, l.e[i].at);
            if (rc != PL_OK && !(rc == PL_EIO && l.e[i].key == big.vkey))
                exit(11);
        }
        int os_error;
        if (pl_recorder_error(r, &os_error) != PL_EIO || os_error != EFBIG)
            exit(12);
        pl_recorder_summary sum;
        if (pl_recorder_stop(r, EPOCH + 10200 * MS, &sum) != PL_OK)
            exit(13);
        for (size_t i = 0; i < sum.n_files; i++) {
            const pl_recorder_file *f = &sum.files[i];
            bool is_big = strcmp(f->name, "pBig.webm") == 0;
            if (!f->present ||
                (is_big ? f->error != PL_EIO || f->os_error != EFBIG : f->error != PL_OK))
                exit(14);
        }
        pl_recorder_stats st;
        pl_recorder_stats_get(r, &st);
        if (st.files_failed != 1 || st.frames[0] < 500)
            exit(15);
        pl_recorder_destroy(r);
        exit(0);
    }
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    file_in(file, sizeof(file), dir, "pBig.webm");
    struct stat sb;
    assert_int_equal(stat(file, &sb), 0);
    long video = mp_decoded_frames(file, 'v');
    print_message("# pBig.webm: %lld bytes, %ld video frames\n", (long long)sb.st_size, video);
    assert_true(sb.st_size <= 300 * 1024);
    assert_true(video >= FPS && video < 300);
    file_in(file, sizeof(file), dir, "pSmall.webm");
    assert_int_equal(mp_decoded_frames(file, 'a'), 500);
    mp_assert_decodes_clean(file);
    file_in(file, sizeof(file), dir, "mix.ogg");
    double d = mp_format_duration(file);
    assert_true(d > 10.1 && d < 10.3);
    mp_assert_decodes_clean(file);
    opus_encoder_destroy(big.enc);
    opus_encoder_destroy(small.enc);
    free(l.e);
}

/* A byte bound: past it every file is finished where it is (whole, with
 * its cues), the error says PL_ENOSPC, and what comes after is a counted
 * drop. */
static void test_byte_bound(void **state)
{
    (void)state;
    char dir[256], file[512];
    new_dir(dir, sizeof(dir), "bound");
    const uint64_t bound = 150 * 1024;
    pl_recorder *r = rec_new(dir, bound);
    sender a;
    sender_init(&a, "pQ", 10, 440, clips[0], talk_all);
    sender_source(&a, 0);
    join(r, &a, PL_RECORDER_AUDIO | PL_RECORDER_VIDEO);
    evlist l = {0};
    send_both(&l, &a, 0, 6 * SEC);
    qsort(l.e, l.n, sizeof(ev), by_arrival);
    int video_refused = 0;
    for (size_t i = 0; i < l.n; i++) {
        run_until(r, l.e[i].at, NULL);
        int rc = pl_recorder_push(r, l.e[i].key, l.e[i].b, l.e[i].len, l.e[i].at);
        if (rc == PL_ENOSPC)
            video_refused++;
        else
            assert_int_equal(rc, PL_OK);
    }
    int os_error = -1;
    assert_int_equal(pl_recorder_error(r, &os_error), PL_ENOSPC);
    assert_int_equal(os_error, 0);
    assert_true(video_refused > 0);
    pl_recorder_stats st;
    pl_recorder_stats_get(r, &st);
    assert_int_equal(st.files_open, 0);
    assert_true(st.quota > (uint64_t)video_refused);
    pl_recorder_summary sum;
    assert_int_equal(pl_recorder_stop(r, EPOCH + 6 * SEC, &sum), PL_OK);
    uint64_t total = 0;
    for (size_t i = 0; i < sum.n_files; i++) {
        assert_int_equal(sum.files[i].error, PL_ENOSPC);
        assert_true(sum.files[i].present);
        total += sum.files[i].bytes;
    }
    print_message("# %llu bytes written for a bound of %llu\n", (unsigned long long)total,
                  (unsigned long long)bound);
    assert_true(total >= bound && total < bound + 128 * 1024);
    file_in(file, sizeof(file), dir, "pQ.webm");
    double d = mp_format_duration(file);
    assert_true(d > 0.5 && d < 3.0);
    mp_assert_decodes_clean(file);
    pl_recorder_destroy(r);
    opus_encoder_destroy(a.enc);
    free(l.e);
}

/* Bad input is a clear error and a counted drop; the files are fine. */
static void test_bad_input(void **state)
{
    (void)state;
    char dir[256], file[512], name[128];
    new_dir(dir, sizeof(dir), "bad");
    pl_env env = pl_env_default();
    pl_recorder *r = NULL;
    pl_recorder_config cfg = {.epoch_us = EPOCH};
    assert_int_equal(pl_recorder_create(&env, &cfg, &r), PL_EINVAL);
    r = rec_new(dir, 0);

    /* Names. */
    static const char *bad_ids[] = {"",
                                    "../x",
                                    "a/b",
                                    ".x",
                                    "a b",
                                    "manifest",
                                    "x..y",
                                    "p@q",
                                    "0123456789012345678901234567890123456789012345678901234567890"
                                    "1234"};
    for (size_t i = 0; i < sizeof(bad_ids) / sizeof(bad_ids[0]); i++) {
        assert_int_equal(pl_recorder_file_name(r, bad_ids[i], name, sizeof(name)), PL_EINVAL);
        assert_int_equal(pl_recorder_add_participant(r, bad_ids[i], "x", PL_RECORDER_AUDIO),
                         PL_EINVAL);
    }
    assert_int_equal(pl_recorder_file_name(r, "p1", name, sizeof(name)), PL_OK);
    assert_string_equal(name, "p1.webm");
    assert_int_equal(pl_recorder_file_name(r, "p1", name, 4), PL_ENOSPC);
    assert_int_equal(pl_recorder_add_participant(r, "p1", "x", 0), PL_EINVAL);
    assert_int_equal(pl_recorder_add_participant(r, "p1", "x", 4), PL_EINVAL);
    /* A display name cut at a whole character (é is two bytes). */
    char longname[400];
    memset(longname, 'a', 255);
    memcpy(longname + 255, "\xc3\xa9tc", 4);
    longname[259] = '\0';
    assert_int_equal(pl_recorder_add_participant(r, "p1", longname, PL_RECORDER_AUDIO), PL_OK);
    assert_int_equal(pl_recorder_add_participant(r, "p1", "x", PL_RECORDER_AUDIO), PL_ESTATE);
    assert_int_equal(pl_recorder_file_name(r, "p1", name, sizeof(name)), PL_OK);
    assert_string_equal(name, "p1.2.webm");

    /* Tracks. */
    assert_int_equal(pl_recorder_add_track(r, "nobody", 1, PL_RECFRAME_OPUS), PL_ENOTFOUND);
    assert_int_equal(pl_recorder_add_track(r, "p1", 1, (pl_recframe_codec)9), PL_EINVAL);
    assert_int_equal(pl_recorder_add_track(r, "p1", 1, PL_RECFRAME_VP8), PL_EINVAL);
    assert_int_equal(pl_recorder_add_track(r, "p1", 1, PL_RECFRAME_OPUS), PL_OK);
    assert_int_equal(pl_recorder_add_track(r, "p1", 2, PL_RECFRAME_OPUS), PL_ESTATE);
    assert_int_equal(pl_recorder_add_participant(r, "p2", "y", PL_RECORDER_AUDIO), PL_OK);
    assert_int_equal(pl_recorder_add_track(r, "p2", 1, PL_RECFRAME_OPUS), PL_EINVAL);
    assert_int_equal(pl_recorder_remove_track(r, 77, EPOCH), PL_ENOTFOUND);
    assert_int_equal(pl_recorder_remove_participant(r, "nobody", EPOCH), PL_ENOTFOUND);

    /* Packets: real ones with garbage between. */
    sender s;
    sender_init(&s, "p1", 1, 440, NULL, talk_all);
    sender_source(&s, 0);
    evlist l = {0};
    send_audio(&l, &s, 0, 2 * SEC);
    static const uint8_t short_pkt[] = {0x80, 0x6f, 0x00};
    uint8_t v0[40] = {0x00, 0x6f}; /* RTP version 0 */
    uint8_t junk[300];
    for (size_t i = 0; i < sizeof(junk); i++)
        junk[i] = (uint8_t)rnd();
    /* Version 2, padding, extension, 15 CSRCs, and an extension block
     * longer than the packet. */
    junk[0] = 0xbf;
    junk[74] = junk[75] = 0xff;
    qsort(l.e, l.n, sizeof(ev), by_arrival);
    for (size_t i = 0; i < l.n; i++) {
        int64_t now = l.e[i].at;
        run_until(r, now, NULL);
        assert_int_equal(pl_recorder_push(r, 1, l.e[i].b, l.e[i].len, now), PL_OK);
        if (i % 10 == 0) {
            assert_int_equal(pl_recorder_push(r, 999, l.e[i].b, l.e[i].len, now), PL_ENOTFOUND);
            assert_int_equal(pl_recorder_push(r, 1, short_pkt, sizeof(short_pkt), now),
                             PL_EMALFORMED);
            assert_int_equal(pl_recorder_push(r, 1, v0, sizeof(v0), now), PL_EMALFORMED);
            assert_int_equal(pl_recorder_push(r, 1, junk, sizeof(junk), now), PL_EMALFORMED);
            assert_int_equal(pl_recorder_push(r, 1, NULL, 10, now), PL_EMALFORMED);
        }
    }
    pl_recorder_stats st;
    pl_recorder_stats_get(r, &st);
    assert_int_equal(st.unknown_track, 10);
    assert_int_equal(st.malformed, 40);
    assert_int_equal(st.packets, 100 + 50);
    assert_int_equal(st.frames[0], 100);
    pl_recorder_summary sum;
    assert_int_equal(pl_recorder_stop(r, EPOCH + 2100 * MS, &sum), PL_OK);
    assert_int_equal(pl_recorder_push(r, 1, l.e[0].b, l.e[0].len, EPOCH + 3 * SEC), PL_ESTATE);
    assert_int_equal(pl_recorder_advance(r, EPOCH + 3 * SEC), PL_ESTATE);
    assert_int_equal(pl_recorder_add_participant(r, "p3", "z", PL_RECORDER_AUDIO), PL_ESTATE);
    assert_int_equal(pl_recorder_stop(r, EPOCH + 3 * SEC, NULL), PL_ESTATE);
    assert_int_equal(pl_recorder_next_timeout(r), INT64_MAX);
    pl_recorder_stats_get(r, &st);
    assert_int_equal(st.after_stop, 1);

    const pl_recorder_file *f1 = summary_file(&sum, "p1.webm");
    assert_int_equal(strlen(f1->display_name), 255); /* the é did not fit whole */
    /* p2 sent nothing: its file is gone, and says so. */
    const pl_recorder_file *f2 = summary_file(&sum, "p2.webm");
    assert_false(f2->present);
    file_in(file, sizeof(file), dir, "p2.webm");
    assert_int_equal(access(file, F_OK), -1);
    file_in(file, sizeof(file), dir, "p1.webm");
    assert_int_equal(mp_decoded_frames(file, 'a'), 100);
    mp_assert_decodes_clean(file);
    pl_recorder_destroy(r);
    pl_recorder_destroy(NULL);
    opus_encoder_destroy(s.enc);
    free(l.e);
}

/* A heads-up's recording: no mix, so no mix.ogg and no speech; the one
 * participant's audio-only file. */
static void test_no_mix(void **state)
{
    (void)state;
    char dir[256], file[512];
    new_dir(dir, sizeof(dir), "nomix");
    pl_recorder_config cfg = {.dir = dir, .epoch_us = EPOCH, .no_mix = true};
    pl_env env = pl_env_default();
    pl_recorder *r = NULL;
    assert_int_equal(pl_recorder_create(&env, &cfg, &r), PL_OK);
    sender s;
    sender_init(&s, "caller", 10, 440, NULL, talk_all);
    sender_source(&s, 0);
    join(r, &s, PL_RECORDER_AUDIO);
    evlist l = {0};
    send_audio(&l, &s, 0, 3 * SEC);
    feed(r, &l, NULL);
    /* Nothing waits for time but the held packets. */
    assert_true(pl_recorder_next_timeout(r) > EPOCH + 3 * SEC);
    pl_recorder_summary sum;
    assert_int_equal(pl_recorder_stop(r, EPOCH + 3100 * MS, &sum), PL_OK);
    assert_int_equal(sum.n_files, 1);
    assert_string_equal(sum.files[0].name, "caller.webm");
    assert_int_equal(sum.n_speech, 0);
    file_in(file, sizeof(file), dir, "mix.ogg");
    assert_int_equal(access(file, F_OK), -1);
    file_in(file, sizeof(file), dir, "caller.webm");
    assert_int_equal(mp_stream_count(file), 1);
    assert_int_equal(mp_decoded_frames(file, 'a'), 150);
    mp_assert_decodes_clean(file);
    pl_recorder_destroy(r);
    opus_encoder_destroy(s.enc);
    free(l.e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_three_participants),
        cmocka_unit_test(test_mute_and_reconnect),
        cmocka_unit_test(test_keyframe_requests),
        cmocka_unit_test(test_killed),
        cmocka_unit_test(test_file_errors),
        cmocka_unit_test(test_write_fails_midway),
        cmocka_unit_test(test_byte_bound),
        cmocka_unit_test(test_bad_input),
        cmocka_unit_test(test_no_mix),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
