#include "parley/stun.h"

#include <arpa/inet.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <zlib.h>

#define FINGERPRINT_XOR 0x5354554eu
#define INTEGRITY_LEN 20

/* Message type bits interleave class and method (RFC 8489 figure 3). */
static uint16_t make_type(enum pl_stun_class cls, uint16_t method)
{
    return (uint16_t)((method & 0x000f) | ((method & 0x0070) << 1) | ((method & 0x0f80) << 2) |
                      ((cls & 1) << 4) | ((cls & 2) << 7));
}

static void split_type(uint16_t type, enum pl_stun_class *cls, uint16_t *method)
{
    *cls = (enum pl_stun_class)(((type >> 4) & 1) | ((type >> 7) & 2));
    *method = (uint16_t)((type & 0x000f) | ((type >> 1) & 0x0070) | ((type >> 2) & 0x0f80));
}

bool pl_stun_is_stun(const uint8_t *data, size_t len)
{
    if (len < PL_STUN_HEADER || len > PL_STUN_MAX || (data[0] & 0xc0) != 0)
        return false;
    pl_rbuf r = pl_rbuf_make(data, len);
    pl_rbuf_u16(&r);
    uint16_t mlen = pl_rbuf_u16(&r);
    uint32_t cookie = pl_rbuf_u32(&r);
    return cookie == PL_STUN_MAGIC && (mlen & 3) == 0 && (size_t)mlen + PL_STUN_HEADER == len;
}

static uint32_t fingerprint_of(const uint8_t *data, size_t len)
{
    return (uint32_t)crc32(crc32(0L, Z_NULL, 0), data, (uInt)len) ^ FINGERPRINT_XOR;
}

static int decode_address(pl_rbuf *v, const uint8_t tid[12], bool xored, pl_addr *out)
{
    pl_rbuf_u8(v);
    uint8_t family = pl_rbuf_u8(v);
    uint16_t port = pl_rbuf_u16(v);
    memset(out, 0, sizeof(*out));
    if (xored)
        port ^= (uint16_t)(PL_STUN_MAGIC >> 16);
    if (family == 0x01) {
        struct sockaddr_in *a = (struct sockaddr_in *)&out->ss;
        uint32_t ip = pl_rbuf_u32(v);
        if (xored)
            ip ^= PL_STUN_MAGIC;
        a->sin_family = AF_INET;
        a->sin_port = htons(port);
        a->sin_addr.s_addr = htonl(ip);
        out->len = sizeof(*a);
    } else if (family == 0x02) {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)&out->ss;
        uint8_t ip[16];
        if (!pl_rbuf_copy(v, ip, sizeof(ip)))
            return PL_EMALFORMED;
        if (xored) {
            uint8_t pad[16];
            pl_put_u32(pad, PL_STUN_MAGIC);
            memcpy(pad + 4, tid, 12);
            for (int i = 0; i < 16; i++)
                ip[i] ^= pad[i];
        }
        a->sin6_family = AF_INET6;
        a->sin6_port = htons(port);
        memcpy(&a->sin6_addr, ip, sizeof(ip));
        out->len = sizeof(*a);
    } else {
        return PL_EMALFORMED;
    }
    return pl_rbuf_ok(v) && pl_rbuf_left(v) == 0 ? PL_OK : PL_EMALFORMED;
}

static int decode_attribute(pl_stun_msg *m, uint16_t type, pl_rbuf v)
{
    size_t len = pl_rbuf_left(&v);
    switch (type) {
    case PL_STUN_ATTR_USERNAME:
        if (len > 513)
            return PL_EMALFORMED;
        m->username = pl_rbuf_cur(&v);
        m->username_len = len;
        return PL_OK;
    case PL_STUN_ATTR_REALM:
        m->realm = pl_rbuf_cur(&v);
        m->realm_len = len;
        return PL_OK;
    case PL_STUN_ATTR_NONCE:
        m->nonce = pl_rbuf_cur(&v);
        m->nonce_len = len;
        return PL_OK;
    case PL_STUN_ATTR_SOFTWARE:
        m->software = pl_rbuf_cur(&v);
        m->software_len = len;
        return PL_OK;
    case PL_STUN_ATTR_XOR_MAPPED_ADDRESS:
        m->has_xor_mapped = true;
        return decode_address(&v, m->tid, true, &m->xor_mapped);
    case PL_STUN_ATTR_MAPPED_ADDRESS:
        m->has_mapped = true;
        return decode_address(&v, m->tid, false, &m->mapped);
    case PL_STUN_ATTR_PRIORITY:
        if (len != 4)
            return PL_EMALFORMED;
        m->has_priority = true;
        m->priority = pl_rbuf_u32(&v);
        return PL_OK;
    case PL_STUN_ATTR_USE_CANDIDATE:
        if (len != 0)
            return PL_EMALFORMED;
        m->use_candidate = true;
        return PL_OK;
    case PL_STUN_ATTR_ICE_CONTROLLING:
    case PL_STUN_ATTR_ICE_CONTROLLED:
        if (len != 8)
            return PL_EMALFORMED;
        if (type == PL_STUN_ATTR_ICE_CONTROLLING) {
            m->has_controlling = true;
            m->controlling = pl_rbuf_u64(&v);
        } else {
            m->has_controlled = true;
            m->controlled = pl_rbuf_u64(&v);
        }
        return PL_OK;
    case PL_STUN_ATTR_ERROR_CODE: {
        if (len < 4 || len > 4 + 763)
            return PL_EMALFORMED;
        pl_rbuf_u16(&v);
        uint8_t cls = pl_rbuf_u8(&v) & 0x07;
        uint8_t num = pl_rbuf_u8(&v);
        if (cls < 3 || cls > 6 || num > 99)
            return PL_EMALFORMED;
        m->has_error = true;
        m->error_code = (uint16_t)(cls * 100 + num);
        m->error_reason = pl_rbuf_cur(&v);
        m->error_reason_len = pl_rbuf_left(&v);
        return PL_OK;
    }
    default:
        /* 0x0000-0x7FFF are comprehension-required (RFC 8489 14). */
        if (type < 0x8000 && m->n_unknown < PL_STUN_MAX_UNKNOWN)
            m->unknown[m->n_unknown++] = type;
        return PL_OK;
    }
}

int pl_stun_decode(pl_stun_msg *m, const uint8_t *data, size_t len)
{
    memset(m, 0, sizeof(*m));
    if (!pl_stun_is_stun(data, len))
        return PL_EMALFORMED;
    pl_rbuf r = pl_rbuf_make(data, len);
    split_type(pl_rbuf_u16(&r), &m->cls, &m->method);
    pl_rbuf_skip(&r, 6);
    pl_rbuf_copy(&r, m->tid, sizeof(m->tid));
    m->raw = data;
    m->raw_len = len;

    while (pl_rbuf_left(&r) > 0) {
        size_t at = r.pos;
        uint16_t type = pl_rbuf_u16(&r);
        uint16_t alen = pl_rbuf_u16(&r);
        pl_rbuf v = pl_rbuf_sub(&r, alen);
        pl_rbuf_skip(&r, (4 - (alen & 3)) & 3);
        if (!pl_rbuf_ok(&r) || !pl_rbuf_ok(&v))
            return PL_EMALFORMED;
        if (m->has_fingerprint)
            return PL_EMALFORMED; /* FINGERPRINT must be last */
        if (type == PL_STUN_ATTR_FINGERPRINT) {
            if (alen != 4 || pl_rbuf_left(&r) != 0)
                return PL_EMALFORMED;
            m->has_fingerprint = true;
            m->fingerprint_at = at;
            if (pl_rbuf_u32(&v) != fingerprint_of(data, at))
                return PL_EMALFORMED;
            continue;
        }
        if (m->has_integrity)
            continue; /* RFC 8489 14.5: ignore everything after MI but FINGERPRINT */
        if (type == PL_STUN_ATTR_MESSAGE_INTEGRITY) {
            if (alen != INTEGRITY_LEN)
                return PL_EMALFORMED;
            m->has_integrity = true;
            m->integrity_at = at;
            continue;
        }
        int rc = decode_attribute(m, type, v);
        if (rc < 0)
            return rc;
    }
    return PL_OK;
}

int pl_stun_check_integrity(const pl_stun_msg *m, const uint8_t *key, size_t key_len)
{
    if (!m->has_integrity)
        return PL_ENOTFOUND;
    /* The HMAC covers the message up to MI with the header length rewritten
     * to end just after MI (RFC 8489 14.5). */
    uint8_t copy[PL_STUN_MAX];
    size_t n = m->integrity_at;
    if (n > sizeof(copy) || n + 4 + INTEGRITY_LEN > m->raw_len)
        return PL_EMALFORMED;
    memcpy(copy, m->raw, n);
    pl_put_u16(copy + 2, (uint16_t)(n - PL_STUN_HEADER + 4 + INTEGRITY_LEN));
    uint8_t mac[EVP_MAX_MD_SIZE];
    unsigned mac_len = 0;
    if (!HMAC(EVP_sha1(), key, (int)key_len, copy, n, mac, &mac_len) || mac_len != INTEGRITY_LEN)
        return PL_ECRYPTO;
    /* Constant time: the comparison must not leak how much of a forged MAC matched. */
    return CRYPTO_memcmp(mac, m->raw + n + 4, INTEGRITY_LEN) == 0 ? PL_OK : PL_EAUTH;
}

int pl_stun_peek_local_ufrag(const uint8_t *data, size_t len, char *out, size_t cap)
{
    if (!pl_stun_is_stun(data, len) || cap == 0)
        return PL_EMALFORMED;
    pl_rbuf r = pl_rbuf_make(data, len);
    if (pl_rbuf_u16(&r) != make_type(PL_STUN_REQUEST, PL_STUN_METHOD_BINDING))
        return PL_ENOTFOUND;
    pl_rbuf_skip(&r, PL_STUN_HEADER - 2);
    while (pl_rbuf_left(&r) >= 4) {
        uint16_t type = pl_rbuf_u16(&r);
        uint16_t alen = pl_rbuf_u16(&r);
        pl_rbuf v = pl_rbuf_sub(&r, alen);
        pl_rbuf_skip(&r, (4 - (alen & 3)) & 3);
        if (!pl_rbuf_ok(&v))
            return PL_EMALFORMED;
        if (type != PL_STUN_ATTR_USERNAME)
            continue;
        const uint8_t *u = pl_rbuf_cur(&v);
        size_t n = 0;
        while (n < alen && u[n] != ':')
            n++;
        if (n == 0 || n == alen || n >= cap)
            return PL_ENOTFOUND;
        memcpy(out, u, n);
        out[n] = '\0';
        return PL_OK;
    }
    return PL_ENOTFOUND;
}

void pl_stun_begin(pl_wbuf *w, enum pl_stun_class cls, uint16_t method, const uint8_t tid[12])
{
    pl_wbuf_u16(w, make_type(cls, method));
    pl_wbuf_u16(w, 0); /* fixed by finish */
    pl_wbuf_u32(w, PL_STUN_MAGIC);
    pl_wbuf_bytes(w, tid, 12);
}

void pl_stun_add_bytes(pl_wbuf *w, uint16_t type, const void *data, size_t len)
{
    if (len > 0xffff) {
        w->failed = true;
        return;
    }
    pl_wbuf_u16(w, type);
    pl_wbuf_u16(w, (uint16_t)len);
    pl_wbuf_bytes(w, data, len);
    pl_wbuf_zeros(w, (4 - (len & 3)) & 3);
}

void pl_stun_add_u32(pl_wbuf *w, uint16_t type, uint32_t v)
{
    uint8_t b[4];
    pl_put_u32(b, v);
    pl_stun_add_bytes(w, type, b, sizeof(b));
}

void pl_stun_add_u64(pl_wbuf *w, uint16_t type, uint64_t v)
{
    uint8_t b[8];
    pl_put_u32(b, (uint32_t)(v >> 32));
    pl_put_u32(b + 4, (uint32_t)v);
    pl_stun_add_bytes(w, type, b, sizeof(b));
}

void pl_stun_add_flag(pl_wbuf *w, uint16_t type)
{
    pl_stun_add_bytes(w, type, NULL, 0);
}

void pl_stun_add_xor_address(pl_wbuf *w, uint16_t type, const uint8_t tid[12], const pl_addr *addr)
{
    uint8_t b[20] = {0};
    uint16_t port = pl_addr_port(addr) ^ (uint16_t)(PL_STUN_MAGIC >> 16);
    pl_put_u16(b + 2, port);
    if (addr->ss.ss_family == AF_INET) {
        const struct sockaddr_in *a = (const struct sockaddr_in *)&addr->ss;
        b[1] = 0x01;
        pl_put_u32(b + 4, ntohl(a->sin_addr.s_addr) ^ PL_STUN_MAGIC);
        pl_stun_add_bytes(w, type, b, 8);
    } else if (addr->ss.ss_family == AF_INET6) {
        const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)&addr->ss;
        uint8_t pad[16];
        pl_put_u32(pad, PL_STUN_MAGIC);
        memcpy(pad + 4, tid, 12);
        b[1] = 0x02;
        for (int i = 0; i < 16; i++)
            b[4 + i] = a->sin6_addr.s6_addr[i] ^ pad[i];
        pl_stun_add_bytes(w, type, b, 20);
    } else {
        w->failed = true;
    }
}

void pl_stun_add_error(pl_wbuf *w, uint16_t code, const char *reason)
{
    uint8_t b[4 + 128] = {0};
    size_t rlen = reason ? strlen(reason) : 0;
    if (rlen > 128)
        rlen = 128;
    b[2] = (uint8_t)(code / 100);
    b[3] = (uint8_t)(code % 100);
    if (rlen)
        memcpy(b + 4, reason, rlen);
    pl_stun_add_bytes(w, PL_STUN_ATTR_ERROR_CODE, b, 4 + rlen);
}

int pl_stun_finish(pl_wbuf *w, const uint8_t *key, size_t key_len, bool fingerprint)
{
    if (!pl_wbuf_ok(w) || w->len < PL_STUN_HEADER)
        return PL_ENOSPC;
    if (key) {
        /* The length must already count MI when the HMAC is computed. */
        pl_put_u16(w->data + 2, (uint16_t)(w->len - PL_STUN_HEADER + 4 + INTEGRITY_LEN));
        uint8_t mac[EVP_MAX_MD_SIZE];
        unsigned mac_len = 0;
        if (!HMAC(EVP_sha1(), key, (int)key_len, w->data, w->len, mac, &mac_len))
            return PL_ECRYPTO;
        pl_stun_add_bytes(w, PL_STUN_ATTR_MESSAGE_INTEGRITY, mac, INTEGRITY_LEN);
    }
    if (fingerprint) {
        if (!pl_wbuf_ok(w))
            return PL_ENOSPC;
        pl_put_u16(w->data + 2, (uint16_t)(w->len - PL_STUN_HEADER + 8));
        uint32_t crc = fingerprint_of(w->data, w->len);
        pl_stun_add_u32(w, PL_STUN_ATTR_FINGERPRINT, crc);
    }
    if (!pl_wbuf_ok(w) || w->len > PL_STUN_MAX)
        return PL_ENOSPC;
    pl_put_u16(w->data + 2, (uint16_t)(w->len - PL_STUN_HEADER));
    return (int)w->len;
}
