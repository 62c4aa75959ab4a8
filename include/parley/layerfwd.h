/* What one subscriber route forwards of a publisher track's layers
 * (simulcast RFC 8853; a track without simulcast is one layer), sans-IO:
 *
 * - Spatial layers: the route is on one layer (`cur`) and wants one
 *   (`target`, set by the caller's layer choice, pl_layer_choose). It
 *   moves to the target only at the first packet of one of its key frames
 *   and keeps forwarding the current layer until then; a route on no layer
 *   (new, resumed, its source gone) forwards nothing until a key frame of
 *   its target, unless it is made to start anywhere (one-layer tracks).
 * - Temporal layers (VP8 TID): frames of layers at or above the cap are
 *   dropped; the cap goes down at any frame boundary, up only at a key
 *   frame or a layer sync frame (Y) of the layer it opens.
 * - One output stream: sequence numbers and timestamps (pl_rewriter; the
 *   timestamps of a new layer are mapped through both layers' sender
 *   reports when there are some; back on the layer it left, as after a
 *   pause, by that layer's own clock) and the VP8 picture id, TL0PICIDX and
 *   KEYIDX (pl_vp8_rewriter) stay continuous across drops and switches.
 * - A history of the last PL_LAYERFWD_HISTORY output sequence numbers:
 *   which layer and source packet each carried and the fields it went out
 *   with, so a subscriber's NACK is answered with the same packet.
 *
 * A plain value embedded in the route; no allocation. */
#ifndef PARLEY_LAYERFWD_H
#define PARLEY_LAYERFWD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "parley/rewriter.h"
#include "parley/vp8.h"
#include "parley/vp8_rewrite.h"

#ifdef __cplusplus
extern "C" {
#endif

#define PL_LAYER_NONE 0xff
#define PL_LAYERFWD_HISTORY 128 /* a power of two */
/* A layer with no packet for this long is not chosen. */
#define PL_LAYER_ACTIVE_US 1000000

/* A layer's last sender report: the same instant in NTP and RTP time.
 * `epoch` names the source behind the layer it belongs to. */
typedef struct pl_layer_clock {
    bool valid;
    uint8_t epoch;
    uint64_t ntp; /* 32.32 fixed point */
    uint32_t rtp;
} pl_layer_clock;

/* One packet of the track, as the caller parsed it. */
typedef struct pl_layerfwd_pkt {
    uint8_t layer; /* its index in the track */
    uint8_t epoch; /* changes when another source is behind the layer */
    uint16_t seq;
    uint32_t ts;
    const pl_vp8_desc *vp8;       /* its VP8 descriptor, NULL when it has none */
    const pl_layer_clock *clocks; /* the track's layers' clocks by index, or NULL */
} pl_layerfwd_pkt;

typedef struct pl_layerfwd_out {
    uint16_t seq;
    uint32_t ts;
    bool vp8; /* vf goes into the descriptor (pl_vp8_write_fields) */
    pl_vp8_fields vf;
    bool switched; /* this packet completed a switch to another layer */
} pl_layerfwd_out;

/* An output packet as it went out. */
typedef struct pl_layerfwd_sent {
    uint32_t ts;
    uint16_t in_seq;
    pl_vp8_fields vf;
    uint8_t layer, epoch;
    bool vp8;
    bool valid;
} pl_layerfwd_sent;

typedef struct pl_layerfwd {
    uint32_t clock_rate;
    bool keyframe_start; /* a layer is started only at a key frame */
    /* VP8 went out: the receiver's decoder holds its pictures, so a
     * restart (after a stop, or of another source) waits for a key frame
     * whatever keyframe_start says. Numbers continue across a restart; a
     * P-frame spliced on would be decoded against the wrong pictures
     * without a gap to tell the receiver. */
    bool restart_at_key;
    uint8_t cur, epoch; /* the layer forwarded now and its source */
    uint8_t target;
    uint8_t last_layer, last_epoch; /* whose offsets the rewriter holds */
    uint8_t tcap, tcap_want;        /* temporal layers forwarded: now, wanted (0xff all) */
    bool have_frame, frame_drop;    /* the newest frame of the current layer ... */
    uint32_t frame_ts;              /* ... is this one */
    uint16_t bad_seq;               /* after a packet from far behind: the one after it */
    pl_rewriter rw;
    pl_vp8_rewriter vp8;
    bool hist_any;
    uint16_t hist_top;
    pl_layerfwd_sent hist[PL_LAYERFWD_HISTORY];
} pl_layerfwd;

/* keyframe_start: a layer is started only at a key frame (simulcast);
 * without, the first packet of the single layer starts it (its receiver
 * waits for a key frame of its own accord). Once VP8 has gone out, every
 * later start waits for a key frame either way. */
void pl_layerfwd_init(pl_layerfwd *f, uint32_t clock_rate, bool keyframe_start);
/* The route now takes another track: nothing of the old one is known any
 * more (the output stream still continues). */
void pl_layerfwd_retrack(pl_layerfwd *f, uint32_t clock_rate, bool keyframe_start);
void pl_layerfwd_set_target(pl_layerfwd *f, uint8_t layer);
/* 0: every temporal layer. */
void pl_layerfwd_set_temporal(pl_layerfwd *f, uint8_t temporal_layers);
/* No current layer any more (the route was paused): the next start waits
 * as a new route does. The history stays. */
void pl_layerfwd_stop(pl_layerfwd *f);

/* One packet of the track: true with its output numbers when it goes out. */
bool pl_layerfwd_packet(pl_layerfwd *f, int64_t now_us, const pl_layerfwd_pkt *p,
                        pl_layerfwd_out *out);

/* The packet that went out as out_seq, if still in the history. */
bool pl_layerfwd_lookup(const pl_layerfwd *f, uint16_t out_seq, pl_layerfwd_sent *out);
/* The layer a key frame is wanted of: the target while waiting for it,
 * the current one otherwise (PL_LAYER_NONE: none). */
uint8_t pl_layerfwd_keyframe_layer(const pl_layerfwd *f);
/* The route waits for a key frame of its target. */
bool pl_layerfwd_waiting(const pl_layerfwd *f);

/* What the layer choice knows of a layer. */
typedef struct pl_layer_info {
    bool active;            /* a packet within PL_LAYER_ACTIVE_US */
    uint16_t width, height; /* of its last key frame; 0: not known */
} pl_layer_info;

/* The layer for a subscriber showing the track at max_width x
 * max_height: the smallest active layer at least that big (each non-zero
 * side), else the largest. Layers are ordered by size when every active one
 * has a known size, else by their index (the offer's order). With no
 * active layer, every layer is a candidate. `cap`: the largest layer the
 * subscriber's bandwidth allows (its index; PL_LAYER_NONE or any index at
 * or above n: no cap): candidates larger than it (by area when both sizes
 * are known, else by index) are left out, and when every one is, the
 * smallest is chosen. PL_LAYER_NONE when n is 0. */
uint8_t pl_layer_choose(const pl_layer_info *layers, size_t n, uint16_t max_width,
                        uint16_t max_height, uint8_t cap);

#ifdef __cplusplus
}
#endif
#endif
