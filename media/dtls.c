#include "parley/dtls.h"

#include "parley/buf.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <openssl/bio.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#define SEC 1000000LL
#define TX_SLOTS 32
#define TX_SLOT_SIZE 1500
#define DEFAULT_MTU 1200
#define HANDSHAKE_TIMEOUT_US (30 * SEC)
/* First retransmission after 400 ms instead of OpenSSL's 1 s: a lost
 * flight otherwise costs a whole second of call setup. */
#define INITIAL_RTO_US 400000u
#define MAX_RTO_US 4000000u
#define FINGERPRINT_MAX (EVP_MAX_MD_SIZE * 3)

struct pl_dtls_cert {
    pl_env env;
    SSL_CTX *ctx;
    char fingerprint[FINGERPRINT_MAX];
};

typedef struct tx_slot {
    size_t len;
    uint8_t data[TX_SLOT_SIZE];
} tx_slot;

struct pl_dtls {
    pl_env env;
    enum pl_dtls_role role;
    enum pl_dtls_state state;
    int error;
    SSL *ssl;
    BIO *rbio; /* memory BIO: one datagram at a time */
    BIO *wbio; /* our datagram BIO: one record write = one queued datagram */
    BIO_METHOD *wmethod;
    size_t mtu;
    int64_t now;
    int64_t started_at;
    char remote_alg[16];
    char remote_fp[FINGERPRINT_MAX];
    pl_srtp_keys keys;
    /* Records waiting to go out: allocated while there are some (the
     * handshake, an alert), so that a connected transport does not keep
     * 48 KB for them. */
    tx_slot *tx;
    size_t tx_head, tx_count;
    uint64_t tx_dropped;
    bool settled; /* pl_dtls_settle: ssl (and its BIOs) freed */
};

/* ---- certificate ---------------------------------------------------- */

static void format_fingerprint(const unsigned char *md, unsigned n, char *out, size_t cap)
{
    size_t pos = 0;
    out[0] = '\0';
    for (unsigned i = 0; i < n && pos + 3 < cap; i++)
        pos += (size_t)snprintf(out + pos, cap - pos, i ? ":%02X" : "%02X", md[i]);
}

/* WebRTC peers authenticate each other by the fingerprint in the SDP, not by
 * a CA chain, so any self-signed certificate is acceptable here; the digest
 * is checked once the handshake completes. */
static int accept_any_certificate(int preverify, X509_STORE_CTX *store)
{
    (void)preverify;
    (void)store;
    return 1;
}

static X509 *make_certificate(const pl_env *env, EVP_PKEY *key)
{
    X509 *x = X509_new();
    X509_NAME *name = X509_NAME_new();
    BIGNUM *serial = BN_new();
    uint8_t rnd[8] = {0};
    bool ok = x && name && serial;
    ok = ok && pl_env_random(env, rnd, sizeof(rnd)) == PL_OK;
    rnd[0] &= 0x7f; /* positive serial */
    ok = ok && BN_bin2bn(rnd, sizeof(rnd), serial) &&
         BN_to_ASN1_INTEGER(serial, X509_get_serialNumber(x));
    ok = ok && X509_set_version(x, 2);
    /* Browsers reject certificates outside their validity, and clocks drift:
     * start a day early, last a month (each process makes its own). */
    ok = ok && X509_gmtime_adj(X509_getm_notBefore(x), -86400L) &&
         X509_gmtime_adj(X509_getm_notAfter(x), 30L * 86400L);
    ok = ok && X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)"parley",
                                          -1, -1, 0);
    ok = ok && X509_set_subject_name(x, name) && X509_set_issuer_name(x, name);
    ok = ok && X509_set_pubkey(x, key) && X509_sign(x, key, EVP_sha256()) > 0;
    X509_NAME_free(name);
    BN_free(serial);
    if (!ok) {
        X509_free(x);
        return NULL;
    }
    return x;
}

pl_dtls_cert *pl_dtls_cert_create(const pl_env *env)
{
    pl_dtls_cert *c = pl_env_alloc(env, sizeof(*c));
    if (!c)
        return NULL;
    c->env = *env;
    EVP_PKEY *key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    X509 *x = key ? make_certificate(env, key) : NULL;
    SSL_CTX *ctx = x ? SSL_CTX_new(DTLS_method()) : NULL;
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned n = 0;
    bool ok =
        ctx && SSL_CTX_use_certificate(ctx, x) == 1 && SSL_CTX_use_PrivateKey(ctx, key) == 1 &&
        SSL_CTX_check_private_key(ctx) == 1 &&
        SSL_CTX_set_min_proto_version(ctx, DTLS1_2_VERSION) == 1 &&
        SSL_CTX_set_max_proto_version(ctx, DTLS1_2_VERSION) == 1 &&
        SSL_CTX_set_cipher_list(ctx, "ECDHE-ECDSA-AES128-GCM-SHA256:"
                                     "ECDHE-ECDSA-AES256-GCM-SHA384:"
                                     "ECDHE-ECDSA-CHACHA20-POLY1305:"
                                     "ECDHE-ECDSA-AES128-SHA:ECDHE-ECDSA-AES256-SHA") == 1 &&
        /* Returns 0 on success, unlike nearly everything else. */
        SSL_CTX_set_tlsext_use_srtp(ctx, "SRTP_AEAD_AES_128_GCM:SRTP_AES128_CM_SHA1_80") == 0 &&
        X509_digest(x, EVP_sha256(), md, &n) == 1;
    if (ok) {
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT,
                           accept_any_certificate);
        SSL_CTX_set_read_ahead(ctx, 1);
        SSL_CTX_set_options(ctx, SSL_OP_NO_QUERY_MTU | SSL_OP_NO_TICKET);
        /* A connected transport reads a DTLS record now and then (an
         * alert) and writes next to none: no 16 KB record buffers held
         * for that between records, and none sized beyond a datagram. */
        SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
        SSL_CTX_set_max_send_fragment(ctx, 1200);
        format_fingerprint(md, n, c->fingerprint, sizeof(c->fingerprint));
        c->ctx = ctx;
    } else {
        SSL_CTX_free(ctx);
    }
    X509_free(x);
    EVP_PKEY_free(key);
    if (!ok) {
        pl_env_free(env, c);
        return NULL;
    }
    return c;
}

void pl_dtls_cert_destroy(pl_dtls_cert *cert)
{
    if (!cert)
        return;
    SSL_CTX_free(cert->ctx);
    pl_env_free(&cert->env, cert);
}

const char *pl_dtls_cert_fingerprint(const pl_dtls_cert *cert)
{
    return cert->fingerprint;
}

/* ---- datagram BIO ----------------------------------------------------- */

/* OpenSSL writes one record per BIO_write; keeping each as its own
 * datagram preserves DTLS framing without a datagram-aware memory BIO. */
static int wbio_write(BIO *b, const char *data, int len)
{
    pl_dtls *d = BIO_get_data(b);
    if (len <= 0)
        return 0;
    if (!d->tx)
        d->tx = pl_env_alloc(&d->env, TX_SLOTS * sizeof(tx_slot));
    if (!d->tx || d->tx_count == TX_SLOTS || (size_t)len > TX_SLOT_SIZE) {
        d->tx_dropped++;
        return len; /* a dropped datagram is a lost datagram: DTLS recovers */
    }
    tx_slot *s = &d->tx[(d->tx_head + d->tx_count++) % TX_SLOTS];
    memcpy(s->data, data, (size_t)len);
    s->len = (size_t)len;
    return len;
}

static long wbio_ctrl(BIO *b, int cmd, long num, void *ptr)
{
    (void)num;
    (void)ptr;
    pl_dtls *d = BIO_get_data(b);
    switch (cmd) {
    case BIO_CTRL_FLUSH:
        return 1;
    case BIO_CTRL_DGRAM_QUERY_MTU:
    case BIO_CTRL_DGRAM_GET_FALLBACK_MTU:
        return (long)d->mtu;
    default:
        /* Nothing is ever pending: every write became a datagram. */
        return 0;
    }
}

static int wbio_create(BIO *b)
{
    BIO_set_init(b, 1);
    return 1;
}

/* ---- association ------------------------------------------------------ */

/* OpenSSL asks for the next retransmission interval here (it keeps the
 * deadline itself); doubling from INITIAL_RTO_US mirrors RFC 6347 4.2.4.1
 * with a faster first retry. */
static unsigned int timer_cb(SSL *ssl, unsigned int previous_us)
{
    (void)ssl;
    if (previous_us == 0)
        return INITIAL_RTO_US;
    return previous_us * 2 > MAX_RTO_US ? MAX_RTO_US : previous_us * 2;
}

pl_dtls *pl_dtls_create(const pl_env *env, const pl_dtls_cert *cert, enum pl_dtls_role role,
                        size_t mtu)
{
    pl_dtls *d = pl_env_alloc(env, sizeof(*d));
    if (!d)
        return NULL;
    d->env = *env;
    d->role = role;
    d->state = PL_DTLS_NEW;
    d->mtu = mtu ? mtu : DEFAULT_MTU;
    d->ssl = SSL_new(cert->ctx);
    d->rbio = BIO_new(BIO_s_mem());
    d->wmethod = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "parley dtls datagrams");
    if (!d->ssl || !d->rbio || !d->wmethod) {
        BIO_free(d->rbio);
        d->rbio = NULL;
        pl_dtls_destroy(d);
        return NULL;
    }
    BIO_meth_set_write(d->wmethod, wbio_write);
    BIO_meth_set_ctrl(d->wmethod, wbio_ctrl);
    BIO_meth_set_create(d->wmethod, wbio_create);
    d->wbio = BIO_new(d->wmethod);
    if (!d->wbio) {
        BIO_free(d->rbio);
        d->rbio = NULL;
        pl_dtls_destroy(d);
        return NULL;
    }
    BIO_set_data(d->wbio, d);
    BIO_set_mem_eof_return(d->rbio, -1);
    SSL_set_bio(d->ssl, d->rbio, d->wbio); /* the SSL owns both from here */
    SSL_set_mtu(d->ssl, (long)d->mtu);
    DTLS_set_link_mtu(d->ssl, (long)d->mtu);
    DTLS_set_timer_cb(d->ssl, timer_cb);
    if (role == PL_DTLS_PASSIVE)
        SSL_set_accept_state(d->ssl);
    else
        SSL_set_connect_state(d->ssl);
    return d;
}

void pl_dtls_destroy(pl_dtls *d)
{
    if (!d)
        return;
    SSL_free(d->ssl);
    BIO_meth_free(d->wmethod);
    OPENSSL_cleanse(&d->keys, sizeof(d->keys));
    pl_env_free(&d->env, d->tx);
    pl_env_free(&d->env, d);
}

static const EVP_MD *digest_by_name(const char *alg)
{
    if (strcasecmp(alg, "sha-256") == 0)
        return EVP_sha256();
    if (strcasecmp(alg, "sha-1") == 0)
        return EVP_sha1();
    if (strcasecmp(alg, "sha-384") == 0)
        return EVP_sha384();
    if (strcasecmp(alg, "sha-512") == 0)
        return EVP_sha512();
    return NULL;
}

int pl_dtls_set_remote_fingerprint(pl_dtls *d, const char *alg, const char *hex)
{
    if (!digest_by_name(alg) || strlen(alg) >= sizeof(d->remote_alg) ||
        strlen(hex) >= sizeof(d->remote_fp) || strlen(hex) < 2)
        return PL_EINVAL;
    snprintf(d->remote_alg, sizeof(d->remote_alg), "%s", alg);
    snprintf(d->remote_fp, sizeof(d->remote_fp), "%s", hex);
    return PL_OK;
}

int pl_dtls_set_srtp_profiles(pl_dtls *d, const enum pl_srtp_profile *profiles, size_t n)
{
    if (d->state != PL_DTLS_NEW)
        return PL_ESTATE;
    if (n == 0)
        return PL_EINVAL;
    char list[128] = "";
    size_t len = 0;
    for (size_t i = 0; i < n; i++) {
        const char *name = profiles[i] == PL_SRTP_AEAD_AES_128_GCM    ? "SRTP_AEAD_AES_128_GCM"
                           : profiles[i] == PL_SRTP_AES128_CM_SHA1_80 ? "SRTP_AES128_CM_SHA1_80"
                                                                      : NULL;
        if (!name || len + strlen(name) + 2 > sizeof(list))
            return PL_EINVAL;
        len += (size_t)snprintf(list + len, sizeof(list) - len, "%s%s", i ? ":" : "", name);
    }
    /* Returns 0 on success, like its SSL_CTX twin. */
    return SSL_set_tlsext_use_srtp(d->ssl, list) == 0 ? PL_OK : PL_ECRYPTO;
}

static void fail(pl_dtls *d, int err)
{
    d->state = PL_DTLS_FAILED;
    d->error = err;
}

static int verify_peer(pl_dtls *d)
{
    const EVP_MD *md = digest_by_name(d->remote_alg);
    X509 *peer = SSL_get1_peer_certificate(d->ssl);
    if (!md || !peer) {
        X509_free(peer);
        return PL_EAUTH;
    }
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned n = 0;
    char hex[FINGERPRINT_MAX];
    int ok = X509_digest(peer, md, digest, &n);
    X509_free(peer);
    if (!ok)
        return PL_ECRYPTO;
    format_fingerprint(digest, n, hex, sizeof(hex));
    return strcasecmp(hex, d->remote_fp) == 0 ? PL_OK : PL_EAUTH;
}

static int export_keys(pl_dtls *d)
{
    const SRTP_PROTECTION_PROFILE *p = SSL_get_selected_srtp_profile(d->ssl);
    if (!p)
        return PL_EUNSUPPORTED; /* the peer did not offer use_srtp */
    pl_srtp_keys *k = &d->keys;
    if (p->id == SRTP_AEAD_AES_128_GCM) {
        k->profile = PL_SRTP_AEAD_AES_128_GCM;
        k->key_len = 16;
        k->salt_len = 12;
    } else if (p->id == SRTP_AES128_CM_SHA1_80) {
        k->profile = PL_SRTP_AES128_CM_SHA1_80;
        k->key_len = 16;
        k->salt_len = 14;
    } else {
        return PL_EUNSUPPORTED;
    }
    /* RFC 5764 4.2: client key | server key | client salt | server salt. */
    uint8_t m[2 * (PL_SRTP_MAX_KEY + PL_SRTP_MAX_SALT)];
    size_t total = 2 * (k->key_len + k->salt_len);
    static const char label[] = "EXTRACTOR-dtls_srtp";
    if (SSL_export_keying_material(d->ssl, m, total, label, sizeof(label) - 1, NULL, 0, 0) != 1)
        return PL_ECRYPTO;
    const uint8_t *ck = m, *sk = m + k->key_len, *cs = m + 2 * k->key_len,
                  *ss = m + 2 * k->key_len + k->salt_len;
    bool client = d->role == PL_DTLS_ACTIVE;
    memcpy(k->local_key, client ? ck : sk, k->key_len);
    memcpy(k->remote_key, client ? sk : ck, k->key_len);
    memcpy(k->local_salt, client ? cs : ss, k->salt_len);
    memcpy(k->remote_salt, client ? ss : cs, k->salt_len);
    OPENSSL_cleanse(m, sizeof(m));
    return PL_OK;
}

/* Runs the handshake (or, once connected, reads alerts) as far as the
 * buffered input allows. */
static void drive(pl_dtls *d)
{
    ERR_clear_error();
    if (d->state == PL_DTLS_CONNECTING) {
        int rc = SSL_do_handshake(d->ssl);
        if (rc == 1) {
            int v = verify_peer(d);
            if (v == PL_OK)
                v = export_keys(d);
            if (v != PL_OK) {
                /* Tell the peer rather than leave it retransmitting. */
                SSL_shutdown(d->ssl);
                fail(d, v);
                return;
            }
            d->state = PL_DTLS_CONNECTED;
        } else {
            int e = SSL_get_error(d->ssl, rc);
            if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE)
                fail(d, PL_ECRYPTO);
            return;
        }
    }
    if (d->state == PL_DTLS_CONNECTED) {
        /* WebRTC media never travels as DTLS application data; reading only
         * processes alerts and answers retransmitted Finished flights. */
        uint8_t sink[256];
        int rc;
        while ((rc = SSL_read(d->ssl, sink, sizeof(sink))) > 0) {
        }
        int e = SSL_get_error(d->ssl, rc);
        if (e == SSL_ERROR_ZERO_RETURN)
            d->state = PL_DTLS_CLOSED;
        else if (e == SSL_ERROR_SSL)
            fail(d, PL_ECRYPTO);
    }
}

int pl_dtls_start(pl_dtls *d, int64_t now_us)
{
    if (d->state != PL_DTLS_NEW)
        return PL_ESTATE;
    if (!d->remote_fp[0])
        return PL_ESTATE; /* never connect without something to verify */
    d->now = now_us;
    d->started_at = now_us;
    d->state = PL_DTLS_CONNECTING;
    if (d->role == PL_DTLS_ACTIVE)
        drive(d);
    return PL_OK;
}

/* OpenSSL silently discards records it cannot use; checking the framing
 * first lets the caller count garbage (RFC 6347 4.1: 13-byte headers, DTLS
 * versions, lengths that tile the datagram exactly). */
static bool well_framed(const uint8_t *data, size_t len)
{
    pl_rbuf r = pl_rbuf_make(data, len);
    while (pl_rbuf_left(&r) > 0) {
        uint8_t type = pl_rbuf_u8(&r);
        uint8_t major = pl_rbuf_u8(&r);
        pl_rbuf_skip(&r, 1 + 8); /* minor version, epoch, sequence number */
        uint16_t rlen = pl_rbuf_u16(&r);
        pl_rbuf_skip(&r, rlen);
        if (!pl_rbuf_ok(&r) || type < 20 || type > 25 || major != 0xfe || rlen == 0)
            return false;
    }
    return true;
}

int pl_dtls_handle_datagram(pl_dtls *d, int64_t now_us, const uint8_t *data, size_t len)
{
    d->now = now_us;
    if ((d->state != PL_DTLS_CONNECTING && d->state != PL_DTLS_CONNECTED) || d->settled)
        return PL_ESTATE;
    /* Shortest record header is 13 bytes; OpenSSL reads at most one packet. */
    if (len < 13 || len > 16384 || !well_framed(data, len))
        return PL_EMALFORMED;
    (void)BIO_reset(d->rbio);
    if (BIO_write(d->rbio, data, (int)len) != (int)len)
        return PL_ENOMEM;
    drive(d);
    (void)BIO_reset(d->rbio); /* nothing of a bad datagram lingers */
    return d->state == PL_DTLS_FAILED ? d->error : PL_OK;
}

int pl_dtls_poll_transmit(pl_dtls *d, uint8_t *out, size_t cap)
{
    if (d->tx_count == 0)
        return PL_EAGAIN;
    tx_slot *s = &d->tx[d->tx_head];
    if (s->len > cap)
        return PL_ENOSPC;
    memcpy(out, s->data, s->len);
    int len = (int)s->len;
    d->tx_head = (d->tx_head + 1) % TX_SLOTS;
    if (--d->tx_count == 0 && d->state != PL_DTLS_CONNECTING) {
        pl_env_free(&d->env, d->tx);
        d->tx = NULL;
        d->tx_head = 0;
    }
    return len;
}

void pl_dtls_handle_timeout(pl_dtls *d, int64_t now_us)
{
    d->now = now_us;
    if (d->state != PL_DTLS_CONNECTING)
        return;
    if (now_us - d->started_at >= HANDSHAKE_TIMEOUT_US) {
        fail(d, PL_ESTATE);
        return;
    }
    if (DTLSv1_handle_timeout(d->ssl) < 0)
        fail(d, PL_ECRYPTO);
}

int64_t pl_dtls_next_timeout(const pl_dtls *d)
{
    if (d->state != PL_DTLS_CONNECTING)
        return INT64_MAX;
    int64_t t = d->started_at + HANDSHAKE_TIMEOUT_US;
    struct timeval tv;
    /* OpenSSL keeps the retransmission deadline; it is relative to the last
     * time we called in, which is d->now on the caller's clock. */
    if (DTLSv1_get_timeout(d->ssl, &tv) == 1) {
        int64_t r = d->now + (int64_t)tv.tv_sec * SEC + tv.tv_usec;
        if (r < t)
            t = r;
    }
    return t;
}

void pl_dtls_close(pl_dtls *d)
{
    if ((d->state == PL_DTLS_CONNECTED || d->state == PL_DTLS_CONNECTING) && !d->settled)
        SSL_shutdown(d->ssl);
    if (d->state != PL_DTLS_FAILED)
        d->state = PL_DTLS_CLOSED;
}

void pl_dtls_settle(pl_dtls *d)
{
    if (d->state != PL_DTLS_CONNECTED || d->settled)
        return;
    SSL_free(d->ssl); /* and the BIOs it owns */
    d->ssl = NULL;
    d->rbio = d->wbio = NULL;
    d->settled = true;
    OPENSSL_cleanse(&d->keys, sizeof(d->keys)); /* in the SRTP contexts by now */
}

bool pl_dtls_settled(const pl_dtls *d)
{
    return d->settled;
}

enum pl_dtls_state pl_dtls_state(const pl_dtls *d)
{
    return d->state;
}

int pl_dtls_error(const pl_dtls *d)
{
    return d->error;
}

int pl_dtls_srtp_keys(const pl_dtls *d, pl_srtp_keys *out)
{
    if (d->state != PL_DTLS_CONNECTED || d->settled)
        return PL_ESTATE;
    *out = d->keys;
    return PL_OK;
}
