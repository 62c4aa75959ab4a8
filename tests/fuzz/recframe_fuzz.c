/* libFuzzer target: a recorded track fed a stream of packets cut from the
 * input. The first byte picks the codec (bit 0: VP8). Then per packet a
 * control byte: bit 0 raw (a 2-byte length, then the whole packet, header
 * included) or built (an RTP header from 3 bytes: sequence number step,
 * timestamp step in 1500s, one of three SSRCs and the marker; then a
 * length byte, times 8, and that much payload); bits 1-3 the arrival step
 * in 15 ms; bit 4 whether to poll after it.
 * Frames must leave with a pts that never goes backwards nor below 0 and
 * bytes that can be read. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "parley/buf.h"
#include "parley/recframe.h"
#include "parley/rtp.h"
#include "parley/vp8.h"

static void drain(pl_recframe *rf, int64_t now, int64_t *last)
{
    pl_recframe_frame f;
    while (pl_recframe_poll(rf, now, &f)) {
        if (f.pts_us < *last || f.pts_us < 0 || f.len == 0 || f.len > PL_VP8_MAX_FRAME)
            __builtin_trap();
        *last = f.pts_us;
        for (size_t i = 0; i < f.len; i++)
            (void)*(volatile const uint8_t *)&f.data[i];
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    pl_recframe_codec codec = data[0] & 1 ? PL_RECFRAME_VP8 : PL_RECFRAME_OPUS;
    pl_recframe *rf = pl_recframe_create(codec, 1000000);
    if (!rf)
        return 0;
    static const uint32_t ssrcs[3] = {0x11111111, 0x22222222, 0x33333333};
    uint16_t seq = 0;
    uint32_t ts = 0;
    int64_t now = 1000000, last = 0;
    uint8_t pkt[1600];
    size_t pos = 1;
    while (pos < size) {
        uint8_t ctl = data[pos++];
        now += (int64_t)((ctl >> 1) & 7) * 15000;
        size_t len = 0;
        if (ctl & 1) {
            if (size - pos < 2)
                break;
            len = (size_t)((data[pos] << 8) | data[pos + 1]) % sizeof(pkt);
            pos += 2;
            if (len > size - pos)
                len = size - pos;
            memcpy(pkt, data + pos, len);
            pos += len;
        } else {
            if (size - pos < 4)
                break;
            seq = (uint16_t)(seq + (int8_t)data[pos]);
            ts += (uint32_t)(int8_t)data[pos + 1] * 1500u;
            pl_rtp_header h = {.payload_type = 96,
                               .seq = seq,
                               .timestamp = ts,
                               .ssrc = ssrcs[(data[pos + 2] & 3) % 3],
                               .marker = data[pos + 2] & 4};
            size_t plen = data[pos + 3] * 8u;
            pos += 4;
            if (plen > size - pos)
                plen = size - pos;
            pl_wbuf w = pl_wbuf_make(pkt, sizeof(pkt));
            pl_rtp_write_header(&w, &h, NULL, 0);
            if (plen)
                pl_wbuf_bytes(&w, data + pos, plen);
            pos += plen;
            len = w.len;
        }
        pl_recframe_push(rf, pkt, len, now);
        if (ctl & 0x10)
            drain(rf, now, &last);
        (void)pl_recframe_wants_keyframe(rf, NULL);
    }
    drain(rf, now + 10000000, &last);
    pl_recframe_stats st;
    pl_recframe_stats_get(rf, &st);
    pl_recframe_destroy(rf);
    return 0;
}
