/* The last packets of one RTP stream by sequence number, for answering
 * NACKs: a fixed ring of slots allocated once, the newest packet evicting
 * the one PL_PKTCACHE slots behind it. A lookup finds a packet only while
 * its slot still holds that exact sequence number. */
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

typedef struct pl_pktcache pl_pktcache;

typedef struct pl_pktcache_stats {
    uint64_t stored, hits, misses, too_big;
} pl_pktcache_stats;

/* slots: a power of two (rounded up), at least 16. */
pl_pktcache *pl_pktcache_create(const pl_env *env, size_t slots);
void pl_pktcache_destroy(const pl_env *env, pl_pktcache *c);
size_t pl_pktcache_slots(const pl_pktcache *c);

/* Stores a copy. Returns PL_EINVAL when the packet is too big to keep,
 * PL_EREPLAY when this sequence number is already held (a duplicate). */
int pl_pktcache_put(pl_pktcache *c, uint16_t seq, const uint8_t *pkt, size_t len);
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
