/* parley's options: one table row per option (its name, kind, where it is
 * kept, its limits and its --help text), which the command line, the
 * configuration file, --check-config and --help all read. */
#include "options.h"

#include <getopt.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "parley/hookq.h"
#include "parley/placement.h"
#include "parley/signal.h"
#include "redisconn.h"

/* Where `meson install` puts the web client (meson's datadir). A binary run
 * from the source tree, where nothing is installed, serves ./web. */
#ifndef PARLEY_WEB_ROOT
#define PARLEY_WEB_ROOT "web"
#endif

enum kind {
    K_INT,  /* int, min..max */
    K_STR,  /* char *, owned */
    K_FLAG, /* bool: bare on the command line, true/false in a file */
    K_LIST, /* char *[max] with a size_t count after it */
    K_HELP, /* --help */
};

typedef struct opt_desc {
    const char *name;
    enum kind kind;
    size_t off;
    long min, max;   /* K_INT; K_LIST: max is its capacity */
    bool cli_only;   /* not in a file, not printed */
    bool secret;     /* printed as set or not */
    const char *arg; /* --help's name for the value */
    const char *help;
    /* More checks of a K_STR or K_LIST value: 0, or -1 with why. */
    int (*check)(const char *v, char *why, size_t n);
} opt_desc;

static int check_turn_url(const char *v, char *why, size_t n)
{
    const char *w = NULL;
    if (pl_turn_check_url(v, &w) == PL_OK)
        return 0;
    snprintf(why, n, "'%s': %s", v, w);
    return -1;
}

static int check_webhook_url(const char *v, char *why, size_t n)
{
    const char *w = NULL;
    if (pl_hookq_check_url(v, &w) == PL_OK)
        return 0;
    snprintf(why, n, "'%.64s': %s", v, w);
    return -1;
}

static int check_redis_url(const char *v, char *why, size_t n)
{
    pl_redis_url u;
    const char *w = NULL;
    if (pl_redis_url_parse(v, &u, &w) == PL_OK)
        return 0;
    /* Not the URL itself: it may hold a password. */
    snprintf(why, n, "bad Redis URL: %s", w);
    return -1;
}

static int check_one_of(const char *v, const char *const *names, size_t k, char *why, size_t n)
{
    char list[64] = "";
    for (size_t i = 0; i < k; i++) {
        if (strcmp(v, names[i]) == 0)
            return 0;
        size_t used = strlen(list);
        snprintf(list + used, sizeof(list) - used, "%s%s", i ? ", " : "", names[i]);
    }
    snprintf(why, n, "'%.64s' is not one of %s", v, list);
    return -1;
}

static int check_public_url(const char *v, char *why, size_t n)
{
    size_t len = strlen(v);
    bool scheme = strncmp(v, "ws://", 5) == 0 || strncmp(v, "wss://", 6) == 0;
    if (scheme && len > 6 && len <= PL_PLACE_URL_MAX && !strpbrk(v, " \t\"\\"))
        return 0;
    snprintf(why, n, "'%.64s' is not a ws:// or wss:// URL", v);
    return -1;
}

/* The names pl_log_parse_level and pl_log_parse_format take (log.c). */
static int check_log_level(const char *v, char *why, size_t n)
{
    static const char *const names[] = {"error", "warn", "info", "debug"};
    return check_one_of(v, names, 4, why, n);
}

static int check_log_format(const char *v, char *why, size_t n)
{
    static const char *const names[] = {"text", "json"};
    return check_one_of(v, names, 2, why, n);
}

#define OFF(f) offsetof(options, f)
#define NUM 0, 65535
/* To add an option: a field in options (options.h), a row here (its place
 * is its place in --help and --check-config), its use in main.c, and its
 * line in docs/parley.conf and README.md. */
static const opt_desc table[] = {
    {"config", K_STR, OFF(config), 0, 0, true, false, "FILE",
     "read settings from FILE: key = value lines, each key one\n"
     "of these options; the command line overrides the file",
     NULL},
    {"check-config", K_FLAG, OFF(check_config), 0, 0, true, false, NULL,
     "check the settings, print them and exit", NULL},
    {"http-port", K_INT, OFF(http_port), NUM, false, false, "N",
     "HTTP and WebSocket port (default 8080)", NULL},
    {"bind", K_STR, OFF(bind), 0, 0, false, false, "ADDR",
     "address to listen on (default 127.0.0.1)", NULL},
    {"announce-ip", K_STR, OFF(announce_ip), 0, 0, false, false, "ADDR",
     "address put in ICE candidates (default: the bind address,\n"
     "or the first non-loopback address when binding 0.0.0.0)",
     NULL},
    {"media-port", K_INT, OFF(media_port), NUM, false, false, "N",
     "first UDP media port; worker i uses N+i (default 40000),\n"
     "and the same TCP port for ICE-TCP",
     NULL},
    {"no-ice-tcp", K_FLAG, OFF(no_ice_tcp), 0, 0, false, false, NULL,
     "no ICE-TCP: media over UDP only (by default each worker\n"
     "also listens on TCP, for clients that cannot send UDP)",
     NULL},
    {"workers", K_INT, OFF(workers), NUM, false, false, "N",
     "media worker threads (default 0: one per core)", NULL},
    {"web-root", K_STR, OFF(web_root), 0, 0, false, false, "DIR",
     "web client files (default: " PARLEY_WEB_ROOT ",\n"
     "or ./web when that has no index.html)",
     NULL},
    {"reconnect-grace", K_INT, OFF(reconnect_grace), NUM, false, false, "S",
     "seconds a participant whose connection is lost stays in\n"
     "its room, able to resume (default 20; 0: none)",
     NULL},
    {"ring-timeout", K_INT, OFF(ring_timeout), 1, 65535, false, false, "S",
     "seconds a call rings before it is missed (default 30)", NULL},
    {"data-dir", K_STR, OFF(data_dir), 0, 0, false, false, "DIR",
     "where missed heads-ups and recordings are kept\n(default ./data)", NULL},
    {"redis", K_STR, OFF(redis_url), 0, 0, false, true, "URL",
     "redis://[:password@]host[:port][/db]: run as a node of the\n"
     "cluster sharing this Redis, which places rooms on the\n"
     "least-loaded node (clients are sent there), keeps heads-ups\n"
     "and carries presence and calls between nodes; it must run\n"
     "with appendonly yes and appendfsync always (default: one\n"
     "node, SQLite in --data-dir); docs/cluster.md",
     check_redis_url},
    {"max-recording-mb", K_INT, OFF(max_recording_mb), 0, INT32_MAX, false, false, "N",
     "MB of recordings kept on the server;\n"
     "beyond, the oldest finished ones are deleted\n"
     "(default 10240; 0: no bound)",
     NULL},
    {"max-user-recording-mb", K_INT, OFF(max_user_recording_mb), 0, INT32_MAX, false, false, "N",
     "MB of recordings a user may keep;\n"
     "beyond, they cannot start another\n"
     "(default 2048; 0: no bound)",
     NULL},
    {"recording-days", K_INT, OFF(recording_days), 0, 36500, false, false, "D",
     "days a recording is kept after its end (default 30;\n0: kept until deleted)", NULL},
    {"tls-cert", K_STR, OFF(tls_cert), 0, 0, false, false, "FILE",
     "serve https and wss with this PEM certificate (chain);\n"
     "SIGHUP reads it again",
     NULL},
    {"tls-key", K_STR, OFF(tls_key), 0, 0, false, false, "FILE",
     "and this PEM private key (no passphrase); both or neither", NULL},
    {"tls-self-signed", K_FLAG, OFF(tls_self_signed), 0, 0, false, false, NULL,
     "serve https and wss with a certificate made at start\n"
     "(30 days, for testing on a LAN; its fingerprint is printed)",
     NULL},
    {"auth-secret", K_STR, OFF(auth_secret), 0, 0, false, true, "S",
     "require access tokens (JWT HS256) signed with S\n"
     "(at least 32 bytes); see parley-token",
     NULL},
    {"auth-secret-file", K_STR, OFF(auth_secret_file), 0, 0, false, false, "F",
     "the same, with the secret read from file F (again on\n"
     "SIGHUP; without either: open mode, anyone may join any room)",
     NULL},
    {"max-participants", K_INT, OFF(max_participants), 1, 65535, false, false, "N",
     "per room (default 100)", NULL},
    {"max-rooms", K_INT, OFF(max_rooms), 1, 65535, false, false, "N",
     "on the server (default 1000)", NULL},
    {"max-connections-per-ip", K_INT, OFF(max_conns_per_ip), 1, 65535, false, false, "N",
     "WebSocket connections from one address\n(default 100)", NULL},
    {"downlink-estimate", K_FLAG, OFF(downlink_estimate), 0, 0, false, false, NULL,
     "estimate each subscriber's downlink from its feedback,\n"
     "pace what it is sent and choose layers within it\n(default on; --downlink-estimate=false turns it off)",
     NULL},
    {"no-dynacast", K_FLAG, OFF(no_dynacast), 0, 0, false, false, NULL,
     "never ask publishers to switch off simulcast layers\n"
     "nobody watches (default: ask, after 3 s unwatched)",
     NULL},
    {"turn-url", K_LIST, OFF(turn_urls), 0, PL_TURN_MAX_URLS, false, false, "URL",
     "a TURN server clients may relay media through, e.g.\n"
     "turn:host:3478?transport=udp or\n"
     "turns:host:443?transport=tcp; repeat for more (up to 8);\n"
     "needs --turn-secret-file",
     check_turn_url},
    {"turn-secret-file", K_STR, OFF(turn_secret_file), 0, 0, false, false, "F",
     "the secret shared with the TURN servers (coturn's\n"
     "static-auth-secret): clients get credentials made with it;\n"
     "read again on SIGHUP",
     NULL},
    {"turn-ttl", K_INT, OFF(turn_ttl), PL_TURN_MIN_TTL_S, PL_TURN_MAX_TTL_S, false, false, "S",
     "seconds a TURN credential lasts (default 86400)", NULL},
    {"drain-timeout", K_INT, OFF(drain_timeout), 0, 7 * 86400, false, false, "S",
     "after SIGTERM, seconds the meetings under way may go on\n"
     "while new joins are refused (default 600; 0: exit at once)",
     NULL},
    {"admin-bind", K_STR, OFF(admin_bind), 0, 0, false, false, "ADDR",
     "address of the admin listener: /metrics, /stats and the\n"
     "admin API (default 127.0.0.1); see docs/admin.md",
     NULL},
    {"admin-port", K_INT, OFF(admin_port), NUM, false, false, "N",
     "its port (default 8081; 0: any free port, printed at start)", NULL},
    {"admin-token-file", K_STR, OFF(admin_token_file), 0, 0, false, false, "F",
     "the admin listener wants Authorization: Bearer with the\n"
     "token in file F (one line); required off loopback",
     NULL},
    {"webhook-url", K_LIST, OFF(webhook_urls), 0, PL_HOOKQ_MAX_URLS, false, false, "URL",
     "POST every event (rooms, participants, calls) as JSON to\n"
     "URL (http:// or https://); repeat for more (up to 4);\n"
     "needs --webhook-secret-file (docs/webhooks.md)",
     check_webhook_url},
    {"webhook-secret-file", K_STR, OFF(webhook_secret_file), 0, 0, false, false, "F",
     "events are signed with HMAC-SHA256 of this secret\n"
     "(header X-Parley-Signature: sha256=<hex>)",
     NULL},
    {"webhook-queue", K_INT, OFF(webhook_queue), 2, 1000000, false, false, "N",
     "events held per receiver while it is down or slow; beyond,\n"
     "the oldest are dropped and counted (default 1000)",
     NULL},
    {"public-url", K_STR, OFF(public_url), 0, 0, false, false, "URL",
     "the WebSocket URL other nodes send clients to (default\n"
     "ws://<announce-ip>:<http-port>/ws, wss with TLS)",
     check_public_url},
    {"log-level", K_STR, OFF(log_level), 0, 0, false, false, "L",
     "error, warn, info or debug (default info)", check_log_level},
    {"log-format", K_STR, OFF(log_format), 0, 0, false, false, "F",
     "text, or json: one object a line with time, level, room,\n"
     "participant, event and message (default text)",
     check_log_format},
    {"help", K_HELP, 0, 0, 0, true, false, NULL, "this text", NULL},
};
#define N_OPTS (sizeof(table) / sizeof(table[0]))

static const opt_desc *find(const char *name)
{
    for (size_t i = 0; i < N_OPTS; i++)
        if (strcmp(table[i].name, name) == 0)
            return &table[i];
    return NULL;
}

static void *field(options *o, const opt_desc *d)
{
    return (char *)o + d->off;
}
static const void *cfield(const options *o, const opt_desc *d)
{
    return (const char *)o + d->off;
}
/* A K_LIST's count follows its array of `max` strings. */
static size_t *list_count(options *o, const opt_desc *d)
{
    return (size_t *)((char *)o + d->off + (size_t)d->max * sizeof(char *));
}
static size_t clist_count(const options *o, const opt_desc *d)
{
    return *(const size_t *)((const char *)o + d->off + (size_t)d->max * sizeof(char *));
}

static void list_clear(options *o, const opt_desc *d)
{
    char **v = field(o, d);
    size_t *n = list_count(o, d);
    for (size_t i = 0; i < *n; i++) {
        free(v[i]);
        v[i] = NULL;
    }
    *n = 0;
}

static int set_str(char **slot, const char *v, char *why, size_t n)
{
    char *copy = NULL;
    if (v && !(copy = strdup(v))) {
        snprintf(why, n, "out of memory");
        return -1;
    }
    free(*slot);
    *slot = copy;
    return 0;
}

void srv_options_defaults(options *o)
{
    *o = (options){.http_port = 8080,
                   .media_port = 40000,
                   .workers = 0,
                   .reconnect_grace = PL_SIG_DEFAULT_GRACE_MS / 1000,
                   .ring_timeout = PL_SIG_DEFAULT_RING_MS / 1000,
                   .max_participants = PL_SIG_DEFAULT_MAX_PARTICIPANTS,
                   .max_rooms = PL_SIG_DEFAULT_MAX_ROOMS,
                   .max_conns_per_ip = 100,
                   .turn_ttl = PL_TURN_DEFAULT_TTL_S,
                   .drain_timeout = 600,
                   .max_recording_mb = 10240,
                   .max_user_recording_mb = 2048,
                   .recording_days = 30,
                   .admin_port = 8081,
                   .downlink_estimate = true,
                   .webhook_queue = PL_HOOKQ_DEFAULT_CAPACITY};
    char why[64];
    /* Without memory for these, nothing else would start either. */
    if (set_str(&o->bind, "127.0.0.1", why, sizeof(why)) ||
        set_str(&o->web_root, PARLEY_WEB_ROOT, why, sizeof(why)) ||
        set_str(&o->data_dir, "data", why, sizeof(why)) ||
        set_str(&o->admin_bind, "127.0.0.1", why, sizeof(why)) ||
        set_str(&o->log_level, "info", why, sizeof(why)) ||
        set_str(&o->log_format, "text", why, sizeof(why)))
        abort();
}

void srv_options_free(options *o)
{
    for (size_t i = 0; i < N_OPTS; i++) {
        const opt_desc *d = &table[i];
        if (d->kind == K_STR) {
            char **s = field(o, d);
            free(*s);
            *s = NULL;
        } else if (d->kind == K_LIST) {
            list_clear(o, d);
        }
    }
}

static int parse_bool(const char *v, bool *out)
{
    static const char *yes[] = {"true", "yes", "on", "1"}, *no[] = {"false", "no", "off", "0"};
    for (size_t i = 0; i < 4; i++) {
        if (strcasecmp(v, yes[i]) == 0)
            return *out = true, 0;
        if (strcasecmp(v, no[i]) == 0)
            return *out = false, 0;
    }
    return -1;
}

int srv_options_set(options *o, const char *key, const char *value, bool from_file, char *why,
                    size_t why_len)
{
    const opt_desc *d = find(key);
    if (!d || (from_file && d->cli_only)) {
        snprintf(why, why_len, d ? "only on the command line" : "unknown option");
        return -1;
    }
    bool empty = !value || !*value;
    switch (d->kind) {
    case K_INT: {
        if (empty) {
            snprintf(why, why_len, "needs a number");
            return -1;
        }
        char *end = NULL;
        long v = strtol(value, &end, 10);
        if (*end || end == value) {
            snprintf(why, why_len, "'%.64s' is not a number", value);
            return -1;
        }
        if (v < d->min || v > d->max) {
            snprintf(why, why_len, "%.64s is out of range (%ld to %ld)", value, d->min, d->max);
            return -1;
        }
        *(int *)field(o, d) = (int)v;
        return 0;
    }
    case K_FLAG: {
        bool b = true;
        if (!empty || from_file) {
            if (empty || parse_bool(value, &b)) {
                snprintf(why, why_len, "'%.64s' is not true or false", value ? value : "");
                return -1;
            }
        }
        *(bool *)field(o, d) = b;
        return 0;
    }
    case K_STR:
        if (empty && !from_file) {
            snprintf(why, why_len, "needs a value");
            return -1;
        }
        if (!empty && d->check && d->check(value, why, why_len))
            return -1;
        return set_str(field(o, d), empty ? NULL : value, why, why_len);
    case K_LIST: {
        if (empty) {
            if (!from_file) {
                snprintf(why, why_len, "needs a value");
                return -1;
            }
            list_clear(o, d);
            return 0;
        }
        if (d->check && d->check(value, why, why_len))
            return -1;
        size_t *n = list_count(o, d);
        if (*n == (size_t)d->max) {
            snprintf(why, why_len, "at most %ld of these", d->max);
            return -1;
        }
        char **v = field(o, d);
        if (set_str(&v[*n], value, why, why_len))
            return -1;
        (*n)++;
        return 0;
    }
    case K_HELP:
        break;
    }
    snprintf(why, why_len, "not a setting");
    return -1;
}

int srv_options_check(const options *o, char *why, size_t why_len)
{
    if (!o->tls_cert != !o->tls_key || (o->tls_cert && o->tls_self_signed)) {
        snprintf(why, why_len,
                 "TLS takes --tls-cert FILE with --tls-key FILE, or --tls-self-signed alone");
        return -1;
    }
    /* A TURN server sharing a secret refuses credentials made without it,
     * and a secret without a server to use it with is a mistake too. */
    if (!o->n_turn_urls != !o->turn_secret_file) {
        snprintf(why, why_len, "--turn-url and --turn-secret-file go together");
        return -1;
    }
    /* An unsigned event could be forged by anyone who reaches a receiver. */
    if (!o->n_webhook_urls != !o->webhook_secret_file) {
        snprintf(why, why_len, "--webhook-url and --webhook-secret-file go together");
        return -1;
    }
    if (o->public_url && !o->redis_url) {
        snprintf(why, why_len, "--public-url is for a cluster: it needs --redis");
        return -1;
    }
    return 0;
}

void srv_options_print(const options *o, FILE *f)
{
    for (size_t i = 0; i < N_OPTS; i++) {
        const opt_desc *d = &table[i];
        if (d->cli_only)
            continue;
        const void *p = cfield(o, d);
        switch (d->kind) {
        case K_INT:
            fprintf(f, "%s = %d\n", d->name, *(const int *)p);
            break;
        case K_FLAG:
            fprintf(f, "%s = %s\n", d->name, *(const bool *)p ? "true" : "false");
            break;
        case K_STR: {
            const char *s = *(char *const *)p;
            if (!s)
                fprintf(f, "%s =\n", d->name);
            else
                fprintf(f, "%s = %s\n", d->name, d->secret ? "(hidden)" : s);
            break;
        }
        case K_LIST: {
            char *const *v = p;
            size_t n = clist_count(o, d);
            if (!n)
                fprintf(f, "%s =\n", d->name);
            for (size_t j = 0; j < n; j++)
                fprintf(f, "%s = %s\n", d->name, v[j]);
            break;
        }
        case K_HELP:
            break;
        }
    }
}

void srv_options_usage(FILE *f)
{
    fprintf(f, "usage: parley [options]\n");
    for (size_t i = 0; i < N_OPTS; i++) {
        const opt_desc *d = &table[i];
        char head[64];
        int w = snprintf(head, sizeof(head), "  --%s%s%s", d->name, d->arg ? " " : "",
                         d->arg ? d->arg : "");
        fprintf(f, "%s%*s", head, w < 21 ? 21 - w : 2, "");
        for (const char *s = d->help; *s;) {
            const char *nl = strchr(s, '\n');
            size_t len = nl ? (size_t)(nl - s) : strlen(s);
            fprintf(f, "%.*s\n", (int)len, s);
            if (!nl)
                break;
            s = nl + 1;
            fprintf(f, "%21s", "");
        }
    }
}

int srv_parse_options(int argc, char **argv, options *o)
{
    srv_options_defaults(o);
    struct option longs[N_OPTS + 1];
    for (size_t i = 0; i < N_OPTS; i++) {
        bool flag = table[i].kind == K_FLAG || table[i].kind == K_HELP;
        /* A flag may be given a value (--no-dynacast=false) to undo a file's. */
        longs[i] = (struct option){table[i].name, flag ? optional_argument : required_argument,
                                   NULL, 1000 + (int)i};
    }
    longs[N_OPTS] = (struct option){NULL, 0, NULL, 0};
    /* Every option first, so that the file is read before any of them is
     * applied over it. */
    struct given {
        const opt_desc *d;
        const char *v;
    } *given = calloc((size_t)argc + 1, sizeof(*given));
    size_t n_given = 0;
    if (!given)
        return SRV_OPT_USAGE;
    int c, rc = SRV_OPT_RUN;
    optind = 0;
    while ((c = getopt_long(argc, argv, "", longs, NULL)) != -1) {
        if (c < 1000) {
            srv_options_usage(stderr);
            rc = SRV_OPT_USAGE;
            goto out;
        }
        const opt_desc *d = &table[c - 1000];
        if (d->kind == K_HELP) {
            srv_options_usage(stdout);
            rc = SRV_OPT_DONE;
            goto out;
        }
        given[n_given++] = (struct given){d, optarg};
    }
    if (optind < argc) {
        srv_options_usage(stderr);
        rc = SRV_OPT_USAGE;
        goto out;
    }
    char why[256];
    const char *config = NULL;
    for (size_t i = 0; i < n_given; i++)
        if (strcmp(given[i].d->name, "config") == 0)
            config = given[i].v;
    if (config) {
        int line = srv_config_load(o, config, why, sizeof(why));
        if (line) {
            if (line > 0)
                fprintf(stderr, "parley: %s:%d: %s\n", config, line, why);
            else
                fprintf(stderr, "parley: %s\n", why);
            rc = SRV_OPT_USAGE;
            goto out;
        }
    }
    /* A list on the command line replaces the file's rather than adding
     * to it, as any other option does. */
    bool cleared[N_OPTS] = {false};
    for (size_t i = 0; i < n_given; i++) {
        const opt_desc *d = given[i].d;
        if (d->kind == K_LIST && !cleared[d - table]) {
            list_clear(o, d);
            cleared[d - table] = true;
        }
        if (srv_options_set(o, d->name, given[i].v, false, why, sizeof(why))) {
            fprintf(stderr, "parley: --%s: %s\n", d->name, why);
            rc = SRV_OPT_USAGE;
            goto out;
        }
    }
    if (srv_options_check(o, why, sizeof(why))) {
        fprintf(stderr, "parley: %s\n", why);
        rc = SRV_OPT_USAGE;
        goto out;
    }
    if (o->web_root && strcmp(o->web_root, PARLEY_WEB_ROOT) == 0 &&
        access(PARLEY_WEB_ROOT "/index.html", R_OK) != 0 &&
        set_str(&o->web_root, "web", why, sizeof(why))) {
        fprintf(stderr, "parley: %s\n", why);
        rc = SRV_OPT_USAGE;
        goto out;
    }
    if (o->check_config) {
        srv_options_print(o, stdout);
        rc = SRV_OPT_DONE;
    }
out:
    free(given);
    return rc;
}
