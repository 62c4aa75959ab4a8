/* One WebRTC transport: ICE + DTLS + SRTP over a single 5-tuple (BUNDLE and
 * rtcp-mux), as a sans-IO state machine.
 *
 * Inputs: pl_peer_handle_datagram (every datagram from the network) and
 * pl_peer_handle_timeout (when pl_peer_next_timeout says so). Outputs: after
 * each input, drain pl_peer_poll_output until PL_EAGAIN: datagrams to send
 * (with their destination) and events (connected, failed, closed, received
 * RTP/RTCP, remote address changed).
 *
 * Received RTP and RTCP are decrypted in place in the buffer passed to
 * pl_peer_handle_datagram and reported as events that point into it, so the
 * hot path copies nothing: drain the outputs before reusing that buffer.
 * Sending media is in place too: pl_peer_protect_rtp / _rtcp encrypt the
 * caller's packet and say where to send it. */
#ifndef PARLEY_PEER_H
#define PARLEY_PEER_H

#include <stddef.h>
#include <stdint.h>

#include "parley/common.h"
#include "parley/dtls.h"
#include "parley/failure.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct pl_peer pl_peer;

enum pl_peer_role {
    /* The relay: ICE-lite (controlled), DTLS passive (server). */
    PL_PEER_SERVER,
    /* The native client: ICE controlling full agent, DTLS active (client). */
    PL_PEER_CLIENT,
};

/* The DTLS role, when it is not the ICE role's usual one. */
enum pl_peer_dtls {
    PL_PEER_DTLS_DEFAULT, /* server passive, client active */
    /* Active: the ClientHello goes out once ICE has selected a pair (a
     * server whose actpass offer was answered a=setup:passive). */
    PL_PEER_DTLS_ACTIVE,
    PL_PEER_DTLS_PASSIVE, /* waits for a ClientHello from a validated address */
};

typedef struct pl_peer_config {
    enum pl_peer_role role;
    enum pl_peer_dtls dtls;
    /* DTLS-SRTP profiles, most preferred first (pl_dtls_set_srtp_profiles);
     * NULL for the default: AEAD_AES_128_GCM, then AES128_CM_SHA1_80. */
    const enum pl_srtp_profile *srtp_profiles;
    size_t n_srtp_profiles;
    /* Shared certificate; must outlive the peer. */
    const pl_dtls_cert *cert;
    /* Local ICE credentials; generated when NULL. */
    const char *local_ufrag;
    const char *local_pwd;
    /* RFC 7675 consent lifetime; 0 means the default of 30 s. */
    int64_t consent_timeout_us;
} pl_peer_config;

enum pl_peer_state {
    PL_PEER_NEW,
    PL_PEER_CONNECTING, /* ICE or DTLS in progress */
    PL_PEER_CONNECTED,  /* ICE selected a pair, DTLS done, SRTP keyed */
    PL_PEER_FAILED,     /* see pl_peer_failure */
    PL_PEER_CLOSED,     /* DTLS close_notify sent or received */
};

enum pl_peer_output_kind {
    PL_PEER_OUT_TRANSMIT,  /* send data/len to `addr` */
    PL_PEER_OUT_CONNECTED, /* SRTP is ready; media may flow */
    PL_PEER_OUT_FAILED,    /* `failure` says why (`error`: the module's code) */
    PL_PEER_OUT_CLOSED,
    PL_PEER_OUT_RTP,     /* decrypted RTP packet in data/len */
    PL_PEER_OUT_RTCP,    /* decrypted compound RTCP in data/len */
    PL_PEER_OUT_ADDRESS, /* the remote address moved to `addr` (ICE) */
};

typedef struct pl_peer_output {
    enum pl_peer_output_kind kind;
    pl_addr addr;
    /* Valid until the next call into the peer, except RTP/RTCP, which point
     * into the caller's datagram buffer. */
    const uint8_t *data;
    size_t len;
    int error;
    enum pl_failure failure;
} pl_peer_output;

/* Counted drops and rejections, for metrics and tests. */
typedef struct pl_peer_stats {
    uint64_t datagrams_in;
    uint64_t dropped_unknown;     /* unclassifiable first byte, or zero length */
    uint64_t dropped_unverified;  /* DTLS/SRTP from an address ICE has not validated */
    uint64_t dropped_stun;        /* STUN the ICE agent rejected */
    uint64_t dropped_dtls;        /* DTLS records OpenSSL rejected */
    uint64_t dropped_srtp_auth;   /* SRTP/SRTCP failing authentication */
    uint64_t dropped_srtp_replay; /* replayed SRTP/SRTCP */
    uint64_t dropped_before_keys; /* RTP/RTCP before DTLS finished */
    uint64_t dropped_queue_full;  /* outputs lost to a full queue */
    uint64_t rtp_in, rtcp_in, rtp_out, rtcp_out;
} pl_peer_stats;

pl_peer *pl_peer_create(const pl_env *env, const pl_peer_config *cfg);
void pl_peer_destroy(pl_peer *peer);

const char *pl_peer_local_ufrag(const pl_peer *peer);
const char *pl_peer_local_pwd(const pl_peer *peer);

/* The remote side's ICE credentials and DTLS fingerprint, from its SDP. */
int pl_peer_set_remote(pl_peer *peer, const char *ufrag, const char *pwd,
                       const char *fingerprint_alg, const char *fingerprint);
/* ICE restart with new credentials on both sides (server role; see
 * pl_ice_restart): the DTLS association and SRTP contexts stay. */
int pl_peer_restart_ice(pl_peer *peer, int64_t now_us, const char *local_ufrag,
                        const char *local_pwd, const char *remote_ufrag, const char *remote_pwd);
/* Client role: where the server listens (from its SDP candidates). */
int pl_peer_add_remote_candidate(pl_peer *peer, const pl_addr *addr);
/* Starts connectivity checks (client) or waits for them (server). */
int pl_peer_start(pl_peer *peer, int64_t now_us);

/* `data` is modified in place (SRTP decryption). 0 on success or the
 * negative code the datagram was dropped for (already counted). */
int pl_peer_handle_datagram(pl_peer *peer, int64_t now_us, const pl_addr *from, uint8_t *data,
                            size_t len);
void pl_peer_handle_timeout(pl_peer *peer, int64_t now_us);
/* The path to `addr` is gone (an ICE-TCP connection closed): when it was
 * the selected one, the peer fails as on lost consent (pl_ice_path_closed). */
void pl_peer_path_closed(pl_peer *peer, int64_t now_us, const pl_addr *addr);
/* Absolute time of the next pl_peer_handle_timeout, or INT64_MAX. */
int64_t pl_peer_next_timeout(const pl_peer *peer);
/* 0 with *out filled, or PL_EAGAIN when nothing is pending. */
int pl_peer_poll_output(pl_peer *peer, pl_peer_output *out);

/* Encrypt an RTP / compound RTCP packet in place (cap leaves room for the
 * auth tag) and give the address to send it to. PL_ESTATE before connected. */
int pl_peer_protect_rtp(pl_peer *peer, uint8_t *pkt, size_t *len, size_t cap, pl_addr *to);
int pl_peer_protect_rtcp(pl_peer *peer, uint8_t *pkt, size_t *len, size_t cap, pl_addr *to);

/* Sends DTLS close_notify; the peer becomes CLOSED. */
void pl_peer_close(pl_peer *peer, int64_t now_us);

enum pl_peer_state pl_peer_state(const pl_peer *peer);
/* Once failed, why; PL_FAILURE_NONE before. */
enum pl_failure pl_peer_failure(const pl_peer *peer);
/* Once connected, the DTLS-SRTP profile in use; PL_SRTP_NONE before. */
enum pl_srtp_profile pl_peer_srtp_profile(const pl_peer *peer);
const pl_peer_stats *pl_peer_stats_get(const pl_peer *peer);

#ifdef __cplusplus
}
#endif
#endif
