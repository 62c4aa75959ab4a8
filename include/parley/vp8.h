/* VP8 over RTP (RFC 7741): the payload descriptor, a packetizer that
 * splits an encoded frame into payloads, and an assembler that puts frames
 * back together from packets in arrival order and says when one was lost.
 * No allocation per packet; the assembler owns fixed buffers. */
#ifndef PARLEY_VP8_H
#define PARLEY_VP8_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "parley/common.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Packets per frame the packetizer and the assembler handle. */
#define PL_VP8_MAX_PACKETS 128
/* Largest frame the assembler keeps. */
#define PL_VP8_MAX_FRAME (PL_VP8_MAX_PACKETS * 1400)

typedef struct pl_vp8_desc {
    bool start;         /* S: first packet of a partition */
    bool non_reference; /* N */
    uint8_t partition;  /* PID */
    bool has_picture_id, picture_id_15;
    uint16_t picture_id;
    bool has_tl0picidx;
    uint8_t tl0picidx;
    bool has_tid;
    uint8_t tid;
    bool layer_sync;
    bool has_keyidx;
    uint8_t keyidx;
    size_t header_len; /* descriptor bytes before the VP8 payload */
    /* The first packet of a frame (S=1, PID=0) whose payload header says
     * key frame (P bit clear). */
    bool keyframe;
} pl_vp8_desc;

/* PL_EMALFORMED for a truncated descriptor or one with no payload after it. */
int pl_vp8_parse_descriptor(const uint8_t *payload, size_t len, pl_vp8_desc *out);

/* The picture size a key frame starts (RFC 6386 9.1): the VP8 payload of
 * the first packet of a key frame (after the descriptor) begins with a
 * 3-byte frame tag, the start code 9d 01 2a and two little-endian 16-bit
 * fields whose low 14 bits are the width and the height (the top two bits
 * are the upscaling mode). PL_EMALFORMED when it is too short, not a key
 * frame or without the start code. */
int pl_vp8_keyframe_size(const uint8_t *vp8, size_t len, uint16_t *width, uint16_t *height);

/* Splits a frame into payloads of at most max_payload bytes (descriptor
 * included: X=1, I=1 with a 15-bit picture id), written back to back into
 * out, their lengths into lens. Returns the number of payloads, PL_ENOSPC
 * when out or lens is too small, PL_EINVAL for an empty frame or a
 * max_payload too small for a descriptor and one byte. The caller sets the
 * RTP marker on the last payload. */
int pl_vp8_packetize(uint16_t picture_id, const uint8_t *frame, size_t len, size_t max_payload,
                     uint8_t *out, size_t out_cap, size_t *lens, size_t max_packets);

typedef struct pl_vp8_assembler pl_vp8_assembler;

typedef struct pl_vp8_frame {
    const uint8_t *data; /* valid until the next call; NULL without keep_data */
    size_t len;
    uint32_t timestamp;
    bool keyframe;
    bool has_picture_id;
    uint16_t picture_id;
    /* Packets or whole frames were given up since the previous frame: a
     * decoder should wait for a keyframe. */
    bool lost_before;
} pl_vp8_frame;

typedef struct pl_vp8_assembler_stats {
    uint64_t packets, frames, incomplete_frames, late_packets, duplicates, malformed;
} pl_vp8_assembler_stats;

/* Frames leave in order. A missing packet holds back the frames after it
 * (a retransmission may fill it) for at most this long, or until
 * the window of PL_VP8_MAX_PACKETS sequence numbers is full; then the
 * incomplete frames are given up. */
#define PL_VP8_WAIT_US 500000

/* keep_data: copy payloads and hand out whole frames; without it the
 * assembler only tracks completeness (for counting frames cheaply). */
pl_vp8_assembler *pl_vp8_assembler_create(bool keep_data);
void pl_vp8_assembler_destroy(pl_vp8_assembler *a);
/* Forgets every packet held and the sequence numbers, as at create, for a
 * stream that starts over (another SSRC); the statistics stay. */
void pl_vp8_assembler_reset(pl_vp8_assembler *a);

/* One RTP packet's payload, arrived at now_us, in any order. 0, or
 * PL_EMALFORMED for a bad descriptor (counted). */
int pl_vp8_assembler_push(pl_vp8_assembler *a, uint16_t seq, uint32_t timestamp, bool marker,
                          const uint8_t *payload, size_t len, int64_t now_us);
/* The next frame in order: 1 with *out set, 0 when none is ready yet. */
int pl_vp8_assembler_pop(pl_vp8_assembler *a, int64_t now_us, pl_vp8_frame *out);
/* When a held-back hole is given up (call pop then), or INT64_MAX. */
int64_t pl_vp8_assembler_next_timeout(const pl_vp8_assembler *a);
void pl_vp8_assembler_stats_get(const pl_vp8_assembler *a, pl_vp8_assembler_stats *out);

#ifdef __cplusplus
}
#endif
#endif
