/* A media worker: one thread, one epoll loop, one UDP port, hosting the
 * transports (pl_peer, server role) of the rooms pinned to it. It is the
 * only media code that touches sockets and the clock.
 *
 * Other threads talk to it through commands (queued, then an eventfd wakes
 * the loop); it reports transport events through a callback that runs on
 * the worker thread, so the callback must only queue and wake its owner. */
#ifndef PARLEY_WORKER_H
#define PARLEY_WORKER_H

#include <stddef.h>
#include <stdint.h>

#include "parley/common.h"
#include "parley/dtls.h"
#include "parley/failure.h"
#include "parley/rectap.h"
#include "parley/relaytime.h"
#include "parley/track.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct pl_worker pl_worker;

enum pl_worker_event_kind {
    PL_WORKER_CONNECTED, /* ICE + DTLS + SRTP up */
    PL_WORKER_FAILED,    /* `failure` says why */
    PL_WORKER_CLOSED,
    PL_WORKER_SPEAKING, /* a publisher's audio started or stopped being loud */
    PL_WORKER_REFUSED,  /* a command for this transport was not carried out (error says why) */
    /* A subscriber's video route stopped or started again because its
     * downlink cannot carry even the lowest layer (`mid`, `ssrc`,
     * `paused`). */
    PL_WORKER_VIDEO_PAUSED,
    /* Dynacast: a publisher (`transport`) should send these layers of its
     * simulcast track `mid`: bit i of `layers` for layer i, in the offer's
     * order (pl_track.layers). */
    PL_WORKER_PUBLISHER_LAYERS,
    /* A connected transport's media moved to another path (`tcp`). */
    PL_WORKER_PATH,
};

typedef struct pl_worker_event {
    enum pl_worker_event_kind kind;
    uint64_t transport;
    int error;
    enum pl_failure failure;
    bool speaking;
    uint8_t level; /* RFC 6464 dBov below full scale: 0 is loudest, 127 silence */
    /* PL_WORKER_VIDEO_PAUSED: the route, by the publisher track's mid
     * (pl_route.mid) and its output SSRC (pl_route.out_ssrc, unique in the
     * subscriber's transport). */
    char mid[PL_MID_MAX + 1];
    uint32_t ssrc;
    bool paused;
    uint8_t layers; /* PL_WORKER_PUBLISHER_LAYERS, with `mid` */
    bool tcp;       /* PL_WORKER_CONNECTED and PL_WORKER_PATH: over ICE-TCP, not UDP */
} pl_worker_event;

typedef struct pl_worker_config {
    int index;
    const char *bind_ip; /* "127.0.0.1", "0.0.0.0", "::" ... */
    uint16_t port;
    /* Passive ICE-TCP (RFC 6544): a TCP listener on the same port number,
     * for clients that cannot send UDP. */
    bool ice_tcp;
    const pl_dtls_cert *cert; /* shared; must outlive the worker */
    void (*on_event)(void *user, const pl_worker_event *ev);
    void *user;
} pl_worker_config;

/* Counters, read without stopping the worker. */
typedef struct pl_worker_stats {
    uint64_t transports;
    uint64_t datagrams_in;
    uint64_t datagrams_out;
    uint64_t bytes_in, bytes_out;    /* of those datagrams (ICE-TCP: of the frames) */
    uint64_t cpu_ns;                 /* CPU time of the worker's thread */
    uint64_t dropped_unknown_source; /* no transport for this ufrag / address */
    uint64_t dropped_by_transport;   /* rejected by a transport (bad STUN, SRTP, ...) */
    uint64_t dropped_unknown_ssrc;   /* RTP bound to no track (unknown SSRC, no MID) */
    uint64_t dropped_rtx_early;      /* RTX resends for a layer whose media was not seen yet */
    uint64_t rtp_in;
    uint64_t rtcp_in;
    uint64_t rtp_forwarded;           /* SRTP packets sent to subscribers */
    uint64_t keyframe_requests;       /* PLIs sent to publishers */
    uint64_t retransmissions;         /* packets resent to subscribers on their NACKs */
    uint64_t nacks_sent;              /* NACKs sent to publishers for upstream losses */
    uint64_t feedback_sent;           /* transport-wide congestion control feedback to publishers */
    uint64_t transports_failed;       /* closed for lost consent or a failed handshake */
    uint64_t layer_switches;          /* routes moved to another simulcast layer */
    uint64_t layer_keyframe_requests; /* PLIs to simulcast layers (included in keyframe_requests) */
    uint64_t remb_sent;               /* REMB to publishers without transport-wide feedback */
    /* Subscribers' downlinks: transport-wide feedback from them; packets
     * their pacers refused (full) or dropped (retransmissions too late);
     * probe clusters, and the padding bytes they were filled with. */
    uint64_t downlink_feedback;
    uint64_t pacer_refused, pacer_rtx_dropped;
    uint64_t probes, padding_packets, padding_bytes;
    /* Subscribers' NACKs not resent (resent less than a round trip ago),
     * and answered with a keyframe request (bigger than a key frame). */
    uint64_t nack_repeats, nack_keyframes;
    /* The stream allocator: allocations run, video routes paused because
     * their lowest layer does not fit the subscriber's estimate (now, and
     * pauses in all), probes it asked for, and subscribers' queued video
     * dropped for waiting too long (its routes restart at a key frame). */
    uint64_t allocations;
    uint64_t videos_paused, video_pauses;
    uint64_t alloc_probes;
    uint64_t video_flushes;
    /* Dynacast: changes of the layers publishers are asked to send, and
     * layers switched off at publishers now. */
    uint64_t dynacast_updates, layers_paused_at_publisher;
    /* Time forwarded packets spent in the relay (kernel receive timestamp
     * to the send that carried them), over the worker's life: the number
     * of copies measured, and the 50th and 99th percentiles as the upper
     * edge of their 10 us bucket (20 ms and more count as 20010). */
    uint64_t relay_samples;
    uint32_t relay_p50_us, relay_p99_us;
    /* The histogram itself, for readers that want more than the two
     * percentiles (it lives as long as the worker). */
    const pl_relaytime *relaytime;
    /* ICE-TCP: connections open now, accepted in all, and closed for being
     * over the limit (refused, or the oldest unauthenticated one making
     * room), for garbage (a frame that is not STUN before the first
     * authenticated Binding request for a transport of this worker), for a
     * length over
     * the largest datagram, for being too slow (no check within 5 s, a
     * frame not whole 5 s after its first byte, 35 s of silence), or by
     * the client (or a socket error); and packets dropped because a
     * connection's send buffer was full. */
    uint64_t tcp_connections, tcp_accepted, tcp_refused;
    uint64_t tcp_dropped_garbage, tcp_dropped_oversized, tcp_dropped_slow, tcp_closed;
    uint64_t tcp_send_dropped;
    /* UDP datagrams the kernel refused to send (a full socket buffer, an
     * unreachable address): dropped. */
    uint64_t send_dropped;
} pl_worker_stats;

/* Binds the UDP port (and the TCP one with ice_tcp) and starts the
 * thread. NULL when a port cannot be bound. */
pl_worker *pl_worker_start(const pl_env *env, const pl_worker_config *cfg);
/* Stops the thread, closes every transport and the socket. */
void pl_worker_stop(pl_worker *w);

/* Commands (any thread). The transport answers ICE checks for local_ufrag
 * with local_pwd and accepts only the DTLS certificate matching the
 * fingerprint. */
int pl_worker_add_transport(pl_worker *w, uint64_t id, const char *local_ufrag,
                            const char *local_pwd, const char *remote_ufrag, const char *remote_pwd,
                            const char *fp_alg, const char *fp);
int pl_worker_remove_transport(pl_worker *w, uint64_t id);
/* ICE restart of a transport: new local and remote credentials, the same
 * DTLS association and streams. */
int pl_worker_restart_ice(pl_worker *w, uint64_t id, const char *local_ufrag, const char *local_pwd,
                          const char *remote_ufrag, const char *remote_pwd);

/* Routing (parley/track.h). A publisher's tracks: */
int pl_worker_set_tracks(pl_worker *w, uint64_t publisher, const pl_track *tracks, size_t n);
/* What a subscriber transport receives; replaces its previous routes. */
int pl_worker_set_routes(pl_worker *w, uint64_t subscriber, const pl_route *routes, size_t n);

/* Recording (parley/rectap.h): every media packet publisher `id` sends
 * goes to `tap` too, which the worker holds a reference to until it is
 * replaced, NULL (no more recording) or the transport goes. A transport
 * the worker does not have is refused (PL_WORKER_REFUSED). */
int pl_worker_record(pl_worker *w, uint64_t id, pl_rectap *tap);
/* Asks publisher `id` for a key frame of its video stream `ssrc`. */
int pl_worker_request_keyframe(pl_worker *w, uint64_t id, uint32_t ssrc);

void pl_worker_stats_get(const pl_worker *w, pl_worker_stats *out);
uint16_t pl_worker_port(const pl_worker *w);

#ifdef __cplusplus
}
#endif
#endif
