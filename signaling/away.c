#include "away.h"

#include <stdio.h>
#include <string.h>

#include "reply.h"

/* How long after the ring timeout a ring from a silent node is dropped. */
#define LOST_NODE_GRACE_MS 10000

typedef struct away_call {
    char id[16];
    char room[24];
    char caller_user[PL_AUTH_ID_MAX + 1], caller_name[257];
    char callee_user[PL_AUTH_ID_MAX + 1];
    char node[PL_BUS_NODE_MAX + 1]; /* the caller's node, where the call and its room live */
    bool accepted;
    conn *answered; /* the device here that took it, while it is here */
    int64_t rang_at;
    struct away_call *next;
} away_call;

struct sig_away {
    pl_env env;
    const sig_calls_ops *ops;
    away_call *list;
};

sig_away *sig_away_create(const pl_env *env, const sig_calls_ops *ops)
{
    sig_away *a = pl_env_alloc(env, sizeof(*a));
    if (a) {
        a->env = *env;
        a->ops = ops;
    }
    return a;
}

void sig_away_destroy(sig_away *a)
{
    if (!a)
        return;
    while (a->list) {
        away_call *k = a->list;
        a->list = k->next;
        pl_env_free(&a->env, k);
    }
    pl_env_free(&a->env, a);
}

size_t sig_away_count(const sig_away *a)
{
    size_t n = 0;
    for (const away_call *k = a->list; k; k = k->next)
        n++;
    return n;
}

static away_call *find(const sig_away *a, const char *id, const char *callee)
{
    for (away_call *k = a->list; k; k = k->next)
        if (strcmp(k->id, id) == 0 && strcmp(k->callee_user, callee) == 0)
            return k;
    return NULL;
}

const char *sig_away_status(const sig_away *a, const char *user_id)
{
    for (const away_call *k = a->list; k; k = k->next)
        if (strcmp(k->callee_user, user_id) == 0)
            return k->accepted ? "in-call" : "ringing";
    return NULL;
}

static void act(sig_away *a, const away_call *k, const char *what)
{
    pl_busmsg b = {.kind = PL_BUS_ACT};
    snprintf(b.call_id, sizeof(b.call_id), "%s", k->id);
    snprintf(b.user, sizeof(b.user), "%s", k->callee_user);
    snprintf(b.caller, sizeof(b.caller), "%s", k->caller_user);
    snprintf(b.word, sizeof(b.word), "%s", what);
    a->ops->bus_send(a->ops->sig, &b);
}

/* To every device of the callee; msg is released. */
static void tell(sig_away *a, const away_call *k, json_t *msg)
{
    const sig_user *u = a->ops->find_user(a->ops->sig, k->callee_user);
    for (conn *o = u ? u->devices : NULL; o; o = o->next_device)
        a->ops->send(a->ops->sig, o, json_deep_copy(msg));
    json_decref(msg);
}

static void unlink_call(sig_away *a, away_call *k)
{
    for (away_call **pp = &a->list; *pp; pp = &(*pp)->next)
        if (*pp == k) {
            *pp = k->next;
            break;
        }
}

/* Over: the user's status follows, told to everyone. */
static void end(sig_away *a, away_call *k)
{
    unlink_call(a, k);
    a->ops->presence_changed(a->ops->sig, k->callee_user, k->accepted ? "in-call" : "ringing");
    pl_env_free(&a->env, k);
}

void sig_away_on_ring(sig_away *a, const pl_busmsg *b, bool busy, int64_t now_ms)
{
    const sig_user *u = a->ops->find_user(a->ops->sig, b->user);
    const conn *dev = u ? u->devices : NULL;
    while (dev && dev->only_room[0]) /* guests take no calls */
        dev = dev->next_device;
    if (!dev || find(a, b->call_id, b->user))
        return;
    away_call tmp = {0};
    snprintf(tmp.id, sizeof(tmp.id), "%s", b->call_id);
    snprintf(tmp.callee_user, sizeof(tmp.callee_user), "%s", b->user);
    snprintf(tmp.caller_user, sizeof(tmp.caller_user), "%s", b->caller);
    if (busy) {
        act(a, &tmp, "busy");
        return;
    }
    away_call *k = pl_env_alloc(&a->env, sizeof(*k));
    if (!k) {
        act(a, &tmp, "busy");
        return;
    }
    *k = tmp;
    snprintf(k->room, sizeof(k->room), "call-%s", b->call_id);
    snprintf(k->caller_name, sizeof(k->caller_name), "%s", b->name);
    snprintf(k->node, sizeof(k->node), "%s", b->node);
    k->rang_at = now_ms;
    k->next = a->list;
    a->list = k;
    json_t *in =
        json_pack("{s:s,s:s,s:{s:s,s:s},s:b}", "type", "incoming-call", "call_id", k->id, "from",
                  "id", k->caller_user, "name", k->caller_name, "audio_only", b->audio_only);
    if (b->topic[0])
        json_object_set_new(in, "topic", json_string(b->topic));
    tell(a, k, in);
    a->ops->presence_changed(a->ops->sig, k->callee_user, "online");
}

void sig_away_on_tell(sig_away *a, const pl_busmsg *b)
{
    away_call *k = find(a, b->call_id, b->user);
    if (!k)
        return;
    const char *type = json_string_value(json_object_get(b->msg, "type"));
    if (strcmp(type, "call-accepted") == 0 && !k->accepted) {
        k->accepted = true;
        /* The device that answered joins; the others stop ringing. */
        const sig_user *u = a->ops->find_user(a->ops->sig, k->callee_user);
        for (conn *o = u ? u->devices : NULL; o; o = o->next_device) {
            json_t *m = json_deep_copy(b->msg);
            if (o != k->answered)
                json_object_set_new(m, "elsewhere", json_true());
            a->ops->send(a->ops->sig, o, m);
        }
        a->ops->presence_changed(a->ops->sig, k->callee_user, "ringing");
        return;
    }
    tell(a, k, json_deep_copy(b->msg));
    if (b->end)
        end(a, k);
}

bool sig_away_on_action(sig_away *a, conn *c, const char *type, const char *id, json_t *re)
{
    away_call *k = find(a, id, c->user->id);
    if (!k)
        return false;
    bool accept = strcmp(type, "call-accept") == 0;
    if (strcmp(type, "call-cancel") == 0) {
        a->ops->error(a->ops->sig, c, re, "forbidden", "only the caller cancels a call");
        return true;
    }
    if ((accept || strcmp(type, "call-decline") == 0) && k->accepted) {
        a->ops->error(a->ops->sig, c, re, "conflict", "the call was already answered");
        return true;
    }
    if (re)
        a->ops->send(a->ops->sig, c, sig_reply("ok", re));
    if (accept) {
        if (!k->answered) /* the first device to answer is the one */
            k->answered = c;
        act(a, k, "accept");
    } else {
        /* Declined, or hung up: the caller's node says how it ended. */
        act(a, k, strcmp(type, "call-decline") == 0 ? "decline" : "hangup");
    }
    return true;
}

bool sig_away_room_party(const sig_away *a, const conn *c, const char *room)
{
    return sig_away_room_node(a, c, room) != NULL;
}

const char *sig_away_room_node(const sig_away *a, const conn *c, const char *room)
{
    for (const away_call *k = a->list; k; k = k->next)
        if (k->accepted && strcmp(k->room, room) == 0 && strcmp(k->callee_user, c->user->id) == 0)
            return k->node;
    return NULL;
}

void sig_away_room_left(sig_away *a, conn *c, const char *room)
{
    for (away_call *k = a->list; k; k = k->next)
        if (k->accepted && strcmp(k->room, room) == 0 && strcmp(k->callee_user, c->user->id) == 0) {
            act(a, k, "hangup");
            return;
        }
}

void sig_away_conn_gone(sig_away *a, conn *c)
{
    if (!c->user)
        return;
    for (away_call *k = a->list; k; k = k->next) {
        if (strcmp(k->callee_user, c->user->id) != 0)
            continue;
        bool last = true;
        for (const conn *o = c->user->devices; o; o = o->next_device)
            if (o != c)
                last = false;
        /* Ringing and nobody left to answer, or the device in the call
         * gone: the caller's node ends it and says how. */
        if ((!k->accepted && last) || (k->accepted && k->answered == c))
            act(a, k, "gone");
        if (k->answered == c)
            k->answered = NULL;
    }
}

void sig_away_resumed(sig_away *a, conn *c)
{
    for (away_call *k = a->list; k; k = k->next)
        if (k->accepted && k->answered == c)
            a->ops->send(a->ops->sig, c,
                         json_pack("{s:s,s:s,s:s}", "type", "call-accepted", "call_id", k->id,
                                   "room", k->room));
}

void sig_away_tick(sig_away *a, int64_t now_ms, int64_t ring_timeout_ms)
{
    for (away_call *k = a->list, *next; k; k = next) {
        next = k->next;
        if (k->accepted || now_ms - k->rang_at < ring_timeout_ms + LOST_NODE_GRACE_MS)
            continue;
        tell(a, k,
             json_pack("{s:s,s:s,s:s}", "type", "call-missed", "call_id", k->id, "reason",
                       "unreachable"));
        end(a, k);
    }
}
