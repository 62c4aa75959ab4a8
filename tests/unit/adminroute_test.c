/* The admin API's routes: every route with its names, 405 for a known
 * path with another method, 404 for anything else. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "parley/adminroute.h"
#include "parley/common.h"

static void test_routes(void **state)
{
    (void)state;
    pl_admin_route r;
    assert_int_equal(pl_admin_route_parse(PL_ADMIN_GET, "/stats", &r), PL_OK);
    assert_int_equal(r.action, PL_ADMIN_STATS);
    assert_int_equal(pl_admin_route_parse(PL_ADMIN_GET, "/metrics", &r), PL_OK);
    assert_int_equal(r.action, PL_ADMIN_METRICS);
    assert_int_equal(pl_admin_route_parse(PL_ADMIN_POST, "/drain", &r), PL_OK);
    assert_int_equal(r.action, PL_ADMIN_DRAIN);
    assert_int_equal(pl_admin_route_parse(PL_ADMIN_GET, "/drain", &r), PL_EUNSUPPORTED);
    assert_int_equal(pl_admin_route_parse(PL_ADMIN_GET, "/rooms", &r), PL_OK);
    assert_int_equal(r.action, PL_ADMIN_ROOMS);
    assert_int_equal(pl_admin_route_parse(PL_ADMIN_DELETE, "/rooms/stand-up.1_x", &r), PL_OK);
    assert_int_equal(r.action, PL_ADMIN_CLOSE_ROOM);
    assert_string_equal(r.room, "stand-up.1_x");
    assert_int_equal(pl_admin_route_parse(PL_ADMIN_PUT, "/rooms/r/limit", &r), PL_OK);
    assert_int_equal(r.action, PL_ADMIN_SET_LIMIT);
    assert_string_equal(r.room, "r");
    assert_int_equal(pl_admin_route_parse(PL_ADMIN_DELETE, "/rooms/r/participants/p01", &r), PL_OK);
    assert_int_equal(r.action, PL_ADMIN_REMOVE);
    assert_string_equal(r.participant, "p01");
    assert_int_equal(
        pl_admin_route_parse(PL_ADMIN_POST, "/rooms/r/participants/p01/tracks/p01-1/mute", &r),
        PL_OK);
    assert_int_equal(r.action, PL_ADMIN_MUTE);
    assert_string_equal(r.room, "r");
    assert_string_equal(r.participant, "p01");
    assert_string_equal(r.track, "p01-1");
    assert_int_equal(
        pl_admin_route_parse(PL_ADMIN_POST, "/rooms/r/participants/p01/tracks/p01-1/unmute", &r),
        PL_OK);
    assert_int_equal(r.action, PL_ADMIN_UNMUTE);
    assert_int_equal(pl_admin_route_parse(PL_ADMIN_GET, "/rooms/stand-up/recordings", &r), PL_OK);
    assert_int_equal(r.action, PL_ADMIN_RECORDINGS);
    assert_string_equal(r.room, "stand-up");
    assert_int_equal(
        pl_admin_route_parse(PL_ADMIN_DELETE, "/recordings/q3Zr0bX-8aKc_2LmN4pQ7s", &r), PL_OK);
    assert_int_equal(r.action, PL_ADMIN_DELETE_RECORDING);
    assert_string_equal(r.recording, "q3Zr0bX-8aKc_2LmN4pQ7s");
    assert_string_equal(r.room, "");
}

static void test_wrong_method(void **state)
{
    (void)state;
    pl_admin_route r;
    assert_int_equal(pl_admin_route_parse(PL_ADMIN_POST, "/stats", &r), PL_EUNSUPPORTED);
    assert_int_equal(pl_admin_route_parse(PL_ADMIN_DELETE, "/rooms", &r), PL_EUNSUPPORTED);
    assert_int_equal(pl_admin_route_parse(PL_ADMIN_GET, "/rooms/r", &r), PL_EUNSUPPORTED);
    assert_int_equal(pl_admin_route_parse(PL_ADMIN_POST, "/rooms/r/limit", &r), PL_EUNSUPPORTED);
    assert_int_equal(pl_admin_route_parse(PL_ADMIN_OTHER, "/metrics", &r), PL_EUNSUPPORTED);
    assert_int_equal(
        pl_admin_route_parse(PL_ADMIN_GET, "/rooms/r/participants/p/tracks/t/mute", &r),
        PL_EUNSUPPORTED);
    assert_int_equal(pl_admin_route_parse(PL_ADMIN_DELETE, "/rooms/r/recordings", &r),
                     PL_EUNSUPPORTED);
    assert_int_equal(pl_admin_route_parse(PL_ADMIN_GET, "/recordings/abc", &r), PL_EUNSUPPORTED);
}

static void test_not_found(void **state)
{
    (void)state;
    pl_admin_route r;
    char longname[80];
    memset(longname, 'a', sizeof(longname));
    longname[0] = '/';
    longname[sizeof(longname) - 1] = '\0';
    const char *paths[] = {"",
                           "/",
                           "stats",
                           "/stats/",
                           "/rooms/",
                           "//rooms",
                           "/rooms//limit",
                           "/nope",
                           "/rooms/r/x",
                           "/rooms/r/participants",
                           "/rooms/r/participants/p/tracks",
                           "/rooms/r/participants/p/tracks/t",
                           "/rooms/r/participants/p/tracks/t/louder",
                           "/rooms/r/participants/p/x/t/mute",
                           "/rooms/r%20x",
                           "/rooms/../stats",
                           "/rooms/r/participants/p/tracks/t/mute/more",
                           "/a/b/c/d/e/f/g/h/i",
                           "/recordings",
                           "/recordings/",
                           "/recordings/a/b",
                           "/recordings/..%2Fx",
                           "/rooms/r/recordings/x",
                           longname};
    for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++)
        assert_int_equal(pl_admin_route_parse(PL_ADMIN_GET, paths[i], &r), PL_ENOTFOUND);
    assert_int_equal(pl_admin_route_parse(PL_ADMIN_GET, NULL, &r), PL_ENOTFOUND);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_routes),
        cmocka_unit_test(test_wrong_method),
        cmocka_unit_test(test_not_found),
    };
    return cmocka_run_group_tests_name("adminroute", tests, NULL, NULL);
}
