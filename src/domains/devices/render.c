/* domains/devices/render.c - devices, commands and alerts as JSON, and the
 * changes that announce them.
 *
 * Our shapes (state, /api/v1) are snake_case like the fleet's MQTT payloads;
 * seed 004's REST routes keep its camelCase command (dev__render_command_camel).
 * Times are RFC 3339 UTC with milliseconds and Z, or null.
 */
#include <stdio.h>
#include <string.h>

#include "domains/devices/devices_int.h"

static const char *const kind_names[DEV_KIND_COUNT] = {"infoscreen", "esp32", "v1"};
static const char *const presence_names[] = {"unknown", "online", "offline"};

const char *dev__kind_name(int kind)
{
    return kind >= 0 && kind < DEV_KIND_COUNT ? kind_names[kind] : "v1";
}

void dev__time(hub_jbuf_t *b, uint64_t ms)
{
    char t[DEV_TIME_MAX];
    if (ms == 0) {
        hub_jbuf_null(b);
        return;
    }
    dev_time_format(ms, 1, t);
    hub_jbuf_str(b, t);
}

static void str_or_null(hub_jbuf_t *b, const char *s)
{
    if (s == NULL)
        hub_jbuf_null(b);
    else
        hub_jbuf_str(b, s);
}

void dev__render_device(hub_jbuf_t *b, const hub_devdom_t *d, const dev_device_t *v)
{
    (void)d;
    hub_jbuf_open(b, '{');
    hub_jbuf_key(b, "id");
    hub_jbuf_str(b, v->id);
    hub_jbuf_key(b, "kind");
    hub_jbuf_str(b, dev__kind_name(v->kind));
    hub_jbuf_key(b, "group_id");
    if (v->has_group)
        hub_jbuf_int(b, v->group_id);
    else
        hub_jbuf_null(b);
    hub_jbuf_key(b, "description");
    str_or_null(b, v->description);
    hub_jbuf_key(b, "hostname");
    str_or_null(b, v->hostname);
    hub_jbuf_key(b, "ip");
    str_or_null(b, v->ip);
    hub_jbuf_key(b, "first_seen");
    dev__time(b, v->first_seen);
    hub_jbuf_key(b, "last_seen");
    dev__time(b, v->last_seen);
    hub_jbuf_key(b, "presence");
    hub_jbuf_str(b, presence_names[v->presence]);
    hub_jbuf_key(b, "is_active");
    hub_jbuf_bool(b, v->is_active);
    hub_jbuf_key(b, "alive");
    hub_jbuf_bool(b, v->alive);
    hub_jbuf_key(b, "last_alive");
    dev__time(b, v->last_alive);
    hub_jbuf_key(b, "current_process");
    str_or_null(b, v->process);
    hub_jbuf_key(b, "process_pid");
    if (v->has_pid)
        hub_jbuf_int(b, v->pid);
    else
        hub_jbuf_null(b);
    hub_jbuf_key(b, "process_status");
    if (v->has_status)
        hub_jbuf_str(b, dev_proc_name(v->status));
    else
        hub_jbuf_null(b);
    hub_jbuf_key(b, "current_event_id");
    if (v->has_event)
        hub_jbuf_int(b, v->event_id);
    else
        hub_jbuf_null(b);
    hub_jbuf_key(b, "screen_health_status");
    hub_jbuf_str(b, dev_screen_name(v->screen));
    hub_jbuf_key(b, "mqtt_reconnect_count");
    if (v->has_reconnects)
        hub_jbuf_int(b, v->reconnects);
    else
        hub_jbuf_null(b);
    hub_jbuf_key(b, "mqtt_last_disconnect_at");
    dev__time(b, v->last_disconnect);
    hub_jbuf_key(b, "service_failed_at");
    dev__time(b, v->service_failed_at);
    hub_jbuf_key(b, "service_failed_unit");
    str_or_null(b, v->service_failed_unit);
    hub_jbuf_key(b, "health");
    if (v->health != NULL)
        hub_jbuf_json(b, v->health, strlen(v->health));
    else
        hub_jbuf_null(b);
    hub_jbuf_key(b, "health_at");
    dev__time(b, v->health_at);
    hub_jbuf_close(b, '}');
}

/* The command's fields in order, keys from one of the two styles (seed:
 * also its timestamps, isoformat() of an aware time). */
static void render_cmd(hub_jbuf_t *b, const dev_command_t *c, const char *const *k, int seed)
{
    hub_jbuf_open(b, '{');
    hub_jbuf_key(b, k[0]);
    hub_jbuf_str(b, c->id);
    hub_jbuf_key(b, k[1]);
    hub_jbuf_str(b, c->client);
    hub_jbuf_key(b, k[2]);
    hub_jbuf_str(b, dev_action_name(c->action));
    hub_jbuf_key(b, k[3]);
    hub_jbuf_str(b, dev_status_name(c->status));
    hub_jbuf_key(b, k[4]);
    str_or_null(b, c->reason);
    hub_jbuf_key(b, k[5]);
    if (c->requested_by > 0)
        hub_jbuf_int(b, c->requested_by);
    else
        hub_jbuf_null(b);
    const uint64_t times[] = {c->issued,  c->expires,   c->published, c->acked,
                              c->started, c->completed, c->failed};
    for (int i = 0; i < 7; i++) {
        hub_jbuf_key(b, k[6 + i]);
        if (seed)
            dev__time_py(b, times[i], 1);
        else
            dev__time(b, times[i]);
    }
    hub_jbuf_key(b, k[13]);
    str_or_null(b, c->error_code);
    hub_jbuf_key(b, k[14]);
    str_or_null(b, c->error_message);
    hub_jbuf_key(b, k[15]);
    if (seed)
        dev__time_py(b, c->created, 1);
    else
        dev__time(b, c->created);
    hub_jbuf_key(b, k[16]);
    if (seed)
        dev__time_py(b, c->updated, 1);
    else
        dev__time(b, c->updated);
    hub_jbuf_close(b, '}');
}

void dev__render_command(hub_jbuf_t *b, const dev_command_t *c)
{
    static const char *const k[] = {
        "command_id",           "client_uuid",  "action",     "status",       "reason",
        "requested_by",         "issued_at",    "expires_at", "published_at", "acked_at",
        "execution_started_at", "completed_at", "failed_at",  "error_code",   "error_message",
        "created_at",           "updated_at"};
    render_cmd(b, c, k, 0);
}

void dev__render_command_camel(hub_jbuf_t *b, const dev_command_t *c)
{
    static const char *const k[] = {
        "commandId",          "clientUuid",  "action",    "status",      "reason",
        "requestedBy",        "issuedAt",    "expiresAt", "publishedAt", "ackedAt",
        "executionStartedAt", "completedAt", "failedAt",  "errorCode",   "errorMessage",
        "createdAt",          "updatedAt"};
    render_cmd(b, c, k, 1);
}

void dev__render_alert(hub_jbuf_t *b, const dev_alert_t *a)
{
    hub_jbuf_open(b, '{');
    hub_jbuf_key(b, "id");
    hub_jbuf_str(b, a->id);
    hub_jbuf_key(b, "kind");
    hub_jbuf_str(b, a->kind);
    hub_jbuf_key(b, "device");
    if (a->device[0] != '\0')
        hub_jbuf_str(b, a->device);
    else
        hub_jbuf_null(b);
    hub_jbuf_key(b, "since");
    dev__time(b, a->since);
    hub_jbuf_key(b, "message");
    hub_jbuf_str(b, a->message);
    hub_jbuf_close(b, '}');
}

/* ---- changes ---------------------------------------------------------------------- */

void dev__change_device(hub_devdom_t *d, hub_apply_t *ap, const dev_device_t *v)
{
    char path[DEV_ID_MAX + 32];
    hub_jbuf_t *b = hub_apply_scratch(ap);

    dev__render_device(b, d, v);
    snprintf(path, sizeof(path), "devices.registry.%s", v->id);
    hub_apply_change(ap, path, b->p, b->len, NULL, 0);
}

void dev__change_command(hub_devdom_t *d, hub_apply_t *ap, const dev_command_t *c, int publish)
{
    char path[64];
    cmd_native_t nat;
    hub_jbuf_t *b = hub_apply_scratch(ap);

    (void)d;
    memset(&nat, 0, sizeof(nat));
    memcpy(nat.id, c->id, sizeof(nat.id));
    nat.publish = publish;
    dev__render_command(b, c);
    snprintf(path, sizeof(path), "devices.commands.%s", c->id);
    hub_apply_change(ap, path, b->p, b->len, &nat, sizeof(nat));
}

void dev__change_alert(hub_devdom_t *d, hub_apply_t *ap, const dev_alert_t *a, const char *id)
{
    char path[DEV_ID_MAX + 64];
    hub_jbuf_t *b = hub_apply_scratch(ap);

    (void)d;
    snprintf(path, sizeof(path), "devices.alerts.%s", a ? a->id : id);
    if (a == NULL) {
        hub_apply_change(ap, path, "null", 4, NULL, 0);
        return;
    }
    hub_jbuf_reset(b);
    dev__render_alert(b, a);
    hub_apply_change(ap, path, b->p, b->len, NULL, 0);
}
