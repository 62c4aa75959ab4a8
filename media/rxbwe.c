#include "parley/rxbwe.h"

void pl_rxbwe_init(pl_rxbwe *e, uint64_t max_bps)
{
    *e = (pl_rxbwe){.bps = PL_RXBWE_START_BPS, .max_bps = max_bps ? max_bps : PL_RXBWE_MAX_BPS};
    if (e->bps > e->max_bps)
        e->bps = e->max_bps;
}

void pl_rxbwe_packet(pl_rxbwe *e, size_t bytes)
{
    e->bytes += bytes;
}

uint64_t pl_rxbwe_update(pl_rxbwe *e, int64_t now_us, uint8_t fraction_lost)
{
    if (!e->started || now_us <= e->last_us) {
        /* The first report only starts the measurement. */
        e->started = 1;
        e->last_us = now_us;
        e->bytes = 0;
        return e->bps;
    }
    uint64_t received = e->bytes * 8u * 1000000u / (uint64_t)(now_us - e->last_us);
    e->bytes = 0;
    e->last_us = now_us;
    uint64_t bps = e->bps;
    if (fraction_lost > 26) { /* over 10% */
        bps = bps - bps * fraction_lost / 512u;
    } else if (fraction_lost < 5) { /* under 2% */
        bps = bps * 108u / 100u;
        if (bps < received * 3u / 2u)
            bps = received * 3u / 2u;
        /* A sender well below its allowance does not raise it further:
         * an estimate nobody tested is not one. */
        uint64_t tested = received * 2u + PL_RXBWE_START_BPS;
        if (bps > tested && e->bps <= tested)
            bps = tested;
        else if (bps > tested)
            bps = e->bps;
    }
    if (bps > e->max_bps)
        bps = e->max_bps;
    if (bps < PL_RXBWE_MIN_BPS)
        bps = PL_RXBWE_MIN_BPS;
    e->bps = bps;
    return bps;
}
