#include "presence.h"

#include <string.h>

#include "calls.h"
#include "out.h"
#include "remote.h"
#include "reply.h"

void sig_presence_announce(pl_sig *s, const conn *c, const char *status)
{
    /* A token bound to one room is a meeting guest: not in the directory. */
    if (c->only_room[0])
        return;
    sig_remote_presence(s, c->user->id, c->name, status);
    for (const sig_user *u = s->m.users; u; u = u->next)
        if (u != c->user)
            sig_send_user(s, u, NULL,
                          json_pack("{s:s,s:o,s:s}", "type", "presence", "user", sig_user_json(c),
                                    "status", status));
}

void sig_presence_changed(pl_sig *s, const char *user_id, const char *before)
{
    const char *now = sig_calls_user_status(s->calls, user_id);
    if (strcmp(now, before) == 0 || strcmp(now, "offline") == 0)
        return; /* going offline is told when the last connection goes */
    const sig_user *u = sig_user_find(&s->m, user_id);
    if (u && u->devices)
        sig_presence_announce(s, u->devices, now);
}

json_t *sig_online_json(pl_sig *s, const conn *c)
{
    json_t *online = json_array();
    for (const sig_user *u = s->m.users; u; u = u->next) {
        if (u == c->user)
            continue;
        const conn *o = u->devices; /* guests are not in the directory */
        while (o && o->only_room[0])
            o = o->next_device;
        if (o)
            json_array_append_new(online,
                                  json_pack("{s:s,s:s,s:s}", "id", u->id, "name", o->name, "status",
                                            sig_calls_user_status(s->calls, u->id)));
    }
    sig_remote_online(s, c->user->id, online);
    return online;
}

void sig_on_status(pl_sig *s, conn *c, json_t *msg, json_t *re)
{
    const char *st = json_string_value(json_object_get(msg, "status"));
    if (!st || (strcmp(st, "online") != 0 && strcmp(st, "dnd") != 0)) {
        sig_error(s, c, re, "bad_request", "status must be \"online\" or \"dnd\"");
        return;
    }
    bool dnd = strcmp(st, "dnd") == 0;
    bool was_dnd = c->dnd;
    const char *before = sig_calls_user_status(s->calls, c->user->id);
    /* Status belongs to the user: every device follows. */
    for (conn *o = c->user->devices; o; o = o->next_device)
        o->dnd = dnd;
    json_t *m = sig_reply("status", re);
    json_object_set_new(m, "status", json_string(st));
    sig_send(s, c, m);
    /* The user's other devices follow the switch (an event: no `re`). */
    sig_send_user(s, c->user, c, json_pack("{s:s,s:s}", "type", "status", "status", st));
    sig_presence_changed(s, c->user->id, before);
    if (!was_dnd || dnd)
        return;
    /* Focus time is over: the heads-ups it held back are due now. */
    json_t *items = sig_calls_missed_json(s->calls, c->user->id);
    if (json_array_size(items) > 0)
        sig_send_user(s, c->user, NULL, json_pack("{s:s,s:o}", "type", "missed", "items", items));
    else
        json_decref(items);
}
