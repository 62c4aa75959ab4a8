/* The core's events (pl_sig_event, docs/webhooks.md) on a virtual clock:
 * a meeting from its first join to its last leave, and every outcome a
 * call can have, each event with its sequence, time, room, participant
 * and reason, in the order things happened. */
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
#include "sigfx.h"

static json_t *ev(fx *f, size_t i)
{
    assert_true(i < f->b.n_events);
    return f->b.events[i];
}

/* The types of the events so far, space separated. */
static const char *types(fx *f)
{
    static char buf[1024];
    buf[0] = '\0';
    for (size_t i = 0; i < f->b.n_events; i++) {
        size_t n = strlen(buf);
        snprintf(buf + n, sizeof(buf) - n, "%s%s", i ? " " : "", str(ev(f, i), "type"));
    }
    return buf;
}

static const char *pname(json_t *e)
{
    return str(json_object_get(e, "participant"), "name");
}

static const char *user_id(fx *f, int c)
{
    return str(json_object_get(got(f, c, "welcome"), "user"), "id");
}

static void test_meeting(void **state)
{
    (void)state;
    fx *f = fx_new();
    pl_sig_set_reconnect_grace(f->sig, 10000);
    hello(f, 0, "Ada");
    hello(f, 1, "Bob");
    hello(f, 2, "Cy");
    assert_int_equal(f->b.n_events, 0); /* being online is not an event */
    say(f, 0, "{\"type\":\"join\",\"room\":\"standup\"}");
    f->now = fx_after(f, 1000);
    say(f, 1, "{\"type\":\"join\",\"room\":\"standup\"}");
    say(f, 2, "{\"type\":\"join\",\"room\":\"standup\"}");
    assert_string_equal(types(f), "room.started participant.joined participant.joined "
                                  "participant.joined");
    json_t *e = ev(f, 0);
    assert_string_equal(str(e, "room"), "standup");
    assert_null(json_object_get(e, "participant"));
    /* The time is the one the core was told, in both forms. */
    assert_int_equal(json_integer_value(json_object_get(e, "ts")), 1700000000000LL);
    assert_string_equal(str(e, "time"), "2023-11-14T22:13:20.000Z");
    e = ev(f, 2);
    assert_string_equal(pname(e), "Bob");
    assert_string_equal(str(json_object_get(e, "participant"), "id"),
                        str(json_object_get(got(f, 1, "joined"), "participant"), "id"));
    assert_string_equal(str(json_object_get(e, "participant"), "user_id"), user_id(f, 1));
    assert_string_equal(str(e, "time"), "2023-11-14T22:13:21.000Z");

    /* Cy leaves; Bob closes his tab; Ada's network goes and does not come
     * back within the grace. */
    f->now = fx_after(f, 500);
    say(f, 2, "{\"type\":\"leave\"}");
    pl_sig_disconnect(f->sig, 1, f->now);
    pl_sig_drop(f->sig, 0, f->now);
    assert_int_equal(f->b.n_events, 6); /* Ada is detached, still in the room */
    pl_sig_tick(f->sig, fx_after(f, 9999));
    assert_int_equal(f->b.n_events, 6);
    pl_sig_tick(f->sig, fx_after(f, 10000));
    assert_string_equal(types(f), "room.started participant.joined participant.joined "
                                  "participant.joined participant.left participant.left "
                                  "participant.left room.finished");
    assert_string_equal(pname(ev(f, 4)), "Cy");
    assert_string_equal(str(ev(f, 4), "reason"), "left");
    assert_string_equal(pname(ev(f, 5)), "Bob");
    assert_string_equal(str(ev(f, 5), "reason"), "disconnected");
    assert_string_equal(pname(ev(f, 6)), "Ada");
    assert_string_equal(str(ev(f, 6), "reason"), "timeout");
    e = ev(f, 7);
    assert_string_equal(str(e, "room"), "standup");
    /* From the first join to the last leave, on the monotonic clock. */
    assert_int_equal(json_integer_value(json_object_get(e, "duration_ms")), 11500);
    /* In order, without gaps, and ids unique. */
    for (size_t i = 0; i < f->b.n_events; i++) {
        assert_int_equal(json_integer_value(json_object_get(ev(f, i), "seq")), i + 1);
        char want[32];
        snprintf(want, sizeof(want), "-%zu", i + 1);
        const char *id = str(ev(f, i), "id");
        assert_true(strlen(id) > strlen(want) + 8);
        assert_string_equal(id + strlen(id) - strlen(want), want);
    }
    fx_free(f);
}

static json_t *call_of(json_t *e)
{
    return json_object_get(e, "call");
}

/* Ada (connection 0) calls Bob (1); the call id goes into `id`. */
static const char *place(fx *f, char *id, size_t cap)
{
    char m[160];
    snprintf(m, sizeof(m), "{\"type\":\"call\",\"to\":\"%s\"}", user_id(f, 1));
    say(f, 0, m);
    snprintf(id, cap, "%s", str(got(f, 0, "call-ringing"), "call_id"));
    return id;
}

static void act(fx *f, int c, const char *type, const char *id)
{
    char m[160];
    snprintf(m, sizeof(m), "{\"type\":\"%s\",\"call_id\":\"%s\"}", type, id);
    say(f, c, m);
}

static void expect_outcome(fx *f, json_t *e, const char *outcome, const char *id, int64_t ring)
{
    assert_string_equal(str(e, "type"), "call.outcome");
    json_t *k = call_of(e);
    assert_string_equal(str(k, "id"), id);
    assert_string_equal(str(k, "outcome"), outcome);
    assert_string_equal(str(json_object_get(k, "caller"), "name"), "Ada");
    assert_string_equal(str(json_object_get(k, "caller"), "id"), user_id(f, 0));
    assert_string_equal(str(json_object_get(k, "callee"), "name"), "Bob");
    assert_int_equal(json_integer_value(json_object_get(k, "ring_ms")), ring);
}

static void test_call_outcomes(void **state)
{
    (void)state;
    fx *f = fx_new();
    pl_sig_set_ring_timeout(f->sig, 5000);
    hello(f, 0, "Ada");
    hello(f, 1, "Bob");
    hello(f, 2, "Cy");
    char id[32];

    /* Answered after 2 s, talked for 60 s, Bob hangs up. */
    place(f, id, sizeof(id));
    f->now = fx_after(f, 2000);
    act(f, 1, "call-accept", id);
    char room[48];
    snprintf(room, sizeof(room), "%s", str(got(f, 0, "call-accepted"), "room"));
    assert_int_equal(f->b.n_events, 1);
    expect_outcome(f, ev(f, 0), "answered", id, 2000);
    assert_string_equal(str(ev(f, 0), "room"), room);
    char join[96];
    snprintf(join, sizeof(join), "{\"type\":\"join\",\"room\":\"%s\"}", room);
    say(f, 0, join);
    say(f, 1, join);
    f->now = fx_after(f, 60000);
    act(f, 1, "call-hangup", id);
    assert_string_equal(types(f), "call.outcome room.started participant.joined "
                                  "participant.joined call.ended participant.left "
                                  "participant.left room.finished");
    json_t *e = ev(f, 4);
    assert_int_equal(json_integer_value(json_object_get(e, "duration_ms")), 60000);
    assert_string_equal(str(call_of(e), "by"), user_id(f, 1));
    assert_string_equal(str(e, "room"), room);
    drain_events(f);

    /* Declined, cancelled, missed at the ring timeout. */
    place(f, id, sizeof(id));
    f->now = fx_after(f, 300);
    act(f, 1, "call-decline", id);
    expect_outcome(f, ev(f, 0), "declined", id, 300);
    assert_true(json_is_null(json_object_get(ev(f, 0), "room")));
    place(f, id, sizeof(id));
    f->now = fx_after(f, 700);
    act(f, 0, "call-cancel", id);
    expect_outcome(f, ev(f, 1), "cancelled", id, 700);
    place(f, id, sizeof(id));
    pl_sig_tick(f->sig, fx_after(f, 5000));
    expect_outcome(f, ev(f, 2), "missed", id, 5000);
    assert_int_equal(f->b.n_events, 3);
    drain_events(f);

    /* Bob in focus time: declined for dnd without ringing. */
    say(f, 1, "{\"type\":\"status\",\"status\":\"dnd\"}");
    place(f, id, sizeof(id));
    expect_outcome(f, ev(f, 0), "declined", id, 0);
    assert_string_equal(str(ev(f, 0), "reason"), "dnd");
    drain_events(f);
    /* Cy calls Bob while Ada's call rings him: busy, between Cy and Bob. */
    say(f, 1, "{\"type\":\"status\",\"status\":\"online\"}");
    place(f, id, sizeof(id));
    char m[160];
    snprintf(m, sizeof(m), "{\"type\":\"call\",\"to\":\"%s\"}", user_id(f, 1));
    say(f, 2, m);
    json_t *k = call_of(ev(f, 0));
    assert_string_equal(str(k, "outcome"), "busy");
    assert_string_equal(str(json_object_get(k, "caller"), "name"), "Cy");
    assert_string_equal(str(json_object_get(k, "callee"), "name"), "Bob");
    /* Ringing Bob when Ada's connection closes: cancelled, disconnected. */
    pl_sig_disconnect(f->sig, 0, f->now);
    expect_outcome(f, ev(f, 1), "cancelled", id, 0);
    assert_string_equal(str(ev(f, 1), "reason"), "disconnected");
    assert_int_equal(json_integer_value(json_object_get(ev(f, 1), "seq")), 14);
    assert_int_equal(f->b.n_events, 2);
    fx_free(f);
}

/* The names of every type; a core nobody
 * listens to emits nothing and counts nothing. */
static void test_names(void **state)
{
    (void)state;
    assert_string_equal(pl_sig_event_name(PL_SIG_EV_RECORDING_FINISHED), "recording.finished");
    assert_string_equal(pl_sig_event_name(PL_SIG_EV_COUNT), "unknown");
    pl_sig_event e = {.type = PL_SIG_EV_RECORDING_FINISHED,
                      .seq = 9,
                      .id = "x-9",
                      .wall_ms = 1700000000123LL,
                      .room = "r",
                      .duration_ms = -1,
                      .ring_ms = -1};
    char *text = pl_sig_event_json(&e);
    assert_string_equal(text, "{\"id\":\"x-9\",\"seq\":9,\"type\":\"recording.finished\","
                              "\"time\":\"2023-11-14T22:13:20.123Z\",\"ts\":1700000000123,"
                              "\"room\":\"r\"}");
    free(text);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_meeting),
        cmocka_unit_test(test_call_outcomes),
        cmocka_unit_test(test_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
