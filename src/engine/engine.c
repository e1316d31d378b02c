/* engine/engine.c - the single writer.
 *
 * Commands are applied in queue order on the loop thread, into the working
 * state. Each applied command joins the open batch; when no batch is in
 * flight the open one goes to the store (group commit). When the store says
 * a batch is durable, its commands are replayed in seq order onto the
 * published state: subscribers are told, and each command is answered. So
 * nothing is answered, or shown to anyone, before it is durable.
 *
 * Threading: loop thread only. The store completes batches through the inbox.
 */
#include "engine/engine.h"

#include <assert.h>
#include <string.h>

#include "core/clock.h"
#include "core/err.h"
#include "core/log.h"
#include "core/mem.h"
#include "engine/dedupe.h"
#include "engine/queue.h"

#define MAX_SUBSCRIBERS   8
#define DEFAULT_BATCH_MAX 4096
#define JSON_MAX          192

struct subscriber {
    hub_state_cb cb;
    void *ud;
};

struct hub_engine {
    uv_loop_t *loop;
    uv_idle_t idle; /* runs drain() while there is work */
    int idle_active;
    hub_engine_cfg_t cfg;
    hub_queue_t queue;
    hub_dedupe_t *dedupe;
    hub_state_t work; /* applied, maybe not yet durable */
    hub_state_t pub;  /* durable and announced */
    hub_view_t view;  /* of pub */
    char rgb_json[JSON_MAX];
    char ws_json[JSON_MAX];
    hub_persist_ops_t persist;
    int has_persist;
    hub_batch_t *open;                      /* filling */
    hub_batch_t *inflight;                  /* at the store, or NULL */
    hub_batch_t *spare;                     /* recycled */
    hub_cmd_t *dropped_head, *dropped_tail; /* to answer HUB_EDROPPED */
    struct subscriber subs[MAX_SUBSCRIBERS];
    int nsubs;
    void (*on_room)(void *ud);
    void *on_room_ud;
    int stopping;
    int store_failed;  /* the last commit failed */
    int store_closing; /* no more batches may be submitted */
    char store_err[160];
    hub_metric_t *m_processed, *m_deduped, *m_dropped, *m_refused, *m_failed;
    hub_metric_t *m_last_latency, *m_latency, *m_apply_cost;
};

static void drain(hub_engine_t *e);

static void update_view(hub_engine_t *e, const hub_cmd_t *cmd)
{
    hub_view_t *v = &e->view;
    v->state = &e->pub;
    hub_state_get_rgb(&e->pub, v->rgb);
    v->seq = e->pub.seq;
    v->ts_ms = e->pub.ts_ms;
    v->rgb_len = hub_state_render_rgb(&e->pub, e->rgb_json, sizeof(e->rgb_json));
    v->rgb_json = e->rgb_json;
    v->ws_len = hub_state_render_ws(&e->pub, e->ws_json, sizeof(e->ws_json));
    v->ws_json = e->ws_json;
    v->cmd = cmd;
}

static double queue_depth_fn(void *ud)
{
    return (double)((hub_engine_t *)ud)->queue.len;
}

static double seq_fn(void *ud)
{
    return (double)((hub_engine_t *)ud)->pub.seq;
}

static void register_metrics(hub_engine_t *e, hub_metrics_t *m)
{
    static const double lat[] = {0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005,
                                 0.01,    0.025,  0.05,    0.1,    0.25,  0.5,    1};
    static const double cost[] = {0.000001, 0.000002, 0.000005, 0.00001,
                                  0.00002,  0.00005,  0.0001,   0.001};
    e->m_processed = hub_metrics_counter(m, "dmx_engine_processed_total",
                                         "Commands applied (durable and announced)");
    e->m_deduped = hub_metrics_counter(m, "dmx_engine_deduped_total",
                                       "Commands ignored as duplicates of a recent cmdId");
    e->m_dropped = hub_metrics_counter(m, "dmx_engine_dropped_total",
                                       "Queued ui commands dropped by the overload policy");
    e->m_refused = hub_metrics_counter(m, "dmx_engine_refused_total",
                                       "Commands refused because the queue was full");
    e->m_failed = hub_metrics_counter(m, "dmx_engine_store_failed_total",
                                      "Applied commands answered with an error: not durable");
    hub_metrics_gauge_fn(m, "dmx_engine_queue_depth", "Commands waiting in the queue",
                         queue_depth_fn, e);
    hub_metrics_gauge_fn(m, "dmx_engine_seq", "Sequence number of the published state", seq_fn, e);
    e->m_last_latency = hub_metrics_gauge(m, "dmx_engine_last_latency_ms",
                                          "Receive-to-answer latency of the last command, ms");
    e->m_latency = hub_metrics_histogram(
        m, "dmx_engine_apply_latency_seconds",
        "Receive-to-answer latency of applied commands (queue, apply, durable commit)", lat,
        sizeof(lat) / sizeof(lat[0]));
    e->m_apply_cost = hub_metrics_histogram(m, "dmx_engine_apply_cpu_seconds",
                                            "Time to validate, dedupe and apply one command", cost,
                                            sizeof(cost) / sizeof(cost[0]));
}

static hub_batch_t *batch_get(hub_engine_t *e)
{
    hub_batch_t *b = e->spare;
    if (b != NULL) {
        e->spare = NULL;
    } else {
        b = hub_calloc(1, sizeof(*b));
        b->caprecs = 64;
        b->recs = hub_malloc(b->caprecs * sizeof(*b->recs));
    }
    b->nrecs = 0;
    b->ncmds = 0;
    b->cmds_head = b->cmds_tail = NULL;
    b->rc = 0;
    b->err[0] = '\0';
    return b;
}

static void batch_put(hub_engine_t *e, hub_batch_t *b)
{
    if (e->spare == NULL) {
        e->spare = b;
        return;
    }
    hub_free(b->recs);
    hub_free(b);
}

static void batch_add_cmd(hub_batch_t *b, hub_cmd_t *c)
{
    c->next = NULL;
    if (b->cmds_tail)
        b->cmds_tail->next = c;
    else
        b->cmds_head = c;
    b->cmds_tail = c;
    b->ncmds++;
}

static void answer(hub_engine_t *e, hub_cmd_t *c, int outcome)
{
    c->outcome = outcome;
    if (c->done != NULL)
        c->done(c, outcome, &e->view, c->ud);
    hub_cmd_free(c);
}

static void on_idle(uv_idle_t *h)
{
    drain(h->data);
}

static void kick(hub_engine_t *e)
{
    if (!e->idle_active) {
        uv_idle_start(&e->idle, on_idle);
        e->idle_active = 1;
    }
}

int hub_engine_new(hub_engine_t **out, uv_loop_t *loop, const hub_engine_cfg_t *cfg,
                   hub_metrics_t *metrics, const hub_persist_ops_t *persist,
                   const hub_restore_t *restore)
{
    hub_engine_t *e = hub_calloc(1, sizeof(*e));
    int rc;

    e->loop = loop;
    e->cfg = *cfg;
    if (e->cfg.batch_max == 0)
        e->cfg.batch_max = DEFAULT_BATCH_MAX;
    rc = uv_idle_init(loop, &e->idle);
    if (rc < 0) {
        hub_free(e);
        return rc;
    }
    e->idle.data = e;
    hub_queue_init(&e->queue, cfg->queue_size);
    e->dedupe = hub_dedupe_new(cfg->dedupe_capacity, cfg->dedupe_ttl_ms);
    if (persist != NULL) {
        e->persist = *persist;
        e->has_persist = 1;
    }
    if (restore != NULL) {
        hub_state_copy(&e->work, &restore->state);
        for (size_t i = 0; i < restore->nids; i++)
            hub_dedupe_add(e->dedupe, restore->ids[i], restore->id_ts_ms[i]);
    } else {
        hub_state_init(&e->work, cfg->demo_universe);
    }
    hub_state_copy(&e->pub, &e->work);
    update_view(e, NULL);
    e->open = batch_get(e);
    register_metrics(e, metrics);
    *out = e;
    return 0;
}

static void on_idle_closed(uv_handle_t *h)
{
    hub_free(h->data);
}

void hub_engine_free(hub_engine_t *e)
{
    hub_cmd_t *c, *next;

    if (e == NULL)
        return;
    for (c = hub_queue_take_all(&e->queue); c != NULL; c = next) {
        next = c->next;
        answer(e, c, HUB_ESHUTDOWN);
    }
    for (c = e->dropped_head; c != NULL; c = next) {
        next = c->next;
        answer(e, c, HUB_EDROPPED);
    }
    /* Applied in memory but never committed: not durable, so not applied. */
    for (c = e->open->cmds_head; c != NULL; c = next) {
        next = c->next;
        answer(e, c, HUB_ESHUTDOWN);
    }
    batch_put(e, e->open);
    if (e->inflight != NULL) /* the store never answered; nothing more can */
        hub_log(HUB_LOG_ERROR, "engine_free", "{s:s}", "error",
                "a store batch was still in flight");
    if (e->spare) {
        hub_free(e->spare->recs);
        hub_free(e->spare);
    }
    hub_dedupe_free(e->dedupe);
    uv_close((uv_handle_t *)&e->idle, on_idle_closed);
}

int hub_engine_submit(hub_engine_t *e, hub_cmd_t *cmd)
{
    hub_cmd_t *dropped;
    int rc;

    if (e->stopping)
        return HUB_ESHUTDOWN;
    rc = hub_queue_push(&e->queue, cmd, &dropped);
    if (rc < 0) {
        hub_metric_inc(e->m_refused);
        return rc;
    }
    if (dropped != NULL) {
        hub_metric_inc(e->m_dropped);
        dropped->next = NULL;
        if (e->dropped_tail)
            e->dropped_tail->next = dropped;
        else
            e->dropped_head = dropped;
        e->dropped_tail = dropped;
    }
    kick(e);
    return 0;
}

void hub_cmd_detach(hub_cmd_t *cmd)
{
    cmd->done = NULL;
    cmd->ud = NULL;
}

hub_metric_t *hub_engine_refused_counter(hub_engine_t *e)
{
    return e->m_refused;
}

size_t hub_engine_room(const hub_engine_t *e)
{
    if (e->stopping)
        return 0;
    return e->queue.capacity - e->queue.len;
}

void hub_engine_on_room(hub_engine_t *e, void (*cb)(void *ud), void *ud)
{
    e->on_room = cb;
    e->on_room_ud = ud;
}

void hub_engine_subscribe(hub_engine_t *e, hub_state_cb cb, void *ud)
{
    assert(e->nsubs < MAX_SUBSCRIBERS);
    e->subs[e->nsubs].cb = cb;
    e->subs[e->nsubs].ud = ud;
    e->nsubs++;
}

void hub_engine_unsubscribe_all(hub_engine_t *e)
{
    e->nsubs = 0;
}

const hub_view_t *hub_engine_view(const hub_engine_t *e)
{
    return &e->view;
}

const char *hub_engine_store_error(const hub_engine_t *e)
{
    return e->store_failed ? e->store_err : NULL;
}

int hub_engine_idle(const hub_engine_t *e)
{
    return e->queue.len == 0 && e->inflight == NULL && e->open->ncmds == 0 &&
           e->dropped_head == NULL;
}

size_t hub_engine_queue_depth(const hub_engine_t *e)
{
    return e->queue.len;
}

void hub_engine_close_store(hub_engine_t *e)
{
    e->store_closing = 1;
}

void hub_engine_stop_intake(hub_engine_t *e)
{
    e->stopping = 1;
}

/* Validate (done by the parser), dedupe, apply to the working state. */
static void apply_one(hub_engine_t *e, hub_cmd_t *c, uint64_t now_ms)
{
    uint64_t t0 = hub_mono_us();

    if (hub_dedupe_seen(e->dedupe, c->cmd_id, now_ms)) {
        c->outcome = HUB_CMD_DUPLICATE;
    } else {
        hub_batch_t *b = e->open;
        hub_journal_rec_t *r;

        hub_dedupe_add(e->dedupe, c->cmd_id, now_ms);
        hub_state_set_rgb(&e->work, c->rgb);
        e->work.seq++;
        e->work.ts_ms = now_ms;
        c->outcome = HUB_CMD_APPLIED;
        c->seq = e->work.seq;
        c->ts_ms = now_ms;
        if (b->nrecs == b->caprecs) {
            b->caprecs *= 2;
            b->recs = hub_realloc(b->recs, b->caprecs * sizeof(*b->recs));
        }
        r = &b->recs[b->nrecs++];
        r->seq = c->seq;
        memcpy(r->cmd_id, c->cmd_id, sizeof(r->cmd_id));
        memcpy(r->src, c->src, sizeof(r->src));
        memcpy(r->rgb, c->rgb, 3);
        r->ts_ms = now_ms;
    }
    batch_add_cmd(e->open, c);
    hub_metric_observe(e->m_apply_cost, (double)(hub_mono_us() - t0) / 1e6);
}

static void on_batch_done(hub_batch_t *b, void *ud);

static void flush(hub_engine_t *e)
{
    hub_batch_t *b;
    hub_cmd_t *c, *next;

    if (e->inflight != NULL || e->open->ncmds == 0)
        return;
    if (e->store_closing && e->has_persist) {
        for (c = e->open->cmds_head; c != NULL; c = next) {
            next = c->next;
            answer(e, c, HUB_ESHUTDOWN);
        }
        e->open->cmds_head = e->open->cmds_tail = NULL;
        e->open->ncmds = e->open->nrecs = 0;
        return;
    }
    b = e->open;
    e->open = batch_get(e);
    hub_state_copy(&b->state, &e->work);
    b->done = on_batch_done;
    b->done_ud = e;
    e->inflight = b;
    if (e->has_persist && b->nrecs > 0)
        e->persist.submit(e->persist.ctx, b);
    else
        on_batch_done(b, e); /* nothing to write (duplicates only), or no store */
}

static void announce(hub_engine_t *e, hub_cmd_t *c, int stored_rc, int more)
{
    uint64_t now = hub_mono_us();
    double lat = (double)(now - c->recv_us) / 1e6;

    hub_state_set_rgb(&e->pub, c->rgb);
    e->pub.seq = c->seq;
    e->pub.ts_ms = c->ts_ms;
    update_view(e, c);
    e->view.more = more;
    for (int i = 0; i < e->nsubs; i++)
        e->subs[i].cb(&e->view, e->subs[i].ud);
    if (stored_rc == 0) {
        hub_metric_inc(e->m_processed);
        hub_metric_observe(e->m_latency, lat);
        hub_metric_set(e->m_last_latency, lat * 1000.0);
        if (hub_log_enabled(HUB_LOG_INFO))
            hub_log(HUB_LOG_INFO, "apply", "{s:I,s:s,s:s,s:I}", "seq", (json_int_t)c->seq, "cmdId",
                    c->cmd_id, "src", c->src, "latency_us", (json_int_t)(now - c->recv_us));
    }
}

static void on_batch_done(hub_batch_t *b, void *ud)
{
    hub_engine_t *e = ud;
    hub_cmd_t *c, *next;
    size_t left = b->nrecs; /* states still to announce: one per applied command */

    assert(b == e->inflight);
    e->inflight = NULL;
    e->store_failed = b->rc != 0;
    if (b->rc != 0)
        memcpy(e->store_err, b->err, sizeof(e->store_err));
    if (b->rc != 0)
        hub_log(HUB_LOG_ERROR, "store_commit_failed", "{s:s,s:I,s:s}", "error", b->err, "commands",
                (json_int_t)b->nrecs, "hint",
                "check disk space and permissions of DMX_DATA_DIR; the state in memory is "
                "kept and saved with the next commit");
    for (c = b->cmds_head; c != NULL; c = next) {
        next = c->next;
        if (c->outcome == HUB_CMD_DUPLICATE) {
            /* Its original may have failed to commit since (and left the
             * cache): then it did not take effect, and neither did this. */
            if (!hub_dedupe_seen(e->dedupe, c->cmd_id, hub_wall_ms())) {
                answer(e, c, HUB_ESTORE);
                continue;
            }
            hub_metric_inc(e->m_deduped);
            answer(e, c, HUB_CMD_DUPLICATE);
            continue;
        }
        /* The lights follow memory either way; the sender learns the truth. */
        assert(left > 0);
        announce(e, c, b->rc, left > 1);
        if (left > 0)
            left--;
        if (b->rc != 0) {
            hub_metric_inc(e->m_failed);
            hub_dedupe_remove(e->dedupe, c->cmd_id); /* a retry must apply */
            answer(e, c, HUB_ESTORE);
        } else {
            answer(e, c, HUB_CMD_APPLIED);
        }
    }
    b->cmds_head = b->cmds_tail = NULL;
    batch_put(e, b);
    flush(e);
    if (e->queue.len > 0 || e->dropped_head != NULL)
        kick(e);
}

static size_t drain_step(hub_engine_t *e)
{
    size_t n = 0, before = e->queue.len;
    uint64_t now_ms = hub_wall_ms();
    hub_cmd_t *c;

    while (e->dropped_head != NULL) {
        c = e->dropped_head;
        e->dropped_head = c->next;
        if (e->dropped_head == NULL)
            e->dropped_tail = NULL;
        answer(e, c, HUB_EDROPPED);
    }
    /* Stop draining while the open batch is full: the queue then absorbs the
     * pressure and its overflow policy applies. */
    while (e->open->ncmds < e->cfg.batch_max && (c = hub_queue_pop(&e->queue)) != NULL) {
        apply_one(e, c, now_ms);
        n++;
    }
    if (before == e->queue.capacity && e->queue.len < before && e->on_room != NULL)
        e->on_room(e->on_room_ud);
    flush(e);
    return n;
}

static void drain(hub_engine_t *e)
{
    drain_step(e);
    if ((e->queue.len == 0 || e->open->ncmds >= e->cfg.batch_max) && e->dropped_head == NULL &&
        e->idle_active) {
        uv_idle_stop(&e->idle);
        e->idle_active = 0;
    }
}

size_t hub_engine_drain_now(hub_engine_t *e)
{
    size_t total = 0, n;
    while ((n = drain_step(e)) > 0)
        total += n;
    return total;
}
