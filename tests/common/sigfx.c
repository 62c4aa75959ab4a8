#include "sigfx.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

static void cap_send(void *user, uint64_t conn, const char *json, size_t len)
{
    box *b = user;
    json_error_t e;
    json_t *m = json_loadb(json, len, 0, &e);
    assert_non_null(m);
    assert_true(b->n[conn] < MAXQ);
    b->q[conn][b->n[conn]++] = m;
}

static void cap_event(void *user, const pl_sig_event *ev)
{
    box *b = user;
    char *text = pl_sig_event_json(ev);
    assert_non_null(text);
    json_error_t e;
    json_t *m = json_loads(text, 0, &e);
    free(text);
    assert_non_null(m);
    if (b->n_events == MAXQ) { /* suites that do not look at events */
        json_decref(b->events[0]);
        memmove(b->events, b->events + 1, (MAXQ - 1) * sizeof(b->events[0]));
        b->n_events--;
    }
    b->events[b->n_events++] = m;
}

static void cap_close(void *user, uint64_t conn, int code, const char *reason)
{
    (void)reason;
    ((box *)user)->closed[conn] = code;
}

static int fm_add(void *user, const char *room, uint64_t id, const char *lu, const char *lp,
                  const char *ru, const char *rp, const char *alg, const char *fp, uint16_t *port)
{
    (void)room, (void)lp, (void)rp, (void)alg, (void)fp;
    fake_media *m = user;
    m->adds++;
    m->last_id = id;
    snprintf(m->local_ufrag, sizeof(m->local_ufrag), "%s", lu);
    snprintf(m->remote_ufrag, sizeof(m->remote_ufrag), "%s", ru);
    *port = 40000;
    return 0;
}

static int fm_restart(void *user, const char *room, uint64_t id, const char *lu, const char *lp,
                      const char *ru, const char *rp)
{
    (void)room, (void)lp, (void)rp;
    fake_media *m = user;
    m->restarts++;
    m->last_id = id;
    snprintf(m->local_ufrag, sizeof(m->local_ufrag), "%s", lu);
    snprintf(m->remote_ufrag, sizeof(m->remote_ufrag), "%s", ru);
    return 0;
}

static void fm_remove(void *user, const char *room, uint64_t id)
{
    (void)room, (void)id;
    ((fake_media *)user)->removes++;
}

static uint16_t fm_port(void *user, const char *room)
{
    (void)user, (void)room;
    return 40000;
}

static void fm_set_tracks(void *user, const char *room, uint64_t id, const pl_track *p, size_t n)
{
    (void)room;
    fake_media *m = user;
    assert_true(n <= PL_MAX_TRACKS);
    m->tracks_of = id;
    m->n_tracks = n;
    memcpy(m->tracks, p, n * sizeof(*p));
}

static void fm_set_routes(void *user, const char *room, uint64_t id, const pl_route *p, size_t n)
{
    (void)room;
    fake_media *m = user;
    assert_true(n <= PL_MAX_ROUTES);
    m->routes_of = id;
    m->n_routes = n;
    memcpy(m->routes, p, n * sizeof(*p));
}

/* The seeded env hands every callback its random state, f->rs. */
static void cap_log(void *user, enum pl_log_level level, const char *msg)
{
    (void)level;
    fx *f = (fx *)((char *)user - offsetof(fx, rs));
    snprintf(f->log, sizeof(f->log), "%s", msg);
}

static int fm_record_start(void *user, const char *room, const char *owner,
                           const pl_sig_message *msg, char *id)
{
    fake_media *m = user;
    m->record_starts++;
    snprintf(m->record_room, sizeof(m->record_room), "%s", room);
    snprintf(m->record_owner, sizeof(m->record_owner), "%s", owner ? owner : "(none)");
    m->message = msg != NULL;
    if (msg) {
        snprintf(m->callee, sizeof(m->callee), "%s", msg->callee);
        m->audio_only = msg->audio_only;
    }
    if (m->record_rc != PL_OK)
        return m->record_rc;
    if (!id[0])
        snprintf(id, PL_SIG_RECORDING_ID_MAX + 1, "rec%019d", m->record_starts);
    snprintf(m->record_id, sizeof(m->record_id), "%s", id);
    return PL_OK;
}

static void fm_record_stop(void *user, const char *room)
{
    (void)room;
    ((fake_media *)user)->record_stops++;
}

static void fm_record_participant(void *user, const char *room, const char *pid, const char *name,
                                  uint64_t transport)
{
    (void)room, (void)name;
    fake_media *m = user;
    m->record_participants++;
    snprintf(m->participant, sizeof(m->participant), "%s", pid);
    m->participant_transport = transport;
}

static void fm_record_leave(void *user, const char *room, const char *pid)
{
    (void)room, (void)pid;
    ((fake_media *)user)->record_leaves++;
}

static int fm_may_start(void *user, const char *owner)
{
    (void)owner;
    return ((fake_media *)user)->may_start_rc;
}

static void fm_delete(void *user, const char *id)
{
    fake_media *m = user;
    m->deletes++;
    snprintf(m->deleted, sizeof(m->deleted), "%s", id);
}

fx *fx_new_with_media(void)
{
    fx *f = calloc(1, sizeof(*f));
    f->env = pl_env_seeded(&f->rs, 5);
    f->env.log = cap_log;
    f->now = (pl_sig_time){.mono_ms = 5000, .wall_ms = 1700000000000LL};
    pl_sig_io io = {.user = &f->b, .send = cap_send, .close = cap_close, .event = cap_event};
    pl_sig_media media = {.user = &f->media,
                          .add_transport = fm_add,
                          .remove_transport = fm_remove,
                          .restart_ice = fm_restart,
                          .port_for = fm_port,
                          .set_tracks = fm_set_tracks,
                          .set_routes = fm_set_routes,
                          .record_start = fm_record_start,
                          .record_stop = fm_record_stop,
                          .record_participant = fm_record_participant,
                          .record_leave = fm_record_leave,
                          .record_may_start = fm_may_start,
                          .recording_delete = fm_delete,
                          .fingerprint = "AB:CD",
                          .announce_ip = "127.0.0.1"};
    f->sig = pl_sig_create(&f->env, &io, &media);
    return f;
}

char *fixture(const char *name)
{
    char path[256];
    snprintf(path, sizeof(path), "fixtures/%s", name);
    FILE *fp = fopen(path, "rb");
    assert_non_null(fp);
    char *buf = calloc(1, 1 << 16);
    size_t n = fread(buf, 1, (1 << 16) - 1, fp);
    fclose(fp);
    buf[n] = '\0';
    return buf;
}

fx *fx_new(void)
{
    fx *f = calloc(1, sizeof(*f));
    f->env = pl_env_seeded(&f->rs, 5);
    f->env.log = cap_log;
    f->now = (pl_sig_time){.mono_ms = 5000, .wall_ms = 1700000000000LL};
    pl_sig_io io = {.user = &f->b, .send = cap_send, .close = cap_close, .event = cap_event};
    f->sig = pl_sig_create(&f->env, &io, NULL);
    return f;
}

pl_sig_time fx_after(const fx *f, int64_t ms)
{
    return (pl_sig_time){.mono_ms = f->now.mono_ms + ms, .wall_ms = f->now.wall_ms + ms};
}

void drain(fx *f, int c)
{
    for (size_t i = 0; i < f->b.n[c]; i++)
        json_decref(f->b.q[c][i]);
    f->b.n[c] = 0;
}

void drain_events(fx *f)
{
    for (size_t i = 0; i < f->b.n_events; i++)
        json_decref(f->b.events[i]);
    f->b.n_events = 0;
}

void fx_free(fx *f)
{
    pl_sig_destroy(f->sig);
    drain_events(f);
    for (int c = 0; c < MAXC; c++)
        drain(f, c);
    free(f);
}

void say(fx *f, int c, const char *text)
{
    pl_sig_handle_text(f->sig, (uint64_t)c, f->now, text, strlen(text));
}

json_t *got(fx *f, int c, const char *type)
{
    for (size_t i = f->b.n[c]; i-- > 0;)
        if (strcmp(json_string_value(json_object_get(f->b.q[c][i], "type")), type) == 0)
            return f->b.q[c][i];
    return NULL;
}

const char *str(json_t *m, const char *key)
{
    return json_string_value(json_object_get(m, key));
}

void expect_error(fx *f, int c, const char *code)
{
    json_t *e = got(f, c, "error");
    assert_non_null(e);
    assert_string_equal(str(e, "code"), code);
    assert_non_null(str(e, "message"));
    drain(f, c);
}

void hello(fx *f, int c, const char *name)
{
    assert_int_equal(pl_sig_connect(f->sig, (uint64_t)c), 0);
    char m[128];
    snprintf(m, sizeof(m), "{\"type\":\"hello\",\"name\":\"%s\",\"id\":1}", name);
    say(f, c, m);
    json_t *w = got(f, c, "welcome");
    assert_non_null(w);
    assert_int_equal(json_integer_value(json_object_get(w, "re")), 1);
}
