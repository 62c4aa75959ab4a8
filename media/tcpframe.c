#include "parley/tcpframe.h"

#include <string.h>

struct pl_tcpframe {
    pl_env env;
    size_t max_len;
    uint8_t hdr[PL_TCPFRAME_HDR];
    size_t n_hdr;   /* header bytes seen of the frame in progress */
    size_t need;    /* its length, once the header is whole */
    size_t have;    /* its bytes gathered in buf */
    bool gathering; /* the frame in progress is being copied into buf */
    bool failed;
    uint8_t buf[];
};

pl_tcpframe *pl_tcpframe_create(const pl_env *env, size_t max_len)
{
    if (max_len == 0 || max_len > PL_TCPFRAME_MAX)
        return NULL;
    pl_tcpframe *f = pl_env_alloc(env, sizeof(*f) + max_len);
    if (!f)
        return NULL;
    f->env = *env;
    f->max_len = max_len;
    return f;
}

void pl_tcpframe_destroy(pl_tcpframe *f)
{
    if (f)
        pl_env_free(&f->env, f);
}

static void reset(pl_tcpframe *f)
{
    f->n_hdr = 0;
    f->need = 0;
    f->have = 0;
    f->gathering = false;
}

int pl_tcpframe_next(pl_tcpframe *f, uint8_t **in, size_t *in_len, uint8_t **frame,
                     size_t *frame_len)
{
    if (f->failed)
        return PL_EMALFORMED;
    while (f->n_hdr < PL_TCPFRAME_HDR) {
        if (*in_len == 0)
            return PL_EAGAIN;
        f->hdr[f->n_hdr++] = **in;
        (*in)++;
        (*in_len)--;
        if (f->n_hdr == PL_TCPFRAME_HDR) {
            f->need = (size_t)f->hdr[0] << 8 | f->hdr[1];
            if (f->need > f->max_len) {
                f->failed = true;
                return PL_EMALFORMED;
            }
        }
    }
    /* The whole frame lies in the caller's bytes: hand it out there. */
    if (!f->gathering && *in_len >= f->need) {
        *frame = *in;
        *frame_len = f->need;
        *in += f->need;
        *in_len -= f->need;
        reset(f);
        return PL_OK;
    }
    f->gathering = true;
    size_t take = f->need - f->have;
    if (take > *in_len)
        take = *in_len;
    memcpy(f->buf + f->have, *in, take);
    f->have += take;
    *in += take;
    *in_len -= take;
    if (f->have < f->need)
        return PL_EAGAIN;
    *frame = f->buf;
    *frame_len = f->need;
    reset(f);
    return PL_OK;
}

size_t pl_tcpframe_pending(const pl_tcpframe *f)
{
    return f->n_hdr + f->have;
}

bool pl_tcpframe_failed(const pl_tcpframe *f)
{
    return f->failed;
}

int pl_tcpframe_put_header(uint8_t hdr[PL_TCPFRAME_HDR], size_t len)
{
    if (len > PL_TCPFRAME_MAX)
        return PL_EINVAL;
    hdr[0] = (uint8_t)(len >> 8);
    hdr[1] = (uint8_t)len;
    return PL_OK;
}
