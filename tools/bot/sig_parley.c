/* The bot's adapter for Parley's own signaling protocol (docs/protocol.md),
 * on the bots' WebSocket client (sigws.h): hello, join, publish,
 * subscribe-answer, leave, resuming after a loss; the rest of the
 * protocol's events are read and ignored. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "parley/common.h"
#include "sig.h"
#include "sigws.h"

#define RX_MAX (256 * 1024)
/* --server a,b,c: the nodes of a cluster, joined through the first. */
#define MAX_SERVERS 16
#define URL_MAX 256

struct pl_botsig_conn {
    pl_botsig *sig;
    pl_sigws_conn *ws; /* closing once leave is answered */
    void *bot;
    char name[80];
    char room[80];
    bool detached; /* the bot is told it is closed; ignore the rest */
    int next_id;
    /* Resuming after a cut. */
    char resume_token[64];
    bool cutting;         /* the loss is deliberate: reconnect, do not tell the bot */
    int64_t reconnect_at; /* monotonic microseconds while cut */
    bool resuming;        /* the last hello carried the token */
    int hello_id, join_id;
    size_t server; /* the index in the server list of the last one tried */
    bool listed;   /* on the signaling's list of connections to reopen */
    /* Left while the connection was down: the session is taken back only
     * to leave it (so the others see `left`, not a timeout), until then. */
    bool leave_on_resume;
    int64_t give_up_at;
    /* The id of the leave sent, until its answer: the socket closes only
     * then. Closed at once, it could go with the leave unread (a socket
     * closed with data still coming is reset, and the server may lose
     * what it had not read yet), leaving the participant detached on the
     * server for its grace period. Everything else is ignored meanwhile. */
    int leave_id;
    struct pl_botsig_conn *next_cut;
};

struct pl_botsig {
    pl_botsig_config cfg;
    char urls[MAX_SERVERS][URL_MAX];
    size_t n_urls;
    pl_sigws *ws;
    pl_botsig_conn *cut; /* connections waiting to come back */
};

static void enqueue(pl_botsig_conn *c, json_t *msg)
{
    pl_sigws_conn_send(c->ws, msg);
}

static void tell_closed(pl_botsig_conn *c)
{
    if (c->detached)
        return;
    c->detached = true;
    const pl_botsig_events *ev = &c->sig->cfg.events;
    if (ev->closed)
        ev->closed(ev->user, c->bot);
}

static void conn_free(pl_botsig_conn *c)
{
    pl_sigws_conn_destroy(c->ws);
    free(c);
}

static void on_participant(pl_botsig_conn *c, json_t *p, bool present)
{
    const pl_botsig_events *ev = &c->sig->cfg.events;
    if (ev->peer)
        ev->peer(ev->user, c->bot, pl_sigws_str(p, "id"), pl_sigws_str(p, "name"), present, "");
}

static void send_hello(pl_botsig_conn *c)
{
    c->hello_id = ++c->next_id;
    c->resuming = c->resume_token[0] != '\0';
    json_t *m = json_pack("{s:s, s:s, s:i}", "type", "hello", "name", c->name, "id", c->hello_id);
    if (c->resuming)
        json_object_set_new(m, "resume", json_string(c->resume_token));
    enqueue(c, m);
}

static void on_subscribe_offer(pl_botsig_conn *c, json_t *msg)
{
    static const size_t max = PL_BOTSIG_MAX_TRACKS;
    pl_botsig_track *tracks = calloc(max, sizeof(*tracks));
    if (!tracks)
        return;
    size_t n = 0;
    const char *mid;
    json_t *t;
    json_object_foreach(json_object_get(msg, "tracks"), mid, t)
    {
        if (n == max)
            break;
        pl_botsig_track *o = &tracks[n++];
        snprintf(o->mid, sizeof(o->mid), "%s", mid);
        snprintf(o->track_id, sizeof(o->track_id), "%s", pl_sigws_str(t, "track_id"));
        snprintf(o->participant_id, sizeof(o->participant_id), "%s",
                 pl_sigws_str(t, "participant_id"));
        snprintf(o->kind, sizeof(o->kind), "%s", pl_sigws_str(t, "kind"));
        snprintf(o->source, sizeof(o->source), "%s", pl_sigws_str(t, "source"));
    }
    const pl_botsig_events *ev = &c->sig->cfg.events;
    if (ev->subscribe_offer)
        ev->subscribe_offer(ev->user, c->bot, pl_sigws_str(msg, "sdp"), tracks, n);
    free(tracks);
}

static int64_t mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void relist(pl_botsig_conn *c, int64_t after_us)
{
    c->reconnect_at = mono_us() + after_us;
    c->cutting = true;
    if (!c->listed) {
        c->listed = true;
        c->next_cut = c->sig->cut;
        c->sig->cut = c;
    }
}

/* The connection is gone without our leaving (a cut, a network drop, the
 * server restarting): try again in a moment, resuming the session. With
 * several servers (the nodes of a cluster), through the next one: the one
 * lost may be dead, and any node sends the bot to its room's. */
static void lost(pl_botsig_conn *c, int64_t after_us)
{
    pl_botsig *s = c->sig;
    if (s->n_urls > 1) {
        c->server = (c->server + 1) % s->n_urls;
        pl_sigws_conn_set_url(c->ws, s->urls[c->server]);
    }
    relist(c, after_us);
}

/* Leaves this connection on purpose to come back (through the next
 * server when `next`): closed properly, so the server sees a goodbye. */
static void away(pl_botsig_conn *c, int64_t after_us, bool next)
{
    if (next)
        lost(c, after_us);
    else
        relist(c, after_us);
    pl_sigws_conn_close(c->ws);
}

/* The room is another node's: the same name to that node, at once. Its
 * sessions are its own, so there is nothing to resume there. */
static void on_redirect(pl_botsig_conn *c, const char *url)
{
    if (pl_sigws_conn_set_url(c->ws, url) != PL_OK) {
        const pl_botsig_events *ev = &c->sig->cfg.events;
        if (ev->error)
            ev->error(ev->user, c->bot, "redirect", "not a ws:// URL");
        return;
    }
    c->resume_token[0] = '\0';
    away(c, 0, false);
}

static void on_message(void *user, json_t *msg)
{
    pl_botsig_conn *c = user;
    const pl_botsig_events *ev = &c->sig->cfg.events;
    const char *type = pl_sigws_str(msg, "type");
    if (c->leave_id) {
        json_t *re = json_object_get(msg, "re");
        if (json_is_integer(re) && json_integer_value(re) == c->leave_id)
            pl_sigws_conn_close(c->ws);
        return;
    }
    if (strcmp(type, "welcome") == 0) {
        snprintf(c->resume_token, sizeof(c->resume_token), "%s", pl_sigws_str(msg, "resume_token"));
        /* A resumed session is still in its room: `joined` follows. */
        if (!json_is_true(json_object_get(msg, "resumed"))) {
            c->join_id = ++c->next_id;
            enqueue(
                c, json_pack("{s:s, s:s, s:i}", "type", "join", "room", c->room, "id", c->join_id));
        }
    } else if (strcmp(type, "redirect") == 0) {
        on_redirect(c, pl_sigws_str(msg, "url"));
    } else if (strcmp(type, "joined") == 0) {
        if (ev->joined)
            ev->joined(ev->user, c->bot, pl_sigws_str(json_object_get(msg, "participant"), "id"));
        size_t i;
        json_t *p;
        json_array_foreach(json_object_get(msg, "participants"), i, p) on_participant(c, p, true);
    } else if (strcmp(type, "participant-joined") == 0) {
        on_participant(c, json_object_get(msg, "participant"), true);
    } else if (strcmp(type, "participant-left") == 0) {
        if (ev->peer)
            ev->peer(ev->user, c->bot, pl_sigws_str(msg, "participant_id"), "", false,
                     pl_sigws_str(msg, "reason"));
    } else if (strcmp(type, "publish-answer") == 0) {
        if (ev->publish_answer)
            ev->publish_answer(ev->user, c->bot, pl_sigws_str(msg, "sdp"));
    } else if (strcmp(type, "subscribe-offer") == 0) {
        on_subscribe_offer(c, msg);
    } else if (strcmp(type, "error") == 0 && c->resuming &&
               json_integer_value(json_object_get(msg, "re")) == c->hello_id) {
        /* The session is gone (its grace period is over): a new one. */
        c->resume_token[0] = '\0';
        send_hello(c);
    } else if (strcmp(type, "error") == 0 &&
               strcmp(pl_sigws_str(msg, "code"), "unavailable") == 0 &&
               json_integer_value(json_object_get(msg, "re")) == c->join_id) {
        /* The cluster could not place the room (Redis away): again in a
         * moment, through the next node. */
        away(c, 1000000, true);
    } else if (strcmp(type, "error") == 0) {
        if (ev->error)
            ev->error(ev->user, c->bot, pl_sigws_str(msg, "code"), pl_sigws_str(msg, "message"));
    }
}

static void send_leave(pl_botsig_conn *c)
{
    c->leave_id = ++c->next_id;
    enqueue(c, json_pack("{s:s, s:i}", "type", "leave", "id", c->leave_id));
}

static void on_established(void *user)
{
    pl_botsig_conn *c = user;
    c->cutting = false;
    send_hello(c);
    if (c->leave_on_resume)
        send_leave(c);
}

static void on_failed(void *user, const char *why)
{
    pl_botsig_conn *c = user;
    if (c->cutting && !c->leave_id) {
        lost(c, 1000000); /* the server is not back yet */
        return;
    }
    const pl_botsig_events *ev = &c->sig->cfg.events;
    if (ev->error && !c->detached)
        ev->error(ev->user, c->bot, "connection", why);
    tell_closed(c);
    conn_free(c);
}

static void on_closed(void *user)
{
    pl_botsig_conn *c = user;
    if (c->cutting)
        return; /* a deliberate cut: reconnect_at is already set */
    if (!pl_sigws_conn_closing(c->ws) && !c->leave_id) {
        lost(c, 500000);
        return;
    }
    tell_closed(c);
    conn_free(c);
}

static void reconnect_due(pl_botsig *s)
{
    int64_t now = mono_us();
    for (pl_botsig_conn **pp = &s->cut; *pp;) {
        pl_botsig_conn *c = *pp;
        if (c->leave_on_resume && !pl_sigws_conn_live(c->ws) && now >= c->give_up_at) {
            /* The server stays away: it will time the session out. */
            *pp = c->next_cut;
            c->listed = false;
            tell_closed(c);
            conn_free(c);
            continue;
        }
        if (pl_sigws_conn_live(c->ws) || now < c->reconnect_at) {
            pp = &c->next_cut;
            continue;
        }
        if (pl_sigws_conn_open(c->ws) != PL_OK) {
            c->reconnect_at = now + 1000000;
            pp = &c->next_cut;
            continue;
        }
        *pp = c->next_cut; /* back on the list if this attempt fails too */
        c->listed = false;
    }
}

static void tick(void *user)
{
    pl_botsig *s = user;
    reconnect_due(s);
    if (s->cfg.events.tick)
        s->cfg.events.tick(s->cfg.events.user);
}

static pl_botsig *parley_create(const pl_botsig_config *cfg)
{
    pl_botsig *s = calloc(1, sizeof(*s));
    if (!s)
        return NULL;
    s->cfg = *cfg;
    /* A comma-separated list: the nodes of a cluster. */
    for (const char *p = cfg->url; *p && s->n_urls < MAX_SERVERS;) {
        size_t len = strcspn(p, ",");
        if (len && len < URL_MAX)
            snprintf(s->urls[s->n_urls++], URL_MAX, "%.*s", (int)len, p);
        p += len + (p[len] == ',');
    }
    pl_sigws_config wc = {
        .url = s->n_urls ? s->urls[0] : cfg->url,
        .protocol = "parley.v1",
        .rx_max = RX_MAX,
        .tick_ms = cfg->tick_ms,
        .user = s,
        .tick = tick,
        .established = on_established,
        .message = on_message,
        .failed = on_failed,
        .closed = on_closed,
    };
    int err = pl_sigws_create(&wc, &s->ws);
    if (err == PL_EINVAL)
        fprintf(stderr, "bad signaling url %s (want ws://host:port/path[,ws://...])\n", cfg->url);
    if (err != PL_OK) {
        free(s);
        return NULL;
    }
    return s;
}

static void parley_destroy(pl_botsig *s)
{
    if (!s)
        return;
    while (s->cut) {
        pl_botsig_conn *c = s->cut;
        s->cut = c->next_cut;
        if (!pl_sigws_conn_live(c->ws))
            conn_free(c);
    }
    pl_sigws_destroy(s->ws);
    free(s);
}

static int parley_run(pl_botsig *s)
{
    return pl_sigws_run(s->ws);
}

static void parley_stop(pl_botsig *s)
{
    pl_sigws_stop(s->ws);
}

static pl_botsig_conn *parley_join(pl_botsig *s, const char *name, const char *room, void *bot)
{
    pl_botsig_conn *c = calloc(1, sizeof(*c));
    if (!c)
        return NULL;
    c->ws = pl_sigws_conn_create(s->ws, c);
    if (!c->ws) {
        free(c);
        return NULL;
    }
    c->sig = s;
    c->bot = bot;
    snprintf(c->name, sizeof(c->name), "%s", name);
    snprintf(c->room, sizeof(c->room), "%s", room);
    if (pl_sigws_conn_open(c->ws) != PL_OK) {
        conn_free(c);
        return NULL;
    }
    return c;
}

static int parley_publish(pl_botsig_conn *c, const char *sdp, const char *const *mids,
                          const char *const *sources, size_t n)
{
    json_t *src = json_object();
    for (size_t i = 0; i < n; i++)
        json_object_set_new(src, mids[i], json_string(sources[i]));
    enqueue(c, json_pack("{s:s, s:s, s:o, s:i}", "type", "publish", "sdp", sdp, "sources", src,
                         "id", ++c->next_id));
    return PL_OK;
}

static int parley_subscribe_answer(pl_botsig_conn *c, const char *sdp)
{
    enqueue(c, json_pack("{s:s, s:s, s:i}", "type", "subscribe-answer", "sdp", sdp, "id",
                         ++c->next_id));
    return PL_OK;
}

static int parley_pause(pl_botsig_conn *c, const char *track_id, bool paused)
{
    enqueue(c, json_pack("{s:s, s:s, s:b, s:i}", "type", "subscription", "track_id", track_id,
                         "paused", paused, "id", ++c->next_id));
    return PL_OK;
}

static int parley_subscription(pl_botsig_conn *c, const char *track_id, unsigned max_width,
                               unsigned max_height)
{
    json_t *m = json_pack("{s:s, s:s, s:i}", "type", "subscription", "track_id", track_id, "id",
                          ++c->next_id);
    /* The protocol takes 1-16384 per side; a side without a limit is left out. */
    if (max_width)
        json_object_set_new(m, "max_width", json_integer(max_width));
    if (max_height)
        json_object_set_new(m, "max_height", json_integer(max_height));
    enqueue(c, m);
    return PL_OK;
}

static void parley_cut(pl_botsig_conn *c, double seconds)
{
    if (c->cutting || !pl_sigws_conn_live(c->ws))
        return;
    c->cutting = true;
    c->reconnect_at = mono_us() + (int64_t)(seconds * 1e6);
    if (!c->listed) {
        c->listed = true;
        c->next_cut = c->sig->cut;
        c->sig->cut = c;
    }
    pl_sigws_conn_cut(c->ws);
}

static void parley_leave(pl_botsig_conn *c)
{
    if (c->cutting && c->resume_token[0]) {
        /* Away when told to leave: come back for the session and leave it
         * properly, for a few seconds at most. */
        c->leave_on_resume = true;
        c->give_up_at = mono_us() + 5000000;
        return;
    }
    if (c->cutting) {
        /* Gone for good while away: no session to leave. */
        for (pl_botsig_conn **pp = &c->sig->cut; c->listed && *pp; pp = &(*pp)->next_cut)
            if (*pp == c) {
                *pp = c->next_cut;
                c->listed = false;
                break;
            }
        if (!pl_sigws_conn_live(c->ws)) {
            tell_closed(c);
            conn_free(c);
        }
        return;
    }
    if (pl_sigws_conn_closing(c->ws) || c->leave_id)
        return;
    send_leave(c);
}

const pl_botsig_ops pl_botsig_parley = {
    .name = "parley",
    .create = parley_create,
    .destroy = parley_destroy,
    .run = parley_run,
    .stop = parley_stop,
    .join = parley_join,
    .publish = parley_publish,
    .subscribe_answer = parley_subscribe_answer,
    .pause = parley_pause,
    .subscription = parley_subscription,
    .leave = parley_leave,
    .cut = parley_cut,
};
