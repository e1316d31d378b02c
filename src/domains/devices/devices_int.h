/* domains/devices/devices_int.h - shared by the files of the devices domain. */
#ifndef HUB_DOMAINS_DEVICES_INT_H
#define HUB_DOMAINS_DEVICES_INT_H

#include <stdint.h>

#include <uv.h>

#include "core/err.h"
#include "core/metrics.h"
#include "domains/devices/devices.h"
#include "domains/devices/model.h"
#include "engine/domain.h"
#include "engine/engine.h"

enum { DEV_KIND_INFOSCREEN = 0, DEV_KIND_ESP32, DEV_KIND_V1, DEV_KIND_COUNT };
enum { DEV_PRES_UNKNOWN = 0, DEV_PRES_ONLINE, DEV_PRES_OFFLINE };

#define DEV_HEALTH_MAX      8192  /* bytes of a health payload kept */
#define DEV_PAYLOAD_MAX     65536 /* a fleet message above this is refused */
#define DEV_LOG_MESSAGE_MAX 8192
#define DEV_TEXT_MAX        256                 /* description, hostname, ip */
#define DEV_CMD_KEEP_MS     (10u * 60u * 1000u) /* terminal commands stay in the state */
#define DEV_CMD_KEEP_MAX    1000

/* A string-keyed map of pointers (open addressing): devices, commands. */
typedef struct dev_map {
    char **keys;
    void **vals;
    size_t cap, n, used; /* used: n + tombstones */
} dev_map_t;

void dev_map_free(dev_map_t *m);
void *dev_map_get(const dev_map_t *m, const char *key);
void dev_map_put(dev_map_t *m, const char *key, void *val); /* replaces */
void dev_map_del(dev_map_t *m, const char *key);
/* Every value, in no order, into out (n of them); the caller frees. */
void **dev_map_values(const dev_map_t *m, size_t *n);

typedef struct dev_device {
    char id[DEV_ID_MAX + 1];
    int kind;
    int has_group;
    int64_t group_id;
    char *description, *hostname, *ip; /* heap or NULL */
    uint64_t first_seen, last_seen;    /* wall ms; 0 = never */
    int presence;
    int is_active;
    int alive; /* as last announced (devices.liveness moves it) */
    uint64_t last_alive;
    char *process; /* current_process */
    int has_pid, has_status, has_event, has_reconnects;
    int64_t pid, event_id, reconnects;
    dev_proc_t status;
    dev_screen_t screen;
    uint64_t last_disconnect;
    uint64_t service_failed_at;
    char *service_failed_unit;
    char *health; /* the last health payload (compact JSON), NULL none */
    uint64_t health_at;
    char *info; /* the last discovery payload (compact JSON) */
    /* created_at of its latest reboot_host/restart_app commands (lockout) */
    uint64_t locks[DEV_LOCKOUT_THRESHOLD];
    int nlocks;
    int64_t nlogs; /* log rows since the last trim */
} dev_device_t;

typedef struct dev_reply {
    hub_reply_t *reply;
    struct dev_reply *next;
} dev_reply_t;

typedef struct dev_command {
    char id[37];
    char client[DEV_ID_MAX + 1];
    char req_id[HUB_REQ_ID_MAX + 1];
    dev_action_t action;
    dev_status_t status;
    char *reason;
    int64_t requested_by; /* <= 0: null */
    int recovery;         /* issued by crash auto-recovery */
    int legacy;           /* also publish clients/<uuid>/restart */
    uint64_t issued, expires, published, acked, started, completed, failed, created, updated;
    char *error_code, *error_message;
    uint64_t token;       /* its tracked publish; 0 none */
    int awaiting;         /* published, outcome not applied yet */
    dev_reply_t *replies; /* HTTP requests waiting for the publish outcome */
} dev_command_t;

/* The native form of a command's change: whether its announce publishes it. */
typedef struct cmd_native {
    char id[37];
    int publish;
} cmd_native_t;

typedef struct dev_alert {
    char id[DEV_ID_MAX + 32];
    const char *kind; /* static */
    char device[DEV_ID_MAX + 1];
    uint64_t since;
    char message[1024];
} dev_alert_t;

/* A publish outcome waiting to be submitted (the queue was full). */
typedef struct dev_sent {
    char command_id[37];
    int ok;
    char why[256];
    struct dev_sent *next;
} dev_sent_t;

struct hub_devdom {
    hub_domain_def_t def;
    hub_engine_t *engine;
    uv_loop_t *loop;
    hub_metrics_t *metrics;
    hub_db_reader_t reader; /* run NULL: none (tests) */
    hub_devdom_cfg_t cfg;
    char root[64]; /* FLEET_TOPIC_ROOT */

    dev_map_t devices;
    dev_map_t commands;
    dev_map_t alerts;
    int outage;           /* broker_outage_suspected is raised */
    uint64_t logs_pruned; /* wall ms of the last log retention pass */
    /* Since when the hub has been hearing the fleet (start-up, the end of a
     * suspected broker outage): silence is only evidence after that. */
    uint64_t watch_since;
    int loading; /* start-up: alerts are made without changes */
    uint64_t next_token;

    uv_timer_t poll_timer, retry_timer;
    int timers_open;
    dev_sent_t *sent_head, *sent_tail;
    dev_reply_t *orphans; /* requests for commands deleted with their device */
    int stopping;

    hub_topic_def_t topics[16];
    char topic_buf[16][96];

    hub_metric_t *m_rejected[16];
    hub_metric_t *m_acks_ignored[4];
    hub_metric_t *m_commands[DEV_ACT_COUNT][DEV_ST_COUNT];
    hub_metric_t *m_accept_lat, *m_complete_lat;
    hub_metric_t *m_devices, *m_alive, *m_alerts, *m_outage, *m_logs;
};

/* Rejection reasons of fleet_ingest_rejected_total (ingest.c). */
enum {
    DEV_REJ_NOT_JSON = 0,
    DEV_REJ_NOT_UTF8,
    DEV_REJ_TOO_LARGE,
    DEV_REJ_BAD_FIELD,
    DEV_REJ_BAD_UUID,
    DEV_REJ_UNKNOWN_DEVICE,
    DEV_REJ_BAD_ACK,
    DEV_REJ_BAD_PAYLOAD,
    DEV_REJ_REGISTRY_FULL,
    DEV_REJ_COUNT
};
extern const char *const dev_reject_names[DEV_REJ_COUNT];
void dev__reject(hub_devdom_t *d, int reason, const char *topic, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* devices.c */
dev_device_t *dev__device(const hub_devdom_t *d, const char *id);
dev_device_t *dev__device_new(hub_devdom_t *d, const char *id, int kind, uint64_t now);
void dev__device_free(dev_device_t *v);
dev_command_t *dev__command(const hub_devdom_t *d, const char *id);
void dev__command_free(dev_command_t *c);
/* An internal intent (intent.h): made by the hub, never by a client. */
hub_intent_t *dev__intent_new(const char *name, const char *src);
/* 0 for an internal intent, else refuses it (HUB_EINVAL). */
int dev__own_only(hub_apply_t *ap);
/* Submit an intent the domain makes itself (timers, publish outcomes). */
int dev__submit(hub_devdom_t *d, const char *name, json_t *payload, const char *src);
void dev__sent(void *ctx, uint64_t token, int ok, const char *why);
void dev__str_set(char **dst, const char *s, size_t len); /* NULL s: NULL */
/* Cut a partial UTF-8 sequence off the end of s (after snprintf truncated
 * device text): a frame with broken UTF-8 would close browsers' sockets. */
void dev__utf8_trim(char *s);

/* render.c: entities as JSON */
void dev__render_device(hub_jbuf_t *b, const hub_devdom_t *d, const dev_device_t *v);
void dev__render_command(hub_jbuf_t *b, const dev_command_t *c);       /* snake_case */
void dev__render_command_camel(hub_jbuf_t *b, const dev_command_t *c); /* seed 004 REST */
void dev__render_alert(hub_jbuf_t *b, const dev_alert_t *a);
void dev__time(hub_jbuf_t *b, uint64_t ms); /* RFC 3339 with ms, or null */
const char *dev__kind_name(int kind);
/* Record the device's (or command's, alert's) current form as a change. */
void dev__change_device(hub_devdom_t *d, hub_apply_t *ap, const dev_device_t *v);
void dev__change_command(hub_devdom_t *d, hub_apply_t *ap, const dev_command_t *c, int publish);
void dev__change_alert(hub_devdom_t *d, hub_apply_t *ap, const dev_alert_t *a, const char *id);

/* store.c */
extern const hub_migration_t dev__migrations[];
extern const int dev__nmigrations;
int dev__load(void *ctx, hub_db_t *db, char *err, size_t errlen);
void dev__row_device(hub_apply_t *ap, const dev_device_t *v);
void dev__row_device_delete(hub_apply_t *ap, const char *id);
void dev__row_command(hub_apply_t *ap, const dev_command_t *c);
void dev__row_log(hub_devdom_t *d, hub_apply_t *ap, dev_device_t *v, const char *level, uint64_t ts,
                  const char *message, const char *context, uint64_t now);
void dev__row_logs_prune(hub_apply_t *ap, uint64_t before);
/* A command from a device_commands row (any thread); 0 or -1. */
int dev__command_from_row(const hub_val_t *c, int n, dev_command_t *out);
void dev__command_clear(dev_command_t *c); /* its strings */

/* ingest.c: the MQTT topics */
void dev__topics_init(hub_devdom_t *d);

/* apply_ingest.c */
int dev__apply_discovery(void *ctx, hub_apply_t *ap, const json_t *p);
int dev__apply_heartbeat(void *ctx, hub_apply_t *ap, const json_t *p);
int dev__apply_health(void *ctx, hub_apply_t *ap, const json_t *p);
int dev__apply_log(void *ctx, hub_apply_t *ap, const json_t *p);
int dev__apply_service_failed(void *ctx, hub_apply_t *ap, const json_t *p);
int dev__apply_presence(void *ctx, hub_apply_t *ap, const json_t *p);

/* apply_admin.c */
int dev__apply_update(void *ctx, hub_apply_t *ap, const json_t *p);
int dev__apply_group(void *ctx, hub_apply_t *ap, const json_t *p);
int dev__apply_delete(void *ctx, hub_apply_t *ap, const json_t *p);
int dev__apply_clear_sf(void *ctx, hub_apply_t *ap, const json_t *p);

/* commands.c */
int dev__prepare_command(void *ctx, hub_intent_t *in, hub_error_t *err);
int dev__apply_command(void *ctx, hub_apply_t *ap, const json_t *p);
int dev__apply_sent(void *ctx, hub_apply_t *ap, const json_t *p);
int dev__apply_ack(void *ctx, hub_apply_t *ap, const json_t *p);
void dev__publish_command(hub_devdom_t *d, dev_command_t *c, hub_outbox_t *out);
void dev__answer_command(void *ctx, const hub_intent_t *in, const hub_announce_t *ann,
                         hub_reply_t *reply);
void dev__reply_all(hub_devdom_t *d, dev_command_t *c);
/* The body of a command request's answer (the seed's); returns the status. */
int dev__answer_body(const dev_command_t *c, hub_jbuf_t *b);
/* logs.c: answer a repeated request whose command left memory, from SQLite. */
void dev__command_by_req(hub_devdom_t *d, const char *req_id, hub_reply_t *reply);
/* Answer waiting requests 503 (the hub stops). */
void dev__reply_drop(dev_command_t *c);
/* The command goes with its device: its waiting requests get 404 after the
 * group commit (announced). */
void dev__orphan_replies(hub_devdom_t *d, dev_command_t *c);
void dev__count_status(hub_devdom_t *d, const dev_command_t *c);

/* sweep.c: the poll timer's intents */
int dev__apply_sweep(void *ctx, hub_apply_t *ap, const json_t *p);
int dev__apply_liveness(void *ctx, hub_apply_t *ap, const json_t *p);
void dev__poll(hub_devdom_t *d);
/* Alerts of one device after a change of it (crashed, service_failed). */
void dev__device_alerts(hub_devdom_t *d, hub_apply_t *ap, const dev_device_t *v, uint64_t now);
/* Start-up: the alerts the loaded registry implies (crashed, service_failed). */
void dev__alerts_load(hub_devdom_t *d, uint64_t now);

/* routes.c, logs.c */
extern const hub_route_def_t dev__routes[];
int dev__logs_read(void *ctx, const hub_route_req_t *rq, hub_reply_t *reply, hub_error_t *err);
int dev__logs_read_seed(void *ctx, const hub_route_req_t *rq, hub_reply_t *reply, hub_error_t *err);
int dev__logs_summary(void *ctx, const hub_route_req_t *rq, hub_reply_t *reply, hub_error_t *err);
int dev__logs_recent_errors(void *ctx, const hub_route_req_t *rq, hub_reply_t *reply,
                            hub_error_t *err);
int dev__logs_overview(void *ctx, const hub_route_req_t *rq, hub_reply_t *reply, hub_error_t *err);
int dev__command_read(void *ctx, const hub_route_req_t *rq, hub_reply_t *reply, hub_error_t *err);
int dev__commands_list(void *ctx, const hub_route_req_t *rq, hub_reply_t *reply, hub_error_t *err);
/* Python's isoformat() of a UTC time, naive or aware (seed 004's REST). */
void dev__time_py(hub_jbuf_t *b, uint64_t ms, int aware);

#endif
