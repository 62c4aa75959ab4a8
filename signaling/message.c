/* Video heads-ups (docs/protocol.md, "Video heads-ups"): a caller leaves a
 * colleague a recorded message. It is a meeting of one in the private room
 * `message-<id>`, recorded from the caller's join (sig_record_set with the
 * message), stopped by message-stop, by leaving, or after
 * PL_SIG_MESSAGE_MAX_MS; once its file is finished it is attached to the
 * callee's heads-up and the callee's devices are told. */
#include <stdio.h>
#include <string.h>

#include "message.h"
#include "out.h"
#include "parley/recmanifest.h"
#include "record.h"
#include "reply.h"
#include "rooms.h"
#include "tokens.h"

#define ROOM_PREFIX "message-"
/* A message whose caller has not joined its room by then is given up. */
#define JOIN_WITHIN_MS 60000
/* Shorter than this is no message. */
#define MIN_MS 1000

typedef struct sig_message {
    struct sig_message *next;
    char id[PL_SIG_RECORDING_ID_MAX + 1];
    char room[ROOM_MAX_CHARS + 1];
    char caller[PL_AUTH_ID_MAX + 1], caller_name[NAME_MAX_BYTES + 1];
    char callee[PL_AUTH_ID_MAX + 1];
    char call_id[32];
    char reason[8]; /* of a heads-up it creates */
    bool audio_only;
    int64_t created_ms, started_ms; /* monotonic; started: 0 until recording */
    bool stopped;                   /* recording stopped: its files are being finished */
} sig_message;

static sig_message *find_by_room(pl_sig *s, const char *room)
{
    for (sig_message *m = s->messages; m; m = m->next)
        if (!strcmp(m->room, room))
            return m;
    return NULL;
}

static sig_message *find_by_id(pl_sig *s, const char *id)
{
    for (sig_message *m = s->messages; m; m = m->next)
        if (!strcmp(m->id, id))
            return m;
    return NULL;
}

static void unlink_message(pl_sig *s, sig_message *m)
{
    for (sig_message **pp = &s->messages; *pp; pp = &(*pp)->next)
        if (*pp == m) {
            *pp = m->next;
            break;
        }
    pl_env_free(&s->env, m);
}

static bool valid_user_id(const char *u)
{
    return u && pl_rec_name_valid(u) && strlen(u) <= PL_AUTH_ID_MAX;
}

static void tell_user(pl_sig *s, const char *user_id, json_t *msg)
{
    sig_user *u = sig_user_find(&s->m, user_id);
    for (conn *o = u ? u->devices : NULL; o; o = o->next_device)
        sig_send(s, o, json_deep_copy(msg));
    json_decref(msg);
}

void sig_on_message_start(pl_sig *s, conn *c, json_t *msg, json_t *re)
{
    const char *to = json_string_value(json_object_get(msg, "to"));
    json_t *call = json_object_get(msg, "call_id");
    json_t *audio = json_object_get(msg, "audio_only");
    if (!valid_user_id(to) ||
        (call && (!json_is_string(call) ||
                  strlen(json_string_value(call)) >= sizeof(((sig_message *)0)->call_id) ||
                  !pl_rec_name_valid(json_string_value(call)))) ||
        (audio && !json_is_boolean(audio))) {
        sig_error(s, c, re, "bad_request",
                  "message-start needs to (a user id), and call_id a string, audio_only a boolean");
        return;
    }
    if (!strcmp(to, c->user->id)) {
        sig_error(s, c, re, "bad_request", "a heads-up is for someone else");
        return;
    }
    if (c->only_room[0]) {
        sig_error(s, c, re, "forbidden", "guests do not leave heads-ups");
        return;
    }
    char reason[8] = "message";
    if (call && s->store) {
        pl_missed prior;
        if (pl_store_get_missed(s->store, to, json_string_value(call), &prior) == PL_OK) {
            if (strcmp(prior.from_id, c->user->id) != 0) {
                sig_error(s, c, re, "not_found", "no such call of yours");
                return;
            }
            snprintf(reason, sizeof(reason), "%s", prior.reason);
        }
    }
    if (!s->media.record_start) {
        sig_error(s, c, re, "internal", "this server does not record");
        return;
    }
    if (s->media.record_may_start &&
        s->media.record_may_start(s->media.user, c->user->id) == PL_ENOSPC) {
        sig_error(s, c, re, "quota", "no room left for your recordings: delete some first");
        return;
    }
    sig_message *m = pl_env_alloc(&s->env, sizeof(*m));
    if (m)
        memset(m, 0, sizeof(*m));
    if (!m || pl_rec_id_generate(&s->env, m->id) != PL_OK) {
        pl_env_free(&s->env, m);
        sig_error(s, c, re, "internal", "out of memory");
        return;
    }
    snprintf(m->room, sizeof(m->room), ROOM_PREFIX "%s", m->id);
    snprintf(m->caller, sizeof(m->caller), "%s", c->user->id);
    snprintf(m->caller_name, sizeof(m->caller_name), "%s", c->name);
    snprintf(m->callee, sizeof(m->callee), "%s", to);
    if (call)
        snprintf(m->call_id, sizeof(m->call_id), "%s", json_string_value(call));
    else
        sig_random_id(&s->env, 'm', m->call_id, sizeof(m->call_id));
    snprintf(m->reason, sizeof(m->reason), "%s", reason);
    m->audio_only = json_is_true(audio);
    m->created_ms = s->now.mono_ms;
    m->next = s->messages;
    s->messages = m;
    json_t *ready = sig_reply("message-ready", re);
    json_object_set_new(ready, "message_id", json_string(m->id));
    json_object_set_new(ready, "room", json_string(m->room));
    json_object_set_new(ready, "max_seconds", json_integer(PL_SIG_MESSAGE_MAX_MS / 1000));
    sig_send(s, c, ready);
}

static void stop(pl_sig *s, sig_message *m, const char *by)
{
    sig_room *r = sig_room_find(&s->m, m->room);
    if (m->stopped)
        return;
    m->stopped = true;
    if (r && r->recording)
        sig_record_set(s, r, false, by, NULL, NULL, NULL);
    /* The caller is done: the room goes with its last member. */
    if (r)
        sig_close_room(s, m->room);
}

void sig_on_message_stop(pl_sig *s, conn *c, json_t *msg, json_t *re)
{
    const char *id = json_string_value(json_object_get(msg, "message_id"));
    sig_message *m = id ? find_by_id(s, id) : NULL;
    if (!m || strcmp(m->caller, c->user->id) != 0) {
        sig_error(s, c, re, "not_found", "no such message of yours being recorded");
        return;
    }
    if (re)
        sig_send(s, c, sig_reply("ok", re));
    stop(s, m, c->participant_id[0] ? c->participant_id : "server");
    if (!m->started_ms)
        unlink_message(s, m); /* never recorded: nothing will finish */
}

const char *sig_message_room_check(pl_sig *s, const conn *c, const char *room, const char **why)
{
    if (strncmp(room, ROOM_PREFIX, strlen(ROOM_PREFIX)) != 0)
        return NULL;
    sig_message *m = find_by_room(s, room);
    if (!m || m->stopped) {
        *why = "rooms named message-... belong to heads-ups being recorded, and this one is not";
        return "not_found";
    }
    if (strcmp(m->caller, c->user->id) != 0) {
        *why = "this room is someone's heads-up";
        return "forbidden";
    }
    return NULL;
}

int sig_message_joined(pl_sig *s, conn *c)
{
    sig_message *m = c->room ? find_by_room(s, c->room->name) : NULL;
    if (!m || m->started_ms || c->room->recording)
        return PL_OK;
    pl_sig_message info = {.caller = m->caller,
                           .callee = m->callee,
                           .call_id = m->call_id,
                           .audio_only = m->audio_only};
    int rc = sig_record_set(s, c->room, true, c->participant_id, m->caller, &info, m->id);
    if (rc != PL_OK) {
        json_t *saved = json_pack("{s:s,s:s,s:i}", "type", "message-saved", "message_id", m->id,
                                  "duration_ms", 0);
        json_object_set_new(saved, "error", json_string(rc == PL_ENOSPC ? "quota" : "internal"));
        tell_user(s, m->caller, saved);
        unlink_message(s, m);
        return rc;
    }
    m->started_ms = s->now.mono_ms ? s->now.mono_ms : 1;
    return PL_OK;
}

void sig_message_tick(pl_sig *s)
{
    for (sig_message *m = s->messages, *next; m; m = next) {
        next = m->next;
        if (m->stopped)
            continue;
        if (m->started_ms && s->now.mono_ms - m->started_ms >= PL_SIG_MESSAGE_MAX_MS)
            stop(s, m, "server");
        else if (!m->started_ms && s->now.mono_ms - m->created_ms >= JOIN_WITHIN_MS)
            unlink_message(s, m);
    }
}

void pl_sig_recording_finished(pl_sig *s, const char *recording_id,
                               const pl_sig_recording_result *res)
{
    sig_message *m = recording_id ? find_by_id(s, recording_id) : NULL;
    if (!m)
        return;
    bool kept = res->ok && res->file && res->file[0] && res->length_ms >= MIN_MS && s->store;
    pl_missed h;
    memset(&h, 0, sizeof(h));
    if (kept) {
        snprintf(h.call_id, sizeof(h.call_id), "%s", m->call_id);
        snprintf(h.from_id, sizeof(h.from_id), "%s", m->caller);
        snprintf(h.from_name, sizeof(h.from_name), "%s", m->caller_name);
        snprintf(h.reason, sizeof(h.reason), "%s", m->reason);
        h.ts_ms = s->now.wall_ms;
        snprintf(h.message_id, sizeof(h.message_id), "%s", m->id);
        snprintf(h.message_file, sizeof(h.message_file), "%s", res->file);
        h.message_audio_only = m->audio_only;
        h.message_ms = res->length_ms;
        kept = pl_store_set_message(s->store, m->callee, &h) == PL_OK;
    }
    if (!kept && s->media.recording_delete)
        s->media.recording_delete(s->media.user, m->id);
    tell_user(s, m->caller,
              json_pack("{s:s,s:s,s:I}", "type", "message-saved", "message_id", m->id,
                        "duration_ms", (json_int_t)(kept ? res->length_ms : 0)));
    if (kept) {
        pl_missed stored;
        if (pl_store_get_missed(s->store, m->callee, m->call_id, &stored) != PL_OK)
            stored = h;
        json_t *items = json_array();
        json_array_append_new(items, sig_calls_missed_item(&stored));
        json_t *out = json_pack("{s:s,s:o}", "type", "missed", "items", items);
        /* Devices in do-not-disturb hear of it when they leave it. */
        sig_user *u = sig_user_find(&s->m, m->callee);
        for (conn *o = u ? u->devices : NULL; o; o = o->next_device)
            if (!o->dnd)
                sig_send(s, o, json_deep_copy(out));
        json_decref(out);
    }
    unlink_message(s, m);
}

void sig_messages_destroy(pl_sig *s)
{
    while (s->messages)
        unlink_message(s, s->messages);
}
