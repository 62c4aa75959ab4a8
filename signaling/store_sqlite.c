/* The store of heads-ups in an embedded SQLite database (one node). */
#include "store_backend.h"

#include <stdio.h>
#include <string.h>

#include <sqlite3.h>

typedef struct sq_store {
    pl_env env;
    sqlite3 *db;
    sqlite3_stmt *add, *trim, *each, *ack, *count, *msg, *msg_trim, *msg_ack, *one;
} sq_store;

static const char schema[] = "CREATE TABLE IF NOT EXISTS missed ("
                             " call_id TEXT PRIMARY KEY,"
                             " to_user TEXT NOT NULL,"
                             " from_id TEXT NOT NULL,"
                             " from_name TEXT NOT NULL,"
                             " topic TEXT NOT NULL DEFAULT '',"
                             " ts INTEGER NOT NULL,"
                             " reason TEXT NOT NULL);"
                             "CREATE INDEX IF NOT EXISTS missed_by_user ON missed(to_user, ts);"
                             /* Added with video heads-ups: a table of its
                              * own, so that a store written before them
                              * opens as it is. */
                             "CREATE TABLE IF NOT EXISTS messages ("
                             " call_id TEXT PRIMARY KEY,"
                             " message_id TEXT NOT NULL,"
                             " file TEXT NOT NULL,"
                             " audio_only INTEGER NOT NULL,"
                             " duration_ms INTEGER NOT NULL);";

#define SELECT_MISSED                                                                              \
    "SELECT m.call_id, m.from_id, m.from_name, m.topic, m.ts, m.reason,"                           \
    " g.message_id, g.file, g.audio_only, g.duration_ms"                                           \
    " FROM missed m LEFT JOIN messages g ON g.call_id = m.call_id"

static void log_db(sq_store *st, const char *what)
{
    pl_env_logf(&st->env, PL_LOG_ERROR, "store: %s: %s", what, sqlite3_errmsg(st->db));
}

static void sq_destroy(void *b);
static const store_ops sq_ops;

int store_sqlite_open(const pl_env *env, const char *path, const store_ops **ops, void **out)
{
    *out = NULL;
    sq_store *st = pl_env_alloc(env, sizeof(*st));
    if (!st)
        return PL_ENOMEM;
    st->env = *env;
    int rc = sqlite3_open_v2(
        path, &st->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
    /* WAL with synchronous=FULL: each commit is on disk when it returns, and
     * a reader never waits for a writer. A busy timeout covers a second
     * process (a backup, an operator's sqlite3 shell) holding a lock. */
    if (rc == SQLITE_OK)
        rc = sqlite3_exec(st->db,
                          "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;"
                          "PRAGMA busy_timeout=2000;",
                          NULL, NULL, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_exec(st->db, schema, NULL, NULL, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_prepare_v2(st->db,
                                "INSERT OR IGNORE INTO missed"
                                " (call_id, to_user, from_id, from_name, topic, ts, reason)"
                                " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                                -1, &st->add, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_prepare_v2(st->db,
                                "DELETE FROM missed WHERE to_user = ?1 AND call_id NOT IN"
                                " (SELECT call_id FROM missed WHERE to_user = ?1"
                                " ORDER BY ts DESC, rowid DESC LIMIT ?2)",
                                -1, &st->trim, NULL);
    if (rc == SQLITE_OK)
        rc =
            sqlite3_prepare_v2(st->db, SELECT_MISSED " WHERE m.to_user = ?1 ORDER BY m.ts, m.rowid",
                               -1, &st->each, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_prepare_v2(st->db, SELECT_MISSED " WHERE m.to_user = ?1 AND m.call_id = ?2",
                                -1, &st->one, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_prepare_v2(st->db,
                                "INSERT OR REPLACE INTO messages"
                                " (call_id, message_id, file, audio_only, duration_ms)"
                                " VALUES (?1, ?2, ?3, ?4, ?5)",
                                -1, &st->msg, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_prepare_v2(
            st->db, "DELETE FROM messages WHERE call_id NOT IN (SELECT call_id FROM missed)", -1,
            &st->msg_trim, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_prepare_v2(st->db,
                                "DELETE FROM messages WHERE call_id = ?1 AND call_id NOT IN"
                                " (SELECT call_id FROM missed)",
                                -1, &st->msg_ack, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_prepare_v2(st->db, "DELETE FROM missed WHERE to_user = ?1 AND call_id = ?2",
                                -1, &st->ack, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_prepare_v2(st->db, "SELECT count(*) FROM missed", -1, &st->count, NULL);
    if (rc != SQLITE_OK) {
        pl_env_logf(env, PL_LOG_ERROR, "store: cannot open %s: %s", path,
                    st->db ? sqlite3_errmsg(st->db) : "out of memory");
        sq_destroy(st);
        return PL_EINVAL;
    }
    *ops = &sq_ops;
    *out = st;
    return PL_OK;
}

static void sq_destroy(void *b)
{
    sq_store *st = b;
    if (!st)
        return;
    sqlite3_finalize(st->add);
    sqlite3_finalize(st->trim);
    sqlite3_finalize(st->each);
    sqlite3_finalize(st->ack);
    sqlite3_finalize(st->count);
    sqlite3_finalize(st->msg);
    sqlite3_finalize(st->msg_trim);
    sqlite3_finalize(st->msg_ack);
    sqlite3_finalize(st->one);
    sqlite3_close(st->db);
    pl_env_free(&st->env, st);
}

/* Runs a prepared write to completion and makes it reusable. */
static int step_done(sq_store *st, sqlite3_stmt *q, const char *what)
{
    int rc = sqlite3_step(q);
    sqlite3_reset(q);
    sqlite3_clear_bindings(q);
    if (rc != SQLITE_DONE) {
        log_db(st, what);
        return PL_EINVAL;
    }
    return PL_OK;
}

/* The heads-up and the trim to the bound, inside a transaction. */
static int add_trim(sq_store *st, const char *to_user, const pl_missed *m)
{
    sqlite3_bind_text(st->add, 1, m->call_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st->add, 2, to_user, -1, SQLITE_STATIC);
    sqlite3_bind_text(st->add, 3, m->from_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st->add, 4, m->from_name, -1, SQLITE_STATIC);
    sqlite3_bind_text(st->add, 5, m->topic, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st->add, 6, m->ts_ms);
    sqlite3_bind_text(st->add, 7, m->reason, -1, SQLITE_STATIC);
    int err = step_done(st, st->add, "insert");
    if (err == PL_OK) {
        sqlite3_bind_text(st->trim, 1, to_user, -1, SQLITE_STATIC);
        sqlite3_bind_int(st->trim, 2, PL_STORE_MAX_MISSED);
        err = step_done(st, st->trim, "trim");
    }
    return err == PL_OK ? step_done(st, st->msg_trim, "trim messages") : err;
}

static int begin(sq_store *st)
{
    if (sqlite3_exec(st->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK) {
        log_db(st, "begin");
        return PL_EINVAL;
    }
    return PL_OK;
}

static int end(sq_store *st, int err)
{
    if (sqlite3_exec(st->db, err == PL_OK ? "COMMIT" : "ROLLBACK", NULL, NULL, NULL) != SQLITE_OK) {
        log_db(st, "commit");
        sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
        return PL_EINVAL;
    }
    return err;
}

/* The insert and the trim commit together: the store is never seen over
 * its bound, nor with the new item lost to the trim. */
static int sq_add(void *b, const char *to_user, const pl_missed *m, bool with_message)
{
    sq_store *st = b;
    int err = begin(st);
    if (err != PL_OK)
        return err;
    err = add_trim(st, to_user, m);
    if (err == PL_OK && with_message) {
        sqlite3_bind_text(st->msg, 1, m->call_id, -1, SQLITE_STATIC);
        sqlite3_bind_text(st->msg, 2, m->message_id, -1, SQLITE_STATIC);
        sqlite3_bind_text(st->msg, 3, m->message_file, -1, SQLITE_STATIC);
        sqlite3_bind_int(st->msg, 4, m->message_audio_only);
        sqlite3_bind_int64(st->msg, 5, m->message_ms);
        err = step_done(st, st->msg, "insert message");
    }
    return end(st, err);
}

static void copy_col(sqlite3_stmt *q, int col, char *out, size_t cap)
{
    const unsigned char *t = sqlite3_column_text(q, col);
    snprintf(out, cap, "%s", t ? (const char *)t : "");
}

static void read_row(sqlite3_stmt *q, pl_missed *m)
{
    memset(m, 0, sizeof(*m));
    copy_col(q, 0, m->call_id, sizeof(m->call_id));
    copy_col(q, 1, m->from_id, sizeof(m->from_id));
    copy_col(q, 2, m->from_name, sizeof(m->from_name));
    copy_col(q, 3, m->topic, sizeof(m->topic));
    m->ts_ms = sqlite3_column_int64(q, 4);
    copy_col(q, 5, m->reason, sizeof(m->reason));
    copy_col(q, 6, m->message_id, sizeof(m->message_id));
    copy_col(q, 7, m->message_file, sizeof(m->message_file));
    m->message_audio_only = sqlite3_column_int(q, 8) != 0;
    m->message_ms = sqlite3_column_int64(q, 9);
}

static int sq_get(void *b, const char *to_user, const char *call_id, pl_missed *out)
{
    sq_store *st = b;
    sqlite3_bind_text(st->one, 1, to_user, -1, SQLITE_STATIC);
    sqlite3_bind_text(st->one, 2, call_id, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st->one);
    if (rc == SQLITE_ROW)
        read_row(st->one, out);
    sqlite3_reset(st->one);
    sqlite3_clear_bindings(st->one);
    if (rc == SQLITE_ROW)
        return PL_OK;
    if (rc != SQLITE_DONE)
        log_db(st, "select one");
    return PL_ENOTFOUND;
}

static int sq_each(void *b, const char *to_user, void (*fn)(void *arg, const pl_missed *m),
                   void *arg)
{
    sq_store *st = b;
    sqlite3_bind_text(st->each, 1, to_user, -1, SQLITE_STATIC);
    int n = 0, rc;
    pl_missed m;
    while ((rc = sqlite3_step(st->each)) == SQLITE_ROW) {
        read_row(st->each, &m);
        fn(arg, &m);
        n++;
    }
    sqlite3_reset(st->each);
    sqlite3_clear_bindings(st->each);
    if (rc != SQLITE_DONE) {
        log_db(st, "select");
        return PL_EINVAL;
    }
    return n;
}

static int sq_ack(void *b, const char *to_user, const char *call_id)
{
    sq_store *st = b;
    sqlite3_bind_text(st->ack, 1, to_user, -1, SQLITE_STATIC);
    sqlite3_bind_text(st->ack, 2, call_id, -1, SQLITE_STATIC);
    int err = step_done(st, st->ack, "delete");
    if (err != PL_OK)
        return err;
    bool gone = sqlite3_changes(st->db) > 0;
    sqlite3_bind_text(st->msg_ack, 1, call_id, -1, SQLITE_STATIC);
    step_done(st, st->msg_ack, "delete message");
    return gone ? PL_OK : PL_ENOTFOUND;
}

static int64_t sq_count(void *b)
{
    sq_store *st = b;
    int64_t n = PL_EINVAL;
    if (sqlite3_step(st->count) == SQLITE_ROW)
        n = sqlite3_column_int64(st->count, 0);
    else
        log_db(st, "count");
    sqlite3_reset(st->count);
    return n;
}

static const store_ops sq_ops = {.add = sq_add,
                                 .get = sq_get,
                                 .each = sq_each,
                                 .ack = sq_ack,
                                 .count = sq_count,
                                 .destroy = sq_destroy};
