#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "parley/demux.h"

static enum pl_demux_kind first(uint8_t b0, uint8_t b1)
{
    uint8_t p[16] = {b0, b1};
    return pl_demux_classify(p, sizeof(p));
}

/* Every first-byte value lands where RFC 7983 section 7 puts it. */
static void test_rfc7983_ranges(void **state)
{
    (void)state;
    for (int b = 0; b < 256; b++) {
        enum pl_demux_kind want;
        if (b <= 3)
            want = PL_DEMUX_STUN;
        else if (b >= 16 && b <= 19)
            want = PL_DEMUX_ZRTP;
        else if (b >= 20 && b <= 63)
            want = PL_DEMUX_DTLS;
        else if (b >= 64 && b <= 79)
            want = PL_DEMUX_TURN;
        else if (b >= 128 && b <= 191)
            want = PL_DEMUX_RTP; /* second byte 96 is an RTP payload type */
        else
            want = PL_DEMUX_UNKNOWN;
        assert_int_equal(first((uint8_t)b, 96), want);
    }
}

/* RFC 5761 4: packet types 192..223 are RTCP, with or without the marker bit
 * reading; 96..127 and 0..63 are RTP payload types. */
static void test_rtp_rtcp_split(void **state)
{
    (void)state;
    for (int pt = 0; pt < 256; pt++) {
        int masked = pt & 0x7f;
        enum pl_demux_kind want = masked >= 64 && masked <= 95 ? PL_DEMUX_RTCP : PL_DEMUX_RTP;
        assert_int_equal(first(0x80, (uint8_t)pt), want);
    }
    assert_int_equal(first(0x81, 200), PL_DEMUX_RTCP);       /* SR */
    assert_int_equal(first(0x81, 205), PL_DEMUX_RTCP);       /* RTPFB */
    assert_int_equal(first(0x80, 0x80 | 111), PL_DEMUX_RTP); /* Opus with marker */
}

static void test_short_datagrams(void **state)
{
    (void)state;
    uint8_t p[16] = {0x80, 96};
    assert_int_equal(pl_demux_classify(p, 0), PL_DEMUX_UNKNOWN);
    for (size_t n = 1; n < 12; n++)
        assert_int_equal(pl_demux_classify(p, n), PL_DEMUX_UNKNOWN);
    assert_int_equal(pl_demux_classify(p, 12), PL_DEMUX_RTP);
    p[1] = 201;
    for (size_t n = 1; n < 8; n++)
        assert_int_equal(pl_demux_classify(p, n), PL_DEMUX_UNKNOWN);
    assert_int_equal(pl_demux_classify(p, 8), PL_DEMUX_RTCP);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rfc7983_ranges),
        cmocka_unit_test(test_rtp_rtcp_split),
        cmocka_unit_test(test_short_datagrams),
    };
    return cmocka_run_group_tests_name("demux", tests, NULL, NULL);
}
