/* Media that says who sent it. A bot's video shows a grid of large black
 * and white cells encoding its identity and a frame counter (with their
 * complements, so a misread is caught), above a band of moving noise that
 * makes the encoder spend a realistic bitrate; its audio is a tone whose
 * frequency encodes the identity. Receivers decode with libvpx / libopus
 * and read both back.
 *
 * Clips are encoded once and replayed, so that a load generator spends its
 * CPU on SRTP and sockets rather than on codecs. */
#ifndef PARLEY_BOT_CONTENT_H
#define PARLEY_BOT_CONTENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PL_CONTENT_WIDTH 320
#define PL_CONTENT_HEIGHT 240
#define PL_CONTENT_FPS 30
#define PL_CONTENT_MAX_IDENTITY 255

/* The tone of an identity, in Hz. */
unsigned pl_content_tone_hz(unsigned identity);

typedef struct pl_clip pl_clip;

typedef struct pl_clip_frame {
    const uint8_t *data;
    size_t len;
    bool keyframe;
    unsigned counter; /* the counter drawn in a video frame */
    /* Its temporal layer (RFC 7741 TID), whether it depends on TL0 only
     * (Y) and whether no later frame refers to it (N). */
    uint8_t tid;
    bool layer_sync, non_reference;
} pl_clip_frame;

typedef struct pl_clip_config {
    unsigned video_frames, audio_frames; /* either may be 0, not both */
    unsigned width, height;              /* 0: PL_CONTENT_WIDTH x PL_CONTENT_HEIGHT */
    unsigned kbps;                       /* 0: 700 */
    unsigned temporal_layers;            /* 1 (or 0), 2 or 3 */
} pl_clip_config;

/* Encodes video_frames frames of VP8 (a keyframe first and every 60) and
 * audio_frames 20 ms Opus frames (in-band FEC on). NULL on failure. */
pl_clip *pl_clip_create(unsigned identity, unsigned video_frames, unsigned audio_frames);
/* The same at another size, rate, or with temporal layers. */
pl_clip *pl_clip_create_with(unsigned identity, const pl_clip_config *cfg);
void pl_clip_destroy(pl_clip *c);
size_t pl_clip_video_count(const pl_clip *c);
const pl_clip_frame *pl_clip_video(const pl_clip *c, size_t i);
size_t pl_clip_audio_count(const pl_clip *c);
const pl_clip_frame *pl_clip_audio(const pl_clip *c, size_t i);

/* Draws the picture of (identity, counter, frame index) into I420 planes
 * of PL_CONTENT_WIDTH x PL_CONTENT_HEIGHT, or of w x h (strides w and
 * (w+1)/2); and reads identity and counter back from a decoded picture of
 * any size from 64x48 (its luma stride). Returns 0, or -1 when the cells
 * are unreadable or their complements disagree. */
void pl_content_draw(uint8_t *y, uint8_t *u, uint8_t *v, unsigned identity, unsigned counter,
                     unsigned frame);
void pl_content_draw_sized(uint8_t *y, uint8_t *u, uint8_t *v, unsigned w, unsigned h,
                           unsigned identity, unsigned counter, unsigned frame);
int pl_content_read(const uint8_t *y, int stride, unsigned width, unsigned height,
                    unsigned *identity, unsigned *counter);

/* ---- receiving: video ---- */

typedef struct pl_vcheck pl_vcheck;

typedef struct pl_vcheck_result {
    bool decoded; /* the decoder produced a picture */
    bool corrupt; /* decode error, or a picture without a valid pattern */
    bool skipped; /* not decoded: waiting for a keyframe after a loss */
    bool in_order;
    int identity, counter;  /* -1 when not read */
    unsigned width, height; /* of the decoded picture */
} pl_vcheck_result;

#define PL_VCHECK_MAX_SIZES 8

typedef struct pl_vcheck_stats {
    /* corrupt: decoder errors (decode_errors) and pictures without a
     * readable pattern. */
    uint64_t decoded, corrupt, decode_errors, skipped, out_of_order, wrong_identity;
    int identity; /* the identity of the first readable picture, -1 before */
    /* The resolution decoded last, how often it changed, and every one
     * seen (the first PL_VCHECK_MAX_SIZES: width, height, pictures). */
    unsigned width, height, size_changes;
    unsigned n_sizes;
    unsigned sizes[PL_VCHECK_MAX_SIZES][3];
    /* The first pictures out of order, to tell a relay's skip from a
     * sender's: the counter before, the counter, its temporal layer (-1
     * unknown) and whether it was a key frame. */
    unsigned n_disorder;
    int disorder[4][4];
} pl_vcheck_stats;

/* loop_frames: the sender's clip length, so that counters wrap correctly.
 * expected_identity: the sender's, or -1 for a sender that is not a bot
 * (a browser's camera): then only decoding is checked, not the pattern. */
pl_vcheck *pl_vcheck_create(unsigned loop_frames, int expected_identity);
void pl_vcheck_destroy(pl_vcheck *v);
/* One complete frame with its RTP timestamp (90 kHz) and temporal layer
 * (TID, -1 when the stream has none). gap_before: frames or packets were
 * lost since the previous frame, so a P-frame cannot be decoded until the
 * next keyframe. A frame that follows the previous one with only frames of
 * higher temporal layers between them (in the three-layer pattern of
 * pl_clip_create_with) is in order: a relay forwarding fewer layers leaves
 * those out. */
void pl_vcheck_frame(pl_vcheck *v, const uint8_t *frame, size_t len, uint32_t ts, bool keyframe,
                     int tid, bool gap_before, pl_vcheck_result *r);
void pl_vcheck_stats_get(const pl_vcheck *v, pl_vcheck_stats *out);

/* ---- receiving: audio ---- */

typedef struct pl_acheck pl_acheck;

typedef struct pl_acheck_stats {
    uint64_t decoded, fec, concealed, errors;
    int identity; /* from the tone's frequency; -1 before 0.5 s of audio */
    double frequency_hz;
} pl_acheck_stats;

pl_acheck *pl_acheck_create(void);
void pl_acheck_destroy(pl_acheck *a);
void pl_acheck_packet(pl_acheck *a, const uint8_t *data, size_t len);
/* A packet was lost: conceal it (PLC). */
void pl_acheck_lost(pl_acheck *a);
/* A packet was lost but the next one is here: rebuild the lost frame from
 * its in-band FEC. */
void pl_acheck_fec(pl_acheck *a, const uint8_t *next, size_t len);
void pl_acheck_stats_get(const pl_acheck *a, pl_acheck_stats *out);

#endif
