/* The signaling core driven directly: every reply and event it produces is
 * captured per connection and checked against docs/protocol.md. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "parley/signal.h"
#include "sigfx.h"

static void test_hello_and_presence(void **state)
{
    (void)state;
    fx *f = fx_new();
    hello(f, 0, "Ada");
    json_t *w = got(f, 0, "welcome");
    assert_string_equal(str(json_object_get(w, "user"), "name"), "Ada");
    assert_int_equal(json_array_size(json_object_get(w, "online")), 0);
    assert_true(json_is_array(json_object_get(w, "ice_servers")));
    assert_true(json_is_array(json_object_get(w, "missed")));
    drain(f, 0);
    hello(f, 1, "Grace");
    w = got(f, 1, "welcome");
    json_t *online = json_object_get(w, "online");
    assert_int_equal(json_array_size(online), 1);
    assert_string_equal(str(json_array_get(online, 0), "name"), "Ada");
    assert_string_equal(str(json_array_get(online, 0), "status"), "online");
    json_t *p = got(f, 0, "presence");
    assert_non_null(p);
    assert_string_equal(str(p, "status"), "online");
    drain(f, 0);
    /* Same name, second device: same user, no new presence. */
    hello(f, 2, "Grace");
    assert_string_equal(str(json_object_get(got(f, 2, "welcome"), "user"), "id"),
                        str(json_object_get(got(f, 1, "welcome"), "user"), "id"));
    assert_null(got(f, 0, "presence"));
    /* dnd applies to the user and is pushed to others. */
    say(f, 1, "{\"type\":\"status\",\"status\":\"dnd\",\"id\":\"s\"}");
    assert_string_equal(str(got(f, 1, "status"), "re"), "s");
    assert_string_equal(str(got(f, 0, "presence"), "status"), "dnd");
    /* Grace's other device follows, told by an event. */
    json_t *follow = got(f, 2, "status");
    assert_non_null(follow);
    assert_string_equal(str(follow, "status"), "dnd");
    assert_null(json_object_get(follow, "re"));
    drain(f, 0);
    pl_sig_disconnect(f->sig, 1, f->now);
    assert_null(got(f, 0, "presence")); /* still online on device 2 */
    pl_sig_disconnect(f->sig, 2, f->now);
    assert_string_equal(str(got(f, 0, "presence"), "status"), "offline");
    pl_sig_stats st;
    pl_sig_stats_get(f->sig, &st);
    assert_int_equal(st.users_online, 1);
    fx_free(f);
}

static void test_rooms_and_chat(void **state)
{
    (void)state;
    fx *f = fx_new();
    hello(f, 0, "Ada");
    hello(f, 1, "Grace");
    say(f, 0, "{\"type\":\"join\",\"room\":\"standup\",\"id\":7}");
    json_t *j = got(f, 0, "joined");
    assert_non_null(j);
    assert_string_equal(str(j, "room"), "standup");
    assert_int_equal(json_array_size(json_object_get(j, "participants")), 0);
    const char *ada = str(json_object_get(j, "participant"), "id");
    char ada_id[32];
    snprintf(ada_id, sizeof(ada_id), "%s", ada);
    say(f, 1, "{\"type\":\"join\",\"room\":\"standup\"}");
    j = got(f, 1, "joined");
    json_t *parts = json_object_get(j, "participants");
    assert_int_equal(json_array_size(parts), 1);
    assert_string_equal(str(json_array_get(parts, 0), "id"), ada_id);
    assert_true(json_is_array(json_object_get(json_array_get(parts, 0), "tracks")));
    json_t *pj = got(f, 0, "participant-joined");
    assert_string_equal(str(json_object_get(pj, "participant"), "name"), "Grace");

    drain(f, 0);
    drain(f, 1);
    say(f, 0, "{\"type\":\"chat\",\"text\":\"hello\\nthere\",\"id\":9}");
    assert_int_equal(json_integer_value(json_object_get(got(f, 0, "ok"), "re")), 9);
    json_t *c0 = got(f, 0, "chat"), *c1 = got(f, 1, "chat");
    assert_non_null(c0);
    assert_non_null(c1);
    assert_string_equal(str(c1, "text"), "hello\nthere");
    assert_string_equal(str(json_object_get(c1, "from"), "id"), ada_id);
    assert_true(json_integer_value(json_object_get(c1, "ts")) == 1700000000000LL);

    drain(f, 1);
    say(f, 0, "{\"type\":\"leave\",\"id\":\"bye\"}");
    assert_string_equal(str(got(f, 0, "left"), "room"), "standup");
    json_t *pl = got(f, 1, "participant-left");
    assert_string_equal(str(pl, "participant_id"), ada_id);
    assert_string_equal(str(pl, "reason"), "left");
    drain(f, 1);
    pl_sig_disconnect(f->sig, 1, f->now);
    pl_sig_stats st;
    pl_sig_stats_get(f->sig, &st);
    assert_int_equal(st.rooms, 0);
    assert_int_equal(st.participants, 0);
    fx_free(f);
}

static void test_disconnect_is_announced(void **state)
{
    (void)state;
    fx *f = fx_new();
    hello(f, 0, "Ada");
    hello(f, 1, "Grace");
    say(f, 0, "{\"type\":\"join\",\"room\":\"r\"}");
    say(f, 1, "{\"type\":\"join\",\"room\":\"r\"}");
    drain(f, 0);
    pl_sig_disconnect(f->sig, 1, f->now);
    assert_string_equal(str(got(f, 0, "participant-left"), "reason"), "disconnected");
    /* Joining another room leaves the first. */
    hello(f, 2, "Linus");
    say(f, 2, "{\"type\":\"join\",\"room\":\"r\"}");
    drain(f, 0);
    say(f, 2, "{\"type\":\"join\",\"room\":\"other\"}");
    assert_string_equal(str(got(f, 0, "participant-left"), "reason"), "left");
    pl_sig_stats st;
    pl_sig_stats_get(f->sig, &st);
    assert_int_equal(st.rooms, 2);
    fx_free(f);
}

static void test_bad_input(void **state)
{
    (void)state;
    fx *f = fx_new();
    pl_sig_connect(f->sig, 0);
    say(f, 0, "{\"type\":\"join\",\"room\":\"r\",\"id\":3}");
    expect_error(f, 0, "unauthorized");
    say(f, 0, "{not json");
    expect_error(f, 0, "bad_request");
    say(f, 0, "[1,2]");
    expect_error(f, 0, "bad_request");
    say(f, 0, "{\"type\":5}");
    expect_error(f, 0, "bad_request");
    say(f, 0, "{\"type\":\"hello\",\"name\":\"\"}");
    expect_error(f, 0, "bad_request");
    say(f, 0, "{\"type\":\"hello\",\"name\":\"tab\\there\"}");
    expect_error(f, 0, "bad_request");
    say(f, 0, "{\"type\":\"hello\",\"name\":\"x\",\"name\":\"y\"}"); /* duplicate keys */
    expect_error(f, 0, "bad_request");
    say(f, 0, "{\"type\":\"hello\",\"name\":\"\xff\xfe\"}"); /* invalid UTF-8 */
    expect_error(f, 0, "bad_request");
    say(f, 0, "{\"type\":\"hello\",\"name\":\"Ada\"}");
    assert_non_null(got(f, 0, "welcome"));
    drain(f, 0);
    say(f, 0, "{\"type\":\"hello\",\"name\":\"Ada\"}");
    expect_error(f, 0, "bad_request");
    say(f, 0, "{\"type\":\"teleport\",\"id\":\"x\"}");
    json_t *e = got(f, 0, "error");
    assert_string_equal(str(e, "re"), "x");
    drain(f, 0);
    const char *rooms[] = {"", "has space", "slash/", "a\\u00e9"};
    for (size_t i = 0; i < 4; i++) {
        char m[128];
        snprintf(m, sizeof(m), "{\"type\":\"join\",\"room\":\"%s\"}", rooms[i]);
        say(f, 0, m);
        expect_error(f, 0, "bad_request");
    }
    static char big[70000];
    memset(big, 'x', sizeof(big));
    pl_sig_handle_text(f->sig, 0, f->now, big, sizeof(big));
    expect_error(f, 0, "bad_request");
    pl_sig_handle_bad_frame(f->sig, 0, "binary frames are not accepted");
    expect_error(f, 0, "bad_request");
    say(f, 0, "{\"type\":\"chat\",\"text\":\"hi\"}");
    expect_error(f, 0, "not_found");
    say(f, 0, "{\"type\":\"leave\"}");
    expect_error(f, 0, "not_found");
    assert_int_equal(f->b.closed[0], 0);
    /* Persisting in garbage gets the connection closed with 1008. */
    for (int i = 0; i < PL_SIG_MAX_STRIKES; i++)
        say(f, 0, "garbage");
    assert_int_equal(f->b.closed[0], 1008);
    fx_free(f);
}

/* Sends {type, sdp} with the SDP text escaped by jansson. */
static void say_sdp(fx *f, int c, const char *type, const char *sdp)
{
    json_t *m = json_pack("{s:s,s:s}", "type", type, "sdp", sdp);
    char *text = json_dumps(m, JSON_COMPACT);
    say(f, c, text);
    free(text);
    json_decref(m);
}

/* A copy of `sdp` with every `a=ice-ufrag:<from>` made `a=ice-ufrag:<to>`
 * (same length). */
static char *with_ufrag(const char *sdp, const char *from, const char *to)
{
    char *out = strdup(sdp);
    char pat[64];
    snprintf(pat, sizeof(pat), "a=ice-ufrag:%s", from);
    for (char *p = strstr(out, pat); p; p = strstr(p + 1, pat))
        memcpy(p + strlen("a=ice-ufrag:"), to, strlen(to));
    return out;
}

static const char *offer_ufrag(json_t *m, char *out, size_t cap)
{
    const char *p = strstr(str(m, "sdp"), "a=ice-ufrag:");
    assert_non_null(p);
    p += strlen("a=ice-ufrag:");
    size_t n = strcspn(p, "\r\n");
    snprintf(out, cap, "%.*s", (int)n, p);
    return out;
}

/* ICE restarts (a publish offer with new credentials; every resume for the
 * subscribe transport) and transports the workers closed for lost consent. */
static void test_ice_restart_and_failed_transports(void **state)
{
    (void)state;
    fx *f = fx_new_with_media();
    char *offer = fixture("sdp/chromium156-publish-offer.sdp");
    char *answer = fixture("sdp/chromium156-answer-to-parley-offer.sdp");
    hello(f, 0, "Ada");
    hello(f, 1, "Bob");
    char token[40];
    snprintf(token, sizeof(token), "%s", str(got(f, 1, "welcome"), "resume_token"));
    say(f, 0, "{\"type\":\"join\",\"room\":\"r\"}");
    say(f, 1, "{\"type\":\"join\",\"room\":\"r\"}");
    say_sdp(f, 0, "publish", offer);
    assert_non_null(got(f, 0, "publish-answer"));
    assert_int_equal(f->media.adds, 1);
    uint64_t ada_pub = f->media.last_id;
    /* What the relay forwards, from the accepted offer. */
    assert_int_equal(f->media.tracks_of, ada_pub);
    assert_int_equal(f->media.n_tracks, 2);
    const pl_track *audio = &f->media.tracks[0], *video = &f->media.tracks[1];
    assert_string_equal(audio->mid, "0");
    assert_false(audio->video);
    assert_int_equal(audio->ssrc, 920970194u);
    assert_int_equal(audio->audio_level_ext, 1);
    assert_int_equal(audio->mid_ext, 4);
    assert_int_equal(audio->pt, 111);
    assert_string_equal(video->mid, "1");
    assert_true(video->video);
    assert_int_equal(video->ssrc, 3385831920u);
    assert_int_equal(video->rtx_ssrc, 4255421729u);
    assert_int_equal(video->mid_ext, 4);
    assert_int_equal(video->twcc_ext, 3); /* transport-cc, the same on every track */
    assert_int_equal(audio->twcc_ext, 3);
    assert_int_equal(video->audio_level_ext, 0);
    assert_true(video->nack);
    assert_false(video->remb); /* it has transport-wide feedback */
    assert_true(video->rtx_pt > 0);
    char first[PL_ICE_CRED_MAX + 1], ufrag[PL_ICE_CRED_MAX + 1];
    snprintf(first, sizeof(first), "%s", f->media.local_ufrag);
    /* The same credentials again: a renegotiation, not a restart. */
    say_sdp(f, 0, "publish", offer);
    assert_int_equal(f->media.restarts, 0);
    char *restarted = with_ufrag(offer, "+lcj", "n3wU");
    drain(f, 0);
    say_sdp(f, 0, "publish", restarted);
    json_t *pa = got(f, 0, "publish-answer");
    assert_non_null(pa);
    assert_int_equal(f->media.restarts, 1);
    assert_int_equal(f->media.last_id, ada_pub);
    assert_string_equal(f->media.remote_ufrag, "n3wU");
    assert_string_not_equal(f->media.local_ufrag, first);
    assert_string_equal(offer_ufrag(pa, ufrag, sizeof(ufrag)), f->media.local_ufrag);

    /* Bob subscribes, loses his connection, resumes: the fresh offer has
     * new credentials and his answer restarts the worker's transport. */
    json_t *so = got(f, 1, "subscribe-offer");
    assert_non_null(so);
    char sub_first[PL_ICE_CRED_MAX + 1];
    offer_ufrag(so, sub_first, sizeof(sub_first));
    int before = f->media.adds;
    say_sdp(f, 1, "subscribe-answer", answer);
    assert_int_equal(f->media.adds, before + 1);
    uint64_t bob_sub = f->media.last_id;
    /* Bob receives both of Ada's tracks under his own SSRCs; his answer
     * took RTX for the video. */
    assert_int_equal(f->media.routes_of, bob_sub);
    assert_int_equal(f->media.n_routes, 2);
    for (size_t i = 0; i < 2; i++) {
        const pl_route *r = &f->media.routes[i];
        assert_int_equal(r->publisher, ada_pub);
        assert_string_equal(r->mid, i == 0 ? "0" : "1");
        assert_true(r->out_ssrc != 0);
        assert_false(r->paused);
        assert_int_equal(r->out_rtx_ssrc != 0, i == 1);
        assert_int_equal(r->out_rtx_pt, i == 1 ? 97 : 0);
    }
    pl_sig_drop(f->sig, 1, f->now);
    assert_int_equal(pl_sig_connect(f->sig, 5), 0);
    char resume[128];
    snprintf(resume, sizeof(resume), "{\"type\":\"hello\",\"name\":\"Bob\",\"resume\":\"%s\"}",
             token);
    say(f, 5, resume);
    so = got(f, 5, "subscribe-offer");
    assert_non_null(so);
    assert_string_not_equal(offer_ufrag(so, ufrag, sizeof(ufrag)), sub_first);
    say_sdp(f, 5, "subscribe-answer", answer);
    assert_int_equal(f->media.restarts, 2);
    assert_int_equal(f->media.last_id, bob_sub);
    assert_string_equal(f->media.local_ufrag, ufrag);

    /* Ada's publish transport loses consent: her tracks go, Bob's offer
     * turns their sections inactive. The reason is logged with her
     * participant and counted. */
    drain(f, 5);
    f->log[0] = '\0';
    pl_sig_transport_failed(f->sig, ada_pub, PL_FAILURE_CONSENT);
    assert_non_null(strstr(f->log, "publish"));
    assert_non_null(strstr(f->log, "(consent)"));
    pl_sig_stats st;
    pl_sig_stats_get(f->sig, &st);
    assert_int_equal(st.transports_failed_by[PL_FAILURE_CONSENT], 1);
    assert_non_null(got(f, 5, "track-unpublished"));
    so = got(f, 5, "subscribe-offer");
    assert_non_null(so);
    assert_null(strstr(str(so, "sdp"), "a=sendonly"));
    say_sdp(f, 5, "subscribe-answer", answer);
    /* Bob's subscribe transport fails: a new one is offered (new
     * credentials) and added once he answers. */
    drain(f, 5);
    int adds = f->media.adds;
    f->log[0] = '\0';
    pl_sig_transport_failed(f->sig, bob_sub, PL_FAILURE_DTLS_TIMEOUT);
    assert_non_null(strstr(f->log, "subscribe"));
    assert_non_null(strstr(f->log, "(dtls_timeout)"));
    so = got(f, 5, "subscribe-offer");
    assert_non_null(so);
    say_sdp(f, 5, "subscribe-answer", answer);
    assert_int_equal(f->media.adds, adds + 1);
    assert_true(f->media.last_id != bob_sub);
    /* Unknown transports change nothing, but their failures count: the
     * worker saw them. Each reason has its own counter. */
    pl_sig_transport_failed(f->sig, 999, PL_FAILURE_NO_CHECK);
    pl_sig_transport_failed(f->sig, 998, PL_FAILURE_COUNT); /* out of range: none */
    pl_sig_stats_get(f->sig, &st);
    assert_int_equal(st.transports_failed_by[PL_FAILURE_CONSENT], 1);
    assert_int_equal(st.transports_failed_by[PL_FAILURE_DTLS_TIMEOUT], 1);
    assert_int_equal(st.transports_failed_by[PL_FAILURE_NO_CHECK], 1);
    assert_int_equal(st.transports_failed_by[PL_FAILURE_NONE], 1);
    assert_int_equal(st.transports_failed_by[PL_FAILURE_FINGERPRINT], 0);
    free(restarted);
    free(offer);
    free(answer);
    fx_free(f);
}

/* Whether the SSRC is named in the last subscribe offer a connection got. */
static bool offered(fx *f, int c, uint32_t ssrc)
{
    char line[32];
    snprintf(line, sizeof(line), "a=ssrc:%u ", ssrc);
    return strstr(str(got(f, c, "subscribe-offer"), "sdp"), line) != NULL;
}

/* Routes of Bob's subscribe transport from this publisher. */
static size_t routes_from(const fx *f, uint64_t publisher)
{
    size_t n = 0;
    for (size_t i = 0; i < f->media.n_routes; i++)
        n += f->media.routes[i].publisher == publisher;
    return n;
}

/* An answer sets the routes its offer named, never a track given to a
 * section after that offer went out (a new one, or an ended one's section
 * reused): its packets would reach the subscriber before any offer
 * announced their SSRC. The next offer brings it. */
static void test_an_answer_routes_what_its_offer_named(void **state)
{
    (void)state;
    fx *f = fx_new_with_media();
    char *offer = fixture("sdp/chromium156-publish-offer.sdp");
    char *answer = fixture("sdp/chromium156-answer-to-parley-offer.sdp");
    hello(f, 0, "Ada");
    hello(f, 1, "Bob");
    hello(f, 2, "Cleo");
    hello(f, 3, "Dan");
    say(f, 0, "{\"type\":\"join\",\"room\":\"r\"}");
    say(f, 1, "{\"type\":\"join\",\"room\":\"r\"}");
    say_sdp(f, 0, "publish", offer);
    uint64_t ada_pub = f->media.last_id;
    assert_non_null(got(f, 1, "subscribe-offer"));
    /* Cleo publishes while Bob's offer of Ada's tracks is out. */
    say(f, 2, "{\"type\":\"join\",\"room\":\"r\"}");
    say_sdp(f, 2, "publish", offer);
    uint64_t cleo_pub = f->media.last_id;
    drain(f, 1);
    say_sdp(f, 1, "subscribe-answer", answer);
    assert_int_equal(f->media.n_routes, 2);
    assert_int_equal(routes_from(f, ada_pub), 2);
    uint64_t bob_sub = f->media.routes_of;
    /* Cleo's tracks come with the next offer, and are routed once it is
     * answered. */
    json_t *so = got(f, 1, "subscribe-offer");
    assert_non_null(so);
    say_sdp(f, 1, "subscribe-answer", answer);
    assert_int_equal(f->media.routes_of, bob_sub);
    assert_int_equal(f->media.n_routes, 4);
    assert_int_equal(routes_from(f, cleo_pub), 2);
    /* Cleo leaves; Dan publishes while the offer that ends her tracks is
     * out, and his tracks take her sections. The answer routes Ada's only. */
    drain(f, 1);
    say(f, 2, "{\"type\":\"leave\"}");
    assert_non_null(got(f, 1, "subscribe-offer"));
    say(f, 3, "{\"type\":\"join\",\"room\":\"r\"}");
    say_sdp(f, 3, "publish", offer);
    uint64_t dan_pub = f->media.last_id;
    drain(f, 1);
    say_sdp(f, 1, "subscribe-answer", answer);
    assert_int_equal(f->media.n_routes, 2);
    assert_int_equal(routes_from(f, ada_pub), 2);
    so = got(f, 1, "subscribe-offer");
    assert_non_null(so);
    say_sdp(f, 1, "subscribe-answer", answer);
    assert_int_equal(f->media.n_routes, 4);
    assert_int_equal(routes_from(f, dan_pub), 2);
    for (size_t i = 0; i < f->media.n_routes; i++)
        assert_true(offered(f, 1, f->media.routes[i].out_ssrc));
    free(offer);
    free(answer);
    fx_free(f);
}

/* A simulcast publisher's layers reach the relay by rid, with the RID and
 * repaired-RID extension ids, and a subscriber's tile size reaches its
 * route (`subscription`). */
static void test_simulcast_layers_and_tile_size(void **state)
{
    (void)state;
    fx *f = fx_new_with_media();
    char *offer = fixture("sdp/chromium156-simulcast-offer.sdp");
    char *answer = fixture("sdp/chromium156-answer-to-parley-offer.sdp");
    hello(f, 0, "Ada");
    char ada_token[40];
    snprintf(ada_token, sizeof(ada_token), "%s", str(got(f, 0, "welcome"), "resume_token"));
    hello(f, 1, "Bob");
    say(f, 0, "{\"type\":\"join\",\"room\":\"r\"}");
    say(f, 1, "{\"type\":\"join\",\"room\":\"r\"}");
    say_sdp(f, 0, "publish", offer);
    json_t *pa = got(f, 0, "publish-answer");
    assert_non_null(pa);
    assert_non_null(strstr(str(pa, "sdp"), "a=simulcast:recv q;h;f\r\n"));
    assert_int_equal(f->media.n_tracks, 2);
    const pl_track *audio = &f->media.tracks[0], *video = &f->media.tracks[1];
    assert_int_equal(audio->n_layers, 0);
    assert_int_equal(video->n_layers, 3);
    assert_string_equal(video->layers[0].rid, "q");
    assert_string_equal(video->layers[1].rid, "h");
    assert_string_equal(video->layers[2].rid, "f");
    assert_int_equal(video->layers[0].ssrc, 0); /* learned from the RID extension */
    assert_int_equal(video->rid_ext, 10);
    assert_int_equal(video->rrid_ext, 11);
    assert_int_equal(video->mid_ext, 4);
    assert_true(video->dynacast); /* on unless the server says --no-dynacast */

    /* Dynacast: the relay asks Ada to send q and f of her camera; she is
     * told by rid, with the track id she was given. Other transports and
     * mids, and her audio track (no layers), tell nobody anything. */
    json_t *tracks = json_object_get(pa, "tracks");
    const char *cam_id = NULL;
    const char *pmid;
    json_t *pt;
    json_object_foreach(tracks, pmid, pt) if (strcmp(pmid, video->mid) == 0) cam_id =
        str(pt, "track_id");
    assert_non_null(cam_id);
    char cam[64];
    snprintf(cam, sizeof(cam), "%s", cam_id);
    uint64_t ada_pub = f->media.tracks_of;
    drain(f, 0);
    pl_sig_publisher_layers(f->sig, ada_pub, video->mid, 0x5);
    json_t *pl = got(f, 0, "publish-layers");
    assert_non_null(pl);
    assert_string_equal(str(pl, "track_id"), cam);
    json_t *active = json_object_get(pl, "active");
    assert_int_equal(json_array_size(active), 2);
    assert_string_equal(json_string_value(json_array_get(active, 0)), "q");
    assert_string_equal(json_string_value(json_array_get(active, 1)), "f");
    assert_null(got(f, 1, "publish-layers"));
    drain(f, 0);
    pl_sig_publisher_layers(f->sig, 12345, video->mid, 0x1);
    pl_sig_publisher_layers(f->sig, ada_pub, "nope", 0x1);
    pl_sig_publisher_layers(f->sig, ada_pub, audio->mid, 0x1);
    assert_null(got(f, 0, "publish-layers"));
    /* Said again when Ada's session resumes on a new connection: she may
     * have missed it. */
    char token[40];
    drain(f, 0);
    pl_sig_drop(f->sig, 0, f->now);
    pl_sig_publisher_layers(f->sig, ada_pub, video->mid, 0x1); /* while she is away */
    assert_int_equal(pl_sig_connect(f->sig, 6), 0);
    snprintf(token, sizeof(token), "%s", ada_token);
    char resume[128];
    snprintf(resume, sizeof(resume), "{\"type\":\"hello\",\"name\":\"Ada\",\"resume\":\"%s\"}",
             token);
    say(f, 6, resume);
    pl = got(f, 6, "publish-layers");
    assert_non_null(pl);
    assert_string_equal(str(pl, "track_id"), cam);
    assert_int_equal(json_array_size(json_object_get(pl, "active")), 1);

    json_t *so = got(f, 1, "subscribe-offer");
    assert_non_null(so);
    say_sdp(f, 1, "subscribe-answer", answer);
    assert_int_equal(f->media.n_routes, 2);
    assert_int_equal(f->media.routes[1].max_width, 0); /* no size yet: the largest layer */
    char video_id[64] = "";
    const char *mid;
    json_t *t;
    json_object_foreach(json_object_get(so, "tracks"), mid,
                        t) if (strcmp(str(t, "kind"), "video") == 0)
        snprintf(video_id, sizeof(video_id), "%s", str(t, "track_id"));
    assert_true(video_id[0] != '\0');
    char msg[256];
    snprintf(msg, sizeof(msg),
             "{\"type\":\"subscription\",\"track_id\":\"%s\",\"max_width\":320,"
             "\"max_height\":180,\"id\":7}",
             video_id);
    say(f, 1, msg);
    assert_non_null(got(f, 1, "ok"));
    assert_int_equal(f->media.routes[1].max_width, 320);
    assert_int_equal(f->media.routes[1].max_height, 180);
    assert_false(f->media.routes[1].paused);
    snprintf(msg, sizeof(msg), "{\"type\":\"subscription\",\"track_id\":\"%s\",\"paused\":true}",
             video_id);
    say(f, 1, msg);
    assert_true(f->media.routes[1].paused);
    assert_int_equal(f->media.routes[1].max_width, 320); /* the size stays for the resume */
    /* The answer kept the offered transport-wide extension id. */
    assert_int_equal(f->media.routes[0].twcc_ext, 3);
    assert_int_equal(f->media.routes[1].twcc_ext, 3);

    /* The relay pauses the video for Bob's downlink, says it once, and
     * says when it resumes; unknown routes and transports change nothing. */
    uint64_t bob_sub = f->media.routes_of;
    uint32_t video_ssrc = f->media.routes[1].out_ssrc;
    drain(f, 1);
    pl_sig_video_paused(f->sig, bob_sub, video_ssrc, true);
    json_t *vp = got(f, 1, "video-paused");
    assert_non_null(vp);
    assert_string_equal(str(vp, "track_id"), video_id);
    assert_true(json_is_true(json_object_get(vp, "paused")));
    assert_string_equal(str(vp, "reason"), "bandwidth");
    drain(f, 1);
    pl_sig_video_paused(f->sig, bob_sub, video_ssrc, true);
    pl_sig_video_paused(f->sig, bob_sub, video_ssrc + 2, true);
    pl_sig_video_paused(f->sig, 12345, video_ssrc, false);
    assert_null(got(f, 1, "video-paused"));
    pl_sig_video_paused(f->sig, bob_sub, video_ssrc, false);
    vp = got(f, 1, "video-paused");
    assert_non_null(vp);
    assert_true(json_is_false(json_object_get(vp, "paused")));
    free(offer);
    free(answer);
    fx_free(f);
}

static size_t sent_total(const fx *f)
{
    size_t n = 0;
    for (int c = 0; c < MAXC; c++)
        n += f->b.n[c];
    return n;
}

static void drain_all(fx *f)
{
    for (int c = 0; c < MAXC; c++)
        drain(f, c);
}

static pl_sig_stats stats(const fx *f)
{
    pl_sig_stats st;
    pl_sig_stats_get(f->sig, &st);
    return st;
}

/* Every report of the media workers reaches the core: a transport up is
 * recorded; one closed by its client is counted and logged, and waits for
 * its consent to run out (its owner may be leaving); one that failed, or
 * one a worker refused a command for, is closed (docs/protocol.md:
 * transport-closed); a
 * report for a transport the core removed itself, or never had, changes
 * nothing. A publish renegotiation does not add the transport again (the
 * worker would refuse the duplicate). */
static void test_worker_reports(void **state)
{
    (void)state;
    fx *f = fx_new_with_media();
    char *offer = fixture("sdp/chromium156-publish-offer.sdp");
    char *answer = fixture("sdp/chromium156-answer-to-parley-offer.sdp");
    hello(f, 1, "Ada");
    hello(f, 2, "Bob");
    hello(f, 3, "Cy");
    say(f, 1, "{\"type\":\"join\",\"room\":\"r\"}");
    char ada[32], bob[32];
    snprintf(ada, sizeof(ada), "%s",
             str(json_object_get(got(f, 1, "joined"), "participant"), "id"));
    say(f, 2, "{\"type\":\"join\",\"room\":\"r\"}");
    snprintf(bob, sizeof(bob), "%s",
             str(json_object_get(got(f, 2, "joined"), "participant"), "id"));
    say_sdp(f, 1, "publish", offer);
    uint64_t ada_pub = f->media.last_id;
    say_sdp(f, 1, "publish", offer);
    assert_non_null(got(f, 1, "publish-answer"));
    assert_int_equal(f->media.adds, 1);
    assert_int_equal(f->media.restarts, 0);
    say_sdp(f, 2, "subscribe-answer", answer);
    assert_int_equal(f->media.adds, 2);
    uint64_t bob_sub = f->media.last_id;

    pl_sig_transport_connected(f->sig, ada_pub);
    pl_sig_transport_connected(f->sig, bob_sub);
    pl_sig_transport_connected(f->sig, 999);
    assert_int_equal(stats(f).transports_connected, 2);

    /* Cy publishes and leaves: the core removed her transport, so the
     * worker's report of its close, on its way meanwhile, is nothing. */
    say(f, 3, "{\"type\":\"join\",\"room\":\"r\"}");
    say_sdp(f, 3, "publish", offer);
    uint64_t cy_pub = f->media.last_id;
    say(f, 3, "{\"type\":\"leave\"}");
    int removes = f->media.removes;
    drain_all(f);
    pl_sig_transport_closed(f->sig, cy_pub);
    pl_sig_transport_failed(f->sig, cy_pub, PL_FAILURE_CONSENT);
    pl_sig_command_refused(f->sig, cy_pub, PL_ENOTFOUND); /* counted and logged only */
    assert_int_equal(sent_total(f), 0);
    assert_int_equal(f->media.removes, removes);
    assert_int_equal(stats(f).transports_closed, 0);
    assert_int_equal(stats(f).commands_refused, 1);

    /* Ada's browser closes its publish transport: counted and logged, no
     * more; when its consent has run out, the worker's failure report
     * closes it. */
    f->log[0] = '\0';
    pl_sig_transport_closed(f->sig, ada_pub);
    assert_int_equal(sent_total(f), 0);
    assert_int_equal(f->media.removes, removes);
    assert_int_equal(stats(f).transports_closed, 1);
    assert_non_null(strstr(f->log, ada));
    pl_sig_transport_failed(f->sig, ada_pub, PL_FAILURE_CONSENT);
    assert_string_equal(str(got(f, 1, "transport-closed"), "transport"), "publish");
    assert_non_null(got(f, 2, "track-unpublished"));
    assert_int_equal(f->media.removes, removes + 1);
    /* Her next publish makes a new transport. */
    say_sdp(f, 1, "publish", offer);
    assert_int_equal(f->media.adds, 4);
    assert_true(f->media.last_id != ada_pub);
    assert_non_null(got(f, 2, "track-published"));
    /* The new one speaks for her; the closed one no longer does. */
    uint64_t ada_pub2 = f->media.last_id;
    drain_all(f);
    pl_sig_speaking(f->sig, ada_pub, true, 20);
    pl_sig_speaking(f->sig, bob_sub, true, 20);
    assert_int_equal(sent_total(f), 0);
    pl_sig_speaking(f->sig, ada_pub2, true, 20);
    json_t *active = json_object_get(got(f, 2, "speakers"), "active");
    assert_int_equal(json_array_size(active), 1);
    assert_string_equal(json_string_value(json_array_get(active, 0)), ada);

    /* A worker refuses a command for Bob's subscribe transport: logged with
     * his participant, closed, and a new one offered at once. */
    drain_all(f);
    f->log[0] = '\0';
    pl_sig_command_refused(f->sig, bob_sub, PL_EINVAL);
    assert_string_equal(str(got(f, 2, "transport-closed"), "transport"), "subscribe");
    assert_non_null(got(f, 2, "subscribe-offer"));
    assert_non_null(strstr(f->log, bob));
    assert_non_null(strstr(f->log, "subscribe"));
    assert_int_equal(stats(f).commands_refused, 2);
    say_sdp(f, 2, "subscribe-answer", answer);
    assert_true(f->media.last_id != bob_sub);

    /* For a transport nobody has: only logged. A late failure report for
     * the replaced transport is nothing either. */
    drain_all(f);
    f->log[0] = '\0';
    pl_sig_command_refused(f->sig, 4242, PL_ENOTFOUND);
    assert_non_null(strstr(f->log, "4242"));
    pl_sig_transport_failed(f->sig, bob_sub, PL_FAILURE_FINGERPRINT);
    assert_non_null(strstr(f->log, "(fingerprint)"));
    assert_int_equal(sent_total(f), 0);
    assert_int_equal(stats(f).commands_refused, 3);
    assert_int_equal(stats(f).transports_failed_by[PL_FAILURE_FINGERPRINT], 1);
    assert_int_equal(stats(f).transports_failed_by[PL_FAILURE_CONSENT], 2); /* Cy's, Ada's */
    free(offer);
    free(answer);
    fx_free(f);
}

static void count_send(void *user, uint64_t conn, const char *json, size_t len)
{
    (void)conn, (void)json, (void)len;
    (*(size_t *)user)++;
}

static void ignore_close(void *user, uint64_t conn, int code, const char *reason)
{
    (void)user, (void)conn, (void)code, (void)reason;
}

/* Many connections with scattered ids, in and out of rooms, some
 * lost and waiting to resume: every connection is still found by its id
 * after others went (the table moves entries on removal), and the counts
 * follow. */
static void test_many_connections(void **state)
{
    (void)state;
    uint64_t rs;
    pl_env env = pl_env_seeded(&rs, 9);
    size_t sent = 0;
    pl_sig_io io = {.user = &sent, .send = count_send, .close = ignore_close};
    pl_sig *sig = pl_sig_create(&env, &io, NULL);
    pl_sig_time now = {.mono_ms = 1, .wall_ms = 1700000000000LL};
    enum { N = 903, USERS = 301 }; /* 301 = 1 mod 3: one device of each user joins */
    for (uint64_t i = 0; i < N; i++)
        assert_int_equal(pl_sig_connect(sig, i * 7919 + 1), PL_OK);
    assert_int_equal(pl_sig_connect(sig, 7919 * 5 + 1), PL_EINVAL);
    for (uint64_t i = 0; i < N; i++) {
        char m[128];
        snprintf(m, sizeof(m), "{\"type\":\"hello\",\"name\":\"u%u\"}", (unsigned)(i % USERS));
        pl_sig_handle_text(sig, i * 7919 + 1, now, m, strlen(m));
        snprintf(m, sizeof(m), "{\"type\":\"join\",\"room\":\"r%u\"}", (unsigned)(i % 20));
        if (i % 3 == 0)
            pl_sig_handle_text(sig, i * 7919 + 1, now, m, strlen(m));
    }
    pl_sig_stats st;
    pl_sig_stats_get(sig, &st);
    assert_int_equal(st.connections, N);
    assert_int_equal(st.users_online, USERS);
    /* A user is in one room at a time: its later devices took it along. */
    assert_int_equal(st.participants, USERS);
    assert_int_equal(st.rooms, 20);
    for (uint64_t i = 0; i < N; i += 2)
        pl_sig_disconnect(sig, i * 7919 + 1, now);
    for (uint64_t i = 1; i < N; i += 4)
        pl_sig_drop(sig, i * 7919 + 1, now);
    pl_sig_stats_get(sig, &st);
    size_t in_room = 0; /* odd i with i % 3 == 0 and i % 4 == 1 were kept, detached */
    for (uint64_t i = 1; i < N; i += 4)
        in_room += i % 3 == 0;
    assert_int_equal(st.detached, in_room);
    size_t left = 0;
    for (uint64_t i = 3; i < N; i += 4)
        left++;
    assert_int_equal(st.connections, left);
    /* Every connection left is found by its id: a bad frame is answered. */
    for (uint64_t i = 3; i < N; i += 4) {
        size_t before = sent;
        pl_sig_handle_bad_frame(sig, i * 7919 + 1, "binary frames are not accepted");
        assert_int_equal(sent, before + 1);
    }
    for (uint64_t i = 0; i < N; i += 2) {
        size_t before = sent;
        pl_sig_handle_bad_frame(sig, i * 7919 + 1, "gone");
        assert_int_equal(sent, before);
    }
    now.mono_ms += PL_SIG_DEFAULT_GRACE_MS;
    pl_sig_tick(sig, now);
    for (uint64_t i = 3; i < N; i += 4)
        pl_sig_disconnect(sig, i * 7919 + 1, now);
    pl_sig_stats_get(sig, &st);
    assert_int_equal(st.connections, 0);
    assert_int_equal(st.detached, 0);
    assert_int_equal(st.users_online, 0);
    assert_int_equal(st.participants, 0);
    assert_int_equal(st.rooms, 0);
    assert_int_equal(st.timed_out, in_room);
    pl_sig_destroy(sig);
}

/* Raising a hand: the room hears it, a late joiner finds it in `joined`,
 * and leaving the room lowers it. */
static void test_raised_hand(void **state)
{
    (void)state;
    fx *f = fx_new();
    hello(f, 0, "Ada");
    hello(f, 1, "Grace");
    say(f, 0, "{\"type\":\"hand\",\"raised\":true,\"id\":1}");
    assert_string_equal(str(got(f, 0, "error"), "code"), "not_found");
    say(f, 0, "{\"type\":\"join\",\"room\":\"r\"}");
    char ada_id[32];
    snprintf(ada_id, sizeof(ada_id), "%s",
             str(json_object_get(got(f, 0, "joined"), "participant"), "id"));
    say(f, 1, "{\"type\":\"join\",\"room\":\"r\"}");
    json_t *p = json_array_get(json_object_get(got(f, 1, "joined"), "participants"), 0);
    assert_false(json_is_true(json_object_get(p, "hand_raised")));
    drain(f, 0);
    drain(f, 1);
    say(f, 0, "{\"type\":\"hand\",\"raised\":\"yes\",\"id\":2}");
    assert_string_equal(str(got(f, 0, "error"), "code"), "bad_request");
    assert_null(got(f, 1, "hand"));
    drain(f, 0);
    say(f, 0, "{\"type\":\"hand\",\"raised\":true,\"id\":3}");
    assert_int_equal(json_integer_value(json_object_get(got(f, 0, "ok"), "re")), 3);
    json_t *h = got(f, 1, "hand");
    assert_non_null(h);
    assert_string_equal(str(h, "participant_id"), ada_id);
    assert_true(json_is_true(json_object_get(h, "raised")));
    assert_non_null(got(f, 0, "hand")); /* the sender too, like track-muted */
    /* A late joiner sees the raised hand in the room snapshot. */
    hello(f, 2, "Linus");
    say(f, 2, "{\"type\":\"join\",\"room\":\"r\"}");
    json_t *parts = json_object_get(got(f, 2, "joined"), "participants");
    int raised = 0;
    for (size_t i = 0; i < json_array_size(parts); i++)
        if (json_is_true(json_object_get(json_array_get(parts, i), "hand_raised"))) {
            assert_string_equal(str(json_array_get(parts, i), "id"), ada_id);
            raised++;
        }
    assert_int_equal(raised, 1);
    drain(f, 1);
    say(f, 0, "{\"type\":\"hand\",\"raised\":false}");
    assert_false(json_is_true(json_object_get(got(f, 1, "hand"), "raised")));
    /* Raised again, then a leave and a rejoin: the hand is down. */
    say(f, 0, "{\"type\":\"hand\",\"raised\":true}");
    say(f, 0, "{\"type\":\"leave\"}");
    say(f, 0, "{\"type\":\"join\",\"room\":\"r\"}");
    drain(f, 2);
    hello(f, 3, "Edsger");
    say(f, 3, "{\"type\":\"join\",\"room\":\"r\"}");
    parts = json_object_get(got(f, 3, "joined"), "participants");
    assert_int_equal(json_array_size(parts), 3);
    for (size_t i = 0; i < json_array_size(parts); i++)
        assert_false(json_is_true(json_object_get(json_array_get(parts, i), "hand_raised")));
    fx_free(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hello_and_presence),
        cmocka_unit_test(test_rooms_and_chat),
        cmocka_unit_test(test_raised_hand),
        cmocka_unit_test(test_disconnect_is_announced),
        cmocka_unit_test(test_bad_input),
        cmocka_unit_test(test_ice_restart_and_failed_transports),
        cmocka_unit_test(test_an_answer_routes_what_its_offer_named),
        cmocka_unit_test(test_simulcast_layers_and_tile_size),
        cmocka_unit_test(test_worker_reports),
        cmocka_unit_test(test_many_connections),
    };
    return cmocka_run_group_tests_name("signal", tests, NULL, NULL);
}
