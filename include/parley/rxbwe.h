/* A receive-side bandwidth estimate for publishers that negotiate only
 * REMB (goog-remb, draft-alvestrand-rmcat-remb) and not transport-cc: the
 * relay tells them, about once a second, how much it will take. Such a
 * sender caps its own loss-based estimate at the REMB value, so the value
 * must grow while the link carries what is sent and shrink when it loses
 * packets. The rules are the loss-based ones of Google Congestion Control
 * (draft-ietf-rmcat-gcc-02 6), measured at the receiver: over 10% lost,
 * the estimate drops by half the loss; under 2%, it grows by 8%, and to
 * 1.5 times what arrived, so a sender that fills its allowance is let grow
 * quickly. It never exceeds a ceiling, nor grows far beyond what arrives.
 * A plain value, sans-IO: the caller gives bytes, losses and the time. */
#ifndef PARLEY_RXBWE_H
#define PARLEY_RXBWE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Where an estimate starts, its floor and its default ceiling (bit/s). */
#define PL_RXBWE_START_BPS 300000u
#define PL_RXBWE_MIN_BPS 50000u
#define PL_RXBWE_MAX_BPS 5000000u

typedef struct pl_rxbwe {
    uint64_t bps, max_bps;
    uint64_t bytes; /* arrived since the last update */
    int64_t last_us;
    int started;
} pl_rxbwe;

void pl_rxbwe_init(pl_rxbwe *e, uint64_t max_bps);
/* A packet of `bytes` (RTP header and payload) arrived. */
void pl_rxbwe_packet(pl_rxbwe *e, size_t bytes);
/* Once per report: the fraction of the publisher's packets lost since the
 * previous one (0-255, as in a receiver report). Returns the estimate. */
uint64_t pl_rxbwe_update(pl_rxbwe *e, int64_t now_us, uint8_t fraction_lost);

#ifdef __cplusplus
}
#endif
#endif
