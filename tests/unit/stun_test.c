#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/evp.h>

#include "parley/stun.h"

/* RFC 5769 section 2.1: sample request, short-term credentials. */
static const uint8_t rfc5769_request[] = {
    0x00, 0x01, 0x00, 0x58, 0x21, 0x12, 0xa4, 0x42, 0xb7, 0xe7, 0xa7, 0x01, 0xbc, 0x34, 0xd6, 0x86,
    0xfa, 0x87, 0xdf, 0xae, 0x80, 0x22, 0x00, 0x10, 0x53, 0x54, 0x55, 0x4e, 0x20, 0x74, 0x65, 0x73,
    0x74, 0x20, 0x63, 0x6c, 0x69, 0x65, 0x6e, 0x74, 0x00, 0x24, 0x00, 0x04, 0x6e, 0x00, 0x01, 0xff,
    0x80, 0x29, 0x00, 0x08, 0x93, 0x2f, 0xf9, 0xb1, 0x51, 0x26, 0x3b, 0x36, 0x00, 0x06, 0x00, 0x09,
    0x65, 0x76, 0x74, 0x6a, 0x3a, 0x68, 0x36, 0x76, 0x59, 0x20, 0x20, 0x20, 0x00, 0x08, 0x00, 0x14,
    0x9a, 0xea, 0xa7, 0x0c, 0xbf, 0xd8, 0xcb, 0x56, 0x78, 0x1e, 0xf2, 0xb5, 0xb2, 0xd3, 0xf2, 0x49,
    0xc1, 0xb5, 0x71, 0xa2, 0x80, 0x28, 0x00, 0x04, 0xe5, 0x7a, 0x3b, 0xcf};

/* RFC 5769 section 2.2: sample IPv4 response. */
static const uint8_t rfc5769_response_v4[] = {
    0x01, 0x01, 0x00, 0x3c, 0x21, 0x12, 0xa4, 0x42, 0xb7, 0xe7, 0xa7, 0x01, 0xbc, 0x34, 0xd6, 0x86,
    0xfa, 0x87, 0xdf, 0xae, 0x80, 0x22, 0x00, 0x0b, 0x74, 0x65, 0x73, 0x74, 0x20, 0x76, 0x65, 0x63,
    0x74, 0x6f, 0x72, 0x20, 0x00, 0x20, 0x00, 0x08, 0x00, 0x01, 0xa1, 0x47, 0xe1, 0x12, 0xa6, 0x43,
    0x00, 0x08, 0x00, 0x14, 0x2b, 0x91, 0xf5, 0x99, 0xfd, 0x9e, 0x90, 0xc3, 0x8c, 0x74, 0x89, 0xf9,
    0x2a, 0xf9, 0xba, 0x53, 0xf0, 0x6b, 0xe7, 0xd7, 0x80, 0x28, 0x00, 0x04, 0xc0, 0x7d, 0x4c, 0x96};

/* RFC 5769 section 2.3: sample IPv6 response. */
static const uint8_t rfc5769_response_v6[] = {
    0x01, 0x01, 0x00, 0x48, 0x21, 0x12, 0xa4, 0x42, 0xb7, 0xe7, 0xa7, 0x01, 0xbc, 0x34, 0xd6, 0x86,
    0xfa, 0x87, 0xdf, 0xae, 0x80, 0x22, 0x00, 0x0b, 0x74, 0x65, 0x73, 0x74, 0x20, 0x76, 0x65, 0x63,
    0x74, 0x6f, 0x72, 0x20, 0x00, 0x20, 0x00, 0x14, 0x00, 0x02, 0xa1, 0x47, 0x01, 0x13, 0xa9, 0xfa,
    0xa5, 0xd3, 0xf1, 0x79, 0xbc, 0x25, 0xf4, 0xb5, 0xbe, 0xd2, 0xb9, 0xd9, 0x00, 0x08, 0x00, 0x14,
    0xa3, 0x82, 0x95, 0x4e, 0x4b, 0xe6, 0x7b, 0xf1, 0x17, 0x84, 0xc9, 0x7c, 0x82, 0x92, 0xc2, 0x75,
    0xbf, 0xe3, 0xed, 0x41, 0x80, 0x28, 0x00, 0x04, 0xc8, 0xfb, 0x0b, 0x4c};

/* RFC 5769 section 2.4: sample request with long-term authentication. */
static const uint8_t rfc5769_long_term[] = {
    0x00, 0x01, 0x00, 0x60, 0x21, 0x12, 0xa4, 0x42, 0x78, 0xad, 0x34, 0x33, 0xc6, 0xad, 0x72,
    0xc0, 0x29, 0xda, 0x41, 0x2e, 0x00, 0x06, 0x00, 0x12, 0xe3, 0x83, 0x9e, 0xe3, 0x83, 0x88,
    0xe3, 0x83, 0xaa, 0xe3, 0x83, 0x83, 0xe3, 0x82, 0xaf, 0xe3, 0x82, 0xb9, 0x00, 0x00, 0x00,
    0x15, 0x00, 0x1c, 0x66, 0x2f, 0x2f, 0x34, 0x39, 0x39, 0x6b, 0x39, 0x35, 0x34, 0x64, 0x36,
    0x4f, 0x4c, 0x33, 0x34, 0x6f, 0x4c, 0x39, 0x46, 0x53, 0x54, 0x76, 0x79, 0x36, 0x34, 0x73,
    0x41, 0x00, 0x14, 0x00, 0x0b, 0x65, 0x78, 0x61, 0x6d, 0x70, 0x6c, 0x65, 0x2e, 0x6f, 0x72,
    0x67, 0x00, 0x00, 0x08, 0x00, 0x14, 0xf6, 0x70, 0x24, 0x65, 0x6d, 0xd6, 0x4a, 0x3e, 0x02,
    0xb8, 0xe0, 0x71, 0x2e, 0x85, 0xc9, 0xa2, 0x8c, 0xa8, 0x96, 0x66};

static const char rfc5769_password[] = "VOkJxbRl1RmTxUk/WvJxBt";

static void check_key(const pl_stun_msg *m, const char *pwd, int want)
{
    assert_int_equal(pl_stun_check_integrity(m, (const uint8_t *)pwd, strlen(pwd)), want);
}

static void test_rfc5769_request(void **state)
{
    (void)state;
    pl_stun_msg m;
    assert_int_equal(pl_stun_decode(&m, rfc5769_request, sizeof(rfc5769_request)), PL_OK);
    assert_int_equal(m.cls, PL_STUN_REQUEST);
    assert_int_equal(m.method, PL_STUN_METHOD_BINDING);
    assert_true(m.has_fingerprint);
    assert_int_equal(m.username_len, 9);
    assert_memory_equal(m.username, "evtj:h6vY", 9);
    assert_int_equal(m.software_len, 16);
    assert_true(m.has_priority);
    assert_int_equal(m.priority, 0x6e0001ff);
    assert_true(m.has_controlled);
    assert_true(m.controlled == 0x932ff9b151263b36ULL);
    check_key(&m, rfc5769_password, PL_OK);
    check_key(&m, "VOkJxbRl1RmTxUk/WvJxBu", PL_EAUTH);
    char ufrag[16];
    assert_int_equal(
        pl_stun_peek_local_ufrag(rfc5769_request, sizeof(rfc5769_request), ufrag, sizeof(ufrag)),
        PL_OK);
    assert_string_equal(ufrag, "evtj");
}

static void test_rfc5769_response_v4(void **state)
{
    (void)state;
    pl_stun_msg m;
    assert_int_equal(pl_stun_decode(&m, rfc5769_response_v4, sizeof(rfc5769_response_v4)), PL_OK);
    assert_int_equal(m.cls, PL_STUN_SUCCESS);
    assert_true(m.has_xor_mapped);
    pl_addr want;
    pl_addr_set(&want, "192.0.2.1", 32853);
    assert_true(pl_addr_equal(&m.xor_mapped, &want));
    check_key(&m, rfc5769_password, PL_OK);
}

static void test_rfc5769_response_v6(void **state)
{
    (void)state;
    pl_stun_msg m;
    assert_int_equal(pl_stun_decode(&m, rfc5769_response_v6, sizeof(rfc5769_response_v6)), PL_OK);
    pl_addr want;
    pl_addr_set(&want, "2001:db8:1234:5678:11:2233:4455:6677", 32853);
    assert_true(pl_addr_equal(&m.xor_mapped, &want));
    check_key(&m, rfc5769_password, PL_OK);
}

/* The relay only uses short-term credentials; the long-term key (RFC 8489
 * 9.2.2) is made here to check the vector's integrity. */
static void long_term_key(const pl_stun_msg *m, const char *password, uint8_t key[16])
{
    char in[128];
    int n =
        snprintf(in, sizeof(in), "%.*s:%.*s:%s", (int)m->username_len, (const char *)m->username,
                 (int)m->realm_len, (const char *)m->realm, password);
    assert_true(n > 0 && (size_t)n < sizeof(in));
    unsigned key_len = 0;
    assert_int_equal(EVP_Digest(in, (size_t)n, key, &key_len, EVP_md5(), NULL), 1);
    assert_int_equal(key_len, 16);
}

static void test_rfc5769_long_term(void **state)
{
    (void)state;
    pl_stun_msg m;
    assert_int_equal(pl_stun_decode(&m, rfc5769_long_term, sizeof(rfc5769_long_term)), PL_OK);
    assert_false(m.has_fingerprint);
    assert_int_equal(m.realm_len, 11);
    assert_memory_equal(m.realm, "example.org", 11);
    assert_int_equal(m.nonce_len, 28);
    /* The username is U+30DE U+30C8 U+30EA U+30C3 U+30AF U+30B9; the password
     * "The<U+00AD>M<U+00AA>tr<U+2168>" is "TheMatrIX" after SASLprep. */
    uint8_t key[16];
    long_term_key(&m, "TheMatrIX", key);
    assert_int_equal(pl_stun_check_integrity(&m, key, sizeof(key)), PL_OK);
    long_term_key(&m, "TheMatrix", key);
    assert_int_equal(pl_stun_check_integrity(&m, key, sizeof(key)), PL_EAUTH);
}

/* Rebuilding the RFC 5769 IPv4 response with the encoder gives the same bytes. */
static void test_encode_matches_rfc5769(void **state)
{
    (void)state;
    uint8_t out[256];
    pl_wbuf w = pl_wbuf_make(out, sizeof(out));
    const uint8_t *tid = rfc5769_response_v4 + 8;
    pl_stun_begin(&w, PL_STUN_SUCCESS, PL_STUN_METHOD_BINDING, tid);
    /* RFC 5769 pads SOFTWARE with a space rather than a zero byte. */
    pl_stun_add_bytes(&w, PL_STUN_ATTR_SOFTWARE, "test vector ", 12);
    w.data[22] = 0;
    w.data[23] = 11;
    pl_addr a;
    pl_addr_set(&a, "192.0.2.1", 32853);
    pl_stun_add_xor_address(&w, PL_STUN_ATTR_XOR_MAPPED_ADDRESS, tid, &a);
    int n = pl_stun_finish(&w, (const uint8_t *)rfc5769_password, strlen(rfc5769_password), true);
    assert_int_equal(n, sizeof(rfc5769_response_v4));
    assert_memory_equal(out, rfc5769_response_v4, sizeof(rfc5769_response_v4));

    pl_addr_set(&a, "2001:db8:1234:5678:11:2233:4455:6677", 32853);
    w = pl_wbuf_make(out, sizeof(out));
    pl_stun_begin(&w, PL_STUN_SUCCESS, PL_STUN_METHOD_BINDING, tid);
    pl_stun_add_bytes(&w, PL_STUN_ATTR_SOFTWARE, "test vector ", 12);
    w.data[23] = 11;
    pl_stun_add_xor_address(&w, PL_STUN_ATTR_XOR_MAPPED_ADDRESS, tid, &a);
    n = pl_stun_finish(&w, (const uint8_t *)rfc5769_password, strlen(rfc5769_password), true);
    assert_int_equal(n, sizeof(rfc5769_response_v6));
    assert_memory_equal(out, rfc5769_response_v6, sizeof(rfc5769_response_v6));
}

static void test_round_trip_ice_request(void **state)
{
    (void)state;
    const uint8_t tid[12] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12};
    uint8_t out[256];
    pl_wbuf w = pl_wbuf_make(out, sizeof(out));
    pl_stun_begin(&w, PL_STUN_REQUEST, PL_STUN_METHOD_BINDING, tid);
    pl_stun_add_bytes(&w, PL_STUN_ATTR_USERNAME, "srv1:cli2", 9);
    pl_stun_add_u32(&w, PL_STUN_ATTR_PRIORITY, 0x7e7f00ff);
    pl_stun_add_u64(&w, PL_STUN_ATTR_ICE_CONTROLLING, 0x0102030405060708ULL);
    pl_stun_add_flag(&w, PL_STUN_ATTR_USE_CANDIDATE);
    int n = pl_stun_finish(&w, (const uint8_t *)"pw", 2, true);
    assert_true(n > 0);
    pl_stun_msg m;
    assert_int_equal(pl_stun_decode(&m, out, (size_t)n), PL_OK);
    assert_memory_equal(m.tid, tid, 12);
    assert_true(m.use_candidate);
    assert_true(m.has_controlling);
    assert_true(m.controlling == 0x0102030405060708ULL);
    assert_int_equal(m.priority, 0x7e7f00ff);
    assert_int_equal(pl_stun_check_integrity(&m, (const uint8_t *)"pw", 2), PL_OK);
    assert_int_equal(pl_stun_check_integrity(&m, (const uint8_t *)"px", 2), PL_EAUTH);

    /* Error response round trip. */
    w = pl_wbuf_make(out, sizeof(out));
    pl_stun_begin(&w, PL_STUN_ERROR, PL_STUN_METHOD_BINDING, tid);
    pl_stun_add_error(&w, 487, "Role Conflict");
    n = pl_stun_finish(&w, NULL, 0, true);
    assert_int_equal(pl_stun_decode(&m, out, (size_t)n), PL_OK);
    assert_int_equal(m.cls, PL_STUN_ERROR);
    assert_true(m.has_error);
    assert_int_equal(m.error_code, 487);
    assert_int_equal(m.error_reason_len, 13);
    assert_int_equal(pl_stun_check_integrity(&m, (const uint8_t *)"pw", 2), PL_ENOTFOUND);
}

/* Every proper prefix of a valid message is rejected without reading past it. */
static void test_truncations_rejected(void **state)
{
    (void)state;
    const struct {
        const uint8_t *p;
        size_t n;
    } v[] = {{rfc5769_request, sizeof(rfc5769_request)},
             {rfc5769_response_v4, sizeof(rfc5769_response_v4)},
             {rfc5769_response_v6, sizeof(rfc5769_response_v6)},
             {rfc5769_long_term, sizeof(rfc5769_long_term)}};
    for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
        for (size_t n = 0; n < v[i].n; n++) {
            uint8_t copy[256];
            memcpy(copy, v[i].p, n);
            pl_stun_msg m;
            assert_int_equal(pl_stun_decode(&m, copy, n), PL_EMALFORMED);
            char u[32];
            assert_true(pl_stun_peek_local_ufrag(copy, n, u, sizeof(u)) < 0);
        }
    }
}

/* A lying header length is rejected even when it is consistent with a
 * shorter attribute walk. */
static void test_corruptions_rejected(void **state)
{
    (void)state;
    uint8_t m1[sizeof(rfc5769_request)];
    pl_stun_msg m;

    /* Every single-bit flip before the FINGERPRINT attribute breaks the
     * FINGERPRINT, the structure or the integrity. (Flipping the FINGERPRINT
     * type itself turns it into an ignored attribute after MI, as RFC 8489
     * 14.5 requires; integrity still holds then.) */
    for (size_t i = 0; i < (sizeof(m1) - 8) * 8; i++) {
        memcpy(m1, rfc5769_request, sizeof(m1));
        m1[i / 8] ^= (uint8_t)(1u << (i % 8));
        int rc = pl_stun_decode(&m, m1, sizeof(m1));
        if (rc == PL_OK)
            assert_int_not_equal(pl_stun_check_integrity(&m, (const uint8_t *)rfc5769_password,
                                                         strlen(rfc5769_password)),
                                 PL_OK);
    }

    /* Attribute length running past the end. */
    memcpy(m1, rfc5769_request, sizeof(m1));
    m1[22] = 0x7f;
    assert_int_equal(pl_stun_decode(&m, m1, sizeof(m1)), PL_EMALFORMED);
    /* Not STUN at all: RTP-looking first byte, wrong cookie. */
    memcpy(m1, rfc5769_request, sizeof(m1));
    m1[0] = 0x80;
    assert_false(pl_stun_is_stun(m1, sizeof(m1)));
    memcpy(m1, rfc5769_request, sizeof(m1));
    m1[4] = 0;
    assert_int_equal(pl_stun_decode(&m, m1, sizeof(m1)), PL_EMALFORMED);
    /* Oversized datagram. */
    static uint8_t big[PL_STUN_MAX + 4];
    memcpy(big, rfc5769_request, 20);
    pl_put_u16(big + 2, PL_STUN_MAX + 4 - 20);
    assert_int_equal(pl_stun_decode(&m, big, sizeof(big)), PL_EMALFORMED);
}

static void test_unknown_required_reported(void **state)
{
    (void)state;
    const uint8_t tid[12] = {0};
    uint8_t out[128];
    pl_wbuf w = pl_wbuf_make(out, sizeof(out));
    pl_stun_begin(&w, PL_STUN_REQUEST, PL_STUN_METHOD_BINDING, tid);
    pl_stun_add_u32(&w, 0x7777, 1);
    pl_stun_add_u32(&w, 0xc001, 1); /* comprehension-optional: ignored */
    int n = pl_stun_finish(&w, NULL, 0, false);
    pl_stun_msg m;
    assert_int_equal(pl_stun_decode(&m, out, (size_t)n), PL_OK);
    assert_int_equal(m.n_unknown, 1);
    assert_int_equal(m.unknown[0], 0x7777);
}

static void test_encoder_overflow(void **state)
{
    (void)state;
    const uint8_t tid[12] = {0};
    uint8_t out[40];
    pl_wbuf w = pl_wbuf_make(out, sizeof(out));
    pl_stun_begin(&w, PL_STUN_REQUEST, PL_STUN_METHOD_BINDING, tid);
    pl_stun_add_bytes(&w, PL_STUN_ATTR_USERNAME, "abcdefgh:ijklmnop", 17);
    assert_int_equal(pl_stun_finish(&w, (const uint8_t *)"k", 1, true), PL_ENOSPC);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rfc5769_request),
        cmocka_unit_test(test_rfc5769_response_v4),
        cmocka_unit_test(test_rfc5769_response_v6),
        cmocka_unit_test(test_rfc5769_long_term),
        cmocka_unit_test(test_encode_matches_rfc5769),
        cmocka_unit_test(test_round_trip_ice_request),
        cmocka_unit_test(test_truncations_rejected),
        cmocka_unit_test(test_corruptions_rejected),
        cmocka_unit_test(test_unknown_required_reported),
        cmocka_unit_test(test_encoder_overflow),
    };
    return cmocka_run_group_tests_name("stun", tests, NULL, NULL);
}
