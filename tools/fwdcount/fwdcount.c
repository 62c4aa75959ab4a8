/* parley-fwdcount: the relay's forwarding path on a fixed input, for a
 * figure that does not depend on a noisy machine: run it under
 * `valgrind --tool=callgrind --toggle-collect=forward` (tools/bench
 * --instructions does) and divide the instructions by the packets out.
 *
 * One publisher (Opus at 50 packets/s, VP8 at 90 packets/s with a key
 * frame every 2 s) and N subscribers (default 7: a meeting of 8) routed to
 * both its tracks, all connected; every packet goes in decrypted as the
 * worker hands it to the router, and every copy out is protected with
 * SRTP (AES-128-GCM, as browsers negotiate it) as the worker does before
 * it sends. What is counted: pl_router_handle_rtp, draining the router's
 * outputs into a buffer, the timers, and the SRTP protect of each copy.
 * Not counted: the sockets, ICE, DTLS and SRTP's unprotect on the way in.
 *
 *   parley-fwdcount [--subscribers N] [--seconds S]
 * prints "packets_in N packets_out M". */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "parley/buf.h"
#include "parley/router.h"
#include "parley/srtp.h"

#define PUB 1
#define MAX_SUBS 200

typedef struct run {
    pl_router *r;
    pl_srtp *srtp[MAX_SUBS + 2];
    uint64_t in, out;
    uint8_t buf[1600];
} run;

static void drain(run *x)
{
    pl_router_output o;
    for (;;) {
        int rc = pl_router_poll_output(x->r, 0, &o, x->buf, sizeof(x->buf) - 32);
        if (rc == PL_EAGAIN)
            return;
        if (rc != PL_OK || o.kind != PL_ROUTER_OUT_RTP)
            continue;
        size_t len = o.len;
        pl_srtp *s = x->srtp[o.transport < MAX_SUBS + 2 ? o.transport : 0];
        if (s && pl_srtp_protect_rtp(s, x->buf, &len, sizeof(x->buf)) == PL_OK)
            x->out++;
    }
}

static size_t packet(uint8_t *p, uint32_t ssrc, uint8_t pt, uint16_t seq, uint32_t ts, bool marker,
                     size_t payload, bool vp8, bool key, uint16_t picture)
{
    p[0] = 0x80;
    p[1] = (uint8_t)(pt | (marker ? 0x80 : 0));
    pl_put_u16(p + 2, seq);
    pl_put_u32(p + 4, ts);
    pl_put_u32(p + 8, ssrc);
    uint8_t *b = p + 12;
    memset(b, 0x5a, payload);
    if (vp8) {
        /* Descriptor: X, S when the frame starts; I with a 15-bit
         * picture id. A key frame's payload header says so (P = 0) with
         * the 3-byte start code and a 320x240 size. */
        b[0] = 0x90;
        b[1] = 0x80;
        b[2] = (uint8_t)(0x80 | (picture >> 8 & 0x7f));
        b[3] = (uint8_t)picture;
        uint8_t *v = b + 4;
        v[0] = key ? 0x10 : 0x11;
        v[1] = v[2] = 0;
        v[3] = 0x9d, v[4] = 0x01, v[5] = 0x2a;
        v[6] = 320 & 0xff, v[7] = 320 >> 8, v[8] = 240 & 0xff, v[9] = 240 >> 8;
    }
    return 12 + payload;
}

/* The counted part: every packet of the run through the router. */
__attribute__((noinline)) void forward(run *x, int seconds)
{
    uint8_t pkt[1500];
    uint16_t aseq = 1000, vseq = 5000, picture = 0;
    int64_t now = 1000000;
    for (int ms = 0; ms < seconds * 1000; ms++, now += 1000) {
        if (ms % 20 == 0) {
            size_t n =
                packet(pkt, 0x2222, 111, aseq++, (uint32_t)ms * 48, false, 80, false, false, 0);
            pl_router_handle_rtp(x->r, now, PUB, pkt, n);
            x->in++;
            drain(x);
        }
        /* About 30 frames/s of three packets each. */
        if (ms % 33 == 0) {
            bool key = picture % 60 == 0; /* every 2 s */
            for (int k = 0; k < 3; k++) {
                size_t n = packet(pkt, 0x1111, 96, vseq++, (uint32_t)ms * 90, k == 2, 1000, true,
                                  key && k == 0, picture);
                if (k)
                    pkt[12] = 0x80; /* not the frame's start */
                pl_router_handle_rtp(x->r, now, PUB, pkt, n);
                x->in++;
                drain(x);
            }
            picture = (uint16_t)((picture + 1) & 0x7fff);
        }
        if (pl_router_next_timeout(x->r) <= now) {
            pl_router_handle_timeout(x->r, now);
            drain(x);
        }
    }
}

int main(int argc, char **argv)
{
    int subs = 7, seconds = 10;
    static const struct option longs[] = {{"subscribers", required_argument, NULL, 'n'},
                                          {"seconds", required_argument, NULL, 's'},
                                          {NULL, 0, NULL, 0}};
    int opt;
    while ((opt = getopt_long(argc, argv, "", longs, NULL)) != -1) {
        if (opt == 'n')
            subs = atoi(optarg);
        else if (opt == 's')
            seconds = atoi(optarg);
        else {
            fprintf(stderr, "usage: parley-fwdcount [--subscribers N] [--seconds S]\n");
            return 2;
        }
    }
    if (subs < 1 || subs > MAX_SUBS || seconds < 1) {
        fprintf(stderr, "parley-fwdcount: 1-%d subscribers, at least a second\n", MAX_SUBS);
        return 2;
    }
    pl_env env = pl_env_default();
    if (pl_srtp_global_init() != PL_OK)
        return 1;
    static run x;
    x.r = pl_router_create(&env);
    pl_track tracks[2] = {
        {.mid = "0", .ssrc = 0x2222, .pt = 111, .audio_level_ext = 0},
        {.mid = "1", .ssrc = 0x1111, .video = true, .pt = 96, .nack = true},
    };
    pl_router_add_transport(x.r, PUB);
    pl_router_set_tracks(x.r, PUB, tracks, 2);
    pl_router_set_connected(x.r, PUB, 0);
    pl_srtp_keys keys = {.profile = PL_SRTP_AEAD_AES_128_GCM, .key_len = 16, .salt_len = 12};
    for (int i = 0; i < 16; i++)
        keys.local_key[i] = keys.remote_key[i] = (uint8_t)(i + 1);
    for (int i = 0; i < subs; i++) {
        uint64_t id = (uint64_t)i + 2;
        pl_route routes[2] = {
            {.publisher = PUB, .mid = "0", .out_ssrc = 0x10000u + (uint32_t)i * 2, .out_pt = 111},
            {.publisher = PUB, .mid = "1", .out_ssrc = 0x10001u + (uint32_t)i * 2, .out_pt = 96},
        };
        pl_router_add_transport(x.r, id);
        pl_router_set_routes(x.r, id, routes, 2, 0);
        pl_router_set_connected(x.r, id, 0);
        x.srtp[id] = pl_srtp_create(&env, &keys);
        if (!x.srtp[id])
            return 1;
    }
    drain(&x);
    forward(&x, seconds);
    printf("packets_in %llu packets_out %llu\n", (unsigned long long)x.in,
           (unsigned long long)x.out);
    for (int i = 0; i < subs; i++)
        pl_srtp_destroy(x.srtp[i + 2]);
    pl_router_destroy(x.r);
    return x.out ? 0 : 1;
}
