#include "parley/demux.h"

enum pl_demux_kind pl_demux_classify(const uint8_t *data, size_t len)
{
    if (len == 0)
        return PL_DEMUX_UNKNOWN;
    uint8_t b = data[0];
    if (b <= 3)
        return PL_DEMUX_STUN;
    if (b >= 16 && b <= 19)
        return PL_DEMUX_ZRTP;
    if (b >= 20 && b <= 63)
        return PL_DEMUX_DTLS;
    if (b >= 64 && b <= 79)
        return PL_DEMUX_TURN;
    if (b >= 128 && b <= 191) {
        /* RTP needs a 12-byte header and RTCP 8 bytes; anything shorter is
         * neither. RTCP packet types 192..223 collide with RTP payload
         * types 64..95 once the marker bit is masked (RFC 5761 4). */
        if (len < 8)
            return PL_DEMUX_UNKNOWN;
        uint8_t pt = data[1] & 0x7f;
        if (pt >= 64 && pt <= 95)
            return PL_DEMUX_RTCP;
        return len >= 12 ? PL_DEMUX_RTP : PL_DEMUX_UNKNOWN;
    }
    return PL_DEMUX_UNKNOWN;
}
