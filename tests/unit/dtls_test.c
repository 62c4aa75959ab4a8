#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "parley/dtls.h"
#include "vclock.h"

#define SEC 1000000LL

typedef struct duo {
    uint64_t seed_state;
    pl_env env;
    pl_dtls_cert *cs, *cc;
    pl_dtls *server, *client;
    int64_t now;
    uint64_t rng;
    unsigned loss_pct;
    unsigned sent, lost;
} duo;

static unsigned rnd(duo *d)
{
    d->rng = d->rng * 6364136223846793005ULL + 1442695040888963407ULL;
    return (unsigned)(d->rng >> 33);
}

/* `client_profiles` (n of them), when not NULL, narrow what the client
 * offers. */
static void duo_init_profiles(duo *d, uint64_t seed, bool wrong_fp_at_server,
                              bool wrong_fp_at_client, const enum pl_srtp_profile *client_profiles,
                              size_t n)
{
    memset(d, 0, sizeof(*d));
    d->env = pl_env_seeded(&d->seed_state, seed);
    d->rng = seed;
    d->cs = pl_dtls_cert_create(&d->env);
    d->cc = pl_dtls_cert_create(&d->env);
    assert_non_null(d->cs);
    assert_non_null(d->cc);
    d->server = pl_dtls_create(&d->env, d->cs, PL_DTLS_PASSIVE, 0);
    d->client = pl_dtls_create(&d->env, d->cc, PL_DTLS_ACTIVE, 0);
    assert_non_null(d->server);
    assert_non_null(d->client);
    if (client_profiles)
        assert_int_equal(pl_dtls_set_srtp_profiles(d->client, client_profiles, n), 0);
    /* Each side is told the other's certificate, or a stranger's. */
    pl_dtls_cert *stranger = pl_dtls_cert_create(&d->env);
    assert_int_equal(
        pl_dtls_set_remote_fingerprint(
            d->server, "sha-256", pl_dtls_cert_fingerprint(wrong_fp_at_server ? stranger : d->cc)),
        0);
    assert_int_equal(
        pl_dtls_set_remote_fingerprint(
            d->client, "sha-256", pl_dtls_cert_fingerprint(wrong_fp_at_client ? stranger : d->cs)),
        0);
    pl_dtls_cert_destroy(stranger);
    d->now = 5 * SEC;
    vclock_set(d->now);
    assert_int_equal(pl_dtls_start(d->server, d->now), 0);
    assert_int_equal(pl_dtls_start(d->client, d->now), 0);
}

static void duo_init(duo *d, uint64_t seed, bool wrong_fp_at_server, bool wrong_fp_at_client)
{
    duo_init_profiles(d, seed, wrong_fp_at_server, wrong_fp_at_client, NULL, 0);
}

static void duo_free(duo *d)
{
    pl_dtls_destroy(d->server);
    pl_dtls_destroy(d->client);
    pl_dtls_cert_destroy(d->cs);
    pl_dtls_cert_destroy(d->cc);
}

/* Delivers everything queued (after a fixed 10 ms "network" delay),
 * dropping loss_pct percent; then fires timers; repeats until `until`. */
static void run(duo *d, int64_t until)
{
    uint8_t buf[1600];
    while (d->now < until) {
        bool moved = false;
        for (int dir = 0; dir < 2; dir++) {
            pl_dtls *from = dir ? d->client : d->server;
            pl_dtls *to = dir ? d->server : d->client;
            int n;
            while ((n = pl_dtls_poll_transmit(from, buf, sizeof(buf))) > 0) {
                assert_true(n <= 1200);
                moved = true;
                d->sent++;
                if (rnd(d) % 100 < d->loss_pct) {
                    d->lost++;
                    continue;
                }
                pl_dtls_handle_datagram(to, d->now, buf, (size_t)n);
            }
        }
        if (moved) {
            d->now += 10000;
            vclock_set(d->now);
            continue;
        }
        int64_t t = pl_dtls_next_timeout(d->server);
        int64_t tc = pl_dtls_next_timeout(d->client);
        if (tc < t)
            t = tc;
        if (t == INT64_MAX || t > until) {
            d->now = until;
            vclock_set(d->now);
            return;
        }
        d->now = t > d->now ? t : d->now + 1;
        vclock_set(d->now);
        pl_dtls_handle_timeout(d->server, d->now);
        pl_dtls_handle_timeout(d->client, d->now);
    }
}

static void test_certificate(void **state)
{
    (void)state;
    uint64_t s;
    pl_env env = pl_env_seeded(&s, 1);
    pl_dtls_cert *c = pl_dtls_cert_create(&env);
    assert_non_null(c);
    const char *fp = pl_dtls_cert_fingerprint(c);
    assert_int_equal(strlen(fp), 32 * 3 - 1); /* 32 bytes as XX:XX:... */
    for (size_t i = 0; fp[i]; i++)
        assert_true(i % 3 == 2
                        ? fp[i] == ':'
                        : ((fp[i] >= '0' && fp[i] <= '9') || (fp[i] >= 'A' && fp[i] <= 'F')));
    pl_dtls_cert *c2 = pl_dtls_cert_create(&env);
    assert_string_not_equal(fp, pl_dtls_cert_fingerprint(c2));
    pl_dtls *d = pl_dtls_create(&env, c, PL_DTLS_PASSIVE, 0);
    assert_int_equal(pl_dtls_set_remote_fingerprint(d, "md5", fp), PL_EINVAL);
    assert_int_equal(pl_dtls_start(d, 0), PL_ESTATE); /* nothing to verify against */
    pl_dtls_destroy(d);
    pl_dtls_cert_destroy(c);
    pl_dtls_cert_destroy(c2);
}

static void test_handshake_and_keys(void **state)
{
    (void)state;
    duo d;
    duo_init(&d, 1, false, false);
    run(&d, d.now + 5 * SEC);
    assert_int_equal(pl_dtls_state(d.server), PL_DTLS_CONNECTED);
    assert_int_equal(pl_dtls_state(d.client), PL_DTLS_CONNECTED);
    pl_srtp_keys ks, kc;
    assert_int_equal(pl_dtls_srtp_keys(d.server, &ks), 0);
    assert_int_equal(pl_dtls_srtp_keys(d.client, &kc), 0);
    assert_int_equal(ks.profile, PL_SRTP_AEAD_AES_128_GCM); /* preferred */
    assert_int_equal(ks.key_len, 16);
    assert_int_equal(ks.salt_len, 12);
    /* What one side sends with is what the other receives with. */
    assert_memory_equal(ks.local_key, kc.remote_key, 16);
    assert_memory_equal(ks.remote_key, kc.local_key, 16);
    assert_memory_equal(ks.local_salt, kc.remote_salt, 12);
    assert_memory_equal(ks.remote_salt, kc.local_salt, 12);
    assert_memory_not_equal(ks.local_key, ks.remote_key, 16);
    duo_free(&d);
}

/* A client without GCM (GStreamer 1.22 offers only AES128_CM_SHA1_80) gets
 * that profile, with its 14-byte salts; the list is checked and only
 * settable before the start. */
static void test_srtp_profiles(void **state)
{
    (void)state;
    static const enum pl_srtp_profile cm[] = {PL_SRTP_AES128_CM_SHA1_80};
    duo d;
    duo_init_profiles(&d, 11, false, false, cm, 1);
    run(&d, d.now + 5 * SEC);
    pl_srtp_keys ks, kc;
    assert_int_equal(pl_dtls_srtp_keys(d.server, &ks), 0);
    assert_int_equal(pl_dtls_srtp_keys(d.client, &kc), 0);
    assert_int_equal(ks.profile, PL_SRTP_AES128_CM_SHA1_80);
    assert_int_equal(kc.profile, PL_SRTP_AES128_CM_SHA1_80);
    assert_int_equal(ks.key_len, 16);
    assert_int_equal(ks.salt_len, 14);
    assert_memory_equal(ks.local_key, kc.remote_key, 16);
    assert_memory_equal(ks.local_salt, kc.remote_salt, 14);
    assert_memory_equal(ks.remote_salt, kc.local_salt, 14);
    /* Once started, the list is fixed. */
    assert_int_equal(pl_dtls_set_srtp_profiles(d.server, cm, 1), PL_ESTATE);
    duo_free(&d);

    pl_env env = pl_env_default();
    pl_dtls_cert *c = pl_dtls_cert_create(&env);
    pl_dtls *x = pl_dtls_create(&env, c, PL_DTLS_ACTIVE, 0);
    static const enum pl_srtp_profile none[] = {PL_SRTP_NONE};
    assert_int_equal(pl_dtls_set_srtp_profiles(x, cm, 0), PL_EINVAL);
    assert_int_equal(pl_dtls_set_srtp_profiles(x, none, 1), PL_EINVAL);
    pl_dtls_destroy(x);
    pl_dtls_cert_destroy(c);
}

static void test_server_rejects_wrong_fingerprint(void **state)
{
    (void)state;
    duo d;
    duo_init(&d, 2, true, false);
    run(&d, d.now + 5 * SEC);
    assert_int_equal(pl_dtls_state(d.server), PL_DTLS_FAILED);
    assert_int_equal(pl_dtls_error(d.server), PL_EAUTH);
    pl_srtp_keys k;
    assert_int_equal(pl_dtls_srtp_keys(d.server, &k), PL_ESTATE);
    /* The server's alert ends the client's attempt too. */
    assert_int_not_equal(pl_dtls_state(d.client), PL_DTLS_CONNECTED);
    duo_free(&d);
}

static void test_client_rejects_wrong_fingerprint(void **state)
{
    (void)state;
    duo d;
    duo_init(&d, 3, false, true);
    run(&d, d.now + 5 * SEC);
    assert_int_equal(pl_dtls_state(d.client), PL_DTLS_FAILED);
    assert_int_equal(pl_dtls_error(d.client), PL_EAUTH);
    assert_int_not_equal(pl_dtls_state(d.server), PL_DTLS_CONNECTED);
    duo_free(&d);
}

/* 30% loss on every datagram: flights are retransmitted on the test's
 * clock until the handshake completes. */
static void test_handshake_under_loss(void **state)
{
    (void)state;
    unsigned lost = 0;
    for (uint64_t seed = 10; seed < 30; seed++) {
        duo d;
        duo_init(&d, seed, false, false);
        d.loss_pct = 30;
        run(&d, d.now + 25 * SEC);
        if (pl_dtls_state(d.server) != PL_DTLS_CONNECTED ||
            pl_dtls_state(d.client) != PL_DTLS_CONNECTED)
            fail_msg("seed %llu: server %d client %d (sent %u lost %u)", (unsigned long long)seed,
                     pl_dtls_state(d.server), pl_dtls_state(d.client), d.sent, d.lost);
        lost += d.lost;
        duo_free(&d);
    }
    assert_true(lost >= 20); /* flights really were lost and resent */
}

/* Nothing answers: the active side gives up after its handshake timeout. */
static void test_handshake_timeout(void **state)
{
    (void)state;
    duo d;
    duo_init(&d, 4, false, false);
    d.loss_pct = 100;
    run(&d, d.now + 40 * SEC);
    assert_int_equal(pl_dtls_state(d.client), PL_DTLS_FAILED);
    assert_int_equal(pl_dtls_state(d.server), PL_DTLS_FAILED);
    /* The code that tells a timeout from other failures (dtls.h). */
    assert_int_equal(pl_dtls_error(d.client), PL_ESTATE);
    assert_int_equal(pl_dtls_error(d.server), PL_ESTATE);
    duo_free(&d);
}

static void test_garbage_records(void **state)
{
    (void)state;
    duo d;
    duo_init(&d, 5, false, false);
    uint8_t junk[400];
    for (int i = 0; i < 500; i++) {
        size_t len = (size_t)(rnd(&d) % sizeof(junk));
        for (size_t j = 0; j < len; j++)
            junk[j] = (uint8_t)rnd(&d);
        if (len > 0)
            junk[0] = (uint8_t)(20 + i % 44); /* DTLS content-type range */
        if (len > 2) {
            junk[1] = 0xfe;
            junk[2] = 0xfd;
        }
        pl_dtls_handle_datagram(d.server, d.now, junk, len);
    }
    /* The server still completes a real handshake afterwards. */
    run(&d, d.now + 5 * SEC);
    assert_int_equal(pl_dtls_state(d.server), PL_DTLS_CONNECTED);
    assert_int_equal(pl_dtls_state(d.client), PL_DTLS_CONNECTED);
    /* And garbage after the handshake does not tear it down. */
    for (int i = 0; i < 200; i++) {
        size_t len = 13 + (size_t)(rnd(&d) % 200);
        for (size_t j = 0; j < len; j++)
            junk[j] = (uint8_t)rnd(&d);
        junk[0] = 23;
        junk[1] = 0xfe;
        junk[2] = 0xfd;
        pl_dtls_handle_datagram(d.server, d.now, junk, len);
    }
    assert_int_equal(pl_dtls_state(d.server), PL_DTLS_CONNECTED);
    duo_free(&d);
}

static void test_close_notify(void **state)
{
    (void)state;
    duo d;
    duo_init(&d, 6, false, false);
    run(&d, d.now + 5 * SEC);
    pl_dtls_close(d.client);
    assert_int_equal(pl_dtls_state(d.client), PL_DTLS_CLOSED);
    run(&d, d.now + 1 * SEC);
    assert_int_equal(pl_dtls_state(d.server), PL_DTLS_CLOSED);
    duo_free(&d);
}

/* Settled once the peer's media proved its handshake over: no record is
 * read any more (a close_notify included: it could be forged), none is
 * sent, and the keys are no longer handed out. Before the connection,
 * settling does nothing. */
static void test_settle(void **state)
{
    (void)state;
    duo d;
    duo_init(&d, 7, false, false);
    pl_dtls_settle(d.server);
    assert_false(pl_dtls_settled(d.server));
    run(&d, d.now + 5 * SEC);
    assert_int_equal(pl_dtls_state(d.server), PL_DTLS_CONNECTED);
    pl_srtp_keys k;
    assert_int_equal(pl_dtls_srtp_keys(d.server, &k), PL_OK);
    pl_dtls_settle(d.server);
    assert_true(pl_dtls_settled(d.server));
    assert_int_equal(pl_dtls_srtp_keys(d.server, &k), PL_ESTATE);
    pl_dtls_close(d.client);
    uint8_t buf[1500];
    int n = pl_dtls_poll_transmit(d.client, buf, sizeof(buf));
    assert_true(n > 13);
    assert_int_equal(buf[0], 21); /* an alert */
    assert_int_equal(pl_dtls_handle_datagram(d.server, d.now, buf, (size_t)n), PL_ESTATE);
    assert_int_equal(pl_dtls_state(d.server), PL_DTLS_CONNECTED);
    pl_dtls_close(d.server);
    assert_int_equal(pl_dtls_poll_transmit(d.server, buf, sizeof(buf)), PL_EAGAIN);
    assert_int_equal(pl_dtls_state(d.server), PL_DTLS_CLOSED);
    duo_free(&d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_certificate),
        cmocka_unit_test(test_handshake_and_keys),
        cmocka_unit_test(test_srtp_profiles),
        cmocka_unit_test(test_server_rejects_wrong_fingerprint),
        cmocka_unit_test(test_client_rejects_wrong_fingerprint),
        cmocka_unit_test(test_handshake_under_loss),
        cmocka_unit_test(test_handshake_timeout),
        cmocka_unit_test(test_garbage_records),
        cmocka_unit_test(test_close_notify),
        cmocka_unit_test(test_settle),
    };
    return cmocka_run_group_tests_name("dtls", tests, NULL, NULL);
}
