/* libFuzzer target: a cluster's parsers (parley/placement.h). The first
 * byte picks one: a node's registry record, which must come back the same
 * through format and parse, or a redis:// URL, whose host must be a
 * string within its buffer and whose port must be 1..65535. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "parley/common.h"
#include "parley/placement.h"
#include "redisconn.h"

static void record(const uint8_t *data, size_t size)
{
    pl_place_node a, b;
    if (pl_place_node_parse((const char *)data, size, &a) != PL_OK)
        return;
    if (!pl_place_valid_id(a.id))
        __builtin_trap();
    char text[2048];
    int len = pl_place_node_format(&a, text, sizeof(text));
    if (len <= 0 || pl_place_node_parse(text, (size_t)len, &b) != PL_OK ||
        memcmp(&a, &b, sizeof(a)) != 0)
        __builtin_trap();
}

static void redis_url(const uint8_t *data, size_t size)
{
    char *url = malloc(size + 1);
    memcpy(url, data, size);
    url[size] = '\0';
    pl_redis_url u;
    const char *why = NULL;
    if (pl_redis_url_parse(url, &u, &why) == PL_OK &&
        (strlen(u.host) == 0 || u.port < 1 || u.port > 65535 || u.db < 0))
        __builtin_trap();
    free(url);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    if (data[0] & 1)
        redis_url(data + 1, size - 1);
    else
        record(data + 1, size - 1);
    return 0;
}
