/* Rooms and their members. */
#ifndef PARLEY_SIG_ROOMS_H
#define PARLEY_SIG_ROOMS_H

#include <jansson.h>

#include "core.h"

/* Requests: join, leave, chat, mute, hand. */
void sig_on_join(pl_sig *s, conn *c, json_t *msg, json_t *re);
void sig_on_leave(pl_sig *s, conn *c, json_t *re);
void sig_on_chat(pl_sig *s, conn *c, json_t *msg, json_t *re, pl_sig_time now);
void sig_on_mute(pl_sig *s, conn *c, json_t *msg, json_t *re);
void sig_on_hand(pl_sig *s, conn *c, json_t *msg, json_t *re);
/* `joined` for a member: its room and the others in it. */
json_t *sig_joined_json(const conn *c, json_t *re);
/* A member leaves (`reason` as the others are told), with its transports;
 * a room left empty goes, and leaving a call's room hangs up. */
void sig_leave_room(pl_sig *s, conn *c, const char *reason);
/* Takes every member out of a room the server closes. */
void sig_close_room(pl_sig *s, const char *name);

#endif
