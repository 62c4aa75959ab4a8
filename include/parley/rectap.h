/* A recording as the relay runs it: a thread of its own around one
 * pl_recorder (parley/recorder.h), fed by the media worker through a
 * queue, so that disk writes never hold up forwarding.
 *
 * - The worker hands it every media packet of a recorded publisher's
 *   transport (pl_rectap_push, from pl_router's PL_ROUTER_OUT_RECORD)
 *   and never waits: a full queue drops the packet, counted.
 * - The owner (the signaling side) says who is in the recording and on
 *   which publish transport their media come (a reconnection brings a new
 *   transport: the participant keeps its file and timeline). Each
 *   participant gets one audio track (its first microphone stream) and
 *   one video track (its camera: screen shares are not recorded); of a
 *   simulcast camera the largest layer that flows is recorded, and the
 *   recording moves to a smaller one while the largest stops.
 * - Its hooks run on its thread and may block on the disk: they are where
 *   the owner keeps the recording's manifest (a file is named in it before
 *   it is created) and hears of errors and of the end.
 * - Key frames the recorder waits for are asked of the worker through the
 *   keyframe hook (pl_worker_request_keyframe).
 *
 * Lifetime: pl_rectap_start starts the thread and returns the owner's
 * reference; the worker holds one per transport it taps (retain/release).
 * pl_rectap_stop ends the recording (the done hook follows on the thread);
 * pl_rectap_destroy stops it if needed, waits for the thread and drops the
 * owner's reference. The memory goes with the last reference, so a worker
 * that still taps a transport pushes into a stopped recording harmlessly
 * (counted). */
#ifndef PARLEY_RECTAP_H
#define PARLEY_RECTAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "parley/common.h"
#include "parley/recorder.h"
#include "parley/track.h"

#ifdef __cplusplus
extern "C" {
#endif

/* What the queue holds at most between the worker and the thread. */
#define PL_RECTAP_QUEUE_BYTES (16u << 20)

typedef struct pl_rectap pl_rectap;

/* One packet's place, as the router says it (parley/router.h). */
typedef struct pl_rectap_packet {
    uint64_t transport;
    char mid[PL_MID_MAX + 1];
    uint32_t ssrc;
    bool video, screen;
    uint8_t rank, n_layers;
    int64_t at_us; /* arrival, on the clock of the config's epoch */
} pl_rectap_packet;

/* Hooks, on the recording's thread; each may be NULL. */
typedef struct pl_rectap_hooks {
    void *user;
    /* A participant's file is about to be created as `file`: return PL_OK
     * to create it, anything else to record the participant's audio into
     * the mix only (its file not created; the error is the recording's). */
    int (*file)(void *user, const char *file, const char *participant, const char *display_name);
    /* The recording's first error (recorder.h: PL_EIO with the errno, or
     * PL_ENOSPC for the byte bound), once. */
    void (*error)(void *user, int error, int os_error);
    /* Ask the publisher of `transport` for a key frame of `ssrc`. */
    void (*keyframe)(void *user, uint64_t transport, uint32_t ssrc);
    /* The recording ended at end_us: every file is finished; the summary
     * is valid during the call. The last hook called. */
    void (*done)(void *user, const pl_recorder_summary *summary, int64_t end_us);
} pl_rectap_hooks;

typedef struct pl_rectap_config {
    pl_recorder_config recorder; /* dir, epoch, bound, no_mix, title */
    pl_rectap_hooks hooks;
    /* The thread's clock, in microseconds; NULL: the monotonic clock. A
     * test gives a virtual one, and pl_rectap_sync after each push. */
    int64_t (*clock)(void *user);
    void *clock_user;
} pl_rectap_config;

typedef struct pl_rectap_stats {
    uint64_t queued, queue_full; /* packets taken; dropped for a full queue */
    uint64_t unknown_transport;  /* from no participant's transport */
    uint64_t not_recorded;       /* screen shares, other streams, other layers */
    pl_recorder_stats recorder;  /* as of the thread's last turn */
} pl_rectap_stats;

/* Creates the recorder (its mix file) and starts the thread. PL_EINVAL,
 * PL_ENOMEM, PL_ECRYPTO (recorder.h), PL_EIO when no thread starts. */
int pl_rectap_start(const pl_env *env, const pl_rectap_config *cfg, pl_rectap **out);
void pl_rectap_retain(pl_rectap *t);
void pl_rectap_release(pl_rectap *t);

/* Owner's commands, queued (any thread). `media` as recorder.h's
 * PL_RECORDER_AUDIO | PL_RECORDER_VIDEO. PL_EINVAL (a bad id), PL_ESTATE
 * (stopped), PL_ENOMEM. */
int pl_rectap_add_participant(pl_rectap *t, const char *id, const char *display_name,
                              unsigned media, uint64_t transport);
/* The participant's media now come on `transport` (0: none for now). */
int pl_rectap_set_transport(pl_rectap *t, const char *id, uint64_t transport);
int pl_rectap_remove_participant(pl_rectap *t, const char *id);

/* From the worker: never blocks on the disk. */
void pl_rectap_push(pl_rectap *t, const pl_rectap_packet *p, const uint8_t *pkt, size_t len);

/* Waits until the thread has taken everything queued so far and finished
 * its turn (recorder advanced to its clock's time): with a virtual clock,
 * what was pushed is then placed at that time. */
void pl_rectap_sync(pl_rectap *t);

/* Ends the recording now (queued: what was pushed before is written). */
void pl_rectap_stop(pl_rectap *t);
/* Stops, waits for the thread to finish, drops the owner's reference.
 * NULL is a no-op. */
void pl_rectap_destroy(pl_rectap *t);

void pl_rectap_stats_get(pl_rectap *t, pl_rectap_stats *out);

#ifdef __cplusplus
}
#endif
#endif
