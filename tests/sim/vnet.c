#include "vnet.h"

#include <stdlib.h>
#include <string.h>

void vnet_init(vnet *n, uint64_t seed)
{
    memset(n, 0, sizeof(*n));
    n->rng = seed ? seed : 1;
    n->q = calloc(VNET_CAP, sizeof(vnet_packet));
}

void vnet_free(vnet *n)
{
    free(n->q);
    n->q = NULL;
}

double vnet_rand(vnet *n)
{
    n->rng ^= n->rng >> 12;
    n->rng ^= n->rng << 25;
    n->rng ^= n->rng >> 27;
    return (double)((n->rng * 0x2545F4914F6CDD1DULL) >> 11) / 9007199254740992.0;
}

static int enqueue(vnet *n, int64_t now, const pl_addr *from, const pl_addr *to,
                   const uint8_t *data, size_t len)
{
    if (n->count == VNET_CAP || len > VNET_MTU) {
        n->dropped++;
        return -1;
    }
    vnet_packet *p = &n->q[n->count++];
    p->deliver_at = now + n->delay_us + (int64_t)(vnet_rand(n) * (double)n->jitter_us);
    p->order = n->next_order++;
    p->from = *from;
    p->to = *to;
    p->len = len;
    memcpy(p->data, data, len);
    return 0;
}

int vnet_send(vnet *n, int64_t now, const pl_addr *from, const pl_addr *to, const uint8_t *data,
              size_t len)
{
    n->sent++;
    if (vnet_rand(n) < n->loss) {
        n->dropped++;
        return 0;
    }
    if (enqueue(n, now, from, to, data, len) < 0)
        return -1;
    if (n->duplicate > 0 && vnet_rand(n) < n->duplicate)
        enqueue(n, now, from, to, data, len);
    return 0;
}

static size_t earliest(const vnet *n)
{
    size_t best = 0;
    for (size_t i = 1; i < n->count; i++) {
        const vnet_packet *a = &n->q[i], *b = &n->q[best];
        if (a->deliver_at < b->deliver_at ||
            (a->deliver_at == b->deliver_at && a->order < b->order))
            best = i;
    }
    return best;
}

int64_t vnet_next(const vnet *n)
{
    return n->count ? n->q[earliest(n)].deliver_at : INT64_MAX;
}

int vnet_pop(vnet *n, int64_t now, vnet_packet *out)
{
    if (!n->count)
        return 0;
    size_t i = earliest(n);
    if (n->q[i].deliver_at > now)
        return 0;
    memcpy(out, &n->q[i], sizeof(*out));
    n->q[i] = n->q[--n->count];
    n->delivered++;
    return 1;
}
