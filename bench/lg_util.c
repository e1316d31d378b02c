/* bench/lg_util.c - server snapshots, loop helpers, source addresses. */
#include "lg_util.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lg_cmd.h"
#include "lg_sync.h"

const char *lg_src_ip(const lg_opts_t *o, unsigned i)
{
    if (o->src_ips <= 1)
        return NULL;
    return o->src_tab[i % (unsigned)o->src_ips];
}

void lg_snap_take(const lg_opts_t *o, lg_snap_t *s)
{
    char *text = NULL;
    size_t len;
    memset(s, 0, sizeof(*s));
    s->ok = lg_sync_state(o->host, o->port, &s->value, &s->seq) == 0;
    s->processed = s->deduped = s->dropped = s->refused = NAN;
    s->queue_depth = s->ws_clients = s->slow_dropped = NAN;
    if (lg_sync_get(o->host, o->port, "/metrics", 5000, &text, &len) != 200) {
        free(text);
        return;
    }
    s->processed = lg_metric(text, "dmx_engine_processed_total");
    s->deduped = lg_metric(text, "dmx_engine_deduped_total");
    s->dropped = lg_metric(text, "dmx_engine_dropped_total");
    s->refused = lg_metric(text, "dmx_engine_refused_total");
    s->queue_depth = lg_metric(text, "dmx_engine_queue_depth");
    s->ws_clients = lg_metric(text, "dmx_ws_clients");
    s->slow_dropped = lg_metric(text, "dmx_ws_slow_dropped_total");
    free(text);
}

double lg_wait_drained(const lg_opts_t *o, double timeout_s)
{
    uint64_t t0 = lg_now_ns();
    uint64_t deadline = t0 + (uint64_t)(timeout_s * 1e9);
    lg_snap_t s;
    while (lg_now_ns() < deadline) {
        lg_snap_take(o, &s);
        if (!s.ok || isnan(s.queue_depth) || s.queue_depth <= 0)
            break;
        struct timespec ts = {0, 20 * 1000000L};
        nanosleep(&ts, NULL);
    }
    return (double)(lg_now_ns() - t0) / 1e9;
}

static void put_delta(json_t *j, const char *k, double a, double b)
{
    if (isnan(a) || isnan(b))
        json_object_set_new(j, k, json_null());
    else
        json_object_set_new(j, k, json_integer((json_int_t)(b - a)));
}

json_t *lg_snap_delta_json(const lg_snap_t *a, const lg_snap_t *b)
{
    json_t *j = json_object();
    json_object_set_new(j, "seq", json_integer((json_int_t)(b->seq - a->seq)));
    json_object_set_new(j, "seq_end", json_integer((json_int_t)b->seq));
    put_delta(j, "processed", a->processed, b->processed);
    put_delta(j, "deduped", a->deduped, b->deduped);
    put_delta(j, "dropped", a->dropped, b->dropped);
    put_delta(j, "refused", a->refused, b->refused);
    put_delta(j, "slow_dropped", a->slow_dropped, b->slow_dropped);
    json_object_set_new(j, "queue_depth_end",
                        isnan(b->queue_depth) ? json_null() : json_real(b->queue_depth));
    return j;
}

typedef struct until {
    uv_timer_t t;
    int (*cond)(void *ud);
    void *ud;
    uint64_t deadline;
    int met;
} until_t;

static void on_check(uv_timer_t *t)
{
    until_t *u = t->data;
    if (u->cond && u->cond(u->ud)) {
        u->met = 1;
        uv_stop(t->loop);
    } else if (lg_now_ns() >= u->deadline) {
        uv_stop(t->loop);
    }
}

int lg_run_until(uv_loop_t *loop, int (*cond)(void *ud), void *ud, double timeout_s)
{
    until_t u = {.cond = cond, .ud = ud, .deadline = lg_now_ns() + (uint64_t)(timeout_s * 1e9)};
    if (cond && cond(ud))
        return 1;
    uv_timer_init(loop, &u.t);
    u.t.data = &u;
    uv_timer_start(&u.t, on_check, 2, 2);
    uv_run(loop, UV_RUN_DEFAULT);
    uv_close((uv_handle_t *)&u.t, NULL);
    uv_run(loop, UV_RUN_NOWAIT);
    return u.met;
}

void lg_run_for(uv_loop_t *loop, double s)
{
    lg_run_until(loop, NULL, NULL, s);
}

static void close_any(uv_handle_t *h, void *arg)
{
    if (!uv_is_closing(h))
        uv_close(h, NULL);
}

void lg_loop_close(uv_loop_t *loop)
{
    uv_walk(loop, close_any, NULL);
    uv_run(loop, UV_RUN_DEFAULT);
    uv_loop_close(loop);
}

int lg_scn_begin(const lg_opts_t *o, uv_loop_t *loop, lg_snap_t *s0, struct lg_cmds *cmds,
                 uint32_t cap)
{
    uv_loop_init(loop);
    lg_wait_drained(o, o->tail_s); /* what earlier runs left queued */
    lg_snap_take(o, s0);
    if (!s0->ok) {
        fprintf(stderr, "loadgen: GET /rgb failed\n");
        return 1;
    }
    lg_cmds_init(cmds, cap, s0->value);
    return 0;
}
