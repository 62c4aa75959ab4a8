/* What the media workers report about transports, as the core handles it:
 * a publisher speaking or not, a transport up, lost, closed by its client,
 * or a command for it refused. Reports come after the fact and may cross
 * the core's own commands: one for a transport the core has already
 * removed finds no owner and is dropped. */
#include "parley/signal.h"

#include <string.h>

#include "core.h"
#include "out.h"
#include "publish.h"
#include "reply.h"
#include "speakers.h"
#include "subscribe.h"

/* The connection whose transport this is, while it is in a room. */
static conn *owner(const pl_sig *s, uint64_t transport)
{
    conn *c = transport ? sig_transport_owner(&s->m, transport) : NULL;
    return c && c->room ? c : NULL;
}

static const char *role(const conn *c, uint64_t transport)
{
    return c->pub_transport == transport ? "publish" : "subscribe";
}

static void lost(pl_sig *s, conn *c, uint64_t transport)
{
    if (c->pub_transport == transport)
        sig_publish_lost(s, c);
    else
        sig_subscribe_lost(s, c);
}

void pl_sig_speaking(pl_sig *s, uint64_t transport, bool speaking, uint8_t level)
{
    conn *c = owner(s, transport);
    if (!c || c->pub_transport != transport)
        return;
    c->speaking = speaking;
    c->level = level;
    sig_speakers_announce(s, c->room);
}

/* The relay stopped or resumed a remote video for a subscriber whose
 * downlink cannot carry its lowest layer: the client shows the name in the
 * tile instead of a frozen picture. Said only when it changes. */
void pl_sig_video_paused(pl_sig *s, uint64_t transport, uint32_t out_ssrc, bool paused)
{
    conn *c = owner(s, transport);
    if (!c || c->sub_transport != transport)
        return;
    for (size_t i = 0; i < c->n_slots; i++) {
        slot *sl = &c->slots[i];
        if (!sl->active || sl->route.out_ssrc != out_ssrc || sl->bandwidth_paused == paused)
            continue;
        sl->bandwidth_paused = paused;
        sig_send(s, c,
                 json_pack("{s:s,s:s,s:s,s:b,s:s}", "type", "video-paused", "track_id",
                           sl->track_id, "participant_id", sl->participant_id, "paused", paused,
                           "reason", "bandwidth"));
        return;
    }
}

/* Dynacast: which of its camera's simulcast layers the publisher should
 * send, by rid; it switches the others off (RTCRtpSender.setParameters),
 * saving its CPU and uplink, and on again when they are named again. */
void pl_sig_publisher_layers(pl_sig *s, uint64_t transport, const char *mid, uint8_t layers)
{
    conn *c = owner(s, transport);
    if (!c || c->pub_transport != transport)
        return;
    for (size_t i = 0; i < c->n_tracks; i++) {
        track *t = &c->tracks[i];
        if (strcmp(t->media.mid, mid) != 0 || !t->media.n_layers)
            continue;
        t->layers_told = true;
        t->layers = layers;
        sig_send(s, c, sig_publish_layers_json(t->id, &t->media, layers));
        return;
    }
}

void pl_sig_transport_connected(pl_sig *s, uint64_t transport)
{
    conn *c = owner(s, transport);
    if (!c)
        return;
    if (c->pub_transport == transport)
        c->pub_connected = true;
    else
        c->sub_connected = true;
    s->transports_connected++;
}

void pl_sig_transport_path(pl_sig *s, uint64_t transport, enum pl_sig_path path)
{
    conn *c = owner(s, transport);
    if (!c)
        return;
    *(c->pub_transport == transport ? &c->pub_tcp : &c->sub_tcp) = path == PL_SIG_PATH_TCP;
}

void pl_sig_transport_failed(pl_sig *s, uint64_t transport, enum pl_failure why)
{
    if ((unsigned)why >= PL_FAILURE_COUNT)
        why = PL_FAILURE_NONE;
    s->transports_failed_by[why]++;
    conn *c = owner(s, transport);
    if (!c) {
        pl_env_logf(&s->env, PL_LOG_INFO,
                    "signal: transport %llu, which no participant has, failed: %s (%s)",
                    (unsigned long long)transport, pl_failure_text(why), pl_failure_name(why));
        return;
    }
    pl_env_logf(&s->env, PL_LOG_WARN,
                "signal: the %s transport %llu of participant %s failed: %s (%s)",
                role(c, transport), (unsigned long long)transport, c->participant_id,
                pl_failure_text(why), pl_failure_name(why));
    lost(s, c, transport);
}

/* A client that closes its DTLS is usually leaving, or replacing its peer
 * connection, and its `leave` or new offer may be on the way: the close is
 * counted and logged, nothing more. The transport stays until its consent
 * runs out (30 s), and that failure is what closes it for the core. */
void pl_sig_transport_closed(pl_sig *s, uint64_t transport)
{
    conn *c = owner(s, transport);
    if (!c)
        return; /* the core removed it, or never had it */
    pl_env_logf(&s->env, PL_LOG_INFO,
                "signal: participant %s closed its %s transport %llu; it goes when its consent "
                "runs out",
                c->participant_id, role(c, transport), (unsigned long long)transport);
    s->transports_closed++;
}

void pl_sig_command_refused(pl_sig *s, uint64_t transport, int error)
{
    s->commands_refused++;
    conn *c = owner(s, transport);
    if (!c) {
        pl_env_logf(&s->env, PL_LOG_WARN,
                    "signal: a media worker refused a command for transport %llu, which no "
                    "participant has: %s",
                    (unsigned long long)transport, pl_strerror(error));
        return;
    }
    pl_env_logf(&s->env, PL_LOG_WARN,
                "signal: a media worker refused a command for the %s transport %llu of "
                "participant %s: %s; the transport is closed",
                role(c, transport), (unsigned long long)transport, c->participant_id,
                pl_strerror(error));
    lost(s, c, transport);
}
