/* Bounds-checked reading and writing of wire bytes (network byte order).
 *
 * Errors are sticky: once a read runs past the end (or a write past the
 * capacity) the buffer is marked failed, later calls return zero / do
 * nothing, and the caller checks pl_rbuf_ok / pl_wbuf_ok once at the end.
 * This keeps parsers linear and makes out-of-bounds access impossible. The
 * buffers never own memory. */
#ifndef PARLEY_BUF_H
#define PARLEY_BUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct pl_rbuf {
    const uint8_t *data;
    size_t len;
    size_t pos;
    bool failed;
} pl_rbuf;

typedef struct pl_wbuf {
    uint8_t *data;
    size_t cap;
    size_t len;
    bool failed;
} pl_wbuf;

static inline pl_rbuf pl_rbuf_make(const void *data, size_t len)
{
    return (pl_rbuf){.data = data, .len = len, .pos = 0, .failed = false};
}

static inline pl_wbuf pl_wbuf_make(void *data, size_t cap)
{
    return (pl_wbuf){.data = data, .cap = cap, .len = 0, .failed = false};
}

static inline bool pl_rbuf_ok(const pl_rbuf *r)
{
    return !r->failed;
}

static inline size_t pl_rbuf_left(const pl_rbuf *r)
{
    return r->failed ? 0 : r->len - r->pos;
}

/* Pointer to the next unread byte (valid for pl_rbuf_left bytes). */
static inline const uint8_t *pl_rbuf_cur(const pl_rbuf *r)
{
    return r->data + r->pos;
}

uint8_t pl_rbuf_u8(pl_rbuf *r);
uint16_t pl_rbuf_u16(pl_rbuf *r);
uint32_t pl_rbuf_u24(pl_rbuf *r);
uint32_t pl_rbuf_u32(pl_rbuf *r);
uint64_t pl_rbuf_u64(pl_rbuf *r);
/* Copies n bytes into out (out may be NULL to only check and skip). */
bool pl_rbuf_copy(pl_rbuf *r, void *out, size_t n);
/* Returns a pointer to the next n bytes and advances, or NULL on failure. */
const uint8_t *pl_rbuf_take(pl_rbuf *r, size_t n);
bool pl_rbuf_skip(pl_rbuf *r, size_t n);
/* Splits off the next n bytes as their own reader (fails if fewer remain). */
pl_rbuf pl_rbuf_sub(pl_rbuf *r, size_t n);

static inline bool pl_wbuf_ok(const pl_wbuf *w)
{
    return !w->failed;
}

void pl_wbuf_u8(pl_wbuf *w, uint8_t v);
void pl_wbuf_u16(pl_wbuf *w, uint16_t v);
void pl_wbuf_u24(pl_wbuf *w, uint32_t v);
void pl_wbuf_u32(pl_wbuf *w, uint32_t v);
void pl_wbuf_u64(pl_wbuf *w, uint64_t v);
void pl_wbuf_bytes(pl_wbuf *w, const void *src, size_t n);
void pl_wbuf_zeros(pl_wbuf *w, size_t n);
/* Reserves n bytes to be filled later (e.g. a length field); returns a
 * pointer to them or NULL on failure. */
uint8_t *pl_wbuf_reserve(pl_wbuf *w, size_t n);

/* Big-endian stores/loads into memory the caller has already bounds-checked
 * (e.g. a reserved field). */
static inline void pl_put_u16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

static inline void pl_put_u32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static inline uint16_t pl_get_u16(const uint8_t *p)
{
    return (uint16_t)(p[0] << 8 | p[1]);
}

static inline uint32_t pl_get_u32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

#ifdef __cplusplus
}
#endif
#endif
