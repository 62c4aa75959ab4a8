/* RTP packets (RFC 3550) with RFC 8285 header extensions, read in place.
 * The relay's hot path parses a header once, reads the extensions it needs,
 * and rewrites SSRC, sequence number, timestamp and payload type directly in
 * the packet buffer. */
#ifndef PARLEY_RTP_H
#define PARLEY_RTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "parley/buf.h"

#ifdef __cplusplus
extern "C" {
#endif

#define PL_RTP_HEADER_MIN 12
#define PL_RTP_EXT_ONE_BYTE 0xBEDE
/* 0x100X: two-byte header form; the low 4 bits are "appbits". */
#define PL_RTP_EXT_TWO_BYTE 0x1000

/* The extension URIs Parley understands (as negotiated in SDP a=extmap). */
#define PL_RTP_URI_MID "urn:ietf:params:rtp-hdrext:sdes:mid"
#define PL_RTP_URI_RID "urn:ietf:params:rtp-hdrext:sdes:rtp-stream-id"
#define PL_RTP_URI_RRID "urn:ietf:params:rtp-hdrext:sdes:repaired-rtp-stream-id"
#define PL_RTP_URI_AUDIO_LEVEL "urn:ietf:params:rtp-hdrext:ssrc-audio-level"
#define PL_RTP_URI_ABS_SEND_TIME "http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time"
#define PL_RTP_URI_TWCC "http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01"

typedef struct pl_rtp_header {
    bool padding;
    bool extension;
    bool marker;
    uint8_t csrc_count;
    uint8_t payload_type;
    uint16_t seq;
    uint32_t timestamp;
    uint32_t ssrc;
    uint32_t csrc[15];
    uint16_t ext_profile; /* 0xBEDE, 0x100X, or another profile's value */
    size_t ext_offset;    /* start of the extension elements in the packet */
    size_t ext_len;       /* their length in bytes (a multiple of 4) */
    size_t header_len;    /* fixed header + CSRCs + extension block */
    size_t payload_len;   /* excluding padding */
    uint8_t padding_len;
} pl_rtp_header;

/* One header extension element: a view into the packet. */
typedef struct pl_rtp_ext {
    uint8_t id;
    const uint8_t *data;
    size_t len;
} pl_rtp_ext;

/* Validates and parses a header. PL_EMALFORMED for anything that is not a
 * well-formed RTP packet: version, lengths, CSRCs, extension block or
 * padding running past the end. Extension elements are validated too. */
int pl_rtp_parse(const uint8_t *pkt, size_t len, pl_rtp_header *h);

/* Iterates the extension elements of one- or two-byte form. *pos starts at
 * 0. Returns 1 with *out set, 0 at the end, PL_EMALFORMED on bad elements,
 * PL_EUNSUPPORTED for other extension profiles. */
int pl_rtp_ext_next(const uint8_t *pkt, const pl_rtp_header *h, size_t *pos, pl_rtp_ext *out);
/* Finds the element with `id` (1..255); PL_ENOTFOUND when absent. */
int pl_rtp_ext_find(const uint8_t *pkt, const pl_rtp_header *h, uint8_t id, pl_rtp_ext *out);

/* Typed readers of the extensions Parley uses. */
int pl_rtp_ext_string(const pl_rtp_ext *e, char *out, size_t cap); /* mid, rid, repaired-rid */
int pl_rtp_ext_audio_level(const pl_rtp_ext *e, bool *voice, uint8_t *level_dbov); /* RFC 6464 */
int pl_rtp_ext_abs_send_time(const pl_rtp_ext *e, uint32_t *v); /* 6.18 fixed point seconds */
int pl_rtp_ext_twcc_seq(const pl_rtp_ext *e, uint16_t *seq);

/* In-place rewriting on the forwarding path; the packet must have been
 * parsed (so at least 12 bytes long). */
void pl_rtp_set_ssrc(uint8_t *pkt, uint32_t ssrc);
void pl_rtp_set_seq(uint8_t *pkt, uint16_t seq);
void pl_rtp_set_timestamp(uint8_t *pkt, uint32_t ts);
void pl_rtp_set_payload_type(uint8_t *pkt, uint8_t pt);

/* Writing a header with extensions. The one-byte form is used when every
 * element fits it (id 1..14, 1..16 bytes), the two-byte form otherwise. */
typedef struct pl_rtp_ext_spec {
    uint8_t id;
    const void *data;
    size_t len;
} pl_rtp_ext_spec;

void pl_rtp_write_header(pl_wbuf *w, const pl_rtp_header *h, const pl_rtp_ext_spec *exts,
                         size_t n_exts);

/* RTX (RFC 4588): the original sequence number (OSN) is the first two
 * payload bytes. The only place Parley wraps and unwraps RTX.
 * pl_rtp_rtx_osn reads the OSN. pl_rtp_rtx_wrap builds an RTX packet from
 * an original one (header copied, then h->seq as the OSN, then the original
 * payload, no padding) into out, which may be orig itself. Both return the
 * length written or a negative PL_E* code. */
int pl_rtp_rtx_osn(const uint8_t *pkt, const pl_rtp_header *h, uint16_t *osn);
int pl_rtp_rtx_wrap(const uint8_t *orig, const pl_rtp_header *h, uint32_t rtx_ssrc, uint8_t rtx_pt,
                    uint16_t rtx_seq, uint8_t *out, size_t cap);
/* The original packet an RTX packet carries, with the original stream's
 * SSRC and payload type and without the RTX stream's header extensions or
 * padding. PL_ENOTFOUND for an RTX packet that carries no payload (padding
 * used as a bandwidth probe), PL_EMALFORMED without an OSN. */
int pl_rtp_rtx_unwrap(const uint8_t *rtx, const pl_rtp_header *h, uint32_t ssrc, uint8_t pt,
                      uint8_t *out, size_t cap);
/* The packet without its header extension block (whose ids were
 * negotiated with its sender, not with whom it is forwarded to): fixed
 * header, CSRCs, payload and padding. out may be pkt. */
int pl_rtp_strip_extensions(const uint8_t *pkt, const pl_rtp_header *h, uint8_t *out, size_t cap);

#ifdef __cplusplus
}
#endif
#endif
