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

int pl_vp8_keyframe_size(const uint8_t *vp8, size_t len, uint16_t *width, uint16_t *height)
{
    /* Frame tag bit 0 clear: a key frame. */
    if (len < 10 || (vp8[0] & 0x01) != 0 || vp8[3] != 0x9d || vp8[4] != 0x01 || vp8[5] != 0x2a)
        return PL_EMALFORMED;
    *width = (uint16_t)((vp8[6] | vp8[7] << 8) & 0x3fff);
    *height = (uint16_t)((vp8[8] | vp8[9] << 8) & 0x3fff);
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
    bool used;
    uint16_t seq;
    bool start, marker, keyframe, has_pid;
    uint16_t picture_id;
    uint16_t len;
    uint32_t ts;
} slot;

struct pl_vp8_assembler {
    bool keep;
    bool have_next;
    uint16_t next_seq; /* the first sequence number not yet delivered or given up */
    uint16_t highest;
    bool holding;       /* delivery is stuck at next_seq ... */
    int64_t hole_since; /* ... since then */
    bool pending_loss;
    bool started_output; /* a frame was delivered or given up */
    uint16_t bad_seq;    /* after a packet from far behind: the one that would follow it */
    pl_vp8_assembler_stats st;
    slot slots[PL_VP8_MAX_PACKETS];
    uint8_t *data;  /* PL_VP8_MAX_PACKETS * SLOT_DATA when keeping data */
    uint8_t *frame; /* PL_VP8_MAX_FRAME */
};

#define MASK (PL_VP8_MAX_PACKETS - 1)
/* Farther behind than this, a packet is no retransmission (no sender keeps
 * that many) but a sender that restarted its sequence numbers. */
#define MAX_MISORDER 1000

pl_vp8_assembler *pl_vp8_assembler_create(bool keep_data)
{
    pl_vp8_assembler *a = calloc(1, sizeof(*a));
    if (!a)
        return NULL;
    a->keep = keep_data;
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

void pl_vp8_assembler_reset(pl_vp8_assembler *a)
{
    pl_vp8_assembler_stats st = a->st;
    bool keep = a->keep;
    uint8_t *data = a->data, *frame = a->frame;
    memset(a, 0, sizeof(*a));
    a->st = st;
    a->keep = keep;
    a->data = data;
    a->frame = frame;
}

void pl_vp8_assembler_stats_get(const pl_vp8_assembler *a, pl_vp8_assembler_stats *out)
{
    *out = a->st;
}

static slot *at(pl_vp8_assembler *a, uint16_t seq)
{
    slot *s = &a->slots[seq & MASK];
    return s->used && s->seq == seq ? s : NULL;
}

/* Drops next_seq and what follows it up to the next packet that starts a
 * frame: the frame in the way is incomplete for good. */
static void give_up(pl_vp8_assembler *a)
{
    a->st.incomplete_frames++;
    a->pending_loss = true;
    a->holding = false;
    a->started_output = true;
    do {
        slot *s = at(a, a->next_seq);
        if (s)
            s->used = false;
        a->next_seq++;
        s = at(a, a->next_seq);
        if (s && s->start)
            return;
    } while ((int16_t)(a->highest - a->next_seq) >= 0);
}

int pl_vp8_assembler_push(pl_vp8_assembler *a, uint16_t seq, uint32_t ts, bool marker,
                          const uint8_t *payload, size_t len, int64_t now_us)
{
    (void)now_us;
    pl_vp8_desc d;
    if (pl_vp8_parse_descriptor(payload, len, &d) != PL_OK) {
        a->st.malformed++;
        return PL_EMALFORMED;
    }
    size_t body = len - d.header_len;
    if (a->keep && body > SLOT_DATA) {
        a->st.malformed++;
        return PL_EMALFORMED;
    }
    a->st.packets++;
    if (!a->have_next) {
        a->have_next = true;
        a->next_seq = seq;
        a->highest = seq;
    } else if ((int16_t)(seq - a->next_seq) < 0) {
        /* Before anything left, the stream may just have started with a
         * reordered packet: start earlier. */
        if (!a->started_output && (uint16_t)(a->highest - seq) < PL_VP8_MAX_PACKETS) {
            a->next_seq = seq;
        } else if ((uint16_t)(a->next_seq - seq) > MAX_MISORDER && seq == a->bad_seq) {
            /* Two in a row from far behind: the sequence numbers restarted
             * (RFC 3550 A.1); so does the assembly, from this packet. */
            for (size_t i = 0; i < PL_VP8_MAX_PACKETS; i++)
                a->slots[i].used = false;
            a->next_seq = a->highest = seq;
            a->holding = false;
            a->pending_loss = true;
        } else {
            a->bad_seq = (uint16_t)(seq + 1);
            a->st.late_packets++; /* its frame was delivered or given up */
            return 0;
        }
    }
    if (at(a, seq)) {
        a->st.duplicates++;
        return 0;
    }
    /* Out of window: give up what holds the window back. Once nothing is
     * held, the window moves to the new packet at once: stepping frame by
     * frame from there could run round the whole sequence space without
     * ever meeting the packet (a fuzzer found such a stream). */
    while ((uint16_t)(seq - a->next_seq) >= PL_VP8_MAX_PACKETS) {
        if ((int16_t)(a->highest - a->next_seq) < 0) {
            a->next_seq = (uint16_t)(seq - (PL_VP8_MAX_PACKETS - 1));
            a->highest = (uint16_t)(a->next_seq - 1);
            a->pending_loss = true;
            break;
        }
        give_up(a);
    }
    if ((int16_t)(seq - a->highest) > 0)
        a->highest = seq;
    slot *s = &a->slots[seq & MASK];
    *s = (slot){.used = true,
                .seq = seq,
                .start = d.start && d.partition == 0,
                .marker = marker,
                .keyframe = d.keyframe,
                .has_pid = d.has_picture_id,
                .picture_id = d.picture_id,
                .len = (uint16_t)body,
                .ts = ts};
    if (a->keep)
        memcpy(a->data + (size_t)(seq & MASK) * SLOT_DATA, payload + d.header_len, body);
    return 0;
}

int pl_vp8_assembler_pop(pl_vp8_assembler *a, int64_t now_us, pl_vp8_frame *out)
{
    while (a->have_next && (int16_t)(a->highest - a->next_seq) >= 0) {
        slot *first = at(a, a->next_seq);
        if (first && !first->start && a->started_output) {
            /* Right after a delivered frame, the next one must start here:
             * its first packets are gone for good. */
            give_up(a);
            continue;
        }
        if (first && !first->start)
            first = NULL; /* at the start of the stream: wait for them */
        /* Walk the frame to its marker. */
        uint16_t n = 0;
        bool complete = false;
        for (uint16_t q = a->next_seq; first && (int16_t)(a->highest - q) >= 0; q++, n++) {
            slot *p = at(a, q);
            if (!p || p->ts != first->ts)
                break;
            if (p->marker) {
                complete = true;
                n++;
                break;
            }
        }
        if (!complete) {
            /* A hole: wait for a retransmission, but not forever. */
            if (!a->holding) {
                a->holding = true;
                a->hole_since = now_us;
            }
            if (now_us - a->hole_since >= PL_VP8_WAIT_US) {
                give_up(a);
                continue;
            }
            return 0;
        }
        memset(out, 0, sizeof(*out));
        out->timestamp = first->ts;
        out->keyframe = first->keyframe;
        out->has_picture_id = first->has_pid;
        out->picture_id = first->picture_id;
        out->lost_before = a->pending_loss;
        size_t total = 0;
        for (uint16_t k = 0; k < n; k++) {
            uint16_t q = (uint16_t)(a->next_seq + k);
            slot *p = &a->slots[q & MASK];
            if (a->keep && total + p->len <= PL_VP8_MAX_FRAME) {
                memcpy(a->frame + total, a->data + (size_t)(q & MASK) * SLOT_DATA, p->len);
                total += p->len;
            } else if (!a->keep) {
                total += p->len;
            }
            p->used = false;
        }
        out->data = a->keep ? a->frame : NULL;
        out->len = total;
        a->next_seq = (uint16_t)(a->next_seq + n);
        a->pending_loss = false;
        a->holding = false;
        a->started_output = true;
        a->st.frames++;
        return 1;
    }
    return 0;
}

int64_t pl_vp8_assembler_next_timeout(const pl_vp8_assembler *a)
{
    return a->holding ? a->hole_since + PL_VP8_WAIT_US : INT64_MAX;
}
