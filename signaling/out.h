/* What goes to clients: one message to a connection, to a room, to a
 * user's devices, and errors (with the strikes that close a connection
 * that keeps sending garbage). Every function sends and releases `msg`. */
#ifndef PARLEY_SIG_OUT_H
#define PARLEY_SIG_OUT_H

#include <jansson.h>

#include "core.h"

void sig_send(pl_sig *s, conn *c, json_t *msg);
void sig_send_room(pl_sig *s, const sig_room *r, const conn *except, json_t *msg);
void sig_send_user(pl_sig *s, const sig_user *u, const conn *except, json_t *msg);
void sig_error(pl_sig *s, conn *c, json_t *re, const char *code, const char *message);
/* {id, name} of a connection's user as it presented itself. */
json_t *sig_user_json(const conn *c);

#endif
