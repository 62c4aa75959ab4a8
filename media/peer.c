#include "parley/peer.h"

#include <string.h>

#include "parley/demux.h"
#include "parley/ice.h"
#include "parley/srtp.h"

#define EVENT_SLOTS 16
#define SCRATCH_SIZE 1500

struct pl_peer {
    pl_env env;
    enum pl_peer_role role;
    enum pl_peer_state state;
    enum pl_failure failure;
    enum pl_srtp_profile profile;
    bool dtls_active;
    pl_ice *ice;
    pl_dtls *dtls;
    pl_srtp *srtp;
    bool started;
    bool dtls_started;
    bool dtls_settled; /* pl_dtls_settle done: not asked again per packet */
    /* Selected ICE address as last reported, to notice moves. */
    bool has_selected;
    pl_addr selected;
    /* What every packet out touches (state, srtp, selected, stats) stays
     * in neighbouring cache lines, ahead of the rest. */
    pl_peer_stats stats;
    /* Where DTLS records go: the last validated address DTLS came from
     * (the passive side answers whoever is handshaking), else ICE's pick. */
    bool has_dtls_addr;
    pl_addr dtls_addr;
    pl_peer_output events[EVENT_SLOTS];
    size_t ev_head, ev_count;
    uint8_t scratch[SCRATCH_SIZE];
};

static pl_peer_output *push_event(pl_peer *p, enum pl_peer_output_kind kind, const pl_addr *addr,
                                  const uint8_t *data, size_t len, int error)
{
    if (p->ev_count == EVENT_SLOTS) {
        p->stats.dropped_queue_full++;
        return NULL;
    }
    pl_peer_output *o = &p->events[(p->ev_head + p->ev_count++) % EVENT_SLOTS];
    memset(o, 0, sizeof(*o));
    o->kind = kind;
    if (addr)
        o->addr = *addr;
    o->data = data;
    o->len = len;
    o->error = error;
    return o;
}

pl_peer *pl_peer_create(const pl_env *env, const pl_peer_config *cfg)
{
    if (!cfg->cert)
        return NULL;
    pl_peer *p = pl_env_alloc(env, sizeof(*p));
    if (!p)
        return NULL;
    p->env = *env;
    p->role = cfg->role;
    p->state = PL_PEER_NEW;
    bool server = cfg->role == PL_PEER_SERVER;
    p->dtls_active = cfg->dtls == PL_PEER_DTLS_DEFAULT ? !server : cfg->dtls == PL_PEER_DTLS_ACTIVE;
    pl_ice_config ic = {.role = server ? PL_ICE_LITE : PL_ICE_CONTROLLING,
                        .ufrag = cfg->local_ufrag,
                        .pwd = cfg->local_pwd,
                        .consent_timeout_us = cfg->consent_timeout_us};
    p->ice = pl_ice_create(env, &ic);
    p->dtls = pl_dtls_create(env, cfg->cert, p->dtls_active ? PL_DTLS_ACTIVE : PL_DTLS_PASSIVE, 0);
    if (!p->ice || !p->dtls ||
        (cfg->srtp_profiles &&
         pl_dtls_set_srtp_profiles(p->dtls, cfg->srtp_profiles, cfg->n_srtp_profiles) != PL_OK)) {
        pl_peer_destroy(p);
        return NULL;
    }
    return p;
}

void pl_peer_destroy(pl_peer *p)
{
    if (!p)
        return;
    pl_srtp_destroy(p->srtp);
    pl_dtls_destroy(p->dtls);
    pl_ice_destroy(p->ice);
    pl_env_free(&p->env, p);
}

const char *pl_peer_local_ufrag(const pl_peer *p)
{
    return pl_ice_local_ufrag(p->ice);
}

const char *pl_peer_local_pwd(const pl_peer *p)
{
    return pl_ice_local_pwd(p->ice);
}

int pl_peer_set_remote(pl_peer *p, const char *ufrag, const char *pwd, const char *fingerprint_alg,
                       const char *fingerprint)
{
    int rc = pl_ice_set_remote(p->ice, ufrag, pwd);
    if (rc == PL_OK)
        rc = pl_dtls_set_remote_fingerprint(p->dtls, fingerprint_alg, fingerprint);
    return rc;
}

int pl_peer_restart_ice(pl_peer *p, int64_t now_us, const char *local_ufrag, const char *local_pwd,
                        const char *remote_ufrag, const char *remote_pwd)
{
    if (p->state == PL_PEER_FAILED || p->state == PL_PEER_CLOSED)
        return PL_ESTATE;
    return pl_ice_restart(p->ice, now_us, local_ufrag, local_pwd, remote_ufrag, remote_pwd);
}

int pl_peer_add_remote_candidate(pl_peer *p, const pl_addr *addr)
{
    return pl_ice_add_remote_candidate(p->ice, addr);
}

static void fail(pl_peer *p, int error, enum pl_failure why)
{
    if (p->state == PL_PEER_FAILED || p->state == PL_PEER_CLOSED)
        return;
    p->state = PL_PEER_FAILED;
    p->failure = why;
    pl_peer_output *o = push_event(p, PL_PEER_OUT_FAILED, NULL, NULL, 0, error);
    if (o)
        o->failure = why;
}

static enum pl_failure ice_failure(const pl_ice *ice)
{
    switch (pl_ice_failure(ice)) {
    case PL_ICE_FAIL_NO_NOMINATION:
        return PL_FAILURE_NO_NOMINATION;
    case PL_ICE_FAIL_CONSENT:
        return PL_FAILURE_CONSENT;
    default:
        return PL_FAILURE_NO_CHECK;
    }
}

/* pl_dtls_error's codes, as dtls.h lists them. */
static enum pl_failure dtls_failure(int error)
{
    switch (error) {
    case PL_EAUTH:
        return PL_FAILURE_FINGERPRINT;
    case PL_EUNSUPPORTED:
        return PL_FAILURE_SRTP_PROFILE;
    case PL_ESTATE:
        return PL_FAILURE_DTLS_TIMEOUT;
    default:
        return PL_FAILURE_DTLS_ALERT;
    }
}

/* Moves the composite state forward after any input: ICE selection starts
 * the active DTLS side, DTLS completion keys SRTP, failures propagate. */
static void update(pl_peer *p, int64_t now)
{
    if (p->state == PL_PEER_FAILED || p->state == PL_PEER_CLOSED)
        return;
    /* ICE first: when nothing arrived, the handshake that never started
     * times out at the same moment, and the first cause is the one to tell. */
    if (pl_ice_state(p->ice) == PL_ICE_FAILED) {
        fail(p, PL_ESTATE, ice_failure(p->ice));
        return;
    }
    pl_addr sel;
    if (pl_ice_selected(p->ice, &sel)) {
        bool moved = p->has_selected && !pl_addr_equal(&p->selected, &sel);
        p->selected = sel;
        p->has_selected = true;
        if (moved) {
            /* The client's network changed: DTLS and media follow ICE. */
            p->dtls_addr = sel;
            push_event(p, PL_PEER_OUT_ADDRESS, &sel, NULL, 0, 0);
        }
        if (!p->has_dtls_addr) {
            p->dtls_addr = sel;
            p->has_dtls_addr = true;
        }
    }
    if (!p->dtls_started && p->dtls_active && p->has_selected) {
        p->dtls_started = pl_dtls_start(p->dtls, now) == PL_OK;
    }
    switch (pl_dtls_state(p->dtls)) {
    case PL_DTLS_FAILED:
        fail(p, pl_dtls_error(p->dtls), dtls_failure(pl_dtls_error(p->dtls)));
        return;
    case PL_DTLS_CLOSED:
        p->state = PL_PEER_CLOSED;
        push_event(p, PL_PEER_OUT_CLOSED, NULL, NULL, 0, 0);
        return;
    case PL_DTLS_CONNECTED:
        if (!p->srtp) {
            pl_srtp_keys k = {0};
            if (pl_dtls_srtp_keys(p->dtls, &k) == PL_OK)
                p->srtp = pl_srtp_create(&p->env, &k);
            p->profile = k.profile;
            memset(&k, 0, sizeof(k));
            if (!p->srtp) {
                fail(p, PL_ECRYPTO, PL_FAILURE_SETUP);
                return;
            }
        }
        break;
    default:
        break;
    }
    if (p->state == PL_PEER_CONNECTING && p->srtp && p->has_selected) {
        p->state = PL_PEER_CONNECTED;
        push_event(p, PL_PEER_OUT_CONNECTED, &p->selected, NULL, 0, 0);
    }
}

int pl_peer_start(pl_peer *p, int64_t now_us)
{
    if (p->started)
        return PL_ESTATE;
    int rc = pl_ice_start(p->ice, now_us);
    if (rc != PL_OK)
        return rc;
    if (!p->dtls_active) {
        rc = pl_dtls_start(p->dtls, now_us);
        if (rc != PL_OK)
            return rc;
        p->dtls_started = true;
    }
    p->started = true;
    p->state = PL_PEER_CONNECTING;
    update(p, now_us);
    return PL_OK;
}

static int handle_dtls(pl_peer *p, int64_t now, const pl_addr *from, const uint8_t *data,
                       size_t len)
{
    /* Only an address that proved the ICE password may handshake, so a
     * stranger cannot make us do expensive crypto or steal the session. */
    if (!pl_ice_is_validated(p->ice, from)) {
        p->stats.dropped_unverified++;
        return PL_EAUTH;
    }
    if (!p->dtls_started) {
        p->stats.dropped_dtls++;
        return PL_ESTATE;
    }
    p->dtls_addr = *from;
    p->has_dtls_addr = true;
    int rc = pl_dtls_handle_datagram(p->dtls, now, data, len);
    if (rc < 0 && rc != PL_EAUTH)
        p->stats.dropped_dtls++;
    return rc;
}

static int handle_media(pl_peer *p, int64_t now, bool rtcp, const pl_addr *from, uint8_t *data,
                        size_t len)
{
    if (!pl_ice_is_validated(p->ice, from)) {
        p->stats.dropped_unverified++;
        return PL_EAUTH;
    }
    if (!p->srtp || p->state != PL_PEER_CONNECTED) {
        p->stats.dropped_before_keys++;
        return PL_ESTATE;
    }
    size_t n = len;
    int rc =
        rtcp ? pl_srtp_unprotect_rtcp(p->srtp, data, &n) : pl_srtp_unprotect_rtp(p->srtp, data, &n);
    if (rc == PL_EREPLAY) {
        p->stats.dropped_srtp_replay++;
        return rc;
    }
    if (rc != PL_OK) {
        p->stats.dropped_srtp_auth++;
        return rc;
    }
    /* Authenticated media is the client's sign of life to a lite agent;
     * and its sign that its handshake is over too, so no DTLS flight will
     * be asked for again (pl_dtls_settle). */
    pl_ice_note_traffic(p->ice, now, from);
    if (!p->dtls_settled) {
        pl_dtls_settle(p->dtls);
        p->dtls_settled = true;
    }
    if (rtcp)
        p->stats.rtcp_in++;
    else
        p->stats.rtp_in++;
    push_event(p, rtcp ? PL_PEER_OUT_RTCP : PL_PEER_OUT_RTP, from, data, n, 0);
    return PL_OK;
}

int pl_peer_handle_datagram(pl_peer *p, int64_t now_us, const pl_addr *from, uint8_t *data,
                            size_t len)
{
    p->stats.datagrams_in++;
    if (!p->started || p->state == PL_PEER_FAILED || p->state == PL_PEER_CLOSED) {
        p->stats.dropped_unknown++;
        return PL_ESTATE;
    }
    int rc;
    switch (pl_demux_classify(data, len)) {
    case PL_DEMUX_STUN:
        rc = pl_ice_handle_stun(p->ice, now_us, from, data, len);
        if (rc < 0)
            p->stats.dropped_stun++;
        break;
    case PL_DEMUX_DTLS:
        rc = handle_dtls(p, now_us, from, data, len);
        break;
    case PL_DEMUX_RTP:
        rc = handle_media(p, now_us, false, from, data, len);
        break;
    case PL_DEMUX_RTCP:
        rc = handle_media(p, now_us, true, from, data, len);
        break;
    default:
        p->stats.dropped_unknown++;
        rc = PL_EMALFORMED;
        break;
    }
    update(p, now_us);
    return rc;
}

void pl_peer_handle_timeout(pl_peer *p, int64_t now_us)
{
    if (!p->started || p->state == PL_PEER_FAILED || p->state == PL_PEER_CLOSED)
        return;
    pl_ice_handle_timeout(p->ice, now_us);
    pl_dtls_handle_timeout(p->dtls, now_us);
    update(p, now_us);
}

void pl_peer_path_closed(pl_peer *p, int64_t now_us, const pl_addr *addr)
{
    if (!p->started || p->state == PL_PEER_FAILED || p->state == PL_PEER_CLOSED)
        return;
    pl_ice_path_closed(p->ice, addr);
    update(p, now_us);
}

int64_t pl_peer_next_timeout(const pl_peer *p)
{
    if (!p->started || p->state == PL_PEER_FAILED || p->state == PL_PEER_CLOSED)
        return INT64_MAX;
    int64_t a = pl_ice_next_timeout(p->ice);
    int64_t b = pl_dtls_next_timeout(p->dtls);
    return a < b ? a : b;
}

int pl_peer_poll_output(pl_peer *p, pl_peer_output *out)
{
    if (p->ev_count > 0) {
        *out = p->events[p->ev_head];
        p->ev_head = (p->ev_head + 1) % EVENT_SLOTS;
        p->ev_count--;
        return PL_OK;
    }
    pl_addr to;
    int n = pl_ice_poll_transmit(p->ice, p->scratch, sizeof(p->scratch), &to);
    if (n > 0) {
        *out = (pl_peer_output){
            .kind = PL_PEER_OUT_TRANSMIT, .addr = to, .data = p->scratch, .len = (size_t)n};
        return PL_OK;
    }
    n = pl_dtls_poll_transmit(p->dtls, p->scratch, sizeof(p->scratch));
    if (n > 0) {
        if (!p->has_dtls_addr)
            return PL_EAGAIN; /* nowhere to send yet; cannot happen once started */
        *out = (pl_peer_output){.kind = PL_PEER_OUT_TRANSMIT,
                                .addr = p->dtls_addr,
                                .data = p->scratch,
                                .len = (size_t)n};
        return PL_OK;
    }
    return PL_EAGAIN;
}

static int protect(pl_peer *p, bool rtcp, uint8_t *pkt, size_t *len, size_t cap, pl_addr *to)
{
    if (p->state != PL_PEER_CONNECTED || !p->srtp)
        return PL_ESTATE;
    int rc = rtcp ? pl_srtp_protect_rtcp(p->srtp, pkt, len, cap)
                  : pl_srtp_protect_rtp(p->srtp, pkt, len, cap);
    if (rc != PL_OK)
        return rc;
    /* Only the bytes of the address in use (16 for IPv4 of a 128-byte
     * sockaddr_storage): this runs for every packet out. */
    size_t n = p->selected.len > 0 && p->selected.len <= sizeof(p->selected.ss)
                   ? p->selected.len
                   : sizeof(p->selected.ss);
    memcpy(&to->ss, &p->selected.ss, n);
    to->len = p->selected.len;
    to->tcp = p->selected.tcp;
    if (rtcp)
        p->stats.rtcp_out++;
    else
        p->stats.rtp_out++;
    return PL_OK;
}

int pl_peer_protect_rtp(pl_peer *p, uint8_t *pkt, size_t *len, size_t cap, pl_addr *to)
{
    return protect(p, false, pkt, len, cap, to);
}

int pl_peer_protect_rtcp(pl_peer *p, uint8_t *pkt, size_t *len, size_t cap, pl_addr *to)
{
    return protect(p, true, pkt, len, cap, to);
}

void pl_peer_close(pl_peer *p, int64_t now_us)
{
    if (p->state == PL_PEER_FAILED || p->state == PL_PEER_CLOSED)
        return;
    pl_dtls_close(p->dtls);
    update(p, now_us);
    if (p->state != PL_PEER_CLOSED) {
        p->state = PL_PEER_CLOSED;
        push_event(p, PL_PEER_OUT_CLOSED, NULL, NULL, 0, 0);
    }
}

enum pl_peer_state pl_peer_state(const pl_peer *p)
{
    return p->state;
}

enum pl_failure pl_peer_failure(const pl_peer *p)
{
    return p->failure;
}

enum pl_srtp_profile pl_peer_srtp_profile(const pl_peer *p)
{
    return p->srtp ? p->profile : PL_SRTP_NONE;
}

const pl_peer_stats *pl_peer_stats_get(const pl_peer *p)
{
    return &p->stats;
}
