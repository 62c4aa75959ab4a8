/* Events out of the core (parley/signal.h, pl_sig_event): stamped with
 * the sequence, id and time here, handed to pl_sig_io.event. Not a public
 * header. */
#ifndef PARLEY_SIG_EVENTS_H
#define PARLEY_SIG_EVENTS_H

#include "core.h"

/* Sets the time events are stamped with; every entry point that is told
 * the time calls it first. */
void sig_events_now(pl_sig *s, pl_sig_time now);
/* Fills in seq, id and wall_ms, and hands the event on. */
void sig_emit(pl_sig *s, pl_sig_event *ev);
/* participant.joined or participant.left (with its reason) of `c` in
 * `room`. */
void sig_emit_participant(pl_sig *s, enum pl_sig_event_type type, const conn *c, const char *room,
                          const char *reason);
/* room.started, or room.finished with how long it lasted. */
void sig_emit_room(pl_sig *s, enum pl_sig_event_type type, const sig_room *r);

#endif
