/* A bot's transports over ICE-TCP (--ice-tcp): each transport is one TCP
 * connection to the relay's passive candidate (RFC 6544), every packet
 * framed with its length (RFC 4571). What the socket does not take at once
 * waits in a bounded buffer, flushed before the next packet and on every
 * tick; a packet that does not fit is dropped and counted as a send error,
 * never half written, so the stream stays framed. */
#include "bot_tcp.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

int pl_bot_tcp_socket(const char *ip)
{
    pl_addr a;
    if (pl_addr_set(&a, ip, 0) != PL_OK)
        return -1;
    int fd = socket(a.ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    int on = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on));
    if (bind(fd, (const struct sockaddr *)&a.ss, a.len) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

int pl_bot_tcp_connect(pl_bot_tcp *t, const pl_env *env, int fd, const pl_addr *server)
{
    if (t->connected)
        return pl_addr_equal(&t->server, server) ? PL_OK : PL_ESTATE;
    /* Blocking, once per transport: the relay is near, and the first
     * check must not wait for the connection. */
    if (connect(fd, (const struct sockaddr *)&server->ss, server->len) != 0)
        return PL_EINVAL;
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    t->rx = pl_tcpframe_create(env, PL_TCPFRAME_MAX);
    if (!t->rx)
        return PL_ENOMEM;
    t->server = *server;
    t->connected = true;
    return PL_OK;
}

void pl_bot_tcp_free(pl_bot_tcp *t)
{
    pl_tcpframe_destroy(t->rx);
    t->rx = NULL;
}

static void flush(pl_bot_tcp *t, int fd)
{
    while (t->out_len > 0) {
        ssize_t n = send(fd, t->out, t->out_len, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return;
        memmove(t->out, t->out + n, t->out_len - (size_t)n);
        t->out_len -= (size_t)n;
    }
}

int pl_bot_tcp_send(pl_bot_tcp *t, int fd, const uint8_t *data, size_t len)
{
    if (!t->connected)
        return PL_ESTATE;
    flush(t, fd);
    if (sizeof(t->out) - t->out_len < PL_TCPFRAME_HDR + len)
        return PL_ENOSPC;
    pl_tcpframe_put_header(t->out + t->out_len, len);
    memcpy(t->out + t->out_len + PL_TCPFRAME_HDR, data, len);
    t->out_len += PL_TCPFRAME_HDR + len;
    flush(t, fd);
    return PL_OK;
}

void pl_bot_tcp_flush(pl_bot_tcp *t, int fd)
{
    if (t->connected)
        flush(t, fd);
}

int pl_bot_tcp_read(pl_bot_tcp *t, int fd, uint8_t *buf, size_t cap,
                    void (*on_frame)(void *user, uint8_t *frame, size_t len), void *user)
{
    if (!t->connected)
        return PL_EAGAIN;
    for (;;) {
        ssize_t n = recv(fd, buf, cap, MSG_DONTWAIT);
        if (n == 0)
            return PL_ESTATE; /* the relay closed the connection */
        if (n < 0)
            return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR ? PL_EAGAIN
                                                                            : PL_ESTATE;
        uint8_t *in = buf, *frame;
        size_t in_len = (size_t)n, flen;
        int rc;
        while ((rc = pl_tcpframe_next(t->rx, &in, &in_len, &frame, &flen)) == PL_OK)
            on_frame(user, frame, flen);
        if (rc == PL_EMALFORMED)
            return PL_EMALFORMED;
    }
}
