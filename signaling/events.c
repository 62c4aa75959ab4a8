/* Events out of the core: the sequence that lets receivers order them and
 * drop duplicates, the boot id that keeps ids unique across restarts, and
 * the one JSON form webhooks and the log share (docs/webhooks.md). */
#include "events.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include <jansson.h>

static const char *const names[PL_SIG_EV_COUNT] = {
    [PL_SIG_EV_ROOM_STARTED] = "room.started",
    [PL_SIG_EV_ROOM_FINISHED] = "room.finished",
    [PL_SIG_EV_PARTICIPANT_JOINED] = "participant.joined",
    [PL_SIG_EV_PARTICIPANT_LEFT] = "participant.left",
    [PL_SIG_EV_CALL_OUTCOME] = "call.outcome",
    [PL_SIG_EV_CALL_ENDED] = "call.ended",
    [PL_SIG_EV_RECORDING_FINISHED] = "recording.finished",
};

const char *pl_sig_event_name(enum pl_sig_event_type type)
{
    return (unsigned)type < PL_SIG_EV_COUNT ? names[type] : "unknown";
}

void sig_events_now(pl_sig *s, pl_sig_time now)
{
    s->now = now;
}

void sig_emit(pl_sig *s, pl_sig_event *ev)
{
    if (!s->io.event)
        return;
    if (!s->boot_id[0]) {
        uint8_t r[8];
        pl_env_random(&s->env, r, sizeof(r));
        for (size_t i = 0; i < sizeof(r); i++)
            snprintf(s->boot_id + 2 * i, 3, "%02x", r[i]);
    }
    char id[48];
    ev->seq = ++s->event_seq;
    snprintf(id, sizeof(id), "%s-%" PRIu64, s->boot_id, ev->seq);
    ev->id = id;
    ev->wall_ms = s->now.wall_ms;
    s->io.event(s->io.user, ev);
}

void sig_emit_participant(pl_sig *s, enum pl_sig_event_type type, const conn *c, const char *room,
                          const char *reason)
{
    pl_sig_event ev = {.type = type,
                       .room = room,
                       .participant = {c->participant_id, c->name},
                       .user_id = c->user ? c->user->id : NULL,
                       .reason = reason,
                       .duration_ms = -1,
                       .ring_ms = -1};
    sig_emit(s, &ev);
}

void sig_emit_room(pl_sig *s, enum pl_sig_event_type type, const sig_room *r)
{
    pl_sig_event ev = {.type = type, .room = r->name, .duration_ms = -1, .ring_ms = -1};
    if (type == PL_SIG_EV_ROOM_FINISHED)
        ev.duration_ms = s->now.mono_ms - r->started_ms;
    sig_emit(s, &ev);
}

/* ---- JSON ---------------------------------------------------------------- */

static json_t *party_json(const pl_sig_party *p)
{
    return json_pack("{s:s,s:s}", "id", p->id, "name", p->name ? p->name : "");
}

static void set_str(json_t *o, const char *key, const char *v)
{
    if (v)
        json_object_set_new(o, key, json_string(v));
}

char *pl_sig_event_json(const pl_sig_event *ev)
{
    /* ISO 8601 in UTC with milliseconds, from the time the event carries. */
    char iso[40] = "";
    time_t secs = (time_t)(ev->wall_ms / 1000);
    struct tm tm;
    if (gmtime_r(&secs, &tm)) {
        size_t n = strftime(iso, sizeof(iso), "%Y-%m-%dT%H:%M:%S", &tm);
        snprintf(iso + n, sizeof(iso) - n, ".%03dZ", (int)(ev->wall_ms % 1000));
    }
    json_t *o =
        json_pack("{s:s,s:I,s:s,s:s,s:I}", "id", ev->id ? ev->id : "", "seq", (json_int_t)ev->seq,
                  "type", pl_sig_event_name(ev->type), "time", iso, "ts", (json_int_t)ev->wall_ms);
    if (!o)
        return NULL;
    json_object_set_new(o, "room", ev->room ? json_string(ev->room) : json_null());
    if (ev->participant.id) {
        json_t *p = party_json(&ev->participant);
        if (ev->user_id)
            json_object_set_new(p, "user_id", json_string(ev->user_id));
        json_object_set_new(o, "participant", p);
    }
    set_str(o, "reason", ev->reason);
    if (ev->duration_ms >= 0)
        json_object_set_new(o, "duration_ms", json_integer(ev->duration_ms));
    if (ev->recording_id)
        json_object_set_new(o, "recording",
                            json_pack("{s:s,s:s,s:b}", "id", ev->recording_id, "kind",
                                      ev->recording_kind ? ev->recording_kind : "meeting", "ok",
                                      ev->recording_ok));
    if (ev->call_id) {
        json_t *k = json_pack("{s:s}", "id", ev->call_id);
        set_str(k, "outcome", ev->outcome);
        if (ev->caller.id)
            json_object_set_new(k, "caller", party_json(&ev->caller));
        if (ev->callee.id)
            json_object_set_new(k, "callee", party_json(&ev->callee));
        if (ev->ring_ms >= 0)
            json_object_set_new(k, "ring_ms", json_integer(ev->ring_ms));
        set_str(k, "by", ev->by);
        json_object_set_new(o, "call", k);
    }
    char *text = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    return text;
}
