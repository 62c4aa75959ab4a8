/* Loss repair toward a subscriber inside its budget, on the downlink
 * fixture (downlink_fx.h): a packet is resent at most once per round
 * trip, and a repair that would cost more than a key frame asks for the
 * key frame instead. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "downlink_fx.h"
#include "parley/buf.h"

static void nack(sim *s, const uint16_t *lost, size_t n)
{
    uint8_t buf[512];
    pl_wbuf w = pl_wbuf_make(buf, sizeof(buf));
    pl_rtcp_write_rr(&w, &(pl_rtcp_rr){.ssrc = SUB_SSRC});
    pl_rtcp_nack nk = {.sender_ssrc = SUB_SSRC, .media_ssrc = 0x102};
    nk.n_items = pl_rtcp_nack_pack(lost, n, nk.items, PL_RTCP_MAX_NACK);
    pl_rtcp_write_nack(&w, &nk);
    pl_router_handle_rtcp(s->r, s->now, SUB, w.data, w.len);
    pump(s);
}

/* A packet resent less than a round trip ago (100 ms until measured) is
 * not resent again on a second NACK; after a round trip it is. */
static void test_nack_repeat_within_rtt(void **state)
{
    sim *s = *state;
    const uint64_t bps[1] = {600000};
    add_publisher(s, bps, 1);
    set_routes(s, 0);
    pump(s);
    run(s, 1000000);
    uint16_t lost = s->vseq[s->n_vseq - 1];
    nack(s, &lost, 1);
    assert_int_equal(s->resent, 1);
    s->now += 50000;
    nack(s, &lost, 1);
    assert_int_equal(s->resent, 1);
    pl_router_stats st;
    pl_router_stats_get(s->r, &st);
    assert_int_equal(st.nack_repeats, 1);
    s->now += 60000;
    nack(s, &lost, 1);
    assert_int_equal(s->resent, 2);
}

/* A NACK asking for more bytes than the layer's last key frame is
 * answered with a key frame request to the publisher, not with resends;
 * one asking for less is resent. */
static void test_big_nack_becomes_keyframe(void **state)
{
    sim *s = *state;
    const uint64_t bps[1] = {600000};
    add_publisher(s, bps, 1);
    set_routes(s, 0);
    pump(s);
    run(s, 1000000);
    /* A key frame is three frames: about 7.5 kB. Ask for 16 packets, more
     * than five frames' worth. */
    uint16_t lost[16];
    for (size_t i = 0; i < 16; i++)
        lost[i] = s->vseq[s->n_vseq - 16 + i];
    uint64_t plis = s->plis;
    nack(s, lost, 16);
    assert_int_equal(s->resent, 0);
    assert_int_equal(s->plis, plis + 1);
    pl_router_stats st;
    pl_router_stats_get(s->r, &st);
    assert_int_equal(st.nack_keyframes, 1);
    /* Four packets: resent. */
    nack(s, lost, 4);
    assert_int_equal(s->resent, 4);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_nack_repeat_within_rtt, setup, teardown),
        cmocka_unit_test_setup_teardown(test_big_nack_becomes_keyframe, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
