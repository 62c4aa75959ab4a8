/* Rooms being recorded, as the server runs them: the core's record_*
 * media calls turned into a recording on disk (recfiles.h: directory and
 * manifest), a pl_rectap (its thread, its recorder) and the workers'
 * taps on the participants' publish transports.
 *
 * Threads: the list of live recordings is the loop's. Each recording's
 * hooks run on its rectap thread, which alone touches its manifest and its
 * own pl_recfiles after the start; what the loop must hear (an error, the
 * end) is flagged under the recording's lock and the loop is woken
 * (srv_reclive_drain). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "parley/recfiles.h"
#include "parley/recquota.h"
#include "parley/rectap.h"
#include "server.h"

#define MAX_MEMBERS 256

typedef struct member {
    char id[PL_REC_NAME_MAX + 1];
    uint64_t transport;
} member;

typedef struct live {
    struct live *next;
    server *srv;
    char room[PL_REC_NAME_MAX + 1];
    char id[PL_REC_ID_LEN + 1];
    pl_worker *worker;
    pl_rectap *tap;
    bool stopping;  /* asked to stop: out of its room's way */
    unsigned media; /* what participants' files record */
    member members[MAX_MEMBERS];
    size_t n_members;
    /* The rectap thread's. */
    pl_recfiles *rf;
    pl_rec_manifest m;
    /* Flags for the loop, under lock. */
    pthread_mutex_t lock;
    const char *failed; /* a reason for pl_sig_recording_stopped */
    bool told, done;
    bool finished; /* its manifest was finished */
} live;

struct srv_reclive {
    live *list;
    srv_live_stats done; /* what recordings that ended added up to */
};

static int64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static live *find(server *srv, const char *room)
{
    for (live *l = srv->reclive ? srv->reclive->list : NULL; l; l = l->next)
        if (!l->stopping && !strcmp(l->room, room))
            return l;
    return NULL;
}

/* Hooks, on the recording's thread. */

static int hook_file(void *user, const char *file, const char *participant, const char *display)
{
    live *l = user;
    pl_rec_file f = {.kind = PL_REC_FILE_TRACKS};
    snprintf(f.name, sizeof(f.name), "%s", file);
    snprintf(f.participant, sizeof(f.participant), "%s", participant);
    pl_rec_display_name_set(f.display_name, display);
    int rc = pl_rec_manifest_add_file(&l->srv->env, &l->m, &f);
    return rc == PL_OK ? pl_recfiles_update(l->rf, &l->m) : rc;
}

static void wake(live *l, const char *failed, bool done)
{
    pthread_mutex_lock(&l->lock);
    if (failed && !l->failed)
        l->failed = failed;
    l->done = l->done || done;
    pthread_mutex_unlock(&l->lock);
    if (l->srv->ctx)
        lws_cancel_service(l->srv->ctx);
}

static void hook_error(void *user, int error, int os_error)
{
    live *l = user;
    pl_log_printf(l->srv->log, PL_LOG_ERROR, "recording %s of room %s: %s%s%s", l->id, l->room,
                  error == PL_ENOSPC ? "its quota is reached" : "a file could not be written",
                  os_error ? ": " : "", os_error ? strerror(os_error) : "");
    wake(l, error == PL_ENOSPC ? "quota" : os_error == ENOSPC ? "disk_full" : "failed", false);
}

static void hook_keyframe(void *user, uint64_t transport, uint32_t ssrc)
{
    live *l = user;
    pl_worker_request_keyframe(l->worker, transport, ssrc);
}

static void hook_done(void *user, const pl_recorder_summary *sum, int64_t end_us)
{
    live *l = user;
    (void)end_us;
    const pl_env *env = &l->srv->env;
    for (size_t i = 0; i < sum->n_files; i++) {
        const pl_recorder_file *rf = &sum->files[i];
        if (!rf->present)
            continue; /* finish drops what was never created */
        pl_rec_file f = {.kind = rf->mix ? PL_REC_FILE_MIX : PL_REC_FILE_TRACKS};
        snprintf(f.name, sizeof(f.name), "%s", rf->name);
        snprintf(f.participant, sizeof(f.participant), "%s", rf->participant);
        pl_rec_display_name_set(f.display_name, rf->display_name);
        f.bytes = (int64_t)rf->bytes;
        pl_rec_manifest_add_file(env, &l->m, &f);
    }
    for (size_t i = 0; i < sum->n_speech; i++) {
        pl_rec_speech s = {.start_ms = sum->speech[i].start_ms, .end_ms = sum->speech[i].end_ms};
        snprintf(s.participant, sizeof(s.participant), "%s", sum->speech[i].participant);
        pl_rec_manifest_add_speech(env, &l->m, &s);
    }
    int rc = pl_recfiles_finish(l->rf, &l->m, wall_ms());
    pthread_mutex_lock(&l->lock);
    l->finished = rc == PL_OK;
    pthread_mutex_unlock(&l->lock);
    if (rc != PL_OK)
        pl_log_printf(l->srv->log, PL_LOG_ERROR,
                      "recording %s: its manifest could not be finished: %s", l->id,
                      pl_strerror(rc));
    else
        pl_log_printf(l->srv->log, PL_LOG_INFO, "recording %s of room %s finished: %zu files",
                      l->id, l->room, l->m.n_files);
    wake(l, NULL, true);
}

static void add_stats(srv_live_stats *to, const pl_rectap_stats *st)
{
    to->packets += st->queued;
    to->dropped_queue_full += st->queue_full;
    to->dropped_unknown += st->unknown_transport;
    to->not_recorded += st->not_recorded;
    to->frames += st->recorder.frames[0] + st->recorder.frames[1];
    to->bytes += st->recorder.bytes;
    to->keyframe_requests += st->recorder.keyframe_requests;
}

static void free_live(server *srv, live *l)
{
    if (l->tap) {
        pl_rectap_retain(l->tap); /* to read its counters once final */
        pl_rectap_destroy(l->tap);
        pl_rectap_stats st;
        pl_rectap_stats_get(l->tap, &st);
        pl_rectap_release(l->tap);
        if (srv->reclive)
            add_stats(&srv->reclive->done, &st);
    }
    pl_recfiles_close(l->rf);
    pl_rec_manifest_clear(&srv->env, &l->m);
    pthread_mutex_destroy(&l->lock);
    free(l);
}

/* The quota left to `owner` (0: no bound), or PL_ENOSPC when a start is
 * refused. */
typedef struct usage_list {
    pl_rec_usage v[1024];
    char owners[1024][PL_REC_NAME_MAX + 1];
    size_t n;
} usage_list;

static void count_usage(void *arg, const pl_rec_manifest *m)
{
    usage_list *u = arg;
    if (u->n == sizeof(u->v) / sizeof(u->v[0]))
        return;
    snprintf(u->owners[u->n], sizeof(u->owners[0]), "%s", m->owner);
    u->v[u->n] = (pl_rec_usage){.owner = u->owners[u->n],
                                .bytes = pl_rec_manifest_bytes(m),
                                .ended_ms = m->ended_ms,
                                .kind = m->kind};
    u->n++;
}

static int quota_left(server *srv, const char *owner, uint64_t *left)
{
    *left = 0;
    const pl_rec_limits *lim = srv_recordings_limits(srv);
    usage_list *u = calloc(1, sizeof(*u));
    if (!u)
        return PL_ENOMEM;
    pl_recfiles_each(srv_recordings_files(srv), NULL, count_usage, u);
    int64_t now = wall_ms();
    int rc = PL_OK;
    if (pl_recquota_may_start(lim, u->v, u->n, owner ? owner : "", now) != PL_RECQUOTA_OK)
        rc = PL_ENOSPC;
    if (rc == PL_OK && owner && lim->user_bytes) {
        int64_t used = 0;
        for (size_t i = 0; i < u->n; i++)
            if (!strcmp(u->v[i].owner, owner) && !pl_recquota_expired(lim, &u->v[i], now))
                used += u->v[i].bytes;
        *left = used < lim->user_bytes ? (uint64_t)(lim->user_bytes - used) : 1;
    }
    free(u);
    return rc;
}

static int record_may_start(void *user, const char *owner)
{
    uint64_t left;
    return quota_left(user, owner, &left);
}

static void recording_delete(void *user, const char *id)
{
    server *srv = user;
    int rc = pl_recfiles_delete(srv_recordings_files(srv), id);
    if (rc != PL_OK && rc != PL_ENOTFOUND)
        pl_log_printf(srv->log, PL_LOG_ERROR, "recording %s could not be deleted: %s", id,
                      pl_strerror(rc));
    srv_recordings_poke(srv);
}

static int record_start(void *user, const char *room, const char *owner, const pl_sig_message *msg,
                        char *id)
{
    server *srv = user;
    if (!srv->reclive || find(srv, room))
        return PL_ESTATE;
    uint64_t left;
    int rc = quota_left(srv, owner, &left);
    if (rc != PL_OK)
        return rc;
    live *l = calloc(1, sizeof(*l));
    if (!l)
        return PL_ENOMEM;
    l->srv = srv;
    snprintf(l->room, sizeof(l->room), "%s", room);
    l->worker = srv_worker_for(srv, room);
    pthread_mutex_init(&l->lock, NULL);
    pl_rec_manifest_init(&l->m);
    snprintf(l->m.id, sizeof(l->m.id), "%s", id);
    snprintf(l->m.room, sizeof(l->m.room), "%s", room);
    snprintf(l->m.owner, sizeof(l->m.owner), "%s", owner ? owner : "operator");
    l->m.started_ms = wall_ms();
    l->media = PL_RECORDER_AUDIO | PL_RECORDER_VIDEO;
    if (msg) {
        /* A heads-up: its caller and callee see it, nobody else. */
        l->m.kind = PL_REC_MESSAGE;
        snprintf(l->m.caller, sizeof(l->m.caller), "%s", msg->caller);
        snprintf(l->m.callee, sizeof(l->m.callee), "%s", msg->callee);
        snprintf(l->m.call_id, sizeof(l->m.call_id), "%s", msg->call_id);
        pl_rec_manifest_add_user(&srv->env, &l->m, msg->caller);
        pl_rec_manifest_add_user(&srv->env, &l->m, msg->callee);
        if (msg->audio_only)
            l->media = PL_RECORDER_AUDIO;
    } else {
        l->m.kind = PL_REC_MEETING;
        l->m.room_access = true;
    }
    char dir[4096];
    rc = pl_recfiles_open(&srv->env, srv->opt.data_dir, &l->rf);
    if (rc == PL_OK)
        rc = pl_recfiles_create(l->rf, &l->m);
    if (rc == PL_OK)
        rc = pl_recfiles_path(l->rf, l->m.id, NULL, dir, sizeof(dir));
    if (rc == PL_OK)
        snprintf(l->id, sizeof(l->id), "%s", l->m.id);
    if (rc == PL_OK && !msg) {
        pl_rec_file mix = {.kind = PL_REC_FILE_MIX};
        snprintf(mix.name, sizeof(mix.name), "%s", PL_RECORDER_MIX_FILE);
        rc = pl_rec_manifest_add_file(&srv->env, &l->m, &mix);
        rc = rc == PL_OK ? pl_recfiles_update(l->rf, &l->m) : rc;
    }
    if (rc == PL_OK) {
        pl_rectap_config cfg = {.recorder = {.dir = dir,
                                             .epoch_us = mono_us(),
                                             .max_bytes = left,
                                             .no_mix = msg != NULL,
                                             .title = room},
                                .hooks = {.user = l,
                                          .file = hook_file,
                                          .error = hook_error,
                                          .keyframe = hook_keyframe,
                                          .done = hook_done}};
        rc = pl_rectap_start(&srv->env, &cfg, &l->tap);
    }
    if (rc != PL_OK) {
        pl_log_printf(srv->log, PL_LOG_ERROR, "room %s: a recording could not start: %s", room,
                      pl_strerror(rc));
        if (l->m.id[0])
            pl_recfiles_delete(l->rf, l->m.id);
        free_live(srv, l);
        return rc == PL_ENOSPC ? PL_EIO : rc;
    }
    l->next = srv->reclive->list;
    srv->reclive->list = l;
    if (msg)
        srv->reclive->done.started_messages++;
    else
        srv->reclive->done.started_meetings++;
    snprintf(id, PL_SIG_RECORDING_ID_MAX + 1, "%s", l->id);
    pl_log_printf(srv->log, PL_LOG_INFO, "room %s: recording %s started", room, l->id);
    return PL_OK;
}

static void record_stop(void *user, const char *room)
{
    server *srv = user;
    live *l = find(srv, room);
    if (!l)
        return;
    l->stopping = true;
    for (size_t i = 0; i < l->n_members; i++)
        if (l->members[i].transport)
            pl_worker_record(l->worker, l->members[i].transport, NULL);
    pl_rectap_stop(l->tap);
}

static void record_participant(void *user, const char *room, const char *participant_id,
                               const char *name, uint64_t transport)
{
    server *srv = user;
    live *l = find(srv, room);
    if (!l)
        return;
    member *m = NULL;
    for (size_t i = 0; i < l->n_members && !m; i++)
        if (!strcmp(l->members[i].id, participant_id))
            m = &l->members[i];
    if (!m) {
        if (l->n_members == MAX_MEMBERS)
            return;
        m = &l->members[l->n_members++];
        snprintf(m->id, sizeof(m->id), "%s", participant_id);
        pl_rectap_add_participant(l->tap, participant_id, name, l->media, transport);
    } else if (m->transport != transport) {
        pl_rectap_set_transport(l->tap, participant_id, transport);
    }
    if (transport && m->transport != transport)
        pl_worker_record(l->worker, transport, l->tap);
    m->transport = transport;
}

static void record_leave(void *user, const char *room, const char *participant_id)
{
    server *srv = user;
    live *l = find(srv, room);
    if (!l)
        return;
    for (size_t i = 0; i < l->n_members; i++)
        if (!strcmp(l->members[i].id, participant_id)) {
            /* Its transport is gone with it, and the worker's tap on it. */
            l->members[i] = l->members[--l->n_members];
            pl_rectap_remove_participant(l->tap, participant_id);
            return;
        }
}

void srv_reclive_stats(server *srv, srv_live_stats *out)
{
    memset(out, 0, sizeof(*out));
    if (!srv->reclive)
        return;
    *out = srv->reclive->done;
    for (live *l = srv->reclive->list; l; l = l->next) {
        pl_rectap_stats st;
        pl_rectap_stats_get(l->tap, &st);
        add_stats(out, &st);
        out->active += !l->stopping;
    }
}

void srv_reclive_media(server *srv, pl_sig_media *media)
{
    media->record_start = record_start;
    media->record_may_start = record_may_start;
    media->recording_delete = recording_delete;
    media->record_stop = record_stop;
    media->record_participant = record_participant;
    media->record_leave = record_leave;
    (void)srv;
}

int srv_reclive_start(server *srv)
{
    srv->reclive = calloc(1, sizeof(*srv->reclive));
    return srv->reclive ? 0 : 1;
}

void srv_reclive_drain(server *srv)
{
    if (!srv->reclive)
        return;
    for (live **pp = &srv->reclive->list; *pp;) {
        live *l = *pp;
        pthread_mutex_lock(&l->lock);
        const char *failed = l->told ? NULL : l->failed;
        l->told = l->told || failed;
        bool done = l->done;
        pthread_mutex_unlock(&l->lock);
        if (failed && srv->sig && !l->stopping)
            pl_sig_recording_stopped(srv->sig, l->room, l->id, failed); /* calls record_stop */
        if (!done) {
            pp = &l->next;
            continue;
        }
        *pp = l->next;
        if (srv->sig) {
            const char *file = "";
            for (size_t i = 0; i < l->m.n_files && !file[0]; i++)
                if (l->m.files[i].kind == PL_REC_FILE_TRACKS)
                    file = l->m.files[i].name;
            pl_sig_recording_result res = {
                .ok = l->finished, .length_ms = l->m.ended_ms - l->m.started_ms, .file = file};
            pl_sig_recording_finished(srv->sig, l->id, &res);
        }
        free_live(srv, l);
        srv_recordings_poke(srv);
    }
}

void srv_reclive_stop(server *srv)
{
    if (!srv->reclive)
        return;
    while (srv->reclive->list) {
        live *l = srv->reclive->list;
        srv->reclive->list = l->next;
        free_live(srv, l); /* stops it and waits for its files to be finished */
    }
    free(srv->reclive);
    srv->reclive = NULL;
}
