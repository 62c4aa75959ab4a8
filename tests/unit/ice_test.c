#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "parley/ice.h"
#include "parley/stun.h"

#define SEC 1000000LL

typedef struct pair {
    uint64_t rs, rc;
    pl_env es, ec;
    pl_ice *server, *client;
    pl_addr saddr, caddr;
} pair;

static void pair_init(pair *p, uint64_t seed)
{
    memset(p, 0, sizeof(*p));
    p->es = pl_env_seeded(&p->rs, seed);
    p->ec = pl_env_seeded(&p->rc, seed + 100);
    pl_ice_config sc = {.role = PL_ICE_LITE};
    pl_ice_config cc = {.role = PL_ICE_CONTROLLING};
    p->server = pl_ice_create(&p->es, &sc);
    p->client = pl_ice_create(&p->ec, &cc);
    assert_non_null(p->server);
    assert_non_null(p->client);
    pl_addr_set(&p->saddr, "192.0.2.1", 40000);
    pl_addr_set(&p->caddr, "198.51.100.2", 50000);
    assert_int_equal(
        pl_ice_set_remote(p->server, pl_ice_local_ufrag(p->client), pl_ice_local_pwd(p->client)),
        0);
    assert_int_equal(
        pl_ice_set_remote(p->client, pl_ice_local_ufrag(p->server), pl_ice_local_pwd(p->server)),
        0);
    assert_int_equal(pl_ice_add_remote_candidate(p->client, &p->saddr), 0);
}

static void pair_free(pair *p)
{
    pl_ice_destroy(p->server);
    pl_ice_destroy(p->client);
}

/* Moves every queued datagram across; `drop_every` > 0 loses every Nth.
 * Returns how many were delivered. */
static int shuttle(pair *p, int64_t now, int drop_every, const pl_addr *client_from)
{
    uint8_t buf[512];
    pl_addr to;
    int n, delivered = 0, k = 0;
    bool moved = true;
    while (moved) {
        moved = false;
        while ((n = pl_ice_poll_transmit(p->client, buf, sizeof(buf), &to)) > 0) {
            moved = true;
            assert_true(pl_addr_equal(&to, &p->saddr));
            if (drop_every && ++k % drop_every == 0)
                continue;
            pl_ice_handle_stun(p->server, now, client_from, buf, (size_t)n);
            delivered++;
        }
        while ((n = pl_ice_poll_transmit(p->server, buf, sizeof(buf), &to)) > 0) {
            moved = true;
            if (!pl_addr_equal(&to, &p->caddr))
                continue; /* the client no longer lives at that address */
            pl_ice_handle_stun(p->client, now, &p->saddr, buf, (size_t)n);
            delivered++;
        }
    }
    return delivered;
}

/* Both sides start at `now` and the first check gets through. */
static void connect_pair(pair *p, int64_t now)
{
    pl_ice_start(p->server, now);
    pl_ice_start(p->client, now);
    pl_ice_handle_timeout(p->client, now);
    shuttle(p, now, 0, &p->caddr);
}

static void test_generated_credentials(void **state)
{
    (void)state;
    pair p;
    pair_init(&p, 1);
    assert_int_equal(strlen(pl_ice_local_ufrag(p.server)), 8);
    assert_int_equal(strlen(pl_ice_local_pwd(p.server)), 24);
    assert_string_not_equal(pl_ice_local_ufrag(p.server), pl_ice_local_ufrag(p.client));
    pl_ice_config bad = {.role = PL_ICE_LITE, .ufrag = "ab", .pwd = NULL};
    assert_null(pl_ice_create(&p.es, &bad));
    assert_int_equal(pl_ice_set_remote(p.server, "abcd", "short"), PL_EINVAL);
    assert_int_equal(pl_ice_set_remote(p.server, "ab:d", "0123456789012345678901"), PL_EINVAL);
    pair_free(&p);
}

static void test_connects(void **state)
{
    (void)state;
    pair p;
    pair_init(&p, 2);
    int64_t now = 10 * SEC;
    assert_int_equal(pl_ice_start(p.server, now), 0);
    assert_int_equal(pl_ice_start(p.client, now), 0);
    assert_int_equal(pl_ice_next_timeout(p.client), now);
    pl_ice_handle_timeout(p.client, now);
    shuttle(&p, now, 0, &p.caddr);
    assert_int_equal(pl_ice_state(p.server), PL_ICE_CONNECTED);
    assert_int_equal(pl_ice_state(p.client), PL_ICE_CONNECTED);
    pl_addr sel;
    assert_true(pl_ice_selected(p.server, &sel));
    assert_true(pl_addr_equal(&sel, &p.caddr));
    assert_true(pl_ice_selected(p.client, &sel));
    assert_true(pl_addr_equal(&sel, &p.saddr));
    assert_true(pl_ice_is_validated(p.server, &p.caddr));
    assert_int_equal(pl_ice_stats_get(p.server)->requests_ok, 1);
    assert_int_equal(pl_ice_stats_get(p.client)->responses_ok, 1);
    pair_free(&p);
}

/* ICE-TCP: the client's path is a TCP connection. The same address and
 * port over UDP is another path (never validated by the TCP check); the
 * connection closing fails the agent at once, as lost consent, while a
 * path that is not the selected one closing changes nothing. */
static void test_tcp_path_closed(void **state)
{
    (void)state;
    pair p;
    pair_init(&p, 21);
    pl_addr tcp = p.caddr;
    tcp.tcp = true;
    p.caddr = tcp;
    connect_pair(&p, 10 * SEC);
    assert_int_equal(pl_ice_state(p.server), PL_ICE_CONNECTED);
    pl_addr udp = tcp, sel;
    udp.tcp = false;
    assert_false(pl_addr_equal(&udp, &tcp));
    assert_true(pl_ice_is_validated(p.server, &tcp));
    assert_false(pl_ice_is_validated(p.server, &udp));
    assert_true(pl_ice_selected(p.server, &sel));
    assert_true(sel.tcp);
    pl_ice_path_closed(p.server, &udp);
    assert_int_equal(pl_ice_state(p.server), PL_ICE_CONNECTED);
    pl_ice_path_closed(p.server, &tcp);
    assert_int_equal(pl_ice_state(p.server), PL_ICE_FAILED);
    assert_int_equal(pl_ice_failure(p.server), PL_ICE_FAIL_CONSENT);
    assert_false(pl_ice_is_validated(p.server, &tcp));
    pair_free(&p);
}

/* Lost checks are retransmitted with a doubling RTO, on the caller's clock. */
static void test_retransmission_timing(void **state)
{
    (void)state;
    pair p;
    pair_init(&p, 3);
    int64_t now = 0;
    pl_ice_start(p.server, now);
    pl_ice_start(p.client, now);
    uint8_t buf[512];
    pl_addr to;
    int64_t sends[6];
    for (int i = 0; i < 6; i++) {
        now = pl_ice_next_timeout(p.client);
        pl_ice_handle_timeout(p.client, now);
        assert_true(pl_ice_poll_transmit(p.client, buf, sizeof(buf), &to) > 0); /* lost */
        sends[i] = now;
    }
    assert_int_equal(sends[1] - sends[0], 250000);
    assert_int_equal(sends[2] - sends[1], 500000);
    assert_int_equal(sends[3] - sends[2], 1000000);
    assert_int_equal(sends[4] - sends[3], 2000000);
    assert_int_equal(sends[5] - sends[4], 3000000); /* capped */
    assert_int_equal(pl_ice_stats_get(p.client)->retransmits, 5);
    /* The next one gets through. */
    now = pl_ice_next_timeout(p.client);
    pl_ice_handle_timeout(p.client, now);
    shuttle(&p, now, 0, &p.caddr);
    assert_int_equal(pl_ice_state(p.client), PL_ICE_CONNECTED);
    pair_free(&p);
}

static void test_connect_timeout(void **state)
{
    (void)state;
    pair p;
    pair_init(&p, 4);
    pl_ice_start(p.server, 0);
    pl_ice_start(p.client, 0);
    uint8_t buf[512];
    pl_addr to;
    int64_t now = 0;
    while (pl_ice_state(p.client) == PL_ICE_CHECKING) {
        now = pl_ice_next_timeout(p.client);
        assert_true(now <= 30 * SEC);
        pl_ice_handle_timeout(p.client, now);
        while (pl_ice_poll_transmit(p.client, buf, sizeof(buf), &to) > 0) {
        }
    }
    assert_int_equal(pl_ice_state(p.client), PL_ICE_FAILED);
    assert_int_equal(pl_ice_failure(p.client), PL_ICE_FAIL_NO_CHECK);
    assert_int_equal(now, 30 * SEC);
    assert_int_equal(pl_ice_failure(p.server), PL_ICE_FAIL_NONE);
    pl_ice_handle_timeout(p.server, 30 * SEC);
    assert_int_equal(pl_ice_state(p.server), PL_ICE_FAILED);
    assert_int_equal(pl_ice_failure(p.server), PL_ICE_FAIL_NO_CHECK);
    pair_free(&p);
}

/* Right ufrag, wrong password: 401, no selection, no validation. */
static void test_wrong_password_gets_401(void **state)
{
    (void)state;
    pair p;
    pair_init(&p, 5);
    pl_ice_start(p.server, 0);
    pl_addr attacker;
    pl_addr_set(&attacker, "203.0.113.9", 6666);
    uint8_t tid[12] = {9};
    uint8_t req[256];
    pl_wbuf w = pl_wbuf_make(req, sizeof(req));
    char user[64];
    snprintf(user, sizeof(user), "%s:evil", pl_ice_local_ufrag(p.server));
    pl_stun_begin(&w, PL_STUN_REQUEST, PL_STUN_METHOD_BINDING, tid);
    pl_stun_add_bytes(&w, PL_STUN_ATTR_USERNAME, user, strlen(user));
    pl_stun_add_u64(&w, PL_STUN_ATTR_ICE_CONTROLLING, 1);
    pl_stun_add_flag(&w, PL_STUN_ATTR_USE_CANDIDATE);
    int n = pl_stun_finish(&w, (const uint8_t *)"not-the-password-at-all", 23, true);
    assert_int_equal(pl_ice_handle_stun(p.server, 1, &attacker, req, (size_t)n), PL_EAUTH);
    uint8_t out[256];
    pl_addr to;
    int m = pl_ice_poll_transmit(p.server, out, sizeof(out), &to);
    assert_true(m > 0);
    assert_true(pl_addr_equal(&to, &attacker));
    pl_stun_msg resp;
    assert_int_equal(pl_stun_decode(&resp, out, (size_t)m), 0);
    assert_int_equal(resp.cls, PL_STUN_ERROR);
    assert_int_equal(resp.error_code, 401);
    assert_memory_equal(resp.tid, tid, 12);
    assert_false(pl_ice_selected(p.server, NULL));
    assert_false(pl_ice_is_validated(p.server, &attacker));
    assert_int_equal(pl_ice_state(p.server), PL_ICE_CHECKING);
    assert_int_equal(pl_ice_stats_get(p.server)->rejected_auth, 1);

    /* Another transport's ufrag: dropped silently. */
    w = pl_wbuf_make(req, sizeof(req));
    pl_stun_begin(&w, PL_STUN_REQUEST, PL_STUN_METHOD_BINDING, tid);
    pl_stun_add_bytes(&w, PL_STUN_ATTR_USERNAME, "zzzz:evil", 9);
    n = pl_stun_finish(&w, (const uint8_t *)"x", 1, true);
    assert_int_equal(pl_ice_handle_stun(p.server, 1, &attacker, req, (size_t)n), PL_EAUTH);
    assert_int_equal(pl_ice_poll_transmit(p.server, out, sizeof(out), &to), PL_EAGAIN);
    assert_int_equal(pl_ice_stats_get(p.server)->dropped_ufrag, 1);

    /* No credentials at all: 400. */
    w = pl_wbuf_make(req, sizeof(req));
    pl_stun_begin(&w, PL_STUN_REQUEST, PL_STUN_METHOD_BINDING, tid);
    n = pl_stun_finish(&w, NULL, 0, true);
    assert_int_equal(pl_ice_handle_stun(p.server, 1, &attacker, req, (size_t)n), PL_EAUTH);
    m = pl_ice_poll_transmit(p.server, out, sizeof(out), &to);
    assert_int_equal(pl_stun_decode(&resp, out, (size_t)m), 0);
    assert_int_equal(resp.error_code, 400);
    pair_free(&p);
}

/* A nomination from a new address (the client's network changed) moves the
 * selected address; consent then follows the new address. */
static void test_nomination_moves_selection(void **state)
{
    (void)state;
    pair p;
    pair_init(&p, 6);
    int64_t now = 0;
    connect_pair(&p, now);
    assert_int_equal(pl_ice_stats_get(p.server)->selections, 1);

    /* The client restarts its checks from a new address (same credentials). */
    pl_addr moved;
    pl_addr_set(&moved, "198.51.100.99", 50002);
    pl_ice_config cc = {.role = PL_ICE_CONTROLLING,
                        .ufrag = pl_ice_local_ufrag(p.client),
                        .pwd = pl_ice_local_pwd(p.client)};
    pl_ice *again = pl_ice_create(&p.ec, &cc);
    pl_ice_set_remote(again, pl_ice_local_ufrag(p.server), pl_ice_local_pwd(p.server));
    pl_ice_add_remote_candidate(again, &p.saddr);
    pl_ice_destroy(p.client);
    p.client = again;
    p.caddr = moved;
    now += 2 * SEC;
    pl_ice_start(p.client, now);
    pl_ice_handle_timeout(p.client, now);
    shuttle(&p, now, 0, &moved);
    pl_addr sel;
    assert_true(pl_ice_selected(p.server, &sel));
    assert_true(pl_addr_equal(&sel, &moved));
    assert_int_equal(pl_ice_stats_get(p.server)->selections, 2);
    assert_int_equal(pl_ice_state(p.client), PL_ICE_CONNECTED);
    pair_free(&p);
}

/* Consent: keepalives keep both sides up; silence fails both after 30 s. */
static void test_consent_freshness(void **state)
{
    (void)state;
    pair p;
    pair_init(&p, 7);
    int64_t now = 0;
    connect_pair(&p, now);
    int keepalives = 0;
    while (now < 120 * SEC) {
        int64_t t = pl_ice_next_timeout(p.client);
        int64_t ts = pl_ice_next_timeout(p.server);
        now = t < ts ? t : ts;
        pl_ice_handle_timeout(p.client, now);
        pl_ice_handle_timeout(p.server, now);
        keepalives += shuttle(&p, now, 0, &p.caddr) > 0;
    }
    assert_int_equal(pl_ice_state(p.server), PL_ICE_CONNECTED);
    assert_int_equal(pl_ice_state(p.client), PL_ICE_CONNECTED);
    /* Every 4-6 s over two minutes. */
    assert_true(keepalives >= 20 && keepalives <= 30);

    /* The path dies: everything sent is lost from now on. */
    int64_t dead_at = now;
    uint8_t buf[512];
    pl_addr to;
    while (pl_ice_state(p.server) == PL_ICE_CONNECTED ||
           pl_ice_state(p.client) == PL_ICE_CONNECTED) {
        int64_t t = pl_ice_next_timeout(p.client);
        int64_t ts = pl_ice_next_timeout(p.server);
        now = t < ts ? t : ts;
        assert_true(now - dead_at <= 31 * SEC);
        pl_ice_handle_timeout(p.client, now);
        pl_ice_handle_timeout(p.server, now);
        while (pl_ice_poll_transmit(p.client, buf, sizeof(buf), &to) > 0) {
        }
    }
    assert_int_equal(pl_ice_state(p.server), PL_ICE_FAILED);
    assert_int_equal(pl_ice_state(p.client), PL_ICE_FAILED);
    assert_int_equal(pl_ice_failure(p.server), PL_ICE_FAIL_CONSENT);
    assert_int_equal(pl_ice_failure(p.client), PL_ICE_FAIL_CONSENT);
    assert_true(now - dead_at >= 24 * SEC);
    pair_free(&p);
}

/* A peer claiming the controlled role against a lite agent is told 487. */
static void test_role_conflict(void **state)
{
    (void)state;
    pair p;
    pair_init(&p, 8);
    pl_ice_start(p.server, 0);
    uint8_t req[256], out[256];
    uint8_t tid[12] = {1};
    char user[64];
    snprintf(user, sizeof(user), "%s:%s", pl_ice_local_ufrag(p.server),
             pl_ice_local_ufrag(p.client));
    pl_wbuf w = pl_wbuf_make(req, sizeof(req));
    pl_stun_begin(&w, PL_STUN_REQUEST, PL_STUN_METHOD_BINDING, tid);
    pl_stun_add_bytes(&w, PL_STUN_ATTR_USERNAME, user, strlen(user));
    pl_stun_add_u64(&w, PL_STUN_ATTR_ICE_CONTROLLED, 5);
    const char *pwd = pl_ice_local_pwd(p.server);
    int n = pl_stun_finish(&w, (const uint8_t *)pwd, strlen(pwd), true);
    assert_int_equal(pl_ice_handle_stun(p.server, 0, &p.caddr, req, (size_t)n), PL_ESTATE);
    pl_addr to;
    int m = pl_ice_poll_transmit(p.server, out, sizeof(out), &to);
    pl_stun_msg resp;
    assert_int_equal(pl_stun_decode(&resp, out, (size_t)m), 0);
    assert_int_equal(resp.error_code, 487);
    assert_int_equal(pl_stun_check_integrity(&resp, (const uint8_t *)pwd, strlen(pwd)), 0);
    assert_false(pl_ice_selected(p.server, NULL));
    pair_free(&p);
}

static void test_garbage_and_forged_responses(void **state)
{
    (void)state;
    pair p;
    pair_init(&p, 9);
    pl_ice_start(p.server, 0);
    pl_ice_start(p.client, 0);
    pl_ice_handle_timeout(p.client, 0);
    uint8_t junk[300];
    uint64_t r = 12345;
    for (int i = 0; i < 2000; i++) {
        size_t len = (size_t)(i % (int)sizeof(junk));
        for (size_t j = 0; j < len; j++) {
            r = r * 6364136223846793005ULL + 1442695040888963407ULL;
            junk[j] = (uint8_t)(r >> 56);
        }
        if (len >= 8 && i % 2) { /* make half of them look like STUN */
            junk[0] = 0x01;
            junk[1] = 0x01;
            pl_put_u16(junk + 2, (uint16_t)((len - 20) & ~3u));
            pl_put_u32(junk + 4, PL_STUN_MAGIC);
        }
        assert_true(pl_ice_handle_stun(p.server, 0, &p.caddr, junk, len) < 0);
        assert_true(pl_ice_handle_stun(p.client, 0, &p.saddr, junk, len) < 0);
    }
    assert_false(pl_ice_selected(p.server, NULL));
    assert_int_equal(pl_ice_state(p.client), PL_ICE_CHECKING);
    /* A success response with the right transaction id but forged integrity. */
    uint8_t buf[512];
    pl_addr to;
    int n = pl_ice_poll_transmit(p.client, buf, sizeof(buf), &to);
    pl_stun_msg req;
    assert_int_equal(pl_stun_decode(&req, buf, (size_t)n), 0);
    pl_wbuf w = pl_wbuf_make(junk, sizeof(junk));
    pl_stun_begin(&w, PL_STUN_SUCCESS, PL_STUN_METHOD_BINDING, req.tid);
    pl_stun_add_xor_address(&w, PL_STUN_ATTR_XOR_MAPPED_ADDRESS, req.tid, &p.caddr);
    n = pl_stun_finish(&w, (const uint8_t *)"guessed-password-guessed", 24, true);
    assert_int_equal(pl_ice_handle_stun(p.client, 0, &p.saddr, junk, (size_t)n), PL_EAUTH);
    assert_int_equal(pl_ice_state(p.client), PL_ICE_CHECKING);
    pair_free(&p);
}

/* ICE restart: new credentials on both sides. Checks with the old ones are
 * no longer answered; the pair in use stays selected (media keeps flowing)
 * until a check with the new ones nominates, here from a new address. */
static void test_ice_restart(void **state)
{
    (void)state;
    pair p;
    pair_init(&p, 8);
    int64_t now = 10 * SEC;
    connect_pair(&p, now);
    assert_int_equal(pl_ice_state(p.server), PL_ICE_CONNECTED);

    pl_ice_config cc = {
        .role = PL_ICE_CONTROLLING, .ufrag = "newC", .pwd = "clientPasswordNumber2xx"};
    pl_ice *fresh = pl_ice_create(&p.ec, &cc);
    assert_non_null(fresh);
    assert_int_equal(pl_ice_restart(p.server, now, "short", "x", "newC", "clientPasswordNumber2xx"),
                     PL_EINVAL);
    assert_int_equal(pl_ice_restart(p.client, now, "newS", "serverPasswordNumber2xx", "newC",
                                    "clientPasswordNumber2xx"),
                     PL_EUNSUPPORTED);
    assert_int_equal(pl_ice_restart(p.server, now, "newS", "serverPasswordNumber2xx", "newC",
                                    "clientPasswordNumber2xx"),
                     PL_OK);
    assert_string_equal(pl_ice_local_ufrag(p.server), "newS");
    pl_addr sel;
    assert_true(pl_ice_selected(p.server, &sel));
    assert_true(pl_addr_equal(&sel, &p.caddr));
    assert_int_equal(pl_ice_state(p.server), PL_ICE_CONNECTED);

    /* The old client's next consent check carries the old credentials. */
    now += 6 * SEC;
    pl_ice_handle_timeout(p.client, now);
    shuttle(&p, now, 0, &p.caddr);
    assert_int_equal(pl_ice_stats_get(p.server)->dropped_ufrag, 1);
    assert_int_equal(pl_ice_stats_get(p.server)->requests_ok, 1);

    /* The restarted client, on another network, nominates. */
    pl_ice_destroy(p.client);
    p.client = fresh;
    pl_addr_set(&p.caddr, "198.51.100.7", 50007);
    assert_int_equal(pl_ice_set_remote(fresh, "newS", "serverPasswordNumber2xx"), 0);
    assert_int_equal(pl_ice_add_remote_candidate(fresh, &p.saddr), 0);
    pl_ice_start(fresh, now);
    pl_ice_handle_timeout(fresh, now);
    shuttle(&p, now, 0, &p.caddr);
    assert_int_equal(pl_ice_state(fresh), PL_ICE_CONNECTED);
    assert_true(pl_ice_selected(p.server, &sel));
    assert_true(pl_addr_equal(&sel, &p.caddr));
    assert_int_equal(pl_ice_stats_get(p.server)->requests_ok, 2);
    /* Consent now comes from the restarted side: 30 s on, still connected. */
    for (int i = 0; i < 8; i++) {
        now += 5 * SEC;
        pl_ice_handle_timeout(fresh, now);
        pl_ice_handle_timeout(p.server, now);
        shuttle(&p, now, 0, &p.caddr);
    }
    assert_int_equal(pl_ice_state(p.server), PL_ICE_CONNECTED);
    pair_free(&p);
}

/* A restart asked for over signaling counts as consent: a client whose
 * path was dead for 25 s gets a full period to check with new credentials. */
static void test_restart_refreshes_consent(void **state)
{
    (void)state;
    pair p;
    pair_init(&p, 9);
    int64_t now = 10 * SEC;
    connect_pair(&p, now);
    assert_int_equal(pl_ice_state(p.server), PL_ICE_CONNECTED);
    now += 25 * SEC;
    assert_int_equal(pl_ice_restart(p.server, now, "newS", "serverPasswordNumber2xx", "newC",
                                    "clientPasswordNumber2xx"),
                     PL_OK);
    pl_ice_handle_timeout(p.server, now + 29 * SEC);
    assert_int_equal(pl_ice_state(p.server), PL_ICE_CONNECTED);
    pl_ice_handle_timeout(p.server, now + 30 * SEC);
    assert_int_equal(pl_ice_state(p.server), PL_ICE_FAILED);
    assert_int_equal(pl_ice_restart(p.server, now, "newS", "serverPasswordNumber2xx", "newC",
                                    "clientPasswordNumber2xx"),
                     PL_ESTATE);
    pair_free(&p);
}

/* A Binding indication as libnice sends one to keep a pair alive: no
 * credentials, a FINGERPRINT. */
static size_t indication(uint8_t *out, size_t cap, uint8_t seed)
{
    uint8_t tid[12];
    memset(tid, seed, sizeof(tid));
    pl_wbuf w = pl_wbuf_make(out, cap);
    pl_stun_begin(&w, PL_STUN_INDICATION, PL_STUN_METHOD_BINDING, tid);
    int n = pl_stun_finish(&w, NULL, 0, true);
    assert_true(n > 0);
    return (size_t)n;
}

/* The client's check with its credentials, nominating or not. */
static size_t client_check(const pair *p, uint8_t *out, size_t cap, uint8_t seed, bool nominate)
{
    uint8_t tid[12];
    memset(tid, seed, sizeof(tid));
    char user[2 * PL_ICE_UFRAG_MAX + 2];
    snprintf(user, sizeof(user), "%s:%s", pl_ice_local_ufrag(p->server),
             pl_ice_local_ufrag(p->client));
    pl_wbuf w = pl_wbuf_make(out, cap);
    pl_stun_begin(&w, PL_STUN_REQUEST, PL_STUN_METHOD_BINDING, tid);
    pl_stun_add_bytes(&w, PL_STUN_ATTR_USERNAME, user, strlen(user));
    pl_stun_add_u32(&w, PL_STUN_ATTR_PRIORITY, 1);
    pl_stun_add_u64(&w, PL_STUN_ATTR_ICE_CONTROLLING, 1);
    if (nominate)
        pl_stun_add_flag(&w, PL_STUN_ATTR_USE_CANDIDATE);
    const char *pwd = pl_ice_local_pwd(p->server);
    int n = pl_stun_finish(&w, (const uint8_t *)pwd, strlen(pwd), true);
    assert_true(n > 0);
    return (size_t)n;
}

static void drain_server(pair *p)
{
    uint8_t buf[512];
    pl_addr to;
    while (pl_ice_poll_transmit(p->server, buf, sizeof(buf), &to) > 0) {
    }
}

/* Runs the lite side's timers up to `until`. */
static void server_until(pair *p, int64_t until)
{
    while (pl_ice_state(p->server) != PL_ICE_FAILED && pl_ice_next_timeout(p->server) <= until)
        pl_ice_handle_timeout(p->server, pl_ice_next_timeout(p->server));
}

/* A client that, once connected, only sends Binding indications from the
 * selected address (libnice's keepalive, every 25 s by default) stays up
 * well past the 30 s consent period. Indications from elsewhere are no
 * consent, and silence fails the transport 30 s after the last one. */
static void test_indications_keep_consent(void **state)
{
    (void)state;
    pair p;
    pair_init(&p, 21);
    int64_t now = 0;
    connect_pair(&p, now);
    assert_int_equal(pl_ice_state(p.server), PL_ICE_CONNECTED);
    uint8_t buf[128];
    for (int i = 1; i <= 8; i++) {
        now = i * 25 * SEC;
        server_until(&p, now);
        size_t n = indication(buf, sizeof(buf), (uint8_t)i);
        assert_int_equal(pl_ice_handle_stun(p.server, now, &p.caddr, buf, n), 0);
        assert_int_equal(pl_ice_poll_transmit(p.server, buf, sizeof(buf), &(pl_addr){0}),
                         PL_EAGAIN); /* indications are not answered */
    }
    assert_int_equal(pl_ice_state(p.server), PL_ICE_CONNECTED);
    assert_int_equal(pl_ice_stats_get(p.server)->indications, 8);

    /* From now on indications come only from another address. */
    pl_addr other;
    pl_addr_set(&other, "198.51.100.2", 50001);
    int64_t last = now;
    for (int i = 1; pl_ice_state(p.server) == PL_ICE_CONNECTED; i++) {
        now = last + i * 5 * SEC;
        server_until(&p, now);
        if (pl_ice_state(p.server) != PL_ICE_CONNECTED)
            break;
        size_t n = indication(buf, sizeof(buf), (uint8_t)(100 + i));
        pl_ice_handle_stun(p.server, now, &other, buf, n);
    }
    assert_int_equal(pl_ice_failure(p.server), PL_ICE_FAIL_CONSENT);
    assert_int_equal(pl_ice_next_timeout(p.server), INT64_MAX);
    assert_true(now - last >= 30 * SEC && now - last <= 35 * SEC);
    pair_free(&p);
}

/* Authenticated media from the selected address is consent for the lite
 * side; from another address it is not. The controlling side counts only
 * answers to its own consent checks (RFC 7675), so media changes nothing
 * there. */
static void test_media_keeps_consent(void **state)
{
    (void)state;
    pair p;
    pair_init(&p, 22);
    int64_t now = 0;
    connect_pair(&p, now);
    for (now = SEC; now <= 100 * SEC; now += SEC) {
        server_until(&p, now);
        pl_ice_note_traffic(p.server, now, &p.caddr);
    }
    assert_int_equal(pl_ice_state(p.server), PL_ICE_CONNECTED);
    pl_addr other;
    pl_addr_set(&other, "203.0.113.5", 50000);
    int64_t last = now - SEC;
    for (; now <= 200 * SEC && pl_ice_state(p.server) == PL_ICE_CONNECTED; now += SEC) {
        server_until(&p, now);
        pl_ice_note_traffic(p.server, now, &other);
    }
    assert_int_equal(pl_ice_failure(p.server), PL_ICE_FAIL_CONSENT);
    assert_true(now - SEC - last <= 31 * SEC);

    /* The controlling side, whose checks go unanswered. */
    uint8_t buf[512];
    pl_addr to;
    int64_t start = 0;
    while (pl_ice_state(p.client) == PL_ICE_CONNECTED) {
        now = pl_ice_next_timeout(p.client);
        assert_true(now <= 40 * SEC);
        pl_ice_handle_timeout(p.client, now);
        pl_ice_note_traffic(p.client, now, &p.saddr);
        while (pl_ice_poll_transmit(p.client, buf, sizeof(buf), &to) > 0) {
        }
    }
    assert_int_equal(pl_ice_failure(p.client), PL_ICE_FAIL_CONSENT);
    assert_true(now - start >= 30 * SEC);
    pair_free(&p);
}

/* Authenticated checks that never nominate: the lite side says so when the
 * connect window closes, which tells a client that reached the relay from
 * one that never did. */
static void test_checks_without_nomination(void **state)
{
    (void)state;
    pair p;
    pair_init(&p, 23);
    pl_ice_start(p.server, 0);
    uint8_t buf[512];
    for (int i = 0; i < 10; i++) {
        size_t n = client_check(&p, buf, sizeof(buf), (uint8_t)i, false);
        assert_int_equal(pl_ice_handle_stun(p.server, i * SEC, &p.caddr, buf, n), 0);
        drain_server(&p);
    }
    assert_int_equal(pl_ice_state(p.server), PL_ICE_CHECKING);
    /* Indications before a selection are harmless and change nothing. */
    size_t n = indication(buf, sizeof(buf), 77);
    assert_int_equal(pl_ice_handle_stun(p.server, 11 * SEC, &p.caddr, buf, n), 0);
    assert_int_equal(pl_ice_state(p.server), PL_ICE_CHECKING);
    server_until(&p, 30 * SEC);
    assert_int_equal(pl_ice_state(p.server), PL_ICE_FAILED);
    assert_int_equal(pl_ice_failure(p.server), PL_ICE_FAIL_NO_NOMINATION);

    /* With a nomination in the window it connects. */
    pair q;
    pair_init(&q, 24);
    pl_ice_start(q.server, 0);
    n = client_check(&q, buf, sizeof(buf), 1, true);
    assert_int_equal(pl_ice_handle_stun(q.server, 29 * SEC, &q.caddr, buf, n), 0);
    server_until(&q, 30 * SEC);
    assert_int_equal(pl_ice_state(q.server), PL_ICE_CONNECTED);
    assert_int_equal(pl_ice_failure(q.server), PL_ICE_FAIL_NONE);
    pair_free(&q);
    pair_free(&p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_generated_credentials),
        cmocka_unit_test(test_connects),
        cmocka_unit_test(test_tcp_path_closed),
        cmocka_unit_test(test_retransmission_timing),
        cmocka_unit_test(test_connect_timeout),
        cmocka_unit_test(test_wrong_password_gets_401),
        cmocka_unit_test(test_nomination_moves_selection),
        cmocka_unit_test(test_consent_freshness),
        cmocka_unit_test(test_role_conflict),
        cmocka_unit_test(test_garbage_and_forged_responses),
        cmocka_unit_test(test_ice_restart),
        cmocka_unit_test(test_restart_refreshes_consent),
        cmocka_unit_test(test_indications_keep_consent),
        cmocka_unit_test(test_media_keeps_consent),
        cmocka_unit_test(test_checks_without_nomination),
    };
    return cmocka_run_group_tests_name("ice", tests, NULL, NULL);
}
