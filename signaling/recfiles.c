#include "parley/recfiles.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MANIFEST "manifest.json"
#define MANIFEST_TMP "manifest.json.tmp"
#define TRASH_PREFIX ".trash-"
/* A manifest with every participant of a long meeting and its speech
 * intervals stays far below this; a bigger file is not ours. */
#define MANIFEST_MAX (16 << 20)

struct pl_recfiles {
    pl_env env;
    int root_fd;
    char root[PATH_MAX];
};

static int io_error(int err)
{
    return (err == ENOSPC || err == EDQUOT) ? PL_ENOSPC : PL_EINVAL;
}

int pl_recfiles_open(const pl_env *env, const char *data_dir, pl_recfiles **out)
{
    *out = NULL;
    if (!data_dir || !data_dir[0])
        return PL_EINVAL;
    char path[PATH_MAX];
    if (snprintf(path, sizeof(path), "%s/recordings", data_dir) >= (int)sizeof(path))
        return PL_EINVAL;
    if (mkdir(path, 0700) != 0 && errno != EEXIST) {
        pl_env_logf(env, PL_LOG_ERROR, "recordings: cannot create %s: %s", path, strerror(errno));
        return PL_EINVAL;
    }
    pl_recfiles *rf = pl_env_alloc(env, sizeof(*rf));
    if (!rf)
        return PL_ENOMEM;
    rf->env = *env;
    rf->root_fd = -1;
    if (!realpath(path, rf->root) ||
        (rf->root_fd = open(rf->root, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
        pl_env_logf(env, PL_LOG_ERROR, "recordings: cannot open %s: %s", path, strerror(errno));
        pl_recfiles_close(rf);
        return PL_EINVAL;
    }
    *out = rf;
    return PL_OK;
}

void pl_recfiles_close(pl_recfiles *rf)
{
    if (!rf)
        return;
    if (rf->root_fd >= 0)
        close(rf->root_fd);
    pl_env_free(&rf->env, rf);
}

const char *pl_recfiles_root(const pl_recfiles *rf)
{
    return rf->root;
}

int pl_recfiles_path(const pl_recfiles *rf, const char *id, const char *name, char *out,
                     size_t size)
{
    if (!pl_rec_id_valid(id) || (name && !pl_rec_file_name_valid(name)) || !out || !size)
        return PL_EINVAL;
    int n = name ? snprintf(out, size, "%s/%s/%s", rf->root, id, name)
                 : snprintf(out, size, "%s/%s", rf->root, id);
    return (n < 0 || (size_t)n >= size) ? PL_ENOSPC : PL_OK;
}

/* The recording's directory, never through a symlink. */
static int open_rec_dir(const pl_recfiles *rf, const char *name)
{
    return openat(rf->root_fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
}

static int write_all(int fd, const char *p, size_t n)
{
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* The manifest replaced whole: a temporary written and synced, renamed
 * over the old one, the directory synced so the rename survives a crash. */
static int write_manifest(pl_recfiles *rf, int dirfd, const pl_rec_manifest *m)
{
    char *text;
    size_t len;
    int rc = pl_rec_manifest_to_json(&rf->env, m, &text, &len);
    if (rc != PL_OK)
        return rc;
    errno = 0;
    int fd =
        openat(dirfd, MANIFEST_TMP, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
    int err = 0;
    if (fd < 0 || write_all(fd, text, len) != 0 || fsync(fd) != 0)
        err = errno ? errno : EIO;
    if (fd >= 0 && close(fd) != 0 && !err)
        err = errno;
    if (!err && (renameat(dirfd, MANIFEST_TMP, dirfd, MANIFEST) != 0 || fsync(dirfd) != 0))
        err = errno;
    pl_env_free(&rf->env, text);
    if (err) {
        unlinkat(dirfd, MANIFEST_TMP, 0);
        pl_env_logf(&rf->env, PL_LOG_ERROR, "recordings: cannot write the manifest of %s: %s",
                    m->id, strerror(err));
        return io_error(err);
    }
    return PL_OK;
}

/* Reads and checks dirfd's manifest, which must name `id`. */
static int read_manifest(pl_recfiles *rf, int dirfd, const char *id, pl_rec_manifest *m)
{
    pl_rec_manifest_init(m);
    int fd = openat(dirfd, MANIFEST, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0)
        return PL_ENOTFOUND;
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size > MANIFEST_MAX) {
        close(fd);
        return PL_EMALFORMED;
    }
    size_t size = (size_t)st.st_size, got = 0;
    char *text = pl_env_alloc(&rf->env, size + 1);
    if (!text) {
        close(fd);
        return PL_ENOMEM;
    }
    while (got < size) {
        ssize_t r = read(fd, text + got, size - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        got += (size_t)r;
    }
    close(fd);
    int rc = pl_rec_manifest_from_json(&rf->env, text, got, m);
    pl_env_free(&rf->env, text);
    if (rc == PL_OK && strcmp(m->id, id) != 0)
        rc = PL_EMALFORMED;
    return rc;
}

static bool is_regular(int dirfd, const char *name, struct stat *st)
{
    return fstatat(dirfd, name, st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st->st_mode);
}

/* The listing's rule (see recfiles.h), with the manifest into *m. */
static int load_listed(pl_recfiles *rf, const char *id, pl_rec_manifest *m)
{
    pl_rec_manifest_init(m);
    if (!pl_rec_id_valid(id))
        return PL_ENOTFOUND;
    int dirfd = open_rec_dir(rf, id);
    if (dirfd < 0)
        return PL_ENOTFOUND;
    int rc = read_manifest(rf, dirfd, id, m);
    for (size_t i = 0; rc == PL_OK && m->state != PL_REC_RECORDING && i < m->n_files; i++) {
        struct stat st;
        if (!is_regular(dirfd, m->files[i].name, &st))
            rc = PL_ENOTFOUND;
    }
    close(dirfd);
    return rc == PL_ENOMEM ? rc : rc == PL_OK ? PL_OK : PL_ENOTFOUND;
}

int pl_recfiles_load(pl_recfiles *rf, const char *id, pl_rec_manifest *m)
{
    int rc = load_listed(rf, id, m);
    if (rc != PL_OK)
        pl_rec_manifest_clear(&rf->env, m);
    return rc;
}

int pl_recfiles_create(pl_recfiles *rf, pl_rec_manifest *m)
{
    int rc;
    if (!m->id[0] && (rc = pl_rec_id_generate(&rf->env, m->id)) != PL_OK)
        return rc;
    m->state = PL_REC_RECORDING;
    m->ended_ms = 0;
    if (pl_rec_manifest_check(m) != PL_OK)
        return PL_EINVAL;
    if (mkdirat(rf->root_fd, m->id, 0700) != 0) {
        if (errno == EEXIST)
            return PL_ESTATE;
        pl_env_logf(&rf->env, PL_LOG_ERROR, "recordings: cannot create %s: %s", m->id,
                    strerror(errno));
        return io_error(errno);
    }
    int dirfd = open_rec_dir(rf, m->id);
    rc = dirfd < 0 ? io_error(errno) : write_manifest(rf, dirfd, m);
    if (rc == PL_OK && fsync(rf->root_fd) != 0)
        rc = io_error(errno);
    if (dirfd >= 0)
        close(dirfd);
    if (rc != PL_OK)
        pl_recfiles_delete(rf, m->id);
    return rc;
}

int pl_recfiles_update(pl_recfiles *rf, const pl_rec_manifest *m)
{
    if (pl_rec_manifest_check(m) != PL_OK)
        return PL_EINVAL;
    int dirfd = open_rec_dir(rf, m->id);
    if (dirfd < 0)
        return PL_ENOTFOUND;
    int rc = write_manifest(rf, dirfd, m);
    close(dirfd);
    return rc;
}

/* Every listed file's size as on disk; entries whose file was never made
 * are dropped. *newest is the latest modification time (ms), or 0. */
static void measure_files(int dirfd, pl_rec_manifest *m, int64_t *newest)
{
    size_t keep = 0;
    *newest = 0;
    for (size_t i = 0; i < m->n_files; i++) {
        struct stat st;
        if (!is_regular(dirfd, m->files[i].name, &st))
            continue;
        m->files[i].bytes = st.st_size;
        int64_t ms = (int64_t)st.st_mtim.tv_sec * 1000 + st.st_mtim.tv_nsec / 1000000;
        if (ms > *newest)
            *newest = ms;
        if (keep != i)
            m->files[keep] = m->files[i];
        keep++;
    }
    m->n_files = keep;
}

int pl_recfiles_finish(pl_recfiles *rf, pl_rec_manifest *m, int64_t ended_ms)
{
    if (!pl_rec_id_valid(m->id) || ended_ms <= 0)
        return PL_EINVAL;
    int dirfd = open_rec_dir(rf, m->id);
    if (dirfd < 0)
        return PL_ENOTFOUND;
    int64_t newest;
    measure_files(dirfd, m, &newest);
    m->state = PL_REC_FINISHED;
    m->ended_ms = ended_ms < m->started_ms ? m->started_ms : ended_ms;
    if (m->ended_ms == 0)
        m->ended_ms = 1; /* 0 means "still recording" */
    int rc = write_manifest(rf, dirfd, m);
    close(dirfd);
    return rc;
}

/* ---- listing ---- */

typedef struct mlist {
    pl_rec_manifest *v;
    size_t n, cap;
} mlist;

static pl_rec_manifest *mlist_push(const pl_env *env, mlist *l)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 16;
        pl_rec_manifest *v = pl_env_alloc(env, cap * sizeof(*v));
        if (!v)
            return NULL;
        if (l->n)
            memcpy(v, l->v, l->n * sizeof(*v));
        pl_env_free(env, l->v);
        l->v = v;
        l->cap = cap;
    }
    return &l->v[l->n];
}

static int by_start(const void *a, const void *b)
{
    const pl_rec_manifest *x = a, *y = b;
    if (x->started_ms != y->started_ms)
        return x->started_ms < y->started_ms ? -1 : 1;
    return strcmp(x->id, y->id);
}

static bool matches(const pl_rec_filter *f, const pl_rec_manifest *m)
{
    if (!f)
        return true;
    if (f->room && strcmp(f->room, m->room) != 0)
        return false;
    if (f->callee && (m->kind != PL_REC_MESSAGE || strcmp(f->callee, m->callee) != 0))
        return false;
    return !f->owner || strcmp(f->owner, m->owner) == 0;
}

/* Opens the recordings directory for reading its entries. */
static DIR *open_root_dir(pl_recfiles *rf)
{
    int fd = openat(rf->root_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
    if (!d && fd >= 0)
        close(fd);
    return d;
}

int pl_recfiles_each(pl_recfiles *rf, const pl_rec_filter *filter,
                     void (*fn)(void *arg, const pl_rec_manifest *m), void *arg)
{
    DIR *d = open_root_dir(rf);
    if (!d)
        return io_error(errno);
    mlist l = {0};
    int rc = PL_OK;
    struct dirent *e;
    while (rc == PL_OK && (e = readdir(d))) {
        if (!pl_rec_id_valid(e->d_name))
            continue;
        pl_rec_manifest *m = mlist_push(&rf->env, &l);
        if (!m) {
            rc = PL_ENOMEM;
            break;
        }
        int lr = load_listed(rf, e->d_name, m);
        if (lr == PL_OK && matches(filter, m))
            l.n++;
        else
            pl_rec_manifest_clear(&rf->env, m);
        if (lr == PL_ENOMEM)
            rc = lr;
    }
    closedir(d);
    if (rc == PL_OK && l.n)
        qsort(l.v, l.n, sizeof(*l.v), by_start);
    for (size_t i = 0; i < l.n; i++) {
        if (rc == PL_OK && fn)
            fn(arg, &l.v[i]);
        pl_rec_manifest_clear(&rf->env, &l.v[i]);
    }
    pl_env_free(&rf->env, l.v);
    return rc == PL_OK ? (int)l.n : rc;
}

/* ---- deletion ---- */

/* Removes what is in the trash directory `trash`, one step per entry
 * (the manifest first, so a half-emptied directory never carries one),
 * then the directory. Returns the steps done, at most `steps`. */
static int purge(pl_recfiles *rf, const char *trash, int steps)
{
    int done = 0;
    int dirfd = open_rec_dir(rf, trash);
    if (dirfd < 0)
        return 0;
    if (done < steps && unlinkat(dirfd, MANIFEST, 0) == 0)
        done++;
    int fd = dup(dirfd);
    DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
    if (!d && fd >= 0)
        close(fd);
    struct dirent *e;
    while (d && done < steps && (e = readdir(d))) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        if (unlinkat(dirfd, e->d_name, 0) == 0 || unlinkat(dirfd, e->d_name, AT_REMOVEDIR) == 0)
            done++;
        else
            pl_env_logf(&rf->env, PL_LOG_WARN, "recordings: cannot remove %s/%s: %s", trash,
                        e->d_name, strerror(errno));
    }
    if (d)
        closedir(d);
    close(dirfd);
    if (done < steps) {
        if (unlinkat(rf->root_fd, trash, AT_REMOVEDIR) == 0) {
            done++;
            fsync(rf->root_fd);
        } else {
            pl_env_logf(&rf->env, PL_LOG_WARN, "recordings: cannot remove %s: %s", trash,
                        strerror(errno));
        }
    }
    return done;
}

int pl_recfiles_delete_steps(pl_recfiles *rf, const char *id, int steps)
{
    if (!pl_rec_id_valid(id))
        return PL_ENOTFOUND;
    if (steps <= 0)
        return 0;
    struct stat st;
    if (fstatat(rf->root_fd, id, &st, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISDIR(st.st_mode))
        return PL_ENOTFOUND;
    char trash[sizeof(TRASH_PREFIX) + PL_REC_ID_LEN];
    snprintf(trash, sizeof(trash), TRASH_PREFIX "%s", id);
    /* One rename takes the whole recording out of every listing; a trash
     * left by an earlier crash under the same name is finished first. */
    purge(rf, trash, INT_MAX);
    if (renameat(rf->root_fd, id, rf->root_fd, trash) != 0 || fsync(rf->root_fd) != 0) {
        int err = errno;
        pl_env_logf(&rf->env, PL_LOG_ERROR, "recordings: cannot delete %s: %s", id, strerror(err));
        return err == ENOENT ? PL_ENOTFOUND : io_error(err);
    }
    return 1 + purge(rf, trash, steps - 1);
}

int pl_recfiles_delete(pl_recfiles *rf, const char *id)
{
    int rc = pl_recfiles_delete_steps(rf, id, INT_MAX);
    return rc < 0 ? rc : PL_OK;
}

/* ---- start-up recovery ---- */

typedef struct name_list {
    char (*v)[NAME_MAX + 1];
    size_t n, cap;
} name_list;

static int collect_names(pl_recfiles *rf, name_list *l)
{
    DIR *d = open_root_dir(rf);
    if (!d)
        return io_error(errno);
    struct dirent *e;
    int rc = PL_OK;
    while ((e = readdir(d))) {
        bool trash = strncmp(e->d_name, TRASH_PREFIX, strlen(TRASH_PREFIX)) == 0;
        if (!trash && !pl_rec_id_valid(e->d_name))
            continue;
        if (l->n == l->cap) {
            size_t cap = l->cap ? l->cap * 2 : 32;
            char(*v)[NAME_MAX + 1] = pl_env_alloc(&rf->env, cap * sizeof(*v));
            if (!v) {
                rc = PL_ENOMEM;
                break;
            }
            if (l->n)
                memcpy(v, l->v, l->n * sizeof(*v));
            pl_env_free(&rf->env, l->v);
            l->v = v;
            l->cap = cap;
        }
        snprintf(l->v[l->n++], NAME_MAX + 1, "%s", e->d_name);
    }
    closedir(d);
    return rc;
}

/* 1 when the recording was marked interrupted, 0 when it needed nothing,
 * negative on error. */
static int recover_one(pl_recfiles *rf, const char *id)
{
    int dirfd = open_rec_dir(rf, id);
    if (dirfd < 0)
        return 0; /* not a directory: not ours to touch */
    unlinkat(dirfd, MANIFEST_TMP, 0);
    pl_rec_manifest m;
    int rc = read_manifest(rf, dirfd, id, &m);
    if (rc == PL_ENOTFOUND) {
        /* Created but its first manifest never written: nothing of it
         * was ever listed or recorded into. */
        close(dirfd);
        pl_rec_manifest_clear(&rf->env, &m);
        pl_env_logf(&rf->env, PL_LOG_INFO, "recordings: removing %s, which has no manifest", id);
        pl_recfiles_delete(rf, id);
        return 0;
    }
    if (rc != PL_OK) {
        pl_env_logf(&rf->env, PL_LOG_WARN, "recordings: %s has an unreadable manifest, left as is",
                    id);
    } else if (m.state == PL_REC_RECORDING) {
        /* A file still empty got nothing (a participant who sent no
         * media): it goes, as the recorder removes one at its stop. Nothing
         * is listed before recovery ends, so removing it first is safe. */
        for (size_t i = 0; i < m.n_files; i++) {
            struct stat st;
            if (is_regular(dirfd, m.files[i].name, &st) && st.st_size == 0)
                unlinkat(dirfd, m.files[i].name, 0);
        }
        int64_t newest;
        measure_files(dirfd, &m, &newest);
        m.state = PL_REC_INTERRUPTED;
        m.ended_ms = newest > m.started_ms ? newest : m.started_ms;
        if (m.ended_ms == 0)
            m.ended_ms = 1;
        rc = write_manifest(rf, dirfd, &m);
        if (rc == PL_OK) {
            pl_env_logf(&rf->env, PL_LOG_INFO, "recordings: %s was interrupted, kept", id);
            rc = 1;
        }
    }
    close(dirfd);
    pl_rec_manifest_clear(&rf->env, &m);
    return rc < 0 && rc != PL_ENOSPC && rc != PL_ENOMEM ? 0 : rc;
}

int pl_recfiles_recover(pl_recfiles *rf)
{
    name_list l = {0};
    int rc = collect_names(rf, &l);
    int marked = 0;
    for (size_t i = 0; rc == PL_OK && i < l.n; i++) {
        if (strncmp(l.v[i], TRASH_PREFIX, strlen(TRASH_PREFIX)) == 0) {
            purge(rf, l.v[i], INT_MAX);
            continue;
        }
        int r = recover_one(rf, l.v[i]);
        if (r < 0)
            rc = r;
        else
            marked += r;
    }
    pl_env_free(&rf->env, l.v);
    return rc == PL_OK ? marked : rc;
}

/* ---- playback ---- */

/* "/recordings/<id>/<file>" into its two names; false for any other shape. */
static bool parse_url(const char *url, char *id, char *name)
{
    static const char prefix[] = "/recordings/";
    if (!url || strncmp(url, prefix, sizeof(prefix) - 1) != 0)
        return false;
    const char *p = url + sizeof(prefix) - 1;
    const char *slash = strchr(p, '/');
    if (!slash || slash - p != PL_REC_ID_LEN)
        return false;
    memcpy(id, p, PL_REC_ID_LEN);
    id[PL_REC_ID_LEN] = '\0';
    const char *file = slash + 1;
    if (strnlen(file, PL_REC_FILE_MAX + 1) > PL_REC_FILE_MAX)
        return false;
    strcpy(name, file);
    /* The charsets leave out '/', '%', '\\', NUL and "..": no encoded or
     * decoded way out of the directory passes. */
    return pl_rec_id_valid(id) && pl_rec_file_name_valid(name);
}

int pl_recfiles_open_url(pl_recfiles *rf, const char *url_path, pl_rec_manifest *m, int *fd,
                         char *path, size_t path_size)
{
    char id[PL_REC_ID_LEN + 1], name[PL_REC_FILE_MAX + 1];
    *fd = -1;
    pl_rec_manifest_init(m);
    if (path && path_size)
        path[0] = '\0';
    if (!parse_url(url_path, id, name))
        return PL_ENOTFOUND;
    int rc = load_listed(rf, id, m);
    if (rc != PL_OK)
        return rc;
    if (!pl_rec_manifest_file(m, name))
        return PL_ENOTFOUND;
    int dirfd = open_rec_dir(rf, id);
    if (dirfd < 0)
        return PL_ENOTFOUND;
    int f = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
    close(dirfd);
    struct stat st;
    if (f < 0 || fstat(f, &st) != 0 || !S_ISREG(st.st_mode)) {
        if (f >= 0)
            close(f);
        return PL_ENOTFOUND;
    }
    /* Belt and braces over O_NOFOLLOW: the file as the kernel resolves it
     * is the one inside the recordings directory. */
    char want[PATH_MAX], real[PATH_MAX];
    struct stat rst;
    if (pl_recfiles_path(rf, id, name, want, sizeof(want)) != PL_OK || !realpath(want, real) ||
        strcmp(real, want) != 0 || stat(real, &rst) != 0 || rst.st_ino != st.st_ino ||
        rst.st_dev != st.st_dev) {
        close(f);
        return PL_ENOTFOUND;
    }
    if (path && path_size) {
        if (strlen(want) >= path_size) {
            close(f);
            return PL_ENOSPC;
        }
        strcpy(path, want);
    }
    /* O_NONBLOCK only kept a FIFO from blocking the open. */
    fcntl(f, F_SETFL, fcntl(f, F_GETFL) & ~O_NONBLOCK);
    *fd = f;
    return PL_OK;
}
