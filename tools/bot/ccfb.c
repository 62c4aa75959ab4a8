#include "ccfb.h"

#include "parley/buf.h"
#include "parley/rtcp.h"
#include "parley/twcc.h"

struct pl_ccfb {
    pl_env env;
    uint8_t ext;
    pl_twcc_rx *rx;
    /* Filled by the builder: large (2,048 entries), so kept here rather
     * than on a media thread's stack. */
    pl_rtcp_twcc fb;
    pl_ccfb_stats st;
};

pl_ccfb *pl_ccfb_create(const pl_env *env)
{
    pl_ccfb *f = pl_env_alloc(env, sizeof(*f));
    if (!f)
        return NULL;
    *f = (pl_ccfb){.env = *env};
    f->rx = pl_twcc_rx_create(env);
    if (!f->rx) {
        pl_env_free(env, f);
        return NULL;
    }
    return f;
}

void pl_ccfb_destroy(pl_ccfb *f)
{
    if (!f)
        return;
    pl_twcc_rx_destroy(f->rx);
    pl_env_free(&f->env, f);
}

void pl_ccfb_set_ext(pl_ccfb *f, uint8_t id)
{
    if (id == f->ext)
        return;
    pl_twcc_rx *rx = pl_twcc_rx_create(&f->env);
    if (rx) {
        pl_twcc_rx_destroy(f->rx);
        f->rx = rx;
    }
    f->ext = rx ? id : 0;
}

uint8_t pl_ccfb_ext(const pl_ccfb *f)
{
    return f->ext;
}

bool pl_ccfb_rtp(pl_ccfb *f, const uint8_t *pkt, const pl_rtp_header *h, int64_t arrival_us)
{
    pl_rtp_ext e;
    uint16_t seq;
    if (!f->ext || pl_rtp_ext_find(pkt, h, f->ext, &e) != PL_OK ||
        pl_rtp_ext_twcc_seq(&e, &seq) != PL_OK)
        return false;
    pl_twcc_rx_packet(f->rx, seq, arrival_us);
    f->st.packets++;
    return true;
}

int64_t pl_ccfb_next(const pl_ccfb *f)
{
    return f->ext ? pl_twcc_rx_next(f->rx) : INT64_MAX;
}

size_t pl_ccfb_poll(pl_ccfb *f, int64_t now_us, uint32_t sender_ssrc, uint32_t media_ssrc,
                    uint8_t *buf, size_t cap)
{
    if (!f->ext || pl_twcc_rx_next(f->rx) > now_us ||
        !pl_twcc_rx_feedback(f->rx, now_us, sender_ssrc, media_ssrc, &f->fb))
        return 0;
    pl_wbuf w = pl_wbuf_make(buf, cap);
    pl_rtcp_write_twcc(&w, &f->fb);
    if (!pl_wbuf_ok(&w))
        return 0;
    f->st.feedbacks++;
    f->st.reported += f->fb.n_packets;
    for (size_t i = 0; i < f->fb.n_packets; i++)
        f->st.lost += !f->fb.packets[i].received;
    return w.len;
}

void pl_ccfb_stats_get(const pl_ccfb *f, pl_ccfb_stats *out)
{
    *out = f->st;
}
