#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "parley/buf.h"
#include "parley/common.h"

static void test_read_integers(void **state)
{
    (void)state;
    const uint8_t b[] = {0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09,
                         0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f, 0x10, 0x11, 0x12};
    pl_rbuf r = pl_rbuf_make(b, sizeof(b));
    assert_int_equal(pl_rbuf_u8(&r), 0x01);
    assert_int_equal(pl_rbuf_u16(&r), 0x0203);
    assert_int_equal(pl_rbuf_u24(&r), 0x040506);
    assert_int_equal(pl_rbuf_u32(&r), 0x0708090a);
    assert_true(pl_rbuf_u64(&r) == 0x0b0c0d0e0f101112ULL);
    assert_int_equal(pl_rbuf_left(&r), 0);
    assert_true(pl_rbuf_ok(&r));
}

static void test_read_past_end_is_sticky(void **state)
{
    (void)state;
    const uint8_t b[] = {0xaa, 0xbb, 0xcc};
    pl_rbuf r = pl_rbuf_make(b, sizeof(b));
    assert_int_equal(pl_rbuf_u16(&r), 0xaabb);
    assert_int_equal(pl_rbuf_u16(&r), 0); /* only one byte left */
    assert_false(pl_rbuf_ok(&r));
    /* Once failed, even a read that would fit returns nothing. */
    assert_int_equal(pl_rbuf_u8(&r), 0);
    assert_int_equal(pl_rbuf_left(&r), 0);
}

static void test_huge_skip_does_not_wrap(void **state)
{
    (void)state;
    const uint8_t b[4] = {0};
    pl_rbuf r = pl_rbuf_make(b, sizeof(b));
    pl_rbuf_u8(&r);
    assert_false(pl_rbuf_skip(&r, SIZE_MAX));
    assert_false(pl_rbuf_ok(&r));
    assert_null(pl_rbuf_take(&r, 1));
}

static void test_sub_reader(void **state)
{
    (void)state;
    const uint8_t b[] = {1, 2, 3, 4, 5};
    pl_rbuf r = pl_rbuf_make(b, sizeof(b));
    pl_rbuf s = pl_rbuf_sub(&r, 3);
    assert_true(pl_rbuf_ok(&s));
    assert_int_equal(pl_rbuf_u24(&s), 0x010203);
    assert_int_equal(pl_rbuf_u8(&s), 0);
    assert_false(pl_rbuf_ok(&s));
    assert_true(pl_rbuf_ok(&r)); /* parent unaffected by the child's failure */
    assert_int_equal(pl_rbuf_u16(&r), 0x0405);
    pl_rbuf t = pl_rbuf_sub(&r, 1);
    assert_false(pl_rbuf_ok(&t));
    assert_false(pl_rbuf_ok(&r));
}

static void test_write_and_overflow(void **state)
{
    (void)state;
    uint8_t out[8];
    pl_wbuf w = pl_wbuf_make(out, sizeof(out));
    pl_wbuf_u8(&w, 0x11);
    pl_wbuf_u16(&w, 0x2233);
    pl_wbuf_u24(&w, 0x445566);
    uint8_t *len = pl_wbuf_reserve(&w, 2);
    assert_non_null(len);
    pl_put_u16(len, 0x7788);
    assert_true(pl_wbuf_ok(&w));
    assert_int_equal(w.len, 8);
    const uint8_t want[] = {0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88};
    assert_memory_equal(out, want, sizeof(want));
    pl_wbuf_u8(&w, 0x99);
    assert_false(pl_wbuf_ok(&w));
    assert_int_equal(w.len, 8);
    assert_null(pl_wbuf_reserve(&w, 0));
}

static void test_write_u64_bytes_zeros(void **state)
{
    (void)state;
    uint8_t out[16];
    pl_wbuf w = pl_wbuf_make(out, sizeof(out));
    pl_wbuf_u64(&w, 0x0102030405060708ULL);
    pl_wbuf_bytes(&w, "ab", 2);
    pl_wbuf_zeros(&w, 2);
    pl_wbuf_u32(&w, 0xdeadbeef);
    assert_true(pl_wbuf_ok(&w));
    pl_rbuf r = pl_rbuf_make(out, w.len);
    assert_true(pl_rbuf_u64(&r) == 0x0102030405060708ULL);
    char ab[2];
    assert_true(pl_rbuf_copy(&r, ab, 2));
    assert_memory_equal(ab, "ab", 2);
    assert_int_equal(pl_rbuf_u16(&r), 0);
    assert_int_equal(pl_rbuf_u32(&r), 0xdeadbeef);
    pl_wbuf_bytes(&w, "x", 1);
    assert_false(pl_wbuf_ok(&w));
}

static void test_addr(void **state)
{
    (void)state;
    pl_addr a, b, c;
    assert_int_equal(pl_addr_set(&a, "192.0.2.1", 4000), PL_OK);
    assert_int_equal(pl_addr_set(&b, "192.0.2.1", 4000), PL_OK);
    assert_int_equal(pl_addr_set(&c, "2001:db8::1", 4000), PL_OK);
    assert_true(pl_addr_equal(&a, &b));
    assert_false(pl_addr_equal(&a, &c));
    assert_int_equal(pl_addr_port(&a), 4000);
    assert_int_equal(pl_addr_port(&c), 4000);
    assert_int_equal(pl_addr_set(&a, "not an ip", 1), PL_EINVAL);
}

static void test_seeded_env_is_deterministic(void **state)
{
    (void)state;
    uint64_t s1, s2;
    pl_env e1 = pl_env_seeded(&s1, 42), e2 = pl_env_seeded(&s2, 42);
    uint8_t a[32], b[32];
    pl_env_random(&e1, a, sizeof(a));
    pl_env_random(&e2, b, sizeof(b));
    assert_memory_equal(a, b, sizeof(a));
    assert_string_equal(pl_strerror(PL_EMALFORMED), "malformed input");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_read_integers),
        cmocka_unit_test(test_read_past_end_is_sticky),
        cmocka_unit_test(test_huge_skip_does_not_wrap),
        cmocka_unit_test(test_sub_reader),
        cmocka_unit_test(test_write_and_overflow),
        cmocka_unit_test(test_write_u64_bytes_zeros),
        cmocka_unit_test(test_addr),
        cmocka_unit_test(test_seeded_env_is_deterministic),
    };
    return cmocka_run_group_tests_name("buf", tests, NULL, NULL);
}
