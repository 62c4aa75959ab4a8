/* Sessions: hello and resume, connections lost and closed, rate limits,
 * and the tick (pl_sig_connect, pl_sig_drop, pl_sig_disconnect and
 * pl_sig_tick of parley/signal.h live here). */
#ifndef PARLEY_SIG_SESSION_H
#define PARLEY_SIG_SESSION_H

#include <stdbool.h>

#include <jansson.h>

#include "core.h"

/* Spends one message of the connection's rate; false when it is over (the
 * client was told, or closed after too many). */
bool sig_session_admit(pl_sig *s, conn *c, pl_sig_time now);
/* Request: hello, with or without `resume`. */
void sig_on_hello(pl_sig *s, conn *c, json_t *msg, json_t *re, pl_sig_time now);

#endif
