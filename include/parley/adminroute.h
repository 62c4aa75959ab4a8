/* The admin API's routes (docs/admin.md): a request's method and path made
 * into what it asks for, with the names it carries. Pure: the HTTP side
 * answers 404 for a path no route has and 405 for a method a path does not
 * take. */
#ifndef PARLEY_ADMINROUTE_H
#define PARLEY_ADMINROUTE_H

#include <stdbool.h>

#ifdef __cplusplus
extern "C" {
#endif

enum pl_admin_method {
    PL_ADMIN_GET,
    PL_ADMIN_POST,
    PL_ADMIN_PUT,
    PL_ADMIN_DELETE,
    PL_ADMIN_OTHER, /* HEAD, PATCH, ...: no route takes them */
};

enum pl_admin_action {
    PL_ADMIN_STATS,            /* GET /stats */
    PL_ADMIN_METRICS,          /* GET /metrics */
    PL_ADMIN_ROOMS,            /* GET /rooms */
    PL_ADMIN_CLOSE_ROOM,       /* DELETE /rooms/{room} */
    PL_ADMIN_SET_LIMIT,        /* PUT /rooms/{room}/limit, body {"max_participants":N} */
    PL_ADMIN_REMOVE,           /* DELETE /rooms/{room}/participants/{id} */
    PL_ADMIN_MUTE,             /* POST /rooms/{room}/participants/{id}/tracks/{track}/mute */
    PL_ADMIN_UNMUTE,           /* POST .../tracks/{track}/unmute */
    PL_ADMIN_RECORDINGS,       /* GET /rooms/{room}/recordings */
    PL_ADMIN_DELETE_RECORDING, /* DELETE /recordings/{recording} */
    PL_ADMIN_RECORD,           /* POST /rooms/{room}/recording, body {"record":bool} */
    PL_ADMIN_DRAIN,            /* POST /drain: as SIGTERM, new rooms go elsewhere */
};

/* Longest name a path segment may carry (room names are 64). */
#define PL_ADMIN_NAME_MAX 64

typedef struct pl_admin_route {
    enum pl_admin_action action;
    char room[PL_ADMIN_NAME_MAX + 1];
    char participant[PL_ADMIN_NAME_MAX + 1];
    char track[PL_ADMIN_NAME_MAX + 1];
    char recording[PL_ADMIN_NAME_MAX + 1]; /* as given: the handler checks it is an id */
} pl_admin_route;

/* 0 with *out filled; PL_ENOTFOUND for a path no route has (or whose names
 * are not of [A-Za-z0-9._-]{1,64}); PL_EUNSUPPORTED for a path that exists
 * with another method. A trailing slash is not part of any route. */
int pl_admin_route_parse(enum pl_admin_method method, const char *path, pl_admin_route *out);

#ifdef __cplusplus
}
#endif
#endif
