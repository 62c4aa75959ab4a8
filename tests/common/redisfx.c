#include "redisfx.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <hiredis/hiredis.h>

bool redisfx_available(void)
{
    return system("command -v redis-server >/dev/null 2>&1") == 0;
}

static int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(a);
    int port = -1;
    if (fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0 &&
        getsockname(fd, (struct sockaddr *)&a, &len) == 0)
        port = ntohs(a.sin_port);
    if (fd >= 0)
        close(fd);
    return port;
}

static redisContext *connect_fx(const redisfx *fx)
{
    struct timeval tv = {1, 0};
    redisContext *c = redisConnectWithTimeout("127.0.0.1", fx->port, tv);
    if (c && c->err) {
        redisFree(c);
        return NULL;
    }
    if (c)
        redisSetTimeout(c, tv);
    return c;
}

/* Waits, up to 10 s, for the server to say on its log (the pipe `fd`)
 * that it accepts connections; then reads nothing more (the server
 * ignores SIGPIPE, so its later lines are dropped, not a cause to stop). */
static int wait_ready(int fd)
{
    char buf[4096];
    size_t have = 0;
    int rc = -1;
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (;;) {
        struct timespec now;
        clock_gettime(CLOCK_MONOTONIC, &now);
        int left =
            10000 - (int)((now.tv_sec - t0.tv_sec) * 1000 + (now.tv_nsec - t0.tv_nsec) / 1000000);
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (left <= 0 || poll(&p, 1, left) <= 0)
            break;
        if (have == sizeof(buf) - 1) { /* keep the tail, where a line may be cut */
            memmove(buf, buf + have / 2, have - have / 2);
            have -= have / 2;
        }
        ssize_t n = read(fd, buf + have, sizeof(buf) - 1 - have);
        if (n <= 0)
            break; /* it exited */
        have += (size_t)n;
        buf[have] = '\0';
        if (strstr(buf, "Ready to accept connections")) {
            rc = 0;
            break;
        }
    }
    close(fd);
    return rc;
}

static int spawn(redisfx *fx)
{
    char port[16];
    snprintf(port, sizeof(port), "%d", fx->port);
    int log[2];
    if (pipe(log) != 0)
        return -1;
    pid_t pid = fork();
    if (pid < 0) {
        close(log[0]);
        close(log[1]);
        return -1;
    }
    if (pid == 0) {
        /* Its log on stdout (--logfile ""), into the pipe. */
        close(log[0]);
        dup2(log[1], STDOUT_FILENO);
        execlp("redis-server", "redis-server", "--port", port, "--bind", "127.0.0.1", "--dir",
               fx->dir, "--appendonly", fx->durable ? "yes" : "no", "--appendfsync",
               fx->durable ? "always" : "everysec", "--save", "", "--logfile", "", "--daemonize",
               "no", (char *)NULL);
        _exit(127);
    }
    close(log[1]);
    fx->pid = pid;
    if (wait_ready(log[0]) != 0) {
        redisfx_kill(fx, SIGKILL);
        return -1;
    }
    return 0;
}

int redisfx_start(redisfx *fx, bool durable)
{
    memset(fx, 0, sizeof(*fx));
    fx->durable = durable;
    snprintf(fx->dir, sizeof(fx->dir), "/tmp/parley-redis-XXXXXX");
    if (!mkdtemp(fx->dir))
        return -1;
    fx->port = free_port();
    if (fx->port < 0)
        return -1;
    snprintf(fx->url, sizeof(fx->url), "redis://127.0.0.1:%d", fx->port);
    return spawn(fx);
}

void redisfx_kill(redisfx *fx, int sig)
{
    if (fx->pid <= 0)
        return;
    kill(fx->pid, sig);
    waitpid(fx->pid, NULL, 0);
    fx->pid = 0;
}

int redisfx_restart(redisfx *fx)
{
    return spawn(fx);
}

void redisfx_stop(redisfx *fx)
{
    redisfx_kill(fx, SIGKILL);
    if (fx->dir[0]) {
        char cmd[128];
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", fx->dir);
        if (system(cmd) != 0)
            fprintf(stderr, "redisfx: cannot remove %s\n", fx->dir);
        fx->dir[0] = '\0';
    }
}

int redisfx_flush(redisfx *fx)
{
    redisContext *c = connect_fx(fx);
    if (!c)
        return -1;
    redisReply *r = redisCommand(c, "FLUSHALL");
    int rc = r && r->type == REDIS_REPLY_STATUS ? 0 : -1;
    freeReplyObject(r);
    redisFree(c);
    return rc;
}
