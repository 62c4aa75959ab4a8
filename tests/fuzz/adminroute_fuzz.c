/* libFuzzer target: the admin API's routes. The first byte picks the
 * method, the rest is the path. A route found must carry only names of
 * [A-Za-z0-9._-]{1,64}, and parsing the same path again gives the same. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "parley/adminroute.h"
#include "parley/common.h"

static void check_name(const char *s, bool required)
{
    size_t n = strlen(s);
    if (n > PL_ADMIN_NAME_MAX || (required && n == 0))
        __builtin_trap();
    for (size_t i = 0; i < n; i++)
        if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-", s[i]))
            __builtin_trap();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    enum pl_admin_method method = (enum pl_admin_method)(data[0] % (PL_ADMIN_OTHER + 1));
    char *path = malloc(size);
    memcpy(path, data + 1, size - 1);
    path[size - 1] = '\0';
    pl_admin_route a, b;
    int rc = pl_admin_route_parse(method, path, &a);
    if (rc != pl_admin_route_parse(method, path, &b) || memcmp(&a, &b, sizeof(a)) != 0)
        __builtin_trap();
    if (rc == PL_OK) {
        enum pl_admin_action x = a.action;
        bool track = x == PL_ADMIN_MUTE || x == PL_ADMIN_UNMUTE;
        bool in_room =
            (x >= PL_ADMIN_CLOSE_ROOM && x <= PL_ADMIN_UNMUTE) || x == PL_ADMIN_RECORDINGS;
        check_name(a.room, in_room);
        check_name(a.participant, x == PL_ADMIN_REMOVE || track);
        check_name(a.track, track);
        check_name(a.recording, x == PL_ADMIN_DELETE_RECORDING);
    } else if (rc != PL_ENOTFOUND && rc != PL_EUNSUPPORTED) {
        __builtin_trap();
    }
    free(path);
    return 0;
}
