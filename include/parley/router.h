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
 * next one drops what is left.
 *
 * Packets for a subscriber do not go out at once: they wait in its
 * transport's pacer, which lets them out at the rate the send-side
 * estimate of its downlink allows (bwe.h, from its transport-wide
 * feedback, or its REMB), audio first. pl_router_poll_output gives the
 * queue first (RTCP, events), then what the pacers let out at the time the
 * router was last told; what they hold back is due at
 * pl_router_next_timeout. A subscriber without an estimate has no pacer:
 * its copies are queued as they come. Timers: call pl_router_handle_timeout when
 * pl_router_next_timeout is due. Nothing here reads a clock or a socket, so
 * tests drive it on a virtual clock. */
#ifndef PARLEY_ROUTER_H
#define PARLEY_ROUTER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "parley/bwe.h"
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
/* What pl_router_downlink_get says of a subscriber with no estimate of
 * its downlink (it is not paced). */
#define PL_ROUTER_UNPACED_BPS 1000000000u
/* What a packet to a subscriber costs on the wire beyond its RTP bytes:
 * IPv4 and UDP headers (28) and the SRTP tag of AES-GCM (16; the HMAC
 * profile's is 10). The estimate, the pacer, probes and the allocation
 * count it as the link does: four publishers' audio is a third headers,
 * and left out it made a 300 kbit/s link look 90 kbit/s roomier than it
 * was. An IPv6 or TCP path costs 20 bytes more than counted. */
#define PL_ROUTER_PACKET_OVERHEAD 44
/* The estimate a subscriber's downlink starts from. */
#define PL_ROUTER_START_BPS 300000u
/* Dynacast: a simulcast layer no subscriber needs is switched off at its
 * publisher once it has not been needed for this long (so that resizing a
 * window does not flap it); one that is needed again is switched on at
 * once. The smallest layer of a track always stays on. */
#define PL_ROUTER_DYNACAST_OFF_US 3000000

typedef struct pl_router pl_router;

enum pl_router_out_kind {
    PL_ROUTER_OUT_RTP,      /* a packet for `transport` (len bytes in the buffer) */
    PL_ROUTER_OUT_RTCP,     /* a compound RTCP packet for `transport` */
    PL_ROUTER_OUT_SPEAKING, /* a publisher's audio started or stopped being loud */
    /* A subscriber's (`transport`) video route stopped (`paused`) or
     * started again because its downlink's estimate cannot carry even its
     * lowest layer; told on change only. The route: its output `ssrc`, and
     * `mid`, the publisher track's. */
    PL_ROUTER_OUT_VIDEO_PAUSED,
    /* Dynacast: the layers a publisher (`transport`) should send of its
     * simulcast track `mid` changed: `layers` has bit i set for layer i
     * (the offer's order) to send, clear for one nobody needs. */
    PL_ROUTER_OUT_PUBLISHER_LAYERS,
    /* A recorded publisher's (`transport`, pl_router_set_recorded) media
     * packet as it came in, for the recorder: decrypted, RTX unwrapped,
     * header extensions gone, duplicates left out; `len` bytes in the
     * buffer. Its track's `mid`, `video`, `screen`, the stream's `ssrc`,
     * and for simulcast the layer's `rank` among the track's `n_layers`
     * layers by size (0 the smallest; by the offer's order while sizes are
     * not known). */
    PL_ROUTER_OUT_RECORD,
};

/* Why a packet goes out: the caller counts them. */
enum pl_router_out_reason {
    PL_ROUTER_MEDIA,    /* a publisher's packet forwarded */
    PL_ROUTER_RESENT,   /* resent on a subscriber's NACK */
    PL_ROUTER_KEYFRAME, /* a PLI to a publisher */
    PL_ROUTER_NACK,     /* a NACK to a publisher for upstream losses */
    PL_ROUTER_REPORT,   /* receiver or sender reports */
    PL_ROUTER_FEEDBACK, /* transport-wide congestion control feedback to a publisher */
    PL_ROUTER_PADDING,  /* padding to a subscriber: a probe of its downlink */
};

typedef struct pl_router_output {
    enum pl_router_out_kind kind;
    enum pl_router_out_reason reason;
    uint64_t transport;
    size_t len;
    int64_t held_us; /* RTP out of a subscriber's pacer: how long it waited there */
    bool speaking;   /* PL_ROUTER_OUT_SPEAKING */
    uint8_t level;   /* dBov: 0 loudest, 127 silence */
    bool paused;     /* PL_ROUTER_OUT_VIDEO_PAUSED */
    uint8_t layers;  /* PL_ROUTER_OUT_PUBLISHER_LAYERS */
    uint32_t ssrc;
    char mid[PL_MID_MAX + 1];
    bool video, screen;     /* PL_ROUTER_OUT_RECORD */
    uint8_t rank, n_layers; /* PL_ROUTER_OUT_RECORD */
} pl_router_output;

typedef struct pl_router_stats {
    uint64_t unknown_ssrc; /* publisher packets bound to no track: dropped */
    uint64_t duplicates;   /* publisher packets already held: not forwarded twice */
    uint64_t unroutable;   /* packets or RTCP from a transport the router does not know */
    uint64_t malformed;    /* RTP that does not parse */
    /* RTX with a payload for a layer whose media SSRC is not known yet
     * (probes at a publisher's start): dropped. */
    uint64_t rtx_before_media;
    uint64_t remb_sent; /* REMB to publishers without transport-wide feedback */
    /* Simulcast: routes that moved to another layer (on its key frame),
     * and PLIs sent to a layer of a simulcast track (for a route waiting
     * to switch or start, a subscriber's request, a repair given up, or to
     * learn a layer's size). */
    uint64_t layer_switches;
    uint64_t layer_keyframe_requests;
    /* Subscribers' downlinks: transport-wide feedback and REMB received
     * from them; packets their pacers refused (full) or dropped
     * (retransmissions that waited too long, or too many queued); probe
     * clusters handed to the pacers and the padding they sent, and
     * padding dropped for want of an RTX stream to carry it. */
    uint64_t downlink_feedback;
    uint64_t downlink_remb;
    uint64_t pacer_refused;
    uint64_t pacer_rtx_dropped;
    uint64_t probes;
    uint64_t padding_packets, padding_bytes;
    uint64_t padding_dropped;
    /* Subscribers' NACKs: packets not resent because they were resent
     * less than a round trip ago, and NACKs answered with a keyframe
     * request instead (they asked for more than a key frame's bytes). */
    uint64_t nack_repeats;
    uint64_t nack_keyframes;
    /* The stream allocator (alloc.h): subscribers' allocations run, video
     * routes paused because their lowest layer does not fit (now, and
     * pauses in all), probes it asked the estimators for, and pacers'
     * video queues dropped for waiting too long (the routes restart at a
     * key frame). */
    uint64_t allocations;
    uint64_t videos_paused, video_pauses;
    uint64_t alloc_probes;
    uint64_t video_flushes;
    /* Dynacast: changes of the layers publishers are asked to send, and
     * simulcast layers switched off at their publishers now because no
     * subscriber needs them. */
    uint64_t dynacast_updates;
    uint64_t layers_paused_at_publisher;
} pl_router_stats;

pl_router *pl_router_create(const pl_env *env);
void pl_router_destroy(pl_router *r);

/* Transports. A transport may publish (tracks) and subscribe (routes). */
int pl_router_add_transport(pl_router *r, uint64_t id);
void pl_router_remove_transport(pl_router *r, uint64_t id);
/* ICE and DTLS are up: media may flow, and a subscriber needs a keyframe
 * of everything it receives now. */
void pl_router_set_connected(pl_router *r, uint64_t id, int64_t now_us);
/* The transport's media now go to a new address (ICE followed the
 * client's network change): its downlink's estimate does not take the
 * loss of what went to the old one for congestion (pl_bwe_on_path_change). */
void pl_router_path_changed(pl_router *r, uint64_t id, int64_t now_us);
/* Replaces a publisher's tracks. Receive state (packet cache, loss
 * tracking, a learned SSRC) stays with a track whose mid stays. */
int pl_router_set_tracks(pl_router *r, uint64_t id, const pl_track *tracks, size_t n);
/* Replaces a subscriber's routes. A route whose output SSRC stays keeps
 * its sequence and timestamp continuity. */
int pl_router_set_routes(pl_router *r, uint64_t id, const pl_route *routes, size_t n,
                         int64_t now_us);

/* Recording: a recorded publisher's media packets are also handed out
 * (PL_ROUTER_OUT_RECORD), and dynacast keeps the largest layer of its
 * video on, which is the one recorded. PL_ENOTFOUND for an unknown
 * transport. */
int pl_router_set_recorded(pl_router *r, uint64_t id, bool on);
/* Asks publisher `id` for a key frame of its stream `ssrc` (a media SSRC
 * of one of its video tracks), as any keyframe request: merged and
 * limited per layer. PL_ENOTFOUND when no video stream of it has that
 * SSRC. */
int pl_router_request_keyframe(pl_router *r, uint64_t id, uint32_t ssrc, int64_t now_us);

/* A decrypted RTP or RTCP packet from a transport. */
void pl_router_handle_rtp(pl_router *r, int64_t now_us, uint64_t from, const uint8_t *pkt,
                          size_t len);
void pl_router_handle_rtcp(pl_router *r, int64_t now_us, uint64_t from, const uint8_t *pkt,
                           size_t len);
void pl_router_handle_timeout(pl_router *r, int64_t now_us);
int64_t pl_router_next_timeout(const pl_router *r);

/* The next output: PL_OK with *o filled (and for RTP and RTCP the packet
 * written to buf), PL_EAGAIN when the queue is empty. An output that does
 * not fit in cap is dropped with PL_ENOSPC (poll again for the next).
 * now_us: when the output leaves, which a subscriber's send-time history
 * records (the router's clock when that is later, as for 0); pacers let
 * out what is due at the router's clock. */
int pl_router_poll_output(pl_router *r, int64_t now_us, pl_router_output *o, uint8_t *buf,
                          size_t cap);

void pl_router_stats_get(const pl_router *r, pl_router_stats *out);

/* A subscriber transport's downlink as it is now. */
typedef struct pl_router_downlink {
    bool estimated;        /* from its feedback; else unpaced */
    uint64_t estimate_bps; /* PL_ROUTER_UNPACED_BPS when not estimated */
    int64_t rtt_us;        /* 0: not measured */
    /* What its pacer holds now (bytes), and the longest a video packet
     * has waited there so far. */
    size_t queued_audio, queued_rtx, queued_video;
    int64_t video_max_delay_us;
    pl_bwe_stats bwe; /* zero without an estimator */
} pl_router_downlink;

/* PL_ENOTFOUND for a transport without routes. */
int pl_router_downlink_get(const pl_router *r, uint64_t id, pl_router_downlink *out);

#ifdef __cplusplus
}
#endif
#endif
