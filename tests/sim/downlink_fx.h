/* The downlink simulation tests' fixture: publishers sending audio and
 * VP8 video (simulcast or not) into a router, its output for one
 * subscriber through a bottleneck link (link.c), and the subscriber
 * answering as a browser would, with transport-wide feedback (twcc.c)
 * about what arrived, sent back over a second link. */
#ifndef PARLEY_TEST_DOWNLINK_FX_H
#define PARLEY_TEST_DOWNLINK_FX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "link.h"
#include "parley/router.h"
#include "parley/rtcp.h"
#include "parley/twcc.h"

#define SUB 10
#define TWCC_EXT 3
#define FRAME_US 33333
#define AUDIO_US 20000
#define MAX_PUBS 3
#define STEP_US 500
#define SUB_SSRC 0x7777
#define LEVEL_EXT 4

/* The simulcast layers' rids, smallest first. */
extern const char *const rids[3];

/* One stream a publisher sends: a simulcast layer, or the whole video. */
typedef struct vsrc {
    uint32_t ssrc;
    uint16_t seq, pid;
    uint32_t ts;
    uint64_t bps;
    bool want_key;
} vsrc;

typedef struct pubr {
    uint64_t id;
    uint32_t audio_ssrc;
    uint16_t aseq;
    size_t n_layers; /* 0: no simulcast */
    vsrc v[3];
    uint64_t audio_sent;
    uint8_t level; /* of its audio: loud (a speaker) below 60 */
} pubr;

/* A datagram that reached a stalled worker. */
typedef struct held {
    int64_t at;
    uint64_t from;
    bool rtcp;
    size_t len;
    uint8_t data[LINK_MTU];
} held_dgram;

typedef struct sim {
    uint64_t seed;
    pl_env env;
    pl_router *r;
    int64_t now, next_frame, next_audio;
    unsigned frame_no, audio_no;
    bool not_estimated; /* routes without pl_route.estimate */
    link down, up;
    pl_twcc_rx *rx;
    pl_rtcp_twcc *fb;
    pubr pubs[MAX_PUBS];
    size_t n_pubs;
    /* What the subscriber got. */
    uint64_t audio_got, video_got, video_bytes, padding_got;
    int64_t audio_max_delay;
    uint64_t paused_events, resumed_events;
    /* The router's outputs: resends, PLIs to publishers, and the output
     * numbers of the first publisher's video as it went out. */
    uint64_t resent, plis;
    uint16_t vseq[8192];
    size_t n_vseq;
    bool paused[MAX_PUBS];
    /* Layer of the video the subscriber got last, per publisher (by the
     * frame width its key frames say), and how often it changed. */
    int layer[MAX_PUBS];
    unsigned switches[MAX_PUBS];
    uint64_t pub_video_bytes[MAX_PUBS];
    /* Every RTP packet on a publisher's routes (media, resends, padding). */
    uint64_t pub_rtp[MAX_PUBS];
    /* A worker that stalls: what reaches it from stall_from to
     * stall_until (publishers' packets, the subscriber's feedback) waits,
     * and is handled when it resumes at the time it arrived, as the
     * worker stamps datagrams with their kernel receive time; what the
     * router sends then leaves then. */
    int64_t stall_from, stall_until;
    held_dgram *held;
    size_t n_held, cap_held;
    uint8_t buf[1600];
} sim;

int setup(void **state);
int teardown(void **state);
/* A publisher (transport 1 + i) with audio and video, simulcast when
 * layer_bps has three rates, and the subscriber's routes to it. */
void add_publisher(sim *s, const uint64_t *layer_bps, size_t n_layers);
void set_routes(sim *s, uint8_t twcc_ext);
/* Carries the router's output to where it goes until none is left. */
void pump(sim *s);
void send_audio(sim *s, pubr *p);
/* The room for a while: media from every publisher, the links, the
 * subscriber's feedback. */
void run(sim *s, int64_t until);
uint64_t audio_sent(const sim *s);
void print_layers(const sim *s, const char *when);

#endif
