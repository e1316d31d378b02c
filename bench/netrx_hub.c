/* bench/netrx_hub.c - what the hub says about its output, around the window.
 *
 * /metrics (Prometheus text): the dmx_output_tick_lateness_seconds histogram
 * (cumulative buckets; the hub folds its samples in once a second), the
 * frames and errors counters summed over their labels, ticks skipped.
 * /proc: the run time of the thread named "hub-output" (schedstat: ns on a
 * CPU, finer than stat's clock ticks) and the whole process's utime+stime.
 */
#include "netrx.h"

#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lg_sync.h"

#define LATE_NAME "dmx_output_tick_lateness_seconds"

/* Value after the labels (or the name) of a sample line; NaN if none. */
static double sample_value(const char *line)
{
    size_t n = strcspn(line, "\n");
    const char *v = memchr(line, '}', n);
    v = v ? v + 1 : memchr(line, ' ', n);
    return v ? strtod(v, NULL) : NAN;
}

static void parse_metrics(const char *text, netrx_hub_snap_t *s)
{
    static const char bucket[] = LATE_NAME "_bucket{le=\"";
    for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
        if (*p == '#')
            continue;
        if (!strncmp(p, bucket, sizeof(bucket) - 1)) {
            if (s->nlate < NETRX_LATE_MAX) {
                s->late_le[s->nlate] = strtod(p + sizeof(bucket) - 1, NULL); /* "+Inf" too */
                s->late_cum[s->nlate] = sample_value(p);
                s->nlate++;
            }
        } else if (!strncmp(p, LATE_NAME "_sum ", sizeof(LATE_NAME "_sum ") - 1)) {
            s->late_sum = sample_value(p);
        } else if (!strncmp(p, "dmx_output_frames_total{proto=\"artnet\"", 38)) {
            s->frames_artnet += sample_value(p);
        } else if (!strncmp(p, "dmx_output_frames_total{proto=\"sacn\"", 36)) {
            s->frames_sacn += sample_value(p);
        } else if (!strncmp(p, "dmx_output_errors_total{", 24)) {
            s->errors += sample_value(p);
        } else if (!strncmp(p, "dmx_output_ticks_skipped_total ", 31)) {
            s->skipped = sample_value(p);
        }
    }
}

static int read_small(const char *path, char *buf, size_t n)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    size_t got = fread(buf, 1, n - 1, f);
    fclose(f);
    buf[got] = 0;
    return 0;
}

static int find_output_thread(int pid)
{
    char path[320], comm[64];
    int tid = 0;
    snprintf(path, sizeof(path), "/proc/%d/task", pid);
    DIR *d = opendir(path);
    if (!d)
        return 0;
    for (struct dirent *e; (e = readdir(d)) != NULL && tid == 0;) {
        if (e->d_name[0] < '0' || e->d_name[0] > '9')
            continue;
        snprintf(path, sizeof(path), "/proc/%d/task/%s/comm", pid, e->d_name);
        if (read_small(path, comm, sizeof(comm)) == 0 && !strcmp(comm, "hub-output\n"))
            tid = atoi(e->d_name);
    }
    closedir(d);
    return tid;
}

/* utime + stime of a /proc/.../stat line, in ns. */
static uint64_t stat_cpu_ns(const char *path)
{
    char buf[1024];
    unsigned long long ut = 0, st = 0;
    if (read_small(path, buf, sizeof(buf)) != 0)
        return 0;
    const char *p = strrchr(buf, ')'); /* comm may hold spaces */
    if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) != 2)
        return 0;
    return (ut + st) * (1000000000ull / (uint64_t)sysconf(_SC_CLK_TCK));
}

void netrx_hub_snap(const netrx_opts_t *o, netrx_hub_snap_t *s)
{
    char path[96], buf[256];
    char *text = NULL;
    size_t len = 0;

    memset(s, 0, sizeof(*s));
    if (lg_sync_get("127.0.0.1", o->http_port, "/metrics", 5000, &text, &len) == 200) {
        s->ok = 1;
        parse_metrics(text, s);
    }
    free(text);
    s->out_tid = find_output_thread(o->pid);
    if (s->out_tid) {
        snprintf(path, sizeof(path), "/proc/%d/task/%d/schedstat", o->pid, s->out_tid);
        unsigned long long run_ns;
        if (read_small(path, buf, sizeof(buf)) == 0 && sscanf(buf, "%llu", &run_ns) == 1)
            s->out_cpu_ns = run_ns;
        else {
            snprintf(path, sizeof(path), "/proc/%d/task/%d/stat", o->pid, s->out_tid);
            s->out_cpu_ns = stat_cpu_ns(path);
        }
    }
    snprintf(path, sizeof(path), "/proc/%d/stat", o->pid);
    s->proc_cpu_ns = stat_cpu_ns(path);
    s->mono_ns = netrx_now_ns();
}

/* The smallest bucket bound holding fraction q of the ticks (in us); -1 when
 * only +Inf does. */
static double bound_at(const netrx_hub_snap_t *a, const netrx_hub_snap_t *b, double q, double n)
{
    for (size_t i = 0; i < b->nlate; i++)
        if (b->late_cum[i] - a->late_cum[i] >= q * n)
            return isinf(b->late_le[i]) ? -1 : b->late_le[i] * 1e6;
    return -1;
}

/* Fraction of ticks at most `le` seconds late (le must be a bucket bound). */
static double frac_le(const netrx_hub_snap_t *a, const netrx_hub_snap_t *b, double le, double n)
{
    for (size_t i = 0; i < b->nlate; i++)
        if (fabs(b->late_le[i] - le) < le * 1e-6)
            return n > 0 ? (b->late_cum[i] - a->late_cum[i]) / n : NAN;
    return NAN;
}

static json_t *num_or_null(double v)
{
    return isnan(v) ? json_null() : json_real(v);
}

json_t *netrx_hub_json(const netrx_hub_snap_t *a, const netrx_hub_snap_t *b)
{
    json_t *j = json_object();
    double wall_s = (double)(b->mono_ns - a->mono_ns) / 1e9;

    json_object_set_new(j, "metrics_ok", json_boolean(a->ok && b->ok));
    json_object_set_new(j, "output_thread_found",
                        json_boolean(a->out_tid && a->out_tid == b->out_tid));
    json_object_set_new(j, "wall_s", json_real(wall_s));
    if (a->out_tid && a->out_tid == b->out_tid)
        json_object_set_new(j, "output_thread_cpu_pct",
                            json_real((double)(b->out_cpu_ns - a->out_cpu_ns) / 1e7 / wall_s));
    if (a->proc_cpu_ns || b->proc_cpu_ns)
        json_object_set_new(j, "process_cpu_pct",
                            json_real((double)(b->proc_cpu_ns - a->proc_cpu_ns) / 1e7 / wall_s));
    if (!a->ok || !b->ok || a->nlate == 0 || a->nlate != b->nlate)
        return j;

    double n = b->late_cum[b->nlate - 1] - a->late_cum[a->nlate - 1];
    json_t *late = json_object(), *buckets = json_object();
    json_object_set_new(late, "ticks", json_integer((json_int_t)n));
    double p99 = bound_at(a, b, 0.99, n), p999 = bound_at(a, b, 0.999, n);
    /* The percentile's bucket bound; null beyond the last finite bound. */
    json_object_set_new(late, "p99_le_us", n > 0 && p99 >= 0 ? json_real(p99) : json_null());
    json_object_set_new(late, "p999_le_us", n > 0 && p999 >= 0 ? json_real(p999) : json_null());
    json_object_set_new(late, "frac_le_300us", num_or_null(frac_le(a, b, 0.0003, n)));
    json_object_set_new(late, "frac_le_1ms", num_or_null(frac_le(a, b, 0.001, n)));
    json_object_set_new(late, "mean_us",
                        n > 0 ? json_real((b->late_sum - a->late_sum) / n * 1e6) : json_null());
    for (size_t i = 0; i < b->nlate; i++) {
        char key[32];
        double below = i ? b->late_cum[i - 1] - a->late_cum[i - 1] : 0;
        if (isinf(b->late_le[i]))
            snprintf(key, sizeof(key), "+Inf");
        else
            snprintf(key, sizeof(key), "%g", b->late_le[i] * 1e6);
        json_object_set_new(buckets, key,
                            json_integer((json_int_t)(b->late_cum[i] - a->late_cum[i] - below)));
    }
    json_object_set_new(late, "buckets_us", buckets);
    json_object_set_new(j, "lateness", late);
    json_object_set_new(j, "frames_artnet",
                        json_integer((json_int_t)(b->frames_artnet - a->frames_artnet)));
    json_object_set_new(j, "frames_sacn",
                        json_integer((json_int_t)(b->frames_sacn - a->frames_sacn)));
    json_object_set_new(j, "errors", json_integer((json_int_t)(b->errors - a->errors)));
    json_object_set_new(j, "ticks_skipped", json_integer((json_int_t)(b->skipped - a->skipped)));
    return j;
}
