#include "parley/trendline.h"

#include <string.h>

/* Smoothing of the summed delay variation (weight of the old value). */
#define SMOOTHING 0.9
/* The slope is scaled by the number of variations seen (up to 60) and a
 * gain, so that one threshold in ms fits paths of every rate. */
#define GAIN 4.0
#define MAX_DELTAS 60
/* How fast the threshold follows a trend above it, and one below it (per
 * ms); a trend this far above the threshold is an event, not noise, and
 * leaves it alone. */
#define K_UP 0.0087
#define K_DOWN 0.039
#define MAX_ADAPT_MS 15.0
/* The threshold's floor per ms of jitter: a random delay of +-20 ms moves
 * the trend by +-4 to 6 without any queue. */
#define JITTER_FLOOR_GAIN 0.3
/* Overuse needs the trend above the threshold this long (ms). */
#define OVERUSE_MS 10.0
/* A group may be a burst released at once by a queue: packets arriving
 * this close to the previous one, sooner than they were sent apart, join
 * the group, up to this span of arrivals. */
#define BURST_ARRIVAL_US 5000
#define MAX_BURST_US 100000
/* An arrival gap this much larger than the send gap is a receiver clock
 * jump, not a queue; so are groups arriving before the previous one three
 * times in a row. */
#define MAX_VARIATION_US 3000000

void pl_trendline_set_jitter(pl_trendline *t, double jitter_ms)
{
    double f = PL_TRENDLINE_THRESHOLD_MIN + JITTER_FLOOR_GAIN * (jitter_ms > 0 ? jitter_ms : 0);
    t->floor = f < PL_TRENDLINE_THRESHOLD_MAX ? f : PL_TRENDLINE_THRESHOLD_MAX;
    if (t->threshold < t->floor)
        t->threshold = t->floor;
}

void pl_trendline_init(pl_trendline *t)
{
    memset(t, 0, sizeof(*t));
    t->threshold = PL_TRENDLINE_THRESHOLD_START;
    t->floor = PL_TRENDLINE_THRESHOLD_MIN;
    t->threshold_at_us = INT64_MIN;
    t->over_ms = -1;
    t->state = PL_BWE_NORMAL;
}

static void start_group(pl_trendline_group *g, int64_t send_us, int64_t arrival_us)
{
    *g = (pl_trendline_group){.first_send_us = send_us,
                              .last_send_us = send_us,
                              .first_arrival_us = arrival_us,
                              .last_arrival_us = arrival_us,
                              .valid = true};
}

static bool in_group(const pl_trendline_group *g, int64_t send_us, int64_t arrival_us)
{
    if (send_us - g->first_send_us <= PL_TRENDLINE_BURST_US)
        return true;
    int64_t arrival_gap = arrival_us - g->last_arrival_us;
    int64_t send_gap = send_us - g->last_send_us;
    return arrival_gap < BURST_ARRIVAL_US && arrival_gap - send_gap < 0 &&
           arrival_us - g->first_arrival_us < MAX_BURST_US;
}

/* Least-squares slope of y over x in the window; false when the x are all
 * equal. */
static bool regression(const pl_trendline *t, double *slope)
{
    double mx = 0, my = 0;
    for (size_t i = 0; i < t->n; i++) {
        mx += t->x[i];
        my += t->y[i];
    }
    mx /= (double)t->n;
    my /= (double)t->n;
    double num = 0, den = 0;
    for (size_t i = 0; i < t->n; i++) {
        num += (t->x[i] - mx) * (t->y[i] - my);
        den += (t->x[i] - mx) * (t->x[i] - mx);
    }
    if (den == 0)
        return false;
    *slope = num / den;
    return true;
}

static void adapt_threshold(pl_trendline *t, int64_t at_us)
{
    double mag = t->trend < 0 ? -t->trend : t->trend;
    if (t->threshold_at_us == INT64_MIN)
        t->threshold_at_us = at_us;
    if (mag > t->threshold + MAX_ADAPT_MS) {
        t->threshold_at_us = at_us;
        return;
    }
    double k = mag < t->threshold ? K_DOWN : K_UP;
    double dt_ms = (double)(at_us - t->threshold_at_us) / 1000.0;
    if (dt_ms > 100)
        dt_ms = 100;
    if (dt_ms < 0)
        dt_ms = 0;
    t->threshold += k * (mag - t->threshold) * dt_ms;
    if (t->threshold < t->floor)
        t->threshold = t->floor;
    if (t->threshold > PL_TRENDLINE_THRESHOLD_MAX)
        t->threshold = PL_TRENDLINE_THRESHOLD_MAX;
    t->threshold_at_us = at_us;
}

static void detect(pl_trendline *t, double send_gap_ms, int64_t at_us)
{
    if (t->deltas < 2) {
        t->state = PL_BWE_NORMAL;
        return;
    }
    if (t->trend > t->threshold) {
        /* Assume the trend rose halfway through the gap. */
        t->over_ms = t->over_ms < 0 ? send_gap_ms / 2 : t->over_ms + send_gap_ms;
        t->over_count++;
        /* A trend that is already falling means the queue is being dealt
         * with: no new overuse for it. */
        if (t->over_ms > OVERUSE_MS && t->over_count > 1 && t->trend >= t->prev_trend) {
            t->over_ms = 0;
            t->over_count = 0;
            t->state = PL_BWE_OVERUSE;
        }
    } else {
        t->over_ms = -1;
        t->over_count = 0;
        t->state = t->trend < -t->threshold ? PL_BWE_UNDERUSE : PL_BWE_NORMAL;
    }
    t->prev_trend = t->trend;
    adapt_threshold(t, at_us);
}

/* One delay variation between the two last complete groups. */
static void update(pl_trendline *t, double variation_ms, double send_gap_ms, int64_t at_us)
{
    if (t->deltas == 0)
        t->origin_us = at_us;
    if (t->deltas < 1000)
        t->deltas++;
    t->accumulated_ms += variation_ms;
    t->smoothed_ms = SMOOTHING * t->smoothed_ms + (1 - SMOOTHING) * t->accumulated_ms;
    size_t i = (t->head + t->n) % PL_TRENDLINE_WINDOW;
    if (t->n == PL_TRENDLINE_WINDOW) {
        i = t->head;
        t->head = (t->head + 1) % PL_TRENDLINE_WINDOW;
    } else {
        t->n++;
    }
    t->x[i] = (double)(at_us - t->origin_us) / 1000.0;
    t->y[i] = t->smoothed_ms;
    if (t->n == PL_TRENDLINE_WINDOW) {
        double s;
        if (regression(t, &s))
            t->slope = s;
    }
    unsigned d = t->deltas < MAX_DELTAS ? t->deltas : MAX_DELTAS;
    t->trend = (double)d * t->slope * GAIN;
    detect(t, send_gap_ms, at_us);
}

enum pl_bwe_usage pl_trendline_packet(pl_trendline *t, int64_t send_us, int64_t arrival_us)
{
    if (!t->cur.valid) {
        start_group(&t->cur, send_us, arrival_us);
        return t->state;
    }
    if (send_us < t->cur.first_send_us)
        return t->state;
    if (in_group(&t->cur, send_us, arrival_us)) {
        if (send_us > t->cur.last_send_us)
            t->cur.last_send_us = send_us;
        if (arrival_us > t->cur.last_arrival_us)
            t->cur.last_arrival_us = arrival_us;
        return t->state;
    }
    /* The packet opens a new group: the one gathered is complete. */
    if (t->prev.valid) {
        int64_t send_gap = t->cur.last_send_us - t->prev.last_send_us;
        int64_t arrival_gap = t->cur.last_arrival_us - t->prev.last_arrival_us;
        if (arrival_gap - send_gap > MAX_VARIATION_US || (arrival_gap < 0 && ++t->reordered >= 3)) {
            uint64_t resets = t->resets + 1;
            pl_trendline_init(t);
            t->resets = resets;
            start_group(&t->cur, send_us, arrival_us);
            return t->state;
        }
        if (arrival_gap < 0) {
            /* Reordered on the path: this group says nothing of a queue. */
            start_group(&t->cur, send_us, arrival_us);
            return t->state;
        }
        t->reordered = 0;
        update(t, (double)(arrival_gap - send_gap) / 1000.0, (double)send_gap / 1000.0,
               t->cur.last_arrival_us);
    }
    t->prev = t->cur;
    start_group(&t->cur, send_us, arrival_us);
    return t->state;
}
