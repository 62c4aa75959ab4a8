/* Loss repair as a receiver and as a relay, sans-IO (time is a parameter):
 *
 * - pl_nack_gen: remembers the sequence numbers missing from one incoming
 *   RTP stream and says when to ask for them (RFC 4585 generic NACK):
 *   after a short reordering allowance, then again every retry interval,
 *   a bounded number of times, until they arrive or grow too old.
 * - pl_keyframe_limiter: at most one keyframe request per interval for one
 *   publisher's track, however many subscribers ask; a request inside the
 *   interval is not lost but sent when the interval ends.
 *
 * Both are fixed-size and allocate nothing after creation. */
#ifndef PARLEY_NACK_H
#define PARLEY_NACK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Sequence numbers tracked at once; a gap beyond it is given up (a keyframe
 * is the cheaper repair). */
#define PL_NACK_MAX_MISSING 256

typedef struct pl_nack_config {
    int64_t reorder_us;   /* wait this long before the first request (default 10 ms) */
    int64_t retry_us;     /* between requests for the same packet (default 100 ms) */
    unsigned max_retries; /* requests per packet (default 5) */
    int64_t max_age_us;   /* give a packet up after this long (default 1 s) */
} pl_nack_config;

typedef struct pl_nack_stats {
    uint64_t requested; /* sequence numbers put in NACKs, retries included */
    uint64_t recovered; /* missing packets that arrived later */
    uint64_t given_up;  /* missing packets abandoned (age, retries, overflow) */
    uint64_t keyframes_needed;
} pl_nack_stats;

typedef struct pl_nack_gen {
    pl_nack_config cfg;
    bool started;
    uint16_t max_seq;
    size_t n;
    struct {
        uint16_t seq;
        int64_t missed_at, next_at;
        unsigned sent;
    } missing[PL_NACK_MAX_MISSING];
    bool keyframe_needed;
    pl_nack_stats st;
} pl_nack_gen;

/* cfg may be NULL for the defaults. */
void pl_nack_gen_init(pl_nack_gen *g, const pl_nack_config *cfg);
/* A packet arrived (original or retransmission). Returns true when it was
 * one of the missing ones. */
bool pl_nack_gen_packet(pl_nack_gen *g, uint16_t seq, int64_t now_us);
/* The sequence numbers to request now (ascending from the oldest), at most
 * cap; each counts as one more request. */
size_t pl_nack_gen_poll(pl_nack_gen *g, int64_t now_us, uint16_t *out, size_t cap);
/* When pl_nack_gen_poll next has something to say, or INT64_MAX. */
int64_t pl_nack_gen_next(const pl_nack_gen *g);
/* True once after losses were given up: the receiver should ask for a
 * keyframe instead. */
bool pl_nack_gen_take_keyframe_need(pl_nack_gen *g);

typedef struct pl_keyframe_limiter {
    int64_t interval_us;
    int64_t last_us; /* when the last request went out; INT64_MIN for never */
    bool pending;
    uint64_t sent, absorbed; /* requests sent / merged into another */
} pl_keyframe_limiter;

void pl_keyframe_limiter_init(pl_keyframe_limiter *k, int64_t interval_us);
/* Someone wants a keyframe: true when the request should go out now;
 * otherwise it is pending until pl_keyframe_limiter_poll says so. */
bool pl_keyframe_limiter_request(pl_keyframe_limiter *k, int64_t now_us);
/* True when a pending request is due now (and counts it as sent). */
bool pl_keyframe_limiter_poll(pl_keyframe_limiter *k, int64_t now_us);
/* When a pending request becomes due, or INT64_MAX. */
int64_t pl_keyframe_limiter_next(const pl_keyframe_limiter *k);

#ifdef __cplusplus
}
#endif
#endif
