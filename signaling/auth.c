#include "parley/auth.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <jwt.h>
#include <openssl/crypto.h>

struct pl_auth {
    pl_env env;
    size_t len;
    uint8_t secret[];
};

int pl_auth_create(const pl_env *env, const uint8_t *secret, size_t len, pl_auth **out)
{
    *out = NULL;
    if (!secret || len < PL_AUTH_MIN_SECRET || len > PL_AUTH_MAX_SECRET)
        return PL_EINVAL;
    pl_auth *a = pl_env_alloc(env, sizeof(*a) + len);
    if (!a)
        return PL_ENOMEM;
    a->env = *env;
    a->len = len;
    memcpy(a->secret, secret, len);
    *out = a;
    return PL_OK;
}

void pl_auth_destroy(pl_auth *a)
{
    if (!a)
        return;
    pl_env env = a->env;
    OPENSSL_cleanse(a->secret, a->len); /* no secret left in freed memory */
    pl_env_free(&env, a);
}

int pl_auth_read_secret(const char *path, char *out, size_t cap)
{
    FILE *f = fopen(path, "rb");
    if (!f || cap == 0) {
        if (f)
            fclose(f);
        return PL_EINVAL;
    }
    size_t n = fread(out, 1, cap - 1, f);
    fclose(f);
    while (n && (out[n - 1] == '\n' || out[n - 1] == '\r'))
        n--;
    out[n] = '\0';
    return PL_OK;
}

static bool valid_sub(const char *s)
{
    size_t n = strlen(s);
    if (n < 1 || n > PL_AUTH_ID_MAX)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '@' || c == '+' || c == '-'))
            return false;
    }
    return true;
}

static bool valid_room(const char *r)
{
    size_t n = strlen(r);
    if (n < 1 || n > 64)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = r[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-'))
            return false;
    }
    return true;
}

/* 1-64 code points, no control characters (jansson checked the UTF-8). */
static bool valid_name(const char *t)
{
    long n = 0;
    for (const unsigned char *p = (const unsigned char *)t; *p; p++) {
        if (*p < 0x20 || *p == 0x7f)
            return false;
        if ((*p & 0xc0) != 0x80)
            n++;
    }
    return n >= 1 && n <= 64;
}

/* An optional boolean claim: absent means `dflt`, anything but a boolean
 * is an error. */
static bool bool_claim(json_t *grants, const char *key, bool dflt, bool *out)
{
    json_t *v = json_object_get(grants, key);
    if (!v) {
        *out = dflt;
        return true;
    }
    if (!json_is_boolean(v))
        return false;
    *out = json_is_true(v);
    return true;
}

static int check_claims(json_t *g, int64_t now_s, pl_auth_claims *out, const char **why)
{
    const char *sub = json_string_value(json_object_get(g, "sub"));
    if (!sub || !valid_sub(sub)) {
        *why = "the token needs `sub`, 1-64 characters of [A-Za-z0-9._@+-]";
        return PL_EAUTH;
    }
    snprintf(out->sub, sizeof(out->sub), "%s", sub);
    json_t *name = json_object_get(g, "name");
    if (name && (!json_is_string(name) || !valid_name(json_string_value(name)))) {
        *why = "the token's `name` must be 1-64 printable characters";
        return PL_EAUTH;
    }
    snprintf(out->name, sizeof(out->name), "%s", name ? json_string_value(name) : "");
    json_t *room = json_object_get(g, "room");
    if (room && (!json_is_string(room) || !valid_room(json_string_value(room)))) {
        *why = "the token's `room` is not a valid room name";
        return PL_EAUTH;
    }
    snprintf(out->room, sizeof(out->room), "%s", room ? json_string_value(room) : "");
    if (!bool_claim(g, "can_publish", true, &out->can_publish) ||
        !bool_claim(g, "can_subscribe", true, &out->can_subscribe)) {
        *why = "can_publish and can_subscribe must be booleans";
        return PL_EAUTH;
    }
    if (!bool_claim(g, "can_record", false, &out->can_record)) {
        *why = "can_record must be a boolean";
        return PL_EAUTH;
    }
    /* A token that never expires is a key that can never be taken back. */
    json_t *exp = json_object_get(g, "exp");
    if (!json_is_integer(exp)) {
        *why = "the token needs `exp`, seconds since the epoch";
        return PL_EAUTH;
    }
    out->exp = json_integer_value(exp);
    if (now_s >= out->exp) {
        *why = "the token has expired";
        return PL_EAUTH;
    }
    json_t *nbf = json_object_get(g, "nbf");
    if (nbf && !json_is_integer(nbf)) {
        *why = "`nbf` must be seconds since the epoch";
        return PL_EAUTH;
    }
    out->nbf = nbf ? json_integer_value(nbf) : 0;
    if (now_s < out->nbf) {
        *why = "the token is not valid yet";
        return PL_EAUTH;
    }
    return PL_OK;
}

int pl_auth_verify(const pl_auth *a, const char *token, int64_t now_s, pl_auth_claims *out,
                   const char **why)
{
    memset(out, 0, sizeof(*out));
    *why = "malformed token";
    if (!token || strlen(token) > PL_AUTH_MAX_TOKEN)
        return PL_EAUTH;
    jwt_t *jwt = NULL;
    if (jwt_decode(&jwt, token, a->secret, (int)a->len) != 0 || !jwt) {
        *why = "the token is malformed or not signed with this server's secret";
        return PL_EAUTH;
    }
    /* A key is given, so libjwt insists on a signature; only HS256 is ours. */
    if (jwt_get_alg(jwt) != JWT_ALG_HS256) {
        jwt_free(jwt);
        *why = "the token must be signed with HS256";
        return PL_EAUTH;
    }
    char *text = jwt_get_grants_json(jwt, NULL);
    jwt_free(jwt);
    json_t *grants = text ? json_loads(text, JSON_REJECT_DUPLICATES, NULL) : NULL;
    free(text);
    int rc = PL_EAUTH;
    if (json_is_object(grants))
        rc = check_claims(grants, now_s, out, why);
    else
        *why = "the token's claims are not a JSON object";
    json_decref(grants);
    return rc;
}

int pl_auth_mint(const pl_auth *a, const pl_auth_claims *c, char *out, size_t cap)
{
    if (!valid_sub(c->sub) || (c->room[0] && !valid_room(c->room)) ||
        (c->name[0] && !valid_name(c->name)))
        return PL_EINVAL;
    jwt_t *jwt = NULL;
    if (jwt_new(&jwt) != 0)
        return PL_ENOMEM;
    int rc = jwt_set_alg(jwt, JWT_ALG_HS256, a->secret, (int)a->len);
    rc = rc ? rc : jwt_add_grant(jwt, "sub", c->sub);
    rc = rc ? rc : jwt_add_grant_int(jwt, "exp", (long)c->exp);
    rc = rc ? rc : jwt_add_grant_bool(jwt, "can_publish", c->can_publish);
    rc = rc ? rc : jwt_add_grant_bool(jwt, "can_subscribe", c->can_subscribe);
    if (!rc && c->can_record)
        rc = jwt_add_grant_bool(jwt, "can_record", true);
    if (!rc && c->nbf)
        rc = jwt_add_grant_int(jwt, "nbf", (long)c->nbf);
    if (!rc && c->name[0])
        rc = jwt_add_grant(jwt, "name", c->name);
    if (!rc && c->room[0])
        rc = jwt_add_grant(jwt, "room", c->room);
    char *token = rc ? NULL : jwt_encode_str(jwt);
    jwt_free(jwt);
    if (!token)
        return PL_ENOMEM;
    size_t n = strlen(token);
    int ret = n < cap ? (int)n : PL_ENOSPC;
    if (n < cap)
        memcpy(out, token, n + 1);
    free(token);
    return ret;
}
