/* A recorded track's RTP packets turned into whole frames on the
 * recording's timeline. Sans-IO: packets and their arrival times in,
 * frames out, no clock of its own.
 *
 * One pl_recframe per recorded track: Opus audio (48 kHz RTP clock) or VP8
 * video (90 kHz). The relay pushes every decrypted RTP packet of the track
 * (whole packet, header included; RTX already unwrapped, other payload
 * types left out) with its arrival time, then polls until nothing is left.
 * Frames leave in sequence order with a pts in microseconds since the
 * recording's epoch, which every track of a recording shares so that they
 * line up:
 *  - a source (SSRC) is placed on the timeline by its first packet
 *    (arrival - epoch; a later packet that arrives earlier than the RTP
 *    clock predicts moves that anchor earlier: for audio while nothing of
 *    the source has left yet; for video also later, by 50 ms or more, as
 *    an encoder's first frame can be sent long after it was taken),
 *    then follows its RTP clock, so arrival jitter does not
 *    jitter the pts and silences (DTX, mute, paused video) keep their real
 *    length: nothing is invented to fill them;
 *  - when a packet newer than any before it arrives more than
 *    PL_RECFRAME_RESYNC_US away from where the RTP clock puts it, the
 *    source's frames wait while the packets after it tell: the same
 *    disagreement for PL_RECFRAME_CONFIRM_US (a sender whose clock stood
 *    still during a pause, or jumped) places the source again from that
 *    packet's arrival; packets closing in on the clock (a stall whose
 *    packets come late in a burst) keep it, so the burst's frames keep
 *    their places;
 *  - the pts never goes backwards within a track (a frame that would is
 *    given its predecessor's pts, counted as clamped), nor below 0.
 *
 * Sources: a packet of another SSRC than the current source's starts a
 * switch to it (a reconnection, a republish, or the caller choosing another
 * simulcast layer). The current source goes on until the new one yields a
 * frame that can start it (any Opus packet; a VP8 key frame), which takes
 * over at that point of the timeline; so a caller switching layers may
 * feed both layers until pl_recframe_source_ssrc names the new one, then
 * stop feeding the old. Packets of the source just replaced are dropped
 * (counted stale) for PL_RECFRAME_STALE_US, so that its stragglers do not
 * switch back. Feeding two sources for longer makes the output alternate
 * between them at their key frames.
 *
 * Loss: a lost Opus packet is skipped (the next frame says lost_before). A
 * VP8 frame with a packet missing is dropped, and so are the delta frames
 * after it until a key frame: pl_recframe_wants_keyframe says so meanwhile
 * (also at the start and during a switch), and which SSRC to ask.
 *
 * Reordering: Opus packets are held until the ones before them arrived, at
 * most PL_RECFRAME_REORDER_US of arrival time or PL_RECFRAME_HOLD packets;
 * VP8 packets by the frame assembler of parley/vp8.h (a window of
 * PL_VP8_MAX_PACKETS packets, a hole waits up to PL_VP8_WAIT_US for a
 * retransmission). Duplicates and packets behind what already left are
 * dropped and counted. Padding-only packets take a sequence number but
 * are no loss.
 *
 * Memory is fixed at create: at most PL_RECFRAME_HOLD Opus packets or one
 * assembler's window per source, two sources. A payload over
 * PL_RECFRAME_MAX_PAYLOAD bytes is a counted drop, so a VP8 frame is at
 * most PL_VP8_MAX_FRAME bytes. */
#ifndef PARLEY_RECFRAME_H
#define PARLEY_RECFRAME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "parley/common.h"

#ifdef __cplusplus
extern "C" {
#endif

/* RTP payload bytes per packet (the VP8 assembler keeps at most 1400 bytes
 * after the descriptor; an Opus packet is at most 1275 per frame). */
#define PL_RECFRAME_MAX_PAYLOAD 1400
/* Opus packets held for reordering, and for how long at most. */
#define PL_RECFRAME_HOLD 32
#define PL_RECFRAME_REORDER_US 100000
/* Disagreement between the RTP clock and arrival that places a source
 * again. Jitter stays well below it; a paused sender's stopped clock
 * exceeds it. The timeline's error on a track stays below it. */
#define PL_RECFRAME_RESYNC_US 500000
/* How long a disagreement must hold to place a source again. */
#define PL_RECFRAME_CONFIRM_US 100000
/* How long packets of a source just replaced are dropped. */
#define PL_RECFRAME_STALE_US 500000

typedef enum pl_recframe_codec {
    PL_RECFRAME_OPUS, /* 48 kHz RTP clock, one packet is one frame */
    PL_RECFRAME_VP8,  /* 90 kHz, RFC 7741 */
} pl_recframe_codec;

typedef struct pl_recframe_frame {
    const uint8_t *data; /* valid until the next call on this pl_recframe */
    size_t len;
    int64_t pts_us; /* microseconds since the recording's epoch */
    uint32_t ssrc;  /* the source it came from */
    uint32_t rtp_timestamp;
    /* VP8: a key frame. Opus: always true (every packet decodes alone). */
    bool keyframe;
    /* VP8: the picture size of the last key frame, this one's for a key
     * frame (from its header, RFC 6386 9.1). 0 for Opus. */
    uint16_t width, height;
    /* Something of this source was lost or dropped just before it. */
    bool lost_before;
    /* The first frame of a source (the first of the track, or a switch). */
    bool new_source;
    /* Its source was placed again on the timeline since its last frame
     * (a resync, or an earlier arrival): the RTP spacing between the two
     * says nothing of their distance. */
    bool replaced;
} pl_recframe_frame;

typedef struct pl_recframe_stats {
    uint64_t packets;            /* pushed */
    uint64_t frames;             /* handed out */
    uint64_t keyframes;          /* of them, VP8 key frames */
    uint64_t malformed;          /* not RTP, a bad VP8 descriptor or key frame header */
    uint64_t oversized;          /* payload over PL_RECFRAME_MAX_PAYLOAD */
    uint64_t late;               /* behind what already left */
    uint64_t duplicates;         /* already held or handed out */
    uint64_t stale_source;       /* from the source just replaced */
    uint64_t evicted;            /* Opus: no room (no poll between pushes) or held when
                                    the source was replaced or restarted its numbers */
    uint64_t padding;            /* padding-only packets (no media, not a loss) */
    uint64_t lost_packets;       /* Opus: sequence numbers that never came */
    uint64_t incomplete_frames;  /* VP8: frames given up for a missing packet */
    uint64_t undecodable_frames; /* VP8: complete frames dropped waiting for a key frame */
    uint64_t replaced_frames;    /* ready frames of a source left by a switch */
    uint64_t gaps;               /* times the output skipped something lost */
    uint64_t resyncs;            /* a source placed again on the timeline */
    uint64_t earlier;            /* a video source placed earlier after frames of it left */
    uint64_t bursts;             /* disagreements that went away: the clock kept */
    uint64_t source_changes;     /* switches from one source to another */
    uint64_t clamped;            /* pts held up so as not to go backwards */
} pl_recframe_stats;

typedef struct pl_recframe pl_recframe;

/* epoch_us: the recording's time 0, on the clock the arrival times use.
 * NULL for an unknown codec or without memory. */
pl_recframe *pl_recframe_create(pl_recframe_codec codec, int64_t epoch_us);
void pl_recframe_destroy(pl_recframe *rf);

/* One whole RTP packet that arrived at now_us. 0 when taken (or dropped as
 * late, duplicate, stale: counted); PL_EMALFORMED for what does not parse,
 * PL_EUNSUPPORTED for an oversized payload, PL_ENOSPC when the Opus hold
 * is full because poll was not called; all counted. */
int pl_recframe_push(pl_recframe *rf, const uint8_t *pkt, size_t len, int64_t now_us);

/* The next frame: true with *out set, false when none is ready at now_us.
 * Call until false after each push, and when pl_recframe_next_timeout
 * comes. To flush at the end, poll with now_us at least PL_VP8_WAIT_US
 * past the last push: what is still incomplete is then given up. */
bool pl_recframe_poll(pl_recframe *rf, int64_t now_us, pl_recframe_frame *out);

/* When poll has something to decide with no new packet (a hole given up,
 * a resync confirmed): poll then. INT64_MAX when nothing waits. */
int64_t pl_recframe_next_timeout(const pl_recframe *rf);

/* VP8: true while output waits for a key frame (at the start, after a loss,
 * during a switch); *ssrc (may be NULL) the source to ask with a PLI, 0
 * before any packet. Always false for Opus. */
bool pl_recframe_wants_keyframe(const pl_recframe *rf, uint32_t *ssrc);

/* The SSRC frames come from now; 0 before any packet. */
uint32_t pl_recframe_source_ssrc(const pl_recframe *rf);

void pl_recframe_stats_get(const pl_recframe *rf, pl_recframe_stats *out);

#ifdef __cplusplus
}
#endif
#endif
