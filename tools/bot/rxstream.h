/* One stream a bot receives: its statistics, NACKs and keyframe requests,
 * the audio playout, and, for a sample of the streams, the decoders that
 * check the picture and the tone. Video frames are also checked for the
 * continuity of their VP8 descriptors (picture id, TL0PICIDX), which a relay
 * that switches simulcast layers or drops temporal layers must keep. */
#ifndef PARLEY_BOT_RXSTREAM_H
#define PARLEY_BOT_RXSTREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "parley/nack.h"
#include "parley/rtp.h"
#include "parley/vp8.h"
#include "content.h"
#include "playout.h"
#include "rxstats.h"

/* Where a stream's RTCP feedback (PLI, NACK) goes. */
typedef struct pl_rxstream_fb {
    void *user;
    void (*send)(void *user, const uint8_t *rtcp, size_t len);
} pl_rxstream_fb;

/* The descriptor of a frame's first packet, until the frame is complete. */
typedef struct pl_rxstream_desc {
    uint32_t ts;
    uint16_t picture_id;
    uint8_t tl0picidx, tid;
    bool used, has_picture_id, has_tl0picidx, has_tid;
} pl_rxstream_desc;

#define PL_RXSTREAM_DESCS 32
#define PL_RXSTREAM_SIZES 6

typedef struct pl_rxstream {
    bool used, active;
    bool video;
    char mid[64];
    char track_id[80];
    char participant_id[64];
    char name[80];
    int expected_identity;
    uint32_t ssrc, rtx_ssrc;
    /* Set when the RTP timestamps do not carry the sender's send time (a
     * server that rewrites them) and no other source gave it: the packet's
     * delay is not measured. */
    bool delay_unknown;
    /* Received minus sent RTP timestamp, once a frame's send time is known
     * (bot_media.c, for a server that rewrites timestamps). */
    bool ts_offset_known;
    uint32_t ts_offset;
    pl_rxstats st;
    pl_nack_gen nack;
    pl_playout *playout; /* audio */
    int64_t playout_delay_us;
    /* Video rendering on the sender's clock plus a fixed delay, as a
     * receiver's jitter buffer does; freezes are gaps between renders. */
    bool render_started;
    uint32_t render_base_ts;
    int64_t render_base_us;
    /* Decoding, for a sample of the streams. */
    pl_vp8_assembler *assembler;
    pl_vcheck *vcheck;
    pl_acheck *acheck;
    uint64_t frames_complete, keyframes;
    /* When the stream started, and when its first frame was complete
     * (0: none yet): how long a viewer waited for a picture. */
    int64_t started_us, first_frame_us;
    uint64_t nacks_sent, plis_sent, retransmissions;
    int64_t last_pli_us;
    int64_t ended_us;
    uint64_t packets_after_end;
    /* Descriptor continuity, frame by frame in order. */
    pl_rxstream_desc descs[PL_RXSTREAM_DESCS];
    unsigned next_desc;
    bool have_prev;
    bool prev_has_tl0;
    uint16_t prev_picture_id;
    uint8_t prev_tl0picidx;
    uint64_t picture_id_gaps, tl0picidx_errors;
    uint64_t frames_by_tid[4];
    /* The picture size of the last key frame (the simulcast layer being
     * received), read from the VP8 header without decoding, and how many
     * frames completed at each size: the layers of every stream, decoded
     * or not. */
    uint16_t kf_width, kf_height;
    unsigned n_sizes;
    struct {
        uint16_t width, height;
        uint64_t frames;
    } sizes[PL_RXSTREAM_SIZES];
} pl_rxstream;

/* Starts a stream whose identification (mid, ids, name, SSRCs, expected
 * identity, video) the caller has filled in; decode: check its content. */
void pl_rxstream_start(pl_rxstream *s, bool decode, unsigned video_loop, int64_t playout_delay_us,
                       int64_t now_us);
void pl_rxstream_free(pl_rxstream *s);

/* One RTP packet of the stream (seq: the original one for RTX), arrived
 * at now_us. */
void pl_rxstream_rtp(pl_rxstream *s, int64_t now_us, const pl_rtp_header *h, uint16_t seq,
                     const uint8_t *payload, size_t payload_len, size_t len, bool rtx,
                     const pl_rxstream_fb *fb);
/* Timers: NACKs (when nack), keyframe requests, held frames, playout. */
void pl_rxstream_tick(pl_rxstream *s, int64_t now_us, bool nack, const pl_rxstream_fb *fb);
int64_t pl_rxstream_next_due(const pl_rxstream *s, bool nack);

json_t *pl_rxstream_json(const pl_rxstream *s);

#endif
