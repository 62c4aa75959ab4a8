/* libFuzzer target: a message from another node of a cluster
 * (signaling/busmsg.c). Whatever decodes encodes again to a message that
 * decodes to the same fields. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "busmsg.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    pl_busmsg m;
    if (pl_busmsg_decode((const char *)data, size, &m) != PL_OK)
        return 0;
    char *text = pl_busmsg_encode(&m);
    if (text) {
        pl_busmsg again;
        if (pl_busmsg_decode(text, strlen(text), &again) != PL_OK || again.kind != m.kind ||
            strcmp(again.node, m.node) != 0 || strcmp(again.user, m.user) != 0 ||
            strcmp(again.call_id, m.call_id) != 0 || strcmp(again.word, m.word) != 0 ||
            strcmp(again.name, m.name) != 0 || strcmp(again.topic, m.topic) != 0 ||
            again.end != m.end || !(m.msg ? json_equal(again.msg, m.msg) : !again.msg))
            abort();
        pl_busmsg_clear(&again);
        free(text);
    }
    pl_busmsg_clear(&m);
    return 0;
}
