/* libFuzzer target: the Range header. The first 8 bytes are the file's
 * size, the rest the header's value. The answer is one of 200, 206 and 416,
 * a 206 lies inside the file, a 200 is the whole file, parsing again gives
 * the same, and its Content-Range always fits 72 bytes. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "parley/common.h"
#include "parley/httprange.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 8)
        return 0;
    uint64_t file = 0;
    memcpy(&file, data, 8);
    /* Small sizes too, where the edges are. */
    if (data[0] & 1)
        file %= 4096;
    char *value = malloc(size - 7);
    memcpy(value, data + 8, size - 8);
    value[size - 8] = '\0';
    pl_http_range a, b;
    if (pl_http_range_parse(value, file, &a) != PL_OK ||
        pl_http_range_parse(value, file, &b) != PL_OK || a.status != b.status ||
        a.start != b.start || a.end != b.end || a.length != b.length)
        __builtin_trap();
    char cr[72];
    switch (a.status) {
    case 200:
        if (a.start != 0 || a.length != file)
            __builtin_trap();
        break;
    case 206:
        if (a.start > a.end || a.end >= file || a.length != a.end - a.start + 1 ||
            pl_http_range_content_range(&a, file, cr, sizeof(cr)) != PL_OK)
            __builtin_trap();
        break;
    case 416:
        if (a.length != 0 || pl_http_range_content_range(&a, file, cr, sizeof(cr)) != PL_OK)
            __builtin_trap();
        break;
    default:
        __builtin_trap();
    }
    free(value);
    return 0;
}
