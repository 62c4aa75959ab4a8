/* Command-line numbers for the reflector and its load generator: the whole
 * argument must be a number within [lo, hi]. */
#ifndef PARLEY_REFLECT_ARGS_H
#define PARLEY_REFLECT_ARGS_H

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>

static inline bool parse_int(const char *s, long lo, long hi, int *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi)
        return false;
    *out = (int)v;
    return true;
}

#endif
