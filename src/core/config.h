/* core/config.h - the configuration table: every DMX_* variable in one place.
 *
 * Each entry has a name, a type, a default, bounds and help text (Redis
 * config.c idea). `showhub --help` prints the table; start-up reads it from
 * the environment and refuses a bad value with one line naming the variable
 * and what it accepts.
 */
#ifndef HUB_CORE_CONFIG_H
#define HUB_CORE_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

typedef struct hub_config {
    char *mqtt_host;
    int mqtt_port;
    char *mqtt_username; /* NULL when unset */
    char *mqtt_password; /* NULL when unset */
    char *mqtt_client_id;
    bool mqtt_enabled;
    int queue_size; /* commands */
    int dedupe_ttl_s;
    int dedupe_capacity; /* cmdIds */
    char *allow_origins; /* comma separated, or "*" */
    bool ola_enabled;
    char *ola_url;
    int ola_universe; /* OLA universe number, also the demo fixture's */
    int ola_fps;
    char *http_host;
    int http_port;
    char *data_dir;
    char *api_key; /* NULL when unset */
    int log_level; /* HUB_LOG_* */
    char *web_dir;
    bool store_sync_full;  /* fsync each commit (power-loss safe) */
    int journal_retention; /* journal rows kept */
    int journal_max_mb;    /* journal payload + patch MB kept, 0: no bound */
    int ws_slow_ms;        /* a WS client this far behind is dropped */
    int ws_backlog;        /* frames queued per WS client before it is dropped */
    int max_body;          /* bytes, REST body and WS frame limit */
    int http_threads;      /* HTTP/WebSocket contexts; 0 = one per core (at most 8) */
    char *fixtures_file;   /* NULL: <data_dir>/fixtures.json (then it may be absent) */
    int output_fps;        /* DMX output frame clock, 1..100 */
    int output_keepalive_ms;
    char *output_test; /* "off", "chase": a test pattern under the manual layer */
    bool artnet_enabled;
    char *artnet_targets; /* host[:port],… */
    bool artnet_sync;
    char *artnet_listen; /* "false", "true" (0.0.0.0:6454) or host[:port] */
    bool sacn_enabled;
    char *sacn_targets; /* "" = multicast, else host[:port],… */
    int sacn_priority;
    char *sacn_source_name;
    int ws_frame_hz;     /* room "frames": per universe per client */
    int output_priority; /* 0 normal, 1-99 SCHED_FIFO for the output thread */
    char *shows_dir;     /* NULL: <data_dir>/shows */
    char *default_show;  /* NULL: none */
    int playback_fps;    /* show playback render ticks per second */
    int show_max_bytes;  /* show file / PUT body limit */
    /* the device fleet (seed 004's variable names) */
    char *fleet_topic_root;
    int heartbeat_grace_s;
    int poll_interval_s;
    int command_expiry_s;
    bool crash_recovery;
    int crash_recovery_grace_s;
    int crash_recovery_lockout_min;
    int crash_recovery_expiry_s;
    double fleet_outage_fraction;
    bool fleet_compat_topics;
    int fleet_log_retention;
    int fleet_log_retention_days;
    int fleet_max_devices;
    /* scenes */
    char *scenes_dir; /* NULL: <data_dir>/scenes */
    char *scene_media_command;
    char *scene_media_dir; /* NULL: <data_dir>/media */
    int scene_feedback_timeout_ms;
    /* schedules (seed 004's names) */
    int refresh_s;
    int events_window_days;
    bool power_intent_publish;
    bool power_intent_heartbeat;
    int power_intent_expiry_multiplier;
    int power_intent_min_expiry_s;
} hub_config_t;

/* Fill cfg from getenv-like lookup `get` (NULL means getenv). On a bad value
 * returns HUB_EINVAL and writes one line naming the variable and the accepted
 * values to err; cfg then holds whatever was parsed and must still be closed. */
int hub_config_load(hub_config_t *cfg, const char *(*get)(const char *name), char *err,
                    size_t errlen);
void hub_config_close(hub_config_t *cfg);
/* Print every variable with its default and help. */
void hub_config_print_help(FILE *f);
/* 1 if origin is allowed by cfg->allow_origins. NULL origin is allowed. */
int hub_config_origin_allowed(const hub_config_t *cfg, const char *origin);

#endif
