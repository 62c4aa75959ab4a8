/* Two peers, a server (ICE-lite, DTLS passive) and a client (ICE controlling,
 * DTLS active), connected through the virtual network on a virtual clock:
 * they must complete ICE, DTLS and SRTP, exchange RTP and RTCP both ways, and
 * get there through heavy seeded loss during the handshake; with either
 * DTLS-SRTP profile and either side DTLS client; the server stays up on
 * whatever authenticated traffic the client sends, and a transport that
 * fails says why. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "parley/dtls.h"
#include "parley/peer.h"
#include "parley/stun.h"
#include "vclock.h"
#include "vnet.h"

#define SEC 1000000LL

typedef struct endpoint {
    pl_peer *peer;
    pl_addr addr;
    bool connected, failed, closed;
    int failed_error;
    unsigned client_hellos; /* DTLS ClientHellos sent: the DTLS client's role */
    enum pl_failure failure;
    int64_t failed_at;
    unsigned rtp_received, rtcp_received;
    uint16_t last_seq;
    uint32_t last_ssrc;
    uint8_t last_payload[64];
    size_t last_payload_len;
} endpoint;

typedef struct sim sim;

/* What a test changes about the two peers. */
typedef struct sim_opts {
    double loss;
    bool corrupt_fingerprint;
    bool client_silent; /* the client is never started */
    int64_t client_consent_us;
    enum pl_peer_dtls server_dtls, client_dtls;
    const enum pl_srtp_profile *server_profiles, *client_profiles;
    size_t n_server_profiles, n_client_profiles;
} sim_opts;

struct sim {
    vnet net;
    /* Deliveries this returns true for are lost (counted in `filtered`). */
    bool (*drop)(const sim *s, const vnet_packet *p);
    uint64_t filtered;
    int64_t now;
    uint64_t env_state[2];
    pl_env env[2];
    pl_dtls_cert *cert[2];
    endpoint ep[2]; /* 0 = server, 1 = client */
};

static void drain(sim *s, endpoint *e)
{
    pl_peer_output o;
    while (pl_peer_poll_output(e->peer, &o) == 0) {
        switch (o.kind) {
        case PL_PEER_OUT_TRANSMIT:
            /* A handshake record (22) of epoch 0 carrying a ClientHello (1). */
            if (o.len > 13 && o.data[0] == 22 && o.data[3] == 0 && o.data[4] == 0 &&
                o.data[13] == 1)
                e->client_hellos++;
            vnet_send(&s->net, s->now, &e->addr, &o.addr, o.data, o.len);
            break;
        case PL_PEER_OUT_CONNECTED:
            e->connected = true;
            break;
        case PL_PEER_OUT_FAILED:
            e->failed = true;
            e->failed_error = o.error;
            e->failure = o.failure;
            e->failed_at = s->now;
            break;
        case PL_PEER_OUT_CLOSED:
            e->closed = true;
            break;
        case PL_PEER_OUT_RTP:
            e->rtp_received++;
            assert_true(o.len >= 12);
            e->last_seq = (uint16_t)(o.data[2] << 8 | o.data[3]);
            e->last_ssrc = (uint32_t)o.data[8] << 24 | (uint32_t)o.data[9] << 16 |
                           (uint32_t)o.data[10] << 8 | o.data[11];
            e->last_payload_len =
                o.len - 12 < sizeof(e->last_payload) ? o.len - 12 : sizeof(e->last_payload);
            memcpy(e->last_payload, o.data + 12, e->last_payload_len);
            break;
        case PL_PEER_OUT_RTCP:
            e->rtcp_received++;
            break;
        case PL_PEER_OUT_ADDRESS:
            break;
        }
    }
}

static endpoint *by_addr(sim *s, const pl_addr *a)
{
    for (int i = 0; i < 2; i++)
        if (pl_addr_equal(&s->ep[i].addr, a))
            return &s->ep[i];
    return NULL;
}

/* Advances the virtual clock to `until`, delivering datagrams and firing
 * timers in time order. */
static void run_until(sim *s, int64_t until)
{
    for (int guard = 0; guard < 1000000; guard++) {
        for (int i = 0; i < 2; i++)
            drain(s, &s->ep[i]);
        int64_t next = vnet_next(&s->net);
        for (int i = 0; i < 2; i++) {
            int64_t t = pl_peer_next_timeout(s->ep[i].peer);
            if (t < next)
                next = t;
        }
        if (next > until) {
            s->now = until;
            vclock_set(s->now);
            return;
        }
        if (next > s->now)
            s->now = next;
        vclock_set(s->now);
        vnet_packet p;
        while (vnet_pop(&s->net, s->now, &p)) {
            endpoint *dst = by_addr(s, &p.to);
            if (dst && s->drop && s->drop(s, &p)) {
                s->filtered++;
                continue;
            }
            if (dst) {
                pl_peer_handle_datagram(dst->peer, s->now, &p.from, p.data, p.len);
                drain(s, dst);
            }
        }
        for (int i = 0; i < 2; i++)
            if (pl_peer_next_timeout(s->ep[i].peer) <= s->now)
                pl_peer_handle_timeout(s->ep[i].peer, s->now);
    }
    fail_msg("simulation did not settle");
}

static void sim_setup_opts(sim *s, uint64_t seed, const sim_opts *o)
{
    memset(s, 0, sizeof(*s));
    vnet_init(&s->net, seed);
    s->net.loss = o->loss;
    s->net.delay_us = 20000;
    s->net.jitter_us = 5000;
    s->now = 1 * SEC;
    vclock_set(s->now);
    for (int i = 0; i < 2; i++) {
        s->env[i] = pl_env_seeded(&s->env_state[i], seed * 2 + (uint64_t)i + 1);
        s->cert[i] = pl_dtls_cert_create(&s->env[i]);
        assert_non_null(s->cert[i]);
    }
    assert_int_equal(pl_addr_set(&s->ep[0].addr, "192.0.2.10", 40000), 0);
    assert_int_equal(pl_addr_set(&s->ep[1].addr, "198.51.100.7", 51234), 0);

    pl_peer_config scfg = {.role = PL_PEER_SERVER,
                           .cert = s->cert[0],
                           .dtls = o->server_dtls,
                           .srtp_profiles = o->server_profiles,
                           .n_srtp_profiles = o->n_server_profiles};
    pl_peer_config ccfg = {.role = PL_PEER_CLIENT,
                           .cert = s->cert[1],
                           .dtls = o->client_dtls,
                           .srtp_profiles = o->client_profiles,
                           .n_srtp_profiles = o->n_client_profiles,
                           .consent_timeout_us = o->client_consent_us};
    s->ep[0].peer = pl_peer_create(&s->env[0], &scfg);
    s->ep[1].peer = pl_peer_create(&s->env[1], &ccfg);
    assert_non_null(s->ep[0].peer);
    assert_non_null(s->ep[1].peer);

    /* The SDP exchange, reduced to what the transports need. */
    char cfp[160];
    snprintf(cfp, sizeof(cfp), "%s", pl_dtls_cert_fingerprint(s->cert[1]));
    if (o->corrupt_fingerprint)
        cfp[0] = cfp[0] == 'A' ? 'B' : 'A';
    assert_int_equal(pl_peer_set_remote(s->ep[0].peer, pl_peer_local_ufrag(s->ep[1].peer),
                                        pl_peer_local_pwd(s->ep[1].peer), "sha-256", cfp),
                     0);
    assert_int_equal(pl_peer_set_remote(s->ep[1].peer, pl_peer_local_ufrag(s->ep[0].peer),
                                        pl_peer_local_pwd(s->ep[0].peer), "sha-256",
                                        pl_dtls_cert_fingerprint(s->cert[0])),
                     0);
    assert_int_equal(pl_peer_add_remote_candidate(s->ep[1].peer, &s->ep[0].addr), 0);
    assert_int_equal(pl_peer_start(s->ep[0].peer, s->now), 0);
    if (!o->client_silent)
        assert_int_equal(pl_peer_start(s->ep[1].peer, s->now), 0);
}

static void sim_setup(sim *s, uint64_t seed, double loss, bool corrupt_fingerprint)
{
    sim_opts o = {.loss = loss, .corrupt_fingerprint = corrupt_fingerprint};
    sim_setup_opts(s, seed, &o);
}

static void sim_teardown(sim *s)
{
    for (int i = 0; i < 2; i++) {
        pl_peer_destroy(s->ep[i].peer);
        pl_dtls_cert_destroy(s->cert[i]);
    }
    vnet_free(&s->net);
}

/* Builds a minimal RTP packet (no extensions) and sends it encrypted. */
static void send_rtp(sim *s, endpoint *from, uint32_t ssrc, uint16_t seq, const char *payload)
{
    uint8_t pkt[256];
    size_t plen = strlen(payload);
    pkt[0] = 0x80;
    pkt[1] = 96;
    pkt[2] = (uint8_t)(seq >> 8);
    pkt[3] = (uint8_t)seq;
    uint32_t ts = seq * 3000u;
    pkt[4] = (uint8_t)(ts >> 24);
    pkt[5] = (uint8_t)(ts >> 16);
    pkt[6] = (uint8_t)(ts >> 8);
    pkt[7] = (uint8_t)ts;
    pkt[8] = (uint8_t)(ssrc >> 24);
    pkt[9] = (uint8_t)(ssrc >> 16);
    pkt[10] = (uint8_t)(ssrc >> 8);
    pkt[11] = (uint8_t)ssrc;
    memcpy(pkt + 12, payload, plen);
    size_t len = 12 + plen;
    pl_addr to;
    assert_int_equal(pl_peer_protect_rtp(from->peer, pkt, &len, sizeof(pkt), &to), 0);
    assert_true(len > 12 + plen); /* auth tag appended */
    assert_memory_not_equal(pkt + 12, payload, plen);
    vnet_send(&s->net, s->now, &from->addr, &to, pkt, len);
}

/* A receiver report (PT 201) with no report blocks. */
static void send_rtcp_rr(sim *s, endpoint *from, uint32_t ssrc)
{
    uint8_t pkt[128] = {
        0x80,         201, 0, 1, (uint8_t)(ssrc >> 24), (uint8_t)(ssrc >> 16), (uint8_t)(ssrc >> 8),
        (uint8_t)ssrc};
    size_t len = 8;
    pl_addr to;
    assert_int_equal(pl_peer_protect_rtcp(from->peer, pkt, &len, sizeof(pkt), &to), 0);
    vnet_send(&s->net, s->now, &from->addr, &to, pkt, len);
}

static void exchange_media(sim *s)
{
    endpoint *srv = &s->ep[0], *cli = &s->ep[1];
    for (uint16_t i = 0; i < 50; i++) {
        send_rtp(s, cli, 0x11111111, (uint16_t)(1000 + i), "from client");
        send_rtp(s, srv, 0x22222222, (uint16_t)(7000 + i), "from server");
        if (i % 10 == 0) {
            send_rtcp_rr(s, cli, 0x11111111);
            send_rtcp_rr(s, srv, 0x22222222);
        }
        run_until(s, s->now + 20000);
    }
    run_until(s, s->now + 1 * SEC);
}

static void test_connects_and_exchanges_media(void **state)
{
    (void)state;
    sim s;
    sim_setup(&s, 7, 0.0, false);
    run_until(&s, s.now + 5 * SEC);
    assert_true(s.ep[0].connected);
    assert_true(s.ep[1].connected);
    assert_int_equal(pl_peer_state(s.ep[0].peer), PL_PEER_CONNECTED);
    assert_int_equal(pl_peer_state(s.ep[1].peer), PL_PEER_CONNECTED);

    exchange_media(&s);
    /* No loss after the handshake: every packet arrives, decrypted. */
    assert_int_equal(s.ep[0].rtp_received, 50);
    assert_int_equal(s.ep[1].rtp_received, 50);
    assert_int_equal(s.ep[0].rtcp_received, 5);
    assert_int_equal(s.ep[1].rtcp_received, 5);
    assert_int_equal(s.ep[0].last_ssrc, 0x11111111);
    assert_int_equal(s.ep[0].last_seq, 1049);
    assert_memory_equal(s.ep[0].last_payload, "from client", 11);
    assert_memory_equal(s.ep[1].last_payload, "from server", 11);
    assert_int_equal(pl_peer_stats_get(s.ep[0].peer)->dropped_srtp_auth, 0);
    sim_teardown(&s);
}

/* 20% loss on every datagram during the handshake, over several seeds: the
 * retransmission timers (ICE checks from the client, DTLS flights from both
 * sides) must carry the handshake through. */
static void test_recovers_from_handshake_loss(void **state)
{
    (void)state;
    for (uint64_t seed = 1; seed <= 20; seed++) {
        sim s;
        sim_setup(&s, seed, 0.20, false);
        run_until(&s, s.now + 20 * SEC);
        if (!s.ep[0].connected || !s.ep[1].connected)
            fail_msg("seed %llu: server %d client %d connected", (unsigned long long)seed,
                     s.ep[0].connected, s.ep[1].connected);
        assert_true(s.net.dropped > 0);
        /* Media after the lossy handshake, on a clean network. */
        s.net.loss = 0;
        exchange_media(&s);
        assert_int_equal(s.ep[0].rtp_received, 50);
        assert_int_equal(s.ep[1].rtp_received, 50);
        sim_teardown(&s);
    }
}

/* Replayed SRTP from the right address is dropped and counted; nothing is
 * delivered twice. */
static void test_replayed_srtp_is_dropped(void **state)
{
    (void)state;
    sim s;
    sim_setup(&s, 3, 0.0, false);
    run_until(&s, s.now + 5 * SEC);
    assert_true(s.ep[0].connected);
    s.net.duplicate = 1.0; /* every datagram arrives twice */
    send_rtp(&s, &s.ep[1], 0x33333333, 42, "once");
    run_until(&s, s.now + 1 * SEC);
    assert_int_equal(s.ep[0].rtp_received, 1);
    assert_int_equal(pl_peer_stats_get(s.ep[0].peer)->dropped_srtp_replay, 1);
    sim_teardown(&s);
}

/* The server checks the client's certificate against the fingerprint it was
 * given: a mismatch fails the transport and no media is accepted. */
static void test_fingerprint_mismatch_fails(void **state)
{
    (void)state;
    sim s;
    sim_setup(&s, 5, 0.0, true);
    run_until(&s, s.now + 10 * SEC);
    assert_true(s.ep[0].failed);
    assert_false(s.ep[0].connected);
    assert_int_equal(s.ep[0].failed_error, PL_EAUTH);
    assert_int_equal(s.ep[0].failure, PL_FAILURE_FINGERPRINT);
    assert_int_equal(pl_peer_failure(s.ep[0].peer), PL_FAILURE_FINGERPRINT);
    assert_int_equal(pl_peer_state(s.ep[0].peer), PL_PEER_FAILED);
    sim_teardown(&s);
}

/* Garbage of every kind from anywhere is dropped and counted, and the
 * transport keeps working. */
static void test_garbage_is_counted_and_harmless(void **state)
{
    (void)state;
    sim s;
    sim_setup(&s, 9, 0.0, false);
    run_until(&s, s.now + 5 * SEC);
    assert_true(s.ep[0].connected);
    pl_addr stranger;
    pl_addr_set(&stranger, "203.0.113.66", 9999);
    uint8_t junk[200];
    for (int i = 0; i < 500; i++) {
        size_t len = (size_t)(vnet_rand(&s.net) * sizeof(junk));
        for (size_t j = 0; j < len; j++)
            junk[j] = (uint8_t)(vnet_rand(&s.net) * 256);
        /* Alternate plausible first bytes so every demux branch sees junk. */
        static const uint8_t first[] = {0x00, 0x01, 0x16, 0x17, 0x80, 0x90, 0xff};
        if (len)
            junk[0] = first[i % sizeof(first)];
        const pl_addr *from = i % 2 ? &stranger : &s.ep[1].addr;
        pl_peer_handle_datagram(s.ep[0].peer, s.now, from, junk, len);
        drain(&s, &s.ep[0]);
    }
    const pl_peer_stats *st = pl_peer_stats_get(s.ep[0].peer);
    uint64_t drops = st->dropped_unknown + st->dropped_unverified + st->dropped_stun +
                     st->dropped_dtls + st->dropped_srtp_auth + st->dropped_srtp_replay;
    assert_true(drops >= 450);
    assert_int_equal(s.ep[0].rtp_received, 0);
    assert_false(s.ep[0].failed);
    exchange_media(&s);
    assert_int_equal(s.ep[0].rtp_received, 50);
    assert_int_equal(s.ep[1].rtp_received, 50);
    sim_teardown(&s);
}

/* Consent freshness: when the client goes silent the server fails the
 * transport 30 s later (RFC 7675). */
static void test_consent_expires(void **state)
{
    (void)state;
    sim s;
    sim_setup(&s, 11, 0.0, false);
    run_until(&s, s.now + 5 * SEC);
    assert_true(s.ep[0].connected);
    /* Keep-alives flow: nothing fails over a minute. */
    run_until(&s, s.now + 60 * SEC);
    assert_false(s.ep[0].failed);
    assert_false(s.ep[1].failed);
    /* Now the path dies. */
    s.net.loss = 1.0;
    run_until(&s, s.now + 45 * SEC);
    assert_true(s.ep[0].failed);
    assert_true(s.ep[1].failed);
    assert_int_equal(s.ep[0].failure, PL_FAILURE_CONSENT);
    assert_int_equal(s.ep[1].failure, PL_FAILURE_CONSENT);
    sim_teardown(&s);
}

/* A clean close: close_notify reaches the other side. */
static void test_close_notify(void **state)
{
    (void)state;
    sim s;
    sim_setup(&s, 13, 0.0, false);
    run_until(&s, s.now + 5 * SEC);
    pl_peer_close(s.ep[1].peer, s.now);
    run_until(&s, s.now + 1 * SEC);
    assert_int_equal(pl_peer_state(s.ep[1].peer), PL_PEER_CLOSED);
    assert_true(s.ep[0].closed);
    assert_int_equal(pl_peer_state(s.ep[0].peer), PL_PEER_CLOSED);
    sim_teardown(&s);
}

/* ---- what keeps a server transport alive ---- */

static bool from_client(const sim *s, const vnet_packet *p)
{
    return pl_addr_equal(&p->from, &s->ep[1].addr);
}

/* The client's checks (Binding requests, 0x0001) never reach the server:
 * it must live on whatever else arrives. */
static bool drop_client_checks(const sim *s, const vnet_packet *p)
{
    return from_client(s, p) && p->len >= 2 && p->data[0] == 0x00 && p->data[1] == 0x01;
}

static bool drop_client_all(const sim *s, const vnet_packet *p)
{
    return from_client(s, p);
}

static bool drop_client_dtls(const sim *s, const vnet_packet *p)
{
    return from_client(s, p) && p->len > 0 && p->data[0] >= 20 && p->data[0] <= 63;
}

static void send_indication(sim *s, uint8_t seed)
{
    uint8_t tid[12], buf[64];
    memset(tid, seed, sizeof(tid));
    pl_wbuf w = pl_wbuf_make(buf, sizeof(buf));
    pl_stun_begin(&w, PL_STUN_INDICATION, PL_STUN_METHOD_BINDING, tid);
    int n = pl_stun_finish(&w, NULL, 0, true);
    assert_true(n > 0);
    vnet_send(&s->net, s->now, &s->ep[1].addr, &s->ep[0].addr, buf, (size_t)n);
}

/* Connected, with a client that does not give up on its side when its
 * own checks go unanswered (it must keep sending). */
static void connected_sim(sim *s, uint64_t seed)
{
    sim_opts o = {.client_consent_us = 3600 * SEC};
    sim_setup_opts(s, seed, &o);
    run_until(s, s->now + 5 * SEC);
    assert_true(s->ep[0].connected);
    assert_true(s->ep[1].connected);
}

/* Silence from the client from `s->now` on: the server fails for lost
 * consent 30 s after the last thing it accepted, not before. */
static void server_fails_when_silent(sim *s, int64_t last_heard)
{
    s->drop = drop_client_all;
    run_until(s, last_heard + 29 * SEC);
    assert_false(s->ep[0].failed);
    run_until(s, last_heard + 31 * SEC);
    assert_true(s->ep[0].failed);
    assert_int_equal(s->ep[0].failure, PL_FAILURE_CONSENT);
    assert_int_equal(pl_peer_next_timeout(s->ep[0].peer), INT64_MAX);
}

/* A client that, once connected, sends nothing but Binding indications
 * (libnice keeps its pair alive with these, every 25 s) keeps the server
 * up for as long as it sends them. */
static void test_indications_alone_keep_server_up(void **state)
{
    (void)state;
    sim s;
    connected_sim(&s, 31);
    s.drop = drop_client_checks;
    int64_t start = s.now, last = s.now;
    for (uint8_t i = 1; s.now - start < 100 * SEC; i++) {
        send_indication(&s, i);
        last = s.now + s.net.delay_us + s.net.jitter_us;
        run_until(&s, s.now + 25 * SEC);
    }
    assert_false(s.ep[0].failed);
    assert_int_equal(pl_peer_state(s.ep[0].peer), PL_PEER_CONNECTED);
    assert_true(s.filtered > 0); /* the client's own checks were there, and lost */
    server_fails_when_silent(&s, last);
    sim_teardown(&s);
}

/* A client that sends only SRTP (no STUN after connecting), or only
 * SRTCP, keeps the server up; silence then ends it. */
static void test_media_alone_keeps_server_up(void **state)
{
    (void)state;
    for (int rtcp = 0; rtcp <= 1; rtcp++) {
        sim s;
        connected_sim(&s, 33 + (uint64_t)rtcp);
        s.drop = drop_client_checks;
        int64_t start = s.now, last = s.now;
        for (uint16_t i = 0; s.now - start < 70 * SEC; i++) {
            if (rtcp)
                send_rtcp_rr(&s, &s.ep[1], 0x11111111);
            else
                send_rtp(&s, &s.ep[1], 0x11111111, i, "media only");
            last = s.now + s.net.delay_us + s.net.jitter_us;
            run_until(&s, s.now + (rtcp ? 5 * SEC : 100000));
        }
        assert_false(s.ep[0].failed);
        if (rtcp)
            assert_true(s.ep[0].rtcp_received >= 14);
        else
            assert_true(s.ep[0].rtp_received >= 700);
        server_fails_when_silent(&s, last);
        sim_teardown(&s);
    }
}

/* SRTP that fails authentication is no sign of life. */
static void test_forged_media_is_not_consent(void **state)
{
    (void)state;
    sim s;
    connected_sim(&s, 35);
    s.drop = drop_client_checks;
    int64_t start = s.now;
    while (!s.ep[0].failed && s.now - start < 60 * SEC) {
        uint8_t pkt[64] = {0x80, 96, 0, 1, 0, 0, 0, 1, 0x11, 0x11, 0x11, 0x11};
        vnet_send(&s.net, s.now, &s.ep[1].addr, &s.ep[0].addr, pkt, sizeof(pkt));
        run_until(&s, s.now + SEC);
    }
    assert_true(s.ep[0].failed);
    assert_int_equal(s.ep[0].failure, PL_FAILURE_CONSENT);
    assert_true(pl_peer_stats_get(s.ep[0].peer)->dropped_srtp_auth >= 25);
    sim_teardown(&s);
}

/* ---- why a transport failed ---- */

/* Nobody ever checks: the connect window closes on "no check". */
static void test_failure_no_check(void **state)
{
    (void)state;
    sim s;
    sim_opts o = {.client_silent = true};
    sim_setup_opts(&s, 41, &o);
    int64_t start = s.now;
    run_until(&s, start + 40 * SEC);
    assert_true(s.ep[0].failed);
    assert_int_equal(s.ep[0].failure, PL_FAILURE_NO_CHECK);
    assert_int_equal(s.ep[0].failed_at, start + 30 * SEC);
    sim_teardown(&s);
}

/* ICE completes but the client's DTLS never arrives. */
static void test_failure_dtls_timeout(void **state)
{
    (void)state;
    sim s;
    sim_setup(&s, 43, 0.0, false);
    s.drop = drop_client_dtls;
    int64_t start = s.now;
    run_until(&s, start + 40 * SEC);
    assert_true(s.ep[0].failed);
    assert_false(s.ep[0].connected);
    assert_int_equal(s.ep[0].failure, PL_FAILURE_DTLS_TIMEOUT);
    assert_true(s.filtered > 0); /* the client's flights, retransmitted and lost */
    sim_teardown(&s);
}

/* No DTLS-SRTP profile in common: both sides say so. */
static void test_failure_srtp_profile(void **state)
{
    (void)state;
    static const enum pl_srtp_profile cm[] = {PL_SRTP_AES128_CM_SHA1_80};
    static const enum pl_srtp_profile gcm[] = {PL_SRTP_AEAD_AES_128_GCM};
    sim s;
    sim_opts o = {.server_profiles = cm,
                  .n_server_profiles = 1,
                  .client_profiles = gcm,
                  .n_client_profiles = 1};
    sim_setup_opts(&s, 45, &o);
    run_until(&s, s.now + 10 * SEC);
    assert_true(s.ep[0].failed);
    assert_true(s.ep[1].failed);
    assert_int_equal(s.ep[0].failure, PL_FAILURE_SRTP_PROFILE);
    assert_int_equal(s.ep[1].failure, PL_FAILURE_SRTP_PROFILE);
    sim_teardown(&s);
}

/* A fatal alert (handshake_failure) from the client's address in the
 * middle of the handshake. */
static void test_failure_dtls_alert(void **state)
{
    (void)state;
    sim s;
    sim_setup(&s, 47, 0.0, false);
    s.drop = drop_client_dtls; /* the client's own flights are lost... */
    run_until(&s, s.now + 2 * SEC);
    assert_false(s.ep[0].failed);
    /* ...and an alert arrives instead: DTLS 1.2, epoch 0, level fatal,
     * handshake_failure (RFC 5246 7.2). */
    static const uint8_t alert[] = {21, 0xfe, 0xfd, 0, 0, 0, 0, 0, 0, 0, 9, 0, 2, 2, 40};
    s.drop = NULL;
    vnet_send(&s.net, s.now, &s.ep[1].addr, &s.ep[0].addr, alert, sizeof(alert));
    run_until(&s, s.now + 1 * SEC);
    assert_true(s.ep[0].failed);
    assert_int_equal(s.ep[0].failure, PL_FAILURE_DTLS_ALERT);
    sim_teardown(&s);
}

/* ---- DTLS-SRTP profiles in both DTLS roles ---- */

/* Each profile, with the server DTLS passive (its answers) and active (a
 * client that answered its actpass offer passive): the handshake completes,
 * both sides agree on the profile, and media flows both ways. A stack
 * without GCM (offering only AES128_CM_SHA1_80, as GStreamer 1.22 does)
 * gets CM; everyone else gets the server's preference, GCM. */
static void test_profiles_in_both_roles(void **state)
{
    (void)state;
    static const enum pl_srtp_profile cm_only[] = {PL_SRTP_AES128_CM_SHA1_80};
    for (int server_active = 0; server_active <= 1; server_active++) {
        for (int no_gcm = 0; no_gcm <= 1; no_gcm++) {
            sim s;
            sim_opts o = {0};
            if (server_active) {
                o.server_dtls = PL_PEER_DTLS_ACTIVE;
                o.client_dtls = PL_PEER_DTLS_PASSIVE;
            }
            if (no_gcm) {
                o.client_profiles = cm_only;
                o.n_client_profiles = 1;
            }
            sim_setup_opts(&s, 50 + (uint64_t)(2 * server_active + no_gcm), &o);
            run_until(&s, s.now + 5 * SEC);
            if (!s.ep[0].connected || !s.ep[1].connected)
                fail_msg("server %s, client %s: connected %d %d (failures %s, %s)",
                         server_active ? "active" : "passive", no_gcm ? "CM only" : "default",
                         s.ep[0].connected, s.ep[1].connected, pl_failure_name(s.ep[0].failure),
                         pl_failure_name(s.ep[1].failure));
            /* The DTLS client is the side asked for. */
            assert_true(s.ep[server_active ? 0 : 1].client_hellos > 0);
            assert_int_equal(s.ep[server_active ? 1 : 0].client_hellos, 0);
            enum pl_srtp_profile want =
                no_gcm ? PL_SRTP_AES128_CM_SHA1_80 : PL_SRTP_AEAD_AES_128_GCM;
            assert_int_equal(pl_peer_srtp_profile(s.ep[0].peer), want);
            assert_int_equal(pl_peer_srtp_profile(s.ep[1].peer), want);
            exchange_media(&s);
            assert_int_equal(s.ep[0].rtp_received, 50);
            assert_int_equal(s.ep[1].rtp_received, 50);
            assert_int_equal(s.ep[0].rtcp_received, 5);
            assert_int_equal(s.ep[1].rtcp_received, 5);
            assert_memory_equal(s.ep[0].last_payload, "from client", 11);
            assert_memory_equal(s.ep[1].last_payload, "from server", 11);
            assert_int_equal(pl_peer_stats_get(s.ep[0].peer)->dropped_srtp_auth, 0);
            assert_int_equal(pl_peer_stats_get(s.ep[1].peer)->dropped_srtp_auth, 0);
            sim_teardown(&s);
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_connects_and_exchanges_media),
        cmocka_unit_test(test_recovers_from_handshake_loss),
        cmocka_unit_test(test_replayed_srtp_is_dropped),
        cmocka_unit_test(test_fingerprint_mismatch_fails),
        cmocka_unit_test(test_garbage_is_counted_and_harmless),
        cmocka_unit_test(test_consent_expires),
        cmocka_unit_test(test_close_notify),
        cmocka_unit_test(test_indications_alone_keep_server_up),
        cmocka_unit_test(test_media_alone_keeps_server_up),
        cmocka_unit_test(test_forged_media_is_not_consent),
        cmocka_unit_test(test_failure_no_check),
        cmocka_unit_test(test_failure_dtls_timeout),
        cmocka_unit_test(test_failure_srtp_profile),
        cmocka_unit_test(test_failure_dtls_alert),
        cmocka_unit_test(test_profiles_in_both_roles),
    };
    return cmocka_run_group_tests_name("sim_handshake", tests, NULL, NULL);
}
