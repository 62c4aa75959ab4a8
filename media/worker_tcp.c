#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/uio.h>
#include <unistd.h>

#include "parley/stun.h"
#include "worker_int.h"

/* Passive ICE-TCP (RFC 6544): a TCP listener on the worker's UDP port.
 * Browsers that cannot send UDP connect to it and carry the same STUN,
 * DTLS and SRTP, each packet framed with its length (RFC 4571). A
 * connection is bound to a transport by its first authenticated Binding
 * request (only STUN is taken before); its frames then go through the same path as datagrams,
 * under an address that ICE tells apart from UDP (pl_addr.tcp). Writes
 * never block the worker: what the socket does not take waits in a bounded
 * buffer, and what does not fit there is dropped, as a full UDP socket
 * buffer would. Misbehaving connections are closed and counted: garbage,
 * an oversized length, or too slow (no check in time, a frame trickling
 * in, silence). */

static int epoll_set(pl_worker *w, tcpconn *c, int op, bool out)
{
    struct epoll_event e = {.events = EPOLLIN | (out ? EPOLLOUT : 0),
                            .data.u64 = TAG_CONN + c->slot};
    return epoll_ctl(w->efd, op, c->fd, &e);
}

int worker_tcp_listen(pl_worker *w, const pl_addr *at)
{
    w->lfd = socket(at->ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (w->lfd < 0)
        return PL_EINVAL;
    int on = 1;
    setsockopt(w->lfd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on));
    struct epoll_event e = {.events = EPOLLIN, .data.u64 = TAG_LISTEN};
    if (bind(w->lfd, (const struct sockaddr *)&at->ss, at->len) != 0 || listen(w->lfd, 64) != 0 ||
        epoll_ctl(w->efd, EPOLL_CTL_ADD, w->lfd, &e) != 0) {
        close(w->lfd);
        w->lfd = -1;
        return PL_EINVAL;
    }
    return PL_OK;
}

static int64_t deadline(const tcpconn *c)
{
    if (!c->t)
        return c->opened + TCP_BIND_US;
    int64_t d = c->last_rx + TCP_IDLE_US;
    if (c->frame_start && c->frame_start + TCP_FRAME_US < d)
        d = c->frame_start + TCP_FRAME_US;
    return d;
}

static void free_conn(pl_worker *w, tcpconn *c)
{
    w->conns[c->slot] = NULL;
    pl_tcpframe_destroy(c->rx);
    pl_env_free(&w->env, c->out);
    pl_env_free(&w->env, c);
}

/* Closes the socket now; the memory goes at the end of the loop turn,
 * when no event or pointer of this turn can still refer to it. */
static void close_conn(pl_worker *w, tcpconn *c, _Atomic uint64_t *reason)
{
    if (c->dead)
        return;
    c->dead = true;
    c->lost = c->t != NULL;
    pl_hmap_remove(w->by_tcp, c->key, ADDR_KEY, c);
    close(c->fd);
    c->fd = -1;
    w->tcp_reap = true;
    atomic_fetch_sub(&w->st.tcp_conns, 1);
    if (reason)
        atomic_fetch_add(reason, 1);
}

/* A free slot; when every one is taken, the oldest connection that has
 * not authenticated yet makes room (so unauthenticated ones cannot keep
 * the table full). -1 when all are bound. */
static int free_slot(pl_worker *w)
{
    tcpconn *oldest = NULL;
    for (unsigned i = 0; i < TCP_MAX_CONNS; i++) {
        tcpconn *c = w->conns[i];
        if (!c)
            return (int)i;
        if (!c->t && !c->dead && (!oldest || c->opened < oldest->opened))
            oldest = c;
    }
    if (!oldest)
        return -1;
    unsigned slot = oldest->slot;
    close_conn(w, oldest, &w->st.tcp_refused);
    /* Not bound, so nobody is to be told; an event of this turn for the
     * slot finds the new connection, which reads nothing and moves on. */
    free_conn(w, oldest);
    return (int)slot;
}

void worker_tcp_accept(pl_worker *w, int64_t now)
{
    for (int i = 0; i < 64; i++) {
        pl_addr a = {.len = sizeof(a.ss), .tcp = true};
        int fd = accept4(w->lfd, (struct sockaddr *)&a.ss, &a.len, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            return;
        }
        atomic_fetch_add(&w->st.tcp_accepted, 1);
        int slot = free_slot(w);
        tcpconn *c = slot < 0 ? NULL : pl_env_alloc(&w->env, sizeof(*c));
        if (c)
            c->rx = pl_tcpframe_create(&w->env, TCP_FRAME_MAX);
        if (!c || !c->rx) {
            if (c)
                pl_env_free(&w->env, c);
            close(fd);
            atomic_fetch_add(&w->st.tcp_refused, 1);
            continue;
        }
        c->fd = fd;
        c->slot = (unsigned)slot;
        c->remote = a;
        addr_key(&a, c->key);
        c->opened = c->last_rx = now;
        int on = 1; /* media packets leave as they come, not coalesced */
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on));
        w->conns[slot] = c;
        atomic_fetch_add(&w->st.tcp_conns, 1);
        if (epoll_set(w, c, EPOLL_CTL_ADD, false) != 0 ||
            pl_hmap_put(w->by_tcp, c->key, ADDR_KEY, c) != PL_OK) {
            close_conn(w, c, &w->st.tcp_refused);
            continue;
        }
        if (deadline(c) < w->tcp_next)
            w->tcp_next = deadline(c);
    }
}

/* One frame from a connection. */
static void on_frame(pl_worker *w, tcpconn *c, int64_t now, uint8_t *data, size_t len)
{
    if (c->t) {
        if (!c->t->failed)
            worker_deliver(w, now, c->t, &c->remote, data, len);
        return;
    }
    /* Until a Binding request for a transport of this worker passes its
     * check, only STUN is ICE-TCP. A check may come before the transport
     * exists (the client has the answer as the worker is told): it is
     * dropped as over UDP, and the client's next check may do; the
     * connection has TCP_BIND_US for one to pass. */
    if (len == 0 || data[0] > 3) {
        close_conn(w, c, &w->st.tcp_garbage);
        return;
    }
    char ufrag[PL_ICE_CRED_MAX + 1];
    transport *t = NULL;
    if (pl_stun_peek_local_ufrag(data, len, ufrag, sizeof(ufrag)) == 0)
        t = by_ufrag(w, ufrag);
    if (!t || t->failed) {
        atomic_fetch_add(&w->st.unknown, 1);
        return;
    }
    c->t = t; /* so that the answer finds its way out */
    if (worker_deliver(w, now, t, &c->remote, data, len) != PL_OK)
        c->t = NULL; /* counted as rejected by the transport */
}

static void read_conn(pl_worker *w, tcpconn *c)
{
    for (int round = 0; round < 4 && !c->dead; round++) {
        ssize_t n = recv(c->fd, w->tcp_rbuf, TCP_READ, 0);
        if (n == 0) {
            close_conn(w, c, &w->st.tcp_closed);
            return;
        }
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno != EAGAIN && errno != EWOULDBLOCK)
                close_conn(w, c, &w->st.tcp_closed);
            return;
        }
        /* No kernel timestamp on a stream: the frames count from now. */
        int64_t now = now_us();
        w->cur_rx = realtime_ns();
        c->last_rx = now;
        uint8_t *in = w->tcp_rbuf, *frame;
        size_t in_len = (size_t)n, flen;
        bool completed = false;
        int rc = PL_EAGAIN;
        while (!c->dead && (rc = pl_tcpframe_next(c->rx, &in, &in_len, &frame, &flen)) == PL_OK) {
            completed = true;
            atomic_fetch_add(&w->st.in, 1);
            atomic_fetch_add(&w->st.bytes_in, flen);
            on_frame(w, c, now, frame, flen);
        }
        if (c->dead)
            break;
        if (rc == PL_EMALFORMED) {
            close_conn(w, c, &w->st.tcp_oversized);
            break;
        }
        /* A frame left incomplete has its own deadline from its first byte. */
        if (pl_tcpframe_pending(c->rx) == 0)
            c->frame_start = 0;
        else if (completed || !c->frame_start)
            c->frame_start = now;
        if (deadline(c) < w->tcp_next)
            w->tcp_next = deadline(c);
        if (n < TCP_READ)
            break;
    }
    w->cur_rx = 0;
}

static void write_conn(pl_worker *w, tcpconn *c)
{
    while (c->out_len > 0) {
        struct iovec iov[2];
        size_t first = TCP_OUT_CAP - c->out_head;
        if (first > c->out_len)
            first = c->out_len;
        iov[0] = (struct iovec){.iov_base = c->out + c->out_head, .iov_len = first};
        iov[1] = (struct iovec){.iov_base = c->out, .iov_len = c->out_len - first};
        struct msghdr m = {.msg_iov = iov, .msg_iovlen = iov[1].iov_len ? 2 : 1};
        ssize_t n = sendmsg(c->fd, &m, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno != EAGAIN && errno != EWOULDBLOCK)
                close_conn(w, c, &w->st.tcp_closed);
            break;
        }
        c->out_head = (c->out_head + (size_t)n) % TCP_OUT_CAP;
        c->out_len -= (size_t)n;
    }
    if (c->dead)
        return;
    bool want = c->out_len > 0;
    if (want != c->want_out && epoll_set(w, c, EPOLL_CTL_MOD, want) == 0)
        c->want_out = want;
}

void worker_tcp_event(pl_worker *w, int64_t now, unsigned slot, uint32_t events)
{
    (void)now;
    tcpconn *c = slot < TCP_MAX_CONNS ? w->conns[slot] : NULL;
    if (!c || c->dead)
        return;
    if (events & EPOLLOUT)
        write_conn(w, c);
    if (!c->dead && (events & (EPOLLIN | EPOLLHUP | EPOLLERR)))
        read_conn(w, c);
}

static void ring_put(tcpconn *c, const uint8_t *p, size_t n)
{
    size_t at = (c->out_head + c->out_len) % TCP_OUT_CAP;
    size_t first = TCP_OUT_CAP - at < n ? TCP_OUT_CAP - at : n;
    memcpy(c->out + at, p, first);
    memcpy(c->out, p + first, n - first);
    c->out_len += n;
}

bool worker_tcp_send(pl_worker *w, transport *t, const pl_addr *to, const uint8_t *data, size_t len)
{
    uint8_t key[ADDR_KEY];
    addr_key(to, key);
    tcpconn *c = pl_hmap_get(w->by_tcp, key, ADDR_KEY);
    if (!c || c->dead || c->t != t)
        return false;
    if (!c->out && !(c->out = pl_env_alloc(&w->env, TCP_OUT_CAP)))
        return false;
    if (TCP_OUT_CAP - c->out_len < PL_TCPFRAME_HDR + len) {
        atomic_fetch_add(&w->st.tcp_send_dropped, 1);
        return false;
    }
    uint8_t hdr[PL_TCPFRAME_HDR];
    pl_tcpframe_put_header(hdr, len);
    ring_put(c, hdr, sizeof(hdr));
    ring_put(c, data, len);
    if (!c->dirty && w->n_dirty < TCP_MAX_CONNS) {
        c->dirty = true;
        w->dirty[w->n_dirty++] = c->slot;
    }
    return true;
}

void worker_tcp_flush(pl_worker *w)
{
    for (size_t i = 0; i < w->n_dirty; i++) {
        tcpconn *c = w->conns[w->dirty[i]];
        if (!c || c->dead)
            continue;
        c->dirty = false;
        /* Once the socket is full, EPOLLOUT says when to go on. */
        if (!c->want_out)
            write_conn(w, c);
    }
    w->n_dirty = 0;
}

void worker_tcp_timers(pl_worker *w, int64_t now)
{
    if (now < w->tcp_next)
        return;
    int64_t next = INT64_MAX;
    for (unsigned i = 0; i < TCP_MAX_CONNS; i++) {
        tcpconn *c = w->conns[i];
        if (!c || c->dead)
            continue;
        int64_t d = deadline(c);
        if (now >= d)
            close_conn(w, c, &w->st.tcp_slow);
        else if (d < next)
            next = d;
    }
    w->tcp_next = next;
}

void worker_tcp_reap(pl_worker *w, int64_t now)
{
    if (!w->tcp_reap)
        return;
    w->tcp_reap = false;
    for (unsigned i = 0; i < TCP_MAX_CONNS; i++) {
        tcpconn *c = w->conns[i];
        if (!c || !c->dead)
            continue;
        /* The client's path closed: when it was the selected one, the
         * transport fails as on lost consent. */
        if (c->lost && c->t && !c->t->failed) {
            pl_peer_path_closed(c->t->peer, now, &c->remote);
            worker_drain_peer(w, c->t, now);
        }
        free_conn(w, c);
    }
}

void worker_tcp_forget(pl_worker *w, const transport *t)
{
    for (unsigned i = 0; i < TCP_MAX_CONNS; i++) {
        tcpconn *c = w->conns[i];
        if (c && c->t == t) {
            close_conn(w, c, NULL);
            c->t = NULL;
        }
    }
}

void worker_tcp_close_all(pl_worker *w)
{
    for (unsigned i = 0; i < TCP_MAX_CONNS; i++) {
        tcpconn *c = w->conns[i];
        if (c) {
            close_conn(w, c, NULL);
            free_conn(w, c);
        }
    }
    if (w->lfd >= 0)
        close(w->lfd);
    w->lfd = -1;
}
