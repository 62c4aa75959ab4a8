/* The meeting's audio mix of a recording: Opus packets of several sources
 * (participants) in, one Ogg/Opus file (RFC 7845) out, and who spoke from
 * when to when.
 *
 * - Timeline: packets carry a pts in microseconds since the recording's
 *   epoch (the recording's shared timeline). Clock arguments (`now_us`,
 *   `end_us`) are on the caller's clock, the same one `epoch_us` was read
 *   from; the file's time 0 is `epoch_us`, and its duration is
 *   `end_us - epoch_us` given to pl_recmix_close, whatever the sources did:
 *   where no source has audio the mix is silence.
 * - Each source has its own libopus decoder (48 kHz, decoding to the mix's
 *   channel count). A packet is decoded when it is pushed into the
 *   source's window of PCM ahead of the mix; the mix then advances in
 *   20 ms frames up to `now - latency_us`, so a packet up to `latency_us`
 *   late is still mixed. A packet whose start was already mixed is a
 *   counted late drop (decoded all the same, so that the decoder's state
 *   stays continuous, but never mixed back in time).
 * - Packets of a source come in pts order. A gap of about one packet is
 *   filled with the decoder's loss concealment; a longer gap (mute, DTX,
 *   burst loss) is silence. A packet starting before the end of the
 *   previous one of its source (pts backwards) is a counted drop.
 * - The mix is the sum of the sources through a limiter (a gain that drops
 *   at once to keep the frame's peak under full scale and recovers by
 *   about 0.4 dB a frame), re-encoded with libopus in 20 ms frames.
 * - The file: OpusHead and OpusTags pages, then a page of audio at least
 *   every `page_us` of mixed time, each page handed out as soon as it is
 *   complete, so a crash loses at most the last page plus the latency;
 *   pl_recmix_close writes the last page with the end-of-stream flag and a
 *   granule position that trims the last frame to `end_us`.
 * - Speech: per source, the RMS level of each decoded 20 ms frame against
 *   `speech_dbfs`; a source speaks once `speech_on_us` of frames in a row
 *   are above it (from the first of them), and stops after `speech_off_us`
 *   of frames in a row below (at the end of its last loud frame).
 * - Sources are added on their first push, up to `max_sources`; their
 *   memory (decoder and PCM window) is allocated then, never per packet.
 *
 * Sans-IO: times are arguments, and the file's bytes leave through an
 * output queue (pl_recmix_output / pl_recmix_consume) that the caller
 * writes where it likes; pl_recmix_write_fd is the one place that does the
 * writing for a caller with a plain file descriptor. */
#ifndef PARLEY_RECMIX_H
#define PARLEY_RECMIX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "parley/common.h"

#ifdef __cplusplus
extern "C" {
#endif

#define PL_RECMIX_RATE 48000     /* samples per second, everywhere */
#define PL_RECMIX_FRAME 960      /* samples per mixed and encoded frame (20 ms) */
#define PL_RECMIX_MAX_SOURCES 64 /* default bound on sources */
#define PL_RECMIX_LATENCY_US 300000
#define PL_RECMIX_PAGE_US 500000
#define PL_RECMIX_BITRATE 48000
#define PL_RECMIX_SPEECH_DBFS (-45.0)
#define PL_RECMIX_SPEECH_ON_US 160000
#define PL_RECMIX_SPEECH_OFF_US 600000
/* How far beyond `latency_us` ahead of the mix a packet may end before it
 * is refused (the sources' windows hold this much). */
#define PL_RECMIX_AHEAD_US 1000000
#define PL_RECMIX_OUT_CAP (256 * 1024)

typedef struct pl_recmix pl_recmix;

/* Zero fields take the defaults above; pl_recmix_config_default fills them
 * in explicitly. */
typedef struct pl_recmix_config {
    int64_t epoch_us;      /* the caller's clock at the recording's time 0 */
    int channels;          /* 1 (default) or 2 */
    int bitrate;           /* bits per second of the encoded mix */
    bool music;            /* OPUS_APPLICATION_AUDIO instead of VOIP */
    int max_sources;       /* bound on sources at once, 1..1024 */
    int64_t latency_us;    /* how far behind `now` the mix runs */
    int64_t page_us;       /* mixed time per Ogg page at most */
    double speech_dbfs;    /* frame RMS level that counts as speech */
    int64_t speech_on_us;  /* loud this long in a row: speaking */
    int64_t speech_off_us; /* quiet this long in a row: stopped */
    size_t out_cap;        /* bytes the output queue holds undrained */
    const char *title;     /* optional TITLE comment in OpusTags */
} pl_recmix_config;

void pl_recmix_config_default(pl_recmix_config *cfg);

/* Creates the mixer and queues the OpusHead and OpusTags pages. `env`
 * supplies allocation and the stream's random serial number. Returns 0 and
 * *out, or PL_EINVAL (bad configuration), PL_ENOMEM, PL_ECRYPTO (libopus
 * refused to create the encoder). */
int pl_recmix_create(const pl_env *env, const pl_recmix_config *cfg, pl_recmix **out);
void pl_recmix_destroy(pl_recmix *m);

/* One Opus packet of `source` starting at `pts_us` (since the epoch),
 * received at `now_us`. Mixes up to now - latency first (as
 * pl_recmix_advance), then takes the packet. Returns 0 (taken, possibly
 * as a counted late packet: see pl_recmix_stats), or a counted drop:
 * PL_EMALFORMED (empty or undecodable packet), PL_EREPLAY (pts before the
 * end of the source's previous packet), PL_EINVAL (pts negative, or the
 * packet ends more than latency_us + PL_RECMIX_AHEAD_US ahead of the mix),
 * PL_ENOSPC (a new source while max_sources are present), PL_ENOMEM, or
 * PL_ESTATE (after close). */
int pl_recmix_push(pl_recmix *m, uint32_t source, int64_t pts_us, const uint8_t *opus, size_t len,
                   int64_t now_us);

/* Mixes and encodes every whole frame up to now - latency; completed
 * pages go to the output queue. Pushes advance too, but the caller must
 * also call this when pl_recmix_next_timeout is due (silence is mixed as
 * time passes, and pages leave only as the mix advances). 0, or
 * PL_ESTATE after close. */
int pl_recmix_advance(pl_recmix *m, int64_t now_us);

/* The caller's clock at which the next frame can be mixed. */
int64_t pl_recmix_next_timeout(const pl_recmix *m);

/* The source leaves: what it already pushed is still mixed, then its
 * decoder and window are freed (its slot can be taken by another source)
 * and its speech closes. A push of the same id before that takes it back.
 * 0 or PL_ENOTFOUND. */
int pl_recmix_remove(pl_recmix *m, uint32_t source);

/* Ends the file at `end_us`: mixes everything up to it whatever the
 * latency, closes open speech there, and queues the last page (end of
 * stream, end trimmed). An `end_us` before what was already mixed is
 * taken as the end of the mix. Further pushes are refused. 0 or
 * PL_ESTATE (closed already). */
int pl_recmix_close(pl_recmix *m, int64_t end_us);

/* The output queue: *data points at the bytes not yet consumed (valid
 * until the next call other than pl_recmix_output), their count is
 * returned. Pages are queued whole. */
size_t pl_recmix_output(const pl_recmix *m, const uint8_t **data);
void pl_recmix_consume(pl_recmix *m, size_t n);

/* Writes the whole output queue to `fd` (retrying partial writes and
 * EINTR) and consumes it. 0, or a negative errno (the unwritten bytes stay
 * queued; -ENOSPC for a full disk). */
int pl_recmix_write_fd(pl_recmix *m, int fd);

/* One interval of speech of one source, on the recording's timeline. */
typedef struct pl_recmix_speech {
    uint32_t source;
    int64_t start_us;
    int64_t end_us; /* for a source still speaking: the end of its last loud frame */
    bool open;      /* still speaking */
} pl_recmix_speech;

/* Copies up to `cap` intervals, in the order they started, into out[] and
 * returns how many there are in all (call with cap 0 to size an array). */
size_t pl_recmix_speech_get(const pl_recmix *m, pl_recmix_speech *out, size_t cap);

typedef struct pl_recmix_stats {
    uint64_t packets;        /* taken and decoded (late ones included) */
    uint64_t late;           /* decoded after their slot was mixed: not mixed */
    uint64_t malformed;      /* empty or undecodable */
    uint64_t backwards;      /* pts before the end of the previous packet */
    uint64_t out_of_range;   /* pts negative or too far ahead */
    uint64_t no_slot;        /* a new source beyond max_sources */
    uint64_t after_close;    /* pushed after close */
    uint64_t concealed;      /* gaps filled with loss concealment */
    uint64_t frames;         /* mixed and encoded 20 ms frames */
    uint64_t limited;        /* frames the limiter turned down */
    uint64_t pages;          /* Ogg pages queued, headers included */
    uint64_t out_dropped;    /* pages dropped: the output queue was full */
    uint64_t speech_dropped; /* intervals not kept: allocation failed */
    int sources;             /* present now */
    int64_t mixed_us;        /* the mix is complete up to here (timeline) */
} pl_recmix_stats;

void pl_recmix_get_stats(const pl_recmix *m, pl_recmix_stats *out);

#ifdef __cplusplus
}
#endif
#endif
