/* Inside the media worker (not public): its state, shared by worker.c
 * (the loop, sockets in, transports and commands), worker_out.c
 * (datagrams out in batches, and what the router has to say: packets,
 * events) and worker_tcp.c (ICE-TCP: the listener and its connections). */
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
#include "parley/tcpframe.h"
#include "parley/worker.h"

#define BATCH 32
#define DGRAM_MAX 1500
/* Outgoing datagrams are protected in place in these slots and leave in one
 * sendmmsg per batch: a keyframe fanned out to a room is one system call. */
#define OUT_BATCH 128
#define OUT_CAP (DGRAM_MAX + PL_SRTP_MAX_TRAILER)
/* ICE keeps at most a few addresses per transport. */
#define MAX_ADDRS 4
/* An address as a hash key: family, protocol, port and address bytes. */
#define ADDR_KEY 20
/* The router's counters reach /stats at most this late. */
#define STATS_EVERY_US 20000
/* A worker this late (its timer, or reading a datagram) is told of. */
#define LATE_US 50000

/* ICE-TCP (RFC 6544, passive): connections per worker; the longest frame
 * taken (what a UDP datagram may carry); what waits for a slow reader
 * before frames are dropped; and the deadlines that close connections
 * which do not behave: a first authenticated check within TCP_BIND_US of
 * the connection, every frame whole within TCP_FRAME_US of its first
 * byte, and something within TCP_IDLE_US (longer than consent, 30 s). */
#define TCP_MAX_CONNS 128
#define TCP_FRAME_MAX DGRAM_MAX
#define TCP_OUT_CAP (256 * 1024)
#define TCP_READ 16384
#define TCP_BIND_US 5000000
#define TCP_FRAME_US 5000000
#define TCP_IDLE_US 35000000
/* epoll tags: the UDP socket, the command eventfd, the TCP listener, then
 * one per connection slot. */
enum { TAG_UDP, TAG_CMDS, TAG_LISTEN, TAG_CONN = 16 };

typedef struct transport {
    struct transport *next;
    uint64_t id;
    pl_peer *peer;
    char ufrag[PL_ICE_CRED_MAX + 1];
    /* Addresses that proved the ICE password, for demultiplexing non-STUN
     * traffic, as the keys they have in the address table. */
    uint8_t addr_keys[MAX_ADDRS][ADDR_KEY];
    size_t n_addrs, next_addr;
    bool failed;    /* consent lost or DTLS failed: freed at the end of the loop turn */
    pl_rectap *tap; /* recorded: a reference to the recording (pl_worker_record) */
} transport;

/* One accepted ICE-TCP connection. It belongs to no transport until a
 * Binding request with a known ufrag authenticates on it (before that, only
 * STUN is taken); from then on its frames go to that transport whatever
 * they are. */
typedef struct tcpconn {
    int fd;
    unsigned slot;
    pl_addr remote; /* tcp set: ICE sees this path apart from UDP */
    uint8_t key[ADDR_KEY];
    pl_tcpframe *rx;
    transport *t;
    int64_t opened, last_rx, frame_start; /* frame_start: 0 between frames */
    /* Framed packets that the socket did not take yet: a ring buffer,
     * allocated when the first packet goes out. */
    uint8_t *out;
    size_t out_head, out_len;
    bool dirty;    /* in the worker's list of connections to write */
    bool want_out; /* EPOLLOUT registered */
    bool dead;     /* closed; freed at the end of the loop turn */
    bool lost;     /* dead while bound: its transport is told at the end of the turn */
} tcpconn;

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
    int64_t cur_at;         /* its arrival (monotonic us), for the recorder */
    pl_relaytime relaytime;
    size_t n_out;
    uint64_t fwd_pending;
    /* ICE-TCP: the listener (-1 when off), connections by slot and by
     * remote address, those with packets to write, the earliest deadline. */
    int lfd;
    tcpconn *conns[TCP_MAX_CONNS];
    pl_hmap *by_tcp;
    unsigned dirty[TCP_MAX_CONNS];
    size_t n_dirty;
    bool tcp_reap;
    int64_t tcp_next;
    uint8_t *tcp_rbuf;
    struct {
        _Atomic uint64_t transports, in, out, unknown, rejected, rtp, rtcp, fwd, pli, rtx, nacks,
            failed, feedback, bytes_in, bytes_out;
        _Atomic uint64_t tcp_conns, tcp_accepted, tcp_refused, tcp_garbage, tcp_oversized, tcp_slow,
            tcp_closed, tcp_send_dropped, send_dropped;
    } st;
    /* The router's counters (all of them uint64_t), copied at most every
     * STATS_EVERY_US (stats_at: the next copy; stats_dirty: one skipped). */
    _Atomic uint64_t rst[sizeof(pl_router_stats) / sizeof(uint64_t)];
    int64_t stats_at;
    bool stats_dirty;
    int64_t router_next; /* pl_router_next_timeout as of the last loop turn */
};

static inline int64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

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

static inline transport *by_ufrag(pl_worker *w, const char *ufrag)
{
    return pl_hmap_get(w->by_ufrag, ufrag, strlen(ufrag));
}

static inline void addr_key(const pl_addr *a, uint8_t key[ADDR_KEY])
{
    memset(key, 0, ADDR_KEY);
    key[0] = (uint8_t)a->ss.ss_family;
    key[1] = a->tcp;
    uint16_t port = pl_addr_port(a);
    key[2] = (uint8_t)(port >> 8);
    key[3] = (uint8_t)port;
    if (a->ss.ss_family == AF_INET)
        memcpy(key + 4, &((const struct sockaddr_in *)&a->ss)->sin_addr, 4);
    else if (a->ss.ss_family == AF_INET6)
        memcpy(key + 4, &((const struct sockaddr_in6 *)&a->ss)->sin6_addr, 16);
}

/* worker.c */
/* Hands one datagram (or ICE-TCP frame) to a transport and drains what it
 * has to say; the peer's return code. */
int worker_deliver(pl_worker *w, int64_t now, transport *t, const pl_addr *from, uint8_t *data,
                   size_t len);
/* Drains a transport's outputs (after an input the worker made up). */
void worker_drain_peer(pl_worker *w, transport *t, int64_t now);

/* worker_out.c */
/* Sends the batch of protected datagrams. */
void worker_flush_out(pl_worker *w);
/* Sends what the router has to say, each packet written straight into its
 * output slot and protected there, and its events to the owner. */
void worker_drain_router(pl_worker *w);

/* worker_tcp.c */
/* Listens on TCP at the UDP socket's address and port. */
int worker_tcp_listen(pl_worker *w, const pl_addr *at);
void worker_tcp_accept(pl_worker *w, int64_t now);
/* An epoll event for the connection in `slot`. */
void worker_tcp_event(pl_worker *w, int64_t now, unsigned slot, uint32_t events);
/* Queues one packet, framed, for the connection to `to` of transport t;
 * false when it was dropped (no such connection, or its buffer full). */
bool worker_tcp_send(pl_worker *w, transport *t, const pl_addr *to, const uint8_t *data,
                     size_t len);
/* Writes what the connections have queued. */
void worker_tcp_flush(pl_worker *w);
/* Closes connections past their deadlines. */
void worker_tcp_timers(pl_worker *w, int64_t now);
/* End of a loop turn: tells transports that their connection closed,
 * then frees closed connections. */
void worker_tcp_reap(pl_worker *w, int64_t now);
/* A transport goes away: its connections close with it. */
void worker_tcp_forget(pl_worker *w, const transport *t);
void worker_tcp_close_all(pl_worker *w);

#endif
