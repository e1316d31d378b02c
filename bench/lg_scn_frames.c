/* bench/lg_scn_frames.c - scenario "frames": N WebSocket clients in room frames.
 *
 * Each client connects, waits for its first frame (the seed-000 state), then
 * sends {"type":"subscribe","rooms":["frames"],"universes":[1..U],"req_id"}
 * and waits for the result. Once every client is subscribed (and 1 s has
 * passed, so every stream runs), frames are counted for --duration seconds:
 *
 * - age: receipt time on the wall clock minus the frame's "ts". The hub
 *   stamps ts in whole wall-clock milliseconds (rounded down) when its
 *   output thread hands the frames over, so an age is exact to 1 ms and
 *   reads up to 1 ms high. Receipt is when lws hands the frame to us, on
 *   CLOCK_MONOTONIC mapped to the wall clock once at the start.
 * - intervals: between two frames of the same universe at one client; the
 *   spread shows jitter at a finer grain than the ms ages.
 * - frames/s per client, per universe, and clients the hub disconnected.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lg.h"
#include "lg_cmd.h"
#include "lg_hist.h"
#include "lg_proc.h"
#include "lg_util.h"
#include "lg_ws.h"

#define MAX_HANDSHAKES 200

typedef struct reader {
    int first, subscribed, closed, close_code;
    uint64_t frames;   /* in the window */
    uint64_t *last_ns; /* per universe: last arrival (any time) */
} reader_t;

typedef struct run {
    const lg_opts_t *o;
    lg_ws_t *ws;
    reader_t *rd;
    int n, nu, started, ready, subscribed, failed, dropped;
    int counting;
    int64_t wall_off_ns; /* CLOCK_REALTIME - CLOCK_MONOTONIC */
    lg_hist_t age, interval;
    uint64_t frames, stray, other_universe, age_negative;
    uv_timer_t conn_timer;
} run_t;

static int64_t clock_of(clockid_t c)
{
    struct timespec ts;
    clock_gettime(c, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void subscribe(run_t *r, lg_wsc_t *c)
{
    char msg[8192];
    int len = snprintf(msg, sizeof(msg),
                       "{\"type\":\"subscribe\",\"rooms\":[\"frames\"],\"req_id\":\"f%u\","
                       "\"universes\":[",
                       lg_wsc_id(c));
    for (int u = 1; u <= r->nu && len < (int)sizeof(msg) - 16; u++)
        len += snprintf(msg + len, sizeof(msg) - (size_t)len, "%s%d", u > 1 ? "," : "", u);
    len += snprintf(msg + len, sizeof(msg) - (size_t)len, "]}");
    lg_wsc_send(c, msg, (size_t)len);
}

static void on_frame(run_t *r, reader_t *rd, const char *txt, size_t len, uint64_t t)
{
    double u, ts;
    if (lg_json_num(txt, len, "universe", &u) || lg_json_num(txt, len, "ts", &ts)) {
        r->stray++;
        return;
    }
    if (u < 1 || u > r->nu) {
        r->other_universe++;
        return;
    }
    size_t ui = (size_t)u - 1;
    uint64_t prev = rd->last_ns[ui];
    rd->last_ns[ui] = t;
    if (!r->counting)
        return;
    rd->frames++;
    r->frames++;
    if (prev)
        lg_hist_add(&r->interval, t - prev);
    int64_t age = (int64_t)t + r->wall_off_ns - (int64_t)(ts * 1e6);
    if (age < 0)
        r->age_negative++;
    lg_hist_add(&r->age, age > 0 ? (uint64_t)age : 0);
}

static void on_text(lg_wsc_t *c, const char *txt, size_t len, uint64_t t, void *ud)
{
    run_t *r = ud;
    reader_t *rd = &r->rd[lg_wsc_id(c)];
    char type[16];

    if (!rd->first) {
        rd->first = 1;
        r->ready++;
        subscribe(r, c);
        return;
    }
    if (len > 16 && !memcmp(txt, "{\"type\":\"frame\"", 15)) {
        on_frame(r, rd, txt, len, t);
        return;
    }
    if (lg_json_str(txt, len, "type", type, sizeof(type)) == 0 && !strcmp(type, "result") &&
        !rd->subscribed) {
        if (memmem(txt, len, "\"ok\":true", 9)) {
            rd->subscribed = 1;
            r->subscribed++;
        } else {
            fprintf(stderr, "loadgen: subscribe refused: %.*s\n", (int)len, txt);
        }
    }
}

static void on_close(lg_wsc_t *c, int was_open, int code, void *ud)
{
    run_t *r = ud;
    reader_t *rd = &r->rd[lg_wsc_id(c)];
    rd->closed = 1;
    rd->close_code = code;
    if (!rd->first)
        r->failed++;
    else
        r->dropped++;
}

static const lg_ws_ops_t ws_ops = {NULL, on_text, on_close};

static void on_conn_tick(uv_timer_t *t)
{
    run_t *r = t->data;
    while (r->started < r->n && r->started - r->ready - r->failed < MAX_HANDSHAKES) {
        int i = r->started++;
        lg_ws_connect(r->ws, r->o->host, r->o->port, "/ws", lg_src_ip(r->o, (unsigned)i),
                      (uint32_t)i);
    }
    if (r->started >= r->n)
        uv_timer_stop(t);
}

static int all_subscribed(void *ud)
{
    run_t *r = ud;
    return r->subscribed + r->failed + r->dropped >= r->n;
}

int lg_scn_frames(const lg_opts_t *o, json_t *out)
{
    uv_loop_t loop;
    run_t r = {0};
    lg_proc_sample_t p0, p1;

    uv_loop_init(&loop);
    r.o = o;
    r.n = o->readers;
    r.nu = o->universes;
    r.rd = calloc((size_t)r.n, sizeof(*r.rd));
    if (!r.rd)
        abort();
    for (int i = 0; i < r.n; i++) {
        r.rd[i].last_ns = calloc((size_t)r.nu, sizeof(uint64_t));
        if (!r.rd[i].last_ns)
            abort();
    }
    lg_hist_init(&r.age);
    lg_hist_init(&r.interval);
    r.ws = lg_ws_new(&loop, &ws_ops, &r);

    uint64_t tc = lg_now_ns();
    uv_timer_init(&loop, &r.conn_timer);
    r.conn_timer.data = &r;
    uv_timer_start(&r.conn_timer, on_conn_tick, 0, 1);
    int settled = lg_run_until(&loop, all_subscribed, &r, o->connect_s);
    uv_timer_stop(&r.conn_timer);
    double connect_s = (double)(lg_now_ns() - tc) / 1e9;
    int subscribed_at_start = r.subscribed;
    lg_run_for(&loop, 1.0); /* every stream running */

    r.wall_off_ns = clock_of(CLOCK_REALTIME) - clock_of(CLOCK_MONOTONIC);
    lg_proc_sample(o->pid, &p0);
    uint64_t t0 = lg_now_ns();
    r.counting = 1;
    lg_run_for(&loop, o->duration_s);
    r.counting = 0;
    double window_s = (double)(lg_now_ns() - t0) / 1e9;
    lg_proc_sample(o->pid, &p1);

    /* Per client: frames/s over the window (clients still open). */
    double fmin = 0, fmax = 0, fsum = 0;
    int open = 0;
    for (int i = 0; i < r.n; i++) {
        if (!r.rd[i].subscribed || r.rd[i].closed)
            continue;
        double f = (double)r.rd[i].frames / window_s;
        fmin = open == 0 || f < fmin ? f : fmin;
        fmax = f > fmax ? f : fmax;
        fsum += f;
        open++;
    }
    json_t *fps = json_pack("{s:f,s:f,s:f,s:f}", "mean", open ? fsum / open : 0.0, "min", fmin,
                            "max", fmax, "per_universe_mean", open ? fsum / open / r.nu : 0.0);
    json_t *interval = lg_hist_json(&r.interval);
    json_object_set_new(interval, "min_us", json_real((double)r.interval.min_ns / 1000.0));
    json_object_set_new(out, "readers", json_integer(r.n));
    json_object_set_new(out, "universes", json_integer(r.nu));
    json_object_set_new(out, "subscribed", json_integer(subscribed_at_start));
    json_object_set_new(out, "connected", json_integer(subscribed_at_start));
    json_object_set_new(out, "all_connected", json_boolean(settled && subscribed_at_start == r.n));
    json_object_set_new(out, "connect_failed", json_integer(r.failed));
    json_object_set_new(out, "connect_s", json_real(connect_s));
    json_object_set_new(out, "disconnected", json_integer(r.dropped));
    json_object_set_new(out, "window_s", json_real(window_s));
    json_object_set_new(out, "frames", json_integer((json_int_t)r.frames));
    json_object_set_new(out, "frames_per_s_per_client", fps);
    json_object_set_new(out, "age", lg_hist_json(&r.age));
    json_object_set_new(out, "age_resolution_ms", json_integer(1));
    json_object_set_new(out, "age_negative", json_integer((json_int_t)r.age_negative));
    json_object_set_new(out, "interval", interval);
    json_object_set_new(out, "other_universe", json_integer((json_int_t)r.other_universe));
    json_object_set_new(out, "stray", json_integer((json_int_t)r.stray));
    json_object_set_new(out, "proc", lg_proc_json(&p0, &p1));

    uv_close((uv_handle_t *)&r.conn_timer, NULL);
    lg_ws_free(r.ws);
    lg_loop_close(&loop);
    for (int i = 0; i < r.n; i++)
        free(r.rd[i].last_ns);
    free(r.rd);
    return p1.ok || o->pid <= 0 ? 0 : 1;
}
