#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "parley/common.h"
#include "parley/rtp.h"

/* An Opus packet as Chrome sends it: one-byte extensions for audio level
 * (id 1), abs-send-time (id 2), transport-cc (id 3) and mid (id 4). */
static const uint8_t opus_pkt[] = {0x90, 0xef, 0x1c, 0x2a, 0x00, 0x01,
                                   0xe2, 0x40, 0x2b, 0x4c, 0x6d, 0x8e, /* header, M, PT 111 */
                                   0xbe, 0xde, 0x00, 0x03,             /* one-byte, 3 words */
                                   0x10, 0xa5,             /* id 1 len 1: voice, -37 dBov */
                                   0x22, 0x12, 0x34, 0x56, /* id 2 len 3: abs-send-time */
                                   0x31, 0x04, 0xd2,       /* id 3 len 2: twcc seq 1234 */
                                   0x40, 0x30,             /* id 4 len 1: mid "0" */
                                   0x00,                   /* padding to a word */
                                   0xfc, 0xff, 0xfe};      /* Opus TOC + data */

static void test_parse_chrome_opus(void **state)
{
    (void)state;
    pl_rtp_header h;
    assert_int_equal(pl_rtp_parse(opus_pkt, sizeof(opus_pkt), &h), PL_OK);
    assert_true(h.marker);
    assert_int_equal(h.payload_type, 111);
    assert_int_equal(h.seq, 0x1c2a);
    assert_int_equal(h.timestamp, 123456);
    assert_int_equal(h.ssrc, 0x2b4c6d8e);
    assert_int_equal(h.ext_profile, 0xBEDE);
    assert_int_equal(h.header_len, 28);
    assert_int_equal(h.payload_len, 3);

    pl_rtp_ext e;
    bool voice;
    uint8_t level;
    assert_int_equal(pl_rtp_ext_find(opus_pkt, &h, 1, &e), PL_OK);
    assert_int_equal(pl_rtp_ext_audio_level(&e, &voice, &level), PL_OK);
    assert_true(voice);
    assert_int_equal(level, 37);
    uint32_t ast;
    assert_int_equal(pl_rtp_ext_find(opus_pkt, &h, 2, &e), PL_OK);
    assert_int_equal(pl_rtp_ext_abs_send_time(&e, &ast), PL_OK);
    assert_int_equal(ast, 0x123456);
    uint16_t tw;
    assert_int_equal(pl_rtp_ext_find(opus_pkt, &h, 3, &e), PL_OK);
    assert_int_equal(pl_rtp_ext_twcc_seq(&e, &tw), PL_OK);
    assert_int_equal(tw, 1234);
    char mid[16];
    assert_int_equal(pl_rtp_ext_find(opus_pkt, &h, 4, &e), PL_OK);
    assert_int_equal(pl_rtp_ext_string(&e, mid, sizeof(mid)), PL_OK);
    assert_string_equal(mid, "0");
    assert_int_equal(pl_rtp_ext_find(opus_pkt, &h, 5, &e), PL_ENOTFOUND);
}

/* RFC 6464 3: level 0 is the loudest, 127 silence; V is the top bit. */
static void test_audio_level_values(void **state)
{
    (void)state;
    const uint8_t vals[] = {0x00, 0x7f, 0x80, 0xff, 0x2a};
    const bool vv[] = {false, false, true, true, false};
    const uint8_t lv[] = {0, 127, 0, 127, 42};
    for (size_t i = 0; i < sizeof(vals); i++) {
        pl_rtp_ext e = {.id = 1, .data = &vals[i], .len = 1};
        bool voice;
        uint8_t level;
        assert_int_equal(pl_rtp_ext_audio_level(&e, &voice, &level), PL_OK);
        assert_int_equal(voice, vv[i]);
        assert_int_equal(level, lv[i]);
    }
}

/* RFC 8285 4.3: two-byte header form, with a zero-length element and padding. */
static void test_two_byte_form(void **state)
{
    (void)state;
    const uint8_t pkt[] = {0x90, 0x60, 0x00, 0x01, 0,   0,   0, 1, 0, 0, 0, 2, /* header */
                           0x10, 0x00, 0x00, 0x03,                             /* 0x1000, 3 words */
                           0x01, 0x00,                                         /* id 1, empty */
                           0x00,                                               /* padding */
                           0x20, 0x04, 'a',  'b',  'c', 'd',                   /* id 32, 4 bytes */
                           0x05, 0x01, 0x7e,                                   /* id 5, 1 byte */
                           0xaa};
    pl_rtp_header h;
    assert_int_equal(pl_rtp_parse(pkt, sizeof(pkt), &h), PL_OK);
    size_t pos = 0;
    pl_rtp_ext e;
    assert_int_equal(pl_rtp_ext_next(pkt, &h, &pos, &e), 1);
    assert_int_equal(e.id, 1);
    assert_int_equal(e.len, 0);
    assert_int_equal(pl_rtp_ext_next(pkt, &h, &pos, &e), 1);
    assert_int_equal(e.id, 32);
    assert_memory_equal(e.data, "abcd", 4);
    assert_int_equal(pl_rtp_ext_next(pkt, &h, &pos, &e), 1);
    assert_int_equal(e.id, 5);
    assert_int_equal(pl_rtp_ext_next(pkt, &h, &pos, &e), 0);
    assert_int_equal(h.payload_len, 1);
}

static void test_write_round_trip(void **state)
{
    (void)state;
    uint8_t out[256];
    pl_rtp_header h = {.marker = true,
                       .payload_type = 96,
                       .seq = 65535,
                       .timestamp = 0xdeadbeef,
                       .ssrc = 0x01020304,
                       .csrc_count = 2,
                       .csrc = {7, 8}};
    uint8_t lvl = 0x85;
    pl_rtp_ext_spec one[] = {{1, &lvl, 1}, {4, "1", 1}, {10, "hq", 2}};
    pl_wbuf w = pl_wbuf_make(out, sizeof(out));
    pl_rtp_write_header(&w, &h, one, 3);
    pl_wbuf_bytes(&w, "payload", 7);
    assert_true(pl_wbuf_ok(&w));
    pl_rtp_header p;
    assert_int_equal(pl_rtp_parse(out, w.len, &p), PL_OK);
    assert_int_equal(p.ext_profile, 0xBEDE);
    assert_int_equal(p.seq, 65535);
    assert_int_equal(p.csrc_count, 2);
    assert_int_equal(p.csrc[1], 8);
    assert_int_equal(p.payload_len, 7);
    assert_memory_equal(out + p.header_len, "payload", 7);
    pl_rtp_ext e;
    char s[8];
    assert_int_equal(pl_rtp_ext_find(out, &p, 10, &e), PL_OK);
    assert_int_equal(pl_rtp_ext_string(&e, s, sizeof(s)), PL_OK);
    assert_string_equal(s, "hq");

    /* An id above 14 forces the two-byte form. */
    pl_rtp_ext_spec two[] = {{20, "abc", 3}, {2, "\x01\x02\x03", 3}};
    w = pl_wbuf_make(out, sizeof(out));
    pl_rtp_write_header(&w, &h, two, 2);
    assert_true(pl_wbuf_ok(&w));
    assert_int_equal(pl_rtp_parse(out, w.len, &p), PL_OK);
    assert_int_equal(p.ext_profile, 0x1000);
    assert_int_equal(pl_rtp_ext_find(out, &p, 20, &e), PL_OK);
    assert_int_equal(e.len, 3);
    uint32_t ast;
    assert_int_equal(pl_rtp_ext_find(out, &p, 2, &e), PL_OK);
    assert_int_equal(pl_rtp_ext_abs_send_time(&e, &ast), PL_OK);
    assert_int_equal(ast, 0x010203);

    /* Overflowing the buffer is reported, not written past. */
    w = pl_wbuf_make(out, 14);
    pl_rtp_write_header(&w, &h, one, 3);
    assert_false(pl_wbuf_ok(&w));
}

static void test_in_place_rewrite_and_rtx(void **state)
{
    (void)state;
    uint8_t pkt[sizeof(opus_pkt)];
    memcpy(pkt, opus_pkt, sizeof(pkt));
    pl_rtp_set_ssrc(pkt, 0xaabbccdd);
    pl_rtp_set_seq(pkt, 7);
    pl_rtp_set_timestamp(pkt, 99);
    pl_rtp_set_payload_type(pkt, 100);
    pl_rtp_header h;
    assert_int_equal(pl_rtp_parse(pkt, sizeof(pkt), &h), PL_OK);
    assert_int_equal(h.ssrc, 0xaabbccdd);
    assert_int_equal(h.seq, 7);
    assert_int_equal(h.timestamp, 99);
    assert_int_equal(h.payload_type, 100);
    assert_true(h.marker);

    uint8_t rtx[64];
    int n = pl_rtp_rtx_wrap(pkt, &h, 0x11111111, 97, 500, rtx, sizeof(rtx));
    assert_int_equal(n, (int)sizeof(pkt) + 2);
    pl_rtp_header r;
    assert_int_equal(pl_rtp_parse(rtx, (size_t)n, &r), PL_OK);
    assert_int_equal(r.ssrc, 0x11111111);
    assert_int_equal(r.payload_type, 97);
    assert_int_equal(r.seq, 500);
    uint16_t osn;
    assert_int_equal(pl_rtp_rtx_osn(rtx, &r, &osn), PL_OK);
    assert_int_equal(osn, 7);
    assert_memory_equal(rtx + r.header_len + 2, pkt + h.header_len, h.payload_len);
    assert_int_equal(pl_rtp_rtx_wrap(pkt, &h, 1, 97, 1, rtx, 10), PL_ENOSPC);
}

/* Wrapping in place and unwrapping give back the original packet, less the
 * extension block the RTX stream carried; a padding-only RTX packet is a
 * probe with nothing to unwrap. */
static void test_rtx_round_trip_and_strip(void **state)
{
    (void)state;
    uint8_t pkt[128];
    memcpy(pkt, opus_pkt, sizeof(opus_pkt));
    pl_rtp_header h;
    assert_int_equal(pl_rtp_parse(pkt, sizeof(opus_pkt), &h), PL_OK);
    assert_true(h.extension);
    uint8_t bare[128];
    int nb = pl_rtp_strip_extensions(pkt, &h, bare, sizeof(bare));
    pl_rtp_header b;
    assert_int_equal(nb, (int)(sizeof(opus_pkt) - (h.header_len - PL_RTP_HEADER_MIN)));
    assert_int_equal(pl_rtp_parse(bare, (size_t)nb, &b), PL_OK);
    assert_false(b.extension);
    assert_int_equal(b.seq, h.seq);
    assert_int_equal(b.ssrc, h.ssrc);
    assert_memory_equal(bare + b.header_len, pkt + h.header_len, h.payload_len);

    /* In place: the buffer that held the original now holds its RTX form. */
    uint8_t inplace[128];
    memcpy(inplace, pkt, sizeof(opus_pkt));
    int nw = pl_rtp_rtx_wrap(inplace, &h, 0x22222222, 97, 9, inplace, sizeof(inplace));
    assert_int_equal(nw, (int)sizeof(opus_pkt) + 2);
    pl_rtp_header r;
    assert_int_equal(pl_rtp_parse(inplace, (size_t)nw, &r), PL_OK);
    uint8_t back[128];
    int nu = pl_rtp_rtx_unwrap(inplace, &r, h.ssrc, h.payload_type, back, sizeof(back));
    assert_int_equal(nu, nb);
    assert_memory_equal(back, bare, (size_t)nb);
    /* Unwrapping in place too. */
    nu = pl_rtp_rtx_unwrap(inplace, &r, h.ssrc, h.payload_type, inplace, sizeof(inplace));
    assert_int_equal(nu, nb);
    assert_memory_equal(inplace, bare, (size_t)nb);
    assert_int_equal(pl_rtp_rtx_unwrap(pkt, &r, 1, 1, back, 10), PL_ENOSPC);

    /* An RTX packet with only its OSN, or only padding: a probe. */
    uint8_t probe[16] = {0x80, 97, 0, 1, 0, 0, 0, 1, 0, 0, 0, 9, 0x12, 0x34};
    assert_int_equal(pl_rtp_parse(probe, 14, &r), PL_OK);
    assert_int_equal(pl_rtp_rtx_unwrap(probe, &r, 1, 96, back, sizeof(back)), PL_ENOTFOUND);
    uint8_t pad[16] = {0xa0, 97, 0, 1, 0, 0, 0, 1, 0, 0, 0, 9, 0, 0, 0, 4};
    assert_int_equal(pl_rtp_parse(pad, 16, &r), PL_OK);
    assert_int_equal(pl_rtp_rtx_unwrap(pad, &r, 1, 96, back, sizeof(back)), PL_ENOTFOUND);
    uint8_t one[13] = {0x80, 97, 0, 1, 0, 0, 0, 1, 0, 0, 0, 9, 0x12};
    assert_int_equal(pl_rtp_parse(one, 13, &r), PL_OK);
    assert_int_equal(pl_rtp_rtx_unwrap(one, &r, 1, 96, back, sizeof(back)), PL_EMALFORMED);
}

static void test_truncations_and_lies(void **state)
{
    (void)state;
    pl_rtp_header h;
    uint8_t copy[sizeof(opus_pkt)];
    /* Every prefix that cuts into the header or extension block fails. */
    for (size_t n = 0; n < 28; n++) {
        memcpy(copy, opus_pkt, n);
        assert_int_equal(pl_rtp_parse(copy, n, &h), PL_EMALFORMED);
    }
    memcpy(copy, opus_pkt, sizeof(copy));
    copy[0] = 0x50; /* version 1 */
    assert_int_equal(pl_rtp_parse(copy, sizeof(copy), &h), PL_EMALFORMED);
    memcpy(copy, opus_pkt, sizeof(copy));
    copy[15] = 0x40; /* extension length far past the end */
    assert_int_equal(pl_rtp_parse(copy, sizeof(copy), &h), PL_EMALFORMED);
    memcpy(copy, opus_pkt, sizeof(copy));
    copy[0] |= 0x0f; /* 15 CSRCs that are not there */
    assert_int_equal(pl_rtp_parse(copy, sizeof(copy), &h), PL_EMALFORMED);
    memcpy(copy, opus_pkt, sizeof(copy));
    copy[0] |= 0x20; /* padding: last byte 0xfe is more than the payload */
    assert_int_equal(pl_rtp_parse(copy, sizeof(copy), &h), PL_EMALFORMED);
    copy[sizeof(copy) - 1] = 0;
    assert_int_equal(pl_rtp_parse(copy, sizeof(copy), &h), PL_EMALFORMED);
    copy[sizeof(copy) - 1] = 3; /* valid: the whole payload is padding */
    assert_int_equal(pl_rtp_parse(copy, sizeof(copy), &h), PL_OK);
    assert_int_equal(h.payload_len, 0);
    uint16_t osn;
    assert_int_equal(pl_rtp_rtx_osn(copy, &h, &osn), PL_EMALFORMED);
    memcpy(copy, opus_pkt, sizeof(copy));
    copy[25] = 0x4f; /* mid element claims 16 bytes: overruns the block */
    assert_int_equal(pl_rtp_parse(copy, sizeof(copy), &h), PL_EMALFORMED);
    /* A non-printable mid is rejected by the string reader. */
    memcpy(copy, opus_pkt, sizeof(copy));
    copy[26] = 0x07;
    assert_int_equal(pl_rtp_parse(copy, sizeof(copy), &h), PL_OK);
    pl_rtp_ext e;
    char s[4];
    pl_rtp_ext_find(copy, &h, 4, &e);
    assert_int_equal(pl_rtp_ext_string(&e, s, sizeof(s)), PL_EMALFORMED);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_chrome_opus),
        cmocka_unit_test(test_audio_level_values),
        cmocka_unit_test(test_two_byte_form),
        cmocka_unit_test(test_write_round_trip),
        cmocka_unit_test(test_in_place_rewrite_and_rtx),
        cmocka_unit_test(test_rtx_round_trip_and_strip),
        cmocka_unit_test(test_truncations_and_lies),
    };
    return cmocka_run_group_tests_name("rtp", tests, NULL, NULL);
}
