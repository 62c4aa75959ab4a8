/* ICE-TCP on a real worker on loopback: clients reach it over TCP with
 * RFC 4571 framing (ICE, DTLS, SRTP both ways); connections that send
 * garbage, a length of 65535 or one byte per second are closed and counted
 * while a meeting goes on; a closed connection fails its transport at
 * once; a subscriber that stops reading loses packets, not the worker. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <errno.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "loopclient.h"
#include "parley/peer.h"
#include "parley/stun.h"
#include "parley/worker.h"

#define PWD "serverpassword0123456789"
#define PUB_SSRC 0xabcdef01u

typedef struct fixture {
    pl_env env;
    pl_dtls_cert *scert, *ccert;
    events ev;
    pl_worker *w;
    pl_addr server;
} fixture;

static void start(fixture *f)
{
    memset(f, 0, sizeof(*f));
    f->env = pl_env_default();
    f->scert = pl_dtls_cert_create(&f->env);
    f->ccert = pl_dtls_cert_create(&f->env);
    pl_worker_config wc = {.bind_ip = "127.0.0.1",
                           .ice_tcp = true,
                           .cert = f->scert,
                           .on_event = on_event,
                           .user = &f->ev};
    f->w = pl_worker_start(&f->env, &wc);
    assert_non_null(f->w);
    pl_addr_set(&f->server, "127.0.0.1", pl_worker_port(f->w));
}

static void stop(fixture *f)
{
    pl_worker_stop(f->w);
    pl_dtls_cert_destroy(f->scert);
    pl_dtls_cert_destroy(f->ccert);
}

static client join(fixture *f, uint64_t id, const char *ufrag, bool tcp, int rcvbuf)
{
    client c = tcp ? make_tcp_client(&f->env, f->ccert, f->scert, &f->server, ufrag, PWD, rcvbuf)
                   : make_client(&f->env, f->ccert, f->scert, &f->server, ufrag, PWD);
    assert_int_equal(pl_worker_add_transport(f->w, id, ufrag, PWD, pl_peer_local_ufrag(c.peer),
                                             pl_peer_local_pwd(c.peer), "sha-256",
                                             pl_dtls_cert_fingerprint(f->ccert)),
                     0);
    return c;
}

/* A publisher (transport 1) and a subscriber (2) of one video track. */
static void route(fixture *f)
{
    pl_track tr = {.mid = "0", .ssrc = PUB_SSRC, .video = true};
    pl_worker_set_tracks(f->w, 1, &tr, 1);
    pl_route rt = {.publisher = 1, .mid = "0", .out_ssrc = 0x5555, .out_pt = 96};
    pl_worker_set_routes(f->w, 2, &rt, 1);
    worker_barrier(f->w, &f->ev);
}

static void send_rtp(client *c, uint16_t seq, size_t payload)
{
    uint8_t pkt[1500] = {0x80, 96, (uint8_t)(seq >> 8), (uint8_t)seq};
    pl_put_u32(pkt + 4, 3000u * seq);
    pl_put_u32(pkt + 8, PUB_SSRC);
    memset(pkt + 12, 0x5a, payload);
    size_t len = 12 + payload;
    pl_addr to;
    assert_int_equal(pl_peer_protect_rtp(c->peer, pkt, &len, sizeof(pkt), &to), 0);
    client_send(c, pkt, len, &to);
}

static void connect_both(client *pub, client *sub)
{
    pl_peer_start(pub->peer, now_us());
    pl_peer_start(sub->peer, now_us());
    PUMP_UNTIL(pub, sub, 10000, pub->connected && sub->connected,
               "within 10 s: publisher %s, subscriber %s",
               pub->connected ? "connected" : "not connected",
               sub->connected ? "connected" : "not connected");
}

static uint64_t stat_of(pl_worker *w, size_t offset)
{
    pl_worker_stats st;
    pl_worker_stats_get(w, &st);
    uint64_t v;
    memcpy(&v, (const uint8_t *)&st + offset, sizeof(v));
    return v;
}
#define STAT(w, field) stat_of((w), offsetof(pl_worker_stats, field))

/* Both ends over TCP: ICE, DTLS and SRTP in frames, media forwarded from
 * a TCP publisher to a TCP subscriber in order; UDP is untouched. */
static void test_media_over_tcp(void **state)
{
    (void)state;
    fixture f;
    start(&f);
    client pub = join(&f, 1, "pubu", true, 0), sub = join(&f, 2, "subu", true, 0);
    route(&f);
    connect_both(&pub, &sub);
    assert_int_equal(atomic_load(&f.ev.connected), 2);
    assert_int_equal(atomic_load(&f.ev.connected_tcp), 2); /* the path the core is told */
    for (uint16_t i = 0; i < 50; i++)
        send_rtp(&pub, (uint16_t)(100 + i), 1000);
    PUMP_UNTIL(&sub, &pub, 5000, sub.n_rtp >= 50,
               "the TCP subscriber received %zu of 50 packets within 5 s", sub.n_rtp);
    for (size_t i = 0; i < 50; i++) {
        assert_int_equal(sub.ssrc[i], 0x5555);
        assert_int_equal(sub.seq[i], 100 + i);
    }
    assert_false(sub.rx_failed);
    assert_int_equal(STAT(f.w, tcp_connections), 2);
    assert_int_equal(STAT(f.w, tcp_accepted), 2);
    assert_int_equal(STAT(f.w, dropped_unknown_source), 0);
    assert_int_equal(STAT(f.w, rtp_in), 50);
    /* Frames are counted in bytes as datagrams are. */
    assert_true(STAT(f.w, bytes_in) > 50 * 1000);
    assert_true(STAT(f.w, bytes_out) > 50 * 1000);
    assert_int_equal(atomic_load(&f.ev.failed), 0);
    client_free(&pub);
    client_free(&sub);
    stop(&f);
}

/* A client may have the answer, connect and send its first check before
 * the worker has made the transport: the check is dropped, the
 * connection kept, and the next check connects. */
static void test_check_before_transport(void **state)
{
    (void)state;
    fixture f;
    start(&f);
    client c = make_tcp_client(&f.env, f.ccert, f.scert, &f.server, "late", PWD, 0);
    pl_peer_start(c.peer, now_us());
    PUMP_UNTIL(&c, NULL, 5000, STAT(f.w, dropped_unknown_source) >= 1,
               "the early check was not seen within 5 s");
    assert_int_equal(pl_worker_add_transport(f.w, 1, "late", PWD, pl_peer_local_ufrag(c.peer),
                                             pl_peer_local_pwd(c.peer), "sha-256",
                                             pl_dtls_cert_fingerprint(f.ccert)),
                     0);
    PUMP_UNTIL(&c, NULL, 5000, c.connected && atomic_load(&f.ev.connected) == 1,
               "no connection within 5 s of the transport");
    assert_int_equal(STAT(f.w, tcp_dropped_garbage), 0);
    assert_int_equal(STAT(f.w, tcp_accepted), 1);
    client_free(&c);
    stop(&f);
}

/* A raw TCP connection to the worker. */
static int raw_connect(const pl_addr *server)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_int_equal(connect(fd, (const struct sockaddr *)&server->ss, server->len), 0);
    return fd;
}

/* Whether the worker closed this connection (end of stream or reset). */
static bool closed_by_worker(int fd)
{
    uint8_t b[256];
    ssize_t n = recv(fd, b, sizeof(b), MSG_DONTWAIT);
    return n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK);
}

/* A UDP publisher and a TCP subscriber meet while strangers connect to the
 * TCP port: a frame that is not STUN, a check for nobody's ufrag, a length
 * of 65535, and a frame sent one byte per second. Each is closed and
 * counted under its reason; the subscriber receives every packet sent
 * meanwhile and nothing fails. */
static void test_misbehaving_connections_dropped(void **state)
{
    (void)state;
    fixture f;
    start(&f);
    client pub = join(&f, 1, "pubu", false, 0), sub = join(&f, 2, "subu", true, 0);
    route(&f);
    connect_both(&pub, &sub);

    int garbage = raw_connect(&f.server);
    uint8_t junk[18] = {0, 16, 0x80, 96, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14};
    send(garbage, junk, sizeof(junk), MSG_NOSIGNAL);
    int stranger = raw_connect(&f.server);
    uint8_t frame[2 + 256];
    size_t n = stun_check(frame + 2, sizeof(frame) - 2, "nobody:x", PWD, 1);
    pl_tcpframe_put_header(frame, n);
    send(stranger, frame, 2 + n, MSG_NOSIGNAL);
    int huge = raw_connect(&f.server);
    uint8_t big[64] = {0xff, 0xff};
    send(huge, big, sizeof(big), MSG_NOSIGNAL);
    int slow = raw_connect(&f.server);

    int64_t started = now_us(), next_byte = started;
    uint16_t seq = 0;
    bool slow_closed = false;
    /* One byte a second, and the meeting's media every 20 ms meanwhile. */
    while (!slow_closed) {
        if (now_us() - started > 9000000)
            fail_msg("the one-byte-a-second connection was still open after 9 s");
        if (now_us() >= next_byte) {
            /* A frame of 100 bytes that would start as a Binding request. */
            static const uint8_t trickle[] = {0x00, 0x64, 0x00, 0x01, 0x00, 0x50,
                                              0x21, 0x12, 0xa4, 0x42, 0x01, 0x02};
            size_t k = (size_t)((next_byte - started) / 1000000) % sizeof(trickle);
            send(slow, &trickle[k], 1, MSG_NOSIGNAL);
            next_byte += 1000000;
        }
        send_rtp(&pub, seq++, 800);
        int64_t until = now_us() + 20000;
        while (now_us() < until)
            pump_clients(&sub, &pub);
        slow_closed = closed_by_worker(slow);
    }
    int64_t slow_after = now_us() - started;
    print_message("one byte a second: closed after %.1f s\n", (double)slow_after / 1e6);
    assert_true(slow_after >= 4500000);
    PUMP_UNTIL(&sub, &pub, 5000, sub.n_rtp >= 256 || sub.n_rtp >= seq,
               "the subscriber received %zu of %u packets", sub.n_rtp, seq);
    assert_true(closed_by_worker(garbage));
    assert_true(closed_by_worker(huge));
    /* The check for nobody waited, as a check that comes before its
     * transport does, and ran out of time with the trickler. */
    PUMP_UNTIL(&sub, &pub, 2000, closed_by_worker(stranger),
               "the connection whose check named no transport is still open");
    assert_int_equal(STAT(f.w, tcp_dropped_garbage), 1);
    assert_int_equal(STAT(f.w, tcp_dropped_oversized), 1);
    assert_int_equal(STAT(f.w, tcp_dropped_slow), 2);
    assert_true(STAT(f.w, dropped_unknown_source) >= 1);
    assert_int_equal(STAT(f.w, tcp_connections), 1);
    assert_int_equal(atomic_load(&f.ev.failed), 0);
    /* Every packet of the meeting arrived, in order (the record keeps 256). */
    for (size_t i = 0; i < sub.n_rtp; i++)
        assert_int_equal(sub.seq[i], i);
    assert_false(sub.rx_failed);
    close(garbage);
    close(stranger);
    close(huge);
    close(slow);
    client_free(&pub);
    client_free(&sub);
    stop(&f);
}

/* More connections than a worker keeps: the oldest that never
 * authenticated make room, the one carrying a transport stays. */
static void test_connection_limit(void **state)
{
    (void)state;
    fixture f;
    start(&f);
    client pub = join(&f, 1, "pubu", false, 0), sub = join(&f, 2, "subu", true, 0);
    route(&f);
    connect_both(&pub, &sub);
    enum { N = 140 };
    int fds[N];
    for (int i = 0; i < N; i++)
        fds[i] = raw_connect(&f.server);
    /* The counters are the worker thread's, read while it works: an accept
     * counts before the oldest connection it evicts is closed, so they are
     * waited for together, not read once. */
    PUMP_UNTIL(&sub, &pub, 5000,
               STAT(f.w, tcp_accepted) >= N + 1 && STAT(f.w, tcp_connections) == 128 &&
                   STAT(f.w, tcp_refused) == N + 1 - 128,
               "the worker accepted %llu of %d connections, keeps %llu (128), refused %llu (%d)",
               (unsigned long long)STAT(f.w, tcp_accepted), N + 1,
               (unsigned long long)STAT(f.w, tcp_connections),
               (unsigned long long)STAT(f.w, tcp_refused), N + 1 - 128);
    assert_int_equal(STAT(f.w, tcp_connections), 128);
    assert_int_equal(STAT(f.w, tcp_refused), N + 1 - 128);
    for (int i = 0; i < N + 1 - 128; i++)
        PUMP_UNTIL(&sub, &pub, 2000, closed_by_worker(fds[i]),
                   "connection %d (among the oldest) is still open", i);
    for (uint16_t i = 0; i < 10; i++)
        send_rtp(&pub, i, 500);
    PUMP_UNTIL(&sub, &pub, 5000, sub.n_rtp >= 10, "the subscriber received %zu of 10 packets",
               sub.n_rtp);
    for (int i = 0; i < N; i++)
        close(fds[i]);
    client_free(&pub);
    client_free(&sub);
    stop(&f);
}

/* The client closes the connection its transport's selected path runs on:
 * the transport fails at once, as on lost consent, not 30 s later. */
static void test_closed_connection_fails_transport(void **state)
{
    (void)state;
    fixture f;
    start(&f);
    client pub = join(&f, 1, "pubu", false, 0), sub = join(&f, 2, "subu", true, 0);
    route(&f);
    connect_both(&pub, &sub);
    int64_t closed_at = now_us();
    shutdown(sub.fd, SHUT_RDWR);
    PUMP_UNTIL(&pub, NULL, 2000, atomic_load(&f.ev.failed) == 1,
               "no transport failed within 2 s of the connection closing (%d)",
               atomic_load(&f.ev.failed));
    print_message("transport failed %.0f ms after its connection closed\n",
                  (double)(now_us() - closed_at) / 1e3);
    assert_int_equal(atomic_load(&f.ev.last_failure), PL_FAILURE_CONSENT);
    PUMP_UNTIL(&pub, NULL, 2000, STAT(f.w, transports) == 1 && STAT(f.w, tcp_connections) == 0,
               "transports %llu (1 expected), connections %llu (0 expected)",
               (unsigned long long)STAT(f.w, transports),
               (unsigned long long)STAT(f.w, tcp_connections));
    assert_int_equal(STAT(f.w, tcp_closed), 1);
    client_free(&pub);
    client_free(&sub);
    stop(&f);
}

/* A connected client whose next frame stops after its first byte: the
 * connection is closed 5 s later as too slow, and its transport fails with
 * it, long before consent (30 s) would have. */
static void test_stalled_frame_closes(void **state)
{
    (void)state;
    fixture f;
    start(&f);
    client pub = join(&f, 1, "pubu", false, 0), sub = join(&f, 2, "subu", true, 0);
    route(&f);
    connect_both(&pub, &sub);
    uint8_t first = 0x00;
    assert_int_equal(send(sub.fd, &first, 1, MSG_NOSIGNAL), 1);
    int64_t stalled_at = now_us();
    PUMP_UNTIL(&pub, NULL, 9000, atomic_load(&f.ev.failed) == 1,
               "the stalled connection's transport did not fail within 9 s");
    int64_t after = now_us() - stalled_at;
    print_message("stalled frame: transport failed after %.1f s\n", (double)after / 1e6);
    assert_true(after >= 4500000);
    assert_int_equal(STAT(f.w, tcp_dropped_slow), 1);
    assert_int_equal(atomic_load(&f.ev.last_failure), PL_FAILURE_CONSENT);
    client_free(&pub);
    client_free(&sub);
    stop(&f);
}

/* A TCP subscriber that stops reading: once the socket and the
 * connection's buffer are full, packets for it are dropped and counted,
 * the worker goes on taking the publisher's, and what the subscriber
 * reads afterwards is still whole frames that decrypt. */
static void test_full_send_buffer_drops(void **state)
{
    (void)state;
    fixture f;
    start(&f);
    client pub = join(&f, 1, "pubu", false, 0), sub = join(&f, 2, "subu", true, 4096);
    route(&f);
    connect_both(&pub, &sub);
    uint16_t seq = 0;
    int64_t until = now_us() + 20000000;
    /* In bursts the worker's UDP socket takes whole: every one is read
     * before the next, so the worker is seen never to stall. */
    while (STAT(f.w, tcp_send_dropped) == 0) {
        if (now_us() > until)
            fail_msg("no packet dropped after %u sent to a subscriber that does not read", seq);
        for (int i = 0; i < 50; i++)
            send_rtp(&pub, seq++, 1100);
        PUMP_UNTIL(&pub, NULL, 5000, STAT(f.w, rtp_in) >= seq,
                   "the worker took %llu of %u packets from the publisher",
                   (unsigned long long)STAT(f.w, rtp_in), seq);
    }
    uint64_t dropped = STAT(f.w, tcp_send_dropped);
    print_message("%u packets sent, %llu dropped for the subscriber that stopped reading\n", seq,
                  (unsigned long long)dropped);
    uint16_t sent = seq;
    for (int i = 0; i < 50; i++)
        send_rtp(&pub, seq++, 1100);
    PUMP_UNTIL(&pub, NULL, 5000, STAT(f.w, rtp_in) >= (uint64_t)sent + 50,
               "the worker took %llu of %u packets from the publisher",
               (unsigned long long)STAT(f.w, rtp_in), sent + 50);
    PUMP_UNTIL(&sub, NULL, 10000, sub.n_rtp >= 256, "the subscriber read %zu packets", sub.n_rtp);
    assert_false(sub.rx_failed);
    assert_false(sub.failed);
    assert_int_equal(atomic_load(&f.ev.failed), 0);
    client_free(&pub);
    client_free(&sub);
    stop(&f);
}

/* Off: nothing listens on TCP. */
static void test_off(void **state)
{
    (void)state;
    pl_env env = pl_env_default();
    pl_dtls_cert *cert = pl_dtls_cert_create(&env);
    pl_worker_config wc = {.bind_ip = "127.0.0.1", .cert = cert};
    pl_worker *w = pl_worker_start(&env, &wc);
    assert_non_null(w);
    pl_addr server;
    pl_addr_set(&server, "127.0.0.1", pl_worker_port(w));
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_int_not_equal(connect(fd, (const struct sockaddr *)&server.ss, server.len), 0);
    close(fd);
    pl_worker_stop(w);
    pl_dtls_cert_destroy(cert);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_media_over_tcp),
        cmocka_unit_test(test_check_before_transport),
        cmocka_unit_test(test_misbehaving_connections_dropped),
        cmocka_unit_test(test_connection_limit),
        cmocka_unit_test(test_closed_connection_fails_transport),
        cmocka_unit_test(test_stalled_frame_closes),
        cmocka_unit_test(test_full_send_buffer_drops),
        cmocka_unit_test(test_off),
    };
    return cmocka_run_group_tests_name("tcp", tests, NULL, NULL);
}
