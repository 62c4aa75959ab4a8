/* The pacer (pacer.h): slots, class FIFOs, a leaky bucket, probe clusters,
 * and transport-wide sequence numbers stamped at send.
 *
 * The bucket counts credit in micro-bits (bits times 10^6), so that a rate
 * in bit/s times a span in microseconds adds up exactly: a packet costs
 * 8 * 10^6 per byte. A paced packet may leave while the credit is not
 * negative, and leaves it negative by at most one packet: the debt says
 * when the next may go. */
#include <string.h>

#include "parley/pacer.h"
#include "parley/rtp.h"

#define NIL UINT32_MAX
#define UBITS_PER_BYTE 8000000LL
/* Below this the media rate is not taken (a rate of 0 would stop video). */
#define MIN_RATE_BPS 10000u

typedef struct slot {
    int64_t enqueued;
    uint32_t next;
    uint16_t len;
    bool marker;
} slot;

typedef struct fifo {
    uint32_t head, tail;
    size_t n, bytes;
} fifo;

struct pl_pacer {
    pl_env env;
    pl_pacer_config cfg;
    size_t n_slots;
    slot *slots;
    uint8_t *data; /* n_slots * PL_PACER_PKT_MAX */
    uint32_t free_head;
    size_t n_free;
    fifo q[PL_PACER_PADDING]; /* audio, rtx, video */
    uint64_t estimate_bps;
    /* The bucket. */
    int64_t credit;      /* micro-bits; negative: debt */
    int64_t last_refill; /* INT64_MIN: never */
    int64_t last_batch;  /* when paced packets last left; INT64_MIN: never */
    uint64_t rate_bps;   /* the rate in force since last_refill */
    bool draining;       /* rate_bps was raised to drain the queue */
    /* Stamps. */
    uint16_t twcc_seq, padding_seq;
    uint32_t video_ts;   /* the last video packet's timestamp, for padding */
    bool in_frame;       /* a video frame is half sent */
    uint32_t frame_ssrc; /* the stream of the last video packet sent */
    /* Probing. */
    bool probe_pending, probe_active;
    pl_bwe_probe probe;
    int64_t probe_asked, probe_started;
    uint64_t probe_bytes;
    uint32_t probe_packets;
    pl_pacer_stats st;
};

static int64_t min64(int64_t a, int64_t b)
{
    return a < b ? a : b;
}

static int64_t max64(int64_t a, int64_t b)
{
    return a > b ? a : b;
}

/* What a packet of len bytes costs on the wire: the link carries its
 * headers and tag too, and an audio packet's are a third of it. */
static size_t wire(const pl_pacer *p, size_t len)
{
    return len + p->cfg.packet_overhead;
}

static uint8_t *slot_data(pl_pacer *p, uint32_t i)
{
    return p->data + (size_t)i * PL_PACER_PKT_MAX;
}

/* Pushes were checked to be RTP, so the SSRC is there. */
static uint32_t read_ssrc(const uint8_t *pkt)
{
    return (uint32_t)pkt[8] << 24 | (uint32_t)pkt[9] << 16 | (uint32_t)pkt[10] << 8 | pkt[11];
}

const char *pl_pacer_class_name(enum pl_pacer_class cls)
{
    switch (cls) {
    case PL_PACER_AUDIO:
        return "audio";
    case PL_PACER_RTX:
        return "rtx";
    case PL_PACER_VIDEO:
        return "video";
    case PL_PACER_PADDING:
        return "padding";
    default:
        return "?";
    }
}

/* ---- life ---- */

pl_pacer *pl_pacer_create(const pl_env *env, const pl_pacer_config *cfg)
{
    pl_pacer_config c = cfg ? *cfg : (pl_pacer_config){0};
    if (c.pacing_factor < 0 || c.interval_us < 0 || c.burst_us < 0 || c.backlog_us < 0 ||
        c.max_video_delay_us < 0 || c.max_rtx_delay_us < 0 || c.twcc_ext > 14)
        return NULL;
    if (!c.slots)
        c.slots = PL_PACER_SLOTS;
    if (c.slots < 2 * PL_PACER_AUDIO_SLOTS || c.slots >= NIL)
        return NULL;
    if (c.pacing_factor == 0)
        c.pacing_factor = PL_PACER_FACTOR;
    if (!c.interval_us)
        c.interval_us = PL_PACER_INTERVAL_US;
    if (!c.burst_us)
        c.burst_us = PL_PACER_BURST_US;
    if (!c.backlog_us)
        c.backlog_us = PL_PACER_BACKLOG_US;
    if (!c.max_video_delay_us)
        c.max_video_delay_us = PL_PACER_MAX_VIDEO_DELAY_US;
    if (!c.max_rtx_delay_us)
        c.max_rtx_delay_us = PL_PACER_MAX_RTX_DELAY_US;
    if (!c.start_bps)
        c.start_bps = PL_PACER_START_BPS;

    pl_pacer *p = pl_env_alloc(env, sizeof(*p));
    if (!p)
        return NULL;
    p->env = *env;
    p->cfg = c;
    p->n_slots = c.slots;
    p->slots = pl_env_alloc(env, c.slots * sizeof(*p->slots));
    p->data = pl_env_alloc(env, c.slots * PL_PACER_PKT_MAX);
    if (!p->slots || !p->data) {
        pl_pacer_destroy(p);
        return NULL;
    }
    for (size_t i = 0; i < c.slots; i++)
        p->slots[i].next = i + 1 < c.slots ? (uint32_t)(i + 1) : NIL;
    p->free_head = 0;
    p->n_free = c.slots;
    for (size_t k = 0; k < PL_PACER_PADDING; k++)
        p->q[k] = (fifo){.head = NIL, .tail = NIL};
    p->last_refill = INT64_MIN;
    p->last_batch = INT64_MIN;
    uint32_t r = pl_env_random_u32(env);
    p->twcc_seq = (uint16_t)r;
    p->padding_seq = (uint16_t)(r >> 16);
    pl_pacer_set_rate(p, c.start_bps);
    p->rate_bps = p->st.media_bps;
    return p;
}

void pl_pacer_destroy(pl_pacer *p)
{
    if (!p)
        return;
    pl_env env = p->env;
    pl_env_free(&env, p->slots);
    pl_env_free(&env, p->data);
    pl_env_free(&env, p);
}

void pl_pacer_set_rate(pl_pacer *p, uint64_t bps)
{
    p->estimate_bps = bps;
    double media = (double)bps * p->cfg.pacing_factor;
    p->st.media_bps = media < MIN_RATE_BPS ? MIN_RATE_BPS : (uint64_t)media;
}

/* ---- slots and queues ---- */

static void fifo_push(pl_pacer *p, fifo *f, uint32_t i)
{
    p->slots[i].next = NIL;
    if (f->tail == NIL)
        f->head = i;
    else
        p->slots[f->tail].next = i;
    f->tail = i;
    f->n++;
    f->bytes += wire(p, p->slots[i].len);
}

/* Takes slot i (after prev, NIL for the head) off queue f and returns it
 * to the pool (its bytes stay readable until the next push). */
static uint32_t fifo_unlink(pl_pacer *p, fifo *f, uint32_t prev, uint32_t i)
{
    uint32_t next = p->slots[i].next;
    if (prev == NIL)
        f->head = next;
    else
        p->slots[prev].next = next;
    if (f->tail == i)
        f->tail = prev;
    f->n--;
    f->bytes -= wire(p, p->slots[i].len);
    p->slots[i].next = p->free_head;
    p->free_head = i;
    p->n_free++;
    return i;
}

/* Takes the head of f off its queue, the same way. */
static uint32_t fifo_pop(pl_pacer *p, fifo *f)
{
    return fifo_unlink(p, f, NIL, f->head);
}

static int64_t oldest(const pl_pacer *p, enum pl_pacer_class c)
{
    const fifo *f = &p->q[c];
    return f->n ? p->slots[f->head].enqueued : INT64_MAX;
}

/* ---- the bucket ---- */

/* The rate that sends every queued video packet (and the retransmissions
 * ahead of it, and the debt of what already went) by max_video_delay_us
 * after it was queued, or within a tenth of that once late; 0 when `rate`
 * does that already. The bound from the oldest packet and the whole queue
 * is looked at first: only when it says `rate` is too slow is each
 * packet's own deadline looked at. */
static uint64_t drain_rate(const pl_pacer *p, int64_t now, uint64_t rate)
{
    int64_t limit = p->cfg.max_video_delay_us;
    double ahead = (double)p->q[PL_PACER_RTX].bytes * (double)UBITS_PER_BYTE +
                   (p->credit < 0 ? (double)-p->credit : 0);
    double all = ahead + (double)p->q[PL_PACER_VIDEO].bytes * (double)UBITS_PER_BYTE;
    int64_t left = max64(limit - (now - oldest(p, PL_PACER_VIDEO)), limit / 10);
    if (all / (double)left <= (double)rate)
        return 0;
    double need = 0;
    for (uint32_t i = p->q[PL_PACER_VIDEO].head; i != NIL; i = p->slots[i].next) {
        ahead += (double)wire(p, p->slots[i].len) * (double)UBITS_PER_BYTE;
        left = max64(limit - (now - p->slots[i].enqueued), limit / 10);
        if (ahead / (double)left > need)
            need = ahead / (double)left;
    }
    return need > (double)rate ? (uint64_t)need : 0;
}

/* The rate paced packets go at from now: the media rate, raised so that
 * queued video leaves within max_video_delay_us of its arrival, or a
 * probe's rate while one lasts. */
static uint64_t rate_at(pl_pacer *p, int64_t now)
{
    uint64_t rate = p->st.media_bps;
    p->draining = false;
    /* A backlog of more than a frame or two (a keyframe) goes at the
     * estimate: it then waits here, where audio passes it, rather than in
     * the bottleneck's queue, where audio would wait behind it. */
    uint64_t estimate = p->estimate_bps > MIN_RATE_BPS ? p->estimate_bps : MIN_RATE_BPS;
    uint64_t backlog = p->q[PL_PACER_VIDEO].bytes + p->q[PL_PACER_RTX].bytes;
    if (estimate < rate && (double)backlog * 8e6 > (double)estimate * (double)p->cfg.backlog_us)
        rate = estimate;
    if (p->q[PL_PACER_VIDEO].n) {
        uint64_t need = drain_rate(p, now, rate);
        if (need > rate) {
            rate = need;
            p->draining = true;
        }
    }
    if (p->probe_active && p->probe.bps > rate) {
        rate = p->probe.bps;
        p->draining = false;
    }
    return rate;
}

/* Adds the credit earned since the last refill, at the rate in force then,
 * up to what burst_us is worth, and takes the rate from now on. */
static void refill(pl_pacer *p, int64_t now)
{
    if (p->last_refill != INT64_MIN && now > p->last_refill) {
        int64_t span = now - p->last_refill;
        int64_t cap = (int64_t)p->rate_bps * p->cfg.burst_us;
        /* The span is bounded so that the product cannot overflow. */
        int64_t earned = (int64_t)p->rate_bps * min64(span, 10000000);
        p->credit = p->credit > cap - earned ? cap : p->credit + earned;
        if (p->credit > cap)
            p->credit = cap;
    }
    if (p->last_refill == INT64_MIN || now > p->last_refill)
        p->last_refill = now;
    p->rate_bps = rate_at(p, now);
}

/* Paced packets may go now: the debt is paid, and either this is the
 * batch that is going now or the last one was interval_us ago. */
static bool paced_ok(const pl_pacer *p, int64_t now)
{
    return p->credit >= 0 && (p->last_batch == INT64_MIN || now == p->last_batch ||
                              now - p->last_batch >= p->cfg.interval_us);
}

/* ---- input ---- */

int pl_pacer_push(pl_pacer *p, int64_t now, enum pl_pacer_class cls, const uint8_t *pkt, size_t len,
                  bool marker)
{
    if (cls >= PL_PACER_PADDING || (int)cls < 0 || !pkt || len > PL_PACER_PKT_MAX) {
        p->st.invalid++;
        return PL_EINVAL;
    }
    pl_rtp_header h;
    if (pl_rtp_parse(pkt, len, &h) != PL_OK) {
        p->st.invalid++;
        return PL_EMALFORMED;
    }
    if (p->cfg.twcc_ext && h.extension && h.ext_profile != PL_RTP_EXT_ONE_BYTE) {
        p->st.invalid++; /* no room for a one-byte element */
        return PL_EUNSUPPORTED;
    }
    refill(p, now);
    bool room = p->n_free > 0;
    if (cls != PL_PACER_AUDIO && p->n_free <= PL_PACER_AUDIO_SLOTS)
        room = false;
    if (room && cls == PL_PACER_RTX) {
        uint64_t bound = p->st.media_bps * (uint64_t)p->cfg.max_rtx_delay_us / 8000000u;
        if (bound < PL_PACER_PKT_MAX)
            bound = PL_PACER_PKT_MAX;
        if (p->q[cls].n >= p->n_slots / 4 || p->q[cls].bytes + wire(p, len) > bound) {
            p->st.rtx_over++;
            room = false;
        }
    }
    if (!room) {
        p->st.cls[cls].refused++;
        return PL_ENOSPC;
    }
    uint32_t i = p->free_head;
    p->free_head = p->slots[i].next;
    p->n_free--;
    memcpy(slot_data(p, i), pkt, len);
    p->slots[i].enqueued = now;
    p->slots[i].len = (uint16_t)len;
    p->slots[i].marker = marker;
    fifo_push(p, &p->q[cls], i);
    p->rate_bps = rate_at(p, now);
    return PL_OK;
}

int pl_pacer_probe(pl_pacer *p, int64_t now, const pl_bwe_probe *probe)
{
    if (!probe || !probe->id || !probe->bps || probe->duration_us <= 0)
        return PL_EINVAL;
    if (p->probe_pending)
        p->st.probes_replaced++;
    p->probe = *probe;
    p->probe_pending = true;
    p->probe_asked = now;
    return PL_OK;
}

/* ---- output ---- */

static void end_probe(pl_pacer *p, bool done)
{
    p->probe_active = false;
    if (done)
        p->st.probes_done++;
    else
        p->st.probes_cut++;
}

/* Starts a pending cluster at a frame boundary, drops one that waited too
 * long, and ends the one in progress once sent or out of time. */
static void probe_tick(pl_pacer *p, int64_t now)
{
    if (p->probe_active && now - p->probe_started >= 2 * p->probe.duration_us)
        end_probe(p, false);
    if (!p->probe_pending || p->probe_active)
        return;
    if (now - p->probe_asked > PL_PACER_PROBE_WAIT_US) {
        p->probe_pending = false;
        p->st.probes_expired++;
        return;
    }
    if (p->in_frame)
        return;
    p->probe_pending = false;
    p->probe_active = true;
    p->probe_started = now;
    p->probe_bytes = 0;
    p->probe_packets = 0;
    /* A clean start: neither saved credit nor debt skews the cluster. */
    p->credit = 0;
    p->last_batch = INT64_MIN;
    p->st.probes_started++;
}

/* A padding-only packet for the cluster in progress, into buf. */
static size_t write_padding(pl_pacer *p, uint8_t *buf)
{
    uint64_t per = p->probe.bytes / (p->probe.min_packets ? p->probe.min_packets : 1);
    uint64_t left = p->probe.bytes > p->probe_bytes ? p->probe.bytes - p->probe_bytes : 0;
    if (per > left)
        per = left;
    size_t head = wire(p, PL_RTP_HEADER_MIN);
    size_t pad = per > head ? (size_t)(per - head) : 0;
    if (pad < PL_PACER_PADDING_MIN)
        pad = PL_PACER_PADDING_MIN;
    if (pad > PL_PACER_PADDING_MAX)
        pad = PL_PACER_PADDING_MAX;
    uint16_t seq = p->padding_seq++;
    uint32_t ts = p->video_ts, ssrc = p->cfg.padding_ssrc;
    buf[0] = 0x80 | 0x20; /* version 2, padding */
    buf[1] = p->cfg.padding_pt & 0x7f;
    buf[2] = (uint8_t)(seq >> 8);
    buf[3] = (uint8_t)seq;
    for (int k = 0; k < 4; k++) {
        buf[4 + k] = (uint8_t)(ts >> (24 - 8 * k));
        buf[8 + k] = (uint8_t)(ssrc >> (24 - 8 * k));
    }
    memset(buf + PL_RTP_HEADER_MIN, 0, pad - 1);
    buf[PL_RTP_HEADER_MIN + pad - 1] = (uint8_t)pad;
    return PL_RTP_HEADER_MIN + pad;
}

/* Drops retransmissions that waited too long to be of use. */
static void expire_rtx(pl_pacer *p, int64_t now)
{
    while (p->q[PL_PACER_RTX].n && now - oldest(p, PL_PACER_RTX) > p->cfg.max_rtx_delay_us) {
        fifo_pop(p, &p->q[PL_PACER_RTX]);
        p->st.rtx_expired++;
    }
}

static int choose(pl_pacer *p, int64_t now)
{
    if (p->q[PL_PACER_AUDIO].n)
        return PL_PACER_AUDIO;
    if (!paced_ok(p, now))
        return -1;
    expire_rtx(p, now);
    if (p->q[PL_PACER_RTX].n)
        return PL_PACER_RTX;
    if (p->q[PL_PACER_VIDEO].n)
        return PL_PACER_VIDEO;
    if (p->probe_active && p->cfg.padding_ssrc)
        return PL_PACER_PADDING;
    return -1;
}

int pl_pacer_poll(pl_pacer *p, int64_t now, pl_pacer_out *out, uint8_t *buf, size_t cap)
{
    probe_tick(p, now);
    refill(p, now);
    int c = choose(p, now);
    if (c < 0)
        return PL_EAGAIN;
    size_t spare = p->cfg.twcc_ext ? PL_PACER_TWCC_GROWTH : 0;
    size_t len;
    slot s = {.enqueued = now};
    if (c == PL_PACER_PADDING) {
        if (cap < PL_RTP_HEADER_MIN + PL_PACER_PADDING_MAX + spare) {
            p->st.too_big_for_buf++;
            return PL_ENOSPC;
        }
        len = write_padding(p, buf);
    } else {
        uint32_t i = fifo_pop(p, &p->q[c]);
        s = p->slots[i];
        len = s.len;
        if (len + spare > cap) {
            p->st.too_big_for_buf++;
            p->rate_bps = rate_at(p, now);
            return PL_ENOSPC;
        }
        memcpy(buf, slot_data(p, i), len);
    }
    uint16_t seq = p->twcc_seq++;
    if (p->cfg.twcc_ext) {
        int n = pl_pacer_write_twcc(buf, len, cap, p->cfg.twcc_ext, seq);
        if (n > 0)
            len = (size_t)n; /* it cannot fail: the packet was checked at push */
    }
    *out = (pl_pacer_out){.cls = (enum pl_pacer_class)c,
                          .len = len,
                          .twcc_seq = seq,
                          .cluster = p->probe_active ? p->probe.id : 0,
                          .queued_us = now - s.enqueued,
                          .marker = s.marker};
    p->credit -= (int64_t)wire(p, len) * UBITS_PER_BYTE;
    if (c != PL_PACER_AUDIO) {
        p->last_batch = now;
        if (p->draining)
            p->st.drained_faster++;
    }
    if (c == PL_PACER_VIDEO) {
        p->in_frame = !s.marker;
        p->frame_ssrc = read_ssrc(buf);
        p->video_ts =
            (uint32_t)buf[4] << 24 | (uint32_t)buf[5] << 16 | (uint32_t)buf[6] << 8 | buf[7];
    }
    pl_pacer_class_stats *cs = &p->st.cls[c];
    cs->sent_packets++;
    cs->sent_bytes += len;
    if (out->queued_us > cs->max_delay_us)
        cs->max_delay_us = out->queued_us;
    if (c == PL_PACER_PADDING) {
        p->st.padding_packets++;
        p->st.padding_bytes += len;
    }
    if (p->probe_active) {
        p->probe_bytes += wire(p, len);
        p->probe_packets++;
        if (p->probe_bytes >= p->probe.bytes && p->probe_packets >= p->probe.min_packets)
            end_probe(p, true);
    }
    p->rate_bps = rate_at(p, now);
    return PL_OK;
}

size_t pl_pacer_drop_video(pl_pacer *p)
{
    size_t n = 0;
    while (p->q[PL_PACER_VIDEO].n) {
        fifo_pop(p, &p->q[PL_PACER_VIDEO]);
        n++;
    }
    /* What comes next starts a frame: probes need not wait for a marker. */
    p->in_frame = false;
    p->st.video_dropped += n;
    return n;
}

size_t pl_pacer_drop_ssrc(pl_pacer *p, uint32_t ssrc)
{
    size_t n = 0;
    for (size_t c = 0; c < PL_PACER_PADDING; c++) {
        fifo *f = &p->q[c];
        uint32_t prev = NIL;
        for (uint32_t i = f->head; i != NIL;) {
            uint32_t next = p->slots[i].next;
            if (read_ssrc(slot_data(p, i)) != ssrc) {
                prev = i;
                i = next;
                continue;
            }
            fifo_unlink(p, f, prev, i);
            n++;
            i = next;
        }
    }
    /* A frame of the stream that was half sent will never be finished. */
    if (p->in_frame && p->frame_ssrc == ssrc)
        p->in_frame = false;
    p->st.ended_dropped += n;
    return n;
}

int64_t pl_pacer_next_timeout(const pl_pacer *p)
{
    if (p->q[PL_PACER_AUDIO].n)
        return oldest(p, PL_PACER_AUDIO);
    int64_t t = INT64_MAX;
    bool probing = p->probe_active;
    if (p->probe_pending && !p->probe_active) {
        if (!p->in_frame)
            return p->probe_asked;
        t = p->probe_asked + PL_PACER_PROBE_WAIT_US + 1;
    }
    if (p->probe_active)
        t = min64(t, p->probe_started + 2 * p->probe.duration_us);
    bool paced = p->q[PL_PACER_RTX].n || p->q[PL_PACER_VIDEO].n || (probing && p->cfg.padding_ssrc);
    if (paced) {
        int64_t due = p->last_refill;
        if (p->credit < 0 && p->rate_bps)
            due += (-p->credit + (int64_t)p->rate_bps - 1) / (int64_t)p->rate_bps;
        if (p->last_batch != INT64_MIN)
            due = max64(due, p->last_batch + p->cfg.interval_us);
        t = min64(t, due);
    }
    return t;
}

void pl_pacer_get_stats(const pl_pacer *p, int64_t now, pl_pacer_stats *out)
{
    *out = p->st;
    out->rate_bps = p->rate_bps;
    for (size_t c = 0; c < PL_PACER_PADDING; c++) {
        out->cls[c].queued_packets = p->q[c].n;
        out->cls[c].queued_bytes = p->q[c].bytes;
        out->cls[c].oldest_us = p->q[c].n ? now - oldest(p, (enum pl_pacer_class)c) : 0;
    }
}

/* ---- the transport-wide sequence number ---- */

int pl_pacer_write_twcc(uint8_t *pkt, size_t len, size_t cap, uint8_t id, uint16_t seq)
{
    if (id < 1 || id > 14 || len > cap)
        return PL_EINVAL;
    pl_rtp_header h;
    if (pl_rtp_parse(pkt, len, &h) != PL_OK)
        return PL_EMALFORMED;
    const uint8_t el[3] = {(uint8_t)(id << 4 | 1), (uint8_t)(seq >> 8), (uint8_t)seq};
    if (!h.extension) {
        if (len + 8 > cap)
            return PL_ENOSPC;
        size_t at = PL_RTP_HEADER_MIN + 4u * h.csrc_count;
        memmove(pkt + at + 8, pkt + at, len - at);
        const uint8_t block[8] = {0xBE, 0xDE, 0, 1, el[0], el[1], el[2], 0};
        memcpy(pkt + at, block, sizeof(block));
        pkt[0] |= 0x10;
        return (int)(len + 8);
    }
    if (h.ext_profile != PL_RTP_EXT_ONE_BYTE)
        return PL_EUNSUPPORTED;
    /* Where the elements end, or the element itself. */
    uint8_t *b = pkt + h.ext_offset;
    size_t pos = 0, used = 0;
    while (pos < h.ext_len) {
        if (b[pos] == 0) {
            pos++;
            continue;
        }
        uint8_t eid = b[pos] >> 4;
        size_t elen = (size_t)(b[pos] & 0x0f) + 1;
        if (eid == 15)
            return PL_EUNSUPPORTED; /* elements after it would not be read */
        if (eid == id) {
            if (elen != 2)
                return PL_EMALFORMED;
            b[pos + 1] = el[1];
            b[pos + 2] = el[2];
            return (int)len;
        }
        pos += 1 + elen;
        used = pos;
    }
    if (h.ext_len - used >= sizeof(el)) {
        memcpy(b + used, el, sizeof(el));
        return (int)len;
    }
    if (len + 4 > cap)
        return PL_ENOSPC;
    size_t end = h.ext_offset + h.ext_len;
    memmove(pkt + end + 4, pkt + end, len - end);
    memset(pkt + end, 0, 4);
    memcpy(b + used, el, sizeof(el));
    size_t words = h.ext_len / 4 + 1;
    pkt[h.ext_offset - 2] = (uint8_t)(words >> 8);
    pkt[h.ext_offset - 1] = (uint8_t)words;
    return (int)(len + 4);
}
