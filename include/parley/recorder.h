/* A recording session: what the relay drives for one recording. Decrypted
 * RTP packets of the recorded participants in, one WebM file per
 * participant (parley/recwebm.h: their VP8 and Opus as received) and the
 * meeting's mixed audio (parley/recmix.h: mix.ogg) out, with who spoke
 * from when to when for the manifest (docs/recording.md).
 *
 * Clock-free: every time is an argument, on the caller's clock (the one
 * `epoch_us` was read from); the files' timeline is microseconds since
 * the epoch, shared by every file so that they line up.
 *
 * - Participants and tracks: a participant (its id names its file) has at
 *   most one audio (Opus) and one video (VP8) track at a time, each known
 *   by a key the caller chooses (a source id, the publisher's SSRC), unique
 *   in the recording. Each track has its own pl_recframe (parley/recframe.h)
 *   that turns its packets into frames on the timeline.
 * - Files: adding a participant creates `<id>.webm` in the directory at
 *   once, so that the caller names it in the manifest first
 *   (pl_recorder_file_name says the name). The file records the kinds
 *   given at add: pass both for a meeting (a camera turned on later still
 *   finds its track; one that never comes leaves an empty video track,
 *   see recwebm.h), audio only for an audio heads-up. Creating the
 *   recorder creates `mix.ogg` unless `no_mix`.
 * - Reconnection: a participant whose media comes back on new SSRCs keeps
 *   its file and its one timeline, whether the caller keeps the track key
 *   (recframe switches to the new SSRC at its first frame that can start
 *   it) or removes the old track and adds a new one. A mute is a gap of
 *   its real length. A frame of a new source that would overlap what the
 *   file already has is moved just after it: audio right after the last
 *   packet (the file and the mix stay without overlap), video a frame's
 *   spacing after the last frame (players take closer frames for
 *   duplicates); the source stays moved until a silence or pause gives
 *   it room at its own time. A participant *removed* has left: its
 *   file is finished (duration, cues); if the same id is added again, it
 *   gets a new file `<id>.2.webm` (then `.3`, ...) on the same timeline,
 *   as a finished file is never reopened.
 * - Key frames: a video track whose output waits for a key frame (at its
 *   start, after a loss, during a switch) is handed out by
 *   pl_recorder_poll_keyframe at most once per PL_RECORDER_PLI_US, so the
 *   relay sends a PLI to the SSRC given.
 * - Errors never stop the recording as a whole: a file whose creation or
 *   write fails (disk full: PL_EIO and the errno) is closed, what it has
 *   stays readable, and the participant's further frames are counted
 *   drops (their audio is still mixed); the mix's file failing leaves the
 *   mix running for the speech intervals. The first error stays in
 *   pl_recorder_error for the caller to tell the participants.
 * - Bounded: past `max_bytes` written in all (the caller's remaining
 *   quota) every file is finished where it is and nothing more is
 *   written (PL_ENOSPC). Bytes are counted as they reach the kernel, so
 *   the files may pass the bound by about a cluster each (recwebm.h) and
 *   their cues.
 * - Crash safety is the files' own: recwebm hands each cluster to the
 *   kernel as it closes, and every Ogg page of the mix is written as soon
 *   as recmix completes it, so a killed process leaves files readable up
 *   to their last second or so.
 *
 * Threading: blocking file I/O. The relay runs one recorder per recording
 * on a recorder thread, fed through a queue by the media worker, so that
 * disk writes never hold up forwarding; this module itself is
 * single-threaded and takes no lock. */
#ifndef PARLEY_RECORDER_H
#define PARLEY_RECORDER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "parley/common.h"
#include "parley/recframe.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Sizes of names, as the manifest's (recmanifest.h). A participant id is
 * 1-64 of [A-Za-z0-9._-] starting with a letter or digit, as it names a
 * file. */
#define PL_RECORDER_ID_MAX 64
#define PL_RECORDER_FILE_MAX 80
#define PL_RECORDER_DISPLAY_MAX 256
#define PL_RECORDER_MIX_FILE "mix.ogg"
/* Keyframe requests per track at most once per this. */
#define PL_RECORDER_PLI_US 500000
#define PL_RECORDER_MAX_PARTICIPANTS 256

/* What a participant's file records (pl_recorder_add_participant). */
#define PL_RECORDER_AUDIO 1u
#define PL_RECORDER_VIDEO 2u

typedef struct pl_recorder pl_recorder;

typedef struct pl_recorder_config {
    const char *dir;      /* an existing directory the files go into */
    int64_t epoch_us;     /* the caller's clock at the recording's time 0 */
    uint64_t max_bytes;   /* bytes to write in all; 0: no bound */
    bool no_mix;          /* no mix.ogg and no speech (a heads-up) */
    int max_participants; /* distinct ids over the recording; 0: the default */
    const char *title;    /* optional TITLE of the mix */
} pl_recorder_config;

/* One file of the recording, for the manifest. */
typedef struct pl_recorder_file {
    char name[PL_RECORDER_FILE_MAX + 1];            /* "p1.webm", "p1.2.webm", "mix.ogg" */
    char participant[PL_RECORDER_ID_MAX + 1];       /* "" for the mix */
    char display_name[PL_RECORDER_DISPLAY_MAX + 1]; /* UTF-8, whole characters */
    bool mix;
    bool open;    /* still being written */
    bool present; /* on disk: false when it could not be created, or when
                     a participant's file got no frame at all (removed) */
    uint64_t bytes;
    uint64_t frames[2]; /* written: [0] audio, [1] video (pl_recwebm_kind) */
    /* PL_OK; PL_EIO when creating or writing it failed (os_error: the
     * errno, ENOSPC for a full disk); PL_ENOSPC when the byte bound
     * finished it early (it is whole and playable). */
    int error;
    int os_error;
} pl_recorder_file;

/* Someone spoke from start_ms to end_ms since the epoch (the files'
 * timeline), as the manifest's speech. */
typedef struct pl_recorder_speech {
    char participant[PL_RECORDER_ID_MAX + 1];
    int64_t start_ms, end_ms;
} pl_recorder_speech;

/* Valid until the next call on the recorder. */
typedef struct pl_recorder_summary {
    const pl_recorder_file *files; /* in the order they were created */
    size_t n_files;
    const pl_recorder_speech *speech; /* in the order they started */
    size_t n_speech;
    int error, os_error; /* as pl_recorder_error */
} pl_recorder_summary;

typedef struct pl_recorder_stats {
    uint64_t packets;           /* pushed */
    uint64_t frames[2];         /* written into participants' files, per kind */
    uint64_t mixed;             /* Opus packets taken by the mix */
    uint64_t keyframe_requests; /* handed out by pl_recorder_poll_keyframe */
    uint64_t moved;             /* frames moved after what their file already had */
    uint64_t misplaced;         /* dropped: a source placed over a second before its
                                   file's end, until it comes after it */
    /* Drops, by reason. */
    uint64_t unknown_track; /* no track with that key */
    uint64_t malformed;     /* refused by the track's recframe (not RTP, bad VP8) */
    uint64_t file_refused;  /* refused by the WebM writer (see recwebm.h) */
    uint64_t file_failed;   /* frames of a file that failed or was finished */
    uint64_t quota;         /* frames past the byte bound */
    uint64_t mix_refused;   /* refused by the mix (late, out of range) */
    uint64_t after_stop;    /* pushed after stop */
    uint64_t mix_discarded; /* bytes of the mix not written (its file failed) */
    uint64_t bytes;         /* written in all */
    int files_open, files_failed;
    /* Every track's recframe counters added up, removed tracks included:
     * its own drops (late, duplicates, incomplete frames, ...). */
    pl_recframe_stats tracks;
} pl_recorder_stats;

/* Creates the recorder and, unless no_mix, mix.ogg in cfg->dir. A mix
 * file that cannot be created is reported as that file's error (and by
 * pl_recorder_error), not here: the recording goes on. PL_EINVAL (no
 * dir, a bad bound), PL_ENOMEM, PL_ECRYPTO (libopus refused). */
int pl_recorder_create(const pl_env *env, const pl_recorder_config *cfg, pl_recorder **out);

/* Finishes what is still open as pl_recorder_stop would, except the mix,
 * which is left as a crash would leave it (readable, without its last
 * page); frees everything. NULL is a no-op. */
void pl_recorder_destroy(pl_recorder *r);

/* The name the next add of participant `id` creates ("<id>.webm", then
 * "<id>.2.webm", ...), into out[cap]. PL_EINVAL for an id that cannot name
 * a file, PL_ENOSPC when cap is too small. */
int pl_recorder_file_name(const pl_recorder *r, const char *id, char *out, size_t cap);

/* A participant joins the recording: its file is created now, recording
 * `media` (PL_RECORDER_AUDIO | PL_RECORDER_VIDEO). display_name (may be
 * NULL) goes into the summary, cut at PL_RECORDER_DISPLAY_MAX bytes of
 * whole UTF-8 characters. PL_OK; PL_EIO when the file could not be
 * created (errno has why): the participant is added all the same, its
 * audio mixed, its file's entry carrying the error; PL_ENOSPC past the
 * byte bound: added the same way, no file created; PL_EINVAL (a bad id or
 * media), PL_ESTATE (present already, or stopped), PL_ENOSPC (more than
 * max_participants ids: not added), PL_ENOMEM. */
int pl_recorder_add_participant(pl_recorder *r, const char *id, const char *display_name,
                                unsigned media);

/* The participant leaves: its tracks are flushed (what they hold is
 * written) and removed, its file finished, its mix source removed (what it
 * already gave is still mixed). PL_ENOTFOUND when not present, PL_ESTATE
 * after stop. */
int pl_recorder_remove_participant(pl_recorder *r, const char *id, int64_t now_us);

/* A track of a present participant: Opus is its audio, VP8 its video.
 * PL_ENOTFOUND (no such participant), PL_EINVAL (key in use, a codec the
 * participant's file does not record), PL_ESTATE (it has a track of that
 * kind already: remove it first; or stopped), PL_ENOMEM. */
int pl_recorder_add_track(pl_recorder *r, const char *participant_id, uint32_t key,
                          pl_recframe_codec codec);

/* The track ends: what it holds is flushed into the file, then it is
 * freed (the participant's file stays open). PL_ENOTFOUND, PL_ESTATE. */
int pl_recorder_remove_track(pl_recorder *r, uint32_t key, int64_t now_us);

/* One whole decrypted RTP packet of track `key` (RTX unwrapped, other
 * payload types left out) that arrived at now_us; the frames it completes
 * are written at once. Simulcast: feed the layer recorded under the
 * track's key; to change layers feed both until pl_recorder_track_source
 * names the new one (recframe.h). PL_OK when taken, else a counted drop:
 * PL_ENOTFOUND (unknown key), PL_EMALFORMED / PL_EUNSUPPORTED / PL_ENOSPC
 * (refused by the track's recframe), PL_EIO / PL_ENOSPC (video of a file
 * that failed or was finished by the byte bound; audio is still taken for
 * the mix when there is one), PL_ESTATE (stopped). */
int pl_recorder_push(pl_recorder *r, uint32_t key, const uint8_t *pkt, size_t len, int64_t now_us);

/* The SSRC track `key`'s frames come from now; 0 before any packet or
 * for an unknown key. */
uint32_t pl_recorder_track_source(const pl_recorder *r, uint32_t key);

/* Does what waits for time: frames given up or placed (recframe's
 * timeouts), the mix advanced and its pages written. Call it when
 * pl_recorder_next_timeout comes (and as often as convenient). PL_OK or
 * PL_ESTATE after stop. */
int pl_recorder_advance(pl_recorder *r, int64_t now_us);

/* When pl_recorder_advance (or pl_recorder_poll_keyframe) has something
 * to do with no new packet; INT64_MAX when nothing waits. With a mix,
 * every 20 ms. */
int64_t pl_recorder_next_timeout(const pl_recorder *r);

/* A video track whose file waits for a key frame and was not asked for
 * one in the last PL_RECORDER_PLI_US: true with its key and the SSRC to
 * send a PLI to (the call records the request). Call until false. */
bool pl_recorder_poll_keyframe(pl_recorder *r, int64_t now_us, uint32_t *key, uint32_t *ssrc);

/* A new byte bound (0: none), the quota left having changed. A recording
 * that reached its bound stays stopped writing. */
void pl_recorder_set_max_bytes(pl_recorder *r, uint64_t max_bytes);

/* The first error of the recording: PL_OK, PL_EIO (a file could not be
 * created or written; *os_error the errno) or PL_ENOSPC (the byte bound).
 * Sticky. os_error may be NULL. */
int pl_recorder_error(const pl_recorder *r, int *os_error);

/* The files so far (bytes as of now) and the speech so far. PL_OK or
 * PL_ENOMEM (then without speech). */
int pl_recorder_summary_get(pl_recorder *r, pl_recorder_summary *out);

/* Ends the recording at end_us: every track flushed, every file
 * finished, the mix closed at end_us (its duration is end_us - epoch),
 * open speech closed; then the summary (out may be NULL). Later calls
 * other than the getters and destroy are PL_ESTATE. Returns the summary's
 * status: PL_OK or PL_ENOMEM; file errors are in the summary. */
int pl_recorder_stop(pl_recorder *r, int64_t end_us, pl_recorder_summary *out);

void pl_recorder_stats_get(const pl_recorder *r, pl_recorder_stats *out);

#ifdef __cplusplus
}
#endif
#endif
