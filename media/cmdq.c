#include "cmdq.h"

#include <errno.h>
#include <stdbool.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

int pl_cmdq_init(pl_cmdq *q, const pl_env *env)
{
    q->env = *env;
    q->head = NULL;
    q->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (q->wake_fd < 0)
        return PL_ENOMEM;
    pthread_mutex_init(&q->lock, NULL);
    return PL_OK;
}

void pl_cmdq_destroy(pl_cmdq *q)
{
    if (q->wake_fd < 0)
        return;
    while (q->head) {
        pl_cmd *c = q->head;
        q->head = c->next;
        pl_env_free(&q->env, c);
    }
    close(q->wake_fd);
    q->wake_fd = -1;
    pthread_mutex_destroy(&q->lock);
}

void pl_cmdq_wake(pl_cmdq *q)
{
    uint64_t one = 1;
    if (write(q->wake_fd, &one, sizeof(one)) < 0) {
        /* The counter can only saturate; the loop is awake then anyway. */
    }
}

pl_cmd *pl_cmdq_take(pl_cmdq *q)
{
    uint64_t v;
    if (read(q->wake_fd, &v, sizeof(v)) < 0 && errno != EAGAIN) {
        /* Nothing to clear: the commands are what counts. */
    }
    pthread_mutex_lock(&q->lock);
    pl_cmd *list = q->head;
    q->head = NULL;
    pthread_mutex_unlock(&q->lock);
    pl_cmd *rev = NULL;
    while (list) {
        pl_cmd *n = list->next;
        list->next = rev;
        rev = list;
        list = n;
    }
    return rev;
}

void pl_cmdq_free(pl_cmdq *q, pl_cmd *c)
{
    if (c->tap)
        pl_rectap_release(c->tap);
    pl_env_free(&q->env, c);
}

static pl_cmd *new_cmd(pl_cmdq *q, enum pl_cmd_kind kind, uint64_t id)
{
    pl_cmd *c = pl_env_alloc(&q->env, sizeof(*c));
    if (c) {
        c->kind = kind;
        c->id = id;
        c->tap = NULL;
    }
    return c;
}

static int push(pl_cmdq *q, pl_cmd *c)
{
    if (!c)
        return PL_ENOMEM;
    pthread_mutex_lock(&q->lock);
    c->next = q->head;
    q->head = c;
    pthread_mutex_unlock(&q->lock);
    pl_cmdq_wake(q);
    return PL_OK;
}

static bool fits(const char *s, size_t cap)
{
    return s && strlen(s) < cap;
}

static bool creds_fit(const char *lu, const char *lp, const char *ru, const char *rp)
{
    return fits(lu, PL_ICE_CRED_MAX + 1) && fits(lp, PL_ICE_CRED_MAX + 1) &&
           fits(ru, PL_ICE_CRED_MAX + 1) && fits(rp, PL_ICE_CRED_MAX + 1);
}

static void set_creds(pl_cmd *c, const char *lu, const char *lp, const char *ru, const char *rp)
{
    strcpy(c->local_ufrag, lu);
    strcpy(c->local_pwd, lp);
    strcpy(c->remote_ufrag, ru);
    strcpy(c->remote_pwd, rp);
}

int pl_cmdq_add_transport(pl_cmdq *q, uint64_t id, const char *local_ufrag, const char *local_pwd,
                          const char *remote_ufrag, const char *remote_pwd, const char *fp_alg,
                          const char *fp)
{
    if (!creds_fit(local_ufrag, local_pwd, remote_ufrag, remote_pwd) ||
        !fits(fp_alg, PL_FP_ALG_MAX + 1) || !fits(fp, PL_FP_MAX + 1))
        return PL_EINVAL;
    pl_cmd *c = new_cmd(q, PL_CMD_ADD, id);
    if (c) {
        set_creds(c, local_ufrag, local_pwd, remote_ufrag, remote_pwd);
        strcpy(c->fp_alg, fp_alg);
        strcpy(c->fp, fp);
    }
    return push(q, c);
}

int pl_cmdq_restart_ice(pl_cmdq *q, uint64_t id, const char *local_ufrag, const char *local_pwd,
                        const char *remote_ufrag, const char *remote_pwd)
{
    if (!creds_fit(local_ufrag, local_pwd, remote_ufrag, remote_pwd))
        return PL_EINVAL;
    pl_cmd *c = new_cmd(q, PL_CMD_RESTART, id);
    if (c)
        set_creds(c, local_ufrag, local_pwd, remote_ufrag, remote_pwd);
    return push(q, c);
}

int pl_cmdq_remove(pl_cmdq *q, uint64_t id)
{
    return push(q, new_cmd(q, PL_CMD_REMOVE, id));
}

int pl_cmdq_set_tracks(pl_cmdq *q, uint64_t id, const pl_track *tracks, size_t n)
{
    if (n > PL_MAX_TRACKS)
        return PL_EINVAL;
    for (size_t i = 0; i < n; i++)
        if (tracks[i].n_layers > PL_MAX_LAYERS)
            return PL_EINVAL;
    pl_cmd *c = new_cmd(q, PL_CMD_TRACKS, id);
    if (c) {
        c->n = n;
        memcpy(c->tracks, tracks, n * sizeof(*tracks));
    }
    return push(q, c);
}

int pl_cmdq_set_routes(pl_cmdq *q, uint64_t id, const pl_route *routes, size_t n)
{
    if (n > PL_MAX_ROUTES)
        return PL_EINVAL;
    pl_cmd *c = new_cmd(q, PL_CMD_ROUTES, id);
    if (c) {
        c->n = n;
        memcpy(c->routes, routes, n * sizeof(*routes));
    }
    return push(q, c);
}

int pl_cmdq_record(pl_cmdq *q, uint64_t id, pl_rectap *tap)
{
    pl_cmd *c = new_cmd(q, PL_CMD_RECORD, id);
    if (c && tap) {
        pl_rectap_retain(tap);
        c->tap = tap;
    }
    return push(q, c);
}

int pl_cmdq_keyframe(pl_cmdq *q, uint64_t id, uint32_t ssrc)
{
    pl_cmd *c = new_cmd(q, PL_CMD_KEYFRAME, id);
    if (c)
        c->ssrc = ssrc;
    return push(q, c);
}
