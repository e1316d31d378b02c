/* bench/lg_scn_fanout.c - scenario "fanout": one writer, N WebSocket readers.
 *
 * Readers connect (at most 200 handshakes in flight) and each waits for its
 * first frame (the current state). Then one writer sends commands open-loop
 * at --rate, over REST (4 keep-alive connections) or one WS client. Every
 * reader stamps every state frame; the frame's (r,g,b) names the command,
 * whose intended send time gives the end-to-end latency of that
 * (command, reader) pair. A reader that stays open must receive the state of
 * every command the writer saw accepted; what it lacks is "missed". Readers
 * the server closed (e.g. dropped as slow) are counted apart, with the close
 * code.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lg.h"
#include "lg_cmd.h"
#include "lg_pace.h"
#include "lg_proc.h"
#include "lg_rest.h"
#include "lg_util.h"
#include "lg_ws.h"

#define MAX_HANDSHAKES 200
#define WRITER_CONNS   4

typedef struct reader {
    lg_wsc_t *c;
    int first, closed, close_code;
    uint32_t got;
    uint8_t *bits; /* commands whose state arrived */
} reader_t;

typedef struct run {
    const lg_opts_t *o;
    lg_cmds_t cmds;
    lg_rest_t *rest;
    lg_ws_t *ws;
    lg_wsc_t *wsw; /* WS writer (--writer ws) */
    int writer_ready;
    reader_t *rd;
    int n, started, ready, failed, dropped;
    uv_timer_t conn_timer;
    lg_hist_t lat;
    uint64_t frames, stray, ws_errors;
    int codes[8][2]; /* close code, count */
    int ncodes;
    int sending_done;
} run_t;

static void note_code(run_t *r, int code)
{
    for (int i = 0; i < r->ncodes; i++)
        if (r->codes[i][0] == code) {
            r->codes[i][1]++;
            return;
        }
    if (r->ncodes < 8) {
        r->codes[r->ncodes][0] = code;
        r->codes[r->ncodes++][1] = 1;
    }
}

static void on_writer_text(run_t *r, const char *txt, size_t len)
{
    char type[16], id[40];
    uint32_t v;
    uint64_t seq;
    if (lg_json_str(txt, len, "type", type, sizeof(type)) < 0)
        return;
    if (!strcmp(type, "state")) {
        if (lg_parse_state(txt, len, &v, &seq) == 0) {
            int64_t k = lg_cmds_index_of_value(&r->cmds, v);
            if (k >= 0 && r->cmds.intended_ns[k])
                r->cmds.answer[k] = LG_ANS_APPLIED;
        }
        return;
    }
    if (lg_json_str(txt, len, "cmdId", id, sizeof(id)) < 0)
        return;
    int64_t k = lg_cmds_index_of_id(&r->cmds, id, strlen(id));
    if (k < 0)
        return;
    if (!strcmp(type, "ack"))
        r->cmds.answer[k] = LG_ANS_DUPLICATE;
    else if (!strcmp(type, "error")) {
        r->ws_errors++;
        r->cmds.answer[k] = (memmem(txt, len, "overload", 8) || memmem(txt, len, "dropped", 7))
                                ? LG_ANS_OVERLOAD
                                : LG_ANS_ERROR;
    }
}

static void on_text(lg_wsc_t *c, const char *txt, size_t len, uint64_t t, void *ud)
{
    run_t *r = ud;
    uint32_t id = lg_wsc_id(c), v;
    uint64_t seq;
    if (id == (uint32_t)r->n) {
        if (!r->writer_ready)
            r->writer_ready = 1;
        else
            on_writer_text(r, txt, len);
        return;
    }
    reader_t *rd = &r->rd[id];
    if (!rd->first) {
        rd->first = 1;
        r->ready++;
        return;
    }
    r->frames++;
    if (lg_parse_state(txt, len, &v, &seq) < 0) {
        r->stray++;
        return;
    }
    int64_t k = lg_cmds_index_of_value(&r->cmds, v);
    if (k < 0 || !r->cmds.intended_ns[k] || (rd->bits[k >> 3] & (1u << (k & 7)))) {
        r->stray++;
        return;
    }
    rd->bits[k >> 3] |= (uint8_t)(1u << (k & 7));
    rd->got++;
    r->cmds.seen[k] |= LG_SEEN_WS;
    uint64_t due = r->cmds.intended_ns[k];
    lg_hist_add(&r->lat, t > due ? t - due : 0);
}

static void on_close(lg_wsc_t *c, int was_open, int code, void *ud)
{
    run_t *r = ud;
    uint32_t id = lg_wsc_id(c);
    if (id == (uint32_t)r->n)
        return;
    reader_t *rd = &r->rd[id];
    rd->closed = 1;
    rd->close_code = code;
    if (!rd->first) {
        r->failed++;
    } else {
        r->dropped++;
        note_code(r, code);
    }
}

static const lg_ws_ops_t ws_ops = {NULL, on_text, on_close};

static void on_conn_tick(uv_timer_t *t)
{
    run_t *r = t->data;
    while (r->started < r->n && r->started - r->ready - r->failed < MAX_HANDSHAKES) {
        int i = r->started++;
        r->rd[i].c = lg_ws_connect(r->ws, r->o->host, r->o->port, "/ws",
                                   lg_src_ip(r->o, (unsigned)i), (uint32_t)i);
    }
    if (r->started >= r->n)
        uv_timer_stop(t);
}

static int readers_settled(void *ud)
{
    run_t *r = ud;
    return r->ready + r->failed >= r->n && (!r->wsw || r->writer_ready);
}

static void on_emit(uint64_t e, uint64_t intended, void *ud)
{
    run_t *r = ud;
    char body[256];
    if (r->cmds.n >= r->cmds.cap)
        return;
    uint32_t k = r->cmds.n++;
    r->cmds.intended_ns[k] = intended;
    if (r->wsw) {
        r->cmds.chan[k] = LG_CHAN_WS;
        size_t len = lg_cmds_body(&r->cmds, k, "api", 1, body, sizeof(body));
        if (lg_wsc_send(r->wsw, body, len) < 0)
            r->cmds.answer[k] = LG_ANS_NOCONN;
    } else {
        r->cmds.chan[k] = LG_CHAN_REST;
        lg_rest_submit(r->rest, k);
    }
}

static int ok_answer(int a)
{
    return a == LG_ANS_APPLIED || a == LG_ANS_ACCEPTED;
}

/* Done when the writer has its answers and every open reader has every
 * accepted command's state. */
static int all_arrived(void *ud)
{
    run_t *r = ud;
    if (r->rest && (lg_rest_inflight(r->rest) || lg_rest_backlog(r->rest)))
        return 0;
    uint32_t want = 0;
    for (uint32_t k = 0; k < r->cmds.n; k++)
        want += r->wsw ? 1 : ok_answer(r->cmds.answer[k]);
    for (int i = 0; i < r->n; i++)
        if (r->rd[i].first && !r->rd[i].closed && r->rd[i].got < want)
            return 0;
    return 1;
}

static int pace_done(void *ud)
{
    return lg_pace_done(ud);
}

int lg_scn_fanout(const lg_opts_t *o, json_t *out)
{
    uv_loop_t loop;
    run_t r = {0};
    lg_pace_t pace;
    lg_snap_t s0, s1;
    lg_proc_sample_t p0, pc, p1;
    int ws_writer = !strcmp(o->writer, "ws");

    uint32_t cap = (uint32_t)(o->rate * o->duration_s) + 16;
    if (lg_scn_begin(o, &loop, &s0, &r.cmds, cap) != 0)
        return 1;
    r.o = o;
    r.n = o->readers;
    r.rd = calloc((size_t)r.n + 1, sizeof(*r.rd));
    for (int i = 0; i < r.n; i++)
        r.rd[i].bits = calloc(cap / 8 + 1, 1);
    lg_hist_init(&r.lat);
    r.ws = lg_ws_new(&loop, &ws_ops, &r);
    lg_pace_init(&pace, &loop);

    /* Connect the readers (and the writer). */
    lg_proc_reset_hwm(o->pid);
    lg_proc_sample(o->pid, &p0);
    uint64_t tc = lg_now_ns();
    uv_timer_init(&loop, &r.conn_timer);
    r.conn_timer.data = &r;
    uv_timer_start(&r.conn_timer, on_conn_tick, 0, 1);
    if (ws_writer)
        r.wsw = lg_ws_connect(r.ws, o->host, o->port, "/ws", NULL, (uint32_t)r.n);
    else
        r.rest = lg_rest_new(&loop, o, &r.cmds, WRITER_CONNS, "api", NULL, NULL);
    int settled = lg_run_until(&loop, readers_settled, &r, o->connect_s);
    uv_timer_stop(&r.conn_timer);
    double connect_s = (double)(lg_now_ns() - tc) / 1e9;
    lg_run_for(&loop, 0.2); /* let the server settle after the handshakes */
    lg_proc_sample(o->pid, &pc);
    int ready_at_start = r.ready;

    /* Send at the fixed rate, then wait for the tail. */
    uint64_t t0 = lg_now_ns();
    if (r.ready > 0) {
        lg_pace_start(&pace, o->rate, cap, (uint64_t)(o->duration_s * 1e9), on_emit, &r);
        lg_run_until(&loop, pace_done, &pace, o->duration_s + 2);
        lg_pace_stop(&pace);
        lg_run_until(&loop, all_arrived, &r, o->tail_s);
    }
    double run_s = (double)(lg_now_ns() - t0) / 1e9;
    lg_proc_sample(o->pid, &p1);
    lg_wait_drained(o, 2);
    lg_snap_take(o, &s1);

    /* Account: answers, then per-reader misses. */
    uint64_t accepted = 0, lost_everywhere = 0, missed = 0, by_ans[8] = {0};
    int readers_missing = 0, open_readers = 0;
    for (uint32_t k = 0; k < r.cmds.n; k++) {
        int a = r.cmds.answer[k];
        by_ans[a]++;
        if (ws_writer && a == LG_ANS_NONE && r.cmds.seen[k])
            a = LG_ANS_APPLIED;
        if (ok_answer(a) || (ws_writer && a == LG_ANS_NONE)) {
            accepted++;
            if (!r.cmds.seen[k])
                lost_everywhere++;
        }
    }
    for (int i = 0; i < r.n; i++) {
        reader_t *rd = &r.rd[i];
        if (!rd->first || rd->closed)
            continue;
        open_readers++;
        uint64_t m = 0;
        for (uint32_t k = 0; k < r.cmds.n; k++) {
            int a = r.cmds.answer[k];
            int expect = ok_answer(a) || (ws_writer && a == LG_ANS_NONE);
            if (expect && !(rd->bits[k >> 3] & (1u << (k & 7))))
                m++;
        }
        missed += m;
        readers_missing += m > 0;
    }

    json_t *codes = json_object();
    for (int i = 0; i < r.ncodes; i++) {
        char key[16];
        snprintf(key, sizeof(key), "%d", r.codes[i][0]);
        json_object_set_new(codes, key, json_integer(r.codes[i][1]));
    }
    json_object_set_new(out, "readers", json_integer(r.n));
    json_object_set_new(out, "connected", json_integer(ready_at_start));
    json_object_set_new(out, "all_connected", json_boolean(settled && r.failed == 0));
    json_object_set_new(out, "connect_failed", json_integer(r.failed));
    json_object_set_new(out, "connect_s", json_real(connect_s));
    json_object_set_new(out, "dropped_by_server", json_integer(r.dropped));
    json_object_set_new(out, "close_codes", codes);
    json_object_set_new(out, "writer", json_string(ws_writer ? "ws" : "rest"));
    json_object_set_new(out, "rate", json_real(o->rate));
    json_object_set_new(out, "sent", json_integer(r.cmds.n));
    json_object_set_new(out, "accepted", json_integer((json_int_t)accepted));
    json_object_set_new(out, "answer_overload", json_integer((json_int_t)by_ans[LG_ANS_OVERLOAD]));
    json_object_set_new(out, "answer_error",
                        json_integer((json_int_t)(by_ans[LG_ANS_ERROR] + by_ans[LG_ANS_NOCONN])));
    json_object_set_new(out, "open_readers", json_integer(open_readers));
    json_object_set_new(out, "missed", json_integer((json_int_t)missed));
    json_object_set_new(out, "readers_missing", json_integer(readers_missing));
    json_object_set_new(out, "lost_everywhere", json_integer((json_int_t)lost_everywhere));
    json_object_set_new(out, "frames", json_integer((json_int_t)r.frames));
    json_object_set_new(out, "stray_frames", json_integer((json_int_t)r.stray));
    json_object_set_new(out, "run_s", json_real(run_s));
    json_object_set_new(out, "latency", lg_hist_json(&r.lat));
    if (r.rest)
        json_object_set_new(out, "writer_latency", lg_hist_json(lg_rest_hist(r.rest)));
    json_object_set_new(out, "sender_lag", lg_hist_json(&pace.lag));
    json_object_set_new(out, "rss_connected_kb", json_integer((json_int_t)pc.rss_kb));
    json_object_set_new(out, "server", lg_snap_delta_json(&s0, &s1));
    json_object_set_new(out, "proc", lg_proc_json(&p0, &p1));

    uv_close((uv_handle_t *)&r.conn_timer, NULL);
    lg_pace_close(&pace);
    if (r.rest)
        lg_rest_free(r.rest);
    lg_ws_free(r.ws);
    lg_loop_close(&loop);
    for (int i = 0; i < r.n; i++)
        free(r.rd[i].bits);
    free(r.rd);
    lg_cmds_free(&r.cmds);
    return s1.ok ? 0 : 1; /* no answer after the run: the server died */
}
