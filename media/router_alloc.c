#include <stdio.h>
#include <string.h>

#include "router_int.h"

/* What each subscriber gets within its downlink's estimate: its routes are
 * described to the stream allocator (alloc.h) every ALLOC_US, and at once
 * when the estimate moves, and the result becomes each route's caps (the
 * largest layer, the temporal layers) or a pause of its video while even
 * the lowest layer does not fit, which the subscriber is told of. A
 * subscriber without an estimate (neither transport-wide feedback nor
 * REMB) is not limited. */

/* ---- describing a subscriber's routes ---- */

/* The publisher's audio is loud now: its video is the speaker's. */
static bool speaking(const endpoint *pub)
{
    for (size_t i = 0; i < pub->n_tracks; i++)
        if (!pub->tracks[i]->cfg.video && pub->tracks[i]->speaking)
            return true;
    return false;
}

/* A video route: its layers from smallest to largest (order), each one's
 * rate up to each temporal layer, and its caps. */
static void describe_video(const track *t, const route *rt, const uint8_t *order, int64_t now,
                           pl_alloc_stream *st)
{
    st->kind = PL_ALLOC_VIDEO;
    st->priority = t->cfg.screen       ? PL_ALLOC_SCREEN
                   : speaking(rt->pub) ? PL_ALLOC_SPEAKER
                                       : PL_ALLOC_OTHER;
    st->n_spatial = (uint8_t)t->n_layers;
    uint8_t tids = 1;
    for (size_t s = 0; s < t->n_layers; s++)
        if (t->layers[s].n_tids > tids)
            tids = t->layers[s].n_tids;
    st->n_temporal = tids;
    uint16_t w[PL_MAX_LAYERS], h[PL_MAX_LAYERS];
    for (size_t s = 0; s < t->n_layers; s++) {
        const layer *l = &t->layers[order[s]];
        w[s] = l->width;
        h[s] = l->height;
        /* Sent, or switched off by dynacast and to be had again. */
        uint32_t bps = router_dynacast_layer(t, order[s], now, &st->layer[s]);
        for (size_t k = 0; k < tids; k++) {
            /* A layer with fewer temporal layers than the others has all
             * of its frames at its top one. */
            uint32_t share = k + 1 >= l->n_tids || !l->tid_cum[k] ? 1000 : l->tid_cum[k];
            st->bps[s][k] = (uint32_t)((uint64_t)bps * share / 1000);
        }
    }
    st->max_spatial = pl_alloc_tile_cap(w, h, t->n_layers, rt->cfg.max_width, rt->cfg.max_height);
    st->max_temporal = rt->cfg.temporal_layers ? (uint8_t)(rt->cfg.temporal_layers - 1) : tids;
}

/* ---- applying the result ---- */

static void tell_paused(pl_router *r, const endpoint *e, const route *rt, bool paused)
{
    outq *o = router_enqueue(r);
    if (!o)
        return;
    *o = (outq){.kind = PL_ROUTER_OUT_VIDEO_PAUSED,
                .transport = e->id,
                .ssrc = rt->cfg.out_ssrc,
                .paused = paused};
    memcpy(o->mid, rt->cfg.mid, sizeof(o->mid));
}

/* The allocation of a video route as caps; a pause, or the end of one,
 * told. A stream of no measured layer yet (NOLAYER: the first half second
 * of a track) is not paused: it is held to its smallest layer until its
 * rates are known. */
static void apply_video(pl_router *r, endpoint *e, route *rt, const track *t, const uint8_t *order,
                        int64_t now)
{
    const pl_alloc_choice *c = &rt->alloc;
    rt->capped = true;
    rt->cap_temporal = 0;
    rt->cap_layer = order[0];
    if (c->state == PL_ALLOC_ON) {
        uint8_t s = c->forward ? c->fwd_spatial : c->spatial;
        uint8_t tl = c->forward ? c->fwd_temporal : c->temporal;
        rt->cap_layer = order[s < t->n_layers ? s : t->n_layers - 1];
        rt->cap_temporal = (uint8_t)(tl + 1);
    }
    uint8_t was = pl_layerfwd_keyframe_layer(&rt->fwd);
    bool paused = c->state == PL_ALLOC_NOFIT      ? true
                  : c->state == PL_ALLOC_UNWANTED ? rt->bw_paused
                                                  : false;
    bool resumed = rt->bw_paused && !paused;
    if (paused != rt->bw_paused) {
        rt->bw_paused = paused;
        tell_paused(r, e, rt, paused);
        if (paused) {
            r->st.video_pauses++;
            pl_layerfwd_stop(&rt->fwd); /* back at a key frame, as a new route */
        }
    }
    router_route_target(t, rt, now);
    if (rt->bw_paused || rt->cfg.paused || !e->connected)
        return;
    /* Resumed, or sent to another layer: its key frame now. */
    uint8_t want = pl_layerfwd_keyframe_layer(&rt->fwd);
    if (pl_layerfwd_waiting(&rt->fwd) && (want != was || resumed))
        router_request_keyframe(r, rt->pub, rt->track, want, now);
}

/* Back to no limits: the subscriber lost its estimate. */
static void release(pl_router *r, endpoint *e, int64_t now)
{
    for (size_t i = 0; i < e->n_routes; i++) {
        route *rt = &e->routes[i];
        if (!rt->capped && !rt->bw_paused)
            continue;
        rt->capped = false;
        memset(&rt->alloc, 0, sizeof(rt->alloc));
        if (rt->bw_paused) {
            rt->bw_paused = false;
            tell_paused(r, e, rt, false);
        }
        if (rt->pub)
            router_route_target(rt->pub->tracks[rt->track], rt, now);
    }
}

/* A subscriber's routes as the allocator's streams; `fresh`: holds from
 * earlier downgrades end. Returns how many (idx: their routes). */
static size_t describe(endpoint *e, bool fresh, int64_t now, pl_alloc_stream *st, size_t *idx,
                       uint8_t (*order)[PL_MAX_LAYERS])
{
    size_t n = 0;
    for (size_t i = 0; i < e->n_routes; i++) {
        route *rt = &e->routes[i];
        if (!rt->pub)
            continue;
        const track *t = rt->pub->tracks[rt->track];
        pl_alloc_stream *s = &st[n];
        memset(s, 0, sizeof(*s));
        s->unwanted = rt->cfg.paused;
        s->prev = rt->alloc;
        if (fresh)
            s->prev.hold_until_us = 0;
        if (t->cfg.video) {
            router_layer_order(t, order[n]);
            describe_video(t, rt, order[n], now, s);
        } else {
            s->kind = PL_ALLOC_AUDIO;
            s->bps[0][0] = t->layers[0].wire_bps;
        }
        idx[n++] = i;
    }
    return n;
}

/* During the start-up: whether the estimate already carries everything
 * the subscriber can use, so its video need not wait for the end of the
 * probes. */
/* How far the estimator's own probes may look: twice what the subscriber
 * uses or would like next, or a camera's top rate more if that is more (a
 * meeting grows by a participant at a time: one more video must fit
 * without a pause while a probe proves room for it), never under three
 * times the start; and a camera's top rate more for each video whose rates
 * are not measured yet (they count for nothing in the allocation, and a
 * start-up that stopped short of them would pause them as soon as they
 * are). */
#define PROBE_CEILING_MIN (3u * PL_ROUTER_START_BPS)
#define UNMEASURED_VIDEO_BPS 2500000u

static void set_probe_ceiling(endpoint *e, const pl_alloc_result *res)
{
    if (!e->dl->bwe)
        return;
    uint64_t use = res->probe_bps > res->total_bps ? res->probe_bps : res->total_bps;
    uint64_t c = use > UNMEASURED_VIDEO_BPS ? 2 * use : use + UNMEASURED_VIDEO_BPS;
    for (size_t k = 0; k < res->n_streams; k++)
        if (res->streams[k].state == PL_ALLOC_NOLAYER)
            c += UNMEASURED_VIDEO_BPS;
    pl_bwe_set_probe_ceiling(e->dl->bwe, c > PROBE_CEILING_MIN ? c : PROBE_CEILING_MIN);
}

static bool all_fits(endpoint *e, uint64_t budget, int64_t now)
{
    pl_alloc_stream st[PL_MAX_ROUTES];
    size_t idx[PL_MAX_ROUTES];
    uint8_t order[PL_MAX_ROUTES][PL_MAX_LAYERS];
    size_t n = describe(e, false, now, st, idx, order);
    pl_alloc_result res;
    if (!budget || pl_alloc_run(NULL, now, budget, st, n, &res) != PL_OK)
        return false;
    set_probe_ceiling(e, &res);
    if (res.wants_bps)
        return false;
    /* A video whose rates are not measured yet counts for nothing. */
    for (size_t k = 0; k < n; k++)
        if (res.streams[k].state == PL_ALLOC_NOLAYER)
            return false;
    return true;
}

/* A stream's allocation changed: told at debug level, so that what a
 * subscriber saw (a tile's frame rate, a pause) can be traced to its
 * estimate, or to the layers its publisher sent (each spatial layer from
 * the smallest: a for sent, s for switched off and to be had again, o for
 * not sent, and its rate at the top temporal layer). */
static void log_change(pl_router *r, const endpoint *e, const route *rt, const pl_alloc_stream *st,
                       const pl_alloc_choice *c, uint64_t budget, uint64_t total)
{
    const pl_alloc_choice *was = &rt->alloc;
    if (was->state == c->state && was->spatial == c->spatial && was->temporal == c->temporal)
        return;
    char layers[64] = "";
    size_t used = 0;
    for (unsigned k = 0; st->kind == PL_ALLOC_VIDEO && k < st->n_spatial; k++) {
        char state = st->layer[k] == PL_ALLOC_LAYER_ACTIVE      ? 'a'
                     : st->layer[k] == PL_ALLOC_LAYER_SUSPENDED ? 's'
                                                                : 'o';
        int n = snprintf(layers + used, sizeof(layers) - used, " %c%u", state,
                         (unsigned)(st->bps[k][st->n_temporal - 1] / 1000));
        if (n < 0 || (size_t)n >= sizeof(layers) - used)
            break;
        used += (size_t)n;
    }
    pl_env_logf(&r->env, PL_LOG_DEBUG,
                "alloc: subscriber %llu stream %08x: %s %u/%u -> %s %u/%u (budget %llu, "
                "allocated %llu bit/s; layers kbit/s%s)",
                (unsigned long long)e->id, rt->cfg.out_ssrc,
                pl_alloc_state_name((enum pl_alloc_state)was->state), was->spatial, was->temporal,
                pl_alloc_state_name((enum pl_alloc_state)c->state), c->spatial, c->temporal,
                (unsigned long long)budget, (unsigned long long)total, layers);
}

static void allocate(pl_router *r, endpoint *e, uint64_t budget, int64_t now)
{
    /* The estimate reached what a probe asked for: the room is measured,
     * not noise, so holds from earlier downgrades (which grow long after
     * a few on a noisy estimate) end now. */
    downlink *d = e->dl;
    bool proven = d->probe_bps && budget >= d->probe_bps;
    if (proven)
        d->probe_bps = 0;
    /* Twice what the last allocation wanted: a link that recovered, not
     * a threshold to flap around, so every hold ends. Not for a stream
     * that flapped after a probe: a probe through a shaper's burst can
     * prove more than the path carries for long. */
    bool recovered = d->want_bps && budget >= 2 * d->want_bps;
    pl_alloc_stream st[PL_MAX_ROUTES];
    size_t idx[PL_MAX_ROUTES];
    uint8_t order[PL_MAX_ROUTES][PL_MAX_LAYERS];
    size_t n = describe(e, recovered, now, st, idx, order);
    if (!n)
        return;
    if (proven)
        for (size_t k = 0; k < n; k++)
            if (!st[k].prev.backoff)
                st[k].prev.hold_until_us = 0;
    pl_alloc_result res;
    if (pl_alloc_run(NULL, now, budget, st, n, &res) != PL_OK)
        return;
    r->st.allocations++;
    d->want_bps = res.probe_bps;
    set_probe_ceiling(e, &res);
    for (size_t k = 0; k < n; k++) {
        route *rt = &e->routes[idx[k]];
        log_change(r, e, rt, &st[k], &res.streams[k], budget, res.total_bps);
        rt->alloc = res.streams[k];
        const track *t = rt->pub->tracks[rt->track];
        if (t->cfg.video)
            apply_video(r, e, rt, t, order[k], now);
    }
    /* Whether what it would like next fits: a probe, at most twice the
     * estimate (a bigger burst would fill the bottleneck's queue). */
    if (res.probe_bps > budget) {
        uint64_t bps = res.probe_bps < 2 * budget ? res.probe_bps : 2 * budget;
        if (router_downlink_probe(r, e, bps, now))
            r->st.alloc_probes++;
    }
}

void router_alloc_run(pl_router *r, int64_t now)
{
    r->next_alloc = now + ALLOC_US;
    for (endpoint *e = r->endpoints; e; e = e->next) {
        if (!e->dl)
            continue;
        uint64_t budget = router_downlink_estimate(e);
        bool started = router_downlink_starting(e) &&
                       router_downlink_start_done(e, all_fits(e, budget, now), now);
        if (router_downlink_starting(e))
            continue;
        if (!budget) {
            release(r, e, now);
        } else {
            e->dl->alloc_bps = budget;
            allocate(r, e, budget, now);
        }
        /* The video held back during the start-up: its key frames now. */
        if (started)
            router_request_keyframes_for(r, e, now);
        if (!budget)
            continue;
        if (!router_downlink_flush_video(r, e, now))
            continue;
        /* Its video waited too long: every video route starts again at a
         * key frame of the layer it gets now. */
        r->st.video_flushes++;
        for (size_t i = 0; i < e->n_routes; i++) {
            route *rt = &e->routes[i];
            if (!rt->pub || !rt->pub->tracks[rt->track]->cfg.video || rt->cfg.paused ||
                rt->bw_paused)
                continue;
            pl_layerfwd_stop(&rt->fwd);
            router_request_keyframe(r, rt->pub, rt->track, rt->fwd.target, now);
        }
    }
}

uint64_t router_alloc_paused(const pl_router *r)
{
    uint64_t n = 0;
    for (const endpoint *e = r->endpoints; e; e = e->next)
        for (size_t i = 0; i < e->n_routes; i++)
            n += e->routes[i].bw_paused;
    return n;
}
