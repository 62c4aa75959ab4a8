/* The HTTP of webhooks: one POST, on the sender thread that owns the
 * handle. Nothing else of webhooks touches the network (webhooks.c). */
#ifndef PARLEY_WEBHOOK_HTTP_H
#define PARLEY_WEBHOOK_HTTP_H

#include <stdatomic.h>
#include <stddef.h>

typedef struct wh_http wh_http;

/* Once per process, before any sender thread starts: curl's global init
 * is not thread-safe. 0 or -1. */
int wh_http_global_init(void);
void wh_http_global_cleanup(void);

/* A handle for one receiver (it keeps the connection alive between
 * events). `stop` aborts a transfer in progress when set. NULL: no memory. */
wh_http *wh_http_create(const char *url, const atomic_bool *stop);
void wh_http_destroy(wh_http *h);

/* POSTs `body` as application/json with the signature header value
 * `signature` ("sha256=<hex>"). Returns the HTTP status, or 0 when no
 * answer came (refused, timed out, aborted), with why in `err`. */
int wh_http_post(wh_http *h, const char *body, size_t len, const char *signature, char *err,
                 size_t errcap);

#endif
