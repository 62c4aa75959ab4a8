/* The stream allocator of one subscriber (alloc.h): audio first, then
 * video by priority class, lowest steps for all before any stream climbs,
 * with a margin and a hold against flapping. */
#include "parley/alloc.h"

#include <string.h>

#include "parley/common.h"

/* Longest ladder: 4 temporal layers on one spatial layer, a step on each
 * other, and a camera's cushion (alloc.h). */
#define LADDER_MAX (PL_ALLOC_MAX_TEMPORAL + PL_ALLOC_MAX_SPATIAL)
/* Budgets beyond this are as good as unlimited (and keep products with
 * the margin far from overflow). */
#define BUDGET_MAX 1000000000000ull
#define BACKOFF_MAX 16
/* A spatial step up whose allocation fits this many times over (percent)
 * is taken without waiting. */
#define SPATIAL_AT_ONCE_PCT 150u

typedef struct step {
    uint8_t s, t;
    uint32_t bps;
} step;

/* A video stream while it is being allocated. */
typedef struct work {
    const pl_alloc_stream *in;
    step ladder[LADDER_MAX];
    int n_steps;
    int level;    /* index in the ladder, -1: nothing yet */
    bool prev_on; /* it had a layer (its prev is on) */
    bool held;    /* no step above what it had, for now */
    bool refused; /* a step up to what it had did not fit: a downgrade */
    bool paused;  /* its lowest step did not fit */
    bool graced;  /* its lowest step did not fit, and is kept for now */
    bool up_fits; /* a spatial step up fitted, and waits for its confirmation */
} work;

/* The budget and what is allocated of it so far. */
typedef struct pool {
    uint64_t budget;
    uint64_t used;
    uint32_t margin_pct;
    uint32_t spatial_margin_pct;
} pool;

pl_alloc_config pl_alloc_config_default(void)
{
    pl_alloc_config c = {
        .hold_us = PL_ALLOC_HOLD_US,
        .hold_max_us = PL_ALLOC_HOLD_MAX_US,
        .flap_window_us = PL_ALLOC_FLAP_WINDOW_US,
        .margin_pct = PL_ALLOC_MARGIN_PCT,
        .pause_grace_us = PL_ALLOC_PAUSE_GRACE_US,
        .grace_overdraft_pct = PL_ALLOC_GRACE_OVERDRAFT_PCT,
        .spatial_up_us = PL_ALLOC_SPATIAL_UP_US,
        .spatial_margin_pct = PL_ALLOC_SPATIAL_MARGIN_PCT,
        .half_rate_us = PL_ALLOC_HALF_RATE_US,
    };
    return c;
}

static unsigned key(unsigned s, unsigned t)
{
    return s * PL_ALLOC_MAX_TEMPORAL + t;
}

static unsigned min_u(unsigned a, unsigned b)
{
    return a < b ? a : b;
}

static unsigned spatial_cap(const pl_alloc_stream *st)
{
    return min_u(st->max_spatial, st->n_spatial - 1u);
}

static unsigned temporal_cap(const pl_alloc_stream *st)
{
    return min_u(st->max_temporal, st->n_temporal - 1u);
}

/* Spatial layer s has a step the stream may take. */
static bool spatial_usable(const pl_alloc_stream *st, unsigned s)
{
    if (s > spatial_cap(st) || st->layer[s] == PL_ALLOC_LAYER_OFF)
        return false;
    for (unsigned t = 0; t <= temporal_cap(st); t++)
        if (st->bps[s][t])
            return true;
    return false;
}

static void add_step(work *w, unsigned s, unsigned t)
{
    if (!w->in->bps[s][t] || w->n_steps >= LADDER_MAX)
        return;
    w->ladder[w->n_steps++] = (step){(uint8_t)s, (uint8_t)t, w->in->bps[s][t]};
}

/* Spatial layer s (above the lowest) keeps its half frame rate step: the
 * stream is on s at full rate, or at half since less than half_rate_us. */
static bool half_kept(const pl_alloc_config *cfg, int64_t now, const work *w, unsigned s,
                      unsigned tc)
{
    const pl_alloc_choice *p = &w->in->prev;
    if (!w->prev_on || p->spatial != s || tc < 1)
        return false;
    if (p->temporal == tc)
        return cfg->half_rate_us > 0;
    return p->temporal == tc - 1 && p->half_since_us && now - p->half_since_us < cfg->half_rate_us;
}

/* The stream's ladder under its caps (alloc.h): a camera's frame rate
 * first on its lowest layer, then each layer above at full frame rate
 * (at half only as a dip's cushion); a screen share's sharpness first,
 * then frame rate on its top layer. */
static void build_ladder(const pl_alloc_config *cfg, int64_t now, work *w)
{
    const pl_alloc_stream *st = w->in;
    unsigned tc = temporal_cap(st);
    unsigned sp[PL_ALLOC_MAX_SPATIAL], n = 0;
    for (unsigned s = 0; s < st->n_spatial; s++)
        if (spatial_usable(st, s))
            sp[n++] = s;
    w->n_steps = 0;
    if (!n)
        return;
    if (st->priority == PL_ALLOC_SCREEN) {
        for (unsigned i = 0; i + 1 < n; i++)
            add_step(w, sp[i], 0);
        for (unsigned t = 0; t <= tc; t++)
            add_step(w, sp[n - 1], t);
    } else {
        for (unsigned t = 0; t <= tc; t++)
            add_step(w, sp[0], t);
        for (unsigned i = 1; i < n; i++) {
            if (half_kept(cfg, now, w, sp[i], tc))
                add_step(w, sp[i], tc - 1);
            add_step(w, sp[i], tc);
        }
    }
}

static uint32_t level_bps(const work *w)
{
    return w->level < 0 ? 0 : w->ladder[w->level].bps;
}

/* A camera on a dip's cushion: a spatial layer above the lowest, whose
 * next step is the same layer's full frame rate. */
static bool on_half(const work *w)
{
    return w->in->priority != PL_ALLOC_SCREEN && w->level >= 0 && w->ladder[w->level].s > 0 &&
           w->level + 1 < w->n_steps && w->ladder[w->level + 1].s == w->ladder[w->level].s;
}

/* The next step is no higher than what the stream had: keeping it. */
static bool next_is_keep(const work *w)
{
    const step *n = &w->ladder[w->level + 1];
    const pl_alloc_choice *p = &w->in->prev;
    return w->prev_on && key(n->s, n->t) <= key(p->spatial, p->temporal);
}

/* Takes the stream's next step if the budget allows: a kept step needs to
 * fit in the budget, a step up the allocation after it plus the margin,
 * and the hold to be over. `keeps_only`: steps up are not tried. */
static bool climb(const pl_alloc_config *cfg, int64_t now, work *w, pool *p, bool keeps_only)
{
    if (w->paused || w->level + 1 >= w->n_steps)
        return false;
    bool keep = next_is_keep(w);
    if (!keep && (keeps_only || w->held))
        return false;
    /* What the stream has is part of `used`. */
    uint64_t after = p->used - level_bps(w) + w->ladder[w->level + 1].bps;
    bool spatial_up = !keep && w->prev_on && w->ladder[w->level + 1].s > w->in->prev.spatial;
    uint32_t margin =
        spatial_up && p->spatial_margin_pct > p->margin_pct ? p->spatial_margin_pct : p->margin_pct;
    bool fits = keep ? after <= p->budget : after * (100u + margin) <= p->budget * 100u;
    if (!fits) {
        if (keep)
            w->refused = true;
        return false;
    }
    if (spatial_up && after * SPATIAL_AT_ONCE_PCT > p->budget * 100u) {
        /* A larger layer than it had: only once that has fitted a while,
         * unless the budget is far beyond it (a link that recovered, not a
         * moment at a threshold). */
        const pl_alloc_choice *prev = &w->in->prev;
        w->up_fits = true;
        int64_t since = prev->up_fits ? prev->up_fits_since_us : now;
        if (now - since < cfg->spatial_up_us)
            return false;
    }
    p->used = after;
    w->level++;
    return true;
}

/* A stream that was on keeps its lowest step, though it does not fit,
 * while it has been short for less than the grace and the overdraft stays
 * within bounds (alloc.h). */
static bool grace(const pl_alloc_config *cfg, int64_t now, work *w, pool *p)
{
    const pl_alloc_choice *prev = &w->in->prev;
    /* A stream just measured was flowing at its smallest layer while it
     * was not (NOLAYER): a newcomer's video that does not fit at once is
     * graced as one that was on, while a probe looks for room for it. */
    bool was_flowing = w->prev_on || prev->state == PL_ALLOC_NOLAYER;
    if (!was_flowing || !w->n_steps || w->level >= 0)
        return false;
    if (prev->short_of_budget && now - prev->short_since_us >= cfg->pause_grace_us)
        return false;
    if (!prev->short_of_budget && cfg->pause_grace_us <= 0)
        return false;
    uint64_t after = p->used + w->ladder[0].bps;
    uint64_t pct = cfg->grace_overdraft_pct < 1000 ? cfg->grace_overdraft_pct : 1000;
    if (after * 100u > p->budget * (100u + pct))
        return false;
    p->used = after;
    w->level = 0;
    w->graced = true;
    /* Staying where it was is no downgrade to hold it for (each run of
     * the grace would lengthen the hold). */
    w->refused = prev->spatial != w->ladder[0].s || prev->temporal != w->ladder[0].t;
    return true;
}

/* Streams take turns, a step each per round. `lowest_only`: only the
 * steps of each stream's lowest spatial layer (its frame rate there). */
static void climb_turns(const pl_alloc_config *cfg, int64_t now, work *ws, const int *order, int n,
                        pool *p, bool keeps_only, bool lowest_only)
{
    bool moved = true;
    while (moved) {
        moved = false;
        for (int i = 0; i < n; i++) {
            work *w = &ws[order[i]];
            if (lowest_only && (w->level < 0 || w->level + 1 >= w->n_steps ||
                                w->ladder[w->level + 1].s != w->ladder[0].s))
                continue;
            if (climb(cfg, now, w, p, keeps_only))
                moved = true;
        }
    }
}

static bool validate(const pl_alloc_stream *st)
{
    if (st->kind > PL_ALLOC_VIDEO || st->priority >= PL_ALLOC_CLASSES)
        return false;
    if (st->kind == PL_ALLOC_AUDIO)
        return true;
    return st->n_spatial >= 1 && st->n_spatial <= PL_ALLOC_MAX_SPATIAL && st->n_temporal >= 1 &&
           st->n_temporal <= PL_ALLOC_MAX_TEMPORAL;
}

/* What to forward while the publisher resumes a granted layer. */
static void set_forward(const pl_alloc_stream *st, pl_alloc_choice *c)
{
    c->forward = false;
    for (int s = c->spatial; s >= 0; s--) {
        if (st->layer[s] == PL_ALLOC_LAYER_ACTIVE) {
            c->forward = true;
            c->fwd_spatial = (uint8_t)s;
            c->fwd_temporal = c->temporal;
            return;
        }
    }
}

/* The result of a video stream, and its history for the next run. */
static void finish_video(const pl_alloc_config *cfg, int64_t now, const work *w, pl_alloc_choice *c,
                         pl_alloc_result *out)
{
    const pl_alloc_choice *prev = &w->in->prev;
    c->hold_until_us = prev->hold_until_us;
    c->up_at_us = prev->up_at_us;
    c->backoff = prev->backoff;
    c->short_of_budget = w->graced;
    c->short_since_us = !w->graced ? 0 : prev->short_of_budget ? prev->short_since_us : now;
    if (w->in->unwanted) {
        c->state = PL_ALLOC_UNWANTED;
        return;
    }
    if (!w->n_steps) {
        c->state = PL_ALLOC_NOLAYER;
        return;
    }
    if (w->level < 0) {
        c->state = PL_ALLOC_NOFIT;
        c->next_bps = w->ladder[0].bps;
    } else {
        const step *s = &w->ladder[w->level];
        c->state = PL_ALLOC_ON;
        c->spatial = s->s;
        c->temporal = s->t;
        c->bps = s->bps;
        if (w->level + 1 < w->n_steps) {
            uint32_t next = w->ladder[w->level + 1].bps;
            c->next_bps = next > s->bps ? next - s->bps : 0;
        }
        set_forward(w->in, c);
    }
    /* On a dip's cushion: since when. */
    bool half = c->state == PL_ALLOC_ON && on_half(w);
    c->half_since_us = !half ? 0 : prev->half_since_us ? prev->half_since_us : now;
    /* Still fitting, and not taken yet: the wait goes on. */
    bool up_waits = w->up_fits && c->state == PL_ALLOC_ON && c->spatial == prev->spatial;
    c->up_fits = up_waits;
    c->up_fits_since_us = !up_waits ? 0 : prev->up_fits ? prev->up_fits_since_us : now;
    if (w->prev_on && w->refused) {
        /* Down for lack of budget: held, longer when it came up lately;
         * but the smallest layer's frame rate, which is what a subscriber
         * short of room sees and whose steps cost no key frame, only for
         * the first hold (after a dip behind a 600 kbit/s shaper, doubled
         * holds kept two videos at 10 fps for 24 s). */
        bool lowest_rate =
            c->state == PL_ALLOC_ON && c->spatial == prev->spatial && c->spatial == w->ladder[0].s;
        if (lowest_rate)
            c->backoff = 0;
        else if (now - prev->up_at_us < cfg->flap_window_us)
            c->backoff = (uint8_t)min_u(prev->backoff + 1u, BACKOFF_MAX);
        else
            c->backoff = 0;
        int64_t hold = cfg->hold_us;
        for (unsigned i = 0; i < c->backoff && hold < cfg->hold_max_us; i++)
            hold *= 2;
        if (hold > cfg->hold_max_us)
            hold = cfg->hold_max_us;
        c->hold_until_us = now + hold;
        out->downgrades++;
    } else if (c->state == PL_ALLOC_ON &&
               (!w->prev_on || key(c->spatial, c->temporal) > key(prev->spatial, prev->temporal))) {
        c->up_at_us = now;
        out->upgrades++;
    }
}

int pl_alloc_run(const pl_alloc_config *cfg, int64_t now_us, uint64_t budget_bps,
                 const pl_alloc_stream *streams, size_t n, pl_alloc_result *out)
{
    memset(out, 0, sizeof(*out));
    if (n > PL_ALLOC_MAX_STREAMS || (n && !streams))
        return PL_EINVAL;
    for (size_t i = 0; i < n; i++)
        if (!validate(&streams[i]))
            return PL_EINVAL;
    pl_alloc_config defaults = pl_alloc_config_default();
    if (!cfg)
        cfg = &defaults;
    out->n_streams = n;

    pool p = {budget_bps < BUDGET_MAX ? budget_bps : BUDGET_MAX, 0, cfg->margin_pct,
              cfg->spatial_margin_pct};
    if (p.margin_pct > 1000)
        p.margin_pct = 1000;
    if (p.spatial_margin_pct > 1000)
        p.spatial_margin_pct = 1000;

    /* Audio first, whatever the budget. */
    for (size_t i = 0; i < n; i++) {
        const pl_alloc_stream *st = &streams[i];
        if (st->kind != PL_ALLOC_AUDIO)
            continue;
        pl_alloc_choice *c = &out->streams[i];
        if (st->unwanted) {
            c->state = PL_ALLOC_UNWANTED;
            continue;
        }
        c->state = PL_ALLOC_ON;
        c->forward = true;
        c->bps = st->bps[0][0];
        p.used += c->bps;
        out->audio_bps += c->bps;
    }

    /* Video in priority order: class by class, the caller's order within. */
    work ws[PL_ALLOC_MAX_STREAMS];
    int order[PL_ALLOC_MAX_STREAMS], n_order = 0;
    int class_start[PL_ALLOC_CLASSES + 1];
    for (int cls = 0; cls < PL_ALLOC_CLASSES; cls++) {
        class_start[cls] = n_order;
        for (size_t i = 0; i < n; i++) {
            const pl_alloc_stream *st = &streams[i];
            if (st->kind != PL_ALLOC_VIDEO || st->priority != cls)
                continue;
            work *w = &ws[i];
            memset(w, 0, sizeof(*w));
            w->in = st;
            w->level = -1;
            w->prev_on = st->prev.state == PL_ALLOC_ON;
            w->held = now_us < st->prev.hold_until_us;
            if (!st->unwanted)
                build_ladder(cfg, now_us, w);
            order[n_order++] = (int)i;
        }
    }
    class_start[PL_ALLOC_CLASSES] = n_order;

    /* Everyone's lowest step before anyone gets more. */
    for (int k = 0; k < n_order; k++) {
        work *w = &ws[order[k]];
        if (w->n_steps && !climb(cfg, now_us, w, &p, false) && !grace(cfg, now_us, w, &p))
            w->paused = true;
    }
    /* Then each class climbs: back to what it had, then beyond; before
     * the cameras' classes, every camera its lowest layer's frame rate. */
    for (int cls = 0; cls < PL_ALLOC_CLASSES; cls++) {
        const int *o = order + class_start[cls];
        if (cls == PL_ALLOC_SCREEN + 1) {
            /* The cameras, whatever their class: a smooth small picture of
             * everyone before a sharper one of anyone (a speaker at 720p
             * beside a thumbnail at 7 fps is worse than both fluid). */
            int cameras = n_order - class_start[cls];
            climb_turns(cfg, now_us, ws, o, cameras, &p, true, true);
            climb_turns(cfg, now_us, ws, o, cameras, &p, false, true);
        }
        int m = class_start[cls + 1] - class_start[cls];
        climb_turns(cfg, now_us, ws, o, m, &p, true, false);
        climb_turns(cfg, now_us, ws, o, m, &p, false, false);
    }

    /* A larger spatial layer needs its own margin: a probe to less would
     * find room that the step cannot take. */
    uint32_t probe_margin = p.margin_pct;
    for (int k = 0; k < n_order; k++) {
        const work *w = &ws[order[k]];
        pl_alloc_choice *c = &out->streams[order[k]];
        finish_video(cfg, now_us, w, c, out);
        out->wants_bps += c->next_bps;
        if (c->next_bps && w->level >= 0 && w->level + 1 < w->n_steps &&
            w->ladder[w->level + 1].s > w->ladder[w->level].s &&
            p.spatial_margin_pct > probe_margin)
            probe_margin = p.spatial_margin_pct;
    }
    out->total_bps = p.used;
    if (out->wants_bps)
        out->probe_bps = ((out->total_bps + out->wants_bps) * (100u + probe_margin) + 99u) / 100u;
    return PL_OK;
}

uint8_t pl_alloc_tile_cap(const uint16_t *widths, const uint16_t *heights, size_t n, uint16_t max_w,
                          uint16_t max_h)
{
    if (n > PL_ALLOC_MAX_SPATIAL)
        n = PL_ALLOC_MAX_SPATIAL;
    if (!n)
        return 0;
    if (max_w || max_h) {
        for (size_t i = 0; i < n; i++)
            if ((!max_w || widths[i] >= max_w) && (!max_h || heights[i] >= max_h))
                return (uint8_t)i;
    }
    return (uint8_t)(n - 1);
}

unsigned pl_alloc_layers_needed(const pl_alloc_choice *const *choices, size_t n)
{
    unsigned mask = 0;
    for (size_t i = 0; i < n; i++) {
        const pl_alloc_choice *c = choices[i];
        if (!c || c->state != PL_ALLOC_ON)
            continue;
        mask |= 1u << c->spatial;
        if (c->forward)
            mask |= 1u << c->fwd_spatial;
    }
    return mask & ((1u << PL_ALLOC_MAX_SPATIAL) - 1u);
}

const char *pl_alloc_state_name(enum pl_alloc_state s)
{
    switch (s) {
    case PL_ALLOC_NEW:
        return "new";
    case PL_ALLOC_ON:
        return "on";
    case PL_ALLOC_NOFIT:
        return "paused (does not fit)";
    case PL_ALLOC_UNWANTED:
        return "paused (not wanted)";
    case PL_ALLOC_NOLAYER:
        return "paused (no layer)";
    }
    return "?";
}
