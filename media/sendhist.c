#include "parley/sendhist.h"

#include <string.h>

/* The feedback's units: a reference time of 64 ms, 24 bits of it. */
#define REF_US 64000
#define REF_MOD 0x1000000

enum { TOLD_RECEIVED = 1, TOLD_LOST = 2, USED = 4, IN_CLUSTER = 8 };
#define TOLD (TOLD_RECEIVED | TOLD_LOST)

/* 16 bytes, so that a subscriber's ring of 1024 packets is 16 kB, not 32:
 * what a packet in the ring needs is near the newest one sent, and the
 * rest is put back from that. */
typedef struct entry {
    uint32_t seq;     /* the extended number's low 32 bits */
    uint32_t send_lo; /* send time in microseconds modulo 2^32 (71 minutes) */
    uint16_t size;    /* bytes, up to 65535 */
    uint16_t cluster; /* the probe cluster's low 16 bits (IN_CLUSTER) */
    uint8_t state;    /* USED, IN_CLUSTER, and what was told */
} entry;
_Static_assert(sizeof(entry) == 16, "a ring entry is 16 bytes");

struct pl_sendhist {
    pl_env env;
    bool started;
    int64_t highest; /* highest extended number sent */
    bool have_ref;
    int64_t last_ref; /* extended reference time of the last feedback */
    uint64_t in_flight;
    int64_t last_send_us;  /* the newest send time given */
    uint32_t last_cluster; /* the newest probe cluster given */
    pl_sendhist_stats stats;
    size_t cap; /* a power of two */
    entry *ring;
};

static entry *ring_create(const pl_env *env, size_t cap)
{
    entry *ring = pl_env_alloc(env, cap * sizeof(*ring));
    if (ring)
        memset(ring, 0, cap * sizeof(*ring));
    return ring;
}

pl_sendhist *pl_sendhist_create(const pl_env *env)
{
    pl_sendhist *h = pl_env_alloc(env, sizeof(*h));
    if (!h)
        return NULL;
    h->env = *env;
    h->cap = PL_SENDHIST_MIN_CAP;
    h->ring = ring_create(env, h->cap);
    if (!h->ring) {
        pl_env_free(env, h);
        return NULL;
    }
    return h;
}

void pl_sendhist_destroy(pl_sendhist *h)
{
    if (!h)
        return;
    pl_env env = h->env;
    pl_env_free(&env, h->ring);
    pl_env_free(&env, h);
}

static entry *slot(pl_sendhist *h, int64_t seq)
{
    return &h->ring[(uint64_t)seq & (h->cap - 1)];
}

static bool holds(const entry *e, int64_t seq)
{
    return (e->state & USED) && e->seq == (uint32_t)seq;
}

static const entry *find(const pl_sendhist *h, int64_t seq)
{
    if (seq < 0 || !h->started || seq > h->highest)
        return NULL;
    const entry *e = &h->ring[(uint64_t)seq & (h->cap - 1)];
    return holds(e, seq) ? e : NULL;
}

/* What the entry keeps in part, put back against the newest values: its
 * packet was sent at most minutes before the newest one, and in a probe
 * cluster within 32768 of the newest one. */
static int64_t send_us_of(const pl_sendhist *h, const entry *e)
{
    return h->last_send_us - (int64_t)(uint32_t)((uint32_t)h->last_send_us - e->send_lo);
}

static uint32_t cluster_of(const pl_sendhist *h, const entry *e)
{
    if (!(e->state & IN_CLUSTER))
        return 0;
    return h->last_cluster +
           (uint32_t)(int32_t)(int16_t)(uint16_t)(e->cluster - (uint16_t)h->last_cluster);
}

/* Doubles the ring; the packets it holds keep their slots modulo the new
 * size, which cannot meet since they were apart modulo the old. Without
 * memory, the ring stays as it is and forgets sooner. */
static void grow(pl_sendhist *h)
{
    size_t cap = h->cap * 2;
    entry *ring = ring_create(&h->env, cap);
    if (!ring)
        return;
    for (size_t i = 0; i < h->cap; i++)
        if (h->ring[i].state & USED)
            ring[h->ring[i].seq & (cap - 1)] = h->ring[i];
    pl_env_free(&h->env, h->ring);
    h->ring = ring;
    h->cap = cap;
}

/* The nearest extension of a 16-bit number to `ref`. The first numbers
 * start high enough above zero that a number a little before them stays
 * positive. */
static int64_t extend(int64_t ref, uint16_t seq)
{
    return ref + (int16_t)(uint16_t)(seq - (uint16_t)ref);
}

static void forget(pl_sendhist *h, entry *e)
{
    if ((e->state & USED) && !(e->state & TOLD))
        h->in_flight -= e->size;
    e->state = 0;
}

int64_t pl_sendhist_sent(pl_sendhist *h, int64_t now_us, uint16_t seq, size_t size,
                         uint32_t cluster)
{
    int64_t ext = h->started ? extend(h->highest, seq) : (int64_t)seq + 0x10000;
    if (!h->started || ext > h->highest) {
        h->started = true;
        h->highest = ext;
    }
    h->last_send_us = now_us;
    if (cluster)
        h->last_cluster = cluster;
    entry *e = slot(h, ext);
    /* The slot holds a packet so recent that feedback may yet tell of it:
     * the rate outgrew the ring. One older than that, told or not, is
     * let go (a receiver that leaves packets out of its feedback would
     * otherwise keep every ring at its largest). */
    while ((e->state & USED) && !holds(e, ext) && now_us - send_us_of(h, e) < PL_SENDHIST_KEEP_US &&
           h->cap < PL_SENDHIST_CAP) {
        size_t was = h->cap;
        grow(h);
        if (h->cap == was)
            break;
        e = slot(h, ext);
    }
    forget(h, e);
    e->seq = (uint32_t)ext;
    e->send_lo = (uint32_t)now_us;
    e->size = size > UINT16_MAX ? UINT16_MAX : (uint16_t)size;
    e->cluster = (uint16_t)cluster;
    e->state = cluster ? USED | IN_CLUSTER : USED;
    h->in_flight += e->size;
    h->stats.sent++;
    return ext;
}

/* The feedback's reference time in microseconds on the receiver's clock,
 * extended past its 24-bit wrap (about 12 days) around the previous one. */
static int64_t reference_us(pl_sendhist *h, int32_t ref24)
{
    int64_t ref;
    if (!h->have_ref) {
        ref = ref24;
        h->have_ref = true;
    } else {
        int64_t d = ((int64_t)ref24 - h->last_ref) & (REF_MOD - 1);
        if (d >= REF_MOD / 2)
            d -= REF_MOD;
        ref = h->last_ref + d;
    }
    h->last_ref = ref;
    return ref * REF_US;
}

size_t pl_sendhist_feedback(pl_sendhist *h, const pl_rtcp_twcc *fb, pl_sendhist_result *out,
                            size_t cap)
{
    h->stats.feedbacks++;
    size_t n_in = fb->n_packets < PL_RTCP_MAX_TWCC ? fb->n_packets : PL_RTCP_MAX_TWCC;
    if (!h->started) {
        h->stats.unknown += n_in;
        return 0;
    }
    int64_t arrival = reference_us(h, fb->reference_time);
    int64_t base = extend(h->highest, fb->base_seq);
    size_t n = 0;
    for (size_t i = 0; i < n_in; i++) {
        const pl_rtcp_twcc_packet *p = &fb->packets[i];
        /* Deltas run on from the previous received packet, whether or not
         * it is one this history still knows. */
        if (p->received)
            arrival += p->delta_us;
        int64_t seq = base + (int64_t)i;
        entry *e = seq >= 0 && seq <= h->highest ? slot(h, seq) : NULL;
        if (!e || !holds(e, seq)) {
            h->stats.unknown++;
            continue;
        }
        bool late = false;
        if (p->received) {
            if (e->state & TOLD_RECEIVED) {
                h->stats.repeated++;
                continue;
            }
            late = (e->state & TOLD_LOST) != 0;
        } else if (e->state & TOLD) {
            /* Lost once is enough; lost after received is an older
             * feedback arriving after a newer one. */
            h->stats.repeated++;
            continue;
        }
        if (!(e->state & TOLD))
            h->in_flight -= e->size;
        e->state |= p->received ? TOLD_RECEIVED : TOLD_LOST;
        if (p->received)
            h->stats.received++;
        else
            h->stats.lost++;
        if (n == cap)
            continue;
        out[n++] = (pl_sendhist_result){.seq = seq,
                                        .send_us = send_us_of(h, e),
                                        .arrival_us = p->received ? arrival : 0,
                                        .size = e->size,
                                        .cluster = cluster_of(h, e),
                                        .received = p->received,
                                        .late = late};
    }
    return n;
}

int pl_sendhist_lookup(const pl_sendhist *h, int64_t seq, pl_sendhist_result *out)
{
    const entry *e = find(h, seq);
    if (!e)
        return PL_ENOTFOUND;
    memset(out, 0, sizeof(*out));
    out->seq = seq;
    out->send_us = send_us_of(h, e);
    out->size = e->size;
    out->cluster = cluster_of(h, e);
    return PL_OK;
}

uint64_t pl_sendhist_in_flight(const pl_sendhist *h)
{
    return h->in_flight;
}

pl_sendhist_stats pl_sendhist_get_stats(const pl_sendhist *h)
{
    pl_sendhist_stats st = h->stats;
    st.capacity = h->cap;
    return st;
}
