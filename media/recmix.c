/* The meeting's audio mix of a recording (see parley/recmix.h). */
#include "parley/recmix.h"

#include <errno.h>
#include <math.h>
#include <string.h>
#include <unistd.h>

#include <opus.h>

#include "oggopus.h"

/* The longest Opus packet: 120 ms. */
#define MAX_PACKET_SAMPLES 5760
/* The largest packet the encoder may write for a 20 ms frame. */
#define MAX_ENCODED 1500
/* Consecutive packets whose pts differ from the previous end by less
 * than this (rounding of microseconds) are taken as continuous. */
#define SNAP_SAMPLES 120
#define TITLE_MAX 1024
/* The limiter keeps peaks under this, and recovers this much a frame. */
#define LIMIT_PEAK 0.98f
#define LIMIT_RELEASE 1.047f

typedef struct src {
    bool used;
    bool closing;
    uint32_t id;
    OpusDecoder *dec;
    float *ring;  /* window of `win` samples, indexed by sample % win */
    int64_t next; /* sample after the end of its last packet; -1: none yet */
    int last_dur; /* samples of its last packet */
    /* Speech (in samples and frames). */
    bool speaking;
    int loud_run, quiet_run;
    int64_t run_start, last_loud_end;
    size_t speech_idx; /* its open interval while speaking */
} src;

struct pl_recmix {
    pl_env env;
    pl_recmix_config cfg;
    int ch;
    int64_t win;        /* samples in a source's window, a multiple of a frame */
    int64_t mixed;      /* samples mixed */
    int64_t encoded;    /* samples encoded (the mix plus padding at the end) */
    int64_t page_first; /* encoded count when the page being filled started */
    int64_t page_samples;
    int pre_skip;
    float gain;
    float loud_rms;
    int on_frames, off_frames;
    bool closed;
    OpusEncoder *enc;
    src *srcs;
    int nsrcs;
    float *mixbuf; /* one frame */
    float *decbuf; /* one packet */
    pl_oggw *ogg;
    uint8_t *out;
    size_t out_head, out_len;
    pl_recmix_speech *speech;
    size_t nspeech, speech_cap;
    pl_recmix_stats st;
};

void pl_recmix_config_default(pl_recmix_config *cfg)
{
    if (cfg->channels == 0)
        cfg->channels = 1;
    if (cfg->bitrate == 0)
        cfg->bitrate = PL_RECMIX_BITRATE;
    if (cfg->max_sources == 0)
        cfg->max_sources = PL_RECMIX_MAX_SOURCES;
    if (cfg->latency_us == 0)
        cfg->latency_us = PL_RECMIX_LATENCY_US;
    if (cfg->page_us == 0)
        cfg->page_us = PL_RECMIX_PAGE_US;
    if (cfg->speech_dbfs == 0)
        cfg->speech_dbfs = PL_RECMIX_SPEECH_DBFS;
    if (cfg->speech_on_us == 0)
        cfg->speech_on_us = PL_RECMIX_SPEECH_ON_US;
    if (cfg->speech_off_us == 0)
        cfg->speech_off_us = PL_RECMIX_SPEECH_OFF_US;
    if (cfg->out_cap == 0)
        cfg->out_cap = PL_RECMIX_OUT_CAP;
}

static int64_t us_to_samples(int64_t us)
{
    return us * (PL_RECMIX_RATE / 8000) / 125; /* us * 48000 / 1e6 */
}

static int64_t samples_to_us(int64_t s)
{
    return s * 125 / (PL_RECMIX_RATE / 8000);
}

static int frames_of(int64_t us)
{
    int64_t f = (us_to_samples(us) + PL_RECMIX_FRAME - 1) / PL_RECMIX_FRAME;
    return f < 1 ? 1 : (int)f;
}

/* Queues whole pages only: a page that does not fit is dropped (counted)
 * rather than cut, so that what the caller writes stays a sequence of
 * valid pages. */
static void flush_page(pl_recmix *m, uint8_t flags, uint64_t granule)
{
    size_t need = pl_oggw_page_len(m->ogg);
    size_t cap = m->cfg.out_cap;
    if (m->out_head + m->out_len + need > cap && m->out_head > 0) {
        memmove(m->out, m->out + m->out_head, m->out_len);
        m->out_head = 0;
    }
    int n = pl_oggw_page(m->ogg, flags, granule, m->out + m->out_head + m->out_len,
                         cap - m->out_head - m->out_len);
    if (n < 0) {
        /* The next page's sequence number shows the hole to a reader. */
        pl_oggw_drop(m->ogg);
        m->st.out_dropped++;
        return;
    }
    m->out_len += (size_t)n;
    m->st.pages++;
}

static void encode_frame(pl_recmix *m, const float *pcm)
{
    uint8_t pkt[MAX_ENCODED];
    opus_int32 n = opus_encode_float(m->enc, pcm, PL_RECMIX_FRAME, pkt, sizeof(pkt));
    if (n < 0)
        n = 0; /* cannot happen with a valid encoder; an empty packet still keeps time */
    /* The page is flushed before the packet that would make it too long or
     * too full, so that the page being filled always holds a packet: the
     * last page, written at close, then carries the trimmed end. */
    if (m->ogg->npackets > 0 &&
        (m->encoded - m->page_first >= m->page_samples || !pl_oggw_fits(m->ogg, (size_t)n))) {
        flush_page(m, 0, (uint64_t)m->encoded);
        m->page_first = m->encoded;
    }
    pl_oggw_add(m->ogg, pkt, (size_t)n);
    m->encoded += PL_RECMIX_FRAME;
}

static void speech_push(pl_recmix *m, src *s)
{
    if (m->nspeech == m->speech_cap) {
        size_t ncap = m->speech_cap ? m->speech_cap * 2 : 64;
        pl_recmix_speech *n = pl_env_alloc(&m->env, ncap * sizeof(*n));
        if (!n) {
            m->st.speech_dropped++;
            s->speech_idx = SIZE_MAX;
            return;
        }
        if (m->nspeech)
            memcpy(n, m->speech, m->nspeech * sizeof(*n));
        pl_env_free(&m->env, m->speech);
        m->speech = n;
        m->speech_cap = ncap;
    }
    s->speech_idx = m->nspeech;
    m->speech[m->nspeech++] = (pl_recmix_speech){.source = s->id,
                                                 .start_us = samples_to_us(s->run_start),
                                                 .end_us = samples_to_us(s->last_loud_end),
                                                 .open = true};
}

static void speech_end(pl_recmix *m, src *s, int64_t at)
{
    if (!s->speaking)
        return;
    s->speaking = false;
    if (s->speech_idx == SIZE_MAX)
        return;
    pl_recmix_speech *iv = &m->speech[s->speech_idx];
    int64_t end = s->last_loud_end < at ? s->last_loud_end : at;
    iv->end_us = samples_to_us(end);
    iv->open = false;
}

/* One frame of a source at sample `p` had this energy (sum of squares). */
static void speech_frame(pl_recmix *m, src *s, int64_t p, double energy)
{
    double rms = sqrt(energy / (double)(PL_RECMIX_FRAME * m->ch));
    if (rms > m->loud_rms) {
        if (s->loud_run++ == 0)
            s->run_start = p;
        s->quiet_run = 0;
        s->last_loud_end = p + PL_RECMIX_FRAME;
        if (!s->speaking && s->loud_run >= m->on_frames) {
            s->speaking = true;
            speech_push(m, s);
        } else if (s->speaking && s->speech_idx != SIZE_MAX) {
            m->speech[s->speech_idx].end_us = samples_to_us(s->last_loud_end);
        }
    } else {
        s->loud_run = 0;
        if (++s->quiet_run >= m->off_frames)
            speech_end(m, s, s->last_loud_end);
    }
}

static void src_free(pl_recmix *m, src *s)
{
    pl_env_free(&m->env, s->dec);
    pl_env_free(&m->env, s->ring);
    memset(s, 0, sizeof(*s));
    m->st.sources--;
}

/* Sums the sources' frame at m->mixed through the limiter and encodes it. */
static void mix_frame(pl_recmix *m)
{
    size_t n = (size_t)PL_RECMIX_FRAME * (size_t)m->ch;
    int64_t p = m->mixed;
    memset(m->mixbuf, 0, n * sizeof(float));
    for (int i = 0; i < m->nsrcs; i++) {
        src *s = &m->srcs[i];
        if (!s->used)
            continue;
        /* The window is a multiple of a frame and frames start at
         * multiples of a frame: the frame is contiguous in it. */
        float *r = s->ring + (size_t)(p % m->win) * (size_t)m->ch;
        double e = 0;
        for (size_t k = 0; k < n; k++) {
            e += (double)r[k] * r[k];
            m->mixbuf[k] += r[k];
        }
        memset(r, 0, n * sizeof(float));
        speech_frame(m, s, p, e);
        if (s->closing && (s->next < 0 || p + PL_RECMIX_FRAME >= s->next)) {
            speech_end(m, s, p + PL_RECMIX_FRAME);
            src_free(m, s);
        }
    }
    float peak = 0;
    for (size_t k = 0; k < n; k++) {
        float a = fabsf(m->mixbuf[k]);
        if (a > peak)
            peak = a;
    }
    float target = peak * m->gain > LIMIT_PEAK ? LIMIT_PEAK / peak : 1.0f;
    float from = m->gain, to;
    if (target < m->gain) {
        /* Attack at once, for the whole frame: no sample over the peak. */
        from = to = target;
    } else {
        to = m->gain * LIMIT_RELEASE;
        if (to > target)
            to = target;
    }
    if (to < 1.0f)
        m->st.limited++;
    for (size_t k = 0; k < n; k++) {
        size_t i = k / (size_t)m->ch;
        float g = from + (to - from) * (float)i / PL_RECMIX_FRAME;
        float v = m->mixbuf[k] * g;
        m->mixbuf[k] = v > 1.0f ? 1.0f : v < -1.0f ? -1.0f : v;
    }
    m->gain = to;
    encode_frame(m, m->mixbuf);
    m->mixed += PL_RECMIX_FRAME;
    m->st.frames++;
}

int pl_recmix_create(const pl_env *env, const pl_recmix_config *cfg_in, pl_recmix **out)
{
    pl_recmix_config cfg = *cfg_in;
    pl_recmix_config_default(&cfg);
    if ((cfg.channels != 1 && cfg.channels != 2) || cfg.bitrate < 6000 || cfg.bitrate > 510000 ||
        cfg.max_sources < 1 || cfg.max_sources > 1024 || cfg.latency_us < 0 ||
        cfg.latency_us > 10000000 || cfg.page_us < 20000 || cfg.page_us > 1000000 ||
        cfg.speech_on_us < 0 || cfg.speech_off_us < 0 || cfg.out_cap < PL_OGG_MAX_PAGE ||
        (cfg.title && strlen(cfg.title) > TITLE_MAX))
        return PL_EINVAL;
    pl_recmix *m = pl_env_alloc(env, sizeof(*m));
    if (!m)
        return PL_ENOMEM;
    m->env = *env;
    m->cfg = cfg;
    m->cfg.title = NULL; /* not kept: it is in OpusTags */
    m->ch = cfg.channels;
    int64_t w = us_to_samples(cfg.latency_us + PL_RECMIX_AHEAD_US) + MAX_PACKET_SAMPLES;
    m->win = (w + PL_RECMIX_FRAME - 1) / PL_RECMIX_FRAME * PL_RECMIX_FRAME;
    m->page_samples = us_to_samples(cfg.page_us);
    m->gain = 1.0f;
    m->loud_rms = (float)pow(10.0, cfg.speech_dbfs / 20.0);
    m->on_frames = frames_of(cfg.speech_on_us);
    m->off_frames = frames_of(cfg.speech_off_us);
    m->srcs = pl_env_alloc(env, (size_t)cfg.max_sources * sizeof(src));
    m->mixbuf = pl_env_alloc(env, (size_t)PL_RECMIX_FRAME * (size_t)m->ch * sizeof(float));
    m->decbuf = pl_env_alloc(env, (size_t)MAX_PACKET_SAMPLES * (size_t)m->ch * sizeof(float));
    m->ogg = pl_env_alloc(env, sizeof(pl_oggw));
    m->out = pl_env_alloc(env, cfg.out_cap);
    m->enc = pl_env_alloc(env, (size_t)opus_encoder_get_size(m->ch));
    if (!m->srcs || !m->mixbuf || !m->decbuf || !m->ogg || !m->out || !m->enc) {
        pl_recmix_destroy(m);
        return PL_ENOMEM;
    }
    int app = cfg.music ? OPUS_APPLICATION_AUDIO : OPUS_APPLICATION_VOIP;
    opus_int32 la = 0;
    if (opus_encoder_init(m->enc, PL_RECMIX_RATE, m->ch, app) != OPUS_OK ||
        opus_encoder_ctl(m->enc, OPUS_SET_BITRATE(cfg.bitrate)) != OPUS_OK ||
        opus_encoder_ctl(m->enc, OPUS_GET_LOOKAHEAD(&la)) != OPUS_OK || la < 0 || la > 65535) {
        pl_recmix_destroy(m);
        return PL_ECRYPTO;
    }
    /* The encoder's lookahead is the pre-skip: sample k of the mix is
     * sample k of what a player outputs after skipping it. */
    m->pre_skip = la;
    uint32_t serial;
    if (pl_env_random(env, (uint8_t *)&serial, sizeof(serial)) < 0)
        serial = 0x7061726c; /* any serial is valid for a single stream */
    pl_oggw_init(m->ogg, serial);
    uint8_t head[PL_OPUS_HEAD_LEN];
    pl_opus_head(head, m->ch, (uint16_t)m->pre_skip, PL_RECMIX_RATE);
    pl_oggw_add(m->ogg, head, sizeof(head));
    flush_page(m, PL_OGG_BOS, 0);
    uint8_t tags[64 + TITLE_MAX + 64];
    int tn = pl_opus_tags(tags, sizeof(tags), opus_get_version_string(), cfg.title);
    if (tn < 0 || pl_oggw_add(m->ogg, tags, (size_t)tn) < 0) {
        pl_recmix_destroy(m);
        return PL_EINVAL;
    }
    flush_page(m, 0, 0);
    *out = m;
    return 0;
}

void pl_recmix_destroy(pl_recmix *m)
{
    if (!m)
        return;
    if (m->srcs)
        for (int i = 0; i < m->nsrcs; i++)
            if (m->srcs[i].used)
                src_free(m, &m->srcs[i]);
    pl_env_free(&m->env, m->srcs);
    pl_env_free(&m->env, m->mixbuf);
    pl_env_free(&m->env, m->decbuf);
    pl_env_free(&m->env, m->ogg);
    pl_env_free(&m->env, m->out);
    pl_env_free(&m->env, m->enc);
    pl_env_free(&m->env, m->speech);
    pl_env_free(&m->env, m);
}

int pl_recmix_advance(pl_recmix *m, int64_t now_us)
{
    if (m->closed)
        return PL_ESTATE;
    int64_t t = now_us - m->cfg.epoch_us - m->cfg.latency_us;
    if (t < 0)
        return 0;
    int64_t target = us_to_samples(t);
    while (m->mixed + PL_RECMIX_FRAME <= target)
        mix_frame(m);
    return 0;
}

int64_t pl_recmix_next_timeout(const pl_recmix *m)
{
    /* The first microsecond at which us_to_samples reaches the frame's end. */
    int64_t end = m->mixed + PL_RECMIX_FRAME;
    int64_t us = (end * 125 + (PL_RECMIX_RATE / 8000) - 1) / (PL_RECMIX_RATE / 8000);
    return m->cfg.epoch_us + m->cfg.latency_us + us;
}

static src *find_src(pl_recmix *m, uint32_t id)
{
    for (int i = 0; i < m->nsrcs; i++)
        if (m->srcs[i].used && m->srcs[i].id == id)
            return &m->srcs[i];
    return NULL;
}

static int add_src(pl_recmix *m, uint32_t id, src **out)
{
    src *s = NULL;
    for (int i = 0; i < m->nsrcs && !s; i++)
        if (!m->srcs[i].used)
            s = &m->srcs[i];
    if (!s) {
        if (m->nsrcs == m->cfg.max_sources)
            return PL_ENOSPC;
        s = &m->srcs[m->nsrcs++];
    }
    s->dec = pl_env_alloc(&m->env, (size_t)opus_decoder_get_size(m->ch));
    s->ring = pl_env_alloc(&m->env, (size_t)m->win * (size_t)m->ch * sizeof(float));
    if (!s->dec || !s->ring || opus_decoder_init(s->dec, PL_RECMIX_RATE, m->ch) != OPUS_OK) {
        pl_env_free(&m->env, s->dec);
        pl_env_free(&m->env, s->ring);
        memset(s, 0, sizeof(*s));
        return PL_ENOMEM;
    }
    s->used = true;
    s->id = id;
    s->next = -1;
    s->speech_idx = SIZE_MAX;
    m->st.sources++;
    *out = s;
    return 0;
}

/* Copies n samples starting at sample `at` into the source's window,
 * leaving out what was already mixed. */
static void ring_put(pl_recmix *m, src *s, int64_t at, const float *pcm, int n)
{
    size_t ch = (size_t)m->ch;
    for (int i = 0; i < n; i++) {
        int64_t t = at + i;
        if (t < m->mixed)
            continue;
        memcpy(s->ring + (size_t)(t % m->win) * ch, pcm + (size_t)i * ch, ch * sizeof(float));
    }
}

int pl_recmix_push(pl_recmix *m, uint32_t source, int64_t pts_us, const uint8_t *opus, size_t len,
                   int64_t now_us)
{
    if (m->closed) {
        m->st.after_close++;
        return PL_ESTATE;
    }
    pl_recmix_advance(m, now_us);
    unsigned char toc;
    const unsigned char *frames[48];
    opus_int16 sizes[48];
    int nb;
    /* An empty packet would make the decoder conceal a loss; the parse
     * checks the packet's whole framing before a source is created for
     * it or its decoder sees it. */
    if (!opus || len == 0 || len > INT32_MAX ||
        opus_packet_parse(opus, (opus_int32)len, &toc, frames, sizes, NULL) < 0 ||
        (nb = opus_packet_get_nb_samples(opus, (opus_int32)len, PL_RECMIX_RATE)) <= 0 ||
        nb > MAX_PACKET_SAMPLES) {
        m->st.malformed++;
        return PL_EMALFORMED;
    }
    if (pts_us < 0 || pts_us > INT64_MAX / 48) {
        m->st.out_of_range++;
        return PL_EINVAL;
    }
    int64_t start = us_to_samples(pts_us);
    if (start + nb > m->mixed + m->win) {
        m->st.out_of_range++;
        return PL_EINVAL;
    }
    src *s = find_src(m, source);
    if (!s) {
        int rc = add_src(m, source, &s);
        if (rc < 0) {
            if (rc == PL_ENOSPC)
                m->st.no_slot++;
            return rc;
        }
    }
    s->closing = false;
    if (s->next >= 0) {
        if (start < s->next - SNAP_SAMPLES) {
            m->st.backwards++;
            return PL_EREPLAY;
        }
        if (start <= s->next + SNAP_SAMPLES) {
            start = s->next;
        } else if (s->last_dur > 0 && start - s->next <= s->last_dur + SNAP_SAMPLES) {
            /* About one packet missing: conceal it, in the 2.5 ms steps
             * the decoder conceals in. */
            int gap = (int)((start - s->next) / 120 * 120);
            if (gap > MAX_PACKET_SAMPLES)
                gap = MAX_PACKET_SAMPLES;
            int r = gap > 0 ? opus_decode_float(s->dec, NULL, 0, m->decbuf, gap, 0) : 0;
            if (r > 0) {
                ring_put(m, s, s->next, m->decbuf, r);
                m->st.concealed++;
            }
        }
    }
    int r = opus_decode_float(s->dec, opus, (opus_int32)len, m->decbuf, MAX_PACKET_SAMPLES, 0);
    if (r < 0) {
        m->st.malformed++;
        return PL_EMALFORMED;
    }
    m->st.packets++;
    if (start < m->mixed)
        m->st.late++;
    else
        ring_put(m, s, start, m->decbuf, r);
    s->next = start + r;
    s->last_dur = r;
    return 0;
}

int pl_recmix_remove(pl_recmix *m, uint32_t source)
{
    src *s = find_src(m, source);
    if (!s)
        return PL_ENOTFOUND;
    s->closing = true;
    return 0;
}

int pl_recmix_close(pl_recmix *m, int64_t end_us)
{
    if (m->closed)
        return PL_ESTATE;
    int64_t t = end_us - m->cfg.epoch_us;
    int64_t end = t > 0 ? us_to_samples(t) : 0;
    if (end < m->mixed)
        end = m->mixed;
    while (m->mixed < end)
        mix_frame(m);
    for (int i = 0; i < m->nsrcs; i++)
        if (m->srcs[i].used)
            speech_end(m, &m->srcs[i], end);
    /* What the encoder holds back (its lookahead) still has to come out:
     * the file's last sample is encoded sample end + pre-skip. Since the
     * pre-skip is not zero, at least one frame is encoded here, and the
     * last page therefore holds a packet. */
    int64_t need = end + m->pre_skip;
    float *silence = m->mixbuf;
    memset(silence, 0, (size_t)PL_RECMIX_FRAME * (size_t)m->ch * sizeof(float));
    do
        encode_frame(m, silence);
    while (m->encoded < need);
    flush_page(m, PL_OGG_EOS, (uint64_t)need);
    m->closed = true;
    return 0;
}

size_t pl_recmix_output(const pl_recmix *m, const uint8_t **data)
{
    *data = m->out + m->out_head;
    return m->out_len;
}

void pl_recmix_consume(pl_recmix *m, size_t n)
{
    if (n > m->out_len)
        n = m->out_len;
    m->out_head += n;
    m->out_len -= n;
    if (m->out_len == 0)
        m->out_head = 0;
}

int pl_recmix_write_fd(pl_recmix *m, int fd)
{
    while (m->out_len > 0) {
        ssize_t n = write(fd, m->out + m->out_head, m->out_len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        pl_recmix_consume(m, (size_t)n);
    }
    return 0;
}

size_t pl_recmix_speech_get(const pl_recmix *m, pl_recmix_speech *out, size_t cap)
{
    for (size_t i = 0; i < m->nspeech && i < cap; i++)
        out[i] = m->speech[i];
    return m->nspeech;
}

void pl_recmix_get_stats(const pl_recmix *m, pl_recmix_stats *out)
{
    *out = m->st;
    out->mixed_us = samples_to_us(m->mixed);
}
