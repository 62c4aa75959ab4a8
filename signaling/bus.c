/* A node's connections to the cluster's Redis. Channels: parley:user:<id>
 * (a user's calls) and parley:presence; the thread subscribes to both
 * with PSUBSCRIBE parley:user:* and SUBSCRIBE parley:presence, so that a
 * user's messages are heard from the moment the user connects, whichever
 * node that is (no per-user subscription to race with a caller), and the
 * core drops what is for users it does not have. Directory: the hash
 * parley:presence, a field per user, "<node>\t<status>\t<name>"; an entry
 * counts while its node's key parley:alive:<node> lives (refreshed every
 * few seconds, gone with the node), and an entry of a dead node is
 * removed by whoever reads it. */
#include "bus.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include <hiredis/hiredis.h>

#include "busmsg.h"
#include "redisconn.h"

#define DIR_KEY "parley:presence"
#define NODE_PREFIX "parley:alive:"
#define TIMEOUT_MS 1000
#define NODE_TTL_MS 15000
#define HEARTBEAT_MS 5000
#define QUEUE_MAX 10000 /* messages waiting for the loop; beyond, dropped */

typedef struct qmsg {
    struct qmsg *next;
    size_t len;
    char text[];
} qmsg;

struct srv_bus {
    pl_env env;
    pl_redis_url url;
    char node[PL_BUS_NODE_MAX + 1];
    void (*wake)(void *arg);
    void *wake_arg;
    /* The loop's connection (publish, directory); NULL while down. */
    redisContext *c;
    int64_t next_try_ms, next_beat_ms;
    bool down_logged;
    /* Connected again after an outage: the directory may have lost this
     * node's entries (a reader removes them once the liveness key has
     * expired), and other nodes missed its presence meanwhile. */
    bool resync;
    /* The thread's. */
    pthread_t thread;
    bool thread_started;
    atomic_bool stop;
    /* The thread heard Redis again after losing it (srv_bus_resync_due). */
    atomic_bool retry_now;
    pthread_mutex_t lock; /* sub, queue */
    redisContext *sub;
    qmsg *head, *tail;
    size_t queued;
    uint64_t dropped;
};

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- the loop's connection ------------------------------------------------ */

static redisContext *conn(srv_bus *b)
{
    /* The thread lost Redis and has it again: this connection went the
     * same way, though it may not know yet; a new one now, rather than a
     * message lost to the dead one. */
    if (atomic_exchange(&b->retry_now, false)) {
        pl_redis_close(b->c);
        b->c = NULL;
        b->next_try_ms = 0;
        b->resync = true;
    }
    if (b->c)
        return b->c;
    int64_t now = mono_ms();
    if (now < b->next_try_ms)
        return NULL;
    b->next_try_ms = now + 1000;
    char err[256];
    b->c = pl_redis_connect(&b->url, TIMEOUT_MS, err, sizeof(err));
    if (!b->c) {
        if (!b->down_logged)
            pl_env_logf(&b->env, PL_LOG_ERROR, "cluster: Redis unreachable: %s", err);
        b->down_logged = true;
        return NULL;
    }
    if (b->down_logged) {
        pl_env_logf(&b->env, PL_LOG_INFO, "cluster: Redis reachable again");
        b->resync = true;
    }
    b->down_logged = false;
    b->next_beat_ms = 0; /* say at once that this node lives */
    return b->c;
}

/* PL_OK, or PL_EIO with the connection dropped when it failed. */
static int check(srv_bus *b, redisReply *r, const char *what)
{
    if (!r) {
        if (!b->down_logged)
            pl_env_logf(&b->env, PL_LOG_ERROR, "cluster: %s: %s", what,
                        b->c->errstr[0] ? b->c->errstr : "no reply");
        b->down_logged = true;
        pl_redis_close(b->c);
        b->c = NULL;
        b->next_try_ms = 0;
        return PL_EIO;
    }
    if (r->type == REDIS_REPLY_ERROR) {
        pl_env_logf(&b->env, PL_LOG_ERROR, "cluster: %s: %s", what, r->str);
        return PL_EIO;
    }
    return PL_OK;
}

/* One command's integer or status answer, nothing more. */
static int command(srv_bus *b, const char *what, int argc, const char **argv)
{
    redisContext *c = conn(b);
    if (!c)
        return PL_EIO;
    redisReply *r = redisCommandArgv(c, argc, argv, NULL);
    int rc = check(b, r, what);
    freeReplyObject(r);
    return rc;
}

static int bus_publish(void *arg, const char *channel, const char *text)
{
    const char *argv[] = {"PUBLISH", channel, text};
    return command(arg, "publish", 3, argv);
}

static const char del_lua[] = "local v = redis.call('HGET', KEYS[1], ARGV[1])\n"
                              "if v and string.sub(v, 1, 16) == ARGV[2] then\n"
                              "  redis.call('HDEL', KEYS[1], ARGV[1])\n"
                              "end\n"
                              "return 1\n";

static int bus_dir_set(void *arg, const char *user_id, const char *name, const char *status)
{
    srv_bus *b = arg;
    if (strcmp(status, "offline") == 0) {
        /* Only this node's entry: the user may be on another by now. */
        const char *argv[] = {"EVAL", del_lua, "1", DIR_KEY, user_id, b->node};
        return command(b, "directory", 6, argv);
    }
    char value[320];
    snprintf(value, sizeof(value), "%s\t%s\t%s", b->node, status, name);
    const char *argv[] = {"HSET", DIR_KEY, user_id, value};
    return command(b, "directory", 4, argv);
}

/* "<node>\t<status>\t<name>" into p: false when it is not that. */
static bool parse_entry(const char *user_id, const char *v, pl_sig_peer *p)
{
    memset(p, 0, sizeof(*p));
    const char *t1 = strchr(v, '\t');
    const char *t2 = t1 ? strchr(t1 + 1, '\t') : NULL;
    if (!t1 || !t2 || t1 - v != PL_BUS_NODE_MAX || (size_t)(t2 - t1 - 1) >= sizeof(p->status) ||
        strlen(user_id) >= sizeof(p->id))
        return false;
    memcpy(p->node, v, PL_BUS_NODE_MAX);
    memcpy(p->status, t1 + 1, (size_t)(t2 - t1 - 1));
    snprintf(p->name, sizeof(p->name), "%s", t2 + 1);
    snprintf(p->id, sizeof(p->id), "%s", user_id);
    return true;
}

/* Is the node that wrote an entry alive? -1: cannot tell. */
static int node_alive(srv_bus *b, const char *node)
{
    if (strcmp(node, b->node) == 0)
        return 1;
    redisContext *c = conn(b);
    if (!c)
        return -1;
    redisReply *r = redisCommand(c, "EXISTS " NODE_PREFIX "%s", node);
    int rc = check(b, r, "directory");
    int alive = rc != PL_OK ? -1 : r->type == REDIS_REPLY_INTEGER && r->integer == 1;
    freeReplyObject(r);
    return alive;
}

static void forget_entry(srv_bus *b, const pl_sig_peer *p)
{
    const char *argv[] = {"EVAL", del_lua, "1", DIR_KEY, p->id, p->node};
    command(b, "directory", 6, argv);
}

static int bus_dir_get(void *arg, const char *user_id, pl_sig_peer *out)
{
    srv_bus *b = arg;
    redisContext *c = conn(b);
    if (!c)
        return PL_EIO;
    redisReply *r = redisCommand(c, "HGET " DIR_KEY " %s", user_id);
    int rc = check(b, r, "directory");
    if (rc == PL_OK)
        rc = r->type == REDIS_REPLY_STRING && parse_entry(user_id, r->str, out) ? PL_OK
                                                                                : PL_ENOTFOUND;
    freeReplyObject(r);
    if (rc == PL_OK) {
        int alive = node_alive(b, out->node);
        if (alive == 0)
            forget_entry(b, out);
        rc = alive == 1 ? PL_OK : alive == 0 ? PL_ENOTFOUND : PL_EIO;
    }
    return rc;
}

#define MAX_NODES 64

static int bus_dir_each(void *arg, void (*fn)(void *arg, const pl_sig_peer *p), void *fn_arg)
{
    srv_bus *b = arg;
    redisContext *c = conn(b);
    if (!c)
        return PL_EIO;
    redisReply *r = redisCommand(c, "HGETALL " DIR_KEY);
    int rc = check(b, r, "directory");
    if (rc != PL_OK || r->type != REDIS_REPLY_ARRAY) {
        freeReplyObject(r);
        return rc != PL_OK ? rc : PL_EIO;
    }
    /* Each node's liveness asked once. */
    char nodes[MAX_NODES][PL_BUS_NODE_MAX + 1];
    int alive[MAX_NODES];
    size_t n_nodes = 0;
    int n = 0;
    for (size_t i = 0; i + 1 < r->elements; i += 2) {
        pl_sig_peer p;
        if (r->element[i]->type != REDIS_REPLY_STRING ||
            r->element[i + 1]->type != REDIS_REPLY_STRING ||
            !parse_entry(r->element[i]->str, r->element[i + 1]->str, &p))
            continue;
        size_t k = 0;
        while (k < n_nodes && strcmp(nodes[k], p.node) != 0)
            k++;
        if (k == n_nodes) {
            if (n_nodes == MAX_NODES)
                continue;
            snprintf(nodes[k], sizeof(nodes[k]), "%s", p.node);
            alive[k] = node_alive(b, p.node);
            n_nodes++;
        }
        if (alive[k] == 0)
            forget_entry(b, &p);
        if (alive[k] != 1)
            continue;
        fn(fn_arg, &p);
        n++;
    }
    freeReplyObject(r);
    return n;
}

bool srv_bus_resync_due(srv_bus *b)
{
    conn(b); /* takes a reconnection the thread saw */
    bool due = b->resync;
    b->resync = false;
    return due;
}

void srv_bus_tick(srv_bus *b)
{
    int64_t now = mono_ms();
    if (now < b->next_beat_ms)
        return;
    b->next_beat_ms = now + HEARTBEAT_MS;
    char key[64], ttl[16];
    snprintf(key, sizeof(key), NODE_PREFIX "%s", b->node);
    snprintf(ttl, sizeof(ttl), "%d", NODE_TTL_MS);
    const char *argv[] = {"SET", key, "1", "PX", ttl};
    command(b, "liveness", 5, argv);
}

pl_sig_cluster srv_bus_cluster(srv_bus *b)
{
    pl_sig_cluster cl = {.user = b,
                         .publish = bus_publish,
                         .dir_set = bus_dir_set,
                         .dir_get = bus_dir_get,
                         .dir_each = bus_dir_each};
    snprintf(cl.node, sizeof(cl.node), "%s", b->node);
    return cl;
}

/* ---- the subscribing thread ------------------------------------------------ */

static void enqueue(srv_bus *b, const char *text, size_t len)
{
    qmsg *m = malloc(sizeof(*m) + len + 1);
    pthread_mutex_lock(&b->lock);
    if (!m || b->queued >= QUEUE_MAX) {
        b->dropped++;
        pthread_mutex_unlock(&b->lock);
        free(m);
        return;
    }
    m->next = NULL;
    m->len = len;
    memcpy(m->text, text, len);
    m->text[len] = '\0';
    if (b->tail)
        b->tail->next = m;
    else
        b->head = m;
    b->tail = m;
    b->queued++;
    pthread_mutex_unlock(&b->lock);
}

/* A pub/sub push: ["message", channel, payload] or ["pmessage", pattern,
 * channel, payload]; subscription confirmations are not messages. */
static bool take(srv_bus *b, const redisReply *r)
{
    if (r->type != REDIS_REPLY_ARRAY || r->elements < 3 ||
        r->element[0]->type != REDIS_REPLY_STRING)
        return false;
    const redisReply *payload = NULL;
    if (strcmp(r->element[0]->str, "message") == 0 && r->elements == 3)
        payload = r->element[2];
    else if (strcmp(r->element[0]->str, "pmessage") == 0 && r->elements == 4)
        payload = r->element[3];
    if (!payload || payload->type != REDIS_REPLY_STRING)
        return false;
    enqueue(b, payload->str, payload->len);
    return true;
}

static redisContext *subscribe(srv_bus *b, char *err, size_t n)
{
    redisContext *c = pl_redis_connect(&b->url, TIMEOUT_MS, err, n);
    if (!c)
        return NULL;
    redisReply *r1 = redisCommand(c, "PSUBSCRIBE " PL_BUS_USER_PREFIX "*");
    redisReply *r2 = r1 ? redisCommand(c, "SUBSCRIBE " PL_BUS_PRESENCE_CHANNEL) : NULL;
    bool ok = r1 && r2 && r1->type == REDIS_REPLY_ARRAY && r2->type == REDIS_REPLY_ARRAY;
    if (!ok)
        snprintf(err, n, "cannot subscribe: %s", c->errstr[0] ? c->errstr : "refused");
    freeReplyObject(r1);
    freeReplyObject(r2);
    /* Then it waits for messages as long as it takes: no read timeout
     * (TCP keepalive finds a dead server; stopping shuts the socket). */
    struct timeval none = {0, 0};
    if (ok && redisSetTimeout(c, none) != REDIS_OK) {
        snprintf(err, n, "cannot clear the read timeout");
        ok = false;
    }
    if (!ok) {
        redisFree(c);
        return NULL;
    }
    return c;
}

static void pause_ms(srv_bus *b, int ms)
{
    for (int i = 0; i < ms / 50 && !atomic_load(&b->stop); i++) {
        struct timespec ts = {0, 50 * 1000000};
        nanosleep(&ts, NULL);
    }
}

static void *run(void *arg)
{
    srv_bus *b = arg;
    redisContext *c = NULL;
    bool lost = false;
    while (!atomic_load(&b->stop)) {
        if (!c) {
            char err[256];
            c = subscribe(b, err, sizeof(err));
            /* srv_bus_stop sets stop and shuts b->sub under the lock: it
             * sees this connection, or this sees stop. */
            pthread_mutex_lock(&b->lock);
            b->sub = c;
            bool stopping = atomic_load(&b->stop);
            pthread_mutex_unlock(&b->lock);
            if (stopping)
                break;
            if (!c) {
                if (!lost)
                    pl_env_logf(&b->env, PL_LOG_ERROR, "cluster: not hearing other nodes: %s", err);
                lost = true;
                pause_ms(b, 500);
                continue;
            }
            if (lost) {
                atomic_store(&b->retry_now, true);
                pl_env_logf(&b->env, PL_LOG_INFO, "cluster: hearing other nodes again");
            }
            lost = false;
        }
        redisReply *r = NULL;
        if (redisGetReply(c, (void **)&r) != REDIS_OK) {
            if (!atomic_load(&b->stop) && !lost)
                pl_env_logf(&b->env, PL_LOG_ERROR, "cluster: lost the bus: %s",
                            c->errstr[0] ? c->errstr : "closed");
            lost = true;
            pthread_mutex_lock(&b->lock);
            b->sub = NULL;
            pthread_mutex_unlock(&b->lock);
            redisFree(c);
            c = NULL;
            continue;
        }
        bool queued = take(b, r);
        freeReplyObject(r);
        if (queued)
            b->wake(b->wake_arg);
    }
    if (c) {
        pthread_mutex_lock(&b->lock);
        b->sub = NULL;
        pthread_mutex_unlock(&b->lock);
        redisFree(c);
    }
    return NULL;
}

srv_bus *srv_bus_start(const pl_env *env, const char *url, void (*wake)(void *arg), void *wake_arg,
                       char *err, size_t err_len)
{
    srv_bus *b = calloc(1, sizeof(*b));
    if (!b) {
        snprintf(err, err_len, "out of memory");
        return NULL;
    }
    b->env = *env;
    b->wake = wake;
    b->wake_arg = wake_arg;
    pthread_mutex_init(&b->lock, NULL);
    const char *why = NULL;
    uint8_t id[PL_BUS_NODE_MAX / 2];
    if (pl_redis_url_parse(url, &b->url, &why) != PL_OK) {
        snprintf(err, err_len, "--redis: %s", why);
        srv_bus_stop(b);
        return NULL;
    }
    if (pl_env_random(env, id, sizeof(id)) != PL_OK) {
        snprintf(err, err_len, "no randomness for the node id");
        srv_bus_stop(b);
        return NULL;
    }
    for (size_t i = 0; i < sizeof(id); i++)
        snprintf(b->node + 2 * i, 3, "%02x", id[i]);
    b->c = pl_redis_connect(&b->url, TIMEOUT_MS, err, err_len);
    if (!b->c) {
        srv_bus_stop(b);
        return NULL;
    }
    srv_bus_tick(b);
    if (pthread_create(&b->thread, NULL, run, b) != 0) {
        snprintf(err, err_len, "cannot start the bus thread");
        srv_bus_stop(b);
        return NULL;
    }
    b->thread_started = true;
    pl_env_logf(env, PL_LOG_INFO, "cluster: node %s on Redis %s:%d", b->node, b->url.host,
                b->url.port);
    return b;
}

void srv_bus_stop(srv_bus *b)
{
    if (!b)
        return;
    if (b->thread_started) {
        /* Wakes the thread out of its read; it frees the connection. */
        pthread_mutex_lock(&b->lock);
        atomic_store(&b->stop, true);
        if (b->sub)
            shutdown(b->sub->fd, SHUT_RDWR);
        pthread_mutex_unlock(&b->lock);
        pthread_join(b->thread, NULL);
    }
    if (b->c && b->node[0]) {
        char key[64];
        snprintf(key, sizeof(key), NODE_PREFIX "%s", b->node);
        const char *argv[] = {"DEL", key};
        command(b, "leaving", 2, argv);
    }
    pl_redis_close(b->c);
    for (qmsg *m = b->head, *next; m; m = next) {
        next = m->next;
        free(m);
    }
    pthread_mutex_destroy(&b->lock);
    free(b);
}

void srv_bus_drain(srv_bus *b, void (*fn)(void *arg, const char *text, size_t len), void *arg)
{
    pthread_mutex_lock(&b->lock);
    qmsg *list = b->head;
    b->head = b->tail = NULL;
    b->queued = 0;
    uint64_t dropped = b->dropped;
    b->dropped = 0;
    pthread_mutex_unlock(&b->lock);
    if (dropped)
        pl_env_logf(&b->env, PL_LOG_WARN,
                    "cluster: %llu messages from other nodes dropped (queue full)",
                    (unsigned long long)dropped);
    while (list) {
        qmsg *next = list->next;
        fn(arg, list->text, list->len);
        free(list);
        list = next;
    }
}
