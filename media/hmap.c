#include "parley/hmap.h"

#include <stdbool.h>
#include <string.h>

typedef struct slot {
    const uint8_t *key; /* NULL: empty */
    size_t len;
    uint64_t hash;
    void *value;
} slot;

struct pl_hmap {
    pl_env env;
    slot *slots;
    size_t cap; /* a power of two */
    size_t count;
};

/* FNV-1a, 64-bit, then a final mix so that keys differing only in their
 * last bytes (ids, ports) spread over the low bits used as the index. */
static uint64_t hash_of(const void *key, size_t len)
{
    const uint8_t *p = key;
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < len; i++)
        h = (h ^ p[i]) * 1099511628211ull;
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 33;
    return h;
}

pl_hmap *pl_hmap_create(const pl_env *env)
{
    pl_hmap *m = pl_env_alloc(env, sizeof(*m));
    if (!m)
        return NULL;
    m->env = *env;
    m->cap = 16;
    m->slots = pl_env_alloc(env, m->cap * sizeof(*m->slots));
    if (!m->slots) {
        pl_env_free(env, m);
        return NULL;
    }
    return m;
}

void pl_hmap_destroy(pl_hmap *m)
{
    if (!m)
        return;
    pl_env_free(&m->env, m->slots);
    pl_env_free(&m->env, m);
}

static size_t find(const pl_hmap *m, const void *key, size_t len, uint64_t h, bool *found)
{
    size_t mask = m->cap - 1;
    for (size_t i = (size_t)h & mask;; i = (i + 1) & mask) {
        const slot *s = &m->slots[i];
        if (!s->key) {
            *found = false;
            return i;
        }
        if (s->hash == h && s->len == len && memcmp(s->key, key, len) == 0) {
            *found = true;
            return i;
        }
    }
}

static int grow(pl_hmap *m)
{
    size_t cap = m->cap * 2;
    slot *fresh = pl_env_alloc(&m->env, cap * sizeof(*fresh));
    if (!fresh)
        return PL_ENOMEM;
    for (size_t i = 0; i < m->cap; i++) {
        const slot *s = &m->slots[i];
        if (!s->key)
            continue;
        size_t k = (size_t)s->hash & (cap - 1);
        while (fresh[k].key)
            k = (k + 1) & (cap - 1);
        fresh[k] = *s;
    }
    pl_env_free(&m->env, m->slots);
    m->slots = fresh;
    m->cap = cap;
    return PL_OK;
}

int pl_hmap_put(pl_hmap *m, const void *key, size_t len, void *value)
{
    /* At most half full: probes stay short. */
    if ((m->count + 1) * 2 > m->cap && grow(m) != PL_OK)
        return PL_ENOMEM;
    uint64_t h = hash_of(key, len);
    bool found;
    size_t i = find(m, key, len, h, &found);
    if (!found)
        m->count++;
    m->slots[i] = (slot){.key = key, .len = len, .hash = h, .value = value};
    return PL_OK;
}

void *pl_hmap_get(const pl_hmap *m, const void *key, size_t len)
{
    bool found;
    size_t i = find(m, key, len, hash_of(key, len), &found);
    return found ? m->slots[i].value : NULL;
}

void *pl_hmap_remove(pl_hmap *m, const void *key, size_t len, const void *value)
{
    bool found;
    size_t i = find(m, key, len, hash_of(key, len), &found);
    if (!found || (value && m->slots[i].value != value))
        return NULL;
    void *was = m->slots[i].value;
    /* Backward shift: move later entries of the probe run into the hole,
     * so lookups never need tombstones. */
    size_t mask = m->cap - 1;
    size_t hole = i;
    for (size_t j = (i + 1) & mask; m->slots[j].key; j = (j + 1) & mask) {
        size_t home = (size_t)m->slots[j].hash & mask;
        /* j may move to the hole when its home is not in (hole, j]. */
        bool stays = hole <= j ? (home > hole && home <= j) : (home > hole || home <= j);
        if (!stays) {
            m->slots[hole] = m->slots[j];
            hole = j;
        }
    }
    m->slots[hole] = (slot){0};
    m->count--;
    return was;
}
