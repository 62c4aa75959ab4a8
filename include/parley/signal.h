/* The signaling protocol core (docs/protocol.md): sessions, presence, rooms
 * and chat, as a state machine over connections. It never touches a
 * socket: the WebSocket layer feeds it frames and it answers through the
 * callbacks in pl_sig_io, so every rule of the protocol can be tested
 * without a network. Time is a parameter (pl_sig_time). */
#ifndef PARLEY_SIGNAL_H
#define PARLEY_SIGNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "parley/auth.h"
#include "parley/common.h"
#include "parley/failure.h"
#include "parley/store.h"
#include "parley/track.h"
#include "parley/turn.h"

#ifdef __cplusplus
extern "C" {
#endif

#define PL_SIG_MAX_MESSAGE 65536
/* Bad messages a connection may send before it is closed with 1008. */
#define PL_SIG_MAX_STRIKES 16
/* Messages per second a connection may send, in bursts of up to
 * PL_SIG_BURST; beyond that each message gets `rate_limited`, and after
 * PL_SIG_MAX_RATE_STRIKES of those the connection is closed with 1008. */
#define PL_SIG_RATE 20
#define PL_SIG_BURST 100
#define PL_SIG_MAX_RATE_STRIKES 50

typedef struct pl_sig pl_sig;

/* The two clocks the core is told, in milliseconds. Timers (the
 * reconnection grace, the ring timeout, rate limits) run on the monotonic
 * one, so a wall clock that is stepped (NTP, an operator, a resumed VM)
 * neither expires nor prolongs them. The wall clock only goes into
 * messages (`ts`) and is checked against token expiry. */
typedef struct pl_sig_time {
    int64_t mono_ms; /* any clock that never goes back (CLOCK_MONOTONIC) */
    int64_t wall_ms; /* since the epoch */
} pl_sig_time;

/* What happened to rooms, participants and calls, for the operator's own
 * systems (webhooks and the log: docs/webhooks.md), in the order it
 * happened. */
enum pl_sig_event_type {
    PL_SIG_EV_ROOM_STARTED,
    PL_SIG_EV_ROOM_FINISHED,
    PL_SIG_EV_PARTICIPANT_JOINED,
    PL_SIG_EV_PARTICIPANT_LEFT,
    PL_SIG_EV_CALL_OUTCOME, /* answered, declined, missed, cancelled or busy */
    PL_SIG_EV_CALL_ENDED,   /* an answered call hung up: its duration */
    /* A recording's files are finished (pl_sig_recording_finished). */
    PL_SIG_EV_RECORDING_FINISHED,
    PL_SIG_EV_COUNT
};

typedef struct pl_sig_party {
    const char *id; /* NULL: none */
    const char *name;
} pl_sig_party;

/* One event. Strings live as long as the callback runs. The time is the
 * last one the core was told (every entry point that takes a pl_sig_time
 * tells it): worker reports carry none, so an event they cause is at most
 * a tick late. */
typedef struct pl_sig_event {
    enum pl_sig_event_type type;
    uint64_t seq;   /* 1, 2, 3 ... per core, without gaps */
    const char *id; /* "<boot>-<seq>": unique across restarts too */
    int64_t wall_ms;
    const char *room;         /* NULL: none */
    pl_sig_party participant; /* joined / left: the participant (id p...) */
    const char *user_id;      /* its user */
    /* participant.left: left, disconnected or timeout; call.outcome: dnd,
     * disconnected, or NULL. */
    const char *reason;
    /* room.finished and call.ended: ms since it started (answered); -1
     * where it does not apply. */
    int64_t duration_ms;
    /* Calls. The parties are users ({id, name}). */
    const char *call_id;
    const char *outcome; /* call.outcome */
    pl_sig_party caller, callee;
    const char *by;  /* call.ended: the user who hung up, or NULL */
    int64_t ring_ms; /* call.outcome: from the ring to the outcome */
    /* recording.finished: the recording's id and kind ("meeting",
     * "message"), and whether its files and manifest were finished. */
    const char *recording_id, *recording_kind;
    bool recording_ok;
} pl_sig_event;

/* "room.started", "participant.left", ... */
const char *pl_sig_event_name(enum pl_sig_event_type type);
/* The event as one compact JSON object (the webhook body, docs/webhooks.md);
 * free() it. NULL: out of memory. */
char *pl_sig_event_json(const pl_sig_event *ev);

typedef struct pl_sig_io {
    void *user;
    /* Queue one text frame for a connection. */
    void (*send)(void *user, uint64_t conn, const char *json, size_t len);
    /* Close a connection with a WebSocket close code. */
    void (*close)(void *user, uint64_t conn, int code, const char *reason);
    /* May be NULL. An event (above), on the calling thread: it must not
     * block, and must not call back into the core. */
    void (*event)(void *user, const pl_sig_event *ev);
} pl_sig_io;

/* The path a connected transport's media take, as the workers see it. */
enum pl_sig_path {
    PL_SIG_PATH_UNKNOWN,
    PL_SIG_PATH_UDP,
    PL_SIG_PATH_TCP, /* ICE-TCP (RFC 6544) */
    PL_SIG_PATH_COUNT,
};

typedef struct pl_sig_stats {
    size_t connections;
    size_t users_online;
    size_t rooms;
    size_t participants;
    size_t detached; /* participants waiting to resume */
    uint64_t bad_messages;
    uint64_t resumed, timed_out;
    size_t calls; /* ringing or in progress */
    uint64_t calls_placed, calls_accepted, calls_missed;
    uint64_t auth_refused;     /* hellos refused for their token */
    uint64_t rate_limited;     /* messages refused for the rate limit */
    uint64_t refused_draining; /* joins and calls refused while draining */
    /* In a cluster: joins sent to the node hosting their room, and joins
     * refused (`unavailable`) because the room could not be placed. */
    uint64_t redirected, refused_unplaced;
    /* What the media workers reported: transports up (ICE, DTLS and SRTP),
     * transports closed that the core had not removed, and commands they
     * refused (for a transport the core knew or not). */
    uint64_t transports_connected, transports_closed, commands_refused;
    /* Transports the workers reported failed, by reason (parley/failure.h),
     * whether or not the core still had them. */
    uint64_t transports_failed_by[PL_FAILURE_COUNT];
    /* The transports participants have now: not yet up, and up by the path
     * their media take (enum pl_sig_path). */
    size_t transports_connecting;
    size_t transports_up_by_path[PL_SIG_PATH_COUNT];
    /* Joins refused for a room's participant limit, and for the server's
     * limit of rooms. */
    uint64_t refused_room_full, refused_server_full;
    /* Operators' actions (pl_sig_admin_*). */
    uint64_t admin_removed, admin_muted, admin_closed;
} pl_sig_stats;

/* A recording's id (as recmanifest.h's). */
#define PL_SIG_RECORDING_ID_MAX 22
/* A video heads-up records for at most this long (docs/protocol.md). */
#define PL_SIG_MESSAGE_MAX_MS 120000

/* A recording that is a video heads-up rather than a meeting: who leaves
 * it for whom (user ids), the heads-up it belongs to, audio only. */
typedef struct pl_sig_message {
    const char *caller, *callee, *call_id;
    bool audio_only;
} pl_sig_message;

/* How a recording ended, once its files are finished. */
typedef struct pl_sig_recording_result {
    const char *room;  /* the room it recorded */
    bool ok;           /* its manifest is finished */
    int64_t length_ms; /* from its start to its stop */
    const char *file;  /* its first participant's file ("" for none) */
} pl_sig_recording_result;

/* How the core reaches the media workers. NULL media: publishing is refused
 * with `internal`. */
typedef struct pl_sig_media {
    void *user;
    /* Creates a server transport for `room` on the worker that owns it and
     * gives the worker's UDP port for the SDP candidate. */
    int (*add_transport)(void *user, const char *room, uint64_t id, const char *local_ufrag,
                         const char *local_pwd, const char *remote_ufrag, const char *remote_pwd,
                         const char *fp_alg, const char *fp, uint16_t *port);
    void (*remove_transport)(void *user, const char *room, uint64_t id);
    /* ICE restart of an existing transport (new credentials both sides). */
    int (*restart_ice)(void *user, const char *room, uint64_t id, const char *local_ufrag,
                       const char *local_pwd, const char *remote_ufrag, const char *remote_pwd);
    /* The UDP port of the worker that owns `room`. */
    uint16_t (*port_for)(void *user, const char *room);
    /* Routing: a publisher's tracks, and what a subscriber transport
     * receives. */
    void (*set_tracks)(void *user, const char *room, uint64_t publisher, const pl_track *tracks,
                       size_t n);
    void (*set_routes)(void *user, const char *room, uint64_t subscriber, const pl_route *routes,
                       size_t n);
    /* Recording a room (docs/recording.md); NULL record_start: `record` is
     * refused with `internal`. Start: `owner` (a user id, NULL for an
     * operator) counts it against their quota; the recording's id into
     * id[PL_SIG_RECORDING_ID_MAX + 1] (an id already there is used). A
     * heads-up's `message` (NULL for a meeting) records without the mix.
     * PL_OK; PL_ENOSPC when a quota leaves no room; another PL_E* code
     * when it cannot start. pl_sig_recording_finished follows the stop. */
    int (*record_start)(void *user, const char *room, const char *owner,
                        const pl_sig_message *message, char *id);
    /* Would owner's quota let a recording start now? PL_OK or PL_ENOSPC. */
    int (*record_may_start)(void *user, const char *owner);
    /* Deletes a stored recording (an acknowledged heads-up's message). */
    void (*recording_delete)(void *user, const char *id);
    void (*record_stop)(void *user, const char *room);
    /* A participant of the recorded room, whose media come on its publish
     * transport (0: none yet); said again when the transport changes. */
    void (*record_participant)(void *user, const char *room, const char *participant_id,
                               const char *name, uint64_t publish_transport);
    void (*record_leave)(void *user, const char *room, const char *participant_id);
    const char *fingerprint; /* sha-256 of the workers' certificate */
    const char *announce_ip; /* address put in ICE candidates */
    bool ice_tcp;            /* the workers listen for ICE-TCP too */
} pl_sig_media;

pl_sig *pl_sig_create(const pl_env *env, const pl_sig_io *io, const pl_sig_media *media);
void pl_sig_destroy(pl_sig *sig);

/* Connection lifecycle, as the WebSocket layer sees it: a connection closed
 * on purpose (a close frame, or the server closing it) leaves at once;
 * one that is lost (no close handshake) is dropped, which keeps its
 * participant for the reconnection grace period. */
int pl_sig_connect(pl_sig *sig, uint64_t conn);
void pl_sig_disconnect(pl_sig *sig, uint64_t conn, pl_sig_time now);
void pl_sig_drop(pl_sig *sig, uint64_t conn, pl_sig_time now);

/* One complete text frame. */
void pl_sig_handle_text(pl_sig *sig, uint64_t conn, pl_sig_time now, const char *text, size_t len);
/* A binary frame, or a message over PL_SIG_MAX_MESSAGE: both are refused
 * with bad_request and count as strikes. */
void pl_sig_handle_bad_frame(pl_sig *sig, uint64_t conn, const char *why);

/* Participants whose WebSocket drops stay in their room this long, and may
 * come back with hello {resume: <token from welcome>}; then they leave with
 * reason `timeout`. 0 turns resuming off (they leave at once,
 * `disconnected`). */
#define PL_SIG_DEFAULT_GRACE_MS 20000
void pl_sig_set_reconnect_grace(pl_sig *sig, int64_t grace_ms);
/* Expires detached sessions; call about every second. */
void pl_sig_tick(pl_sig *sig, pl_sig_time now);

/* A call nobody answers ends as missed after this long (`--ring-timeout`). */
#define PL_SIG_DEFAULT_RING_MS 30000
void pl_sig_set_ring_timeout(pl_sig *sig, int64_t timeout_ms);
/* Subscribers' downlinks are estimated and shared out by the relay
 * (`--downlink-estimate`; pl_route.estimate). On by default in the server;
 * off until set here. */
void pl_sig_set_downlink_estimate(pl_sig *sig, bool on);
/* Publishers may be asked to switch off simulcast layers nobody needs
 * (pl_track.dynacast, `publish-layers`). On by default; `--no-dynacast`. */
void pl_sig_set_dynacast(pl_sig *sig, bool on);
/* Where missed heads-ups are kept; the store must outlive the core. Without
 * one they are still told as outcomes but not kept. */
void pl_sig_set_store(pl_sig *sig, pl_store *store);

/* A node of a cluster (`--redis`, docs/cluster.md): how the core reaches
 * the other nodes. Every call is made on the core's thread and may block
 * for a moment (their I/O has timeouts); a failure is logged by the
 * caller of pl_sig_set_cluster and the core goes on as if nobody were
 * elsewhere. Without a cluster the core is a single node, as before. */
typedef struct pl_sig_peer {
    char id[PL_AUTH_ID_MAX + 1];
    char name[257];
    char status[8]; /* online, dnd, ringing, in-call */
    char node[17];  /* the node the user is connected to */
} pl_sig_peer;

typedef struct pl_sig_cluster {
    void *user;
    char node[17]; /* this node's id: 16 hex characters */
    /* Publishes text on a Redis channel; 0 or a negative PL_E* code. */
    int (*publish)(void *user, const char *channel, const char *text);
    /* The directory of users online: this node's entry for a user, or
     * none when status is "offline". */
    int (*dir_set)(void *user, const char *user_id, const char *name, const char *status);
    /* One user's entry: PL_OK, PL_ENOTFOUND or a negative PL_E* code. */
    int (*dir_get)(void *user, const char *user_id, pl_sig_peer *out);
    /* Every entry of a live node, fn called for each: how many, or a
     * negative PL_E* code. */
    int (*dir_each)(void *user, void (*fn)(void *arg, const pl_sig_peer *p), void *arg);
} pl_sig_cluster;

/* Makes the core a node of a cluster; the cluster's user must outlive it. */
void pl_sig_set_cluster(pl_sig *sig, const pl_sig_cluster *cluster);
/* Writes every user's directory entry again and tells the other nodes
 * their status: after Redis was out of reach, when both may be stale. */
void pl_sig_cluster_refresh(pl_sig *sig);
/* A message another node published (the bus hands them over in order, on
 * the core's thread). One that does not parse is dropped and counted. */
void pl_sig_handle_bus(pl_sig *sig, pl_sig_time now, const char *text, size_t len);

/* Participants per room (`room_full` beyond) and rooms on the server. */
#define PL_SIG_DEFAULT_MAX_PARTICIPANTS 100
#define PL_SIG_DEFAULT_MAX_ROOMS 1000
void pl_sig_set_limits(pl_sig *sig, size_t max_participants, size_t max_rooms);

/* Access tokens: with an auth set, `hello` needs a valid token (protocol
 * section 1) and its claims bind the session; NULL is open mode. The auth
 * must outlive the core. */
void pl_sig_set_auth(pl_sig *sig, const pl_auth *auth);

/* TURN servers: every `welcome` lists them with a credential for its user
 * that lasts the turn's lifetime from then (a resumed session gets a fresh
 * one); NULL lists none. The turn must outlive the core. */
void pl_sig_set_turn(pl_sig *sig, const pl_turn *turn);

/* Draining, before the server stops: `join` and `call` are refused with
 * `draining` (a client is to try again later or elsewhere) while the
 * meetings and calls under way go on: sessions resume, and the parties of
 * a call accepted still join its room. */
void pl_sig_set_draining(pl_sig *sig, bool on);

/* A cluster of nodes (docs/cluster.md): each join of a room not hosted
 * here asks `place`, which answers PL_SIG_PLACE_LOCAL (host it here),
 * PL_SIG_PLACE_REDIRECT with the WebSocket URL of the node that hosts it
 * in url (the client gets `redirect` and goes there), or a negative code
 * when the room cannot be placed now (the client gets `unavailable`). A
 * room hosted here is never asked about, so it keeps working whatever
 * happens to the cluster. While draining, a room hosted here still takes
 * newcomers. NULL place: one node, every room here. A call's room is
 * hosted by the node its call lives on (the caller's), never placed:
 * `url_of` gives the WebSocket URL of a node by its id (PL_OK), for the
 * callee joining through another node. */
#define PL_SIG_URL_MAX 255
enum { PL_SIG_PLACE_LOCAL = 0, PL_SIG_PLACE_REDIRECT = 1 };
typedef struct pl_sig_placement {
    void *user;
    int (*place)(void *user, const char *room, char *url, size_t url_cap);
    int (*url_of)(void *user, const char *node_id, char *url, size_t url_cap);
} pl_sig_placement;
void pl_sig_set_placement(pl_sig *sig, const pl_sig_placement *placement);
/* The rooms hosted here, for a cluster's claims: calls fn once per room. */
void pl_sig_each_room(const pl_sig *sig, void (*fn)(void *user, const char *room), void *user);

/* What the media workers report about transports, on the signaling thread.
 * A transport the core does not know (any more) is ignored, unless said
 * otherwise: the core forgets a transport as it removes it, so reports
 * that were on their way for it do not matter. */

/* A publisher's audio started or stopped being loud; rooms get `speakers`
 * when their list of active speakers changes. */
void pl_sig_speaking(pl_sig *sig, uint64_t transport, bool speaking, uint8_t level);

/* ICE, DTLS and SRTP are up: recorded on the transport, counted. */
void pl_sig_transport_connected(pl_sig *sig, uint64_t transport);
/* A subscriber's video route (by its output SSRC, unique on the
 * transport) was paused or resumed by the relay because the subscriber's
 * downlink cannot carry even its lowest layer. */
void pl_sig_video_paused(pl_sig *sig, uint64_t transport, uint32_t out_ssrc, bool paused);
/* Dynacast: the relay wants the publisher of `transport` to send only the
 * simulcast layers of its track `mid` whose bits are set in `layers` (bit
 * i: pl_track.layers[i]); the client gets `publish-layers`. */
void pl_sig_publisher_layers(pl_sig *sig, uint64_t transport, const char *mid, uint8_t layers);

/* A media worker closed a transport for `why` (no check arrived, DTLS
 * timed out or failed, a fingerprint mismatch, ICE consent lost for 30 s):
 * counted by reason and logged with the participant. The client gets
 * `transport-closed`. A publish
 * transport's tracks are unpublished until the client publishes on a new
 * peer connection; a subscribe transport is replaced by a new one, offered
 * at once, so a client whose network comes back receives again without
 * rejoining. */
void pl_sig_transport_failed(pl_sig *sig, uint64_t transport, enum pl_failure why);

/* The client closed its end of a transport (DTLS close_notify) while the
 * core still had it: no media flows on it any more, so it is handled as a
 * failure. */
void pl_sig_transport_closed(pl_sig *sig, uint64_t transport);

/* A worker did not carry out a command for a transport (unknown transport,
 * a duplicate id or ufrag, no memory, an ICE restart it could not do;
 * `error` is a PL_E* code). Logged; for a transport the core has, handled
 * as a failure, since the worker's transport no longer matches what was
 * negotiated. */
void pl_sig_command_refused(pl_sig *sig, uint64_t transport, int error);

/* A connected transport's media take this path (after it connected, and
 * whenever they move). */
void pl_sig_transport_path(pl_sig *sig, uint64_t transport, enum pl_sig_path path);

/* A room's recording stopped on its own (its quota or the disk is full,
 * its writer failed): the room is told, `reason` says why ("quota",
 * "disk_full", "failed"). Nothing when the room is not recording it. */
void pl_sig_recording_stopped(pl_sig *sig, const char *room, const char *recording_id,
                              const char *reason);
/* A recording's files are finished (after its stop): recording.finished
 * is emitted, and a heads-up's message is attached to the callee's
 * heads-up, or abandoned when too short. */
void pl_sig_recording_finished(pl_sig *sig, const char *recording_id,
                               const pl_sig_recording_result *result);

void pl_sig_stats_get(const pl_sig *sig, pl_sig_stats *out);

/* Operators (docs/admin.md): each acts as the protocol would, and the
 * participants are told as docs/protocol.md says. */
/* {"rooms":[{name, max_participants, participants:[{id, name, user,
 * tracks:[TRACK], path, detached, transports:{publish, subscribe}}]}]} as
 * JSON text, to free(); NULL without memory. */
char *pl_sig_admin_rooms(const pl_sig *sig);
/* Starts or stops a room's recording as an operator (owner: nobody's
 * quota); the room is told with `by:"operator"`. PL_ENOTFOUND: no such
 * room; PL_ENOSPC: the server's bound; other codes from record_start. The
 * recording's id into id[PL_SIG_RECORDING_ID_MAX + 1] (may be NULL). */
int pl_sig_admin_record(pl_sig *sig, const char *room, bool on, char *id);
/* Takes a participant out of its room: it gets `removed`, the others
 * `participant-left` with reason `kicked`. PL_ENOTFOUND: no such
 * participant in that room. */
int pl_sig_admin_remove(pl_sig *sig, const char *room, const char *participant_id);
/* Takes everyone out of a room (each gets `removed`, reason `closed`). */
int pl_sig_admin_close_room(pl_sig *sig, const char *room);
/* Mutes or unmutes a participant's track: the room, owner included, gets
 * `track-muted` with `by:"operator"`. */
int pl_sig_admin_mute(pl_sig *sig, const char *room, const char *participant_id,
                      const char *track_id, bool muted);
/* A room's own participant limit, in place of the server's while the room
 * exists; members already over it stay. PL_ENOTFOUND: no such room;
 * PL_EINVAL: below 1. */
int pl_sig_admin_set_limit(pl_sig *sig, const char *room, size_t max_participants);

#ifdef __cplusplus
}
#endif
#endif
