/* A writer of the Prometheus text exposition format (version 0.0.4): metric
 * families with their # HELP and # TYPE lines, samples with labels, and
 * histograms with their cumulative buckets. Sans-IO: it builds text in
 * memory, which the caller serves. A name that the format would not parse
 * is refused (PL_EINVAL) rather than written: a scraper that cannot read
 * one line drops the whole page. */
#ifndef PARLEY_METRICS_H
#define PARLEY_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "parley/common.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct pl_metrics pl_metrics;

enum pl_metrics_type {
    PL_METRICS_COUNTER, /* only goes up; its name ends in _total */
    PL_METRICS_GAUGE,
    PL_METRICS_HISTOGRAM, /* written whole by pl_metrics_histogram */
};

/* A label: name (of [a-zA-Z_][a-zA-Z0-9_]*) and value (any UTF-8; quotes,
 * backslashes and newlines are escaped). */
typedef struct pl_metrics_label {
    const char *name;
    const char *value;
} pl_metrics_label;

pl_metrics *pl_metrics_create(const pl_env *env);
void pl_metrics_destroy(pl_metrics *m);

/* Starts a family: its # HELP and # TYPE lines. Names are
 * [a-zA-Z_:][a-zA-Z0-9_:]*, a counter's ends in _total. A family is
 * declared once per page (PL_EINVAL the second time). */
int pl_metrics_family(pl_metrics *m, const char *name, enum pl_metrics_type type, const char *help);
/* A sample of the family started last (PL_ESTATE without one, or for a
 * histogram), with n labels. Integers are written exactly. */
int pl_metrics_u64(pl_metrics *m, const pl_metrics_label *labels, size_t n, uint64_t value);
int pl_metrics_double(pl_metrics *m, const pl_metrics_label *labels, size_t n, double value);
/* A whole histogram family: `name`_bucket for each upper edge le[i]
 * (ascending) with its cumulative count cum[i], then le="+Inf" with
 * `count`, `name`_sum and `name`_count. The labels go on every line. */
int pl_metrics_histogram(pl_metrics *m, const char *name, const char *help,
                         const pl_metrics_label *labels, size_t n_labels, const double *le,
                         const uint64_t *cum, size_t n_buckets, uint64_t count, double sum);

/* The page so far (NUL-terminated) and its length; PL_ENOMEM once any
 * write ran out of memory (the page is then incomplete). */
int pl_metrics_text(const pl_metrics *m, const char **text, size_t *len);

/* The content type to serve it with. */
#define PL_METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

#ifdef __cplusplus
}
#endif
#endif
