/* Video heads-ups being left (message.c). */
#ifndef PARLEY_SIG_MESSAGE_H
#define PARLEY_SIG_MESSAGE_H

#include <jansson.h>

#include "core.h"

/* Requests: message-start {to, call_id?, audio_only?}, message-stop
 * {message_id}. */
void sig_on_message_start(pl_sig *s, conn *c, json_t *msg, json_t *re);
void sig_on_message_stop(pl_sig *s, conn *c, json_t *msg, json_t *re);
/* May c join `room`? NULL, or the error code to refuse with (and why):
 * a message-... room is its caller's only, while it records. */
const char *sig_message_room_check(pl_sig *s, const conn *c, const char *room, const char **why);
/* c is joining its room: the recording starts (before `joined`, which
 * says so). PL_OK; else the message is given up (the caller gets
 * message-saved with an error) and c is to be refused: PL_ENOSPC (quota)
 * or another code. */
int sig_message_joined(pl_sig *s, conn *c);
/* Messages past their length stop; rooms never joined are given up. */
void sig_message_tick(pl_sig *s);
void sig_messages_destroy(pl_sig *s);

#endif
