/* STUN messages (RFC 8489) as ICE uses them (RFC 8445, RFC 7675): pure
 * decode and encode functions over caller buffers. */
#ifndef PARLEY_STUN_H
#define PARLEY_STUN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "parley/buf.h"
#include "parley/common.h"

#ifdef __cplusplus
extern "C" {
#endif

#define PL_STUN_MAGIC 0x2112A442u
#define PL_STUN_HEADER 20
/* Parley never sends or accepts bigger STUN messages; ICE checks are ~100 bytes. */
#define PL_STUN_MAX 1280
#define PL_STUN_MAX_UNKNOWN 8

enum pl_stun_class {
    PL_STUN_REQUEST = 0,
    PL_STUN_INDICATION = 1,
    PL_STUN_SUCCESS = 2,
    PL_STUN_ERROR = 3,
};

enum { PL_STUN_METHOD_BINDING = 0x001 };

enum pl_stun_attr {
    PL_STUN_ATTR_MAPPED_ADDRESS = 0x0001,
    PL_STUN_ATTR_USERNAME = 0x0006,
    PL_STUN_ATTR_MESSAGE_INTEGRITY = 0x0008,
    PL_STUN_ATTR_ERROR_CODE = 0x0009,
    PL_STUN_ATTR_UNKNOWN_ATTRIBUTES = 0x000A,
    PL_STUN_ATTR_REALM = 0x0014,
    PL_STUN_ATTR_NONCE = 0x0015,
    PL_STUN_ATTR_XOR_MAPPED_ADDRESS = 0x0020,
    PL_STUN_ATTR_PRIORITY = 0x0024,
    PL_STUN_ATTR_USE_CANDIDATE = 0x0025,
    PL_STUN_ATTR_SOFTWARE = 0x8022,
    PL_STUN_ATTR_FINGERPRINT = 0x8028,
    PL_STUN_ATTR_ICE_CONTROLLED = 0x8029,
    PL_STUN_ATTR_ICE_CONTROLLING = 0x802A,
};

/* A decoded message: scalar attributes by value, variable ones as views into
 * the datagram (which must outlive the struct). */
typedef struct pl_stun_msg {
    enum pl_stun_class cls;
    uint16_t method;
    uint8_t tid[12];
    const uint8_t *raw;
    size_t raw_len;

    const uint8_t *username;
    size_t username_len;
    const uint8_t *realm;
    size_t realm_len;
    const uint8_t *nonce;
    size_t nonce_len;
    const uint8_t *software;
    size_t software_len;
    bool has_xor_mapped;
    pl_addr xor_mapped;
    bool has_mapped;
    pl_addr mapped;
    bool has_priority;
    uint32_t priority;
    bool use_candidate;
    bool has_controlling;
    uint64_t controlling;
    bool has_controlled;
    uint64_t controlled;
    bool has_error;
    uint16_t error_code; /* class * 100 + number */
    const uint8_t *error_reason;
    size_t error_reason_len;
    /* Offsets of the MESSAGE-INTEGRITY / FINGERPRINT attribute headers. */
    bool has_integrity;
    size_t integrity_at;
    bool has_fingerprint;
    size_t fingerprint_at;
    /* Comprehension-required attributes this decoder does not know. */
    uint16_t unknown[PL_STUN_MAX_UNKNOWN];
    size_t n_unknown;
} pl_stun_msg;

/* Cheap check that a datagram looks like STUN (RFC 8489 section 6):
 * top bits 00, magic cookie, length consistent. */
bool pl_stun_is_stun(const uint8_t *data, size_t len);

/* Decodes and validates structure (header, attribute bounds, padding,
 * nothing after FINGERPRINT, only FINGERPRINT after MESSAGE-INTEGRITY) and
 * checks FINGERPRINT when present. PL_EMALFORMED on any violation. */
int pl_stun_decode(pl_stun_msg *m, const uint8_t *data, size_t len);

/* Verifies MESSAGE-INTEGRITY (HMAC-SHA1) with `key`: the ICE password for
 * short-term credentials. PL_EAUTH on mismatch, PL_ENOTFOUND if absent. */
int pl_stun_check_integrity(const pl_stun_msg *m, const uint8_t *key, size_t key_len);

/* Demultiplexing helper for a server with many transports on one port:
 * copies the part of a Binding request's USERNAME before the colon (the
 * server's own ufrag) into out (NUL-terminated), without checking
 * integrity. PL_ENOTFOUND when there is no usable USERNAME. */
int pl_stun_peek_local_ufrag(const uint8_t *data, size_t len, char *out, size_t cap);

/* Encoding: begin, add attributes, finish. Attributes are padded to 4
 * bytes; finish appends MESSAGE-INTEGRITY (when key is not NULL) and
 * FINGERPRINT, then fixes the header length. */
void pl_stun_begin(pl_wbuf *w, enum pl_stun_class cls, uint16_t method, const uint8_t tid[12]);
void pl_stun_add_bytes(pl_wbuf *w, uint16_t type, const void *data, size_t len);
void pl_stun_add_u32(pl_wbuf *w, uint16_t type, uint32_t v);
void pl_stun_add_u64(pl_wbuf *w, uint16_t type, uint64_t v);
void pl_stun_add_flag(pl_wbuf *w, uint16_t type);
void pl_stun_add_xor_address(pl_wbuf *w, uint16_t type, const uint8_t tid[12], const pl_addr *addr);
void pl_stun_add_error(pl_wbuf *w, uint16_t code, const char *reason);
/* Returns the message length or a negative PL_E* (PL_ENOSPC if it did not fit). */
int pl_stun_finish(pl_wbuf *w, const uint8_t *key, size_t key_len, bool fingerprint);

#ifdef __cplusplus
}
#endif
#endif
