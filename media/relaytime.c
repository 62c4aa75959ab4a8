#include "parley/relaytime.h"

#include <stddef.h>

void pl_relaytime_add(pl_relaytime *h, int64_t us)
{
    size_t b = us < 0 ? 0 : (size_t)(us / PL_RELAYTIME_BUCKET_US);
    atomic_fetch_add_explicit(&h->counts[b < PL_RELAYTIME_BUCKETS ? b : PL_RELAYTIME_BUCKETS], 1,
                              memory_order_relaxed);
    atomic_fetch_add_explicit(&h->sum_us, (uint64_t)(us < 0 ? 0 : us), memory_order_relaxed);
}

void pl_relaytime_cumulative(const pl_relaytime *h, const uint32_t *le_us, size_t n, uint64_t *out,
                             uint64_t *samples, uint64_t *sum_us)
{
    uint64_t seen = 0;
    size_t i = 0;
    for (size_t b = 0; b <= PL_RELAYTIME_BUCKETS; b++) {
        /* Bucket b holds [b*10, (b+1)*10) us: within an edge E when
         * (b+1)*10 <= E; the last bucket is open-ended. */
        uint64_t upper = (uint64_t)(b + 1) * PL_RELAYTIME_BUCKET_US;
        while (i < n && (b == PL_RELAYTIME_BUCKETS || upper > le_us[i]))
            out[i++] = seen;
        seen += atomic_load_explicit(&h->counts[b], memory_order_relaxed);
    }
    while (i < n)
        out[i++] = seen;
    *samples = seen;
    *sum_us = atomic_load_explicit(&h->sum_us, memory_order_relaxed);
}

void pl_relaytime_get(const pl_relaytime *h, uint64_t *samples, uint32_t *p50_us, uint32_t *p99_us)
{
    uint64_t total = 0;
    uint32_t counts[PL_RELAYTIME_BUCKETS + 1];
    for (size_t b = 0; b <= PL_RELAYTIME_BUCKETS; b++) {
        counts[b] = atomic_load_explicit(&h->counts[b], memory_order_relaxed);
        total += counts[b];
    }
    *samples = total;
    *p50_us = *p99_us = 0;
    uint64_t seen = 0;
    uint64_t half = (total + 1) / 2, most = total - total / 100;
    for (size_t b = 0; b <= PL_RELAYTIME_BUCKETS && total; b++) {
        uint32_t edge = (uint32_t)((b + 1) * PL_RELAYTIME_BUCKET_US);
        if (seen < half && seen + counts[b] >= half)
            *p50_us = edge;
        if (seen < most && seen + counts[b] >= most)
            *p99_us = edge;
        seen += counts[b];
    }
}
