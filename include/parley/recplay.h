/* Playback of a recording over the public port (docs/recording.md): who
 * may fetch one of its files, and as what. Pure: the HTTP side finds the
 * file (pl_recfiles_open_url, which answers "not found" alike for every
 * path it refuses), verifies the token, then asks here. */
#ifndef PARLEY_RECPLAY_H
#define PARLEY_RECPLAY_H

#include <stdbool.h>

#include "parley/auth.h"
#include "parley/recmanifest.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The HTTP status for a request of a listed recording:
 * - without tokens (open mode), 200: its 132-bit random id is what a
 *   viewer must know, as a room's name is what a participant must;
 * - with tokens, 401 when the request has none that verifies (claims
 *   NULL), 200 when the token's user is among the manifest's users or the
 *   recording gives access to its room and the token may be in that room
 *   (a token without a room claim may be in any room), 403 otherwise. */
int pl_rec_play_status(const pl_rec_manifest *m, bool tokens_required,
                       const pl_auth_claims *claims);

/* The Content-Type of a recording's file: video/webm for a participant's
 * tracks, audio/ogg for the mix. */
const char *pl_rec_play_content_type(const pl_rec_file *f);

#ifdef __cplusplus
}
#endif
#endif
