/* SDP (RFC 8866) as WebRTC uses it (JSEP, RFC 8829): parse what Chrome,
 * Firefox and Safari send, and write the answers and offers of Parley's
 * server, which is ICE-lite, DTLS passive (actpass in its own offers),
 * rtcp-mux and BUNDLE only, and accepts Opus/48000/2 and VP8 (+ RTX).
 *
 * Everything is bounded: a description is a fixed-size struct (allocate it
 * with pl_sdp_desc_create), the text is at most PL_SDP_MAX_SIZE bytes, and
 * counts over the limits below are refused or, for payload types, ignored
 * beyond the limit. Writers fill a caller buffer and return PL_ENOSPC when
 * it is too small. */
#ifndef PARLEY_SDP_H
#define PARLEY_SDP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "parley/common.h"
#include "parley/track.h"

#ifdef __cplusplus
extern "C" {
#endif

#define PL_SDP_MAX_SIZE 65536
#define PL_SDP_MAX_LINE 4096
/* A subscribe offer carries a section per remote track, up to
 * PL_MAX_ROUTES: 16 held the audio and video of only 8 others. */
#define PL_SDP_MAX_MEDIA PL_MAX_ROUTES
#define PL_SDP_MAX_CODECS 48
#define PL_SDP_MAX_FB 96
#define PL_SDP_MAX_EXTMAP 24
#define PL_SDP_MAX_SSRC 16
#define PL_SDP_MAX_SSRC_GROUPS 8
#define PL_SDP_MAX_RIDS 8
#define PL_SDP_MAX_CANDIDATES 16
#define PL_SDP_MAX_BUNDLE PL_SDP_MAX_MEDIA
#define PL_SDP_TOKEN 64

enum pl_sdp_kind { PL_SDP_AUDIO, PL_SDP_VIDEO, PL_SDP_APPLICATION, PL_SDP_OTHER };
enum pl_sdp_dir { PL_SDP_SENDRECV, PL_SDP_SENDONLY, PL_SDP_RECVONLY, PL_SDP_INACTIVE };
enum pl_sdp_setup { PL_SDP_SETUP_NONE, PL_SDP_ACTPASS, PL_SDP_ACTIVE, PL_SDP_PASSIVE };

typedef struct pl_sdp_codec {
    uint8_t pt;
    char name[32];
    uint32_t clock;
    uint8_t channels; /* 0 when not given */
    char fmtp[256];
    int apt; /* RTX: the payload type it repairs, -1 otherwise */
} pl_sdp_codec;

typedef struct pl_sdp_fb {
    int pt;         /* -1 for "*" */
    char value[48]; /* "nack", "nack pli", "ccm fir", "goog-remb", "transport-cc" */
} pl_sdp_fb;

typedef struct pl_sdp_extmap {
    uint16_t id;
    char uri[160];
} pl_sdp_extmap;

typedef struct pl_sdp_ssrc {
    uint32_t ssrc;
    char cname[PL_SDP_TOKEN];
    char msid[2 * PL_SDP_TOKEN + 2];
} pl_sdp_ssrc;

typedef struct pl_sdp_ssrc_group {
    char semantics[8]; /* FID, SIM, FEC-FR */
    size_t n;
    uint32_t ssrcs[4];
} pl_sdp_ssrc_group;

typedef struct pl_sdp_rid {
    char id[32];
    bool send; /* direction as written: send or recv */
    char restrictions[128];
} pl_sdp_rid;

typedef struct pl_sdp_candidate {
    char foundation[33];
    uint16_t component;
    char transport[8];
    uint32_t priority;
    char address[64];
    uint16_t port;
    char type[8];
} pl_sdp_candidate;

typedef struct pl_sdp_media {
    enum pl_sdp_kind kind;
    char kind_name[16];
    uint16_t port;
    char proto[32];
    char fmt[64]; /* the raw format list, for echoing rejected sections */
    char mid[PL_SDP_TOKEN];
    enum pl_sdp_dir dir;
    bool rtcp_mux, rtcp_rsize;
    /* a=bundle-only (RFC 8843 6): port 0 then means "only if bundled", not
     * "disabled"; max-bundle offerers write it on every section but the
     * first of the group. */
    bool bundle_only;
    bool extmap_allow_mixed; /* RFC 8285 6, written at media level */
    char ice_ufrag[257], ice_pwd[257];
    char fp_alg[16], fp[160];
    enum pl_sdp_setup setup;
    char msid_stream[PL_SDP_TOKEN + 1], msid_track[PL_SDP_TOKEN + 1];
    size_t n_codecs, codecs_ignored;
    pl_sdp_codec codecs[PL_SDP_MAX_CODECS];
    size_t n_fb;
    pl_sdp_fb fb[PL_SDP_MAX_FB];
    size_t n_extmaps;
    pl_sdp_extmap extmaps[PL_SDP_MAX_EXTMAP];
    size_t n_ssrcs;
    pl_sdp_ssrc ssrcs[PL_SDP_MAX_SSRC];
    size_t n_groups;
    pl_sdp_ssrc_group groups[PL_SDP_MAX_SSRC_GROUPS];
    size_t n_rids;
    pl_sdp_rid rids[PL_SDP_MAX_RIDS];
    char simulcast[256]; /* the value of a=simulcast, e.g. "send q;h;f" */
    size_t n_candidates;
    pl_sdp_candidate candidates[PL_SDP_MAX_CANDIDATES];
    bool end_of_candidates;
} pl_sdp_media;

typedef struct pl_sdp_desc {
    char session_id[32];
    bool ice_lite;
    bool extmap_allow_mixed;
    char ice_ufrag[257], ice_pwd[257];
    char fp_alg[16], fp[160];
    enum pl_sdp_setup setup;
    size_t n_bundle;
    char bundle[PL_SDP_MAX_BUNDLE][PL_SDP_TOKEN];
    size_t n_media;
    pl_sdp_media media[PL_SDP_MAX_MEDIA];
    /* Why parsing failed, for error replies. */
    char error[128];
} pl_sdp_desc;

pl_sdp_desc *pl_sdp_desc_create(const pl_env *env);
void pl_sdp_desc_destroy(const pl_env *env, pl_sdp_desc *d);

/* Parses an offer or answer. Session-level ICE credentials, fingerprint and
 * setup are copied into media sections that lack their own; then a section
 * of the BUNDLE group that still lacks them takes those of the group's
 * tagged section (its first mid with a non-zero port, RFC 8843 7.2), as
 * its media go over that transport. PL_EMALFORMED (with d->error set) for
 * text that is not a valid description. */
int pl_sdp_parse(pl_sdp_desc *d, const char *text, size_t len);

/* A lookup within one media section. */
int pl_sdp_find_extmap(const pl_sdp_media *m, const char *uri); /* id, or -1 */

/* This server's side of a session. */
typedef struct pl_sdp_local {
    const char *ice_ufrag;
    const char *ice_pwd;
    const char *fp_alg;
    const char *fp;
    const char *address; /* candidate address (IPv4 or IPv6) */
    uint16_t port;       /* candidate port: the media worker's UDP port */
    /* A passive ICE-TCP candidate (RFC 6544) on the same port too, below
     * UDP in priority so that UDP wins wherever it works. */
    bool tcp;
    uint64_t session_id;
    uint32_t version;
} pl_sdp_local;

/* What an answer accepted in one offered section, for the relay's routing. */
typedef struct pl_sdp_accepted {
    bool accepted;
    char mid[PL_SDP_TOKEN];
    enum pl_sdp_kind kind;
    enum pl_sdp_dir offer_dir;
    int pt;                  /* Opus or VP8 */
    int rtx_pt;              /* -1 without RTX */
    uint32_t ssrc, rtx_ssrc; /* 0 when the offer did not signal them */
    /* Simulcast layers received (their rids, in the offer's a=simulcast
     * order, at most PL_MAX_LAYERS); 0 without simulcast. */
    size_t n_rids;
    char rids[PL_SDP_MAX_RIDS][PL_RID_MAX + 1];
    int ext_mid, ext_rid, ext_rrid, ext_audio_level, ext_abs_send_time, ext_twcc; /* -1 if absent */
    /* Why the section was rejected, or why it made the whole offer
     * unacceptable; empty otherwise. Names the section and the line. */
    char why[160];
} pl_sdp_accepted;

/* Writes the answer to a client's offer (the publish transport). Every
 * offered section gets an answer section, in order. Sections are accepted
 * with Opus/48000/2 (audio) or VP8 (video, + RTX), including bundle-only
 * ones of the BUNDLE group (RFC 8843: answered like the group's other
 * sections); the others are rejected with port 0, each with its reason in
 * acc[i].why. acc (PL_SDP_MAX_MEDIA entries) says what was accepted.
 * Returns the length written, PL_EUNSUPPORTED when no section is
 * acceptable or the offer lacks BUNDLE / rtcp-mux / ICE / fingerprint (then
 * `why` says so, pointing at a static string or at the acc[i].why of the
 * offending section), or PL_ENOSPC. */
int pl_sdp_write_answer(const pl_sdp_desc *offer, const pl_sdp_local *local, char *out, size_t cap,
                        pl_sdp_accepted *acc, const char **why);

/* One section of the server's own offer (the subscribe transport). */
typedef struct pl_sdp_offer_section {
    const char *mid;
    enum pl_sdp_kind kind;
    bool active; /* sendonly; false = inactive (an ended track's slot) */
    const char *stream_id;
    const char *track_id;
    const char *cname;
    uint32_t ssrc;
    uint32_t rtx_ssrc; /* video only; 0 for none */
} pl_sdp_offer_section;

/* Payload types of the server's offers. */
#define PL_SDP_OFFER_OPUS_PT 111
#define PL_SDP_OFFER_VP8_PT 96
#define PL_SDP_OFFER_RTX_PT 97

int pl_sdp_write_offer(const pl_sdp_local *local, const pl_sdp_offer_section *sections, size_t n,
                       char *out, size_t cap);

#ifdef __cplusplus
}
#endif
#endif
