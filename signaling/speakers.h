/* Active speakers: a room is told `speakers` (loudest first) when its list
 * changes. */
#ifndef PARLEY_SIG_SPEAKERS_H
#define PARLEY_SIG_SPEAKERS_H

#include "core.h"

void sig_speakers_announce(pl_sig *s, sig_room *r);

#endif
