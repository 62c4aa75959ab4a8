/* A bot's camera as simulcast (RFC 8853), the way Chrome sends it: three
 * VP8 layers named by rid (q, h, f at a quarter, half and the full size),
 * each with three temporal layers, its own SSRC and RTX SSRC, none of
 * them announced in the SDP. Every packet carries the MID and RID header
 * extensions (RTX packets: MID and repaired RID), and its VP8 descriptor
 * the picture id, TL0PICIDX and TID of its layer's frame. The frames come
 * from pre-encoded clips, one per layer, that all carry the sender's
 * identity.
 *
 * Keyframes are per layer: a PLI for a layer's SSRC restarts that layer's
 * clip at its keyframe. NACKs are answered on the layer's RTX stream. */
#ifndef PARLEY_BOT_SIMULCAST_H
#define PARLEY_BOT_SIMULCAST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "parley/common.h"
#include "parley/rtcp.h"
#include "content.h"

#define PL_SIM_LAYERS 3

/* The rid of layer i (0: q, 1: h, 2: f) and how much smaller it is. */
const char *pl_sim_rid(unsigned layer);
unsigned pl_sim_scale(unsigned layer);
/* The layer clips of one identity: full size w x h, the others scaled
 * down, each with a bitrate for its size and three temporal layers. 0, or
 * -1 (what was made is destroyed). */
int pl_sim_clips_create(unsigned identity, unsigned frames, unsigned w, unsigned h,
                        pl_clip *out[PL_SIM_LAYERS]);

typedef struct pl_simsend pl_simsend;

/* Hands a packet in the clear to the transport, which may protect it in
 * place (the buffer has room to cap); true when it went out. */
typedef bool (*pl_simsend_tx)(void *user, uint8_t *pkt, size_t len, size_t cap);

/* clips: one per layer, in the order q, h, f; mid: the video section's. */
pl_simsend *pl_simsend_create(const pl_env *env, pl_clip *const clips[PL_SIM_LAYERS],
                              const char *mid);
void pl_simsend_destroy(pl_simsend *s);
/* New SSRCs, sequence numbers and picture ids, for a new publish
 * transport; every layer starts at a keyframe. */
void pl_simsend_reset(pl_simsend *s);
/* Every layer starts again at its keyframe (a new connection). */
void pl_simsend_restart(pl_simsend *s);
/* Sends one frame of every layer, stamped ts (90 kHz). */
void pl_simsend_frame(pl_simsend *s, uint32_t ts, pl_simsend_tx tx, void *user);
/* A keyframe request (PLI for media_ssrc, or FIR: every layer); false when
 * the SSRC is none of ours. */
bool pl_simsend_keyframe(pl_simsend *s, uint32_t media_ssrc, bool fir);
/* A NACK for one of the layers: resends on its RTX stream; the number of
 * packets resent, or -1 when the SSRC is none of ours. */
int pl_simsend_nack(pl_simsend *s, const pl_rtcp_nack *nack, pl_simsend_tx tx, void *user);

/* Per layer: rid, ssrc, frames, keyframes, packets, bytes, plis. */
json_t *pl_simsend_json(const pl_simsend *s);
uint64_t pl_simsend_packets(const pl_simsend *s);
uint64_t pl_simsend_bytes(const pl_simsend *s);

#endif
