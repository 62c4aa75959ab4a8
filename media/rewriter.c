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
    memset(rw->holes, 0, sizeof(rw->holes));
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
        /* Skipped (lost or overtaken on the way here): their numbers wait
         * for them. Past the window only the newest are kept. */
        int first = ahead - 1 > PL_REWRITER_HOLES ? ahead - PL_REWRITER_HOLES : 1;
        for (int k = first; k < ahead; k++) {
            uint16_t in = (uint16_t)(rw->in_high + k);
            rw->holes[in & (PL_REWRITER_HOLES - 1)] =
                (pl_rewriter_hole){.in = in, .out = (uint16_t)(in + rw->seq_offset), .open = true};
        }
        /* The number now taken closes what an older one left there. */
        rw->holes[seq & (PL_REWRITER_HOLES - 1)].open = false;
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
    pl_rewriter_hole *h = &rw->holes[seq & (PL_REWRITER_HOLES - 1)];
    if (!h->open || h->in != seq)
        return false; /* a duplicate, or too old to have a number */
    h->open = false;
    if (drop)
        return false; /* its number stays a hole: it cannot be taken back now */
    *out_seq = h->out;
    *out_ts = ts + rw->ts_offset;
    return true;
}
