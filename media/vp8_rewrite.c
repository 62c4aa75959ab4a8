#include "parley/vp8_rewrite.h"

#include <string.h>

#include "parley/common.h"

#define PID_MASK 0x7fff
#define FRAME_MASK (PL_VP8_REWRITER_FRAMES - 1)

/* b - a in 15-bit picture id space, as a signed distance. */
static int pid_delta(uint16_t a, uint16_t b)
{
    int d = (b - a) & PID_MASK;
    return d >= 0x4000 ? d - 0x8000 : d;
}

void pl_vp8_rewriter_init(pl_vp8_rewriter *rw)
{
    memset(rw, 0, sizeof(*rw));
}

void pl_vp8_rewriter_switch(pl_vp8_rewriter *rw)
{
    rw->mapped = rw->tl0_mapped = rw->key_mapped = false;
    for (size_t i = 0; i < PL_VP8_REWRITER_FRAMES; i++)
        rw->frames[i].used = false;
}

/* The packet's picture id in 15-bit space: a 7-bit one is unwrapped next
 * to the newest id of its source. */
static uint16_t input_pid(const pl_vp8_rewriter *rw, const pl_vp8_desc *d)
{
    if (d->picture_id_15 || !rw->mapped)
        return d->picture_id & PID_MASK;
    int d7 = (d->picture_id - rw->in_pid) & 0x7f;
    if (d7 >= 64)
        d7 -= 128;
    return (uint16_t)((rw->in_pid + d7) & PID_MASK);
}

int pl_vp8_rewriter_frame_state(const pl_vp8_rewriter *rw, const pl_vp8_desc *d)
{
    if (!d->has_picture_id || !rw->mapped)
        return -1;
    uint16_t p = input_pid(rw, d);
    const pl_vp8_frame_map *f = &rw->frames[p & FRAME_MASK];
    if (!f->used || f->in != p)
        return -1;
    return f->dropped ? 0 : 1;
}

static void remember(pl_vp8_rewriter *rw, uint16_t in, uint16_t out, bool dropped)
{
    rw->frames[in & FRAME_MASK].in = in;
    rw->frames[in & FRAME_MASK].out = out;
    rw->frames[in & FRAME_MASK].used = true;
    rw->frames[in & FRAME_MASK].dropped = dropped;
}

static void sent_pid(pl_vp8_rewriter *rw, uint16_t out)
{
    if (!rw->started || pid_delta(rw->last_pid, out) > 0)
        rw->last_pid = out;
    rw->started = true;
}

/* The picture id a packet goes out with; false when it does not go out. */
static bool map_pid(pl_vp8_rewriter *rw, const pl_vp8_desc *d, bool drop, uint16_t *out)
{
    uint16_t p = input_pid(rw, d);
    if (!rw->mapped) {
        if (drop)
            return false; /* the source starts with a frame that goes out */
        uint16_t first = rw->started ? (uint16_t)((rw->last_pid + 1) & PID_MASK) : p;
        rw->pid_off = (uint16_t)(first - p);
        rw->in_pid = p;
        rw->mapped = true;
        remember(rw, p, first, false);
        sent_pid(rw, first);
        *out = first;
        return true;
    }
    int delta = pid_delta(rw->in_pid, p);
    if (delta > 0) {
        /* A new frame. Dropped, it takes no id: the next one gets its. */
        rw->in_pid = p;
        if (drop) {
            rw->pid_off--;
            remember(rw, p, 0, true);
            return false;
        }
        *out = (uint16_t)((p + rw->pid_off) & PID_MASK);
        remember(rw, p, *out, false);
        sent_pid(rw, *out);
        return true;
    }
    const pl_vp8_frame_map *f = &rw->frames[p & FRAME_MASK];
    if (f->used && f->in == p) {
        *out = f->out;
        return !f->dropped;
    }
    /* A frame none of whose packets was seen, older than the newest: the
     * id it would have had, before the frames dropped after it moved the
     * offset. Too old to know, or dropped now: its id stays unused. */
    if (drop || -delta >= PL_VP8_REWRITER_FRAMES)
        return false;
    uint16_t later_drops = 0;
    for (int k = 1; k <= -delta; k++) {
        const pl_vp8_frame_map *g = &rw->frames[(p + k) & FRAME_MASK];
        if (g->used && g->dropped && g->in == ((p + k) & PID_MASK))
            later_drops++;
    }
    *out = (uint16_t)((p + rw->pid_off + later_drops) & PID_MASK);
    remember(rw, p, *out, false);
    return true;
}

bool pl_vp8_rewriter_packet(pl_vp8_rewriter *rw, const pl_vp8_desc *d, bool drop,
                            pl_vp8_fields *out)
{
    memset(out, 0, sizeof(*out));
    if (d->has_picture_id) {
        if (!map_pid(rw, d, drop, &out->picture_id))
            return false;
    } else if (drop) {
        return false;
    }
    if (d->has_tl0picidx) {
        if (!rw->tl0_mapped) {
            uint8_t first = rw->tl0_started ? (uint8_t)(rw->last_tl0 + 1) : d->tl0picidx;
            rw->tl0_off = (uint8_t)(first - d->tl0picidx);
            rw->tl0_mapped = true;
        }
        out->tl0picidx = (uint8_t)(d->tl0picidx + rw->tl0_off);
        if (!rw->tl0_started || (int8_t)(out->tl0picidx - rw->last_tl0) > 0)
            rw->last_tl0 = out->tl0picidx;
        rw->tl0_started = true;
    }
    if (d->has_keyidx) {
        if (!rw->key_mapped) {
            uint8_t first = rw->key_started ? (uint8_t)((rw->last_key + 1) & 0x1f) : d->keyidx;
            rw->key_off = (uint8_t)((first - d->keyidx) & 0x1f);
            rw->key_mapped = true;
        }
        out->keyidx = (uint8_t)((d->keyidx + rw->key_off) & 0x1f);
        int kd = (out->keyidx - rw->last_key) & 0x1f;
        if (!rw->key_started || (kd != 0 && kd < 16))
            rw->last_key = out->keyidx;
        rw->key_started = true;
    }
    return true;
}

int pl_vp8_write_fields(uint8_t *p, size_t len, const pl_vp8_fields *f)
{
    if (len < 1)
        return PL_EMALFORMED;
    if (!(p[0] & 0x80))
        return PL_OK; /* no extension: nothing to rewrite */
    if (len < 2)
        return PL_EMALFORMED;
    uint8_t x = p[1];
    size_t pos = 2;
    if (x & 0x80) {
        if (pos >= len)
            return PL_EMALFORMED;
        if (p[pos] & 0x80) {
            if (pos + 1 >= len)
                return PL_EMALFORMED;
            p[pos] = (uint8_t)(0x80 | ((f->picture_id >> 8) & 0x7f));
            p[pos + 1] = (uint8_t)f->picture_id;
            pos += 2;
        } else {
            p[pos++] = (uint8_t)(f->picture_id & 0x7f);
        }
    }
    if (x & 0x40) {
        if (pos >= len)
            return PL_EMALFORMED;
        p[pos++] = f->tl0picidx;
    }
    if (x & 0x30) {
        if (pos >= len)
            return PL_EMALFORMED;
        if (x & 0x10)
            p[pos] = (uint8_t)((p[pos] & 0xe0) | (f->keyidx & 0x1f));
    }
    return PL_OK;
}
