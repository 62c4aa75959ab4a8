/* Presence: who is online and with which status (online, dnd, ringing,
 * in-call), told to every other user when it changes. */
#ifndef PARLEY_SIG_PRESENCE_H
#define PARLEY_SIG_PRESENCE_H

#include <jansson.h>

#include "core.h"

/* Tells every other user that c's user now has `status`. */
void sig_presence_announce(pl_sig *s, const conn *c, const char *status);
/* Tells every other user that this user's status changed from `before`
 * (nothing is sent when it did not). */
void sig_presence_changed(pl_sig *s, const char *user_id, const char *before);
/* welcome.online: every other user connected, once each, with a status. */
json_t *sig_online_json(pl_sig *s, const conn *c);
/* Request: status. */
void sig_on_status(pl_sig *s, conn *c, json_t *msg, json_t *re);

#endif
