/* The send-side bandwidth estimate of one subscriber transport: how many
 * bits per second the relay may send it, from the transport-wide feedback
 * its browser returns about what the relay sent (in the spirit of Google
 * Congestion Control, draft-ietf-rmcat-gcc-02).
 *
 * - Delay: the trendline detector (`trendline.h`) says whether a queue is
 *   building on the path; a rate controller answers. Overuse cuts the
 *   estimate to 0.85 times the acknowledged bitrate (what the receiver got
 *   over the last half second), or, while the relay sends below the
 *   estimate and that half second arrived at the pace it was sent (no
 *   queue grew), to the acknowledged bitrate itself; normal use raises it, by 8% a second while
 *   far from the rate where congestion last struck, by about a packet per
 *   round trip near it; underuse holds it while the queue drains. It never
 *   runs far ahead of what is acknowledged, so an idle sender does not
 *   inflate it.
 * - Loss: over windows of at least 20 packets, more than 10% lost cuts the
 *   estimate by half the loss fraction (at most once per 300 ms plus a
 *   round trip), under 2% lets it grow by 8% a second, in between holds.
 * - The estimate is the lower of the two, and of the subscriber's REMB
 *   when it sends one. A subscriber that sends REMB and never transport-
 *   wide feedback is estimated by its REMB alone.
 * - Probing: rate control alone grows slowly, so the estimator asks the
 *   sender (the pacer) for short probe clusters sent above the estimate:
 *   at the start (three times the start rate), again at twice a probe's
 *   result while probes succeed, every few seconds while the link is calm,
 *   and when the caller asks (an allocator that wants to know whether a
 *   higher layer would fit). A cluster's rate as the receiver saw it,
 *   when above the estimate, becomes the estimate; one the path could not
 *   carry caps the estimate at its rate, but not below the acknowledged
 *   bitrate.
 *
 * Sans-IO: times are arguments; the estimate is a query. */
#ifndef PARLEY_BWE_H
#define PARLEY_BWE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "parley/common.h"
#include "parley/rtcp.h"
#include "parley/sendhist.h"
#include "parley/trendline.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Default bounds of the estimate (bit/s). */
#define PL_BWE_MIN_BPS 30000u
#define PL_BWE_MAX_BPS 20000000u
/* A probe cluster lasts this long and has at least this many packets, and
 * this many bytes: longer at low rates, so that what a shaper's token
 * bucket lets through at once (tbf's default burst is 2 kB) is the lesser
 * part of it. */
#define PL_BWE_PROBE_US 30000
#define PL_BWE_PROBE_PACKETS 5
#define PL_BWE_PROBE_MIN_BYTES 5000
/* A calm link is probed at twice the estimate this often. */
#define PL_BWE_PROBE_INTERVAL_US 5000000
/* An overuse whose newest packet met a queue shorter than this is not cut
 * for (pl_bwe_stats.drained_overuses): the queue it saw is gone. */
#define PL_BWE_QUEUE_GONE_US 25000

typedef struct pl_bwe pl_bwe;

/* What the rate controller is doing. */
enum pl_bwe_rate_state {
    PL_BWE_HOLD,
    PL_BWE_INCREASE,
    PL_BWE_DECREASE,
};

/* A probe cluster to send now: packets tagged with `id` (every packet
 * sent while it lasts, media or padding, goes to pl_bwe_on_sent with that
 * id) at `bps` in all for `duration_us`, which is `bytes` and at least
 * `min_packets` packets (padding fills in where media does not). */
typedef struct pl_bwe_probe {
    uint32_t id;
    uint64_t bps;
    int64_t duration_us;
    uint64_t bytes;
    uint32_t min_packets;
} pl_bwe_probe;

typedef struct pl_bwe_stats {
    uint64_t estimate_bps;
    uint64_t delay_bps;   /* the delay-based part */
    uint64_t loss_bps;    /* the loss-based part */
    uint64_t remb_bps;    /* 0 when no REMB came */
    uint64_t acked_bps;   /* what the receiver got; 0 until measured */
    double loss;          /* fraction lost in the last loss window */
    double loss_inherent; /* the path's own loss, which rate cuts did not lower */
    double jitter_ms;     /* J of a random delay of +-J, from reordered arrivals */
    double trend;         /* the detector's scaled trend, and its threshold (ms) */
    double threshold;
    enum pl_bwe_usage usage;
    enum pl_bwe_rate_state rate_state;
    int64_t rtt_us;
    uint64_t feedbacks;
    uint64_t overuses;  /* decreases for delay */
    uint64_t loss_cuts; /* decreases for loss */
    /* Path changes told, and the packets sent before one that were
     * reported lost and not counted. */
    uint64_t path_changes, lost_before_path_change;
    /* Of the overuses, those while sending below the estimate with every
     * packet arriving at the pace it left: cut to that rate, no lower. */
    uint64_t app_limited_cuts;
    /* Overuses the detector saw after the queue behind them had drained
     * (the newest packet told met less than PL_BWE_QUEUE_GONE_US): held,
     * not cut. */
    uint64_t drained_overuses;
    /* Saturated probes that measured less than the acknowledged rate,
     * taken as that rate, or where the path did not keep pace as a share
     * of it. */
    uint64_t probes_below_acked;
    uint64_t probes_sent, probes_ok, probes_failed;
    uint64_t last_probe_bps; /* result of the last successful probe */
    pl_sendhist_stats history;
} pl_bwe_stats;

pl_bwe *pl_bwe_create(const pl_env *env, uint64_t start_bps);
void pl_bwe_destroy(pl_bwe *b);

/* Bounds of the estimate (0 keeps the default); the estimate is clamped
 * into them at once. PL_EINVAL when min > max. */
int pl_bwe_set_bounds(pl_bwe *b, uint64_t min_bps, uint64_t max_bps);

/* How far the probes the estimator sends of its own accord (the
 * start-up's chain, the periodic ones on a calm link) may look: what the
 * caller could use, with room to spare (0: up to the upper bound). Probes
 * cost the receiver padding; a subscriber that can use 2 Mbit/s gains
 * nothing from an estimate proven to 20. Requested probes are not bound. */
void pl_bwe_set_probe_ceiling(pl_bwe *b, uint64_t bps);

/* Whose estimate this is, for its debug lines (0: no one named): with many
 * subscribers, a line must say which link it is about. */
void pl_bwe_set_log_id(pl_bwe *b, uint64_t id);

/* A packet with transport-wide sequence number `seq` left at now_us,
 * `size` bytes on the wire, in probe cluster `cluster` (0 for none).
 * Returns its extended sequence number. */
int64_t pl_bwe_on_sent(pl_bwe *b, int64_t now_us, uint16_t seq, size_t size, uint32_t cluster);

/* Transport-wide feedback from the receiver, as parsed. */
void pl_bwe_on_feedback(pl_bwe *b, int64_t now_us, const pl_rtcp_twcc *fb);

/* The round-trip time, as the caller measured it (receiver reports). It
 * paces decreases and the additive increase; 100 ms until told. */
void pl_bwe_on_rtt(pl_bwe *b, int64_t rtt_us);

/* The transport moved to a new address (ICE, after a network change or
 * a NAT rebinding). What was sent before now went to the old address, or
 * to nobody: its loss says nothing of the new path, and is not counted.
 * Read as loss, the seconds a client takes to say where it went cut the
 * estimate and paused its video after the move. */
void pl_bwe_on_path_change(pl_bwe *b, int64_t now_us);

/* The receiver's REMB: a ceiling, or the estimate itself when no
 * transport-wide feedback comes. */
void pl_bwe_on_remb(pl_bwe *b, int64_t now_us, uint64_t bps);

/* Still starting up: the estimate is the start value or on its way up
 * from it by doubling probes, not yet a measure of the path. False from the
 * first probe that falls short, the first cut, or a REMB without
 * transport-wide feedback. */
bool pl_bwe_starting(const pl_bwe *b);

/* The caller would like to know whether `bps` fits: a probe cluster at
 * that rate is queued (one at a time; a later request replaces it). */
void pl_bwe_request_probe(pl_bwe *b, int64_t now_us, uint64_t bps);

/* A probe cluster to start now, if one is due: true with *out filled. A
 * cluster is handed out only once the previous one has had its time. */
bool pl_bwe_probe_poll(pl_bwe *b, int64_t now_us, pl_bwe_probe *out);

/* The estimate (bit/s). */
uint64_t pl_bwe_estimate(const pl_bwe *b);

pl_bwe_stats pl_bwe_get_stats(const pl_bwe *b);

const char *pl_bwe_usage_name(enum pl_bwe_usage u);

#ifdef __cplusplus
}
#endif
#endif
