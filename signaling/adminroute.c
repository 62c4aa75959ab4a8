#include "parley/adminroute.h"

#include <stdio.h>
#include <string.h>

#include "parley/common.h"

#define MAX_SEGMENTS 8

/* Splits "/a/b/c" into segments; false for an empty segment (// or a
 * trailing slash), too many, or a character names never have. */
static bool split(const char *path, char seg[MAX_SEGMENTS][PL_ADMIN_NAME_MAX + 1], size_t *n)
{
    *n = 0;
    if (!path || path[0] != '/')
        return false;
    const char *p = path + 1;
    while (*p) {
        if (*n == MAX_SEGMENTS)
            return false;
        size_t len = 0;
        while (p[len] && p[len] != '/')
            len++;
        if (len < 1 || len > PL_ADMIN_NAME_MAX)
            return false;
        for (size_t i = 0; i < len; i++) {
            char c = p[i];
            if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '.' || c == '_' || c == '-'))
                return false;
        }
        memcpy(seg[*n], p, len);
        seg[(*n)++][len] = '\0';
        p += len;
        if (*p == '/') {
            p++;
            if (!*p)
                return false; /* trailing slash */
        }
    }
    return true;
}

static int want(enum pl_admin_method method, enum pl_admin_method allowed,
                enum pl_admin_action action, pl_admin_route *out)
{
    if (method != allowed)
        return PL_EUNSUPPORTED;
    out->action = action;
    return PL_OK;
}

int pl_admin_route_parse(enum pl_admin_method method, const char *path, pl_admin_route *out)
{
    memset(out, 0, sizeof(*out));
    char seg[MAX_SEGMENTS][PL_ADMIN_NAME_MAX + 1];
    size_t n;
    if (!split(path, seg, &n) || n == 0)
        return PL_ENOTFOUND;
    if (n == 1 && strcmp(seg[0], "stats") == 0)
        return want(method, PL_ADMIN_GET, PL_ADMIN_STATS, out);
    if (n == 1 && strcmp(seg[0], "drain") == 0)
        return want(method, PL_ADMIN_POST, PL_ADMIN_DRAIN, out);
    if (n == 1 && strcmp(seg[0], "metrics") == 0)
        return want(method, PL_ADMIN_GET, PL_ADMIN_METRICS, out);
    if (n == 2 && strcmp(seg[0], "recordings") == 0) {
        snprintf(out->recording, sizeof(out->recording), "%s", seg[1]);
        return want(method, PL_ADMIN_DELETE, PL_ADMIN_DELETE_RECORDING, out);
    }
    if (strcmp(seg[0], "rooms") != 0)
        return PL_ENOTFOUND;
    if (n == 1)
        return want(method, PL_ADMIN_GET, PL_ADMIN_ROOMS, out);
    snprintf(out->room, sizeof(out->room), "%s", seg[1]);
    if (n == 2)
        return want(method, PL_ADMIN_DELETE, PL_ADMIN_CLOSE_ROOM, out);
    if (n == 3 && strcmp(seg[2], "limit") == 0)
        return want(method, PL_ADMIN_PUT, PL_ADMIN_SET_LIMIT, out);
    if (n == 3 && strcmp(seg[2], "recordings") == 0)
        return want(method, PL_ADMIN_GET, PL_ADMIN_RECORDINGS, out);
    if (n == 3 && strcmp(seg[2], "recording") == 0)
        return want(method, PL_ADMIN_POST, PL_ADMIN_RECORD, out);
    if (strcmp(seg[2], "participants") != 0 || n == 3)
        return PL_ENOTFOUND;
    snprintf(out->participant, sizeof(out->participant), "%s", seg[3]);
    if (n == 4)
        return want(method, PL_ADMIN_DELETE, PL_ADMIN_REMOVE, out);
    if (n != 7 || strcmp(seg[4], "tracks") != 0)
        return PL_ENOTFOUND;
    snprintf(out->track, sizeof(out->track), "%s", seg[5]);
    if (strcmp(seg[6], "mute") == 0)
        return want(method, PL_ADMIN_POST, PL_ADMIN_MUTE, out);
    if (strcmp(seg[6], "unmute") == 0)
        return want(method, PL_ADMIN_POST, PL_ADMIN_UNMUTE, out);
    return PL_ENOTFOUND;
}
