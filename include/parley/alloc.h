/* The stream allocator of one subscriber: which layer of each stream it
 * is sent, within the bandwidth estimate of its transport (bwe.h).
 *
 * The caller describes the subscriber's streams (audio or video, a
 * priority class, the caps its tile sets, and for video the measured rate
 * of each spatial and temporal layer) and the budget; the allocator says
 * per stream which (spatial, temporal) layer to send, or that it is paused
 * and why. The rules:
 *
 * - Audio first: every wanted audio stream is counted at its rate and is
 *   never paused, even when that alone exceeds the budget.
 * - Then video, in priority order: screen share, then the active speaker
 *   or pinned tile, then the others; within a class in the caller's order.
 *   First every video stream gets its lowest step, so that the most
 *   important streams get something before any stream gets more; a stream
 *   whose lowest step does not fit is paused (the subscriber is told, its
 *   tile shows the name rather than a frozen picture).
 * - Then, class by class, streams climb their ladder one step at a time,
 *   taking turns within the class: first back up to what they had (kept
 *   layers are not given away to a peer of the same class), then beyond.
 *   A higher class climbs before a lower one keeps what it had, so a
 *   screen share or a new speaker takes bandwidth from the others. Before
 *   the cameras' classes climb, every camera, whatever its class, takes
 *   the frame rate steps of its lowest spatial layer (taking turns, back
 *   to what it had first): a fluid small picture of everyone before a
 *   sharper one of anyone.
 * - The ladder of a camera: frame rate first on the lowest spatial layer,
 *   (0,0) (0,1) .. (0,T), then each spatial layer above at full frame
 *   rate: (1,T) (2,T). Temporal steps cost no keyframe and give fine
 *   steps where budgets are tight; above the lowest layer a larger
 *   picture at half frame rate is not worth climbing to: a publisher
 *   short of CPU encodes 15-20 fps, whose half is a jerky 8-10 fps, where
 *   the smaller layer at full rate is fluid. It is a dip's cushion: a
 *   stream on (s,T), s > 0, that cannot keep it goes to (s,T-1) if that
 *   fits, which costs no key frame, for at most `half_rate_us` (longer
 *   than a first hold, so that a short dip is over without one). A dip
 *   that lasts longer takes it down a spatial layer. The ladder of a screen share: sharpness first,
 * (0,0) (1,0) .. (S,0), then frame rate on the top layer, (S,1) .. (S,T). Steps whose rate is
 * unknown, or above the caps, are left out.
 * - Never above the caps (the tile size, the temporal layers asked for),
 *   never on a layer the publisher cannot send.
 * - A stream that was on is not paused at the first allocation where its
 *   lowest step does not fit: for `pause_grace_us` it keeps that step
 *   while the whole allocation stays within the budget plus
 *   `grace_overdraft_pct` (an estimate's dip is often over before the
 *   grace is; the pacer serves audio before video meanwhile). A deeper
 *   shortfall, or one that lasts, pauses it. Audio is never graced away:
 *   it is counted first, and the overdraft is a share of the budget, so a
 *   budget below the audio leaves no video in grace.
 * - A step up to a larger spatial layer than the stream had costs the
 *   publisher a key frame (of every layer, with most encoders): it is
 *   taken only once it has fitted, with a margin of its own
 *   (`spatial_margin_pct`), in every run for `spatial_up_us` (at once
 *   when the allocation fits one and a half times over), so that an estimate that touches a
 * threshold for a moment (a probe through a token bucket's burst) does not buy a key frame now and
 * another at the downgrade that follows. Temporal steps cost nothing and are taken at once.
 * - Hysteresis: a step above what a stream had needs the whole allocation
 *   after it times (1 + margin) to fit in the budget, and is not taken
 *   before the stream's hold ends. A stream that loses a layer for lack of
 *   budget (downgrades happen at once) is held for `hold_us`; one that
 *   loses a layer again soon after regaining it is held twice as long each
 *   time, up to `hold_max_us`; but a step down of the smallest layer's
 *   frame rate is held for `hold_us` each time.
 *
 * Steps are ordered lexicographically by (spatial, temporal) on both
 * ladders, and that order is how the allocator compares layers.
 *
 * The allocator keeps no state of its own: each stream carries the
 * previous result for it (`prev`), which the caller copies back from the
 * last output. Sans-IO and deterministic: time is an argument. */
#ifndef PARLEY_ALLOC_H
#define PARLEY_ALLOC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "parley/track.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Streams per subscriber: one per route. */
#define PL_ALLOC_MAX_STREAMS PL_MAX_ROUTES
#define PL_ALLOC_MAX_SPATIAL PL_MAX_LAYERS
/* VP8 temporal layers (TID 0..3). */
#define PL_ALLOC_MAX_TEMPORAL 4

/* Defaults of pl_alloc_config. */
#define PL_ALLOC_HOLD_US 3000000
#define PL_ALLOC_HOLD_MAX_US 24000000
#define PL_ALLOC_FLAP_WINDOW_US 30000000
#define PL_ALLOC_MARGIN_PCT 10
#define PL_ALLOC_PAUSE_GRACE_US 2000000
#define PL_ALLOC_SPATIAL_UP_US 3000000
#define PL_ALLOC_SPATIAL_MARGIN_PCT 25
#define PL_ALLOC_HALF_RATE_US 4000000
#define PL_ALLOC_GRACE_OVERDRAFT_PCT 15

enum pl_alloc_kind {
    PL_ALLOC_AUDIO,
    PL_ALLOC_VIDEO,
};

/* Priority classes, most important first. */
enum pl_alloc_class {
    PL_ALLOC_SCREEN,  /* a screen share */
    PL_ALLOC_SPEAKER, /* the active speaker, or a tile the subscriber pinned */
    PL_ALLOC_OTHER,
};
#define PL_ALLOC_CLASSES 3

/* A spatial layer as the publisher has it. */
enum pl_alloc_layer_state {
    /* Sent now. */
    PL_ALLOC_LAYER_ACTIVE,
    /* Not sent because no subscriber wanted it (dynacast): the publisher
     * is asked for it again when one does. Its rates are the last
     * measured, or nominal ones. */
    PL_ALLOC_LAYER_SUSPENDED,
    /* Not to be had: not offered, or not sent although asked for (the
     * publisher's own estimate keeps it off). Never chosen. */
    PL_ALLOC_LAYER_OFF,
};

enum pl_alloc_state {
    PL_ALLOC_NEW,      /* no allocation yet: a zeroed `prev` */
    PL_ALLOC_ON,       /* sent at (spatial, temporal) */
    PL_ALLOC_NOFIT,    /* paused: its lowest step does not fit the budget */
    PL_ALLOC_UNWANTED, /* paused: the subscriber does not want it now */
    PL_ALLOC_NOLAYER,  /* paused: no layer it may have is sent with a known rate */
};

/* The allocation of one stream; also its history, which the next run
 * reads from pl_alloc_stream.prev. */
typedef struct pl_alloc_choice {
    uint8_t state; /* enum pl_alloc_state */
    /* The layer granted (PL_ALLOC_ON): what the budget counts and what the
     * publisher is asked to send. */
    uint8_t spatial, temporal;
    /* What to forward meanwhile: the granted layer when it is active,
     * else the highest active spatial layer below it (same temporal cap)
     * until the publisher resumes it. `forward` false: none below it is
     * active, nothing to forward yet. */
    bool forward;
    uint8_t fwd_spatial, fwd_temporal;
    uint32_t bps;      /* the rate counted for it (bit/s) */
    uint32_t next_bps; /* what its next step would add; 0 at the top of its ladder */
    /* Hysteresis: no step above the current one before hold_until_us;
     * when the stream last went up; the hold's doubling exponent. */
    int64_t hold_until_us;
    int64_t up_at_us;
    uint8_t backoff;
    /* Kept on its lowest step although that does not fit (`short`),
     * since short_since_us: in the pause grace. */
    bool short_of_budget;
    int64_t short_since_us;
    /* Its next spatial step up has fitted since up_fits_since_us. */
    bool up_fits;
    int64_t up_fits_since_us;
    /* On a spatial layer above the lowest at its half frame rate (the
     * cushion of a dip) since half_since_us; 0: not. */
    int64_t half_since_us;
} pl_alloc_choice;

/* One stream the subscriber receives, as the caller describes it. A
 * zeroed stream is a wanted one with every layer active. */
typedef struct pl_alloc_stream {
    uint8_t kind;     /* enum pl_alloc_kind */
    uint8_t priority; /* enum pl_alloc_class */
    /* The subscriber does not want it now (pl_route.paused: off screen). */
    bool unwanted;
    /* Video: the layers the publisher has (1..PL_ALLOC_MAX_SPATIAL spatial,
     * 1..PL_ALLOC_MAX_TEMPORAL temporal), and the caps: the highest
     * spatial index the tile needs (pl_alloc_tile_cap) and the highest
     * temporal index asked for (pl_route.temporal_layers - 1); caps at or
     * above the layer counts do not limit. */
    uint8_t n_spatial, n_temporal;
    uint8_t max_spatial, max_temporal;
    uint8_t layer[PL_ALLOC_MAX_SPATIAL]; /* enum pl_alloc_layer_state */
    /* bps[s][t]: the rate of spatial layer s sent up to temporal layer t,
     * cumulative (a VP8 publisher's temporal layers add up). 0: unknown,
     * that step is never chosen. Audio: bps[0][0] is its rate. */
    uint32_t bps[PL_ALLOC_MAX_SPATIAL][PL_ALLOC_MAX_TEMPORAL];
    /* The previous result for this stream; zeroed for a new one. */
    pl_alloc_choice prev;
} pl_alloc_stream;

typedef struct pl_alloc_config {
    int64_t hold_us;              /* hold after a downgrade */
    int64_t hold_max_us;          /* longest hold after repeated downgrades */
    int64_t flap_window_us;       /* a downgrade this soon after an upgrade doubles the hold */
    uint32_t margin_pct;          /* headroom an upgrade needs, percent of the allocation */
    int64_t pause_grace_us;       /* how long a lowest step that does not fit is kept (0: never) */
    uint32_t grace_overdraft_pct; /* how far above the budget it may be kept */
    int64_t spatial_up_us;        /* how long a spatial step up must fit before it is taken */
    uint32_t spatial_margin_pct;  /* the headroom it needs (at least margin_pct) */
    int64_t half_rate_us;         /* how long a dip's half frame rate step is kept (0: never) */
} pl_alloc_config;

typedef struct pl_alloc_result {
    pl_alloc_choice streams[PL_ALLOC_MAX_STREAMS]; /* in the order of the input */
    size_t n_streams;
    /* Everything allocated, audio included: within the budget, but for
     * audio alone above it, or streams in their pause grace. */
    uint64_t total_bps;
    uint64_t audio_bps;
    /* What the streams' next steps would add (each wanted video stream
     * below the top of its ladder, a paused one its lowest step): the
     * subscriber would like this much more. 0: it has all it can use. */
    uint64_t wants_bps;
    /* The estimate at which those steps would be taken, margin included
     * (the spatial margin when one of them is to a larger layer): a probe
     * target for the estimator when above the budget; 0 when nothing is
     * wanted. */
    uint64_t probe_bps;
    /* Streams that went down, or were paused, for lack of budget. */
    unsigned downgrades, upgrades;
} pl_alloc_result;

pl_alloc_config pl_alloc_config_default(void);

/* Allocates `budget_bps` among streams[0..n) at now_us. PL_EINVAL when n
 * exceeds PL_ALLOC_MAX_STREAMS or a video stream has no layers or more
 * than the maxima; *out is then cleared. `cfg` NULL: the defaults. */
int pl_alloc_run(const pl_alloc_config *cfg, int64_t now_us, uint64_t budget_bps,
                 const pl_alloc_stream *streams, size_t n, pl_alloc_result *out);

/* The tile cap: the index of the smallest of n spatial layers (sizes in
 * increasing order) at least max_w x max_h (each non-zero side), or of
 * the largest when none is. 0 x 0 means no limit: the largest. The same
 * rule as pl_route's max_width and max_height. */
uint8_t pl_alloc_tile_cap(const uint16_t *widths, const uint16_t *heights, size_t n, uint16_t max_w,
                          uint16_t max_h);

/* Dynacast: the spatial layers of a publisher's track that its
 * subscribers need, bit s for layer s, from their allocations of that
 * track (each subscriber's choice for it; NULL entries are skipped): the
 * granted layer of every stream that is on, and the layer it forwards
 * meanwhile. Layers outside the mask may be switched off at the
 * publisher. The caller adds the layers its routes still forward while a
 * switch waits for a keyframe. */
unsigned pl_alloc_layers_needed(const pl_alloc_choice *const *choices, size_t n);

const char *pl_alloc_state_name(enum pl_alloc_state s);

#ifdef __cplusplus
}
#endif
#endif
