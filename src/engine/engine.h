/* engine/engine.h - the single writer, and the host of the domains.
 *
 * Every input becomes an intent; intents wait in one bounded queue; the
 * engine drains it on the loop thread: dedupe -> the domain's apply -> seq+1.
 * Applied intents are grouped into batches for the store (their journal
 * records and the rows their domains asked for). An intent is answered (its
 * done callback), and its changes announced to subscribers and published,
 * only once its batch is durable. One batch is in flight at a time; while it
 * commits the next one fills (group commit). When the open batch is full the
 * engine stops draining, so the queue, and then its overflow policy, absorbs
 * the pressure.
 *
 * The engine keeps the published state (engine/pubtree.h): what snapshots
 * show, moved only by announced changes; and the current text of every named
 * view and retained MQTT topic the domains publish.
 *
 * Threading: loop thread only, except where a function says otherwise.
 */
#ifndef HUB_ENGINE_ENGINE_H
#define HUB_ENGINE_ENGINE_H

#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "core/jbuf.h"
#include "core/metrics.h"
#include "engine/batch.h"
#include "engine/domain.h"
#include "engine/intent.h"

typedef struct hub_engine hub_engine_t;

/* An operator event (room "system"). */
typedef struct hub_event {
    int level; /* HUB_EVENT_* */
    const char *source;
    const char *message;
    uint64_t ts_ms;
} hub_event_t;

/* What an adapter hears. Each function may be NULL. For every applied
 * intent, in seq order: on_state (update what reads serve: caches, views),
 * then the intent is answered, then on_fanout (frames, publishes); at the
 * end of the group commit, on_flush. */
typedef struct hub_subscriber {
    void (*on_state)(void *ud, const hub_announce_t *ann);
    void (*on_fanout)(void *ud, const hub_announce_t *ann);
    void (*on_event)(void *ud, const hub_event_t *ev);
    /* After a group commit's announcements and answers, and after answers
     * given outside one (dropped intents): send what was gathered. */
    void (*on_flush)(void *ud);
    void *ud;
    /* It reports the fate of tracked MQTT messages (the MQTT adapter). With
     * no such subscriber the engine fails them after the fan-out. */
    int tracks_sent;
    /* An MQTT message a domain publishes now, outside any intent (timed
     * output: a scene's action at its offset, recorded by the intent that
     * follows); a tracked one must be told its fate. */
    void (*on_direct)(void *ud, const hub_outmsg_t *m);
} hub_subscriber_t;

typedef struct hub_engine_cfg {
    size_t queue_size;
    size_t dedupe_capacity;
    uint64_t dedupe_ttl_ms;
    size_t batch_max; /* intents per group commit; 0 = 4096 */
} hub_engine_cfg_t;

/* Fixed rooms; domains' roots and frame rooms follow. */
#define HUB_ROOM_SYSTEM 0
#define HUB_ROOM_FRAMES 1
#define HUB_MAX_ROOMS   64

int hub_engine_new(hub_engine_t **out, uv_loop_t *loop, const hub_engine_cfg_t *cfg,
                   hub_metrics_t *metrics);
/* Register a domain (before hub_engine_start). ctx is the domain's own,
 * passed to every hook; the caller keeps ownership. Returns HUB_EINVAL for a
 * duplicate intent name or root, or too many rooms. */
int hub_engine_register(hub_engine_t *e, const hub_domain_def_t *def, void *ctx);
size_t hub_engine_ndomains(const hub_engine_t *e);
const hub_domain_def_t *hub_engine_domain_at(const hub_engine_t *e, size_t i, void **ctx);
/* After the store has migrated and loaded every domain: restore seq and the
 * dedupe cache, build the published tree from the domains' entities and let
 * them publish everything current. persist may be NULL (no store: batches
 * complete at once; tests and the in-process benchmark); restore may be
 * NULL (a new hub). */
int hub_engine_start(hub_engine_t *e, const hub_restore_t *restore,
                     const hub_persist_ops_t *persist);
/* Every pending intent is answered HUB_ESHUTDOWN; handles are closed (run
 * the loop afterwards to finish closing). Close the store first and drain
 * the inbox, so the batch in flight has come back and been answered. */
void hub_engine_free(hub_engine_t *e);

/* Any thread: resolve in's name (unknown → HUB_ERR_UNKNOWN_INTENT) and run
 * its domain's prepare step. 0 or HUB_EINVAL with err set. */
int hub_engine_prepare(hub_engine_t *e, hub_intent_t *in, hub_error_t *err);
/* Submit in. On 0 the engine owns it and calls in->done exactly once
 * (unless detached). On HUB_EOVERLOAD (queue full, nothing droppable) or
 * HUB_ESHUTDOWN the caller keeps it. A "ui" intent dropped to make room is
 * answered HUB_EDROPPED from the next drain, not from inside this call. */
int hub_engine_submit(hub_engine_t *e, hub_intent_t *in);
/* The adapter that submitted in no longer waits for it (its client left). */
void hub_intent_detach(hub_intent_t *in);
/* dmx_engine_refused_total, for an adapter that refuses on the engine's
 * behalf before the queue (its own bound); counting is thread-safe. */
hub_metric_t *hub_engine_refused_counter(hub_engine_t *e);
/* Free room in the queue (for adapters that can apply back-pressure). */
size_t hub_engine_room(const hub_engine_t *e);
/* Called when room goes from 0 to > 0, so a paused adapter resumes. */
void hub_engine_on_room(hub_engine_t *e, void (*cb)(void *ud), void *ud);

/* ---- the MQTT broker link (loop thread) ------------------------------------------
 * The MQTT adapter reports its connection; domains that act differently
 * without a broker (scenes' simulation mode) or republish on reconnect
 * (power intents) listen. DISABLED until an adapter says otherwise. */
enum { HUB_LINK_DISABLED = 0, HUB_LINK_UP, HUB_LINK_DOWN, HUB_LINK_UNREACHABLE };
#define HUB_LINK_CBS_MAX 8
/* A changed state calls every listener (each reconnect is DOWN then UP). */
void hub_engine_link_set(hub_engine_t *e, int state);
int hub_engine_link(const hub_engine_t *e);
void hub_engine_on_link(hub_engine_t *e, void (*cb)(void *ud, int state), void *ud);

/* Make, prepare and submit an internal intent (hub_intent_new_internal)
 * with payload (taken) and done(…, ud) for its fate. 0, or the refusal
 * (err says why when prepare refused it); the intent is freed then. */
int hub_engine_submit_internal(hub_engine_t *e, const char *name, json_t *payload, const char *src,
                               hub_intent_done_cb done, void *ud, hub_error_t *err);

/* Publish an MQTT message now, not at an intent's announce:
 * for output whose timing matters more than its being journaled first (the
 * domain records it with an intent right after, as the DMX output clock
 * sends frames and the state records the show). sent(ctx, token, …) is told
 * its fate, possibly before this returns (no broker, MQTT disabled); for
 * QoS 0 the fate is only whether it was handed to the socket. */
void hub_engine_publish_now(hub_engine_t *e, const char *topic, const char *payload, size_t len,
                            int qos, hub_sent_fn sent, void *ctx, uint64_t token);

/* At most 8 subscribers; s is copied. */
void hub_engine_subscribe(hub_engine_t *e, const hub_subscriber_t *s);
void hub_engine_unsubscribe_all(hub_engine_t *e);

/* ---- rooms (any thread once started: the table no longer changes) ---------- */

/* The bit of room name[0..len), or -1. */
int hub_engine_room_bit(const hub_engine_t *e, const char *name, size_t len);
const char *hub_engine_room_name(const hub_engine_t *e, int bit);
int hub_engine_nrooms(const hub_engine_t *e);
/* Rooms that are state roots (in snapshots). */
uint64_t hub_engine_state_rooms(const hub_engine_t *e);

/* ---- the published state ------------------------------------------------------ */

uint64_t hub_engine_seq(const hub_engine_t *e);
uint64_t hub_engine_ts_ms(const hub_engine_t *e);
/* {"seq":N,"state":{root:…}} for the state rooms in the mask. */
void hub_engine_render_state(const hub_engine_t *e, uint64_t rooms, hub_jbuf_t *out);
/* The current text of a named view, or NULL. */
const char *hub_engine_view(const hub_engine_t *e, const char *name, size_t *len);
/* Every retained MQTT topic with its current payload and QoS. */
void hub_engine_retained_foreach(const hub_engine_t *e,
                                 void (*fn)(void *ud, const char *topic, const char *payload,
                                            size_t len, int qos),
                                 void *ud);

/* ---- routes and topics (any thread once started) ------------------------------- */

/* The route for method and path (without the query), filling rq->args and
 * *ctx (its domain's context). NULL when none: then *allow has a bit
 * (1 << HUB_HTTP_*) per method the path does accept (0: unknown path). */
const hub_route_def_t *hub_engine_route(const hub_engine_t *e, int method, const char *path,
                                        hub_route_req_t *rq, void **ctx, unsigned *allow);
/* Every domain topic filter. */
void hub_engine_topics_foreach(const hub_engine_t *e,
                               void (*fn)(void *ud, const hub_topic_def_t *t, void *ctx), void *ud);

/* ---- events and status ----------------------------------------------------------- */

/* Log and tell subscribers (room "system"). */
void hub_engine_event(hub_engine_t *e, int level, const char *source, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* NULL while the last store commit succeeded, else what failed. */
const char *hub_engine_store_error(const hub_engine_t *e);
/* 1 when nothing is queued and no batch is in flight. */
int hub_engine_idle(const hub_engine_t *e);
size_t hub_engine_queue_depth(const hub_engine_t *e);
/* The store is about to close: from now on the open batch is not written;
 * its intents are answered HUB_ESHUTDOWN (not applied). The batch already
 * in flight still completes normally. */
void hub_engine_close_store(hub_engine_t *e);
/* Refuse new intents from now on (HUB_ESHUTDOWN); queued ones still run. */
void hub_engine_stop_intake(hub_engine_t *e);
/* Apply what is queued now, synchronously, without the idle handle (used by
 * the in-process benchmark and tests). Returns intents processed. */
size_t hub_engine_drain_now(hub_engine_t *e);

#endif
