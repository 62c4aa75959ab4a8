/* The send-time history of one transport, for the send-side bandwidth
 * estimate: every packet sent with a transport-wide sequence number
 * (draft-holmer-rmcat-transport-wide-cc-extensions-01) is remembered with
 * its send time and size, and transport-wide feedback about those packets
 * is turned into per-packet results: when each was sent, when it arrived on
 * the receiver's clock (or that it was lost), how big it was.
 *
 * Sequence numbers are 16 bits on the wire and extended to 64 bits here
 * around the highest one sent, so wrap-around is invisible to the caller.
 * Memory is one ring, sized by the rate: it starts at PL_SENDHIST_MIN_CAP
 * packets and doubles, up to PL_SENDHIST_CAP, when a packet would take the
 * slot of one sent less than PL_SENDHIST_KEEP_US ago. A packet older than
 * the ring is forgotten, and feedback about it is counted as unknown. Each
 * packet is told at most once as received and at most once as lost (a loss
 * followed by a late arrival is told twice, the arrival marked so),
 * whatever duplicate, overlapping or reordered feedback says. Sans-IO:
 * times are arguments. */
#ifndef PARLEY_SENDHIST_H
#define PARLEY_SENDHIST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "parley/common.h"
#include "parley/rtcp.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Packets remembered at most (a power of two): 2 s of 20 Mbit/s in
 * 1200-byte packets, far more than feedback ever lags behind; at first
 * (2-3 s of a meeting's subscriber, 8 kB instead of 64: 16 bytes a
 * packet), and how long a packet is kept before a larger ring is rather
 * taken. */
#define PL_SENDHIST_CAP 4096
#define PL_SENDHIST_MIN_CAP 512
#define PL_SENDHIST_KEEP_US 500000

typedef struct pl_sendhist pl_sendhist;

/* One packet's fate, as a feedback told it. */
typedef struct pl_sendhist_result {
    int64_t seq;        /* extended transport-wide sequence number */
    int64_t send_us;    /* sender's clock */
    int64_t arrival_us; /* receiver's clock (arbitrary origin); 0 when lost */
    uint32_t size;      /* bytes, as given to pl_sendhist_sent (up to 65535) */
    uint32_t cluster;   /* probe cluster the packet belonged to, 0 for none */
    bool received;
    bool late; /* received after an earlier feedback said it was lost */
} pl_sendhist_result;

typedef struct pl_sendhist_stats {
    uint64_t sent;
    uint64_t feedbacks;
    uint64_t received; /* results told as received */
    uint64_t lost;     /* results told as lost */
    uint64_t unknown;  /* feedback entries for packets never sent or forgotten */
    uint64_t repeated; /* feedback entries about packets already told */
    uint64_t capacity; /* packets the ring holds now */
} pl_sendhist_stats;

pl_sendhist *pl_sendhist_create(const pl_env *env);
void pl_sendhist_destroy(pl_sendhist *h);

/* A packet carrying transport-wide sequence number `seq` left at now_us;
 * `size` is what crossed the network (headers and payload), `cluster` the
 * probe cluster it was sent in (0 for none). Returns the extended number.
 * A number sent again (a caller that reuses one) replaces the old record. */
int64_t pl_sendhist_sent(pl_sendhist *h, int64_t now_us, uint16_t seq, size_t size,
                         uint32_t cluster);

/* The results a feedback brings, in its order (ascending sequence
 * numbers), at most `cap` of them written to out (a feedback tells at most
 * PL_RTCP_MAX_TWCC). Arrival times are the feedback's reference time
 * (extended past its 24-bit wrap against the previous feedbacks) plus the
 * running sum of its deltas. Returns how many were written. */
size_t pl_sendhist_feedback(pl_sendhist *h, const pl_rtcp_twcc *fb, pl_sendhist_result *out,
                            size_t cap);

/* What the last packet sent with this extended number was, if it is still
 * remembered: PL_OK or PL_ENOTFOUND. Fills send time, size and cluster. */
int pl_sendhist_lookup(const pl_sendhist *h, int64_t seq, pl_sendhist_result *out);

/* Bytes sent and not yet told about by any feedback (in flight or about to
 * be reported). */
uint64_t pl_sendhist_in_flight(const pl_sendhist *h);

pl_sendhist_stats pl_sendhist_get_stats(const pl_sendhist *h);

#ifdef __cplusplus
}
#endif
#endif
