/* The router simulation tests' fixture: a router on a virtual clock, what
 * it queued, and publishers' packets and subscribers' RTCP made to order. */
#ifndef PARLEY_TEST_ROUTER_FX_H
#define PARLEY_TEST_ROUTER_FX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "parley/buf.h"
#include "parley/router.h"
#include "parley/rtcp.h"
#include "parley/rtp.h"

#define PUB 1
#define PUB2 2
#define SUB 10
#define VIDEO_SSRC 0x1111
#define VIDEO_RTX_SSRC 0x1112
#define AUDIO_SSRC 0x2222
#define OUT_SSRC 0x5555
#define OUT_RTX_SSRC 0x5556
#define MID_EXT 4
#define LEVEL_EXT 1

typedef struct out {
    pl_router_output o;
    uint8_t buf[1600];
} out;

typedef struct fx {
    uint64_t seed;
    pl_env env;
    pl_router *r;
    out outs[512];
    size_t n;
} fx;

int setup(void **state);

int teardown(void **state);

/* Everything the last call queued. */
size_t drain(fx *f);

size_t count(const fx *f, enum pl_router_out_reason why, uint64_t to);

pl_track video_track(void);

pl_route video_route(uint64_t publisher, uint32_t out_ssrc, bool rtx);

/* One publisher with a video track, one subscriber routed to it, both
 * connected at t=0; the queue is drained. */
void meeting(fx *f, bool rtx);

/* An RTP packet with optional one-byte extensions (mid, audio level). */
size_t rtp(uint8_t *buf, uint32_t ssrc, uint8_t pt, uint16_t seq, uint32_t ts, const char *mid,
           int level);

void publish(fx *f, int64_t now, uint32_t ssrc, uint16_t seq, uint32_t ts);
/* The same, its payload the start of a VP8 key frame: where a new source
 * behind a video route starts (a P-frame is not spliced on). */
void publish_key(fx *f, int64_t now, uint32_t ssrc, uint16_t seq, uint32_t ts);

pl_rtp_header parsed(const out *o);

/* Parses the first RTCP packet of the given kind in an output. */
bool rtcp_find(const out *o, int kind, pl_rtcp_packet *p);

void subscriber_rtcp(fx *f, int64_t now, uint64_t from, const pl_wbuf *w);

#endif
