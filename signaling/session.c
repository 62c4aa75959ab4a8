/* Sessions: a connection from its first frame to its end. hello (open
 * mode or an access token) makes it a device of its user; a lost one is
 * kept for the reconnection grace and may be resumed on a new connection;
 * the rate limit is a token bucket per connection; pl_sig_tick expires
 * rings and detached sessions. Timers run on the monotonic clock. */
#include "session.h"

#include <stdio.h>
#include <string.h>

#include <openssl/evp.h>

#include "calls.h"
#include "events.h"
#include "message.h"
#include "out.h"
#include "presence.h"
#include "reply.h"
#include "rooms.h"
#include "subscribe.h"
#include "tokens.h"

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

bool sig_session_admit(pl_sig *s, conn *c, pl_sig_time now)
{
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
        return false;
    }
    c->tokens -= 1.0;
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

/* welcome.ice_servers: one entry per TURN URL, each with the user's
 * credential from now on. A string `urls` rather than an array, so that
 * clients reading the protocol's simplest form need nothing more. */
static json_t *ice_servers_json(const pl_sig *s, const conn *c, pl_sig_time now)
{
    json_t *a = json_array();
    char username[PL_TURN_USERNAME_MAX + 1], credential[PL_TURN_CREDENTIAL_LEN + 1];
    if (!s->turn || pl_turn_issue(s->turn, c->user->id, now.wall_ms / 1000, username,
                                  sizeof(username), credential, sizeof(credential)) != PL_OK)
        return a;
    for (size_t i = 0; i < pl_turn_url_count(s->turn); i++)
        json_array_append_new(a, json_pack("{s:s,s:s,s:s}", "urls", pl_turn_url(s->turn, i),
                                           "username", username, "credential", credential));
    return a;
}

/* hello with `resume`: the new connection takes over a detached session
 * (same user, participant, transports and subscriptions); the client gets
 * `welcome` with resumed:true, then `joined` and a fresh subscribe offer to
 * catch up with what it missed. The others saw nothing. Its TURN
 * credentials are new: the old ones may be close to expiry. */
static void resume_session(pl_sig *s, conn *fresh, const char *token, json_t *re, pl_sig_time now)
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
    sig_random_secret(&s->env, c->resume_token);
    json_t *m = sig_reply("welcome", re);
    json_object_set_new(m, "user", sig_user_json(c));
    json_object_set_new(m, "ice_servers", ice_servers_json(s, c, now));
    json_object_set_new(m, "online", sig_online_json(s, c));
    json_object_set_new(m, "missed", sig_calls_missed_json(s->calls, c->user->id));
    json_object_set_new(m, "resume_token", json_string(c->resume_token));
    json_object_set_new(m, "resumed", json_true());
    sig_send(s, c, m);
    sig_calls_resumed(s->calls, c);
    if (!c->room)
        return;
    sig_send(s, c, sig_joined_json(c, NULL));
    /* What the relay asked of its camera while it was away. */
    for (size_t i = 0; i < c->n_tracks; i++)
        if (c->tracks[i].layers_told)
            sig_send(
                s, c,
                sig_publish_layers_json(c->tracks[i].id, &c->tracks[i].media, c->tracks[i].layers));
    sig_subscribe_resume(s, c);
}

void sig_on_hello(pl_sig *s, conn *c, json_t *msg, json_t *re, pl_sig_time now)
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
        resume_session(s, c, resume, re, now);
        return;
    }
    c->can_publish = c->can_subscribe = c->can_record = true;
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
        c->can_record = claims.can_record;
    } else {
        snprintf(c->name, sizeof(c->name), "%s", name);
        user_id_for(name, user_id, sizeof(user_id));
    }
    bool first = !sig_user_find(&s->m, user_id);
    if (sig_user_add_device(&s->m, c, user_id) != PL_OK) {
        sig_error(s, c, re, "internal", "out of memory");
        return;
    }
    sig_random_secret(&s->env, c->resume_token);

    json_t *online = sig_online_json(s, c);
    json_t *m = sig_reply("welcome", re);
    json_object_set_new(m, "user", sig_user_json(c));
    json_object_set_new(m, "ice_servers", ice_servers_json(s, c, now));
    json_object_set_new(m, "online", online);
    json_object_set_new(m, "missed", sig_calls_missed_json(s->calls, c->user->id));
    json_object_set_new(m, "resume_token", json_string(c->resume_token));
    sig_send(s, c, m);
    if (first)
        sig_presence_announce(s, c, "online");
}

/* A connection goes for good: its calls and its room first, then its user,
 * who goes offline with its last device. */
static void drop_conn(pl_sig *s, conn *c, const char *reason)
{
    sig_calls_conn_gone(s->calls, c);
    sig_leave_room(s, c, reason);
    sig_conn_remove(&s->m, c);
    sig_user *u = c->user;
    if (u) {
        sig_user_remove_device(c);
        if (!u->devices) {
            sig_presence_announce(s, c, "offline");
            sig_user_forget(&s->m, u);
        }
    }
    pl_env_free(&s->env, c);
}

void pl_sig_drop(pl_sig *s, uint64_t id, pl_sig_time now)
{
    sig_events_now(s, now);
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
    sig_events_now(s, now);
    conn *c = sig_conn_find(&s->m, id);
    if (c)
        drop_conn(s, c, "disconnected");
}

void pl_sig_tick(pl_sig *s, pl_sig_time now)
{
    sig_events_now(s, now);
    sig_calls_tick(s->calls, now);
    sig_message_tick(s);
    for (conn *c = s->m.detached, *next; c; c = next) {
        next = c->next_detached;
        if (now.mono_ms - c->detached_at >= s->grace_ms) {
            s->timed_out++;
            drop_conn(s, c, "timeout");
        }
    }
}
