/* Pure helpers for what the core says and checks: message skeletons and
 * printable text. They call nothing else of the core. */
#ifndef PARLEY_SIG_REPLY_H
#define PARLEY_SIG_REPLY_H

#include <stdint.h>

#include <jansson.h>

#include "parley/track.h"

/* {type, re} with `re` (a request's id) when there is one. */
json_t *sig_reply(const char *type, json_t *re);
/* `publish-layers` for a simulcast track (`track_id`): the rids of the
 * layers whose bits are set in `layers`. */
json_t *sig_publish_layers_json(const char *track_id, const pl_track *t, uint8_t layers);
/* Code points of a printable UTF-8 string, or -1 with a control character
 * (jansson already refused invalid UTF-8). */
long sig_printable_chars(const char *t);
/* Code points of a UTF-8 string, control characters included. */
long sig_utf8_chars(const char *t);

#endif
