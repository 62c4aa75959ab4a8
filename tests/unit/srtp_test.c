/* SRTP known-answer tests. libsrtp's output is compared byte for byte with
 * packets built independently here from the RFCs with plain OpenSSL
 * primitives: the RFC 3711 4.3 key derivation (checked against the RFC 3711
 * appendix B.3 vectors), AES-CM + HMAC-SHA1-80 (RFC 3711) and AEAD AES-128-GCM
 * (RFC 7714). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "parley/srtp.h"

static void unhex(const char *h, uint8_t *out, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned v;
        sscanf(h + 2 * i, "%2x", &v);
        out[i] = (uint8_t)v;
    }
}

/* AES-128 in counter mode from a 16-byte initial counter block. */
static void aes_ctr(const uint8_t key[16], const uint8_t iv[16], const uint8_t *in, uint8_t *out,
                    size_t n)
{
    EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
    int l = 0;
    assert_int_equal(EVP_EncryptInit_ex(c, EVP_aes_128_ctr(), NULL, key, iv), 1);
    assert_int_equal(EVP_EncryptUpdate(c, out, &l, in, (int)n), 1);
    EVP_CIPHER_CTX_free(c);
}

/* RFC 3711 4.3.1 with key_derivation_rate 0: x = salt XOR (label << 48),
 * keystream = AES-CM(master key, x * 2^16). */
static void kdf(const uint8_t *mkey, const uint8_t *msalt, size_t salt_len, uint8_t label,
                uint8_t *out, size_t n)
{
    uint8_t iv[16] = {0};
    memcpy(iv, msalt, salt_len);
    iv[7] ^= label;
    uint8_t zeros[64] = {0};
    aes_ctr(mkey, iv, zeros, out, n);
}

static void test_rfc3711_b3_key_derivation(void **state)
{
    (void)state;
    uint8_t mk[16], ms[14], got[20], want[20];
    unhex("E1F97A0D3E018BE0D64FA32C06DE4139", mk, 16);
    unhex("0EC675AD498AFEEBB6960B3AABE6", ms, 14);
    kdf(mk, ms, 14, 0x00, got, 16);
    unhex("C61E7A93744F39EE10734AFE3FF7A087", want, 16);
    assert_memory_equal(got, want, 16);
    kdf(mk, ms, 14, 0x02, got, 14);
    unhex("30CBBC08863D8C85D49DB34A9AE1", want, 14);
    assert_memory_equal(got, want, 14);
    kdf(mk, ms, 14, 0x01, got, 20);
    unhex("CEBE321F6FF7716B6FD4AB49AF256A156D38BAA4", want, 20);
    assert_memory_equal(got, want, 20);
}

static const uint8_t rtp_plain[] = {
    0x80, 0x0f, 0x12, 0x34, 0xde, 0xca, 0xfb, 0xad, 0xca, 0xfe, 0xba, 0xbe, /* header */
    0xab, 0xab, 0xab, 0xab, 0xab, 0xab, 0xab, 0xab, 0xab, 0xab, 0xab, 0xab,
    0xab, 0xab, 0xab, 0xab, 0xab, 0xab, 0xab, 0xab, 0xab, 0xab, 0xab, 0xab};

static pl_srtp_keys keys_for(enum pl_srtp_profile p, bool swap)
{
    pl_srtp_keys k;
    memset(&k, 0, sizeof(k));
    k.profile = p;
    k.key_len = 16;
    k.salt_len = p == PL_SRTP_AEAD_AES_128_GCM ? 12 : 14;
    unhex("E1F97A0D3E018BE0D64FA32C06DE4139", swap ? k.remote_key : k.local_key, 16);
    unhex("0EC675AD498AFEEBB6960B3AABE6", swap ? k.remote_salt : k.local_salt, k.salt_len);
    unhex("00112233445566778899AABBCCDDEEFF", swap ? k.local_key : k.remote_key, 16);
    unhex("F0E1D2C3B4A5968778695A4B3C2D", swap ? k.local_salt : k.remote_salt, k.salt_len);
    return k;
}

static void test_known_answer_aes_cm_sha1_80(void **state)
{
    (void)state;
    uint8_t mk[16], ms[14], ck[16], cs[14], ak[20];
    unhex("E1F97A0D3E018BE0D64FA32C06DE4139", mk, 16);
    unhex("0EC675AD498AFEEBB6960B3AABE6", ms, 14);
    kdf(mk, ms, 14, 0x00, ck, 16);
    kdf(mk, ms, 14, 0x02, cs, 14);
    kdf(mk, ms, 14, 0x01, ak, 20);

    /* Reference: IV = (salt * 2^16) XOR (SSRC * 2^64) XOR (index * 2^16). */
    uint8_t want[sizeof(rtp_plain) + 10];
    memcpy(want, rtp_plain, sizeof(rtp_plain));
    uint8_t iv[16] = {0};
    memcpy(iv, cs, 14);
    for (int i = 0; i < 4; i++)
        iv[4 + i] ^= rtp_plain[8 + i];
    iv[12] ^= rtp_plain[2];
    iv[13] ^= rtp_plain[3];
    aes_ctr(ck, iv, rtp_plain + 12, want + 12, sizeof(rtp_plain) - 12);
    uint8_t mac_in[sizeof(rtp_plain) + 4];
    memcpy(mac_in, want, sizeof(rtp_plain));
    memset(mac_in + sizeof(rtp_plain), 0, 4); /* ROC 0 */
    uint8_t mac[20];
    unsigned ml = 0;
    HMAC(EVP_sha1(), ak, 20, mac_in, sizeof(mac_in), mac, &ml);
    memcpy(want + sizeof(rtp_plain), mac, 10);

    uint64_t st;
    pl_env env = pl_env_seeded(&st, 1);
    pl_srtp_keys k = keys_for(PL_SRTP_AES128_CM_SHA1_80, false);
    pl_srtp *s = pl_srtp_create(&env, &k);
    assert_non_null(s);
    uint8_t pkt[sizeof(rtp_plain) + PL_SRTP_MAX_TRAILER];
    memcpy(pkt, rtp_plain, sizeof(rtp_plain));
    size_t len = sizeof(rtp_plain);
    assert_int_equal(pl_srtp_protect_rtp(s, pkt, &len, sizeof(pkt)), 0);
    assert_int_equal(len, sizeof(want));
    assert_memory_equal(pkt, want, sizeof(want));

    /* The receiving side (keys swapped) restores the plaintext. */
    pl_srtp_keys kr = keys_for(PL_SRTP_AES128_CM_SHA1_80, true);
    pl_srtp *r = pl_srtp_create(&env, &kr);
    assert_int_equal(pl_srtp_unprotect_rtp(r, pkt, &len), 0);
    assert_int_equal(len, sizeof(rtp_plain));
    assert_memory_equal(pkt, rtp_plain, sizeof(rtp_plain));
    pl_srtp_destroy(s);
    pl_srtp_destroy(r);
}

static void test_known_answer_aes_gcm(void **state)
{
    (void)state;
    uint8_t mk[16], ms[12], ck[16], cs[12];
    unhex("E1F97A0D3E018BE0D64FA32C06DE4139", mk, 16);
    unhex("0EC675AD498AFEEBB6960B3A", ms, 12);
    /* RFC 7714 11: the RFC 3711 KDF with a 96-bit salt. */
    kdf(mk, ms, 12, 0x00, ck, 16);
    kdf(mk, ms, 12, 0x02, cs, 12);
    /* RFC 7714 8.1: IV = (00 00 || SSRC || ROC || SEQ) XOR salt; AAD = header. */
    uint8_t iv[12] = {0};
    memcpy(iv + 2, rtp_plain + 8, 4);
    iv[10] = rtp_plain[2];
    iv[11] = rtp_plain[3];
    for (int i = 0; i < 12; i++)
        iv[i] ^= cs[i];
    uint8_t want[sizeof(rtp_plain) + 16];
    memcpy(want, rtp_plain, 12);
    EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
    int l = 0;
    assert_int_equal(EVP_EncryptInit_ex(c, EVP_aes_128_gcm(), NULL, NULL, NULL), 1);
    assert_int_equal(EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_IVLEN, 12, NULL), 1);
    assert_int_equal(EVP_EncryptInit_ex(c, NULL, NULL, ck, iv), 1);
    assert_int_equal(EVP_EncryptUpdate(c, NULL, &l, rtp_plain, 12), 1);
    assert_int_equal(EVP_EncryptUpdate(c, want + 12, &l, rtp_plain + 12, sizeof(rtp_plain) - 12),
                     1);
    assert_int_equal(EVP_EncryptFinal_ex(c, want + 12 + l, &l), 1);
    assert_int_equal(EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, 16, want + sizeof(rtp_plain)), 1);
    EVP_CIPHER_CTX_free(c);

    uint64_t st;
    pl_env env = pl_env_seeded(&st, 1);
    pl_srtp_keys k = keys_for(PL_SRTP_AEAD_AES_128_GCM, false);
    pl_srtp *s = pl_srtp_create(&env, &k);
    assert_non_null(s);
    uint8_t pkt[sizeof(rtp_plain) + PL_SRTP_MAX_TRAILER];
    memcpy(pkt, rtp_plain, sizeof(rtp_plain));
    size_t len = sizeof(rtp_plain);
    assert_int_equal(pl_srtp_protect_rtp(s, pkt, &len, sizeof(pkt)), 0);
    assert_int_equal(len, sizeof(want));
    assert_memory_equal(pkt, want, sizeof(want));
    pl_srtp_keys kr = keys_for(PL_SRTP_AEAD_AES_128_GCM, true);
    pl_srtp *r = pl_srtp_create(&env, &kr);
    assert_int_equal(pl_srtp_unprotect_rtp(r, pkt, &len), 0);
    assert_memory_equal(pkt, rtp_plain, sizeof(rtp_plain));
    pl_srtp_destroy(s);
    pl_srtp_destroy(r);
}

static void round_trip(enum pl_srtp_profile p)
{
    uint64_t st;
    pl_env env = pl_env_seeded(&st, 2);
    pl_srtp_keys ka = keys_for(p, false), kb = keys_for(p, true);
    pl_srtp *a = pl_srtp_create(&env, &ka), *b = pl_srtp_create(&env, &kb);
    assert_non_null(a);
    assert_non_null(b);
    uint8_t pkt[256], saved[256];
    for (int i = 0; i < 100; i++) {
        /* RTP one way ... */
        memcpy(pkt, rtp_plain, sizeof(rtp_plain));
        pkt[2] = (uint8_t)(i >> 8);
        pkt[3] = (uint8_t)i;
        size_t len = sizeof(rtp_plain);
        assert_int_equal(pl_srtp_protect_rtp(a, pkt, &len, sizeof(pkt)), 0);
        memcpy(saved, pkt, len);
        size_t saved_len = len;
        assert_int_equal(pl_srtp_unprotect_rtp(b, pkt, &len), 0);
        assert_int_equal(len, sizeof(rtp_plain));
        assert_memory_equal(pkt + 12, rtp_plain + 12, sizeof(rtp_plain) - 12);
        /* ... the same packet again is a replay ... */
        memcpy(pkt, saved, saved_len);
        len = saved_len;
        assert_int_equal(pl_srtp_unprotect_rtp(b, pkt, &len), PL_EREPLAY);
        /* ... and a flipped bit anywhere fails authentication. */
        memcpy(pkt, saved, saved_len);
        pkt[12 + (size_t)i % (saved_len - 12)] ^= 0x10;
        len = saved_len;
        int rc = pl_srtp_unprotect_rtp(b, pkt, &len);
        assert_true(rc == PL_EAUTH || rc == PL_EREPLAY);
        /* RTCP the other way: an RR with one report block. */
        uint8_t rr[] = {0x81, 201, 0, 7, 0xca, 0xfe, 0xba, 0xbe, 0xde, 0xca, 0xfb,
                        0xad, 0,   0, 0, 1,    0,    0,    0x10, 0,    0,    0,
                        0,    1,   0, 0, 0,    0,    0,    0,    0,    0};
        memcpy(pkt, rr, sizeof(rr));
        len = sizeof(rr);
        assert_int_equal(pl_srtp_protect_rtcp(b, pkt, &len, sizeof(pkt)), 0);
        assert_true(len > sizeof(rr));
        memcpy(saved, pkt, len);
        saved_len = len;
        assert_int_equal(pl_srtp_unprotect_rtcp(a, pkt, &len), 0);
        assert_int_equal(len, sizeof(rr));
        assert_memory_equal(pkt, rr, sizeof(rr));
        memcpy(pkt, saved, saved_len);
        len = saved_len;
        assert_int_equal(pl_srtp_unprotect_rtcp(a, pkt, &len), PL_EREPLAY);
    }
    pl_srtp_destroy(a);
    pl_srtp_destroy(b);
}

static void test_round_trip_cm(void **state)
{
    (void)state;
    round_trip(PL_SRTP_AES128_CM_SHA1_80);
}

static void test_round_trip_gcm(void **state)
{
    (void)state;
    round_trip(PL_SRTP_AEAD_AES_128_GCM);
}

static void test_bad_input(void **state)
{
    (void)state;
    uint64_t st;
    pl_env env = pl_env_seeded(&st, 3);
    pl_srtp_keys ka = keys_for(PL_SRTP_AEAD_AES_128_GCM, false),
                 kb = keys_for(PL_SRTP_AEAD_AES_128_GCM, true);
    pl_srtp *a = pl_srtp_create(&env, &ka), *b = pl_srtp_create(&env, &kb);
    uint8_t pkt[256];
    memcpy(pkt, rtp_plain, sizeof(rtp_plain));
    size_t len = sizeof(rtp_plain);
    /* No room for the tag. */
    assert_int_equal(pl_srtp_protect_rtp(a, pkt, &len, sizeof(rtp_plain)), PL_ENOSPC);
    assert_int_equal(pl_srtp_protect_rtp(a, pkt, &len, sizeof(pkt)), 0);
    uint8_t saved[256];
    memcpy(saved, pkt, len);
    /* Every truncation is rejected without crashing. */
    for (size_t n = 0; n < len; n++) {
        memcpy(pkt, saved, len);
        size_t l = n;
        assert_true(pl_srtp_unprotect_rtp(b, pkt, &l) < 0);
        l = n;
        assert_true(pl_srtp_unprotect_rtcp(b, pkt, &l) < 0);
    }
    /* Random bytes are not SRTP. */
    for (int i = 0; i < 200; i++) {
        size_t l = 12 + (size_t)i % 100;
        for (size_t j = 0; j < l; j++)
            pkt[j] = (uint8_t)(j * 31 + (size_t)i * 17);
        pkt[0] = 0x80;
        assert_true(pl_srtp_unprotect_rtp(b, pkt, &l) < 0);
    }
    /* The untouched original still decrypts after all that. */
    memcpy(pkt, saved, len);
    assert_int_equal(pl_srtp_unprotect_rtp(b, pkt, &len), 0);
    pl_srtp_keys bad = ka;
    bad.profile = PL_SRTP_NONE;
    assert_null(pl_srtp_create(&env, &bad));
    pl_srtp_destroy(a);
    pl_srtp_destroy(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rfc3711_b3_key_derivation),
        cmocka_unit_test(test_known_answer_aes_cm_sha1_80),
        cmocka_unit_test(test_known_answer_aes_gcm),
        cmocka_unit_test(test_round_trip_cm),
        cmocka_unit_test(test_round_trip_gcm),
        cmocka_unit_test(test_bad_input),
    };
    return cmocka_run_group_tests_name("srtp", tests, NULL, NULL);
}
