/* parley-bot: native WebRTC participants for tests and load. Each bot joins
 * a room over the signaling protocol as a browser does, publishes an Opus
 * tone and a VP8 pattern that carry its identity, subscribes to everyone,
 * checks what it decodes and reports per-stream figures as JSON. */
#include <getopt.h>
#include <signal.h>
#include <pthread.h>
#include <stdatomic.h>
#include <time.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "bot.h"
#include "loop.h"
#include "simulcast.h"

typedef struct options {
    const char *server;
    const char *signaling; /* "parley" or "janus" */
    const char *room;
    const char *room_list;
    unsigned rooms, per_room, first_index;
    int publishers; /* per room; the others only listen; -1: all */
    double seconds;
    unsigned waves;
    double stay;
    double leave_after;
    unsigned leavers;
    double cut_at, cut_for;
    unsigned cutters;
    unsigned clips;
    int decode;
    unsigned sample;
    bool nack;
    unsigned threads;
    const char *bind;
    const char *media_via;
    const char *report;
    bool verbose;
    bool simulcast;
    bool ice_tcp;
    unsigned video_w, video_h;
    /* --max-size: one size per position in a room, repeated */
    unsigned n_sizes;
    unsigned sizes[64][2];
} options;

typedef struct plan {
    int64_t join_us, leave_us; /* relative to the start */
    int64_t cut_us;            /* when its signaling connection is cut; -1 never */
    bool joined, left, cut;
} plan;

typedef struct driver {
    options opt;
    pl_bot_ctx ctx;
    pl_bot **bots;
    plan *plans;
    size_t n;
    char (*room_names)[80];
    int64_t start_us, end_us;
    bool ending;
} driver;

/* SIGINT / SIGTERM stay blocked in every thread; the schedule polls for
 * them, which ends the run early but still writes the report. */
static bool interrupted(void)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    struct timespec zero = {0, 0};
    return sigtimedwait(&set, NULL, &zero) > 0;
}

static void ev_joined(void *user, void *bot, const char *participant_id)
{
    (void)user;
    pl_bot_on_joined(bot, participant_id, pl_bot_now_us());
}

static void ev_peer(void *user, void *bot, const char *id, const char *name, bool present,
                    const char *reason)
{
    (void)user;
    pl_bot_on_peer(bot, id, name, present, reason);
}

static void ev_publish_answer(void *user, void *bot, const char *sdp)
{
    (void)user;
    pl_bot_on_publish_answer(bot, sdp, pl_bot_now_us());
}

static void ev_subscribe_offer(void *user, void *bot, const char *sdp, const pl_botsig_track *t,
                               size_t n)
{
    (void)user;
    pl_bot_on_subscribe_offer(bot, sdp, t, n, pl_bot_now_us());
}

static void ev_error(void *user, void *bot, const char *code, const char *message)
{
    (void)user;
    pl_bot_on_error(bot, code, message);
}

static void ev_closed(void *user, void *bot)
{
    (void)user;
    pl_bot_on_closed(bot, pl_bot_now_us());
}

/* The schedule: joins, leaves, and the end of the run. */
static void ev_tick(void *user)
{
    driver *d = user;
    int64_t now = pl_bot_now_us();
    int64_t t = now - d->start_us;
    if (!d->ending && interrupted())
        d->end_us = t;
    for (size_t i = 0; i < d->n; i++) {
        plan *p = &d->plans[i];
        if (!p->joined && t >= p->join_us && t < d->end_us) {
            p->joined = true;
            pl_bot_join(d->bots[i], now);
        }
        if (p->joined && !p->left && !p->cut && p->cut_us >= 0 && t >= p->cut_us) {
            p->cut = true;
            pl_bot_cut(d->bots[i], d->opt.cut_for);
        }
        if (p->joined && !p->left && (t >= p->leave_us || t >= d->end_us)) {
            p->left = true;
            pl_bot_leave(d->bots[i], now);
        }
    }
    /* Stop once every connection has closed after its leave (a socket torn
     * down before that would look lost to the server, which then keeps the
     * participant for its grace period), or after 5 s whatever happens. */
    if (t >= d->end_us) {
        d->ending = true;
        bool open = false;
        for (size_t i = 0; i < d->n && !open; i++)
            open = pl_bot_signaling_open(d->bots[i]);
        if (!open || t >= d->end_us + 5000000)
            d->ctx.ops->stop(d->ctx.sig);
    }
}

static void usage(FILE *f)
{
    fprintf(
        f,
        "usage: parley-bot [options]\n"
        "  --server URL       signaling WebSocket (default ws://127.0.0.1:8080/ws); a\n"
        "                     comma-separated list for the nodes of a cluster: bots join\n"
        "                     through the first and, when theirs is lost, the next\n"
        "  --signaling P      the server's protocol: parley (default), or janus for Janus's\n"
        "                     VideoRoom plugin over its WebSocket transport (--server\n"
        "                     ws://host:8188/; Janus must run ICE-lite: tools/janus-run)\n"
        "  --room NAME        room (default \"bots\"); with --rooms M > 1, NAME-0 .. NAME-<M-1>\n"
        "  --room-list A,B    explicit room names (overrides --room / --rooms)\n"
        "  --rooms M          rooms (default 1)\n"
        "  --per-room N       bots per room (default 2)\n"
        "  --publishers K     only the first K bots of each room publish (default all; 0:\n"
        "                     none, listeners only)\n"
        "  --first-index K    bots are named bot-K, bot-K+1, ... (default 0)\n"
        "  --seconds S        length of the run (default 10)\n"
        "  --waves W          join in W waves spread over the run (default 1)\n"
        "  --stay S           with --waves, how long each bot stays (default half the run)\n"
        "  --leave-after S    the last --leavers bots of each room leave after S seconds\n"
        "  --leavers K        (default 1)\n"
        "  --cut-at S         the last --cutters bots of each room lose their signaling\n"
        "                     connection after S seconds (no close handshake)...\n"
        "  --cut-for S        ...and reconnect S seconds later, resuming (default 10)\n"
        "  --cutters K        (default 1)\n"
        "  --clips K          distinct identities (pre-encoded clips; default per-room, <= 16)\n"
        "  --decode N         received streams of each kind a bot decodes (default all)\n"
        "  --sample K         only every K-th bot decodes (default 1: all)\n"
        "  --no-nack          do not send NACKs for lost video packets\n"
        "  --threads T        media threads (default 1)\n"
        "  --bind IP          local address of the bots' UDP sockets (default 127.0.0.1)\n"
        "  --media-via IP:PORT  send media through this relay (e.g. parley-impair)\n"
        "  --ice-tcp          media over ICE-TCP only: one TCP connection per transport to\n"
        "                     the server's passive candidate (no UDP; not with --media-via,\n"
        "                     and a bot that must join again after a lost session fails)\n"
        "  --simulcast        publish the camera as three simulcast layers (rids q, h, f at\n"
        "                     1/4, 1/2 and full size, three temporal layers each)\n"
        "  --video-size WxH   the full layer's size with --simulcast (default 640x360)\n"
        "  --max-size WxH[,WxH...]  the size each bot shows remote video at, asked of the\n"
        "                     server per track (subscription max_width/max_height) for its\n"
        "                     simulcast layer choice; a list goes to the bots of a room in\n"
        "                     turn; 0x0: no limit (default)\n"
        "  --report FILE      write the JSON report there (default: stdout)\n"
        "  --verbose          log errors as they happen\n");
}

static int parse_sizes(const char *list, options *o)
{
    o->n_sizes = 0;
    for (const char *p = list; *p;) {
        unsigned w, h;
        int used;
        if (o->n_sizes == 64 || sscanf(p, "%ux%u%n", &w, &h, &used) != 2 || w > 16384 || h > 16384)
            return -1;
        o->sizes[o->n_sizes][0] = w;
        o->sizes[o->n_sizes][1] = h;
        o->n_sizes++;
        p += used;
        if (*p == ',')
            p++;
        else if (*p)
            return -1;
    }
    return o->n_sizes ? 0 : -1;
}

static int parse(int argc, char **argv, options *o)
{
    *o = (options){.server = "ws://127.0.0.1:8080/ws",
                   .signaling = "parley",
                   .room = "bots",
                   .rooms = 1,
                   .per_room = 2,
                   .seconds = 10,
                   .waves = 1,
                   .leavers = 1,
                   .cut_for = 10,
                   .cutters = 1,
                   .decode = -1,
                   .publishers = -1,
                   .nack = true,
                   .threads = 1,
                   .bind = "127.0.0.1"};
    static const struct option longs[] = {
        {"server", required_argument, NULL, 's'},
        {"signaling", required_argument, NULL, 'G'},
        {"room", required_argument, NULL, 'r'},
        {"room-list", required_argument, NULL, 'L'},
        {"rooms", required_argument, NULL, 'm'},
        {"per-room", required_argument, NULL, 'n'},
        {"first-index", required_argument, NULL, 'i'},
        {"seconds", required_argument, NULL, 't'},
        {"waves", required_argument, NULL, 'w'},
        {"stay", required_argument, NULL, 'y'},
        {"leave-after", required_argument, NULL, 'a'},
        {"cut-at", required_argument, NULL, 'C'},
        {"cut-for", required_argument, NULL, 'F'},
        {"cutters", required_argument, NULL, 'K'},
        {"leavers", required_argument, NULL, 'k'},
        {"clips", required_argument, NULL, 'c'},
        {"decode", required_argument, NULL, 'd'},
        {"no-nack", no_argument, NULL, 'N'},
        {"threads", required_argument, NULL, 'T'},
        {"bind", required_argument, NULL, 'b'},
        {"report", required_argument, NULL, 'o'},
        {"verbose", no_argument, NULL, 'v'},
        {"publishers", required_argument, NULL, 'P'},
        {"sample", required_argument, NULL, 'S'},
        {"media-via", required_argument, NULL, 'V'},
        {"simulcast", no_argument, NULL, 'U'},
        {"ice-tcp", no_argument, NULL, 'I'},
        {"video-size", required_argument, NULL, 'Z'},
        {"max-size", required_argument, NULL, 'X'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int c;
    while ((c = getopt_long(argc, argv, "", longs, NULL)) != -1) {
        switch (c) {
        case 's':
            o->server = optarg;
            break;
        case 'G':
            if (strcmp(optarg, "parley") != 0 && strcmp(optarg, "janus") != 0) {
                fprintf(stderr, "bad --signaling %s (parley or janus)\n", optarg);
                return -1;
            }
            o->signaling = optarg;
            break;
        case 'r':
            o->room = optarg;
            break;
        case 'P':
            o->publishers = atoi(optarg) < 0 ? 0 : atoi(optarg);
            break;
        case 'S':
            o->sample = (unsigned)atoi(optarg);
            break;
        case 'V':
            o->media_via = optarg;
            break;
        case 'L':
            o->room_list = optarg;
            break;
        case 'm':
            o->rooms = (unsigned)atoi(optarg);
            break;
        case 'n':
            o->per_room = (unsigned)atoi(optarg);
            break;
        case 'i':
            o->first_index = (unsigned)atoi(optarg);
            break;
        case 't':
            o->seconds = atof(optarg);
            break;
        case 'w':
            o->waves = (unsigned)atoi(optarg);
            break;
        case 'y':
            o->stay = atof(optarg);
            break;
        case 'a':
            o->leave_after = atof(optarg);
            break;
        case 'C':
            o->cut_at = atof(optarg);
            break;
        case 'F':
            o->cut_for = atof(optarg);
            break;
        case 'K':
            o->cutters = (unsigned)atoi(optarg);
            break;
        case 'k':
            o->leavers = (unsigned)atoi(optarg);
            break;
        case 'c':
            o->clips = (unsigned)atoi(optarg);
            break;
        case 'd':
            o->decode = atoi(optarg);
            break;
        case 'N':
            o->nack = false;
            break;
        case 'T':
            o->threads = (unsigned)atoi(optarg);
            break;
        case 'b':
            o->bind = optarg;
            break;
        case 'o':
            o->report = optarg;
            break;
        case 'v':
            o->verbose = true;
            break;
        case 'U':
            o->simulcast = true;
            break;
        case 'I':
            o->ice_tcp = true;
            break;
        case 'Z':
            if (sscanf(optarg, "%ux%u", &o->video_w, &o->video_h) != 2 || o->video_w < 256 ||
                o->video_h < 192 || o->video_w > 3840 || o->video_h > 2160) {
                fprintf(stderr, "bad --video-size %s (WxH, from 256x192 to 3840x2160)\n", optarg);
                return -1;
            }
            break;
        case 'X':
            if (parse_sizes(optarg, o) != 0) {
                fprintf(stderr, "bad --max-size %s (WxH[,WxH...], each side 0-16384)\n", optarg);
                return -1;
            }
            break;
        case 'h':
            usage(stdout);
            exit(0);
        default:
            usage(stderr);
            return -1;
        }
    }
    if (o->room_list) {
        o->rooms = 1;
        for (const char *p = o->room_list; *p; p++)
            o->rooms += *p == ',';
    }
    if (o->rooms == 0 || o->per_room == 0 || o->rooms * o->per_room > 4096 || o->seconds <= 0 ||
        o->waves == 0 || o->threads == 0 || o->threads > 64) {
        usage(stderr);
        return -1;
    }
    if (o->sample == 0)
        o->sample = 1;
    if (!o->video_w) {
        o->video_w = 640;
        o->video_h = 360;
    }
    if (o->publishers < 0 || (unsigned)o->publishers > o->per_room)
        o->publishers = (int)o->per_room;
    if (o->clips == 0)
        o->clips = o->per_room < 16 ? o->per_room : 16;
    if (o->stay <= 0)
        o->stay = o->waves > 1 ? o->seconds / 2 : o->seconds;
    return 0;
}

static void name_rooms(driver *d)
{
    const options *o = &d->opt;
    if (o->room_list) {
        const char *p = o->room_list;
        for (unsigned r = 0; r < o->rooms; r++) {
            size_t len = strcspn(p, ",");
            snprintf(d->room_names[r], sizeof(d->room_names[r]), "%.*s", (int)len, p);
            p += len + (p[len] == ',');
        }
    } else if (o->rooms == 1) {
        snprintf(d->room_names[0], sizeof(d->room_names[0]), "%s", o->room);
    } else {
        for (unsigned r = 0; r < o->rooms; r++)
            snprintf(d->room_names[r], sizeof(d->room_names[r]), "%s-%u", o->room, r);
    }
}

/* Joins are spread out a little (a room full of people does not click
 * "join" in the same millisecond), in waves when asked. */
static void make_plan(driver *d)
{
    const options *o = &d->opt;
    int64_t run = (int64_t)(o->seconds * 1e6);
    int64_t stay = (int64_t)(o->stay * 1e6);
    size_t per_wave = (d->n + o->waves - 1) / o->waves;
    int64_t gap = o->waves > 1 ? (run - stay) / (int64_t)(o->waves - 1) : 0;
    if (gap < 0)
        gap = 0;
    for (size_t i = 0; i < d->n; i++) {
        size_t wave = i / per_wave;
        size_t in_wave = i % per_wave;
        plan *p = &d->plans[i];
        p->join_us = (int64_t)wave * gap + (int64_t)in_wave * 20000;
        p->leave_us = o->waves > 1 ? p->join_us + stay : INT64_MAX;
        size_t pos = i % o->per_room;
        if (o->leave_after > 0 && pos >= o->per_room - o->leavers)
            p->leave_us = (int64_t)(o->leave_after * 1e6);
        p->cut_us =
            o->cut_at > 0 && pos >= o->per_room - o->cutters ? (int64_t)(o->cut_at * 1e6) : -1;
    }
}

static json_t *delay_json(const pl_delay_hist *h)
{
    return h && h->n
               ? json_pack("{s:I, s:I, s:I}", "p50", (json_int_t)pl_delay_quantile(h, 0.5), "p99",
                           (json_int_t)pl_delay_quantile(h, 0.99), "max", (json_int_t)h->max_us)
               : json_null();
}

static json_t *summary(driver *d, json_t *bots, const pl_delay_hist *delay,
                       const pl_delay_hist *video_delay)
{
    json_int_t packets = 0, expected = 0, lost = 0, vframes = 0, corrupt = 0, skipped = 0;
    json_int_t out_of_order = 0, freezes = 0, freeze_ms = 0, afr = 0, concealed = 0, sent = 0;
    json_int_t wrong_identity = 0, streams = 0, errors = 0, unknown = 0;
    json_int_t decode_errors = 0, pid_gaps = 0, tl0_errors = 0;
    double video_seconds = 0;
    size_t i;
    json_t *b;
    json_array_foreach(bots, i, b)
    {
        json_t *s = json_object_get(b, "sent");
        sent += json_integer_value(json_object_get(s, "audio_packets")) +
                json_integer_value(json_object_get(s, "video_packets"));
        errors += json_integer_value(json_object_get(b, "errors"));
        unknown += json_integer_value(json_object_get(b, "unknown_ssrc_packets"));
        size_t k;
        json_t *st;
        json_array_foreach(json_object_get(b, "streams"), k, st)
        {
            streams++;
            packets += json_integer_value(json_object_get(st, "packets"));
            expected += json_integer_value(json_object_get(st, "expected"));
            lost += json_integer_value(json_object_get(st, "lost"));
            bool video = strcmp(json_string_value(json_object_get(st, "kind")), "video") == 0;
            json_t *dec = json_object_get(st, "decoded");
            if (video) {
                freezes += json_integer_value(json_object_get(st, "freezes"));
                freeze_ms += json_integer_value(json_object_get(st, "freeze_ms"));
                video_seconds += json_real_value(json_object_get(st, "seconds"));
                pid_gaps += json_integer_value(json_object_get(st, "picture_id_gaps"));
                tl0_errors += json_integer_value(json_object_get(st, "tl0picidx_errors"));
            }
            if (!dec)
                continue;
            if (!json_is_true(json_object_get(dec, "identity_ok")))
                wrong_identity++;
            if (video) {
                vframes += json_integer_value(json_object_get(dec, "frames"));
                corrupt += json_integer_value(json_object_get(dec, "corrupt"));
                skipped += json_integer_value(json_object_get(dec, "skipped"));
                decode_errors += json_integer_value(json_object_get(dec, "decode_errors"));
                out_of_order += json_integer_value(json_object_get(dec, "out_of_order"));
            } else {
                afr += json_integer_value(json_object_get(dec, "frames"));
                concealed += json_integer_value(json_object_get(dec, "concealed"));
            }
        }
    }
    json_t *dl = delay_json(delay);
    json_t *o = json_pack(
        "{s:I, s:I, s:I, s:I, s:I, s:I, s:f, s:o, s:I, s:I, s:I, s:I, s:I, s:I, "
        "s:f, s:I, s:I, s:I, s:I, s:I}",
        "bots", (json_int_t)d->n, "streams", streams, "packets_sent", sent, "packets_received",
        packets, "expected", expected, "lost", lost, "loss",
        expected ? (double)lost / (double)expected : 0.0, "delay_us", dl, "video_frames_decoded",
        vframes, "corrupt_frames", corrupt, "undecodable_frames", skipped, "out_of_order_frames",
        out_of_order, "freezes", freezes, "freeze_ms", freeze_ms, "freeze_fraction",
        video_seconds > 0 ? (double)freeze_ms / 1000.0 / video_seconds : 0.0,
        "audio_frames_decoded", afr, "audio_concealed", concealed, "wrong_identity_streams",
        wrong_identity, "errors", errors, "unknown_ssrc_packets", unknown);
    json_object_set_new(o, "decoder_errors", json_integer(decode_errors));
    json_object_set_new(o, "picture_id_gaps", json_integer(pid_gaps));
    json_object_set_new(o, "tl0picidx_errors", json_integer(tl0_errors));
    /* Video packets only: measured alike through Parley and Janus. */
    json_object_set_new(o, "video_delay_us", delay_json(video_delay));
    return o;
}

/* Encode once; every bot with the same identity replays the clip. With
 * simulcast the camera is three layer clips and the first clip only audio.
 * The identities are encoded on two threads: at large sizes this is the
 * bulk of the start-up. */
typedef struct encoder_job {
    driver *d;
    atomic_uint next;
    atomic_int failed;
} encoder_job;

/* Whether a bot of this process publishes the identity: a process of
 * listeners, or of a few bots among many identities, encodes nothing it
 * would not send. */
static bool clip_needed(const driver *d, unsigned identity)
{
    for (size_t i = 0; i < d->n; i++)
        if (i % d->opt.per_room < (unsigned)d->opt.publishers &&
            (d->opt.first_index + (unsigned)i) % d->ctx.n_clips == identity)
            return true;
    return false;
}

static void *encode_some(void *arg)
{
    encoder_job *j = arg;
    driver *d = j->d;
    unsigned i;
    while ((i = atomic_fetch_add(&j->next, 1)) < d->ctx.n_clips) {
        if (!clip_needed(d, i))
            continue;
        pl_clip_config cfg = {.video_frames = d->opt.simulcast ? 0 : d->ctx.video_loop,
                              .audio_frames = 50};
        d->ctx.clips[i] = pl_clip_create_with(i, &cfg);
        if (!d->ctx.clips[i] ||
            (d->opt.simulcast &&
             pl_sim_clips_create(i, d->ctx.video_loop, d->opt.video_w, d->opt.video_h,
                                 &d->ctx.layer_clips[(size_t)i * PL_SIM_LAYERS]) != 0))
            atomic_store(&j->failed, 1);
    }
    return NULL;
}

static int encode_clips(driver *d)
{
    encoder_job j = {.d = d};
    pthread_t t;
    bool second = d->ctx.n_clips > 1 && pthread_create(&t, NULL, encode_some, &j) == 0;
    encode_some(&j);
    if (second)
        pthread_join(t, NULL);
    return atomic_load(&j.failed) ? -1 : 0;
}

int main(int argc, char **argv)
{
    driver d;
    memset(&d, 0, sizeof(d));
    if (parse(argc, argv, &d.opt) != 0)
        return 2;
    signal(SIGPIPE, SIG_IGN);
    sigset_t block;
    sigemptyset(&block);
    sigaddset(&block, SIGINT);
    sigaddset(&block, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &block, NULL);

    d.ctx.env = pl_env_default();
    d.ctx.env.log = NULL;
    d.ctx.bind_ip = d.opt.bind;
    d.ctx.ops = strcmp(d.opt.signaling, "janus") == 0 ? &pl_botsig_janus : &pl_botsig_parley;
    d.ctx.ts_rewritten = d.ctx.ops == &pl_botsig_janus;
    d.ctx.nack = d.opt.nack;
    d.ctx.verbose = d.opt.verbose;
    d.ctx.decode_audio = d.ctx.decode_video = d.opt.decode < 0 ? 64u : (unsigned)d.opt.decode;
    d.ctx.decode_every = d.opt.sample;
    pl_addr via;
    if (d.opt.media_via && d.opt.ice_tcp) {
        fprintf(stderr, "--ice-tcp and --media-via do not go together\n");
        return 2;
    }
    if (d.opt.media_via) {
        char ip[64];
        unsigned port;
        if (sscanf(d.opt.media_via, "%63[^:]:%u", ip, &port) != 2 || port > 65535 ||
            pl_addr_set(&via, ip, (uint16_t)port) != PL_OK) {
            fprintf(stderr, "bad --media-via %s\n", d.opt.media_via);
            return 2;
        }
        d.ctx.media_via = &via;
    }
    d.ctx.n_clips = d.opt.clips;
    d.ctx.video_loop = 90; /* 3 s, keyframes at 0 and 60 */
    d.n = (size_t)d.opt.rooms * d.opt.per_room;
    int rc = 1;
    pl_botloop *loop = NULL;
    d.ctx.cert = pl_dtls_cert_create(&d.ctx.env);
    d.ctx.clips = calloc(d.ctx.n_clips, sizeof(*d.ctx.clips));
    d.bots = calloc(d.n, sizeof(*d.bots));
    d.plans = calloc(d.n, sizeof(*d.plans));
    d.room_names = calloc(d.opt.rooms, sizeof(*d.room_names));
    if (!d.ctx.cert || !d.ctx.clips || !d.bots || !d.plans || !d.room_names)
        goto out;
    d.ctx.simulcast = d.opt.simulcast;
    d.ctx.ice_tcp = d.opt.ice_tcp;
    if (d.opt.simulcast &&
        !(d.ctx.layer_clips = calloc((size_t)d.ctx.n_clips * PL_SIM_LAYERS, sizeof(pl_clip *))))
        goto out;
    if (encode_clips(&d) != 0) {
        fprintf(stderr, "cannot encode media\n");
        goto out;
    }
    name_rooms(&d);
    for (size_t i = 0; i < d.n; i++) {
        d.bots[i] =
            pl_bot_create(&d.ctx, d.opt.first_index + (unsigned)i, d.room_names[i / d.opt.per_room],
                          i % d.opt.per_room < (unsigned)d.opt.publishers);
        if (!d.bots[i]) {
            fprintf(stderr, "cannot create bot %zu (sockets?)\n", i);
            goto out;
        }
        if (d.opt.n_sizes) {
            const unsigned *wh = d.opt.sizes[(i % d.opt.per_room) % d.opt.n_sizes];
            pl_bot_set_max_size(d.bots[i], wh[0], wh[1]);
        }
    }
    d.ctx.bots = d.bots;
    d.ctx.n_bots = d.n;
    d.ctx.first_index = d.opt.first_index;
    make_plan(&d);
    pl_botsig_config sc = {
        .url = d.opt.server,
        .tick_ms = 5,
        .events = {.user = &d,
                   .joined = ev_joined,
                   .peer = ev_peer,
                   .publish_answer = ev_publish_answer,
                   .subscribe_offer = ev_subscribe_offer,
                   .error = ev_error,
                   .closed = ev_closed,
                   .tick = ev_tick},
    };
    d.ctx.sig = d.ctx.ops->create(&sc);
    if (!d.ctx.sig)
        goto out;
    loop = pl_botloop_start(d.bots, d.n, d.opt.threads);
    if (!loop)
        goto out;
    d.start_us = pl_bot_now_us();
    d.end_us = (int64_t)(d.opt.seconds * 1e6);
    d.ctx.ops->run(d.ctx.sig);
    pl_botloop_stop(loop);
    loop = NULL;

    json_t *bots = json_array();
    pl_delay_hist *delay = calloc(1, sizeof(*delay));
    pl_delay_hist *video_delay = calloc(1, sizeof(*video_delay));
    for (size_t i = 0; i < d.n && delay && video_delay; i++)
        json_array_append_new(bots, pl_bot_report(d.bots[i], delay, video_delay));
    json_t *report =
        json_pack("{s:o, s:o}", "summary", summary(&d, bots, delay, video_delay), "bots", bots);
    free(delay);
    free(video_delay);
    if (d.opt.report) {
        if (json_dump_file(report, d.opt.report, JSON_INDENT(1)) != 0)
            fprintf(stderr, "cannot write %s\n", d.opt.report);
    } else {
        json_dumpf(report, stdout, JSON_INDENT(1));
        putchar('\n');
    }
    char *line = json_dumps(json_object_get(report, "summary"), JSON_COMPACT);
    fprintf(stderr, "summary %s\n", line ? line : "{}");
    free(line);
    json_decref(report);
    rc = 0;
out:
    pl_botloop_stop(loop);
    for (size_t i = 0; d.bots && i < d.n; i++)
        pl_bot_destroy(d.bots[i]);
    if (d.ctx.sig)
        d.ctx.ops->destroy(d.ctx.sig);
    for (unsigned i = 0; d.ctx.clips && i < d.ctx.n_clips; i++)
        pl_clip_destroy(d.ctx.clips[i]);
    for (unsigned i = 0; d.ctx.layer_clips && i < d.ctx.n_clips * PL_SIM_LAYERS; i++)
        pl_clip_destroy(d.ctx.layer_clips[i]);
    free(d.ctx.clips);
    free(d.ctx.layer_clips);
    free(d.bots);
    free(d.plans);
    free(d.room_names);
    pl_dtls_cert_destroy(d.ctx.cert);
    return rc;
}
