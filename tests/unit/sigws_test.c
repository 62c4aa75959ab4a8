/* The bots' WebSocket JSON client (tools/bot/sigws.c) against a real
 * libwebsockets server on loopback, in a thread of its own: messages both
 * ways, fragments reassembled, oversized and non-object messages dropped,
 * close after the queue is flushed, a cut without a close handshake and
 * reopening with what was queued meanwhile, a connection refused. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>
#include <jansson.h>
#include <libwebsockets.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "parley/common.h"
#include "sigws.h"

#define RX_MAX 4096
#define BIG 8000 /* over the client's RX_MAX */

/* ---- the server ---------------------------------------------------------- */

typedef struct srv_msg {
    struct srv_msg *next;
    int flags;
    size_t len;
    unsigned char data[]; /* LWS_PRE, then the payload */
} srv_msg;

typedef struct srv_sess {
    srv_msg *head, *tail;
} srv_sess;

typedef struct server {
    struct lws_context *ctx;
    pthread_t thread;
    atomic_bool stop;
    int port;
    atomic_int rx;           /* text messages received */
    atomic_int close_frames; /* connections the client closed with a close frame */
    atomic_int closed;       /* connections gone, however */
} server;

static void srv_queue(struct lws *wsi, srv_sess *s, const char *text, size_t len, int flags)
{
    srv_msg *m = malloc(sizeof(*m) + LWS_PRE + len);
    if (!m)
        return;
    m->next = NULL;
    m->flags = flags;
    m->len = len;
    memcpy(m->data + LWS_PRE, text, len);
    if (s->tail)
        s->tail->next = m;
    else
        s->head = m;
    s->tail = m;
    lws_callback_on_writable(wsi);
}

static void srv_text(struct lws *wsi, srv_sess *s, const char *text)
{
    srv_queue(wsi, s, text, strlen(text), LWS_WRITE_TEXT);
}

/* The client's commands: what to send back. */
static void srv_command(struct lws *wsi, srv_sess *s, const char *in, size_t len)
{
    json_t *msg = json_loadb(in, len, 0, NULL);
    const char *cmd = json_string_value(json_object_get(msg, "cmd"));
    if (!cmd)
        cmd = "";
    if (strcmp(cmd, "echo") == 0) {
        srv_queue(wsi, s, in, len, LWS_WRITE_TEXT);
    } else if (strcmp(cmd, "frag") == 0) {
        srv_queue(wsi, s, "{\"frag\":\"ab", 11, LWS_WRITE_TEXT | LWS_WRITE_NO_FIN);
        srv_queue(wsi, s, "cd", 2, LWS_WRITE_CONTINUATION | LWS_WRITE_NO_FIN);
        srv_queue(wsi, s, "ef\"}", 4, LWS_WRITE_CONTINUATION);
    } else if (strcmp(cmd, "big") == 0) {
        char *big = malloc(BIG + 16);
        if (big) {
            int n = snprintf(big, 16, "{\"big\":\"");
            memset(big + n, 'x', BIG);
            memcpy(big + n + BIG, "\"}", 3);
            srv_text(wsi, s, big);
            free(big);
        }
        srv_text(wsi, s, "{\"after\":\"big\"}");
    } else if (strcmp(cmd, "junk") == 0) {
        srv_text(wsi, s, "[1,2]");
        srv_text(wsi, s, "not json");
        srv_text(wsi, s, "{\"after\":\"junk\"}");
    }
    json_decref(msg);
}

static int srv_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                        size_t len)
{
    server *srv = wsi ? lws_context_user(lws_get_context(wsi)) : NULL;
    srv_sess *s = user;
    switch (reason) {
    case LWS_CALLBACK_RECEIVE:
        atomic_fetch_add(&srv->rx, 1);
        srv_command(wsi, s, in, len);
        break;
    case LWS_CALLBACK_SERVER_WRITEABLE:
        if (s->head) {
            srv_msg *m = s->head;
            s->head = m->next;
            if (!s->head)
                s->tail = NULL;
            int n = lws_write(wsi, m->data + LWS_PRE, m->len, (enum lws_write_protocol)m->flags);
            free(m);
            if (n < 0)
                return -1;
            if (s->head)
                lws_callback_on_writable(wsi);
        }
        break;
    case LWS_CALLBACK_WS_PEER_INITIATED_CLOSE:
        atomic_fetch_add(&srv->close_frames, 1);
        break;
    case LWS_CALLBACK_CLOSED:
        while (s->head) {
            srv_msg *m = s->head;
            s->head = m->next;
            free(m);
        }
        atomic_fetch_add(&srv->closed, 1);
        break;
    default:
        break;
    }
    return 0;
}

static const struct lws_protocols srv_protocols[] = {
    {.name = "test.v1",
     .callback = srv_callback,
     .per_session_data_size = sizeof(srv_sess),
     .rx_buffer_size = 4 * BIG},
    {0},
};

static void *srv_main(void *arg)
{
    server *srv = arg;
    while (!atomic_load(&srv->stop))
        lws_service(srv->ctx, 0);
    return NULL;
}

static int setup(void **state)
{
    server *srv = calloc(1, sizeof(*srv));
    assert_non_null(srv);
    lws_set_log_level(LLL_ERR, NULL);
    struct lws_context_creation_info info;
    memset(&info, 0, sizeof(info));
    info.port = 0; /* the kernel picks */
    info.iface = "127.0.0.1";
    info.protocols = srv_protocols;
    info.user = srv;
    srv->ctx = lws_create_context(&info);
    assert_non_null(srv->ctx);
    srv->port = lws_get_vhost_listen_port(lws_get_vhost_by_name(srv->ctx, "default"));
    assert_true(srv->port > 0);
    assert_int_equal(pthread_create(&srv->thread, NULL, srv_main, srv), 0);
    *state = srv;
    return 0;
}

static int teardown(void **state)
{
    server *srv = *state;
    atomic_store(&srv->stop, true);
    lws_cancel_service(srv->ctx);
    pthread_join(srv->thread, NULL);
    lws_context_destroy(srv->ctx);
    free(srv);
    return 0;
}

/* ---- the client ---------------------------------------------------------- */

typedef struct client {
    pl_sigws *ws;
    pl_sigws_conn *conn;
    server *srv;
    int64_t deadline_us;
    bool (*done)(struct client *c); /* the state the loop waits for */
    int established, closed, failed;
    json_t *got; /* what `message` delivered, in order */
} client;

static int64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void on_tick(void *user)
{
    client *c = user;
    if (c->done(c) || now_us() > c->deadline_us)
        pl_sigws_stop(c->ws);
}

static void on_established(void *user)
{
    ((client *)user)->established++;
}

static void on_message(void *user, json_t *msg)
{
    json_array_append(((client *)user)->got, msg);
}

static void on_failed(void *user, const char *why)
{
    (void)why;
    ((client *)user)->failed++;
}

static void on_closed(void *user)
{
    ((client *)user)->closed++;
}

static void client_start(client *c, server *srv, int port)
{
    memset(c, 0, sizeof(*c));
    c->srv = srv;
    c->got = json_array();
    char url[64];
    snprintf(url, sizeof(url), "ws://127.0.0.1:%d/", port);
    pl_sigws_config cfg = {
        .url = url,
        .protocol = "test.v1",
        .rx_max = RX_MAX,
        .tick_ms = 5,
        .user = c,
        .tick = on_tick,
        .established = on_established,
        .message = on_message,
        .failed = on_failed,
        .closed = on_closed,
    };
    assert_int_equal(pl_sigws_create(&cfg, &c->ws), PL_OK);
    c->conn = pl_sigws_conn_create(c->ws, c);
    assert_non_null(c->conn);
}

static void client_stop(client *c)
{
    if (c->conn)
        pl_sigws_conn_destroy(c->conn);
    pl_sigws_destroy(c->ws);
    json_decref(c->got);
}

/* Runs the loop until done holds; fails after 10 s. */
static void wait_for(client *c, bool (*done)(client *c))
{
    c->done = done;
    c->deadline_us = now_us() + 10 * 1000000;
    assert_int_equal(pl_sigws_run(c->ws), PL_OK);
    if (!done(c)) /* what the loop saw instead */
        fprintf(stderr, "est %d closed %d failed %d got %zu srv rx %d closed %d\n", c->established,
                c->closed, c->failed, json_array_size(c->got),
                c->srv ? atomic_load(&c->srv->rx) : -1, c->srv ? atomic_load(&c->srv->closed) : -1);
    assert_true(done(c));
}

static void send_text(client *c, const char *json)
{
    pl_sigws_conn_send(c->conn, json_loads(json, 0, NULL));
}

static bool four_messages(client *c)
{
    return json_array_size(c->got) >= 4;
}

static bool gone(client *c)
{
    return c->closed + c->failed > 0;
}

/* Gone at both ends. */
static bool gone_both(client *c)
{
    return gone(c) && atomic_load(&c->srv->closed) == 1;
}

static const char *got_str(client *c, size_t i, const char *key)
{
    return pl_sigws_str(json_array_get(c->got, i), key);
}

static void test_messages_and_close(void **state)
{
    server *srv = *state;
    client c;
    client_start(&c, srv, srv->port);
    /* Queued before the connection exists: they go out once it is open. */
    send_text(&c, "{\"cmd\":\"echo\",\"x\":\"one\"}");
    send_text(&c, "{\"cmd\":\"frag\"}");
    send_text(&c, "{\"cmd\":\"big\"}");
    send_text(&c, "{\"cmd\":\"junk\"}");
    assert_false(pl_sigws_conn_live(c.conn));
    assert_int_equal(pl_sigws_conn_open(c.conn), PL_OK);
    assert_true(pl_sigws_conn_live(c.conn));
    wait_for(&c, four_messages);
    assert_int_equal(c.established, 1);
    /* The oversized message and the non-objects are dropped, the rest come
     * whole and in order. */
    assert_int_equal(json_array_size(c.got), 4);
    assert_string_equal(got_str(&c, 0, "x"), "one");
    assert_string_equal(got_str(&c, 1, "frag"), "abcdef");
    assert_string_equal(got_str(&c, 2, "after"), "big");
    assert_string_equal(got_str(&c, 3, "after"), "junk");
    assert_string_equal(got_str(&c, 0, "missing"), "");

    /* What is queued before close still goes out, then a close frame. */
    send_text(&c, "{\"cmd\":\"none\"}");
    pl_sigws_conn_close(c.conn);
    assert_true(pl_sigws_conn_closing(c.conn));
    wait_for(&c, gone_both);
    assert_int_equal(c.closed, 1);
    assert_int_equal(c.failed, 0);
    assert_false(pl_sigws_conn_live(c.conn));
    assert_int_equal(atomic_load(&srv->rx), 5);
    assert_int_equal(atomic_load(&srv->close_frames), 1);
    client_stop(&c);
}

static bool opened(client *c)
{
    return c->established == 1;
}

static bool echoed_after_reopen(client *c)
{
    return c->established == 2 && json_array_size(c->got) == 1;
}

static bool closed_again(client *c)
{
    return c->closed + c->failed == 2 && atomic_load(&c->srv->closed) == 2;
}

static void test_cut_and_reopen(void **state)
{
    server *srv = *state;
    client c;
    client_start(&c, srv, srv->port);
    assert_int_equal(pl_sigws_conn_open(c.conn), PL_OK);
    wait_for(&c, opened);
    pl_sigws_conn_cut(c.conn);
    wait_for(&c, gone_both);
    /* The server saw the connection lost, not closed. */
    assert_int_equal(atomic_load(&srv->close_frames), 0);
    assert_false(pl_sigws_conn_live(c.conn));
    assert_false(pl_sigws_conn_closing(c.conn));

    /* Queued while there is no WebSocket: sent on the next one. */
    send_text(&c, "{\"cmd\":\"echo\",\"x\":\"again\"}");
    assert_int_equal(pl_sigws_conn_open(c.conn), PL_OK);
    wait_for(&c, echoed_after_reopen);
    assert_string_equal(got_str(&c, 0, "x"), "again");
    assert_int_equal(atomic_load(&srv->rx), 1);
    pl_sigws_conn_close(c.conn);
    wait_for(&c, closed_again);
    client_stop(&c);
}

static bool refused(client *c)
{
    return c->failed == 1;
}

static void test_connection_refused(void **state)
{
    (void)state;
    /* A port nobody listens on: bound, then closed. */
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t alen = sizeof(a);
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &alen), 0);
    close(fd);
    client c;
    client_start(&c, NULL, ntohs(a.sin_port));
    /* Refused at once (the open says so) or a moment later (`failed`). */
    if (pl_sigws_conn_open(c.conn) == PL_OK)
        wait_for(&c, refused);
    assert_int_equal(c.established, 0);
    assert_int_equal(c.closed, 0);
    assert_false(pl_sigws_conn_live(c.conn));
    client_stop(&c);
}

static bool closed_once(client *c)
{
    return c->closed == 1 && atomic_load(&c->srv->closed) == 1;
}

/* A connection sent elsewhere (a cluster's redirect, the next node): its
 * own URL instead of the context's, and opened again after closing. */
static void test_own_url(void **state)
{
    server *srv = *state;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t alen = sizeof(a);
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &alen), 0);
    close(fd);
    client c;
    client_start(&c, srv, ntohs(a.sin_port)); /* the context's URL: nobody there */
    char url[64];
    snprintf(url, sizeof(url), "ws://127.0.0.1:%d/", srv->port);
    assert_int_equal(pl_sigws_conn_set_url(c.conn, "http://127.0.0.1:1/"), PL_EINVAL);
    assert_int_equal(pl_sigws_conn_set_url(c.conn, "ws://"), PL_EINVAL);
    assert_int_equal(pl_sigws_conn_set_url(c.conn, url), PL_OK);
    assert_int_equal(pl_sigws_conn_open(c.conn), PL_OK);
    wait_for(&c, opened);
    pl_sigws_conn_close(c.conn);
    wait_for(&c, closed_once);
    assert_int_equal(atomic_load(&srv->close_frames), 1);
    /* Closed, then opened again: a new WebSocket that is not closing. */
    send_text(&c, "{\"cmd\":\"echo\",\"x\":\"back\"}");
    assert_int_equal(pl_sigws_conn_open(c.conn), PL_OK);
    assert_false(pl_sigws_conn_closing(c.conn));
    wait_for(&c, echoed_after_reopen);
    assert_string_equal(got_str(&c, 0, "x"), "back");
    pl_sigws_conn_close(c.conn);
    wait_for(&c, closed_again);
    client_stop(&c);
}

static void test_bad_url(void **state)
{
    (void)state;
    static const char *const urls[] = {"http://127.0.0.1:1/", "127.0.0.1", "wss://127.0.0.1:1/"};
    for (size_t i = 0; i < sizeof(urls) / sizeof(urls[0]); i++) {
        pl_sigws_config cfg = {.url = urls[i], .protocol = "test.v1", .rx_max = RX_MAX};
        pl_sigws *ws = NULL;
        assert_int_equal(pl_sigws_create(&cfg, &ws), PL_EINVAL);
        assert_null(ws);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_messages_and_close, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cut_and_reopen, setup, teardown),
        cmocka_unit_test(test_connection_refused),
        cmocka_unit_test(test_bad_url),
        cmocka_unit_test_setup_teardown(test_own_url, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
