/* The bot's side of SDP: the offer of its publish transport and the answer
 * on its subscribe transport, written the way a browser writes them (BUNDLE,
 * rtcp-mux, DTLS actpass/active, one SSRC per sent track). */
#ifndef PARLEY_BOT_SDP_H
#define PARLEY_BOT_SDP_H

#include <stddef.h>
#include <stdint.h>

#include "parley/sdp.h"

#define PL_BOT_OPUS_PT 111
#define PL_BOT_VP8_PT 96

typedef struct pl_bot_sdp_local {
    const char *ice_ufrag;
    const char *ice_pwd;
    const char *fingerprint; /* sha-256, colon-separated hex */
    const char *cname;
    const char *stream_id;
    uint64_t session_id;
} pl_bot_sdp_local;

#define PL_BOT_RTX_PT 97

/* Publish offer: mid "0" sendonly Opus with audio_ssrc, mid "1" sendonly
 * VP8 with video_ssrc and its RTX stream (RFC 4588) on rtx_ssrc; NACK on
 * both. Length written, or PL_ENOSPC. */
int pl_bot_sdp_offer(const pl_bot_sdp_local *l, uint32_t audio_ssrc, uint32_t video_ssrc,
                     uint32_t rtx_ssrc, char *out, size_t cap);

/* Header extension ids of a simulcast offer (as Chrome numbers them). */
#define PL_BOT_EXT_MID 4
#define PL_BOT_EXT_RID 10
#define PL_BOT_EXT_RRID 11

/* Publish offer with simulcast video: mid "1" sends the layers `rids`
 * (a=rid ... send, a=simulcast:send) with the MID, RID and repaired-RID
 * extensions and no a=ssrc lines, as Chrome does; audio as above. */
int pl_bot_sdp_offer_simulcast(const pl_bot_sdp_local *l, uint32_t audio_ssrc,
                               const char *const *rids, size_t n_rids, char *out, size_t cap);

/* Answer to the server's subscribe offer: every section recvonly (inactive
 * where the offer is inactive) with Opus / VP8 at the offered payload
 * types, RTX where the offer has it, and the transport-wide sequence number
 * extension (its offered id) with transport-cc feedback where the offer
 * has the extension. Length written, PL_EUNSUPPORTED when a section lacks
 * its codec, or PL_ENOSPC. */
int pl_bot_sdp_answer(const pl_sdp_desc *offer, const pl_bot_sdp_local *l, char *out, size_t cap);

#endif
