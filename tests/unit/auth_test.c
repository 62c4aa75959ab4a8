/* Access tokens: the RFC 7515 HS256 example, round trips, and every way a
 * token is refused (signature, algorithm, `none`, claims and their types,
 * expiry, not-before). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jwt.h>
#include <openssl/evp.h>

#include "parley/auth.h"

static const char secret[] = "a secret of at least thirty-two bytes";

static pl_auth *auth_with(const void *key, size_t len)
{
    pl_env env = pl_env_default();
    pl_auth *a = NULL;
    assert_int_equal(pl_auth_create(&env, key, len, &a), PL_OK);
    return a;
}

static const char *why_of(pl_auth *a, const char *token, int64_t now)
{
    pl_auth_claims c;
    const char *why = NULL;
    assert_int_equal(pl_auth_verify(a, token, now, &c, &why), PL_EAUTH);
    assert_non_null(why);
    return why;
}

/* RFC 7515 appendix A.1: the HS256 example, key and token as printed. */
static void test_rfc7515_example(void **state)
{
    (void)state;
    static const char key_b64url[] =
        "AyM1SysPpbyDfgZld3umj1qzKObwVMkoqQ-EstJQLr_T-1qS0gZH75aKtMN3Yj0"
        "iPS4hcgUuTwjAzZr1Z9CAow";
    char b64[128];
    snprintf(b64, sizeof(b64), "%s==", key_b64url);
    for (char *p = b64; *p; p++)
        *p = *p == '-' ? '+' : *p == '_' ? '/' : *p;
    uint8_t key[96];
    int n = EVP_DecodeBlock(key, (const unsigned char *)b64, (int)strlen(b64));
    assert_int_equal(n - 2, 64); /* two padding bytes decoded as zeros */
    pl_auth *a = auth_with(key, 64);
    char token[] = "eyJ0eXAiOiJKV1QiLA0KICJhbGciOiJIUzI1NiJ9."
                   "eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9p"
                   "c19yb290Ijp0cnVlfQ."
                   "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
    /* The signature checks out: what is refused is the missing `sub`. */
    assert_string_equal(why_of(a, token, 1300819000),
                        "the token needs `sub`, 1-64 characters of [A-Za-z0-9._@+-]");
    token[strlen(token) - 2] ^= 1; /* one bit of the signature */
    assert_string_equal(why_of(a, token, 1300819000),
                        "the token is malformed or not signed with this server's secret");
    pl_auth_destroy(a);
}

static void test_round_trip(void **state)
{
    (void)state;
    pl_auth *a = auth_with(secret, strlen(secret));
    pl_auth_claims in = {.sub = "ada@example.org",
                         .name = "Ada L\xc3\xb6velace",
                         .room = "standup",
                         .can_publish = false,
                         .can_subscribe = true,
                         .exp = 2000000000,
                         .nbf = 1700000000};
    char token[PL_AUTH_MAX_TOKEN + 1];
    assert_true(pl_auth_mint(a, &in, token, sizeof(token)) > 0);
    pl_auth_claims out;
    const char *why = NULL;
    assert_int_equal(pl_auth_verify(a, token, 1800000000, &out, &why), PL_OK);
    assert_string_equal(out.sub, in.sub);
    assert_string_equal(out.name, in.name);
    assert_string_equal(out.room, "standup");
    assert_false(out.can_publish);
    assert_true(out.can_subscribe);
    assert_int_equal(out.exp, 2000000000);
    /* Times: expired at exp, not valid before nbf. */
    assert_string_equal(why_of(a, token, 2000000000), "the token has expired");
    assert_string_equal(why_of(a, token, 1699999999), "the token is not valid yet");
    /* Another secret. */
    static const char other[] = "another secret of thirty-two bytes!!";
    pl_auth *b = auth_with(other, strlen(other));
    assert_string_equal(why_of(b, token, 1800000000),
                        "the token is malformed or not signed with this server's secret");
    pl_auth_destroy(b);
    /* Minimal claims: defaults. */
    pl_auth_claims min = {.sub = "bob", .can_publish = true, .can_subscribe = true, .exp = 5};
    assert_true(pl_auth_mint(a, &min, token, sizeof(token)) > 0);
    assert_int_equal(pl_auth_verify(a, token, 4, &out, &why), PL_OK);
    assert_string_equal(out.name, "");
    assert_string_equal(out.room, "");
    assert_true(out.can_publish);
    assert_int_equal(pl_auth_mint(a, &min, token, 10), PL_ENOSPC);
    pl_auth_claims bad = {.sub = "no spaces", .exp = 5};
    assert_int_equal(pl_auth_mint(a, &bad, token, sizeof(token)), PL_EINVAL);
    pl_auth_destroy(a);
}

/* Signs arbitrary claims (JSON) with libjwt, any algorithm. */
static char *sign(jwt_alg_t alg, const char *grants, const void *key, size_t len)
{
    jwt_t *jwt = NULL;
    assert_int_equal(jwt_new(&jwt), 0);
    assert_int_equal(jwt_add_grants_json(jwt, grants), 0);
    assert_int_equal(jwt_set_alg(jwt, alg, key, (int)len), 0);
    char *t = jwt_encode_str(jwt);
    jwt_free(jwt);
    assert_non_null(t);
    return t;
}

static void test_refusals(void **state)
{
    (void)state;
    pl_auth *a = auth_with(secret, strlen(secret));
    const size_t len = strlen(secret);
    static const struct {
        const char *grants, *why;
    } cases[] = {
        {"{\"exp\":100}", "the token needs `sub`, 1-64 characters of [A-Za-z0-9._@+-]"},
        {"{\"sub\":\"a b\",\"exp\":100}",
         "the token needs `sub`, 1-64 characters of [A-Za-z0-9._@+-]"},
        {"{\"sub\":\"ada\"}", "the token needs `exp`, seconds since the epoch"},
        {"{\"sub\":\"ada\",\"exp\":\"100\"}", "the token needs `exp`, seconds since the epoch"},
        {"{\"sub\":\"ada\",\"exp\":100,\"nbf\":\"1\"}", "`nbf` must be seconds since the epoch"},
        {"{\"sub\":\"ada\",\"exp\":100,\"can_publish\":\"yes\"}",
         "can_publish and can_subscribe must be booleans"},
        {"{\"sub\":\"ada\",\"exp\":100,\"can_subscribe\":1}",
         "can_publish and can_subscribe must be booleans"},
        {"{\"sub\":\"ada\",\"exp\":100,\"room\":\"no/slash\"}",
         "the token's `room` is not a valid room name"},
        {"{\"sub\":\"ada\",\"exp\":100,\"name\":\"\"}",
         "the token's `name` must be 1-64 printable characters"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *t = sign(JWT_ALG_HS256, cases[i].grants, secret, len);
        assert_string_equal(why_of(a, t, 50), cases[i].why);
        free(t);
    }
    /* Another HMAC with the same secret is still not HS256. */
    char *t = sign(JWT_ALG_HS512, "{\"sub\":\"ada\",\"exp\":100}", secret, len);
    assert_int_equal(pl_auth_verify(a, t, 50, &(pl_auth_claims){0}, &(const char *){NULL}),
                     PL_EAUTH);
    free(t);
    /* alg "none", unsigned: refused whatever the claims. */
    const char *none = "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0."
                       "eyJzdWIiOiJhZGEiLCJleHAiOjEwMH0.";
    assert_string_equal(why_of(a, none, 50),
                        "the token is malformed or not signed with this server's secret");
    assert_string_equal(why_of(a, "not.a.token", 50),
                        "the token is malformed or not signed with this server's secret");
    assert_string_equal(why_of(a, "", 50),
                        "the token is malformed or not signed with this server's secret");
    char *huge = malloc(PL_AUTH_MAX_TOKEN + 2);
    memset(huge, 'a', PL_AUTH_MAX_TOKEN + 1);
    huge[PL_AUTH_MAX_TOKEN + 1] = '\0';
    assert_string_equal(why_of(a, huge, 50), "malformed token");
    free(huge);
    pl_auth_destroy(a);
    /* A short secret is refused at the start. */
    pl_env env = pl_env_default();
    pl_auth *s = (pl_auth *)1;
    assert_int_equal(pl_auth_create(&env, (const uint8_t *)"short", 5, &s), PL_EINVAL);
    assert_null(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rfc7515_example),
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_refusals),
    };
    return cmocka_run_group_tests_name("auth", tests, NULL, NULL);
}
