/* parley-reflect-load: drives parley-reflect with the packet rate of a relay
 * load shape, so the benchmark can compare the relay with bare sockets.
 * Members of M rooms of N send R packets per second of B bytes (the first K
 * members of each room send; the others only receive); every datagram
 * carries its sender, a sequence number and the send time (CLOCK_MONOTONIC),
 * so receivers count loss and one-way delay.
 *
 *   parley-reflect-load --server IP:PORT --rooms M --per-room N [--senders K]
 *                       --pps R --size B --seconds S [--report FILE] */
#include <arpa/inet.h>
#include <getopt.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "rxstats.h"

#define BATCH 32
#define DGRAM_MAX 1500
#define HEADER 16 /* sender u32, seq u32, send time u64 (ns) */

typedef struct options {
    const char *server;
    int rooms, per_room, senders;
    double pps, seconds;
    int size;
    const char *report;
} options;

typedef struct member {
    int fd;
    int room;
    bool sender;
    uint32_t seq;
    int64_t next_send_ns;
} member;

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int parse(int argc, char **argv, options *o)
{
    *o = (options){.rooms = 1, .per_room = 2, .pps = 83, .size = 1000, .seconds = 10};
    static const struct option longs[] = {{"server", required_argument, NULL, 's'},
                                          {"rooms", required_argument, NULL, 'm'},
                                          {"per-room", required_argument, NULL, 'n'},
                                          {"senders", required_argument, NULL, 'k'},
                                          {"pps", required_argument, NULL, 'r'},
                                          {"size", required_argument, NULL, 'b'},
                                          {"seconds", required_argument, NULL, 't'},
                                          {"report", required_argument, NULL, 'o'},
                                          {NULL, 0, NULL, 0}};
    int c;
    while ((c = getopt_long(argc, argv, "", longs, NULL)) != -1) {
        switch (c) {
        case 's':
            o->server = optarg;
            break;
        case 'm':
            o->rooms = atoi(optarg);
            break;
        case 'n':
            o->per_room = atoi(optarg);
            break;
        case 'k':
            o->senders = atoi(optarg);
            break;
        case 'r':
            o->pps = atof(optarg);
            break;
        case 'b':
            o->size = atoi(optarg);
            break;
        case 't':
            o->seconds = atof(optarg);
            break;
        case 'o':
            o->report = optarg;
            break;
        default:
            return -1;
        }
    }
    if (o->senders <= 0 || o->senders > o->per_room)
        o->senders = o->per_room;
    if (!o->server || o->rooms <= 0 || o->per_room < 2 || o->rooms * o->per_room > 20000 ||
        o->pps <= 0 || o->size < HEADER || o->size > DGRAM_MAX || o->seconds <= 0)
        return -1;
    return 0;
}

int main(int argc, char **argv)
{
    options o;
    if (parse(argc, argv, &o) != 0) {
        fprintf(stderr, "usage: parley-reflect-load --server IP:PORT --rooms M --per-room N "
                        "[--senders K] --pps R --size B --seconds S [--report FILE]\n");
        return 2;
    }
    char ip[64];
    int port;
    struct sockaddr_in srv = {.sin_family = AF_INET};
    if (sscanf(o.server, "%63[^:]:%d", ip, &port) != 2 ||
        inet_pton(AF_INET, ip, &srv.sin_addr) != 1) {
        fprintf(stderr, "bad --server %s\n", o.server);
        return 2;
    }
    srv.sin_port = htons((uint16_t)port);
    int n = o.rooms * o.per_room;
    member *m = calloc((size_t)n, sizeof(*m));
    pl_delay_hist *delay = calloc(1, sizeof(*delay));
    int ep = epoll_create1(0);
    if (!m || !delay || ep < 0)
        return 1;
    struct sockaddr_in local = {.sin_family = AF_INET};
    inet_pton(AF_INET, "127.0.0.1", &local.sin_addr);
    for (int i = 0; i < n; i++) {
        m[i].fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
        int sz = 1 << 21, on = 1;
        setsockopt(m[i].fd, SOL_SOCKET, SO_RCVBUF, &sz, sizeof(sz));
        /* Kernel receive times: the delay leaves out this process's queueing. */
        setsockopt(m[i].fd, SOL_SOCKET, SO_TIMESTAMPNS, &on, sizeof(on));
        if (m[i].fd < 0 || bind(m[i].fd, (struct sockaddr *)&local, sizeof(local)) != 0) {
            perror("socket");
            return 1;
        }
        m[i].room = i / o.per_room;
        m[i].sender = i % o.per_room < o.senders;
        char join[32];
        int len = snprintf(join, sizeof(join), "JOIN load-%d", m[i].room);
        sendto(m[i].fd, join, (size_t)len, 0, (struct sockaddr *)&srv, sizeof(srv));
        struct epoll_event ev = {.events = EPOLLIN, .data.u32 = (uint32_t)i};
        epoll_ctl(ep, EPOLL_CTL_ADD, m[i].fd, &ev);
    }
    /* Let every JOIN land before anyone sends, then spread the senders'
     * phases over one period. */
    usleep(200000);
    int64_t period = (int64_t)(1e9 / o.pps);
    int64_t start = now_ns();
    int64_t stop_send = start + (int64_t)(o.seconds * 1e9);
    int64_t stop = stop_send + 1000000000; /* drain */
    for (int i = 0; i < n; i++)
        m[i].next_send_ns = start + period * i / n;
    uint8_t pkt[DGRAM_MAX];
    memset(pkt, 0xab, sizeof(pkt));
    uint8_t bufs[BATCH][DGRAM_MAX];
    union {
        char buf[CMSG_SPACE(sizeof(struct timespec))];
        struct cmsghdr align;
    } ctl[BATCH];
    struct timespec rt;
    clock_gettime(CLOCK_REALTIME, &rt);
    int64_t offset_ns = (int64_t)rt.tv_sec * 1000000000 + rt.tv_nsec - now_ns();
    struct mmsghdr msgs[BATCH];
    struct iovec iov[BATCH];
    uint64_t sent = 0, received = 0, expected = 0;
    for (;;) {
        int64_t t = now_ns();
        if (t >= stop)
            break;
        if (t < stop_send) {
            for (int i = 0; i < n; i++) {
                while (m[i].sender && m[i].next_send_ns <= t) {
                    uint32_t who = (uint32_t)i, seq = m[i].seq++;
                    int64_t ns = now_ns();
                    memcpy(pkt, &who, 4);
                    memcpy(pkt + 4, &seq, 4);
                    memcpy(pkt + 8, &ns, 8);
                    if (sendto(m[i].fd, pkt, (size_t)o.size, 0, (struct sockaddr *)&srv,
                               sizeof(srv)) > 0) {
                        sent++;
                        expected += (uint64_t)(o.per_room - 1);
                    }
                    m[i].next_send_ns += period;
                }
            }
        }
        struct epoll_event evs[256];
        int ne = epoll_wait(ep, evs, 256, 1);
        for (int e = 0; e < ne; e++) {
            int fd = m[evs[e].data.u32].fd;
            for (;;) {
                for (int k = 0; k < BATCH; k++) {
                    iov[k] = (struct iovec){.iov_base = bufs[k], .iov_len = DGRAM_MAX};
                    msgs[k].msg_hdr = (struct msghdr){.msg_iov = &iov[k],
                                                      .msg_iovlen = 1,
                                                      .msg_control = ctl[k].buf,
                                                      .msg_controllen = sizeof(ctl[k].buf)};
                }
                int got = recvmmsg(fd, msgs, BATCH, MSG_DONTWAIT, NULL);
                if (got <= 0)
                    break;
                int64_t rt_now = now_ns();

                for (int k = 0; k < got; k++) {
                    if (msgs[k].msg_len < HEADER)
                        continue;
                    int64_t ns, at = rt_now;
                    memcpy(&ns, bufs[k] + 8, 8);
                    for (struct cmsghdr *c = CMSG_FIRSTHDR(&msgs[k].msg_hdr); c;
                         c = CMSG_NXTHDR(&msgs[k].msg_hdr, c))
                        if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_TIMESTAMPNS) {
                            struct timespec ts;
                            memcpy(&ts, CMSG_DATA(c), sizeof(ts));
                            at = (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec - offset_ns;
                        }
                    received++;
                    pl_delay_add(delay, (at - ns) / 1000);
                }
                if (got < BATCH)
                    break;
            }
        }
    }
    double loss = expected ? 1.0 - (double)received / (double)expected : 0;
    if (loss < 0)
        loss = 0;
    char json[512];
    snprintf(json, sizeof(json),
             "{\"packets_sent\":%llu,\"packets_received\":%llu,\"expected_received\":%llu,"
             "\"loss\":%.6f,\"delay_us\":{\"p50\":%lld,\"p99\":%lld,\"max\":%lld},"
             "\"seconds\":%.1f}",
             (unsigned long long)sent, (unsigned long long)received, (unsigned long long)expected,
             loss, (long long)pl_delay_quantile(delay, 0.5),
             (long long)pl_delay_quantile(delay, 0.99), (long long)delay->max_us, o.seconds);
    if (o.report) {
        FILE *f = fopen(o.report, "w");
        if (f) {
            fprintf(f, "%s\n", json);
            fclose(f);
        }
    }
    fprintf(stderr, "summary %s\n", json);
    for (int i = 0; i < n; i++)
        close(m[i].fd);
    close(ep);
    free(m);
    free(delay);
    return 0;
}
