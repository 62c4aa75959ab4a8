/* How long forwarded packets spend in the relay (the kernel's receive
 * timestamp to the send that carries each copy), as a histogram of 10 us
 * buckets up to 20 ms. One thread adds, any thread reads: the counts are
 * relaxed atomics, so reading never stops the worker. */
#ifndef PARLEY_RELAYTIME_H
#define PARLEY_RELAYTIME_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define PL_RELAYTIME_BUCKET_US 10
#define PL_RELAYTIME_BUCKETS 2000 /* the last one more counts 20 ms and over */

typedef struct pl_relaytime {
    _Atomic uint32_t counts[PL_RELAYTIME_BUCKETS + 1];
    _Atomic uint64_t sum_us; /* of every sample, for a mean (Prometheus `_sum`) */
} pl_relaytime;

void pl_relaytime_add(pl_relaytime *h, int64_t us);
/* The number of samples and the 50th and 99th percentiles, each given as
 * the upper edge of its bucket (the percentile is at most this); 0 without
 * samples. */
void pl_relaytime_get(const pl_relaytime *h, uint64_t *samples, uint32_t *p50_us, uint32_t *p99_us);

/* Cumulative counts for a histogram with upper edges `le_us` (ascending,
 * each a multiple of PL_RELAYTIME_BUCKET_US): out[i] counts the samples at
 * most le_us[i]; then every sample and their sum. A sample of 20 ms or
 * more counts only in the total. */
void pl_relaytime_cumulative(const pl_relaytime *h, const uint32_t *le_us, size_t n, uint64_t *out,
                             uint64_t *samples, uint64_t *sum_us);

#ifdef __cplusplus
}
#endif
#endif
