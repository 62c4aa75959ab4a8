/* Inside the media worker (not public): its state, shared by worker.c
 * (the loop, sockets in, transports and commands) and worker_out.c
 * (datagrams out in batches, and what the router has to say: packets,
 * events). */
#ifndef PARLEY_MEDIA_WORKER_INT_H
#define PARLEY_MEDIA_WORKER_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "cmdq.h"
#include "parley/hmap.h"
#include "parley/peer.h"
#include "parley/relaytime.h"
#include "parley/router.h"
#include "parley/srtp.h"
#include "parley/worker.h"

#define BATCH 32
#define DGRAM_MAX 1500
/* Outgoing datagrams are protected in place in these slots and leave in one
 * sendmmsg per batch: a keyframe fanned out to a room is one system call. */
#define OUT_BATCH 128
#define OUT_CAP (DGRAM_MAX + PL_SRTP_MAX_TRAILER)
/* ICE keeps at most a few addresses per transport. */
#define MAX_ADDRS 4
/* An address as a hash key: family, port and address bytes. */
#define ADDR_KEY 20

typedef struct transport {
    struct transport *next;
    uint64_t id;
    pl_peer *peer;
    char ufrag[PL_ICE_CRED_MAX + 1];
    /* Addresses that proved the ICE password, for demultiplexing non-STUN
     * traffic, as the keys they have in the address table. */
    uint8_t addr_keys[MAX_ADDRS][ADDR_KEY];
    size_t n_addrs, next_addr;
    bool failed; /* consent lost or DTLS failed: freed at the end of the loop turn */
} transport;

struct pl_worker {
    pl_env env;
    pl_worker_config cfg;
    int fd, efd;
    uint16_t port;
    pthread_t thread;
    atomic_bool stop;
    pl_cmdq cmds;
    transport *transports;
    /* Demultiplexing and commands find a transport in one lookup. */
    pl_hmap *by_id, *by_ufrag, *by_addr;
    pl_router *router;
    bool reap;          /* some transport failed */
    int64_t next_timer; /* earliest pl_peer_next_timeout of any transport */
    uint8_t (*obuf)[OUT_CAP];
    struct mmsghdr omsg[OUT_BATCH];
    struct iovec oiov[OUT_BATCH];
    pl_addr oaddr[OUT_BATCH];
    int64_t orx[OUT_BATCH]; /* receive time (ns, realtime) behind each copy; 0: none */
    int64_t cur_rx;         /* that of the datagram being handled */
    pl_relaytime relaytime;
    size_t n_out;
    uint64_t fwd_pending;
    struct {
        _Atomic uint64_t transports, in, out, unknown, rejected, rtp, rtcp, fwd, pli, rtx, nacks,
            failed, feedback;
    } st;
    /* The router's counters, copied each loop turn (all of them uint64_t). */
    _Atomic uint64_t rst[sizeof(pl_router_stats) / sizeof(uint64_t)];
};

static inline int64_t realtime_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static inline transport *by_id(pl_worker *w, uint64_t id)
{
    return pl_hmap_get(w->by_id, &id, sizeof(id));
}

/* worker_out.c */
/* Sends the batch of protected datagrams. */
void worker_flush_out(pl_worker *w);
/* Sends what the router has to say, each packet written straight into its
 * output slot and protected there, and its events to the owner. */
void worker_drain_router(pl_worker *w);

#endif
