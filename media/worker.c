#include "parley/worker.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "parley/nack.h"
#include "parley/peer.h"
#include "parley/pktcache.h"
#include "parley/rtcp.h"
#include "parley/rtp.h"
#include "parley/rtpstats.h"
#include "parley/srtp.h"
#include "parley/stun.h"

#define BATCH 32
#define DGRAM_MAX 1500
/* Outgoing datagrams are protected in place in these slots and leave in one
 * sendmmsg per batch: a keyframe fanned out to a room is one system call. */
#define OUT_BATCH 128
/* Time in the relay, from the kernel's receive timestamp of a datagram to
 * the sendmmsg that carries its copies: 10 us buckets up to 20 ms. */
#define RESIDENCE_BUCKET_US 10
#define RESIDENCE_BUCKETS 2000
#define OUT_CAP (DGRAM_MAX + PL_SRTP_MAX_TRAILER)
#define UFRAG_MAX 257
/* Active speaker detection: audio at least this loud (dBov, RFC 6464)
 * counts as speech, and a speaker stays active this long after it. */
#define SPEAKING_LEVEL 60
#define SPEAKING_HOLD_US 1500000
#define SPEAKER_CHECK_US 250000
/* Loss repair and RTCP: NACK and keyframe timers are looked at this often,
 * reports go out every REPORT_US, one keyframe request per publisher track
 * per KEYFRAME_INTERVAL_US, and this many recent packets per track are kept
 * for retransmission (about 3 s of 700 kbit/s video, 2.5 s of audio). */
#define REPAIR_TICK_US 10000
#define REPORT_US 1000000
#define KEYFRAME_INTERVAL_US 300000
#define CACHE_VIDEO 256
#define CACHE_AUDIO 128
/* The relay's own SSRC in the RTCP it originates towards publishers. */
#define RELAY_SSRC 1

enum cmd_kind { CMD_ADD, CMD_REMOVE, CMD_RESTART, CMD_TRACKS, CMD_ROUTES };

typedef struct cmd {
    struct cmd *next;
    enum cmd_kind kind;
    uint64_t id;
    char local_ufrag[UFRAG_MAX], local_pwd[UFRAG_MAX];
    char remote_ufrag[UFRAG_MAX], remote_pwd[UFRAG_MAX];
    char fp_alg[16], fp[160];
    size_t n;
    pl_track tracks[PL_MAX_TRACKS];
    pl_route routes[PL_MAX_ROUTES];
} cmd;

/* Continuity of one forwarded stream: when the source SSRC behind an output
 * SSRC changes (the publisher restarted its camera, say), sequence numbers
 * and timestamps continue from where the subscriber's stream left off. */
typedef struct route_state {
    bool started;
    uint32_t src_ssrc;
    uint16_t seq_offset, last_seq;
    uint32_t ts_offset, last_ts;
    uint16_t rtx_seq;         /* the route's RTX stream */
    uint32_t packets, octets; /* sent on it, for its sender reports */
} route_state;

/* A publisher track's receive side: what the relay needs to repair it
 * upstream and to answer its subscribers' NACKs. */
typedef struct track_state {
    uint32_t ssrc; /* the source whose packets the cache holds */
    pl_pktcache *cache;
    pl_rtp_rx rx;
    pl_nack_gen nack;
    pl_keyframe_limiter kf;
} track_state;

struct transport;

/* One subscriber of a publisher's track: which transport, which route. */
typedef struct fan_entry {
    struct transport *sub;
    size_t route;
} fan_entry;

typedef struct transport {
    struct transport *next;
    uint64_t id;
    pl_peer *peer;
    char ufrag[UFRAG_MAX];
    /* Addresses that proved the ICE password, for demultiplexing non-STUN
     * traffic; ICE keeps at most a few. */
    pl_addr addrs[4];
    size_t n_addrs, next_addr;
    bool connected;
    bool failed; /* consent lost or DTLS failed: freed at the end of the loop turn */
    /* As a publisher: its tracks. As a subscriber: what it receives. */
    size_t n_tracks;
    pl_track tracks[PL_MAX_TRACKS];
    size_t n_routes;
    pl_route routes[PL_MAX_ROUTES];
    route_state route_st[PL_MAX_ROUTES];
    /* As a publisher: per track, the subscribers it fans out to (rebuilt
     * whenever routes or transports change, so forwarding never searches). */
    fan_entry *fan[PL_MAX_TRACKS];
    size_t fan_n[PL_MAX_TRACKS], fan_cap[PL_MAX_TRACKS];
    track_state *ts[PL_MAX_TRACKS];
    int64_t next_report;
    /* Per track: until when it counts as speaking, its loudest recent level. */
    int64_t loud_until[PL_MAX_TRACKS];
    uint8_t level[PL_MAX_TRACKS];
    bool speaking[PL_MAX_TRACKS];
} transport;

struct pl_worker {
    pl_env env;
    pl_worker_config cfg;
    int fd, efd, wake;
    uint16_t port;
    pthread_t thread;
    atomic_bool stop;
    pthread_mutex_t lock; /* guards the command queue only */
    cmd *cmds;
    transport *transports;
    bool reap;            /* some transport failed */
    pl_rtcp_packet *rtcp; /* scratch for parsing subscribers' feedback */
    int64_t now;          /* time of the datagram or timer being handled */
    int64_t next_speaker_check;
    int64_t next_timer; /* earliest pl_peer_next_timeout of any transport */
    uint8_t (*obuf)[OUT_CAP];
    struct mmsghdr omsg[OUT_BATCH];
    struct iovec oiov[OUT_BATCH];
    pl_addr oaddr[OUT_BATCH];
    int64_t orx[OUT_BATCH]; /* receive time (ns, realtime) behind each copy; 0: none */
    int64_t cur_rx;         /* that of the datagram being handled */
    _Atomic uint32_t residence[RESIDENCE_BUCKETS + 1];
    size_t n_out;
    uint64_t fwd_pending;
    int64_t next_repair;
    uint8_t scratch[OUT_CAP]; /* a publisher's packet, extensions stripped */
    struct {
        _Atomic uint64_t transports, in, out, unknown, rejected, rtp, rtcp, fwd, pli, rtx, nacks,
            failed;
    } st;
};

static int64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static transport *by_id(pl_worker *w, uint64_t id)
{
    for (transport *t = w->transports; t; t = t->next)
        if (t->id == id)
            return t;
    return NULL;
}

static transport *by_ufrag(pl_worker *w, const char *ufrag)
{
    for (transport *t = w->transports; t; t = t->next)
        if (strcmp(t->ufrag, ufrag) == 0)
            return t;
    return NULL;
}

static transport *by_addr(pl_worker *w, const pl_addr *a)
{
    for (transport *t = w->transports; t; t = t->next)
        for (size_t i = 0; i < t->n_addrs; i++)
            if (pl_addr_equal(&t->addrs[i], a))
                return t;
    return NULL;
}

static void remember_addr(transport *t, const pl_addr *a)
{
    for (size_t i = 0; i < t->n_addrs; i++)
        if (pl_addr_equal(&t->addrs[i], a))
            return;
    t->addrs[t->next_addr] = *a;
    t->next_addr = (t->next_addr + 1) % 4;
    if (t->n_addrs < 4)
        t->n_addrs++;
}

static void emit(pl_worker *w, enum pl_worker_event_kind kind, uint64_t id, int error)
{
    if (!w->cfg.on_event)
        return;
    pl_worker_event ev = {.kind = kind, .transport = id, .error = error};
    w->cfg.on_event(w->cfg.user, &ev);
}

static int64_t realtime_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void flush_out(pl_worker *w)
{
    if (w->n_out) {
        int64_t t = realtime_ns();
        for (size_t k = 0; k < w->n_out; k++) {
            if (!w->orx[k])
                continue;
            int64_t us = (t - w->orx[k]) / 1000;
            size_t b = us < 0 ? 0 : (size_t)(us / RESIDENCE_BUCKET_US);
            atomic_fetch_add_explicit(&w->residence[b < RESIDENCE_BUCKETS ? b : RESIDENCE_BUCKETS],
                                      1, memory_order_relaxed);
        }
    }
    size_t off = 0;
    while (off < w->n_out) {
        int n = sendmmsg(w->fd, w->omsg + off, (unsigned)(w->n_out - off), 0);
        if (n > 0) {
            off += (size_t)n;
            atomic_fetch_add(&w->st.out, (uint64_t)n);
        } else if (n < 0 && errno == EINTR) {
            continue;
        } else {
            off++; /* this datagram cannot go (full buffer, unreachable): drop it */
        }
    }
    w->n_out = 0;
    if (w->fwd_pending) {
        atomic_fetch_add(&w->st.fwd, w->fwd_pending);
        w->fwd_pending = 0;
    }
}

/* The next free output slot, flushing a full batch first. */
static uint8_t *out_slot(pl_worker *w)
{
    if (w->n_out == OUT_BATCH)
        flush_out(w);
    return w->obuf[w->n_out];
}

/* Encrypts the packet in the current slot and queues it. */
static bool out_commit(pl_worker *w, transport *t, bool rtcp, size_t len)
{
    size_t k = w->n_out;
    pl_addr *to = &w->oaddr[k];
    int rc = rtcp ? pl_peer_protect_rtcp(t->peer, w->obuf[k], &len, OUT_CAP, to)
                  : pl_peer_protect_rtp(t->peer, w->obuf[k], &len, OUT_CAP, to);
    if (rc != PL_OK)
        return false;
    w->oiov[k] = (struct iovec){.iov_base = w->obuf[k], .iov_len = len};
    w->orx[k] = w->cur_rx;
    w->omsg[k].msg_hdr = (struct msghdr){
        .msg_name = &to->ss, .msg_namelen = to->len, .msg_iov = &w->oiov[k], .msg_iovlen = 1};
    w->n_out++;
    return true;
}

static void send_protected(pl_worker *w, transport *t, bool rtcp, const uint8_t *pkt, size_t len)
{
    if (len > DGRAM_MAX)
        return;
    memcpy(out_slot(w), pkt, len);
    out_commit(w, t, rtcp, len);
}

static void send_pli(pl_worker *w, transport *p, uint32_t ssrc)
{
    uint8_t buf[64];
    pl_wbuf wb = pl_wbuf_make(buf, sizeof(buf));
    pl_rtcp_write_pli(&wb, &(pl_rtcp_pli){.sender_ssrc = RELAY_SSRC, .media_ssrc = ssrc});
    send_protected(w, p, true, buf, wb.len);
    atomic_fetch_add(&w->st.pli, 1);
}

/* Asks a publisher for a keyframe of one track (RFC 4585 PLI), at most once
 * per KEYFRAME_INTERVAL_US: requests inside the interval are merged into
 * one sent when it ends. */
static void request_keyframe(pl_worker *w, uint64_t publisher, const char *mid)
{
    transport *p = by_id(w, publisher);
    if (!p || !p->connected)
        return;
    for (size_t i = 0; i < p->n_tracks; i++) {
        if (strcmp(p->tracks[i].mid, mid) != 0 || !p->tracks[i].ssrc || !p->tracks[i].video)
            continue;
        if (!p->ts[i]) {
            send_pli(w, p, p->tracks[i].ssrc);
        } else if (pl_keyframe_limiter_request(&p->ts[i]->kf, w->now)) {
            send_pli(w, p, p->tracks[i].ssrc);
        } else if (w->next_repair > pl_keyframe_limiter_next(&p->ts[i]->kf)) {
            w->next_repair = pl_keyframe_limiter_next(&p->ts[i]->kf);
        }
    }
}

static void request_keyframes_for(pl_worker *w, transport *sub)
{
    for (size_t i = 0; i < sub->n_routes; i++)
        if (!sub->routes[i].paused)
            request_keyframe(w, sub->routes[i].publisher, sub->routes[i].mid);
}

/* Builds the forwarding form of a publisher's packet in w->scratch: fixed
 * header and CSRCs, no extension block (their ids were negotiated with the
 * publisher, not with the subscribers), payload and padding. An RTX packet
 * (RFC 4588) becomes the original again: the publisher's SSRC, payload type
 * and the sequence number it carries. Returns the length, 0 to drop. */
static size_t strip(pl_worker *w, const pl_track *t, const uint8_t *pkt,
                    const pl_rtp_header *h, bool rtx, uint16_t *seq)
{
    size_t fixed = PL_RTP_HEADER_MIN + 4u * h->csrc_count;
    size_t body = h->payload_len + h->padding_len;
    *seq = h->seq;
    const uint8_t *payload = pkt + h->header_len;
    if (rtx) {
        if (h->payload_len < 2)
            return 0;
        *seq = pl_get_u16(payload);
        payload += 2;
        body -= 2;
        if (body == 0 || (h->padding_len && body <= h->padding_len))
            return 0; /* padding-only RTX: bandwidth probing, nothing to forward */
    }
    if (fixed + body > DGRAM_MAX)
        return 0;
    memcpy(w->scratch, pkt, fixed);
    w->scratch[0] &= (uint8_t)~0x10; /* no extension block */
    memcpy(w->scratch + fixed, payload, body);
    if (rtx) {
        pl_rtp_set_ssrc(w->scratch, t->ssrc);
        pl_rtp_set_payload_type(w->scratch, t->pt);
        pl_rtp_set_seq(w->scratch, *seq);
    }
    return fixed + body;
}

/* Sends one packet of a publisher track (in forwarding form) to one
 * subscriber route, rewritten to the route's SSRC, payload type and
 * sequence space; as RTX when it is a retransmission and the route has an
 * RTX stream. */
static void send_on_route(pl_worker *w, transport *s, size_t r, const uint8_t *pkt, size_t len,
                          bool retransmission)
{
    const pl_route *rt = &s->routes[r];
    route_state *rs = &s->route_st[r];
    pl_rtp_header h;
    if (pl_rtp_parse(pkt, len, &h) != PL_OK)
        return;
    uint16_t oseq;
    uint32_t ots;
    if (retransmission) {
        oseq = (uint16_t)(h.seq + rs->seq_offset);
        ots = h.timestamp + rs->ts_offset;
    } else {
        bool fresh = !rs->started || rs->src_ssrc != h.ssrc;
        if (fresh) {
            /* First packet or a new source: continue the output stream. */
            rs->seq_offset = (uint16_t)(rs->started ? rs->last_seq + 1 - h.seq : 0);
            rs->ts_offset = rs->started ? rs->last_ts + 1 - h.timestamp : 0;
            rs->src_ssrc = h.ssrc;
            rs->started = true;
        }
        oseq = (uint16_t)(h.seq + rs->seq_offset);
        ots = h.timestamp + rs->ts_offset;
        /* Only in-order packets move the continuation point. */
        if (fresh || (int16_t)(oseq - rs->last_seq) > 0) {
            rs->last_seq = oseq;
            rs->last_ts = ots;
        }
    }
    uint8_t *out = out_slot(w);
    size_t out_len = len;
    if (retransmission && rt->out_rtx_pt) {
        /* RFC 4588: the RTX stream's own header, then the original sequence
         * number, then the original payload. */
        size_t hl = h.header_len;
        if (len + 2 > DGRAM_MAX)
            return;
        memcpy(out, pkt, hl);
        pl_put_u16(out + hl, oseq);
        memcpy(out + hl + 2, pkt + hl, len - hl);
        pl_rtp_set_ssrc(out, rt->out_rtx_ssrc);
        pl_rtp_set_payload_type(out, rt->out_rtx_pt);
        pl_rtp_set_seq(out, rs->rtx_seq++);
        pl_rtp_set_timestamp(out, ots);
        out_len = len + 2;
    } else {
        memcpy(out, pkt, len);
        pl_rtp_set_ssrc(out, rt->out_ssrc);
        pl_rtp_set_payload_type(out, rt->out_pt);
        pl_rtp_set_seq(out, oseq);
        pl_rtp_set_timestamp(out, ots);
    }
    if (out_commit(w, s, false, out_len)) {
        if (retransmission) {
            atomic_fetch_add(&w->st.rtx, 1);
        } else {
            w->fwd_pending++;
            rs->packets++;
            rs->octets += (uint32_t)(len - (PL_RTP_HEADER_MIN + 4u * h.csrc_count));
        }
    }
}

static track_state *track_state_for(pl_worker *w, transport *pub, size_t ti, uint32_t ssrc)
{
    track_state *st = pub->ts[ti];
    if (st && st->ssrc != ssrc) {
        /* A new source behind the track: its sequence numbers start over. */
        st->ssrc = ssrc;
        pl_pktcache_clear(st->cache);
        pl_rtp_rx_init(&st->rx, pub->tracks[ti].video ? 90000 : 48000);
        pl_nack_gen_init(&st->nack, NULL);
    }
    (void)w;
    return st;
}

/* Fans one decrypted RTP packet of a publisher out to its subscribers, after
 * keeping it for retransmission and noting what is missing upstream. */
static void forward_rtp(pl_worker *w, transport *pub, const uint8_t *pkt, size_t len)
{
    pl_rtp_header h;
    if (pl_rtp_parse(pkt, len, &h) != PL_OK)
        return;
    size_t ti = PL_MAX_TRACKS;
    bool rtx = false;
    for (size_t i = 0; i < pub->n_tracks && ti == PL_MAX_TRACKS; i++) {
        if (pub->tracks[i].ssrc == h.ssrc) {
            ti = i;
        } else if (pub->tracks[i].rtx_ssrc && pub->tracks[i].rtx_ssrc == h.ssrc) {
            ti = i;
            rtx = true;
        }
    }
    if (ti == PL_MAX_TRACKS)
        return;
    const pl_track *track = &pub->tracks[ti];
    pl_rtp_ext lvl;
    bool voice;
    uint8_t level;
    if (!rtx && track->audio_level_ext &&
        pl_rtp_ext_find(pkt, &h, track->audio_level_ext, &lvl) == PL_OK &&
        pl_rtp_ext_audio_level(&lvl, &voice, &level) == PL_OK && level <= SPEAKING_LEVEL) {
        /* Level alone decides: senders' voice-activity flags disagree. */
        if (w->now >= pub->loud_until[ti] || level < pub->level[ti])
            pub->level[ti] = level;
        pub->loud_until[ti] = w->now + SPEAKING_HOLD_US;
    }
    uint16_t seq;
    size_t n = strip(w, track, pkt, &h, rtx, &seq);
    if (n == 0)
        return;
    track_state *st = track_state_for(w, pub, ti, rtx ? track->ssrc : h.ssrc);
    if (st) {
        /* A packet the cache already holds is a duplicate (or a
         * retransmission that lost the race): subscribers have it. */
        if (pl_pktcache_put(st->cache, seq, w->scratch, n) == PL_EREPLAY)
            return;
        pl_rtp_rx_packet(&st->rx, seq, h.timestamp, w->now, rtx);
        pl_nack_gen_packet(&st->nack, seq, w->now);
        int64_t next = pl_nack_gen_next(&st->nack);
        if (track->nack && next < w->next_repair)
            w->next_repair = next;
    }
    for (size_t f = 0; f < pub->fan_n[ti]; f++) {
        transport *s = pub->fan[ti][f].sub;
        size_t r = pub->fan[ti][f].route;
        if (!s->connected || s->routes[r].paused)
            continue;
        send_on_route(w, s, r, w->scratch, n, false);
    }
}

/* A subscriber's NACK: resend what the publisher track's cache still has. */
static void answer_nack(pl_worker *w, transport *sub, const pl_rtcp_nack *nack)
{
    for (size_t r = 0; r < sub->n_routes; r++) {
        if (sub->routes[r].out_ssrc != nack->media_ssrc)
            continue;
        const route_state *rs = &sub->route_st[r];
        transport *p = by_id(w, sub->routes[r].publisher);
        if (!p || !rs->started)
            return;
        for (size_t ti = 0; ti < p->n_tracks; ti++) {
            if (strcmp(p->tracks[ti].mid, sub->routes[r].mid) != 0 || !p->ts[ti])
                continue;
            if (p->ts[ti]->ssrc != rs->src_ssrc)
                return; /* the cache holds another source's packets now */
            uint16_t lost[PL_RTCP_MAX_NACK * 17];
            size_t n = pl_rtcp_nack_lost(nack, lost, sizeof(lost) / sizeof(lost[0]));
            for (size_t k = 0; k < n; k++) {
                size_t len;
                uint16_t src_seq = (uint16_t)(lost[k] - rs->seq_offset);
                const uint8_t *pkt = pl_pktcache_get(p->ts[ti]->cache, src_seq, &len);
                if (pkt)
                    send_on_route(w, sub, r, pkt, len, true);
            }
            return;
        }
        return;
    }
}

/* Keyframe requests from a subscriber go to the publisher of that stream. */
static void handle_subscriber_rtcp(pl_worker *w, transport *sub, const uint8_t *data, size_t len)
{
    pl_rtcp_iter it;
    pl_rtcp_packet *p = w->rtcp;
    const size_t max_packets = 16;
    pl_rtcp_iter_init(&it, data, len);
    for (size_t k = 0; k < max_packets && pl_rtcp_next(&it, p) == 1; k++) {
        uint32_t media = 0;
        if (p->kind == PL_RTCP_K_NACK)
            answer_nack(w, sub, &p->u.nack);
        if (p->kind == PL_RTCP_K_PLI)
            media = p->u.pli.media_ssrc;
        else if (p->kind == PL_RTCP_K_FIR && p->u.fir.n_entries)
            media = p->u.fir.entries[0].ssrc;
        for (size_t r = 0; media && r < sub->n_routes; r++)
            if (sub->routes[r].out_ssrc == media)
                request_keyframe(w, sub->routes[r].publisher, sub->routes[r].mid);
    }
}

/* A publisher's sender reports give the NTP <-> RTP mapping its
 * subscribers' reports are made from. */
static void handle_publisher_rtcp(pl_worker *w, transport *pub, const uint8_t *data, size_t len)
{
    pl_rtcp_iter it;
    pl_rtcp_packet *p = w->rtcp;
    const size_t max_packets = 16;
    pl_rtcp_iter_init(&it, data, len);
    for (size_t k = 0; k < max_packets && pl_rtcp_next(&it, p) == 1; k++) {
        if (p->kind != PL_RTCP_K_SR)
            continue;
        for (size_t i = 0; i < pub->n_tracks; i++)
            if (pub->tracks[i].ssrc == p->u.sr.ssrc && pub->ts[i])
                pl_rtp_rx_sr(&pub->ts[i]->rx, p->u.sr.ntp, p->u.sr.rtp_ts, w->now);
    }
}

static void drain_outputs(pl_worker *w, transport *t)
{
    pl_peer_output o;
    while (pl_peer_poll_output(t->peer, &o) == PL_OK) {
        switch (o.kind) {
        case PL_PEER_OUT_TRANSMIT:
            if (sendto(w->fd, o.data, o.len, 0, (const struct sockaddr *)&o.addr.ss, o.addr.len) >=
                0)
                atomic_fetch_add(&w->st.out, 1);
            break;
        case PL_PEER_OUT_CONNECTED:
            t->connected = true;
            emit(w, PL_WORKER_CONNECTED, t->id, 0);
            request_keyframes_for(w, t); /* a new subscriber needs a picture now */
            break;
        case PL_PEER_OUT_FAILED:
            /* RFC 7675: a transport without consent stops sending at once;
             * its memory goes at the end of this loop turn, when nothing
             * holds a pointer to it. */
            t->failed = true;
            w->reap = true;
            emit(w, PL_WORKER_FAILED, t->id, o.error);
            break;
        case PL_PEER_OUT_CLOSED:
            emit(w, PL_WORKER_CLOSED, t->id, 0);
            break;
        case PL_PEER_OUT_RTP:
            atomic_fetch_add(&w->st.rtp, 1);
            forward_rtp(w, t, o.data, o.len);
            break;
        case PL_PEER_OUT_RTCP:
            atomic_fetch_add(&w->st.rtcp, 1);
            if (t->n_routes)
                handle_subscriber_rtcp(w, t, o.data, o.len);
            if (t->n_tracks)
                handle_publisher_rtcp(w, t, o.data, o.len);
            break;
        case PL_PEER_OUT_ADDRESS:
            remember_addr(t, &o.addr);
            break;
        }
    }
}

static void free_track_state(pl_worker *w, track_state *st)
{
    if (!st)
        return;
    pl_pktcache_destroy(&w->env, st->cache);
    pl_env_free(&w->env, st);
}

static track_state *new_track_state(pl_worker *w, bool video)
{
    track_state *st = pl_env_alloc(&w->env, sizeof(*st));
    if (!st)
        return NULL;
    st->cache = pl_pktcache_create(&w->env, video ? CACHE_VIDEO : CACHE_AUDIO);
    if (!st->cache) {
        pl_env_free(&w->env, st);
        return NULL;
    }
    pl_rtp_rx_init(&st->rx, video ? 90000 : 48000);
    pl_nack_gen_init(&st->nack, NULL);
    pl_keyframe_limiter_init(&st->kf, KEYFRAME_INTERVAL_US);
    return st;
}

static void destroy_transport(pl_worker *w, transport *t)
{
    for (size_t i = 0; i < PL_MAX_TRACKS; i++) {
        pl_env_free(&w->env, t->fan[i]);
        free_track_state(w, t->ts[i]);
    }
    pl_peer_destroy(t->peer);
    pl_env_free(&w->env, t);
    atomic_fetch_sub(&w->st.transports, 1);
}

static void run_command(pl_worker *w, cmd *c, int64_t now)
{
    if (c->kind == CMD_TRACKS || c->kind == CMD_ROUTES) {
        transport *t = by_id(w, c->id);
        if (!t) {
            emit(w, PL_WORKER_REFUSED, c->id, PL_ENOTFOUND);
            return;
        }
        if (c->kind == CMD_TRACKS) {
            t->n_tracks = c->n;
            memcpy(t->tracks, c->tracks, c->n * sizeof(c->tracks[0]));
            /* Repair state per track, kept across renegotiations of the
             * same source (track_state_for resets it when the source
             * changes). */
            for (size_t i = 0; i < PL_MAX_TRACKS; i++) {
                bool video = i < c->n && c->tracks[i].video;
                if (t->ts[i] &&
                    (i >= c->n || t->ts[i]->cache == NULL ||
                     pl_pktcache_slots(t->ts[i]->cache) != (video ? CACHE_VIDEO : CACHE_AUDIO))) {
                    free_track_state(w, t->ts[i]);
                    t->ts[i] = NULL;
                }
                if (i < c->n && !t->ts[i])
                    t->ts[i] = new_track_state(w, video);
            }
            return;
        }
        /* Renegotiation re-sends every route: keep the continuity state of
         * the output streams that survive it. */
        route_state st[PL_MAX_ROUTES];
        for (size_t i = 0; i < c->n; i++) {
            memset(&st[i], 0, sizeof(st[i]));
            for (size_t k = 0; k < t->n_routes; k++)
                if (t->routes[k].out_ssrc == c->routes[i].out_ssrc)
                    st[i] = t->route_st[k];
        }
        t->n_routes = c->n;
        memcpy(t->routes, c->routes, c->n * sizeof(c->routes[0]));
        memcpy(t->route_st, st, c->n * sizeof(st[0]));
        if (t->connected)
            request_keyframes_for(w, t);
        return;
    }
    if (c->kind == CMD_RESTART) {
        transport *t = by_id(w, c->id);
        transport *other = by_ufrag(w, c->local_ufrag);
        if (!t || (other && other != t) ||
            pl_peer_restart_ice(t->peer, now, c->local_ufrag, c->local_pwd, c->remote_ufrag,
                                c->remote_pwd) != PL_OK) {
            pl_env_logf(&w->env, PL_LOG_WARN, "worker %d: ICE restart of transport %llu refused",
                        w->cfg.index, (unsigned long long)c->id);
            emit(w, PL_WORKER_REFUSED, c->id, !t ? PL_ENOTFOUND : PL_EINVAL);
            return;
        }
        snprintf(t->ufrag, sizeof(t->ufrag), "%s", c->local_ufrag);
        return;
    }
    if (c->kind == CMD_REMOVE) {
        for (transport **pp = &w->transports; *pp; pp = &(*pp)->next)
            if ((*pp)->id == c->id) {
                transport *t = *pp;
                *pp = t->next;
                destroy_transport(w, t);
                return;
            }
        return;
    }
    if (by_id(w, c->id) || by_ufrag(w, c->local_ufrag)) {
        emit(w, PL_WORKER_REFUSED, c->id, PL_EINVAL); /* a duplicate id or ufrag */
        return;
    }
    transport *t = pl_env_alloc(&w->env, sizeof(*t));
    if (!t) {
        emit(w, PL_WORKER_REFUSED, c->id, PL_ENOMEM);
        return;
    }
    pl_peer_config pc = {.role = PL_PEER_SERVER,
                         .cert = w->cfg.cert,
                         .local_ufrag = c->local_ufrag,
                         .local_pwd = c->local_pwd};
    t->id = c->id;
    t->peer = pl_peer_create(&w->env, &pc);
    snprintf(t->ufrag, sizeof(t->ufrag), "%s", c->local_ufrag);
    if (!t->peer ||
        pl_peer_set_remote(t->peer, c->remote_ufrag, c->remote_pwd, c->fp_alg, c->fp) != PL_OK ||
        pl_peer_start(t->peer, now) != PL_OK) {
        pl_peer_destroy(t->peer);
        pl_env_free(&w->env, t);
        emit(w, PL_WORKER_FAILED, c->id, PL_EINVAL);
        return;
    }
    t->next = w->transports;
    w->transports = t;
    atomic_fetch_add(&w->st.transports, 1);
}

static bool fan_append(pl_worker *w, transport *p, size_t ti, transport *sub, size_t route)
{
    if (p->fan_n[ti] == p->fan_cap[ti]) {
        size_t cap = p->fan_cap[ti] ? 2 * p->fan_cap[ti] : 8;
        fan_entry *grown = pl_env_alloc(&w->env, cap * sizeof(*grown));
        if (!grown)
            return false;
        if (p->fan_n[ti])
            memcpy(grown, p->fan[ti], p->fan_n[ti] * sizeof(*grown));
        pl_env_free(&w->env, p->fan[ti]);
        p->fan[ti] = grown;
        p->fan_cap[ti] = cap;
    }
    p->fan[ti][p->fan_n[ti]++] = (fan_entry){.sub = sub, .route = route};
    return true;
}

/* Recomputes every publisher track's subscriber list from the routes.
 * Commands are rare next to packets, so this runs after each batch of them
 * and keeps the forwarding path free of lookups. */
static void rebuild_fanout(pl_worker *w)
{
    for (transport *t = w->transports; t; t = t->next)
        memset(t->fan_n, 0, sizeof(t->fan_n));
    for (transport *s = w->transports; s; s = s->next)
        for (size_t r = 0; r < s->n_routes; r++) {
            transport *p = by_id(w, s->routes[r].publisher);
            for (size_t ti = 0; p && ti < p->n_tracks; ti++)
                if (strcmp(p->tracks[ti].mid, s->routes[r].mid) == 0 && !fan_append(w, p, ti, s, r))
                    pl_env_logf(&w->env, PL_LOG_ERROR, "worker %d: out of memory for routes",
                                w->cfg.index);
        }
}

static void run_commands(pl_worker *w, int64_t now)
{
    w->now = now;
    pthread_mutex_lock(&w->lock);
    cmd *list = w->cmds;
    w->cmds = NULL;
    pthread_mutex_unlock(&w->lock);
    /* The queue was built newest first; run in arrival order. */
    cmd *rev = NULL;
    while (list) {
        cmd *n = list->next;
        list->next = rev;
        rev = list;
        list = n;
    }
    bool any = rev != NULL;
    while (rev) {
        cmd *n = rev->next;
        run_command(w, rev, now);
        pl_env_free(&w->env, rev);
        rev = n;
    }
    if (any) {
        rebuild_fanout(w);
        w->next_timer = now; /* new transports have timers of their own */
    }
}

/* Frees the transports that failed during this loop turn; the fan-out
 * lists that pointed at them are rebuilt. */
static void reap_failed(pl_worker *w)
{
    if (!w->reap)
        return;
    w->reap = false;
    for (transport **pp = &w->transports; *pp;) {
        transport *t = *pp;
        if (!t->failed) {
            pp = &t->next;
            continue;
        }
        *pp = t->next;
        destroy_transport(w, t);
        atomic_fetch_add(&w->st.failed, 1);
    }
    rebuild_fanout(w);
}

static void handle_datagram(pl_worker *w, int64_t now, const pl_addr *from, uint8_t *data,
                            size_t len)
{
    atomic_fetch_add(&w->st.in, 1);
    w->now = now;
    transport *t = NULL;
    char ufrag[UFRAG_MAX];
    bool stun = len > 0 && data[0] <= 3;
    if (stun && pl_stun_peek_local_ufrag(data, len, ufrag, sizeof(ufrag)) == PL_OK)
        t = by_ufrag(w, ufrag);
    if (!t)
        t = by_addr(w, from);
    if (!t) {
        atomic_fetch_add(&w->st.unknown, 1);
        return;
    }
    int rc = pl_peer_handle_datagram(t->peer, now, from, data, len);
    if (rc != PL_OK)
        atomic_fetch_add(&w->st.rejected, 1);
    else if (stun)
        remember_addr(t, from); /* an authenticated check: this address is the peer's */
    drain_outputs(w, t);
    int64_t next = pl_peer_next_timeout(t->peer);
    if (next < w->next_timer)
        w->next_timer = next;
}

/* Asks a publisher for the packets it lost on the way to the relay (RR +
 * generic NACK, RFC 4585). */
static void send_nack(pl_worker *w, transport *pub, size_t ti, const uint16_t *lost, size_t n)
{
    uint8_t buf[1200];
    pl_wbuf wb = pl_wbuf_make(buf, sizeof(buf));
    pl_rtcp_rr rr = {.ssrc = RELAY_SSRC, .n_reports = 0};
    pl_rtcp_write_rr(&wb, &rr);
    pl_rtcp_nack nack = {.sender_ssrc = RELAY_SSRC, .media_ssrc = pub->tracks[ti].ssrc};
    nack.n_items = pl_rtcp_nack_pack(lost, n, nack.items, PL_RTCP_MAX_NACK);
    pl_rtcp_write_nack(&wb, &nack);
    if (pl_wbuf_ok(&wb)) {
        send_protected(w, pub, true, buf, wb.len);
        atomic_fetch_add(&w->st.nacks, 1);
    }
}

/* Receiver reports to a publisher (one block per track), sender reports
 * to a subscriber (one per forwarded stream whose publisher reported). */
static void send_reports(pl_worker *w, transport *t)
{
    uint8_t buf[1200];
    if (t->n_tracks) {
        pl_rtcp_rr rr = {.ssrc = RELAY_SSRC};
        for (size_t i = 0; i < t->n_tracks; i++)
            if (t->ts[i] && t->ts[i]->rx.started)
                pl_rtp_rx_report(&t->ts[i]->rx, t->tracks[i].ssrc, w->now,
                                 &rr.reports[rr.n_reports++]);
        if (rr.n_reports) {
            pl_wbuf wb = pl_wbuf_make(buf, sizeof(buf));
            pl_rtcp_write_rr(&wb, &rr);
            if (pl_wbuf_ok(&wb))
                send_protected(w, t, true, buf, wb.len);
        }
    }
    for (size_t r = 0; r < t->n_routes; r++) {
        const route_state *rs = &t->route_st[r];
        if (!rs->started || t->routes[r].paused)
            continue;
        transport *p = by_id(w, t->routes[r].publisher);
        for (size_t ti = 0; p && ti < p->n_tracks; ti++) {
            if (strcmp(p->tracks[ti].mid, t->routes[r].mid) != 0 || !p->ts[ti] ||
                p->ts[ti]->ssrc != rs->src_ssrc)
                continue;
            pl_rtcp_sr sr;
            if (!pl_sr_map(&p->ts[ti]->rx, t->routes[r].out_ssrc, rs->ts_offset, rs->packets,
                           rs->octets, w->now, &sr))
                continue;
            pl_wbuf wb = pl_wbuf_make(buf, sizeof(buf));
            pl_rtcp_write_sr(&wb, &sr);
            if (pl_wbuf_ok(&wb))
                send_protected(w, t, true, buf, wb.len);
        }
    }
}

/* NACKs and merged keyframe requests that are due, and periodic reports. */
static void run_repair(pl_worker *w, int64_t now)
{
    if (now < w->next_repair)
        return;
    int64_t next = now + REPAIR_TICK_US;
    for (transport *t = w->transports; t; t = t->next) {
        if (!t->connected)
            continue;
        for (size_t i = 0; i < t->n_tracks; i++) {
            track_state *st = t->ts[i];
            if (!st)
                continue;
            if (t->tracks[i].nack) {
                uint16_t lost[64];
                size_t n = pl_nack_gen_poll(&st->nack, now, lost, 64);
                if (n)
                    send_nack(w, t, i, lost, n);
                int64_t nn = pl_nack_gen_next(&st->nack);
                if (nn < next)
                    next = nn;
            }
            /* Losses past repair: a keyframe is the way back. */
            if (pl_nack_gen_take_keyframe_need(&st->nack) && t->tracks[i].video &&
                pl_keyframe_limiter_request(&st->kf, now))
                send_pli(w, t, t->tracks[i].ssrc);
            if (pl_keyframe_limiter_poll(&st->kf, now))
                send_pli(w, t, t->tracks[i].ssrc);
            int64_t kn = pl_keyframe_limiter_next(&st->kf);
            if (kn < next)
                next = kn;
        }
        if (now >= t->next_report) {
            if (t->next_report)
                send_reports(w, t);
            /* Spread transports over the interval. */
            t->next_report = now + REPORT_US - (int64_t)(t->id % 97) * 1000;
        }
    }
    w->next_repair = next;
}

/* Scans the transports only when one of them is due. */
static void run_timers(pl_worker *w, int64_t now)
{
    if (now < w->next_timer)
        return;
    int64_t next = INT64_MAX;
    for (transport *t = w->transports; t; t = t->next) {
        if (pl_peer_next_timeout(t->peer) <= now) {
            pl_peer_handle_timeout(t->peer, now);
            drain_outputs(w, t);
        }
        int64_t n = pl_peer_next_timeout(t->peer);
        if (n < next)
            next = n;
    }
    w->next_timer = next;
}

/* Reports publishers whose audio became loud or fell silent. */
static void check_speakers(pl_worker *w, int64_t now)
{
    if (now < w->next_speaker_check)
        return;
    w->next_speaker_check = now + SPEAKER_CHECK_US;
    for (transport *t = w->transports; t; t = t->next)
        for (size_t i = 0; i < t->n_tracks; i++) {
            if (!t->tracks[i].audio_level_ext)
                continue;
            bool speaking = now < t->loud_until[i];
            if (speaking == t->speaking[i])
                continue;
            t->speaking[i] = speaking;
            if (w->cfg.on_event) {
                pl_worker_event ev = {.kind = PL_WORKER_SPEAKING,
                                      .transport = t->id,
                                      .speaking = speaking,
                                      .level = t->level[i]};
                w->cfg.on_event(w->cfg.user, &ev);
            }
        }
}

static int next_wait_ms(pl_worker *w, int64_t now)
{
    int64_t next = w->next_speaker_check > now ? w->next_speaker_check : now + SPEAKER_CHECK_US;
    if (w->next_timer < next)
        next = w->next_timer;
    if (w->next_repair < next)
        next = w->next_repair;
    int64_t ms = (next - now + 999) / 1000;
    return ms < 0 ? 0 : (int)ms;
}

static void *worker_main(void *arg)
{
    pl_worker *w = arg;
    static const size_t cap = DGRAM_MAX;
    uint8_t bufs[BATCH][DGRAM_MAX];
    union {
        char buf[CMSG_SPACE(sizeof(struct timespec))];
        struct cmsghdr align;
    } ctrl[BATCH];
    struct mmsghdr msgs[BATCH];
    struct iovec iov[BATCH];
    pl_addr from[BATCH];
    while (!atomic_load(&w->stop)) {
        struct epoll_event evs[2];
        int n = epoll_wait(w->efd, evs, 2, next_wait_ms(w, now_us()));
        int64_t now = now_us();
        for (int i = 0; i < n; i++) {
            if (evs[i].data.fd == w->wake) {
                uint64_t v;
                if (read(w->wake, &v, sizeof(v)) < 0 && errno != EAGAIN)
                    break;
                run_commands(w, now);
                continue;
            }
            /* Drain the socket in batches: one syscall for up to BATCH datagrams. */
            for (;;) {
                for (int k = 0; k < BATCH; k++) {
                    iov[k] = (struct iovec){.iov_base = bufs[k], .iov_len = cap};
                    memset(&from[k], 0, sizeof(from[k]));
                    msgs[k].msg_hdr = (struct msghdr){.msg_name = &from[k].ss,
                                                      .msg_namelen = sizeof(from[k].ss),
                                                      .msg_iov = &iov[k],
                                                      .msg_iovlen = 1,
                                                      .msg_control = ctrl[k].buf,
                                                      .msg_controllen = sizeof(ctrl[k].buf)};
                }
                int got = recvmmsg(w->fd, msgs, BATCH, MSG_DONTWAIT, NULL);
                if (got <= 0)
                    break;
                for (int k = 0; k < got; k++) {
                    from[k].len = msgs[k].msg_hdr.msg_namelen;
                    w->cur_rx = 0;
                    for (struct cmsghdr *c = CMSG_FIRSTHDR(&msgs[k].msg_hdr); c;
                         c = CMSG_NXTHDR(&msgs[k].msg_hdr, c))
                        if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_TIMESTAMPNS) {
                            struct timespec ts;
                            memcpy(&ts, CMSG_DATA(c), sizeof(ts));
                            w->cur_rx = (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
                        }
                    handle_datagram(w, now, &from[k], bufs[k], msgs[k].msg_len);
                }
                w->cur_rx = 0; /* what timers send next was not received */
                flush_out(w);
                if (got < BATCH)
                    break;
            }
        }
        w->now = now_us();
        run_timers(w, w->now);
        run_repair(w, w->now);
        check_speakers(w, w->now);
        flush_out(w);
        reap_failed(w);
    }
    return NULL;
}

pl_worker *pl_worker_start(const pl_env *env, const pl_worker_config *cfg)
{
    pl_addr bind_addr;
    if (!cfg->cert || pl_addr_set(&bind_addr, cfg->bind_ip, cfg->port) != PL_OK)
        return NULL;
    pl_worker *w = pl_env_alloc(env, sizeof(*w));
    if (!w)
        return NULL;
    w->env = *env;
    w->cfg = *cfg;
    w->rtcp = pl_env_alloc(env, sizeof(*w->rtcp));
    w->obuf = pl_env_alloc(env, OUT_BATCH * sizeof(*w->obuf));
    w->fd = socket(bind_addr.ss.ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    w->efd = epoll_create1(EPOLL_CLOEXEC);
    w->wake = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    pthread_mutex_init(&w->lock, NULL);
    /* Bigger socket buffers absorb bursts (a keyframe fanned out to many). */
    int sz = 4 << 20;
    setsockopt(w->fd, SOL_SOCKET, SO_RCVBUF, &sz, sizeof(sz));
    setsockopt(w->fd, SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
    int on = 1; /* receive timestamps, for the time packets spend in the relay */
    setsockopt(w->fd, SOL_SOCKET, SO_TIMESTAMPNS, &on, sizeof(on));
    struct epoll_event e1 = {.events = EPOLLIN, .data.fd = w->fd};
    struct epoll_event e2 = {.events = EPOLLIN, .data.fd = w->wake};
    pl_addr bound;
    bound.len = sizeof(bound.ss);
    if (!w->rtcp || !w->obuf || w->fd < 0 || w->efd < 0 || w->wake < 0 ||
        bind(w->fd, (const struct sockaddr *)&bind_addr.ss, bind_addr.len) != 0 ||
        getsockname(w->fd, (struct sockaddr *)&bound.ss, &bound.len) != 0 ||
        epoll_ctl(w->efd, EPOLL_CTL_ADD, w->fd, &e1) != 0 ||
        epoll_ctl(w->efd, EPOLL_CTL_ADD, w->wake, &e2) != 0 ||
        pthread_create(&w->thread, NULL, worker_main, w) != 0) {
        if (w->fd >= 0)
            close(w->fd);
        if (w->efd >= 0)
            close(w->efd);
        if (w->wake >= 0)
            close(w->wake);
        pthread_mutex_destroy(&w->lock);
        pl_env_free(env, w->rtcp);
        pl_env_free(env, w->obuf);
        pl_env_free(env, w);
        return NULL;
    }
    w->port = pl_addr_port(&bound);
    return w;
}

static void wake(pl_worker *w)
{
    uint64_t one = 1;
    if (write(w->wake, &one, sizeof(one)) < 0) {
        /* The counter can only saturate; the loop is awake then anyway. */
    }
}

void pl_worker_stop(pl_worker *w)
{
    if (!w)
        return;
    atomic_store(&w->stop, true);
    wake(w);
    pthread_join(w->thread, NULL);
    while (w->transports) {
        transport *t = w->transports;
        w->transports = t->next;
        destroy_transport(w, t);
    }
    while (w->cmds) {
        cmd *c = w->cmds;
        w->cmds = c->next;
        pl_env_free(&w->env, c);
    }
    close(w->fd);
    close(w->efd);
    close(w->wake);
    pthread_mutex_destroy(&w->lock);
    pl_env_free(&w->env, w->rtcp);
    pl_env_free(&w->env, w->obuf);
    pl_env_free(&w->env, w);
}

static int push(pl_worker *w, cmd *c)
{
    pthread_mutex_lock(&w->lock);
    c->next = w->cmds;
    w->cmds = c;
    pthread_mutex_unlock(&w->lock);
    wake(w);
    return PL_OK;
}

static bool fits(const char *s, size_t cap)
{
    return s && strlen(s) < cap;
}

int pl_worker_add_transport(pl_worker *w, uint64_t id, const char *local_ufrag,
                            const char *local_pwd, const char *remote_ufrag, const char *remote_pwd,
                            const char *fp_alg, const char *fp)
{
    cmd tmp;
    if (!fits(local_ufrag, sizeof(tmp.local_ufrag)) || !fits(local_pwd, sizeof(tmp.local_pwd)) ||
        !fits(remote_ufrag, sizeof(tmp.remote_ufrag)) ||
        !fits(remote_pwd, sizeof(tmp.remote_pwd)) || !fits(fp_alg, sizeof(tmp.fp_alg)) ||
        !fits(fp, sizeof(tmp.fp)))
        return PL_EINVAL;
    cmd *c = pl_env_alloc(&w->env, sizeof(*c));
    if (!c)
        return PL_ENOMEM;
    c->kind = CMD_ADD;
    c->id = id;
    strcpy(c->local_ufrag, local_ufrag);
    strcpy(c->local_pwd, local_pwd);
    strcpy(c->remote_ufrag, remote_ufrag);
    strcpy(c->remote_pwd, remote_pwd);
    strcpy(c->fp_alg, fp_alg);
    strcpy(c->fp, fp);
    return push(w, c);
}

int pl_worker_restart_ice(pl_worker *w, uint64_t id, const char *local_ufrag, const char *local_pwd,
                          const char *remote_ufrag, const char *remote_pwd)
{
    cmd tmp;
    if (!fits(local_ufrag, sizeof(tmp.local_ufrag)) || !fits(local_pwd, sizeof(tmp.local_pwd)) ||
        !fits(remote_ufrag, sizeof(tmp.remote_ufrag)) || !fits(remote_pwd, sizeof(tmp.remote_pwd)))
        return PL_EINVAL;
    cmd *c = pl_env_alloc(&w->env, sizeof(*c));
    if (!c)
        return PL_ENOMEM;
    c->kind = CMD_RESTART;
    c->id = id;
    strcpy(c->local_ufrag, local_ufrag);
    strcpy(c->local_pwd, local_pwd);
    strcpy(c->remote_ufrag, remote_ufrag);
    strcpy(c->remote_pwd, remote_pwd);
    return push(w, c);
}

int pl_worker_remove_transport(pl_worker *w, uint64_t id)
{
    cmd *c = pl_env_alloc(&w->env, sizeof(*c));
    if (!c)
        return PL_ENOMEM;
    c->kind = CMD_REMOVE;
    c->id = id;
    return push(w, c);
}

int pl_worker_set_tracks(pl_worker *w, uint64_t publisher, const pl_track *tracks, size_t n)
{
    if (n > PL_MAX_TRACKS)
        return PL_EINVAL;
    cmd *c = pl_env_alloc(&w->env, sizeof(*c));
    if (!c)
        return PL_ENOMEM;
    c->kind = CMD_TRACKS;
    c->id = publisher;
    c->n = n;
    memcpy(c->tracks, tracks, n * sizeof(*tracks));
    return push(w, c);
}

int pl_worker_set_routes(pl_worker *w, uint64_t subscriber, const pl_route *routes, size_t n)
{
    if (n > PL_MAX_ROUTES)
        return PL_EINVAL;
    cmd *c = pl_env_alloc(&w->env, sizeof(*c));
    if (!c)
        return PL_ENOMEM;
    c->kind = CMD_ROUTES;
    c->id = subscriber;
    c->n = n;
    memcpy(c->routes, routes, n * sizeof(*routes));
    return push(w, c);
}

void pl_worker_stats_get(const pl_worker *w, pl_worker_stats *out)
{
    out->transports = atomic_load(&w->st.transports);
    out->datagrams_in = atomic_load(&w->st.in);
    out->datagrams_out = atomic_load(&w->st.out);
    out->dropped_unknown_source = atomic_load(&w->st.unknown);
    out->dropped_by_transport = atomic_load(&w->st.rejected);
    out->rtp_in = atomic_load(&w->st.rtp);
    out->rtcp_in = atomic_load(&w->st.rtcp);
    out->rtp_forwarded = atomic_load(&w->st.fwd);
    out->keyframe_requests = atomic_load(&w->st.pli);
    out->retransmissions = atomic_load(&w->st.rtx);
    out->nacks_sent = atomic_load(&w->st.nacks);
    out->transports_failed = atomic_load(&w->st.failed);
    uint64_t total = 0;
    uint32_t counts[RESIDENCE_BUCKETS + 1];
    for (size_t b = 0; b <= RESIDENCE_BUCKETS; b++) {
        counts[b] = atomic_load_explicit(&w->residence[b], memory_order_relaxed);
        total += counts[b];
    }
    out->relay_samples = total;
    out->relay_p50_us = out->relay_p99_us = 0;
    uint64_t seen = 0;
    for (size_t b = 0; b <= RESIDENCE_BUCKETS && total; b++) {
        /* A bucket's upper edge: the percentile is at most this. */
        uint32_t edge = (uint32_t)((b + 1) * RESIDENCE_BUCKET_US);
        if (seen < (total + 1) / 2 && seen + counts[b] >= (total + 1) / 2)
            out->relay_p50_us = edge;
        if (seen < total - total / 100 && seen + counts[b] >= total - total / 100)
            out->relay_p99_us = edge;
        seen += counts[b];
    }
}

uint16_t pl_worker_port(const pl_worker *w)
{
    return w->port;
}
