/* proto/mqtt_int.h - shared by proto/mqtt.c and proto/mqtt_intents.c only. */
#ifndef HUB_PROTO_MQTT_INT_H
#define HUB_PROTO_MQTT_INT_H

#include <mosquitto.h>

#include "engine/kv.h"
#include "proto/mqtt.h"
#include "proto/mqtt_devices.h"

#define TOPIC_CMD     "v1/demo/rgb/cmd"
#define TOPIC_STATE   "v1/demo/rgb/state"
#define TOPIC_ERROR   "v1/demo/rgb/error"
#define TOPIC_SERVER  "v1/devices/server/state"
#define TOPIC_DEVICES "v1/devices/+/state"
#define TOPIC_INTENT  "v1/hub/intent"
#define TOPIC_HUB_ERR "v1/hub/error"

#define PAYLOAD_MAX          16384 /* bytes; a larger command is malformed */
#define SEND_MAXIMUM         1000  /* our QoS 1 publishes awaiting PUBACK on the wire */
#define UNACKED_MAX          10000 /* beyond this, state publishes are conflated */
#define BACKOFF_MIN_MS       4000  /* after the first attempts */
#define RETRY_FIRST_MS       2000  /* seed 002: 5 attempts 2 s apart */
#define UNREACHABLE_ATTEMPTS 5
#define BACKOFF_MAX_MS       30000
#define MISC_INTERVAL_MS     1000
#define READ_BURST           256 /* packets per readable event, then yield to the loop */
#define DEVICES_MAX          10000
#define SUBS_MAX             32
#define TRACKED_MAX          4096 /* tracked publishes awaiting their PUBACK */

enum conn { C_IDLE, C_CONNECTING, C_CONNECTED, C_BACKOFF, C_CLOSING, C_CLOSED };

struct hub_mqtt {
    uv_loop_t *loop;      /* not owned */
    hub_engine_t *engine; /* not owned */
    struct mosquitto *mosq;
    char *host;
    int port;
    int keepalive_s;

    enum conn conn;
    int started;               /* hub_mqtt_start was called: timers exist */
    uv_poll_t *poll;           /* heap; the current socket's watch, NULL if none */
    int poll_events;           /* UV_READABLE|UV_WRITABLE being watched */
    int paused;                /* reading stopped: the engine's queue is full */
    uv_timer_t misc_timer;     /* 1 s: mosquitto_loop_misc */
    uv_timer_t retry_timer;    /* reconnect backoff */
    uv_timer_t shutdown_timer; /* bounds hub_mqtt_shutdown */
    int handles_open;          /* handles not yet through their close callback */
    int free_pending;          /* hub_mqtt_free ran first: free m on the last close */

    uint64_t backoff_ms;   /* delay before the next reconnect */
    unsigned attempt;      /* failed attempts since the last CONNACK */
    uint64_t retry_due_ms; /* uv_now() when the retry timer fires */
    char reason[192];      /* why the last connection failed or ended */
    int refused;           /* reason holds a CONNACK refusal */

    int after_connack;      /* publish online + retained topics once this read returns */
    size_t unacked;         /* our publishes awaiting PUBACK */
    uint64_t rx_done;       /* packets whose callback ran (see read_some) */
    int retained_dirty;     /* a retained publish was skipped (unacked too high) */
    int sub_mids[SUBS_MAX]; /* mids of our SUBSCRIBEs, to name a refusal */
    const char *sub_topics[SUBS_MAX];
    int nsubs;
    hub_kv_t *conflated; /* retained publishes of this group commit, last per topic */

    int offline_mid; /* shutdown: mid of the "offline" publish, -1 none */
    int offline_acked;
    int disconnect_sent;
    void (*done)(void *ud);
    void *done_ud;

    /* Tracked publishes (domain.h hub_outbox_mqtt_tracked) awaiting PUBACK. */
    struct hub__tracked {
        int mid;
        uint64_t due_ms; /* uv_now() deadline */
        hub_sent_fn sent;
        void *ctx;
        uint64_t token;
    } * tracked;
    size_t ntracked;

    hub__mqtt_devices_t *devices;
    int devices_full_logged;

    hub_metric_t *m_connected, *m_reconnects, *m_malformed, *m_published;
    char *status; /* hub_mqtt_status buffer (STATUS_LEN) */
};

/* mqtt.c */
/* Publish at QoS qos while a connection is up. Returns the mid or -1. */
int hub__mqtt_publish(hub_mqtt_t *m, const char *topic, const void *buf, size_t len, int qos,
                      int retain);
/* mqtt_intents.c: messages that become intents. */
void hub__mqtt_on_cmd(hub_mqtt_t *m, const struct mosquitto_message *msg);
void hub__mqtt_on_intent(hub_mqtt_t *m, const struct mosquitto_message *msg);
/* 1 if a domain topic took msg. */
int hub__mqtt_on_domain(hub_mqtt_t *m, const struct mosquitto_message *msg);
/* Count and log a refused message; on the legacy command topic also say
 * why on v1/demo/rgb/error. */
void hub__mqtt_malformed(hub_mqtt_t *m, const char *topic, const char *cmd_id, const char *msg,
                         const char *field);

#endif
