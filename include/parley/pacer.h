/* The pacer of one subscriber transport: what the relay sends a subscriber
 * leaves at the rate the bandwidth estimate allows, instead of in bursts
 * (a keyframe fanned out at once would overflow a shaped link's queue).
 *
 * - It holds copies of the packets it is given, in a pool of fixed-size
 *   slots allocated at create time, in one FIFO per class. Classes in
 *   priority order: audio, retransmissions (RTX), video, padding.
 * - Audio never waits: it goes as soon as it is pushed, budget or not, and
 *   its bytes count against the budget. A few slots are kept for it, so
 *   video and RTX cannot fill the pool against it.
 * - Retransmissions go before new video (a frame missing a packet holds up
 *   every frame after it) but count against the same budget, and are
 *   bounded: a push is refused when the RTX queue already holds what the
 *   rate sends in `max_rtx_delay_us` (or a quarter of the slots), and a
 *   retransmission that waited longer than `max_rtx_delay_us` is dropped
 *   when its turn comes (it would come too late to be of use). Both are
 *   counted.
 * - Budget: a leaky bucket at the media rate, the estimate times
 *   `pacing_factor`, so that a frame is not held up behind its own size;
 *   paced packets leave in batches at most every `interval_us`, and credit
 *   saved while idle is capped at what the rate sends in `burst_us`.
 * - A backlog (RTX and video) of more than what the estimate sends in
 *   `backlog_us`, a keyframe, goes at the estimate itself, not above it: it
 *   then waits here, where audio passes it, rather than in the bottleneck's
 *   queue, where audio would wait behind it (and where the estimator would
 *   see a queue and cut). A keyframe takes its time through the bottleneck
 *   either way.
 * - Video is never dropped for its age. When a video packet would wait
 *   longer than `max_video_delay_us`, the pacer drains faster: RTX and
 *   video go at the rate that sends each queued video packet (and what is
 *   ahead of it) by then, or within a tenth of it once late. Dropping would
 *   break the frame and every one after it until a keyframe, itself a big
 *   frame that would make the queue longer; a meeting is better served by
 *   a short overshoot that the estimator then sees. Only a full pool
 *   refuses video (PL_ENOSPC, counted): the caller should then ask the
 *   publisher for a keyframe, since the stream has a hole.
 * - Probes: a cluster from the estimator (pl_bwe_probe_poll) starts only
 *   at a frame boundary (no video frame half sent: the last video packet
 *   sent carried the RTP marker), so that it does not split a frame; while
 *   it lasts everything goes at the cluster's rate, media first, padding
 *   where media runs out, each packet tagged with the cluster id. It ends
 *   once its bytes and packet count are sent, or at twice its duration;
 *   one that found no frame boundary within PL_PACER_PROBE_WAIT_US is
 *   dropped (counted). Padding packets are padding-only RTP packets (at
 *   most 255 bytes of padding) on the configured SSRC and payload type,
 *   with sequence numbers of their own; a caller that shares that SSRC with
 *   a retransmission stream may rewrite the sequence number (class
 *   PL_PACER_PADDING) before protecting the packet.
 * - Transport-wide sequence numbers are assigned at poll, one per packet
 *   sent whatever its class, and reported in the output; with `twcc_ext`
 *   set the pacer also writes the extension into the packet (one-byte form,
 *   see pl_pacer_write_twcc), and the size reported and charged is then the
 *   size with it. Give that size, sequence number and cluster id to
 *   pl_bwe_on_sent.
 *
 * Sans-IO: times are arguments; call pl_pacer_poll when
 * pl_pacer_next_timeout is due, and after every push, until PL_EAGAIN. */
#ifndef PARLEY_PACER_H
#define PARLEY_PACER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "parley/bwe.h"
#include "parley/common.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The largest packet the pacer holds (a slot's size). */
#define PL_PACER_PKT_MAX 1500
/* What pl_pacer_write_twcc may add to a packet: an extension block header
 * and one element, padded to a word. */
#define PL_PACER_TWCC_GROWTH 8
/* Defaults (see pl_pacer_config). */
#define PL_PACER_SLOTS 256
#define PL_PACER_AUDIO_SLOTS 16 /* of them kept for audio */
#define PL_PACER_FACTOR 1.5
#define PL_PACER_INTERVAL_US 5000
#define PL_PACER_BURST_US 5000
#define PL_PACER_BACKLOG_US 66000
#define PL_PACER_MAX_VIDEO_DELAY_US 1000000
#define PL_PACER_MAX_RTX_DELAY_US 200000
#define PL_PACER_START_BPS 300000
/* A probe cluster that found no frame boundary this long is dropped. */
#define PL_PACER_PROBE_WAIT_US 500000
/* Padding packets: at most 255 bytes of padding (the RTP padding count is
 * one byte), and at least this many. */
#define PL_PACER_PADDING_MAX 255
#define PL_PACER_PADDING_MIN 32

typedef struct pl_pacer pl_pacer;

/* Classes, in priority order. */
enum pl_pacer_class {
    PL_PACER_AUDIO,
    PL_PACER_RTX,
    PL_PACER_VIDEO,
    PL_PACER_PADDING, /* made by the pacer for probes: never pushed */
    PL_PACER_CLASSES
};

typedef struct pl_pacer_config {
    size_t slots;               /* packets held at most (0: PL_PACER_SLOTS; at least 32) */
    double pacing_factor;       /* media rate = estimate * factor (0: PL_PACER_FACTOR) */
    int64_t interval_us;        /* paced packets leave at most this often (0: default) */
    int64_t burst_us;           /* credit kept while idle (0: default) */
    int64_t backlog_us;         /* a larger backlog goes at the estimate (0: default) */
    int64_t max_video_delay_us; /* beyond it, drain faster (0: default) */
    int64_t max_rtx_delay_us;   /* RTX older is dropped, and the RTX queue's size (0: default) */
    uint64_t start_bps;         /* the estimate until pl_pacer_set_rate (0: default) */
    uint8_t twcc_ext;      /* 1..14: write the transport-wide sequence number; 0: the caller does */
    uint32_t padding_ssrc; /* 0: no padding (probes then carry media only) */
    uint8_t padding_pt;
    /* Bytes each packet costs on the wire beyond its own (IP and UDP
     * headers, the SRTP tag): counted against the rate, in the queues'
     * bytes and in probe clusters, never written. */
    uint16_t packet_overhead;
} pl_pacer_config;

/* One packet that left. */
typedef struct pl_pacer_out {
    enum pl_pacer_class cls;
    size_t len;        /* bytes written to the caller's buffer */
    uint16_t twcc_seq; /* its transport-wide sequence number */
    uint32_t cluster;  /* the probe cluster it belongs to; 0: none */
    int64_t queued_us; /* how long it waited in the pacer (0 for padding) */
    bool marker;       /* as pushed */
} pl_pacer_out;

typedef struct pl_pacer_class_stats {
    size_t queued_packets, queued_bytes; /* now; bytes with the packet overhead */
    int64_t oldest_us;                   /* how long the oldest queued one has waited */
    uint64_t sent_packets, sent_bytes;
    int64_t max_delay_us; /* the longest wait of a packet sent */
    uint64_t refused;     /* pushes refused: pool full (RTX: also its queue full) */
} pl_pacer_class_stats;

typedef struct pl_pacer_stats {
    pl_pacer_class_stats cls[PL_PACER_CLASSES];
    uint64_t media_bps;       /* the estimate times the pacing factor */
    uint64_t rate_bps;        /* the rate in force (raised to drain, or a probe's) */
    uint64_t invalid;         /* pushes refused: not RTP, too big, padding class, no room for
                                 the extension */
    uint64_t rtx_over;        /* RTX refused because the RTX queue held too much */
    uint64_t rtx_expired;     /* RTX dropped for waiting longer than max_rtx_delay_us */
    uint64_t too_big_for_buf; /* dropped at poll: the caller's buffer was too small */
    uint64_t drained_faster;  /* paced packets sent above the media rate to drain */
    uint64_t video_dropped;   /* video packets dropped by pl_pacer_drop_video */
    uint64_t ended_dropped;   /* packets dropped by pl_pacer_drop_ssrc */
    /* Clusters started, sent in full, ended at twice their duration before
     * that, dropped for want of a frame boundary, replaced before starting. */
    uint64_t probes_started, probes_done, probes_cut, probes_expired, probes_replaced;
    uint64_t padding_packets, padding_bytes;
} pl_pacer_stats;

/* cfg may be NULL: every default. NULL when out of memory or cfg invalid. */
pl_pacer *pl_pacer_create(const pl_env *env, const pl_pacer_config *cfg);
void pl_pacer_destroy(pl_pacer *p);

/* The estimate (bit/s): the media rate is this times the pacing factor. */
void pl_pacer_set_rate(pl_pacer *p, uint64_t bps);

/* Queues a copy of an RTP packet (plain, before protection). `marker`: the
 * last packet of a video frame. PL_ENOSPC when it does not fit (pool full,
 * or for RTX the RTX queue's bound), PL_EINVAL or PL_EMALFORMED when it is
 * not an RTP packet of at most PL_PACER_PKT_MAX bytes, or the class is
 * PL_PACER_PADDING, PL_EUNSUPPORTED when the pacer writes the extension and
 * the packet has a two-byte extension block; all counted. */
int pl_pacer_push(pl_pacer *p, int64_t now_us, enum pl_pacer_class cls, const uint8_t *pkt,
                  size_t len, bool marker);

/* A probe cluster to send (from pl_bwe_probe_poll); it replaces one that
 * has not started yet. PL_EINVAL for a cluster without id, rate or
 * duration. */
int pl_pacer_probe(pl_pacer *p, int64_t now_us, const pl_bwe_probe *probe);

/* The next packet due now, written into buf: PL_OK with *out filled,
 * PL_EAGAIN when none is due. A packet that does not fit in cap (with
 * PL_PACER_TWCC_GROWTH bytes to spare when the pacer writes the extension)
 * is dropped with PL_ENOSPC, counted: poll again for the next. */
int pl_pacer_poll(pl_pacer *p, int64_t now_us, pl_pacer_out *out, uint8_t *buf, size_t cap);

/* Drops every queued video packet (counted) and returns how many: for a
 * caller that would rather restart its video streams at a key frame of a
 * smaller layer than send a backlog above the estimate. The next video
 * packet is taken to start a frame. */
size_t pl_pacer_drop_video(pl_pacer *p);

/* Drops every queued packet of RTP stream `ssrc` (counted) and returns how
 * many: for a stream that ended, whose packets must not leave after the
 * end was announced. */
size_t pl_pacer_drop_ssrc(pl_pacer *p, uint32_t ssrc);

/* When to poll next: INT64_MAX when nothing waits; a time at or before the
 * last poll or push means now. */
int64_t pl_pacer_next_timeout(const pl_pacer *p);

void pl_pacer_get_stats(const pl_pacer *p, int64_t now_us, pl_pacer_stats *out);

const char *pl_pacer_class_name(enum pl_pacer_class cls);

/* Writes transport-wide sequence number `seq` as one-byte header extension
 * element `id` (1..14) into an RTP packet of len bytes in a buffer of cap:
 * in place when the packet has the element already, in the free bytes of a
 * one-byte extension block when there are 3, else by growing the block by
 * 4 bytes, or by adding a block of 8 bytes to a packet without one (the
 * payload and padding move back). Returns the new length, PL_ENOSPC when
 * cap is too small, PL_EMALFORMED for a packet that does not parse (or an
 * element `id` of another length), PL_EUNSUPPORTED for a two-byte or other
 * extension profile, PL_EINVAL for a bad id. */
int pl_pacer_write_twcc(uint8_t *pkt, size_t len, size_t cap, uint8_t id, uint16_t seq);

#ifdef __cplusplus
}
#endif
#endif
