/* The signaling core's entry: creating and destroying it, its settings
 * and counters, and every text frame parsed and routed to the file that
 * handles its type. It also gives calls.c the ops it reaches the rest of
 * the core through. */
#include "parley/signal.h"

#include <string.h>

#include "calls.h"
#include "core.h"
#include "events.h"
#include "message.h"
#include "out.h"
#include "presence.h"
#include "publish.h"
#include "record.h"
#include "remote.h"
#include "rooms.h"
#include "session.h"
#include "subscribe.h"

/* ---- what calls.c may ask of the core ------------------------------------ */

static sig_user *calls_find_user(pl_sig *s, const char *user_id)
{
    return sig_user_find(&s->m, user_id);
}

static pl_sig_time calls_now(pl_sig *s)
{
    return s->now;
}

static void calls_recording_delete(pl_sig *s, const char *id)
{
    if (s->media.recording_delete)
        s->media.recording_delete(s->media.user, id);
}

static bool calls_clustered(pl_sig *s)
{
    return s->clustered;
}

static const sig_calls_ops calls_ops_template = {
    .clustered = calls_clustered,
    .bus_send = sig_remote_send,
    .dir_get = sig_remote_find,
    .emit = sig_emit,
    .now = calls_now,
    .send = sig_send,
    .error = sig_error,
    .find_user = calls_find_user,
    .presence_changed = sig_presence_changed,
    .close_room = sig_close_room,
    .recording_delete = calls_recording_delete,
};

pl_sig *pl_sig_create(const pl_env *env, const pl_sig_io *io, const pl_sig_media *media)
{
    pl_sig *s = pl_env_alloc(env, sizeof(*s));
    if (!s)
        return NULL;
    s->env = *env;
    s->io = *io;
    if (media) {
        s->has_media = true;
        s->media = *media;
    }
    s->grace_ms = PL_SIG_DEFAULT_GRACE_MS;
    s->max_participants = PL_SIG_DEFAULT_MAX_PARTICIPANTS;
    s->max_rooms = PL_SIG_DEFAULT_MAX_ROOMS;
    s->dynacast = true;
    sig_model_init(&s->m, env);
    sig_calls_ops ops = calls_ops_template;
    ops.sig = s;
    s->calls = sig_calls_create(env, &ops);
    s->offer = pl_sdp_desc_create(env);
    if (!s->calls || !s->offer) {
        pl_sig_destroy(s);
        return NULL;
    }
    return s;
}

void pl_sig_destroy(pl_sig *s)
{
    if (!s)
        return;
    sig_calls_destroy(s->calls);
    sig_messages_destroy(s);
    sig_model_clear(&s->m);
    pl_sdp_desc_destroy(&s->env, s->offer);
    pl_env_free(&s->env, s);
}

void pl_sig_handle_text(pl_sig *s, uint64_t id, pl_sig_time now, const char *text, size_t len)
{
    sig_events_now(s, now);
    conn *c = sig_conn_find(&s->m, id);
    if (!c)
        return;
    if (!sig_session_admit(s, c, now))
        return;
    if (len > PL_SIG_MAX_MESSAGE) {
        pl_sig_handle_bad_frame(s, id, "message larger than 64 KiB");
        return;
    }
    json_error_t jerr;
    json_t *msg = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!msg || !json_is_object(msg)) {
        sig_error(s, c, NULL, "bad_request",
                  msg ? "message must be a JSON object" : "invalid JSON");
        json_decref(msg);
        return;
    }
    json_t *re = json_object_get(msg, "id");
    if (re && !json_is_string(re) && !json_is_integer(re))
        re = NULL;
    const char *type = json_string_value(json_object_get(msg, "type"));
    if (!type)
        sig_error(s, c, re, "bad_request", "message needs a string \"type\"");
    else if (strcmp(type, "hello") == 0)
        sig_on_hello(s, c, msg, re, now);
    else if (!c->user)
        sig_error(s, c, re, "unauthorized", "say hello first");
    else if (strcmp(type, "status") == 0)
        sig_on_status(s, c, msg, re);
    else if (s->draining && strcmp(type, "call") == 0) {
        sig_error(s, c, re, "draining", "this server is shutting down: try again later");
        s->refused_draining++;
    } else if (strcmp(type, "join") == 0)
        sig_on_join(s, c, msg, re);
    else if (strcmp(type, "leave") == 0)
        sig_on_leave(s, c, re);
    else if (strcmp(type, "chat") == 0)
        sig_on_chat(s, c, msg, re, now);
    else if (strcmp(type, "publish") == 0)
        sig_on_publish(s, c, msg, re);
    else if (strcmp(type, "subscribe-answer") == 0)
        sig_on_subscribe_answer(s, c, msg, re);
    else if (strcmp(type, "mute") == 0)
        sig_on_mute(s, c, msg, re);
    else if (strcmp(type, "hand") == 0)
        sig_on_hand(s, c, msg, re);
    else if (strcmp(type, "record") == 0)
        sig_on_record(s, c, msg, re);
    else if (strcmp(type, "message-start") == 0)
        sig_on_message_start(s, c, msg, re);
    else if (strcmp(type, "message-stop") == 0)
        sig_on_message_stop(s, c, msg, re);
    else if (strcmp(type, "subscription") == 0)
        sig_on_subscription(s, c, msg, re);
    else if (strcmp(type, "call") == 0)
        sig_calls_on_call(s->calls, c, msg, re, now);
    else if (strcmp(type, "call-accept") == 0 || strcmp(type, "call-decline") == 0 ||
             strcmp(type, "call-cancel") == 0 || strcmp(type, "call-hangup") == 0)
        sig_calls_on_action(s->calls, c, type, msg, re);
    else if (strcmp(type, "missed-ack") == 0)
        sig_calls_on_missed_ack(s->calls, c, msg, re);
    else
        sig_error(s, c, re, "bad_request", "unknown message type");
    json_decref(msg);
}

void pl_sig_handle_bad_frame(pl_sig *s, uint64_t id, const char *why)
{
    conn *c = sig_conn_find(&s->m, id);
    if (c)
        sig_error(s, c, NULL, "bad_request", why);
}

void pl_sig_set_reconnect_grace(pl_sig *s, int64_t grace_ms)
{
    s->grace_ms = grace_ms > 0 ? grace_ms : 0;
}

void pl_sig_set_draining(pl_sig *s, bool on)
{
    s->draining = on;
}

void pl_sig_set_placement(pl_sig *s, const pl_sig_placement *placement)
{
    s->placement = placement ? *placement : (pl_sig_placement){0};
}

void pl_sig_each_room(const pl_sig *s, void (*fn)(void *user, const char *room), void *user)
{
    for (const sig_room *r = s->m.rooms; r; r = r->next)
        fn(user, r->name);
}

void pl_sig_set_dynacast(pl_sig *s, bool on)
{
    s->dynacast = on;
}

void pl_sig_set_downlink_estimate(pl_sig *s, bool on)
{
    s->downlink_estimate = on;
}

void pl_sig_set_ring_timeout(pl_sig *s, int64_t timeout_ms)
{
    sig_calls_set_ring_timeout(s->calls, timeout_ms);
}

void pl_sig_set_store(pl_sig *s, pl_store *store)
{
    sig_calls_set_store(s->calls, store);
    s->store = store;
}

void pl_sig_set_limits(pl_sig *s, size_t max_participants, size_t max_rooms)
{
    s->max_participants = max_participants ? max_participants : PL_SIG_DEFAULT_MAX_PARTICIPANTS;
    s->max_rooms = max_rooms ? max_rooms : PL_SIG_DEFAULT_MAX_ROOMS;
}

void pl_sig_set_auth(pl_sig *s, const pl_auth *auth)
{
    s->auth = auth;
}

void pl_sig_set_turn(pl_sig *s, const pl_turn *turn)
{
    s->turn = turn;
}

void pl_sig_stats_get(const pl_sig *s, pl_sig_stats *out)
{
    memset(out, 0, sizeof(*out));
    out->connections = sig_conn_count(&s->m);
    out->detached = s->m.n_detached;
    out->participants = s->m.n_participants;
    out->users_online = s->m.n_users;
    out->rooms = s->m.n_rooms;
    out->resumed = s->resumed;
    out->timed_out = s->timed_out;
    out->bad_messages = s->bad_messages;
    sig_calls_stats cs;
    sig_calls_stats_get(s->calls, &cs);
    out->calls = cs.calls;
    out->calls_placed = cs.placed;
    out->calls_accepted = cs.accepted;
    out->calls_missed = cs.missed;
    out->auth_refused = s->auth_refused;
    out->rate_limited = s->rate_limited;
    out->refused_draining = s->refused_draining;
    out->redirected = s->redirected;
    out->refused_unplaced = s->refused_unplaced;
    out->transports_connected = s->transports_connected;
    out->transports_closed = s->transports_closed;
    out->commands_refused = s->commands_refused;
    memcpy(out->transports_failed_by, s->transports_failed_by, sizeof(out->transports_failed_by));
    out->refused_room_full = s->refused_room_full;
    out->refused_server_full = s->refused_server_full;
    out->admin_removed = s->admin_removed;
    out->admin_muted = s->admin_muted;
    out->admin_closed = s->admin_closed;
    /* Counted when asked: a scrape walks the rooms, the media never wait. */
    for (const sig_room *r = s->m.rooms; r; r = r->next)
        for (const conn *c = r->members; c; c = c->next_member) {
            if (c->pub_transport && !c->pub_connected)
                out->transports_connecting++;
            if (c->pub_transport && c->pub_connected)
                out->transports_up_by_path[c->pub_tcp ? PL_SIG_PATH_TCP : PL_SIG_PATH_UDP]++;
            /* A subscribe transport reaches the worker with the answer. */
            if (c->sub_transport && c->sub_added && !c->sub_connected)
                out->transports_connecting++;
            if (c->sub_transport && c->sub_connected)
                out->transports_up_by_path[c->sub_tcp ? PL_SIG_PATH_TCP : PL_SIG_PATH_UDP]++;
        }
}
