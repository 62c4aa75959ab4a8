#include "reply.h"

json_t *sig_reply(const char *type, json_t *re)
{
    json_t *m = json_pack("{s:s}", "type", type);
    if (re)
        json_object_set(m, "re", re);
    return m;
}

long sig_printable_chars(const char *t)
{
    long n = 0;
    for (const unsigned char *p = (const unsigned char *)t; *p; p++) {
        if (*p < 0x20 || *p == 0x7f)
            return -1;
        if ((*p & 0xc0) != 0x80)
            n++;
    }
    return n;
}

long sig_utf8_chars(const char *t)
{
    long n = 0;
    for (const unsigned char *p = (const unsigned char *)t; *p; p++)
        if ((*p & 0xc0) != 0x80)
            n++;
    return n;
}
