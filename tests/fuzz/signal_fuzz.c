/* libFuzzer target: the signaling core. The input is split into messages
 * (at newlines) that three connections send in turn, so sequences of
 * hello/join/publish/chat/leave/call and garbage interleave as with real
 * clients; a fake media layer accepts transports like the workers do, and
 * missed heads-ups go to an in-memory store. A line starting with `~`
 * moves both clocks a minute on (rings time out), one with `^` steps the
 * wall clock back a day (timers must not care), one with `!` reports
 * speaking. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "parley/signal.h"
#include "parley/store.h"

static void drop_send(void *user, uint64_t conn, const char *json, size_t len)
{
    (void)user;
    (void)conn;
    (void)json;
    (void)len;
}

static void drop_close(void *user, uint64_t conn, int code, const char *reason)
{
    (void)user;
    (void)conn;
    (void)code;
    (void)reason;
}

static int add_transport(void *user, const char *room, uint64_t id, const char *lu, const char *lp,
                         const char *ru, const char *rp, const char *alg, const char *fp,
                         uint16_t *port)
{
    (void)user, (void)room, (void)id, (void)lu, (void)lp, (void)ru, (void)rp, (void)alg, (void)fp;
    *port = 40000;
    return 0;
}

static void remove_transport(void *user, const char *room, uint64_t id)
{
    (void)user, (void)room, (void)id;
}

static uint16_t port_for(void *user, const char *room)
{
    (void)user, (void)room;
    return 40000;
}

static void set_any_tracks(void *user, const char *room, uint64_t id, const pl_track *p, size_t n)
{
    (void)user, (void)room, (void)id, (void)p, (void)n;
}

static void set_any_routes(void *user, const char *room, uint64_t id, const pl_route *p, size_t n)
{
    (void)user, (void)room, (void)id, (void)p, (void)n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint64_t seed;
    pl_env env = pl_env_seeded(&seed, 1);
    pl_sig_io io = {.send = drop_send, .close = drop_close};
    pl_sig_media media = {.add_transport = add_transport,
                          .remove_transport = remove_transport,
                          .port_for = port_for,
                          .set_tracks = set_any_tracks,
                          .set_routes = set_any_routes,
                          .fingerprint = "AB:CD",
                          .announce_ip = "127.0.0.1"};
    pl_sig *sig = pl_sig_create(&env, &io, &media);
    pl_store *store = NULL;
    if (pl_store_create(&env, ":memory:", &store) == PL_OK)
        pl_sig_set_store(sig, store);
    pl_sig_time now = {.mono_ms = 5000, .wall_ms = 1700000000000LL};
    for (uint64_t c = 1; c <= 3; c++)
        pl_sig_connect(sig, c);
    const char *p = (const char *)data, *end = p + size;
    uint64_t who = 1;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t len = nl ? (size_t)(nl - p) : (size_t)(end - p);
        pl_sig_handle_text(sig, who, now, p, len);
        if (len && p[0] == '!')
            pl_sig_speaking(sig, who, len % 2, (uint8_t)len);
        if (len && p[0] == '~') {
            now.mono_ms += 60000;
            now.wall_ms += 60000;
            pl_sig_tick(sig, now);
        }
        if (len && p[0] == '^') {
            now.wall_ms -= 86400000;
            pl_sig_tick(sig, now);
        }
        who = who % 3 + 1;
        p += len + 1;
    }
    pl_sig_disconnect(sig, 2, now);
    pl_sig_drop(sig, 3, now);
    now.mono_ms += 3600000;
    pl_sig_tick(sig, now);
    pl_sig_stats st;
    pl_sig_stats_get(sig, &st);
    pl_sig_destroy(sig);
    pl_store_destroy(store);
    return 0;
}
