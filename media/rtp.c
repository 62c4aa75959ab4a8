#include "parley/rtp.h"

#include <string.h>

#include "parley/common.h"

static bool is_one_byte(uint16_t profile)
{
    return profile == PL_RTP_EXT_ONE_BYTE;
}

static bool is_two_byte(uint16_t profile)
{
    return (profile & 0xfff0) == PL_RTP_EXT_TWO_BYTE;
}

int pl_rtp_parse(const uint8_t *pkt, size_t len, pl_rtp_header *h)
{
    memset(h, 0, sizeof(*h));
    pl_rbuf r = pl_rbuf_make(pkt, len);
    uint8_t b0 = pl_rbuf_u8(&r);
    uint8_t b1 = pl_rbuf_u8(&r);
    h->seq = pl_rbuf_u16(&r);
    h->timestamp = pl_rbuf_u32(&r);
    h->ssrc = pl_rbuf_u32(&r);
    if (!pl_rbuf_ok(&r) || (b0 >> 6) != 2)
        return PL_EMALFORMED;
    h->padding = b0 & 0x20;
    h->extension = b0 & 0x10;
    h->csrc_count = b0 & 0x0f;
    h->marker = b1 & 0x80;
    h->payload_type = b1 & 0x7f;
    for (uint8_t i = 0; i < h->csrc_count; i++)
        h->csrc[i] = pl_rbuf_u32(&r);
    if (h->extension) {
        h->ext_profile = pl_rbuf_u16(&r);
        size_t words = pl_rbuf_u16(&r);
        h->ext_offset = r.pos;
        h->ext_len = words * 4;
        pl_rbuf_skip(&r, h->ext_len);
    }
    if (!pl_rbuf_ok(&r))
        return PL_EMALFORMED;
    h->header_len = r.pos;
    size_t rest = pl_rbuf_left(&r);
    if (h->padding) {
        /* RFC 3550 5.1: the last byte counts the padding, itself included. */
        if (rest == 0 || pkt[len - 1] == 0 || pkt[len - 1] > rest)
            return PL_EMALFORMED;
        h->padding_len = pkt[len - 1];
    }
    h->payload_len = rest - h->padding_len;
    if (h->extension && (is_one_byte(h->ext_profile) || is_two_byte(h->ext_profile))) {
        size_t pos = 0;
        pl_rtp_ext e;
        int rc;
        while ((rc = pl_rtp_ext_next(pkt, h, &pos, &e)) == 1) {
        }
        if (rc < 0)
            return PL_EMALFORMED;
    }
    return PL_OK;
}

int pl_rtp_ext_next(const uint8_t *pkt, const pl_rtp_header *h, size_t *pos, pl_rtp_ext *out)
{
    if (!h->extension)
        return 0;
    bool one = is_one_byte(h->ext_profile);
    if (!one && !is_two_byte(h->ext_profile))
        return PL_EUNSUPPORTED;
    pl_rbuf r = pl_rbuf_make(pkt + h->ext_offset, h->ext_len);
    pl_rbuf_skip(&r, *pos);
    for (;;) {
        if (pl_rbuf_left(&r) == 0)
            return 0;
        uint8_t b = pl_rbuf_u8(&r);
        if (b == 0)
            continue; /* padding between elements */
        uint8_t id;
        size_t elen;
        if (one) {
            id = b >> 4;
            elen = (size_t)(b & 0x0f) + 1;
            if (id == 15) /* reserved: stop processing (RFC 8285 4.2) */
                return 0;
        } else {
            id = b;
            elen = pl_rbuf_u8(&r);
        }
        const uint8_t *d = pl_rbuf_take(&r, elen);
        if (!pl_rbuf_ok(&r))
            return PL_EMALFORMED;
        out->id = id;
        out->data = d;
        out->len = elen;
        *pos = r.pos;
        return 1;
    }
}

int pl_rtp_ext_find(const uint8_t *pkt, const pl_rtp_header *h, uint8_t id, pl_rtp_ext *out)
{
    size_t pos = 0;
    int rc;
    while ((rc = pl_rtp_ext_next(pkt, h, &pos, out)) == 1)
        if (out->id == id)
            return PL_OK;
    return rc < 0 ? rc : PL_ENOTFOUND;
}

int pl_rtp_ext_string(const pl_rtp_ext *e, char *out, size_t cap)
{
    /* RFC 8852: an RtpStreamId is 1-255 alphanumeric characters; mids are
     * tokens. Trailing NULs are padding some senders leave. */
    size_t n = e->len;
    while (n > 0 && e->data[n - 1] == 0)
        n--;
    if (n == 0 || n >= cap)
        return PL_EMALFORMED;
    for (size_t i = 0; i < n; i++)
        if (e->data[i] < 0x21 || e->data[i] > 0x7e)
            return PL_EMALFORMED;
    memcpy(out, e->data, n);
    out[n] = '\0';
    return PL_OK;
}

int pl_rtp_ext_audio_level(const pl_rtp_ext *e, bool *voice, uint8_t *level_dbov)
{
    if (e->len < 1)
        return PL_EMALFORMED;
    *voice = e->data[0] & 0x80;
    *level_dbov = e->data[0] & 0x7f;
    return PL_OK;
}

int pl_rtp_ext_abs_send_time(const pl_rtp_ext *e, uint32_t *v)
{
    if (e->len != 3)
        return PL_EMALFORMED;
    *v = (uint32_t)e->data[0] << 16 | (uint32_t)e->data[1] << 8 | e->data[2];
    return PL_OK;
}

int pl_rtp_ext_twcc_seq(const pl_rtp_ext *e, uint16_t *seq)
{
    if (e->len != 2)
        return PL_EMALFORMED;
    *seq = pl_get_u16(e->data);
    return PL_OK;
}

void pl_rtp_set_ssrc(uint8_t *pkt, uint32_t ssrc)
{
    pl_put_u32(pkt + 8, ssrc);
}

void pl_rtp_set_seq(uint8_t *pkt, uint16_t seq)
{
    pl_put_u16(pkt + 2, seq);
}

void pl_rtp_set_timestamp(uint8_t *pkt, uint32_t ts)
{
    pl_put_u32(pkt + 4, ts);
}

void pl_rtp_set_payload_type(uint8_t *pkt, uint8_t pt)
{
    pkt[1] = (uint8_t)((pkt[1] & 0x80) | (pt & 0x7f));
}

void pl_rtp_write_header(pl_wbuf *w, const pl_rtp_header *h, const pl_rtp_ext_spec *exts,
                         size_t n_exts)
{
    bool one = true;
    for (size_t i = 0; i < n_exts; i++)
        if (exts[i].id < 1 || exts[i].id > 14 || exts[i].len < 1 || exts[i].len > 16)
            one = false;
    uint8_t cc = h->csrc_count > 15 ? 15 : h->csrc_count;
    pl_wbuf_u8(w, (uint8_t)(0x80 | (n_exts ? 0x10 : 0) | cc));
    pl_wbuf_u8(w, (uint8_t)((h->marker ? 0x80 : 0) | (h->payload_type & 0x7f)));
    pl_wbuf_u16(w, h->seq);
    pl_wbuf_u32(w, h->timestamp);
    pl_wbuf_u32(w, h->ssrc);
    for (uint8_t i = 0; i < cc; i++)
        pl_wbuf_u32(w, h->csrc[i]);
    if (!n_exts)
        return;
    pl_wbuf_u16(w, one ? PL_RTP_EXT_ONE_BYTE : PL_RTP_EXT_TWO_BYTE);
    uint8_t *words = pl_wbuf_reserve(w, 2);
    size_t start = w->len;
    for (size_t i = 0; i < n_exts; i++) {
        if (one) {
            pl_wbuf_u8(w, (uint8_t)(exts[i].id << 4 | (exts[i].len - 1)));
        } else {
            if (exts[i].id == 0 || exts[i].len > 255) {
                w->failed = true;
                return;
            }
            pl_wbuf_u8(w, exts[i].id);
            pl_wbuf_u8(w, (uint8_t)exts[i].len);
        }
        pl_wbuf_bytes(w, exts[i].data, exts[i].len);
    }
    pl_wbuf_zeros(w, (4 - ((w->len - start) & 3)) & 3);
    if (words && pl_wbuf_ok(w))
        pl_put_u16(words, (uint16_t)((w->len - start) / 4));
}

int pl_rtp_rtx_osn(const uint8_t *pkt, const pl_rtp_header *h, uint16_t *osn)
{
    if (h->payload_len < 2)
        return PL_EMALFORMED; /* an RTX packet always carries the OSN */
    *osn = pl_get_u16(pkt + h->header_len);
    return PL_OK;
}

int pl_rtp_rtx_wrap(const uint8_t *orig, const pl_rtp_header *h, uint32_t rtx_ssrc, uint8_t rtx_pt,
                    uint16_t rtx_seq, uint8_t *out, size_t cap)
{
    size_t need = h->header_len + 2 + h->payload_len;
    if (need > cap)
        return PL_ENOSPC;
    /* Payload first: out may be orig, the packet wrapped where it lies.
     * Padding is not carried over: RTX has its own padding rules. */
    memmove(out + h->header_len + 2, orig + h->header_len, h->payload_len);
    if (out != orig)
        memcpy(out, orig, h->header_len);
    out[0] &= (uint8_t)~0x20;
    pl_put_u16(out + h->header_len, h->seq);
    pl_rtp_set_ssrc(out, rtx_ssrc);
    pl_rtp_set_payload_type(out, rtx_pt);
    pl_rtp_set_seq(out, rtx_seq);
    return (int)need;
}

/* Fixed header and CSRCs, without the extension block, followed by body. */
static int bare(const uint8_t *pkt, const pl_rtp_header *h, const uint8_t *body, size_t body_len,
                uint8_t *out, size_t cap)
{
    size_t fixed = PL_RTP_HEADER_MIN + 4u * h->csrc_count;
    if (fixed + body_len > cap)
        return PL_ENOSPC;
    memmove(out + fixed, body, body_len);
    if (out != pkt)
        memcpy(out, pkt, fixed);
    out[0] &= (uint8_t)~0x10;
    return (int)(fixed + body_len);
}

int pl_rtp_strip_extensions(const uint8_t *pkt, const pl_rtp_header *h, uint8_t *out, size_t cap)
{
    return bare(pkt, h, pkt + h->header_len, (size_t)h->payload_len + h->padding_len, out, cap);
}

int pl_rtp_rtx_unwrap(const uint8_t *rtx, const pl_rtp_header *h, uint32_t ssrc, uint8_t pt,
                      uint8_t *out, size_t cap)
{
    uint16_t osn;
    if (h->payload_len == 2 || (h->payload_len == 0 && h->padding_len))
        return PL_ENOTFOUND; /* padding only: a bandwidth probe */
    if (pl_rtp_rtx_osn(rtx, h, &osn) != PL_OK)
        return PL_EMALFORMED;
    int n = bare(rtx, h, rtx + h->header_len + 2, h->payload_len - 2u, out, cap);
    if (n < 0)
        return n;
    out[0] &= (uint8_t)~0x20;
    pl_rtp_set_ssrc(out, ssrc);
    pl_rtp_set_payload_type(out, pt);
    pl_rtp_set_seq(out, osn);
    return n;
}
