#include "bot.h"

#include <arpa/inet.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "parley/buf.h"
#include "parley/nack.h"
#include "parley/peer.h"
#include "parley/pktcache.h"
#include "parley/rtcp.h"
#include "parley/rtp.h"
#include "parley/sdp.h"
#include "parley/vp8.h"
#include "bot_sdp.h"
#include "playout.h"

#define MAX_PEERS 64
#define MAX_STREAMS 64
#define SDP_CAP 32768
/* RTP payload budget per packet: leaves room for the RTP header, the
 * VP8 descriptor and the SRTP tag under a 1200-byte datagram. */
#define VP8_MAX_PAYLOAD 1100
#define PKT_CAP 1500
#define AUDIO_PERIOD_US 20000
#define VIDEO_PERIOD_US 33333
/* One keyframe request per stream per this long, as browsers do. */
#define PLI_INTERVAL_US 300000
/* Audio waits this long in the playout buffer: room for jitter and one
 * retransmission. */
#define PLAYOUT_DELAY_US 250000
#define RTX_PT 97

typedef struct remote_peer {
    char id[64];
    char name[80];
    bool present;
} remote_peer;

typedef struct rx_stream {
    bool used, active;
    bool video;
    char mid[64];
    char track_id[80];
    char participant_id[64];
    char name[80];
    int expected_identity;
    uint32_t ssrc, rtx_ssrc;
    pl_rxstats st;
    pl_nack_gen nack;
    pl_playout *playout; /* audio */
    /* Video rendering on the sender's clock plus a fixed delay, as a
     * receiver's jitter buffer does; freezes are gaps between renders. */
    bool render_started;
    uint32_t render_base_ts;
    int64_t render_base_us;
    /* Decoding, for a sample of the streams. */
    pl_vp8_assembler *assembler;
    pl_vcheck *vcheck;
    pl_acheck *acheck;
    uint64_t frames_complete, frames_incomplete, keyframes;
    uint64_t nacks_sent, plis_sent, retransmissions;
    int64_t last_pli_us;
    int64_t ended_us;
    uint64_t packets_after_end;
} rx_stream;

struct pl_bot {
    pthread_mutex_t lock;
    /* When pl_bot_tick has something to do; read without the lock so that
     * the media loop skips idle bots cheaply. */
    _Atomic int64_t next_due;
    pl_bot_ctx *ctx;
    unsigned index;
    unsigned identity;
    bool publish; /* false: a listener that only subscribes */
    const pl_clip *clip;
    char name[64];
    char room[80];
    char participant_id[64];
    pl_botsig_conn *conn;
    bool joining, in_room;
    int64_t joined_us, left_us;
    unsigned joins;
    int fd[2];
    pl_peer *peer[2];
    bool connected[2];
    int64_t connected_us[2];
    uint16_t server_port[2];
    /* Sending. */
    uint32_t audio_ssrc, video_ssrc;
    uint16_t audio_seq, video_seq, picture_id;
    size_t audio_pos, video_pos;
    int64_t next_audio_us, next_video_us;
    bool keyframe_wanted;
    uint64_t audio_sent, video_sent, frames_sent, keyframes_sent, bytes_sent;
    uint64_t plis_received, nacks_received, send_errors, resent;
    uint32_t video_rtx_ssrc;
    uint16_t video_rtx_seq;
    pl_pktcache *sent_audio, *sent_video; /* for the relay's NACKs */
    /* Receiving. */
    remote_peer peers[MAX_PEERS];
    rx_stream streams[MAX_STREAMS];
    unsigned decoding_audio, decoding_video;
    uint64_t unknown_ssrc;
    uint64_t peers_left, peers_timed_out;
    unsigned cuts, resumes, rejoins;
    uint64_t offers; /* subscribe offers answered */
    unsigned errors;
    char last_error[160];
    /* When the datagram being handled reached the socket (kernel time), so
     * that delay figures leave out the bot's own queueing. */
    int64_t arrival_us;
    uint8_t pkt[PKT_CAP];
    char sdp[SDP_CAP];
};

static int open_socket(const char *ip)
{
    pl_addr a;
    if (pl_addr_set(&a, ip, 0) != PL_OK)
        return -1;
    int fd = socket(a.ss.ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    int size = 1 << 21, on = 1;
    setsockopt(fd, SOL_SOCKET, SO_TIMESTAMPNS, &on, sizeof(on));
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof(size));
    setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof(size));
    if (bind(fd, (const struct sockaddr *)&a.ss, a.len) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

pl_bot *pl_bot_create(pl_bot_ctx *ctx, unsigned index, const char *room, bool publish)
{
    pl_bot *b = calloc(1, sizeof(*b));
    if (!b)
        return NULL;
    pthread_mutex_init(&b->lock, NULL);
    b->ctx = ctx;
    b->index = index;
    b->publish = publish;
    b->identity = index % ctx->n_clips;
    b->clip = ctx->clips[b->identity];
    snprintf(b->name, sizeof(b->name), "bot-%u", index);
    snprintf(b->room, sizeof(b->room), "%s", room);
    b->sent_audio = pl_pktcache_create(&ctx->env, 128);
    b->sent_video = pl_pktcache_create(&ctx->env, 512);
    b->fd[0] = open_socket(ctx->bind_ip);
    b->fd[1] = open_socket(ctx->bind_ip);
    if (b->fd[0] < 0 || b->fd[1] < 0 || !b->sent_audio || !b->sent_video) {
        pl_bot_destroy(b);
        return NULL;
    }
    return b;
}

static void stream_free_decoders(rx_stream *s)
{
    free(s->playout);
    s->playout = NULL;
    pl_vp8_assembler_destroy(s->assembler);
    pl_vcheck_destroy(s->vcheck);
    pl_acheck_destroy(s->acheck);
    s->assembler = NULL;
    s->vcheck = NULL;
    s->acheck = NULL;
}

static void drop_peers(pl_bot *b)
{
    for (int i = 0; i < 2; i++) {
        pl_peer_destroy(b->peer[i]);
        b->peer[i] = NULL;
        b->connected[i] = false;
    }
}

void pl_bot_destroy(pl_bot *b)
{
    if (!b)
        return;
    drop_peers(b);
    for (size_t i = 0; i < MAX_STREAMS; i++)
        stream_free_decoders(&b->streams[i]);
    for (int i = 0; i < 2; i++)
        if (b->fd[i] > 0)
            close(b->fd[i]);
    pl_pktcache_destroy(&b->ctx->env, b->sent_audio);
    pl_pktcache_destroy(&b->ctx->env, b->sent_video);
    pthread_mutex_destroy(&b->lock);
    free(b);
}

int pl_bot_socket(const pl_bot *b, enum pl_bot_socket which)
{
    return b->fd[which];
}

const char *pl_bot_name(const pl_bot *b)
{
    return b->name;
}

int pl_bot_expected_identity(const pl_bot_ctx *ctx, const char *name)
{
    unsigned idx;
    char tail;
    if (sscanf(name, "bot-%u%c", &idx, &tail) != 1)
        return -1;
    return (int)(idx % ctx->n_clips);
}

bool pl_bot_signaling_open(pl_bot *b)
{
    pthread_mutex_lock(&b->lock);
    bool open = b->conn != NULL;
    pthread_mutex_unlock(&b->lock);
    return open;
}

bool pl_bot_in_room(const pl_bot *b)
{
    return b->in_room || b->joining;
}

static void update_due(pl_bot *b)
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
        const rx_stream *s = &b->streams[i];
        if (!s->active)
            continue;
        int64_t t = b->ctx->nack ? pl_nack_gen_next(&s->nack) : INT64_MAX;
        if (s->assembler && pl_vp8_assembler_next_timeout(s->assembler) < t)
            t = pl_vp8_assembler_next_timeout(s->assembler);
        if (s->playout && pl_playout_next(s->playout) < t)
            t = pl_playout_next(s->playout);
        if (t < due)
            due = t;
    }
    atomic_store(&b->next_due, due);
}

int64_t pl_bot_next_due(pl_bot *b)
{
    return atomic_load(&b->next_due);
}

static void fail(pl_bot *b, const char *what, int err)
{
    b->errors++;
    snprintf(b->last_error, sizeof(b->last_error), "%s: %s", what, pl_strerror(err));
    if (b->ctx->verbose)
        fprintf(stderr, "%s: %s\n", b->name, b->last_error);
}

/* ---- outputs of the transports ---------------------------------------- */

static void on_rtp(pl_bot *b, int64_t now_us, const uint8_t *pkt, size_t len);
static void on_rtcp(pl_bot *b, enum pl_bot_socket which, const uint8_t *pkt, size_t len);

static void drain(pl_bot *b, enum pl_bot_socket which, int64_t now_us)
{
    pl_peer *p = b->peer[which];
    pl_peer_output o;
    while (p && pl_peer_poll_output(p, &o) == PL_OK) {
        switch (o.kind) {
        case PL_PEER_OUT_TRANSMIT:
            if (sendto(b->fd[which], o.data, o.len, 0, (const struct sockaddr *)&o.addr.ss,
                       o.addr.len) < 0)
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
            }
            break;
        case PL_PEER_OUT_FAILED:
            fail(b, which == PL_BOT_PUB ? "publish transport failed" : "subscribe transport failed",
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

/* ---- signaling -------------------------------------------------------- */

void pl_bot_join(pl_bot *b, int64_t now_us)
{
    pthread_mutex_lock(&b->lock);
    if (!b->joining && !b->in_room) {
        b->joining = true;
        b->joins++;
        b->joined_us = now_us;
        b->conn = b->ctx->ops->join(b->ctx->sig, b->name, b->room, b);
        if (!b->conn) {
            b->joining = false;
            fail(b, "join", PL_ESTATE);
        }
    }
    update_due(b);
    pthread_mutex_unlock(&b->lock);
}

static void end_streams(pl_bot *b, int64_t now_us)
{
    for (size_t i = 0; i < MAX_STREAMS; i++)
        if (b->streams[i].active) {
            b->streams[i].active = false;
            b->streams[i].ended_us = now_us;
        }
}

static void out_of_room(pl_bot *b, int64_t now_us)
{
    drop_peers(b);
    end_streams(b, now_us);
    b->in_room = false;
    b->joining = false;
    b->left_us = now_us;
}

void pl_bot_leave(pl_bot *b, int64_t now_us)
{
    pthread_mutex_lock(&b->lock);
    if (b->conn) {
        b->ctx->ops->leave(b->conn);
        /* Tell the server's transports now rather than letting consent
         * expire: close_notify on both. */
        for (int i = 0; i < 2; i++)
            if (b->peer[i]) {
                pl_peer_close(b->peer[i], now_us);
                drain(b, (enum pl_bot_socket)i, now_us);
            }
        out_of_room(b, now_us);
    }
    update_due(b);
    pthread_mutex_unlock(&b->lock);
}

void pl_bot_on_closed(pl_bot *b, int64_t now_us)
{
    pthread_mutex_lock(&b->lock);
    b->conn = NULL;
    if (b->in_room || b->joining) {
        fail(b, "signaling connection lost", PL_ESTATE);
        out_of_room(b, now_us);
    }
    update_due(b);
    pthread_mutex_unlock(&b->lock);
}

static pl_peer *new_peer(pl_bot *b)
{
    pl_peer_config cfg = {.role = PL_PEER_CLIENT, .cert = b->ctx->cert};
    return pl_peer_create(&b->ctx->env, &cfg);
}

static pl_bot_sdp_local local_sdp(pl_bot *b, pl_peer *p)
{
    return (pl_bot_sdp_local){
        .ice_ufrag = pl_peer_local_ufrag(p),
        .ice_pwd = pl_peer_local_pwd(p),
        .fingerprint = pl_dtls_cert_fingerprint(b->ctx->cert),
        .cname = b->name,
        .stream_id = b->name,
        .session_id = ((uint64_t)pl_env_random_u32(&b->ctx->env) << 20) | b->index,
    };
}

void pl_bot_on_joined(pl_bot *b, const char *participant_id, int64_t now_us)
{
    pthread_mutex_lock(&b->lock);
    if (b->in_room && strcmp(b->participant_id, participant_id) == 0) {
        /* The session resumed: same participant, same transports. */
        b->resumes++;
        goto out;
    }
    if (b->in_room) {
        /* A new session (the old one expired, or the server restarted):
         * start over with new transports. */
        b->rejoins++;
        end_streams(b, now_us);
    }
    snprintf(b->participant_id, sizeof(b->participant_id), "%s", participant_id);
    b->joining = false;
    b->in_room = true;
    drop_peers(b);
    if (!b->publish)
        goto out;
    b->peer[PL_BOT_PUB] = new_peer(b);
    if (!b->peer[PL_BOT_PUB]) {
        fail(b, "publish transport", PL_ENOMEM);
        goto out;
    }
    b->audio_ssrc = pl_env_random_u32(&b->ctx->env) | 1;
    b->video_ssrc = pl_env_random_u32(&b->ctx->env) | 2;
    b->video_rtx_ssrc = pl_env_random_u32(&b->ctx->env) | 4;
    pl_pktcache_clear(b->sent_audio);
    pl_pktcache_clear(b->sent_video);
    b->audio_seq = (uint16_t)pl_env_random_u32(&b->ctx->env);
    b->video_seq = (uint16_t)pl_env_random_u32(&b->ctx->env);
    b->picture_id = (uint16_t)(pl_env_random_u32(&b->ctx->env) & 0x7fff);
    pl_bot_sdp_local l = local_sdp(b, b->peer[PL_BOT_PUB]);
    int n = pl_bot_sdp_offer(&l, b->audio_ssrc, b->video_ssrc, b->video_rtx_ssrc, b->sdp,
                             sizeof(b->sdp));
    if (n < 0) {
        fail(b, "publish offer", n);
        goto out;
    }
    static const char *const mids[] = {"0", "1"};
    static const char *const sources[] = {"microphone", "camera"};
    b->ctx->ops->publish(b->conn, b->sdp, mids, sources, 2);
out:
    update_due(b);
    pthread_mutex_unlock(&b->lock);
}

void pl_bot_cut(pl_bot *b, double seconds)
{
    pthread_mutex_lock(&b->lock);
    if (b->conn && b->ctx->ops->cut) {
        b->ctx->ops->cut(b->conn, seconds);
        b->cuts++;
    }
    pthread_mutex_unlock(&b->lock);
}

void pl_bot_on_peer(pl_bot *b, const char *participant_id, const char *name, bool present,
                    const char *reason)
{
    pthread_mutex_lock(&b->lock);
    if (!present && strcmp(reason, "timeout") == 0)
        b->peers_timed_out++;
    remote_peer *free_slot = NULL;
    for (size_t i = 0; i < MAX_PEERS; i++) {
        remote_peer *p = &b->peers[i];
        if (p->id[0] && strcmp(p->id, participant_id) == 0) {
            if (!present && p->present)
                b->peers_left++;
            p->present = present;
            if (name[0])
                snprintf(p->name, sizeof(p->name), "%s", name);
            goto out;
        }
        if (!p->id[0] && !free_slot)
            free_slot = p;
    }
    if (free_slot && present) {
        snprintf(free_slot->id, sizeof(free_slot->id), "%s", participant_id);
        snprintf(free_slot->name, sizeof(free_slot->name), "%s", name);
        free_slot->present = true;
    }
out:
    update_due(b);
    pthread_mutex_unlock(&b->lock);
}

/* The transport's remote side from an SDP: credentials, fingerprint and
 * the server's host candidate. */
static int apply_remote(pl_bot *b, pl_peer *p, const pl_sdp_desc *d, int64_t now_us,
                        enum pl_bot_socket which)
{
    const pl_sdp_media *m = NULL;
    for (size_t i = 0; i < d->n_media && !m; i++)
        if (d->media[i].n_candidates > 0 && d->media[i].port != 0)
            m = &d->media[i];
    if (!m)
        return PL_ENOTFOUND;
    int rc = pl_peer_set_remote(p, m->ice_ufrag, m->ice_pwd, m->fp_alg, m->fp);
    if (rc != PL_OK)
        return rc;
    for (size_t i = 0; i < m->n_candidates; i++) {
        pl_addr a;
        if (strcmp(m->candidates[i].transport, "UDP") != 0 &&
            strcmp(m->candidates[i].transport, "udp") != 0)
            continue;
        if (pl_addr_set(&a, m->candidates[i].address, m->candidates[i].port) == PL_OK) {
            pl_peer_add_remote_candidate(p, b->ctx->media_via ? b->ctx->media_via : &a);
            b->server_port[which] = m->candidates[i].port;
        }
    }
    return pl_peer_start(p, now_us);
}

void pl_bot_on_publish_answer(pl_bot *b, const char *sdp, int64_t now_us)
{
    pthread_mutex_lock(&b->lock);
    pl_sdp_desc *d = pl_sdp_desc_create(&b->ctx->env);
    if (!d || !b->peer[PL_BOT_PUB]) {
        fail(b, "publish answer", PL_ESTATE);
        goto out;
    }
    int rc = pl_sdp_parse(d, sdp, strlen(sdp));
    if (rc == PL_OK && pl_peer_state(b->peer[PL_BOT_PUB]) == PL_PEER_NEW)
        rc = apply_remote(b, b->peer[PL_BOT_PUB], d, now_us, PL_BOT_PUB);
    if (rc != PL_OK)
        fail(b, "publish answer", rc);
    drain(b, PL_BOT_PUB, now_us);
out:
    pl_sdp_desc_destroy(&b->ctx->env, d);
    update_due(b);
    pthread_mutex_unlock(&b->lock);
}

static const pl_botsig_track *track_for(const pl_botsig_track *tracks, size_t n, const char *mid)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(tracks[i].mid, mid) == 0)
            return &tracks[i];
    return NULL;
}

static const char *peer_name(pl_bot *b, const char *participant_id)
{
    for (size_t i = 0; i < MAX_PEERS; i++)
        if (b->peers[i].id[0] && strcmp(b->peers[i].id, participant_id) == 0)
            return b->peers[i].name;
    return "";
}

static rx_stream *new_stream(pl_bot *b)
{
    for (size_t i = 0; i < MAX_STREAMS; i++)
        if (!b->streams[i].used)
            return &b->streams[i];
    /* Full: reuse the oldest ended stream (its figures are lost). */
    for (size_t i = 0; i < MAX_STREAMS; i++)
        if (!b->streams[i].active) {
            stream_free_decoders(&b->streams[i]);
            return &b->streams[i];
        }
    return NULL;
}

static void start_stream(pl_bot *b, const pl_sdp_media *m, const pl_botsig_track *t, int64_t now_us)
{
    rx_stream *s = new_stream(b);
    if (!s)
        return;
    memset(s, 0, sizeof(*s));
    s->used = true;
    s->active = true;
    s->video = m->kind == PL_SDP_VIDEO;
    s->ssrc = m->ssrcs[0].ssrc;
    for (size_t g = 0; g < m->n_groups; g++)
        if (strcmp(m->groups[g].semantics, "FID") == 0 && m->groups[g].n == 2 &&
            m->groups[g].ssrcs[0] == s->ssrc)
            s->rtx_ssrc = m->groups[g].ssrcs[1];
    pl_nack_gen_init(&s->nack, NULL);
    snprintf(s->mid, sizeof(s->mid), "%s", m->mid);
    snprintf(s->track_id, sizeof(s->track_id), "%s", t ? t->track_id : "");
    snprintf(s->participant_id, sizeof(s->participant_id), "%s", t ? t->participant_id : "");
    snprintf(s->name, sizeof(s->name), "%s", peer_name(b, s->participant_id));
    s->expected_identity = pl_bot_expected_identity(b->ctx, s->name);
    pl_rxstats_init(&s->st, s->video ? 90000 : 48000);
    s->last_pli_us = now_us;
    bool sampled = b->index % b->ctx->decode_every == 0;
    if (s->video && sampled && b->decoding_video < b->ctx->decode_video) {
        s->assembler = pl_vp8_assembler_create(true);
        s->vcheck = pl_vcheck_create(b->ctx->video_loop, s->expected_identity);
        b->decoding_video++;
    } else if (!s->video && sampled && b->decoding_audio < b->ctx->decode_audio) {
        s->acheck = pl_acheck_create();
        b->decoding_audio++;
    }
    if (s->video && !s->assembler)
        s->assembler = pl_vp8_assembler_create(false); /* frames and freezes, undecoded */
    if (!s->video) {
        s->playout = malloc(sizeof(*s->playout));
        if (s->playout)
            pl_playout_init(s->playout, PLAYOUT_DELAY_US);
    }
}

void pl_bot_on_subscribe_offer(pl_bot *b, const char *sdp, const pl_botsig_track *tracks, size_t n,
                               int64_t now_us)
{
    pthread_mutex_lock(&b->lock);
    if (!b->in_room) { /* left meanwhile */
        pthread_mutex_unlock(&b->lock);
        return;
    }
    pl_sdp_desc *d = pl_sdp_desc_create(&b->ctx->env);
    int rc = d ? pl_sdp_parse(d, sdp, strlen(sdp)) : PL_ENOMEM;
    if (rc != PL_OK) {
        fail(b, "subscribe offer", rc);
        goto out;
    }
    bool fresh = !b->peer[PL_BOT_SUB];
    if (fresh && !(b->peer[PL_BOT_SUB] = new_peer(b))) {
        fail(b, "subscribe transport", PL_ENOMEM);
        goto out;
    }
    /* Streams that ended or changed hands in this offer. */
    for (size_t i = 0; i < MAX_STREAMS; i++) {
        rx_stream *s = &b->streams[i];
        if (!s->active)
            continue;
        bool kept = false;
        for (size_t k = 0; k < d->n_media && !kept; k++) {
            const pl_sdp_media *m = &d->media[k];
            const pl_botsig_track *t = track_for(tracks, n, m->mid);
            kept = strcmp(m->mid, s->mid) == 0 && m->dir != PL_SDP_INACTIVE && t &&
                   strcmp(t->track_id, s->track_id) == 0;
        }
        if (!kept) {
            s->active = false;
            s->ended_us = now_us;
        }
    }
    for (size_t k = 0; k < d->n_media; k++) {
        const pl_sdp_media *m = &d->media[k];
        if (m->dir == PL_SDP_INACTIVE || m->n_ssrcs == 0)
            continue;
        const pl_botsig_track *t = track_for(tracks, n, m->mid);
        bool known = false;
        for (size_t i = 0; i < MAX_STREAMS && !known; i++)
            known = b->streams[i].active && strcmp(b->streams[i].mid, m->mid) == 0;
        if (!known)
            start_stream(b, m, t, now_us);
    }
    pl_bot_sdp_local l = local_sdp(b, b->peer[PL_BOT_SUB]);
    int len = pl_bot_sdp_answer(d, &l, b->sdp, sizeof(b->sdp));
    if (len < 0) {
        fail(b, "subscribe answer", len);
        goto out;
    }
    b->ctx->ops->subscribe_answer(b->conn, b->sdp);
    b->offers++;
    if (fresh) {
        rc = apply_remote(b, b->peer[PL_BOT_SUB], d, now_us, PL_BOT_SUB);
        if (rc != PL_OK)
            fail(b, "subscribe transport", rc);
        drain(b, PL_BOT_SUB, now_us);
    }
out:
    pl_sdp_desc_destroy(&b->ctx->env, d);
    update_due(b);
    pthread_mutex_unlock(&b->lock);
}

void pl_bot_on_error(pl_bot *b, const char *code, const char *message)
{
    pthread_mutex_lock(&b->lock);
    b->errors++;
    snprintf(b->last_error, sizeof(b->last_error), "%s: %s", code, message);
    if (b->ctx->verbose)
        fprintf(stderr, "%s: server error %s\n", b->name, b->last_error);
    update_due(b);
    pthread_mutex_unlock(&b->lock);
}

/* ---- sending ----------------------------------------------------------- */

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
    /* Kept in the clear for retransmission on NACK. */
    pl_pktcache_put(video ? b->sent_video : b->sent_audio, pl_get_u16(b->pkt + 2), b->pkt, len);
    int rc = pl_peer_protect_rtp(b->peer[PL_BOT_PUB], b->pkt, &len, sizeof(b->pkt), &to);
    if (rc != PL_OK) {
        b->send_errors++;
        return;
    }
    if (sendto(b->fd[PL_BOT_PUB], b->pkt, len, 0, (const struct sockaddr *)&to.ss, to.len) < 0) {
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

static void send_video(pl_bot *b, int64_t now_us)
{
    if (b->keyframe_wanted) {
        b->video_pos = 0; /* the clip starts with a keyframe */
        b->keyframe_wanted = false;
    }
    const pl_clip_frame *f = pl_clip_video(b->clip, b->video_pos);
    b->video_pos = (b->video_pos + 1) % pl_clip_video_count(b->clip);
    uint8_t payloads[PL_VP8_MAX_PACKETS * VP8_MAX_PAYLOAD];
    size_t lens[PL_VP8_MAX_PACKETS];
    int n = pl_vp8_packetize(b->picture_id, f->data, f->len, VP8_MAX_PAYLOAD, payloads,
                             sizeof(payloads), lens, PL_VP8_MAX_PACKETS);
    b->picture_id = (uint16_t)((b->picture_id + 1) & 0x7fff);
    if (n <= 0) {
        b->send_errors++;
        return;
    }
    uint32_t ts = pl_rtp_clock_ts(now_us, 90000);
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

static rx_stream *stream_by_ssrc(pl_bot *b, uint32_t ssrc)
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

static void send_feedback(pl_bot *b, const uint8_t *rtcp, size_t len)
{
    if (!b->peer[PL_BOT_SUB] || !b->connected[PL_BOT_SUB])
        return;
    memcpy(b->pkt, rtcp, len);
    pl_addr to;
    if (pl_peer_protect_rtcp(b->peer[PL_BOT_SUB], b->pkt, &len, sizeof(b->pkt), &to) != PL_OK)
        return;
    sendto(b->fd[PL_BOT_SUB], b->pkt, len, 0, (const struct sockaddr *)&to.ss, to.len);
}

static void request_keyframe(pl_bot *b, rx_stream *s, int64_t now_us)
{
    if (now_us - s->last_pli_us < PLI_INTERVAL_US)
        return;
    s->last_pli_us = now_us;
    uint8_t buf[64];
    pl_wbuf w = pl_wbuf_make(buf, sizeof(buf));
    pl_rtcp_pli pli = {.sender_ssrc = 1, .media_ssrc = s->ssrc};
    pl_rtcp_write_pli(&w, &pli);
    if (pl_wbuf_ok(&w)) {
        send_feedback(b, buf, w.len);
        s->plis_sent++;
    }
}

static void send_nack(pl_bot *b, rx_stream *s, const uint16_t *lost, size_t n)
{
    pl_rtcp_nack nack = {.sender_ssrc = 1, .media_ssrc = s->ssrc};
    nack.n_items = pl_rtcp_nack_pack(lost, n, nack.items, PL_RTCP_MAX_NACK);
    uint8_t buf[600];
    pl_wbuf w = pl_wbuf_make(buf, sizeof(buf));
    pl_rtcp_write_nack(&w, &nack);
    if (pl_wbuf_ok(&w)) {
        send_feedback(b, buf, w.len);
        s->nacks_sent++;
    }
}

/* When a frame is shown: at its place in the sender's timeline plus the
 * playout delay, or when it arrives if that is later. */
static int64_t render_time(rx_stream *s, uint32_t ts, int64_t now_us)
{
    if (!s->render_started) {
        s->render_started = true;
        s->render_base_ts = ts;
        s->render_base_us = now_us + PLAYOUT_DELAY_US;
    }
    int64_t due = s->render_base_us + (int64_t)(int32_t)(ts - s->render_base_ts) * 1000 / 90;
    return due > now_us ? due : now_us;
}

/* Frames that are complete, in order, and what a viewer would see of them. */
static void pop_frames(pl_bot *b, rx_stream *s, int64_t now_us)
{
    pl_vp8_frame f;
    while (pl_vp8_assembler_pop(s->assembler, now_us, &f) == 1) {
        int64_t shown = render_time(s, f.timestamp, now_us);
        s->frames_complete++;
        if (f.keyframe)
            s->keyframes++;
        if (f.lost_before && !f.keyframe)
            request_keyframe(b, s, now_us);
        if (!s->vcheck) {
            pl_rxstats_frame(&s->st, shown);
            continue;
        }
        pl_vcheck_result r;
        pl_vcheck_frame(s->vcheck, f.data, f.len, f.timestamp, f.keyframe, f.lost_before, &r);
        if (r.decoded && !r.corrupt)
            pl_rxstats_frame(&s->st, shown);
        if (r.skipped)
            request_keyframe(b, s, now_us);
    }
}

static void play_audio(void *user, enum pl_playout_kind kind, const uint8_t *data, size_t len)
{
    rx_stream *s = user;
    if (!s->acheck)
        return;
    if (kind == PL_PLAYOUT_PACKET)
        pl_acheck_packet(s->acheck, data, len);
    else if (kind == PL_PLAYOUT_FEC)
        pl_acheck_fec(s->acheck, data, len);
    else
        pl_acheck_lost(s->acheck);
}

static void on_rtp(pl_bot *b, int64_t now_us, const uint8_t *pkt, size_t len)
{
    pl_rtp_header h;
    if (pl_rtp_parse(pkt, len, &h) != PL_OK)
        return;
    rx_stream *s = stream_by_ssrc(b, h.ssrc);
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
    if (!s->active) {
        s->packets_after_end++;
        return;
    }
    bool recovered = pl_nack_gen_packet(&s->nack, seq, now_us);
    if (rtx || recovered)
        s->retransmissions++;
    /* Retransmissions count as received, but their delay is the repair's. */
    pl_rxstats_packet(&s->st, seq, h.timestamp, len, now_us,
                      s->expected_identity >= 0 && !rtx && !recovered);
    if (s->video) {
        if (pl_vp8_assembler_push(s->assembler, seq, h.timestamp, h.marker, payload, payload_len,
                                  now_us) == PL_OK)
            pop_frames(b, s, now_us);
    } else {
        if (s->playout)
            pl_playout_push(s->playout, seq, payload, payload_len, now_us);
        pl_rxstats_frame(&s->st, now_us);
    }
}

/* A NACK from the relay: resend from what was sent, video on its RTX
 * stream, audio in the stream itself. */
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
            sendto(b->fd[PL_BOT_PUB], b->pkt, len, 0, (const struct sockaddr *)&to.ss, to.len) > 0)
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
        if ((p.kind == PL_RTCP_K_PLI && p.u.pli.media_ssrc == b->video_ssrc) ||
            p.kind == PL_RTCP_K_FIR) {
            b->plis_received++;
            b->keyframe_wanted = true;
        } else if (p.kind == PL_RTCP_K_NACK) {
            b->nacks_received++;
            if (b->ctx->nack)
                resend(b, &p.u.nack);
        }
    }
}

/* ---- media thread ------------------------------------------------------ */

void pl_bot_datagram(pl_bot *b, enum pl_bot_socket which, int64_t now_us, int64_t arrival_us,
                     const pl_addr *from, uint8_t *data, size_t len)
{
    pthread_mutex_lock(&b->lock);
    if (b->peer[which]) {
        b->arrival_us = arrival_us;
        pl_peer_handle_datagram(b->peer[which], now_us, from, data, len);
        drain(b, which, now_us);
        b->arrival_us = 0;
        update_due(b);
    }
    pthread_mutex_unlock(&b->lock);
}

void pl_bot_tick(pl_bot *b, int64_t now_us)
{
    pthread_mutex_lock(&b->lock);
    for (int i = 0; i < 2; i++) {
        pl_peer *p = b->peer[i];
        if (p && pl_peer_next_timeout(p) <= now_us) {
            pl_peer_handle_timeout(p, now_us);
            drain(b, (enum pl_bot_socket)i, now_us);
        }
    }
    for (size_t i = 0; i < MAX_STREAMS; i++) {
        rx_stream *s = &b->streams[i];
        if (!s->active)
            continue;
        if (b->ctx->nack && pl_nack_gen_next(&s->nack) <= now_us) {
            uint16_t lost[64];
            size_t n = pl_nack_gen_poll(&s->nack, now_us, lost, 64);
            if (n)
                send_nack(b, s, lost, n);
        }
        if (s->video && pl_nack_gen_take_keyframe_need(&s->nack))
            request_keyframe(b, s, now_us);
        if (s->assembler)
            pop_frames(b, s, now_us);
        if (s->playout)
            pl_playout_run(s->playout, now_us, play_audio, s);
    }
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
    update_due(b);
    pthread_mutex_unlock(&b->lock);
}

/* ---- report ------------------------------------------------------------ */

static json_t *delay_json(const pl_delay_hist *h)
{
    if (h->n == 0)
        return json_null();
    return json_pack("{s:I, s:I, s:I, s:I}", "samples", (json_int_t)h->n, "p50",
                     (json_int_t)pl_delay_quantile(h, 0.5), "p99",
                     (json_int_t)pl_delay_quantile(h, 0.99), "max", (json_int_t)h->max_us);
}

static json_t *stream_json(const rx_stream *s)
{
    const pl_rxstats *st = &s->st;
    uint64_t expected = pl_rxstats_expected(st);
    uint64_t lost = pl_rxstats_lost(st);
    int64_t span = st->last_us - st->first_us;
    json_t *o = json_pack(
        "{s:s, s:s, s:s, s:s, s:s, s:i, s:b, s:I, s:I, s:I, s:f, s:f, s:I, s:I, s:I, s:I, s:I, "
        "s:I, s:I, s:f, s:o, s:I}",
        "kind", s->video ? "video" : "audio", "mid", s->mid, "track_id", s->track_id,
        "participant_id", s->participant_id, "from", s->name, "expected_identity",
        s->expected_identity, "active", s->active, "packets", (json_int_t)st->packets, "expected",
        (json_int_t)expected, "lost", (json_int_t)lost, "loss",
        expected ? (double)lost / (double)expected : 0.0, "jitter_ms", pl_rxstats_jitter_ms(st),
        "frames", (json_int_t)st->frames, "frames_complete", (json_int_t)s->frames_complete,
        "keyframes", (json_int_t)s->keyframes, "nacks_sent", (json_int_t)s->nacks_sent, "plis_sent",
        (json_int_t)s->plis_sent, "freezes", (json_int_t)st->freezes, "freeze_ms",
        (json_int_t)(st->freeze_us / 1000), "seconds", span > 0 ? (double)span / 1e6 : 0.0,
        "delay_us", delay_json(&st->delay), "packets_after_end", (json_int_t)s->packets_after_end);
    json_object_set_new(o, "retransmissions", json_integer((json_int_t)s->retransmissions));
    if (s->playout) {
        const pl_playout *p = s->playout;
        uint64_t turns = p->played + p->fec + p->concealed;
        json_object_set_new(
            o, "playout",
            json_pack("{s:I, s:I, s:I, s:I, s:I, s:f}", "played", (json_int_t)p->played, "fec",
                      (json_int_t)p->fec, "concealed", (json_int_t)p->concealed, "late",
                      (json_int_t)p->late, "stretched_ms", (json_int_t)(p->stretched_us / 1000),
                      "loss_after_repair", turns ? (double)p->concealed / (double)turns : 0.0));
    }
    if (s->vcheck) {
        pl_vcheck_stats v;
        pl_vcheck_stats_get(s->vcheck, &v);
        json_object_set_new(
            o, "decoded",
            json_pack("{s:I, s:I, s:I, s:I, s:i, s:b}", "frames", (json_int_t)v.decoded, "corrupt",
                      (json_int_t)v.corrupt, "out_of_order", (json_int_t)v.out_of_order, "skipped",
                      (json_int_t)v.skipped, "identity", v.identity, "identity_ok",
                      s->expected_identity < 0 ||
                          (v.identity == s->expected_identity && v.wrong_identity == 0)));
    }
    if (s->acheck) {
        pl_acheck_stats a;
        pl_acheck_stats_get(s->acheck, &a);
        json_object_set_new(
            o, "decoded",
            json_pack("{s:I, s:I, s:I, s:i, s:f, s:b}", "frames", (json_int_t)a.decoded,
                      "concealed", (json_int_t)a.concealed, "errors", (json_int_t)a.errors,
                      "identity", a.identity, "frequency_hz", a.frequency_hz, "identity_ok",
                      s->expected_identity < 0 || a.identity == s->expected_identity));
    }
    return o;
}

json_t *pl_bot_report(pl_bot *b, pl_delay_hist *delay)
{
    pthread_mutex_lock(&b->lock);
    json_t *streams = json_array();
    for (size_t i = 0; i < MAX_STREAMS; i++) {
        const rx_stream *s = &b->streams[i];
        if (!s->used)
            continue;
        json_array_append_new(streams, stream_json(s));
        if (delay)
            pl_delay_merge(delay, &s->st.delay);
    }
    json_t *o = json_pack(
        "{s:s, s:s, s:s, s:i, s:I, s:b, s:I, s:I, s:[i,i], s:{s:I, s:I, s:I, s:I, s:I, s:I, "
        "s:I, s:I}, s:I, s:I, s:I, s:i, s:s, s:o}",
        "name", b->name, "room", b->room, "participant_id", b->participant_id, "identity",
        b->identity, "joins", (json_int_t)b->joins, "in_room", b->in_room, "connect_ms_pub",
        (json_int_t)(b->connected_us[0] ? (b->connected_us[0] - b->joined_us) / 1000 : -1),
        "connect_ms_sub",
        (json_int_t)(b->connected_us[1] ? (b->connected_us[1] - b->joined_us) / 1000 : -1),
        "server_ports", b->server_port[0], b->server_port[1], "sent", "audio_packets",
        (json_int_t)b->audio_sent, "video_packets", (json_int_t)b->video_sent, "video_frames",
        (json_int_t)b->frames_sent, "keyframes", (json_int_t)b->keyframes_sent, "bytes",
        (json_int_t)b->bytes_sent, "plis_received", (json_int_t)b->plis_received, "nacks_received",
        (json_int_t)b->nacks_received, "send_errors", (json_int_t)b->send_errors,
        "unknown_ssrc_packets", (json_int_t)b->unknown_ssrc, "subscribe_offers",
        (json_int_t)b->offers, "peers_left", (json_int_t)b->peers_left, "errors", b->errors,
        "last_error", b->last_error, "streams", streams);
    json_object_set_new(o, "resent", json_integer((json_int_t)b->resent));
    json_object_set_new(o, "peers_timed_out", json_integer((json_int_t)b->peers_timed_out));
    json_object_set_new(o, "cuts", json_integer(b->cuts));
    json_object_set_new(o, "resumes", json_integer(b->resumes));
    json_object_set_new(o, "rejoins", json_integer(b->rejoins));
    pthread_mutex_unlock(&b->lock);
    return o;
}
