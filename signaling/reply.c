#include "reply.h"

json_t *sig_reply(const char *type, json_t *re)
{
    json_t *m = json_pack("{s:s}", "type", type);
    if (re)
        json_object_set(m, "re", re);
    return m;
}

json_t *sig_publish_layers_json(const char *track_id, const pl_track *t, uint8_t layers)
{
    json_t *active = json_array();
    for (size_t k = 0; k < t->n_layers && k < PL_MAX_LAYERS; k++)
        if (layers >> k & 1)
            json_array_append_new(active, json_string(t->layers[k].rid));
    return json_pack("{s:s,s:s,s:o}", "type", "publish-layers", "track_id", track_id, "active",
                     active);
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
