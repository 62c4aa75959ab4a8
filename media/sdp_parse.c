#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "parley/sdp.h"

pl_sdp_desc *pl_sdp_desc_create(const pl_env *env)
{
    return pl_env_alloc(env, sizeof(pl_sdp_desc));
}

void pl_sdp_desc_destroy(const pl_env *env, pl_sdp_desc *d)
{
    pl_env_free(env, d);
}

static int failf(pl_sdp_desc *d, const char *why, const char *detail)
{
    snprintf(d->error, sizeof(d->error), "%s%s%.60s", why, detail ? ": " : "",
             detail ? detail : "");
    return PL_EMALFORMED;
}

/* Copies at most cap-1 bytes; false when the value did not fit, so that an
 * overlong token is refused rather than silently cut into another. */
static bool copy_str(char *dst, size_t cap, const char *src)
{
    size_t n = strlen(src);
    if (n >= cap)
        return false;
    memcpy(dst, src, n + 1);
    return true;
}

static bool parse_u32(const char *s, uint32_t max, uint32_t *out)
{
    if (!s || !*s || *s == '-' || *s == '+')
        return false;
    char *end;
    errno = 0;
    unsigned long v = strtoul(s, &end, 10);
    if (errno || *end || v > max)
        return false;
    *out = (uint32_t)v;
    return true;
}

/* Splits `s` in place at the first space; returns the rest (or ""). */
static char *next_token(char **s)
{
    char *t = *s;
    while (*t == ' ')
        t++;
    char *e = t;
    while (*e && *e != ' ')
        e++;
    if (*e)
        *e++ = '\0';
    *s = e;
    return t;
}

static enum pl_sdp_setup parse_setup(const char *v)
{
    if (strcmp(v, "actpass") == 0)
        return PL_SDP_ACTPASS;
    if (strcmp(v, "active") == 0)
        return PL_SDP_ACTIVE;
    if (strcmp(v, "passive") == 0)
        return PL_SDP_PASSIVE;
    return PL_SDP_SETUP_NONE;
}

static int parse_fingerprint(pl_sdp_desc *d, char *v, char *alg, size_t alg_cap, char *fp,
                             size_t fp_cap)
{
    char *a = next_token(&v);
    char *f = next_token(&v);
    if (!*a || !*f || !copy_str(alg, alg_cap, a) || !copy_str(fp, fp_cap, f))
        return failf(d, "bad a=fingerprint", NULL);
    return PL_OK;
}

static int parse_media_line(pl_sdp_desc *d, char *v)
{
    if (d->n_media == PL_SDP_MAX_MEDIA)
        return failf(d, "too many media sections", NULL);
    pl_sdp_media *m = &d->media[d->n_media++];
    memset(m, 0, sizeof(*m));
    char *kind = next_token(&v);
    char *port = next_token(&v);
    char *proto = next_token(&v);
    uint32_t p;
    /* "9/2" port counts are not used by WebRTC. */
    if (!*kind || !parse_u32(port, 65535, &p) || !*proto ||
        !copy_str(m->kind_name, sizeof(m->kind_name), kind) ||
        !copy_str(m->proto, sizeof(m->proto), proto))
        return failf(d, "bad m= line", NULL);
    m->port = (uint16_t)p;
    m->kind = strcmp(kind, "audio") == 0         ? PL_SDP_AUDIO
              : strcmp(kind, "video") == 0       ? PL_SDP_VIDEO
              : strcmp(kind, "application") == 0 ? PL_SDP_APPLICATION
                                                 : PL_SDP_OTHER;
    m->dir = PL_SDP_SENDRECV;
    while (*v == ' ')
        v++;
    if (!copy_str(m->fmt, sizeof(m->fmt), v))
        snprintf(m->fmt, sizeof(m->fmt), "0");
    /* RTP formats are payload types; record them so rtpmap order follows. */
    if (strstr(m->proto, "RTP")) {
        while (*v) {
            char *f = next_token(&v);
            uint32_t pt;
            if (!*f)
                break;
            if (!parse_u32(f, 127, &pt))
                return failf(d, "bad payload type", f);
            if (m->n_codecs == PL_SDP_MAX_CODECS) {
                m->codecs_ignored++;
                continue;
            }
            pl_sdp_codec *c = &m->codecs[m->n_codecs++];
            memset(c, 0, sizeof(*c));
            c->pt = (uint8_t)pt;
            c->apt = -1;
        }
    }
    return PL_OK;
}

static pl_sdp_codec *codec_by_pt(pl_sdp_media *m, uint32_t pt)
{
    for (size_t i = 0; i < m->n_codecs; i++)
        if (m->codecs[i].pt == pt)
            return &m->codecs[i];
    return NULL;
}

int pl_sdp_find_extmap(const pl_sdp_media *m, const char *uri)
{
    for (size_t i = 0; i < m->n_extmaps; i++)
        if (strcmp(m->extmaps[i].uri, uri) == 0)
            return m->extmaps[i].id;
    return -1;
}

/* A payload type parameter such as "apt=96" inside "apt=96;rtx-time=3000";
 * -1 when absent or not a payload type. */
static int fmtp_pt(const char *fmtp, const char *key)
{
    size_t kl = strlen(key);
    for (const char *p = fmtp; p && *p;) {
        while (*p == ' ' || *p == ';')
            p++;
        if (strncmp(p, key, kl) == 0 && p[kl] == '=') {
            char *end;
            errno = 0;
            long v = strtol(p + kl + 1, &end, 10);
            bool ok =
                !errno && end != p + kl + 1 && (*end == '\0' || *end == ';') && v >= 0 && v <= 127;
            return ok ? (int)v : -1;
        }
        p = strchr(p, ';');
    }
    return -1;
}

static int parse_ssrc(pl_sdp_desc *d, pl_sdp_media *m, char *v)
{
    uint32_t ssrc;
    char *id = next_token(&v);
    if (!parse_u32(id, UINT32_MAX, &ssrc))
        return failf(d, "bad a=ssrc", NULL);
    pl_sdp_ssrc *s = NULL;
    for (size_t i = 0; i < m->n_ssrcs; i++)
        if (m->ssrcs[i].ssrc == ssrc)
            s = &m->ssrcs[i];
    if (!s) {
        if (m->n_ssrcs == PL_SDP_MAX_SSRC)
            return failf(d, "too many SSRCs", NULL);
        s = &m->ssrcs[m->n_ssrcs++];
        memset(s, 0, sizeof(*s));
        s->ssrc = ssrc;
    }
    char *colon = strchr(v, ':');
    if (!colon)
        return PL_OK; /* attribute without a value */
    *colon = '\0';
    if (strcmp(v, "cname") == 0 && !copy_str(s->cname, sizeof(s->cname), colon + 1))
        return failf(d, "cname too long", NULL);
    if (strcmp(v, "msid") == 0 && !copy_str(s->msid, sizeof(s->msid), colon + 1))
        return failf(d, "msid too long", NULL);
    return PL_OK;
}

/* RFC 4566 token: what a mid is (RFC 5888). A mid with spaces or
 * separators would be echoed into the answer's BUNDLE group and break it. */
static bool is_token(const char *s)
{
    if (!*s)
        return false;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if (*p <= 0x20 || *p >= 0x7f || strchr("\"(),/:;<=>?@[\\]{}", *p))
            return false;
    return true;
}

static int parse_media_attr(pl_sdp_desc *d, pl_sdp_media *m, const char *name, char *v)
{
    uint32_t n;
    if (strcmp(name, "mid") == 0) {
        if (!is_token(v) || !copy_str(m->mid, sizeof(m->mid), v))
            return failf(d, "bad a=mid", NULL);
    } else if (strcmp(name, "sendrecv") == 0) {
        m->dir = PL_SDP_SENDRECV;
    } else if (strcmp(name, "sendonly") == 0) {
        m->dir = PL_SDP_SENDONLY;
    } else if (strcmp(name, "recvonly") == 0) {
        m->dir = PL_SDP_RECVONLY;
    } else if (strcmp(name, "inactive") == 0) {
        m->dir = PL_SDP_INACTIVE;
    } else if (strcmp(name, "rtcp-mux") == 0) {
        m->rtcp_mux = true;
    } else if (strcmp(name, "rtcp-rsize") == 0) {
        m->rtcp_rsize = true;
    } else if (strcmp(name, "bundle-only") == 0) {
        m->bundle_only = true;
    } else if (strcmp(name, "extmap-allow-mixed") == 0) {
        m->extmap_allow_mixed = true;
    } else if (strcmp(name, "ice-ufrag") == 0) {
        if (!copy_str(m->ice_ufrag, sizeof(m->ice_ufrag), v))
            return failf(d, "ice-ufrag too long", NULL);
    } else if (strcmp(name, "ice-pwd") == 0) {
        if (!copy_str(m->ice_pwd, sizeof(m->ice_pwd), v))
            return failf(d, "ice-pwd too long", NULL);
    } else if (strcmp(name, "fingerprint") == 0) {
        return parse_fingerprint(d, v, m->fp_alg, sizeof(m->fp_alg), m->fp, sizeof(m->fp));
    } else if (strcmp(name, "setup") == 0) {
        m->setup = parse_setup(v);
    } else if (strcmp(name, "rtpmap") == 0) {
        char *pt = next_token(&v);
        if (!parse_u32(pt, 127, &n))
            return failf(d, "bad a=rtpmap", NULL);
        pl_sdp_codec *c = codec_by_pt(m, n);
        if (!c)
            return PL_OK; /* not in the m= line (or beyond the limit): ignored */
        char *slash = strchr(v, '/');
        if (!slash)
            return failf(d, "bad a=rtpmap", v);
        *slash = '\0';
        char *rate = slash + 1;
        char *ch = strchr(rate, '/');
        uint32_t clock, channels = 0;
        if (ch)
            *ch++ = '\0';
        if (!copy_str(c->name, sizeof(c->name), v) || !parse_u32(rate, 10000000, &clock) ||
            (ch && !parse_u32(ch, 255, &channels)))
            return failf(d, "bad a=rtpmap", NULL);
        c->clock = clock;
        c->channels = (uint8_t)channels;
    } else if (strcmp(name, "fmtp") == 0) {
        char *pt = next_token(&v);
        if (!parse_u32(pt, 127, &n))
            return failf(d, "bad a=fmtp", NULL);
        pl_sdp_codec *c = codec_by_pt(m, n);
        if (!c)
            return PL_OK;
        if (!copy_str(c->fmtp, sizeof(c->fmtp), v))
            return failf(d, "a=fmtp too long", NULL);
        c->apt = fmtp_pt(c->fmtp, "apt");
    } else if (strcmp(name, "rtcp-fb") == 0) {
        char *pt = next_token(&v);
        int p = -1;
        if (strcmp(pt, "*") != 0) {
            if (!parse_u32(pt, 127, &n))
                return failf(d, "bad a=rtcp-fb", NULL);
            p = (int)n;
        }
        if (m->n_fb == PL_SDP_MAX_FB)
            return PL_OK; /* feedback we cannot record is feedback we do not answer */
        pl_sdp_fb *fb = &m->fb[m->n_fb];
        fb->pt = p;
        if (copy_str(fb->value, sizeof(fb->value), v))
            m->n_fb++;
    } else if (strcmp(name, "extmap") == 0) {
        char *idd = next_token(&v);
        char *uri = next_token(&v);
        char *slash = strchr(idd, '/'); /* id/direction */
        if (slash)
            *slash = '\0';
        if (!parse_u32(idd, 255, &n) || n == 0 || !*uri)
            return failf(d, "bad a=extmap", NULL);
        if (m->n_extmaps == PL_SDP_MAX_EXTMAP)
            return failf(d, "too many extmaps", NULL);
        pl_sdp_extmap *e = &m->extmaps[m->n_extmaps];
        e->id = (uint16_t)n;
        if (copy_str(e->uri, sizeof(e->uri), uri))
            m->n_extmaps++;
    } else if (strcmp(name, "msid") == 0) {
        char *s = next_token(&v);
        char *t = next_token(&v);
        if (!copy_str(m->msid_stream, sizeof(m->msid_stream), s) ||
            !copy_str(m->msid_track, sizeof(m->msid_track), t))
            return failf(d, "bad a=msid", NULL);
    } else if (strcmp(name, "ssrc") == 0) {
        return parse_ssrc(d, m, v);
    } else if (strcmp(name, "ssrc-group") == 0) {
        char *sem = next_token(&v);
        if (m->n_groups == PL_SDP_MAX_SSRC_GROUPS)
            return failf(d, "too many ssrc-groups", NULL);
        pl_sdp_ssrc_group *g = &m->groups[m->n_groups];
        memset(g, 0, sizeof(*g));
        if (!copy_str(g->semantics, sizeof(g->semantics), sem))
            return failf(d, "bad a=ssrc-group", NULL);
        while (*v) {
            char *s = next_token(&v);
            if (!*s)
                break;
            if (g->n == 4 || !parse_u32(s, UINT32_MAX, &g->ssrcs[g->n]))
                return failf(d, "bad a=ssrc-group", NULL);
            g->n++;
        }
        m->n_groups++;
    } else if (strcmp(name, "rid") == 0) {
        char *id = next_token(&v);
        char *dir = next_token(&v);
        if (m->n_rids == PL_SDP_MAX_RIDS)
            return failf(d, "too many rids", NULL);
        pl_sdp_rid *r = &m->rids[m->n_rids];
        if (!*id || !copy_str(r->id, sizeof(r->id), id) ||
            (strcmp(dir, "send") != 0 && strcmp(dir, "recv") != 0) ||
            !copy_str(r->restrictions, sizeof(r->restrictions), v))
            return failf(d, "bad a=rid", NULL);
        r->send = strcmp(dir, "send") == 0;
        m->n_rids++;
    } else if (strcmp(name, "simulcast") == 0) {
        if (!copy_str(m->simulcast, sizeof(m->simulcast), v))
            return failf(d, "a=simulcast too long", NULL);
    } else if (strcmp(name, "candidate") == 0) {
        if (m->n_candidates == PL_SDP_MAX_CANDIDATES)
            return PL_OK; /* more candidates than we keep: the rest are ignored */
        pl_sdp_candidate *c = &m->candidates[m->n_candidates];
        memset(c, 0, sizeof(*c));
        char *f = next_token(&v), *comp = next_token(&v), *tr = next_token(&v),
             *prio = next_token(&v), *addr = next_token(&v), *port = next_token(&v),
             *typ = next_token(&v), *type = next_token(&v);
        uint32_t cv, pv, po;
        if (!copy_str(c->foundation, sizeof(c->foundation), f) || !parse_u32(comp, 256, &cv) ||
            !copy_str(c->transport, sizeof(c->transport), tr) ||
            !parse_u32(prio, UINT32_MAX, &pv) || !copy_str(c->address, sizeof(c->address), addr) ||
            !parse_u32(port, 65535, &po) || strcmp(typ, "typ") != 0 ||
            !copy_str(c->type, sizeof(c->type), type))
            return failf(d, "bad a=candidate", NULL);
        c->component = (uint16_t)cv;
        c->priority = pv;
        c->port = (uint16_t)po;
        m->n_candidates++;
    } else if (strcmp(name, "end-of-candidates") == 0) {
        m->end_of_candidates = true;
    }
    /* Anything else (rtcp, ice-options, bandwidth, sctp-port, ...) is not
     * needed by Parley and ignored, as RFC 8866 5.13 asks. */
    return PL_OK;
}

static int parse_session_attr(pl_sdp_desc *d, const char *name, char *v)
{
    if (strcmp(name, "ice-ufrag") == 0) {
        if (!copy_str(d->ice_ufrag, sizeof(d->ice_ufrag), v))
            return failf(d, "ice-ufrag too long", NULL);
    } else if (strcmp(name, "ice-pwd") == 0) {
        if (!copy_str(d->ice_pwd, sizeof(d->ice_pwd), v))
            return failf(d, "ice-pwd too long", NULL);
    } else if (strcmp(name, "ice-lite") == 0) {
        d->ice_lite = true;
    } else if (strcmp(name, "fingerprint") == 0) {
        return parse_fingerprint(d, v, d->fp_alg, sizeof(d->fp_alg), d->fp, sizeof(d->fp));
    } else if (strcmp(name, "setup") == 0) {
        d->setup = parse_setup(v);
    } else if (strcmp(name, "extmap-allow-mixed") == 0) {
        d->extmap_allow_mixed = true;
    } else if (strcmp(name, "group") == 0) {
        char *sem = next_token(&v);
        if (strcmp(sem, "BUNDLE") != 0)
            return PL_OK;
        if (d->n_bundle)
            return PL_OK; /* Parley uses one bundle group; later ones are ignored */
        while (*v) {
            char *mid = next_token(&v);
            if (!*mid)
                break;
            if (d->n_bundle == PL_SDP_MAX_BUNDLE ||
                !copy_str(d->bundle[d->n_bundle], PL_SDP_TOKEN, mid))
                return failf(d, "bad a=group:BUNDLE", NULL);
            d->n_bundle++;
        }
    }
    return PL_OK;
}

static int parse_line(pl_sdp_desc *d, char *line, bool *seen_v)
{
    if (line[0] == '\0')
        return PL_OK; /* tolerate blank lines, as browsers do */
    if (line[1] != '=' || line[0] < 'a' || line[0] > 'z')
        return failf(d, "not an SDP line", line);
    char type = line[0];
    char *v = line + 2;
    if (!*seen_v) {
        if (type != 'v' || strcmp(v, "0") != 0)
            return failf(d, "description must start with v=0", NULL);
        *seen_v = true;
        return PL_OK;
    }
    pl_sdp_media *m = d->n_media ? &d->media[d->n_media - 1] : NULL;
    switch (type) {
    case 'm':
        return parse_media_line(d, v);
    case 'o': {
        next_token(&v); /* username */
        char *sid = next_token(&v);
        if (!*sid || !copy_str(d->session_id, sizeof(d->session_id), sid))
            return failf(d, "bad o= line", NULL);
        return PL_OK;
    }
    case 'a': {
        char *colon = strchr(v, ':');
        char *value = (char *)"";
        if (colon) {
            *colon = '\0';
            value = colon + 1;
        }
        return m ? parse_media_attr(d, m, v, value) : parse_session_attr(d, v, value);
    }
    default:
        return PL_OK; /* s, t, c, b, i, u, e, p, z, k, r: nothing Parley needs */
    }
}

static pl_sdp_media *media_by_mid(pl_sdp_desc *d, const char *mid)
{
    for (size_t i = 0; i < d->n_media; i++)
        if (strcmp(d->media[i].mid, mid) == 0)
            return &d->media[i];
    return NULL;
}

/* Bundled sections share the tagged section's transport, so an offerer may
 * leave the transport attributes out of the others (bundle-only ones in
 * particular): they are filled in from the tagged section, so that every
 * accepted section can be checked the same way. */
static void inherit_bundle_transport(pl_sdp_desc *d)
{
    const pl_sdp_media *tagged = NULL;
    for (size_t i = 0; i < d->n_bundle && !tagged; i++) {
        const pl_sdp_media *m = media_by_mid(d, d->bundle[i]);
        if (m && m->port != 0)
            tagged = m;
    }
    if (!tagged)
        return;
    for (size_t i = 0; i < d->n_bundle; i++) {
        pl_sdp_media *m = media_by_mid(d, d->bundle[i]);
        if (!m || m == tagged)
            continue;
        if (!m->ice_ufrag[0] && !m->ice_pwd[0]) {
            memcpy(m->ice_ufrag, tagged->ice_ufrag, sizeof(m->ice_ufrag));
            memcpy(m->ice_pwd, tagged->ice_pwd, sizeof(m->ice_pwd));
        }
        if (!m->fp[0]) {
            memcpy(m->fp_alg, tagged->fp_alg, sizeof(m->fp_alg));
            memcpy(m->fp, tagged->fp, sizeof(m->fp));
        }
        if (m->setup == PL_SDP_SETUP_NONE)
            m->setup = tagged->setup;
        if (!m->rtcp_mux)
            m->rtcp_mux = tagged->rtcp_mux && m->bundle_only;
    }
}

int pl_sdp_parse(pl_sdp_desc *d, const char *text, size_t len)
{
    memset(d, 0, sizeof(*d));
    if (len > PL_SDP_MAX_SIZE)
        return failf(d, "description too large", NULL);
    char line[PL_SDP_MAX_LINE];
    bool seen_v = false;
    size_t pos = 0;
    while (pos < len) {
        size_t end = pos;
        while (end < len && text[end] != '\n')
            end++;
        size_t n = end - pos;
        if (n > 0 && text[end - 1] == '\r')
            n--;
        if (n >= sizeof(line))
            return failf(d, "line too long", NULL);
        memcpy(line, text + pos, n);
        line[n] = '\0';
        if (memchr(line, '\0', n))
            return failf(d, "NUL in description", NULL);
        int rc = parse_line(d, line, &seen_v);
        if (rc != PL_OK)
            return rc;
        pos = end + 1;
    }
    if (!seen_v)
        return failf(d, "empty description", NULL);
    for (size_t i = 0; i < d->n_media; i++) {
        pl_sdp_media *m = &d->media[i];
        for (size_t k = 0; m->mid[0] && k < i; k++)
            if (strcmp(d->media[k].mid, m->mid) == 0)
                return failf(d, "duplicate a=mid", m->mid);
        if (!m->ice_ufrag[0])
            memcpy(m->ice_ufrag, d->ice_ufrag, sizeof(m->ice_ufrag));
        if (!m->ice_pwd[0])
            memcpy(m->ice_pwd, d->ice_pwd, sizeof(m->ice_pwd));
        if (!m->fp[0]) {
            memcpy(m->fp_alg, d->fp_alg, sizeof(m->fp_alg));
            memcpy(m->fp, d->fp, sizeof(m->fp));
        }
        if (m->setup == PL_SDP_SETUP_NONE)
            m->setup = d->setup;
        /* Codecs listed but never mapped keep an empty name: static payload
         * types (0 = PCMU, ...) that Parley does not accept anyway. */
    }
    inherit_bundle_transport(d);
    return PL_OK;
}
