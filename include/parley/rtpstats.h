/* RTCP termination for one RTP stream, sans-IO:
 *
 * - pl_rtp_rx, the receiving side (RFC 3550 A.1, A.3, A.8): extended
 *   highest sequence number, cumulative and interval loss, interarrival
 *   jitter, and the sender's last SR, from which it fills report blocks.
 * - pl_sr_map: a sender report for a stream the relay re-sends under its
 *   own SSRC: the publisher's NTP <-> RTP mapping moved by the route's
 *   timestamp offset and carried forward to now, with what the relay sent
 *   on that stream, so that a subscriber keeps audio and video in sync. */
#ifndef PARLEY_RTPSTATS_H
#define PARLEY_RTPSTATS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "parley/rtcp.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct pl_rtp_rx {
    uint32_t clock_rate;
    bool started;
    uint16_t max_seq;
    uint32_t cycles; /* count of sequence number wraps, shifted << 16 */
    uint32_t base_seq;
    uint64_t received;
    uint64_t expected_prior, received_prior;
    double jitter; /* timestamp units */
    int64_t last_transit;
    bool have_transit;
    /* The sender's last SR. */
    bool have_sr;
    uint64_t sr_ntp;
    uint32_t sr_rtp;
    int64_t sr_at_us;
} pl_rtp_rx;

void pl_rtp_rx_init(pl_rtp_rx *rx, uint32_t clock_rate);
/* A packet arrived at now_us. Retransmissions count as received but take
 * no part in jitter (their timing says nothing about the path). */
void pl_rtp_rx_packet(pl_rtp_rx *rx, uint16_t seq, uint32_t ts, int64_t now_us,
                      bool retransmission);
/* The sender's report arrived at now_us. */
void pl_rtp_rx_sr(pl_rtp_rx *rx, uint64_t ntp, uint32_t rtp_ts, int64_t now_us);
/* A report block for `ssrc` as of now_us; starts a new loss interval. */
void pl_rtp_rx_report(pl_rtp_rx *rx, uint32_t ssrc, int64_t now_us, pl_rtcp_report *out);
uint64_t pl_rtp_rx_expected(const pl_rtp_rx *rx);

/* Fills an SR for a forwarded stream: `src` is the publisher stream's
 * receive state (its last SR), ts_offset what the route adds to the
 * publisher's timestamps, packets/octets what was sent on the stream.
 * Returns false while the publisher has sent no SR (nothing to map). */
bool pl_sr_map(const pl_rtp_rx *src, uint32_t out_ssrc, uint32_t ts_offset, uint32_t packets,
               uint32_t octets, int64_t now_us, pl_rtcp_sr *out);

/* NTP 32.32 fixed point from microseconds (differences only: the relay
 * never needs wall-clock NTP, only the publisher's). */
uint64_t pl_ntp_from_us(int64_t us);

#ifdef __cplusplus
}
#endif
#endif
