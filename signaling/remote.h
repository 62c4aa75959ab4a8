/* The core as a node of a cluster (docs/cluster.md): messages to other
 * nodes, the directory of users online, and what other nodes publish.
 * Every function does nothing without a cluster. Not a public header. */
#ifndef PARLEY_SIG_REMOTE_H
#define PARLEY_SIG_REMOTE_H

#include <jansson.h>

#include "busmsg.h"
#include "core.h"

/* Sends m (its node filled in) on its channel; a failure is logged. */
void sig_remote_send(pl_sig *s, pl_busmsg *m);
/* A user of this node has `status` now ("offline": gone from it): the
 * directory and the other nodes hear of it. */
void sig_remote_presence(pl_sig *s, const char *user_id, const char *name, const char *status);
/* The users of other nodes, appended to welcome.online (but `self` and
 * users who are here too). */
void sig_remote_online(pl_sig *s, const char *self, json_t *online);
/* A user's entry on another node: PL_OK or PL_ENOTFOUND. */
int sig_remote_find(pl_sig *s, const char *user_id, pl_sig_peer *out);

#endif
