/* SDP tests on real captured browser descriptions (tests/fixtures/sdp),
 * whose names say which browser produced them, and on hand-made offers of
 * what other stacks write. Chromium and Firefox accepted every answer and
 * offer shape written here (tools/capture-sdp). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "parley/rtp.h"
#include "parley/sdp.h"

static pl_env env;
static pl_sdp_desc *d, *d2;
static char text[PL_SDP_MAX_SIZE + 1];
static char out[PL_SDP_MAX_SIZE];
static pl_sdp_accepted acc[PL_SDP_MAX_MEDIA];

/* The parsed codec with payload type pt (only the tests look codecs up). */
static const pl_sdp_codec *find_codec(const pl_sdp_media *m, int pt)
{
    for (size_t i = 0; i < m->n_codecs; i++)
        if (m->codecs[i].pt == pt)
            return &m->codecs[i];
    return NULL;
}

static const pl_sdp_local local = {.ice_ufrag = "prly",
                                   .ice_pwd = "0123456789abcdefghijklmn",
                                   .fp_alg = "sha-256",
                                   .fp = "AB:CD:EF",
                                   .address = "192.0.2.5",
                                   .port = 40001,
                                   .session_id = 77,
                                   .version = 3};

static size_t load(const char *name)
{
    char path[256];
    snprintf(path, sizeof(path), "fixtures/sdp/%s", name);
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    size_t n = fread(text, 1, sizeof(text) - 1, f);
    fclose(f);
    text[n] = '\0';
    return n;
}

static int setup(void **state)
{
    (void)state;
    env = pl_env_default();
    d = pl_sdp_desc_create(&env);
    d2 = pl_sdp_desc_create(&env);
    return d && d2 ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    pl_sdp_desc_destroy(&env, d);
    pl_sdp_desc_destroy(&env, d2);
    return 0;
}

static void test_parse_chromium_publish(void **state)
{
    (void)state;
    size_t n = load("chromium156-publish-offer.sdp");
    assert_int_equal(pl_sdp_parse(d, text, n), PL_OK);
    assert_int_equal(d->n_media, 2);
    assert_int_equal(d->n_bundle, 2);
    assert_string_equal(d->bundle[0], "0");
    assert_true(d->extmap_allow_mixed);
    const pl_sdp_media *a = &d->media[0], *v = &d->media[1];
    assert_int_equal(a->kind, PL_SDP_AUDIO);
    assert_string_equal(a->mid, "0");
    assert_int_equal(a->dir, PL_SDP_SENDONLY);
    assert_true(a->rtcp_mux);
    assert_int_equal(a->setup, PL_SDP_ACTPASS);
    assert_string_equal(a->fp_alg, "sha-256");
    assert_int_equal(strlen(a->fp), 95);
    assert_true(strlen(a->ice_ufrag) >= 4);
    const pl_sdp_codec *opus = find_codec(a, 111);
    assert_non_null(opus);
    assert_string_equal(opus->name, "opus");
    assert_int_equal(opus->clock, 48000);
    assert_int_equal(opus->channels, 2);
    assert_string_equal(opus->fmtp, "minptime=10;useinbandfec=1");
    assert_int_equal(pl_sdp_find_extmap(a, PL_RTP_URI_AUDIO_LEVEL), 1);
    assert_int_equal(a->n_ssrcs, 1);
    assert_true(a->ssrcs[0].cname[0] != '\0');
    assert_int_equal(v->kind, PL_SDP_VIDEO);
    const pl_sdp_codec *vp8 = find_codec(v, 96);
    assert_string_equal(vp8->name, "VP8");
    const pl_sdp_codec *rtx = find_codec(v, 97);
    assert_string_equal(rtx->name, "rtx");
    assert_int_equal(rtx->apt, 96);
    assert_true(v->n_codecs >= 20); /* Chromium offers many video codecs */
    assert_int_equal(v->codecs_ignored, 0);
    assert_int_equal(v->n_groups, 1);
    assert_string_equal(v->groups[0].semantics, "FID");
    assert_int_equal(v->groups[0].n, 2);
    assert_true(v->msid_track[0] != '\0');
}

/* Firefox writes max-bundle offers: the video section is bundle-only on
 * port 0, the fingerprint is at session level, the ICE credentials and
 * a=extmap-allow-mixed in each section, fmtp before rtpmap. */
static void test_parse_firefox_publish(void **state)
{
    (void)state;
    size_t n = load("firefox153-publish-offer.sdp");
    assert_int_equal(pl_sdp_parse(d, text, n), PL_OK);
    assert_int_equal(d->n_media, 2);
    assert_int_equal(d->n_bundle, 2);
    assert_false(d->extmap_allow_mixed);
    const pl_sdp_media *a = &d->media[0], *v = &d->media[1];
    assert_int_equal(a->kind, PL_SDP_AUDIO);
    assert_int_equal(a->port, 9);
    assert_false(a->bundle_only);
    assert_true(a->extmap_allow_mixed);
    assert_int_equal(a->dir, PL_SDP_SENDONLY);
    assert_int_equal(a->setup, PL_SDP_ACTPASS);
    assert_string_equal(a->fp_alg, "sha-256");
    assert_int_equal(strlen(a->fp), 95);
    const pl_sdp_codec *opus = find_codec(a, 109);
    assert_non_null(opus);
    assert_string_equal(opus->name, "opus");
    assert_int_equal(opus->channels, 2);
    assert_string_equal(find_codec(a, 101)->name, "telephone-event");
    assert_int_equal(pl_sdp_find_extmap(a, PL_RTP_URI_MID), 3);
    assert_int_equal(a->n_ssrcs, 1);
    assert_int_equal(v->kind, PL_SDP_VIDEO);
    assert_int_equal(v->port, 0);
    assert_true(v->bundle_only);
    assert_true(v->rtcp_mux);
    assert_string_equal(v->fp, a->fp);
    assert_string_equal(v->ice_ufrag, a->ice_ufrag);
    assert_string_equal(find_codec(v, 120)->name, "VP8");
    assert_int_equal(find_codec(v, 124)->apt, 120);
    assert_string_equal(find_codec(v, 121)->name, "VP9");
    assert_string_equal(find_codec(v, 99)->name, "AV1");
    assert_int_equal(v->n_groups, 1);
    assert_string_equal(v->groups[0].semantics, "FID");
    assert_true(v->msid_track[0] != '\0');
}

static void test_parse_chromium_simulcast(void **state)
{
    (void)state;
    size_t n = load("chromium156-simulcast-offer.sdp");
    assert_int_equal(pl_sdp_parse(d, text, n), PL_OK);
    const pl_sdp_media *v = &d->media[1];
    assert_int_equal(v->n_rids, 3);
    assert_string_equal(v->rids[0].id, "q");
    assert_true(v->rids[0].send);
    assert_string_equal(v->rids[2].id, "f");
    assert_string_equal(v->simulcast, "send q;h;f");
    assert_int_equal(pl_sdp_find_extmap(v, PL_RTP_URI_RID), 10);
    assert_int_equal(pl_sdp_find_extmap(v, PL_RTP_URI_RRID), 11);
}

/* Every offer fixture gets an answer that parses back to what Parley
 * promises: ice-lite, passive, BUNDLE of the accepted mids, Opus and VP8 with
 * the offered payload types, the offered extmap ids, mirrored directions.
 * Firefox's video (and data channel) sections are bundle-only. */
static void test_answer_every_fixture(void **state)
{
    (void)state;
    static const struct {
        const char *name;
        int opus, vp8, rtx, audio_level, twcc;
        bool simulcast;
    } fx[] = {
        {"chromium156-publish-offer.sdp", 111, 96, 97, 1, 3, false},
        {"chromium156-simulcast-offer.sdp", 111, 96, 97, 1, 3, true},
        {"chromium156-datachannel-offer.sdp", 111, 96, 97, 1, 3, false},
        {"firefox153-publish-offer.sdp", 109, 120, 124, 1, 7, false},
        {"firefox153-simulcast-offer.sdp", 109, 120, 124, 1, 7, true},
        {"firefox153-datachannel-offer.sdp", 109, 120, 124, 1, 7, false},
    };
    for (size_t f = 0; f < sizeof(fx) / sizeof(fx[0]); f++) {
        size_t n = load(fx[f].name);
        assert_int_equal(pl_sdp_parse(d, text, n), PL_OK);
        const char *why = NULL;
        int len = pl_sdp_write_answer(d, &local, out, sizeof(out), acc, &why);
        assert_true(len > 0);
        assert_int_equal(pl_sdp_parse(d2, out, (size_t)len), PL_OK);
        assert_true(d2->ice_lite);
        assert_int_equal(d2->n_media, d->n_media);
        assert_int_equal(d2->n_bundle, 2);
        for (size_t i = 0; i < d->n_media; i++) {
            const pl_sdp_media *o = &d->media[i], *a = &d2->media[i];
            assert_string_equal(a->mid, o->mid);
            if (o->kind == PL_SDP_APPLICATION) {
                assert_false(acc[i].accepted);
                assert_int_equal(a->port, 0);
                continue;
            }
            assert_true(acc[i].accepted);
            assert_int_equal(a->port, 40001);
            assert_false(a->bundle_only);
            assert_int_equal(a->setup, PL_SDP_PASSIVE);
            assert_int_equal(a->dir, PL_SDP_RECVONLY);
            assert_true(a->rtcp_mux);
            assert_string_equal(a->ice_ufrag, "prly");
            assert_string_equal(a->fp, "AB:CD:EF");
            assert_int_equal(a->n_candidates, 1);
            assert_string_equal(a->candidates[0].address, "192.0.2.5");
            if (o->kind == PL_SDP_AUDIO) {
                assert_int_equal(a->n_codecs, 1);
                assert_int_equal(acc[i].pt, fx[f].opus);
                assert_int_equal(a->codecs[0].pt, fx[f].opus);
                assert_true(strstr(a->codecs[0].fmtp, "useinbandfec=1") != NULL);
                assert_int_equal(acc[i].ext_audio_level, fx[f].audio_level);
            } else {
                assert_int_equal(a->n_codecs, 2);
                assert_int_equal(acc[i].pt, fx[f].vp8);
                assert_int_equal(acc[i].rtx_pt, fx[f].rtx);
                assert_int_equal(a->codecs[0].pt, fx[f].vp8);
                assert_int_equal(a->codecs[1].apt, fx[f].vp8);
                assert_int_equal(pl_sdp_find_extmap(a, PL_RTP_URI_AUDIO_LEVEL), -1);
                /* Only what Parley implements is answered. */
                assert_int_equal(pl_sdp_find_extmap(a, "urn:3gpp:video-orientation"), -1);
                assert_int_equal(pl_sdp_find_extmap(a, "urn:ietf:params:rtp-hdrext:toffset"), -1);
                for (size_t k = 0; k < a->n_fb; k++)
                    assert_int_equal(a->fb[k].pt, fx[f].vp8);
            }
            assert_true(acc[i].ext_mid > 0);
            assert_int_equal(acc[i].ext_mid, pl_sdp_find_extmap(o, PL_RTP_URI_MID));
            assert_int_equal(pl_sdp_find_extmap(a, PL_RTP_URI_MID), acc[i].ext_mid);
            assert_int_equal(acc[i].ext_twcc, fx[f].twcc);
        }
        if (fx[f].simulcast) {
            assert_int_equal(acc[1].n_rids, 3);
            assert_string_equal(d2->media[1].simulcast, "recv q;h;f");
            assert_false(d2->media[1].rids[0].send);
        } else {
            assert_true(acc[1].ssrc != 0 && acc[1].rtx_ssrc != 0);
        }
    }
}

/* Answers `offer` and parses the answer back into d2, checking what every
 * answer promises: ice-lite, one answer section per offered one with the
 * same mid, accepted ones on the server's port with its transport and
 * candidate (bundle-only ones too), rejected ones on port 0, never
 * bundle-only, and a BUNDLE group of exactly the accepted mids. */
static int answer_ok(const char *offer)
{
    assert_int_equal(pl_sdp_parse(d, offer, strlen(offer)), PL_OK);
    const char *why = NULL;
    int len = pl_sdp_write_answer(d, &local, out, sizeof(out), acc, &why);
    if (len < 0)
        fail_msg("no answer: %s", why ? why : pl_strerror(len));
    assert_int_equal(pl_sdp_parse(d2, out, (size_t)len), PL_OK);
    assert_true(d2->ice_lite);
    assert_int_equal(d2->n_media, d->n_media);
    assert_null(strstr(out, "bundle-only"));
    size_t accepted = 0;
    for (size_t i = 0; i < d->n_media; i++) {
        const pl_sdp_media *a = &d2->media[i];
        assert_string_equal(a->mid, d->media[i].mid);
        if (!acc[i].accepted) {
            assert_int_equal(a->port, 0);
            assert_true(acc[i].why[0] != '\0');
            continue;
        }
        assert_int_equal(acc[i].why[0], '\0');
        assert_true(accepted < d2->n_bundle);
        assert_string_equal(d2->bundle[accepted++], a->mid);
        assert_int_equal(a->port, 40001);
        assert_string_equal(a->proto, d->media[i].proto);
        assert_int_equal(a->setup, PL_SDP_PASSIVE);
        assert_true(a->rtcp_mux);
        assert_string_equal(a->ice_ufrag, "prly");
        assert_string_equal(a->fp, "AB:CD:EF");
        assert_int_equal(a->n_candidates, 1);
        assert_int_equal(a->candidates[0].port, 40001);
    }
    assert_int_equal(d2->n_bundle, accepted);
    return len;
}

/* The answer section for offered section i, as text (up to the next m=). */
static const char *answer_section(size_t i)
{
    static char sec[PL_SDP_MAX_SIZE];
    const char *p = out;
    for (size_t k = 0; k <= i; k++) {
        p = strstr(p + 1, "\r\nm=");
        assert_non_null(p);
    }
    const char *end = strstr(p + 2, "\r\nm=");
    size_t n = end ? (size_t)(end - p) : strlen(p);
    memcpy(sec, p + 2, n - 2);
    sec[n - 2] = '\0';
    return sec;
}

/* Session part shared by the hand-made offers below. */
#define OFFER_SESSION "v=0\r\no=- 4611731400430051336 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n"

/* Simulcast is received as RFC 8853 lets an answerer: the offer's streams
 * in its order, each by its first alternative, paused ones too, at most
 * three, and only when the RID header extension names the layers. */
static void test_simulcast_answer(void **state)
{
    (void)state;
    static const char head[] = OFFER_SESSION "a=group:BUNDLE 0\r\n"
                                             "m=video 9 UDP/TLS/RTP/SAVPF 96\r\n"
                                             "c=IN IP4 0.0.0.0\r\n"
                                             "a=ice-ufrag:Uf0r\r\na=ice-pwd:pwdpwdpwdpwdpwdpwdpwdpwd\r\n"
                                             "a=fingerprint:sha-256 01:02:03\r\na=setup:actpass\r\n"
                                             "a=mid:0\r\na=sendonly\r\na=rtcp-mux\r\n"
                                             "a=extmap:4 urn:ietf:params:rtp-hdrext:sdes:mid\r\n"
                                             "a=rtpmap:96 VP8/90000\r\n";
    static const struct {
        const char *lines;
        size_t n;
        const char *answer;
    } cases[] = {
        {"a=extmap:10 urn:ietf:params:rtp-hdrext:sdes:rtp-stream-id\r\n"
         "a=rid:f send\r\na=rid:h send\r\na=rid:q send\r\na=simulcast:send q;h;f\r\n",
         3, "a=simulcast:recv q;h;f"},
        {"a=extmap:10 urn:ietf:params:rtp-hdrext:sdes:rtp-stream-id\r\n"
         "a=rid:a send\r\na=rid:b send\r\na=rid:c send\r\na=rid:d send\r\n"
         "a=simulcast:send a,b;~c;d;x\r\n",
         3, "a=simulcast:recv a;c;d"},
        {"a=rid:q send\r\na=rid:h send\r\na=simulcast:send q;h\r\n", 0, NULL},
        {"a=extmap:10 urn:ietf:params:rtp-hdrext:sdes:rtp-stream-id\r\n"
         "a=rid:q recv\r\na=simulcast:recv q\r\n",
         0, NULL},
    };
    for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
        char offer[2048];
        snprintf(offer, sizeof(offer), "%s%s", head, cases[c].lines);
        answer_ok(offer);
        assert_true(acc[0].accepted);
        assert_int_equal(acc[0].n_rids, cases[c].n);
        const char *sec = answer_section(0);
        if (!cases[c].answer) {
            assert_null(strstr(sec, "a=simulcast"));
            assert_null(strstr(sec, "a=rid"));
            continue;
        }
        assert_non_null(strstr(sec, cases[c].answer));
        for (size_t k = 0; k < cases[c].n; k++) {
            char rid[48];
            snprintf(rid, sizeof(rid), "a=rid:%s recv\r\n", acc[0].rids[k]);
            assert_non_null(strstr(sec, rid));
        }
    }
}

/* A max-bundle offer (RFC 8843 7.2, what Firefox and GStreamer's webrtcbin
 * write): every section after the first of the group has port 0 and
 * a=bundle-only, here without transport attributes of its own. It is part
 * of the bundle, answered like any bundled section, never rejected. */
static void test_bundle_only_sections_are_answered(void **state)
{
    (void)state;
    static const char offer[] =
        OFFER_SESSION "a=group:BUNDLE 0 1\r\n"
                      "m=audio 9 UDP/TLS/RTP/SAVPF 111\r\n"
                      "c=IN IP4 0.0.0.0\r\n"
                      "a=ice-ufrag:Uf0r\r\na=ice-pwd:pwdpwdpwdpwdpwdpwdpwdpwd\r\n"
                      "a=fingerprint:sha-256 01:02:03\r\na=setup:actpass\r\n"
                      "a=mid:0\r\na=sendonly\r\na=rtcp-mux\r\n"
                      "a=extmap:1 urn:ietf:params:rtp-hdrext:sdes:mid\r\n"
                      "a=rtpmap:111 opus/48000/2\r\n"
                      "a=ssrc:1001 cname:c\r\n"
                      "m=video 0 UDP/TLS/RTP/SAVPF 96 97\r\n"
                      "c=IN IP4 0.0.0.0\r\n"
                      "a=bundle-only\r\n"
                      "a=mid:1\r\na=sendonly\r\n"
                      "a=extmap:1 urn:ietf:params:rtp-hdrext:sdes:mid\r\n"
                      "a=rtpmap:96 VP8/90000\r\na=rtcp-fb:96 nack\r\na=rtcp-fb:96 nack pli\r\n"
                      "a=rtpmap:97 rtx/90000\r\na=fmtp:97 apt=96\r\n"
                      "a=ssrc-group:FID 2001 2002\r\n"
                      "a=ssrc:2001 cname:c\r\na=ssrc:2002 cname:c\r\n";
    answer_ok(offer);
    /* The bundle-only section took the tagged section's transport. */
    assert_true(d->media[1].bundle_only);
    assert_string_equal(d->media[1].ice_ufrag, "Uf0r");
    assert_string_equal(d->media[1].fp, "01:02:03");
    assert_true(acc[1].accepted);
    assert_int_equal(acc[1].kind, PL_SDP_VIDEO);
    assert_int_equal(acc[1].pt, 96);
    assert_int_equal(acc[1].rtx_pt, 97);
    assert_int_equal(acc[1].ssrc, 2001);
    assert_int_equal(acc[1].rtx_ssrc, 2002);
    assert_int_equal(d2->n_bundle, 2);
    const pl_sdp_media *v = &d2->media[1];
    assert_int_equal(v->dir, PL_SDP_RECVONLY);
    assert_int_equal(v->n_codecs, 2);
    assert_string_equal(v->codecs[0].name, "VP8");
    assert_int_equal(v->codecs[1].apt, 96);
    assert_int_equal(pl_sdp_find_extmap(v, PL_RTP_URI_MID), 1);

    /* Port 0 without bundle-only is a disabled section; bundle-only outside
     * the BUNDLE group cannot be bundled: both rejected, each saying why. */
    char text2[sizeof(offer) + 64];
    snprintf(text2, sizeof(text2), "%s", offer);
    char *p = strstr(text2, "a=bundle-only");
    memcpy(p, "a=xundle-only", 13);
    answer_ok(text2);
    assert_false(acc[1].accepted);
    assert_true(acc[0].accepted);
    assert_string_equal(acc[1].why,
                        "m=video section 1 (mid 1): port 0 without a=bundle-only: the offerer "
                        "disabled it");
    snprintf(text2, sizeof(text2), "%s", offer);
    p = strstr(text2, "a=group:BUNDLE 0 1");
    memcpy(p, "a=group:BUNDLE 0  ", 18);
    answer_ok(text2);
    assert_false(acc[1].accepted);
    assert_string_equal(
        acc[1].why, "m=video section 1 (mid 1): a=bundle-only but not in the a=group:BUNDLE line");
}

/* Transport lines of a hand-made offer's first section. */
#define OFFER_TRANSPORT                                                                            \
    "c=IN IP4 0.0.0.0\r\n"                                                                         \
    "a=ice-ufrag:Uf0r\r\na=ice-pwd:pwdpwdpwdpwdpwdpwdpwdpwd\r\n"                                   \
    "a=fingerprint:sha-256 01:02:03\r\na=setup:actpass\r\na=rtcp-mux\r\n"

/* What stacks leave out (RFC 8829 makes none of it mandatory): no a=msid,
 * no a=msid-semantic, no a=ssrc, so the relay binds packets by the MID
 * header extension, which the answer must therefore keep. A sendrecv
 * section (GStreamer's default) is answered recvonly. */
static void test_offer_without_msid_or_ssrc(void **state)
{
    (void)state;
    static const char offer[] =
        OFFER_SESSION "a=group:BUNDLE a v\r\n"
                      "m=audio 9 UDP/TLS/RTP/SAVPF 111\r\n" OFFER_TRANSPORT "a=mid:a\r\n"
                      "a=sendrecv\r\n"
                      "a=extmap:3 urn:ietf:params:rtp-hdrext:sdes:mid\r\n"
                      "a=rtpmap:111 opus/48000/2\r\n"
                      "m=video 9 UDP/TLS/RTP/SAVPF 96 97\r\n" OFFER_TRANSPORT "a=mid:v\r\n"
                      "a=sendonly\r\n"
                      "a=extmap:3 urn:ietf:params:rtp-hdrext:sdes:mid\r\n"
                      "a=rtpmap:96 VP8/90000\r\n"
                      "a=rtpmap:97 rtx/90000\r\na=fmtp:97 apt=96\r\n";
    answer_ok(offer);
    for (size_t i = 0; i < 2; i++) {
        assert_true(acc[i].accepted);
        assert_int_equal(acc[i].ssrc, 0);
        assert_int_equal(acc[i].ext_mid, 3);
        assert_int_equal(pl_sdp_find_extmap(&d2->media[i], PL_RTP_URI_MID), 3);
        assert_int_equal(d2->media[i].dir, PL_SDP_RECVONLY);
    }
    assert_int_equal(acc[0].offer_dir, PL_SDP_SENDRECV);
    assert_int_equal(acc[1].rtx_pt, 97);
    assert_int_equal(acc[1].rtx_ssrc, 0);

    /* Without the MID extension either, the relay could not tell the
     * section's packets apart: rejected, naming what is missing. */
    char text2[sizeof(offer)];
    snprintf(text2, sizeof(text2), "%s", offer);
    char *p = strstr(strstr(text2, "a=mid:v"), "a=extmap:3");
    memcpy(p, "a=xxtmap", 8);
    answer_ok(text2);
    assert_true(acc[0].accepted);
    assert_false(acc[1].accepted);
    assert_string_equal(acc[1].why,
                        "m=video section 1 (mid v): sends without a=ssrc lines and without "
                        "a=extmap for urn:ietf:params:rtp-hdrext:sdes:mid");
}

/* Header extension ids above 14 (RFC 8285 two-byte form) are answered
 * with the same ids; the relay's RTP parser reads the two-byte form
 * (rtp_test: test_two_byte_form). The MID id reaches the relay as offered. */
static void test_offer_with_two_byte_extension_ids(void **state)
{
    (void)state;
    static const char offer[] = OFFER_SESSION
        "a=group:BUNDLE 0 1\r\n"
        "m=audio 9 UDP/TLS/RTP/SAVPF 111\r\n" OFFER_TRANSPORT "a=mid:0\r\n"
        "a=sendonly\r\n"
        "a=extmap:16 urn:ietf:params:rtp-hdrext:ssrc-audio-level\r\n"
        "a=extmap:200 urn:ietf:params:rtp-hdrext:sdes:mid\r\n"
        "a=extmap:17/sendrecv "
        "http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01\r\n"
        "a=rtpmap:111 opus/48000/2\r\n"
        "a=ssrc:1001 cname:c\r\n"
        "m=video 9 UDP/TLS/RTP/SAVPF 96\r\n" OFFER_TRANSPORT "a=mid:1\r\n"
        "a=sendonly\r\n"
        "a=extmap:200 urn:ietf:params:rtp-hdrext:sdes:mid\r\n"
        "a=extmap:255 http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time\r\n"
        "a=rtpmap:96 VP8/90000\r\n";
    answer_ok(offer);
    assert_int_equal(acc[0].ext_audio_level, 16);
    assert_int_equal(acc[0].ext_mid, 200);
    assert_int_equal(acc[0].ext_twcc, 17);
    assert_int_equal(acc[1].ext_mid, 200);
    assert_int_equal(acc[1].ext_abs_send_time, 255);
    assert_int_equal(acc[1].ssrc, 0);
    assert_int_equal(acc[1].rtx_pt, -1);
    assert_int_equal(pl_sdp_find_extmap(&d2->media[0], PL_RTP_URI_AUDIO_LEVEL), 16);
    assert_int_equal(pl_sdp_find_extmap(&d2->media[0], PL_RTP_URI_MID), 200);
    assert_int_equal(pl_sdp_find_extmap(&d2->media[0], PL_RTP_URI_TWCC), 17);
    assert_int_equal(pl_sdp_find_extmap(&d2->media[1], PL_RTP_URI_ABS_SEND_TIME), 255);
    /* The answer writes the id alone, without the offer's direction. */
    assert_non_null(strstr(answer_section(0), "a=extmap:17 http://"));
    /* Beyond 255 there is no RTP header form: a clear parse error. */
    static const char bad[] = OFFER_SESSION "m=audio 9 UDP/TLS/RTP/SAVPF 111\r\n"
                                            "a=extmap:256 urn:ietf:params:rtp-hdrext:sdes:mid\r\n";
    assert_int_equal(pl_sdp_parse(d, bad, strlen(bad)), PL_EMALFORMED);
    assert_string_equal(d->error, "bad a=extmap");
}

/* a=rtcp-rsize (RFC 5506) is answered when offered, a=ice-options
 * (trickle, renomination) at session and media level is ignored: the
 * server is ICE-lite and sends its one candidate in the answer. */
static void test_offer_with_rtcp_rsize_and_ice_options(void **state)
{
    (void)state;
    static const char offer[] =
        OFFER_SESSION "a=ice-options:trickle renomination\r\n"
                      "a=group:BUNDLE 0 1\r\n"
                      "m=audio 9 UDP/TLS/RTP/SAVPF 111\r\n" OFFER_TRANSPORT "a=mid:0\r\n"
                      "a=ice-options:trickle\r\n"
                      "a=sendonly\r\na=rtcp-rsize\r\n"
                      "a=rtpmap:111 opus/48000/2\r\n"
                      "a=ssrc:1001 cname:c\r\n"
                      "m=video 9 UDP/TLS/RTP/SAVPF 96\r\n" OFFER_TRANSPORT "a=mid:1\r\n"
                      "a=sendonly\r\n"
                      "a=rtpmap:96 VP8/90000\r\n"
                      "a=ssrc:2001 cname:c\r\n";
    answer_ok(offer);
    assert_true(d2->media[0].rtcp_rsize);
    assert_false(d2->media[1].rtcp_rsize);
    assert_null(strstr(out, "ice-options"));
    assert_int_equal(acc[0].ssrc, 1001);
    assert_int_equal(acc[1].ssrc, 2001);
}

/* Codec attributes in another order than Chromium's: fmtp before rtpmap,
 * parameters reordered, RTX's apt after rtx-time, lower-case codec names,
 * rtcp-fb before the rtpmap it refers to. */
static void test_offer_with_codec_lines_reordered(void **state)
{
    (void)state;
    static const char offer[] = OFFER_SESSION
        "a=group:BUNDLE 0 1\r\n"
        "m=audio 9 UDP/TLS/RTP/SAVPF 111\r\n" OFFER_TRANSPORT
        "a=fmtp:111 useinbandfec=1;stereo=1;minptime=10\r\n"
        "a=rtcp-fb:111 transport-cc\r\n"
        "a=rtpmap:111 OPUS/48000/2\r\n"
        "a=mid:0\r\na=sendonly\r\n"
        "a=ssrc:1001 cname:c\r\n"
        "m=video 9 UDP/TLS/RTP/SAVPF 97 96\r\n" OFFER_TRANSPORT "a=fmtp:97 rtx-time=3000;apt=96\r\n"
        "a=rtcp-fb:96 nack pli\r\na=rtcp-fb:96 nack\r\n"
        "a=rtpmap:97 rtx/90000\r\n"
        "a=rtpmap:96 vp8/90000\r\n"
        "a=mid:1\r\na=sendonly\r\n"
        "a=ssrc-group:FID 2001 2002\r\n"
        "a=ssrc:2001 cname:c\r\na=ssrc:2002 cname:c\r\n";
    answer_ok(offer);
    assert_int_equal(acc[0].pt, 111);
    assert_int_equal(acc[1].pt, 96);
    assert_int_equal(acc[1].rtx_pt, 97);
    assert_int_equal(acc[1].ssrc, 2001);
    assert_int_equal(acc[1].rtx_ssrc, 2002);
    /* The answer lists VP8 first and its RTX after, with the apt. */
    assert_int_equal(d2->media[1].codecs[0].pt, 96);
    assert_int_equal(d2->media[1].codecs[1].pt, 97);
    assert_int_equal(d2->media[1].codecs[1].apt, 96);
    const char *v = answer_section(1);
    assert_non_null(strstr(v, "a=rtcp-fb:96 nack pli\r\n"));
    assert_non_null(strstr(v, "a=rtcp-fb:96 nack\r\n"));
    assert_non_null(strstr(answer_section(0), "a=rtcp-fb:111 transport-cc\r\n"));
}

/* Other payload type numbers (Firefox's: Opus 109, VP8 120, RTX 124) are
 * answered with the offered numbers, and telephone-event (RFC 4733), even
 * listed first, is left out: the relay forwards Opus only. */
static void test_offer_with_other_payload_types_and_telephone_event(void **state)
{
    (void)state;
    static const char offer[] = OFFER_SESSION
        "a=group:BUNDLE 0 1\r\n"
        "m=audio 9 UDP/TLS/RTP/SAVPF 101 109 9 0 8 126\r\n" OFFER_TRANSPORT
        "a=mid:0\r\na=sendonly\r\n"
        "a=rtpmap:101 telephone-event/8000/1\r\na=fmtp:101 0-15\r\n"
        "a=rtpmap:109 opus/48000/2\r\n"
        "a=fmtp:109 maxplaybackrate=48000;stereo=1;useinbandfec=1\r\n"
        "a=rtpmap:9 G722/8000/1\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\n"
        "a=rtpmap:126 telephone-event/48000\r\n"
        "a=ssrc:1001 cname:c\r\n"
        "m=video 9 UDP/TLS/RTP/SAVPF 120 124\r\n" OFFER_TRANSPORT "a=mid:1\r\na=sendonly\r\n"
        "a=rtpmap:120 VP8/90000\r\na=fmtp:120 max-fs=12288;max-fr=60\r\n"
        "a=rtpmap:124 rtx/90000\r\na=fmtp:124 apt=120\r\n"
        "a=ssrc-group:FID 2001 2002\r\n"
        "a=ssrc:2001 cname:c\r\na=ssrc:2002 cname:c\r\n";
    answer_ok(offer);
    assert_int_equal(acc[0].pt, 109);
    assert_int_equal(d2->media[0].n_codecs, 1);
    assert_string_equal(d2->media[0].codecs[0].name, "opus");
    assert_int_equal(d2->media[0].codecs[0].pt, 109);
    assert_null(strstr(out, "telephone-event"));
    assert_int_equal(acc[1].pt, 120);
    assert_int_equal(acc[1].rtx_pt, 124);
    assert_int_equal(d2->media[1].n_codecs, 2);
    assert_int_equal(d2->media[1].codecs[1].apt, 120);
    /* Only telephone-event (a DTMF-only audio section): rejected, saying
     * what was missing among which payload types. */
    static const char dtmf[] = OFFER_SESSION
        "m=audio 9 UDP/TLS/RTP/SAVPF 101 0\r\n" OFFER_TRANSPORT "a=mid:0\r\na=sendonly\r\n"
        "a=rtpmap:101 telephone-event/8000\r\na=rtpmap:0 PCMU/8000\r\n";
    assert_int_equal(pl_sdp_parse(d, dtmf, strlen(dtmf)), PL_OK);
    const char *why = NULL;
    assert_int_equal(pl_sdp_write_answer(d, &local, out, sizeof(out), acc, &why), PL_EUNSUPPORTED);
    assert_string_equal(why, "no media section offers Opus/48000/2 or VP8");
    assert_string_equal(acc[0].why,
                        "m=audio section 0 (mid 0): no a=rtpmap for opus/48000/2 among its "
                        "payload types 101 0");
}

/* H.264 and VP9 offered before VP8 (with RTX of their own): VP8 and its
 * own RTX are chosen; a section offering H.264 only is rejected with the
 * reason while the rest of the offer is answered. */
static void test_offer_with_h264_and_vp9_next_to_vp8(void **state)
{
    (void)state;
    static const char offer[] = OFFER_SESSION
        "a=group:BUNDLE 0 1 2\r\n"
        "m=audio 9 UDP/TLS/RTP/SAVPF 111\r\n" OFFER_TRANSPORT "a=mid:0\r\n"
        "a=sendonly\r\na=rtpmap:111 opus/48000/2\r\na=ssrc:1001 cname:c\r\n"
        "m=video 9 UDP/TLS/RTP/SAVPF 102 103 98 99 96 97\r\n" OFFER_TRANSPORT
        "a=mid:1\r\na=sendonly\r\n"
        "a=rtpmap:102 H264/90000\r\n"
        "a=fmtp:102 "
        "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f\r\n"
        "a=rtpmap:103 rtx/90000\r\na=fmtp:103 apt=102\r\n"
        "a=rtpmap:98 VP9/90000\r\na=fmtp:98 profile-id=0\r\n"
        "a=rtpmap:99 rtx/90000\r\na=fmtp:99 apt=98\r\n"
        "a=rtpmap:96 VP8/90000\r\n"
        "a=rtpmap:97 rtx/90000\r\na=fmtp:97 apt=96\r\n"
        "a=rtcp-fb:102 nack\r\na=rtcp-fb:96 nack\r\n"
        "a=ssrc-group:FID 2001 2002\r\n"
        "a=ssrc:2001 cname:c\r\na=ssrc:2002 cname:c\r\n"
        "m=video 9 UDP/TLS/RTP/SAVPF 102\r\n" OFFER_TRANSPORT "a=mid:2\r\na=sendonly\r\n"
        "a=rtpmap:102 H264/90000\r\na=ssrc:3001 cname:c\r\n";
    answer_ok(offer);
    assert_int_equal(acc[1].pt, 96);
    assert_int_equal(acc[1].rtx_pt, 97);
    assert_int_equal(d2->media[1].n_codecs, 2);
    assert_string_equal(d2->media[1].codecs[0].name, "VP8");
    assert_int_equal(d2->media[1].codecs[1].apt, 96);
    const char *v = answer_section(1);
    assert_null(strstr(v, "H264"));
    assert_null(strstr(v, "VP9"));
    assert_null(strstr(v, "a=rtcp-fb:102"));
    assert_non_null(strstr(v, "a=rtcp-fb:96 nack\r\n"));
    assert_false(acc[2].accepted);
    assert_string_equal(acc[2].why,
                        "m=video section 2 (mid 2): no a=rtpmap for VP8/90000 among its payload "
                        "types 102");
    assert_int_equal(d2->n_bundle, 2);
}

/* A rejected section always says why (the server logs it). */
static void test_rejections_say_why(void **state)
{
    (void)state;
    size_t n = load("chromium156-datachannel-offer.sdp");
    text[n] = '\0';
    answer_ok(text);
    assert_false(acc[2].accepted);
    assert_string_equal(acc[2].why,
                        "m=application section 2 (mid 2): only audio and video are relayed");
    /* The rejected section still carries ICE credentials, fingerprint and
     * setup role, without which webrtcbin refuses the whole answer. */
    assert_int_equal(d2->media[2].port, 0);
    assert_string_equal(d2->media[2].ice_ufrag, local.ice_ufrag);
    assert_string_equal(d2->media[2].ice_pwd, local.ice_pwd);
    assert_string_equal(d2->media[2].fp, local.fp);
}

static void test_no_acceptable_codec(void **state)
{
    (void)state;
    size_t n = load("chromium156-publish-offer.sdp");
    /* Rename every codec Parley accepts; the rest stays real. */
    for (char *p = text; (p = strstr(p, "opus/48000")); p++)
        memcpy(p, "OPUX", 4);
    for (char *p = text; (p = strstr(p, "VP8/90000")); p++)
        memcpy(p, "VQ8", 3);
    assert_int_equal(pl_sdp_parse(d, text, n), PL_OK);
    const char *why = NULL;
    assert_int_equal(pl_sdp_write_answer(d, &local, out, sizeof(out), acc, &why), PL_EUNSUPPORTED);
    assert_non_null(why);
    assert_true(strstr(why, "Opus") != NULL);
}

static void test_requirements(void **state)
{
    (void)state;
    size_t n = load("chromium156-publish-offer.sdp");
    char *p = strstr(text, "a=rtcp-mux\r\n");
    memcpy(p, "a=xtcp-mux", 10);
    p = strstr(p + 1, "a=rtcp-mux\r\n");
    memcpy(p, "a=xtcp-mux", 10);
    assert_int_equal(pl_sdp_parse(d, text, n), PL_OK);
    const char *why = NULL;
    assert_int_equal(pl_sdp_write_answer(d, &local, out, sizeof(out), acc, &why), PL_EUNSUPPORTED);
    /* The error names the section and the missing line. */
    assert_string_equal(why, "m=audio section 0 (mid 0): no a=rtcp-mux line: rtcp-mux is required");
    /* Too small an output buffer. */
    n = load("chromium156-publish-offer.sdp");
    assert_int_equal(pl_sdp_parse(d, text, n), PL_OK);
    assert_int_equal(pl_sdp_write_answer(d, &local, out, 300, acc, &why), PL_ENOSPC);
}

/* A mid is a token and unique (RFC 5888): an offer breaking either is
 * refused, since the answer would echo it into a broken BUNDLE group (a
 * fuzzer found mids with spaces made answers that did not parse back). */
static void test_mids_are_unique_tokens(void **state)
{
    (void)state;
    size_t n = load("chromium156-publish-offer.sdp");
    char *p = strstr(text, "a=mid:1\r\n");
    assert_non_null(p);
    p[6] = '0'; /* the second section takes the first one's mid */
    assert_int_equal(pl_sdp_parse(d, text, n), PL_EMALFORMED);
    assert_string_equal(d->error, "duplicate a=mid: 0");
    static const char *bad[] = {"a=mid:a b", "a=mid:", "a=mid:x,y", "a=mid:x\ty"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        n = load("chromium156-publish-offer.sdp");
        char buf[PL_SDP_MAX_SIZE];
        p = strstr(text, "a=mid:1\r\n");
        size_t head = (size_t)(p - text);
        snprintf(buf, sizeof(buf), "%.*s%s%s", (int)head, text, bad[i], p + strlen("a=mid:1"));
        assert_int_equal(pl_sdp_parse(d, buf, strlen(buf)), PL_EMALFORMED);
        assert_string_equal(d->error, "bad a=mid");
    }
}

/* With ICE-TCP, answers and offers carry a passive TCP host candidate on
 * the same port (RFC 6544 syntax), below the UDP one in priority, in every
 * section. */
static void test_tcp_candidate(void **state)
{
    (void)state;
    pl_sdp_local l = local;
    l.tcp = true;
    static const char *line =
        "a=candidate:2 1 tcp 2124414975 192.0.2.5 40001 typ host tcptype passive\r\n";
    size_t n = load("chromium156-publish-offer.sdp");
    assert_int_equal(pl_sdp_parse(d, text, n), PL_OK);
    const char *why = NULL;
    int len = pl_sdp_write_answer(d, &l, out, sizeof(out), acc, &why);
    assert_true(len > 0);
    assert_non_null(strstr(out, line));
    pl_sdp_offer_section sec[] = {
        {"0", PL_SDP_AUDIO, true, "alice", "alice-mic", "alice", 1111, 0},
        {"1", PL_SDP_VIDEO, true, "alice", "alice-cam", "alice", 2222, 3333},
    };
    char offer[PL_SDP_MAX_SIZE];
    int olen = pl_sdp_write_offer(&l, sec, 2, offer, sizeof(offer));
    assert_true(olen > 0);
    const char *descs[] = {out, offer};
    int lens[] = {len, olen};
    for (size_t k = 0; k < 2; k++) {
        assert_int_equal(pl_sdp_parse(d2, descs[k], (size_t)lens[k]), PL_OK);
        for (size_t i = 0; i < d2->n_media; i++) {
            const pl_sdp_media *m = &d2->media[i];
            if (m->port == 0)
                continue;
            assert_int_equal(m->n_candidates, 2);
            assert_string_equal(m->candidates[0].transport, "udp");
            assert_string_equal(m->candidates[1].transport, "tcp");
            assert_int_equal(m->candidates[1].port, m->candidates[0].port);
            assert_true(m->candidates[1].priority < m->candidates[0].priority);
            assert_string_not_equal(m->candidates[1].foundation, m->candidates[0].foundation);
        }
    }
    /* Without it, no TCP anywhere. */
    len = pl_sdp_write_answer(d, &local, out, sizeof(out), acc, &why);
    assert_true(len > 0);
    assert_null(strstr(out, " tcp "));
}

static void test_offer_round_trip_and_browser_answer(void **state)
{
    (void)state;
    pl_sdp_offer_section s[] = {
        {"0", PL_SDP_AUDIO, true, "alice", "alice-mic", "alice", 1111, 0},
        {"1", PL_SDP_VIDEO, true, "alice", "alice-cam", "alice", 2222, 3333},
        {"2", PL_SDP_VIDEO, false, NULL, NULL, NULL, 0, 0},
    };
    int len = pl_sdp_write_offer(&local, s, 3, out, sizeof(out));
    assert_true(len > 0);
    assert_int_equal(pl_sdp_parse(d, out, (size_t)len), PL_OK);
    assert_true(d->ice_lite);
    assert_int_equal(d->n_media, 3);
    assert_int_equal(d->n_bundle, 3);
    assert_int_equal(d->media[0].setup, PL_SDP_ACTPASS);
    assert_int_equal(d->media[0].dir, PL_SDP_SENDONLY);
    assert_int_equal(d->media[2].dir, PL_SDP_INACTIVE);
    assert_int_equal(d->media[1].n_groups, 1);
    assert_int_equal(d->media[1].groups[0].ssrcs[1], 3333);
    assert_string_equal(d->media[1].ssrcs[0].msid, "alice alice-cam");
    assert_int_equal(find_codec(&d->media[1], 97)->apt, 96);

    /* Chromium's real answer to exactly that offer. */
    size_t n = load("chromium156-answer-to-parley-offer.sdp");
    assert_int_equal(pl_sdp_parse(d2, text, n), PL_OK);
    assert_int_equal(d2->n_media, 3);
    assert_int_equal(d2->media[0].setup, PL_SDP_ACTIVE);
    assert_int_equal(d2->media[0].dir, PL_SDP_RECVONLY);
    assert_int_equal(d2->media[2].dir, PL_SDP_INACTIVE);
    assert_string_equal(d2->media[1].codecs[0].name, "VP8");
    assert_true(d2->media[0].fp[0] != '\0');
    assert_int_equal(pl_sdp_write_offer(&local, s, 3, out, 100), PL_ENOSPC);

    /* Firefox's real answer to the same offer: active, the fingerprint at
     * session level, the ended track's section inactive but not rejected. */
    n = load("firefox153-answer-to-parley-offer.sdp");
    assert_int_equal(pl_sdp_parse(d2, text, n), PL_OK);
    assert_int_equal(d2->n_media, 3);
    assert_int_equal(d2->n_bundle, 3);
    for (size_t i = 0; i < 3; i++) {
        assert_string_equal(d2->media[i].mid, s[i].mid);
        assert_int_equal(d2->media[i].setup, PL_SDP_ACTIVE);
        assert_int_equal(strlen(d2->media[i].fp), 95);
        assert_true(d2->media[i].ice_ufrag[0] != '\0');
        assert_true(d2->media[i].rtcp_mux);
    }
    assert_int_equal(d2->media[0].dir, PL_SDP_RECVONLY);
    assert_int_equal(d2->media[1].dir, PL_SDP_RECVONLY);
    assert_int_equal(d2->media[2].dir, PL_SDP_INACTIVE);
    assert_int_equal(d2->media[0].codecs[0].pt, PL_SDP_OFFER_OPUS_PT);
    assert_string_equal(d2->media[1].codecs[0].name, "VP8");
    assert_int_equal(find_codec(&d2->media[1], PL_SDP_OFFER_RTX_PT)->apt, PL_SDP_OFFER_VP8_PT);
}

static void test_malformed(void **state)
{
    (void)state;
    const char *bad[] = {
        "",
        "hello",
        "v=1\r\n",
        "o=- 1 2 IN IP4 0.0.0.0\r\nv=0\r\n",
        "v=0\r\nm=audio\r\n",
        "v=0\r\nm=audio 99999 UDP/TLS/RTP/SAVPF 111\r\n",
        "v=0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 300\r\n",
        "v=0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=rtpmap:111 opus\r\n",
        "v=0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=ssrc:-5 cname:x\r\n",
        "v=0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\na=rid:q sideways\r\n",
        "v=0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\na=extmap:0 urn:x\r\n",
        "v=0\r\nX=bad\r\n",
        "v=0\r\na=fingerprint:sha-256\r\n",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(pl_sdp_parse(d, bad[i], strlen(bad[i])), PL_EMALFORMED);
        assert_true(d->error[0] != '\0');
    }
    /* A line longer than the limit. */
    static char big[PL_SDP_MAX_LINE + 100];
    memcpy(big, "v=0\r\na=", 7);
    memset(big + 7, 'x', sizeof(big) - 8);
    assert_int_equal(pl_sdp_parse(d, big, sizeof(big) - 1), PL_EMALFORMED);
    /* More media sections than the limit. */
    static char many[PL_SDP_MAX_SIZE];
    size_t len = (size_t)snprintf(many, sizeof(many), "v=0\r\n");
    for (int i = 0; i < PL_SDP_MAX_MEDIA + 1; i++)
        len +=
            (size_t)snprintf(many + len, sizeof(many) - len, "m=audio 9 UDP/TLS/RTP/SAVPF 111\r\n");
    assert_int_equal(pl_sdp_parse(d, many, len), PL_EMALFORMED);
    /* Over the size limit. */
    assert_int_equal(pl_sdp_parse(d, many, PL_SDP_MAX_SIZE + 1), PL_EMALFORMED);
    /* An embedded NUL. */
    assert_int_equal(pl_sdp_parse(d, "v=0\r\ns=a\0b\r\n", 12), PL_EMALFORMED);
}

/* Lines of text[0..k) that start with "m=" (a media section begun). */
static size_t media_lines(const char *t, size_t k)
{
    size_t count = 0;
    for (size_t i = 0; i + 1 < k; i++)
        if ((i == 0 || t[i - 1] == '\n') && t[i] == 'm' && t[i + 1] == '=')
            count++;
    return count;
}

/* Every prefix of a real offer parses or fails cleanly: PL_EMALFORMED with
 * a reason, or PL_OK. The parser reads line by line, so a prefix that ends
 * at a line's end holds only lines the whole offer parsed: it must parse.
 * A prefix that parses has one section per m= line it holds, and everything
 * before its last section (the session part, earlier sections) exactly as
 * the whole offer has it; only a cut line can differ. Whatever parses is
 * answered without overflowing (ASan watches the reads), with an answer
 * that parses, or refused with a reason. */
static void truncations(const char *name)
{
    size_t n = load(name);
    assert_int_equal(pl_sdp_parse(d2, text, n), PL_OK);
    assert_true(d2->n_media >= 2);
    pl_sdp_desc *answer = pl_sdp_desc_create(&env);
    char *copy = malloc(n);
    assert_non_null(answer);
    assert_non_null(copy);
    size_t parsed = 0, refused = 0, answered = 0;
    for (size_t k = 0; k <= n; k++) {
        memcpy(copy, text, k);
        int rc = pl_sdp_parse(d, copy, k);
        bool line_end = k > 0 && text[k - 1] == '\n';
        if (rc != PL_OK) {
            assert_int_equal(rc, PL_EMALFORMED);
            assert_true(d->error[0] != '\0');
            assert_false(line_end);
            refused++;
            continue;
        }
        parsed++;
        assert_int_equal(d->error[0], '\0');
        assert_int_equal(d->n_media, media_lines(text, k));
        if (d->n_media > 0) {
            assert_memory_equal(d, d2, offsetof(pl_sdp_desc, n_media));
            for (size_t i = 0; i + 1 < d->n_media; i++)
                assert_memory_equal(&d->media[i], &d2->media[i], sizeof(d->media[i]));
            const pl_sdp_media *m = &d->media[d->n_media - 1], *whole = &d2->media[d->n_media - 1];
            if (line_end) {
                /* Its m= line is whole. */
                assert_int_equal(m->kind, whole->kind);
                assert_int_equal(m->port, whole->port);
                assert_string_equal(m->proto, whole->proto);
                assert_int_equal(m->n_codecs, whole->n_codecs);
                for (size_t c = 0; c < m->n_codecs; c++)
                    assert_int_equal(m->codecs[c].pt, whole->codecs[c].pt);
            }
        }
        const char *why = NULL;
        int len = pl_sdp_write_answer(d, &local, out, sizeof(out), acc, &why);
        if (k == n)
            assert_true(len > 0);
        if (len > 0) {
            assert_int_equal(pl_sdp_parse(answer, out, (size_t)len), PL_OK);
            assert_int_equal(answer->n_media, d->n_media);
            answered++;
        } else {
            assert_int_equal(len, PL_EUNSUPPORTED);
            assert_non_null(why);
        }
    }
    /* Some cut lines are refused, some kept, and more than the whole offer
     * is answered. */
    assert_true(refused > 0 && parsed > 0 && answered > 1);
    free(copy);
    pl_sdp_desc_destroy(&env, answer);
}

/* Chromium's, and Firefox's with its bundle-only section. */
static void test_every_truncation(void **state)
{
    (void)state;
    truncations("chromium156-simulcast-offer.sdp");
    truncations("firefox153-publish-offer.sdp");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_chromium_publish),
        cmocka_unit_test(test_parse_firefox_publish),
        cmocka_unit_test(test_parse_chromium_simulcast),
        cmocka_unit_test(test_answer_every_fixture),
        cmocka_unit_test(test_bundle_only_sections_are_answered),
        cmocka_unit_test(test_rejections_say_why),
        cmocka_unit_test(test_offer_without_msid_or_ssrc),
        cmocka_unit_test(test_offer_with_two_byte_extension_ids),
        cmocka_unit_test(test_offer_with_rtcp_rsize_and_ice_options),
        cmocka_unit_test(test_offer_with_codec_lines_reordered),
        cmocka_unit_test(test_offer_with_other_payload_types_and_telephone_event),
        cmocka_unit_test(test_offer_with_h264_and_vp9_next_to_vp8),
        cmocka_unit_test(test_no_acceptable_codec),
        cmocka_unit_test(test_requirements),
        cmocka_unit_test(test_mids_are_unique_tokens),
        cmocka_unit_test(test_offer_round_trip_and_browser_answer),
        cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_every_truncation),
        cmocka_unit_test(test_simulcast_answer),
        cmocka_unit_test(test_tcp_candidate),
    };
    return cmocka_run_group_tests_name("sdp", tests, setup, teardown);
}
