/* proto/mqtt_devices.h - the MQTT bridge's pure logic, private to proto/mqtt*.c.
 *
 * Payload checks (UTF-8, presence messages, device topics) and the device
 * presence table behind GET /devices. No I/O, no libmosquitto: unit-tested by
 * tests/unit/test_mqtt_devices.c. Loop thread only (no locks).
 */
#ifndef HUB_PROTO_MQTT_DEVICES_H
#define HUB_PROTO_MQTT_DEVICES_H

#include <stddef.h>
#include <stdint.h>

#define HUB__DEVICE_ID_MAX 64

/* What a message on v1/devices/<id>/state says. */
enum {
    HUB__PRESENCE_INVALID = -1, /* neither of the accepted forms */
    HUB__PRESENCE_CLEAR = 0,    /* empty payload: the retained record was cleared */
    HUB__PRESENCE_ONLINE = 1,
    HUB__PRESENCE_OFFLINE = 2,
};

typedef struct hub__mqtt_devices hub__mqtt_devices_t;

/* 1 if buf[0..len) is well-formed UTF-8 (RFC 3629: no overlong forms, no
 * surrogates, nothing above U+10FFFF), else 0 and *bad_at (if not NULL) is
 * the offset of the first byte of the offending sequence. */
int hub__mqtt_utf8_valid(const void *buf, size_t len, size_t *bad_at);

/* Parse a presence payload: "online", "offline" (exactly), or a JSON object
 * whose "state" member is one of them (other members are ignored). len 0 is
 * HUB__PRESENCE_CLEAR. Returns a HUB__PRESENCE_* value. */
int hub__mqtt_presence_parse(const void *payload, size_t len);

/* If topic is v1/devices/<id>/state with id 1..64 bytes of valid UTF-8 and
 * free of '/', '+', '#' and NUL, point *id at it inside topic, set *id_len
 * and return 1; else return 0. */
int hub__mqtt_device_topic_id(const char *topic, const char **id, size_t *id_len);

/* A table of at most cap devices, kept sorted by id (byte order). */
hub__mqtt_devices_t *hub__mqtt_devices_new(size_t cap);
void hub__mqtt_devices_free(hub__mqtt_devices_t *d);

/* Apply one presence message received at now_ms (wall clock, epoch ms).
 * ONLINE/OFFLINE insert or update the device: last_seen = now_ms, and since =
 * now_ms when the device is new or its state changed. CLEAR removes it.
 * Returns 0, or HUB_EOVERLOAD if the device is new and the table is full
 * (nothing changed), or HUB_EINVAL for HUB__PRESENCE_INVALID or a bad id. */
int hub__mqtt_devices_update(hub__mqtt_devices_t *d, const char *id, size_t id_len, int presence,
                             uint64_t now_ms);
size_t hub__mqtt_devices_count(const hub__mqtt_devices_t *d);

/* [{"id":"esp1","state":"online","since":…,"lastSeen":…}, …] sorted by id.
 * Heap (hub_malloc), NUL-terminated; *len (if not NULL) is its length. */
char *hub__mqtt_devices_json(const hub__mqtt_devices_t *d, size_t *len);

#endif
