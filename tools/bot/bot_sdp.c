#include "bot_sdp.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "parley/rtp.h"

typedef struct out {
    char *p;
    size_t cap, len;
    bool full;
} out;

__attribute__((format(printf, 2, 3))) static void put(out *o, const char *fmt, ...)
{
    if (o->full)
        return;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(o->p + o->len, o->cap - o->len, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= o->cap - o->len) {
        o->full = true;
        return;
    }
    o->len += (size_t)n;
}

static void session_head(out *o, const pl_bot_sdp_local *l, const char *const *mids, size_t n)
{
    put(o, "v=0\r\no=- %llu 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\na=group:BUNDLE",
        (unsigned long long)l->session_id);
    for (size_t i = 0; i < n; i++)
        put(o, " %s", mids[i]);
    put(o, "\r\na=msid-semantic: WMS %s\r\n", l->stream_id);
}

static void transport(out *o, const pl_bot_sdp_local *l, const char *setup)
{
    put(o,
        "c=IN IP4 0.0.0.0\r\na=rtcp:9 IN IP4 0.0.0.0\r\na=ice-ufrag:%s\r\na=ice-pwd:%s\r\n"
        "a=fingerprint:sha-256 %s\r\na=setup:%s\r\n",
        l->ice_ufrag, l->ice_pwd, l->fingerprint, setup);
}

static void codec(out *o, bool video, int pt, int rtx_pt)
{
    if (video) {
        put(o,
            "a=rtpmap:%d VP8/90000\r\na=rtcp-fb:%d nack\r\na=rtcp-fb:%d nack pli\r\n"
            "a=rtcp-fb:%d ccm fir\r\n",
            pt, pt, pt, pt);
        if (rtx_pt >= 0)
            put(o, "a=rtpmap:%d rtx/90000\r\na=fmtp:%d apt=%d\r\n", rtx_pt, rtx_pt, pt);
    } else {
        put(o,
            "a=rtpmap:%d opus/48000/2\r\na=rtcp-fb:%d nack\r\n"
            "a=fmtp:%d minptime=10;useinbandfec=1\r\n",
            pt, pt, pt);
    }
}

/* The video section of a simulcast offer as Chrome writes it: the MID, RID
 * and repaired-RID extensions, a=rid per layer and a=simulcast, no SSRCs. */
static void simulcast_lines(out *o)
{
    put(o, "a=extmap:%d %s\r\na=extmap:%d %s\r\na=extmap:%d %s\r\n", PL_BOT_EXT_MID, PL_RTP_URI_MID,
        PL_BOT_EXT_RID, PL_RTP_URI_RID, PL_BOT_EXT_RRID, PL_RTP_URI_RRID);
}

static void simulcast_rids(out *o, const char *const *rids, size_t n)
{
    for (size_t i = 0; i < n; i++)
        put(o, "a=rid:%s send\r\n", rids[i]);
    put(o, "a=simulcast:send ");
    for (size_t i = 0; i < n; i++)
        put(o, "%s%s", i ? ";" : "", rids[i]);
    put(o, "\r\n");
}

static int offer(const pl_bot_sdp_local *l, uint32_t audio_ssrc, uint32_t video_ssrc,
                 uint32_t rtx_ssrc, const char *const *rids, size_t n_rids, char *buf, size_t cap)
{
    out o = {.p = buf, .cap = cap};
    static const char *const mids[] = {"0", "1"};
    session_head(&o, l, mids, 2);
    for (int i = 0; i < 2; i++) {
        bool video = i == 1;
        bool simulcast = video && n_rids > 0;
        int pt = video ? PL_BOT_VP8_PT : PL_BOT_OPUS_PT;
        uint32_t ssrc = video ? video_ssrc : audio_ssrc;
        if (video)
            put(&o, "m=video 9 UDP/TLS/RTP/SAVPF %d %d\r\n", pt, PL_BOT_RTX_PT);
        else
            put(&o, "m=audio 9 UDP/TLS/RTP/SAVPF %d\r\n", pt);
        transport(&o, l, "actpass");
        put(&o, "a=mid:%s\r\n", mids[i]);
        if (simulcast)
            simulcast_lines(&o);
        put(&o, "a=sendonly\r\na=msid:%s %s-%s\r\na=rtcp-mux\r\n", l->stream_id, l->stream_id,
            video ? "video" : "audio");
        if (video)
            put(&o, "a=rtcp-rsize\r\n");
        codec(&o, video, pt, PL_BOT_RTX_PT);
        if (simulcast) {
            simulcast_rids(&o, rids, n_rids);
            continue;
        }
        if (video)
            put(&o, "a=ssrc-group:FID %u %u\r\n", ssrc, rtx_ssrc);
        put(&o, "a=ssrc:%u cname:%s\r\na=ssrc:%u msid:%s %s-%s\r\n", ssrc, l->cname, ssrc,
            l->stream_id, l->stream_id, video ? "video" : "audio");
        if (video)
            put(&o, "a=ssrc:%u cname:%s\r\na=ssrc:%u msid:%s %s-video\r\n", rtx_ssrc, l->cname,
                rtx_ssrc, l->stream_id, l->stream_id);
    }
    return o.full ? PL_ENOSPC : (int)o.len;
}

int pl_bot_sdp_offer(const pl_bot_sdp_local *l, uint32_t audio_ssrc, uint32_t video_ssrc,
                     uint32_t rtx_ssrc, char *buf, size_t cap)
{
    return offer(l, audio_ssrc, video_ssrc, rtx_ssrc, NULL, 0, buf, cap);
}

int pl_bot_sdp_offer_simulcast(const pl_bot_sdp_local *l, uint32_t audio_ssrc,
                               const char *const *rids, size_t n_rids, char *buf, size_t cap)
{
    if (n_rids == 0)
        return PL_EINVAL;
    return offer(l, audio_ssrc, 0, 0, rids, n_rids, buf, cap);
}

static int find_pt(const pl_sdp_media *m, const char *name)
{
    for (size_t i = 0; i < m->n_codecs; i++)
        if (strcasecmp(m->codecs[i].name, name) == 0)
            return m->codecs[i].pt;
    return -1;
}

int pl_bot_sdp_answer(const pl_sdp_desc *offer, const pl_bot_sdp_local *l, char *buf, size_t cap)
{
    out o = {.p = buf, .cap = cap};
    const char *mids[PL_SDP_MAX_MEDIA];
    for (size_t i = 0; i < offer->n_media; i++)
        mids[i] = offer->media[i].mid;
    session_head(&o, l, mids, offer->n_media);
    for (size_t i = 0; i < offer->n_media; i++) {
        const pl_sdp_media *m = &offer->media[i];
        bool video = m->kind == PL_SDP_VIDEO;
        if (m->kind != PL_SDP_AUDIO && !video)
            return PL_EUNSUPPORTED;
        int pt = find_pt(m, video ? "VP8" : "opus");
        if (pt < 0)
            return PL_EUNSUPPORTED;
        int rtx_pt = -1;
        for (size_t c = 0; video && c < m->n_codecs; c++)
            if (m->codecs[c].apt == pt)
                rtx_pt = m->codecs[c].pt;
        if (rtx_pt >= 0)
            put(&o, "m=video 9 UDP/TLS/RTP/SAVPF %d %d\r\n", pt, rtx_pt);
        else
            put(&o, "m=%s 9 UDP/TLS/RTP/SAVPF %d\r\n", video ? "video" : "audio", pt);
        transport(&o, l, "active");
        put(&o, "a=mid:%s\r\na=%s\r\na=rtcp-mux\r\n", m->mid,
            m->dir == PL_SDP_INACTIVE ? "inactive" : "recvonly");
        if (video)
            put(&o, "a=rtcp-rsize\r\n");
        codec(&o, video, pt, rtx_pt);
        /* Transport-wide congestion control as browsers take it: the
         * offered extension id kept, and transport-wide feedback. */
        int twcc = pl_sdp_find_extmap(m, PL_RTP_URI_TWCC);
        if (twcc > 0)
            put(&o, "a=extmap:%d %s\r\na=rtcp-fb:%d transport-cc\r\n", twcc, PL_RTP_URI_TWCC, pt);
    }
    return o.full ? PL_ENOSPC : (int)o.len;
}
