#include "parley/pktcache.h"

#include <string.h>

/* The packets' bytes live in one ring whose size follows the stream's
 * rate (PL_PKTCACHE_KEEP_US of it), not in fixed slots of the largest
 * packet: an audio stream's 100-byte packets and a 1 Mbit/s camera's each
 * take what they need. Slots index the ring by sequence number; a slot is
 * valid while its bytes have not been written over, which the absolute
 * write position tells without touching the slot. */

/* The ring starts this small, and grows in steps of it. */
#define RING_STEP (16u * 1024u)
/* The rate is measured over windows of at least this long. */
#define RATE_WINDOW_US 500000

typedef struct slot {
    uint16_t seq;
    uint16_t len; /* 0: empty */
    uint64_t pos; /* where its bytes start, counted since the ring was made */
} slot;

struct pl_pktcache {
    size_t mask;
    pl_pktcache_stats st;
    pl_env env;
    uint8_t *ring;
    size_t cap;
    uint64_t head; /* the next byte's absolute position */
    uint64_t window_bytes;
    int64_t window_start;
    slot slots[];
};

static size_t round_step(uint64_t n)
{
    uint64_t r = (n + RING_STEP - 1) / RING_STEP * RING_STEP;
    if (r > PL_PKTCACHE_MAX_BYTES)
        r = PL_PKTCACHE_MAX_BYTES;
    return (size_t)(r < RING_STEP ? RING_STEP : r);
}

pl_pktcache *pl_pktcache_create(const pl_env *env, size_t slots)
{
    size_t n = 16;
    while (n < slots && n < (1u << 16))
        n <<= 1;
    pl_pktcache *c = pl_env_alloc(env, sizeof(*c) + n * sizeof(slot));
    if (!c)
        return NULL;
    memset(c, 0, sizeof(*c) + n * sizeof(slot));
    c->env = *env;
    c->mask = n - 1;
    c->cap = RING_STEP;
    c->ring = pl_env_alloc(env, c->cap);
    c->window_start = INT64_MIN;
    if (!c->ring) {
        pl_env_free(env, c);
        return NULL;
    }
    return c;
}

void pl_pktcache_destroy(const pl_env *env, pl_pktcache *c)
{
    if (!c)
        return;
    pl_env_free(env, c->ring);
    pl_env_free(env, c);
}

size_t pl_pktcache_slots(const pl_pktcache *c)
{
    return c->mask + 1;
}

size_t pl_pktcache_bytes(const pl_pktcache *c)
{
    return c->cap;
}

static bool held(const pl_pktcache *c, const slot *s)
{
    return s->len && c->head - s->pos <= c->cap;
}

/* A larger ring, with what the old one still holds moved into it in the
 * order it was written. Without memory the old ring stays. */
static void grow(pl_pktcache *c, size_t cap)
{
    uint8_t *ring = pl_env_alloc(&c->env, cap);
    if (!ring)
        return;
    uint64_t oldest = c->head > c->cap ? c->head - c->cap : 0;
    uint64_t head = 0;
    /* Slots in the order of their positions: the oldest first. */
    for (;;) {
        slot *next = NULL;
        for (size_t i = 0; i <= c->mask; i++) {
            slot *s = &c->slots[i];
            if (held(c, s) && s->pos >= oldest && (!next || s->pos < next->pos))
                next = s;
        }
        if (!next)
            break;
        memcpy(ring + head, c->ring + next->pos % c->cap, next->len);
        oldest = next->pos + 1;
        next->pos = head | (UINT64_C(1) << 63); /* moved: skip in this pass */
        head += next->len;
    }
    for (size_t i = 0; i <= c->mask; i++) {
        slot *s = &c->slots[i];
        if (s->pos & (UINT64_C(1) << 63))
            s->pos &= ~(UINT64_C(1) << 63);
        else
            s->len = 0;
    }
    pl_env_free(&c->env, c->ring);
    c->ring = ring;
    c->cap = cap;
    c->head = head;
    c->st.grown++;
}

static void measure(pl_pktcache *c, size_t len, int64_t now_us)
{
    if (c->window_start == INT64_MIN || now_us < c->window_start)
        c->window_start = now_us;
    c->window_bytes += len;
    int64_t span = now_us - c->window_start;
    if (span < RATE_WINDOW_US)
        return;
    uint64_t want = c->window_bytes * (uint64_t)PL_PKTCACHE_KEEP_US / (uint64_t)span;
    c->window_bytes = 0;
    c->window_start = now_us;
    if (want > c->cap && c->cap < PL_PKTCACHE_MAX_BYTES)
        grow(c, round_step(want + want / 4));
}

int pl_pktcache_put(pl_pktcache *c, uint16_t seq, const uint8_t *pkt, size_t len, int64_t now_us)
{
    if (len == 0 || len > PL_PKTCACHE_MAX_PACKET) {
        c->st.too_big++;
        return PL_EINVAL;
    }
    slot *s = &c->slots[seq & c->mask];
    if (s->len && s->seq == seq && held(c, s))
        return PL_EREPLAY;
    measure(c, len, now_us);
    /* Each packet in one piece: one that would wrap starts the ring over. */
    size_t off = (size_t)(c->head % c->cap);
    if (off + len > c->cap)
        c->head += c->cap - off;
    s->seq = seq;
    s->len = (uint16_t)len;
    s->pos = c->head;
    memcpy(c->ring + c->head % c->cap, pkt, len);
    c->head += len;
    c->st.stored++;
    return PL_OK;
}

const uint8_t *pl_pktcache_get(pl_pktcache *c, uint16_t seq, size_t *len)
{
    slot *s = &c->slots[seq & c->mask];
    if (!s->len || s->seq != seq || !held(c, s)) {
        c->st.misses++;
        return NULL;
    }
    c->st.hits++;
    *len = s->len;
    return c->ring + s->pos % c->cap;
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
