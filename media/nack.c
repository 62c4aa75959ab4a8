#include "parley/nack.h"

#include <string.h>

void pl_nack_gen_init(pl_nack_gen *g, const pl_nack_config *cfg)
{
    memset(g, 0, sizeof(*g));
    g->cfg = (pl_nack_config){
        .reorder_us = 10000, .retry_us = 100000, .max_retries = 5, .max_age_us = 1000000};
    if (cfg) {
        if (cfg->reorder_us >= 0)
            g->cfg.reorder_us = cfg->reorder_us;
        if (cfg->retry_us > 0)
            g->cfg.retry_us = cfg->retry_us;
        if (cfg->max_retries > 0)
            g->cfg.max_retries = cfg->max_retries;
        if (cfg->max_age_us > 0)
            g->cfg.max_age_us = cfg->max_age_us;
    }
}

static void remove_at(pl_nack_gen *g, size_t i)
{
    memmove(&g->missing[i], &g->missing[i + 1], (g->n - i - 1) * sizeof(g->missing[0]));
    g->n--;
}

static void give_up(pl_nack_gen *g, size_t i)
{
    remove_at(g, i);
    g->st.given_up++;
    g->keyframe_needed = true;
}

bool pl_nack_gen_packet(pl_nack_gen *g, uint16_t seq, int64_t now_us)
{
    if (!g->started) {
        g->started = true;
        g->max_seq = seq;
        return false;
    }
    uint16_t ahead = (uint16_t)(seq - g->max_seq);
    if (ahead == 0)
        return false;
    if (ahead < 0x8000) {
        /* Newer than anything seen: everything skipped is missing. */
        if (ahead - 1u > PL_NACK_MAX_MISSING) {
            /* Too big a hole to repair packet by packet. */
            g->st.given_up += g->n + ahead - 1u;
            g->n = 0;
            g->keyframe_needed = true;
        } else {
            for (uint16_t s = (uint16_t)(g->max_seq + 1); s != seq; s++) {
                if (g->n == PL_NACK_MAX_MISSING)
                    give_up(g, 0); /* the oldest goes */
                g->missing[g->n].seq = s;
                g->missing[g->n].missed_at = now_us;
                g->missing[g->n].next_at = now_us + g->cfg.reorder_us;
                g->missing[g->n].sent = 0;
                g->n++;
            }
        }
        g->max_seq = seq;
        return false;
    }
    /* Older: a late or retransmitted packet, maybe one we miss. */
    for (size_t i = 0; i < g->n; i++)
        if (g->missing[i].seq == seq) {
            remove_at(g, i);
            g->st.recovered++;
            return true;
        }
    return false;
}

size_t pl_nack_gen_poll(pl_nack_gen *g, int64_t now_us, uint16_t *out, size_t cap)
{
    size_t n = 0;
    for (size_t i = 0; i < g->n;) {
        if (now_us - g->missing[i].missed_at > g->cfg.max_age_us ||
            g->missing[i].sent >= g->cfg.max_retries) {
            if (now_us >= g->missing[i].next_at) {
                give_up(g, i);
                continue;
            }
            i++;
            continue;
        }
        if (now_us >= g->missing[i].next_at && n < cap) {
            out[n++] = g->missing[i].seq;
            g->missing[i].sent++;
            g->missing[i].next_at = now_us + g->cfg.retry_us;
            g->st.requested++;
        }
        i++;
    }
    return n;
}

int64_t pl_nack_gen_next(const pl_nack_gen *g)
{
    int64_t next = INT64_MAX;
    for (size_t i = 0; i < g->n; i++)
        if (g->missing[i].next_at < next)
            next = g->missing[i].next_at;
    return next;
}

bool pl_nack_gen_take_keyframe_need(pl_nack_gen *g)
{
    bool need = g->keyframe_needed;
    if (need)
        g->st.keyframes_needed++;
    g->keyframe_needed = false;
    return need;
}

void pl_keyframe_limiter_init(pl_keyframe_limiter *k, int64_t interval_us)
{
    memset(k, 0, sizeof(*k));
    k->interval_us = interval_us;
    k->last_us = INT64_MIN;
}

bool pl_keyframe_limiter_request(pl_keyframe_limiter *k, int64_t now_us)
{
    if (k->last_us == INT64_MIN || now_us - k->last_us >= k->interval_us) {
        k->last_us = now_us;
        k->pending = false;
        k->sent++;
        return true;
    }
    if (k->pending)
        k->absorbed++;
    k->pending = true;
    return false;
}

bool pl_keyframe_limiter_poll(pl_keyframe_limiter *k, int64_t now_us)
{
    if (!k->pending || now_us - k->last_us < k->interval_us)
        return false;
    k->pending = false;
    k->last_us = now_us;
    k->sent++;
    return true;
}

int64_t pl_keyframe_limiter_next(const pl_keyframe_limiter *k)
{
    return k->pending ? k->last_us + k->interval_us : INT64_MAX;
}
