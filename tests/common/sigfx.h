/* A signaling core driven directly by tests: every reply and event is
 * captured per connection, and time is a virtual clock (both of the core's
 * clocks, far apart so that a mix-up shows). */
#ifndef PARLEY_TEST_SIGFX_H
#define PARLEY_TEST_SIGFX_H

#include <stdint.h>

#include <jansson.h>

#include "parley/signal.h"

#define MAXC 8
#define MAXQ 64

typedef struct box {
    json_t *q[MAXC][MAXQ];
    size_t n[MAXC];
    int closed[MAXC];
    /* The events the core emitted (the last MAXQ), as their JSON
     * (pl_sig_event_json). */
    json_t *events[MAXQ];
    size_t n_events;
} box;

/* What the core asked of the media workers (fx_new_with_media). */
typedef struct fake_media {
    int adds, removes, restarts;
    uint64_t last_id;
    char local_ufrag[PL_ICE_CRED_MAX + 1], remote_ufrag[PL_ICE_CRED_MAX + 1];
    /* The last tracks and routes set, and for which transport. */
    uint64_t tracks_of, routes_of;
    size_t n_tracks, n_routes;
    pl_track tracks[PL_MAX_TRACKS];
    pl_route routes[PL_MAX_ROUTES];
    /* Recording: what was asked, and what record_start and
     * record_may_start answer (PL_OK unless a test sets them). */
    int record_starts, record_stops, record_participants, record_leaves, deletes;
    int record_rc, may_start_rc;
    char record_room[65], record_owner[65], record_id[PL_SIG_RECORDING_ID_MAX + 1];
    char deleted[PL_SIG_RECORDING_ID_MAX + 1];
    bool message;
    char callee[65];
    bool audio_only;
    char participant[65];
    uint64_t participant_transport;
} fake_media;

typedef struct fx {
    box b;
    uint64_t rs;
    pl_env env;
    pl_sig *sig;
    pl_sig_time now; /* the virtual clocks every message is said at */
    fake_media media;
    char log[512]; /* the last line the core logged */
} fx;

fx *fx_new(void);
/* A core with media workers that accept every transport and record it. */
fx *fx_new_with_media(void);
/* A file of tests/fixtures, NUL-terminated; free() it. */
char *fixture(const char *name);
void fx_free(fx *f);
/* `ms` after f->now on both clocks (f->now stays). */
pl_sig_time fx_after(const fx *f, int64_t ms);
/* Forgets what a connection got so far. */
void drain(fx *f, int c);
void say(fx *f, int c, const char *text);
/* The last message of `type` a connection got, or NULL. */
json_t *got(fx *f, int c, const char *type);
const char *str(json_t *m, const char *key);
void expect_error(fx *f, int c, const char *code);
/* Forgets the events so far. */
void drain_events(fx *f);
/* Connects `c` and says hello as `name`. */
void hello(fx *f, int c, const char *name);

#endif
