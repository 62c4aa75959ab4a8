#include "parley/twcc.h"

#include <stddef.h>
#include <string.h>

/* The feedback's units: deltas of 250 us, a reference time of 64 ms. */
#define TICK_US 250
#define REF_TICKS 256

struct pl_twcc_rx {
    pl_env env;
    bool started;
    int64_t base;    /* extended number of the first packet not yet reported (or to report again) */
    int64_t highest; /* highest extended number received; base - 1 when none waits */
    int64_t arrival[PL_TWCC_WINDOW]; /* in ticks; -1: not received */
    int64_t next_due;
    uint8_t fb_count;
};

pl_twcc_rx *pl_twcc_rx_create(const pl_env *env)
{
    pl_twcc_rx *rx = pl_env_alloc(env, sizeof(*rx));
    if (!rx)
        return NULL;
    rx->env = *env;
    rx->next_due = INT64_MAX;
    return rx;
}

void pl_twcc_rx_destroy(pl_twcc_rx *rx)
{
    if (rx)
        pl_env_free(&rx->env, rx);
}

static int64_t *slot(pl_twcc_rx *rx, int64_t ext)
{
    return &rx->arrival[(uint64_t)ext % PL_TWCC_WINDOW];
}

static void restart(pl_twcc_rx *rx, int64_t ext)
{
    for (size_t i = 0; i < PL_TWCC_WINDOW; i++)
        rx->arrival[i] = -1;
    rx->base = ext;
    rx->highest = ext - 1;
}

void pl_twcc_rx_packet(pl_twcc_rx *rx, uint16_t seq, int64_t arrival_us)
{
    /* Extend the number around the highest one seen (or the base). */
    int64_t ref = rx->started ? (rx->highest >= rx->base ? rx->highest : rx->base) : seq;
    int64_t ext = ref + (int16_t)(uint16_t)(seq - (uint16_t)ref);
    if (!rx->started) {
        rx->started = true;
        restart(rx, ext);
    }
    if (ext < rx->base) {
        /* Reported as lost already: it was reordered, not lost. The next
         * feedback starts from it again (as browsers do), so the sender
         * learns it arrived; the ones after it are told again too, and
         * their senders ignore what they were told before. Unless it is
         * so old that the window no longer holds what followed it. */
        if (ext <= rx->highest - PL_TWCC_WINDOW || *slot(rx, ext) >= 0)
            return;
        rx->base = ext;
    }
    if (ext >= rx->base + PL_TWCC_WINDOW) {
        /* Far ahead: what was not reported is given up. */
        restart(rx, ext);
    }
    int64_t *a = slot(rx, ext);
    if (ext > rx->highest) {
        for (int64_t k = rx->highest + 1; k < ext; k++)
            *slot(rx, k) = -1;
        rx->highest = ext;
        *a = -1;
    }
    if (*a < 0)
        *a = (arrival_us + TICK_US / 2) / TICK_US;
    if (rx->next_due == INT64_MAX)
        rx->next_due = arrival_us + PL_TWCC_INTERVAL_US;
}

int64_t pl_twcc_rx_next(const pl_twcc_rx *rx)
{
    return rx->next_due;
}

static int64_t floor_div(int64_t a, int64_t b)
{
    return a >= 0 ? a / b : -((-a + b - 1) / b);
}

bool pl_twcc_rx_feedback(pl_twcc_rx *rx, int64_t now_us, uint32_t sender_ssrc, uint32_t media_ssrc,
                         pl_rtcp_twcc *out)
{
    (void)now_us;
    rx->next_due = INT64_MAX;
    if (!rx->started || rx->highest < rx->base)
        return false;
    /* The reference time: the first arrival reported, in 64 ms units. */
    int64_t first = -1;
    for (int64_t k = rx->base; k <= rx->highest && first < 0; k++)
        first = *slot(rx, k);
    if (first < 0)
        return false; /* only losses so far: wait for an arrival */
    int64_t ref = floor_div(first, REF_TICKS);
    memset(out, 0, offsetof(pl_rtcp_twcc, packets));
    out->sender_ssrc = sender_ssrc;
    out->media_ssrc = media_ssrc;
    out->base_seq = (uint16_t)rx->base;
    out->reference_time = (int32_t)(ref & 0xffffff);
    if (out->reference_time & 0x800000)
        out->reference_time -= 0x1000000;
    out->fb_count = rx->fb_count++;
    int64_t prev = ref * REF_TICKS;
    int64_t k = rx->base;
    size_t n = 0;
    for (; k <= rx->highest && n < PL_TWCC_MAX_PER_FEEDBACK; k++) {
        int64_t a = *slot(rx, k);
        pl_rtcp_twcc_packet *p = &out->packets[n];
        p->seq = (uint16_t)k;
        p->received = a >= 0;
        if (p->received) {
            int64_t d = a - prev;
            if (d < INT16_MIN || d > INT16_MAX)
                break; /* too far from the previous: the next feedback starts here */
            p->delta_us = d * TICK_US;
            prev = a;
        }
        n++;
    }
    out->n_packets = n;
    rx->base = k;
    if (rx->highest >= rx->base)
        rx->next_due = now_us; /* the rest at once */
    return n > 0;
}
