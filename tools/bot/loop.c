#include "loop.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define BATCH 32
#define DGRAM_CAP 2048
#define TICK_US 1000

typedef struct slot {
    pl_bot *bot;
    enum pl_bot_socket which;
} slot;

typedef struct media_thread {
    pl_botloop *loop;
    int64_t realtime_offset_us; /* CLOCK_REALTIME - CLOCK_MONOTONIC */
    pthread_t tid;
    int ep;
    pl_bot **bots;
    size_t n;
    slot *slots;
    bool started;
} media_thread;

struct pl_botloop {
    atomic_bool stop;
    unsigned n_threads;
    media_thread *threads;
};

int64_t pl_bot_now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static int64_t realtime_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* The kernel's receive timestamp (SO_TIMESTAMPNS, real time) on the
 * monotonic clock, or 0. */
static int64_t arrival(const media_thread *t, struct msghdr *h)
{
    for (struct cmsghdr *c = CMSG_FIRSTHDR(h); c; c = CMSG_NXTHDR(h, c))
        if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_TIMESTAMPNS) {
            struct timespec ts;
            memcpy(&ts, CMSG_DATA(c), sizeof(ts));
            return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000 - t->realtime_offset_us;
        }
    return 0;
}

static void read_socket(media_thread *t, const slot *s)
{
    static const size_t cap = DGRAM_CAP;
    uint8_t bufs[BATCH][DGRAM_CAP];
    union {
        char buf[CMSG_SPACE(sizeof(struct timespec))];
        struct cmsghdr align;
    } ctl[BATCH];
    struct mmsghdr msgs[BATCH];
    struct iovec iov[BATCH];
    pl_addr from[BATCH];
    int fd = pl_bot_socket(s->bot, s->which);
    for (;;) {
        for (int i = 0; i < BATCH; i++) {
            iov[i] = (struct iovec){.iov_base = bufs[i], .iov_len = cap};
            memset(&msgs[i], 0, sizeof(msgs[i]));
            msgs[i].msg_hdr.msg_iov = &iov[i];
            msgs[i].msg_hdr.msg_iovlen = 1;
            msgs[i].msg_hdr.msg_name = &from[i].ss;
            msgs[i].msg_hdr.msg_namelen = sizeof(from[i].ss);
            msgs[i].msg_hdr.msg_control = ctl[i].buf;
            msgs[i].msg_hdr.msg_controllen = sizeof(ctl[i].buf);
        }
        int n = recvmmsg(fd, msgs, BATCH, MSG_DONTWAIT, NULL);
        if (n <= 0)
            return;
        int64_t now = pl_bot_now_us();
        for (int i = 0; i < n; i++) {
            from[i].len = msgs[i].msg_hdr.msg_namelen;
            from[i].tcp = false;
            pl_bot_datagram(s->bot, s->which, now, arrival(t, &msgs[i].msg_hdr), &from[i], bufs[i],
                            msgs[i].msg_len);
        }
        if (n < BATCH)
            return;
    }
}

static void *run(void *arg)
{
    media_thread *t = arg;
    t->realtime_offset_us = realtime_us() - pl_bot_now_us();
    struct epoll_event evs[64];
    int64_t next_tick = pl_bot_now_us();
    while (!atomic_load(&t->loop->stop)) {
        int64_t now = pl_bot_now_us();
        int wait_ms = next_tick > now ? (int)((next_tick - now + 999) / 1000) : 0;
        int n = epoll_wait(t->ep, evs, 64, wait_ms);
        for (int i = 0; i < n; i++) {
            const slot *s = evs[i].data.ptr;
            if (pl_bot_socket_is_stream(s->bot))
                pl_bot_stream_input(s->bot, s->which);
            else
                read_socket(t, s);
        }
        now = pl_bot_now_us();
        if (now >= next_tick) {
            for (size_t i = 0; i < t->n; i++)
                if (pl_bot_next_due(t->bots[i]) <= now)
                    pl_bot_tick(t->bots[i], now);
            next_tick = now + TICK_US;
        }
    }
    return NULL;
}

void pl_botloop_stop(pl_botloop *l)
{
    if (!l)
        return;
    atomic_store(&l->stop, true);
    for (unsigned i = 0; i < l->n_threads; i++) {
        media_thread *t = &l->threads[i];
        if (t->started)
            pthread_join(t->tid, NULL);
        if (t->ep >= 0)
            close(t->ep);
        free(t->bots);
        free(t->slots);
    }
    free(l->threads);
    free(l);
}

pl_botloop *pl_botloop_start(pl_bot **bots, size_t n, unsigned threads)
{
    if (threads == 0)
        threads = 1;
    pl_botloop *l = calloc(1, sizeof(*l));
    if (!l)
        return NULL;
    l->n_threads = threads;
    l->threads = calloc(threads, sizeof(*l->threads));
    if (!l->threads) {
        free(l);
        return NULL;
    }
    for (unsigned i = 0; i < threads; i++) {
        media_thread *t = &l->threads[i];
        t->loop = l;
        t->ep = epoll_create1(EPOLL_CLOEXEC);
        t->bots = calloc(n + 1, sizeof(*t->bots));
        t->slots = calloc(2 * n + 1, sizeof(*t->slots));
        if (t->ep < 0 || !t->bots || !t->slots)
            goto fail;
    }
    for (size_t i = 0; i < n; i++) {
        media_thread *t = &l->threads[i % threads];
        t->bots[t->n] = bots[i];
        for (int k = 0; k < 2; k++) {
            slot *s = &t->slots[2 * t->n + (size_t)k];
            s->bot = bots[i];
            s->which = (enum pl_bot_socket)k;
            /* A stream is read until empty: edge-triggered, so that a
             * socket not connected yet (it reports a hang-up) does not spin. */
            uint32_t et = pl_bot_socket_is_stream(bots[i]) ? EPOLLET : 0;
            struct epoll_event ev = {.events = EPOLLIN | et, .data.ptr = s};
            if (epoll_ctl(t->ep, EPOLL_CTL_ADD, pl_bot_socket(bots[i], s->which), &ev) != 0)
                goto fail;
        }
        t->n++;
    }
    for (unsigned i = 0; i < threads; i++) {
        if (pthread_create(&l->threads[i].tid, NULL, run, &l->threads[i]) != 0)
            goto fail;
        l->threads[i].started = true;
    }
    return l;
fail:
    pl_botloop_stop(l);
    return NULL;
}
