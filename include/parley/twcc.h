/* Transport-wide congestion control feedback, the receiving side
 * (draft-holmer-rmcat-transport-wide-cc-extensions-01): the arrival time
 * of every packet's transport-wide sequence number on a transport, turned
 * about every 100 ms into RTCP feedback (PT 205, FMT 15) that lets the
 * sender's own estimate grow. Sans-IO: times are arguments. */
#ifndef PARLEY_TWCC_H
#define PARLEY_TWCC_H

#include <stdbool.h>
#include <stdint.h>

#include "parley/common.h"
#include "parley/rtcp.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Feedback goes out this often while packets arrive. */
#define PL_TWCC_INTERVAL_US 100000
/* Sequence numbers remembered: a packet further ahead than this of the
 * first one not yet reported restarts the record. A feedback goes every
 * PL_TWCC_INTERVAL_US, so this is ten of them at 1000 packets a second
 * (a 10 Mbit/s publisher); 8 KB per publishing transport. */
#define PL_TWCC_WINDOW 1024
/* Packets told in one feedback, so that it fits a datagram. */
#define PL_TWCC_MAX_PER_FEEDBACK 400

typedef struct pl_twcc_rx pl_twcc_rx;

pl_twcc_rx *pl_twcc_rx_create(const pl_env *env);
void pl_twcc_rx_destroy(pl_twcc_rx *rx);

/* A packet with this transport-wide sequence number arrived. Duplicates
 * keep their first arrival; a packet that arrives after the feedback that
 * reported it lost is not reported again. */
void pl_twcc_rx_packet(pl_twcc_rx *rx, uint16_t seq, int64_t arrival_us);

/* When feedback is next due (INT64_MAX while nothing waits to be told). */
int64_t pl_twcc_rx_next(const pl_twcc_rx *rx);

/* Fills *out with what arrived since the last feedback, from the first
 * sequence number not yet reported to the highest received (lost ones
 * included), deltas in 250 us ticks taken from arrival times rounded
 * once, so they never drift. A delta too large for the format ends the
 * feedback early; the rest goes in the next one. False when there is
 * nothing to report. */
bool pl_twcc_rx_feedback(pl_twcc_rx *rx, int64_t now_us, uint32_t sender_ssrc, uint32_t media_ssrc,
                         pl_rtcp_twcc *out);

#ifdef __cplusplus
}
#endif
#endif
