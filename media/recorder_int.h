/* Inside the recorder (not public): its state, shared by recorder.c
 * (participants, tracks, frames placed on each file's timeline, time and
 * keyframe requests) and recorder_files.c (names, the files' entries,
 * finishing them, the mix's pages, the byte bound, the summary). Calls go
 * from recorder.c to recorder_files.c only. */
#ifndef PARLEY_MEDIA_RECORDER_INT_H
#define PARLEY_MEDIA_RECORDER_INT_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>

#include "parley/recmix.h"
#include "parley/recorder.h"
#include "parley/recwebm.h"

#define NONE INT64_MIN
#define AUDIO PL_RECWEBM_AUDIO
#define VIDEO PL_RECWEBM_VIDEO

typedef struct track {
    pl_recframe *rf; /* NULL: no track of this kind */
    uint32_t key;
    int64_t last_push_us, last_pli_us;
} track;

/* Per kind, what a participant's file has last: where its next frame may
 * go, and how far the current source is moved to get there. */
typedef struct lane {
    int64_t last_us; /* NONE before the first frame */
    int64_t dur_us;  /* audio: the last packet's duration */
    int64_t step_us; /* video: the last spacing of frames of one source */
    uint32_t ssrc, rtp_timestamp;
    int64_t shift_us;
} lane;

typedef struct part {
    bool used;    /* this id was added once: the slot is its for good */
    bool present; /* added and not removed */
    char id[PL_RECORDER_ID_MAX + 1];
    char display[PL_RECORDER_DISPLAY_MAX + 1];
    unsigned media;
    unsigned files; /* files opened for it so far */
    size_t file;    /* its current file's entry */
    pl_recwebm *w;  /* NULL once finished or failed */
    track tracks[2];
    lane lanes[2];
} part;

struct pl_recorder {
    pl_env env;
    char dir[PATH_MAX];
    int64_t epoch_us;
    uint64_t max_bytes;
    bool stopped, quota_hit;
    int error, os_error;
    part *parts;            /* a slot per id, kept for good: its mix source is its index + 1 */
    int max_parts, n_parts; /* slots, and how many are used (a prefix) */
    int pli_next;           /* round-robin start of the keyframe polls */
    pl_recorder_file *files;
    size_t n_files, cap_files;
    pl_recmix *mix;
    int mix_fd;
    size_t mix_file;
    pl_recmix_speech *raw_speech;
    pl_recorder_speech *speech;
    size_t speech_cap, n_speech;
    pl_recorder_stats st; /* st.tracks: the removed tracks' */
};

/* Names: an id that names a file; the n-th file of a participant. */
bool rec_id_valid(const char *id);
int rec_file_name(const char *id, unsigned n, char *out, size_t cap);
void rec_display_set(char *dst, const char *name);
void rec_path(const pl_recorder *r, const char *name, char *out, size_t cap);

/* The files' entries: room for one more, adding it (p NULL: the mix),
 * a failure, the final size of a closed file. */
int rec_files_reserve(pl_recorder *r);
size_t rec_file_add(pl_recorder *r, const char *name, const part *p);
void rec_file_failed(pl_recorder *r, pl_recorder_file *f, int os_error);
void rec_file_settle(pl_recorder *r, pl_recorder_file *f);
/* Finishing a participant's file or the mix's; `why` is what the entry
 * says of one that closes cleanly (PL_OK, or PL_ENOSPC: the byte bound). */
void rec_part_finish(pl_recorder *r, part *p, int why);
void rec_mix_finish(pl_recorder *r, int why);
void rec_quota_check(pl_recorder *r);
void rec_mix_out(pl_recorder *r);

#endif
