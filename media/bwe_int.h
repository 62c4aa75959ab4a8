/* Internal to the estimator (bwe.c): the prober, which schedules probe
 * clusters and measures what the receiver made of them (bwe_probe.c), and
 * the path's jitter (bwe_jitter.c). */
#ifndef PARLEY_BWE_INT_H
#define PARLEY_BWE_INT_H

#include <stdbool.h>
#include <stdint.h>

#include "parley/bwe.h"
#include "parley/sendhist.h"

/* Clusters measured at once, and requests waiting their turn. */
#define BWE_CLUSTERS 4
#define BWE_PENDING 2
/* A cluster lasts at least this many times the path's jitter (J for a
 * random delay of +-J). */
#define BWE_JITTER_SPAN 7.0
/* Arrivals kept per cluster for its measure (its later half). */
#define BWE_CLUSTER_ARRIVALS 64

typedef struct bwe_cluster {
    uint32_t id; /* 0: free slot */
    uint64_t bps;
    int64_t started_us, duration_us;
    /* What was sent in it (from pl_bwe_on_sent). */
    uint32_t sent_n;
    uint64_t sent_bytes;
    int64_t first_send_us, last_send_us;
    uint32_t last_send_size;
    /* What feedback told of it. */
    uint32_t told_n, recv_n;
    uint64_t recv_bytes;
    int64_t first_arrival_us, last_arrival_us;
    uint32_t first_arrival_size;
    /* The first BWE_CLUSTER_ARRIVALS arrivals, as told. */
    int64_t arrival_us[BWE_CLUSTER_ARRIVALS];
    uint32_t arrival_size[BWE_CLUSTER_ARRIVALS];
    uint32_t n_arrivals;
} bwe_cluster;

/* The acknowledged bitrate is measured over this span of arrivals, and not
 * before this much has arrived. */
#define ACKED_WINDOW_US 500000
#define ACKED_MIN_SPAN_US 150000
#define ACKED_MIN_DELIVERED_US 50000
#define ACKED_RING 1024 /* arrivals remembered: 500 ms of 20 Mbit/s at 1200 bytes */

typedef struct acked {
    int64_t arrival_us[ACKED_RING];
    int64_t send_us[ACKED_RING];
    bool probe[ACKED_RING]; /* sent in a probe cluster */
    uint32_t size[ACKED_RING];
    size_t head, n;
    uint64_t bytes;
    int64_t first_us, newest_us;
    int64_t newest_send_us;
    bool started;
} acked;

/* Adds a packet feedback told arrived (`probe`: sent in a probe
 * cluster). */
void bwe_acked_add(acked *a, int64_t arrival_us, int64_t send_us, uint32_t size, bool probe);
/* Bytes over the window, or over what has arrived so far when that is
 * shorter; 0 before there is enough to tell. */
uint64_t bwe_acked_rate(const acked *a);
/* The packets acknowledged over the last span_us of arrivals (probe
 * clusters left out) arrived no more spread out than they were sent. */
bool bwe_acked_kept_pace(const acked *a, int64_t span_us);
/* The rate those packets arrived at over their own arrival span; 0 when
 * it is shorter than ACKED_MIN_DELIVERED_US. */
uint64_t bwe_acked_delivered_rate(const acked *a, int64_t span_us);

/* The queue the newest packet told met: its one-way delay over the
 * least over the last one or two buckets of this length. */
#define BWE_QUEUE_BUCKET_US 10000000

typedef struct bwe_queue {
    int64_t least_cur_us, least_prev_us; /* INT64_MAX: none yet */
    int64_t bucket_at_us;                /* when the current bucket began */
    int64_t newest_us;                   /* the newest packet's queueing delay */
} bwe_queue;

void bwe_queue_init(bwe_queue *q);
/* A packet told as received, in the order feedback tells them. */
void bwe_queue_add(bwe_queue *q, int64_t now_us, int64_t send_us, int64_t arrival_us);
int64_t bwe_queue_newest(const bwe_queue *q);

typedef struct bwe_probe_result {
    uint64_t bps;        /* 0: nothing */
    uint64_t asked;      /* the cluster's rate */
    int64_t duration_us; /* how long the cluster was to last */
    bool saturated;      /* the path could not carry the cluster: bps is its rate */
    /* What the cluster measured: its rate as sent and as received. */
    uint64_t send_bps, recv_bps;
} bwe_probe_result;

typedef struct bwe_prober {
    uint32_t next_id;
    uint64_t pending[BWE_PENDING]; /* rates asked for, oldest first; 0: none */
    bool requested;                /* the last of pending[] is the caller's request */
    int64_t busy_until_us;         /* the cluster handed out last is sent by then */
    int64_t last_probe_us;         /* when the last cluster started; INT64_MIN: never */
    int64_t shadow_until_us;       /* the last cluster's queue may be in view until then */
    bwe_cluster clusters[BWE_CLUSTERS];
    /* The path's jitter (J for a random delay of +-J, us), from the
     * estimator. */
    double jitter_us;
    int64_t rtt_us; /* the path's round trip, from the estimator */
    /* Where the path's congestion struck, from the estimator; 0: not
     * known. A cluster above it lasts longer (bwe_probe.c). */
    uint64_t capacity_bps;
    uint64_t sent, ok, failed;
    uint64_t last_result_bps;
    /* The last cluster concluded, measured or not, and how many were. */
    bwe_probe_result last_seen;
    uint32_t last_seen_n;
} bwe_prober;

void bwe_prober_init(bwe_prober *p);
/* Queues a cluster at bps (dropped when the queue is full); `request`:
 * the caller asked for it, and replaces an earlier request still waiting. */
void bwe_prober_queue(bwe_prober *p, uint64_t bps, bool request);
bool bwe_prober_idle(const bwe_prober *p);
/* The next queued cluster, if the previous one has had its time. */
bool bwe_prober_poll(bwe_prober *p, int64_t now_us, pl_bwe_probe *out);
/* A packet of cluster `id` was sent. */
void bwe_prober_sent(bwe_prober *p, uint32_t id, int64_t now_us, size_t size);
/* A feedback result of a packet in a cluster. */
void bwe_prober_result(bwe_prober *p, const pl_sendhist_result *r);
/* What a concluded cluster measured. */

/* Concludes the clusters whose packets have all been told about (or that
 * waited too long): the best measure one of them made. */
bwe_probe_result bwe_prober_conclude(bwe_prober *p, int64_t now_us);
/* Whether a cluster went out so recently that the delay detector may
 * still have its queue in view. */
bool bwe_prober_measuring(const bwe_prober *p, int64_t now_us);

/* The path's jitter from feedback, of two kinds: packets that overtake
 * each other (a random delay per packet), and a one-way delay that rises
 * from one packet to the next by more than a queue can (a random delay
 * that keeps order: a queue of varying depth, a radio link's retries).
 * The largest of each over the last 1-2 s is its spread, 2J for +-J. */
typedef struct bwe_jitter {
    int64_t window_us; /* send time the current window started at */
    /* The last packet told, for both measures. */
    int64_t prev_seq, prev_arrival_us, prev_send_us;
    /* The largest spread of each kind in this window and the one before. */
    int64_t reorder_cur_us, reorder_prev_us;
    int64_t rise_cur_us, rise_prev_us;
} bwe_jitter;

/* A packet told as received; est_bps is the estimate, the slowest the
 * bottleneck is taken to pass it at. */
void bwe_jitter_add(bwe_jitter *j, const pl_sendhist_result *r, double est_bps);
/* J (us) of the reordering kind: what moves the delay trend without a
 * queue behind it. */
double bwe_jitter_reordering(const bwe_jitter *j);
/* J (us) of either kind, the larger: what stretches a probe's arrivals. */
double bwe_jitter_any(const bwe_jitter *j);

#endif
