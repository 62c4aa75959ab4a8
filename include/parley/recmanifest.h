/* A recording's manifest: what a recording is (a meeting or a video
 * heads-up), its files, who spoke from when to when and who may see it.
 * This module is the manifest's data and its JSON form (manifest.json, see
 * docs/recording.md); recfiles.h keeps it on disk. Pure: no I/O. */
#ifndef PARLEY_RECMANIFEST_H
#define PARLEY_RECMANIFEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "parley/common.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A recording id: 22 characters of the URL-safe base64 alphabet
 * [A-Za-z0-9_-], that is 132 random bits; it appears as such in URLs and
 * directory names. */
#define PL_REC_ID_LEN 22
/* Room names, participant ids and user ids: at most 64 characters. */
#define PL_REC_NAME_MAX 64
/* A file's name inside a recording's directory: 1-80 of [A-Za-z0-9._-],
 * starting with a letter or digit, without "..", not "manifest.*". */
#define PL_REC_FILE_MAX 80
#define PL_REC_DISPLAY_MAX 256
/* A call id of a heads-up (as pl_missed.call_id). */
#define PL_REC_CALL_MAX 31

enum pl_rec_kind {
    PL_REC_MEETING, /* a room's meeting: one file per participant and the mix */
    PL_REC_MESSAGE, /* a video heads-up left by a caller for a callee */
};

enum pl_rec_state {
    PL_REC_RECORDING,   /* being written */
    PL_REC_FINISHED,    /* stopped cleanly; sizes are final */
    PL_REC_INTERRUPTED, /* the server stopped while it was being written
                           (found at start-up); playable up to the last
                           flushed cluster, sizes are what was on disk */
};

enum pl_rec_file_kind {
    PL_REC_FILE_TRACKS, /* a participant's VP8 and Opus as received (WebM) */
    PL_REC_FILE_MIX,    /* the meeting's mixed audio (Ogg/Opus) */
};

typedef struct pl_rec_file {
    char name[PL_REC_FILE_MAX + 1];            /* "p3.webm", "mix.ogg" */
    char participant[PL_REC_NAME_MAX + 1];     /* "" for the mix */
    char display_name[PL_REC_DISPLAY_MAX + 1]; /* UTF-8, see pl_rec_display_name_set */
    enum pl_rec_file_kind kind;
    int64_t bytes; /* as of the last update of the manifest */
} pl_rec_file;

/* Someone spoke from start_ms to end_ms, in milliseconds since the
 * recording started (the recording's own timeline, as the files'). */
typedef struct pl_rec_speech {
    char participant[PL_REC_NAME_MAX + 1];
    int64_t start_ms, end_ms;
} pl_rec_speech;

typedef struct pl_rec_user {
    char id[PL_REC_NAME_MAX + 1];
} pl_rec_user;

/* The arrays are the manifest's own (pl_rec_manifest_add_* grow them with
 * the env's allocator, pl_rec_manifest_clear frees them). */
typedef struct pl_rec_manifest {
    char id[PL_REC_ID_LEN + 1];
    enum pl_rec_kind kind;
    enum pl_rec_state state;
    char room[PL_REC_NAME_MAX + 1];
    /* The user whose quota the recording counts against: who started a
     * meeting's recording, the caller of a heads-up. */
    char owner[PL_REC_NAME_MAX + 1];
    int64_t started_ms; /* ms since the epoch */
    int64_t ended_ms;   /* 0 while recording */
    /* Heads-ups only: who left it for whom, and the call it belongs to. */
    char caller[PL_REC_NAME_MAX + 1];
    char callee[PL_REC_NAME_MAX + 1];
    char call_id[PL_REC_CALL_MAX + 1];
    /* Who may see it: these users, and when room_access is set anyone who
     * may be in `room`. */
    bool room_access;
    pl_rec_user *users;
    size_t n_users;
    pl_rec_file *files;
    size_t n_files;
    pl_rec_speech *speech;
    size_t n_speech;
} pl_rec_manifest;

/* An empty meeting manifest (state recording, no arrays). */
void pl_rec_manifest_init(pl_rec_manifest *m);
/* Frees the arrays (with the env that grew them) and re-initialises. */
void pl_rec_manifest_clear(const pl_env *env, pl_rec_manifest *m);
/* Appends; PL_EINVAL when a name is not valid (see the _MAX above and
 * pl_rec_name_valid / pl_rec_file_name_valid), PL_ENOMEM. Adding a file
 * whose name is already listed updates that entry instead; adding a user
 * twice keeps one. */
int pl_rec_manifest_add_file(const pl_env *env, pl_rec_manifest *m, const pl_rec_file *f);
int pl_rec_manifest_add_speech(const pl_env *env, pl_rec_manifest *m, const pl_rec_speech *s);
int pl_rec_manifest_add_user(const pl_env *env, pl_rec_manifest *m, const char *user_id);
/* Copies a display name into dst[PL_REC_DISPLAY_MAX + 1], cut at the last
 * whole UTF-8 character that fits and at the first invalid byte (a file's
 * display_name must be valid UTF-8). */
void pl_rec_display_name_set(char *dst, const char *name);
/* The entry named `name`, or NULL. */
pl_rec_file *pl_rec_manifest_file(const pl_rec_manifest *m, const char *name);
/* Sum of the files' bytes. */
int64_t pl_rec_manifest_bytes(const pl_rec_manifest *m);
/* May `user` (a user id, NULL when unknown) who may be in room `room`
 * (NULL when none) see this recording? */
bool pl_rec_manifest_may_view(const pl_rec_manifest *m, const char *user, const char *room);

/* Deep copy into *dst (cleared first). */
int pl_rec_manifest_copy(const pl_env *env, pl_rec_manifest *dst, const pl_rec_manifest *src);

/* Checks a manifest as a whole: valid id and names, times not negative,
 * ended_ms set (>= started_ms) exactly when the state is not recording,
 * caller and callee set for a heads-up, no duplicate file names.
 * 0 or PL_EINVAL. */
int pl_rec_manifest_check(const pl_rec_manifest *m);

/* The manifest as JSON text, NUL-terminated, allocated with the env (free
 * with pl_env_free); *len without the NUL. PL_EINVAL when the manifest does
 * not pass pl_rec_manifest_check. */
int pl_rec_manifest_to_json(const pl_env *env, const pl_rec_manifest *m, char **out, size_t *len);
/* Parses manifest.json text into *m (initialised here; clear it after use,
 * also on error). PL_EMALFORMED for text that is not a valid manifest,
 * including one that fails pl_rec_manifest_check. */
int pl_rec_manifest_from_json(const pl_env *env, const char *text, size_t len, pl_rec_manifest *m);

/* Names as they may appear in a manifest and on disk. */
bool pl_rec_id_valid(const char *s);        /* exactly PL_REC_ID_LEN of [A-Za-z0-9_-] */
bool pl_rec_name_valid(const char *s);      /* 1-64 of [A-Za-z0-9._@+-] (rooms, ids) */
bool pl_rec_file_name_valid(const char *s); /* see PL_REC_FILE_MAX */

/* A fresh id from the env's randomness into id[PL_REC_ID_LEN + 1]. */
int pl_rec_id_generate(const pl_env *env, char *id);

const char *pl_rec_kind_name(enum pl_rec_kind k);   /* "meeting", "message" */
const char *pl_rec_state_name(enum pl_rec_state s); /* "recording", "finished", "interrupted" */

#ifdef __cplusplus
}
#endif
#endif
