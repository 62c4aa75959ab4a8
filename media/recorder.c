/* A recording session (see parley/recorder.h): tracks' packets through
 * recframe into each participant's recwebm file and the shared recmix. */
#include "recorder_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <opus.h>

#include "parley/vp8.h"

/* A video frame moved after its file's last one before any of its
 * source's spacing is known goes this much after it (a frame at 30 fps):
 * frames closer than their stream's frame rate are taken for duplicates
 * by players and transcoders. */
#define VIDEO_STEP_US 33333
/* A source would have to be moved further than this to follow its file:
 * something is wrong with its timeline, so its frames are dropped until
 * they come after the file's end by themselves. Every source switch
 * recframe makes stays well within it. */
#define MOVE_MAX_US (2 * PL_RECFRAME_RESYNC_US)

/* ---- frames -------------------------------------------------------------- */

/* Where a frame of the participant's kind k goes: its own pts, or just
 * after what the file already has when a new source (a reconnection, a
 * new track, a source recframe holds at the last pts or placed again)
 * would overlap it:
 * audio right after the last packet, video one frame's spacing after the
 * last frame (its RTP spacing within a source). A moved source stays
 * moved until there is room for it at its own time (its next silence or
 * pause). NONE: dropped. */
static int64_t place(pl_recorder *r, part *p, int k, const pl_recframe_frame *f, int64_t dur_us)
{
    lane *ln = &p->lanes[k];
    bool same = !f->new_source && !f->replaced && ln->last_us != NONE && f->ssrc == ln->ssrc;
    int64_t spacing = 0;
    if (k == VIDEO && same)
        spacing = (int64_t)(int32_t)(f->rtp_timestamp - ln->rtp_timestamp) * 1000000 / 90000;
    int64_t next = NONE;
    if (ln->last_us != NONE)
        next = ln->last_us + (k == AUDIO ? ln->dur_us : spacing > 0 ? spacing : ln->step_us);
    int64_t pts = f->pts_us;
    if (!same || pts >= next)
        ln->shift_us = 0;
    int64_t at = pts + ln->shift_us;
    if (next != NONE && at < next) {
        if (next - pts > MOVE_MAX_US)
            return NONE;
        ln->shift_us = next - pts;
        at = next;
        r->st.moved++;
    }
    ln->last_us = at;
    ln->dur_us = dur_us;
    if (spacing > 0)
        ln->step_us = spacing;
    ln->ssrc = f->ssrc;
    ln->rtp_timestamp = f->rtp_timestamp;
    return at;
}

static void write_frame(pl_recorder *r, part *p, int k, const pl_recframe_frame *f, int64_t now_us)
{
    int64_t dur = 0;
    if (k == AUDIO) {
        int n = opus_packet_get_nb_samples(f->data, (opus_int32)f->len, PL_RECMIX_RATE);
        if (n <= 0) {
            r->st.malformed++;
            return;
        }
        dur = (int64_t)n * 1000000 / PL_RECMIX_RATE;
    }
    int64_t at = place(r, p, k, f, dur);
    if (at == NONE) {
        r->st.misplaced++;
        return;
    }
    if (k == AUDIO && r->mix) {
        uint32_t source = (uint32_t)(p - r->parts) + 1;
        if (pl_recmix_push(r->mix, source, at, f->data, f->len, now_us) == PL_OK)
            r->st.mixed++;
        else
            r->st.mix_refused++;
    }
    if (!p->w) {
        if (r->quota_hit)
            r->st.quota++;
        else
            r->st.file_failed++;
        return;
    }
    pl_recorder_file *file = &r->files[p->file];
    int rc = pl_recwebm_write(p->w, (pl_recwebm_kind)k, at, f->data, f->len);
    pl_recwebm_stats ws;
    pl_recwebm_get_stats(p->w, &ws);
    r->st.bytes = r->st.bytes - file->bytes + ws.file_bytes;
    file->bytes = ws.file_bytes;
    if (rc == PL_OK) {
        file->frames[k]++;
        r->st.frames[k]++;
    } else if (rc == PL_EIO) {
        /* What is on disk stays readable; the writer goes. */
        int os_error = ws.os_error;
        pl_recwebm_close(p->w, NULL);
        p->w = NULL;
        rec_file_settle(r, file);
        rec_file_failed(r, file, os_error);
        r->st.file_failed++;
    } else {
        r->st.file_refused++;
    }
    rec_quota_check(r);
}

static void drain(pl_recorder *r, part *p, int k, int64_t poll_us, int64_t now_us)
{
    pl_recframe_frame f;
    while (pl_recframe_poll(p->tracks[k].rf, poll_us, &f))
        write_frame(r, p, k, &f, now_us);
}

static void stats_add(pl_recframe_stats *sum, const pl_recframe_stats *s)
{
    /* Every counter is a uint64_t: added as an array. */
    _Static_assert(sizeof(pl_recframe_stats) % sizeof(uint64_t) == 0, "counters only");
    uint64_t a[sizeof(*s) / sizeof(uint64_t)], b[sizeof(*s) / sizeof(uint64_t)];
    memcpy(a, sum, sizeof(a));
    memcpy(b, s, sizeof(b));
    for (size_t i = 0; i < sizeof(a) / sizeof(a[0]); i++)
        a[i] += b[i];
    memcpy(sum, a, sizeof(a));
}

/* Writes what the track still holds (the mix takes it at now_us), then
 * frees it. Polling past the assembler's wait gives up what never
 * completed. */
static void track_end(pl_recorder *r, part *p, int k, int64_t now_us)
{
    track *t = &p->tracks[k];
    if (!t->rf)
        return;
    int64_t until = now_us;
    if (t->last_push_us != NONE && t->last_push_us + PL_VP8_WAIT_US + 1 > until)
        until = t->last_push_us + PL_VP8_WAIT_US + 1;
    drain(r, p, k, until, now_us);
    pl_recframe_stats s;
    pl_recframe_stats_get(t->rf, &s);
    stats_add(&r->st.tracks, &s);
    pl_recframe_destroy(t->rf);
    memset(t, 0, sizeof(*t));
}

/* ---- participants and tracks --------------------------------------------- */

static part *find_part(pl_recorder *r, const char *id)
{
    for (int i = 0; id && i < r->n_parts; i++)
        if (r->parts[i].used && strcmp(r->parts[i].id, id) == 0)
            return &r->parts[i];
    return NULL;
}

static part *find_track(pl_recorder *r, uint32_t key, int *kind)
{
    for (int i = 0; i < r->n_parts; i++) {
        part *p = &r->parts[i];
        for (int k = 0; p->present && k < 2; k++)
            if (p->tracks[k].rf && p->tracks[k].key == key) {
                *kind = k;
                return p;
            }
    }
    return NULL;
}

int pl_recorder_file_name(const pl_recorder *r, const char *id, char *out, size_t cap)
{
    if (!r || !out)
        return PL_EINVAL;
    const part *p = find_part((pl_recorder *)r, id);
    return rec_file_name(id, p ? p->files + 1 : 1, out, cap);
}

int pl_recorder_add_participant(pl_recorder *r, const char *id, const char *display_name,
                                unsigned media)
{
    if (!r || !rec_id_valid(id) || !media || (media & ~(PL_RECORDER_AUDIO | PL_RECORDER_VIDEO)))
        return PL_EINVAL;
    if (r->stopped)
        return PL_ESTATE;
    part *p = find_part(r, id);
    if (p && p->present)
        return PL_ESTATE;
    if (!p && r->n_parts == r->max_parts)
        return PL_ENOSPC;
    if (!p)
        p = &r->parts[r->n_parts];
    char name[PL_RECORDER_FILE_MAX + 1];
    int rc = rec_file_name(id, p->files + 1, name, sizeof(name));
    if (rc != PL_OK)
        return rc;
    if (rec_files_reserve(r) != PL_OK)
        return PL_ENOMEM;

    if (!p->used) {
        memset(p, 0, sizeof(*p));
        p->used = true;
        r->n_parts++;
        snprintf(p->id, sizeof(p->id), "%s", id);
        for (int k = 0; k < 2; k++)
            p->lanes[k] = (lane){.last_us = NONE, .step_us = VIDEO_STEP_US};
    }
    rec_display_set(p->display, display_name);
    p->media = media;
    p->present = true;
    p->files++;
    p->file = rec_file_add(r, name, p);
    pl_recorder_file *f = &r->files[p->file];
    if (r->quota_hit) {
        f->error = PL_ENOSPC;
        return PL_ENOSPC;
    }
    char path[sizeof(r->dir) + sizeof(name) + 1];
    rec_path(r, name, path, sizeof(path));
    errno = 0;
    rc = pl_recwebm_open(path, media & PL_RECORDER_AUDIO, media & PL_RECORDER_VIDEO, &p->w);
    if (rc == PL_OK) {
        f->open = f->present = true;
        return PL_OK;
    }
    int os_error = rc == PL_EIO ? errno : ENOMEM;
    p->w = NULL;
    rec_file_failed(r, f, os_error);
    errno = os_error;
    return PL_EIO;
}

int pl_recorder_remove_participant(pl_recorder *r, const char *id, int64_t now_us)
{
    if (!r)
        return PL_EINVAL;
    if (r->stopped)
        return PL_ESTATE;
    part *p = find_part(r, id);
    if (!p || !p->present)
        return PL_ENOTFOUND;
    track_end(r, p, AUDIO, now_us);
    track_end(r, p, VIDEO, now_us);
    rec_part_finish(r, p, PL_OK);
    if (r->mix) {
        pl_recmix_remove(r->mix, (uint32_t)(p - r->parts) + 1);
        rec_mix_out(r);
    }
    p->present = false;
    return PL_OK;
}

int pl_recorder_add_track(pl_recorder *r, const char *participant_id, uint32_t key,
                          pl_recframe_codec codec)
{
    if (!r || (codec != PL_RECFRAME_OPUS && codec != PL_RECFRAME_VP8))
        return PL_EINVAL;
    if (r->stopped)
        return PL_ESTATE;
    part *p = find_part(r, participant_id);
    if (!p || !p->present)
        return PL_ENOTFOUND;
    int k = codec == PL_RECFRAME_OPUS ? AUDIO : VIDEO, other;
    if (!(p->media & (k == AUDIO ? PL_RECORDER_AUDIO : PL_RECORDER_VIDEO)) ||
        find_track(r, key, &other))
        return PL_EINVAL;
    track *t = &p->tracks[k];
    if (t->rf)
        return PL_ESTATE;
    t->rf = pl_recframe_create(codec, r->epoch_us);
    if (!t->rf)
        return PL_ENOMEM;
    t->key = key;
    t->last_push_us = t->last_pli_us = NONE;
    return PL_OK;
}

int pl_recorder_remove_track(pl_recorder *r, uint32_t key, int64_t now_us)
{
    if (!r)
        return PL_EINVAL;
    if (r->stopped)
        return PL_ESTATE;
    int k;
    part *p = find_track(r, key, &k);
    if (!p)
        return PL_ENOTFOUND;
    track_end(r, p, k, now_us);
    rec_mix_out(r);
    return PL_OK;
}

/* ---- packets and time ---------------------------------------------------- */

int pl_recorder_push(pl_recorder *r, uint32_t key, const uint8_t *pkt, size_t len, int64_t now_us)
{
    if (!r)
        return PL_EINVAL;
    r->st.packets++;
    if (r->stopped) {
        r->st.after_stop++;
        return PL_ESTATE;
    }
    int k;
    part *p = find_track(r, key, &k);
    if (!p) {
        r->st.unknown_track++;
        return PL_ENOTFOUND;
    }
    /* Video goes only to its file, audio also to the mix: with neither
     * left, nothing to do. */
    if (!p->w && (k == VIDEO || !r->mix)) {
        if (r->quota_hit) {
            r->st.quota++;
            return PL_ENOSPC;
        }
        r->st.file_failed++;
        return PL_EIO;
    }
    if (!pkt) {
        r->st.malformed++;
        return PL_EMALFORMED;
    }
    int rc = pl_recframe_push(p->tracks[k].rf, pkt, len, now_us);
    if (rc != PL_OK) {
        r->st.malformed++;
        return rc;
    }
    p->tracks[k].last_push_us = now_us;
    drain(r, p, k, now_us, now_us);
    rec_mix_out(r);
    return PL_OK;
}

int pl_recorder_advance(pl_recorder *r, int64_t now_us)
{
    if (!r)
        return PL_EINVAL;
    if (r->stopped)
        return PL_ESTATE;
    for (int i = 0; i < r->n_parts; i++) {
        part *p = &r->parts[i];
        for (int k = 0; p->present && k < 2; k++)
            if (p->tracks[k].rf)
                drain(r, p, k, now_us, now_us);
    }
    if (r->mix) {
        pl_recmix_advance(r->mix, now_us);
        rec_mix_out(r);
    }
    return PL_OK;
}

uint32_t pl_recorder_track_source(const pl_recorder *r, uint32_t key)
{
    int k;
    const part *p = r ? find_track((pl_recorder *)r, key, &k) : NULL;
    return p ? pl_recframe_source_ssrc(p->tracks[k].rf) : 0;
}

/* A video track waiting for a key frame that is worth asking for: its
 * source known, its file still written. */
static bool wants_key(const part *p, uint32_t *ssrc)
{
    const track *t = &p->tracks[VIDEO];
    uint32_t s = 0;
    if (!p->present || !t->rf || !p->w || !pl_recframe_wants_keyframe(t->rf, &s) || !s)
        return false;
    if (ssrc)
        *ssrc = s;
    return true;
}

int64_t pl_recorder_next_timeout(const pl_recorder *r)
{
    int64_t next = INT64_MAX;
    if (!r || r->stopped)
        return next;
    for (int i = 0; i < r->n_parts; i++) {
        const part *p = &r->parts[i];
        for (int k = 0; p->present && k < 2; k++) {
            const track *t = &p->tracks[k];
            if (!t->rf)
                continue;
            int64_t at = pl_recframe_next_timeout(t->rf);
            if (at < next)
                next = at;
            if (k == VIDEO && wants_key(p, NULL)) {
                at = t->last_pli_us == NONE ? t->last_push_us : t->last_pli_us + PL_RECORDER_PLI_US;
                if (at < next)
                    next = at;
            }
        }
    }
    if (r->mix) {
        int64_t at = pl_recmix_next_timeout(r->mix);
        if (at < next)
            next = at;
    }
    return next;
}

bool pl_recorder_poll_keyframe(pl_recorder *r, int64_t now_us, uint32_t *key, uint32_t *ssrc)
{
    if (!r || r->stopped || r->n_parts <= 0)
        return false;
    for (int n = 0; n < r->n_parts; n++) {
        int i = (r->pli_next + n) % r->n_parts;
        part *p = &r->parts[i];
        track *t = &p->tracks[VIDEO];
        uint32_t s;
        if (!wants_key(p, &s) ||
            (t->last_pli_us != NONE && now_us - t->last_pli_us < PL_RECORDER_PLI_US))
            continue;
        t->last_pli_us = now_us;
        r->pli_next = (i + 1) % r->n_parts;
        r->st.keyframe_requests++;
        if (key)
            *key = t->key;
        if (ssrc)
            *ssrc = s;
        return true;
    }
    return false;
}

/* ---- the recorder -------------------------------------------------------- */

int pl_recorder_create(const pl_env *env, const pl_recorder_config *cfg, pl_recorder **out)
{
    if (!env || !cfg || !out || !cfg->dir || !cfg->dir[0] ||
        strlen(cfg->dir) >= sizeof(((pl_recorder *)0)->dir) || cfg->max_participants < 0 ||
        cfg->max_participants > PL_RECMIX_MAX_SOURCES * 16)
        return PL_EINVAL;
    *out = NULL;
    pl_recorder *r = pl_env_alloc(env, sizeof(*r));
    if (!r)
        return PL_ENOMEM;
    r->env = *env;
    snprintf(r->dir, sizeof(r->dir), "%s", cfg->dir);
    r->epoch_us = cfg->epoch_us;
    r->max_bytes = cfg->max_bytes;
    r->mix_fd = -1;
    r->max_parts = cfg->max_participants ? cfg->max_participants : PL_RECORDER_MAX_PARTICIPANTS;
    r->parts = pl_env_alloc(env, (size_t)r->max_parts * sizeof(part));
    if (!r->parts || rec_files_reserve(r) != PL_OK) {
        pl_recorder_destroy(r);
        return PL_ENOMEM;
    }
    if (!cfg->no_mix) {
        pl_recmix_config mc = {
            .epoch_us = cfg->epoch_us, .max_sources = r->max_parts, .title = cfg->title};
        int rc = pl_recmix_create(env, &mc, &r->mix);
        if (rc != PL_OK) {
            pl_recorder_destroy(r);
            return rc;
        }
        r->mix_file = rec_file_add(r, PL_RECORDER_MIX_FILE, NULL);
        char path[sizeof(r->dir) + sizeof(PL_RECORDER_MIX_FILE) + 1];
        rec_path(r, PL_RECORDER_MIX_FILE, path, sizeof(path));
        r->mix_fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
        if (r->mix_fd < 0) {
            rec_file_failed(r, &r->files[r->mix_file], errno);
        } else {
            r->files[r->mix_file].open = r->files[r->mix_file].present = true;
            rec_mix_out(r); /* OpusHead and OpusTags */
        }
    }
    *out = r;
    return PL_OK;
}

void pl_recorder_destroy(pl_recorder *r)
{
    if (!r)
        return;
    for (int i = 0; r->parts && i < r->n_parts; i++) {
        part *p = &r->parts[i];
        for (int k = 0; k < 2; k++)
            pl_recframe_destroy(p->tracks[k].rf);
        if (p->w)
            pl_recwebm_close(p->w, NULL);
    }
    if (r->mix_fd >= 0)
        close(r->mix_fd);
    pl_recmix_destroy(r->mix);
    pl_env_free(&r->env, r->parts);
    pl_env_free(&r->env, r->files);
    pl_env_free(&r->env, r->raw_speech);
    pl_env_free(&r->env, r->speech);
    pl_env_free(&r->env, r);
}

int pl_recorder_stop(pl_recorder *r, int64_t end_us, pl_recorder_summary *out)
{
    if (!r)
        return PL_EINVAL;
    if (r->stopped)
        return PL_ESTATE;
    for (int i = 0; i < r->n_parts; i++) {
        part *p = &r->parts[i];
        if (!p->present)
            continue;
        track_end(r, p, AUDIO, end_us);
        track_end(r, p, VIDEO, end_us);
        rec_part_finish(r, p, PL_OK);
        p->present = false;
    }
    if (r->mix) {
        pl_recmix_close(r->mix, end_us);
        rec_mix_out(r);
        rec_mix_finish(r, PL_OK);
    }
    r->stopped = true;
    if (!out)
        return PL_OK;
    return pl_recorder_summary_get(r, out);
}

void pl_recorder_stats_get(const pl_recorder *r, pl_recorder_stats *out)
{
    if (!r || !out)
        return;
    *out = r->st;
    out->files_open = 0;
    for (size_t i = 0; i < r->n_files; i++)
        out->files_open += r->files[i].open;
    for (int i = 0; i < r->n_parts; i++)
        for (int k = 0; k < 2; k++)
            if (r->parts[i].tracks[k].rf) {
                pl_recframe_stats s;
                pl_recframe_stats_get(r->parts[i].tracks[k].rf, &s);
                stats_add(&out->tracks, &s);
            }
}
