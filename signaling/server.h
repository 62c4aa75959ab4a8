/* Inside the parley executable: the state its files share (the lws
 * context, the signaling core, the media workers) and what each file
 * offers the others. main.c starts and stops; ws.c is the WebSocket and
 * HTTP callback; workers.c is the media workers' side of the core;
 * stats_page.c answers /stats; clock.c tells the core the time. */
#ifndef PARLEY_SERVER_H
#define PARLEY_SERVER_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include <libwebsockets.h>

#include "options.h"
#include "parley/auth.h"
#include "parley/signal.h"
#include "parley/store.h"
#include "parley/tlscert.h"
#include "parley/turn.h"
#include "parley/worker.h"

#define MAX_WORKERS 64

struct session;
struct event_node;

typedef struct server {
    options opt;
    pl_env env;
    pl_sig *sig;
    pl_store *store;
    pl_auth *auth;
    pl_turn *turn; /* NULL without --turn-url */
    uint64_t refused_per_ip, cut_slow;
    pl_dtls_cert *cert;
    pl_worker *workers[MAX_WORKERS];
    int n_workers;
    /* Worker events, handed to the signaling thread (lws_cancel_service). */
    pthread_mutex_t ev_lock;
    struct event_node *ev_head, *ev_tail;
    bool ev_closed;
    char announce[64];
    struct lws_context *ctx;
    struct session *sessions;
    uint64_t next_id;
    /* Signals counted by their thread, acted on by the loop (lifecycle.c). */
    pthread_t signal_thread;
    atomic_int terms; /* SIGTERM and SIGINT */
    atomic_bool hup;
    bool draining;
    int64_t drain_deadline_ms;
    SSL_CTX *tls_ctx; /* the listener's, for a reload of --tls-cert */
    char index_path[4096];
    pl_tls_cert tls;             /* --tls-self-signed: handed to lws in memory */
    lws_sorted_usec_list_t tick; /* once a second: expire detached sessions */
} server;

/* clock.c: both of the core's clocks, now. */
pl_sig_time srv_now(void);

/* ws.c: how the core reaches WebSocket connections, and the protocol and
 * keepalive of the lws context. */
pl_sig_io srv_ws_io(server *srv);
void srv_ws_configure(struct lws_context_creation_info *info);

/* workers.c: one worker per core (or --workers), the core's media layer on
 * top of them, and their events handed to the core on the lws thread. */
int srv_workers_start(server *srv);
pl_sig_media srv_workers_media(server *srv);
void srv_workers_drain_events(server *srv);
void srv_workers_stop(server *srv);

/* reload.c: the secrets (auth, TURN) read at start, said on stderr when
 * they cannot be (1); on SIGHUP, those and the TLS certificate read again,
 * each kept as it was when its file is bad (said, -1). */
int srv_load_secrets(server *srv);
int srv_reload(server *srv);

/* lifecycle.c: SIGINT, SIGTERM and SIGHUP blocked in every thread (before
 * any starts) and taken by a thread of their own; the loop calls
 * srv_lifecycle_step after each service round: false when the server is
 * to stop. */
void srv_signals_block(void);
int srv_signals_start(server *srv);
void srv_signals_stop(server *srv);
bool srv_lifecycle_step(server *srv);

/* stats_page.c: GET /stats. */
int srv_serve_stats(struct lws *wsi, server *srv);

#endif
