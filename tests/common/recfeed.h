/* What the recorder's tests send and how they read it back: participants
 * whose real VP8 (the bot's clips, libvpx) and real Opus (libopus, a tone
 * while they talk) go out as RTP packets written with the project's
 * writer, arriving with jitter on a virtual clock; events (packets, tracks
 * and participants coming and going) played in arrival order into a
 * pl_recorder as its thread would; the files decoded back by the real
 * ffmpeg and ffprobe. Checks are cmocka assertions. */
#ifndef PARLEY_TEST_RECFEED_H
#define PARLEY_TEST_RECFEED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <unistd.h>

#include <opus.h>

#include "content.h"
#include "parley/recorder.h"

#define MS 1000LL
#define SEC 1000000LL
#define EPOCH (100 * SEC) /* the test's clock at the recording's time 0 */
#define SR 48000
#define FPS 30
#define AMP 0.3 /* of every tone sent */
#define MAX_PAYLOAD 1200

/* In a forked child a failed check exits instead of jumping back into
 * cmocka, which would run the remaining tests in the child too. */
extern bool rt_in_child;
#define must(x)                                                                                    \
    do {                                                                                           \
        if (!(x)) {                                                                                \
            if (rt_in_child)                                                                       \
                _exit(100);                                                                        \
            fail_msg("%s", #x);                                                                    \
        }                                                                                          \
    } while (0)

/* Three clips of four seconds (key frames at 0 and 2 s), each of its own
 * size: a participant's video is told by its size. */
extern pl_clip *rt_clips[3];
extern const unsigned rt_sizes[3][2];
/* Talking all the time. */
extern const double rt_talk_all[];

/* cmocka group setup and teardown: the clips and a temporary root. */
int rt_setup(void **state);
int rt_teardown(void **state);
/* A new directory under the root for one test; a file in a directory. */
void rt_dir(char *out, size_t cap, const char *name);
void rt_path(char *out, size_t cap, const char *dir, const char *name);
uint32_t rt_rand(void);

enum { RT_PKT, RT_ADD_TRACK, RT_RM_TRACK, RT_ADD_PART, RT_RM_PART };

typedef struct rt_ev {
    int64_t at; /* arrival on the test's clock */
    size_t order;
    int op;
    uint32_t key;
    int codec; /* RT_ADD_TRACK: pl_recframe_codec; RT_ADD_PART: media */
    const char *who;
    uint16_t len;
    uint8_t b[MAX_PAYLOAD + 64];
} rt_ev;

typedef struct rt_events {
    rt_ev *e;
    size_t n, cap;
} rt_events;

typedef struct rt_sender {
    const char *id;
    uint32_t akey, vkey, assrc, vssrc;
    uint16_t aseq, vseq, pic;
    uint32_t abase, vbase; /* RTP timestamps at time 0 */
    int64_t vsrc_t0;       /* when the current video source started: its key frame */
    double hz;
    const pl_clip *clip; /* NULL: audio only */
    OpusEncoder *enc;
    const double *talk; /* on/off pairs, seconds; ends with a negative */
    int64_t slow_until; /* sent before it: a path slower by 300 ms (0: none) */
} rt_sender;

/* A participant with track keys `keys` (audio) and keys + 1 (video). */
void rt_sender_init(rt_sender *s, const char *id, uint32_t keys, double hz, const pl_clip *clip,
                    const double *talk);
void rt_sender_free(rt_sender *s);
/* A new source from t: new SSRCs, sequence numbers and timestamps, the
 * video from a key frame (what a reconnected peer connection sends). */
void rt_source(rt_sender *s, int64_t t);
/* Its packets sent in [t0, t1): audio every 20 ms, video at 30 fps. */
void rt_send_audio(rt_events *l, rt_sender *s, int64_t t0, int64_t t1);
void rt_send_video(rt_events *l, rt_sender *s, int64_t t0, int64_t t1);
void rt_send(rt_events *l, rt_sender *s, int64_t t0, int64_t t1);
/* Another event at t (since the epoch). */
void rt_op(rt_events *l, int64_t t, int op, const char *who, uint32_t key, int codec);
int rt_by_arrival(const void *a, const void *b);

typedef struct rt_keyframes {
    int n;
    int64_t at[64];
    uint32_t key[64], ssrc[64];
} rt_keyframes;

/* What the recorder's thread does: advance at each timeout up to now,
 * with the keyframe requests polled (into k, which may be NULL). */
void rt_run_until(pl_recorder *r, int64_t now, rt_keyframes *k);
/* Plays the events from `from` arriving before `until` (sorted by
 * arrival); every one must succeed. Returns where it stopped. */
size_t rt_feed_range(pl_recorder *r, rt_events *l, size_t from, int64_t until, rt_keyframes *k);
/* Sorts and plays them all, then empties the list. */
void rt_feed(pl_recorder *r, rt_events *l, rt_keyframes *k);

pl_recorder *rt_recorder(const char *dir, uint64_t max_bytes);
void rt_join(pl_recorder *r, rt_sender *s, unsigned media);
const pl_recorder_file *rt_summary_file(const pl_recorder_summary *s, const char *name);

/* Which of the k tones sound in [t0, t1) s: a bit per tone, each present
 * at more than a third of AMP or absent below a thirtieth. */
unsigned rt_tones(const float *x, size_t n, double t0, double t1, const double *hz, int k);
/* Packet times (s) of a file's first stream of a kind: at most cap. */
size_t rt_packet_times(const char *file, char kind, double *out, size_t cap);
/* One timeline: the packet times of a file's first stream of a kind
 * strictly increasing, audio never overlapping (20 ms packets); returns
 * the longest gap, where it starts and the packet count. */
double rt_one_timeline(const char *file, char kind, double *gap_at, size_t *count);
/* The file's VP8 at w x h and 30 fps, and its Opus. */
void rt_check_tracks(const char *file, unsigned w, unsigned h);

#endif
