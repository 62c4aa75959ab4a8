#include "sigfx.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

static void cap_send(void *user, uint64_t conn, const char *json, size_t len)
{
    box *b = user;
    json_error_t e;
    json_t *m = json_loadb(json, len, 0, &e);
    assert_non_null(m);
    assert_true(b->n[conn] < MAXQ);
    b->q[conn][b->n[conn]++] = m;
}

static void cap_close(void *user, uint64_t conn, int code, const char *reason)
{
    (void)reason;
    ((box *)user)->closed[conn] = code;
}

fx *fx_new(void)
{
    fx *f = calloc(1, sizeof(*f));
    f->env = pl_env_seeded(&f->rs, 5);
    f->now_ms = 1700000000000LL;
    pl_sig_io io = {.user = &f->b, .send = cap_send, .close = cap_close};
    f->sig = pl_sig_create(&f->env, &io, NULL);
    return f;
}

void drain(fx *f, int c)
{
    for (size_t i = 0; i < f->b.n[c]; i++)
        json_decref(f->b.q[c][i]);
    f->b.n[c] = 0;
}

void fx_free(fx *f)
{
    pl_sig_destroy(f->sig);
    for (int c = 0; c < MAXC; c++)
        drain(f, c);
    free(f);
}

void say(fx *f, int c, const char *text)
{
    pl_sig_handle_text(f->sig, (uint64_t)c, f->now_ms, text, strlen(text));
}

json_t *got(fx *f, int c, const char *type)
{
    for (size_t i = f->b.n[c]; i-- > 0;)
        if (strcmp(json_string_value(json_object_get(f->b.q[c][i], "type")), type) == 0)
            return f->b.q[c][i];
    return NULL;
}

const char *str(json_t *m, const char *key)
{
    return json_string_value(json_object_get(m, key));
}

void expect_error(fx *f, int c, const char *code)
{
    json_t *e = got(f, c, "error");
    assert_non_null(e);
    assert_string_equal(str(e, "code"), code);
    assert_non_null(str(e, "message"));
    drain(f, c);
}

void hello(fx *f, int c, const char *name)
{
    assert_int_equal(pl_sig_connect(f->sig, (uint64_t)c), 0);
    char m[128];
    snprintf(m, sizeof(m), "{\"type\":\"hello\",\"name\":\"%s\",\"id\":1}", name);
    say(f, c, m);
    json_t *w = got(f, c, "welcome");
    assert_non_null(w);
    assert_int_equal(json_integer_value(json_object_get(w, "re")), 1);
}
