/* The server's log lines (log.h): text as it always was ("parley info:
 * ..."), or one JSON object a line for log collectors, with the fields an
 * operator filters on (time, level, room, participant, event) always
 * present. */
#include "log.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

struct pl_log {
    enum pl_log_level min;
    enum pl_log_format format;
    FILE *out;
};

static const char *const level_names[] = {"debug", "info", "warn", "error"};

int pl_log_parse_level(const char *s, enum pl_log_level *out)
{
    for (int i = PL_LOG_DEBUG; i <= PL_LOG_ERROR; i++)
        if (strcmp(s, level_names[i]) == 0) {
            *out = (enum pl_log_level)i;
            return PL_OK;
        }
    return PL_EINVAL;
}

int pl_log_parse_format(const char *s, enum pl_log_format *out)
{
    if (strcmp(s, "text") == 0 || strcmp(s, "json") == 0) {
        *out = s[0] == 't' ? PL_LOG_TEXT : PL_LOG_JSON;
        return PL_OK;
    }
    return PL_EINVAL;
}

pl_log *pl_log_create(enum pl_log_level min, enum pl_log_format format, FILE *out)
{
    pl_log *l = calloc(1, sizeof(*l));
    if (l)
        *l = (pl_log){min, format, out};
    return l;
}

void pl_log_destroy(pl_log *l)
{
    free(l);
}

bool pl_log_enabled(const pl_log *l, enum pl_log_level level)
{
    return level >= l->min && level <= PL_LOG_ERROR;
}

static json_t *str_or_null(const char *s)
{
    return s ? json_string(s) : json_null();
}

static void write_json(pl_log *l, enum pl_log_level level, const pl_log_fields *f, const char *msg)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    char iso[40];
    size_t n = strftime(iso, sizeof(iso), "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(iso + n, sizeof(iso) - n, ".%03ldZ", ts.tv_nsec / 1000000);
    json_t *o = json_object();
    json_object_set_new(o, "time", json_string(iso));
    json_object_set_new(o, "level", json_string(level_names[level]));
    json_object_set_new(o, "room", str_or_null(f ? f->room : NULL));
    json_object_set_new(o, "participant",
                        f && f->participant_id
                            ? json_pack("{s:s,s:s}", "id", f->participant_id, "name",
                                        f->participant_name ? f->participant_name : "")
                            : json_null());
    json_object_set_new(o, "event", str_or_null(f ? f->event : NULL));
    /* Invalid UTF-8 in a message (a name a client sent is checked, but a
     * path or a library's text may not be) must not cost the line. */
    json_t *m = json_string(msg);
    if (!m) {
        char safe[1024];
        size_t i = 0;
        for (; msg[i] && i < sizeof(safe) - 1; i++)
            safe[i] = (unsigned char)msg[i] < 0x80 ? msg[i] : '?';
        safe[i] = '\0';
        m = json_string(safe);
    }
    json_object_set_new(o, "message", m);
    char *text = json_dumps(o, JSON_COMPACT | JSON_ENSURE_ASCII);
    json_decref(o);
    if (text) {
        fprintf(l->out, "%s\n", text);
        free(text);
    }
}

void pl_log_write(pl_log *l, enum pl_log_level level, const pl_log_fields *f, const char *msg)
{
    if (!pl_log_enabled(l, level))
        return;
    if (l->format == PL_LOG_JSON) {
        write_json(l, level, f, msg);
    } else if (f && f->event) {
        fprintf(l->out, "parley %s: [%s] %s\n", level_names[level], f->event, msg);
    } else {
        fprintf(l->out, "parley %s: %s\n", level_names[level], msg);
    }
    fflush(l->out);
}

void pl_log_printf(pl_log *l, enum pl_log_level level, const char *fmt, ...)
{
    if (!pl_log_enabled(l, level))
        return;
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    pl_log_write(l, level, NULL, msg);
}

void pl_log_env(void *user, enum pl_log_level level, const char *msg)
{
    pl_log_write(user, level, NULL, msg);
}
