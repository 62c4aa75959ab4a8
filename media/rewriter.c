#include "parley/rewriter.h"

#include <string.h>

void pl_rewriter_init(pl_rewriter *rw, uint32_t clock_rate)
{
    memset(rw, 0, sizeof(*rw));
    rw->clock_rate = clock_rate;
}

uint32_t pl_rewriter_wall_ts(const pl_rewriter *rw, int64_t now_us)
{
    int64_t elapsed = now_us - rw->last_at_us;
    uint32_t ticks = elapsed > 0 ? (uint32_t)((uint64_t)elapsed * rw->clock_rate / 1000000u) : 0;
    return rw->last_ts + (ticks ? ticks : 1);
}

uint16_t pl_rewriter_out_high(const pl_rewriter *rw)
{
    return (uint16_t)(rw->in_high + rw->seq_offset);
}

void pl_rewriter_switch(pl_rewriter *rw, int64_t now_us, uint16_t seq, uint32_t ts,
                        const uint32_t *mapped_ts)
{
    if (!rw->started) {
        rw->seq_offset = 0;
        rw->ts_offset = 0;
    } else {
        uint32_t wall = pl_rewriter_wall_ts(rw, now_us);
        uint32_t want = wall;
        if (mapped_ts) {
            int32_t off = (int32_t)(*mapped_ts - wall);
            /* Sender reports that far from the wall clock are stale. */
            if (off <= (int32_t)rw->clock_rate && off >= -(int32_t)rw->clock_rate)
                want = *mapped_ts;
        }
        if ((int32_t)(want - rw->last_ts) <= 0)
            want = rw->last_ts + 1;
        rw->seq_offset = (uint16_t)(pl_rewriter_out_high(rw) + 1 - seq);
        rw->ts_offset = want - ts;
    }
    rw->in_high = (uint16_t)(seq - 1);
    rw->mapped = true;
    memset(rw->gaps, 0, sizeof(rw->gaps));
}

void pl_rewriter_unmap(pl_rewriter *rw)
{
    rw->mapped = false;
}

bool pl_rewriter_packet(pl_rewriter *rw, int64_t now_us, uint16_t seq, uint32_t ts, bool drop,
                        uint16_t *out_seq, uint32_t *out_ts)
{
    if (!rw->mapped)
        return false;
    int16_t ahead = (int16_t)(seq - rw->in_high);
    if (ahead > 0) {
        if (ahead > 1) {
            /* Lost on the way here: their numbers wait for them. */
            pl_rewriter_gap *g = &rw->gaps[rw->gap_next++ % PL_REWRITER_GAPS];
            g->in = (uint16_t)(rw->in_high + 1);
            g->out = (uint16_t)(g->in + rw->seq_offset);
            g->n = (uint16_t)(ahead - 1);
        }
        rw->in_high = seq;
        if (drop) {
            rw->seq_offset--; /* the next packet takes its number */
            return false;
        }
        *out_seq = (uint16_t)(seq + rw->seq_offset);
        *out_ts = ts + rw->ts_offset;
        if (!rw->started || (int32_t)(*out_ts - rw->last_ts) >= 0) {
            rw->last_ts = *out_ts;
            rw->last_at_us = now_us;
        }
        rw->started = true;
        return true;
    }
    if (drop)
        return false;
    for (size_t i = 0; i < PL_REWRITER_GAPS; i++) {
        const pl_rewriter_gap *g = &rw->gaps[i];
        uint16_t k = (uint16_t)(seq - g->in);
        if (k < g->n) {
            *out_seq = (uint16_t)(g->out + k);
            *out_ts = ts + rw->ts_offset;
            return true;
        }
    }
    return false;
}
