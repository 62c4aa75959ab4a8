/* Shared vocabulary of every Parley module: error codes, addresses and the
 * environment (randomness, logging, allocation) that protocol cores receive
 * instead of reaching for globals. */
#ifndef PARLEY_COMMON_H
#define PARLEY_COMMON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <netinet/in.h>
#include <sys/socket.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Errors are negative; 0 is success. Malformed wire input is always
 * PL_EMALFORMED so callers can count and drop it uniformly. */
enum {
    PL_OK = 0,
    PL_EMALFORMED = -1,    /* wire input does not parse */
    PL_ENOMEM = -2,        /* allocation failed */
    PL_EINVAL = -3,        /* caller passed an invalid argument */
    PL_ENOSPC = -4,        /* output buffer too small */
    PL_EAUTH = -5,         /* integrity / credential / fingerprint check failed */
    PL_ENOTFOUND = -6,     /* no such item (attribute, stream, ...) */
    PL_EAGAIN = -7,        /* nothing to return now (e.g. empty output queue) */
    PL_ESTATE = -8,        /* operation not valid in the current state */
    PL_ECRYPTO = -9,       /* crypto library failure */
    PL_EREPLAY = -10,      /* replayed or too-old packet */
    PL_EUNSUPPORTED = -11, /* valid input Parley chooses not to handle */
    PL_EIO = -12           /* a file could not be written (disk full, I/O error) */
};

/* Human-readable name of an error code (static string, never NULL). */
const char *pl_strerror(int err);

/* Length of the UTF-8 sequence at s (RFC 3629: no overlong forms, no
 * surrogates, nothing past U+10FFFF), 0 when there is none. */
size_t pl_utf8_seq(const unsigned char *s);
/* Copies into dst (max + 1 bytes) src's longest prefix of whole UTF-8
 * characters within max bytes, ending at the first byte that is not
 * UTF-8, and a NUL. For names cut to fit, so that JSON never holds half a
 * character. A NULL src copies "". Returns the bytes copied. */
size_t pl_utf8_copy(char *dst, const char *src, size_t max);

/* A transport address, IPv4 or IPv6, stored by value so cores can compare
 * and copy addresses without touching sockets. `tcp` marks the remote end
 * of an ICE-TCP connection (RFC 6544): the same IP and port over UDP is
 * another path, so ICE must never take one for the other. */
typedef struct pl_addr {
    struct sockaddr_storage ss;
    socklen_t len;
    bool tcp;
} pl_addr;

/* Parses "1.2.3.4" or "::1" plus port; returns 0 or PL_EINVAL. */
int pl_addr_set(pl_addr *a, const char *ip, uint16_t port);
bool pl_addr_equal(const pl_addr *a, const pl_addr *b);
uint16_t pl_addr_port(const pl_addr *a);

enum pl_log_level { PL_LOG_DEBUG, PL_LOG_INFO, PL_LOG_WARN, PL_LOG_ERROR };

/* Everything a protocol core needs from the outside world besides time and
 * bytes. Tests pass a seeded random source; production passes
 * pl_env_default(). Allocation happens at create time only, never per packet. */
typedef struct pl_env {
    void *user;
    /* Fill out[0..n) with random bytes; 0 or a negative PL_E* code. */
    int (*random)(void *user, uint8_t *out, size_t n);
    /* May be NULL: logging is then off. */
    void (*log)(void *user, enum pl_log_level level, const char *msg);
    void *(*alloc)(void *user, size_t n); /* zeroed memory */
    void (*free)(void *user, void *p);
} pl_env;

/* Cryptographic randomness (OpenSSL), stderr logging at INFO and above,
 * calloc/free. */
pl_env pl_env_default(void);

/* Deterministic environment for tests and simulations: a xorshift generator
 * seeded with `seed`, stored in *state, which must outlive the env. */
pl_env pl_env_seeded(uint64_t *state, uint64_t seed);

void *pl_env_alloc(const pl_env *env, size_t n);
void pl_env_free(const pl_env *env, void *p);
int pl_env_random(const pl_env *env, uint8_t *out, size_t n);
uint32_t pl_env_random_u32(const pl_env *env);
void pl_env_logf(const pl_env *env, enum pl_log_level level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#ifdef __cplusplus
}
#endif
#endif
