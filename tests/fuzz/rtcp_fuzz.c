/* libFuzzer target: compound RTCP parsing, and re-encoding of what parsed. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "parley/common.h"
#include "parley/rtcp.h"

static void reencode(const pl_rtcp_packet *p)
{
    static uint8_t out[65536];
    pl_wbuf w = pl_wbuf_make(out, sizeof(out));
    switch (p->kind) {
    case PL_RTCP_K_SR:
        pl_rtcp_write_sr(&w, &p->u.sr);
        break;
    case PL_RTCP_K_RR:
        pl_rtcp_write_rr(&w, &p->u.rr);
        break;
    case PL_RTCP_K_SDES:
        pl_rtcp_write_sdes(&w, &p->u.sdes);
        break;
    case PL_RTCP_K_BYE:
        pl_rtcp_write_bye(&w, &p->u.bye);
        break;
    case PL_RTCP_K_NACK:
        pl_rtcp_write_nack(&w, &p->u.nack);
        break;
    case PL_RTCP_K_TWCC:
        pl_rtcp_write_twcc(&w, &p->u.twcc);
        break;
    case PL_RTCP_K_PLI:
        pl_rtcp_write_pli(&w, &p->u.pli);
        break;
    case PL_RTCP_K_FIR:
        pl_rtcp_write_fir(&w, &p->u.fir);
        break;
    case PL_RTCP_K_REMB:
        pl_rtcp_write_remb(&w, &p->u.remb);
        break;
    default:
        return;
    }
    if (!pl_wbuf_ok(&w))
        return;
    /* What we write, we must be able to read back. */
    if (pl_rtcp_validate(out, w.len) != PL_OK)
        __builtin_trap();
    static pl_rtcp_packet again;
    pl_rtcp_iter it;
    pl_rtcp_iter_init(&it, out, w.len);
    if (pl_rtcp_next(&it, &again) != 1 || again.kind != p->kind)
        __builtin_trap();
    /* Transport-wide feedback comes back packet for packet, whatever chunk
     * kinds the writer chose. */
    if (p->kind == PL_RTCP_K_TWCC) {
        const pl_rtcp_twcc *a = &p->u.twcc, *b = &again.u.twcc;
        if (a->n_packets != b->n_packets || a->base_seq != b->base_seq ||
            a->reference_time != b->reference_time)
            __builtin_trap();
        for (size_t i = 0; i < a->n_packets; i++)
            if (a->packets[i].received != b->packets[i].received ||
                a->packets[i].delta_us != b->packets[i].delta_us)
                __builtin_trap();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static pl_rtcp_packet p;
    pl_rtcp_validate(data, size);
    pl_rtcp_iter it;
    pl_rtcp_iter_init(&it, data, size);
    while (pl_rtcp_next(&it, &p) == 1) {
        if (p.kind == PL_RTCP_K_NACK) {
            uint16_t lost[PL_RTCP_MAX_NACK * 17];
            pl_rtcp_nack_lost(&p.u.nack, lost, sizeof(lost) / sizeof(lost[0]));
        }
        reencode(&p);
    }
    return 0;
}
