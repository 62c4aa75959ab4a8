/* The path's jitter as the estimator sees it in transport-wide feedback
 * (bwe_int.h). */
#include "bwe_int.h"

/* The windows a spread is the largest of, and the largest spread believed
 * (more is a receiver's clock jump). */
#define WINDOW_US 1000000
#define MAX_US 200000

static int64_t capped(int64_t us)
{
    return us > MAX_US ? MAX_US : us;
}

void bwe_jitter_add(bwe_jitter *j, const pl_sendhist_result *r, double est_bps)
{
    if (r->send_us - j->window_us >= WINDOW_US) {
        j->reorder_prev_us = j->reorder_cur_us;
        j->rise_prev_us = j->rise_cur_us;
        j->reorder_cur_us = j->rise_cur_us = 0;
        j->window_us = r->send_us;
    }
    if (j->prev_seq && r->seq == j->prev_seq + 1) {
        /* A queue serves packets in the order they came, however it fills
         * and drains, so a packet that arrived before one sent ahead of it
         * was held back less by the path's random delay: by at least the
         * send gap plus the arrival gap it gained. A path that reorders
         * nothing has none of this, whatever its queue does. */
        if (r->arrival_us < j->prev_arrival_us) {
            int64_t spread =
                capped((j->prev_arrival_us - r->arrival_us) + (r->send_us - j->prev_send_us));
            if (spread > j->reorder_cur_us)
                j->reorder_cur_us = spread;
        }
        /* A queue alone raises the one-way delay from one packet to the
         * next by at most the time the later one takes to pass the
         * bottleneck (at the estimate, or faster); a rise beyond that is
         * random delay. Probe packets are left out: their own queue is
         * the thing measured. */
        if (!r->cluster) {
            int64_t pass_us = (int64_t)((double)r->size * 8e6 / (est_bps > 1 ? est_bps : 1));
            int64_t rise = capped((r->arrival_us - r->send_us) -
                                  (j->prev_arrival_us - j->prev_send_us) - pass_us);
            if (rise > j->rise_cur_us)
                j->rise_cur_us = rise;
        }
    }
    j->prev_seq = r->seq;
    j->prev_arrival_us = r->arrival_us;
    j->prev_send_us = r->send_us;
}

double bwe_jitter_reordering(const bwe_jitter *j)
{
    int64_t s = j->reorder_cur_us > j->reorder_prev_us ? j->reorder_cur_us : j->reorder_prev_us;
    return (double)s / 2;
}

double bwe_jitter_any(const bwe_jitter *j)
{
    int64_t s = j->rise_cur_us > j->rise_prev_us ? j->rise_cur_us : j->rise_prev_us;
    double rise = (double)s / 2, reorder = bwe_jitter_reordering(j);
    return rise > reorder ? rise : reorder;
}
