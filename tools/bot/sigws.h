/* A small WebSocket client for JSON signaling, on one libwebsockets client
 * context: connections that ask for one subprotocol, JSON queued out,
 * whole text messages in as JSON objects, and word when a connection ends.
 * The bot's signaling adapters (sig_parley.c, sig_janus.c) share it so that
 * each keeps only its protocol.
 *
 * A connection object outlives its WebSocket: it can open again after a
 * loss (what a resuming protocol needs), keeping what was queued meanwhile.
 *
 * Threading: everything happens on the thread that runs the loop, except
 * pl_sigws_stop, which any thread may call. */
#ifndef PARLEY_BOT_SIGWS_H
#define PARLEY_BOT_SIGWS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

typedef struct pl_sigws pl_sigws;           /* the context and its loop */
typedef struct pl_sigws_conn pl_sigws_conn; /* one client connection */

typedef struct pl_sigws_config {
    const char *url;      /* ws://host:port/path */
    const char *protocol; /* the subprotocol every connection asks for */
    size_t rx_max;        /* a longer message is dropped whole */
    int tick_ms;          /* <= 0: 10 */
    void *user;
    /* Every tick_ms on the loop thread, with `user`; optional. */
    void (*tick)(void *user);
    /* The rest are per connection, with the user given to
     * pl_sigws_conn_create; all but `timer` are required. */
    void (*established)(void *conn_user);
    /* One whole text message that parses as a JSON object (borrowed);
     * anything else is dropped, as is everything once the connection is
     * closing. */
    void (*message)(void *conn_user, json_t *msg);
    /* The timer set with pl_sigws_conn_timer is due; optional. */
    void (*timer)(void *conn_user);
    /* The WebSocket failed (could not connect, or broke) with lws's reason,
     * or closed. Either way it is gone and the queue emptied; the handler
     * may destroy the connection or open it again. Not called for a failure
     * inside pl_sigws_conn_open, which returns it instead. */
    void (*failed)(void *conn_user, const char *why);
    void (*closed)(void *conn_user);
} pl_sigws_config;

/* PL_EINVAL for a url that is not ws://host:port/path. */
int pl_sigws_create(const pl_sigws_config *cfg, pl_sigws **out);
/* Destroys the context, and with it any WebSocket still there. */
void pl_sigws_destroy(pl_sigws *s);
/* Runs the event loop until pl_sigws_stop; 0, or PL_ESTATE when lws
 * fails. Each stop ends one run, so a caller may run again. */
int pl_sigws_run(pl_sigws *s);
void pl_sigws_stop(pl_sigws *s);

/* A connection, not open yet; NULL when out of memory. */
pl_sigws_conn *pl_sigws_conn_create(pl_sigws *s, void *user);
/* Where the next pl_sigws_conn_open goes (a ws:// URL), instead of the
 * context's: PL_OK, or PL_EINVAL (nothing changed). */
int pl_sigws_conn_set_url(pl_sigws_conn *c, const char *url);
/* Frees the connection and its queue; its WebSocket must be gone (after
 * `failed` or `closed`, or never opened). */
void pl_sigws_conn_destroy(pl_sigws_conn *c);
/* Starts connecting; `established` follows. PL_ESTATE when the attempt
 * failed at once. */
int pl_sigws_conn_open(pl_sigws_conn *c);
/* Whether a WebSocket exists (connecting or open). */
bool pl_sigws_conn_live(const pl_sigws_conn *c);
/* Queues msg (taken, NULL tolerated) as one text message; it goes out once
 * the WebSocket is open. */
void pl_sigws_conn_send(pl_sigws_conn *c, json_t *msg);
/* Closes normally once the queue is flushed. Messages arriving meanwhile
 * are dropped: after a goodbye, what the server still had in flight is of
 * no use (answering an offer now would only earn a conflict). */
void pl_sigws_conn_close(pl_sigws_conn *c);
bool pl_sigws_conn_closing(const pl_sigws_conn *c);
/* Breaks the connection without a close handshake, as when a network
 * drops: the server sees it lost; `closed` (or `failed`) follows. */
void pl_sigws_conn_cut(pl_sigws_conn *c);
/* `timer` once, after usec, while the WebSocket lasts. */
void pl_sigws_conn_timer(pl_sigws_conn *c, int64_t usec);

/* A member of a JSON object as a string, "" when absent or not one. */
const char *pl_sigws_str(json_t *o, const char *key);

#endif
