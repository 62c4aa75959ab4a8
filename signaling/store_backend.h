/* What a backend of the store (store_sqlite.c, store_redis.c) gives
 * store.c, which holds the public pl_store API. Not a public header. */
#ifndef PARLEY_SIG_STORE_BACKEND_H
#define PARLEY_SIG_STORE_BACKEND_H

#include "parley/store.h"

typedef struct store_ops {
    /* Stores m for to_user unless its call_id is there already (then it
     * is left as it is); with_message: m's message is attached too. The
     * heads-up, its message and the trim to PL_STORE_MAX_MISSED commit
     * together. */
    int (*add)(void *b, const char *to_user, const pl_missed *m, bool with_message);
    int (*get)(void *b, const char *to_user, const char *call_id, pl_missed *out);
    int (*each)(void *b, const char *to_user, void (*fn)(void *arg, const pl_missed *m), void *arg);
    int (*ack)(void *b, const char *to_user, const char *call_id);
    int64_t (*count)(void *b);
    void (*destroy)(void *b);
} store_ops;

int store_sqlite_open(const pl_env *env, const char *path, const store_ops **ops, void **b);
int store_redis_open(const pl_env *env, const char *url, const store_ops **ops, void **b);

#endif
