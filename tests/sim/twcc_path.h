/* The feedback path of the send-side estimator's simulation tests: a
 * simulated browser records the transport-wide sequence number of each RTP
 * packet that reaches it with media/twcc.c, which writes real
 * transport-wide feedback; the feedback goes back to the relay over a
 * vnet of its own, where the RTCP parser reads it and hands it to the
 * estimator. The receiver's clock has an origin of its own
 * (TWCC_PATH_RX_CLOCK_OFFSET from the sender's). */
#ifndef PARLEY_TEST_TWCC_PATH_H
#define PARLEY_TEST_TWCC_PATH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "parley/bwe.h"
#include "parley/common.h"
#include "parley/rtcp.h"
#include "parley/rtp.h"
#include "parley/twcc.h"
#include "vnet.h"

#define TWCC_PATH_RX_CLOCK_OFFSET 987654321LL
#define TWCC_PATH_RELAY_SSRC 0x5555

typedef struct twcc_path {
    uint8_t ext_id; /* the transport-wide sequence number's extension */
    pl_twcc_rx *rx;
    pl_rtcp_twcc *fb;       /* the receiver's feedback, before it is written */
    pl_rtcp_packet *parsed; /* the relay's reading of it */
    vnet up;                /* browser to relay, uncongested */
    pl_addr relay, browser;
    /* The feedback datagram being read, while twcc_path_take has not
     * returned NULL. */
    vnet_packet pkt;
    pl_rtcp_iter it;
    bool reading;
} twcc_path;

/* The upstream vnet takes `seed` and a one-way delay of `delay_us`. */
void twcc_path_init(twcc_path *p, const pl_env *env, uint8_t ext_id, uint64_t seed,
                    int64_t delay_us);
void twcc_path_free(twcc_path *p);
/* A packet reaches the browser at `now`: parses it, records its
 * transport-wide sequence number and returns its header. */
pl_rtp_header twcc_path_arrive(twcc_path *p, int64_t now, const uint8_t *data, size_t len);
/* When the browser's next feedback is due, on the sender's clock;
 * INT64_MAX if none is. */
int64_t twcc_path_feedback_due(const twcc_path *p);
/* Sends the browser's feedback that is due at `now` toward the relay. */
void twcc_path_send(twcc_path *p, int64_t now);
/* The next transport-wide feedback that reached the relay by `now`, given
 * to the estimator; NULL when there is none left. Call it until it
 * returns NULL. */
const pl_rtcp_twcc *twcc_path_take(twcc_path *p, int64_t now, pl_bwe *bwe);

#endif
