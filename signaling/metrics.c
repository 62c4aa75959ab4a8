#include "parley/metrics.h"

#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#define MAX_FAMILIES 256
#define NAME_MAX_LEN 128

struct pl_metrics {
    pl_env env;
    char *buf;
    size_t len, cap;
    bool nomem;
    /* The family samples belong to, and every family declared so far (a
     * page that declares one twice does not parse). */
    char current[NAME_MAX_LEN + 1];
    enum pl_metrics_type current_type;
    char families[MAX_FAMILIES][NAME_MAX_LEN + 1];
    size_t n_families;
};

pl_metrics *pl_metrics_create(const pl_env *env)
{
    pl_metrics *m = pl_env_alloc(env, sizeof(*m));
    if (!m)
        return NULL;
    memset(m, 0, sizeof(*m));
    m->env = *env;
    return m;
}

void pl_metrics_destroy(pl_metrics *m)
{
    if (!m)
        return;
    pl_env_free(&m->env, m->buf);
    pl_env_free(&m->env, m);
}

static bool reserve(pl_metrics *m, size_t more)
{
    if (m->nomem)
        return false;
    if (m->len + more + 1 <= m->cap)
        return true;
    size_t cap = m->cap ? m->cap : 4096;
    while (cap < m->len + more + 1)
        cap *= 2;
    char *b = pl_env_alloc(&m->env, cap);
    if (!b) {
        m->nomem = true;
        return false;
    }
    if (m->len)
        memcpy(b, m->buf, m->len);
    b[m->len] = '\0';
    pl_env_free(&m->env, m->buf);
    m->buf = b;
    m->cap = cap;
    return true;
}

static void put(pl_metrics *m, const char *s, size_t n)
{
    if (!reserve(m, n))
        return;
    memcpy(m->buf + m->len, s, n);
    m->len += n;
    m->buf[m->len] = '\0';
}

static void puts_(pl_metrics *m, const char *s)
{
    put(m, s, strlen(s));
}

static void printf_(pl_metrics *m, const char *fmt, ...)
{
    char tmp[64];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
    va_end(ap);
    if (n > 0 && (size_t)n < sizeof(tmp))
        put(m, tmp, (size_t)n);
}

/* Metric names may hold colons, label names may not. */
static bool valid_name(const char *s, bool colon)
{
    size_t n = s ? strlen(s) : 0;
    if (n < 1 || n > NAME_MAX_LEN)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
                  (colon && c == ':') || (i > 0 && c >= '0' && c <= '9');
        if (!ok)
            return false;
    }
    return true;
}

static bool ends_with(const char *s, const char *tail)
{
    size_t n = strlen(s), t = strlen(tail);
    return n >= t && strcmp(s + n - t, tail) == 0;
}

/* HELP text escapes backslash and newline; label values quotes too. */
static void escaped(pl_metrics *m, const char *s, bool quotes)
{
    for (; *s; s++) {
        if (*s == '\\')
            puts_(m, "\\\\");
        else if (*s == '\n')
            puts_(m, "\\n");
        else if (quotes && *s == '"')
            puts_(m, "\\\"");
        else
            put(m, s, 1);
    }
}

static int declare(pl_metrics *m, const char *name, enum pl_metrics_type type, const char *help)
{
    if (!valid_name(name, true) || (type == PL_METRICS_COUNTER && !ends_with(name, "_total")))
        return PL_EINVAL;
    for (size_t i = 0; i < m->n_families; i++)
        if (strcmp(m->families[i], name) == 0)
            return PL_EINVAL;
    if (m->n_families == MAX_FAMILIES)
        return PL_ENOSPC;
    snprintf(m->families[m->n_families++], NAME_MAX_LEN + 1, "%s", name);
    snprintf(m->current, sizeof(m->current), "%s", name);
    m->current_type = type;
    static const char *const types[] = {"counter", "gauge", "histogram"};
    puts_(m, "# HELP ");
    puts_(m, name);
    puts_(m, " ");
    escaped(m, help ? help : "", false);
    puts_(m, "\n# TYPE ");
    puts_(m, name);
    puts_(m, " ");
    puts_(m, types[type]);
    puts_(m, "\n");
    return m->nomem ? PL_ENOMEM : PL_OK;
}

int pl_metrics_family(pl_metrics *m, const char *name, enum pl_metrics_type type, const char *help)
{
    if (type == PL_METRICS_HISTOGRAM)
        return PL_EINVAL; /* pl_metrics_histogram writes those whole */
    return declare(m, name, type, help);
}

static bool valid_labels(const pl_metrics_label *labels, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!valid_name(labels[i].name, false) || strncmp(labels[i].name, "__", 2) == 0 ||
            !labels[i].value)
            return false;
    return true;
}

/* name{labels[,le="..."]} */
static void sample_head(pl_metrics *m, const char *name, const char *suffix,
                        const pl_metrics_label *labels, size_t n, const char *le)
{
    puts_(m, name);
    puts_(m, suffix);
    if (!n && !le)
        return;
    puts_(m, "{");
    for (size_t i = 0; i < n; i++) {
        if (i)
            puts_(m, ",");
        puts_(m, labels[i].name);
        puts_(m, "=\"");
        escaped(m, labels[i].value, true);
        puts_(m, "\"");
    }
    if (le) {
        puts_(m, n ? ",le=\"" : "le=\"");
        puts_(m, le);
        puts_(m, "\"");
    }
    puts_(m, "}");
}

static void value_double(pl_metrics *m, double v)
{
    if (isnan(v))
        puts_(m, "NaN");
    else if (isinf(v))
        puts_(m, v > 0 ? "+Inf" : "-Inf");
    else
        printf_(m, "%.15g", v);
}

int pl_metrics_u64(pl_metrics *m, const pl_metrics_label *labels, size_t n, uint64_t value)
{
    if (!m->current[0] || m->current_type == PL_METRICS_HISTOGRAM)
        return PL_ESTATE;
    if (!valid_labels(labels, n))
        return PL_EINVAL;
    sample_head(m, m->current, "", labels, n, NULL);
    printf_(m, " %llu\n", (unsigned long long)value);
    return m->nomem ? PL_ENOMEM : PL_OK;
}

int pl_metrics_double(pl_metrics *m, const pl_metrics_label *labels, size_t n, double value)
{
    if (!m->current[0] || m->current_type == PL_METRICS_HISTOGRAM)
        return PL_ESTATE;
    if (!valid_labels(labels, n))
        return PL_EINVAL;
    sample_head(m, m->current, "", labels, n, NULL);
    puts_(m, " ");
    value_double(m, value);
    puts_(m, "\n");
    return m->nomem ? PL_ENOMEM : PL_OK;
}

int pl_metrics_histogram(pl_metrics *m, const char *name, const char *help,
                         const pl_metrics_label *labels, size_t n_labels, const double *le,
                         const uint64_t *cum, size_t n_buckets, uint64_t count, double sum)
{
    if (!valid_labels(labels, n_labels))
        return PL_EINVAL;
    for (size_t i = 0; i < n_labels; i++)
        if (strcmp(labels[i].name, "le") == 0)
            return PL_EINVAL;
    for (size_t i = 0; i < n_buckets; i++)
        if (!isfinite(le[i]) || (i && (le[i] <= le[i - 1] || cum[i] < cum[i - 1])) ||
            cum[i] > count)
            return PL_EINVAL;
    int rc = declare(m, name, PL_METRICS_HISTOGRAM, help);
    if (rc != PL_OK)
        return rc;
    char edge[40];
    for (size_t i = 0; i < n_buckets; i++) {
        snprintf(edge, sizeof(edge), "%.15g", le[i]);
        sample_head(m, name, "_bucket", labels, n_labels, edge);
        printf_(m, " %llu\n", (unsigned long long)cum[i]);
    }
    sample_head(m, name, "_bucket", labels, n_labels, "+Inf");
    printf_(m, " %llu\n", (unsigned long long)count);
    sample_head(m, name, "_sum", labels, n_labels, NULL);
    puts_(m, " ");
    value_double(m, sum);
    puts_(m, "\n");
    sample_head(m, name, "_count", labels, n_labels, NULL);
    printf_(m, " %llu\n", (unsigned long long)count);
    return m->nomem ? PL_ENOMEM : PL_OK;
}

int pl_metrics_text(const pl_metrics *m, const char **text, size_t *len)
{
    *text = m->buf ? m->buf : "";
    *len = m->len;
    return m->nomem ? PL_ENOMEM : PL_OK;
}
