/* libFuzzer target: a recording's manifest.json. Text that parses must
 * pass the manifest's checks, write back to JSON, and read back to the
 * same text; nothing else may crash or leak. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "parley/common.h"
#include "parley/recmanifest.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint64_t seed;
    pl_env env = pl_env_seeded(&seed, 1);
    pl_rec_manifest m, back;
    int rc = pl_rec_manifest_from_json(&env, (const char *)data, size, &m);
    if (rc == PL_OK) {
        char *text, *again;
        size_t len, len2;
        if (pl_rec_manifest_check(&m) != PL_OK ||
            pl_rec_manifest_to_json(&env, &m, &text, &len) != PL_OK)
            __builtin_trap();
        if (pl_rec_manifest_from_json(&env, text, len, &back) != PL_OK ||
            pl_rec_manifest_to_json(&env, &back, &again, &len2) != PL_OK || len != len2 ||
            memcmp(text, again, len) != 0)
            __builtin_trap();
        pl_env_free(&env, text);
        pl_env_free(&env, again);
        pl_rec_manifest_clear(&env, &back);
    } else if (rc != PL_EMALFORMED && rc != PL_ENOMEM) {
        __builtin_trap();
    }
    pl_rec_manifest_clear(&env, &m);
    return 0;
}
