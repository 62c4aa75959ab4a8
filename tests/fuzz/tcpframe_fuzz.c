/* libFuzzer target: RFC 4571 framing (ICE-TCP). The input is a stream; it
 * is parsed whole, then again in reads whose sizes come from the input
 * itself, and both must give the same frames and fail at the same length. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "parley/tcpframe.h"

#define MAXLEN 1500
#define MAX_FRAMES 4096

typedef struct {
    size_t n;
    size_t off[MAX_FRAMES], len[MAX_FRAMES]; /* frames, as offsets into the stream */
    bool failed;
} result;

/* Reads of sizes 1..64 taken in turn from `sizes`. */
static void parse(const uint8_t *data, size_t size, const uint8_t *sizes, size_t n_sizes, result *r)
{
    uint64_t seed;
    pl_env env = pl_env_seeded(&seed, 1);
    pl_tcpframe *f = pl_tcpframe_create(&env, MAXLEN);
    if (!f)
        __builtin_trap();
    memset(r, 0, sizeof(*r));
    uint8_t *copy = malloc(size ? size : 1);
    memcpy(copy, data, size);
    size_t pos = 0, k = 0, consumed = 0;
    while (pos < size && !r->failed) {
        size_t chunk = n_sizes ? (size_t)(sizes[k++ % n_sizes] % 64) + 1 : size;
        if (chunk > size - pos)
            chunk = size - pos;
        uint8_t *in = copy + pos, *frame;
        size_t in_len = chunk, flen;
        pos += chunk;
        for (;;) {
            size_t before = in_len;
            int rc = pl_tcpframe_next(f, &in, &in_len, &frame, &flen);
            consumed += before - in_len;
            if (rc == PL_EMALFORMED) {
                r->failed = true;
                break;
            }
            if (rc == PL_EAGAIN) {
                if (in_len != 0)
                    __builtin_trap();
                break;
            }
            if (flen > MAXLEN || consumed < flen || r->n == MAX_FRAMES)
                __builtin_trap();
            /* The frame's bytes are the stream's, wherever they are held. */
            if (memcmp(frame, data + consumed - flen, flen) != 0)
                __builtin_trap();
            r->off[r->n] = consumed - flen;
            r->len[r->n] = flen;
            r->n++;
        }
    }
    free(copy);
    pl_tcpframe_destroy(f);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static result whole, split;
    parse(data, size, NULL, 0, &whole);
    parse(data, size, data, size < 16 ? size : 16, &split);
    if (whole.n != split.n || whole.failed != split.failed)
        __builtin_trap();
    for (size_t i = 0; i < whole.n; i++)
        if (whole.off[i] != split.off[i] || whole.len[i] != split.len[i])
            __builtin_trap();
    return 0;
}
