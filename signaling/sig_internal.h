/* Inside the signaling core: the state that core.c (sessions, rooms,
 * media) and calls.c (one-on-one calls, presence status) share, and the
 * helpers they both use. Not a public header. */
#ifndef PARLEY_SIG_INTERNAL_H
#define PARLEY_SIG_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "parley/auth.h"
#include "parley/sdp.h"
#include "parley/signal.h"
#include "parley/store.h"
#include "parley/track.h"

#include "model.h"

#define CHAT_MAX_CHARS 4096
#define TOPIC_MAX_CHARS 200
#define SDP_OUT_MAX 16384

struct pl_sig {
    pl_env env;
    pl_sig_io io;
    bool has_media;
    pl_sig_media media;
    uint64_t next_transport;
    pl_sdp_desc *offer; /* scratch for parsing, reused */
    pl_sdp_accepted acc[PL_SDP_MAX_MEDIA];
    sig_model m;
    uint64_t bad_messages;
    int64_t grace_ms;
    uint64_t resumed, timed_out;
    /* One-on-one calls (calls.c) and the durable store of missed heads-ups
     * (NULL: heads-ups live only as long as the process). */
    struct call *calls;
    int64_t ring_timeout_ms;
    pl_store *store;
    const pl_auth *auth; /* NULL: open mode */
    uint64_t calls_placed, calls_accepted, calls_missed;
    uint64_t auth_refused, rate_limited;
    size_t max_participants, max_rooms;
};

/* One call from the moment it rings until it ends (then it is freed). */
typedef struct call {
    char id[16];
    char room[24]; /* "call-<id>": the private room of an accepted call */
    char caller_user[PL_AUTH_ID_MAX + 1], callee_user[PL_AUTH_ID_MAX + 1];
    char caller_name[NAME_MAX_BYTES + 1], callee_name[NAME_MAX_BYTES + 1];
    conn *caller;   /* the device that placed the call */
    conn *answered; /* the callee device that took it; NULL while ringing */
    char topic[TOPIC_MAX_CHARS * 4 + 1];
    bool audio_only;
    int64_t placed_at; /* monotonic ms: the ring timeout */
    int64_t placed_ts; /* wall ms: the heads-up's `ts` */
    struct call *next;
} call;

/* core.c */
void sig_send(pl_sig *s, conn *c, json_t *msg);
json_t *sig_reply(const char *type, json_t *re);
void sig_error(pl_sig *s, conn *c, json_t *re, const char *code, const char *message);
json_t *sig_user_json(const conn *c);
/* Code points of a printable UTF-8 string, or -1 with a control character. */
long sig_printable_chars(const char *t);
void sig_leave_room(pl_sig *s, conn *c, const char *reason);
/* Tells every other user that this user's status changed from `before`
 * (nothing is sent when it did not). */
void sig_presence_changed(pl_sig *s, const char *user_id, const char *before);

/* calls.c */
/* online, dnd, ringing or in-call: calls win over do-not-disturb. */
const char *sig_user_status(const pl_sig *s, const char *user_id);
void sig_on_call(pl_sig *s, conn *c, json_t *msg, json_t *re, pl_sig_time now);
/* call-accept, call-decline, call-cancel and call-hangup. */
void sig_on_call_action(pl_sig *s, conn *c, const char *type, json_t *msg, json_t *re);
void sig_on_missed_ack(pl_sig *s, conn *c, json_t *msg, json_t *re);
/* The heads-ups waiting for a user, as a JSON array of MISSED. */
json_t *sig_missed_json(pl_sig *s, const char *user_id);
/* May a connection join this room? 0, or the error code to refuse with. */
const char *sig_call_room_check(pl_sig *s, const conn *c, const char *name, const char **why);
/* A connection left the private room of its call: that hangs up. */
void sig_call_room_left(pl_sig *s, conn *c, const char *name);
/* A connection is going away for good (closed, or lost past the grace). */
void sig_calls_conn_gone(pl_sig *s, conn *c);
/* A detached connection came back: it hears again where its call stands. */
void sig_calls_resumed(pl_sig *s, conn *c);
void sig_calls_tick(pl_sig *s, pl_sig_time now);
void sig_calls_destroy(pl_sig *s);

#endif
