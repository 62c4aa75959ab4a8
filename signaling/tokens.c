#include "tokens.h"

#include <stdint.h>
#include <stdio.h>

void sig_random_ice(const pl_env *env, char *out, size_t n)
{
    static const char chars[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    uint8_t r[32];
    pl_env_random(env, r, n);
    for (size_t i = 0; i < n; i++)
        out[i] = chars[r[i] & 63];
    out[n] = '\0';
}

void sig_random_id(const pl_env *env, char prefix, char *out, size_t cap)
{
    uint8_t rnd[6];
    pl_env_random(env, rnd, sizeof(rnd));
    snprintf(out, cap, "%c%02x%02x%02x%02x%02x%02x", prefix, rnd[0], rnd[1], rnd[2], rnd[3], rnd[4],
             rnd[5]);
}

void sig_random_secret(const pl_env *env, char out[33])
{
    uint8_t rnd[16];
    pl_env_random(env, rnd, sizeof(rnd));
    for (size_t i = 0; i < sizeof(rnd); i++)
        snprintf(out + 2 * i, 3, "%02x", rnd[i]);
}
