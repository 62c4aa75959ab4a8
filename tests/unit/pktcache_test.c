#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "parley/pktcache.h"

static void test_bounds_and_eviction(void **state)
{
    (void)state;
    pl_env env = pl_env_default();
    pl_pktcache *c = pl_pktcache_create(&env, 100); /* rounded up to 128 */
    assert_int_equal(pl_pktcache_slots(c), 128);
    uint8_t pkt[PL_PKTCACHE_MAX_PACKET + 1];
    /* 300 packets across the sequence wrap: only the last 128 remain. */
    for (int i = 0; i < 300; i++) {
        uint16_t seq = (uint16_t)(65400 + i);
        memset(pkt, (int)(seq & 0xff), 100);
        assert_int_equal(pl_pktcache_put(c, seq, pkt, 100), PL_OK);
    }
    size_t len;
    for (int i = 0; i < 300; i++) {
        uint16_t seq = (uint16_t)(65400 + i);
        const uint8_t *p = pl_pktcache_get(c, seq, &len);
        if (i < 300 - 128) {
            assert_null(p);
        } else {
            assert_non_null(p);
            assert_int_equal(len, 100);
            assert_int_equal(p[0], seq & 0xff);
        }
    }
    /* A duplicate is refused; too big a packet is not kept. */
    assert_int_equal(pl_pktcache_put(c, (uint16_t)(65400 + 299), pkt, 100), PL_EREPLAY);
    assert_int_equal(pl_pktcache_put(c, 7, pkt, sizeof(pkt)), PL_EINVAL);
    assert_int_equal(pl_pktcache_put(c, 7, pkt, 0), PL_EINVAL);
    pl_pktcache_stats st;
    pl_pktcache_stats_get(c, &st);
    assert_int_equal(st.stored, 300);
    assert_int_equal(st.too_big, 2);
    /* A new source: everything forgotten. */
    pl_pktcache_clear(c);
    assert_null(pl_pktcache_get(c, (uint16_t)(65400 + 299), &len));
    pl_pktcache_destroy(&env, c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bounds_and_eviction),
    };
    return cmocka_run_group_tests_name("pktcache", tests, NULL, NULL);
}
