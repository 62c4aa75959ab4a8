/* The messages between nodes of a cluster (signaling/busmsg.c): each kind
 * round-trips with every field, goes to its channel, and what is not one
 * (another version, a missing or overlong field, an unknown action or
 * status, a tell that is not a call message) is refused. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "busmsg.h"

static pl_busmsg round_trip(const pl_busmsg *m)
{
    char *text = pl_busmsg_encode(m);
    assert_non_null(text);
    pl_busmsg out;
    assert_int_equal(pl_busmsg_decode(text, strlen(text), &out), PL_OK);
    free(text);
    return out;
}

static void test_kinds_round_trip(void **state)
{
    (void)state;
    pl_busmsg ring = {.kind = PL_BUS_RING,
                      .node = "0123456789abcdef",
                      .call_id = "c0011223344ff",
                      .user = "uBob",
                      .caller = "uAda",
                      .name = "Ada \xc3\xa9",
                      .topic = "",
                      .audio_only = true};
    pl_busmsg got = round_trip(&ring);
    assert_int_equal(got.kind, PL_BUS_RING);
    assert_string_equal(got.node, ring.node);
    assert_string_equal(got.call_id, ring.call_id);
    assert_string_equal(got.user, "uBob");
    assert_string_equal(got.caller, "uAda");
    assert_string_equal(got.name, ring.name);
    assert_string_equal(got.topic, "");
    assert_true(got.audio_only);
    char ch[96];
    assert_int_equal(pl_busmsg_channel(&got, ch, sizeof(ch)), PL_OK);
    assert_string_equal(ch, "parley:user:uBob"); /* the callee's */

    pl_busmsg act = {.kind = PL_BUS_ACT,
                     .node = "fedcba9876543210",
                     .call_id = "c1",
                     .user = "uBob",
                     .caller = "uAda",
                     .word = "decline"};
    got = round_trip(&act);
    assert_int_equal(got.kind, PL_BUS_ACT);
    assert_string_equal(got.word, "decline");
    assert_int_equal(pl_busmsg_channel(&got, ch, sizeof(ch)), PL_OK);
    assert_string_equal(ch, "parley:user:uAda"); /* the caller's */

    json_t *msg = json_pack("{s:s,s:s,s:s}", "type", "call-ended", "call_id", "c1", "by", "uAda");
    pl_busmsg tell = {.kind = PL_BUS_TELL,
                      .node = "fedcba9876543210",
                      .call_id = "c1",
                      .user = "uBob",
                      .msg = msg,
                      .end = true};
    got = round_trip(&tell);
    assert_true(json_equal(got.msg, msg));
    assert_true(got.end);
    pl_busmsg_clear(&got);
    assert_null(got.msg);
    json_decref(msg);

    pl_busmsg pres = {.kind = PL_BUS_PRESENCE,
                      .node = "fedcba9876543210",
                      .user = "uCy",
                      .name = "Cy",
                      .word = "in-call"};
    got = round_trip(&pres);
    assert_int_equal(got.kind, PL_BUS_PRESENCE);
    assert_string_equal(got.word, "in-call");
    assert_int_equal(pl_busmsg_channel(&got, ch, sizeof(ch)), PL_OK);
    assert_string_equal(ch, "parley:presence");
    assert_int_equal(pl_busmsg_channel(&got, ch, 8), PL_ENOSPC);
}

static void test_refused(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "",
        "[]",
        "not json",
        /* Another version, no node, an unknown kind. */
        "{\"v\":2,\"t\":\"presence\",\"node\":\"n\",\"user\":\"u\",\"name\":\"N\",\"status\":"
        "\"online\"}",
        "{\"v\":1,\"t\":\"presence\",\"user\":\"u\",\"name\":\"N\",\"status\":\"online\"}",
        "{\"v\":1,\"t\":\"gossip\",\"node\":\"n\"}",
        /* A status or an action that is none. */
        "{\"v\":1,\"t\":\"presence\",\"node\":\"n\",\"user\":\"u\",\"name\":\"N\",\"status\":"
        "\"away\"}",
        "{\"v\":1,\"t\":\"act\",\"node\":\"n\",\"call_id\":\"c\",\"user\":\"u\",\"caller\":\"a\","
        "\"action\":\"explode\"}",
        /* A ring without its caller; a call id too long; a node id too long. */
        "{\"v\":1,\"t\":\"ring\",\"node\":\"n\",\"call_id\":\"c\",\"user\":\"u\",\"name\":\"A\","
        "\"topic\":\"\",\"audio_only\":false}",
        "{\"v\":1,\"t\":\"act\",\"node\":\"n\",\"call_id\":\"c0123456789abcdef\",\"user\":\"u\","
        "\"caller\":\"a\",\"action\":\"accept\"}",
        "{\"v\":1,\"t\":\"presence\",\"node\":\"0123456789abcdef0\",\"user\":\"u\",\"name\":\"N\","
        "\"status\":\"online\"}",
        /* A tell that would make a node speak for another: not a call
         * message; and one without end. */
        "{\"v\":1,\"t\":\"tell\",\"node\":\"n\",\"call_id\":\"c\",\"user\":\"u\","
        "\"msg\":{\"type\":\"welcome\"},\"end\":false}",
        "{\"v\":1,\"t\":\"tell\",\"node\":\"n\",\"call_id\":\"c\",\"user\":\"u\","
        "\"msg\":{\"type\":\"call-ended\"}}",
        /* A duplicate key. */
        "{\"v\":1,\"v\":1,\"t\":\"presence\",\"node\":\"n\",\"user\":\"u\",\"name\":\"N\","
        "\"status\":\"online\"}",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        pl_busmsg m;
        assert_int_equal(pl_busmsg_decode(bad[i], strlen(bad[i]), &m), PL_EMALFORMED);
        assert_null(m.msg);
    }
    /* A user id at its limit passes, one past it does not. */
    char text[512], id[PL_AUTH_ID_MAX + 2];
    memset(id, 'u', sizeof(id) - 1);
    id[PL_AUTH_ID_MAX] = '\0';
    snprintf(text, sizeof(text),
             "{\"v\":1,\"t\":\"presence\",\"node\":\"n\",\"user\":\"%s\",\"name\":\"N\","
             "\"status\":\"dnd\"}",
             id);
    pl_busmsg m;
    assert_int_equal(pl_busmsg_decode(text, strlen(text), &m), PL_OK);
    id[PL_AUTH_ID_MAX] = 'u';
    id[PL_AUTH_ID_MAX + 1] = '\0';
    snprintf(text, sizeof(text),
             "{\"v\":1,\"t\":\"presence\",\"node\":\"n\",\"user\":\"%s\",\"name\":\"N\","
             "\"status\":\"dnd\"}",
             id);
    assert_int_equal(pl_busmsg_decode(text, strlen(text), &m), PL_EMALFORMED);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_kinds_round_trip),
        cmocka_unit_test(test_refused),
    };
    return cmocka_run_group_tests_name("busmsg", tests, NULL, NULL);
}
