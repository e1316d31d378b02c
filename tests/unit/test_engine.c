/* tests/unit/test_engine.c - engine/engine on a real uv loop, with two fake domains.
 *
 * The engine hosts the "counter" and "notes" domains of test_domain_fake.h.
 * It runs with no store (batches complete at once) and with fake_persist.h,
 * which holds each batch until the test completes it, so group commit,
 * "answer only when durable" and failed-commit carry-over can be observed.
 * Every batch the test completes is captured first (records and rows), so
 * tests can look at what the store was given after the engine has recycled
 * the batch. The loop is turned with UV_RUN_NOWAIT under an iteration cap,
 * never unbounded.
 *
 * Callbacks check the engine's contract wherever they run (thread, one
 * answer per intent, on_state -> done -> on_fanout order, patches text,
 * rooms mask, published seq); a failed check is counted and reported by
 * assert_ctx_ok(). Order of events is also kept as a trace string:
 *   s<seq> on_state, f<seq> on_fanout, | on_flush, and per answer
 *   A<tag> applied, U<tag> duplicate, R<tag> rejected, E<tag> HUB_ESTORE,
 *   D<tag> HUB_EDROPPED, X<tag> HUB_ESHUTDOWN.
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

#include <jansson.h>
#include <uv.h>

#include "core/clock.h"
#include "core/err.h"
#include "core/jbuf.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/metrics.h"
#include "engine/engine.h"
#include "fake_persist.h"
#include "test_domain_fake.h"

#define PUMP_CAP  200000
#define ALL_ROOMS (~0ull)

/* ---- what the callbacks and the store saw ---------------------------------- */

struct answer {
    int tag;
    char req_id[HUB_REQ_ID_MAX + 1];
    int outcome;
    uint64_t seq;
    hub_errcode_t code;
    char field[HUB_FIELD_MAX + 1];
    char msg[HUB_ERRMSG_MAX + 1];
};

struct ann_rec {
    uint64_t seq;
    char req_id[HUB_REQ_ID_MAX + 1];
    char name[HUB_NAME_MAX + 1];
    char *patches;
    uint64_t rooms;
    size_t nchanges;
    int more;
    unsigned kinds; /* bit (1 << HUB_OUT_*) per kind of message published */
    size_t nmsgs;
};

struct crec { /* a captured journal record */
    uint64_t seq, ts_ms;
    char *req_id, *src, *name, *payload, *patches, *rooms;
};

struct crow { /* a captured row (non-NULL ones only) */
    const hub_stmt_t *stmt;
    char text[160];
    int64_t ival[3];
    char sval[3][FAKE_TEXT_MAX + 1];
};

struct cbatch {
    int rc;
    uint64_t seq, ts_ms;
    struct crec *recs;
    size_t nrecs;
    struct crow *rows;
    size_t nrows;
    size_t nnull; /* rows replaced by a later row of their key */
};

/* Per-intent ud: the tag identifies the intent in answers. */
struct tag {
    struct tctx *t;
    int tag;
    int answers; /* how often done was called */
};

#define MAX_TAGS 320

struct tctx {
    uv_loop_t loop;
    hub_metrics_t *metrics;
    hub_engine_t *e;
    fake_persist_t fake;
    int use_fake;
    int auto_complete; /* pump completes held batches with rc 0 */
    fake_counter_t *ctr;
    fake_notes_t *notes;
    pthread_t loop_thread;
    struct answer *ans;
    size_t nans, capans;
    struct ann_rec *anns;
    size_t nanns, capanns;
    uint64_t last_state_seq, last_fanout_seq;
    size_t nflush;
    size_t nevents;
    int ev_level;
    char ev_source[64], ev_msg[512];
    int trace_on;
    hub_jbuf_t trace;
    struct cbatch *batches;
    size_t nbatches, capbatches;
    int errors; /* callback-side contract checks failed */
    char why[256];
    size_t on_room_calls;
    /* Tags live here, not on a test's stack: a failed test's held batch is
     * completed by teardown, and its answers must land somewhere alive. */
    struct tag tg[MAX_TAGS];
};

#define GROW(arr, n, cap)                                                                          \
    do {                                                                                           \
        if ((n) == (cap)) {                                                                        \
            (cap) = (cap) ? (cap)*2 : 64;                                                          \
            (arr) = hub_realloc((arr), (cap) * sizeof(*(arr)));                                    \
        }                                                                                          \
    } while (0)

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

static void trace(struct tctx *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void trace(struct tctx *t, const char *fmt, ...)
{
    char tok[32];
    va_list ap;

    if (!t->trace_on)
        return;
    va_start(ap, fmt);
    int n = vsnprintf(tok, sizeof(tok), fmt, ap);
    va_end(ap);
    if (t->trace.len > 0)
        hub_jbuf_raw(&t->trace, " ", 1);
    hub_jbuf_raw(&t->trace, tok, (size_t)n);
}

static const char *trace_text(const struct tctx *t)
{
    return t->trace.p != NULL ? t->trace.p : "";
}

static void trace_reset(struct tctx *t)
{
    hub_jbuf_reset(&t->trace);
}

static void on_done(hub_intent_t *in, const hub_announce_t *ann, void *ud)
{
    struct tag *tg = ud;
    struct tctx *t = tg->t;
    char kind;

    if (!pthread_equal(pthread_self(), t->loop_thread))
        ctx_error(t, "done called off the loop thread");
    if (++tg->answers != 1)
        ctx_error(t, "intent %d answered %d times", tg->tag, tg->answers);
    switch (in->outcome) {
    case HUB_INTENT_APPLIED:
        kind = 'A';
        if (ann == NULL || ann->intent != in || ann->seq != in->seq)
            ctx_error(t, "intent %d applied without its own announcement", tg->tag);
        else if (in->seq != t->last_state_seq)
            ctx_error(t, "intent %d (seq %" PRIu64 ") answered before its on_state", tg->tag,
                      in->seq);
        if (t->last_fanout_seq >= in->seq)
            ctx_error(t, "intent %d: on_fanout before its answer", tg->tag);
        if (in->err.code != HUB_ERR_NONE)
            ctx_error(t, "intent %d applied with an error set", tg->tag);
        break;
    case HUB_INTENT_DUPLICATE:
        kind = 'U';
        if (ann != NULL || in->seq == 0 || in->err.code != HUB_ERR_NONE)
            ctx_error(t, "duplicate %d: ann %p, seq %" PRIu64 ", code %d", tg->tag, (void *)ann,
                      in->seq, in->err.code);
        break;
    case HUB_INTENT_REJECTED:
        kind = 'R';
        if (ann != NULL || in->seq != 0 || in->err.code == HUB_ERR_NONE || in->err.msg[0] == 0)
            ctx_error(t, "rejected %d: ann %p, seq %" PRIu64 ", code %d", tg->tag, (void *)ann,
                      in->seq, in->err.code);
        break;
    default:
        kind = in->outcome == HUB_ESTORE      ? 'E'
               : in->outcome == HUB_EDROPPED  ? 'D'
               : in->outcome == HUB_ESHUTDOWN ? 'X'
                                              : 'O';
        if (ann != NULL || in->err.code == HUB_ERR_NONE || in->err.msg[0] == '\0')
            ctx_error(t, "intent %d outcome %d: ann %p, code %d", tg->tag, in->outcome, (void *)ann,
                      in->err.code);
        if (in->outcome == HUB_ESTORE && in->err.code != HUB_ERR_STORE_FAILED)
            ctx_error(t, "intent %d HUB_ESTORE with code %d", tg->tag, in->err.code);
        if (in->outcome == HUB_EDROPPED && in->err.code != HUB_ERR_DROPPED)
            ctx_error(t, "intent %d HUB_EDROPPED with code %d", tg->tag, in->err.code);
        if (kind == 'O')
            ctx_error(t, "intent %d: unexpected outcome %d", tg->tag, in->outcome);
        break;
    }
    GROW(t->ans, t->nans, t->capans);
    struct answer *a = &t->ans[t->nans++];
    memset(a, 0, sizeof(*a));
    a->tag = tg->tag;
    snprintf(a->req_id, sizeof(a->req_id), "%s", in->req_id);
    a->outcome = in->outcome;
    a->seq = in->seq;
    a->code = in->err.code;
    snprintf(a->field, sizeof(a->field), "%s", in->err.field);
    snprintf(a->msg, sizeof(a->msg), "%s", in->err.msg);
    trace(t, "%c%d", kind, tg->tag);
}

/* The patches text an announcement must carry: its changes, rendered. */
static void render_patches(const hub_announce_t *ann, hub_jbuf_t *b)
{
    hub_jbuf_open(b, '[');
    for (size_t i = 0; i < ann->nchanges; i++) {
        hub_jbuf_open(b, '{');
        hub_jbuf_key(b, "path");
        hub_jbuf_str(b, ann->changes[i].path);
        hub_jbuf_key(b, "value");
        hub_jbuf_json(b, ann->changes[i].value, ann->changes[i].value_len);
        hub_jbuf_close(b, '}');
    }
    hub_jbuf_close(b, ']');
}

static void on_state(void *ud, const hub_announce_t *ann)
{
    struct tctx *t = ud;
    hub_jbuf_t b;
    uint64_t rooms = 0;

    if (!pthread_equal(pthread_self(), t->loop_thread))
        ctx_error(t, "on_state called off the loop thread");
    if (ann->seq != t->last_state_seq + 1)
        ctx_error(t, "on_state saw seq %" PRIu64 " after %" PRIu64, ann->seq, t->last_state_seq);
    t->last_state_seq = ann->seq;
    if (ann->intent == NULL || ann->intent->seq != ann->seq)
        ctx_error(t, "seq %" PRIu64 " announced without the intent that made it", ann->seq);
    if (t->e != NULL && hub_engine_seq(t->e) != ann->seq)
        ctx_error(t, "seq %" PRIu64 " announced while the published seq is %" PRIu64, ann->seq,
                  hub_engine_seq(t->e));
    if (ann->nchanges == 0)
        ctx_error(t, "seq %" PRIu64 " announced without changes", ann->seq);
    hub_jbuf_init(&b);
    render_patches(ann, &b);
    if (ann->patches == NULL || ann->patches_len != b.len || memcmp(ann->patches, b.p, b.len) != 0)
        ctx_error(t, "seq %" PRIu64 ": patches %.*s are not its changes %s", ann->seq,
                  (int)ann->patches_len, ann->patches ? ann->patches : "", b.p);
    for (size_t i = 0; t->e != NULL && i < ann->nchanges; i++) {
        const char *p = ann->changes[i].path, *dot = strchr(p, '.');
        int bit = hub_engine_room_bit(t->e, p, dot ? (size_t)(dot - p) : strlen(p));
        if (bit < 0)
            ctx_error(t, "seq %" PRIu64 ": change %s is under no room", ann->seq, p);
        else
            rooms |= 1ull << bit;
    }
    if (t->e != NULL && (ann->rooms != rooms || (rooms & ~hub_engine_state_rooms(t->e)) != 0))
        ctx_error(t, "seq %" PRIu64 ": rooms 0x%" PRIx64 ", its changes touch 0x%" PRIx64, ann->seq,
                  ann->rooms, rooms);

    GROW(t->anns, t->nanns, t->capanns);
    struct ann_rec *r = &t->anns[t->nanns++];
    memset(r, 0, sizeof(*r));
    r->seq = ann->seq;
    if (ann->intent != NULL) {
        snprintf(r->req_id, sizeof(r->req_id), "%s", ann->intent->req_id);
        snprintf(r->name, sizeof(r->name), "%s", ann->intent->name);
    }
    r->patches = hub_strndup(ann->patches ? ann->patches : "", ann->patches_len);
    r->rooms = ann->rooms;
    r->nchanges = ann->nchanges;
    r->more = ann->more;
    r->nmsgs = ann->nmsgs;
    for (size_t i = 0; i < ann->nmsgs; i++)
        r->kinds |= 1u << ann->msgs[i].kind;
    hub_jbuf_free(&b);
    trace(t, "s%" PRIu64, ann->seq);
}

static void on_fanout(void *ud, const hub_announce_t *ann)
{
    struct tctx *t = ud;

    if (ann->seq != t->last_state_seq)
        ctx_error(t, "on_fanout for seq %" PRIu64 " after on_state %" PRIu64, ann->seq,
                  t->last_state_seq);
    if (ann->seq <= t->last_fanout_seq)
        ctx_error(t, "on_fanout seq %" PRIu64 " after %" PRIu64, ann->seq, t->last_fanout_seq);
    t->last_fanout_seq = ann->seq;
    trace(t, "f%" PRIu64, ann->seq);
}

static void on_flush(void *ud)
{
    struct tctx *t = ud;
    t->nflush++;
    trace(t, "|");
}

static void on_event(void *ud, const hub_event_t *ev)
{
    struct tctx *t = ud;
    t->nevents++;
    t->ev_level = ev->level;
    snprintf(t->ev_source, sizeof(t->ev_source), "%s", ev->source);
    snprintf(t->ev_msg, sizeof(t->ev_msg), "%s", ev->message);
}

static void on_room(void *ud)
{
    ((struct tctx *)ud)->on_room_calls++;
}

/* ---- the store's view: capture a batch before completing it ------------------ */

static char *dup_or_empty(const char *s, size_t n)
{
    return hub_strndup(s != NULL ? s : "", s != NULL ? n : 0);
}

static void capture_row(struct crow *cr, const hub_row_t *row)
{
    memset(cr, 0, sizeof(*cr));
    cr->stmt = row->stmt;
    fake_row_text(row, cr->text, sizeof(cr->text));
    for (int i = 0; i < row->stmt->nparams && i < 3; i++) {
        const hub_val_t *v = &row->vals[i];
        if (v->type == HUB_VAL_INT)
            cr->ival[i] = v->i;
        else if (v->type == HUB_VAL_TEXT)
            snprintf(cr->sval[i], sizeof(cr->sval[i]), "%.*s", (int)v->n, (const char *)v->p);
    }
}

static void capture(struct tctx *t, const hub_batch_t *b, int rc)
{
    GROW(t->batches, t->nbatches, t->capbatches);
    struct cbatch *cb = &t->batches[t->nbatches++];
    memset(cb, 0, sizeof(*cb));
    cb->rc = rc;
    cb->seq = b->seq;
    cb->ts_ms = b->ts_ms;
    cb->recs = hub_calloc(b->nrecs + 1, sizeof(*cb->recs));
    for (size_t i = 0; i < b->nrecs; i++) {
        const hub_journal_rec_t *r = &b->recs[i];
        struct crec *c = &cb->recs[cb->nrecs++];
        c->seq = r->seq;
        c->ts_ms = r->ts_ms;
        c->req_id = dup_or_empty(r->req_id, r->req_id ? strlen(r->req_id) : 0);
        c->src = dup_or_empty(r->src, r->src ? strlen(r->src) : 0);
        c->name = dup_or_empty(r->name, r->name ? strlen(r->name) : 0);
        c->payload = dup_or_empty(r->payload, r->payload_len);
        c->patches = dup_or_empty(r->patches, r->patches_len);
        c->rooms = dup_or_empty(r->rooms, r->rooms ? strlen(r->rooms) : 0);
    }
    cb->rows = hub_calloc(b->nrows + 1, sizeof(*cb->rows));
    for (size_t i = 0; i < b->nrows; i++) {
        if (b->rows[i] == NULL)
            cb->nnull++;
        else
            capture_row(&cb->rows[cb->nrows++], b->rows[i]);
    }
}

static void free_batches(struct tctx *t)
{
    for (size_t i = 0; i < t->nbatches; i++) {
        struct cbatch *cb = &t->batches[i];
        for (size_t k = 0; k < cb->nrecs; k++) {
            hub_free(cb->recs[k].req_id);
            hub_free(cb->recs[k].src);
            hub_free(cb->recs[k].name);
            hub_free(cb->recs[k].payload);
            hub_free(cb->recs[k].patches);
            hub_free(cb->recs[k].rooms);
        }
        hub_free(cb->recs);
        hub_free(cb->rows);
    }
    hub_free(t->batches);
    t->batches = NULL;
    t->nbatches = t->capbatches = 0;
}

/* Capture then complete the oldest held batch. Returns 1 if there was one. */
static int complete(struct tctx *t, int rc)
{
    hub_batch_t *b = fake_persist_peek(&t->fake);
    if (b == NULL)
        return 0;
    capture(t, b, rc);
    return fake_persist_complete(&t->fake, rc);
}

static const struct cbatch *last_batch(const struct tctx *t)
{
    if (t->nbatches == 0)
        fail_msg("no batch was completed");
    return &t->batches[t->nbatches - 1];
}

/* Assert the non-NULL rows of a batch, in order, as texts. */
static void assert_rows(const struct cbatch *cb, const char *const *want, size_t n)
{
    for (size_t i = 0; i < n && i < cb->nrows; i++)
        if (strcmp(cb->rows[i].text, want[i]) != 0)
            fail_msg("row %zu is \"%s\", want \"%s\"", i, cb->rows[i].text, want[i]);
    if (cb->nrows != n)
        fail_msg("batch has %zu rows, want %zu (first extra/missing: \"%s\")", cb->nrows, n,
                 cb->nrows > n ? cb->rows[n].text : want[cb->nrows]);
}

/* ---- set-up and the loop ------------------------------------------------------- */

static hub_engine_cfg_t cfg_default(void)
{
    hub_engine_cfg_t c = {
        .queue_size = 1000,
        .dedupe_capacity = 4096,
        .dedupe_ttl_ms = 900000,
        .batch_max = 0,
    };
    return c;
}

static void engine_new(struct tctx *t, const hub_engine_cfg_t *cfg)
{
    assert_int_equal(hub_engine_new(&t->e, &t->loop, cfg, t->metrics), 0);
    assert_non_null(t->e);
}

static void engine_register(struct tctx *t)
{
    assert_int_equal(hub_engine_register(t->e, &fake_counter_def, t->ctr), 0);
    assert_int_equal(hub_engine_register(t->e, &fake_notes_def, t->notes), 0);
}

static void engine_go(struct tctx *t, int use_fake, const hub_restore_t *restore)
{
    hub_persist_ops_t ops = fake_persist_ops(&t->fake);
    hub_subscriber_t s = {.on_state = on_state,
                          .on_fanout = on_fanout,
                          .on_event = on_event,
                          .on_flush = on_flush,
                          .ud = t};

    t->use_fake = use_fake;
    hub_engine_subscribe(t->e, &s);
    assert_int_equal(hub_engine_start(t->e, restore, use_fake ? &ops : NULL), 0);
    t->last_state_seq = t->last_fanout_seq = hub_engine_seq(t->e);
}

static void engine_start(struct tctx *t, const hub_engine_cfg_t *cfg, int use_fake,
                         const hub_restore_t *restore)
{
    engine_new(t, cfg);
    engine_register(t);
    engine_go(t, use_fake, restore);
}

static int setup(void **state)
{
    struct tctx *t = hub_calloc(1, sizeof(*t));
    t->loop_thread = pthread_self();
    assert_int_equal(uv_loop_init(&t->loop), 0);
    t->metrics = hub_metrics_new();
    t->ctr = hub_calloc(1, sizeof(*t->ctr));
    t->notes = hub_calloc(1, sizeof(*t->notes));
    hub_jbuf_init(&t->trace);
    t->trace_on = 1;
    *state = t;
    return 0;
}

static void engine_stop(struct tctx *t)
{
    if (t->e != NULL) {
        /* Let a held batch come back first: a batch still in flight at free
         * is never answered (engine.h says close the store first). */
        while (complete(t, 0))
            ;
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
    for (size_t i = 0; i < t->nanns; i++)
        hub_free(t->anns[i].patches);
    hub_free(t->anns);
    free_batches(t);
    hub_jbuf_free(&t->trace);
    hub_free(t->ctr);
    hub_free(t->notes);
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
            while (complete(t, 0))
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

/* ---- intents ------------------------------------------------------------------------ */

static hub_intent_t *mk(struct tctx *t, struct tag *tg, int tag, const char *rid, const char *src,
                        const char *name, json_t *payload)
{
    hub_intent_t *in = hub_intent_new(rid, src, name);
    if (payload != NULL)
        hub_intent_set_payload(in, payload);
    in->recv_us = hub_mono_us();
    if (tg != NULL) {
        tg->t = t;
        tg->tag = tag;
        tg->answers = 0;
        in->done = on_done;
        in->ud = tg;
    }
    return in;
}

static hub_intent_t *mk_add(struct tctx *t, struct tag *tg, int tag, const char *rid,
                            const char *src, const char *name, int64_t n)
{
    return mk(t, tg, tag, rid, src, "counter.add",
              json_pack("{s:s,s:I}", "name", name, "n", (json_int_t)n));
}

static hub_intent_t *mk_reset(struct tctx *t, struct tag *tg, int tag, const char *rid,
                              const char *name)
{
    return mk(t, tg, tag, rid, "api", "counter.reset", json_pack("{s:s}", "name", name));
}

static hub_intent_t *mk_fail(struct tctx *t, struct tag *tg, int tag, const char *rid)
{
    return mk(t, tg, tag, rid, "api", "counter.fail", NULL);
}

static hub_intent_t *mk_put(struct tctx *t, struct tag *tg, int tag, const char *rid,
                            const char *src, const char *id, const char *text)
{
    return mk(t, tg, tag, rid, src, "notes.put", json_pack("{s:s,s:s}", "id", id, "text", text));
}

static hub_intent_t *mk_del(struct tctx *t, struct tag *tg, int tag, const char *rid,
                            const char *id)
{
    return mk(t, tg, tag, rid, "api", "notes.del", json_pack("{s:s}", "id", id));
}

static void submit_ok(struct tctx *t, hub_intent_t *in)
{
    int rc = hub_engine_submit(t->e, in);
    if (rc != 0)
        fail_msg("submit %s (%s) refused: %d", in->req_id, in->name, rc);
}

static const struct answer *answer_of(const struct tctx *t, int tag)
{
    for (size_t i = 0; i < t->nans; i++)
        if (t->ans[i].tag == tag)
            return &t->ans[i];
    fail_msg("no answer for intent %d", tag);
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

static void assert_metric(struct tctx *t, const char *name, double want)
{
    double v = metric(t, name);
    if (!(v == want))
        fail_msg("%s is %g, want %g", name, v, want);
}

static void assert_ctx_ok(struct tctx *t)
{
    if (t->errors != 0)
        fail_msg("%d callback check(s) failed; first: %s", t->errors, t->why);
    if (t->fake.violations != 0)
        fail_msg("%d batch promise(s) broken; first: %s", t->fake.violations, t->fake.why);
    if (t->ctr->chk.errors != 0)
        fail_msg("counter domain: %d check(s) failed; first: %s", t->ctr->chk.errors,
                 t->ctr->chk.why);
    if (t->notes->chk.errors != 0)
        fail_msg("notes domain: %d check(s) failed; first: %s", t->notes->chk.errors,
                 t->notes->chk.why);
}

/* render_state(rooms) as a heap string (hub_free). */
static char *render(struct tctx *t, uint64_t rooms)
{
    hub_jbuf_t b;
    size_t len;

    hub_jbuf_init(&b);
    hub_engine_render_state(t->e, rooms, &b);
    if (b.p == NULL)
        hub_jbuf_raw(&b, "", 0);
    return hub_jbuf_take(&b, &len);
}

static void assert_render(struct tctx *t, uint64_t rooms, const char *want)
{
    char *got = render(t, rooms);
    if (strcmp(got, want) != 0) {
        char msg[2048];
        snprintf(msg, sizeof(msg), "render_state:\n got  %s\n want %s", got, want);
        hub_free(got);
        fail_msg("%s", msg);
    }
    hub_free(got);
}

/* The published tree holds what the domains' own state says (entities that
 * are gone and emptied objects aside), and its seq is the published one. */
static void assert_published_is_domain_state(struct tctx *t)
{
    char *text = render(t, ALL_ROOMS);
    json_error_t jerr;
    json_t *got = json_loads(text, 0, &jerr);

    if (got == NULL)
        fail_msg("render_state is not JSON: %s (%s)", jerr.text, text);
    json_t *st = json_object_get(got, "state");
    json_t *want = fake_state_json(t->ctr, t->notes);
    fake_json_prune(st);
    fake_json_prune(want);
    int eq = json_equal(st, want);
    int seq_ok =
        json_integer_value(json_object_get(got, "seq")) == (json_int_t)hub_engine_seq(t->e);
    if (!eq || !seq_ok) {
        char *w = json_dumps(want, JSON_COMPACT | JSON_SORT_KEYS);
        char *g = json_dumps(got, JSON_COMPACT | JSON_SORT_KEYS);
        char msg[4096];
        snprintf(msg, sizeof(msg), "published state is not the domains':\n got  %s\n want %s", g,
                 w);
        free(w);
        free(g);
        json_decref(got);
        json_decref(want);
        hub_free(text);
        fail_msg("%s", msg);
    }
    json_decref(got);
    json_decref(want);
    hub_free(text);
}

struct retained {
    size_t n;
    char topic[64][64];
    char payload[64][128];
    int qos[64];
};

static void collect_retained(void *ud, const char *topic, const char *payload, size_t len, int qos)
{
    struct retained *r = ud;
    if (r->n == 64)
        return;
    snprintf(r->topic[r->n], sizeof(r->topic[0]), "%s", topic);
    snprintf(r->payload[r->n], sizeof(r->payload[0]), "%.*s", (int)len, payload);
    r->qos[r->n] = qos;
    r->n++;
}

static const char *retained_of(const struct retained *r, const char *topic)
{
    for (size_t i = 0; i < r->n; i++)
        if (strcmp(r->topic[i], topic) == 0)
            return r->payload[i];
    return NULL;
}

static void assert_view(struct tctx *t, const char *name, const char *want)
{
    size_t len = 0;
    const char *v = hub_engine_view(t->e, name, &len);
    if (want == NULL) {
        if (v != NULL)
            fail_msg("view %s is %.*s, want none", name, (int)len, v);
        return;
    }
    if (v == NULL)
        fail_msg("view %s missing, want %s", name, want);
    if (len != strlen(want) || memcmp(v, want, len) != 0)
        fail_msg("view %s is %.*s, want %s", name, (int)len, v, want);
}

static int room(struct tctx *t, const char *name)
{
    return hub_engine_room_bit(t->e, name, strlen(name));
}

/* ---- registration and start-up ------------------------------------------------------------ */

static int apply_never(void *ctx, hub_apply_t *ap, const json_t *p)
{
    return hub_apply_fail(ap, HUB_ERR_CONFLICT, "", "a refused domain's intent ran");
}

static const hub_intent_def_t dup_name_intents[] = {
    {"ghost.x", apply_never, NULL}, {"notes.put", apply_never, NULL}, {NULL, NULL, NULL}};
static const hub_intent_def_t twice_intents[] = {
    {"twice.x", apply_never, NULL}, {"twice.x", apply_never, NULL}, {NULL, NULL, NULL}};
static const hub_intent_def_t fresh_intents[] = {{"fresh.x", apply_never, NULL},
                                                 {NULL, NULL, NULL}};
static const char *const ghost_roots[] = {"ghost", NULL};
static const char *const fresh_tally_roots[] = {"fresh", "tally", NULL};
static const hub_domain_def_t dup_name_def = {
    .name = "ghost", .roots = ghost_roots, .intents = dup_name_intents};
static const hub_domain_def_t dup_root_def = {
    .name = "fresh", .roots = fresh_tally_roots, .intents = fresh_intents};
static const hub_domain_def_t twice_def = {.name = "twice", .intents = twice_intents};
/* Its first intent sorts before every registered one. */
static const hub_intent_def_t early_intents[] = {
    {"aaa.x", apply_never, NULL}, {"notes.put", apply_never, NULL}, {NULL, NULL, NULL}};
static const char *const early_roots[] = {"aaa", NULL};
static const hub_domain_def_t early_def = {
    .name = "aaa", .roots = early_roots, .intents = early_intents};

static void test_register_rooms(void **state)
{
    struct tctx *t = *state;
    hub_engine_cfg_t cfg = cfg_default();
    void *ctx = NULL;
    struct tag *tg = t->tg;

    engine_new(t, &cfg);
    assert_int_equal(hub_engine_nrooms(t->e), 2);
    assert_string_equal(hub_engine_room_name(t->e, HUB_ROOM_SYSTEM), "system");
    assert_string_equal(hub_engine_room_name(t->e, HUB_ROOM_FRAMES), "frames");
    assert_int_equal(hub_engine_ndomains(t->e), 0);
    engine_register(t);

    /* system, frames, then each domain's roots and frame rooms in order. */
    assert_int_equal(hub_engine_nrooms(t->e), 6);
    static const char *const want[] = {"system", "frames",       "counter",
                                       "tally",  "counter.live", "notes"};
    for (int i = 0; i < 6; i++) {
        assert_string_equal(hub_engine_room_name(t->e, i), want[i]);
        assert_int_equal(room(t, want[i]), i);
    }
    assert_null(hub_engine_room_name(t->e, 6));
    assert_null(hub_engine_room_name(t->e, -1));
    assert_int_equal(hub_engine_room_bit(t->e, "counter.items.a", 7), 2); /* a prefix */
    assert_int_equal(room(t, "count"), -1);
    assert_int_equal(room(t, "counterx"), -1);
    /* Only roots are state rooms. */
    assert_true(hub_engine_state_rooms(t->e) == ((1ull << 2) | (1ull << 3) | (1ull << 5)));

    assert_int_equal(hub_engine_ndomains(t->e), 2);
    assert_ptr_equal(hub_engine_domain_at(t->e, 0, &ctx), &fake_counter_def);
    assert_ptr_equal(ctx, t->ctr);
    assert_ptr_equal(hub_engine_domain_at(t->e, 1, &ctx), &fake_notes_def);
    assert_ptr_equal(ctx, t->notes);
    assert_null(hub_engine_domain_at(t->e, 2, &ctx));

    /* Each intent reaches its own domain, with that domain's context. */
    engine_go(t, 0, NULL);
    submit_ok(t, mk_put(t, &tg[0], 0, "r1", "api", "n1", "hi"));
    submit_ok(t, mk_add(t, &tg[1], 1, "r2", "api", "a", 2));
    pump_until(t, 2);
    assert_int_equal(answer_of(t, 0)->outcome, HUB_INTENT_APPLIED);
    assert_int_equal(answer_of(t, 1)->outcome, HUB_INTENT_APPLIED);
    assert_int_equal(t->notes->applied, 1);
    assert_int_equal(t->ctr->applied, 1);
    assert_ctx_ok(t);
}

/* Refused: an intent name another domain has, a root another domain owns,
 * one intent name twice in the same domain. A refused registration must
 * leave nothing behind: no rooms for its roots, no intents pointing at the
 * domain slot the next registration reuses, and the registered domains'
 * intents still found. */
static void test_register_refusals(void **state)
{
    static const char *const known[] = {"counter.add", "counter.fail", "counter.reset", "notes.del",
                                        "notes.put"};
    struct tctx *t = *state;
    hub_engine_cfg_t cfg = cfg_default();
    hub_intent_t *in;
    hub_error_t err;
    int rc;

    engine_new(t, &cfg);
    engine_register(t);
    uint64_t rooms0 = hub_engine_state_rooms(t->e);
    int nrooms0 = hub_engine_nrooms(t->e);
    const hub_domain_def_t *const refused[] = {&early_def, &dup_name_def, &dup_root_def,
                                               &twice_def};
    for (size_t k = 0; k < sizeof(refused) / sizeof(refused[0]); k++) {
        assert_int_equal(hub_engine_register(t->e, refused[k], NULL), HUB_EINVAL);
        assert_int_equal(hub_engine_ndomains(t->e), 2);
        for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++) {
            in = hub_intent_new("p0", "api", known[i]);
            memset(&err, 0, sizeof(err));
            rc = hub_engine_prepare(t->e, in, &err);
            hub_intent_free(in);
            if (rc != 0)
                fail_msg("after refusing domain \"%s\", %s is %s", refused[k]->name, known[i],
                         err.code == HUB_ERR_UNKNOWN_INTENT ? "unknown" : "refused");
        }
    }
    engine_go(t, 0, NULL);

    /* Intents listed before the clash in the refused domains. */
    static const char *const ghosts[] = {"ghost.x", "aaa.x", "twice.x"};
    for (size_t i = 0; i < sizeof(ghosts) / sizeof(ghosts[0]); i++) {
        in = hub_intent_new("p1", "api", ghosts[i]);
        memset(&err, 0, sizeof(err));
        rc = hub_engine_prepare(t->e, in, &err);
        hub_intent_free(in);
        if (rc != HUB_EINVAL || err.code != HUB_ERR_UNKNOWN_INTENT)
            fail_msg("%s of a refused domain is known to the engine", ghosts[i]);
    }
    assert_int_equal(room(t, "ghost"), -1);
    assert_int_equal(room(t, "aaa"), -1);
    assert_int_equal(room(t, "fresh"), -1);
    assert_int_equal(hub_engine_nrooms(t->e), nrooms0);
    assert_true(hub_engine_state_rooms(t->e) == rooms0);
}

static void test_initial_state(void **state)
{
    struct tctx *t = *state;
    hub_engine_cfg_t cfg = cfg_default();
    struct retained r;

    /* As if loaded from the store. */
    fake_counter_seed(t->ctr, "a", 3);
    fake_counter_seed(t->ctr, "b", 4);
    fake_notes_seed(t->notes, "n1", "hello");
    engine_start(t, &cfg, 0, NULL);

    assert_true(hub_engine_seq(t->e) == 0);
    assert_true(hub_engine_ts_ms(t->e) == 0);
    /* The tree is built from the entities; roots in room order. */
    assert_render(
        t, ALL_ROOMS,
        "{\"seq\":0,\"state\":{\"counter\":{\"items\":{\"a\":{\"name\":\"a\",\"total\":3},"
        "\"b\":{\"name\":\"b\",\"total\":4}}},\"tally\":{\"sum\":7},"
        "\"notes\":{\"n1\":{\"text\":\"hello\"}}}}");
    assert_render(t, 1ull << room(t, "notes"),
                  "{\"seq\":0,\"state\":{\"notes\":{\"n1\":{\"text\":\"hello\"}}}}");
    /* Rooms that are not state roots select nothing. */
    assert_render(t, (1ull << HUB_ROOM_SYSTEM) | (1ull << room(t, "counter.live")),
                  "{\"seq\":0,\"state\":{}}");

    /* publish_all ran once per domain and its output is registered. */
    assert_int_equal(t->ctr->publish_all_calls, 1);
    assert_int_equal(t->notes->publish_all_calls, 1);
    memset(&r, 0, sizeof(r));
    hub_engine_retained_foreach(t->e, collect_retained, &r);
    assert_int_equal(r.n, 2);
    assert_string_equal(r.topic[0], "test/counter/a");
    assert_string_equal(r.payload[0], "{\"name\":\"a\",\"total\":3}");
    assert_int_equal(r.qos[0], 1);
    assert_string_equal(r.topic[1], "test/counter/b");
    assert_view(t, "notes.count", "1");
    assert_view(t, "counter.last", NULL);

    assert_int_equal(hub_engine_idle(t->e), 1);
    assert_int_equal(hub_engine_queue_depth(t->e), 0);
    assert_int_equal(hub_engine_room(t->e), 1000);
    assert_null(hub_engine_store_error(t->e));
    assert_metric(t, "dmx_engine_processed_total", 0);
    assert_metric(t, "dmx_engine_deduped_total", 0);
    assert_metric(t, "dmx_engine_queue_depth", 0);
    assert_metric(t, "dmx_engine_seq", 0);
    assert_int_equal(t->nanns, 0);
    assert_ctx_ok(t);
}

/* ---- prepare -------------------------------------------------------------------------------- */

static void test_prepare(void **state)
{
    struct tctx *t = *state;
    hub_engine_cfg_t cfg = cfg_default();
    hub_error_t err;
    struct tag *tg = t->tg;
    hub_intent_t *in;

    engine_start(t, &cfg, 1, NULL);

    /* No domain has the name. */
    in = hub_intent_new("p0", "api", "nope.x");
    memset(&err, 0, sizeof(err));
    assert_int_equal(hub_engine_prepare(t->e, in, &err), HUB_EINVAL);
    assert_int_equal(err.code, HUB_ERR_UNKNOWN_INTENT);
    assert_string_equal(err.field, "name");
    assert_non_null(strstr(err.msg, "nope.x"));
    hub_intent_free(in);
    assert_int_equal(t->ctr->prepare_calls, 0);

    /* Its domain's prepare refuses. */
    in = mk(t, NULL, 0, "p1", "api", "counter.add",
            json_pack("{s:s,s:s}", "name", "a", "n_text", "5x"));
    memset(&err, 0, sizeof(err));
    assert_int_equal(hub_engine_prepare(t->e, in, &err), HUB_EINVAL);
    assert_int_equal(err.code, HUB_ERR_INVALID);
    assert_string_equal(err.field, "n_text");
    assert_string_equal(in->payload_text, "{\"name\":\"a\",\"n_text\":\"5x\"}");
    hub_intent_free(in);
    assert_int_equal(t->ctr->prepare_calls, 1);

    /* An intent without a prepare step is left alone. */
    in = mk_put(t, NULL, 0, "p2", "api", "n1", "x");
    memset(&err, 0, sizeof(err));
    assert_int_equal(hub_engine_prepare(t->e, in, &err), 0);
    assert_string_equal(in->payload_text, "{\"id\":\"n1\",\"text\":\"x\"}");
    hub_intent_free(in);
    assert_int_equal(t->ctr->prepare_calls, 1);

    /* Its prepare rewrites the payload; the journal holds what was applied. */
    in = mk(t, &tg[0], 0, "p3", "api", "counter.add",
            json_pack("{s:s,s:s}", "name", "a", "n_text", "5"));
    memset(&err, 0, sizeof(err));
    assert_int_equal(hub_engine_prepare(t->e, in, &err), 0);
    assert_int_equal(t->ctr->prepare_calls, 2);
    assert_string_equal(in->payload_text, "{\"name\":\"a\",\"n\":5}");
    assert_int_equal(in->payload_len, strlen(in->payload_text));
    submit_ok(t, in);
    spin(t, 20);
    hub_batch_t *b = fake_persist_peek(&t->fake);
    assert_non_null(b);
    assert_int_equal(b->nrecs, 1);
    assert_string_equal(b->recs[0].name, "counter.add");
    assert_int_equal(b->recs[0].payload_len, strlen("{\"name\":\"a\",\"n\":5}"));
    assert_memory_equal(b->recs[0].payload, "{\"name\":\"a\",\"n\":5}", b->recs[0].payload_len);
    assert_int_equal(complete(t, 0), 1);
    pump_until(t, 1);
    assert_int_equal(answer_of(t, 0)->outcome, HUB_INTENT_APPLIED);
    assert_true(t->ctr->items[0].total == 5);
    assert_ctx_ok(t);
}

/* ---- apply, duplicates, answers -------------------------------------------------------------- */

static void test_apply_and_duplicate(void **state)
{
    struct tctx *t = *state;
    hub_engine_cfg_t cfg = cfg_default();
    struct tag *tg = t->tg;

    engine_start(t, &cfg, 0, NULL);
    uint64_t before = hub_wall_ms();
    submit_ok(t, mk_add(t, &tg[0], 0, "r1", "ui", "a", 64));
    assert_int_equal(hub_engine_queue_depth(t->e), 1);
    assert_int_equal(hub_engine_idle(t->e), 0);
    assert_metric(t, "dmx_engine_queue_depth", 1);
    pump_until(t, 1);
    uint64_t after = hub_wall_ms();

    const struct answer *a = answer_of(t, 0);
    assert_int_equal(a->outcome, HUB_INTENT_APPLIED);
    assert_true(a->seq == 1);
    assert_string_equal(a->req_id, "r1");
    assert_true(hub_engine_seq(t->e) == 1);
    assert_true(hub_engine_ts_ms(t->e) >= before && hub_engine_ts_ms(t->e) <= after);
    assert_true(t->ctr->items[0].total == 64);
    char *r1 = render(t, ALL_ROOMS);
    assert_published_is_domain_state(t);

    /* Same req_id, another domain's intent and payload: a duplicate of the
     * first, nothing changes. */
    submit_ok(t, mk_put(t, &tg[1], 1, "r1", "mqtt", "n1", "x"));
    pump_until(t, 2);
    a = answer_of(t, 1);
    assert_int_equal(a->outcome, HUB_INTENT_DUPLICATE);
    assert_true(a->seq == 1);
    assert_int_equal(t->notes->applied, 0);
    assert_true(hub_engine_seq(t->e) == 1);
    assert_render(t, ALL_ROOMS, r1);
    hub_free(r1);

    submit_ok(t, mk_add(t, &tg[2], 2, "r2", "api", "b", 7));
    pump_until(t, 3);
    a = answer_of(t, 2);
    assert_int_equal(a->outcome, HUB_INTENT_APPLIED);
    assert_true(a->seq == 2);

    assert_int_equal(t->nanns, 2);
    assert_true(t->anns[0].seq == 1 && t->anns[1].seq == 2);
    assert_string_equal(trace_text(t), "s1 A0 f1 | U1 | s2 A2 f2 |");
    assert_metric(t, "dmx_engine_processed_total", 2);
    assert_metric(t, "dmx_engine_deduped_total", 1);
    assert_metric(t, "dmx_engine_queue_depth", 0);
    assert_metric(t, "dmx_engine_seq", 2);
    assert_int_equal(hub_engine_idle(t->e), 1);
    assert_published_is_domain_state(t);
    assert_ctx_ok(t);
}

static void test_duplicate_in_same_drain(void **state)
{
    struct tctx *t = *state;
    hub_engine_cfg_t cfg = cfg_default();
    struct tag *tg = t->tg;

    engine_start(t, &cfg, 0, NULL);
    /* Queued together: the second copy must still be a duplicate. */
    submit_ok(t, mk_add(t, &tg[0], 0, "r7", "api", "a", 10));
    submit_ok(t, mk_add(t, &tg[1], 1, "r7", "api", "a", 20));
    submit_ok(t, mk_add(t, &tg[2], 2, "r8", "api", "a", 30));
    pump_until(t, 3);
    assert_int_equal(answer_of(t, 0)->outcome, HUB_INTENT_APPLIED);
    assert_int_equal(answer_of(t, 1)->outcome, HUB_INTENT_DUPLICATE);
    assert_true(answer_of(t, 1)->seq == 1);
    assert_int_equal(answer_of(t, 2)->outcome, HUB_INTENT_APPLIED);
    assert_true(answer_of(t, 2)->seq == 2);
    assert_true(hub_engine_seq(t->e) == 2);
    assert_true(t->ctr->items[0].total == 40);
    assert_string_equal(trace_text(t), "s1 A0 f1 U1 s2 A2 f2 |");
    assert_metric(t, "dmx_engine_deduped_total", 1);
    assert_published_is_domain_state(t);
    assert_ctx_ok(t);
}

static void test_drain_now(void **state)
{
    struct tctx *t = *state;
    hub_engine_cfg_t cfg = cfg_default();
    struct tag *tg = t->tg;

    engine_start(t, &cfg, 0, NULL);
    submit_ok(t, mk_add(t, &tg[0], 0, "r0", "api", "a", 1));
    submit_ok(t, mk_put(t, &tg[1], 1, "r1", "api", "n1", "x"));
    submit_ok(t, mk_add(t, &tg[2], 2, "r2", "api", "a", 2));
    assert_int_equal(hub_engine_drain_now(t->e), 3);
    /* No store: the batch completes at once, so answers are already out. */
    assert_int_equal(t->nans, 3);
    assert_true(hub_engine_seq(t->e) == 3);
    assert_int_equal(hub_engine_drain_now(t->e), 0);
    assert_int_equal(hub_engine_idle(t->e), 1);
    assert_published_is_domain_state(t);
    assert_ctx_ok(t);
}

/* In one batch, every intent is answered in queue order; applied ones are
 * announced (on_state, answer, on_fanout) in place, and only they get a seq. */
static void test_answer_order_in_one_batch(void **state)
{
    struct tctx *t = *state;
    hub_engine_cfg_t cfg = cfg_default();
    struct tag *tg = t->tg;

    engine_start(t, &cfg, 1, NULL);
    submit_ok(t, mk_add(t, &tg[0], 0, "r0", "api", "a", 1));
    spin(t, 20); /* batch 1 in flight */
    submit_ok(t, mk_add(t, &tg[1], 1, "r1", "api", "a", 2));
    submit_ok(t, mk_put(t, &tg[2], 2, "r1", "api", "n1", "dup")); /* dup of 1, same batch */
    submit_ok(t, mk_fail(t, &tg[3], 3, "r3"));
    submit_ok(t, mk(t, &tg[4], 4, "r4", "api", "nope.x", NULL)); /* nobody's intent */
    submit_ok(t, mk_put(t, &tg[5], 5, "r5", "api", "n1", "hi"));
    submit_ok(t, mk_del(t, &tg[6], 6, "r6", "n9"));          /* not found */
    submit_ok(t, mk_add(t, &tg[7], 7, "r0", "api", "a", 3)); /* dup of batch 1's */
    submit_ok(t, mk(t, &tg[8], 8, "r8", "api", "counter.add",
                    json_pack("{s:s,s:s}", "name", "a", "n", "three")));
    spin(t, 20);
    assert_int_equal(t->nans, 0);
    assert_string_equal(trace_text(t), "");
    assert_int_equal(t->fake.submitted, 1);

    assert_int_equal(complete(t, 0), 1);
    assert_string_equal(trace_text(t), "s1 A0 f1 |");
    /* Batch 2 holds the two applied ones. */
    assert_int_equal(t->fake.submitted, 2);
    hub_batch_t *b = fake_persist_peek(&t->fake);
    assert_non_null(b);
    assert_int_equal(b->nrecs, 2);
    trace_reset(t);
    assert_int_equal(complete(t, 0), 1);
    assert_string_equal(trace_text(t), "s2 A1 f2 U2 R3 R4 s3 A5 f3 R6 U7 R8 |");

    assert_true(answer_of(t, 1)->seq == 2);
    assert_true(answer_of(t, 2)->seq == 2);
    assert_true(answer_of(t, 5)->seq == 3);
    assert_true(answer_of(t, 7)->seq == 1);
    assert_int_equal(answer_of(t, 3)->code, HUB_ERR_CONFLICT);
    assert_string_equal(answer_of(t, 3)->msg, "counter.fail always refuses");
    assert_int_equal(answer_of(t, 4)->code, HUB_ERR_UNKNOWN_INTENT);
    assert_string_equal(answer_of(t, 4)->field, "name");
    assert_int_equal(answer_of(t, 6)->code, HUB_ERR_NOT_FOUND);
    assert_string_equal(answer_of(t, 6)->field, "id");
    assert_int_equal(answer_of(t, 8)->code, HUB_ERR_INVALID);
    assert_string_equal(answer_of(t, 8)->field, "n");
    for (int i = 3; i < 9; i++)
        if (i != 5 && i != 7)
            assert_true(answer_of(t, i)->seq == 0);
    assert_true(hub_engine_seq(t->e) == 3);
    assert_true(t->ctr->items[0].total == 3);
    assert_int_equal(t->ctr->rejected, 2);
    assert_int_equal(t->notes->rejected, 1);
    assert_metric(t, "dmx_engine_rejected_total", 4);
    assert_metric(t, "dmx_engine_deduped_total", 2);
    assert_metric(t, "dmx_engine_processed_total", 3);
    assert_int_equal(hub_engine_idle(t->e), 1);
    assert_ctx_ok(t);
}

/* ---- announcements: patches, rooms, hooks ---------------------------------------------------- */

static void test_announcement_patches_rooms(void **state)
{
    struct tctx *t = *state;
    hub_engine_cfg_t cfg = cfg_default();
    struct tag *tg = t->tg;

    engine_start(t, &cfg, 1, NULL);
    t->auto_complete = 1;
    uint64_t counter = 1ull << room(t, "counter"), tally = 1ull << room(t, "tally");
    uint64_t notes = 1ull << room(t, "notes");

    submit_ok(t, mk_add(t, &tg[0], 0, "r0", "api", "a", 5));
    pump_until(t, 1);
    submit_ok(t, mk_put(t, &tg[1], 1, "r1", "api", "n1", "he said \"hi\\\""));
    pump_until(t, 2);
    submit_ok(t, mk_del(t, &tg[2], 2, "r2", "n1"));
    pump_until(t, 3);
    submit_ok(t, mk_reset(t, &tg[3], 3, "r3", "a"));
    pump_until(t, 4);

    assert_int_equal(t->nanns, 4);
    assert_string_equal(t->anns[0].patches,
                        "[{\"path\":\"counter.items.a\",\"value\":{\"name\":\"a\",\"total\":5}},"
                        "{\"path\":\"tally.sum\",\"value\":5}]");
    assert_true(t->anns[0].rooms == (counter | tally));
    assert_int_equal(t->anns[0].nchanges, 2);
    assert_string_equal(
        t->anns[1].patches,
        "[{\"path\":\"notes.n1\",\"value\":{\"text\":\"he said \\\"hi\\\\\\\"\"}}]");
    assert_true(t->anns[1].rooms == notes);
    assert_string_equal(t->anns[2].patches, "[{\"path\":\"notes.n1\",\"value\":null}]");
    assert_true(t->anns[2].rooms == notes);
    assert_string_equal(t->anns[3].patches, "[{\"path\":\"counter.items.a\",\"value\":null},"
                                            "{\"path\":\"tally.sum\",\"value\":0}]");
    assert_true(t->anns[3].rooms == (counter | tally));

    /* The journal got the same patches and the rooms as text. */
    assert_int_equal(t->nbatches, 4);
    for (size_t i = 0; i < 4; i++) {
        assert_int_equal(t->batches[i].nrecs, 1);
        assert_true(t->batches[i].recs[0].seq == i + 1);
        assert_string_equal(t->batches[i].recs[0].patches, t->anns[i].patches);
    }
    assert_string_equal(t->batches[0].recs[0].rooms, "counter,tally");
    assert_string_equal(t->batches[1].recs[0].rooms, "notes");
    /* Each domain's announce got its own intents' changes. */
    assert_int_equal(t->ctr->announce_calls, 2);
    assert_int_equal(t->ctr->mine_total, 4);
    assert_int_equal(t->notes->announce_calls, 2);

    /* Two in one group commit: the first says more follow. */
    submit_ok(t, mk_add(t, &tg[4], 4, "r4", "api", "a", 1));
    submit_ok(t, mk_put(t, &tg[5], 5, "r5", "api", "n2", "x"));
    pump_until(t, 6);
    assert_int_equal(t->nanns, 6);
    assert_int_equal(t->anns[4].more, 1);
    assert_int_equal(t->anns[5].more, 0);
    assert_int_equal(t->anns[3].more, 0);
    assert_ctx_ok(t);
}

/* What snapshots show follows announcements, not the working state. */
static void test_published_tree_follows_announce(void **state)
{
    struct tctx *t = *state;
    hub_engine_cfg_t cfg = cfg_default();
    struct tag *tg = t->tg;
    struct retained r;
    uint64_t seed = 0x2545f4914f6cdd1dull;

    fake_counter_seed(t->ctr, "a", 1);
    engine_start(t, &cfg, 1, NULL);
    char *r0 = render(t, ALL_ROOMS);

    submit_ok(t, mk_add(t, &tg[0], 0, "r0", "api", "a", 2));
    submit_ok(t, mk_put(t, &tg[1], 1, "r1", "api", "n1", "x"));
    spin(t, 20);
    /* Applied to the working state, not durable: nothing published moved. */
    assert_true(t->ctr->items[0].total == 3);
    assert_int_equal(t->notes->applied, 1);
    assert_render(t, ALL_ROOMS, r0);
    hub_free(r0);
    assert_true(hub_engine_seq(t->e) == 0);
    assert_view(t, "notes.count", "0");
    memset(&r, 0, sizeof(r));
    hub_engine_retained_foreach(t->e, collect_retained, &r);
    assert_string_equal(retained_of(&r, "test/counter/a"), "{\"name\":\"a\",\"total\":1}");

    assert_int_equal(complete(t, 0), 1);
    assert_true(hub_engine_seq(t->e) == 2);
    assert_published_is_domain_state(t);
    assert_view(t, "notes.count", "1");
    memset(&r, 0, sizeof(r));
    hub_engine_retained_foreach(t->e, collect_retained, &r);
    assert_string_equal(retained_of(&r, "test/counter/a"), "{\"name\":\"a\",\"total\":3}");

    /* Many more, across both domains, some removing entities. */
    t->auto_complete = 1;
    for (int i = 2; i < 64; i++) {
        char rid[16], nm[8];
        seed = seed * 6364136223846793005ull + 1442695040888963407ull;
        unsigned k = (unsigned)(seed >> 33);
        snprintf(rid, sizeof(rid), "r%d", i);
        snprintf(nm, sizeof(nm), "%c", 'a' + (int)(k % 4));
        switch (k % 5) {
        case 0: submit_ok(t, mk_add(t, &tg[i], i, rid, "api", nm, (int64_t)(k % 9))); break;
        case 1: submit_ok(t, mk_reset(t, &tg[i], i, rid, nm)); break;
        case 2: submit_ok(t, mk_put(t, &tg[i], i, rid, "api", nm, rid)); break;
        case 3: submit_ok(t, mk_del(t, &tg[i], i, rid, nm)); break;
        default: submit_ok(t, mk_add(t, &tg[i], i, rid, "api", nm, 1)); break;
        }
        if (k % 3 == 0)
            pump_until(t, (size_t)i + 1);
    }
    pump_until(t, 64);
    assert_published_is_domain_state(t);
    /* A fresh start from the same domains' state shows the same. */
    char *now = render(t, ALL_ROOMS);
    hub_engine_t *e2;
    hub_metrics_t *m2 = hub_metrics_new();
    hub_restore_t rs;
    memset(&rs, 0, sizeof(rs));
    rs.seq = hub_engine_seq(t->e);
    rs.ts_ms = 1;
    rs.found = 1;
    assert_int_equal(hub_engine_new(&e2, &t->loop, &cfg, m2), 0);
    assert_int_equal(hub_engine_register(e2, &fake_counter_def, t->ctr), 0);
    assert_int_equal(hub_engine_register(e2, &fake_notes_def, t->notes), 0);
    assert_int_equal(hub_engine_start(e2, &rs, NULL), 0);
    hub_jbuf_t b2;
    hub_jbuf_init(&b2);
    hub_engine_render_state(e2, ALL_ROOMS, &b2);
    json_t *j1 = json_loads(now, 0, NULL), *j2 = json_loads(b2.p, 0, NULL);
    assert_non_null(j1);
    assert_non_null(j2);
    fake_json_prune(j1);
    fake_json_prune(j2);
    int same = json_equal(j1, j2);
    json_decref(j1);
    json_decref(j2);
    hub_jbuf_free(&b2);
    hub_engine_free(e2);
    spin(t, 5);
    hub_metrics_free(m2);
    if (!same)
        fail_msg("published tree differs from a fresh start: %s", now);
    hub_free(now);
    assert_ctx_ok(t);
}

static void test_views_and_retained(void **state)
{
    struct tctx *t = *state;
    hub_engine_cfg_t cfg = cfg_default();
    struct tag *tg = t->tg;
    struct retained r;

    fake_counter_seed(t->ctr, "a", 1);
    fake_counter_seed(t->ctr, "b", 2);
    engine_start(t, &cfg, 0, NULL);

    submit_ok(t, mk_add(t, &tg[0], 0, "r0", "api", "a", 4));
    pump_until(t, 1);
    memset(&r, 0, sizeof(r));
    hub_engine_retained_foreach(t->e, collect_retained, &r);
    assert_int_equal(r.n, 2);
    assert_string_equal(r.topic[0], "test/counter/a"); /* kept in first-seen order */
    assert_string_equal(r.payload[0], "{\"name\":\"a\",\"total\":5}");
    assert_int_equal(r.qos[0], 1);
    assert_null(retained_of(&r, "test/tally")); /* not retained: not kept */
    assert_view(t, "counter.last", "{\"name\":\"a\",\"total\":5}");
    /* The announcement carried what the domain published. */
    assert_int_equal(t->anns[0].nmsgs, 4);
    assert_true(t->anns[0].kinds ==
                ((1u << HUB_OUT_MQTT) | (1u << HUB_OUT_VIEW) | (1u << HUB_OUT_FRAME)));

    /* An empty retained payload deletes the topic; the event reaches on_event. */
    size_t ev0 = t->nevents;
    submit_ok(t, mk_reset(t, &tg[1], 1, "r1", "b"));
    pump_until(t, 2);
    memset(&r, 0, sizeof(r));
    hub_engine_retained_foreach(t->e, collect_retained, &r);
    assert_int_equal(r.n, 1);
    assert_string_equal(r.topic[0], "test/counter/a");
    assert_null(retained_of(&r, "test/counter/b"));
    assert_int_equal(t->nevents, ev0 + 1);
    assert_string_equal(t->ev_source, "counter");
    assert_string_equal(t->ev_msg, "reset b");
    assert_int_equal(t->ev_level, HUB_EVENT_INFO);
    assert_true((t->anns[1].kinds & (1u << HUB_OUT_EVENT)) != 0);
    assert_view(t, "counter.last", "{\"name\":\"a\",\"total\":5}"); /* a reset sets no view */

    /* A topic deleted and published again comes back. */
    submit_ok(t, mk_add(t, &tg[2], 2, "r2", "api", "b", 9));
    pump_until(t, 3);
    memset(&r, 0, sizeof(r));
    hub_engine_retained_foreach(t->e, collect_retained, &r);
    assert_int_equal(r.n, 2);
    assert_string_equal(retained_of(&r, "test/counter/b"), "{\"name\":\"b\",\"total\":9}");

    /* notes keeps its own announced count as a view. */
    assert_view(t, "notes.count", "0");
    submit_ok(t, mk_put(t, &tg[3], 3, "r3", "api", "n1", "x"));
    submit_ok(t, mk_put(t, &tg[4], 4, "r4", "api", "n2", "y"));
    pump_until(t, 5);
    assert_view(t, "notes.count", "2");
    submit_ok(t, mk_del(t, &tg[5], 5, "r5", "n1"));
    pump_until(t, 6);
    assert_view(t, "notes.count", "1");
    assert_view(t, "nope", NULL);
    assert_ctx_ok(t);
}

/* ---- the batch: journal records and rows ----------------------------------------------------- */

static void test_batch_records_and_rows(void **state)
{
    struct tctx *t = *state;
    hub_engine_cfg_t cfg = cfg_default();
    struct tag *tg = t->tg;

    engine_start(t, &cfg, 1, NULL);
    uint64_t before = hub_wall_ms();
    submit_ok(t, mk_add(t, &tg[0], 0, "r0", "api", "a", 1));
    submit_ok(t, mk_add(t, &tg[1], 1, "r1", "mqtt", "a", 2));
    submit_ok(t, mk_put(t, &tg[2], 2, "r2", "ui", "n1", "hello"));
    submit_ok(t, mk_reset(t, &tg[3], 3, "r3", "a"));
    submit_ok(t, mk_put(t, &tg[4], 4, "r4", "ws", "n2", "x"));
    submit_ok(t, mk_fail(t, &tg[5], 5, "r5"));
    spin(t, 20);

    hub_batch_t *b = fake_persist_peek(&t->fake);
    assert_non_null(b);
    assert_int_equal(b->nrecs, 5);
    static const char *const rid[] = {"r0", "r1", "r2", "r3", "r4"};
    static const char *const src[] = {"api", "mqtt", "ui", "api", "ws"};
    static const char *const name[] = {"counter.add", "counter.add", "notes.put", "counter.reset",
                                       "notes.put"};
    static const char *const payload[] = {"{\"name\":\"a\",\"n\":1}", "{\"name\":\"a\",\"n\":2}",
                                          "{\"id\":\"n1\",\"text\":\"hello\"}", "{\"name\":\"a\"}",
                                          "{\"id\":\"n2\",\"text\":\"x\"}"};
    static const char *const rooms[] = {"counter,tally", "counter,tally", "notes", "counter,tally",
                                        "notes"};
    for (size_t i = 0; i < 5; i++) {
        const hub_journal_rec_t *jr = &b->recs[i];
        assert_true(jr->seq == i + 1);
        assert_string_equal(jr->req_id, rid[i]);
        assert_string_equal(jr->src, src[i]);
        assert_string_equal(jr->name, name[i]);
        assert_int_equal(jr->payload_len, strlen(payload[i]));
        assert_memory_equal(jr->payload, payload[i], jr->payload_len);
        assert_string_equal(jr->rooms, rooms[i]);
        assert_true(jr->ts_ms >= before && jr->ts_ms <= hub_wall_ms());
        assert_true(i == 0 || jr->ts_ms >= b->recs[i - 1].ts_ms);
    }
    assert_int_equal(b->recs[3].patches_len,
                     strlen("[{\"path\":\"counter.items.a\",\"value\":null},"
                            "{\"path\":\"tally.sum\",\"value\":0}]"));
    assert_memory_equal(b->recs[3].patches,
                        "[{\"path\":\"counter.items.a\",\"value\":null},"
                        "{\"path\":\"tally.sum\",\"value\":0}]",
                        b->recs[3].patches_len);
    assert_true(b->seq == 5);
    assert_true(b->ts_ms == b->recs[4].ts_ms);
    /* Rows in apply order; a later row of a key replaces the earlier one
     * (put a 1 by put a 3, that by the delete); unkeyed rows stay. */
    assert_int_equal(b->nrows, 7);
    assert_null(b->rows[0]);
    assert_null(b->rows[2]);
    assert_int_equal(complete(t, 0), 1);
    static const char *const rows[] = {"counter_log - 1 a 1", "counter_log - 2 a 2",
                                       "note_put note:n1 n1 hello", "counter_del counter:a a",
                                       "note_put note:n2 n2 x"};
    assert_rows(last_batch(t), rows, 5);
    assert_int_equal(last_batch(t)->nnull, 2);
    assert_int_equal(t->fake.rows_committed, 5);
    pump_until(t, 6);
    assert_string_equal(trace_text(t), "s1 A0 f1 s2 A1 f2 s3 A2 f3 s4 A3 f4 s5 A4 f5 R5 |");
    assert_ctx_ok(t);
}

/* ---- group commit ---------------------------------------------------------------------------- */

static void test_group_commit(void **state)
{
    struct tctx *t = *state;
    hub_engine_cfg_t cfg = cfg_default();
    struct tag *tg = t->tg;

    engine_start(t, &cfg, 1, NULL);
    submit_ok(t, mk_add(t, &tg[0], 0, "r1", "ui", "a", 1));
    spin(t, 50);
    /* The batch is at the store: nothing answered, announced or published. */
    hub_batch_t *b = fake_persist_peek(&t->fake);
    assert_non_null(b);
    assert_int_equal(t->fake.nheld, 1);
    assert_int_equal(b->nrecs, 1);
    assert_true(b->recs[0].seq == 1);
    assert_string_equal(b->recs[0].req_id, "r1");
    assert_string_equal(b->recs[0].src, "ui");
    assert_string_equal(b->recs[0].name, "counter.add");
    assert_true(b->recs[0].ts_ms > 0);
    assert_true(b->seq == 1);
    assert_int_equal(t->nans, 0);
    assert_int_equal(t->nanns, 0);
    assert_true(hub_engine_seq(t->e) == 0);
    assert_int_equal(hub_engine_idle(t->e), 0);
    assert_metric(t, "dmx_engine_processed_total", 0);

    /* More arrive while it commits: they wait in the next batch. */
    submit_ok(t, mk_add(t, &tg[1], 1, "r2", "api", "a", 4));
    submit_ok(t, mk_put(t, &tg[2], 2, "r3", "api", "n1", "x"));
    submit_ok(t, mk_add(t, &tg[3], 3, "r1", "api", "a", 9));
    spin(t, 50);
    assert_int_equal(t->fake.submitted, 1);
    assert_int_equal(t->fake.nheld, 1);
    assert_int_equal(t->nans, 0);
    assert_int_equal(t->nanns, 0);

    /* Batch 1 durable: its intent is answered and announced, only it. */
    assert_int_equal(complete(t, 0), 1);
    spin(t, 50);
    assert_int_equal(t->nans, 1);
    assert_int_equal(answer_of(t, 0)->outcome, HUB_INTENT_APPLIED);
    assert_true(answer_of(t, 0)->seq == 1);
    assert_int_equal(t->nanns, 1);
    assert_true(hub_engine_seq(t->e) == 1);
    assert_metric(t, "dmx_engine_processed_total", 1);

    /* The rest went as one batch (group commit). */
    b = fake_persist_peek(&t->fake);
    assert_non_null(b);
    assert_int_equal(t->fake.submitted, 2);
    assert_int_equal(b->nrecs, 2);
    assert_true(b->recs[0].seq == 2 && b->recs[1].seq == 3);
    assert_string_equal(b->recs[1].name, "notes.put");
    assert_true(b->seq == 3);
    assert_int_equal(complete(t, 0), 1);
    pump_until(t, 4);
    assert_int_equal(answer_of(t, 1)->outcome, HUB_INTENT_APPLIED);
    assert_true(answer_of(t, 1)->seq == 2);
    assert_int_equal(answer_of(t, 2)->outcome, HUB_INTENT_APPLIED);
    assert_true(answer_of(t, 2)->seq == 3);
    assert_int_equal(answer_of(t, 3)->outcome, HUB_INTENT_DUPLICATE);
    assert_true(answer_of(t, 3)->seq == 1);
    assert_int_equal(t->nanns, 3);
    assert_true(t->ctr->items[0].total == 5);
    assert_true(hub_engine_seq(t->e) == 3);
    assert_int_equal(hub_engine_idle(t->e), 1);
    assert_metric(t, "dmx_engine_processed_total", 3);
    assert_metric(t, "dmx_engine_deduped_total", 1);
    assert_published_is_domain_state(t);
    assert_ctx_ok(t);
}

static void test_batch_max_stops_draining(void **state)
{
    struct tctx *t = *state;
    hub_engine_cfg_t cfg = cfg_default();
    struct tag *tg = t->tg;

    cfg.batch_max = 2;
    engine_start(t, &cfg, 1, NULL);
    submit_ok(t, mk_add(t, &tg[0], 0, "r0", "api", "a", 1));
    spin(t, 20);
    assert_int_equal(t->fake.nheld, 1);
    for (int i = 1; i < 5; i++) {
        char rid[8];
        snprintf(rid, sizeof(rid), "r%d", i);
        submit_ok(t, mk_add(t, &tg[i], i, rid, "api", "a", i));
    }
    spin(t, 50);
    /* The open batch holds 2; the other 2 stay queued (back-pressure). */
    assert_int_equal(hub_engine_queue_depth(t->e), 2);
    assert_true(t->ctr->items[0].total == 1 + 1 + 2);
    assert_int_equal(complete(t, 0), 1);
    spin(t, 20);
    assert_int_equal(fake_persist_peek(&t->fake)->nrecs, 2);
    t->auto_complete = 1;
    pump_until(t, 5);
    assert_int_equal(t->fake.submitted, 3);
    assert_true(hub_engine_seq(t->e) == 5);
    assert_ctx_ok(t);
}

static void test_on_flush_once_per_batch(void **state)
{
    struct tctx *t = *state;
    hub_engine_cfg_t cfg = cfg_default();
    struct tag *tg = t->tg;

    engine_start(t, &cfg, 1, NULL);
    submit_ok(t, mk_add(t, &tg[0], 0, "r0", "api", "a", 1));
    submit_ok(t, mk_put(t, &tg[1], 1, "r1", "api", "n1", "x"));
    submit_ok(t, mk_add(t, &tg[2], 2, "r2", "api", "b", 1));
    spin(t, 20);
    assert_int_equal(t->nflush, 0);
    assert_int_equal(complete(t, 0), 1);
    assert_int_equal(t->nflush, 1);
    assert_string_equal(trace_text(t), "s1 A0 f1 s2 A1 f2 s3 A2 f3 |");
    /* The announced hook: once per group commit, per domain it touched. */
    assert_int_equal(t->ctr->announced_calls, 1);
    assert_int_equal(t->notes->announced_calls, 1);

    trace_reset(t);
    submit_ok(t, mk_put(t, &tg[3], 3, "r3", "api", "n2", "y"));
    submit_ok(t, mk_put(t, &tg[4], 4, "r4", "api", "n3", "z"));
    spin(t, 20);
    assert_int_equal(complete(t, 0), 1);
    assert_int_equal(t->nflush, 2);
    assert_string_equal(trace_text(t), "s4 A3 f4 s5 A4 f5 |");
    assert_int_equal(t->ctr->announced_calls, 1);
    assert_int_equal(t->notes->announced_calls, 2);

    /* A batch with nothing to write completes without the store, still once. */
    trace_reset(t);
    submit_ok(t, mk_fail(t, &tg[5], 5, "r5"));
    spin(t, 20);
    assert_int_equal(t->fake.submitted, 2);
    assert_int_equal(t->nflush, 3);
    assert_string_equal(trace_text(t), "R5 |");
    assert_int_equal(t->ctr->announced_calls, 1);
    assert_ctx_ok(t);
}

/* ---- store failures -------------------------------------------------------------------------- */

static void test_store_failure(void **state)
{
    struct tctx *t = *state;
    hub_engine_cfg_t cfg = cfg_default();
    struct tag *tg = t->tg;

    engine_start(t, &cfg, 1, NULL);
    submit_ok(t, mk_add(t, &tg[0], 0, "r1", "api", "a", 5));
    spin(t, 20);
    size_t ev0 = t->nevents;
    assert_int_equal(complete(t, HUB_ESTORE), 1);
    spin(t, 20);
    assert_int_equal(t->nans, 1);
    assert_int_equal(answer_of(t, 0)->outcome, HUB_ESTORE);
    assert_int_equal(answer_of(t, 0)->code, HUB_ERR_STORE_FAILED);
    assert_true(answer_of(t, 0)->seq == 1);
    assert_non_null(strstr(answer_of(t, 0)->msg, "disk on fire"));
    assert_non_null(hub_engine_store_error(t->e));
    assert_non_null(strstr(hub_engine_store_error(t->e), "disk on fire"));
    assert_int_equal(t->nevents, ev0 + 1);
    assert_string_equal(t->ev_source, "store");
    assert_int_equal(t->ev_level, HUB_EVENT_ERROR);
    /* Memory is authoritative: announced all the same. */
    assert_string_equal(trace_text(t), "s1 E0 f1 |");
    assert_true(hub_engine_seq(t->e) == 1);
    assert_published_is_domain_state(t);
    assert_metric(t, "dmx_engine_processed_total", 0);
    assert_metric(t, "dmx_engine_store_failed_total", 1);

    /* Not durable, so not remembered: the retry applies. */
    submit_ok(t, mk_add(t, &tg[1], 1, "r1", "api", "a", 5));
    t->auto_complete = 1;
    pump_until(t, 2);
    assert_int_equal(answer_of(t, 1)->outcome, HUB_INTENT_APPLIED);
    assert_true(answer_of(t, 1)->seq == 2);
    assert_null(hub_engine_store_error(t->e));
    assert_true(t->ctr->items[0].total == 10);
    assert_metric(t, "dmx_engine_processed_total", 1);
    assert_metric(t, "dmx_engine_deduped_total", 0);
    assert_ctx_ok(t);
}

/* A duplicate of an intent whose commit then fails did not take effect
 * either: it must not be answered "duplicate" (review finding S2). */
static void test_duplicate_of_failed_commit(void **state)
{
    struct tctx *t = *state;
    hub_engine_cfg_t cfg = cfg_default();
    struct tag *tg = t->tg;

    engine_start(t, &cfg, 1, NULL);
    submit_ok(t, mk_add(t, &tg[0], 0, "r7", "api", "a", 5));
    spin(t, 20); /* batch 1 (r7) in flight */
    submit_ok(t, mk_add(t, &tg[1], 1, "r7", "api", "a", 5));
    spin(t, 20); /* the duplicate waits in batch 2 */
    assert_int_equal(t->nans, 0);
    assert_int_equal(complete(t, HUB_ESTORE), 1);
    spin(t, 20);
    assert_int_equal(t->nans, 2);
    assert_int_equal(answer_of(t, 0)->outcome, HUB_ESTORE);
    assert_int_equal(answer_of(t, 1)->outcome, HUB_ESTORE);
    assert_int_equal(answer_of(t, 1)->code, HUB_ERR_STORE_FAILED);
    assert_metric(t, "dmx_engine_deduped_total", 0);
    /* And the retry applies. */
    submit_ok(t, mk_add(t, &tg[2], 2, "r7", "api", "a", 5));
    t->auto_complete = 1;
    pump_until(t, 3);
    assert_int_equal(answer_of(t, 2)->outcome, HUB_INTENT_APPLIED);
    assert_true(answer_of(t, 2)->seq == 2);
    assert_ctx_ok(t);
}

/* The same, when the retry is applied before the duplicate is answered: the
 * duplicate's original (seq 1) never became durable, so it must not be
 * answered "duplicate of seq 1" just because the req_id is back in the cache. */
static void test_duplicate_of_failed_commit_after_retry(void **state)
{
    struct tctx *t = *state;
    hub_engine_cfg_t cfg = cfg_default();
    struct tag *tg = t->tg;

    engine_start(t, &cfg, 1, NULL);
    submit_ok(t, mk_add(t, &tg[0], 0, "x", "api", "a", 1));
    spin(t, 20);                                            /* batch 1 (x, seq 1) in flight */
    submit_ok(t, mk_add(t, &tg[1], 1, "x", "api", "a", 1)); /* duplicate of seq 1 */
    submit_ok(t, mk_add(t, &tg[2], 2, "y", "api", "b", 1));
    spin(t, 20);                                  /* both wait in batch 2 */
    assert_int_equal(complete(t, HUB_ESTORE), 1); /* seq 1 is not durable */
    assert_int_equal(answer_of(t, 0)->outcome, HUB_ESTORE);
    assert_int_equal(t->fake.nheld, 1);                     /* batch 2 (y) in flight */
    submit_ok(t, mk_add(t, &tg[3], 3, "x", "api", "a", 1)); /* the sender's retry */
    spin(t, 20);
    assert_int_equal(complete(t, 0), 1); /* batch 2 durable */
    assert_int_equal(answer_of(t, 2)->outcome, HUB_INTENT_APPLIED);
    const struct answer *d = answer_of(t, 1);
    if (d->outcome != HUB_ESTORE)
        fail_msg("duplicate of the failed seq 1 answered outcome %d seq %" PRIu64
                 " (want HUB_ESTORE: its original never became durable)",
                 d->outcome, d->seq);
    assert_int_equal(complete(t, 0), 1);
    assert_int_equal(answer_of(t, 3)->outcome, HUB_INTENT_APPLIED);
    assert_true(answer_of(t, 3)->seq == 3);
    assert_ctx_ok(t);
}

/* Rows of a failed batch go first in the next batch that writes anything;
 * later rows of the same key win; once committed, they are gone. */
static void test_failed_commit_carry_over(void **state)
{
    struct tctx *t = *state;
    hub_engine_cfg_t cfg = cfg_default();
    struct tag *tg = t->tg;

    engine_start(t, &cfg, 1, NULL);
    submit_ok(t, mk_add(t, &tg[0], 0, "r0", "api", "a", 1));
    submit_ok(t, mk_put(t, &tg[1], 1, "r1", "api", "n1", "one"));
    spin(t, 20);
    assert_int_equal(complete(t, HUB_ESTORE), 1);
    static const char *const b1[] = {"counter_put counter:a a 1", "counter_log - 1 a 1",
                                     "note_put note:n1 n1 one"};
    assert_rows(last_batch(t), b1, 3);
    assert_string_equal(trace_text(t), "s1 E0 f1 s2 E1 f2 |");
    assert_published_is_domain_state(t);
    assert_int_equal(t->fake.submitted, 1);

    /* A batch with nothing to write: no store call, the carry waits. */
    trace_reset(t);
    submit_ok(t, mk_fail(t, &tg[2], 2, "r2"));
    spin(t, 20);
    assert_string_equal(trace_text(t), "R2 |");
    assert_int_equal(t->fake.submitted, 1);

    /* The retry of r0 applies (not a duplicate); the carried rows go first,
     * the carried put of a is replaced by this batch's. Fail this one too. */
    submit_ok(t, mk_add(t, &tg[3], 3, "r0", "api", "a", 5));
    submit_ok(t, mk_add(t, &tg[4], 4, "r4", "api", "b", 1));
    spin(t, 20);
    assert_int_equal(complete(t, HUB_ESTORE), 1);
    static const char *const b2[] = {"counter_log - 1 a 1",       "note_put note:n1 n1 one",
                                     "counter_put counter:a a 6", "counter_log - 3 a 5",
                                     "counter_put counter:b b 1", "counter_log - 4 b 1"};
    assert_rows(last_batch(t), b2, 6);
    assert_int_equal(last_batch(t)->nnull, 1);
    assert_int_equal(answer_of(t, 3)->outcome, HUB_ESTORE);
    assert_true(answer_of(t, 3)->seq == 3);

    /* Both failed batches' rows, oldest first, then this batch's. */
    submit_ok(t, mk_put(t, &tg[5], 5, "r5", "api", "n1", "two"));
    spin(t, 20);
    assert_int_equal(complete(t, 0), 1);
    static const char *const b3[] = {"counter_log - 1 a 1", "counter_put counter:a a 6",
                                     "counter_log - 3 a 5", "counter_put counter:b b 1",
                                     "counter_log - 4 b 1", "note_put note:n1 n1 two"};
    assert_rows(last_batch(t), b3, 6);
    assert_int_equal(answer_of(t, 5)->outcome, HUB_INTENT_APPLIED);
    assert_null(hub_engine_store_error(t->e));

    /* Committed: nothing is carried any more. */
    submit_ok(t, mk_add(t, &tg[6], 6, "r6", "api", "c", 1));
    spin(t, 20);
    assert_int_equal(complete(t, 0), 1);
    static const char *const b4[] = {"counter_put counter:c c 1", "counter_log - 6 c 1"};
    assert_rows(last_batch(t), b4, 2);
    assert_int_equal(t->fake.submitted, 4);
    assert_published_is_domain_state(t);
    assert_ctx_ok(t);
}

/* A failed batch of many intents: every one of their rows is carried. */
static void test_carry_over_many_records(void **state)
{
    enum { N = 300 };
    struct tctx *t = *state;
    hub_engine_cfg_t cfg = cfg_default();
    struct tag *tg = t->tg;

    engine_start(t, &cfg, 1, NULL);
    t->trace_on = 0;
    for (int i = 0; i < N; i++) {
        char rid[16], nm[16];
        snprintf(rid, sizeof(rid), "r%d", i);
        snprintf(nm, sizeof(nm), "k%d", i);
        submit_ok(t, mk_add(t, &tg[i], i, rid, "api", nm, 1));
    }
    spin(t, 20);
    assert_int_equal(fake_persist_peek(&t->fake)->nrecs, N);
    assert_int_equal(complete(t, HUB_ESTORE), 1);
    assert_int_equal(t->nans, N);

    submit_ok(t, mk_add(t, &tg[N], N, "last", "api", "z", 1));
    spin(t, 20);
    assert_int_equal(complete(t, 0), 1);
    const struct cbatch *cb = last_batch(t);
    size_t carried = 0;
    for (int i = 0; i < N; i++) {
        char want[64];
        snprintf(want, sizeof(want), "counter_put counter:k%d k%d 1", i, i);
        int found = 0;
        for (size_t k = 0; k < cb->nrows && !found; k++)
            found = strcmp(cb->rows[k].text, want) == 0;
        carried += found != 0;
    }
    if (carried != N || cb->nrows != 2 * N + 2)
        fail_msg("the batch after a failed one of %d intents carried %zu of their puts "
                 "(%zu rows, want %d)",
                 N, carried, cb->nrows, 2 * N + 2);
    assert_string_equal(cb->rows[0].text, "counter_put counter:k0 k0 1"); /* oldest first */
    assert_string_equal(cb->rows[2 * N].text, "counter_put counter:z z 1");
    assert_ctx_ok(t);
}

/* Once the store is closing, the open batch is never submitted: its intents
 * are answered HUB_ESHUTDOWN, while the batch in flight completes normally. */
static void test_close_store(void **state)
{
    struct tctx *t = *state;
    hub_engine_cfg_t cfg = cfg_default();
    struct tag *tg = t->tg;

    engine_start(t, &cfg, 1, NULL);
    submit_ok(t, mk_add(t, &tg[0], 0, "r0", "api", "a", 1));
    spin(t, 20);
    submit_ok(t, mk_put(t, &tg[1], 1, "r1", "api", "n1", "x"));
    spin(t, 20);
    hub_engine_close_store(t->e);
    assert_int_equal(complete(t, 0), 1);
    spin(t, 20);
    assert_int_equal(t->nans, 2);
    assert_int_equal(answer_of(t, 0)->outcome, HUB_INTENT_APPLIED);
    assert_int_equal(answer_of(t, 1)->outcome, HUB_ESHUTDOWN);
    assert_int_equal(t->nanns, 1);            /* the second was never announced */
    assert_null(fake_persist_peek(&t->fake)); /* nothing more was submitted */
    assert_int_equal(t->fake.submitted, 1);
    assert_true(hub_engine_idle(t->e));
    assert_ctx_ok(t);
}

/* ---- overload, detach, shutdown, restore ----------------------------------------------------- */

static void test_overload_drops_oldest_ui(void **state)
{
    struct tctx *t = *state;
    hub_engine_cfg_t cfg = cfg_default();
    struct tag *tg = t->tg;

    cfg.queue_size = 2;
    engine_start(t, &cfg, 0, NULL);
    submit_ok(t, mk_add(t, &tg[0], 0, "r0", "ui", "a", 1));
    submit_ok(t, mk_put(t, &tg[1], 1, "r1", "ui", "n1", "x"));
    assert_int_equal(hub_engine_room(t->e), 0);
    submit_ok(t, mk_add(t, &tg[2], 2, "r2", "ui", "a", 3));
    /* Not answered from inside submit. */
    assert_int_equal(t->nans, 0);
    submit_ok(t, mk_put(t, &tg[3], 3, "r3", "api", "n2", "y"));
    assert_int_equal(t->nans, 0);
    assert_int_equal(hub_engine_queue_depth(t->e), 2);
    assert_metric(t, "dmx_engine_dropped_total", 2);
    pump_until(t, 4);
    assert_int_equal(answer_of(t, 0)->outcome, HUB_EDROPPED);
    assert_int_equal(answer_of(t, 1)->outcome, HUB_EDROPPED);
    assert_int_equal(answer_of(t, 2)->outcome, HUB_INTENT_APPLIED);
    assert_true(answer_of(t, 2)->seq == 1);
    assert_int_equal(answer_of(t, 3)->outcome, HUB_INTENT_APPLIED);
    assert_true(answer_of(t, 3)->seq == 2);
    assert_string_equal(trace_text(t), "D0 D1 | s1 A2 f1 s2 A3 f2 |");
    assert_true(t->ctr->items[0].total == 3);
    assert_int_equal(t->notes->applied, 1);
    assert_metric(t, "dmx_engine_processed_total", 2);
    assert_metric(t, "dmx_engine_refused_total", 0);
    assert_ctx_ok(t);
}

static void test_overload_refuses(void **state)
{
    struct tctx *t = *state;
    hub_engine_cfg_t cfg = cfg_default();
    struct tag *tg = t->tg;

    cfg.queue_size = 2;
    engine_start(t, &cfg, 0, NULL);
    hub_engine_on_room(t->e, on_room, t);
    submit_ok(t, mk_add(t, &tg[0], 0, "r0", "api", "a", 1));
    submit_ok(t, mk_put(t, &tg[1], 1, "r1", "mqtt", "n1", "x"));
    hub_intent_t *c = mk_add(t, &tg[2], 2, "r2", "api", "a", 3);
    assert_int_equal(hub_engine_submit(t->e, c), HUB_EOVERLOAD);
    hub_intent_t *u = mk_add(t, &tg[3], 3, "r3", "ui", "a", 4);
    assert_int_equal(hub_engine_submit(t->e, u), HUB_EOVERLOAD);
    /* The caller kept them: freeing here must be safe (ASan). */
    hub_intent_free(c);
    hub_intent_free(u);
    assert_metric(t, "dmx_engine_refused_total", 2);
    assert_metric(t, "dmx_engine_dropped_total", 0);
    assert_int_equal(hub_engine_room(t->e), 0);
    pump_until(t, 2);
    assert_int_equal(t->nans, 2);
    assert_int_equal(tg[2].answers, 0);
    assert_int_equal(tg[3].answers, 0);
    assert_int_equal(hub_engine_room(t->e), 2);
    assert_int_equal(t->on_room_calls, 1);
    assert_true(hub_engine_seq(t->e) == 2);
    assert_ctx_ok(t);
}

static void test_detach(void **state)
{
    struct tctx *t = *state;
    hub_engine_cfg_t cfg = cfg_default();
    struct tag *tg = t->tg;

    engine_start(t, &cfg, 1, NULL);
    hub_intent_t *a = mk_add(t, &tg[0], 0, "r0", "api", "a", 1);
    submit_ok(t, a);
    hub_intent_detach(a); /* detached while queued */
    spin(t, 20);
    hub_intent_t *b = mk_put(t, &tg[1], 1, "r1", "api", "n1", "x");
    submit_ok(t, b);
    spin(t, 20);
    hub_intent_detach(b); /* detached while applied, not yet durable */
    submit_ok(t, mk_add(t, &tg[2], 2, "r2", "api", "a", 2));
    t->auto_complete = 1;
    pump_until(t, 1);
    assert_int_equal(tg[0].answers, 0);
    assert_int_equal(tg[1].answers, 0);
    assert_int_equal(t->nans, 1);
    assert_true(answer_of(t, 2)->seq == 3);
    /* Detached intents still count: the state moved. */
    assert_int_equal(t->nanns, 3);
    assert_true(hub_engine_seq(t->e) == 3);
    assert_published_is_domain_state(t);
    assert_ctx_ok(t);
}

static void test_stop_intake(void **state)
{
    struct tctx *t = *state;
    hub_engine_cfg_t cfg = cfg_default();
    struct tag *tg = t->tg;

    engine_start(t, &cfg, 0, NULL);
    submit_ok(t, mk_add(t, &tg[0], 0, "r0", "api", "a", 1));
    hub_engine_stop_intake(t->e);
    hub_intent_t *c = mk_add(t, &tg[1], 1, "r1", "api", "a", 2);
    assert_int_equal(hub_engine_submit(t->e, c), HUB_ESHUTDOWN);
    hub_intent_free(c);
    assert_int_equal(hub_engine_room(t->e), 0);
    /* Queued before the stop: still runs. */
    pump_until(t, 1);
    assert_int_equal(answer_of(t, 0)->outcome, HUB_INTENT_APPLIED);
    assert_int_equal(tg[1].answers, 0);
    assert_true(hub_engine_seq(t->e) == 1);
    assert_ctx_ok(t);
}

static void test_free_answers_pending(void **state)
{
    struct tctx *t = *state;
    hub_engine_cfg_t cfg = cfg_default();
    struct tag *tg = t->tg;

    cfg.queue_size = 3;
    engine_start(t, &cfg, 0, NULL);
    submit_ok(t, mk_add(t, &tg[0], 0, "r0", "ui", "a", 1));
    submit_ok(t, mk_add(t, &tg[1], 1, "r1", "api", "a", 2));
    submit_ok(t, mk_put(t, &tg[2], 2, "r2", "api", "n1", "x"));
    submit_ok(t, mk_fail(t, &tg[3], 3, "r3"));
    /* 0 was dropped (its answer pending), 1..3 are queued. */
    hub_engine_t *e = t->e;
    t->e = NULL; /* callbacks must not look at a dying engine */
    hub_engine_free(e);
    assert_int_equal(t->nans, 4);
    for (int i = 0; i < 4; i++)
        assert_int_equal(tg[i].answers, 1);
    int o0 = answer_of(t, 0)->outcome;
    assert_true(o0 == HUB_EDROPPED || o0 == HUB_ESHUTDOWN);
    for (int i = 1; i < 4; i++)
        assert_int_equal(answer_of(t, i)->outcome, HUB_ESHUTDOWN);
    assert_int_equal(t->nanns, 0);
    assert_int_equal(t->ctr->applied + t->ctr->rejected + t->notes->applied, 0);
    engine_stop(t); /* closes the handles; teardown checks */
    assert_ctx_ok(t);
}

static void test_restore(void **state)
{
    struct tctx *t = *state;
    hub_engine_cfg_t cfg = cfg_default();
    hub_restore_t r;
    struct tag *tg = t->tg;
    uint64_t now = hub_wall_ms();

    fake_counter_seed(t->ctr, "a", 10);
    memset(&r, 0, sizeof(r));
    r.seq = 41;
    r.ts_ms = 1700000000000ULL;
    r.found = 1;
    r.nids = 3;
    r.ids = hub_calloc(r.nids, sizeof(*r.ids));
    snprintf(r.ids[0].id, sizeof(r.ids[0].id), "old");
    r.ids[0].ts_ms = now - cfg.dedupe_ttl_ms - 60000; /* too old to count */
    r.ids[0].seq = 30;
    snprintf(r.ids[1].id, sizeof(r.ids[1].id), "mid");
    r.ids[1].ts_ms = now - 5000;
    r.ids[1].seq = 39;
    snprintf(r.ids[2].id, sizeof(r.ids[2].id), "new");
    r.ids[2].ts_ms = now - 1000;
    r.ids[2].seq = 41;

    engine_start(t, &cfg, 0, &r);
    hub_restore_free(&r); /* the engine keeps copies, not pointers */

    assert_true(hub_engine_seq(t->e) == 41);
    assert_true(hub_engine_ts_ms(t->e) == 1700000000000ULL);
    assert_render(t, ALL_ROOMS,
                  "{\"seq\":41,\"state\":{\"counter\":{\"items\":{\"a\":{\"name\":\"a\","
                  "\"total\":10}}},\"tally\":{\"sum\":10},\"notes\":{}}}");
    assert_metric(t, "dmx_engine_seq", 41);

    submit_ok(t, mk_add(t, &tg[0], 0, "mid", "api", "a", 1));
    submit_ok(t, mk_put(t, &tg[1], 1, "new", "api", "n1", "x"));
    submit_ok(t, mk_add(t, &tg[2], 2, "old", "api", "a", 2));
    submit_ok(t, mk_put(t, &tg[3], 3, "fresh", "api", "n1", "y"));
    pump_until(t, 4);
    assert_int_equal(answer_of(t, 0)->outcome, HUB_INTENT_DUPLICATE);
    assert_true(answer_of(t, 0)->seq == 39);
    assert_int_equal(answer_of(t, 1)->outcome, HUB_INTENT_DUPLICATE);
    assert_true(answer_of(t, 1)->seq == 41);
    assert_int_equal(answer_of(t, 2)->outcome, HUB_INTENT_APPLIED); /* expired id */
    assert_true(answer_of(t, 2)->seq == 42);
    assert_int_equal(answer_of(t, 3)->outcome, HUB_INTENT_APPLIED);
    assert_true(answer_of(t, 3)->seq == 43);
    assert_int_equal(t->nanns, 2);
    assert_true(t->anns[0].seq == 42);
    assert_true(hub_engine_seq(t->e) == 43);
    assert_true(t->ctr->items[0].total == 12);
    assert_published_is_domain_state(t);
    assert_ctx_ok(t);
}

/* ---- property test: random intent streams across domains ----------------------------------
 *
 * A model predicts every answer. It replays the stream in the engine's own
 * order: after each turn of the loop it applies, in queue order, the intents
 * the engine has taken from the queue (submitted - queue depth), with its own
 * dedupe cache and its own copy of both domains; when the test completes a
 * held batch with a failure, the model forgets that batch's req_ids, as the
 * engine must. Answers then follow:
 *   applied   -> APPLIED with its seq if its batch committed, else HUB_ESTORE;
 *   duplicate -> DUPLICATE with the seq of the application it repeats if that
 *                one committed, else HUB_ESTORE (it did not take effect);
 *   refused   -> REJECTED with the domain's (or unknown_intent) code, no seq.
 * Then: applied seqs are 1..N in order and announced once each in order; the
 * journal the store saw is exactly the applied intents (seq, req_id, src,
 * name, payload); the rows committed, replayed as a database, equal the
 * domains' state, and every counter.add's log row was committed exactly once
 * (carry-over loses nothing and repeats nothing); the published tree, the
 * retained topics and views equal the domains' state; the metrics agree.
 */

enum { PK_ADD, PK_ADD_BAD, PK_RESET, PK_FAIL, PK_PUT, PK_DEL, PK_UNKNOWN };
enum { V_NONE, V_APPLIED, V_DUP, V_REJECTED };

#define MODEL_NAMES 6
#define MODEL_IDS   8

struct pint {
    struct tag tg;
    int kind;
    int ridk; /* req_id "q<ridk>" */
    char src[8];
    char arg[8]; /* counter name or note id */
    int64_t n;
    char text[FAKE_TEXT_MAX + 1];
    char payload[192]; /* the journal's text of its payload */
    int detached;
    int verdict;  /* the model's, at apply time */
    uint64_t seq; /* applied: its seq; duplicate: the one it repeats */
    hub_errcode_t code;
};

struct prop {
    struct tctx *t;
    uint64_t rng;
    int fail_pct;
    struct pint *in;
    size_t nin, upto; /* submitted; applied by the model */
    size_t nrids;
    uint64_t *dd;   /* by ridk: the seq the model's cache remembers, 0 = none */
    size_t *by_seq; /* seq -> index into in (1-based seqs) */
    int *seq_state; /* seq -> 0 pending, 1 committed, -1 failed */
    uint64_t seq;
    int64_t total[MODEL_NAMES];
    int live[MODEL_NAMES];
    char note[MODEL_IDS][FAKE_TEXT_MAX + 1];
    int note_live[MODEL_IDS];
    size_t nanswer; /* answers expected */
};

#define P_SEQ_FATE(P, p)                                                                           \
    ((p)->verdict == V_REJECTED      ? "has no seq"                                                \
     : (P)->seq_state[(p)->seq] == 1 ? "committed"                                                 \
                                     : "failed to commit")

static uint64_t rng_next(uint64_t *s)
{
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return *s * 2685821657736338717ULL;
}

static void model_apply(struct prop *P, size_t i)
{
    struct pint *p = &P->in[i];
    int k = p->arg[0] ? p->arg[1] - '0' : 0;

    if (P->dd[p->ridk] != 0) {
        p->verdict = V_DUP;
        p->seq = P->dd[p->ridk];
        return;
    }
    p->verdict = V_REJECTED;
    switch (p->kind) {
    case PK_UNKNOWN: p->code = HUB_ERR_UNKNOWN_INTENT; return;
    case PK_FAIL: p->code = HUB_ERR_CONFLICT; return;
    case PK_ADD_BAD: p->code = HUB_ERR_INVALID; return;
    case PK_ADD:
        if (!P->live[k])
            P->total[k] = 0;
        P->live[k] = 1;
        P->total[k] += p->n;
        break;
    case PK_RESET:
        if (!P->live[k]) {
            p->code = HUB_ERR_NOT_FOUND;
            return;
        }
        P->live[k] = 0;
        P->total[k] = 0;
        break;
    case PK_PUT:
        snprintf(P->note[k], sizeof(P->note[k]), "%s", p->text);
        P->note_live[k] = 1;
        break;
    case PK_DEL:
        if (!P->note_live[k]) {
            p->code = HUB_ERR_NOT_FOUND;
            return;
        }
        P->note_live[k] = 0;
        break;
    }
    p->verdict = V_APPLIED;
    p->seq = ++P->seq;
    P->dd[p->ridk] = p->seq;
    P->by_seq[p->seq] = i;
}

/* The store is about to answer batch b with rc. */
static void model_batch_done(struct prop *P, const hub_batch_t *b, int rc)
{
    for (size_t i = 0; i < b->nrecs; i++) {
        uint64_t s = b->recs[i].seq;
        if (s == 0 || s > P->seq) {
            fail_msg("the store got seq %" PRIu64 ", the model applied %" PRIu64, s, P->seq);
            return;
        }
        P->seq_state[s] = rc == 0 ? 1 : -1;
        if (rc != 0)
            P->dd[P->in[P->by_seq[s]].ridk] = 0; /* not durable: forgotten */
    }
}

static void prop_turn(struct prop *P)
{
    struct tctx *t = P->t;

    uv_run(&t->loop, UV_RUN_NOWAIT);
    size_t taken = P->nin - hub_engine_queue_depth(t->e);
    for (; P->upto < taken; P->upto++)
        model_apply(P, P->upto);
}

static void prop_step(struct prop *P)
{
    struct tctx *t = P->t;

    if (t->fake.nheld > 0 && rng_next(&P->rng) % 3 == 0) {
        int rc = P->fail_pct > 0 && (int)(rng_next(&P->rng) % 100) < P->fail_pct ? HUB_ESTORE : 0;
        model_batch_done(P, fake_persist_peek(&t->fake), rc);
        complete(t, rc);
    } else {
        prop_turn(P);
    }
}

static void prop_settle(struct prop *P)
{
    struct tctx *t = P->t;
    for (int i = 0; i < PUMP_CAP; i++) {
        if (t->nans >= P->nanswer && hub_engine_idle(t->e) && t->fake.nheld == 0 &&
            P->upto == P->nin)
            return;
        prop_step(P);
    }
    fail_msg("stream did not settle: %zu answers (want %zu), idle %d, held %zu", t->nans,
             P->nanswer, hub_engine_idle(t->e), t->fake.nheld);
}

static void prop_gen(struct prop *P, struct pint *p, int final)
{
    static const char *const srcs[] = {"api", "mqtt", "ws", "ui", "timer"};
    uint64_t *s = &P->rng;
    unsigned r = (unsigned)(rng_next(s) % 100);
    hub_jbuf_t b;

    memset(p, 0, sizeof(*p));
    /* ~20% reuse a req_id, mostly a recent one (so retries meet failures). */
    if (!final && P->nrids > 0 && rng_next(s) % 100 < 20) {
        size_t back = rng_next(s) % 4 == 0 ? P->nrids : (P->nrids < 6 ? P->nrids : 6);
        p->ridk = (int)(P->nrids - 1 - rng_next(s) % back);
    } else {
        p->ridk = (int)P->nrids++;
    }
    snprintf(p->src, sizeof(p->src), "%s", srcs[rng_next(s) % 5]);
    p->kind = final    ? PK_ADD
              : r < 35 ? PK_ADD
              : r < 40 ? PK_ADD_BAD
              : r < 47 ? PK_RESET
              : r < 51 ? PK_FAIL
              : r < 80 ? PK_PUT
              : r < 97 ? PK_DEL
                       : PK_UNKNOWN;
    hub_jbuf_init(&b);
    switch (p->kind) {
    case PK_ADD:
    case PK_ADD_BAD:
    case PK_RESET:
        snprintf(p->arg, sizeof(p->arg), "c%d", (int)(rng_next(s) % MODEL_NAMES));
        p->n = (int64_t)(rng_next(s) % 40) - 9;
        if (p->kind == PK_ADD)
            snprintf(p->payload, sizeof(p->payload), "{\"name\":\"%s\",\"n\":%" PRId64 "}", p->arg,
                     p->n);
        else if (p->kind == PK_ADD_BAD)
            snprintf(p->payload, sizeof(p->payload), "{\"name\":\"%s\",\"n\":\"%" PRId64 "\"}",
                     p->arg, p->n);
        else
            snprintf(p->payload, sizeof(p->payload), "{\"name\":\"%s\"}", p->arg);
        break;
    case PK_PUT: {
        static const char alphabet[] = "abcxyz019 -!\"\\";
        size_t len = rng_next(s) % 24;
        snprintf(p->arg, sizeof(p->arg), "n%d", (int)(rng_next(s) % MODEL_IDS));
        for (size_t i = 0; i < len; i++)
            p->text[i] = alphabet[rng_next(s) % (sizeof(alphabet) - 1)];
        p->text[len] = '\0';
        hub_jbuf_open(&b, '{');
        hub_jbuf_key(&b, "id");
        hub_jbuf_str(&b, p->arg);
        hub_jbuf_key(&b, "text");
        hub_jbuf_str(&b, p->text);
        hub_jbuf_close(&b, '}');
        snprintf(p->payload, sizeof(p->payload), "%s", b.p);
        break;
    }
    case PK_DEL:
        snprintf(p->arg, sizeof(p->arg), "n%d", (int)(rng_next(s) % MODEL_IDS));
        snprintf(p->payload, sizeof(p->payload), "{\"id\":\"%s\"}", p->arg);
        break;
    case PK_FAIL: snprintf(p->payload, sizeof(p->payload), "{}"); break;
    default: snprintf(p->payload, sizeof(p->payload), "{\"x\":1}"); break;
    }
    hub_jbuf_free(&b);
}

static hub_intent_t *prop_intent(struct prop *P, struct pint *p, int tag)
{
    static const char *const names[] = {
        [PK_ADD] = "counter.add",    [PK_ADD_BAD] = "counter.add", [PK_RESET] = "counter.reset",
        [PK_FAIL] = "counter.fail",  [PK_PUT] = "notes.put",       [PK_DEL] = "notes.del",
        [PK_UNKNOWN] = "nope.intent"};
    char rid[16];
    json_error_t jerr;
    json_t *payload = json_loads(p->payload, 0, &jerr);

    if (payload == NULL)
        fail_msg("model payload %s: %s", p->payload, jerr.text);
    snprintf(rid, sizeof(rid), "q%d", p->ridk);
    return mk(P->t, &p->tg, tag, rid, p->src, names[p->kind], payload);
}

struct dbrow { /* the model database the committed rows build */
    char key[96];
    int64_t i;
    char s[FAKE_TEXT_MAX + 1];
};

static struct dbrow *db_find(struct dbrow *db, size_t *n, const char *key, int create)
{
    for (size_t i = 0; i < *n; i++)
        if (strcmp(db[i].key, key) == 0)
            return &db[i];
    if (!create)
        return NULL;
    struct dbrow *r = &db[(*n)++];
    memset(r, 0, sizeof(*r));
    snprintf(r->key, sizeof(r->key), "%s", key);
    return r;
}

/* One stream: its case, its engine and the model. Owned by the fixture, so a
 * failing stream still frees everything (and its held intents are answered
 * into memory that is still alive). */
struct pcase {
    int use_fake;
    size_t batch_max;
    int fail_pct;
};

struct pstate {
    const struct pcase *c;
    int stream;
    struct tctx *t;
    struct prop P;
    struct answer **by_tag; /* the checks' own memory */
    struct dbrow *db;
    int *logged;
};

static const struct pcase pcases[] = {
    {0, 0, 0}, {1, 0, 0},  {1, 0, 20}, {1, 1, 10}, {1, 7, 15}, {1, 64, 5},
    {0, 3, 0}, {1, 2, 30}, {1, 0, 50}, {1, 5, 0},  {1, 3, 25}, {1, 0, 10},
};
#define NPCASES (sizeof(pcases) / sizeof(pcases[0]))

static int prop_setup(void **state)
{
    const struct pcase *c = *state;
    struct pstate *ps = hub_calloc(1, sizeof(*ps));
    void *st = NULL;

    ps->c = c;
    ps->stream = (int)(c - pcases);
    setup(&st);
    ps->t = st;
    *state = ps;
    return 0;
}

static int prop_teardown(void **state)
{
    struct pstate *ps = *state;
    void *vt = ps->t;

    teardown(&vt); /* answers what the engine still holds: before the tags go */
    hub_free(ps->P.in);
    hub_free(ps->P.dd);
    hub_free(ps->P.by_seq);
    hub_free(ps->P.seq_state);
    hub_free(ps->by_tag);
    hub_free(ps->db);
    hub_free(ps->logged);
    hub_free(ps);
    return 0;
}

static void test_property_stream(void **state)
{
    enum { N = 2000 };
    struct pstate *ps = *state;
    struct tctx *t = ps->t;
    struct prop *Pp = &ps->P;
    hub_engine_cfg_t cfg = cfg_default();
    int stream = ps->stream, use_fake = ps->c->use_fake;
    size_t batch_max = ps->c->batch_max;

    t->trace_on = 0;
    Pp->t = t;
    Pp->rng = 0x853c49e6748fea9bULL + (uint64_t)stream * 0x9e3779b97f4a7c15ULL;
    Pp->fail_pct = use_fake ? ps->c->fail_pct : 0;
    Pp->in = hub_calloc(N + 1, sizeof(*Pp->in));
    Pp->dd = hub_calloc(N + 1, sizeof(*Pp->dd));
    Pp->by_seq = hub_calloc(N + 2, sizeof(*Pp->by_seq));
    Pp->seq_state = hub_calloc(N + 2, sizeof(*Pp->seq_state));
    cfg.queue_size = N + 10;
    cfg.dedupe_capacity = 2 * N;
    cfg.batch_max = batch_max;
    engine_start(t, &cfg, use_fake, NULL);

    while (Pp->nin < N) {
        int chunk = 1 + (int)(rng_next(&Pp->rng) % 48);
        for (int k = 0; k < chunk && Pp->nin < N; k++) {
            struct pint *p = &Pp->in[Pp->nin];
            prop_gen(Pp, p, 0);
            hub_intent_t *in = prop_intent(Pp, p, (int)Pp->nin);
            Pp->nin++;
            submit_ok(t, in);
            if (rng_next(&Pp->rng) % 20 == 0) {
                hub_intent_detach(in);
                p->detached = 1;
            } else {
                Pp->nanswer++;
            }
        }
        int steps = (int)(rng_next(&Pp->rng) % 24);
        for (int k = 0; k < steps; k++)
            prop_step(Pp);
    }
    /* A last intent, with the store healthy again: whatever is still
     * carried from failed commits is written with it. */
    prop_settle(Pp);
    Pp->fail_pct = 0;
    prop_gen(Pp, &Pp->in[Pp->nin], 1);
    submit_ok(t, prop_intent(Pp, &Pp->in[Pp->nin], (int)Pp->nin));
    Pp->nin++;
    Pp->nanswer++;
    prop_settle(Pp);
    assert_ctx_ok(t);
    if (!use_fake)
        for (uint64_t s = 1; s <= Pp->seq; s++)
            Pp->seq_state[s] = 1; /* no store: every batch completes at once */

    /* Every answer as the model says. */
    size_t ndup = 0, nrej = 0, ncommitted = 0, nfailed = 0;
    struct answer **by_tag = ps->by_tag = hub_calloc(Pp->nin, sizeof(*by_tag));
    if (t->nans != Pp->nanswer)
        fail_msg("stream %d: %zu answers, want %zu", stream, t->nans, Pp->nanswer);
    for (size_t k = 0; k < t->nans; k++)
        by_tag[t->ans[k].tag] = &t->ans[k];
    for (size_t i = 0; i < Pp->nin; i++) {
        const struct pint *p = &Pp->in[i];
        int want;
        uint64_t want_seq = p->seq;
        switch (p->verdict) {
        case V_APPLIED:
            want = Pp->seq_state[p->seq] == 1 ? HUB_INTENT_APPLIED : HUB_ESTORE;
            if (Pp->seq_state[p->seq] == 1)
                ncommitted++;
            else
                nfailed++;
            break;
        case V_DUP:
            want = Pp->seq_state[p->seq] == 1 ? HUB_INTENT_DUPLICATE : HUB_ESTORE;
            ndup += want == HUB_INTENT_DUPLICATE;
            break;
        case V_REJECTED:
            want = HUB_INTENT_REJECTED;
            want_seq = 0;
            nrej++;
            break;
        default:
            fail_msg("stream %d: intent %zu was never taken from the queue", stream, i);
            return;
        }
        const struct answer *a = by_tag[i];
        if (p->detached) {
            if (a != NULL || p->tg.answers != 0)
                fail_msg("stream %d: detached intent %zu answered", stream, i);
            continue;
        }
        if (a == NULL)
            fail_msg("stream %d: intent %zu (%s) not answered", stream, i, p->payload);
        if (a->outcome != want || a->seq != want_seq)
            fail_msg("stream %d: intent %zu (q%d %s; the model: %s seq %" PRIu64
                     ", which %s) answered %d seq %" PRIu64 ", want %d",
                     stream, i, p->ridk, p->payload,
                     (const char *[]){"?", "applied", "duplicate of", "rejected"}[p->verdict],
                     p->seq, P_SEQ_FATE(Pp, p), a->outcome, a->seq, want);
        if (want == HUB_INTENT_REJECTED && a->code != p->code)
            fail_msg("stream %d: intent %zu rejected with code %d, want %d", stream, i, a->code,
                     p->code);
    }

    /* Applied seqs are 1..N, each announced once, in order, by its intent. */
    if (t->nanns != Pp->seq)
        fail_msg("stream %d: %zu announcements, %" PRIu64 " applied", stream, t->nanns, Pp->seq);
    for (size_t k = 0; k < t->nanns; k++) {
        char rid[16];
        const struct pint *p = &Pp->in[Pp->by_seq[k + 1]];
        snprintf(rid, sizeof(rid), "q%d", p->ridk);
        if (t->anns[k].seq != k + 1 || strcmp(t->anns[k].req_id, rid) != 0)
            fail_msg("stream %d: announcement %zu is seq %" PRIu64 " %s, want %zu %s", stream, k,
                     t->anns[k].seq, t->anns[k].req_id, k + 1, rid);
    }
    assert_true(hub_engine_seq(t->e) == Pp->seq);

    if (use_fake) {
        /* The journal the store saw is the applied stream, in order. */
        size_t j = 0;
        for (size_t bi = 0; bi < t->nbatches; bi++) {
            const struct cbatch *cb = &t->batches[bi];
            if (batch_max > 0 && cb->nrecs > batch_max)
                fail_msg("stream %d: a batch of %zu records, batch_max %zu", stream, cb->nrecs,
                         batch_max);
            for (size_t k = 0; k < cb->nrecs; k++, j++) {
                const struct crec *r = &cb->recs[k];
                char rid[16];
                if (j >= Pp->seq)
                    fail_msg("stream %d: the journal has more records than applied", stream);
                const struct pint *p = &Pp->in[Pp->by_seq[j + 1]];
                snprintf(rid, sizeof(rid), "q%d", p->ridk);
                static const char *const names[] = {[PK_ADD] = "counter.add",
                                                    [PK_RESET] = "counter.reset",
                                                    [PK_PUT] = "notes.put",
                                                    [PK_DEL] = "notes.del"};
                if (r->seq != j + 1 || strcmp(r->req_id, rid) != 0 || strcmp(r->src, p->src) != 0 ||
                    strcmp(r->name, names[p->kind]) != 0 || strcmp(r->payload, p->payload) != 0)
                    fail_msg("stream %d: journal record %zu is %" PRIu64 " %s %s %s %s; want "
                             "%zu %s %s %s %s",
                             stream, j, r->seq, r->req_id, r->src, r->name, r->payload, j + 1, rid,
                             p->src, names[p->kind], p->payload);
                if (strcmp(r->patches, t->anns[j].patches) != 0)
                    fail_msg("stream %d: seq %zu journal patches %s, announced %s", stream, j + 1,
                             r->patches, t->anns[j].patches);
            }
        }
        if (j != Pp->seq)
            fail_msg("stream %d: the journal has %zu records, %" PRIu64 " applied", stream, j,
                     Pp->seq);
        assert_int_equal(t->fake.recs_committed, ncommitted);
        if (batch_max != 1 && t->fake.submitted >= Pp->seq)
            fail_msg("stream %d: %zu batches for %" PRIu64 " intents: no group commit", stream,
                     t->fake.submitted, Pp->seq);

        /* Replay the committed rows as a database. */
        struct dbrow *db = ps->db = hub_calloc(MODEL_NAMES + MODEL_IDS + 1, sizeof(*db));
        size_t ndb = 0;
        int *logged = ps->logged = hub_calloc(Pp->seq + 2, sizeof(*logged));
        for (size_t bi = 0; bi < t->nbatches; bi++) {
            const struct cbatch *cb = &t->batches[bi];
            if (cb->rc != 0)
                continue;
            for (size_t k = 0; k < cb->nrows; k++) {
                const struct crow *row = &cb->rows[k];
                char key[96];
                if (row->stmt == &fake_st_counter_log) {
                    if (row->ival[0] < 1 || (uint64_t)row->ival[0] > Pp->seq)
                        fail_msg("stream %d: log row %s", stream, row->text);
                    logged[row->ival[0]]++;
                    continue;
                }
                snprintf(key, sizeof(key), "%s%s",
                         row->stmt == &fake_st_counter_put || row->stmt == &fake_st_counter_del
                             ? "c:"
                             : "n:",
                         row->sval[0]);
                if (row->stmt == &fake_st_counter_put) {
                    db_find(db, &ndb, key, 1)->i = row->ival[1];
                } else if (row->stmt == &fake_st_note_put) {
                    struct dbrow *d = db_find(db, &ndb, key, 1);
                    snprintf(d->s, sizeof(d->s), "%s", row->sval[1]);
                } else {
                    struct dbrow *d = db_find(db, &ndb, key, 0);
                    if (d != NULL)
                        *d = db[--ndb]; /* deleted */
                }
            }
        }
        for (int k = 0; k < MODEL_NAMES; k++) {
            char key[24];
            snprintf(key, sizeof(key), "c:c%d", k);
            struct dbrow *d = db_find(db, &ndb, key, 0);
            if ((d != NULL) != (Pp->live[k] != 0) || (d != NULL && d->i != Pp->total[k]))
                fail_msg("stream %d: database counter c%d is %s%" PRId64 ", the state %s%" PRId64,
                         stream, k, d ? "" : "absent ", d ? d->i : 0, Pp->live[k] ? "" : "absent ",
                         Pp->total[k]);
        }
        for (int k = 0; k < MODEL_IDS; k++) {
            char key[24];
            snprintf(key, sizeof(key), "n:n%d", k);
            struct dbrow *d = db_find(db, &ndb, key, 0);
            if ((d != NULL) != (Pp->note_live[k] != 0) ||
                (d != NULL && strcmp(d->s, Pp->note[k]) != 0))
                fail_msg("stream %d: database note n%d differs from the state", stream, k);
        }
        for (uint64_t s = 1; s <= Pp->seq; s++) {
            int want = Pp->in[Pp->by_seq[s]].kind == PK_ADD;
            if (logged[s] != want)
                fail_msg("stream %d: seq %" PRIu64 "'s log row committed %d times, want %d", stream,
                         s, logged[s], want);
        }
    }

    /* The model's state is the domains', and the published tree shows it. */
    for (int k = 0; k < MODEL_NAMES; k++) {
        char nm[8];
        snprintf(nm, sizeof(nm), "c%d", k);
        fake_item_t *it = fake_counter_find(t->ctr, nm, 0);
        int live = it != NULL && it->live;
        if (live != Pp->live[k] || (live && it->total != Pp->total[k]))
            fail_msg("stream %d: counter %s differs from the model", stream, nm);
    }
    for (int k = 0; k < MODEL_IDS; k++) {
        char id[8];
        snprintf(id, sizeof(id), "n%d", k);
        fake_note_t *n = fake_notes_find(t->notes, id, 0);
        int live = n != NULL && n->live;
        if (live != Pp->note_live[k] || (live && strcmp(n->text, Pp->note[k]) != 0))
            fail_msg("stream %d: note %s differs from the model", stream, id);
    }
    assert_published_is_domain_state(t);
    struct retained r;
    memset(&r, 0, sizeof(r));
    hub_engine_retained_foreach(t->e, collect_retained, &r);
    size_t nlive = 0, nnotes = 0;
    for (int k = 0; k < MODEL_NAMES; k++) {
        char topic[32], want[64];
        snprintf(topic, sizeof(topic), "test/counter/c%d", k);
        snprintf(want, sizeof(want), "{\"name\":\"c%d\",\"total\":%" PRId64 "}", k, Pp->total[k]);
        const char *got = retained_of(&r, topic);
        if (Pp->live[k] ? got == NULL || strcmp(got, want) != 0 : got != NULL)
            fail_msg("stream %d: retained %s is %s, want %s", stream, topic, got ? got : "none",
                     Pp->live[k] ? want : "none");
        nlive += Pp->live[k] != 0;
    }
    assert_int_equal(r.n, nlive);
    for (int k = 0; k < MODEL_IDS; k++)
        nnotes += Pp->note_live[k] != 0;
    char count[16];
    snprintf(count, sizeof(count), "%zu", nnotes);
    assert_view(t, "notes.count", count);

    assert_metric(t, "dmx_engine_processed_total", (double)ncommitted);
    assert_metric(t, "dmx_engine_deduped_total", (double)ndup);
    assert_metric(t, "dmx_engine_rejected_total", (double)nrej);
    assert_metric(t, "dmx_engine_store_failed_total", (double)nfailed);
    assert_metric(t, "dmx_engine_queue_depth", 0);
    assert_int_equal(t->ctr->applied + t->notes->applied, Pp->seq);
    assert_ctx_ok(t);
}

/* ---- sub-rooms and tracked MQTT messages ------------------------------------------------------
 */

/* "tree" (root "tree"; sub-rooms "leaves" = tree.leaves and "twigs" =
 * tree.twigs):
 *   tree.set {set:[[path, value], …]}  -> each path = value, in order.
 *   tree.track {n, more?}              -> tree.t = n; its announce publishes
 *                                         one tracked MQTT message (token n),
 *                                         and more-1 further tracked ones
 *                                         (tokens n+1…) plus an untracked one.
 * Its sent hook records each fate with where it was called from. */
typedef struct tree_dom {
    struct tctx *t;
    int in_announce;
    int nsent;
    struct {
        uint64_t token;
        int ok;
        char why[128];
        int in_announce; /* called from inside the domain's announce: wrong */
    } sent[16];
    /* what a subscriber with tracks_sent saw: the tracked messages */
    size_t ntracked;
    hub_outmsg_t tracked[16];
    char tracked_topic[16][64];
    size_t nuntracked;
} tree_dom_t;

static void tree_sent(void *ctx, uint64_t token, int ok, const char *why)
{
    tree_dom_t *d = ctx;
    if (d->nsent < 16) {
        d->sent[d->nsent].token = token;
        d->sent[d->nsent].ok = ok;
        snprintf(d->sent[d->nsent].why, sizeof(d->sent[0].why), "%s", why ? why : "");
        d->sent[d->nsent].in_announce = d->in_announce;
    }
    d->nsent++;
    trace(d->t, "S%" PRIu64 "%c", token, ok ? '+' : '-');
}

static int tree_set(void *ctx, hub_apply_t *ap, const json_t *p)
{
    const json_t *set = json_object_get(p, "set"), *pair;
    size_t i;
    (void)ctx;

    if (!json_is_array(set))
        return hub_apply_fail(ap, HUB_ERR_INVALID, "set", "set: [[path, value], …]");
    json_array_foreach(set, i, pair)
    {
        const char *path = json_string_value(json_array_get(pair, 0));
        char *v = json_dumps(json_array_get(pair, 1), JSON_COMPACT | JSON_ENCODE_ANY);
        if (path == NULL || v == NULL) {
            free(v);
            return hub_apply_fail(ap, HUB_ERR_INVALID, "set", "set: [[path, value], …]");
        }
        hub_apply_change(ap, path, v, strlen(v), NULL, 0);
        free(v);
    }
    return 0;
}

static int tree_track(void *ctx, hub_apply_t *ap, const json_t *p)
{
    hub_jbuf_t *b = hub_apply_scratch(ap);
    (void)ctx;
    hub_jbuf_int(b, json_integer_value(json_object_get(p, "n")));
    hub_apply_change(ap, "tree.t", b->p, b->len, NULL, 0);
    return 0;
}

static void tree_announce(void *ctx, const hub_announce_t *ann, const hub_change_t *mine,
                          size_t nmine, hub_outbox_t *out)
{
    tree_dom_t *d = ctx;
    (void)mine;
    (void)nmine;
    d->in_announce = 1;
    if (strcmp(ann->intent->name, "tree.track") == 0) {
        json_int_t n = json_integer_value(json_object_get(ann->intent->payload, "n"));
        json_int_t more = json_integer_value(json_object_get(ann->intent->payload, "more"));
        hub_outbox_mqtt_tracked(out, "test/tree/t", "tracked", 7, 0, tree_sent, d, (uint64_t)n);
        for (json_int_t k = 1; k < more; k++)
            hub_outbox_mqtt_tracked(out, "test/tree/more", "m", 1, 1, tree_sent, d,
                                    (uint64_t)(n + k));
        hub_outbox_mqtt(out, "test/tree/plain", "p", 1, 1, 0, 0);
    }
    d->in_announce = 0;
}

static const hub_intent_def_t tree_intents[] = {
    {"tree.set", tree_set, NULL}, {"tree.track", tree_track, NULL}, {NULL, NULL, NULL}};
static const char *const tree_roots[] = {"tree", NULL};
static const char *const tree_sub_rooms[] = {"leaves", "tree.leaves", "twigs", "tree.twigs", NULL};
static const hub_domain_def_t tree_def = {
    .name = "tree",
    .roots = tree_roots,
    .intents = tree_intents,
    .announce = tree_announce,
    .sub_rooms = tree_sub_rooms,
};

/* on_state for engines with sub-rooms: on_state's room check reads the
 * first segment, which a sub-room's changes do not follow. */
static void sub_on_state(void *ud, const hub_announce_t *ann)
{
    struct tctx *t = ud;
    if (ann->seq != t->last_state_seq + 1)
        ctx_error(t, "on_state saw seq %" PRIu64 " after %" PRIu64, ann->seq, t->last_state_seq);
    t->last_state_seq = ann->seq;
    GROW(t->anns, t->nanns, t->capanns);
    struct ann_rec *r = &t->anns[t->nanns++];
    memset(r, 0, sizeof(*r));
    r->seq = ann->seq;
    snprintf(r->name, sizeof(r->name), "%s", ann->intent->name);
    r->patches = hub_strndup(ann->patches ? ann->patches : "", ann->patches_len);
    r->rooms = ann->rooms;
    r->nchanges = ann->nchanges;
    r->nmsgs = ann->nmsgs;
    trace(t, "s%" PRIu64, ann->seq);
}

/* A subscriber that reports the fate of tracked messages (as the MQTT
 * adapter does): it keeps them. */
static void tracker_fanout(void *ud, const hub_announce_t *ann)
{
    tree_dom_t *d = ud;
    for (size_t i = 0; i < ann->nmsgs; i++) {
        const hub_outmsg_t *m = &ann->msgs[i];
        if (m->kind != HUB_OUT_MQTT)
            continue;
        if (m->sent == NULL) {
            d->nuntracked++;
            continue;
        }
        if (d->ntracked < 16) {
            d->tracked[d->ntracked] = *m;
            snprintf(d->tracked_topic[d->ntracked], sizeof(d->tracked_topic[0]), "%s", m->name);
            d->tracked[d->ntracked].name = NULL; /* the outbox's memory is reused */
            d->tracked[d->ntracked].text = NULL;
        }
        d->ntracked++;
    }
}

/* counter and notes, then tree (ctx d); subscribed with sub_on_state. */
static void engine_start_tree(struct tctx *t, tree_dom_t *d, int use_fake)
{
    hub_engine_cfg_t cfg = cfg_default();
    hub_persist_ops_t ops = fake_persist_ops(&t->fake);
    hub_subscriber_t s = {.on_state = sub_on_state,
                          .on_fanout = on_fanout,
                          .on_event = on_event,
                          .on_flush = on_flush,
                          .ud = t};

    d->t = t;
    engine_new(t, &cfg);
    engine_register(t);
    assert_int_equal(hub_engine_register(t->e, &tree_def, d), 0);
    t->use_fake = use_fake;
    hub_engine_subscribe(t->e, &s);
    assert_int_equal(hub_engine_start(t->e, NULL, use_fake ? &ops : NULL), 0);
    t->last_state_seq = t->last_fanout_seq = hub_engine_seq(t->e);
}

static hub_intent_t *mk_set(struct tctx *t, struct tag *tg, int tag, const char *rid,
                            const char *set_json)
{
    json_t *set = json_loads(set_json, 0, NULL);
    assert_non_null(set);
    return mk(t, tg, tag, rid, "api", "tree.set", json_pack("{s:o}", "set", set));
}

/* A change under "tree.leaves" goes to room leaves (not tree): its bit in
 * the announcement's rooms and its name in the journal's rooms text; a
 * path that only starts with the prefix's text stays in tree. */
static void test_sub_room_changes_go_to_their_room(void **state)
{
    struct tctx *t = *state;
    struct tag *tg = t->tg;
    tree_dom_t *d = hub_calloc(1, sizeof(*d));

    engine_start_tree(t, d, 1);
    t->auto_complete = 1;
    /* rooms: system frames counter tally counter.live notes tree leaves twigs */
    assert_int_equal(hub_engine_nrooms(t->e), 9);
    assert_int_equal(room(t, "tree"), 6);
    assert_int_equal(room(t, "leaves"), 7);
    assert_int_equal(room(t, "twigs"), 8);
    assert_string_equal(hub_engine_room_name(t->e, 7), "leaves");
    uint64_t tree = 1ull << 6, leaves = 1ull << 7, twigs = 1ull << 8;
    /* sub-rooms are state rooms: snapshots can ask for them */
    assert_true((hub_engine_state_rooms(t->e) & (tree | leaves | twigs)) ==
                (tree | leaves | twigs));

    static const struct {
        const char *set;
        uint64_t rooms;
        const char *text;
    } cases[] = {
        {"[[\"tree.x\",1]]", 1ull << 6, "tree"},
        {"[[\"tree.leaves.a\",{\"v\":1}]]", 1ull << 7, "leaves"},
        {"[[\"tree.twigs.t\",2]]", 1ull << 8, "twigs"},
        {"[[\"tree.leavesx.a\",3],[\"tree.leave\",4]]", 1ull << 6, "tree"},
        {"[[\"tree.leaves.b\",5],[\"tree.x\",6],[\"tree.twigs.u\",7],[\"tree.leaves.c\",8]]",
         (1ull << 6) | (1ull << 7) | (1ull << 8), "leaves,tree,twigs"},
        {"[[\"tree.twigs.t\",null],[\"tree.leaves.deep.er\",9]]", (1ull << 7) | (1ull << 8),
         "twigs,leaves"},
    };
    size_t n = sizeof(cases) / sizeof(cases[0]);
    for (size_t i = 0; i < n; i++) {
        char rid[16];
        snprintf(rid, sizeof(rid), "s%zu", i);
        submit_ok(t, mk_set(t, &tg[i], (int)i, rid, cases[i].set));
        pump_until(t, i + 1);
        assert_int_equal(answer_of(t, (int)i)->outcome, HUB_INTENT_APPLIED);
        if (t->anns[i].rooms != cases[i].rooms)
            fail_msg("%s: rooms 0x%" PRIx64 ", want 0x%" PRIx64, cases[i].set, t->anns[i].rooms,
                     cases[i].rooms);
        assert_string_equal(t->batches[i].recs[0].rooms, cases[i].text);
    }
    /* other domains' rooms as before */
    submit_ok(t, mk_add(t, &tg[n], (int)n, "c0", "api", "a", 1));
    pump_until(t, n + 1);
    assert_true(t->anns[n].rooms == ((1ull << room(t, "counter")) | (1ull << room(t, "tally"))));
    assert_string_equal(t->batches[n].recs[0].rooms, "counter,tally");
    (void)tree;
    assert_ctx_ok(t);
    engine_stop(t);
    hub_free(d);
}

/* A snapshot of the root's room leaves its sub-rooms out unless they are
 * asked for too; a sub-room alone is {"tree":{"leaves":…}}; root and
 * sub-room together render the root once, whole. */
static void test_sub_room_render_state(void **state)
{
    struct tctx *t = *state;
    struct tag *tg = t->tg;
    tree_dom_t *d = hub_calloc(1, sizeof(*d));

    engine_start_tree(t, d, 0);
    uint64_t tree = 1ull << room(t, "tree"), leaves = 1ull << room(t, "leaves");
    uint64_t twigs = 1ull << room(t, "twigs"), notes = 1ull << room(t, "notes");

    /* nothing there yet */
    assert_render(t, tree, "{\"seq\":0,\"state\":{\"tree\":{}}}");
    assert_render(t, leaves, "{\"seq\":0,\"state\":{\"tree\":{\"leaves\":{}}}}");
    assert_render(t, tree | leaves, "{\"seq\":0,\"state\":{\"tree\":{}}}");

    submit_ok(t,
              mk_set(t, &tg[0], 0, "r0",
                     "[[\"tree.x\",1],[\"tree.leaves.a\",2],[\"tree.twigs.t\",3],[\"tree.y\",4]]"));
    submit_ok(t, mk_put(t, &tg[1], 1, "r1", "api", "n1", "hi"));
    pump_until(t, 2);
    assert_render(t, tree, "{\"seq\":2,\"state\":{\"tree\":{\"x\":1,\"y\":4}}}");
    assert_render(t, leaves, "{\"seq\":2,\"state\":{\"tree\":{\"leaves\":{\"a\":2}}}}");
    assert_render(t, twigs, "{\"seq\":2,\"state\":{\"tree\":{\"twigs\":{\"t\":3}}}}");
    assert_render(t, tree | leaves,
                  "{\"seq\":2,\"state\":{\"tree\":{\"x\":1,\"leaves\":{\"a\":2},\"y\":4}}}");
    assert_render(t, tree | twigs,
                  "{\"seq\":2,\"state\":{\"tree\":{\"x\":1,\"twigs\":{\"t\":3},\"y\":4}}}");
    assert_render(
        t, tree | leaves | twigs,
        "{\"seq\":2,\"state\":{\"tree\":{\"x\":1,\"leaves\":{\"a\":2},\"twigs\":{\"t\":3},"
        "\"y\":4}}}");
    /* with other rooms: in room order */
    assert_render(t, notes | leaves,
                  "{\"seq\":2,\"state\":{\"notes\":{\"n1\":{\"text\":\"hi\"}},"
                  "\"tree\":{\"leaves\":{\"a\":2}}}}");
    assert_render(
        t, ALL_ROOMS,
        "{\"seq\":2,\"state\":{\"counter\":{},\"tally\":{\"sum\":0},\"notes\":{\"n1\":{\"text\":"
        "\"hi\"}},\"tree\":{\"x\":1,\"leaves\":{\"a\":2},\"twigs\":{\"t\":3},\"y\":4}}}");
    /* the engine's own rooms select nothing */
    assert_render(t, 1ull << HUB_ROOM_SYSTEM, "{\"seq\":2,\"state\":{}}");
    assert_ctx_ok(t);
    engine_stop(t);
    hub_free(d);
}

/* Two sub-rooms of one root asked for without the root: the root appears
 * once, with both (a key twice in one object is not what a client can
 * read: JSON.parse keeps the last). */
static void test_two_sub_rooms_alone_render_one_root(void **state)
{
    struct tctx *t = *state;
    struct tag *tg = t->tg;
    tree_dom_t *d = hub_calloc(1, sizeof(*d));

    engine_start_tree(t, d, 0);
    uint64_t leaves = 1ull << room(t, "leaves"), twigs = 1ull << room(t, "twigs");
    submit_ok(t, mk_set(t, &tg[0], 0, "r0",
                        "[[\"tree.x\",1],[\"tree.leaves.a\",2],[\"tree.twigs.t\",3]]"));
    pump_until(t, 1);
    char *got = render(t, leaves | twigs);
    engine_stop(t);
    hub_free(d);
    int ok = strcmp(got, "{\"seq\":1,\"state\":{\"tree\":{\"leaves\":{\"a\":2},\"twigs\":{\"t\":3}}"
                         "}}") == 0;
    if (!ok) {
        char msg[512];
        snprintf(msg, sizeof(msg), "render_state(leaves|twigs) is %s", got);
        hub_free(got);
        fail_msg("%s", msg);
    }
    hub_free(got);
}

/* Refused sub-rooms: a prefix that is not "root.child" of one of the
 * domain's own roots, or a room name already taken. A refused registration
 * leaves nothing behind (rooms, state rooms, intents), and the good
 * definition registers afterwards. */
static void test_sub_room_registration_refused(void **state)
{
    struct tctx *t = *state;
    hub_engine_cfg_t cfg = cfg_default();
    static const char *const bad[][5] = {
        {"leaves", "tree", NULL},                                /* no dot */
        {"leaves", "tree.a.b", NULL},                            /* two dots */
        {"leaves", "tree.", NULL},                               /* no child */
        {"leaves", ".leaves", NULL},                             /* no root */
        {"leaves", "other.leaves", NULL},                        /* not a root */
        {"leaves", "counter.items", NULL},                       /* another domain's root */
        {"counter", "tree.c", NULL},                             /* an existing root's room */
        {"counter.live", "tree.c", NULL},                        /* a frame room */
        {"system", "tree.c", NULL},                              /* the engine's */
        {"tree", "tree.c", NULL},                                /* its own root */
        {"leaves", "tree.leaves", "leaves", "tree.twigs", NULL}, /* twice */
    };
    hub_domain_def_t def;

    engine_new(t, &cfg);
    engine_register(t);
    int nrooms0 = hub_engine_nrooms(t->e);
    uint64_t state0 = hub_engine_state_rooms(t->e);
    for (size_t k = 0; k < sizeof(bad) / sizeof(bad[0]); k++) {
        def = tree_def;
        def.sub_rooms = bad[k];
        if (hub_engine_register(t->e, &def, NULL) != HUB_EINVAL)
            fail_msg("sub-room %s = %s accepted", bad[k][0], bad[k][1]);
        assert_int_equal(hub_engine_ndomains(t->e), 2);
        assert_int_equal(hub_engine_nrooms(t->e), nrooms0);
        assert_true(hub_engine_state_rooms(t->e) == state0);
        assert_int_equal(room(t, "tree"), -1);
        assert_int_equal(room(t, "leaves"), -1);
        hub_intent_t *in = hub_intent_new("p", "api", "tree.set");
        hub_error_t err;
        memset(&err, 0, sizeof(err));
        assert_int_equal(hub_engine_prepare(t->e, in, &err), HUB_EINVAL);
        assert_int_equal(err.code, HUB_ERR_UNKNOWN_INTENT);
        hub_intent_free(in);
    }
    tree_dom_t d = {.t = t};
    assert_int_equal(hub_engine_register(t->e, &tree_def, &d), 0);
    assert_int_equal(hub_engine_nrooms(t->e), nrooms0 + 3);
    assert_int_equal(room(t, "leaves"), nrooms0 + 1);
    assert_int_equal(room(t, "twigs"), nrooms0 + 2);
    engine_go(t, 0, NULL);
    assert_ctx_ok(t);
}

/* A domain registered later whose root is named like an existing sub-room
 * must be refused, as a sub-room named like an existing room is: else both
 * share one room bit, its changes go to the sub-room and a snapshot of its
 * room renders the other domain's tree.leaves instead of its own state. */
static const char *const leaves_roots[] = {"leaves", NULL};
static const hub_intent_def_t leaves_intents[] = {{"leaves.x", apply_never, NULL},
                                                  {NULL, NULL, NULL}};
static const hub_domain_def_t leaves_def = {
    .name = "leaves", .roots = leaves_roots, .intents = leaves_intents};

static void test_root_named_like_a_sub_room_refused(void **state)
{
    struct tctx *t = *state;
    hub_engine_cfg_t cfg = cfg_default();
    tree_dom_t d = {.t = t};

    engine_new(t, &cfg);
    engine_register(t);
    assert_int_equal(hub_engine_register(t->e, &tree_def, &d), 0);
    int nrooms0 = hub_engine_nrooms(t->e);
    int rc = hub_engine_register(t->e, &leaves_def, NULL);
    size_t ndoms = hub_engine_ndomains(t->e);
    int nrooms = hub_engine_nrooms(t->e);
    engine_go(t, 0, NULL);
    if (rc != HUB_EINVAL)
        fail_msg("root \"leaves\" (an existing sub-room's name) registered: rc %d, %zu domains, "
                 "%d rooms (was %d)",
                 rc, ndoms, nrooms, nrooms0);
}

/* Tracked MQTT messages with no subscriber that reports their fate (MQTT
 * disabled): the engine fails each once, after the fan-out and outside the
 * domain's announce, with the reason; untracked messages are not touched. */
static void test_tracked_mqtt_failed_without_tracker(void **state)
{
    struct tctx *t = *state;
    hub_engine_cfg_t cfg = cfg_default();
    struct tag *tg = t->tg;
    tree_dom_t *d = hub_calloc(1, sizeof(*d));

    d->t = t;
    engine_new(t, &cfg);
    engine_register(t);
    assert_int_equal(hub_engine_register(t->e, &tree_def, d), 0);
    engine_go(t, 0, NULL);
    submit_ok(t, mk(t, &tg[0], 0, "r0", "api", "tree.track", json_pack("{s:i}", "n", 7)));
    pump_until(t, 1);
    assert_int_equal(answer_of(t, 0)->outcome, HUB_INTENT_APPLIED);
    assert_int_equal(d->nsent, 1);
    assert_true(d->sent[0].token == 7);
    assert_int_equal(d->sent[0].ok, 0);
    assert_string_equal(d->sent[0].why, "MQTT is disabled (DMX_MQTT_ENABLED=false)");
    assert_int_equal(d->sent[0].in_announce, 0);
    assert_string_equal(trace_text(t), "s1 A0 f1 S7- |");

    /* several in one announcement: each once, in order */
    trace_reset(t);
    submit_ok(
        t, mk(t, &tg[1], 1, "r1", "api", "tree.track", json_pack("{s:i,s:i}", "n", 10, "more", 3)));
    pump_until(t, 2);
    assert_int_equal(d->nsent, 4);
    assert_string_equal(trace_text(t), "s2 A1 f2 S10- S11- S12- |");
    for (int i = 1; i < 4; i++) {
        assert_int_equal(d->sent[i].ok, 0);
        assert_int_equal(d->sent[i].in_announce, 0);
    }
    /* an intent without tracked messages: nothing */
    submit_ok(t, mk_set(t, &tg[2], 2, "r2", "[[\"tree.z\",1]]"));
    pump_until(t, 3);
    assert_int_equal(d->nsent, 4);
    assert_ctx_ok(t);
    engine_stop(t);
    hub_free(d);
}

/* With a subscriber that has tracks_sent (the MQTT adapter), the engine
 * leaves tracked messages to it: it sees them with their hook, context and
 * token (QoS 1), and tells their fate itself, later. */
static void test_tracked_mqtt_left_to_tracker(void **state)
{
    struct tctx *t = *state;
    hub_engine_cfg_t cfg = cfg_default();
    struct tag *tg = t->tg;
    tree_dom_t *d = hub_calloc(1, sizeof(*d));

    d->t = t;
    engine_new(t, &cfg);
    engine_register(t);
    assert_int_equal(hub_engine_register(t->e, &tree_def, d), 0);
    hub_subscriber_t tracker = {.on_fanout = tracker_fanout, .ud = d, .tracks_sent = 1};
    hub_engine_subscribe(t->e, &tracker);
    engine_go(t, 0, NULL);
    submit_ok(
        t, mk(t, &tg[0], 0, "r0", "api", "tree.track", json_pack("{s:i,s:i}", "n", 5, "more", 2)));
    pump_until(t, 1);
    assert_int_equal(answer_of(t, 0)->outcome, HUB_INTENT_APPLIED);
    assert_int_equal(d->nsent, 0);
    assert_int_equal(d->ntracked, 2);
    assert_int_equal(d->nuntracked, 1);
    assert_string_equal(d->tracked_topic[0], "test/tree/t");
    assert_ptr_equal(d->tracked[0].sent, tree_sent);
    assert_ptr_equal(d->tracked[0].sent_ctx, d);
    assert_true(d->tracked[0].token == 5);
    assert_int_equal(d->tracked[0].qos, 1);
    assert_int_equal(d->tracked[0].retain, 0);
    assert_int_equal(d->tracked[0].len, 7);
    assert_string_equal(d->tracked_topic[1], "test/tree/more");
    assert_true(d->tracked[1].token == 6);
    assert_int_equal(d->tracked[1].qos, 1);
    assert_int_equal(d->tracked[1].retain, 1);
    /* spin: still nobody failed them */
    spin(t, 20);
    assert_int_equal(d->nsent, 0);
    /* the tracker tells the fate */
    d->tracked[0].sent(d->tracked[0].sent_ctx, d->tracked[0].token, 1, NULL);
    assert_int_equal(d->nsent, 1);
    assert_int_equal(d->sent[0].ok, 1);
    assert_ctx_ok(t);
    engine_stop(t);
    hub_free(d);
}

#define ETEST(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
    /* The engine logs every apply, and every failed commit; keep the output readable. */
    hub_log_set_level(HUB_LOG_OFF);
    const struct CMUnitTest tests[] = {
        ETEST(test_register_rooms),
        ETEST(test_register_refusals),
        ETEST(test_initial_state),
        ETEST(test_prepare),
        ETEST(test_apply_and_duplicate),
        ETEST(test_duplicate_in_same_drain),
        ETEST(test_drain_now),
        ETEST(test_answer_order_in_one_batch),
        ETEST(test_announcement_patches_rooms),
        ETEST(test_published_tree_follows_announce),
        ETEST(test_views_and_retained),
        ETEST(test_batch_records_and_rows),
        ETEST(test_group_commit),
        ETEST(test_batch_max_stops_draining),
        ETEST(test_on_flush_once_per_batch),
        ETEST(test_store_failure),
        ETEST(test_duplicate_of_failed_commit),
        ETEST(test_duplicate_of_failed_commit_after_retry),
        ETEST(test_failed_commit_carry_over),
        ETEST(test_carry_over_many_records),
        ETEST(test_close_store),
        ETEST(test_overload_drops_oldest_ui),
        ETEST(test_overload_refuses),
        ETEST(test_detach),
        ETEST(test_stop_intake),
        ETEST(test_free_answers_pending),
        ETEST(test_restore),
        ETEST(test_sub_room_changes_go_to_their_room),
        ETEST(test_sub_room_render_state),
        ETEST(test_two_sub_rooms_alone_render_one_root),
        ETEST(test_sub_room_registration_refused),
        ETEST(test_root_named_like_a_sub_room_refused),
        ETEST(test_tracked_mqtt_failed_without_tracker),
        ETEST(test_tracked_mqtt_left_to_tracker),
    };
    int failed = cmocka_run_group_tests(tests, NULL, NULL);

    /* Random intent streams across both domains, one test per stream. */
    struct CMUnitTest streams[NPCASES];
    char names[NPCASES][96];
    for (size_t i = 0; i < NPCASES; i++) {
        snprintf(names[i], sizeof(names[i]),
                 "test_property_stream_%zu (%s, batch_max %zu, %d%% failed commits)", i,
                 pcases[i].use_fake ? "held store" : "no store", pcases[i].batch_max,
                 pcases[i].use_fake ? pcases[i].fail_pct : 0);
        streams[i] = (struct CMUnitTest){names[i], test_property_stream, prop_setup, prop_teardown,
                                         (void *)&pcases[i]};
    }
    failed += cmocka_run_group_tests(streams, NULL, NULL);
    return failed;
}
