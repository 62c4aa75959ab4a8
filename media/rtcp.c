#include "parley/rtcp.h"

#include <string.h>

#include "parley/common.h"

#define TWCC_DELTA_US 250

int pl_rtcp_validate(const uint8_t *data, size_t len)
{
    pl_rbuf r = pl_rbuf_make(data, len);
    if (len < 4)
        return PL_EMALFORMED;
    while (pl_rbuf_left(&r) > 0) {
        uint8_t b0 = pl_rbuf_u8(&r);
        uint8_t pt = pl_rbuf_u8(&r);
        size_t words = pl_rbuf_u16(&r);
        const uint8_t *body = pl_rbuf_take(&r, words * 4);
        if (!pl_rbuf_ok(&r) || (b0 >> 6) != 2 || pt < 192 || pt > 223)
            return PL_EMALFORMED;
        if (b0 & 0x20) {
            /* Padding belongs to the last sub-packet only and must leave
             * room for itself. */
            if (pl_rbuf_left(&r) != 0 || words == 0 || body[words * 4 - 1] == 0 ||
                body[words * 4 - 1] > words * 4)
                return PL_EMALFORMED;
        }
    }
    return PL_OK;
}

void pl_rtcp_iter_init(pl_rtcp_iter *it, const uint8_t *data, size_t len)
{
    it->r = pl_rbuf_make(data, len);
}

static void read_report(pl_rbuf *r, pl_rtcp_report *rep)
{
    rep->ssrc = pl_rbuf_u32(r);
    rep->fraction_lost = pl_rbuf_u8(r);
    uint32_t cl = pl_rbuf_u24(r);
    rep->cumulative_lost = (int32_t)(cl & 0x800000 ? cl | 0xff000000u : cl);
    rep->highest_seq = pl_rbuf_u32(r);
    rep->jitter = pl_rbuf_u32(r);
    rep->lsr = pl_rbuf_u32(r);
    rep->dlsr = pl_rbuf_u32(r);
}

static int parse_reports(pl_rbuf *r, uint8_t count, pl_rtcp_report *reps, size_t *n)
{
    *n = count;
    for (uint8_t i = 0; i < count; i++)
        read_report(r, &reps[i]);
    /* Profile-specific extensions may follow the blocks; ignore them. */
    return pl_rbuf_ok(r) ? PL_OK : PL_EMALFORMED;
}

static int parse_sdes(pl_rbuf *r, uint8_t count, pl_rtcp_sdes *s)
{
    s->n_chunks = 0;
    for (uint8_t i = 0; i < count; i++) {
        size_t start = r->pos;
        s->chunks[i].ssrc = pl_rbuf_u32(r);
        s->chunks[i].cname[0] = '\0';
        for (;;) {
            uint8_t type = pl_rbuf_u8(r);
            if (!pl_rbuf_ok(r))
                return PL_EMALFORMED;
            if (type == 0)
                break;
            uint8_t ilen = pl_rbuf_u8(r);
            const uint8_t *text = pl_rbuf_take(r, ilen);
            if (!text)
                return PL_EMALFORMED;
            if (type == 1) {
                memcpy(s->chunks[i].cname, text, ilen);
                s->chunks[i].cname[ilen] = '\0';
            }
        }
        /* Chunks end on a 32-bit boundary (the terminator's padding). */
        size_t used = r->pos - start;
        pl_rbuf_skip(r, (4 - (used & 3)) & 3);
        if (!pl_rbuf_ok(r))
            return PL_EMALFORMED;
        s->n_chunks++;
    }
    return PL_OK;
}

static int parse_bye(pl_rbuf *r, uint8_t count, pl_rtcp_bye *b)
{
    b->n_ssrcs = count;
    for (uint8_t i = 0; i < count; i++)
        b->ssrcs[i] = pl_rbuf_u32(r);
    b->reason[0] = '\0';
    if (pl_rbuf_left(r) > 0) {
        uint8_t n = pl_rbuf_u8(r);
        const uint8_t *text = pl_rbuf_take(r, n);
        if (text) {
            memcpy(b->reason, text, n);
            b->reason[n] = '\0';
        }
    }
    return pl_rbuf_ok(r) ? PL_OK : PL_EMALFORMED;
}

static int parse_nack(pl_rbuf *r, pl_rtcp_nack *n)
{
    n->sender_ssrc = pl_rbuf_u32(r);
    n->media_ssrc = pl_rbuf_u32(r);
    n->n_items = 0;
    if (!pl_rbuf_ok(r) || pl_rbuf_left(r) == 0 || pl_rbuf_left(r) / 4 > PL_RTCP_MAX_NACK)
        return PL_EMALFORMED;
    while (pl_rbuf_left(r) >= 4) {
        n->items[n->n_items].pid = pl_rbuf_u16(r);
        n->items[n->n_items].blp = pl_rbuf_u16(r);
        n->n_items++;
    }
    return PL_OK;
}

static int parse_twcc(pl_rbuf *r, pl_rtcp_twcc *t)
{
    t->sender_ssrc = pl_rbuf_u32(r);
    t->media_ssrc = pl_rbuf_u32(r);
    t->base_seq = pl_rbuf_u16(r);
    uint16_t count = pl_rbuf_u16(r);
    uint32_t ref = pl_rbuf_u24(r);
    t->reference_time = (int32_t)(ref & 0x800000 ? ref | 0xff000000u : ref);
    t->fb_count = pl_rbuf_u8(r);
    t->n_packets = 0;
    if (!pl_rbuf_ok(r) || count == 0 || count > PL_RTCP_MAX_TWCC)
        return PL_EMALFORMED;
    uint8_t symbols[PL_RTCP_MAX_TWCC];
    size_t n = 0;
    while (n < count) {
        uint16_t c = pl_rbuf_u16(r);
        if (!pl_rbuf_ok(r))
            return PL_EMALFORMED;
        if (!(c & 0x8000)) {
            /* Run-length chunk: one symbol, up to 8191 times. */
            uint8_t sym = (c >> 13) & 3;
            size_t run = c & 0x1fff;
            for (size_t i = 0; i < run && n < count; i++)
                symbols[n++] = sym;
        } else if (!(c & 0x4000)) {
            for (int i = 13; i >= 0 && n < count; i--) /* 14 one-bit symbols */
                symbols[n++] = (c >> i) & 1;
        } else {
            for (int i = 12; i >= 0 && n < count; i -= 2) /* 7 two-bit symbols */
                symbols[n++] = (c >> i) & 3;
        }
    }
    for (size_t i = 0; i < n; i++) {
        pl_rtcp_twcc_packet *p = &t->packets[i];
        p->seq = (uint16_t)(t->base_seq + i);
        p->received = symbols[i] == 1 || symbols[i] == 2;
        p->delta_us = 0;
        if (symbols[i] == 1)
            p->delta_us = (int64_t)pl_rbuf_u8(r) * TWCC_DELTA_US;
        else if (symbols[i] == 2)
            p->delta_us = (int64_t)(int16_t)pl_rbuf_u16(r) * TWCC_DELTA_US;
        else if (symbols[i] == 3)
            return PL_EMALFORMED; /* reserved */
    }
    /* Up to three bytes of zero padding may follow the deltas. */
    if (!pl_rbuf_ok(r) || pl_rbuf_left(r) > 3)
        return PL_EMALFORMED;
    t->n_packets = n;
    return PL_OK;
}

static int parse_fir(pl_rbuf *r, pl_rtcp_fir *f)
{
    f->sender_ssrc = pl_rbuf_u32(r);
    pl_rbuf_u32(r); /* media source: unused, SHALL be 0 */
    f->n_entries = 0;
    if (!pl_rbuf_ok(r) || pl_rbuf_left(r) == 0 || pl_rbuf_left(r) % 8 ||
        pl_rbuf_left(r) / 8 > PL_RTCP_MAX_FIR)
        return PL_EMALFORMED;
    while (pl_rbuf_left(r) >= 8) {
        f->entries[f->n_entries].ssrc = pl_rbuf_u32(r);
        f->entries[f->n_entries].seq = pl_rbuf_u8(r);
        pl_rbuf_skip(r, 3);
        f->n_entries++;
    }
    return PL_OK;
}

/* Returns 1 when the AFB message is REMB, 0 for another AFB. */
static int parse_remb(pl_rbuf *r, pl_rtcp_remb *m)
{
    m->sender_ssrc = pl_rbuf_u32(r);
    pl_rbuf_u32(r);
    uint8_t id[4];
    if (!pl_rbuf_copy(r, id, 4))
        return PL_EMALFORMED;
    if (memcmp(id, "REMB", 4) != 0)
        return 0;
    uint8_t n = pl_rbuf_u8(r);
    uint32_t v = pl_rbuf_u24(r);
    uint8_t exp = (uint8_t)(v >> 18);
    uint64_t mantissa = v & 0x3ffff;
    if (!pl_rbuf_ok(r) || n > PL_RTCP_MAX_REMB_SSRCS)
        return PL_EMALFORMED;
    /* 18-bit mantissa shifted by up to 63 must not overflow 64 bits. */
    m->bitrate_bps = exp > 46 ? UINT64_MAX : mantissa << exp;
    m->n_ssrcs = n;
    for (uint8_t i = 0; i < n; i++)
        m->ssrcs[i] = pl_rbuf_u32(r);
    return pl_rbuf_ok(r) ? 1 : PL_EMALFORMED;
}

int pl_rtcp_next(pl_rtcp_iter *it, pl_rtcp_packet *out)
{
    if (pl_rbuf_left(&it->r) == 0)
        return pl_rbuf_ok(&it->r) ? 0 : PL_EMALFORMED;
    uint8_t b0 = pl_rbuf_u8(&it->r);
    uint8_t pt = pl_rbuf_u8(&it->r);
    size_t words = pl_rbuf_u16(&it->r);
    pl_rbuf body = pl_rbuf_sub(&it->r, words * 4);
    if (!pl_rbuf_ok(&it->r) || (b0 >> 6) != 2 || pt < 192 || pt > 223) {
        it->r.failed = true;
        return PL_EMALFORMED;
    }
    if (b0 & 0x20) {
        size_t pad = words ? body.data[words * 4 - 1] : 0;
        if (pl_rbuf_left(&it->r) != 0 || pad == 0 || pad > words * 4) {
            it->r.failed = true;
            return PL_EMALFORMED;
        }
        body.len -= pad;
    }
    memset(out, 0, offsetof(pl_rtcp_packet, u));
    out->type = pt;
    out->fmt = b0 & 0x1f;
    out->kind = PL_RTCP_K_OTHER;
    int rc = PL_OK;
    switch (pt) {
    case PL_RTCP_SR:
        out->kind = PL_RTCP_K_SR;
        out->u.sr.ssrc = pl_rbuf_u32(&body);
        out->u.sr.ntp = pl_rbuf_u64(&body);
        out->u.sr.rtp_ts = pl_rbuf_u32(&body);
        out->u.sr.packet_count = pl_rbuf_u32(&body);
        out->u.sr.octet_count = pl_rbuf_u32(&body);
        rc = parse_reports(&body, out->fmt, out->u.sr.reports, &out->u.sr.n_reports);
        break;
    case PL_RTCP_RR:
        out->kind = PL_RTCP_K_RR;
        out->u.rr.ssrc = pl_rbuf_u32(&body);
        rc = parse_reports(&body, out->fmt, out->u.rr.reports, &out->u.rr.n_reports);
        break;
    case PL_RTCP_SDES:
        out->kind = PL_RTCP_K_SDES;
        rc = parse_sdes(&body, out->fmt, &out->u.sdes);
        break;
    case PL_RTCP_BYE:
        out->kind = PL_RTCP_K_BYE;
        rc = parse_bye(&body, out->fmt, &out->u.bye);
        break;
    case PL_RTCP_RTPFB:
        if (out->fmt == 1) {
            out->kind = PL_RTCP_K_NACK;
            rc = parse_nack(&body, &out->u.nack);
        } else if (out->fmt == 15) {
            out->kind = PL_RTCP_K_TWCC;
            rc = parse_twcc(&body, &out->u.twcc);
        }
        break;
    case PL_RTCP_PSFB:
        if (out->fmt == 1) {
            out->kind = PL_RTCP_K_PLI;
            out->u.pli.sender_ssrc = pl_rbuf_u32(&body);
            out->u.pli.media_ssrc = pl_rbuf_u32(&body);
            rc = pl_rbuf_ok(&body) ? PL_OK : PL_EMALFORMED;
        } else if (out->fmt == 4) {
            out->kind = PL_RTCP_K_FIR;
            rc = parse_fir(&body, &out->u.fir);
        } else if (out->fmt == 15) {
            int m = parse_remb(&body, &out->u.remb);
            if (m == 1)
                out->kind = PL_RTCP_K_REMB;
            rc = m < 0 ? m : PL_OK;
        }
        break;
    default:
        break;
    }
    if (rc != PL_OK) {
        it->r.failed = true;
        return PL_EMALFORMED;
    }
    return 1;
}

size_t pl_rtcp_nack_lost(const pl_rtcp_nack *n, uint16_t *out, size_t cap)
{
    size_t k = 0;
    for (size_t i = 0; i < n->n_items && k < cap; i++) {
        out[k++] = n->items[i].pid;
        for (int b = 0; b < 16 && k < cap; b++)
            if (n->items[i].blp & (1u << b))
                out[k++] = (uint16_t)(n->items[i].pid + b + 1);
    }
    return k;
}

size_t pl_rtcp_nack_pack(const uint16_t *lost, size_t n, pl_rtcp_nack_item *items, size_t cap)
{
    size_t k = 0;
    for (size_t i = 0; i < n;) {
        if (k == cap)
            break;
        pl_rtcp_nack_item *it = &items[k++];
        it->pid = lost[i];
        it->blp = 0;
        i++;
        while (i < n) {
            uint16_t d = (uint16_t)(lost[i] - it->pid);
            if (d == 0 || d > 16)
                break;
            it->blp |= (uint16_t)(1u << (d - 1));
            i++;
        }
    }
    return k;
}

/* Writes the common header with a length to be fixed by end(). */
static uint8_t *begin(pl_wbuf *w, uint8_t count, uint8_t pt)
{
    uint8_t *h = pl_wbuf_reserve(w, 4);
    if (h) {
        h[0] = (uint8_t)(0x80 | (count & 0x1f));
        h[1] = pt;
    }
    return h;
}

static void end(pl_wbuf *w, uint8_t *h)
{
    if (!h || !pl_wbuf_ok(w))
        return;
    size_t len = (size_t)(w->data + w->len - h);
    pl_wbuf_zeros(w, (4 - (len & 3)) & 3);
    len = (size_t)(w->data + w->len - h);
    if (pl_wbuf_ok(w))
        pl_put_u16(h + 2, (uint16_t)(len / 4 - 1));
}

static void write_reports(pl_wbuf *w, const pl_rtcp_report *reps, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        pl_wbuf_u32(w, reps[i].ssrc);
        pl_wbuf_u8(w, reps[i].fraction_lost);
        pl_wbuf_u24(w, (uint32_t)reps[i].cumulative_lost & 0xffffff);
        pl_wbuf_u32(w, reps[i].highest_seq);
        pl_wbuf_u32(w, reps[i].jitter);
        pl_wbuf_u32(w, reps[i].lsr);
        pl_wbuf_u32(w, reps[i].dlsr);
    }
}

static bool too_many(pl_wbuf *w, size_t n, size_t max)
{
    if (n > max)
        w->failed = true;
    return n > max;
}

void pl_rtcp_write_sr(pl_wbuf *w, const pl_rtcp_sr *sr)
{
    if (too_many(w, sr->n_reports, PL_RTCP_MAX_REPORTS))
        return;
    uint8_t *h = begin(w, (uint8_t)sr->n_reports, PL_RTCP_SR);
    pl_wbuf_u32(w, sr->ssrc);
    pl_wbuf_u64(w, sr->ntp);
    pl_wbuf_u32(w, sr->rtp_ts);
    pl_wbuf_u32(w, sr->packet_count);
    pl_wbuf_u32(w, sr->octet_count);
    write_reports(w, sr->reports, sr->n_reports);
    end(w, h);
}

void pl_rtcp_write_rr(pl_wbuf *w, const pl_rtcp_rr *rr)
{
    if (too_many(w, rr->n_reports, PL_RTCP_MAX_REPORTS))
        return;
    uint8_t *h = begin(w, (uint8_t)rr->n_reports, PL_RTCP_RR);
    pl_wbuf_u32(w, rr->ssrc);
    write_reports(w, rr->reports, rr->n_reports);
    end(w, h);
}

void pl_rtcp_write_sdes(pl_wbuf *w, const pl_rtcp_sdes *s)
{
    if (too_many(w, s->n_chunks, PL_RTCP_MAX_SDES))
        return;
    uint8_t *h = begin(w, (uint8_t)s->n_chunks, PL_RTCP_SDES);
    for (size_t i = 0; i < s->n_chunks; i++) {
        size_t start = w->len;
        size_t n = strnlen(s->chunks[i].cname, 255);
        pl_wbuf_u32(w, s->chunks[i].ssrc);
        if (n) {
            pl_wbuf_u8(w, 1);
            pl_wbuf_u8(w, (uint8_t)n);
            pl_wbuf_bytes(w, s->chunks[i].cname, n);
        }
        /* The terminating zero plus padding to the next 32-bit boundary. */
        pl_wbuf_u8(w, 0);
        pl_wbuf_zeros(w, (4 - ((w->len - start) & 3)) & 3);
    }
    end(w, h);
}

void pl_rtcp_write_bye(pl_wbuf *w, const pl_rtcp_bye *b)
{
    if (too_many(w, b->n_ssrcs, 31))
        return;
    uint8_t *h = begin(w, (uint8_t)b->n_ssrcs, PL_RTCP_BYE);
    for (size_t i = 0; i < b->n_ssrcs; i++)
        pl_wbuf_u32(w, b->ssrcs[i]);
    size_t n = strnlen(b->reason, 255);
    if (n) {
        pl_wbuf_u8(w, (uint8_t)n);
        pl_wbuf_bytes(w, b->reason, n);
    }
    end(w, h);
}

void pl_rtcp_write_nack(pl_wbuf *w, const pl_rtcp_nack *n)
{
    if (n->n_items == 0 || too_many(w, n->n_items, PL_RTCP_MAX_NACK)) {
        w->failed = true;
        return;
    }
    uint8_t *h = begin(w, 1, PL_RTCP_RTPFB);
    pl_wbuf_u32(w, n->sender_ssrc);
    pl_wbuf_u32(w, n->media_ssrc);
    for (size_t i = 0; i < n->n_items; i++) {
        pl_wbuf_u16(w, n->items[i].pid);
        pl_wbuf_u16(w, n->items[i].blp);
    }
    end(w, h);
}

/* Packets must be consecutive from base_seq. Status chunks: a run of 14 or
 * more equal symbols is one run-length chunk; otherwise fourteen symbols
 * that are all "not received" or "small delta" share a one-bit vector, and
 * the rest go seven to a two-bit vector. */
void pl_rtcp_write_twcc(pl_wbuf *w, const pl_rtcp_twcc *t)
{
    if (t->n_packets == 0 || too_many(w, t->n_packets, PL_RTCP_MAX_TWCC)) {
        w->failed = true;
        return;
    }
    uint8_t *h = begin(w, 15, PL_RTCP_RTPFB);
    pl_wbuf_u32(w, t->sender_ssrc);
    pl_wbuf_u32(w, t->media_ssrc);
    pl_wbuf_u16(w, t->base_seq);
    pl_wbuf_u16(w, (uint16_t)t->n_packets);
    pl_wbuf_u24(w, (uint32_t)t->reference_time & 0xffffff);
    pl_wbuf_u8(w, t->fb_count);
    uint8_t sym[PL_RTCP_MAX_TWCC];
    size_t n = t->n_packets;
    for (size_t i = 0; i < n; i++) {
        int64_t d = t->packets[i].delta_us / TWCC_DELTA_US;
        if (!t->packets[i].received)
            sym[i] = 0;
        else if (d >= 0 && d <= 255)
            sym[i] = 1;
        else if (d >= INT16_MIN && d <= INT16_MAX)
            sym[i] = 2;
        else {
            w->failed = true;
            return;
        }
    }
    for (size_t i = 0; i < n;) {
        size_t run = 1;
        while (i + run < n && sym[i + run] == sym[i] && run < 0x1fff)
            run++;
        if (run >= 14) {
            pl_wbuf_u16(w, (uint16_t)(sym[i] << 13 | run));
            i += run;
            continue;
        }
        bool one_bit = true;
        for (size_t j = 0; j < 14 && i + j < n; j++)
            one_bit = one_bit && sym[i + j] <= 1;
        uint16_t c;
        if (one_bit) {
            c = 0x8000;
            for (size_t j = 0; j < 14 && i + j < n; j++)
                c |= (uint16_t)(sym[i + j] << (13 - j));
            i += 14;
        } else {
            c = 0xc000;
            for (size_t j = 0; j < 7 && i + j < n; j++)
                c |= (uint16_t)(sym[i + j] << (12 - 2 * j));
            i += 7;
        }
        pl_wbuf_u16(w, c);
    }
    for (size_t i = 0; i < n; i++) {
        int64_t d = t->packets[i].delta_us / TWCC_DELTA_US;
        if (sym[i] == 1)
            pl_wbuf_u8(w, (uint8_t)d);
        else if (sym[i] == 2)
            pl_wbuf_u16(w, (uint16_t)(int16_t)d);
    }
    end(w, h);
}

void pl_rtcp_write_pli(pl_wbuf *w, const pl_rtcp_pli *p)
{
    uint8_t *h = begin(w, 1, PL_RTCP_PSFB);
    pl_wbuf_u32(w, p->sender_ssrc);
    pl_wbuf_u32(w, p->media_ssrc);
    end(w, h);
}

void pl_rtcp_write_fir(pl_wbuf *w, const pl_rtcp_fir *f)
{
    if (f->n_entries == 0 || too_many(w, f->n_entries, PL_RTCP_MAX_FIR)) {
        w->failed = true;
        return;
    }
    uint8_t *h = begin(w, 4, PL_RTCP_PSFB);
    pl_wbuf_u32(w, f->sender_ssrc);
    pl_wbuf_u32(w, 0);
    for (size_t i = 0; i < f->n_entries; i++) {
        pl_wbuf_u32(w, f->entries[i].ssrc);
        pl_wbuf_u8(w, f->entries[i].seq);
        pl_wbuf_zeros(w, 3);
    }
    end(w, h);
}

void pl_rtcp_write_remb(pl_wbuf *w, const pl_rtcp_remb *m)
{
    if (too_many(w, m->n_ssrcs, PL_RTCP_MAX_REMB_SSRCS))
        return;
    uint64_t mantissa = m->bitrate_bps;
    uint8_t exp = 0;
    while (mantissa > 0x3ffff) {
        mantissa >>= 1;
        exp++;
    }
    uint8_t *h = begin(w, 15, PL_RTCP_PSFB);
    pl_wbuf_u32(w, m->sender_ssrc);
    pl_wbuf_u32(w, 0);
    pl_wbuf_bytes(w, "REMB", 4);
    pl_wbuf_u8(w, (uint8_t)m->n_ssrcs);
    pl_wbuf_u24(w, (uint32_t)exp << 18 | (uint32_t)mantissa);
    for (size_t i = 0; i < m->n_ssrcs; i++)
        pl_wbuf_u32(w, m->ssrcs[i]);
    end(w, h);
}
