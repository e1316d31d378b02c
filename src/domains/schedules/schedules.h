/* domains/schedules/schedules.h - seed 004's scheduler for any group of
 * devices or the hub itself (room "schedules"): events with RFC 5545
 * recurrence, the events active now per group (retained
 * <root>/events/<group_id>), on_start/on_end action lists run once per
 * occurrence, and seed 004's group power intents (retained
 * <root>/groups/<group_id>/power/intent). docs/schedules.md has the whole
 * contract, docs/decisions/schedules.md the reasoning.
 *
 * Threading: loop thread only.
 */
#ifndef HUB_DOMAINS_SCHEDULES_H
#define HUB_DOMAINS_SCHEDULES_H

#include <stdint.h>

#include <uv.h>

#include "core/metrics.h"
#include "engine/engine.h"

typedef struct hub_schdom hub_schdom_t;

/* Called once per device group (repeats allowed). */
typedef void (*hub_schdom_group_fn)(void *ud, int64_t group_id);

typedef struct hub_schdom_cfg {
    const char *topic_root; /* FLEET_TOPIC_ROOT; NULL: "infoscreen" */
    int poll_s;             /* POLL_INTERVAL_SECONDS, >= 1 */
    int refresh_s;          /* REFRESH_SECONDS; 0: publish active lists only on change */
    int window_days;        /* EVENTS_WINDOW_DAYS */
    int power_publish;      /* POWER_INTENT_PUBLISH_ENABLED */
    int power_heartbeat;    /* POWER_INTENT_HEARTBEAT_ENABLED */
    int power_multiplier;   /* POWER_INTENT_EXPIRY_MULTIPLIER */
    int power_min_expiry_s; /* POWER_INTENT_MIN_EXPIRY_SECONDS */
    int max_events;         /* <= 0: 10,000 */
    /* The fleet's groups (every device's group_id), so a group with devices
     * and no events still gets its OFF intent; NULL: none. Loop thread. */
    void (*groups)(void *ctx, hub_schdom_group_fn fn, void *ud);
    void *groups_ctx;
} hub_schdom_cfg_t;

/* Create and register with the engine (before hub_engine_start); listens to
 * the engine's MQTT link for the reconnect republish. loop may be NULL (no
 * timer: tests drive schedules.poll themselves). */
int hub_schdom_bind(hub_schdom_t **out, hub_engine_t *e, uv_loop_t *loop, hub_metrics_t *metrics,
                    const hub_schdom_cfg_t *cfg);
/* After hub_engine_start: logs the configuration, submits the first cycle
 * (which publishes every group's list and intent) and starts the poll timer. */
void hub_schdom_start(hub_schdom_t *d);
/* Shutdown begins: stop the timer; nothing more is submitted. */
void hub_schdom_stop(hub_schdom_t *d);
/* After the engine is freed and the loop ran the timer's close callback. */
void hub_schdom_free(hub_schdom_t *d);

#endif
