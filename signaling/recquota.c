#include "parley/recquota.h"

#include <stdlib.h>
#include <string.h>

#define MB ((int64_t)1 << 20)
#define DAY_MS ((int64_t)86400000)

int pl_recquota_limits(pl_rec_limits *out, int64_t user_mb, int64_t server_mb, int64_t days)
{
    memset(out, 0, sizeof(*out));
    if (user_mb < 0 || server_mb < 0 || days < 0 || user_mb > INT64_MAX / MB ||
        server_mb > INT64_MAX / MB || days > INT64_MAX / DAY_MS)
        return PL_EINVAL;
    out->user_bytes = user_mb * MB;
    out->server_bytes = server_mb * MB;
    out->keep_ms = days * DAY_MS;
    out->start_bytes = MB;
    return PL_OK;
}

bool pl_recquota_expired(const pl_rec_limits *l, const pl_rec_usage *r, int64_t now_ms)
{
    return l->keep_ms > 0 && r->ended_ms > 0 && now_ms - r->ended_ms >= l->keep_ms;
}

static bool owned_by(const pl_rec_usage *r, const char *user)
{
    return user && r->owner && strcmp(r->owner, user) == 0;
}

/* Bytes of `user`'s recordings that have not expired, and of the
 * recordings being written. Negative sizes (never valid) count as 0. */
static void totals(const pl_rec_limits *l, const pl_rec_usage *recs, size_t n, const char *user,
                   int64_t now_ms, int64_t *user_total, int64_t *writing_total)
{
    *user_total = *writing_total = 0;
    for (size_t i = 0; i < n; i++) {
        int64_t b = recs[i].bytes > 0 ? recs[i].bytes : 0;
        if (owned_by(&recs[i], user) && !pl_recquota_expired(l, &recs[i], now_ms))
            *user_total += b;
        if (recs[i].ended_ms == 0)
            *writing_total += b;
    }
}

enum pl_recquota_verdict pl_recquota_may_start(const pl_rec_limits *l, const pl_rec_usage *recs,
                                               size_t n, const char *user, int64_t now_ms)
{
    int64_t mine, writing;
    totals(l, recs, n, user, now_ms, &mine, &writing);
    int64_t need = l->start_bytes > 0 ? l->start_bytes : 0;
    if (l->user_bytes > 0 && mine > l->user_bytes - need)
        return PL_RECQUOTA_USER_FULL;
    if (l->server_bytes > 0 && writing > l->server_bytes - need)
        return PL_RECQUOTA_SERVER_FULL;
    return PL_RECQUOTA_OK;
}

enum pl_recquota_verdict pl_recquota_check(const pl_rec_limits *l, const pl_rec_usage *recs,
                                           size_t n, size_t i, int64_t now_ms)
{
    if (i >= n)
        return PL_RECQUOTA_OK;
    int64_t mine, writing;
    totals(l, recs, n, recs[i].owner, now_ms, &mine, &writing);
    if (l->user_bytes > 0 && mine > l->user_bytes)
        return PL_RECQUOTA_USER_FULL;
    if (l->server_bytes > 0 && writing > l->server_bytes)
        return PL_RECQUOTA_SERVER_FULL;
    return PL_RECQUOTA_OK;
}

static int by_end(const void *a, const void *b, void *arg)
{
    const pl_rec_usage *recs = arg;
    size_t x = *(const size_t *)a, y = *(const size_t *)b;
    if (recs[x].ended_ms != recs[y].ended_ms)
        return recs[x].ended_ms < recs[y].ended_ms ? -1 : 1;
    return x < y ? -1 : x > y;
}

int pl_recquota_sweep(const pl_rec_limits *l, const pl_rec_usage *recs, size_t n, int64_t now_ms,
                      size_t *out, size_t out_cap)
{
    if (n > 0 && (!recs || !out || out_cap < n))
        return PL_EINVAL;
    if (n > (size_t)INT32_MAX)
        return PL_EINVAL;
    size_t expired = 0;
    int64_t kept = 0;
    for (size_t i = 0; i < n; i++) {
        if (pl_recquota_expired(l, &recs[i], now_ms))
            out[expired++] = i;
        else if (recs[i].bytes > 0)
            kept += recs[i].bytes;
    }
    if (expired > 1)
        qsort_r(out, expired, sizeof(*out), by_end, (void *)recs);
    if (l->server_bytes <= 0 || kept <= l->server_bytes)
        return (int)expired;
    /* Over the server bound: the finished ones left, oldest first, go
     * until the rest fits. */
    size_t cand = expired;
    for (size_t i = 0; i < n; i++)
        if (recs[i].ended_ms > 0 && !pl_recquota_expired(l, &recs[i], now_ms))
            out[cand++] = i;
    if (cand - expired > 1)
        qsort_r(out + expired, cand - expired, sizeof(*out), by_end, (void *)recs);
    size_t taken = expired;
    while (taken < cand && kept > l->server_bytes) {
        if (recs[out[taken]].bytes > 0)
            kept -= recs[out[taken]].bytes;
        taken++;
    }
    return (int)taken;
}
