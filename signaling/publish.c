/* The publish side of a participant: its offer, answered on a transport
 * of the room's worker; the accepted sections become its tracks, which
 * the relay forwards (pl_track) and the room is told about. */
#include "publish.h"
#include "record.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "out.h"
#include "reply.h"
#include "speakers.h"
#include "subscribe.h"
#include "tokens.h"

static json_t *track_json(const track *t)
{
    return json_pack("{s:s,s:s,s:s,s:b}", "track_id", t->id, "kind",
                     t->kind == PL_SDP_AUDIO ? "audio" : "video", "source", t->source, "muted",
                     t->muted);
}

json_t *sig_tracks_json(const conn *c)
{
    json_t *a = json_array();
    for (size_t i = 0; i < c->n_tracks; i++)
        json_array_append_new(a, track_json(&c->tracks[i]));
    return a;
}

static const char *source_for(json_t *sources, const char *mid, enum pl_sdp_kind kind)
{
    const char *v = json_string_value(json_object_get(sources, mid));
    if (v && (strcmp(v, "microphone") == 0 || strcmp(v, "camera") == 0 || strcmp(v, "screen") == 0))
        return v;
    return kind == PL_SDP_AUDIO ? "microphone" : "camera";
}

/* Whether a publisher's offer asks for this feedback on the payload type
 * (RFC 4585 "a=rtcp-fb:<pt> <value>", or "*"): generic NACK, REMB. */
static bool offers_fb(const pl_sdp_media *m, int pt, const char *value)
{
    for (size_t i = 0; i < m->n_fb; i++)
        if ((m->fb[i].pt == pt || m->fb[i].pt == -1) && strcmp(m->fb[i].value, value) == 0)
            return true;
    return false;
}

/* A negotiated header extension id (RFC 8285: 1-255), 0 when absent. */
static uint8_t ext_id(int id)
{
    return id > 0 && id < 256 ? (uint8_t)id : 0;
}

/* A simulcast section's layers: the relay learns their SSRCs from the RID
 * and repaired-RID header extensions, as browsers name none. */
static void set_layers(pl_track *t, const pl_sdp_accepted *a)
{
    if (!a->n_rids)
        return;
    t->rid_ext = ext_id(a->ext_rid);
    t->rrid_ext = ext_id(a->ext_rrid);
    for (size_t k = 0; k < a->n_rids && k < PL_MAX_LAYERS; k++)
        snprintf(t->layers[t->n_layers++].rid, sizeof(t->layers[0].rid), "%s", a->rids[k]);
    t->ssrc = t->rtx_ssrc = 0;
}

/* Each section the answer rejects is logged with its reason: a client
 * whose camera silently never arrives is otherwise hard to tell from one
 * whose network fails. */
static void log_rejected(pl_sig *s, const conn *c, const pl_sdp_accepted *acc)
{
    for (size_t i = 0; i < s->offer->n_media; i++)
        if (!acc[i].accepted && acc[i].why[0])
            pl_env_logf(&s->env, PL_LOG_WARN,
                        "signal: publish offer of participant %s: rejected %s", c->participant_id,
                        acc[i].why);
}

/* publish: the client's offer for its publish transport (protocol 3). */
void sig_on_publish(pl_sig *s, conn *c, json_t *msg, json_t *re)
{
    const char *sdp = json_string_value(json_object_get(msg, "sdp"));
    json_t *sources = json_object_get(msg, "sources");
    if (!c->room) {
        sig_error(s, c, re, "not_found", "join a room before publishing");
        return;
    }
    if (!c->can_publish) {
        sig_error(s, c, re, "forbidden", "your token does not allow publishing");
        return;
    }
    if (!sdp) {
        sig_error(s, c, re, "bad_request", "publish needs an sdp offer");
        return;
    }
    if (pl_sdp_parse(s->offer, sdp, strlen(sdp)) != PL_OK) {
        char why[160];
        snprintf(why, sizeof(why), "malformed SDP: %s", s->offer->error);
        sig_error(s, c, re, "bad_request", why);
        return;
    }
    if (!s->has_media) {
        sig_error(s, c, re, "internal", "this server has no media workers");
        return;
    }
    const pl_sdp_media *first = NULL;
    for (size_t i = 0; i < s->offer->n_media && !first; i++)
        if (s->offer->media[i].port != 0)
            first = &s->offer->media[i];
    if (!first || !first->ice_ufrag[0] || !first->ice_pwd[0] || !first->fp[0]) {
        sig_error(s, c, re, "bad_request", "the offer needs ICE credentials and a fingerprint");
        return;
    }
    bool created = false;
    uint16_t port = 0;
    if (!c->pub_transport) {
        sig_random_ice(&s->env, c->pub_ufrag, LOCAL_UFRAG_CHARS);
        sig_random_ice(&s->env, c->pub_pwd, LOCAL_PWD_CHARS);
        sig_conn_set_pub_transport(&s->m, c, ++s->next_transport);
        if (!c->pub_transport) {
            sig_error(s, c, re, "internal", "out of memory");
            return;
        }
        created = true;
        if (s->media.add_transport(s->media.user, c->room->name, c->pub_transport, c->pub_ufrag,
                                   c->pub_pwd, first->ice_ufrag, first->ice_pwd, first->fp_alg,
                                   first->fp, &port) != PL_OK) {
            sig_conn_set_pub_transport(&s->m, c, 0);
            sig_error(s, c, re, "internal", "no media worker could take the transport");
            return;
        }
    } else {
        /* Renegotiation keeps the transport (adding it again would be a
         * duplicate the worker refuses) and the room's worker its port. */
        port = s->media.port_for(s->media.user, c->room->name);
        if (strcmp(first->ice_ufrag, c->pub_remote_ufrag) != 0) {
            /* New client credentials on the same transport: an ICE restart
             * (RFC 8445 9), answered with new ones of ours. */
            sig_random_ice(&s->env, c->pub_ufrag, LOCAL_UFRAG_CHARS);
            sig_random_ice(&s->env, c->pub_pwd, LOCAL_PWD_CHARS);
            if (!s->media.restart_ice ||
                s->media.restart_ice(s->media.user, c->room->name, c->pub_transport, c->pub_ufrag,
                                     c->pub_pwd, first->ice_ufrag, first->ice_pwd) != PL_OK) {
                sig_error(s, c, re, "internal", "the media worker refused the ICE restart");
                return;
            }
        }
    }
    snprintf(c->pub_remote_ufrag, sizeof(c->pub_remote_ufrag), "%s", first->ice_ufrag);
    pl_sdp_local local = {.ice_ufrag = c->pub_ufrag,
                          .ice_pwd = c->pub_pwd,
                          .fp_alg = "sha-256",
                          .fp = s->media.fingerprint,
                          .address = s->media.announce_ip,
                          .port = port,
                          .tcp = s->media.ice_tcp,
                          .session_id = c->pub_transport,
                          .version = 1};
    pl_sdp_accepted *acc = s->acc;
    char *answer = malloc(SDP_OUT_MAX);
    const char *why = NULL;
    int n =
        answer ? pl_sdp_write_answer(s->offer, &local, answer, SDP_OUT_MAX, acc, &why) : PL_ENOMEM;
    if (answer)
        log_rejected(s, c, acc);
    if (n < 0) {
        free(answer);
        if (created) {
            s->media.remove_transport(s->media.user, c->room->name, c->pub_transport);
            sig_conn_set_pub_transport(&s->m, c, 0);
        }
        sig_error(s, c, re, n == PL_EUNSUPPORTED ? "bad_request" : "internal",
                  why ? why : "cannot answer this offer");
        return;
    }
    /* The offer's accepted sections are the tracks from now on. */
    track old[PL_MAX_TRACKS];
    size_t n_old = c->n_tracks;
    memcpy(old, c->tracks, sizeof(old));
    c->n_tracks = 0;
    json_t *tracks = json_object();
    pl_track media[PL_MAX_TRACKS];
    for (size_t i = 0; i < s->offer->n_media && c->n_tracks < PL_MAX_TRACKS; i++) {
        if (!acc[i].accepted || acc[i].offer_dir == PL_SDP_RECVONLY ||
            acc[i].offer_dir == PL_SDP_INACTIVE)
            continue;
        track *t = &c->tracks[c->n_tracks];
        memset(t, 0, sizeof(*t));
        t->kind = acc[i].kind;
        t->media = (pl_track){.ssrc = acc[i].ssrc,
                              .video = acc[i].kind == PL_SDP_VIDEO,
                              .audio_level_ext = ext_id(acc[i].ext_audio_level),
                              .mid_ext = ext_id(acc[i].ext_mid),
                              .twcc_ext = ext_id(acc[i].ext_twcc),
                              .pt = (uint8_t)acc[i].pt,
                              .rtx_pt = acc[i].rtx_pt > 0 ? (uint8_t)acc[i].rtx_pt : 0,
                              .rtx_ssrc = acc[i].rtx_pt > 0 ? acc[i].rtx_ssrc : 0,
                              .nack = offers_fb(&s->offer->media[i], acc[i].pt, "nack"),
                              .remb = acc[i].ext_twcc <= 0 &&
                                      offers_fb(&s->offer->media[i], acc[i].pt, "goog-remb")};
        snprintf(t->media.mid, sizeof(t->media.mid), "%s", acc[i].mid);
        set_layers(&t->media, &acc[i]);
        snprintf(t->id, sizeof(t->id), "%s-%s", c->participant_id, acc[i].mid);
        snprintf(t->source, sizeof(t->source), "%s", source_for(sources, acc[i].mid, t->kind));
        t->media.screen = strcmp(t->source, "screen") == 0;
        t->media.dynacast = s->dynacast;
        json_object_set_new(tracks, t->media.mid, json_pack("{s:s}", "track_id", t->id));
        media[c->n_tracks++] = t->media;
    }
    s->media.set_tracks(s->media.user, c->room->name, c->pub_transport, media, c->n_tracks);
    sig_record_member(s, c);
    json_t *m = sig_reply("publish-answer", re);
    json_object_set_new(m, "sdp", json_stringn(answer, (size_t)n));
    json_object_set_new(m, "tracks", tracks);
    free(answer);
    sig_send(s, c, m);
    /* Tell the room what changed. */
    for (size_t i = 0; i < c->n_tracks; i++) {
        bool known = false;
        for (size_t k = 0; k < n_old; k++) {
            if (strcmp(old[k].id, c->tracks[i].id) != 0)
                continue;
            known = true;
            /* The relay keeps a renegotiated track's dynacast state. */
            c->tracks[i].layers_told = old[k].layers_told;
            c->tracks[i].layers = old[k].layers;
        }
        if (!known)
            sig_send_room(s, c->room, c,
                          json_pack("{s:s,s:s,s:o}", "type", "track-published", "participant_id",
                                    c->participant_id, "track", track_json(&c->tracks[i])));
    }
    for (size_t k = 0; k < n_old; k++) {
        bool still = false;
        for (size_t i = 0; i < c->n_tracks; i++)
            still = still || strcmp(old[k].id, c->tracks[i].id) == 0;
        if (!still)
            sig_send_room(s, c->room, c,
                          json_pack("{s:s,s:s,s:s}", "type", "track-unpublished", "participant_id",
                                    c->participant_id, "track_id", old[k].id));
    }
    sig_subscriptions_refresh(s, c->room);
}

/* Takes the tracks off the room, as the worker's transport is gone. */
static void unpublish(pl_sig *s, conn *c)
{
    c->speaking = false;
    for (size_t i = 0; i < c->n_tracks; i++)
        sig_send_room(s, c->room, c,
                      json_pack("{s:s,s:s,s:s}", "type", "track-unpublished", "participant_id",
                                c->participant_id, "track_id", c->tracks[i].id));
    c->n_tracks = 0;
    sig_subscriptions_refresh(s, c->room);
    sig_speakers_announce(s, c->room);
}

void sig_publish_lost(pl_sig *s, conn *c)
{
    /* The browser keeps its DTLS association across an ICE restart, so a
     * new server transport needs a new peer connection: the client is
     * told, and its next publish makes one. */
    sig_send(s, c, json_pack("{s:s,s:s}", "type", "transport-closed", "transport", "publish"));
    s->media.remove_transport(s->media.user, c->room->name, c->pub_transport);
    sig_conn_set_pub_transport(&s->m, c, 0);
    c->pub_remote_ufrag[0] = '\0';
    unpublish(s, c);
}

void sig_publish_release(pl_sig *s, conn *c)
{
    if (c->pub_transport && s->has_media)
        s->media.remove_transport(s->media.user, c->room->name, c->pub_transport);
    sig_conn_set_pub_transport(&s->m, c, 0);
    c->speaking = false;
    c->pub_remote_ufrag[0] = '\0';
    c->n_tracks = 0;
}
