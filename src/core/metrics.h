/* core/metrics.h - named counters, gauges and histograms; Prometheus text.
 *
 * Metrics are registered once at start-up (loop thread, before workers run),
 * then updated from any thread: values are relaxed atomics, so an update is
 * one instruction and never takes a lock. Rendering (GET /metrics) reads a
 * consistent-enough snapshot, as Prometheus expects of a scrape.
 */
#ifndef HUB_CORE_METRICS_H
#define HUB_CORE_METRICS_H

#include <stddef.h>
#include <stdint.h>

typedef struct hub_metrics hub_metrics_t;
typedef struct hub_metric hub_metric_t;
typedef double (*hub_gauge_fn)(void *ud);

hub_metrics_t *hub_metrics_new(void);
void hub_metrics_free(hub_metrics_t *m);

/* Registration returns a handle owned by m; names must be string literals. */
hub_metric_t *hub_metrics_counter(hub_metrics_t *m, const char *name, const char *help);
/* One series of a counter family told apart by labels, e.g.
 * `proto="artnet",universe="1"` (copied; values must be escaped already).
 * Every series of a family has the same name and help; they are rendered
 * together. Registration is not thread-safe against rendering: loop thread. */
hub_metric_t *hub_metrics_counter_labeled(hub_metrics_t *m, const char *name, const char *help,
                                          const char *labels);
hub_metric_t *hub_metrics_gauge(hub_metrics_t *m, const char *name, const char *help);
/* A gauge whose value is read by fn at render time, on the loop thread. */
hub_metric_t *hub_metrics_gauge_fn(hub_metrics_t *m, const char *name, const char *help,
                                   hub_gauge_fn fn, void *ud);
/* Upper bounds ascending, in the metric's unit; +Inf is added. At most 24. */
hub_metric_t *hub_metrics_histogram(hub_metrics_t *m, const char *name, const char *help,
                                    const double *bounds, size_t nbounds);

void hub_metric_inc(hub_metric_t *c);
void hub_metric_add(hub_metric_t *c, uint64_t n);
void hub_metric_set(hub_metric_t *g, double v);
void hub_metric_observe(hub_metric_t *h, double v);
uint64_t hub_metric_count(const hub_metric_t *c); /* counters; histograms: observations */
double hub_metric_value(const hub_metric_t *g);

/* A thread's own tally of observations for one histogram, folded in with one
 * atomic add per bucket used: for loops that observe thousands of values a
 * turn on several threads at once (one client write each), where three
 * contended atomics per value would cost more than the work measured. */
#define HUB_METRIC_MAX_BOUNDS 24
typedef struct hub_tally {
    hub_metric_t *h;
    uint64_t n;
    double sum;
    uint64_t buckets[HUB_METRIC_MAX_BOUNDS + 1];
} hub_tally_t;

void hub_tally_init(hub_tally_t *t, hub_metric_t *h);
void hub_tally_observe(hub_tally_t *t, double v);
/* Add the tally to its histogram and clear it. */
void hub_tally_flush(hub_tally_t *t);

/* Prometheus text format 0.0.4. Returns a heap string the caller frees. */
char *hub_metrics_render(hub_metrics_t *m, size_t *len);

#endif
