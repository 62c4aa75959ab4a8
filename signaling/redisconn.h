/* A synchronous connection to Redis (hiredis) with timeouts, shared by the
 * store of heads-ups and the bus between nodes; and the URL it is made
 * from. Not a public header. */
#ifndef PARLEY_SIG_REDISCONN_H
#define PARLEY_SIG_REDISCONN_H

#include <stddef.h>

#include "parley/common.h"

typedef struct redisContext redisContext;

typedef struct pl_redis_url {
    char host[256];
    int port;           /* 6379 when the URL has none */
    int db;             /* SELECT'ed after connecting; 0 when none */
    char password[256]; /* AUTH'ed when not "" */
} pl_redis_url;

/* redis://[:password@]host[:port][/db]; host may be [v6]. PL_OK, or
 * PL_EINVAL with why (which does not repeat the password). Sans-IO. */
int pl_redis_url_parse(const char *url, pl_redis_url *out, const char **why);

/* Connects within timeout_ms and sets every command's timeout to the same;
 * AUTH and SELECT when the URL asks. NULL with err filled on failure. */
redisContext *pl_redis_connect(const pl_redis_url *u, int timeout_ms, char *err, size_t err_len);
void pl_redis_close(redisContext *c);

/* Does the server fsync every write before it answers (appendonly yes,
 * appendfsync always)? PL_OK, or PL_ESTATE (or PL_EIO when it cannot
 * tell) with err saying what to change. */
int pl_redis_check_durable(redisContext *c, char *err, size_t err_len);

#endif
