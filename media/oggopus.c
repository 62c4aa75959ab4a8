/* Ogg pages of one Opus stream (see oggopus.h for why they are written
 * here). */
#include "oggopus.h"

#include <string.h>

#include "parley/common.h"

/* Bit by bit rather than through a table: the mix writes a few kilobytes
 * a second, and a table would be a global to initialise or 1 KiB of
 * constants to get right by hand. */
uint32_t pl_ogg_crc(uint32_t crc, const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        crc ^= (uint32_t)p[i] << 24;
        for (int b = 0; b < 8; b++)
            crc = (crc & 0x80000000u) ? (crc << 1) ^ 0x04c11db7u : crc << 1;
    }
    return crc;
}

static void put_le16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}

static void put_le32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static void put_le64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

void pl_oggw_init(pl_oggw *w, uint32_t serial)
{
    w->serial = serial;
    w->seq = 0;
    w->nsegs = 0;
    w->npackets = 0;
    w->body_len = 0;
}

/* A packet of len bytes takes len/255 + 1 lacing values: the last one is
 * below 255 (0 when len is a multiple of 255) and ends the packet. */
static int segs_of(size_t len)
{
    return (int)(len / 255 + 1);
}

bool pl_oggw_fits(const pl_oggw *w, size_t len)
{
    return w->nsegs + segs_of(len) <= PL_OGG_MAX_SEGS && w->body_len + len <= PL_OGG_MAX_BODY;
}

int pl_oggw_add(pl_oggw *w, const uint8_t *pkt, size_t len)
{
    if (segs_of(len) > PL_OGG_MAX_SEGS)
        return PL_EINVAL;
    if (!pl_oggw_fits(w, len))
        return PL_ENOSPC;
    size_t left = len;
    while (left >= 255) {
        w->lacing[w->nsegs++] = 255;
        left -= 255;
    }
    w->lacing[w->nsegs++] = (uint8_t)left;
    memcpy(w->body + w->body_len, pkt, len);
    w->body_len += len;
    w->npackets++;
    return 0;
}

size_t pl_oggw_page_len(const pl_oggw *w)
{
    return 27 + (size_t)w->nsegs + w->body_len;
}

int pl_oggw_page(pl_oggw *w, uint8_t flags, uint64_t granule, uint8_t *out, size_t cap)
{
    size_t n = pl_oggw_page_len(w);
    if (n > cap)
        return PL_ENOSPC;
    memcpy(out, "OggS", 4);
    out[4] = 0; /* version */
    out[5] = flags;
    put_le64(out + 6, granule);
    put_le32(out + 14, w->serial);
    put_le32(out + 18, w->seq);
    put_le32(out + 22, 0); /* the CRC covers the page with this field zero */
    out[26] = (uint8_t)w->nsegs;
    memcpy(out + 27, w->lacing, (size_t)w->nsegs);
    memcpy(out + 27 + w->nsegs, w->body, w->body_len);
    put_le32(out + 22, pl_ogg_crc(0, out, n));
    w->seq++;
    w->nsegs = 0;
    w->npackets = 0;
    w->body_len = 0;
    return (int)n;
}

void pl_oggw_drop(pl_oggw *w)
{
    w->seq++;
    w->nsegs = 0;
    w->npackets = 0;
    w->body_len = 0;
}

void pl_opus_head(uint8_t out[PL_OPUS_HEAD_LEN], int channels, uint16_t pre_skip,
                  uint32_t input_rate)
{
    memcpy(out, "OpusHead", 8);
    out[8] = 1; /* version */
    out[9] = (uint8_t)channels;
    put_le16(out + 10, pre_skip);
    put_le32(out + 12, input_rate);
    put_le16(out + 16, 0); /* output gain */
    out[18] = 0;           /* mapping family 0: mono or stereo, no table */
}

int pl_opus_tags(uint8_t *out, size_t cap, const char *vendor, const char *title)
{
    size_t vlen = strlen(vendor);
    size_t tlen = title ? strlen("TITLE=") + strlen(title) : 0;
    size_t n = 8 + 4 + vlen + 4 + (title ? 4 + tlen : 0);
    if (n > cap || vlen > UINT32_MAX || tlen > UINT32_MAX)
        return PL_ENOSPC;
    uint8_t *p = out;
    memcpy(p, "OpusTags", 8);
    p += 8;
    put_le32(p, (uint32_t)vlen);
    memcpy(p + 4, vendor, vlen);
    p += 4 + vlen;
    put_le32(p, title ? 1 : 0);
    p += 4;
    if (title) {
        put_le32(p, (uint32_t)tlen);
        memcpy(p + 4, "TITLE=", 6);
        memcpy(p + 10, title, tlen - 6);
    }
    return (int)n;
}
