/* A media worker on real UDP sockets on loopback: a client-role peer (the
 * same code the native client will use) connects through ICE, DTLS and
 * SRTP; garbage of every kind is dropped and counted; the call goes on. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "loopclient.h"
#include "parley/peer.h"
#include "parley/stun.h"
#include "parley/worker.h"

#define SERVER_UFRAG "srv1"
#define SERVER_PWD "serverpassword0123456789"

static void send_rtp(client *c, uint16_t seq)
{
    uint8_t pkt[256] = {0x80, 96,  (uint8_t)(seq >> 8), (uint8_t)seq, 0, 0, 0, 1, 0xab, 0xcd,
                        0xef, 0x01};
    memcpy(pkt + 12, "media payload", 13);
    size_t len = 25;
    pl_addr to;
    assert_int_equal(pl_peer_protect_rtp(c->peer, pkt, &len, sizeof(pkt), &to), 0);
    sendto(c->fd, pkt, len, 0, (const struct sockaddr *)&to.ss, to.len);
}

static void wait_rtp(pl_worker *w, client *c, uint64_t want)
{
    pl_worker_stats st;
    PUMP_UNTIL(c, NULL, 5000, (pl_worker_stats_get(w, &st), st.rtp_in >= want),
               "the worker took in %llu RTP packets within 5 s, not %llu",
               (unsigned long long)st.rtp_in, (unsigned long long)want);
    assert_int_equal(st.rtp_in, want);
}

static void test_connect_media_and_garbage(void **state)
{
    (void)state;
    pl_env env = pl_env_default();
    pl_dtls_cert *scert = pl_dtls_cert_create(&env), *ccert = pl_dtls_cert_create(&env);
    events ev = {0};
    pl_worker_config wc = {.index = 0,
                           .bind_ip = "127.0.0.1",
                           .port = 0,
                           .cert = scert,
                           .on_event = on_event,
                           .user = &ev};
    pl_worker *w = pl_worker_start(&env, &wc);
    assert_non_null(w);
    pl_addr server;
    pl_addr_set(&server, "127.0.0.1", pl_worker_port(w));

    client c = make_client(&env, ccert, scert, &server, SERVER_UFRAG, SERVER_PWD);
    assert_int_equal(pl_worker_add_transport(w, 1, SERVER_UFRAG, SERVER_PWD,
                                             pl_peer_local_ufrag(c.peer), pl_peer_local_pwd(c.peer),
                                             "sha-256", pl_dtls_cert_fingerprint(ccert)),
                     0);
    worker_barrier(w, &ev); /* the transport exists before the first check */
    assert_int_equal(pl_peer_start(c.peer, now_us()), 0);
    PUMP_UNTIL(&c, NULL, 10000, c.connected && atomic_load(&ev.connected) > 0,
               "the transport did not connect within 10 s (client %s, worker events %d)",
               c.connected ? "connected" : "not connected", atomic_load(&ev.connected));
    assert_int_equal(atomic_load(&ev.connected), 1);

    for (uint16_t i = 0; i < 20; i++)
        send_rtp(&c, i);
    wait_rtp(w, &c, 20);

    /* Garbage from a stranger and from the client's own address. */
    int evil = udp_socket();
    uint8_t junk[300];
    uint64_t r = 99;
    for (int i = 0; i < 200; i++) {
        size_t len = 1 + (size_t)i % sizeof(junk);
        for (size_t k = 0; k < len; k++) {
            r = r * 6364136223846793005ULL + 1442695040888963407ULL;
            junk[k] = (uint8_t)(r >> 56);
        }
        sendto(evil, junk, len, 0, (const struct sockaddr *)&server.ss, server.len);
    }
    /* A STUN check with the right ufrag and a wrong password gets 401. */
    uint8_t req[256];
    size_t n = stun_check(req, sizeof(req), SERVER_UFRAG ":evil", "wrong-password-wrong-pw", 7);
    sendto(evil, req, n, 0, (const struct sockaddr *)&server.ss, server.len);
    struct pollfd p = {.fd = evil, .events = POLLIN};
    assert_int_equal(poll(&p, 1, 2000), 1);
    uint8_t resp[512];
    ssize_t m = recv(evil, resp, sizeof(resp), 0);
    pl_stun_msg sm;
    assert_int_equal(pl_stun_decode(&sm, resp, (size_t)m), 0);
    assert_int_equal(sm.error_code, 401);
    /* Truncated STUN and SRTP-looking junk from the client's address. */
    for (int i = 0; i < 50; i++) {
        uint8_t t[40] = {0x00, 0x01, 0x00, 0x08, 0x21, 0x12, 0xa4, 0x42};
        sendto(c.fd, t, 8 + (size_t)i % 30, 0, (const struct sockaddr *)&server.ss, server.len);
        uint8_t fake[60] = {0x80, 96, 0, (uint8_t)i, 0, 0, 0, 1, 0xab, 0xcd, 0xef, 0x01};
        sendto(c.fd, fake, sizeof(fake), 0, (const struct sockaddr *)&server.ss, server.len);
    }
    pl_worker_stats st;
    PUMP_UNTIL(&c, NULL, 5000,
               (pl_worker_stats_get(w, &st),
                st.dropped_unknown_source >= 190 && st.dropped_by_transport >= 100),
               "garbage not all dropped within 5 s: %llu from unknown sources (of at least "
               "190), %llu by the transport (of at least 100)",
               (unsigned long long)st.dropped_unknown_source,
               (unsigned long long)st.dropped_by_transport);
    assert_int_equal(atomic_load(&ev.failed), 0);

    /* The call goes on. */
    for (uint16_t i = 20; i < 40; i++)
        send_rtp(&c, i);
    wait_rtp(w, &c, 40);
    /* Over UDP; every datagram in and out counted in bytes too (the
     * garbage included), and the thread's CPU time is its own. */
    assert_int_equal(atomic_load(&ev.connected_tcp), 0);
    pl_worker_stats_get(w, &st);
    assert_true(st.bytes_in >= 40 * 25 + 50 * 60);
    assert_true(st.bytes_out > 0);
    assert_true(st.cpu_ns > 0);
    assert_non_null(st.relaytime);

    assert_int_equal(pl_worker_remove_transport(w, 1), 0);
    PUMP_UNTIL(NULL, NULL, 2000, (pl_worker_stats_get(w, &st), st.transports == 0),
               "the transport was not removed within 2 s (%llu left)",
               (unsigned long long)st.transports);
    close(evil);
    client_free(&c);
    pl_worker_stop(w);
    pl_dtls_cert_destroy(scert);
    pl_dtls_cert_destroy(ccert);
}

/* An RTP packet with a one-byte header extension the subscriber never
 * negotiated (id 1 = audio level in the publisher's SDP). */
static void send_ext_rtp(client *c, uint32_t ssrc, uint16_t seq, uint32_t ts)
{
    uint8_t pkt[256] = {0x90,
                        111,
                        (uint8_t)(seq >> 8),
                        (uint8_t)seq,
                        0,
                        0,
                        0,
                        0,
                        0,
                        0,
                        0,
                        0,
                        0xbe,
                        0xde,
                        0x00,
                        0x01,
                        0x10,
                        0x85,
                        0x00,
                        0x00};
    pl_put_u32(pkt + 4, ts);
    pl_put_u32(pkt + 8, ssrc);
    /* A VP8 key frame's first packet (S set, P clear): on the video track
     * a new source starts at it. */
    memcpy(pkt + 20, "\x10\x00key frame", 10);
    size_t len = 30;
    pl_addr to;
    assert_int_equal(pl_peer_protect_rtp(c->peer, pkt, &len, sizeof(pkt), &to), 0);
    sendto(c->fd, pkt, len, 0, (const struct sockaddr *)&to.ss, to.len);
}

/* A publisher and a subscriber on one worker: the subscriber's stream has
 * its own SSRC and payload type, no foreign header extensions, stays
 * continuous when the publisher's source SSRC changes, and the publisher is
 * asked for a keyframe when the subscriber connects. */
static void test_forwarding(void **state)
{
    (void)state;
    pl_env env = pl_env_default();
    pl_dtls_cert *scert = pl_dtls_cert_create(&env), *ccert = pl_dtls_cert_create(&env);
    events ev = {0};
    pl_worker_config wc = {
        .bind_ip = "127.0.0.1", .cert = scert, .on_event = on_event, .user = &ev};
    pl_worker *w = pl_worker_start(&env, &wc);
    pl_addr server;
    pl_addr_set(&server, "127.0.0.1", pl_worker_port(w));
    client pub = make_client(&env, ccert, scert, &server, "pubu", SERVER_PWD);
    client sub = make_client(&env, ccert, scert, &server, "subu", SERVER_PWD);
    const char *fp = pl_dtls_cert_fingerprint(ccert);
    pl_worker_add_transport(w, 1, "pubu", SERVER_PWD, pl_peer_local_ufrag(pub.peer),
                            pl_peer_local_pwd(pub.peer), "sha-256", fp);
    pl_worker_add_transport(w, 2, "subu", SERVER_PWD, pl_peer_local_ufrag(sub.peer),
                            pl_peer_local_pwd(sub.peer), "sha-256", fp);
    pl_track tr = {.mid = "0", .ssrc = 0xabcdef01, .video = true};
    pl_worker_set_tracks(w, 1, &tr, 1);
    pl_route rt = {.publisher = 1, .mid = "0", .out_ssrc = 0x5555, .out_pt = 111};
    pl_worker_set_routes(w, 2, &rt, 1);
    worker_barrier(w, &ev); /* transports, tracks and routes in place */
    pl_peer_start(pub.peer, now_us());
    PUMP_UNTIL(&pub, NULL, 10000, pub.connected, "the publisher did not connect within 10 s");
    pl_peer_start(sub.peer, now_us());
    /* The new subscriber needs a keyframe. */
    PUMP_UNTIL(&sub, &pub, 10000, sub.connected && pub.n_pli > 0,
               "within 10 s: subscriber %s, %zu PLIs to the publisher",
               sub.connected ? "connected" : "not connected", pub.n_pli);
    assert_int_equal(pub.pli_media, 0xabcdef01);

    int64_t first_sent = now_us();
    for (uint16_t i = 0; i < 20; i++)
        send_ext_rtp(&pub, 0xabcdef01, (uint16_t)(1000 + i), 48000u + 960u * i);
    PUMP_UNTIL(&sub, &pub, 5000, sub.n_rtp >= 20,
               "the subscriber received %zu of 20 packets within 5 s", sub.n_rtp);
    assert_int_equal(sub.n_rtp, 20);
    for (size_t i = 0; i < 20; i++) {
        assert_int_equal(sub.ssrc[i], 0x5555);
        assert_int_equal(sub.pt[i], 111);
        assert_false(sub.ext[i]);
        assert_int_equal(sub.seq[i], 1000 + i);
    }
    /* The publisher's source changes (a restarted microphone). */
    pl_track tr2 = {.mid = "0", .ssrc = 0x77777777, .video = true};
    pl_worker_set_tracks(w, 1, &tr2, 1);
    worker_barrier(w, &ev);
    for (uint16_t i = 0; i < 10; i++)
        send_ext_rtp(&pub, 0x77777777, (uint16_t)(5 + i), 9000u + 960u * i);
    PUMP_UNTIL(&sub, &pub, 5000, sub.n_rtp >= 30,
               "the subscriber received %zu of 30 packets within 5 s", sub.n_rtp);
    assert_int_equal(sub.n_rtp, 30);
    /* The new source's timestamps go on from the old one's by the time that
     * passed between them (90 kHz: the track is video), which is less than
     * the time since the first packet was sent, then keep their spacing. */
    uint32_t passed = (uint32_t)((now_us() - first_sent) * 90000 / 1000000) + 1;
    assert_true(sub.ts[20] - sub.ts[19] > 0 && sub.ts[20] - sub.ts[19] <= passed);
    for (size_t i = 20; i < 30; i++) {
        assert_int_equal(sub.ssrc[i], 0x5555);
        assert_int_equal(sub.seq[i], 1000 + i); /* continuous */
        assert_int_equal(sub.ts[i] - sub.ts[20], 960u * (i - 20));
    }
    /* The worker counts a batch of copies once it has sent them: the
     * subscriber may read them first. Every forwarded copy had its time in
     * the relay measured (RTCP the relay sends on its own timers is not
     * counted). */
    pl_worker_stats st;
    PUMP_UNTIL(NULL, NULL, 5000,
               (pl_worker_stats_get(w, &st), st.rtp_forwarded >= 30 && st.relay_samples >= 30),
               "within 5 s: %llu packets counted forwarded, %llu relay times measured (30 each)",
               (unsigned long long)st.rtp_forwarded, (unsigned long long)st.relay_samples);
    assert_int_equal(st.rtp_forwarded, 30);
    assert_true(st.relay_p50_us >= 10 && st.relay_p50_us <= st.relay_p99_us);
    client_free(&pub);
    client_free(&sub);
    pl_worker_stop(w);
    pl_dtls_cert_destroy(scert);
    pl_dtls_cert_destroy(ccert);
}

/* A transport the worker cannot set up (a fingerprint algorithm nobody
 * uses) is reported failed for that reason, and never created. */
static void test_setup_failure_is_reported(void **state)
{
    (void)state;
    pl_env env = pl_env_default();
    pl_dtls_cert *scert = pl_dtls_cert_create(&env);
    events ev = {0};
    pl_worker_config wc = {
        .bind_ip = "127.0.0.1", .cert = scert, .on_event = on_event, .user = &ev};
    pl_worker *w = pl_worker_start(&env, &wc);
    assert_non_null(w);
    assert_int_equal(pl_worker_add_transport(w, 7, SERVER_UFRAG, SERVER_PWD, "cli1",
                                             "clientpassword0123456789", "md5", "AB:CD"),
                     0);
    PUMP_UNTIL(NULL, NULL, 5000, atomic_load(&ev.failed) == 1,
               "no failure reported within 5 s (%d)", atomic_load(&ev.failed));
    assert_int_equal(atomic_load(&ev.last_failure), PL_FAILURE_SETUP);
    pl_worker_stats st;
    pl_worker_stats_get(w, &st);
    assert_int_equal(st.transports, 0);
    pl_worker_stop(w);
    pl_dtls_cert_destroy(scert);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_connect_media_and_garbage),
        cmocka_unit_test(test_forwarding),
        cmocka_unit_test(test_setup_failure_is_reported),
    };
    return cmocka_run_group_tests_name("worker", tests, NULL, NULL);
}
