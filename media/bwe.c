#include "parley/bwe.h"

#include "bwe_int.h"

#define DEFAULT_RTT_US 100000
/* Overuse cuts the estimate to this share of the acknowledged bitrate. */
#define BETA 0.85
/* Far from congestion the estimate grows by this share a second. */
#define GROWTH_PER_S 0.08
/* Rate updates are spaced by feedback; a longer silence counts as this. */
#define MAX_UPDATE_GAP_US 1000000
/* The estimate stays within this of what is acknowledged (x1.5 + 10k):
 * more was never shown to fit. */
#define ACKED_HEADROOM 1.5
#define ACKED_SLACK_BPS 10000.0
/* Near the last congestion point the estimate grows by about one packet
 * per response time (a round trip and the feedback interval), at least
 * this fast. */
#define RESPONSE_EXTRA_US 100000
#define MIN_ADDITIVE_BPS 4000.0
#define FRAMES_PER_S 30.0
#define PACKET_BITS (1200.0 * 8)
/* The rate where congestion struck, in kbit/s: averaged with this weight,
 * its variance normalised by it and kept within these bounds; an estimate
 * within three deviations of it is near it. */
#define CAPACITY_WEIGHT 0.05
#define CAPACITY_VAR_MIN 0.4
#define CAPACITY_VAR_MAX 2.5
/* Loss: windows of at least this many packets and this long (in 20
 * packets one loss is 5%, and 5% random loss would read as 15% one window
 * in thirteen); thresholds; the pause between two loss cuts beyond a round
 * trip. */
#define LOSS_WINDOW_PACKETS 20
#define LOSS_WINDOW_US 500000
#define LOSS_HIGH 0.10
#define LOSS_SEVERE 0.25
#define LOSS_SMOOTHING 0.3
#define LOSS_LOW 0.02
#define LOSS_CUT_GAP_US 300000
/* Loss that stays when the rate falls is the path's, not the relay's
 * doing: a loss cut after which what arrives fell under this share of
 * what arrived at the cut, while the loss kept this share of what it was,
 * makes that loss the path's own (up to LOSS_INHERENT_MAX: a path losing
 * more is broken, and the relay sends it less). The thresholds then stand
 * above it. */
#define LOSS_RATE_FELL 0.6
#define LOSS_KEPT 0.7
#define LOSS_INHERENT_MAX 0.08
/* Probes: the first at this many times the start rate, the next at twice
 * a result that reached this share of what was asked. A calm link is one
 * without a delay cut this long. */
#define START_PROBE_FACTOR 3
#define START_PROBE_TRIES 5
/* ... over the whole window, and over its newest part too, where a path
 * that just got slower shows first. */
#define RECENT_PACE_US 250000
#define PROBE_FURTHER_SHARE 0.7
#define CALM_US 2000000
/* A saturated probe on a path that does not keep pace cuts the estimate
 * to no less than this share of the acknowledged rate: a little under
 * what arrived, so that a queue the path did build drains. */
#define PROBE_FLOOR_ACKED_SHARE 0.85
/* An acknowledged rate under this share of the estimate is a sender well
 * below it (the estimate came from probes), which a drained queue does
 * not cut. */
#define APP_LIMITED_SHARE 0.75
/* No probe cluster starts while the newest packets told met this much
 * queue. */
#define PROBE_QUEUE_MAX_US 100000

struct pl_bwe {
    pl_env env;
    uint64_t log_id;
    pl_sendhist *hist;
    pl_trendline trend;
    bwe_prober prober;
    uint64_t min_bps, max_bps;
    uint64_t probe_ceiling_bps; /* 0: max_bps */
    double delay_bps, loss_bps;
    uint64_t remb_bps;
    bool have_feedback;
    bool starting;          /* the start-up probes are still finding the path's rate */
    unsigned start_retries; /* start probes sent again, longer, for jitter */
    int64_t rtt_us;
    /* Rate control. */
    enum pl_bwe_rate_state rate_state;
    enum pl_bwe_usage usage;
    int64_t last_update_us, last_decrease_us;
    bool capacity_valid;
    double capacity_kbps, capacity_var;
    /* What the receiver got. */
    acked acked;
    uint64_t acked_bps;
    /* Loss. */
    uint32_t loss_lost, loss_total;
    double loss_fraction, loss_smoothed;
    double loss_inherent;           /* the path's own loss, which no cut lowers */
    double cut_acked_bps, cut_loss; /* at the first of a series of loss cuts */
    int64_t last_loss_update_us, last_loss_cut_us;
    uint64_t feedbacks, overuses, loss_cuts, app_limited_cuts, probes_below_acked;
    int64_t path_since_us; /* the last path change: loss of what left before is not the path's */
    uint64_t path_changes, lost_before_path_change;
    uint64_t drained_overuses;
    bwe_jitter jitter;
    bwe_queue queue;
    double jitter_us; /* J of the random delay that reorders (bwe_jitter_reordering) */
    pl_sendhist_result results[PL_RTCP_MAX_TWCC];
};

static double clamp_bps(const pl_bwe *b, double bps)
{
    if (bps < (double)b->min_bps)
        return (double)b->min_bps;
    if (bps > (double)b->max_bps)
        return (double)b->max_bps;
    return bps;
}

pl_bwe *pl_bwe_create(const pl_env *env, uint64_t start_bps)
{
    pl_bwe *b = pl_env_alloc(env, sizeof(*b));
    if (!b)
        return NULL;
    b->env = *env;
    b->hist = pl_sendhist_create(env);
    bwe_queue_init(&b->queue);
    if (!b->hist) {
        pl_env_free(env, b);
        return NULL;
    }
    b->min_bps = PL_BWE_MIN_BPS;
    b->max_bps = PL_BWE_MAX_BPS;
    b->delay_bps = b->loss_bps = clamp_bps(b, (double)start_bps);
    b->rtt_us = b->prober.rtt_us = DEFAULT_RTT_US;
    b->rate_state = PL_BWE_HOLD;
    b->starting = true;
    b->last_update_us = b->last_decrease_us = INT64_MIN;
    b->last_loss_update_us = b->last_loss_cut_us = INT64_MIN;
    b->path_since_us = INT64_MIN;
    pl_trendline_init(&b->trend);
    bwe_prober_init(&b->prober);
    b->prober.rtt_us = b->rtt_us;
    /* Rate control would take many seconds to find a fast path: ask it. */
    double first = b->delay_bps * START_PROBE_FACTOR;
    if (b->delay_bps < (double)b->max_bps)
        bwe_prober_queue(&b->prober, (uint64_t)clamp_bps(b, first), false);
    return b;
}

void pl_bwe_destroy(pl_bwe *b)
{
    if (!b)
        return;
    pl_sendhist_destroy(b->hist);
    pl_env_free(&b->env, b);
}

int pl_bwe_set_bounds(pl_bwe *b, uint64_t min_bps, uint64_t max_bps)
{
    uint64_t lo = min_bps ? min_bps : PL_BWE_MIN_BPS;
    uint64_t hi = max_bps ? max_bps : PL_BWE_MAX_BPS;
    if (lo > hi)
        return PL_EINVAL;
    b->min_bps = lo;
    b->max_bps = hi;
    b->delay_bps = clamp_bps(b, b->delay_bps);
    b->loss_bps = clamp_bps(b, b->loss_bps);
    return PL_OK;
}

uint64_t pl_bwe_estimate(const pl_bwe *b)
{
    double est = b->delay_bps < b->loss_bps ? b->delay_bps : b->loss_bps;
    if (b->remb_bps) {
        double remb = (double)b->remb_bps;
        /* Without transport-wide feedback the REMB is all there is. */
        if (!b->have_feedback || remb < est)
            est = remb;
    }
    return (uint64_t)clamp_bps(b, est);
}

int64_t pl_bwe_on_sent(pl_bwe *b, int64_t now_us, uint16_t seq, size_t size, uint32_t cluster)
{
    if (cluster)
        bwe_prober_sent(&b->prober, cluster, now_us, size);
    return pl_sendhist_sent(b->hist, now_us, seq, size, cluster);
}

void pl_bwe_on_rtt(pl_bwe *b, int64_t rtt_us)
{
    if (rtt_us > 0)
        b->rtt_us = b->prober.rtt_us = rtt_us;
}

void pl_bwe_on_path_change(pl_bwe *b, int64_t now_us)
{
    b->path_since_us = now_us;
    b->path_changes++;
}

void pl_bwe_on_remb(pl_bwe *b, int64_t now_us, uint64_t bps)
{
    (void)now_us;
    b->remb_bps = bps;
    if (!b->have_feedback)
        b->starting = false; /* REMB is the estimate: nothing to probe for */
}

bool pl_bwe_starting(const pl_bwe *b)
{
    return b->starting;
}

void pl_bwe_request_probe(pl_bwe *b, int64_t now_us, uint64_t bps)
{
    (void)now_us;
    if (bps)
        bwe_prober_queue(&b->prober, (uint64_t)clamp_bps(b, (double)bps), true);
}

void pl_bwe_set_log_id(pl_bwe *b, uint64_t id)
{
    b->log_id = id;
}

void pl_bwe_set_probe_ceiling(pl_bwe *b, uint64_t bps)
{
    b->probe_ceiling_bps = bps;
}

/* The highest a probe of the estimator's own may ask. */
static uint64_t probe_ceiling(const pl_bwe *b)
{
    uint64_t c = b->max_bps;
    if (b->probe_ceiling_bps && b->probe_ceiling_bps < c)
        c = b->probe_ceiling_bps;
    if (b->remb_bps && b->remb_bps < c)
        c = b->remb_bps;
    return c;
}

bool pl_bwe_probe_poll(pl_bwe *b, int64_t now_us, pl_bwe_probe *out)
{
    uint64_t est = pl_bwe_estimate(b);
    bool ceiling = est >= probe_ceiling(b);
    bool calm = b->usage == PL_BWE_NORMAL && b->loss_smoothed < LOSS_LOW + b->loss_inherent &&
                (b->last_decrease_us == INT64_MIN || now_us - b->last_decrease_us >= CALM_US);
    if (b->have_feedback && !ceiling && calm && bwe_prober_idle(&b->prober) &&
        (b->prober.last_probe_us == INT64_MIN ||
         now_us - b->prober.last_probe_us >= PL_BWE_PROBE_INTERVAL_US))
        bwe_prober_queue(&b->prober, (uint64_t)clamp_bps(b, 2.0 * (double)est), false);
    /* Into a queue that is already long, a cluster measures the same
     * rate again and the bottleneck drops what overflows: it waits until
     * the queue drains. Behind a 300 kbit/s shaper that audio alone
     * nearly filled, probes into 200 ms of queue were most of what it
     * dropped. */
    if (bwe_queue_newest(&b->queue) >= PROBE_QUEUE_MAX_US)
        return false;
    b->prober.capacity_bps = b->capacity_valid ? (uint64_t)(b->capacity_kbps * 1000.0) : 0;
    return bwe_prober_poll(&b->prober, now_us, out);
}

/* ---- delay: rate control ---- */

/* Whether bps (kbit/s) is within three deviations of the rate where
 * congestion last struck. */
static bool near_capacity(const pl_bwe *b, double kbps)
{
    double d = kbps - b->capacity_kbps;
    return b->capacity_valid && d * d <= 9.0 * b->capacity_var * b->capacity_kbps;
}

static void capacity_update(pl_bwe *b, double kbps)
{
    if (b->capacity_valid && kbps < b->capacity_kbps && !near_capacity(b, kbps))
        b->capacity_valid = false; /* the path got slower: start over */
    if (!b->capacity_valid) {
        b->capacity_valid = true;
        b->capacity_kbps = kbps;
        b->capacity_var = CAPACITY_VAR_MIN;
        return;
    }
    b->capacity_kbps = (1 - CAPACITY_WEIGHT) * b->capacity_kbps + CAPACITY_WEIGHT * kbps;
    double avg = b->capacity_kbps > 1 ? b->capacity_kbps : 1;
    double d = b->capacity_kbps - kbps;
    b->capacity_var = (1 - CAPACITY_WEIGHT) * b->capacity_var + CAPACITY_WEIGHT * d * d / avg;
    if (b->capacity_var < CAPACITY_VAR_MIN)
        b->capacity_var = CAPACITY_VAR_MIN;
    if (b->capacity_var > CAPACITY_VAR_MAX)
        b->capacity_var = CAPACITY_VAR_MAX;
}

/* The path carried the acknowledged bitrate at the pace it was sent, over
 * the window and lately. */
static bool acked_carried(const pl_bwe *b)
{
    return b->acked_bps && bwe_acked_kept_pace(&b->acked, ACKED_WINDOW_US) &&
           bwe_acked_kept_pace(&b->acked, RECENT_PACE_US);
}

static void decrease(pl_bwe *b, int64_t now_us)
{
    int64_t gap = b->rtt_us < 10000 ? 10000 : b->rtt_us > 200000 ? 200000 : b->rtt_us;
    bool ahead = b->acked_bps && b->delay_bps > 2.0 * (double)b->acked_bps;
    if (b->last_decrease_us != INT64_MIN && now_us - b->last_decrease_us < gap && !ahead)
        return; /* the last cut has not had a round trip to show yet */
    double base = b->acked_bps ? (double)b->acked_bps : b->delay_bps;
    bool carried = acked_carried(b);
    if (!carried) {
        /* A queue spread the latest arrivals out: the rate it let them
         * through at is the path's, whatever gaps the window holds. */
        double delivered = (double)bwe_acked_delivered_rate(&b->acked, RECENT_PACE_US);
        if (delivered > base)
            base = delivered;
    }
    double cut = BETA * base;
    if ((double)b->acked_bps < b->delay_bps && carried) {
        /* Sending below the estimate, and all of it arrived at the pace it
         * left, lately too: the trend saw a burst (a key frame, a probe, the
         * receiver's own scheduling), not a rate above the path's. Cutting
         * to a share of an application-limited rate would take away layers
         * whose absence lowers that rate, and the next burst would cut
         * again; the rate that arrived whole is what the path showed. Nor
         * is it where congestion strikes. Nor a ceiling: the estimate keeps
         * the headroom above it that growth may take (behind 5% loss and
         * +-20 ms, a cut to the rate itself paused a video for seconds,
         * the slightest rise of its rate no longer fitting), but no more
         * than an ordinary cut leaves (behind a 300 kbit/s shaper carrying
         * audio near its rate, 1.5 times that rate overflowed it). */
        double room = ACKED_HEADROOM * base + ACKED_SLACK_BPS;
        double from = BETA * b->delay_bps;
        cut = room < from ? room : from;
        if (cut < base)
            cut = base;
        b->app_limited_cuts++;
    } else if (b->acked_bps) {
        capacity_update(b, base / 1000.0);
    }
    if (cut < b->delay_bps) {
        pl_env_logf(&b->env, PL_LOG_DEBUG,
                    "bwe %llu: delay overuse: %llu -> %llu (acknowledged %llu, from %llu%s, jitter "
                    "%.1f ms, queue %.1f ms)",
                    (unsigned long long)b->log_id, (unsigned long long)b->delay_bps,
                    (unsigned long long)clamp_bps(b, cut), (unsigned long long)b->acked_bps,
                    (unsigned long long)base, carried ? ", carried" : "", b->jitter_us / 1000.0,
                    (double)bwe_queue_newest(&b->queue) / 1000.0);
        b->delay_bps = clamp_bps(b, cut);
    }
    b->last_decrease_us = now_us;
    b->rate_state = PL_BWE_DECREASE;
    b->overuses++;
}

static void increase(pl_bwe *b, double dt_s)
{
    double est = b->delay_bps;
    double kbps = est / 1000.0;
    if (b->capacity_valid && kbps > b->capacity_kbps && !near_capacity(b, kbps))
        b->capacity_valid = false; /* past the old point: the path got faster */
    double next;
    if (near_capacity(b, kbps)) {
        double frame_bits = est / FRAMES_PER_S;
        double packets = (double)(uint64_t)(frame_bits / PACKET_BITS) + 1.0;
        double response_s = (double)(b->rtt_us + RESPONSE_EXTRA_US) / 1e6;
        double per_s = frame_bits / packets / response_s;
        if (per_s < MIN_ADDITIVE_BPS)
            per_s = MIN_ADDITIVE_BPS;
        next = est + per_s * dt_s;
    } else {
        next = est * (1.0 + GROWTH_PER_S * dt_s) + 1000.0 * dt_s;
    }
    if (b->capacity_valid && next > b->capacity_kbps * 1000.0) {
        /* Climbing past the point where congestion struck would only
         * build the queue that detects it again; whether the path now
         * carries more is for a probe to say. */
        double cap = b->capacity_kbps * 1000.0;
        next = cap > est ? cap : est;
    }
    if (b->acked_bps) {
        double limit = ACKED_HEADROOM * (double)b->acked_bps + ACKED_SLACK_BPS;
        if (next > limit)
            next = limit > est ? limit : est;
    }
    b->delay_bps = clamp_bps(b, next);
}

/* A probe's result: true when it set the estimate. */
static bool take_probe(pl_bwe *b, bwe_probe_result probe)
{
    if (probe.saturated) {
        /* The path's rate, measured: where congestion strikes, and a
         * ceiling for now; but never below what the path carried over the
         * last half second, which says more than a cluster of a few
         * packets whose last one a busy receiver stamped late. */
        double rate = (double)probe.bps;
        if (rate < (double)b->acked_bps && acked_carried(b)) {
            rate = (double)b->acked_bps;
            b->probes_below_acked++;
        } else {
            /* Where the path does not keep pace, a cluster can still read
             * far under what arrived around it: a receiver that stalled
             * on its last packets stretches its span. Behind a 600 kbit/s
             * cap, two clusters read 191 and 69 kbit/s while 419 and 455
             * arrived around them, cut a browser on two busy cores to 182
             * and 66 kbit/s and froze its videos. Taking nothing from such
             * a cluster kept a 300 kbit/s path's estimate over its rate
             * (its shaper dropped more); a little under the acknowledged
             * rate is what the path did carry. */
            double floor = PROBE_FLOOR_ACKED_SHARE * (double)b->acked_bps;
            if (rate < floor) {
                rate = floor;
                b->probes_below_acked++;
            }
            capacity_update(b, rate / 1000.0);
        }
        if (rate < b->delay_bps) {
            b->delay_bps = clamp_bps(b, rate);
            b->rate_state = PL_BWE_HOLD;
            return true;
        }
    }
    /* A cluster the path carried at a loss no higher than the part cuts
     * for is a rate the loss allows too. */
    bool loss_ok = b->loss_smoothed <= LOSS_HIGH + b->loss_inherent;
    if (probe.bps > b->delay_bps) {
        /* The path carried more than the estimate: take it, and see
         * whether it carries more still. */
        b->delay_bps = clamp_bps(b, (double)probe.bps);
        if (loss_ok && b->loss_bps < b->delay_bps)
            b->loss_bps = b->delay_bps;
        uint64_t ceiling = probe_ceiling(b);
        if ((double)probe.bps >= PROBE_FURTHER_SHARE * (double)probe.asked && probe.bps < ceiling &&
            probe.asked < ceiling) {
            double next = 2.0 * (double)probe.bps;
            bwe_prober_queue(
                &b->prober, (uint64_t)clamp_bps(b, next < (double)ceiling ? next : (double)ceiling),
                false);
        }
        b->rate_state = PL_BWE_INCREASE;
        return true;
    }
    if (probe.bps && loss_ok && (double)probe.bps > b->loss_bps) {
        b->loss_bps =
            clamp_bps(b, (double)probe.bps < b->delay_bps ? (double)probe.bps : b->delay_bps);
        return true;
    }
    return false;
}

static void rate_update(pl_bwe *b, int64_t now_us, bwe_probe_result probe)
{
    double dt_s = 0;
    if (b->last_update_us != INT64_MIN) {
        int64_t dt = now_us - b->last_update_us;
        dt_s = (double)(dt < 0 ? 0 : dt > MAX_UPDATE_GAP_US ? MAX_UPDATE_GAP_US : dt) / 1e6;
    }
    b->last_update_us = now_us;
    switch (b->usage) {
    case PL_BWE_OVERUSE:
        if (bwe_prober_measuring(&b->prober, now_us)) {
            /* The queue a cluster builds on purpose is not congestion: its
             * measure tells whether the path carried it. That measure,
             * when it comes with the overuse, counts: dropped, a probe
             * that proved the path (behind 5% loss and +-20 ms, every
             * cluster builds such a queue) left the estimate where it was. */
            if (!take_probe(b, probe))
                b->rate_state = PL_BWE_HOLD;
            return;
        }
        if (bwe_queue_newest(&b->queue) < PL_BWE_QUEUE_GONE_US && b->acked_bps &&
            (double)b->acked_bps < APP_LIMITED_SHARE * b->delay_bps) {
            /* The trend rose, but the newest packet told met no queue,
             * and the relay sends well below the estimate: a burst, or a
             * receiver that stamped a run of packets late (a browser
             * short of CPU), and it is over. A cut would only take layers
             * from a path that carries them: on three browsers sharing
             * two cores, such cuts took uncapped subscribers from
             * 3 Mbit/s to 0.2-0.5 and their videos to the small layer,
             * several times a minute. Sending near the estimate, a queue
             * that comes and goes may be the path's capacity showing: that
             * one is cut for, as any. */
            b->drained_overuses++;
            b->rate_state = PL_BWE_HOLD;
            return;
        }
        decrease(b, now_us);
        return;
    case PL_BWE_UNDERUSE:
        /* A queue is draining: let it. */
        b->rate_state = PL_BWE_HOLD;
        return;
    case PL_BWE_NORMAL:
        break;
    }
    if (probe.bps && b->starting && (double)probe.bps < PROBE_FURTHER_SHARE * (double)probe.asked &&
        (double)probe.duration_us < BWE_JITTER_SPAN * b->jitter_us &&
        b->start_retries < START_PROBE_TRIES) {
        /* A start probe sent before the path's jitter was known, too short
         * for it: it measured the jitter more than the path. What it
         * proved is kept, and it is tried again, long enough. */
        b->start_retries++;
        if ((double)probe.bps > b->delay_bps)
            b->delay_bps = b->loss_bps = clamp_bps(b, (double)probe.bps);
        bwe_prober_queue(&b->prober, probe.asked, false);
        b->rate_state = PL_BWE_HOLD;
        return;
    }
    if (take_probe(b, probe))
        return;
    if (b->rate_state != PL_BWE_INCREASE) {
        b->rate_state = PL_BWE_INCREASE;
        return; /* the queue is gone: grow from the next feedback on */
    }
    increase(b, dt_s);
}

/* ---- loss ---- */

/* The path's own loss: what stayed after loss cuts took the rate down
 * (behind 5% random loss, cutting on it took a subscriber to its audio and
 * kept it there, the loss as high as ever); lowered at once when the loss
 * is lower. */
static void inherent_update(pl_bwe *b)
{
    if (b->loss_smoothed < b->loss_inherent)
        b->loss_inherent = b->loss_smoothed;
    if (b->cut_acked_bps > 0 && b->acked_bps &&
        (double)b->acked_bps < LOSS_RATE_FELL * b->cut_acked_bps &&
        b->loss_smoothed >= LOSS_KEPT * b->cut_loss) {
        b->loss_inherent =
            b->loss_smoothed < LOSS_INHERENT_MAX ? b->loss_smoothed : LOSS_INHERENT_MAX;
        b->cut_acked_bps = 0;
    }
}

static void loss_update(pl_bwe *b, int64_t now_us)
{
    if (b->loss_total < LOSS_WINDOW_PACKETS ||
        (b->last_loss_update_us != INT64_MIN && now_us - b->last_loss_update_us < LOSS_WINDOW_US))
        return;
    double p = (double)b->loss_lost / (double)b->loss_total;
    b->loss_fraction = p;
    /* Decided on the loss smoothed over windows: a window of a few dozen
     * packets on a path that loses 5% at random reads over 10% now and
     * then, and each such read would cut for good (the part grows back
     * only under 2%). The first window adds to no loss before it, for the
     * same reason. A severe loss cuts at once. */
    b->loss_smoothed += LOSS_SMOOTHING * (p - b->loss_smoothed);
    b->loss_lost = b->loss_total = 0;
    double dt_s = 0;
    if (b->last_loss_update_us != INT64_MIN) {
        int64_t dt = now_us - b->last_loss_update_us;
        dt_s = (double)(dt < 0 ? 0 : dt > MAX_UPDATE_GAP_US ? MAX_UPDATE_GAP_US : dt) / 1e6;
    }
    b->last_loss_update_us = now_us;
    inherent_update(b);
    if (b->loss_smoothed > LOSS_HIGH + b->loss_inherent || p > LOSS_SEVERE) {
        if (b->last_loss_cut_us != INT64_MIN &&
            now_us - b->last_loss_cut_us < LOSS_CUT_GAP_US + b->rtt_us)
            return;
        double est = b->delay_bps < b->loss_bps ? b->delay_bps : b->loss_bps;
        if (b->cut_acked_bps == 0) {
            b->cut_acked_bps = (double)b->acked_bps;
            b->cut_loss = b->loss_smoothed;
        }
        b->loss_bps = clamp_bps(b, est * (1.0 - p / 2));
        pl_env_logf(&b->env, PL_LOG_DEBUG, "bwe %llu: loss %.1f%% (smoothed %.1f%%): %llu -> %llu",
                    (unsigned long long)b->log_id, 100.0 * p, 100.0 * b->loss_smoothed,
                    (unsigned long long)est, (unsigned long long)b->loss_bps);
        b->last_loss_cut_us = now_us;
        b->loss_cuts++;
    } else if (b->loss_smoothed < LOSS_LOW + b->loss_inherent) {
        /* Grows back, but never stands above the delay-based part: when
         * loss strikes, the cut starts from what was being sent. */
        double grown = b->loss_bps * (1.0 + GROWTH_PER_S * dt_s) + 1000.0 * dt_s;
        b->loss_bps = clamp_bps(b, grown < b->delay_bps ? grown : b->delay_bps);
        b->cut_acked_bps = 0;
    }
}

void pl_bwe_on_feedback(pl_bwe *b, int64_t now_us, const pl_rtcp_twcc *fb)
{
    size_t n = pl_sendhist_feedback(b->hist, fb, b->results, PL_RTCP_MAX_TWCC);
    b->have_feedback = true;
    b->feedbacks++;
    for (size_t i = 0; i < n; i++) {
        const pl_sendhist_result *r = &b->results[i];
        if (r->cluster)
            bwe_prober_result(&b->prober, r);
        /* Sent to the address the transport left: its fate says nothing
         * of the path now. */
        bool before_move = r->send_us < b->path_since_us;
        if (r->late) {
            /* Counted as lost already (reordered past a feedback), but it
             * was not: no loss for the loss-based part. Too old for the
             * delay. */
            if (b->loss_lost && !before_move)
                b->loss_lost--;
            continue;
        }
        if (!r->received && before_move) {
            b->lost_before_path_change++;
            continue;
        }
        b->loss_total++;
        if (!r->received) {
            b->loss_lost++;
            continue;
        }
        bwe_jitter_add(&b->jitter, r, b->delay_bps < b->loss_bps ? b->delay_bps : b->loss_bps);
        bwe_acked_add(&b->acked, r->arrival_us, r->send_us, r->size, r->cluster != 0);
        bwe_queue_add(&b->queue, now_us, r->send_us, r->arrival_us);
        pl_trendline_packet(&b->trend, r->send_us, r->arrival_us);
    }
    /* The jitter as of this feedback: the detector's floor from the
     * reordering kind, the probes' span from either. */
    b->jitter_us = bwe_jitter_reordering(&b->jitter);
    double any = bwe_jitter_any(&b->jitter);
    b->prober.jitter_us = any;
    pl_trendline_set_jitter(&b->trend, b->jitter_us / 1000.0);
    /* The verdict at the end of what the feedback told: an overuse that
     * the later packets no longer show was a burst, not a queue. */
    b->usage = b->trend.state;
    b->acked_bps = bwe_acked_rate(&b->acked);
    uint32_t seen_n = b->prober.last_seen_n;
    bwe_probe_result probe = bwe_prober_conclude(&b->prober, now_us);
    if (b->prober.last_seen_n != seen_n) {
        const bwe_probe_result *s = &b->prober.last_seen;
        pl_env_logf(&b->env, PL_LOG_DEBUG,
                    "bwe %llu: probe asked %llu: sent at %llu, received at %llu: %s %llu (estimate "
                    "%llu, acknowledged %llu)",
                    (unsigned long long)b->log_id, (unsigned long long)s->asked,
                    (unsigned long long)s->send_bps, (unsigned long long)s->recv_bps,
                    !s->bps        ? "no measure"
                    : s->saturated ? "saturated"
                                   : "carried",
                    (unsigned long long)s->bps, (unsigned long long)pl_bwe_estimate(b),
                    (unsigned long long)b->acked_bps);
    }
    rate_update(b, now_us, probe);
    loss_update(b, now_us);
    /* Start-up ends when its chain of probes does (one fell short of what
     * it asked, or the ceiling was reached), or at the first cut. A
     * start probe that measured nothing (sent before the path was up, its
     * feedback lost) is tried again, a few times. */
    if (b->starting && (b->overuses || b->loss_cuts)) {
        b->starting = false;
    } else if (b->starting && bwe_prober_idle(&b->prober)) {
        if (b->prober.ok || b->prober.failed >= START_PROBE_TRIES)
            b->starting = false;
        else
            bwe_prober_queue(&b->prober, (uint64_t)clamp_bps(b, b->delay_bps * START_PROBE_FACTOR),
                             false);
    }
}

pl_bwe_stats pl_bwe_get_stats(const pl_bwe *b)
{
    return (pl_bwe_stats){.estimate_bps = pl_bwe_estimate(b),
                          .delay_bps = (uint64_t)b->delay_bps,
                          .loss_bps = (uint64_t)b->loss_bps,
                          .remb_bps = b->remb_bps,
                          .acked_bps = b->acked_bps,
                          .loss = b->loss_fraction,
                          .loss_inherent = b->loss_inherent,
                          .jitter_ms = b->jitter_us / 1000.0,
                          .trend = b->trend.trend,
                          .threshold = b->trend.threshold,
                          .usage = b->usage,
                          .rate_state = b->rate_state,
                          .rtt_us = b->rtt_us,
                          .feedbacks = b->feedbacks,
                          .overuses = b->overuses,
                          .loss_cuts = b->loss_cuts,
                          .path_changes = b->path_changes,
                          .lost_before_path_change = b->lost_before_path_change,
                          .app_limited_cuts = b->app_limited_cuts,
                          .drained_overuses = b->drained_overuses,
                          .probes_below_acked = b->probes_below_acked,
                          .probes_sent = b->prober.sent,
                          .probes_ok = b->prober.ok,
                          .probes_failed = b->prober.failed,
                          .last_probe_bps = b->prober.last_result_bps,
                          .history = pl_sendhist_get_stats(b->hist)};
}

const char *pl_bwe_usage_name(enum pl_bwe_usage u)
{
    switch (u) {
    case PL_BWE_NORMAL:
        return "normal";
    case PL_BWE_OVERUSE:
        return "overuse";
    case PL_BWE_UNDERUSE:
        return "underuse";
    }
    return "?";
}
