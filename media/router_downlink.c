#include <string.h>

#include "parley/rtp.h"
#include "router_int.h"

/* Each subscriber's downlink: what the relay sends a subscriber leaves
 * through its transport's pacer (pacer.h), at the rate its send-side
 * estimate allows (bwe.h). The estimate comes from the transport-wide
 * feedback the subscriber returns about the sequence numbers the pacer
 * stamps, or from its REMB; a subscriber that gives neither is paced at
 * a rate that holds nothing back. RTCP and events bypass the pacers. */

/* Padding leaves the pacer under this SSRC and is given a route's RTX
 * stream (SSRC, payload type and sequence number) at poll. */
#define PADDING_PLACEHOLDER_SSRC 0x70616400u
#define PADDING_PLACEHOLDER_PT 127

/* The route whose RTX stream carries probe padding: one forwarding now if
 * there is one, so that the padding rides on a stream the browser knows.
 * Never one whose track is gone: its stream has ended, or is about to be
 * ended by a renegotiation. */
static route *padding_route(endpoint *e)
{
    route *any = NULL;
    for (size_t i = 0; i < e->n_routes; i++) {
        route *rt = &e->routes[i];
        if (!rt->cfg.out_rtx_ssrc || !rt->cfg.out_rtx_pt || !rt->pub)
            continue;
        if (rt->fwd.cur != PL_LAYER_NONE && !rt->cfg.paused)
            return rt;
        if (!any)
            any = rt;
    }
    return any;
}

/* Whether any route has an RTX stream padding could ride on, once its
 * track is there. */
static bool has_rtx_route(const endpoint *e)
{
    for (size_t i = 0; i < e->n_routes; i++)
        if (e->routes[i].cfg.out_rtx_ssrc && e->routes[i].cfg.out_rtx_pt)
            return true;
    return false;
}

/* Adds what a pacer counted of the figures /stats sums over subscribers
 * (kept in the downlink once its pacer is gone, in the router once the
 * subscriber is). */
static void add_pacer_counts(const pl_pacer *p, int64_t now, uint64_t *rtx_dropped,
                             uint64_t *padding_packets, uint64_t *padding_bytes)
{
    pl_pacer_stats ps;
    pl_pacer_get_stats(p, now, &ps);
    *rtx_dropped += ps.rtx_over + ps.rtx_expired;
    *padding_packets += ps.padding_packets;
    *padding_bytes += ps.padding_bytes;
}

static void retire_pacer(pl_router *r, downlink *d)
{
    if (!d->pacer)
        return;
    add_pacer_counts(d->pacer, r->now, &d->rtx_dropped, &d->padding_packets, &d->padding_bytes);
    pl_pacer_destroy(d->pacer);
    d->pacer = NULL;
    r->n_pacers--;
}

static uint64_t estimate_of(const downlink *d)
{
    return d->estimated && d->bwe ? pl_bwe_estimate(d->bwe) : PL_ROUTER_UNPACED_BPS;
}

void router_downlink_setup(pl_router *r, endpoint *e, int64_t now)
{
    if (!e->n_routes && !e->dl)
        return;
    if (!e->dl) {
        e->dl = pl_env_alloc(&r->env, sizeof(*e->dl));
        if (!e->dl)
            return; /* its packets are queued unpaced */
        memset(e->dl, 0, sizeof(*e->dl));
    }
    downlink *d = e->dl;
    /* The extension id is the same on every route of a transport. */
    bool on = e->n_routes ? e->routes[0].cfg.estimate : d->on;
    uint8_t ext = !on ? 0 : e->n_routes ? e->routes[0].cfg.twcc_ext : d->twcc_ext;
    bool estimated = on && (ext || d->remb);
    d->on = on;
    bool padding = estimated && ext && has_rtx_route(e);
    pl_pacer_config cfg = {.twcc_ext = ext,
                           .padding_ssrc = padding ? PADDING_PLACEHOLDER_SSRC : 0,
                           .padding_pt = PADDING_PLACEHOLDER_PT,
                           .packet_overhead = PL_ROUTER_PACKET_OVERHEAD};
    bool same = d->twcc_ext == ext && d->estimated == estimated && d->padding == padding;
    if (same && (d->pacer || !estimated))
        return;
    /* Another extension id numbers packets afresh: the estimate's history
     * of what was sent would not match the feedback. */
    if (d->bwe && ext != d->twcc_ext) {
        pl_bwe_destroy(d->bwe);
        d->bwe = NULL;
    }
    if (estimated && !d->bwe) {
        if (!(d->bwe = pl_bwe_create(&r->env, PL_ROUTER_START_BPS))) {
            estimated = false;
        } else {
            pl_bwe_set_log_id(d->bwe, e->id);
            d->starting = true;
            d->start_until = now + DL_START_MAX_US;
        }
    }
    d->twcc_ext = ext;
    d->estimated = estimated;
    d->padding = padding;
    cfg.max_video_delay_us = 2 * VIDEO_FLUSH_US; /* the flush comes first */
    cfg.start_bps = estimate_of(d);
    /* Renegotiation is rare: what the old pacer held is dropped. Without
     * an estimate there is nothing to pace at: copies go straight to the
     * queue, as they come, without a second copy or a pool of slots. */
    retire_pacer(r, d);
    if (estimated && (d->pacer = pl_pacer_create(&r->env, &cfg)))
        r->n_pacers++;
}

void router_downlink_forget(endpoint *s, const route *rt)
{
    if (!s->dl || !s->dl->pacer)
        return;
    pl_pacer_drop_ssrc(s->dl->pacer, rt->cfg.out_ssrc);
    if (rt->cfg.out_rtx_ssrc)
        pl_pacer_drop_ssrc(s->dl->pacer, rt->cfg.out_rtx_ssrc);
}

void router_downlink_free(pl_router *r, endpoint *e)
{
    downlink *d = e->dl;
    if (!d)
        return;
    retire_pacer(r, d);
    r->gone_rtx_dropped += d->rtx_dropped;
    r->gone_padding_packets += d->padding_packets;
    r->gone_padding_bytes += d->padding_bytes;
    pl_bwe_destroy(d->bwe);
    pl_env_free(&r->env, d);
    e->dl = NULL;
}

bool router_send_copy(pl_router *r, endpoint *s, route *rt, const uint8_t *pkt, size_t len,
                      uint16_t seq, uint32_t ts, const pl_vp8_fields *vf, bool resend, bool audio)
{
    outq o;
    router_describe_copy(s, rt, pkt, len, seq, ts, vf, resend, &o);
    downlink *d = s->dl;
    if (!d || !d->pacer) {
        router_enqueue_copy(r, &o);
        return true;
    }
    int n = router_write_copy(&o, r->copy, sizeof(r->copy));
    if (n < 0) {
        r->st.malformed++;
        return true;
    }
    enum pl_pacer_class cls = resend ? PL_PACER_RTX : audio ? PL_PACER_AUDIO : PL_PACER_VIDEO;
    bool marker = (r->copy[1] & 0x80) != 0;
    if (pl_pacer_push(d->pacer, r->now, cls, r->copy, (size_t)n, marker) == PL_OK)
        return true;
    r->st.pacer_refused++;
    return false;
}

/* The bits a pacer let out, as an output; false for padding that has no
 * stream to go on (dropped). */
static bool paced_output(pl_router *r, endpoint *e, const pl_pacer_out *po, int64_t send_us,
                         pl_router_output *out, uint8_t *buf)
{
    downlink *d = e->dl;
    enum pl_router_out_reason why = PL_ROUTER_MEDIA;
    if (po->cls == PL_PACER_RTX)
        why = PL_ROUTER_RESENT;
    if (po->cls == PL_PACER_PADDING) {
        route *rt = padding_route(e);
        if (!rt) {
            r->st.padding_dropped++; /* its routes changed since the pacer was made */
            return false;
        }
        pl_rtp_set_ssrc(buf, rt->cfg.out_rtx_ssrc);
        pl_rtp_set_payload_type(buf, rt->cfg.out_rtx_pt);
        pl_rtp_set_seq(buf, rt->rtx_seq++); /* after the route's resends, never on them */
        why = PL_ROUTER_PADDING;
    }
    if (d->bwe && d->twcc_ext)
        pl_bwe_on_sent(d->bwe, send_us, po->twcc_seq, po->len + PL_ROUTER_PACKET_OVERHEAD,
                       po->cluster);
    *out = (pl_router_output){.kind = PL_ROUTER_OUT_RTP,
                              .reason = why,
                              .transport = e->id,
                              .len = po->len,
                              .held_us = po->queued_us};
    return true;
}

int pl_router_poll_output(pl_router *r, int64_t now_us, pl_router_output *out, uint8_t *buf,
                          size_t cap)
{
    /* A send time is when the packet leaves, not when the datagram that
     * made it arrived: a worker that reads its socket late (on two cores
     * shared with three browsers, 40 to 140 ms now and then) would
     * otherwise show its own lateness as a queue on every subscriber's
     * path, and each estimate was cut to a few hundred kbit/s at once. */
    int64_t send_us = now_us > r->now ? now_us : r->now;
    int rc = router_queue_pop(r, out, buf, cap);
    if (rc != PL_EAGAIN)
        return rc;
    /* Then the pacers, each until it holds back, resuming where the last
     * call stopped. Without any pacer, no subscriber is visited. */
    while (r->n_pacers && r->pace_next) {
        endpoint *e = r->pace_next;
        downlink *d = e->dl;
        if (d && d->pacer) {
            pl_pacer_out po;
            rc = pl_pacer_poll(d->pacer, r->now, &po, buf, cap);
            if (rc == PL_OK && paced_output(r, e, &po, send_us, out, buf))
                return PL_OK;
            if (rc != PL_EAGAIN && rc != PL_OK)
                return rc;
            if (rc == PL_OK)
                continue; /* padding dropped: the next one */
        }
        r->pace_next = e->next;
    }
    router_reset_queue(r);
    return PL_EAGAIN;
}

/* ---- feedback from subscribers ---- */

static void rate_changed(pl_router *r, downlink *d, int64_t now)
{
    if (!d->pacer || !d->estimated)
        return;
    uint64_t bps = pl_bwe_estimate(d->bwe);
    pl_pacer_set_rate(d->pacer, bps);
    /* Moved by more than ALLOC_MOVE_PCT since the last allocation, or
     * while starting up (whether it carries everything yet): the next
     * allocation now. */
    uint64_t last = d->alloc_bps;
    uint64_t diff = bps > last ? bps - last : last - bps;
    if (d->starting || (last && diff * 100 > last * ALLOC_MOVE_PCT))
        r->next_alloc = min64(r->next_alloc, now);
}

/* Round-trip time from a report block about a stream the relay sends:
 * the time since the sender report it echoes, less the receiver's delay. */
static void note_report(downlink *d, endpoint *e, const pl_rtcp_report *rb, int64_t now)
{
    if (!rb->lsr)
        return;
    for (size_t i = 0; i < e->n_routes; i++) {
        const route *rt = &e->routes[i];
        if (rt->cfg.out_ssrc != rb->ssrc || !rt->sr_at || rt->sr_mid != rb->lsr)
            continue;
        int64_t rtt = now - rt->sr_at - (int64_t)((uint64_t)rb->dlsr * 1000000u / 65536u);
        if (rtt <= 0)
            return;
        d->rtt_us = rtt;
        if (d->bwe)
            pl_bwe_on_rtt(d->bwe, rtt);
        return;
    }
}

void router_downlink_rtcp(pl_router *r, endpoint *e, const pl_rtcp_packet *p, int64_t now)
{
    downlink *d = e->dl;
    if (!d)
        return;
    switch (p->kind) {
    case PL_RTCP_K_TWCC:
        r->st.downlink_feedback++;
        if (d->bwe && d->twcc_ext) {
            pl_bwe_on_feedback(d->bwe, now, &p->u.twcc);
            rate_changed(r, d, now);
        }
        break;
    case PL_RTCP_K_REMB:
        r->st.downlink_remb++;
        if (!d->on)
            break; /* not estimated: what it says changes nothing */
        if (!d->remb) {
            /* The first REMB: from now on the subscriber is paced. */
            d->remb = true;
            router_downlink_setup(r, e, now);
        }
        if (d->bwe) {
            pl_bwe_on_remb(d->bwe, now, p->u.remb.bitrate_bps);
            rate_changed(r, d, now);
        }
        break;
    case PL_RTCP_K_RR:
        for (size_t i = 0; i < p->u.rr.n_reports; i++)
            note_report(d, e, &p->u.rr.reports[i], now);
        break;
    case PL_RTCP_K_SR:
        for (size_t i = 0; i < p->u.sr.n_reports; i++)
            note_report(d, e, &p->u.sr.reports[i], now);
        break;
    default:
        break;
    }
}

void router_downlink_sr_sent(route *rt, const pl_rtcp_sr *sr, int64_t now)
{
    rt->sr_mid = (uint32_t)(sr->ntp >> 16);
    rt->sr_at = now;
}

/* ---- what the allocation asks of a downlink ---- */

uint64_t router_downlink_estimate(const endpoint *e)
{
    const downlink *d = e->dl;
    return d && d->estimated && d->bwe && d->pacer ? pl_bwe_estimate(d->bwe) : 0;
}

bool router_downlink_starting(const endpoint *e)
{
    return e->dl && e->dl->starting;
}

bool router_downlink_start_done(endpoint *e, bool all_fits, int64_t now)
{
    downlink *d = e->dl;
    if (!d || !d->starting)
        return false;
    if (d->estimated && d->bwe && pl_bwe_starting(d->bwe) && now < d->start_until && !all_fits)
        return false;
    d->starting = false;
    return true;
}

bool router_downlink_probe(pl_router *r, endpoint *e, uint64_t bps, int64_t now)
{
    (void)r;
    downlink *d = e->dl;
    /* Only transport-wide feedback measures a probe. */
    if (!d || !d->bwe || !d->pacer || !d->twcc_ext)
        return false;
    if (d->probe_at && now - d->probe_at < ALLOC_PROBE_GAP_US)
        return false;
    pl_pacer_stats ps;
    pl_pacer_get_stats(d->pacer, now, &ps);
    if (ps.probes_started > ps.probes_done + ps.probes_cut)
        return false; /* one runs */
    d->probe_at = now;
    d->probe_bps = bps;
    pl_bwe_request_probe(d->bwe, now, bps);
    return true;
}

bool router_downlink_flush_video(pl_router *r, endpoint *e, int64_t now)
{
    (void)r;
    downlink *d = e->dl;
    if (!d || !d->pacer || !d->estimated)
        return false;
    pl_pacer_stats ps;
    pl_pacer_get_stats(d->pacer, now, &ps);
    if (ps.cls[PL_PACER_VIDEO].oldest_us <= VIDEO_FLUSH_US)
        return false;
    return pl_pacer_drop_video(d->pacer) > 0;
}

/* ---- timers ---- */

void router_downlink_tick(pl_router *r, int64_t now)
{
    for (endpoint *e = r->endpoints; e; e = e->next) {
        downlink *d = e->dl;
        pl_bwe_probe probe;
        /* Probes are measured by transport-wide feedback only. */
        if (d && d->pacer && d->bwe && d->twcc_ext && pl_bwe_probe_poll(d->bwe, now, &probe) &&
            pl_pacer_probe(d->pacer, now, &probe) == PL_OK)
            r->st.probes++;
    }
}

int64_t router_downlink_next(const pl_router *r)
{
    int64_t next = INT64_MAX;
    for (const endpoint *e = r->n_pacers ? r->endpoints : NULL; e; e = e->next)
        if (e->dl && e->dl->pacer)
            next = min64(next, pl_pacer_next_timeout(e->dl->pacer));
    return next;
}

void router_downlink_stats(const pl_router *r, pl_router_stats *out)
{
    out->pacer_rtx_dropped = r->gone_rtx_dropped;
    out->padding_packets = r->gone_padding_packets;
    out->padding_bytes = r->gone_padding_bytes;
    for (const endpoint *e = r->endpoints; e; e = e->next) {
        const downlink *d = e->dl;
        if (!d)
            continue;
        out->pacer_rtx_dropped += d->rtx_dropped;
        out->padding_packets += d->padding_packets;
        out->padding_bytes += d->padding_bytes;
        if (d->pacer)
            add_pacer_counts(d->pacer, r->now, &out->pacer_rtx_dropped, &out->padding_packets,
                             &out->padding_bytes);
    }
}

int pl_router_downlink_get(const pl_router *r, uint64_t id, pl_router_downlink *out)
{
    const endpoint *e = find_ep(r, id);
    if (!e || !e->dl)
        return PL_ENOTFOUND;
    const downlink *d = e->dl;
    pl_pacer_stats ps = {0};
    if (d->pacer)
        pl_pacer_get_stats(d->pacer, r->now, &ps);
    *out = (pl_router_downlink){.estimated = d->estimated,
                                .estimate_bps = estimate_of(d),
                                .rtt_us = d->rtt_us,
                                .queued_audio = ps.cls[PL_PACER_AUDIO].queued_bytes,
                                .queued_rtx = ps.cls[PL_PACER_RTX].queued_bytes,
                                .queued_video = ps.cls[PL_PACER_VIDEO].queued_bytes,
                                .video_max_delay_us = ps.cls[PL_PACER_VIDEO].max_delay_us};
    if (d->bwe)
        out->bwe = pl_bwe_get_stats(d->bwe);
    return PL_OK;
}
