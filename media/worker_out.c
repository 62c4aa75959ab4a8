#include <errno.h>

#include "worker_int.h"

/* Datagrams out of the worker: protected in place in batch slots, sent
 * with one sendmmsg per batch; and the router's outputs: packets for
 * transports, and events for the worker's owner. */

void worker_flush_out(pl_worker *w)
{
    if (w->n_out) {
        int64_t t = realtime_ns();
        for (size_t k = 0; k < w->n_out; k++)
            if (w->orx[k])
                pl_relaytime_add(&w->relaytime, (t - w->orx[k]) / 1000);
    }
    size_t off = 0;
    while (off < w->n_out) {
        int n = sendmmsg(w->fd, w->omsg + off, (unsigned)(w->n_out - off), 0);
        if (n > 0) {
            uint64_t bytes = 0;
            for (size_t k = off; k < off + (size_t)n; k++)
                bytes += w->omsg[k].msg_len;
            off += (size_t)n;
            atomic_fetch_add(&w->st.out, (uint64_t)n);
            atomic_fetch_add(&w->st.bytes_out, bytes);
        } else if (n < 0 && errno == EINTR) {
            continue;
        } else {
            off++; /* this datagram cannot go (full buffer, unreachable): drop it */
            atomic_fetch_add(&w->st.send_dropped, 1);
        }
    }
    w->n_out = 0;
    worker_tcp_flush(w);
    if (w->fwd_pending) {
        atomic_fetch_add(&w->st.fwd, w->fwd_pending);
        w->fwd_pending = 0;
    }
}

/* The next free output slot, flushing a full batch first. */
static uint8_t *out_slot(pl_worker *w)
{
    if (w->n_out == OUT_BATCH)
        worker_flush_out(w);
    return w->obuf[w->n_out];
}

/* Encrypts the packet in the current slot and queues it; rx: the receive
 * time (ns, realtime) of the packet it forwards, whose time in the relay
 * it then counts; 0: none. */
static bool out_commit(pl_worker *w, transport *t, bool rtcp, size_t len, int64_t rx)
{
    size_t k = w->n_out;
    pl_addr *to = &w->oaddr[k];
    int rc = rtcp ? pl_peer_protect_rtcp(t->peer, w->obuf[k], &len, OUT_CAP, to)
                  : pl_peer_protect_rtp(t->peer, w->obuf[k], &len, OUT_CAP, to);
    if (rc != PL_OK)
        return false;
    if (to->tcp) {
        /* Framed into the connection's buffer at once; the slot is free
         * again. Its time in the relay ends here, not at the write. */
        if (!worker_tcp_send(w, t, to, w->obuf[k], len))
            return false;
        if (rx)
            pl_relaytime_add(&w->relaytime, (realtime_ns() - rx) / 1000);
        atomic_fetch_add(&w->st.out, 1);
        atomic_fetch_add(&w->st.bytes_out, len);
        return true;
    }
    w->oiov[k] = (struct iovec){.iov_base = w->obuf[k], .iov_len = len};
    w->orx[k] = rx;
    w->omsg[k].msg_hdr = (struct msghdr){
        .msg_name = &to->ss, .msg_namelen = to->len, .msg_iov = &w->oiov[k], .msg_iovlen = 1};
    w->n_out++;
    return true;
}

static void record_packet(pl_worker *w, transport *t, const pl_router_output *o)
{
    pl_rectap_packet p = {.transport = t->id,
                          .ssrc = o->ssrc,
                          .video = o->video,
                          .screen = o->screen,
                          .rank = o->rank,
                          .n_layers = o->n_layers,
                          .at_us = w->cur_at};
    memcpy(p.mid, o->mid, sizeof(p.mid));
    pl_rectap_push(t->tap, &p, out_slot(w), o->len);
}

void worker_drain_router(pl_worker *w)
{
    pl_router_output o;
    /* Read once: the copies of one datagram leave together. */
    int64_t sent_at = now_us();
    for (;;) {
        int rc = pl_router_poll_output(w->router, sent_at, &o, out_slot(w), DGRAM_MAX);
        if (rc == PL_EAGAIN)
            break;
        if (rc != PL_OK)
            continue;
        if (o.kind == PL_ROUTER_OUT_SPEAKING) {
            if (w->cfg.on_event) {
                pl_worker_event ev = {.kind = PL_WORKER_SPEAKING,
                                      .transport = o.transport,
                                      .speaking = o.speaking,
                                      .level = o.level};
                w->cfg.on_event(w->cfg.user, &ev);
            }
            continue;
        }
        if (o.kind == PL_ROUTER_OUT_VIDEO_PAUSED) {
            if (w->cfg.on_event) {
                pl_worker_event ev = {.kind = PL_WORKER_VIDEO_PAUSED,
                                      .transport = o.transport,
                                      .ssrc = o.ssrc,
                                      .paused = o.paused};
                memcpy(ev.mid, o.mid, sizeof(ev.mid));
                w->cfg.on_event(w->cfg.user, &ev);
            }
            continue;
        }
        if (o.kind == PL_ROUTER_OUT_PUBLISHER_LAYERS) {
            if (w->cfg.on_event) {
                pl_worker_event ev = {.kind = PL_WORKER_PUBLISHER_LAYERS,
                                      .transport = o.transport,
                                      .layers = o.layers};
                memcpy(ev.mid, o.mid, sizeof(ev.mid));
                w->cfg.on_event(w->cfg.user, &ev);
            }
            continue;
        }
        transport *t = by_id(w, o.transport);
        if (!t || t->failed)
            continue;
        if (o.kind == PL_ROUTER_OUT_RECORD) {
            if (t->tap)
                record_packet(w, t, &o);
            continue;
        }
        /* A keyframe request counts when it is decided, as ever, whether
         * or not the transport can take it yet. */
        if (o.reason == PL_ROUTER_KEYFRAME)
            atomic_fetch_add(&w->st.pli, 1);
        /* A forwarded copy's time in the relay runs from its datagram's
         * receive time: the one being handled, less the time the copy
         * waited in a pacer (which the router's clock, set to each
         * datagram's receive time, measured); released by a timer, from
         * now less that wait. */
        int64_t rx = 0;
        if (o.reason == PL_ROUTER_MEDIA) {
            int64_t base = w->cur_rx ? w->cur_rx : o.held_us ? realtime_ns() : 0;
            rx = base ? base - o.held_us * 1000 : 0;
        }
        if (!out_commit(w, t, o.kind == PL_ROUTER_OUT_RTCP, o.len, rx))
            continue;
        switch (o.reason) {
        case PL_ROUTER_MEDIA:
            w->fwd_pending++;
            break;
        case PL_ROUTER_RESENT:
            atomic_fetch_add(&w->st.rtx, 1);
            break;
        case PL_ROUTER_KEYFRAME:
            break;
        case PL_ROUTER_NACK:
            atomic_fetch_add(&w->st.nacks, 1);
            break;
        case PL_ROUTER_FEEDBACK:
            atomic_fetch_add(&w->st.feedback, 1);
            break;
        case PL_ROUTER_REPORT:
        case PL_ROUTER_PADDING:
            break;
        }
    }
}
