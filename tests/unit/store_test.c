/* The store of missed heads-ups, the same cases against both backends:
 * SQLite in a temporary file, and a real redis-server started on a free
 * loopback port (a TAP skip only when redis-server is not installed). Round
 * trips, ownership, idempotence, the per-user bound, durability across
 * closing and reopening, video messages. Then each backend's own: a
 * SQLite store written before messages existed; a Redis killed with
 * SIGKILL right after an acknowledged write and started again, a Redis
 * that does not fsync every write refused, and an unreachable Redis
 * answered with PL_EIO until it is back. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <signal.h>
#include <sqlite3.h>

#include "parley/store.h"
#include "redisfx.h"

typedef struct backend {
    bool redis;
    char dir[64];    /* SQLite: the temporary directory */
    char where[160]; /* the database file, or the Redis URL */
} backend;

/* One redis-server for every Redis case. */
static redisfx shared;

static backend sqlite_be = {.redis = false}, redis_be = {.redis = true};

static int setup_group(void **state)
{
    (void)state;
    if (redisfx_start(&shared, true) != 0) {
        fprintf(stderr, "redis-server is installed but did not start\n");
        return -1;
    }
    return 0;
}

static int teardown_group(void **state)
{
    (void)state;
    redisfx_stop(&shared);
    return 0;
}

static int setup(void **state)
{
    backend *be = *state;
    if (be->redis) {
        snprintf(be->where, sizeof(be->where), "%s", shared.url);
        return redisfx_flush(&shared);
    }
    snprintf(be->dir, sizeof(be->dir), "/tmp/parley-store-XXXXXX");
    if (!mkdtemp(be->dir))
        return -1;
    snprintf(be->where, sizeof(be->where), "%s/parley.db", be->dir);
    return 0;
}

static int teardown(void **state)
{
    backend *be = *state;
    if (!be->redis) {
        char cmd[128];
        snprintf(cmd, sizeof(cmd), "rm -rf %s", be->dir);
        return system(cmd) == 0 ? 0 : -1;
    }
    return 0;
}

static pl_store *open_store(const backend *be)
{
    pl_env env = pl_env_default();
    pl_store *st = NULL;
    int rc = be->redis ? pl_store_open_redis(&env, be->where, &st)
                       : pl_store_create(&env, be->where, &st);
    assert_int_equal(rc, PL_OK);
    assert_non_null(st);
    return st;
}

typedef struct seen {
    pl_missed items[PL_STORE_MAX_MISSED + 8];
    int n;
} seen;

static void collect(void *arg, const pl_missed *m)
{
    seen *s = arg;
    s->items[s->n++] = *m;
}

static pl_missed item(const char *id, const char *from, int64_t ts, const char *topic)
{
    pl_missed m;
    memset(&m, 0, sizeof(m));
    snprintf(m.call_id, sizeof(m.call_id), "%s", id);
    snprintf(m.from_id, sizeof(m.from_id), "%s", from);
    snprintf(m.from_name, sizeof(m.from_name), "Name of %s", from);
    snprintf(m.topic, sizeof(m.topic), "%s", topic);
    snprintf(m.reason, sizeof(m.reason), "%s", ts % 2 ? "dnd" : "missed");
    m.ts_ms = ts;
    return m;
}

static void test_round_trip_and_ownership(void **state)
{
    pl_store *st = open_store(*state);
    pl_missed a = item("c1", "uA", 2000, "the deploy is red \xe2\x9c\x8b");
    pl_missed b = item("c2", "uB", 1000, "");
    assert_int_equal(pl_store_add_missed(st, "uBob", &a), PL_OK);
    assert_int_equal(pl_store_add_missed(st, "uBob", &b), PL_OK);
    assert_int_equal(pl_store_add_missed(st, "uBob", &a), PL_OK); /* once only */
    pl_missed c = item("c3", "uA", 5, "x");
    assert_int_equal(pl_store_add_missed(st, "uCy", &c), PL_OK);
    assert_int_equal(pl_store_count_missed(st), 3); /* every user's, once each */
    seen s = {0};
    assert_int_equal(pl_store_each_missed(st, "uBob", collect, &s), 2);
    /* Oldest first, every field back as it went in. */
    assert_string_equal(s.items[0].call_id, "c2");
    assert_string_equal(s.items[1].call_id, "c1");
    assert_string_equal(s.items[1].topic, a.topic);
    assert_string_equal(s.items[1].from_id, "uA");
    assert_string_equal(s.items[1].from_name, "Name of uA");
    assert_string_equal(s.items[1].reason, "missed");
    assert_int_equal(s.items[1].ts_ms, 2000);
    assert_string_equal(s.items[0].topic, "");
    /* Nobody acknowledges someone else's heads-up. */
    assert_int_equal(pl_store_ack_missed(st, "uCy", "c1"), PL_ENOTFOUND);
    assert_int_equal(pl_store_ack_missed(st, "uBob", "c1"), PL_OK);
    assert_int_equal(pl_store_ack_missed(st, "uBob", "c1"), PL_ENOTFOUND);
    assert_int_equal(pl_store_count_missed(st), 2);
    memset(&s, 0, sizeof(s));
    assert_int_equal(pl_store_each_missed(st, "uBob", collect, &s), 1);
    assert_int_equal(pl_store_each_missed(st, "nobody", collect, &s), 0);
    pl_store_destroy(st);
}

static void test_bounded_per_user(void **state)
{
    pl_store *st = open_store(*state);
    char id[32];
    for (int i = 0; i < PL_STORE_MAX_MISSED + 50; i++) {
        snprintf(id, sizeof(id), "c%d", i);
        pl_missed m = item(id, "uA", 1000 + i, "");
        assert_int_equal(pl_store_add_missed(st, "uBob", &m), PL_OK);
    }
    seen *s = calloc(1, sizeof(*s));
    assert_int_equal(pl_store_each_missed(st, "uBob", collect, s), PL_STORE_MAX_MISSED);
    /* The newest are the ones kept, and only they are counted. */
    assert_string_equal(s->items[0].call_id, "c50");
    snprintf(id, sizeof(id), "c%d", PL_STORE_MAX_MISSED + 49);
    assert_string_equal(s->items[PL_STORE_MAX_MISSED - 1].call_id, id);
    assert_int_equal(pl_store_count_missed(st), PL_STORE_MAX_MISSED);
    pl_missed got;
    assert_int_equal(pl_store_get_missed(st, "uBob", "c49", &got), PL_ENOTFOUND);
    free(s);
    pl_store_destroy(st);
}

static void test_survives_reopen(void **state)
{
    backend *be = *state;
    pl_store *st = open_store(be);
    pl_missed m = item("c1", "uA", 7, "t");
    assert_int_equal(pl_store_add_missed(st, "uBob", &m), PL_OK);
    pl_store_destroy(st);
    st = open_store(be);
    seen s = {0};
    assert_int_equal(pl_store_each_missed(st, "uBob", collect, &s), 1);
    assert_string_equal(s.items[0].topic, "t");
    pl_store_destroy(st);
}

/* Video heads-ups: a message attached to a heads-up (or stored with a new
 * one), read back by get and each after reopening, gone with the
 * heads-up's ack. */
static void test_messages(void **state)
{
    backend *be = *state;
    pl_store *st = open_store(be);
    pl_missed old = item("c0", "uA", 1, "");
    assert_int_equal(pl_store_add_missed(st, "uBob", &old), PL_OK);
    pl_missed got;
    assert_int_equal(pl_store_get_missed(st, "uBob", "c0", &got), PL_OK);
    assert_string_equal(got.reason, "dnd");
    assert_string_equal(got.message_id, "");
    /* Attached to the heads-up there, and one stored with its message. */
    pl_missed m = item("c0", "uA", 1, "");
    snprintf(m.reason, sizeof(m.reason), "missed");
    snprintf(m.message_id, sizeof(m.message_id), "%s", "AAAAAAAAAAAAAAAAAAAAAA");
    snprintf(m.message_file, sizeof(m.message_file), "%s", "p1.webm");
    m.message_ms = 10040;
    assert_int_equal(pl_store_set_message(st, "uBob", &m), PL_OK);
    pl_missed n = item("m9", "uC", 3, "");
    snprintf(n.reason, sizeof(n.reason), "message");
    snprintf(n.message_id, sizeof(n.message_id), "%s", "BBBBBBBBBBBBBBBBBBBBBB");
    snprintf(n.message_file, sizeof(n.message_file), "%s", "p2.webm");
    n.message_audio_only = true;
    assert_int_equal(pl_store_set_message(st, "uBob", &n), PL_OK);
    pl_store_destroy(st);
    st = open_store(be);
    seen s = {0};
    assert_int_equal(pl_store_each_missed(st, "uBob", collect, &s), 2);
    assert_string_equal(s.items[0].call_id, "c0");
    assert_string_equal(s.items[0].reason, "dnd"); /* the heads-up as it was */
    assert_string_equal(s.items[0].message_file, "p1.webm");
    assert_int_equal(s.items[0].message_ms, 10040);
    assert_false(s.items[0].message_audio_only);
    assert_string_equal(s.items[1].reason, "message");
    assert_true(s.items[1].message_audio_only);
    assert_int_equal(pl_store_get_missed(st, "uCy", "c0", &got), PL_ENOTFOUND);
    assert_int_equal(pl_store_ack_missed(st, "uBob", "c0"), PL_OK);
    assert_int_equal(pl_store_get_missed(st, "uBob", "c0", &got), PL_ENOTFOUND);
    /* A heads-up stored again under the same call id has no message left. */
    pl_missed again = item("c0", "uA", 1, "");
    assert_int_equal(pl_store_add_missed(st, "uBob", &again), PL_OK);
    assert_int_equal(pl_store_get_missed(st, "uBob", "c0", &got), PL_OK);
    assert_string_equal(got.message_id, "");
    pl_store_destroy(st);
}

/* SQLite: a database written before messages existed (no messages table)
 * opens and keeps its heads-ups; a path that cannot be a database is
 * refused, not crashed on. */
static void test_sqlite_legacy_and_bad_path(void **state)
{
    backend *be = *state;
    sqlite3 *db;
    assert_int_equal(sqlite3_open(be->where, &db), SQLITE_OK);
    assert_int_equal(
        sqlite3_exec(
            db,
            "CREATE TABLE missed (call_id TEXT PRIMARY KEY, to_user TEXT NOT NULL,"
            " from_id TEXT NOT NULL, from_name TEXT NOT NULL, topic TEXT NOT NULL DEFAULT '',"
            " ts INTEGER NOT NULL, reason TEXT NOT NULL);"
            " INSERT INTO missed VALUES ('c0', 'uBob', 'uA', 'Ann', '', 1, 'dnd');",
            NULL, NULL, NULL),
        SQLITE_OK);
    sqlite3_close(db);
    pl_store *st = open_store(be);
    pl_missed got;
    assert_int_equal(pl_store_get_missed(st, "uBob", "c0", &got), PL_OK);
    assert_string_equal(got.reason, "dnd");
    pl_missed m = got;
    snprintf(m.message_id, sizeof(m.message_id), "%s", "AAAAAAAAAAAAAAAAAAAAAA");
    snprintf(m.message_file, sizeof(m.message_file), "%s", "p1.webm");
    assert_int_equal(pl_store_set_message(st, "uBob", &m), PL_OK);
    assert_int_equal(pl_store_get_missed(st, "uBob", "c0", &got), PL_OK);
    assert_string_equal(got.message_file, "p1.webm");
    pl_store_destroy(st);
    char bad[160];
    snprintf(bad, sizeof(bad), "%s/missing/dir/parley.db", be->dir);
    pl_env env = pl_env_default();
    assert_int_equal(pl_store_create(&env, bad, &st), PL_EINVAL);
    assert_null(st);
}

/* An acknowledged write survives the server's SIGKILL: appendfsync always
 * put it in the AOF before the answer. */
static void test_redis_sigkill(void **state)
{
    pl_store *st = open_store(*state);
    pl_missed m = item("k1", "uA", 42, "before the crash");
    assert_int_equal(pl_store_add_missed(st, "uBob", &m), PL_OK);
    redisfx_kill(&shared, SIGKILL);
    assert_int_equal(redisfx_restart(&shared), 0);
    pl_store_destroy(st);
    st = open_store(*state);
    pl_missed got;
    assert_int_equal(pl_store_get_missed(st, "uBob", "k1", &got), PL_OK);
    assert_string_equal(got.topic, "before the crash");
    assert_int_equal(pl_store_count_missed(st), 1);
    pl_store_destroy(st);
}

/* Redis restarted between two writes: the connection the store holds is
 * stale, and the first write after the restart is sent again on a new one,
 * not lost (a node's heads-up right after a Redis restart). */
static void test_redis_first_write_after_restart(void **state)
{
    pl_store *st = open_store(*state);
    pl_missed m = item("r1", "uA", 1, "");
    assert_int_equal(pl_store_add_missed(st, "uBob", &m), PL_OK);
    redisfx_kill(&shared, SIGKILL);
    assert_int_equal(redisfx_restart(&shared), 0);
    pl_missed m2 = item("r2", "uA", 2, "after the restart");
    assert_int_equal(pl_store_add_missed(st, "uBob", &m2), PL_OK);
    pl_missed got;
    assert_int_equal(pl_store_get_missed(st, "uBob", "r2", &got), PL_OK);
    assert_string_equal(got.topic, "after the restart");
    assert_int_equal(pl_store_get_missed(st, "uBob", "r1", &got), PL_OK);
    pl_store_destroy(st);
}

/* A Redis that could lose an acknowledged write is refused at open. */
static void test_redis_not_durable_refused(void **state)
{
    (void)state;
    redisfx loose;
    assert_int_equal(redisfx_start(&loose, false), 0);
    pl_env env = pl_env_default();
    pl_store *st = NULL;
    assert_int_equal(pl_store_open_redis(&env, loose.url, &st), PL_ESTATE);
    assert_null(st);
    redisfx_stop(&loose);
    /* Nobody listening, and a URL that is not one. */
    assert_int_equal(pl_store_open_redis(&env, loose.url, &st), PL_EIO);
    assert_int_equal(pl_store_open_redis(&env, "http://127.0.0.1:1", &st), PL_EINVAL);
    assert_null(st);
}

/* Redis gone: every call fails with PL_EIO (no crash, no hang past the
 * timeouts); Redis back: the store connects again by itself, at once. */
static void test_redis_outage(void **state)
{
    pl_store *st = open_store(*state);
    pl_missed m = item("o1", "uA", 1, "");
    assert_int_equal(pl_store_add_missed(st, "uBob", &m), PL_OK);
    redisfx_kill(&shared, SIGKILL);
    pl_missed got;
    seen s = {0};
    pl_missed m2 = item("o2", "uA", 2, "");
    assert_int_equal(pl_store_add_missed(st, "uBob", &m2), PL_EIO);
    assert_int_equal(pl_store_get_missed(st, "uBob", "o1", &got), PL_EIO);
    assert_int_equal(pl_store_each_missed(st, "uBob", collect, &s), PL_EIO);
    assert_int_equal(pl_store_ack_missed(st, "uBob", "o1"), PL_EIO);
    assert_int_equal(pl_store_count_missed(st), PL_EIO);
    assert_int_equal(redisfx_restart(&shared), 0);
    /* Refused while Redis was down, the connection is tried again at once
     * now that it is back. */
    assert_int_equal(pl_store_get_missed(st, "uBob", "o1", &got), PL_OK);
    assert_int_equal(pl_store_ack_missed(st, "uBob", "o1"), PL_OK);
    pl_store_destroy(st);
}

/* No argument: the SQLite cases; "redis": the same cases and Redis's own
 * against a real redis-server, or a TAP skip of the whole file when none
 * is installed (cmocka's own skip reads as a failure to TAP). */
int main(int argc, char **argv)
{
    const struct CMUnitTest sqlite_tests[] = {
        {"round trip and ownership", test_round_trip_and_ownership, setup, teardown, &sqlite_be},
        {"bounded per user", test_bounded_per_user, setup, teardown, &sqlite_be},
        {"survives reopen", test_survives_reopen, setup, teardown, &sqlite_be},
        {"messages", test_messages, setup, teardown, &sqlite_be},
        {"legacy schema, bad path", test_sqlite_legacy_and_bad_path, setup, teardown, &sqlite_be},
    };
    const struct CMUnitTest redis_tests[] = {
        {"round trip and ownership", test_round_trip_and_ownership, setup, teardown, &redis_be},
        {"bounded per user", test_bounded_per_user, setup, teardown, &redis_be},
        {"survives reopen", test_survives_reopen, setup, teardown, &redis_be},
        {"messages", test_messages, setup, teardown, &redis_be},
        {"acknowledged write survives SIGKILL", test_redis_sigkill, setup, teardown, &redis_be},
        {"first write after a restart kept", test_redis_first_write_after_restart, setup, teardown,
         &redis_be},
        {"not durable refused", test_redis_not_durable_refused, NULL, NULL, NULL},
        {"outage and reconnect", test_redis_outage, setup, teardown, &redis_be},
    };
    if (argc > 1 && strcmp(argv[1], "redis") == 0) {
        if (!redisfx_available()) {
            printf("1..0 # SKIP redis-server is not installed\n");
            return 0;
        }
        return cmocka_run_group_tests_name("store-redis", redis_tests, setup_group, teardown_group);
    }
    return cmocka_run_group_tests_name("store", sqlite_tests, NULL, NULL);
}
