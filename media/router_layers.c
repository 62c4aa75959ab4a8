#include <string.h>

#include "parley/buf.h"
#include "router_int.h"

/* A track's layers: their receive state, which layer a publisher's packet
 * belongs to, which layer each route gets, and keyframe requests to them.
 * A track without simulcast is one layer with the track's own SSRCs. */

/* ---- receive state ---- */

static void layer_ssrcs(const pl_track *cfg, size_t li, uint32_t *ssrc, uint32_t *rtx)
{
    *ssrc = cfg->n_layers ? cfg->layers[li].ssrc : cfg->ssrc;
    *rtx = cfg->n_layers ? cfg->layers[li].rtx_ssrc : cfg->rtx_ssrc;
}

void router_layer_reset(track *t, size_t li, uint32_t src)
{
    layer *l = &t->layers[li];
    l->src = src;
    l->epoch++;
    if (l->cached) /* a fresh cache is empty: no need to touch its pages */
        pl_pktcache_clear(l->cache);
    l->cached = false;
    pl_rtp_rx_init(&l->rx, t->cfg.video ? 90000 : 48000);
    pl_nack_gen_init(&l->nack, NULL);
    l->width = l->height = 0;
    l->size_probe_at = INT64_MIN;
    t->clocks[li].valid = false;
}

int router_layers_init(pl_router *r, track *t)
{
    t->n_layers = t->cfg.n_layers ? t->cfg.n_layers : 1;
    if (t->n_layers > PL_MAX_LAYERS)
        t->n_layers = PL_MAX_LAYERS;
    t->layers = pl_env_alloc(&r->env, t->n_layers * sizeof(*t->layers));
    if (!t->layers)
        return PL_ENOMEM;
    memset(t->layers, 0, t->n_layers * sizeof(*t->layers));
    for (size_t i = 0; i < t->n_layers; i++) {
        layer *l = &t->layers[i];
        l->cache = pl_pktcache_create(&r->env, t->cfg.video ? CACHE_VIDEO : CACHE_AUDIO);
        if (!l->cache) {
            router_layers_free(r, t);
            return PL_ENOMEM;
        }
        layer_ssrcs(&t->cfg, i, &l->ssrc, &l->rtx_ssrc);
        pl_keyframe_limiter_init(&l->kf, PL_ROUTER_KEYFRAME_INTERVAL_US);
        l->last_at = INT64_MIN;
        router_layer_reset(t, i, 0);
    }
    return PL_OK;
}

void router_layers_free(pl_router *r, track *t)
{
    for (size_t i = 0; t->layers && i < t->n_layers; i++)
        pl_pktcache_destroy(&r->env, t->layers[i].cache);
    pl_env_free(&r->env, t->layers);
    t->layers = NULL;
}

void router_layers_update(track *t, const pl_track *cfg)
{
    t->cfg = *cfg;
    for (size_t i = 0; i < t->n_layers; i++) {
        uint32_t ssrc, rtx;
        layer_ssrcs(cfg, i, &ssrc, &rtx);
        if (ssrc)
            t->layers[i].ssrc = ssrc;
        if (rtx || !cfg->rtx_pt)
            t->layers[i].rtx_ssrc = rtx;
    }
}

/* ---- binding packets to layers ---- */

static bool ext_string(const uint8_t *pkt, const pl_rtp_header *h, uint8_t id, char *out,
                       size_t cap)
{
    pl_rtp_ext ext;
    return id && pl_rtp_ext_find(pkt, h, id, &ext) == PL_OK &&
           pl_rtp_ext_string(&ext, out, cap) == PL_OK;
}

/* The track a packet names by its MID; without one, the transport's only
 * simulcast track (its RID then says the layer). */
static track *track_by_mid(const endpoint *e, const uint8_t *pkt, const pl_rtp_header *h)
{
    uint8_t mid_ext = 0;
    track *simulcast = NULL;
    size_t n_simulcast = 0;
    for (size_t i = 0; i < e->n_tracks; i++) {
        if (e->tracks[i]->cfg.mid_ext)
            mid_ext = e->tracks[i]->cfg.mid_ext;
        if (e->tracks[i]->cfg.n_layers) {
            simulcast = e->tracks[i];
            n_simulcast++;
        }
    }
    char mid[PL_MID_MAX + 1];
    if (!ext_string(pkt, h, mid_ext, mid, sizeof(mid)))
        return n_simulcast == 1 ? simulcast : NULL;
    for (size_t i = 0; i < e->n_tracks; i++)
        if (strcmp(e->tracks[i]->cfg.mid, mid) == 0)
            return e->tracks[i];
    return NULL;
}

track *router_bind(const endpoint *e, const uint8_t *pkt, const pl_rtp_header *h, size_t *li,
                   bool *rtx)
{
    for (size_t i = 0; i < e->n_tracks; i++) {
        track *t = e->tracks[i];
        for (size_t k = 0; k < t->n_layers; k++) {
            const layer *l = &t->layers[k];
            if ((l->ssrc == h->ssrc || l->rtx_ssrc == h->ssrc) && h->ssrc) {
                *li = k;
                *rtx = l->ssrc != h->ssrc;
                return t;
            }
        }
    }
    /* A source the offer did not name (RFC 8843 15, RFC 8852 3). */
    track *t = track_by_mid(e, pkt, h);
    if (!t)
        return NULL;
    *rtx = t->cfg.rtx_pt && h->payload_type == t->cfg.rtx_pt;
    size_t k = 0;
    if (t->cfg.n_layers) {
        char rid[PL_RID_MAX + 1];
        if (!ext_string(pkt, h, *rtx ? t->cfg.rrid_ext : t->cfg.rid_ext, rid, sizeof(rid)))
            return NULL;
        while (k < t->n_layers && strcmp(t->cfg.layers[k].rid, rid) != 0)
            k++;
        if (k == t->n_layers)
            return NULL;
    }
    if (*rtx)
        t->layers[k].rtx_ssrc = h->ssrc;
    else
        t->layers[k].ssrc = h->ssrc;
    *li = k;
    return t;
}

/* ---- the layer each route gets ---- */

void router_layer_order(const track *t, uint8_t *order)
{
    bool sized = true;
    for (size_t k = 0; k < t->n_layers; k++) {
        order[k] = (uint8_t)k;
        sized = sized && t->layers[k].width && t->layers[k].height;
    }
    if (!sized)
        return;
    for (size_t k = 1; k < t->n_layers; k++) {
        uint8_t v = order[k];
        uint32_t area = (uint32_t)t->layers[v].width * t->layers[v].height;
        size_t j = k;
        for (; j > 0; j--) {
            const layer *o = &t->layers[order[j - 1]];
            if ((uint32_t)o->width * o->height <= area)
                break;
            order[j] = order[j - 1];
        }
        order[j] = v;
    }
}

void router_route_target(const track *t, route *rt, int64_t now)
{
    pl_layer_info info[PL_MAX_LAYERS];
    bool any = false;
    for (size_t k = 0; k < t->n_layers; k++) {
        const layer *l = &t->layers[k];
        info[k] = (pl_layer_info){.active = l->last_at != INT64_MIN &&
                                            now - l->last_at < PL_LAYER_ACTIVE_US,
                                  .width = l->width,
                                  .height = l->height};
        any = any || info[k].active;
    }
    uint8_t target = rt->fwd.target;
    if (t->n_layers == 1)
        target = 0;
    else if (any || target >= t->n_layers)
        target = pl_layer_choose(info, t->n_layers, rt->cfg.max_width, rt->cfg.max_height,
                                 rt->capped ? rt->cap_layer : PL_LAYER_NONE);
    /* With no layer active, a route keeps the one it wants. */
    pl_layerfwd_set_target(&rt->fwd, target);
    uint8_t temporal = rt->cfg.temporal_layers;
    if (rt->capped && rt->cap_temporal && (!temporal || rt->cap_temporal < temporal))
        temporal = rt->cap_temporal;
    pl_layerfwd_set_temporal(&rt->fwd, temporal);
}

/* A layer's rates over the window since rate_since, once it is long
 * enough. The rate a subscriber is charged is smoothed (half the last
 * window, half what it was: about a second of memory), so that a key
 * frame does not swing it. Temporal layers are told apart by counting
 * frames per TID: each frame is taken to cost the same, which undercounts
 * the lower layers a little (their frames are the references, a little
 * bigger), and the allocation's margin covers that. */
static void measure(layer *l, int64_t now)
{
    if (l->rate_since && now - l->rate_since < RATE_WINDOW_MIN_US)
        return;
    if (l->rate_since && now > l->rate_since) {
        uint64_t span = (uint64_t)(now - l->rate_since);
        l->bitrate = (uint32_t)(l->octets * 8 * 1000000 / span);
        uint32_t wire = (uint32_t)(l->wire_octets * 8 * 1000000 / span);
        l->wire_bps = l->wire_bps && wire ? (l->wire_bps + wire) / 2 : wire;
        uint32_t frames = 0;
        for (size_t k = 0; k < PL_ALLOC_MAX_TEMPORAL; k++)
            frames += l->tid_frames[k];
        for (size_t k = 0, sum = 0; frames && k < PL_ALLOC_MAX_TEMPORAL; k++) {
            sum += l->tid_frames[k];
            l->tid_cum[k] = (uint16_t)(sum * 1000 / frames);
        }
        memset(l->tid_frames, 0, sizeof(l->tid_frames));
    }
    l->octets = 0;
    l->wire_octets = 0;
    l->rate_since = now;
}

void router_check_layers(pl_router *r, int64_t now)
{
    r->next_layer_check = now + LAYER_CHECK_US;
    for (endpoint *e = r->endpoints; e; e = e->next)
        for (size_t i = 0; i < e->n_tracks; i++) {
            track *t = e->tracks[i];
            for (size_t k = 0; k < t->n_layers; k++) {
                measure(&t->layers[k], now);
                t->layers[k].want_keyframe = false;
            }
            for (size_t f = 0; f < t->fan_n; f++) {
                endpoint *s = t->fan[f].sub;
                route *rt = &s->routes[t->fan[f].route];
                router_route_target(t, rt, now);
                if (s->connected && !rt->cfg.paused && !rt->bw_paused && t->cfg.video &&
                    !router_downlink_starting(s) && pl_layerfwd_waiting(&rt->fwd))
                    t->layers[rt->fwd.target].want_keyframe = true;
            }
            if (!t->cfg.n_layers || !t->cfg.video || !t->fan_n || !e->connected)
                continue;
            /* A key frame says a layer's size: the choice needs it. */
            for (size_t k = 0; k < t->n_layers; k++) {
                layer *l = &t->layers[k];
                if (l->width || l->last_at == INT64_MIN || now - l->last_at >= PL_LAYER_ACTIVE_US ||
                    now < l->size_probe_at)
                    continue;
                l->size_probe_at = now + SIZE_PROBE_US;
                router_request_keyframe(r, e, i, (uint8_t)k, now);
            }
        }
}

/* ---- keyframe requests ---- */

/* A PLI (RFC 4585) from the relay to a publisher. */
void router_send_pli(pl_router *r, endpoint *p, const track *t, size_t li)
{
    uint8_t buf[64];
    pl_wbuf wb = pl_wbuf_make(buf, sizeof(buf));
    pl_rtcp_write_pli(
        &wb, &(pl_rtcp_pli){.sender_ssrc = PL_ROUTER_SSRC, .media_ssrc = t->layers[li].ssrc});
    router_enqueue_rtcp(r, p->id, PL_ROUTER_KEYFRAME, &wb);
    if (t->cfg.n_layers)
        r->st.layer_keyframe_requests++;
}

/* At most once per interval and layer: requests inside it are merged into
 * one sent when it ends. */
void router_request_keyframe(pl_router *r, endpoint *p, size_t ti, uint8_t li, int64_t now)
{
    if (!p || !p->connected || ti >= p->n_tracks)
        return;
    track *t = p->tracks[ti];
    if (li >= t->n_layers || !t->layers[li].ssrc || !t->cfg.video)
        return;
    layer *l = &t->layers[li];
    if (pl_keyframe_limiter_request(&l->kf, now))
        router_send_pli(r, p, t, li);
    else
        r->next_repair = min64(r->next_repair, pl_keyframe_limiter_next(&l->kf));
}

void router_request_keyframes_for(pl_router *r, endpoint *sub, int64_t now)
{
    for (size_t i = 0; i < sub->n_routes; i++) {
        route *rt = &sub->routes[i];
        if (!rt->cfg.paused && !rt->bw_paused && !router_downlink_starting(sub))
            router_request_keyframe(r, rt->pub, rt->track, pl_layerfwd_keyframe_layer(&rt->fwd),
                                    now);
    }
}
