#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "parley/rtp.h"
#include "parley/sdp.h"

/* A bounded text builder: once something does not fit, everything after is
 * dropped and the result reports PL_ENOSPC. */
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

static const char *const supported_uris[] = {
    PL_RTP_URI_MID,         PL_RTP_URI_RID,           PL_RTP_URI_RRID,
    PL_RTP_URI_AUDIO_LEVEL, PL_RTP_URI_ABS_SEND_TIME, PL_RTP_URI_TWCC,
};

static bool uri_supported(const char *uri, enum pl_sdp_kind kind)
{
    for (size_t i = 0; i < sizeof(supported_uris) / sizeof(supported_uris[0]); i++)
        if (strcmp(uri, supported_uris[i]) == 0)
            /* Audio level means nothing on video; rids only on video. */
            return !((kind == PL_SDP_VIDEO && strcmp(uri, PL_RTP_URI_AUDIO_LEVEL) == 0) ||
                     (kind == PL_SDP_AUDIO &&
                      (strcmp(uri, PL_RTP_URI_RID) == 0 || strcmp(uri, PL_RTP_URI_RRID) == 0)));
    return false;
}

static bool fb_supported(const char *v, enum pl_sdp_kind kind)
{
    if (strcmp(v, "transport-cc") == 0)
        return true;
    if (kind != PL_SDP_VIDEO)
        return false; /* audio gets no NACK/PLI from Parley */
    return strcmp(v, "nack") == 0 || strcmp(v, "nack pli") == 0 || strcmp(v, "ccm fir") == 0 ||
           strcmp(v, "goog-remb") == 0;
}

static bool is_opus(const pl_sdp_codec *c)
{
    return strcasecmp(c->name, "opus") == 0 && c->clock == 48000 && c->channels == 2;
}

static bool is_vp8(const pl_sdp_codec *c)
{
    return strcasecmp(c->name, "VP8") == 0 && c->clock == 90000;
}

static bool in_bundle(const pl_sdp_desc *offer, const char *mid)
{
    for (size_t i = 0; mid[0] && i < offer->n_bundle; i++)
        if (strcmp(offer->bundle[i], mid) == 0)
            return true;
    return false;
}

static const char *mid_or_none(const pl_sdp_media *m)
{
    return m->mid[0] ? m->mid : "(none)";
}

__attribute__((format(printf, 4, 5))) static void
set_why(pl_sdp_accepted *a, size_t index, const pl_sdp_media *m, const char *fmt, ...)
{
    int n = snprintf(a->why, sizeof(a->why), "m=%s section %zu (mid %s): ", m->kind_name, index,
                     mid_or_none(m));
    if (n < 0 || (size_t)n >= sizeof(a->why))
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(a->why + n, sizeof(a->why) - (size_t)n, fmt, ap);
    va_end(ap);
}

/* Picks Opus or VP8 (and VP8's RTX) among the offered codecs, wherever they
 * stand in the list and whatever their payload types; false, with the
 * reason, when the section cannot be accepted. */
static bool choose_codecs(const pl_sdp_desc *offer, const pl_sdp_media *m, size_t index,
                          pl_sdp_accepted *a)
{
    a->pt = -1;
    a->rtx_pt = -1;
    if (m->kind != PL_SDP_AUDIO && m->kind != PL_SDP_VIDEO) {
        set_why(a, index, m, "only audio and video are relayed");
        return false;
    }
    if (m->port == 0 && !m->bundle_only) {
        set_why(a, index, m, "port 0 without a=bundle-only: the offerer disabled it");
        return false;
    }
    if (m->port == 0 && !in_bundle(offer, m->mid)) {
        /* RFC 8843 6: bundle-only media exist only inside a BUNDLE group. */
        set_why(a, index, m, "a=bundle-only but not in the a=group:BUNDLE line");
        return false;
    }
    /* RFC 8829 5.1.2: the legacy RTP/SAVPF is DTLS-SRTP over UDP too; the
     * answer echoes whichever was offered. */
    if (strcmp(m->proto, "UDP/TLS/RTP/SAVPF") != 0 && strcmp(m->proto, "RTP/SAVPF") != 0) {
        set_why(a, index, m, "transport %s, not UDP/TLS/RTP/SAVPF", m->proto);
        return false;
    }
    for (size_t i = 0; i < m->n_codecs && a->pt < 0; i++) {
        const pl_sdp_codec *c = &m->codecs[i];
        if ((m->kind == PL_SDP_AUDIO && is_opus(c)) || (m->kind == PL_SDP_VIDEO && is_vp8(c)))
            a->pt = c->pt;
    }
    if (a->pt < 0) {
        set_why(a, index, m, "no a=rtpmap for %s among its payload types %s",
                m->kind == PL_SDP_AUDIO ? "opus/48000/2" : "VP8/90000", m->fmt);
        return false;
    }
    for (size_t i = 0; i < m->n_codecs; i++) {
        const pl_sdp_codec *c = &m->codecs[i];
        if (strcasecmp(c->name, "rtx") == 0 && c->apt == a->pt && m->kind == PL_SDP_VIDEO) {
            a->rtx_pt = c->pt;
            break;
        }
    }
    return true;
}

static bool rid_offered_send(const pl_sdp_media *m, const char *id, size_t len)
{
    for (size_t i = 0; i < m->n_rids; i++)
        if (m->rids[i].send && strlen(m->rids[i].id) == len && memcmp(m->rids[i].id, id, len) == 0)
            return true;
    return false;
}

/* Simulcast (RFC 8853) is received when the offer sends video layers that
 * the RID header extension (RFC 8852) names: that is how the relay tells
 * them apart. Each ';'-separated stream of "a=simulcast:send" counts with
 * its first alternative, paused ('~') or not, in the offer's order, up to
 * PL_MAX_LAYERS; the answer lists only those. Without the extension the
 * answer has no simulcast and the sender falls back to one stream. */
static void accept_simulcast(const pl_sdp_media *m, pl_sdp_accepted *a)
{
    if (m->kind != PL_SDP_VIDEO || a->ext_rid <= 0 || strncmp(m->simulcast, "send ", 5) != 0)
        return;
    const char *p = m->simulcast + 5;
    while (*p && *p != ' ' && a->n_rids < PL_MAX_LAYERS) {
        size_t stream = strcspn(p, "; ");
        size_t alt = strcspn(p, ",; ");
        const char *id = p;
        if (*id == '~') {
            id++;
            alt = alt ? alt - 1 : 0;
        }
        if (alt > 0 && alt < sizeof(a->rids[0]) && rid_offered_send(m, id, alt)) {
            bool dup = false;
            for (size_t i = 0; i < a->n_rids; i++)
                dup = dup || (strlen(a->rids[i]) == alt && memcmp(a->rids[i], id, alt) == 0);
            if (!dup) {
                memcpy(a->rids[a->n_rids], id, alt);
                a->rids[a->n_rids++][alt] = '\0';
            }
        }
        p += stream;
        if (*p == ';')
            p++;
    }
}

static void fill_accepted(const pl_sdp_desc *offer, size_t index, pl_sdp_accepted *a)
{
    const pl_sdp_media *m = &offer->media[index];
    memset(a, 0, sizeof(*a));
    snprintf(a->mid, sizeof(a->mid), "%s", m->mid);
    a->kind = m->kind;
    a->offer_dir = m->dir;
    /* The primary SSRC is the first of an FID group, else the first seen. */
    for (size_t i = 0; i < m->n_groups; i++)
        if (strcmp(m->groups[i].semantics, "FID") == 0 && m->groups[i].n == 2) {
            a->ssrc = m->groups[i].ssrcs[0];
            a->rtx_ssrc = m->groups[i].ssrcs[1];
            break;
        }
    if (!a->ssrc && m->n_ssrcs)
        a->ssrc = m->ssrcs[0].ssrc;
    a->ext_mid = pl_sdp_find_extmap(m, PL_RTP_URI_MID);
    a->ext_rid = pl_sdp_find_extmap(m, PL_RTP_URI_RID);
    a->ext_rrid = pl_sdp_find_extmap(m, PL_RTP_URI_RRID);
    a->ext_audio_level = pl_sdp_find_extmap(m, PL_RTP_URI_AUDIO_LEVEL);
    a->ext_abs_send_time = pl_sdp_find_extmap(m, PL_RTP_URI_ABS_SEND_TIME);
    a->ext_twcc = pl_sdp_find_extmap(m, PL_RTP_URI_TWCC);
    a->accepted = choose_codecs(offer, m, index, a);
    accept_simulcast(m, a);
    bool sends = m->dir == PL_SDP_SENDONLY || m->dir == PL_SDP_SENDRECV;
    if (a->accepted && sends && !a->ssrc && a->ext_mid < 0) {
        /* The relay tells a publisher's streams apart by the SSRCs its offer
         * names or, failing those, by the MID header extension: with
         * neither, its packets would reach no track. */
        set_why(a, index, m, "sends without a=ssrc lines and without a=extmap for %s",
                PL_RTP_URI_MID);
        a->accepted = false;
    }
}

static const char *ip_family(const char *address)
{
    return strchr(address, ':') ? "IP6" : "IP4";
}

static void put_transport(out *o, const pl_sdp_local *l, const char *setup)
{
    put(o, "c=IN %s %s\r\n", ip_family(l->address), l->address);
    put(o, "a=rtcp:%u IN %s %s\r\n", l->port, ip_family(l->address), l->address);
    put(o, "a=ice-ufrag:%s\r\na=ice-pwd:%s\r\n", l->ice_ufrag, l->ice_pwd);
    put(o, "a=fingerprint:%s %s\r\na=setup:%s\r\n", l->fp_alg, l->fp, setup);
}

static void put_candidate(out *o, const pl_sdp_local *l)
{
    /* One host candidate: the worker's port. Priority per RFC 8445 5.1.2.1
     * for a host candidate with the highest local preference. */
    put(o, "a=candidate:1 1 udp 2130706431 %s %u typ host\r\n", l->address, l->port);
    /* RFC 6544 4.2: local preference 2^13 * direction-pref (4 for passive
     * host) + other-pref (8191), so 126 << 24 | 40959 << 8 | 255: below
     * UDP's 65535. Another transport protocol, another foundation. */
    if (l->tcp)
        put(o, "a=candidate:2 1 tcp 2124414975 %s %u typ host tcptype passive\r\n", l->address,
            l->port);
    put(o, "a=end-of-candidates\r\n");
}

static void put_session(out *o, const pl_sdp_local *l, const char *const *mids, size_t n,
                        bool allow_mixed)
{
    put(o, "v=0\r\no=- %llu %u IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\n",
        (unsigned long long)l->session_id, l->version);
    if (n) {
        put(o, "a=group:BUNDLE");
        for (size_t i = 0; i < n; i++)
            put(o, " %s", mids[i]);
        put(o, "\r\n");
    }
    put(o, "a=ice-lite\r\n");
    if (allow_mixed)
        put(o, "a=extmap-allow-mixed\r\n");
    put(o, "a=msid-semantic: WMS *\r\n");
}

static const char *answer_dir(enum pl_sdp_dir offered)
{
    /* A publish offer sends: sendonly, or sendrecv treated as sendonly, is
     * answered recvonly; a client that only wants to receive gets sendonly. */
    switch (offered) {
    case PL_SDP_SENDRECV:
    case PL_SDP_SENDONLY:
        return "recvonly";
    case PL_SDP_RECVONLY:
        return "sendonly";
    default:
        return "inactive";
    }
}

static void put_fb_for(out *o, const pl_sdp_media *m, int pt)
{
    for (size_t i = 0; i < m->n_fb; i++)
        if ((m->fb[i].pt == pt || m->fb[i].pt == -1) && fb_supported(m->fb[i].value, m->kind))
            put(o, "a=rtcp-fb:%d %s\r\n", pt, m->fb[i].value);
}

static void put_answer_section(out *o, const pl_sdp_media *m, const pl_sdp_accepted *a,
                               const pl_sdp_local *l)
{
    if (!a->accepted) {
        /* Rejected: port 0, same proto and formats, mid kept (RFC 8829 5.3.1).
         * The ICE credentials, fingerprint and setup role too, which the
         * browsers ignore there: GStreamer's webrtcbin refuses an answer
         * with any section, rejected or not, that lacks them. */
        put(o, "m=%s 0 %s %s\r\nc=IN IP4 0.0.0.0\r\n", m->kind_name, m->proto, m->fmt);
        put(o, "a=ice-ufrag:%s\r\na=ice-pwd:%s\r\n", l->ice_ufrag, l->ice_pwd);
        put(o, "a=fingerprint:%s %s\r\na=setup:passive\r\n", l->fp_alg, l->fp);
        if (m->mid[0])
            put(o, "a=mid:%s\r\n", m->mid);
        put(o, "a=inactive\r\n");
        return;
    }
    put(o, "m=%s %u %s %d", m->kind_name, l->port, m->proto, a->pt);
    if (a->rtx_pt >= 0)
        put(o, " %d", a->rtx_pt);
    put(o, "\r\n");
    put_transport(o, l, "passive");
    put(o, "a=mid:%s\r\n", m->mid);
    for (size_t i = 0; i < m->n_extmaps; i++)
        if (uri_supported(m->extmaps[i].uri, m->kind))
            put(o, "a=extmap:%u %s\r\n", m->extmaps[i].id, m->extmaps[i].uri);
    if (m->extmap_allow_mixed)
        put(o, "a=extmap-allow-mixed\r\n");
    put(o, "a=%s\r\na=rtcp-mux\r\n", answer_dir(m->dir));
    if (m->rtcp_rsize)
        put(o, "a=rtcp-rsize\r\n");
    if (m->kind == PL_SDP_AUDIO) {
        put(o, "a=rtpmap:%d opus/48000/2\r\n", a->pt);
        put_fb_for(o, m, a->pt);
        put(o, "a=fmtp:%d minptime=10;useinbandfec=1\r\n", a->pt);
    } else {
        put(o, "a=rtpmap:%d VP8/90000\r\n", a->pt);
        put_fb_for(o, m, a->pt);
        if (a->rtx_pt >= 0)
            put(o, "a=rtpmap:%d rtx/90000\r\na=fmtp:%d apt=%d\r\n", a->rtx_pt, a->rtx_pt, a->pt);
    }
    /* Simulcast: receive the layers accept_simulcast kept (RFC 8853 5.3). */
    for (size_t i = 0; i < a->n_rids; i++)
        put(o, "a=rid:%s recv\r\n", a->rids[i]);
    for (size_t i = 0; i < a->n_rids; i++)
        put(o, "%s%s", i ? ";" : "a=simulcast:recv ", a->rids[i]);
    if (a->n_rids)
        put(o, "\r\n");
    put_candidate(o, l);
}

int pl_sdp_write_answer(const pl_sdp_desc *offer, const pl_sdp_local *local, char *outbuf,
                        size_t cap, pl_sdp_accepted *acc, const char **why)
{
    const char *dummy;
    if (!why)
        why = &dummy;
    *why = NULL;
    if (offer->n_media == 0) {
        *why = "offer has no media sections";
        return PL_EUNSUPPORTED;
    }
    size_t n_ok = 0;
    const char *mids[PL_SDP_MAX_MEDIA];
    /* Every section's verdict first, so that acc says why of each even
     * when the offer as a whole is refused. */
    for (size_t i = 0; i < offer->n_media; i++)
        fill_accepted(offer, i, &acc[i]);
    for (size_t i = 0; i < offer->n_media; i++) {
        const pl_sdp_media *m = &offer->media[i];
        pl_sdp_accepted *a = &acc[i];
        if (!a->accepted)
            continue;
        if (!m->mid[0]) {
            set_why(a, i, m, "no a=mid line");
        } else if (!m->rtcp_mux) {
            set_why(a, i, m, "no a=rtcp-mux line: rtcp-mux is required");
        } else if (!m->ice_ufrag[0] || !m->ice_pwd[0]) {
            set_why(a, i, m, "no a=ice-ufrag/a=ice-pwd lines: ICE credentials are required");
        } else if (!m->fp[0]) {
            set_why(a, i, m, "no a=fingerprint line: a DTLS fingerprint is required");
        } else if (m->setup == PL_SDP_PASSIVE) {
            set_why(a, i, m, "a=setup:passive: the offer must let the server be DTLS passive");
        } else {
            mids[n_ok++] = m->mid;
            continue;
        }
        *why = a->why;
        a->accepted = false;
        return PL_EUNSUPPORTED;
    }
    if (n_ok == 0) {
        *why = "no media section offers Opus/48000/2 or VP8";
        return PL_EUNSUPPORTED;
    }
    if (n_ok > 1 && offer->n_bundle == 0) {
        *why = "no a=group:BUNDLE line: BUNDLE is required";
        return PL_EUNSUPPORTED;
    }
    out o = {.p = outbuf, .cap = cap};
    put_session(&o, local, mids, n_ok, offer->extmap_allow_mixed);
    for (size_t i = 0; i < offer->n_media; i++)
        put_answer_section(&o, &offer->media[i], &acc[i], local);
    if (o.full)
        return PL_ENOSPC;
    return (int)o.len;
}

int pl_sdp_write_offer(const pl_sdp_local *l, const pl_sdp_offer_section *s, size_t n, char *outbuf,
                       size_t cap)
{
    if (n == 0 || n > PL_SDP_MAX_MEDIA)
        return PL_EINVAL;
    const char *mids[PL_SDP_MAX_MEDIA];
    for (size_t i = 0; i < n; i++)
        mids[i] = s[i].mid;
    out o = {.p = outbuf, .cap = cap};
    put_session(&o, l, mids, n, true);
    for (size_t i = 0; i < n; i++) {
        const pl_sdp_offer_section *x = &s[i];
        bool video = x->kind == PL_SDP_VIDEO;
        if (video)
            put(&o, "m=video %u UDP/TLS/RTP/SAVPF %d %d\r\n", l->port, PL_SDP_OFFER_VP8_PT,
                PL_SDP_OFFER_RTX_PT);
        else
            put(&o, "m=audio %u UDP/TLS/RTP/SAVPF %d\r\n", l->port, PL_SDP_OFFER_OPUS_PT);
        put_transport(&o, l, "actpass");
        put(&o, "a=mid:%s\r\n", x->mid);
        put(&o, "a=extmap:1 %s\r\n", PL_RTP_URI_MID);
        put(&o, "a=extmap:2 %s\r\n", PL_RTP_URI_ABS_SEND_TIME);
        put(&o, "a=extmap:3 %s\r\n", PL_RTP_URI_TWCC);
        if (!video)
            put(&o, "a=extmap:4 %s\r\n", PL_RTP_URI_AUDIO_LEVEL);
        put(&o, "a=%s\r\na=rtcp-mux\r\na=rtcp-rsize\r\n", x->active ? "sendonly" : "inactive");
        if (x->active && x->stream_id && x->track_id)
            put(&o, "a=msid:%s %s\r\n", x->stream_id, x->track_id);
        if (video) {
            put(&o, "a=rtpmap:%d VP8/90000\r\n", PL_SDP_OFFER_VP8_PT);
            put(&o,
                "a=rtcp-fb:%d goog-remb\r\na=rtcp-fb:%d transport-cc\r\na=rtcp-fb:%d ccm fir\r\n"
                "a=rtcp-fb:%d nack\r\na=rtcp-fb:%d nack pli\r\n",
                PL_SDP_OFFER_VP8_PT, PL_SDP_OFFER_VP8_PT, PL_SDP_OFFER_VP8_PT, PL_SDP_OFFER_VP8_PT,
                PL_SDP_OFFER_VP8_PT);
            put(&o, "a=rtpmap:%d rtx/90000\r\na=fmtp:%d apt=%d\r\n", PL_SDP_OFFER_RTX_PT,
                PL_SDP_OFFER_RTX_PT, PL_SDP_OFFER_VP8_PT);
        } else {
            put(&o, "a=rtpmap:%d opus/48000/2\r\na=rtcp-fb:%d transport-cc\r\n",
                PL_SDP_OFFER_OPUS_PT, PL_SDP_OFFER_OPUS_PT);
            put(&o, "a=fmtp:%d minptime=10;useinbandfec=1\r\n", PL_SDP_OFFER_OPUS_PT);
        }
        if (x->active && x->ssrc) {
            const char *cname = x->cname ? x->cname : "parley";
            if (video && x->rtx_ssrc)
                put(&o, "a=ssrc-group:FID %u %u\r\n", x->ssrc, x->rtx_ssrc);
            put(&o, "a=ssrc:%u cname:%s\r\n", x->ssrc, cname);
            if (x->stream_id && x->track_id)
                put(&o, "a=ssrc:%u msid:%s %s\r\n", x->ssrc, x->stream_id, x->track_id);
            if (video && x->rtx_ssrc) {
                put(&o, "a=ssrc:%u cname:%s\r\n", x->rtx_ssrc, cname);
                if (x->stream_id && x->track_id)
                    put(&o, "a=ssrc:%u msid:%s %s\r\n", x->rtx_ssrc, x->stream_id, x->track_id);
            }
        }
        put_candidate(&o, l);
    }
    if (o.full)
        return PL_ENOSPC;
    return (int)o.len;
}
