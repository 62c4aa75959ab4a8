/* An audio playout buffer as a receiver has one: packets wait a delay for
 * their turn, so that late ones and retransmissions still make it (a packet
 * that misses its turn anyway, after a stall upstream, makes the delay grow
 * by what it missed it by, as a browser's jitter buffer does); a
 * frame missing at its turn is rebuilt from the next packet's in-band FEC
 * (Opus LBRR) when that one is here, and concealed otherwise. What is
 * concealed is the audio loss a listener hears. */
#ifndef PARLEY_BOT_PLAYOUT_H
#define PARLEY_BOT_PLAYOUT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PL_PLAYOUT_SLOTS 64
#define PL_PLAYOUT_MAX_PACKET 512
#define PL_PLAYOUT_FRAME_US 20000
/* A packet later than this is taken for a new start, not a stall. */
#define PL_PLAYOUT_MAX_STRETCH_US 2000000

enum pl_playout_kind {
    PL_PLAYOUT_PACKET, /* the frame's own packet */
    PL_PLAYOUT_FEC,    /* the next packet, whose FEC carries this frame */
    PL_PLAYOUT_LOST,   /* nothing: conceal */
};

typedef void (*pl_playout_fn)(void *user, enum pl_playout_kind kind, const uint8_t *data,
                              size_t len);

typedef struct pl_playout_slot {
    bool used;
    uint16_t seq;
    uint16_t len;
    uint8_t data[PL_PLAYOUT_MAX_PACKET];
} pl_playout_slot;

typedef struct pl_playout {
    int64_t delay_us;
    bool started;
    uint16_t base_seq, next_seq;
    int64_t base_us;
    pl_playout_slot slots[PL_PLAYOUT_SLOTS];
    uint64_t played, fec, concealed, late;
    int64_t stretched_us; /* how far late packets pushed the schedule back */
} pl_playout;

void pl_playout_init(pl_playout *p, int64_t delay_us);
void pl_playout_push(pl_playout *p, uint16_t seq, const uint8_t *data, size_t len, int64_t now_us);
/* Plays every frame whose turn has come by now_us. */
void pl_playout_run(pl_playout *p, int64_t now_us, pl_playout_fn fn, void *user);
/* When the next frame's turn comes, or INT64_MAX before the first packet. */
int64_t pl_playout_next(const pl_playout *p);

#endif
