/* One participant's recording as a WebM (Matroska) file, written with
 * libavformat without transcoding: the VP8 frames and Opus packets as they
 * were received, each at its time on the recording's timeline.
 *
 * The file stays readable if the process dies at any moment: blocks go out
 * in clusters of at most a second that are handed to the kernel as each one
 * closes, so a writer killed without pl_recwebm_close loses only about the
 * last one or two seconds (the cluster being built, and up to half a second
 * of one kind waiting for the other to be interleaved with it). pl_recwebm_close finishes the file:
 * its duration and its cues (the index players seek with).
 *
 * The video track's size is known only at the first key frame, and the
 * track headers go before any block, so a file that wants video is started
 * at its first key frame; until then (at most PL_RECWEBM_WAIT_US of audio)
 * audio is kept in memory. A key frame of another size later (a simulcast
 * layer switch, a camera change) is written as it is: VP8 decoders follow
 * the size of each key frame.
 *
 * Blocking file I/O: meant for a recorder thread, never for a media
 * worker's loop. Not thread-safe; one writer per file. */
#ifndef PARLEY_RECWEBM_H
#define PARLEY_RECWEBM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "parley/common.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum pl_recwebm_kind {
    PL_RECWEBM_AUDIO = 0, /* one Opus packet (RFC 6716), as in an RTP payload */
    PL_RECWEBM_VIDEO = 1, /* one whole VP8 frame (RFC 6386), descriptors removed */
} pl_recwebm_kind;

/* Largest frame taken, per kind (PL_EINVAL and counted above it): far above
 * anything a WebRTC sender produces, low enough to bound what a bad frame
 * costs. */
#define PL_RECWEBM_MAX_AUDIO (64 * 1024)
#define PL_RECWEBM_MAX_VIDEO (4 * 1024 * 1024)
/* How much audio a file that wants video keeps in memory while it waits for
 * the first key frame: past this span (or PL_RECWEBM_WAIT_BYTES of it) the
 * file is started without knowing the picture size, its video track
 * announcing PL_RECWEBM_PLACEHOLDER_WIDTH x _HEIGHT; the key frames that
 * come later keep their own size. */
#define PL_RECWEBM_WAIT_US 2000000
#define PL_RECWEBM_WAIT_BYTES (512 * 1024)
#define PL_RECWEBM_PLACEHOLDER_WIDTH 640
#define PL_RECWEBM_PLACEHOLDER_HEIGHT 480

typedef struct pl_recwebm pl_recwebm;

typedef struct pl_recwebm_stats {
    uint64_t written[2]; /* frames handed to the muxer, per pl_recwebm_kind */
    /* Frames refused, by reason (each also returned as an error). */
    uint64_t dropped_invalid;     /* no data, length 0, pts < 0, kind not recorded */
    uint64_t dropped_oversized;   /* above PL_RECWEBM_MAX_AUDIO / _VIDEO */
    uint64_t dropped_backwards;   /* pts before the kind's previous one */
    uint64_t dropped_malformed;   /* not an Opus packet / VP8 frame header */
    uint64_t dropped_before_key;  /* VP8 delta frames before the first key frame */
    uint64_t dropped_after_error; /* frames offered after a write error */
    bool started;                 /* the file's header is written */
    uint16_t width, height;       /* the last key frame's picture, 0 before one */
    uint64_t file_bytes;          /* bytes handed to the kernel so far */
    int os_error; /* errno of the first failed write (ENOSPC: disk full), 0 if none */
} pl_recwebm_stats;

/* Creates (or truncates) the file at path (a file name, never taken for a
 * URL; a relative one is resolved again when close removes an empty file)
 * for a recording with an audio track, a video track or both, and returns
 * the writer in *out. The Opus
 * track is declared as WebRTC signals it (48 kHz, two channels) with a
 * pre-skip of 0: the recording starts in the middle of the sender's stream,
 * where the encoder's start-up delay is long past, so every packet plays at
 * exactly its pts, in step with the video. PL_EINVAL for a NULL path or
 * neither track; PL_EIO when the file cannot be created or (audio only,
 * whose header is written at once) written, with errno set to the OS
 * error; PL_ENOMEM. */
int pl_recwebm_open(const char *path, bool audio, bool video, pl_recwebm **out);

/* Writes one frame of kind at pts_us, microseconds on the recording's
 * timeline (written as given, in Matroska's milliseconds: a file whose first
 * frame is at 3 s starts at 3 s, in step with the recording's other files).
 * Whether a VP8 frame is a key frame, and its size, are read from the frame
 * itself. Per kind, pts must not go backwards; the two kinds may arrive a
 * little out of step with each other: they are written in pts order, one
 * kind waiting at most half a second for the other (a muted microphone or
 * camera holds nothing back longer).
 * Returns PL_OK when the frame is written or kept until the file starts;
 * otherwise the frame is dropped and counted:
 *   PL_EINVAL     NULL data, len 0, pts_us < 0, a kind the file does not
 *                 record, len above the kind's maximum, or pts before the
 *                 kind's previous one;
 *   PL_EMALFORMED not an Opus packet (its table of contents) or not a VP8
 *                 frame (its frame tag, a key frame's start code and size);
 *   PL_ESTATE     a VP8 delta frame before the first key frame (nothing
 *                 could decode it);
 *   PL_EIO        writing the file failed, now or before (disk full, I/O
 *                 error; the stats say which errno): nothing more is
 *                 written, but what is on disk stays readable;
 *   PL_ENOMEM. */
int pl_recwebm_write(pl_recwebm *w, pl_recwebm_kind kind, int64_t pts_us, const uint8_t *data,
                     size_t len);

void pl_recwebm_get_stats(const pl_recwebm *w, pl_recwebm_stats *out);

/* Finishes the file (writes what is still held, the duration and the cues)
 * and frees the writer, whatever happens. A file that wanted video but got
 * no key frame, and was not started by the wait above, is written with its
 * audio track only. A file that got no
 * frame at all is removed (players do not read a Matroska file without a
 * single block): PL_ENOTFOUND. PL_OK, or PL_EIO when a write failed now or
 * before (*os_error, when not NULL, then has the errno; 0 otherwise). NULL
 * is a no-op. */
int pl_recwebm_close(pl_recwebm *w, int *os_error);

#ifdef __cplusplus
}
#endif
#endif
