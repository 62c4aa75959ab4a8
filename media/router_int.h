/* Inside the router (not public): its state, shared by router.c
 * (transports, tracks, routes and forwarding), router_feedback.c (RTCP in,
 * the relay's own RTCP, timers), router_layers.c (a track's layers: their
 * receive state, binding packets to them, the layer each route gets,
 * keyframe requests), router_alloc.c (what each subscriber gets within its
 * estimate: the stream allocator's caps and pauses), router_downlink.c
 * (each subscriber's estimate and pacer: what it is sent leaves through
 * them) and router_queue.c (the output queue). Calls go one way only:
 * router.c -> router_feedback.c -> router_alloc.c -> router_dynacast.c ->
 * router_layers.c -> router_downlink.c -> router_queue.c (a file may also
 * call any file after it directly). router_dynacast.c: which simulcast
 * layers any subscriber needs, and the publishers told to switch the
 * others off. */
#ifndef PARLEY_MEDIA_ROUTER_INT_H
#define PARLEY_MEDIA_ROUTER_INT_H

#include <stdbool.h>
#include <stdint.h>

#include "parley/alloc.h"
#include "parley/hmap.h"
#include "parley/layerfwd.h"
#include "parley/bwe.h"
#include "parley/nack.h"
#include "parley/pacer.h"
#include "parley/pktcache.h"
#include "parley/router.h"
#include "parley/rtcp.h"
#include "parley/rtp.h"
#include "parley/rtpstats.h"
#include "parley/rxbwe.h"
#include "parley/twcc.h"
#include "parley/vp8_rewrite.h"

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
/* Every route's layer is chosen again this often (layers start and stop,
 * their sizes change). */
#define LAYER_CHECK_US 500000
/* Resends remembered per route (a power of two). */
#define RESENT_HISTORY 128
/* A NACK asking for fewer bytes than this is answered by resending
 * whatever a key frame costs: a key frame comes a round trip to the
 * publisher and an encode later, a few resends at once. */
#define NACK_KEYFRAME_FLOOR 4800
/* The round trip assumed until receiver reports measure it. */
#define DEFAULT_RTT_US 100000
/* A layer of unknown size is asked for a key frame (which says its size)
 * at most this often. */
#define SIZE_PROBE_US 2000000
/* A layer's rate is measured over windows of at least this long. */
#define RATE_WINDOW_MIN_US (LAYER_CHECK_US / 2)
/* Each subscriber's streams are allocated this often, and at once when its
 * estimate moves by more than ALLOC_MOVE_PCT percent. */
#define ALLOC_US 250000
/* A downlink's start-up holds video back no longer than this after its
 * transport connected (a subscriber that sends no feedback, a path where
 * no probe gets through). */
#define DL_START_MAX_US 2000000
#define ALLOC_MOVE_PCT 10
/* The allocator asks the estimator for a probe at most this often. */
#define ALLOC_PROBE_GAP_US 3000000
/* Bytes a forwarded packet has on the subscriber's estimate beyond the
 * stripped packet: its transport-wide sequence number extension, and what
 * the wire adds to every packet. */
#define WIRE_EXTRA (PL_PACER_TWCC_GROWTH + PL_ROUTER_PACKET_OVERHEAD)
/* Video that waited this long in an estimated subscriber's pacer is
 * dropped, and its routes restart at a key frame (of the smaller layer
 * the allocation gives them by then); the pacer's own rule (draining
 * above the estimate) is kept behind it, at twice this. */
#define VIDEO_FLUSH_US 700000

typedef struct endpoint endpoint;

/* A subscriber transport's downlink: its pacer, and its estimate when the
 * subscriber gives feedback (transport-wide, or REMB). */
typedef struct downlink {
    pl_pacer *pacer;
    pl_bwe *bwe;
    uint8_t twcc_ext; /* the pacer writes it; 0: the subscriber has none */
    bool estimated;   /* paced at the estimate (else no pacer) */
    bool on;          /* estimation asked for (pl_route.estimate) */
    bool remb;        /* a REMB came */
    bool padding;     /* probes may pad (a route has an RTX stream) */
    int64_t rtt_us;   /* from receiver reports; 0: not measured */
    /* Pacer counters of pacers already replaced, so totals do not drop. */
    uint64_t rtx_dropped, padding_packets, padding_bytes;
    /* The allocation: the estimate it last ran at (0: none yet), and when
     * it last asked for a probe. */
    uint64_t alloc_bps;
    int64_t probe_at;
    uint64_t probe_bps; /* its target; 0: none, or reached */
    uint64_t want_bps;  /* the estimate the last allocation's next steps need; 0: none */
    /* While its estimate starts up (until start_until at the latest), the
     * subscriber's video is held back: see router_downlink_starting. */
    bool starting;
    int64_t start_until;
} downlink;

/* One subscriber route fed by a publisher track. */
typedef struct fan_entry {
    endpoint *sub;
    size_t route;
} fan_entry;

/* One stream a publisher sends of a track (a simulcast layer, or the
 * whole of a track without simulcast) and its receive side: what the relay
 * needs to repair it upstream and to answer its subscribers' NACKs. */
typedef struct layer {
    /* As signalled, or learned from MID- and RID-tagged packets. */
    uint32_t ssrc, rtx_ssrc;
    uint32_t src;  /* the source whose packets the cache holds ... */
    uint8_t epoch; /* ... and its number: routes tell sources apart by it */
    pl_pktcache *cache;
    bool cached; /* the cache holds a packet */
    pl_rtp_rx rx;
    pl_nack_gen nack;
    pl_keyframe_limiter kf;
    bool want_keyframe;     /* a route waits for one of its key frames */
    uint16_t width, height; /* of its last key frame; 0: not known */
    int64_t size_probe_at;  /* when its size may next be asked for */
    int64_t last_at;        /* its last packet; INT64_MIN: none yet */
    uint64_t octets;        /* payload since rate_since */
    uint64_t wire_octets;   /* the same packets as sent to a subscriber */
    int64_t rate_since;
    uint32_t bitrate; /* payload bit/s over the last window */
    /* What a subscriber's estimate is charged for the layer (bit/s),
     * smoothed over about a second; 0: not measured yet. */
    uint32_t wire_bps;
    /* VP8 temporal layers: frames of each TID in the window, the share of
     * frames (per mille) at or below each TID over the last window that
     * had any, and how many TIDs were seen (1 without TIDs). */
    uint32_t tid_frames[PL_ALLOC_MAX_TEMPORAL];
    uint16_t tid_cum[PL_ALLOC_MAX_TEMPORAL];
    uint8_t n_tids;
    /* The last key frame: its timestamp while its packets come, and its
     * size in payload bytes (0: none seen). A NACK asking for more than
     * that is answered with a new key frame instead. */
    bool kf_open;
    uint32_t kf_ts;
    uint32_t kf_bytes;
} layer;

/* A publisher's track: its layers, their clocks (from the publisher's
 * sender reports) and the routes it feeds. */
typedef struct track {
    pl_track cfg;
    uint32_t uid;    /* unique in the router: routes notice a new track */
    size_t n_layers; /* cfg.n_layers, or 1 */
    layer *layers;   /* n_layers of them: a layer's receive state is several KB */
    pl_layer_clock clocks[PL_MAX_LAYERS];
    fan_entry *fan; /* rebuilt when routes change: forwarding never searches */
    size_t fan_n, fan_cap;
    int64_t loud_until; /* audio: speaking until then, at its loudest recent level */
    uint8_t level;
    bool speaking;
    /* Dynacast (router_dynacast.c): the layers the publisher is asked to
     * send (bit per layer index; all of them until told otherwise), since
     * when each has been needed by no subscriber (INT64_MAX: needed), when
     * it was last switched back on, and each one's last measured rate,
     * kept while it is off. */
    uint8_t dyn_on;
    int64_t dyn_idle_since[PL_MAX_LAYERS];
    int64_t dyn_on_at[PL_MAX_LAYERS];
    uint32_t dyn_bps[PL_MAX_LAYERS];
} track;

typedef struct route {
    pl_route cfg;
    pl_layerfwd fwd;          /* its layer, numbering and NACK history ... */
    uint32_t track_uid;       /* ... of this track */
    uint16_t rtx_seq;         /* the route's RTX stream */
    uint32_t packets, octets; /* sent on it, for its sender reports */
    /* Its last sender report: the middle 32 bits of its NTP time, which a
     * receiver report echoes (LSR), and when it went. */
    uint32_t sr_mid;
    int64_t sr_at;
    /* When each recent output number was last resent (by its low bits):
     * a NACK for it within a round trip is not answered again. */
    uint16_t resent_seq[RESENT_HISTORY];
    int64_t resent_at[RESENT_HISTORY];
    endpoint *pub; /* resolved from cfg: NULL while the track is not there */
    size_t track;
    /* The subscriber's allocation for it (alloc.h; state NEW without an
     * estimate), and what it makes of the route: the largest layer
     * (PL_LAYER_NONE: no cap), the temporal layers (0: no cap), and no
     * video at all while its lowest layer does not fit. */
    pl_alloc_choice alloc;
    bool capped;
    uint8_t cap_layer, cap_temporal;
    bool bw_paused;
} route;

struct endpoint {
    uint64_t id;
    bool connected;
    bool recorded; /* pl_router_set_recorded */
    size_t n_tracks;
    track *tracks[PL_MAX_TRACKS];
    size_t n_routes;
    route *routes; /* n_routes of them, as the last pl_router_set_routes gave */
    int64_t next_report;
    /* Transport-wide feedback to this transport as a publisher: the
     * extension id its packets carry, and what arrived when. */
    uint8_t twcc_ext;
    pl_twcc_rx *twcc;
    /* Without it, REMB when the publisher takes it: what arrives, and the
     * estimate told with every receiver report. */
    bool remb;
    pl_rxbwe rxbwe;
    downlink *dl; /* a subscriber's, from its first routes on */
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
    bool vp8; /* vf goes into the VP8 payload descriptor */
    pl_vp8_fields vf;
    bool speaking;
    uint8_t level;
    bool paused;    /* PL_ROUTER_OUT_VIDEO_PAUSED, with the route's mid */
    uint8_t layers; /* PL_ROUTER_OUT_PUBLISHER_LAYERS, with the track's mid */
    char mid[PL_MID_MAX + 1];
    bool video, screen;     /* PL_ROUTER_OUT_RECORD, with the track's mid */
    uint8_t rank, n_layers; /* PL_ROUTER_OUT_RECORD */
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
    uint8_t copy[PKT_MAX + 16]; /* a copy written for a pacer (RTX adds 2 bytes) */
    endpoint *pace_next;        /* the next pacer pl_router_poll_output asks */
    /* Pacers there are; without any, no subscriber is visited for one. */
    size_t n_pacers;
    /* Pacer counters of transports gone. */
    uint64_t gone_rtx_dropped, gone_padding_packets, gone_padding_bytes;
    int64_t next_repair, next_speaker_check, next_layer_check, next_alloc;
    int64_t now;       /* the latest time the router was told */
    uint32_t next_uid; /* of tracks */
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
/* One copy of a packet in forwarding form for a route, described (the
 * route's RTX numbering is taken for a resend), queued, and written. */
void router_describe_copy(endpoint *s, route *rt, const uint8_t *pkt, size_t len, uint16_t seq,
                          uint32_t ts, const pl_vp8_fields *vf, bool resend, outq *o);
void router_enqueue_copy(pl_router *r, const outq *copy);
/* The packet as it goes out, into buf: its length, or a negative error. */
int router_write_copy(const outq *o, uint8_t *buf, size_t cap);
/* The next queued output (PL_EAGAIN: none left). */
int router_queue_pop(pl_router *r, pl_router_output *out, uint8_t *buf, size_t cap);

/* router_alloc.c */
/* Every estimated subscriber's streams allocated within its estimate, and
 * the result applied to its routes. */
void router_alloc_run(pl_router *r, int64_t now);
/* Routes paused for bandwidth now. */
uint64_t router_alloc_paused(const pl_router *r);

/* router_dynacast.c */
/* What every simulcast track's subscribers need of its layers, and the
 * publishers told when a layer goes off (after PL_ROUTER_DYNACAST_OFF_US
 * unneeded) or on (at once). */
void router_dynacast_run(pl_router *r, int64_t now);
/* A new track's dynacast state: every layer on and needed. */
void router_dynacast_init(track *t);
/* Layer li of a track as the allocator should see it: its state
 * (enum pl_alloc_layer_state: sent, switched off by dynacast, or not to
 * be had) and the rate to count for it. */
uint32_t router_dynacast_layer(const track *t, size_t li, int64_t now, uint8_t *state);
/* Layers switched off at publishers now. */
uint64_t router_dynacast_paused(const pl_router *r);

/* router_downlink.c */
/* A subscriber's routes changed: its pacer (and estimator) are made or
 * remade to match them. */
void router_downlink_setup(pl_router *r, endpoint *e, int64_t now);
void router_downlink_free(pl_router *r, endpoint *e);
/* A route's stream ended (its track is gone, or the route is): what its
 * pacer still holds of it is dropped, so that nothing of it leaves after
 * the renegotiation that ends it. */
void router_downlink_forget(endpoint *s, const route *rt);
/* One packet for a subscriber's route: written in its final form into its
 * pacer (or queued when it has none). */
bool router_send_copy(pl_router *r, endpoint *s, route *rt, const uint8_t *pkt, size_t len,
                      uint16_t seq, uint32_t ts, const pl_vp8_fields *vf, bool resend, bool audio);
/* False above: its pacer refused it (full), and the stream has a hole. */
/* RTCP from a subscriber about its downlink: transport-wide feedback,
 * REMB, receiver reports (round-trip time). */
void router_downlink_rtcp(pl_router *r, endpoint *e, const pl_rtcp_packet *p, int64_t now);
/* A sender report went out on a route (for the round-trip time). */
void router_downlink_sr_sent(route *rt, const pl_rtcp_sr *sr, int64_t now);
/* Probe clusters from the estimators to the pacers. */
void router_downlink_tick(pl_router *r, int64_t now);
int64_t router_downlink_next(const pl_router *r);
/* The estimate the allocation shares out: 0 when the subscriber has none. */
uint64_t router_downlink_estimate(const endpoint *e);
/* Whether the subscriber's estimate is still starting up. Its video is
 * then held back, neither forwarded nor asked key frames for nor told
 * paused: at 300 kbit/s a new subscriber's first allocation would pause
 * every video, and the publishers' first key frames overflow the pacer,
 * a second before probes find the path carries them all. */
bool router_downlink_starting(const endpoint *e);
/* Ends the start-up once the estimator's start-up is over, DL_START_MAX_US
 * passed, or `all_fits` (the estimate carries everything the subscriber
 * can use): true when it ended now. */
bool router_downlink_start_done(endpoint *e, bool all_fits, int64_t now);
/* The allocation would like to know whether `bps` fits: a probe, unless
 * one was asked for lately or one runs. True when asked. */
bool router_downlink_probe(pl_router *r, endpoint *e, uint64_t bps, int64_t now);
/* Drops the subscriber's queued video when some waited longer than
 * VIDEO_FLUSH_US: true when it did. */
bool router_downlink_flush_video(pl_router *r, endpoint *e, int64_t now);
/* The downlink counters kept in the pacers, into *out. */
void router_downlink_stats(const pl_router *r, pl_router_stats *out);

/* router_layers.c */
/* A track's layers from its configuration: 0, or PL_ENOMEM with nothing
 * allocated. */
int router_layers_init(pl_router *r, track *t);
void router_layers_free(pl_router *r, track *t);
/* The same track renegotiated: signalled SSRCs replace learned ones. */
void router_layers_update(track *t, const pl_track *cfg);
/* A new source behind a layer: its numbers start over. */
void router_layer_reset(track *t, size_t li, uint32_t src);
/* Which track and layer a publisher's packet belongs to: by SSRC, or for a
 * source the offer did not name, by the MID and RID (repaired RID for
 * RTX) header extensions, whose SSRC is then kept. NULL: none. */
track *router_bind(const endpoint *e, const uint8_t *pkt, const pl_rtp_header *h, size_t *li,
                   bool *rtx);
/* The track's layers from smallest to largest (by area when every one's
 * size is known, else in the offer's order), into order[0..n_layers). */
void router_layer_order(const track *t, uint8_t *order);
/* The layer a route gets (and its temporal cap), from what is known of
 * the track's layers at `now` and the route's allocation caps. */
void router_route_target(const track *t, route *rt, int64_t now);
/* Every route's layer chosen again, layers a route waits for asked for a
 * key frame, layers of unknown size asked for one, bitrates measured. */
void router_check_layers(pl_router *r, int64_t now);
void router_send_pli(pl_router *r, endpoint *p, const track *t, size_t li);
/* A keyframe of a publisher track's layer, merged with others inside the
 * interval. */
void router_request_keyframe(pl_router *r, endpoint *p, size_t ti, uint8_t li, int64_t now);
/* Keyframes of everything a subscriber receives (and has not paused): of
 * the layer each route is on or waits for. */
void router_request_keyframes_for(pl_router *r, endpoint *sub, int64_t now);

#endif
