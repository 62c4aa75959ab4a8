/* The configuration file: `key = value` lines read with inih, each key an
 * option of the table in options.c. Lines are handed to inih one by one by
 * our own reader, which counts them (an error names its line), strips
 * their indentation (inih would take an indented line for the rest of
 * the value above it) and refuses a line longer than inih's buffer
 * rather than let it be cut in two. */
#include <errno.h>
#include <ini.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "options.h"

#define MAX_FILE (1 << 20)

typedef struct reader {
    const char *p, *end;
    int line;
    options *o;
    int err_line; /* first error's line, 0 for none */
    char *why;
    size_t why_len;
} reader;

/* Keeps the first error only. */
static void fail(reader *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void fail(reader *r, const char *fmt, ...)
{
    if (r->err_line)
        return;
    r->err_line = r->line;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->why, r->why_len, fmt, ap);
    va_end(ap);
}

static char *read_line(char *str, int num, void *stream)
{
    reader *r = stream;
    if (r->p >= r->end)
        return NULL;
    const char *nl = memchr(r->p, '\n', (size_t)(r->end - r->p));
    const char *stop = nl ? nl + 1 : r->end;
    r->line++;
    const char *s = r->p;
    while (s < stop && (*s == ' ' || *s == '\t'))
        s++;
    size_t len = (size_t)(stop - s);
    /* inih needs room for the line's end and its NUL. */
    if ((int)len > num - 3) {
        fail(r, "line longer than %d characters", num - 3);
        len = 0;
    }
    /* A NUL would end the line early for inih: the rest is refused. */
    if (memchr(s, '\0', len)) {
        fail(r, "a NUL byte in the line");
        len = 0;
    }
    memcpy(str, s, len);
    str[len] = '\0';
    r->p = stop;
    return str;
}

static int on_pair(void *user, const char *section, const char *name, const char *value)
{
    reader *r = user;
    char why[256];
    if (section && *section) {
        fail(r, "[%.64s]: sections are not used; keys stand on their own", section);
        return 0;
    }
    if (srv_options_set(r->o, name, value, true, why, sizeof(why))) {
        fail(r, "%.64s: %s", name, why);
        return 0;
    }
    return 1;
}

int srv_config_parse(options *o, const char *text, size_t len, char *why, size_t why_len)
{
    reader r = {.p = text, .end = text + len, .o = o, .why = why, .why_len = why_len};
    int rc = ini_parse_stream(read_line, &r, on_pair, &r);
    /* inih's own errors (a line without `=`, an unclosed section) come
     * with a line number and no handler call. */
    if (rc > 0 && (!r.err_line || rc < r.err_line)) {
        snprintf(why, why_len, "expected key = value");
        return rc;
    }
    if (rc < 0 && !r.err_line) {
        snprintf(why, why_len, "out of memory");
        return 1;
    }
    return r.err_line;
}

int srv_config_load(options *o, const char *path, char *why, size_t why_len)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(why, why_len, "cannot read %s: %s", path, strerror(errno));
        return -1;
    }
    char *buf = malloc(MAX_FILE);
    size_t n = buf ? fread(buf, 1, MAX_FILE, f) : 0;
    int rc;
    if (!buf || ferror(f)) {
        snprintf(why, why_len, "cannot read %s", path);
        rc = -1;
    } else if (n == MAX_FILE) {
        snprintf(why, why_len, "%s is larger than %d bytes", path, MAX_FILE - 1);
        rc = -1;
    } else {
        rc = srv_config_parse(o, buf, n, why, why_len);
    }
    free(buf);
    fclose(f);
    return rc;
}
