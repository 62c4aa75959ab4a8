#include "twcc_path.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "parley/buf.h"

void twcc_path_init(twcc_path *p, const pl_env *env, uint8_t ext_id, uint64_t seed,
                    int64_t delay_us)
{
    memset(p, 0, sizeof(*p));
    p->ext_id = ext_id;
    vnet_init(&p->up, seed);
    p->up.delay_us = delay_us;
    pl_addr_set(&p->relay, "10.0.0.1", 5000);
    pl_addr_set(&p->browser, "10.0.0.2", 6000);
    p->rx = pl_twcc_rx_create(env);
    p->fb = malloc(sizeof(*p->fb));
    p->parsed = malloc(sizeof(*p->parsed));
    assert_non_null(p->rx);
    assert_non_null(p->fb);
    assert_non_null(p->parsed);
}

void twcc_path_free(twcc_path *p)
{
    pl_twcc_rx_destroy(p->rx);
    vnet_free(&p->up);
    free(p->fb);
    free(p->parsed);
}

pl_rtp_header twcc_path_arrive(twcc_path *p, int64_t now, const uint8_t *data, size_t len)
{
    pl_rtp_header h;
    pl_rtp_ext e;
    uint16_t seq;
    assert_int_equal(pl_rtp_parse(data, len, &h), PL_OK);
    assert_int_equal(pl_rtp_ext_find(data, &h, p->ext_id, &e), PL_OK);
    assert_int_equal(pl_rtp_ext_twcc_seq(&e, &seq), PL_OK);
    pl_twcc_rx_packet(p->rx, seq, now + TWCC_PATH_RX_CLOCK_OFFSET);
    return h;
}

int64_t twcc_path_feedback_due(const twcc_path *p)
{
    int64_t due = pl_twcc_rx_next(p->rx);
    return due == INT64_MAX ? INT64_MAX : due - TWCC_PATH_RX_CLOCK_OFFSET;
}

void twcc_path_send(twcc_path *p, int64_t now)
{
    while (twcc_path_feedback_due(p) <= now &&
           pl_twcc_rx_feedback(p->rx, now + TWCC_PATH_RX_CLOCK_OFFSET, 1, TWCC_PATH_RELAY_SSRC,
                               p->fb)) {
        uint8_t buf[VNET_MTU];
        pl_wbuf w = pl_wbuf_make(buf, sizeof(buf));
        pl_rtcp_write_twcc(&w, p->fb);
        assert_true(pl_wbuf_ok(&w));
        vnet_send(&p->up, now, &p->browser, &p->relay, buf, w.len);
    }
}

const pl_rtcp_twcc *twcc_path_take(twcc_path *p, int64_t now, pl_bwe *bwe)
{
    for (;;) {
        if (p->reading) {
            while (pl_rtcp_next(&p->it, p->parsed) == 1)
                if (p->parsed->kind == PL_RTCP_K_TWCC) {
                    pl_bwe_on_feedback(bwe, now, &p->parsed->u.twcc);
                    return &p->parsed->u.twcc;
                }
            p->reading = false;
        }
        if (!vnet_pop(&p->up, now, &p->pkt))
            return NULL;
        assert_int_equal(pl_rtcp_validate(p->pkt.data, p->pkt.len), PL_OK);
        pl_rtcp_iter_init(&p->it, p->pkt.data, p->pkt.len);
        p->reading = true;
    }
}
