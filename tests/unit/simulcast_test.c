/* The bot's simulcast sender (tools/bot/simulcast.c) and its offer: what a
 * relay that forwards layers relies on finding in the packets and the SDP. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "parley/rtcp.h"
#include "parley/rtp.h"
#include "parley/sdp.h"
#include "parley/vp8.h"
#include "bot_sdp.h"
#include "simulcast.h"

#define LOOP 12 /* frames per clip */
#define SENT 8  /* frames sent before the keyframe request */

typedef struct sent {
    uint8_t pkt[1500];
    size_t len;
} sent;

typedef struct capture {
    sent *pkts;
    size_t n, cap;
} capture;

static bool tx(void *user, uint8_t *pkt, size_t len, size_t cap)
{
    capture *c = user;
    assert_true(len <= cap);
    if (c->n < c->cap) {
        memcpy(c->pkts[c->n].pkt, pkt, len);
        c->pkts[c->n].len = len;
        c->n++;
    }
    return true;
}

static void ext_string(const uint8_t *pkt, const pl_rtp_header *h, uint8_t id, char *out)
{
    pl_rtp_ext e;
    out[0] = '\0';
    if (pl_rtp_ext_find(pkt, h, id, &e) == PL_OK)
        assert_int_equal(pl_rtp_ext_string(&e, out, 32), PL_OK);
}

static void test_layers_on_the_wire(void **state)
{
    (void)state;
    pl_env env = pl_env_default();
    pl_clip *clips[PL_SIM_LAYERS];
    assert_int_equal(pl_sim_clips_create(5, LOOP, 640, 360, clips), 0);
    pl_simsend *s = pl_simsend_create(&env, clips, "1");
    assert_non_null(s);
    capture c = {.pkts = calloc(2000, sizeof(sent)), .cap = 2000};
    for (unsigned f = 0; f < SENT; f++)
        pl_simsend_frame(s, 3000 * f, tx, &c);
    /* Per layer: one SSRC, the MID and its RID on every packet, frames
     * with consecutive picture ids and TL0PICIDX up by one on each TL0. */
    uint32_t ssrc[PL_SIM_LAYERS] = {0};
    unsigned frames[PL_SIM_LAYERS] = {0}, tl0_frames[PL_SIM_LAYERS] = {0};
    uint16_t first_pid[PL_SIM_LAYERS] = {0}, last_pid[PL_SIM_LAYERS] = {0};
    uint8_t first_tl0[PL_SIM_LAYERS] = {0}, last_tl0[PL_SIM_LAYERS] = {0};
    for (size_t i = 0; i < c.n; i++) {
        pl_rtp_header h;
        assert_int_equal(pl_rtp_parse(c.pkts[i].pkt, c.pkts[i].len, &h), PL_OK);
        assert_true(c.pkts[i].len <= 1200 - 10);
        assert_int_equal(h.payload_type, PL_BOT_VP8_PT);
        char mid[32], rid[32];
        ext_string(c.pkts[i].pkt, &h, PL_BOT_EXT_MID, mid);
        ext_string(c.pkts[i].pkt, &h, PL_BOT_EXT_RID, rid);
        assert_string_equal(mid, "1");
        unsigned l = 0;
        while (l < PL_SIM_LAYERS && strcmp(rid, pl_sim_rid(l)) != 0)
            l++;
        assert_true(l < PL_SIM_LAYERS);
        if (!ssrc[l])
            ssrc[l] = h.ssrc;
        assert_int_equal(h.ssrc, ssrc[l]);
        pl_vp8_desc d;
        assert_int_equal(pl_vp8_parse_descriptor(c.pkts[i].pkt + h.header_len, h.payload_len, &d),
                         PL_OK);
        assert_true(d.has_picture_id && d.picture_id_15 && d.has_tl0picidx && d.has_tid);
        if (!d.start)
            continue;
        static const uint8_t tid[4] = {0, 2, 1, 2};
        assert_int_equal(d.tid, tid[frames[l] % 4]);
        assert_int_equal(d.non_reference, d.tid == 2);
        assert_int_equal(d.keyframe, frames[l] == 0);
        if (frames[l] == 0) {
            first_pid[l] = d.picture_id;
            first_tl0[l] = d.tl0picidx;
        } else {
            assert_int_equal(d.picture_id, (last_pid[l] + 1) & 0x7fff);
            assert_int_equal(d.tl0picidx, (uint8_t)(last_tl0[l] + (d.tid == 0)));
        }
        tl0_frames[l] += d.tid == 0;
        last_pid[l] = d.picture_id;
        last_tl0[l] = d.tl0picidx;
        frames[l]++;
    }
    for (unsigned l = 0; l < PL_SIM_LAYERS; l++) {
        assert_int_equal(frames[l], SENT);
        assert_int_equal(tl0_frames[l], SENT / 4);
        assert_int_equal((uint16_t)(last_pid[l] - first_pid[l]), SENT - 1);
        assert_int_equal((uint8_t)(last_tl0[l] - first_tl0[l]), SENT / 4 - 1);
        for (unsigned k = 0; k < l; k++)
            assert_int_not_equal(ssrc[k], ssrc[l]);
    }

    /* A PLI for one layer's SSRC: only that layer starts again at its
     * keyframe; an SSRC of nobody is not ours. */
    assert_false(pl_simsend_keyframe(s, 12345, false));
    assert_true(pl_simsend_keyframe(s, ssrc[1], false));
    c.n = 0;
    pl_simsend_frame(s, 3000 * SENT, tx, &c);
    for (size_t i = 0; i < c.n; i++) {
        pl_rtp_header h;
        pl_rtp_parse(c.pkts[i].pkt, c.pkts[i].len, &h);
        pl_vp8_desc d;
        pl_vp8_parse_descriptor(c.pkts[i].pkt + h.header_len, h.payload_len, &d);
        if (d.start)
            assert_int_equal(d.keyframe, h.ssrc == ssrc[1]);
    }

    /* A NACK for the f layer: its lost packet comes back on its own RTX
     * stream with the repaired RID, the original sequence number and
     * payload. */
    pl_rtp_header orig;
    size_t oi = 0;
    while (true) {
        assert_int_equal(pl_rtp_parse(c.pkts[oi].pkt, c.pkts[oi].len, &orig), PL_OK);
        if (orig.ssrc == ssrc[2])
            break;
        oi++;
    }
    sent lost = c.pkts[oi];
    c.n = 0;
    pl_rtcp_nack nack = {.sender_ssrc = 1, .media_ssrc = ssrc[2]};
    uint16_t seqs[1] = {orig.seq};
    nack.n_items = pl_rtcp_nack_pack(seqs, 1, nack.items, PL_RTCP_MAX_NACK);
    assert_int_equal(pl_simsend_nack(s, &nack, tx, &c), 1);
    assert_int_equal(c.n, 1);
    pl_rtp_header r;
    assert_int_equal(pl_rtp_parse(c.pkts[0].pkt, c.pkts[0].len, &r), PL_OK);
    assert_int_equal(r.payload_type, PL_BOT_RTX_PT);
    assert_int_not_equal(r.ssrc, ssrc[2]);
    assert_int_equal(r.timestamp, orig.timestamp);
    char mid[32], rid[32], rrid[32];
    ext_string(c.pkts[0].pkt, &r, PL_BOT_EXT_MID, mid);
    ext_string(c.pkts[0].pkt, &r, PL_BOT_EXT_RID, rid);
    ext_string(c.pkts[0].pkt, &r, PL_BOT_EXT_RRID, rrid);
    assert_string_equal(mid, "1");
    assert_string_equal(rid, "");
    assert_string_equal(rrid, "f");
    uint16_t osn;
    assert_int_equal(pl_rtp_rtx_osn(c.pkts[0].pkt, &r, &osn), PL_OK);
    assert_int_equal(osn, orig.seq);
    assert_int_equal(r.payload_len, orig.payload_len + 2);
    assert_memory_equal(c.pkts[0].pkt + r.header_len + 2, lost.pkt + orig.header_len,
                        orig.payload_len);
    /* Another SSRC's NACK is not the sender's to answer. */
    nack.media_ssrc = 777;
    assert_int_equal(pl_simsend_nack(s, &nack, tx, &c), -1);

    free(c.pkts);
    pl_simsend_destroy(s);
    for (unsigned l = 0; l < PL_SIM_LAYERS; l++)
        pl_clip_destroy(clips[l]);
}

static void test_offer_as_chrome_writes_it(void **state)
{
    (void)state;
    pl_env env = pl_env_default();
    pl_bot_sdp_local l = {.ice_ufrag = "abcd",
                          .ice_pwd = "0123456789abcdef012345",
                          .fingerprint = "AA:BB:CC:DD:EE:FF:00:11:22:33:44:55:66:77:88:99:AA:BB:"
                                         "CC:DD:EE:FF:00:11:22:33:44:55:66:77:88:99",
                          .cname = "bot-0",
                          .stream_id = "bot-0",
                          .session_id = 42};
    static const char *const rids[3] = {"q", "h", "f"};
    static char text[8192];
    int n = pl_bot_sdp_offer_simulcast(&l, 1111, rids, 3, text, sizeof(text));
    assert_true(n > 0);
    pl_sdp_desc *d = pl_sdp_desc_create(&env);
    assert_int_equal(pl_sdp_parse(d, text, (size_t)n), PL_OK);
    assert_int_equal(d->n_media, 2);
    const pl_sdp_media *a = &d->media[0], *v = &d->media[1];
    assert_int_equal(a->n_ssrcs, 1);
    assert_int_equal(v->n_ssrcs, 0);
    assert_int_equal(v->n_rids, 3);
    for (int i = 0; i < 3; i++) {
        assert_string_equal(v->rids[i].id, rids[i]);
        assert_true(v->rids[i].send);
    }
    assert_string_equal(v->simulcast, "send q;h;f");
    assert_int_equal(pl_sdp_find_extmap(v, PL_RTP_URI_MID), PL_BOT_EXT_MID);
    assert_int_equal(pl_sdp_find_extmap(v, PL_RTP_URI_RID), PL_BOT_EXT_RID);
    assert_int_equal(pl_sdp_find_extmap(v, PL_RTP_URI_RRID), PL_BOT_EXT_RRID);
    pl_sdp_desc_destroy(&env, d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_layers_on_the_wire),
        cmocka_unit_test(test_offer_as_chrome_writes_it),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
