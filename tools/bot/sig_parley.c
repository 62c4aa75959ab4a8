/* The bot's adapter for Parley's own signaling protocol (docs/protocol.md),
 * on a libwebsockets client context: hello, join, publish, subscribe-answer,
 * leave; the rest of the protocol's events are read and ignored. */
#include <stdatomic.h>
#include <sys/socket.h>
#include <time.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <libwebsockets.h>

#include "parley/common.h"
#include "sig.h"

#define RX_MAX (256 * 1024)

typedef struct out_msg {
    struct out_msg *next;
    size_t len;
    unsigned char data[]; /* LWS_PRE bytes of headroom, then the text */
} out_msg;

struct pl_botsig_conn {
    pl_botsig *sig;
    struct lws *wsi;
    void *bot;
    char name[80];
    char room[80];
    out_msg *head, *tail;
    bool closing;                  /* leave sent: close once the queue is flushed */
    bool detached;                 /* the bot is told it is closed; ignore the rest */
    bool connecting, failed_early; /* inside lws_client_connect_via_info */
    size_t rx_len;
    char *rx;
    int next_id;
    /* Resuming after a cut. */
    char resume_token[64];
    bool cutting;         /* the loss is deliberate: reconnect, do not tell the bot */
    int64_t reconnect_at; /* monotonic microseconds while cut */
    bool resuming;        /* the last hello carried the token */
    int hello_id;
    bool listed; /* on the signaling's list of connections to reopen */
    /* Left while the connection was down: the session is taken back only
     * to leave it (so the others see `left`, not a timeout), until then. */
    bool leave_on_resume;
    int64_t give_up_at;
    struct pl_botsig_conn *next_cut;
};

struct pl_botsig {
    pl_botsig_config cfg;
    char url[256];
    char host[128];
    char path[128];
    int port;
    struct lws_context *ctx;
    lws_sorted_usec_list_t tick_sul;
    atomic_bool stop;
    pl_botsig_conn *cut; /* connections waiting to come back */
};

static void enqueue(pl_botsig_conn *c, json_t *msg)
{
    char *text = json_dumps(msg, JSON_COMPACT);
    json_decref(msg);
    if (!text)
        return;
    size_t len = strlen(text);
    out_msg *m = malloc(sizeof(*m) + LWS_PRE + len);
    if (!m) {
        free(text);
        return;
    }
    m->next = NULL;
    m->len = len;
    memcpy(m->data + LWS_PRE, text, len);
    free(text);
    if (c->tail)
        c->tail->next = m;
    else
        c->head = m;
    c->tail = m;
    if (c->wsi)
        lws_callback_on_writable(c->wsi);
}

static void free_queue(pl_botsig_conn *c)
{
    while (c->head) {
        out_msg *m = c->head;
        c->head = m->next;
        free(m);
    }
    c->tail = NULL;
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
    free_queue(c);
    free(c->rx);
    free(c);
}

static const char *str(json_t *o, const char *key)
{
    const char *s = json_string_value(json_object_get(o, key));
    return s ? s : "";
}

static void on_participant(pl_botsig_conn *c, json_t *p, bool present)
{
    const pl_botsig_events *ev = &c->sig->cfg.events;
    if (ev->peer)
        ev->peer(ev->user, c->bot, str(p, "id"), str(p, "name"), present, "");
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
        snprintf(o->track_id, sizeof(o->track_id), "%s", str(t, "track_id"));
        snprintf(o->participant_id, sizeof(o->participant_id), "%s", str(t, "participant_id"));
        snprintf(o->kind, sizeof(o->kind), "%s", str(t, "kind"));
        snprintf(o->source, sizeof(o->source), "%s", str(t, "source"));
    }
    const pl_botsig_events *ev = &c->sig->cfg.events;
    if (ev->subscribe_offer)
        ev->subscribe_offer(ev->user, c->bot, str(msg, "sdp"), tracks, n);
    free(tracks);
}

static void on_message(pl_botsig_conn *c, const char *text, size_t len)
{
    json_error_t err;
    json_t *msg = json_loadb(text, len, 0, &err);
    if (!json_is_object(msg)) {
        json_decref(msg);
        return;
    }
    const pl_botsig_events *ev = &c->sig->cfg.events;
    const char *type = str(msg, "type");
    if (strcmp(type, "welcome") == 0) {
        snprintf(c->resume_token, sizeof(c->resume_token), "%s", str(msg, "resume_token"));
        /* A resumed session is still in its room: `joined` follows. */
        if (!json_is_true(json_object_get(msg, "resumed")))
            enqueue(c, json_pack("{s:s, s:s, s:i}", "type", "join", "room", c->room, "id",
                                 ++c->next_id));
    } else if (strcmp(type, "joined") == 0) {
        if (ev->joined)
            ev->joined(ev->user, c->bot, str(json_object_get(msg, "participant"), "id"));
        size_t i;
        json_t *p;
        json_array_foreach(json_object_get(msg, "participants"), i, p) on_participant(c, p, true);
    } else if (strcmp(type, "participant-joined") == 0) {
        on_participant(c, json_object_get(msg, "participant"), true);
    } else if (strcmp(type, "participant-left") == 0) {
        if (ev->peer)
            ev->peer(ev->user, c->bot, str(msg, "participant_id"), "", false, str(msg, "reason"));
    } else if (strcmp(type, "publish-answer") == 0) {
        if (ev->publish_answer)
            ev->publish_answer(ev->user, c->bot, str(msg, "sdp"));
    } else if (strcmp(type, "subscribe-offer") == 0) {
        on_subscribe_offer(c, msg);
    } else if (strcmp(type, "error") == 0 && c->resuming &&
               json_integer_value(json_object_get(msg, "re")) == c->hello_id) {
        /* The session is gone (its grace period is over): a new one. */
        c->resume_token[0] = '\0';
        send_hello(c);
    } else if (strcmp(type, "error") == 0) {
        if (ev->error)
            ev->error(ev->user, c->bot, str(msg, "code"), str(msg, "message"));
    }
    json_decref(msg);
}

static int64_t mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* The connection is gone without our leaving (a cut, a network drop, the
 * server restarting): try again in a moment, resuming the session. */
static void lost(pl_botsig_conn *c, struct lws *wsi, int64_t after_us)
{
    lws_set_opaque_user_data(wsi, NULL);
    c->wsi = NULL;
    free_queue(c);
    c->reconnect_at = mono_us() + after_us;
    c->cutting = true;
    if (!c->listed) {
        c->listed = true;
        c->next_cut = c->sig->cut;
        c->sig->cut = c;
    }
}

static int on_receive(pl_botsig_conn *c, struct lws *wsi, const void *in, size_t len)
{
    if (lws_is_first_fragment(wsi))
        c->rx_len = 0;
    if (c->rx_len + len > RX_MAX) {
        c->rx_len = RX_MAX + 1; /* oversized: drop the whole message */
    } else {
        memcpy(c->rx + c->rx_len, in, len);
        c->rx_len += len;
    }
    if (!lws_is_final_fragment(wsi))
        return 0;
    /* After `leave`, what the server still had in flight is of no use:
     * answering an offer now would only earn a conflict. */
    if (c->rx_len <= RX_MAX && !c->detached && !c->closing)
        on_message(c, c->rx, c->rx_len);
    c->rx_len = 0;
    return 0;
}

static int callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                    size_t len)
{
    (void)user;
    pl_botsig_conn *c = wsi ? lws_get_opaque_user_data(wsi) : NULL;
    switch (reason) {
    case LWS_CALLBACK_CLIENT_ESTABLISHED:
        if (!c)
            return -1;
        c->cutting = false;
        send_hello(c);
        if (c->leave_on_resume) {
            enqueue(c, json_pack("{s:s, s:i}", "type", "leave", "id", ++c->next_id));
            c->closing = true;
            lws_callback_on_writable(wsi);
        }
        break;
    case LWS_CALLBACK_CLIENT_RECEIVE:
        return c ? on_receive(c, wsi, in, len) : -1;
    case LWS_CALLBACK_CLIENT_WRITEABLE:
        if (!c)
            return -1;
        if (c->head) {
            out_msg *m = c->head;
            c->head = m->next;
            if (!c->head)
                c->tail = NULL;
            int n = lws_write(wsi, m->data + LWS_PRE, m->len, LWS_WRITE_TEXT);
            free(m);
            if (n < 0)
                return -1;
            if (c->head || c->closing)
                lws_callback_on_writable(wsi);
            break;
        }
        if (c->closing) {
            lws_close_reason(wsi, LWS_CLOSE_STATUS_NORMAL, NULL, 0);
            return -1;
        }
        break;
    case LWS_CALLBACK_CLIENT_CONNECTION_ERROR:
        if (c && c->cutting && !c->connecting) {
            lost(c, wsi, 1000000); /* the server is not back yet */
            break;
        }
        if (c && c->connecting) {
            /* parley_join still owns c and reports the failure itself. */
            c->failed_early = true;
            lws_set_opaque_user_data(wsi, NULL);
        } else if (c) {
            const pl_botsig_events *ev = &c->sig->cfg.events;
            if (ev->error && !c->detached)
                ev->error(ev->user, c->bot, "connection", in ? (const char *)in : "failed");
            lws_set_opaque_user_data(wsi, NULL);
            tell_closed(c);
            conn_free(c);
        }
        break;
    case LWS_CALLBACK_CLIENT_CLOSED:
        if (c && c->cutting) {
            /* A deliberate cut: reconnect_at is already set. */
            lws_set_opaque_user_data(wsi, NULL);
            c->wsi = NULL;
            free_queue(c);
            break;
        }
        if (c && !c->closing) {
            lost(c, wsi, 500000);
            break;
        }
        if (c) {
            lws_set_opaque_user_data(wsi, NULL);
            tell_closed(c);
            conn_free(c);
        }
        break;
    default:
        break;
    }
    return 0;
}

static const struct lws_protocols protocols[] = {
    {"parley.v1", callback, 0, RX_MAX, 0, NULL, 0},
    {NULL, NULL, 0, 0, 0, NULL, 0},
};

static bool open_connection(pl_botsig *s, pl_botsig_conn *c);

static void reconnect_due(pl_botsig *s)
{
    int64_t now = mono_us();
    for (pl_botsig_conn **pp = &s->cut; *pp;) {
        pl_botsig_conn *c = *pp;
        if (c->leave_on_resume && !c->wsi && now >= c->give_up_at) {
            /* The server stays away: it will time the session out. */
            *pp = c->next_cut;
            c->listed = false;
            tell_closed(c);
            conn_free(c);
            continue;
        }
        if (c->wsi || now < c->reconnect_at) {
            pp = &c->next_cut;
            continue;
        }
        c->rx_len = 0;
        if (!open_connection(s, c)) {
            c->reconnect_at = now + 1000000;
            pp = &c->next_cut;
            continue;
        }
        *pp = c->next_cut; /* back on the list if this attempt fails too */
        c->listed = false;
    }
}

static void tick(lws_sorted_usec_list_t *sul)
{
    pl_botsig *s = lws_container_of(sul, pl_botsig, tick_sul);
    reconnect_due(s);
    if (s->cfg.events.tick)
        s->cfg.events.tick(s->cfg.events.user);
    lws_sul_schedule(s->ctx, 0, &s->tick_sul, tick, (lws_usec_t)s->cfg.tick_ms * LWS_US_PER_MS);
}

static int parse_url(pl_botsig *s, const char *url)
{
    const char *prot, *addr, *path;
    snprintf(s->url, sizeof(s->url), "%s", url);
    if (lws_parse_uri(s->url, &prot, &addr, &s->port, &path) || strcmp(prot, "ws") != 0)
        return PL_EINVAL;
    snprintf(s->host, sizeof(s->host), "%s", addr);
    snprintf(s->path, sizeof(s->path), "/%s", path);
    return PL_OK;
}

static pl_botsig *parley_create(const pl_botsig_config *cfg)
{
    pl_botsig *s = calloc(1, sizeof(*s));
    if (!s)
        return NULL;
    s->cfg = *cfg;
    if (s->cfg.tick_ms <= 0)
        s->cfg.tick_ms = 10;
    if (parse_url(s, cfg->url) != PL_OK) {
        fprintf(stderr, "bad signaling url %s (want ws://host:port/path)\n", cfg->url);
        free(s);
        return NULL;
    }
    lws_set_log_level(LLL_ERR, NULL);
    struct lws_context_creation_info info;
    memset(&info, 0, sizeof(info));
    info.port = CONTEXT_PORT_NO_LISTEN;
    info.protocols = protocols;
    info.options = 0;
    /* Many bots in one process: one file descriptor each, plus slack. */
    info.fd_limit_per_thread = 4096;
    s->ctx = lws_create_context(&info);
    if (!s->ctx) {
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
        if (!c->wsi)
            conn_free(c);
    }
    lws_sul_cancel(&s->tick_sul);
    lws_context_destroy(s->ctx);
    free(s);
}

static int parley_run(pl_botsig *s)
{
    lws_sul_schedule(s->ctx, 0, &s->tick_sul, tick, (lws_usec_t)s->cfg.tick_ms * LWS_US_PER_MS);
    while (!atomic_load(&s->stop))
        if (lws_service(s->ctx, 0) < 0)
            return PL_ESTATE;
    return PL_OK;
}

static void parley_stop(pl_botsig *s)
{
    atomic_store(&s->stop, true);
    lws_cancel_service(s->ctx);
}

static bool open_connection(pl_botsig *s, pl_botsig_conn *c)
{
    struct lws_client_connect_info ci;
    memset(&ci, 0, sizeof(ci));
    ci.context = s->ctx;
    ci.address = s->host;
    ci.port = s->port;
    ci.path = s->path;
    ci.host = s->host;
    ci.origin = s->host;
    ci.protocol = "parley.v1";
    ci.opaque_user_data = c;
    ci.pwsi = &c->wsi;
    c->connecting = true;
    c->failed_early = false;
    struct lws *wsi = lws_client_connect_via_info(&ci);
    c->connecting = false;
    return wsi && !c->failed_early;
}

static pl_botsig_conn *parley_join(pl_botsig *s, const char *name, const char *room, void *bot)
{
    pl_botsig_conn *c = calloc(1, sizeof(*c));
    if (!c)
        return NULL;
    c->rx = malloc(RX_MAX + 1);
    if (!c->rx) {
        free(c);
        return NULL;
    }
    c->sig = s;
    c->bot = bot;
    snprintf(c->name, sizeof(c->name), "%s", name);
    snprintf(c->room, sizeof(c->room), "%s", room);
    if (!open_connection(s, c)) {
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
    if (c->cutting || !c->wsi)
        return;
    c->cutting = true;
    c->reconnect_at = mono_us() + (int64_t)(seconds * 1e6);
    if (!c->listed) {
        c->listed = true;
        c->next_cut = c->sig->cut;
        c->sig->cut = c;
    }
    /* No close handshake: the server sees the connection lost. */
    shutdown(lws_get_socket_fd(c->wsi), SHUT_RDWR);
    lws_callback_on_writable(c->wsi);
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
        if (!c->wsi) {
            tell_closed(c);
            conn_free(c);
        }
        return;
    }
    if (c->closing)
        return;
    enqueue(c, json_pack("{s:s, s:i}", "type", "leave", "id", ++c->next_id));
    c->closing = true;
    if (c->wsi)
        lws_callback_on_writable(c->wsi);
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
