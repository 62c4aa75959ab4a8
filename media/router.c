#include "parley/router.h"

#include <string.h>

#include "parley/buf.h"
#include "parley/rtp.h"
#include "parley/vp8.h"
#include "router_int.h"

/* Transports, their tracks and routes, the fan-out between them, and the
 * forwarding of publishers' packets. Feedback and timers are in
 * router_feedback.c, a track's layers in router_layers.c, the output queue
 * in router_queue.c. */

/* ---- transports, tracks and routes ---- */

static void free_track(pl_router *r, track *t)
{
    if (!t)
        return;
    router_layers_free(r, t);
    pl_env_free(&r->env, t->fan);
    pl_env_free(&r->env, t);
}

static track *new_track(pl_router *r, const pl_track *cfg)
{
    track *t = pl_env_alloc(&r->env, sizeof(*t));
    if (!t)
        return NULL;
    t->cfg = *cfg;
    t->uid = ++r->next_uid;
    if (router_layers_init(r, t) != PL_OK) {
        pl_env_free(&r->env, t);
        return NULL;
    }
    router_dynacast_init(t);
    return t;
}

static bool fan_append(pl_router *r, track *t, endpoint *sub, size_t ri)
{
    if (router_grow(r, (void **)&t->fan, &t->fan_cap, t->fan_n, t->fan_n + 1, sizeof(*t->fan), 8) !=
        PL_OK)
        return false;
    t->fan[t->fan_n++] = (fan_entry){.sub = sub, .route = ri};
    return true;
}

/* Resolves every route to its publisher track and recomputes every track's
 * subscriber list. Configuration changes are rare next to packets, so the
 * forwarding path never looks anything up. */
static void rebuild(pl_router *r)
{
    for (endpoint *e = r->endpoints; e; e = e->next)
        for (size_t i = 0; i < e->n_tracks; i++)
            e->tracks[i]->fan_n = 0;
    for (endpoint *s = r->endpoints; s; s = s->next)
        for (size_t ri = 0; ri < s->n_routes; ri++) {
            route *rt = &s->routes[ri];
            endpoint *p = find_ep(r, rt->cfg.publisher);
            bool had = rt->pub != NULL;
            rt->pub = NULL;
            for (size_t ti = 0; p && ti < p->n_tracks; ti++) {
                track *t = p->tracks[ti];
                if (strcmp(t->cfg.mid, rt->cfg.mid) != 0)
                    continue;
                rt->pub = p;
                rt->track = ti;
                if (rt->track_uid != t->uid) {
                    /* Another track behind the route: its stream goes on. */
                    pl_layerfwd_retrack(&rt->fwd, t->cfg.video ? 90000 : 48000,
                                        t->cfg.n_layers > 0);
                    rt->track_uid = t->uid;
                }
                router_route_target(t, rt, r->now);
                if (!fan_append(r, t, s, ri))
                    pl_env_logf(&r->env, PL_LOG_ERROR, "router: out of memory for routes");
                break;
            }
            if (had && !rt->pub)
                router_downlink_forget(s, rt);
        }
}

pl_router *pl_router_create(const pl_env *env)
{
    pl_router *r = pl_env_alloc(env, sizeof(*r));
    if (!r)
        return NULL;
    r->env = *env;
    r->by_id = pl_hmap_create(env);
    r->rtcp = pl_env_alloc(env, sizeof(*r->rtcp));
    r->twcc_fb = pl_env_alloc(env, sizeof(*r->twcc_fb));
    if (!r->by_id || !r->rtcp || !r->twcc_fb) {
        pl_hmap_destroy(r->by_id);
        pl_env_free(env, r->rtcp);
        pl_env_free(env, r->twcc_fb);
        pl_env_free(env, r);
        return NULL;
    }
    return r;
}

static void free_ep(pl_router *r, endpoint *e)
{
    for (size_t i = 0; i < e->n_tracks; i++)
        free_track(r, e->tracks[i]);
    pl_twcc_rx_destroy(e->twcc);
    router_downlink_free(r, e);
    pl_env_free(&r->env, e->routes);
    pl_env_free(&r->env, e);
}

void pl_router_destroy(pl_router *r)
{
    if (!r)
        return;
    while (r->endpoints) {
        endpoint *e = r->endpoints;
        r->endpoints = e->next;
        free_ep(r, e);
    }
    pl_hmap_destroy(r->by_id);
    pl_env_free(&r->env, r->q);
    pl_env_free(&r->env, r->arena);
    pl_env_free(&r->env, r->rtcp);
    pl_env_free(&r->env, r->twcc_fb);
    pl_env_free(&r->env, r);
}

int pl_router_add_transport(pl_router *r, uint64_t id)
{
    if (find_ep(r, id))
        return PL_EINVAL;
    endpoint *e = pl_env_alloc(&r->env, sizeof(*e));
    if (!e)
        return PL_ENOMEM;
    e->id = id;
    if (pl_hmap_put(r->by_id, &e->id, sizeof(e->id), e) != PL_OK) {
        pl_env_free(&r->env, e);
        return PL_ENOMEM;
    }
    e->next = r->endpoints;
    r->endpoints = e;
    return PL_OK;
}

void pl_router_remove_transport(pl_router *r, uint64_t id)
{
    for (endpoint **pp = &r->endpoints; *pp; pp = &(*pp)->next) {
        endpoint *e = *pp;
        if (e->id != id)
            continue;
        *pp = e->next;
        pl_hmap_remove(r->by_id, &e->id, sizeof(e->id), e);
        free_ep(r, e);
        /* Queued copies may point at its tracks' caches or routes. */
        router_reset_queue(r);
        rebuild(r);
        return;
    }
}

int pl_router_set_recorded(pl_router *r, uint64_t id, bool on)
{
    endpoint *e = find_ep(r, id);
    if (!e)
        return PL_ENOTFOUND;
    e->recorded = on;
    return PL_OK;
}

int pl_router_request_keyframe(pl_router *r, uint64_t id, uint32_t ssrc, int64_t now_us)
{
    endpoint *e = find_ep(r, id);
    for (size_t i = 0; e && ssrc && i < e->n_tracks; i++) {
        track *t = e->tracks[i];
        for (size_t li = 0; t->cfg.video && li < t->n_layers; li++)
            if (t->layers[li].ssrc == ssrc) {
                t->layers[li].want_keyframe = true;
                r->next_repair = min64(r->next_repair, now_us);
                return PL_OK;
            }
    }
    return PL_ENOTFOUND;
}

/* The recorder's copy of a packet just taken: it points at the scratch
 * copy, like the subscribers' copies queued after it. */
static void queue_record(pl_router *r, const endpoint *e, const track *t, size_t li, size_t len)
{
    outq *o = router_enqueue(r);
    if (!o)
        return;
    o->kind = PL_ROUTER_OUT_RECORD;
    o->transport = e->id;
    o->src = r->scratch;
    o->len = len;
    o->ssrc = t->layers[li].ssrc;
    o->video = t->cfg.video;
    o->screen = t->cfg.screen;
    o->n_layers = (uint8_t)t->n_layers;
    uint8_t order[PL_MAX_LAYERS];
    router_layer_order(t, order);
    for (size_t k = 0; k < t->n_layers; k++)
        if (order[k] == li)
            o->rank = (uint8_t)k;
    memcpy(o->mid, t->cfg.mid, sizeof(o->mid));
}

void pl_router_set_connected(pl_router *r, uint64_t id, int64_t now_us)
{
    endpoint *e = find_ep(r, id);
    if (!e || e->connected)
        return;
    e->connected = true;
    /* Nothing of its start-up could be measured before it was connected. */
    if (router_downlink_starting(e))
        e->dl->start_until = now_us + DL_START_MAX_US;
    router_request_keyframes_for(r, e, now_us); /* a new subscriber needs a picture now */
}

void pl_router_path_changed(pl_router *r, uint64_t id, int64_t now_us)
{
    endpoint *e = find_ep(r, id);
    if (e && e->dl && e->dl->bwe)
        pl_bwe_on_path_change(e->dl->bwe, now_us);
}

static bool same_layers(const pl_track *a, const pl_track *b)
{
    if (a->n_layers != b->n_layers)
        return false;
    for (size_t i = 0; i < a->n_layers && i < PL_MAX_LAYERS; i++)
        if (strcmp(a->layers[i].rid, b->layers[i].rid) != 0)
            return false;
    return true;
}

/* The same track renegotiated: same mid, kind and layers. */
static track *same_track(const endpoint *e, const pl_track *cfg)
{
    for (size_t k = 0; k < e->n_tracks; k++) {
        track *old = e->tracks[k];
        if (old->cfg.video == cfg->video && strcmp(old->cfg.mid, cfg->mid) == 0 &&
            same_layers(&old->cfg, cfg))
            return old;
    }
    return NULL;
}

int pl_router_set_tracks(pl_router *r, uint64_t id, const pl_track *tracks, size_t n)
{
    endpoint *e = find_ep(r, id);
    if (!e)
        return PL_ENOTFOUND;
    if (n > PL_MAX_TRACKS)
        return PL_EINVAL;
    for (size_t i = 0; i < n; i++)
        if (tracks[i].n_layers > PL_MAX_LAYERS)
            return PL_EINVAL;
    for (size_t i = 0; i < n; i++)
        for (size_t k = 0; k < i; k++)
            if (strcmp(tracks[i].mid, tracks[k].mid) == 0)
                return PL_EINVAL; /* mids name one track each */
    /* New tracks first, so that running out of memory changes nothing. */
    track *next[PL_MAX_TRACKS] = {0};
    for (size_t i = 0; i < n; i++) {
        if (same_track(e, &tracks[i]))
            continue;
        if (!(next[i] = new_track(r, &tracks[i]))) {
            for (size_t k = 0; k < i; k++)
                free_track(r, next[k]);
            return PL_ENOMEM;
        }
    }
    bool kept[PL_MAX_TRACKS] = {0};
    for (size_t i = 0; i < n; i++) {
        if (next[i])
            continue;
        /* The same track renegotiated: its receive state stays, and so
         * does an SSRC learned from its packets. */
        track *old = same_track(e, &tracks[i]);
        for (size_t k = 0; k < e->n_tracks; k++)
            kept[k] = kept[k] || e->tracks[k] == old;
        next[i] = old;
        router_layers_update(old, &tracks[i]);
    }
    for (size_t k = 0; k < e->n_tracks; k++)
        if (!kept[k])
            free_track(r, e->tracks[k]);
    memcpy(e->tracks, next, sizeof(next));
    e->n_tracks = n;
    e->twcc_ext = 0;
    bool remb = false;
    for (size_t i = 0; i < n; i++) {
        if (!e->twcc_ext)
            e->twcc_ext = tracks[i].twcc_ext;
        remb = remb || tracks[i].remb;
    }
    remb = remb && !e->twcc_ext;
    if (remb && !e->remb)
        pl_rxbwe_init(&e->rxbwe, 0);
    e->remb = remb;
    router_reset_queue(r);
    rebuild(r);
    router_dynacast_run(r, r->now);
    return PL_OK;
}

int pl_router_set_routes(pl_router *r, uint64_t id, const pl_route *routes, size_t n,
                         int64_t now_us)
{
    endpoint *e = find_ep(r, id);
    if (!e)
        return PL_ENOTFOUND;
    if (n > PL_MAX_ROUTES)
        return PL_EINVAL;
    /* Renegotiation re-sends every route: the output streams that survive
     * it keep their continuity. */
    route *next = n ? pl_env_alloc(&r->env, n * sizeof(*next)) : NULL;
    if (n && !next)
        return PL_ENOMEM;
    bool kept[PL_MAX_ROUTES] = {false};
    for (size_t i = 0; i < n; i++) {
        /* Its rate and layers follow the track it resolves to. */
        memset(&next[i], 0, sizeof(next[i]));
        pl_layerfwd_init(&next[i].fwd, 90000, false);
        for (size_t k = 0; k < e->n_routes; k++)
            if (e->routes[k].cfg.out_ssrc == routes[i].out_ssrc) {
                next[i] = e->routes[k];
                kept[k] = true;
            }
        next[i].cfg = routes[i];
        /* Back from a pause, a route starts as a new one. */
        if (routes[i].paused)
            pl_layerfwd_stop(&next[i].fwd);
    }
    for (size_t k = 0; k < e->n_routes; k++)
        if (!kept[k])
            router_downlink_forget(e, &e->routes[k]);
    /* Only the routes there are: a publisher has none, and a route's
     * state is several KB. */
    pl_env_free(&r->env, e->routes);
    e->routes = next;
    e->n_routes = n;
    if (now_us > r->now)
        r->now = now_us;
    router_reset_queue(r);
    rebuild(r);
    router_downlink_setup(r, e, now_us);
    /* Targets and the key frames routes wait for, at once. */
    router_check_layers(r, now_us);
    if (e->connected)
        router_request_keyframes_for(r, e, now_us);
    /* A tile that grew wants its layer back from the publisher now; with
     * an estimate the allocation grants it first, so that runs now too
     * rather than at its next period. */
    if (e->dl)
        r->next_alloc = min64(r->next_alloc, now_us);
    router_dynacast_run(r, now_us);
    return PL_OK;
}

/* ---- media from publishers ---- */

static void note_level(track *t, const uint8_t *pkt, const pl_rtp_header *h, int64_t now)
{
    pl_rtp_ext lvl;
    bool voice;
    uint8_t level;
    if (pl_rtp_ext_find(pkt, h, t->cfg.audio_level_ext, &lvl) != PL_OK ||
        pl_rtp_ext_audio_level(&lvl, &voice, &level) != PL_OK || level > PL_ROUTER_SPEAKING_LEVEL)
        return;
    /* Level alone decides: senders' voice-activity flags disagree. */
    if (now >= t->loud_until || level < t->level)
        t->level = level;
    t->loud_until = now + PL_ROUTER_SPEAKING_HOLD_US;
}

/* Every packet with a transport-wide sequence number counts for the
 * publisher's estimate, whatever the relay does with it afterwards (RTX,
 * padding probes and packets of no track included). */
static void note_arrival(pl_router *r, endpoint *e, const uint8_t *pkt, const pl_rtp_header *h,
                         int64_t now)
{
    pl_rtp_ext ext;
    uint16_t seq;
    if (pl_rtp_ext_find(pkt, h, e->twcc_ext, &ext) != PL_OK ||
        pl_rtp_ext_twcc_seq(&ext, &seq) != PL_OK)
        return;
    if (!e->twcc && !(e->twcc = pl_twcc_rx_create(&r->env)))
        return;
    pl_twcc_rx_packet(e->twcc, seq, now);
}

/* A video packet's VP8 descriptor, and what a key frame says of its
 * layer's size. False when the payload has no descriptor. */
static bool read_vp8(pl_router *r, layer *l, const uint8_t *payload, size_t len, pl_vp8_desc *d,
                     int64_t now)
{
    if (pl_vp8_parse_descriptor(payload, len, d) != PL_OK)
        return false;
    if (d->start && d->partition == 0) {
        /* A frame's first packet: counted by temporal layer. */
        uint8_t tid = d->has_tid && d->tid < PL_ALLOC_MAX_TEMPORAL ? d->tid : 0;
        l->tid_frames[tid]++;
        if (tid + 1u > l->n_tids)
            l->n_tids = (uint8_t)(tid + 1);
    }
    uint16_t w, h;
    if (d->keyframe) {
        /* The routes waiting for it switch now; requests still pending
         * are answered. */
        l->want_keyframe = false;
        l->kf.pending = false;
        if (pl_vp8_keyframe_size(payload + d->header_len, len - d->header_len, &w, &h) == PL_OK &&
            (w != l->width || h != l->height)) {
            l->width = w;
            l->height = h;
            r->next_layer_check = now; /* the layer routes get may change */
        }
    }
    return true;
}

void pl_router_handle_rtp(pl_router *r, int64_t now, uint64_t from, const uint8_t *pkt, size_t len)
{
    endpoint *e = router_input_from(r, from);
    if (!e)
        return;
    if (now > r->now)
        r->now = now;
    pl_rtp_header h;
    if (pl_rtp_parse(pkt, len, &h) != PL_OK) {
        r->st.malformed++;
        return;
    }
    if (e->twcc_ext)
        note_arrival(r, e, pkt, &h, now);
    else if (e->remb)
        pl_rxbwe_packet(&e->rxbwe, len);
    bool rtx = false;
    size_t li = 0;
    track *t = router_bind(e, pkt, &h, &li, &rtx);
    layer *l = t ? &t->layers[li] : NULL;
    if (!t) {
        r->st.unknown_ssrc++;
        return;
    }
    if (rtx && !l->ssrc) {
        /* The RTX stream of a layer whose media was not seen yet: Chrome
         * probes at the start with padding and with resends of what it
         * sent, before the relay has bound the layer. Its SSRC is bound
         * now; the packet cannot be unwrapped into a stream the relay does
         * not know yet, so it is dropped, and counted when it had media. */
        if (h.payload_len)
            r->st.rtx_before_media++;
        return;
    }
    if (!rtx && t->cfg.audio_level_ext)
        note_level(t, pkt, &h, now);
    /* The forwarding form: no extension block (their ids were negotiated
     * with the publisher, not with the subscribers), an RTX packet as the
     * original it carries. */
    int n = rtx ? pl_rtp_rtx_unwrap(pkt, &h, l->ssrc, t->cfg.pt, r->scratch, sizeof(r->scratch))
                : pl_rtp_strip_extensions(pkt, &h, r->scratch, sizeof(r->scratch));
    if (n <= 0) {
        if (n != PL_ENOTFOUND) /* a padding-only probe is not an error */
            r->st.malformed++;
        return;
    }
    uint16_t seq = pl_get_u16(r->scratch + 2);
    if (l->src != l->ssrc)
        router_layer_reset(t, li, l->ssrc); /* a new source: its numbers start over */
    /* A packet the cache already holds is a duplicate (or a retransmission
     * that lost the race): subscribers have it. */
    if (pl_pktcache_put(l->cache, seq, r->scratch, (size_t)n, now) == PL_EREPLAY) {
        r->st.duplicates++;
        return;
    }
    l->cached = true;
    if (e->recorded)
        queue_record(r, e, t, li, (size_t)n);
    pl_rtp_rx_packet(&l->rx, seq, h.timestamp, now, rtx);
    pl_nack_gen_packet(&l->nack, seq, now);
    if (t->cfg.nack)
        r->next_repair = min64(r->next_repair, pl_nack_gen_next(&l->nack));
    size_t hdr = PL_RTP_HEADER_MIN + 4u * h.csrc_count;
    size_t payload = (size_t)n - hdr;
    /* A layer that starts again (switched back on by dynacast, or by the
     * publisher's own estimate): routes that want it aim at it now, so
     * that its first key frame, usually this packet, switches them. */
    bool woke =
        t->n_layers > 1 && (l->last_at == INT64_MIN || now - l->last_at >= PL_LAYER_ACTIVE_US);
    l->last_at = now;
    for (size_t f = 0; woke && f < t->fan_n; f++)
        router_route_target(t, &t->fan[f].sub->routes[t->fan[f].route], now);
    l->octets += payload;
    l->wire_octets += (size_t)n + WIRE_EXTRA;
    pl_vp8_desc desc;
    size_t body = rtx ? payload : h.payload_len;
    bool vp8 = t->cfg.video && read_vp8(r, l, r->scratch + hdr, body, &desc, now);
    if (vp8 && desc.keyframe) {
        l->kf_open = true;
        l->kf_ts = h.timestamp;
        l->kf_bytes = 0;
    } else if (l->kf_open && h.timestamp != l->kf_ts) {
        l->kf_open = false;
    }
    if (l->kf_open)
        l->kf_bytes += (uint32_t)payload;
    pl_layerfwd_pkt fp = {.layer = (uint8_t)li,
                          .epoch = l->epoch,
                          .seq = seq,
                          .ts = h.timestamp,
                          .vp8 = vp8 ? &desc : NULL,
                          .clocks = t->clocks};
    for (size_t f = 0; f < t->fan_n; f++) {
        endpoint *s = t->fan[f].sub;
        route *rt = &s->routes[t->fan[f].route];
        if (!s->connected || rt->cfg.paused || rt->bw_paused ||
            (t->cfg.video && router_downlink_starting(s)))
            continue;
        pl_layerfwd_out o;
        if (!pl_layerfwd_packet(&rt->fwd, now, &fp, &o))
            continue; /* another layer, a dropped temporal layer, or too late */
        if (o.switched)
            r->st.layer_switches++;
        /* A packet the pacer has no room for leaves a hole: a key frame
         * is the way out of it. */
        if (!router_send_copy(r, s, rt, r->scratch, (size_t)n, o.seq, o.ts, o.vp8 ? &o.vf : NULL,
                              false, !t->cfg.video) &&
            t->cfg.video)
            l->want_keyframe = true;
        rt->packets++;
        rt->octets += (uint32_t)payload;
    }
}

void pl_router_stats_get(const pl_router *r, pl_router_stats *out)
{
    *out = r->st;
    out->videos_paused = router_alloc_paused(r);
    out->layers_paused_at_publisher = router_dynacast_paused(r);
    router_downlink_stats(r, out);
}
