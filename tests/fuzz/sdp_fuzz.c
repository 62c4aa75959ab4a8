/* libFuzzer target: SDP parsing, and answering whatever parses. */
#include <stddef.h>
#include <stdint.h>

#include "parley/sdp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static pl_sdp_desc d;
    static char out[PL_SDP_MAX_SIZE];
    static pl_sdp_accepted acc[PL_SDP_MAX_MEDIA];
    if (pl_sdp_parse(&d, (const char *)data, size) != PL_OK)
        return 0;
    pl_sdp_local local = {.ice_ufrag = "prly",
                          .ice_pwd = "0123456789abcdefghijklmn",
                          .fp_alg = "sha-256",
                          .fp = "AB:CD",
                          .address = "127.0.0.1",
                          .port = 40000,
                          .session_id = 1,
                          .version = 1};
    int n = pl_sdp_write_answer(&d, &local, out, sizeof(out), acc, NULL);
    if (n > 0) {
        /* Parley's own answers must parse. */
        static pl_sdp_desc again;
        if (pl_sdp_parse(&again, out, (size_t)n) != PL_OK)
            __builtin_trap();
    }
    return 0;
}
