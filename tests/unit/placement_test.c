/* Room placement's pure parts: registry records both ways, Redis and
 * public URLs, the order nodes are offered rooms in, and what a node does
 * with a claim's answer. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "parley/common.h"
#include "parley/placement.h"

static pl_place_node node(const char *id, uint32_t rooms, uint32_t participants, uint32_t cpu)
{
    pl_place_node n = {.rooms = rooms, .participants = participants, .cpu_pct = cpu};
    snprintf(n.id, sizeof(n.id), "%s", id);
    snprintf(n.url, sizeof(n.url), "ws://10.0.0.1:8080/ws");
    return n;
}

static void test_record_round_trip(void **state)
{
    (void)state;
    pl_place_node n = node("a1", 3, 9, 40), back;
    snprintf(n.media, sizeof(n.media), "10.0.0.1");
    n.pps = 1234;
    n.draining = true;
    char text[512];
    int len = pl_place_node_format(&n, text, sizeof(text));
    assert_true(len > 0);
    assert_int_equal(pl_place_node_parse(text, (size_t)len, &back), PL_OK);
    assert_string_equal(back.id, "a1");
    assert_string_equal(back.url, "ws://10.0.0.1:8080/ws");
    assert_string_equal(back.media, "10.0.0.1");
    assert_int_equal(back.rooms, 3);
    assert_int_equal(back.participants, 9);
    assert_int_equal(back.pps, 1234);
    assert_int_equal(back.cpu_pct, 40);
    assert_true(back.draining);
    assert_int_equal(pl_place_node_format(&n, text, 20), PL_ENOSPC);
}

static void test_record_refused(void **state)
{
    (void)state;
    pl_place_node n;
    static const char *const bad[] = {
        "",
        "[]",
        "{\"url\":\"ws://h:1/ws\"}",                              /* no id */
        "{\"id\":\"a b\",\"url\":\"ws://h:1/ws\"}",               /* id with a space */
        "{\"id\":\"a\",\"url\":\"http://h:1/ws\"}",               /* not a WebSocket */
        "{\"id\":\"a\",\"url\":\"ws://\"}",                       /* no host */
        "{\"id\":\"a\",\"url\":\"ws://h:1/ws\",\"rooms\":-1}",    /* negative */
        "{\"id\":\"a\",\"url\":\"ws://h:1/ws\",\"rooms\":\"1\"}", /* not a number */
        "{\"id\":\"a\",\"url\":\"ws://h:1/ws\",\"draining\":1}",
        "{\"id\":\"a\",\"id\":\"b\",\"url\":\"ws://h:1/ws\"}", /* duplicate */
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(pl_place_node_parse(bad[i], strlen(bad[i]), &n), PL_EMALFORMED);
    const char *minimal = "{\"id\":\"a\",\"url\":\"wss://h.example/ws\"}";
    assert_int_equal(pl_place_node_parse(minimal, strlen(minimal), &n), PL_OK);
    assert_int_equal(n.rooms, 0);
    assert_false(n.draining);
}

static void test_public_url(void **state)
{
    (void)state;
    char u[64];
    assert_true(pl_place_public_url("10.0.0.2", 8080, false, u, sizeof(u)) > 0);
    assert_string_equal(u, "ws://10.0.0.2:8080/ws");
    assert_true(pl_place_public_url("::1", 443, true, u, sizeof(u)) > 0);
    assert_string_equal(u, "wss://[::1]:443/ws");
    assert_int_equal(pl_place_public_url("10.0.0.2", 8080, false, u, 8), PL_ENOSPC);
}

static void test_rank(void **state)
{
    (void)state;
    pl_place_node n[5] = {node("c", 2, 4, 10), node("a", 1, 9, 90), node("b", 1, 3, 50),
                          node("d", 0, 0, 0), node("e", 1, 3, 50)};
    n[3].draining = true; /* the emptiest, but taking no rooms */
    size_t order[5];
    assert_int_equal(pl_place_rank(n, 5, order), 4);
    /* fewest rooms, then participants; the id breaks a tie */
    assert_string_equal(n[order[0]].id, "b");
    assert_string_equal(n[order[1]].id, "e");
    assert_string_equal(n[order[2]].id, "a");
    assert_string_equal(n[order[3]].id, "c");
    assert_int_equal(pl_place_rank(n, 0, order), 0);
    pl_place_node x = node("x", 1, 1, 20), y = node("y", 1, 1, 10);
    assert_true(pl_place_less_loaded(&y, &x)); /* CPU */
    y.cpu_pct = 20;
    x.pps = 5;
    assert_true(pl_place_less_loaded(&y, &x)); /* then packets */
}

static void test_decide(void **state)
{
    (void)state;
    char url[64];
    assert_int_equal(pl_place_decide("a", "a", NULL, url, sizeof(url)), PL_PLACE_LOCAL);
    const char *rec = "{\"id\":\"b\",\"url\":\"ws://10.0.0.3:8080/ws\"}";
    assert_int_equal(pl_place_decide("a", "b", rec, url, sizeof(url)), PL_PLACE_REDIRECT);
    assert_string_equal(url, "ws://10.0.0.3:8080/ws");
    /* A record that is not the owner's, or not a record at all. */
    assert_int_equal(pl_place_decide("a", "c", rec, url, sizeof(url)), PL_EMALFORMED);
    assert_int_equal(pl_place_decide("a", "b", "nope", url, sizeof(url)), PL_EMALFORMED);
    assert_int_equal(pl_place_decide("a", "b", NULL, url, sizeof(url)), PL_EMALFORMED);
    assert_int_equal(pl_place_decide("a", "b", rec, url, 8), PL_ENOSPC);
}

static void test_ids(void **state)
{
    (void)state;
    assert_true(pl_place_valid_id("node-1.a_b"));
    assert_false(pl_place_valid_id(""));
    assert_false(pl_place_valid_id(NULL));
    assert_false(pl_place_valid_id("a:b"));
    assert_false(pl_place_valid_id("123456789012345678901234567890123"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_record_round_trip),
        cmocka_unit_test(test_record_refused),
        cmocka_unit_test(test_public_url),
        cmocka_unit_test(test_rank),
        cmocka_unit_test(test_decide),
        cmocka_unit_test(test_ids),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
