/* The last packets of one RTP stream by sequence number, for answering
 * NACKs. Slots (a fixed number, allocated once) index the packets by
 * sequence number, the newest evicting the one `slots` behind it; their
 * bytes live in a ring sized by the stream's rate, so that it holds about
 * PL_PKTCACHE_KEEP_US of it (at least 16 KB, at most PL_PKTCACHE_MAX_BYTES,
 * growing as the rate does). A lookup finds a packet only while its slot
 * still holds that exact sequence number and its bytes were not written
 * over. */
#ifndef PARLEY_PKTCACHE_H
#define PARLEY_PKTCACHE_H

#include <stddef.h>
#include <stdint.h>

#include "parley/common.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Largest packet kept; larger ones are not cached (counted). */
#define PL_PKTCACHE_MAX_PACKET 1280
/* What the ring holds at the stream's rate, and its largest size. */
#define PL_PKTCACHE_KEEP_US 1000000
#define PL_PKTCACHE_MAX_BYTES (2u << 20)

typedef struct pl_pktcache pl_pktcache;

typedef struct pl_pktcache_stats {
    uint64_t stored, hits, misses, too_big;
    uint64_t grown; /* times the ring grew with the rate */
} pl_pktcache_stats;

/* slots: a power of two (rounded up), at least 16. */
pl_pktcache *pl_pktcache_create(const pl_env *env, size_t slots);
void pl_pktcache_destroy(const pl_env *env, pl_pktcache *c);
size_t pl_pktcache_slots(const pl_pktcache *c);
/* The ring's size now. */
size_t pl_pktcache_bytes(const pl_pktcache *c);

/* Stores a copy of a packet that arrived at now_us (for the rate). Returns
 * PL_EINVAL when the packet is too big to keep, PL_EREPLAY when this
 * sequence number is already held (a duplicate). */
int pl_pktcache_put(pl_pktcache *c, uint16_t seq, const uint8_t *pkt, size_t len, int64_t now_us);
/* The packet with this sequence number, or NULL (never stored, evicted). */
const uint8_t *pl_pktcache_get(pl_pktcache *c, uint16_t seq, size_t *len);
void pl_pktcache_stats_get(const pl_pktcache *c, pl_pktcache_stats *out);
/* Forgets every packet (the stream's source changed: its sequence numbers
 * start over). */
void pl_pktcache_clear(pl_pktcache *c);

#ifdef __cplusplus
}
#endif
#endif
