/* The durable store: what must survive a server restart. Today that is the
 * missed heads-ups (calls that rang unanswered or met do-not-disturb),
 * kept until the callee acknowledges them: in an embedded SQLite database
 * on one node, in Redis (shared by every node) in a cluster. Every write
 * is one transaction committed (SQLite) or appended and fsynced (Redis)
 * before the call returns, so a SIGKILL right after loses nothing that was
 * reported stored. Errors: PL_EIO when Redis cannot be reached now (the
 * next call tries again), PL_EINVAL when SQLite fails. */
#ifndef PARLEY_STORE_H
#define PARLEY_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "parley/common.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct pl_store pl_store;

/* Per callee at most this many heads-ups are kept: the oldest go first, so
 * a caller who keeps ringing a focused colleague cannot grow the store. */
#define PL_STORE_MAX_MISSED 200

typedef struct pl_missed {
    char call_id[32];
    char from_id[65]; /* a user id: PL_AUTH_ID_MAX + 1 */
    char from_name[257];
    char topic[801]; /* "" when the call had none */
    int64_t ts_ms;   /* when the call was placed, ms since the epoch */
    char reason[8];  /* "missed", "dnd", "busy" or "message" */
    /* A video heads-up left with it (docs/protocol.md, "Video heads-ups"):
     * its recording's id ("" for none), the file to play, its length. */
    char message_id[23];
    char message_file[81];
    bool message_audio_only;
    int64_t message_ms;
} pl_missed;

/* Opens (creating if needed) the database at `path`; ":memory:" gives a
 * private in-memory store for tests. */
int pl_store_create(const pl_env *env, const char *path, pl_store **out);
/* Opens the store in the Redis at `url` (redis://[:password@]host[:port][/db]),
 * which must run with appendonly yes and appendfsync always: PL_ESTATE
 * (logged, with what to change) when it does not, PL_EIO when it cannot be
 * reached, PL_EINVAL for a bad URL. */
int pl_store_open_redis(const pl_env *env, const char *url, pl_store **out);
void pl_store_destroy(pl_store *st);

/* Stores a heads-up for `to_user`. Adding the same call_id twice keeps one. */
int pl_store_add_missed(pl_store *st, const char *to_user, const pl_missed *m);
/* Attaches m's message to the heads-up m->call_id of `to_user`, storing
 * the heads-up (all of m) first when it is not there: one transaction. */
int pl_store_set_message(pl_store *st, const char *to_user, const pl_missed *m);
/* The heads-up call_id of `to_user` into *out; PL_ENOTFOUND. */
int pl_store_get_missed(pl_store *st, const char *to_user, const char *call_id, pl_missed *out);
/* Calls fn for each heads-up of `to_user`, oldest first; returns how many
 * or a negative PL_E* code. */
int pl_store_each_missed(pl_store *st, const char *to_user,
                         void (*fn)(void *arg, const pl_missed *m), void *arg);
/* Removes one heads-up of `to_user`; someone else's call_id is left alone
 * (PL_ENOTFOUND), as is an unknown one. */
int pl_store_ack_missed(pl_store *st, const char *to_user, const char *call_id);
/* Heads-ups kept for every user, not yet acknowledged; a negative PL_E*
 * code when the database cannot say. */
int64_t pl_store_count_missed(pl_store *st);

#ifdef __cplusplus
}
#endif
#endif
