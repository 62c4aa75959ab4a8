/* The server's log lines (signaling/log.c): levels, the text form, and the
 * JSON form whose every line parses with the same keys, whatever the
 * message holds. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "log.h"

typedef struct sink {
    char *buf;
    size_t len;
    FILE *f;
} sink;

static void open_sink(sink *s)
{
    s->f = open_memstream(&s->buf, &s->len);
    assert_non_null(s->f);
}

static void close_sink(sink *s)
{
    fclose(s->f);
    free(s->buf);
}

static void test_parse(void **state)
{
    (void)state;
    enum pl_log_level lv;
    enum pl_log_format fmt;
    assert_int_equal(pl_log_parse_level("warn", &lv), PL_OK);
    assert_int_equal(lv, PL_LOG_WARN);
    assert_int_equal(pl_log_parse_level("debug", &lv), PL_OK);
    assert_int_equal(lv, PL_LOG_DEBUG);
    assert_int_equal(pl_log_parse_level("verbose", &lv), PL_EINVAL);
    assert_int_equal(pl_log_parse_format("json", &fmt), PL_OK);
    assert_int_equal(fmt, PL_LOG_JSON);
    assert_int_equal(pl_log_parse_format("text", &fmt), PL_OK);
    assert_int_equal(fmt, PL_LOG_TEXT);
    assert_int_equal(pl_log_parse_format("xml", &fmt), PL_EINVAL);
}

static void test_text_and_levels(void **state)
{
    (void)state;
    sink s;
    open_sink(&s);
    pl_log *l = pl_log_create(PL_LOG_WARN, PL_LOG_TEXT, s.f);
    pl_log_printf(l, PL_LOG_INFO, "not shown");
    pl_log_printf(l, PL_LOG_WARN, "disk %d%% full", 91);
    pl_log_fields f = {.room = "r", .event = "room.started"};
    pl_log_write(l, PL_LOG_ERROR, &f, "{}");
    pl_log_env(l, PL_LOG_DEBUG, "not shown either");
    assert_false(pl_log_enabled(l, PL_LOG_INFO));
    fflush(s.f);
    assert_string_equal(s.buf, "parley warn: disk 91% full\nparley error: [room.started] {}\n");
    pl_log_destroy(l);
    close_sink(&s);
}

static void test_json(void **state)
{
    (void)state;
    sink s;
    open_sink(&s);
    pl_log *l = pl_log_create(PL_LOG_DEBUG, PL_LOG_JSON, s.f);
    pl_log_fields f = {.room = "standup",
                       .participant_id = "p1",
                       .participant_name = "Ada \"A\"",
                       .event = "participant.joined"};
    pl_log_write(l, PL_LOG_INFO, &f, "line one\nline two");
    pl_log_env(l, PL_LOG_DEBUG, "bad utf-8: \xff\xfe end");
    fflush(s.f);
    char *line = strtok(s.buf, "\n");
    json_error_t e;
    json_t *j = json_loads(line, 0, &e);
    assert_non_null(j);
    assert_string_equal(json_string_value(json_object_get(j, "level")), "info");
    assert_string_equal(json_string_value(json_object_get(j, "room")), "standup");
    json_t *p = json_object_get(j, "participant");
    assert_string_equal(json_string_value(json_object_get(p, "id")), "p1");
    assert_string_equal(json_string_value(json_object_get(p, "name")), "Ada \"A\"");
    assert_string_equal(json_string_value(json_object_get(j, "event")), "participant.joined");
    assert_string_equal(json_string_value(json_object_get(j, "message")), "line one\nline two");
    const char *t = json_string_value(json_object_get(j, "time"));
    assert_int_equal(strlen(t), strlen("2026-12-05T08:29:34.480Z"));
    assert_int_equal(t[strlen(t) - 1], 'Z');
    json_decref(j);
    /* A message that is not UTF-8 still makes a line that parses, with
     * every key, the ones it is not about null. */
    line = strtok(NULL, "\n");
    j = json_loads(line, 0, &e);
    assert_non_null(j);
    assert_string_equal(json_string_value(json_object_get(j, "level")), "debug");
    assert_true(json_is_null(json_object_get(j, "room")));
    assert_true(json_is_null(json_object_get(j, "participant")));
    assert_true(json_is_null(json_object_get(j, "event")));
    assert_string_equal(json_string_value(json_object_get(j, "message")), "bad utf-8: ?? end");
    json_decref(j);
    assert_null(strtok(NULL, "\n"));
    pl_log_destroy(l);
    close_sink(&s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse),
        cmocka_unit_test(test_text_and_levels),
        cmocka_unit_test(test_json),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
