/* The bot's adapter for Janus's VideoRoom plugin (Janus 1.x, multistream),
 * over Janus's WebSocket transport (subprotocol "janus-protocol"), for
 * side-by-side runs with Parley.
 *
 * One WebSocket and one Janus session per bot, with two handles on the
 * plugin: a publisher (join ptype publisher, then publish with the bot's
 * offer) and, once anyone publishes, a subscriber (join ptype subscriber
 * with every published feed's streams, start with the bot's answer;
 * subscribe for feeds that publish later; Janus itself renegotiates when a
 * feed goes away). The room is created by whoever comes first.
 *
 * Janus is expected to run ICE-lite (tools/janus-run): the bot is the
 * controlling agent as with Parley, and candidates travel in the SDP only.
 * Janus takes the DTLS client role when an offer says actpass, while the
 * bot's transport is always the DTLS client: publish offers say active. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "parley/common.h"
#include "sig.h"
#include "sigws.h"

#define RX_MAX (512 * 1024)
#define MAX_FEEDS 256
/* Janus drops a session after 60 s of silence by default. */
#define KEEPALIVE_US (25 * INT64_C(1000000))

/* A publisher in the room, as the publisher handle hears of it. */
typedef struct feed {
    char id[64];
    bool used;
    bool subscribed; /* asked for on the subscriber handle */
} feed;

/* Where a remote track sits on the subscriber handle, for its layer. */
typedef struct sub_track {
    char track_id[80];
    char mid[64];
} sub_track;

struct pl_botsig_conn {
    pl_botsig *sig;
    pl_sigws_conn *ws; /* closing once the session is destroyed */
    void *bot;
    char name[80];
    char room[80];
    bool detached;
    unsigned next_txn;
    json_int_t session, pub_handle, sub_handle;
    char private_id[32];
    /* The subscriber handle is attaching or has an offer outstanding (from
     * its join or a subscribe): further feeds wait until it is answered. */
    bool sub_busy;
    feed feeds[MAX_FEEDS];
    sub_track tracks[PL_BOTSIG_MAX_TRACKS];
    size_t n_tracks;
};

struct pl_botsig {
    pl_botsig_config cfg;
    pl_sigws *ws;
};

/* A request to Janus; the transaction names its purpose, so that replies
 * need no table. */
static void request(pl_botsig_conn *c, const char *janus, const char *purpose, json_t *fields)
{
    char txn[48];
    snprintf(txn, sizeof(txn), "%s:%u", purpose, ++c->next_txn);
    json_t *m = fields ? fields : json_object();
    json_object_set_new(m, "janus", json_string(janus));
    json_object_set_new(m, "transaction", json_string(txn));
    if (c->session)
        json_object_set_new(m, "session_id", json_integer(c->session));
    pl_sigws_conn_send(c->ws, m);
}

/* A message to the plugin on one handle, with an optional JSEP. */
static void plugin_message(pl_botsig_conn *c, json_int_t handle, const char *purpose, json_t *body,
                           const char *jsep_type, const char *sdp)
{
    json_t *m = json_pack("{s:I, s:o}", "handle_id", handle, "body", body);
    if (jsep_type) {
        /* trickle false: every candidate there is is in the SDP (none: the
         * bot's checks reach an ICE-lite Janus as peer-reflexive). */
        json_t *jsep = json_pack("{s:s, s:s, s:b}", "type", jsep_type, "sdp", sdp, "trickle", 0);
        /* The bot lists its simulcast rids from the lowest layer up (q, h,
         * f); Janus assumes the highest first unless told. */
        if (strcmp(jsep_type, "offer") == 0)
            json_object_set_new(jsep, "rid_order", json_string("lmh"));
        json_object_set_new(m, "jsep", jsep);
    }
    request(c, "message", purpose, m);
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

static void report_error(pl_botsig_conn *c, const char *code, const char *message)
{
    const pl_botsig_events *ev = &c->sig->cfg.events;
    if (ev->error && !c->detached)
        ev->error(ev->user, c->bot, code, message);
}

/* Janus's ids are numbers, or strings with string_room_ids. */
static void id_text(json_t *v, char *out, size_t cap)
{
    if (json_is_string(v))
        snprintf(out, cap, "%s", json_string_value(v));
    else if (json_is_integer(v))
        snprintf(out, cap, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
    else
        out[0] = '\0';
}

static feed *find_feed(pl_botsig_conn *c, const char *id)
{
    for (size_t i = 0; i < MAX_FEEDS; i++)
        if (c->feeds[i].used && strcmp(c->feeds[i].id, id) == 0)
            return &c->feeds[i];
    return NULL;
}

/* Subscribes to the feeds not yet asked for: a subscriber handle's join
 * the first time, a subscribe request afterwards. */
static void subscribe_pending(pl_botsig_conn *c)
{
    if (c->sub_busy || pl_sigws_conn_closing(c->ws))
        return;
    bool pending = false;
    for (size_t i = 0; i < MAX_FEEDS && !pending; i++)
        pending = c->feeds[i].used && !c->feeds[i].subscribed;
    if (!pending)
        return;
    c->sub_busy = true;
    if (!c->sub_handle) {
        /* join_subscriber asks for the streams once the handle is there. */
        request(c, "attach", "attach-sub", json_pack("{s:s}", "plugin", "janus.plugin.videoroom"));
        return;
    }
    json_t *streams = json_array();
    for (size_t i = 0; i < MAX_FEEDS; i++) {
        feed *f = &c->feeds[i];
        if (f->used && !f->subscribed) {
            f->subscribed = true;
            json_array_append_new(streams, json_pack("{s:s}", "feed", f->id));
        }
    }
    plugin_message(c, c->sub_handle, "subscribe",
                   json_pack("{s:s, s:o}", "request", "subscribe", "streams", streams), NULL, NULL);
}

static void join_subscriber(pl_botsig_conn *c)
{
    json_t *streams = json_array();
    for (size_t i = 0; i < MAX_FEEDS; i++) {
        feed *f = &c->feeds[i];
        if (f->used) {
            f->subscribed = true;
            json_array_append_new(streams, json_pack("{s:s}", "feed", f->id));
        }
    }
    json_t *body = json_pack("{s:s, s:s, s:s, s:o}", "request", "join", "ptype", "subscriber",
                             "room", c->room, "streams", streams);
    if (c->private_id[0])
        json_object_set_new(body, "private_id", json_integer(strtoll(c->private_id, NULL, 10)));
    plugin_message(c, c->sub_handle, "join-sub", body, NULL, NULL);
}

/* Publishers listed by a joined or event message: present to the bot, and
 * subscribed to. */
static void on_publishers(pl_botsig_conn *c, json_t *list)
{
    const pl_botsig_events *ev = &c->sig->cfg.events;
    size_t i;
    json_t *p;
    json_array_foreach(list, i, p)
    {
        char id[64];
        id_text(json_object_get(p, "id"), id, sizeof(id));
        if (!id[0] || find_feed(c, id))
            continue;
        if (ev->peer)
            ev->peer(ev->user, c->bot, id, pl_sigws_str(p, "display"), true, "");
        for (size_t k = 0; k < MAX_FEEDS; k++)
            if (!c->feeds[k].used) {
                c->feeds[k] = (feed){.used = true};
                snprintf(c->feeds[k].id, sizeof(c->feeds[k].id), "%s", id);
                break;
            }
    }
    subscribe_pending(c);
}

/* A feed left (its publisher left the room or stopped publishing): Janus
 * renegotiates the subscriber handle on its own. */
static void on_feed_gone(pl_botsig_conn *c, json_t *idv, const char *reason)
{
    char id[64];
    id_text(idv, id, sizeof(id));
    feed *f = find_feed(c, id);
    if (!f)
        return;
    f->used = false;
    const pl_botsig_events *ev = &c->sig->cfg.events;
    if (ev->peer)
        ev->peer(ev->user, c->bot, id, "", false, reason);
}

/* An offer on the subscriber handle, with Janus's description of each of
 * its streams: whose feed and which of the feed's mids. */
static void on_subscriber_offer(pl_botsig_conn *c, json_t *data, json_t *jsep)
{
    static const size_t max = PL_BOTSIG_MAX_TRACKS;
    pl_botsig_track *tracks = calloc(max, sizeof(*tracks));
    if (!tracks)
        return;
    size_t n = 0;
    size_t i;
    json_t *s;
    json_array_foreach(json_object_get(data, "streams"), i, s)
    {
        const char *type = pl_sigws_str(s, "type");
        char feed_id[64];
        id_text(json_object_get(s, "feed_id"), feed_id, sizeof(feed_id));
        if (n == max || !feed_id[0] || json_is_false(json_object_get(s, "active")) ||
            (strcmp(type, "audio") != 0 && strcmp(type, "video") != 0))
            continue;
        pl_botsig_track *t = &tracks[n++];
        snprintf(t->mid, sizeof(t->mid), "%s", pl_sigws_str(s, "mid"));
        snprintf(t->track_id, sizeof(t->track_id), "%s/%s", feed_id, pl_sigws_str(s, "feed_mid"));
        snprintf(t->participant_id, sizeof(t->participant_id), "%s", feed_id);
        snprintf(t->kind, sizeof(t->kind), "%s", type);
        const char *desc = pl_sigws_str(s, "feed_description");
        snprintf(t->source, sizeof(t->source), "%s",
                 desc[0]                      ? desc
                 : strcmp(type, "audio") == 0 ? "microphone"
                                              : "camera");
    }
    c->n_tracks = n;
    for (size_t k = 0; k < n; k++) {
        snprintf(c->tracks[k].track_id, sizeof(c->tracks[k].track_id), "%s", tracks[k].track_id);
        snprintf(c->tracks[k].mid, sizeof(c->tracks[k].mid), "%s", tracks[k].mid);
    }
    const pl_botsig_events *ev = &c->sig->cfg.events;
    if (ev->subscribe_offer)
        ev->subscribe_offer(ev->user, c->bot, pl_sigws_str(jsep, "sdp"), tracks, n);
    free(tracks);
}

static void on_plugin_error(pl_botsig_conn *c, json_int_t sender, json_t *data)
{
    char code[16];
    snprintf(code, sizeof(code), "%" JSON_INTEGER_FORMAT,
             json_integer_value(json_object_get(data, "error_code")));
    if (sender == c->sub_handle)
        c->sub_busy = false; /* that request earns no offer */
    report_error(c, code, pl_sigws_str(data, "error"));
    if (sender == c->sub_handle)
        subscribe_pending(c);
}

static void on_plugin_event(pl_botsig_conn *c, json_int_t sender, json_t *data, json_t *jsep)
{
    const pl_botsig_events *ev = &c->sig->cfg.events;
    const char *what = pl_sigws_str(data, "videoroom");
    if (json_object_get(data, "error_code")) {
        /* The room exists already: someone else created it. */
        if (json_integer_value(json_object_get(data, "error_code")) != 427)
            on_plugin_error(c, sender, data);
        return;
    }
    if (sender == c->pub_handle) {
        if (strcmp(what, "joined") == 0) {
            char id[64];
            id_text(json_object_get(data, "id"), id, sizeof(id));
            id_text(json_object_get(data, "private_id"), c->private_id, sizeof(c->private_id));
            if (ev->joined)
                ev->joined(ev->user, c->bot, id);
        }
        if (json_object_get(data, "publishers"))
            on_publishers(c, json_object_get(data, "publishers"));
        if (json_object_get(data, "unpublished"))
            on_feed_gone(c, json_object_get(data, "unpublished"), "left");
        if (json_object_get(data, "leaving"))
            on_feed_gone(c, json_object_get(data, "leaving"), "left");
        if (jsep && strcmp(pl_sigws_str(jsep, "type"), "answer") == 0 && ev->publish_answer)
            ev->publish_answer(ev->user, c->bot, pl_sigws_str(jsep, "sdp"));
    } else if (sender == c->sub_handle) {
        if (jsep && strcmp(pl_sigws_str(jsep, "type"), "offer") == 0)
            on_subscriber_offer(c, data, jsep);
        else if (strcmp(what, "updated") == 0 || strcmp(what, "attached") == 0) {
            /* Nothing to negotiate. */
            c->sub_busy = false;
            subscribe_pending(c);
        }
    }
}

static void on_success(pl_botsig_conn *c, const char *txn, json_t *msg)
{
    json_int_t id = json_integer_value(json_object_get(json_object_get(msg, "data"), "id"));
    if (strncmp(txn, "create:", 7) == 0) {
        c->session = id;
        request(c, "attach", "attach-pub", json_pack("{s:s}", "plugin", "janus.plugin.videoroom"));
    } else if (strncmp(txn, "attach-pub:", 11) == 0) {
        c->pub_handle = id;
        /* Room settings for many participants (the defaults allow 3
         * publishers); no bitrate cap; no transport-wide sequence numbers
         * toward subscribers, so the bots send no feedback, as with Parley
         * run without --downlink-estimate. Error 427 when it exists. */
        plugin_message(c, c->pub_handle, "room",
                       json_pack("{s:s, s:s, s:i, s:i, s:s, s:s, s:b, s:b}", "request", "create",
                                 "room", c->room, "publishers", 1000, "bitrate", 0, "audiocodec",
                                 "opus", "videocodec", "vp8", "notify_joining", 0,
                                 "transport_wide_cc_ext", 0),
                       NULL, NULL);
    } else if (strncmp(txn, "room:", 5) == 0) {
        plugin_message(c, c->pub_handle, "join",
                       json_pack("{s:s, s:s, s:s, s:s}", "request", "join", "ptype", "publisher",
                                 "room", c->room, "display", c->name),
                       NULL, NULL);
    } else if (strncmp(txn, "attach-sub:", 11) == 0) {
        c->sub_handle = id;
        join_subscriber(c);
    }
}

static void on_message(void *user, json_t *msg)
{
    pl_botsig_conn *c = user;
    const char *janus = pl_sigws_str(msg, "janus");
    const char *txn = pl_sigws_str(msg, "transaction");
    json_t *plugindata = json_object_get(msg, "plugindata");
    json_int_t sender = json_integer_value(json_object_get(msg, "sender"));
    if (strcmp(janus, "success") == 0 && plugindata) {
        /* A synchronous plugin request (the room's create). */
        json_t *data = json_object_get(plugindata, "data");
        if (json_object_get(data, "error_code") &&
            json_integer_value(json_object_get(data, "error_code")) != 427)
            on_plugin_error(c, sender, data);
        else
            on_success(c, txn, msg);
    } else if (strcmp(janus, "success") == 0) {
        on_success(c, txn, msg);
    } else if (strcmp(janus, "event") == 0 && plugindata) {
        on_plugin_event(c, sender, json_object_get(plugindata, "data"),
                        json_object_get(msg, "jsep"));
    } else if (strcmp(janus, "error") == 0) {
        json_t *e = json_object_get(msg, "error");
        char code[16];
        snprintf(code, sizeof(code), "%" JSON_INTEGER_FORMAT,
                 json_integer_value(json_object_get(e, "code")));
        report_error(c, code, pl_sigws_str(e, "reason"));
    } else if (strcmp(janus, "timeout") == 0) {
        report_error(c, "timeout", "janus dropped the session");
    }
    /* ack, keepalive, webrtcup, media, slowlink, hangup: nothing to do. */
}

static void on_established(void *user)
{
    pl_botsig_conn *c = user;
    request(c, "create", "create", NULL);
    pl_sigws_conn_timer(c->ws, KEEPALIVE_US);
}

static void on_timer(void *user)
{
    pl_botsig_conn *c = user;
    if (c->session && !pl_sigws_conn_closing(c->ws))
        request(c, "keepalive", "keepalive", NULL);
    pl_sigws_conn_timer(c->ws, KEEPALIVE_US);
}

static void on_failed(void *user, const char *why)
{
    pl_botsig_conn *c = user;
    report_error(c, "connection", why);
    tell_closed(c);
    conn_free(c);
}

/* Janus's session goes with its WebSocket: no resuming. */
static void on_closed(void *user)
{
    pl_botsig_conn *c = user;
    tell_closed(c);
    conn_free(c);
}

static pl_botsig *janus_create(const pl_botsig_config *cfg)
{
    pl_botsig *s = calloc(1, sizeof(*s));
    if (!s)
        return NULL;
    s->cfg = *cfg;
    pl_sigws_config wc = {
        .url = cfg->url,
        .protocol = "janus-protocol",
        .rx_max = RX_MAX,
        .tick_ms = cfg->tick_ms,
        .user = cfg->events.user,
        .tick = cfg->events.tick,
        .established = on_established,
        .message = on_message,
        .timer = on_timer,
        .failed = on_failed,
        .closed = on_closed,
    };
    int err = pl_sigws_create(&wc, &s->ws);
    if (err == PL_EINVAL)
        fprintf(stderr, "bad janus url %s (want ws://host:port/)\n", cfg->url);
    if (err != PL_OK) {
        free(s);
        return NULL;
    }
    return s;
}

static void janus_destroy(pl_botsig *s)
{
    if (!s)
        return;
    pl_sigws_destroy(s->ws);
    free(s);
}

static int janus_run(pl_botsig *s)
{
    return pl_sigws_run(s->ws);
}

static void janus_stop(pl_botsig *s)
{
    pl_sigws_stop(s->ws);
}

static pl_botsig_conn *janus_join(pl_botsig *s, const char *name, const char *room, void *bot)
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

static int janus_publish(pl_botsig_conn *c, const char *sdp, const char *const *mids,
                         const char *const *sources, size_t n)
{
    if (!c->pub_handle)
        return PL_ESTATE;
    /* The bot's transport is the DTLS client whatever it offers; Janus
     * would take that role itself on actpass. */
    static const char from[] = "a=setup:actpass", to[] = "a=setup:active";
    char *copy = malloc(strlen(sdp) + 1);
    if (!copy)
        return PL_ENOMEM;
    char *w = copy;
    for (const char *r = sdp; *r;) {
        if (strncmp(r, from, sizeof(from) - 1) == 0) {
            memcpy(w, to, sizeof(to) - 1);
            w += sizeof(to) - 1;
            r += sizeof(from) - 1;
        } else {
            *w++ = *r++;
        }
    }
    *w = '\0';
    json_t *desc = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(desc,
                              json_pack("{s:s, s:s}", "mid", mids[i], "description", sources[i]));
    plugin_message(c, c->pub_handle, "publish",
                   json_pack("{s:s, s:o}", "request", "publish", "descriptions", desc), "offer",
                   copy);
    free(copy);
    return PL_OK;
}

static int janus_subscribe_answer(pl_botsig_conn *c, const char *sdp)
{
    if (!c->sub_handle)
        return PL_ESTATE;
    plugin_message(c, c->sub_handle, "start", json_pack("{s:s}", "request", "start"), "answer",
                   sdp);
    c->sub_busy = false;
    subscribe_pending(c);
    return PL_OK;
}

/* The simulcast layer for a size, as the bots send them: q, h, f at 1/4,
 * 1/2 and full size of 640x360 (tools/bot/simulcast.h); as Parley picks
 * (pl_layer_choose): the smallest that covers the size, else the largest. */
static int janus_subscription(pl_botsig_conn *c, const char *track_id, unsigned max_width,
                              unsigned max_height)
{
    const char *mid = NULL;
    for (size_t i = 0; i < c->n_tracks && !mid; i++)
        if (strcmp(c->tracks[i].track_id, track_id) == 0)
            mid = c->tracks[i].mid;
    if (!mid || !c->sub_handle)
        return PL_ENOTFOUND;
    static const unsigned w[] = {160, 320, 640}, h[] = {90, 180, 360};
    int layer = 2;
    for (int i = 0; i < 3 && (max_width || max_height); i++)
        if ((!max_width || w[i] >= max_width) && (!max_height || h[i] >= max_height)) {
            layer = i;
            break;
        }
    json_t *streams = json_pack("[{s:s, s:i}]", "mid", mid, "substream", layer);
    plugin_message(c, c->sub_handle, "configure",
                   json_pack("{s:s, s:o}", "request", "configure", "streams", streams), NULL, NULL);
    return PL_OK;
}

static void janus_leave(pl_botsig_conn *c)
{
    if (pl_sigws_conn_closing(c->ws))
        return;
    /* Destroying the session detaches both handles: the others hear the
     * publisher leave and Janus renegotiates their subscriptions. */
    if (c->session)
        request(c, "destroy", "destroy", NULL);
    pl_sigws_conn_close(c->ws);
}

const pl_botsig_ops pl_botsig_janus = {
    .name = "janus",
    .create = janus_create,
    .destroy = janus_destroy,
    .run = janus_run,
    .stop = janus_stop,
    .join = janus_join,
    .publish = janus_publish,
    .subscribe_answer = janus_subscribe_answer,
    .pause = NULL,
    .subscription = janus_subscription,
    .leave = janus_leave,
    .cut = NULL,
};
