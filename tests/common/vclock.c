#include "vclock.h"

#include <stdbool.h>
#include <sys/time.h>
#include <time.h>

/* A plausible wall-clock origin: OpenSSL treats a zero time as "no timer". */
#define VCLOCK_EPOCH_US 1700000000000000LL

static bool vclock_on;
static int64_t vclock_us;

void vclock_set(int64_t now_us)
{
    vclock_on = true;
    vclock_us = now_us;
}

int gettimeofday(struct timeval *restrict tv, void *restrict tz)
{
    (void)tz;
    int64_t us;
    if (vclock_on) {
        us = VCLOCK_EPOCH_US + vclock_us;
    } else {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        us = (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
    }
    tv->tv_sec = (time_t)(us / 1000000);
    tv->tv_usec = (suseconds_t)(us % 1000000);
    return 0;
}
