#include "loopclient.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <poll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "parley/stun.h"

void on_event(void *user, const pl_worker_event *ev)
{
    events *e = user;
    if (ev->kind == PL_WORKER_CONNECTED) {
        atomic_fetch_add(&e->connected, 1);
        if (ev->tcp)
            atomic_fetch_add(&e->connected_tcp, 1);
    } else if (ev->kind == PL_WORKER_FAILED) {
        atomic_store(&e->last_error, ev->error);
        atomic_store(&e->last_failure, (int)ev->failure);
        atomic_fetch_add(&e->failed, 1);
    } else if (ev->kind == PL_WORKER_REFUSED) {
        atomic_fetch_add(&e->refused, 1);
    }
}

int64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int udp_socket(void)
{
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    pl_addr a;
    pl_addr_set(&a, "127.0.0.1", 0);
    assert_int_equal(bind(fd, (const struct sockaddr *)&a.ss, a.len), 0);
    return fd;
}

client make_client(const pl_env *env, const pl_dtls_cert *cert, const pl_dtls_cert *server_cert,
                   const pl_addr *server, const char *server_ufrag, const char *server_pwd)
{
    client c = {.fd = udp_socket()};
    pl_peer_config cc = {.role = PL_PEER_CLIENT, .cert = cert};
    c.peer = pl_peer_create(env, &cc);
    assert_non_null(c.peer);
    assert_int_equal(pl_peer_set_remote(c.peer, server_ufrag, server_pwd, "sha-256",
                                        pl_dtls_cert_fingerprint(server_cert)),
                     0);
    assert_int_equal(pl_peer_add_remote_candidate(c.peer, server), 0);
    return c;
}

client make_tcp_client(const pl_env *env, const pl_dtls_cert *cert, const pl_dtls_cert *server_cert,
                       const pl_addr *server, const char *server_ufrag, const char *server_pwd,
                       int rcvbuf)
{
    client c = {.tcp = true, .server = *server};
    c.server.tcp = true;
    c.fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(c.fd >= 0);
    if (rcvbuf)
        setsockopt(c.fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
    assert_int_equal(connect(c.fd, (const struct sockaddr *)&server->ss, server->len), 0);
    c.rx = pl_tcpframe_create(env, 1500);
    pl_peer_config cc = {.role = PL_PEER_CLIENT, .cert = cert};
    c.peer = pl_peer_create(env, &cc);
    assert_non_null(c.peer);
    assert_int_equal(pl_peer_set_remote(c.peer, server_ufrag, server_pwd, "sha-256",
                                        pl_dtls_cert_fingerprint(server_cert)),
                     0);
    assert_int_equal(pl_peer_add_remote_candidate(c.peer, &c.server), 0);
    return c;
}

void client_free(client *c)
{
    close(c->fd);
    pl_tcpframe_destroy(c->rx);
    pl_peer_destroy(c->peer);
}

void client_send(client *c, const uint8_t *data, size_t len, const pl_addr *to)
{
    if (!c->tcp) {
        sendto(c->fd, data, len, 0, (const struct sockaddr *)&to->ss, to->len);
        return;
    }
    uint8_t frame[PL_TCPFRAME_HDR + 1600];
    assert_true(len <= 1600);
    pl_tcpframe_put_header(frame, len);
    memcpy(frame + PL_TCPFRAME_HDR, data, len);
    send(c->fd, frame, PL_TCPFRAME_HDR + len, MSG_NOSIGNAL);
}

/* Frames from the worker's stream, each handed to the peer. */
static void tcp_take(client *c)
{
    uint8_t buf[4096];
    ssize_t n = recv(c->fd, buf, sizeof(buf), MSG_DONTWAIT);
    if (n <= 0)
        return;
    uint8_t *in = buf, *frame;
    size_t in_len = (size_t)n, flen;
    int rc;
    while ((rc = pl_tcpframe_next(c->rx, &in, &in_len, &frame, &flen)) == PL_OK) {
        pl_peer_handle_datagram(c->peer, now_us(), &c->server, frame, flen);
        client_drain(c);
    }
    if (rc == PL_EMALFORMED)
        c->rx_failed = true;
}

void client_drain(client *c)
{
    pl_peer_output o;
    while (pl_peer_poll_output(c->peer, &o) == 0) {
        if (o.kind == PL_PEER_OUT_TRANSMIT) {
            client_send(c, o.data, o.len, &o.addr);
        } else if (o.kind == PL_PEER_OUT_CONNECTED) {
            c->connected = true;
        } else if (o.kind == PL_PEER_OUT_CLOSED) {
            c->closed = true;
        } else if (o.kind == PL_PEER_OUT_FAILED) {
            c->failed = true;
        } else if (o.kind == PL_PEER_OUT_RTP && c->n_rtp < 256 && o.len >= 12) {
            c->seq[c->n_rtp] = (uint16_t)(o.data[2] << 8 | o.data[3]);
            c->ts[c->n_rtp] = pl_get_u32(o.data + 4);
            c->ssrc[c->n_rtp] = pl_get_u32(o.data + 8);
            c->pt[c->n_rtp] = o.data[1] & 0x7f;
            c->ext[c->n_rtp] = o.data[0] & 0x10;
            c->n_rtp++;
        } else if (o.kind == PL_PEER_OUT_RTCP) {
            c->n_rtcp++;
            if (o.len >= 12 && o.data[1] == 206 && (o.data[0] & 0x1f) == 1) {
                c->n_pli++;
                c->pli_media = pl_get_u32(o.data + 8);
            }
        }
    }
}

void client_pump(client *c, int wait_ms)
{
    client_drain(c);
    struct pollfd p = {.fd = c->fd, .events = POLLIN};
    if (c->tcp) {
        if (poll(&p, 1, wait_ms) > 0)
            tcp_take(c);
    } else if (poll(&p, 1, wait_ms) > 0) {
        uint8_t buf[1500];
        pl_addr from = {.len = sizeof(from.ss)};
        ssize_t n = recvfrom(c->fd, buf, sizeof(buf), 0, (struct sockaddr *)&from.ss, &from.len);
        if (n > 0)
            pl_peer_handle_datagram(c->peer, now_us(), &from, buf, (size_t)n);
        client_drain(c);
    }
    if (pl_peer_next_timeout(c->peer) <= now_us())
        pl_peer_handle_timeout(c->peer, now_us());
}

size_t stun_check(uint8_t *out, size_t cap, const char *username, const char *pwd, uint8_t tid_byte)
{
    uint8_t tid[12] = {tid_byte};
    pl_wbuf wb = pl_wbuf_make(out, cap);
    pl_stun_begin(&wb, PL_STUN_REQUEST, PL_STUN_METHOD_BINDING, tid);
    pl_stun_add_bytes(&wb, PL_STUN_ATTR_USERNAME, username, strlen(username));
    pl_stun_add_u64(&wb, PL_STUN_ATTR_ICE_CONTROLLING, 1);
    pl_stun_add_flag(&wb, PL_STUN_ATTR_USE_CANDIDATE);
    int n = pl_stun_finish(&wb, (const uint8_t *)pwd, strlen(pwd), true);
    assert_true(n > 0);
    return (size_t)n;
}

void pump_clients(client *a, client *b)
{
    if (a)
        client_pump(a, 2);
    if (b)
        client_pump(b, 2);
    if (!a && !b)
        poll(NULL, 0, 1);
}

/* No transport ever has this id. */
#define BARRIER_TRANSPORT UINT64_MAX

void worker_barrier(pl_worker *w, events *ev)
{
    int before = atomic_load(&ev->refused);
    pl_route none = {0};
    assert_int_equal(pl_worker_set_routes(w, BARRIER_TRANSPORT, &none, 1), 0);
    PUMP_UNTIL(
        NULL, NULL, 5000, atomic_load(&ev->refused) > before,
        "the worker did not refuse the barrier command within 5 s (%d refusals seen, %d before)",
        atomic_load(&ev->refused), before);
}

void worker_read_all_from(int fd, const pl_addr *server, const char *ufrag)
{
    static uint8_t tid_byte = 0xa0;
    uint8_t tid = tid_byte++;
    char username[64];
    snprintf(username, sizeof(username), "%s:marker", ufrag);
    uint8_t req[256];
    size_t n = stun_check(req, sizeof(req), username, "not-this-transport-s-pwd", tid);
    assert_int_equal(sendto(fd, req, n, 0, (const struct sockaddr *)&server->ss, server->len),
                     (ssize_t)n);
    int64_t until = now_us() + 5000000;
    int other = 0;
    for (;;) {
        int64_t left_ms = (until - now_us()) / 1000;
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (left_ms <= 0 || poll(&p, 1, (int)left_ms) <= 0)
            fail_msg("no 401 from the worker for the marker check to %s within 5 s "
                     "(%d other datagrams arrived)",
                     ufrag, other);
        uint8_t resp[1500];
        ssize_t m = recv(fd, resp, sizeof(resp), 0);
        pl_stun_msg sm;
        if (m > 20 && pl_stun_decode(&sm, resp, (size_t)m) == 0 && sm.cls == PL_STUN_ERROR &&
            sm.tid[0] == tid) {
            assert_int_equal(sm.error_code, 401);
            return;
        }
        other++;
    }
}

void client_take_pending(client *c)
{
    /* Bounded: a worker that kept sending would not hold the test. */
    for (int i = 0; i < 10000; i++) {
        struct pollfd p = {.fd = c->fd, .events = POLLIN};
        if (poll(&p, 1, 0) <= 0)
            break;
        client_pump(c, 0);
    }
    client_drain(c);
}
