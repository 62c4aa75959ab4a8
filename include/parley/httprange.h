/* The HTTP Range request header (RFC 9110 section 14), for serving
 * recordings so that a browser can seek. Pure parser.
 *
 * What it answers:
 * - no header, a unit other than "bytes", or a value that does not follow
 *   the grammar (e.g. "bytes=5-2", "bytes=x-", "bytes 0-1"): 200 with the
 *   whole file, as the RFC lets a server ignore a Range it cannot use;
 * - one range (empty list elements, "bytes=0-9, ,", are skipped as the
 *   list rule asks): 206 with that range, its last position clamped to the
 *   file's end, a suffix longer than the file giving the whole file;
 * - one range that cannot be satisfied (a first position at or past the
 *   end, so any "a-" or "a-b" on an empty file, or "-0"): 416, answered
 *   with `Content-Range: bytes * /size` (without the space);
 * - a suffix range on an empty file: the RFC calls it satisfiable, but no
 *   Content-Range can name zero bytes, so 200 with the (empty) file;
 * - several ranges: 200 with the whole file. Ignoring the header is always
 *   allowed, while answering the first range only would give a client less
 *   than it asked with no multipart body to say so; browsers' media
 *   elements ask one range at a time.
 * Positions beyond 2^64 - 1 saturate, so they are past any file's end. */
#ifndef PARLEY_HTTPRANGE_H
#define PARLEY_HTTPRANGE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct pl_http_range {
    int status;      /* 200, 206 or 416 */
    uint64_t start;  /* first byte to send */
    uint64_t end;    /* last byte to send, inclusive; length - 1 */
    uint64_t length; /* bytes to send: 0 for a 416 or an empty file */
} pl_http_range;

/* Parses `value` (the header's value, NULL when absent) against a file of
 * `size` bytes. Always fills *out; returns 0, or PL_EINVAL when out is
 * NULL. */
int pl_http_range_parse(const char *value, uint64_t size, pl_http_range *out);

/* The Content-Range value for a 206 ("bytes 0-499/1234") or a 416
 * ("bytes * /1234" without the space) into buf; PL_ENOSPC when it does not
 * fit (72 bytes always do), PL_EINVAL for a 200. */
int pl_http_range_content_range(const pl_http_range *r, uint64_t size, char *buf, size_t n);

#ifdef __cplusplus
}
#endif
#endif
