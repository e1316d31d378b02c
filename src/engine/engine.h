/* engine/engine.h - the single writer.
 *
 * Every input becomes a command; commands wait in one bounded queue; the
 * engine drains it on the loop thread: validate -> dedupe -> apply -> seq+1.
 * Applied commands are grouped into batches for the store; a command is
 * answered (its done callback), and its state fanned out to subscribers,
 * only once its batch is durable. One batch is in flight at a time; while it
 * commits the next one fills (group commit). When the open batch is full the
 * engine stops draining, so the queue, and then its overflow policy, absorbs
 * the pressure.
 *
 * Threading: loop thread only, except where a function says otherwise.
 */
#ifndef HUB_ENGINE_ENGINE_H
#define HUB_ENGINE_ENGINE_H

#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "core/metrics.h"
#include "engine/batch.h"
#include "engine/command.h"
#include "engine/state.h"

typedef struct hub_engine hub_engine_t;

/* The state as subscribers and answers see it. Valid during the callback. */
struct hub_view {
    const hub_state_t *state;
    uint8_t rgb[3];
    uint64_t seq;
    uint64_t ts_ms;
    const char *rgb_json; /* hub_state_render_rgb() of state */
    size_t rgb_len;
    const char *ws_json; /* hub_state_render_ws() of state */
    size_t ws_len;
    const hub_cmd_t *cmd; /* the command that made it; NULL at start-up */
    int more;             /* more states of the same group commit follow at once */
};

typedef void (*hub_state_cb)(const hub_view_t *view, void *ud);

typedef struct hub_engine_cfg {
    size_t queue_size;
    size_t dedupe_capacity;
    uint64_t dedupe_ttl_ms;
    int demo_universe;
    size_t batch_max; /* commands per group commit; 0 = 4096 */
} hub_engine_cfg_t;

/* persist may be NULL (no store: batches complete at once; used by tests and
 * the in-process benchmark). restore may be NULL. metrics: registers the
 * dmx_engine_* metrics. */
int hub_engine_new(hub_engine_t **out, uv_loop_t *loop, const hub_engine_cfg_t *cfg,
                   hub_metrics_t *metrics, const hub_persist_ops_t *persist,
                   const hub_restore_t *restore);
/* Every pending command is answered HUB_ESHUTDOWN; handles are closed (run
 * the loop afterwards to finish closing). Close the store first and drain the
 * inbox, so the batch in flight has come back and been answered. */
void hub_engine_free(hub_engine_t *e);

/* Submit cmd. On 0 the engine owns cmd and calls cmd->done exactly once
 * (unless detached). On HUB_EOVERLOAD (queue full, nothing droppable) or
 * HUB_ESHUTDOWN the caller keeps cmd. A "ui" command dropped to make room is
 * answered HUB_EDROPPED from the next drain, not from inside this call. */
int hub_engine_submit(hub_engine_t *e, hub_cmd_t *cmd);
/* The adapter that submitted cmd no longer waits for it (its client left). */
void hub_cmd_detach(hub_cmd_t *cmd);
/* dmx_engine_refused_total, for an adapter that refuses a command on the
 * engine's behalf before it reaches the queue (its own bound); counting is
 * thread-safe. */
hub_metric_t *hub_engine_refused_counter(hub_engine_t *e);
/* Free room in the queue (for adapters that can apply back-pressure). */
size_t hub_engine_room(const hub_engine_t *e);
/* Called when room goes from 0 to > 0, so a paused adapter resumes. */
void hub_engine_on_room(hub_engine_t *e, void (*cb)(void *ud), void *ud);

/* Register a subscriber called for every applied state in seq order, once
 * its batch has been through the store (at most 8). If the commit failed the
 * state is announced all the same (the lights follow memory; the next commit
 * saves it) but its sender is answered HUB_ESTORE. The states of one batch
 * are announced in one go, view->more set on all but the last, so a
 * subscriber may gather them and send once per batch. */
void hub_engine_subscribe(hub_engine_t *e, hub_state_cb cb, void *ud);
/* Forget every subscriber (before freeing them at shutdown). */
void hub_engine_unsubscribe_all(hub_engine_t *e);
/* The latest durable state (what GET /rgb answers). */
const hub_view_t *hub_engine_view(const hub_engine_t *e);

/* NULL while the last store commit succeeded, else what failed. */
const char *hub_engine_store_error(const hub_engine_t *e);
/* 1 when nothing is queued and no batch is in flight. */
int hub_engine_idle(const hub_engine_t *e);
size_t hub_engine_queue_depth(const hub_engine_t *e);
/* The store is about to close: from now on the open batch is not written;
 * its commands are answered HUB_ESHUTDOWN (not applied). The batch already
 * in flight still completes normally. */
void hub_engine_close_store(hub_engine_t *e);
/* Refuse new commands from now on (HUB_ESHUTDOWN); queued ones still run. */
void hub_engine_stop_intake(hub_engine_t *e);
/* Apply what is queued now, synchronously, without the idle handle (used by
 * the in-process benchmark and tests). Returns commands processed. */
size_t hub_engine_drain_now(hub_engine_t *e);

#endif
