#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "parley/common.h"
#include "parley/vp8_rewrite.h"

static pl_vp8_desc frame(uint16_t pid, bool fifteen, uint8_t tl0, uint8_t keyidx)
{
    pl_vp8_desc d = {.start = true,
                     .has_picture_id = true,
                     .picture_id_15 = fifteen,
                     .picture_id = pid,
                     .has_tl0picidx = true,
                     .tl0picidx = tl0,
                     .has_keyidx = true,
                     .keyidx = keyidx};
    return d;
}

/* Dropped frames take no picture id; a frame lost upstream keeps the id
 * its place asks for and takes it when it arrives late, even after drops
 * that came after it. */
static void test_drops_and_late_frames(void **state)
{
    (void)state;
    pl_vp8_rewriter rw;
    pl_vp8_rewriter_init(&rw);
    pl_vp8_fields f;
    pl_vp8_desc d = frame(100, true, 7, 3);
    assert_true(pl_vp8_rewriter_packet(&rw, &d, false, &f));
    assert_int_equal(f.picture_id, 100); /* the first source keeps its ids */
    assert_int_equal(f.tl0picidx, 7);
    assert_int_equal(f.keyidx, 3);
    d = frame(101, true, 7, 3);
    assert_false(pl_vp8_rewriter_packet(&rw, &d, true, &f));
    assert_int_equal(pl_vp8_rewriter_frame_state(&rw, &d), 0);
    d = frame(102, true, 8, 3);
    assert_true(pl_vp8_rewriter_packet(&rw, &d, false, &f));
    assert_int_equal(f.picture_id, 101);
    assert_int_equal(pl_vp8_rewriter_frame_state(&rw, &d), 1);
    /* 103 lost upstream, 104 dropped, 105 sent as 103. */
    d = frame(104, true, 8, 3);
    assert_false(pl_vp8_rewriter_packet(&rw, &d, true, &f));
    d = frame(105, true, 9, 3);
    assert_true(pl_vp8_rewriter_packet(&rw, &d, false, &f));
    assert_int_equal(f.picture_id, 103);
    d = frame(103, true, 8, 3);
    assert_int_equal(pl_vp8_rewriter_frame_state(&rw, &d), -1);
    assert_true(pl_vp8_rewriter_packet(&rw, &d, false, &f));
    assert_int_equal(f.picture_id, 102);
    /* A second packet of a dropped frame is dropped too. */
    d = frame(104, true, 8, 3);
    assert_false(pl_vp8_rewriter_packet(&rw, &d, false, &f));
}

/* A new source continues every field from the last value sent; 7-bit
 * picture ids stay continuous modulo 128 through their wrap. */
static void test_switch_and_seven_bit_ids(void **state)
{
    (void)state;
    pl_vp8_rewriter rw;
    pl_vp8_rewriter_init(&rw);
    pl_vp8_fields f;
    pl_vp8_desc d = frame(0x7ffe, true, 255, 31);
    assert_true(pl_vp8_rewriter_packet(&rw, &d, false, &f));
    pl_vp8_rewriter_switch(&rw);
    d = frame(126, false, 40, 9);
    assert_true(pl_vp8_rewriter_packet(&rw, &d, false, &f));
    assert_int_equal(f.picture_id, 0x7fff);
    assert_int_equal(f.tl0picidx, 0);
    assert_int_equal(f.keyidx, 0);
    uint16_t want = 0x7fff;
    for (uint16_t p = 127; p < 127 + 300; p++) {
        d = frame((uint16_t)(p & 0x7f), false, 41, 9);
        assert_true(pl_vp8_rewriter_packet(&rw, &d, false, &f));
        want = (uint16_t)((want + 1) & 0x7fff);
        assert_int_equal(f.picture_id, want);
        assert_int_equal(f.tl0picidx, 1);
    }
}

/* The fields go into a descriptor in its own form; truncated ones are
 * refused. */
static void test_write_fields(void **state)
{
    (void)state;
    pl_vp8_fields f = {.picture_id = 0x1234, .tl0picidx = 0x99, .keyidx = 0x1e};
    uint8_t full[] = {0x90, 0xf0, 0x80, 0x00, 0x00, 0xe5, 0x00};
    assert_int_equal(pl_vp8_write_fields(full, sizeof(full), &f), PL_OK);
    pl_vp8_desc d;
    assert_int_equal(pl_vp8_parse_descriptor(full, sizeof(full), &d), PL_OK);
    assert_int_equal(d.picture_id, 0x1234);
    assert_int_equal(d.tl0picidx, 0x99);
    assert_int_equal(d.keyidx, 0x1e);
    assert_int_equal(d.tid, 3);
    assert_true(d.layer_sync);
    uint8_t seven[] = {0x90, 0x80, 0x05, 0x01};
    assert_int_equal(pl_vp8_write_fields(seven, sizeof(seven), &f), PL_OK);
    assert_int_equal(seven[2], 0x34);
    uint8_t none[] = {0x10, 0x01};
    assert_int_equal(pl_vp8_write_fields(none, sizeof(none), &f), PL_OK);
    assert_int_equal(none[1], 0x01);
    for (size_t n = 0; n < 6; n++) {
        uint8_t cut[sizeof(full)] = {0x90, 0xf0, 0x80, 0x00, 0x00, 0xe5, 0x00};
        assert_int_equal(pl_vp8_write_fields(cut, n, &f), PL_EMALFORMED);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_drops_and_late_frames),
        cmocka_unit_test(test_switch_and_seven_bit_ids),
        cmocka_unit_test(test_write_fields),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
