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
        assert_int_equal(pl_pktcache_put(c, seq, pkt, 100, i * 20000), PL_OK);
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
    assert_int_equal(pl_pktcache_put(c, (uint16_t)(65400 + 299), pkt, 100, 0), PL_EREPLAY);
    assert_int_equal(pl_pktcache_put(c, 7, pkt, sizeof(pkt), 0), PL_EINVAL);
    assert_int_equal(pl_pktcache_put(c, 7, pkt, 0, 0), PL_EINVAL);
    pl_pktcache_stats st;
    pl_pktcache_stats_get(c, &st);
    assert_int_equal(st.stored, 300);
    assert_int_equal(st.too_big, 2);
    /* A new source: everything forgotten. */
    pl_pktcache_clear(c);
    assert_null(pl_pktcache_get(c, (uint16_t)(65400 + 299), &len));
    pl_pktcache_destroy(&env, c);
}

/* The ring follows the rate: 100-byte packets at 50/s stay in the first
 * 16 KB; 1200-byte packets at 100/s (960 kbit/s) grow it to hold a second
 * and a quarter of them, and what it held survives the growth. Bytes written over are
 * not handed out even while their slot still names them. */
static void test_sized_by_rate(void **state)
{
    (void)state;
    pl_env env = pl_env_default();
    pl_pktcache *c = pl_pktcache_create(&env, 256);
    uint8_t pkt[1200];
    int64_t t = 0;
    uint16_t seq = 0;
    for (int i = 0; i < 100; i++, seq++, t += 20000) {
        memset(pkt, seq & 0xff, 100);
        assert_int_equal(pl_pktcache_put(c, seq, pkt, 100, t), PL_OK);
    }
    assert_int_equal(pl_pktcache_bytes(c), 16 * 1024);
    for (int i = 0; i < 300; i++, seq++, t += 10000) {
        memset(pkt, seq & 0xff, sizeof(pkt));
        assert_int_equal(pl_pktcache_put(c, seq, pkt, sizeof(pkt), t), PL_OK);
    }
    size_t bytes = pl_pktcache_bytes(c);
    assert_true(bytes >= 120000 && bytes <= 170000);
    pl_pktcache_stats st;
    pl_pktcache_stats_get(c, &st);
    assert_true(st.grown >= 1);
    /* The last second's packets are there; those from two seconds back are
     * written over. */
    size_t len;
    assert_null(pl_pktcache_get(c, (uint16_t)(seq - 200), &len));
    for (uint16_t s = (uint16_t)(seq - 100); s != seq; s++) {
        const uint8_t *p = pl_pktcache_get(c, s, &len);
        assert_non_null(p);
        assert_int_equal(len, sizeof(pkt));
        assert_int_equal(p[0], s & 0xff);
        assert_int_equal(p[len - 1], s & 0xff);
    }
    pl_pktcache_destroy(&env, c);
    /* Sixteen 1200-byte packets at one instant (no rate measured yet, so
     * no growth): the first 16 KB hold 13 of them, the 3 oldest are
     * written over though their slots still name them. */
    c = pl_pktcache_create(&env, 16);
    for (uint16_t s = 0; s < 16; s++) {
        memset(pkt, s, sizeof(pkt));
        assert_int_equal(pl_pktcache_put(c, s, pkt, sizeof(pkt), 0), PL_OK);
    }
    int found = 0;
    for (uint16_t s = 0; s < 16; s++) {
        const uint8_t *p = pl_pktcache_get(c, s, &len);
        if (p) {
            found++;
            assert_int_equal(p[0], s);
        }
    }
    assert_int_equal(found, 13);
    assert_null(pl_pktcache_get(c, 0, &len));
    assert_non_null(pl_pktcache_get(c, 15, &len));
    pl_pktcache_destroy(&env, c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bounds_and_eviction),
        cmocka_unit_test(test_sized_by_rate),
    };
    return cmocka_run_group_tests_name("pktcache", tests, NULL, NULL);
}
