#include "parley/recmanifest.h"

#include <string.h>

#include <jansson.h>

/* Bumped when a field changes meaning; a reader refuses a newer version
 * rather than misreading it. */
#define MANIFEST_VERSION 1

static const char url_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

static bool is_alnum(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

bool pl_rec_id_valid(const char *s)
{
    if (!s)
        return false;
    size_t i = 0;
    for (; s[i]; i++)
        if (i >= PL_REC_ID_LEN || !(is_alnum(s[i]) || s[i] == '-' || s[i] == '_'))
            return false;
    return i == PL_REC_ID_LEN;
}

bool pl_rec_name_valid(const char *s)
{
    if (!s)
        return false;
    size_t i = 0;
    for (; s[i]; i++)
        if (i >= PL_REC_NAME_MAX || !(is_alnum(s[i]) || strchr("._@+-", s[i])))
            return false;
    return i > 0;
}

bool pl_rec_file_name_valid(const char *s)
{
    /* manifest.json and its temporary are the directory's own, never a
     * recording's file to list or serve. */
    if (!s || !is_alnum(s[0]) || strstr(s, "..") || strncmp(s, "manifest.", 9) == 0)
        return false;
    size_t i = 0;
    for (; s[i]; i++)
        if (i >= PL_REC_FILE_MAX || !(is_alnum(s[i]) || strchr("._-", s[i])))
            return false;
    return true;
}

int pl_rec_id_generate(const pl_env *env, char *id)
{
    uint8_t r[PL_REC_ID_LEN];
    int rc = pl_env_random(env, r, sizeof(r));
    if (rc != PL_OK)
        return rc;
    /* One character per byte, from its low six bits: 132 bits of the
     * random source, without base64's padding arithmetic. */
    for (size_t i = 0; i < PL_REC_ID_LEN; i++)
        id[i] = url_alphabet[r[i] & 63];
    id[PL_REC_ID_LEN] = '\0';
    return PL_OK;
}

const char *pl_rec_kind_name(enum pl_rec_kind k)
{
    return k == PL_REC_MESSAGE ? "message" : "meeting";
}

const char *pl_rec_state_name(enum pl_rec_state s)
{
    switch (s) {
    case PL_REC_FINISHED:
        return "finished";
    case PL_REC_INTERRUPTED:
        return "interrupted";
    default:
        return "recording";
    }
}

void pl_rec_manifest_init(pl_rec_manifest *m)
{
    memset(m, 0, sizeof(*m));
    m->kind = PL_REC_MEETING;
    m->state = PL_REC_RECORDING;
}

void pl_rec_manifest_clear(const pl_env *env, pl_rec_manifest *m)
{
    pl_env_free(env, m->users);
    pl_env_free(env, m->files);
    pl_env_free(env, m->speech);
    pl_rec_manifest_init(m);
}

/* Grows *arr (n elements of `size`) by one, zeroed; the env has no realloc. */
static void *grow(const pl_env *env, void **arr, size_t n, size_t size)
{
    if (n >= ((size_t)1 << 20))
        return NULL; /* far beyond any meeting; refuses a runaway input */
    char *p = pl_env_alloc(env, (n + 1) * size);
    if (!p)
        return NULL;
    if (n)
        memcpy(p, *arr, n * size);
    pl_env_free(env, *arr);
    *arr = p;
    return p + n * size;
}

static bool fits(const char *s, size_t max)
{
    return strnlen(s, max + 1) <= max;
}

pl_rec_file *pl_rec_manifest_file(const pl_rec_manifest *m, const char *name)
{
    for (size_t i = 0; name && i < m->n_files; i++)
        if (strcmp(m->files[i].name, name) == 0)
            return &m->files[i];
    return NULL;
}

static bool utf8_valid(const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    while (*p) {
        size_t n = pl_utf8_seq(p);
        if (!n)
            return false;
        p += n;
    }
    return true;
}

void pl_rec_display_name_set(char *dst, const char *name)
{
    /* Whole characters only: a name cut inside one would not be JSON. */
    pl_utf8_copy(dst, name, PL_REC_DISPLAY_MAX);
}

static bool file_valid(const pl_rec_file *f)
{
    return pl_rec_file_name_valid(f->name) &&
           (f->participant[0] == '\0' || pl_rec_name_valid(f->participant)) &&
           fits(f->display_name, PL_REC_DISPLAY_MAX) && utf8_valid(f->display_name) &&
           (f->kind == PL_REC_FILE_TRACKS || f->kind == PL_REC_FILE_MIX) && f->bytes >= 0;
}

int pl_rec_manifest_add_file(const pl_env *env, pl_rec_manifest *m, const pl_rec_file *f)
{
    if (!file_valid(f))
        return PL_EINVAL;
    pl_rec_file *slot = pl_rec_manifest_file(m, f->name);
    if (!slot) {
        slot = grow(env, (void **)&m->files, m->n_files, sizeof(*slot));
        if (!slot)
            return PL_ENOMEM;
        m->n_files++;
    }
    *slot = *f;
    return PL_OK;
}

int pl_rec_manifest_add_speech(const pl_env *env, pl_rec_manifest *m, const pl_rec_speech *s)
{
    if (!pl_rec_name_valid(s->participant) || s->start_ms < 0 || s->end_ms < s->start_ms)
        return PL_EINVAL;
    pl_rec_speech *slot = grow(env, (void **)&m->speech, m->n_speech, sizeof(*slot));
    if (!slot)
        return PL_ENOMEM;
    *slot = *s;
    m->n_speech++;
    return PL_OK;
}

int pl_rec_manifest_add_user(const pl_env *env, pl_rec_manifest *m, const char *user_id)
{
    if (!pl_rec_name_valid(user_id))
        return PL_EINVAL;
    for (size_t i = 0; i < m->n_users; i++)
        if (strcmp(m->users[i].id, user_id) == 0)
            return PL_OK;
    pl_rec_user *slot = grow(env, (void **)&m->users, m->n_users, sizeof(*slot));
    if (!slot)
        return PL_ENOMEM;
    strcpy(slot->id, user_id);
    m->n_users++;
    return PL_OK;
}

int64_t pl_rec_manifest_bytes(const pl_rec_manifest *m)
{
    int64_t sum = 0;
    for (size_t i = 0; i < m->n_files; i++)
        sum += m->files[i].bytes;
    return sum;
}

bool pl_rec_manifest_may_view(const pl_rec_manifest *m, const char *user, const char *room)
{
    for (size_t i = 0; user && i < m->n_users; i++)
        if (strcmp(m->users[i].id, user) == 0)
            return true;
    return m->room_access && room && m->room[0] && strcmp(m->room, room) == 0;
}

int pl_rec_manifest_copy(const pl_env *env, pl_rec_manifest *dst, const pl_rec_manifest *src)
{
    pl_rec_manifest_clear(env, dst);
    *dst = *src;
    dst->users = NULL;
    dst->files = NULL;
    dst->speech = NULL;
    dst->n_users = dst->n_files = dst->n_speech = 0;
    size_t sizes[3] = {src->n_users * sizeof(pl_rec_user), src->n_files * sizeof(pl_rec_file),
                       src->n_speech * sizeof(pl_rec_speech)};
    void *from[3] = {src->users, src->files, src->speech};
    void **to[3] = {(void **)&dst->users, (void **)&dst->files, (void **)&dst->speech};
    for (int i = 0; i < 3; i++) {
        if (!sizes[i])
            continue;
        *to[i] = pl_env_alloc(env, sizes[i]);
        if (!*to[i]) {
            pl_rec_manifest_clear(env, dst);
            return PL_ENOMEM;
        }
        memcpy(*to[i], from[i], sizes[i]);
    }
    dst->n_users = src->n_users;
    dst->n_files = src->n_files;
    dst->n_speech = src->n_speech;
    return PL_OK;
}

int pl_rec_manifest_check(const pl_rec_manifest *m)
{
    if (!pl_rec_id_valid(m->id) || (m->kind != PL_REC_MEETING && m->kind != PL_REC_MESSAGE))
        return PL_EINVAL;
    if (m->state != PL_REC_RECORDING && m->state != PL_REC_FINISHED &&
        m->state != PL_REC_INTERRUPTED)
        return PL_EINVAL;
    if ((m->room[0] && !pl_rec_name_valid(m->room)) || !pl_rec_name_valid(m->owner))
        return PL_EINVAL;
    if (m->started_ms < 0 || (m->state == PL_REC_RECORDING) != (m->ended_ms == 0) ||
        (m->ended_ms != 0 && m->ended_ms < m->started_ms))
        return PL_EINVAL;
    if (m->kind == PL_REC_MESSAGE) {
        if (!pl_rec_name_valid(m->caller) || !pl_rec_name_valid(m->callee) ||
            (m->call_id[0] && !pl_rec_name_valid(m->call_id)) || !fits(m->call_id, PL_REC_CALL_MAX))
            return PL_EINVAL;
    } else if (m->caller[0] || m->callee[0] || m->call_id[0] || !m->room[0]) {
        return PL_EINVAL;
    }
    for (size_t i = 0; i < m->n_users; i++)
        if (!pl_rec_name_valid(m->users[i].id))
            return PL_EINVAL;
    for (size_t i = 0; i < m->n_files; i++) {
        if (!file_valid(&m->files[i]))
            return PL_EINVAL;
        for (size_t j = 0; j < i; j++)
            if (strcmp(m->files[i].name, m->files[j].name) == 0)
                return PL_EINVAL;
    }
    for (size_t i = 0; i < m->n_speech; i++) {
        const pl_rec_speech *s = &m->speech[i];
        if (!pl_rec_name_valid(s->participant) || s->start_ms < 0 || s->end_ms < s->start_ms)
            return PL_EINVAL;
    }
    return PL_OK;
}

/* ---- JSON ---- */

static int set_new(json_t *obj, const char *key, json_t *v)
{
    return v ? json_object_set_new(obj, key, v) : -1;
}

static json_t *encode(const pl_rec_manifest *m)
{
    json_t *o = json_object(), *users = json_array(), *files = json_array(), *speech = json_array(),
           *access = json_object();
    int bad = !o || !users || !files || !speech || !access;
    for (size_t i = 0; !bad && i < m->n_users; i++)
        bad |= json_array_append_new(users, json_string(m->users[i].id));
    for (size_t i = 0; !bad && i < m->n_files; i++) {
        const pl_rec_file *f = &m->files[i];
        bad |= json_array_append_new(files, json_pack("{s:s, s:s, s:s, s:s, s:I}", "name", f->name,
                                                      "participant", f->participant, "display_name",
                                                      f->display_name, "kind",
                                                      f->kind == PL_REC_FILE_MIX ? "mix" : "tracks",
                                                      "bytes", (json_int_t)f->bytes));
    }
    for (size_t i = 0; !bad && i < m->n_speech; i++) {
        const pl_rec_speech *s = &m->speech[i];
        bad |= json_array_append_new(
            speech, json_pack("{s:s, s:I, s:I}", "participant", s->participant, "start_ms",
                              (json_int_t)s->start_ms, "end_ms", (json_int_t)s->end_ms));
    }
    if (!bad) {
        bad |= set_new(o, "version", json_integer(MANIFEST_VERSION));
        bad |= set_new(o, "id", json_string(m->id));
        bad |= set_new(o, "kind", json_string(pl_rec_kind_name(m->kind)));
        bad |= set_new(o, "state", json_string(pl_rec_state_name(m->state)));
        bad |= set_new(o, "room", json_string(m->room));
        bad |= set_new(o, "owner", json_string(m->owner));
        bad |= set_new(o, "started_ms", json_integer(m->started_ms));
        bad |= set_new(o, "ended_ms", m->ended_ms ? json_integer(m->ended_ms) : json_null());
        if (m->kind == PL_REC_MESSAGE) {
            bad |= set_new(o, "caller", json_string(m->caller));
            bad |= set_new(o, "callee", json_string(m->callee));
            bad |= set_new(o, "call_id", json_string(m->call_id));
        }
        bad |= set_new(access, "users", users);
        users = NULL;
        bad |= set_new(access, "room", json_boolean(m->room_access));
        bad |= set_new(o, "access", access);
        access = NULL;
        bad |= set_new(o, "files", files);
        files = NULL;
        bad |= set_new(o, "speech", speech);
        speech = NULL;
    }
    json_decref(users);
    json_decref(files);
    json_decref(speech);
    json_decref(access);
    if (bad) {
        json_decref(o);
        return NULL;
    }
    return o;
}

int pl_rec_manifest_to_json(const pl_env *env, const pl_rec_manifest *m, char **out, size_t *len)
{
    *out = NULL;
    if (pl_rec_manifest_check(m) != PL_OK)
        return PL_EINVAL;
    json_t *o = encode(m);
    if (!o)
        return PL_ENOMEM;
    size_t n = json_dumpb(o, NULL, 0, JSON_INDENT(1) | JSON_PRESERVE_ORDER);
    char *text = n ? pl_env_alloc(env, n + 2) : NULL;
    if (!text || json_dumpb(o, text, n, JSON_INDENT(1) | JSON_PRESERVE_ORDER) != n) {
        pl_env_free(env, text);
        json_decref(o);
        return PL_ENOMEM;
    }
    json_decref(o);
    text[n] = '\n';
    text[n + 1] = '\0';
    *out = text;
    if (len)
        *len = n + 1;
    return PL_OK;
}

/* Copies a string member into dst[max + 1]; a missing member is "" when
 * optional. false for a wrong type or an over-long string. */
static bool get_str(json_t *o, const char *key, char *dst, size_t max, bool optional)
{
    json_t *v = json_object_get(o, key);
    if (!v)
        return optional;
    if (!json_is_string(v) || json_string_length(v) > max ||
        strlen(json_string_value(v)) != json_string_length(v))
        return false;
    memcpy(dst, json_string_value(v), json_string_length(v) + 1);
    return true;
}

static bool get_int(json_t *o, const char *key, int64_t *dst)
{
    json_t *v = json_object_get(o, key);
    if (!json_is_integer(v) || json_integer_value(v) < 0)
        return false;
    *dst = json_integer_value(v);
    return true;
}

static int decode(const pl_env *env, json_t *o, pl_rec_manifest *m)
{
    char kind[16] = "", state[16] = "";
    json_t *version = json_object_get(o, "version");
    if (!json_is_integer(version) || json_integer_value(version) != MANIFEST_VERSION)
        return PL_EMALFORMED;
    if (!get_str(o, "id", m->id, PL_REC_ID_LEN, false) ||
        !get_str(o, "kind", kind, sizeof(kind) - 1, false) ||
        !get_str(o, "state", state, sizeof(state) - 1, false) ||
        !get_str(o, "room", m->room, PL_REC_NAME_MAX, true) ||
        !get_str(o, "owner", m->owner, PL_REC_NAME_MAX, false) ||
        !get_str(o, "caller", m->caller, PL_REC_NAME_MAX, true) ||
        !get_str(o, "callee", m->callee, PL_REC_NAME_MAX, true) ||
        !get_str(o, "call_id", m->call_id, PL_REC_CALL_MAX, true) ||
        !get_int(o, "started_ms", &m->started_ms))
        return PL_EMALFORMED;
    json_t *ended = json_object_get(o, "ended_ms");
    if (json_is_null(ended))
        m->ended_ms = 0;
    else if (!get_int(o, "ended_ms", &m->ended_ms))
        return PL_EMALFORMED;
    if (strcmp(kind, "meeting") == 0)
        m->kind = PL_REC_MEETING;
    else if (strcmp(kind, "message") == 0)
        m->kind = PL_REC_MESSAGE;
    else
        return PL_EMALFORMED;
    if (strcmp(state, "recording") == 0)
        m->state = PL_REC_RECORDING;
    else if (strcmp(state, "finished") == 0)
        m->state = PL_REC_FINISHED;
    else if (strcmp(state, "interrupted") == 0)
        m->state = PL_REC_INTERRUPTED;
    else
        return PL_EMALFORMED;

    json_t *access = json_object_get(o, "access");
    json_t *users = json_object_get(access, "users");
    json_t *room = json_object_get(access, "room");
    json_t *files = json_object_get(o, "files");
    json_t *speech = json_object_get(o, "speech");
    if (!json_is_array(users) || !json_is_boolean(room) || !json_is_array(files) ||
        !json_is_array(speech))
        return PL_EMALFORMED;
    m->room_access = json_is_true(room);
    size_t i;
    json_t *v;
    json_array_foreach(users, i, v)
    {
        if (!json_is_string(v))
            return PL_EMALFORMED;
        int rc = pl_rec_manifest_add_user(env, m, json_string_value(v));
        if (rc != PL_OK)
            return rc == PL_ENOMEM ? rc : PL_EMALFORMED;
    }
    json_array_foreach(files, i, v)
    {
        pl_rec_file f;
        memset(&f, 0, sizeof(f));
        char fkind[8] = "";
        if (!json_is_object(v) || !get_str(v, "name", f.name, PL_REC_FILE_MAX, false) ||
            !get_str(v, "participant", f.participant, PL_REC_NAME_MAX, true) ||
            !get_str(v, "display_name", f.display_name, PL_REC_DISPLAY_MAX, true) ||
            !get_str(v, "kind", fkind, sizeof(fkind) - 1, false) || !get_int(v, "bytes", &f.bytes))
            return PL_EMALFORMED;
        if (strcmp(fkind, "mix") == 0)
            f.kind = PL_REC_FILE_MIX;
        else if (strcmp(fkind, "tracks") == 0)
            f.kind = PL_REC_FILE_TRACKS;
        else
            return PL_EMALFORMED;
        if (pl_rec_manifest_file(m, f.name))
            return PL_EMALFORMED;
        int rc = pl_rec_manifest_add_file(env, m, &f);
        if (rc != PL_OK)
            return rc == PL_ENOMEM ? rc : PL_EMALFORMED;
    }
    json_array_foreach(speech, i, v)
    {
        pl_rec_speech s;
        memset(&s, 0, sizeof(s));
        if (!json_is_object(v) ||
            !get_str(v, "participant", s.participant, PL_REC_NAME_MAX, false) ||
            !get_int(v, "start_ms", &s.start_ms) || !get_int(v, "end_ms", &s.end_ms))
            return PL_EMALFORMED;
        int rc = pl_rec_manifest_add_speech(env, m, &s);
        if (rc != PL_OK)
            return rc == PL_ENOMEM ? rc : PL_EMALFORMED;
    }
    return pl_rec_manifest_check(m) == PL_OK ? PL_OK : PL_EMALFORMED;
}

int pl_rec_manifest_from_json(const pl_env *env, const char *text, size_t len, pl_rec_manifest *m)
{
    pl_rec_manifest_init(m);
    if (!text)
        return PL_EMALFORMED;
    json_t *o = json_loadb(text, len, JSON_REJECT_DUPLICATES, NULL);
    if (!json_is_object(o)) {
        json_decref(o);
        return PL_EMALFORMED;
    }
    int rc = decode(env, o, m);
    json_decref(o);
    return rc;
}
