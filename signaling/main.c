/* parley: the server executable. One libwebsockets context serves the web
 * client over HTTP and the signaling protocol on /ws; the protocol itself
 * lives in the signaling core (core.c), which this file feeds. */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <unistd.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <libwebsockets.h>
#include <openssl/crypto.h>

#include "parley/auth.h"
#include "parley/signal.h"
#include "parley/tlscert.h"
#include "parley/worker.h"

#define RX_MAX PL_SIG_MAX_MESSAGE

typedef struct options {
    int http_port;
    const char *bind;
    const char *announce_ip;
    int media_port;
    int workers;
    const char *web_root;
    int reconnect_grace; /* seconds */
    int ring_timeout;    /* seconds */
    const char *data_dir;
    const char *tls_cert, *tls_key; /* PEM files, both or neither */
    bool tls_self_signed;
    const char *auth_secret, *auth_secret_file; /* neither: open mode */
    int max_participants, max_rooms, max_conns_per_ip;
} options;

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
    char *rx; /* reassembly of fragmented frames, RX_MAX + 1 */
    struct session *next;
} session;

#define MAX_WORKERS 64

typedef struct event_node {
    struct event_node *next;
    pl_worker_event ev;
} event_node;

typedef struct server {
    options opt;
    pl_env env;
    pl_sig *sig;
    pl_store *store;
    pl_auth *auth;
    uint64_t refused_per_ip, cut_slow;
    pl_dtls_cert *cert;
    pl_worker *workers[MAX_WORKERS];
    int n_workers;
    /* Worker events, handed to the signaling thread (lws_cancel_service). */
    pthread_mutex_t ev_lock;
    event_node *ev_head, *ev_tail;
    bool ev_closed;
    char announce[64];
    struct lws_context *ctx;
    session *sessions;
    uint64_t next_id;
    atomic_bool stop;
    char index_path[4096];
    pl_tls_cert tls;             /* --tls-self-signed: handed to lws in memory */
    lws_sorted_usec_list_t tick; /* once a second: expire detached sessions */
} server;

static int64_t clock_ms(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Timers run on the monotonic clock; the wall clock is only for `ts`. */
static pl_sig_time now(void)
{
    return (pl_sig_time){.mono_ms = clock_ms(CLOCK_MONOTONIC), .wall_ms = clock_ms(CLOCK_REALTIME)};
}

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

/* Rooms are pinned to a worker by a hash of their name, so every transport
 * of a room shares one worker and forwarding never crosses threads. */
static pl_worker *worker_for(server *srv, const char *room)
{
    uint32_t h = 2166136261u; /* FNV-1a */
    for (const char *p = room; *p; p++)
        h = (h ^ (uint8_t)*p) * 16777619u;
    return srv->workers[h % (uint32_t)srv->n_workers];
}

static int media_add(void *user, const char *room, uint64_t id, const char *lu, const char *lp,
                     const char *ru, const char *rp, const char *alg, const char *fp,
                     uint16_t *port)
{
    pl_worker *w = worker_for(user, room);
    *port = pl_worker_port(w);
    return pl_worker_add_transport(w, id, lu, lp, ru, rp, alg, fp);
}

static int media_restart_ice(void *user, const char *room, uint64_t id, const char *lu,
                             const char *lp, const char *ru, const char *rp)
{
    return pl_worker_restart_ice(worker_for(user, room), id, lu, lp, ru, rp);
}

static void media_remove(void *user, const char *room, uint64_t id)
{
    pl_worker_remove_transport(worker_for(user, room), id);
}

static uint16_t media_port_for(void *user, const char *room)
{
    return pl_worker_port(worker_for(user, room));
}

static void media_set_tracks(void *user, const char *room, uint64_t id, const pl_track *tracks,
                             size_t n)
{
    pl_worker_set_tracks(worker_for(user, room), id, tracks, n);
}

static void media_set_routes(void *user, const char *room, uint64_t id, const pl_route *routes,
                             size_t n)
{
    pl_worker_set_routes(worker_for(user, room), id, routes, n);
}

/* Runs on a worker thread: queue the event and wake the lws loop, which
 * hands it to the signaling core (drain_worker_events). */
static void on_worker_event(void *user, const pl_worker_event *ev)
{
    server *srv = user;
    if (ev->kind == PL_WORKER_FAILED)
        fprintf(stderr, "parley: transport %llu failed: %s\n", (unsigned long long)ev->transport,
                pl_strerror(ev->error));
    if (ev->kind != PL_WORKER_SPEAKING && ev->kind != PL_WORKER_FAILED)
        return;
    event_node *n = malloc(sizeof(*n));
    if (!n)
        return;
    n->next = NULL;
    n->ev = *ev;
    pthread_mutex_lock(&srv->ev_lock);
    if (srv->ev_closed) {
        pthread_mutex_unlock(&srv->ev_lock);
        free(n);
        return;
    }
    if (srv->ev_tail)
        srv->ev_tail->next = n;
    else
        srv->ev_head = n;
    srv->ev_tail = n;
    lws_cancel_service(srv->ctx);
    pthread_mutex_unlock(&srv->ev_lock);
}

static void drain_worker_events(server *srv)
{
    pthread_mutex_lock(&srv->ev_lock);
    event_node *list = srv->ev_head;
    srv->ev_head = srv->ev_tail = NULL;
    pthread_mutex_unlock(&srv->ev_lock);
    while (list) {
        event_node *n = list->next;
        if (srv->sig && list->ev.kind == PL_WORKER_SPEAKING)
            pl_sig_speaking(srv->sig, list->ev.transport, list->ev.speaking, list->ev.level);
        else if (srv->sig && list->ev.kind == PL_WORKER_FAILED)
            pl_sig_transport_failed(srv->sig, list->ev.transport);
        free(list);
        list = n;
    }
}

/* --announce-ip default: the bind address, or the first non-loopback IPv4
 * address when binding to every interface. */
static void pick_announce(server *srv)
{
    const char *b = srv->opt.bind;
    if (srv->opt.announce_ip) {
        snprintf(srv->announce, sizeof(srv->announce), "%s", srv->opt.announce_ip);
        return;
    }
    snprintf(srv->announce, sizeof(srv->announce), "%s", b);
    if (strcmp(b, "0.0.0.0") != 0 && strcmp(b, "::") != 0)
        return;
    snprintf(srv->announce, sizeof(srv->announce), "127.0.0.1");
    struct ifaddrs *ifs = NULL;
    if (getifaddrs(&ifs) != 0)
        return;
    for (struct ifaddrs *i = ifs; i; i = i->ifa_next) {
        if (!i->ifa_addr || i->ifa_addr->sa_family != AF_INET || (i->ifa_flags & IFF_LOOPBACK))
            continue;
        inet_ntop(AF_INET, &((struct sockaddr_in *)i->ifa_addr)->sin_addr, srv->announce,
                  sizeof(srv->announce));
        break;
    }
    freeifaddrs(ifs);
}

/* GET /stats: counters of the signaling core and every worker, as JSON, for
 * operators and tests. Worker counters are atomics: no locking needed. */
static int serve_stats(struct lws *wsi, server *srv)
{
    pl_sig_stats ss;
    pl_sig_stats_get(srv->sig, &ss);
    pl_worker_stats t = {0};
    for (int i = 0; i < srv->n_workers; i++) {
        pl_worker_stats w;
        pl_worker_stats_get(srv->workers[i], &w);
        t.transports += w.transports;
        t.datagrams_in += w.datagrams_in;
        t.datagrams_out += w.datagrams_out;
        t.dropped_unknown_source += w.dropped_unknown_source;
        t.dropped_by_transport += w.dropped_by_transport;
        t.rtp_in += w.rtp_in;
        t.rtcp_in += w.rtcp_in;
        t.rtp_forwarded += w.rtp_forwarded;
        t.keyframe_requests += w.keyframe_requests;
        t.retransmissions += w.retransmissions;
        t.nacks_sent += w.nacks_sent;
        t.transports_failed += w.transports_failed;
        /* Percentiles do not add up across workers: the worst is shown. */
        t.relay_samples += w.relay_samples;
        t.relay_p50_us = w.relay_p50_us > t.relay_p50_us ? w.relay_p50_us : t.relay_p50_us;
        t.relay_p99_us = w.relay_p99_us > t.relay_p99_us ? w.relay_p99_us : t.relay_p99_us;
    }
    unsigned char buf[LWS_PRE + 2048];
    char *body = (char *)buf + LWS_PRE;
    int n = snprintf(
        body, 2048,
        "{\"connections\":%zu,\"users_online\":%zu,\"rooms\":%zu,"
        "\"participants\":%zu,\"bad_messages\":%llu,\"workers\":%d,"
        "\"transports\":%llu,\"datagrams_in\":%llu,\"datagrams_out\":%llu,"
        "\"dropped_unknown_source\":%llu,\"dropped_by_transport\":%llu,"
        "\"rtp_in\":%llu,\"rtcp_in\":%llu,\"rtp_forwarded\":%llu,\"keyframe_requests\":%llu,"
        "\"retransmissions\":%llu,\"nacks_sent\":%llu,\"detached\":%zu,\"resumed\":%llu,"
        "\"timed_out\":%llu,\"transports_failed\":%llu,\"calls\":%zu,"
        "\"calls_placed\":%llu,\"calls_accepted\":%llu,\"calls_missed\":%llu,"
        "\"auth_refused\":%llu,\"rate_limited\":%llu,\"refused_per_ip\":%llu,"
        "\"cut_slow\":%llu,\"relay_samples\":%llu,\"relay_p50_us\":%u,\"relay_p99_us\":%u}",
        ss.connections, ss.users_online, ss.rooms, ss.participants,
        (unsigned long long)ss.bad_messages, srv->n_workers, (unsigned long long)t.transports,
        (unsigned long long)t.datagrams_in, (unsigned long long)t.datagrams_out,
        (unsigned long long)t.dropped_unknown_source, (unsigned long long)t.dropped_by_transport,
        (unsigned long long)t.rtp_in, (unsigned long long)t.rtcp_in,
        (unsigned long long)t.rtp_forwarded, (unsigned long long)t.keyframe_requests,
        (unsigned long long)t.retransmissions, (unsigned long long)t.nacks_sent, ss.detached,
        (unsigned long long)ss.resumed, (unsigned long long)ss.timed_out,
        (unsigned long long)t.transports_failed, ss.calls, (unsigned long long)ss.calls_placed,
        (unsigned long long)ss.calls_accepted, (unsigned long long)ss.calls_missed,
        (unsigned long long)ss.auth_refused, (unsigned long long)ss.rate_limited,
        (unsigned long long)srv->refused_per_ip, (unsigned long long)srv->cut_slow,
        (unsigned long long)t.relay_samples, t.relay_p50_us, t.relay_p99_us);
    unsigned char hdr[LWS_PRE + 512], *p = hdr + LWS_PRE, *end = hdr + sizeof(hdr);
    if (lws_add_http_common_headers(wsi, HTTP_STATUS_OK, "application/json", (lws_filepos_t)n, &p,
                                    end) ||
        lws_finalize_write_http_header(wsi, hdr + LWS_PRE, &p, end))
        return -1;
    if (lws_write(wsi, (unsigned char *)body, (size_t)n, LWS_WRITE_HTTP_FINAL) != n)
        return -1;
    return lws_http_transaction_completed(wsi) ? -1 : 0;
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
        pl_sig_handle_text(srv->sig, s->id, now(), s->rx, s->rx_len);
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
        drain_worker_events(srv);
        break;
    case LWS_CALLBACK_HTTP: {
        char uri[64] = "";
        lws_hdr_copy(wsi, uri, sizeof(uri), WSI_TOKEN_GET_URI);
        if (strcmp(uri, "/stats") == 0)
            return serve_stats(wsi, srv);
        /* /r/<room> is the meeting page itself; the client reads the room
         * from its address. */
        if (lws_serve_http_file(wsi, srv->index_path, "text/html", NULL, 0) < 0)
            return -1;
        return 0;
    }
    case LWS_CALLBACK_ESTABLISHED:
        if (!path_is(wsi, "/ws"))
            return -1;
        memset(s, 0, sizeof(*s));
        s->srv = srv;
        s->wsi = wsi;
        s->id = ++srv->next_id;
        s->is_ws = true;
        s->rx = malloc(RX_MAX + 1);
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
                pl_sig_disconnect(srv->sig, s->id, now());
            else
                pl_sig_drop(srv->sig, s->id, now());
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
    {"parley.v1", callback, sizeof(session), RX_MAX, 0, NULL, 0},
    {NULL, NULL, 0, 0, 0, NULL, 0},
};

/* Pings every 20 s; a peer silent for 60 s is dropped (protocol section 5). */
static const lws_retry_bo_t keepalive = {
    .secs_since_valid_ping = 20,
    .secs_since_valid_hangup = 60,
};

/* On every HTTP response (files, /r/<room>, /stats, errors), instead of
 * lws's best-practices set: its policy lacks media-src, and a browser
 * enforces every policy it gets. The client has no inline script or style
 * and talks to /ws only. No Strict-Transport-Security: for a self-signed
 * certificate on a LAN address it would pin browsers to https there, with
 * no way to click through, long after the server went back to http. */
#define CSP                                                                                        \
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "        \
    "media-src 'self' blob: mediastream:; frame-ancestors 'none'; base-uri 'none'; "               \
    "form-action 'self'; connect-src 'self' "
static const struct lws_protocol_vhost_options common_headers[] = {
    {NULL, NULL, "x-content-type-options:", "nosniff"},
    {&common_headers[0], NULL, "referrer-policy:", "no-referrer"},
};
static const struct lws_protocol_vhost_options plain_headers = {
    &common_headers[1], NULL, "content-security-policy:", CSP "ws:"};
static const struct lws_protocol_vhost_options tls_headers = {
    &common_headers[1], NULL, "content-security-policy:", CSP "wss:"};

/* Makes the listener https/wss when asked; 0 or 1 (said why). */
static int configure_tls(server *srv, struct lws_context_creation_info *info)
{
    const options *o = &srv->opt;
    char fp[PL_TLS_FINGERPRINT_MAX], msg[512];
    info->headers = &plain_headers;
    if (!o->tls_self_signed && !o->tls_cert)
        return 0;
    if (o->tls_self_signed) {
        const char *names[] = {"localhost", "127.0.0.1", "::1", o->bind, srv->announce};
        if (pl_tls_cert_self_signed(names, sizeof(names) / sizeof(names[0]), 30, &srv->tls)) {
            fprintf(stderr, "parley: cannot create the TLS certificate\n");
            return 1;
        }
        info->server_ssl_cert_mem = srv->tls.cert_der;
        info->server_ssl_cert_mem_len = (unsigned)srv->tls.cert_len;
        info->server_ssl_private_key_mem = srv->tls.key_der;
        info->server_ssl_private_key_mem_len = (unsigned)srv->tls.key_len;
        printf("tls: self-signed certificate for 30 days; before accepting it in a browser, check "
               "its SHA-256 fingerprint %s\n",
               srv->tls.fingerprint);
    } else {
        /* lws reads the files itself (a chain stays a chain); checked here
         * first so that a wrong path or key is said in plain words. */
        if (pl_tls_check_files(o->tls_cert, o->tls_key, fp, msg, sizeof(msg))) {
            fprintf(stderr, "parley: %s\n", msg);
            return 1;
        }
        if (msg[0])
            fprintf(stderr, "parley: warning: %s\n", msg);
        info->ssl_cert_filepath = o->tls_cert;
        info->ssl_private_key_filepath = o->tls_key;
        printf("tls: certificate SHA-256 fingerprint %s\n", fp);
    }
    info->headers = &tls_headers;
    info->options |= LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
    info->ssl_options_set = SSL_OP_NO_TLSv1 | SSL_OP_NO_TLSv1_1; /* browsers with WebRTC have 1.2 */
    /* HTTP/1.1 only: sessions are WebSocket upgrades read by their GET
     * line; h2 would carry them as RFC 8441 streams instead. */
    info->alpn = "http/1.1";
    return 0;
}

static void usage(FILE *f)
{
    fprintf(f, "usage: parley [options]\n"
               "  --http-port N      HTTP and WebSocket port (default 8080)\n"
               "  --bind ADDR        address to listen on (default 127.0.0.1)\n"
               "  --announce-ip ADDR address put in ICE candidates (default: the bind address,\n"
               "                     or the first non-loopback address when binding 0.0.0.0)\n"
               "  --media-port N     first UDP media port; worker i uses N+i (default 40000)\n"
               "  --workers N        media worker threads (default: one per core)\n"
               "  --web-root DIR     web client files (default: web)\n"
               "  --reconnect-grace S  seconds a participant whose connection is lost stays in\n"
               "                     its room, able to resume (default 20; 0: none)\n"
               "  --ring-timeout S   seconds a call rings before it is missed (default 30)\n"
               "  --data-dir DIR     where missed heads-ups are kept (default ./data)\n"
               "  --tls-cert FILE    serve https and wss with this PEM certificate (chain)\n"
               "  --tls-key FILE     and this PEM private key (no passphrase); both or neither\n"
               "  --tls-self-signed  serve https and wss with a certificate made at start\n"
               "                     (30 days, for testing on a LAN; its fingerprint is printed)\n"
               "  --auth-secret S    require access tokens (JWT HS256) signed with S\n"
               "                     (at least 32 bytes); see parley-token\n"
               "  --auth-secret-file F  the same, with the secret read from file F\n"
               "                     (without them: open mode, anyone may join any room)\n"
               "  --max-participants N  per room (default 100)\n"
               "  --max-rooms N      on the server (default 1000)\n"
               "  --max-connections-per-ip N  WebSocket connections from one address\n"
               "                     (default 100)\n"
               "  --help             this text\n");
}

static int parse_options(int argc, char **argv, options *o)
{
    static const struct option longs[] = {
        {"http-port", required_argument, NULL, 'p'},
        {"bind", required_argument, NULL, 'b'},
        {"announce-ip", required_argument, NULL, 'a'},
        {"media-port", required_argument, NULL, 'm'},
        {"workers", required_argument, NULL, 'w'},
        {"web-root", required_argument, NULL, 'r'},
        {"reconnect-grace", required_argument, NULL, 'g'},
        {"ring-timeout", required_argument, NULL, 't'},
        {"data-dir", required_argument, NULL, 'd'},
        {"tls-cert", required_argument, NULL, 'c'},
        {"tls-key", required_argument, NULL, 'k'},
        {"tls-self-signed", no_argument, NULL, 's'},
        {"auth-secret", required_argument, NULL, 'S'},
        {"auth-secret-file", required_argument, NULL, 'F'},
        {"max-participants", required_argument, NULL, 'P'},
        {"max-rooms", required_argument, NULL, 'R'},
        {"max-connections-per-ip", required_argument, NULL, 'C'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    *o = (options){.http_port = 8080,
                   .bind = "127.0.0.1",
                   .media_port = 40000,
                   .workers = 0,
                   .web_root = "web",
                   .reconnect_grace = PL_SIG_DEFAULT_GRACE_MS / 1000,
                   .ring_timeout = PL_SIG_DEFAULT_RING_MS / 1000,
                   .data_dir = "data",
                   .max_participants = PL_SIG_DEFAULT_MAX_PARTICIPANTS,
                   .max_rooms = PL_SIG_DEFAULT_MAX_ROOMS,
                   .max_conns_per_ip = 100};
    int c;
    while ((c = getopt_long(argc, argv, "", longs, NULL)) != -1) {
        char *end = NULL;
        long v = 0;
        if (c == 'p' || c == 'm' || c == 'w' || c == 'g' || c == 't' || c == 'P' || c == 'R' ||
            c == 'C') {
            v = strtol(optarg, &end, 10);
            if (*end || v < 0 || v > 65535) {
                fprintf(stderr, "parley: invalid number '%s'\n", optarg);
                return 2;
            }
        }
        switch (c) {
        case 'p':
            o->http_port = (int)v;
            break;
        case 'b':
            o->bind = optarg;
            break;
        case 'a':
            o->announce_ip = optarg;
            break;
        case 'm':
            o->media_port = (int)v;
            break;
        case 'w':
            o->workers = (int)v;
            break;
        case 'r':
            o->web_root = optarg;
            break;
        case 'g':
            o->reconnect_grace = (int)v;
            break;
        case 't':
            if (v < 1) {
                fprintf(stderr, "parley: --ring-timeout must be at least 1 second\n");
                return 2;
            }
            o->ring_timeout = (int)v;
            break;
        case 'd':
            o->data_dir = optarg;
            break;
        case 'c':
            o->tls_cert = optarg;
            break;
        case 'k':
            o->tls_key = optarg;
            break;
        case 's':
            o->tls_self_signed = true;
            break;
        case 'S':
            o->auth_secret = optarg;
            break;
        case 'F':
            o->auth_secret_file = optarg;
            break;
        case 'P':
        case 'R':
        case 'C':
            if (v < 1) {
                fprintf(stderr, "parley: limits must be at least 1\n");
                return 2;
            }
            *(c == 'P'   ? &o->max_participants
              : c == 'R' ? &o->max_rooms
                         : &o->max_conns_per_ip) = (int)v;
            break;
        case 'h':
            usage(stdout);
            return 1;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (optind < argc) {
        usage(stderr);
        return 2;
    }
    if (!o->tls_cert != !o->tls_key || (o->tls_cert && o->tls_self_signed)) {
        fprintf(stderr, "parley: TLS takes --tls-cert FILE with --tls-key FILE, or "
                        "--tls-self-signed alone\n");
        return 2;
    }
    return 0;
}

/* Access tokens: the secret from the command line or a file (a trailing
 * newline is not part of it). Open mode on anything but loopback is said
 * out loud: anyone who reaches the port may join any room. */
static int load_auth(server *srv)
{
    const options *o = &srv->opt;
    char buf[PL_AUTH_MAX_SECRET + 1];
    const char *secret = o->auth_secret;
    if (o->auth_secret_file) {
        if (pl_auth_read_secret(o->auth_secret_file, buf, sizeof(buf)) != PL_OK) {
            fprintf(stderr, "parley: cannot read the secret file %s\n", o->auth_secret_file);
            return 1;
        }
        secret = buf;
    }
    if (!secret) {
        bool loopback = strcmp(o->bind, "127.0.0.1") == 0 || strcmp(o->bind, "::1") == 0 ||
                        strcmp(o->bind, "localhost") == 0;
        if (!loopback)
            fprintf(stderr,
                    "parley: warning: open mode on %s: anyone who reaches this port can "
                    "join any room; use --auth-secret-file\n",
                    o->bind);
        return 0;
    }
    int rc = pl_auth_create(&srv->env, (const uint8_t *)secret, strlen(secret), &srv->auth);
    OPENSSL_cleanse(buf, sizeof(buf));
    if (rc != PL_OK) {
        fprintf(stderr, "parley: the auth secret must be %d to %d bytes\n", PL_AUTH_MIN_SECRET,
                PL_AUTH_MAX_SECRET);
        return 1;
    }
    return 0;
}

static void sig_tick(lws_sorted_usec_list_t *sul)
{
    server *srv = lws_container_of(sul, server, tick);
    pl_sig_tick(srv->sig, now());
    lws_sul_schedule(srv->ctx, 0, &srv->tick, sig_tick, LWS_US_PER_SEC);
}

/* Signals arrive on a thread of their own, so no handler has to touch
 * shared state: it flags the server and wakes the lws loop. */
static void *signal_thread(void *arg)
{
    server *srv = arg;
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    int sig;
    sigwait(&set, &sig);
    atomic_store(&srv->stop, true);
    lws_cancel_service(srv->ctx);
    return NULL;
}

/* The DTLS certificate all transports share, and one worker per core. */
static int start_media(server *srv)
{
    srv->cert = pl_dtls_cert_create(&srv->env);
    if (!srv->cert) {
        fprintf(stderr, "parley: cannot create the DTLS certificate\n");
        return 1;
    }
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    srv->n_workers = srv->opt.workers > 0 ? srv->opt.workers : (int)(cores > 0 ? cores : 1);
    if (srv->n_workers > MAX_WORKERS)
        srv->n_workers = MAX_WORKERS;
    const char *media_bind = strchr(srv->opt.bind, ':') ? "::" : srv->opt.bind;
    for (int i = 0; i < srv->n_workers; i++) {
        pl_worker_config wc = {.index = i,
                               .bind_ip = media_bind,
                               .port = (uint16_t)(srv->opt.media_port + i),
                               .cert = srv->cert,
                               .on_event = on_worker_event,
                               .user = srv};
        srv->workers[i] = pl_worker_start(&srv->env, &wc);
        if (!srv->workers[i]) {
            fprintf(stderr, "parley: cannot bind UDP %s:%d\n", media_bind, srv->opt.media_port + i);
            return 1;
        }
    }
    return 0;
}

/* A server that cannot keep heads-ups durably says so and does not start,
 * rather than lose them quietly. */
static int open_store(server *srv)
{
    char db_path[4096];
    snprintf(db_path, sizeof(db_path), "%s/parley.db", srv->opt.data_dir);
    if ((mkdir(srv->opt.data_dir, 0700) != 0 && errno != EEXIST) ||
        pl_store_create(&srv->env, db_path, &srv->store) != PL_OK) {
        fprintf(stderr, "parley: cannot open the database %s\n", db_path);
        return 1;
    }
    return 0;
}

static int start_signaling(server *srv)
{
    pl_sig_io io = {.user = srv, .send = sig_send, .close = sig_close};
    pl_sig_media media = {.user = srv,
                          .add_transport = media_add,
                          .remove_transport = media_remove,
                          .restart_ice = media_restart_ice,
                          .port_for = media_port_for,
                          .set_tracks = media_set_tracks,
                          .set_routes = media_set_routes,
                          .fingerprint = pl_dtls_cert_fingerprint(srv->cert),
                          .announce_ip = srv->announce};
    srv->sig = pl_sig_create(&srv->env, &io, &media);
    if (!srv->sig)
        return 1;
    pl_sig_set_reconnect_grace(srv->sig, (int64_t)srv->opt.reconnect_grace * 1000);
    pl_sig_set_ring_timeout(srv->sig, (int64_t)srv->opt.ring_timeout * 1000);
    pl_sig_set_store(srv->sig, srv->store);
    pl_sig_set_limits(srv->sig, (size_t)srv->opt.max_participants, (size_t)srv->opt.max_rooms);
    pl_sig_set_auth(srv->sig, srv->auth);
    return 0;
}

/* Whatever was started, in reverse: workers first, so that no event
 * arrives for a core that is gone. */
static void teardown(server *srv)
{
    for (int i = 0; i < srv->n_workers; i++)
        pl_worker_stop(srv->workers[i]);
    drain_worker_events(srv);
    pl_sig_destroy(srv->sig);
    pl_store_destroy(srv->store);
    pl_auth_destroy(srv->auth);
    pl_dtls_cert_destroy(srv->cert);
    pl_tls_cert_clear(&srv->tls);
    pthread_mutex_destroy(&srv->ev_lock);
}

int main(int argc, char **argv)
{
    server srv; /* outlives the lws context, which reaches it through its user pointer */
    memset(&srv, 0, sizeof(srv));
    int rc = parse_options(argc, argv, &srv.opt);
    if (rc)
        return rc == 1 ? 0 : rc;
    struct stat st;
    snprintf(srv.index_path, sizeof(srv.index_path), "%s/index.html", srv.opt.web_root);
    if (stat(srv.index_path, &st) != 0) {
        fprintf(stderr, "parley: no web client at %s (use --web-root)\n", srv.index_path);
        return 1;
    }

    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);

    srv.env = pl_env_default();
    pthread_mutex_init(&srv.ev_lock, NULL);
    srv.ev_closed = true; /* until the lws context exists */
    pick_announce(&srv);
    if (start_media(&srv) != 0 || open_store(&srv) != 0 || load_auth(&srv) != 0 ||
        start_signaling(&srv) != 0) {
        teardown(&srv);
        return 1;
    }

    lws_set_log_level(LLL_ERR, NULL);
    struct lws_http_mount stats_mount = {
        .mountpoint = "/stats",
        .origin = "parley.v1",
        .origin_protocol = LWSMPRO_CALLBACK,
        .mountpoint_len = 6,
    };
    struct lws_http_mount room_mount = {
        .mount_next = &stats_mount,
        .mountpoint = "/r",
        .origin = "parley.v1",
        .origin_protocol = LWSMPRO_CALLBACK,
        .mountpoint_len = 2,
    };
    struct lws_http_mount root_mount = {
        .mount_next = &room_mount,
        .mountpoint = "/",
        .def = "index.html",
        .origin_protocol = LWSMPRO_FILE,
        .mountpoint_len = 1,
    };
    root_mount.origin = srv.opt.web_root;
    struct lws_context_creation_info info;
    memset(&info, 0, sizeof(info));
    info.port = srv.opt.http_port;
    info.iface = srv.opt.bind;
    info.protocols = protocols;
    info.mounts = &root_mount;
    info.user = &srv;
    info.retry_and_idle_policy = &keepalive;
    int tls_failed = configure_tls(&srv, &info);
    srv.ctx = tls_failed ? NULL : lws_create_context(&info);
    if (!srv.ctx) {
        if (!tls_failed)
            fprintf(stderr, "parley: cannot listen on %s:%d\n", srv.opt.bind, srv.opt.http_port);
        teardown(&srv);
        return 1;
    }
    pthread_mutex_lock(&srv.ev_lock);
    srv.ev_closed = false;
    pthread_mutex_unlock(&srv.ev_lock);
    pthread_t sigt;
    pthread_create(&sigt, NULL, signal_thread, &srv);
    lws_sul_schedule(srv.ctx, 0, &srv.tick, sig_tick, LWS_US_PER_SEC);
    bool tls = srv.opt.tls_cert || srv.opt.tls_self_signed;
    printf("listening on %s://%s:%d\n", tls ? "https" : "http", srv.opt.bind, srv.opt.http_port);
    fflush(stdout);
    while (!atomic_load(&srv.stop))
        if (lws_service(srv.ctx, 0) < 0)
            break;
    pthread_mutex_lock(&srv.ev_lock);
    srv.ev_closed = true; /* no wake-ups of a context being destroyed */
    pthread_mutex_unlock(&srv.ev_lock);
    lws_sul_cancel(&srv.tick);
    lws_context_destroy(srv.ctx);
    teardown(&srv);
    pthread_cancel(sigt);
    pthread_join(sigt, NULL);
    return 0;
}
