/* The bot's signaling adapter: how a participant joins a room, publishes
 * and subscribes, independent of the server it talks to. The bot speaks SDP
 * offer/answer on two transports (publish: the bot offers; subscribe: the
 * server offers); an adapter maps that onto one server's protocol. Parley's
 * own protocol is sig_parley.c; sig_janus.c speaks Janus's VideoRoom for
 * side-by-side benchmarks.
 *
 * Threading: an adapter runs one event loop (run) on the thread that calls
 * it. Every operation and every event happens on that thread, except stop,
 * which any thread may call. */
#ifndef PARLEY_BOT_SIG_H
#define PARLEY_BOT_SIG_H

#include <stdbool.h>
#include <stddef.h>

typedef struct pl_botsig pl_botsig;           /* one adapter instance */
typedef struct pl_botsig_conn pl_botsig_conn; /* one participant's session */

/* One remote track offered on the subscribe transport. */
typedef struct pl_botsig_track {
    char mid[64];
    char track_id[80];
    char participant_id[64];
    char kind[8];    /* "audio" / "video" */
    char source[16]; /* "microphone", "camera", "screen" */
} pl_botsig_track;

#define PL_BOTSIG_MAX_TRACKS 64

/* Events to the bot, on the loop thread. `bot` is the pointer given to
 * join. */
typedef struct pl_botsig_events {
    void *user;
    void (*joined)(void *user, void *bot, const char *participant_id);
    /* Someone else is in the room (present) or left it (with the server's
     * reason: "left", "disconnected", "timeout"...). */
    void (*peer)(void *user, void *bot, const char *participant_id, const char *name, bool present,
                 const char *reason);
    void (*publish_answer)(void *user, void *bot, const char *sdp);
    void (*subscribe_offer)(void *user, void *bot, const char *sdp, const pl_botsig_track *tracks,
                            size_t n);
    /* A request failed or the server refused something. */
    void (*error)(void *user, void *bot, const char *code, const char *message);
    /* The connection is gone (after leave, or lost); conn is freed. */
    void (*closed)(void *user, void *bot);
    /* Called every tick_ms on the loop thread, for the driver's schedule. */
    void (*tick)(void *user);
} pl_botsig_events;

typedef struct pl_botsig_config {
    const char *url; /* ws://host:port/path */
    int tick_ms;
    pl_botsig_events events;
} pl_botsig_config;

typedef struct pl_botsig_ops {
    const char *name;
    pl_botsig *(*create)(const pl_botsig_config *cfg);
    void (*destroy)(pl_botsig *s);
    /* Runs the event loop until stop; 0, or a negative PL_E* code. */
    int (*run)(pl_botsig *s);
    void (*stop)(pl_botsig *s);
    /* Connects, introduces itself as `name` and joins `room`; `joined`
     * follows. NULL when the connection cannot even be started. */
    pl_botsig_conn *(*join)(pl_botsig *s, const char *name, const char *room, void *bot);
    /* The offer's sections by mid, with what each carries ("microphone",
     * "camera", "screen"). */
    int (*publish)(pl_botsig_conn *c, const char *sdp, const char *const *mids,
                   const char *const *sources, size_t n);
    int (*subscribe_answer)(pl_botsig_conn *c, const char *sdp);
    /* Asks for a keyframe or pauses a track; optional (may be NULL). */
    int (*pause)(pl_botsig_conn *c, const char *track_id, bool paused);
    /* The size the participant shows a remote track at, for the choice of
     * its simulcast layer; 0 leaves a side as it is. Optional. */
    int (*subscription)(pl_botsig_conn *c, const char *track_id, unsigned max_width,
                        unsigned max_height);
    /* Leaves the room and closes; `closed` follows. */
    void (*leave)(pl_botsig_conn *c);
    /* Loses the connection (no close handshake, as when a network drops)
     * and reconnects after `seconds`, resuming the session when the server
     * still has it and joining again otherwise. Optional (may be NULL). */
    void (*cut)(pl_botsig_conn *c, double seconds);
} pl_botsig_ops;

extern const pl_botsig_ops pl_botsig_parley;
/* Janus's VideoRoom plugin (sig_janus.c): no pause, no cut. */
extern const pl_botsig_ops pl_botsig_janus;

#endif
