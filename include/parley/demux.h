/* What kind of packet a datagram on a WebRTC port is, from its first bytes:
 * RFC 7983 for STUN / DTLS / RTP, RFC 5761 for RTP vs RTCP on one port. */
#ifndef PARLEY_DEMUX_H
#define PARLEY_DEMUX_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

enum pl_demux_kind {
    PL_DEMUX_UNKNOWN,
    PL_DEMUX_STUN, /* 0..3 */
    PL_DEMUX_ZRTP, /* 16..19 */
    PL_DEMUX_DTLS, /* 20..63 */
    PL_DEMUX_TURN, /* 64..79: TURN ChannelData */
    PL_DEMUX_RTP,  /* 128..191, payload type not in 64..95 */
    PL_DEMUX_RTCP, /* 128..191, packet type 192..223 */
};

enum pl_demux_kind pl_demux_classify(const uint8_t *data, size_t len);

#ifdef __cplusplus
}
#endif
#endif
