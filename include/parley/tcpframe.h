/* RFC 4571 framing, as ICE-TCP (RFC 6544) carries STUN, DTLS and SRTP:
 * every packet is preceded by its length as a 16-bit big-endian number.
 *
 * Sans-IO: the caller reads the stream however it likes and hands the
 * bytes over as they come; the parser yields whole frames, whether a read
 * held many of them, part of one, or a header split in two. A frame that
 * arrives whole within one read is handed out where it lies (no copy);
 * only a frame split across reads is gathered in the parser's own buffer.
 * A length over the bound given at creation is refused: nothing can
 * resynchronise a stream after that, so the parser stays failed and the
 * caller drops the connection. */
#ifndef PARLEY_TCPFRAME_H
#define PARLEY_TCPFRAME_H

#include <stddef.h>
#include <stdint.h>

#include "parley/common.h"

#ifdef __cplusplus
extern "C" {
#endif

#define PL_TCPFRAME_HDR 2
#define PL_TCPFRAME_MAX 65535

typedef struct pl_tcpframe pl_tcpframe;

/* max_len: the longest frame accepted (1..PL_TCPFRAME_MAX); the parser
 * allocates that much once, here. */
pl_tcpframe *pl_tcpframe_create(const pl_env *env, size_t max_len);
void pl_tcpframe_destroy(pl_tcpframe *f);

/* Consumes bytes from *in (advancing *in and decreasing *in_len) until a
 * frame is complete. Returns
 * - PL_OK with *frame and *frame_len set (a length of 0 is a valid, empty
 *   frame): the frame points into the caller's bytes or into the parser's
 *   buffer, is writable, and stays valid until the next call or until the
 *   caller's bytes are reused; call again for the next frame;
 * - PL_EAGAIN when every byte was consumed without completing a frame;
 * - PL_EMALFORMED when a length exceeds max_len (then and on every later
 *   call: the parser has failed). */
int pl_tcpframe_next(pl_tcpframe *f, uint8_t **in, size_t *in_len, uint8_t **frame,
                     size_t *frame_len);

/* Bytes of an incomplete frame held so far (its header included); 0
 * between frames. A caller puts a deadline on a frame that started. */
size_t pl_tcpframe_pending(const pl_tcpframe *f);
/* True once a length was refused. */
bool pl_tcpframe_failed(const pl_tcpframe *f);

/* Writes the header for a frame of `len` bytes; PL_EINVAL above
 * PL_TCPFRAME_MAX. */
int pl_tcpframe_put_header(uint8_t hdr[PL_TCPFRAME_HDR], size_t len);

#ifdef __cplusplus
}
#endif
#endif
