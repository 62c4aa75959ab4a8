/* Access tokens (protocol section 1): JWTs signed with HS256 under a
 * secret shared with whoever issues them. libjwt checks the signature and
 * the algorithm; this module checks the claims Parley relies on. Time is a
 * parameter (seconds since the epoch). */
#ifndef PARLEY_AUTH_H
#define PARLEY_AUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "parley/common.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct pl_auth pl_auth;

/* HS256 wants at least as many secret bytes as hash bytes (RFC 7518 3.2). */
#define PL_AUTH_MIN_SECRET 32
#define PL_AUTH_MAX_SECRET 4096
#define PL_AUTH_MAX_TOKEN 4096
#define PL_AUTH_ID_MAX 64

typedef struct pl_auth_claims {
    char sub[PL_AUTH_ID_MAX + 1]; /* the user id: 1-64 of [A-Za-z0-9._@+-] */
    char name[257];               /* "" when the token has none */
    char room[65];                /* "" when the token allows any room */
    bool can_publish, can_subscribe;
    bool can_record; /* may start and stop a room's recording (default false) */
    int64_t exp;
    int64_t nbf; /* 0 when absent */
} pl_auth_claims;

/* PL_EINVAL for a secret shorter than PL_AUTH_MIN_SECRET or longer than
 * PL_AUTH_MAX_SECRET. */
int pl_auth_create(const pl_env *env, const uint8_t *secret, size_t len, pl_auth **out);
void pl_auth_destroy(pl_auth *auth);

/* Reads a secret file into out (NUL-terminated; a trailing newline is not
 * part of the secret); PL_EINVAL when it cannot be read. */
int pl_auth_read_secret(const char *path, char *out, size_t cap);

/* 0 with *out filled, or PL_EAUTH with *why saying what is wrong (a static
 * string): malformed, badly signed, another algorithm, a missing or
 * ill-typed claim, expired, not yet valid. */
int pl_auth_verify(const pl_auth *auth, const char *token, int64_t now_s, pl_auth_claims *out,
                   const char **why);

/* Signs a token carrying `claims` (nbf only when non-zero, room and name
 * only when set) into out; its length, or a negative PL_E* code. */
int pl_auth_mint(const pl_auth *auth, const pl_auth_claims *claims, char *out, size_t cap);

#ifdef __cplusplus
}
#endif
#endif
