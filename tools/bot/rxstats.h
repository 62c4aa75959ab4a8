/* Receive statistics of one RTP stream, as a receiver report would see
 * them (RFC 3550 A.3 loss, A.8 jitter), plus what a person would notice:
 * freezes between frames and the delay through the relay. Fixed size, no
 * allocation, time is a parameter. */
#ifndef PARLEY_BOT_RXSTATS_H
#define PARLEY_BOT_RXSTATS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Delay histogram: 10 us steps to 2 ms, 1 ms steps to 1 s, 100 ms steps to
 * 10 s; later arrivals land in the last bucket. */
#define PL_DELAY_BUCKETS (200 + 998 + 90 + 1)

typedef struct pl_delay_hist {
    uint32_t b[PL_DELAY_BUCKETS];
    uint64_t n;
    int64_t max_us;
} pl_delay_hist;

void pl_delay_add(pl_delay_hist *h, int64_t us);
void pl_delay_merge(pl_delay_hist *into, const pl_delay_hist *from);
/* The q-quantile (0..1) in microseconds (the upper edge of its bucket), or
 * -1 when empty. */
int64_t pl_delay_quantile(const pl_delay_hist *h, double q);

/* A gap between frames longer than this is a freeze. */
#define PL_FREEZE_US 200000

typedef struct pl_rxstats {
    uint32_t clock_rate;
    bool started;
    uint16_t max_seq;
    uint32_t cycles;
    uint32_t base_seq;
    uint64_t packets, bytes, duplicates_or_late;
    double jitter;        /* in timestamp units, RFC 3550 A.8 */
    int64_t last_transit; /* arrival - timestamp, in timestamp units */
    int64_t first_us, last_us;
    /* Frames (complete for video, packets for audio) and freezes. */
    uint64_t frames;
    int64_t last_frame_us;
    uint64_t freezes;
    int64_t freeze_us;
    pl_delay_hist delay;
} pl_rxstats;

void pl_rxstats_init(pl_rxstats *s, uint32_t clock_rate);
/* One packet arrived at now_us. When the sender stamps RTP timestamps from
 * the same monotonic clock (bots on one machine), delay_known adds
 * now - timestamp to the delay histogram. Returns how many sequence numbers
 * were skipped before this one (0 in order, >0 a gap to NACK). */
uint32_t pl_rxstats_packet(pl_rxstats *s, uint16_t seq, uint32_t ts, size_t bytes, int64_t now_us,
                           bool delay_known);
/* A frame was completed (video) or decoded at now_us. */
void pl_rxstats_frame(pl_rxstats *s, int64_t now_us);

uint64_t pl_rxstats_expected(const pl_rxstats *s);
uint64_t pl_rxstats_lost(const pl_rxstats *s);
double pl_rxstats_jitter_ms(const pl_rxstats *s);

/* The RTP timestamp a bot stamps at now_us (monotonic clock) at this rate. */
uint32_t pl_rtp_clock_ts(int64_t now_us, uint32_t clock_rate);

#endif
