/* A room's recording in the protocol (record.c). */
#ifndef PARLEY_SIG_RECORD_H
#define PARLEY_SIG_RECORD_H

#include <jansson.h>

#include "core.h"

/* Starts (by: a participant id, "operator") or stops room r's recording;
 * owner and msg as pl_sig_media.record_start, id_in a recording id to use
 * (NULL: a fresh one). PL_OK, or record_start's error. */
int sig_record_set(pl_sig *s, sig_room *r, bool on, const char *by, const char *owner,
                   const pl_sig_message *msg, const char *id_in);
/* Request: record {record: bool}. */
void sig_on_record(pl_sig *s, conn *c, json_t *msg, json_t *re);
/* `joined` says whether the room is being recorded. */
void sig_record_joined_json(const sig_room *r, json_t *joined);
/* A member joined a recorded room, or its publish transport changed. */
void sig_record_member(pl_sig *s, const conn *c);
/* A member left room r (already out of its members); the last one out
 * stops the recording. */
void sig_record_left(pl_sig *s, sig_room *r, const char *participant_id);

#endif
