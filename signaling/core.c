#include "parley/signal.h"

#include "sig_internal.h"

#include "parley/sdp.h"
#include "parley/worker.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/evp.h>

pl_sig *pl_sig_create(const pl_env *env, const pl_sig_io *io, const pl_sig_media *media)
{
    pl_sig *s = pl_env_alloc(env, sizeof(*s));
    if (!s)
        return NULL;
    s->env = *env;
    s->io = *io;
    if (media) {
        s->has_media = true;
        s->media = *media;
    }
    s->grace_ms = PL_SIG_DEFAULT_GRACE_MS;
    s->ring_timeout_ms = PL_SIG_DEFAULT_RING_MS;
    s->max_participants = PL_SIG_DEFAULT_MAX_PARTICIPANTS;
    s->max_rooms = PL_SIG_DEFAULT_MAX_ROOMS;
    sig_model_init(&s->m, env);
    s->offer = pl_sdp_desc_create(env);
    if (!s->offer) {
        pl_env_free(env, s);
        return NULL;
    }
    return s;
}

void pl_sig_destroy(pl_sig *s)
{
    if (!s)
        return;
    sig_calls_destroy(s);
    sig_model_clear(&s->m);
    pl_sdp_desc_destroy(&s->env, s->offer);
    pl_env_free(&s->env, s);
}

int pl_sig_connect(pl_sig *s, uint64_t id)
{
    if (sig_conn_find(&s->m, id))
        return PL_EINVAL;
    conn *c = pl_env_alloc(&s->env, sizeof(*c));
    if (!c)
        return PL_ENOMEM;
    c->tokens = PL_SIG_BURST;
    int rc = sig_conn_attach(&s->m, c, id);
    if (rc != PL_OK)
        pl_env_free(&s->env, c);
    return rc;
}

/* ---- output ------------------------------------------------------------ */

/* Sends and releases a message object. */
void sig_send(pl_sig *s, conn *c, json_t *msg)
{
    if (c->detached) {
        json_decref(msg); /* nobody to tell; `joined` and a new offer on resume */
        return;
    }
    char *text = json_dumps(msg, JSON_COMPACT);
    json_decref(msg);
    if (!text)
        return;
    s->io.send(s->io.user, c->id, text, strlen(text));
    free(text);
}

json_t *sig_reply(const char *type, json_t *re)
{
    json_t *m = json_pack("{s:s}", "type", type);
    if (re)
        json_object_set(m, "re", re);
    return m;
}

void sig_error(pl_sig *s, conn *c, json_t *re, const char *code, const char *message)
{
    json_t *m = sig_reply("error", re);
    json_object_set_new(m, "code", json_string(code));
    json_object_set_new(m, "message", json_string(message));
    sig_send(s, c, m);
    if (strcmp(code, "bad_request") == 0) {
        s->bad_messages++;
        /* Repeated garbage is abuse, not a mistake (protocol: close 1008). */
        if (++c->strikes >= PL_SIG_MAX_STRIKES)
            s->io.close(s->io.user, c->id, 1008, "too many bad requests");
    }
}

json_t *sig_user_json(const conn *c)
{
    return json_pack("{s:s,s:s}", "id", c->user->id, "name", c->name);
}

/* ---- validation ---------------------------------------------------------- */

/* Printable UTF-8 (jansson already rejected invalid UTF-8): no control
 * characters; returns the number of code points or -1. */
long sig_printable_chars(const char *t)
{
    long n = 0;
    for (const unsigned char *p = (const unsigned char *)t; *p; p++) {
        if (*p < 0x20 || *p == 0x7f)
            return -1;
        if ((*p & 0xc0) != 0x80)
            n++;
    }
    return n;
}

static bool valid_room_name(const char *r)
{
    size_t n = strlen(r);
    if (n < 1 || n > ROOM_MAX_CHARS)
        return false;
    for (size_t i = 0; i < n; i++) {
        char ch = r[i];
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
              ch == '.' || ch == '_' || ch == '-'))
            return false;
    }
    return true;
}

/* Open mode: the same name is the same user (protocol section 1). */
static void user_id_for(const char *name, char *out, size_t cap)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned n = 0;
    EVP_Digest(name, strlen(name), md, &n, EVP_sha256(), NULL);
    snprintf(out, cap, "u%02x%02x%02x%02x%02x%02x%02x%02x", md[0], md[1], md[2], md[3], md[4],
             md[5], md[6], md[7]);
}

/* ---- presence ------------------------------------------------------------ */

/* To every device of every other user. */
static void broadcast_presence(pl_sig *s, const conn *c, const char *status)
{
    /* A token bound to one room is a meeting guest: not in the directory. */
    if (c->only_room[0])
        return;
    for (sig_user *u = s->m.users; u; u = u->next) {
        if (u == c->user)
            continue;
        for (conn *o = u->devices; o; o = o->next_device)
            sig_send(s, o,
                     json_pack("{s:s,s:o,s:s}", "type", "presence", "user", sig_user_json(c),
                               "status", status));
    }
}

void sig_presence_changed(pl_sig *s, const char *user_id, const char *before)
{
    const char *now = sig_user_status(s, user_id);
    if (strcmp(now, before) == 0 || strcmp(now, "offline") == 0)
        return; /* going offline is told when the last connection goes */
    const sig_user *u = sig_user_find(&s->m, user_id);
    if (u && u->devices)
        broadcast_presence(s, u->devices, now);
}

/* ---- rooms --------------------------------------------------------------- */

static void room_broadcast(pl_sig *s, sig_room *r, const conn *except, json_t *msg)
{
    for (conn *o = r->members; o; o = o->next_member)
        if (o != except)
            sig_send(s, o, json_deep_copy(msg));
    json_decref(msg);
}

static void refresh_subscriptions(pl_sig *s, sig_room *r);

/* Sends `speakers` (loudest first) to the room when the list changed. */
static void announce_speakers(pl_sig *s, sig_room *r)
{
    const conn *list[64];
    size_t n = 0;
    for (conn *o = r->members; o && n < 64; o = o->next_member)
        if (o->speaking)
            list[n++] = o;
    for (size_t i = 1; i < n; i++) /* few speakers: insertion sort by level */
        for (size_t k = i; k > 0 && list[k]->level < list[k - 1]->level; k--) {
            const conn *t = list[k];
            list[k] = list[k - 1];
            list[k - 1] = t;
        }
    json_t *active = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(active, json_string(list[i]->participant_id));
    char *text = json_dumps(active, JSON_COMPACT);
    bool changed = text && strcmp(text, r->speakers) != 0;
    if (changed)
        snprintf(r->speakers, sizeof(r->speakers), "%s", text);
    free(text);
    if (changed)
        room_broadcast(s, r, NULL, json_pack("{s:s,s:o}", "type", "speakers", "active", active));
    else
        json_decref(active);
}

void pl_sig_speaking(pl_sig *s, uint64_t transport, bool speaking, uint8_t level)
{
    conn *c = sig_transport_owner(&s->m, transport);
    if (!c || !c->room || c->pub_transport != transport)
        return;
    c->speaking = speaking;
    c->level = level;
    announce_speakers(s, c->room);
}

static void set_pub_transport(pl_sig *s, conn *c, uint64_t id)
{
    if (c->pub_transport)
        sig_transport_unbind(&s->m, c->pub_transport);
    c->pub_transport = id;
    c->pub_connected = false;
    if (id && sig_transport_bind(&s->m, id, c) != PL_OK)
        c->pub_transport = 0;
}

static void set_sub_transport(pl_sig *s, conn *c, uint64_t id)
{
    if (c->sub_transport)
        sig_transport_unbind(&s->m, c->sub_transport);
    c->sub_transport = id;
    c->sub_connected = false;
    if (id && sig_transport_bind(&s->m, id, c) != PL_OK)
        c->sub_transport = 0;
}

void sig_leave_room(pl_sig *s, conn *c, const char *reason)
{
    sig_room *r = c->room;
    if (!r)
        return;
    char name[ROOM_MAX_CHARS + 1];
    snprintf(name, sizeof(name), "%s", r->name);
    if (c->pub_transport && s->has_media)
        s->media.remove_transport(s->media.user, r->name, c->pub_transport);
    if (c->sub_added && s->has_media)
        s->media.remove_transport(s->media.user, r->name, c->sub_transport);
    set_pub_transport(s, c, 0);
    c->speaking = false;
    set_sub_transport(s, c, 0);
    c->sub_added = c->offer_outstanding = c->dirty = false;
    c->sub_ice_restart = c->sub_restart_pending = false;
    c->pub_remote_ufrag[0] = c->sub_remote_ufrag[0] = '\0';
    c->n_tracks = 0;
    c->n_slots = 0;
    sig_room_remove_member(&s->m, c);
    room_broadcast(s, r, c,
                   json_pack("{s:s,s:s,s:s}", "type", "participant-left", "participant_id",
                             c->participant_id, "reason", reason));
    c->participant_id[0] = '\0';
    refresh_subscriptions(s, r);
    announce_speakers(s, r);
    sig_room_forget_if_empty(&s->m, r);
    sig_call_room_left(s, c, name);
}

/* ---- requests ------------------------------------------------------------ */

static json_t *track_json(const track *t)
{
    return json_pack("{s:s,s:s,s:s,s:b}", "track_id", t->id, "kind",
                     t->kind == PL_SDP_AUDIO ? "audio" : "video", "source", t->source, "muted",
                     t->muted);
}

static json_t *tracks_json(const conn *c)
{
    json_t *a = json_array();
    for (size_t i = 0; i < c->n_tracks; i++)
        json_array_append_new(a, track_json(&c->tracks[i]));
    return a;
}

static void random_ice(pl_sig *s, char *out, size_t n)
{
    static const char chars[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    uint8_t r[32];
    pl_env_random(&s->env, r, n);
    for (size_t i = 0; i < n; i++)
        out[i] = chars[r[i] & 63];
    out[n] = '\0';
}

static const char *source_for(json_t *sources, const char *mid, enum pl_sdp_kind kind)
{
    const char *v = json_string_value(json_object_get(sources, mid));
    if (v && (strcmp(v, "microphone") == 0 || strcmp(v, "camera") == 0 || strcmp(v, "screen") == 0))
        return v;
    return kind == PL_SDP_AUDIO ? "microphone" : "camera";
}

static void send_subscribe_offer(pl_sig *s, conn *c)
{
    if (!s->has_media || c->offer_outstanding || !c->dirty || c->n_slots == 0 || !c->room)
        return;
    if (!c->sub_transport) {
        random_ice(s, c->sub_ufrag, LOCAL_UFRAG_CHARS);
        random_ice(s, c->sub_pwd, LOCAL_PWD_CHARS);
        set_sub_transport(s, c, ++s->next_transport);
        if (!c->sub_transport)
            return; /* no memory for it: tried again with the next change */
    } else if (c->sub_ice_restart) {
        random_ice(s, c->sub_ufrag, LOCAL_UFRAG_CHARS);
        random_ice(s, c->sub_pwd, LOCAL_PWD_CHARS);
        c->sub_restart_pending = c->sub_added;
    }
    c->sub_ice_restart = false;
    pl_sdp_offer_section sec[PL_MAX_ROUTES];
    json_t *tracks = json_object();
    for (size_t i = 0; i < c->n_slots; i++) {
        slot *sl = &c->slots[i];
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
static void refresh_subscriptions(pl_sig *s, sig_room *r)
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
                sl->max_width = sl->max_height = 0;
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
        send_subscribe_offer(s, c);
    }
}

/* Whether a publisher's offer asks for generic NACK on this payload type
 * (RFC 4585 "a=rtcp-fb:<pt> nack", or "*"). */
static bool offers_nack(const pl_sdp_media *m, int pt)
{
    for (size_t i = 0; i < m->n_fb; i++)
        if ((m->fb[i].pt == pt || m->fb[i].pt == -1) && strcmp(m->fb[i].value, "nack") == 0)
            return true;
    return false;
}

/* A negotiated header extension id (RFC 8285: 1-255), 0 when absent. */
static uint8_t ext_id(int id)
{
    return id > 0 && id < 256 ? (uint8_t)id : 0;
}

static void send_routes(pl_sig *s, conn *c)
{
    pl_route routes[PL_MAX_ROUTES];
    size_t n = 0;
    for (size_t i = 0; i < c->n_slots; i++)
        if (c->slots[i].active)
            routes[n++] = c->slots[i].route;
    s->media.set_routes(s->media.user, c->room->name, c->sub_transport, routes, n);
}

static void on_subscribe_answer(pl_sig *s, conn *c, json_t *msg, json_t *re)
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
    /* Which video sections took RTX: retransmissions then go on the RTX
     * stream, otherwise in the original one. */
    for (size_t i = 0; i < c->n_slots; i++) {
        slot *sl = &c->slots[i];
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
    send_subscribe_offer(s, c); /* changes that arrived meanwhile */
}

/* publish: the client's offer for its publish transport (protocol 3). */
static void on_publish(pl_sig *s, conn *c, json_t *msg, json_t *re)
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
    bool created = false, restart = false;
    uint16_t port = 0;
    if (!c->pub_transport) {
        random_ice(s, c->pub_ufrag, LOCAL_UFRAG_CHARS);
        random_ice(s, c->pub_pwd, LOCAL_PWD_CHARS);
        set_pub_transport(s, c, ++s->next_transport);
        if (!c->pub_transport) {
            sig_error(s, c, re, "internal", "out of memory");
            return;
        }
        created = true;
    } else if (strcmp(first->ice_ufrag, c->pub_remote_ufrag) != 0) {
        /* New client credentials on the same transport: an ICE restart
         * (RFC 8445 9), answered with new ones of ours. */
        random_ice(s, c->pub_ufrag, LOCAL_UFRAG_CHARS);
        random_ice(s, c->pub_pwd, LOCAL_PWD_CHARS);
        restart = true;
    }
    /* Renegotiation reuses the transport; the worker keeps its port. */
    if (s->media.add_transport(s->media.user, c->room->name, c->pub_transport, c->pub_ufrag,
                               c->pub_pwd, first->ice_ufrag, first->ice_pwd, first->fp_alg,
                               first->fp, &port) != PL_OK) {
        if (created)
            set_pub_transport(s, c, 0);
        sig_error(s, c, re, "internal", "no media worker could take the transport");
        return;
    }
    if (restart &&
        (!s->media.restart_ice ||
         s->media.restart_ice(s->media.user, c->room->name, c->pub_transport, c->pub_ufrag,
                              c->pub_pwd, first->ice_ufrag, first->ice_pwd) != PL_OK)) {
        sig_error(s, c, re, "internal", "the media worker refused the ICE restart");
        return;
    }
    snprintf(c->pub_remote_ufrag, sizeof(c->pub_remote_ufrag), "%s", first->ice_ufrag);
    pl_sdp_local local = {.ice_ufrag = c->pub_ufrag,
                          .ice_pwd = c->pub_pwd,
                          .fp_alg = "sha-256",
                          .fp = s->media.fingerprint,
                          .address = s->media.announce_ip,
                          .port = port,
                          .session_id = c->pub_transport,
                          .version = 1};
    pl_sdp_accepted *acc = s->acc;
    char *answer = malloc(SDP_OUT_MAX);
    const char *why = NULL;
    int n =
        answer ? pl_sdp_write_answer(s->offer, &local, answer, SDP_OUT_MAX, acc, &why) : PL_ENOMEM;
    if (n < 0) {
        free(answer);
        if (created) {
            s->media.remove_transport(s->media.user, c->room->name, c->pub_transport);
            set_pub_transport(s, c, 0);
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
                              .pt = (uint8_t)acc[i].pt,
                              .rtx_pt = acc[i].rtx_pt > 0 ? (uint8_t)acc[i].rtx_pt : 0,
                              .rtx_ssrc = acc[i].rtx_pt > 0 ? acc[i].rtx_ssrc : 0,
                              .nack = offers_nack(&s->offer->media[i], acc[i].pt)};
        snprintf(t->media.mid, sizeof(t->media.mid), "%s", acc[i].mid);
        snprintf(t->id, sizeof(t->id), "%s-%s", c->participant_id, acc[i].mid);
        snprintf(t->source, sizeof(t->source), "%s", source_for(sources, acc[i].mid, t->kind));
        json_object_set_new(tracks, t->media.mid, json_pack("{s:s}", "track_id", t->id));
        media[c->n_tracks++] = t->media;
    }
    s->media.set_tracks(s->media.user, c->room->name, c->pub_transport, media, c->n_tracks);
    json_t *m = sig_reply("publish-answer", re);
    json_object_set_new(m, "sdp", json_stringn(answer, (size_t)n));
    json_object_set_new(m, "tracks", tracks);
    free(answer);
    sig_send(s, c, m);
    /* Tell the room what changed. */
    for (size_t i = 0; i < c->n_tracks; i++) {
        bool known = false;
        for (size_t k = 0; k < n_old; k++)
            known = known || strcmp(old[k].id, c->tracks[i].id) == 0;
        if (!known)
            room_broadcast(s, c->room, c,
                           json_pack("{s:s,s:s,s:o}", "type", "track-published", "participant_id",
                                     c->participant_id, "track", track_json(&c->tracks[i])));
    }
    for (size_t k = 0; k < n_old; k++) {
        bool still = false;
        for (size_t i = 0; i < c->n_tracks; i++)
            still = still || strcmp(old[k].id, c->tracks[i].id) == 0;
        if (!still)
            room_broadcast(s, c->room, c,
                           json_pack("{s:s,s:s,s:s}", "type", "track-unpublished", "participant_id",
                                     c->participant_id, "track_id", old[k].id));
    }
    refresh_subscriptions(s, c->room);
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
 * not forwarded at all (off-screen tiles cost nothing); the size is kept
 * for layer choice once simulcast layers are forwarded. */
static void on_subscription(pl_sig *s, conn *c, json_t *msg, json_t *re)
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
        sl->max_width = w;
    if (h)
        sl->max_height = h;
    if (c->sub_added && s->has_media)
        send_routes(s, c);
    if (re)
        sig_send(s, c, sig_reply("ok", re));
}

/* mute: a participant mutes or unmutes one of its own tracks; the room
 * (sender included) is told, so tiles can show it. */
static void on_mute(pl_sig *s, conn *c, json_t *msg, json_t *re)
{
    const char *id = json_string_value(json_object_get(msg, "track_id"));
    json_t *muted = json_object_get(msg, "muted");
    if (!id || !json_is_boolean(muted)) {
        sig_error(s, c, re, "bad_request", "mute needs track_id and a boolean muted");
        return;
    }
    track *t = NULL;
    for (size_t i = 0; c->room && i < c->n_tracks && !t; i++)
        if (strcmp(c->tracks[i].id, id) == 0)
            t = &c->tracks[i];
    if (!t) {
        /* Someone else's track, or none at all: only owners control tracks. */
        bool exists = false;
        for (conn *o = c->room ? c->room->members : NULL; o && !exists; o = o->next_member)
            for (size_t i = 0; i < o->n_tracks; i++)
                exists = exists || strcmp(o->tracks[i].id, id) == 0;
        sig_error(s, c, re, exists ? "forbidden" : "not_found",
                  exists ? "only the publisher can mute a track" : "no such track");
        return;
    }
    t->muted = json_is_true(muted);
    if (re)
        sig_send(s, c, sig_reply("ok", re));
    room_broadcast(s, c->room, NULL,
                   json_pack("{s:s,s:s,s:s,s:b}", "type", "track-muted", "participant_id",
                             c->participant_id, "track_id", t->id, "muted", t->muted));
}

/* welcome.online: every other user connected, once each, with their status
 * (guests are not in the directory). */
static json_t *online_json(const pl_sig *s, const conn *c)
{
    json_t *online = json_array();
    for (const sig_user *u = s->m.users; u; u = u->next) {
        if (u == c->user)
            continue;
        const conn *o = u->devices;
        while (o && o->only_room[0])
            o = o->next_device;
        if (o)
            json_array_append_new(online, json_pack("{s:s,s:s,s:s}", "id", u->id, "name", o->name,
                                                    "status", sig_user_status(s, u->id)));
    }
    return online;
}

static void new_resume_token(pl_sig *s, conn *c)
{
    uint8_t rnd[16];
    pl_env_random(&s->env, rnd, sizeof(rnd));
    for (size_t i = 0; i < sizeof(rnd); i++)
        snprintf(c->resume_token + 2 * i, 3, "%02x", rnd[i]);
}

static json_t *joined_json(const conn *c, json_t *re)
{
    json_t *others = json_array();
    for (const conn *o = c->room->members; o; o = o->next_member)
        if (o != c)
            json_array_append_new(others, json_pack("{s:s,s:s,s:o}", "id", o->participant_id,
                                                    "name", o->name, "tracks", tracks_json(o)));
    json_t *m = sig_reply("joined", re);
    json_object_set_new(m, "room", json_string(c->room->name));
    json_object_set_new(m, "participant",
                        json_pack("{s:s,s:s}", "id", c->participant_id, "name", c->name));
    json_object_set_new(m, "participants", others);
    return m;
}

/* hello with `resume`: the new connection takes over a detached session
 * (same user, participant, transports and subscriptions); the client gets
 * `welcome` with resumed:true, then `joined` and a fresh subscribe offer to
 * catch up with what it missed. The others saw nothing. */
static void resume_session(pl_sig *s, conn *fresh, const char *token, json_t *re)
{
    conn *c = NULL;
    for (conn *o = s->m.detached; o && !c; o = o->next_detached)
        if (o->resume_token[0] && strcmp(o->resume_token, token) == 0)
            c = o;
    if (!c) {
        sig_error(s, fresh, re, "not_found", "no session to resume (expired or unknown token)");
        return;
    }
    /* The session moves to the new connection id; the empty state created
     * for that id goes. */
    uint64_t id = fresh->id;
    sig_conn_remove(&s->m, fresh);
    pl_env_free(&s->env, fresh);
    sig_conn_attach(&s->m, c, id); /* cannot fail: the slot was just freed */
    c->strikes = 0;
    s->resumed++;
    new_resume_token(s, c);
    json_t *m = sig_reply("welcome", re);
    json_object_set_new(m, "user", sig_user_json(c));
    json_object_set_new(m, "ice_servers", json_array());
    json_object_set_new(m, "online", online_json(s, c));
    json_object_set_new(m, "missed", sig_missed_json(s, c->user->id));
    json_object_set_new(m, "resume_token", json_string(c->resume_token));
    json_object_set_new(m, "resumed", json_true());
    sig_send(s, c, m);
    sig_calls_resumed(s, c);
    if (!c->room)
        return;
    sig_send(s, c, joined_json(c, NULL));
    /* Whatever was offered while away may never have arrived. */
    if (c->n_slots) {
        c->offer_outstanding = false;
        c->dirty = true;
        c->sub_ice_restart = c->sub_added;
        send_subscribe_offer(s, c);
    }
}

static void on_hello(pl_sig *s, conn *c, json_t *msg, json_t *re, pl_sig_time now)
{
    if (c->user) {
        sig_error(s, c, re, "bad_request", "hello was already sent on this connection");
        return;
    }
    const char *name = json_string_value(json_object_get(msg, "name"));
    long chars = name ? sig_printable_chars(name) : -1;
    if (chars < 1 || chars > NAME_MAX_CHARS) {
        sig_error(s, c, re, "bad_request", "name must be 1-64 printable characters");
        return;
    }
    const char *resume = json_string_value(json_object_get(msg, "resume"));
    if (resume) {
        /* The resume token is a secret issued after authentication. */
        resume_session(s, c, resume, re);
        return;
    }
    c->can_publish = c->can_subscribe = true;
    char user_id[PL_AUTH_ID_MAX + 1];
    if (s->auth) {
        pl_auth_claims claims;
        const char *why = "hello needs a token";
        const char *token = json_string_value(json_object_get(msg, "token"));
        if (!token || pl_auth_verify(s->auth, token, now.wall_ms / 1000, &claims, &why) != PL_OK) {
            /* Nothing of the session remains: no presence, no user. */
            sig_error(s, c, re, "unauthorized", why);
            s->io.close(s->io.user, c->id, 1008, "unauthorized");
            s->auth_refused++;
            return;
        }
        snprintf(c->name, sizeof(c->name), "%s", claims.name[0] ? claims.name : name);
        snprintf(user_id, sizeof(user_id), "%s", claims.sub);
        snprintf(c->only_room, sizeof(c->only_room), "%s", claims.room);
        c->can_publish = claims.can_publish;
        c->can_subscribe = claims.can_subscribe;
    } else {
        snprintf(c->name, sizeof(c->name), "%s", name);
        user_id_for(name, user_id, sizeof(user_id));
    }
    bool first = !sig_user_find(&s->m, user_id);
    if (sig_user_add_device(&s->m, c, user_id) != PL_OK) {
        sig_error(s, c, re, "internal", "out of memory");
        return;
    }
    new_resume_token(s, c);

    json_t *online = online_json(s, c);
    json_t *m = sig_reply("welcome", re);
    json_object_set_new(m, "user", sig_user_json(c));
    json_object_set_new(m, "ice_servers", json_array());
    json_object_set_new(m, "online", online);
    json_object_set_new(m, "missed", sig_missed_json(s, c->user->id));
    json_object_set_new(m, "resume_token", json_string(c->resume_token));
    sig_send(s, c, m);
    if (first)
        broadcast_presence(s, c, "online");
}

static void on_status(pl_sig *s, conn *c, json_t *msg, json_t *re)
{
    const char *st = json_string_value(json_object_get(msg, "status"));
    if (!st || (strcmp(st, "online") != 0 && strcmp(st, "dnd") != 0)) {
        sig_error(s, c, re, "bad_request", "status must be \"online\" or \"dnd\"");
        return;
    }
    bool dnd = strcmp(st, "dnd") == 0;
    bool was_dnd = c->dnd;
    const char *before = sig_user_status(s, c->user->id);
    /* Status belongs to the user: every device follows. */
    for (conn *o = c->user->devices; o; o = o->next_device)
        o->dnd = dnd;
    json_t *m = sig_reply("status", re);
    json_object_set_new(m, "status", json_string(st));
    sig_send(s, c, m);
    /* The user's other devices follow the switch (an event: no `re`). */
    for (conn *o = c->user->devices; o; o = o->next_device)
        if (o != c)
            sig_send(s, o, json_pack("{s:s,s:s}", "type", "status", "status", st));
    sig_presence_changed(s, c->user->id, before);
    if (!was_dnd || dnd)
        return;
    /* Focus time is over: the heads-ups it held back are due now. */
    json_t *items = sig_missed_json(s, c->user->id);
    if (json_array_size(items) > 0) {
        json_t *ev = json_pack("{s:s,s:o}", "type", "missed", "items", items);
        for (conn *o = c->user->devices; o; o = o->next_device)
            sig_send(s, o, json_deep_copy(ev));
        json_decref(ev);
    } else {
        json_decref(items);
    }
}

static void on_join(pl_sig *s, conn *c, json_t *msg, json_t *re)
{
    const char *name = json_string_value(json_object_get(msg, "room"));
    if (!name || !valid_room_name(name)) {
        sig_error(s, c, re, "bad_request", "room must be 1-64 characters of [A-Za-z0-9._-]");
        return;
    }
    if (c->only_room[0] && strcmp(name, c->only_room) != 0) {
        /* A guest link used for another room: refused, and the connection
         * goes (the protocol closes on a token that does not fit). */
        sig_error(s, c, re, "forbidden", "your token allows another room only");
        s->io.close(s->io.user, c->id, 1008, "wrong room for this token");
        s->auth_refused++;
        return;
    }
    const char *why = NULL;
    const char *refused = sig_call_room_check(s, c, name, &why);
    if (refused) {
        sig_error(s, c, re, refused, why);
        return;
    }
    c->closed_room[0] = '\0';
    /* Limits first, so that a refused join leaves the user where it was;
     * the user's own place in the room (another device) is not counted. */
    sig_room *r = sig_room_find(&s->m, name);
    size_t mine = 0;
    for (const conn *o = r ? r->members : NULL; o; o = o->next_member)
        mine += o->user == c->user;
    if (r && r->n_members - mine >= s->max_participants) {
        sig_error(s, c, re, "room_full", "this room has its maximum number of participants");
        return;
    }
    if (!r && s->m.n_rooms >= s->max_rooms) {
        sig_error(s, c, re, "room_full", "the server holds its maximum number of rooms");
        return;
    }
    /* A user is in at most one room: joining another leaves the first. */
    for (conn *o = c->user->devices; o; o = o->next_device)
        if (o->room)
            sig_leave_room(s, o, "left");
    r = sig_room_find(&s->m, name);
    if (!r)
        r = sig_room_create(&s->m, name);
    if (!r) {
        sig_error(s, c, re, "internal", "out of memory");
        return;
    }
    uint8_t rnd[6];
    pl_env_random(&s->env, rnd, sizeof(rnd));
    snprintf(c->participant_id, sizeof(c->participant_id), "p%02x%02x%02x%02x%02x%02x", rnd[0],
             rnd[1], rnd[2], rnd[3], rnd[4], rnd[5]);
    json_t *others = json_array();
    for (const conn *o = r->members; o; o = o->next_member)
        json_array_append_new(others, json_pack("{s:s,s:s,s:o}", "id", o->participant_id, "name",
                                                o->name, "tracks", tracks_json(o)));
    sig_room_add_member(&s->m, r, c);
    json_t *m = sig_reply("joined", re);
    json_object_set_new(m, "room", json_string(r->name));
    json_object_set_new(m, "participant",
                        json_pack("{s:s,s:s}", "id", c->participant_id, "name", c->name));
    json_object_set_new(m, "participants", others);
    sig_send(s, c, m);
    room_broadcast(s, r, c,
                   json_pack("{s:s,s:{s:s,s:s}}", "type", "participant-joined", "participant", "id",
                             c->participant_id, "name", c->name));
    refresh_subscriptions(s, r);
}

static void on_leave(pl_sig *s, conn *c, json_t *re)
{
    if (!c->room && c->closed_room[0]) {
        /* The server already closed the room (its call ended): leaving it
         * again is not a mistake. */
        json_t *m = sig_reply("left", re);
        json_object_set_new(m, "room", json_string(c->closed_room));
        c->closed_room[0] = '\0';
        sig_send(s, c, m);
        return;
    }
    if (!c->room) {
        sig_error(s, c, re, "not_found", "not in a room");
        return;
    }
    json_t *m = sig_reply("left", re);
    json_object_set_new(m, "room", json_string(c->room->name));
    sig_leave_room(s, c, "left");
    sig_send(s, c, m);
}

static void on_chat(pl_sig *s, conn *c, json_t *msg, json_t *re, pl_sig_time now)
{
    const char *text = json_string_value(json_object_get(msg, "text"));
    if (!c->room) {
        sig_error(s, c, re, "not_found", "join a room before chatting");
        return;
    }
    /* Chat text may contain newlines and tabs, unlike names. */
    long chars = 0;
    for (const unsigned char *p = (const unsigned char *)(text ? text : ""); *p; p++)
        if ((*p & 0xc0) != 0x80)
            chars++;
    if (!text || chars < 1 || chars > CHAT_MAX_CHARS) {
        sig_error(s, c, re, "bad_request", "text must be 1-4096 characters");
        return;
    }
    if (re)
        sig_send(s, c, sig_reply("ok", re));
    room_broadcast(s, c->room, NULL,
                   json_pack("{s:s,s:{s:s,s:s},s:s,s:I}", "type", "chat", "from", "id",
                             c->participant_id, "name", c->name, "text", text, "ts",
                             (json_int_t)now.wall_ms));
}

void pl_sig_handle_text(pl_sig *s, uint64_t id, pl_sig_time now, const char *text, size_t len)
{
    conn *c = sig_conn_find(&s->m, id);
    if (!c)
        return;
    /* Refill, then spend one token; a flood is refused before it is even
     * parsed, and one that goes on is closed. */
    if (now.mono_ms > c->tokens_at) {
        c->tokens += (double)(now.mono_ms - c->tokens_at) * PL_SIG_RATE / 1000.0;
        if (c->tokens > PL_SIG_BURST)
            c->tokens = PL_SIG_BURST;
    }
    c->tokens_at = now.mono_ms;
    if (c->tokens < 1.0) {
        s->rate_limited++;
        if (++c->rate_strikes == PL_SIG_MAX_RATE_STRIKES)
            s->io.close(s->io.user, c->id, 1008, "rate limit exceeded");
        else if (c->rate_strikes < PL_SIG_MAX_RATE_STRIKES)
            sig_send(s, c,
                     json_pack("{s:s,s:s,s:s}", "type", "error", "code", "rate_limited", "message",
                               "too many messages: slow down"));
        return;
    }
    c->tokens -= 1.0;
    if (len > PL_SIG_MAX_MESSAGE) {
        pl_sig_handle_bad_frame(s, id, "message larger than 64 KiB");
        return;
    }
    json_error_t jerr;
    json_t *msg = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!msg || !json_is_object(msg)) {
        sig_error(s, c, NULL, "bad_request",
                  msg ? "message must be a JSON object" : "invalid JSON");
        json_decref(msg);
        return;
    }
    json_t *re = json_object_get(msg, "id");
    if (re && !json_is_string(re) && !json_is_integer(re))
        re = NULL;
    const char *type = json_string_value(json_object_get(msg, "type"));
    if (!type)
        sig_error(s, c, re, "bad_request", "message needs a string \"type\"");
    else if (strcmp(type, "hello") == 0)
        on_hello(s, c, msg, re, now);
    else if (!c->user)
        sig_error(s, c, re, "unauthorized", "say hello first");
    else if (strcmp(type, "status") == 0)
        on_status(s, c, msg, re);
    else if (strcmp(type, "join") == 0)
        on_join(s, c, msg, re);
    else if (strcmp(type, "leave") == 0)
        on_leave(s, c, re);
    else if (strcmp(type, "chat") == 0)
        on_chat(s, c, msg, re, now);
    else if (strcmp(type, "publish") == 0)
        on_publish(s, c, msg, re);
    else if (strcmp(type, "subscribe-answer") == 0)
        on_subscribe_answer(s, c, msg, re);
    else if (strcmp(type, "mute") == 0)
        on_mute(s, c, msg, re);
    else if (strcmp(type, "subscription") == 0)
        on_subscription(s, c, msg, re);
    else if (strcmp(type, "call") == 0)
        sig_on_call(s, c, msg, re, now);
    else if (strcmp(type, "call-accept") == 0 || strcmp(type, "call-decline") == 0 ||
             strcmp(type, "call-cancel") == 0 || strcmp(type, "call-hangup") == 0)
        sig_on_call_action(s, c, type, msg, re);
    else if (strcmp(type, "missed-ack") == 0)
        sig_on_missed_ack(s, c, msg, re);
    else
        sig_error(s, c, re, "bad_request", "unknown message type");
    json_decref(msg);
}

void pl_sig_handle_bad_frame(pl_sig *s, uint64_t id, const char *why)
{
    conn *c = sig_conn_find(&s->m, id);
    if (c)
        sig_error(s, c, NULL, "bad_request", why);
}

/* A connection goes for good: its calls and its room first, then its user,
 * who goes offline with its last device. */
static void drop_conn(pl_sig *s, conn *c, const char *reason)
{
    sig_calls_conn_gone(s, c);
    sig_leave_room(s, c, reason);
    sig_conn_remove(&s->m, c);
    sig_user *u = c->user;
    if (u) {
        sig_user_remove_device(c);
        if (!u->devices) {
            broadcast_presence(s, c, "offline");
            sig_user_forget(&s->m, u);
        }
    }
    pl_env_free(&s->env, c);
}

void pl_sig_drop(pl_sig *s, uint64_t id, pl_sig_time now)
{
    conn *c = sig_conn_find(&s->m, id);
    if (!c)
        return;
    /* A participant whose connection is lost stays for the grace period:
     * its media keeps flowing and it may come back with `resume`. */
    if (c->room && s->grace_ms > 0) {
        sig_conn_detach(&s->m, c);
        c->detached_at = now.mono_ms;
        return;
    }
    drop_conn(s, c, "disconnected");
}

void pl_sig_disconnect(pl_sig *s, uint64_t id, pl_sig_time now)
{
    (void)now;
    conn *c = sig_conn_find(&s->m, id);
    if (c)
        drop_conn(s, c, "disconnected");
}

void pl_sig_tick(pl_sig *s, pl_sig_time now)
{
    sig_calls_tick(s, now);
    for (conn *c = s->m.detached, *next; c; c = next) {
        next = c->next_detached;
        if (now.mono_ms - c->detached_at >= s->grace_ms) {
            s->timed_out++;
            drop_conn(s, c, "timeout");
        }
    }
}

void pl_sig_transport_failed(pl_sig *s, uint64_t transport)
{
    conn *c = sig_transport_owner(&s->m, transport);
    if (!c || !c->room || !transport)
        return;
    if (c->pub_transport == transport) {
        /* The browser keeps its DTLS association across an ICE restart,
         * so a new server transport needs a new peer connection: the
         * client is told, and its next publish makes one. */
        sig_send(s, c, json_pack("{s:s,s:s}", "type", "transport-closed", "transport", "publish"));
        s->media.remove_transport(s->media.user, c->room->name, transport);
        set_pub_transport(s, c, 0);
        c->pub_remote_ufrag[0] = '\0';
        c->speaking = false;
        for (size_t i = 0; i < c->n_tracks; i++)
            room_broadcast(s, c->room, c,
                           json_pack("{s:s,s:s,s:s}", "type", "track-unpublished", "participant_id",
                                     c->participant_id, "track_id", c->tracks[i].id));
        c->n_tracks = 0;
        refresh_subscriptions(s, c->room);
        announce_speakers(s, c->room);
        return;
    }
    sig_send(s, c, json_pack("{s:s,s:s}", "type", "transport-closed", "transport", "subscribe"));
    if (c->sub_added)
        s->media.remove_transport(s->media.user, c->room->name, transport);
    set_sub_transport(s, c, 0);
    c->sub_added = c->offer_outstanding = c->sub_restart_pending = false;
    c->sub_remote_ufrag[0] = '\0';
    c->dirty = c->n_slots > 0;
    send_subscribe_offer(s, c);
}

void pl_sig_set_reconnect_grace(pl_sig *s, int64_t grace_ms)
{
    s->grace_ms = grace_ms > 0 ? grace_ms : 0;
}

void pl_sig_stats_get(const pl_sig *s, pl_sig_stats *out)
{
    memset(out, 0, sizeof(*out));
    out->connections = sig_conn_count(&s->m);
    out->detached = s->m.n_detached;
    out->participants = s->m.n_participants;
    out->users_online = s->m.n_users;
    out->rooms = s->m.n_rooms;
    out->resumed = s->resumed;
    out->timed_out = s->timed_out;
    out->bad_messages = s->bad_messages;
    for (const call *k = s->calls; k; k = k->next)
        out->calls++;
    out->calls_placed = s->calls_placed;
    out->calls_accepted = s->calls_accepted;
    out->calls_missed = s->calls_missed;
    out->auth_refused = s->auth_refused;
    out->rate_limited = s->rate_limited;
}

void pl_sig_set_ring_timeout(pl_sig *s, int64_t timeout_ms)
{
    s->ring_timeout_ms = timeout_ms > 0 ? timeout_ms : PL_SIG_DEFAULT_RING_MS;
}

void pl_sig_set_limits(pl_sig *s, size_t max_participants, size_t max_rooms)
{
    s->max_participants = max_participants ? max_participants : PL_SIG_DEFAULT_MAX_PARTICIPANTS;
    s->max_rooms = max_rooms ? max_rooms : PL_SIG_DEFAULT_MAX_ROOMS;
}

void pl_sig_set_auth(pl_sig *s, const pl_auth *auth)
{
    s->auth = auth;
}

void pl_sig_set_store(pl_sig *s, pl_store *store)
{
    s->store = store;
}
