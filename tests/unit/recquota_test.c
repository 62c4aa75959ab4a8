/* The recordings' storage policy on tables: who may start, which
 * recordings go (expired first, then the oldest over the server bound,
 * never one being written) and when a recording must stop. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "parley/common.h"
#include "parley/recquota.h"

#define MB ((int64_t)1 << 20)
#define DAY ((int64_t)86400000)
#define NOW (1000 * DAY)

static void test_limits(void **state)
{
    (void)state;
    pl_rec_limits l;
    assert_int_equal(pl_recquota_limits(&l, 100, 1000, 7), PL_OK);
    assert_int_equal(l.user_bytes, 100 * MB);
    assert_int_equal(l.server_bytes, 1000 * MB);
    assert_int_equal(l.keep_ms, 7 * DAY);
    assert_int_equal(l.start_bytes, MB);
    assert_int_equal(pl_recquota_limits(&l, 0, 0, 0), PL_OK);
    assert_int_equal(l.user_bytes, 0);
    assert_int_equal(pl_recquota_limits(&l, -1, 0, 0), PL_EINVAL);
    assert_int_equal(pl_recquota_limits(&l, 0, -1, 0), PL_EINVAL);
    assert_int_equal(pl_recquota_limits(&l, 0, 0, -1), PL_EINVAL);
    assert_int_equal(pl_recquota_limits(&l, INT64_MAX, 0, 0), PL_EINVAL);
    assert_int_equal(pl_recquota_limits(&l, 0, 0, INT64_MAX / 1000), PL_EINVAL);
}

static void test_expired(void **state)
{
    (void)state;
    pl_rec_limits l;
    pl_recquota_limits(&l, 0, 0, 7);
    static const struct {
        int64_t ended;
        bool expired;
    } rows[] = {
        {0, false}, /* being written: never */
        {NOW - 7 * DAY, true},
        {NOW - 7 * DAY + 1, false},
        {NOW - 30 * DAY, true},
        {NOW, false},
        {NOW + DAY, false}, /* a clock stepped back */
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        pl_rec_usage r = {"u", MB, rows[i].ended, PL_REC_MEETING};
        assert_int_equal(pl_recquota_expired(&l, &r, NOW), rows[i].expired);
    }
    pl_recquota_limits(&l, 0, 0, 0); /* no expiry */
    pl_rec_usage r = {"u", MB, 1, PL_REC_MEETING};
    assert_false(pl_recquota_expired(&l, &r, NOW));
}

static const pl_rec_usage table[] = {
    {"ann", 40 * MB, NOW - 10 * DAY, PL_REC_MEETING}, /* 0: expired */
    {"bob", 30 * MB, NOW - 3 * DAY, PL_REC_MEETING},  /* 1 */
    {"ann", 20 * MB, NOW - 2 * DAY, PL_REC_MESSAGE},  /* 2 */
    {"bob", 25 * MB, 0, PL_REC_MEETING},              /* 3: being written */
    {"cid", 10 * MB, NOW - 1 * DAY, PL_REC_MEETING},  /* 4 */
    {"ann", 5 * MB, NOW - 8 * DAY, PL_REC_MESSAGE},   /* 5: expired */
    {"cid", 15 * MB, NOW - 3 * DAY, PL_REC_MEETING},  /* 6: ties with 1 */
};
#define N (sizeof(table) / sizeof(table[0]))

static void test_may_start(void **state)
{
    (void)state;
    static const struct {
        int64_t user_mb, server_mb, start_bytes;
        const char *user;
        enum pl_recquota_verdict v;
    } rows[] = {
        {0, 0, MB, "ann", PL_RECQUOTA_OK},
        /* ann keeps 20 MB that count (her 40 and 5 have expired) */
        {21, 0, MB, "ann", PL_RECQUOTA_OK},
        {20, 0, MB, "ann", PL_RECQUOTA_USER_FULL}, /* no room for the 1 MB a start needs */
        /* bob: 30 finished and 25 being written */
        {56, 0, MB, "bob", PL_RECQUOTA_OK},
        {55, 0, MB, "bob", PL_RECQUOTA_USER_FULL},
        {55, 0, 0, "bob", PL_RECQUOTA_OK}, /* exactly full, nothing asked */
        {1, 0, MB, "dan", PL_RECQUOTA_OK}, /* nothing yet */
        /* the server bound counts only what is being written (25 MB) */
        {0, 26, MB, "dan", PL_RECQUOTA_OK},
        {0, 25, MB, "dan", PL_RECQUOTA_SERVER_FULL},
        {0, 100, MB, "dan", PL_RECQUOTA_OK},
        {20, 25, MB, "ann", PL_RECQUOTA_USER_FULL},
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        pl_rec_limits l;
        pl_recquota_limits(&l, rows[i].user_mb, rows[i].server_mb, 7);
        l.start_bytes = rows[i].start_bytes;
        print_message("# user %lld MB, server %lld MB, %s\n", (long long)rows[i].user_mb,
                      (long long)rows[i].server_mb, rows[i].user);
        assert_int_equal(pl_recquota_may_start(&l, table, N, rows[i].user, NOW), rows[i].v);
    }
    pl_rec_limits l;
    pl_recquota_limits(&l, 10, 10, 7);
    assert_int_equal(pl_recquota_may_start(&l, NULL, 0, "ann", NOW), PL_RECQUOTA_OK);
}

static void test_check(void **state)
{
    (void)state;
    pl_rec_limits l;
    pl_recquota_limits(&l, 55, 0, 7);
    assert_int_equal(pl_recquota_check(&l, table, N, 3, NOW), PL_RECQUOTA_OK); /* bob at 55 */
    pl_recquota_limits(&l, 54, 0, 7);
    assert_int_equal(pl_recquota_check(&l, table, N, 3, NOW), PL_RECQUOTA_USER_FULL);
    pl_recquota_limits(&l, 0, 25, 7);
    assert_int_equal(pl_recquota_check(&l, table, N, 3, NOW), PL_RECQUOTA_OK);
    pl_recquota_limits(&l, 0, 24, 7);
    assert_int_equal(pl_recquota_check(&l, table, N, 3, NOW), PL_RECQUOTA_SERVER_FULL);
    /* Bob's 30 MB expire in four days, after which 25 MB of his count. */
    pl_recquota_limits(&l, 26, 0, 7);
    assert_int_equal(pl_recquota_check(&l, table, N, 3, NOW), PL_RECQUOTA_USER_FULL);
    assert_int_equal(pl_recquota_check(&l, table, N, 3, NOW + 4 * DAY), PL_RECQUOTA_OK);
    assert_int_equal(pl_recquota_check(&l, table, N, N, NOW), PL_RECQUOTA_OK);
}

static void test_sweep(void **state)
{
    (void)state;
    static const struct {
        int64_t server_mb, days;
        int64_t now;
        size_t n;
        size_t want[N];
    } rows[] = {
        /* no bounds: nothing goes */
        {0, 0, NOW, 0, {0}},
        /* expiry alone, oldest first */
        {0, 7, NOW, 2, {0, 5}},
        {0, 2, NOW, 5, {0, 5, 1, 6, 2}},
        {0, 7, NOW + 30 * DAY, 6, {0, 5, 1, 6, 2, 4}}, /* never 3 */
        /* kept after expiry: 30+20+25+10+15 = 100 MB */
        {100, 7, NOW, 2, {0, 5}},
        {99, 7, NOW, 3, {0, 5, 1}},          /* the oldest, the first of a tie */
        {70, 7, NOW, 3, {0, 5, 1}},          /* 70 left */
        {69, 7, NOW, 4, {0, 5, 1, 6}},       /* then its tie */
        {35, 7, NOW, 5, {0, 5, 1, 6, 2}},    /* 35 left */
        {30, 7, NOW, 6, {0, 5, 1, 6, 2, 4}}, /* 25 left */
        {25, 7, NOW, 6, {0, 5, 1, 6, 2, 4}},
        {1, 7, NOW, 6, {0, 5, 1, 6, 2, 4}}, /* what is written stays */
        /* without expiry, the server bound counts everything: 145 MB */
        {100, 0, NOW, 2, {0, 5}},
        {90, 0, NOW, 3, {0, 5, 1}},
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        pl_rec_limits l;
        pl_recquota_limits(&l, 0, rows[i].server_mb, rows[i].days);
        size_t out[N];
        print_message("# server %lld MB, %lld days\n", (long long)rows[i].server_mb,
                      (long long)rows[i].days);
        int n = pl_recquota_sweep(&l, table, N, rows[i].now, out, N);
        assert_int_equal(n, (int)rows[i].n);
        for (size_t k = 0; k < rows[i].n; k++)
            assert_int_equal(out[k], rows[i].want[k]);
    }
    pl_rec_limits l;
    pl_recquota_limits(&l, 0, 1, 1);
    size_t out[N];
    assert_int_equal(pl_recquota_sweep(&l, table, N, NOW, out, N - 1), PL_EINVAL);
    assert_int_equal(pl_recquota_sweep(&l, table, N, NOW, NULL, N), PL_EINVAL);
    assert_int_equal(pl_recquota_sweep(&l, NULL, 0, NOW, NULL, 0), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_limits),    cmocka_unit_test(test_expired),
        cmocka_unit_test(test_may_start), cmocka_unit_test(test_check),
        cmocka_unit_test(test_sweep),
    };
    return cmocka_run_group_tests_name("recquota", tests, NULL, NULL);
}
