/* DTLS 1.2 for WebRTC (RFC 5763, 5764, 8827) over OpenSSL memory BIOs.
 *
 * A pl_dtls_cert is an ECDSA P-256 key with a self-signed certificate and
 * its SHA-256 fingerprint, made once and shared by every transport. A
 * pl_dtls is one association: feed it records with handle_datagram, send
 * what poll_transmit gives, and call handle_timeout at next_timeout to
 * retransmit lost flights. Time is the caller's: OpenSSL's own clock never
 * decides when a flight is resent. */
#ifndef PARLEY_DTLS_H
#define PARLEY_DTLS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "parley/common.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct pl_dtls_cert pl_dtls_cert;
typedef struct pl_dtls pl_dtls;

enum pl_dtls_role {
    PL_DTLS_PASSIVE, /* DTLS server: a=setup:passive (the relay) */
    PL_DTLS_ACTIVE,  /* DTLS client: a=setup:active */
};

enum pl_dtls_state {
    PL_DTLS_NEW,
    PL_DTLS_CONNECTING,
    PL_DTLS_CONNECTED,
    PL_DTLS_FAILED,
    PL_DTLS_CLOSED,
};

enum pl_srtp_profile {
    PL_SRTP_NONE = 0,
    PL_SRTP_AES128_CM_SHA1_80 = 1, /* RFC 5764 */
    PL_SRTP_AEAD_AES_128_GCM = 7,  /* RFC 7714 */
};

#define PL_SRTP_MAX_KEY 16
#define PL_SRTP_MAX_SALT 14

/* Keying material exported after the handshake (RFC 5764 4.2), already
 * split into what this side sends with and what it receives with. */
typedef struct pl_srtp_keys {
    enum pl_srtp_profile profile;
    size_t key_len, salt_len;
    uint8_t local_key[PL_SRTP_MAX_KEY], local_salt[PL_SRTP_MAX_SALT];
    uint8_t remote_key[PL_SRTP_MAX_KEY], remote_salt[PL_SRTP_MAX_SALT];
} pl_srtp_keys;

pl_dtls_cert *pl_dtls_cert_create(const pl_env *env);
void pl_dtls_cert_destroy(pl_dtls_cert *cert);
/* "AB:CD:..." (uppercase, colon separated) SHA-256 of the DER certificate. */
const char *pl_dtls_cert_fingerprint(const pl_dtls_cert *cert);

/* The MTU bounds every record datagram; 0 means 1200 bytes. */
pl_dtls *pl_dtls_create(const pl_env *env, const pl_dtls_cert *cert, enum pl_dtls_role role,
                        size_t mtu);
void pl_dtls_destroy(pl_dtls *dtls);

/* The peer's a=fingerprint: "sha-256" (also sha-1, sha-384, sha-512) and
 * the hex digest. The handshake fails with PL_EAUTH when they differ. */
int pl_dtls_set_remote_fingerprint(pl_dtls *dtls, const char *alg, const char *hex);

/* The DTLS-SRTP protection profiles (RFC 5764 4.1.2) this side offers
 * (active) or accepts (passive), most preferred first; the passive side's
 * order decides. By default AEAD_AES_128_GCM (RFC 7714), then
 * AES128_CM_SHA1_80 for stacks without GCM. Before pl_dtls_start. */
int pl_dtls_set_srtp_profiles(pl_dtls *dtls, const enum pl_srtp_profile *profiles, size_t n);

/* The active side sends its ClientHello; the passive side waits. */
int pl_dtls_start(pl_dtls *dtls, int64_t now_us);
/* One datagram of DTLS records. Returns 0, or a negative code when the
 * datagram was rejected (counted by the caller). */
int pl_dtls_handle_datagram(pl_dtls *dtls, int64_t now_us, const uint8_t *data, size_t len);
int pl_dtls_poll_transmit(pl_dtls *dtls, uint8_t *out, size_t cap);
void pl_dtls_handle_timeout(pl_dtls *dtls, int64_t now_us);
int64_t pl_dtls_next_timeout(const pl_dtls *dtls);
/* Sends close_notify (none once settled). */
void pl_dtls_close(pl_dtls *dtls);
/* The peer proved it finished its handshake too (media under the keys
 * came from it), so no flight of ours will be asked for again: OpenSSL's
 * state, about 40 KB of a connected association, is freed. What is lost
 * with it: DTLS records are no longer read (PL_ESTATE, counted by the
 * caller), since an alert could not be told from a forgery, and no
 * close_notify goes out; a client that closes without leaving is seen
 * when its consent runs out. Connected only; the state stays CONNECTED. */
void pl_dtls_settle(pl_dtls *dtls);
bool pl_dtls_settled(const pl_dtls *dtls);

enum pl_dtls_state pl_dtls_state(const pl_dtls *dtls);
/* Why the association failed: PL_EAUTH, the certificate does not match
 * the fingerprint; PL_EUNSUPPORTED, no DTLS-SRTP profile in common;
 * PL_ESTATE, the handshake did not complete within 30 s of the start;
 * PL_ECRYPTO, the handshake failed or a fatal alert arrived. */
int pl_dtls_error(const pl_dtls *dtls);
/* Once connected, until settled: the negotiated profile and keys. */
int pl_dtls_srtp_keys(const pl_dtls *dtls, pl_srtp_keys *out);

#ifdef __cplusplus
}
#endif
#endif
