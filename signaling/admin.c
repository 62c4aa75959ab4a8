/* What operators do to rooms (the admin API): list them, take a
 * participant out, mute a track, close a room, set a room's limit. Each
 * goes through the same paths as the protocol's own requests, so the
 * participants hear of it as they would of anything else: the one taken
 * out gets `removed`, the others `participant-left`. */
#include "parley/signal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core.h"
#include "out.h"
#include "publish.h"
#include "rooms.h"

static const char *path_name(bool connected, bool tcp)
{
    return !connected ? NULL : tcp ? "tcp" : "udp";
}

static json_t *transport_json(uint64_t id, bool connected, bool tcp)
{
    if (!id)
        return json_null();
    const char *path = path_name(connected, tcp);
    return json_pack("{s:s,s:o}", "state", connected ? "connected" : "connecting", "path",
                     path ? json_string(path) : json_null());
}

static json_t *participant_json(const conn *c)
{
    /* The path media come in on, else the one they go out on. */
    const char *path = path_name(c->pub_connected, c->pub_tcp);
    if (!path)
        path = path_name(c->sub_connected, c->sub_tcp);
    return json_pack(
        "{s:s,s:s,s:s,s:o,s:o,s:b,s:{s:o,s:o}}", "id", c->participant_id, "name", c->name, "user",
        c->user ? c->user->id : "", "tracks", sig_tracks_json(c), "path",
        path ? json_string(path) : json_null(), "detached", c->detached, "transports", "publish",
        transport_json(c->pub_transport, c->pub_connected, c->pub_tcp), "subscribe",
        transport_json(c->sub_added ? c->sub_transport : 0, c->sub_connected, c->sub_tcp));
}

char *pl_sig_admin_rooms(const pl_sig *s)
{
    json_t *rooms = json_array();
    for (const sig_room *r = s->m.rooms; r; r = r->next) {
        json_t *members = json_array();
        for (const conn *c = r->members; c; c = c->next_member)
            json_array_append_new(members, participant_json(c));
        json_array_append_new(
            rooms,
            json_pack("{s:s,s:I,s:o}", "name", r->name, "max_participants",
                      (json_int_t)(r->max_participants ? r->max_participants : s->max_participants),
                      "participants", members));
    }
    json_t *page = json_pack("{s:o}", "rooms", rooms);
    char *text = page ? json_dumps(page, JSON_COMPACT) : NULL;
    json_decref(page);
    return text;
}

static conn *member(const pl_sig *s, const char *room, const char *participant_id)
{
    sig_room *r = room ? sig_room_find(&s->m, room) : NULL;
    for (conn *c = r ? r->members : NULL; c; c = c->next_member)
        if (participant_id && strcmp(c->participant_id, participant_id) == 0)
            return c;
    return NULL;
}

/* The participant is told first, while it is still in the room; the room
 * then hears it leave. A later `leave` from it gets `left`, as after a
 * call's room was closed. */
static void remove_member(pl_sig *s, conn *c, const char *reason)
{
    sig_send(
        s, c,
        json_pack("{s:s,s:s,s:s}", "type", "removed", "room", c->room->name, "reason", reason));
    snprintf(c->closed_room, sizeof(c->closed_room), "%s", c->room->name);
    sig_leave_room(s, c, "kicked");
    s->admin_removed++;
}

int pl_sig_admin_remove(pl_sig *s, const char *room, const char *participant_id)
{
    conn *c = member(s, room, participant_id);
    if (!c)
        return PL_ENOTFOUND;
    remove_member(s, c, "removed");
    return PL_OK;
}

int pl_sig_admin_close_room(pl_sig *s, const char *room)
{
    sig_room *r = room ? sig_room_find(&s->m, room) : NULL;
    if (!r)
        return PL_ENOTFOUND;
    /* The last one out frees the room: look it up again each time. */
    while ((r = sig_room_find(&s->m, room)) && r->members)
        remove_member(s, r->members, "closed");
    s->admin_closed++;
    return PL_OK;
}

int pl_sig_admin_mute(pl_sig *s, const char *room, const char *participant_id, const char *track_id,
                      bool muted)
{
    conn *c = member(s, room, participant_id);
    track *t = NULL;
    for (size_t i = 0; c && track_id && i < c->n_tracks && !t; i++)
        if (strcmp(c->tracks[i].id, track_id) == 0)
            t = &c->tracks[i];
    if (!t)
        return PL_ENOTFOUND;
    t->muted = muted;
    s->admin_muted++;
    /* As for the owner's own `mute`, with who did it: the owner's client
     * is expected to stop sending (docs/protocol.md). */
    sig_send_room(s, c->room, NULL,
                  json_pack("{s:s,s:s,s:s,s:b,s:s}", "type", "track-muted", "participant_id",
                            c->participant_id, "track_id", t->id, "muted", t->muted, "by",
                            "operator"));
    return PL_OK;
}

int pl_sig_admin_set_limit(pl_sig *s, const char *room, size_t max_participants)
{
    sig_room *r = room ? sig_room_find(&s->m, room) : NULL;
    if (!r)
        return PL_ENOTFOUND;
    if (max_participants < 1)
        return PL_EINVAL;
    r->max_participants = max_participants;
    return PL_OK;
}
