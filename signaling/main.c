/* parley: the server executable. One libwebsockets context serves the web
 * client over HTTP and the signaling protocol on /ws (ws.c); the protocol
 * itself lives in the signaling core (parley/signal.h), the media in the
 * workers (workers.c). This file starts everything, serves until
 * lifecycle.c says to stop (signals, draining), and stops everything. */
#include <arpa/inet.h>
#include <errno.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

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

/* On every HTTP response (files, /r/<room>, /stats, errors), instead of
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
            fprintf(stderr, "parley: cannot create the TLS certificate\n");
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
            fprintf(stderr, "parley: %s\n", msg);
            return 1;
        }
        if (msg[0])
            fprintf(stderr, "parley: warning: %s\n", msg);
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

static void sig_tick(lws_sorted_usec_list_t *sul)
{
    server *srv = lws_container_of(sul, server, tick);
    pl_sig_tick(srv->sig, srv_now());
    lws_sul_schedule(srv->ctx, 0, &srv->tick, sig_tick, LWS_US_PER_SEC);
}

/* A server that cannot keep heads-ups durably says so and does not start,
 * rather than lose them quietly. */
static int open_store(server *srv)
{
    char db_path[4096];
    snprintf(db_path, sizeof(db_path), "%s/parley.db", srv->opt.data_dir);
    if ((mkdir(srv->opt.data_dir, 0700) != 0 && errno != EEXIST) ||
        pl_store_create(&srv->env, db_path, &srv->store) != PL_OK) {
        fprintf(stderr, "parley: cannot open the database %s\n", db_path);
        return 1;
    }
    return 0;
}

static int start_signaling(server *srv)
{
    pl_sig_io io = srv_ws_io(srv);
    pl_sig_media media = srv_workers_media(srv);
    srv->sig = pl_sig_create(&srv->env, &io, &media);
    if (!srv->sig)
        return 1;
    pl_sig_set_reconnect_grace(srv->sig, (int64_t)srv->opt.reconnect_grace * 1000);
    pl_sig_set_ring_timeout(srv->sig, (int64_t)srv->opt.ring_timeout * 1000);
    pl_sig_set_downlink_estimate(srv->sig, srv->opt.downlink_estimate);
    pl_sig_set_dynacast(srv->sig, !srv->opt.no_dynacast);
    pl_sig_set_store(srv->sig, srv->store);
    pl_sig_set_limits(srv->sig, (size_t)srv->opt.max_participants, (size_t)srv->opt.max_rooms);
    pl_sig_set_auth(srv->sig, srv->auth);
    pl_sig_set_turn(srv->sig, srv->turn);
    return 0;
}

/* Whatever was started, in reverse: workers first, so that no event
 * arrives for a core that is gone. */
static void teardown(server *srv)
{
    srv_workers_stop(srv);
    pl_sig_destroy(srv->sig);
    pl_store_destroy(srv->store);
    pl_auth_destroy(srv->auth);
    pl_turn_destroy(srv->turn);
    pl_dtls_cert_destroy(srv->cert);
    pl_tls_cert_clear(&srv->tls);
    pthread_mutex_destroy(&srv->ev_lock);
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
    struct stat st;
    snprintf(srv.index_path, sizeof(srv.index_path), "%s/index.html", srv.opt.web_root);
    if (stat(srv.index_path, &st) != 0) {
        fprintf(stderr, "parley: no web client at %s (use --web-root)\n", srv.index_path);
        srv_options_free(&srv.opt);
        return 1;
    }

    srv_signals_block();

    srv.env = pl_env_default();
    pthread_mutex_init(&srv.ev_lock, NULL);
    srv.ev_closed = true; /* until the lws context exists */
    pick_announce(&srv);
    if (srv_workers_start(&srv) != 0 || open_store(&srv) != 0 || srv_load_secrets(&srv) != 0 ||
        start_signaling(&srv) != 0) {
        teardown(&srv);
        return 1;
    }

    lws_set_log_level(LLL_ERR, NULL);
    struct lws_http_mount stats_mount = {
        .mountpoint = "/stats",
        .origin = "parley.v1",
        .origin_protocol = LWSMPRO_CALLBACK,
        .mountpoint_len = 6,
    };
    struct lws_http_mount room_mount = {
        .mount_next = &stats_mount,
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
            fprintf(stderr, "parley: cannot listen on %s:%d\n", srv.opt.bind, srv.opt.http_port);
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
    pthread_mutex_lock(&srv.ev_lock);
    srv.ev_closed = true; /* no wake-ups of a context being destroyed */
    pthread_mutex_unlock(&srv.ev_lock);
    lws_sul_cancel(&srv.tick);
    lws_context_destroy(srv.ctx);
    srv_signals_stop(&srv);
    teardown(&srv);
    return 0;
}
