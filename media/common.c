#include "parley/common.h"

#include <arpa/inet.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/rand.h>

const char *pl_strerror(int err)
{
    switch (err) {
    case PL_OK:
        return "ok";
    case PL_EMALFORMED:
        return "malformed input";
    case PL_ENOMEM:
        return "out of memory";
    case PL_EINVAL:
        return "invalid argument";
    case PL_ENOSPC:
        return "buffer too small";
    case PL_EAUTH:
        return "authentication failed";
    case PL_ENOTFOUND:
        return "not found";
    case PL_EAGAIN:
        return "nothing available";
    case PL_ESTATE:
        return "invalid state";
    case PL_ECRYPTO:
        return "crypto failure";
    case PL_EREPLAY:
        return "replayed packet";
    case PL_EUNSUPPORTED:
        return "unsupported";
    case PL_EIO:
        return "input/output error";
    default:
        return "unknown error";
    }
}

int pl_addr_set(pl_addr *a, const char *ip, uint16_t port)
{
    memset(a, 0, sizeof(*a));
    struct sockaddr_in *v4 = (struct sockaddr_in *)&a->ss;
    struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)&a->ss;
    if (inet_pton(AF_INET, ip, &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        v4->sin_port = htons(port);
        a->len = sizeof(*v4);
        return PL_OK;
    }
    if (inet_pton(AF_INET6, ip, &v6->sin6_addr) == 1) {
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons(port);
        a->len = sizeof(*v6);
        return PL_OK;
    }
    return PL_EINVAL;
}

bool pl_addr_equal(const pl_addr *a, const pl_addr *b)
{
    if (a->ss.ss_family != b->ss.ss_family || a->tcp != b->tcp)
        return false;
    if (a->ss.ss_family == AF_INET) {
        const struct sockaddr_in *x = (const struct sockaddr_in *)&a->ss;
        const struct sockaddr_in *y = (const struct sockaddr_in *)&b->ss;
        return x->sin_port == y->sin_port && x->sin_addr.s_addr == y->sin_addr.s_addr;
    }
    if (a->ss.ss_family == AF_INET6) {
        const struct sockaddr_in6 *x = (const struct sockaddr_in6 *)&a->ss;
        const struct sockaddr_in6 *y = (const struct sockaddr_in6 *)&b->ss;
        return x->sin6_port == y->sin6_port &&
               memcmp(&x->sin6_addr, &y->sin6_addr, sizeof(x->sin6_addr)) == 0;
    }
    return false;
}

uint16_t pl_addr_port(const pl_addr *a)
{
    if (a->ss.ss_family == AF_INET)
        return ntohs(((const struct sockaddr_in *)&a->ss)->sin_port);
    if (a->ss.ss_family == AF_INET6)
        return ntohs(((const struct sockaddr_in6 *)&a->ss)->sin6_port);
    return 0;
}

static int default_random(void *user, uint8_t *out, size_t n)
{
    (void)user;
    return RAND_bytes(out, (int)n) == 1 ? PL_OK : PL_ECRYPTO;
}

static void default_log(void *user, enum pl_log_level level, const char *msg)
{
    (void)user;
    static const char *const names[] = {"debug", "info", "warn", "error"};
    if (level >= PL_LOG_INFO && level <= PL_LOG_ERROR)
        fprintf(stderr, "parley %s: %s\n", names[level], msg);
}

static void *default_alloc(void *user, size_t n)
{
    (void)user;
    return calloc(1, n);
}

static void default_free(void *user, void *p)
{
    (void)user;
    free(p);
}

pl_env pl_env_default(void)
{
    return (pl_env){.user = NULL,
                    .random = default_random,
                    .log = default_log,
                    .alloc = default_alloc,
                    .free = default_free};
}

/* xorshift64*: good enough statistical quality for simulations, and fully
 * reproducible from the seed. Never used where secrecy matters in production. */
static int seeded_random(void *user, uint8_t *out, size_t n)
{
    uint64_t *s = user;
    for (size_t i = 0; i < n; i++) {
        *s ^= *s >> 12;
        *s ^= *s << 25;
        *s ^= *s >> 27;
        out[i] = (uint8_t)((*s * 0x2545F4914F6CDD1DULL) >> 56);
    }
    return PL_OK;
}

pl_env pl_env_seeded(uint64_t *state, uint64_t seed)
{
    *state = seed ? seed : 0x9E3779B97F4A7C15ULL;
    return (pl_env){.user = state,
                    .random = seeded_random,
                    .log = NULL,
                    .alloc = default_alloc,
                    .free = default_free};
}

void *pl_env_alloc(const pl_env *env, size_t n)
{
    return env->alloc ? env->alloc(env->user, n) : calloc(1, n);
}

void pl_env_free(const pl_env *env, void *p)
{
    if (!p)
        return;
    if (env->free)
        env->free(env->user, p);
    else
        free(p);
}

int pl_env_random(const pl_env *env, uint8_t *out, size_t n)
{
    return env->random ? env->random(env->user, out, n) : default_random(NULL, out, n);
}

uint32_t pl_env_random_u32(const pl_env *env)
{
    uint8_t b[4] = {0};
    pl_env_random(env, b, sizeof(b));
    return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
}

void pl_env_logf(const pl_env *env, enum pl_log_level level, const char *fmt, ...)
{
    if (!env->log)
        return;
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    env->log(env->user, level, msg);
}

size_t pl_utf8_seq(const unsigned char *s)
{
    unsigned c = s[0];
    if (c < 0x80)
        return 1;
    size_t n = c >= 0xc2 && c <= 0xdf   ? 2
               : c >= 0xe0 && c <= 0xef ? 3
               : c >= 0xf0 && c <= 0xf4 ? 4
                                        : 0;
    for (size_t i = 1; i < n; i++)
        if ((s[i] & 0xc0) != 0x80)
            return 0;
    if ((c == 0xe0 && s[1] < 0xa0) || (c == 0xed && s[1] > 0x9f) || (c == 0xf0 && s[1] < 0x90) ||
        (c == 0xf4 && s[1] > 0x8f))
        return 0;
    return n;
}

size_t pl_utf8_copy(char *dst, const char *src, size_t max)
{
    const unsigned char *p = (const unsigned char *)(src ? src : "");
    size_t n = 0, len;
    while (p[n] && (len = pl_utf8_seq(p + n)) && n + len <= max)
        n += len;
    memcpy(dst, p, n);
    dst[n] = '\0';
    return n;
}
