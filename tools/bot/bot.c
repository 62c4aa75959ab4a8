/* A bot participant: its lifecycle, its signaling events, its report. Its
 * media is bot_media.c. */
#include "bot.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "parley/rtp.h"
#include "parley/sdp.h"
#include "bot_priv.h"
#include "bot_sdp.h"

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
    b->ccfb = pl_ccfb_create(&ctx->env);
    for (int i = 0; i < 2; i++) {
        if (ctx->ice_tcp) {
            b->fd[i] = pl_bot_tcp_socket(ctx->bind_ip);
            b->tcp[i] = calloc(1, sizeof(*b->tcp[i]));
            if (!b->tcp[i]) {
                pl_bot_destroy(b);
                return NULL;
            }
        } else {
            b->fd[i] = open_socket(ctx->bind_ip);
        }
    }
    if (ctx->simulcast && publish)
        b->simulcast =
            pl_simsend_create(&ctx->env, &ctx->layer_clips[b->identity * PL_SIM_LAYERS], "1");
    if (b->fd[0] < 0 || b->fd[1] < 0 || !b->sent_audio || !b->sent_video || !b->ccfb ||
        (ctx->simulcast && publish && !b->simulcast)) {
        pl_bot_destroy(b);
        return NULL;
    }
    return b;
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
        pl_rxstream_free(&b->streams[i]);
    for (int i = 0; i < 2; i++)
        if (b->fd[i] > 0)
            close(b->fd[i]);
    for (int i = 0; i < 2; i++)
        if (b->tcp[i]) {
            pl_bot_tcp_free(b->tcp[i]);
            free(b->tcp[i]);
        }
    pl_pktcache_destroy(&b->ctx->env, b->sent_audio);
    pl_pktcache_destroy(&b->ctx->env, b->sent_video);
    pl_simsend_destroy(b->simulcast);
    pl_ccfb_destroy(b->ccfb);
    pthread_mutex_destroy(&b->lock);
    free(b);
}

void pl_bot_set_max_size(pl_bot *b, unsigned width, unsigned height)
{
    pthread_mutex_lock(&b->lock);
    b->max_width = width;
    b->max_height = height;
    pthread_mutex_unlock(&b->lock);
}

int pl_bot_socket(const pl_bot *b, enum pl_bot_socket which)
{
    return b->fd[which];
}

bool pl_bot_socket_is_stream(const pl_bot *b)
{
    return b->ctx->ice_tcp;
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

int64_t pl_bot_next_due(pl_bot *b)
{
    return atomic_load(&b->next_due);
}

void pl_bot_fail(pl_bot *b, const char *what, int err)
{
    b->errors++;
    snprintf(b->last_error, sizeof(b->last_error), "%s: %s", what, pl_strerror(err));
    if (b->ctx->verbose)
        fprintf(stderr, "%s: %s\n", b->name, b->last_error);
}

/* ---- signaling -------------------------------------------------------- */

void pl_bot_join(pl_bot *b, int64_t now_us)
{
    pthread_mutex_lock(&b->lock);
    if (!b->joining && !b->in_room) {
        b->joining = true;
        b->joins++;
        b->joined_us = now_us;
        if (!b->rx_epoch_us)
            b->rx_epoch_us = now_us;
        b->conn = b->ctx->ops->join(b->ctx->sig, b->name, b->room, b);
        if (!b->conn) {
            b->joining = false;
            pl_bot_fail(b, "join", PL_ESTATE);
        }
    }
    pl_bot_update_due(b);
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
                pl_bot_drain(b, (enum pl_bot_socket)i, now_us);
            }
        out_of_room(b, now_us);
    }
    pl_bot_update_due(b);
    pthread_mutex_unlock(&b->lock);
}

void pl_bot_on_closed(pl_bot *b, int64_t now_us)
{
    pthread_mutex_lock(&b->lock);
    b->conn = NULL;
    if (b->in_room || b->joining) {
        pl_bot_fail(b, "signaling connection lost", PL_ESTATE);
        out_of_room(b, now_us);
    }
    pl_bot_update_due(b);
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
        pl_bot_fail(b, "publish transport", PL_ENOMEM);
        goto out;
    }
    pl_bot_media_reset(b);
    pl_bot_sdp_local l = local_sdp(b, b->peer[PL_BOT_PUB]);
    const char *rids[PL_SIM_LAYERS];
    for (unsigned i = 0; i < PL_SIM_LAYERS; i++)
        rids[i] = pl_sim_rid(i);
    int n = b->simulcast ? pl_bot_sdp_offer_simulcast(&l, b->audio_ssrc, rids, PL_SIM_LAYERS,
                                                      b->sdp, sizeof(b->sdp))
                         : pl_bot_sdp_offer(&l, b->audio_ssrc, b->video_ssrc, b->video_rtx_ssrc,
                                            b->sdp, sizeof(b->sdp));
    if (n < 0) {
        pl_bot_fail(b, "publish offer", n);
        goto out;
    }
    static const char *const mids[] = {"0", "1"};
    static const char *const sources[] = {"microphone", "camera"};
    b->ctx->ops->publish(b->conn, b->sdp, mids, sources, 2);
out:
    pl_bot_update_due(b);
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
    pl_bot_update_due(b);
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
    for (size_t i = 0; i < m->n_candidates && b->tcp[which]; i++) {
        pl_addr a;
        if (strcasecmp(m->candidates[i].transport, "tcp") != 0 ||
            pl_addr_set(&a, m->candidates[i].address, m->candidates[i].port) != PL_OK)
            continue;
        a.tcp = true;
        rc = pl_bot_tcp_connect(b->tcp[which], &b->ctx->env, b->fd[which], &a);
        if (rc != PL_OK)
            return rc;
        pl_peer_add_remote_candidate(p, &a);
        b->server_port[which] = m->candidates[i].port;
        break;
    }
    for (size_t i = 0; i < m->n_candidates && !b->tcp[which]; i++) {
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
        pl_bot_fail(b, "publish answer", PL_ESTATE);
        goto out;
    }
    int rc = pl_sdp_parse(d, sdp, strlen(sdp));
    if (rc == PL_OK && pl_peer_state(b->peer[PL_BOT_PUB]) == PL_PEER_NEW)
        rc = apply_remote(b, b->peer[PL_BOT_PUB], d, now_us, PL_BOT_PUB);
    if (rc != PL_OK)
        pl_bot_fail(b, "publish answer", rc);
    pl_bot_drain(b, PL_BOT_PUB, now_us);
out:
    pl_sdp_desc_destroy(&b->ctx->env, d);
    pl_bot_update_due(b);
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

static pl_rxstream *new_stream(pl_bot *b)
{
    for (size_t i = 0; i < MAX_STREAMS; i++)
        if (!b->streams[i].used)
            return &b->streams[i];
    /* Full: reuse the oldest ended stream (its figures are lost). */
    for (size_t i = 0; i < MAX_STREAMS; i++)
        if (!b->streams[i].active) {
            pl_rxstream_free(&b->streams[i]);
            return &b->streams[i];
        }
    return NULL;
}

static void start_stream(pl_bot *b, const pl_sdp_media *m, const pl_botsig_track *t, int64_t now_us)
{
    pl_rxstream *s = new_stream(b);
    if (!s)
        return;
    memset(s, 0, sizeof(*s));
    s->video = m->kind == PL_SDP_VIDEO;
    s->ssrc = m->ssrcs[0].ssrc;
    for (size_t g = 0; g < m->n_groups; g++)
        if (strcmp(m->groups[g].semantics, "FID") == 0 && m->groups[g].n == 2 &&
            m->groups[g].ssrcs[0] == s->ssrc)
            s->rtx_ssrc = m->groups[g].ssrcs[1];
    snprintf(s->mid, sizeof(s->mid), "%s", m->mid);
    snprintf(s->track_id, sizeof(s->track_id), "%s", t ? t->track_id : "");
    snprintf(s->participant_id, sizeof(s->participant_id), "%s", t ? t->participant_id : "");
    snprintf(s->name, sizeof(s->name), "%s", peer_name(b, s->participant_id));
    s->expected_identity = pl_bot_expected_identity(b->ctx, s->name);
    bool sampled = b->index % b->ctx->decode_every == 0;
    bool decode = false;
    if (s->video && sampled && b->decoding_video < b->ctx->decode_video) {
        decode = true;
        b->decoding_video++;
    } else if (!s->video && sampled && b->decoding_audio < b->ctx->decode_audio) {
        decode = true;
        b->decoding_audio++;
    }
    pl_rxstream_start(s, decode, b->ctx->video_loop, PLAYOUT_DELAY_US, now_us);
    /* The size this bot shows the track at: the relay picks the simulcast
     * layer from it. */
    if (s->video && s->track_id[0] && (b->max_width || b->max_height) &&
        b->ctx->ops->subscription &&
        b->ctx->ops->subscription(b->conn, s->track_id, b->max_width, b->max_height) == PL_OK)
        b->subscriptions_sent++;
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
        pl_bot_fail(b, "subscribe offer", rc);
        goto out;
    }
    bool fresh = !b->peer[PL_BOT_SUB];
    if (fresh && !(b->peer[PL_BOT_SUB] = new_peer(b))) {
        pl_bot_fail(b, "subscribe transport", PL_ENOMEM);
        goto out;
    }
    /* Transport-wide feedback when the offer has the extension (the answer
     * keeps it); a new transport numbers its packets afresh. */
    int twcc = -1;
    for (size_t k = 0; k < d->n_media && twcc <= 0; k++)
        if (d->media[k].port != 0)
            twcc = pl_sdp_find_extmap(&d->media[k], PL_RTP_URI_TWCC);
    if (fresh)
        pl_ccfb_set_ext(b->ccfb, 0);
    pl_ccfb_set_ext(b->ccfb, twcc > 0 && twcc < 15 ? (uint8_t)twcc : 0);
    /* Streams that ended or changed hands in this offer. */
    for (size_t i = 0; i < MAX_STREAMS; i++) {
        pl_rxstream *s = &b->streams[i];
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
        pl_bot_fail(b, "subscribe answer", len);
        goto out;
    }
    b->ctx->ops->subscribe_answer(b->conn, b->sdp);
    b->offers++;
    if (fresh) {
        rc = apply_remote(b, b->peer[PL_BOT_SUB], d, now_us, PL_BOT_SUB);
        if (rc != PL_OK)
            pl_bot_fail(b, "subscribe transport", rc);
        pl_bot_drain(b, PL_BOT_SUB, now_us);
    }
out:
    pl_sdp_desc_destroy(&b->ctx->env, d);
    pl_bot_update_due(b);
    pthread_mutex_unlock(&b->lock);
}

void pl_bot_on_error(pl_bot *b, const char *code, const char *message)
{
    pthread_mutex_lock(&b->lock);
    b->errors++;
    snprintf(b->last_error, sizeof(b->last_error), "%s: %s", code, message);
    if (b->ctx->verbose)
        fprintf(stderr, "%s: server error %s\n", b->name, b->last_error);
    pl_bot_update_due(b);
    pthread_mutex_unlock(&b->lock);
}

/* ---- report ------------------------------------------------------------ */

/* What the subscribe transport received, per window, up to the last one
 * with anything in it; and the feedback the bot sent about it. */
static json_t *rx_json(const pl_bot *b)
{
    size_t n = RX_WINDOWS;
    while (n > 0 && !b->rx_datagrams[n - 1])
        n--;
    json_t *bytes = json_array(), *dgrams = json_array(), *frozen = json_array();
    json_t *afr = json_array(), *acon = json_array();
    for (size_t i = 0; i < n; i++) {
        json_array_append_new(bytes, json_integer(b->rx_bytes[i]));
        json_array_append_new(dgrams, json_integer(b->rx_datagrams[i]));
        json_array_append_new(frozen, json_integer(b->rx_frozen_ms[i]));
        json_array_append_new(afr, json_integer(b->rx_audio_frames[i]));
        json_array_append_new(acon, json_integer(b->rx_audio_concealed[i]));
    }
    pl_ccfb_stats fs;
    pl_ccfb_stats_get(b->ccfb, &fs);
    return json_pack("{s:i, s:o, s:o, s:o, s:o, s:o, s:{s:i, s:I, s:I, s:I, s:I}}", "window_ms",
                     RX_WINDOW_US / 1000, "bytes", bytes, "datagrams", dgrams, "frozen_ms", frozen,
                     "audio_frames", afr, "audio_concealed", acon, "feedback", "ext",
                     pl_ccfb_ext(b->ccfb), "packets", (json_int_t)fs.packets, "sent",
                     (json_int_t)fs.feedbacks, "reported", (json_int_t)fs.reported, "lost",
                     (json_int_t)fs.lost);
}

json_t *pl_bot_report(pl_bot *b, pl_delay_hist *delay, pl_delay_hist *video_delay)
{
    pthread_mutex_lock(&b->lock);
    json_t *streams = json_array();
    for (size_t i = 0; i < MAX_STREAMS; i++) {
        const pl_rxstream *s = &b->streams[i];
        if (!s->used)
            continue;
        json_array_append_new(streams, pl_rxstream_json(s));
        if (delay)
            pl_delay_merge(delay, &s->st.delay);
        if (video_delay && s->video)
            pl_delay_merge(video_delay, &s->st.delay);
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
    if (b->simulcast)
        json_object_set_new(json_object_get(o, "sent"), "layers", pl_simsend_json(b->simulcast));
    json_object_set_new(o, "max_size", json_pack("[i,i]", b->max_width, b->max_height));
    json_object_set_new(o, "subscriptions_sent", json_integer((json_int_t)b->subscriptions_sent));
    json_object_set_new(o, "peers_timed_out", json_integer((json_int_t)b->peers_timed_out));
    json_object_set_new(o, "cuts", json_integer(b->cuts));
    json_object_set_new(o, "resumes", json_integer(b->resumes));
    json_object_set_new(o, "rejoins", json_integer(b->rejoins));
    json_object_set_new(o, "received", rx_json(b));
    pthread_mutex_unlock(&b->lock);
    return o;
}
