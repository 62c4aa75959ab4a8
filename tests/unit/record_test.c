/* A room's recording and video heads-ups in the signaling core (record.c,
 * message.c), driven directly with a fake media side: who may record, what
 * the room and latecomers are told, what the media side is asked, the
 * last one out, an operator, a recording that stops on its own; a
 * heads-up's room, its stop, its length limit, and its message attached to
 * the callee's heads-up and deleted with it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "parley/store.h"
#include "sigfx.h"

/* Users' ids, kept as hello gives them (expect_error forgets what came). */
static char users[MAXC][80];

static void hello_as(fx *f, int c, const char *name)
{
    hello(f, c, name);
    snprintf(users[c], sizeof(users[c]), "%s",
             str(json_object_get(got(f, c, "welcome"), "user"), "id"));
    assert_true(users[c][0] != '\0');
}

static const char *user_of(fx *f, int c)
{
    (void)f;
    return users[c];
}

static void test_meeting_recording(void **state)
{
    (void)state;
    fx *f = fx_new_with_media();
    hello_as(f, 1, "Ann");
    hello_as(f, 2, "Bob");
    say(f, 1, "{\"type\":\"record\",\"record\":true,\"id\":2}");
    expect_error(f, 1, "not_found"); /* not in a room */
    say(f, 1, "{\"type\":\"join\",\"room\":\"standup\",\"id\":3}");
    say(f, 2, "{\"type\":\"join\",\"room\":\"standup\",\"id\":3}");
    assert_false(json_is_true(json_object_get(got(f, 2, "joined"), "recording")));
    char ann[64];
    snprintf(ann, sizeof(ann), "%s",
             str(json_object_get(got(f, 1, "joined"), "participant"), "id"));
    say(f, 1, "{\"type\":\"record\",\"record\":\"yes\",\"id\":4}");
    expect_error(f, 1, "bad_request");
    say(f, 1, "{\"type\":\"record\",\"record\":true,\"id\":5}");
    assert_non_null(got(f, 1, "ok"));
    assert_int_equal(f->media.record_starts, 1);
    assert_string_equal(f->media.record_room, "standup");
    assert_string_equal(f->media.record_owner, user_of(f, 1));
    assert_false(f->media.message);
    assert_int_equal(f->media.record_participants, 2); /* both members */
    for (int c = 1; c <= 2; c++) {
        json_t *ev = got(f, c, "recording");
        assert_non_null(ev);
        assert_true(json_is_true(json_object_get(ev, "recording")));
        assert_string_equal(str(ev, "recording_id"), f->media.record_id);
        assert_string_equal(str(ev, "by"), ann);
    }
    /* Asking again changes nothing. */
    drain(f, 2);
    say(f, 1, "{\"type\":\"record\",\"record\":true,\"id\":6}");
    assert_int_equal(f->media.record_starts, 1);
    assert_null(got(f, 2, "recording"));
    /* A latecomer sees it, and is recorded. */
    hello_as(f, 3, "Cy");
    say(f, 3, "{\"type\":\"join\",\"room\":\"standup\",\"id\":3}");
    json_t *j = got(f, 3, "joined");
    assert_true(json_is_true(json_object_get(j, "recording")));
    assert_string_equal(str(j, "recording_id"), f->media.record_id);
    assert_int_equal(f->media.record_participants, 3);
    /* Leaving takes one out; the last one out stops it. */
    say(f, 3, "{\"type\":\"leave\",\"id\":7}");
    assert_int_equal(f->media.record_leaves, 1);
    assert_int_equal(f->media.record_stops, 0);
    say(f, 2, "{\"type\":\"leave\",\"id\":7}");
    say(f, 1, "{\"type\":\"leave\",\"id\":7}");
    assert_int_equal(f->media.record_leaves, 3);
    assert_int_equal(f->media.record_stops, 1);
    fx_free(f);
}

static void test_refusals_operator_and_failure(void **state)
{
    (void)state;
    fx *f = fx_new_with_media();
    hello_as(f, 1, "Ann");
    say(f, 1, "{\"type\":\"join\",\"room\":\"r\",\"id\":2}");
    f->media.record_rc = PL_ENOSPC;
    say(f, 1, "{\"type\":\"record\",\"record\":true,\"id\":3}");
    expect_error(f, 1, "quota");
    f->media.record_rc = PL_EIO;
    say(f, 1, "{\"type\":\"record\",\"record\":true,\"id\":4}");
    expect_error(f, 1, "internal");
    assert_null(got(f, 1, "recording"));
    f->media.record_rc = PL_OK;
    char id[PL_SIG_RECORDING_ID_MAX + 1];
    assert_int_equal(pl_sig_admin_record(f->sig, "nowhere", true, id), PL_ENOTFOUND);
    assert_int_equal(pl_sig_admin_record(f->sig, "r", true, id), PL_OK);
    assert_string_equal(id, f->media.record_id);
    assert_string_equal(f->media.record_owner, "(none)");
    assert_string_equal(str(got(f, 1, "recording"), "by"), "operator");
    /* It stops on its own: the room is told why; a stale id is ignored. */
    drain(f, 1);
    pl_sig_recording_stopped(f->sig, "r", "another", "disk_full");
    assert_null(got(f, 1, "recording"));
    pl_sig_recording_stopped(f->sig, "r", id, "disk_full");
    json_t *ev = got(f, 1, "recording");
    assert_false(json_is_true(json_object_get(ev, "recording")));
    assert_string_equal(str(ev, "reason"), "disk_full");
    assert_string_equal(str(ev, "by"), "server");
    assert_int_equal(f->media.record_stops, 1);
    fx_free(f);
}

static void test_video_headsup(void **state)
{
    (void)state;
    fx *f = fx_new_with_media();
    pl_store *st;
    assert_int_equal(pl_store_create(&f->env, ":memory:", &st), PL_OK);
    pl_sig_set_store(f->sig, st);
    hello_as(f, 1, "Ann");
    hello_as(f, 2, "Bob");
    hello_as(f, 3, "Eve");
    char m[256];
    snprintf(m, sizeof(m), "{\"type\":\"message-start\",\"to\":\"%s\",\"id\":2}", user_of(f, 1));
    say(f, 1, m);
    expect_error(f, 1, "bad_request"); /* to oneself */
    say(f, 1, "{\"type\":\"message-start\",\"to\":\"../x\",\"id\":2}");
    expect_error(f, 1, "bad_request");
    f->media.may_start_rc = PL_ENOSPC;
    snprintf(m, sizeof(m), "{\"type\":\"message-start\",\"to\":\"%s\",\"id\":3}", user_of(f, 2));
    say(f, 1, m);
    expect_error(f, 1, "quota");
    f->media.may_start_rc = PL_OK;
    snprintf(m, sizeof(m),
             "{\"type\":\"message-start\",\"to\":\"%s\",\"audio_only\":true,\"id\":4}",
             user_of(f, 2));
    say(f, 1, m);
    json_t *ready = got(f, 1, "message-ready");
    assert_non_null(ready);
    char id[64], room[80];
    snprintf(id, sizeof(id), "%s", str(ready, "message_id"));
    snprintf(room, sizeof(room), "%s", str(ready, "room"));
    assert_int_equal(json_integer_value(json_object_get(ready, "max_seconds")), 120);
    assert_int_equal(f->media.record_starts, 0); /* recorded from the join */
    snprintf(m, sizeof(m), "{\"type\":\"join\",\"room\":\"%s\",\"id\":5}", room);
    say(f, 3, m);
    expect_error(f, 3, "forbidden");
    say(f, 1, m);
    json_t *joined = got(f, 1, "joined");
    assert_non_null(joined);
    assert_true(json_is_true(json_object_get(joined, "recording")));
    assert_int_equal(f->media.record_starts, 1);
    assert_true(f->media.message);
    assert_true(f->media.audio_only);
    assert_string_equal(f->media.callee, user_of(f, 2));
    assert_string_equal(f->media.record_id, id);
    snprintf(m, sizeof(m), "{\"type\":\"message-stop\",\"message_id\":\"%s\",\"id\":6}", id);
    say(f, 3, m);
    expect_error(f, 3, "not_found"); /* not Eve's */
    say(f, 1, m);
    assert_non_null(got(f, 1, "ok"));
    assert_int_equal(f->media.record_stops, 1);
    /* Its file is finished: Bob (online, not in dnd) hears of it. */
    pl_sig_recording_result res = {.ok = true, .length_ms = 6500, .file = "p1.webm"};
    pl_sig_recording_finished(f->sig, id, &res);
    json_t *saved = got(f, 1, "message-saved");
    assert_int_equal(json_integer_value(json_object_get(saved, "duration_ms")), 6500);
    json_t *missed = got(f, 2, "missed");
    assert_non_null(missed);
    json_t *item = json_array_get(json_object_get(missed, "items"), 0);
    assert_string_equal(str(item, "reason"), "message");
    json_t *msg = json_object_get(item, "message");
    assert_string_equal(str(msg, "id"), id);
    char url[128];
    snprintf(url, sizeof(url), "/recordings/%s/p1.webm", id);
    assert_string_equal(str(msg, "url"), url);
    assert_true(json_is_true(json_object_get(msg, "audio_only")));
    assert_null(got(f, 3, "missed"));
    /* Acknowledged: the heads-up goes, then its message. */
    snprintf(m, sizeof(m), "{\"type\":\"missed-ack\",\"call_ids\":[\"%s\"],\"id\":7}",
             str(item, "call_id"));
    say(f, 2, m);
    assert_int_equal(f->media.deletes, 1);
    assert_string_equal(f->media.deleted, id);
    fx_free(f);
    pl_store_destroy(st);
}

static void test_headsup_limits(void **state)
{
    (void)state;
    fx *f = fx_new_with_media();
    pl_store *st;
    assert_int_equal(pl_store_create(&f->env, ":memory:", &st), PL_OK);
    pl_sig_set_store(f->sig, st);
    hello_as(f, 1, "Ann");
    hello_as(f, 2, "Bob");
    char m[256], id[64], room[80];
    snprintf(m, sizeof(m), "{\"type\":\"message-start\",\"to\":\"%s\",\"id\":2}", user_of(f, 2));
    say(f, 1, m);
    snprintf(id, sizeof(id), "%s", str(got(f, 1, "message-ready"), "message_id"));
    snprintf(room, sizeof(room), "%s", str(got(f, 1, "message-ready"), "room"));
    snprintf(m, sizeof(m), "{\"type\":\"join\",\"room\":\"%s\",\"id\":3}", room);
    say(f, 1, m);
    /* Two minutes on: stopped by the server, the room closed. */
    pl_sig_tick(f->sig, fx_after(f, PL_SIG_MESSAGE_MAX_MS - 1000));
    assert_int_equal(f->media.record_stops, 0);
    pl_sig_tick(f->sig, fx_after(f, PL_SIG_MESSAGE_MAX_MS + 1000));
    assert_int_equal(f->media.record_stops, 1);
    say(f, 1, m);
    expect_error(f, 1, "not_found"); /* its room is gone for good */
    /* Too short to keep: deleted, the caller told 0, Bob nothing. */
    pl_sig_recording_result res = {.ok = true, .length_ms = 400, .file = "p1.webm"};
    pl_sig_recording_finished(f->sig, id, &res);
    assert_int_equal(json_integer_value(json_object_get(got(f, 1, "message-saved"), "duration_ms")),
                     0);
    assert_int_equal(f->media.deletes, 1);
    assert_null(got(f, 2, "missed"));
    /* A message never joined is given up after a minute. */
    snprintf(m, sizeof(m), "{\"type\":\"message-start\",\"to\":\"%s\",\"id\":4}", user_of(f, 2));
    say(f, 1, m);
    snprintf(room, sizeof(room), "%s", str(got(f, 1, "message-ready"), "room"));
    f->now = fx_after(f, 61000);
    pl_sig_tick(f->sig, f->now);
    snprintf(m, sizeof(m), "{\"type\":\"join\",\"room\":\"%s\",\"id\":5}", room);
    say(f, 1, m);
    expect_error(f, 1, "not_found");
    fx_free(f);
    pl_store_destroy(st);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_meeting_recording),
        cmocka_unit_test(test_refusals_operator_and_failure),
        cmocka_unit_test(test_video_headsup),
        cmocka_unit_test(test_headsup_limits),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
