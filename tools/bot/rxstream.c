#include "rxstream.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "parley/buf.h"
#include "parley/rtcp.h"

/* One keyframe request per stream per this long, as browsers do. */
#define PLI_INTERVAL_US 300000

void pl_rxstream_start(pl_rxstream *s, bool decode, unsigned video_loop, int64_t playout_delay_us,
                       int64_t now_us)
{
    s->used = true;
    s->active = true;
    s->playout_delay_us = playout_delay_us;
    pl_nack_gen_init(&s->nack, NULL);
    pl_rxstats_init(&s->st, s->video ? 90000 : 48000);
    s->last_pli_us = now_us;
    s->started_us = now_us;
    s->first_frame_us = 0;
    if (s->video) {
        s->assembler = pl_vp8_assembler_create(decode);
        if (decode)
            s->vcheck = pl_vcheck_create(video_loop, s->expected_identity);
    } else {
        if (decode)
            s->acheck = pl_acheck_create();
        s->playout = malloc(sizeof(*s->playout));
        if (s->playout)
            pl_playout_init(s->playout, playout_delay_us);
    }
}

void pl_rxstream_free(pl_rxstream *s)
{
    free(s->playout);
    s->playout = NULL;
    pl_vp8_assembler_destroy(s->assembler);
    pl_vcheck_destroy(s->vcheck);
    pl_acheck_destroy(s->acheck);
    s->assembler = NULL;
    s->vcheck = NULL;
    s->acheck = NULL;
}

static void request_keyframe(pl_rxstream *s, int64_t now_us, const pl_rxstream_fb *fb)
{
    if (now_us - s->last_pli_us < PLI_INTERVAL_US)
        return;
    s->last_pli_us = now_us;
    uint8_t buf[64];
    pl_wbuf w = pl_wbuf_make(buf, sizeof(buf));
    pl_rtcp_pli pli = {.sender_ssrc = 1, .media_ssrc = s->ssrc};
    pl_rtcp_write_pli(&w, &pli);
    if (pl_wbuf_ok(&w)) {
        fb->send(fb->user, buf, w.len);
        s->plis_sent++;
    }
}

static void send_nack(pl_rxstream *s, const uint16_t *lost, size_t n, const pl_rxstream_fb *fb)
{
    pl_rtcp_nack nack = {.sender_ssrc = 1, .media_ssrc = s->ssrc};
    nack.n_items = pl_rtcp_nack_pack(lost, n, nack.items, PL_RTCP_MAX_NACK);
    uint8_t buf[600];
    pl_wbuf w = pl_wbuf_make(buf, sizeof(buf));
    pl_rtcp_write_nack(&w, &nack);
    if (pl_wbuf_ok(&w)) {
        fb->send(fb->user, buf, w.len);
        s->nacks_sent++;
    }
}

/* When a frame is shown: at its place in the sender's timeline plus the
 * playout delay, or when it arrives if that is later. */
static int64_t render_time(pl_rxstream *s, uint32_t ts, int64_t now_us)
{
    if (!s->render_started) {
        s->render_started = true;
        s->render_base_ts = ts;
        s->render_base_us = now_us + s->playout_delay_us;
    }
    int64_t due = s->render_base_us + (int64_t)(int32_t)(ts - s->render_base_ts) * 1000 / 90;
    return due > now_us ? due : now_us;
}

/* The first packet of a frame: its descriptor, for when the frame is out. */
static void note_descriptor(pl_rxstream *s, uint32_t ts, const uint8_t *payload, size_t len)
{
    pl_vp8_desc d;
    if (pl_vp8_parse_descriptor(payload, len, &d) != PL_OK || !d.start || d.partition != 0)
        return;
    uint16_t w, h;
    if (d.keyframe &&
        pl_vp8_keyframe_size(payload + d.header_len, len - d.header_len, &w, &h) == PL_OK) {
        s->kf_width = w;
        s->kf_height = h;
    }
    for (unsigned i = 0; i < PL_RXSTREAM_DESCS; i++)
        if (s->descs[i].used && s->descs[i].ts == ts)
            return; /* a retransmission */
    s->descs[s->next_desc] = (pl_rxstream_desc){.ts = ts,
                                                .picture_id = d.picture_id,
                                                .tl0picidx = d.tl0picidx,
                                                .tid = d.tid,
                                                .used = true,
                                                .has_picture_id = d.has_picture_id,
                                                .has_tl0picidx = d.has_tl0picidx,
                                                .has_tid = d.has_tid};
    s->next_desc = (s->next_desc + 1) % PL_RXSTREAM_DESCS;
}

/* Frame by frame, in order: the picture id goes up by one, and TL0PICIDX
 * by one on each TL0 frame and not otherwise. After a loss the numbers
 * may jump. Consumes the frame's descriptor; returns its temporal layer,
 * -1 when it has none. */
static int check_continuity(pl_rxstream *s, const pl_vp8_frame *f)
{
    pl_rxstream_desc *d = NULL;
    for (unsigned i = 0; i < PL_RXSTREAM_DESCS && !d; i++)
        if (s->descs[i].used && s->descs[i].ts == f->timestamp)
            d = &s->descs[i];
    int tid = d && d->has_tid ? d->tid : -1;
    if (!d || !d->has_picture_id) {
        s->have_prev = false;
        return tid;
    }
    d->used = false;
    s->frames_by_tid[d->has_tid ? d->tid & 3 : 0]++;
    if (s->have_prev && !f->lost_before) {
        if (d->picture_id != ((s->prev_picture_id + 1) & 0x7fff))
            s->picture_id_gaps++;
        if (d->has_tl0picidx && s->prev_has_tl0) {
            uint8_t want = (uint8_t)(s->prev_tl0picidx + (d->has_tid && d->tid == 0 ? 1 : 0));
            if (d->tl0picidx != want)
                s->tl0picidx_errors++;
        }
    }
    s->have_prev = true;
    s->prev_picture_id = d->picture_id;
    s->prev_has_tl0 = d->has_tl0picidx;
    s->prev_tl0picidx = d->tl0picidx;
    return tid;
}

/* A completed frame, at the size of the last key frame. */
static void count_size(pl_rxstream *s)
{
    if (!s->kf_width)
        return;
    unsigned i = 0;
    while (i < s->n_sizes &&
           (s->sizes[i].width != s->kf_width || s->sizes[i].height != s->kf_height))
        i++;
    if (i == s->n_sizes) {
        if (i == PL_RXSTREAM_SIZES)
            return;
        s->n_sizes++;
        s->sizes[i].width = s->kf_width;
        s->sizes[i].height = s->kf_height;
        s->sizes[i].frames = 0;
    }
    s->sizes[i].frames++;
}

/* Frames that are complete, in order, and what a viewer would see of them. */
static void pop_frames(pl_rxstream *s, int64_t now_us, const pl_rxstream_fb *fb)
{
    pl_vp8_frame f;
    while (pl_vp8_assembler_pop(s->assembler, now_us, &f) == 1) {
        int64_t shown = render_time(s, f.timestamp, now_us);
        s->frames_complete++;
        if (!s->first_frame_us)
            s->first_frame_us = now_us;
        count_size(s);
        if (f.keyframe)
            s->keyframes++;
        int tid = check_continuity(s, &f);
        if (f.lost_before && !f.keyframe)
            request_keyframe(s, now_us, fb);
        if (!s->vcheck) {
            pl_rxstats_frame(&s->st, shown);
            continue;
        }
        pl_vcheck_result r;
        pl_vcheck_frame(s->vcheck, f.data, f.len, f.timestamp, f.keyframe, tid, f.lost_before, &r);
        if (r.decoded && !r.corrupt)
            pl_rxstats_frame(&s->st, shown);
        if (r.skipped)
            request_keyframe(s, now_us, fb);
    }
}

static void play_audio(void *user, enum pl_playout_kind kind, const uint8_t *data, size_t len)
{
    pl_rxstream *s = user;
    if (!s->acheck)
        return;
    if (kind == PL_PLAYOUT_PACKET)
        pl_acheck_packet(s->acheck, data, len);
    else if (kind == PL_PLAYOUT_FEC)
        pl_acheck_fec(s->acheck, data, len);
    else
        pl_acheck_lost(s->acheck);
}

void pl_rxstream_rtp(pl_rxstream *s, int64_t now_us, const pl_rtp_header *h, uint16_t seq,
                     const uint8_t *payload, size_t payload_len, size_t len, bool rtx,
                     const pl_rxstream_fb *fb)
{
    if (!s->active) {
        /* A packet the kernel had before the end was known (the media
         * thread reads it after the signaling thread ended the stream) was
         * sent before the end: only later arrivals count. */
        if (now_us > s->ended_us)
            s->packets_after_end++;
        return;
    }
    bool recovered = pl_nack_gen_packet(&s->nack, seq, now_us);
    if (rtx || recovered)
        s->retransmissions++;
    /* Retransmissions count as received, but their delay is the repair's. */
    pl_rxstats_packet(&s->st, seq, h->timestamp, len, now_us,
                      s->expected_identity >= 0 && !s->delay_unknown && !rtx && !recovered);
    if (s->video) {
        note_descriptor(s, h->timestamp, payload, payload_len);
        if (pl_vp8_assembler_push(s->assembler, seq, h->timestamp, h->marker, payload, payload_len,
                                  now_us) == PL_OK)
            pop_frames(s, now_us, fb);
    } else {
        if (s->playout)
            pl_playout_push(s->playout, seq, payload, payload_len, now_us);
        pl_rxstats_frame(&s->st, now_us);
    }
}

void pl_rxstream_tick(pl_rxstream *s, int64_t now_us, bool nack, const pl_rxstream_fb *fb)
{
    if (!s->active)
        return;
    if (nack && pl_nack_gen_next(&s->nack) <= now_us) {
        uint16_t lost[64];
        size_t n = pl_nack_gen_poll(&s->nack, now_us, lost, 64);
        if (n)
            send_nack(s, lost, n, fb);
    }
    if (s->video && pl_nack_gen_take_keyframe_need(&s->nack))
        request_keyframe(s, now_us, fb);
    if (s->assembler)
        pop_frames(s, now_us, fb);
    if (s->playout)
        pl_playout_run(s->playout, now_us, play_audio, s);
}

int64_t pl_rxstream_next_due(const pl_rxstream *s, bool nack)
{
    if (!s->active)
        return INT64_MAX;
    int64_t t = nack ? pl_nack_gen_next(&s->nack) : INT64_MAX;
    if (s->assembler && pl_vp8_assembler_next_timeout(s->assembler) < t)
        t = pl_vp8_assembler_next_timeout(s->assembler);
    if (s->playout && pl_playout_next(s->playout) < t)
        t = pl_playout_next(s->playout);
    return t;
}

/* ---- report ------------------------------------------------------------ */

static json_t *delay_json(const pl_delay_hist *h)
{
    if (h->n == 0)
        return json_null();
    return json_pack("{s:I, s:I, s:I, s:I}", "samples", (json_int_t)h->n, "p50",
                     (json_int_t)pl_delay_quantile(h, 0.5), "p99",
                     (json_int_t)pl_delay_quantile(h, 0.99), "max", (json_int_t)h->max_us);
}

static json_t *vcheck_json(const pl_rxstream *s)
{
    pl_vcheck_stats v;
    pl_vcheck_stats_get(s->vcheck, &v);
    json_t *sizes = json_object(); /* "WxH": pictures decoded at that size */
    for (unsigned i = 0; i < v.n_sizes; i++) {
        char wh[32];
        snprintf(wh, sizeof(wh), "%ux%u", v.sizes[i][0], v.sizes[i][1]);
        json_object_set_new(sizes, wh, json_integer(v.sizes[i][2]));
    }
    json_t *o = json_pack(
        "{s:I, s:I, s:I, s:I, s:i, s:b}", "frames", (json_int_t)v.decoded, "corrupt",
        (json_int_t)v.corrupt, "out_of_order", (json_int_t)v.out_of_order, "skipped",
        (json_int_t)v.skipped, "identity", v.identity, "identity_ok",
        s->expected_identity < 0 || (v.identity == s->expected_identity && v.wrong_identity == 0));
    json_object_set_new(o, "decode_errors", json_integer((json_int_t)v.decode_errors));
    json_object_set_new(o, "width", json_integer(v.width));
    json_object_set_new(o, "height", json_integer(v.height));
    json_object_set_new(o, "sizes", sizes);
    json_object_set_new(o, "size_changes", json_integer(v.size_changes));
    if (v.n_disorder) {
        json_t *d = json_array();
        for (unsigned i = 0; i < v.n_disorder; i++)
            json_array_append_new(d, json_pack("[i,i,i,b]", v.disorder[i][0], v.disorder[i][1],
                                               v.disorder[i][2], v.disorder[i][3]));
        json_object_set_new(o, "disorder", d);
    }
    return o;
}

json_t *pl_rxstream_json(const pl_rxstream *s)
{
    const pl_rxstats *st = &s->st;
    uint64_t expected = pl_rxstats_expected(st);
    uint64_t lost = pl_rxstats_lost(st);
    int64_t span = st->last_us - st->first_us;
    json_t *o = json_pack(
        "{s:s, s:s, s:s, s:s, s:s, s:i, s:b, s:I, s:I, s:I, s:f, s:f, s:I, s:I, s:I, s:I, s:I, "
        "s:I, s:I, s:f, s:o, s:I}",
        "kind", s->video ? "video" : "audio", "mid", s->mid, "track_id", s->track_id,
        "participant_id", s->participant_id, "from", s->name, "expected_identity",
        s->expected_identity, "active", s->active, "packets", (json_int_t)st->packets, "expected",
        (json_int_t)expected, "lost", (json_int_t)lost, "loss",
        expected ? (double)lost / (double)expected : 0.0, "jitter_ms", pl_rxstats_jitter_ms(st),
        "frames", (json_int_t)st->frames, "frames_complete", (json_int_t)s->frames_complete,
        "keyframes", (json_int_t)s->keyframes, "nacks_sent", (json_int_t)s->nacks_sent, "plis_sent",
        (json_int_t)s->plis_sent, "freezes", (json_int_t)st->freezes, "freeze_ms",
        (json_int_t)(st->freeze_us / 1000), "seconds", span > 0 ? (double)span / 1e6 : 0.0,
        "delay_us", delay_json(&st->delay), "packets_after_end", (json_int_t)s->packets_after_end);
    json_object_set_new(o, "retransmissions", json_integer((json_int_t)s->retransmissions));
    if (s->video) {
        json_object_set_new(o, "picture_id_gaps", json_integer((json_int_t)s->picture_id_gaps));
        json_object_set_new(o, "tl0picidx_errors", json_integer((json_int_t)s->tl0picidx_errors));
        json_t *sizes = json_object(); /* "WxH": frames completed at that size */
        for (unsigned i = 0; i < s->n_sizes; i++) {
            char wh[32];
            snprintf(wh, sizeof(wh), "%ux%u", s->sizes[i].width, s->sizes[i].height);
            json_object_set_new(sizes, wh, json_integer((json_int_t)s->sizes[i].frames));
        }
        json_object_set_new(o, "frame_sizes", sizes);
        json_object_set_new(
            o, "first_frame_ms",
            json_integer(
                s->first_frame_us ? (json_int_t)((s->first_frame_us - s->started_us) / 1000) : -1));
        json_object_set_new(o, "frames_by_tid",
                            json_pack("[I, I, I, I]", (json_int_t)s->frames_by_tid[0],
                                      (json_int_t)s->frames_by_tid[1],
                                      (json_int_t)s->frames_by_tid[2],
                                      (json_int_t)s->frames_by_tid[3]));
    }
    if (s->playout) {
        const pl_playout *p = s->playout;
        uint64_t turns = p->played + p->fec + p->concealed;
        json_object_set_new(
            o, "playout",
            json_pack("{s:I, s:I, s:I, s:I, s:I, s:f}", "played", (json_int_t)p->played, "fec",
                      (json_int_t)p->fec, "concealed", (json_int_t)p->concealed, "late",
                      (json_int_t)p->late, "stretched_ms", (json_int_t)(p->stretched_us / 1000),
                      "loss_after_repair", turns ? (double)p->concealed / (double)turns : 0.0));
    }
    if (s->vcheck)
        json_object_set_new(o, "decoded", vcheck_json(s));
    if (s->acheck) {
        pl_acheck_stats a;
        pl_acheck_stats_get(s->acheck, &a);
        json_object_set_new(
            o, "decoded",
            json_pack("{s:I, s:I, s:I, s:i, s:f, s:b}", "frames", (json_int_t)a.decoded,
                      "concealed", (json_int_t)a.concealed, "errors", (json_int_t)a.errors,
                      "identity", a.identity, "frequency_hz", a.frequency_hz, "identity_ok",
                      s->expected_identity < 0 || a.identity == s->expected_identity));
    }
    return o;
}
