/* bench/lg_scn_sustain.c - scenario "sustain": ramp, hold, overload, audit.
 *
 * 1. Ramp: REST commands open-loop at rates start, x1.5, ... for --step s
 *    each. A step holds when, at its end, the commands not yet answered and
 *    the server's queue are each below 100 ms worth of that rate (plus the
 *    connection count) and nothing was refused; the first step that fails
 *    ends the ramp, and two more steps halve the gap between the last rate
 *    that held and the first that did not. Sinks stay on throughout: a WS
 *    reader, an MQTT subscriber of the state topic, the server's store and
 *    MQTT publishing.
 * 2. Hold: the best rate for --hold s; latency from intended send times. A
 *    2 s step can pass at a rate that 30 s cannot (the store's WAL grows, the
 *    machine is shared): if the hold fails, it is tried once more 15 %
 *    lower (or at the next lower rate that passed, if closer), and the
 *    result says which rate held.
 * 3. Overload: --over-mult x that rate for --over s, round-robin over REST,
 *    two WS writers and MQTT. What the loadgen cannot even put on the wire
 *    (bounded queues) is counted as unsent, not as commands.
 * 4. Audit, over every command of the run: each must have an answer, and
 *    each answered as accepted (200 applied / 202) must have been applied:
 *    its state seen on the MQTT or WS stream. The check is conclusive when
 *    those streams together hold every seq the server issued. The server's
 *    own counters (/metrics) must match: processed == seq delta, and
 *    refused + dropped >= the overload answers we got.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lg.h"
#include "lg_cmd.h"
#include "lg_mqtt.h"
#include "lg_pace.h"
#include "lg_proc.h"
#include "lg_rest.h"
#include "lg_util.h"
#include "lg_ws.h"

#define CAP_CMDS          6000000u
#define NWRITERS          1
#define WS_QUEUE_MAX      5000
#define MQTT_INFLIGHT_MAX 20000
#define READER_ID         100
#define BISECT_STEPS      2
#define HOLD_FALLBACK     0.85

enum { PH_IDLE, PH_RAMP, PH_HOLD, PH_OVER };

typedef struct run {
    const lg_opts_t *o;
    lg_cmds_t cmds;
    lg_rest_t *rest;
    lg_ws_t *ws;
    lg_wsc_t *reader, *writers[NWRITERS];
    int ws_opened;
    int writer_closed; /* the server closed the WS writer (e.g. as slow) */
    int reader_closed;
    lg_mqtt_t *pub, *sub;
    uint64_t published;
    int phase;
    uint32_t phase_k0;     /* first command of the phase */
    lg_hist_t lat;         /* REST answer latency, this phase */
    uint64_t unsent;       /* overload: could not even be queued */
    uint64_t rest_refused; /* this phase */
    uint64_t seq0;
    uint32_t *seq_val; /* value + 1 of the state seen with seq0 + 1 + i; 0 = unseen */
    uint32_t seq_bits;
    uint64_t ws_errors, mq_errors;
} run_t;

/* Either stream saw state (seq, value). Atomic: the MQTT thread writes too. */
static void seq_mark(run_t *r, uint64_t seq, uint32_t value)
{
    if (seq <= r->seq0 || seq - r->seq0 - 1 >= r->seq_bits)
        return;
    __atomic_store_n(&r->seq_val[seq - r->seq0 - 1], value + 1, __ATOMIC_RELAXED);
}

static int err_class(const char *txt, size_t len)
{
    return (memmem(txt, len, "overload", 8) || memmem(txt, len, "dropped", 7) ||
            memmem(txt, len, "full", 4))
               ? LG_ANS_OVERLOAD
               : LG_ANS_ERROR;
}

/* MQTT thread: states (applied) and errors (refused) of MQTT commands. */
static void on_mq(const char *topic, const char *payload, size_t len, uint64_t t, void *ud)
{
    run_t *r = ud;
    uint32_t v;
    uint64_t seq;
    char id[40];
    if (!strcmp(topic, "v1/demo/rgb/state")) {
        if (lg_parse_state(payload, len, &v, &seq) < 0)
            return;
        seq_mark(r, seq, v);
        int64_t k = lg_cmds_index_of_value(&r->cmds, v);
        if (k >= 0)
            __atomic_fetch_or(&r->cmds.seen[k], LG_SEEN_MQTT, __ATOMIC_RELAXED);
        return;
    }
    if (lg_json_str(payload, len, "cmdId", id, sizeof(id)) < 0)
        return;
    int64_t k = lg_cmds_index_of_id(&r->cmds, id, strlen(id));
    if (k < 0 || r->cmds.chan[k] != LG_CHAN_MQTT)
        return;
    __atomic_store_n(&r->cmds.answer[k], (uint8_t)err_class(payload, len), __ATOMIC_RELAXED);
    __atomic_add_fetch(&r->mq_errors, 1, __ATOMIC_RELAXED);
}

static void on_text(lg_wsc_t *c, const char *txt, size_t len, uint64_t t, void *ud)
{
    run_t *r = ud;
    char type[16], id[40];
    uint32_t v;
    uint64_t seq;
    if (lg_json_str(txt, len, "type", type, sizeof(type)) < 0)
        return;
    if (!strcmp(type, "state")) {
        if (lg_wsc_id(c) != READER_ID || lg_parse_state(txt, len, &v, &seq) < 0)
            return;
        seq_mark(r, seq, v);
        int64_t k = lg_cmds_index_of_value(&r->cmds, v);
        if (k >= 0)
            __atomic_fetch_or(&r->cmds.seen[k], LG_SEEN_WS, __ATOMIC_RELAXED);
        return;
    }
    if (lg_json_str(txt, len, "cmdId", id, sizeof(id)) < 0)
        return;
    int64_t k = lg_cmds_index_of_id(&r->cmds, id, strlen(id));
    if (k < 0 || r->cmds.chan[k] != LG_CHAN_WS)
        return;
    if (!strcmp(type, "ack"))
        r->cmds.answer[k] = LG_ANS_DUPLICATE;
    else if (!strcmp(type, "error")) {
        r->cmds.answer[k] = (uint8_t)err_class(txt, len);
        r->ws_errors++;
    }
}

static void on_open(lg_wsc_t *c, void *ud)
{
    ((run_t *)ud)->ws_opened++;
}

static void on_close(lg_wsc_t *c, int was_open, int code, void *ud)
{
    run_t *r = ud;
    if (lg_wsc_id(c) == READER_ID)
        r->reader_closed = code ? code : -1;
    else
        r->writer_closed = code ? code : -1;
}

static const lg_ws_ops_t ws_ops = {on_open, on_text, on_close};

static void on_rest_done(uint32_t k, int ans, uint64_t t, void *ud)
{
    run_t *r = ud;
    if (k < r->phase_k0)
        return;
    uint64_t due = r->cmds.intended_ns[k];
    lg_hist_add(&r->lat, t > due ? t - due : 0);
    if (ans == LG_ANS_OVERLOAD || ans == LG_ANS_ERROR)
        r->rest_refused++;
}

static void on_emit(uint64_t e, uint64_t intended, void *ud)
{
    run_t *r = ud;
    char body[256];
    if (r->cmds.n >= r->cmds.cap) {
        r->unsent++;
        return;
    }
    int chan = r->phase == PH_OVER ? (int)(e % (r->pub ? 3 : 2)) : LG_CHAN_REST;
    uint32_t k = r->cmds.n;
    if (chan == LG_CHAN_REST && r->phase == PH_OVER &&
        lg_rest_backlog(r->rest) > (size_t)r->o->conns * 4) {
        r->unsent++;
        return;
    }
    lg_wsc_t *w = r->writers[e % NWRITERS];
    if (chan == LG_CHAN_WS && (!lg_wsc_open(w) || lg_wsc_queued(w) > WS_QUEUE_MAX)) {
        r->unsent++;
        return;
    }
    if (chan == LG_CHAN_MQTT && r->published - lg_mqtt_acked(r->pub) > MQTT_INFLIGHT_MAX) {
        r->unsent++;
        return;
    }
    __atomic_store_n(&r->cmds.intended_ns[k], intended, __ATOMIC_RELEASE);
    r->cmds.chan[k] = (uint8_t)chan;
    r->cmds.n++;
    if (chan == LG_CHAN_REST) {
        lg_rest_submit(r->rest, k);
    } else if (chan == LG_CHAN_WS) {
        size_t len = lg_cmds_body(&r->cmds, k, "api", 1, body, sizeof(body));
        lg_wsc_send(w, body, len);
    } else {
        size_t len = lg_cmds_body(&r->cmds, k, "mqtt", 0, body, sizeof(body));
        if (lg_mqtt_publish(r->pub, "v1/demo/rgb/cmd", body, len, 1) == 0)
            r->published++;
        else
            r->cmds.answer[k] = LG_ANS_NOCONN;
    }
}

static int pace_done(void *ud)
{
    return lg_pace_done(ud);
}

static int ws_all_open(void *ud)
{
    return ((run_t *)ud)->ws_opened >= 1 + NWRITERS;
}

static int rest_conns_open(void *ud)
{
    run_t *r = ud;
    return lg_rest_connected(r->rest) >= r->o->conns;
}

static int quiet(void *ud)
{
    run_t *r = ud;
    if (lg_rest_inflight(r->rest) || lg_rest_backlog(r->rest))
        return 0;
    for (int i = 0; i < NWRITERS; i++)
        if (lg_wsc_queued(r->writers[i]))
            return 0;
    return !r->pub || lg_mqtt_acked(r->pub) >= r->published;
}

typedef struct phase_res {
    double rate, secs;
    uint64_t emitted, sent_rest, answered_in_time;
    size_t backlog_end;
    double queue_end;
    uint64_t seq_end; /* server seq when the phase ended */
    double ran_s;     /* phase start to its end-of-phase snapshot */
    int pass;
} phase_res_t;

/* Run one paced phase; the caller reads r->lat and the result. */
static void run_phase(uv_loop_t *loop, run_t *r, lg_pace_t *pace, int phase, double rate,
                      double secs, phase_res_t *res)
{
    lg_snap_t s;
    r->phase = phase;
    r->phase_k0 = r->cmds.n;
    r->rest_refused = 0;
    lg_hist_init(&r->lat);
    lg_hist_init(&pace->lag);
    uint64_t ans0 = lg_rest_counts(r->rest)->answered;
    uint64_t t0 = lg_now_ns();
    lg_pace_start(pace, rate, UINT64_MAX, (uint64_t)(secs * 1e9), on_emit, r);
    lg_run_until(loop, pace_done, pace, secs + 2);
    lg_pace_stop(pace);
    res->rate = rate;
    res->secs = secs;
    res->emitted = pace->emitted;
    res->answered_in_time = lg_rest_counts(r->rest)->answered - ans0;
    res->backlog_end = lg_rest_backlog(r->rest) + lg_rest_inflight(r->rest);
    lg_snap_take(r->o, &s);
    res->ran_s = (double)(lg_now_ns() - t0) / 1e9;
    res->seq_end = s.seq;
    res->queue_end = isnan(s.queue_depth) ? 0 : s.queue_depth;
    double allow = rate * 0.1 + r->o->conns;
    res->pass =
        (double)res->backlog_end <= allow && res->queue_end <= allow && r->rest_refused == 0;
}

static json_t *phase_json(const phase_res_t *p, run_t *r, lg_pace_t *pace)
{
    return json_pack("{s:f, s:f, s:I, s:I, s:I, s:f, s:b, s:I, s:o, s:o}", "rate", p->rate, "secs",
                     p->secs, "emitted", (json_int_t)p->emitted, "answered",
                     (json_int_t)p->answered_in_time, "backlog_end", (json_int_t)p->backlog_end,
                     "server_queue_end", p->queue_end, "pass", p->pass, "refused",
                     (json_int_t)r->rest_refused, "latency", lg_hist_json(&r->lat), "sender_lag",
                     lg_hist_json(&pace->lag));
}

static void settle(uv_loop_t *loop, run_t *r, double secs)
{
    lg_run_until(loop, quiet, r, secs);
    lg_wait_drained(r->o, secs);
    lg_run_for(loop, 0.1);
}

/* Did the streams see every seq in (seq0, seq0 + span]? */
static uint64_t count_holes(const run_t *r, uint64_t span)
{
    uint64_t holes = span > r->seq_bits ? span - r->seq_bits : 0;
    for (uint64_t i = 0; i < span && i < r->seq_bits; i++)
        holes += r->seq_val[i] == 0;
    return holes;
}

/* The audit of every command of the run (see the file comment). An answer
 * that claims seq s is verified when a stream saw s with this command's
 * value, and disproved when a stream saw s with another value. Without a
 * claimed seq, a command is applied iff its value was seen; "not seen"
 * proves nothing while the streams have holes (the hub conflates MQTT state
 * publishes under back-pressure, and a WS reader may be dropped as slow). */
static json_t *audit(run_t *r, const lg_snap_t *s0, const lg_snap_t *s1)
{
    uint64_t span = s1->seq > r->seq0 ? s1->seq - r->seq0 : 0;
    uint64_t holes = count_holes(r, span);
    int complete = holes == 0;
    uint64_t verified = 0, not_applied = 0, unverified = 0, silent = 0, silent_unv = 0;
    uint64_t unanswered = 0, error_but_applied = 0, overload = 0, errors = 0, accepted = 0;
    uint64_t noconn = 0, conn_closed = 0, dup = 0, applied_seen = 0;
    for (uint32_t k = 0; k < r->cmds.n; k++) {
        int a = __atomic_load_n(&r->cmds.answer[k], __ATOMIC_RELAXED);
        int seen = __atomic_load_n(&r->cmds.seen[k], __ATOMIC_RELAXED) != 0;
        int ch = r->cmds.chan[k];
        uint64_t claim = r->cmds.seq[k];
        applied_seen += seen;
        if (a == LG_ANS_OVERLOAD || a == LG_ANS_ERROR) {
            overload += a == LG_ANS_OVERLOAD;
            errors += a == LG_ANS_ERROR;
            error_but_applied += seen;
        } else if (a == LG_ANS_APPLIED || a == LG_ANS_ACCEPTED) {
            accepted++;
            uint32_t at = 0;
            if (claim > r->seq0 && claim - r->seq0 - 1 < r->seq_bits)
                at = r->seq_val[claim - r->seq0 - 1];
            uint32_t mine = r->cmds.base + k;
            if (seen || at == mine + 1)
                verified++;
            else if ((claim && at != 0) || (claim && claim > s1->seq) || (!claim && complete))
                not_applied++; /* its seq holds another state, or no stream saw it */
            else
                unverified++;
        } else if (a == LG_ANS_DUPLICATE) {
            dup++;
        } else if (a == LG_ANS_NOCONN) {
            noconn++;
        } else if (ch == LG_CHAN_REST) {
            unanswered++;
        } else if (!seen && ch == LG_CHAN_WS && r->writer_closed) {
            conn_closed++; /* the server closed the writer: it knows */
        } else if (!seen) {
            if (complete)
                silent++; /* WS/MQTT: neither applied nor refused */
            else
                silent_unv++;
        }
    }
    double d_proc = s1->processed - s0->processed;
    double d_err = (isnan(s1->refused) ? 0 : s1->refused - s0->refused) +
                   (isnan(s1->dropped) ? 0 : s1->dropped - s0->dropped);
    double d_dup = isnan(s1->deduped) ? 0 : s1->deduped - s0->deduped;
    int have_err_metrics = !isnan(s1->refused) && !isnan(s1->dropped);
    int metrics_ok = !isnan(d_proc) && d_proc == (double)span &&
                     (!have_err_metrics || d_err >= (double)overload);
    /* Everything that reached the server must be in its counters. */
    double reached = (double)(r->cmds.n - conn_closed - noconn);
    double accounted = d_proc + d_err + d_dup;
    json_t *j = json_object();
    json_object_set_new(j, "commands", json_integer(r->cmds.n));
    json_object_set_new(j, "seq_issued", json_integer((json_int_t)span));
    json_object_set_new(j, "applied_seen", json_integer((json_int_t)applied_seen));
    json_object_set_new(j, "stream_seq_holes", json_integer((json_int_t)holes));
    json_object_set_new(j, "accepted_answers", json_integer((json_int_t)accepted));
    json_object_set_new(j, "acked_verified", json_integer((json_int_t)verified));
    json_object_set_new(j, "acked_not_applied", json_integer((json_int_t)not_applied));
    json_object_set_new(j, "acked_unverified", json_integer((json_int_t)unverified));
    json_object_set_new(j, "overload_answers", json_integer((json_int_t)overload));
    json_object_set_new(j, "error_answers", json_integer((json_int_t)errors));
    json_object_set_new(j, "duplicate_answers", json_integer((json_int_t)dup));
    json_object_set_new(j, "error_but_applied", json_integer((json_int_t)error_but_applied));
    json_object_set_new(j, "rest_unanswered", json_integer((json_int_t)unanswered));
    json_object_set_new(j, "conn_failed", json_integer((json_int_t)noconn));
    json_object_set_new(j, "ws_writer_closed_unanswered", json_integer((json_int_t)conn_closed));
    json_object_set_new(j, "ws_writer_close_code", json_integer(r->writer_closed));
    json_object_set_new(j, "ws_reader_close_code", json_integer(r->reader_closed));
    json_object_set_new(j, "silent", json_integer((json_int_t)silent));
    json_object_set_new(j, "silent_unverified", json_integer((json_int_t)silent_unv));
    json_object_set_new(j, "metrics_refused_dropped",
                        have_err_metrics ? json_real(d_err) : json_null());
    json_object_set_new(j, "metrics_consistent", json_boolean(metrics_ok));
    if (have_err_metrics && !isnan(d_proc)) {
        json_object_set_new(j, "reached_server", json_real(reached));
        json_object_set_new(j, "server_accounted", json_real(accounted));
    }
    int accounted_ok = !have_err_metrics || isnan(d_proc) || accounted >= reached;
    json_object_set_new(j, "zero_silent_loss",
                        json_boolean(not_applied == 0 && silent == 0 && unanswered == 0 &&
                                     metrics_ok && accounted_ok));
    json_object_set_new(j, "fully_verified", json_boolean(unverified == 0 && silent_unv == 0));
    return j;
}

int lg_scn_sustain(const lg_opts_t *o, json_t *out)
{
    uv_loop_t loop;
    run_t r = {0};
    lg_pace_t pace;
    lg_snap_t s0, s1, so;
    lg_proc_sample_t p0, ph, p1;
    phase_res_t res;
    char id[64];

    uv_loop_init(&loop);
    lg_wait_drained(o, o->tail_s);
    lg_snap_take(o, &s0);
    if (!s0.ok) {
        fprintf(stderr, "loadgen: GET /rgb failed\n");
        return 1;
    }
    r.o = o;
    r.seq0 = s0.seq;
    lg_cmds_init(&r.cmds, CAP_CMDS, s0.value);
    r.seq_bits = CAP_CMDS;
    r.seq_val = calloc(CAP_CMDS, sizeof(uint32_t));
    if (o->mqtt_port > 0) {
        snprintf(id, sizeof(id), "lg-sub-%d", (int)getpid());
        r.sub = lg_mqtt_new(o->host, o->mqtt_port, id, on_mq, &r);
        snprintf(id, sizeof(id), "lg-pub-%d", (int)getpid());
        r.pub = lg_mqtt_new(o->host, o->mqtt_port, id, NULL, NULL);
        if (!r.sub || !r.pub || lg_mqtt_subscribe(r.sub, "v1/demo/rgb/state", 1) < 0 ||
            lg_mqtt_subscribe(r.sub, "v1/demo/rgb/error", 1) < 0)
            return 1;
    }
    r.ws = lg_ws_new(&loop, &ws_ops, &r);
    r.reader = lg_ws_connect(r.ws, o->host, o->port, "/ws", NULL, READER_ID);
    for (int i = 0; i < NWRITERS; i++)
        r.writers[i] = lg_ws_connect(r.ws, o->host, o->port, "/ws", NULL, (uint32_t)i);
    r.rest = lg_rest_new(&loop, o, &r.cmds, o->conns, "api", on_rest_done, &r);
    lg_pace_init(&pace, &loop);
    lg_run_until(&loop, ws_all_open, &r, 10);
    lg_run_until(&loop, rest_conns_open, &r, 10);
    lg_proc_reset_hwm(o->pid);
    lg_proc_sample(o->pid, &p0);

    /* 1. Ramp. */
    json_t *steps = json_array();
    double best = 0, below = 0, failed = 0;
    for (double rate = o->start_rate; rate <= o->max_rate; rate *= 1.5) {
        run_phase(&loop, &r, &pace, PH_RAMP, rate, o->step_s, &res);
        json_array_append_new(steps, phase_json(&res, &r, &pace));
        settle(&loop, &r, 5);
        if (!res.pass) {
            failed = rate;
            break;
        }
        below = best;
        best = rate;
    }
    /* x1.5 steps leave the limit anywhere in a 50 % band: halve it twice. */
    for (int i = 0; i < BISECT_STEPS && best > 0 && failed > 0; i++) {
        double rate = (best + failed) / 2;
        run_phase(&loop, &r, &pace, PH_RAMP, rate, o->step_s, &res);
        json_array_append_new(steps, phase_json(&res, &r, &pace));
        settle(&loop, &r, 5);
        if (res.pass) {
            below = best;
            best = rate;
        } else {
            failed = rate;
        }
    }
    int found = best > 0;
    if (!found)
        best = o->start_rate / 2;
    /* The fallback hold: 15 % under the best step, or the step below if
     * that is closer (a 30 s hold can fail just above the limit). */
    if (below < best * HOLD_FALLBACK)
        below = best * HOLD_FALLBACK;

    /* 2. Hold (a second try one step lower if the first does not hold). */
    lg_snap_t sh0;
    json_t *holds = json_array(), *hold = NULL;
    for (int attempt = 0; attempt < 2; attempt++) {
        double rate = attempt == 0 ? best : below;
        lg_snap_take(o, &sh0);
        run_phase(&loop, &r, &pace, PH_HOLD, rate, o->hold_s, &res);
        hold = phase_json(&res, &r, &pace);
        json_object_set_new(hold, "applied_per_s",
                            sh0.ok && res.seq_end >= sh0.seq
                                ? json_real((double)(res.seq_end - sh0.seq) / res.ran_s)
                                : json_null());
        json_object_set_new(hold, "server_alive", json_boolean(res.seq_end > 0));
        json_array_append(holds, hold);
        settle(&loop, &r, o->tail_s);
        if (res.pass || !found || res.seq_end == 0)
            break;
        json_decref(hold);
    }
    lg_proc_sample(o->pid, &ph);

    /* 3. Overload. */
    lg_snap_take(o, &so);
    run_phase(&loop, &r, &pace, PH_OVER, best * o->over_mult, o->over_s, &res);
    json_t *over = phase_json(&res, &r, &pace);
    settle(&loop, &r, o->tail_s);
    lg_run_for(&loop, 1.0); /* the last states reach both streams */
    lg_proc_sample(o->pid, &p1);
    lg_snap_take(o, &s1);
    uint64_t by_chan[3] = {0};
    for (uint32_t k = r.phase_k0; k < r.cmds.n; k++)
        by_chan[r.cmds.chan[k]]++;
    json_object_set_new(over, "sent_rest", json_integer((json_int_t)by_chan[0]));
    json_object_set_new(over, "sent_ws", json_integer((json_int_t)by_chan[1]));
    json_object_set_new(over, "sent_mqtt", json_integer((json_int_t)by_chan[2]));
    json_object_set_new(over, "unsent", json_integer((json_int_t)r.unsent));
    json_object_set_new(over, "applied", json_integer((json_int_t)(s1.seq - so.seq)));
    json_object_set_new(over, "server", lg_snap_delta_json(&so, &s1));

    lg_mqtt_free(r.pub);
    lg_mqtt_free(r.sub); /* joins the MQTT thread before the audit */
    r.pub = r.sub = NULL;

    json_object_set_new(out, "steps", steps);
    json_object_set_new(out, "max_rate_found", json_boolean(found));
    json_object_set_new(out, "sustained_rate", json_real(best));
    json_object_set_new(out, "hold", hold); /* the last attempt */
    json_object_set_new(out, "hold_attempts", holds);
    json_object_set_new(out, "hold_proc", lg_proc_json(&p0, &ph));
    json_object_set_new(out, "overload", over);
    json_object_set_new(out, "audit", audit(&r, &s0, &s1));
    json_object_set_new(out, "server_alive_end", json_boolean(s1.ok));
    json_object_set_new(out, "server", lg_snap_delta_json(&s0, &s1));
    json_object_set_new(out, "proc", lg_proc_json(&p0, &p1));

    lg_pace_close(&pace);
    lg_rest_free(r.rest);
    lg_ws_free(r.ws);
    lg_loop_close(&loop);
    free(r.seq_val);
    lg_cmds_free(&r.cmds);
    return 0; /* a server that died under overload is a result too */
}
