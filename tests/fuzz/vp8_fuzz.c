/* libFuzzer target: the VP8 payload descriptor and the frame assembler fed
 * a stream of packets cut from the input (2-byte length, 2-byte sequence
 * number, 1 flag byte: marker and a timestamp step). */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "parley/common.h"
#include "parley/vp8.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    pl_vp8_desc d;
    if (pl_vp8_parse_descriptor(data, size, &d) == PL_OK && d.header_len >= size)
        __builtin_trap();
    pl_vp8_assembler *a = pl_vp8_assembler_create(size % 2 == 0);
    if (!a)
        return 0;
    uint32_t ts = 0;
    size_t pos = 0;
    while (pos + 5 <= size) {
        size_t len = (size_t)((data[pos] << 8) | data[pos + 1]) % 1500;
        uint16_t seq = (uint16_t)((data[pos + 2] << 8) | data[pos + 3]);
        uint8_t flags = data[pos + 4];
        pos += 5;
        if (len > size - pos)
            len = size - pos;
        ts += (uint32_t)(flags >> 1) * 3000u;
        pl_vp8_frame f;
        int64_t now = (int64_t)ts * 11;
        pl_vp8_assembler_push(a, seq, ts, flags & 1, data + pos, len, now);
        while (pl_vp8_assembler_pop(a, now, &f) == 1) {
            if (f.data && f.len > PL_VP8_MAX_FRAME)
                __builtin_trap();
            if (f.data)
                for (size_t i = 0; i < f.len; i++) /* the frame is readable */
                    (void)*(volatile const uint8_t *)&f.data[i];
        }
        pos += len;
    }
    pl_vp8_assembler_destroy(a);
    return 0;
}
