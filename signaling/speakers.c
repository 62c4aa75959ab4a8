#include "speakers.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "out.h"

void sig_speakers_announce(pl_sig *s, sig_room *r)
{
    const conn *list[64];
    size_t n = 0;
    for (conn *o = r->members; o && n < 64; o = o->next_member)
        if (o->speaking)
            list[n++] = o;
    for (size_t i = 1; i < n; i++) /* few speakers: insertion sort by level */
        for (size_t k = i; k > 0 && list[k]->level < list[k - 1]->level; k--) {
            const conn *t = list[k];
            list[k] = list[k - 1];
            list[k - 1] = t;
        }
    json_t *active = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(active, json_string(list[i]->participant_id));
    char *text = json_dumps(active, JSON_COMPACT);
    bool changed = text && strcmp(text, r->speakers) != 0;
    if (changed)
        snprintf(r->speakers, sizeof(r->speakers), "%s", text);
    free(text);
    if (changed)
        sig_send_room(s, r, NULL, json_pack("{s:s,s:o}", "type", "speakers", "active", active));
    else
        json_decref(active);
}
