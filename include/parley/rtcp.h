/* Compound RTCP (RFC 3550) and the feedback messages WebRTC uses: generic
 * NACK (RFC 4585), PLI (RFC 4585), FIR (RFC 5104), REMB
 * (draft-alvestrand-rmcat-remb) and transport-wide congestion control
 * feedback (draft-holmer-rmcat-transport-wide-cc-extensions). Parsing walks a
 * compound packet one sub-packet at a time into bounded structs; builders
 * append sub-packets to a pl_wbuf. */
#ifndef PARLEY_RTCP_H
#define PARLEY_RTCP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "parley/buf.h"

#ifdef __cplusplus
extern "C" {
#endif

#define PL_RTCP_MAX_REPORTS 31
#define PL_RTCP_MAX_SDES 31
#define PL_RTCP_MAX_NACK 128
#define PL_RTCP_MAX_FIR 32
#define PL_RTCP_MAX_REMB_SSRCS 32
#define PL_RTCP_MAX_TWCC 2048

enum pl_rtcp_type {
    PL_RTCP_SR = 200,
    PL_RTCP_RR = 201,
    PL_RTCP_SDES = 202,
    PL_RTCP_BYE = 203,
    PL_RTCP_APP = 204,
    PL_RTCP_RTPFB = 205,
    PL_RTCP_PSFB = 206,
};

/* What a sub-packet decoded to. */
enum pl_rtcp_kind {
    PL_RTCP_K_SR,
    PL_RTCP_K_RR,
    PL_RTCP_K_SDES,
    PL_RTCP_K_BYE,
    PL_RTCP_K_NACK,
    PL_RTCP_K_TWCC,
    PL_RTCP_K_PLI,
    PL_RTCP_K_FIR,
    PL_RTCP_K_REMB,
    PL_RTCP_K_OTHER, /* well-formed but not decoded (APP, other FMTs, XR, ...) */
};

typedef struct pl_rtcp_report {
    uint32_t ssrc;
    uint8_t fraction_lost;
    int32_t cumulative_lost; /* 24-bit signed */
    uint32_t highest_seq;
    uint32_t jitter;
    uint32_t lsr;
    uint32_t dlsr;
} pl_rtcp_report;

typedef struct pl_rtcp_sr {
    uint32_t ssrc;
    uint64_t ntp; /* 32.32 fixed point */
    uint32_t rtp_ts;
    uint32_t packet_count;
    uint32_t octet_count;
    size_t n_reports;
    pl_rtcp_report reports[PL_RTCP_MAX_REPORTS];
} pl_rtcp_sr;

typedef struct pl_rtcp_rr {
    uint32_t ssrc;
    size_t n_reports;
    pl_rtcp_report reports[PL_RTCP_MAX_REPORTS];
} pl_rtcp_rr;

typedef struct pl_rtcp_sdes {
    size_t n_chunks;
    struct {
        uint32_t ssrc;
        char cname[256]; /* empty when the chunk has no CNAME */
    } chunks[PL_RTCP_MAX_SDES];
} pl_rtcp_sdes;

typedef struct pl_rtcp_bye {
    size_t n_ssrcs;
    uint32_t ssrcs[31];
    char reason[256];
} pl_rtcp_bye;

typedef struct pl_rtcp_nack_item {
    uint16_t pid; /* first lost sequence number */
    uint16_t blp; /* bit i set: pid + i + 1 lost too */
} pl_rtcp_nack_item;

typedef struct pl_rtcp_nack {
    uint32_t sender_ssrc, media_ssrc;
    size_t n_items;
    pl_rtcp_nack_item items[PL_RTCP_MAX_NACK];
} pl_rtcp_nack;

typedef struct pl_rtcp_twcc_packet {
    uint16_t seq;
    bool received;
    int64_t delta_us; /* receive time minus the previous one (or the reference time) */
} pl_rtcp_twcc_packet;

typedef struct pl_rtcp_twcc {
    uint32_t sender_ssrc, media_ssrc;
    uint16_t base_seq;
    int32_t reference_time; /* 24-bit signed, units of 64 ms */
    uint8_t fb_count;
    size_t n_packets;
    pl_rtcp_twcc_packet packets[PL_RTCP_MAX_TWCC];
} pl_rtcp_twcc;

typedef struct pl_rtcp_pli {
    uint32_t sender_ssrc, media_ssrc;
} pl_rtcp_pli;

typedef struct pl_rtcp_fir {
    uint32_t sender_ssrc;
    size_t n_entries;
    struct {
        uint32_t ssrc;
        uint8_t seq;
    } entries[PL_RTCP_MAX_FIR];
} pl_rtcp_fir;

typedef struct pl_rtcp_remb {
    uint32_t sender_ssrc;
    uint64_t bitrate_bps;
    size_t n_ssrcs;
    uint32_t ssrcs[PL_RTCP_MAX_REMB_SSRCS];
} pl_rtcp_remb;

typedef struct pl_rtcp_packet {
    enum pl_rtcp_kind kind;
    uint8_t type; /* packet type byte */
    uint8_t fmt;  /* report count / feedback message type */
    union {
        pl_rtcp_sr sr;
        pl_rtcp_rr rr;
        pl_rtcp_sdes sdes;
        pl_rtcp_bye bye;
        pl_rtcp_nack nack;
        pl_rtcp_twcc twcc;
        pl_rtcp_pli pli;
        pl_rtcp_fir fir;
        pl_rtcp_remb remb;
    } u;
} pl_rtcp_packet;

/* Checks the framing of a whole compound packet (RFC 3550 6.4 / A.2):
 * version 2 everywhere, lengths tile the datagram, padding only on the last
 * sub-packet. Reduced-size RTCP (RFC 5506) is accepted. */
int pl_rtcp_validate(const uint8_t *data, size_t len);

typedef struct pl_rtcp_iter {
    pl_rbuf r;
} pl_rtcp_iter;

void pl_rtcp_iter_init(pl_rtcp_iter *it, const uint8_t *data, size_t len);
/* 1 with *out filled, 0 at the end, PL_EMALFORMED for a bad sub-packet
 * (iteration must stop then). */
int pl_rtcp_next(pl_rtcp_iter *it, pl_rtcp_packet *out);

/* Expands a NACK into the lost sequence numbers; returns how many were
 * written (at most cap). */
size_t pl_rtcp_nack_lost(const pl_rtcp_nack *n, uint16_t *out, size_t cap);
/* Packs lost sequence numbers (ascending modulo 2^16) into the fewest
 * pid+blp items; returns the number of items. */
size_t pl_rtcp_nack_pack(const uint16_t *lost, size_t n, pl_rtcp_nack_item *items, size_t cap);

/* Builders: each appends one sub-packet; check pl_wbuf_ok afterwards. */
void pl_rtcp_write_sr(pl_wbuf *w, const pl_rtcp_sr *sr);
void pl_rtcp_write_rr(pl_wbuf *w, const pl_rtcp_rr *rr);
void pl_rtcp_write_sdes(pl_wbuf *w, const pl_rtcp_sdes *sdes);
void pl_rtcp_write_bye(pl_wbuf *w, const pl_rtcp_bye *bye);
void pl_rtcp_write_nack(pl_wbuf *w, const pl_rtcp_nack *nack);
void pl_rtcp_write_twcc(pl_wbuf *w, const pl_rtcp_twcc *twcc);
void pl_rtcp_write_pli(pl_wbuf *w, const pl_rtcp_pli *pli);
void pl_rtcp_write_fir(pl_wbuf *w, const pl_rtcp_fir *fir);
void pl_rtcp_write_remb(pl_wbuf *w, const pl_rtcp_remb *remb);

#ifdef __cplusplus
}
#endif
#endif
