/* The random names the core hands out: ICE credentials, participant and
 * call ids, resume tokens. They call nothing else of the core. */
#ifndef PARLEY_SIG_TOKENS_H
#define PARLEY_SIG_TOKENS_H

#include <stddef.h>

#include "parley/common.h"

/* n characters of the ICE alphabet (RFC 8839 ice-char), n <= 32. */
void sig_random_ice(const pl_env *env, char *out, size_t n);
/* `prefix` and 12 hex digits ("p..." participants, "c..." calls). */
void sig_random_id(const pl_env *env, char prefix, char *out, size_t cap);
/* 32 hex digits: a secret. */
void sig_random_secret(const pl_env *env, char out[33]);

#endif
