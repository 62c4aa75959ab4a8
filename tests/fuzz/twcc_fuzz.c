/* libFuzzer target: the transport-wide feedback recorder fed arbitrary
 * sequence numbers and arrival steps (reordering, duplicates, gaps, wraps,
 * long silences), asked for feedback at arbitrary points. Every feedback
 * must write into one datagram and parse back, and every arrival it tells
 * must lie between the first packet's and now. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "parley/buf.h"
#include "parley/rtcp.h"
#include "parley/twcc.h"

static void check(pl_twcc_rx *rx, int64_t first, int64_t now)
{
    static pl_rtcp_twcc fb;
    static pl_rtcp_packet back;
    static uint8_t wire[8192];
    if (!pl_twcc_rx_feedback(rx, now, 1, 2, &fb))
        return;
    pl_wbuf w = pl_wbuf_make(wire, sizeof(wire));
    pl_rtcp_write_twcc(&w, &fb);
    pl_rtcp_iter it;
    pl_rtcp_iter_init(&it, wire, w.len);
    if (!pl_wbuf_ok(&w) || w.len > 1400 || pl_rtcp_next(&it, &back) != 1 ||
        back.kind != PL_RTCP_K_TWCC || back.u.twcc.n_packets != fb.n_packets ||
        fb.n_packets > PL_TWCC_MAX_PER_FEEDBACK)
        __builtin_trap();
    int64_t at = (int64_t)back.u.twcc.reference_time * 64000;
    bool any = false;
    for (size_t i = 0; i < back.u.twcc.n_packets; i++) {
        const pl_rtcp_twcc_packet *p = &back.u.twcc.packets[i];
        if (!p->received)
            continue;
        any = true;
        at += p->delta_us;
        if (at < first - 125 || at > now + 125)
            __builtin_trap();
    }
    /* Feedback without an arrival only tells a run of losses too long
     * for one feedback, before the arrival that follows it. */
    if (!any && fb.n_packets != PL_TWCC_MAX_PER_FEEDBACK)
        __builtin_trap();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint64_t seed;
    pl_env env = pl_env_seeded(&seed, 1);
    pl_twcc_rx *rx = pl_twcc_rx_create(&env);
    if (!rx)
        return 0;
    /* Small enough that the 24-bit reference time never wraps here. */
    int64_t now = 1000000, first = -1;
    for (size_t pos = 0; pos + 4 <= size; pos += 4) {
        uint16_t seq = (uint16_t)(data[pos] << 8 | data[pos + 1]);
        uint16_t step = (uint16_t)(data[pos + 2] << 8 | data[pos + 3]);
        if (step == 0xffff) {
            check(rx, first, now);
            continue;
        }
        now += (int64_t)(step & 0x7fff) * (step & 0x8000 ? 1000 : 1); /* up to 32 s at once */
        if (first < 0)
            first = now;
        pl_twcc_rx_packet(rx, seq, now);
        if (pl_twcc_rx_next(rx) <= now)
            check(rx, first, now);
    }
    check(rx, first, now);
    pl_twcc_rx_destroy(rx);
    return 0;
}
