/* The time the signaling core is told: timers run on the monotonic clock,
 * so stepping the wall clock expires nothing; the wall clock is only for
 * `ts` fields and token expiry. */
#include <time.h>

#include "server.h"

static int64_t clock_ms(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

pl_sig_time srv_now(void)
{
    return (pl_sig_time){.mono_ms = clock_ms(CLOCK_MONOTONIC), .wall_ms = clock_ms(CLOCK_REALTIME)};
}
