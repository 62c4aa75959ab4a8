#include "busmsg.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const kinds[] = {"ring", "act", "tell", "presence"};
static const char *const actions[] = {"accept", "decline", "hangup", "gone", "busy"};
static const char *const statuses[] = {"online", "dnd", "ringing", "in-call", "offline"};

char *pl_busmsg_encode(const pl_busmsg *m)
{
    json_t *j =
        json_pack("{s:i,s:s,s:s}", "v", PL_BUS_VERSION, "t", kinds[m->kind], "node", m->node);
    if (!j)
        return NULL;
    switch (m->kind) {
    case PL_BUS_RING:
        json_object_set_new(j, "call_id", json_string(m->call_id));
        json_object_set_new(j, "user", json_string(m->user));
        json_object_set_new(j, "caller", json_string(m->caller));
        json_object_set_new(j, "name", json_string(m->name));
        json_object_set_new(j, "topic", json_string(m->topic));
        json_object_set_new(j, "audio_only", json_boolean(m->audio_only));
        break;
    case PL_BUS_ACT:
        json_object_set_new(j, "call_id", json_string(m->call_id));
        json_object_set_new(j, "user", json_string(m->user));
        json_object_set_new(j, "caller", json_string(m->caller));
        json_object_set_new(j, "action", json_string(m->word));
        break;
    case PL_BUS_TELL:
        json_object_set_new(j, "call_id", json_string(m->call_id));
        json_object_set_new(j, "user", json_string(m->user));
        json_object_set(j, "msg", m->msg);
        json_object_set_new(j, "end", json_boolean(m->end));
        break;
    case PL_BUS_PRESENCE:
        json_object_set_new(j, "user", json_string(m->user));
        json_object_set_new(j, "name", json_string(m->name));
        json_object_set_new(j, "status", json_string(m->word));
        break;
    }
    char *text = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    return text;
}

static int index_of(const char *s, const char *const *names, size_t n)
{
    for (size_t i = 0; s && i < n; i++)
        if (strcmp(s, names[i]) == 0)
            return (int)i;
    return -1;
}

/* A string member into out (cap bytes with its NUL): false when it is
 * missing, not a string, or too long. */
static bool str(json_t *j, const char *key, char *out, size_t cap, bool may_be_empty)
{
    const char *s = json_string_value(json_object_get(j, key));
    if (!s)
        return false;
    size_t n = strlen(s);
    if (n >= cap || (!may_be_empty && n == 0))
        return false;
    memcpy(out, s, n + 1);
    return true;
}

int pl_busmsg_decode(const char *text, size_t len, pl_busmsg *out)
{
    memset(out, 0, sizeof(*out));
    json_t *j = json_loadb(text, len, JSON_REJECT_DUPLICATES, NULL);
    bool ok = json_is_object(j) && json_is_integer(json_object_get(j, "v")) &&
              json_integer_value(json_object_get(j, "v")) == PL_BUS_VERSION &&
              str(j, "node", out->node, sizeof(out->node), false);
    int kind = ok ? index_of(json_string_value(json_object_get(j, "t")), kinds, 4) : -1;
    ok = ok && kind >= 0;
    out->kind = (pl_bus_kind)(kind < 0 ? 0 : kind);
    if (ok && kind != PL_BUS_PRESENCE)
        ok = str(j, "call_id", out->call_id, sizeof(out->call_id), false) &&
             str(j, "user", out->user, sizeof(out->user), false);
    if (ok && kind == PL_BUS_RING) {
        json_t *a = json_object_get(j, "audio_only");
        ok = str(j, "caller", out->caller, sizeof(out->caller), false) &&
             str(j, "name", out->name, sizeof(out->name), false) &&
             str(j, "topic", out->topic, sizeof(out->topic), true) && json_is_boolean(a);
        out->audio_only = json_is_true(a);
    } else if (ok && kind == PL_BUS_ACT) {
        ok = str(j, "caller", out->caller, sizeof(out->caller), false) &&
             str(j, "action", out->word, sizeof(out->word), false) &&
             index_of(out->word, actions, 5) >= 0;
    } else if (ok && kind == PL_BUS_TELL) {
        json_t *msg = json_object_get(j, "msg"), *end = json_object_get(j, "end");
        /* What a node tells a user's devices is a call message, nothing
         * else: a bad node cannot make another speak for it. */
        const char *type = json_string_value(json_object_get(msg, "type"));
        ok = json_is_object(msg) && type && strncmp(type, "call-", 5) == 0 && json_is_boolean(end);
        if (ok) {
            out->msg = json_incref(msg);
            out->end = json_is_true(end);
        }
    } else if (ok && kind == PL_BUS_PRESENCE) {
        ok = str(j, "user", out->user, sizeof(out->user), false) &&
             str(j, "name", out->name, sizeof(out->name), false) &&
             str(j, "status", out->word, sizeof(out->word), false) &&
             index_of(out->word, statuses, 5) >= 0;
    }
    json_decref(j);
    if (!ok) {
        pl_busmsg_clear(out);
        return PL_EMALFORMED;
    }
    return PL_OK;
}

void pl_busmsg_clear(pl_busmsg *m)
{
    json_decref(m->msg);
    m->msg = NULL;
}

int pl_busmsg_channel(const pl_busmsg *m, char *out, size_t cap)
{
    int n;
    switch (m->kind) {
    case PL_BUS_PRESENCE:
        n = snprintf(out, cap, "%s", PL_BUS_PRESENCE_CHANNEL);
        break;
    case PL_BUS_ACT:
        n = snprintf(out, cap, "%s%s", PL_BUS_USER_PREFIX, m->caller);
        break;
    default:
        n = snprintf(out, cap, "%s%s", PL_BUS_USER_PREFIX, m->user);
        break;
    }
    return n > 0 && (size_t)n < cap ? PL_OK : PL_ENOSPC;
}
