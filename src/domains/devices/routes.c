/* domains/devices/routes.c - REST: seed 004's /api/clients routes with its
 * bodies and key styles, and ours under /api/v1/devices.
 *
 * Seed routes keep the seed's timestamps too: Python's isoformat() of a
 * naive UTC time for clients ("2026-04-05T08:00:00", the dashboard appends
 * the Z) and of an aware one for commands ("…+00:00"). Ours are RFC 3339
 * with Z. Reads that need SQLite (logs, old commands) are in logs.c.
 */
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "core/clock.h"
#include "core/mem.h"
#include "domains/devices/devices_int.h"

/* ---- helpers ------------------------------------------------------------------------ */

/* Python's datetime.isoformat(): microseconds only when non-zero. */
void dev__time_py(hub_jbuf_t *b, uint64_t ms, int aware)
{
    char t[DEV_TIME_MAX], out[48];
    if (ms == 0) {
        hub_jbuf_null(b);
        return;
    }
    dev_time_format(ms, 0, t);
    t[strlen(t) - 1] = '\0'; /* drop the Z */
    if (ms % 1000 != 0)
        snprintf(out, sizeof(out), "%s.%03u000%s", t, (unsigned)(ms % 1000), aware ? "+00:00" : "");
    else
        snprintf(out, sizeof(out), "%s%s", t, aware ? "+00:00" : "");
    hub_jbuf_str(b, out);
}

static void str_or_null(hub_jbuf_t *b, const char *s)
{
    if (s)
        hub_jbuf_str(b, s);
    else
        hub_jbuf_null(b);
}

static void group_or_null(hub_jbuf_t *b, const dev_device_t *v)
{
    if (v->has_group)
        hub_jbuf_int(b, v->group_id);
    else
        hub_jbuf_null(b);
}

static int by_id(const void *a, const void *b)
{
    return strcmp((*(dev_device_t *const *)a)->id, (*(dev_device_t *const *)b)->id);
}

/* The devices sorted by id (kind < 0: all kinds). */
static dev_device_t **sorted(const hub_devdom_t *d, int kind, size_t *n)
{
    size_t k = 0;
    void **all = dev_map_values(&d->devices, n);
    for (size_t i = 0; i < *n; i++)
        if (kind < 0 || ((dev_device_t *)all[i])->kind == kind)
            all[k++] = all[i];
    *n = k;
    qsort(all, k, sizeof(*all), by_id);
    return (dev_device_t **)all;
}

static int alive_now(const hub_devdom_t *d, const dev_device_t *v)
{
    return dev_alive(v->is_active, v->last_alive, hub_wall_ms(), (uint64_t)d->cfg.grace_s * 1000u);
}

static int not_found(hub_error_t *err)
{
    return hub_error_set(err, HUB_ERR_NOT_FOUND, "", "Client nicht gefunden");
}

/* ---- seed 004 reads ---------------------------------------------------------------- */

static int with_alive_status(void *ctx, const hub_route_req_t *rq, hub_jbuf_t *b, hub_error_t *err)
{
    hub_devdom_t *d = ctx;
    size_t n;
    dev_device_t **all = sorted(d, DEV_KIND_INFOSCREEN, &n);
    (void)rq;
    (void)err;
    hub_jbuf_open(b, '[');
    for (size_t i = 0; i < n; i++) {
        const dev_device_t *v = all[i];
        hub_jbuf_open(b, '{');
        hub_jbuf_key(b, "uuid");
        hub_jbuf_str(b, v->id);
        hub_jbuf_key(b, "description");
        str_or_null(b, v->description);
        hub_jbuf_key(b, "hostname");
        str_or_null(b, v->hostname);
        hub_jbuf_key(b, "ip");
        str_or_null(b, v->ip);
        hub_jbuf_key(b, "last_alive");
        dev__time_py(b, v->last_alive, 0);
        hub_jbuf_key(b, "is_active");
        hub_jbuf_bool(b, v->is_active);
        hub_jbuf_key(b, "is_alive");
        hub_jbuf_bool(b, alive_now(d, v));
        hub_jbuf_key(b, "group_id");
        group_or_null(b, v);
        hub_jbuf_close(b, '}');
    }
    hub_jbuf_close(b, ']');
    hub_free(all);
    return 0;
}

static void client_head(hub_jbuf_t *b, const dev_device_t *v)
{
    hub_jbuf_key(b, "uuid");
    hub_jbuf_str(b, v->id);
    hub_jbuf_key(b, "description");
    str_or_null(b, v->description);
    hub_jbuf_key(b, "hostname");
    str_or_null(b, v->hostname);
    hub_jbuf_key(b, "ip");
    str_or_null(b, v->ip);
    hub_jbuf_key(b, "group_id");
    group_or_null(b, v);
}

static int crashed(void *ctx, const hub_route_req_t *rq, hub_jbuf_t *b, hub_error_t *err)
{
    hub_devdom_t *d = ctx;
    size_t n, count = 0;
    dev_device_t **all = sorted(d, DEV_KIND_INFOSCREEN, &n);
    hub_jbuf_t list;
    (void)rq;
    (void)err;

    hub_jbuf_init(&list);
    hub_jbuf_open(&list, '[');
    for (size_t i = 0; i < n; i++) {
        const dev_device_t *v = all[i];
        int alive = alive_now(d, v);
        int is_crashed = v->has_status && v->status == DEV_PROC_CRASHED;
        if (!v->is_active || (alive && !is_crashed))
            continue;
        count++;
        hub_jbuf_open(&list, '{');
        client_head(&list, v);
        hub_jbuf_key(&list, "is_alive");
        hub_jbuf_bool(&list, alive);
        hub_jbuf_key(&list, "process_status");
        if (v->has_status)
            hub_jbuf_str(&list, dev_proc_name(v->status));
        else
            hub_jbuf_null(&list);
        hub_jbuf_key(&list, "screen_health_status");
        hub_jbuf_str(&list, dev_screen_name(v->screen));
        hub_jbuf_key(&list, "last_alive");
        dev__time_py(&list, v->last_alive, 0);
        hub_jbuf_key(&list, "crash_reason");
        hub_jbuf_str(&list, is_crashed ? "process_crashed" : "heartbeat_stale");
        hub_jbuf_close(&list, '}');
    }
    hub_jbuf_close(&list, ']');
    hub_jbuf_open(b, '{');
    hub_jbuf_key(b, "crashed_count");
    hub_jbuf_uint(b, count);
    hub_jbuf_key(b, "grace_period_seconds");
    hub_jbuf_int(b, d->cfg.grace_s);
    hub_jbuf_key(b, "clients");
    hub_jbuf_raw(b, list.p, list.len);
    hub_jbuf_close(b, '}');
    hub_jbuf_free(&list);
    hub_free(all);
    return 0;
}

static int by_failed_desc(const void *a, const void *b)
{
    const dev_device_t *x = *(dev_device_t *const *)a, *y = *(dev_device_t *const *)b;
    return x->service_failed_at > y->service_failed_at   ? -1
           : x->service_failed_at < y->service_failed_at ? 1
                                                         : strcmp(x->id, y->id);
}

static int service_failed(void *ctx, const hub_route_req_t *rq, hub_jbuf_t *b, hub_error_t *err)
{
    hub_devdom_t *d = ctx;
    size_t n, k = 0;
    dev_device_t **all = sorted(d, DEV_KIND_INFOSCREEN, &n);
    (void)rq;
    (void)err;

    for (size_t i = 0; i < n; i++)
        if (all[i]->service_failed_at != 0)
            all[k++] = all[i];
    qsort(all, k, sizeof(*all), by_failed_desc);
    hub_jbuf_open(b, '{');
    hub_jbuf_key(b, "service_failed_count");
    hub_jbuf_uint(b, k);
    hub_jbuf_key(b, "clients");
    hub_jbuf_open(b, '[');
    for (size_t i = 0; i < k; i++) {
        const dev_device_t *v = all[i];
        hub_jbuf_open(b, '{');
        client_head(b, v);
        hub_jbuf_key(b, "service_failed_at");
        dev__time_py(b, v->service_failed_at, 0);
        hub_jbuf_key(b, "service_failed_unit");
        str_or_null(b, v->service_failed_unit);
        hub_jbuf_key(b, "is_alive");
        hub_jbuf_bool(b, alive_now(d, v));
        hub_jbuf_key(b, "last_alive");
        dev__time_py(b, v->last_alive, 0);
        hub_jbuf_close(b, '}');
    }
    hub_jbuf_close(b, ']');
    hub_jbuf_close(b, '}');
    hub_free(all);
    return 0;
}

/* ---- ours ---------------------------------------------------------------------------- */

static int list_devices(void *ctx, const hub_route_req_t *rq, hub_jbuf_t *b, hub_error_t *err)
{
    hub_devdom_t *d = ctx;
    size_t n;
    dev_device_t **all = sorted(d, -1, &n);
    (void)rq;
    (void)err;
    hub_jbuf_open(b, '{');
    hub_jbuf_key(b, "devices");
    hub_jbuf_open(b, '[');
    for (size_t i = 0; i < n; i++)
        dev__render_device(b, d, all[i]);
    hub_jbuf_close(b, ']');
    hub_jbuf_close(b, '}');
    hub_free(all);
    return 0;
}

static int get_device(void *ctx, const hub_route_req_t *rq, hub_jbuf_t *b, hub_error_t *err)
{
    hub_devdom_t *d = ctx;
    const dev_device_t *v = dev__device(d, rq->args[0]);
    if (v == NULL)
        return not_found(err);
    dev__render_device(b, d, v);
    return 0;
}

static int by_since(const void *a, const void *b)
{
    const dev_alert_t *x = *(dev_alert_t *const *)a, *y = *(dev_alert_t *const *)b;
    return x->since < y->since ? -1 : x->since > y->since ? 1 : strcmp(x->id, y->id);
}

static int list_alerts(void *ctx, const hub_route_req_t *rq, hub_jbuf_t *b, hub_error_t *err)
{
    hub_devdom_t *d = ctx;
    size_t n;
    void **all = dev_map_values(&d->alerts, &n);
    (void)rq;
    (void)err;
    qsort(all, n, sizeof(*all), by_since);
    hub_jbuf_open(b, '{');
    hub_jbuf_key(b, "alerts");
    hub_jbuf_open(b, '[');
    for (size_t i = 0; i < n; i++)
        dev__render_alert(b, all[i]);
    hub_jbuf_close(b, ']');
    hub_jbuf_key(b, "broker_outage_suspected");
    hub_jbuf_bool(b, d->outage);
    hub_jbuf_close(b, '}');
    hub_free(all);
    return 0;
}

/* ---- mutations ------------------------------------------------------------------------ */

static int command_intent(const hub_route_req_t *rq, const char *action, int legacy,
                          const char **name, json_t **payload)
{
    if (rq->body != NULL)
        hub_json_normalize_numbers((json_t *)rq->body);
    const json_t *reason = rq->body ? json_object_get(rq->body, "reason") : NULL;
    const json_t *by = rq->body ? json_object_get(rq->body, "requested_by") : NULL;
    json_t *p = json_pack("{s:s,s:s}", "device", rq->args[0], "action", action);
    if (reason != NULL && !json_is_null(reason) && !json_is_object(reason) &&
        !json_is_array(reason))
        json_object_set(p, "reason", (json_t *)reason);
    if (json_is_integer(by) && json_integer_value(by) >= 1)
        json_object_set(p, "requested_by", (json_t *)by);
    if (legacy)
        json_object_set_new(p, "legacy", json_true());
    *name = "device.command";
    *payload = p;
    return 0;
}

static int post_restart(const hub_route_req_t *rq, const char **name, json_t **payload,
                        hub_error_t *err)
{
    (void)err;
    return command_intent(rq, "reboot_host", 1, name, payload);
}

static int post_shutdown(const hub_route_req_t *rq, const char **name, json_t **payload,
                         hub_error_t *err)
{
    (void)err;
    return command_intent(rq, "shutdown_host", 0, name, payload);
}

static int post_command(const hub_route_req_t *rq, const char **name, json_t **payload,
                        hub_error_t *err)
{
    const json_t *a = rq->body ? json_object_get(rq->body, "action") : NULL;
    (void)err;
    /* an unsupported action is refused by apply, in the seed's words */
    return command_intent(rq, json_is_string(a) ? json_string_value(a) : "", 1, name, payload);
}

static int post_clear_sf(const hub_route_req_t *rq, const char **name, json_t **payload,
                         hub_error_t *err)
{
    (void)err;
    *name = "device.clear_service_failed";
    *payload = json_pack("{s:s}", "id", rq->args[0]);
    return 0;
}

static void answer_clear_sf(void *ctx, const hub_intent_t *in, const hub_announce_t *ann,
                            hub_reply_t *reply)
{
    static const char done[] = "{\"success\":true,\"message\":\"service_failed Flag gelöscht.\"}";
    static const char none[] =
        "{\"success\":true,\"message\":\"Kein service_failed Flag gesetzt.\"}";
    static const char nf[] = "{\"error\":\"Client nicht gefunden\"}";
    (void)ctx;
    (void)ann;
    if (in->outcome == HUB_INTENT_APPLIED || in->outcome == HUB_INTENT_DUPLICATE)
        hub_reply_send(reply, 200, done, sizeof(done) - 1);
    else if (in->outcome == HUB_INTENT_REJECTED && in->err.code == HUB_ERR_CONFLICT)
        hub_reply_send(reply, 200, none, sizeof(none) - 1);
    else if (in->outcome == HUB_INTENT_REJECTED && in->err.code == HUB_ERR_NOT_FOUND)
        hub_reply_send(reply, 404, nf, sizeof(nf) - 1);
    else {
        char body[400];
        int n = snprintf(body, sizeof(body), "{\"error\":\"%s\"}",
                         "the hub could not clear it: "
                         "try again");
        hub_reply_send(reply, hub_errcode_http(in->err.code), body, (size_t)n);
    }
}

static int put_device(const hub_route_req_t *rq, const char **name, json_t **payload,
                      hub_error_t *err)
{
    if (rq->body == NULL)
        return hub_error_set(err, HUB_ERR_INVALID, "",
                             "send {\"group_id\"?, \"description\"?, \"is_active\"?}");
    json_t *p = json_deep_copy(rq->body);
    hub_json_normalize_numbers(p);
    json_object_set_new(p, "id", json_string(rq->args[0]));
    *name = "device.update";
    *payload = p;
    return 0;
}

static int put_group(const hub_route_req_t *rq, const char **name, json_t **payload,
                     hub_error_t *err)
{
    if (rq->body == NULL)
        return hub_error_set(err, HUB_ERR_INVALID, "", "send {\"ids\":[…],\"group_id\":3}");
    *name = "device.group";
    *payload = json_deep_copy(rq->body);
    hub_json_normalize_numbers(*payload);
    return 0;
}

static int delete_device(const hub_route_req_t *rq, const char **name, json_t **payload,
                         hub_error_t *err)
{
    (void)err;
    *name = "device.delete";
    *payload = json_pack("{s:s}", "id", rq->args[0]);
    return 0;
}

const hub_route_def_t dev__routes[] = {
    {.method = HUB_HTTP_GET,
     .pattern = "/api/clients/with_alive_status",
     .read = with_alive_status},
    {.method = HUB_HTTP_GET, .pattern = "/api/clients/crashed", .read = crashed},
    {.method = HUB_HTTP_GET, .pattern = "/api/clients/service_failed", .read = service_failed},
    {.method = HUB_HTTP_GET, .pattern = "/api/clients/commands/*", .read_async = dev__command_read},
    {.method = HUB_HTTP_POST,
     .pattern = "/api/clients/*/restart",
     .to_intent = post_restart,
     .answer = dev__answer_command,
     .lenient_body = 1},
    {.method = HUB_HTTP_POST,
     .pattern = "/api/clients/*/shutdown",
     .to_intent = post_shutdown,
     .answer = dev__answer_command,
     .lenient_body = 1},
    {.method = HUB_HTTP_POST,
     .pattern = "/api/clients/*/clear_service_failed",
     .to_intent = post_clear_sf,
     .answer = answer_clear_sf,
     .lenient_body = 1},
    {.method = HUB_HTTP_GET,
     .pattern = "/api/client-logs/summary",
     .read_async = dev__logs_summary},
    {.method = HUB_HTTP_GET,
     .pattern = "/api/client-logs/recent-errors",
     .read_async = dev__logs_recent_errors},
    {.method = HUB_HTTP_GET,
     .pattern = "/api/client-logs/monitoring-overview",
     .read_async = dev__logs_overview},
    {.method = HUB_HTTP_GET,
     .pattern = "/api/client-logs/*/logs",
     .read_async = dev__logs_read_seed},
    {.method = HUB_HTTP_GET, .pattern = "/api/v1/devices", .read = list_devices},
    {.method = HUB_HTTP_PUT, .pattern = "/api/v1/devices/group", .to_intent = put_group},
    {.method = HUB_HTTP_GET, .pattern = "/api/v1/devices/*", .read = get_device},
    {.method = HUB_HTTP_PUT, .pattern = "/api/v1/devices/*", .to_intent = put_device},
    {.method = HUB_HTTP_DELETE, .pattern = "/api/v1/devices/*", .to_intent = delete_device},
    {.method = HUB_HTTP_GET,
     .pattern = "/api/v1/devices/*/commands",
     .read_async = dev__commands_list},
    {.method = HUB_HTTP_POST,
     .pattern = "/api/v1/devices/*/commands",
     .to_intent = post_command,
     .answer = dev__answer_command},
    {.method = HUB_HTTP_GET, .pattern = "/api/v1/devices/*/logs", .read_async = dev__logs_read},
    {.method = HUB_HTTP_GET, .pattern = "/api/v1/alerts", .read = list_alerts},
    {.method = 0},
};
