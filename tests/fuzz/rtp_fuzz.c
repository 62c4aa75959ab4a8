/* libFuzzer target: RTP header and extension parsing, RTX, and the demux. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "parley/common.h"
#include "parley/demux.h"
#include "parley/rtp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    pl_demux_classify(data, size);
    pl_rtp_header h;
    if (pl_rtp_parse(data, size, &h) != PL_OK)
        return 0;
    if (h.header_len + h.payload_len + h.padding_len != size)
        __builtin_trap();
    size_t pos = 0;
    pl_rtp_ext e;
    char s[256];
    while (pl_rtp_ext_next(data, &h, &pos, &e) == 1) {
        bool voice;
        uint8_t level;
        uint32_t v;
        uint16_t seq;
        pl_rtp_ext_string(&e, s, sizeof(s));
        pl_rtp_ext_audio_level(&e, &voice, &level);
        pl_rtp_ext_abs_send_time(&e, &v);
        pl_rtp_ext_twcc_seq(&e, &seq);
    }
    uint16_t osn;
    pl_rtp_rtx_osn(data, &h, &osn);
    uint8_t rtx[2048];
    int n = pl_rtp_rtx_wrap(data, &h, 1, 97, 2, rtx, sizeof(rtx));
    if (n > 0) {
        pl_rtp_header r;
        if (pl_rtp_parse(rtx, (size_t)n, &r) != PL_OK || pl_rtp_rtx_osn(rtx, &r, &osn) != PL_OK ||
            osn != h.seq)
            __builtin_trap();
        /* Unwrapped, it is the original without extensions (and, since
         * RTX carries none, without padding). */
        uint8_t back[2048], bare[2048];
        int u = pl_rtp_rtx_unwrap(rtx, &r, h.ssrc, h.payload_type, back, sizeof(back));
        int b = pl_rtp_strip_extensions(data, &h, bare, sizeof(bare));
        if (h.payload_len && !h.padding_len && (u != b || memcmp(back, bare, (size_t)b) != 0))
            __builtin_trap();
    }
    return 0;
}
