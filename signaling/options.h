/* The parley executable's settings: one table describes every option
 * (options.c), read from the command line and from a configuration file
 * (config.c) alike. */
#ifndef PARLEY_OPTIONS_H
#define PARLEY_OPTIONS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "parley/hookq.h"
#include "parley/turn.h"

/* Every string is owned (srv_options_free); NULL is unset. */
typedef struct options {
    int http_port;
    char *bind;
    char *announce_ip;
    int media_port;
    int workers;
    char *web_root;
    int reconnect_grace; /* seconds */
    int ring_timeout;    /* seconds */
    char *data_dir;
    /* Recordings under data_dir (docs/recording.md): MB on the server and
     * per user, days kept after their end; 0: no bound. */
    int max_recording_mb, max_user_recording_mb, recording_days;
    char *tls_cert, *tls_key; /* PEM files, both or neither */
    bool tls_self_signed;
    bool downlink_estimate;
    bool no_dynacast;
    bool no_ice_tcp;
    char *auth_secret, *auth_secret_file; /* neither: open mode */
    int max_participants, max_rooms, max_conns_per_ip;
    /* TURN servers for welcome.ice_servers: URLs and the secret shared with
     * them, all or nothing. */
    char *turn_urls[PL_TURN_MAX_URLS];
    size_t n_turn_urls;
    char *turn_secret_file;
    int turn_ttl;      /* seconds a credential lasts */
    int drain_timeout; /* seconds meetings may go on after SIGTERM */
    /* The admin listener (docs/admin.md): port 0 lets the kernel choose. */
    char *admin_bind;
    int admin_port;
    char *admin_token_file; /* required when admin_bind is not loopback */
    /* Webhooks: receivers and the secret their events are signed with, all
     * or nothing; events queued per receiver. */
    char *webhook_urls[PL_HOOKQ_MAX_URLS];
    size_t n_webhook_urls;
    char *webhook_secret_file;
    int webhook_queue;
    /* A cluster of nodes coordinated through Redis (docs/cluster.md):
     * redis://host:port, NULL for one node alone (heads-ups in data_dir);
     * the WebSocket URL other nodes send clients to (NULL: made from
     * --announce-ip). */
    char *redis_url;
    char *public_url;
    char *log_level, *log_format; /* names pl_log_parse_level/format take */
    /* Command line only. */
    char *config; /* the file the settings were read from */
    bool check_config;
} options;

/* What srv_parse_options says. */
enum { SRV_OPT_RUN = 0, SRV_OPT_DONE = 1, SRV_OPT_USAGE = 2 };

/* The command line, with --config FILE read first whatever its place, so
 * that the command line overrides the file: SRV_OPT_RUN to run,
 * SRV_OPT_DONE when --help or --check-config was answered (on stdout),
 * SRV_OPT_USAGE after an error (said on stderr). *o is to be freed with
 * srv_options_free in every case. */
int srv_parse_options(int argc, char **argv, options *o);
void srv_options_free(options *o);

/* The parts, for config.c and the tests. */
void srv_options_defaults(options *o);
/* Sets option `key` from text: 0, or -1 with why (which names no key).
 * A file's key may be set to nothing (unset, for a list: emptied); a
 * command-line option may not be set from a file. */
int srv_options_set(options *o, const char *key, const char *value, bool from_file, char *why,
                    size_t why_len);
/* The rules between options (TLS files both or neither...): 0, or -1 with
 * why. */
int srv_options_check(const options *o, char *why, size_t why_len);
/* Every option but the command-line-only ones, `key = value` a line, in
 * the table's order; secrets are not shown. */
void srv_options_print(const options *o, FILE *f);
void srv_options_usage(FILE *f);

/* config.c: a configuration file's text, applied to *o: 0, or the line
 * of the first error (>0) with why (which names the key). Lines are
 * `key = value`, comments start with # or ;. */
int srv_config_parse(options *o, const char *text, size_t len, char *why, size_t why_len);
/* The same from a file: 0, the line of the first error, or -1 when the file
 * cannot be read (why says so). */
int srv_config_load(options *o, const char *path, char *why, size_t why_len);

#endif
