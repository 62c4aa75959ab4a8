/* libFuzzer target: the router fed records of arbitrary RTP, RTCP, timer
 * and reconfiguration steps from three transports (a publisher, a
 * subscriber, and one that is both), on a clock the input moves. The
 * publishers have an audio track, a video track and a simulcast video
 * track (mid "2", layers q, h, f bound by RID extension 10 and repaired RID
 * 11, some with signalled SSRCs); routes to it have sizes and temporal
 * caps from the input. Whatever comes in, every RTP packet the router
 * queues must parse, and nothing may crash or leak. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "parley/router.h"
#include "parley/rtp.h"

static void drain(pl_router *r)
{
    static uint8_t buf[1600];
    pl_router_output o;
    int rc;
    while ((rc = pl_router_poll_output(r, 0, &o, buf, sizeof(buf))) != PL_EAGAIN) {
        pl_rtp_header h;
        if (rc == PL_OK && o.kind == PL_ROUTER_OUT_RTP && pl_rtp_parse(buf, o.len, &h) != PL_OK)
            __builtin_trap();
    }
}

static void configure(pl_router *r, const uint8_t *d, size_t n, int64_t now)
{
    uint32_t ssrc = n >= 4 ? (uint32_t)d[0] << 24 | (uint32_t)d[1] << 16 | d[2] << 8 | d[3] : 0;
    pl_track t[3] = {
        {.mid = "0", .ssrc = ssrc & 3 ? 0x1000 : 0, .pt = 111, .audio_level_ext = 1, .mid_ext = 4},
        {.mid = "1",
         .ssrc = ssrc & 4 ? ssrc : 0,
         .video = true,
         .pt = 96,
         .rtx_pt = 97,
         .rtx_ssrc = ssrc & 8 ? ssrc + 1 : 0,
         .nack = true,
         .mid_ext = 4},
        {.mid = "2",
         .video = true,
         .pt = 96,
         .rtx_pt = 97,
         .nack = (ssrc & 128) != 0,
         .mid_ext = 4,
         .rid_ext = 10,
         .rrid_ext = 11,
         .n_layers = ssrc & 256 ? 2 : 3,
         .layers = {{.rid = "q", .ssrc = ssrc & 512 ? ssrc + 2 : 0},
                    {.rid = "h"},
                    {.rid = "f", .rtx_ssrc = ssrc & 1024 ? ssrc + 3 : 0}},
         .dynacast = (ssrc & 2048) == 0},
    };
    pl_router_set_tracks(r, 1, t, 3);
    pl_router_set_tracks(r, 3, t, ssrc & 16 ? 1 : 3);
    uint16_t w = (uint16_t)(ssrc >> 16 & 0x7ff), h = (uint16_t)(ssrc >> 4 & 0x3ff);
    pl_route rt[5] = {
        {.publisher = 1, .mid = "0", .out_ssrc = 10, .out_pt = 111},
        {.publisher = 1,
         .mid = "1",
         .out_ssrc = 11,
         .out_pt = 96,
         .out_rtx_ssrc = 12,
         .out_rtx_pt = 97},
        {.publisher = 3, .mid = "1", .out_ssrc = 13, .out_pt = 96, .paused = (ssrc & 32) != 0},
        {.publisher = 1,
         .mid = "2",
         .out_ssrc = 14,
         .out_pt = 96,
         .out_rtx_ssrc = 15,
         .out_rtx_pt = 97,
         .max_width = w,
         .max_height = h,
         .temporal_layers = (uint8_t)(ssrc >> 28)},
        {.publisher = 3,
         .mid = "2",
         .out_ssrc = 16,
         .out_pt = 96,
         .max_width = (uint16_t)(w / 2),
         .temporal_layers = (uint8_t)(ssrc >> 30),
         .paused = (ssrc & 2048) != 0},
    };
    pl_router_set_routes(r, 2, rt, 5, now);
    pl_router_set_routes(r, 3, rt, ssrc & 64 ? 1 : 5, now);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint64_t seed;
    pl_env env = pl_env_seeded(&seed, 1);
    pl_router *r = pl_router_create(&env);
    if (!r)
        return 0;
    for (uint64_t id = 1; id <= 3; id++)
        pl_router_add_transport(r, id);
    int64_t now = 1000000;
    configure(r, data, size, now);
    for (uint64_t id = 1; id <= 3; id++) {
        pl_router_set_connected(r, id, now);
        drain(r);
    }
    size_t pos = 0;
    while (pos + 3 <= size) {
        uint8_t op = data[pos];
        size_t len = (size_t)data[pos + 1] << 8 | data[pos + 2];
        pos += 3;
        if (len > size - pos)
            len = size - pos;
        const uint8_t *rec = data + pos;
        pos += len;
        uint64_t from = 1 + (op >> 2) % 4; /* 4: a transport the router does not know */
        now += 1000;
        switch (op & 3) {
        case 0:
            pl_router_handle_rtp(r, now, from, rec, len);
            break;
        case 1:
            pl_router_handle_rtcp(r, now, from, rec, len);
            break;
        case 2:
            now += (int64_t)len * 1000;
            if (pl_router_next_timeout(r) <= now)
                pl_router_handle_timeout(r, now);
            break;
        default:
            if (op & 0x80)
                pl_router_remove_transport(r, from);
            else
                configure(r, rec, len, now);
            break;
        }
        drain(r);
    }
    pl_router_destroy(r);
    return 0;
}
