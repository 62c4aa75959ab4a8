/* What a media worker does with someone who is not who the SDP said, on
 * real loopback sockets: a DTLS certificate that does not match the
 * signalled fingerprint, a replayed SRTP or SRTCP packet, and a forged
 * connectivity check that tries to move a transport's media elsewhere. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "loopclient.h"
#include "parley/peer.h"
#include "parley/rtcp.h"
#include "parley/stun.h"
#include "parley/worker.h"

#define SERVER_PWD "serverpassword0123456789"
#define SSRC 0xabcdef01u

/* A worker and the certificates of a meeting: the server's, the one the
 * clients announce in their SDP, and an impostor's. */
typedef struct fixture {
    pl_env env;
    pl_dtls_cert *server_cert, *client_cert, *impostor_cert;
    events ev;
    pl_worker *w;
    pl_addr server;
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof(*f));
    f->env = pl_env_default();
    f->server_cert = pl_dtls_cert_create(&f->env);
    f->client_cert = pl_dtls_cert_create(&f->env);
    f->impostor_cert = pl_dtls_cert_create(&f->env);
    pl_worker_config wc = {
        .bind_ip = "127.0.0.1", .cert = f->server_cert, .on_event = on_event, .user = &f->ev};
    f->w = pl_worker_start(&f->env, &wc);
    if (!f->w)
        return -1;
    pl_addr_set(&f->server, "127.0.0.1", pl_worker_port(f->w));
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    pl_worker_stop(f->w);
    pl_dtls_cert_destroy(f->server_cert);
    pl_dtls_cert_destroy(f->client_cert);
    pl_dtls_cert_destroy(f->impostor_cert);
    free(f);
    return 0;
}

/* A client presenting `cert` to transport `id`, which the worker creates
 * with the announced client certificate's fingerprint; a publisher of
 * SSRC, or a subscriber of publisher 1. */
static client add_client(fixture *f, uint64_t id, const pl_dtls_cert *cert, bool publisher)
{
    char ufrag[16];
    snprintf(ufrag, sizeof(ufrag), "srv%llu", (unsigned long long)id);
    client c = make_client(&f->env, cert, f->server_cert, &f->server, ufrag, SERVER_PWD);
    assert_int_equal(pl_worker_add_transport(f->w, id, ufrag, SERVER_PWD,
                                             pl_peer_local_ufrag(c.peer), pl_peer_local_pwd(c.peer),
                                             "sha-256", pl_dtls_cert_fingerprint(f->client_cert)),
                     0);
    if (publisher) {
        pl_track tr = {.mid = "0", .ssrc = SSRC, .pt = 111};
        assert_int_equal(pl_worker_set_tracks(f->w, id, &tr, 1), 0);
    } else {
        pl_route rt = {.publisher = 1, .mid = "0", .out_ssrc = 0x5555, .out_pt = 111};
        assert_int_equal(pl_worker_set_routes(f->w, id, &rt, 1), 0);
    }
    worker_barrier(f->w, &f->ev); /* the transport exists before the first check */
    assert_int_equal(pl_peer_start(c.peer, now_us()), 0);
    return c;
}

/* Pumps both clients until both are connected, as the worker says too. */
static void until_both_connected(fixture *f, client *a, client *b)
{
    PUMP_UNTIL(a, b, 10000, a->connected && b->connected && atomic_load(&f->ev.connected) == 2,
               "within 10 s: clients %sconnected and %sconnected, %d connected events",
               a->connected ? "" : "not ", b->connected ? "" : "not ",
               atomic_load(&f->ev.connected));
}

/* Pumps both clients until the worker has failed one transport and the
 * honest client `b` is connected. */
static void until_one_failed(fixture *f, client *a, client *b)
{
    pl_worker_stats st;
    PUMP_UNTIL(a, b, 10000,
               (pl_worker_stats_get(f->w, &st),
                b->connected && atomic_load(&f->ev.failed) == 1 && st.transports_failed == 1),
               "within 10 s: honest client %sconnected, %d failed events, %llu transports failed",
               b->connected ? "" : "not ", atomic_load(&f->ev.failed),
               (unsigned long long)st.transports_failed);
}

/* The worker counts forwarded copies once a batch has gone out, so a
 * subscriber may read them before the count moves. */
static void until_forwarded(fixture *f, uint64_t want, pl_worker_stats *st)
{
    PUMP_UNTIL(NULL, NULL, 5000, (pl_worker_stats_get(f->w, st), st->rtp_forwarded >= want),
               "the worker counted %llu packets forwarded within 5 s, not %llu",
               (unsigned long long)st->rtp_forwarded, (unsigned long long)want);
}

/* Protects one RTP packet and sends it; the datagram is kept in `wire`
 * (at least 64 bytes) to be sent again. */
static size_t send_rtp(client *c, uint16_t seq, uint8_t *wire)
{
    uint8_t pkt[128] = {0x80, 111, (uint8_t)(seq >> 8), (uint8_t)seq};
    pl_put_u32(pkt + 4, 960u * seq);
    pl_put_u32(pkt + 8, SSRC);
    memcpy(pkt + 12, "opus frame", 10);
    size_t len = 22;
    pl_addr to;
    if (pl_peer_protect_rtp(c->peer, pkt, &len, sizeof(pkt), &to) != PL_OK)
        return 0;
    sendto(c->fd, pkt, len, 0, (const struct sockaddr *)&to.ss, to.len);
    if (wire)
        memcpy(wire, pkt, len);
    return len;
}

/* Sends RTP packet `seq` from the publisher and pumps both clients until
 * the subscriber has it: the worker has then read and counted everything
 * sent to it before, and every copy it forwarded before this one has
 * arrived. Returns the number of packets the subscriber has received. */
static size_t through(client *pub, client *sub, uint16_t seq)
{
    size_t had = sub->n_rtp;
    assert_true(send_rtp(pub, seq, NULL) > 0);
    PUMP_UNTIL(sub, pub, 5000, sub->n_rtp > had && sub->seq[sub->n_rtp - 1] == seq,
               "packet %u did not reach the subscriber within 5 s (%zu packets received, the "
               "last %d)",
               seq, sub->n_rtp - had, sub->n_rtp ? sub->seq[sub->n_rtp - 1] : -1);
    return sub->n_rtp;
}

/* (a) The impostor holds the ICE credentials (signaling leaked them, say)
 * but not the private key of the announced certificate. As a publisher:
 * the worker fails the transport when the handshake shows the wrong
 * certificate, and nothing the impostor sends reaches the subscriber. */
static void test_wrong_certificate_publisher(void **state)
{
    fixture *f = *state;
    client sub = add_client(f, 2, f->client_cert, false);
    client pub = add_client(f, 1, f->impostor_cert, true);
    until_one_failed(f, &pub, &sub);
    assert_int_equal(atomic_load(&f->ev.connected), 1); /* the subscriber only */
    assert_int_equal(atomic_load(&f->ev.failed), 1);
    assert_int_equal(atomic_load(&f->ev.last_error), PL_EAUTH);
    assert_int_equal(atomic_load(&f->ev.last_failure), PL_FAILURE_FINGERPRINT);
    pl_worker_stats st;
    pl_worker_stats_get(f->w, &st);
    assert_int_equal(st.transports_failed, 1);
    assert_int_equal(st.transports, 1);

    /* The impostor's side of the handshake may have finished (it checked
     * the server's certificate, which is genuine) before the worker's
     * close_notify reached it: whatever it manages to send is dropped as
     * coming from nobody the worker knows. */
    uint64_t sent = 0;
    for (uint16_t i = 0; i < 20; i++)
        sent += send_rtp(&pub, i, NULL) > 0;
    /* The worker has read all of it once it answers a check sent after
     * it; whatever it might have forwarded is at the subscriber by then. */
    worker_read_all_from(pub.fd, &f->server, "srv2");
    client_take_pending(&sub);
    pl_worker_stats_get(f->w, &st);
    assert_int_equal(st.rtp_in, 0);
    assert_int_equal(st.rtp_forwarded, 0);
    assert_int_equal(sub.n_rtp, 0);
    assert_true(st.dropped_unknown_source >= sent);
    client_free(&pub);
    client_free(&sub);
}

/* (a) As a subscriber: the transport fails and the publisher's media is
 * never encrypted for the impostor. */
static void test_wrong_certificate_subscriber(void **state)
{
    fixture *f = *state;
    client pub = add_client(f, 1, f->client_cert, true);
    client sub = add_client(f, 2, f->impostor_cert, false);
    until_one_failed(f, &sub, &pub);
    assert_int_equal(atomic_load(&f->ev.connected), 1);
    assert_int_equal(atomic_load(&f->ev.failed), 1);
    assert_int_equal(atomic_load(&f->ev.last_error), PL_EAUTH);
    assert_int_equal(atomic_load(&f->ev.last_failure), PL_FAILURE_FINGERPRINT);

    for (uint16_t i = 0; i < 20; i++)
        send_rtp(&pub, i, NULL);
    /* The worker has read all of it once it answers a check sent after
     * it; whatever it might have sent the impostor is at its socket by
     * then. */
    worker_read_all_from(pub.fd, &f->server, "srv1");
    client_take_pending(&sub);
    pl_worker_stats st;
    pl_worker_stats_get(f->w, &st);
    assert_int_equal(st.rtp_in, 20);
    assert_int_equal(st.rtp_forwarded, 0);
    assert_int_equal(st.transports_failed, 1);
    assert_int_equal(sub.n_rtp, 0);
    client_free(&pub);
    client_free(&sub);
}

/* (b) A captured SRTP packet sent again, by the publisher's address or by
 * anyone else, is forwarded once; the replay is dropped and counted. The
 * same for SRTCP. */
static void test_replayed_srtp(void **state)
{
    fixture *f = *state;
    client pub = add_client(f, 1, f->client_cert, true);
    client sub = add_client(f, 2, f->client_cert, false);
    until_both_connected(f, &pub, &sub);
    pl_worker_stats before, st;
    /* A first packet through: nothing of the handshakes is still on its
     * way to be counted. */
    size_t base = through(&pub, &sub, 99);
    until_forwarded(f, 1, &before);

    uint8_t wire[128];
    size_t len = send_rtp(&pub, 100, wire);
    assert_true(len > 22);
    sendto(pub.fd, wire, len, 0, (const struct sockaddr *)&f->server.ss, f->server.len);
    sendto(pub.fd, wire, len, 0, (const struct sockaddr *)&f->server.ss, f->server.len);
    int stranger = udp_socket();
    sendto(stranger, wire, len, 0, (const struct sockaddr *)&f->server.ss, f->server.len);
    send_rtp(&pub, 101, NULL); /* the stream goes on */

    /* A sender report, twice. */
    uint8_t sr[128];
    pl_wbuf w = pl_wbuf_make(sr, sizeof(sr));
    pl_rtcp_sr r = {.ssrc = SSRC, .ntp = 0x1122334455667788ull, .rtp_ts = 96000};
    pl_rtcp_write_sr(&w, &r);
    assert_true(pl_wbuf_ok(&w));
    size_t sr_len = w.len;
    pl_addr to;
    assert_int_equal(pl_peer_protect_rtcp(pub.peer, sr, &sr_len, sizeof(sr), &to), 0);
    sendto(pub.fd, sr, sr_len, 0, (const struct sockaddr *)&to.ss, to.len);
    sendto(pub.fd, sr, sr_len, 0, (const struct sockaddr *)&to.ss, to.len);

    /* A last packet after the replays: once it is through, the worker has
     * read and counted everything before it, and forwarded what it was
     * going to forward of it. */
    through(&pub, &sub, 102);
    until_forwarded(f, before.rtp_forwarded + 3, &st);
    /* The stranger's copy came from another socket, which the last packet
     * does not vouch for: wait for it to be counted. */
    PUMP_UNTIL(&sub, &pub, 5000,
               (pl_worker_stats_get(f->w, &st),
                st.dropped_unknown_source - before.dropped_unknown_source >= 1),
               "the stranger's copy was not dropped within 5 s");
    assert_int_equal(sub.n_rtp - base, 3);
    assert_int_equal(sub.seq[base], 100);
    assert_int_equal(sub.seq[base + 1], 101);
    assert_int_equal(sub.seq[base + 2], 102);
    assert_int_equal(st.rtp_in - before.rtp_in, 3);
    assert_int_equal(st.rtp_forwarded - before.rtp_forwarded, 3);
    assert_int_equal(st.rtcp_in - before.rtcp_in, 1);
    /* Two RTP replays and one SRTCP replay from the publisher's address;
     * the stranger's copy never reached a transport. */
    assert_int_equal(st.dropped_by_transport - before.dropped_by_transport, 3);
    assert_int_equal(st.dropped_unknown_source - before.dropped_unknown_source, 1);
    assert_int_equal(st.transports_failed, 0);
    close(stranger);
    client_free(&pub);
    client_free(&sub);
}

/* (c) Someone who knows a transport's ufrag but not its password forges a
 * nominating check from its own address. It gets 401 and nothing else:
 * the subscriber's media keep going to the subscriber, none to the
 * attacker, and the transport stays up. */
static void test_forged_check(void **state)
{
    fixture *f = *state;
    client pub = add_client(f, 1, f->client_cert, true);
    client sub = add_client(f, 2, f->client_cert, false);
    until_both_connected(f, &pub, &sub);
    pl_worker_stats before, st;
    /* A first packet through: nothing of the handshakes is still on its
     * way to be counted. */
    size_t base = through(&pub, &sub, 199);
    until_forwarded(f, 1, &before);

    int attacker = udp_socket();
    char username[64];
    snprintf(username, sizeof(username), "srv2:%s", pl_peer_local_ufrag(sub.peer));
    uint8_t req[256];
    size_t n = stun_check(req, sizeof(req), username, "not-the-password-at-all", 9);
    sendto(attacker, req, n, 0, (const struct sockaddr *)&f->server.ss, f->server.len);
    struct pollfd p = {.fd = attacker, .events = POLLIN};
    assert_int_equal(poll(&p, 1, 2000), 1);
    uint8_t resp[1500];
    ssize_t m = recv(attacker, resp, sizeof(resp), 0);
    pl_stun_msg sm;
    assert_int_equal(pl_stun_decode(&sm, resp, (size_t)m), 0);
    assert_int_equal(sm.cls, PL_STUN_ERROR);
    assert_int_equal(sm.error_code, 401);
    assert_false(sm.has_xor_mapped); /* nothing learned about anyone */

    for (uint16_t i = 0; i < 20; i++)
        send_rtp(&pub, (uint16_t)(200 + i), NULL);
    PUMP_UNTIL(&sub, &pub, 5000, sub.n_rtp - base >= 20,
               "the subscriber received %zu of 20 packets within 5 s", sub.n_rtp - base);
    /* One more after them: once it is through, whatever the worker sent
     * for the 20 has arrived wherever it went. */
    through(&pub, &sub, 220);
    until_forwarded(f, before.rtp_forwarded + 21, &st);
    assert_int_equal(sub.n_rtp - base, 21);
    /* Not a datagram more for the attacker: no media, no report, no check. */
    assert_int_equal(poll(&p, 1, 0), 0);
    assert_int_equal(st.rtp_forwarded - before.rtp_forwarded, 21);
    assert_int_equal(st.dropped_by_transport - before.dropped_by_transport, 1);
    assert_int_equal(st.transports_failed, 0);
    assert_int_equal(st.transports, 2);
    assert_int_equal(atomic_load(&f->ev.failed), 0);
    close(attacker);
    client_free(&pub);
    client_free(&sub);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_wrong_certificate_publisher, setup, teardown),
        cmocka_unit_test_setup_teardown(test_wrong_certificate_subscriber, setup, teardown),
        cmocka_unit_test_setup_teardown(test_replayed_srtp, setup, teardown),
        cmocka_unit_test_setup_teardown(test_forged_check, setup, teardown),
    };
    return cmocka_run_group_tests_name("security", tests, NULL, NULL);
}
