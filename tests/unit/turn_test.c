/* TURN REST credentials and URLs (parley/turn.h), and the core handing
 * them out in `welcome`. The expected credentials were computed apart from
 * this code, with Python's hmac:
 *   base64.b64encode(hmac.new(secret, username.encode(), hashlib.sha1).digest())
 * which is what coturn computes from the username under use-auth-secret. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "parley/turn.h"
#include "sigfx.h"

static const char secret[] = "9d3f1c0e8b7a6d5c4b3a29180f7e6d5c";

static void test_credential_vectors(void **state)
{
    (void)state;
    char user[PL_TURN_USERNAME_MAX + 1], cred[PL_TURN_CREDENTIAL_LEN + 1];
    const uint8_t *nw = (const uint8_t *)"north-wind-4f9c2a";
    assert_int_equal(
        pl_turn_credential(nw, 17, 1767225600, "alice", user, sizeof(user), cred, sizeof(cred)),
        PL_OK);
    assert_string_equal(user, "1767225600:alice");
    assert_string_equal(cred, "BCLugY5f1WyDVSz9XZP/4Qr18qc=");
    assert_int_equal(
        pl_turn_credential((const uint8_t *)"x", 1, 0, "a", user, sizeof(user), cred, sizeof(cred)),
        PL_OK);
    assert_string_equal(user, "0:a");
    assert_string_equal(cred, "lg3hHBRjDJOQsp20Y0aBJW6ky38=");
    /* The longest username fits (an id of 64 bytes, the largest expiry). */
    char id[65];
    memset(id, 'z', 64);
    id[64] = '\0';
    assert_int_equal(
        pl_turn_credential(nw, 17, INT64_MAX, id, user, sizeof(user), cred, sizeof(cred)), PL_OK);
    assert_int_equal(strlen(user), PL_TURN_USERNAME_MAX);
    assert_int_equal(strlen(cred), PL_TURN_CREDENTIAL_LEN);
    /* coturn reads the expiry up to the first ':', so a user may have none. */
    assert_int_equal(pl_turn_credential(nw, 17, 1, "a:b", user, sizeof(user), cred, sizeof(cred)),
                     PL_EINVAL);
    assert_int_equal(pl_turn_credential(nw, 0, 1, "a", user, sizeof(user), cred, sizeof(cred)),
                     PL_EINVAL);
    assert_int_equal(pl_turn_credential(nw, 17, 1, "", user, sizeof(user), cred, sizeof(cred)),
                     PL_EINVAL);
    assert_int_equal(pl_turn_credential(nw, 17, 1767225600, "alice", user, 16, cred, sizeof(cred)),
                     PL_ENOSPC);
    assert_int_equal(pl_turn_credential(nw, 17, 1, "a", user, sizeof(user), cred, 28), PL_ENOSPC);
}

static void test_urls(void **state)
{
    (void)state;
    const char *good[] = {"turn:turn.example.com",
                          "turn:turn.example.com:3478?transport=udp",
                          "turn:192.0.2.1:3478?transport=tcp",
                          "turns:turn.example.com:443?transport=tcp",
                          "turns:turn.example.com",
                          "turn:[2001:db8::1]:3478",
                          "turn:a:65535"};
    const char *why = NULL;
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        assert_int_equal(pl_turn_check_url(good[i], &why), PL_OK);
        assert_null(why);
    }
    struct {
        const char *url, *why;
    } bad[] = {
        {"stun:turn.example.com", "a TURN URL starts with turn: or turns: (RFC 7065)"},
        {"http://turn.example.com", "a TURN URL starts with turn: or turns: (RFC 7065)"},
        {"TURN:x", "a TURN URL starts with turn: or turns: (RFC 7065)"},
        {"turn://turn.example.com:3478", "a TURN URL has no // after its scheme (turn:host:port)"},
        {"turn:", "a TURN URL needs a host: a name, an IPv4 address or [an IPv6 address]"},
        {"turn::3478", "a TURN URL needs a host: a name, an IPv4 address or [an IPv6 address]"},
        {"turn:[]:3478", "a TURN URL needs a host: a name, an IPv4 address or [an IPv6 address]"},
        {"turn:[::1", "a TURN URL needs a host: a name, an IPv4 address or [an IPv6 address]"},
        {"turn:a:0", "a TURN URL's port is a number from 1 to 65535"},
        {"turn:a:65536", "a TURN URL's port is a number from 1 to 65535"},
        {"turn:a:", "a TURN URL's port is a number from 1 to 65535"},
        {"turn:a:3478x", "a TURN URL may end with ?transport=udp or ?transport=tcp, nothing else"},
        {"turn:a?transport=tls",
         "a TURN URL may end with ?transport=udp or ?transport=tcp, nothing else"},
        {"turn:a b", "a TURN URL may end with ?transport=udp or ?transport=tcp, nothing else"},
        {"turn:user@a", "a TURN URL may end with ?transport=udp or ?transport=tcp, nothing else"},
        {"turns:a:443?transport=udp",
         "turns: runs over TLS on TCP: use ?transport=tcp or no transport"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(pl_turn_check_url(bad[i].url, &why), PL_EINVAL);
        assert_string_equal(why, bad[i].why);
    }
    char longest[PL_TURN_URL_MAX + 2] = "turn:";
    memset(longest + 5, 'a', PL_TURN_URL_MAX - 5);
    longest[PL_TURN_URL_MAX] = '\0';
    assert_int_equal(pl_turn_check_url(longest, &why), PL_OK);
    longest[PL_TURN_URL_MAX] = 'a';
    longest[PL_TURN_URL_MAX + 1] = '\0';
    assert_int_equal(pl_turn_check_url(longest, &why), PL_EINVAL);
}

static void test_turn_object(void **state)
{
    (void)state;
    pl_env env = pl_env_default();
    pl_turn *t = (pl_turn *)1;
    assert_int_equal(pl_turn_create(&env, (const uint8_t *)secret, 0, 3600, &t), PL_EINVAL);
    assert_null(t);
    assert_int_equal(pl_turn_create(&env, (const uint8_t *)secret, 32, 59, &t), PL_EINVAL);
    assert_int_equal(pl_turn_create(&env, (const uint8_t *)secret, 32, PL_TURN_MAX_TTL_S + 1, &t),
                     PL_EINVAL);
    assert_int_equal(pl_turn_create(&env, (const uint8_t *)secret, 32, 3600, &t), PL_OK);
    const char *why = NULL;
    assert_int_equal(pl_turn_add_url(t, "turn:a?transport=tls", &why), PL_EINVAL);
    for (int i = 0; i < PL_TURN_MAX_URLS; i++)
        assert_int_equal(pl_turn_add_url(t, "turn:a:3478", &why), PL_OK);
    assert_int_equal(pl_turn_add_url(t, "turn:a:3478", &why), PL_ENOSPC);
    assert_int_equal(pl_turn_url_count(t), PL_TURN_MAX_URLS);
    assert_null(pl_turn_url(t, PL_TURN_MAX_URLS));
    char user[PL_TURN_USERNAME_MAX + 1], cred[PL_TURN_CREDENTIAL_LEN + 1];
    assert_int_equal(
        pl_turn_issue(t, "ucd9fb1e148ccd844", 1700000000, user, sizeof(user), cred, sizeof(cred)),
        PL_OK);
    assert_string_equal(user, "1700003600:ucd9fb1e148ccd844");
    assert_string_equal(cred, "au7xXU/FrN5e0aF92JcWFGb/L3I=");
    pl_turn_destroy(t);
    pl_turn_destroy(NULL);
}

/* Every welcome lists each URL with the user's credential from then; a
 * resumed session, 7 s later, gets one that lasts 7 s longer. Without TURN
 * the list is empty. */
static void test_welcome(void **state)
{
    (void)state;
    fx *f = fx_new();
    hello(f, 0, "Ada");
    assert_int_equal(json_array_size(json_object_get(got(f, 0, "welcome"), "ice_servers")), 0);

    pl_env env = pl_env_default();
    pl_turn *t = NULL;
    assert_int_equal(pl_turn_create(&env, (const uint8_t *)secret, 32, 3600, &t), PL_OK);
    const char *why = NULL;
    assert_int_equal(pl_turn_add_url(t, "turn:192.0.2.1:3478?transport=udp", &why), PL_OK);
    assert_int_equal(pl_turn_add_url(t, "turns:turn.example.com:443?transport=tcp", &why), PL_OK);
    pl_sig_set_turn(f->sig, t);
    /* Bob's user id in open mode is derived from his name. */
    hello(f, 1, "Bob");
    json_t *w = got(f, 1, "welcome");
    json_t *servers = json_object_get(w, "ice_servers");
    assert_int_equal(json_array_size(servers), 2);
    const char *urls[] = {"turn:192.0.2.1:3478?transport=udp",
                          "turns:turn.example.com:443?transport=tcp"};
    for (size_t i = 0; i < 2; i++) {
        json_t *s = json_array_get(servers, i);
        assert_string_equal(str(s, "urls"), urls[i]);
        assert_string_equal(str(s, "username"), "1700003600:ucd9fb1e148ccd844");
        assert_string_equal(str(s, "credential"), "au7xXU/FrN5e0aF92JcWFGb/L3I=");
    }
    char token[64];
    snprintf(token, sizeof(token), "%s", str(w, "resume_token"));
    say(f, 1, "{\"type\":\"join\",\"room\":\"r\"}");
    assert_non_null(got(f, 1, "joined"));
    pl_sig_drop(f->sig, 1, f->now);
    f->now = fx_after(f, 7000);
    assert_int_equal(pl_sig_connect(f->sig, 2), 0);
    char resume[160];
    snprintf(resume, sizeof(resume), "{\"type\":\"hello\",\"name\":\"Bob\",\"resume\":\"%s\"}",
             token);
    say(f, 2, resume);
    w = got(f, 2, "welcome");
    assert_non_null(w);
    assert_true(json_is_true(json_object_get(w, "resumed")));
    servers = json_object_get(w, "ice_servers");
    assert_int_equal(json_array_size(servers), 2);
    json_t *s = json_array_get(servers, 1);
    assert_string_equal(str(s, "urls"), urls[1]);
    assert_string_equal(str(s, "username"), "1700003607:ucd9fb1e148ccd844");
    assert_string_equal(str(s, "credential"), "1vkvWZGVTS+llV02MF+V49BREaE=");
    fx_free(f);
    pl_turn_destroy(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_credential_vectors),
        cmocka_unit_test(test_urls),
        cmocka_unit_test(test_turn_object),
        cmocka_unit_test(test_welcome),
    };
    return cmocka_run_group_tests_name("turn", tests, NULL, NULL);
}
