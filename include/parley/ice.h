/* ICE for one transport with one component (BUNDLE + rtcp-mux):
 * - PL_ICE_LITE: the relay's side (RFC 8445 lite agent, always controlled).
 *   Answers authenticated Binding requests, follows USE-CANDIDATE to select
 *   (and re-select, when a client's network changes) the remote address,
 *   and fails when consent lapses (RFC 7675). A lite agent sends no checks
 *   of its own, so it cannot ask for consent: it takes the client's word.
 *   Whatever the client sends from the selected address counts: Binding
 *   requests, Binding indications (libnice keeps a pair alive with those
 *   alone), and SRTP or SRTCP that authenticated (pl_ice_note_traffic).
 *   Only silence ends the transport.
 * - PL_ICE_CONTROLLING: the native client's side. Sends checks with
 *   USE-CANDIDATE to the server's candidates, retransmits on the caller's
 *   clock, and keeps consent fresh once connected.
 * Sans-IO: feed STUN with handle_stun, drain poll_transmit, drive timers
 * with handle_timeout at next_timeout. */
#ifndef PARLEY_ICE_H
#define PARLEY_ICE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "parley/common.h"

#ifdef __cplusplus
extern "C" {
#endif

#define PL_ICE_UFRAG_MAX 64
#define PL_ICE_PWD_MAX 128
#define PL_ICE_MAX_CANDIDATES 8

typedef struct pl_ice pl_ice;

enum pl_ice_role { PL_ICE_LITE, PL_ICE_CONTROLLING };

enum pl_ice_state {
    PL_ICE_NEW,
    PL_ICE_CHECKING,
    PL_ICE_CONNECTED,
    PL_ICE_FAILED,
};

/* Why the agent failed. */
enum pl_ice_failure {
    PL_ICE_FAIL_NONE,
    /* Connect timeout with no authenticated check received (lite), or no
     * check answered (controlling). */
    PL_ICE_FAIL_NO_CHECK,
    /* Lite: authenticated checks arrived, none nominated. */
    PL_ICE_FAIL_NO_NOMINATION,
    /* Connected, then no consent for the consent period. */
    PL_ICE_FAIL_CONSENT,
};

typedef struct pl_ice_config {
    enum pl_ice_role role;
    /* Local credentials; random ones (8-char ufrag, 24-char pwd) when NULL. */
    const char *ufrag;
    const char *pwd;
    /* Defaults when 0: consent 30 s (RFC 7675), connect 30 s, keepalive 5 s. */
    int64_t consent_timeout_us;
    int64_t connect_timeout_us;
    int64_t keepalive_us;
} pl_ice_config;

typedef struct pl_ice_stats {
    uint64_t requests_ok;       /* authenticated requests answered */
    uint64_t rejected_auth;     /* wrong password: 401 sent */
    uint64_t rejected_bad;      /* no USERNAME / MESSAGE-INTEGRITY: 400 sent */
    uint64_t dropped_ufrag;     /* USERNAME for another transport: dropped */
    uint64_t role_conflicts;    /* 487 sent */
    uint64_t responses_ok;      /* client: authenticated responses */
    uint64_t responses_dropped; /* unknown transaction, bad integrity, wrong source */
    uint64_t retransmits;       /* client: check retransmissions */
    uint64_t transmit_dropped;  /* output queue full */
    uint64_t selections;        /* times the selected address was set or moved */
    uint64_t indications;       /* Binding indications (keepalives) received */
} pl_ice_stats;

pl_ice *pl_ice_create(const pl_env *env, const pl_ice_config *cfg);
void pl_ice_destroy(pl_ice *ice);

const char *pl_ice_local_ufrag(const pl_ice *ice);
const char *pl_ice_local_pwd(const pl_ice *ice);
/* The remote side's credentials, from its SDP. */
int pl_ice_set_remote(pl_ice *ice, const char *ufrag, const char *pwd);
/* ICE restart (RFC 8445 9) on the lite side: both sides' credentials
 * change, checks with the old ones are no longer answered, and the pair in
 * use keeps carrying media until a check with the new credentials
 * nominates a pair. The restart, asked for over signaling, counts as
 * consent at `now_us`: checks with the new credentials get a full consent
 * period to arrive. DTLS and SRTP are untouched. PL_EUNSUPPORTED in the
 * controlling role, PL_ESTATE once failed. */
int pl_ice_restart(pl_ice *ice, int64_t now_us, const char *local_ufrag, const char *local_pwd,
                   const char *remote_ufrag, const char *remote_pwd);
/* Controlling role: a remote candidate to check (at most PL_ICE_MAX_CANDIDATES). */
int pl_ice_add_remote_candidate(pl_ice *ice, const pl_addr *addr);
/* Starts the connect timer, and the checks in the controlling role. */
int pl_ice_start(pl_ice *ice, int64_t now_us);

/* Handles one STUN datagram. 0 when it was accepted (a request answered,
 * a response matched); a negative code when it was dropped or rejected
 * (already counted in the stats). */
int pl_ice_handle_stun(pl_ice *ice, int64_t now_us, const pl_addr *from, const uint8_t *data,
                       size_t len);
/* Lite role: a datagram from `from` authenticated as the peer's (SRTP or
 * SRTCP that passed its auth tag). From the selected address it refreshes
 * consent; anything else changes nothing. */
void pl_ice_note_traffic(pl_ice *ice, int64_t now_us, const pl_addr *from);
/* Lite role: the path to `addr` is gone (the client's ICE-TCP connection
 * closed). It is no longer validated; when it was the selected path,
 * consent goes with it and the agent fails at once, as when consent
 * lapses: nothing can reach the client there any more. */
void pl_ice_path_closed(pl_ice *ice, const pl_addr *addr);
/* Next datagram to send: its length, with *to filled, or PL_EAGAIN. */
int pl_ice_poll_transmit(pl_ice *ice, uint8_t *out, size_t cap, pl_addr *to);
void pl_ice_handle_timeout(pl_ice *ice, int64_t now_us);
/* Absolute time handle_timeout wants to run, INT64_MAX if never. */
int64_t pl_ice_next_timeout(const pl_ice *ice);

enum pl_ice_state pl_ice_state(const pl_ice *ice);
/* Once failed, why; PL_ICE_FAIL_NONE before. */
enum pl_ice_failure pl_ice_failure(const pl_ice *ice);
/* The selected remote address; false while there is none. */
bool pl_ice_selected(const pl_ice *ice, pl_addr *out);
/* Whether `addr` has proven knowledge of the credentials (an authenticated
 * request, or a response to our check), so traffic from it is the peer's. */
bool pl_ice_is_validated(const pl_ice *ice, const pl_addr *addr);
const pl_ice_stats *pl_ice_stats_get(const pl_ice *ice);

#ifdef __cplusplus
}
#endif
#endif
