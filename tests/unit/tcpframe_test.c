#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "parley/tcpframe.h"

#define MAXLEN 1500

/* A stream of frames of lengths lens[0..n), frame i filled with byte i+1. */
static size_t make_stream(uint8_t *out, const size_t *lens, size_t n)
{
    size_t off = 0;
    for (size_t i = 0; i < n; i++) {
        pl_tcpframe_put_header(out + off, lens[i]);
        memset(out + off + 2, (int)(i + 1), lens[i]);
        off += 2 + lens[i];
    }
    return off;
}

/* Feeds the stream in chunks of `chunk` bytes (copied into a scratch
 * buffer that is overwritten for every read, as a socket read would be)
 * and checks every frame comes out whole, in order. */
static void feed_in_chunks(const uint8_t *stream, size_t len, const size_t *lens, size_t n,
                           size_t chunk)
{
    uint64_t seed;
    pl_env env = pl_env_seeded(&seed, 1);
    pl_tcpframe *f = pl_tcpframe_create(&env, MAXLEN);
    assert_non_null(f);
    uint8_t scratch[4096];
    size_t got = 0;
    for (size_t off = 0; off < len;) {
        size_t take = len - off < chunk ? len - off : chunk;
        memcpy(scratch, stream + off, take);
        memset(scratch + take, 0xee, sizeof(scratch) - take);
        off += take;
        uint8_t *in = scratch;
        size_t in_len = take;
        uint8_t *frame;
        size_t flen;
        int rc;
        while ((rc = pl_tcpframe_next(f, &in, &in_len, &frame, &flen)) == PL_OK) {
            assert_true(got < n);
            assert_int_equal(flen, lens[got]);
            for (size_t k = 0; k < flen; k++)
                assert_int_equal(frame[k], (uint8_t)(got + 1));
            got++;
        }
        assert_int_equal(rc, PL_EAGAIN);
        assert_int_equal(in_len, 0);
    }
    assert_int_equal(got, n);
    assert_int_equal(pl_tcpframe_pending(f), 0);
    pl_tcpframe_destroy(f);
}

/* Many frames per read, a frame split across reads, a header split in
 * two, empty frames and one of the maximum length, for every read size
 * from one byte to more than the whole stream. */
static void test_every_split(void **state)
{
    (void)state;
    static const size_t lens[] = {20, 0, 1, 1200, 3, MAXLEN, 100, 0, 0, 57};
    size_t n = sizeof(lens) / sizeof(lens[0]);
    static uint8_t stream[8192];
    size_t len = make_stream(stream, lens, n);
    for (size_t chunk = 1; chunk <= 4096; chunk = chunk < 64 ? chunk + 1 : chunk * 2 + 1)
        feed_in_chunks(stream, len, lens, n, chunk);
}

/* A frame that arrives whole within one read is handed out in place. */
static void test_whole_frames_in_place(void **state)
{
    (void)state;
    uint64_t seed;
    pl_env env = pl_env_seeded(&seed, 1);
    pl_tcpframe *f = pl_tcpframe_create(&env, MAXLEN);
    static const size_t lens[] = {10, 30};
    uint8_t buf[64];
    size_t len = make_stream(buf, lens, 2);
    uint8_t *in = buf, *frame;
    size_t in_len = len, flen;
    assert_int_equal(pl_tcpframe_next(f, &in, &in_len, &frame, &flen), PL_OK);
    assert_ptr_equal(frame, buf + 2);
    assert_int_equal(pl_tcpframe_next(f, &in, &in_len, &frame, &flen), PL_OK);
    assert_ptr_equal(frame, buf + 14);
    assert_int_equal(flen, 30);
    assert_int_equal(pl_tcpframe_next(f, &in, &in_len, &frame, &flen), PL_EAGAIN);
    pl_tcpframe_destroy(f);
}

/* A length over the bound fails the parser for good, however the stream
 * goes on; one at the bound passes. */
static void test_oversized_refused(void **state)
{
    (void)state;
    uint64_t seed;
    pl_env env = pl_env_seeded(&seed, 1);
    pl_tcpframe *f = pl_tcpframe_create(&env, MAXLEN);
    uint8_t buf[8] = {0xff, 0xff, 1, 2, 3, 4, 5, 6};
    uint8_t *in = buf, *frame;
    size_t in_len = 1, flen;
    assert_int_equal(pl_tcpframe_next(f, &in, &in_len, &frame, &flen), PL_EAGAIN);
    assert_int_equal(pl_tcpframe_pending(f), 1);
    in_len = sizeof(buf) - 1;
    assert_int_equal(pl_tcpframe_next(f, &in, &in_len, &frame, &flen), PL_EMALFORMED);
    assert_true(pl_tcpframe_failed(f));
    uint8_t ok[4] = {0, 2, 9, 9};
    in = ok;
    in_len = sizeof(ok);
    assert_int_equal(pl_tcpframe_next(f, &in, &in_len, &frame, &flen), PL_EMALFORMED);
    pl_tcpframe_destroy(f);

    f = pl_tcpframe_create(&env, MAXLEN);
    uint8_t hdr[2];
    pl_tcpframe_put_header(hdr, MAXLEN + 1);
    in = hdr;
    in_len = 2;
    assert_int_equal(pl_tcpframe_next(f, &in, &in_len, &frame, &flen), PL_EMALFORMED);
    pl_tcpframe_destroy(f);

    assert_null(pl_tcpframe_create(&env, 0));
    assert_null(pl_tcpframe_create(&env, PL_TCPFRAME_MAX + 1));
    assert_int_equal(pl_tcpframe_put_header(hdr, PL_TCPFRAME_MAX + 1), PL_EINVAL);
    assert_int_equal(pl_tcpframe_put_header(hdr, PL_TCPFRAME_MAX), PL_OK);
    assert_int_equal(hdr[0], 0xff);
    assert_int_equal(hdr[1], 0xff);
}

/* What is pending grows with a frame's bytes and falls back to zero once
 * it is out: the caller's deadline on a slow frame reads it. */
static void test_pending(void **state)
{
    (void)state;
    uint64_t seed;
    pl_env env = pl_env_seeded(&seed, 1);
    pl_tcpframe *f = pl_tcpframe_create(&env, MAXLEN);
    uint8_t buf[7] = {0, 5, 1, 2, 3, 4, 5};
    uint8_t *frame;
    size_t flen;
    for (size_t i = 0; i < sizeof(buf); i++) {
        uint8_t *in = buf + i;
        size_t in_len = 1;
        int rc = pl_tcpframe_next(f, &in, &in_len, &frame, &flen);
        if (i + 1 < sizeof(buf)) {
            assert_int_equal(rc, PL_EAGAIN);
            assert_int_equal(pl_tcpframe_pending(f), i + 1);
        } else {
            assert_int_equal(rc, PL_OK);
            assert_int_equal(flen, 5);
            assert_memory_equal(frame, buf + 2, 5);
            assert_int_equal(pl_tcpframe_pending(f), 0);
        }
    }
    pl_tcpframe_destroy(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_split),
        cmocka_unit_test(test_whole_frames_in_place),
        cmocka_unit_test(test_oversized_refused),
        cmocka_unit_test(test_pending),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
