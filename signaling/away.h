/* Calls placed on another node of a cluster to a user of this one
 * (docs/cluster.md): the call itself lives on the caller's node; here are
 * the user's devices, which ring, answer and hang up through the bus, and
 * the status they give the user meanwhile. Not a public header. */
#ifndef PARLEY_SIG_AWAY_H
#define PARLEY_SIG_AWAY_H

#include <stdbool.h>
#include <stdint.h>

#include "calls.h"

typedef struct sig_away sig_away;

/* ops must outlive it (they are the calls' own). */
sig_away *sig_away_create(const pl_env *env, const sig_calls_ops *ops);
void sig_away_destroy(sig_away *a);
size_t sig_away_count(const sig_away *a);
/* "ringing" or "in-call" while a call from elsewhere is, else NULL. */
const char *sig_away_status(const sig_away *a, const char *user_id);

/* A ring for a user with devices here (else ignored: another node has
 * them); busy: the user is in a call already, which the caller's node is
 * told. */
void sig_away_on_ring(sig_away *a, const pl_busmsg *b, bool busy, int64_t now_ms);
/* The caller's node tells the user's devices how the call goes. */
void sig_away_on_tell(sig_away *a, const pl_busmsg *b);
/* call-accept, call-decline, call-cancel, call-hangup for call `id`: false
 * when it is none of the calls from elsewhere (nothing was done). */
bool sig_away_on_action(sig_away *a, conn *c, const char *type, const char *id, json_t *re);
/* Is c a party to the accepted call whose room this is? */
bool sig_away_room_party(const sig_away *a, const conn *c, const char *room);
/* The node the call lives on (its room with it), when c is a party to the
 * accepted call from elsewhere whose room this is; NULL otherwise. */
const char *sig_away_room_node(const sig_away *a, const conn *c, const char *room);
/* c left the room of an accepted call from elsewhere: that hangs up. */
void sig_away_room_left(sig_away *a, conn *c, const char *room);
void sig_away_conn_gone(sig_away *a, conn *c);
void sig_away_resumed(sig_away *a, conn *c);
/* A ring the caller's node never ended (that node went away) ends as
 * missed some seconds after the ring timeout. */
void sig_away_tick(sig_away *a, int64_t now_ms, int64_t ring_timeout_ms);

#endif
