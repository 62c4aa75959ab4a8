#include "redisconn.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include <hiredis/hiredis.h>

int pl_redis_url_parse(const char *url, pl_redis_url *out, const char **why)
{
    static const char scheme[] = "redis://";
    memset(out, 0, sizeof(*out));
    out->port = 6379;
    const char *w = NULL;
    if (!url || strncmp(url, scheme, sizeof(scheme) - 1) != 0) {
        w = "must start with redis://";
        goto bad;
    }
    const char *p = url + sizeof(scheme) - 1;
    const char *at = strrchr(p, '@');
    if (at) {
        /* redis://:password@host or redis://user:password@host: only the
         * password is used (AUTH password), the user must be default. */
        const char *colon = memchr(p, ':', (size_t)(at - p));
        if (!colon) {
            w = "credentials must be :password@";
            goto bad;
        }
        if (colon != p && !(colon - p == 7 && strncmp(p, "default", 7) == 0)) {
            w = "only the default user is supported";
            goto bad;
        }
        size_t n = (size_t)(at - colon - 1);
        if (n == 0 || n >= sizeof(out->password)) {
            w = "bad password length";
            goto bad;
        }
        memcpy(out->password, colon + 1, n);
        p = at + 1;
    }
    const char *host_end;
    const char *rest;
    if (*p == '[') {
        host_end = strchr(p, ']');
        if (!host_end) {
            w = "unterminated [IPv6] host";
            goto bad;
        }
        p++;
        rest = host_end + 1;
    } else {
        host_end = p + strcspn(p, ":/");
        rest = host_end;
    }
    size_t hn = (size_t)(host_end - p);
    if (hn == 0 || hn >= sizeof(out->host)) {
        w = "no host";
        goto bad;
    }
    memcpy(out->host, p, hn);
    if (*rest == ':') {
        char *end;
        long port = strtol(rest + 1, &end, 10);
        if (end == rest + 1 || port < 1 || port > 65535) {
            w = "bad port";
            goto bad;
        }
        out->port = (int)port;
        rest = end;
    }
    if (*rest == '/' && rest[1]) {
        char *end;
        long db = strtol(rest + 1, &end, 10);
        if (end == rest + 1 || *end || db < 0 || db > 65535) {
            w = "bad database number";
            goto bad;
        }
        out->db = (int)db;
        rest = end;
    } else if (*rest == '/') {
        rest++;
    }
    if (*rest) {
        w = "unexpected text after host[:port][/db]";
        goto bad;
    }
    return PL_OK;
bad:
    if (why)
        *why = w;
    return PL_EINVAL;
}

/* A reply that is an error or missing, said in err. */
static bool failed(redisContext *c, redisReply *r, const char *what, char *err, size_t n)
{
    if (!r) {
        snprintf(err, n, "%s: %s", what, c->errstr[0] ? c->errstr : "no reply");
        return true;
    }
    if (r->type == REDIS_REPLY_ERROR) {
        snprintf(err, n, "%s: %s", what, r->str);
        return true;
    }
    return false;
}

redisContext *pl_redis_connect(const pl_redis_url *u, int timeout_ms, char *err, size_t err_len)
{
    struct timeval tv = {timeout_ms / 1000, (timeout_ms % 1000) * 1000};
    redisContext *c = redisConnectWithTimeout(u->host, u->port, tv);
    if (!c) {
        snprintf(err, err_len, "cannot connect to %s:%d: out of memory", u->host, u->port);
        return NULL;
    }
    if (c->err) {
        snprintf(err, err_len, "cannot connect to %s:%d: %s", u->host, u->port, c->errstr);
        redisFree(c);
        return NULL;
    }
    /* Without it a stalled server would stall the signaling loop. */
    if (redisSetTimeout(c, tv) != REDIS_OK || redisEnableKeepAlive(c) != REDIS_OK) {
        snprintf(err, err_len, "%s:%d: cannot set the timeout", u->host, u->port);
        redisFree(c);
        return NULL;
    }
    redisReply *r;
    if (u->password[0]) {
        r = redisCommand(c, "AUTH %s", u->password);
        bool bad = failed(c, r, "AUTH", err, err_len);
        freeReplyObject(r);
        if (bad) {
            redisFree(c);
            return NULL;
        }
    }
    if (u->db) {
        r = redisCommand(c, "SELECT %d", u->db);
        bool bad = failed(c, r, "SELECT", err, err_len);
        freeReplyObject(r);
        if (bad) {
            redisFree(c);
            return NULL;
        }
    }
    return c;
}

void pl_redis_close(redisContext *c)
{
    if (c)
        redisFree(c);
}

/* CONFIG GET name into val: PL_OK, PL_EIO. */
static int config_get(redisContext *c, const char *name, char *val, size_t n, char *err,
                      size_t err_len)
{
    redisReply *r = redisCommand(c, "CONFIG GET %s", name);
    int rc = PL_EIO;
    if (failed(c, r, "CONFIG GET", err, err_len))
        ;
    else if (r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
             r->element[1]->type != REDIS_REPLY_STRING)
        snprintf(err, err_len, "CONFIG GET %s: unexpected reply", name);
    else {
        snprintf(val, n, "%s", r->element[1]->str);
        rc = PL_OK;
    }
    freeReplyObject(r);
    return rc;
}

int pl_redis_check_durable(redisContext *c, char *err, size_t err_len)
{
    char aof[16], fsync[16];
    if (config_get(c, "appendonly", aof, sizeof(aof), err, err_len) != PL_OK ||
        config_get(c, "appendfsync", fsync, sizeof(fsync), err, err_len) != PL_OK)
        return PL_EIO;
    if (strcmp(aof, "yes") != 0 || strcmp(fsync, "always") != 0) {
        snprintf(err, err_len,
                 "Redis runs with appendonly %s and appendfsync %s: an acknowledged write "
                 "could be lost in a crash; run it with appendonly yes and appendfsync always",
                 aof, fsync);
        return PL_ESTATE;
    }
    return PL_OK;
}
