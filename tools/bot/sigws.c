/* The bots' WebSocket JSON client (sigws.h) on a libwebsockets client
 * context. */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <libwebsockets.h>

#include "parley/common.h"
#include "sigws.h"

typedef struct out_msg {
    struct out_msg *next;
    size_t len;
    unsigned char data[]; /* LWS_PRE bytes of headroom, then the text */
} out_msg;

/* Where a connection goes: the context's URL, or its own. */
typedef struct target {
    char url[256];
    char host[128];
    char path[128];
    int port;
} target;

struct pl_sigws_conn {
    pl_sigws *sig;
    target to;
    void *user;
    struct lws *wsi;
    out_msg *head, *tail;
    bool closing;                  /* close once the queue is flushed */
    bool connecting, failed_early; /* inside lws_client_connect_via_info */
    size_t rx_len;
    char *rx; /* rx_max + 1 bytes */
};

struct pl_sigws {
    pl_sigws_config cfg;
    char protocol[64];
    target to;
    /* lws keeps a pointer to the table for the context's life. */
    struct lws_protocols protocols[2];
    struct lws_context *ctx;
    lws_sorted_usec_list_t tick_sul;
    atomic_bool stop;
};

static void free_queue(pl_sigws_conn *c)
{
    while (c->head) {
        out_msg *m = c->head;
        c->head = m->next;
        free(m);
    }
    c->tail = NULL;
}

/* The WebSocket is over: nothing may reach this connection through it, and
 * what was queued for it goes with it. */
static void detach(pl_sigws_conn *c, struct lws *wsi)
{
    lws_set_opaque_user_data(wsi, NULL);
    c->wsi = NULL;
    free_queue(c);
}

static void on_message(pl_sigws_conn *c)
{
    json_error_t err;
    json_t *msg = json_loadb(c->rx, c->rx_len, 0, &err);
    if (json_is_object(msg))
        c->sig->cfg.message(c->user, msg);
    json_decref(msg);
}

static int on_receive(pl_sigws_conn *c, struct lws *wsi, const void *in, size_t len)
{
    size_t max = c->sig->cfg.rx_max;
    if (lws_is_first_fragment(wsi))
        c->rx_len = 0;
    if (c->rx_len + len > max) {
        c->rx_len = max + 1; /* oversized: drop the whole message */
    } else {
        memcpy(c->rx + c->rx_len, in, len);
        c->rx_len += len;
    }
    if (!lws_is_final_fragment(wsi))
        return 0;
    if (c->rx_len <= max && !c->closing)
        on_message(c);
    c->rx_len = 0;
    return 0;
}

static int on_writeable(pl_sigws_conn *c, struct lws *wsi)
{
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
        return 0;
    }
    if (c->closing) {
        lws_close_reason(wsi, LWS_CLOSE_STATUS_NORMAL, NULL, 0);
        return -1;
    }
    return 0;
}

static int callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                    size_t len)
{
    (void)user;
    pl_sigws_conn *c = wsi ? lws_get_opaque_user_data(wsi) : NULL;
    const pl_sigws_config *cfg = c ? &c->sig->cfg : NULL;
    switch (reason) {
    case LWS_CALLBACK_CLIENT_ESTABLISHED:
        if (!c)
            return -1;
        cfg->established(c->user);
        /* What was queued before the connection was open. */
        if (c->head)
            lws_callback_on_writable(wsi);
        break;
    case LWS_CALLBACK_TIMER:
        if (c && cfg->timer)
            cfg->timer(c->user);
        break;
    case LWS_CALLBACK_CLIENT_RECEIVE:
        return c ? on_receive(c, wsi, in, len) : -1;
    case LWS_CALLBACK_CLIENT_WRITEABLE:
        return c ? on_writeable(c, wsi) : -1;
    case LWS_CALLBACK_CLIENT_CONNECTION_ERROR:
        if (c && c->connecting) {
            /* pl_sigws_conn_open reports the failure itself. */
            c->failed_early = true;
            lws_set_opaque_user_data(wsi, NULL);
        } else if (c) {
            detach(c, wsi);
            cfg->failed(c->user, in ? (const char *)in : "failed");
        }
        break;
    case LWS_CALLBACK_CLIENT_CLOSED:
        if (c) {
            detach(c, wsi);
            cfg->closed(c->user);
        }
        break;
    default:
        break;
    }
    return 0;
}

static int parse_url(target *t, const char *url)
{
    const char *prot, *addr, *path;
    target n = {0};
    char copy[sizeof(n.url)];
    if (strlen(url) >= sizeof(copy))
        return PL_EINVAL;
    snprintf(n.url, sizeof(n.url), "%s", url);
    snprintf(copy, sizeof(copy), "%s", url); /* lws_parse_uri cuts it up */
    if (lws_parse_uri(copy, &prot, &addr, &n.port, &path) || strcmp(prot, "ws") != 0 || !*addr)
        return PL_EINVAL;
    snprintf(n.host, sizeof(n.host), "%s", addr);
    snprintf(n.path, sizeof(n.path), "/%s", path);
    *t = n;
    return PL_OK;
}

int pl_sigws_conn_set_url(pl_sigws_conn *c, const char *url)
{
    return parse_url(&c->to, url);
}

int pl_sigws_create(const pl_sigws_config *cfg, pl_sigws **out)
{
    *out = NULL;
    pl_sigws *s = calloc(1, sizeof(*s));
    if (!s)
        return PL_ENOMEM;
    s->cfg = *cfg;
    if (s->cfg.tick_ms <= 0)
        s->cfg.tick_ms = 10;
    if (parse_url(&s->to, cfg->url) != PL_OK) {
        free(s);
        return PL_EINVAL;
    }
    snprintf(s->protocol, sizeof(s->protocol), "%s", cfg->protocol);
    s->protocols[0] = (struct lws_protocols){
        .name = s->protocol,
        .callback = callback,
        .rx_buffer_size = cfg->rx_max,
    };
    lws_set_log_level(LLL_ERR, NULL);
    struct lws_context_creation_info info;
    memset(&info, 0, sizeof(info));
    info.port = CONTEXT_PORT_NO_LISTEN;
    info.protocols = s->protocols;
    /* Many bots in one process: one file descriptor each, plus slack. */
    info.fd_limit_per_thread = 4096;
    s->ctx = lws_create_context(&info);
    if (!s->ctx) {
        free(s);
        return PL_ESTATE;
    }
    *out = s;
    return PL_OK;
}

void pl_sigws_destroy(pl_sigws *s)
{
    if (!s)
        return;
    lws_sul_cancel(&s->tick_sul);
    lws_context_destroy(s->ctx);
    free(s);
}

static void tick(lws_sorted_usec_list_t *sul)
{
    pl_sigws *s = lws_container_of(sul, pl_sigws, tick_sul);
    if (s->cfg.tick)
        s->cfg.tick(s->cfg.user);
    lws_sul_schedule(s->ctx, 0, &s->tick_sul, tick, (lws_usec_t)s->cfg.tick_ms * LWS_US_PER_MS);
}

int pl_sigws_run(pl_sigws *s)
{
    lws_sul_schedule(s->ctx, 0, &s->tick_sul, tick, (lws_usec_t)s->cfg.tick_ms * LWS_US_PER_MS);
    /* Each stop ends one run (a stop before it, the next one). */
    while (!atomic_exchange(&s->stop, false))
        if (lws_service(s->ctx, 0) < 0)
            return PL_ESTATE;
    return PL_OK;
}

void pl_sigws_stop(pl_sigws *s)
{
    atomic_store(&s->stop, true);
    lws_cancel_service(s->ctx);
}

pl_sigws_conn *pl_sigws_conn_create(pl_sigws *s, void *user)
{
    pl_sigws_conn *c = calloc(1, sizeof(*c));
    if (!c)
        return NULL;
    c->rx = malloc(s->cfg.rx_max + 1);
    if (!c->rx) {
        free(c);
        return NULL;
    }
    c->sig = s;
    c->user = user;
    c->to = s->to;
    return c;
}

void pl_sigws_conn_destroy(pl_sigws_conn *c)
{
    if (!c)
        return;
    free_queue(c);
    free(c->rx);
    free(c);
}

int pl_sigws_conn_open(pl_sigws_conn *c)
{
    pl_sigws *s = c->sig;
    struct lws_client_connect_info ci;
    memset(&ci, 0, sizeof(ci));
    ci.context = s->ctx;
    ci.address = c->to.host;
    ci.port = c->to.port;
    ci.path = c->to.path;
    ci.host = c->to.host;
    ci.origin = c->to.host;
    ci.protocol = s->protocol;
    ci.opaque_user_data = c;
    ci.pwsi = &c->wsi;
    c->rx_len = 0;
    c->closing = false; /* opened again: a new WebSocket */
    c->connecting = true;
    c->failed_early = false;
    struct lws *wsi = lws_client_connect_via_info(&ci);
    c->connecting = false;
    return wsi && !c->failed_early ? PL_OK : PL_ESTATE;
}

bool pl_sigws_conn_live(const pl_sigws_conn *c)
{
    return c->wsi != NULL;
}

void pl_sigws_conn_send(pl_sigws_conn *c, json_t *msg)
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

void pl_sigws_conn_close(pl_sigws_conn *c)
{
    c->closing = true;
    if (c->wsi)
        lws_callback_on_writable(c->wsi);
}

bool pl_sigws_conn_closing(const pl_sigws_conn *c)
{
    return c->closing;
}

void pl_sigws_conn_cut(pl_sigws_conn *c)
{
    if (!c->wsi)
        return;
    /* No close frame: shut the socket under lws, which notices on its next
     * write. */
    shutdown(lws_get_socket_fd(c->wsi), SHUT_RDWR);
    lws_callback_on_writable(c->wsi);
}

void pl_sigws_conn_timer(pl_sigws_conn *c, int64_t usec)
{
    if (c->wsi)
        lws_set_timer_usecs(c->wsi, (lws_usec_t)usec);
}

const char *pl_sigws_str(json_t *o, const char *key)
{
    const char *s = json_string_value(json_object_get(o, key));
    return s ? s : "";
}
