#include "parley/recwebm.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <sys/stat.h>
#include <unistd.h>

#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/channel_layout.h>
#include <libavutil/dict.h>
#include <libavutil/avstring.h>
#include <libavutil/mem.h>

#include "parley/vp8.h"

#define OPUS_RATE 48000
#define OPUS_HEAD_LEN 19
/* RFC 6716 3.2.5: no packet holds more than 120 ms. */
#define OPUS_MAX_SAMPLES 5760
/* How far apart the two kinds may arrive before a frame of one is written
 * without waiting for the other: a muted camera or microphone must not hold
 * the other track back (libavformat's own interleaving waits forever for a
 * VP8 track that sends nothing). */
#define INTERLEAVE_US 500000
/* Frames and bytes one kind's queue holds at most (a sender whose pts
 * stands still would otherwise grow it without end). */
#define QUEUE_CAP 1024
#define QUEUE_BYTES (8 * 1024 * 1024)
/* Matroska muxer options: a cluster closes after a second (or a megabyte)
 * so what a crash can lose stays small; each closed cluster is flushed to
 * the kernel (flush_packets). */
#define CLUSTER_TIME_MS "1000"
#define CLUSTER_BYTES "1048576"

/* Frames of one kind waiting to be written, oldest first: pts in
 * microseconds, an audio packet's duration in 48 kHz samples, both
 * converted to the stream's time base when written. */
typedef struct queue {
    AVPacket *pkt[QUEUE_CAP];
    size_t head, count, bytes;
} queue;

struct pl_recwebm {
    AVFormatContext *fc;
    char *path;
    bool want[2];
    int stream[2]; /* stream index per kind, -1 when the file has none */
    bool started, have_key, seen[2];
    int64_t last_pts[2];
    int err, os_error;
    queue q[2];
    pl_recwebm_stats stats;
};

static AVPacket *q_at(const queue *q, size_t i)
{
    return q->pkt[(q->head + i) % QUEUE_CAP];
}

static void q_push(queue *q, AVPacket *p)
{
    q->pkt[(q->head + q->count) % QUEUE_CAP] = p;
    q->count++;
    q->bytes += (size_t)p->size;
}

static AVPacket *q_pop(queue *q)
{
    AVPacket *p = q->pkt[q->head];
    q->pkt[q->head] = NULL;
    q->head = (q->head + 1) % QUEUE_CAP;
    q->count--;
    q->bytes -= (size_t)p->size;
    return p;
}

static int64_t q_span(const queue *q)
{
    return q->count ? q_at(q, q->count - 1)->pts - q_at(q, 0)->pts : 0;
}

static void q_clear(queue *q)
{
    while (q->count) {
        AVPacket *p = q_pop(q);
        av_packet_free(&p);
    }
}

/* Samples (48 kHz) in an Opus packet from its table of contents (RFC 6716
 * 3.1, 3.2), -1 when the packet cannot be one. */
static int opus_samples(const uint8_t *p, size_t len)
{
    static const int silk[4] = {480, 960, 1920, 2880}, celt[4] = {120, 240, 480, 960};
    unsigned config = p[0] >> 3;
    int per = config < 12 ? silk[config & 3] : config < 16 ? 480 << (config & 1) : celt[config & 3];
    int frames;
    switch (p[0] & 3) {
    case 0:
        frames = 1;
        break;
    case 1: /* two frames of equal size */
        if ((len - 1) % 2 != 0)
            return -1;
        frames = 2;
        break;
    case 2: { /* two frames, the first one's size coded in one or two bytes */
        if (len < 2 || (p[1] >= 252 && len < 3))
            return -1;
        size_t coded = p[1] < 252 ? 1 : 2;
        size_t first = p[1] < 252 ? p[1] : (size_t)p[1] + 4 * (size_t)p[2];
        if (1 + coded + first > len)
            return -1;
        frames = 2;
        break;
    }
    default: /* a frame count byte */
        if (len < 2 || (p[1] & 0x3f) == 0)
            return -1;
        frames = p[1] & 0x3f;
        break;
    }
    return frames * per <= OPUS_MAX_SAMPLES ? frames * per : -1;
}

/* A VP8 frame's header (RFC 6386 9.1): the frame tag, whose first
 * partition must fit in the frame, and for a key frame its start code and a
 * non-zero size. */
static int vp8_header(const uint8_t *d, size_t len, bool *key, uint16_t *w, uint16_t *h)
{
    if (len < 3)
        return PL_EMALFORMED;
    uint32_t tag = d[0] | (uint32_t)d[1] << 8 | (uint32_t)d[2] << 16;
    *key = (tag & 1) == 0;
    size_t header = *key ? 10 : 3, first = tag >> 5;
    if (*key && (pl_vp8_keyframe_size(d, len, w, h) != PL_OK || *w == 0 || *h == 0))
        return PL_EMALFORMED;
    if (len < header || first > len - header)
        return PL_EMALFORMED;
    return PL_OK;
}

/* A failure of libavformat: the writer stops writing for good. Its errno
 * is kept for the recorder (ENOSPC: disk full). */
static int fail(pl_recwebm *w, int averr)
{
    int e = averr < 0 && averr > -4096 ? -averr : EIO;
    if (w->err == 0) {
        w->err = e == ENOMEM ? PL_ENOMEM : PL_EIO;
        w->os_error = e;
    }
    return w->err;
}

/* Whether the pb has failed since the last call; flushes first so that a
 * failure shows now rather than at some later write. */
static int check_io(pl_recwebm *w)
{
    AVIOContext *pb = w->fc->pb;
    avio_flush(pb);
    if (pb->error < 0)
        return fail(w, pb->error);
    w->stats.file_bytes = (uint64_t)avio_tell(pb);
    return PL_OK;
}

static int add_audio_stream(pl_recwebm *w)
{
    AVStream *st = avformat_new_stream(w->fc, NULL);
    if (!st)
        return PL_ENOMEM;
    AVCodecParameters *par = st->codecpar;
    par->codec_type = AVMEDIA_TYPE_AUDIO;
    par->codec_id = AV_CODEC_ID_OPUS;
    par->sample_rate = OPUS_RATE;
    av_channel_layout_default(&par->ch_layout, 2);
    /* OpusHead (RFC 7845 5.1): version 1, two channels, pre-skip 0 (see the
     * header), the input rate, gain 0, mapping family 0. */
    par->extradata = av_mallocz(OPUS_HEAD_LEN + AV_INPUT_BUFFER_PADDING_SIZE);
    if (!par->extradata)
        return PL_ENOMEM;
    uint8_t *x = par->extradata;
    memcpy(x, "OpusHead", 8);
    x[8] = 1;
    x[9] = 2;
    x[12] = OPUS_RATE & 0xff;
    x[13] = (OPUS_RATE >> 8) & 0xff;
    x[14] = (OPUS_RATE >> 16) & 0xff;
    par->extradata_size = OPUS_HEAD_LEN;
    par->initial_padding = 0;
    st->time_base = (AVRational){1, 1000};
    w->stream[PL_RECWEBM_AUDIO] = st->index;
    return PL_OK;
}

static int add_video_stream(pl_recwebm *w, uint16_t width, uint16_t height)
{
    AVStream *st = avformat_new_stream(w->fc, NULL);
    if (!st)
        return PL_ENOMEM;
    st->codecpar->codec_type = AVMEDIA_TYPE_VIDEO;
    st->codecpar->codec_id = AV_CODEC_ID_VP8;
    st->codecpar->width = width;
    st->codecpar->height = height;
    st->time_base = (AVRational){1, 1000};
    w->stream[PL_RECWEBM_VIDEO] = st->index;
    return PL_OK;
}

/* Writes the file's header: the audio track if wanted, the video track if
 * with_video, announcing width x height. */
static int start(pl_recwebm *w, bool with_video, uint16_t width, uint16_t height)
{
    int rc = PL_OK;
    if (w->want[PL_RECWEBM_AUDIO])
        rc = add_audio_stream(w);
    if (rc == PL_OK && with_video)
        rc = add_video_stream(w, width, height);
    if (rc != PL_OK)
        return fail(w, AVERROR(ENOMEM));
    AVDictionary *opts = NULL;
    av_dict_set(&opts, "cluster_time_limit", CLUSTER_TIME_MS, 0);
    av_dict_set(&opts, "cluster_size_limit", CLUSTER_BYTES, 0);
    int ret = avformat_write_header(w->fc, &opts);
    av_dict_free(&opts);
    if (ret < 0)
        return fail(w, ret);
    w->started = true;
    w->stats.started = true;
    return check_io(w);
}

/* Hands the oldest frame of kind to the muxer. */
static int emit(pl_recwebm *w, pl_recwebm_kind kind)
{
    AVPacket *p = q_pop(&w->q[kind]);
    int idx = w->stream[kind];
    int rc = PL_OK;
    if (idx < 0) { /* never: a kind the file has no track for is not queued */
        av_packet_free(&p);
        return PL_OK;
    }
    AVRational tb = w->fc->streams[idx]->time_base;
    p->stream_index = idx;
    p->pts = p->dts = av_rescale_q(p->pts, AV_TIME_BASE_Q, tb);
    p->duration = p->duration ? av_rescale_q(p->duration, (AVRational){1, OPUS_RATE}, tb) : 0;
    int ret = av_write_frame(w->fc, p);
    av_packet_free(&p);
    if (ret < 0)
        rc = fail(w, ret);
    else
        rc = check_io(w);
    if (rc == PL_OK)
        w->stats.written[kind]++;
    return rc;
}

/* Writes queued frames in pts order for as long as the order is settled:
 * while both kinds have one queued, the older goes; a kind alone goes once
 * it spans more than INTERLEAVE_US (the other is silent) or its queue is
 * full; everything goes when flushing. */
static int drain(pl_recwebm *w, bool flush)
{
    queue *a = &w->q[PL_RECWEBM_AUDIO], *v = &w->q[PL_RECWEBM_VIDEO];
    bool both = w->stream[PL_RECWEBM_AUDIO] >= 0 && w->stream[PL_RECWEBM_VIDEO] >= 0;
    while (w->err == 0 && (a->count || v->count)) {
        pl_recwebm_kind kind;
        if (a->count && v->count)
            kind = q_at(a, 0)->pts <= q_at(v, 0)->pts ? PL_RECWEBM_AUDIO : PL_RECWEBM_VIDEO;
        else
            kind = a->count ? PL_RECWEBM_AUDIO : PL_RECWEBM_VIDEO;
        const queue *q = &w->q[kind];
        bool alone = !(a->count && v->count);
        if (alone && both && !flush && q_span(q) <= INTERLEAVE_US && q->count < QUEUE_CAP &&
            q->bytes <= QUEUE_BYTES)
            break;
        int rc = emit(w, kind);
        if (rc != PL_OK)
            return rc;
    }
    return w->err;
}

int pl_recwebm_open(const char *path, bool audio, bool video, pl_recwebm **out)
{
    if (!path || !out || (!audio && !video))
        return PL_EINVAL;
    *out = NULL;
    pl_recwebm *w = calloc(1, sizeof(*w));
    if (!w)
        return PL_ENOMEM;
    w->path = strdup(path);
    if (!w->path) {
        free(w);
        return PL_ENOMEM;
    }
    w->want[PL_RECWEBM_AUDIO] = audio;
    w->want[PL_RECWEBM_VIDEO] = video;
    w->stream[0] = w->stream[1] = -1;
    int ret = avformat_alloc_output_context2(&w->fc, NULL, "webm", NULL);
    if (ret < 0 || !w->fc) {
        free(w->path);
        free(w);
        return PL_ENOMEM;
    }
    /* Per packet, libavformat flushes what the muxer gave the AVIO buffer:
     * nothing until a cluster closes, then the whole cluster. */
    w->fc->flush_packets = 1;
    /* Named with its protocol: a path such as "http:x" is a file name here,
     * never a URL libavformat would connect to. */
    char *url = av_asprintf("file:%s", path);
    ret = url ? avio_open(&w->fc->pb, url, AVIO_FLAG_WRITE) : AVERROR(ENOMEM);
    av_free(url);
    if (ret < 0) {
        avformat_free_context(w->fc);
        free(w->path);
        free(w);
        errno = ret > -4096 ? -ret : EIO;
        return PL_EIO;
    }
    if (!video && start(w, false, 0, 0) != PL_OK) {
        int e = w->os_error, rc = w->err;
        pl_recwebm_close(w, NULL);
        errno = e;
        return rc;
    }
    *out = w;
    return PL_OK;
}

int pl_recwebm_write(pl_recwebm *w, pl_recwebm_kind kind, int64_t pts_us, const uint8_t *data,
                     size_t len)
{
    if (!w)
        return PL_EINVAL;
    if (w->err) {
        w->stats.dropped_after_error++;
        return w->err;
    }
    if ((kind != PL_RECWEBM_AUDIO && kind != PL_RECWEBM_VIDEO) || !w->want[kind] || !data ||
        len == 0 || pts_us < 0) {
        w->stats.dropped_invalid++;
        return PL_EINVAL;
    }
    if (len > (kind == PL_RECWEBM_AUDIO ? PL_RECWEBM_MAX_AUDIO : PL_RECWEBM_MAX_VIDEO)) {
        w->stats.dropped_oversized++;
        return PL_EINVAL;
    }
    if (w->seen[kind] && pts_us < w->last_pts[kind]) {
        w->stats.dropped_backwards++;
        return PL_EINVAL;
    }
    int samples = 0;
    bool key = true;
    uint16_t width = 0, height = 0;
    if (kind == PL_RECWEBM_AUDIO) {
        samples = opus_samples(data, len);
        if (samples < 0) {
            w->stats.dropped_malformed++;
            return PL_EMALFORMED;
        }
    } else {
        if (vp8_header(data, len, &key, &width, &height) != PL_OK) {
            w->stats.dropped_malformed++;
            return PL_EMALFORMED;
        }
        if (!key && !w->have_key) {
            w->stats.dropped_before_key++;
            return PL_ESTATE;
        }
    }

    AVPacket *p = av_packet_alloc();
    if (!p || av_new_packet(p, (int)len) < 0) {
        av_packet_free(&p);
        return PL_ENOMEM;
    }
    memcpy(p->data, data, len);
    p->pts = pts_us;
    p->duration = samples;
    if (key)
        p->flags |= AV_PKT_FLAG_KEY;
    w->seen[kind] = true;
    w->last_pts[kind] = pts_us;
    queue *q = &w->q[kind];
    if (q->count == QUEUE_CAP) {
        /* Only before the file starts, which a full audio queue forces
         * below; after it, drain never leaves a full queue behind. */
        av_packet_free(&p);
        return PL_ENOMEM;
    }
    q_push(q, p);

    if (kind == PL_RECWEBM_VIDEO && key) {
        w->have_key = true;
        w->stats.width = width;
        w->stats.height = height;
    }
    if (!w->started) {
        int rc = PL_OK;
        if (kind == PL_RECWEBM_VIDEO)
            rc = start(w, true, width, height);
        else if (q_span(q) > PL_RECWEBM_WAIT_US || q->bytes > PL_RECWEBM_WAIT_BYTES ||
                 q->count == QUEUE_CAP)
            rc = start(w, true, PL_RECWEBM_PLACEHOLDER_WIDTH, PL_RECWEBM_PLACEHOLDER_HEIGHT);
        if (rc != PL_OK || !w->started)
            return rc;
    }
    return drain(w, false);
}

void pl_recwebm_get_stats(const pl_recwebm *w, pl_recwebm_stats *out)
{
    *out = w->stats;
    out->os_error = w->os_error;
}

int pl_recwebm_close(pl_recwebm *w, int *os_error)
{
    if (os_error)
        *os_error = 0;
    if (!w)
        return PL_OK;
    /* No key frame came: the audio alone. */
    if (!w->started && w->err == 0 && w->q[PL_RECWEBM_AUDIO].count)
        start(w, false, 0, 0);
    if (w->started) {
        drain(w, true);
        /* Also after a failure: the trailer releases the muxer's state, and
         * whatever it still manages to write (the duration in the header)
         * only helps. */
        int ret = av_write_trailer(w->fc);
        if (ret < 0)
            fail(w, ret);
        else
            check_io(w);
    }
    int ret = avio_closep(&w->fc->pb);
    if (ret < 0)
        fail(w, ret);
    avformat_free_context(w->fc);
    q_clear(&w->q[0]);
    q_clear(&w->q[1]);
    int rc = w->err;
    if (w->stats.written[PL_RECWEBM_AUDIO] + w->stats.written[PL_RECWEBM_VIDEO] == 0) {
        /* Without a single block, players (ffmpeg among them) do not read a
         * Matroska file at all: it goes rather than be listed as a
         * recording. Only a file this writer made: never /dev/full or the
         * like. */
        struct stat sb;
        if (stat(w->path, &sb) == 0 && S_ISREG(sb.st_mode))
            unlink(w->path);
        if (rc == PL_OK)
            rc = PL_ENOTFOUND;
    }
    if (os_error)
        *os_error = w->os_error;
    free(w->path);
    free(w);
    return rc;
}
