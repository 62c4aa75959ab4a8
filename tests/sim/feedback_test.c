/* The router's feedback to publishers on a virtual clock: transport-wide
 * congestion control feedback, or REMB for a publisher without it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "parley/rxbwe.h"
#include "router_fx.h"

/* A publisher that negotiated transport-cc gets feedback about every
 * 100 ms naming each transport-wide number that arrived, RTX padding
 * probes and packets of no track included, with their arrival times. */
static void test_transport_wide_feedback(void **state)
{
    fx *f = *state;
    assert_int_equal(pl_router_add_transport(f->r, PUB), PL_OK);
    pl_track t = video_track();
    t.twcc_ext = 5;
    pl_router_set_tracks(f->r, PUB, &t, 1);
    pl_router_set_connected(f->r, PUB, 0);
    drain(f);
    uint8_t buf[1500];
    int64_t now = 1000000;
    uint16_t tw = 300;
    size_t feedbacks = 0, told = 0;
    int64_t last_fb = -1;
    pl_rtcp_packet *p = malloc(sizeof(*p));
    for (int i = 0; i < 100; i++, now += 5000) {
        /* Media, then every tenth packet a padding-only probe on the RTX
         * stream, and every 25th one of an SSRC nobody signalled. */
        uint32_t ssrc = i % 10 == 9 ? VIDEO_RTX_SSRC : i % 25 == 24 ? 0x7777 : VIDEO_SSRC;
        uint8_t twseq[2] = {(uint8_t)(tw >> 8), (uint8_t)tw};
        pl_rtp_ext_spec e = {.id = 5, .data = twseq, .len = 2};
        pl_wbuf w = pl_wbuf_make(buf, sizeof(buf));
        pl_rtp_header h = {.payload_type = ssrc == VIDEO_RTX_SSRC ? 97 : 96,
                           .seq = (uint16_t)i,
                           .ssrc = ssrc,
                           .padding = ssrc == VIDEO_RTX_SSRC};
        pl_rtp_write_header(&w, &h, &e, 1);
        if (ssrc == VIDEO_RTX_SSRC) {
            pl_wbuf_zeros(&w, 3);
            pl_wbuf_u8(&w, 4); /* padding only */
        } else {
            pl_wbuf_zeros(&w, 50);
        }
        tw++;
        pl_router_handle_rtp(f->r, now, PUB, buf, w.len);
        drain(f);
        if (pl_router_next_timeout(f->r) > now)
            continue;
        pl_router_handle_timeout(f->r, now);
        drain(f);
        for (size_t k = 0; k < f->n; k++) {
            if (f->outs[k].o.reason != PL_ROUTER_FEEDBACK)
                continue;
            assert_int_equal(f->outs[k].o.transport, PUB);
            assert_true(rtcp_find(&f->outs[k], PL_RTCP_K_TWCC, p));
            assert_int_equal(p->u.twcc.base_seq, (uint16_t)(300 + told));
            for (size_t j = 0; j < p->u.twcc.n_packets; j++)
                assert_true(p->u.twcc.packets[j].received);
            told += p->u.twcc.n_packets;
            if (last_fb >= 0)
                assert_true(now - last_fb >= 90000 && now - last_fb <= 120000);
            last_fb = now;
            feedbacks++;
        }
    }
    free(p);
    assert_true(feedbacks >= 4);
    assert_true(told >= 80);
    /* The two packets of no track were dropped, yet told as arrived. */
    pl_router_stats st;
    pl_router_stats_get(f->r, &st);
    assert_int_equal(st.unknown_ssrc, 2);
}

/* A publisher that takes REMB and no transport-wide feedback is told an
 * estimate with each receiver report: it grows while what it sends
 * arrives, and falls when a report says much was lost. One that has
 * transport-wide feedback gets none. */
static void test_remb_for_publishers_without_feedback(void **state)
{
    fx *f = *state;
    assert_int_equal(pl_router_add_transport(f->r, PUB), PL_OK);
    pl_track t = video_track();
    t.remb = true;
    pl_router_set_tracks(f->r, PUB, &t, 1);
    pl_router_set_connected(f->r, PUB, 0);
    drain(f);
    pl_rtcp_packet *p = malloc(sizeof(*p));
    uint64_t told[16];
    size_t n_told = 0;
    uint16_t seq = 0;
    int64_t now = 0;
    /* 8 s of 50 packets a second (about 60 kbit/s), the last two seconds
     * losing every other packet. */
    for (int i = 0; i < 400 && n_told < 16; i++, now += 20000) {
        if (i < 300 || i % 2 == 0)
            publish(f, now, VIDEO_SSRC, seq, (uint32_t)i * 1800);
        seq++;
        if (pl_router_next_timeout(f->r) > now)
            continue;
        pl_router_handle_timeout(f->r, now);
        drain(f);
        for (size_t k = 0; k < f->n; k++)
            if (f->outs[k].o.transport == PUB && f->outs[k].o.reason == PL_ROUTER_REPORT &&
                rtcp_find(&f->outs[k], PL_RTCP_K_REMB, p)) {
                assert_int_equal(p->u.remb.n_ssrcs, 1);
                assert_int_equal(p->u.remb.ssrcs[0], VIDEO_SSRC);
                told[n_told++] = p->u.remb.bitrate_bps;
            }
    }
    assert_true(n_told >= 7);
    /* A sender of 60 kbit/s is let grow, not given everything at once. */
    assert_true(told[0] >= PL_RXBWE_START_BPS);
    assert_true(told[4] > told[0]);
    assert_true(told[4] <= 2 * 70000 + PL_RXBWE_START_BPS);
    assert_true(told[n_told - 1] < told[4]); /* half lost */
    pl_router_stats st;
    pl_router_stats_get(f->r, &st);
    assert_int_equal(st.remb_sent, n_told);

    /* With transport-wide feedback negotiated: no REMB. */
    t.twcc_ext = 5;
    pl_router_set_tracks(f->r, PUB, &t, 1);
    for (int i = 0; i < 150; i++, now += 20000) {
        publish(f, now, VIDEO_SSRC, seq++, (uint32_t)i * 1800);
        if (pl_router_next_timeout(f->r) > now)
            continue;
        pl_router_handle_timeout(f->r, now);
        drain(f);
        for (size_t k = 0; k < f->n; k++)
            assert_false(rtcp_find(&f->outs[k], PL_RTCP_K_REMB, p));
    }
    free(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_transport_wide_feedback, setup, teardown),
        cmocka_unit_test_setup_teardown(test_remb_for_publishers_without_feedback, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
