/* libFuzzer target: STUN decoding, integrity and the ICE-lite responder. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "parley/ice.h"
#include "parley/stun.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    pl_stun_msg m;
    if (pl_stun_decode(&m, data, size) == PL_OK) {
        pl_stun_check_integrity(&m, (const uint8_t *)"password", 8);
        /* Re-encode what decoded and decode it again. */
        uint8_t out[PL_STUN_MAX];
        pl_wbuf w = pl_wbuf_make(out, sizeof(out));
        pl_stun_begin(&w, m.cls, m.method, m.tid);
        if (m.username)
            pl_stun_add_bytes(&w, PL_STUN_ATTR_USERNAME, m.username, m.username_len);
        if (m.has_xor_mapped)
            pl_stun_add_xor_address(&w, PL_STUN_ATTR_XOR_MAPPED_ADDRESS, m.tid, &m.xor_mapped);
        if (m.has_error)
            pl_stun_add_error(&w, m.error_code, "e");
        int n = pl_stun_finish(&w, (const uint8_t *)"k", 1, true);
        if (n > 0) {
            pl_stun_msg again;
            if (pl_stun_decode(&again, out, (size_t)n) != PL_OK ||
                pl_stun_check_integrity(&again, (const uint8_t *)"k", 1) != PL_OK)
                __builtin_trap();
        }
    }
    char ufrag[64];
    pl_stun_peek_local_ufrag(data, size, ufrag, sizeof(ufrag));

    /* The responder sees the same bytes, as a server would. */
    uint64_t seed;
    pl_env env = pl_env_seeded(&seed, 1);
    pl_ice_config cfg = {.role = PL_ICE_LITE, .ufrag = "evtj", .pwd = "VOkJxbRl1RmTxUk/WvJxBt"};
    pl_ice *ice = pl_ice_create(&env, &cfg);
    pl_addr from;
    pl_addr_set(&from, "192.0.2.1", 5000);
    pl_ice_start(ice, 0);
    pl_ice_handle_stun(ice, 1, &from, data, size);
    uint8_t tx[512];
    pl_addr to;
    while (pl_ice_poll_transmit(ice, tx, sizeof(tx), &to) > 0) {
    }
    pl_ice_destroy(ice);
    return 0;
}
