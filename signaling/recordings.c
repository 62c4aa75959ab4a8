/* Stored recordings in the server (docs/recording.md): opened and
 * recovered at start, swept for expiry and the server's bound, listed and
 * deleted through the admin API, played over the public port.
 *
 * Where the disk work runs: recfiles calls block (reads, fsync), so the
 * sweep, which may read every manifest and delete many recordings, runs on
 * a thread of its own with its own pl_recfiles, woken every hour and
 * whenever something may have changed what is on disk (srv_recordings_poke).
 * The signaling loop keeps only what a request needs at once: an admin
 * listing reads the manifests (small files, a few per recording), a
 * deletion renames and removes one recording, a playback opens one file and
 * then reads it a chunk per writable socket, so no request holds the loop
 * for more than a few file operations. Start-up recovery and the first
 * sweep run before anything listens, so that nothing expired is served. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "parley/httprange.h"
#include "parley/recfiles.h"
#include "parley/recplay.h"
#include "parley/recquota.h"
#include "server.h"

#define SWEEP_INTERVAL_S 3600
/* A playback's read: large enough to keep a socket busy, small enough that
 * a read never holds the loop long. */
#define CHUNK (64u << 10)

struct srv_recordings {
    server *srv;
    pl_recfiles *rf; /* the loop's */
    pl_rec_limits limits;
    pthread_t thread;
    bool thread_started;
    pthread_mutex_t lock;
    pthread_cond_t wake;
    bool poked, stopping;
    srv_rec_stats stats; /* under lock */
};

/* One playback under way (per HTTP connection). */
struct srv_rec_play {
    int fd;
    uint64_t pos, left;
    unsigned char buf[LWS_PRE + CHUNK];
};

static int64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* What the sweep sees of one recording. */
typedef struct swept {
    char id[PL_REC_ID_LEN + 1];
    char owner[PL_REC_NAME_MAX + 1];
    pl_rec_usage usage;
} swept;

typedef struct sweep_list {
    const pl_env *env;
    swept *v;
    size_t n, cap;
    int rc;
} sweep_list;

static void collect(void *arg, const pl_rec_manifest *m)
{
    sweep_list *l = arg;
    if (l->rc)
        return;
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 64;
        swept *v = pl_env_alloc(l->env, cap * sizeof(*v));
        if (!v) {
            l->rc = PL_ENOMEM;
            return;
        }
        if (l->n)
            memcpy(v, l->v, l->n * sizeof(*v));
        pl_env_free(l->env, l->v);
        l->v = v;
        l->cap = cap;
    }
    swept *s = &l->v[l->n++];
    memcpy(s->id, m->id, sizeof(s->id));
    memcpy(s->owner, m->owner, sizeof(s->owner));
    /* A recording being written has ended_ms 0: never expired, never
     * evicted (its recorder is stopped instead). */
    s->usage = (pl_rec_usage){.bytes = pl_rec_manifest_bytes(m),
                              .ended_ms = m->state == PL_REC_RECORDING ? 0 : m->ended_ms,
                              .kind = m->kind};
}

/* One sweep with recfiles `rf`: deletes what the policy says and counts
 * what is left. Blocking: the sweeper thread's, or start-up's. */
static int sweep(srv_recordings *r, pl_recfiles *rf)
{
    const pl_env *env = &r->srv->env;
    sweep_list l = {.env = env};
    int n = pl_recfiles_each(rf, NULL, collect, &l);
    if (n < 0 || l.rc) {
        pl_env_free(env, l.v);
        pl_env_logf(env, PL_LOG_ERROR, "recordings: cannot list them: %s",
                    pl_strerror(n < 0 ? n : l.rc));
        return n < 0 ? n : l.rc;
    }
    pl_rec_usage *use = l.n ? pl_env_alloc(env, l.n * sizeof(*use)) : NULL;
    size_t *del = l.n ? pl_env_alloc(env, l.n * sizeof(*del)) : NULL;
    if (l.n && (!use || !del)) {
        pl_env_free(env, use);
        pl_env_free(env, del);
        pl_env_free(env, l.v);
        return PL_ENOMEM;
    }
    for (size_t i = 0; i < l.n; i++) {
        use[i] = l.v[i].usage;
        use[i].owner = l.v[i].owner;
    }
    int64_t now = wall_ms();
    int k = l.n ? pl_recquota_sweep(&r->limits, use, l.n, now, del, l.n) : 0;
    uint64_t expired = 0, evicted = 0, count = l.n, bytes = 0;
    bool *gone = l.n ? pl_env_alloc(env, l.n * sizeof(*gone)) : NULL;
    if (l.n && !gone)
        k = 0; /* nothing deleted this time; counted as it is */
    else if (gone)
        memset(gone, 0, l.n * sizeof(*gone));
    for (int j = 0; j < k; j++) {
        size_t i = del[j];
        bool exp = pl_recquota_expired(&r->limits, &use[i], now);
        int rc = pl_recfiles_delete(rf, l.v[i].id);
        if (rc != PL_OK && rc != PL_ENOTFOUND) {
            pl_env_logf(env, PL_LOG_ERROR, "recordings: cannot delete %s: %s", l.v[i].id,
                        pl_strerror(rc));
            continue;
        }
        gone[i] = true;
        if (rc == PL_ENOTFOUND)
            continue; /* deleted meanwhile, through the admin API */
        *(exp ? &expired : &evicted) += 1;
        pl_env_logf(env, PL_LOG_INFO, "recordings: deleted %s (%s, %lld bytes)", l.v[i].id,
                    exp ? "expired" : "over --max-recording-mb", (long long)use[i].bytes);
    }
    for (size_t i = 0; i < l.n; i++) {
        if (gone && gone[i])
            count--;
        else
            bytes += (uint64_t)use[i].bytes;
    }
    pthread_mutex_lock(&r->lock);
    r->stats.deleted_expired += expired;
    r->stats.deleted_server_full += evicted;
    r->stats.count = count;
    r->stats.bytes = bytes;
    r->stats.sweeps++;
    pthread_mutex_unlock(&r->lock);
    pl_env_free(env, gone);
    pl_env_free(env, use);
    pl_env_free(env, del);
    pl_env_free(env, l.v);
    return PL_OK;
}

static void *sweeper(void *arg)
{
    srv_recordings *r = arg;
    pl_recfiles *rf = NULL;
    if (pl_recfiles_open(&r->srv->env, r->srv->opt.data_dir, &rf) != PL_OK)
        return NULL; /* logged; start-up opened it, so this is a passing fault */
    pthread_mutex_lock(&r->lock);
    while (!r->stopping) {
        if (!r->poked) {
            struct timespec until;
            clock_gettime(CLOCK_REALTIME, &until);
            until.tv_sec += SWEEP_INTERVAL_S;
            while (!r->poked && !r->stopping)
                if (pthread_cond_timedwait(&r->wake, &r->lock, &until) == ETIMEDOUT)
                    break;
            if (r->stopping)
                break;
        }
        r->poked = false;
        pthread_mutex_unlock(&r->lock);
        sweep(r, rf);
        pthread_mutex_lock(&r->lock);
    }
    pthread_mutex_unlock(&r->lock);
    pl_recfiles_close(rf);
    return NULL;
}

int srv_recordings_start(server *srv)
{
    const pl_env *env = &srv->env;
    srv_recordings *r = pl_env_alloc(env, sizeof(*r));
    if (!r)
        return 1;
    memset(r, 0, sizeof(*r));
    r->srv = srv;
    pthread_mutex_init(&r->lock, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_cond_init(&r->wake, &ca);
    pthread_condattr_destroy(&ca);
    srv->recordings = r;
    const options *o = &srv->opt;
    if (pl_recquota_limits(&r->limits, o->max_user_recording_mb, o->max_recording_mb,
                           o->recording_days) != PL_OK ||
        pl_recfiles_open(env, o->data_dir, &r->rf) != PL_OK) {
        pl_log_printf(srv->log, PL_LOG_ERROR, "cannot keep recordings under %s/recordings",
                      o->data_dir);
        return 1;
    }
    int n = pl_recfiles_recover(r->rf);
    if (n < 0) {
        pl_log_printf(srv->log, PL_LOG_ERROR, "recordings: start-up recovery failed: %s",
                      pl_strerror(n));
        return 1;
    }
    if (n > 0)
        pl_log_printf(srv->log, PL_LOG_WARN,
                      "recordings: %d left being written by the last run marked interrupted", n);
    sweep(r, r->rf);
    pl_log_printf(srv->log, PL_LOG_INFO, "recordings: %llu kept (%llu bytes) in %s",
                  (unsigned long long)r->stats.count, (unsigned long long)r->stats.bytes,
                  pl_recfiles_root(r->rf));
    if (pthread_create(&r->thread, NULL, sweeper, r) != 0) {
        pl_log_printf(srv->log, PL_LOG_ERROR, "recordings: cannot start the sweeper thread");
        return 1;
    }
    r->thread_started = true;
    return 0;
}

void srv_recordings_stop(server *srv)
{
    srv_recordings *r = srv->recordings;
    if (!r)
        return;
    if (r->thread_started) {
        pthread_mutex_lock(&r->lock);
        r->stopping = true;
        pthread_cond_signal(&r->wake);
        pthread_mutex_unlock(&r->lock);
        pthread_join(r->thread, NULL);
    }
    pl_recfiles_close(r->rf);
    pthread_cond_destroy(&r->wake);
    pthread_mutex_destroy(&r->lock);
    pl_env_free(&srv->env, r);
    srv->recordings = NULL;
}

void srv_recordings_poke(server *srv)
{
    srv_recordings *r = srv->recordings;
    if (!r)
        return;
    pthread_mutex_lock(&r->lock);
    r->poked = true;
    pthread_cond_signal(&r->wake);
    pthread_mutex_unlock(&r->lock);
}

void srv_recordings_stats(server *srv, srv_rec_stats *out)
{
    srv_recordings *r = srv->recordings;
    memset(out, 0, sizeof(*out));
    if (!r)
        return;
    pthread_mutex_lock(&r->lock);
    *out = r->stats;
    pthread_mutex_unlock(&r->lock);
}

static void tally(srv_recordings *r, uint64_t *field)
{
    pthread_mutex_lock(&r->lock);
    (*field)++;
    pthread_mutex_unlock(&r->lock);
}

/* ---- the admin API ---- */

typedef struct listing {
    server *srv;
    json_t *list;
    int rc;
} listing;

static json_t *file_json(const srv_recordings *r, const pl_rec_manifest *m, const pl_rec_file *f)
{
    char rel[256], abs[4096], url[256];
    snprintf(rel, sizeof(rel), "recordings/%s/%s", m->id, f->name);
    snprintf(url, sizeof(url), "/recordings/%s/%s", m->id, f->name);
    if (pl_recfiles_path(r->rf, m->id, f->name, abs, sizeof(abs)) != PL_OK)
        return NULL;
    return json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:I,s:s}", "name", f->name, "kind",
                     f->kind == PL_REC_FILE_MIX ? "mix" : "tracks", "path", rel, "absolute_path",
                     abs, "participant", f->participant, "display_name", f->display_name, "bytes",
                     (json_int_t)f->bytes, "url", url);
}

/* Sets key to v in o (v taken, also on failure); false on failure. */
static bool put(json_t *o, const char *key, json_t *v)
{
    return v && json_object_set_new(o, key, v) == 0;
}

static json_t *recording_json(const srv_recordings *r, const pl_rec_manifest *m)
{
    json_t *rec = json_object(), *files = json_array(), *speech = json_array(),
           *users = json_array(), *access = json_object();
    bool ok = rec && files && speech && users && access;
    for (size_t i = 0; ok && i < m->n_files; i++)
        ok = json_array_append_new(files, file_json(r, m, &m->files[i])) == 0;
    for (size_t i = 0; ok && i < m->n_speech; i++)
        ok = json_array_append_new(speech, json_pack("{s:s,s:I,s:I}", "participant",
                                                     m->speech[i].participant, "start_ms",
                                                     (json_int_t)m->speech[i].start_ms, "end_ms",
                                                     (json_int_t)m->speech[i].end_ms)) == 0;
    for (size_t i = 0; ok && i < m->n_users; i++)
        ok = json_array_append_new(users, json_string(m->users[i].id)) == 0;
    ok = ok && put(access, "users", json_incref(users)) &&
         put(access, "room", json_boolean(m->room_access));
    ok = ok && put(rec, "id", json_string(m->id)) &&
         put(rec, "kind", json_string(pl_rec_kind_name(m->kind))) &&
         put(rec, "state", json_string(pl_rec_state_name(m->state))) &&
         put(rec, "room", json_string(m->room)) && put(rec, "owner", json_string(m->owner)) &&
         put(rec, "started_ms", json_integer(m->started_ms)) &&
         put(rec, "ended_ms",
             m->state == PL_REC_RECORDING ? json_null() : json_integer(m->ended_ms)) &&
         put(rec, "bytes", json_integer(pl_rec_manifest_bytes(m))) &&
         put(rec, "access", json_incref(access)) && put(rec, "files", json_incref(files)) &&
         put(rec, "speech", json_incref(speech));
    if (ok && m->kind == PL_REC_MESSAGE)
        ok = put(rec, "caller", json_string(m->caller)) &&
             put(rec, "callee", json_string(m->callee)) &&
             put(rec, "call_id", json_string(m->call_id));
    json_decref(files);
    json_decref(speech);
    json_decref(users);
    json_decref(access);
    if (!ok) {
        json_decref(rec);
        return NULL;
    }
    return rec;
}

static void list_one(void *arg, const pl_rec_manifest *m)
{
    listing *l = arg;
    if (!l->rc && json_array_append_new(l->list, recording_json(l->srv->recordings, m)) != 0)
        l->rc = PL_ENOMEM;
}

int srv_recordings_admin_list(struct lws *wsi, server *srv, const char *room)
{
    srv_recordings *r = srv->recordings;
    listing l = {.srv = srv, .list = json_array()};
    pl_rec_filter filter = {.room = room};
    int n = l.list ? pl_recfiles_each(r->rf, &filter, list_one, &l) : PL_ENOMEM;
    json_t *doc = n >= 0 && !l.rc ? json_pack("{s:s,s:o}", "room", room, "recordings", l.list)
                                  : (json_decref(l.list), NULL);
    char *text = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
    json_decref(doc);
    if (!text) {
        static const char err[] =
            "{\"error\":{\"code\":\"internal\",\"message\":\"cannot list the recordings\"}}";
        return srv_http_respond(wsi, HTTP_STATUS_INTERNAL_SERVER_ERROR, "application/json", err,
                                sizeof(err) - 1);
    }
    int rc = srv_http_respond(wsi, HTTP_STATUS_OK, "application/json", text, strlen(text));
    free(text);
    return rc;
}

int srv_recordings_admin_delete(server *srv, const char *id)
{
    srv_recordings *r = srv->recordings;
    if (!pl_rec_id_valid(id))
        return PL_ENOTFOUND;
    int rc = pl_recfiles_delete(r->rf, id);
    if (rc == PL_OK) {
        tally(r, &r->stats.deleted_admin);
        pl_log_printf(srv->log, PL_LOG_INFO, "recordings: %s deleted through the admin API", id);
        srv_recordings_poke(srv); /* the gauges */
    }
    return rc;
}

/* ---- playback ---- */

/* The request's token: Authorization: Bearer, else ?token= (a media
 * element cannot set headers). */
static bool request_token(struct lws *wsi, char *out, size_t cap)
{
    static const char scheme[] = "Bearer ";
    char auth[PL_AUTH_MAX_TOKEN + 16];
    int n = lws_hdr_copy(wsi, auth, sizeof(auth), WSI_TOKEN_HTTP_AUTHORIZATION);
    if (n > (int)sizeof(scheme) - 1 && strncasecmp(auth, scheme, sizeof(scheme) - 1) == 0) {
        snprintf(out, cap, "%s", auth + sizeof(scheme) - 1);
        return true;
    }
    char arg[PL_AUTH_MAX_TOKEN + 16];
    const char *v = lws_get_urlarg_by_name(wsi, "token=", arg, (int)sizeof(arg));
    if (v && *v) {
        snprintf(out, cap, "%s", v);
        return true;
    }
    return false;
}

static int refuse(struct lws *wsi, srv_recordings *r, unsigned status)
{
    static const char *const texts[] = {"not found\n", "token required\n", "forbidden\n"};
    const char *text = texts[0];
    uint64_t *field = &r->stats.refused_not_found;
    if (status == HTTP_STATUS_UNAUTHORIZED) {
        text = texts[1];
        field = &r->stats.refused_unauthorized;
    } else if (status == HTTP_STATUS_FORBIDDEN) {
        text = texts[2];
        field = &r->stats.refused_forbidden;
    }
    tally(r, field);
    return srv_http_respond(wsi, status, "text/plain", text, strlen(text));
}

/* The headers of a playback answer; 0 or -1. */
static int play_headers(struct lws *wsi, unsigned status, const char *type, uint64_t len,
                        const pl_http_range *range, uint64_t size)
{
    unsigned char hdr[LWS_PRE + 1024], *p = hdr + LWS_PRE, *end = hdr + sizeof(hdr);
    if (lws_add_http_common_headers(wsi, status, type, (lws_filepos_t)len, &p, end) ||
        lws_add_http_header_by_name(wsi, (const unsigned char *)"accept-ranges:",
                                    (const unsigned char *)"bytes", 5, &p, end) ||
        lws_add_http_header_by_name(wsi, (const unsigned char *)"cache-control:",
                                    (const unsigned char *)"private, no-cache", 17, &p, end))
        return -1;
    char cr[80];
    if (range->status != 200 &&
        (pl_http_range_content_range(range, size, cr, sizeof(cr)) != PL_OK ||
         lws_add_http_header_by_name(wsi, (const unsigned char *)"content-range:",
                                     (const unsigned char *)cr, (int)strlen(cr), &p, end)))
        return -1;
    return lws_finalize_write_http_header(wsi, hdr + LWS_PRE, &p, end) ? -1 : 0;
}

int srv_recordings_serve(struct lws *wsi, server *srv, srv_rec_play **play)
{
    srv_recordings *r = srv->recordings;
    srv_recordings_play_end(srv, play);
    char *uri = NULL;
    int uri_len = 0;
    int method = lws_http_get_uri_and_method(wsi, &uri, &uri_len);
    if ((method != LWSHUMETH_GET && method != LWSHUMETH_HEAD) || !uri || uri_len <= 0)
        return refuse(wsi, r, HTTP_STATUS_NOT_FOUND);
    char path[512];
    if ((size_t)uri_len >= sizeof(path))
        return refuse(wsi, r, HTTP_STATUS_NOT_FOUND);
    memcpy(path, uri, (size_t)uri_len);
    path[uri_len] = '\0';

    pl_rec_manifest m;
    int fd = -1;
    if (pl_recfiles_open_url(r->rf, path, &m, &fd, NULL, 0) != PL_OK) {
        pl_rec_manifest_clear(&srv->env, &m);
        return refuse(wsi, r, HTTP_STATUS_NOT_FOUND);
    }
    pl_auth_claims claims;
    const pl_auth_claims *verified = NULL;
    char token[PL_AUTH_MAX_TOKEN + 16];
    if (srv->auth && request_token(wsi, token, sizeof(token))) {
        const char *why = NULL;
        if (pl_auth_verify(srv->auth, token, (int64_t)time(NULL), &claims, &why) == PL_OK)
            verified = &claims;
    }
    int status = pl_rec_play_status(&m, srv->auth != NULL, verified);
    /* The file's name is the last segment of a path open_url accepted. */
    const char *name = strrchr(path, '/') + 1;
    const pl_rec_file *f = pl_rec_manifest_file(&m, name);
    const char *type = f ? pl_rec_play_content_type(f) : "application/octet-stream";
    pl_rec_manifest_clear(&srv->env, &m);
    struct stat st;
    if (status != 200 || fstat(fd, &st) != 0) {
        close(fd);
        return refuse(wsi, r, status != 200 ? (unsigned)status : HTTP_STATUS_NOT_FOUND);
    }
    char range_value[128];
    const char *rv = NULL;
    if (lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_RANGE) > 0 &&
        lws_hdr_copy(wsi, range_value, sizeof(range_value), WSI_TOKEN_HTTP_RANGE) > 0)
        rv = range_value;
    uint64_t size = (uint64_t)st.st_size;
    pl_http_range range;
    pl_http_range_parse(rv, size, &range);
    uint64_t len = range.status == 200 ? size : range.length;
    uint64_t start = range.status == 206 ? range.start : 0;
    if (range.status == 416) {
        close(fd);
        tally(r, &r->stats.refused_range);
        if (play_headers(wsi, HTTP_STATUS_REQ_RANGE_NOT_SATISFIABLE, "text/plain", 0, &range, size))
            return -1;
        return lws_http_transaction_completed(wsi) ? -1 : 0;
    }
    if (play_headers(wsi, (unsigned)range.status, type, len, &range, size)) {
        close(fd);
        return -1;
    }
    tally(r, range.status == 206 ? &r->stats.played_partial : &r->stats.played);
    if (method == LWSHUMETH_HEAD || len == 0) {
        close(fd);
        return lws_http_transaction_completed(wsi) ? -1 : 0;
    }
    srv_rec_play *p = pl_env_alloc(&srv->env, sizeof(*p));
    if (!p) {
        close(fd);
        return -1;
    }
    p->fd = fd;
    p->pos = start;
    p->left = len;
    *play = p;
    lws_callback_on_writable(wsi);
    return 0;
}

int srv_recordings_write(struct lws *wsi, server *srv, srv_rec_play **play)
{
    srv_rec_play *p = *play;
    if (!p)
        return 0;
    size_t want = p->left < CHUNK ? (size_t)p->left : CHUNK;
    ssize_t n = pread(p->fd, p->buf + LWS_PRE, want, (off_t)p->pos);
    if (n <= 0) {
        /* Truncated or unreadable under us: the length promised cannot be
         * kept, so the connection goes. */
        srv_recordings_play_end(srv, play);
        return -1;
    }
    p->pos += (uint64_t)n;
    p->left -= (uint64_t)n;
    bool last = p->left == 0;
    if (lws_write(wsi, p->buf + LWS_PRE, (size_t)n, last ? LWS_WRITE_HTTP_FINAL : LWS_WRITE_HTTP) !=
        (int)n) {
        srv_recordings_play_end(srv, play);
        return -1;
    }
    if (!last) {
        lws_callback_on_writable(wsi);
        return 0;
    }
    srv_recordings_play_end(srv, play);
    return lws_http_transaction_completed(wsi) ? -1 : 0;
}

void srv_recordings_play_end(server *srv, srv_rec_play **play)
{
    if (!*play)
        return;
    close((*play)->fd);
    pl_env_free(&srv->env, *play);
    *play = NULL;
}

pl_recfiles *srv_recordings_files(server *srv)
{
    return srv->recordings->rf;
}

const pl_rec_limits *srv_recordings_limits(server *srv)
{
    return &srv->recordings->limits;
}
