/* The relay's forwarding logic, sans-IO: publishers' tracks, subscribers'
 * routes, the fan-out between them, and everything the relay says in RTCP
 * on its own (NACKs and keyframe requests to publishers, receiver and
 * sender reports, answers to subscribers' NACKs).
 *
 * It knows transports only by their id; packets come in decrypted, with
 * the time they arrived, and what must go out waits in a queue the caller
 * drains with pl_router_poll_output, which writes each packet (plain, to be
 * protected by the caller) into the caller's buffer. Outputs refer to the
 * router's own buffers: drain the queue after every handle call, since the
 * next one drops what is left. Timers: call pl_router_handle_timeout when
 * pl_router_next_timeout is due. Nothing here reads a clock or a socket, so
 * tests drive it on a virtual clock. */
#ifndef PARLEY_ROUTER_H
#define PARLEY_ROUTER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "parley/common.h"
#include "parley/track.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Active speaker detection: audio at least this loud (dBov, RFC 6464)
 * counts as speech, and a speaker stays active this long after it. */
#define PL_ROUTER_SPEAKING_LEVEL 60
#define PL_ROUTER_SPEAKING_HOLD_US 1500000
#define PL_ROUTER_SPEAKER_CHECK_US 250000
/* Keyframe requests for one publisher track are merged into at most one
 * PLI per interval; receiver and sender reports go out this often. */
#define PL_ROUTER_KEYFRAME_INTERVAL_US 300000
#define PL_ROUTER_REPORT_US 1000000
/* The relay's own SSRC in the RTCP it originates. */
#define PL_ROUTER_SSRC 1

typedef struct pl_router pl_router;

enum pl_router_out_kind {
    PL_ROUTER_OUT_RTP,      /* a packet for `transport` (len bytes in the buffer) */
    PL_ROUTER_OUT_RTCP,     /* a compound RTCP packet for `transport` */
    PL_ROUTER_OUT_SPEAKING, /* a publisher's audio started or stopped being loud */
};

/* Why a packet goes out: the caller counts them. */
enum pl_router_out_reason {
    PL_ROUTER_MEDIA,    /* a publisher's packet forwarded */
    PL_ROUTER_RESENT,   /* resent on a subscriber's NACK */
    PL_ROUTER_KEYFRAME, /* a PLI to a publisher */
    PL_ROUTER_NACK,     /* a NACK to a publisher for upstream losses */
    PL_ROUTER_REPORT,   /* receiver or sender reports */
    PL_ROUTER_FEEDBACK, /* transport-wide congestion control feedback to a publisher */
};

typedef struct pl_router_output {
    enum pl_router_out_kind kind;
    enum pl_router_out_reason reason;
    uint64_t transport;
    size_t len;
    bool speaking; /* PL_ROUTER_OUT_SPEAKING */
    uint8_t level; /* dBov: 0 loudest, 127 silence */
} pl_router_output;

typedef struct pl_router_stats {
    uint64_t unknown_ssrc; /* publisher packets bound to no track: dropped */
    uint64_t duplicates;   /* publisher packets already held: not forwarded twice */
    uint64_t unroutable;   /* packets or RTCP from a transport the router does not know */
    uint64_t malformed;    /* RTP that does not parse */
    /* RTX with a payload for a layer whose media SSRC is not known yet
     * (probes at a publisher's start): dropped. */
    uint64_t rtx_before_media;
    uint64_t remb_sent;    /* REMB to publishers without transport-wide feedback */
    /* Simulcast: routes that moved to another layer (on its key frame),
     * and PLIs sent to a layer of a simulcast track (for a route waiting
     * to switch or start, a subscriber's request, a repair given up, or to
     * learn a layer's size). */
    uint64_t layer_switches;
    uint64_t layer_keyframe_requests;
} pl_router_stats;

pl_router *pl_router_create(const pl_env *env);
void pl_router_destroy(pl_router *r);

/* Transports. A transport may publish (tracks) and subscribe (routes). */
int pl_router_add_transport(pl_router *r, uint64_t id);
void pl_router_remove_transport(pl_router *r, uint64_t id);
/* ICE and DTLS are up: media may flow, and a subscriber needs a keyframe
 * of everything it receives now. */
void pl_router_set_connected(pl_router *r, uint64_t id, int64_t now_us);
/* Replaces a publisher's tracks. Receive state (packet cache, loss
 * tracking, a learned SSRC) stays with a track whose mid stays. */
int pl_router_set_tracks(pl_router *r, uint64_t id, const pl_track *tracks, size_t n);
/* Replaces a subscriber's routes. A route whose output SSRC stays keeps
 * its sequence and timestamp continuity. */
int pl_router_set_routes(pl_router *r, uint64_t id, const pl_route *routes, size_t n,
                         int64_t now_us);

/* A decrypted RTP or RTCP packet from a transport. */
void pl_router_handle_rtp(pl_router *r, int64_t now_us, uint64_t from, const uint8_t *pkt,
                          size_t len);
void pl_router_handle_rtcp(pl_router *r, int64_t now_us, uint64_t from, const uint8_t *pkt,
                           size_t len);
void pl_router_handle_timeout(pl_router *r, int64_t now_us);
int64_t pl_router_next_timeout(const pl_router *r);

/* The next output: PL_OK with *o filled (and for RTP and RTCP the packet
 * written to buf), PL_EAGAIN when the queue is empty. An output that does
 * not fit in cap is dropped with PL_ENOSPC (poll again for the next). */
int pl_router_poll_output(pl_router *r, pl_router_output *o, uint8_t *buf, size_t cap);

void pl_router_stats_get(const pl_router *r, pl_router_stats *out);

#ifdef __cplusplus
}
#endif
#endif
