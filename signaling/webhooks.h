/* Webhooks (docs/webhooks.md): every event of the signaling core POSTed as
 * JSON to each receiver, signed with HMAC-SHA256, in order, retried with
 * backoff. The signaling thread only queues (pl_webhooks_post never waits
 * for the network); a sender thread per receiver does the HTTP. */
#ifndef PARLEY_WEBHOOKS_H
#define PARLEY_WEBHOOKS_H

#include <stddef.h>
#include <stdint.h>

#include "log.h"
#include "parley/hookq.h"

#define PL_WEBHOOKS_MAX_URLS PL_HOOKQ_MAX_URLS

typedef struct pl_webhooks pl_webhooks;

typedef struct pl_webhooks_config {
    const char *const *urls; /* http:// or https:// */
    size_t n_urls;           /* 1 to PL_WEBHOOKS_MAX_URLS */
    const uint8_t *secret;
    size_t secret_len;
    size_t capacity; /* events queued per receiver */
    pl_log *log;     /* must outlive the webhooks */
} pl_webhooks_config;

/* Starts a sender thread per URL. PL_OK, PL_EINVAL (a URL, a secret,
 * the capacity), PL_ENOMEM. */
int pl_webhooks_create(const pl_webhooks_config *cfg, pl_webhooks **out);
/* Stops the senders (a transfer in progress is aborted); what was still
 * queued is logged as lost. */
void pl_webhooks_destroy(pl_webhooks *w);
/* Queues one event's body for every receiver. Takes each receiver's lock
 * only as long as a copy takes. */
void pl_webhooks_post(pl_webhooks *w, const char *body, size_t len);
/* The counters of every receiver, added up. */
void pl_webhooks_stats_get(pl_webhooks *w, pl_hookq_stats *sum);

#endif
