/* The bot's receive side of transport-wide congestion control, as a browser
 * does it: the arrival time of every packet's transport-wide sequence number
 * on the subscribe transport, told back to the relay as RTCP feedback (PT
 * 205, FMT 15) about every 100 ms, so that the relay can estimate the bot's
 * downlink, pace it and choose its layers. The record and the feedback are
 * media/twcc.c's, the same the relay sends publishers. Sans-IO: times are
 * arguments, what to send comes back in a buffer. */
#ifndef PARLEY_BOT_CCFB_H
#define PARLEY_BOT_CCFB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "parley/common.h"
#include "parley/rtp.h"

typedef struct pl_ccfb pl_ccfb;

pl_ccfb *pl_ccfb_create(const pl_env *env);
void pl_ccfb_destroy(pl_ccfb *f);

/* The extension id the subscribe answer kept (1..14), 0 for none. A new
 * id forgets what was recorded: numbers of another negotiation. */
void pl_ccfb_set_ext(pl_ccfb *f, uint8_t id);
uint8_t pl_ccfb_ext(const pl_ccfb *f);

/* A packet arrived at arrival_us (the kernel's receive time when known):
 * media, retransmission or padding alike, since the sender counts them
 * all. False when it carries no transport-wide sequence number. */
bool pl_ccfb_rtp(pl_ccfb *f, const uint8_t *pkt, const pl_rtp_header *h, int64_t arrival_us);

/* When feedback is next due (INT64_MAX while nothing waits). */
int64_t pl_ccfb_next(const pl_ccfb *f);

/* The next feedback packet due at now_us, written into buf: its length, or
 * 0 when nothing is due (call again while it returns more). */
size_t pl_ccfb_poll(pl_ccfb *f, int64_t now_us, uint32_t sender_ssrc, uint32_t media_ssrc,
                    uint8_t *buf, size_t cap);

typedef struct pl_ccfb_stats {
    uint64_t packets;   /* packets with a transport-wide number */
    uint64_t feedbacks; /* feedback packets written */
    uint64_t reported;  /* numbers reported in them (lost ones included) */
    uint64_t lost;      /* numbers reported lost */
} pl_ccfb_stats;

void pl_ccfb_stats_get(const pl_ccfb *f, pl_ccfb_stats *out);

#endif
