/* proto/http_pages.c - pages rendered on the loop thread, where the state
 * they report lives: /readyz. (/metrics and /devices come from their
 * modules' renderers; proto/relay.c brings each request here and back.) */
#include <string.h>

#include <jansson.h>

#include "core/mem.h"
#include "proto/proto_int.h"

char *hub__page_readyz(hub_server_t *s, int *status, size_t *len)
{
    json_t *o = json_object();
    int ready = 1;
    char why[256];
    size_t depth = hub_engine_queue_depth(s->d.engine);

    if (s->d.mqtt != NULL) {
        json_object_set_new(o, "mqtt", json_string(hub_mqtt_status(s->d.mqtt)));
        if (!hub_mqtt_connected(s->d.mqtt))
            ready = 0;
    } else {
        json_object_set_new(o, "mqtt", json_string("disabled (DMX_MQTT_ENABLED=false)"));
    }
    json_object_set_new(o, "queue_depth", json_integer((json_int_t)depth));
    if (depth > 0)
        ready = 0;
    if (s->d.ready != NULL) {
        why[0] = '\0';
        if (!s->d.ready(s->d.ready_ud, why, sizeof(why))) {
            ready = 0;
            json_object_set_new(o, "store", json_string(why));
        }
    }
    if (atomic_load(&s->closing))
        ready = 0;
    json_object_set_new(o, "status", json_string(ready ? "ready" : "not ready"));
    char *text = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(o);
    *status = ready ? 200 : 503;
    *len = strlen(text);
    return text;
}
