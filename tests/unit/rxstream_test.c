/* The bot's receive stream (tools/bot/rxstream.c): frames assembled from
 * RTP and checked picture by picture, as the load and simulcast tests
 * read them. A relay that forwards fewer temporal layers leaves frames out
 * on purpose; the check must tell that from pictures out of order. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "parley/rtp.h"
#include "content.h"
#include "rxstream.h"

#define LOOP 60
#define IDENTITY 5
#define CHUNK 1000
#define FRAME_US 33333

static void no_feedback(void *user, const uint8_t *rtcp, size_t len)
{
    (void)user;
    (void)rtcp;
    (void)len;
}

/* Sends the clip's frames of temporal layers up to max_tid as a relay
 * would forward them: sequence numbers and picture ids without gaps, the
 * descriptor of RFC 7741 (I, L, T) on every packet. */
static void feed(pl_rxstream *s, const pl_clip *c, int max_tid)
{
    pl_rxstream_fb fb = {.send = no_feedback};
    uint16_t seq = 1000, picture_id = 77;
    uint8_t tl0picidx = 0;
    int64_t now = 0;
    for (size_t i = 0; i < pl_clip_video_count(c); i++) {
        const pl_clip_frame *f = pl_clip_video(c, i);
        now += FRAME_US;
        if (f->tid > max_tid)
            continue;
        if (f->tid == 0)
            tl0picidx++;
        uint32_t ts = (uint32_t)(i * 3000);
        for (size_t off = 0; off < f->len; off += CHUNK) {
            size_t part = f->len - off < CHUNK ? f->len - off : CHUNK;
            uint8_t payload[6 + CHUNK];
            payload[0] = (uint8_t)(0x80 | (off == 0 ? 0x10 : 0));
            payload[1] = 0x80 | 0x40 | 0x20;
            payload[2] = (uint8_t)(0x80 | (picture_id >> 8));
            payload[3] = (uint8_t)picture_id;
            payload[4] = tl0picidx;
            payload[5] = (uint8_t)(f->tid << 6 | (f->layer_sync ? 0x20 : 0));
            memcpy(payload + 6, f->data + off, part);
            pl_rtp_header h = {.marker = off + part == f->len,
                               .payload_type = 96,
                               .seq = seq,
                               .timestamp = ts,
                               .ssrc = s->ssrc};
            pl_rxstream_rtp(s, now, &h, seq, payload, 6 + part, 12 + 6 + part, false, &fb);
            seq++;
        }
        picture_id = (uint16_t)((picture_id + 1) & 0x7fff);
    }
}

/* Pictures decoded and out of order, and frames counted per TID. */
static void run(const pl_clip *c, int max_tid, json_int_t *decoded, json_int_t *disorder,
                json_int_t *tl2)
{
    pl_rxstream s = {.video = true, .expected_identity = IDENTITY, .ssrc = 0x1234};
    pl_rxstream_start(&s, true, LOOP, 0, 0);
    feed(&s, c, max_tid);
    json_t *o = pl_rxstream_json(&s);
    assert_non_null(o);
    json_t *d = json_object_get(o, "decoded");
    assert_non_null(d);
    assert_int_equal(json_integer_value(json_object_get(d, "corrupt")), 0);
    assert_true(json_is_true(json_object_get(d, "identity_ok")));
    *decoded = json_integer_value(json_object_get(d, "frames"));
    *disorder = json_integer_value(json_object_get(d, "out_of_order"));
    *tl2 = json_integer_value(json_array_get(json_object_get(o, "frames_by_tid"), 2));
    json_decref(o);
    pl_rxstream_free(&s);
}

static void test_temporal_layers_left_out(void **state)
{
    (void)state;
    pl_clip_config cfg = {.video_frames = LOOP, .temporal_layers = 3};
    pl_clip *c = pl_clip_create_with(IDENTITY, &cfg);
    assert_non_null(c);
    json_int_t decoded, disorder, tl2;
    /* Every layer: every picture, in order. */
    run(c, 2, &decoded, &disorder, &tl2);
    assert_int_equal(decoded, LOOP);
    assert_int_equal(disorder, 0);
    assert_int_equal(tl2, LOOP / 2);
    /* TL0 and TL1 only (half the frames): the pictures left out are the
     * top layer's, which nothing refers to; in order all the same. */
    run(c, 1, &decoded, &disorder, &tl2);
    assert_int_equal(decoded, LOOP / 2);
    assert_int_equal(disorder, 0);
    assert_int_equal(tl2, 0);
    /* TL0 only. */
    run(c, 0, &decoded, &disorder, &tl2);
    assert_int_equal(decoded, LOOP / 4);
    assert_int_equal(disorder, 0);
    pl_clip_destroy(c);
}

/* A stream ended by a renegotiation: packets the kernel received before
 * the end was known were sent before it (the media thread reads them
 * late); only later ones are forwarded after the end. */
static void test_packets_after_end(void **state)
{
    (void)state;
    pl_rxstream s = {.ssrc = 0x99};
    pl_rxstream_start(&s, false, 0, 0, 0);
    pl_rxstream_fb fb = {.send = no_feedback};
    uint8_t payload[20] = {0};
    pl_rtp_header h = {.payload_type = 111, .seq = 1, .timestamp = 960, .ssrc = 0x99};
    pl_rxstream_rtp(&s, 1000, &h, 1, payload, sizeof(payload), 32, false, &fb);
    s.active = false;
    s.ended_us = 5000;
    h.seq = 2;
    pl_rxstream_rtp(&s, 4000, &h, 2, payload, sizeof(payload), 32, false, &fb);
    assert_int_equal(s.packets_after_end, 0);
    h.seq = 3;
    pl_rxstream_rtp(&s, 6000, &h, 3, payload, sizeof(payload), 32, false, &fb);
    assert_int_equal(s.packets_after_end, 1);
    pl_rxstream_free(&s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_temporal_layers_left_out),
        cmocka_unit_test(test_packets_after_end),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
