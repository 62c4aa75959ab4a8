/* Webhook senders: a thread per receiver, fed by the signaling thread
 * through the receiver's queue (parley/hookq.h, the policy) under a lock
 * that is never held across the network. The thread signs each body with
 * HMAC-SHA256 and POSTs it (webhook_http.c). */
#include "webhooks.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "webhook_http.h"

#define MAX_SECRET 1024
#define FLUSH_MS 2000

typedef struct receiver {
    struct pl_webhooks *w;
    const char *url;
    char shown[256]; /* the URL as logged: without user and password */
    pl_hookq *q;
    pthread_mutex_t lock;
    pthread_cond_t wake;
    pthread_t thread;
    bool started;
    wh_http *http;
    /* Said once when it starts failing, once when it is back; read by
     * the flush at shutdown. */
    atomic_bool failing;
} receiver;

struct pl_webhooks {
    pl_log *log;
    uint8_t secret[MAX_SECRET];
    size_t secret_len;
    atomic_bool stop;
    receiver rx[PL_WEBHOOKS_MAX_URLS];
    size_t n;
};

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A URL may carry credentials (https://user:pass@host/, or a token in
 * its query): the log shows the scheme, host and path only, cut to fit. */
static void url_for_log(const char *url, char *out, size_t cap)
{
    const char *host = strstr(url, "://") + 3; /* checked: http:// or https:// */
    const char *end = host + strcspn(host, "/?#");
    const char *at = NULL; /* the last '@' before the path ends the user info */
    for (const char *p = host; p < end; p++)
        if (*p == '@')
            at = p;
    const char *from = at ? at + 1 : host;
    snprintf(out, cap, "%.*s%.*s", (int)(host - url), url, (int)strcspn(from, "?#"), from);
}

/* "sha256=" and the hex of HMAC-SHA256(secret, body). */
static void sign(const pl_webhooks *w, const char *body, size_t len, char *out, size_t cap)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned n = 0;
    HMAC(EVP_sha256(), w->secret, (int)w->secret_len, (const unsigned char *)body, len, md, &n);
    size_t o = (size_t)snprintf(out, cap, "sha256=");
    for (unsigned i = 0; i < n && o + 2 < cap; i++, o += 2)
        snprintf(out + o, cap - o, "%02x", md[i]);
}

/* 2xx delivered; no answer, a timeout, 408, 429 or 5xx may go better
 * later; anything else (4xx, a redirect) would be answered the same. */
static enum pl_hookq_result classify(int status)
{
    if (status >= 200 && status < 300)
        return PL_HOOKQ_DELIVERED;
    if (status == 0 || status == 408 || status == 429 || status >= 500)
        return PL_HOOKQ_FAILED;
    return PL_HOOKQ_REFUSED;
}

static void report(receiver *r, enum pl_hookq_result res, int status, const char *err)
{
    pl_log *log = r->w->log;
    if (res == PL_HOOKQ_DELIVERED) {
        if (atomic_exchange(&r->failing, false))
            pl_log_printf(log, PL_LOG_INFO, "webhooks: %s receives events again", r->shown);
    } else if (res == PL_HOOKQ_REFUSED) {
        pl_log_printf(log, PL_LOG_WARN, "webhooks: %s refused an event (HTTP %d); it is dropped",
                      r->shown, status);
    } else {
        /* Every retry at debug; the first failure of a run at warn. */
        enum pl_log_level lv = atomic_exchange(&r->failing, true) ? PL_LOG_DEBUG : PL_LOG_WARN;
        if (status)
            pl_log_printf(log, lv, "webhooks: %s answered HTTP %d; retrying with backoff", r->shown,
                          status);
        else
            pl_log_printf(log, lv, "webhooks: %s: %s; retrying with backoff", r->shown, err);
    }
}

static void *sender(void *arg)
{
    receiver *r = arg;
    pl_webhooks *w = r->w;
    pthread_mutex_lock(&r->lock);
    while (!atomic_load(&w->stop)) {
        int64_t now = mono_ms();
        size_t len;
        const char *body = pl_hookq_poll(r->q, now, &len);
        if (body) {
            /* The body in flight stays where it is until pl_hookq_done:
             * pushes meanwhile never touch it. */
            pthread_mutex_unlock(&r->lock);
            char sig[80], err[256] = "";
            sign(w, body, len, sig, sizeof(sig));
            int status = wh_http_post(r->http, body, len, sig, err, sizeof(err));
            enum pl_hookq_result res = classify(status);
            if (!atomic_load(&w->stop))
                report(r, res, status, err);
            pthread_mutex_lock(&r->lock);
            pl_hookq_done(r->q, res, mono_ms());
            continue;
        }
        int64_t wait = pl_hookq_next_timeout(r->q, now);
        if (wait < 0) {
            pthread_cond_wait(&r->wake, &r->lock);
        } else {
            struct timespec ts;
            clock_gettime(CLOCK_MONOTONIC, &ts);
            ts.tv_sec += wait / 1000;
            ts.tv_nsec += (wait % 1000) * 1000000;
            if (ts.tv_nsec >= 1000000000) {
                ts.tv_sec++;
                ts.tv_nsec -= 1000000000;
            }
            pthread_cond_timedwait(&r->wake, &r->lock, &ts);
        }
    }
    pthread_mutex_unlock(&r->lock);
    return NULL;
}

int pl_webhooks_create(const pl_webhooks_config *cfg, pl_webhooks **out)
{
    *out = NULL;
    const char *why;
    if (cfg->n_urls < 1 || cfg->n_urls > PL_WEBHOOKS_MAX_URLS || cfg->secret_len < 1 ||
        cfg->secret_len > MAX_SECRET)
        return PL_EINVAL;
    for (size_t i = 0; i < cfg->n_urls; i++)
        if (pl_hookq_check_url(cfg->urls[i], &why) != PL_OK)
            return PL_EINVAL;
    pl_webhooks *w = calloc(1, sizeof(*w));
    if (!w)
        return PL_ENOMEM;
    w->log = cfg->log;
    memcpy(w->secret, cfg->secret, cfg->secret_len);
    w->secret_len = cfg->secret_len;
    atomic_init(&w->stop, false);
    if (wh_http_global_init() != 0) {
        free(w);
        return PL_ENOMEM;
    }
    pl_env env = pl_env_default();
    pl_hookq_config qc = {cfg->capacity, PL_HOOKQ_BACKOFF_MIN_MS, PL_HOOKQ_BACKOFF_MAX_MS};
    int rc = PL_OK;
    for (size_t i = 0; i < cfg->n_urls && rc == PL_OK; i++) {
        receiver *r = &w->rx[i];
        r->w = w;
        r->url = cfg->urls[i];
        url_for_log(r->url, r->shown, sizeof(r->shown));
        pthread_condattr_t ca;
        pthread_condattr_init(&ca);
        pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
        pthread_cond_init(&r->wake, &ca);
        pthread_condattr_destroy(&ca);
        pthread_mutex_init(&r->lock, NULL);
        w->n++;
        rc = pl_hookq_create(&env, &qc, &r->q);
        if (rc == PL_OK && !(r->http = wh_http_create(r->url, &w->stop)))
            rc = PL_ENOMEM;
        if (rc == PL_OK && pthread_create(&r->thread, NULL, sender, r) != 0)
            rc = PL_ENOMEM;
        r->started = rc == PL_OK;
    }
    if (rc != PL_OK) {
        pl_webhooks_destroy(w);
        return rc;
    }
    *out = w;
    return PL_OK;
}

/* At shutdown the last events (participants leaving, rooms finishing)
 * were just queued: receivers that are up get a moment to take them. */
static void flush(pl_webhooks *w, int64_t ms)
{
    int64_t until = mono_ms() + ms;
    for (size_t i = 0; i < w->n; i++) {
        receiver *r = &w->rx[i];
        while (r->started) {
            pl_hookq_stats st;
            pthread_mutex_lock(&r->lock);
            pl_hookq_stats_get(r->q, &st);
            pthread_mutex_unlock(&r->lock);
            if (!st.queued || atomic_load(&r->failing) || mono_ms() >= until)
                break;
            nanosleep(&(struct timespec){0, 10 * 1000000}, NULL);
        }
    }
}

void pl_webhooks_destroy(pl_webhooks *w)
{
    if (!w)
        return;
    flush(w, FLUSH_MS);
    atomic_store(&w->stop, true);
    for (size_t i = 0; i < w->n; i++) {
        receiver *r = &w->rx[i];
        pthread_mutex_lock(&r->lock);
        pthread_cond_signal(&r->wake);
        pthread_mutex_unlock(&r->lock);
    }
    for (size_t i = 0; i < w->n; i++) {
        receiver *r = &w->rx[i];
        if (r->started)
            pthread_join(r->thread, NULL);
        pl_hookq_stats st = {0};
        if (r->q)
            pl_hookq_stats_get(r->q, &st);
        if (st.queued)
            pl_log_printf(w->log, PL_LOG_WARN,
                          "webhooks: %zu event%s for %s not delivered at shutdown", st.queued,
                          st.queued == 1 ? "" : "s", r->shown);
        pl_hookq_destroy(r->q);
        wh_http_destroy(r->http);
        pthread_cond_destroy(&r->wake);
        pthread_mutex_destroy(&r->lock);
    }
    wh_http_global_cleanup();
    OPENSSL_cleanse(w->secret, sizeof(w->secret));
    free(w);
}

void pl_webhooks_post(pl_webhooks *w, const char *body, size_t len)
{
    for (size_t i = 0; i < w->n; i++) {
        receiver *r = &w->rx[i];
        pthread_mutex_lock(&r->lock);
        if (pl_hookq_push(r->q, body, len) != PL_OK)
            pl_log_printf(w->log, PL_LOG_ERROR, "webhooks: out of memory; an event for %s is lost",
                          r->shown);
        pthread_cond_signal(&r->wake);
        pthread_mutex_unlock(&r->lock);
    }
}

void pl_webhooks_stats_get(pl_webhooks *w, pl_hookq_stats *sum)
{
    memset(sum, 0, sizeof(*sum));
    for (size_t i = 0; w && i < w->n; i++) {
        receiver *r = &w->rx[i];
        pl_hookq_stats st;
        pthread_mutex_lock(&r->lock);
        pl_hookq_stats_get(r->q, &st);
        pthread_mutex_unlock(&r->lock);
        sum->delivered += st.delivered;
        sum->retried += st.retried;
        sum->dropped += st.dropped;
        sum->refused += st.refused;
        sum->queued += st.queued;
    }
}
