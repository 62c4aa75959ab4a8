#include <string.h>

#include "parley/buf.h"
#include "parley/rtp.h"
#include "parley/vp8_rewrite.h"
#include "router_int.h"

/* The router's output queue: what goes out is described when it is
 * decided and written into the caller's buffer when polled, so a packet
 * fanned out to a room is copied once per subscriber, into the slot it
 * leaves from. */

int router_grow(pl_router *r, void **items, size_t *cap, size_t used, size_t need, size_t size,
                size_t first)
{
    if (need <= *cap)
        return PL_OK;
    size_t more = *cap ? 2 * *cap : first;
    while (more < need)
        more *= 2;
    void *grown = pl_env_alloc(&r->env, more * size);
    if (!grown)
        return PL_ENOMEM;
    if (used)
        memcpy(grown, *items, used * size);
    pl_env_free(&r->env, *items);
    *items = grown;
    *cap = more;
    return PL_OK;
}

/* The next slot of the queue, as it was left. */
static outq *next_slot(pl_router *r)
{
    if (r->q_n == r->q_cap &&
        router_grow(r, (void **)&r->q, &r->q_cap, r->q_n, r->q_n + 1, sizeof(*r->q), 64) != PL_OK)
        return NULL;
    return &r->q[r->q_n++];
}

outq *router_enqueue(pl_router *r)
{
    outq *o = next_slot(r);
    if (o)
        memset(o, 0, sizeof(*o));
    return o;
}

endpoint *router_input_from(pl_router *r, uint64_t from)
{
    router_reset_queue(r);
    endpoint *e = find_ep(r, from);
    if (!e)
        r->st.unroutable++;
    return e;
}

void router_reset_queue(pl_router *r)
{
    r->q_n = r->q_next = 0;
    r->arena_len = 0;
    r->pace_next = r->endpoints;
}

void router_enqueue_rtcp(pl_router *r, uint64_t to, enum pl_router_out_reason why,
                         const pl_wbuf *wb)
{
    if (!pl_wbuf_ok(wb))
        return;
    if (router_grow(r, (void **)&r->arena, &r->arena_cap, r->arena_len, r->arena_len + wb->len, 1,
                    4096) != PL_OK)
        return;
    outq *o = router_enqueue(r);
    if (!o)
        return;
    memcpy(r->arena + r->arena_len, wb->data, wb->len);
    o->kind = PL_ROUTER_OUT_RTCP;
    o->reason = why;
    o->transport = to;
    o->off = r->arena_len;
    o->len = wb->len;
    r->arena_len += wb->len;
}

int router_queue_pop(pl_router *r, pl_router_output *out, uint8_t *buf, size_t cap)
{
    if (r->q_next == r->q_n)
        return PL_EAGAIN;
    const outq *o = &r->q[r->q_next++];
    *out = (pl_router_output){.kind = o->kind,
                              .reason = o->reason,
                              .transport = o->transport,
                              .speaking = o->speaking,
                              .level = o->level,
                              .paused = o->paused};
    if (o->kind == PL_ROUTER_OUT_VIDEO_PAUSED) {
        memcpy(out->mid, o->mid, sizeof(out->mid));
        out->ssrc = o->ssrc;
    }
    if (o->kind == PL_ROUTER_OUT_PUBLISHER_LAYERS) {
        memcpy(out->mid, o->mid, sizeof(out->mid));
        out->layers = o->layers;
        return PL_OK;
    }
    if (o->kind == PL_ROUTER_OUT_SPEAKING || o->kind == PL_ROUTER_OUT_VIDEO_PAUSED)
        return PL_OK;
    if (o->len > cap)
        return PL_ENOSPC;
    if (o->kind == PL_ROUTER_OUT_RECORD) {
        /* As it came in: the recorder reads the publisher's own numbers. */
        memcpy(out->mid, o->mid, sizeof(out->mid));
        out->ssrc = o->ssrc;
        out->video = o->video;
        out->screen = o->screen;
        out->rank = o->rank;
        out->n_layers = o->n_layers;
        memcpy(buf, o->src, o->len);
        out->len = o->len;
        return PL_OK;
    }
    if (o->kind == PL_ROUTER_OUT_RTCP) {
        memcpy(buf, r->arena + o->off, o->len);
        out->len = o->len;
        return PL_OK;
    }
    int n = router_write_copy(o, buf, cap);
    if (n < 0)
        return n;
    out->len = (size_t)n;
    return PL_OK;
}

int router_write_copy(const outq *o, uint8_t *buf, size_t cap)
{
    if (o->len > cap)
        return PL_ENOSPC;
    memcpy(buf, o->src, o->len);
    pl_rtp_set_ssrc(buf, o->ssrc);
    pl_rtp_set_payload_type(buf, o->pt);
    pl_rtp_set_seq(buf, o->seq);
    pl_rtp_set_timestamp(buf, o->ts);
    if (o->vp8) {
        /* The descriptor as this route numbers its frames (the packet
         * parsed when it came in: the forwarding form has no extensions). */
        size_t hdr = PL_RTP_HEADER_MIN + 4u * (buf[0] & 0x0f);
        if (hdr < o->len && pl_vp8_write_fields(buf + hdr, o->len - hdr, &o->vf) != PL_OK)
            return PL_EMALFORMED;
    }
    if (!o->rtx)
        return (int)o->len;
    pl_rtp_header h;
    if (pl_rtp_parse(buf, o->len, &h) != PL_OK)
        return PL_EMALFORMED;
    return pl_rtp_rtx_wrap(buf, &h, o->rtx_ssrc, o->rtx_pt, o->rtx_seq, buf, cap);
}

void router_describe_copy(endpoint *s, route *rt, const uint8_t *pkt, size_t len, uint16_t seq,
                          uint32_t ts, const pl_vp8_fields *vf, bool resend, outq *o)
{
    memset(o, 0, sizeof(*o));
    o->kind = PL_ROUTER_OUT_RTP;
    o->reason = resend ? PL_ROUTER_RESENT : PL_ROUTER_MEDIA;
    o->transport = s->id;
    o->src = pkt;
    o->len = len;
    o->seq = seq;
    o->ts = ts;
    o->ssrc = rt->cfg.out_ssrc;
    o->pt = rt->cfg.out_pt;
    if (vf) {
        o->vp8 = true;
        o->vf = *vf;
    }
    if (resend && rt->cfg.out_rtx_pt) {
        o->rtx = true;
        o->rtx_ssrc = rt->cfg.out_rtx_ssrc;
        o->rtx_pt = rt->cfg.out_rtx_pt;
        o->rtx_seq = rt->rtx_seq++;
    }
}

void router_enqueue_copy(pl_router *r, const outq *copy)
{
    outq *o = next_slot(r); /* written whole: no need to clear it first */
    if (o)
        *o = *copy;
}
