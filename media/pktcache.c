#include "parley/pktcache.h"

#include <string.h>

typedef struct slot {
    uint16_t seq;
    uint16_t len; /* 0: empty */
    uint8_t data[PL_PKTCACHE_MAX_PACKET];
} slot;

struct pl_pktcache {
    size_t mask;
    pl_pktcache_stats st;
    slot slots[];
};

pl_pktcache *pl_pktcache_create(const pl_env *env, size_t slots)
{
    size_t n = 16;
    while (n < slots && n < (1u << 16))
        n <<= 1;
    pl_pktcache *c = pl_env_alloc(env, sizeof(*c) + n * sizeof(slot));
    if (!c)
        return NULL;
    c->mask = n - 1;
    return c;
}

void pl_pktcache_destroy(const pl_env *env, pl_pktcache *c)
{
    pl_env_free(env, c);
}

size_t pl_pktcache_slots(const pl_pktcache *c)
{
    return c->mask + 1;
}

int pl_pktcache_put(pl_pktcache *c, uint16_t seq, const uint8_t *pkt, size_t len)
{
    if (len == 0 || len > PL_PKTCACHE_MAX_PACKET) {
        c->st.too_big++;
        return PL_EINVAL;
    }
    slot *s = &c->slots[seq & c->mask];
    if (s->len && s->seq == seq)
        return PL_EREPLAY;
    s->seq = seq;
    s->len = (uint16_t)len;
    memcpy(s->data, pkt, len);
    c->st.stored++;
    return PL_OK;
}

const uint8_t *pl_pktcache_get(pl_pktcache *c, uint16_t seq, size_t *len)
{
    slot *s = &c->slots[seq & c->mask];
    if (!s->len || s->seq != seq) {
        c->st.misses++;
        return NULL;
    }
    c->st.hits++;
    *len = s->len;
    return s->data;
}

void pl_pktcache_stats_get(const pl_pktcache *c, pl_pktcache_stats *out)
{
    *out = c->st;
}

void pl_pktcache_clear(pl_pktcache *c)
{
    for (size_t i = 0; i <= c->mask; i++)
        c->slots[i].len = 0;
}
