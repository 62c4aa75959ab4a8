/* A virtual network for simulation tests: datagrams between pl_addr
 * endpoints with seeded loss, delay, jitter and duplication on a virtual
 * clock. Nothing touches a socket or the real clock, so a failing run can be
 * replayed exactly from its seed. */
#ifndef PARLEY_TEST_VNET_H
#define PARLEY_TEST_VNET_H

#include <stddef.h>
#include <stdint.h>

#include "parley/common.h"

#define VNET_MTU 1500
#define VNET_CAP 4096

typedef struct vnet_packet {
    int64_t deliver_at;
    uint64_t order; /* ties keep send order */
    pl_addr from, to;
    size_t len;
    uint8_t data[VNET_MTU];
} vnet_packet;

typedef struct vnet {
    uint64_t rng;
    uint64_t next_order;
    /* Impairment, applied per datagram at send time. */
    double loss;       /* 0..1 */
    int64_t delay_us;  /* one-way base delay */
    int64_t jitter_us; /* uniform extra delay 0..jitter (reorders packets) */
    double duplicate;  /* 0..1 */
    /* Counters for assertions. */
    uint64_t sent, dropped, delivered;
    size_t count;
    vnet_packet *q; /* unsorted; VNET_CAP entries */
} vnet;

void vnet_init(vnet *n, uint64_t seed);
void vnet_free(vnet *n);
/* Queues a datagram (maybe dropping or duplicating it); returns 0, or -1 if
 * the network is full or the datagram too big (counted as a drop). */
int vnet_send(vnet *n, int64_t now, const pl_addr *from, const pl_addr *to, const uint8_t *data,
              size_t len);
/* Earliest delivery time of a queued datagram, INT64_MAX if none. */
int64_t vnet_next(const vnet *n);
/* Pops the earliest datagram due at or before now into *out; 1 if one was
 * popped, 0 otherwise. */
int vnet_pop(vnet *n, int64_t now, vnet_packet *out);
/* Uniform random double in [0, 1) from the network's own generator. */
double vnet_rand(vnet *n);

#endif
