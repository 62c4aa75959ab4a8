#include "parley/turn.h"

#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

struct pl_turn {
    pl_env env;
    int64_t ttl_s;
    size_t n_urls;
    char urls[PL_TURN_MAX_URLS][PL_TURN_URL_MAX + 1];
    size_t len;
    uint8_t secret[];
};

static bool is_alnum(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

/* HOST as RFC 3986 allows it in a TURN URL, without percent-encoding
 * (no TURN server needs a name that does); returns what follows it. */
static const char *skip_host(const char *p)
{
    const char *start = p;
    if (*p == '[') {
        for (p++; *p && *p != ']'; p++)
            if (!(is_alnum(*p) || *p == ':' || *p == '.'))
                return NULL;
        return *p == ']' && p > start + 1 ? p + 1 : NULL;
    }
    while (is_alnum(*p) || *p == '.' || *p == '-')
        p++;
    return p > start ? p : NULL;
}

int pl_turn_check_url(const char *url, const char **why)
{
    *why = NULL;
    if (!url || strlen(url) > PL_TURN_URL_MAX) {
        *why = "a TURN URL has at most 255 characters";
        return PL_EINVAL;
    }
    bool secure = strncmp(url, "turns:", 6) == 0;
    if (!secure && strncmp(url, "turn:", 5) != 0) {
        *why = "a TURN URL starts with turn: or turns: (RFC 7065)";
        return PL_EINVAL;
    }
    const char *p = url + (secure ? 6 : 5);
    /* RFC 7065 has no authority part; browsers refuse the whole
     * configuration when they see one. */
    if (p[0] == '/' && p[1] == '/') {
        *why = "a TURN URL has no // after its scheme (turn:host:port)";
        return PL_EINVAL;
    }
    p = skip_host(p);
    if (!p) {
        *why = "a TURN URL needs a host: a name, an IPv4 address or [an IPv6 address]";
        return PL_EINVAL;
    }
    if (*p == ':') {
        long port = 0;
        int digits = 0;
        for (p++; *p >= '0' && *p <= '9' && digits < 6; p++, digits++)
            port = port * 10 + (*p - '0');
        if (digits == 0 || port < 1 || port > 65535) {
            *why = "a TURN URL's port is a number from 1 to 65535";
            return PL_EINVAL;
        }
    }
    if (*p == '\0')
        return PL_OK;
    if (strcmp(p, "?transport=tcp") == 0)
        return PL_OK;
    if (strcmp(p, "?transport=udp") == 0) {
        if (!secure)
            return PL_OK;
        /* turns over UDP would be DTLS, which browsers do not speak to
         * TURN servers. */
        *why = "turns: runs over TLS on TCP: use ?transport=tcp or no transport";
        return PL_EINVAL;
    }
    *why = "a TURN URL may end with ?transport=udp or ?transport=tcp, nothing else";
    return PL_EINVAL;
}

int pl_turn_credential(const uint8_t *secret, size_t len, int64_t expiry_s, const char *user,
                       char *username, size_t ucap, char *credential, size_t ccap)
{
    if (!secret || len == 0 || len > PL_TURN_MAX_SECRET || !user || !user[0] || strchr(user, ':') ||
        expiry_s < 0)
        return PL_EINVAL;
    int n = snprintf(username, ucap, "%" PRId64 ":%s", expiry_s, user);
    if (n < 0 || (size_t)n >= ucap || ccap < PL_TURN_CREDENTIAL_LEN + 1)
        return PL_ENOSPC;
    uint8_t mac[EVP_MAX_MD_SIZE];
    unsigned mac_len = 0;
    if (!HMAC(EVP_sha1(), secret, (int)len, (const uint8_t *)username, (size_t)n, mac, &mac_len))
        return PL_ECRYPTO;
    EVP_EncodeBlock((unsigned char *)credential, mac, (int)mac_len);
    return PL_OK;
}

int pl_turn_create(const pl_env *env, const uint8_t *secret, size_t len, int64_t ttl_s,
                   pl_turn **out)
{
    *out = NULL;
    if (!secret || len == 0 || len > PL_TURN_MAX_SECRET || ttl_s < PL_TURN_MIN_TTL_S ||
        ttl_s > PL_TURN_MAX_TTL_S)
        return PL_EINVAL;
    pl_turn *t = pl_env_alloc(env, sizeof(*t) + len);
    if (!t)
        return PL_ENOMEM;
    t->env = *env;
    t->ttl_s = ttl_s;
    t->len = len;
    memcpy(t->secret, secret, len);
    *out = t;
    return PL_OK;
}

void pl_turn_destroy(pl_turn *t)
{
    if (!t)
        return;
    pl_env env = t->env;
    OPENSSL_cleanse(t->secret, t->len); /* no secret left in freed memory */
    pl_env_free(&env, t);
}

int pl_turn_add_url(pl_turn *t, const char *url, const char **why)
{
    int rc = pl_turn_check_url(url, why);
    if (rc != PL_OK)
        return rc;
    if (t->n_urls == PL_TURN_MAX_URLS) {
        *why = "too many TURN URLs";
        return PL_ENOSPC;
    }
    snprintf(t->urls[t->n_urls++], PL_TURN_URL_MAX + 1, "%s", url);
    return PL_OK;
}

size_t pl_turn_url_count(const pl_turn *t)
{
    return t ? t->n_urls : 0;
}

const char *pl_turn_url(const pl_turn *t, size_t i)
{
    return t && i < t->n_urls ? t->urls[i] : NULL;
}

int pl_turn_issue(const pl_turn *t, const char *user, int64_t now_s, char *username, size_t ucap,
                  char *credential, size_t ccap)
{
    return pl_turn_credential(t->secret, t->len, now_s + t->ttl_s, user, username, ucap, credential,
                              ccap);
}
