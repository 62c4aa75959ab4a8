/* What crosses the seam between signaling and the media relay: a
 * publisher's track as the relay forwards it, and a subscriber's route to
 * one of them. The signaling core fills them from the SDP it negotiated;
 * the worker and its router keep them as they are. The size limits are
 * shared so both sides refuse the same input. */
#ifndef PARLEY_TRACK_H
#define PARLEY_TRACK_H

#include <stdbool.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* RFC 8839 5.4: ice-ufrag and ice-pwd are at most 256 characters. */
#define PL_ICE_CRED_MAX 256
/* A media identification token (RFC 8843 a=mid, RFC 4566 token); longer
 * ones are refused by the SDP parser. */
#define PL_MID_MAX 63
/* A certificate fingerprint as written in SDP: the algorithm name and up
 * to 64 hex bytes with colons. */
#define PL_FP_ALG_MAX 15
#define PL_FP_MAX 191
/* Tracks per publish transport, routes per subscribe transport. */
#define PL_MAX_TRACKS 8
#define PL_MAX_ROUTES 32

/* Simulcast layers per track (RFC 8853): a camera sends at most three. */
#define PL_MAX_LAYERS 3
/* RFC 8851 rid-id; longer ones are refused by the SDP parser. */
#define PL_RID_MAX 31

/* One simulcast layer of a track, named by its rid. The SSRCs are learned
 * from the RID and repaired-RID header extensions when the offer names none. */
typedef struct pl_layer {
    char rid[PL_RID_MAX + 1];
    uint32_t ssrc, rtx_ssrc;
} pl_layer;

/* A publisher's track. A zero SSRC means the offer named none: the relay
 * learns it from the first packet that carries the track's MID in the
 * header extension `mid_ext`. A simulcast track (n_layers > 0) has no SSRC
 * of its own: each layer has its SSRCs, and `ssrc`/`rtx_ssrc` are unused. */
typedef struct pl_track {
    char mid[PL_MID_MAX + 1];
    uint32_t ssrc;
    bool video;              /* keyframe requests only make sense for video */
    uint8_t audio_level_ext; /* RFC 6464 header extension id, 0 when not negotiated */
    uint8_t mid_ext;         /* RFC 8843 MID header extension id, 0 when not negotiated */
    /* Transport-wide sequence number extension id (transport-cc), 0 when not
     * negotiated: the relay then sends the publisher no transport-wide
     * feedback. The same on every track of a transport. */
    uint8_t twcc_ext;
    uint8_t pt;     /* the publisher's payload type */
    uint8_t rtx_pt; /* its RTX payload type and stream, 0 without */
    uint32_t rtx_ssrc;
    bool nack; /* the publisher retransmits on NACK: the relay asks for its losses */
    /* A shared screen rather than a camera: a subscriber short of bandwidth
     * keeps it before cameras. */
    bool screen;
    /* The publisher takes REMB (goog-remb) and no transport-wide feedback:
     * the relay tells it a receive-side estimate instead (rxbwe.h). */
    bool remb;
    /* Simulcast: the layers in the order of the offer's a=simulcast send
     * list, and the RID (RFC 8852) and repaired-RID extension ids, 0 when
     * not negotiated. n_layers 0: one stream, as above. */
    uint8_t rid_ext, rrid_ext;
    uint8_t n_layers;
    pl_layer layers[PL_MAX_LAYERS];
    /* Dynacast: the relay may ask the publisher to switch off the layers
     * no subscriber needs (`parley --no-dynacast` clears it). */
    bool dynacast;
} pl_track;

/* What a subscriber receives of one publisher track, under its own SSRC
 * and payload type. */
typedef struct pl_route {
    uint64_t publisher; /* the publish transport */
    char mid[PL_MID_MAX + 1];
    uint32_t out_ssrc;
    uint8_t out_pt;
    uint32_t out_rtx_ssrc; /* retransmissions as RTX (RFC 4588); 0: in the stream itself */
    uint8_t out_rtx_pt;
    bool paused; /* the subscriber does not want this track now (off screen) */
    /* The size the subscriber shows the track at: of a simulcast track it
     * gets the smallest layer at least this big (each non-zero side), or
     * the largest there is. 0: no limit. */
    uint16_t max_width, max_height;
    /* How many temporal layers (VP8 TID 0 up) go out; 0: all of them.
     * Frames of the others are dropped and the stream stays continuous. */
    uint8_t temporal_layers;
    /* The subscriber's transport-wide sequence number extension id, as its
     * answer accepted it (the same on every route of a transport); 0: it
     * sends no transport-wide feedback, and the relay has no estimate of
     * its downlink but REMB. */
    uint8_t twcc_ext;
    /* The relay estimates this subscriber's downlink (from its
     * transport-wide feedback, or its REMB) and shares it out: pacing,
     * layers within the estimate, videos paused that do not fit. Off, it
     * forwards what the tile size asks for, unpaced (the same on every
     * route of a transport). */
    bool estimate;
} pl_route;

#ifdef __cplusplus
}
#endif
#endif
