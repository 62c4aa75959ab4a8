/* One bot participant: a WebRTC client that joins a room through a
 * signaling adapter, publishes a pre-encoded Opus tone and VP8 pattern that
 * carry its identity, subscribes to everyone else, and checks and measures
 * every stream it receives.
 *
 * Two threads touch a bot: the signaling loop (join, leave and the adapter's
 * events) and a media loop (datagrams and the send clock). A mutex per bot
 * keeps them apart; neither blocks for long while holding it. */
#ifndef PARLEY_BOT_BOT_H
#define PARLEY_BOT_BOT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "parley/common.h"
#include "parley/dtls.h"
#include "content.h"
#include "rxstats.h"
#include "sig.h"

typedef struct pl_bot pl_bot;

/* Shared by every bot of a process. */
typedef struct pl_bot_ctx {
    pl_env env;
    pl_dtls_cert *cert;
    const pl_botsig_ops *ops;
    pl_botsig *sig;
    const char *bind_ip;
    /* Send media here instead of the server's candidate (an impairment
     * relay in front of the server); NULL for direct. */
    const pl_addr *media_via;
    /* Media over ICE-TCP only (the relay's passive TCP candidate, RFC
     * 6544): one connection per transport for the bot's life. */
    bool ice_tcp;
    /* Pre-encoded media, one clip per identity in use (identity % n_clips). */
    pl_clip **clips;
    unsigned n_clips;
    unsigned video_loop; /* frames per video clip */
    /* Publish the camera as simulcast: layer_clips holds PL_SIM_LAYERS
     * clips (q, h, f) per identity, and the clips above only the audio. */
    bool simulcast;
    pl_clip **layer_clips;
    /* How many received streams of each kind a bot decodes; the others are
     * counted and measured only. */
    unsigned decode_audio, decode_video;
    /* Only every decode_every-th bot decodes at all: in load runs a sample
     * is checked and the CPU goes to SRTP and sockets. */
    unsigned decode_every;
    /* The server rewrites RTP timestamps (Janus does, from 0 for each
     * subscriber): a received video packet's send time is then the one its
     * sender, a bot of this process, noted for the frame's picture id
     * (bots[index - first_index]); audio and simulcast video go without a
     * delay figure. */
    bool ts_rewritten;
    pl_bot *const *bots;
    size_t n_bots;
    unsigned first_index;
    bool nack;    /* send NACKs for gaps in received video */
    bool verbose; /* log signaling errors and state changes */
} pl_bot_ctx;

enum pl_bot_socket { PL_BOT_PUB = 0, PL_BOT_SUB = 1 };

/* A bot named "bot-<index>" sends the clip of identity index % n_clips,
 * unless it only listens (publish false). */
pl_bot *pl_bot_create(pl_bot_ctx *ctx, unsigned index, const char *room, bool publish);
void pl_bot_destroy(pl_bot *b);
/* The size this bot shows every remote video at (0: no limit), sent to the
 * server with each track it starts receiving; before it joins. */
void pl_bot_set_max_size(pl_bot *b, unsigned width, unsigned height);
int pl_bot_socket(const pl_bot *b, enum pl_bot_socket which);
/* Whether the socket is a stream (--ice-tcp): read it with
 * pl_bot_stream_input until it is empty, edge-triggered. */
bool pl_bot_socket_is_stream(const pl_bot *b);
const char *pl_bot_name(const pl_bot *b);
/* The identity a sender called `name` shows, or -1 for a non-bot. */
int pl_bot_expected_identity(const pl_bot_ctx *ctx, const char *name);

/* Signaling thread. */
void pl_bot_join(pl_bot *b, int64_t now_us);
void pl_bot_leave(pl_bot *b, int64_t now_us);
bool pl_bot_in_room(const pl_bot *b);
/* Whether its signaling connection is still open (until `closed`). */
bool pl_bot_signaling_open(pl_bot *b);
void pl_bot_on_joined(pl_bot *b, const char *participant_id, int64_t now_us);
void pl_bot_on_peer(pl_bot *b, const char *participant_id, const char *name, bool present,
                    const char *reason);
/* Loses the signaling connection (no close handshake) and reconnects after
 * `seconds`; media goes on meanwhile. */
void pl_bot_cut(pl_bot *b, double seconds);
void pl_bot_on_publish_answer(pl_bot *b, const char *sdp, int64_t now_us);
void pl_bot_on_subscribe_offer(pl_bot *b, const char *sdp, const pl_botsig_track *tracks, size_t n,
                               int64_t now_us);
void pl_bot_on_error(pl_bot *b, const char *code, const char *message);
void pl_bot_on_closed(pl_bot *b, int64_t now_us);

/* Media thread. */
/* arrival_us: when the kernel queued it (monotonic clock), 0 if unknown. */
void pl_bot_datagram(pl_bot *b, enum pl_bot_socket which, int64_t now_us, int64_t arrival_us,
                     const pl_addr *from, uint8_t *data, size_t len);
void pl_bot_tick(pl_bot *b, int64_t now_us);
/* Media thread, --ice-tcp: reads a transport's connection, framed packets
 * handed over as datagrams. */
void pl_bot_stream_input(pl_bot *b, enum pl_bot_socket which);
/* When the bot next needs pl_bot_tick (any thread, lock-free). */
int64_t pl_bot_next_due(pl_bot *b);

/* What the bot sent and received, as JSON (caller owns the result); adds
 * its received streams' delay histograms to *delay, and its video streams'
 * to *video_delay. */
json_t *pl_bot_report(pl_bot *b, pl_delay_hist *delay, pl_delay_hist *video_delay);

#endif
