/* Why a media transport failed. One vocabulary from the peer that notices
 * it, through the media worker's event, to the signaling core, which logs
 * it with the participant and counts it per reason for /stats: an operator
 * (or a test) tells a client that never reached the relay from one whose
 * DTLS never finished, one with the wrong certificate, and one that went
 * away. */
#ifndef PARLEY_FAILURE_H
#define PARLEY_FAILURE_H

#ifdef __cplusplus
extern "C" {
#endif

enum pl_failure {
    PL_FAILURE_NONE = 0,
    /* No authenticated ICE check arrived within the connect window (the
     * client's checks never reached the relay: wrong address, a firewall,
     * a client that never started; the controlling role: no answer). */
    PL_FAILURE_NO_CHECK,
    /* Checks arrived, but none nominated a pair (USE-CANDIDATE) in time. */
    PL_FAILURE_NO_NOMINATION,
    /* ICE selected a pair but the DTLS handshake did not complete in time. */
    PL_FAILURE_DTLS_TIMEOUT,
    /* The peer's certificate does not match its SDP a=fingerprint. */
    PL_FAILURE_FINGERPRINT,
    /* DTLS completed without a DTLS-SRTP profile both sides support. */
    PL_FAILURE_SRTP_PROFILE,
    /* The handshake failed, or a fatal DTLS alert arrived. */
    PL_FAILURE_DTLS_ALERT,
    /* Connected, then nothing authenticated from the selected address for
     * the consent period (RFC 7675). */
    PL_FAILURE_CONSENT,
    /* The transport could not be set up (credentials, fingerprint, keys). */
    PL_FAILURE_SETUP,
    PL_FAILURE_COUNT
};

/* A short token ("no_check", "dtls_timeout", ...) for counters and logs;
 * "unknown" for a value out of range. */
const char *pl_failure_name(enum pl_failure f);
/* What it means, in words, for logs. */
const char *pl_failure_text(enum pl_failure f);

#ifdef __cplusplus
}
#endif
#endif
