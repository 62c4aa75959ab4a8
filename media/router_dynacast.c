#include <string.h>

#include "router_int.h"

/* Dynacast: a publisher encodes and uploads every simulcast layer it
 * offers, whether anyone watches it or not. The router knows what each
 * subscriber route is on, switching to, granted by its allocation, or
 * would choose for its tile, so it knows which layers of a track nobody
 * needs; the publisher is told to stop those (PL_ROUTER_OUT_PUBLISHER_LAYERS,
 * which signaling turns into `publish-layers` and the web client into
 * RTCRtpSender.setParameters), which saves its CPU and uplink.
 *
 * - A layer goes off only after PL_ROUTER_DYNACAST_OFF_US without being
 *   needed, so a window being resized does not flap it; it comes back on
 *   as soon as one route needs it.
 * - The smallest layer always stays on, also while nobody subscribes:
 *   a new subscriber, a tile coming back into view or a subscriber whose
 *   downlink drops gets a picture at once, and the publisher's own
 *   bandwidth estimate stays fed by its packets (with nothing sent, it
 *   has nothing to grow from when a layer comes back).
 * - A layer that is off stays a candidate: tile choices count it as if it
 *   were sent (at its last known size), and the allocator sees it as
 *   suspended at its last measured rate, so a subscriber that needs it
 *   turns it back on, and meanwhile gets the best layer that is sent.
 * - A publisher that ignores the request (a bot) keeps sending: a layer
 *   with packets is simply sent, whatever it was asked. One that does not
 *   send a layer it may (its own estimate or CPU holds it back) is not
 *   told anything about it. */

/* A layer switched back on is counted as coming for this long: until its
 * packets arrive, choices keep wanting it instead of giving up on it. */
#define RESUME_US 2000000

static bool active(const layer *l, int64_t now)
{
    return l->last_at != INT64_MIN && now - l->last_at < PL_LAYER_ACTIVE_US;
}

/* Off at the publisher because of dynacast (or on again and awaited), and
 * sent before, so it can be had again within about a second. */
static bool resumable(const track *t, size_t li, int64_t now)
{
    const layer *l = &t->layers[li];
    if (active(l, now) || l->last_at == INT64_MIN)
        return false;
    return !(t->dyn_on >> li & 1) ||
           (t->dyn_on_at[li] != INT64_MIN && now - t->dyn_on_at[li] < RESUME_US);
}

void router_dynacast_init(track *t)
{
    t->dyn_on = (uint8_t)((1u << t->n_layers) - 1u);
    for (size_t k = 0; k < PL_MAX_LAYERS; k++) {
        t->dyn_idle_since[k] = INT64_MAX;
        t->dyn_on_at[k] = INT64_MIN;
        t->dyn_bps[k] = 0;
    }
}

uint32_t router_dynacast_layer(const track *t, size_t li, int64_t now, uint8_t *state)
{
    const layer *l = &t->layers[li];
    /* A layer just back is sent before its rate is measured again: the
     * rate it had stands in, or the allocation would take a smaller one
     * meanwhile, and switch that on for nothing. */
    uint32_t rate = l->wire_bps ? l->wire_bps : t->dyn_bps[li];
    if (active(l, now) && rate) {
        *state = PL_ALLOC_LAYER_ACTIVE;
        return rate;
    }
    if (t->dyn_bps[li] && resumable(t, li, now)) {
        *state = PL_ALLOC_LAYER_SUSPENDED;
        return t->dyn_bps[li];
    }
    *state = PL_ALLOC_LAYER_OFF;
    return l->wire_bps;
}

static unsigned bit(uint8_t li)
{
    return li < PL_MAX_LAYERS ? 1u << li : 0;
}

/* The layers of a track its routes need now: each one's current layer
 * and target (a switch needs both until the key frame), and what it would
 * have if every resumable layer were sent: its allocation's grant (and
 * what it forwards meanwhile) for a subscriber with an estimate, else the
 * layer its tile asks for. */
static unsigned needed(const endpoint *e, const track *t, const uint8_t *order, int64_t now)
{
    pl_layer_info info[PL_MAX_LAYERS];
    for (size_t k = 0; k < t->n_layers; k++)
        info[k] = (pl_layer_info){.active = active(&t->layers[k], now) || resumable(t, k, now),
                                  .width = t->layers[k].width,
                                  .height = t->layers[k].height};
    unsigned mask = bit(order[0]);
    if (e->recorded && !t->cfg.screen)
        mask |= bit(order[t->n_layers - 1]); /* the layer the recorder keeps */
    for (size_t f = 0; f < t->fan_n; f++) {
        const route *rt = &t->fan[f].sub->routes[t->fan[f].route];
        if (rt->cfg.paused || rt->bw_paused || rt->track_uid != t->uid)
            continue;
        mask |= bit(rt->fwd.cur) | bit(rt->fwd.target);
        if (!rt->capped) {
            mask |= bit(pl_layer_choose(info, t->n_layers, rt->cfg.max_width, rt->cfg.max_height,
                                        PL_LAYER_NONE));
            continue;
        }
        const pl_alloc_choice *c = &rt->alloc;
        if (c->state != PL_ALLOC_ON)
            continue;
        if (c->spatial < t->n_layers)
            mask |= bit(order[c->spatial]);
        if (c->forward && c->fwd_spatial < t->n_layers)
            mask |= bit(order[c->fwd_spatial]);
    }
    return mask;
}

static void tell(pl_router *r, const endpoint *e, const track *t)
{
    outq *o = router_enqueue(r);
    if (!o)
        return;
    *o = (outq){.kind = PL_ROUTER_OUT_PUBLISHER_LAYERS, .transport = e->id, .layers = t->dyn_on};
    memcpy(o->mid, t->cfg.mid, sizeof(o->mid));
    r->st.dynacast_updates++;
}

static void run_track(pl_router *r, const endpoint *e, track *t, int64_t now)
{
    for (size_t k = 0; k < t->n_layers; k++) {
        const layer *l = &t->layers[k];
        if (active(l, now) && l->wire_bps)
            t->dyn_bps[k] = l->wire_bps;
    }
    uint8_t order[PL_MAX_LAYERS];
    router_layer_order(t, order);
    unsigned need = needed(e, t, order, now);
    uint8_t on = t->dyn_on;
    for (size_t k = 0; k < t->n_layers; k++) {
        unsigned b = 1u << k;
        if (need & b) {
            t->dyn_idle_since[k] = INT64_MAX;
            if (!(on & b))
                t->dyn_on_at[k] = now;
            on |= b;
        } else if ((on & b) && !active(&t->layers[k], now)) {
            /* On but not sent: the publisher's own estimate or CPU holds
             * it back. Switching it off would save nothing, and asking for
             * it again each time a tile wants it would churn. */
            t->dyn_idle_since[k] = INT64_MAX;
        } else if (t->dyn_idle_since[k] == INT64_MAX) {
            t->dyn_idle_since[k] = now;
        } else if (now - t->dyn_idle_since[k] >= PL_ROUTER_DYNACAST_OFF_US) {
            on &= ~b;
        }
    }
    if (on == t->dyn_on)
        return;
    t->dyn_on = on;
    tell(r, e, t);
}

void router_dynacast_run(pl_router *r, int64_t now)
{
    for (endpoint *e = r->endpoints; e; e = e->next)
        for (size_t i = 0; i < e->n_tracks; i++) {
            track *t = e->tracks[i];
            if (t->cfg.video && t->n_layers > 1 && t->cfg.dynacast)
                run_track(r, e, t, now);
        }
}

uint64_t router_dynacast_paused(const pl_router *r)
{
    uint64_t n = 0;
    for (const endpoint *e = r->endpoints; e; e = e->next)
        for (size_t i = 0; i < e->n_tracks; i++) {
            const track *t = e->tracks[i];
            for (size_t k = 0; t->cfg.video && k < t->n_layers; k++)
                n += !(t->dyn_on >> k & 1);
        }
    return n;
}
