/* domains/devices/ingest.c - the fleet's MQTT topics, turned into intents.
 *
 *   <root>/discovery                   device.discovery (registers, answers discovery_ack)
 *   <root>/<uuid>/heartbeat            device.heartbeat (last_alive, enhanced fields)
 *   <root>/<uuid>/health               device.health (seed 004's field mapping)
 *   <root>/<uuid>/logs/error|warn|info device.log
 *   <root>/<uuid>/service_failed       device.service_failed (empty = cleared: ignored)
 *   <root>/<uuid>/commands/ack         device.ack (and the alias .../command/ack)
 *   devices/<id>/status                device.presence of an ESP32 (online/offline);
 *                                      OK/ERROR is scene feedback, not presence
 *   v1/devices/<id>/state              device.presence of a seed-000 device
 *
 * Every topic is raw (domain.h): what is refused here is logged with its
 * topic and counted in fleet_ingest_rejected_total{reason}, and changes
 * nothing. Parsing happens here, on the loop thread as the message arrives,
 * so the intent carries checked values and apply stays small.
 */
#include <stdio.h>
#include <string.h>

#include "core/log.h"
#include "core/uuid.h"
#include "domains/devices/devices_int.h"
#include "engine/intent.h"

/* The second topic level, a UUID; NULL (rejected) when it is not. */
static int topic_uuid(hub_devdom_t *d, const char *topic, char out[HUB_UUID_LEN + 1])
{
    const char *a = strchr(topic, '/');
    const char *b = a ? strchr(a + 1, '/') : NULL;

    if (a == NULL || b == NULL || !hub_uuid_valid(a + 1, (size_t)(b - a - 1))) {
        dev__reject(d, DEV_REJ_BAD_UUID, topic, "the topic's second level must be a UUID");
        return -1;
    }
    memcpy(out, a + 1, HUB_UUID_LEN);
    out[HUB_UUID_LEN] = '\0';
    /* lower case: one device, whatever case its firmware prints */
    for (int i = 0; i < HUB_UUID_LEN; i++)
        if (out[i] >= 'A' && out[i] <= 'F')
            out[i] = (char)(out[i] - 'A' + 'a');
    return 0;
}

/* Why jansson refused a payload: bytes that are not UTF-8, or not JSON. */
static int not_json_reason(const json_error_t *jerr)
{
    return strstr(jerr->text, "decode") != NULL || strstr(jerr->text, "UTF-8") != NULL
               ? DEV_REJ_NOT_UTF8
               : DEV_REJ_NOT_JSON;
}

/* Parse a JSON payload; NULL (rejected) on anything but an object. */
static json_t *parse(hub_devdom_t *d, const char *topic, const char *payload, size_t len)
{
    json_error_t jerr;
    json_t *o;

    if (len > DEV_PAYLOAD_MAX) {
        dev__reject(d, DEV_REJ_TOO_LARGE, topic, "payload of %zu bytes (limit %d)", len,
                    DEV_PAYLOAD_MAX);
        return NULL;
    }
    o = json_loadb(payload, len, JSON_REJECT_DUPLICATES, &jerr);
    if (o == NULL) {
        dev__reject(d, not_json_reason(&jerr), topic, "%s at line %d column %d", jerr.text,
                    jerr.line, jerr.column);
        return NULL;
    }
    if (!json_is_object(o)) {
        dev__reject(d, DEV_REJ_NOT_JSON, topic, "the payload must be a JSON object");
        json_decref(o);
        return NULL;
    }
    return o;
}

static int make(hub_intent_t **out, const char *name, json_t *payload)
{
    *out = dev__intent_new(name, "mqtt");
    hub_intent_set_payload(*out, payload);
    return 0;
}

/* The telemetry fields as the intent's members. */
static void put_telemetry(json_t *p, const dev_telemetry_t *t)
{
    if (t->has_process)
        json_object_set_new(p, "current_process", json_string(t->process));
    if (t->has_pid)
        json_object_set_new(p, "process_pid", json_integer(t->pid));
    if (t->has_status)
        json_object_set_new(p, "process_status", json_string(dev_proc_name(t->status)));
    if (t->has_event)
        json_object_set_new(p, "current_event_id", json_integer(t->event_id));
    if (t->has_screen)
        json_object_set_new(p, "screen_health_status", json_string(dev_screen_name(t->screen)));
    if (t->has_reconnects)
        json_object_set_new(p, "mqtt_reconnect_count", json_integer(t->reconnects));
    if (t->has_disconnect)
        json_object_set_new(p, "mqtt_last_disconnect_at",
                            json_integer((json_int_t)t->disconnect_ms));
}

static void log_ignored(const char *topic, const dev_telemetry_t *t)
{
    for (int i = 0; i < t->nignored; i++)
        hub_log(HUB_LOG_DEBUG, "fleet_field_ignored", "{s:s,s:s}", "topic", topic, "field",
                t->ignored[i]);
}

static int on_discovery(void *ctx, const char *topic, const char *payload, size_t len,
                        hub_intent_t **out, hub_error_t *err)
{
    hub_devdom_t *d = ctx;
    json_t *o = parse(d, topic, payload, len);
    (void)err;
    if (o == NULL)
        return 0;
    const json_t *u = json_object_get(o, "uuid");
    if (!json_is_string(u) || !hub_uuid_valid(json_string_value(u), json_string_length(u))) {
        dev__reject(d, DEV_REJ_BAD_UUID, topic, "discovery needs \"uuid\": a UUID");
        json_decref(o);
        return 0;
    }
    char id[HUB_UUID_LEN + 1];
    memcpy(id, json_string_value(u), sizeof(id));
    for (int i = 0; i < HUB_UUID_LEN; i++)
        if (id[i] >= 'A' && id[i] <= 'F')
            id[i] = (char)(id[i] - 'A' + 'a');
    json_t *p = json_pack("{s:s,s:s}", "uuid", id, "topic", topic);
    static const char *const texts[] = {"hostname", "ip"};
    for (int i = 0; i < 2; i++) {
        const json_t *v = json_object_get(o, texts[i]);
        if (json_is_string(v) && json_string_length(v) <= DEV_TEXT_MAX)
            json_object_set(p, texts[i], (json_t *)v);
    }
    json_object_set_new(p, "info", o); /* takes o */
    return make(out, "device.discovery", p);
}

static int on_heartbeat(void *ctx, const char *topic, const char *payload, size_t len,
                        hub_intent_t **out, hub_error_t *err)
{
    hub_devdom_t *d = ctx;
    char id[HUB_UUID_LEN + 1];
    dev_telemetry_t t;
    json_t *o = NULL;

    (void)err;
    if (topic_uuid(d, topic, id) != 0)
        return 0;
    if (len > 0 && (o = parse(d, topic, payload, len)) == NULL)
        return 0;
    dev_heartbeat_map(o, &t);
    log_ignored(topic, &t);
    json_decref(o);
    json_t *p = json_pack("{s:s,s:s}", "uuid", id, "topic", topic);
    put_telemetry(p, &t);
    return make(out, "device.heartbeat", p);
}

static int on_health(void *ctx, const char *topic, const char *payload, size_t len,
                     hub_intent_t **out, hub_error_t *err)
{
    hub_devdom_t *d = ctx;
    char id[HUB_UUID_LEN + 1];
    dev_telemetry_t t;

    (void)err;
    if (topic_uuid(d, topic, id) != 0)
        return 0;
    if (len > DEV_HEALTH_MAX) {
        dev__reject(d, DEV_REJ_TOO_LARGE, topic, "health payload of %zu bytes (limit %d)", len,
                    DEV_HEALTH_MAX);
        return 0;
    }
    json_t *o = parse(d, topic, payload, len);
    if (o == NULL)
        return 0;
    dev_health_map(o, &t);
    log_ignored(topic, &t);
    json_t *p = json_pack("{s:s,s:s,s:o}", "uuid", id, "topic", topic, "health", o);
    put_telemetry(p, &t);
    return make(out, "device.health", p);
}

static int on_log(void *ctx, const char *topic, const char *payload, size_t len, hub_intent_t **out,
                  hub_error_t *err)
{
    hub_devdom_t *d = ctx;
    char id[HUB_UUID_LEN + 1];
    const char *lvl = strrchr(topic, '/');
    const char *level = strcmp(lvl, "/error") == 0  ? "ERROR"
                        : strcmp(lvl, "/warn") == 0 ? "WARN"
                                                    : "INFO";
    uint64_t ts = 0;

    (void)err;
    if (topic_uuid(d, topic, id) != 0)
        return 0;
    json_t *o = parse(d, topic, payload, len);
    if (o == NULL)
        return 0;
    const json_t *msg = json_object_get(o, "message");
    const json_t *t = json_object_get(o, "timestamp");
    if (!json_is_string(msg) || json_string_length(msg) > DEV_LOG_MESSAGE_MAX) {
        dev__reject(d, DEV_REJ_BAD_FIELD, topic, "message must be a string of at most %d bytes",
                    DEV_LOG_MESSAGE_MAX);
        json_decref(o);
        return 0;
    }
    if (json_is_string(t) && dev_time_parse(json_string_value(t), json_string_length(t), &ts) != 0)
        ts = 0; /* unreadable: the time it arrived */
    json_t *p =
        json_pack("{s:s,s:s,s:s,s:O}", "uuid", id, "topic", topic, "level", level, "message", msg);
    if (ts != 0)
        json_object_set_new(p, "timestamp", json_integer((json_int_t)ts));
    const json_t *c = json_object_get(o, "context");
    if (c != NULL && !json_is_null(c)) {
        char *text = json_dumps(c, JSON_COMPACT | JSON_ENCODE_ANY | JSON_PRESERVE_ORDER);
        if (text != NULL && strlen(text) <= DEV_LOG_MESSAGE_MAX)
            json_object_set_new(p, "context", json_string(text));
        free(text);
    }
    json_decref(o);
    return make(out, "device.log", p);
}

static int on_service_failed(void *ctx, const char *topic, const char *payload, size_t len,
                             hub_intent_t **out, hub_error_t *err)
{
    hub_devdom_t *d = ctx;
    char id[HUB_UUID_LEN + 1];
    uint64_t at = 0;

    (void)err;
    if (topic_uuid(d, topic, id) != 0)
        return 0;
    if (len == 0) { /* the retained message was cleared (by us or by hand) */
        hub_log(HUB_LOG_INFO, "service_failed_cleared", "{s:s}", "uuid", id);
        return 0;
    }
    json_t *o = parse(d, topic, payload, len);
    if (o == NULL)
        return 0;
    const json_t *unit = json_object_get(o, "unit");
    const json_t *fa = json_object_get(o, "failed_at");
    if (json_is_string(fa))
        dev_time_parse(json_string_value(fa), json_string_length(fa), &at);
    json_t *p = json_pack("{s:s,s:s}", "uuid", id, "topic", topic);
    if (json_is_string(unit)) {
        /* truncated to 128 characters, as the seed's listener does */
        const char *s = json_string_value(unit);
        size_t n = 0, chars = 0;
        while (s[n] != '\0' && chars < DEV_UNIT_MAX) {
            n++;
            while (((unsigned char)s[n] & 0xC0) == 0x80)
                n++;
            chars++;
        }
        json_object_set_new(p, "unit", json_stringn(s, n));
    }
    if (at != 0)
        json_object_set_new(p, "failed_at", json_integer((json_int_t)at));
    json_decref(o);
    return make(out, "device.service_failed", p);
}

static int on_ack(void *ctx, const char *topic, const char *payload, size_t len, hub_intent_t **out,
                  hub_error_t *err)
{
    static const char *const names[] = {"accepted", "execution_started", "completed", "failed"};
    hub_devdom_t *d = ctx;
    char id[HUB_UUID_LEN + 1], why[200];
    const char *reason;
    json_error_t jerr;
    dev_ack_t ack;

    (void)err;
    if (topic_uuid(d, topic, id) != 0)
        return 0;
    if (len > DEV_PAYLOAD_MAX) {
        dev__reject(d, DEV_REJ_TOO_LARGE, topic, "payload of %zu bytes", len);
        return 0;
    }
    json_t *o = json_loadb(payload, len, JSON_REJECT_DUPLICATES, &jerr);
    if (o == NULL) {
        dev__reject(d, not_json_reason(&jerr), topic, "%s at line %d column %d", jerr.text,
                    jerr.line, jerr.column);
        return 0;
    }
    if (dev_ack_parse(o, &ack, &reason, why, sizeof(why)) != 0) {
        dev__reject(d, DEV_REJ_BAD_ACK, topic, "%s: %s", reason, why);
        json_decref(o);
        return 0;
    }
    json_t *p = json_pack("{s:s,s:s,s:s,s:s}", "uuid", id, "topic", topic, "command_id",
                          ack.command_id, "status", names[ack.status]);
    json_object_set_new(p, "error_code",
                        ack.error_code ? json_string(ack.error_code) : json_null());
    json_object_set_new(p, "error_message",
                        ack.error_message ? json_string(ack.error_message) : json_null());
    json_decref(o);
    return make(out, "device.ack", p);
}

/* devices/<id>/status and v1/devices/<id>/state: the id is the level
 * before the last. */
static int presence_id(hub_devdom_t *d, const char *topic, char out[DEV_ID_MAX + 1])
{
    const char *end = strrchr(topic, '/');
    const char *start = end;
    while (start > topic && start[-1] != '/')
        start--;
    if (end == NULL || !dev_id_valid(start, (size_t)(end - start))) {
        dev__reject(d, DEV_REJ_BAD_FIELD, topic,
                    "a device id is 1-64 characters of A-Z a-z 0-9 _ : -");
        return -1;
    }
    memcpy(out, start, (size_t)(end - start));
    out[end - start] = '\0';
    return 0;
}

/* online: 1, 0, or -1 for unknown (a cleared retained status). */
static int presence(hub_devdom_t *d, const char *topic, const char *id, const char *kind,
                    int online, hub_intent_t **out)
{
    json_t *p = json_pack("{s:s,s:s,s:s,s:s}", "id", id, "kind", kind, "presence",
                          online > 0    ? "online"
                          : online == 0 ? "offline"
                                        : "unknown",
                          "topic", topic);
    (void)d;
    return make(out, "device.presence", p);
}

static int eq(const char *p, size_t len, const char *s)
{
    return len == strlen(s) && memcmp(p, s, len) == 0;
}

static int on_esp32(void *ctx, const char *topic, const char *payload, size_t len,
                    hub_intent_t **out, hub_error_t *err)
{
    hub_devdom_t *d = ctx;
    char id[DEV_ID_MAX + 1];

    (void)err;
    if (presence_id(d, topic, id) != 0)
        return 0;
    if (len == 0) /* its retained status was cleared: nothing known */
        return presence(d, topic, id, "esp32", -1, out);
    if (eq(payload, len, "online") || eq(payload, len, "offline"))
        return presence(d, topic, id, "esp32", eq(payload, len, "online"), out);
    if (eq(payload, len, "OK") || eq(payload, len, "ERROR")) {
        hub_log(HUB_LOG_DEBUG, "device_feedback", "{s:s,s:s}", "topic", topic, "status",
                eq(payload, len, "OK") ? "OK" : "ERROR");
        return 0; /* feedback: the scenes' business */
    }
    dev__reject(d, DEV_REJ_BAD_PAYLOAD, topic,
                "expected online, offline (presence) or OK, ERROR (feedback)");
    return 0;
}

/* Seed 000's presence; the MQTT adapter checked the payload already. */
static int on_v1(void *ctx, const char *topic, const char *payload, size_t len, hub_intent_t **out,
                 hub_error_t *err)
{
    hub_devdom_t *d = ctx;
    char id[DEV_ID_MAX + 1];
    int online;

    (void)err;
    if (presence_id(d, topic, id) != 0)
        return 0;
    if (len == 0) { /* its retained state was cleared (GET /devices drops it) */
        online = -1;
    } else if (eq(payload, len, "online") || eq(payload, len, "offline")) {
        online = eq(payload, len, "online");
    } else {
        json_t *o = json_loadb(payload, len, 0, NULL);
        const char *s = json_string_value(json_object_get(o, "state"));
        online = s && strcmp(s, "online") == 0;
        int ok = s && (online || strcmp(s, "offline") == 0);
        json_decref(o);
        if (!ok) {
            dev__reject(d, DEV_REJ_BAD_PAYLOAD, topic, "expected online or offline");
            return 0;
        }
    }
    return presence(d, topic, id, "v1", online, out);
}

void dev__topics_init(hub_devdom_t *d)
{
    /* root: under FLEET_TOPIC_ROOT; else the topic as it is */
    struct {
        int root;
        const char *tail;
        int (*fn)(void *, const char *, const char *, size_t, hub_intent_t **, hub_error_t *);
    } t[] = {
        {1, "/discovery", on_discovery},
        {1, "/+/heartbeat", on_heartbeat},
        {1, "/+/health", on_health},
        {1, "/+/logs/error", on_log},
        {1, "/+/logs/warn", on_log},
        {1, "/+/logs/info", on_log},
        {1, "/+/service_failed", on_service_failed},
        {1, "/+/commands/ack", on_ack},
        {1, "/+/command/ack", on_ack},
        {0, "devices/+/status", on_esp32},
        {0, "v1/devices/+/state", on_v1},
    };
    size_t n = sizeof(t) / sizeof(t[0]);

    for (size_t i = 0; i < n; i++) {
        snprintf(d->topic_buf[i], sizeof(d->topic_buf[i]), "%s%s", t[i].root ? d->root : "",
                 t[i].tail);
        d->topics[i].filter = d->topic_buf[i];
        d->topics[i].to_intent = t[i].fn;
        d->topics[i].raw = 1;
    }
    d->topics[n].filter = NULL;
}
