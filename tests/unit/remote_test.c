/* Two signaling cores as two nodes of a cluster (signaling/remote.c,
 * away.c and calls.c's remote calls), joined by an in-process bus that
 * hands every message to every node, as the pattern subscription does,
 * and an in-process directory. What the e2e suite (cluster-calls) cannot
 * reach with real processes in a short run: a second device of the
 * callee, the device in the call disconnecting, the callee's last device
 * going while it rings, a busy callee the directory did not know of, the
 * caller's node going away, messages that are not messages, and a node
 * writing its users again after an outage. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "sigfx.h"

typedef struct entry {
    pl_sig_peer p;
    bool used;
} entry;

typedef struct net net;
typedef struct node {
    net *n;
    fx *f;
    bool gone; /* hears nothing, and its entries are not listed */
} node;

struct net {
    node nodes[2];
    entry dir[16];
    char *queue[128];
    size_t nq;
};

static int publish(void *user, const char *channel, const char *text)
{
    (void)channel;
    net *n = ((node *)user)->n;
    assert_true(n->nq < 128);
    n->queue[n->nq++] = strdup(text);
    return PL_OK;
}

static entry *find(net *n, const char *id)
{
    for (size_t i = 0; i < 16; i++)
        if (n->dir[i].used && strcmp(n->dir[i].p.id, id) == 0)
            return &n->dir[i];
    return NULL;
}

static int dir_set(void *user, const char *id, const char *name, const char *status)
{
    node *me = user;
    const char *self = me == &me->n->nodes[0] ? "aaaaaaaaaaaaaaaa" : "bbbbbbbbbbbbbbbb";
    entry *e = find(me->n, id);
    if (strcmp(status, "offline") == 0) {
        if (e && strcmp(e->p.node, self) == 0)
            e->used = false;
        return PL_OK;
    }
    for (size_t i = 0; !e && i < 16; i++)
        if (!me->n->dir[i].used)
            e = &me->n->dir[i];
    assert_non_null(e);
    e->used = true;
    snprintf(e->p.id, sizeof(e->p.id), "%s", id);
    snprintf(e->p.name, sizeof(e->p.name), "%s", name);
    snprintf(e->p.status, sizeof(e->p.status), "%s", status);
    snprintf(e->p.node, sizeof(e->p.node), "%s", self);
    return PL_OK;
}

static bool alive(net *n, const char *node_id)
{
    return !(strcmp(node_id, "aaaaaaaaaaaaaaaa") == 0 ? n->nodes[0].gone : n->nodes[1].gone);
}

static int dir_get(void *user, const char *id, pl_sig_peer *out)
{
    net *n = ((node *)user)->n;
    entry *e = find(n, id);
    if (!e || !alive(n, e->p.node))
        return PL_ENOTFOUND;
    *out = e->p;
    return PL_OK;
}

static int dir_each(void *user, void (*fn)(void *arg, const pl_sig_peer *p), void *arg)
{
    net *n = ((node *)user)->n;
    int k = 0;
    for (size_t i = 0; i < 16; i++)
        if (n->dir[i].used && alive(n, n->dir[i].p.node)) {
            fn(arg, &n->dir[i].p);
            k++;
        }
    return k;
}

/* Hands every message published so far (and those they cause) to every
 * node that is still there. */
static void pump(net *n)
{
    for (size_t i = 0; i < n->nq; i++) {
        for (int k = 0; k < 2; k++)
            if (!n->nodes[k].gone)
                pl_sig_handle_bus(n->nodes[k].f->sig, n->nodes[k].f->now, n->queue[i],
                                  strlen(n->queue[i]));
        free(n->queue[i]);
        n->queue[i] = NULL;
    }
    n->nq = 0;
}

static net *net_new(void)
{
    net *n = calloc(1, sizeof(*n));
    for (int k = 0; k < 2; k++) {
        node *me = &n->nodes[k];
        me->n = n;
        me->f = fx_new();
        pl_sig_set_ring_timeout(me->f->sig, 2000);
        pl_sig_cluster cl = {.user = me,
                             .publish = publish,
                             .dir_set = dir_set,
                             .dir_get = dir_get,
                             .dir_each = dir_each};
        snprintf(cl.node, sizeof(cl.node), "%s", k ? "bbbbbbbbbbbbbbbb" : "aaaaaaaaaaaaaaaa");
        pl_sig_set_cluster(me->f->sig, &cl);
    }
    return n;
}

static void net_free(net *n)
{
    for (size_t i = 0; i < n->nq; i++)
        free(n->queue[i]);
    fx_free(n->nodes[0].f);
    fx_free(n->nodes[1].f);
    free(n);
}

/* Connection c of node k says hello as name. */
static void join(net *n, int k, int c, const char *name)
{
    hello(n->nodes[k].f, c, name);
    pump(n);
}

static const char *id_of(net *n, int k, int c)
{
    json_t *w = got(n->nodes[k].f, c, "welcome");
    return str(json_object_get(w, "user"), "id");
}

static const char *presence_of(fx *f, int c, const char *user)
{
    for (size_t i = f->b.n[c]; i-- > 0;) {
        json_t *m = f->b.q[c][i];
        if (strcmp(str(m, "type"), "presence") == 0 &&
            strcmp(str(json_object_get(m, "user"), "id"), user) == 0)
            return str(m, "status");
    }
    return NULL;
}

/* Ada (node A, conn 1) calls Bob (node B): the call id. */
static const char *call(net *n, const char *bob)
{
    fx *a = n->nodes[0].f;
    char m[160];
    snprintf(m, sizeof(m), "{\"type\":\"call\",\"to\":\"%s\",\"id\":7}", bob);
    say(a, 1, m);
    json_t *r = got(a, 1, "call-ringing");
    assert_non_null(r);
    pump(n);
    return str(r, "call_id");
}

static void act(net *n, int k, int c, const char *type, const char *id)
{
    char m[160];
    snprintf(m, sizeof(m), "{\"type\":\"%s\",\"call_id\":\"%s\",\"id\":8}", type, id);
    say(n->nodes[k].f, c, m);
    pump(n);
}

static void test_two_devices_and_the_answering_one_gone(void **state)
{
    (void)state;
    net *n = net_new();
    fx *a = n->nodes[0].f, *b = n->nodes[1].f;
    join(n, 0, 1, "Ada");
    join(n, 0, 2, "Cy"); /* watches from node A */
    join(n, 1, 1, "Bob");
    join(n, 1, 2, "Bob");         /* a second device */
    char bob[PL_AUTH_ID_MAX + 1]; /* kept: the welcome goes with the drains */
    snprintf(bob, sizeof(bob), "%s", id_of(n, 1, 1));
    /* Each node lists the other's users, and hears them come. */
    json_t *online = json_object_get(got(b, 1, "welcome"), "online");
    assert_int_equal(json_array_size(online), 2);
    assert_string_equal(presence_of(a, 1, bob), "online");
    char id[16];
    snprintf(id, sizeof(id), "%s", call(n, bob));
    assert_non_null(got(b, 1, "incoming-call"));
    assert_non_null(got(b, 2, "incoming-call"));
    assert_string_equal(presence_of(a, 2, bob), "ringing");
    act(n, 1, 2, "call-accept", id);
    assert_string_equal(str(got(b, 2, "ok"), "type"), "ok");
    json_t *acc = got(a, 1, "call-accepted");
    assert_non_null(acc);
    assert_null(json_object_get(got(b, 2, "call-accepted"), "elsewhere"));
    assert_true(json_is_true(json_object_get(got(b, 1, "call-accepted"), "elsewhere")));
    assert_string_equal(presence_of(a, 2, bob), "in-call");
    /* A late answer from the other device: the call was answered. */
    act(n, 1, 1, "call-accept", id);
    expect_error(b, 1, "conflict");
    /* Bob's node lets Bob into the call's room name too. */
    char room[80];
    snprintf(room, sizeof(room), "{\"type\":\"join\",\"room\":\"call-%s\",\"id\":9}", id);
    say(b, 2, room);
    assert_non_null(got(b, 2, "joined"));
    /* Leaving it (for another room) hangs up, as on one node. */
    say(b, 2, "{\"type\":\"join\",\"room\":\"elsewhere\",\"id\":10}");
    pump(n);
    assert_string_equal(str(got(a, 1, "call-ended"), "by"), bob);
    assert_string_equal(presence_of(a, 2, bob), "online");
    /* Another call; the device in it goes: it ends, said to everyone. */
    drain(a, 1);
    drain(b, 1);
    drain(b, 2);
    snprintf(id, sizeof(id), "%s", call(n, bob));
    act(n, 1, 2, "call-accept", id);
    assert_non_null(got(a, 1, "call-accepted"));
    drain(a, 1);
    pl_sig_disconnect(b->sig, 2, b->now);
    pump(n);
    json_t *end = got(a, 1, "call-ended");
    assert_non_null(end);
    assert_string_equal(str(end, "reason"), "disconnected");
    assert_string_equal(str(end, "by"), bob);
    assert_non_null(got(b, 1, "call-ended"));
    assert_string_equal(presence_of(a, 2, bob), "online");
    net_free(n);
}

static void test_last_device_gone_while_ringing(void **state)
{
    (void)state;
    net *n = net_new();
    fx *a = n->nodes[0].f, *b = n->nodes[1].f;
    join(n, 0, 1, "Ada");
    join(n, 1, 1, "Bob");
    char bob[PL_AUTH_ID_MAX + 1];
    snprintf(bob, sizeof(bob), "%s", id_of(n, 1, 1));
    call(n, bob);
    pl_sig_disconnect(b->sig, 1, b->now);
    pump(n);
    json_t *m = got(a, 1, "call-missed");
    assert_non_null(m);
    assert_string_equal(str(m, "reason"), "disconnected");
    assert_string_equal(presence_of(a, 1, bob), "offline");
    /* Bob is nowhere now. */
    char text[160];
    snprintf(text, sizeof(text), "{\"type\":\"call\",\"to\":\"%s\",\"id\":3}", bob);
    say(a, 1, text);
    expect_error(a, 1, "not_found");
    net_free(n);
}

static void test_busy_unknown_to_the_directory(void **state)
{
    (void)state;
    net *n = net_new();
    fx *a = n->nodes[0].f, *b = n->nodes[1].f;
    join(n, 0, 1, "Ada");
    join(n, 1, 1, "Bob");
    join(n, 1, 2, "Cy");
    char bob[PL_AUTH_ID_MAX + 1];
    snprintf(bob, sizeof(bob), "%s", id_of(n, 1, 1));
    char text[160];
    snprintf(text, sizeof(text), "{\"type\":\"call\",\"to\":\"%s\",\"id\":3}", bob);
    say(b, 2, text); /* Cy rings Bob on their node */
    pump(n);
    /* The directory has not caught up (a race between nodes). */
    snprintf(find(n, bob)->p.status, sizeof(find(n, bob)->p.status), "online");
    say(a, 1, text);
    pump(n);
    assert_non_null(got(a, 1, "call-busy"));
    /* Bob rang once: for Cy's call, not for Ada's. */
    int rings = 0;
    for (size_t i = 0; i < b->b.n[1]; i++)
        rings += strcmp(str(b->b.q[1][i], "type"), "incoming-call") == 0;
    assert_int_equal(rings, 1);
    net_free(n);
}

static void test_callers_node_gone(void **state)
{
    (void)state;
    net *n = net_new();
    fx *b = n->nodes[1].f;
    join(n, 0, 1, "Ada");
    join(n, 1, 1, "Bob");
    join(n, 1, 2, "Cy");
    char bob[PL_AUTH_ID_MAX + 1];
    snprintf(bob, sizeof(bob), "%s", id_of(n, 1, 1));
    call(n, bob);
    n->nodes[0].gone = true;
    pl_sig_tick(b->sig, fx_after(b, 2000 + 9000));
    assert_null(got(b, 1, "call-missed"));
    pl_sig_tick(b->sig, fx_after(b, 2000 + 10000));
    json_t *m = got(b, 1, "call-missed");
    assert_non_null(m);
    assert_string_equal(str(m, "reason"), "unreachable");
    assert_string_equal(presence_of(b, 2, bob), "online");
    net_free(n);
}

static void test_not_messages(void **state)
{
    (void)state;
    net *n = net_new();
    fx *a = n->nodes[0].f;
    join(n, 0, 1, "Ada");
    static const char *const bad[] = {
        "",
        "{",
        "{\"v\":1,\"t\":\"ring\"}",
        /* A tell for a call nobody here has, an act for one either. */
        "{\"v\":1,\"t\":\"tell\",\"node\":\"cccccccccccccccc\",\"call_id\":\"c1\",\"user\":\"u\","
        "\"msg\":{\"type\":\"call-ended\"},\"end\":true}",
        "{\"v\":1,\"t\":\"act\",\"node\":\"cccccccccccccccc\",\"call_id\":\"c1\",\"user\":\"u\","
        "\"caller\":\"v\",\"action\":\"accept\"}",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        pl_sig_handle_bus(a->sig, a->now, bad[i], strlen(bad[i]));
    /* Ada heard nothing of it. */
    drain(a, 1);
    say(a, 1, "{\"type\":\"missed-ack\",\"call_ids\":[],\"id\":2}");
    assert_int_equal(a->b.n[1], 1);
    net_free(n);
}

/* After an outage the directory may have lost a node's entries: the
 * node writes them again, with its users' status, and says it. */
static void test_refresh(void **state)
{
    (void)state;
    net *n = net_new();
    fx *a = n->nodes[0].f, *b = n->nodes[1].f;
    join(n, 0, 1, "Ada");
    join(n, 1, 1, "Bob");
    say(a, 1, "{\"type\":\"status\",\"status\":\"dnd\",\"id\":2}");
    pump(n);
    char ada[PL_AUTH_ID_MAX + 1];
    snprintf(ada, sizeof(ada), "%s", id_of(n, 0, 1));
    memset(n->dir, 0, sizeof(n->dir));
    drain(b, 1);
    pl_sig_cluster_refresh(a->sig);
    pump(n);
    assert_non_null(find(n, ada));
    assert_string_equal(find(n, ada)->p.status, "dnd");
    assert_string_equal(presence_of(b, 1, ada), "dnd");
    net_free(n);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_two_devices_and_the_answering_one_gone),
        cmocka_unit_test(test_last_device_gone_while_ringing),
        cmocka_unit_test(test_busy_unknown_to_the_directory),
        cmocka_unit_test(test_callers_node_gone),
        cmocka_unit_test(test_not_messages),
        cmocka_unit_test(test_refresh),
    };
    return cmocka_run_group_tests_name("remote", tests, NULL, NULL);
}
