/* One bot transport over ICE-TCP: a TCP connection to the relay's passive
 * candidate carrying RFC 4571 frames (--ice-tcp). */
#ifndef PARLEY_BOT_TCP_H
#define PARLEY_BOT_TCP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "parley/common.h"
#include "parley/tcpframe.h"

typedef struct pl_bot_tcp {
    bool connected;
    pl_addr server; /* the candidate, as ICE names it (tcp set) */
    pl_tcpframe *rx;
    /* Framed packets the socket has not taken yet (about 30 of them). */
    size_t out_len;
    uint8_t out[48 * 1024];
} pl_bot_tcp;

/* A blocking TCP socket bound to ip (port 0), not connected yet. */
int pl_bot_tcp_socket(const char *ip);
/* Connects fd to the server's candidate (once; again to the same address
 * is a no-op: an ICE restart keeps its connection) and makes it
 * non-blocking. */
int pl_bot_tcp_connect(pl_bot_tcp *t, const pl_env *env, int fd, const pl_addr *server);
void pl_bot_tcp_free(pl_bot_tcp *t);
/* Sends one packet framed; PL_ENOSPC (dropped whole) when the buffer is
 * full. */
int pl_bot_tcp_send(pl_bot_tcp *t, int fd, const uint8_t *data, size_t len);
/* Writes what waits. */
void pl_bot_tcp_flush(pl_bot_tcp *t, int fd);
/* Reads until the socket is empty, handing each frame to on_frame.
 * PL_EAGAIN when drained; PL_ESTATE when the connection ended,
 * PL_EMALFORMED when the relay's stream does not parse. */
int pl_bot_tcp_read(pl_bot_tcp *t, int fd, uint8_t *buf, size_t cap,
                    void (*on_frame)(void *user, uint8_t *frame, size_t len), void *user);

#endif
