/* The subscribe side of a participant: one server-offered transport that
 * carries every track the others in its room publish. Slots follow the
 * room's tracks, a change is a new server offer (one outstanding at a
 * time), the answer adds the transport to the room's worker (or restarts
 * its ICE) and sets its routes. */
#include "subscribe.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "parley/rtp.h"

#include "out.h"
#include "reply.h"
#include "tokens.h"

void sig_subscribe_offer(pl_sig *s, conn *c)
{
    if (!s->has_media || c->offer_outstanding || !c->dirty || c->n_slots == 0 || !c->room)
        return;
    if (!c->sub_transport) {
        sig_random_ice(&s->env, c->sub_ufrag, LOCAL_UFRAG_CHARS);
        sig_random_ice(&s->env, c->sub_pwd, LOCAL_PWD_CHARS);
        sig_conn_set_sub_transport(&s->m, c, ++s->next_transport);
        if (!c->sub_transport)
            return; /* no memory for it: tried again with the next change */
    } else if (c->sub_ice_restart) {
        sig_random_ice(&s->env, c->sub_ufrag, LOCAL_UFRAG_CHARS);
        sig_random_ice(&s->env, c->sub_pwd, LOCAL_PWD_CHARS);
        c->sub_restart_pending = c->sub_added;
    }
    c->sub_ice_restart = false;
    pl_sdp_offer_section sec[PL_MAX_ROUTES];
    json_t *tracks = json_object();
    for (size_t i = 0; i < c->n_slots; i++) {
        slot *sl = &c->slots[i];
        sl->offer_ssrc = sl->active ? sl->route.out_ssrc : 0;
        sec[i] = (pl_sdp_offer_section){.mid = sl->mid,
                                        .kind = sl->kind,
                                        .active = sl->active,
                                        .stream_id = sl->participant_id,
                                        .track_id = sl->track_id,
                                        .cname = sl->participant_id,
                                        .ssrc = sl->route.out_ssrc,
                                        .rtx_ssrc = sl->offered_rtx_ssrc};
        if (sl->active)
            json_object_set_new(tracks, sl->mid,
                                json_pack("{s:s,s:s,s:s,s:s}", "track_id", sl->track_id,
                                          "participant_id", sl->participant_id, "kind",
                                          sl->kind == PL_SDP_AUDIO ? "audio" : "video", "source",
                                          sl->source));
    }
    pl_sdp_local local = {.ice_ufrag = c->sub_ufrag,
                          .ice_pwd = c->sub_pwd,
                          .fp_alg = "sha-256",
                          .fp = s->media.fingerprint,
                          .address = s->media.announce_ip,
                          .port = s->media.port_for(s->media.user, c->room->name),
                          .tcp = s->media.ice_tcp,
                          .session_id = c->sub_transport,
                          .version = ++c->sub_version};
    char *sdp = malloc(SDP_OUT_MAX);
    int n = sdp ? pl_sdp_write_offer(&local, sec, c->n_slots, sdp, SDP_OUT_MAX) : PL_ENOMEM;
    if (n < 0) {
        free(sdp);
        json_decref(tracks);
        return;
    }
    json_t *m = json_pack("{s:s,s:s%,s:o}", "type", "subscribe-offer", "sdp", sdp, (size_t)n,
                          "tracks", tracks);
    free(sdp);
    sig_send(s, c, m);
    c->offer_outstanding = true;
    c->dirty = false;
}

/* Brings every member's subscribe slots in line with the tracks the others
 * publish, and renegotiates where something changed. */
void sig_subscriptions_refresh(pl_sig *s, sig_room *r)
{
    for (conn *c = r->members; c; c = c->next_member) {
        if (!c->can_subscribe)
            continue;
        for (size_t i = 0; i < c->n_slots; i++) {
            slot *sl = &c->slots[i];
            bool wanted = false;
            for (conn *o = r->members; o && sl->active && !wanted; o = o->next_member)
                for (size_t k = 0; o != c && k < o->n_tracks; k++)
                    wanted = wanted || strcmp(o->tracks[k].id, sl->track_id) == 0;
            if (sl->active && !wanted) {
                sl->active = false;
                c->dirty = true;
            }
        }
        for (conn *o = r->members; o; o = o->next_member) {
            if (o == c)
                continue;
            for (size_t k = 0; k < o->n_tracks; k++) {
                const track *t = &o->tracks[k];
                bool have = false;
                for (size_t i = 0; i < c->n_slots && !have; i++)
                    have = c->slots[i].active && strcmp(c->slots[i].track_id, t->id) == 0;
                if (have)
                    continue;
                slot *sl = NULL;
                for (size_t i = 0; i < c->n_slots && !sl; i++)
                    if (!c->slots[i].active && c->slots[i].kind == t->kind)
                        sl = &c->slots[i]; /* reuse an ended track's m-section */
                if (!sl && c->n_slots < PL_MAX_ROUTES) {
                    sl = &c->slots[c->n_slots];
                    snprintf(sl->mid, sizeof(sl->mid), "%zu", c->n_slots);
                    c->n_slots++;
                }
                if (!sl)
                    continue; /* more remote tracks than a transport carries */
                sl->active = true;
                sl->offer_ssrc = 0;
                sl->kind = t->kind;
                snprintf(sl->track_id, sizeof(sl->track_id), "%s", t->id);
                snprintf(sl->participant_id, sizeof(sl->participant_id), "%s", o->participant_id);
                snprintf(sl->source, sizeof(sl->source), "%s", t->source);
                sl->route = (pl_route){.publisher = o->pub_transport,
                                       .out_ssrc = pl_env_random_u32(&s->env) | 1,
                                       .out_pt = t->kind == PL_SDP_AUDIO ? PL_SDP_OFFER_OPUS_PT
                                                                         : PL_SDP_OFFER_VP8_PT};
                memcpy(sl->route.mid, t->media.mid, sizeof(sl->route.mid));
                sl->offered_rtx_ssrc =
                    t->kind == PL_SDP_VIDEO ? (pl_env_random_u32(&s->env) | 1) : 0;
                c->dirty = true;
            }
        }
        sig_subscribe_offer(s, c);
    }
}

static void send_routes(pl_sig *s, conn *c)
{
    pl_route routes[PL_MAX_ROUTES];
    size_t n = 0;
    for (size_t i = 0; i < c->n_slots; i++)
        if (c->slots[i].active && c->slots[i].answered_ssrc == c->slots[i].route.out_ssrc)
            routes[n++] = c->slots[i].route;
    s->media.set_routes(s->media.user, c->room->name, c->sub_transport, routes, n);
}

void sig_on_subscribe_answer(pl_sig *s, conn *c, json_t *msg, json_t *re)
{
    const char *sdp = json_string_value(json_object_get(msg, "sdp"));
    if (!c->room || !c->offer_outstanding) {
        sig_error(s, c, re, "conflict", "no subscribe offer is outstanding");
        return;
    }
    if (!sdp || pl_sdp_parse(s->offer, sdp, strlen(sdp)) != PL_OK) {
        sig_error(s, c, re, "bad_request", sdp ? s->offer->error : "subscribe-answer needs an sdp");
        return;
    }
    const pl_sdp_media *m = NULL;
    for (size_t i = 0; i < s->offer->n_media && !m; i++)
        if (s->offer->media[i].port != 0 && s->offer->media[i].ice_ufrag[0])
            m = &s->offer->media[i];
    if (!m || !m->fp[0] || !m->ice_pwd[0]) {
        sig_error(s, c, re, "bad_request", "the answer needs ICE credentials and a fingerprint");
        return;
    }
    c->offer_outstanding = false;
    /* Transport-wide feedback: the extension id the answer kept (RFC 8285
     * lets it only keep or drop the offered one), the same for every
     * route of the transport. */
    int twcc = -1;
    for (size_t k = 0; k < s->offer->n_media && twcc <= 0; k++)
        if (s->offer->media[k].port != 0)
            twcc = pl_sdp_find_extmap(&s->offer->media[k], PL_RTP_URI_TWCC);
    /* Which video sections took RTX: retransmissions then go on the RTX
     * stream, otherwise in the original one. */
    for (size_t i = 0; i < c->n_slots; i++) {
        slot *sl = &c->slots[i];
        sl->answered_ssrc = sl->offer_ssrc;
        int rtx_pt = -1;
        for (size_t k = 0; k < s->offer->n_media; k++) {
            const pl_sdp_media *am = &s->offer->media[k];
            if (strcmp(am->mid, sl->mid) != 0 || am->port == 0)
                continue;
            for (size_t j = 0; j < am->n_codecs; j++)
                if (am->codecs[j].apt == PL_SDP_OFFER_VP8_PT)
                    rtx_pt = am->codecs[j].pt;
        }
        sl->route.out_rtx_pt = rtx_pt > 0 && rtx_pt < 128 ? (uint8_t)rtx_pt : 0;
        sl->route.out_rtx_ssrc = sl->route.out_rtx_pt ? sl->offered_rtx_ssrc : 0;
        sl->route.twcc_ext = twcc > 0 && twcc < 15 ? (uint8_t)twcc : 0;
        sl->route.estimate = s->downlink_estimate;
    }
    if (c->sub_added &&
        (c->sub_restart_pending || strcmp(m->ice_ufrag, c->sub_remote_ufrag) != 0)) {
        if (!s->media.restart_ice ||
            s->media.restart_ice(s->media.user, c->room->name, c->sub_transport, c->sub_ufrag,
                                 c->sub_pwd, m->ice_ufrag, m->ice_pwd) != PL_OK) {
            sig_error(s, c, re, "internal", "the media worker refused the ICE restart");
            return;
        }
        c->sub_restart_pending = false;
    }
    snprintf(c->sub_remote_ufrag, sizeof(c->sub_remote_ufrag), "%s", m->ice_ufrag);
    if (!c->sub_added) {
        uint16_t port;
        if (s->media.add_transport(s->media.user, c->room->name, c->sub_transport, c->sub_ufrag,
                                   c->sub_pwd, m->ice_ufrag, m->ice_pwd, m->fp_alg, m->fp,
                                   &port) != PL_OK) {
            sig_error(s, c, re, "internal", "no media worker could take the transport");
            return;
        }
        c->sub_added = true;
    }
    send_routes(s, c);
    if (re)
        sig_send(s, c, sig_reply("ok", re));
    sig_subscribe_offer(s, c); /* changes that arrived meanwhile */
}

static bool optional_size(json_t *v, int *out)
{
    if (!v)
        return true;
    if (!json_is_integer(v) || json_integer_value(v) < 1 || json_integer_value(v) > 16384)
        return false;
    *out = (int)json_integer_value(v);
    return true;
}

/* subscription: what a client wants of one remote track. Paused tracks are
 * not forwarded at all (off-screen tiles cost nothing); of a simulcast
 * track, the relay forwards the smallest layer at least the size given. */
void sig_on_subscription(pl_sig *s, conn *c, json_t *msg, json_t *re)
{
    if (!c->can_subscribe) {
        sig_error(s, c, re, "forbidden", "your token does not allow subscribing");
        return;
    }
    const char *id = json_string_value(json_object_get(msg, "track_id"));
    json_t *paused = json_object_get(msg, "paused");
    int w = 0, h = 0;
    if (!id || (paused && !json_is_boolean(paused)) ||
        !optional_size(json_object_get(msg, "max_width"), &w) ||
        !optional_size(json_object_get(msg, "max_height"), &h)) {
        sig_error(s, c, re, "bad_request",
                  "subscription needs track_id; paused is a boolean, max_width/max_height "
                  "positive integers");
        return;
    }
    slot *sl = NULL;
    for (size_t i = 0; c->room && i < c->n_slots && !sl; i++)
        if (c->slots[i].active && strcmp(c->slots[i].track_id, id) == 0)
            sl = &c->slots[i];
    if (!sl) {
        sig_error(s, c, re, "not_found", "no such remote track in your room");
        return;
    }
    if (paused)
        sl->route.paused = json_is_true(paused);
    if (w)
        sl->route.max_width = (uint16_t)w;
    if (h)
        sl->route.max_height = (uint16_t)h;
    if (c->sub_added && s->has_media)
        send_routes(s, c);
    if (re)
        sig_send(s, c, sig_reply("ok", re));
}

void sig_subscribe_resume(pl_sig *s, conn *c)
{
    if (!c->n_slots)
        return;
    c->offer_outstanding = false;
    c->dirty = true;
    c->sub_ice_restart = c->sub_added;
    sig_subscribe_offer(s, c);
}

void sig_subscribe_lost(pl_sig *s, conn *c)
{
    sig_send(s, c, json_pack("{s:s,s:s}", "type", "transport-closed", "transport", "subscribe"));
    if (c->sub_added)
        s->media.remove_transport(s->media.user, c->room->name, c->sub_transport);
    sig_conn_set_sub_transport(&s->m, c, 0);
    c->sub_added = c->offer_outstanding = c->sub_restart_pending = false;
    c->sub_remote_ufrag[0] = '\0';
    c->dirty = c->n_slots > 0;
    sig_subscribe_offer(s, c);
}

void sig_subscribe_release(pl_sig *s, conn *c)
{
    if (c->sub_added && s->has_media)
        s->media.remove_transport(s->media.user, c->room->name, c->sub_transport);
    sig_conn_set_sub_transport(&s->m, c, 0);
    c->sub_added = c->offer_outstanding = c->dirty = false;
    c->sub_ice_restart = c->sub_restart_pending = false;
    c->sub_remote_ufrag[0] = '\0';
    c->n_slots = 0;
}
