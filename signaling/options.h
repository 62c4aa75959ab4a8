/* The parley executable's command line. */
#ifndef PARLEY_OPTIONS_H
#define PARLEY_OPTIONS_H

#include <stdbool.h>
#include <stddef.h>

#include "log.h"
#include "parley/turn.h"
#include "webhooks.h"

typedef struct options {
    int http_port;
    const char *bind;
    const char *announce_ip;
    int media_port;
    int workers;
    const char *web_root;
    int reconnect_grace; /* seconds */
    int ring_timeout;    /* seconds */
    const char *data_dir;
    const char *tls_cert, *tls_key; /* PEM files, both or neither */
    bool tls_self_signed;
    bool downlink_estimate;
    bool no_dynacast;
    bool no_ice_tcp;
    const char *auth_secret, *auth_secret_file; /* neither: open mode */
    int max_participants, max_rooms, max_conns_per_ip;
    /* TURN servers for welcome.ice_servers: URLs and the secret shared with
     * them, all or nothing. */
    const char *turn_urls[PL_TURN_MAX_URLS];
    size_t n_turn_urls;
    const char *turn_secret_file;
    int turn_ttl; /* seconds a credential lasts */
    /* Webhooks: receivers and the secret their events are signed with, all
     * or nothing; events queued per receiver. */
    const char *webhook_urls[PL_WEBHOOKS_MAX_URLS];
    size_t n_webhook_urls;
    const char *webhook_secret_file;
    int webhook_queue;
    enum pl_log_level log_level;
    enum pl_log_format log_format;
    /* The admin listener (docs/admin.md): port 0 lets the kernel choose. */
    const char *admin_bind;
    int admin_port;
    const char *admin_token_file; /* required when admin_bind is not loopback */
} options;

/* 0 to run, 1 when --help was answered, 2 after a usage error (said on
 * stderr). */
int srv_parse_options(int argc, char **argv, options *o);

#endif
