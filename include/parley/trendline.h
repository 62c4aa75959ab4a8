/* The delay-based congestion detector of a send-side bandwidth estimate
 * (after draft-ietf-rmcat-gcc-02 5, with a trendline in place of its
 * Kalman filter): packets are grouped into send bursts of 5 ms; for each
 * pair of consecutive groups, how much longer the second took to arrive
 * than to be sent is the delay variation, which is positive while a queue
 * on the path grows. The variations are summed and smoothed, and the
 * slope of a linear regression over the last 20 groups, scaled, is the
 * trend. A trend above an adaptive threshold for more than 10 ms is
 * overuse (a queue building up), one below minus the threshold underuse (a
 * queue draining). The threshold follows the trend slowly, so that the
 * detector is not starved by a path whose delay is noisy by nature, nor by
 * a competing loss-based flow.
 *
 * A plain value, sans-IO: the caller feeds each packet's send time (its
 * own clock) and arrival time (the receiver's clock, any origin), in
 * sequence order. */
#ifndef PARLEY_TRENDLINE_H
#define PARLEY_TRENDLINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Packets sent this close to the first of a group belong to it. */
#define PL_TRENDLINE_BURST_US 5000
/* Groups the regression runs over. */
#define PL_TRENDLINE_WINDOW 20
/* Where the threshold starts (ms of scaled trend) and its bounds. */
#define PL_TRENDLINE_THRESHOLD_START 12.5
#define PL_TRENDLINE_THRESHOLD_MIN 6.0
#define PL_TRENDLINE_THRESHOLD_MAX 600.0

enum pl_bwe_usage {
    PL_BWE_NORMAL,
    PL_BWE_OVERUSE,
    PL_BWE_UNDERUSE,
};

typedef struct pl_trendline_group {
    int64_t first_send_us, last_send_us;
    int64_t first_arrival_us, last_arrival_us;
    bool valid;
} pl_trendline_group;

typedef struct pl_trendline {
    pl_trendline_group cur, prev;
    double accumulated_ms; /* sum of the delay variations */
    double smoothed_ms;    /* the same, exponentially smoothed */
    int64_t origin_us;     /* arrival time the regression's x counts from */
    double x[PL_TRENDLINE_WINDOW], y[PL_TRENDLINE_WINDOW];
    size_t n, head;
    unsigned deltas; /* delay variations seen since the last reset */
    double slope;
    double trend, prev_trend; /* scaled slope, compared with the threshold */
    double threshold;
    double floor;            /* the threshold's lowest, raised on a jittery path */
    int64_t threshold_at_us; /* arrival time of its last update; INT64_MIN before */
    double over_ms;          /* how long the trend has been above the threshold; <0: not */
    unsigned over_count;
    enum pl_bwe_usage state;
    unsigned reordered; /* consecutive groups that arrived before the previous one */
    uint64_t resets;    /* arrival clock jumps that restarted the detector */
} pl_trendline;

void pl_trendline_init(pl_trendline *t);

/* One packet that arrived, in sequence order; a packet sent before the
 * group being gathered (reordered, or retransmitted with an old send time)
 * is ignored. Returns the detector's state, which changes only when a
 * group completes. */
enum pl_bwe_usage pl_trendline_packet(pl_trendline *t, int64_t send_us, int64_t arrival_us);

/* The path's jitter (J for a random delay of +-J, ms). Random delay makes the trend wander without
 * a queue behind it: the threshold's floor rises with the jitter so that the wandering is not taken
 * for congestion, while a queue, whose trend grows on and on, still is. */
void pl_trendline_set_jitter(pl_trendline *t, double jitter_ms);

#ifdef __cplusplus
}
#endif
#endif
