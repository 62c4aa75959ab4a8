/* A webhook receiver's queue: what to deliver next and when, in order,
 * retried with exponential backoff, bounded (when it overflows the oldest
 * event goes and is counted). Sans-IO: time is an argument and the caller
 * does the HTTP (docs/webhooks.md), so the policy is tested on a virtual
 * clock. Not thread-safe: the caller locks. */
#ifndef PARLEY_HOOKQ_H
#define PARLEY_HOOKQ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "parley/common.h"

#ifdef __cplusplus
extern "C" {
#endif

#define PL_HOOKQ_DEFAULT_CAPACITY 1000
/* Receivers a server may have. */
#define PL_HOOKQ_MAX_URLS 4
#define PL_HOOKQ_BACKOFF_MIN_MS 500
#define PL_HOOKQ_BACKOFF_MAX_MS 30000

typedef struct pl_hookq pl_hookq;

typedef struct pl_hookq_config {
    size_t capacity;        /* events held, the one in flight included; at least 2 */
    int64_t backoff_min_ms; /* the first retry's delay, doubled for each failure after it */
    int64_t backoff_max_ms; /* ... up to this */
} pl_hookq_config;

/* How a delivery went. A receiver that refuses an event (a 4xx other than
 * 408 and 429) would refuse it again: it is dropped, not retried. */
enum pl_hookq_result { PL_HOOKQ_DELIVERED, PL_HOOKQ_FAILED, PL_HOOKQ_REFUSED };

typedef struct pl_hookq_stats {
    uint64_t delivered;
    uint64_t retried; /* failed attempts, each followed by a retry */
    uint64_t dropped; /* the oldest, pushed out by an overflow */
    uint64_t refused; /* dropped because the receiver refused them */
    size_t queued;    /* now, the one in flight included */
} pl_hookq_stats;

/* PL_EINVAL for a capacity under 2 or a backoff that is not positive and
 * growing. */
/* Whether `url` may be a receiver's: http:// or https://, at most 2048
 * characters. PL_OK, or PL_EINVAL with why. */
int pl_hookq_check_url(const char *url, const char **why);

int pl_hookq_create(const pl_env *env, const pl_hookq_config *cfg, pl_hookq **out);
void pl_hookq_destroy(pl_hookq *q);

/* Queues a copy of `body`; PL_OK or PL_ENOMEM. */
int pl_hookq_push(pl_hookq *q, const char *body, size_t len);
/* The event to send at `now_ms` (it is then in flight until
 * pl_hookq_done), or NULL: none queued, one already in flight, or backing
 * off. The pointer is valid until pl_hookq_done. */
const char *pl_hookq_poll(pl_hookq *q, int64_t now_ms, size_t *len);
/* The outcome of the delivery that pl_hookq_poll handed out. */
void pl_hookq_done(pl_hookq *q, enum pl_hookq_result r, int64_t now_ms);
/* Milliseconds from `now_ms` until pl_hookq_poll has an event (0: now), or
 * -1: nothing queued, or one in flight. */
int64_t pl_hookq_next_timeout(const pl_hookq *q, int64_t now_ms);
void pl_hookq_stats_get(const pl_hookq *q, pl_hookq_stats *out);

#ifdef __cplusplus
}
#endif
#endif
