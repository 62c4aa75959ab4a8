/* Writes Parley's SDP for browser interop checks (tools/capture-sdp):
 *   sdp_cli answer < offer.sdp   the server's answer to a browser offer
 *   sdp_cli offer                a subscribe offer with one audio and one video track */
#include <stdio.h>
#include <string.h>

#include "parley/sdp.h"

int main(int argc, char **argv)
{
    static char in[PL_SDP_MAX_SIZE + 1], out[PL_SDP_MAX_SIZE];
    pl_sdp_local local = {
        .ice_ufrag = "prly",
        .ice_pwd = "0123456789abcdefghijklmn",
        .fp_alg = "sha-256",
        .fp = "AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:"
              "89:AB:CD:EF:01:23:45:67:89",
        .address = "127.0.0.1",
        .port = 40000,
        .session_id = 4242,
        .version = 1};
    if (argc == 2 && strcmp(argv[1], "answer") == 0) {
        size_t n = fread(in, 1, sizeof(in) - 1, stdin);
        pl_env env = pl_env_default();
        pl_sdp_desc *d = pl_sdp_desc_create(&env);
        if (pl_sdp_parse(d, in, n) != PL_OK) {
            fprintf(stderr, "parse: %s\n", d->error);
            return 1;
        }
        static pl_sdp_accepted acc[PL_SDP_MAX_MEDIA];
        const char *why = NULL;
        int len = pl_sdp_write_answer(d, &local, out, sizeof(out), acc, &why);
        pl_sdp_desc_destroy(&env, d);
        if (len < 0) {
            fprintf(stderr, "answer: %s (%s)\n", pl_strerror(len), why ? why : "");
            return 1;
        }
        fwrite(out, 1, (size_t)len, stdout);
        return 0;
    }
    if (argc == 2 && strcmp(argv[1], "offer") == 0) {
        pl_sdp_offer_section s[] = {
            {"0", PL_SDP_AUDIO, true, "alice", "alice-mic", "alice", 1111, 0},
            {"1", PL_SDP_VIDEO, true, "alice", "alice-cam", "alice", 2222, 3333},
            {"2", PL_SDP_VIDEO, false, NULL, NULL, NULL, 0, 0},
        };
        int len = pl_sdp_write_offer(&local, s, 3, out, sizeof(out));
        if (len < 0)
            return 1;
        fwrite(out, 1, (size_t)len, stdout);
        return 0;
    }
    fprintf(stderr, "usage: sdp_cli answer|offer\n");
    return 2;
}
