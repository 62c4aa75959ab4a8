/* parley: the server executable. One libwebsockets context serves the web
 * client over HTTP and the signaling protocol on /ws (ws.c); the protocol
 * itself lives in the signaling core (parley/signal.h), the media in the
 * workers (workers.c). A second vhost of the same context, off the public
 * port, is the admin listener (admin_http.c). This file starts everything,
 * serves until lifecycle.c says to stop (signals, draining), and stops
 * everything. */
#include <arpa/inet.h>
#include <errno.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "bus.h"
#include "server.h"

/* --announce-ip default: the bind address, or the first non-loopback IPv4
 * address when binding to every interface. */
static void pick_announce(server *srv)
{
    const char *b = srv->opt.bind;
    if (srv->opt.announce_ip) {
        snprintf(srv->announce, sizeof(srv->announce), "%s", srv->opt.announce_ip);
        return;
    }
    snprintf(srv->announce, sizeof(srv->announce), "%s", b);
    if (strcmp(b, "0.0.0.0") != 0 && strcmp(b, "::") != 0)
        return;
    snprintf(srv->announce, sizeof(srv->announce), "127.0.0.1");
    struct ifaddrs *ifs = NULL;
    if (getifaddrs(&ifs) != 0)
        return;
    for (struct ifaddrs *i = ifs; i; i = i->ifa_next) {
        if (!i->ifa_addr || i->ifa_addr->sa_family != AF_INET || (i->ifa_flags & IFF_LOOPBACK))
            continue;
        inet_ntop(AF_INET, &((struct sockaddr_in *)i->ifa_addr)->sin_addr, srv->announce,
                  sizeof(srv->announce));
        break;
    }
    freeifaddrs(ifs);
}

/* On every HTTP response (files, /r/<room>, errors; the admin listener's
 * too), instead of
 * lws's best-practices set: its policy lacks media-src, and a browser
 * enforces every policy it gets. The client has no inline script or style
 * and talks to /ws only. No Strict-Transport-Security: for a self-signed
 * certificate on a LAN address it would pin browsers to https there, with
 * no way to click through, long after the server went back to http. */
#define CSP                                                                                        \
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "        \
    "media-src 'self' blob: mediastream:; frame-ancestors 'none'; base-uri 'none'; "               \
    "form-action 'self'; connect-src 'self' "
static const struct lws_protocol_vhost_options common_headers[] = {
    {NULL, NULL, "x-content-type-options:", "nosniff"},
    {&common_headers[0], NULL, "referrer-policy:", "no-referrer"},
};
static const struct lws_protocol_vhost_options plain_headers = {
    &common_headers[1], NULL, "content-security-policy:", CSP "ws:"};
static const struct lws_protocol_vhost_options tls_headers = {
    &common_headers[1], NULL, "content-security-policy:", CSP "wss:"};

/* Makes the listener https/wss when asked; 0 or 1 (said why). */
static int configure_tls(server *srv, struct lws_context_creation_info *info)
{
    const options *o = &srv->opt;
    char fp[PL_TLS_FINGERPRINT_MAX], msg[512];
    info->headers = &plain_headers;
    if (!o->tls_self_signed && !o->tls_cert)
        return 0;
    if (o->tls_self_signed) {
        const char *names[] = {"localhost", "127.0.0.1", "::1", o->bind, srv->announce};
        if (pl_tls_cert_self_signed(names, sizeof(names) / sizeof(names[0]), 30, &srv->tls)) {
            pl_log_printf(srv->log, PL_LOG_ERROR, "cannot create the TLS certificate");
            return 1;
        }
        info->server_ssl_cert_mem = srv->tls.cert_der;
        info->server_ssl_cert_mem_len = (unsigned)srv->tls.cert_len;
        info->server_ssl_private_key_mem = srv->tls.key_der;
        info->server_ssl_private_key_mem_len = (unsigned)srv->tls.key_len;
        printf("tls: self-signed certificate for 30 days; before accepting it in a browser, check "
               "its SHA-256 fingerprint %s\n",
               srv->tls.fingerprint);
    } else {
        /* lws reads the files itself (a chain stays a chain); checked here
         * first so that a wrong path or key is said in plain words. */
        if (pl_tls_check_files(o->tls_cert, o->tls_key, fp, msg, sizeof(msg))) {
            pl_log_printf(srv->log, PL_LOG_ERROR, "%s", msg);
            return 1;
        }
        if (msg[0])
            pl_log_printf(srv->log, PL_LOG_WARN, "%s", msg);
        info->ssl_cert_filepath = o->tls_cert;
        info->ssl_private_key_filepath = o->tls_key;
        printf("tls: certificate SHA-256 fingerprint %s\n", fp);
    }
    info->headers = &tls_headers;
    info->options |= LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
    info->ssl_options_set = SSL_OP_NO_TLSv1 | SSL_OP_NO_TLSv1_1; /* browsers with WebRTC have 1.2 */
    /* HTTP/1.1 only: sessions are WebSocket upgrades read by their GET
     * line; h2 would carry them as RFC 8441 streams instead. */
    info->alpn = "http/1.1";
    return 0;
}

/* Webhooks: the secret their bodies are signed with, from a file as for
 * access tokens, and a sender per receiver. */
static int load_webhooks(server *srv)
{
    const options *o = &srv->opt;
    if (!o->n_webhook_urls)
        return 0;
    char buf[PL_AUTH_MAX_SECRET + 1];
    if (pl_auth_read_secret(o->webhook_secret_file, buf, sizeof(buf)) != PL_OK || !buf[0]) {
        pl_log_printf(srv->log, PL_LOG_ERROR, "cannot read a webhook secret from %s",
                      o->webhook_secret_file);
        return 1;
    }
    pl_webhooks_config cfg = {.urls = (const char *const *)o->webhook_urls,
                              .n_urls = o->n_webhook_urls,
                              .secret = (const uint8_t *)buf,
                              .secret_len = strlen(buf),
                              .capacity = (size_t)o->webhook_queue,
                              .log = srv->log};
    int rc = pl_webhooks_create(&cfg, &srv->webhooks);
    OPENSSL_cleanse(buf, sizeof(buf));
    if (rc != PL_OK) {
        pl_log_printf(srv->log, PL_LOG_ERROR, "cannot start webhooks: %s", pl_strerror(rc));
        return 1;
    }
    printf("webhooks: %zu receiver%s\n", o->n_webhook_urls, o->n_webhook_urls == 1 ? "" : "s");
    return 0;
}

/* An event of the core: logged at info, and queued for every webhook
 * receiver. Both are quick: this is the signaling thread. */
static void on_event(void *user, const pl_sig_event *ev)
{
    server *srv = user;
    char *body = pl_sig_event_json(ev);
    if (!body) {
        pl_log_printf(srv->log, PL_LOG_ERROR, "out of memory: event %s lost", ev->id);
        return;
    }
    srv_cluster_event(srv, ev);
    if (srv->webhooks)
        pl_webhooks_post(srv->webhooks, body, strlen(body));
    if (pl_log_enabled(srv->log, PL_LOG_INFO)) {
        pl_log_fields f = {.room = ev->room,
                           .participant_id = ev->participant.id,
                           .participant_name = ev->participant.name,
                           .event = pl_sig_event_name(ev->type)};
        pl_log_write(srv->log, PL_LOG_INFO, &f, body);
    }
    free(body);
}

/* lws 4.1 logs through a function without a user pointer: the server's
 * log is handed to it once, before the context exists, and never changes
 * after (the one static of the executable). */
static pl_log *lws_log_target;

static void lws_emit(int level, const char *line)
{
    char msg[512];
    size_t n = strlen(line);
    while (n && (line[n - 1] == '\n' || line[n - 1] == '\r'))
        n--;
    snprintf(msg, sizeof(msg), "lws: %.*s", (int)n, line);
    pl_log_write(lws_log_target, level == LLL_ERR ? PL_LOG_ERROR : PL_LOG_WARN, NULL, msg);
}

/* What other nodes published, into the core (on the loop's thread). */
static void bus_to_core(void *arg, const char *text, size_t len)
{
    server *srv = arg;
    pl_sig_handle_bus(srv->sig, srv_now(), text, len);
}

void srv_bus_deliver(server *srv)
{
    if (srv->bus && srv->sig)
        srv_bus_drain(srv->bus, bus_to_core, srv);
}

/* On the bus's thread: the loop drains what came (ws.c). */
static void bus_wake(void *arg)
{
    server *srv = arg;
    pthread_mutex_lock(&srv->ev_lock);
    if (!srv->ev_closed)
        lws_cancel_service(srv->ctx);
    pthread_mutex_unlock(&srv->ev_lock);
}

static void sig_tick(lws_sorted_usec_list_t *sul)
{
    server *srv = lws_container_of(sul, server, tick);
    if (srv->bus) {
        if (srv_bus_resync_due(srv->bus))
            pl_sig_cluster_refresh(srv->sig);
        srv_bus_tick(srv->bus);
        srv_bus_deliver(srv); /* what came before the loop could be woken */
    }
    pl_sig_tick(srv->sig, srv_now());
    srv_cluster_tick(srv);
    lws_sul_schedule(srv->ctx, 0, &srv->tick, sig_tick, LWS_US_PER_SEC);
}

/* A server that cannot keep heads-ups durably says so and does not start,
 * rather than lose them quietly. */
static int open_store(server *srv)
{
    /* Recordings are kept under it whichever store holds the heads-ups. */
    if (mkdir(srv->opt.data_dir, 0700) != 0 && errno != EEXIST) {
        pl_log_printf(srv->log, PL_LOG_ERROR, "cannot create %s: %s", srv->opt.data_dir,
                      strerror(errno));
        return 1;
    }
    if (srv->opt.redis_url) {
        /* The store has said why (unreachable, not durable, bad URL). */
        if (pl_store_open_redis(&srv->env, srv->opt.redis_url, &srv->store) != PL_OK) {
            pl_log_printf(srv->log, PL_LOG_ERROR, "cannot keep heads-ups in Redis (--redis)");
            return 1;
        }
        char err[320];
        srv->bus = srv_bus_start(&srv->env, srv->opt.redis_url, bus_wake, srv, err, sizeof(err));
        if (!srv->bus) {
            pl_log_printf(srv->log, PL_LOG_ERROR, "cannot join the cluster (--redis): %s", err);
            return 1;
        }
        return 0;
    }
    char db_path[4096];
    snprintf(db_path, sizeof(db_path), "%s/parley.db", srv->opt.data_dir);
    if (pl_store_create(&srv->env, db_path, &srv->store) != PL_OK) {
        pl_log_printf(srv->log, PL_LOG_ERROR, "cannot open the database %s", db_path);
        return 1;
    }
    return 0;
}

static int start_signaling(server *srv)
{
    pl_sig_io io = srv_ws_io(srv);
    io.event = on_event;
    pl_sig_media media = srv_workers_media(srv);
    srv->sig = pl_sig_create(&srv->env, &io, &media);
    if (!srv->sig)
        return 1;
    pl_sig_set_reconnect_grace(srv->sig, (int64_t)srv->opt.reconnect_grace * 1000);
    pl_sig_set_ring_timeout(srv->sig, (int64_t)srv->opt.ring_timeout * 1000);
    pl_sig_set_downlink_estimate(srv->sig, srv->opt.downlink_estimate);
    pl_sig_set_dynacast(srv->sig, !srv->opt.no_dynacast);
    pl_sig_set_store(srv->sig, srv->store);
    if (srv->bus) {
        pl_sig_cluster cluster = srv_bus_cluster(srv->bus);
        pl_sig_set_cluster(srv->sig, &cluster);
    }
    pl_sig_set_limits(srv->sig, (size_t)srv->opt.max_participants, (size_t)srv->opt.max_rooms);
    pl_sig_set_auth(srv->sig, srv->auth);
    pl_sig_set_turn(srv->sig, srv->turn);
    return 0;
}

/* Whatever was started, in reverse: workers first, so that no event
 * arrives for a core that is gone. */
static void teardown(server *srv)
{
    srv_reclive_stop(srv);
    srv_workers_stop(srv);
    srv_cluster_stop(srv);
    srv_bus_stop(srv->bus);
    pl_sig_destroy(srv->sig);
    srv_recordings_stop(srv);
    pl_webhooks_destroy(srv->webhooks);
    pl_store_destroy(srv->store);
    pl_auth_destroy(srv->auth);
    pl_turn_destroy(srv->turn);
    pl_dtls_cert_destroy(srv->cert);
    pl_tls_cert_clear(&srv->tls);
    pthread_mutex_destroy(&srv->ev_lock);
    pl_log_destroy(srv->log);
    srv_options_free(&srv->opt);
}

int main(int argc, char **argv)
{
    server srv; /* outlives the lws context, which reaches it through its user pointer */
    memset(&srv, 0, sizeof(srv));
    int rc = srv_parse_options(argc, argv, &srv.opt);
    if (rc) {
        srv_options_free(&srv.opt);
        return rc == SRV_OPT_DONE ? 0 : rc;
    }
    enum pl_log_level level = PL_LOG_INFO;
    enum pl_log_format format = PL_LOG_TEXT;
    /* Both names were checked with the options. */
    pl_log_parse_level(srv.opt.log_level, &level);
    pl_log_parse_format(srv.opt.log_format, &format);
    srv.log = pl_log_create(level, format, stderr);
    if (!srv.log) {
        srv_options_free(&srv.opt);
        return 1;
    }
    struct stat st;
    snprintf(srv.index_path, sizeof(srv.index_path), "%s/index.html", srv.opt.web_root);
    if (stat(srv.index_path, &st) != 0) {
        pl_log_printf(srv.log, PL_LOG_ERROR, "no web client at %s (use --web-root)",
                      srv.index_path);
        pl_log_destroy(srv.log);
        srv_options_free(&srv.opt);
        return 1;
    }

    srv_signals_block();

    srv.env = pl_env_default();
    srv.env.log = pl_log_env; /* the default's other callbacks take no user */
    srv.env.user = srv.log;
    pthread_mutex_init(&srv.ev_lock, NULL);
    srv.ev_closed = true; /* until the lws context exists */
    pick_announce(&srv);
    if (srv_admin_load_token(&srv) != 0 || srv_workers_start(&srv) != 0 || open_store(&srv) != 0 ||
        srv_recordings_start(&srv) != 0 || srv_reclive_start(&srv) != 0 ||
        srv_load_secrets(&srv) != 0 || load_webhooks(&srv) != 0 || start_signaling(&srv) != 0) {
        teardown(&srv);
        return 1;
    }

    lws_log_target = srv.log;
    lws_set_log_level(LLL_ERR, lws_emit);
    /* Recordings are played by the callback (recordings.c), never from the
     * web root's files. */
    struct lws_http_mount recordings_mount = {
        .mountpoint = "/recordings",
        .origin = "parley.v1",
        .origin_protocol = LWSMPRO_CALLBACK,
        .mountpoint_len = 11,
    };
    struct lws_http_mount room_mount = {
        .mount_next = &recordings_mount,
        .mountpoint = "/r",
        .origin = "parley.v1",
        .origin_protocol = LWSMPRO_CALLBACK,
        .mountpoint_len = 2,
    };
    struct lws_http_mount root_mount = {
        .mount_next = &room_mount,
        .mountpoint = "/",
        .def = "index.html",
        .origin_protocol = LWSMPRO_FILE,
        .mountpoint_len = 1,
    };
    root_mount.origin = srv.opt.web_root;
    struct lws_context_creation_info info;
    memset(&info, 0, sizeof(info));
    info.port = srv.opt.http_port;
    info.iface = srv.opt.bind;
    info.mounts = &root_mount;
    info.user = &srv;
    srv_ws_configure(&info);
    int tls_failed = configure_tls(&srv, &info);
    srv.ctx = tls_failed ? NULL : lws_create_context(&info);
    if (!srv.ctx) {
        if (!tls_failed)
            pl_log_printf(srv.log, PL_LOG_ERROR, "cannot listen on %s:%d", srv.opt.bind,
                          srv.opt.http_port);
        teardown(&srv);
        return 1;
    }
    /* Listening before this node tells the cluster where it is. */
    if (srv_admin_start(&srv, &info) != 0 || srv_cluster_start(&srv) != 0) {
        lws_context_destroy(srv.ctx);
        teardown(&srv);
        return 1;
    }
    pthread_mutex_lock(&srv.ev_lock);
    srv.ev_closed = false;
    pthread_mutex_unlock(&srv.ev_lock);
    if (srv_signals_start(&srv) != 0) {
        fprintf(stderr, "parley: cannot start the signal thread\n");
        lws_context_destroy(srv.ctx);
        teardown(&srv);
        return 1;
    }
    lws_sul_schedule(srv.ctx, 0, &srv.tick, sig_tick, LWS_US_PER_SEC);
    bool tls = srv.opt.tls_cert || srv.opt.tls_self_signed;
    printf("listening on %s://%s:%d\n", tls ? "https" : "http", srv.opt.bind, srv.opt.http_port);
    fflush(stdout);
    while (lws_service(srv.ctx, 0) >= 0 && srv_lifecycle_step(&srv))
        ;
    srv_reclive_stop(&srv); /* recordings finish their files while wake-ups still land */
    pthread_mutex_lock(&srv.ev_lock);
    srv.ev_closed = true; /* no wake-ups of a context being destroyed */
    pthread_mutex_unlock(&srv.ev_lock);
    lws_sul_cancel(&srv.tick);
    lws_context_destroy(srv.ctx);
    srv_signals_stop(&srv);
    teardown(&srv);
    return 0;
}
