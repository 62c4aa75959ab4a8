#include "parley/router.h"

#include <string.h>

#include "parley/buf.h"
#include "parley/hmap.h"
#include "parley/nack.h"
#include "parley/pktcache.h"
#include "parley/rewriter.h"
#include "parley/rtcp.h"
#include "parley/rtp.h"
#include "parley/rtpstats.h"

/* The largest packet the router forwards (after its extensions are gone). */
#define PKT_MAX 1500
/* NACK and keyframe timers are looked at this often. */
#define REPAIR_TICK_US 10000
/* Recent packets kept per track for retransmission (about 3 s of
 * 700 kbit/s video, 2.5 s of audio). */
#define CACHE_VIDEO 256
#define CACHE_AUDIO 128
/* RTCP packets read from one compound packet. */
#define RTCP_MAX_PARTS 16

typedef struct endpoint endpoint;

/* One subscriber route fed by a publisher track. */
typedef struct fan_entry {
    endpoint *sub;
    size_t route;
} fan_entry;

/* A publisher's track and its receive side: what the relay needs to repair
 * it upstream and to answer its subscribers' NACKs. */
typedef struct track {
    pl_track cfg;
    uint32_t ssrc, rtx_ssrc; /* as signalled, or learned from MID-tagged packets */
    uint32_t src;            /* the source whose packets the cache holds */
    pl_pktcache *cache;
    pl_rtp_rx rx;
    pl_nack_gen nack;
    pl_keyframe_limiter kf;
    fan_entry *fan; /* rebuilt when routes change: forwarding never searches */
    size_t fan_n, fan_cap;
    int64_t loud_until; /* audio: speaking until then, at its loudest recent level */
    uint8_t level;
    bool speaking;
} track;

typedef struct route {
    pl_route cfg;
    pl_rewriter rw;
    uint16_t rtx_seq;         /* the route's RTX stream */
    uint32_t packets, octets; /* sent on it, for its sender reports */
    endpoint *pub;            /* resolved from cfg: NULL while the track is not there */
    size_t track;
} route;

struct endpoint {
    uint64_t id;
    bool connected;
    size_t n_tracks;
    track *tracks[PL_MAX_TRACKS];
    size_t n_routes;
    route routes[PL_MAX_ROUTES];
    int64_t next_report;
    endpoint *next;
};

/* What is waiting to go out. Media and retransmissions point at the packet
 * in its forwarding form (the scratch copy or the cache) and carry the
 * route's rewriting; RTCP the relay made lives in the arena. */
typedef struct outq {
    enum pl_router_out_kind kind;
    enum pl_router_out_reason reason;
    uint64_t transport;
    const uint8_t *src;
    size_t off, len; /* RTCP: its place in the arena */
    uint32_t ssrc, ts, rtx_ssrc;
    uint16_t seq, rtx_seq;
    uint8_t pt, rtx_pt;
    bool rtx;
    bool speaking;
    uint8_t level;
} outq;

struct pl_router {
    pl_env env;
    endpoint *endpoints;
    pl_hmap *by_id;
    outq *q;
    size_t q_n, q_cap, q_next;
    uint8_t *arena;
    size_t arena_len, arena_cap;
    pl_rtcp_packet *rtcp; /* scratch for parsing */
    uint8_t scratch[PKT_MAX];
    int64_t next_repair, next_speaker_check;
    pl_router_stats st;
};

static int64_t min64(int64_t a, int64_t b)
{
    return a < b ? a : b;
}

/* ---- the output queue ---- */

static outq *enqueue(pl_router *r)
{
    if (r->q_n == r->q_cap) {
        size_t cap = r->q_cap ? 2 * r->q_cap : 64;
        outq *grown = pl_env_alloc(&r->env, cap * sizeof(*grown));
        if (!grown)
            return NULL;
        if (r->q_n)
            memcpy(grown, r->q, r->q_n * sizeof(*grown));
        pl_env_free(&r->env, r->q);
        r->q = grown;
        r->q_cap = cap;
    }
    outq *o = &r->q[r->q_n++];
    memset(o, 0, sizeof(*o));
    return o;
}

static void reset_queue(pl_router *r)
{
    r->q_n = r->q_next = 0;
    r->arena_len = 0;
}

static void enqueue_rtcp(pl_router *r, uint64_t to, enum pl_router_out_reason why,
                         const pl_wbuf *wb)
{
    if (!pl_wbuf_ok(wb))
        return;
    if (r->arena_len + wb->len > r->arena_cap) {
        size_t cap = r->arena_cap ? r->arena_cap : 4096;
        while (cap < r->arena_len + wb->len)
            cap *= 2;
        uint8_t *grown = pl_env_alloc(&r->env, cap);
        if (!grown)
            return;
        if (r->arena_len)
            memcpy(grown, r->arena, r->arena_len);
        pl_env_free(&r->env, r->arena);
        r->arena = grown;
        r->arena_cap = cap;
    }
    outq *o = enqueue(r);
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

int pl_router_poll_output(pl_router *r, pl_router_output *out, uint8_t *buf, size_t cap)
{
    if (r->q_next == r->q_n) {
        reset_queue(r);
        return PL_EAGAIN;
    }
    const outq *o = &r->q[r->q_next++];
    *out = (pl_router_output){.kind = o->kind,
                              .reason = o->reason,
                              .transport = o->transport,
                              .speaking = o->speaking,
                              .level = o->level};
    if (o->kind == PL_ROUTER_OUT_SPEAKING)
        return PL_OK;
    if (o->len > cap)
        return PL_ENOSPC;
    if (o->kind == PL_ROUTER_OUT_RTCP) {
        memcpy(buf, r->arena + o->off, o->len);
        out->len = o->len;
        return PL_OK;
    }
    memcpy(buf, o->src, o->len);
    pl_rtp_set_ssrc(buf, o->ssrc);
    pl_rtp_set_payload_type(buf, o->pt);
    pl_rtp_set_seq(buf, o->seq);
    pl_rtp_set_timestamp(buf, o->ts);
    out->len = o->len;
    if (o->rtx) {
        pl_rtp_header h;
        if (pl_rtp_parse(buf, o->len, &h) != PL_OK)
            return PL_EMALFORMED;
        int n = pl_rtp_rtx_wrap(buf, &h, o->rtx_ssrc, o->rtx_pt, o->rtx_seq, buf, cap);
        if (n < 0)
            return n;
        out->len = (size_t)n;
    }
    return PL_OK;
}

/* ---- transports, tracks and routes ---- */

static endpoint *find_ep(const pl_router *r, uint64_t id)
{
    return pl_hmap_get(r->by_id, &id, sizeof(id));
}

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
    if (t->fan_n == t->fan_cap) {
        size_t cap = t->fan_cap ? 2 * t->fan_cap : 8;
        fan_entry *grown = pl_env_alloc(&r->env, cap * sizeof(*grown));
        if (!grown)
            return false;
        if (t->fan_n)
            memcpy(grown, t->fan, t->fan_n * sizeof(*grown));
        pl_env_free(&r->env, t->fan);
        t->fan = grown;
        t->fan_cap = cap;
    }
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
    if (!r->by_id || !r->rtcp) {
        pl_hmap_destroy(r->by_id);
        pl_env_free(env, r->rtcp);
        pl_env_free(env, r);
        return NULL;
    }
    return r;
}

static void free_ep(pl_router *r, endpoint *e)
{
    for (size_t i = 0; i < e->n_tracks; i++)
        free_track(r, e->tracks[i]);
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
        reset_queue(r);
        rebuild(r);
        return;
    }
}

static void send_pli(pl_router *r, endpoint *p, uint32_t ssrc)
{
    uint8_t buf[64];
    pl_wbuf wb = pl_wbuf_make(buf, sizeof(buf));
    pl_rtcp_write_pli(&wb, &(pl_rtcp_pli){.sender_ssrc = PL_ROUTER_SSRC, .media_ssrc = ssrc});
    enqueue_rtcp(r, p->id, PL_ROUTER_KEYFRAME, &wb);
}

/* Asks a publisher for a keyframe of one track (RFC 4585 PLI), at most once
 * per interval: requests inside it are merged into one sent when it ends. */
static void request_keyframe(pl_router *r, endpoint *p, size_t ti, int64_t now)
{
    if (!p || !p->connected || ti >= p->n_tracks)
        return;
    track *t = p->tracks[ti];
    if (!t->ssrc || !t->cfg.video)
        return;
    if (pl_keyframe_limiter_request(&t->kf, now))
        send_pli(r, p, t->ssrc);
    else
        r->next_repair = min64(r->next_repair, pl_keyframe_limiter_next(&t->kf));
}

static void request_keyframes_for(pl_router *r, endpoint *sub, int64_t now)
{
    for (size_t i = 0; i < sub->n_routes; i++)
        if (!sub->routes[i].cfg.paused)
            request_keyframe(r, sub->routes[i].pub, sub->routes[i].track, now);
}

void pl_router_set_connected(pl_router *r, uint64_t id, int64_t now_us)
{
    endpoint *e = find_ep(r, id);
    if (!e || e->connected)
        return;
    e->connected = true;
    request_keyframes_for(r, e, now_us); /* a new subscriber needs a picture now */
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
    reset_queue(r);
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
        for (size_t k = 0; k < e->n_routes; k++)
            if (e->routes[k].cfg.out_ssrc == routes[i].out_ssrc)
                next[i] = e->routes[k];
        next[i].cfg = routes[i];
    }
    memcpy(e->routes, next, n * sizeof(next[0]));
    e->n_routes = n;
    reset_queue(r);
    rebuild(r);
    if (e->connected)
        request_keyframes_for(r, e, now_us);
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

/* One copy of a packet in forwarding form for a route. */
static void enqueue_copy(pl_router *r, endpoint *s, route *rt, const uint8_t *pkt, size_t len,
                         uint16_t seq, uint32_t ts, bool resend)
{
    outq *o = enqueue(r);
    if (!o)
        return;
    o->kind = PL_ROUTER_OUT_RTP;
    o->reason = resend ? PL_ROUTER_RESENT : PL_ROUTER_MEDIA;
    o->transport = s->id;
    o->src = pkt;
    o->len = len;
    o->seq = seq;
    o->ts = ts;
    o->ssrc = rt->cfg.out_ssrc;
    o->pt = rt->cfg.out_pt;
    if (resend && rt->cfg.out_rtx_pt) {
        o->rtx = true;
        o->rtx_ssrc = rt->cfg.out_rtx_ssrc;
        o->rtx_pt = rt->cfg.out_rtx_pt;
        o->rtx_seq = rt->rtx_seq++;
    }
}

void pl_router_handle_rtp(pl_router *r, int64_t now, uint64_t from, const uint8_t *pkt, size_t len)
{
    reset_queue(r);
    endpoint *e = find_ep(r, from);
    if (!e) {
        r->st.unroutable++;
        return;
    }
    pl_rtp_header h;
    if (pl_rtp_parse(pkt, len, &h) != PL_OK) {
        r->st.malformed++;
        return;
    }
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
        enqueue_copy(r, s, rt, r->scratch, (size_t)n, oseq, ots, false);
        rt->packets++;
        rt->octets += (uint32_t)payload;
    }
}

/* ---- RTCP from subscribers and publishers ---- */

static route *route_by_ssrc(endpoint *e, uint32_t out_ssrc)
{
    for (size_t i = 0; i < e->n_routes; i++)
        if (e->routes[i].cfg.out_ssrc == out_ssrc)
            return &e->routes[i];
    return NULL;
}

/* A subscriber's NACK: resend what the publisher track's cache still has,
 * mapped back through the route's offsets. */
static void answer_nack(pl_router *r, endpoint *sub, const pl_rtcp_nack *nack)
{
    route *rt = route_by_ssrc(sub, nack->media_ssrc);
    if (!rt || !rt->pub || !rt->rw.started)
        return;
    track *t = rt->pub->tracks[rt->track];
    if (t->src != rt->rw.src_ssrc)
        return; /* the cache holds another source's packets now */
    uint16_t lost[PL_RTCP_MAX_NACK * 17];
    size_t n = pl_rtcp_nack_lost(nack, lost, sizeof(lost) / sizeof(lost[0]));
    for (size_t k = 0; k < n; k++) {
        size_t len;
        const uint8_t *pkt =
            pl_pktcache_get(t->cache, pl_rewriter_source_seq(&rt->rw, lost[k]), &len);
        uint16_t oseq;
        uint32_t ots;
        if (pkt && pl_rewriter_map_again(&rt->rw, t->src, pl_get_u16(pkt + 2), pl_get_u32(pkt + 4),
                                         &oseq, &ots))
            enqueue_copy(r, sub, rt, pkt, len, oseq, ots, true);
    }
}

void pl_router_handle_rtcp(pl_router *r, int64_t now, uint64_t from, const uint8_t *data,
                           size_t len)
{
    reset_queue(r);
    endpoint *e = find_ep(r, from);
    if (!e) {
        r->st.unroutable++;
        return;
    }
    pl_rtcp_iter it;
    pl_rtcp_packet *p = r->rtcp;
    pl_rtcp_iter_init(&it, data, len);
    for (size_t k = 0; k < RTCP_MAX_PARTS && pl_rtcp_next(&it, p) == 1; k++) {
        uint32_t media = 0;
        switch (p->kind) {
        case PL_RTCP_K_NACK:
            answer_nack(r, e, &p->u.nack);
            break;
        case PL_RTCP_K_PLI:
            media = p->u.pli.media_ssrc;
            break;
        case PL_RTCP_K_FIR:
            media = p->u.fir.n_entries ? p->u.fir.entries[0].ssrc : 0;
            break;
        case PL_RTCP_K_SR:
            /* A publisher's NTP <-> RTP mapping, for its subscribers' SRs. */
            for (size_t i = 0; i < e->n_tracks; i++)
                if (e->tracks[i]->ssrc == p->u.sr.ssrc)
                    pl_rtp_rx_sr(&e->tracks[i]->rx, p->u.sr.ntp, p->u.sr.rtp_ts, now);
            break;
        default:
            break;
        }
        route *rt = media ? route_by_ssrc(e, media) : NULL;
        if (rt)
            request_keyframe(r, rt->pub, rt->track, now);
    }
}

/* ---- timers: loss repair, reports, speakers ---- */

/* Asks a publisher for the packets it lost on the way to the relay (RR +
 * generic NACK, RFC 4585). */
static void send_nack(pl_router *r, endpoint *p, const track *t, const uint16_t *lost, size_t n)
{
    uint8_t buf[1200];
    pl_wbuf wb = pl_wbuf_make(buf, sizeof(buf));
    pl_rtcp_write_rr(&wb, &(pl_rtcp_rr){.ssrc = PL_ROUTER_SSRC});
    pl_rtcp_nack nack = {.sender_ssrc = PL_ROUTER_SSRC, .media_ssrc = t->ssrc};
    nack.n_items = pl_rtcp_nack_pack(lost, n, nack.items, PL_RTCP_MAX_NACK);
    pl_rtcp_write_nack(&wb, &nack);
    enqueue_rtcp(r, p->id, PL_ROUTER_NACK, &wb);
}

/* Receiver reports to a publisher (one block per track), sender reports to
 * a subscriber (one per forwarded stream whose publisher reported), mapped
 * through the route's timestamp offset. */
static void send_reports(pl_router *r, endpoint *e, int64_t now)
{
    uint8_t buf[1200];
    pl_rtcp_rr rr = {.ssrc = PL_ROUTER_SSRC};
    for (size_t i = 0; i < e->n_tracks; i++)
        if (e->tracks[i]->rx.started)
            pl_rtp_rx_report(&e->tracks[i]->rx, e->tracks[i]->src, now,
                             &rr.reports[rr.n_reports++]);
    if (rr.n_reports) {
        pl_wbuf wb = pl_wbuf_make(buf, sizeof(buf));
        pl_rtcp_write_rr(&wb, &rr);
        enqueue_rtcp(r, e->id, PL_ROUTER_REPORT, &wb);
    }
    for (size_t i = 0; i < e->n_routes; i++) {
        const route *rt = &e->routes[i];
        if (!rt->rw.started || rt->cfg.paused || !rt->pub)
            continue;
        const track *t = rt->pub->tracks[rt->track];
        pl_rtcp_sr sr;
        if (t->src != rt->rw.src_ssrc || !pl_sr_map(&t->rx, rt->cfg.out_ssrc, rt->rw.ts_offset,
                                                    rt->packets, rt->octets, now, &sr))
            continue;
        pl_wbuf wb = pl_wbuf_make(buf, sizeof(buf));
        pl_rtcp_write_sr(&wb, &sr);
        enqueue_rtcp(r, e->id, PL_ROUTER_REPORT, &wb);
    }
}

static void run_repair(pl_router *r, int64_t now)
{
    int64_t next = now + REPAIR_TICK_US;
    for (endpoint *e = r->endpoints; e; e = e->next) {
        if (!e->connected)
            continue;
        for (size_t i = 0; i < e->n_tracks; i++) {
            track *t = e->tracks[i];
            if (t->cfg.nack) {
                uint16_t lost[64];
                size_t n = pl_nack_gen_poll(&t->nack, now, lost, 64);
                if (n)
                    send_nack(r, e, t, lost, n);
                next = min64(next, pl_nack_gen_next(&t->nack));
            }
            /* Losses past repair: a keyframe is the way back. */
            if (pl_nack_gen_take_keyframe_need(&t->nack) && t->cfg.video &&
                pl_keyframe_limiter_request(&t->kf, now))
                send_pli(r, e, t->ssrc);
            if (pl_keyframe_limiter_poll(&t->kf, now))
                send_pli(r, e, t->ssrc);
            next = min64(next, pl_keyframe_limiter_next(&t->kf));
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
            outq *o = enqueue(r);
            if (o)
                *o = (outq){.kind = PL_ROUTER_OUT_SPEAKING,
                            .transport = e->id,
                            .speaking = speaking,
                            .level = t->level};
        }
}

void pl_router_handle_timeout(pl_router *r, int64_t now)
{
    reset_queue(r);
    if (now >= r->next_repair)
        run_repair(r, now);
    if (now >= r->next_speaker_check)
        check_speakers(r, now);
}

int64_t pl_router_next_timeout(const pl_router *r)
{
    return min64(r->next_repair, r->next_speaker_check);
}

void pl_router_stats_get(const pl_router *r, pl_router_stats *out)
{
    *out = r->st;
}
