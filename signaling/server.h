/* Inside the parley executable: the state its files share (the lws
 * context, the signaling core, the media workers) and what each file
 * offers the others. main.c starts and stops; ws.c is the WebSocket and
 * HTTP callback; workers.c is the media workers' side of the core;
 * admin_http.c is the admin listener, which serves stats_page.c's /stats,
 * metrics_page.c's /metrics and the admin API; clock.c tells the core the
 * time. */
#ifndef PARLEY_SERVER_H
#define PARLEY_SERVER_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include <libwebsockets.h>

#include "log.h"
#include "options.h"
#include "parley/auth.h"
#include "parley/recfiles.h"
#include "parley/recquota.h"
#include "parley/signal.h"
#include "parley/store.h"
#include "parley/tlscert.h"
#include "parley/turn.h"
#include "parley/worker.h"
#include "webhooks.h"

#define MAX_WORKERS 64

struct session;
struct event_node;
typedef struct srv_recordings srv_recordings;
typedef struct srv_rec_play srv_rec_play;
typedef struct srv_reclive srv_reclive;
typedef struct srv_cluster srv_cluster;

typedef struct server {
    options opt;
    pl_env env;
    pl_sig *sig;
    pl_store *store;
    pl_auth *auth;
    pl_turn *turn; /* NULL without --turn-url */
    pl_log *log;
    pl_webhooks *webhooks; /* NULL without --webhook-url */
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
    /* The admin listener: its port once listening, and the SHA-256 of its
     * token when there is one. */
    int admin_port;
    bool admin_token;
    unsigned char admin_token_sha256[32];
    srv_recordings *recordings; /* recordings.c */
    srv_reclive *reclive;       /* reclive.c */
    struct srv_bus *bus;        /* bus.c: with --redis, this node's cluster */
    srv_cluster *cluster;       /* cluster.c; NULL without --redis */
} server;

/* main.c: with --redis, what other nodes published, handed to the core. */
void srv_bus_deliver(server *srv);

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
/* The worker that owns a room. */
pl_worker *srv_worker_for(server *srv, const char *room);
void srv_workers_drain_events(server *srv);
void srv_workers_stop(server *srv);

size_t srv_ws_count(const server *srv); /* open WebSocket connections */

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

/* stats_page.c: GET /stats, and every worker's counters added up. */
int srv_serve_stats(struct lws *wsi, server *srv);
void srv_worker_totals(const server *srv, pl_worker_stats *out);

/* metrics_page.c: GET /metrics (Prometheus text format). */
int srv_serve_metrics(struct lws *wsi, server *srv);

/* admin_http.c: the admin listener (docs/admin.md). The token is read
 * before anything listens (1: said why on stderr); the vhost is added to
 * the running context with the public one's TLS settings. */
int srv_admin_load_token(server *srv);
int srv_admin_start(server *srv, const struct lws_context_creation_info *public_info);
/* One whole HTTP response. */
int srv_http_respond(struct lws *wsi, unsigned status, const char *type, const char *body,
                     size_t len);

/* recordings.c: stored recordings (docs/recording.md). Start opens
 * <data-dir>/recordings, recovers what the last run left and sweeps once
 * (1: said why), then sweeps on a thread of its own every hour and when
 * poked (a recording finished or deleted). */
int srv_recordings_start(server *srv);
void srv_recordings_stop(server *srv);
void srv_recordings_poke(server *srv);
/* The loop's pl_recfiles and the quota's limits, for starting recordings. */
pl_recfiles *srv_recordings_files(server *srv);
const pl_rec_limits *srv_recordings_limits(server *srv);

/* reclive.c: rooms being recorded (docs/recording.md): the core's
 * record_* media calls, each recording's thread and the workers' taps.
 * Drain runs on the loop when woken (a recording failed or finished);
 * stop finishes every recording, waiting for its files. */
int srv_reclive_start(server *srv);
void srv_reclive_media(server *srv, pl_sig_media *media);
void srv_reclive_drain(server *srv);
void srv_reclive_stop(server *srv);
typedef struct srv_live_stats {
    uint64_t active; /* being recorded now */
    uint64_t started_meetings, started_messages;
    /* Packets the workers handed the recordings; dropped for a full queue
     * or from no participant's transport; left out (screen shares, other
     * simulcast layers); frames and bytes written; keyframes asked for. */
    uint64_t packets, dropped_queue_full, dropped_unknown, not_recorded;
    uint64_t frames, bytes, keyframe_requests;
} srv_live_stats;
void srv_reclive_stats(server *srv, srv_live_stats *out);
typedef struct srv_rec_stats {
    uint64_t count, bytes; /* on disk at the last sweep */
    uint64_t sweeps;
    uint64_t deleted_expired, deleted_server_full, deleted_admin;
    uint64_t played, played_partial; /* playback answered 200, 206 (HEAD too) */
    uint64_t refused_not_found, refused_unauthorized, refused_forbidden, refused_range;
} srv_rec_stats;
void srv_recordings_stats(server *srv, srv_rec_stats *out);
/* The admin API: GET /rooms/{room}/recordings answered whole; a deletion
 * (0, PL_ENOTFOUND for an id that is not one or not on disk). */
int srv_recordings_admin_list(struct lws *wsi, server *srv, const char *room);
int srv_recordings_admin_delete(server *srv, const char *id);
/* Playback on the public port, GET or HEAD /recordings/<id>/<file>:
 * answers at once (refusals, HEAD, 416) or starts streaming into *play,
 * which srv_recordings_write continues on each HTTP_WRITEABLE and which
 * srv_recordings_play_end releases (the connection closed). lws's
 * convention: -1 closes the connection. */
int srv_recordings_serve(struct lws *wsi, server *srv, srv_rec_play **play);
int srv_recordings_write(struct lws *wsi, server *srv, srv_rec_play **play);
void srv_recordings_play_end(server *srv, srv_rec_play **play);

/* cluster.c: a node of a cluster coordinated through Redis
 * (docs/cluster.md), with --redis. Start (after the core exists) starts
 * the cluster thread and sets the core's placement (1: said why); tick,
 * once a second on the loop, hands the thread this node's load; event
 * takes the core's room events (the rooms whose claims are renewed). */
int srv_cluster_start(server *srv);
void srv_cluster_stop(server *srv);
void srv_cluster_tick(server *srv);
void srv_cluster_event(server *srv, const pl_sig_event *ev);
typedef struct srv_cluster_stats_t {
    bool enabled, connected; /* connected: the last refresh reached Redis */
    char node_id[40];
    char url[256];
    size_t nodes; /* live nodes in the last snapshot, this one included */
    uint64_t refreshes, refresh_failures;
} srv_cluster_stats_t;
void srv_cluster_stats(server *srv, srv_cluster_stats_t *out);

#endif
