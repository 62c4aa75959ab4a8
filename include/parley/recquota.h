/* How much recording the server keeps (docs/recording.md): a per-user and
 * a per-server bound on bytes (--max-recording-mb) and an age after which
 * a recording expires (--recording-days). Pure policy: the caller passes
 * what is on disk (from pl_recfiles_each) and the time, and acts on the
 * answer (deletes, refuses a start, stops a recorder).
 *
 * The two bounds differ in kind:
 * - the per-user bound gates: a user over it cannot start a recording (nor
 *   leave a heads-up), and one who grows past it while recording is
 *   stopped; nothing of theirs is deleted for it, since what they keep is
 *   theirs to choose (lowering the bound deletes nothing either);
 * - the per-server bound evicts: it keeps the disk from filling, so when
 *   the recordings on disk exceed it the oldest finished ones go.
 *
 * Deletion order: expired recordings first, then the oldest by end time
 * until the total fits the server bound. Expired ones go whatever the
 * space, so taking them first often frees enough that nothing still within
 * its retention is touched. Beyond that, the oldest are the ones closest
 * to expiring anyway and the least likely to be watched, so evicting them
 * costs the least retention time; ties go by input order. A recording
 * being written is never deleted (its recorder is stopped instead, see
 * pl_recquota_check). */
#ifndef PARLEY_RECQUOTA_H
#define PARLEY_RECQUOTA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "parley/recmanifest.h"

#ifdef __cplusplus
extern "C" {
#endif

/* 0 in a field means "no bound". */
typedef struct pl_rec_limits {
    int64_t user_bytes;
    int64_t server_bytes;
    int64_t keep_ms; /* age (since the end) at which a recording expires */
    /* The room a recording needs to start: a start that would leave less
     * than this under a bound is refused. */
    int64_t start_bytes;
} pl_rec_limits;

/* Bounds from the options (MB are 2^20 bytes); start_bytes is 1 MB, about
 * ten seconds of a participant's video. PL_EINVAL for a negative value or
 * one too large to count in bytes. */
int pl_recquota_limits(pl_rec_limits *out, int64_t user_mb, int64_t server_mb, int64_t days);

/* A recording as the policy sees it: from its manifest (owner,
 * pl_rec_manifest_bytes, ended_ms, kind), except that for one being
 * written its recorder knows the bytes written so far. */
typedef struct pl_rec_usage {
    const char *owner; /* user id counted against */
    int64_t bytes;
    int64_t ended_ms; /* 0 while being written */
    /* Meetings and heads-ups are counted and evicted alike: a heads-up
     * counts against its caller as a meeting against who started it. */
    enum pl_rec_kind kind;
} pl_rec_usage;

/* Expired at now_ms: finished (ended_ms > 0) at least keep_ms ago. */
bool pl_recquota_expired(const pl_rec_limits *l, const pl_rec_usage *r, int64_t now_ms);

enum pl_recquota_verdict {
    PL_RECQUOTA_OK,
    PL_RECQUOTA_USER_FULL,   /* the owner's bound is reached */
    PL_RECQUOTA_SERVER_FULL, /* recordings being written fill the server's */
};

/* May `user` start a recording? Counts the user's recordings that have
 * not expired, and against the server bound only recordings being written
 * (finished ones will be evicted to make room). Expired ones are not
 * counted: the caller sweeps (pl_recquota_sweep) before starting. */
enum pl_recquota_verdict pl_recquota_may_start(const pl_rec_limits *l, const pl_rec_usage *recs,
                                               size_t n, const char *user, int64_t now_ms);

/* Must the recording recs[i], being written, stop now? Yes when its owner's
 * recordings that have not expired exceed the user bound, or the
 * recordings being written exceed the server bound. */
enum pl_recquota_verdict pl_recquota_check(const pl_rec_limits *l, const pl_rec_usage *recs,
                                           size_t n, size_t i, int64_t now_ms);

/* Which recordings to delete now, in the order above: their indices into
 * recs go to out[0..), which must hold n. Returns how many, or PL_EINVAL. */
int pl_recquota_sweep(const pl_rec_limits *l, const pl_rec_usage *recs, size_t n, int64_t now_ms,
                      size_t *out, size_t out_cap);

#ifdef __cplusplus
}
#endif
#endif
