#include "parley/router.h"

#include <string.h>

#include "parley/buf.h"
#include "parley/rtp.h"
#include "router_int.h"

/* Transports, their tracks and routes, the fan-out between them, and the
 * forwarding of publishers' packets. Feedback and timers are in
 * router_feedback.c, the output queue in router_queue.c. */

/* ---- transports, tracks and routes ---- */

static void free_track(pl_router *r, track *t)
{
    if (!t)
        return;
    pl_pktcache_destroy(&r->env, t->cache);
    pl_env_free(&r->env, t->fan);
    pl_env_free(&r->env, t);
}

static void reset_receive(track *t, uint32_t src)
{
    t->src = src;
    pl_pktcache_clear(t->cache);
    pl_rtp_rx_init(&t->rx, t->cfg.video ? 90000 : 48000);
    pl_nack_gen_init(&t->nack, NULL);
}

static track *new_track(pl_router *r, const pl_track *cfg)
{
    track *t = pl_env_alloc(&r->env, sizeof(*t));
    if (!t)
        return NULL;
    t->cfg = *cfg;
    t->ssrc = cfg->ssrc;
    t->rtx_ssrc = cfg->rtx_ssrc;
    t->cache = pl_pktcache_create(&r->env, cfg->video ? CACHE_VIDEO : CACHE_AUDIO);
    if (!t->cache) {
        pl_env_free(&r->env, t);
        return NULL;
    }
    reset_receive(t, 0);
    pl_keyframe_limiter_init(&t->kf, PL_ROUTER_KEYFRAME_INTERVAL_US);
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
            rt->pub = NULL;
            for (size_t ti = 0; p && ti < p->n_tracks; ti++) {
                if (strcmp(p->tracks[ti]->cfg.mid, rt->cfg.mid) != 0)
                    continue;
                rt->pub = p;
                rt->track = ti;
                rt->rw.clock_rate = p->tracks[ti]->cfg.video ? 90000 : 48000;
                if (!fan_append(r, p->tracks[ti], s, ri))
                    pl_env_logf(&r->env, PL_LOG_ERROR, "router: out of memory for routes");
                break;
            }
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

void pl_router_set_connected(pl_router *r, uint64_t id, int64_t now_us)
{
    endpoint *e = find_ep(r, id);
    if (!e || e->connected)
        return;
    e->connected = true;
    router_request_keyframes_for(r, e, now_us); /* a new subscriber needs a picture now */
}

static track *same_track(const endpoint *e, const pl_track *cfg)
{
    for (size_t k = 0; k < e->n_tracks; k++) {
        track *old = e->tracks[k];
        if (old->cfg.video == cfg->video && strcmp(old->cfg.mid, cfg->mid) == 0)
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
        old->cfg = tracks[i];
        if (tracks[i].ssrc)
            old->ssrc = tracks[i].ssrc;
        if (tracks[i].rtx_ssrc || !tracks[i].rtx_pt)
            old->rtx_ssrc = tracks[i].rtx_ssrc;
    }
    for (size_t k = 0; k < e->n_tracks; k++)
        if (!kept[k])
            free_track(r, e->tracks[k]);
    memcpy(e->tracks, next, sizeof(next));
    e->n_tracks = n;
    e->twcc_ext = 0;
    for (size_t i = 0; i < n && !e->twcc_ext; i++)
        e->twcc_ext = tracks[i].twcc_ext;
    router_reset_queue(r);
    rebuild(r);
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
    route next[PL_MAX_ROUTES];
    for (size_t i = 0; i < n; i++) {
        memset(&next[i], 0, sizeof(next[i]));
        pl_rewriter_init(&next[i].rw, 90000); /* its rate follows the track it resolves to */
        for (size_t k = 0; k < e->n_routes; k++)
            if (e->routes[k].cfg.out_ssrc == routes[i].out_ssrc)
                next[i] = e->routes[k];
        next[i].cfg = routes[i];
    }
    memcpy(e->routes, next, n * sizeof(next[0]));
    e->n_routes = n;
    router_reset_queue(r);
    rebuild(r);
    if (e->connected)
        router_request_keyframes_for(r, e, now_us);
    return PL_OK;
}

/* ---- media from publishers ---- */

/* Which of a publisher's tracks a packet belongs to: by SSRC, or, for a
 * source the offer did not name, by the MID header extension (RFC 8843
 * 15), whose SSRC is then kept for the packets that no longer carry it. */
static track *track_of(const endpoint *e, const uint8_t *pkt, const pl_rtp_header *h, bool *rtx)
{
    uint8_t mid_ext = 0;
    for (size_t i = 0; i < e->n_tracks; i++) {
        track *t = e->tracks[i];
        if (t->ssrc == h->ssrc && t->ssrc) {
            *rtx = false;
            return t;
        }
        if (t->rtx_ssrc == h->ssrc && t->rtx_ssrc) {
            *rtx = true;
            return t;
        }
        if (t->cfg.mid_ext)
            mid_ext = t->cfg.mid_ext;
    }
    pl_rtp_ext ext;
    char mid[PL_MID_MAX + 1];
    if (!mid_ext || pl_rtp_ext_find(pkt, h, mid_ext, &ext) != PL_OK ||
        pl_rtp_ext_string(&ext, mid, sizeof(mid)) != PL_OK)
        return NULL;
    for (size_t i = 0; i < e->n_tracks; i++) {
        track *t = e->tracks[i];
        if (strcmp(t->cfg.mid, mid) != 0)
            continue;
        *rtx = t->cfg.rtx_pt && h->payload_type == t->cfg.rtx_pt;
        if (*rtx)
            t->rtx_ssrc = h->ssrc;
        else
            t->ssrc = h->ssrc;
        return t;
    }
    return NULL;
}

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

void pl_router_handle_rtp(pl_router *r, int64_t now, uint64_t from, const uint8_t *pkt, size_t len)
{
    endpoint *e = router_input_from(r, from);
    if (!e)
        return;
    pl_rtp_header h;
    if (pl_rtp_parse(pkt, len, &h) != PL_OK) {
        r->st.malformed++;
        return;
    }
    if (e->twcc_ext)
        note_arrival(r, e, pkt, &h, now);
    bool rtx = false;
    track *t = track_of(e, pkt, &h, &rtx);
    if (!t || (rtx && !t->ssrc)) {
        r->st.unknown_ssrc++;
        return;
    }
    if (!rtx && t->cfg.audio_level_ext)
        note_level(t, pkt, &h, now);
    /* The forwarding form: no extension block (their ids were negotiated
     * with the publisher, not with the subscribers), an RTX packet as the
     * original it carries. */
    int n = rtx ? pl_rtp_rtx_unwrap(pkt, &h, t->ssrc, t->cfg.pt, r->scratch, sizeof(r->scratch))
                : pl_rtp_strip_extensions(pkt, &h, r->scratch, sizeof(r->scratch));
    if (n <= 0) {
        if (n != PL_ENOTFOUND) /* a padding-only probe is not an error */
            r->st.malformed++;
        return;
    }
    uint16_t seq = pl_get_u16(r->scratch + 2);
    if (t->src != t->ssrc)
        reset_receive(t, t->ssrc); /* a new source behind the track: its numbers start over */
    /* A packet the cache already holds is a duplicate (or a retransmission
     * that lost the race): subscribers have it. */
    if (pl_pktcache_put(t->cache, seq, r->scratch, (size_t)n) == PL_EREPLAY) {
        r->st.duplicates++;
        return;
    }
    pl_rtp_rx_packet(&t->rx, seq, h.timestamp, now, rtx);
    pl_nack_gen_packet(&t->nack, seq, now);
    if (t->cfg.nack)
        r->next_repair = min64(r->next_repair, pl_nack_gen_next(&t->nack));
    size_t payload = (size_t)n - (PL_RTP_HEADER_MIN + 4u * h.csrc_count);
    for (size_t f = 0; f < t->fan_n; f++) {
        endpoint *s = t->fan[f].sub;
        route *rt = &s->routes[t->fan[f].route];
        if (!s->connected || rt->cfg.paused)
            continue;
        uint16_t oseq;
        uint32_t ots;
        pl_rewriter_map(&rt->rw, now, t->ssrc, seq, h.timestamp, &oseq, &ots);
        router_enqueue_copy(r, s, rt, r->scratch, (size_t)n, oseq, ots, false);
        rt->packets++;
        rt->octets += (uint32_t)payload;
    }
}

void pl_router_stats_get(const pl_router *r, pl_router_stats *out)
{
    *out = r->st;
}
