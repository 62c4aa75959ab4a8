/* The VP8 payload descriptor (RFC 7741 4.2) of one forwarded stream: the
 * picture id, TL0PICIDX and KEYIDX a subscriber sees stay continuous when
 * the relay drops frames (temporal layers it does not forward) or switches
 * the source behind the stream (another simulcast layer, a restarted
 * camera), so that its decoder never sees a jump it would take for loss.
 *
 * - Picture ids: a frame that goes out takes its source's id moved by an
 *   offset; a dropped frame shrinks the offset by one, so the next one
 *   takes its place; a new source starts at the last id sent plus one.
 *   Ids are kept in 15-bit space. A source with 7-bit ids keeps its 7-bit
 *   form: its ids are unwrapped into 15 bits and written back modulo 128,
 *   so the stream stays continuous modulo 128.
 * - TL0PICIDX and KEYIDX: their source's values moved by an offset chosen
 *   when a source starts (the last value sent plus one: the first frame of
 *   a source is a key frame of the base layer). The relay never drops base
 *   layer frames, so no other change is needed.
 * - A frame whose first packets were lost upstream arrives later than its
 *   successors: the last PL_VP8_REWRITER_FRAMES frames are remembered, so
 *   it still takes the id its place in the stream asks for.
 *
 * A plain value embedded in the route, no allocation. The fields are
 * written into the outgoing copy of a packet with pl_vp8_write_fields. */
#ifndef PARLEY_VP8_REWRITE_H
#define PARLEY_VP8_REWRITE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "parley/vp8.h"

#ifdef __cplusplus
extern "C" {
#endif

#define PL_VP8_REWRITER_FRAMES 32 /* a power of two */

/* What a forwarded packet's descriptor carries, where it has the field. */
typedef struct pl_vp8_fields {
    uint16_t picture_id; /* 15 bits; the low 7 go into a 7-bit field */
    uint8_t tl0picidx;
    uint8_t keyidx; /* 5 bits */
} pl_vp8_fields;

/* A recent frame of the current source: the id it went out with. */
typedef struct pl_vp8_frame_map {
    uint16_t in, out;
    bool used, dropped;
} pl_vp8_frame_map;

typedef struct pl_vp8_rewriter {
    bool started; /* a picture id went out */
    bool mapped;  /* the current source has its picture id offset */
    bool tl0_started, tl0_mapped;
    bool key_started, key_mapped;
    uint16_t last_pid; /* the newest picture id sent */
    uint16_t in_pid;   /* the current source's newest picture id seen */
    uint16_t pid_off;
    uint8_t last_tl0, tl0_off;
    uint8_t last_key, key_off;
    pl_vp8_frame_map frames[PL_VP8_REWRITER_FRAMES];
} pl_vp8_rewriter;

void pl_vp8_rewriter_init(pl_vp8_rewriter *rw);
/* The next packet is of a new source: offsets are chosen afresh. */
void pl_vp8_rewriter_switch(pl_vp8_rewriter *rw);
/* What became of the frame this packet belongs to: 1 forwarded, 0
 * dropped, -1 not known (a new frame, or one without picture id). */
int pl_vp8_rewriter_frame_state(const pl_vp8_rewriter *rw, const pl_vp8_desc *d);
/* One packet of the current source. `drop`: the caller does not forward
 * it (a new frame dropped leaves no gap). True with *out filled when it
 * goes out; false when dropped or too late to place (a frame older than
 * the frames remembered). */
bool pl_vp8_rewriter_packet(pl_vp8_rewriter *rw, const pl_vp8_desc *d, bool drop,
                            pl_vp8_fields *out);

/* Writes the fields into a payload's descriptor in place, in the form the
 * descriptor already has (7- or 15-bit picture id); fields it does not
 * have are left out. PL_EMALFORMED for a truncated descriptor. */
int pl_vp8_write_fields(uint8_t *payload, size_t len, const pl_vp8_fields *f);

#ifdef __cplusplus
}
#endif
#endif
