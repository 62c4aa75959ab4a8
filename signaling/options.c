/* parley's options: defaults, parsing and the usage text. */
#include "options.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "parley/signal.h"

/* Where the build installs the web client (meson's datadir); a binary run
 * from the source tree, where nothing is installed, serves ./web. */
#ifndef PARLEY_WEB_ROOT
#define PARLEY_WEB_ROOT "web"
#endif

static void usage(FILE *f)
{
    fprintf(f, "usage: parley [options]\n"
               "  --http-port N      HTTP and WebSocket port (default 8080)\n"
               "  --bind ADDR        address to listen on (default 127.0.0.1)\n"
               "  --announce-ip ADDR\n"
               "                     address put in ICE candidates (default: the bind\n"
               "                     address, or the first non-loopback address when\n"
               "                     binding 0.0.0.0)\n"
               "  --media-port N     first UDP media port; worker i uses N+i (default 40000),\n"
               "                     and the same TCP port for ICE-TCP\n"
               "  --no-ice-tcp       no ICE-TCP: media over UDP only (by default each worker\n"
               "                     also listens on TCP, for clients that cannot send UDP)\n"
               "  --workers N        media worker threads (default: one per core)\n"
               "  --web-root DIR     web client files (default: " PARLEY_WEB_ROOT ",\n"
               "                     or ./web when that has no index.html)\n"
               "  --reconnect-grace S  seconds a participant whose connection is lost stays in\n"
               "                     its room, able to resume (default 20; 0: none)\n"
               "  --ring-timeout S   seconds a call rings before it is missed (default 30)\n"
               "  --data-dir DIR     where missed heads-ups are kept (default ./data)\n"
               "  --tls-cert FILE    serve https and wss with this PEM certificate (chain)\n"
               "  --tls-key FILE     and this PEM private key (no passphrase); both or neither\n"
               "  --tls-self-signed  serve https and wss with a certificate made at start\n"
               "                     (30 days, for testing on a LAN; its fingerprint is printed)\n"
               "  --auth-secret S    require access tokens (JWT HS256) signed with S\n"
               "                     (at least 32 bytes); see parley-token\n"
               "  --auth-secret-file F  the same, with the secret read from file F\n"
               "                     (without them: open mode, anyone may join any room)\n"
               "  --max-participants N  per room (default 100)\n"
               "  --max-rooms N      on the server (default 1000)\n"
               "  --max-connections-per-ip N  WebSocket connections from one address\n"
               "                     (default 100)\n"
               "  --downlink-estimate  estimate each subscriber's downlink from its feedback,\n"
               "                     pace what it is sent and choose layers within it\n"
               "                     (default off)\n"
               "  --no-dynacast      never ask publishers to switch off simulcast layers\n"
               "                     nobody watches (default: ask, after 3 s unwatched)\n"
               "  --turn-url URL     a TURN server clients may relay media through, e.g.\n"
               "                     turn:host:3478?transport=udp or\n"
               "                     turns:host:443?transport=tcp; repeat for more (up to 8);\n"
               "                     needs --turn-secret-file\n"
               "  --turn-secret-file F  the secret shared with the TURN servers (coturn's\n"
               "                     static-auth-secret): clients get credentials made with it\n"
               "  --turn-ttl S       seconds a TURN credential lasts (default 86400)\n"
               "  --help             this text\n");
}

int srv_parse_options(int argc, char **argv, options *o)
{
    static const struct option longs[] = {
        {"http-port", required_argument, NULL, 'p'},
        {"bind", required_argument, NULL, 'b'},
        {"announce-ip", required_argument, NULL, 'a'},
        {"media-port", required_argument, NULL, 'm'},
        {"workers", required_argument, NULL, 'w'},
        {"web-root", required_argument, NULL, 'r'},
        {"reconnect-grace", required_argument, NULL, 'g'},
        {"ring-timeout", required_argument, NULL, 't'},
        {"data-dir", required_argument, NULL, 'd'},
        {"tls-cert", required_argument, NULL, 'c'},
        {"tls-key", required_argument, NULL, 'k'},
        {"tls-self-signed", no_argument, NULL, 's'},
        {"auth-secret", required_argument, NULL, 'S'},
        {"auth-secret-file", required_argument, NULL, 'F'},
        {"max-participants", required_argument, NULL, 'P'},
        {"max-rooms", required_argument, NULL, 'R'},
        {"max-connections-per-ip", required_argument, NULL, 'C'},
        {"downlink-estimate", no_argument, NULL, 'E'},
        {"no-dynacast", no_argument, NULL, 'D'},
        {"turn-url", required_argument, NULL, 'U'},
        {"turn-secret-file", required_argument, NULL, 'T'},
        {"turn-ttl", required_argument, NULL, 'L'},
        {"no-ice-tcp", no_argument, NULL, 'I'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    *o = (options){.http_port = 8080,
                   .bind = "127.0.0.1",
                   .media_port = 40000,
                   .workers = 0,
                   .web_root = NULL,
                   .reconnect_grace = PL_SIG_DEFAULT_GRACE_MS / 1000,
                   .ring_timeout = PL_SIG_DEFAULT_RING_MS / 1000,
                   .data_dir = "data",
                   .max_participants = PL_SIG_DEFAULT_MAX_PARTICIPANTS,
                   .max_rooms = PL_SIG_DEFAULT_MAX_ROOMS,
                   .max_conns_per_ip = 100,
                   .turn_ttl = PL_TURN_DEFAULT_TTL_S};
    int c;
    while ((c = getopt_long(argc, argv, "", longs, NULL)) != -1) {
        char *end = NULL;
        long v = 0;
        if (c == 'p' || c == 'm' || c == 'w' || c == 'g' || c == 't' || c == 'P' || c == 'R' ||
            c == 'C') {
            v = strtol(optarg, &end, 10);
            if (*end || v < 0 || v > 65535) {
                fprintf(stderr, "parley: invalid number '%s'\n", optarg);
                return 2;
            }
        }
        switch (c) {
        case 'p':
            o->http_port = (int)v;
            break;
        case 'b':
            o->bind = optarg;
            break;
        case 'a':
            o->announce_ip = optarg;
            break;
        case 'm':
            o->media_port = (int)v;
            break;
        case 'w':
            o->workers = (int)v;
            break;
        case 'r':
            o->web_root = optarg;
            break;
        case 'g':
            o->reconnect_grace = (int)v;
            break;
        case 't':
            if (v < 1) {
                fprintf(stderr, "parley: --ring-timeout must be at least 1 second\n");
                return 2;
            }
            o->ring_timeout = (int)v;
            break;
        case 'd':
            o->data_dir = optarg;
            break;
        case 'c':
            o->tls_cert = optarg;
            break;
        case 'k':
            o->tls_key = optarg;
            break;
        case 's':
            o->tls_self_signed = true;
            break;
        case 'E':
            o->downlink_estimate = true;
            break;
        case 'D':
            o->no_dynacast = true;
            break;
        case 'U': {
            const char *why = NULL;
            if (pl_turn_check_url(optarg, &why) != PL_OK) {
                fprintf(stderr, "parley: --turn-url '%s': %s\n", optarg, why);
                return 2;
            }
            if (o->n_turn_urls == PL_TURN_MAX_URLS) {
                fprintf(stderr, "parley: at most %d --turn-url\n", PL_TURN_MAX_URLS);
                return 2;
            }
            o->turn_urls[o->n_turn_urls++] = optarg;
            break;
        }
        case 'T':
            o->turn_secret_file = optarg;
            break;
        case 'L':
            v = strtol(optarg, &end, 10);
            if (*end || !*optarg || v < PL_TURN_MIN_TTL_S || v > PL_TURN_MAX_TTL_S) {
                fprintf(stderr, "parley: --turn-ttl takes %d to %d seconds\n", PL_TURN_MIN_TTL_S,
                        PL_TURN_MAX_TTL_S);
                return 2;
            }
            o->turn_ttl = (int)v;
            break;
        case 'I':
            o->no_ice_tcp = true;
            break;
        case 'S':
            o->auth_secret = optarg;
            break;
        case 'F':
            o->auth_secret_file = optarg;
            break;
        case 'P':
        case 'R':
        case 'C':
            if (v < 1) {
                fprintf(stderr, "parley: limits must be at least 1\n");
                return 2;
            }
            *(c == 'P'   ? &o->max_participants
              : c == 'R' ? &o->max_rooms
                         : &o->max_conns_per_ip) = (int)v;
            break;
        case 'h':
            usage(stdout);
            return 1;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (optind < argc) {
        usage(stderr);
        return 2;
    }
    if (!o->web_root)
        o->web_root = access(PARLEY_WEB_ROOT "/index.html", R_OK) == 0 ? PARLEY_WEB_ROOT : "web";
    if (!o->tls_cert != !o->tls_key || (o->tls_cert && o->tls_self_signed)) {
        fprintf(stderr, "parley: TLS takes --tls-cert FILE with --tls-key FILE, or "
                        "--tls-self-signed alone\n");
        return 2;
    }
    /* A TURN server sharing a secret refuses credentials made without it,
     * and a secret without a server to use it with is a mistake too. */
    if (!o->n_turn_urls != !o->turn_secret_file) {
        fprintf(stderr, "parley: --turn-url and --turn-secret-file go together\n");
        return 2;
    }
    return 0;
}
