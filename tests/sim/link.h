/* A bottleneck link for simulation tests, one direction: datagrams wait in
 * a drop-tail queue, leave it one after the other at the link's rate (a
 * 1200-byte packet takes 9.6 ms at 1 Mbit/s), may be lost at random on the
 * wire, and arrive a base delay later. When a sender exceeds the rate the
 * queue grows, and with it the delay, until the queue's limit drops what
 * does not fit: what a congestion controller must see and avoid. The rate
 * may change during a run (packets already queued then leave at the new
 * rate). With a burst (link_set_burst) the link is a token bucket, as
 * Linux's tbf: idle, it saves up to that many bytes of credit at its rate,
 * and what the credit covers leaves at once. With jitter each packet's
 * delay varies on its own, so packets overtake each other; or, with
 * jitter_keeps_order, a packet drawn late holds back those behind it, as
 * parley-impair's jitter and a queue of varying depth do. A datagram
 * takes its length and `overhead` more of the rate and the queue (IP, UDP
 * and the SRTP tag, which the simulation does not write). Seeded, on the virtual clock;
 * times must not go backwards. */
#ifndef PARLEY_TEST_LINK_H
#define PARLEY_TEST_LINK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define LINK_MTU 1500
#define LINK_CAP 2048 /* packets queued, and on the wire */

typedef struct link_packet {
    int64_t enter_us;   /* when it was sent into the link */
    int64_t queue_us;   /* how long it waited before its first bit left */
    int64_t deliver_at; /* when it reaches the far end */
    size_t len;
    uint8_t data[LINK_MTU];
} link_packet;

typedef struct link_ring {
    link_packet *p;
    size_t head, n;
} link_ring;

typedef struct link {
    uint64_t rng;
    /* Configuration; set the rate with link_set_rate once running. */
    uint64_t rate_bps;
    int64_t delay_us;
    double loss;             /* 0..1, on the wire, after the queue */
    int64_t jitter_us;       /* each packet's delay +- up to this, uniform (reorders) */
    bool jitter_keeps_order; /* a late packet holds the ones behind it (a FIFO) */
    size_t max_queue_bytes;  /* 0: no limit in bytes */
    size_t overhead;         /* bytes a datagram takes beyond its own (headers not written) */
    int64_t max_queue_us;    /* 0: no limit in time (at the current rate) */
    /* State: the queue, whose head is being sent, and the wire. */
    link_ring queue, wire;
    size_t queued_bytes;
    double head_bits_left;
    double clock_us; /* the queue has been served up to here */
    /* Token bucket: its size, its credit, and since when it refills. */
    double burst_bits, tokens_bits, idle_since_us;
    /* Counters for assertions. */
    uint64_t sent, delivered, dropped_queue, dropped_loss;
    uint64_t delivered_bytes;
} link;

void link_init(link *l, uint64_t seed, uint64_t rate_bps, int64_t delay_us);
void link_free(link *l);
/* A token bucket of `bytes` (0: none), full now. */
void link_set_burst(link *l, size_t bytes);
/* A new rate from now on. */
void link_set_rate(link *l, int64_t now, uint64_t rate_bps);
/* Sends a datagram into the link; 0 when queued, -1 when the queue (or
 * the datagram's size) refused it. */
int link_send(link *l, int64_t now, const uint8_t *data, size_t len);
/* When something next happens in the link (a packet leaves the queue or
 * arrives), INT64_MAX when it is empty. */
int64_t link_next(const link *l);
/* Pops the first datagram that has arrived by now into *out: 1, or 0. */
int link_pop(link *l, int64_t now, link_packet *out);
/* How long a packet sent now would wait in the queue (us). */
int64_t link_queue_delay(link *l, int64_t now);

#endif
