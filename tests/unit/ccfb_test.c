/* The bot's transport-wide feedback (tools/bot/ccfb.c): packets stamped as
 * the relay's pacer stamps them come back to the sender as feedback that
 * parses, every number in order, losses as losses, arrival times intact;
 * and the bot's answer to the server's own offer keeps the extension the
 * relay stamps, with transport-cc feedback. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "parley/buf.h"
#include "parley/rtcp.h"
#include "parley/rtp.h"
#include "parley/sdp.h"
#include "parley/twcc.h"
#include "bot_sdp.h"
#include "ccfb.h"

typedef struct fx {
    uint64_t seed;
    pl_env env;
    pl_ccfb *fb;
    pl_rtcp_packet *parsed;
} fx;

static int setup(void **state)
{
    fx *f = calloc(1, sizeof(*f));
    f->env = pl_env_seeded(&f->seed, 5);
    f->fb = pl_ccfb_create(&f->env);
    f->parsed = malloc(sizeof(*f->parsed));
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fx *f = *state;
    pl_ccfb_destroy(f->fb);
    free(f->parsed);
    free(f);
    return 0;
}

/* An RTP packet with the transport-wide number under extension id `ext`
 * (0: none), and a second extension ahead of it, as a browser's would be. */
static bool arrive(fx *f, uint8_t ext, uint16_t twseq, int64_t at)
{
    uint8_t pkt[200], tw[2], level = 0x85;
    pl_put_u16(tw, twseq);
    pl_rtp_ext_spec exts[2] = {{.id = 1, .data = &level, .len = 1},
                               {.id = ext, .data = tw, .len = 2}};
    pl_rtp_header h = {.payload_type = 96, .seq = twseq, .timestamp = 1, .ssrc = 0x1234};
    pl_wbuf w = pl_wbuf_make(pkt, sizeof(pkt));
    pl_rtp_write_header(&w, &h, exts, ext ? 2 : 1);
    for (int i = 0; i < 50; i++)
        pl_wbuf_u8(&w, 0xaa);
    assert_true(pl_wbuf_ok(&w));
    pl_rtp_header parsed;
    assert_int_equal(pl_rtp_parse(pkt, w.len, &parsed), PL_OK);
    return pl_ccfb_rtp(f->fb, pkt, &parsed, at);
}

/* Parses what the bot would send: exactly one feedback packet. */
static const pl_rtcp_twcc *parse(fx *f, const uint8_t *buf, size_t len)
{
    assert_true(len > 0);
    assert_int_equal(pl_rtcp_validate(buf, len), PL_OK);
    pl_rtcp_iter it;
    pl_rtcp_iter_init(&it, buf, len);
    assert_int_equal(pl_rtcp_next(&it, f->parsed), 1);
    assert_int_equal(f->parsed->kind, PL_RTCP_K_TWCC);
    assert_int_equal(it.r.len - it.r.pos, 0); /* nothing after it */
    return &f->parsed->u.twcc;
}

/* Without a negotiated extension nothing is recorded or sent; with it,
 * feedback is due within the builder's interval of the first arrival and
 * tells every number, the dropped one as lost, the arrivals within a
 * 250 us tick. */
static void test_feedback_round_trip(void **state)
{
    fx *f = *state;
    int64_t t0 = 3000000 + 11;
    uint8_t buf[1280];
    assert_false(arrive(f, 3, 7, t0));
    assert_int_equal(pl_ccfb_next(f->fb), INT64_MAX);
    pl_ccfb_set_ext(f->fb, 3);
    assert_int_equal(pl_ccfb_ext(f->fb), 3);
    assert_false(arrive(f, 0, 7, t0)); /* a packet without it */
    for (int i = 0; i < 60; i++)
        if (i != 17)
            assert_true(arrive(f, 3, (uint16_t)(65500 + i), t0 + i * 2100));
    int64_t due = pl_ccfb_next(f->fb);
    assert_true(due > t0 && due <= t0 + PL_TWCC_INTERVAL_US);
    assert_int_equal(pl_ccfb_poll(f->fb, due - 1, 1, 0, buf, sizeof(buf)), 0);
    size_t len = pl_ccfb_poll(f->fb, t0 + 200000, 1, 0, buf, sizeof(buf));
    const pl_rtcp_twcc *t = parse(f, buf, len);
    assert_int_equal(t->base_seq, 65500);
    assert_int_equal(t->n_packets, 60);
    int64_t at = (int64_t)t->reference_time * 64000;
    for (int i = 0; i < 60; i++) {
        assert_int_equal(t->packets[i].seq, (uint16_t)(65500 + i));
        assert_int_equal(t->packets[i].received, i != 17);
        if (!t->packets[i].received)
            continue;
        at += t->packets[i].delta_us;
        int64_t want = t0 + i * 2100;
        assert_true(at - want <= 250 && want - at <= 250);
    }
    /* Nothing new: nothing to send. */
    assert_int_equal(pl_ccfb_poll(f->fb, t0 + 400000, 1, 0, buf, sizeof(buf)), 0);
    pl_ccfb_stats st;
    pl_ccfb_stats_get(f->fb, &st);
    assert_int_equal(st.packets, 59);
    assert_int_equal(st.feedbacks, 1);
    assert_int_equal(st.reported, 60);
    assert_int_equal(st.lost, 1);
}

/* More than one feedback's worth arrives at once (a stalled media
 * thread): it goes out as several packets in a row, each fitting the
 * buffer, continuing where the last stopped. */
static void test_backlog_in_several_packets(void **state)
{
    fx *f = *state;
    pl_ccfb_set_ext(f->fb, 5);
    for (int i = 0; i < 1000; i++)
        assert_true(arrive(f, 5, (uint16_t)i, 1000000 + i * 300));
    uint8_t buf[1280];
    uint16_t next = 0;
    int packets = 0;
    size_t len;
    while ((len = pl_ccfb_poll(f->fb, 2000000, 1, 0, buf, sizeof(buf))) > 0) {
        const pl_rtcp_twcc *t = parse(f, buf, len);
        assert_int_equal(t->base_seq, next);
        next = (uint16_t)(next + t->n_packets);
        packets++;
    }
    assert_int_equal(next, 1000);
    assert_true(packets >= 3);
}

/* A new extension id (a new negotiation) forgets the old record. */
static void test_new_ext_forgets(void **state)
{
    fx *f = *state;
    pl_ccfb_set_ext(f->fb, 3);
    assert_true(arrive(f, 3, 100, 1000000));
    pl_ccfb_set_ext(f->fb, 0);
    pl_ccfb_set_ext(f->fb, 3);
    assert_int_equal(pl_ccfb_next(f->fb), INT64_MAX);
    assert_true(arrive(f, 3, 9000, 2000000));
    uint8_t buf[1280];
    const pl_rtcp_twcc *t = parse(f, buf, pl_ccfb_poll(f->fb, 2200000, 1, 0, buf, sizeof(buf)));
    assert_int_equal(t->base_seq, 9000);
    assert_int_equal(t->n_packets, 1);
}

/* The bot answers the relay's subscribe offer keeping its transport-wide
 * extension id in every section, with transport-cc feedback: what the
 * relay needs to stamp and estimate. */
static void test_answer_keeps_transport_cc(void **state)
{
    fx *f = *state;
    pl_sdp_local srv = {.ice_ufrag = "srvu",
                        .ice_pwd = "srvpasswordsrvpassword",
                        .fp_alg = "sha-256",
                        .fp = "AA:BB:CC:DD:EE:FF:00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF:"
                              "00:11:22:33:44:55:66:77:88:99",
                        .address = "127.0.0.1",
                        .port = 5000,
                        .session_id = 1,
                        .version = 1};
    pl_sdp_offer_section sec[2] = {{.mid = "0",
                                    .kind = PL_SDP_AUDIO,
                                    .active = true,
                                    .stream_id = "s",
                                    .track_id = "a",
                                    .ssrc = 11},
                                   {.mid = "1",
                                    .kind = PL_SDP_VIDEO,
                                    .active = true,
                                    .stream_id = "s",
                                    .track_id = "v",
                                    .ssrc = 12,
                                    .rtx_ssrc = 13}};
    static char text[16384], answer[16384];
    int n = pl_sdp_write_offer(&srv, sec, 2, text, sizeof(text));
    assert_true(n > 0);
    pl_sdp_desc *offer = pl_sdp_desc_create(&f->env), *ans = pl_sdp_desc_create(&f->env);
    assert_int_equal(pl_sdp_parse(offer, text, (size_t)n), PL_OK);
    int offered = pl_sdp_find_extmap(&offer->media[0], PL_RTP_URI_TWCC);
    assert_true(offered > 0);
    pl_bot_sdp_local l = {.ice_ufrag = "botu",
                          .ice_pwd = "botpasswordbotpassword",
                          .fingerprint = srv.fp,
                          .cname = "bot-0",
                          .stream_id = "bot-0",
                          .session_id = 2};
    int a = pl_bot_sdp_answer(offer, &l, answer, sizeof(answer));
    assert_true(a > 0);
    assert_int_equal(pl_sdp_parse(ans, answer, (size_t)a), PL_OK);
    assert_int_equal(ans->n_media, 2);
    for (size_t i = 0; i < 2; i++) {
        const pl_sdp_media *m = &ans->media[i];
        assert_int_equal(pl_sdp_find_extmap(m, PL_RTP_URI_TWCC), offered);
        bool fb = false;
        for (size_t k = 0; k < m->n_fb; k++)
            fb = fb ||
                 (strcmp(m->fb[k].value, "transport-cc") == 0 && m->fb[k].pt == m->codecs[0].pt);
        assert_true(fb);
    }
    pl_sdp_desc_destroy(&f->env, offer);
    pl_sdp_desc_destroy(&f->env, ans);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_feedback_round_trip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_backlog_in_several_packets, setup, teardown),
        cmocka_unit_test_setup_teardown(test_new_ext_forgets, setup, teardown),
        cmocka_unit_test_setup_teardown(test_answer_keeps_transport_cc, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
