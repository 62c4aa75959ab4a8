/* parley-reflect: the benchmark's baseline, a plain UDP reflector. A client
 * registers by sending "JOIN <room>" from its socket (answered with
 * "JOINED <room>"); every other datagram a member sends is copied to every
 * other member of its room; "LEAVE" unregisters. The relay's fan-out and
 * its recvmmsg / sendmmsg batching, without ICE, DTLS or SRTP: what
 * forwarding costs when it is nothing but sockets.
 *
 *   parley-reflect [--bind IP] [--port P] [--threads T]
 *
 * Thread i owns the socket on port P + i, its own members and its own rooms,
 * like the relay's media workers: a room lives on the port its members talk
 * to, and no state is shared between threads. On SIGINT / SIGTERM the
 * counters go to stdout as one JSON line and the process exits 0. */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "args.h"

/* The relay's batch sizes (media/worker.c), so that the comparison is of
 * the protocol work and not of the syscall count. */
#define BATCH 32
#define OUT_BATCH 128
/* Bigger datagrams arrive truncated and are dropped. */
#define DGRAM_MAX 2048
/* Per thread: a flood of JOINs from many source ports stops here. */
#define MAX_MEMBERS 65536
#define ROOM_NAME_MAX 63
#define MAX_THREADS 64
#define MAP_EMPTY (-1)

/* Open addressing with linear probing, from a 64-bit key to an index; it
 * holds at most half its slots, so probes stay short. */
typedef struct map_slot {
    uint64_t key;
    int32_t val;
} map_slot;

typedef struct map {
    map_slot *slots;
    uint32_t mask;
    uint32_t n;
} map;

typedef struct member {
    struct sockaddr_in addr;
    int32_t room; /* -1 when the slot is free */
    int32_t pos;  /* index in its room's list; the next free slot when free */
} member;

typedef struct room {
    char name[ROOM_NAME_MAX + 1];
    int32_t *members;
    int32_t n, cap;
    int32_t next_free;
} room;

typedef struct counters {
    uint64_t in, out, dropped, send_errors, joins, leaves;
} counters;

typedef struct worker {
    int fd, ep, stop_fd;
    uint16_t port;
    pthread_t thread;
    bool started;

    member *members;
    int32_t n_members, cap_members, free_member, live_members;
    room *rooms;
    int32_t n_rooms, cap_rooms, free_room;
    map by_addr; /* source address -> member */
    map by_name; /* hash of the room name -> room */

    struct mmsghdr in_msgs[BATCH];
    struct iovec in_iov[BATCH];
    struct sockaddr_in from[BATCH];
    uint8_t bufs[BATCH][DGRAM_MAX];

    /* Copies waiting for one sendmmsg: their data points into bufs, their
     * address into members, so both stay put until the flush. */
    struct mmsghdr out_msgs[OUT_BATCH];
    struct iovec out_iov[OUT_BATCH];
    int n_out;

    counters st;
} worker;

static uint32_t mix(uint64_t k)
{
    k ^= k >> 33;
    k *= 0xff51afd7ed558ccdULL;
    k ^= k >> 33;
    k *= 0xc4ceb9fe1a85ec53ULL;
    k ^= k >> 33;
    return (uint32_t)k;
}

static bool map_init(map *m, uint32_t slots)
{
    m->slots = malloc((size_t)slots * sizeof(*m->slots));
    if (!m->slots)
        return false;
    for (uint32_t i = 0; i < slots; i++)
        m->slots[i].val = MAP_EMPTY;
    m->mask = slots - 1;
    m->n = 0;
    return true;
}

static int32_t map_get(const map *m, uint64_t key)
{
    for (uint32_t i = mix(key) & m->mask;; i = (i + 1) & m->mask) {
        if (m->slots[i].val == MAP_EMPTY)
            return MAP_EMPTY;
        if (m->slots[i].key == key)
            return m->slots[i].val;
    }
}

static void map_place(map *m, uint64_t key, int32_t val)
{
    uint32_t i = mix(key) & m->mask;
    while (m->slots[i].val != MAP_EMPTY)
        i = (i + 1) & m->mask;
    m->slots[i] = (map_slot){.key = key, .val = val};
    m->n++;
}

/* Makes room for one more key, so that the insertion after it cannot fail
 * half way through a join. */
static bool map_reserve(map *m)
{
    if (2 * (m->n + 1) <= m->mask + 1)
        return true;
    map bigger;
    if (!map_init(&bigger, 2 * (m->mask + 1)))
        return false;
    for (uint32_t i = 0; i <= m->mask; i++)
        if (m->slots[i].val != MAP_EMPTY)
            map_place(&bigger, m->slots[i].key, m->slots[i].val);
    free(m->slots);
    *m = bigger;
    return true;
}

/* Deletion by backward shift: later keys of the same probe run move into
 * the hole, so lookups never need tombstones. */
static void map_del(map *m, uint64_t key)
{
    uint32_t i = mix(key) & m->mask;
    while (m->slots[i].val != MAP_EMPTY && m->slots[i].key != key)
        i = (i + 1) & m->mask;
    if (m->slots[i].val == MAP_EMPTY)
        return;
    for (uint32_t j = (i + 1) & m->mask; m->slots[j].val != MAP_EMPTY; j = (j + 1) & m->mask) {
        uint32_t home = mix(m->slots[j].key) & m->mask;
        /* Slot j may fill the hole at i unless its home lies cyclically in (i, j]. */
        bool stays = i <= j ? (i < home && home <= j) : (i < home || home <= j);
        if (!stays) {
            m->slots[i] = m->slots[j];
            i = j;
        }
    }
    m->slots[i].val = MAP_EMPTY;
    m->n--;
}

static uint64_t addr_key(const struct sockaddr_in *a)
{
    return ((uint64_t)a->sin_addr.s_addr << 16) | a->sin_port;
}

/* FNV-1a; two names with one hash cannot both exist (the second JOIN is
 * dropped), which at 64 bits does not happen by accident. */
static uint64_t name_key(const char *s)
{
    uint64_t h = 0xcbf29ce484222325ULL;
    for (; *s; s++)
        h = (h ^ (uint8_t)*s) * 0x100000001b3ULL;
    return h;
}

static void flush(worker *w)
{
    int off = 0;
    while (off < w->n_out) {
        int n = sendmmsg(w->fd, w->out_msgs + off, (unsigned)(w->n_out - off), 0);
        if (n > 0) {
            w->st.out += (uint64_t)n;
            off += n;
        } else if (n < 0 && errno == EINTR) {
            continue;
        } else {
            /* A full buffer or an unreachable address: this copy is lost,
             * as it would be on the relay; the rest still go. */
            w->st.send_errors++;
            off++;
        }
    }
    w->n_out = 0;
}

static void reply(worker *w, const struct sockaddr_in *to, const char *text)
{
    if (sendto(w->fd, text, strlen(text), 0, (const struct sockaddr *)to, sizeof(*to)) < 0)
        w->st.send_errors++;
}

static void leave(worker *w, int32_t mi)
{
    member *m = &w->members[mi];
    room *r = &w->rooms[m->room];
    int32_t last = r->members[--r->n];
    r->members[m->pos] = last;
    w->members[last].pos = m->pos;
    if (r->n == 0) {
        map_del(&w->by_name, name_key(r->name));
        r->next_free = w->free_room;
        w->free_room = m->room;
    }
    map_del(&w->by_addr, addr_key(&m->addr));
    m->room = -1;
    m->pos = w->free_member;
    w->free_member = mi;
    w->live_members--;
    w->st.leaves++;
}

/* The room called name, created if needed; -1 when it cannot be. */
static int32_t room_for(worker *w, const char *name)
{
    uint64_t key = name_key(name);
    int32_t ri = map_get(&w->by_name, key);
    if (ri >= 0)
        return strcmp(w->rooms[ri].name, name) == 0 ? ri : -1;
    if (!map_reserve(&w->by_name))
        return -1;
    if (w->free_room >= 0) {
        ri = w->free_room;
        w->free_room = w->rooms[ri].next_free;
    } else {
        if (w->n_rooms == w->cap_rooms) {
            int32_t cap = w->cap_rooms ? 2 * w->cap_rooms : 64;
            room *r = realloc(w->rooms, (size_t)cap * sizeof(*r));
            if (!r)
                return -1;
            w->rooms = r;
            w->cap_rooms = cap;
        }
        ri = w->n_rooms++;
        w->rooms[ri] = (room){.members = NULL};
    }
    room *r = &w->rooms[ri];
    snprintf(r->name, sizeof(r->name), "%s", name);
    r->n = 0;
    r->next_free = -1;
    map_place(&w->by_name, key, ri);
    return ri;
}

/* Frees an empty room that a failed join created. */
static void drop_if_empty(worker *w, int32_t ri)
{
    room *r = &w->rooms[ri];
    if (r->n > 0)
        return;
    map_del(&w->by_name, name_key(r->name));
    r->next_free = w->free_room;
    w->free_room = ri;
}

static void join(worker *w, const struct sockaddr_in *from, const char *name)
{
    char ack[sizeof("JOINED ") + ROOM_NAME_MAX];
    snprintf(ack, sizeof(ack), "JOINED %s", name);
    int32_t mi = map_get(&w->by_addr, addr_key(from));
    if (mi >= 0) {
        if (strcmp(w->rooms[w->members[mi].room].name, name) == 0) {
            /* A repeated JOIN (its answer was lost): answer again. */
            reply(w, from, ack);
            return;
        }
        leave(w, mi);
    }
    if (w->live_members == MAX_MEMBERS || !map_reserve(&w->by_addr)) {
        w->st.dropped++;
        return;
    }
    int32_t ri = room_for(w, name);
    if (ri < 0) {
        w->st.dropped++;
        return;
    }
    room *r = &w->rooms[ri];
    if (r->n == r->cap) {
        int32_t cap = r->cap ? 2 * r->cap : 16;
        int32_t *list = realloc(r->members, (size_t)cap * sizeof(*list));
        if (!list) {
            drop_if_empty(w, ri);
            w->st.dropped++;
            return;
        }
        r->members = list;
        r->cap = cap;
    }
    if (w->free_member >= 0) {
        mi = w->free_member;
        w->free_member = w->members[mi].pos;
    } else {
        if (w->n_members == w->cap_members) {
            int32_t cap = w->cap_members ? 2 * w->cap_members : 256;
            member *m = realloc(w->members, (size_t)cap * sizeof(*m));
            if (!m) {
                drop_if_empty(w, ri);
                w->st.dropped++;
                return;
            }
            w->members = m;
            w->cap_members = cap;
        }
        mi = w->n_members++;
    }
    w->members[mi] = (member){.addr = *from, .room = ri, .pos = r->n};
    r->members[r->n++] = mi;
    map_place(&w->by_addr, addr_key(from), mi);
    w->live_members++;
    w->st.joins++;
    reply(w, from, ack);
}

/* JOIN and LEAVE, with a trailing newline tolerated so that a person can
 * type them into nc. Returns false when the datagram is not a command. */
static bool command(worker *w, const struct sockaddr_in *from, const uint8_t *p, size_t len)
{
    bool is_join = len >= 5 && memcmp(p, "JOIN ", 5) == 0;
    bool is_leave = len >= 5 && memcmp(p, "LEAVE", 5) == 0;
    if ((!is_join && !is_leave) || len > 5 + ROOM_NAME_MAX + 2)
        return false;
    while (len > 5 && (p[len - 1] == '\n' || p[len - 1] == '\r'))
        len--;
    /* Both may move or grow the tables the queued copies point into. */
    flush(w);
    if (is_leave) {
        int32_t mi = len == 5 ? map_get(&w->by_addr, addr_key(from)) : MAP_EMPTY;
        if (mi >= 0)
            leave(w, mi);
        else
            w->st.dropped++;
        return true;
    }
    char name[ROOM_NAME_MAX + 1];
    size_t n = len - 5;
    bool ok = n >= 1 && n <= ROOM_NAME_MAX;
    for (size_t i = 0; ok && i < n; i++)
        ok = p[5 + i] > ' ' && p[5 + i] < 0x7f;
    if (!ok) {
        w->st.dropped++;
        return true;
    }
    memcpy(name, p + 5, n);
    name[n] = '\0';
    join(w, from, name);
    return true;
}

static void fan_out(worker *w, int32_t from, uint8_t *data, size_t len)
{
    const room *r = &w->rooms[w->members[from].room];
    for (int32_t i = 0; i < r->n; i++) {
        int32_t to = r->members[i];
        if (to == from)
            continue;
        if (w->n_out == OUT_BATCH)
            flush(w);
        int k = w->n_out++;
        w->out_iov[k] = (struct iovec){.iov_base = data, .iov_len = len};
        w->out_msgs[k].msg_hdr = (struct msghdr){.msg_name = &w->members[to].addr,
                                                 .msg_namelen = sizeof(w->members[to].addr),
                                                 .msg_iov = &w->out_iov[k],
                                                 .msg_iovlen = 1};
    }
}

static void datagrams(worker *w, int got)
{
    for (int k = 0; k < got; k++) {
        const struct msghdr *h = &w->in_msgs[k].msg_hdr;
        size_t len = w->in_msgs[k].msg_len;
        w->st.in++;
        if ((h->msg_flags & MSG_TRUNC) || h->msg_namelen != sizeof(struct sockaddr_in) ||
            w->from[k].sin_family != AF_INET) {
            w->st.dropped++;
            continue;
        }
        if (len <= 5 + ROOM_NAME_MAX + 2 && command(w, &w->from[k], w->bufs[k], len))
            continue;
        int32_t mi = map_get(&w->by_addr, addr_key(&w->from[k]));
        if (mi < 0) {
            w->st.dropped++;
            continue;
        }
        fan_out(w, mi, w->bufs[k], len);
    }
    /* The next recvmmsg overwrites the buffers the copies point into. */
    flush(w);
}

static void *serve(void *arg)
{
    worker *w = arg;
    for (;;) {
        struct epoll_event evs[2];
        int n = epoll_wait(w->ep, evs, 2, -1);
        if (n < 0 && errno != EINTR)
            return NULL;
        for (int e = 0; e < n; e++) {
            if (evs[e].data.fd == w->stop_fd)
                return NULL;
            for (;;) {
                for (int k = 0; k < BATCH; k++) {
                    w->in_iov[k] = (struct iovec){.iov_base = w->bufs[k], .iov_len = DGRAM_MAX};
                    w->in_msgs[k].msg_hdr = (struct msghdr){.msg_name = &w->from[k],
                                                            .msg_namelen = sizeof(w->from[k]),
                                                            .msg_iov = &w->in_iov[k],
                                                            .msg_iovlen = 1};
                }
                int got = recvmmsg(w->fd, w->in_msgs, BATCH, MSG_DONTWAIT, NULL);
                if (got <= 0)
                    break;
                datagrams(w, got);
                if (got < BATCH)
                    break;
            }
        }
    }
}

static void worker_free(worker *w)
{
    if (w->fd >= 0)
        close(w->fd);
    if (w->ep >= 0)
        close(w->ep);
    for (int32_t i = 0; i < w->n_rooms; i++)
        free(w->rooms[i].members);
    free(w->rooms);
    free(w->members);
    free(w->by_addr.slots);
    free(w->by_name.slots);
    free(w);
}

static worker *worker_open(const struct in_addr *ip, uint16_t port, int stop_fd)
{
    worker *w = calloc(1, sizeof(*w));
    if (!w)
        return NULL;
    w->stop_fd = stop_fd;
    w->free_member = -1;
    w->free_room = -1;
    w->fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    w->ep = epoll_create1(EPOLL_CLOEXEC);
    if (w->fd < 0 || w->ep < 0 || !map_init(&w->by_addr, 1024) || !map_init(&w->by_name, 64)) {
        worker_free(w);
        return NULL;
    }
    /* The relay's socket buffers (media/worker.c). */
    int sz = 4 << 20;
    setsockopt(w->fd, SOL_SOCKET, SO_RCVBUF, &sz, sizeof(sz));
    setsockopt(w->fd, SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr = *ip, .sin_port = htons(port)};
    socklen_t alen = sizeof(a);
    struct epoll_event e1 = {.events = EPOLLIN, .data.fd = w->fd};
    struct epoll_event e2 = {.events = EPOLLIN, .data.fd = stop_fd};
    if (bind(w->fd, (struct sockaddr *)&a, sizeof(a)) != 0 ||
        getsockname(w->fd, (struct sockaddr *)&a, &alen) != 0 ||
        epoll_ctl(w->ep, EPOLL_CTL_ADD, w->fd, &e1) != 0 ||
        epoll_ctl(w->ep, EPOLL_CTL_ADD, stop_fd, &e2) != 0) {
        fprintf(stderr, "parley-reflect: port %u: %s\n", port, strerror(errno));
        worker_free(w);
        return NULL;
    }
    w->port = ntohs(a.sin_port);
    return w;
}

static void print_counters(worker **ws, int n)
{
    counters sum = {0};
    int32_t members = 0;
    for (int i = 0; i < n; i++) {
        sum.in += ws[i]->st.in;
        sum.out += ws[i]->st.out;
        sum.dropped += ws[i]->st.dropped;
        sum.send_errors += ws[i]->st.send_errors;
        sum.joins += ws[i]->st.joins;
        sum.leaves += ws[i]->st.leaves;
        members += ws[i]->live_members;
    }
    printf("{\"datagrams_in\":%llu,\"datagrams_out\":%llu,\"dropped\":%llu,\"send_errors\":%llu,"
           "\"joins\":%llu,\"leaves\":%llu,\"members\":%d,\"threads\":%d,\"per_thread\":[",
           (unsigned long long)sum.in, (unsigned long long)sum.out, (unsigned long long)sum.dropped,
           (unsigned long long)sum.send_errors, (unsigned long long)sum.joins,
           (unsigned long long)sum.leaves, members, n);
    for (int i = 0; i < n; i++)
        printf("%s{\"port\":%u,\"datagrams_in\":%llu,\"datagrams_out\":%llu}", i ? "," : "",
               ws[i]->port, (unsigned long long)ws[i]->st.in, (unsigned long long)ws[i]->st.out);
    printf("]}\n");
    fflush(stdout);
}

static int usage(void)
{
    fprintf(stderr, "usage: parley-reflect [--bind IP] [--port P] [--threads T]\n"
                    "  thread i serves port P+i; P 0 (one thread only) takes a free port\n");
    return 2;
}

int main(int argc, char **argv)
{
    const char *bind_host = "127.0.0.1";
    int port = 0, threads = 1;
    static const struct option longs[] = {{"bind", required_argument, NULL, 'b'},
                                          {"port", required_argument, NULL, 'p'},
                                          {"threads", required_argument, NULL, 't'},
                                          {"help", no_argument, NULL, 'h'},
                                          {NULL, 0, NULL, 0}};
    int c;
    while ((c = getopt_long(argc, argv, "", longs, NULL)) != -1) {
        if (c == 'b')
            bind_host = optarg;
        else if (c == 'p' && parse_int(optarg, 0, 65535, &port))
            continue;
        else if (c == 't' && parse_int(optarg, 1, MAX_THREADS, &threads))
            continue;
        else
            return usage();
    }
    if (optind != argc || (port == 0 && threads > 1) || port + threads - 1 > 65535)
        return usage();
    struct addrinfo hints = {.ai_family = AF_INET, .ai_socktype = SOCK_DGRAM}, *ai;
    if (getaddrinfo(bind_host, NULL, &hints, &ai) != 0) {
        fprintf(stderr, "parley-reflect: cannot resolve %s (IPv4 only)\n", bind_host);
        return 2;
    }
    struct in_addr ip = ((const struct sockaddr_in *)ai->ai_addr)->sin_addr;
    freeaddrinfo(ai);

    /* Blocked before any thread starts, so that every thread inherits the
     * mask and only sigwait below sees the signal. */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set, NULL);

    /* Written once and never read: level-triggered, it wakes every worker. */
    int stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    worker *ws[MAX_THREADS] = {NULL};
    int rc = 0;
    if (stop_fd < 0) {
        perror("parley-reflect: eventfd");
        return 1;
    }
    for (int i = 0; i < threads && rc == 0; i++) {
        ws[i] = worker_open(&ip, (uint16_t)(port + i), stop_fd);
        if (!ws[i])
            rc = 1;
        else
            ws[i]->started = pthread_create(&ws[i]->thread, NULL, serve, ws[i]) == 0;
        if (ws[i] && !ws[i]->started) {
            fprintf(stderr, "parley-reflect: cannot start thread %d\n", i);
            rc = 1;
        }
    }
    if (rc == 0) {
        char host[INET_ADDRSTRLEN];
        inet_ntop(AF_INET, &ip, host, sizeof(host));
        printf("listening on udp://%s:%u\n", host, ws[0]->port);
        fflush(stdout);
        if (threads > 1)
            fprintf(stderr, "parley-reflect: %d threads on ports %d-%d\n", threads, ws[0]->port,
                    ws[0]->port + threads - 1);
        int sig;
        sigwait(&set, &sig);
    }
    uint64_t one = 1;
    if (write(stop_fd, &one, sizeof(one)) != sizeof(one))
        perror("parley-reflect: eventfd");
    int n = 0;
    for (; n < threads && ws[n]; n++)
        if (ws[n]->started)
            pthread_join(ws[n]->thread, NULL);
    if (rc == 0)
        print_counters(ws, n);
    for (int i = 0; i < n; i++)
        worker_free(ws[i]);
    close(stop_fd);
    return rc;
}
