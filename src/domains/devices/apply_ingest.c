/* domains/devices/apply_ingest.c - what device telemetry does to the registry.
 *
 * ingest.c checked and mapped every field; here a message meets the state:
 * an unknown device is refused (counted as unknown_device), a known one is
 * updated and announced as a whole entity, with its alerts.
 */
#include <stdio.h>
#include <string.h>

#include "core/log.h"
#include "core/mem.h"
#include "domains/devices/devices_int.h"

/* The infoscreen the message is about; refused (and counted) when unknown. */
static dev_device_t *known(hub_devdom_t *d, hub_apply_t *ap, const json_t *p)
{
    const char *id = json_string_value(json_object_get(p, "uuid"));
    dev_device_t *v = id ? dev__device(d, id) : NULL;
    if (v == NULL) {
        dev__reject(d, DEV_REJ_UNKNOWN_DEVICE, json_string_value(json_object_get(p, "topic")),
                    "unknown device %s: it must announce itself on discovery first", id ? id : "?");
        hub_apply_fail(ap, HUB_ERR_NOT_FOUND, "uuid", "unknown device");
    }
    return v;
}

/* The registry is bounded (FLEET_MAX_DEVICES): a broker client announcing
 * endless fresh ids must not eat the hub's memory. Refused and counted. */
static int room_full(hub_devdom_t *d, hub_apply_t *ap, const json_t *p)
{
    if (d->devices.n < (size_t)d->cfg.max_devices)
        return 0;
    dev__reject(d, DEV_REJ_REGISTRY_FULL, json_string_value(json_object_get(p, "topic")),
                "the registry holds %d devices already (FLEET_MAX_DEVICES): delete unused ones "
                "(DELETE /api/v1/devices/<id>) or raise it",
                d->cfg.max_devices);
    hub_apply_fail(ap, HUB_ERR_CONFLICT, "", "the registry is full");
    return 1;
}

static void take_telemetry(dev_device_t *v, const json_t *p)
{
    const json_t *x;
    const char *s;

    if ((s = json_string_value(json_object_get(p, "current_process"))) != NULL)
        dev__str_set(&v->process, s, strlen(s));
    if ((x = json_object_get(p, "process_pid")) != NULL) {
        v->has_pid = 1;
        v->pid = json_integer_value(x);
    }
    if ((s = json_string_value(json_object_get(p, "process_status"))) != NULL)
        v->has_status = dev_proc_parse(s, &v->status) == 0;
    if ((x = json_object_get(p, "current_event_id")) != NULL) {
        v->has_event = 1;
        v->event_id = json_integer_value(x);
    }
    if ((s = json_string_value(json_object_get(p, "screen_health_status"))) != NULL)
        dev_screen_parse(s, &v->screen);
    if ((x = json_object_get(p, "mqtt_reconnect_count")) != NULL) {
        v->has_reconnects = 1;
        v->reconnects = json_integer_value(x);
    }
    if ((x = json_object_get(p, "mqtt_last_disconnect_at")) != NULL)
        v->last_disconnect = (uint64_t)json_integer_value(x);
}

static void commit(hub_devdom_t *d, hub_apply_t *ap, dev_device_t *v, uint64_t now)
{
    dev__row_device(ap, v);
    dev__change_device(d, ap, v);
    dev__device_alerts(d, ap, v, now);
}

int dev__apply_discovery(void *ctx, hub_apply_t *ap, const json_t *p)
{
    hub_devdom_t *d = ctx;
    const char *id = json_string_value(json_object_get(p, "uuid"));
    const char *s;
    uint64_t now = hub_apply_ts_ms(ap);

    if (dev__own_only(ap) != 0)
        return HUB_EINVAL;
    if (id == NULL || !dev_id_valid(id, strlen(id)))
        return hub_apply_fail(ap, HUB_ERR_INVALID, "uuid", "uuid must be a UUID");
    dev_device_t *v = dev__device(d, id);
    if (v == NULL && room_full(d, ap, p))
        return HUB_EINVAL;
    if (v == NULL) {
        v = dev__device_new(d, id, DEV_KIND_INFOSCREEN, now);
        hub_log(HUB_LOG_INFO, "device_registered", "{s:s,s:s}", "id", id, "kind", "infoscreen");
    }
    v->kind = DEV_KIND_INFOSCREEN;
    if ((s = json_string_value(json_object_get(p, "hostname"))) != NULL)
        dev__str_set(&v->hostname, s, strlen(s));
    if ((s = json_string_value(json_object_get(p, "ip"))) != NULL)
        dev__str_set(&v->ip, s, strlen(s));
    const json_t *info = json_object_get(p, "info");
    if (info != NULL) {
        char *text = json_dumps(info, JSON_COMPACT | JSON_PRESERVE_ORDER);
        if (text != NULL && strlen(text) <= DEV_HEALTH_MAX)
            dev__str_set(&v->info, text, strlen(text));
        free(text);
    }
    v->last_seen = now;
    v->presence = DEV_PRES_ONLINE;
    commit(d, ap, v, now);
    return 0;
}

int dev__apply_heartbeat(void *ctx, hub_apply_t *ap, const json_t *p)
{
    hub_devdom_t *d = ctx;
    dev_device_t *v;
    uint64_t now = hub_apply_ts_ms(ap);

    if (dev__own_only(ap) != 0 || (v = known(d, ap, p)) == NULL)
        return HUB_EINVAL;
    take_telemetry(v, p);
    v->last_alive = v->last_seen = now;
    v->presence = DEV_PRES_ONLINE;
    v->alive = v->is_active;
    commit(d, ap, v, now);
    return 0;
}

int dev__apply_health(void *ctx, hub_apply_t *ap, const json_t *p)
{
    hub_devdom_t *d = ctx;
    dev_device_t *v;
    uint64_t now = hub_apply_ts_ms(ap);

    if (dev__own_only(ap) != 0 || (v = known(d, ap, p)) == NULL)
        return HUB_EINVAL;
    take_telemetry(v, p);
    char *text = json_dumps(json_object_get(p, "health"), JSON_COMPACT | JSON_PRESERVE_ORDER);
    dev__str_set(&v->health, text, text ? strlen(text) : 0);
    free(text);
    v->health_at = v->last_seen = now;
    hub_log(HUB_LOG_DEBUG, "device_health", "{s:s,s:s,s:s}", "uuid", v->id, "process",
            v->process ? v->process : "", "status", v->has_status ? dev_proc_name(v->status) : "");
    commit(d, ap, v, now);
    return 0;
}

int dev__apply_log(void *ctx, hub_apply_t *ap, const json_t *p)
{
    hub_devdom_t *d = ctx;
    dev_device_t *v;
    uint64_t now = hub_apply_ts_ms(ap);
    const json_t *ts = json_object_get(p, "timestamp");
    const char *level = json_string_value(json_object_get(p, "level"));
    const char *msg = json_string_value(json_object_get(p, "message"));

    if (dev__own_only(ap) != 0 || (v = known(d, ap, p)) == NULL)
        return HUB_EINVAL;
    if (level == NULL || msg == NULL)
        return hub_apply_fail(ap, HUB_ERR_INVALID, "", "level and message are needed");
    dev__row_log(d, ap, v, level, ts ? (uint64_t)json_integer_value(ts) : now, msg,
                 json_string_value(json_object_get(p, "context")), now);
    hub_metric_inc(d->m_logs);
    return 0;
}

int dev__apply_service_failed(void *ctx, hub_apply_t *ap, const json_t *p)
{
    hub_devdom_t *d = ctx;
    dev_device_t *v;
    uint64_t now = hub_apply_ts_ms(ap);
    const json_t *at = json_object_get(p, "failed_at");
    const char *unit = json_string_value(json_object_get(p, "unit"));
    char when[DEV_TIME_MAX];

    if (dev__own_only(ap) != 0 || (v = known(d, ap, p)) == NULL)
        return HUB_EINVAL;
    v->service_failed_at = at ? (uint64_t)json_integer_value(at) : now;
    dev__str_set(&v->service_failed_unit, unit, unit ? strlen(unit) : 0);
    dev_time_format(v->service_failed_at, 1, when);
    hub_log(HUB_LOG_WARN, "service_failed", "{s:s,s:s,s:s}", "uuid", v->id, "unit",
            unit ? unit : "", "failed_at", when);
    commit(d, ap, v, now);
    return 0;
}

int dev__apply_presence(void *ctx, hub_apply_t *ap, const json_t *p)
{
    hub_devdom_t *d = ctx;
    const char *id = json_string_value(json_object_get(p, "id"));
    const char *kind = json_string_value(json_object_get(p, "kind"));
    const char *pres = json_string_value(json_object_get(p, "presence"));
    uint64_t now = hub_apply_ts_ms(ap);

    if (dev__own_only(ap) != 0)
        return HUB_EINVAL;
    if (id == NULL || !dev_id_valid(id, strlen(id)) || kind == NULL || pres == NULL)
        return hub_apply_fail(ap, HUB_ERR_INVALID, "", "id, kind and presence are needed");
    int online = strcmp(pres, "online") == 0;
    int unknown = strcmp(pres, "unknown") == 0;
    int want = online ? DEV_PRES_ONLINE : unknown ? DEV_PRES_UNKNOWN : DEV_PRES_OFFLINE;
    dev_device_t *v = dev__device(d, id);
    if (v == NULL && unknown) /* cleared before it was ever seen */
        return hub_apply_fail(ap, HUB_ERR_CONFLICT, "presence", "unknown device, nothing known");
    if (v == NULL && room_full(d, ap, p))
        return HUB_EINVAL;
    if (v == NULL) {
        v = dev__device_new(d, id, strcmp(kind, "esp32") == 0 ? DEV_KIND_ESP32 : DEV_KIND_V1, now);
        hub_log(HUB_LOG_INFO, "device_registered", "{s:s,s:s}", "id", id, "kind", kind);
    } else if (v->presence == want && v->kind != DEV_KIND_INFOSCREEN) {
        /* a repeated status (retained, or a reconnect): nothing to announce */
        return hub_apply_fail(ap, HUB_ERR_CONFLICT, "presence", "unchanged");
    }
    /* seed 002's mqtt_devices logger line */
    hub_log(HUB_LOG_INFO, "device_status", "{s:s,s:s,s:s}", "logger", "mqtt_devices", "id", id,
            "status", pres);
    v->presence = want;
    v->last_seen = now;
    if (v->kind != DEV_KIND_INFOSCREEN) {
        v->alive = online && v->is_active; /* no heartbeats: presence is liveness */
        if (online)
            v->last_alive = now;
    }
    commit(d, ap, v, now);
    return 0;
}
