/* parley-reflect-load: drives parley-reflect at a relay load shape's packet
 * rate, so that the benchmark can set the relay beside bare sockets.
 *
 *   parley-reflect-load --server HOST:PORT [--threads T] [--rooms M]
 *       [--per-room N] [--senders K] [--seconds S] [--pps R] [--size B]
 *       [--report FILE]
 *
 * M rooms of N members, each member its own UDP socket; room r talks to
 * port PORT + r % T, so that rooms spread over the reflector's threads.
 * After every member's JOIN is answered, the first K members of each room
 * (all by default) send R datagrams a second of B bytes for S seconds,
 * evenly paced; each starts with the sender's index, a sequence number and
 * the send time on CLOCK_MONOTONIC. Receivers count every sender's
 * datagrams, and after a 1 s drain the loss follows from the sequence
 * numbers; the one-way delay is the kernel's receive time minus the send
 * time. One thread, epoll over every socket. */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "args.h"

#define BATCH 64
#define TX_BATCH 16
#define DGRAM_MAX 2048
#define SIZE_MAX_B 2000 /* parley-reflect drops datagrams over 2048 bytes */
#define HEADER 16       /* sender u32, sequence u32, send time i64 (ns), host order */
#define MAX_MEMBERS 100000
#define MAX_PAIRS (1L << 26)
#define MAX_EVENTS 512
#define TIMER_ID UINT32_MAX
#define TICK_NS 1000000
#define DRAIN_NS 1000000000
#define JOIN_TIMEOUT_NS 5000000000LL
#define JOIN_RESEND_NS 250000000LL

/* Delay histogram in microseconds: exact below 2 * HIST_SUB, then HIST_SUB
 * buckets per power of two (under 0.1 % error), to any delay a run can see. */
#define HIST_SUB_BITS 10
#define HIST_SUB (1 << HIST_SUB_BITS)
#define HIST_BUCKETS (64 * HIST_SUB)

typedef struct options {
    const char *server, *report;
    int threads, rooms, per_room, senders, size;
    double pps, seconds;
} options;

typedef struct member {
    int fd;
    int room;
    bool joined;
} member;

typedef struct sender {
    int member;
    uint32_t sent; /* also the next sequence number */
} sender;

/* What one receiver got from one sender of its room. */
typedef struct stream {
    uint64_t window;  /* bit i: sequence top - 1 - i arrived */
    uint32_t top;     /* highest sequence seen + 1; 0 before the first */
    uint32_t packets; /* distinct sequence numbers */
} stream;

typedef struct hist {
    uint64_t *b;
    uint64_t n;
    int64_t max;
} hist;

typedef struct totals {
    uint64_t sent, send_errors, expected, received, duplicates, reordered, invalid;
} totals;

typedef struct load {
    options o;
    member *m;
    int n_members;
    sender *s;
    int n_senders;
    stream *streams; /* [receiving member][sender's place in the room] */
    hist delay;
    int ep, timer;
    int joined;
    int64_t realtime_offset_ns;
    totals t;

    uint8_t rx[BATCH][DGRAM_MAX];
    union {
        char buf[CMSG_SPACE(sizeof(struct timespec))];
        struct cmsghdr align;
    } ctl[BATCH];
    struct mmsghdr rx_msgs[BATCH];
    struct iovec rx_iov[BATCH];

    uint8_t tx[TX_BATCH][DGRAM_MAX];
    struct mmsghdr tx_msgs[TX_BATCH];
    struct iovec tx_iov[TX_BATCH];
} load;

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int64_t realtime_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static size_t hist_bucket(uint64_t v)
{
    if (v < 2 * HIST_SUB)
        return (size_t)v;
    int e = 63 - __builtin_clzll(v) - HIST_SUB_BITS;
    return (size_t)e * HIST_SUB + (size_t)(v >> e);
}

/* The largest value that lands in bucket b. */
static uint64_t hist_upper(size_t b)
{
    if (b < 2 * HIST_SUB)
        return b;
    int e = (int)(b / HIST_SUB) - 1;
    uint64_t mantissa = b - (size_t)e * HIST_SUB;
    return ((mantissa + 1) << e) - 1;
}

static void hist_add(hist *h, int64_t us)
{
    if (us < 0)
        us = 0; /* the two clocks disagree by a few ns at most */
    h->b[hist_bucket((uint64_t)us)]++;
    h->n++;
    if (us > h->max)
        h->max = us;
}

static int64_t hist_quantile(const hist *h, double q)
{
    if (h->n == 0)
        return 0;
    uint64_t rank = (uint64_t)ceil(q * (double)h->n);
    if (rank < 1)
        rank = 1;
    uint64_t seen = 0;
    for (size_t b = 0; b < HIST_BUCKETS; b++) {
        seen += h->b[b];
        if (seen >= rank) {
            int64_t v = (int64_t)hist_upper(b);
            return v < h->max ? v : h->max;
        }
    }
    return h->max;
}

static bool parse_double(const char *s, double lo, double hi, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || !(v >= lo && v <= hi))
        return false;
    *out = v;
    return true;
}

static int parse(int argc, char **argv, options *o)
{
    *o = (options){.threads = 1, .rooms = 1, .per_room = 2, .pps = 83, .size = 1000, .seconds = 10};
    static const struct option longs[] = {
        {"server", required_argument, NULL, 'a'},  {"threads", required_argument, NULL, 't'},
        {"rooms", required_argument, NULL, 'm'},   {"per-room", required_argument, NULL, 'n'},
        {"senders", required_argument, NULL, 'k'}, {"seconds", required_argument, NULL, 's'},
        {"pps", required_argument, NULL, 'r'},     {"size", required_argument, NULL, 'b'},
        {"report", required_argument, NULL, 'o'},  {NULL, 0, NULL, 0}};
    int c;
    bool ok = true;
    while (ok && (c = getopt_long(argc, argv, "", longs, NULL)) != -1) {
        switch (c) {
        case 'a':
            o->server = optarg;
            break;
        case 't':
            ok = parse_int(optarg, 1, 64, &o->threads);
            break;
        case 'm':
            ok = parse_int(optarg, 1, MAX_MEMBERS, &o->rooms);
            break;
        case 'n':
            ok = parse_int(optarg, 2, MAX_MEMBERS, &o->per_room);
            break;
        case 'k':
            ok = parse_int(optarg, 0, MAX_MEMBERS, &o->senders);
            break;
        case 's':
            ok = parse_double(optarg, 0.001, 86400, &o->seconds);
            break;
        case 'r':
            ok = parse_double(optarg, 0.01, 100000, &o->pps);
            break;
        case 'b':
            ok = parse_int(optarg, HEADER, SIZE_MAX_B, &o->size);
            break;
        case 'o':
            o->report = optarg;
            break;
        default:
            ok = false;
        }
    }
    if (o->senders == 0 || o->senders > o->per_room)
        o->senders = o->per_room;
    if (!ok || optind != argc || !o->server || (long)o->rooms * o->per_room > MAX_MEMBERS ||
        (long)o->rooms * o->per_room * o->senders > MAX_PAIRS)
        return -1;
    return 0;
}

static int resolve(const char *hostport, struct sockaddr_in *out)
{
    char host[256];
    int port;
    const char *colon = strrchr(hostport, ':');
    if (!colon || colon == hostport || (size_t)(colon - hostport) >= sizeof(host) ||
        !parse_int(colon + 1, 1, 65535, &port))
        return -1;
    memcpy(host, hostport, (size_t)(colon - hostport));
    host[colon - hostport] = '\0';
    struct addrinfo hints = {.ai_family = AF_INET, .ai_socktype = SOCK_DGRAM}, *ai;
    if (getaddrinfo(host, NULL, &hints, &ai) != 0)
        return -1;
    *out = *(const struct sockaddr_in *)ai->ai_addr;
    out->sin_port = htons((uint16_t)port);
    freeaddrinfo(ai);
    return 0;
}

/* One socket per member asks for one descriptor each. */
static void raise_fd_limit(int need)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < (rlim_t)need) {
        rl.rlim_cur = rl.rlim_max < (rlim_t)need ? rl.rlim_max : (rlim_t)need;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

static int open_member(load *l, int i, const struct sockaddr_in *server)
{
    member *m = &l->m[i];
    m->room = i / l->o.per_room;
    struct sockaddr_in to = *server;
    to.sin_port = htons((uint16_t)(ntohs(server->sin_port) + m->room % l->o.threads));
    m->fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (m->fd < 0)
        return -1;
    /* Room for a stall of this process: what the kernel drops here would
     * count as the reflector's loss. Forcing needs root; else the limit. */
    int sz = 1 << 20, on = 1;
    if (setsockopt(m->fd, SOL_SOCKET, SO_RCVBUFFORCE, &sz, sizeof(sz)) != 0)
        setsockopt(m->fd, SOL_SOCKET, SO_RCVBUF, &sz, sizeof(sz));
    /* The kernel's receive time: the delay leaves out this loop's queueing. */
    setsockopt(m->fd, SOL_SOCKET, SO_TIMESTAMPNS, &on, sizeof(on));
    /* Connected: the kernel routes once and lets only the reflector in. */
    struct epoll_event ev = {.events = EPOLLIN, .data.u32 = (uint32_t)i};
    if (connect(m->fd, (const struct sockaddr *)&to, sizeof(to)) != 0 ||
        epoll_ctl(l->ep, EPOLL_CTL_ADD, m->fd, &ev) != 0)
        return -1;
    return 0;
}

static int64_t arrival_ns(const load *l, struct msghdr *h, int64_t fallback)
{
    for (struct cmsghdr *c = CMSG_FIRSTHDR(h); c; c = CMSG_NXTHDR(h, c))
        if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_TIMESTAMPNS) {
            struct timespec ts;
            memcpy(&ts, CMSG_DATA(c), sizeof(ts));
            return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec - l->realtime_offset_ns;
        }
    return fallback;
}

static void datagram(load *l, int to, const uint8_t *p, size_t len, int64_t at)
{
    /* No data datagram starts so: its first word is a sender index. */
    if (len >= 7 && memcmp(p, "JOINED ", 7) == 0) {
        if (!l->m[to].joined)
            l->joined++;
        l->m[to].joined = true;
        return;
    }
    if (len < HEADER) {
        l->t.invalid++;
        return;
    }
    uint32_t who, seq;
    int64_t sent_at;
    memcpy(&who, p, 4);
    memcpy(&seq, p + 4, 4);
    memcpy(&sent_at, p + 8, 8);
    /* Only what was really sent, to someone else in the sender's room. */
    if (who >= (uint32_t)l->n_senders || seq >= l->s[who].sent || l->s[who].member == to ||
        l->m[l->s[who].member].room != l->m[to].room || len != (size_t)l->o.size) {
        l->t.invalid++;
        return;
    }
    stream *st = &l->streams[(size_t)to * (size_t)l->o.senders + who % (uint32_t)l->o.senders];
    if (seq >= st->top) {
        uint32_t shift = seq + 1 - st->top;
        st->window = st->top == 0 || shift >= 64 ? 1 : (st->window << shift) | 1;
        st->top = seq + 1;
    } else {
        uint32_t back = st->top - 1 - seq;
        /* Too old for the window: counted, as it cannot be told from a
         * duplicate and loopback does not duplicate. */
        if (back < 64 && (st->window >> back) & 1) {
            l->t.duplicates++;
            return;
        }
        if (back < 64)
            st->window |= (uint64_t)1 << back;
        l->t.reordered++;
    }
    st->packets++;
    l->t.received++;
    hist_add(&l->delay, (at - sent_at) / 1000);
}

static void drain(load *l, int i)
{
    for (;;) {
        int got = recvmmsg(l->m[i].fd, l->rx_msgs, BATCH, MSG_DONTWAIT, NULL);
        if (got <= 0)
            return;
        int64_t now = now_ns();
        for (int k = 0; k < got; k++) {
            struct msghdr *h = &l->rx_msgs[k].msg_hdr;
            if (h->msg_flags & MSG_TRUNC)
                l->t.invalid++;
            else
                datagram(l, i, l->rx[k], l->rx_msgs[k].msg_len, arrival_ns(l, h, now));
            /* The kernel shrank it to what it wrote. */
            h->msg_controllen = sizeof(l->ctl[k].buf);
        }
        if (got < BATCH)
            return;
    }
}

static void wait_and_drain(load *l, int timeout_ms, bool *tick)
{
    struct epoll_event evs[MAX_EVENTS];
    int n = epoll_wait(l->ep, evs, MAX_EVENTS, timeout_ms);
    for (int e = 0; e < n; e++) {
        if (evs[e].data.u32 == TIMER_ID) {
            uint64_t expirations;
            if (read(l->timer, &expirations, sizeof(expirations)) < 0 && errno != EAGAIN)
                perror("parley-reflect-load: timer");
            *tick = true;
        } else {
            drain(l, (int)evs[e].data.u32);
        }
    }
}

/* c datagrams of one sender, in sendmmsg batches; a datagram the kernel
 * refuses keeps its sequence number for the next one, so that the loss
 * count is the reflector's alone. */
static void send_burst(load *l, int who, uint64_t c)
{
    sender *s = &l->s[who];
    int fd = l->m[s->member].fd;
    uint32_t id = (uint32_t)who;
    while (c > 0) {
        int k = c < TX_BATCH ? (int)c : TX_BATCH;
        int64_t at = now_ns();
        for (int j = 0; j < k; j++) {
            uint32_t seq = s->sent + (uint32_t)j;
            memcpy(l->tx[j], &id, 4);
            memcpy(l->tx[j] + 4, &seq, 4);
            memcpy(l->tx[j] + 8, &at, 8);
        }
        int n = sendmmsg(fd, l->tx_msgs, (unsigned)k, 0);
        if (n < 0)
            n = 0;
        s->sent += (uint32_t)n;
        l->t.sent += (uint64_t)n;
        l->t.expected += (uint64_t)n * (uint64_t)(l->o.per_room - 1);
        l->t.send_errors += (uint64_t)(k - n);
        c -= (uint64_t)k;
    }
}

static int join_all(load *l)
{
    int64_t deadline = now_ns() + JOIN_TIMEOUT_NS, resend = 0;
    while (l->joined < l->n_members) {
        int64_t t = now_ns();
        if (t >= deadline) {
            fprintf(stderr, "parley-reflect-load: %d of %d JOINs answered within 5 s\n", l->joined,
                    l->n_members);
            return -1;
        }
        if (t >= resend) {
            for (int i = 0; i < l->n_members; i++) {
                if (l->m[i].joined)
                    continue;
                char msg[32];
                int len = snprintf(msg, sizeof(msg), "JOIN load-%d", l->m[i].room);
                if (send(l->m[i].fd, msg, (size_t)len, 0) < 0 && errno != EAGAIN &&
                    errno != ECONNREFUSED) {
                    perror("parley-reflect-load: JOIN");
                    return -1;
                }
            }
            resend = t + JOIN_RESEND_NS;
        }
        bool tick = false;
        wait_and_drain(l, (int)((resend - t) / 1000000) + 1, &tick);
    }
    return 0;
}

/* Sender g % n_senders has its (g / n_senders)-th datagram due at
 * start + g / (pps * n_senders): every sender at the same rate, their
 * phases spread evenly over one period. */
static void run(load *l)
{
    const options *o = &l->o;
    uint64_t per_sender = (uint64_t)llround(o->seconds * o->pps);
    if (per_sender == 0)
        per_sender = 1;
    uint64_t n = (uint64_t)l->n_senders, total = per_sender * n, done = 0;
    double slots_per_ns = o->pps * (double)n / 1e9;
    int64_t start = now_ns() + TICK_NS, end = 0;
    struct itimerspec its = {
        .it_interval = {.tv_nsec = TICK_NS},
        .it_value = {.tv_sec = start / 1000000000, .tv_nsec = start % 1000000000}};
    timerfd_settime(l->timer, TFD_TIMER_ABSTIME, &its, NULL);
    for (;;) {
        bool tick = false;
        wait_and_drain(l, 100, &tick);
        int64_t t = now_ns();
        if (done < total && t >= start) {
            uint64_t due = (uint64_t)((double)(t - start) * slots_per_ns) + 1;
            if (due > total)
                due = total;
            uint64_t span = due - done, firsts = span < n ? span : n;
            for (uint64_t j = 0; j < firsts; j++)
                send_burst(l, (int)((done + j) % n), (span - j + n - 1) / n);
            done = due;
            if (done == total) {
                int64_t planned = start + (int64_t)(o->seconds * 1e9);
                end = (t > planned ? t : planned) + DRAIN_NS;
            }
        }
        if (end && t >= end)
            return;
    }
}

static void leave_all(load *l)
{
    for (int i = 0; i < l->n_members; i++)
        if (send(l->m[i].fd, "LEAVE", 5, 0) < 0)
            l->t.send_errors++;
}

static int report(load *l)
{
    const options *o = &l->o;
    uint64_t lossy = 0, n_streams = (uint64_t)l->n_members * (uint64_t)o->senders;
    for (int i = 0; i < l->n_members; i++)
        for (int j = 0; j < o->senders; j++) {
            int who = l->m[i].room * o->senders + j;
            if (l->s[who].member != i &&
                l->streams[(size_t)i * (size_t)o->senders + (size_t)j].packets < l->s[who].sent)
                lossy++;
        }
    n_streams -= (uint64_t)l->n_senders; /* nobody receives itself */
    double loss = l->t.expected ? 1.0 - (double)l->t.received / (double)l->t.expected : 0.0;
    if (loss < 0)
        loss = 0;
    int64_t p50 = hist_quantile(&l->delay, 0.5), p99 = hist_quantile(&l->delay, 0.99);
    char json[1024];
    snprintf(json, sizeof(json),
             "{\"packets_sent\":%llu,\"packets_received\":%llu,\"expected_received\":%llu,"
             "\"loss\":%.6f,\"delay_us\":{\"p50\":%lld,\"p99\":%lld,\"max\":%lld},"
             "\"seconds\":%g,\"rooms\":%d,\"per_room\":%d,\"senders\":%d,\"pps\":%g,\"size\":%d,"
             "\"threads\":%d,\"streams\":%llu,\"streams_with_loss\":%llu,\"duplicates\":%llu,"
             "\"reordered\":%llu,\"invalid\":%llu,\"send_errors\":%llu}",
             (unsigned long long)l->t.sent, (unsigned long long)l->t.received,
             (unsigned long long)l->t.expected, loss, (long long)p50, (long long)p99,
             (long long)l->delay.max, o->seconds, o->rooms, o->per_room, o->senders, o->pps,
             o->size, o->threads, (unsigned long long)n_streams, (unsigned long long)lossy,
             (unsigned long long)l->t.duplicates, (unsigned long long)l->t.reordered,
             (unsigned long long)l->t.invalid, (unsigned long long)l->t.send_errors);
    if (o->report) {
        FILE *f = fopen(o->report, "w");
        if (!f || fprintf(f, "%s\n", json) < 0 || fclose(f) != 0) {
            fprintf(stderr, "parley-reflect-load: cannot write %s\n", o->report);
            return -1;
        }
    }
    printf("parley-reflect-load: %d rooms x %d (%d sending), %g pps x %d B, %g s: sent %llu, "
           "received %llu of %llu, loss %.4f%%, delay us p50 %lld p99 %lld max %lld\n",
           o->rooms, o->per_room, o->senders, o->pps, o->size, o->seconds,
           (unsigned long long)l->t.sent, (unsigned long long)l->t.received,
           (unsigned long long)l->t.expected, 100 * loss, (long long)p50, (long long)p99,
           (long long)l->delay.max);
    return 0;
}

static void load_free(load *l)
{
    for (int i = 0; i < l->n_members; i++)
        if (l->m[i].fd >= 0)
            close(l->m[i].fd);
    if (l->ep >= 0)
        close(l->ep);
    if (l->timer >= 0)
        close(l->timer);
    free(l->m);
    free(l->s);
    free(l->streams);
    free(l->delay.b);
    free(l);
}

static load *load_new(const options *o)
{
    load *l = calloc(1, sizeof(*l));
    if (!l)
        return NULL;
    l->o = *o;
    l->n_members = o->rooms * o->per_room;
    l->n_senders = o->rooms * o->senders;
    l->ep = epoll_create1(EPOLL_CLOEXEC);
    l->timer = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    l->m = malloc((size_t)l->n_members * sizeof(*l->m));
    l->s = calloc((size_t)l->n_senders, sizeof(*l->s));
    l->streams = calloc((size_t)l->n_members * (size_t)o->senders, sizeof(*l->streams));
    l->delay.b = calloc(HIST_BUCKETS, sizeof(*l->delay.b));
    if (l->m)
        for (int i = 0; i < l->n_members; i++)
            l->m[i] = (member){.fd = -1};
    else
        l->n_members = 0;
    struct epoll_event ev = {.events = EPOLLIN, .data.u32 = TIMER_ID};
    if (l->ep < 0 || l->timer < 0 || !l->m || !l->s || !l->streams || !l->delay.b ||
        epoll_ctl(l->ep, EPOLL_CTL_ADD, l->timer, &ev) != 0) {
        load_free(l);
        return NULL;
    }
    for (int r = 0; r < o->rooms; r++)
        for (int j = 0; j < o->senders; j++)
            l->s[r * o->senders + j].member = r * o->per_room + j;
    for (int k = 0; k < BATCH; k++) {
        l->rx_iov[k] = (struct iovec){.iov_base = l->rx[k], .iov_len = DGRAM_MAX};
        l->rx_msgs[k].msg_hdr = (struct msghdr){.msg_iov = &l->rx_iov[k],
                                                .msg_iovlen = 1,
                                                .msg_control = l->ctl[k].buf,
                                                .msg_controllen = sizeof(l->ctl[k].buf)};
    }
    for (int k = 0; k < TX_BATCH; k++) {
        /* The reflector never looks past the header; a fixed pattern
         * keeps runs identical. */
        for (int b = 0; b < DGRAM_MAX; b++)
            l->tx[k][b] = (uint8_t)(b * 131 + 7);
        l->tx_iov[k] = (struct iovec){.iov_base = l->tx[k], .iov_len = (size_t)o->size};
        l->tx_msgs[k].msg_hdr = (struct msghdr){.msg_iov = &l->tx_iov[k], .msg_iovlen = 1};
    }
    return l;
}

int main(int argc, char **argv)
{
    options o;
    struct sockaddr_in server;
    if (parse(argc, argv, &o) != 0 || resolve(o.server, &server) != 0) {
        fprintf(stderr,
                "usage: parley-reflect-load --server HOST:PORT [--threads T] [--rooms M]\n"
                "         [--per-room N] [--senders K] [--seconds S] [--pps R] [--size B]\n"
                "         [--report FILE]\n"
                "  defaults: T 1, M 1, N 2, K N (everyone sends), S 10, R 83, B 1000;\n"
                "  room r uses port PORT + r %% T; B from %d to %d\n",
                HEADER, SIZE_MAX_B);
        return 2;
    }
    if (ntohs(server.sin_port) + o.threads - 1 > 65535) {
        fprintf(stderr, "parley-reflect-load: ports past 65535\n");
        return 2;
    }
    raise_fd_limit(o.rooms * o.per_room + 64);
    load *l = load_new(&o);
    if (!l) {
        fprintf(stderr, "parley-reflect-load: out of memory\n");
        return 1;
    }
    for (int i = 0; i < l->n_members; i++)
        if (open_member(l, i, &server) != 0) {
            fprintf(stderr, "parley-reflect-load: socket %d: %s\n", i, strerror(errno));
            load_free(l);
            return 1;
        }
    if (join_all(l) != 0) {
        load_free(l);
        return 1;
    }
    l->realtime_offset_ns = realtime_ns() - now_ns();
    run(l);
    leave_all(l);
    int rc = report(l) == 0 ? 0 : 1;
    load_free(l);
    return rc;
}
