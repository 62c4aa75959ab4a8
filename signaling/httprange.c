#include "parley/httprange.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "parley/common.h"

static bool is_ows(char c)
{
    return c == ' ' || c == '\t';
}

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* tchar of RFC 9110 5.6.2. */
static bool is_tchar(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || is_digit(c) ||
           (c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

/* 1*DIGIT at *p, saturating at UINT64_MAX; false when there is no digit. */
static bool parse_pos(const char **p, uint64_t *v)
{
    const char *s = *p;
    if (!is_digit(*s))
        return false;
    uint64_t x = 0;
    for (; is_digit(*s); s++) {
        unsigned d = (unsigned)(*s - '0');
        x = (x > (UINT64_MAX - d) / 10) ? UINT64_MAX : x * 10 + d;
    }
    *p = s;
    *v = x;
    return true;
}

typedef struct spec {
    bool suffix;
    uint64_t first, last; /* suffix: last is the suffix length */
    bool has_last;
} spec;

static void whole(uint64_t size, pl_http_range *out)
{
    out->status = 200;
    out->start = 0;
    out->length = size;
    out->end = size ? size - 1 : 0;
}

static void unsatisfiable(pl_http_range *out)
{
    out->status = 416;
    out->start = out->end = out->length = 0;
}

static void partial(uint64_t start, uint64_t end, pl_http_range *out)
{
    out->status = 206;
    out->start = start;
    out->end = end;
    out->length = end - start + 1;
}

/* Parses the range-set after "bytes=": false when it breaks the grammar;
 * *count is the number of non-empty elements, *first the first of them. */
static bool parse_set(const char *p, const char *end, spec *first, int *count)
{
    *count = 0;
    for (;;) {
        while (p < end && is_ows(*p))
            p++;
        if (p < end && *p != ',') {
            spec s = {0};
            if (*p == '-') {
                p++;
                s.suffix = true;
                if (!parse_pos(&p, &s.last))
                    return false;
            } else {
                if (!parse_pos(&p, &s.first) || p >= end || *p != '-')
                    return false;
                p++;
                s.has_last = p < end && is_digit(*p);
                if (s.has_last && !parse_pos(&p, &s.last))
                    return false;
                if (s.has_last && s.last < s.first)
                    return false;
            }
            if (p > end)
                return false;
            if ((*count)++ == 0)
                *first = s;
            while (p < end && is_ows(*p))
                p++;
        }
        if (p == end)
            return *count > 0;
        if (*p != ',')
            return false;
        p++;
    }
}

int pl_http_range_parse(const char *value, uint64_t size, pl_http_range *out)
{
    if (!out)
        return PL_EINVAL;
    whole(size, out);
    if (!value)
        return PL_OK;
    const char *p = value, *end = value + strlen(value);
    while (p < end && is_ows(*p))
        p++;
    while (end > p && is_ows(end[-1]))
        end--;
    const char *unit = p;
    while (p < end && is_tchar(*p))
        p++;
    if (p == end || *p != '=' || p - unit != 5 || strncasecmp(unit, "bytes", 5) != 0)
        return PL_OK;
    spec s = {0};
    int count;
    if (!parse_set(p + 1, end, &s, &count) || count != 1)
        return PL_OK;
    if (s.suffix) {
        if (s.last == 0)
            unsatisfiable(out);
        else if (size > 0)
            partial(s.last >= size ? 0 : size - s.last, size - 1, out);
        return PL_OK;
    }
    if (s.first >= size)
        unsatisfiable(out);
    else
        partial(s.first, s.has_last && s.last < size ? s.last : size - 1, out);
    return PL_OK;
}

int pl_http_range_content_range(const pl_http_range *r, uint64_t size, char *buf, size_t n)
{
    int len;
    if (r->status == 206)
        len = snprintf(buf, n, "bytes %llu-%llu/%llu", (unsigned long long)r->start,
                       (unsigned long long)r->end, (unsigned long long)size);
    else if (r->status == 416)
        len = snprintf(buf, n, "bytes */%llu", (unsigned long long)size);
    else
        return PL_EINVAL;
    return (len < 0 || (size_t)len >= n) ? PL_ENOSPC : PL_OK;
}
