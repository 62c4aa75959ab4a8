/* The router on a virtual clock: publishers' packets and subscribers' RTCP
 * go in as bytes with a time, and every assertion is about what comes out
 * of its queue. No sockets, no sleeps. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "router_fx.h"

#include "parley/buf.h"
#include "parley/router.h"
#include "parley/rtcp.h"
#include "parley/rtp.h"

/* Forwarded copies are the publisher's packets under the route's SSRC and
 * payload type, without the publisher's header extensions. */
static void test_forwarding_rewrites_ssrc_and_strips_extensions(void **state)
{
    fx *f = *state;
    meeting(f, false);
    uint8_t buf[1500];
    size_t len = rtp(buf, VIDEO_SSRC, 96, 1000, 9000, "1", -1);
    pl_router_handle_rtp(f->r, 10000, PUB, buf, len);
    assert_int_equal(drain(f), 1);
    assert_int_equal(f->outs[0].o.kind, PL_ROUTER_OUT_RTP);
    assert_int_equal(f->outs[0].o.reason, PL_ROUTER_MEDIA);
    assert_int_equal(f->outs[0].o.transport, SUB);
    pl_rtp_header h = parsed(&f->outs[0]);
    assert_int_equal(h.ssrc, OUT_SSRC);
    assert_int_equal(h.payload_type, 100);
    assert_int_equal(h.seq, 1000);
    assert_int_equal(h.timestamp, 9000);
    assert_false(h.extension);
    assert_int_equal(h.payload_len, 100);
}

/* The publisher restarts its camera: a new SSRC with its own numbers. The
 * subscriber's stream goes on with the next sequence number and a timestamp
 * advanced by the time that passed, and later packets follow on. */
static void test_source_switch_keeps_numbers_continuous(void **state)
{
    fx *f = *state;
    meeting(f, false);
    int64_t now = 0;
    for (uint16_t i = 0; i < 10; i++, now += 33000) {
        publish(f, now, VIDEO_SSRC, (uint16_t)(65530 + i), 1000000u + i * 3000u);
        assert_int_equal(f->n, 1);
    }
    pl_rtp_header last = parsed(&f->outs[0]);
    assert_int_equal(last.seq, (uint16_t)(65530 + 9));
    pl_track t = video_track();
    t.ssrc = 0x9999;
    t.rtx_ssrc = 0;
    t.rtx_pt = 0;
    assert_int_equal(pl_router_set_tracks(f->r, PUB, &t, 1), PL_OK);
    drain(f);
    /* 100 ms later the new source starts at random numbers. */
    now += 100000 - 33000;
    publish_key(f, now, 0x9999, 5, 777);
    assert_int_equal(f->n, 1);
    pl_rtp_header h = parsed(&f->outs[0]);
    assert_int_equal(h.ssrc, OUT_SSRC);
    assert_int_equal(h.seq, (uint16_t)(last.seq + 1));
    /* 100 ms at 90 kHz after the last timestamp sent. */
    assert_int_equal(h.timestamp, last.timestamp + 9000);
    publish(f, now + 33000, 0x9999, 6, 777 + 3000);
    h = parsed(&f->outs[0]);
    assert_int_equal(h.seq, (uint16_t)(last.seq + 2));
    assert_int_equal(h.timestamp, last.timestamp + 9000 + 3000);
}

static void nack_for(pl_wbuf *w, uint32_t media, const uint16_t *lost, size_t n)
{
    pl_rtcp_write_rr(w, &(pl_rtcp_rr){.ssrc = 0x77});
    pl_rtcp_nack nack = {.sender_ssrc = 0x77, .media_ssrc = media};
    nack.n_items = pl_rtcp_nack_pack(lost, n, nack.items, PL_RTCP_MAX_NACK);
    pl_rtcp_write_nack(w, &nack);
}

/* After a source switch the route's numbers are offset from the source's;
 * a subscriber's NACK in its own numbers is answered from the cache with
 * the packet it asked for, as RTX carrying that number when negotiated. */
static void test_nack_answered_through_offset(void **state)
{
    fx *f = *state;
    meeting(f, true);
    publish(f, 0, VIDEO_SSRC, 10, 100);
    publish(f, 1000, VIDEO_SSRC, 11, 100);
    pl_track t = video_track();
    t.ssrc = 0x4444;
    pl_router_set_tracks(f->r, PUB, &t, 1);
    drain(f);
    for (uint16_t s = 500; s < 505; s++)
        (s == 500 ? publish_key : publish)(f, 40000 + s, 0x4444, s, 90000);
    /* Output numbers 12..16 carry source numbers 500..504. */
    uint16_t lost[] = {13, 15};
    uint8_t buf[256];
    pl_wbuf w = pl_wbuf_make(buf, sizeof(buf));
    nack_for(&w, OUT_SSRC, lost, 2);
    subscriber_rtcp(f, 60000, SUB, &w);
    assert_int_equal(count(f, PL_ROUTER_RESENT, SUB), 2);
    for (size_t i = 0; i < 2; i++) {
        pl_rtp_header h = parsed(&f->outs[i]);
        assert_int_equal(h.ssrc, OUT_RTX_SSRC);
        assert_int_equal(h.payload_type, 101);
        uint16_t osn;
        assert_int_equal(pl_rtp_rtx_osn(f->outs[i].buf, &h, &osn), PL_OK);
        assert_int_equal(osn, lost[i]);
        /* The payload is the source packet's (its first byte is its seq). */
        assert_int_equal(f->outs[i].buf[h.header_len + 2], (uint8_t)(501 + 2 * i));
        assert_int_equal(h.seq, (uint16_t)i); /* the RTX stream's own numbers */
    }
    /* Without RTX on the route: the packet again, in the stream itself,
     * a round trip and a half after the first resend (sooner, a copy
     * might arrive twice: a replay to SRTP). */
    pl_route rt = video_route(PUB, OUT_SSRC, false);
    pl_router_set_routes(f->r, SUB, &rt, 1, 70000);
    drain(f);
    subscriber_rtcp(f, 170000, SUB, &w);
    assert_int_equal(count(f, PL_ROUTER_RESENT, SUB), 0);
    drain(f);
    subscriber_rtcp(f, 210000, SUB, &w);
    assert_int_equal(count(f, PL_ROUTER_RESENT, SUB), 2);
    pl_rtp_header h = parsed(&f->outs[0]);
    assert_int_equal(h.ssrc, OUT_SSRC);
    assert_int_equal(h.seq, 13);
    assert_int_equal(h.payload_type, 100);
    /* A number the cache never held (before the switch) gets nothing. */
    uint16_t gone[] = {11};
    w = pl_wbuf_make(buf, sizeof(buf));
    nack_for(&w, OUT_SSRC, gone, 1);
    subscriber_rtcp(f, 180000, SUB, &w);
    assert_int_equal(count(f, PL_ROUTER_RESENT, SUB), 0);
}

/* A gap in a publisher's numbers is asked for with a NACK naming exactly
 * the missing packets; the retransmission (RTX) fills it and is forwarded
 * as the original. */
static void test_upstream_gap_is_nacked(void **state)
{
    fx *f = *state;
    meeting(f, false);
    int64_t now = 1000;
    publish(f, now, VIDEO_SSRC, 100, 0);
    publish(f, now + 1000, VIDEO_SSRC, 101, 0);
    publish(f, now + 2000, VIDEO_SSRC, 104, 0); /* 102 and 103 lost */
    pl_rtcp_packet *p = malloc(sizeof(*p));
    bool nacked = false;
    for (int64_t t = now + 2000; t < now + 200000 && !nacked;) {
        t = pl_router_next_timeout(f->r);
        pl_router_handle_timeout(f->r, t);
        drain(f);
        for (size_t i = 0; i < f->n && !nacked; i++)
            if (f->outs[i].o.reason == PL_ROUTER_NACK) {
                assert_int_equal(f->outs[i].o.transport, PUB);
                assert_true(rtcp_find(&f->outs[i], PL_RTCP_K_NACK, p));
                assert_int_equal(p->u.nack.media_ssrc, VIDEO_SSRC);
                uint16_t lost[8];
                assert_int_equal(pl_rtcp_nack_lost(&p->u.nack, lost, 8), 2);
                assert_int_equal(lost[0], 102);
                assert_int_equal(lost[1], 103);
                nacked = true;
            }
    }
    assert_true(nacked);
    free(p);
    /* The publisher resends 102 on its RTX stream. */
    uint8_t orig[1500], rtxp[1500];
    size_t len = rtp(orig, VIDEO_SSRC, 96, 102, 0, NULL, -1);
    pl_rtp_header h;
    assert_int_equal(pl_rtp_parse(orig, len, &h), PL_OK);
    int n = pl_rtp_rtx_wrap(orig, &h, VIDEO_RTX_SSRC, 97, 1, rtxp, sizeof(rtxp));
    pl_router_handle_rtp(f->r, now + 150000, PUB, rtxp, (size_t)n);
    assert_int_equal(drain(f), 1);
    pl_rtp_header fwd = parsed(&f->outs[0]);
    assert_int_equal(fwd.seq, 102);
    assert_int_equal(fwd.payload_type, 100);
    assert_int_equal(fwd.ssrc, OUT_SSRC);
    /* Again: a duplicate, not forwarded twice. */
    pl_router_handle_rtp(f->r, now + 151000, PUB, rtxp, (size_t)n);
    assert_int_equal(drain(f), 0);
    pl_router_stats st;
    pl_router_stats_get(f->r, &st);
    assert_int_equal(st.duplicates, 1);
}

/* Ten subscribers asking for a keyframe within 300 ms: one PLI goes to the
 * publisher at once, the rest are merged into one more at the end of the
 * interval, and none after. */
static void test_ten_plis_become_one(void **state)
{
    fx *f = *state;
    assert_int_equal(pl_router_add_transport(f->r, PUB), PL_OK);
    pl_track t = video_track();
    pl_router_set_tracks(f->r, PUB, &t, 1);
    pl_router_set_connected(f->r, PUB, 0);
    drain(f);
    for (uint64_t s = 0; s < 10; s++) {
        assert_int_equal(pl_router_add_transport(f->r, SUB + s), PL_OK);
        pl_route rt = video_route(PUB, OUT_SSRC, false);
        pl_router_set_routes(f->r, SUB + s, &rt, 1, 0);
        drain(f);
    }
    /* Subscribers are not connected yet: connecting asks for keyframes,
     * and so do their PLIs, all within 300 ms of the first. */
    int64_t start = 1000000;
    size_t plis = 0;
    for (uint64_t s = 0; s < 10; s++) {
        int64_t now = start + (int64_t)s * 25000;
        pl_router_set_connected(f->r, SUB + s, now);
        drain(f);
        plis += count(f, PL_ROUTER_KEYFRAME, PUB);
        uint8_t buf[64];
        pl_wbuf w = pl_wbuf_make(buf, sizeof(buf));
        pl_rtcp_write_pli(&w, &(pl_rtcp_pli){.sender_ssrc = 9, .media_ssrc = OUT_SSRC});
        subscriber_rtcp(f, now + 1000, SUB + s, &w);
        plis += count(f, PL_ROUTER_KEYFRAME, PUB);
    }
    assert_int_equal(plis, 1);
    pl_rtcp_packet p;
    /* The merged request at the end of the interval, then nothing. */
    size_t later = 0;
    for (int64_t now = start; now < start + 2000000;) {
        now = pl_router_next_timeout(f->r);
        pl_router_handle_timeout(f->r, now);
        drain(f);
        for (size_t i = 0; i < f->n; i++)
            if (f->outs[i].o.reason == PL_ROUTER_KEYFRAME) {
                assert_true(rtcp_find(&f->outs[i], PL_RTCP_K_PLI, &p));
                assert_int_equal(p.u.pli.media_ssrc, VIDEO_SSRC);
                assert_true(now >= start + PL_ROUTER_KEYFRAME_INTERVAL_US);
                later++;
            }
    }
    assert_int_equal(later, 1);
}

/* A subscriber's SR carries the publisher's NTP time and its RTP time moved
 * by the route's timestamp offset, and counts what the route sent. */
static void test_sr_mapped_through_offset(void **state)
{
    fx *f = *state;
    meeting(f, false);
    publish(f, 0, VIDEO_SSRC, 1, 50000);
    pl_track t = video_track();
    t.ssrc = 0x4444;
    pl_router_set_tracks(f->r, PUB, &t, 1);
    drain(f);
    publish_key(f, 100000, 0x4444, 1, 7000000); /* offset: 50000 + 9000 - 7000000 */
    publish(f, 133000, 0x4444, 2, 7003000);
    uint32_t offset = 50000u + 9000u - 7000000u;
    /* The publisher's SR for its new source. */
    uint8_t buf[128];
    pl_wbuf w = pl_wbuf_make(buf, sizeof(buf));
    uint64_t ntp = 0x0123456700000000ull;
    pl_rtcp_write_sr(&w, &(pl_rtcp_sr){.ssrc = 0x4444, .ntp = ntp, .rtp_ts = 7003000});
    subscriber_rtcp(f, 140000, PUB, &w);
    pl_rtcp_packet *p = malloc(sizeof(*p));
    bool seen = false;
    for (int64_t now = 140000; now < 3000000 && !seen;) {
        now = pl_router_next_timeout(f->r);
        pl_router_handle_timeout(f->r, now);
        drain(f);
        for (size_t i = 0; i < f->n && !seen; i++) {
            if (f->outs[i].o.transport != SUB || f->outs[i].o.kind != PL_ROUTER_OUT_RTCP ||
                !rtcp_find(&f->outs[i], PL_RTCP_K_SR, p))
                continue;
            int64_t elapsed = now - 140000;
            assert_int_equal(p->u.sr.ssrc, OUT_SSRC);
            assert_int_equal(p->u.sr.rtp_ts,
                             (uint32_t)(7003000u + offset + (uint32_t)(elapsed * 90000 / 1000000)));
            assert_true(p->u.sr.ntp > ntp);
            assert_int_equal(p->u.sr.packet_count, 3);
            assert_int_equal(p->u.sr.octet_count, 300);
            seen = true;
        }
    }
    assert_true(seen);
    free(p);
}

/* A paused route gets nothing: no media, no keyframe requests for it, no
 * sender reports; unpaused, media flows again. */
static void test_paused_route_forwards_nothing(void **state)
{
    fx *f = *state;
    meeting(f, false);
    pl_route rt = video_route(PUB, OUT_SSRC, false);
    rt.paused = true;
    pl_router_set_routes(f->r, SUB, &rt, 1, 1000);
    assert_int_equal(drain(f), 0);
    for (uint16_t s = 0; s < 20; s++) {
        publish(f, 2000 + s * 1000, VIDEO_SSRC, s, s * 3000u);
        assert_int_equal(f->n, 0);
    }
    for (int64_t now = 30000; now < 3000000;) {
        now = pl_router_next_timeout(f->r);
        pl_router_handle_timeout(f->r, now);
        drain(f);
        assert_int_equal(count(f, PL_ROUTER_REPORT, SUB), 0);
        assert_int_equal(count(f, PL_ROUTER_MEDIA, SUB), 0);
    }
    rt.paused = false;
    pl_router_set_routes(f->r, SUB, &rt, 1, 3000000);
    drain(f);
    assert_int_equal(count(f, PL_ROUTER_KEYFRAME, PUB), 1);
    publish(f, 3001000, VIDEO_SSRC, 20, 60000);
    assert_int_equal(count(f, PL_ROUTER_MEDIA, SUB), 1);
}

/* A publisher that signalled no SSRC: its packets are bound to the track by
 * the MID header extension, and the SSRC is kept when the extension stops;
 * a packet with an unknown SSRC and no MID is dropped and counted. */
static void test_unsignalled_ssrc_bound_by_mid(void **state)
{
    fx *f = *state;
    assert_int_equal(pl_router_add_transport(f->r, PUB), PL_OK);
    assert_int_equal(pl_router_add_transport(f->r, SUB), PL_OK);
    pl_track t = video_track();
    t.ssrc = 0;
    t.rtx_ssrc = 0;
    t.mid_ext = MID_EXT;
    pl_router_set_tracks(f->r, PUB, &t, 1);
    pl_route rt = video_route(PUB, OUT_SSRC, false);
    pl_router_set_routes(f->r, SUB, &rt, 1, 0);
    pl_router_set_connected(f->r, PUB, 0);
    pl_router_set_connected(f->r, SUB, 0);
    drain(f);
    uint8_t buf[1500];
    size_t len = rtp(buf, 0xabc, 96, 1, 0, NULL, -1);
    pl_router_handle_rtp(f->r, 1000, PUB, buf, len);
    assert_int_equal(drain(f), 0);
    len = rtp(buf, 0xabc, 96, 2, 0, "2", -1); /* another mid: not this track */
    pl_router_handle_rtp(f->r, 2000, PUB, buf, len);
    assert_int_equal(drain(f), 0);
    pl_router_stats st;
    pl_router_stats_get(f->r, &st);
    assert_int_equal(st.unknown_ssrc, 2);
    len = rtp(buf, 0xabc, 96, 3, 0, "1", -1);
    pl_router_handle_rtp(f->r, 3000, PUB, buf, len);
    assert_int_equal(drain(f), 1);
    len = rtp(buf, 0xabc, 96, 4, 0, NULL, -1); /* no MID any more */
    pl_router_handle_rtp(f->r, 4000, PUB, buf, len);
    assert_int_equal(drain(f), 1);
    assert_int_equal(parsed(&f->outs[0]).seq, 4);
    /* Its RTX stream is learned the same way, by payload type. */
    uint8_t orig[1500], rtxp[1500];
    len = rtp(orig, 0xabc, 96, 9, 0, NULL, -1);
    pl_rtp_header h;
    pl_rtp_parse(orig, len, &h);
    int n = pl_rtp_rtx_wrap(orig, &h, 0xdef, 97, 1, rtxp, sizeof(rtxp));
    pl_rtp_header rh;
    pl_rtp_parse(rtxp, (size_t)n, &rh);
    /* Tag the RTX packet with the mid: rebuild it with the extension. */
    uint8_t tagged[1500];
    pl_wbuf w = pl_wbuf_make(tagged, sizeof(tagged));
    pl_rtp_ext_spec e = {.id = MID_EXT, .data = "1", .len = 1};
    pl_rtp_write_header(&w, &rh, &e, 1);
    pl_wbuf_bytes(&w, rtxp + rh.header_len, rh.payload_len);
    pl_router_handle_rtp(f->r, 5000, PUB, tagged, w.len);
    assert_int_equal(drain(f), 1);
    assert_int_equal(parsed(&f->outs[0]).seq, 9);
    pl_router_stats_get(f->r, &st);
    assert_int_equal(st.unknown_ssrc, 2);
}

/* Loud audio makes its publisher a speaker; silence for the hold time
 * ends it. */
static void test_audio_level_speaking(void **state)
{
    fx *f = *state;
    assert_int_equal(pl_router_add_transport(f->r, PUB2), PL_OK);
    pl_track a = {.mid = "0", .ssrc = AUDIO_SSRC, .pt = 111, .audio_level_ext = LEVEL_EXT};
    pl_router_set_tracks(f->r, PUB2, &a, 1);
    pl_router_set_connected(f->r, PUB2, 0);
    drain(f);
    uint8_t buf[1500];
    int64_t now = 0;
    int64_t started = -1, stopped = -1;
    for (uint16_t s = 0; now < 4000000; s++, now += 20000) {
        int level = now < 1000000 ? 30 : 127; /* loud for a second, then silent */
        size_t len = rtp(buf, AUDIO_SSRC, 111, s, s * 960u, NULL, level);
        pl_router_handle_rtp(f->r, now, PUB2, buf, len);
        drain(f);
        if (pl_router_next_timeout(f->r) <= now) {
            pl_router_handle_timeout(f->r, now);
            drain(f);
            for (size_t i = 0; i < f->n; i++) {
                if (f->outs[i].o.kind != PL_ROUTER_OUT_SPEAKING)
                    continue;
                assert_int_equal(f->outs[i].o.transport, PUB2);
                if (f->outs[i].o.speaking) {
                    assert_int_equal(f->outs[i].o.level, 30);
                    started = now;
                } else {
                    stopped = now;
                }
            }
        }
    }
    assert_true(started >= 0 && started <= PL_ROUTER_SPEAKER_CHECK_US);
    assert_true(stopped >= 1000000 + PL_ROUTER_SPEAKING_HOLD_US);
    assert_true(stopped <= 1000000 + PL_ROUTER_SPEAKING_HOLD_US + PL_ROUTER_SPEAKER_CHECK_US);
}

/* Removing a publisher leaves its subscribers' routes unresolved (nothing
 * is forwarded or requested through them) and garbage from unknown
 * transports is counted, not followed. */
static void test_removed_publisher_and_unknown_transport(void **state)
{
    fx *f = *state;
    meeting(f, false);
    pl_router_remove_transport(f->r, PUB);
    uint8_t buf[1500];
    size_t len = rtp(buf, VIDEO_SSRC, 96, 1, 0, NULL, -1);
    pl_router_handle_rtp(f->r, 1000, PUB, buf, len);
    assert_int_equal(drain(f), 0);
    uint8_t pli[64];
    pl_wbuf w = pl_wbuf_make(pli, sizeof(pli));
    pl_rtcp_write_pli(&w, &(pl_rtcp_pli){.sender_ssrc = 9, .media_ssrc = OUT_SSRC});
    subscriber_rtcp(f, 2000, SUB, &w);
    assert_int_equal(f->n, 0);
    pl_router_handle_rtp(f->r, 3000, SUB, (const uint8_t *)"\x80", 1);
    assert_int_equal(drain(f), 0);
    pl_router_stats st;
    pl_router_stats_get(f->r, &st);
    assert_int_equal(st.unroutable, 1);
    assert_int_equal(st.malformed, 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_forwarding_rewrites_ssrc_and_strips_extensions, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_source_switch_keeps_numbers_continuous, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_nack_answered_through_offset, setup, teardown),
        cmocka_unit_test_setup_teardown(test_upstream_gap_is_nacked, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ten_plis_become_one, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sr_mapped_through_offset, setup, teardown),
        cmocka_unit_test_setup_teardown(test_paused_route_forwards_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unsignalled_ssrc_bound_by_mid, setup, teardown),
        cmocka_unit_test_setup_teardown(test_audio_level_speaking, setup, teardown),
        cmocka_unit_test_setup_teardown(test_removed_publisher_and_unknown_transport, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
