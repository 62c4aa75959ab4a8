/* The signaling core's tables (model.h). */
#include "model.h"

#include <stdio.h>
#include <string.h>

/* ---- connections by key ------------------------------------------------- */

static size_t slot_of(const sig_map *t, uint64_t key)
{
    key ^= key >> 33; /* MurmurHash3's finalizer: ids are sequential */
    key *= 0xff51afd7ed558ccdULL;
    key ^= key >> 33;
    return (size_t)key & (t->cap - 1);
}

static sig_map_slot *map_lookup(const sig_map *t, uint64_t key)
{
    if (!t->cap)
        return NULL;
    for (size_t i = slot_of(t, key);; i = (i + 1) & (t->cap - 1)) {
        sig_map_slot *e = &t->slots[i];
        if (!e->val)
            return NULL;
        if (e->key == key)
            return e;
    }
}

static void map_insert_new(sig_map *t, uint64_t key, void *val)
{
    size_t i = slot_of(t, key);
    while (t->slots[i].val)
        i = (i + 1) & (t->cap - 1);
    t->slots[i] = (sig_map_slot){.key = key, .val = val};
    t->n++;
}

static int map_grow(const pl_env *env, sig_map *t)
{
    size_t cap = t->cap ? 2 * t->cap : 64;
    sig_map_slot *old = t->slots;
    size_t old_cap = t->cap;
    t->slots = pl_env_alloc(env, cap * sizeof(*t->slots));
    if (!t->slots) {
        t->slots = old;
        return PL_ENOMEM;
    }
    t->cap = cap;
    t->n = 0;
    for (size_t i = 0; i < old_cap; i++)
        if (old[i].val)
            map_insert_new(t, old[i].key, old[i].val);
    pl_env_free(env, old);
    return PL_OK;
}

/* A key already present is an error: ids are never shared. */
static int map_put(const pl_env *env, sig_map *t, uint64_t key, void *val)
{
    if (map_lookup(t, key))
        return PL_EINVAL;
    /* Kept at most half full; a failed growth is fine while there is room. */
    if (2 * (t->n + 1) > t->cap && map_grow(env, t) != PL_OK && t->n + 1 >= t->cap)
        return PL_ENOMEM;
    map_insert_new(t, key, val);
    return PL_OK;
}

/* Linear probing without tombstones: the entries after the hole move back
 * when their home slot is not between the hole and them. */
static void map_del(sig_map *t, uint64_t key)
{
    sig_map_slot *e = map_lookup(t, key);
    if (!e)
        return;
    size_t hole = (size_t)(e - t->slots), mask = t->cap - 1;
    t->slots[hole].val = NULL;
    t->n--;
    for (size_t i = (hole + 1) & mask; t->slots[i].val; i = (i + 1) & mask) {
        size_t home = slot_of(t, t->slots[i].key);
        bool stays = hole <= i ? (hole < home && home <= i) : (hole < home || home <= i);
        if (stays)
            continue;
        t->slots[hole] = t->slots[i];
        t->slots[i].val = NULL;
        hole = i;
    }
}

static void *map_get(const sig_map *t, uint64_t key)
{
    const sig_map_slot *e = map_lookup(t, key);
    return e ? e->val : NULL;
}

/* Replaces the value of a key that is present. */
static void map_set(sig_map *t, uint64_t key, void *val)
{
    sig_map_slot *e = map_lookup(t, key);
    if (e)
        e->val = val;
}

static uint64_t name_hash(const char *name)
{
    uint64_t h = 14695981039346656037ULL; /* FNV-1a */
    for (const char *p = name; *p; p++)
        h = (h ^ (uint8_t)*p) * 1099511628211ULL;
    return h;
}

/* ---- the model ------------------------------------------------------------ */

void sig_model_init(sig_model *m, const pl_env *env)
{
    memset(m, 0, sizeof(*m));
    m->env = *env;
}

void sig_model_clear(sig_model *m)
{
    for (size_t i = 0; i < m->by_id.cap; i++)
        if (m->by_id.slots[i].val)
            pl_env_free(&m->env, m->by_id.slots[i].val);
    while (m->detached) {
        conn *c = m->detached;
        m->detached = c->next_detached;
        pl_env_free(&m->env, c);
    }
    while (m->users) {
        sig_user *u = m->users;
        m->users = u->next;
        pl_env_free(&m->env, u);
    }
    while (m->rooms) {
        sig_room *r = m->rooms;
        m->rooms = r->next;
        pl_env_free(&m->env, r);
    }
    pl_env_free(&m->env, m->by_id.slots);
    pl_env_free(&m->env, m->by_transport.slots);
    pl_env_free(&m->env, m->users_by_id.slots);
    pl_env_free(&m->env, m->rooms_by_name.slots);
    sig_model_init(m, &m->env);
}

conn *sig_conn_find(const sig_model *m, uint64_t id)
{
    return map_get(&m->by_id, id);
}

int sig_conn_attach(sig_model *m, conn *c, uint64_t id)
{
    int rc = map_put(&m->env, &m->by_id, id, c);
    if (rc != PL_OK)
        return rc;
    if (c->detached) {
        for (conn **pp = &m->detached; *pp; pp = &(*pp)->next_detached)
            if (*pp == c) {
                *pp = c->next_detached;
                break;
            }
        m->n_detached--;
        c->detached = false;
    }
    c->id = id;
    return PL_OK;
}

void sig_conn_detach(sig_model *m, conn *c)
{
    if (c->detached)
        return;
    map_del(&m->by_id, c->id);
    c->id = 0;
    c->detached = true;
    c->next_detached = m->detached;
    m->detached = c;
    m->n_detached++;
}

void sig_conn_remove(sig_model *m, conn *c)
{
    if (!c->detached) {
        map_del(&m->by_id, c->id);
        return;
    }
    for (conn **pp = &m->detached; *pp; pp = &(*pp)->next_detached)
        if (*pp == c) {
            *pp = c->next_detached;
            m->n_detached--;
            return;
        }
}

size_t sig_conn_count(const sig_model *m)
{
    return m->by_id.n;
}

/* ---- users and rooms: by a hash of their name ------------------------------ */

sig_user *sig_user_find(const sig_model *m, const char *id)
{
    for (sig_user *u = map_get(&m->users_by_id, name_hash(id)); u; u = u->next_same_hash)
        if (strcmp(u->id, id) == 0)
            return u;
    return NULL;
}

/* Puts an entry at the head of its hash chain. */
static int chain_push(sig_model *m, sig_map *t, const char *name, void *entry, void **next)
{
    uint64_t h = name_hash(name);
    *next = map_get(t, h);
    if (*next) {
        map_set(t, h, entry);
        return PL_OK;
    }
    return map_put(&m->env, t, h, entry);
}

int sig_user_add_device(sig_model *m, conn *c, const char *user_id)
{
    sig_user *u = sig_user_find(m, user_id);
    if (!u) {
        u = pl_env_alloc(&m->env, sizeof(*u));
        if (!u)
            return PL_ENOMEM;
        snprintf(u->id, sizeof(u->id), "%s", user_id);
        void *next = NULL;
        if (chain_push(m, &m->users_by_id, u->id, u, &next) != PL_OK) {
            pl_env_free(&m->env, u);
            return PL_ENOMEM;
        }
        u->next_same_hash = next;
        u->next = m->users;
        m->users = u;
        m->n_users++;
    }
    c->user = u;
    c->next_device = u->devices;
    u->devices = c;
    u->n_devices++;
    return PL_OK;
}

void sig_user_remove_device(conn *c)
{
    sig_user *u = c->user;
    if (!u)
        return;
    for (conn **pp = &u->devices; *pp; pp = &(*pp)->next_device)
        if (*pp == c) {
            *pp = c->next_device;
            u->n_devices--;
            return;
        }
}

void sig_user_forget(sig_model *m, sig_user *u)
{
    if (u->devices)
        return;
    uint64_t h = name_hash(u->id);
    sig_user *head = map_get(&m->users_by_id, h);
    if (head != u) {
        for (sig_user *o = head; o; o = o->next_same_hash)
            if (o->next_same_hash == u)
                o->next_same_hash = u->next_same_hash;
    } else if (u->next_same_hash) {
        map_set(&m->users_by_id, h, u->next_same_hash);
    } else {
        map_del(&m->users_by_id, h);
    }
    for (sig_user **pp = &m->users; *pp; pp = &(*pp)->next)
        if (*pp == u) {
            *pp = u->next;
            m->n_users--;
            break;
        }
    pl_env_free(&m->env, u);
}

sig_room *sig_room_find(const sig_model *m, const char *name)
{
    for (sig_room *r = map_get(&m->rooms_by_name, name_hash(name)); r; r = r->next_same_hash)
        if (strcmp(r->name, name) == 0)
            return r;
    return NULL;
}

sig_room *sig_room_create(sig_model *m, const char *name)
{
    sig_room *r = pl_env_alloc(&m->env, sizeof(*r));
    if (!r)
        return NULL;
    snprintf(r->name, sizeof(r->name), "%s", name);
    void *next = NULL;
    if (chain_push(m, &m->rooms_by_name, r->name, r, &next) != PL_OK) {
        pl_env_free(&m->env, r);
        return NULL;
    }
    r->next_same_hash = next;
    r->next = m->rooms;
    m->rooms = r;
    m->n_rooms++;
    return r;
}

void sig_room_add_member(sig_model *m, sig_room *r, conn *c)
{
    c->room = r;
    c->next_member = r->members;
    r->members = c;
    r->n_members++;
    m->n_participants++;
}

void sig_room_remove_member(sig_model *m, conn *c)
{
    sig_room *r = c->room;
    if (!r)
        return;
    for (conn **pp = &r->members; *pp; pp = &(*pp)->next_member)
        if (*pp == c) {
            *pp = c->next_member;
            r->n_members--;
            m->n_participants--;
            break;
        }
    c->room = NULL;
    c->next_member = NULL;
}

void sig_room_forget_if_empty(sig_model *m, sig_room *r)
{
    if (r->members)
        return;
    uint64_t h = name_hash(r->name);
    sig_room *head = map_get(&m->rooms_by_name, h);
    if (head != r) {
        for (sig_room *o = head; o; o = o->next_same_hash)
            if (o->next_same_hash == r)
                o->next_same_hash = r->next_same_hash;
    } else if (r->next_same_hash) {
        map_set(&m->rooms_by_name, h, r->next_same_hash);
    } else {
        map_del(&m->rooms_by_name, h);
    }
    for (sig_room **pp = &m->rooms; *pp; pp = &(*pp)->next)
        if (*pp == r) {
            *pp = r->next;
            m->n_rooms--;
            break;
        }
    pl_env_free(&m->env, r);
}

/* ---- transports ----------------------------------------------------------- */

static void set_transport(sig_model *m, conn *c, uint64_t *field, uint64_t transport)
{
    if (*field)
        map_del(&m->by_transport, *field);
    *field = transport;
    if (transport && map_put(&m->env, &m->by_transport, transport, c) != PL_OK)
        *field = 0;
}

void sig_conn_set_pub_transport(sig_model *m, conn *c, uint64_t transport)
{
    set_transport(m, c, &c->pub_transport, transport);
    c->pub_connected = c->pub_tcp = false;
}

void sig_conn_set_sub_transport(sig_model *m, conn *c, uint64_t transport)
{
    set_transport(m, c, &c->sub_transport, transport);
    c->sub_connected = c->sub_tcp = false;
}

conn *sig_transport_owner(const sig_model *m, uint64_t transport)
{
    return map_get(&m->by_transport, transport);
}
