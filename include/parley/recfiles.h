/* Recordings on disk (docs/recording.md). Under `<data-dir>/recordings/`
 * each recording is a directory named by its id holding manifest.json (see
 * recmanifest.h), one `<participant-id>.webm` per participant and, for a
 * meeting, `mix.ogg`. A heads-up message has the same shape with kind
 * "message".
 *
 * What is listed: a directory whose name is a valid id (never a symlink)
 * holding a manifest.json that parses, passes pl_rec_manifest_check and
 * names that directory, and, once the recording is no longer being written,
 * every file it lists present as a regular file. Nothing else is shown, so:
 * - the manifest is written whole or not at all (a temporary file, fsync,
 *   rename over manifest.json, fsync of the directory): a reader sees the
 *   old manifest or the new one, never half of one;
 * - a recording is created by making its directory and then writing its
 *   first manifest: a crash in between leaves a directory without a
 *   manifest, which is not listed (and start-up recovery removes it);
 * - a recording is deleted by first renaming its directory to
 *   `.trash-<id>` (one atomic step, made durable by an fsync of the
 *   recordings directory), then removing its manifest, its files and the
 *   directory. A crash after any step leaves either the whole recording
 *   listed (before the rename) or nothing listed (after it); start-up
 *   recovery finishes removing what is left in the trash.
 *
 * Calls do blocking file I/O (and fsync): run them off the event loop, on
 * the thread that owns the recordings (one pl_recfiles per thread). */
#ifndef PARLEY_RECFILES_H
#define PARLEY_RECFILES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "parley/common.h"
#include "parley/recmanifest.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct pl_recfiles pl_recfiles;

/* Opens `<data_dir>/recordings`, creating it (0700) when missing; data_dir
 * itself must exist. PL_EINVAL when it cannot be made or opened (logged). */
int pl_recfiles_open(const pl_env *env, const char *data_dir, pl_recfiles **out);
void pl_recfiles_close(pl_recfiles *rf);
/* The recordings directory's absolute path, resolved when opened. */
const char *pl_recfiles_root(const pl_recfiles *rf);

/* Path of `name` (NULL: the recording's directory) inside recording `id`,
 * for the recorder to create its files in: PL_EINVAL for an invalid id or
 * name, PL_ENOSPC when `size` is too small. */
int pl_recfiles_path(const pl_recfiles *rf, const char *id, const char *name, char *out,
                     size_t size);

/* Creates a recording: gives m->id a fresh id (from the env's randomness)
 * unless it already holds one, sets the state to recording and ended_ms to
 * 0, makes the directory and writes the first manifest. PL_EINVAL for a
 * manifest that does not pass pl_rec_manifest_check, PL_ESTATE when the id
 * exists, PL_ENOSPC when the disk is full, PL_EINVAL for other I/O errors. */
int pl_recfiles_create(pl_recfiles *rf, pl_rec_manifest *m);
/* Writes m over the recording's manifest, atomically. The recorder adds a
 * file to the manifest (and writes it) before it creates the file, so a
 * file on disk is always one the manifest names. PL_ENOTFOUND when the
 * recording does not exist (or is being deleted), PL_ENOSPC, PL_EINVAL. */
int pl_recfiles_update(pl_recfiles *rf, const pl_rec_manifest *m);
/* Ends a recording: state finished, ended_ms, every file's bytes as on
 * disk (a listed file that was never created is dropped from the
 * manifest), written atomically. */
int pl_recfiles_finish(pl_recfiles *rf, pl_rec_manifest *m, int64_t ended_ms);

/* Loads recording `id` into *m (initialised here; clear it after use)
 * when it is listed (see above); PL_ENOTFOUND otherwise (also for an
 * invalid id), PL_ENOMEM. */
int pl_recfiles_load(pl_recfiles *rf, const char *id, pl_rec_manifest *m);

/* Which recordings pl_recfiles_each shows: all fields NULL for all. */
typedef struct pl_rec_filter {
    const char *room;   /* of this room */
    const char *callee; /* heads-ups left for this user */
    const char *owner;  /* counted against this user */
} pl_rec_filter;

/* Calls fn for each listed recording matching filter (NULL: all), oldest
 * start first (ties by id); the manifest is valid during the call only.
 * Returns how many, or a negative PL_E* code. */
int pl_recfiles_each(pl_recfiles *rf, const pl_rec_filter *filter,
                     void (*fn)(void *arg, const pl_rec_manifest *m), void *arg);

/* Deletes recording `id` (see the order above). PL_ENOTFOUND when there
 * is no such directory. A recording being written may be deleted: the
 * recorder's open files then go with it. */
int pl_recfiles_delete(pl_recfiles *rf, const char *id);
/* The same, stopping after `steps` of its steps (1: the rename, 2: the
 * manifest removed, 3..: one file each, last: the directory) as a crash
 * would. For the crash tests; returns the number of steps done. */
int pl_recfiles_delete_steps(pl_recfiles *rf, const char *id, int steps);

/* Start-up recovery, before any recording starts: finishes deletions left
 * in the trash, removes temporary manifests and directories without a
 * manifest, and turns every recording left in state recording into
 * interrupted with its files' sizes as on disk (a listed file never
 * created is dropped) and ended_ms the newest of its files' modification
 * times (started_ms when it has none). Returns how many recordings it
 * marked interrupted, or a negative PL_E* code. */
int pl_recfiles_recover(pl_recfiles *rf);

/* Playback: maps a URL path `/recordings/<id>/<file>` (as the HTTP server
 * received it, before or after percent-decoding) to an open file. Refused
 * (PL_ENOTFOUND, the same for every reason, so nothing can be probed):
 * another shape of path, an id or file name out of their charsets (so
 * "..", "%2F", "%00", backslashes, empty or extra segments), a recording
 * not listed, a file the manifest does not list (manifest.json itself
 * included), a symlink at the recording's directory or file, anything but
 * a regular file, and a file that resolves outside the recordings
 * directory. On success *fd is open read-only (the caller closes it), *m
 * holds the manifest (initialised here; clear it after use, also on error)
 * so the caller can check pl_rec_manifest_may_view, and `path` (may be
 * NULL) receives the file's path. */
int pl_recfiles_open_url(pl_recfiles *rf, const char *url_path, pl_rec_manifest *m, int *fd,
                         char *path, size_t path_size);

#ifdef __cplusplus
}
#endif
#endif
