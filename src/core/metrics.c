/* core/metrics.c - metric registry and Prometheus text rendering. */
#include "core/metrics.h"

#include <math.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/mem.h"

#define MAX_BOUNDS HUB_METRIC_MAX_BOUNDS

enum kind { COUNTER, GAUGE, GAUGE_FN, HISTOGRAM };

struct hub_metric {
    hub_metric_t *next;
    hub_metric_t *sibling; /* next series of the same family (labeled counters) */
    int member;            /* a series after the first of its family */
    char *labels;          /* heap: `proto="artnet",universe="1"`, or NULL */
    enum kind kind;
    const char *name;
    const char *help;
    _Atomic uint64_t count; /* counter value / histogram observations */
    _Atomic uint64_t bits;  /* gauge value (double bits) / histogram sum (double bits) */
    hub_gauge_fn fn;
    void *ud;
    size_t nbounds;
    double bounds[MAX_BOUNDS];
    _Atomic uint64_t buckets[MAX_BOUNDS + 1]; /* not cumulative; summed at render */
};

struct hub_metrics {
    hub_metric_t *head;
    hub_metric_t *tail;
};

hub_metrics_t *hub_metrics_new(void)
{
    return hub_calloc(1, sizeof(hub_metrics_t));
}

void hub_metrics_free(hub_metrics_t *m)
{
    if (m == NULL)
        return;
    for (hub_metric_t *x = m->head, *next; x != NULL; x = next) {
        next = x->next;
        hub_free(x->labels);
        hub_free(x);
    }
    hub_free(m);
}

static hub_metric_t *add(hub_metrics_t *m, enum kind kind, const char *name, const char *help)
{
    hub_metric_t *x = hub_calloc(1, sizeof(*x));
    x->kind = kind;
    x->name = name;
    x->help = help;
    if (m->tail)
        m->tail->next = x;
    else
        m->head = x;
    m->tail = x;
    return x;
}

hub_metric_t *hub_metrics_counter(hub_metrics_t *m, const char *name, const char *help)
{
    return add(m, COUNTER, name, help);
}

hub_metric_t *hub_metrics_counter_labeled(hub_metrics_t *m, const char *name, const char *help,
                                          const char *labels)
{
    hub_metric_t *head = NULL, *x;

    for (x = m->head; x != NULL && head == NULL; x = x->next)
        if (!x->member && x->labels != NULL && strcmp(x->name, name) == 0)
            head = x;
    x = add(m, COUNTER, name, help);
    x->labels = hub_strdup(labels);
    if (head != NULL) {
        x->member = 1;
        while (head->sibling != NULL)
            head = head->sibling;
        head->sibling = x;
    }
    return x;
}

hub_metric_t *hub_metrics_gauge(hub_metrics_t *m, const char *name, const char *help)
{
    return add(m, GAUGE, name, help);
}

hub_metric_t *hub_metrics_gauge_fn(hub_metrics_t *m, const char *name, const char *help,
                                   hub_gauge_fn fn, void *ud)
{
    hub_metric_t *x = add(m, GAUGE_FN, name, help);
    x->fn = fn;
    x->ud = ud;
    return x;
}

hub_metric_t *hub_metrics_histogram(hub_metrics_t *m, const char *name, const char *help,
                                    const double *bounds, size_t nbounds)
{
    hub_metric_t *x = add(m, HISTOGRAM, name, help);
    if (nbounds > MAX_BOUNDS)
        nbounds = MAX_BOUNDS;
    x->nbounds = nbounds;
    memcpy(x->bounds, bounds, nbounds * sizeof(double));
    return x;
}

static uint64_t dbits(double v)
{
    uint64_t b;
    memcpy(&b, &v, sizeof(b));
    return b;
}

static double bitsd(uint64_t b)
{
    double v;
    memcpy(&v, &b, sizeof(v));
    return v;
}

void hub_metric_inc(hub_metric_t *c)
{
    atomic_fetch_add_explicit(&c->count, 1, memory_order_relaxed);
}

void hub_metric_add(hub_metric_t *c, uint64_t n)
{
    atomic_fetch_add_explicit(&c->count, n, memory_order_relaxed);
}

void hub_metric_set(hub_metric_t *g, double v)
{
    atomic_store_explicit(&g->bits, dbits(v), memory_order_relaxed);
}

static size_t bucket_of(const hub_metric_t *h, double v);

void hub_metric_observe(hub_metric_t *h, double v)
{
    size_t i = bucket_of(h, v);
    atomic_fetch_add_explicit(&h->buckets[i], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&h->count, 1, memory_order_relaxed);
    uint64_t old = atomic_load_explicit(&h->bits, memory_order_relaxed);
    while (!atomic_compare_exchange_weak_explicit(&h->bits, &old, dbits(bitsd(old) + v),
                                                  memory_order_relaxed, memory_order_relaxed))
        ;
}

static size_t bucket_of(const hub_metric_t *h, double v)
{
    size_t i = 0;
    while (i < h->nbounds && v > h->bounds[i])
        i++;
    return i;
}

void hub_tally_init(hub_tally_t *t, hub_metric_t *h)
{
    memset(t, 0, sizeof(*t));
    t->h = h;
}

void hub_tally_observe(hub_tally_t *t, double v)
{
    t->buckets[bucket_of(t->h, v)]++;
    t->n++;
    t->sum += v;
}

void hub_tally_flush(hub_tally_t *t)
{
    hub_metric_t *h = t->h;

    if (t->n == 0)
        return;
    for (size_t i = 0; i <= h->nbounds; i++)
        if (t->buckets[i] != 0)
            atomic_fetch_add_explicit(&h->buckets[i], t->buckets[i], memory_order_relaxed);
    atomic_fetch_add_explicit(&h->count, t->n, memory_order_relaxed);
    uint64_t old = atomic_load_explicit(&h->bits, memory_order_relaxed);
    while (!atomic_compare_exchange_weak_explicit(&h->bits, &old, dbits(bitsd(old) + t->sum),
                                                  memory_order_relaxed, memory_order_relaxed))
        ;
    hub_tally_init(t, h);
}

uint64_t hub_metric_count(const hub_metric_t *c)
{
    return atomic_load_explicit(&((hub_metric_t *)c)->count, memory_order_relaxed);
}

double hub_metric_value(const hub_metric_t *g)
{
    if (g->kind == GAUGE_FN)
        return g->fn(g->ud);
    return bitsd(atomic_load_explicit(&((hub_metric_t *)g)->bits, memory_order_relaxed));
}

struct sbuf {
    char *p;
    size_t len, cap;
};

__attribute__((format(printf, 2, 3))) static void sb_printf(struct sbuf *b, const char *fmt, ...)
{
    va_list ap;
    for (;;) {
        size_t room = b->cap - b->len;
        va_start(ap, fmt);
        int n = vsnprintf(b->p + b->len, room, fmt, ap);
        va_end(ap);
        if (n >= 0 && (size_t)n < room) {
            b->len += (size_t)n;
            return;
        }
        b->cap = b->cap * 2 + (size_t)(n > 0 ? n : 64);
        b->p = hub_realloc(b->p, b->cap);
    }
}

/* Prometheus floats: +Inf, and enough digits to round-trip. */
static void fmt_num(char *out, size_t n, double v)
{
    if (isnan(v))
        snprintf(out, n, "NaN");
    else if (isinf(v))
        snprintf(out, n, v > 0 ? "+Inf" : "-Inf");
    else if (v == floor(v) && fabs(v) < 1e15)
        snprintf(out, n, "%.0f", v);
    else {
        /* Shortest form that reads back exactly: 0.005, not 0.0050000000000000001. */
        for (int prec = 6; prec <= 17; prec++) {
            snprintf(out, n, "%.*g", prec, v);
            if (strtod(out, NULL) == v)
                break;
        }
    }
}

char *hub_metrics_render(hub_metrics_t *m, size_t *len)
{
    struct sbuf b = {hub_malloc(4096), 0, 4096};
    char num[64];

    b.p[0] = '\0'; /* a registry with nothing in it renders "" */

    for (hub_metric_t *x = m->head; x != NULL; x = x->next) {
        static const char *const types[] = {"counter", "gauge", "gauge", "histogram"};
        if (x->member)
            continue; /* rendered with its family's first series */
        sb_printf(&b, "# HELP %s %s\n# TYPE %s %s\n", x->name, x->help, x->name, types[x->kind]);
        switch (x->kind) {
        case COUNTER:
            if (x->labels == NULL) {
                sb_printf(&b, "%s %llu\n", x->name, (unsigned long long)hub_metric_count(x));
                break;
            }
            for (hub_metric_t *y = x; y != NULL; y = y->sibling)
                sb_printf(&b, "%s{%s} %llu\n", y->name, y->labels,
                          (unsigned long long)hub_metric_count(y));
            break;
        case GAUGE:
        case GAUGE_FN:
            fmt_num(num, sizeof(num), hub_metric_value(x));
            sb_printf(&b, "%s %s\n", x->name, num);
            break;
        case HISTOGRAM: {
            uint64_t cum = 0;
            for (size_t i = 0; i <= x->nbounds; i++) {
                cum += atomic_load_explicit(&x->buckets[i], memory_order_relaxed);
                fmt_num(num, sizeof(num), i < x->nbounds ? x->bounds[i] : INFINITY);
                sb_printf(&b, "%s_bucket{le=\"%s\"} %llu\n", x->name, num, (unsigned long long)cum);
            }
            fmt_num(num, sizeof(num), bitsd(atomic_load_explicit(&x->bits, memory_order_relaxed)));
            sb_printf(&b, "%s_sum %s\n%s_count %llu\n", x->name, num, x->name,
                      (unsigned long long)cum);
            break;
        }
        }
    }
    *len = b.len;
    return b.p;
}
