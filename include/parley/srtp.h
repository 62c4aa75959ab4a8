/* SRTP and SRTCP (RFC 3711, RFC 7714) for one transport, on libsrtp2: one
 * session for what this side sends (local keys) and one for what it
 * receives (remote keys), keyed from DTLS (pl_srtp_keys). Packets are
 * protected and unprotected in place. */
#ifndef PARLEY_SRTP_H
#define PARLEY_SRTP_H

#include <stddef.h>
#include <stdint.h>

#include "parley/common.h"
#include "parley/dtls.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Room to leave after a packet for protect: the largest auth tag plus the
 * SRTCP index. */
#define PL_SRTP_MAX_TRAILER 32

typedef struct pl_srtp pl_srtp;

/* Initialises libsrtp once per process (thread-safe, idempotent). */
int pl_srtp_global_init(void);

pl_srtp *pl_srtp_create(const pl_env *env, const pl_srtp_keys *keys);
void pl_srtp_destroy(pl_srtp *s);

/* *len is the packet length in and out; cap is the buffer size, which must
 * leave room for the trailer (PL_ENOSPC otherwise). */
int pl_srtp_protect_rtp(pl_srtp *s, uint8_t *pkt, size_t *len, size_t cap);
int pl_srtp_protect_rtcp(pl_srtp *s, uint8_t *pkt, size_t *len, size_t cap);
/* PL_EAUTH when authentication fails, PL_EREPLAY for a replayed or too old
 * packet, PL_EMALFORMED for anything that is not SRTP. */
int pl_srtp_unprotect_rtp(pl_srtp *s, uint8_t *pkt, size_t *len);
int pl_srtp_unprotect_rtcp(pl_srtp *s, uint8_t *pkt, size_t *len);

#ifdef __cplusplus
}
#endif
#endif
