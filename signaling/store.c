/* The public store API over whichever backend holds the heads-ups. */
#include "store_backend.h"

struct pl_store {
    pl_env env;
    const store_ops *ops;
    void *b;
};

static int wrap(const pl_env *env, int rc, const store_ops *ops, void *b, pl_store **out)
{
    if (rc != PL_OK)
        return rc;
    pl_store *st = pl_env_alloc(env, sizeof(*st));
    if (!st) {
        ops->destroy(b);
        return PL_ENOMEM;
    }
    *st = (pl_store){.env = *env, .ops = ops, .b = b};
    *out = st;
    return PL_OK;
}

int pl_store_create(const pl_env *env, const char *path, pl_store **out)
{
    *out = NULL;
    const store_ops *ops = NULL;
    void *b = NULL;
    int rc = store_sqlite_open(env, path, &ops, &b);
    return wrap(env, rc, ops, b, out);
}

int pl_store_open_redis(const pl_env *env, const char *url, pl_store **out)
{
    *out = NULL;
    const store_ops *ops = NULL;
    void *b = NULL;
    int rc = store_redis_open(env, url, &ops, &b);
    return wrap(env, rc, ops, b, out);
}

void pl_store_destroy(pl_store *st)
{
    if (!st)
        return;
    st->ops->destroy(st->b);
    pl_env_free(&st->env, st);
}

int pl_store_add_missed(pl_store *st, const char *to_user, const pl_missed *m)
{
    return st->ops->add(st->b, to_user, m, false);
}

int pl_store_set_message(pl_store *st, const char *to_user, const pl_missed *m)
{
    return st->ops->add(st->b, to_user, m, true);
}

int pl_store_get_missed(pl_store *st, const char *to_user, const char *call_id, pl_missed *out)
{
    return st->ops->get(st->b, to_user, call_id, out);
}

int pl_store_each_missed(pl_store *st, const char *to_user,
                         void (*fn)(void *arg, const pl_missed *m), void *arg)
{
    return st->ops->each(st->b, to_user, fn, arg);
}

int pl_store_ack_missed(pl_store *st, const char *to_user, const char *call_id)
{
    return st->ops->ack(st->b, to_user, call_id);
}

int64_t pl_store_count_missed(pl_store *st)
{
    return st->ops->count(st->b);
}
