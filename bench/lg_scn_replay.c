/* bench/lg_scn_replay.c - scenario "replay": hello{since} over the last E entries.
 *
 * If the hub's seq (dmx_engine_seq) is below --entries, fixture.set_values
 * intents are posted first (closed loop, POST /api/v1/intents) until it is
 * not. Then --repeat times, on a new WebSocket connection each: wait for its
 * first frame (the seed-000 state), read the seq N (nothing else writes
 * meanwhile), send {"type":"hello","since":N-E} and time, from that send,
 * the first `patch` frame and the one with seq N. Every seq N-E+1..N must
 * arrive exactly once and in order; a `snapshot` instead of patches (the
 * journal no longer held them) fails the repeat.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lg.h"
#include "lg_cmd.h"
#include "lg_rest.h"
#include "lg_sync.h"
#include "lg_util.h"
#include "lg_ws.h"

#define FILL_CONNS   16
#define REPLAY_LIMIT 10.0 /* s: a repeat that takes longer fails */
#define REPEAT_MAX   64

typedef struct rep {
    lg_wsc_t *c;
    int first;    /* its first frame came */
    int sent;     /* hello sent */
    int done;     /* seq N seen, or a snapshot */
    int snapshot; /* a snapshot came instead of patches */
    uint64_t since, upto, expect;
    uint64_t t_hello, t_first, t_last;
    uint64_t patches, dup, missing, behind;
} rep_t;

typedef struct run {
    rep_t rep[REPEAT_MAX];
    int cur;
    int closed;
} run_t;

static void on_text(lg_wsc_t *c, const char *txt, size_t len, uint64_t t, void *ud)
{
    run_t *r = ud;
    rep_t *p = &r->rep[lg_wsc_id(c)];
    char type[16];
    double sq;

    if (!p->first) {
        p->first = 1;
        return;
    }
    if (!p->sent || p->done || lg_json_str(txt, len, "type", type, sizeof(type)) != 0)
        return;
    if (!strcmp(type, "snapshot")) {
        p->snapshot = 1;
        p->done = 1;
        p->t_last = t;
        return;
    }
    if (strcmp(type, "patch") != 0 || lg_json_num(txt, len, "seq", &sq) != 0)
        return;
    uint64_t seq = (uint64_t)sq;
    if (p->patches++ == 0)
        p->t_first = t;
    if (seq == p->expect) {
        p->expect++;
    } else if (seq < p->expect) {
        if (seq <= p->since)
            p->behind++; /* older than asked for */
        else
            p->dup++;
    } else {
        p->missing += seq - p->expect;
        p->expect = seq + 1;
    }
    if (seq >= p->upto) {
        p->done = 1;
        p->t_last = t;
    }
}

static void on_close(lg_wsc_t *c, int was_open, int code, void *ud)
{
    run_t *r = ud;
    if ((int)lg_wsc_id(c) == r->cur)
        r->closed = 1;
}

static const lg_ws_ops_t ws_ops = {NULL, on_text, on_close};

static int got_first(void *ud)
{
    run_t *r = ud;
    return r->rep[r->cur].first || r->closed;
}

static int replay_done(void *ud)
{
    run_t *r = ud;
    return r->rep[r->cur].done || r->closed;
}

static double seq_now(const lg_opts_t *o)
{
    char *text = NULL;
    size_t len;
    double v = NAN;
    if (lg_sync_get(o->host, o->port, "/metrics", 5000, &text, &len) == 200)
        v = lg_metric(text, "dmx_engine_seq");
    free(text);
    return v;
}

typedef struct fill {
    lg_rest_t *rest;
} fill_t;

static int fill_done(void *ud)
{
    fill_t *f = ud;
    return lg_rest_inflight(f->rest) == 0 && lg_rest_backlog(f->rest) == 0;
}

/* Post intents until the hub's seq is at least o->entries. */
static int fill(const lg_opts_t *o, uv_loop_t *loop, json_t *out)
{
    double seq = seq_now(o);
    if (isnan(seq))
        return -1;
    json_object_set_new(out, "seq_before", json_integer((json_int_t)seq));
    if (seq >= o->entries)
        return 0;
    lg_snap_t s0;
    lg_cmds_t cmds;
    uint32_t need = (uint32_t)(o->entries - seq) + 16;
    lg_snap_take(o, &s0);
    lg_cmds_init(&cmds, need, s0.value);
    fill_t f = {lg_rest_new(loop, o, &cmds, FILL_CONNS, "api", NULL, NULL)};
    lg_rest_use_intents(f.rest);
    uint64_t t0 = lg_now_ns();
    for (uint32_t k = 0; k < need; k++) {
        cmds.intended_ns[k] = t0;
        cmds.n++;
        lg_rest_submit(f.rest, k);
    }
    int ok = lg_run_until(loop, fill_done, &f, 120);
    const lg_rest_counts_t *c = lg_rest_counts(f.rest);
    json_object_set_new(out, "filled", json_integer((json_int_t)c->by_ans[LG_ANS_APPLIED]));
    json_object_set_new(out, "fill_s", json_real((double)(lg_now_ns() - t0) / 1e9));
    lg_rest_free(f.rest);
    lg_cmds_free(&cmds);
    return ok ? 0 : -1;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* {"median_ms","max_ms","all_ms":[...]} of n values; new reference. */
static json_t *summary(double *v, int n)
{
    json_t *all = json_array();
    for (int i = 0; i < n; i++)
        json_array_append_new(all, json_real(v[i]));
    qsort(v, (size_t)n, sizeof(double), cmp_double);
    double med = n == 0 ? 0 : (n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2);
    return json_pack("{s:f,s:f,s:o}", "median_ms", med, "max_ms", n ? v[n - 1] : 0.0, "all_ms",
                     all);
}

int lg_scn_replay(const lg_opts_t *o, json_t *out)
{
    uv_loop_t loop;
    run_t r;
    int nrep = o->repeat < REPEAT_MAX ? o->repeat : REPEAT_MAX;
    double first_ms[REPEAT_MAX], last_ms[REPEAT_MAX];
    int complete = 0, in_order = 1, snapshots = 0;
    uint64_t patches = 0, dup = 0, missing = 0, behind = 0;

    memset(&r, 0, sizeof(r));
    uv_loop_init(&loop);
    if (fill(o, &loop, out) != 0) {
        fprintf(stderr, "loadgen: could not bring the journal to %d entries\n", o->entries);
        lg_loop_close(&loop);
        return 1;
    }
    lg_ws_t *ws = lg_ws_new(&loop, &ws_ops, &r);
    int n = 0;
    for (; n < nrep; n++) {
        rep_t *p = &r.rep[n];
        r.cur = n;
        r.closed = 0;
        p->c = lg_ws_connect(ws, o->host, o->port, "/ws", NULL, (uint32_t)n);
        if (!lg_run_until(&loop, got_first, &r, 10) || r.closed) {
            fprintf(stderr, "loadgen: replay connection %d did not open\n", n);
            break;
        }
        double seq = seq_now(o);
        if (isnan(seq) || seq < o->entries)
            break;
        p->upto = (uint64_t)seq;
        p->since = p->upto - (uint64_t)o->entries;
        p->expect = p->since + 1;
        char msg[96];
        int len = snprintf(msg, sizeof(msg), "{\"type\":\"hello\",\"since\":%llu}",
                           (unsigned long long)p->since);
        p->t_hello = lg_now_ns();
        p->sent = 1;
        lg_wsc_send(p->c, msg, (size_t)len);
        lg_run_until(&loop, replay_done, &r, REPLAY_LIMIT);
        int ok = p->done && !p->snapshot && !r.closed;
        first_ms[n] = p->patches ? (double)(p->t_first - p->t_hello) / 1e6 : REPLAY_LIMIT * 1e3;
        last_ms[n] = ok ? (double)(p->t_last - p->t_hello) / 1e6 : REPLAY_LIMIT * 1e3;
        complete += ok && p->missing == 0 && p->dup == 0 && p->behind == 0 &&
                    p->patches == (uint64_t)o->entries;
        in_order = in_order && p->missing == 0 && p->dup == 0 && p->behind == 0;
        snapshots += p->snapshot;
        patches += p->patches;
        dup += p->dup;
        missing += p->missing;
        behind += p->behind;
    }
    json_object_set_new(out, "entries", json_integer(o->entries));
    json_object_set_new(out, "repeats", json_integer(n));
    json_object_set_new(out, "complete", json_integer(complete));
    json_object_set_new(out, "all_complete", json_boolean(n == nrep && complete == n));
    json_object_set_new(out, "in_order_once", json_boolean(in_order));
    json_object_set_new(out, "patches", json_integer((json_int_t)patches));
    json_object_set_new(out, "duplicates", json_integer((json_int_t)dup));
    json_object_set_new(out, "missing", json_integer((json_int_t)missing));
    json_object_set_new(out, "older_than_since", json_integer((json_int_t)behind));
    json_object_set_new(out, "snapshot_instead", json_integer(snapshots));
    json_object_set_new(out, "first_patch", summary(first_ms, n));
    json_object_set_new(out, "last_patch", summary(last_ms, n));
    lg_ws_free(ws);
    lg_loop_close(&loop);
    return n == nrep ? 0 : 1;
}
