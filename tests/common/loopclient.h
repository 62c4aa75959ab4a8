/* The outside of a media worker for tests on real loopback sockets: a
 * client-role pl_peer (the code the native client uses) on its own UDP
 * socket, pumped by the test on the real clock, and a worker event
 * recorder. */
#ifndef PARLEY_TEST_LOOPCLIENT_H
#define PARLEY_TEST_LOOPCLIENT_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "parley/peer.h"
#include "parley/tcpframe.h"
#include "parley/worker.h"

/* Worker events, counted from the worker thread. */
typedef struct events {
    atomic_int connected, failed;
    atomic_int connected_tcp; /* of `connected`, over ICE-TCP */
    atomic_int last_error;    /* of the last failure */
    atomic_int last_failure;  /* its enum pl_failure */
    atomic_int refused;       /* commands the worker did not carry out */
} events;

/* A pl_worker_config.on_event for an `events`. */
void on_event(void *user, const pl_worker_event *ev);

int64_t now_us(void);
/* A UDP socket bound to 127.0.0.1 on a free port. */
int udp_socket(void);

typedef struct client {
    pl_peer *peer;
    int fd;
    /* ICE-TCP: fd is a connection to the worker's TCP port, every packet
     * framed (RFC 4571); `server` is where it goes, as ICE names it. */
    bool tcp;
    pl_tcpframe *rx;
    pl_addr server;
    bool rx_failed; /* the worker's stream did not parse */
    bool connected, closed, failed;
    /* What arrived, decrypted. */
    size_t n_rtp, n_rtcp, n_pli;
    uint16_t seq[256];
    uint32_t ssrc[256], ts[256];
    uint8_t pt[256];
    bool ext[256];
    uint32_t pli_media;
} client;

/* A client of the worker at `server` that knows the transport by its
 * credentials and by the fingerprint of `server_cert`, and presents
 * `cert`. */
client make_client(const pl_env *env, const pl_dtls_cert *cert, const pl_dtls_cert *server_cert,
                   const pl_addr *server, const char *server_ufrag, const char *server_pwd);
/* The same over ICE-TCP: connected to the worker's TCP port (`server`'s
 * port), with `rcvbuf` as its receive buffer when not 0. */
client make_tcp_client(const pl_env *env, const pl_dtls_cert *cert, const pl_dtls_cert *server_cert,
                       const pl_addr *server, const char *server_ufrag, const char *server_pwd,
                       int rcvbuf);
void client_free(client *c);
/* Sends one packet the client's way (a datagram, or a frame). */
void client_send(client *c, const uint8_t *data, size_t len, const pl_addr *to);
/* Sends what the peer has to send and records what it reported. Outputs
 * must be drained right after each input: decrypted RTP/RTCP point into
 * the datagram buffer. */
void client_drain(client *c);
/* Waits up to wait_ms for one datagram, hands it to the peer, and runs its
 * timers when due. */
void client_pump(client *c, int wait_ms);

/* A binding request as a controlling agent nominating the pair (USERNAME,
 * ICE-CONTROLLING, USE-CANDIDATE), signed with `pwd`: the check a client
 * sends, or one an attacker forges. Returns its length. */
size_t stun_check(uint8_t *out, size_t cap, const char *username, const char *pwd,
                  uint8_t tid_byte);

/* Waiting for a condition instead of sleeping. */

/* Pumps each client that is not NULL (a short poll on its socket) until
 * `cond` holds; after `ms` milliseconds fails the test with the message
 * (printf-style, evaluated then: say what was awaited and what was seen). */
#define PUMP_UNTIL(a, b, ms, cond, ...)                                                            \
    do {                                                                                           \
        int64_t until_ = now_us() + (int64_t)(ms)*1000;                                            \
        while (!(cond)) {                                                                          \
            if (now_us() >= until_)                                                                \
                fail_msg(__VA_ARGS__);                                                             \
            pump_clients((a), (b));                                                                \
        }                                                                                          \
    } while (0)

/* One round of PUMP_UNTIL: both clients for up to 2 ms each, or a 1 ms
 * pause when there is none. */
void pump_clients(client *a, client *b);

/* Returns once the worker has run every command issued before the call:
 * commands run in order, so one it must refuse (routes for a transport
 * that does not exist), reported as PL_WORKER_REFUSED, marks the point.
 * `ev` must be the `events` of the worker's on_event. */
void worker_barrier(pl_worker *w, events *ev);

/* Returns once the worker has read every datagram sent to it from `fd`
 * before the call: sends a check for the live transport `ufrag` with a
 * wrong password and waits for the 401 (the worker reads its one socket in
 * order). Everything else arriving at `fd` meanwhile is discarded. The
 * check counts as one datagram dropped by that transport. */
void worker_read_all_from(int fd, const pl_addr *server, const char *ufrag);

/* Hands the client every datagram already waiting at its socket. */
void client_take_pending(client *c);

#endif
