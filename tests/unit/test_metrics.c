/* tests/unit/test_metrics.c - core/metrics: exact Prometheus text, atomic updates. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "core/metrics.h"

/* Render m and compare with want byte for byte; len must match strlen. */
static void expect_render(hub_metrics_t *m, const char *want)
{
    size_t len = 12345;
    char *text = hub_metrics_render(m, &len);

    assert_non_null(text);
    int same = len == strlen(want) && memcmp(text, want, len) == 0;
    if (!same)
        print_error("render got (%zu bytes):\n%.*s\nwant (%zu bytes):\n%s\n", len, (int)len, text,
                    strlen(want), want);
    free(text);
    assert_true(same);
}

static void test_counter(void **state)
{
    hub_metrics_t *m = hub_metrics_new();
    hub_metric_t *c = hub_metrics_counter(m, "dmx_test_total", "Things counted.");

    expect_render(m, "# HELP dmx_test_total Things counted.\n"
                     "# TYPE dmx_test_total counter\n"
                     "dmx_test_total 0\n");
    hub_metric_inc(c);
    hub_metric_inc(c);
    hub_metric_add(c, 40);
    assert_true(hub_metric_count(c) == 42);
    expect_render(m, "# HELP dmx_test_total Things counted.\n"
                     "# TYPE dmx_test_total counter\n"
                     "dmx_test_total 42\n");
    /* Counters are 64-bit: no wrap at 2^32. */
    hub_metric_add(c, 5000000000ULL);
    assert_true(hub_metric_count(c) == 5000000042ULL);
    expect_render(m, "# HELP dmx_test_total Things counted.\n"
                     "# TYPE dmx_test_total counter\n"
                     "dmx_test_total 5000000042\n");
    hub_metrics_free(m);
}

static void test_gauge(void **state)
{
    hub_metrics_t *m = hub_metrics_new();
    hub_metric_t *g = hub_metrics_gauge(m, "dmx_test_depth", "Queue depth.");

    expect_render(m, "# HELP dmx_test_depth Queue depth.\n"
                     "# TYPE dmx_test_depth gauge\n"
                     "dmx_test_depth 0\n");
    hub_metric_set(g, 17);
    assert_true(hub_metric_value(g) == 17.0);
    expect_render(m, "# HELP dmx_test_depth Queue depth.\n"
                     "# TYPE dmx_test_depth gauge\n"
                     "dmx_test_depth 17\n");
    hub_metric_set(g, 1.5);
    expect_render(m, "# HELP dmx_test_depth Queue depth.\n"
                     "# TYPE dmx_test_depth gauge\n"
                     "dmx_test_depth 1.5\n");
    hub_metric_set(g, -3);
    expect_render(m, "# HELP dmx_test_depth Queue depth.\n"
                     "# TYPE dmx_test_depth gauge\n"
                     "dmx_test_depth -3\n");
    hub_metric_set(g, 0.25);
    assert_true(hub_metric_value(g) == 0.25);
    hub_metrics_free(m);
}

static double read_ud(void *ud)
{
    return *(const double *)ud;
}

static void test_gauge_fn(void **state)
{
    double v = 7.25;
    hub_metrics_t *m = hub_metrics_new();
    hub_metric_t *g = hub_metrics_gauge_fn(m, "dmx_ws_clients", "Connected clients.", read_ud, &v);

    expect_render(m, "# HELP dmx_ws_clients Connected clients.\n"
                     "# TYPE dmx_ws_clients gauge\n"
                     "dmx_ws_clients 7.25\n");
    v = 3;
    assert_true(hub_metric_value(g) == 3.0);
    expect_render(m, "# HELP dmx_ws_clients Connected clients.\n"
                     "# TYPE dmx_ws_clients gauge\n"
                     "dmx_ws_clients 3\n");
    hub_metrics_free(m);
}

/* Prometheus spells non-finite values +Inf, -Inf and NaN (text format 0.0.4). */
static void test_gauge_non_finite(void **state)
{
    hub_metrics_t *m = hub_metrics_new();
    hub_metric_t *g = hub_metrics_gauge(m, "g", "G.");

    hub_metric_set(g, INFINITY);
    expect_render(m, "# HELP g G.\n# TYPE g gauge\ng +Inf\n");
    hub_metric_set(g, -INFINITY);
    expect_render(m, "# HELP g G.\n# TYPE g gauge\ng -Inf\n");
    hub_metric_set(g, NAN);
    expect_render(m, "# HELP g G.\n# TYPE g gauge\ng NaN\n");
    hub_metrics_free(m);
}

static void test_histogram(void **state)
{
    static const double bounds[] = {0.001, 0.01, 1, 2.5};
    hub_metrics_t *m = hub_metrics_new();
    hub_metric_t *h = hub_metrics_histogram(m, "dmx_apply_seconds", "Apply latency.", bounds, 4);

    expect_render(m, "# HELP dmx_apply_seconds Apply latency.\n"
                     "# TYPE dmx_apply_seconds histogram\n"
                     "dmx_apply_seconds_bucket{le=\"0.001\"} 0\n"
                     "dmx_apply_seconds_bucket{le=\"0.01\"} 0\n"
                     "dmx_apply_seconds_bucket{le=\"1\"} 0\n"
                     "dmx_apply_seconds_bucket{le=\"2.5\"} 0\n"
                     "dmx_apply_seconds_bucket{le=\"+Inf\"} 0\n"
                     "dmx_apply_seconds_sum 0\n"
                     "dmx_apply_seconds_count 0\n");
    /* Values chosen to be exact binary fractions so the sum prints exactly.
     * A value equal to a bound lands in that bound's bucket (le = <=). */
    hub_metric_observe(h, 0.0009765625); /* 2^-10: le 0.001 */
    hub_metric_observe(h, 0.25);         /* le 1 */
    hub_metric_observe(h, 1);            /* le 1 (equal) */
    hub_metric_observe(h, 2.5);          /* le 2.5 (equal) */
    hub_metric_observe(h, 8);            /* +Inf only */
    assert_true(hub_metric_count(h) == 5);
    expect_render(m, "# HELP dmx_apply_seconds Apply latency.\n"
                     "# TYPE dmx_apply_seconds histogram\n"
                     "dmx_apply_seconds_bucket{le=\"0.001\"} 1\n"
                     "dmx_apply_seconds_bucket{le=\"0.01\"} 1\n"
                     "dmx_apply_seconds_bucket{le=\"1\"} 3\n"
                     "dmx_apply_seconds_bucket{le=\"2.5\"} 4\n"
                     "dmx_apply_seconds_bucket{le=\"+Inf\"} 5\n"
                     "dmx_apply_seconds_sum 11.7509765625\n"
                     "dmx_apply_seconds_count 5\n");
    hub_metrics_free(m);
}

/* A tally folded in renders exactly as the same values observed one by
 * one, and flushing clears it (a second flush adds nothing). */
static void test_tally_same_as_observe(void **state)
{
    static const double bounds[] = {0.001, 0.01, 1, 2.5};
    static const double vals[] = {0.0009765625, 0.25, 1, 2.5, 8, 0.25};
    hub_metrics_t *a = hub_metrics_new(), *b = hub_metrics_new();
    hub_metric_t *ha = hub_metrics_histogram(a, "dmx_x_seconds", "X.", bounds, 4);
    hub_metric_t *hb = hub_metrics_histogram(b, "dmx_x_seconds", "X.", bounds, 4);
    hub_tally_t t;
    size_t la, lb;

    hub_metric_observe(ha, 0.5); /* tallies add to what is there */
    hub_metric_observe(hb, 0.5);
    hub_tally_init(&t, hb);
    for (size_t i = 0; i < sizeof(vals) / sizeof(vals[0]); i++) {
        hub_metric_observe(ha, vals[i]);
        hub_tally_observe(&t, vals[i]);
    }
    assert_true(hub_metric_count(hb) == 1); /* nothing until the flush */
    hub_tally_flush(&t);
    hub_tally_flush(&t);
    char *ta = hub_metrics_render(a, &la), *tb = hub_metrics_render(b, &lb);
    assert_int_equal(la, lb);
    assert_memory_equal(ta, tb, la);
    assert_non_null(strstr(tb, "dmx_x_seconds_count 7\n"));
    free(ta);
    free(tb);
    hub_metrics_free(a);
    hub_metrics_free(b);
}

/* Bounds such as 0.1 or 0.005 are not exact binary fractions; the le label
 * must still read as written ("0.1", not "0.10000000000000001"), since
 * Prometheus matches le values as strings across scrapes. */
static void test_histogram_decimal_bounds(void **state)
{
    static const double bounds[] = {0.005, 0.1, 0.3, 25};
    hub_metrics_t *m = hub_metrics_new();
    hub_metric_t *h = hub_metrics_histogram(m, "h_ms", "H.", bounds, 4);

    hub_metric_observe(h, 0.2);
    expect_render(m, "# HELP h_ms H.\n"
                     "# TYPE h_ms histogram\n"
                     "h_ms_bucket{le=\"0.005\"} 0\n"
                     "h_ms_bucket{le=\"0.1\"} 0\n"
                     "h_ms_bucket{le=\"0.3\"} 1\n"
                     "h_ms_bucket{le=\"25\"} 1\n"
                     "h_ms_bucket{le=\"+Inf\"} 1\n"
                     "h_ms_sum 0.2\n"
                     "h_ms_count 1\n");
    hub_metrics_free(m);
}

static double twelve(void *ud)
{
    return 12;
}

static void test_several_in_order(void **state)
{
    static const double b[] = {1};
    hub_metrics_t *m = hub_metrics_new();
    hub_metric_t *c = hub_metrics_counter(m, "a_total", "A.");
    hub_metric_t *g = hub_metrics_gauge(m, "b", "B.");
    hub_metrics_gauge_fn(m, "c", "C.", twelve, NULL);
    hub_metric_t *h = hub_metrics_histogram(m, "d", "D.", b, 1);

    hub_metric_inc(c);
    hub_metric_set(g, 2);
    hub_metric_observe(h, 0.5);
    hub_metric_observe(h, 4);
    expect_render(m, "# HELP a_total A.\n# TYPE a_total counter\na_total 1\n"
                     "# HELP b B.\n# TYPE b gauge\nb 2\n"
                     "# HELP c C.\n# TYPE c gauge\nc 12\n"
                     "# HELP d D.\n# TYPE d histogram\n"
                     "d_bucket{le=\"1\"} 1\nd_bucket{le=\"+Inf\"} 2\nd_sum 4.5\nd_count 2\n");
    hub_metrics_free(m);
}

#define THREADS    4
#define PER_THREAD 100000

struct worker {
    hub_metric_t *c, *h;
};

static void *hammer(void *arg)
{
    struct worker *w = arg;
    for (int i = 0; i < PER_THREAD; i++) {
        hub_metric_inc(w->c);
        hub_metric_observe(w->h, 1.0);
    }
    return NULL;
}

static void test_concurrent(void **state)
{
    static const double b[] = {0.5, 2};
    hub_metrics_t *m = hub_metrics_new();
    struct worker w = {
        hub_metrics_counter(m, "n_total", "N."),
        hub_metrics_histogram(m, "h", "H.", b, 2),
    };
    pthread_t t[THREADS];

    for (int i = 0; i < THREADS; i++)
        assert_int_equal(pthread_create(&t[i], NULL, hammer, &w), 0);
    for (int i = 0; i < THREADS; i++)
        assert_int_equal(pthread_join(t[i], NULL), 0);
    assert_true(hub_metric_count(w.c) == THREADS * PER_THREAD);
    assert_true(hub_metric_count(w.h) == THREADS * PER_THREAD);
    expect_render(m, "# HELP n_total N.\n# TYPE n_total counter\nn_total 400000\n"
                     "# HELP h H.\n# TYPE h histogram\n"
                     "h_bucket{le=\"0.5\"} 0\nh_bucket{le=\"2\"} 400000\n"
                     "h_bucket{le=\"+Inf\"} 400000\nh_sum 400000\nh_count 400000\n");
    hub_metrics_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_counter),
        cmocka_unit_test(test_gauge),
        cmocka_unit_test(test_gauge_fn),
        cmocka_unit_test(test_gauge_non_finite),
        cmocka_unit_test(test_histogram),
        cmocka_unit_test(test_histogram_decimal_bounds),
        cmocka_unit_test(test_several_in_order),
        cmocka_unit_test(test_concurrent),
        cmocka_unit_test(test_tally_same_as_observe),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
