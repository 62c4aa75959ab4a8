#include "out.h"

#include <stdlib.h>
#include <string.h>

#include "reply.h"

void sig_send(pl_sig *s, conn *c, json_t *msg)
{
    if (c->detached) {
        json_decref(msg); /* nobody to tell; `joined` and a new offer on resume */
        return;
    }
    char *text = json_dumps(msg, JSON_COMPACT);
    json_decref(msg);
    if (!text)
        return;
    s->io.send(s->io.user, c->id, text, strlen(text));
    free(text);
}

void sig_send_room(pl_sig *s, const sig_room *r, const conn *except, json_t *msg)
{
    for (conn *o = r->members; o; o = o->next_member)
        if (o != except)
            sig_send(s, o, json_deep_copy(msg));
    json_decref(msg);
}

void sig_send_user(pl_sig *s, const sig_user *u, const conn *except, json_t *msg)
{
    for (conn *o = u ? u->devices : NULL; o; o = o->next_device)
        if (o != except)
            sig_send(s, o, json_deep_copy(msg));
    json_decref(msg);
}

void sig_error(pl_sig *s, conn *c, json_t *re, const char *code, const char *message)
{
    json_t *m = sig_reply("error", re);
    json_object_set_new(m, "code", json_string(code));
    json_object_set_new(m, "message", json_string(message));
    sig_send(s, c, m);
    if (strcmp(code, "bad_request") == 0) {
        s->bad_messages++;
        /* Repeated garbage is abuse, not a mistake (protocol: close 1008). */
        if (++c->strikes >= PL_SIG_MAX_STRIKES)
            s->io.close(s->io.user, c->id, 1008, "too many bad requests");
    }
}

json_t *sig_user_json(const conn *c)
{
    return json_pack("{s:s,s:s}", "id", c->user->id, "name", c->name);
}
