/* The store of heads-ups in Redis, shared by every node of a cluster.
 *
 * parley:hu:<call_id>      hash: id, to, from_id, from_name, topic, ts, reason
 *                          and, with a message, message_id, file,
 *                          audio_only, ms
 * parley:missed:<user>     sorted set of the user's call ids, scored by ts
 * parley:missed:count      every user's heads-ups, for the metrics
 *
 * Each write is one Lua script, so the heads-up, its place in the user's
 * set, the count and the trim to the bound happen together or not at all.
 * Durability comes from Redis itself: the store refuses a server that does
 * not append every write to its AOF and fsync it before answering.
 *
 * Calls are synchronous, as the SQLite store's are, but every command has
 * a timeout; a lost connection makes calls fail with PL_EIO, and the next
 * call connects again (at most once a second while connecting takes its
 * time). */
#include "redisconn.h"
#include "store_backend.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <hiredis/hiredis.h>

#define HU_PREFIX "parley:hu:"
#define SET_PREFIX "parley:missed:"
#define COUNT_KEY "parley:missed:count"
/* Long enough for a loaded Redis, short enough that an unreachable one
 * holds the signaling loop up for a moment only. */
#define TIMEOUT_MS 1000
#define RETRY_MS 1000
#define SLOW_CONNECT_MS 50

typedef struct rd_store {
    pl_env env;
    pl_redis_url url;
    redisContext *c; /* NULL while disconnected */
    int64_t next_try_ms;
    bool down_logged;
} rd_store;

static const char add_lua[] = "local hu, z, cnt = KEYS[1], KEYS[2], KEYS[3]\n"
                              "if redis.call('EXISTS', hu) == 0 then\n"
                              "  redis.call('HSET', hu, 'id', ARGV[1], 'to', ARGV[2], 'from_id', "
                              "ARGV[3], 'from_name', ARGV[4],\n"
                              "             'topic', ARGV[5], 'ts', ARGV[6], 'reason', ARGV[7])\n"
                              "  redis.call('ZADD', z, ARGV[6], ARGV[1])\n"
                              "  redis.call('INCR', cnt)\n"
                              "  local over = redis.call('ZCARD', z) - tonumber(ARGV[8])\n"
                              "  if over > 0 then\n"
                              "    for _, id in ipairs(redis.call('ZRANGE', z, 0, over - 1)) do\n"
                              "      redis.call('DEL', ARGV[14] .. id)\n"
                              "    end\n"
                              "    redis.call('ZREMRANGEBYRANK', z, 0, over - 1)\n"
                              "    redis.call('DECRBY', cnt, over)\n"
                              "  end\n"
                              "end\n"
                              "if ARGV[9] == '1' and redis.call('HGET', hu, 'to') == ARGV[2] then\n"
                              "  redis.call('HSET', hu, 'message_id', ARGV[10], 'file', ARGV[11],\n"
                              "             'audio_only', ARGV[12], 'ms', ARGV[13])\n"
                              "end\n"
                              "return 1\n";

static const char ack_lua[] = "if redis.call('HGET', KEYS[1], 'to') ~= ARGV[1] then return 0 end\n"
                              "redis.call('DEL', KEYS[1])\n"
                              "redis.call('ZREM', KEYS[2], ARGV[2])\n"
                              "redis.call('DECR', KEYS[3])\n"
                              "return 1\n";

/* Read-only: a user's heads-ups as one consistent answer. */
static const char each_lua[] = "local out = {}\n"
                               "for i, id in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do\n"
                               "  out[i] = redis.call('HGETALL', ARGV[1] .. id)\n"
                               "end\n"
                               "return out\n";

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The connection, made again when it was lost; NULL (said once per
 * outage) when Redis cannot be reached. */
static redisContext *conn(rd_store *st)
{
    if (st->c)
        return st->c;
    int64_t now = mono_ms();
    if (now < st->next_try_ms)
        return NULL;
    char err[256];
    st->c = pl_redis_connect(&st->url, TIMEOUT_MS, err, sizeof(err));
    if (!st->c) {
        /* A connection refused at once (Redis restarting) is tried again
         * on the next call; one that took its time (an unreachable host)
         * not before a second, so that calls do not each hold the
         * signaling loop up for the timeout. */
        if (mono_ms() - now >= SLOW_CONNECT_MS)
            st->next_try_ms = now + RETRY_MS;
        if (!st->down_logged)
            pl_env_logf(&st->env, PL_LOG_ERROR,
                        "store: Redis unreachable, heads-ups unavailable: %s", err);
        st->down_logged = true;
        return NULL;
    }
    if (st->down_logged)
        pl_env_logf(&st->env, PL_LOG_INFO, "store: Redis %s:%d reachable again", st->url.host,
                    st->url.port);
    st->down_logged = false;
    return st->c;
}

/* Sends a formatted command and reads its reply. A connection broken
 * since its last use (Redis restarted: the next write on it fails) is made
 * again at once and the command sent once more, so the first write after
 * a restart is not lost; every command here may be repeated (the writes
 * check before they change). NULL when Redis cannot be reached, the
 * connection then dropped (its state is unknown). */
static redisReply *command(rd_store *st, const char *cmd, int len, const char *what)
{
    if (len < 0)
        return NULL;
    for (int attempt = 0; attempt < 2; attempt++) {
        redisContext *c = conn(st);
        if (!c)
            return NULL;
        void *reply = NULL;
        if (redisAppendFormattedCommand(c, cmd, (size_t)len) == REDIS_OK &&
            redisGetReply(c, &reply) == REDIS_OK)
            return reply;
        if (!st->down_logged && attempt == 1)
            pl_env_logf(&st->env, PL_LOG_ERROR, "store: %s: Redis %s", what,
                        c->errstr[0] ? c->errstr : "gave no reply");
        if (attempt == 1)
            st->down_logged = true;
        pl_redis_close(st->c);
        st->c = NULL;
        st->next_try_ms = 0; /* a restarted server is tried at once */
    }
    return NULL;
}

/* A reply or its absence: PL_EIO when there was none (Redis unreachable)
 * or Redis said no. */
static int check(rd_store *st, redisReply *r, const char *what)
{
    if (!r)
        return PL_EIO;
    if (r->type == REDIS_REPLY_ERROR) {
        pl_env_logf(&st->env, PL_LOG_ERROR, "store: %s: %s", what, r->str);
        return PL_EIO;
    }
    return PL_OK;
}

static void rd_destroy(void *b)
{
    rd_store *st = b;
    if (!st)
        return;
    pl_redis_close(st->c);
    pl_env_free(&st->env, st);
}

static void key(char *out, size_t n, const char *prefix, const char *id)
{
    snprintf(out, n, "%s%s", prefix, id);
}

static int rd_add(void *b, const char *to_user, const pl_missed *m, bool with_message)
{
    rd_store *st = b;
    char hu[64], z[128], ts[24], max[16], ms[24];
    key(hu, sizeof(hu), HU_PREFIX, m->call_id);
    key(z, sizeof(z), SET_PREFIX, to_user);
    snprintf(ts, sizeof(ts), "%lld", (long long)m->ts_ms);
    snprintf(max, sizeof(max), "%d", PL_STORE_MAX_MISSED);
    snprintf(ms, sizeof(ms), "%lld", (long long)m->message_ms);
    const char *argv[] = {"EVAL",
                          add_lua,
                          "3",
                          hu,
                          z,
                          COUNT_KEY,
                          m->call_id,
                          to_user,
                          m->from_id,
                          m->from_name,
                          m->topic,
                          ts,
                          m->reason,
                          max,
                          with_message ? "1" : "0",
                          m->message_id,
                          m->message_file,
                          m->message_audio_only ? "1" : "0",
                          ms,
                          HU_PREFIX};
    char *cmd = NULL;
    int len = redisFormatCommandArgv(&cmd, (int)(sizeof(argv) / sizeof(argv[0])), argv, NULL);
    redisReply *r = command(st, cmd, len, "add");
    redisFreeCommand(cmd);
    int err = check(st, r, "add");
    freeReplyObject(r);
    return err;
}

static const char *field(const redisReply *h, const char *name)
{
    for (size_t i = 0; i + 1 < h->elements; i += 2)
        if (h->element[i]->type == REDIS_REPLY_STRING && strcmp(h->element[i]->str, name) == 0 &&
            h->element[i + 1]->type == REDIS_REPLY_STRING)
            return h->element[i + 1]->str;
    return "";
}

/* One HGETALL answer into m: false when it is empty (no such heads-up). */
static bool read_hash(const redisReply *h, pl_missed *m)
{
    memset(m, 0, sizeof(*m));
    if (h->type != REDIS_REPLY_ARRAY || h->elements == 0)
        return false;
    snprintf(m->call_id, sizeof(m->call_id), "%s", field(h, "id"));
    snprintf(m->from_id, sizeof(m->from_id), "%s", field(h, "from_id"));
    snprintf(m->from_name, sizeof(m->from_name), "%s", field(h, "from_name"));
    snprintf(m->topic, sizeof(m->topic), "%s", field(h, "topic"));
    m->ts_ms = strtoll(field(h, "ts"), NULL, 10);
    snprintf(m->reason, sizeof(m->reason), "%s", field(h, "reason"));
    snprintf(m->message_id, sizeof(m->message_id), "%s", field(h, "message_id"));
    snprintf(m->message_file, sizeof(m->message_file), "%s", field(h, "file"));
    m->message_audio_only = strcmp(field(h, "audio_only"), "1") == 0;
    m->message_ms = strtoll(field(h, "ms"), NULL, 10);
    return true;
}

static int rd_get(void *b, const char *to_user, const char *call_id, pl_missed *out)
{
    rd_store *st = b;
    char *cmd = NULL;
    int len = redisFormatCommand(&cmd, "HGETALL " HU_PREFIX "%s", call_id);
    redisReply *r = command(st, cmd, len, "get");
    redisFreeCommand(cmd);
    int err = check(st, r, "get");
    if (err == PL_OK)
        err = read_hash(r, out) && strcmp(field(r, "to"), to_user) == 0 ? PL_OK : PL_ENOTFOUND;
    freeReplyObject(r);
    return err;
}

static int rd_each(void *b, const char *to_user, void (*fn)(void *arg, const pl_missed *m),
                   void *arg)
{
    rd_store *st = b;
    char *cmd = NULL;
    int len =
        redisFormatCommand(&cmd, "EVAL %s 1 " SET_PREFIX "%s %s", each_lua, to_user, HU_PREFIX);
    redisReply *r = command(st, cmd, len, "each");
    redisFreeCommand(cmd);
    int err = check(st, r, "each");
    if (err == PL_OK && r->type != REDIS_REPLY_ARRAY)
        err = PL_EIO;
    int n = 0;
    pl_missed m;
    for (size_t i = 0; err == PL_OK && i < r->elements; i++) {
        if (read_hash(r->element[i], &m)) {
            fn(arg, &m);
            n++;
        }
    }
    freeReplyObject(r);
    return err == PL_OK ? n : err;
}

static int rd_ack(void *b, const char *to_user, const char *call_id)
{
    rd_store *st = b;
    char *cmd = NULL;
    int len =
        redisFormatCommand(&cmd, "EVAL %s 3 " HU_PREFIX "%s " SET_PREFIX "%s " COUNT_KEY " %s %s",
                           ack_lua, call_id, to_user, to_user, call_id);
    redisReply *r = command(st, cmd, len, "ack");
    redisFreeCommand(cmd);
    int err = check(st, r, "ack");
    if (err == PL_OK)
        err = r->type == REDIS_REPLY_INTEGER && r->integer == 1 ? PL_OK : PL_ENOTFOUND;
    freeReplyObject(r);
    return err;
}

static int64_t rd_count(void *b)
{
    rd_store *st = b;
    char *cmd = NULL;
    int len = redisFormatCommand(&cmd, "GET " COUNT_KEY);
    redisReply *r = command(st, cmd, len, "count");
    redisFreeCommand(cmd);
    int64_t n = check(st, r, "count");
    if (n == PL_OK)
        n = r->type == REDIS_REPLY_STRING ? strtoll(r->str, NULL, 10) : 0;
    freeReplyObject(r);
    return n;
}

static const store_ops rd_ops = {.add = rd_add,
                                 .get = rd_get,
                                 .each = rd_each,
                                 .ack = rd_ack,
                                 .count = rd_count,
                                 .destroy = rd_destroy};

int store_redis_open(const pl_env *env, const char *url, const store_ops **ops, void **out)
{
    *out = NULL;
    rd_store *st = pl_env_alloc(env, sizeof(*st));
    if (!st)
        return PL_ENOMEM;
    st->env = *env;
    const char *why = NULL;
    if (pl_redis_url_parse(url, &st->url, &why) != PL_OK) {
        pl_env_logf(env, PL_LOG_ERROR, "store: --redis: %s", why);
        rd_destroy(st);
        return PL_EINVAL;
    }
    char err[320];
    st->c = pl_redis_connect(&st->url, TIMEOUT_MS, err, sizeof(err));
    int rc = st->c ? pl_redis_check_durable(st->c, err, sizeof(err)) : PL_EIO;
    if (rc != PL_OK) {
        pl_env_logf(env, PL_LOG_ERROR, "store: %s", err);
        rd_destroy(st);
        return rc;
    }
    *ops = &rd_ops;
    *out = st;
    return PL_OK;
}
