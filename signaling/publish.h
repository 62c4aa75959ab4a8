/* The publish transport of each participant and its tracks. */
#ifndef PARLEY_SIG_PUBLISH_H
#define PARLEY_SIG_PUBLISH_H

#include <jansson.h>

#include "core.h"

/* Request: publish (an offer; protocol section 3). */
void sig_on_publish(pl_sig *s, conn *c, json_t *msg, json_t *re);
/* A participant's tracks as the room is told them. */
json_t *sig_tracks_json(const conn *c);
/* The worker lost the transport: the client is told `transport-closed`,
 * the room that the tracks are gone. */
void sig_publish_lost(pl_sig *s, conn *c);
/* The participant leaves its room: the transport and tracks go (the room
 * is told by the leave itself). */
void sig_publish_release(pl_sig *s, conn *c);

#endif
