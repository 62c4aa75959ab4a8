/* A node of a cluster coordinated through Redis (docs/cluster.md): its
 * registry record, its rooms' claims and where a new room goes. The
 * policy and formats are placement.c's; this file owns the connections.
 *
 * Two hiredis connections, never shared between threads:
 * - the cluster thread's: every 2 s it writes this node's record (expiring
 *   in 6 s, so a dead node is gone within 6 s), renews the claims of the
 *   rooms hosted here, releases those that ended, and reads every live
 *   node's record into a snapshot; it reconnects with backoff while Redis
 *   is away;
 * - the signaling loop's, for the one round trip that places a room not
 *   hosted here (the claim script). It connects and answers within 200 ms
 *   (a connection found broken is replaced once, for a Redis that
 *   restarted) or the join is refused (`unavailable`); after a failure it waits
 *   a second before trying again, so a Redis that is restarting costs the
 *   loop nothing. Rooms hosted here never touch Redis on the loop.
 * The loop tells the thread about rooms and load under a mutex; nothing
 * goes back to the loop but the snapshot, read under the same mutex. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include <hiredis/hiredis.h>

#include "bus.h"
#include "parley/placement.h"
#include "redisconn.h"
#include "server.h"

#define PREFIX "parley:"
#define REFRESH_MS 2000
#define RECORD_TTL_MS 6000
#define CLAIM_TTL_MS 10000
#define IO_TIMEOUT_MS 200
#define LOOP_RETRY_MS 1000
#define MAX_BACKOFF_MS 2000
#define ROOM_NAME_MAX 64

/* A node's registry record's key. */
static void node_key(char *out, size_t cap, const char *id)
{
    snprintf(out, cap, PREFIX "node:%s", id);
}

typedef char room_name[ROOM_NAME_MAX + 1];

/* A set of room names, small enough for linear search (a node's rooms). */
typedef struct room_set {
    room_name *v;
    size_t n, cap;
} room_set;

struct srv_cluster {
    pl_redis_url redis; /* parsed from --redis */
    pl_place_node self; /* id, url, media; the load is filled in per refresh */
    pthread_t thread;
    bool thread_started;
    pthread_mutex_t lock;
    pthread_cond_t wake;
    /* Under lock: what the loop says, what the thread read. */
    bool stop;
    bool draining;
    uint32_t rooms, participants, pps;
    room_set hosted, released;
    pl_place_node nodes[PL_PLACE_MAX_NODES];
    size_t n_nodes;
    bool connected; /* the thread's connection, for /stats */
    uint64_t refreshes, refresh_failures;
    /* The loop's own. */
    redisContext *loop_ctx;
    pl_place_node loop_nodes[PL_PLACE_MAX_NODES]; /* the snapshot, copied */
    int64_t loop_retry_ms;
    uint64_t last_rtp;
    int64_t last_rtp_ms;
    /* The thread's own. */
    int64_t cpu_prev_us, cpu_prev_wall_us;
};

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static bool set_has(const room_set *s, const char *name)
{
    for (size_t i = 0; i < s->n; i++)
        if (strcmp(s->v[i], name) == 0)
            return true;
    return false;
}

static void set_add(room_set *s, const char *name)
{
    if (set_has(s, name))
        return;
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 16;
        room_name *v = realloc(s->v, cap * sizeof(*v));
        if (!v)
            return; /* the claim lapses in CLAIM_TTL_MS; the room goes on */
        s->v = v;
        s->cap = cap;
    }
    snprintf(s->v[s->n++], sizeof(room_name), "%s", name);
}

static void set_remove(room_set *s, const char *name)
{
    for (size_t i = 0; i < s->n; i++)
        if (strcmp(s->v[i], name) == 0) {
            memmove(&s->v[i], &s->v[i + 1], (s->n - i - 1) * sizeof(*s->v));
            s->n--;
            return;
        }
}

static redisContext *connect_redis(const srv_cluster *c)
{
    char err[128];
    return pl_redis_connect(&c->redis, IO_TIMEOUT_MS, err, sizeof(err));
}

/* A reply that is not an error, freed by the caller; NULL when the
 * connection failed (ctx->err set) or Redis said no. */
static redisReply *command(redisContext *ctx, int argc, const char **argv)
{
    redisReply *r = redisCommandArgv(ctx, argc, argv, NULL);
    if (r && r->type == REDIS_REPLY_ERROR) {
        freeReplyObject(r);
        return NULL;
    }
    return r;
}

static bool simple(redisContext *ctx, int argc, const char **argv)
{
    redisReply *r = command(ctx, argc, argv);
    freeReplyObject(r);
    return r != NULL;
}

/* CPU of the whole process since the last refresh, in % of one core. */
static uint32_t cpu_pct(srv_cluster *c)
{
    struct rusage ru;
    struct timespec ts;
    getrusage(RUSAGE_SELF, &ru);
    clock_gettime(CLOCK_MONOTONIC, &ts);
    int64_t cpu = (int64_t)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000 +
                  ru.ru_utime.tv_usec + ru.ru_stime.tv_usec;
    int64_t wall = (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
    uint32_t pct = 0;
    if (c->cpu_prev_wall_us && wall > c->cpu_prev_wall_us)
        pct = (uint32_t)((cpu - c->cpu_prev_us) * 100 / (wall - c->cpu_prev_wall_us));
    c->cpu_prev_us = cpu;
    c->cpu_prev_wall_us = wall;
    return pct;
}

/* Writes this node's record and load counter, renews and releases its
 * claims. false: the connection is to go. */
static bool publish_self(srv_cluster *c, redisContext *ctx)
{
    pthread_mutex_lock(&c->lock);
    pl_place_node me = c->self;
    me.rooms = c->rooms;
    me.participants = c->participants;
    me.pps = c->pps;
    me.draining = c->draining;
    room_set hosted = {0}, released = c->released;
    c->released = (room_set){0};
    for (size_t i = 0; i < c->hosted.n; i++)
        set_add(&hosted, c->hosted.v[i]);
    /* A room that ended and started again since is claimed, not released. */
    for (size_t i = 0; i < released.n;)
        if (set_has(&c->hosted, released.v[i]))
            set_remove(&released, released.v[i]);
        else
            i++;
    pthread_mutex_unlock(&c->lock);
    me.cpu_pct = cpu_pct(c);

    bool ok = false;
    char rec[1024], key[128], load_key[128], ttl[16], claim_ttl[16], rooms[16];
    char **argv = NULL;
    if (pl_place_node_format(&me, rec, sizeof(rec)) < 0)
        goto out;
    node_key(key, sizeof(key), me.id);
    snprintf(load_key, sizeof(load_key), PREFIX "load:%s", me.id);
    snprintf(ttl, sizeof(ttl), "%d", RECORD_TTL_MS);
    snprintf(claim_ttl, sizeof(claim_ttl), "%d", CLAIM_TTL_MS);
    snprintf(rooms, sizeof(rooms), "%u", me.rooms);
    const char *set_rec[] = {"SET", key, rec, "PX", ttl};
    const char *set_load[] = {"SET", load_key, rooms, "PX", ttl};
    const char *add[] = {"SADD", PREFIX "nodes", me.id};
    if (!simple(ctx, 5, set_rec) || !simple(ctx, 5, set_load) || !simple(ctx, 3, add))
        goto out;
    if (hosted.n) {
        size_t argc = 3 + hosted.n + 2;
        argv = calloc(argc, sizeof(*argv));
        char(*keys)[80] = calloc(hosted.n, sizeof(*keys));
        if (!argv || !keys) {
            free(keys);
            goto out;
        }
        char nkeys[24];
        snprintf(nkeys, sizeof(nkeys), "%zu", hosted.n);
        argv[0] = "EVAL";
        argv[1] = (char *)pl_place_renew_script;
        argv[2] = nkeys;
        for (size_t i = 0; i < hosted.n; i++) {
            snprintf(keys[i], sizeof(keys[i]), PREFIX "room:%s", hosted.v[i]);
            argv[3 + i] = keys[i];
        }
        argv[3 + hosted.n] = me.id;
        argv[4 + hosted.n] = claim_ttl;
        bool renewed = simple(ctx, (int)argc, (const char **)argv);
        free(keys);
        if (!renewed)
            goto out;
    }
    for (size_t i = 0; i < released.n; i++) {
        char rk[80];
        snprintf(rk, sizeof(rk), PREFIX "room:%s", released.v[i]);
        const char *rel[] = {"EVAL", pl_place_release_script, "1", rk, me.id};
        if (!simple(ctx, 5, rel))
            goto out;
    }
    ok = true;
out:
    if (!ok && released.n) { /* try again next time */
        pthread_mutex_lock(&c->lock);
        for (size_t i = 0; i < released.n; i++)
            set_add(&c->released, released.v[i]);
        pthread_mutex_unlock(&c->lock);
    }
    free(argv);
    free(hosted.v);
    free(released.v);
    return ok;
}

/* Every live node's record into the snapshot; ids whose record expired
 * leave the set. false: the connection is to go. */
static bool read_nodes(srv_cluster *c, redisContext *ctx)
{
    const char *members[] = {"SMEMBERS", PREFIX "nodes"};
    redisReply *ids = command(ctx, 2, members);
    if (!ids || ids->type != REDIS_REPLY_ARRAY) {
        freeReplyObject(ids);
        return false;
    }
    size_t n = ids->elements;
    pl_place_node *nodes = calloc(PL_PLACE_MAX_NODES, sizeof(*nodes));
    const char **argv = calloc(n + 1, sizeof(*argv));
    char(*keys)[80] = calloc(n ? n : 1, sizeof(*keys));
    bool ok = false;
    size_t k = 0;
    if (!nodes || !argv || !keys)
        goto out;
    argv[0] = "MGET";
    for (size_t i = 0; i < n; i++) {
        node_key(keys[i], sizeof(keys[i]), ids->element[i]->str);
        argv[1 + i] = keys[i];
    }
    redisReply *recs = n ? command(ctx, (int)n + 1, argv) : NULL;
    if (n && (!recs || recs->type != REDIS_REPLY_ARRAY || recs->elements != n)) {
        freeReplyObject(recs);
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        redisReply *r = recs->element[i];
        if (r->type != REDIS_REPLY_STRING) {
            const char *rem[] = {"SREM", PREFIX "nodes", ids->element[i]->str};
            simple(ctx, 3, rem); /* gone: its record expired */
            continue;
        }
        if (k < PL_PLACE_MAX_NODES && pl_place_node_parse(r->str, r->len, &nodes[k]) == PL_OK)
            k++;
    }
    freeReplyObject(recs);
    ok = true;
out:
    if (ok) {
        pthread_mutex_lock(&c->lock);
        memcpy(c->nodes, nodes, k * sizeof(*nodes));
        c->n_nodes = k;
        pthread_mutex_unlock(&c->lock);
    }
    free(nodes);
    free(argv);
    free(keys);
    freeReplyObject(ids);
    return ok;
}

static void *cluster_thread(void *arg)
{
    srv_cluster *c = arg;
    redisContext *ctx = NULL;
    int backoff_ms = 100;
    pthread_mutex_lock(&c->lock);
    while (!c->stop) {
        pthread_mutex_unlock(&c->lock);
        int wait_ms = REFRESH_MS;
        if (!ctx)
            ctx = connect_redis(c);
        bool ok = ctx && publish_self(c, ctx) && read_nodes(c, ctx);
        if (!ok && ctx) {
            redisFree(ctx);
            ctx = NULL;
        }
        if (!ok) {
            wait_ms = backoff_ms;
            backoff_ms = backoff_ms * 2 > MAX_BACKOFF_MS ? MAX_BACKOFF_MS : backoff_ms * 2;
        } else {
            backoff_ms = 100;
        }
        pthread_mutex_lock(&c->lock);
        if (ok != c->connected) {
            /* said once per change, not per attempt */
            fprintf(stderr, "parley: cluster: %s redis://%s:%d\n", ok ? "connected to" : "lost",
                    c->redis.host, c->redis.port);
        }
        c->connected = ok;
        c->refreshes += ok;
        c->refresh_failures += !ok;
        if (c->stop)
            break;
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += wait_ms / 1000;
        until.tv_nsec += (long)(wait_ms % 1000) * 1000000;
        if (until.tv_nsec >= 1000000000) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000;
        }
        pthread_cond_timedwait(&c->wake, &c->lock, &until);
    }
    pthread_mutex_unlock(&c->lock);
    /* Leaving for good: the record goes now rather than in 6 s. */
    if (ctx) {
        char key[128];
        node_key(key, sizeof(key), c->self.id);
        const char *del[] = {"DEL", key};
        const char *rem[] = {"SREM", PREFIX "nodes", c->self.id};
        simple(ctx, 2, del);
        simple(ctx, 3, rem);
        redisFree(ctx);
    }
    return NULL;
}

/* The signaling loop's own connection, made when there is none (not more
 * often than LOOP_RETRY_MS); *fresh: just made. */
static bool loop_connected(srv_cluster *c, int64_t now, bool *fresh)
{
    *fresh = false;
    if (c->loop_ctx)
        return true;
    if (now < c->loop_retry_ms)
        return false;
    c->loop_ctx = connect_redis(c);
    if (!c->loop_ctx) {
        c->loop_retry_ms = now + LOOP_RETRY_MS;
        return false;
    }
    *fresh = true;
    return true;
}

/* A node's URL: from the snapshot, or from its record in Redis when the
 * snapshot is older than the node (a call placed on a node that started
 * since the last refresh). */
static int url_of(void *user, const char *node_id, char *url, size_t url_cap)
{
    srv_cluster *c = user;
    int rc = PL_ENOTFOUND;
    pthread_mutex_lock(&c->lock);
    for (size_t i = 0; i < c->n_nodes; i++)
        if (strcmp(c->nodes[i].id, node_id) == 0) {
            snprintf(url, url_cap, "%s", c->nodes[i].url);
            rc = PL_OK;
            break;
        }
    pthread_mutex_unlock(&c->lock);
    bool fresh;
    if (rc == PL_OK || !pl_place_valid_id(node_id) || !loop_connected(c, mono_ms(), &fresh))
        return rc;
    char key[96];
    node_key(key, sizeof(key), node_id);
    const char *get[] = {"GET", key};
    redisReply *r = redisCommandArgv(c->loop_ctx, 2, get, NULL);
    if (!r) {
        redisFree(c->loop_ctx);
        c->loop_ctx = NULL;
        return rc;
    }
    pl_place_node n;
    if (r->type == REDIS_REPLY_STRING && pl_place_node_parse(r->str, r->len, &n) == PL_OK &&
        strcmp(n.id, node_id) == 0) {
        snprintf(url, url_cap, "%s", n.url);
        rc = PL_OK;
    }
    freeReplyObject(r);
    return rc;
}

/* The loop's placement of a room not hosted here: one EVAL. */
static int place(void *user, const char *room, char *url, size_t url_cap)
{
    srv_cluster *c = user;
    int64_t now = mono_ms();
    bool fresh;
    if (!loop_connected(c, now, &fresh))
        return PL_ESTATE;
    /* The ranking of the snapshot, for ties: the script reads which nodes
     * are alive from Redis itself, so a node newer than the snapshot is
     * offered rooms too. */
    const char *argv[8 + PL_PLACE_MAX_NODES];
    char key[96], ttl[16];
    size_t order[PL_PLACE_MAX_NODES];
    pl_place_node *nodes = c->loop_nodes;
    pthread_mutex_lock(&c->lock);
    size_t n = c->n_nodes;
    memcpy(nodes, c->nodes, n * sizeof(*nodes));
    bool draining = c->draining;
    pthread_mutex_unlock(&c->lock);
    for (size_t i = 0; i < n; i++)
        if (strcmp(nodes[i].id, c->self.id) == 0)
            nodes[i].draining = nodes[i].draining || draining;
    size_t k = pl_place_rank(nodes, n, order);
    snprintf(key, sizeof(key), PREFIX "room:%s", room);
    snprintf(ttl, sizeof(ttl), "%d", CLAIM_TTL_MS);
    int argc = 0;
    argv[argc++] = "EVAL";
    argv[argc++] = pl_place_claim_script;
    argv[argc++] = "1";
    argv[argc++] = key;
    argv[argc++] = PREFIX;
    argv[argc++] = ttl;
    argv[argc++] = draining ? c->self.id : "";
    for (size_t i = 0; i < k; i++)
        argv[argc++] = nodes[order[i]].id;
    redisReply *r = redisCommandArgv(c->loop_ctx, argc, argv, NULL);
    if (!r && !fresh) {
        /* A connection from before Redis restarted: once more on a new one. */
        redisFree(c->loop_ctx);
        c->loop_ctx = connect_redis(c);
        r = c->loop_ctx ? redisCommandArgv(c->loop_ctx, argc, argv, NULL) : NULL;
    }
    int rc = PL_ESTATE;
    if (!r) {
        redisFree(c->loop_ctx);
        c->loop_ctx = NULL;
        c->loop_retry_ms = now + LOOP_RETRY_MS;
    } else if (r->type == REDIS_REPLY_ARRAY && r->elements == 2 &&
               r->element[0]->type == REDIS_REPLY_STRING &&
               r->element[1]->type == REDIS_REPLY_STRING) {
        rc = pl_place_decide(c->self.id, r->element[0]->str, r->element[1]->str, url, url_cap);
    }
    freeReplyObject(r);
    return rc < 0 ? PL_ESTATE : rc == PL_PLACE_LOCAL ? PL_SIG_PLACE_LOCAL : PL_SIG_PLACE_REDIRECT;
}

int srv_cluster_start(server *srv)
{
    const options *o = &srv->opt;
    if (!o->redis_url)
        return 0;
    srv_cluster *c = calloc(1, sizeof(*c));
    if (!c)
        return 1;
    const char *why = NULL;
    if (pl_redis_url_parse(o->redis_url, &c->redis, &why) != PL_OK) {
        free(c); /* checked with the options */
        return 1;
    }
    /* One id per node: the bus's (presence and calls) when it runs. */
    if (srv->bus) {
        pl_sig_cluster bc = srv_bus_cluster(srv->bus);
        snprintf(c->self.id, sizeof(c->self.id), "%s", bc.node);
    } else {
        uint8_t rnd[8];
        pl_env_random(&srv->env, rnd, sizeof(rnd));
        for (size_t i = 0; i < sizeof(rnd); i++)
            snprintf(c->self.id + 2 * i, 3, "%02x", rnd[i]);
    }
    bool tls = o->tls_cert || o->tls_self_signed;
    if (o->public_url)
        snprintf(c->self.url, sizeof(c->self.url), "%s", o->public_url);
    else
        pl_place_public_url(srv->announce, o->http_port, tls, c->self.url, sizeof(c->self.url));
    snprintf(c->self.media, sizeof(c->self.media), "%s", srv->announce);
    pthread_mutex_init(&c->lock, NULL);
    pthread_cond_init(&c->wake, NULL);
    srv->cluster = c;
    if (pthread_create(&c->thread, NULL, cluster_thread, c) != 0) {
        pl_log_printf(srv->log, PL_LOG_ERROR, "cannot start the cluster thread");
        return 1;
    }
    c->thread_started = true;
    pl_sig_placement p = {.user = c, .place = place, .url_of = url_of};
    pl_sig_set_placement(srv->sig, &p);
    printf("cluster: node %s at %s, redis://%s:%d\n", c->self.id, c->self.url, c->redis.host,
           c->redis.port);
    return 0;
}

void srv_cluster_stop(server *srv)
{
    srv_cluster *c = srv->cluster;
    if (!c)
        return;
    if (srv->sig)
        pl_sig_set_placement(srv->sig, NULL);
    if (c->thread_started) {
        pthread_mutex_lock(&c->lock);
        c->stop = true;
        pthread_cond_signal(&c->wake);
        pthread_mutex_unlock(&c->lock);
        pthread_join(c->thread, NULL);
    }
    redisFree(c->loop_ctx);
    free(c->hosted.v);
    free(c->released.v);
    pthread_mutex_destroy(&c->lock);
    pthread_cond_destroy(&c->wake);
    free(c);
    srv->cluster = NULL;
}

void srv_cluster_tick(server *srv)
{
    srv_cluster *c = srv->cluster;
    if (!c)
        return;
    pl_sig_stats ss;
    pl_sig_stats_get(srv->sig, &ss);
    pl_worker_stats t;
    srv_worker_totals(srv, &t);
    int64_t now = mono_ms();
    uint32_t pps = 0;
    if (c->last_rtp_ms && now > c->last_rtp_ms)
        pps = (uint32_t)((t.rtp_in + t.rtp_forwarded - c->last_rtp) * 1000 /
                         (uint64_t)(now - c->last_rtp_ms));
    c->last_rtp = t.rtp_in + t.rtp_forwarded;
    c->last_rtp_ms = now;
    pthread_mutex_lock(&c->lock);
    bool was = c->draining;
    c->rooms = (uint32_t)ss.rooms;
    c->participants = (uint32_t)ss.participants;
    c->pps = pps;
    c->draining = srv->draining;
    if (c->draining && !was)
        pthread_cond_signal(&c->wake); /* other nodes stop sending rooms here now */
    pthread_mutex_unlock(&c->lock);
}

void srv_cluster_event(server *srv, const pl_sig_event *ev)
{
    srv_cluster *c = srv->cluster;
    if (!c || !ev->room)
        return;
    if (ev->type != PL_SIG_EV_ROOM_STARTED && ev->type != PL_SIG_EV_ROOM_FINISHED)
        return;
    pthread_mutex_lock(&c->lock);
    if (ev->type == PL_SIG_EV_ROOM_STARTED) {
        set_add(&c->hosted, ev->room);
    } else {
        set_remove(&c->hosted, ev->room);
        set_add(&c->released, ev->room);
        pthread_cond_signal(&c->wake); /* free for another node now */
    }
    pthread_mutex_unlock(&c->lock);
}

void srv_cluster_stats(server *srv, srv_cluster_stats_t *out)
{
    srv_cluster *c = srv->cluster;
    memset(out, 0, sizeof(*out));
    if (!c)
        return;
    pthread_mutex_lock(&c->lock);
    out->enabled = true;
    snprintf(out->node_id, sizeof(out->node_id), "%s", c->self.id);
    snprintf(out->url, sizeof(out->url), "%s", c->self.url);
    out->connected = c->connected;
    out->nodes = c->n_nodes;
    out->refreshes = c->refreshes;
    out->refresh_failures = c->refresh_failures;
    pthread_mutex_unlock(&c->lock);
}
