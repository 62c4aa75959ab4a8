/* parley-reflect: the benchmark's baseline, a plain UDP reflector. Members
 * register with a "JOIN <room>" datagram; every other datagram a member
 * sends is copied to every other member of its room, with the same
 * recvmmsg / sendmmsg batching as the relay but no ICE, DTLS or SRTP: what
 * forwarding costs when it is nothing but sockets.
 *
 *   parley-reflect --port P [--bind IP]
 *
 * On SIGINT / SIGTERM it prints its counters as one JSON line. */
#include <arpa/inet.h>
#include <getopt.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <unistd.h>

#define BATCH 32
#define OUT_BATCH 256
#define DGRAM_MAX 1500
#define MAX_MEMBERS 65536
#define MAX_ROOMS 4096
#define TABLE (2 * MAX_MEMBERS) /* open addressing, power of two */

typedef struct member {
    struct sockaddr_in addr;
    int room;
    bool used;
} member;

typedef struct room {
    char name[64];
    int *members; /* indices into reflector.members */
    int n, cap;
} room;

typedef struct reflector {
    int fd;
    member *members;
    int n_members;
    int *table; /* member index + 1, 0 = empty */
    room *rooms;
    int n_rooms;
    uint64_t in, out, dropped;
    /* Outgoing batch: copies point into the receive buffers. */
    struct mmsghdr out_msgs[OUT_BATCH];
    struct iovec out_iov[OUT_BATCH];
    int n_out;
    uint8_t (*bufs)[DGRAM_MAX]; /* BATCH receive buffers */
} reflector;

static uint32_t hash_addr(const struct sockaddr_in *a)
{
    uint64_t k = ((uint64_t)a->sin_addr.s_addr << 16) | a->sin_port;
    k ^= k >> 33;
    k *= 0xff51afd7ed558ccdULL;
    k ^= k >> 33;
    return (uint32_t)k & (TABLE - 1);
}

static int find_member(reflector *r, const struct sockaddr_in *a)
{
    for (uint32_t h = hash_addr(a);; h = (h + 1) & (TABLE - 1)) {
        int m = r->table[h] - 1;
        if (m < 0)
            return -1;
        if (r->members[m].addr.sin_addr.s_addr == a->sin_addr.s_addr &&
            r->members[m].addr.sin_port == a->sin_port)
            return m;
    }
}

static int room_index(reflector *r, const char *name)
{
    for (int i = 0; i < r->n_rooms; i++)
        if (strcmp(r->rooms[i].name, name) == 0)
            return i;
    if (r->n_rooms == MAX_ROOMS)
        return -1;
    room *rm = &r->rooms[r->n_rooms];
    snprintf(rm->name, sizeof(rm->name), "%s", name);
    return r->n_rooms++;
}

static void join(reflector *r, const struct sockaddr_in *a, const char *name)
{
    if (find_member(r, a) >= 0 || r->n_members == MAX_MEMBERS) {
        r->dropped++;
        return;
    }
    int ri = room_index(r, name);
    if (ri < 0) {
        r->dropped++;
        return;
    }
    room *rm = &r->rooms[ri];
    if (rm->n == rm->cap) {
        int cap = rm->cap ? 2 * rm->cap : 16;
        int *m = realloc(rm->members, (size_t)cap * sizeof(*m));
        if (!m) {
            r->dropped++;
            return;
        }
        rm->members = m;
        rm->cap = cap;
    }
    int mi = r->n_members++;
    r->members[mi] = (member){.addr = *a, .room = ri, .used = true};
    rm->members[rm->n++] = mi;
    uint32_t h = hash_addr(a);
    while (r->table[h])
        h = (h + 1) & (TABLE - 1);
    r->table[h] = mi + 1;
}

static void flush(reflector *r)
{
    int off = 0;
    while (off < r->n_out) {
        int n = sendmmsg(r->fd, r->out_msgs + off, (unsigned)(r->n_out - off), 0);
        if (n <= 0) {
            r->dropped += (uint64_t)(r->n_out - off);
            break;
        }
        r->out += (uint64_t)n;
        off += n;
    }
    r->n_out = 0;
}

static void reflect(reflector *r, int from, uint8_t *data, size_t len)
{
    const room *rm = &r->rooms[r->members[from].room];
    for (int i = 0; i < rm->n; i++) {
        int to = rm->members[i];
        if (to == from)
            continue;
        if (r->n_out == OUT_BATCH)
            flush(r);
        int k = r->n_out++;
        r->out_iov[k] = (struct iovec){.iov_base = data, .iov_len = len};
        r->out_msgs[k].msg_hdr = (struct msghdr){.msg_name = &r->members[to].addr,
                                                 .msg_namelen = sizeof(r->members[to].addr),
                                                 .msg_iov = &r->out_iov[k],
                                                 .msg_iovlen = 1};
    }
}

static void serve(reflector *r, int sfd)
{
    uint8_t(*bufs)[DGRAM_MAX] = r->bufs;
    struct mmsghdr msgs[BATCH];
    struct iovec iov[BATCH];
    struct sockaddr_in from[BATCH];
    int ep = epoll_create1(0);
    struct epoll_event e1 = {.events = EPOLLIN, .data.fd = r->fd};
    struct epoll_event e2 = {.events = EPOLLIN, .data.fd = sfd};
    epoll_ctl(ep, EPOLL_CTL_ADD, r->fd, &e1);
    epoll_ctl(ep, EPOLL_CTL_ADD, sfd, &e2);
    for (;;) {
        struct epoll_event evs[2];
        int n = epoll_wait(ep, evs, 2, -1);
        for (int e = 0; e < n; e++) {
            if (evs[e].data.fd == sfd) {
                close(ep);
                return;
            }
            for (;;) {
                for (int k = 0; k < BATCH; k++) {
                    iov[k] = (struct iovec){.iov_base = bufs[k], .iov_len = DGRAM_MAX};
                    msgs[k].msg_hdr = (struct msghdr){.msg_name = &from[k],
                                                      .msg_namelen = sizeof(from[k]),
                                                      .msg_iov = &iov[k],
                                                      .msg_iovlen = 1};
                }
                int got = recvmmsg(r->fd, msgs, BATCH, MSG_DONTWAIT, NULL);
                if (got <= 0)
                    break;
                for (int k = 0; k < got; k++) {
                    r->in++;
                    size_t len = msgs[k].msg_len;
                    if (from[k].sin_family != AF_INET) {
                        r->dropped++;
                        continue;
                    }
                    if (len > 5 && len < 70 && memcmp(bufs[k], "JOIN ", 5) == 0) {
                        char name[64];
                        snprintf(name, sizeof(name), "%.*s", (int)(len - 5),
                                 (const char *)bufs[k] + 5);
                        join(r, &from[k], name);
                        continue;
                    }
                    int m = find_member(r, &from[k]);
                    if (m < 0) {
                        r->dropped++;
                        continue;
                    }
                    reflect(r, m, bufs[k], len);
                }
                /* The batch's buffers are reused by the next recvmmsg. */
                flush(r);
                if (got < BATCH)
                    break;
            }
        }
    }
}

int main(int argc, char **argv)
{
    const char *bind_ip = "127.0.0.1";
    int port = 0;
    static const struct option longs[] = {{"bind", required_argument, NULL, 'b'},
                                          {"port", required_argument, NULL, 'p'},
                                          {NULL, 0, NULL, 0}};
    int c;
    while ((c = getopt_long(argc, argv, "", longs, NULL)) != -1) {
        if (c == 'b')
            bind_ip = optarg;
        else if (c == 'p')
            port = atoi(optarg);
        else {
            fprintf(stderr, "usage: parley-reflect --port P [--bind IP]\n");
            return 2;
        }
    }
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigprocmask(SIG_BLOCK, &set, NULL);
    int sfd = signalfd(-1, &set, SFD_CLOEXEC);

    reflector r;
    memset(&r, 0, sizeof(r));
    r.members = calloc(MAX_MEMBERS, sizeof(*r.members));
    r.table = calloc(TABLE, sizeof(*r.table));
    r.rooms = calloc(MAX_ROOMS, sizeof(*r.rooms));
    r.bufs = calloc(BATCH, sizeof(*r.bufs));
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    r.fd = socket(AF_INET, SOCK_DGRAM, 0);
    int sz = 4 << 20;
    setsockopt(r.fd, SOL_SOCKET, SO_RCVBUF, &sz, sizeof(sz));
    setsockopt(r.fd, SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
    socklen_t alen = sizeof(a);
    if (sfd < 0 || !r.members || !r.table || !r.rooms || !r.bufs || r.fd < 0 ||
        inet_pton(AF_INET, bind_ip, &a.sin_addr) != 1 ||
        bind(r.fd, (struct sockaddr *)&a, sizeof(a)) != 0 ||
        getsockname(r.fd, (struct sockaddr *)&a, &alen) != 0) {
        perror("parley-reflect");
        return 1;
    }
    printf("listening on udp://%s:%d\n", bind_ip, ntohs(a.sin_port));
    fflush(stdout);
    serve(&r, sfd);
    printf("{\"datagrams_in\":%llu,\"datagrams_out\":%llu,\"dropped\":%llu,\"members\":%d}\n",
           (unsigned long long)r.in, (unsigned long long)r.out, (unsigned long long)r.dropped,
           r.n_members);
    for (int i = 0; i < r.n_rooms; i++)
        free(r.rooms[i].members);
    free(r.rooms);
    free(r.bufs);
    free(r.table);
    free(r.members);
    close(r.fd);
    close(sfd);
    return 0;
}
