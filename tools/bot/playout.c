#include "playout.h"

#include <string.h>

void pl_playout_init(pl_playout *p, int64_t delay_us)
{
    memset(p, 0, sizeof(*p));
    p->delay_us = delay_us;
}

void pl_playout_push(pl_playout *p, uint16_t seq, const uint8_t *data, size_t len, int64_t now_us)
{
    if (len == 0 || len > PL_PLAYOUT_MAX_PACKET)
        return;
    if (!p->started) {
        p->started = true;
        p->base_seq = p->next_seq = seq;
        p->base_us = now_us;
    }
    uint16_t ahead = (uint16_t)(seq - p->next_seq);
    if (ahead >= 0x8000) {
        p->late++; /* its turn has passed: it was concealed */
        /* Its lateness is a stall upstream. A receiver's jitter buffer
         * (NetEq, say) grows its delay by that much rather than conceal
         * everything after it: the frames that follow play in turn. */
        int64_t due = p->base_us + p->delay_us +
                      (int64_t)(int16_t)(uint16_t)(seq - p->base_seq) * PL_PLAYOUT_FRAME_US;
        if (now_us > due && now_us - due < PL_PLAYOUT_MAX_STRETCH_US) {
            p->base_us += now_us - due;
            p->stretched_us += now_us - due;
        }
        return;
    }
    if (ahead >= PL_PLAYOUT_SLOTS)
        return; /* beyond the buffer: its turn will come as a loss */
    pl_playout_slot *s = &p->slots[seq % PL_PLAYOUT_SLOTS];
    s->used = true;
    s->seq = seq;
    s->len = (uint16_t)len;
    memcpy(s->data, data, len);
}

int64_t pl_playout_next(const pl_playout *p)
{
    if (!p->started)
        return INT64_MAX;
    return p->base_us + p->delay_us +
           (int64_t)(uint16_t)(p->next_seq - p->base_seq) * PL_PLAYOUT_FRAME_US;
}

void pl_playout_run(pl_playout *p, int64_t now_us, pl_playout_fn fn, void *user)
{
    while (p->started && pl_playout_next(p) <= now_us) {
        uint16_t seq = p->next_seq;
        pl_playout_slot *s = &p->slots[seq % PL_PLAYOUT_SLOTS];
        pl_playout_slot *n = &p->slots[(uint16_t)(seq + 1) % PL_PLAYOUT_SLOTS];
        if (s->used && s->seq == seq) {
            fn(user, PL_PLAYOUT_PACKET, s->data, s->len);
            p->played++;
            s->used = false;
        } else if (n->used && n->seq == (uint16_t)(seq + 1)) {
            fn(user, PL_PLAYOUT_FEC, n->data, n->len);
            p->fec++;
        } else {
            fn(user, PL_PLAYOUT_LOST, NULL, 0);
            p->concealed++;
        }
        p->next_seq++;
        /* The sequence counter wraps after 21 minutes of audio: keep the
         * base close so the arithmetic stays in range. */
        if ((uint16_t)(p->next_seq - p->base_seq) >= 0x4000) {
            p->base_us += (int64_t)0x4000 * PL_PLAYOUT_FRAME_US;
            p->base_seq = (uint16_t)(p->base_seq + 0x4000);
        }
    }
}
