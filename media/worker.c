#include "parley/worker.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "cmdq.h"
#include "parley/hmap.h"
#include "parley/peer.h"
#include "parley/relaytime.h"
#include "parley/router.h"
#include "parley/srtp.h"
#include "parley/stun.h"

#include "worker_int.h"

static transport *by_addr(pl_worker *w, const pl_addr *a)
{
    uint8_t key[ADDR_KEY];
    addr_key(a, key);
    return pl_hmap_get(w->by_addr, key, ADDR_KEY);
}

/* An address that proved the ICE password now leads to this transport (the
 * oldest of its addresses makes room). */
static void remember_addr(pl_worker *w, transport *t, const pl_addr *a)
{
    uint8_t key[ADDR_KEY];
    addr_key(a, key);
    for (size_t i = 0; i < t->n_addrs; i++)
        if (memcmp(t->addr_keys[i], key, ADDR_KEY) == 0) {
            pl_hmap_put(w->by_addr, t->addr_keys[i], ADDR_KEY, t);
            return;
        }
    uint8_t *slot = t->addr_keys[t->next_addr];
    if (t->n_addrs == MAX_ADDRS)
        pl_hmap_remove(w->by_addr, slot, ADDR_KEY, t);
    memcpy(slot, key, ADDR_KEY);
    if (pl_hmap_put(w->by_addr, slot, ADDR_KEY, t) != PL_OK)
        return;
    t->next_addr = (t->next_addr + 1) % MAX_ADDRS;
    if (t->n_addrs < MAX_ADDRS)
        t->n_addrs++;
}

static void emit(pl_worker *w, enum pl_worker_event_kind kind, uint64_t id, int error)
{
    if (!w->cfg.on_event)
        return;
    pl_worker_event ev = {.kind = kind, .transport = id, .error = error};
    w->cfg.on_event(w->cfg.user, &ev);
}

/* Connected, or moved: which path the media take now (UDP or ICE-TCP). */
static void emit_path(pl_worker *w, enum pl_worker_event_kind kind, uint64_t id, bool tcp)
{
    if (!w->cfg.on_event)
        return;
    pl_worker_event ev = {.kind = kind, .transport = id, .tcp = tcp};
    w->cfg.on_event(w->cfg.user, &ev);
}

static void emit_failed(pl_worker *w, uint64_t id, int error, enum pl_failure why)
{
    if (!w->cfg.on_event)
        return;
    pl_worker_event ev = {
        .kind = PL_WORKER_FAILED, .transport = id, .error = error, .failure = why};
    w->cfg.on_event(w->cfg.user, &ev);
}

static void drain_outputs(pl_worker *w, transport *t, int64_t now)
{
    pl_peer_output o;
    while (pl_peer_poll_output(t->peer, &o) == PL_OK) {
        switch (o.kind) {
        case PL_PEER_OUT_TRANSMIT:
            if (o.addr.tcp ? worker_tcp_send(w, t, &o.addr, o.data, o.len)
                           : sendto(w->fd, o.data, o.len, 0, (const struct sockaddr *)&o.addr.ss,
                                    o.addr.len) >= 0) {
                atomic_fetch_add(&w->st.out, 1);
                atomic_fetch_add(&w->st.bytes_out, o.len);
            }
            break;
        case PL_PEER_OUT_CONNECTED:
            emit_path(w, PL_WORKER_CONNECTED, t->id, o.addr.tcp);
            pl_router_set_connected(w->router, t->id, now);
            worker_drain_router(w);
            break;
        case PL_PEER_OUT_FAILED:
            /* RFC 7675: a transport without consent stops sending at once;
             * its memory goes at the end of this loop turn, when nothing
             * holds a pointer to it. */
            t->failed = true;
            w->reap = true;
            emit_failed(w, t->id, o.error, o.failure);
            break;
        case PL_PEER_OUT_CLOSED:
            emit(w, PL_WORKER_CLOSED, t->id, 0);
            break;
        case PL_PEER_OUT_RTP:
            atomic_fetch_add(&w->st.rtp, 1);
            w->cur_at = now;
            pl_router_handle_rtp(w->router, now, t->id, o.data, o.len);
            worker_drain_router(w);
            break;
        case PL_PEER_OUT_RTCP:
            atomic_fetch_add(&w->st.rtcp, 1);
            pl_router_handle_rtcp(w->router, now, t->id, o.data, o.len);
            worker_drain_router(w);
            break;
        case PL_PEER_OUT_ADDRESS:
            if (!o.addr.tcp) /* a connection finds its transport itself */
                remember_addr(w, t, &o.addr);
            if (pl_peer_state(t->peer) == PL_PEER_CONNECTED) {
                pl_router_path_changed(w->router, t->id, now);
                emit_path(w, PL_WORKER_PATH, t->id, o.addr.tcp);
            }
            break;
        }
    }
}

void worker_drain_peer(pl_worker *w, transport *t, int64_t now)
{
    drain_outputs(w, t, now);
}

static void destroy_transport(pl_worker *w, transport *t)
{
    pl_hmap_remove(w->by_id, &t->id, sizeof(t->id), t);
    pl_hmap_remove(w->by_ufrag, t->ufrag, strlen(t->ufrag), t);
    for (size_t i = 0; i < t->n_addrs; i++)
        pl_hmap_remove(w->by_addr, t->addr_keys[i], ADDR_KEY, t);
    pl_router_remove_transport(w->router, t->id);
    if (t->tap)
        pl_rectap_release(t->tap);
    worker_tcp_forget(w, t);
    pl_peer_destroy(t->peer);
    pl_env_free(&w->env, t);
    atomic_fetch_sub(&w->st.transports, 1);
}

static void unlink_transport(pl_worker *w, transport *t)
{
    for (transport **pp = &w->transports; *pp; pp = &(*pp)->next)
        if (*pp == t) {
            *pp = t->next;
            return;
        }
}

static void add_transport(pl_worker *w, const pl_cmd *c, int64_t now)
{
    if (by_id(w, c->id) || by_ufrag(w, c->local_ufrag)) {
        emit(w, PL_WORKER_REFUSED, c->id, PL_EINVAL); /* a duplicate id or ufrag */
        return;
    }
    transport *t = pl_env_alloc(&w->env, sizeof(*t));
    if (!t) {
        emit(w, PL_WORKER_REFUSED, c->id, PL_ENOMEM);
        return;
    }
    pl_peer_config pc = {.role = PL_PEER_SERVER,
                         .cert = w->cfg.cert,
                         .local_ufrag = c->local_ufrag,
                         .local_pwd = c->local_pwd};
    t->id = c->id;
    t->peer = pl_peer_create(&w->env, &pc);
    snprintf(t->ufrag, sizeof(t->ufrag), "%s", c->local_ufrag);
    if (!t->peer ||
        pl_peer_set_remote(t->peer, c->remote_ufrag, c->remote_pwd, c->fp_alg, c->fp) != PL_OK ||
        pl_peer_start(t->peer, now) != PL_OK) {
        pl_peer_destroy(t->peer);
        pl_env_free(&w->env, t);
        emit_failed(w, c->id, PL_EINVAL, PL_FAILURE_SETUP);
        return;
    }
    if (pl_hmap_put(w->by_id, &t->id, sizeof(t->id), t) != PL_OK ||
        pl_hmap_put(w->by_ufrag, t->ufrag, strlen(t->ufrag), t) != PL_OK ||
        pl_router_add_transport(w->router, t->id) != PL_OK) {
        pl_hmap_remove(w->by_id, &t->id, sizeof(t->id), t);
        pl_hmap_remove(w->by_ufrag, t->ufrag, strlen(t->ufrag), t);
        pl_peer_destroy(t->peer);
        pl_env_free(&w->env, t);
        emit(w, PL_WORKER_REFUSED, c->id, PL_ENOMEM);
        return;
    }
    t->next = w->transports;
    w->transports = t;
    atomic_fetch_add(&w->st.transports, 1);
}

static void restart_ice(pl_worker *w, const pl_cmd *c, int64_t now)
{
    transport *t = by_id(w, c->id);
    transport *other = by_ufrag(w, c->local_ufrag);
    if (!t || (other && other != t) ||
        pl_peer_restart_ice(t->peer, now, c->local_ufrag, c->local_pwd, c->remote_ufrag,
                            c->remote_pwd) != PL_OK) {
        pl_env_logf(&w->env, PL_LOG_WARN, "worker %d: ICE restart of transport %llu refused",
                    w->cfg.index, (unsigned long long)c->id);
        emit(w, PL_WORKER_REFUSED, c->id, !t ? PL_ENOTFOUND : PL_EINVAL);
        return;
    }
    pl_hmap_remove(w->by_ufrag, t->ufrag, strlen(t->ufrag), t);
    snprintf(t->ufrag, sizeof(t->ufrag), "%s", c->local_ufrag);
    if (pl_hmap_put(w->by_ufrag, t->ufrag, strlen(t->ufrag), t) != PL_OK)
        emit(w, PL_WORKER_REFUSED, c->id, PL_ENOMEM);
}

/* The command's reference to the recording moves to the transport. */
static int record(pl_worker *w, pl_cmd *c)
{
    transport *t = by_id(w, c->id);
    if (!t) /* stopping a tap on a transport gone already is no error */
        return c->tap ? PL_ENOTFOUND : PL_OK;
    int rc = pl_router_set_recorded(w->router, c->id, c->tap != NULL);
    if (rc != PL_OK)
        return rc;
    if (t->tap)
        pl_rectap_release(t->tap);
    t->tap = c->tap;
    c->tap = NULL;
    return PL_OK;
}

static void run_command(pl_worker *w, pl_cmd *c, int64_t now)
{
    int rc = PL_OK;
    switch (c->kind) {
    case PL_CMD_ADD:
        add_transport(w, c, now);
        break;
    case PL_CMD_RESTART:
        restart_ice(w, c, now);
        break;
    case PL_CMD_REMOVE: {
        transport *t = by_id(w, c->id);
        if (t) {
            unlink_transport(w, t);
            destroy_transport(w, t);
        }
        break;
    }
    case PL_CMD_TRACKS:
        rc = pl_router_set_tracks(w->router, c->id, c->tracks, c->n);
        break;
    case PL_CMD_ROUTES:
        rc = pl_router_set_routes(w->router, c->id, c->routes, c->n, now);
        break;
    case PL_CMD_RECORD:
        rc = record(w, c);
        break;
    case PL_CMD_KEYFRAME:
        /* A stream gone by the time the request came is no error. */
        pl_router_request_keyframe(w->router, c->id, c->ssrc, now);
        break;
    }
    if (rc != PL_OK)
        emit(w, PL_WORKER_REFUSED, c->id, rc);
    worker_drain_router(w);
}

static void run_commands(pl_worker *w, int64_t now)
{
    pl_cmd *c = pl_cmdq_take(&w->cmds);
    if (c)
        w->next_timer = now; /* new transports have timers of their own */
    while (c) {
        pl_cmd *n = c->next;
        run_command(w, c, now);
        pl_cmdq_free(&w->cmds, c);
        c = n;
    }
}

/* Frees the transports that failed during this loop turn. */
static void reap_failed(pl_worker *w)
{
    if (!w->reap)
        return;
    w->reap = false;
    for (transport **pp = &w->transports; *pp;) {
        transport *t = *pp;
        if (!t->failed) {
            pp = &t->next;
            continue;
        }
        *pp = t->next;
        destroy_transport(w, t);
        atomic_fetch_add(&w->st.failed, 1);
    }
}

static void handle_datagram(pl_worker *w, int64_t now, const pl_addr *from, uint8_t *data,
                            size_t len)
{
    atomic_fetch_add(&w->st.in, 1);
    atomic_fetch_add(&w->st.bytes_in, len);
    transport *t = NULL;
    char ufrag[PL_ICE_CRED_MAX + 1];
    bool stun = len > 0 && data[0] <= 3;
    if (stun && pl_stun_peek_local_ufrag(data, len, ufrag, sizeof(ufrag)) == PL_OK)
        t = by_ufrag(w, ufrag);
    if (!t)
        t = by_addr(w, from);
    if (!t || t->failed) {
        atomic_fetch_add(&w->st.unknown, 1);
        return;
    }
    if (worker_deliver(w, now, t, from, data, len) == PL_OK && stun)
        remember_addr(w, t, from); /* an authenticated check: this address is the peer's */
}

int worker_deliver(pl_worker *w, int64_t now, transport *t, const pl_addr *from, uint8_t *data,
                   size_t len)
{
    int rc = pl_peer_handle_datagram(t->peer, now, from, data, len);
    if (rc != PL_OK)
        atomic_fetch_add(&w->st.rejected, 1);
    drain_outputs(w, t, now);
    int64_t next = pl_peer_next_timeout(t->peer);
    if (next < w->next_timer)
        w->next_timer = next;
    return rc;
}

/* Scans the transports only when one of them is due; then the router's
 * own timers (loss repair, reports, speakers). */
static void run_timers(pl_worker *w, int64_t now)
{
    if (now >= w->next_timer) {
        int64_t next = INT64_MAX;
        for (transport *t = w->transports; t; t = t->next) {
            if (pl_peer_next_timeout(t->peer) <= now) {
                pl_peer_handle_timeout(t->peer, now);
                drain_outputs(w, t, now);
            }
            int64_t n = pl_peer_next_timeout(t->peer);
            if (n < next)
                next = n;
        }
        w->next_timer = next;
    }
    /* Once per loop turn: with many subscribers it visits each of them. */
    w->router_next = pl_router_next_timeout(w->router);
    if (now >= w->router_next) {
        pl_router_handle_timeout(w->router, now);
        worker_drain_router(w);
        w->router_next = pl_router_next_timeout(w->router);
    }
    worker_tcp_timers(w, now);
}

/* The router's counters for /stats, at most every STATS_EVERY_US: adding
 * up its subscribers' figures on every loop turn cost as much as a few
 * packets out each time. A turn that skips the copy makes the worker
 * wake for it. */
static void copy_router_stats(pl_worker *w, int64_t now)
{
    if (now < w->stats_at) {
        w->stats_dirty = true;
        return;
    }
    w->stats_at = now + STATS_EVERY_US;
    w->stats_dirty = false;
    uint64_t rs[sizeof(w->rst) / sizeof(w->rst[0])];
    pl_router_stats_get(w->router, (pl_router_stats *)rs);
    for (size_t i = 0; i < sizeof(rs) / sizeof(rs[0]); i++)
        atomic_store_explicit(&w->rst[i], rs[i], memory_order_relaxed);
}

static int next_wait_ms(pl_worker *w, int64_t now)
{
    int64_t next = w->router_next;
    if (w->stats_dirty && w->stats_at < next)
        next = w->stats_at;
    if (w->next_timer < next)
        next = w->next_timer;
    if (w->tcp_next < next)
        next = w->tcp_next;
    int64_t ms = (next - now + 999) / 1000;
    return ms < 0 ? 0 : (int)ms;
}

static void *worker_main(void *arg)
{
    pl_worker *w = arg;
    static const size_t cap = DGRAM_MAX;
    uint8_t bufs[BATCH][DGRAM_MAX];
    union {
        char buf[CMSG_SPACE(sizeof(struct timespec))];
        struct cmsghdr align;
    } ctrl[BATCH];
    struct mmsghdr msgs[BATCH];
    struct iovec iov[BATCH];
    pl_addr from[BATCH];
    int msgs_used = BATCH; /* headers the kernel wrote into since they were set */
    while (!atomic_load(&w->stop)) {
        struct epoll_event evs[16];
        int64_t asked = now_us();
        int wait_ms = next_wait_ms(w, asked);
        int n = epoll_wait(w->efd, evs, 16, wait_ms);
        int64_t now = now_us();
        /* Told at debug level: a worker that did not run when its timer
         * was due (a host that stalled) shows in every subscriber's
         * estimate as a queue, at once. */
        if (now - asked - (int64_t)wait_ms * 1000 > LATE_US)
            pl_env_logf(&w->env, PL_LOG_DEBUG, "worker %d: woke %lld ms after its timer",
                        w->cfg.index, (long long)((now - asked) / 1000 - wait_ms));
        for (int i = 0; i < n; i++) {
            uint64_t tag = evs[i].data.u64;
            if (tag == TAG_CMDS) {
                run_commands(w, now);
                continue;
            }
            if (tag == TAG_LISTEN || tag >= TAG_CONN) {
                if (tag == TAG_LISTEN)
                    worker_tcp_accept(w, now);
                else
                    worker_tcp_event(w, now, (unsigned)(tag - TAG_CONN), evs[i].events);
                worker_flush_out(w);
                continue;
            }
            /* Drain the socket in batches: one syscall for up to BATCH datagrams. */
            for (;;) {
                /* Only the headers the last call used need setting again:
                 * usually one or two of BATCH. */
                for (int k = 0; k < msgs_used; k++) {
                    iov[k] = (struct iovec){.iov_base = bufs[k], .iov_len = cap};
                    memset(&from[k], 0, sizeof(from[k]));
                    msgs[k].msg_hdr = (struct msghdr){.msg_name = &from[k].ss,
                                                      .msg_namelen = sizeof(from[k].ss),
                                                      .msg_iov = &iov[k],
                                                      .msg_iovlen = 1,
                                                      .msg_control = ctrl[k].buf,
                                                      .msg_controllen = sizeof(ctrl[k].buf)};
                }
                int got = recvmmsg(w->fd, msgs, BATCH, MSG_DONTWAIT, NULL);
                msgs_used = got > 0 ? got : 0;
                if (got <= 0)
                    break;
                /* Each datagram is handled at its kernel receive time, on
                 * the monotonic clock: transport-wide feedback reports
                 * arrivals, and a batch is not one instant. */
                int64_t batch_mono = now_us(), batch_real = realtime_ns();
                bool late_told = false;
                for (int k = 0; k < got; k++) {
                    from[k].len = msgs[k].msg_hdr.msg_namelen;
                    w->cur_rx = 0;
                    for (struct cmsghdr *c = CMSG_FIRSTHDR(&msgs[k].msg_hdr); c;
                         c = CMSG_NXTHDR(&msgs[k].msg_hdr, c))
                        if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_TIMESTAMPNS) {
                            struct timespec ts;
                            memcpy(&ts, CMSG_DATA(c), sizeof(ts));
                            w->cur_rx = (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
                        }
                    int64_t at = batch_mono;
                    if (w->cur_rx && w->cur_rx < batch_real)
                        at -= (batch_real - w->cur_rx) / 1000;
                    if (!late_told && batch_mono - at > LATE_US) {
                        late_told = true;
                        pl_env_logf(&w->env, PL_LOG_DEBUG,
                                    "worker %d: read a datagram %lld ms after it arrived",
                                    w->cfg.index, (long long)((batch_mono - at) / 1000));
                    }
                    handle_datagram(w, at, &from[k], bufs[k], msgs[k].msg_len);
                }
                w->cur_rx = 0; /* what timers send next was not received */
                worker_flush_out(w);
                if (got < BATCH)
                    break;
            }
        }
        run_timers(w, now_us());
        worker_flush_out(w);
        worker_tcp_reap(w, now_us());
        reap_failed(w);
        copy_router_stats(w, now_us());
    }
    w->stats_at = INT64_MIN; /* what a reader finds after the stop is complete */
    copy_router_stats(w, 0);
    return NULL;
}

static void free_parts(pl_worker *w)
{
    worker_tcp_close_all(w);
    if (w->fd >= 0)
        close(w->fd);
    if (w->efd >= 0)
        close(w->efd);
    pl_cmdq_destroy(&w->cmds);
    pl_router_destroy(w->router);
    pl_hmap_destroy(w->by_id);
    pl_hmap_destroy(w->by_ufrag);
    pl_hmap_destroy(w->by_addr);
    pl_hmap_destroy(w->by_tcp);
    pl_env_free(&w->env, w->obuf);
    pl_env_free(&w->env, w->tcp_rbuf);
    pl_env_free(&w->env, w);
}

/* The UDP socket, and with ICE-TCP the listener on the same port number.
 * With port 0 the kernel picks the UDP port, which TCP may have in use:
 * then another is tried. */
static int bind_sockets(pl_worker *w, const pl_addr *at)
{
    for (int attempt = 0; attempt < 16; attempt++) {
        w->fd = socket(at->ss.ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (w->fd < 0)
            return PL_EINVAL;
        /* Bigger socket buffers absorb bursts (a keyframe fanned out to many). */
        int sz = 4 << 20;
        setsockopt(w->fd, SOL_SOCKET, SO_RCVBUF, &sz, sizeof(sz));
        setsockopt(w->fd, SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
        int on = 1; /* receive timestamps, for the time packets spend in the relay */
        setsockopt(w->fd, SOL_SOCKET, SO_TIMESTAMPNS, &on, sizeof(on));
        pl_addr bound = {.len = sizeof(bound.ss)};
        if (bind(w->fd, (const struct sockaddr *)&at->ss, at->len) != 0 ||
            getsockname(w->fd, (struct sockaddr *)&bound.ss, &bound.len) != 0)
            break;
        w->port = pl_addr_port(&bound);
        if (!w->cfg.ice_tcp || worker_tcp_listen(w, &bound) == PL_OK)
            return PL_OK;
        close(w->fd);
        w->fd = -1;
        if (pl_addr_port(at) != 0)
            return PL_EINVAL;
    }
    if (w->fd >= 0)
        close(w->fd);
    w->fd = -1;
    return PL_EINVAL;
}

pl_worker *pl_worker_start(const pl_env *env, const pl_worker_config *cfg)
{
    pl_addr bind_addr;
    if (!cfg->cert || pl_addr_set(&bind_addr, cfg->bind_ip, cfg->port) != PL_OK)
        return NULL;
    pl_worker *w = pl_env_alloc(env, sizeof(*w));
    if (!w)
        return NULL;
    w->env = *env;
    w->cfg = *cfg;
    w->fd = w->lfd = -1;
    w->tcp_next = INT64_MAX;
    w->router = pl_router_create(env);
    w->by_id = pl_hmap_create(env);
    w->by_ufrag = pl_hmap_create(env);
    w->by_addr = pl_hmap_create(env);
    w->by_tcp = pl_hmap_create(env);
    w->obuf = pl_env_alloc(env, OUT_BATCH * sizeof(*w->obuf));
    w->tcp_rbuf = cfg->ice_tcp ? pl_env_alloc(env, TCP_READ) : NULL;
    w->efd = epoll_create1(EPOLL_CLOEXEC);
    int cq = pl_cmdq_init(&w->cmds, env);
    struct epoll_event e1 = {.events = EPOLLIN, .data.u64 = TAG_UDP};
    struct epoll_event e2 = {.events = EPOLLIN, .data.u64 = TAG_CMDS};
    if (!w->router || !w->by_id || !w->by_ufrag || !w->by_addr || !w->by_tcp || !w->obuf ||
        (cfg->ice_tcp && !w->tcp_rbuf) || w->efd < 0 || cq != PL_OK ||
        bind_sockets(w, &bind_addr) != PL_OK || epoll_ctl(w->efd, EPOLL_CTL_ADD, w->fd, &e1) != 0 ||
        epoll_ctl(w->efd, EPOLL_CTL_ADD, w->cmds.wake_fd, &e2) != 0 ||
        pthread_create(&w->thread, NULL, worker_main, w) != 0) {
        free_parts(w);
        return NULL;
    }
    return w;
}

void pl_worker_stop(pl_worker *w)
{
    if (!w)
        return;
    atomic_store(&w->stop, true);
    pl_cmdq_wake(&w->cmds);
    pthread_join(w->thread, NULL);
    while (w->transports) {
        transport *t = w->transports;
        w->transports = t->next;
        destroy_transport(w, t);
    }
    free_parts(w);
}

int pl_worker_add_transport(pl_worker *w, uint64_t id, const char *local_ufrag,
                            const char *local_pwd, const char *remote_ufrag, const char *remote_pwd,
                            const char *fp_alg, const char *fp)
{
    return pl_cmdq_add_transport(&w->cmds, id, local_ufrag, local_pwd, remote_ufrag, remote_pwd,
                                 fp_alg, fp);
}

int pl_worker_restart_ice(pl_worker *w, uint64_t id, const char *local_ufrag, const char *local_pwd,
                          const char *remote_ufrag, const char *remote_pwd)
{
    return pl_cmdq_restart_ice(&w->cmds, id, local_ufrag, local_pwd, remote_ufrag, remote_pwd);
}

int pl_worker_remove_transport(pl_worker *w, uint64_t id)
{
    return pl_cmdq_remove(&w->cmds, id);
}

int pl_worker_set_tracks(pl_worker *w, uint64_t publisher, const pl_track *tracks, size_t n)
{
    return pl_cmdq_set_tracks(&w->cmds, publisher, tracks, n);
}

int pl_worker_set_routes(pl_worker *w, uint64_t subscriber, const pl_route *routes, size_t n)
{
    return pl_cmdq_set_routes(&w->cmds, subscriber, routes, n);
}

void pl_worker_stats_get(const pl_worker *w, pl_worker_stats *out)
{
    out->transports = atomic_load(&w->st.transports);
    out->datagrams_in = atomic_load(&w->st.in);
    out->datagrams_out = atomic_load(&w->st.out);
    out->bytes_in = atomic_load(&w->st.bytes_in);
    out->bytes_out = atomic_load(&w->st.bytes_out);
    /* The thread's own CPU clock: what this worker costs, apart from the
     * signaling thread and the others. */
    clockid_t cid;
    struct timespec ts;
    out->cpu_ns = pthread_getcpuclockid(w->thread, &cid) == 0 && clock_gettime(cid, &ts) == 0
                      ? (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec
                      : 0;
    out->dropped_unknown_source = atomic_load(&w->st.unknown);
    out->dropped_by_transport = atomic_load(&w->st.rejected);
    out->rtp_in = atomic_load(&w->st.rtp);
    out->rtcp_in = atomic_load(&w->st.rtcp);
    out->rtp_forwarded = atomic_load(&w->st.fwd);
    out->keyframe_requests = atomic_load(&w->st.pli);
    out->retransmissions = atomic_load(&w->st.rtx);
    out->nacks_sent = atomic_load(&w->st.nacks);
    out->transports_failed = atomic_load(&w->st.failed);
    out->feedback_sent = atomic_load(&w->st.feedback);
    uint64_t raw[sizeof(w->rst) / sizeof(w->rst[0])];
    for (size_t i = 0; i < sizeof(raw) / sizeof(raw[0]); i++)
        raw[i] = atomic_load_explicit(&w->rst[i], memory_order_relaxed);
    pl_router_stats rs;
    memcpy(&rs, raw, sizeof(rs));
    out->dropped_unknown_ssrc = rs.unknown_ssrc;
    out->dropped_rtx_early = rs.rtx_before_media;
    out->layer_switches = rs.layer_switches;
    out->layer_keyframe_requests = rs.layer_keyframe_requests;
    out->remb_sent = rs.remb_sent;
    out->downlink_feedback = rs.downlink_feedback;
    out->pacer_refused = rs.pacer_refused;
    out->pacer_rtx_dropped = rs.pacer_rtx_dropped;
    out->probes = rs.probes;
    out->padding_packets = rs.padding_packets;
    out->padding_bytes = rs.padding_bytes;
    out->nack_repeats = rs.nack_repeats;
    out->nack_keyframes = rs.nack_keyframes;
    out->allocations = rs.allocations;
    out->videos_paused = rs.videos_paused;
    out->video_pauses = rs.video_pauses;
    out->alloc_probes = rs.alloc_probes;
    out->video_flushes = rs.video_flushes;
    out->dynacast_updates = rs.dynacast_updates;
    out->layers_paused_at_publisher = rs.layers_paused_at_publisher;
    pl_relaytime_get(&w->relaytime, &out->relay_samples, &out->relay_p50_us, &out->relay_p99_us);
    out->relaytime = &w->relaytime;
    out->tcp_connections = atomic_load(&w->st.tcp_conns);
    out->tcp_accepted = atomic_load(&w->st.tcp_accepted);
    out->tcp_refused = atomic_load(&w->st.tcp_refused);
    out->tcp_dropped_garbage = atomic_load(&w->st.tcp_garbage);
    out->tcp_dropped_oversized = atomic_load(&w->st.tcp_oversized);
    out->tcp_dropped_slow = atomic_load(&w->st.tcp_slow);
    out->tcp_closed = atomic_load(&w->st.tcp_closed);
    out->tcp_send_dropped = atomic_load(&w->st.tcp_send_dropped);
    out->send_dropped = atomic_load(&w->st.send_dropped);
}

int pl_worker_record(pl_worker *w, uint64_t id, pl_rectap *tap)
{
    return pl_cmdq_record(&w->cmds, id, tap);
}

int pl_worker_request_keyframe(pl_worker *w, uint64_t id, uint32_t ssrc)
{
    return pl_cmdq_keyframe(&w->cmds, id, ssrc);
}

uint16_t pl_worker_port(const pl_worker *w)
{
    return w->port;
}
