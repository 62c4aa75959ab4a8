#include <string.h>

#include "parley/buf.h"
#include "router_int.h"

/* Feedback: subscribers' NACKs and keyframe requests, publishers' SRs,
 * and what the relay says in RTCP on its own on its timers (NACKs for
 * upstream losses, merged PLIs, receiver and sender reports), plus active
 * speakers. */

/* ---- RTCP from subscribers and publishers ---- */

static route *route_by_ssrc(endpoint *e, uint32_t out_ssrc)
{
    for (size_t i = 0; i < e->n_routes; i++)
        if (e->routes[i].cfg.out_ssrc == out_ssrc)
            return &e->routes[i];
    return NULL;
}

/* A subscriber's NACK: resend what the caches of the publisher track's
 * layers still have, each number as the packet it went out as (the
 * route's history says which layer and source packet it carried). Within
 * the budget: a number resent less than a round trip ago is not resent
 * (the first resend may still be on its way). Without RTX (audio), a
 * resend is the packet itself again: one resent twice reaches a receiver
 * that asked again just before the first resend arrived as a replay, which
 * its SRTP drops and its transport-wide feedback reports lost, so there
 * the wait is a round trip and a half. And a NACK asking for more
 * bytes than a key frame of the route's layer is answered with a key
 * frame instead, which repairs the picture for less. */
static void answer_nack(pl_router *r, endpoint *sub, const pl_rtcp_nack *nack, int64_t now)
{
    route *rt = route_by_ssrc(sub, nack->media_ssrc);
    if (!rt || !rt->pub)
        return;
    track *t = rt->pub->tracks[rt->track];
    if (t->uid != rt->track_uid)
        return;
    uint16_t lost[PL_RTCP_MAX_NACK * 17];
    size_t n = pl_rtcp_nack_lost(nack, lost, sizeof(lost) / sizeof(lost[0]));
    int64_t rtt = sub->dl && sub->dl->rtt_us ? sub->dl->rtt_us : DEFAULT_RTT_US;
    int64_t guard = rt->cfg.out_rtx_pt ? rtt : rtt + rtt / 2;
    /* First what would go, and how many bytes. */
    size_t keep = 0;
    uint64_t bytes = 0;
    for (size_t k = 0; k < n; k++) {
        pl_layerfwd_sent sent;
        if (!pl_layerfwd_lookup(&rt->fwd, lost[k], &sent) || sent.layer >= t->n_layers)
            continue;
        layer *l = &t->layers[sent.layer];
        size_t len;
        if (l->epoch != sent.epoch || !pl_pktcache_get(l->cache, sent.in_seq, &len))
            continue; /* the cache holds another source's packets now, or lost it */
        size_t slot = lost[k] & (RESENT_HISTORY - 1);
        if (rt->resent_seq[slot] == lost[k] && rt->resent_at[slot] &&
            now - rt->resent_at[slot] < guard) {
            r->st.nack_repeats++;
            continue;
        }
        lost[keep++] = lost[k];
        bytes += len;
    }
    uint8_t cur = rt->fwd.cur;
    if (t->cfg.video && cur < t->n_layers && t->layers[cur].kf_bytes &&
        bytes > t->layers[cur].kf_bytes && bytes >= NACK_KEYFRAME_FLOOR) {
        r->st.nack_keyframes++;
        router_request_keyframe(r, rt->pub, rt->track, pl_layerfwd_keyframe_layer(&rt->fwd), now);
        return;
    }
    for (size_t k = 0; k < keep; k++) {
        pl_layerfwd_sent sent;
        pl_layerfwd_lookup(&rt->fwd, lost[k], &sent);
        layer *l = &t->layers[sent.layer];
        size_t len;
        const uint8_t *pkt = pl_pktcache_get(l->cache, sent.in_seq, &len);
        size_t slot = lost[k] & (RESENT_HISTORY - 1);
        rt->resent_seq[slot] = lost[k];
        rt->resent_at[slot] = now;
        router_send_copy(r, sub, rt, pkt, len, lost[k], sent.ts, sent.vp8 ? &sent.vf : NULL, true,
                         !t->cfg.video);
    }
}

void pl_router_handle_rtcp(pl_router *r, int64_t now, uint64_t from, const uint8_t *data,
                           size_t len)
{
    endpoint *e = router_input_from(r, from);
    if (!e)
        return;
    if (now > r->now)
        r->now = now;
    pl_rtcp_iter it;
    pl_rtcp_packet *p = r->rtcp;
    pl_rtcp_iter_init(&it, data, len);
    for (size_t k = 0; k < RTCP_MAX_PARTS && pl_rtcp_next(&it, p) == 1; k++) {
        uint32_t media = 0;
        router_downlink_rtcp(r, e, p, now);
        switch (p->kind) {
        case PL_RTCP_K_NACK:
            answer_nack(r, e, &p->u.nack, now);
            break;
        case PL_RTCP_K_PLI:
            media = p->u.pli.media_ssrc;
            break;
        case PL_RTCP_K_FIR:
            media = p->u.fir.n_entries ? p->u.fir.entries[0].ssrc : 0;
            break;
        case PL_RTCP_K_SR:
            /* A publisher's NTP <-> RTP mapping of one layer, for its
             * subscribers' SRs and for timestamps across layer switches. */
            for (size_t i = 0; i < e->n_tracks; i++)
                for (size_t li = 0; li < e->tracks[i]->n_layers; li++) {
                    track *t = e->tracks[i];
                    layer *l = &t->layers[li];
                    if (l->ssrc != p->u.sr.ssrc || !p->u.sr.ssrc)
                        continue;
                    pl_rtp_rx_sr(&l->rx, p->u.sr.ntp, p->u.sr.rtp_ts, now);
                    if (l->src == l->ssrc)
                        t->clocks[li] = (pl_layer_clock){.valid = true,
                                                         .epoch = l->epoch,
                                                         .ntp = p->u.sr.ntp,
                                                         .rtp = p->u.sr.rtp_ts};
                }
            break;
        default:
            break;
        }
        /* A keyframe of the layer the route is on, or is about to be on
         * (not while its video is held back: asked for when it ends). */
        route *rt = media && !router_downlink_starting(e) ? route_by_ssrc(e, media) : NULL;
        if (rt)
            router_request_keyframe(r, rt->pub, rt->track, pl_layerfwd_keyframe_layer(&rt->fwd),
                                    now);
    }
}

/* ---- timers: loss repair, reports, speakers ---- */

/* Asks a publisher for the packets it lost on the way to the relay (RR +
 * generic NACK, RFC 4585). */
static void send_nack(pl_router *r, endpoint *p, const layer *l, const uint16_t *lost, size_t n)
{
    uint8_t buf[1200];
    pl_wbuf wb = pl_wbuf_make(buf, sizeof(buf));
    pl_rtcp_write_rr(&wb, &(pl_rtcp_rr){.ssrc = PL_ROUTER_SSRC});
    pl_rtcp_nack nack = {.sender_ssrc = PL_ROUTER_SSRC, .media_ssrc = l->ssrc};
    nack.n_items = pl_rtcp_nack_pack(lost, n, nack.items, PL_RTCP_MAX_NACK);
    pl_rtcp_write_nack(&wb, &nack);
    router_enqueue_rtcp(r, p->id, PL_ROUTER_NACK, &wb);
}

/* A publisher without transport-wide feedback that takes REMB is told the
 * receive-side estimate after each receiver report, for all its streams:
 * its worst loss since the last report decides (rxbwe.h). */
static void write_remb(pl_router *r, endpoint *e, const pl_rtcp_rr *rr, int64_t now, pl_wbuf *wb)
{
    uint8_t worst = 0;
    pl_rtcp_remb remb = {.sender_ssrc = PL_ROUTER_SSRC};
    for (size_t i = 0; i < rr->n_reports; i++) {
        if (rr->reports[i].fraction_lost > worst)
            worst = rr->reports[i].fraction_lost;
        if (remb.n_ssrcs < PL_RTCP_MAX_REMB_SSRCS)
            remb.ssrcs[remb.n_ssrcs++] = rr->reports[i].ssrc;
    }
    remb.bitrate_bps = pl_rxbwe_update(&e->rxbwe, now, worst);
    pl_rtcp_write_remb(wb, &remb);
    r->st.remb_sent++;
}

/* Receiver reports to a publisher (one block per layer of each track),
 * sender reports to a subscriber (one per forwarded stream whose current
 * layer's publisher reported), mapped through the route's timestamp
 * offset. */
static void send_reports(pl_router *r, endpoint *e, int64_t now)
{
    uint8_t buf[1200];
    pl_rtcp_rr rr = {.ssrc = PL_ROUTER_SSRC};
    for (size_t i = 0; i < e->n_tracks; i++)
        for (size_t li = 0; li < e->tracks[i]->n_layers; li++) {
            layer *l = &e->tracks[i]->layers[li];
            if (l->rx.started && rr.n_reports < PL_RTCP_MAX_REPORTS)
                pl_rtp_rx_report(&l->rx, l->src, now, &rr.reports[rr.n_reports++]);
        }
    if (rr.n_reports) {
        pl_wbuf wb = pl_wbuf_make(buf, sizeof(buf));
        pl_rtcp_write_rr(&wb, &rr);
        if (e->remb)
            write_remb(r, e, &rr, now, &wb);
        router_enqueue_rtcp(r, e->id, PL_ROUTER_REPORT, &wb);
    }
    for (size_t i = 0; i < e->n_routes; i++) {
        route *rt = &e->routes[i];
        if (rt->fwd.cur == PL_LAYER_NONE || rt->cfg.paused || !rt->pub)
            continue;
        const track *t = rt->pub->tracks[rt->track];
        if (t->uid != rt->track_uid || rt->fwd.cur >= t->n_layers)
            continue;
        const layer *l = &t->layers[rt->fwd.cur];
        pl_rtcp_sr sr;
        if (l->epoch != rt->fwd.epoch || !pl_sr_map(&l->rx, rt->cfg.out_ssrc, rt->fwd.rw.ts_offset,
                                                    rt->packets, rt->octets, now, &sr))
            continue;
        pl_wbuf wb = pl_wbuf_make(buf, sizeof(buf));
        pl_rtcp_write_sr(&wb, &sr);
        router_enqueue_rtcp(r, e->id, PL_ROUTER_REPORT, &wb);
        router_downlink_sr_sent(rt, &sr, now);
    }
}

/* Transport-wide feedback to a publisher: what arrived since the last. */
static void send_twcc(pl_router *r, endpoint *e, int64_t now)
{
    uint32_t media = e->n_tracks ? e->tracks[0]->layers[0].ssrc : 0;
    if (!pl_twcc_rx_feedback(e->twcc, now, PL_ROUTER_SSRC, media, r->twcc_fb))
        return;
    uint8_t buf[1400];
    pl_wbuf wb = pl_wbuf_make(buf, sizeof(buf));
    pl_rtcp_write_twcc(&wb, r->twcc_fb);
    router_enqueue_rtcp(r, e->id, PL_ROUTER_FEEDBACK, &wb);
}

static void run_repair(pl_router *r, int64_t now)
{
    int64_t next = now + REPAIR_TICK_US;
    for (endpoint *e = r->endpoints; e; e = e->next) {
        if (!e->connected)
            continue;
        for (size_t i = 0; i < e->n_tracks; i++)
            for (size_t li = 0; li < e->tracks[i]->n_layers; li++) {
                track *t = e->tracks[i];
                layer *l = &t->layers[li];
                if (t->cfg.nack) {
                    uint16_t lost[64];
                    size_t n = pl_nack_gen_poll(&l->nack, now, lost, 64);
                    if (n)
                        send_nack(r, e, l, lost, n);
                    next = min64(next, pl_nack_gen_next(&l->nack));
                }
                /* Losses past repair: a keyframe is the way back. Routes
                 * waiting to switch to the layer ask until it comes. */
                bool want = pl_nack_gen_take_keyframe_need(&l->nack) || l->want_keyframe;
                if (want && t->cfg.video && l->ssrc && pl_keyframe_limiter_request(&l->kf, now))
                    router_send_pli(r, e, t, li);
                if (pl_keyframe_limiter_poll(&l->kf, now) && l->ssrc)
                    router_send_pli(r, e, t, li);
                next = min64(next, pl_keyframe_limiter_next(&l->kf));
            }
        if (e->twcc) {
            if (pl_twcc_rx_next(e->twcc) <= now)
                send_twcc(r, e, now);
            next = min64(next, pl_twcc_rx_next(e->twcc));
        }
        if (now >= e->next_report) {
            if (e->next_report)
                send_reports(r, e, now);
            /* Spread transports over the interval. */
            e->next_report = now + PL_ROUTER_REPORT_US - (int64_t)(e->id % 97) * 1000;
        }
    }
    r->next_repair = next;
}

/* Publishers whose audio became loud or fell silent. */
static void check_speakers(pl_router *r, int64_t now)
{
    r->next_speaker_check = now + PL_ROUTER_SPEAKER_CHECK_US;
    for (endpoint *e = r->endpoints; e; e = e->next)
        for (size_t i = 0; i < e->n_tracks; i++) {
            track *t = e->tracks[i];
            bool speaking = now < t->loud_until;
            if (!t->cfg.audio_level_ext || speaking == t->speaking)
                continue;
            t->speaking = speaking;
            outq *o = router_enqueue(r);
            if (o)
                *o = (outq){.kind = PL_ROUTER_OUT_SPEAKING,
                            .transport = e->id,
                            .speaking = speaking,
                            .level = t->level};
        }
}

void pl_router_handle_timeout(pl_router *r, int64_t now)
{
    router_reset_queue(r);
    if (now > r->now)
        r->now = now;
    /* What subscribers need of each layer changes with their targets and
     * allocations, so dynacast looks again after either. */
    bool needs = now >= r->next_layer_check || now >= r->next_alloc;
    if (now >= r->next_layer_check)
        router_check_layers(r, now);
    if (now >= r->next_repair)
        run_repair(r, now);
    if (now >= r->next_speaker_check)
        check_speakers(r, now);
    if (now >= r->next_alloc)
        router_alloc_run(r, now);
    if (needs)
        router_dynacast_run(r, now);
    router_downlink_tick(r, now);
}

int64_t pl_router_next_timeout(const pl_router *r)
{
    return min64(min64(min64(r->next_repair, r->next_speaker_check), r->next_layer_check),
                 min64(r->next_alloc, router_downlink_next(r)));
}
