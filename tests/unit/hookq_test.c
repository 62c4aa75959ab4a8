/* The webhook queue's policy on a virtual clock (milliseconds): a receiver
 * that is up, one that is down and comes back, one that never does (the
 * backoff's cap), a queue that overflows, and a receiver that refuses. The
 * receiver here answers each attempt after `latency_ms`, the way the sender
 * thread reports an HTTP exchange. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "parley/hookq.h"

typedef struct rx {
    int64_t up_at;      /* attempts before this fail (connection refused) */
    int64_t latency_ms; /* each answer takes this long */
    int refuse_body;    /* -1, or the event number it refuses with a 400 */
    int64_t attempts[64];
    size_t n_attempts;
    int got[64]; /* event numbers delivered, in order */
    size_t n_got;
} rx;

static pl_hookq *make(size_t capacity)
{
    pl_env env = pl_env_default();
    pl_hookq_config cfg = {capacity, PL_HOOKQ_BACKOFF_MIN_MS, PL_HOOKQ_BACKOFF_MAX_MS};
    pl_hookq *q;
    assert_int_equal(pl_hookq_create(&env, &cfg, &q), PL_OK);
    return q;
}

static void push(pl_hookq *q, int n)
{
    char body[32];
    int len = snprintf(body, sizeof(body), "{\"seq\":%d}", n);
    assert_int_equal(pl_hookq_push(q, body, (size_t)len), PL_OK);
}

/* Runs the sender from *now until nothing is due before `until`. */
static void run(pl_hookq *q, rx *r, int64_t *now, int64_t until)
{
    for (;;) {
        int64_t wait = pl_hookq_next_timeout(q, *now);
        if (wait < 0 || *now + wait > until)
            return;
        *now += wait;
        size_t len;
        const char *body = pl_hookq_poll(q, *now, &len);
        assert_non_null(body);
        assert_int_equal(pl_hookq_next_timeout(q, *now), -1); /* one in flight at a time */
        assert_null(pl_hookq_poll(q, *now, &len));
        int n = atoi(body + strlen("{\"seq\":"));
        assert_true(r->n_attempts < 64);
        r->attempts[r->n_attempts++] = *now;
        *now += r->latency_ms;
        if (*now < r->up_at) {
            pl_hookq_done(q, PL_HOOKQ_FAILED, *now);
        } else if (n == r->refuse_body) {
            pl_hookq_done(q, PL_HOOKQ_REFUSED, *now);
        } else {
            r->got[r->n_got++] = n;
            pl_hookq_done(q, PL_HOOKQ_DELIVERED, *now);
        }
    }
}

static void test_in_order(void **state)
{
    (void)state;
    pl_hookq *q = make(100);
    rx r = {.latency_ms = 20, .refuse_body = -1};
    int64_t now = 0;
    assert_int_equal(pl_hookq_next_timeout(q, now), -1);
    for (int i = 1; i <= 5; i++)
        push(q, i);
    run(q, &r, &now, 10000);
    assert_int_equal(r.n_got, 5);
    for (int i = 0; i < 5; i++)
        assert_int_equal(r.got[i], i + 1);
    assert_int_equal(now, 100); /* back to back, one at a time */
    pl_hookq_stats st;
    pl_hookq_stats_get(q, &st);
    assert_int_equal(st.delivered, 5);
    assert_int_equal(st.retried, 0);
    assert_int_equal(st.queued, 0);
    pl_hookq_destroy(q);
}

/* Down for 10 s: retried after 0.5, 1, 2, 4 and 8 s; the sixth attempt
 * finds it up, and what queued meanwhile follows at once, in order. */
static void test_down_then_back(void **state)
{
    (void)state;
    pl_hookq *q = make(100);
    rx r = {.up_at = 10000, .refuse_body = -1};
    int64_t now = 0;
    push(q, 1);
    run(q, &r, &now, 3000);
    push(q, 2);
    push(q, 3);
    pl_hookq_stats st;
    pl_hookq_stats_get(q, &st);
    assert_int_equal(st.queued, 3);
    run(q, &r, &now, 60000);
    const int64_t want[] = {0, 500, 1500, 3500, 7500, 15500, 15500, 15500};
    assert_int_equal(r.n_attempts, 8);
    for (size_t i = 0; i < 8; i++)
        assert_int_equal(r.attempts[i], want[i]);
    assert_int_equal(r.n_got, 3);
    for (int i = 0; i < 3; i++)
        assert_int_equal(r.got[i], i + 1);
    pl_hookq_stats_get(q, &st);
    assert_int_equal(st.delivered, 3);
    assert_int_equal(st.retried, 5);
    assert_int_equal(st.queued, 0);
    /* Up again: the next event goes at once, not after the last backoff. */
    push(q, 4);
    assert_int_equal(pl_hookq_next_timeout(q, now), 0);
    pl_hookq_destroy(q);
}

/* Never up: the delay doubles up to 30 s and stays there. Each attempt
 * takes 1 s to fail (a timeout), which the delay counts from. */
static void test_backoff_cap(void **state)
{
    (void)state;
    pl_hookq *q = make(10);
    rx r = {.up_at = INT64_MAX, .latency_ms = 1000, .refuse_body = -1};
    int64_t now = 0;
    push(q, 1);
    run(q, &r, &now, 300000);
    const int64_t gaps[] = {1500, 2000, 3000, 5000, 9000, 17000, 31000, 31000, 31000};
    for (size_t i = 0; i < sizeof(gaps) / sizeof(gaps[0]); i++)
        assert_int_equal(r.attempts[i + 1] - r.attempts[i], gaps[i]);
    assert_int_equal(r.n_got, 0);
    pl_hookq_stats st;
    pl_hookq_stats_get(q, &st);
    assert_int_equal(st.retried, r.n_attempts);
    assert_int_equal(st.queued, 1);
    pl_hookq_destroy(q);
}

/* A queue of 4 with the receiver down: 10 events in, the 6 oldest that are
 * not in flight go (counted); the one in flight and the newest 3 are
 * delivered, in order, once it is back. */
static void test_overflow_drops_oldest(void **state)
{
    (void)state;
    pl_hookq *q = make(4);
    rx r = {.up_at = 2000, .latency_ms = 100, .refuse_body = -1};
    int64_t now = 0;
    push(q, 1);
    size_t len;
    assert_non_null(pl_hookq_poll(q, now, &len)); /* 1 is in flight */
    for (int i = 2; i <= 10; i++)
        push(q, i);
    pl_hookq_done(q, PL_HOOKQ_FAILED, 100);
    now = 100;
    pl_hookq_stats st;
    pl_hookq_stats_get(q, &st);
    assert_int_equal(st.queued, 4);
    assert_int_equal(st.dropped, 6);
    run(q, &r, &now, 60000);
    const int want[] = {1, 8, 9, 10};
    assert_int_equal(r.n_got, 4);
    for (size_t i = 0; i < 4; i++)
        assert_int_equal(r.got[i], want[i]);
    pl_hookq_destroy(q); /* nothing left to free: the sanitizer build checks */
    q = make(4);
    for (int i = 1; i <= 6; i++)
        push(q, i);
    pl_hookq_destroy(q); /* events still queued are freed */
}

/* A receiver that refuses an event: it is not retried, it is counted, and
 * the next goes at once. */
static void test_refused(void **state)
{
    (void)state;
    pl_hookq *q = make(10);
    rx r = {.latency_ms = 10, .refuse_body = 2};
    int64_t now = 0;
    for (int i = 1; i <= 3; i++)
        push(q, i);
    run(q, &r, &now, 60000);
    assert_int_equal(r.n_attempts, 3);
    assert_int_equal(r.n_got, 2);
    assert_int_equal(r.got[1], 3);
    pl_hookq_stats st;
    pl_hookq_stats_get(q, &st);
    assert_int_equal(st.refused, 1);
    assert_int_equal(st.retried, 0);
    pl_hookq_destroy(q);
}

static void test_bad_config(void **state)
{
    (void)state;
    pl_env env = pl_env_default();
    pl_hookq *q;
    pl_hookq_config cfg = {1, 500, 30000};
    assert_int_equal(pl_hookq_create(&env, &cfg, &q), PL_EINVAL);
    cfg = (pl_hookq_config){10, 0, 30000};
    assert_int_equal(pl_hookq_create(&env, &cfg, &q), PL_EINVAL);
    cfg = (pl_hookq_config){10, 500, 100};
    assert_int_equal(pl_hookq_create(&env, &cfg, &q), PL_EINVAL);
    assert_null(q);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_in_order),    cmocka_unit_test(test_down_then_back),
        cmocka_unit_test(test_backoff_cap), cmocka_unit_test(test_overflow_drops_oldest),
        cmocka_unit_test(test_refused),     cmocka_unit_test(test_bad_config),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
