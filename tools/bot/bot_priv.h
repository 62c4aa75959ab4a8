/* Inside a bot: the state its two halves share. bot.c is the participant
 * (lifecycle, signaling events, report); bot_media.c its media (transports,
 * the send clock, what it receives). Everything here is used with the
 * bot's lock held. */
#ifndef PARLEY_BOT_PRIV_H
#define PARLEY_BOT_PRIV_H

#include <pthread.h>
#include <stdatomic.h>

#include "parley/peer.h"
#include "parley/pktcache.h"
#include "bot.h"
#include "ccfb.h"
#include "bot_tcp.h"
#include "rxstream.h"
#include "simulcast.h"

#define MAX_PEERS 64
#define MAX_STREAMS 64
#define SDP_CAP 32768
#define PKT_CAP 1500
/* Audio waits this long in the playout buffer: room for jitter and one
 * retransmission; video frames are rendered as late. */
#define PLAYOUT_DELAY_US 250000
/* What the subscribe transport receives is counted per window of this
 * length from the first join, for as many windows (later ones add to the
 * last): a received rate that can be read after it settles. */
#define RX_WINDOW_US 1000000
#define RX_WINDOWS 600
/* Send times of the last video frames, by picture id (ctx->ts_rewritten). */
#define FRAME_TS_RING 256
#define FRAME_TS_VALID (1ull << 63)

typedef struct remote_peer {
    char id[64];
    char name[80];
    bool present;
} remote_peer;

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
    pl_bot_tcp *tcp[2]; /* --ice-tcp: the connections behind fd; NULL over UDP */
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
    pl_simsend *simulcast;                /* the camera as simulcast layers, or NULL */
    /* FRAME_TS_VALID | picture id << 32 | RTP timestamp of each frame sent,
     * at picture id % FRAME_TS_RING; read by the other bots' media threads. */
    _Atomic uint64_t frame_ts[FRAME_TS_RING];
    /* Receiving. */
    unsigned max_width, max_height; /* asked of every remote video track; 0: no limit */
    uint64_t subscriptions_sent;
    remote_peer peers[MAX_PEERS];
    pl_rxstream streams[MAX_STREAMS];
    unsigned decoding_audio, decoding_video;
    uint64_t unknown_ssrc;
    pl_ccfb *ccfb;       /* transport-wide feedback about the subscribe transport */
    int64_t rx_epoch_us; /* the first join: window 0 starts here */
    uint32_t rx_bytes[RX_WINDOWS], rx_datagrams[RX_WINDOWS];
    /* Per window too: video frozen (summed over streams) and audio frames
     * played or concealed, from totals taken at each window's end. */
    uint32_t rx_frozen_ms[RX_WINDOWS], rx_audio_frames[RX_WINDOWS], rx_audio_concealed[RX_WINDOWS];
    int64_t rx_window; /* the window the totals below were taken in */
    uint64_t rx_freeze_us, rx_turns, rx_concealed;
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

/* bot.c */
void pl_bot_fail(pl_bot *b, const char *what, int err);

/* bot_media.c */
/* Recomputes next_due. */
void pl_bot_update_due(pl_bot *b);
/* Handles what a transport has to say (datagrams to send, state, media). */
void pl_bot_drain(pl_bot *b, enum pl_bot_socket which, int64_t now_us);
/* New sending state (SSRCs, sequence numbers) for a new publish transport. */
void pl_bot_media_reset(pl_bot *b);
/* Sends one packet on a transport (a datagram to `to`, or a frame on its
 * connection); false when it could not go. */
bool pl_bot_send(pl_bot *b, enum pl_bot_socket which, const uint8_t *data, size_t len,
                 const pl_addr *to);

#endif
