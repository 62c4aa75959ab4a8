/* parley-impair: a UDP relay that makes loopback behave like a bad network,
 * for tests. Clients send to --listen; each client address gets its own
 * upstream socket towards --server (so the server sees one address per
 * client, as through a NAT), and the server's replies go back the same way.
 * Both directions suffer, from a seeded generator so that runs repeat:
 * random loss, burst loss, delay with jitter, reordering, duplication, and
 * an address change (every upstream socket replaced at a given time).
 *
 *   parley-impair --listen 127.0.0.1:P --server 127.0.0.1:Q [--loss 0.05]
 *       [--burst 0.01 --burst-len 5] [--delay 50] [--jitter 20]
 *       [--reorder 0.01] [--duplicate 0.01] [--rebind-at 5] [--seed 1]
 *
 * Delays are in milliseconds, probabilities per datagram. Counters are
 * printed as one JSON line on SIGINT / SIGTERM. */
#include <arpa/inet.h>
#include <errno.h>
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
#include <time.h>
#include <unistd.h>

#define DGRAM_MAX 2048
#define MAX_CLIENTS 1024
#define MAX_QUEUED 65536

typedef struct options {
    struct sockaddr_in listen, server;
    double loss, burst, reorder, duplicate;
    int burst_len;
    double delay_ms, jitter_ms, rebind_at_s;
    uint64_t seed;
} options;

typedef struct client {
    struct sockaddr_in addr; /* the client's address, seen on the listen socket */
    int up;                  /* its socket towards the server */
    int64_t last_release[2]; /* per direction: keeps order unless reordering */
    int burst_left[2];
} client;

typedef struct packet {
    int64_t release_us;
    int client;
    bool upstream; /* client -> server */
    uint16_t len;
    uint8_t *data;
} packet;

typedef struct impair {
    options o;
    int ep, lfd;
    client clients[MAX_CLIENTS];
    int n_clients;
    packet *heap; /* min-heap by release time */
    size_t n_heap;
    uint64_t rng;
    struct {
        uint64_t in, out, lost, duplicated, reordered, dropped_full, rebinds;
    } st;
} impair;

static int64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* xorshift64*: fast, seeded, good enough for network weather. */
static double rnd(impair *im)
{
    im->rng ^= im->rng >> 12;
    im->rng ^= im->rng << 25;
    im->rng ^= im->rng >> 27;
    return (double)((im->rng * 2685821657736338717ULL) >> 11) / (double)(1ULL << 53);
}

static void heap_push(impair *im, packet p)
{
    size_t i = im->n_heap++;
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (im->heap[parent].release_us <= p.release_us)
            break;
        im->heap[i] = im->heap[parent];
        i = parent;
    }
    im->heap[i] = p;
}

static packet heap_pop(impair *im)
{
    packet top = im->heap[0];
    packet last = im->heap[--im->n_heap];
    size_t i = 0;
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        int64_t mv = last.release_us;
        if (l < im->n_heap && im->heap[l].release_us < mv) {
            m = l;
            mv = im->heap[l].release_us;
        }
        if (r < im->n_heap && im->heap[r].release_us < mv)
            m = r;
        if (m == i)
            break;
        im->heap[i] = im->heap[m];
        i = m;
    }
    if (im->n_heap)
        im->heap[i] = last;
    return top;
}

static int open_upstream(impair *im, int client_index)
{
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    struct sockaddr_in any = {.sin_family = AF_INET, .sin_addr = im->o.listen.sin_addr};
    int sz = 1 << 21;
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &sz, sizeof(sz));
    if (fd < 0 || bind(fd, (struct sockaddr *)&any, sizeof(any)) != 0)
        return -1;
    struct epoll_event ev = {.events = EPOLLIN, .data.u32 = (uint32_t)client_index + 1};
    epoll_ctl(im->ep, EPOLL_CTL_ADD, fd, &ev);
    return fd;
}

static int client_for(impair *im, const struct sockaddr_in *a)
{
    for (int i = 0; i < im->n_clients; i++)
        if (im->clients[i].addr.sin_addr.s_addr == a->sin_addr.s_addr &&
            im->clients[i].addr.sin_port == a->sin_port)
            return i;
    if (im->n_clients == MAX_CLIENTS)
        return -1;
    int i = im->n_clients;
    client *c = &im->clients[i];
    memset(c, 0, sizeof(*c));
    c->addr = *a;
    c->up = open_upstream(im, i);
    if (c->up < 0)
        return -1;
    im->n_clients++;
    return i;
}

/* Decides the fate of one datagram: dropped, or queued (maybe twice). */
static void admit(impair *im, int ci, bool upstream, const uint8_t *data, size_t len, int64_t now)
{
    im->st.in++;
    client *c = &im->clients[ci];
    int dir = upstream ? 0 : 1;
    bool lost = false;
    if (c->burst_left[dir] > 0) {
        c->burst_left[dir]--;
        lost = true;
    } else if (im->o.burst > 0 && rnd(im) < im->o.burst) {
        c->burst_left[dir] = 1 + (int)(rnd(im) * (im->o.burst_len > 1 ? im->o.burst_len - 1 : 0));
        lost = true;
    } else if (rnd(im) < im->o.loss) {
        lost = true;
    }
    if (lost) {
        im->st.lost++;
        return;
    }
    int copies = rnd(im) < im->o.duplicate ? 2 : 1;
    im->st.duplicated += (uint64_t)(copies - 1);
    for (int k = 0; k < copies; k++) {
        if (im->n_heap == MAX_QUEUED) {
            im->st.dropped_full++;
            return;
        }
        double jitter = im->o.jitter_ms > 0 ? (rnd(im) * 2 - 1) * im->o.jitter_ms : 0;
        double ms = im->o.delay_ms + jitter;
        int64_t release = now + (int64_t)((ms > 0 ? ms : 0) * 1000);
        /* Jitter alone does not reorder (queues are FIFO); reordering is its
         * own impairment. */
        if (rnd(im) < im->o.reorder) {
            im->st.reordered++;
        } else if (release < c->last_release[dir]) {
            release = c->last_release[dir];
        }
        if (release > c->last_release[dir])
            c->last_release[dir] = release;
        uint8_t *copy = malloc(len);
        if (!copy)
            return;
        memcpy(copy, data, len);
        heap_push(im, (packet){.release_us = release,
                               .client = ci,
                               .upstream = upstream,
                               .len = (uint16_t)len,
                               .data = copy});
    }
}

static void release_due(impair *im, int64_t now)
{
    while (im->n_heap && im->heap[0].release_us <= now) {
        packet p = heap_pop(im);
        client *c = &im->clients[p.client];
        ssize_t n = p.upstream ? sendto(c->up, p.data, p.len, 0, (struct sockaddr *)&im->o.server,
                                        sizeof(im->o.server))
                               : sendto(im->lfd, p.data, p.len, 0, (struct sockaddr *)&c->addr,
                                        sizeof(c->addr));
        if (n > 0)
            im->st.out++;
        free(p.data);
    }
}

/* Every client moves to a new source address, as after a network change. */
static void rebind_all(impair *im)
{
    for (int i = 0; i < im->n_clients; i++) {
        int fd = open_upstream(im, i);
        if (fd < 0)
            continue;
        epoll_ctl(im->ep, EPOLL_CTL_DEL, im->clients[i].up, NULL);
        close(im->clients[i].up);
        im->clients[i].up = fd;
    }
    im->st.rebinds++;
}

static int parse_addr(const char *s, struct sockaddr_in *a)
{
    char ip[64];
    int port;
    memset(a, 0, sizeof(*a));
    a->sin_family = AF_INET;
    if (sscanf(s, "%63[^:]:%d", ip, &port) != 2 || port < 0 || port > 65535 ||
        inet_pton(AF_INET, ip, &a->sin_addr) != 1)
        return -1;
    a->sin_port = htons((uint16_t)port);
    return 0;
}

static int parse(int argc, char **argv, options *o)
{
    memset(o, 0, sizeof(*o));
    o->burst_len = 5;
    o->rebind_at_s = -1;
    o->seed = 1;
    bool have_listen = false, have_server = false;
    static const struct option longs[] = {
        {"listen", required_argument, NULL, 'l'},    {"server", required_argument, NULL, 's'},
        {"loss", required_argument, NULL, 'p'},      {"burst", required_argument, NULL, 'b'},
        {"burst-len", required_argument, NULL, 'n'}, {"delay", required_argument, NULL, 'd'},
        {"jitter", required_argument, NULL, 'j'},    {"reorder", required_argument, NULL, 'r'},
        {"duplicate", required_argument, NULL, 'u'}, {"rebind-at", required_argument, NULL, 'a'},
        {"seed", required_argument, NULL, 'e'},      {NULL, 0, NULL, 0}};
    int c;
    while ((c = getopt_long(argc, argv, "", longs, NULL)) != -1) {
        switch (c) {
        case 'l':
            have_listen = parse_addr(optarg, &o->listen) == 0;
            break;
        case 's':
            have_server = parse_addr(optarg, &o->server) == 0;
            break;
        case 'p':
            o->loss = atof(optarg);
            break;
        case 'b':
            o->burst = atof(optarg);
            break;
        case 'n':
            o->burst_len = atoi(optarg);
            break;
        case 'd':
            o->delay_ms = atof(optarg);
            break;
        case 'j':
            o->jitter_ms = atof(optarg);
            break;
        case 'r':
            o->reorder = atof(optarg);
            break;
        case 'u':
            o->duplicate = atof(optarg);
            break;
        case 'a':
            o->rebind_at_s = atof(optarg);
            break;
        case 'e':
            o->seed = strtoull(optarg, NULL, 10);
            break;
        default:
            return -1;
        }
    }
    return have_listen && have_server ? 0 : -1;
}

int main(int argc, char **argv)
{
    impair *im = calloc(1, sizeof(*im));
    if (!im)
        return 1;
    if (parse(argc, argv, &im->o) != 0) {
        fprintf(stderr, "usage: parley-impair --listen IP:PORT --server IP:PORT [--loss P] "
                        "[--burst P --burst-len N] [--delay MS] [--jitter MS] [--reorder P] "
                        "[--duplicate P] [--rebind-at S] [--seed N]\n");
        return 2;
    }
    im->rng = im->o.seed * 0x9E3779B97F4A7C15ULL + 1;
    im->heap = calloc(MAX_QUEUED, sizeof(*im->heap));
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigprocmask(SIG_BLOCK, &set, NULL);
    int sfd = signalfd(-1, &set, SFD_CLOEXEC);
    im->ep = epoll_create1(EPOLL_CLOEXEC);
    im->lfd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int sz = 1 << 22;
    setsockopt(im->lfd, SOL_SOCKET, SO_RCVBUF, &sz, sizeof(sz));
    socklen_t alen = sizeof(im->o.listen);
    if (!im->heap || sfd < 0 || im->ep < 0 || im->lfd < 0 ||
        bind(im->lfd, (struct sockaddr *)&im->o.listen, sizeof(im->o.listen)) != 0 ||
        getsockname(im->lfd, (struct sockaddr *)&im->o.listen, &alen) != 0) {
        perror("parley-impair");
        return 1;
    }
    struct epoll_event e1 = {.events = EPOLLIN, .data.u32 = 0};
    struct epoll_event e2 = {.events = EPOLLIN, .data.u32 = UINT32_MAX};
    epoll_ctl(im->ep, EPOLL_CTL_ADD, im->lfd, &e1);
    epoll_ctl(im->ep, EPOLL_CTL_ADD, sfd, &e2);
    printf("listening on udp://%s:%d\n", inet_ntoa(im->o.listen.sin_addr),
           ntohs(im->o.listen.sin_port));
    fflush(stdout);
    int64_t start = now_us();
    int64_t rebind_at = im->o.rebind_at_s >= 0 ? start + (int64_t)(im->o.rebind_at_s * 1e6) : -1;
    uint8_t buf[DGRAM_MAX];
    bool running = true;
    while (running) {
        int64_t now = now_us();
        int64_t next = im->n_heap ? im->heap[0].release_us : now + 100000;
        if (rebind_at >= 0 && rebind_at < next)
            next = rebind_at;
        int wait = next > now ? (int)((next - now + 999) / 1000) : 0;
        struct epoll_event evs[64];
        int n = epoll_wait(im->ep, evs, 64, wait);
        now = now_us();
        for (int i = 0; i < n; i++) {
            uint32_t tag = evs[i].data.u32;
            if (tag == UINT32_MAX) {
                running = false;
                break;
            }
            for (;;) {
                struct sockaddr_in from;
                socklen_t flen = sizeof(from);
                int fd = tag == 0 ? im->lfd : im->clients[tag - 1].up;
                ssize_t len = recvfrom(fd, buf, sizeof(buf), 0, (struct sockaddr *)&from, &flen);
                if (len < 0)
                    break;
                if (tag == 0) {
                    int ci = client_for(im, &from);
                    if (ci >= 0)
                        admit(im, ci, true, buf, (size_t)len, now);
                } else {
                    admit(im, (int)tag - 1, false, buf, (size_t)len, now);
                }
            }
        }
        if (rebind_at >= 0 && now >= rebind_at) {
            rebind_all(im);
            rebind_at = -1;
        }
        release_due(im, now);
    }
    printf("{\"in\":%llu,\"out\":%llu,\"lost\":%llu,\"duplicated\":%llu,\"reordered\":%llu,"
           "\"dropped_full\":%llu,\"rebinds\":%llu,\"clients\":%d}\n",
           (unsigned long long)im->st.in, (unsigned long long)im->st.out,
           (unsigned long long)im->st.lost, (unsigned long long)im->st.duplicated,
           (unsigned long long)im->st.reordered, (unsigned long long)im->st.dropped_full,
           (unsigned long long)im->st.rebinds, im->n_clients);
    while (im->n_heap) {
        packet p = heap_pop(im);
        free(p.data);
    }
    for (int i = 0; i < im->n_clients; i++)
        close(im->clients[i].up);
    free(im->heap);
    close(im->lfd);
    close(im->ep);
    close(sfd);
    free(im);
    return 0;
}
