/* domains/scenes/scenes.h - timed scenes with feedback tracking (seed 002),
 * room "scenes": scene files in DMX_SCENES_DIR, runs as state
 * (scenes.runs.<run id>), MQTT actions confirmed by <room>/status within
 * SCENE_FEEDBACK_TIMEOUT_MS, local /audio and /video actions played by
 * SCENE_MEDIA_COMMAND, simulation mode while the broker is unreachable.
 * docs/scenes.md has the whole contract.
 *
 * Threading: loop thread only.
 */
#ifndef HUB_DOMAINS_SCENES_H
#define HUB_DOMAINS_SCENES_H

#include <uv.h>

#include "core/metrics.h"
#include "engine/engine.h"

typedef struct hub_scndom hub_scndom_t;

typedef struct hub_scndom_cfg {
    const char *dir;           /* DMX_SCENES_DIR */
    const char *media_command; /* SCENE_MEDIA_COMMAND; NULL: simulated */
    const char *media_dir;     /* SCENE_MEDIA_DIR */
    int feedback_timeout_ms;   /* SCENE_FEEDBACK_TIMEOUT_MS */
    int mqtt_enabled;          /* DMX_MQTT_ENABLED: else simulation mode throughout */
} hub_scndom_cfg_t;

/* Create, scan the directory and register with the engine (before
 * hub_engine_start). */
int hub_scndom_bind(hub_scndom_t **out, hub_engine_t *e, uv_loop_t *loop, hub_metrics_t *metrics,
                    const hub_scndom_cfg_t *cfg);
/* After hub_engine_start: timers. */
void hub_scndom_start(hub_scndom_t *d);
/* Shutdown begins: stop the timers; runs end as interrupted at the next start. */
void hub_scndom_stop(hub_scndom_t *d);
/* After the loop ran the handles' close callbacks. */
void hub_scndom_free(hub_scndom_t *d);

#endif
