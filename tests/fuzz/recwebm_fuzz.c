/* libFuzzer target: the recording's WebM writer fed frames cut from the
 * input (1 flag byte: the kind and a pts step, 127 a step back; 2-byte
 * length), after a first byte that says which tracks the file has. It
 * writes to /dev/null: what is fuzzed is the checks of Opus and VP8 headers,
 * the queues and the muxer's handling of what passes them. */
#include <stddef.h>
#include <stdint.h>

#include "parley/common.h"
#include "parley/recwebm.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    bool audio = data[0] & 1, video = data[0] & 2;
    pl_recwebm *w;
    if (pl_recwebm_open("/dev/null", audio || !video, video, &w) != PL_OK)
        return 0;
    int64_t pts[2] = {0, 0};
    size_t pos = 1;
    while (pos + 3 <= size) {
        pl_recwebm_kind kind = data[pos] & 1 ? PL_RECWEBM_VIDEO : PL_RECWEBM_AUDIO;
        unsigned step = data[pos] >> 1;
        size_t len = (size_t)((data[pos + 1] << 8) | data[pos + 2]);
        pos += 3;
        if (len > size - pos)
            len = size - pos;
        pts[kind] += step == 127 ? -5000 : (int64_t)step * 1000;
        int rc = pl_recwebm_write(w, kind, pts[kind], data + pos, len);
        if (rc != PL_OK && rc != PL_EINVAL && rc != PL_EMALFORMED && rc != PL_ESTATE)
            __builtin_trap(); /* /dev/null takes everything */
        pos += len;
    }
    pl_recwebm_stats st;
    pl_recwebm_get_stats(w, &st);
    if (st.os_error != 0)
        __builtin_trap();
    int rc = pl_recwebm_close(w, NULL);
    if (rc != PL_OK && rc != PL_ENOTFOUND)
        __builtin_trap();
    return 0;
}
