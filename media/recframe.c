#include "parley/recframe.h"

#include <stdlib.h>
#include <string.h>

#include "parley/rtp.h"
#include "parley/vp8.h"

/* Placements of a source on the timeline kept for the frames still held:
 * one that was held across a resync keeps the placement it arrived with. */
#define SEGMENTS 4
/* Farther behind than this, an Opus packet is no reordering but a sender
 * that restarted its sequence numbers (confirmed by the next one, RFC 3550
 * A.1). */
#define MAX_MISORDER 100
/* Once a video source's frames have left, an earlier arrival moves it only
 * by this much or more: less is jitter, and the frames moved earlier would
 * only be moved back by the recorder, which keeps them a spacing apart. */
#define EARLIER_US 50000

typedef struct segment {
    int64_t ts;  /* extended RTP timestamp where it starts */
    int64_t pts; /* its place on the timeline */
} segment;

typedef struct held {
    bool used;
    int64_t seq; /* extended */
    int64_t ts;  /* extended */
    int64_t arrival;
    uint16_t len; /* 0: padding */
} held;

typedef struct source {
    uint32_t ssrc;
    bool out_started; /* a frame of it left */
    bool replaced;    /* placed again since its last frame left */
    bool lost;        /* a loss since its last frame */
    /* Its RTP clock. */
    bool have_ts;
    int64_t top_ts; /* the newest extended timestamp */
    segment seg[SEGMENTS];
    int nseg;
    /* A disagreement past the bound, not yet taken for a resync: a stall
     * delivered late in a burst looks the same at its first packet. */
    bool suspect;
    int64_t suspect_since; /* arrival of the packet that raised it */
    int64_t suspect_d;     /* its arrival minus its place by the clock */
    segment suspect_seg;   /* where it would place the source */
    /* VP8 */
    pl_vp8_assembler *vp8;
    bool need_key;
    /* Opus */
    held hold[PL_RECFRAME_HOLD];
    uint8_t *hold_data; /* PL_RECFRAME_HOLD * PL_RECFRAME_MAX_PAYLOAD */
    int nheld;
    bool have_seq, have_next, have_bad;
    int64_t top_seq, next_seq;
    uint64_t done_mask; /* bit i: next_seq - 1 - i left */
    uint16_t bad_seq;
    /* The next frame, taken out but not handed out yet. */
    bool staged;
    pl_recframe_frame st;
    uint8_t *stage_buf; /* Opus: PL_RECFRAME_MAX_PAYLOAD */
} source;

struct pl_recframe {
    pl_recframe_codec codec;
    int64_t clock_hz;
    int64_t epoch;
    source src[2];
    source *cur, *pend; /* frames come from cur; pend waits to take over */
    bool have_retired;
    uint32_t retired_ssrc;
    int64_t retired_until;
    int64_t last_pts;
    uint16_t width, height;
    pl_recframe_stats st;
};

static void source_free(source *s)
{
    pl_vp8_assembler_destroy(s->vp8);
    free(s->hold_data);
    free(s->stage_buf);
}

void pl_recframe_destroy(pl_recframe *rf)
{
    if (!rf)
        return;
    source_free(&rf->src[0]);
    source_free(&rf->src[1]);
    free(rf);
}

pl_recframe *pl_recframe_create(pl_recframe_codec codec, int64_t epoch_us)
{
    if (codec != PL_RECFRAME_OPUS && codec != PL_RECFRAME_VP8)
        return NULL;
    pl_recframe *rf = calloc(1, sizeof(*rf));
    if (!rf)
        return NULL;
    rf->codec = codec;
    rf->clock_hz = codec == PL_RECFRAME_OPUS ? 48000 : 90000;
    rf->epoch = epoch_us;
    for (int i = 0; i < 2; i++) {
        source *s = &rf->src[i];
        if (codec == PL_RECFRAME_VP8) {
            s->vp8 = pl_vp8_assembler_create(true);
            if (!s->vp8)
                goto fail;
        } else {
            s->hold_data = malloc((size_t)PL_RECFRAME_HOLD * PL_RECFRAME_MAX_PAYLOAD);
            s->stage_buf = malloc(PL_RECFRAME_MAX_PAYLOAD);
            if (!s->hold_data || !s->stage_buf)
                goto fail;
        }
    }
    return rf;
fail:
    pl_recframe_destroy(rf);
    return NULL;
}

/* Empties a source for another SSRC; the buffers stay. */
static void source_start(pl_recframe *rf, source *s, uint32_t ssrc)
{
    rf->st.evicted += (uint64_t)s->nheld;
    if (s->staged)
        rf->st.replaced_frames++;
    pl_vp8_assembler *vp8 = s->vp8;
    uint8_t *hold_data = s->hold_data, *stage_buf = s->stage_buf;
    memset(s, 0, sizeof(*s));
    s->vp8 = vp8;
    s->hold_data = hold_data;
    s->stage_buf = stage_buf;
    if (vp8)
        pl_vp8_assembler_reset(vp8);
    s->ssrc = ssrc;
    s->need_key = true;
}

/* The source a packet of ssrc belongs to, a new one started if need be;
 * NULL for the stragglers of the source just replaced. */
static source *source_for(pl_recframe *rf, uint32_t ssrc, int64_t now)
{
    if (rf->cur && rf->cur->ssrc == ssrc)
        return rf->cur;
    if (rf->pend && rf->pend->ssrc == ssrc)
        return rf->pend;
    if (rf->have_retired && ssrc == rf->retired_ssrc && now < rf->retired_until)
        return NULL;
    if (!rf->cur) {
        rf->cur = &rf->src[0];
        source_start(rf, rf->cur, ssrc);
        return rf->cur;
    }
    rf->pend = rf->cur == &rf->src[0] ? &rf->src[1] : &rf->src[0];
    source_start(rf, rf->pend, ssrc);
    return rf->pend;
}

static int64_t unwrap32(int64_t ref, uint32_t v)
{
    return ref + (int32_t)(v - (uint32_t)ref);
}

static int64_t to_pts(const pl_recframe *rf, const source *s, int64_t ts)
{
    int i = s->nseg - 1;
    while (i > 0 && s->seg[i].ts > ts)
        i--;
    return s->seg[i].pts + (ts - s->seg[i].ts) * 1000000 / rf->clock_hz;
}

static void add_segment(pl_recframe *rf, source *s, segment sg)
{
    if (s->nseg == SEGMENTS) {
        memmove(s->seg, s->seg + 1, sizeof(s->seg[0]) * (SEGMENTS - 1));
        s->nseg--;
    }
    s->seg[s->nseg++] = sg;
    s->suspect = false;
    s->replaced = s->out_started;
    rf->st.resyncs++;
}

static int64_t abs64(int64_t v)
{
    return v < 0 ? -v : v;
}

/* Follows the source's RTP clock with a media packet's timestamp; returns
 * the extended timestamp. A packet newer than any before that arrives
 * more than the bound away from its place by the clock raises a suspicion
 * (the source's frames wait meanwhile): if the packets after it keep the
 * same disagreement for PL_RECFRAME_CONFIRM_US, the sender's clock jumped
 * or stood still, and the source is placed again from that packet's
 * arrival; if they close in on the clock (a stall whose packets come in a
 * burst) or agree with it again, the clock stays. */
static int64_t clock_update(pl_recframe *rf, source *s, uint32_t ts, int64_t now)
{
    int64_t at = now - rf->epoch;
    if (!s->have_ts) {
        s->have_ts = true;
        s->top_ts = ts;
        s->seg[0] = (segment){.ts = ts, .pts = at};
        s->nseg = 1;
        return ts;
    }
    int64_t ext = unwrap32(s->top_ts, ts);
    if (ext <= s->top_ts)
        return ext; /* reordered, or another packet of the same frame */
    s->top_ts = ext;
    int64_t d = at - to_pts(rf, s, ext);
    if (s->suspect) {
        int64_t closed = s->suspect_d > 0 ? s->suspect_d - d : d - s->suspect_d;
        if (abs64(d) <= PL_RECFRAME_RESYNC_US || closed > PL_RECFRAME_RESYNC_US / 2) {
            s->suspect = false;
            rf->st.bursts++;
        } else if (now - s->suspect_since >= PL_RECFRAME_CONFIRM_US) {
            /* Steady: the first packet's place. Wandering for long: this
             * one's, the latest word on where the source is. */
            if (abs64(d - s->suspect_d) <= PL_RECFRAME_RESYNC_US / 4)
                add_segment(rf, s, s->suspect_seg);
            else if (now - s->suspect_since >= 4 * PL_RECFRAME_CONFIRM_US)
                add_segment(rf, s, (segment){.ts = ext, .pts = at});
        }
    } else if (abs64(d) > PL_RECFRAME_RESYNC_US) {
        s->suspect = true;
        s->suspect_since = now;
        s->suspect_d = d;
        s->suspect_seg = (segment){.ts = ext, .pts = at};
    } else if (d < 0 && (!s->out_started || (rf->codec == PL_RECFRAME_VP8 && d <= -EARLIER_US))) {
        /* This packet was less delayed than the one that placed the
         * source: it places it better. For video also after frames left:
         * an encoder's first frame can have been taken long before it was
         * sent (a browser starting its camera: 440 ms in one recording),
         * and a source placed by it would stay that late against its
         * audio. */
        for (int i = 0; i < s->nseg; i++)
            s->seg[i].pts += d;
        s->replaced = s->out_started;
        rf->st.earlier += s->out_started;
    }
    return ext;
}

static int opus_push(pl_recframe *rf, source *s, const pl_rtp_header *h, const uint8_t *payload,
                     int64_t ext_ts, int64_t now)
{
    int64_t ext;
    if (!s->have_seq) {
        s->have_seq = true;
        s->top_seq = ext = h->seq;
    } else {
        ext = s->top_seq + (int16_t)(h->seq - (uint16_t)s->top_seq);
    }
    if (s->have_next && ext < s->next_seq) {
        int64_t back = s->next_seq - ext;
        if (back <= MAX_MISORDER) {
            if (back <= 64 && (s->done_mask >> (back - 1)) & 1)
                rf->st.duplicates++;
            else
                rf->st.late++;
            return 0;
        }
        if (!s->have_bad || h->seq != s->bad_seq) {
            s->have_bad = true;
            s->bad_seq = (uint16_t)(h->seq + 1);
            rf->st.late++;
            return 0;
        }
        /* Two in a row from far behind: the numbers restarted. */
        for (int i = 0; i < PL_RECFRAME_HOLD; i++)
            s->hold[i].used = false;
        rf->st.evicted += (uint64_t)s->nheld;
        s->nheld = 0;
        s->have_next = false;
        s->done_mask = 0;
        s->top_seq = ext;
        s->lost = true;
    }
    s->have_bad = false;
    int free_slot = -1;
    for (int i = 0; i < PL_RECFRAME_HOLD; i++) {
        if (s->hold[i].used && s->hold[i].seq == ext) {
            rf->st.duplicates++;
            return 0;
        }
        if (!s->hold[i].used && free_slot < 0)
            free_slot = i;
    }
    if (free_slot < 0) {
        rf->st.evicted++;
        return PL_ENOSPC;
    }
    if (ext > s->top_seq)
        s->top_seq = ext;
    held *p = &s->hold[free_slot];
    *p = (held){
        .used = true, .seq = ext, .ts = ext_ts, .arrival = now, .len = (uint16_t)h->payload_len};
    memcpy(s->hold_data + (size_t)free_slot * PL_RECFRAME_MAX_PAYLOAD, payload, h->payload_len);
    s->nheld++;
    return 0;
}

int pl_recframe_push(pl_recframe *rf, const uint8_t *pkt, size_t len, int64_t now_us)
{
    rf->st.packets++;
    pl_rtp_header h;
    if (!pkt || pl_rtp_parse(pkt, len, &h) != PL_OK) {
        rf->st.malformed++;
        return PL_EMALFORMED;
    }
    if (h.payload_len > PL_RECFRAME_MAX_PAYLOAD) {
        rf->st.oversized++;
        return PL_EUNSUPPORTED;
    }
    const uint8_t *payload = pkt + h.header_len;
    pl_vp8_desc d;
    if (rf->codec == PL_RECFRAME_VP8 && h.payload_len > 0 &&
        pl_vp8_parse_descriptor(payload, h.payload_len, &d) != PL_OK) {
        rf->st.malformed++;
        return PL_EMALFORMED;
    }
    source *s = source_for(rf, h.ssrc, now_us);
    if (!s) {
        rf->st.stale_source++;
        return 0;
    }
    int64_t ext_ts = 0;
    if (h.payload_len == 0)
        rf->st.padding++; /* it says nothing of the media's clock */
    else
        ext_ts = clock_update(rf, s, h.timestamp, now_us);
    if (rf->codec == PL_RECFRAME_OPUS)
        return opus_push(rf, s, &h, payload, ext_ts, now_us);
    if (h.payload_len == 0) {
        /* A padding packet takes a sequence number; left out, it would be a
         * hole the assembler waits for and then calls a loss. It goes in as
         * a one-byte frame of its own instead, which no VP8 frame is (its
         * frame tag alone takes three), and which stage() drops. */
        static const uint8_t stand_in[2] = {0x10, 0x01}; /* S=1 PID=0; P=1 */
        pl_vp8_assembler_push(s->vp8, h.seq, h.timestamp, true, stand_in, sizeof(stand_in), now_us);
        return 0;
    }
    return pl_vp8_assembler_push(s->vp8, h.seq, h.timestamp, h.marker, payload, h.payload_len,
                                 now_us);
}

static bool opus_stage(pl_recframe *rf, source *s, int64_t now)
{
    for (;;) {
        int m = -1;
        for (int i = 0; i < PL_RECFRAME_HOLD; i++)
            if (s->hold[i].used && (m < 0 || s->hold[i].seq < s->hold[m].seq))
                m = i;
        if (m < 0)
            return false;
        held *p = &s->hold[m];
        bool in_order = s->have_next && p->seq == s->next_seq;
        if (!in_order && s->nheld < PL_RECFRAME_HOLD && now - p->arrival < PL_RECFRAME_REORDER_US)
            return false; /* what comes before it may still arrive */
        if (s->have_next && p->seq > s->next_seq) {
            int64_t missing = p->seq - s->next_seq;
            rf->st.lost_packets += (uint64_t)missing;
            rf->st.gaps++;
            s->lost = true;
            s->done_mask = missing >= 64 ? 0 : s->done_mask << missing;
        }
        s->done_mask = s->done_mask << 1 | 1;
        s->next_seq = p->seq + 1;
        s->have_next = true;
        p->used = false;
        s->nheld--;
        if (p->len == 0)
            continue; /* padding */
        memcpy(s->stage_buf, s->hold_data + (size_t)m * PL_RECFRAME_MAX_PAYLOAD, p->len);
        s->st = (pl_recframe_frame){.data = s->stage_buf,
                                    .len = p->len,
                                    .pts_us = to_pts(rf, s, p->ts),
                                    .ssrc = s->ssrc,
                                    .rtp_timestamp = (uint32_t)p->ts,
                                    .keyframe = true,
                                    .lost_before = s->lost,
                                    .new_source = !s->out_started,
                                    .replaced = s->replaced};
        s->lost = false;
        s->replaced = false;
        s->staged = true;
        return true;
    }
}

static bool vp8_stage(pl_recframe *rf, source *s, int64_t now)
{
    pl_vp8_frame f;
    while (pl_vp8_assembler_pop(s->vp8, now, &f) == 1) {
        if (f.lost_before) {
            s->need_key = true;
            s->lost = true;
            rf->st.gaps++;
        }
        if (f.len == 1)
            continue; /* a padding packet's stand-in (see push) */
        uint16_t w = 0, h = 0;
        if (f.keyframe && pl_vp8_keyframe_size(f.data, f.len, &w, &h) != PL_OK) {
            rf->st.malformed++;
            s->need_key = true;
            s->lost = true;
            continue;
        }
        if (!f.keyframe && (s->need_key || f.len < 3)) {
            rf->st.undecodable_frames++;
            s->lost = true;
            continue;
        }
        if (f.keyframe)
            s->need_key = false;
        int64_t ext = unwrap32(s->top_ts, f.timestamp);
        s->st = (pl_recframe_frame){.data = f.data,
                                    .len = f.len,
                                    .pts_us = to_pts(rf, s, ext),
                                    .ssrc = s->ssrc,
                                    .rtp_timestamp = f.timestamp,
                                    .keyframe = f.keyframe,
                                    .width = w,
                                    .height = h,
                                    .lost_before = s->lost,
                                    .new_source = !s->out_started,
                                    .replaced = s->replaced};
        s->lost = false;
        s->replaced = false;
        s->staged = true;
        return true;
    }
    return false;
}

static void stage(pl_recframe *rf, source *s, int64_t now)
{
    if (s && s->suspect && now - s->suspect_since >= PL_RECFRAME_CONFIRM_US)
        add_segment(rf, s, s->suspect_seg); /* nothing came to say otherwise */
    /* While suspect the frames wait to know their place, unless the Opus
     * hold is full: they then go with the clock's. */
    if (s && s->suspect && !(s->hold_data && s->nheld >= PL_RECFRAME_HOLD))
        return;
    if (s && !s->staged) {
        if (rf->codec == PL_RECFRAME_OPUS)
            opus_stage(rf, s, now);
        else
            vp8_stage(rf, s, now);
    }
}

/* The pending source takes over: what the current one still holds would
 * come after it on the timeline, and is dropped. */
static void promote(pl_recframe *rf, int64_t now)
{
    source *old = rf->cur;
    rf->have_retired = true;
    rf->retired_ssrc = old->ssrc;
    rf->retired_until = now + PL_RECFRAME_STALE_US;
    rf->cur = rf->pend;
    rf->pend = NULL;
    source_start(rf, old, 0);
    rf->st.source_changes++;
}

bool pl_recframe_poll(pl_recframe *rf, int64_t now_us, pl_recframe_frame *out)
{
    stage(rf, rf->cur, now_us);
    stage(rf, rf->pend, now_us);
    source *o;
    if (rf->pend && rf->pend->staged) {
        /* The current source's frames before the switch point still go. */
        if (rf->cur->staged && rf->cur->st.pts_us < rf->pend->st.pts_us) {
            o = rf->cur;
        } else {
            promote(rf, now_us);
            o = rf->cur;
        }
    } else if (rf->cur && rf->cur->staged) {
        o = rf->cur;
    } else {
        return false;
    }
    *out = o->st;
    o->staged = false;
    o->out_started = true;
    if (out->pts_us < rf->last_pts) {
        out->pts_us = rf->last_pts;
        rf->st.clamped++;
    }
    rf->last_pts = out->pts_us;
    if (rf->codec == PL_RECFRAME_VP8) {
        if (out->keyframe) {
            rf->width = out->width;
            rf->height = out->height;
            rf->st.keyframes++;
        } else {
            out->width = rf->width;
            out->height = rf->height;
        }
    }
    rf->st.frames++;
    return true;
}

int64_t pl_recframe_next_timeout(const pl_recframe *rf)
{
    int64_t t = INT64_MAX;
    const source *srcs[2] = {rf->cur, rf->pend};
    for (int k = 0; k < 2; k++) {
        const source *s = srcs[k];
        if (!s)
            continue;
        if (s->suspect && s->suspect_since + PL_RECFRAME_CONFIRM_US < t)
            t = s->suspect_since + PL_RECFRAME_CONFIRM_US;
        if (s->vp8) {
            int64_t v = pl_vp8_assembler_next_timeout(s->vp8);
            if (v < t)
                t = v;
            continue;
        }
        /* What poll waits for: the lowest-numbered packet held (those
         * after it wait behind it), the reorder window after its arrival.
         * An earlier arrival of a later number would name a time that
         * releases nothing. */
        int m = -1;
        for (int i = 0; i < PL_RECFRAME_HOLD; i++)
            if (s->hold[i].used && (m < 0 || s->hold[i].seq < s->hold[m].seq))
                m = i;
        if (m >= 0 && s->hold[m].arrival + PL_RECFRAME_REORDER_US < t)
            t = s->hold[m].arrival + PL_RECFRAME_REORDER_US;
    }
    return t;
}

bool pl_recframe_wants_keyframe(const pl_recframe *rf, uint32_t *ssrc)
{
    if (rf->codec != PL_RECFRAME_VP8)
        return false;
    const source *s = rf->pend ? rf->pend : rf->cur;
    if (s && !s->need_key)
        return false;
    if (ssrc)
        *ssrc = s ? s->ssrc : 0;
    return true;
}

uint32_t pl_recframe_source_ssrc(const pl_recframe *rf)
{
    return rf->cur ? rf->cur->ssrc : 0;
}

void pl_recframe_stats_get(const pl_recframe *rf, pl_recframe_stats *out)
{
    *out = rf->st;
    for (int i = 0; i < 2; i++) {
        if (!rf->src[i].vp8)
            continue;
        pl_vp8_assembler_stats a;
        pl_vp8_assembler_stats_get(rf->src[i].vp8, &a);
        out->late += a.late_packets;
        out->duplicates += a.duplicates;
        out->incomplete_frames += a.incomplete_frames;
    }
}
