/* Operators' actions on the signaling core (pl_sig_admin_*), driven
 * directly: what they change, and what each participant is told. */
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

static void say_sdp(fx *f, int c, const char *type, const char *sdp)
{
    json_t *m = json_pack("{s:s,s:s}", "type", type, "sdp", sdp);
    char *text = json_dumps(m, JSON_COMPACT);
    say(f, c, text);
    free(text);
    json_decref(m);
}

static void join(fx *f, int c, const char *room, char *id, size_t cap)
{
    char msg[128];
    snprintf(msg, sizeof(msg), "{\"type\":\"join\",\"room\":\"%s\"}", room);
    say(f, c, msg);
    json_t *j = got(f, c, "joined");
    assert_non_null(j);
    snprintf(id, cap, "%s", str(json_object_get(j, "participant"), "id"));
}

static json_t *rooms(fx *f)
{
    char *text = pl_sig_admin_rooms(f->sig);
    assert_non_null(text);
    json_error_t e;
    json_t *doc = json_loads(text, 0, &e);
    free(text);
    assert_non_null(doc);
    return doc;
}

static json_t *room_named(json_t *doc, const char *name)
{
    json_t *r;
    size_t i;
    json_array_foreach(json_object_get(doc, "rooms"), i,
                       r) if (strcmp(str(r, "name"), name) == 0) return r;
    return NULL;
}

static pl_sig_stats stats(fx *f)
{
    pl_sig_stats st;
    pl_sig_stats_get(f->sig, &st);
    return st;
}

/* Ada (publishing) and Bob in "r", Cy in "s". */
static fx *meeting(char ada[32], char bob[32], char cy[32], uint64_t *ada_pub)
{
    fx *f = fx_new_with_media();
    char *offer = fixture("sdp/chromium156-publish-offer.sdp");
    hello(f, 0, "Ada");
    hello(f, 1, "Bob");
    hello(f, 2, "Cy");
    join(f, 0, "r", ada, 32);
    join(f, 1, "r", bob, 32);
    join(f, 2, "s", cy, 32);
    say_sdp(f, 0, "publish", offer);
    assert_non_null(got(f, 0, "publish-answer"));
    *ada_pub = f->media.last_id;
    free(offer);
    return f;
}

static void test_rooms_listed_with_participants_and_paths(void **state)
{
    (void)state;
    char ada[32], bob[32], cy[32];
    uint64_t pub;
    fx *f = meeting(ada, bob, cy, &pub);
    json_t *doc = rooms(f);
    assert_int_equal(json_array_size(json_object_get(doc, "rooms")), 2);
    json_t *r = room_named(doc, "r");
    assert_non_null(r);
    assert_int_equal(json_integer_value(json_object_get(r, "max_participants")),
                     PL_SIG_DEFAULT_MAX_PARTICIPANTS);
    json_t *parts = json_object_get(r, "participants");
    assert_int_equal(json_array_size(parts), 2);
    json_t *a = NULL, *p;
    size_t i;
    json_array_foreach(parts, i, p) if (strcmp(str(p, "id"), ada) == 0) a = p;
    assert_non_null(a);
    assert_string_equal(str(a, "name"), "Ada");
    assert_int_equal(json_array_size(json_object_get(a, "tracks")), 2);
    /* Not connected yet: no path; then the worker says ICE-TCP. */
    assert_true(json_is_null(json_object_get(a, "path")));
    assert_string_equal(str(json_object_get(json_object_get(a, "transports"), "publish"), "state"),
                        "connecting");
    assert_int_equal(stats(f).transports_connecting, 1);
    json_decref(doc);
    pl_sig_transport_connected(f->sig, pub);
    pl_sig_transport_path(f->sig, pub, PL_SIG_PATH_TCP);
    doc = rooms(f);
    parts = json_object_get(room_named(doc, "r"), "participants");
    json_array_foreach(parts, i, p) if (strcmp(str(p, "id"), ada) == 0) a = p;
    assert_string_equal(str(a, "path"), "tcp");
    pl_sig_stats st = stats(f);
    assert_int_equal(st.transports_connecting, 0);
    assert_int_equal(st.transports_up_by_path[PL_SIG_PATH_TCP], 1);
    assert_int_equal(st.transports_up_by_path[PL_SIG_PATH_UDP], 0);
    json_decref(doc);
    /* It moves to UDP. */
    pl_sig_transport_path(f->sig, pub, PL_SIG_PATH_UDP);
    assert_int_equal(stats(f).transports_up_by_path[PL_SIG_PATH_UDP], 1);
    fx_free(f);
}

static void test_remove_a_participant(void **state)
{
    (void)state;
    char ada[32], bob[32], cy[32];
    uint64_t pub;
    fx *f = meeting(ada, bob, cy, &pub);
    for (int c = 0; c < 3; c++)
        drain(f, c);
    assert_int_equal(pl_sig_admin_remove(f->sig, "r", "p-nobody"), PL_ENOTFOUND);
    assert_int_equal(pl_sig_admin_remove(f->sig, "s", ada), PL_ENOTFOUND); /* another room */
    assert_int_equal(pl_sig_admin_remove(f->sig, "nope", ada), PL_ENOTFOUND);
    int removes = f->media.removes;
    assert_int_equal(pl_sig_admin_remove(f->sig, "r", ada), PL_OK);
    json_t *m = got(f, 0, "removed");
    assert_non_null(m);
    assert_string_equal(str(m, "room"), "r");
    assert_string_equal(str(m, "reason"), "removed");
    json_t *left = got(f, 1, "participant-left");
    assert_non_null(left);
    assert_string_equal(str(left, "participant_id"), ada);
    assert_string_equal(str(left, "reason"), "kicked");
    assert_null(got(f, 2, "participant-left")); /* another room */
    assert_true(f->media.removes > removes);    /* her transport went with her */
    /* Still connected, out of the room: a `leave` is not a mistake. */
    say(f, 0, "{\"type\":\"leave\",\"id\":1}");
    assert_string_equal(str(got(f, 0, "left"), "room"), "r");
    pl_sig_stats st = stats(f);
    assert_int_equal(st.participants, 2);
    assert_int_equal(st.admin_removed, 1);
    fx_free(f);
}

static void test_mute_a_track(void **state)
{
    (void)state;
    char ada[32], bob[32], cy[32];
    uint64_t pub;
    fx *f = meeting(ada, bob, cy, &pub);
    json_t *doc = rooms(f);
    json_t *parts = json_object_get(room_named(doc, "r"), "participants"), *p, *a = NULL;
    size_t i;
    json_array_foreach(parts, i, p) if (strcmp(str(p, "id"), ada) == 0) a = p;
    char track[64];
    snprintf(track, sizeof(track), "%s",
             str(json_array_get(json_object_get(a, "tracks"), 0), "track_id"));
    json_decref(doc);
    assert_int_equal(pl_sig_admin_mute(f->sig, "r", ada, "nope", true), PL_ENOTFOUND);
    assert_int_equal(pl_sig_admin_mute(f->sig, "r", bob, track, true), PL_ENOTFOUND);
    assert_int_equal(pl_sig_admin_mute(f->sig, "r", ada, track, true), PL_OK);
    for (int c = 0; c < 2; c++) {
        json_t *m = got(f, c, "track-muted");
        assert_non_null(m);
        assert_string_equal(str(m, "track_id"), track);
        assert_string_equal(str(m, "participant_id"), ada);
        assert_true(json_is_true(json_object_get(m, "muted")));
        assert_string_equal(str(m, "by"), "operator");
    }
    assert_null(got(f, 2, "track-muted"));
    doc = rooms(f);
    parts = json_object_get(room_named(doc, "r"), "participants");
    json_array_foreach(parts, i, p) if (strcmp(str(p, "id"), ada) == 0) a = p;
    assert_true(
        json_is_true(json_object_get(json_array_get(json_object_get(a, "tracks"), 0), "muted")));
    json_decref(doc);
    assert_int_equal(stats(f).admin_muted, 1);
    fx_free(f);
}

static void test_close_a_room(void **state)
{
    (void)state;
    char ada[32], bob[32], cy[32];
    uint64_t pub;
    fx *f = meeting(ada, bob, cy, &pub);
    assert_int_equal(pl_sig_admin_close_room(f->sig, "nope"), PL_ENOTFOUND);
    assert_int_equal(pl_sig_admin_close_room(f->sig, "r"), PL_OK);
    for (int c = 0; c < 2; c++) {
        json_t *m = got(f, c, "removed");
        assert_non_null(m);
        assert_string_equal(str(m, "reason"), "closed");
    }
    assert_null(got(f, 2, "removed"));
    json_t *doc = rooms(f);
    assert_null(room_named(doc, "r"));
    assert_non_null(room_named(doc, "s"));
    json_decref(doc);
    pl_sig_stats st = stats(f);
    assert_int_equal(st.rooms, 1);
    assert_int_equal(st.participants, 1);
    assert_int_equal(st.admin_closed, 1);
    fx_free(f);
}

static void test_room_limit(void **state)
{
    (void)state;
    char ada[32], bob[32], cy[32];
    uint64_t pub;
    fx *f = meeting(ada, bob, cy, &pub);
    assert_int_equal(pl_sig_admin_set_limit(f->sig, "nope", 2), PL_ENOTFOUND);
    assert_int_equal(pl_sig_admin_set_limit(f->sig, "r", 0), PL_EINVAL);
    assert_int_equal(pl_sig_admin_set_limit(f->sig, "r", 2), PL_OK);
    json_t *doc = rooms(f);
    assert_int_equal(json_integer_value(json_object_get(room_named(doc, "r"), "max_participants")),
                     2);
    json_decref(doc);
    drain(f, 2);
    say(f, 2, "{\"type\":\"join\",\"room\":\"r\",\"id\":5}");
    expect_error(f, 2, "room_full");
    assert_int_equal(stats(f).refused_room_full, 1);
    /* Cy is still in her own room. */
    assert_int_equal(stats(f).rooms, 2);
    /* Raised again, she gets in. */
    assert_int_equal(pl_sig_admin_set_limit(f->sig, "r", 3), PL_OK);
    say(f, 2, "{\"type\":\"join\",\"room\":\"r\",\"id\":6}");
    assert_non_null(got(f, 2, "joined"));
    fx_free(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rooms_listed_with_participants_and_paths),
        cmocka_unit_test(test_remove_a_participant),
        cmocka_unit_test(test_mute_a_track),
        cmocka_unit_test(test_close_a_room),
        cmocka_unit_test(test_room_limit),
    };
    return cmocka_run_group_tests_name("admin", tests, NULL, NULL);
}
