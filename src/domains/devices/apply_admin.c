/* domains/devices/apply_admin.c - what operators do to the registry:
 * groups, descriptions, (de)activation, removal, acknowledging a
 * service_failed alert. Their announce (devices.c) publishes the retained
 * topics: <root>/<uuid>/group_id, and the cleared service_failed. */
#include <stdio.h>
#include <string.h>

#include "core/log.h"
#include "core/mem.h"
#include "domains/devices/devices_int.h"

#define GROUP_IDS_MAX 10000

static int group_value(hub_apply_t *ap, const json_t *g, int *has, int64_t *id)
{
    if (json_is_null(g)) {
        *has = 0;
        return 0;
    }
    if (!json_is_integer(g) || json_integer_value(g) < 0)
        return hub_apply_fail(ap, HUB_ERR_INVALID, "group_id",
                              "group_id must be a non-negative integer or null");
    *has = 1;
    *id = json_integer_value(g);
    return 0;
}

static dev_device_t *find(hub_devdom_t *d, hub_apply_t *ap, const json_t *p, const char *key)
{
    const char *id = json_string_value(json_object_get(p, key));
    dev_device_t *v = id ? dev__device(d, id) : NULL;
    if (id == NULL)
        hub_apply_fail(ap, HUB_ERR_INVALID, key, "%s must be a device id", key);
    else if (v == NULL)
        hub_apply_fail(ap, HUB_ERR_NOT_FOUND, key, "Client nicht gefunden");
    return v;
}

int dev__apply_update(void *ctx, hub_apply_t *ap, const json_t *p)
{
    static const char *const keys[] = {"id", "group_id", "description", "is_active", NULL};
    hub_devdom_t *d = ctx;
    const json_t *g = json_object_get(p, "group_id");
    const json_t *desc = json_object_get(p, "description");
    const json_t *act = json_object_get(p, "is_active");
    int has = 0;
    int64_t gid = 0;

    if (hub_apply_check_keys(ap, p, keys) != 0)
        return HUB_EINVAL;
    dev_device_t *v = find(d, ap, p, "id");
    if (v == NULL)
        return HUB_EINVAL;
    if (g != NULL && group_value(ap, g, &has, &gid) != 0)
        return HUB_EINVAL;
    if (desc != NULL && !json_is_null(desc) &&
        (!json_is_string(desc) || json_string_length(desc) > DEV_TEXT_MAX))
        return hub_apply_fail(ap, HUB_ERR_INVALID, "description",
                              "description must be a string of at most %d bytes or null",
                              DEV_TEXT_MAX);
    if (act != NULL && !json_is_boolean(act))
        return hub_apply_fail(ap, HUB_ERR_INVALID, "is_active", "is_active must be true or false");
    if (g != NULL) {
        v->has_group = has;
        v->group_id = gid;
    }
    if (desc != NULL)
        dev__str_set(&v->description, json_string_value(desc),
                     json_is_string(desc) ? json_string_length(desc) : 0);
    if (act != NULL) {
        v->is_active = json_is_true(act);
        v->alive = v->is_active && dev_alive(1, v->last_alive, hub_apply_ts_ms(ap),
                                             (uint64_t)d->cfg.grace_s * 1000u);
    }
    dev__row_device(ap, v);
    dev__change_device(d, ap, v);
    dev__device_alerts(d, ap, v, hub_apply_ts_ms(ap));
    return 0;
}

int dev__apply_group(void *ctx, hub_apply_t *ap, const json_t *p)
{
    static const char *const keys[] = {"ids", "group_id", NULL};
    hub_devdom_t *d = ctx;
    const json_t *ids = json_object_get(p, "ids");
    const json_t *g = json_object_get(p, "group_id");
    int has = 0;
    int64_t gid = 0;
    size_t i;
    const json_t *x;

    if (hub_apply_check_keys(ap, p, keys) != 0)
        return HUB_EINVAL;
    if (!json_is_array(ids) || json_array_size(ids) == 0 || json_array_size(ids) > GROUP_IDS_MAX)
        return hub_apply_fail(ap, HUB_ERR_INVALID, "ids", "ids must be a list of 1-%d device ids",
                              GROUP_IDS_MAX);
    if (g == NULL)
        return hub_apply_fail(ap, HUB_ERR_INVALID, "group_id", "group_id is needed");
    if (group_value(ap, g, &has, &gid) != 0)
        return HUB_EINVAL;
    /* All or nothing: check every id first. */
    json_array_foreach(ids, i, x)
    {
        if (!json_is_string(x) || dev__device(d, json_string_value(x)) == NULL) {
            char field[32];
            snprintf(field, sizeof(field), "ids[%zu]", i);
            return json_is_string(x)
                       ? hub_apply_fail(ap, HUB_ERR_NOT_FOUND, field,
                                        "Client nicht gefunden: %.64s", json_string_value(x))
                       : hub_apply_fail(ap, HUB_ERR_INVALID, field, "a device id is a string");
        }
    }
    json_array_foreach(ids, i, x)
    {
        dev_device_t *v = dev__device(d, json_string_value(x));
        v->has_group = has;
        v->group_id = gid;
        dev__row_device(ap, v);
        dev__change_device(d, ap, v);
    }
    return 0;
}

int dev__apply_delete(void *ctx, hub_apply_t *ap, const json_t *p)
{
    static const char *const keys[] = {"id", NULL};
    hub_devdom_t *d = ctx;
    char path[DEV_ID_MAX + 32];
    size_t n;

    if (hub_apply_check_keys(ap, p, keys) != 0)
        return HUB_EINVAL;
    dev_device_t *v = find(d, ap, p, "id");
    if (v == NULL)
        return HUB_EINVAL;
    /* Its commands and alerts leave the state with it. */
    void **all = dev_map_values(&d->commands, &n);
    for (size_t i = 0; i < n; i++) {
        dev_command_t *c = all[i];
        if (strcmp(c->client, v->id) != 0)
            continue;
        snprintf(path, sizeof(path), "devices.commands.%s", c->id);
        hub_apply_change(ap, path, "null", 4, NULL, 0);
        dev_map_del(&d->commands, c->id);
        dev__orphan_replies(d, c); /* answered once the delete is durable */
        dev__command_free(c);
    }
    hub_free(all);
    all = dev_map_values(&d->alerts, &n);
    for (size_t i = 0; i < n; i++) {
        dev_alert_t *a = all[i];
        if (strcmp(a->device, v->id) != 0)
            continue;
        dev__change_alert(d, ap, NULL, a->id);
        dev_map_del(&d->alerts, a->id);
        hub_free(a);
    }
    hub_free(all);
    snprintf(path, sizeof(path), "devices.registry.%s", v->id);
    hub_apply_change(ap, path, "null", 4, NULL, 0);
    dev__row_device_delete(ap, v->id);
    hub_log(HUB_LOG_INFO, "device_deleted", "{s:s}", "id", v->id);
    dev_map_del(&d->devices, v->id);
    dev__device_free(v);
    return 0;
}

int dev__apply_clear_sf(void *ctx, hub_apply_t *ap, const json_t *p)
{
    static const char *const keys[] = {"id", NULL};
    hub_devdom_t *d = ctx;

    if (hub_apply_check_keys(ap, p, keys) != 0)
        return HUB_EINVAL;
    dev_device_t *v = find(d, ap, p, "id");
    if (v == NULL)
        return HUB_EINVAL;
    if (v->service_failed_at == 0)
        return hub_apply_fail(ap, HUB_ERR_CONFLICT, "service_failed",
                              "Kein service_failed Flag gesetzt.");
    v->service_failed_at = 0;
    dev__str_set(&v->service_failed_unit, NULL, 0);
    hub_log(HUB_LOG_INFO, "service_failed_cleared", "{s:s,s:s}", "uuid", v->id, "by", "operator");
    dev__row_device(ap, v);
    dev__change_device(d, ap, v);
    dev__device_alerts(d, ap, v, hub_apply_ts_ms(ap));
    return 0;
}
