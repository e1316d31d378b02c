/* domains/devices/devices.h - the device fleet domain (rooms devices and
 * commands): one registry for seed 004's signage screens, seed 002's ESP32
 * nodes and seed 000's v1 devices; their telemetry, logs and alerts; and
 * seed 004's command lifecycle with ACKs, expiry and the safety lockout.
 * docs/fleet.md has the whole contract.
 *
 * Threading: loop thread only.
 */
#ifndef HUB_DOMAINS_DEVICES_H
#define HUB_DOMAINS_DEVICES_H

#include <uv.h>

#include "core/metrics.h"
#include "engine/engine.h"

typedef struct hub_devdom hub_devdom_t;

typedef struct hub_devdom_cfg {
    const char *topic_root;   /* FLEET_TOPIC_ROOT */
    int grace_s;              /* HEARTBEAT_GRACE_SECONDS */
    int poll_s;               /* POLL_INTERVAL_SECONDS */
    int expiry_s;             /* COMMAND_EXPIRY_SECONDS */
    int recovery;             /* CRASH_RECOVERY_ENABLED */
    int recovery_grace_s;     /* CRASH_RECOVERY_GRACE_SECONDS */
    int recovery_lockout_min; /* CRASH_RECOVERY_LOCKOUT_MINUTES */
    int recovery_expiry_s;    /* CRASH_RECOVERY_COMMAND_EXPIRY_SECONDS */
    double outage_fraction;   /* FLEET_OUTAGE_FRACTION */
    int compat_topics;        /* FLEET_COMPAT_TOPICS */
    int log_retention;        /* FLEET_LOG_RETENTION (entries per device) */
    int log_retention_days;   /* FLEET_LOG_RETENTION_DAYS */
    int max_devices;          /* FLEET_MAX_DEVICES; <= 0: 50,000 */
} hub_devdom_cfg_t;

/* Create and register with the engine (before hub_engine_start). reader
 * may be NULL (no store: log reads answer empty). */
int hub_devdom_bind(hub_devdom_t **out, hub_engine_t *e, uv_loop_t *loop, hub_metrics_t *metrics,
                    const hub_devdom_cfg_t *cfg, const hub_db_reader_t *reader);
/* After hub_engine_start: the poll timer. */
void hub_devdom_start(hub_devdom_t *d);
/* Shutdown begins: stop the timers, answer waiting requests. */
void hub_devdom_stop(hub_devdom_t *d);
/* After the loop ran the timers' close callbacks. */
void hub_devdom_free(hub_devdom_t *d);
/* fn(ud, group_id) for every device that has a group (repeats: once per
 * device), e.g. the groups the schedules compute power intents for. */
void hub_devdom_groups(const hub_devdom_t *d, void (*fn)(void *ud, int64_t group_id), void *ud);

#endif
