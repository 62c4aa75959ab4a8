#include "parley/rewriter.h"

#include <string.h>

void pl_rewriter_init(pl_rewriter *rw, uint32_t clock_rate)
{
    memset(rw, 0, sizeof(*rw));
    rw->clock_rate = clock_rate;
}

void pl_rewriter_map(pl_rewriter *rw, int64_t now_us, uint32_t ssrc, uint16_t seq, uint32_t ts,
                     uint16_t *out_seq, uint32_t *out_ts)
{
    bool fresh = !rw->started || rw->src_ssrc != ssrc;
    if (fresh) {
        if (rw->started) {
            /* The next sequence number, and the timestamp the old source
             * would have reached by now (at least one tick on, so the new
             * frame is never taken for part of the last one). */
            int64_t elapsed = now_us - rw->last_at_us;
            uint32_t ticks =
                elapsed > 0 ? (uint32_t)((uint64_t)elapsed * rw->clock_rate / 1000000u) : 0;
            rw->seq_offset = (uint16_t)(rw->last_seq + 1 - seq);
            rw->ts_offset = rw->last_ts + (ticks ? ticks : 1) - ts;
        } else {
            rw->seq_offset = 0;
            rw->ts_offset = 0;
        }
        rw->src_ssrc = ssrc;
        rw->started = true;
    }
    *out_seq = (uint16_t)(seq + rw->seq_offset);
    *out_ts = ts + rw->ts_offset;
    if (fresh || (int16_t)(*out_seq - rw->last_seq) > 0) {
        rw->last_seq = *out_seq;
        rw->last_ts = *out_ts;
        rw->last_at_us = now_us;
    }
}

bool pl_rewriter_map_again(const pl_rewriter *rw, uint32_t ssrc, uint16_t seq, uint32_t ts,
                           uint16_t *out_seq, uint32_t *out_ts)
{
    if (!rw->started || rw->src_ssrc != ssrc)
        return false;
    *out_seq = (uint16_t)(seq + rw->seq_offset);
    *out_ts = ts + rw->ts_offset;
    return true;
}

uint16_t pl_rewriter_source_seq(const pl_rewriter *rw, uint16_t out_seq)
{
    return (uint16_t)(out_seq - rw->seq_offset);
}
