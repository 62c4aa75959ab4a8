/* A webhook receiver's queue (parley/hookq.h): a ring of event bodies, the
 * head taken out while it is in flight and put back when it failed. */
#include "parley/hookq.h"

#include <string.h>

typedef struct item {
    char *body;
    size_t len;
} item;

struct pl_hookq {
    pl_env env;
    pl_hookq_config cfg;
    item *ring; /* cfg.capacity slots */
    size_t head, count;
    item flight;     /* body NULL: nothing in flight */
    int failures;    /* in a row, for the backoff */
    int64_t next_at; /* no attempt before this */
    pl_hookq_stats st;
};

int pl_hookq_create(const pl_env *env, const pl_hookq_config *cfg, pl_hookq **out)
{
    *out = NULL;
    if (cfg->capacity < 2 || cfg->backoff_min_ms <= 0 || cfg->backoff_max_ms < cfg->backoff_min_ms)
        return PL_EINVAL;
    pl_hookq *q = pl_env_alloc(env, sizeof(*q));
    if (!q)
        return PL_ENOMEM;
    q->env = *env;
    q->cfg = *cfg;
    q->ring = pl_env_alloc(env, cfg->capacity * sizeof(*q->ring));
    if (!q->ring) {
        pl_env_free(env, q);
        return PL_ENOMEM;
    }
    *out = q;
    return PL_OK;
}

void pl_hookq_destroy(pl_hookq *q)
{
    if (!q)
        return;
    for (size_t i = 0; i < q->count; i++)
        pl_env_free(&q->env, q->ring[(q->head + i) % q->cfg.capacity].body);
    pl_env_free(&q->env, q->flight.body);
    pl_env_free(&q->env, q->ring);
    pl_env_free(&q->env, q);
}

static size_t held(const pl_hookq *q)
{
    return q->count + (q->flight.body != NULL);
}

int pl_hookq_push(pl_hookq *q, const char *body, size_t len)
{
    char *copy = pl_env_alloc(&q->env, len + 1);
    if (!copy)
        return PL_ENOMEM;
    memcpy(copy, body, len);
    /* Full: the oldest queued event goes (never the one in flight, which
     * is being sent); a receiver that is far behind gets the recent ones. */
    if (held(q) >= q->cfg.capacity) {
        pl_env_free(&q->env, q->ring[q->head].body);
        q->head = (q->head + 1) % q->cfg.capacity;
        q->count--;
        q->st.dropped++;
    }
    q->ring[(q->head + q->count) % q->cfg.capacity] = (item){copy, len};
    q->count++;
    return PL_OK;
}

const char *pl_hookq_poll(pl_hookq *q, int64_t now_ms, size_t *len)
{
    if (pl_hookq_next_timeout(q, now_ms) != 0)
        return NULL;
    q->flight = q->ring[q->head];
    q->ring[q->head] = (item){NULL, 0};
    q->head = (q->head + 1) % q->cfg.capacity;
    q->count--;
    *len = q->flight.len;
    return q->flight.body;
}

void pl_hookq_done(pl_hookq *q, enum pl_hookq_result r, int64_t now_ms)
{
    if (!q->flight.body)
        return;
    if (r == PL_HOOKQ_FAILED) {
        /* Back to the front: order is kept, and `held` counted it all
         * along, so it fits. */
        q->head = (q->head + q->cfg.capacity - 1) % q->cfg.capacity;
        q->ring[q->head] = q->flight;
        q->count++;
        q->flight = (item){NULL, 0};
        q->st.retried++;
        int64_t delay = q->cfg.backoff_min_ms;
        for (int i = 0; i < q->failures && delay < q->cfg.backoff_max_ms; i++)
            delay *= 2;
        q->failures++;
        q->next_at = now_ms + (delay < q->cfg.backoff_max_ms ? delay : q->cfg.backoff_max_ms);
        return;
    }
    pl_env_free(&q->env, q->flight.body);
    q->flight = (item){NULL, 0};
    if (r == PL_HOOKQ_DELIVERED)
        q->st.delivered++;
    else
        q->st.refused++;
    /* A receiver that answers is up: what waits goes at once. */
    q->failures = 0;
    q->next_at = now_ms;
}

int64_t pl_hookq_next_timeout(const pl_hookq *q, int64_t now_ms)
{
    if (q->flight.body || q->count == 0)
        return -1;
    return q->next_at > now_ms ? q->next_at - now_ms : 0;
}

void pl_hookq_stats_get(const pl_hookq *q, pl_hookq_stats *out)
{
    *out = q->st;
    out->queued = held(q);
}

int pl_hookq_check_url(const char *url, const char **why)
{
    if (strncmp(url, "http://", 7) != 0 && strncmp(url, "https://", 8) != 0) {
        *why = "a webhook URL starts with http:// or https://";
        return PL_EINVAL;
    }
    if (strlen(url) > 2048) {
        *why = "a webhook URL is at most 2048 characters";
        return PL_EINVAL;
    }
    return PL_OK;
}
