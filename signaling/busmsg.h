/* The messages nodes of a cluster send each other through Redis pub/sub
 * (docs/cluster.md): a call ringing a user on another node, that user's
 * answer, what the call's node tells that user, and presence. JSON text,
 * versioned; decoding checks every field's type and length, so a message
 * from a node of another version, or garbage, is dropped and counted.
 * Sans-IO. Not a public header. */
#ifndef PARLEY_SIG_BUSMSG_H
#define PARLEY_SIG_BUSMSG_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "parley/auth.h"
#include "parley/common.h"

#define PL_BUS_VERSION 1
#define PL_BUS_NODE_MAX 16 /* hex characters of a node id */

typedef enum pl_bus_kind {
    /* To the callee's channel: a call from a user of node `node` rings. */
    PL_BUS_RING,
    /* To the caller's channel: the callee (user) did `action` on its node:
     * accept, decline, hangup, gone (its last device, or the device in the
     * call, went), busy (it was in another call when the ring came). */
    PL_BUS_ACT,
    /* To the callee's channel: `msg` for its devices (call-accepted,
     * call-declined, call-cancelled, call-missed, call-ended, call-busy);
     * `end`: the call is over. */
    PL_BUS_TELL,
    /* To every node: user (id, name) has `status` on node `node`. */
    PL_BUS_PRESENCE,
} pl_bus_kind;

typedef struct pl_busmsg {
    pl_bus_kind kind;
    char node[PL_BUS_NODE_MAX + 1];  /* the sender */
    char call_id[16];                /* all but presence */
    char user[PL_AUTH_ID_MAX + 1];   /* ring, tell: the callee; act: the one acting; presence */
    char caller[PL_AUTH_ID_MAX + 1]; /* ring, act: the caller (whose channel acts go to) */
    char name[257];                  /* ring: the caller's name; presence: the user's */
    char topic[801];                 /* ring: "" when none */
    bool audio_only;                 /* ring */
    char word[8];                    /* act: the action; presence: the status */
    json_t *msg;                     /* tell: owned, released by pl_busmsg_clear */
    bool end;                        /* tell */
} pl_busmsg;

/* JSON text of m (free() it), or NULL without memory. */
char *pl_busmsg_encode(const pl_busmsg *m);
/* PL_OK, or PL_EMALFORMED (nothing to clear then). */
int pl_busmsg_decode(const char *text, size_t len, pl_busmsg *out);
void pl_busmsg_clear(pl_busmsg *m);

/* The channel a message goes to: "parley:user:<id>" or "parley:presence". */
#define PL_BUS_USER_PREFIX "parley:user:"
#define PL_BUS_PRESENCE_CHANNEL "parley:presence"
int pl_busmsg_channel(const pl_busmsg *m, char *out, size_t cap);

#endif
