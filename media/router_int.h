/* Inside the router (not public): its state, shared by router.c
 * (transports, tracks, routes and forwarding), router_feedback.c (RTCP in,
 * the relay's own RTCP, timers) and router_queue.c (the output queue).
 * Calls go one way only: router.c -> router_feedback.c -> router_queue.c. */
#ifndef PARLEY_MEDIA_ROUTER_INT_H
#define PARLEY_MEDIA_ROUTER_INT_H

#include <stdbool.h>
#include <stdint.h>

#include "parley/hmap.h"
#include "parley/nack.h"
#include "parley/pktcache.h"
#include "parley/rewriter.h"
#include "parley/router.h"
#include "parley/rtcp.h"
#include "parley/rtpstats.h"
#include "parley/twcc.h"

/* The largest packet the router forwards (after its extensions are gone). */
#define PKT_MAX 1500
/* NACK and keyframe timers are looked at this often. */
#define REPAIR_TICK_US 10000
/* Recent packets kept per track for retransmission (about 3 s of
 * 700 kbit/s video, 2.5 s of audio). */
#define CACHE_VIDEO 256
#define CACHE_AUDIO 128
/* RTCP packets read from one compound packet. */
#define RTCP_MAX_PARTS 16

typedef struct endpoint endpoint;

/* One subscriber route fed by a publisher track. */
typedef struct fan_entry {
    endpoint *sub;
    size_t route;
} fan_entry;

/* A publisher's track and its receive side: what the relay needs to repair
 * it upstream and to answer its subscribers' NACKs. */
typedef struct track {
    pl_track cfg;
    uint32_t ssrc, rtx_ssrc; /* as signalled, or learned from MID-tagged packets */
    uint32_t src;            /* the source whose packets the cache holds */
    pl_pktcache *cache;
    pl_rtp_rx rx;
    pl_nack_gen nack;
    pl_keyframe_limiter kf;
    fan_entry *fan; /* rebuilt when routes change: forwarding never searches */
    size_t fan_n, fan_cap;
    int64_t loud_until; /* audio: speaking until then, at its loudest recent level */
    uint8_t level;
    bool speaking;
} track;

typedef struct route {
    pl_route cfg;
    pl_rewriter rw;
    uint16_t rtx_seq;         /* the route's RTX stream */
    uint32_t packets, octets; /* sent on it, for its sender reports */
    endpoint *pub;            /* resolved from cfg: NULL while the track is not there */
    size_t track;
} route;

struct endpoint {
    uint64_t id;
    bool connected;
    size_t n_tracks;
    track *tracks[PL_MAX_TRACKS];
    size_t n_routes;
    route routes[PL_MAX_ROUTES];
    int64_t next_report;
    /* Transport-wide feedback to this transport as a publisher: the
     * extension id its packets carry, and what arrived when. */
    uint8_t twcc_ext;
    pl_twcc_rx *twcc;
    endpoint *next;
};

/* What is waiting to go out. Media and retransmissions point at the packet
 * in its forwarding form (the scratch copy or the cache) and carry the
 * route's rewriting; RTCP the relay made lives in the arena. */
typedef struct outq {
    enum pl_router_out_kind kind;
    enum pl_router_out_reason reason;
    uint64_t transport;
    const uint8_t *src;
    size_t off, len; /* RTCP: its place in the arena */
    uint32_t ssrc, ts, rtx_ssrc;
    uint16_t seq, rtx_seq;
    uint8_t pt, rtx_pt;
    bool rtx;
    bool speaking;
    uint8_t level;
} outq;

struct pl_router {
    pl_env env;
    endpoint *endpoints;
    pl_hmap *by_id;
    outq *q;
    size_t q_n, q_cap, q_next;
    uint8_t *arena;
    size_t arena_len, arena_cap;
    pl_rtcp_packet *rtcp;  /* scratch for parsing */
    pl_rtcp_twcc *twcc_fb; /* scratch for building feedback */
    uint8_t scratch[PKT_MAX];
    int64_t next_repair, next_speaker_check;
    pl_router_stats st;
};

static inline int64_t min64(int64_t a, int64_t b)
{
    return a < b ? a : b;
}

static inline endpoint *find_ep(const pl_router *r, uint64_t id)
{
    return pl_hmap_get(r->by_id, &id, sizeof(id));
}

/* router_queue.c */
/* Makes room for `need` items in a growing array of which `used` are in
 * use (doubling from `first`): 0, or PL_ENOMEM with the array as it was. */
int router_grow(pl_router *r, void **items, size_t *cap, size_t used, size_t need, size_t size,
                size_t first);
/* The start of every handle call: an empty queue, and the transport the
 * input came from (NULL, counted, for one the router does not know). */
endpoint *router_input_from(pl_router *r, uint64_t from);
outq *router_enqueue(pl_router *r);
/* Drops what is queued (a handle call starts with an empty queue). */
void router_reset_queue(pl_router *r);
void router_enqueue_rtcp(pl_router *r, uint64_t to, enum pl_router_out_reason why,
                         const pl_wbuf *wb);
/* One copy of a packet in forwarding form for a route. */
void router_enqueue_copy(pl_router *r, endpoint *s, route *rt, const uint8_t *pkt, size_t len,
                         uint16_t seq, uint32_t ts, bool resend);

/* router_feedback.c */
/* A keyframe of a publisher track, merged with others inside the interval. */
void router_request_keyframe(pl_router *r, endpoint *p, size_t ti, int64_t now);
/* Keyframes of everything a subscriber receives (and has not paused). */
void router_request_keyframes_for(pl_router *r, endpoint *sub, int64_t now);

#endif
