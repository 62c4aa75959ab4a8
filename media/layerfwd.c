#include "parley/layerfwd.h"

#include <string.h>

#define ALL_TEMPORAL 0xff
#define HIST_MASK (PL_LAYERFWD_HISTORY - 1)
/* A packet this far behind the newest is no retransmission but a source
 * that restarted its numbers (RFC 3550 A.1). */
#define MAX_MISORDER 1000

void pl_layerfwd_init(pl_layerfwd *f, uint32_t clock_rate, bool keyframe_start)
{
    memset(f, 0, sizeof(*f));
    f->clock_rate = clock_rate;
    f->keyframe_start = keyframe_start;
    f->cur = f->target = f->last_layer = PL_LAYER_NONE;
    f->tcap = f->tcap_want = ALL_TEMPORAL;
    pl_rewriter_init(&f->rw, clock_rate);
    pl_vp8_rewriter_init(&f->vp8);
}

void pl_layerfwd_retrack(pl_layerfwd *f, uint32_t clock_rate, bool keyframe_start)
{
    pl_layerfwd_stop(f);
    f->clock_rate = f->rw.clock_rate = clock_rate;
    f->keyframe_start = keyframe_start;
    f->target = f->last_layer = PL_LAYER_NONE;
    f->hist_any = false;
    memset(f->hist, 0, sizeof(f->hist));
}

void pl_layerfwd_set_target(pl_layerfwd *f, uint8_t layer)
{
    f->target = layer;
}

void pl_layerfwd_set_temporal(pl_layerfwd *f, uint8_t temporal_layers)
{
    f->tcap_want = temporal_layers ? temporal_layers : ALL_TEMPORAL;
}

void pl_layerfwd_stop(pl_layerfwd *f)
{
    f->cur = PL_LAYER_NONE;
    f->have_frame = false;
    pl_rewriter_unmap(&f->rw);
}

uint8_t pl_layerfwd_keyframe_layer(const pl_layerfwd *f)
{
    return f->target != PL_LAYER_NONE ? f->target : f->cur;
}

bool pl_layerfwd_waiting(const pl_layerfwd *f)
{
    /* Without keyframe_start, a route on no layer starts at any packet,
     * until VP8 went out (restart_at_key). */
    return f->target != PL_LAYER_NONE && f->cur != f->target &&
           (f->keyframe_start || f->restart_at_key || f->cur != PL_LAYER_NONE);
}

/* The instant a packet of the new layer was captured, in the output's
 * timeline: through both layers' sender reports, the time of the old
 * layer's clock at that instant, moved by the old layer's offset. False
 * without reports of both (or when they belong to other sources). */
static bool map_through_reports(const pl_layerfwd *f, const pl_layerfwd_pkt *p, uint32_t *out)
{
    if (!p->clocks || f->last_layer == PL_LAYER_NONE || !f->rw.started)
        return false;
    const pl_layer_clock *a = &p->clocks[f->last_layer], *b = &p->clocks[p->layer];
    if (!a->valid || !b->valid || a->epoch != f->last_epoch || b->epoch != p->epoch)
        return false;
    /* NTP(b's report) - NTP(a's report), in RTP ticks. */
    double secs = (double)(int64_t)(b->ntp - a->ntp) / 4294967296.0;
    double exact = secs * f->clock_rate;
    int64_t ticks = (int64_t)(exact + (exact < 0 ? -0.5 : 0.5));
    uint32_t in_a = a->rtp + (p->ts - b->rtp) + (uint32_t)ticks;
    *out = in_a + f->rw.ts_offset;
    return true;
}

static void start(pl_layerfwd *f, int64_t now, const pl_layerfwd_pkt *p, pl_layerfwd_out *out)
{
    uint32_t mapped = p->ts + f->rw.ts_offset;
    /* Back on the source it left (a pause): its own clock says where it
     * is. Another layer: through the reports. */
    bool same = f->rw.started && p->layer == f->last_layer && p->epoch == f->last_epoch;
    bool have = same || map_through_reports(f, p, &mapped);
    pl_rewriter_switch(&f->rw, now, p->seq, p->ts, have ? &mapped : NULL);
    pl_vp8_rewriter_switch(&f->vp8);
    out->switched = f->last_layer != PL_LAYER_NONE && f->last_layer != p->layer;
    f->cur = f->last_layer = p->layer;
    f->epoch = f->last_epoch = p->epoch;
    f->tcap = f->tcap_want;
    f->have_frame = false;
}

static bool above_cap(uint8_t cap, const pl_vp8_desc *d)
{
    return d && d->has_tid && cap != ALL_TEMPORAL && d->tid >= cap;
}

/* Whether the packet's frame is dropped for its temporal layer. The cap
 * moves at the first packet of a frame: down at any, up at a key frame or
 * at a layer sync frame of the first layer above the cap. */
static bool temporal_drop(pl_layerfwd *f, const pl_layerfwd_pkt *p)
{
    const pl_vp8_desc *d = p->vp8;
    bool newest = (int16_t)(p->seq - f->rw.in_high) > 0;
    if (newest && (!f->have_frame || p->ts != f->frame_ts)) {
        if (f->tcap_want < f->tcap)
            f->tcap = f->tcap_want;
        else if (f->tcap_want > f->tcap && d && d->keyframe)
            f->tcap = f->tcap_want;
        else if (f->tcap_want > f->tcap && d && d->has_tid && d->layer_sync && d->tid == f->tcap)
            f->tcap = (uint8_t)(d->tid + 1);
        f->have_frame = true;
        f->frame_ts = p->ts;
        f->frame_drop = above_cap(f->tcap, d);
        return f->frame_drop;
    }
    if (f->have_frame && p->ts == f->frame_ts)
        return f->frame_drop;
    int known = d ? pl_vp8_rewriter_frame_state(&f->vp8, d) : -1;
    return known >= 0 ? known == 0 : above_cap(f->tcap, d);
}

static void remember(pl_layerfwd *f, const pl_layerfwd_pkt *p, const pl_layerfwd_out *o)
{
    if (!f->hist_any) {
        f->hist_any = true;
        f->hist_top = (uint16_t)(o->seq - 1);
    }
    int16_t ahead = (int16_t)(o->seq - f->hist_top);
    if (ahead > 0) {
        /* Numbers skipped (left for packets lost upstream) hold nothing. */
        for (int k = 1; k < ahead && k <= PL_LAYERFWD_HISTORY; k++)
            f->hist[(f->hist_top + k) & HIST_MASK].valid = false;
        f->hist_top = o->seq;
    } else if ((uint16_t)(f->hist_top - o->seq) >= PL_LAYERFWD_HISTORY) {
        return;
    }
    f->hist[o->seq & HIST_MASK] = (pl_layerfwd_sent){.ts = o->ts,
                                                     .in_seq = p->seq,
                                                     .vf = o->vf,
                                                     .layer = p->layer,
                                                     .epoch = p->epoch,
                                                     .vp8 = o->vp8,
                                                     .valid = true};
}

bool pl_layerfwd_packet(pl_layerfwd *f, int64_t now, const pl_layerfwd_pkt *p, pl_layerfwd_out *out)
{
    memset(out, 0, sizeof(*out));
    bool key = p->vp8 && p->vp8->keyframe;
    if (f->cur != PL_LAYER_NONE && p->layer == f->cur) {
        if (p->epoch != f->epoch) {
            pl_layerfwd_stop(f); /* another source behind the layer */
        } else if ((int16_t)(p->seq - f->rw.in_high) < -MAX_MISORDER) {
            /* Two in a row from far behind: the numbers restarted. */
            bool restart = p->seq == f->bad_seq;
            f->bad_seq = (uint16_t)(p->seq + 1);
            if (!restart)
                return false;
            pl_layerfwd_stop(f);
        }
    }
    if (p->layer != f->cur) {
        if (p->layer != f->target || ((f->keyframe_start || f->restart_at_key) && !key))
            return false;
        start(f, now, p, out);
    }
    bool drop = temporal_drop(f, p);
    const pl_vp8_desc *d = p->vp8;
    bool go = pl_rewriter_packet(&f->rw, now, p->seq, p->ts, drop, &out->seq, &out->ts);
    if (d && (go || drop)) {
        /* A dropped frame is told too: it takes no picture id. */
        if (!pl_vp8_rewriter_packet(&f->vp8, d, drop, &out->vf))
            go = false;
        out->vp8 = d->has_picture_id || d->has_tl0picidx || d->has_keyidx;
    }
    if (!go)
        return false;
    if (d)
        f->restart_at_key = true;
    remember(f, p, out);
    return true;
}

bool pl_layerfwd_lookup(const pl_layerfwd *f, uint16_t out_seq, pl_layerfwd_sent *out)
{
    if (!f->hist_any || (uint16_t)(f->hist_top - out_seq) >= PL_LAYERFWD_HISTORY)
        return false;
    *out = f->hist[out_seq & HIST_MASK];
    return out->valid;
}

/* Layer a is larger than b: by area when both sizes are known, else by
 * index. */
static bool larger(const pl_layer_info *layers, uint8_t a, uint8_t b)
{
    const pl_layer_info *x = &layers[a], *y = &layers[b];
    if (x->width && x->height && y->width && y->height)
        return (uint32_t)x->width * x->height > (uint32_t)y->width * y->height;
    return a > b;
}

uint8_t pl_layer_choose(const pl_layer_info *layers, size_t n, uint16_t max_width,
                        uint16_t max_height, uint8_t cap)
{
    uint8_t order[PL_LAYER_NONE];
    size_t m = 0;
    for (size_t i = 0; i < n && i < PL_LAYER_NONE; i++)
        if (layers[i].active)
            order[m++] = (uint8_t)i;
    if (m == 0)
        for (size_t i = 0; i < n && i < PL_LAYER_NONE; i++)
            order[m++] = (uint8_t)i;
    if (m == 0)
        return PL_LAYER_NONE;
    if (cap < n) {
        /* Nothing larger than the cap; the smallest when all are. */
        uint8_t smallest = order[0];
        size_t kept = 0;
        for (size_t k = 0; k < m; k++) {
            if (larger(layers, smallest, order[k]))
                smallest = order[k];
            if (!larger(layers, order[k], cap))
                order[kept++] = order[k];
        }
        if (kept == 0)
            order[kept++] = smallest;
        m = kept;
    }
    bool sized = true;
    for (size_t k = 0; k < m; k++)
        sized = sized && layers[order[k]].width && layers[order[k]].height;
    if (sized) {
        /* By area, the offer's order between equals (insertion sort: a
         * handful of layers). */
        for (size_t k = 1; k < m; k++) {
            uint8_t v = order[k];
            uint32_t area = (uint32_t)layers[v].width * layers[v].height;
            size_t j = k;
            for (; j > 0; j--) {
                const pl_layer_info *o = &layers[order[j - 1]];
                if ((uint32_t)o->width * o->height <= area)
                    break;
                order[j] = order[j - 1];
            }
            order[j] = v;
        }
    }
    if (max_width || max_height)
        for (size_t k = 0; k < m; k++) {
            const pl_layer_info *l = &layers[order[k]];
            if (l->width && l->height && (!max_width || l->width >= max_width) &&
                (!max_height || l->height >= max_height))
                return order[k];
        }
    return order[m - 1];
}
