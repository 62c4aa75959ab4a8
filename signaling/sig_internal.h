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

#define NAME_MAX_CHARS 64
#define ROOM_MAX_CHARS 64
#define CHAT_MAX_CHARS 4096
#define TOPIC_MAX_CHARS 200
#define SDP_OUT_MAX 16384

/* A published track: what the relay forwards (parley/track.h), and what the
 * room is told about it. */
typedef struct track {
    pl_track media;
    char id[48];
    enum pl_sdp_kind kind;
    char source[12];
    bool muted;
} track;

/* One m-section of a participant's subscribe transport. Slots are never
 * removed, only made inactive, so mids stay stable across renegotiations. */
typedef struct slot {
    char mid[PL_MID_MAX + 1];
    bool active;
    char track_id[48];
    char participant_id[24];
    enum pl_sdp_kind kind;
    char source[12];
    /* What the relay is told: the publisher's transport and mid, our SSRC
     * and payload type, RTX once the answer took it, and whether the
     * subscriber paused it (`subscription`). */
    pl_route route;
    uint32_t offered_rtx_ssrc; /* video: the RTX stream offered (RFC 4588) */
    int max_width, max_height;
} slot;

typedef struct room {
    char name[ROOM_MAX_CHARS + 1];
    size_t members;
    char speakers[512]; /* the last `speakers` list sent, as JSON */
    struct room *next;
} room;

typedef struct conn {
    uint64_t id;
    bool welcomed;
    /* Resuming after a dropped WebSocket: the token from `welcome`, and
     * while detached, when the connection went (the session is kept for
     * the reconnection grace period, invisible to the others). */
    char resume_token[33];
    bool detached;
    int64_t detached_at; /* monotonic ms */
    char user_id[PL_AUTH_ID_MAX + 1];
    /* What the access token allows (everything in open mode). */
    char only_room[ROOM_MAX_CHARS + 1];
    bool can_publish, can_subscribe;
    char name[NAME_MAX_CHARS * 4 + 1];
    bool dnd;
    room *room;
    /* The private room of a call that ended while this connection was in
     * it: the server took it out, and a later `leave` still gets `left`. */
    char closed_room[ROOM_MAX_CHARS + 1];
    char participant_id[24];
    unsigned strikes;
    /* Message rate: a token bucket refilled at PL_SIG_RATE per second. */
    double tokens;
    int64_t tokens_at; /* monotonic ms */
    unsigned rate_strikes;
    /* The publish transport (0 until the first publish) and its tracks. */
    uint64_t pub_transport;
    bool speaking;
    uint8_t level;
    char pub_ufrag[16], pub_pwd[32];
    char pub_remote_ufrag[PL_ICE_CRED_MAX + 1]; /* a new one in an offer is an ICE restart */
    size_t n_tracks;
    track tracks[PL_MAX_TRACKS];
    /* The subscribe transport: created with the first offer, added to the
     * worker with the first answer. */
    uint64_t sub_transport;
    bool sub_added, offer_outstanding, dirty;
    uint32_t sub_version;
    char sub_ufrag[16], sub_pwd[32];
    char sub_remote_ufrag[PL_ICE_CRED_MAX + 1];
    bool sub_restart_pending; /* the last offer changed our credentials */
    /* The next subscribe offer carries new ICE credentials (after a resume:
     * the client's network may be another one now). */
    bool sub_ice_restart;
    size_t n_slots;
    slot slots[PL_MAX_ROUTES];
    struct conn *next;
} conn;

struct pl_sig {
    pl_env env;
    pl_sig_io io;
    bool has_media;
    pl_sig_media media;
    uint64_t next_transport;
    pl_sdp_desc *offer; /* scratch for parsing, reused */
    pl_sdp_accepted acc[PL_SDP_MAX_MEDIA];
    conn *conns;
    room *rooms;
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
    char caller_name[NAME_MAX_CHARS * 4 + 1], callee_name[NAME_MAX_CHARS * 4 + 1];
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
