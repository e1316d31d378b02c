/* bench/lg_mqtt.h - MQTT client for the load generator (libmosquitto).
 *
 * Uses libmosquitto's own network thread: messages are stamped on arrival
 * there, and the message callback runs on that thread, so whatever it
 * touches must be owned by it or atomic. Publishing is thread-safe.
 */
#ifndef LG_MQTT_H
#define LG_MQTT_H

#include <stddef.h>
#include <stdint.h>

typedef struct lg_mqtt lg_mqtt_t;
/* Runs on the MQTT thread. t_ns: arrival, CLOCK_MONOTONIC. */
typedef void (*lg_mqtt_msg_cb)(const char *topic, const char *payload, size_t len, uint64_t t_ns,
                               void *ud);

/* Connect (clean session, TCP_NODELAY, unlimited in-flight) and wait up to
 * 5 s for CONNACK. NULL on failure. cb may be NULL for a publisher. */
lg_mqtt_t *lg_mqtt_new(const char *host, int port, const char *client_id, lg_mqtt_msg_cb cb,
                       void *ud);
/* Subscribe and wait up to 5 s for SUBACK. 0 or -1. */
int lg_mqtt_subscribe(lg_mqtt_t *m, const char *topic, int qos);
/* Queue a publish. 0 or -1. */
int lg_mqtt_publish(lg_mqtt_t *m, const char *topic, const void *payload, size_t len, int qos);
uint64_t lg_mqtt_acked(const lg_mqtt_t *m); /* PUBACKs (QoS 1) received */
int lg_mqtt_connected(const lg_mqtt_t *m);
/* Disconnect, join the thread, free. */
void lg_mqtt_free(lg_mqtt_t *m);

#endif
