/* What the media workers report about transports, as the core handles it:
 * a publisher speaking or not, a transport lost. */
#include "parley/signal.h"

#include "core.h"
#include "publish.h"
#include "speakers.h"
#include "subscribe.h"

void pl_sig_speaking(pl_sig *s, uint64_t transport, bool speaking, uint8_t level)
{
    conn *c = sig_transport_owner(&s->m, transport);
    if (!c || !c->room || c->pub_transport != transport)
        return;
    c->speaking = speaking;
    c->level = level;
    sig_speakers_announce(s, c->room);
}

void pl_sig_transport_failed(pl_sig *s, uint64_t transport)
{
    conn *c = transport ? sig_transport_owner(&s->m, transport) : NULL;
    if (!c || !c->room)
        return;
    if (c->pub_transport == transport)
        sig_publish_lost(s, c);
    else
        sig_subscribe_lost(s, c);
}
