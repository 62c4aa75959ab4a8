/* The cluster's bus and directory in Redis (docs/cluster.md), for the
 * executable: a thread holds the subscribing connection and queues what
 * other nodes publish, waking the signaling loop, which drains the queue
 * into the core; publishing and the directory of users online are
 * synchronous calls on the loop's own connection, with timeouts. */
#ifndef PARLEY_SRV_BUS_H
#define PARLEY_SRV_BUS_H

#include <stdbool.h>
#include <stddef.h>

#include "parley/signal.h"

typedef struct srv_bus srv_bus;

/* Connects both connections and starts the thread: NULL with err said.
 * wake is called on the bus thread when messages are queued. */
srv_bus *srv_bus_start(const pl_env *env, const char *url, void (*wake)(void *arg), void *wake_arg,
                       char *err, size_t err_len);
/* Leaves the cluster (this node's liveness key goes at once) and stops. */
void srv_bus_stop(srv_bus *b);
/* The core's pl_sig_cluster over this bus. */
pl_sig_cluster srv_bus_cluster(srv_bus *b);
/* Hands every queued message to fn, oldest first (the loop's thread). */
void srv_bus_drain(srv_bus *b, void (*fn)(void *arg, const char *text, size_t len), void *arg);
/* Once a second: is the node to say again who its users are
 * (pl_sig_cluster_refresh), having been cut off from Redis? */
bool srv_bus_resync_due(srv_bus *b);
/* Once a second: keeps this node's liveness key fresh. */
void srv_bus_tick(srv_bus *b);

#endif
