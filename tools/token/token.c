/* parley-token: mints access tokens for a server started with the same
 * secret (--auth-secret / --auth-secret-file). Prints the token. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "parley/auth.h"

static void usage(FILE *f)
{
    fprintf(f, "usage: parley-token (--secret S | --secret-file F) --sub ID [options]\n"
               "  --sub ID           the user id (1-64 of [A-Za-z0-9._@+-])\n"
               "  --name NAME        the name others see (default: the hello's name)\n"
               "  --room ROOM        the only room the token may join\n"
               "  --no-publish       may not publish (listen and watch only)\n"
               "  --no-subscribe     may not receive others' media\n"
               "  --record           may start and stop a room's recording\n"
               "  --ttl S            valid for S seconds from now (default 3600)\n"
               "  --not-before S     valid only S seconds from now on (default 0)\n");
}

int main(int argc, char **argv)
{
    static const struct option longs[] = {
        {"secret", required_argument, NULL, 's'},
        {"secret-file", required_argument, NULL, 'f'},
        {"sub", required_argument, NULL, 'u'},
        {"name", required_argument, NULL, 'n'},
        {"room", required_argument, NULL, 'r'},
        {"no-publish", no_argument, NULL, 'P'},
        {"no-subscribe", no_argument, NULL, 'S'},
        {"record", no_argument, NULL, 'R'},
        {"ttl", required_argument, NULL, 't'},
        {"not-before", required_argument, NULL, 'b'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    static char secret[PL_AUTH_MAX_SECRET + 1];
    const char *secret_arg = NULL, *secret_file = NULL;
    pl_auth_claims c = {.can_publish = true, .can_subscribe = true};
    long ttl = 3600, nbf = 0;
    int opt;
    while ((opt = getopt_long(argc, argv, "", longs, NULL)) != -1) {
        switch (opt) {
        case 's':
            secret_arg = optarg;
            break;
        case 'f':
            secret_file = optarg;
            break;
        case 'u':
            snprintf(c.sub, sizeof(c.sub), "%s", optarg);
            break;
        case 'n':
            snprintf(c.name, sizeof(c.name), "%s", optarg);
            break;
        case 'r':
            snprintf(c.room, sizeof(c.room), "%s", optarg);
            break;
        case 'P':
            c.can_publish = false;
            break;
        case 'S':
            c.can_subscribe = false;
            break;
        case 'R':
            c.can_record = true;
            break;
        case 't':
            ttl = strtol(optarg, NULL, 10);
            break;
        case 'b':
            nbf = strtol(optarg, NULL, 10);
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (!secret_arg == !secret_file || !c.sub[0] || ttl <= 0) {
        usage(stderr);
        return 2;
    }
    if (secret_file && pl_auth_read_secret(secret_file, secret, sizeof(secret)) != PL_OK) {
        fprintf(stderr, "parley-token: cannot read %s\n", secret_file);
        return 1;
    }
    const char *s = secret_file ? secret : secret_arg;
    pl_env env = pl_env_default();
    pl_auth *auth;
    if (pl_auth_create(&env, (const uint8_t *)s, strlen(s), &auth) != PL_OK) {
        fprintf(stderr, "parley-token: the secret must be at least %d bytes\n", PL_AUTH_MIN_SECRET);
        return 1;
    }
    time_t now = time(NULL);
    c.exp = (int64_t)now + ttl;
    c.nbf = nbf > 0 ? (int64_t)now + nbf : 0;
    char token[PL_AUTH_MAX_TOKEN + 1];
    int n = pl_auth_mint(auth, &c, token, sizeof(token));
    pl_auth_destroy(auth);
    if (n < 0) {
        fprintf(stderr, "parley-token: %s\n",
                n == PL_EINVAL ? "invalid --sub, --name or --room" : pl_strerror(n));
        return 1;
    }
    printf("%s\n", token);
    return 0;
}
