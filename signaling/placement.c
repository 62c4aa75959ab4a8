/* Room placement's policy and wire formats (parley/placement.h): pure
 * functions and the Lua text Redis runs; no sockets, no clock. */
#include "parley/placement.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "parley/common.h"

bool pl_place_valid_id(const char *id)
{
    size_t n = id ? strlen(id) : 0;
    if (n < 1 || n > PL_PLACE_ID_MAX)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = id[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-'))
            return false;
    }
    return true;
}

static bool valid_ws_url(const char *u)
{
    size_t n = strlen(u);
    if (n > PL_PLACE_URL_MAX)
        return false;
    size_t scheme = strncmp(u, "ws://", 5) == 0 ? 5 : strncmp(u, "wss://", 6) == 0 ? 6 : 0;
    if (!scheme || n == scheme)
        return false;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)u[i] <= ' ' || u[i] == '"' || u[i] == '\\' || u[i] == 0x7f)
            return false;
    return true;
}

int pl_place_node_format(const pl_place_node *n, char *out, size_t cap)
{
    json_t *o = json_pack("{s:s,s:s,s:s,s:I,s:I,s:I,s:I,s:b}", "id", n->id, "url", n->url, "media",
                          n->media, "rooms", (json_int_t)n->rooms, "participants",
                          (json_int_t)n->participants, "pps", (json_int_t)n->pps, "cpu",
                          (json_int_t)n->cpu_pct, "draining", n->draining);
    if (!o)
        return PL_ENOMEM;
    size_t len = json_dumpb(o, out, cap, JSON_COMPACT);
    json_decref(o);
    if (len == 0 || len >= cap)
        return PL_ENOSPC;
    out[len] = '\0';
    return (int)len;
}

/* A count: a non-negative integer that fits, 0 when absent. */
static bool get_count(json_t *o, const char *key, uint32_t *out)
{
    json_t *v = json_object_get(o, key);
    if (!v) {
        *out = 0;
        return true;
    }
    if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > UINT32_MAX)
        return false;
    *out = (uint32_t)json_integer_value(v);
    return true;
}

int pl_place_node_parse(const char *text, size_t len, pl_place_node *out)
{
    memset(out, 0, sizeof(*out));
    json_t *o = json_loadb(text, len, JSON_REJECT_DUPLICATES, NULL);
    int rc = PL_EMALFORMED;
    if (!json_is_object(o))
        goto out;
    const char *id = json_string_value(json_object_get(o, "id"));
    const char *url = json_string_value(json_object_get(o, "url"));
    const char *media = json_string_value(json_object_get(o, "media"));
    json_t *draining = json_object_get(o, "draining");
    if (!pl_place_valid_id(id) || !url || !valid_ws_url(url) ||
        (media && strlen(media) > PL_PLACE_MEDIA_MAX) || (draining && !json_is_boolean(draining)))
        goto out;
    if (!get_count(o, "rooms", &out->rooms) || !get_count(o, "participants", &out->participants) ||
        !get_count(o, "pps", &out->pps) || !get_count(o, "cpu", &out->cpu_pct))
        goto out;
    snprintf(out->id, sizeof(out->id), "%s", id);
    snprintf(out->url, sizeof(out->url), "%s", url);
    snprintf(out->media, sizeof(out->media), "%s", media ? media : "");
    out->draining = json_is_true(draining);
    rc = PL_OK;
out:
    json_decref(o);
    return rc;
}

int pl_place_public_url(const char *announce, int port, bool tls, char *out, size_t cap)
{
    bool v6 = strchr(announce, ':') != NULL;
    int n = snprintf(out, cap, "%s://%s%s%s:%d/ws", tls ? "wss" : "ws", v6 ? "[" : "", announce,
                     v6 ? "]" : "", port);
    return n < 0 || (size_t)n >= cap ? PL_ENOSPC : n;
}

bool pl_place_less_loaded(const pl_place_node *a, const pl_place_node *b)
{
    if (a->rooms != b->rooms)
        return a->rooms < b->rooms;
    if (a->participants != b->participants)
        return a->participants < b->participants;
    if (a->cpu_pct != b->cpu_pct)
        return a->cpu_pct < b->cpu_pct;
    if (a->pps != b->pps)
        return a->pps < b->pps;
    return strcmp(a->id, b->id) < 0;
}

size_t pl_place_rank(const pl_place_node *nodes, size_t n, size_t *order)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (nodes[i].draining)
            continue;
        /* Insertion: a cluster is a handful of nodes. */
        size_t j = k++;
        while (j > 0 && pl_place_less_loaded(&nodes[i], &nodes[order[j - 1]])) {
            order[j] = order[j - 1];
            j--;
        }
        order[j] = i;
    }
    return k;
}

const char pl_place_claim_script[] =
    "local prefix = ARGV[1]\n"
    "local o = redis.call('GET', KEYS[1])\n"
    "if o then\n"
    "  local rec = redis.call('GET', prefix .. 'node:' .. o)\n"
    "  if rec then return {o, rec} end\n"
    "end\n"
    "local pref = {}\n"
    "for i = 4, #ARGV do pref[ARGV[i]] = i end\n"
    "local best, bestload, bestpref, bestrec\n"
    "for _, id in ipairs(redis.call('SMEMBERS', prefix .. 'nodes')) do\n"
    "  local rec = redis.call('GET', prefix .. 'node:' .. id)\n"
    "  local ok, n = false, nil\n"
    "  if rec then ok, n = pcall(cjson.decode, rec) end\n"
    "  if ok and type(n) == 'table' and n.draining ~= true and id ~= ARGV[3] then\n"
    "    local l = tonumber(redis.call('GET', prefix .. 'load:' .. id) or '0') or 0\n"
    "    local p = pref[id] or 1000000\n"
    "    if not best or l < bestload or (l == bestload and (p < bestpref or\n"
    "        (p == bestpref and id < best))) then\n"
    "      best, bestload, bestpref, bestrec = id, l, p, rec\n"
    "    end\n"
    "  end\n"
    "end\n"
    "if not best then return redis.error_reply('no-node') end\n"
    "redis.call('SET', KEYS[1], best, 'PX', ARGV[2])\n"
    "redis.call('INCR', prefix .. 'load:' .. best)\n"
    "return {best, bestrec}\n";

const char pl_place_renew_script[] =
    "local n = 0\n"
    "for i = 1, #KEYS do\n"
    "  local o = redis.call('GET', KEYS[i])\n"
    "  if o == ARGV[1] then redis.call('PEXPIRE', KEYS[i], ARGV[2]); n = n + 1\n"
    "  elseif not o then redis.call('SET', KEYS[i], ARGV[1], 'PX', ARGV[2]); n = n + 1 end\n"
    "end\n"
    "return n\n";

const char pl_place_release_script[] =
    "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end\n"
    "return 0\n";

int pl_place_decide(const char *self, const char *owner, const char *owner_record, char *url,
                    size_t url_cap)
{
    if (strcmp(self, owner) == 0)
        return PL_PLACE_LOCAL;
    pl_place_node n;
    if (!owner_record || pl_place_node_parse(owner_record, strlen(owner_record), &n) != PL_OK ||
        strcmp(n.id, owner) != 0)
        return PL_EMALFORMED;
    if (strlen(n.url) >= url_cap)
        return PL_ENOSPC;
    snprintf(url, url_cap, "%s", n.url);
    return PL_PLACE_REDIRECT;
}
