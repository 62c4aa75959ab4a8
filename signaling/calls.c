/* One-on-one calls (protocol section 4): ringing every device of the
 * callee, first answer wins, do-not-disturb, missed heads-ups kept in the
 * store, and a private room per accepted call that goes when the call ends.
 * Presence status follows the calls: ringing and in-call win over dnd.
 * The rest of the core is reached through the ops of calls.h only. */
#include "calls.h"

#include <stdio.h>
#include <string.h>

#include "away.h"
#include "reply.h"
#include "tokens.h"

#define TOPIC_MAX_CHARS 200

/* One call from the moment it rings until it ends (then it is freed). */
typedef struct call {
    char id[16];
    char room[24]; /* "call-<id>": the private room of an accepted call */
    char caller_user[PL_AUTH_ID_MAX + 1], callee_user[PL_AUTH_ID_MAX + 1];
    char caller_name[NAME_MAX_BYTES + 1], callee_name[NAME_MAX_BYTES + 1];
    conn *caller;   /* the device that placed the call */
    conn *answered; /* the callee device that took it; NULL while ringing */
    /* The callee is a user of another node (docs/cluster.md): it hears of
     * the call through the bus, and answered there. */
    bool remote, remote_answered;
    char topic[TOPIC_MAX_CHARS * 4 + 1];
    bool audio_only;
    int64_t placed_at;   /* monotonic ms: the ring timeout */
    int64_t placed_ts;   /* wall ms: the heads-up's `ts` */
    int64_t answered_at; /* monotonic ms: call.ended's duration */
    struct call *next;
} call;

struct sig_calls {
    pl_env env;
    sig_calls_ops ops;
    call *list;
    int64_t ring_timeout_ms;
    pl_store *store; /* NULL: heads-ups live only as long as the process */
    sig_away *away;  /* calls from other nodes ringing users here */
    uint64_t placed, accepted, missed;
};

sig_calls *sig_calls_create(const pl_env *env, const sig_calls_ops *ops)
{
    sig_calls *cs = pl_env_alloc(env, sizeof(*cs));
    if (!cs)
        return NULL;
    cs->env = *env;
    cs->ops = *ops;
    cs->ring_timeout_ms = PL_SIG_DEFAULT_RING_MS;
    cs->away = sig_away_create(env, &cs->ops);
    if (!cs->away) {
        pl_env_free(env, cs);
        return NULL;
    }
    return cs;
}

void sig_calls_destroy(sig_calls *cs)
{
    if (!cs)
        return;
    while (cs->list) {
        call *k = cs->list;
        cs->list = k->next;
        pl_env_free(&cs->env, k);
    }
    sig_away_destroy(cs->away);
    pl_env_free(&cs->env, cs);
}

void sig_calls_set_ring_timeout(sig_calls *cs, int64_t timeout_ms)
{
    cs->ring_timeout_ms = timeout_ms > 0 ? timeout_ms : PL_SIG_DEFAULT_RING_MS;
}

void sig_calls_set_store(sig_calls *cs, pl_store *store)
{
    cs->store = store;
}

void sig_calls_stats_get(const sig_calls *cs, sig_calls_stats *out)
{
    *out = (sig_calls_stats){.placed = cs->placed, .accepted = cs->accepted, .missed = cs->missed};
    for (const call *k = cs->list; k; k = k->next)
        out->calls++;
    out->calls += sig_away_count(cs->away);
}

/* ---- the ops ------------------------------------------------------------- */

static bool answered(const call *k)
{
    return k->answered || k->remote_answered;
}

/* A message for the callee's node about call k (docs/cluster.md). */
static void tell_remote(sig_calls *cs, const call *k, const json_t *msg, bool end)
{
    pl_busmsg b = {.kind = PL_BUS_TELL, .msg = (json_t *)msg, .end = end};
    snprintf(b.call_id, sizeof(b.call_id), "%s", k->id);
    snprintf(b.user, sizeof(b.user), "%s", k->callee_user);
    cs->ops.bus_send(cs->ops.sig, &b);
}

static void send_to(sig_calls *cs, conn *c, json_t *msg)
{
    cs->ops.send(cs->ops.sig, c, msg);
}

static void refuse(sig_calls *cs, conn *c, json_t *re, const char *code, const char *message)
{
    cs->ops.error(cs->ops.sig, c, re, code, message);
}

static sig_user *find_user(const sig_calls *cs, const char *user_id)
{
    return cs->ops.find_user(cs->ops.sig, user_id);
}

static void presence_changed(sig_calls *cs, const char *user_id, const char *before)
{
    cs->ops.presence_changed(cs->ops.sig, user_id, before);
}

/* call.outcome (`outcome`, how long it rang) or call.ended (who hung up,
 * how long the call lasted). The room is named only once the call has one. */
static void emit_call(sig_calls *cs, const call *k, enum pl_sig_event_type type,
                      const char *outcome, const char *reason, const char *by)
{
    int64_t now = cs->ops.now(cs->ops.sig).mono_ms;
    pl_sig_event ev = {.type = type,
                       .room = answered(k) ? k->room : NULL,
                       .reason = reason,
                       .call_id = k->id,
                       .outcome = outcome,
                       .caller = {k->caller_user, k->caller_name},
                       .callee = {k->callee_user, k->callee_name},
                       .by = by,
                       .duration_ms = -1,
                       .ring_ms = -1};
    if (type == PL_SIG_EV_CALL_OUTCOME)
        ev.ring_ms = now - k->placed_at;
    else
        ev.duration_ms = now - k->answered_at;
    cs->ops.emit(cs->ops.sig, &ev);
}

/* ---- calls --------------------------------------------------------------- */

static call *find_call(const sig_calls *cs, const char *id)
{
    for (call *k = cs->list; k; k = k->next)
        if (strcmp(k->id, id) == 0)
            return k;
    return NULL;
}

static bool party(const call *k, const char *user_id)
{
    return strcmp(k->caller_user, user_id) == 0 || strcmp(k->callee_user, user_id) == 0;
}

static call *call_of_user(const sig_calls *cs, const char *user_id)
{
    for (call *k = cs->list; k; k = k->next)
        if (party(k, user_id))
            return k;
    return NULL;
}

const char *sig_calls_user_status(const sig_calls *cs, const char *user_id)
{
    const call *k = call_of_user(cs, user_id);
    if (k)
        return answered(k) ? "in-call" : "ringing";
    const char *away = sig_away_status(cs->away, user_id);
    if (away)
        return away;
    const sig_user *u = find_user(cs, user_id);
    if (!u || !u->devices)
        return "offline";
    return u->devices->dnd ? "dnd" : "online";
}

/* To every device of a user but one (NULL: all); `msg` is kept. */
static void tell_user(sig_calls *cs, const char *user_id, const conn *except, const json_t *msg)
{
    const sig_user *u = find_user(cs, user_id);
    for (conn *o = u ? u->devices : NULL; o; o = o->next_device)
        if (o != except)
            send_to(cs, o, json_deep_copy(msg));
}

/* Events of a call go to every device of both users (protocol section 1:
 * events go to all of a user's connections); `msg` is released. */
static void tell_parties(sig_calls *cs, const call *k, const conn *except, json_t *msg)
{
    tell_user(cs, k->caller_user, except, msg);
    if (k->remote)
        tell_remote(cs, k, msg, true);
    else
        tell_user(cs, k->callee_user, except, msg);
    json_decref(msg);
}

json_t *sig_calls_missed_item(const pl_missed *m)
{
    json_t *j =
        json_pack("{s:s,s:{s:s,s:s},s:I,s:s}", "call_id", m->call_id, "from", "id", m->from_id,
                  "name", m->from_name, "ts", (json_int_t)m->ts_ms, "reason", m->reason);
    if (m->topic[0])
        json_object_set_new(j, "topic", json_string(m->topic));
    if (m->message_id[0]) {
        char url[160];
        snprintf(url, sizeof(url), "/recordings/%s/%s", m->message_id, m->message_file);
        json_object_set_new(j, "message",
                            json_pack("{s:s,s:s,s:b,s:I}", "id", m->message_id, "url", url,
                                      "audio_only", m->message_audio_only, "duration_ms",
                                      (json_int_t)m->message_ms));
    }
    return j;
}

static void append_missed(void *arg, const pl_missed *m)
{
    json_array_append_new(arg, sig_calls_missed_item(m));
}

json_t *sig_calls_missed_json(const sig_calls *cs, const char *user_id)
{
    json_t *items = json_array();
    if (cs->store)
        pl_store_each_missed(cs->store, user_id, append_missed, items);
    return items;
}

static void store_missed(sig_calls *cs, const call *k, const char *reason)
{
    pl_missed m;
    memset(&m, 0, sizeof(m));
    snprintf(m.call_id, sizeof(m.call_id), "%s", k->id);
    snprintf(m.from_id, sizeof(m.from_id), "%s", k->caller_user);
    snprintf(m.from_name, sizeof(m.from_name), "%s", k->caller_name);
    snprintf(m.topic, sizeof(m.topic), "%s", k->topic);
    snprintf(m.reason, sizeof(m.reason), "%s", reason);
    m.ts_ms = k->placed_ts;
    cs->missed++;
    if (cs->store && pl_store_add_missed(cs->store, k->callee_user, &m) != PL_OK)
        pl_env_logf(&cs->env, PL_LOG_ERROR, "calls: heads-up %s could not be stored", k->id);
}

/* Ends a call: unlinks it first (so leaving its room cannot end it again),
 * tells both users' other devices their status, and takes whoever is still
 * in the private room out of it. */
static void end_call(sig_calls *cs, call *k)
{
    for (call **pp = &cs->list; *pp; pp = &(*pp)->next)
        if (*pp == k) {
            *pp = k->next;
            break;
        }
    presence_changed(cs, k->caller_user, answered(k) ? "in-call" : "ringing");
    presence_changed(cs, k->callee_user, answered(k) ? "in-call" : "ringing");
    cs->ops.close_room(cs->ops.sig, k->room);
    pl_env_free(&cs->env, k);
}

static json_t *outcome(const char *type, const call *k, const char *reason)
{
    json_t *m = json_pack("{s:s,s:s}", "type", type, "call_id", k->id);
    if (reason)
        json_object_set_new(m, "reason", json_string(reason));
    return m;
}

static const conn *online_device(const sig_calls *cs, const char *user_id, const conn *except)
{
    const sig_user *u = find_user(cs, user_id);
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

void sig_calls_on_call(sig_calls *cs, conn *c, json_t *msg, json_t *re, pl_sig_time now)
{
    const char *to = json_string_value(json_object_get(msg, "to"));
    json_t *audio_only = json_object_get(msg, "audio_only");
    const char *topic;
    if (!to || !valid_topic(json_object_get(msg, "topic"), &topic) ||
        (audio_only && !json_is_boolean(audio_only))) {
        refuse(cs, c, re, "bad_request",
               "call needs `to` (a user id); topic is up to 200 printable characters, "
               "audio_only a boolean");
        return;
    }
    if (strcmp(to, c->user->id) == 0) {
        refuse(cs, c, re, "bad_request", "you cannot call yourself");
        return;
    }
    const conn *callee = online_device(cs, to, NULL);
    /* Not here: on another node of the cluster, perhaps (its directory
     * has no guests either). */
    pl_sig_peer peer;
    bool remote = !callee && cs->ops.clustered(cs->ops.sig) &&
                  cs->ops.dir_get(cs->ops.sig, to, &peer) == PL_OK;
    if (!remote && (!callee || callee->only_room[0])) { /* guests are not in the directory */
        refuse(cs, c, re, "not_found", "no such user online");
        return;
    }
    /* A call is a private room: a token bound to one room takes no part. */
    if (c->only_room[0]) {
        refuse(cs, c, re, "forbidden", "your token allows one room only, not calls");
        return;
    }
    if (call_of_user(cs, c->user->id)) {
        refuse(cs, c, re, "busy", "you are already in a call");
        return;
    }
    call *k = pl_env_alloc(&cs->env, sizeof(*k));
    if (!k) {
        refuse(cs, c, re, "internal", "out of memory");
        return;
    }
    sig_random_id(&cs->env, 'c', k->id, sizeof(k->id));
    snprintf(k->room, sizeof(k->room), "call-%s", k->id);
    snprintf(k->caller_user, sizeof(k->caller_user), "%s", c->user->id);
    snprintf(k->caller_name, sizeof(k->caller_name), "%s", c->name);
    snprintf(k->callee_user, sizeof(k->callee_user), "%s", remote ? peer.id : callee->user->id);
    snprintf(k->callee_name, sizeof(k->callee_name), "%s", remote ? peer.name : callee->name);
    k->remote = remote;
    snprintf(k->topic, sizeof(k->topic), "%s", topic);
    k->audio_only = json_is_true(audio_only);
    k->caller = c;
    k->placed_at = now.mono_ms;
    k->placed_ts = now.wall_ms;
    cs->placed++;

    json_t *m = sig_reply("call-ringing", re);
    json_object_set_new(m, "call_id", json_string(k->id));
    json_object_set_new(m, "to",
                        json_pack("{s:s,s:s}", "id", k->callee_user, "name", k->callee_name));
    send_to(cs, c, m);

    /* A callee already ringing or talking is busy; in focus time (dnd) the
     * call does not ring but leaves a heads-up. Neither disturbs the callee
     * now, so neither tells it anything. */
    const char *status = remote ? peer.status : sig_calls_user_status(cs, k->callee_user);
    if (strcmp(status, "ringing") == 0 || strcmp(status, "in-call") == 0) {
        send_to(cs, c, outcome("call-busy", k, NULL));
        emit_call(cs, k, PL_SIG_EV_CALL_OUTCOME, "busy", NULL, NULL);
        pl_env_free(&cs->env, k);
        return;
    }
    if (strcmp(status, "dnd") == 0) {
        store_missed(cs, k, "dnd");
        send_to(cs, c, outcome("call-declined", k, "dnd"));
        emit_call(cs, k, PL_SIG_EV_CALL_OUTCOME, "declined", "dnd", NULL);
        pl_env_free(&cs->env, k);
        return;
    }
    const char *caller_before = sig_calls_user_status(cs, k->caller_user);
    const char *callee_before = sig_calls_user_status(cs, k->callee_user);
    k->next = cs->list;
    cs->list = k;
    json_t *in =
        json_pack("{s:s,s:s,s:{s:s,s:s},s:b}", "type", "incoming-call", "call_id", k->id, "from",
                  "id", k->caller_user, "name", k->caller_name, "audio_only", k->audio_only);
    if (k->topic[0])
        json_object_set_new(in, "topic", json_string(k->topic));
    if (remote) {
        pl_busmsg b = {.kind = PL_BUS_RING, .audio_only = k->audio_only};
        snprintf(b.call_id, sizeof(b.call_id), "%s", k->id);
        snprintf(b.user, sizeof(b.user), "%s", k->callee_user);
        snprintf(b.caller, sizeof(b.caller), "%s", k->caller_user);
        snprintf(b.name, sizeof(b.name), "%s", k->caller_name);
        snprintf(b.topic, sizeof(b.topic), "%s", k->topic);
        cs->ops.bus_send(cs->ops.sig, &b);
    } else {
        tell_user(cs, k->callee_user, NULL, in);
    }
    json_decref(in);
    presence_changed(cs, k->caller_user, caller_before);
    presence_changed(cs, k->callee_user, callee_before);
}

/* c: the device that took it, NULL when the callee is on another node. */
static void accept_call(sig_calls *cs, conn *c, call *k)
{
    k->answered = c;
    k->remote_answered = !c;
    k->answered_at = cs->ops.now(cs->ops.sig).mono_ms;
    cs->accepted++;
    emit_call(cs, k, PL_SIG_EV_CALL_OUTCOME, "answered", NULL, NULL);
    /* The devices that take part join the room; the callee's other devices
     * stop ringing and stay out of it. */
    const char *users[2] = {k->caller_user, k->callee_user};
    if (k->remote) {
        /* The callee's node knows which of its devices answered. */
        json_t *m =
            json_pack("{s:s,s:s,s:s}", "type", "call-accepted", "call_id", k->id, "room", k->room);
        tell_remote(cs, k, m, false);
        json_decref(m);
    }
    for (size_t i = 0; i < (k->remote ? 1u : 2u); i++) {
        const sig_user *u = find_user(cs, users[i]);
        for (conn *o = u ? u->devices : NULL; o; o = o->next_device) {
            json_t *m = json_pack("{s:s,s:s,s:s}", "type", "call-accepted", "call_id", k->id,
                                  "room", k->room);
            if (o != k->caller && o != k->answered)
                json_object_set_new(m, "elsewhere", json_true());
            send_to(cs, o, m);
        }
    }
    presence_changed(cs, k->caller_user, "ringing");
    presence_changed(cs, k->callee_user, "ringing");
}

void sig_calls_on_action(sig_calls *cs, conn *c, const char *type, json_t *msg, json_t *re)
{
    const char *id = json_string_value(json_object_get(msg, "call_id"));
    if (!id) {
        refuse(cs, c, re, "bad_request", "needs call_id");
        return;
    }
    call *k = find_call(cs, id);
    if ((!k || !party(k, c->user->id)) && sig_away_on_action(cs->away, c, type, id, re))
        return; /* a call from another node */
    if (!k || !party(k, c->user->id)) {
        refuse(cs, c, re, "not_found", "no such call");
        return;
    }
    bool is_caller = strcmp(k->caller_user, c->user->id) == 0;
    bool ringing = !answered(k);
    const char *outcome_type = NULL;
    if (strcmp(type, "call-accept") == 0 || strcmp(type, "call-decline") == 0) {
        if (is_caller) {
            refuse(cs, c, re, "forbidden", "only the callee answers a call");
            return;
        }
        if (!ringing) {
            refuse(cs, c, re, "conflict", "the call was already answered");
            return;
        }
        outcome_type = strcmp(type, "call-accept") == 0 ? "call-accepted" : "call-declined";
    } else if (strcmp(type, "call-cancel") == 0) {
        if (!is_caller) {
            refuse(cs, c, re, "forbidden", "only the caller cancels a call");
            return;
        }
        if (!ringing) {
            refuse(cs, c, re, "conflict", "the call was answered: hang up instead");
            return;
        }
        outcome_type = "call-cancelled";
    } else {
        /* Hanging up before an answer is what the caller's cancel or the
         * callee's decline would have been. */
        outcome_type = !ringing ? "call-ended" : is_caller ? "call-cancelled" : "call-declined";
    }
    if (re)
        send_to(cs, c, sig_reply("ok", re));
    if (strcmp(outcome_type, "call-accepted") == 0) {
        accept_call(cs, c, k);
        return;
    }
    json_t *m = outcome(outcome_type, k, NULL);
    if (strcmp(outcome_type, "call-ended") == 0) {
        json_object_set_new(m, "by", json_string(c->user->id));
        emit_call(cs, k, PL_SIG_EV_CALL_ENDED, NULL, NULL, c->user->id);
    } else {
        emit_call(cs, k, PL_SIG_EV_CALL_OUTCOME, outcome_type + 5 /* "call-" */, NULL, NULL);
    }
    tell_parties(cs, k, NULL, m);
    end_call(cs, k);
}

void sig_calls_on_missed_ack(sig_calls *cs, conn *c, json_t *msg, json_t *re)
{
    json_t *ids = json_object_get(msg, "call_ids");
    bool ok = json_is_array(ids) && json_array_size(ids) <= PL_STORE_MAX_MISSED;
    for (size_t i = 0; ok && i < json_array_size(ids); i++)
        ok = json_is_string(json_array_get(ids, i));
    if (!ok) {
        refuse(cs, c, re, "bad_request", "missed-ack needs call_ids, an array of strings");
        return;
    }
    /* Acknowledging what is already gone (another device did) is fine. */
    for (size_t i = 0; cs->store && i < json_array_size(ids); i++) {
        const char *id = json_string_value(json_array_get(ids, i));
        pl_missed m;
        bool message =
            pl_store_get_missed(cs->store, c->user->id, id, &m) == PL_OK && m.message_id[0];
        /* The heads-up goes first: a message is never listed without its
         * file. */
        if (pl_store_ack_missed(cs->store, c->user->id, id) == PL_OK && message &&
            cs->ops.recording_delete)
            cs->ops.recording_delete(cs->ops.sig, m.message_id);
    }
    if (re)
        send_to(cs, c, sig_reply("ok", re));
}

const char *sig_calls_room_check(const sig_calls *cs, const conn *c, const char *room,
                                 const char **why)
{
    if (strncmp(room, "call-", 5) != 0)
        return NULL;
    for (const call *k = cs->list; k; k = k->next)
        if (answered(k) && strcmp(k->room, room) == 0) {
            if (party(k, c->user->id))
                return NULL;
            *why = "this room is a private call";
            return "forbidden";
        }
    if (sig_away_room_party(cs->away, c, room))
        return NULL;
    *why = "rooms named call-... belong to calls, and this call is not in progress";
    return "not_found";
}

const char *sig_calls_room_node(const sig_calls *cs, const conn *c, const char *room)
{
    if (strncmp(room, "call-", 5) != 0)
        return NULL;
    for (const call *k = cs->list; k; k = k->next)
        if (answered(k) && strcmp(k->room, room) == 0)
            return NULL;
    return sig_away_room_node(cs->away, c, room);
}

void sig_calls_room_left(sig_calls *cs, conn *c, const char *room)
{
    for (call *k = cs->list; k; k = k->next)
        if (answered(k) && strcmp(k->room, room) == 0 && party(k, c->user->id)) {
            json_t *m = outcome("call-ended", k, NULL);
            json_object_set_new(m, "by", json_string(c->user->id));
            emit_call(cs, k, PL_SIG_EV_CALL_ENDED, NULL, NULL, c->user->id);
            tell_parties(cs, k, NULL, m);
            end_call(cs, k);
            return;
        }
    sig_away_room_left(cs->away, c, room);
}

void sig_calls_conn_gone(sig_calls *cs, conn *c)
{
    for (call *k = cs->list, *next; k; k = next) {
        next = k->next;
        json_t *m = NULL;
        if (k->caller == c || k->answered == c) {
            bool by_caller = k->caller == c;
            if (answered(k)) {
                m = outcome("call-ended", k, "disconnected");
                json_object_set_new(m, "by", json_string(c->user->id));
                emit_call(cs, k, PL_SIG_EV_CALL_ENDED, NULL, "disconnected", c->user->id);
            } else if (by_caller) {
                m = outcome("call-cancelled", k, "disconnected");
                emit_call(cs, k, PL_SIG_EV_CALL_OUTCOME, "cancelled", "disconnected", NULL);
            }
        } else if (!answered(k) && c->user && strcmp(k->callee_user, c->user->id) == 0 &&
                   !online_device(cs, k->callee_user, c)) {
            /* The callee's last device went while it rang: nobody answered,
             * so it is a heads-up like any other missed call. */
            store_missed(cs, k, "missed");
            m = outcome("call-missed", k, "disconnected");
            emit_call(cs, k, PL_SIG_EV_CALL_OUTCOME, "missed", "disconnected", NULL);
        }
        if (!m)
            continue;
        if (k->caller == c)
            k->caller = NULL;
        tell_parties(cs, k, c, m);
        end_call(cs, k);
    }
    sig_away_conn_gone(cs->away, c);
}

void sig_calls_resumed(sig_calls *cs, conn *c)
{
    for (call *k = cs->list; k; k = k->next)
        if (k->answered && (k->caller == c || k->answered == c))
            send_to(cs, c,
                    json_pack("{s:s,s:s,s:s}", "type", "call-accepted", "call_id", k->id, "room",
                              k->room));
    sig_away_resumed(cs->away, c);
}

void sig_calls_tick(sig_calls *cs, pl_sig_time now)
{
    for (call *k = cs->list, *next; k; k = next) {
        next = k->next;
        if (answered(k) || now.mono_ms - k->placed_at < cs->ring_timeout_ms)
            continue;
        store_missed(cs, k, "missed");
        emit_call(cs, k, PL_SIG_EV_CALL_OUTCOME, "missed", NULL, NULL);
        tell_parties(cs, k, NULL, outcome("call-missed", k, NULL));
        end_call(cs, k);
    }
    sig_away_tick(cs->away, now.mono_ms, cs->ring_timeout_ms);
}

/* What the callee did on its node, as it would have here. */
static void on_bus_act(sig_calls *cs, const pl_busmsg *b)
{
    call *k = find_call(cs, b->call_id);
    if (!k || !k->remote || strcmp(k->callee_user, b->user) != 0 ||
        strcmp(k->caller_user, b->caller) != 0)
        return; /* another node's call, or one over already */
    bool ringing = !answered(k);
    const char *act = b->word;
    json_t *m = NULL;
    if (strcmp(act, "accept") == 0) {
        if (ringing)
            accept_call(cs, NULL, k);
        return; /* a second device's late answer: the first won */
    }
    if (strcmp(act, "busy") == 0) {
        if (!ringing)
            return;
        send_to(cs, k->caller, outcome("call-busy", k, NULL));
        emit_call(cs, k, PL_SIG_EV_CALL_OUTCOME, "busy", NULL, NULL);
        end_call(cs, k);
        return;
    }
    bool gone = strcmp(act, "gone") == 0;
    if (ringing && gone) {
        store_missed(cs, k, "missed");
        m = outcome("call-missed", k, "disconnected");
        emit_call(cs, k, PL_SIG_EV_CALL_OUTCOME, "missed", "disconnected", NULL);
    } else if (ringing) { /* decline, or hang-up before answering */
        m = outcome("call-declined", k, NULL);
        emit_call(cs, k, PL_SIG_EV_CALL_OUTCOME, "declined", NULL, NULL);
    } else {
        m = outcome("call-ended", k, gone ? "disconnected" : NULL);
        json_object_set_new(m, "by", json_string(k->callee_user));
        emit_call(cs, k, PL_SIG_EV_CALL_ENDED, NULL, gone ? "disconnected" : NULL, k->callee_user);
    }
    tell_parties(cs, k, NULL, m);
    end_call(cs, k);
}

void sig_calls_on_bus(sig_calls *cs, const pl_busmsg *b, pl_sig_time now)
{
    if (b->kind == PL_BUS_ACT) {
        on_bus_act(cs, b);
    } else if (b->kind == PL_BUS_RING) {
        const char *before = sig_calls_user_status(cs, b->user);
        bool busy = strcmp(before, "ringing") == 0 || strcmp(before, "in-call") == 0;
        sig_away_on_ring(cs->away, b, busy, now.mono_ms);
    } else if (b->kind == PL_BUS_TELL) {
        sig_away_on_tell(cs->away, b);
    }
}
