#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "parley/hmap.h"

#define N 5000

/* Thousands of keys in, every one found, removed in another order with the
 * rest still found after each removal (the backward shift keeps probe runs
 * whole), and the table empty at the end. */
static void test_put_get_remove_many(void **state)
{
    (void)state;
    uint64_t seed;
    pl_env env = pl_env_seeded(&seed, 3);
    pl_hmap *m = pl_hmap_create(&env);
    static uint64_t ids[N];
    static int values[N];
    for (size_t i = 0; i < N; i++) {
        ids[i] = (uint64_t)i * 7919u; /* close ids, as transport ids are */
        assert_int_equal(pl_hmap_put(m, &ids[i], sizeof(ids[i]), &values[i]), PL_OK);
    }
    for (size_t i = 0; i < N; i++)
        assert_ptr_equal(pl_hmap_get(m, &ids[i], sizeof(ids[i])), &values[i]);
    uint64_t absent = 1;
    assert_null(pl_hmap_get(m, &absent, sizeof(absent)));
    for (size_t k = 0; k < N; k++) {
        size_t i = (k * 2654435761u) % N; /* a permutation: N is not a factor */
        assert_ptr_equal(pl_hmap_remove(m, &ids[i], sizeof(ids[i]), NULL), &values[i]);
        assert_null(pl_hmap_get(m, &ids[i], sizeof(ids[i])));
        if (k % 500 == 0)
            for (size_t j = 0; j < N; j++) {
                void *v = pl_hmap_get(m, &ids[j], sizeof(ids[j]));
                assert_true(v == NULL || v == &values[j]);
            }
    }
    for (size_t i = 0; i < N; i++)
        assert_null(pl_hmap_get(m, &ids[i], sizeof(ids[i])));
    pl_hmap_destroy(m);
}

/* String keys of different lengths; replacing a key's value; removing only
 * when the value is the one expected (another owner took the key over). */
static void test_strings_replace_and_owned_remove(void **state)
{
    (void)state;
    uint64_t seed;
    pl_env env = pl_env_seeded(&seed, 3);
    pl_hmap *m = pl_hmap_create(&env);
    int a, b;
    assert_int_equal(pl_hmap_put(m, "ufrag", 5, &a), PL_OK);
    assert_int_equal(pl_hmap_put(m, "ufra", 4, &b), PL_OK);
    assert_ptr_equal(pl_hmap_get(m, "ufrag", 5), &a);
    assert_ptr_equal(pl_hmap_get(m, "ufra", 4), &b);
    assert_null(pl_hmap_get(m, "ufragx", 6));
    assert_int_equal(pl_hmap_put(m, "ufrag", 5, &b), PL_OK); /* taken over */
    assert_null(pl_hmap_remove(m, "ufrag", 5, &a));          /* not a's any more */
    assert_ptr_equal(pl_hmap_get(m, "ufrag", 5), &b);
    assert_ptr_equal(pl_hmap_remove(m, "ufrag", 5, &b), &b);
    assert_null(pl_hmap_remove(m, "ufrag", 5, NULL));
    assert_ptr_equal(pl_hmap_get(m, "ufra", 4), &b);
    pl_hmap_destroy(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_put_get_remove_many),
        cmocka_unit_test(test_strings_replace_and_owned_remove),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
