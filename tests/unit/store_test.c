/* The store of missed heads-ups: round trips, ownership, idempotence, the
 * per-user bound, durability across closing and reopening a file, and
 * their video messages (in a store written before them too). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "parley/store.h"

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
    (void)state;
    pl_env env = pl_env_default();
    pl_store *st;
    assert_int_equal(pl_store_create(&env, ":memory:", &st), PL_OK);
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
    (void)state;
    pl_env env = pl_env_default();
    pl_store *st;
    assert_int_equal(pl_store_create(&env, ":memory:", &st), PL_OK);
    char id[32];
    for (int i = 0; i < PL_STORE_MAX_MISSED + 50; i++) {
        snprintf(id, sizeof(id), "c%d", i);
        pl_missed m = item(id, "uA", 1000 + i, "");
        assert_int_equal(pl_store_add_missed(st, "uBob", &m), PL_OK);
    }
    seen *s = calloc(1, sizeof(*s));
    assert_int_equal(pl_store_each_missed(st, "uBob", collect, s), PL_STORE_MAX_MISSED);
    /* The newest are the ones kept. */
    assert_string_equal(s->items[0].call_id, "c50");
    snprintf(id, sizeof(id), "c%d", PL_STORE_MAX_MISSED + 49);
    assert_string_equal(s->items[PL_STORE_MAX_MISSED - 1].call_id, id);
    free(s);
    pl_store_destroy(st);
}

static void test_survives_reopen(void **state)
{
    (void)state;
    char dir[] = "/tmp/parley-store-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[128];
    snprintf(path, sizeof(path), "%s/parley.db", dir);
    pl_env env = pl_env_default();
    pl_store *st;
    assert_int_equal(pl_store_create(&env, path, &st), PL_OK);
    pl_missed m = item("c1", "uA", 7, "t");
    assert_int_equal(pl_store_add_missed(st, "uBob", &m), PL_OK);
    pl_store_destroy(st);
    assert_int_equal(pl_store_create(&env, path, &st), PL_OK);
    seen s = {0};
    assert_int_equal(pl_store_each_missed(st, "uBob", collect, &s), 1);
    assert_string_equal(s.items[0].topic, "t");
    pl_store_destroy(st);
    /* A path that cannot be a database is refused, not crashed on. */
    char bad[160];
    snprintf(bad, sizeof(bad), "%s/missing/dir/parley.db", dir);
    assert_int_equal(pl_store_create(&env, bad, &st), PL_EINVAL);
    assert_null(st);
    char cmd[256];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
}

/* Video heads-ups: a message attached to a heads-up (or stored with a new
 * one), read back by get and each, gone with the heads-up's ack; a store
 * written before messages existed (no messages table) opens and keeps its
 * heads-ups. */
static void test_messages(void **state)
{
    (void)state;
    char dir[] = "/tmp/parley-store-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[128], cmd[300];
    snprintf(path, sizeof(path), "%s/parley.db", dir);
    sqlite3 *db;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
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
    pl_env env = pl_env_default();
    pl_store *st;
    assert_int_equal(pl_store_create(&env, path, &st), PL_OK);
    pl_missed got;
    assert_int_equal(pl_store_get_missed(st, "uBob", "c0", &got), PL_OK);
    assert_string_equal(got.reason, "dnd");
    assert_string_equal(got.message_id, "");
    /* Attached to the old heads-up, and one stored with its message. */
    pl_missed m = item("c0", "uA", 1, "");
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
    assert_int_equal(pl_store_create(&env, path, &st), PL_OK);
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
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip_and_ownership),
        cmocka_unit_test(test_bounded_per_user),
        cmocka_unit_test(test_survives_reopen),
        cmocka_unit_test(test_messages),
    };
    return cmocka_run_group_tests_name("store", tests, NULL, NULL);
}
