/* The subscribe transport of each participant: what it receives of the
 * others in its room. */
#ifndef PARLEY_SIG_SUBSCRIBE_H
#define PARLEY_SIG_SUBSCRIBE_H

#include <jansson.h>

#include "core.h"

/* Brings every member's slots in line with the tracks the others publish
 * and renegotiates where something changed. */
void sig_subscriptions_refresh(pl_sig *s, sig_room *r);
/* Sends a server offer when something changed and none is outstanding. */
void sig_subscribe_offer(pl_sig *s, conn *c);
/* Requests: subscribe-answer, subscription. */
void sig_on_subscribe_answer(pl_sig *s, conn *c, json_t *msg, json_t *re);
void sig_on_subscription(pl_sig *s, conn *c, json_t *msg, json_t *re);
/* After a resume: whatever was offered while away may never have arrived,
 * and the client's network may have changed (ICE restart). */
void sig_subscribe_resume(pl_sig *s, conn *c);
/* The worker lost the transport: the client is told `transport-closed`
 * and offered a new one at once. */
void sig_subscribe_lost(pl_sig *s, conn *c);
/* The participant leaves its room: the transport goes. */
void sig_subscribe_release(pl_sig *s, conn *c);

#endif
