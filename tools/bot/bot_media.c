/* A bot's media: what its transports say, its send clock (audio, and video
 * as one stream or as simulcast layers), the RTP it receives, and the RTCP
 * of the relay (keyframe requests, NACKs). */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "parley/buf.h"
#include "parley/rtcp.h"
#include "parley/rtp.h"
#include "parley/vp8.h"
#include "bot_priv.h"
#include "bot_sdp.h"
#include "loop.h"

/* RTP payload budget per packet: leaves room for the RTP header, the
 * VP8 descriptor and the SRTP tag under a 1200-byte datagram. */
#define VP8_MAX_PAYLOAD 1100
#define AUDIO_PERIOD_US 20000
#define VIDEO_PERIOD_US 33333
#define RTX_PT PL_BOT_RTX_PT

static void on_rtp(pl_bot *b, int64_t now_us, const uint8_t *pkt, size_t len);
static void on_rtcp(pl_bot *b, enum pl_bot_socket which, const uint8_t *pkt, size_t len);

void pl_bot_update_due(pl_bot *b)
{
    int64_t due = INT64_MAX;
    for (int i = 0; i < 2; i++)
        if (b->peer[i]) {
            int64_t t = pl_peer_next_timeout(b->peer[i]);
            if (t < due)
                due = t;
        }
    if (b->connected[PL_BOT_PUB]) {
        if (b->next_audio_us < due)
            due = b->next_audio_us;
        if (b->next_video_us < due)
            due = b->next_video_us;
    }
    for (size_t i = 0; i < MAX_STREAMS; i++) {
        int64_t t = pl_rxstream_next_due(&b->streams[i], b->ctx->nack);
        if (t < due)
            due = t;
    }
    if (b->connected[PL_BOT_SUB] && pl_ccfb_next(b->ccfb) < due)
        due = pl_ccfb_next(b->ccfb);
    atomic_store(&b->next_due, due);
}

void pl_bot_drain(pl_bot *b, enum pl_bot_socket which, int64_t now_us)
{
    pl_peer *p = b->peer[which];
    pl_peer_output o;
    while (p && pl_peer_poll_output(p, &o) == PL_OK) {
        switch (o.kind) {
        case PL_PEER_OUT_TRANSMIT:
            if (!pl_bot_send(b, which, o.data, o.len, &o.addr))
                b->send_errors++;
            break;
        case PL_PEER_OUT_CONNECTED:
            b->connected[which] = true;
            b->connected_us[which] = now_us;
            if (which == PL_BOT_PUB) {
                /* Media starts now, at a random phase so that many bots do
                 * not send in lockstep. */
                b->next_audio_us = now_us + (int64_t)(pl_env_random_u32(&b->ctx->env) % 20000);
                b->next_video_us = now_us + (int64_t)(pl_env_random_u32(&b->ctx->env) % 33000);
                b->keyframe_wanted = true;
                if (b->simulcast)
                    pl_simsend_restart(b->simulcast);
            }
            break;
        case PL_PEER_OUT_FAILED:
            pl_bot_fail(
                b, which == PL_BOT_PUB ? "publish transport failed" : "subscribe transport failed",
                o.error);
            b->connected[which] = false;
            break;
        case PL_PEER_OUT_CLOSED:
            b->connected[which] = false;
            break;
        case PL_PEER_OUT_RTP:
            if (which == PL_BOT_SUB)
                on_rtp(b, b->arrival_us ? b->arrival_us : now_us, o.data, o.len);
            break;
        case PL_PEER_OUT_RTCP:
            on_rtcp(b, which, o.data, o.len);
            break;
        case PL_PEER_OUT_ADDRESS:
            break;
        }
    }
}

static size_t rtp_header(uint8_t *pkt, uint8_t pt, bool marker, uint16_t seq, uint32_t ts,
                         uint32_t ssrc)
{
    pkt[0] = 0x80;
    pkt[1] = (uint8_t)((marker ? 0x80 : 0) | pt);
    pl_put_u16(pkt + 2, seq);
    pl_put_u32(pkt + 4, ts);
    pl_put_u32(pkt + 8, ssrc);
    return 12;
}

static void send_rtp(pl_bot *b, size_t len, bool video)
{
    pl_addr to;
    /* Kept in the clear for retransmission on NACK; the cache sizes itself
     * by the rate, timed here by the packet's own clock. */
    int64_t at = (int64_t)pl_get_u32(b->pkt + 4) * 1000 / (video ? 90 : 48);
    pl_pktcache_put(video ? b->sent_video : b->sent_audio, pl_get_u16(b->pkt + 2), b->pkt, len, at);
    int rc = pl_peer_protect_rtp(b->peer[PL_BOT_PUB], b->pkt, &len, sizeof(b->pkt), &to);
    if (rc != PL_OK) {
        b->send_errors++;
        return;
    }
    if (!pl_bot_send(b, PL_BOT_PUB, b->pkt, len, &to)) {
        b->send_errors++;
        return;
    }
    b->bytes_sent += len;
    if (video)
        b->video_sent++;
    else
        b->audio_sent++;
}

static void send_audio(pl_bot *b, int64_t now_us)
{
    const pl_clip_frame *f = pl_clip_audio(b->clip, b->audio_pos);
    b->audio_pos = (b->audio_pos + 1) % pl_clip_audio_count(b->clip);
    size_t h = rtp_header(b->pkt, PL_BOT_OPUS_PT, false, b->audio_seq++,
                          pl_rtp_clock_ts(now_us, 48000), b->audio_ssrc);
    memcpy(b->pkt + h, f->data, f->len);
    send_rtp(b, h + f->len, false);
}

/* The transport's side of the simulcast sender. */
static bool simulcast_tx(void *user, uint8_t *pkt, size_t len, size_t cap)
{
    pl_bot *b = user;
    pl_addr to;
    if (pl_peer_protect_rtp(b->peer[PL_BOT_PUB], pkt, &len, cap, &to) != PL_OK ||
        !pl_bot_send(b, PL_BOT_PUB, pkt, len, &to)) {
        b->send_errors++;
        return false;
    }
    b->bytes_sent += len;
    b->video_sent++;
    return true;
}

static void send_video(pl_bot *b, int64_t now_us)
{
    if (b->simulcast) {
        pl_simsend_frame(b->simulcast, pl_rtp_clock_ts(now_us, 90000), simulcast_tx, b);
        b->frames_sent++;
        return;
    }
    if (b->keyframe_wanted) {
        b->video_pos = 0; /* the clip starts with a keyframe */
        b->keyframe_wanted = false;
    }
    const pl_clip_frame *f = pl_clip_video(b->clip, b->video_pos);
    b->video_pos = (b->video_pos + 1) % pl_clip_video_count(b->clip);
    uint8_t payloads[PL_VP8_MAX_PACKETS * VP8_MAX_PAYLOAD];
    size_t lens[PL_VP8_MAX_PACKETS];
    uint16_t picture_id = b->picture_id;
    int n = pl_vp8_packetize(picture_id, f->data, f->len, VP8_MAX_PAYLOAD, payloads,
                             sizeof(payloads), lens, PL_VP8_MAX_PACKETS);
    b->picture_id = (uint16_t)((b->picture_id + 1) & 0x7fff);
    if (n <= 0) {
        b->send_errors++;
        return;
    }
    uint32_t ts = pl_rtp_clock_ts(now_us, 90000);
    atomic_store_explicit(&b->frame_ts[picture_id % FRAME_TS_RING],
                          FRAME_TS_VALID | (uint64_t)picture_id << 32 | ts, memory_order_relaxed);
    size_t off = 0;
    for (int i = 0; i < n; i++) {
        size_t h = rtp_header(b->pkt, PL_BOT_VP8_PT, i == n - 1, b->video_seq++, ts, b->video_ssrc);
        memcpy(b->pkt + h, payloads + off, lens[i]);
        off += lens[i];
        send_rtp(b, h + lens[i], true);
    }
    b->frames_sent++;
    if (f->keyframe)
        b->keyframes_sent++;
}

/* ---- receiving --------------------------------------------------------- */

static pl_rxstream *stream_by_ssrc(pl_bot *b, uint32_t ssrc)
{
    for (size_t i = 0; i < MAX_STREAMS; i++)
        if (b->streams[i].used && b->streams[i].ssrc == ssrc &&
            (b->streams[i].active || !b->streams[i].ended_us))
            return &b->streams[i];
    for (size_t i = 0; i < MAX_STREAMS; i++)
        if (b->streams[i].used && b->streams[i].ssrc == ssrc)
            return &b->streams[i];
    return NULL;
}

static void send_feedback(void *user, const uint8_t *rtcp, size_t len)
{
    pl_bot *b = user;
    if (!b->peer[PL_BOT_SUB] || !b->connected[PL_BOT_SUB])
        return;
    memcpy(b->pkt, rtcp, len);
    pl_addr to;
    if (pl_peer_protect_rtcp(b->peer[PL_BOT_SUB], b->pkt, &len, sizeof(b->pkt), &to) != PL_OK)
        return;
    pl_bot_send(b, PL_BOT_SUB, b->pkt, len, &to);
}

/* A server that rewrites RTP timestamps shifts a stream's by a constant
 * (Janus: from 0 at the first packet it forwards): the offset, from a frame
 * whose send time its sender noted, gives every packet its sender's
 * timestamp back, and the delay is measured as with Parley. */
static void sender_timestamp(pl_bot *b, pl_rxstream *s, pl_rtp_header *h, const uint8_t *payload,
                             size_t len)
{
    const pl_bot_ctx *ctx = b->ctx;
    pl_vp8_desc d;
    unsigned idx;
    char tail;
    if (s->video && pl_vp8_parse_descriptor(payload, len, &d) == PL_OK && d.has_picture_id &&
        sscanf(s->name, "bot-%u%c", &idx, &tail) == 1 && idx >= ctx->first_index &&
        idx - ctx->first_index < ctx->n_bots) {
        const pl_bot *from = ctx->bots[idx - ctx->first_index];
        uint64_t e = atomic_load_explicit(&from->frame_ts[d.picture_id % FRAME_TS_RING],
                                          memory_order_relaxed);
        if ((e & FRAME_TS_VALID) && ((e >> 32) & 0x7fff) == d.picture_id) {
            s->ts_offset = h->timestamp - (uint32_t)e;
            s->ts_offset_known = true;
        }
    }
    s->delay_unknown = !s->ts_offset_known;
    if (s->ts_offset_known)
        h->timestamp -= s->ts_offset;
}

static void on_rtp(pl_bot *b, int64_t now_us, const uint8_t *pkt, size_t len)
{
    pl_rtp_header h;
    if (pl_rtp_parse(pkt, len, &h) != PL_OK)
        return;
    /* Before anything else: padding probes and packets of no stream count
     * for the relay's estimate too. */
    pl_ccfb_rtp(b->ccfb, pkt, &h, now_us);
    pl_rxstream *s = stream_by_ssrc(b, h.ssrc);
    bool rtx = false;
    uint16_t seq = h.seq;
    const uint8_t *payload = pkt + h.header_len;
    size_t payload_len = h.payload_len;
    if (!s) {
        for (size_t i = 0; i < MAX_STREAMS && !s; i++)
            if (b->streams[i].used && b->streams[i].rtx_ssrc == h.ssrc && h.ssrc)
                s = &b->streams[i];
        if (!s) {
            b->unknown_ssrc++;
            return;
        }
        /* RFC 4588: the original sequence number, then the payload. */
        if (pl_rtp_rtx_osn(pkt, &h, &seq) != PL_OK)
            return;
        rtx = true;
        payload += 2;
        payload_len -= 2;
    }
    if (b->ctx->ts_rewritten)
        sender_timestamp(b, s, &h, payload, payload_len);
    pl_rxstream_fb fb = {.user = b, .send = send_feedback};
    pl_rxstream_rtp(s, now_us, &h, seq, payload, payload_len, len, rtx, &fb);
}

static void resend(pl_bot *b, const pl_rtcp_nack *nack)
{
    bool video = nack->media_ssrc == b->video_ssrc;
    if (!video && nack->media_ssrc != b->audio_ssrc)
        return;
    uint16_t lost[PL_RTCP_MAX_NACK * 17];
    size_t n = pl_rtcp_nack_lost(nack, lost, sizeof(lost) / sizeof(lost[0]));
    for (size_t i = 0; i < n; i++) {
        size_t len;
        const uint8_t *pkt = pl_pktcache_get(video ? b->sent_video : b->sent_audio, lost[i], &len);
        pl_rtp_header h;
        if (!pkt || len + 2 > sizeof(b->pkt) - 32 || pl_rtp_parse(pkt, len, &h) != PL_OK)
            continue;
        if (video) {
            int w = pl_rtp_rtx_wrap(pkt, &h, b->video_rtx_ssrc, RTX_PT, b->video_rtx_seq++, b->pkt,
                                    sizeof(b->pkt) - 32);
            if (w < 0)
                continue;
            len = (size_t)w;
        } else {
            memcpy(b->pkt, pkt, len);
        }
        pl_addr to;
        if (pl_peer_protect_rtp(b->peer[PL_BOT_PUB], b->pkt, &len, sizeof(b->pkt), &to) == PL_OK &&
            pl_bot_send(b, PL_BOT_PUB, b->pkt, len, &to))
            b->resent++;
    }
}

static void on_rtcp(pl_bot *b, enum pl_bot_socket which, const uint8_t *pkt, size_t len)
{
    if (which != PL_BOT_PUB)
        return;
    pl_rtcp_iter it;
    pl_rtcp_iter_init(&it, pkt, len);
    pl_rtcp_packet p;
    while (pl_rtcp_next(&it, &p) == 1) {
        if (b->simulcast && (p.kind == PL_RTCP_K_PLI || p.kind == PL_RTCP_K_FIR)) {
            bool fir = p.kind == PL_RTCP_K_FIR;
            if (pl_simsend_keyframe(b->simulcast, fir ? 0 : p.u.pli.media_ssrc, fir))
                b->plis_received++;
        } else if ((p.kind == PL_RTCP_K_PLI && p.u.pli.media_ssrc == b->video_ssrc) ||
                   p.kind == PL_RTCP_K_FIR) {
            b->plis_received++;
            b->keyframe_wanted = true;
        } else if (p.kind == PL_RTCP_K_NACK) {
            b->nacks_received++;
            if (!b->ctx->nack)
                continue;
            int n = b->simulcast ? pl_simsend_nack(b->simulcast, &p.u.nack, simulcast_tx, b) : -1;
            if (n >= 0)
                b->resent += (uint64_t)n;
            else
                resend(b, &p.u.nack);
        }
    }
}

/* Everything the subscribe transport receives, by window: what the link
 * carried, which a cap on it must bound. */
static void count_rx(pl_bot *b, int64_t at_us, size_t len)
{
    if (!b->rx_epoch_us || at_us < b->rx_epoch_us)
        return;
    int64_t w = (at_us - b->rx_epoch_us) / RX_WINDOW_US;
    if (w >= RX_WINDOWS)
        w = RX_WINDOWS - 1;
    b->rx_bytes[w] += (uint32_t)len;
    b->rx_datagrams[w]++;
}

/* At the first tick of each window, what the streams' totals grew by
 * since the last: the previous window's freezes and audio. */
static void close_window(pl_bot *b, int64_t now_us)
{
    if (!b->rx_epoch_us || now_us < b->rx_epoch_us)
        return;
    int64_t w = (now_us - b->rx_epoch_us) / RX_WINDOW_US;
    if (w == b->rx_window)
        return;
    uint64_t freeze = 0, turns = 0, concealed = 0;
    for (size_t i = 0; i < MAX_STREAMS; i++) {
        const pl_rxstream *s = &b->streams[i];
        if (!s->used)
            continue;
        if (s->video)
            freeze += (uint64_t)s->st.freeze_us;
        if (s->playout) {
            turns += s->playout->played + s->playout->fec + s->playout->concealed;
            concealed += s->playout->concealed;
        }
    }
    int64_t into = b->rx_window < RX_WINDOWS ? b->rx_window : RX_WINDOWS - 1;
    /* A reused stream slot can shrink a total: nothing to add then. */
    if (freeze >= b->rx_freeze_us)
        b->rx_frozen_ms[into] += (uint32_t)((freeze - b->rx_freeze_us) / 1000);
    if (turns >= b->rx_turns && concealed >= b->rx_concealed) {
        b->rx_audio_frames[into] += (uint32_t)(turns - b->rx_turns);
        b->rx_audio_concealed[into] += (uint32_t)(concealed - b->rx_concealed);
    }
    b->rx_freeze_us = freeze;
    b->rx_turns = turns;
    b->rx_concealed = concealed;
    b->rx_window = w;
}

/* Transport-wide feedback that is due, on the subscribe transport. */
static void send_ccfb(pl_bot *b, int64_t now_us)
{
    if (!b->connected[PL_BOT_SUB])
        return;
    uint8_t buf[1280];
    size_t len;
    for (int i = 0; i < 8 && (len = pl_ccfb_poll(b->ccfb, now_us, 1, 0, buf, sizeof(buf))); i++)
        send_feedback(b, buf, len);
}

void pl_bot_datagram(pl_bot *b, enum pl_bot_socket which, int64_t now_us, int64_t arrival_us,
                     const pl_addr *from, uint8_t *data, size_t len)
{
    pthread_mutex_lock(&b->lock);
    if (which == PL_BOT_SUB)
        count_rx(b, arrival_us ? arrival_us : now_us, len);
    if (b->peer[which]) {
        b->arrival_us = arrival_us;
        pl_peer_handle_datagram(b->peer[which], now_us, from, data, len);
        pl_bot_drain(b, which, now_us);
        b->arrival_us = 0;
        pl_bot_update_due(b);
    }
    pthread_mutex_unlock(&b->lock);
}

bool pl_bot_send(pl_bot *b, enum pl_bot_socket which, const uint8_t *data, size_t len,
                 const pl_addr *to)
{
    if (b->tcp[which])
        return pl_bot_tcp_send(b->tcp[which], b->fd[which], data, len) == PL_OK;
    return sendto(b->fd[which], data, len, 0, (const struct sockaddr *)&to->ss, to->len) >= 0;
}

typedef struct frame_sink {
    pl_bot *b;
    enum pl_bot_socket which;
} frame_sink;

static void on_frame(void *user, uint8_t *frame, size_t len)
{
    frame_sink *s = user;
    int64_t now = pl_bot_now_us(); /* a stream has no receive timestamps */
    pl_bot_datagram(s->b, s->which, now, now, &s->b->tcp[s->which]->server, frame, len);
}

void pl_bot_stream_input(pl_bot *b, enum pl_bot_socket which)
{
    /* The connection is made under the lock, on the signaling thread. */
    pthread_mutex_lock(&b->lock);
    bool connected = b->tcp[which] && b->tcp[which]->connected;
    pthread_mutex_unlock(&b->lock);
    if (!connected)
        return;
    uint8_t buf[16384];
    frame_sink s = {b, which};
    int rc = pl_bot_tcp_read(b->tcp[which], b->fd[which], buf, sizeof(buf), on_frame, &s);
    if (rc == PL_ESTATE || rc == PL_EMALFORMED) {
        pthread_mutex_lock(&b->lock);
        if (b->tcp[which]->connected) {
            b->tcp[which]->connected = false;
            /* The relay closes a transport's connection when the bot
             * leaves: only an end while in the room is a failure. */
            if (b->in_room)
                pl_bot_fail(b, rc == PL_ESTATE ? "ICE-TCP connection closed" : "ICE-TCP framing",
                            rc);
        }
        pthread_mutex_unlock(&b->lock);
    }
}

void pl_bot_tick(pl_bot *b, int64_t now_us)
{
    pthread_mutex_lock(&b->lock);
    for (int i = 0; i < 2; i++)
        if (b->tcp[i])
            pl_bot_tcp_flush(b->tcp[i], b->fd[i]);
    for (int i = 0; i < 2; i++) {
        pl_peer *p = b->peer[i];
        if (p && pl_peer_next_timeout(p) <= now_us) {
            pl_peer_handle_timeout(p, now_us);
            pl_bot_drain(b, (enum pl_bot_socket)i, now_us);
        }
    }
    pl_rxstream_fb fb = {.user = b, .send = send_feedback};
    for (size_t i = 0; i < MAX_STREAMS; i++)
        pl_rxstream_tick(&b->streams[i], now_us, b->ctx->nack, &fb);
    send_ccfb(b, now_us);
    close_window(b, now_us);
    if (b->connected[PL_BOT_PUB]) {
        /* Catch up at most a few frames after a stall rather than bursting. */
        if (now_us - b->next_audio_us > 5 * AUDIO_PERIOD_US)
            b->next_audio_us = now_us;
        if (now_us - b->next_video_us > 5 * VIDEO_PERIOD_US)
            b->next_video_us = now_us;
        while (b->next_audio_us <= now_us) {
            send_audio(b, now_us);
            b->next_audio_us += AUDIO_PERIOD_US;
        }
        while (b->next_video_us <= now_us) {
            send_video(b, now_us);
            b->next_video_us += VIDEO_PERIOD_US;
        }
    }
    pl_bot_update_due(b);
    pthread_mutex_unlock(&b->lock);
}

void pl_bot_media_reset(pl_bot *b)
{
    b->audio_ssrc = pl_env_random_u32(&b->ctx->env) | 1;
    b->video_ssrc = pl_env_random_u32(&b->ctx->env) | 2;
    b->video_rtx_ssrc = pl_env_random_u32(&b->ctx->env) | 4;
    pl_pktcache_clear(b->sent_audio);
    pl_pktcache_clear(b->sent_video);
    b->audio_seq = (uint16_t)pl_env_random_u32(&b->ctx->env);
    b->video_seq = (uint16_t)pl_env_random_u32(&b->ctx->env);
    b->picture_id = (uint16_t)(pl_env_random_u32(&b->ctx->env) & 0x7fff);
    if (b->simulcast)
        pl_simsend_reset(b->simulcast);
}
