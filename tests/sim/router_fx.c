#include "router_fx.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

int setup(void **state)
{
    fx *f = calloc(1, sizeof(*f));
    f->env = pl_env_seeded(&f->seed, 7);
    f->r = pl_router_create(&f->env);
    *state = f;
    return 0;
}

int teardown(void **state)
{
    fx *f = *state;
    pl_router_destroy(f->r);
    free(f);
    return 0;
}

/* Everything the last call queued. */
size_t drain(fx *f)
{
    f->n = 0;
    pl_router_output o;
    while (f->n < sizeof(f->outs) / sizeof(f->outs[0])) {
        int rc = pl_router_poll_output(f->r, 0, &o, f->outs[f->n].buf, sizeof(f->outs[0].buf));
        if (rc == PL_EAGAIN)
            break;
        assert_int_equal(rc, PL_OK);
        f->outs[f->n++].o = o;
    }
    return f->n;
}

size_t count(const fx *f, enum pl_router_out_reason why, uint64_t to)
{
    size_t n = 0;
    for (size_t i = 0; i < f->n; i++)
        n += f->outs[i].o.kind != PL_ROUTER_OUT_SPEAKING && f->outs[i].o.reason == why &&
             f->outs[i].o.transport == to;
    return n;
}

pl_track video_track(void)
{
    pl_track t = {.mid = "1",
                  .ssrc = VIDEO_SSRC,
                  .video = true,
                  .pt = 96,
                  .rtx_pt = 97,
                  .rtx_ssrc = VIDEO_RTX_SSRC,
                  .nack = true};
    return t;
}

pl_route video_route(uint64_t publisher, uint32_t out_ssrc, bool rtx)
{
    pl_route r = {.publisher = publisher, .mid = "1", .out_ssrc = out_ssrc, .out_pt = 100};
    if (rtx) {
        r.out_rtx_ssrc = out_ssrc + 1;
        r.out_rtx_pt = 101;
    }
    return r;
}

/* One publisher with a video track, one subscriber routed to it, both
 * connected at t=0; the queue is drained. */
void meeting(fx *f, bool rtx)
{
    assert_int_equal(pl_router_add_transport(f->r, PUB), PL_OK);
    assert_int_equal(pl_router_add_transport(f->r, SUB), PL_OK);
    pl_track t = video_track();
    assert_int_equal(pl_router_set_tracks(f->r, PUB, &t, 1), PL_OK);
    pl_route rt = video_route(PUB, OUT_SSRC, rtx);
    assert_int_equal(pl_router_set_routes(f->r, SUB, &rt, 1, 0), PL_OK);
    pl_router_set_connected(f->r, PUB, 0);
    drain(f);
    pl_router_set_connected(f->r, SUB, 0);
    drain(f);
}

/* An RTP packet with optional one-byte extensions (mid, audio level). */
size_t rtp(uint8_t *buf, uint32_t ssrc, uint8_t pt, uint16_t seq, uint32_t ts, const char *mid,
           int level)
{
    pl_rtp_ext_spec ext[2];
    size_t n = 0;
    uint8_t lvl;
    if (mid)
        ext[n++] = (pl_rtp_ext_spec){.id = MID_EXT, .data = mid, .len = strlen(mid)};
    if (level >= 0) {
        lvl = (uint8_t)(0x80 | level);
        ext[n++] = (pl_rtp_ext_spec){.id = LEVEL_EXT, .data = &lvl, .len = 1};
    }
    pl_wbuf w = pl_wbuf_make(buf, 1500);
    pl_rtp_header h = {.payload_type = pt, .seq = seq, .timestamp = ts, .ssrc = ssrc};
    pl_rtp_write_header(&w, &h, ext, n);
    for (int i = 0; i < 100; i++)
        pl_wbuf_u8(&w, (uint8_t)(seq + i));
    assert_true(pl_wbuf_ok(&w));
    return w.len;
}

void publish(fx *f, int64_t now, uint32_t ssrc, uint16_t seq, uint32_t ts)
{
    uint8_t buf[1500];
    size_t len = rtp(buf, ssrc, 96, seq, ts, NULL, -1);
    pl_router_handle_rtp(f->r, now, PUB, buf, len);
    drain(f);
}

void publish_key(fx *f, int64_t now, uint32_t ssrc, uint16_t seq, uint32_t ts)
{
    uint8_t buf[1500];
    size_t len = rtp(buf, ssrc, 96, seq, ts, NULL, -1);
    size_t at = len - 100; /* the payload: a VP8 descriptor with S, then P clear */
    buf[at] = 0x10;
    buf[at + 1] = 0x00;
    pl_router_handle_rtp(f->r, now, PUB, buf, len);
    drain(f);
}

pl_rtp_header parsed(const out *o)
{
    pl_rtp_header h;
    assert_int_equal(pl_rtp_parse(o->buf, o->o.len, &h), PL_OK);
    return h;
}

/* Parses the first RTCP packet of the given kind in an output. */
bool rtcp_find(const out *o, int kind, pl_rtcp_packet *p)
{
    pl_rtcp_iter it;
    pl_rtcp_iter_init(&it, o->buf, o->o.len);
    while (pl_rtcp_next(&it, p) == 1)
        if ((int)p->kind == kind)
            return true;
    return false;
}

void subscriber_rtcp(fx *f, int64_t now, uint64_t from, const pl_wbuf *w)
{
    pl_router_handle_rtcp(f->r, now, from, w->data, w->len);
    drain(f);
}
