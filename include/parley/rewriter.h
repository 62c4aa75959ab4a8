/* The sequence number and timestamp space of one forwarded stream. A
 * subscriber sees one SSRC per track whatever happens behind it:
 *
 * - When the source behind the stream changes (a simulcast layer switch,
 *   a restarted camera), sequence numbers continue from the last one sent
 *   and timestamps from the last one sent, either at the instant the
 *   caller mapped through the sources' sender reports or, without that, by
 *   the time that passed; never backwards.
 * - A packet the caller drops (a temporal layer it does not forward)
 *   takes no number: the next one takes its place, so a subscriber sees no
 *   loss it would ask to have repaired.
 * - A packet lost on the way from the publisher, or overtaken by a later
 *   one, leaves its number free: the subscriber sees the gap (and asks for
 *   it), and the packet, when it arrives or a retransmission brings it,
 *   takes that number. Each of the last PL_REWRITER_HOLES source numbers is
 *   remembered on its own: jitter reorders packets all the time, and a
 *   short list of gaps filled with those would forget a real loss before
 *   its retransmission, a round trip later, could take its place.
 *
 * A plain value embedded in its route; time is an argument. */
#ifndef PARLEY_REWRITER_H
#define PARLEY_REWRITER_H

#include <stdbool.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define PL_REWRITER_HOLES 256 /* a power of two */

/* A source number skipped when a later one came: the output number kept
 * for it, while `open`. */
typedef struct pl_rewriter_hole {
    uint16_t in, out;
    bool open;
} pl_rewriter_hole;

typedef struct pl_rewriter {
    bool started; /* a source was mapped: last_* describe what went out */
    bool mapped;  /* the current source is mapped */
    uint32_t clock_rate;
    uint16_t seq_offset; /* out = in + seq_offset for the current source */
    uint16_t in_high;    /* the newest source number seen (sent or dropped) */
    uint32_t ts_offset;
    uint32_t last_ts;                          /* the newest timestamp sent ... */
    int64_t last_at_us;                        /* ... and when */
    pl_rewriter_hole holes[PL_REWRITER_HOLES]; /* by source number modulo the size */
} pl_rewriter;

void pl_rewriter_init(pl_rewriter *rw, uint32_t clock_rate);

/* The timestamp the stream has reached by now: the last one sent plus the
 * time since (at least one tick on, so that a new frame is never taken for
 * part of the last one). */
uint32_t pl_rewriter_wall_ts(const pl_rewriter *rw, int64_t now_us);

/* The next packet, (seq, ts), starts a new source: it takes the number
 * after the last one sent, and the timestamp `mapped_ts` (the instant of
 * its capture in the output's timeline, from sender reports) or, with
 * NULL or a value more than a second away from the wall clock's, the
 * wall clock's (pl_rewriter_wall_ts); never one at or before the last one
 * sent. The first source keeps its own numbers. */
void pl_rewriter_switch(pl_rewriter *rw, int64_t now_us, uint16_t seq, uint32_t ts,
                        const uint32_t *mapped_ts);
/* Forgets the current source (the next one is mapped with
 * pl_rewriter_switch); what went out stays the continuation point. */
void pl_rewriter_unmap(pl_rewriter *rw);

/* A packet of the current source, `drop` when the caller does not
 * forward it. True with its output numbers when it goes out. A packet
 * older than the newest goes out only into the gap its loss left. */
bool pl_rewriter_packet(pl_rewriter *rw, int64_t now_us, uint16_t seq, uint32_t ts, bool drop,
                        uint16_t *out_seq, uint32_t *out_ts);

/* The newest output sequence number taken (sent or left as a gap). */
uint16_t pl_rewriter_out_high(const pl_rewriter *rw);

#ifdef __cplusplus
}
#endif
#endif
