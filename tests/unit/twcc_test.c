/* Transport-wide feedback: what a receiver records becomes RTCP that parses
 * back to the same arrivals, whatever the chunk kinds, wrap-around, losses,
 * reordering or gaps. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "parley/buf.h"
#include "parley/rtcp.h"
#include "parley/twcc.h"

typedef struct fx {
    uint64_t seed;
    pl_env env;
    pl_twcc_rx *rx;
    pl_rtcp_twcc *fb;
    pl_rtcp_packet *parsed;
    uint8_t wire[8192];
    size_t wire_len;
} fx;

static int setup(void **state)
{
    fx *f = calloc(1, sizeof(*f));
    f->env = pl_env_seeded(&f->seed, 11);
    f->rx = pl_twcc_rx_create(&f->env);
    f->fb = malloc(sizeof(*f->fb));
    f->parsed = malloc(sizeof(*f->parsed));
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fx *f = *state;
    pl_twcc_rx_destroy(f->rx);
    free(f->fb);
    free(f->parsed);
    free(f);
    return 0;
}

/* Builds the feedback, writes it, parses it back: what a sender reads. */
static bool feedback(fx *f, int64_t now)
{
    if (!pl_twcc_rx_feedback(f->rx, now, 1, 0xabc, f->fb))
        return false;
    pl_wbuf w = pl_wbuf_make(f->wire, sizeof(f->wire));
    pl_rtcp_write_twcc(&w, f->fb);
    assert_true(pl_wbuf_ok(&w));
    f->wire_len = w.len;
    pl_rtcp_iter it;
    pl_rtcp_iter_init(&it, f->wire, w.len);
    assert_int_equal(pl_rtcp_next(&it, f->parsed), 1);
    assert_int_equal(f->parsed->kind, PL_RTCP_K_TWCC);
    assert_int_equal(it.r.len - it.r.pos, 0); /* nothing after it */
    return true;
}

/* Arrival time of each packet as a sender reconstructs it from the
 * feedback: reference time, then the running sum of deltas. */
static void arrivals(const pl_rtcp_twcc *t, int64_t *out)
{
    int64_t at = (int64_t)t->reference_time * 64000;
    for (size_t i = 0; i < t->n_packets; i++) {
        if (t->packets[i].received) {
            at += t->packets[i].delta_us;
            out[i] = at;
        } else {
            out[i] = -1;
        }
    }
}

/* Every packet received, 1 ms apart: the sender reads back every arrival
 * within a tick (250 us), with no drift over many packets, and the whole
 * run fits in a few run-length chunks. */
static void test_round_trip_no_drift(void **state)
{
    fx *f = *state;
    int64_t t0 = 5000000 + 37; /* not on a tick */
    for (int i = 0; i < 300; i++)
        pl_twcc_rx_packet(f->rx, (uint16_t)(100 + i), t0 + i * 1010);
    assert_true(pl_twcc_rx_next(f->rx) <= t0 + PL_TWCC_INTERVAL_US);
    assert_true(feedback(f, t0 + 400000));
    const pl_rtcp_twcc *t = &f->parsed->u.twcc;
    assert_int_equal(t->base_seq, 100);
    assert_int_equal(t->n_packets, 300);
    int64_t at[300];
    arrivals(t, at);
    for (int i = 0; i < 300; i++) {
        int64_t want = t0 + i * 1010;
        assert_true(at[i] - want <= 125 && want - at[i] <= 125);
    }
    /* 300 small deltas: header 20 bytes, one run-length chunk, 300 bytes. */
    assert_true(f->wire_len <= 20 + 2 + 300 + 3);
    assert_false(pl_twcc_rx_feedback(f->rx, t0 + 500000, 1, 2, f->fb));
    assert_int_equal(pl_twcc_rx_next(f->rx), INT64_MAX);
}

/* Losses are reported as not received; later feedback continues from the
 * next number, with its count incremented. A mix of symbols goes into
 * vector chunks. */
static void test_losses_and_vectors(void **state)
{
    fx *f = *state;
    int64_t now = 1000000;
    for (int i = 0; i < 40; i++)
        if (i % 3 != 1)
            pl_twcc_rx_packet(f->rx, (uint16_t)i, now + i * 500);
    assert_true(feedback(f, now + 100000));
    const pl_rtcp_twcc *t = &f->parsed->u.twcc;
    uint8_t count0 = t->fb_count;
    assert_int_equal(t->n_packets, 40);
    for (int i = 0; i < 40; i++)
        assert_int_equal(t->packets[i].received, i % 3 != 1);
    /* A large gap between two arrivals (a two-byte delta) forces two-bit
     * vectors. */
    pl_twcc_rx_packet(f->rx, 40, now + 200000);
    pl_twcc_rx_packet(f->rx, 42, now + 200000 + 500);
    pl_twcc_rx_packet(f->rx, 43, now + 900000);
    assert_true(feedback(f, now + 1000000));
    t = &f->parsed->u.twcc;
    assert_int_equal(t->fb_count, (uint8_t)(count0 + 1));
    assert_int_equal(t->base_seq, 40);
    assert_int_equal(t->n_packets, 4);
    assert_false(t->packets[2 - 1].received);
    assert_int_equal(t->packets[3].delta_us, 900000 - 200500 + 0);
}

/* Sequence numbers wrap at 65536 without a gap. */
static void test_wrap_around(void **state)
{
    fx *f = *state;
    for (int i = 0; i < 20; i++)
        pl_twcc_rx_packet(f->rx, (uint16_t)(65530 + i), 2000000 + i * 1000);
    assert_true(feedback(f, 2100000));
    const pl_rtcp_twcc *t = &f->parsed->u.twcc;
    assert_int_equal(t->base_seq, 65530);
    assert_int_equal(t->n_packets, 20);
    assert_int_equal(t->packets[19].seq, 13);
    for (int i = 0; i < 20; i++)
        assert_true(t->packets[i].received);
}

/* Reordered packets are reported in sequence order with a negative delta;
 * a packet that arrives after the feedback that reported it lost is
 * reported again, as received, by the next feedback (which starts from it);
 * a duplicate keeps its first arrival. */
static void test_reordering_and_late(void **state)
{
    fx *f = *state;
    int64_t now = 3000000;
    pl_twcc_rx_packet(f->rx, 10, now);
    pl_twcc_rx_packet(f->rx, 12, now + 2000);
    pl_twcc_rx_packet(f->rx, 11, now + 3000); /* after 12 */
    pl_twcc_rx_packet(f->rx, 12, now + 9000); /* a duplicate */
    assert_true(feedback(f, now + 100000));
    const pl_rtcp_twcc *t = &f->parsed->u.twcc;
    assert_int_equal(t->n_packets, 3);
    int64_t at[3];
    arrivals(t, at);
    assert_true(at[2] - at[0] == 2000);
    assert_true(at[1] - at[0] == 3000);
    assert_true(t->packets[2].delta_us < 0);
    /* 13 and 14 are lost in this feedback; 14 arrives later and is told
     * again from there, as received, with 15 as before. */
    pl_twcc_rx_packet(f->rx, 15, now + 200000);
    assert_true(feedback(f, now + 300000));
    assert_int_equal(f->parsed->u.twcc.base_seq, 13);
    assert_int_equal(f->parsed->u.twcc.n_packets, 3);
    assert_false(f->parsed->u.twcc.packets[0].received);
    assert_false(f->parsed->u.twcc.packets[1].received);
    pl_twcc_rx_packet(f->rx, 14, now + 310000);
    assert_true(feedback(f, now + 400000));
    t = &f->parsed->u.twcc;
    assert_int_equal(t->base_seq, 14);
    assert_int_equal(t->n_packets, 2);
    assert_true(t->packets[0].received && t->packets[1].received);
    arrivals(t, at);
    assert_true(at[0] - at[1] == 110000);
    /* Told once: a duplicate of it changes nothing, and nothing is due. */
    pl_twcc_rx_packet(f->rx, 14, now + 320000);
    assert_false(pl_twcc_rx_feedback(f->rx, now + 500000, 1, 2, f->fb));
    /* One older than the window is dropped. */
    pl_twcc_rx_packet(f->rx, (uint16_t)(15 + PL_TWCC_WINDOW + 1000), now + 600000);
    assert_true(feedback(f, now + 700000));
    pl_twcc_rx_packet(f->rx, 13, now + 710000);
    assert_false(pl_twcc_rx_feedback(f->rx, now + 800000, 1, 2, f->fb));
}

/* A gap between arrivals too large for a delta (over 8 s) ends the
 * feedback early; the rest follows in the next one with its own
 * reference time. */
static void test_large_delta_splits(void **state)
{
    fx *f = *state;
    pl_twcc_rx_packet(f->rx, 1, 1000000);
    pl_twcc_rx_packet(f->rx, 2, 1001000);
    pl_twcc_rx_packet(f->rx, 3, 20000000);
    assert_true(feedback(f, 20100000));
    assert_int_equal(f->parsed->u.twcc.n_packets, 2);
    assert_true(pl_twcc_rx_next(f->rx) <= 20100000);
    assert_true(feedback(f, 20100000));
    const pl_rtcp_twcc *t = &f->parsed->u.twcc;
    assert_int_equal(t->base_seq, 3);
    int64_t at[1];
    arrivals(t, at);
    assert_true(at[0] - 20000000 <= 125 && 20000000 - at[0] <= 125);
}

/* The parser reads the chunk kinds a sender may meet from other
 * receivers: a run-length chunk, a one-bit vector, a two-bit vector. */
static void test_parse_every_chunk_kind(void **state)
{
    (void)state;
    /* base 7, count 20: run of 3 received-small, a one-bit vector of 14
     * (r,l,r,l,...), a two-bit vector with a large delta then lost. */
    const uint8_t pkt[] = {0x8f, 205,  0, 0, /* length patched below */
                           0,    0,    0, 1, 0, 0, 0,    2,    0, 7,
                           0,    20,   0, 0, 1, 9, 0x20, 0x03, /* run-length: symbol 1, 3 packets */
                           0xaa, 0xaa,                         /* one-bit: 14 symbols 1,0,1,0,... */
                           0xe0, 0x00,                         /* two-bit: 2, 0, 0, ... (3 used) */
                           4,    4,    4,                      /* the run's deltas */
                           8,    8,    8, 8, 8, 8, 8,          /* the vector's 7 received */
                           0x01, 0x00,                         /* 256 ticks: 64 ms */
                           0,    0};                           /* padding to a word */
    uint8_t buf[sizeof(pkt)];
    memcpy(buf, pkt, sizeof(pkt));
    size_t words = sizeof(pkt) / 4 - 1;
    buf[2] = (uint8_t)(words >> 8);
    buf[3] = (uint8_t)words;
    pl_rtcp_packet *p = malloc(sizeof(*p));
    pl_rtcp_iter it;
    pl_rtcp_iter_init(&it, buf, sizeof(buf));
    assert_int_equal(pl_rtcp_next(&it, p), 1);
    assert_int_equal(p->kind, PL_RTCP_K_TWCC);
    const pl_rtcp_twcc *t = &p->u.twcc;
    assert_int_equal(t->n_packets, 20);
    assert_int_equal(t->reference_time, 1);
    assert_int_equal(t->fb_count, 9);
    for (int i = 0; i < 3; i++)
        assert_int_equal(t->packets[i].delta_us, 1000);
    for (int i = 0; i < 14; i++)
        assert_int_equal(t->packets[3 + i].received, i % 2 == 0);
    assert_int_equal(t->packets[3].delta_us, 2000);
    assert_int_equal(t->packets[17].delta_us, 64000);
    assert_false(t->packets[18].received);
    assert_false(t->packets[19].received);
    free(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_round_trip_no_drift, setup, teardown),
        cmocka_unit_test_setup_teardown(test_losses_and_vectors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_wrap_around, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reordering_and_late, setup, teardown),
        cmocka_unit_test_setup_teardown(test_large_delta_splits, setup, teardown),
        cmocka_unit_test(test_parse_every_chunk_kind),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
