/* The sequence number and timestamp space of one forwarded stream. A
 * subscriber sees one SSRC per track whatever happens behind it: when the
 * source behind the route changes (the publisher restarted its camera, and
 * later a simulcast layer switch), sequence numbers continue from the last
 * one sent and timestamps from the last one plus the time that passed, so
 * the subscriber's jitter buffer sees a stream without a jump.
 *
 * A plain value embedded in its route; time is an argument. */
#ifndef PARLEY_REWRITER_H
#define PARLEY_REWRITER_H

#include <stdbool.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct pl_rewriter {
    bool started;
    uint32_t clock_rate;
    uint32_t src_ssrc; /* the source the offsets belong to */
    uint16_t seq_offset, last_seq;
    uint32_t ts_offset, last_ts;
    int64_t last_at_us; /* when last_ts was sent */
} pl_rewriter;

void pl_rewriter_init(pl_rewriter *rw, uint32_t clock_rate);

/* A packet of the source going out for the first time: its output sequence
 * number and timestamp. A packet of another source than the last one starts
 * a new mapping that continues the output stream. Only packets newer than
 * the last one sent move the continuation point. */
void pl_rewriter_map(pl_rewriter *rw, int64_t now_us, uint32_t ssrc, uint16_t seq, uint32_t ts,
                     uint16_t *out_seq, uint32_t *out_ts);

/* A retransmission of a packet of the current source: the numbers it had
 * when it first went out. False when the source is not the current one
 * (its packets went out under offsets that are gone). */
bool pl_rewriter_map_again(const pl_rewriter *rw, uint32_t ssrc, uint16_t seq, uint32_t ts,
                           uint16_t *out_seq, uint32_t *out_ts);

/* The source sequence number behind an output one (a subscriber's NACK). */
uint16_t pl_rewriter_source_seq(const pl_rewriter *rw, uint16_t out_seq);

#ifdef __cplusplus
}
#endif
#endif
