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
#include "parley/worker.h"

/* Worker events, counted from the worker thread. */
typedef struct events {
    atomic_int connected, failed;
    atomic_int last_error; /* of the last failure */
} events;

/* A pl_worker_config.on_event for an `events`. */
void on_event(void *user, const pl_worker_event *ev);

int64_t now_us(void);
/* A UDP socket bound to 127.0.0.1 on a free port. */
int udp_socket(void);

typedef struct client {
    pl_peer *peer;
    int fd;
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
void client_free(client *c);
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

#endif
