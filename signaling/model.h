/* The signaling core's data model: connections (a user's devices), users,
 * rooms, and the tables that find them. A user owns the list of its
 * connections and a room the list of its members, so an operation on one
 * user or one room touches only them; connections are found by id and by
 * transport, users and rooms by name, through hash tables. Pure
 * bookkeeping: nothing here sends, logs or calls back. Not a public
 * header. */
#ifndef PARLEY_SIG_MODEL_H
#define PARLEY_SIG_MODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "parley/auth.h"
#include "parley/common.h"
#include "parley/sdp.h"
#include "parley/signal.h"
#include "parley/track.h"

#define NAME_MAX_CHARS 64
#define ROOM_MAX_CHARS 64
#define NAME_MAX_BYTES (NAME_MAX_CHARS * 4) /* UTF-8 */
#define PARTICIPANT_ID_MAX 23
/* "<participant id>-<mid>": whole, so that two mids never share an id. */
#define TRACK_ID_MAX (PARTICIPANT_ID_MAX + 1 + PL_MID_MAX)
#define SOURCE_MAX 11
#define LOCAL_UFRAG_CHARS 8
#define LOCAL_PWD_CHARS 24

typedef struct sig_user sig_user;
typedef struct sig_room sig_room;

/* A published track: what the relay forwards (parley/track.h), and what the
 * room is told about it. */
typedef struct track {
    pl_track media;
    char id[TRACK_ID_MAX + 1];
    enum pl_sdp_kind kind;
    char source[SOURCE_MAX + 1];
    bool muted;
    /* The last `publish-layers` told for it (the relay's dynacast), said
     * again when the session resumes: it may have missed it. */
    bool layers_told;
    uint8_t layers;
} track;

/* One m-section of a participant's subscribe transport. Slots are never
 * removed, only made inactive, so mids stay stable across renegotiations. */
typedef struct slot {
    char mid[PL_MID_MAX + 1];
    bool active;
    char track_id[TRACK_ID_MAX + 1];
    char participant_id[PARTICIPANT_ID_MAX + 1];
    enum pl_sdp_kind kind;
    char source[SOURCE_MAX + 1];
    /* What the relay is told: the publisher's transport and mid, our SSRC
     * and payload type, RTX once the answer took it, and whether the
     * subscriber paused it and the size it shows it at (`subscription`). */
    pl_route route;
    uint32_t offered_rtx_ssrc; /* video: the RTX stream offered (RFC 4588) */
    /* The SSRC the outstanding offer named for the slot, and the one the
     * last answer took (0: inactive). The relay forwards the slot only
     * while its route's SSRC is the answered one: a track given to the
     * slot while an offer was out waits for the next offer's answer, or
     * its packets would reach the subscriber before any offer named them. */
    uint32_t offer_ssrc, answered_ssrc;
    bool bandwidth_paused; /* the relay said `video-paused` for it */
} slot;

/* One connection: a device of a user once it said hello. */
typedef struct conn {
    uint64_t id;
    sig_user *user;           /* NULL until welcome */
    struct conn *next_device; /* in user->devices */
    /* Resuming after a dropped WebSocket: the token from `welcome`, and
     * while detached, when the connection went (the session is kept for
     * the reconnection grace period, invisible to the others). */
    char resume_token[33];
    bool detached;
    int64_t detached_at;        /* monotonic ms */
    struct conn *next_detached; /* in the detached list */
    /* What the access token allows (everything in open mode). */
    char only_room[ROOM_MAX_CHARS + 1];
    bool can_publish, can_subscribe;
    bool can_record; /* open mode, or the token's can_record */
    char name[NAME_MAX_BYTES + 1];
    bool dnd;
    sig_room *room;
    struct conn *next_member; /* in room->members */
    /* The private room of a call that ended while this connection was in
     * it: the server took it out, and a later `leave` still gets `left`. */
    char closed_room[ROOM_MAX_CHARS + 1];
    char participant_id[PARTICIPANT_ID_MAX + 1];
    bool hand_raised; /* `hand`: lowered on leaving the room */
    unsigned strikes;
    /* Message rate: a token bucket refilled at PL_SIG_RATE per second. */
    double tokens;
    int64_t tokens_at; /* monotonic ms */
    unsigned rate_strikes;
    /* The publish transport (0 until the first publish) and its tracks. */
    uint64_t pub_transport;
    bool pub_connected; /* the worker said ICE, DTLS and SRTP are up */
    bool pub_tcp;       /* and its media go over ICE-TCP (else UDP) */
    bool speaking;
    uint8_t level;
    char pub_ufrag[LOCAL_UFRAG_CHARS + 1], pub_pwd[LOCAL_PWD_CHARS + 1];
    char pub_remote_ufrag[PL_ICE_CRED_MAX + 1]; /* a new one in an offer is an ICE restart */
    size_t n_tracks;
    track tracks[PL_MAX_TRACKS];
    /* The subscribe transport: created with the first offer, added to the
     * worker with the first answer. */
    uint64_t sub_transport;
    bool sub_connected, sub_tcp;
    bool sub_added, offer_outstanding, dirty;
    uint32_t sub_version;
    char sub_ufrag[LOCAL_UFRAG_CHARS + 1], sub_pwd[LOCAL_PWD_CHARS + 1];
    char sub_remote_ufrag[PL_ICE_CRED_MAX + 1];
    bool sub_restart_pending; /* the last offer changed our credentials */
    /* The next subscribe offer carries new ICE credentials (after a resume:
     * the client's network may be another one now). */
    bool sub_ice_restart;
    size_t n_slots;
    slot slots[PL_MAX_ROUTES];
} conn;

/* A user with at least one welcomed connection (detached ones count: the
 * user is still online while they may come back). */
struct sig_user {
    char id[PL_AUTH_ID_MAX + 1];
    conn *devices; /* the most recent first */
    size_t n_devices;
    sig_user *next;
    sig_user *next_same_hash;
};

/* A room with at least one member. */
struct sig_room {
    char name[ROOM_MAX_CHARS + 1];
    conn *members; /* the most recent first */
    size_t n_members;
    char speakers[512];      /* the last `speakers` list sent, as JSON */
    int64_t started_ms;      /* monotonic: room.finished's duration */
    size_t max_participants; /* set by an operator (admin API); 0: the server's */
    /* Being recorded (record.c): the recording's id, and who started it (a
     * participant id, or "operator"). */
    bool recording;
    char recording_id[PL_SIG_RECORDING_ID_MAX + 1];
    char recording_by[PARTICIPANT_ID_MAX + 1];
    sig_room *next;
    sig_room *next_same_hash;
};

/* A table by 64-bit key (an id, a transport, the hash of a name): open
 * addressing, grown as it fills. Typed accessors live in model.c. */
typedef struct sig_map_slot {
    uint64_t key;
    void *val; /* NULL: empty */
} sig_map_slot;

typedef struct sig_map {
    sig_map_slot *slots;
    size_t cap, n;
} sig_map;

typedef struct sig_model {
    pl_env env;
    sig_map by_id;        /* attached connections */
    sig_map by_transport; /* publish and subscribe transports */
    sig_map users_by_id;  /* by a hash of the id; collisions chain */
    sig_map rooms_by_name;
    conn *detached; /* waiting to resume, not in by_id */
    size_t n_detached;
    sig_user *users;
    size_t n_users;
    sig_room *rooms;
    size_t n_rooms, n_participants;
} sig_model;

void sig_model_init(sig_model *m, const pl_env *env);
/* Frees every connection, user and room. */
void sig_model_clear(sig_model *m);

/* Connections. A new one is attached under its id; dropping it detaches it
 * (out of the id table); resuming attaches it under a new id; removing it
 * takes it out of whichever it is in (the caller frees it). */
conn *sig_conn_find(const sig_model *m, uint64_t id);
int sig_conn_attach(sig_model *m, conn *c, uint64_t id);
void sig_conn_detach(sig_model *m, conn *c);
void sig_conn_remove(sig_model *m, conn *c);
size_t sig_conn_count(const sig_model *m); /* attached */

/* Users. A connection joins its user at welcome (the user is made when it
 * is the first); leaving it, the user stays until sig_user_forget, so that
 * its last device can still be told about. */
sig_user *sig_user_find(const sig_model *m, const char *id);
int sig_user_add_device(sig_model *m, conn *c, const char *user_id);
void sig_user_remove_device(conn *c);
/* Frees a user that has no devices left; c->user of its connections must
 * not be used after. */
void sig_user_forget(sig_model *m, sig_user *u);

/* Rooms. */
sig_room *sig_room_find(const sig_model *m, const char *name);
sig_room *sig_room_create(sig_model *m, const char *name);
void sig_room_add_member(sig_model *m, sig_room *r, conn *c);
void sig_room_remove_member(sig_model *m, conn *c);
/* Frees a room that has no members left. */
void sig_room_forget_if_empty(sig_model *m, sig_room *r);

/* Transports: the connection that owns a publish or subscribe transport.
 * Setting one (0: none) forgets the previous one and whether it was
 * connected; without memory for the table the transport stays 0. */
void sig_conn_set_pub_transport(sig_model *m, conn *c, uint64_t transport);
void sig_conn_set_sub_transport(sig_model *m, conn *c, uint64_t transport);
conn *sig_transport_owner(const sig_model *m, uint64_t transport);

#endif
