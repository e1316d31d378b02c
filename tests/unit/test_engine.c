/* tests/unit/test_engine.c - engine/engine on a real uv loop.
 *
 * Runs the engine with no store (batches complete at once) and with
 * fake_persist.h, which holds each batch until the test completes it, so
 * group commit and "answer only when durable" can be observed. The loop is
 * turned with UV_RUN_NOWAIT under an iteration cap, never unbounded.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uv.h>

#include "core/clock.h"
#include "core/err.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/metrics.h"
#include "core/ulid.h"
#include "engine/engine.h"
#include "fake_persist.h"

#define PUMP_CAP 200000

/* ---- what the callbacks saw ------------------------------------------ */

struct answer {
    char id[HUB_ULID_LEN + 1];
    int outcome;
    uint64_t seq;
    uint8_t rgb[3];
    int tag; /* the submitter's tag (from ud) */
};

struct tctx {
    uv_loop_t loop;
    hub_metrics_t *metrics;
    hub_engine_t *e;
    fake_persist_t fake;
    int use_fake;
    int auto_complete; /* pump completes held batches */
    pthread_t loop_thread;
    struct answer *ans;
    size_t nans, capans;
    uint64_t *subs_seq; /* seq of each subscriber call */
    uint8_t (*subs_rgb)[3];
    size_t nsubs, capsubs;
    int errors; /* callback-side contract checks failed */
    char why[256];
    size_t on_room_calls;
};

/* Per-command ud: the tag identifies the command in answers. */
struct tag {
    struct tctx *t;
    int tag;
    int answers; /* how often done was called */
};

static void ctx_error(struct tctx *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void ctx_error(struct tctx *t, const char *fmt, ...)
{
    if (t->errors++ == 0) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(t->why, sizeof(t->why), fmt, ap);
        va_end(ap);
    }
}

/* What every view must satisfy, wherever it is seen. */
static void check_view(struct tctx *t, const hub_view_t *v)
{
    char buf[256];
    uint8_t rgb[3];

    if (v == NULL || v->state == NULL) {
        ctx_error(t, "view or view->state is NULL");
        return;
    }
    if (v->state->seq != v->seq)
        ctx_error(t, "view seq %" PRIu64 " but state seq %" PRIu64, v->seq, v->state->seq);
    hub_state_get_rgb(v->state, rgb);
    if (memcmp(rgb, v->rgb, 3) != 0)
        ctx_error(t, "view rgb differs from its state's");
    hub_state_render_rgb(v->state, buf, sizeof(buf));
    if (v->rgb_json == NULL || v->rgb_len != strlen(buf) || memcmp(v->rgb_json, buf, v->rgb_len))
        ctx_error(t, "view rgb_json is not the rendering of its state");
    hub_state_render_ws(v->state, buf, sizeof(buf));
    if (v->ws_json == NULL || v->ws_len != strlen(buf) || memcmp(v->ws_json, buf, v->ws_len))
        ctx_error(t, "view ws_json is not the rendering of its state");
    snprintf(buf, sizeof(buf),
             "{\"schema\":\"demo.rgb.state.v1\",\"r\":%u,\"g\":%u,\"b\":%u,\"seq\":%" PRIu64
             ",\"ts\":%" PRIu64 "}",
             v->rgb[0], v->rgb[1], v->rgb[2], v->seq, v->ts_ms);
    if (v->rgb_json == NULL || strncmp(v->rgb_json, buf, v->rgb_len) != 0 ||
        v->rgb_len != strlen(buf))
        ctx_error(t, "view rgb_json %.*s != %s", (int)v->rgb_len, v->rgb_json, buf);
}

static void on_done(hub_cmd_t *cmd, int outcome, const hub_view_t *view, void *ud)
{
    struct tag *tg = ud;
    struct tctx *t = tg->t;

    if (!pthread_equal(pthread_self(), t->loop_thread))
        ctx_error(t, "done called off the loop thread");
    if (++tg->answers != 1)
        ctx_error(t, "command %d answered %d times", tg->tag, tg->answers);
    check_view(t, view);
    if (outcome == HUB_CMD_APPLIED) {
        if (view->cmd != cmd)
            ctx_error(t, "applied view->cmd is not the command");
        if (memcmp(view->rgb, cmd->rgb, 3) != 0)
            ctx_error(t, "applied view rgb is not the command's");
    } else if (t->e != NULL && view->seq != hub_engine_view(t->e)->seq) {
        /* Not applied: the view is the current state. */
        ctx_error(t, "outcome %d: view seq %" PRIu64 " is not the current %" PRIu64, outcome,
                  view->seq, hub_engine_view(t->e)->seq);
    }
    if (t->nans == t->capans) {
        t->capans = t->capans ? t->capans * 2 : 64;
        t->ans = hub_realloc(t->ans, t->capans * sizeof(*t->ans));
    }
    struct answer *a = &t->ans[t->nans++];
    memcpy(a->id, cmd->cmd_id, sizeof(a->id));
    a->outcome = outcome;
    a->seq = view->seq;
    memcpy(a->rgb, view->rgb, 3);
    a->tag = tg->tag;
}

static void on_state(const hub_view_t *view, void *ud)
{
    struct tctx *t = ud;

    check_view(t, view);
    if (t->nsubs > 0 && view->seq != t->subs_seq[t->nsubs - 1] + 1)
        ctx_error(t, "subscriber saw seq %" PRIu64 " after %" PRIu64, view->seq,
                  t->subs_seq[t->nsubs - 1]);
    if (view->cmd == NULL || view->cmd->seq != view->seq)
        ctx_error(t, "subscriber view without the command that made it");
    if (t->nsubs == t->capsubs) {
        t->capsubs = t->capsubs ? t->capsubs * 2 : 64;
        t->subs_seq = hub_realloc(t->subs_seq, t->capsubs * sizeof(*t->subs_seq));
        t->subs_rgb = hub_realloc(t->subs_rgb, t->capsubs * sizeof(*t->subs_rgb));
    }
    t->subs_seq[t->nsubs] = view->seq;
    memcpy(t->subs_rgb[t->nsubs], view->rgb, 3);
    t->nsubs++;
}

static void on_room(void *ud)
{
    ((struct tctx *)ud)->on_room_calls++;
}

/* ---- set-up and the loop ------------------------------------------------ */

static hub_engine_cfg_t cfg_default(void)
{
    hub_engine_cfg_t c = {
        .queue_size = 1000,
        .dedupe_capacity = 4096,
        .dedupe_ttl_ms = 900000,
        .demo_universe = 1,
        .batch_max = 0,
    };
    return c;
}

static void engine_start(struct tctx *t, const hub_engine_cfg_t *cfg, int use_fake,
                         const hub_restore_t *restore)
{
    hub_persist_ops_t ops;

    t->use_fake = use_fake;
    if (use_fake)
        ops = fake_persist_ops(&t->fake);
    assert_int_equal(
        hub_engine_new(&t->e, &t->loop, cfg, t->metrics, use_fake ? &ops : NULL, restore), 0);
    assert_non_null(t->e);
    hub_engine_subscribe(t->e, on_state, t);
}

static int setup(void **state)
{
    struct tctx *t = hub_calloc(1, sizeof(*t));
    t->loop_thread = pthread_self();
    assert_int_equal(uv_loop_init(&t->loop), 0);
    t->metrics = hub_metrics_new();
    *state = t;
    return 0;
}

static void engine_stop(struct tctx *t)
{
    if (t->e != NULL) {
        hub_engine_free(t->e);
        t->e = NULL;
    }
    for (int i = 0; i < 1000 && uv_loop_alive(&t->loop); i++)
        uv_run(&t->loop, UV_RUN_NOWAIT);
}

static int teardown(void **state)
{
    struct tctx *t = *state;

    engine_stop(t);
    /* Every handle closed: libuv's MAKE_VALGRIND_HAPPY. */
    int rc = uv_loop_close(&t->loop);
    hub_metrics_free(t->metrics);
    hub_free(t->ans);
    hub_free(t->subs_seq);
    hub_free(t->subs_rgb);
    hub_free(t);
    assert_int_equal(rc, 0);
    return 0;
}

/* Turn the loop (and, in auto mode, the fake store) until want answers have
 * arrived and the engine is idle, or the cap is hit. */
static void pump_until(struct tctx *t, size_t want_answers)
{
    for (int i = 0; i < PUMP_CAP; i++) {
        if (t->nans >= want_answers && hub_engine_idle(t->e) && t->fake.nheld == 0)
            return;
        uv_run(&t->loop, UV_RUN_NOWAIT);
        if (t->use_fake && t->auto_complete)
            while (fake_persist_complete(&t->fake, 0))
                ;
    }
    fail_msg("loop did not settle: %zu answers (want %zu), idle %d, held %zu", t->nans,
             want_answers, hub_engine_idle(t->e), t->fake.nheld);
}

/* Turn the loop n times without completing anything. */
static void spin(struct tctx *t, int n)
{
    for (int i = 0; i < n; i++)
        uv_run(&t->loop, UV_RUN_NOWAIT);
}

static void make_id(char out[HUB_ULID_LEN + 1], uint32_t n)
{
    uint8_t rnd[10] = {0};
    rnd[6] = (uint8_t)(n >> 24);
    rnd[7] = (uint8_t)(n >> 16);
    rnd[8] = (uint8_t)(n >> 8);
    rnd[9] = (uint8_t)n;
    hub_ulid_encode(out, 1732363200000ULL, rnd);
}

static hub_cmd_t *mk(struct tctx *t, struct tag *tg, int tag, uint32_t idn, const char *src,
                     uint8_t r, uint8_t g, uint8_t b)
{
    char id[HUB_ULID_LEN + 1];
    uint8_t rgb[3] = {r, g, b};

    make_id(id, idn);
    hub_cmd_t *c = hub_cmd_new(id, src, rgb);
    c->recv_us = hub_mono_us();
    if (tg != NULL) {
        tg->t = t;
        tg->tag = tag;
        tg->answers = 0;
        c->done = on_done;
        c->ud = tg;
    }
    return c;
}

static const struct answer *answer_of(const struct tctx *t, int tag)
{
    for (size_t i = 0; i < t->nans; i++)
        if (t->ans[i].tag == tag)
            return &t->ans[i];
    fail_msg("no answer for command %d", tag);
    return NULL;
}

/* Value of an unlabelled sample in the Prometheus text, or NAN. */
static double metric(struct tctx *t, const char *name)
{
    size_t len;
    char *text = hub_metrics_render(t->metrics, &len);
    size_t nlen = strlen(name);
    double v = NAN;

    for (char *line = text; line != NULL && *line != '\0';) {
        char *nl = strchr(line, '\n');
        if (strncmp(line, name, nlen) == 0 && line[nlen] == ' ') {
            v = strtod(line + nlen + 1, NULL);
            break;
        }
        line = nl ? nl + 1 : NULL;
    }
    free(text);
    return v;
}

static void assert_ctx_ok(struct tctx *t)
{
    if (t->errors != 0)
        fail_msg("%d callback check(s) failed; first: %s", t->errors, t->why);
    if (t->fake.violations != 0)
        fail_msg("%d batch promise(s) broken; first: %s", t->fake.violations, t->fake.why);
}

/* ---- tests ---------------------------------------------------------------- */

static void test_initial_view(void **state)
{
    struct tctx *t = *state;
    hub_engine_cfg_t cfg = cfg_default();

    engine_start(t, &cfg, 0, NULL);
    const hub_view_t *v = hub_engine_view(t->e);
    assert_true(v->seq == 0);
    assert_int_equal(v->rgb[0], 0);
    assert_int_equal(v->rgb[1], 0);
    assert_int_equal(v->rgb[2], 0);
    assert_null(v->cmd);
    assert_int_equal(v->rgb_len, strlen(v->rgb_json));
    assert_string_equal(v->rgb_json, "{\"schema\":\"demo.rgb.state.v1\","
                                     "\"r\":0,\"g\":0,\"b\":0,\"seq\":0,\"ts\":0}");
    assert_string_equal(v->ws_json,
                        "{\"type\":\"state\",\"r\":0,\"g\":0,\"b\":0,\"seq\":0,\"ts\":0}");
    assert_non_null(hub_state_fixture(v->state, "demo"));
    assert_non_null(hub_state_universe((hub_state_t *)v->state, 1));
    assert_int_equal(hub_engine_idle(t->e), 1);
    assert_int_equal(hub_engine_queue_depth(t->e), 0);
    assert_int_equal(hub_engine_room(t->e), 1000);
    assert_true(metric(t, "dmx_engine_processed_total") == 0);
    assert_true(metric(t, "dmx_engine_deduped_total") == 0);
    assert_true(metric(t, "dmx_engine_queue_depth") == 0);
}

static void test_apply_and_duplicate(void **state)
{
    struct tctx *t = *state;
    hub_engine_cfg_t cfg = cfg_default();
    struct tag tg[4];

    engine_start(t, &cfg, 0, NULL);
    uint64_t before = hub_wall_ms();
    assert_int_equal(hub_engine_submit(t->e, mk(t, &tg[0], 0, 1, "ui", 64, 32, 128)), 0);
    assert_int_equal(hub_engine_queue_depth(t->e), 1);
    assert_int_equal(hub_engine_idle(t->e), 0);
    assert_true(metric(t, "dmx_engine_queue_depth") == 1);
    pump_until(t, 1);
    uint64_t after = hub_wall_ms();

    const struct answer *a = answer_of(t, 0);
    assert_int_equal(a->outcome, HUB_CMD_APPLIED);
    assert_true(a->seq == 1);
    assert_int_equal(a->rgb[0], 64);
    assert_int_equal(a->rgb[1], 32);
    assert_int_equal(a->rgb[2], 128);
    const hub_view_t *v = hub_engine_view(t->e);
    assert_true(v->seq == 1);
    assert_true(v->ts_ms >= before && v->ts_ms <= after);
    assert_memory_equal(v->rgb, a->rgb, 3);

    /* Same cmdId, other values: a duplicate, nothing changes. */
    assert_int_equal(hub_engine_submit(t->e, mk(t, &tg[1], 1, 1, "mqtt", 1, 2, 3)), 0);
    pump_until(t, 2);
    a = answer_of(t, 1);
    assert_int_equal(a->outcome, HUB_CMD_DUPLICATE);
    assert_true(a->seq == 1);
    assert_int_equal(a->rgb[0], 64);
    assert_int_equal(a->rgb[2], 128);
    assert_true(hub_engine_view(t->e)->seq == 1);

    assert_int_equal(hub_engine_submit(t->e, mk(t, &tg[2], 2, 2, "api", 0, 255, 7)), 0);
    pump_until(t, 3);
    a = answer_of(t, 2);
    assert_int_equal(a->outcome, HUB_CMD_APPLIED);
    assert_true(a->seq == 2);
    assert_int_equal(a->rgb[1], 255);

    assert_int_equal(t->nsubs, 2);
    assert_true(t->subs_seq[0] == 1 && t->subs_seq[1] == 2);
    assert_true(metric(t, "dmx_engine_processed_total") == 2);
    assert_true(metric(t, "dmx_engine_deduped_total") == 1);
    assert_true(metric(t, "dmx_engine_queue_depth") == 0);
    assert_int_equal(hub_engine_idle(t->e), 1);
    assert_ctx_ok(t);
}

static void test_duplicate_in_same_drain(void **state)
{
    struct tctx *t = *state;
    hub_engine_cfg_t cfg = cfg_default();
    struct tag tg[3];

    engine_start(t, &cfg, 0, NULL);
    /* Queued together: the second copy must still be a duplicate. */
    assert_int_equal(hub_engine_submit(t->e, mk(t, &tg[0], 0, 7, "api", 10, 10, 10)), 0);
    assert_int_equal(hub_engine_submit(t->e, mk(t, &tg[1], 1, 7, "api", 20, 20, 20)), 0);
    assert_int_equal(hub_engine_submit(t->e, mk(t, &tg[2], 2, 8, "api", 30, 30, 30)), 0);
    pump_until(t, 3);
    assert_int_equal(answer_of(t, 0)->outcome, HUB_CMD_APPLIED);
    assert_int_equal(answer_of(t, 1)->outcome, HUB_CMD_DUPLICATE);
    assert_int_equal(answer_of(t, 2)->outcome, HUB_CMD_APPLIED);
    assert_true(answer_of(t, 2)->seq == 2);
    assert_true(hub_engine_view(t->e)->seq == 2);
    assert_int_equal(hub_engine_view(t->e)->rgb[0], 30);
    assert_true(metric(t, "dmx_engine_deduped_total") == 1);
    assert_ctx_ok(t);
}

static void test_drain_now(void **state)
{
    struct tctx *t = *state;
    hub_engine_cfg_t cfg = cfg_default();
    struct tag tg[3];

    engine_start(t, &cfg, 0, NULL);
    for (int i = 0; i < 3; i++)
        assert_int_equal(
            hub_engine_submit(t->e, mk(t, &tg[i], i, (uint32_t)(100 + i), "api", (uint8_t)i, 0, 0)),
            0);
    assert_int_equal(hub_engine_drain_now(t->e), 3);
    /* No store: the batch completes at once, so answers are already out. */
    assert_int_equal(t->nans, 3);
    assert_true(hub_engine_view(t->e)->seq == 3);
    assert_int_equal(hub_engine_drain_now(t->e), 0);
    assert_ctx_ok(t);
}

static void test_group_commit(void **state)
{
    struct tctx *t = *state;
    hub_engine_cfg_t cfg = cfg_default();
    struct tag tg[4];

    engine_start(t, &cfg, 1, NULL);
    assert_int_equal(hub_engine_submit(t->e, mk(t, &tg[0], 0, 1, "ui", 1, 2, 3)), 0);
    spin(t, 50);
    /* The batch is at the store: nothing answered, announced or published. */
    hub_batch_t *b = fake_persist_peek(&t->fake);
    assert_non_null(b);
    assert_int_equal(t->fake.nheld, 1);
    assert_int_equal(b->nrecs, 1);
    assert_true(b->recs[0].seq == 1);
    char id1[HUB_ULID_LEN + 1];
    make_id(id1, 1);
    assert_string_equal(b->recs[0].cmd_id, id1);
    assert_string_equal(b->recs[0].src, "ui");
    assert_int_equal(b->recs[0].rgb[0], 1);
    assert_int_equal(b->recs[0].rgb[2], 3);
    assert_true(b->recs[0].ts_ms > 0);
    assert_true(b->state.seq == 1);
    assert_int_equal(t->nans, 0);
    assert_int_equal(t->nsubs, 0);
    assert_true(hub_engine_view(t->e)->seq == 0);
    assert_int_equal(hub_engine_idle(t->e), 0);
    assert_true(metric(t, "dmx_engine_processed_total") == 0);

    /* More arrive while it commits: they wait in the next batch. */
    assert_int_equal(hub_engine_submit(t->e, mk(t, &tg[1], 1, 2, "api", 4, 5, 6)), 0);
    assert_int_equal(hub_engine_submit(t->e, mk(t, &tg[2], 2, 3, "api", 7, 8, 9)), 0);
    assert_int_equal(hub_engine_submit(t->e, mk(t, &tg[3], 3, 1, "api", 9, 9, 9)), 0);
    spin(t, 50);
    assert_int_equal(t->fake.submitted, 1);
    assert_int_equal(t->fake.nheld, 1);
    assert_int_equal(t->nans, 0);
    assert_int_equal(t->nsubs, 0);

    /* Batch 1 durable: its command is answered and announced, only it. */
    assert_int_equal(fake_persist_complete(&t->fake, 0), 1);
    spin(t, 50);
    assert_int_equal(t->nans, 1);
    assert_int_equal(answer_of(t, 0)->outcome, HUB_CMD_APPLIED);
    assert_true(answer_of(t, 0)->seq == 1);
    assert_int_equal(t->nsubs, 1);
    assert_true(hub_engine_view(t->e)->seq == 1);
    assert_true(metric(t, "dmx_engine_processed_total") == 1);

    /* The rest went as one batch (group commit). */
    b = fake_persist_peek(&t->fake);
    assert_non_null(b);
    assert_int_equal(t->fake.submitted, 2);
    assert_int_equal(b->nrecs, 2);
    assert_true(b->recs[0].seq == 2 && b->recs[1].seq == 3);
    assert_int_equal(b->recs[1].rgb[0], 7);
    assert_true(b->state.seq == 3);
    assert_int_equal(fake_persist_complete(&t->fake, 0), 1);
    pump_until(t, 4);
    assert_int_equal(answer_of(t, 1)->outcome, HUB_CMD_APPLIED);
    assert_true(answer_of(t, 1)->seq == 2);
    assert_int_equal(answer_of(t, 2)->outcome, HUB_CMD_APPLIED);
    assert_true(answer_of(t, 2)->seq == 3);
    assert_int_equal(answer_of(t, 3)->outcome, HUB_CMD_DUPLICATE);
    assert_int_equal(t->nsubs, 3);
    assert_int_equal(t->subs_rgb[1][0], 4);
    assert_int_equal(t->subs_rgb[2][0], 7);
    assert_true(hub_engine_view(t->e)->seq == 3);
    assert_int_equal(hub_engine_idle(t->e), 1);
    assert_true(metric(t, "dmx_engine_processed_total") == 3);
    assert_true(metric(t, "dmx_engine_deduped_total") == 1);
    assert_ctx_ok(t);
}

static void test_batch_max_stops_draining(void **state)
{
    struct tctx *t = *state;
    hub_engine_cfg_t cfg = cfg_default();
    struct tag tg[5];

    cfg.batch_max = 2;
    engine_start(t, &cfg, 1, NULL);
    assert_int_equal(hub_engine_submit(t->e, mk(t, &tg[0], 0, 1, "api", 1, 1, 1)), 0);
    spin(t, 20);
    assert_int_equal(t->fake.nheld, 1);
    for (int i = 1; i < 5; i++)
        assert_int_equal(
            hub_engine_submit(t->e, mk(t, &tg[i], i, (uint32_t)(1 + i), "api", (uint8_t)i, 0, 0)),
            0);
    spin(t, 50);
    /* The open batch holds 2; the other 2 stay queued (back-pressure). */
    assert_int_equal(hub_engine_queue_depth(t->e), 2);
    assert_int_equal(fake_persist_complete(&t->fake, 0), 1);
    spin(t, 20);
    assert_int_equal(fake_persist_peek(&t->fake)->nrecs, 2);
    t->auto_complete = 1;
    pump_until(t, 5);
    assert_int_equal(t->fake.submitted, 3);
    assert_true(hub_engine_view(t->e)->seq == 5);
    assert_ctx_ok(t);
}

static void test_store_failure(void **state)
{
    struct tctx *t = *state;
    hub_engine_cfg_t cfg = cfg_default();
    struct tag tg[2];

    engine_start(t, &cfg, 1, NULL);
    assert_int_equal(hub_engine_submit(t->e, mk(t, &tg[0], 0, 1, "api", 5, 5, 5)), 0);
    spin(t, 20);
    assert_int_equal(fake_persist_complete(&t->fake, HUB_ESTORE), 1);
    spin(t, 20);
    assert_int_equal(t->nans, 1);
    assert_int_equal(answer_of(t, 0)->outcome, HUB_ESTORE);
    assert_non_null(hub_engine_store_error(t->e));
    assert_true(metric(t, "dmx_engine_processed_total") == 0);

    /* Not durable, so not remembered: the retry applies. */
    assert_int_equal(hub_engine_submit(t->e, mk(t, &tg[1], 1, 1, "api", 5, 5, 5)), 0);
    t->auto_complete = 1;
    pump_until(t, 2);
    assert_int_equal(answer_of(t, 1)->outcome, HUB_CMD_APPLIED);
    assert_null(hub_engine_store_error(t->e));
    assert_true(metric(t, "dmx_engine_processed_total") == 1);
    assert_true(metric(t, "dmx_engine_deduped_total") == 0);
}

/* A duplicate of a command whose commit then fails did not take effect
 * either: it must not be answered "duplicate" (review finding S2). */
static void test_duplicate_of_failed_commit(void **state)
{
    struct tctx *t = *state;
    hub_engine_cfg_t cfg = cfg_default();
    struct tag tg[3];

    engine_start(t, &cfg, 1, NULL);
    assert_int_equal(hub_engine_submit(t->e, mk(t, &tg[0], 0, 7, "api", 5, 5, 5)), 0);
    spin(t, 20); /* batch 1 (id 7) in flight */
    assert_int_equal(hub_engine_submit(t->e, mk(t, &tg[1], 1, 7, "api", 5, 5, 5)), 0);
    spin(t, 20); /* the duplicate waits in batch 2 */
    assert_int_equal(t->nans, 0);
    assert_int_equal(fake_persist_complete(&t->fake, HUB_ESTORE), 1);
    spin(t, 20);
    assert_int_equal(t->nans, 2);
    assert_int_equal(answer_of(t, 0)->outcome, HUB_ESTORE);
    assert_int_equal(answer_of(t, 1)->outcome, HUB_ESTORE);
    assert_true(metric(t, "dmx_engine_deduped_total") == 0);
    /* And the retry applies. */
    assert_int_equal(hub_engine_submit(t->e, mk(t, &tg[2], 2, 7, "api", 5, 5, 5)), 0);
    t->auto_complete = 1;
    pump_until(t, 3);
    assert_int_equal(answer_of(t, 2)->outcome, HUB_CMD_APPLIED);
}

/* Once the store is closing, the open batch is never submitted: its commands
 * are answered HUB_ESHUTDOWN, while the batch in flight completes normally. */
static void test_close_store(void **state)
{
    struct tctx *t = *state;
    hub_engine_cfg_t cfg = cfg_default();
    struct tag tg[2];

    engine_start(t, &cfg, 1, NULL);
    assert_int_equal(hub_engine_submit(t->e, mk(t, &tg[0], 0, 1, "api", 1, 1, 1)), 0);
    spin(t, 20);
    assert_int_equal(hub_engine_submit(t->e, mk(t, &tg[1], 1, 2, "api", 2, 2, 2)), 0);
    spin(t, 20);
    hub_engine_close_store(t->e);
    assert_int_equal(fake_persist_complete(&t->fake, 0), 1);
    spin(t, 20);
    assert_int_equal(t->nans, 2);
    assert_int_equal(answer_of(t, 0)->outcome, HUB_CMD_APPLIED);
    assert_int_equal(answer_of(t, 1)->outcome, HUB_ESHUTDOWN);
    assert_null(fake_persist_peek(&t->fake)); /* nothing more was submitted */
    assert_true(hub_engine_idle(t->e));
}

static void test_overload_drops_oldest_ui(void **state)
{
    struct tctx *t = *state;
    hub_engine_cfg_t cfg = cfg_default();
    struct tag tg[4];

    cfg.queue_size = 2;
    engine_start(t, &cfg, 0, NULL);
    assert_int_equal(hub_engine_submit(t->e, mk(t, &tg[0], 0, 1, "ui", 1, 0, 0)), 0);
    assert_int_equal(hub_engine_submit(t->e, mk(t, &tg[1], 1, 2, "ui", 2, 0, 0)), 0);
    assert_int_equal(hub_engine_room(t->e), 0);
    assert_int_equal(hub_engine_submit(t->e, mk(t, &tg[2], 2, 3, "ui", 3, 0, 0)), 0);
    /* Not answered from inside submit. */
    assert_int_equal(t->nans, 0);
    assert_int_equal(hub_engine_submit(t->e, mk(t, &tg[3], 3, 4, "api", 4, 0, 0)), 0);
    assert_int_equal(t->nans, 0);
    assert_int_equal(hub_engine_queue_depth(t->e), 2);
    assert_true(metric(t, "dmx_engine_dropped_total") == 2);
    pump_until(t, 4);
    assert_int_equal(answer_of(t, 0)->outcome, HUB_EDROPPED);
    assert_int_equal(answer_of(t, 1)->outcome, HUB_EDROPPED);
    assert_int_equal(answer_of(t, 2)->outcome, HUB_CMD_APPLIED);
    assert_true(answer_of(t, 2)->seq == 1);
    assert_int_equal(answer_of(t, 3)->outcome, HUB_CMD_APPLIED);
    assert_true(answer_of(t, 3)->seq == 2);
    assert_int_equal(hub_engine_view(t->e)->rgb[0], 4);
    assert_true(metric(t, "dmx_engine_processed_total") == 2);
    assert_true(metric(t, "dmx_engine_refused_total") == 0);
    assert_ctx_ok(t);
}

static void test_overload_refuses(void **state)
{
    struct tctx *t = *state;
    hub_engine_cfg_t cfg = cfg_default();
    struct tag tg[4];

    cfg.queue_size = 2;
    engine_start(t, &cfg, 0, NULL);
    hub_engine_on_room(t->e, on_room, t);
    assert_int_equal(hub_engine_submit(t->e, mk(t, &tg[0], 0, 1, "api", 1, 0, 0)), 0);
    assert_int_equal(hub_engine_submit(t->e, mk(t, &tg[1], 1, 2, "mqtt", 2, 0, 0)), 0);
    hub_cmd_t *c = mk(t, &tg[2], 2, 3, "api", 3, 0, 0);
    assert_int_equal(hub_engine_submit(t->e, c), HUB_EOVERLOAD);
    hub_cmd_t *u = mk(t, &tg[3], 3, 4, "ui", 4, 0, 0);
    assert_int_equal(hub_engine_submit(t->e, u), HUB_EOVERLOAD);
    /* The caller kept them: freeing here must be safe (ASan). */
    hub_cmd_free(c);
    hub_cmd_free(u);
    assert_true(metric(t, "dmx_engine_refused_total") == 2);
    assert_true(metric(t, "dmx_engine_dropped_total") == 0);
    assert_int_equal(hub_engine_room(t->e), 0);
    pump_until(t, 2);
    assert_int_equal(t->nans, 2);
    assert_int_equal(tg[2].answers, 0);
    assert_int_equal(tg[3].answers, 0);
    assert_int_equal(hub_engine_room(t->e), 2);
    assert_int_equal(t->on_room_calls, 1);
    assert_true(hub_engine_view(t->e)->seq == 2);
    assert_ctx_ok(t);
}

static void test_detach(void **state)
{
    struct tctx *t = *state;
    hub_engine_cfg_t cfg = cfg_default();
    struct tag tg[3];

    engine_start(t, &cfg, 1, NULL);
    hub_cmd_t *a = mk(t, &tg[0], 0, 1, "api", 1, 1, 1);
    assert_int_equal(hub_engine_submit(t->e, a), 0);
    hub_cmd_detach(a); /* detached while queued */
    spin(t, 20);
    hub_cmd_t *b = mk(t, &tg[1], 1, 2, "api", 2, 2, 2);
    assert_int_equal(hub_engine_submit(t->e, b), 0);
    spin(t, 20);
    hub_cmd_detach(b); /* detached while applied, not yet durable */
    assert_int_equal(hub_engine_submit(t->e, mk(t, &tg[2], 2, 3, "api", 3, 3, 3)), 0);
    t->auto_complete = 1;
    pump_until(t, 1);
    assert_int_equal(tg[0].answers, 0);
    assert_int_equal(tg[1].answers, 0);
    assert_int_equal(t->nans, 1);
    assert_true(answer_of(t, 2)->seq == 3);
    /* Detached commands still count: the state moved. */
    assert_int_equal(t->nsubs, 3);
    assert_true(hub_engine_view(t->e)->seq == 3);
    assert_ctx_ok(t);
}

static void test_stop_intake(void **state)
{
    struct tctx *t = *state;
    hub_engine_cfg_t cfg = cfg_default();
    struct tag tg[2];

    engine_start(t, &cfg, 0, NULL);
    assert_int_equal(hub_engine_submit(t->e, mk(t, &tg[0], 0, 1, "api", 1, 1, 1)), 0);
    hub_engine_stop_intake(t->e);
    hub_cmd_t *c = mk(t, &tg[1], 1, 2, "api", 2, 2, 2);
    assert_int_equal(hub_engine_submit(t->e, c), HUB_ESHUTDOWN);
    hub_cmd_free(c);
    /* Queued before the stop: still runs. */
    pump_until(t, 1);
    assert_int_equal(answer_of(t, 0)->outcome, HUB_CMD_APPLIED);
    assert_int_equal(tg[1].answers, 0);
    assert_true(hub_engine_view(t->e)->seq == 1);
    assert_ctx_ok(t);
}

static void test_free_answers_pending(void **state)
{
    struct tctx *t = *state;
    hub_engine_cfg_t cfg = cfg_default();
    struct tag tg[4];

    cfg.queue_size = 3;
    engine_start(t, &cfg, 0, NULL);
    assert_int_equal(hub_engine_submit(t->e, mk(t, &tg[0], 0, 1, "ui", 1, 1, 1)), 0);
    assert_int_equal(hub_engine_submit(t->e, mk(t, &tg[1], 1, 2, "api", 2, 2, 2)), 0);
    assert_int_equal(hub_engine_submit(t->e, mk(t, &tg[2], 2, 3, "api", 3, 3, 3)), 0);
    assert_int_equal(hub_engine_submit(t->e, mk(t, &tg[3], 3, 4, "api", 4, 4, 4)), 0);
    /* 0 was dropped (its answer pending), 1..3 are queued. */
    hub_engine_t *e = t->e;
    t->e = NULL; /* on_done must not look at a dying engine */
    hub_engine_free(e);
    assert_int_equal(t->nans, 4);
    for (int i = 0; i < 4; i++)
        assert_int_equal(tg[i].answers, 1);
    int o0 = answer_of(t, 0)->outcome;
    assert_true(o0 == HUB_EDROPPED || o0 == HUB_ESHUTDOWN);
    for (int i = 1; i < 4; i++)
        assert_int_equal(answer_of(t, i)->outcome, HUB_ESHUTDOWN);
    assert_int_equal(t->nsubs, 0);
    engine_stop(t); /* closes the handles; teardown checks */
    assert_ctx_ok(t);
}

static void test_restore(void **state)
{
    struct tctx *t = *state;
    hub_engine_cfg_t cfg = cfg_default();
    hub_restore_t r;
    struct tag tg[4];
    uint64_t now = hub_wall_ms();
    const uint8_t rgb[3] = {10, 20, 30};

    memset(&r, 0, sizeof(r));
    hub_state_init(&r.state, 1);
    hub_state_set_rgb(&r.state, rgb);
    r.state.seq = 41;
    r.state.ts_ms = 1700000000000ULL;
    r.found = 1;
    r.nids = 3;
    r.ids = hub_malloc(r.nids * sizeof(*r.ids));
    r.id_ts_ms = hub_malloc(r.nids * sizeof(*r.id_ts_ms));
    make_id(r.ids[0], 1);
    r.id_ts_ms[0] = now - cfg.dedupe_ttl_ms - 60000; /* too old to count */
    make_id(r.ids[1], 2);
    r.id_ts_ms[1] = now - 5000;
    make_id(r.ids[2], 3);
    r.id_ts_ms[2] = now - 1000;

    engine_start(t, &cfg, 0, &r);
    hub_restore_free(&r); /* the engine keeps copies, not pointers */

    const hub_view_t *v = hub_engine_view(t->e);
    assert_true(v->seq == 41);
    assert_memory_equal(v->rgb, rgb, 3);
    assert_string_equal(v->rgb_json, "{\"schema\":\"demo.rgb.state.v1\",\"r\":10,\"g\":20,\"b\":30,"
                                     "\"seq\":41,\"ts\":1700000000000}");

    assert_int_equal(hub_engine_submit(t->e, mk(t, &tg[0], 0, 2, "api", 1, 1, 1)), 0);
    assert_int_equal(hub_engine_submit(t->e, mk(t, &tg[1], 1, 3, "api", 2, 2, 2)), 0);
    assert_int_equal(hub_engine_submit(t->e, mk(t, &tg[2], 2, 1, "api", 3, 3, 3)), 0);
    assert_int_equal(hub_engine_submit(t->e, mk(t, &tg[3], 3, 4, "api", 4, 4, 4)), 0);
    pump_until(t, 4);
    assert_int_equal(answer_of(t, 0)->outcome, HUB_CMD_DUPLICATE);
    assert_true(answer_of(t, 0)->seq == 41);
    assert_int_equal(answer_of(t, 1)->outcome, HUB_CMD_DUPLICATE);
    assert_int_equal(answer_of(t, 2)->outcome, HUB_CMD_APPLIED); /* expired id */
    assert_true(answer_of(t, 2)->seq == 42);
    assert_int_equal(answer_of(t, 3)->outcome, HUB_CMD_APPLIED);
    assert_true(answer_of(t, 3)->seq == 43);
    assert_int_equal(t->nsubs, 2);
    assert_true(t->subs_seq[0] == 42);
    assert_true(hub_engine_view(t->e)->seq == 43);
    assert_ctx_ok(t);
}

/* ---- property test -------------------------------------------------------- */

static uint64_t rng_next(uint64_t *s)
{
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return *s * 2685821657736338717ULL;
}

/* Reference rounding, written independently of hub_cmd_clamp. */
static uint8_t ref_clamp(double v)
{
    if (!(v > 0))
        return 0;
    if (v >= 255)
        return 255;
    double f = floor(v);
    return (uint8_t)(v - f >= 0.5 ? f + 1 : f);
}

/* A random JSON number as text: in and out of range, fractional, halves. */
static void rand_number(uint64_t *seed, char *out, size_t n)
{
    switch (rng_next(seed) % 8) {
    case 0: snprintf(out, n, "%d", (int)(rng_next(seed) % 256)); break;
    case 1: snprintf(out, n, "%d", (int)(rng_next(seed) % 700) - 300); break;
    case 2: snprintf(out, n, "%d.5", (int)(rng_next(seed) % 260)); break;
    case 3: snprintf(out, n, "%.3f", (double)(rng_next(seed) % 300000) / 1000.0 - 20.0); break;
    case 4:
        snprintf(out, n, "%s",
                 (const char *[]){"1e300", "-1e300", "1e-7", "-0.0", "2.55e2", "254.5", "-0.5",
                                  "0.49"}[rng_next(seed) % 8]);
        break;
    default: snprintf(out, n, "%.1f", (double)(rng_next(seed) % 2600) / 10.0); break;
    }
}

static void rand_src(uint64_t *seed, char *out)
{
    static const char *const common[] = {"api", "mqtt", "ui", "ws", "sensor/1"};
    if (rng_next(seed) % 4 != 0) {
        strcpy(out, common[rng_next(seed) % 5]);
        return;
    }
    size_t len = 1 + rng_next(seed) % HUB_SRC_MAX;
    for (size_t i = 0; i < len; i++) {
        char ch = (char)(0x20 + rng_next(seed) % 95);
        out[i] = (ch == '"' || ch == '\\') ? 'x' : ch;
    }
    out[len] = '\0';
}

struct expect {
    struct tag tg;
    int outcome;
    uint64_t seq;   /* applied: the seq it must produce */
    uint8_t rgb[3]; /* applied: clamp(round(input)) */
    int detached;
};

static void run_stream(uint64_t seed, int stream, int use_fake, size_t batch_max)
{
    enum { N = 5000 };
    struct tctx *t;
    hub_engine_cfg_t cfg = cfg_default();
    struct expect *ex = hub_calloc(N, sizeof(*ex));
    char(*ids)[HUB_ULID_LEN + 1] = hub_calloc(N, sizeof(*ids));
    uint8_t *applied_ids = hub_calloc(N, 1); /* by index into ids */
    int *id_index = hub_calloc(N, sizeof(int));
    size_t nids = 0, napplied = 0, ndup = 0, nanswer = 0;
    uint8_t cur[3] = {0, 0, 0};

    void *st = NULL;
    setup(&st);
    t = st;
    cfg.queue_size = 10000;
    cfg.dedupe_capacity = 8192;
    cfg.batch_max = batch_max;
    engine_start(t, &cfg, use_fake, NULL);
    t->auto_complete = 1;

    for (int i = 0; i < N;) {
        int chunk = 1 + (int)(rng_next(&seed) % 64);
        for (int k = 0; k < chunk && i < N; k++, i++) {
            char r[32], g[32], b[32], src[HUB_SRC_MAX + 1], body[512];
            int idx;
            /* ~20% reuse an id from earlier in the stream. */
            if (nids > 0 && rng_next(&seed) % 5 == 0) {
                idx = (int)(rng_next(&seed) % nids);
            } else {
                idx = (int)nids;
                uint8_t rnd[10];
                for (int j = 0; j < 10; j++)
                    rnd[j] = (uint8_t)rng_next(&seed);
                hub_ulid_encode(ids[nids++], 1732363200000ULL + (uint64_t)i, rnd);
            }
            id_index[i] = idx;
            rand_number(&seed, r, sizeof(r));
            rand_number(&seed, g, sizeof(g));
            rand_number(&seed, b, sizeof(b));
            rand_src(&seed, src);
            /* Lower-case some ids: the canonical form is what dedupes. */
            char idtext[HUB_ULID_LEN + 1];
            memcpy(idtext, ids[idx], sizeof(idtext));
            if (rng_next(&seed) % 4 == 0)
                for (int j = 0; j < HUB_ULID_LEN; j++)
                    if (idtext[j] >= 'A' && idtext[j] <= 'Z')
                        idtext[j] = (char)(idtext[j] - 'A' + 'a');
            snprintf(body, sizeof(body),
                     "{\"cmdId\":\"%s\",\"src\":\"%s\",\"r\":%s,\"g\":%s,\"b\":%s}", idtext, src, r,
                     g, b);

            hub_cmd_t *c = NULL;
            hub_parse_err_t perr;
            if (hub_cmd_parse(body, strlen(body), "api", &c, &perr) != 0)
                fail_msg("stream %d: %s rejected: %s (%s)", stream, body, perr.msg, perr.field);

            struct expect *x = &ex[i];
            x->tg.t = t;
            x->tg.tag = i;
            c->done = on_done;
            c->ud = &x->tg;
            c->recv_us = hub_mono_us();
            if (applied_ids[idx]) {
                x->outcome = HUB_CMD_DUPLICATE;
                ndup++;
            } else {
                applied_ids[idx] = 1;
                x->outcome = HUB_CMD_APPLIED;
                x->seq = ++napplied;
                x->rgb[0] = ref_clamp(strtod(r, NULL));
                x->rgb[1] = ref_clamp(strtod(g, NULL));
                x->rgb[2] = ref_clamp(strtod(b, NULL));
                memcpy(cur, x->rgb, 3);
            }
            if (hub_engine_submit(t->e, c) != 0)
                fail_msg("stream %d: submit %d refused", stream, i);
            if (rng_next(&seed) % 20 == 0) {
                hub_cmd_detach(c);
                x->detached = 1;
            } else {
                nanswer++;
            }
        }
        pump_until(t, nanswer);
    }
    pump_until(t, nanswer);
    assert_ctx_ok(t);

    /* Every answer as predicted. */
    assert_int_equal(t->nans, nanswer);
    for (size_t k = 0; k < t->nans; k++) {
        const struct answer *a = &t->ans[k];
        const struct expect *x = &ex[a->tag];
        if (x->detached)
            fail_msg("stream %d: detached command %d answered", stream, a->tag);
        if (a->outcome != x->outcome)
            fail_msg("stream %d: command %d outcome %d, want %d", stream, a->tag, a->outcome,
                     x->outcome);
        if (x->outcome == HUB_CMD_APPLIED && (a->seq != x->seq || memcmp(a->rgb, x->rgb, 3) != 0))
            fail_msg("stream %d: command %d seq %" PRIu64 " rgb %u,%u,%u; want %" PRIu64
                     " %u,%u,%u",
                     stream, a->tag, a->seq, a->rgb[0], a->rgb[1], a->rgb[2], x->seq, x->rgb[0],
                     x->rgb[1], x->rgb[2]);
        if (strcmp(a->id, ids[id_index[a->tag]]) != 0)
            fail_msg("stream %d: command %d id %s is not canonical %s", stream, a->tag, a->id,
                     ids[id_index[a->tag]]);
    }
    /* Subscribers: one call per applied command, seq 1..n, the right values. */
    assert_int_equal(t->nsubs, napplied);
    for (int i = 0; i < N; i++) {
        const struct expect *x = &ex[i];
        if (x->outcome != HUB_CMD_APPLIED)
            continue;
        assert_true(t->subs_seq[x->seq - 1] == x->seq);
        if (memcmp(t->subs_rgb[x->seq - 1], x->rgb, 3) != 0)
            fail_msg("stream %d: subscriber seq %" PRIu64 " rgb differs", stream, x->seq);
    }
    const hub_view_t *v = hub_engine_view(t->e);
    assert_true(v->seq == napplied);
    assert_memory_equal(v->rgb, cur, 3);
    assert_true(metric(t, "dmx_engine_processed_total") == (double)napplied);
    assert_true(metric(t, "dmx_engine_deduped_total") == (double)ndup);
    assert_true(metric(t, "dmx_engine_queue_depth") == 0);
    if (use_fake) {
        assert_int_equal(t->fake.recs_committed, napplied);
        assert_true(t->fake.last_seq == napplied);
        /* Group commit: with room for more than one, fewer batches than commands. */
        if (batch_max != 1 && t->fake.committed >= napplied)
            fail_msg("stream %d: %zu batches for %zu commands", stream, t->fake.committed,
                     napplied);
        if (batch_max == 1 && t->fake.committed != napplied)
            fail_msg("stream %d: batch_max 1 but %zu batches for %zu commands", stream,
                     t->fake.committed, napplied);
    }

    void *vt = t;
    teardown(&vt);
    hub_free(ex);
    hub_free(ids);
    hub_free(applied_ids);
    hub_free(id_index);
}

static void test_property_random_streams(void **state)
{
    for (int s = 0; s < 10; s++) {
        uint64_t seed = 0x853c49e6748fea9bULL + (uint64_t)s * 0x9e3779b97f4a7c15ULL;
        /* Alternate no store / held-and-released store, and batch sizes. */
        run_stream(seed, s, s % 2, (size_t[]){0, 0, 1, 7, 64}[s % 5]);
    }
}

#define ETEST(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
    /* The engine logs every apply at info; keep the test output readable. */
    hub_log_set_level(HUB_LOG_WARN);
    const struct CMUnitTest tests[] = {
        ETEST(test_initial_view),
        ETEST(test_apply_and_duplicate),
        ETEST(test_duplicate_in_same_drain),
        ETEST(test_drain_now),
        ETEST(test_group_commit),
        ETEST(test_batch_max_stops_draining),
        ETEST(test_store_failure),
        ETEST(test_duplicate_of_failed_commit),
        ETEST(test_close_store),
        ETEST(test_overload_drops_oldest_ui),
        ETEST(test_overload_refuses),
        ETEST(test_detach),
        ETEST(test_stop_intake),
        ETEST(test_free_answers_pending),
        ETEST(test_restore),
        cmocka_unit_test(test_property_random_streams),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
