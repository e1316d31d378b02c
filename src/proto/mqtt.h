/* proto/mqtt.h - the MQTT bridge: libmosquitto driven on the loop thread.
 *
 * Topics (docs/mqtt-topics.md):
 *   v1/demo/rgb/cmd        in:  commands, QoS 1 (same JSON as POST /rgb, src default "mqtt")
 *   v1/demo/rgb/state      out: the state after every applied command and at start-up
 *                          and on every (re)connect; QoS 1, retained, JSON as GET /rgb
 *   v1/demo/rgb/error      out: why a command from MQTT was not applied; QoS 1, not retained
 *   v1/devices/server/state out: "online" on connect, "offline" on clean shutdown and as
 *                          the retained LWT
 *   v1/devices/+/state     in:  device presence, shown by GET /devices
 *
 * The client's socket is watched by a uv_poll on the loop; mosquitto_loop_read/
 * write/misc are called from there, so every callback runs on the loop thread.
 * Reading pauses while the engine's queue is full, which pushes back through
 * TCP to the broker instead of acknowledging commands we would have to refuse.
 * Reconnects: 5 attempts 2 s apart (seed 002), then back off from 4 s to 30 s
 * (log event "mqtt_reconnect"). After those 5 the broker counts as
 * unreachable (hub_engine_link: HUB_LINK_UNREACHABLE, log "mqtt_unreachable"):
 * scenes run in simulation mode until it is back.
 */
#ifndef HUB_PROTO_MQTT_H
#define HUB_PROTO_MQTT_H

#include <stddef.h>

#include <uv.h>

#include "core/metrics.h"
#include "engine/engine.h"

typedef struct hub_mqtt hub_mqtt_t;

typedef struct hub_mqtt_cfg {
    const char *host;
    int port;
    const char *username; /* NULL: anonymous */
    const char *password;
    const char *client_id;
    int keepalive_s; /* 0 = 30 */
} hub_mqtt_cfg_t;

/* Registers dmx_mqtt_connected, dmx_mqtt_reconnects_total,
 * dmx_mqtt_malformed_total, dmx_mqtt_published_total in metrics and subscribes
 * to the engine's states. Does not connect yet. */
int hub_mqtt_new(hub_mqtt_t **out, uv_loop_t *loop, hub_engine_t *engine, const hub_mqtt_cfg_t *cfg,
                 hub_metrics_t *metrics);
/* Begin connecting (non-blocking); retries on its own from then on. */
int hub_mqtt_start(hub_mqtt_t *m);
int hub_mqtt_connected(const hub_mqtt_t *m);
/* One line for /readyz: "connected" or why not (e.g. "connecting to
 * localhost:1883: Connection refused"). Valid until the next loop turn. */
const char *hub_mqtt_status(const hub_mqtt_t *m);
/* JSON array of devices seen on v1/devices/+/state:
 * [{"id":"esp1","state":"online","since":1732363200000}, …]. Heap; caller frees. */
char *hub_mqtt_devices_json(const hub_mqtt_t *m, size_t *len);
/* Clean shutdown: publish retained "offline" to v1/devices/server/state, wait
 * for it to be acknowledged (at most timeout_ms), disconnect, close handles,
 * then call done(ud) on the loop thread. */
void hub_mqtt_shutdown(hub_mqtt_t *m, int timeout_ms, void (*done)(void *ud), void *ud);
/* Free after shutdown's done (or if never started). */
void hub_mqtt_free(hub_mqtt_t *m);

#endif
