/* The server's log: one line per entry on stderr, at a level and above
 * (--log-level), as text or as JSON (--log-format; README "Logs"). The
 * cores log through pl_env.log, which pl_log_env feeds here; the server
 * logs its own lines and the core's events with their fields. Lines are
 * written whole, so threads do not interleave them. */
#ifndef PARLEY_LOG_H
#define PARLEY_LOG_H

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>

#include "parley/common.h"

typedef struct pl_log pl_log;

enum pl_log_format { PL_LOG_TEXT, PL_LOG_JSON };

/* What a line is about, each NULL when unknown (JSON: null). */
typedef struct pl_log_fields {
    const char *room;
    const char *participant_id, *participant_name;
    const char *event; /* an event's type: "participant.joined" */
} pl_log_fields;

/* "error", "warn", "info", "debug" / "text", "json": PL_OK or PL_EINVAL. */
int pl_log_parse_level(const char *s, enum pl_log_level *out);
int pl_log_parse_format(const char *s, enum pl_log_format *out);

/* NULL: out of memory. `out` must outlive the log. */
pl_log *pl_log_create(enum pl_log_level min, enum pl_log_format format, FILE *out);
void pl_log_destroy(pl_log *l);
bool pl_log_enabled(const pl_log *l, enum pl_log_level level);
/* `f` may be NULL. The time is read here: logging is I/O. */
void pl_log_write(pl_log *l, enum pl_log_level level, const pl_log_fields *f, const char *msg);
void pl_log_printf(pl_log *l, enum pl_log_level level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* pl_env.log, with the log as its user pointer. */
void pl_log_env(void *user, enum pl_log_level level, const char *msg);

#endif
