/* Rooms: joining (limits, one room per user, a call's private room),
 * leaving, chat, mute and raised hands, and the server closing a room (an ended call's).
 * A participant leaving takes its transports with it. */
#include "record.h"
#include "rooms.h"

#include <stdio.h>
#include <string.h>

#include "calls.h"
#include "events.h"
#include "message.h"
#include "out.h"
#include "publish.h"
#include "reply.h"
#include "speakers.h"
#include "subscribe.h"
#include "tokens.h"

#define CHAT_MAX_CHARS 4096

static bool valid_room_name(const char *r)
{
    size_t n = strlen(r);
    if (n < 1 || n > ROOM_MAX_CHARS)
        return false;
    for (size_t i = 0; i < n; i++) {
        char ch = r[i];
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
              ch == '.' || ch == '_' || ch == '-'))
            return false;
    }
    return true;
}

json_t *sig_joined_json(const conn *c, json_t *re)
{
    json_t *others = json_array();
    for (const conn *o = c->room->members; o; o = o->next_member)
        if (o != c)
            json_array_append_new(others, json_pack("{s:s,s:s,s:o,s:b}", "id", o->participant_id,
                                                    "name", o->name, "tracks", sig_tracks_json(o),
                                                    "hand_raised", o->hand_raised));
    json_t *m = sig_reply("joined", re);
    json_object_set_new(m, "room", json_string(c->room->name));
    json_object_set_new(m, "participant",
                        json_pack("{s:s,s:s}", "id", c->participant_id, "name", c->name));
    json_object_set_new(m, "participants", others);
    sig_record_joined_json(c->room, m);
    return m;
}

void sig_leave_room(pl_sig *s, conn *c, const char *reason)
{
    sig_room *r = c->room;
    if (!r)
        return;
    char name[ROOM_MAX_CHARS + 1];
    snprintf(name, sizeof(name), "%s", r->name);
    sig_publish_release(s, c);
    sig_subscribe_release(s, c);
    sig_room_remove_member(&s->m, c);
    sig_emit_participant(s, PL_SIG_EV_PARTICIPANT_LEFT, c, name, reason);
    sig_send_room(s, r, c,
                  json_pack("{s:s,s:s,s:s}", "type", "participant-left", "participant_id",
                            c->participant_id, "reason", reason));
    sig_record_left(s, r, c->participant_id);
    c->participant_id[0] = '\0';
    c->hand_raised = false;
    sig_subscriptions_refresh(s, r);
    sig_speakers_announce(s, r);
    if (!r->members)
        sig_emit_room(s, PL_SIG_EV_ROOM_FINISHED, r);
    sig_room_forget_if_empty(&s->m, r);
    sig_calls_room_left(s->calls, c, name);
}

void sig_close_room(pl_sig *s, const char *name)
{
    for (sig_room *r; (r = sig_room_find(&s->m, name)) && r->members;) {
        conn *o = r->members;
        snprintf(o->closed_room, sizeof(o->closed_room), "%s", name);
        sig_leave_room(s, o, "left");
    }
}

/* A join in a cluster of a room not hosted here: true when it was answered
 * (sent to the room's node, or refused because the room cannot be placed
 * now), false when the room is to be hosted here. A call's room is where
 * its call lives, the caller's node, never placed like other rooms. */
static bool placed_elsewhere(pl_sig *s, conn *c, json_t *re, const char *name)
{
    char url[PL_SIG_URL_MAX + 1];
    const char *call_node = sig_calls_room_node(s->calls, c, name);
    int where;
    if (call_node)
        where = s->placement.url_of &&
                        s->placement.url_of(s->placement.user, call_node, url, sizeof(url)) == PL_OK
                    ? PL_SIG_PLACE_REDIRECT
                    : PL_ESTATE;
    else if (strncmp(name, "call-", 5) == 0)
        where = PL_SIG_PLACE_LOCAL; /* the call is here (its parties were checked) */
    else
        where = s->placement.place(s->placement.user, name, url, sizeof(url));
    if (where == PL_SIG_PLACE_REDIRECT) {
        json_t *m = sig_reply("redirect", re);
        json_object_set_new(m, "room", json_string(name));
        json_object_set_new(m, "url", json_string(url));
        sig_send(s, c, m);
        s->redirected++;
        return true;
    }
    if (where < 0) {
        sig_error(s, c, re, "unavailable",
                  "the cluster cannot place this room now: try again in a moment");
        s->refused_unplaced++;
        return true;
    }
    return false;
}

void sig_on_join(pl_sig *s, conn *c, json_t *msg, json_t *re)
{
    const char *name = json_string_value(json_object_get(msg, "room"));
    if (!name || !valid_room_name(name)) {
        sig_error(s, c, re, "bad_request", "room must be 1-64 characters of [A-Za-z0-9._-]");
        return;
    }
    if (c->only_room[0] && strcmp(name, c->only_room) != 0) {
        /* A guest link used for another room: refused, and the connection
         * goes (the protocol closes on a token that does not fit). */
        sig_error(s, c, re, "forbidden", "your token allows another room only");
        s->io.close(s->io.user, c->id, 1008, "wrong room for this token");
        s->auth_refused++;
        return;
    }
    const char *why = NULL;
    const char *refused = sig_calls_room_check(s->calls, c, name, &why);
    if (!refused)
        refused = sig_message_room_check(s, c, name, &why);
    if (refused) {
        sig_error(s, c, re, refused, why);
        return;
    }
    /* In a cluster, a room not hosted here may be another node's, or
     * placed on another node now: the client is sent there. */
    bool hosted = sig_room_find(&s->m, name) != NULL;
    if (!hosted && s->placement.place && placed_elsewhere(s, c, re, name))
        return;
    /* Draining: no new meetings nor newcomers, but a call accepted is a
     * meeting under way (its parties join its room after call-accepted).
     * In a cluster, a room stays where it is until it ends: its newcomers
     * still join it here, new rooms go to other nodes. */
    if (s->draining && strncmp(name, "call-", 5) != 0 && !(hosted && s->placement.place)) {
        sig_error(s, c, re, "draining", "this server is shutting down: try again later");
        s->refused_draining++;
        return;
    }
    c->closed_room[0] = '\0';
    /* Limits first, so that a refused join leaves the user where it was;
     * the user's own place in the room (another device) is not counted. */
    sig_room *r = sig_room_find(&s->m, name);
    size_t mine = 0;
    for (const conn *o = r ? r->members : NULL; o; o = o->next_member)
        mine += o->user == c->user;
    size_t max = r && r->max_participants ? r->max_participants : s->max_participants;
    if (r && r->n_members - mine >= max) {
        s->refused_room_full++;
        sig_error(s, c, re, "room_full", "this room has its maximum number of participants");
        return;
    }
    if (!r && s->m.n_rooms >= s->max_rooms) {
        s->refused_server_full++;
        sig_error(s, c, re, "room_full", "the server holds its maximum number of rooms");
        return;
    }
    /* A user is in at most one room: joining another leaves the first. */
    for (conn *o = c->user->devices; o; o = o->next_device)
        if (o->room)
            sig_leave_room(s, o, "left");
    r = sig_room_find(&s->m, name);
    if (!r) {
        r = sig_room_create(&s->m, name);
        if (r) {
            r->started_ms = s->now.mono_ms;
            sig_emit_room(s, PL_SIG_EV_ROOM_STARTED, r);
        }
    }
    if (!r) {
        sig_error(s, c, re, "internal", "out of memory");
        return;
    }
    sig_random_id(&s->env, 'p', c->participant_id, sizeof(c->participant_id));
    sig_room_add_member(&s->m, r, c);
    int rc = sig_message_joined(s, c);
    if (rc != PL_OK) {
        sig_room_remove_member(&s->m, c);
        c->participant_id[0] = '\0';
        if (!r->members)
            sig_emit_room(s, PL_SIG_EV_ROOM_FINISHED, r);
        sig_room_forget_if_empty(&s->m, r);
        sig_error(s, c, re, rc == PL_ENOSPC ? "quota" : "internal",
                  "the heads-up could not be recorded");
        return;
    }
    sig_emit_participant(s, PL_SIG_EV_PARTICIPANT_JOINED, c, r->name, NULL);
    sig_send(s, c, sig_joined_json(c, re));
    sig_send_room(s, r, c,
                  json_pack("{s:s,s:{s:s,s:s}}", "type", "participant-joined", "participant", "id",
                            c->participant_id, "name", c->name));
    sig_record_member(s, c);
    sig_subscriptions_refresh(s, r);
}

void sig_on_leave(pl_sig *s, conn *c, json_t *re)
{
    if (!c->room && c->closed_room[0]) {
        /* The server already closed the room (its call ended): leaving it
         * again is not a mistake. */
        json_t *m = sig_reply("left", re);
        json_object_set_new(m, "room", json_string(c->closed_room));
        c->closed_room[0] = '\0';
        sig_send(s, c, m);
        return;
    }
    if (!c->room) {
        sig_error(s, c, re, "not_found", "not in a room");
        return;
    }
    json_t *m = sig_reply("left", re);
    json_object_set_new(m, "room", json_string(c->room->name));
    sig_leave_room(s, c, "left");
    sig_send(s, c, m);
}

void sig_on_chat(pl_sig *s, conn *c, json_t *msg, json_t *re, pl_sig_time now)
{
    const char *text = json_string_value(json_object_get(msg, "text"));
    if (!c->room) {
        sig_error(s, c, re, "not_found", "join a room before chatting");
        return;
    }
    /* Chat text may contain newlines and tabs, unlike names. */
    long chars = text ? sig_utf8_chars(text) : 0;
    if (!text || chars < 1 || chars > CHAT_MAX_CHARS) {
        sig_error(s, c, re, "bad_request", "text must be 1-4096 characters");
        return;
    }
    if (re)
        sig_send(s, c, sig_reply("ok", re));
    sig_send_room(s, c->room, NULL,
                  json_pack("{s:s,s:{s:s,s:s},s:s,s:I}", "type", "chat", "from", "id",
                            c->participant_id, "name", c->name, "text", text, "ts",
                            (json_int_t)now.wall_ms));
}

/* mute: a participant mutes or unmutes one of its own tracks; the room
 * (sender included) is told, so tiles can show it. */
void sig_on_mute(pl_sig *s, conn *c, json_t *msg, json_t *re)
{
    const char *id = json_string_value(json_object_get(msg, "track_id"));
    json_t *muted = json_object_get(msg, "muted");
    if (!id || !json_is_boolean(muted)) {
        sig_error(s, c, re, "bad_request", "mute needs track_id and a boolean muted");
        return;
    }
    track *t = NULL;
    for (size_t i = 0; c->room && i < c->n_tracks && !t; i++)
        if (strcmp(c->tracks[i].id, id) == 0)
            t = &c->tracks[i];
    if (!t) {
        /* Someone else's track, or none at all: only owners control tracks. */
        bool exists = false;
        for (conn *o = c->room ? c->room->members : NULL; o && !exists; o = o->next_member)
            for (size_t i = 0; i < o->n_tracks; i++)
                exists = exists || strcmp(o->tracks[i].id, id) == 0;
        sig_error(s, c, re, exists ? "forbidden" : "not_found",
                  exists ? "only the publisher can mute a track" : "no such track");
        return;
    }
    t->muted = json_is_true(muted);
    if (re)
        sig_send(s, c, sig_reply("ok", re));
    sig_send_room(s, c->room, NULL,
                  json_pack("{s:s,s:s,s:s,s:b}", "type", "track-muted", "participant_id",
                            c->participant_id, "track_id", t->id, "muted", t->muted));
}

/* hand: a participant raises or lowers its hand; the room (sender
 * included) is told, and `joined` tells those who come later. */
void sig_on_hand(pl_sig *s, conn *c, json_t *msg, json_t *re)
{
    json_t *raised = json_object_get(msg, "raised");
    if (!json_is_boolean(raised)) {
        sig_error(s, c, re, "bad_request", "hand needs a boolean raised");
        return;
    }
    if (!c->room) {
        sig_error(s, c, re, "not_found", "join a room before raising a hand");
        return;
    }
    c->hand_raised = json_is_true(raised);
    if (re)
        sig_send(s, c, sig_reply("ok", re));
    sig_send_room(s, c->room, NULL,
                  json_pack("{s:s,s:s,s:b}", "type", "hand", "participant_id", c->participant_id,
                            "raised", c->hand_raised));
}
