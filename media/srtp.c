#include "parley/srtp.h"

#include <pthread.h>
#include <string.h>

#include <srtp2/srtp.h>

/* Replay window in packets: wide enough for video bursts arriving out of
 * order on real networks (libsrtp's default is 128). */
#define REPLAY_WINDOW 1024

struct pl_srtp {
    pl_env env;
    srtp_t tx;
    srtp_t rx;
};

static pthread_once_t init_once = PTHREAD_ONCE_INIT;
static srtp_err_status_t init_status = srtp_err_status_fail;

static void init_libsrtp(void)
{
    init_status = srtp_init();
}

int pl_srtp_global_init(void)
{
    pthread_once(&init_once, init_libsrtp);
    return init_status == srtp_err_status_ok ? PL_OK : PL_ECRYPTO;
}

static srtp_t make_session(const pl_srtp_keys *k, bool outbound)
{
    uint8_t master[PL_SRTP_MAX_KEY + PL_SRTP_MAX_SALT];
    srtp_policy_t p;
    memset(&p, 0, sizeof(p));
    if (k->profile == PL_SRTP_AEAD_AES_128_GCM) {
        srtp_crypto_policy_set_aes_gcm_128_16_auth(&p.rtp);
        srtp_crypto_policy_set_aes_gcm_128_16_auth(&p.rtcp);
    } else if (k->profile == PL_SRTP_AES128_CM_SHA1_80) {
        srtp_crypto_policy_set_aes_cm_128_hmac_sha1_80(&p.rtp);
        srtp_crypto_policy_set_aes_cm_128_hmac_sha1_80(&p.rtcp);
    } else {
        return NULL;
    }
    const uint8_t *key = outbound ? k->local_key : k->remote_key;
    const uint8_t *salt = outbound ? k->local_salt : k->remote_salt;
    memcpy(master, key, k->key_len);
    memcpy(master + k->key_len, salt, k->salt_len);
    /* Any SSRC: streams come and go without re-keying. */
    p.ssrc.type = outbound ? ssrc_any_outbound : ssrc_any_inbound;
    p.key = master;
    p.window_size = REPLAY_WINDOW;
    /* The relay re-sends cached packets on NACK when RTX was not negotiated. */
    p.allow_repeat_tx = 1;
    srtp_t s = NULL;
    srtp_err_status_t st = srtp_create(&s, &p);
    memset(master, 0, sizeof(master));
    return st == srtp_err_status_ok ? s : NULL;
}

pl_srtp *pl_srtp_create(const pl_env *env, const pl_srtp_keys *keys)
{
    if (pl_srtp_global_init() != PL_OK)
        return NULL;
    pl_srtp *s = pl_env_alloc(env, sizeof(*s));
    if (!s)
        return NULL;
    s->env = *env;
    s->tx = make_session(keys, true);
    s->rx = make_session(keys, false);
    if (!s->tx || !s->rx) {
        pl_srtp_destroy(s);
        return NULL;
    }
    return s;
}

void pl_srtp_destroy(pl_srtp *s)
{
    if (!s)
        return;
    if (s->tx)
        srtp_dealloc(s->tx);
    if (s->rx)
        srtp_dealloc(s->rx);
    pl_env_free(&s->env, s);
}

static int map_error(srtp_err_status_t st)
{
    switch (st) {
    case srtp_err_status_ok:
        return PL_OK;
    case srtp_err_status_replay_fail:
    case srtp_err_status_replay_old:
        return PL_EREPLAY;
    case srtp_err_status_auth_fail:
    case srtp_err_status_cipher_fail:
        return PL_EAUTH;
    default:
        return PL_EMALFORMED;
    }
}

static int protect(srtp_t session, bool rtcp, uint8_t *pkt, size_t *len, size_t cap)
{
    size_t min = rtcp ? 8 : 12;
    if (*len < min || *len > 65535 || cap < *len + PL_SRTP_MAX_TRAILER)
        return *len < min ? PL_EINVAL : PL_ENOSPC;
    int n = (int)*len;
    srtp_err_status_t st =
        rtcp ? srtp_protect_rtcp(session, pkt, &n) : srtp_protect(session, pkt, &n);
    if (st != srtp_err_status_ok)
        return map_error(st);
    *len = (size_t)n;
    return PL_OK;
}

static int unprotect(srtp_t session, bool rtcp, uint8_t *pkt, size_t *len)
{
    /* libsrtp assumes a plausible header before it checks the tag. */
    size_t min = rtcp ? 8 + 4 + 10 : 12 + 10;
    if (*len < min || *len > 65535 || (pkt[0] & 0xc0) != 0x80)
        return PL_EMALFORMED;
    int n = (int)*len;
    srtp_err_status_t st =
        rtcp ? srtp_unprotect_rtcp(session, pkt, &n) : srtp_unprotect(session, pkt, &n);
    if (st != srtp_err_status_ok)
        return map_error(st);
    *len = (size_t)n;
    return PL_OK;
}

int pl_srtp_protect_rtp(pl_srtp *s, uint8_t *pkt, size_t *len, size_t cap)
{
    return protect(s->tx, false, pkt, len, cap);
}

int pl_srtp_protect_rtcp(pl_srtp *s, uint8_t *pkt, size_t *len, size_t cap)
{
    return protect(s->tx, true, pkt, len, cap);
}

int pl_srtp_unprotect_rtp(pl_srtp *s, uint8_t *pkt, size_t *len)
{
    return unprotect(s->rx, false, pkt, len);
}

int pl_srtp_unprotect_rtcp(pl_srtp *s, uint8_t *pkt, size_t *len)
{
    return unprotect(s->rx, true, pkt, len);
}
