/* One-on-one calls (protocol section 4): ringing every device of the
 * callee, first answer wins, do-not-disturb, missed heads-ups kept in the
 * store, and a private room per accepted call that goes when the call ends.
 * Presence status follows the calls: ringing and in-call win over dnd. */
#include "sig_internal.h"

#include <stdio.h>
#include <string.h>

static call *find_call(pl_sig *s, const char *id)
{
    for (call *k = s->calls; k; k = k->next)
        if (strcmp(k->id, id) == 0)
            return k;
    return NULL;
}

static bool party(const call *k, const char *user_id)
{
    return strcmp(k->caller_user, user_id) == 0 || strcmp(k->callee_user, user_id) == 0;
}

static call *call_of_user(const pl_sig *s, const char *user_id)
{
    for (call *k = s->calls; k; k = k->next)
        if (party(k, user_id))
            return k;
    return NULL;
}

const char *sig_user_status(const pl_sig *s, const char *user_id)
{
    const call *k = call_of_user(s, user_id);
    if (k)
        return k->answered ? "in-call" : "ringing";
    const sig_user *u = sig_user_find(&s->m, user_id);
    if (!u || !u->devices)
        return "offline";
    return u->devices->dnd ? "dnd" : "online";
}

/* To every device of a user but one (NULL: all). */
static void tell_user(pl_sig *s, const char *user_id, const conn *except, json_t *msg)
{
    const sig_user *u = sig_user_find(&s->m, user_id);
    for (conn *o = u ? u->devices : NULL; o; o = o->next_device)
        if (o != except)
            sig_send(s, o, json_deep_copy(msg));
}

/* Events of a call go to every device of both users (protocol section 1:
 * events go to all of a user's connections). */
static void tell_parties(pl_sig *s, const call *k, const conn *except, json_t *msg)
{
    tell_user(s, k->caller_user, except, msg);
    tell_user(s, k->callee_user, except, msg);
    json_decref(msg);
}

static json_t *missed_item(const pl_missed *m)
{
    json_t *j =
        json_pack("{s:s,s:{s:s,s:s},s:I,s:s}", "call_id", m->call_id, "from", "id", m->from_id,
                  "name", m->from_name, "ts", (json_int_t)m->ts_ms, "reason", m->reason);
    if (m->topic[0])
        json_object_set_new(j, "topic", json_string(m->topic));
    return j;
}

static void append_missed(void *arg, const pl_missed *m)
{
    json_array_append_new(arg, missed_item(m));
}

json_t *sig_missed_json(pl_sig *s, const char *user_id)
{
    json_t *items = json_array();
    if (s->store)
        pl_store_each_missed(s->store, user_id, append_missed, items);
    return items;
}

static void store_missed(pl_sig *s, const call *k, const char *reason)
{
    pl_missed m;
    memset(&m, 0, sizeof(m));
    snprintf(m.call_id, sizeof(m.call_id), "%s", k->id);
    snprintf(m.from_id, sizeof(m.from_id), "%s", k->caller_user);
    snprintf(m.from_name, sizeof(m.from_name), "%s", k->caller_name);
    snprintf(m.topic, sizeof(m.topic), "%s", k->topic);
    snprintf(m.reason, sizeof(m.reason), "%s", reason);
    m.ts_ms = k->placed_ts;
    s->calls_missed++;
    if (s->store && pl_store_add_missed(s->store, k->callee_user, &m) != PL_OK)
        pl_env_logf(&s->env, PL_LOG_ERROR, "calls: heads-up %s could not be stored", k->id);
}

/* Ends a call: unlinks it first (so leaving its room cannot end it again),
 * tells both users' other devices their status, and takes whoever is still
 * in the private room out of it. */
static void end_call(pl_sig *s, call *k)
{
    for (call **pp = &s->calls; *pp; pp = &(*pp)->next)
        if (*pp == k) {
            *pp = k->next;
            break;
        }
    sig_presence_changed(s, k->caller_user, k->answered ? "in-call" : "ringing");
    sig_presence_changed(s, k->callee_user, k->answered ? "in-call" : "ringing");
    for (sig_room *r; (r = sig_room_find(&s->m, k->room)) && r->members;) {
        conn *o = r->members;
        snprintf(o->closed_room, sizeof(o->closed_room), "%s", k->room);
        sig_leave_room(s, o, "left");
    }
    pl_env_free(&s->env, k);
}

static json_t *outcome(const char *type, const call *k, const char *reason)
{
    json_t *m = json_pack("{s:s,s:s}", "type", type, "call_id", k->id);
    if (reason)
        json_object_set_new(m, "reason", json_string(reason));
    return m;
}

static const conn *online_device(const pl_sig *s, const char *user_id, const conn *except)
{
    const sig_user *u = sig_user_find(&s->m, user_id);
    for (const conn *o = u ? u->devices : NULL; o; o = o->next_device)
        if (o != except)
            return o;
    return NULL;
}

static bool valid_topic(json_t *t, const char **out)
{
    *out = "";
    if (!t || json_is_null(t))
        return true;
    if (!json_is_string(t))
        return false;
    long n = sig_printable_chars(json_string_value(t));
    if (n < 0 || n > TOPIC_MAX_CHARS)
        return false;
    *out = json_string_value(t);
    return true;
}

void sig_on_call(pl_sig *s, conn *c, json_t *msg, json_t *re, pl_sig_time now)
{
    const char *to = json_string_value(json_object_get(msg, "to"));
    json_t *audio_only = json_object_get(msg, "audio_only");
    const char *topic;
    if (!to || !valid_topic(json_object_get(msg, "topic"), &topic) ||
        (audio_only && !json_is_boolean(audio_only))) {
        sig_error(s, c, re, "bad_request",
                  "call needs `to` (a user id); topic is up to 200 printable characters, "
                  "audio_only a boolean");
        return;
    }
    if (strcmp(to, c->user->id) == 0) {
        sig_error(s, c, re, "bad_request", "you cannot call yourself");
        return;
    }
    const conn *callee = online_device(s, to, NULL);
    if (!callee || callee->only_room[0]) { /* guests are not in the directory */
        sig_error(s, c, re, "not_found", "no such user online");
        return;
    }
    /* A call is a private room: a token bound to one room takes no part. */
    if (c->only_room[0]) {
        sig_error(s, c, re, "forbidden", "your token allows one room only, not calls");
        return;
    }
    if (call_of_user(s, c->user->id)) {
        sig_error(s, c, re, "busy", "you are already in a call");
        return;
    }
    call *k = pl_env_alloc(&s->env, sizeof(*k));
    if (!k) {
        sig_error(s, c, re, "internal", "out of memory");
        return;
    }
    uint8_t rnd[6];
    pl_env_random(&s->env, rnd, sizeof(rnd));
    snprintf(k->id, sizeof(k->id), "c%02x%02x%02x%02x%02x%02x", rnd[0], rnd[1], rnd[2], rnd[3],
             rnd[4], rnd[5]);
    snprintf(k->room, sizeof(k->room), "call-%s", k->id);
    snprintf(k->caller_user, sizeof(k->caller_user), "%s", c->user->id);
    snprintf(k->caller_name, sizeof(k->caller_name), "%s", c->name);
    snprintf(k->callee_user, sizeof(k->callee_user), "%s", callee->user->id);
    snprintf(k->callee_name, sizeof(k->callee_name), "%s", callee->name);
    snprintf(k->topic, sizeof(k->topic), "%s", topic);
    k->audio_only = json_is_true(audio_only);
    k->caller = c;
    k->placed_at = now.mono_ms;
    k->placed_ts = now.wall_ms;
    s->calls_placed++;

    json_t *m = sig_reply("call-ringing", re);
    json_object_set_new(m, "call_id", json_string(k->id));
    json_object_set_new(m, "to",
                        json_pack("{s:s,s:s}", "id", k->callee_user, "name", k->callee_name));
    sig_send(s, c, m);

    /* A callee already ringing or talking is busy; in focus time (dnd) the
     * call does not ring but leaves a heads-up. Neither disturbs the callee
     * now, so neither tells it anything. */
    if (call_of_user(s, k->callee_user)) {
        sig_send(s, c, outcome("call-busy", k, NULL));
        pl_env_free(&s->env, k);
        return;
    }
    if (strcmp(sig_user_status(s, k->callee_user), "dnd") == 0) {
        store_missed(s, k, "dnd");
        sig_send(s, c, outcome("call-declined", k, "dnd"));
        pl_env_free(&s->env, k);
        return;
    }
    const char *caller_before = sig_user_status(s, k->caller_user);
    const char *callee_before = sig_user_status(s, k->callee_user);
    k->next = s->calls;
    s->calls = k;
    json_t *in =
        json_pack("{s:s,s:s,s:{s:s,s:s},s:b}", "type", "incoming-call", "call_id", k->id, "from",
                  "id", k->caller_user, "name", k->caller_name, "audio_only", k->audio_only);
    if (k->topic[0])
        json_object_set_new(in, "topic", json_string(k->topic));
    tell_user(s, k->callee_user, NULL, in);
    json_decref(in);
    sig_presence_changed(s, k->caller_user, caller_before);
    sig_presence_changed(s, k->callee_user, callee_before);
}

static void accept_call(pl_sig *s, conn *c, call *k)
{
    k->answered = c;
    s->calls_accepted++;
    /* The devices that take part join the room; the callee's other devices
     * stop ringing and stay out of it. */
    const char *users[2] = {k->caller_user, k->callee_user};
    for (size_t i = 0; i < 2; i++) {
        const sig_user *u = sig_user_find(&s->m, users[i]);
        for (conn *o = u ? u->devices : NULL; o; o = o->next_device) {
            json_t *m = json_pack("{s:s,s:s,s:s}", "type", "call-accepted", "call_id", k->id,
                                  "room", k->room);
            if (o != k->caller && o != k->answered)
                json_object_set_new(m, "elsewhere", json_true());
            sig_send(s, o, m);
        }
    }
    sig_presence_changed(s, k->caller_user, "ringing");
    sig_presence_changed(s, k->callee_user, "ringing");
}

void sig_on_call_action(pl_sig *s, conn *c, const char *type, json_t *msg, json_t *re)
{
    const char *id = json_string_value(json_object_get(msg, "call_id"));
    if (!id) {
        sig_error(s, c, re, "bad_request", "needs call_id");
        return;
    }
    call *k = find_call(s, id);
    if (!k || !party(k, c->user->id)) {
        sig_error(s, c, re, "not_found", "no such call");
        return;
    }
    bool is_caller = strcmp(k->caller_user, c->user->id) == 0;
    bool ringing = !k->answered;
    const char *outcome_type = NULL;
    if (strcmp(type, "call-accept") == 0 || strcmp(type, "call-decline") == 0) {
        if (is_caller) {
            sig_error(s, c, re, "forbidden", "only the callee answers a call");
            return;
        }
        if (!ringing) {
            sig_error(s, c, re, "conflict", "the call was already answered");
            return;
        }
        outcome_type = strcmp(type, "call-accept") == 0 ? "call-accepted" : "call-declined";
    } else if (strcmp(type, "call-cancel") == 0) {
        if (!is_caller) {
            sig_error(s, c, re, "forbidden", "only the caller cancels a call");
            return;
        }
        if (!ringing) {
            sig_error(s, c, re, "conflict", "the call was answered: hang up instead");
            return;
        }
        outcome_type = "call-cancelled";
    } else {
        /* Hanging up before an answer is what the caller's cancel or the
         * callee's decline would have been. */
        outcome_type = !ringing ? "call-ended" : is_caller ? "call-cancelled" : "call-declined";
    }
    if (re)
        sig_send(s, c, sig_reply("ok", re));
    if (strcmp(outcome_type, "call-accepted") == 0) {
        accept_call(s, c, k);
        return;
    }
    json_t *m = outcome(outcome_type, k, NULL);
    if (strcmp(outcome_type, "call-ended") == 0)
        json_object_set_new(m, "by", json_string(c->user->id));
    tell_parties(s, k, NULL, m);
    end_call(s, k);
}

void sig_on_missed_ack(pl_sig *s, conn *c, json_t *msg, json_t *re)
{
    json_t *ids = json_object_get(msg, "call_ids");
    bool ok = json_is_array(ids) && json_array_size(ids) <= PL_STORE_MAX_MISSED;
    for (size_t i = 0; ok && i < json_array_size(ids); i++)
        ok = json_is_string(json_array_get(ids, i));
    if (!ok) {
        sig_error(s, c, re, "bad_request", "missed-ack needs call_ids, an array of strings");
        return;
    }
    /* Acknowledging what is already gone (another device did) is fine. */
    for (size_t i = 0; s->store && i < json_array_size(ids); i++)
        pl_store_ack_missed(s->store, c->user->id, json_string_value(json_array_get(ids, i)));
    if (re)
        sig_send(s, c, sig_reply("ok", re));
}

const char *sig_call_room_check(pl_sig *s, const conn *c, const char *name, const char **why)
{
    if (strncmp(name, "call-", 5) != 0)
        return NULL;
    for (call *k = s->calls; k; k = k->next)
        if (k->answered && strcmp(k->room, name) == 0) {
            if (party(k, c->user->id))
                return NULL;
            *why = "this room is a private call";
            return "forbidden";
        }
    *why = "rooms named call-... belong to calls, and this call is not in progress";
    return "not_found";
}

void sig_call_room_left(pl_sig *s, conn *c, const char *name)
{
    for (call *k = s->calls; k; k = k->next)
        if (k->answered && strcmp(k->room, name) == 0 && party(k, c->user->id)) {
            json_t *m = outcome("call-ended", k, NULL);
            json_object_set_new(m, "by", json_string(c->user->id));
            tell_parties(s, k, NULL, m);
            end_call(s, k);
            return;
        }
}

void sig_calls_conn_gone(pl_sig *s, conn *c)
{
    for (call *k = s->calls, *next; k; k = next) {
        next = k->next;
        json_t *m = NULL;
        if (k->caller == c || k->answered == c) {
            bool by_caller = k->caller == c;
            if (k->answered) {
                m = outcome("call-ended", k, "disconnected");
                json_object_set_new(m, "by", json_string(c->user->id));
            } else if (by_caller) {
                m = outcome("call-cancelled", k, "disconnected");
            }
        } else if (!k->answered && c->user && strcmp(k->callee_user, c->user->id) == 0 &&
                   !online_device(s, k->callee_user, c)) {
            /* The callee's last device went while it rang: nobody answered,
             * so it is a heads-up like any other missed call. */
            store_missed(s, k, "missed");
            m = outcome("call-missed", k, "disconnected");
        }
        if (!m)
            continue;
        if (k->caller == c)
            k->caller = NULL;
        tell_parties(s, k, c, m);
        end_call(s, k);
    }
}

void sig_calls_resumed(pl_sig *s, conn *c)
{
    for (call *k = s->calls; k; k = k->next)
        if (k->answered && (k->caller == c || k->answered == c))
            sig_send(s, c,
                     json_pack("{s:s,s:s,s:s}", "type", "call-accepted", "call_id", k->id, "room",
                               k->room));
}

void sig_calls_tick(pl_sig *s, pl_sig_time now)
{
    int64_t timeout = s->ring_timeout_ms;
    for (call *k = s->calls, *next; k; k = next) {
        next = k->next;
        if (k->answered || now.mono_ms - k->placed_at < timeout)
            continue;
        store_missed(s, k, "missed");
        tell_parties(s, k, NULL, outcome("call-missed", k, NULL));
        end_call(s, k);
    }
}

void sig_calls_destroy(pl_sig *s)
{
    while (s->calls) {
        call *k = s->calls;
        s->calls = k->next;
        pl_env_free(&s->env, k);
    }
}
