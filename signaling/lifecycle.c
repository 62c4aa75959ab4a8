/* Signals and the server's end. Signals arrive on a thread of their own
 * that only counts them and wakes the lws loop; the loop acts on them
 * (srv_lifecycle_step): SIGHUP reloads the files (reload.c); a first SIGTERM
 * or SIGINT starts draining, a second one stops at once. Draining refuses
 * new joins and calls (`draining`) while the meetings under way go on,
 * until none is left or --drain-timeout has passed. */
#include <signal.h>
#include <stdio.h>

#include "server.h"

static void *signal_thread(void *arg)
{
    server *srv = arg;
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGHUP);
    for (;;) {
        int sig;
        if (sigwait(&set, &sig) != 0)
            continue;
        if (sig == SIGHUP)
            atomic_store(&srv->hup, true);
        else
            atomic_fetch_add(&srv->terms, 1);
        /* Under ev_lock: the context may be on its way out. */
        pthread_mutex_lock(&srv->ev_lock);
        if (!srv->ev_closed)
            lws_cancel_service(srv->ctx);
        pthread_mutex_unlock(&srv->ev_lock);
    }
    return NULL;
}

void srv_signals_block(void)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);
}

int srv_signals_start(server *srv)
{
    return pthread_create(&srv->signal_thread, NULL, signal_thread, srv) == 0 ? 0 : -1;
}

void srv_signals_stop(server *srv)
{
    pthread_cancel(srv->signal_thread);
    pthread_join(srv->signal_thread, NULL);
}

/* Nothing under way any more: no room (a call accepted has one) and no
 * call ringing. */
static bool idle(const server *srv)
{
    pl_sig_stats ss;
    pl_sig_stats_get(srv->sig, &ss);
    return ss.rooms == 0 && ss.calls == 0;
}

bool srv_lifecycle_step(server *srv)
{
    if (atomic_exchange(&srv->hup, false))
        srv_reload(srv);
    int terms = atomic_load(&srv->terms);
    if (terms >= 2) {
        printf("stopping now\n");
        return false;
    }
    int64_t now = srv_now().mono_ms;
    if (terms == 1 && !srv->draining) {
        if (srv->opt.drain_timeout == 0 || idle(srv)) {
            printf("stopping: nothing under way\n");
            fflush(stdout);
            return false;
        }
        srv->draining = true;
        srv->drain_deadline_ms = now + (int64_t)srv->opt.drain_timeout * 1000;
        pl_sig_set_draining(srv->sig, true);
        pl_sig_stats ss;
        pl_sig_stats_get(srv->sig, &ss);
        printf("draining: %zu room%s, %zu participant%s; new joins refused; stopping when they "
               "end or in %d s (SIGTERM again: now)\n",
               ss.rooms, ss.rooms == 1 ? "" : "s", ss.participants, ss.participants == 1 ? "" : "s",
               srv->opt.drain_timeout);
        fflush(stdout);
    }
    if (!srv->draining)
        return true;
    if (idle(srv)) {
        printf("stopping: drained\n");
        fflush(stdout);
        return false;
    }
    if (now >= srv->drain_deadline_ms) {
        printf("stopping: drain timeout\n");
        fflush(stdout);
        return false;
    }
    return true;
}
