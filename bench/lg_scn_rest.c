/* bench/lg_scn_rest.c - scenario "rest-write": POST /rgb with unique ULIDs.
 *
 * With --intents the same commands go as fixture.set_values intents to
 * POST /api/v1/intents (req_id = the ULID); answers are checked the same
 * way (200 applied with its seq, 200 duplicate, 503, other).
 *
 * Closed loop (rate 0): each of the N connections sends its next command as
 * soon as the previous one is answered; latency is answer - send. Open loop
 * (rate > 0): commands are due at fixed intervals and latency counts from
 * the due time. Applied throughput is what the server applied (seq delta)
 * over the time until its queue was empty, which for a server that answers
 * before applying (the peer's 202) is later than the last answer.
 */
#include <stdio.h>

#include "lg.h"
#include "lg_cmd.h"
#include "lg_pace.h"
#include "lg_proc.h"
#include "lg_rest.h"
#include "lg_util.h"

#define CLOSED_CAP 4000000u

typedef struct run {
    const lg_opts_t *o;
    lg_cmds_t cmds;
    lg_rest_t *rest;
    uint64_t stop_ns;
    int stopped;
    uint64_t last_answer_ns;
} run_t;

static void next_cmd(run_t *r, uint64_t intended)
{
    if (r->cmds.n >= r->cmds.cap)
        return;
    uint32_t k = r->cmds.n++;
    r->cmds.intended_ns[k] = intended;
    r->cmds.chan[k] = LG_CHAN_REST;
    lg_rest_submit(r->rest, k);
}

static void on_done(uint32_t k, int ans, uint64_t t, void *ud)
{
    run_t *r = ud;
    r->last_answer_ns = t;
    if (!r->stopped && t < r->stop_ns)
        next_cmd(r, lg_now_ns()); /* closed loop: the next one goes now */
}

static void on_emit(uint64_t k, uint64_t intended, void *ud)
{
    next_cmd(ud, intended);
}

static int all_connected(void *ud)
{
    run_t *r = ud;
    return lg_rest_connected(r->rest) >= r->o->conns;
}

static int all_answered(void *ud)
{
    run_t *r = ud;
    return lg_rest_inflight(r->rest) == 0 && lg_rest_backlog(r->rest) == 0;
}

static int past_stop(void *ud)
{
    run_t *r = ud;
    return lg_now_ns() >= r->stop_ns;
}

int lg_scn_rest_write(const lg_opts_t *o, json_t *out)
{
    uv_loop_t loop;
    run_t r = {0};
    lg_pace_t pace;
    lg_snap_t s0, s1;
    lg_proc_sample_t p0, p1;
    int open_loop = o->rate > 0;

    uint32_t cap = open_loop ? (uint32_t)(o->rate * o->duration_s) + 16 : CLOSED_CAP;
    if (lg_scn_begin(o, &loop, &s0, &r.cmds, cap) != 0)
        return 1;
    r.rest = lg_rest_new(&loop, o, &r.cmds, o->conns, "api", open_loop ? NULL : on_done, &r);
    if (o->intents)
        lg_rest_use_intents(r.rest);
    lg_pace_init(&pace, &loop);
    r.stop_ns = UINT64_MAX;
    r.o = o;
    lg_run_until(&loop, all_connected, &r, 10);

    lg_proc_reset_hwm(o->pid);
    lg_proc_sample(o->pid, &p0);
    uint64_t t0 = lg_now_ns();
    r.stop_ns = t0 + (uint64_t)(o->duration_s * 1e9);
    if (open_loop) {
        lg_pace_start(&pace, o->rate, cap, r.stop_ns - t0, on_emit, &r);
    } else {
        for (int i = 0; i < o->conns; i++)
            next_cmd(&r, t0);
    }
    lg_run_until(&loop, past_stop, &r, o->duration_s + 1);
    r.stopped = 1;
    lg_pace_stop(&pace);
    int complete = lg_run_until(&loop, all_answered, &r, o->tail_s);
    double answer_s = (double)((r.last_answer_ns > t0 ? r.last_answer_ns : lg_now_ns()) - t0) / 1e9;
    double drain_s = lg_wait_drained(o, o->tail_s);
    double applied_s = (double)(lg_now_ns() - t0) / 1e9;
    if (drain_s < 0.03)
        applied_s = answer_s; /* answered only once applied: same window */
    lg_proc_sample(o->pid, &p1);
    lg_snap_take(o, &s1);

    const lg_rest_counts_t *c = lg_rest_counts(r.rest);
    uint64_t ok2xx = c->by_ans[LG_ANS_APPLIED] + c->by_ans[LG_ANS_ACCEPTED];
    json_object_set_new(out, "mode", json_string(open_loop ? "open" : "closed"));
    json_object_set_new(out, "path", json_string(o->intents ? "/api/v1/intents" : "/rgb"));
    json_object_set_new(out, "conns", json_integer(o->conns));
    json_object_set_new(out, "connected", json_integer(lg_rest_connected(r.rest)));
    json_object_set_new(out, "rate", json_real(o->rate));
    json_object_set_new(out, "duration_s", json_real(o->duration_s));
    json_object_set_new(out, "sent", json_integer((json_int_t)c->sent));
    json_object_set_new(out, "answered", json_integer((json_int_t)c->answered));
    json_object_set_new(out, "all_answered", json_boolean(complete));
    json_object_set_new(out, "applied_2xx", json_integer((json_int_t)c->by_ans[LG_ANS_APPLIED]));
    json_object_set_new(out, "accepted_202", json_integer((json_int_t)c->by_ans[LG_ANS_ACCEPTED]));
    json_object_set_new(out, "duplicate", json_integer((json_int_t)c->by_ans[LG_ANS_DUPLICATE]));
    json_object_set_new(out, "overload_503", json_integer((json_int_t)c->by_ans[LG_ANS_OVERLOAD]));
    json_object_set_new(out, "errors", json_integer((json_int_t)c->by_ans[LG_ANS_ERROR]));
    json_object_set_new(out, "conn_failed", json_integer((json_int_t)c->by_ans[LG_ANS_NOCONN]));
    json_object_set_new(out, "answered_per_s", json_real((double)ok2xx / answer_s));
    json_object_set_new(out, "applied_per_s", json_real((double)(s1.seq - s0.seq) / applied_s));
    json_object_set_new(out, "drain_s", json_real(drain_s));
    json_object_set_new(out, "latency", lg_hist_json(lg_rest_hist(r.rest)));
    if (open_loop)
        json_object_set_new(out, "sender_lag", lg_hist_json(&pace.lag));
    json_object_set_new(out, "server", lg_snap_delta_json(&s0, &s1));
    json_object_set_new(out, "proc", lg_proc_json(&p0, &p1));

    lg_pace_close(&pace);
    lg_rest_free(r.rest);
    lg_loop_close(&loop);
    lg_cmds_free(&r.cmds);
    return s1.ok ? 0 : 1; /* no answer after the run: the server died */
}
