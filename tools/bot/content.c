#include "content.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <opus/opus.h>
#include <vpx/vp8cx.h>
#include <vpx/vp8dx.h>
#include <vpx/vpx_decoder.h>
#include <vpx/vpx_encoder.h>

/* The picture is a grid of 8 x 6 cells: rows 0-3 carry identity, counter
 * and their complements, rows 4-5 are the noise band. At 320x240 a cell is
 * 40x40; other sizes scale the grid (simulcast layers). */
#define COLS 8
#define ROWS 6
#define CODE_ROWS 4
#define MIN_WIDTH 64
#define MIN_HEIGHT 48
#define LUMA_ZERO 16
#define LUMA_ONE 235
#define SAMPLE_RATE 48000
#define AUDIO_FRAME 960 /* 20 ms */
#define KEYFRAME_EVERY 60
#define VIDEO_KBPS 700

unsigned pl_content_tone_hz(unsigned identity)
{
    return 300 + 10 * (identity % (PL_CONTENT_MAX_IDENTITY + 1));
}

/* ---- the picture ------------------------------------------------------- */

static void fill_cell(uint8_t *y, unsigned w, unsigned h, unsigned row, unsigned col, uint8_t luma)
{
    unsigned cw = w / COLS, ch = h / ROWS;
    for (unsigned r = 0; r < ch; r++)
        memset(y + (size_t)(row * ch + r) * w + col * cw, luma, cw);
}

static void draw_byte(uint8_t *y, unsigned w, unsigned h, unsigned row, unsigned value)
{
    for (unsigned bit = 0; bit < COLS; bit++)
        fill_cell(y, w, h, row, bit, (value >> (COLS - 1 - bit)) & 1 ? LUMA_ONE : LUMA_ZERO);
}

void pl_content_draw_sized(uint8_t *y, uint8_t *u, uint8_t *v, unsigned w, unsigned h,
                           unsigned identity, unsigned counter, unsigned frame)
{
    /* Whatever the grid leaves at the right and bottom edges. */
    memset(y, LUMA_ZERO, (size_t)w * h);
    draw_byte(y, w, h, 0, identity & 0xff);
    draw_byte(y, w, h, 1, counter & 0xff);
    draw_byte(y, w, h, 2, ~identity & 0xff);
    draw_byte(y, w, h, 3, ~counter & 0xff);
    /* Moving noise in blocks of 4x4 at 320x240, larger on larger pictures:
     * costly enough to encode that frames have a realistic size, different
     * per sender and per frame. */
    unsigned blk = w >= 640 ? w / 160 : 4;
    uint32_t s = 2463534242u ^ (identity * 2654435761u) ^ (frame * 40503u);
    for (unsigned by = CODE_ROWS * (h / ROWS); by + blk <= h; by += blk)
        for (unsigned bx = 0; bx + blk <= w; bx += blk) {
            s ^= s << 13;
            s ^= s >> 17;
            s ^= s << 5;
            uint8_t luma = (uint8_t)(48 + (s & 0x7f));
            for (unsigned r = 0; r < blk; r++)
                memset(y + (size_t)(by + r) * w + bx, luma, blk);
        }
    memset(u, 128, (size_t)((w + 1) / 2) * ((h + 1) / 2));
    memset(v, 128, (size_t)((w + 1) / 2) * ((h + 1) / 2));
}

void pl_content_draw(uint8_t *y, uint8_t *u, uint8_t *v, unsigned identity, unsigned counter,
                     unsigned frame)
{
    pl_content_draw_sized(y, u, v, PL_CONTENT_WIDTH, PL_CONTENT_HEIGHT, identity, counter, frame);
}

/* -1 when the cell is neither clearly dark nor clearly light. */
static int read_cell(const uint8_t *y, int stride, unsigned w, unsigned h, unsigned row,
                     unsigned col)
{
    unsigned cw = w / COLS, ch = h / ROWS;
    unsigned iw = cw / 2, ih = ch / 2, ox = cw / 4, oy = ch / 4;
    unsigned sum = 0;
    for (unsigned r = 0; r < ih; r++)
        for (unsigned c = 0; c < iw; c++)
            sum += y[(size_t)(row * ch + oy + r) * (size_t)stride + col * cw + ox + c];
    unsigned avg = sum / (iw * ih);
    if (avg < 90)
        return 0;
    if (avg > 160)
        return 1;
    return -1;
}

static int read_byte(const uint8_t *y, int stride, unsigned w, unsigned h, unsigned row)
{
    int v = 0;
    for (unsigned bit = 0; bit < COLS; bit++) {
        int b = read_cell(y, stride, w, h, row, bit);
        if (b < 0)
            return -1;
        v = (v << 1) | b;
    }
    return v;
}

int pl_content_read(const uint8_t *y, int stride, unsigned width, unsigned height,
                    unsigned *identity, unsigned *counter)
{
    if (width < MIN_WIDTH || height < MIN_HEIGHT || stride < (int)width)
        return -1;
    int id = read_byte(y, stride, width, height, 0), cnt = read_byte(y, stride, width, height, 1);
    int nid = read_byte(y, stride, width, height, 2), ncnt = read_byte(y, stride, width, height, 3);
    if (id < 0 || cnt < 0 || nid < 0 || ncnt < 0 || (id ^ nid) != 0xff || (cnt ^ ncnt) != 0xff)
        return -1;
    *identity = (unsigned)id;
    *counter = (unsigned)cnt;
    return 0;
}

/* ---- clips ------------------------------------------------------------- */

struct pl_clip {
    pl_clip_frame *video, *audio;
    size_t n_video, n_audio;
};

static int add_frame(pl_clip_frame *f, const void *data, size_t len, bool key, unsigned counter)
{
    uint8_t *copy = malloc(len);
    if (!copy)
        return -1;
    memcpy(copy, data, len);
    *f = (pl_clip_frame){.data = copy, .len = len, .keyframe = key, .counter = counter};
    return 0;
}

/* The temporal layer of each frame of a three-layer clip, by its place in
 * the pattern of four (the counter drawn in it, modulo 4). */
static const uint8_t tid3[4] = {0, 2, 1, 2};

/* Temporal layers (RFC 7741 TID) as browsers send them: with three, the
 * pattern 0 2 1 2; TL0 frames see only TL0, TL1 frames see TL0, TL2 frames
 * see TL0 or TL1 and nobody sees them (with two, 0 1: TL1 frames see TL0
 * and nobody sees them). A receiver that drops the upper
 * layers still decodes. */
static void temporal_frame(unsigned layers, unsigned i, pl_clip_frame *f,
                           vpx_enc_frame_flags_t *flags)
{
    enum {
        ONLY_LAST = VP8_EFLAG_NO_REF_GF | VP8_EFLAG_NO_REF_ARF,
        NO_UPDATE = VP8_EFLAG_NO_UPD_LAST | VP8_EFLAG_NO_UPD_GF | VP8_EFLAG_NO_UPD_ARF |
                    VP8_EFLAG_NO_UPD_ENTROPY,
    };
    /* With two layers the pattern is 0 1: phases 0 and 1 of the three. */
    unsigned phase = layers == 3 ? i % 4 : (layers == 2 ? i % 2 : 0);
    f->tid = layers == 3 ? tid3[phase] : (uint8_t)phase;
    f->layer_sync = f->tid > 0 && phase != 3;
    f->non_reference = layers > 1 && phase % 2 == 1;
    if (layers <= 1)
        return;
    switch (phase) {
    case 0: /* TL0: from the previous TL0 */
        *flags |= ONLY_LAST | VP8_EFLAG_NO_UPD_GF | VP8_EFLAG_NO_UPD_ARF;
        break;
    case 1: /* the top layer, from TL0 */
        *flags |= ONLY_LAST | NO_UPDATE;
        break;
    case 2: /* TL1, from TL0, kept in the golden frame */
        *flags |=
            ONLY_LAST | VP8_EFLAG_NO_UPD_LAST | VP8_EFLAG_NO_UPD_ARF | VP8_EFLAG_NO_UPD_ENTROPY;
        break;
    default: /* TL2, from TL1 */
        *flags |= VP8_EFLAG_NO_REF_ARF | VP8_EFLAG_NO_REF_LAST | NO_UPDATE;
        break;
    }
}

static int encode_video(pl_clip *c, unsigned identity, const pl_clip_config *o)
{
    vpx_codec_enc_cfg_t cfg;
    if (vpx_codec_enc_config_default(vpx_codec_vp8_cx(), &cfg, 0) != VPX_CODEC_OK)
        return -1;
    cfg.g_w = o->width;
    cfg.g_h = o->height;
    cfg.g_timebase.num = 1;
    cfg.g_timebase.den = PL_CONTENT_FPS;
    cfg.rc_target_bitrate = o->kbps;
    cfg.rc_end_usage = VPX_CBR;
    cfg.rc_dropframe_thresh = 0; /* every counter value must exist */
    cfg.g_lag_in_frames = 0;
    cfg.g_error_resilient = VPX_ERROR_RESILIENT_DEFAULT;
    cfg.kf_mode = VPX_KF_DISABLED; /* keyframes where we force them */
    cfg.g_threads = 1;
    unsigned layers = o->temporal_layers;
    if (layers > 1) {
        /* Cumulative rates: TL0 40 %, up to TL1 60 %, all of it 100 %. */
        cfg.ts_number_layers = layers;
        cfg.ts_periodicity = layers == 3 ? 4 : 2;
        static const unsigned share3[3] = {40, 60, 100}, share2[2] = {60, 100};
        for (unsigned l = 0; l < layers; l++) {
            cfg.ts_target_bitrate[l] = o->kbps * (layers == 3 ? share3[l] : share2[l]) / 100;
            cfg.ts_rate_decimator[l] = 1u << (layers - 1 - l);
        }
        static const unsigned ids3[4] = {0, 2, 1, 2}, ids2[2] = {0, 1};
        for (unsigned k = 0; k < cfg.ts_periodicity; k++)
            cfg.ts_layer_id[k] = layers == 3 ? ids3[k] : ids2[k];
    }
    vpx_codec_ctx_t enc;
    if (vpx_codec_enc_init(&enc, vpx_codec_vp8_cx(), &cfg, 0) != VPX_CODEC_OK)
        return -1;
    vpx_codec_control(&enc, VP8E_SET_CPUUSED, 8);
    vpx_image_t img;
    int rc = -1;
    if (!vpx_img_alloc(&img, VPX_IMG_FMT_I420, o->width, o->height, 1))
        goto out_enc;
    for (unsigned i = 0; i < o->video_frames; i++) {
        pl_content_draw_sized(img.planes[0], img.planes[1], img.planes[2], o->width, o->height,
                              identity, i % 256, i);
        pl_clip_frame meta = {0};
        vpx_enc_frame_flags_t flags = 0;
        temporal_frame(layers, i, &meta, &flags);
        if (i % KEYFRAME_EVERY == 0)
            flags = VPX_EFLAG_FORCE_KF; /* a keyframe refreshes every reference */
        if (layers > 1)
            vpx_codec_control(&enc, VP8E_SET_TEMPORAL_LAYER_ID, (int)meta.tid);
        if (vpx_codec_encode(&enc, &img, i, 1, flags, VPX_DL_REALTIME) != VPX_CODEC_OK)
            goto out_img;
        vpx_codec_iter_t it = NULL;
        const vpx_codec_cx_pkt_t *pkt;
        bool got = false;
        while ((pkt = vpx_codec_get_cx_data(&enc, &it)) != NULL) {
            if (pkt->kind != VPX_CODEC_CX_FRAME_PKT || got)
                continue;
            pl_clip_frame *f = &c->video[c->n_video];
            if (add_frame(f, pkt->data.frame.buf, pkt->data.frame.sz,
                          pkt->data.frame.flags & VPX_FRAME_IS_KEY, i % 256) != 0)
                goto out_img;
            f->tid = meta.tid;
            f->layer_sync = meta.layer_sync;
            f->non_reference = meta.non_reference;
            c->n_video++;
            got = true;
        }
        if (!got)
            goto out_img;
    }
    rc = 0;
out_img:
    vpx_img_free(&img);
out_enc:
    vpx_codec_destroy(&enc);
    return rc;
}

static int encode_audio(pl_clip *c, unsigned identity, unsigned frames)
{
    int err;
    OpusEncoder *enc = opus_encoder_create(SAMPLE_RATE, 1, OPUS_APPLICATION_AUDIO, &err);
    if (!enc)
        return -1;
    opus_encoder_ctl(enc, OPUS_SET_BITRATE(32000));
    opus_encoder_ctl(enc, OPUS_SET_INBAND_FEC(1));
    opus_encoder_ctl(enc, OPUS_SET_PACKET_LOSS_PERC(5));
    double hz = pl_content_tone_hz(identity);
    int16_t pcm[AUDIO_FRAME];
    uint8_t out[1500];
    int rc = 0;
    /* The loop is encoded twice and the second pass kept: its first frame
     * then carries the encoder history of the loop's last frame, which is
     * what a decoder has when the loop wraps, so the seam is clean. */
    for (unsigned pass = 0; pass < 2 && rc == 0; pass++) {
        for (unsigned i = 0; i < frames && rc == 0; i++) {
            for (unsigned k = 0; k < AUDIO_FRAME; k++) {
                /* Integer Hz over whole seconds of samples: no phase jump. */
                uint64_t n = (uint64_t)i * AUDIO_FRAME + k;
                double phase =
                    2.0 * M_PI * (double)((n * (uint64_t)hz) % SAMPLE_RATE) / SAMPLE_RATE;
                pcm[k] = (int16_t)(12000.0 * sin(phase));
            }
            int len = opus_encode(enc, pcm, AUDIO_FRAME, out, sizeof(out));
            if (len <= 0)
                rc = -1;
            else if (pass == 1 && add_frame(&c->audio[c->n_audio++], out, (size_t)len, false, i))
                rc = -1;
        }
    }
    opus_encoder_destroy(enc);
    return rc;
}

pl_clip *pl_clip_create_with(unsigned identity, const pl_clip_config *cfg)
{
    pl_clip_config o = *cfg;
    if (!o.width || !o.height) {
        o.width = PL_CONTENT_WIDTH;
        o.height = PL_CONTENT_HEIGHT;
    }
    if (!o.kbps)
        o.kbps = VIDEO_KBPS;
    if (!o.temporal_layers)
        o.temporal_layers = 1;
    if (identity > PL_CONTENT_MAX_IDENTITY || (o.video_frames == 0 && o.audio_frames == 0) ||
        o.temporal_layers > 3 || o.width < MIN_WIDTH || o.height < MIN_HEIGHT || o.width > 4096 ||
        o.height > 4096)
        return NULL;
    pl_clip *c = calloc(1, sizeof(*c));
    if (!c)
        return NULL;
    c->video = calloc(o.video_frames + 1, sizeof(*c->video));
    c->audio = calloc(o.audio_frames + 1, sizeof(*c->audio));
    if (!c->video || !c->audio || (o.video_frames && encode_video(c, identity, &o) != 0) ||
        (o.audio_frames && encode_audio(c, identity, o.audio_frames) != 0)) {
        pl_clip_destroy(c);
        return NULL;
    }
    return c;
}

pl_clip *pl_clip_create(unsigned identity, unsigned video_frames, unsigned audio_frames)
{
    if (video_frames == 0 || audio_frames == 0)
        return NULL;
    pl_clip_config cfg = {.video_frames = video_frames, .audio_frames = audio_frames};
    return pl_clip_create_with(identity, &cfg);
}

void pl_clip_destroy(pl_clip *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < c->n_video; i++)
        free((void *)c->video[i].data);
    for (size_t i = 0; i < c->n_audio; i++)
        free((void *)c->audio[i].data);
    free(c->video);
    free(c->audio);
    free(c);
}

size_t pl_clip_video_count(const pl_clip *c)
{
    return c->n_video;
}

const pl_clip_frame *pl_clip_video(const pl_clip *c, size_t i)
{
    return &c->video[i % c->n_video];
}

size_t pl_clip_audio_count(const pl_clip *c)
{
    return c->n_audio;
}

const pl_clip_frame *pl_clip_audio(const pl_clip *c, size_t i)
{
    return &c->audio[i % c->n_audio];
}

/* ---- video check ------------------------------------------------------- */

struct pl_vcheck {
    vpx_codec_ctx_t dec;
    unsigned loop;
    int expected;
    bool need_keyframe;
    bool have_prev;
    unsigned prev_counter;
    pl_vcheck_stats st;
};

pl_vcheck *pl_vcheck_create(unsigned loop_frames, int expected_identity)
{
    pl_vcheck *v = calloc(1, sizeof(*v));
    if (!v)
        return NULL;
    /* No size: the decoder takes each keyframe's, so a stream may change
     * resolution (a simulcast layer switch) at a keyframe. */
    vpx_codec_dec_cfg_t cfg = {.threads = 1};
    if (vpx_codec_dec_init(&v->dec, vpx_codec_vp8_dx(), &cfg, 0) != VPX_CODEC_OK) {
        free(v);
        return NULL;
    }
    v->loop = loop_frames ? loop_frames : 256;
    v->expected = expected_identity;
    v->need_keyframe = true;
    v->st.identity = -1;
    return v;
}

void pl_vcheck_destroy(pl_vcheck *v)
{
    if (!v)
        return;
    vpx_codec_destroy(&v->dec);
    free(v);
}

/* Another resolution is another simulcast layer: its counter runs on its
 * own, so order is checked afresh from there. */
static void note_size(pl_vcheck *v, unsigned w, unsigned h)
{
    if (w != v->st.width || h != v->st.height) {
        if (v->st.width)
            v->st.size_changes++;
        v->st.width = w;
        v->st.height = h;
        v->have_prev = false;
    }
    for (unsigned i = 0; i < v->st.n_sizes; i++)
        if (v->st.sizes[i][0] == w && v->st.sizes[i][1] == h) {
            v->st.sizes[i][2]++;
            return;
        }
    if (v->st.n_sizes < PL_VCHECK_MAX_SIZES) {
        v->st.sizes[v->st.n_sizes][0] = w;
        v->st.sizes[v->st.n_sizes][1] = h;
        v->st.sizes[v->st.n_sizes][2] = 1;
        v->st.n_sizes++;
    }
}

/* Whether the frames between prev and counter (exclusive) are all of a
 * higher temporal layer than the one received: what a relay forwarding
 * fewer temporal layers leaves out, in the bots' three-layer pattern. */
static bool temporal_skip(const pl_vcheck *v, unsigned prev, unsigned counter, int tid)
{
    if (tid < 0)
        return false;
    unsigned c = (prev + 1) % v->loop;
    for (unsigned n = 0; c != counter; c = (c + 1) % v->loop, n++)
        if (n >= 3 || tid3[c % 4] <= tid)
            return false;
    return true;
}

void pl_vcheck_frame(pl_vcheck *v, const uint8_t *frame, size_t len, uint32_t ts, bool keyframe,
                     int tid, bool gap_before, pl_vcheck_result *r)
{
    (void)ts;
    *r = (pl_vcheck_result){.identity = -1, .counter = -1, .in_order = true};
    if (gap_before) {
        v->need_keyframe = true;
        v->have_prev = false;
    }
    if (v->need_keyframe && !keyframe) {
        r->skipped = true;
        v->st.skipped++;
        return;
    }
    v->need_keyframe = false;
    if (vpx_codec_decode(&v->dec, frame, (unsigned)len, NULL, 0) != VPX_CODEC_OK) {
        r->corrupt = true;
        v->st.corrupt++;
        v->st.decode_errors++;
        v->need_keyframe = true;
        return;
    }
    int corrupted = 0;
    vpx_codec_control(&v->dec, VP8D_GET_FRAME_CORRUPTED, &corrupted);
    vpx_codec_iter_t it = NULL;
    vpx_image_t *img = vpx_codec_get_frame(&v->dec, &it);
    if (!img) {
        r->corrupt = true;
        v->st.corrupt++;
        return;
    }
    r->decoded = true;
    v->st.decoded++;
    r->width = img->d_w;
    r->height = img->d_h;
    note_size(v, img->d_w, img->d_h);
    if (corrupted) {
        r->corrupt = true;
        v->st.corrupt++;
        v->st.decode_errors++;
        v->need_keyframe = true;
        return;
    }
    if (v->expected < 0)
        return;
    unsigned id, counter;
    if (pl_content_read(img->planes[0], img->stride[0], img->d_w, img->d_h, &id, &counter) != 0) {
        r->corrupt = true;
        v->st.corrupt++;
        v->have_prev = false;
        return;
    }
    r->identity = (int)id;
    r->counter = (int)counter;
    if (v->st.identity < 0)
        v->st.identity = (int)id;
    if ((int)id != v->expected)
        v->st.wrong_identity++;
    /* P-frames follow each other one by one, but for the frames of higher
     * temporal layers a relay may leave out; a keyframe may restart the
     * sender's loop at 0. */
    if (v->have_prev) {
        unsigned next = (v->prev_counter + 1) % v->loop;
        r->in_order = counter == next || (keyframe && counter == 0) ||
                      temporal_skip(v, v->prev_counter, counter, tid);
        if (!r->in_order) {
            v->st.out_of_order++;
            if (v->st.n_disorder < 4) {
                int *d = v->st.disorder[v->st.n_disorder++];
                d[0] = (int)v->prev_counter;
                d[1] = (int)counter;
                d[2] = tid;
                d[3] = keyframe;
            }
        }
    }
    v->have_prev = true;
    v->prev_counter = counter;
}

void pl_vcheck_stats_get(const pl_vcheck *v, pl_vcheck_stats *out)
{
    *out = v->st;
}

/* ---- audio check ------------------------------------------------------- */

/* Opus needs a few frames to settle; the tone is measured after them. */
#define WARMUP_FRAMES 5
#define MIN_SAMPLES (SAMPLE_RATE / 2)

struct pl_acheck {
    OpusDecoder *dec;
    pl_acheck_stats st;
    bool contiguous; /* the previous frame was decoded, not concealed */
    int16_t last;
    uint64_t samples, up_crossings;
    int16_t pcm[5760];
};

pl_acheck *pl_acheck_create(void)
{
    pl_acheck *a = calloc(1, sizeof(*a));
    if (!a)
        return NULL;
    int err;
    a->dec = opus_decoder_create(SAMPLE_RATE, 1, &err);
    if (!a->dec) {
        free(a);
        return NULL;
    }
    a->st.identity = -1;
    return a;
}

void pl_acheck_destroy(pl_acheck *a)
{
    if (!a)
        return;
    opus_decoder_destroy(a->dec);
    free(a);
}

static void measure(pl_acheck *a, int n)
{
    /* Only frames that follow a decoded frame count: the first ones of the
     * stream and the first after a concealed or rebuilt frame are Opus
     * transitions, not the tone. */
    if (a->st.decoded <= WARMUP_FRAMES || !a->contiguous) {
        a->contiguous = a->st.decoded > WARMUP_FRAMES;
        a->last = n > 0 ? a->pcm[n - 1] : 0;
        return;
    }
    int16_t prev = a->last;
    for (int i = 0; i < n; i++) {
        if (prev < 0 && a->pcm[i] >= 0)
            a->up_crossings++;
        prev = a->pcm[i];
    }
    a->samples += (uint64_t)n;
    a->last = prev;
    a->contiguous = true;
    if (a->samples >= MIN_SAMPLES) {
        double hz = (double)a->up_crossings * SAMPLE_RATE / (double)a->samples;
        a->st.frequency_hz = hz;
        long id = lround((hz - 300.0) / 10.0);
        bool close = id >= 0 && id <= PL_CONTENT_MAX_IDENTITY &&
                     fabs(hz - pl_content_tone_hz((unsigned)id)) < 3.0;
        a->st.identity = close ? (int)id : -1;
    }
}

void pl_acheck_packet(pl_acheck *a, const uint8_t *data, size_t len)
{
    int n = opus_decode(a->dec, data, (opus_int32)len, a->pcm, 5760, 0);
    if (n <= 0) {
        a->st.errors++;
        a->contiguous = false;
        return;
    }
    a->st.decoded++;
    measure(a, n);
}

void pl_acheck_fec(pl_acheck *a, const uint8_t *next, size_t len)
{
    int n = opus_decode(a->dec, next, (opus_int32)len, a->pcm, AUDIO_FRAME, 1);
    if (n <= 0) {
        a->st.errors++;
        return;
    }
    a->st.fec++;
    a->contiguous = false; /* the rebuilt frame is not measured */
}

void pl_acheck_lost(pl_acheck *a)
{
    if (opus_decode(a->dec, NULL, 0, a->pcm, AUDIO_FRAME, 0) < 0)
        a->st.errors++;
    a->st.concealed++;
    a->contiguous = false;
}

void pl_acheck_stats_get(const pl_acheck *a, pl_acheck_stats *out)
{
    *out = a->st;
}
