/* Probe clusters: short bursts sent above the estimate, whose rate at the
 * receiver tells what the path can carry. A cluster's send rate is what
 * the sender put in over its span, its receive rate what arrived over the
 * span of arrivals; while the path keeps up they agree, and when it does
 * not, packets queue at the bottleneck and leave it at its rate, which is
 * then the receive rate. */
#include <string.h>

#include "bwe_int.h"

/* A cluster not told about this long after its end is given up (its
 * feedback was lost, or it was not sent). */
#define CLUSTER_TIMEOUT_US 1000000
#define FEEDBACK_WAIT_US 250000
/* A cluster that lost more than a fifth of the packets feedback told of
 * measures nothing. */
#define MIN_RECEIVED_NUM 4
#define MIN_RECEIVED_DEN 5
/* A receive rate this far under the send rate means the path was full
 * during the cluster; a little under what it measured is then its rate. */
#define SATURATED_RATIO 0.9
#define SATURATED_SHARE 0.95
/* No path delivers a cluster this many times faster than it was sent:
 * arrivals squeezed so were stamped late and at once (a receiver short of
 * CPU reading what waited), and measure nothing. Taken as carried, such
 * a cluster behind a 600 kbit/s shaper read 4.5 Mbit/s, and the relay
 * sent a larger layer that overflowed the shaper. */
#define SQUEEZED_RATIO 2.0
/* ... by at least this much: the relay stamps a packet when its worker
 * drains it and sends a batch's packets together after, so a cluster
 * squeezed by less than a busy batch takes may be the relay's doing. */
#define SQUEEZED_MIN_US 20000
/* A cluster that left at under this share of its rate was spread out by
 * the sender's own lateness (a relay short of CPU); arrivals slower still
 * are then as likely a receiver short of it too as a full path. Taken as
 * the path's rate, such a cluster (asked 2.4 Mbit/s, sent at 0.73,
 * received at 0.44) cut a browser whose shaper had just been lifted to
 * 418 kbit/s, and its videos took 27 s to come back to 640x360. */
#define UNDERSENT_SHARE 0.5
/* A cluster's own queue shows in the delay detector's window (20 groups)
 * for about this long after the cluster; the time is counted from the
 * cluster, not from its measure, so that congestion that strikes while a
 * cluster is stuck in a long queue is not taken for the cluster's. */
#define SHADOW_US 400000
/* Jitter and a cluster's span. Each packet's delay varying on its own
 * within +-J, the first and the last arrivals of a cluster are early and
 * late ones, and the span of arrivals is about J longer than the path made
 * it: that much is taken off. A cluster lasts at least BWE_JITTER_SPAN
 * times J, and at most this long. */
#define JITTER_EXCESS_FACTOR 1.0
#define MAX_CLUSTER_US 250000
/* A shaper lets a burst through at once (a token bucket's depth), so a
 * cluster whose excess over the path's rate fits in that burst arrives
 * as it was sent. Behind a 600 kbit/s tbf with a 2 KB bucket, 5 KB
 * clusters sent at 820 and 860 kbit/s read as carried; the relay took
 * the rate, sent a larger layer, and lost a third of its packets. Above
 * a rate where congestion struck, a cluster lasts until it has sent this
 * much more than that rate would have: twice such a bucket, but no more
 * than the path takes PAST_CAPACITY_QUEUE_US to carry (the queue the
 * cluster builds, if the rate still holds). */
#define PAST_CAPACITY_EXCESS_BYTES 4000
#define PAST_CAPACITY_QUEUE_US 60000

void bwe_prober_init(bwe_prober *p)
{
    memset(p, 0, sizeof(*p));
    p->next_id = 1;
    p->last_probe_us = INT64_MIN;
    p->busy_until_us = INT64_MIN;
    p->shadow_until_us = INT64_MIN;
}

void bwe_prober_queue(bwe_prober *p, uint64_t bps, bool request)
{
    for (size_t i = 0; i < BWE_PENDING; i++) {
        bool last = i + 1 == BWE_PENDING || !p->pending[i + 1];
        if (!p->pending[i] || (request && p->requested && last)) {
            /* A caller's request waiting its turn is replaced by the next. */
            p->pending[i] = bps;
            p->requested = request;
            return;
        }
    }
}

bool bwe_prober_idle(const bwe_prober *p)
{
    if (p->pending[0])
        return false;
    for (size_t i = 0; i < BWE_CLUSTERS; i++)
        if (p->clusters[i].id)
            return false;
    return true;
}

static bwe_cluster *find(bwe_prober *p, uint32_t id)
{
    if (!id)
        return NULL;
    for (size_t i = 0; i < BWE_CLUSTERS; i++)
        if (p->clusters[i].id == id)
            return &p->clusters[i];
    return NULL;
}

bool bwe_prober_poll(bwe_prober *p, int64_t now_us, pl_bwe_probe *out)
{
    if (!p->pending[0] || now_us < p->busy_until_us)
        return false;
    bwe_cluster *c = NULL;
    for (size_t i = 0; i < BWE_CLUSTERS && !c; i++)
        if (!p->clusters[i].id)
            c = &p->clusters[i];
    if (!c)
        return false; /* all still being measured */
    uint64_t bps = p->pending[0];
    memmove(p->pending, p->pending + 1, sizeof(p->pending) - sizeof(p->pending[0]));
    p->pending[BWE_PENDING - 1] = 0;
    if (!p->pending[0])
        p->requested = false;
    memset(c, 0, sizeof(*c));
    c->id = p->next_id++;
    if (!p->next_id)
        p->next_id = 1;
    /* On a jittery path a short cluster measures the jitter, not the
     * rate: it lasts long enough that the jitter is a small part of it. */
    int64_t at_least_us = (int64_t)(BWE_JITTER_SPAN * p->jitter_us);
    if (at_least_us < PL_BWE_PROBE_US)
        at_least_us = PL_BWE_PROBE_US;
    if (p->capacity_bps && bps > p->capacity_bps) {
        double excess = (double)p->capacity_bps * PAST_CAPACITY_QUEUE_US / 8e6;
        if (excess > PAST_CAPACITY_EXCESS_BYTES)
            excess = PAST_CAPACITY_EXCESS_BYTES;
        /* The excess grows at the difference of the two rates. */
        double us = excess * 8e6 / (double)(bps - p->capacity_bps);
        if (us > (double)MAX_CLUSTER_US)
            us = MAX_CLUSTER_US;
        if (us > (double)at_least_us)
            at_least_us = (int64_t)us;
    }
    if (at_least_us > MAX_CLUSTER_US)
        at_least_us = MAX_CLUSTER_US;
    uint64_t bytes = bps * (uint64_t)at_least_us / 8000000u;
    if (bytes < PL_BWE_PROBE_MIN_BYTES)
        bytes = PL_BWE_PROBE_MIN_BYTES;
    int64_t duration = (int64_t)(bytes * 8000000u / bps);
    c->bps = bps;
    c->started_us = now_us;
    c->duration_us = duration;
    p->busy_until_us = now_us + duration;
    p->shadow_until_us = p->busy_until_us + SHADOW_US;
    p->last_probe_us = now_us;
    p->sent++;
    *out = (pl_bwe_probe){.id = c->id,
                          .bps = bps,
                          .duration_us = duration,
                          .bytes = bytes,
                          .min_packets = PL_BWE_PROBE_PACKETS};
    return true;
}

void bwe_prober_sent(bwe_prober *p, uint32_t id, int64_t now_us, size_t size)
{
    bwe_cluster *c = find(p, id);
    if (!c)
        return;
    if (!c->sent_n)
        c->first_send_us = now_us;
    c->sent_n++;
    c->sent_bytes += size;
    c->last_send_us = now_us;
    c->last_send_size = (uint32_t)size;
}

void bwe_prober_result(bwe_prober *p, const pl_sendhist_result *r)
{
    bwe_cluster *c = find(p, r->cluster);
    if (!c)
        return;
    /* A late one was told already, as lost: reordered past a feedback by
     * jitter, it did arrive. Left out, behind 20 ms of jitter a cluster
     * read a fifth lost and measured nothing. */
    if (!r->late)
        c->told_n++;
    if (!r->received)
        return;
    if (!c->recv_n || r->arrival_us < c->first_arrival_us) {
        c->first_arrival_us = r->arrival_us;
        c->first_arrival_size = r->size;
    }
    if (!c->recv_n || r->arrival_us > c->last_arrival_us)
        c->last_arrival_us = r->arrival_us;
    c->recv_n++;
    c->recv_bytes += r->size;
    if (c->n_arrivals < BWE_CLUSTER_ARRIVALS) {
        c->arrival_us[c->n_arrivals] = r->arrival_us;
        c->arrival_size[c->n_arrivals++] = r->size;
    }
}

/* The receive rate over the later half of the cluster's arrivals (0 when
 * too few were kept): a token bucket lets the first part of a cluster
 * through at once, and only after its credit is spent do arrivals come at
 * the path's rate. */
static double tail_rate(bwe_cluster *c, double excess)
{
    uint32_t n = c->n_arrivals;
    if (n < 4 || n != c->recv_n)
        return 0;
    /* Insertion sort by arrival: feedback tells them nearly in order. */
    for (uint32_t i = 1; i < n; i++) {
        int64_t t = c->arrival_us[i];
        uint32_t sz = c->arrival_size[i];
        uint32_t j = i;
        for (; j > 0 && c->arrival_us[j - 1] > t; j--) {
            c->arrival_us[j] = c->arrival_us[j - 1];
            c->arrival_size[j] = c->arrival_size[j - 1];
        }
        c->arrival_us[j] = t;
        c->arrival_size[j] = sz;
    }
    uint32_t from = n / 2;
    int64_t span = c->arrival_us[n - 1] - c->arrival_us[from];
    /* A span the jitter could make up most of measures nothing. */
    if (span <= 0 || (double)span < 2 * excess)
        return 0;
    span -= (int64_t)excess;
    uint64_t bytes = 0;
    for (uint32_t i = from + 1; i < n; i++)
        bytes += c->arrival_size[i];
    return (double)bytes * 8e6 / (double)span;
}

/* The cluster's measure in bit/s, 0 when it has none. The first packet's
 * size does not count towards the receive rate (it arrived at the start of
 * the span), nor the last one's towards the send rate (it left at its
 * end). */
static uint64_t measure(bwe_cluster *c, double jitter_us, bwe_probe_result *seen)
{
    if (c->recv_n < 2 || c->recv_n * MIN_RECEIVED_DEN < c->told_n * MIN_RECEIVED_NUM)
        return 0;
    int64_t send_span = c->last_send_us - c->first_send_us;
    int64_t recv_span = c->last_arrival_us - c->first_arrival_us;
    if (send_span <= 0 || recv_span <= 0 || send_span > CLUSTER_TIMEOUT_US ||
        recv_span > CLUSTER_TIMEOUT_US)
        return 0;
    double send_bps = (double)(c->sent_bytes - c->last_send_size) * 8e6 / (double)send_span;
    double excess = JITTER_EXCESS_FACTOR * jitter_us;
    double span = (double)recv_span - excess;
    if (span < 0.5 * (double)recv_span)
        span = 0.5 * (double)recv_span;
    double recv_bps = (double)(c->recv_bytes - c->first_arrival_size) * 8e6 / span;
    double tail = tail_rate(c, excess);
    if (tail > 0 && tail < recv_bps)
        recv_bps = tail;
    seen->send_bps = (uint64_t)send_bps;
    seen->recv_bps = (uint64_t)recv_bps;
    if (recv_bps > SQUEEZED_RATIO * send_bps && send_span - recv_span >= SQUEEZED_MIN_US)
        return 0;
    if (recv_bps < SATURATED_RATIO * send_bps) {
        if (send_bps < UNDERSENT_SHARE * (double)c->bps)
            return 0;
        seen->saturated = true;
        return (uint64_t)(SATURATED_SHARE * recv_bps);
    }
    return (uint64_t)(recv_bps < send_bps ? recv_bps : send_bps);
}

bool bwe_prober_measuring(const bwe_prober *p, int64_t now_us)
{
    return now_us < p->shadow_until_us;
}

bwe_probe_result bwe_prober_conclude(bwe_prober *p, int64_t now_us)
{
    bwe_probe_result best = {0};
    for (size_t i = 0; i < BWE_CLUSTERS; i++) {
        bwe_cluster *c = &p->clusters[i];
        if (!c->id)
            continue;
        int64_t end = c->started_us + c->duration_us;
        bool told = now_us >= end && c->sent_n && c->told_n >= c->sent_n;
        /* Told lost may yet be told received (reordered past a feedback):
         * a cluster with losses waits as long as one not all told. */
        bool settled = c->recv_n == c->told_n || now_us >= end + p->rtt_us + FEEDBACK_WAIT_US;
        /* Feedback is lost too: what was not told a round trip and a few
         * feedback intervals after the cluster never will be; most of it
         * told is enough to measure. */
        bool mostly = now_us >= end + p->rtt_us + FEEDBACK_WAIT_US && 2 * c->told_n >= c->sent_n;
        if (!(told && settled) && !mostly && now_us < end + CLUSTER_TIMEOUT_US)
            continue;
        bwe_probe_result seen = {.asked = c->bps, .duration_us = c->duration_us};
        seen.bps = c->told_n ? measure(c, p->jitter_us, &seen) : 0;
        p->last_seen = seen;
        p->last_seen_n++;
        if (seen.bps) {
            p->ok++;
            p->last_result_bps = seen.bps;
            if (seen.bps > best.bps)
                best = seen;
        } else {
            p->failed++;
        }
        c->id = 0;
    }
    return best;
}
