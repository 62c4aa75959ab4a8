/* The Range header: the examples of RFC 9110 14.1.2 on a 10000-byte
 * representation, the edges of the file, what is ignored (200) and what is
 * unsatisfiable (416), and the Content-Range values that go with them. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "parley/common.h"
#include "parley/httprange.h"

typedef struct row {
    const char *value;
    uint64_t size;
    int status;
    uint64_t start, end;
} row;

static void check_rows(const row *rows, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        pl_http_range r;
        print_message("# %s on %llu\n", rows[i].value ? rows[i].value : "(none)",
                      (unsigned long long)rows[i].size);
        assert_int_equal(pl_http_range_parse(rows[i].value, rows[i].size, &r), PL_OK);
        assert_int_equal(r.status, rows[i].status);
        if (r.status == 206) {
            assert_int_equal(r.start, rows[i].start);
            assert_int_equal(r.end, rows[i].end);
            assert_int_equal(r.length, rows[i].end - rows[i].start + 1);
        } else if (r.status == 200) {
            assert_int_equal(r.start, 0);
            assert_int_equal(r.length, rows[i].size);
        } else {
            assert_int_equal(r.length, 0);
        }
    }
}

static void test_rfc_examples(void **state)
{
    (void)state;
    static const row rows[] = {
        /* RFC 9110 14.1.2, a representation of length 10000 */
        {"bytes=0-499", 10000, 206, 0, 499},
        {"bytes=500-999", 10000, 206, 500, 999},
        {"bytes=-500", 10000, 206, 9500, 9999},
        {"bytes=9500-", 10000, 206, 9500, 9999},
        {"bytes=0-0,-1", 10000, 200, 0, 0}, /* several ranges: whole */
        {"bytes= 0-999, 4500-5499, -1000", 10000, 200, 0, 0},
        {"bytes=500-600,601-999", 10000, 200, 0, 0},
        {"bytes=500-700,601-999", 10000, 200, 0, 0},
        /* 14.1.1: a last position past the end is clamped */
        {"bytes=0-99999", 10000, 206, 0, 9999},
        {"bytes=9999-", 10000, 206, 9999, 9999},
        {"bytes=9999-9999", 10000, 206, 9999, 9999},
        /* a suffix longer than the file is the whole file */
        {"bytes=-20000", 10000, 206, 0, 9999},
        {"bytes=-10000", 10000, 206, 0, 9999},
        {"bytes=-1", 1, 206, 0, 0},
    };
    check_rows(rows, sizeof(rows) / sizeof(rows[0]));
}

static void test_unsatisfiable(void **state)
{
    (void)state;
    static const row rows[] = {
        {"bytes=10000-", 10000, 416, 0, 0},
        {"bytes=10000-10001", 10000, 416, 0, 0},
        {"bytes=-0", 10000, 416, 0, 0},
        {"bytes=0-", 0, 416, 0, 0},
        {"bytes=0-0", 0, 416, 0, 0},
        {"bytes=99999999999999999999999-", 10000, 416, 0, 0}, /* saturates */
        {"bytes=18446744073709551615-", UINT64_MAX, 416, 0, 0},
    };
    check_rows(rows, sizeof(rows) / sizeof(rows[0]));
    pl_http_range r;
    char buf[64];
    assert_int_equal(pl_http_range_parse("bytes=20000-", 10000, &r), PL_OK);
    assert_int_equal(pl_http_range_content_range(&r, 10000, buf, sizeof(buf)), PL_OK);
    assert_string_equal(buf, "bytes */10000");
}

static void test_ignored(void **state)
{
    (void)state;
    static const row rows[] = {
        {NULL, 10000, 200, 0, 0},
        {"", 10000, 200, 0, 0},
        {"bytes=", 10000, 200, 0, 0},
        {"bytes=,", 10000, 200, 0, 0},
        {"bytes=5-2", 10000, 200, 0, 0}, /* last before first: invalid */
        {"bytes=x-", 10000, 200, 0, 0},
        {"bytes=-", 10000, 200, 0, 0},
        {"bytes=1-2-3", 10000, 200, 0, 0},
        {"bytes=--1", 10000, 200, 0, 0},
        {"bytes=+1-2", 10000, 200, 0, 0},
        {"bytes=1 -2", 10000, 200, 0, 0},
        {"bytes 0-1", 10000, 200, 0, 0},
        {"bytes = 0-1", 10000, 200, 0, 0},
        {"items=0-1", 10000, 200, 0, 0},
        {"byte=0-1", 10000, 200, 0, 0},
        {"bytesx=0-1", 10000, 200, 0, 0},
        {"=0-1", 10000, 200, 0, 0},
        {"bytes=0-1;x", 10000, 200, 0, 0},
        {"bytes=0x10-", 10000, 200, 0, 0},
        {"bytes=1-2,x", 10000, 200, 0, 0},
        {"bytes=-5", 0, 200, 0, 0}, /* a suffix of an empty file */
        {"bytes=-5000,", 0, 200, 0, 0},
    };
    check_rows(rows, sizeof(rows) / sizeof(rows[0]));
    pl_http_range r;
    char buf[8];
    assert_int_equal(pl_http_range_parse(NULL, 5, &r), PL_OK);
    assert_int_equal(pl_http_range_content_range(&r, 5, buf, sizeof(buf)), PL_EINVAL);
    assert_int_equal(pl_http_range_parse("bytes=0-1", 5, NULL), PL_EINVAL);
}

static void test_lenient_forms(void **state)
{
    (void)state;
    static const row rows[] = {
        {"Bytes=0-1", 10000, 206, 0, 1}, /* the unit is case-insensitive */
        {"BYTES=0-1", 10000, 206, 0, 1},
        {"  bytes=0-1 \t", 10000, 206, 0, 1},
        {"bytes=0-1,", 10000, 206, 0, 1}, /* empty list elements are skipped */
        {"bytes=, ,0-1 , ", 10000, 206, 0, 1},
        {"bytes=007-010", 10000, 206, 7, 10},
        {"bytes=0-18446744073709551616", 10000, 206, 0, 9999},
    };
    check_rows(rows, sizeof(rows) / sizeof(rows[0]));
}

static void test_content_range(void **state)
{
    (void)state;
    pl_http_range r;
    char buf[72];
    assert_int_equal(pl_http_range_parse("bytes=-500", 10000, &r), PL_OK);
    assert_int_equal(pl_http_range_content_range(&r, 10000, buf, sizeof(buf)), PL_OK);
    assert_string_equal(buf, "bytes 9500-9999/10000");
    assert_int_equal(pl_http_range_parse("bytes=0-", UINT64_MAX, &r), PL_OK);
    assert_int_equal(r.status, 206);
    assert_int_equal(pl_http_range_content_range(&r, UINT64_MAX, buf, sizeof(buf)), PL_OK);
    assert_string_equal(buf, "bytes 0-18446744073709551614/18446744073709551615");
    char small[10];
    assert_int_equal(pl_http_range_content_range(&r, UINT64_MAX, small, sizeof(small)), PL_ENOSPC);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rfc_examples),  cmocka_unit_test(test_unsatisfiable),
        cmocka_unit_test(test_ignored),       cmocka_unit_test(test_lenient_forms),
        cmocka_unit_test(test_content_range),
    };
    return cmocka_run_group_tests_name("httprange", tests, NULL, NULL);
}
