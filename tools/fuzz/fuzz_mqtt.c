/* tools/fuzz/fuzz_mqtt.c - libFuzzer target: what the MQTT bridge does with
 * untrusted bytes before the engine sees them: the UTF-8 check, presence
 * payloads and device topics. */
#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto/mqtt_devices.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t bad = 0;
    const char *id;
    size_t id_len;
    char *topic;
    int p;

    if (!hub__mqtt_utf8_valid(data, size, &bad))
        assert(bad < size);
    p = hub__mqtt_presence_parse(data, size);
    assert(p >= HUB__PRESENCE_INVALID && p <= HUB__PRESENCE_OFFLINE);
    topic = malloc(size + 1);
    memcpy(topic, data, size);
    topic[size] = '\0';
    if (hub__mqtt_device_topic_id(topic, &id, &id_len))
        assert(id_len >= 1 && id_len <= HUB__DEVICE_ID_MAX && memchr(id, '/', id_len) == NULL);
    free(topic);
    return 0;
}
