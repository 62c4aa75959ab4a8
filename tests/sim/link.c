#include "link.h"

#include <stdlib.h>
#include <string.h>

void link_init(link *l, uint64_t seed, uint64_t rate_bps, int64_t delay_us)
{
    memset(l, 0, sizeof(*l));
    l->rng = seed ? seed : 1;
    l->rate_bps = rate_bps;
    l->delay_us = delay_us;
    l->queue.p = calloc(LINK_CAP, sizeof(link_packet));
    l->wire.p = calloc(LINK_CAP, sizeof(link_packet));
}

void link_free(link *l)
{
    free(l->queue.p);
    free(l->wire.p);
    l->queue.p = l->wire.p = NULL;
}

static double rand01(link *l)
{
    l->rng ^= l->rng >> 12;
    l->rng ^= l->rng << 25;
    l->rng ^= l->rng >> 27;
    return (double)((l->rng * 0x2545F4914F6CDD1DULL) >> 11) / 9007199254740992.0;
}

static int64_t ceil_us(double t)
{
    int64_t i = (int64_t)t;
    return (double)i < t ? i + 1 : i;
}

static link_packet *ring_at(link_ring *r, size_t i)
{
    return &r->p[(r->head + i) % LINK_CAP];
}

static link_packet *ring_push(link_ring *r)
{
    if (r->n == LINK_CAP)
        return NULL;
    return ring_at(r, r->n++);
}

static void ring_pop(link_ring *r)
{
    r->head = (r->head + 1) % LINK_CAP;
    r->n--;
}

/* What a datagram takes of the link: its bytes and the headers the
 * simulation does not write. */
static size_t cost(const link *l, size_t len)
{
    return len + l->overhead;
}

/* Serves the queue up to now: every packet whose last bit has left by then
 * goes on the wire (or is lost there). */
static void advance(link *l, int64_t now)
{
    while (l->queue.n) {
        double finish = l->clock_us + l->head_bits_left * 1e6 / (double)l->rate_bps;
        if (finish > (double)now) {
            l->head_bits_left -= ((double)now - l->clock_us) * (double)l->rate_bps / 1e6;
            l->clock_us = (double)now;
            return;
        }
        link_packet *p = ring_at(&l->queue, 0);
        l->clock_us = finish;
        l->queued_bytes -= cost(l, p->len);
        if (rand01(l) < l->loss) {
            l->dropped_loss++;
        } else {
            link_packet *w = ring_push(&l->wire);
            if (w) {
                *w = *p;
                w->deliver_at = ceil_us(finish) + l->delay_us;
                if (l->jitter_us > 0) {
                    /* Each packet its own delay: a later one may overtake
                     * an earlier one, unless order is kept. */
                    int64_t j = (int64_t)((rand01(l) * 2 - 1) * (double)l->jitter_us);
                    int64_t at = w->deliver_at + j;
                    w->deliver_at = at > ceil_us(finish) ? at : ceil_us(finish);
                    if (l->jitter_keeps_order && l->wire.n > 1) {
                        const link_packet *prev = ring_at(&l->wire, l->wire.n - 2);
                        if (w->deliver_at < prev->deliver_at)
                            w->deliver_at = prev->deliver_at;
                    }
                    for (size_t i = l->wire.n - 1; i > 0; i--) {
                        link_packet *a = ring_at(&l->wire, i - 1), *b = ring_at(&l->wire, i);
                        if (a->deliver_at <= b->deliver_at)
                            break;
                        link_packet t = *a;
                        *a = *b;
                        *b = t;
                    }
                }
            }
        }
        ring_pop(&l->queue);
        if (!l->queue.n)
            l->idle_since_us = finish;
        if (l->queue.n) {
            link_packet *next = ring_at(&l->queue, 0);
            next->queue_us = (int64_t)(finish - (double)next->enter_us);
            l->head_bits_left = (double)cost(l, next->len) * 8;
        }
    }
    l->clock_us = (double)now;
}

void link_set_burst(link *l, size_t bytes)
{
    l->burst_bits = l->tokens_bits = (double)bytes * 8;
}

void link_set_rate(link *l, int64_t now, uint64_t rate_bps)
{
    advance(l, now);
    l->rate_bps = rate_bps;
}

int64_t link_queue_delay(link *l, int64_t now)
{
    advance(l, now);
    if (!l->queue.n)
        return 0;
    double bits =
        l->head_bits_left + (double)(l->queued_bytes - cost(l, ring_at(&l->queue, 0)->len)) * 8;
    return (int64_t)(bits * 1e6 / (double)l->rate_bps);
}

int link_send(link *l, int64_t now, const uint8_t *data, size_t len)
{
    l->sent++;
    int64_t wait = link_queue_delay(l, now);
    if (len > LINK_MTU || l->queue.n == LINK_CAP ||
        (l->max_queue_bytes && l->queued_bytes + cost(l, len) > l->max_queue_bytes) ||
        (l->max_queue_us && wait > l->max_queue_us)) {
        l->dropped_queue++;
        return -1;
    }
    link_packet *p = ring_push(&l->queue);
    p->enter_us = now;
    p->queue_us = 0;
    p->len = len;
    memcpy(p->data, data, len);
    l->queued_bytes += cost(l, len);
    if (l->queue.n == 1) {
        l->head_bits_left = (double)cost(l, len) * 8;
        l->clock_us = (double)now;
        if (l->burst_bits > 0) {
            /* Credit saved while idle sends (part of) it at once. */
            double t =
                l->tokens_bits + ((double)now - l->idle_since_us) * (double)l->rate_bps / 1e6;
            t = t < l->burst_bits ? t : l->burst_bits;
            double used = t < l->head_bits_left ? t : l->head_bits_left;
            l->head_bits_left -= used;
            l->tokens_bits = t - used;
            l->idle_since_us = (double)now;
        }
    }
    return 0;
}

int64_t link_next(const link *l)
{
    int64_t next = INT64_MAX;
    if (l->wire.n)
        next = l->wire.p[l->wire.head].deliver_at;
    if (l->queue.n) {
        double finish = l->clock_us + l->head_bits_left * 1e6 / (double)l->rate_bps;
        int64_t t = ceil_us(finish);
        if (t < next)
            next = t;
    }
    return next;
}

int link_pop(link *l, int64_t now, link_packet *out)
{
    advance(l, now);
    if (!l->wire.n || l->wire.p[l->wire.head].deliver_at > now)
        return 0;
    *out = l->wire.p[l->wire.head];
    ring_pop(&l->wire);
    l->delivered++;
    l->delivered_bytes += out->len;
    return 1;
}
