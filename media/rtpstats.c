#include "parley/rtpstats.h"

#include <string.h>

void pl_rtp_rx_init(pl_rtp_rx *rx, uint32_t clock_rate)
{
    memset(rx, 0, sizeof(*rx));
    rx->clock_rate = clock_rate;
}

uint64_t pl_ntp_from_us(int64_t us)
{
    uint64_t sec = (uint64_t)(us / 1000000);
    uint64_t frac = ((uint64_t)(us % 1000000) << 32) / 1000000;
    return (sec << 32) | frac;
}

void pl_rtp_rx_packet(pl_rtp_rx *rx, uint16_t seq, uint32_t ts, int64_t now_us, bool retransmission)
{
    if (!rx->started) {
        rx->started = true;
        rx->base_seq = seq;
        rx->max_seq = seq;
    } else {
        uint16_t delta = (uint16_t)(seq - rx->max_seq);
        if (delta != 0 && delta < 0x8000) {
            if (seq < rx->max_seq)
                rx->cycles += 1u << 16;
            rx->max_seq = seq;
        }
    }
    rx->received++;
    if (retransmission || rx->clock_rate == 0)
        return;
    int64_t arrival = (int64_t)((uint64_t)now_us * rx->clock_rate / 1000000u);
    int64_t transit = (int64_t)(int32_t)((uint32_t)arrival - ts);
    if (rx->have_transit) {
        int64_t d = transit - rx->last_transit;
        if (d < 0)
            d = -d;
        rx->jitter += ((double)d - rx->jitter) / 16.0;
    }
    rx->last_transit = transit;
    rx->have_transit = true;
}

void pl_rtp_rx_sr(pl_rtp_rx *rx, uint64_t ntp, uint32_t rtp_ts, int64_t now_us)
{
    rx->have_sr = true;
    rx->sr_ntp = ntp;
    rx->sr_rtp = rtp_ts;
    rx->sr_at_us = now_us;
}

uint64_t pl_rtp_rx_expected(const pl_rtp_rx *rx)
{
    return rx->started ? (uint64_t)rx->cycles + rx->max_seq - rx->base_seq + 1 : 0;
}

void pl_rtp_rx_report(pl_rtp_rx *rx, uint32_t ssrc, int64_t now_us, pl_rtcp_report *out)
{
    memset(out, 0, sizeof(*out));
    out->ssrc = ssrc;
    uint64_t expected = pl_rtp_rx_expected(rx);
    int64_t lost = (int64_t)expected - (int64_t)rx->received;
    /* 24-bit signed field (RFC 3550 6.4.1): clamp. */
    if (lost > 0x7fffff)
        lost = 0x7fffff;
    if (lost < -0x800000)
        lost = -0x800000;
    out->cumulative_lost = (int32_t)lost;
    uint64_t exp_interval = expected - rx->expected_prior;
    uint64_t rcv_interval = rx->received - rx->received_prior;
    rx->expected_prior = expected;
    rx->received_prior = rx->received;
    if (exp_interval > 0 && exp_interval > rcv_interval)
        out->fraction_lost = (uint8_t)(((exp_interval - rcv_interval) << 8) / exp_interval);
    out->highest_seq = rx->cycles + rx->max_seq;
    out->jitter = (uint32_t)rx->jitter;
    if (rx->have_sr) {
        out->lsr = (uint32_t)(rx->sr_ntp >> 16);
        int64_t delay = now_us - rx->sr_at_us;
        out->dlsr = delay > 0 ? (uint32_t)(((uint64_t)delay << 16) / 1000000u) : 0;
    }
}

bool pl_sr_map(const pl_rtp_rx *src, uint32_t out_ssrc, uint32_t ts_offset, uint32_t packets,
               uint32_t octets, int64_t now_us, pl_rtcp_sr *out)
{
    if (!src->have_sr || src->clock_rate == 0)
        return false;
    memset(out, 0, sizeof(*out));
    /* Carry the publisher's mapping forward by the time since its SR: the
     * same instant in its NTP clock and its RTP clock. */
    int64_t elapsed = now_us - src->sr_at_us;
    out->ssrc = out_ssrc;
    out->ntp = src->sr_ntp + pl_ntp_from_us(elapsed);
    out->rtp_ts = src->sr_rtp + ts_offset +
                  (uint32_t)((uint64_t)(elapsed > 0 ? elapsed : 0) * src->clock_rate / 1000000u);
    out->packet_count = packets;
    out->octet_count = octets;
    return true;
}
