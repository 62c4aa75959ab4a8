/* A room's recording as the protocol sees it (docs/protocol.md,
 * "Recording"): who may start and stop it, the room told of it from the
 * first second to the last (latecomers in `joined`), and the media side
 * told who is in it and where their media come from. The recording itself
 * is the media side's (pl_sig_media.record_*). */
#include <stdio.h>
#include <string.h>

#include "out.h"
#include "record.h"
#include "reply.h"

static void announce(pl_sig *s, const sig_room *r, const char *reason)
{
    json_t *m = json_pack("{s:s,s:b,s:s,s:s}", "type", "recording", "recording", r->recording,
                          "recording_id", r->recording_id, "by", r->recording_by);
    if (m && reason)
        json_object_set_new(m, "reason", json_string(reason));
    sig_send_room(s, r, NULL, m);
}

static void tell_member(pl_sig *s, const sig_room *r, const conn *c)
{
    if (s->media.record_participant)
        s->media.record_participant(s->media.user, r->name, c->participant_id, c->name,
                                    c->pub_transport);
}

int sig_record_set(pl_sig *s, sig_room *r, bool on, const char *by, const char *owner,
                   const pl_sig_message *msg, const char *id_in)
{
    if (on == r->recording)
        return PL_OK;
    if (on) {
        if (!s->media.record_start)
            return PL_EUNSUPPORTED;
        char id[PL_SIG_RECORDING_ID_MAX + 1] = "";
        if (id_in)
            snprintf(id, sizeof(id), "%s", id_in);
        int rc = s->media.record_start(s->media.user, r->name, owner, msg, id);
        if (rc != PL_OK)
            return rc;
        r->recording = true;
        snprintf(r->recording_id, sizeof(r->recording_id), "%s", id);
        snprintf(r->recording_by, sizeof(r->recording_by), "%s", by);
        for (const conn *c = r->members; c; c = c->next_member)
            tell_member(s, r, c);
    } else {
        if (s->media.record_stop)
            s->media.record_stop(s->media.user, r->name);
        r->recording = false;
        snprintf(r->recording_by, sizeof(r->recording_by), "%s", by);
    }
    announce(s, r, NULL);
    return PL_OK;
}

void sig_on_record(pl_sig *s, conn *c, json_t *msg, json_t *re)
{
    json_t *on = json_object_get(msg, "record");
    if (!json_is_boolean(on)) {
        sig_error(s, c, re, "bad_request", "record needs a boolean record");
        return;
    }
    if (!c->room) {
        sig_error(s, c, re, "not_found", "join a room before recording it");
        return;
    }
    if (!c->can_record) {
        sig_error(s, c, re, "forbidden", "your token does not allow recording (can_record)");
        return;
    }
    int rc =
        sig_record_set(s, c->room, json_is_true(on), c->participant_id, c->user->id, NULL, NULL);
    if (rc == PL_ENOSPC)
        sig_error(s, c, re, "quota", "no room left for recordings: delete some first");
    else if (rc != PL_OK)
        sig_error(s, c, re, "internal", "the recording could not start");
    else if (re)
        sig_send(s, c, sig_reply("ok", re));
}

int pl_sig_admin_record(pl_sig *s, const char *room, bool on, char *id)
{
    sig_room *r = room ? sig_room_find(&s->m, room) : NULL;
    if (!r || !r->members)
        return PL_ENOTFOUND;
    int rc = sig_record_set(s, r, on, "operator", NULL, NULL, NULL);
    if (rc == PL_OK && id)
        snprintf(id, PL_SIG_RECORDING_ID_MAX + 1, "%s", r->recording_id);
    return rc;
}

void pl_sig_recording_stopped(pl_sig *s, const char *room, const char *recording_id,
                              const char *reason)
{
    sig_room *r = room ? sig_room_find(&s->m, room) : NULL;
    if (!r || !r->recording || strcmp(r->recording_id, recording_id) != 0)
        return;
    if (s->media.record_stop)
        s->media.record_stop(s->media.user, r->name);
    r->recording = false;
    snprintf(r->recording_by, sizeof(r->recording_by), "server");
    announce(s, r, reason);
}

void sig_record_joined_json(const sig_room *r, json_t *joined)
{
    json_object_set_new(joined, "recording", json_boolean(r->recording));
    if (r->recording)
        json_object_set_new(joined, "recording_id", json_string(r->recording_id));
}

void sig_record_member(pl_sig *s, const conn *c)
{
    if (c->room && c->room->recording)
        tell_member(s, c->room, c);
}

void sig_record_left(pl_sig *s, sig_room *r, const char *participant_id)
{
    if (!r->recording)
        return;
    if (s->media.record_leave)
        s->media.record_leave(s->media.user, r->name, participant_id);
    /* The last one out ends the recording with the meeting. */
    if (!r->members)
        sig_record_set(s, r, false, "server", NULL, NULL, NULL);
}
