#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "parley/rectap.h"

/* The recording's thread and the queue that feeds it (parley/rectap.h).
 * The worker only appends to the queue; everything else, the recorder and
 * the choice of what is recorded, lives on the thread. */

/* A layer (or stream) that sent nothing for this long no longer counts as
 * flowing; a microphone silent for longer may be replaced by another
 * stream of the participant (a republish under a new mid). */
#define FLOWING_US 1000000
#define REPLACE_US 2000000
/* Streams of a participant's camera remembered: three layers, and as many
 * again while a reconnection's new ones take over. */
#define STREAMS 6

enum item_kind { ITEM_PACKET, ITEM_ADD, ITEM_SET, ITEM_REMOVE };

typedef struct item {
    struct item *next;
    enum item_kind kind;
    pl_rectap_packet p; /* ITEM_PACKET */
    char id[PL_RECORDER_ID_MAX + 1];
    char display[PL_RECORDER_DISPLAY_MAX + 1];
    unsigned media;
    uint64_t transport;
    size_t len;
    uint8_t data[];
} item;

typedef struct stream {
    uint32_t ssrc;
    uint8_t rank;
    int64_t last_at;
} stream;

/* A participant as the thread knows it. Keys: 2i+1 its audio track, 2i+2
 * its video track, for its slot i (slots are never reused). */
typedef struct part {
    char id[PL_RECORDER_ID_MAX + 1];
    uint64_t transport;
    bool present;
    bool has_audio, has_video; /* its tracks were added to the recorder */
    char audio_mid[PL_MID_MAX + 1], video_mid[PL_MID_MAX + 1];
    int64_t audio_at, video_at; /* the recorded mid's last packet */
    stream streams[STREAMS];
} part;

struct pl_rectap {
    pl_env env;
    atomic_int refs;
    pl_rectap_config cfg;
    char dir[4096], title[256];
    pthread_t thread;
    bool joined;
    pthread_mutex_t lock; /* guards the queue, the flags and `st` */
    pthread_cond_t cond;
    item *head, *tail;
    size_t bytes;
    bool stop_asked, finished;
    bool busy;           /* the thread works on a list taken off the queue */
    pthread_cond_t idle; /* signalled at the end of each turn */
    pl_rectap_stats st;
    /* The thread's own. */
    pl_recorder *rec;
    part *parts;
    size_t n_parts, cap_parts;
    bool error_told;
};

static int64_t mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static int64_t now_us(const pl_rectap *t)
{
    return t->cfg.clock ? t->cfg.clock(t->cfg.clock_user) : mono_us();
}

static void free_items(pl_rectap *t, item *it)
{
    while (it) {
        item *n = it->next;
        pl_env_free(&t->env, it);
        it = n;
    }
}

static part *find_part(pl_rectap *t, const char *id)
{
    for (size_t i = 0; i < t->n_parts; i++)
        if (t->parts[i].present && !strcmp(t->parts[i].id, id))
            return &t->parts[i];
    return NULL;
}

static part *part_of(pl_rectap *t, uint64_t transport)
{
    for (size_t i = 0; transport && i < t->n_parts; i++)
        if (t->parts[i].present && t->parts[i].transport == transport)
            return &t->parts[i];
    return NULL;
}

static uint32_t key_of(const pl_rectap *t, const part *p, bool video)
{
    return (uint32_t)(p - t->parts) * 2u + (video ? 2u : 1u);
}

static void add_part(pl_rectap *t, const item *it)
{
    if (find_part(t, it->id))
        return;
    if (t->n_parts == t->cap_parts) {
        size_t cap = t->cap_parts ? 2 * t->cap_parts : 8;
        part *grown = pl_env_alloc(&t->env, cap * sizeof(*grown));
        if (!grown)
            return;
        if (t->n_parts)
            memcpy(grown, t->parts, t->n_parts * sizeof(*grown));
        pl_env_free(&t->env, t->parts);
        t->parts = grown;
        t->cap_parts = cap;
    }
    char file[PL_RECORDER_FILE_MAX + 1];
    if (pl_recorder_file_name(t->rec, it->id, file, sizeof(file)) != PL_OK)
        return;
    unsigned media = it->media;
    /* The owner names the file before it exists; one it could not name
     * is not created, and the participant is only mixed. */
    if (t->cfg.hooks.file &&
        t->cfg.hooks.file(t->cfg.hooks.user, file, it->id, it->display) != PL_OK)
        media = 0;
    int rc =
        pl_recorder_add_participant(t->rec, it->id, it->display, media ? media : PL_RECORDER_AUDIO);
    if (rc != PL_OK && rc != PL_EIO && rc != PL_ENOSPC)
        return;
    part *p = &t->parts[t->n_parts++];
    memset(p, 0, sizeof(*p));
    snprintf(p->id, sizeof(p->id), "%s", it->id);
    p->transport = it->transport;
    p->present = true;
}

static void remove_part(pl_rectap *t, const char *id, int64_t now)
{
    part *p = find_part(t, id);
    if (!p)
        return;
    pl_recorder_remove_participant(t->rec, id, now);
    p->present = false;
}

/* The stream a camera is recorded from: the largest layer that flows, the
 * newest of equals (a reconnection's). */
static uint32_t video_target(const part *p, int64_t now)
{
    const stream *best = NULL;
    for (size_t i = 0; i < STREAMS; i++) {
        const stream *s = &p->streams[i];
        if (!s->ssrc || now - s->last_at > FLOWING_US)
            continue;
        if (!best || s->rank > best->rank || (s->rank == best->rank && s->last_at > best->last_at))
            best = s;
    }
    return best ? best->ssrc : 0;
}

static void note_stream(part *p, const pl_rectap_packet *pk)
{
    stream *slot = NULL;
    for (size_t i = 0; i < STREAMS && !slot; i++)
        if (p->streams[i].ssrc == pk->ssrc)
            slot = &p->streams[i];
    for (size_t i = 0; i < STREAMS && !slot; i++)
        if (!p->streams[i].ssrc)
            slot = &p->streams[i];
    if (!slot) { /* the oldest gives way */
        slot = &p->streams[0];
        for (size_t i = 1; i < STREAMS; i++)
            if (p->streams[i].last_at < slot->last_at)
                slot = &p->streams[i];
    }
    slot->ssrc = pk->ssrc;
    slot->rank = pk->rank;
    slot->last_at = pk->at_us;
}

/* Is this mid the participant's recorded one of its kind (taking it when
 * there is none, or the one there was fell silent)? */
static bool take_mid(char *mid, int64_t *at, const pl_rectap_packet *pk)
{
    if (mid[0] && strcmp(mid, pk->mid) && pk->at_us - *at < REPLACE_US)
        return false;
    if (strcmp(mid, pk->mid))
        snprintf(mid, PL_MID_MAX + 1, "%s", pk->mid);
    *at = pk->at_us;
    return true;
}

static void packet(pl_rectap *t, const item *it, uint64_t *unknown, uint64_t *skipped)
{
    const pl_rectap_packet *pk = &it->p;
    part *p = part_of(t, pk->transport);
    if (!p) {
        (*unknown)++;
        return;
    }
    bool video = pk->video;
    if (pk->screen ||
        !take_mid(video ? p->video_mid : p->audio_mid, video ? &p->video_at : &p->audio_at, pk)) {
        (*skipped)++;
        return;
    }
    uint32_t key = key_of(t, p, video);
    bool *has = video ? &p->has_video : &p->has_audio;
    if (!*has) {
        int rc =
            pl_recorder_add_track(t->rec, p->id, key, video ? PL_RECFRAME_VP8 : PL_RECFRAME_OPUS);
        if (rc != PL_OK) {
            (*skipped)++;
            return;
        }
        *has = true;
    }
    if (video) {
        note_stream(p, pk);
        /* Both the layer recorded and the one to move to, until the
         * recorder has moved (recframe.h). */
        uint32_t cur = pl_recorder_track_source(t->rec, key);
        if (pk->ssrc != video_target(p, pk->at_us) && pk->ssrc != cur) {
            (*skipped)++;
            return;
        }
    }
    pl_recorder_push(t->rec, key, it->data, it->len, pk->at_us);
}

static void keyframes(pl_rectap *t, int64_t now)
{
    uint32_t key, ssrc;
    while (pl_recorder_poll_keyframe(t->rec, now, &key, &ssrc)) {
        size_t slot = (key - 1) / 2;
        if (slot < t->n_parts && t->parts[slot].present && t->parts[slot].transport &&
            t->cfg.hooks.keyframe)
            t->cfg.hooks.keyframe(t->cfg.hooks.user, t->parts[slot].transport, ssrc);
    }
}

static void wait_for_work(pl_rectap *t)
{
    int64_t next = pl_recorder_next_timeout(t->rec);
    while (!t->head && !t->stop_asked) {
        if (next == INT64_MAX) {
            pthread_cond_wait(&t->cond, &t->lock);
            continue;
        }
        int64_t wait = next - now_us(t);
        if (wait <= 0)
            return;
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        int64_t ns = ts.tv_nsec + (wait % 1000000) * 1000;
        ts.tv_sec += (time_t)(wait / 1000000 + ns / 1000000000);
        ts.tv_nsec = (long)(ns % 1000000000);
        if (pthread_cond_timedwait(&t->cond, &t->lock, &ts) == ETIMEDOUT)
            return;
    }
}

static void *run(void *arg)
{
    pl_rectap *t = arg;
    bool stop = false;
    while (!stop) {
        pthread_mutex_lock(&t->lock);
        wait_for_work(t);
        item *list = t->head;
        t->head = t->tail = NULL;
        t->bytes = 0;
        t->busy = true;
        stop = t->stop_asked; /* nothing is queued after it */
        pthread_mutex_unlock(&t->lock);
        uint64_t unknown = 0, skipped = 0;
        for (item *it = list; it; it = it->next) {
            switch (it->kind) {
            case ITEM_PACKET:
                packet(t, it, &unknown, &skipped);
                break;
            case ITEM_ADD:
                add_part(t, it);
                break;
            case ITEM_SET: {
                part *p = find_part(t, it->id);
                if (p)
                    p->transport = it->transport;
                break;
            }
            case ITEM_REMOVE:
                remove_part(t, it->id, now_us(t));
                break;
            }
        }
        free_items(t, list);
        int64_t now = now_us(t);
        pl_recorder_advance(t->rec, now);
        keyframes(t, now);
        int os_error = 0;
        int err = pl_recorder_error(t->rec, &os_error);
        if (err != PL_OK && !t->error_told) {
            t->error_told = true;
            if (t->cfg.hooks.error)
                t->cfg.hooks.error(t->cfg.hooks.user, err, os_error);
        }
        pthread_mutex_lock(&t->lock);
        t->st.unknown_transport += unknown;
        t->st.not_recorded += skipped;
        pl_recorder_stats_get(t->rec, &t->st.recorder);
        t->busy = false;
        pthread_cond_broadcast(&t->idle);
        pthread_mutex_unlock(&t->lock);
    }
    int64_t end = now_us(t);
    pl_recorder_summary sum;
    if (pl_recorder_stop(t->rec, end, &sum) != PL_OK)
        memset(&sum, 0, sizeof(sum)); /* no memory for the summary */
    if (t->cfg.hooks.done)
        t->cfg.hooks.done(t->cfg.hooks.user, &sum, end);
    pthread_mutex_lock(&t->lock);
    pl_recorder_stats_get(t->rec, &t->st.recorder);
    t->finished = true;
    pthread_cond_broadcast(&t->idle);
    pthread_mutex_unlock(&t->lock);
    return NULL;
}

int pl_rectap_start(const pl_env *env, const pl_rectap_config *cfg, pl_rectap **out)
{
    *out = NULL;
    if (!cfg || !cfg->recorder.dir || strlen(cfg->recorder.dir) >= sizeof(((pl_rectap *)0)->dir) ||
        (cfg->recorder.title && strlen(cfg->recorder.title) >= sizeof(((pl_rectap *)0)->title)))
        return PL_EINVAL;
    pl_rectap *t = pl_env_alloc(env, sizeof(*t));
    if (!t)
        return PL_ENOMEM;
    memset(t, 0, sizeof(*t));
    t->env = *env;
    atomic_init(&t->refs, 1);
    t->cfg = *cfg;
    snprintf(t->dir, sizeof(t->dir), "%s", cfg->recorder.dir);
    t->cfg.recorder.dir = t->dir;
    if (cfg->recorder.title) {
        snprintf(t->title, sizeof(t->title), "%s", cfg->recorder.title);
        t->cfg.recorder.title = t->title;
    }
    int rc = pl_recorder_create(env, &t->cfg.recorder, &t->rec);
    if (rc != PL_OK) {
        pl_env_free(env, t);
        return rc;
    }
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_mutex_init(&t->lock, NULL);
    pthread_cond_init(&t->cond, &ca);
    pthread_cond_init(&t->idle, NULL);
    pthread_condattr_destroy(&ca);
    if (pthread_create(&t->thread, NULL, run, t) != 0) {
        pthread_cond_destroy(&t->idle);
        pthread_cond_destroy(&t->cond);
        pthread_mutex_destroy(&t->lock);
        pl_recorder_destroy(t->rec);
        pl_env_free(env, t);
        return PL_EIO;
    }
    *out = t;
    return PL_OK;
}

void pl_rectap_retain(pl_rectap *t)
{
    atomic_fetch_add(&t->refs, 1);
}

void pl_rectap_release(pl_rectap *t)
{
    if (!t || atomic_fetch_sub(&t->refs, 1) != 1)
        return;
    free_items(t, t->head);
    pl_recorder_destroy(t->rec);
    pl_env_free(&t->env, t->parts);
    pthread_cond_destroy(&t->cond);
    pthread_cond_destroy(&t->idle);
    pthread_mutex_destroy(&t->lock);
    pl_env_free(&t->env, t);
}

/* Appends an item under one lock: false (and it is freed) once the
 * recording stops, or for a packet the full queue has no room for
 * (counted). */
static bool enqueue(pl_rectap *t, item *it, size_t bytes, bool packet)
{
    pthread_mutex_lock(&t->lock);
    bool full = packet && t->bytes + bytes > PL_RECTAP_QUEUE_BYTES;
    bool open = !t->stop_asked && !full;
    t->st.queue_full += full;
    if (open) {
        it->next = NULL;
        if (t->tail)
            t->tail->next = it;
        else
            t->head = it;
        t->tail = it;
        t->bytes += bytes;
        t->st.queued += packet;
        if (t->head == it)
            pthread_cond_signal(&t->cond);
    }
    pthread_mutex_unlock(&t->lock);
    if (!open)
        pl_env_free(&t->env, it);
    return open;
}

static int command(pl_rectap *t, enum item_kind kind, const char *id, const char *display,
                   unsigned media, uint64_t transport)
{
    if (!id || !id[0] || strlen(id) > PL_RECORDER_ID_MAX)
        return PL_EINVAL;
    item *it = pl_env_alloc(&t->env, sizeof(*it));
    if (!it)
        return PL_ENOMEM;
    memset(it, 0, sizeof(*it));
    it->kind = kind;
    snprintf(it->id, sizeof(it->id), "%s", id);
    if (display)
        snprintf(it->display, sizeof(it->display), "%s", display);
    it->media = media;
    it->transport = transport;
    return enqueue(t, it, sizeof(*it), false) ? PL_OK : PL_ESTATE;
}

int pl_rectap_add_participant(pl_rectap *t, const char *id, const char *display_name,
                              unsigned media, uint64_t transport)
{
    return command(t, ITEM_ADD, id, display_name, media, transport);
}

int pl_rectap_set_transport(pl_rectap *t, const char *id, uint64_t transport)
{
    return command(t, ITEM_SET, id, NULL, 0, transport);
}

int pl_rectap_remove_participant(pl_rectap *t, const char *id)
{
    return command(t, ITEM_REMOVE, id, NULL, 0, 0);
}

void pl_rectap_push(pl_rectap *t, const pl_rectap_packet *p, const uint8_t *pkt, size_t len)
{
    size_t bytes = sizeof(item) + len;
    item *it = pl_env_alloc(&t->env, bytes);
    if (!it) {
        pthread_mutex_lock(&t->lock);
        t->st.queue_full++;
        pthread_mutex_unlock(&t->lock);
        return;
    }
    it->kind = ITEM_PACKET;
    it->p = *p;
    it->len = len;
    it->id[0] = it->display[0] = '\0';
    memcpy(it->data, pkt, len);
    enqueue(t, it, bytes, true);
}

void pl_rectap_stop(pl_rectap *t)
{
    pthread_mutex_lock(&t->lock);
    t->stop_asked = true;
    pthread_cond_signal(&t->cond);
    pthread_mutex_unlock(&t->lock);
}

void pl_rectap_destroy(pl_rectap *t)
{
    if (!t)
        return;
    pl_rectap_stop(t);
    if (!t->joined) {
        pthread_join(t->thread, NULL);
        t->joined = true;
    }
    pl_rectap_release(t);
}

void pl_rectap_stats_get(pl_rectap *t, pl_rectap_stats *out)
{
    pthread_mutex_lock(&t->lock);
    *out = t->st;
    pthread_mutex_unlock(&t->lock);
}

void pl_rectap_sync(pl_rectap *t)
{
    pthread_mutex_lock(&t->lock);
    while ((t->head || t->busy) && !t->finished)
        pthread_cond_wait(&t->idle, &t->lock);
    pthread_mutex_unlock(&t->lock);
}
