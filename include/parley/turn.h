/* TURN servers handed to clients in `welcome.ice_servers`, with
 * credentials in the TURN REST form that coturn checks with
 * `use-auth-secret` and `static-auth-secret`: the username is
 * "<expiry>:<user id>" (expiry in seconds since the epoch), the credential
 * base64(HMAC-SHA1(secret, username)). Nothing is stored per user: a TURN
 * server that shares the secret recomputes the credential from the
 * username and refuses it once the expiry has passed. Time is a parameter. */
#ifndef PARLEY_TURN_H
#define PARLEY_TURN_H

#include <stddef.h>
#include <stdint.h>

#include "parley/common.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct pl_turn pl_turn;

#define PL_TURN_MAX_URLS 8
#define PL_TURN_URL_MAX 255
#define PL_TURN_MAX_SECRET 4096
/* A day: longer than a meeting, short enough that a credential that leaked
 * from a page is of little use. An allocation is refreshed with the same
 * credential, so a meeting longer than the lifetime loses its relay. */
#define PL_TURN_DEFAULT_TTL_S 86400
#define PL_TURN_MIN_TTL_S 60
#define PL_TURN_MAX_TTL_S (30 * 86400)
/* "<expiry>:<user id>": up to 19 digits, a colon and an id of up to 64 bytes. */
#define PL_TURN_USERNAME_MAX 84
/* base64 of a 20-byte HMAC-SHA1. */
#define PL_TURN_CREDENTIAL_LEN 28

/* Whether `url` is a TURN URL (RFC 7065) a browser accepts:
 * turn:HOST[:PORT][?transport=udp|tcp] or turns:HOST[:PORT][?transport=tcp],
 * HOST a name, an IPv4 address or a bracketed IPv6 address. 0, or
 * PL_EINVAL with *why saying what is wrong (a static string). */
int pl_turn_check_url(const char *url, const char **why);

/* The REST credential of `user` until `expiry_s`: username into
 * username[ucap], credential into credential[ccap] (both NUL-terminated).
 * PL_EINVAL for an empty secret or user, or a user with a ':' (coturn
 * reads the expiry up to the first one); PL_ENOSPC when a buffer is short. */
int pl_turn_credential(const uint8_t *secret, size_t len, int64_t expiry_s, const char *user,
                       char *username, size_t ucap, char *credential, size_t ccap);

/* The TURN servers of this Parley server: a shared secret (1 to
 * PL_TURN_MAX_SECRET bytes, else PL_EINVAL) and how long credentials last
 * (PL_TURN_MIN_TTL_S to PL_TURN_MAX_TTL_S). */
int pl_turn_create(const pl_env *env, const uint8_t *secret, size_t len, int64_t ttl_s,
                   pl_turn **out);
void pl_turn_destroy(pl_turn *turn);

/* Adds a URL checked with pl_turn_check_url (PL_EINVAL and *why), up to
 * PL_TURN_MAX_URLS (PL_ENOSPC beyond). */
int pl_turn_add_url(pl_turn *turn, const char *url, const char **why);
size_t pl_turn_url_count(const pl_turn *turn);
const char *pl_turn_url(const pl_turn *turn, size_t i);

/* A credential for `user` valid from now_s for the server's lifetime. */
int pl_turn_issue(const pl_turn *turn, const char *user, int64_t now_s, char *username, size_t ucap,
                  char *credential, size_t ccap);

#ifdef __cplusplus
}
#endif
#endif
