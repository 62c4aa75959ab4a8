#include "rxstats.h"

#include <math.h>
#include <string.h>

static size_t bucket_of(int64_t us)
{
    if (us < 0)
        us = 0;
    if (us < 2000)
        return (size_t)(us / 10);
    if (us < 1000000)
        return 200 + (size_t)((us - 2000) / 1000);
    if (us < 10000000)
        return 1198 + (size_t)((us - 1000000) / 100000);
    return PL_DELAY_BUCKETS - 1;
}

static int64_t bucket_top(size_t b)
{
    if (b < 200)
        return (int64_t)(b + 1) * 10;
    if (b < 1198)
        return 2000 + (int64_t)(b - 199) * 1000;
    if (b < PL_DELAY_BUCKETS - 1)
        return 1000000 + (int64_t)(b - 1197) * 100000;
    return INT64_MAX;
}

void pl_delay_add(pl_delay_hist *h, int64_t us)
{
    h->b[bucket_of(us)]++;
    h->n++;
    if (us > h->max_us)
        h->max_us = us;
}

void pl_delay_merge(pl_delay_hist *into, const pl_delay_hist *from)
{
    for (size_t i = 0; i < PL_DELAY_BUCKETS; i++)
        into->b[i] += from->b[i];
    into->n += from->n;
    if (from->max_us > into->max_us)
        into->max_us = from->max_us;
}

int64_t pl_delay_quantile(const pl_delay_hist *h, double q)
{
    if (h->n == 0)
        return -1;
    /* Nearest rank: the smallest value with at least q of the samples at
     * or below it. */
    double want = ceil(q * (double)h->n - 1e-9);
    uint64_t rank = want < 1 ? 0 : (uint64_t)want - 1;
    if (rank >= h->n)
        rank = h->n - 1;
    uint64_t seen = 0;
    for (size_t i = 0; i < PL_DELAY_BUCKETS; i++) {
        seen += h->b[i];
        if (seen > rank) {
            int64_t top = bucket_top(i);
            return top < h->max_us ? top : h->max_us;
        }
    }
    return h->max_us;
}

void pl_rxstats_init(pl_rxstats *s, uint32_t clock_rate)
{
    memset(s, 0, sizeof(*s));
    s->clock_rate = clock_rate;
}

uint32_t pl_rtp_clock_ts(int64_t now_us, uint32_t clock_rate)
{
    /* Exact in 64 bits for any clock rate up to 2^20 Hz for ~280 years. */
    return (uint32_t)((uint64_t)now_us * clock_rate / 1000000u);
}

uint32_t pl_rxstats_packet(pl_rxstats *s, uint16_t seq, uint32_t ts, size_t bytes, int64_t now_us,
                           bool delay_known)
{
    uint32_t skipped = 0;
    s->packets++;
    s->bytes += bytes;
    s->last_us = now_us;
    if (!s->started) {
        s->started = true;
        s->base_seq = seq;
        s->max_seq = seq;
        s->first_us = now_us;
    } else {
        uint16_t delta = (uint16_t)(seq - s->max_seq);
        if (delta == 0 || delta >= 0x8000) {
            s->duplicates_or_late++; /* a duplicate, or late after reordering */
        } else {
            if (seq < s->max_seq)
                s->cycles += 1u << 16;
            skipped = delta - 1u;
            s->max_seq = seq;
        }
    }
    /* Jitter from transit-time differences, in timestamp units (A.8). */
    int64_t arrival = (int64_t)pl_rtp_clock_ts(now_us, s->clock_rate);
    int64_t transit = (int64_t)(int32_t)((uint32_t)arrival - ts);
    if (s->packets > 1) {
        int64_t d = transit - s->last_transit;
        if (d < 0)
            d = -d;
        s->jitter += ((double)d - s->jitter) / 16.0;
    }
    s->last_transit = transit;
    if (delay_known) {
        int64_t us = transit * 1000000 / (int64_t)s->clock_rate;
        if (us >= 0)
            pl_delay_add(&s->delay, us);
    }
    return skipped;
}

void pl_rxstats_frame(pl_rxstats *s, int64_t now_us)
{
    if (s->frames > 0) {
        int64_t gap = now_us - s->last_frame_us;
        if (gap > PL_FREEZE_US) {
            s->freezes++;
            s->freeze_us += gap;
        }
    }
    s->frames++;
    s->last_frame_us = now_us;
}

uint64_t pl_rxstats_expected(const pl_rxstats *s)
{
    if (!s->started)
        return 0;
    return (uint64_t)s->cycles + s->max_seq - s->base_seq + 1;
}

uint64_t pl_rxstats_lost(const pl_rxstats *s)
{
    uint64_t exp = pl_rxstats_expected(s);
    /* As RFC 3550 A.3 counts it: duplicates offset losses. */
    return exp > s->packets ? exp - s->packets : 0;
}

double pl_rxstats_jitter_ms(const pl_rxstats *s)
{
    return s->clock_rate ? s->jitter * 1000.0 / s->clock_rate : 0;
}
