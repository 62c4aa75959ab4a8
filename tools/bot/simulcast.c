#include "simulcast.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "parley/buf.h"
#include "parley/pktcache.h"
#include "parley/rtp.h"
#include "bot_sdp.h"

/* RTP payload per packet, VP8 descriptor included: room for the header
 * with its extensions, an RTX OSN and the SRTP tag under 1200 bytes. */
#define MAX_PAYLOAD 1100
#define DESC_LEN 6
#define PKT_CAP 1500

static const char *const rids[PL_SIM_LAYERS] = {"q", "h", "f"};

const char *pl_sim_rid(unsigned layer)
{
    return layer < PL_SIM_LAYERS ? rids[layer] : "";
}

unsigned pl_sim_scale(unsigned layer)
{
    return 1u << (PL_SIM_LAYERS - 1 - (layer < PL_SIM_LAYERS ? layer : 0));
}

/* About what a browser spends: 1 Mbit/s at 640x360, at least 100 kbit/s. */
static unsigned layer_kbps(unsigned w, unsigned h)
{
    unsigned kbps = (unsigned)((uint64_t)w * h / 230);
    return kbps < 100 ? 100 : (kbps > 2500 ? 2500 : kbps);
}

int pl_sim_clips_create(unsigned identity, unsigned frames, unsigned w, unsigned h,
                        pl_clip *out[PL_SIM_LAYERS])
{
    for (unsigned l = 0; l < PL_SIM_LAYERS; l++) {
        unsigned lw = w / pl_sim_scale(l), lh = h / pl_sim_scale(l);
        pl_clip_config cfg = {.video_frames = frames,
                              .width = lw,
                              .height = lh,
                              .kbps = layer_kbps(lw, lh),
                              .temporal_layers = 3};
        out[l] = pl_clip_create_with(identity, &cfg);
        if (!out[l]) {
            for (unsigned k = 0; k < l; k++) {
                pl_clip_destroy(out[k]);
                out[k] = NULL;
            }
            return -1;
        }
    }
    return 0;
}

typedef struct layer {
    const pl_clip *clip;
    uint32_t ssrc, rtx_ssrc;
    uint16_t seq, rtx_seq, picture_id;
    uint8_t tl0picidx;
    size_t pos;
    bool keyframe_wanted;
    pl_pktcache *sent; /* in the clear, for NACKs */
    uint64_t frames, keyframes, packets, bytes, plis, resent;
} layer;

struct pl_simsend {
    pl_env env;
    char mid[16];
    layer layers[PL_SIM_LAYERS];
    uint8_t pkt[PKT_CAP];
};

pl_simsend *pl_simsend_create(const pl_env *env, pl_clip *const clips[PL_SIM_LAYERS],
                              const char *mid)
{
    pl_simsend *s = calloc(1, sizeof(*s));
    if (!s)
        return NULL;
    s->env = *env;
    snprintf(s->mid, sizeof(s->mid), "%s", mid);
    for (unsigned l = 0; l < PL_SIM_LAYERS; l++) {
        s->layers[l].clip = clips[l];
        s->layers[l].sent = pl_pktcache_create(env, 512);
        if (!s->layers[l].sent) {
            pl_simsend_destroy(s);
            return NULL;
        }
    }
    pl_simsend_reset(s);
    return s;
}

void pl_simsend_destroy(pl_simsend *s)
{
    if (!s)
        return;
    for (unsigned l = 0; l < PL_SIM_LAYERS; l++)
        pl_pktcache_destroy(&s->env, s->layers[l].sent);
    free(s);
}

void pl_simsend_reset(pl_simsend *s)
{
    for (unsigned l = 0; l < PL_SIM_LAYERS; l++) {
        layer *y = &s->layers[l];
        y->ssrc = pl_env_random_u32(&s->env) | 1;
        y->rtx_ssrc = pl_env_random_u32(&s->env) | 2;
        y->seq = (uint16_t)pl_env_random_u32(&s->env);
        y->rtx_seq = (uint16_t)pl_env_random_u32(&s->env);
        y->picture_id = (uint16_t)(pl_env_random_u32(&s->env) & 0x7fff);
        y->tl0picidx = (uint8_t)pl_env_random_u32(&s->env);
        y->keyframe_wanted = true;
        pl_pktcache_clear(y->sent);
    }
}

/* RFC 7741 4.2: X; I with a 15-bit picture id, L with TL0PICIDX, T with
 * TID and Y; N on frames nobody refers to, S on the first packet. */
static void write_descriptor(uint8_t *d, bool start, const layer *y, const pl_clip_frame *f)
{
    d[0] = (uint8_t)(0x80 | (f->non_reference ? 0x20 : 0) | (start ? 0x10 : 0));
    d[1] = 0x80 | 0x40 | 0x20;
    d[2] = (uint8_t)(0x80 | ((y->picture_id >> 8) & 0x7f));
    d[3] = (uint8_t)(y->picture_id & 0xff);
    d[4] = y->tl0picidx;
    d[5] = (uint8_t)((f->tid & 3) << 6 | (f->layer_sync ? 0x20 : 0));
}

/* The RTP header with MID and RID (or repaired RID) into s->pkt. */
static size_t write_header(pl_simsend *s, const char *rid, bool repaired, uint8_t pt, bool marker,
                           uint16_t seq, uint32_t ts, uint32_t ssrc)
{
    pl_rtp_header h = {
        .marker = marker, .payload_type = pt, .seq = seq, .timestamp = ts, .ssrc = ssrc};
    pl_rtp_ext_spec exts[2] = {
        {.id = PL_BOT_EXT_MID, .data = s->mid, .len = strlen(s->mid)},
        {.id = repaired ? PL_BOT_EXT_RRID : PL_BOT_EXT_RID, .data = rid, .len = strlen(rid)},
    };
    pl_wbuf w = pl_wbuf_make(s->pkt, sizeof(s->pkt));
    pl_rtp_write_header(&w, &h, exts, 2);
    return pl_wbuf_ok(&w) ? w.len : 0;
}

static void send_layer(pl_simsend *s, unsigned l, uint32_t ts, pl_simsend_tx tx, void *user)
{
    layer *y = &s->layers[l];
    if (y->keyframe_wanted) {
        y->pos = 0; /* the clip starts with a keyframe */
        y->keyframe_wanted = false;
    }
    const pl_clip_frame *f = pl_clip_video(y->clip, y->pos);
    y->pos = (y->pos + 1) % pl_clip_video_count(y->clip);
    if (f->tid == 0)
        y->tl0picidx++;
    /* Equal-sized packets rather than full ones and a runt. */
    size_t chunk = MAX_PAYLOAD - DESC_LEN;
    size_t n = (f->len + chunk - 1) / chunk;
    size_t base = f->len / n, extra = f->len % n, off = 0;
    for (size_t i = 0; i < n; i++) {
        size_t part = base + (i < extra ? 1 : 0);
        size_t hl = write_header(s, rids[l], false, PL_BOT_VP8_PT, i == n - 1, y->seq, ts, y->ssrc);
        if (!hl)
            return;
        write_descriptor(s->pkt + hl, i == 0, y, f);
        memcpy(s->pkt + hl + DESC_LEN, f->data + off, part);
        off += part;
        size_t len = hl + DESC_LEN + part;
        pl_pktcache_put(y->sent, y->seq, s->pkt, len, (int64_t)ts * 100 / 9);
        y->seq++;
        if (tx(user, s->pkt, len, sizeof(s->pkt))) {
            y->packets++;
            y->bytes += len;
        }
    }
    y->picture_id = (uint16_t)((y->picture_id + 1) & 0x7fff);
    y->frames++;
    if (f->keyframe)
        y->keyframes++;
}

void pl_simsend_frame(pl_simsend *s, uint32_t ts, pl_simsend_tx tx, void *user)
{
    for (unsigned l = 0; l < PL_SIM_LAYERS; l++)
        send_layer(s, l, ts, tx, user);
}

void pl_simsend_restart(pl_simsend *s)
{
    for (unsigned l = 0; l < PL_SIM_LAYERS; l++)
        s->layers[l].keyframe_wanted = true;
}

bool pl_simsend_keyframe(pl_simsend *s, uint32_t media_ssrc, bool fir)
{
    bool ours = false;
    for (unsigned l = 0; l < PL_SIM_LAYERS; l++)
        if (fir || s->layers[l].ssrc == media_ssrc) {
            s->layers[l].keyframe_wanted = true;
            s->layers[l].plis++;
            ours = true;
        }
    return ours;
}

int pl_simsend_nack(pl_simsend *s, const pl_rtcp_nack *nack, pl_simsend_tx tx, void *user)
{
    layer *y = NULL;
    unsigned l = 0;
    for (; l < PL_SIM_LAYERS && !y; l++)
        if (s->layers[l].ssrc == nack->media_ssrc)
            y = &s->layers[l];
    if (!y)
        return -1;
    l--;
    uint16_t lost[PL_RTCP_MAX_NACK * 17];
    size_t n = pl_rtcp_nack_lost(nack, lost, sizeof(lost) / sizeof(lost[0]));
    int resent = 0;
    for (size_t i = 0; i < n; i++) {
        size_t len;
        const uint8_t *orig = pl_pktcache_get(y->sent, lost[i], &len);
        pl_rtp_header h;
        if (!orig || pl_rtp_parse(orig, len, &h) != PL_OK)
            continue;
        /* RFC 4588: the RTX stream's header, the original sequence number,
         * the original payload. */
        size_t hl = write_header(s, rids[l], true, PL_BOT_RTX_PT, h.marker, y->rtx_seq, h.timestamp,
                                 y->rtx_ssrc);
        if (!hl || hl + 2 + h.payload_len > sizeof(s->pkt) - 32)
            continue;
        pl_put_u16(s->pkt + hl, h.seq);
        memcpy(s->pkt + hl + 2, orig + h.header_len, h.payload_len);
        y->rtx_seq++;
        if (tx(user, s->pkt, hl + 2 + h.payload_len, sizeof(s->pkt))) {
            y->resent++;
            resent++;
        }
    }
    return resent;
}

json_t *pl_simsend_json(const pl_simsend *s)
{
    json_t *a = json_array();
    for (unsigned l = 0; l < PL_SIM_LAYERS; l++) {
        const layer *y = &s->layers[l];
        json_array_append_new(
            a, json_pack("{s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:I}", "rid", rids[l], "ssrc",
                         (json_int_t)y->ssrc, "frames", (json_int_t)y->frames, "keyframes",
                         (json_int_t)y->keyframes, "packets", (json_int_t)y->packets, "bytes",
                         (json_int_t)y->bytes, "plis", (json_int_t)y->plis, "resent",
                         (json_int_t)y->resent));
    }
    return a;
}

uint64_t pl_simsend_packets(const pl_simsend *s)
{
    uint64_t n = 0;
    for (unsigned l = 0; l < PL_SIM_LAYERS; l++)
        n += s->layers[l].packets;
    return n;
}

uint64_t pl_simsend_bytes(const pl_simsend *s)
{
    uint64_t n = 0;
    for (unsigned l = 0; l < PL_SIM_LAYERS; l++)
        n += s->layers[l].bytes;
    return n;
}
