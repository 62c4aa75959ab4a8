/* A real redis-server for tests: on a free loopback port, in a temporary
 * directory of its own, killed and started again on demand. */
#ifndef PARLEY_TEST_REDISFX_H
#define PARLEY_TEST_REDISFX_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

typedef struct redisfx {
    pid_t pid; /* 0: not running */
    int port;
    bool durable; /* appendonly yes, appendfsync always */
    char dir[64];
    char url[64]; /* redis://127.0.0.1:port */
} redisfx;

/* Is redis-server installed (on PATH)? Tests skip without it. */
bool redisfx_available(void);
/* Starts a server (durable or with appendonly no) and waits until it
 * answers: 0, or -1. */
int redisfx_start(redisfx *fx, bool durable);
/* Kills it with sig and reaps it; its directory (and AOF) stays. */
void redisfx_kill(redisfx *fx, int sig);
/* Starts it again on the same port and directory: 0, or -1. */
int redisfx_restart(redisfx *fx);
/* Kills it and removes its directory. */
void redisfx_stop(redisfx *fx);
/* FLUSHALL: 0, or -1. */
int redisfx_flush(redisfx *fx);

#endif
