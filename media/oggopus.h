/* Ogg pages (RFC 3533) of one Opus stream and its two header packets
 * (RFC 7845), into caller memory (inside media/, used by recmix).
 *
 * Written here rather than through libavformat's Ogg muxer: a page is
 * some thirty bytes of header around packets the mixer already has, and
 * the mixer must decide itself when a page is complete (a crash loses at
 * most the page being filled), which granule position the last page
 * carries (the end trimmed to the recording's duration) and where the
 * bytes go (an output queue, so the mixer never touches a file). The
 * muxer holds a page back until the next one starts and takes these from
 * packet durations and avio buffering, and would bring a file handle
 * into a core that is otherwise sans-IO. */
#ifndef PARLEY_MEDIA_OGGOPUS_H
#define PARLEY_MEDIA_OGGOPUS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PL_OGG_BOS 0x02
#define PL_OGG_EOS 0x04
#define PL_OGG_MAX_SEGS 255
/* A page holds at most 255 lacing values of 255 bytes. */
#define PL_OGG_MAX_BODY (255 * 255)
#define PL_OGG_MAX_PAGE (27 + PL_OGG_MAX_SEGS + PL_OGG_MAX_BODY)
#define PL_OPUS_HEAD_LEN 19

/* The page being filled. Packets never span pages here: a packet that
 * does not fit waits for the next page. */
typedef struct pl_oggw {
    uint32_t serial;
    uint32_t seq;
    int nsegs;
    int npackets;
    size_t body_len;
    uint8_t lacing[PL_OGG_MAX_SEGS];
    uint8_t body[PL_OGG_MAX_BODY];
} pl_oggw;

/* CRC-32 of Ogg: polynomial 0x04c11db7, initial 0, no reflection, no
 * final xor. */
uint32_t pl_ogg_crc(uint32_t crc, const uint8_t *p, size_t n);

void pl_oggw_init(pl_oggw *w, uint32_t serial);
/* Whether a packet of `len` bytes fits into the page being filled. */
bool pl_oggw_fits(const pl_oggw *w, size_t len);
/* Adds a packet; 0, or PL_ENOSPC when it does not fit (flush first; a
 * packet too large for any page is PL_EINVAL). */
int pl_oggw_add(pl_oggw *w, const uint8_t *pkt, size_t len);
/* The size of the page pl_oggw_page would write now. */
size_t pl_oggw_page_len(const pl_oggw *w);
/* Writes the page being filled with `flags` (PL_OGG_BOS, PL_OGG_EOS) and
 * `granule` into out and starts the next one. Returns its length, or
 * PL_ENOSPC when cap is too small (nothing changes then). */
int pl_oggw_page(pl_oggw *w, uint8_t flags, uint64_t granule, uint8_t *out, size_t cap);

/* Drops the page being filled, as if it had been written. */
void pl_oggw_drop(pl_oggw *w);

/* The identification header: version 1, channel mapping family 0 (mono or
 * stereo), output gain 0. Writes PL_OPUS_HEAD_LEN bytes. */
void pl_opus_head(uint8_t out[PL_OPUS_HEAD_LEN], int channels, uint16_t pre_skip,
                  uint32_t input_rate);
/* The comment header with `vendor` and, if not NULL, one TITLE comment.
 * Returns its length, or PL_ENOSPC. */
int pl_opus_tags(uint8_t *out, size_t cap, const char *vendor, const char *title);

#endif
