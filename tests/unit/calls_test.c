/* Calls in the signaling core on a virtual clock: the ring timeout to the
 * millisecond, heads-ups kept in an in-memory store, status precedence, and
 * a party whose connection is lost in the call (kept for the reconnection
 * grace, then the call ends). The outcomes over real sockets are in
 * tests/e2e/calls.test.mjs. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "parley/signal.h"
#include "parley/store.h"
#include "sigfx.h"

static const char *user_id(fx *f, int c)
{
    return str(json_object_get(got(f, c, "welcome"), "user"), "id");
}

/* Connection `from` calls the user of connection `to`; returns the call id
 * (valid until the next drain of `from`). */
static const char *call(fx *f, int from, int to, const char *extra)
{
    char m[256];
    snprintf(m, sizeof(m), "{\"type\":\"call\",\"to\":\"%s\"%s,\"id\":\"k\"}", user_id(f, to),
             extra);
    say(f, from, m);
    json_t *r = got(f, from, "call-ringing");
    assert_non_null(r);
    return str(r, "call_id");
}

static void act(fx *f, int c, const char *type, const char *id)
{
    char m[160];
    snprintf(m, sizeof(m), "{\"type\":\"%s\",\"call_id\":\"%s\"}", type, id);
    say(f, c, m);
}

/* The last presence `c` got about anyone, as its status. */
static const char *last_presence(fx *f, int c)
{
    json_t *p = got(f, c, "presence");
    return p ? str(p, "status") : NULL;
}

static void test_ring_timeout_and_heads_up(void **state)
{
    (void)state;
    fx *f = fx_new();
    pl_env env = pl_env_default();
    pl_store *st;
    assert_int_equal(pl_store_create(&env, ":memory:", &st), PL_OK);
    pl_sig_set_store(f->sig, st);
    pl_sig_set_ring_timeout(f->sig, 5000);
    hello(f, 0, "Ada");
    hello(f, 1, "Bob");
    hello(f, 2, "Cy");
    char id[32];
    snprintf(id, sizeof(id), "%s", call(f, 0, 1, ",\"topic\":\"release?\""));
    assert_non_null(got(f, 1, "incoming-call"));
    assert_string_equal(last_presence(f, 2), "ringing");
    pl_sig_tick(f->sig, fx_after(f, 4999));
    assert_null(got(f, 0, "call-missed"));
    pl_sig_tick(f->sig, fx_after(f, 5000));
    assert_string_equal(str(got(f, 0, "call-missed"), "call_id"), id);
    assert_string_equal(str(got(f, 1, "call-missed"), "call_id"), id);
    assert_string_equal(last_presence(f, 2), "online");
    pl_sig_stats ss;
    pl_sig_stats_get(f->sig, &ss);
    assert_int_equal(ss.calls, 0);
    assert_int_equal(ss.calls_missed, 1);
    /* Bob's next device hears of it, with who, why and when. */
    hello(f, 3, "Bob");
    json_t *items = json_object_get(got(f, 3, "welcome"), "missed");
    assert_int_equal(json_array_size(items), 1);
    json_t *m = json_array_get(items, 0);
    assert_string_equal(str(m, "call_id"), id);
    assert_string_equal(str(m, "topic"), "release?");
    assert_string_equal(str(m, "reason"), "missed");
    assert_string_equal(str(json_object_get(m, "from"), "name"), "Ada");
    assert_int_equal(json_integer_value(json_object_get(m, "ts")), f->now.wall_ms);
    char ack[96];
    snprintf(ack, sizeof(ack), "{\"type\":\"missed-ack\",\"call_ids\":[\"%s\"],\"id\":2}", id);
    say(f, 3, ack);
    assert_non_null(got(f, 3, "ok"));
    hello(f, 4, "Bob");
    assert_int_equal(json_array_size(json_object_get(got(f, 4, "welcome"), "missed")), 0);
    fx_free(f);
    pl_store_destroy(st);
}

static void test_status_precedence(void **state)
{
    (void)state;
    fx *f = fx_new();
    hello(f, 0, "Ada");
    hello(f, 1, "Bob");
    hello(f, 2, "Cy");
    char id[32];
    snprintf(id, sizeof(id), "%s", call(f, 0, 1, ""));
    act(f, 1, "call-accept", id);
    assert_string_equal(last_presence(f, 2), "in-call");
    /* dnd taken during a call shows once the call is over. */
    say(f, 1, "{\"type\":\"status\",\"status\":\"dnd\"}");
    drain(f, 2);
    say(f, 1, "{\"type\":\"status\",\"status\":\"dnd\"}");
    assert_null(got(f, 2, "presence")); /* still in-call: nothing changed */
    act(f, 0, "call-hangup", id);
    assert_string_equal(str(got(f, 1, "call-ended"), "by"), user_id(f, 0));
    json_t *p = NULL;
    for (size_t i = 0; i < f->b.n[2]; i++) {
        json_t *m = f->b.q[2][i];
        if (strcmp(str(m, "type"), "presence") == 0 &&
            strcmp(str(json_object_get(m, "user"), "name"), "Bob") == 0)
            p = m;
    }
    assert_non_null(p);
    assert_string_equal(str(p, "status"), "dnd");
    /* Without a store, a dnd call is still declined for dnd. */
    drain(f, 2);
    call(f, 2, 1, "");
    assert_string_equal(str(got(f, 2, "call-declined"), "reason"), "dnd");
    fx_free(f);
}

static void test_lost_connection_in_a_call(void **state)
{
    (void)state;
    fx *f = fx_new();
    pl_sig_set_reconnect_grace(f->sig, 10000);
    hello(f, 0, "Ada");
    hello(f, 1, "Bob");
    const char *token = str(got(f, 1, "welcome"), "resume_token");
    char tok[40], id[32], room[48];
    snprintf(tok, sizeof(tok), "%s", token);
    snprintf(id, sizeof(id), "%s", call(f, 0, 1, ""));
    act(f, 1, "call-accept", id);
    snprintf(room, sizeof(room), "%s", str(got(f, 0, "call-accepted"), "room"));
    char join[96];
    snprintf(join, sizeof(join), "{\"type\":\"join\",\"room\":\"%s\"}", room);
    say(f, 0, join);
    say(f, 1, join);
    assert_non_null(got(f, 1, "joined"));
    /* Bob's network drops: within the grace the call goes on unseen, and
     * his new connection hears where the call stands. */
    drain(f, 0);
    pl_sig_drop(f->sig, 1, f->now);
    pl_sig_tick(f->sig, fx_after(f, 9000));
    assert_null(got(f, 0, "call-ended"));
    assert_int_equal(pl_sig_connect(f->sig, 5), 0);
    char resume[128];
    snprintf(resume, sizeof(resume), "{\"type\":\"hello\",\"name\":\"Bob\",\"resume\":\"%s\"}",
             tok);
    say(f, 5, resume);
    assert_string_equal(str(got(f, 5, "call-accepted"), "room"), room);
    assert_non_null(got(f, 5, "joined"));
    /* The resumed welcome has the people list like any other. */
    json_t *online = json_object_get(got(f, 5, "welcome"), "online");
    assert_int_equal(json_array_size(online), 1);
    assert_string_equal(str(json_array_get(online, 0), "name"), "Ada");
    assert_string_equal(str(json_array_get(online, 0), "status"), "in-call");
    /* Lost again, and this time gone for good. */
    f->now = fx_after(f, 9000);
    pl_sig_drop(f->sig, 5, f->now);
    pl_sig_tick(f->sig, fx_after(f, 10000));
    json_t *e = got(f, 0, "call-ended");
    assert_non_null(e);
    assert_string_equal(str(e, "reason"), "disconnected");
    pl_sig_stats ss;
    pl_sig_stats_get(f->sig, &ss);
    assert_int_equal(ss.calls, 0);
    assert_int_equal(ss.rooms, 0);
    fx_free(f);
}

/* Timers run on the monotonic clock: the wall clock stepped back an hour,
 * then on a day, ends neither a ringing call nor a detached session, early
 * or late; the monotonic clock ends both to the millisecond. The wall
 * clock is what messages and heads-ups carry. */
/* Draining: a newcomer's join and a new call are refused with
 * `draining`; the meeting under way goes on (its members still chat), and
 * a call rung before the drain and answered during it still gets its
 * room. */
static void test_draining(void **state)
{
    (void)state;
    fx *f = fx_new();
    hello(f, 0, "Ada");
    hello(f, 1, "Bob");
    hello(f, 2, "Cleo");
    hello(f, 3, "Dan");
    say(f, 0, "{\"type\":\"join\",\"room\":\"standup\"}");
    assert_non_null(got(f, 0, "joined"));
    char id[32], room[48], join[96];
    snprintf(id, sizeof(id), "%s", call(f, 1, 2, ""));
    pl_sig_set_draining(f->sig, true);
    drain(f, 3);
    say(f, 3, "{\"type\":\"join\",\"room\":\"standup\",\"id\":7}");
    assert_int_equal(json_integer_value(json_object_get(got(f, 3, "error"), "re")), 7);
    expect_error(f, 3, "draining");
    say(f, 3, "{\"type\":\"join\",\"room\":\"elsewhere\"}");
    expect_error(f, 3, "draining");
    say(f, 3, "{\"type\":\"call\",\"to\":\"x\",\"id\":\"k\"}");
    expect_error(f, 3, "draining");
    drain(f, 0);
    say(f, 0, "{\"type\":\"chat\",\"text\":\"still here\",\"id\":1}");
    assert_null(got(f, 0, "error"));
    act(f, 2, "call-accept", id);
    snprintf(room, sizeof(room), "%s", str(got(f, 1, "call-accepted"), "room"));
    snprintf(join, sizeof(join), "{\"type\":\"join\",\"room\":\"%s\"}", room);
    say(f, 1, join);
    assert_non_null(got(f, 1, "joined"));
    pl_sig_stats ss;
    pl_sig_stats_get(f->sig, &ss);
    assert_int_equal(ss.refused_draining, 3);
    assert_int_equal(ss.rooms, 2);
    /* Back to serving. */
    pl_sig_set_draining(f->sig, false);
    say(f, 3, "{\"type\":\"join\",\"room\":\"standup\"}");
    assert_non_null(got(f, 3, "joined"));
    fx_free(f);
}

static void test_wall_clock_jumps(void **state)
{
    (void)state;
    fx *f = fx_new();
    pl_env env = pl_env_default();
    pl_store *st;
    assert_int_equal(pl_store_create(&env, ":memory:", &st), PL_OK);
    pl_sig_set_store(f->sig, st);
    pl_sig_set_ring_timeout(f->sig, 5000);
    pl_sig_set_reconnect_grace(f->sig, 10000);
    hello(f, 1, "Ada");
    hello(f, 2, "Bob");
    hello(f, 3, "Cy");
    say(f, 3, "{\"type\":\"join\",\"room\":\"r\"}");
    pl_sig_drop(f->sig, 3, f->now);
    char id[32];
    snprintf(id, sizeof(id), "%s", call(f, 1, 2, ""));
    const pl_sig_time t0 = f->now;
    const int64_t hour = 3600000, day = 24 * hour;
    pl_sig_stats ss;

    pl_sig_time t = {.mono_ms = t0.mono_ms + 1000, .wall_ms = t0.wall_ms - hour};
    pl_sig_tick(f->sig, t);
    t = (pl_sig_time){.mono_ms = t0.mono_ms + 4999, .wall_ms = t0.wall_ms + day};
    pl_sig_tick(f->sig, t);
    assert_null(got(f, 1, "call-missed"));
    pl_sig_stats_get(f->sig, &ss);
    assert_int_equal(ss.calls, 1);
    assert_int_equal(ss.detached, 1);
    /* A message says the wall time it is now, stepped or not. */
    f->now = t;
    say(f, 1, "{\"type\":\"join\",\"room\":\"r\"}");
    say(f, 1, "{\"type\":\"chat\",\"text\":\"late?\"}");
    assert_int_equal(json_integer_value(json_object_get(got(f, 1, "chat"), "ts")),
                     t0.wall_ms + day);

    t.mono_ms = t0.mono_ms + 5000;
    pl_sig_tick(f->sig, t);
    assert_string_equal(str(got(f, 1, "call-missed"), "call_id"), id);
    assert_string_equal(str(got(f, 2, "call-missed"), "call_id"), id);
    hello(f, 4, "Bob");
    json_t *items = json_object_get(got(f, 4, "welcome"), "missed");
    assert_int_equal(json_array_size(items), 1);
    assert_int_equal(json_integer_value(json_object_get(json_array_get(items, 0), "ts")),
                     t0.wall_ms);

    /* Back an hour before the drop, on the wall: the session waits on. */
    t = (pl_sig_time){.mono_ms = t0.mono_ms + 9999, .wall_ms = t0.wall_ms - hour};
    pl_sig_tick(f->sig, t);
    pl_sig_stats_get(f->sig, &ss);
    assert_int_equal(ss.detached, 1);
    assert_int_equal(ss.timed_out, 0);
    t.mono_ms = t0.mono_ms + 10000;
    pl_sig_tick(f->sig, t);
    pl_sig_stats_get(f->sig, &ss);
    assert_int_equal(ss.detached, 0);
    assert_int_equal(ss.timed_out, 1);
    assert_string_equal(str(got(f, 1, "participant-left"), "reason"), "timeout");
    fx_free(f);
    pl_store_destroy(st);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ring_timeout_and_heads_up),
        cmocka_unit_test(test_status_precedence),
        cmocka_unit_test(test_lost_connection_in_a_call),
        cmocka_unit_test(test_wall_clock_jumps),
        cmocka_unit_test(test_draining),
    };
    return cmocka_run_group_tests_name("calls", tests, NULL, NULL);
}
