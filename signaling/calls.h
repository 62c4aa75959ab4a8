/* One-on-one calls (protocol section 4), with their own state: the calls
 * ringing or in progress, the ring timeout, the store of missed heads-ups
 * and the counters. They reach the rest of the core only through the ops
 * below, and users' devices through the user model. Not a public header. */
#ifndef PARLEY_SIG_CALLS_H
#define PARLEY_SIG_CALLS_H

#include <stdint.h>

#include <jansson.h>

#include "busmsg.h"
#include "model.h"
#include "parley/signal.h"
#include "parley/store.h"

typedef struct sig_calls sig_calls;

typedef struct sig_calls_ops {
    pl_sig *sig; /* passed back to every op */
    /* Sends a message to one connection, and releases it. */
    void (*send)(pl_sig *sig, conn *c, json_t *msg);
    void (*error)(pl_sig *sig, conn *c, json_t *re, const char *code, const char *message);
    /* A user while it has connections (its devices), else NULL. */
    sig_user *(*find_user)(pl_sig *sig, const char *user_id);
    /* A user's status may have changed from `before`: tell the others. */
    void (*presence_changed)(pl_sig *sig, const char *user_id, const char *before);
    /* Takes every member out of a room (an ended call's); a `leave` from
     * them later still gets `left`. */
    void (*close_room)(pl_sig *sig, const char *room);
    /* An event (call.outcome, call.ended) for the core to stamp and hand
     * on, and the time it was last told (for rings and durations). */
    void (*emit)(pl_sig *sig, pl_sig_event *ev);
    pl_sig_time (*now)(pl_sig *sig);
    /* An acknowledged heads-up's message is to be deleted. */
    void (*recording_delete)(pl_sig *sig, const char *id);
    /* A cluster (docs/cluster.md): whether there is one, a message to
     * another node (node filled in here), and a user's directory entry
     * (PL_OK, or not online anywhere). */
    bool (*clustered)(pl_sig *sig);
    void (*bus_send)(pl_sig *sig, pl_busmsg *m);
    int (*dir_get)(pl_sig *sig, const char *user_id, pl_sig_peer *out);
} sig_calls_ops;

typedef struct sig_calls_stats {
    size_t calls; /* ringing or in progress */
    uint64_t placed, accepted, missed;
} sig_calls_stats;

sig_calls *sig_calls_create(const pl_env *env, const sig_calls_ops *ops);
void sig_calls_destroy(sig_calls *k);
void sig_calls_set_ring_timeout(sig_calls *k, int64_t timeout_ms);
/* NULL: heads-ups are told as outcomes but not kept. */
void sig_calls_set_store(sig_calls *k, pl_store *store);
void sig_calls_stats_get(const sig_calls *k, sig_calls_stats *out);

/* online, dnd, ringing, in-call or offline: calls win over do-not-disturb. */
const char *sig_calls_user_status(const sig_calls *k, const char *user_id);
/* One heads-up as the protocol's MISSED (with its message when it has one). */
json_t *sig_calls_missed_item(const pl_missed *m);
/* The heads-ups waiting for a user, as a JSON array of MISSED. */
json_t *sig_calls_missed_json(const sig_calls *k, const char *user_id);

/* Requests: call; call-accept, call-decline, call-cancel, call-hangup;
 * missed-ack. */
void sig_calls_on_call(sig_calls *k, conn *c, json_t *msg, json_t *re, pl_sig_time now);
void sig_calls_on_action(sig_calls *k, conn *c, const char *type, json_t *msg, json_t *re);
void sig_calls_on_missed_ack(sig_calls *k, conn *c, json_t *msg, json_t *re);

/* May a connection join this room? NULL, or the error code to refuse with
 * (and why). */
const char *sig_calls_room_check(const sig_calls *k, const conn *c, const char *room,
                                 const char **why);
/* Where a call's room is hosted, for a connection allowed into it (after
 * sig_calls_room_check): NULL here (a call of this node, or no call's
 * room), or the id of the node a call from elsewhere lives on. */
const char *sig_calls_room_node(const sig_calls *k, const conn *c, const char *room);
/* A connection left the private room of its call: that hangs up. */
void sig_calls_room_left(sig_calls *k, conn *c, const char *room);
/* A connection is going away for good (closed, or lost past the grace). */
void sig_calls_conn_gone(sig_calls *k, conn *c);
/* A detached connection came back: it hears again where its call stands. */
void sig_calls_resumed(sig_calls *k, conn *c);
/* Rings nobody answered within the timeout end as missed. */
void sig_calls_tick(sig_calls *k, pl_sig_time now);

/* From another node: a call of a user here ringing a user there was
 * answered, declined, hung up... (PL_BUS_ACT); a call from there rings a
 * user here (PL_BUS_RING), or its node tells the user here how it goes
 * (PL_BUS_TELL). */
void sig_calls_on_bus(sig_calls *k, const pl_busmsg *m, pl_sig_time now);

#endif
