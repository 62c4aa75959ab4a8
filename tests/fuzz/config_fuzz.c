/* libFuzzer target: the configuration file (signaling/config.c) through
 * the option table, then --check-config's printing and the cross-option
 * checks of whatever it accepted. Every string it kept must be freed. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "options.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    options o;
    char why[256];
    srv_options_defaults(&o);
    if (srv_config_parse(&o, (const char *)data, size, why, sizeof(why)) == 0 &&
        srv_options_check(&o, why, sizeof(why)) == 0) {
        FILE *f = fopen("/dev/null", "w");
        if (f) {
            srv_options_print(&o, f);
            fclose(f);
        }
    }
    srv_options_free(&o);
    return 0;
}
