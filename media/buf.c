#include "parley/buf.h"

#include <string.h>

/* The one bounds check every read goes through; written so that pos + n
 * cannot overflow. */
static const uint8_t *rtake(pl_rbuf *r, size_t n)
{
    if (r->failed || n > r->len - r->pos) {
        r->failed = true;
        return NULL;
    }
    const uint8_t *p = r->data + r->pos;
    r->pos += n;
    return p;
}

uint8_t pl_rbuf_u8(pl_rbuf *r)
{
    const uint8_t *p = rtake(r, 1);
    return p ? p[0] : 0;
}

uint16_t pl_rbuf_u16(pl_rbuf *r)
{
    const uint8_t *p = rtake(r, 2);
    return p ? pl_get_u16(p) : 0;
}

uint32_t pl_rbuf_u24(pl_rbuf *r)
{
    const uint8_t *p = rtake(r, 3);
    return p ? (uint32_t)p[0] << 16 | (uint32_t)p[1] << 8 | p[2] : 0;
}

uint32_t pl_rbuf_u32(pl_rbuf *r)
{
    const uint8_t *p = rtake(r, 4);
    return p ? pl_get_u32(p) : 0;
}

uint64_t pl_rbuf_u64(pl_rbuf *r)
{
    const uint8_t *p = rtake(r, 8);
    return p ? (uint64_t)pl_get_u32(p) << 32 | pl_get_u32(p + 4) : 0;
}

bool pl_rbuf_copy(pl_rbuf *r, void *out, size_t n)
{
    const uint8_t *p = rtake(r, n);
    if (!p)
        return false;
    if (out && n)
        memcpy(out, p, n);
    return true;
}

const uint8_t *pl_rbuf_take(pl_rbuf *r, size_t n)
{
    return rtake(r, n);
}

bool pl_rbuf_skip(pl_rbuf *r, size_t n)
{
    return rtake(r, n) != NULL;
}

pl_rbuf pl_rbuf_sub(pl_rbuf *r, size_t n)
{
    const uint8_t *p = rtake(r, n);
    pl_rbuf s = pl_rbuf_make(p, p ? n : 0);
    s.failed = p == NULL;
    return s;
}

static uint8_t *wtake(pl_wbuf *w, size_t n)
{
    if (w->failed || n > w->cap - w->len) {
        w->failed = true;
        return NULL;
    }
    uint8_t *p = w->data + w->len;
    w->len += n;
    return p;
}

void pl_wbuf_u8(pl_wbuf *w, uint8_t v)
{
    uint8_t *p = wtake(w, 1);
    if (p)
        p[0] = v;
}

void pl_wbuf_u16(pl_wbuf *w, uint16_t v)
{
    uint8_t *p = wtake(w, 2);
    if (p)
        pl_put_u16(p, v);
}

void pl_wbuf_u24(pl_wbuf *w, uint32_t v)
{
    uint8_t *p = wtake(w, 3);
    if (p) {
        p[0] = (uint8_t)(v >> 16);
        p[1] = (uint8_t)(v >> 8);
        p[2] = (uint8_t)v;
    }
}

void pl_wbuf_u32(pl_wbuf *w, uint32_t v)
{
    uint8_t *p = wtake(w, 4);
    if (p)
        pl_put_u32(p, v);
}

void pl_wbuf_u64(pl_wbuf *w, uint64_t v)
{
    uint8_t *p = wtake(w, 8);
    if (p) {
        pl_put_u32(p, (uint32_t)(v >> 32));
        pl_put_u32(p + 4, (uint32_t)v);
    }
}

void pl_wbuf_bytes(pl_wbuf *w, const void *src, size_t n)
{
    uint8_t *p = wtake(w, n);
    if (p && n)
        memcpy(p, src, n);
}

void pl_wbuf_zeros(pl_wbuf *w, size_t n)
{
    uint8_t *p = wtake(w, n);
    if (p && n)
        memset(p, 0, n);
}

uint8_t *pl_wbuf_reserve(pl_wbuf *w, size_t n)
{
    return wtake(w, n);
}
