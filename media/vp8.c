#include "parley/vp8.h"

#include <stdlib.h>
#include <string.h>

#include "parley/buf.h"

#define SLOT_DATA 1400

int pl_vp8_parse_descriptor(const uint8_t *p, size_t len, pl_vp8_desc *d)
{
    memset(d, 0, sizeof(*d));
    pl_rbuf r = pl_rbuf_make(p, len);
    uint8_t b0 = pl_rbuf_u8(&r);
    d->non_reference = b0 & 0x20;
    d->start = b0 & 0x10;
    d->partition = b0 & 0x07;
    if (b0 & 0x80) {
        uint8_t x = pl_rbuf_u8(&r);
        if (x & 0x80) {
            uint8_t m = pl_rbuf_u8(&r);
            d->has_picture_id = true;
            if (m & 0x80) {
                d->picture_id_15 = true;
                d->picture_id = (uint16_t)(((m & 0x7f) << 8) | pl_rbuf_u8(&r));
            } else {
                d->picture_id = m;
            }
        }
        if (x & 0x40) {
            d->has_tl0picidx = true;
            d->tl0picidx = pl_rbuf_u8(&r);
        }
        if (x & 0x30) {
            uint8_t t = pl_rbuf_u8(&r);
            d->has_tid = x & 0x20;
            d->tid = t >> 6;
            d->layer_sync = t & 0x20;
            d->has_keyidx = x & 0x10;
            d->keyidx = t & 0x1f;
        }
    }
    /* A descriptor must be followed by at least one byte of VP8 payload. */
    if (!pl_rbuf_ok(&r) || pl_rbuf_left(&r) == 0)
        return PL_EMALFORMED;
    d->header_len = r.pos;
    /* RFC 7741 4.3: the P bit of the payload header, only meaningful at the
     * start of partition 0. */
    d->keyframe = d->start && d->partition == 0 && (p[r.pos] & 0x01) == 0;
    return PL_OK;
}

int pl_vp8_packetize(uint16_t picture_id, const uint8_t *frame, size_t len, size_t max_payload,
                     uint8_t *out, size_t out_cap, size_t *lens, size_t max_packets)
{
    static const size_t desc = 4;
    if (len == 0 || max_payload <= desc)
        return PL_EINVAL;
    size_t chunk = max_payload - desc;
    size_t n = (len + chunk - 1) / chunk;
    if (n > max_packets || len + n * desc > out_cap)
        return PL_ENOSPC;
    /* Equal-sized packets rather than full ones and a runt. */
    size_t base = len / n, extra = len % n, off = 0, pos = 0;
    for (size_t i = 0; i < n; i++) {
        size_t part = base + (i < extra ? 1 : 0);
        out[pos + 0] = (uint8_t)(0x80 | (i == 0 ? 0x10 : 0)); /* X, S, PID 0 */
        out[pos + 1] = 0x80;                                  /* I */
        out[pos + 2] = (uint8_t)(0x80 | ((picture_id >> 8) & 0x7f));
        out[pos + 3] = (uint8_t)(picture_id & 0xff);
        memcpy(out + pos + desc, frame + off, part);
        lens[i] = part + desc;
        pos += lens[i];
        off += part;
    }
    return (int)n;
}

typedef struct slot {
    uint32_t gen;
    uint16_t seq;
    bool start, marker, keyframe, has_pid;
    uint16_t picture_id;
    uint16_t len;
} slot;

struct pl_vp8_assembler {
    bool keep;
    bool active;
    uint32_t ts;
    uint32_t gen; /* slots of the frame in progress carry this */
    bool have_done;
    uint32_t done_ts;
    uint16_t done_end_seq;
    bool pending_loss;
    pl_vp8_assembler_stats st;
    slot slots[PL_VP8_MAX_PACKETS];
    uint8_t *data;  /* PL_VP8_MAX_PACKETS * SLOT_DATA when keeping data */
    uint8_t *frame; /* PL_VP8_MAX_FRAME */
};

pl_vp8_assembler *pl_vp8_assembler_create(bool keep_data)
{
    pl_vp8_assembler *a = calloc(1, sizeof(*a));
    if (!a)
        return NULL;
    a->keep = keep_data;
    a->gen = 1;
    if (keep_data) {
        a->data = malloc((size_t)PL_VP8_MAX_PACKETS * SLOT_DATA);
        a->frame = malloc(PL_VP8_MAX_FRAME);
        if (!a->data || !a->frame) {
            pl_vp8_assembler_destroy(a);
            return NULL;
        }
    }
    return a;
}

void pl_vp8_assembler_destroy(pl_vp8_assembler *a)
{
    if (!a)
        return;
    free(a->data);
    free(a->frame);
    free(a);
}

void pl_vp8_assembler_stats_get(const pl_vp8_assembler *a, pl_vp8_assembler_stats *out)
{
    *out = a->st;
}

static void start_frame(pl_vp8_assembler *a, uint32_t ts)
{
    a->active = true;
    a->ts = ts;
    a->gen++;
}

/* The frame is complete when its first packet (S=1, PID 0), its last
 * (marker) and everything between them are here. */
static bool complete(pl_vp8_assembler *a, uint16_t *first, uint16_t *count)
{
    const slot *start = NULL, *end = NULL;
    for (size_t i = 0; i < PL_VP8_MAX_PACKETS; i++) {
        const slot *s = &a->slots[i];
        if (s->gen != a->gen)
            continue;
        if (s->start)
            start = s;
        if (s->marker)
            end = s;
    }
    if (!start || !end)
        return false;
    uint16_t n = (uint16_t)(end->seq - start->seq + 1);
    if (n == 0 || n > PL_VP8_MAX_PACKETS)
        return false;
    for (uint16_t k = 0; k < n; k++) {
        uint16_t seq = (uint16_t)(start->seq + k);
        const slot *s = &a->slots[seq % PL_VP8_MAX_PACKETS];
        if (s->gen != a->gen || s->seq != seq)
            return false;
    }
    *first = start->seq;
    *count = n;
    return true;
}

int pl_vp8_assembler_push(pl_vp8_assembler *a, uint16_t seq, uint32_t ts, bool marker,
                          const uint8_t *payload, size_t len, pl_vp8_frame *out)
{
    pl_vp8_desc d;
    if (pl_vp8_parse_descriptor(payload, len, &d) != PL_OK) {
        a->st.malformed++;
        return PL_EMALFORMED;
    }
    a->st.packets++;
    if (a->have_done && !a->active && ts == a->done_ts) {
        a->st.late_packets++; /* a duplicate of a frame already delivered */
        return 0;
    }
    if (a->active && ts != a->ts) {
        if ((int32_t)(ts - a->ts) < 0) {
            a->st.late_packets++;
            return 0;
        }
        a->st.incomplete_frames++;
        a->pending_loss = true;
        a->active = false;
    }
    if (!a->active) {
        if (a->have_done && (int32_t)(ts - a->done_ts) < 0) {
            a->st.late_packets++;
            return 0;
        }
        start_frame(a, ts);
    }
    slot *s = &a->slots[seq % PL_VP8_MAX_PACKETS];
    if (s->gen == a->gen) {
        if (s->seq == seq)
            return 0; /* duplicate */
        /* More packets than slots in one frame: give the frame up. */
        a->st.incomplete_frames++;
        a->pending_loss = true;
        a->active = false;
        return 0;
    }
    size_t body = len - d.header_len;
    if (a->keep && body > SLOT_DATA) {
        a->st.malformed++;
        return PL_EMALFORMED;
    }
    *s = (slot){.gen = a->gen,
                .seq = seq,
                .start = d.start && d.partition == 0,
                .marker = marker,
                .keyframe = d.keyframe,
                .has_pid = d.has_picture_id,
                .picture_id = d.picture_id,
                .len = (uint16_t)body};
    if (a->keep)
        memcpy(a->data + (size_t)(seq % PL_VP8_MAX_PACKETS) * SLOT_DATA, payload + d.header_len,
               body);
    uint16_t first, count;
    if (!complete(a, &first, &count))
        return 0;
    const slot *head = &a->slots[first % PL_VP8_MAX_PACKETS];
    memset(out, 0, sizeof(*out));
    out->timestamp = ts;
    out->keyframe = head->keyframe;
    out->has_picture_id = head->has_pid;
    out->picture_id = head->picture_id;
    out->lost_before =
        a->pending_loss || (a->have_done && first != (uint16_t)(a->done_end_seq + 1));
    size_t total = 0;
    for (uint16_t k = 0; k < count; k++) {
        uint16_t q = (uint16_t)(first + k);
        const slot *p = &a->slots[q % PL_VP8_MAX_PACKETS];
        if (a->keep) {
            if (total + p->len > PL_VP8_MAX_FRAME)
                return 0;
            memcpy(a->frame + total, a->data + (size_t)(q % PL_VP8_MAX_PACKETS) * SLOT_DATA,
                   p->len);
        }
        total += p->len;
    }
    out->data = a->keep ? a->frame : NULL;
    out->len = total;
    a->have_done = true;
    a->done_ts = ts;
    a->done_end_seq = (uint16_t)(first + count - 1);
    a->pending_loss = false;
    a->active = false;
    a->st.frames++;
    return 1;
}
