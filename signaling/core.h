/* The state of the signaling core that its files share (struct pl_sig).
 * Which file does what, and who calls whom, is in docs/architecture.md;
 * each file's header says what it offers. Not a public header. */
#ifndef PARLEY_SIG_CORE_H
#define PARLEY_SIG_CORE_H

#include <stdbool.h>
#include <stdint.h>

#include "calls.h"
#include "model.h"
#include "parley/auth.h"
#include "parley/sdp.h"
#include "parley/signal.h"
#include "parley/turn.h"

/* A subscribe offer has up to PL_MAX_ROUTES sections of about 970 bytes
 * each (31 KiB for 32): 16 KiB held 16, and a larger offer was never sent. */
#define SDP_OUT_MAX (PL_MAX_ROUTES * 2048)

struct pl_sig {
    pl_env env;
    pl_sig_io io;
    bool has_media;
    bool downlink_estimate; /* pl_route.estimate on every route */
    bool dynacast;          /* pl_track.dynacast on every track */
    bool draining;          /* pl_sig_set_draining */
    pl_sig_media media;
    uint64_t next_transport;
    pl_sdp_desc *offer; /* scratch for parsing, reused */
    pl_sdp_accepted acc[PL_SDP_MAX_MEDIA];
    sig_model m;
    sig_calls *calls;
    pl_store *store; /* pl_sig_set_store; NULL: none */
    bool clustered;  /* pl_sig_set_cluster: cluster is set */
    pl_sig_cluster cluster;
    uint64_t bus_malformed;       /* messages from other nodes dropped */
    struct sig_message *messages; /* message.c: video heads-ups being left */
    const pl_auth *auth;          /* NULL: open mode */
    const pl_turn *turn;          /* NULL: no TURN servers in welcome */
    int64_t grace_ms;
    size_t max_participants, max_rooms;
    uint64_t bad_messages, resumed, timed_out, auth_refused, rate_limited, refused_draining;
    uint64_t transports_connected, transports_closed, commands_refused;
    uint64_t transports_failed_by[PL_FAILURE_COUNT];
    /* Events (events.c): the last time the core was told, which stamps
     * them, their sequence and this core's boot id. */
    pl_sig_time now;
    uint64_t event_seq;
    char boot_id[17];
    uint64_t refused_room_full, refused_server_full;   /* joins refused for the limits */
    uint64_t admin_removed, admin_muted, admin_closed; /* what operators did */
    pl_sig_placement placement; /* pl_sig_set_placement; place NULL: one node */
    uint64_t redirected, refused_unplaced;
};

#endif
