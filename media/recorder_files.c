/* A recording's files (see recorder_int.h): their names and entries,
 * finishing them, the mix's pages, the byte bound and the summary. */
#include "recorder_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- names --------------------------------------------------------------- */

static bool is_alnum(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

bool rec_id_valid(const char *id)
{
    if (!id || !is_alnum(id[0]))
        return false;
    size_t i = 0;
    for (; id[i]; i++)
        if (i >= PL_RECORDER_ID_MAX || !(is_alnum(id[i]) || strchr("._-", id[i])))
            return false;
    return true;
}

/* The n-th file of participant id, a name the manifest takes (1-80 of
 * [A-Za-z0-9._-], no "..", never manifest.*). */
int rec_file_name(const char *id, unsigned n, char *out, size_t cap)
{
    if (!rec_id_valid(id))
        return PL_EINVAL;
    char name[PL_RECORDER_FILE_MAX + 16];
    if (n <= 1)
        snprintf(name, sizeof(name), "%s.webm", id);
    else
        snprintf(name, sizeof(name), "%s.%u.webm", id, n);
    if (strlen(name) > PL_RECORDER_FILE_MAX || strstr(name, "..") ||
        strncmp(name, "manifest.", 9) == 0)
        return PL_EINVAL;
    if (strlen(name) >= cap)
        return PL_ENOSPC;
    memcpy(out, name, strlen(name) + 1);
    return PL_OK;
}

/* A display name cut at whole characters, so that the manifest's JSON
 * never holds half of one; it ends at the first byte that is not UTF-8. */
void rec_display_set(char *dst, const char *name)
{
    pl_utf8_copy(dst, name, PL_RECORDER_DISPLAY_MAX);
}

void rec_path(const pl_recorder *r, const char *name, char *out, size_t cap)
{
    snprintf(out, cap, "%s/%s", r->dir, name);
}

/* ---- files --------------------------------------------------------------- */

static void set_error(pl_recorder *r, int err, int os_error)
{
    if (!r->error) {
        r->error = err;
        r->os_error = os_error;
    }
}

/* Room for one more entry; the env has no realloc. */
int rec_files_reserve(pl_recorder *r)
{
    if (r->n_files < r->cap_files)
        return PL_OK;
    size_t cap = r->cap_files ? r->cap_files * 2 : 8;
    pl_recorder_file *f = pl_env_alloc(&r->env, cap * sizeof(*f));
    if (!f)
        return PL_ENOMEM;
    if (r->n_files)
        memcpy(f, r->files, r->n_files * sizeof(*f));
    pl_env_free(&r->env, r->files);
    r->files = f;
    r->cap_files = cap;
    return PL_OK;
}

size_t rec_file_add(pl_recorder *r, const char *name, const part *p)
{
    pl_recorder_file *f = &r->files[r->n_files];
    memset(f, 0, sizeof(*f));
    snprintf(f->name, sizeof(f->name), "%s", name);
    if (p) {
        memcpy(f->participant, p->id, sizeof(f->participant));
        memcpy(f->display_name, p->display, sizeof(f->display_name));
    }
    f->mix = !p;
    return r->n_files++;
}

void rec_file_failed(pl_recorder *r, pl_recorder_file *f, int os_error)
{
    f->error = PL_EIO;
    f->os_error = os_error;
    f->open = false;
    r->st.files_failed++;
    set_error(r, PL_EIO, os_error);
}

/* The file's final size, as its last bytes (a writer's cues) go in at
 * close; synced, so that a finished recording survives a power loss as
 * its manifest does. */
void rec_file_settle(pl_recorder *r, pl_recorder_file *f)
{
    char path[PATH_MAX + PL_RECORDER_FILE_MAX + 2];
    rec_path(r, f->name, path, sizeof(path));
    struct stat sb;
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0 || fstat(fd, &sb) != 0) {
        f->present = false;
        sb.st_size = 0;
    } else {
        (void)fsync(fd);
    }
    if (fd >= 0)
        close(fd);
    r->st.bytes = r->st.bytes - f->bytes + (uint64_t)sb.st_size;
    f->bytes = (uint64_t)sb.st_size;
}

/* Finishes a participant's current file; `why` is what the entry says of
 * a file that closes cleanly (PL_OK, or PL_ENOSPC for the byte bound). */
void rec_part_finish(pl_recorder *r, part *p, int why)
{
    if (!p->w)
        return;
    pl_recorder_file *f = &r->files[p->file];
    int os_error = 0;
    int rc = pl_recwebm_close(p->w, &os_error);
    p->w = NULL;
    f->open = false;
    if (rc == PL_ENOTFOUND) { /* no frame: recwebm removed it */
        f->present = false;
        r->st.bytes -= f->bytes;
        f->bytes = 0;
        return;
    }
    rec_file_settle(r, f);
    if (rc == PL_EIO)
        rec_file_failed(r, f, os_error);
    else if (f->error == PL_OK)
        f->error = why;
}

void rec_mix_finish(pl_recorder *r, int why)
{
    if (r->mix_fd < 0)
        return;
    close(r->mix_fd);
    r->mix_fd = -1;
    pl_recorder_file *f = &r->files[r->mix_file];
    f->open = false;
    rec_file_settle(r, f);
    if (f->error == PL_OK)
        f->error = why;
}

/* Past the byte bound every file is finished where it is. */
void rec_quota_check(pl_recorder *r)
{
    if (!r->max_bytes || r->quota_hit || r->st.bytes < r->max_bytes)
        return;
    r->quota_hit = true;
    set_error(r, PL_ENOSPC, 0);
    for (int i = 0; i < r->n_parts; i++)
        rec_part_finish(r, &r->parts[i], PL_ENOSPC);
    rec_mix_finish(r, PL_ENOSPC);
}

/* Writes the mix's completed pages; once its file is gone they are
 * dropped, as the mix goes on for the speech. */
void rec_mix_out(pl_recorder *r)
{
    if (!r->mix)
        return;
    const uint8_t *data;
    size_t n = pl_recmix_output(r->mix, &data);
    if (!n)
        return;
    if (r->mix_fd < 0) {
        pl_recmix_consume(r->mix, n);
        r->st.mix_discarded += n;
        return;
    }
    int rc = pl_recmix_write_fd(r->mix, r->mix_fd);
    size_t left = pl_recmix_output(r->mix, &data);
    pl_recorder_file *f = &r->files[r->mix_file];
    f->bytes += n - left;
    r->st.bytes += n - left;
    if (rc < 0) {
        close(r->mix_fd);
        r->mix_fd = -1;
        rec_file_failed(r, f, -rc);
        pl_recmix_consume(r->mix, left);
        r->st.mix_discarded += left;
    }
    rec_quota_check(r);
}

void pl_recorder_set_max_bytes(pl_recorder *r, uint64_t max_bytes)
{
    if (!r)
        return;
    r->max_bytes = max_bytes;
    rec_quota_check(r);
}

int pl_recorder_error(const pl_recorder *r, int *os_error)
{
    if (os_error)
        *os_error = r ? r->os_error : 0;
    return r ? r->error : PL_EINVAL;
}

static int speech_collect(pl_recorder *r)
{
    r->n_speech = 0;
    if (!r->mix)
        return PL_OK;
    size_t n = pl_recmix_speech_get(r->mix, NULL, 0);
    if (n > r->speech_cap) {
        size_t cap = n + n / 2 + 8;
        pl_recmix_speech *raw = pl_env_alloc(&r->env, cap * sizeof(*raw));
        pl_recorder_speech *sp = pl_env_alloc(&r->env, cap * sizeof(*sp));
        if (!raw || !sp) {
            pl_env_free(&r->env, raw);
            pl_env_free(&r->env, sp);
            return PL_ENOMEM;
        }
        pl_env_free(&r->env, r->raw_speech);
        pl_env_free(&r->env, r->speech);
        r->raw_speech = raw;
        r->speech = sp;
        r->speech_cap = cap;
    }
    n = pl_recmix_speech_get(r->mix, r->raw_speech, r->speech_cap);
    for (size_t i = 0; i < n && i < r->speech_cap; i++) {
        const pl_recmix_speech *s = &r->raw_speech[i];
        if (s->source < 1 || s->source > (uint32_t)r->n_parts)
            continue;
        pl_recorder_speech *d = &r->speech[r->n_speech++];
        memcpy(d->participant, r->parts[s->source - 1].id, sizeof(d->participant));
        d->start_ms = s->start_us / 1000;
        d->end_ms = (s->end_us + 999) / 1000;
    }
    return PL_OK;
}

int pl_recorder_summary_get(pl_recorder *r, pl_recorder_summary *out)
{
    if (!r || !out)
        return PL_EINVAL;
    int rc = speech_collect(r);
    *out = (pl_recorder_summary){.files = r->files,
                                 .n_files = r->n_files,
                                 .speech = r->speech,
                                 .n_speech = r->n_speech,
                                 .error = r->error,
                                 .os_error = r->os_error};
    return rc;
}
