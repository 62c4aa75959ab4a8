/* The media workers as the signaling core sees them: rooms pinned to a
 * worker by name, the core's media commands carried to the right one, and
 * worker events queued from the worker threads and handed to the core on
 * the lws thread. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "server.h"

typedef struct event_node {
    struct event_node *next;
    pl_worker_event ev;
} event_node;

/* Rooms are pinned to a worker by a hash of their name, so every transport
 * of a room shares one worker and forwarding never crosses threads. */
pl_worker *srv_worker_for(server *srv, const char *room)
{
    uint32_t h = 2166136261u; /* FNV-1a */
    for (const char *p = room; *p; p++)
        h = (h ^ (uint8_t)*p) * 16777619u;
    return srv->workers[h % (uint32_t)srv->n_workers];
}

static int media_add(void *user, const char *room, uint64_t id, const char *lu, const char *lp,
                     const char *ru, const char *rp, const char *alg, const char *fp,
                     uint16_t *port)
{
    pl_worker *w = srv_worker_for(user, room);
    *port = pl_worker_port(w);
    return pl_worker_add_transport(w, id, lu, lp, ru, rp, alg, fp);
}

static int media_restart_ice(void *user, const char *room, uint64_t id, const char *lu,
                             const char *lp, const char *ru, const char *rp)
{
    return pl_worker_restart_ice(srv_worker_for(user, room), id, lu, lp, ru, rp);
}

static void media_remove(void *user, const char *room, uint64_t id)
{
    pl_worker_remove_transport(srv_worker_for(user, room), id);
}

static uint16_t media_port_for(void *user, const char *room)
{
    return pl_worker_port(srv_worker_for(user, room));
}

static void media_set_tracks(void *user, const char *room, uint64_t id, const pl_track *tracks,
                             size_t n)
{
    pl_worker_set_tracks(srv_worker_for(user, room), id, tracks, n);
}

static void media_set_routes(void *user, const char *room, uint64_t id, const pl_route *routes,
                             size_t n)
{
    pl_worker_set_routes(srv_worker_for(user, room), id, routes, n);
}

/* Runs on a worker thread: queue the event and wake the lws loop, which
 * hands it to the signaling core (srv_workers_drain_events). */
static void on_worker_event(void *user, const pl_worker_event *ev)
{
    server *srv = user;
    event_node *n = malloc(sizeof(*n));
    if (!n)
        return;
    n->next = NULL;
    n->ev = *ev;
    pthread_mutex_lock(&srv->ev_lock);
    if (srv->ev_closed) {
        pthread_mutex_unlock(&srv->ev_lock);
        free(n);
        return;
    }
    if (srv->ev_tail)
        srv->ev_tail->next = n;
    else
        srv->ev_head = n;
    srv->ev_tail = n;
    lws_cancel_service(srv->ctx);
    pthread_mutex_unlock(&srv->ev_lock);
}

/* The worker's event as the core's typed entry point: the signaling
 * library knows nothing of worker types. */
static void to_core(pl_sig *sig, const pl_worker_event *ev)
{
    switch (ev->kind) {
    case PL_WORKER_CONNECTED:
        pl_sig_transport_connected(sig, ev->transport);
        pl_sig_transport_path(sig, ev->transport, ev->tcp ? PL_SIG_PATH_TCP : PL_SIG_PATH_UDP);
        break;
    case PL_WORKER_PATH:
        pl_sig_transport_path(sig, ev->transport, ev->tcp ? PL_SIG_PATH_TCP : PL_SIG_PATH_UDP);
        break;
    case PL_WORKER_FAILED:
        pl_sig_transport_failed(sig, ev->transport, ev->failure);
        break;
    case PL_WORKER_CLOSED:
        pl_sig_transport_closed(sig, ev->transport);
        break;
    case PL_WORKER_SPEAKING:
        pl_sig_speaking(sig, ev->transport, ev->speaking, ev->level);
        break;
    case PL_WORKER_REFUSED:
        pl_sig_command_refused(sig, ev->transport, ev->error);
        break;
    case PL_WORKER_VIDEO_PAUSED:
        pl_sig_video_paused(sig, ev->transport, ev->ssrc, ev->paused);
        break;
    case PL_WORKER_PUBLISHER_LAYERS:
        pl_sig_publisher_layers(sig, ev->transport, ev->mid, ev->layers);
        break;
    }
}

void srv_workers_drain_events(server *srv)
{
    pthread_mutex_lock(&srv->ev_lock);
    event_node *list = srv->ev_head;
    srv->ev_head = srv->ev_tail = NULL;
    pthread_mutex_unlock(&srv->ev_lock);
    while (list) {
        event_node *n = list->next;
        if (srv->sig)
            to_core(srv->sig, &list->ev);
        free(list);
        list = n;
    }
}

/* The DTLS certificate all transports share, and one worker per core. */
int srv_workers_start(server *srv)
{
    srv->cert = pl_dtls_cert_create(&srv->env);
    if (!srv->cert) {
        pl_log_printf(srv->log, PL_LOG_ERROR, "cannot create the DTLS certificate");
        return 1;
    }
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    srv->n_workers = srv->opt.workers > 0 ? srv->opt.workers : (int)(cores > 0 ? cores : 1);
    if (srv->n_workers > MAX_WORKERS)
        srv->n_workers = MAX_WORKERS;
    const char *media_bind = strchr(srv->opt.bind, ':') ? "::" : srv->opt.bind;
    for (int i = 0; i < srv->n_workers; i++) {
        pl_worker_config wc = {.index = i,
                               .bind_ip = media_bind,
                               .port = (uint16_t)(srv->opt.media_port + i),
                               .ice_tcp = !srv->opt.no_ice_tcp,
                               .cert = srv->cert,
                               .on_event = on_worker_event,
                               .user = srv};
        srv->workers[i] = pl_worker_start(&srv->env, &wc);
        if (!srv->workers[i]) {
            pl_log_printf(srv->log, PL_LOG_ERROR, "cannot bind UDP%s %s:%d",
                          srv->opt.no_ice_tcp ? "" : " and TCP", media_bind,
                          srv->opt.media_port + i);
            return 1;
        }
    }
    return 0;
}

pl_sig_media srv_workers_media(server *srv)
{
    pl_sig_media m = {.user = srv,
                          .add_transport = media_add,
                          .remove_transport = media_remove,
                          .restart_ice = media_restart_ice,
                          .port_for = media_port_for,
                          .set_tracks = media_set_tracks,
                          .set_routes = media_set_routes,
                          .fingerprint = pl_dtls_cert_fingerprint(srv->cert),
                          .announce_ip = srv->announce,
                          .ice_tcp = !srv->opt.no_ice_tcp};
    srv_reclive_media(srv, &m);
    return m;
}

/* Workers first, so that no event arrives for a core that is gone; the
 * events already queued are handed over. */
void srv_workers_stop(server *srv)
{
    for (int i = 0; i < srv->n_workers; i++)
        pl_worker_stop(srv->workers[i]);
    srv_workers_drain_events(srv);
}
