/* The bots' media threads: each owns the UDP sockets of a share of the
 * bots in one epoll set, feeds their datagrams in batches (recvmmsg) and
 * runs their send clock every millisecond. */
#ifndef PARLEY_BOT_LOOP_H
#define PARLEY_BOT_LOOP_H

#include <stddef.h>
#include <stdint.h>

#include "bot.h"

typedef struct pl_botloop pl_botloop;

/* Starts `threads` media threads over bots[0..n); NULL on failure. */
pl_botloop *pl_botloop_start(pl_bot **bots, size_t n, unsigned threads);
/* Stops and joins the threads. */
void pl_botloop_stop(pl_botloop *l);

/* CLOCK_MONOTONIC in microseconds: shared by every process of the machine,
 * which is what lets a receiver measure one-way delay. */
int64_t pl_bot_now_us(void);

#endif
