#include "remote.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "events.h"
#include "out.h"

void pl_sig_set_cluster(pl_sig *s, const pl_sig_cluster *cluster)
{
    s->cluster = *cluster;
    s->clustered = true;
}

void sig_remote_send(pl_sig *s, pl_busmsg *m)
{
    if (!s->clustered)
        return;
    snprintf(m->node, sizeof(m->node), "%s", s->cluster.node);
    char channel[96];
    char *text = pl_busmsg_encode(m);
    int rc = text && pl_busmsg_channel(m, channel, sizeof(channel)) == PL_OK
                 ? s->cluster.publish(s->cluster.user, channel, text)
                 : PL_ENOMEM;
    if (rc != PL_OK)
        pl_env_logf(&s->env, PL_LOG_ERROR, "cluster: a message to other nodes was lost: %s",
                    pl_strerror(rc));
    free(text);
}

void sig_remote_presence(pl_sig *s, const char *user_id, const char *name, const char *status)
{
    if (!s->clustered)
        return;
    int rc = s->cluster.dir_set(s->cluster.user, user_id, name, status);
    if (rc != PL_OK)
        pl_env_logf(&s->env, PL_LOG_ERROR, "cluster: the directory is not updated: %s",
                    pl_strerror(rc));
    pl_busmsg b = {.kind = PL_BUS_PRESENCE};
    snprintf(b.user, sizeof(b.user), "%s", user_id);
    snprintf(b.name, sizeof(b.name), "%s", name);
    snprintf(b.word, sizeof(b.word), "%s", status);
    sig_remote_send(s, &b);
}

void pl_sig_cluster_refresh(pl_sig *s)
{
    for (const sig_user *u = s->m.users; u; u = u->next) {
        const conn *c = u->devices;
        while (c && c->only_room[0]) /* guests are in no directory */
            c = c->next_device;
        if (c)
            sig_remote_presence(s, u->id, c->name, sig_calls_user_status(s->calls, u->id));
    }
}

typedef struct online_ctx {
    pl_sig *s;
    const char *self;
    json_t *online;
} online_ctx;

static void add_online(void *arg, const pl_sig_peer *p)
{
    online_ctx *o = arg;
    /* Users here are listed from here, with their devices' status. */
    if (strcmp(p->node, o->s->cluster.node) == 0 || strcmp(p->id, o->self) == 0 ||
        sig_user_find(&o->s->m, p->id))
        return;
    json_array_append_new(
        o->online, json_pack("{s:s,s:s,s:s}", "id", p->id, "name", p->name, "status", p->status));
}

void sig_remote_online(pl_sig *s, const char *self, json_t *online)
{
    if (!s->clustered)
        return;
    online_ctx o = {s, self, online};
    int rc = s->cluster.dir_each(s->cluster.user, add_online, &o);
    if (rc < 0)
        pl_env_logf(&s->env, PL_LOG_ERROR, "cluster: users of other nodes not listed: %s",
                    pl_strerror(rc));
}

int sig_remote_find(pl_sig *s, const char *user_id, pl_sig_peer *out)
{
    if (!s->clustered || s->cluster.dir_get(s->cluster.user, user_id, out) != PL_OK ||
        strcmp(out->node, s->cluster.node) == 0) /* here, then gone: a stale entry */
        return PL_ENOTFOUND;
    return PL_OK;
}

/* A user of another node has a new status: told to the users here, as
 * their own presence would be (a user who is here too is told from here). */
static void on_presence(pl_sig *s, const pl_busmsg *b)
{
    if (sig_user_find(&s->m, b->user))
        return;
    for (const sig_user *u = s->m.users; u; u = u->next)
        sig_send_user(s, u, NULL,
                      json_pack("{s:s,s:{s:s,s:s},s:s}", "type", "presence", "user", "id", b->user,
                                "name", b->name, "status", b->word));
}

void pl_sig_handle_bus(pl_sig *s, pl_sig_time now, const char *text, size_t len)
{
    sig_events_now(s, now);
    pl_busmsg b;
    if (pl_busmsg_decode(text, len, &b) != PL_OK) {
        if (s->bus_malformed++ == 0)
            pl_env_logf(&s->env, PL_LOG_WARN, "cluster: a message from another node is not one");
        return;
    }
    /* Every node hears what it published itself; it acted on it already. */
    if (!s->clustered || strcmp(b.node, s->cluster.node) == 0) {
        pl_busmsg_clear(&b);
        return;
    }
    if (b.kind == PL_BUS_PRESENCE)
        on_presence(s, &b);
    else
        sig_calls_on_bus(s->calls, &b, now);
    pl_busmsg_clear(&b);
}
