#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "parley/common.h"
#include "parley/rtcp.h"

static pl_rtcp_packet pkt; /* large; one per test process is enough */

static void assert_report_eq(const pl_rtcp_report *a, const pl_rtcp_report *b)
{
    assert_int_equal(a->ssrc, b->ssrc);
    assert_int_equal(a->fraction_lost, b->fraction_lost);
    assert_int_equal(a->cumulative_lost, b->cumulative_lost);
    assert_int_equal(a->highest_seq, b->highest_seq);
    assert_int_equal(a->jitter, b->jitter);
    assert_int_equal(a->lsr, b->lsr);
    assert_int_equal(a->dlsr, b->dlsr);
}

static int parse_one(const uint8_t *data, size_t len)
{
    pl_rtcp_iter it;
    pl_rtcp_iter_init(&it, data, len);
    int rc = pl_rtcp_next(&it, &pkt);
    if (rc == 1)
        assert_int_equal(pl_rtcp_next(&it, &(pl_rtcp_packet){0}), 0);
    return rc;
}

/* Exact bytes from the specifications' layouts. */
static void test_known_bytes(void **state)
{
    (void)state;
    /* PLI (RFC 4585 6.3.1): V=2 FMT=1 PT=206 length=2. */
    const uint8_t pli[] = {0x81, 0xce, 0x00, 0x02, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88};
    assert_int_equal(parse_one(pli, sizeof(pli)), 1);
    assert_int_equal(pkt.kind, PL_RTCP_K_PLI);
    assert_int_equal(pkt.u.pli.sender_ssrc, 0x11223344);
    assert_int_equal(pkt.u.pli.media_ssrc, 0x55667788);
    uint8_t out[1500];
    pl_wbuf w = pl_wbuf_make(out, sizeof(out));
    pl_rtcp_write_pli(&w, &pkt.u.pli);
    assert_int_equal(w.len, sizeof(pli));
    assert_memory_equal(out, pli, sizeof(pli));

    /* Generic NACK (RFC 4585 6.2.1): lost 100, 101, 103 and 116. */
    const uint8_t nack[] = {0x81, 0xcd, 0x00, 0x03, 0, 0, 0, 1, 0, 0, 0, 2, 0x00, 0x64, 0x80, 0x05};
    assert_int_equal(parse_one(nack, sizeof(nack)), 1);
    assert_int_equal(pkt.kind, PL_RTCP_K_NACK);
    uint16_t lost[32];
    size_t n = pl_rtcp_nack_lost(&pkt.u.nack, lost, 32);
    assert_int_equal(n, 4);
    assert_int_equal(lost[0], 100);
    assert_int_equal(lost[1], 101);
    assert_int_equal(lost[2], 103);
    assert_int_equal(lost[3], 116);
    pl_rtcp_nack_item items[4];
    assert_int_equal(pl_rtcp_nack_pack(lost, n, items, 4), 1);
    assert_int_equal(items[0].pid, 100);
    assert_int_equal(items[0].blp, 0x8005);

    /* REMB: 1,500,000 bps = mantissa 187500 << 3, one SSRC. */
    const uint8_t remb[] = {0x8f, 0xce, 0x00, 0x05, 0,    0,    0,    9,    0,    0,    0,    0,
                            'R',  'E',  'M',  'B',  0x01, 0x0e, 0xdc, 0x6c, 0xaa, 0xbb, 0xcc, 0xdd};
    assert_int_equal(parse_one(remb, sizeof(remb)), 1);
    assert_int_equal(pkt.kind, PL_RTCP_K_REMB);
    assert_true(pkt.u.remb.bitrate_bps == 1500000);
    assert_int_equal(pkt.u.remb.n_ssrcs, 1);
    assert_int_equal(pkt.u.remb.ssrcs[0], 0xaabbccdd);
    w = pl_wbuf_make(out, sizeof(out));
    pl_rtcp_write_remb(&w, &pkt.u.remb);
    assert_memory_equal(out, remb, sizeof(remb));

    /* Transport-cc feedback: base 10, 5 packets: a run-length chunk of three
     * small-delta packets, then a 1-bit vector (lost, received), deltas
     * 4 (1 ms), 0, 8 (2 ms), 1. */
    const uint8_t twcc[] = {0x8f, 0xcd, 0x00, 0x06, 0,    0,    0,    1,    0,    0, 0,
                            2,    0x00, 0x0a, 0x00, 0x05, 0xff, 0xff, 0xfe, 0x07, /* ref -2, fb 7 */
                            0x20, 0x03, /* RLE: symbol 1 x 3 */
                            0x90, 0x00, /* 1-bit vector: 0,1,0,... (only 2 used) */
                            0x04, 0x00, 0x08, 0x01};
    assert_int_equal(parse_one(twcc, sizeof(twcc)), 1);
    assert_int_equal(pkt.kind, PL_RTCP_K_TWCC);
    pl_rtcp_twcc *t = &pkt.u.twcc;
    assert_int_equal(t->base_seq, 10);
    assert_int_equal(t->reference_time, -2);
    assert_int_equal(t->fb_count, 7);
    assert_int_equal(t->n_packets, 5);
    assert_true(t->packets[0].received && t->packets[0].delta_us == 1000);
    assert_true(t->packets[1].received && t->packets[1].delta_us == 0);
    assert_true(t->packets[2].received && t->packets[2].delta_us == 2000);
    assert_false(t->packets[3].received);
    assert_true(t->packets[4].received && t->packets[4].delta_us == 250);
    assert_int_equal(t->packets[4].seq, 14);
}

static void test_round_trip_every_type(void **state)
{
    (void)state;
    static pl_rtcp_packet in[9];
    memset(in, 0, sizeof(in));
    in[0].kind = PL_RTCP_K_SR;
    in[0].u.sr = (pl_rtcp_sr){.ssrc = 1,
                              .ntp = 0xe1b2c3d4a5b6c7d8ULL,
                              .rtp_ts = 123,
                              .packet_count = 5,
                              .octet_count = 999,
                              .n_reports = 2};
    in[0].u.sr.reports[0] = (pl_rtcp_report){2, 25, -3, 70000, 12, 0xabcd, 0x10000};
    in[0].u.sr.reports[1] = (pl_rtcp_report){3, 0, 8388607, 1, 2, 3, 4};
    in[1].kind = PL_RTCP_K_RR;
    in[1].u.rr = (pl_rtcp_rr){.ssrc = 7, .n_reports = 1};
    in[1].u.rr.reports[0] = (pl_rtcp_report){9, 255, -8388608, 5, 6, 7, 8};
    in[2].kind = PL_RTCP_K_SDES;
    in[2].u.sdes.n_chunks = 2;
    in[2].u.sdes.chunks[0].ssrc = 1;
    strcpy(in[2].u.sdes.chunks[0].cname, "a1b2c3d4e5");
    in[2].u.sdes.chunks[1].ssrc = 2;
    strcpy(in[2].u.sdes.chunks[1].cname, "xyz");
    in[3].kind = PL_RTCP_K_BYE;
    in[3].u.bye = (pl_rtcp_bye){.n_ssrcs = 2, .ssrcs = {4, 5}};
    strcpy(in[3].u.bye.reason, "left the call");
    in[4].kind = PL_RTCP_K_NACK;
    in[4].u.nack = (pl_rtcp_nack){.sender_ssrc = 1, .media_ssrc = 2, .n_items = 2};
    in[4].u.nack.items[0] = (pl_rtcp_nack_item){65535, 0x0001};
    in[4].u.nack.items[1] = (pl_rtcp_nack_item){40, 0xffff};
    in[5].kind = PL_RTCP_K_TWCC;
    in[5].u.twcc = (pl_rtcp_twcc){.sender_ssrc = 1,
                                  .media_ssrc = 2,
                                  .base_seq = 65530,
                                  .reference_time = 123456,
                                  .fb_count = 200,
                                  .n_packets = 20};
    for (size_t i = 0; i < 20; i++) {
        pl_rtcp_twcc_packet *p = &in[5].u.twcc.packets[i];
        p->seq = (uint16_t)(65530 + i);
        p->received = i % 3 != 1;
        p->delta_us = p->received ? (i % 4 == 0 ? -500 : (int64_t)i * 5000) : 0;
    }
    in[6].kind = PL_RTCP_K_PLI;
    in[6].u.pli = (pl_rtcp_pli){3, 4};
    in[7].kind = PL_RTCP_K_FIR;
    in[7].u.fir = (pl_rtcp_fir){.sender_ssrc = 5, .n_entries = 2};
    in[7].u.fir.entries[0].ssrc = 6;
    in[7].u.fir.entries[0].seq = 1;
    in[7].u.fir.entries[1].ssrc = 7;
    in[7].u.fir.entries[1].seq = 255;
    in[8].kind = PL_RTCP_K_REMB;
    in[8].u.remb =
        (pl_rtcp_remb){.sender_ssrc = 8, .bitrate_bps = 256000, .n_ssrcs = 3, .ssrcs = {1, 2, 3}};

    /* All nine as one compound packet. */
    static uint8_t buf[8192];
    pl_wbuf w = pl_wbuf_make(buf, sizeof(buf));
    pl_rtcp_write_sr(&w, &in[0].u.sr);
    pl_rtcp_write_rr(&w, &in[1].u.rr);
    pl_rtcp_write_sdes(&w, &in[2].u.sdes);
    pl_rtcp_write_bye(&w, &in[3].u.bye);
    pl_rtcp_write_nack(&w, &in[4].u.nack);
    pl_rtcp_write_twcc(&w, &in[5].u.twcc);
    pl_rtcp_write_pli(&w, &in[6].u.pli);
    pl_rtcp_write_fir(&w, &in[7].u.fir);
    pl_rtcp_write_remb(&w, &in[8].u.remb);
    assert_true(pl_wbuf_ok(&w));
    assert_int_equal(w.len % 4, 0);
    assert_int_equal(pl_rtcp_validate(buf, w.len), PL_OK);

    pl_rtcp_iter it;
    pl_rtcp_iter_init(&it, buf, w.len);
    for (int i = 0; i < 9; i++) {
        assert_int_equal(pl_rtcp_next(&it, &pkt), 1);
        assert_int_equal(pkt.kind, in[i].kind);
        switch (pkt.kind) {
        case PL_RTCP_K_SR:
            assert_true(pkt.u.sr.ntp == in[0].u.sr.ntp);
            assert_int_equal(pkt.u.sr.n_reports, 2);
            assert_report_eq(&pkt.u.sr.reports[0], &in[0].u.sr.reports[0]);
            assert_report_eq(&pkt.u.sr.reports[1], &in[0].u.sr.reports[1]);
            assert_int_equal(pkt.u.sr.octet_count, 999);
            break;
        case PL_RTCP_K_RR:
            assert_report_eq(&pkt.u.rr.reports[0], &in[1].u.rr.reports[0]);
            break;
        case PL_RTCP_K_SDES:
            assert_int_equal(pkt.u.sdes.n_chunks, 2);
            assert_string_equal(pkt.u.sdes.chunks[0].cname, "a1b2c3d4e5");
            assert_string_equal(pkt.u.sdes.chunks[1].cname, "xyz");
            assert_int_equal(pkt.u.sdes.chunks[1].ssrc, 2);
            break;
        case PL_RTCP_K_BYE:
            assert_int_equal(pkt.u.bye.n_ssrcs, 2);
            assert_int_equal(pkt.u.bye.ssrcs[1], 5);
            assert_string_equal(pkt.u.bye.reason, "left the call");
            break;
        case PL_RTCP_K_NACK:
            assert_int_equal(pkt.u.nack.n_items, 2);
            assert_memory_equal(pkt.u.nack.items, in[4].u.nack.items,
                                2 * sizeof(pl_rtcp_nack_item));
            break;
        case PL_RTCP_K_TWCC:
            assert_int_equal(pkt.u.twcc.n_packets, 20);
            assert_int_equal(pkt.u.twcc.reference_time, 123456);
            for (size_t k = 0; k < 20; k++) {
                assert_int_equal(pkt.u.twcc.packets[k].seq, in[5].u.twcc.packets[k].seq);
                assert_int_equal(pkt.u.twcc.packets[k].received, in[5].u.twcc.packets[k].received);
                assert_true(pkt.u.twcc.packets[k].delta_us == in[5].u.twcc.packets[k].delta_us);
            }
            break;
        case PL_RTCP_K_PLI:
            assert_int_equal(pkt.u.pli.media_ssrc, 4);
            break;
        case PL_RTCP_K_FIR:
            assert_int_equal(pkt.u.fir.n_entries, 2);
            assert_int_equal(pkt.u.fir.entries[1].seq, 255);
            break;
        case PL_RTCP_K_REMB:
            assert_true(pkt.u.remb.bitrate_bps == 256000);
            assert_int_equal(pkt.u.remb.ssrcs[2], 3);
            break;
        default:
            fail();
        }
    }
    assert_int_equal(pl_rtcp_next(&it, &pkt), 0);

    /* Every truncation of the compound packet fails somewhere, never reads
     * out of bounds (ASan watches), and never yields more than it should. */
    for (size_t n = 0; n < w.len; n++) {
        uint8_t *copy = malloc(n ? n : 1);
        memcpy(copy, buf, n);
        if (n % 4 == 0 && n > 0)
            assert_true(pl_rtcp_validate(copy, n) == PL_OK ||
                        pl_rtcp_validate(copy, n) == PL_EMALFORMED);
        else
            assert_int_equal(pl_rtcp_validate(copy, n), PL_EMALFORMED);
        pl_rtcp_iter_init(&it, copy, n);
        int rc, count = 0;
        while ((rc = pl_rtcp_next(&it, &pkt)) == 1)
            count++;
        assert_true(count <= 9);
        free(copy);
    }
}

static void test_lies_and_limits(void **state)
{
    (void)state;
    uint8_t b[64];
    /* Length field pointing past the datagram. */
    const uint8_t rr[] = {0x80, 0xc9, 0x00, 0x07, 0, 0, 0, 1};
    assert_int_equal(pl_rtcp_validate(rr, sizeof(rr)), PL_EMALFORMED);
    assert_int_equal(parse_one(rr, sizeof(rr)), PL_EMALFORMED);
    /* RR claiming two report blocks with none present. */
    const uint8_t rr2[] = {0x82, 0xc9, 0x00, 0x01, 0, 0, 0, 1};
    assert_int_equal(parse_one(rr2, sizeof(rr2)), PL_EMALFORMED);
    /* Wrong version, and a non-RTCP packet type. */
    memcpy(b, rr2, 8);
    b[0] = 0x40;
    assert_int_equal(pl_rtcp_validate(b, 8), PL_EMALFORMED);
    b[0] = 0x80;
    b[1] = 96;
    assert_int_equal(pl_rtcp_validate(b, 8), PL_EMALFORMED);
    /* Padding on a sub-packet that is not the last one. */
    const uint8_t padded[] = {0xa0, 0xc9, 0x00, 0x01, 0, 0, 0, 4,
                              0x80, 0xc9, 0x00, 0x01, 0, 0, 0, 1};
    assert_int_equal(pl_rtcp_validate(padded, sizeof(padded)), PL_EMALFORMED);
    /* Padding count larger than the packet. */
    const uint8_t pad2[] = {0xa0, 0xc9, 0x00, 0x01, 0, 0, 0, 9};
    assert_int_equal(pl_rtcp_validate(pad2, sizeof(pad2)), PL_EMALFORMED);
    assert_int_equal(parse_one(pad2, sizeof(pad2)), PL_EMALFORMED);
    /* Valid padding on the last one. */
    const uint8_t pad3[] = {0xa0, 0xc9, 0x00, 0x02, 0, 0, 0, 1, 0, 0, 0, 4};
    assert_int_equal(pl_rtcp_validate(pad3, sizeof(pad3)), PL_OK);
    assert_int_equal(parse_one(pad3, sizeof(pad3)), 1);
    /* A TWCC claiming 60000 statuses is refused rather than trusted. */
    const uint8_t tw[] = {0x8f, 0xcd, 0x00, 0x05, 0, 0, 0, 1, 0,    0,    0,    2,
                          0x00, 0x00, 0xea, 0x60, 0, 0, 0, 0, 0x3f, 0xff, 0x3f, 0xff};
    assert_int_equal(parse_one(tw, sizeof(tw)), PL_EMALFORMED);
    /* An SDES item running past its chunk. */
    const uint8_t sd[] = {0x81, 0xca, 0x00, 0x02, 0, 0, 0, 1, 0x01, 0x20, 'a', 'b'};
    assert_int_equal(parse_one(sd, sizeof(sd)), PL_EMALFORMED);
    /* Unknown types are skipped, not rejected. */
    const uint8_t app[] = {0x80, 0xcc, 0x00, 0x02, 0, 0, 0, 1, 'n', 'a', 'm', 'e'};
    assert_int_equal(parse_one(app, sizeof(app)), 1);
    assert_int_equal(pkt.kind, PL_RTCP_K_OTHER);
    /* Builders refuse what cannot be encoded. */
    pl_wbuf w = pl_wbuf_make(b, sizeof(b));
    pl_rtcp_nack empty = {0};
    pl_rtcp_write_nack(&w, &empty);
    assert_false(pl_wbuf_ok(&w));
    w = pl_wbuf_make(b, 8);
    pl_rtcp_write_pli(&w, &(pl_rtcp_pli){1, 2});
    assert_false(pl_wbuf_ok(&w));
}

static void test_nack_pack(void **state)
{
    (void)state;
    const uint16_t lost[] = {65534, 65535, 0, 1, 17, 18, 40};
    pl_rtcp_nack_item it[8];
    size_t n = pl_rtcp_nack_pack(lost, 7, it, 8);
    assert_int_equal(n, 3);
    assert_int_equal(it[0].pid, 65534);
    assert_int_equal(it[0].blp, 0x0007); /* 65535, 0, 1 */
    assert_int_equal(it[1].pid, 17);
    assert_int_equal(it[1].blp, 0x0001);
    assert_int_equal(it[2].pid, 40);
    pl_rtcp_nack nk = {.n_items = n};
    memcpy(nk.items, it, n * sizeof(it[0]));
    uint16_t back[16];
    assert_int_equal(pl_rtcp_nack_lost(&nk, back, 16), 7);
    assert_memory_equal(back, lost, sizeof(lost));
    assert_int_equal(pl_rtcp_nack_pack(lost, 7, it, 1), 1); /* capped */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_known_bytes),
        cmocka_unit_test(test_round_trip_every_type),
        cmocka_unit_test(test_lies_and_limits),
        cmocka_unit_test(test_nack_pack),
    };
    return cmocka_run_group_tests_name("rtcp", tests, NULL, NULL);
}
