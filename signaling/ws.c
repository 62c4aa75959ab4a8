/* The WebSocket side of parley: one session per connection on /ws, frame
 * reassembly with the 64 KiB limit, a write queue per session with a bound
 * for clients that do not read, the per-address connection cap, and the
 * HTTP requests of the same lws protocol (/r/<room>). Frames go to
 * the signaling core, which answers through srv_ws_io. */
#include <stdlib.h>
#include <string.h>

#include "server.h"

#define RX_MAX PL_SIG_MAX_MESSAGE
#define RX_START 4096
/* What libwebsockets keeps per connection to read frames into: a message
 * is put together from pieces this size (on_receive), so every
 * participant need not hold a buffer of the largest message allowed. */
#define RX_CHUNK 4096

/* A client that does not read what it is sent is cut off rather than
 * allowed to grow the server's memory. */
#define MAX_QUEUED_BYTES (4u << 20)

typedef struct out_msg {
    struct out_msg *next;
    size_t len;
    unsigned char data[]; /* LWS_PRE bytes of headroom, then the text */
} out_msg;

/* Per-WebSocket state, allocated by lws (per_session_data_size). */
typedef struct session {
    struct server *srv;
    struct lws *wsi;
    uint64_t id;
    out_msg *head, *tail;
    int close_code;
    bool peer_closed; /* the client sent a close frame */
    bool is_ws;
    bool oversized;
    size_t queued; /* bytes waiting in the output queue */
    char ip[64];
    size_t rx_len;
    char *rx;           /* reassembly of fragmented frames, up to RX_MAX + 1 */
    size_t rx_cap;      /* grown as messages need it: most are small */
    srv_rec_play *play; /* an HTTP connection playing a recording */
    struct session *next;
} session;

static session *find_session(server *srv, uint64_t id)
{
    for (session *s = srv->sessions; s; s = s->next)
        if (s->id == id)
            return s;
    return NULL;
}

static void sig_send(void *user, uint64_t conn, const char *json, size_t len)
{
    session *s = find_session(user, conn);
    /* Once a close is decided nothing more is said: the close frame must be
     * the last thing the client reads. */
    if (!s || s->close_code)
        return;
    out_msg *m = malloc(sizeof(*m) + LWS_PRE + len);
    if (!m)
        return;
    if (s->queued + len > MAX_QUEUED_BYTES) {
        free(m);
        s->srv->cut_slow++;
        s->close_code = 1008;
        lws_callback_on_writable(s->wsi);
        return;
    }
    s->queued += len;
    m->next = NULL;
    m->len = len;
    memcpy(m->data + LWS_PRE, json, len);
    if (s->tail)
        s->tail->next = m;
    else
        s->head = m;
    s->tail = m;
    lws_callback_on_writable(s->wsi);
}

static void sig_close(void *user, uint64_t conn, int code, const char *reason)
{
    (void)reason;
    session *s = find_session(user, conn);
    if (!s)
        return;
    s->close_code = code;
    lws_callback_on_writable(s->wsi);
}

/* Connections from one address beyond the cap are refused. */
static bool too_many_from(server *srv, const session *s)
{
    int n = 0;
    for (const session *o = srv->sessions; o; o = o->next)
        n += o->is_ws && !o->close_code && strcmp(o->ip, s->ip) == 0;
    return n > srv->opt.max_conns_per_ip;
}

static void unlink_session(server *srv, session *s)
{
    for (session **pp = &srv->sessions; *pp; pp = &(*pp)->next)
        if (*pp == s) {
            *pp = s->next;
            break;
        }
    while (s->head) {
        out_msg *m = s->head;
        s->head = m->next;
        free(m);
    }
    s->tail = NULL;
    free(s->rx);
    s->rx = NULL;
}

static bool path_is(struct lws *wsi, const char *want)
{
    char uri[256];
    if (lws_hdr_copy(wsi, uri, sizeof(uri), WSI_TOKEN_GET_URI) <= 0)
        return false;
    return strcmp(uri, want) == 0;
}

static int on_receive(session *s, const void *in, size_t len)
{
    server *srv = s->srv;
    if (s->close_code)
        return 0; /* closing: the rest of what the client sends is ignored */
    if (lws_is_first_fragment(s->wsi)) {
        s->rx_len = 0;
        s->oversized = false;
    }
    if (!s->oversized && s->rx_len + len > RX_MAX)
        s->oversized = true; /* keep reading, drop the content */
    if (!s->oversized && s->rx_len + len + 1 > s->rx_cap) {
        size_t cap = s->rx_cap;
        while (cap < s->rx_len + len + 1)
            cap *= 2;
        char *grown = realloc(s->rx, cap > RX_MAX + 1 ? RX_MAX + 1 : cap);
        if (!grown)
            s->oversized = true; /* refused as too large: no memory for it */
        else {
            s->rx = grown;
            s->rx_cap = cap > RX_MAX + 1 ? RX_MAX + 1 : cap;
        }
    }
    if (!s->oversized) {
        memcpy(s->rx + s->rx_len, in, len);
        s->rx_len += len;
    }
    if (!lws_is_final_fragment(s->wsi) || lws_remaining_packet_payload(s->wsi) > 0)
        return 0;
    if (s->oversized)
        pl_sig_handle_bad_frame(srv->sig, s->id, "message larger than 64 KiB");
    else if (lws_frame_is_binary(s->wsi))
        pl_sig_handle_bad_frame(srv->sig, s->id, "binary frames are not accepted");
    else
        pl_sig_handle_text(srv->sig, s->id, srv_now(), s->rx, s->rx_len);
    s->rx_len = 0;
    return 0;
}

static int callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                    size_t len)
{
    session *s = user;
    server *srv = lws_context_user(lws_get_context(wsi));
    switch (reason) {
    case LWS_CALLBACK_EVENT_WAIT_CANCELLED:
        srv_workers_drain_events(srv);
        srv_bus_deliver(srv);
        srv_reclive_drain(srv);
        break;
    case LWS_CALLBACK_OPENSSL_LOAD_EXTRA_SERVER_VERIFY_CERTS:
        /* The listener's TLS context, kept for reloads (reload.c). */
        srv->tls_ctx = user;
        break;
    case LWS_CALLBACK_HTTP: {
        /* /r/<room> is the meeting page itself; the client reads the room
         * from its address. lws brings here too what the file mount did not
         * find: that is a 404, so that /stats and /metrics, which live on
         * the admin listener, are not answered with a page here. */
        char uri[1024] = "";
        char *u = NULL;
        int ulen = 0;
        if (lws_http_get_uri_and_method(wsi, &u, &ulen) >= 0 && u && ulen > 0)
            snprintf(uri, sizeof(uri), "%.*s", ulen, u);
        if (strncmp(uri, "/recordings/", 12) == 0 || strcmp(uri, "/recordings") == 0)
            return srv_recordings_serve(wsi, srv, &s->play);
        if (strncmp(uri, "/r/", 3) != 0 && strcmp(uri, "/r") != 0)
            return lws_return_http_status(wsi, HTTP_STATUS_NOT_FOUND, NULL) ||
                           lws_http_transaction_completed(wsi)
                       ? -1
                       : 0;
        if (lws_serve_http_file(wsi, srv->index_path, "text/html", NULL, 0) < 0)
            return -1;
        return 0;
    }
    case LWS_CALLBACK_HTTP_WRITEABLE:
        if (s && s->play)
            return srv_recordings_write(wsi, srv, &s->play);
        break;
    case LWS_CALLBACK_CLOSED_HTTP:
        if (s)
            srv_recordings_play_end(srv, &s->play);
        break;
    case LWS_CALLBACK_ESTABLISHED:
        if (!path_is(wsi, "/ws"))
            return -1;
        memset(s, 0, sizeof(*s));
        s->srv = srv;
        s->wsi = wsi;
        s->id = ++srv->next_id;
        s->is_ws = true;
        s->rx_cap = RX_START;
        s->rx = malloc(s->rx_cap);
        if (!s->rx || pl_sig_connect(srv->sig, s->id) != PL_OK)
            return -1;
        lws_get_peer_simple(wsi, s->ip, sizeof(s->ip));
        s->next = srv->sessions;
        srv->sessions = s;
        if (too_many_from(srv, s)) {
            static const char full[] = "{\"type\":\"error\",\"code\":\"rate_limited\","
                                       "\"message\":\"too many connections from your address\"}";
            srv->refused_per_ip++;
            sig_send(srv, s->id, full, sizeof(full) - 1);
            sig_close(srv, s->id, 1008, "too many connections");
        }
        break;
    case LWS_CALLBACK_RECEIVE:
        return on_receive(s, in, len);
    case LWS_CALLBACK_SERVER_WRITEABLE: {
        if (s->head) {
            out_msg *m = s->head;
            s->head = m->next;
            if (!s->head)
                s->tail = NULL;
            int n = lws_write(wsi, m->data + LWS_PRE, m->len, LWS_WRITE_TEXT);
            s->queued -= m->len;
            free(m);
            if (n < 0)
                return -1;
            if (s->head || s->close_code)
                lws_callback_on_writable(wsi);
            break;
        }
        if (s->close_code) {
            lws_close_reason(wsi, (enum lws_close_status)s->close_code, NULL, 0);
            return -1;
        }
        break;
    }
    case LWS_CALLBACK_WS_PEER_INITIATED_CLOSE:
        if (s && s->is_ws)
            s->peer_closed = true;
        break;
    case LWS_CALLBACK_CLOSED:
        if (s && s->is_ws) {
            /* Lost, not closed: the participant may come back (resume). */
            if (s->peer_closed || s->close_code)
                pl_sig_disconnect(srv->sig, s->id, srv_now());
            else
                pl_sig_drop(srv->sig, s->id, srv_now());
            unlink_session(srv, s);
            s->is_ws = false;
        }
        break;
    default:
        break;
    }
    return lws_callback_http_dummy(wsi, reason, user, in, len);
}

static const struct lws_protocols protocols[] = {
    /* First in the list, so a client that offers no subprotocol gets it too. */
    {"parley.v1", callback, sizeof(session), RX_CHUNK, 0, NULL, 0},
    {NULL, NULL, 0, 0, 0, NULL, 0},
};

/* Pings every 20 s; a peer silent for 60 s is dropped (protocol section 5). */
static const lws_retry_bo_t keepalive = {
    .secs_since_valid_ping = 20,
    .secs_since_valid_hangup = 60,
};

size_t srv_ws_count(const server *srv)
{
    size_t n = 0;
    for (const session *s = srv->sessions; s; s = s->next)
        n++;
    return n;
}

pl_sig_io srv_ws_io(server *srv)
{
    return (pl_sig_io){.user = srv, .send = sig_send, .close = sig_close};
}

void srv_ws_configure(struct lws_context_creation_info *info)
{
    info->protocols = protocols;
    info->retry_and_idle_policy = &keepalive;
}
