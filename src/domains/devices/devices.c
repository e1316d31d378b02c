/* domains/devices/devices.c - the devices domain: registration, the
 * registry's entities, announce (what goes to MQTT), timers and the
 * publish outcomes of commands.
 *
 * Every change goes through an intent, including the ones the domain makes
 * itself: the poll timer's devices.sweep / devices.liveness / crash
 * recovery, and device.command_sent, the broker's answer to a command's
 * publish. So the journal holds the whole lifecycle.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "core/clock.h"
#include "core/err.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/ulid.h"
#include "core/uuid.h"
#include "domains/devices/devices_int.h"

#define RETRY_MS 100          /* a publish outcome found the queue full: try again */
#define SF_TOKEN (1ull << 63) /* a cleared service_failed message, not a command */

const char *const dev_reject_names[DEV_REJ_COUNT] = {"not_json",  "not_utf8",    "too_large",
                                                     "bad_field", "bad_uuid",    "unknown_device",
                                                     "bad_ack",   "bad_payload", "registry_full"};

void dev__reject(hub_devdom_t *d, int reason, const char *topic, const char *fmt, ...)
{
    char msg[300];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    hub_metric_inc(d->m_rejected[reason]);
    hub_log(HUB_LOG_WARN, "fleet_ingest_rejected", "{s:s,s:s,s:s}", "topic", topic ? topic : "",
            "reason", dev_reject_names[reason], "error", msg);
}

void dev__utf8_trim(char *s)
{
    size_t n = strlen(s), i = n;
    while (i > 0 && ((unsigned char)s[i - 1] & 0xC0) == 0x80)
        i--; /* back over continuation bytes to the lead byte */
    if (i == 0)
        return;
    unsigned char lead = (unsigned char)s[i - 1];
    size_t need = lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : lead >= 0xC0 ? 2 : 1;
    if (n - (i - 1) < need)
        s[i - 1] = '\0';
}

void dev__str_set(char **dst, const char *s, size_t len)
{
    hub_free(*dst);
    *dst = s ? hub_strndup(s, len) : NULL;
}

/* ---- registry ---------------------------------------------------------------------- */

dev_device_t *dev__device(const hub_devdom_t *d, const char *id)
{
    return dev_map_get(&d->devices, id);
}

dev_device_t *dev__device_new(hub_devdom_t *d, const char *id, int kind, uint64_t now)
{
    dev_device_t *v = hub_calloc(1, sizeof(*v));
    snprintf(v->id, sizeof(v->id), "%s", id);
    v->kind = kind;
    v->is_active = 1;
    v->screen = DEV_SCREEN_UNKNOWN;
    v->first_seen = v->last_seen = now;
    dev_map_put(&d->devices, v->id, v);
    return v;
}

void dev__device_free(dev_device_t *v)
{
    if (v == NULL)
        return;
    hub_free(v->description);
    hub_free(v->hostname);
    hub_free(v->ip);
    hub_free(v->process);
    hub_free(v->service_failed_unit);
    hub_free(v->health);
    hub_free(v->info);
    hub_free(v);
}

dev_command_t *dev__command(const hub_devdom_t *d, const char *id)
{
    return dev_map_get(&d->commands, id);
}

void dev__command_free(dev_command_t *c)
{
    if (c == NULL)
        return;
    dev__reply_drop(c);
    hub_free(c->reason);
    hub_free(c->error_code);
    hub_free(c->error_message);
    hub_free(c);
}

/* ---- own intents --------------------------------------------------------------------- */

static void on_own_done(hub_intent_t *in, const hub_announce_t *ann, void *ud)
{
    hub_devdom_t *d = ud;
    (void)ann;
    if (in->outcome == HUB_INTENT_APPLIED || in->outcome == HUB_INTENT_DUPLICATE)
        return;
    if (strcmp(in->name, "device.command_sent") == 0) {
        /* The command is gone (deleted with its device): answer whoever waits. */
        const char *id = json_string_value(json_object_get(in->payload, "command_id"));
        dev_command_t *c = id ? dev__command(d, id) : NULL;
        if (c != NULL)
            dev__reply_all(d, c);
    }
    hub_log(in->outcome == HUB_INTENT_REJECTED ? HUB_LOG_DEBUG : HUB_LOG_WARN,
            "fleet_intent_refused", "{s:s,s:s}", "name", in->name, "error",
            in->outcome == HUB_INTENT_REJECTED ? in->err.msg : hub_strerror(in->outcome));
}

hub_intent_t *dev__intent_new(const char *name, const char *src)
{
    return hub_intent_new_internal(name, src);
}

int dev__own_only(hub_apply_t *ap)
{
    return hub_apply_own_only(ap, "from device telemetry or its timers");
}

int dev__submit(hub_devdom_t *d, const char *name, json_t *payload, const char *src)
{
    hub_error_t err;
    int rc = hub_engine_submit_internal(d->engine, name, payload, src, on_own_done, d, &err);
    if (rc != 0 && err.msg[0]) {
        hub_log(HUB_LOG_ERROR, "fleet_intent_refused", "{s:s,s:s}", "name", name, "error", err.msg);
        return -1;
    }
    return rc;
}

/* ---- publish outcomes ------------------------------------------------------------------- */

static int submit_sent(hub_devdom_t *d, const dev_sent_t *s)
{
    json_t *p = json_pack("{s:s,s:b}", "command_id", s->command_id, "ok", s->ok);
    if (!s->ok)
        json_object_set_new(p, "error", json_string(s->why));
    return dev__submit(d, "device.command_sent", p, "mqtt");
}

static void on_retry(uv_timer_t *t)
{
    hub_devdom_t *d = t->data;
    while (d->sent_head != NULL) {
        dev_sent_t *s = d->sent_head;
        int rc = submit_sent(d, s);
        if (rc == HUB_EOVERLOAD) {
            uv_timer_start(&d->retry_timer, on_retry, RETRY_MS, 0);
            return;
        }
        d->sent_head = s->next;
        if (d->sent_head == NULL)
            d->sent_tail = NULL;
        dev_command_t *c = rc != 0 ? dev__command(d, s->command_id) : NULL;
        if (c != NULL) /* refused for good (stopping): nobody will learn the outcome */
            dev__reply_drop(c);
        hub_free(s);
    }
}

/* The MQTT adapter's answer for a command's canonical publish. */
void dev__sent(void *ctx, uint64_t token, int ok, const char *why)
{
    hub_devdom_t *d = ctx;
    size_t n;
    dev_command_t *c = NULL;

    if (token == SF_TOKEN) {
        if (!ok)
            hub_log(HUB_LOG_WARN, "service_failed_clear_publish_failed", "{s:s,s:s}", "error",
                    why ? why : "", "hint",
                    "the flag is cleared here; clear the broker's retained message with "
                    "mosquitto_pub -t '<root>/<uuid>/service_failed' -n -r");
        return;
    }
    void **all = dev_map_values(&d->commands, &n);

    for (size_t i = 0; i < n && c == NULL; i++)
        if (((dev_command_t *)all[i])->token == token)
            c = all[i];
    hub_free(all);
    if (c == NULL)
        return;
    c->token = 0;
    dev_sent_t *s = hub_calloc(1, sizeof(*s));
    memcpy(s->command_id, c->id, sizeof(s->command_id));
    s->ok = ok;
    snprintf(s->why, sizeof(s->why), "%s", why ? why : "");
    if (d->sent_head == NULL && !d->stopping) {
        int rc = submit_sent(d, s);
        if (rc != HUB_EOVERLOAD) {
            if (rc != 0) /* shutting down: it stays publish_in_progress; the sweep expires it */
                dev__reply_drop(c);
            hub_free(s);
            return;
        }
    } else if (d->stopping) {
        dev__reply_drop(c);
        hub_free(s);
        return;
    }
    if (d->sent_tail)
        d->sent_tail->next = s;
    else
        d->sent_head = s;
    d->sent_tail = s;
    if (d->timers_open && !uv_is_active((uv_handle_t *)&d->retry_timer))
        uv_timer_start(&d->retry_timer, on_retry, RETRY_MS, 0);
}

/* ---- domain hooks ---------------------------------------------------------------------- */

static void entities(void *ctx, hub_entity_fn emit, void *ud)
{
    hub_devdom_t *d = ctx;
    hub_jbuf_t b;
    char path[DEV_ID_MAX + 64];
    size_t n;
    void **all;

    hub_jbuf_init(&b);
    all = dev_map_values(&d->devices, &n);
    for (size_t i = 0; i < n; i++) {
        dev_device_t *v = all[i];
        hub_jbuf_reset(&b);
        dev__render_device(&b, d, v);
        snprintf(path, sizeof(path), "devices.registry.%s", v->id);
        emit(ud, path, b.p, b.len);
    }
    hub_free(all);
    all = dev_map_values(&d->commands, &n);
    for (size_t i = 0; i < n; i++) {
        dev_command_t *c = all[i];
        hub_jbuf_reset(&b);
        dev__render_command(&b, c);
        snprintf(path, sizeof(path), "devices.commands.%s", c->id);
        emit(ud, path, b.p, b.len);
    }
    hub_free(all);
    all = dev_map_values(&d->alerts, &n);
    for (size_t i = 0; i < n; i++) {
        dev_alert_t *a = all[i];
        hub_jbuf_reset(&b);
        dev__render_alert(&b, a);
        snprintf(path, sizeof(path), "devices.alerts.%s", a->id);
        emit(ud, path, b.p, b.len);
    }
    hub_free(all);
    hub_jbuf_free(&b);
}

/* Retained topics: infoscreen/<uuid>/group_id for every infoscreen. */
static void publish_group(hub_devdom_t *d, const dev_device_t *v, hub_outbox_t *out)
{
    char topic[160], text[32];
    int n = 0;

    if (v->kind != DEV_KIND_INFOSCREEN)
        return;
    snprintf(topic, sizeof(topic), "%s/%s/group_id", d->root, v->id);
    if (v->has_group)
        n = snprintf(text, sizeof(text), "%lld", (long long)v->group_id);
    hub_outbox_mqtt(out, topic, text, (size_t)n, 1, 1, HUB_OUT_CONFLATE);
}

static void publish_all(void *ctx, hub_outbox_t *out)
{
    hub_devdom_t *d = ctx;
    size_t n;
    void **all = dev_map_values(&d->devices, &n);
    for (size_t i = 0; i < n; i++)
        if (((dev_device_t *)all[i])->has_group)
            publish_group(d, all[i], out);
    hub_free(all);
}

static void announce_alert(const hub_change_t *c, hub_outbox_t *out)
{
    const char *id = c->path + 15;
    if (c->value_len == 4 && memcmp(c->value, "null", 4) == 0) {
        hub_outbox_event(out, HUB_EVENT_INFO, "devices", "alert cleared: %s", id);
        return;
    }
    json_t *a = json_loadb(c->value, c->value_len, 0, NULL);
    const char *msg = json_string_value(json_object_get(a, "message"));
    hub_outbox_event(out, HUB_EVENT_WARNING, "devices", "alert %s: %s", id, msg ? msg : "");
    json_decref(a);
}

/* Topics of a device that is gone, or whose service_failed was cleared. */
static void clear_retained(hub_devdom_t *d, const char *id, int group, hub_outbox_t *out)
{
    char topic[160];
    if (group) {
        snprintf(topic, sizeof(topic), "%s/%s/group_id", d->root, id);
        hub_outbox_mqtt(out, topic, "", 0, 1, 1, 0);
    }
    snprintf(topic, sizeof(topic), "%s/%s/service_failed", d->root, id);
    hub_outbox_mqtt_tracked(out, topic, "", 0, 1, dev__sent, d, SF_TOKEN);
}

static void discovery_ack(hub_devdom_t *d, const dev_device_t *v, hub_outbox_t *out)
{
    char topic[160];
    hub_jbuf_t b;

    hub_jbuf_init(&b);
    hub_jbuf_open(&b, '{');
    hub_jbuf_key(&b, "status");
    hub_jbuf_str(&b, "ok");
    hub_jbuf_key(&b, "uuid");
    hub_jbuf_str(&b, v->id);
    hub_jbuf_key(&b, "group_id");
    if (v->has_group)
        hub_jbuf_int(&b, v->group_id);
    else
        hub_jbuf_null(&b);
    hub_jbuf_close(&b, '}');
    snprintf(topic, sizeof(topic), "%s/%s/discovery_ack", d->root, v->id);
    hub_outbox_mqtt(out, topic, b.p, b.len, 1, 0, 0);
    hub_jbuf_free(&b);
}

static void announce(void *ctx, const hub_announce_t *ann, const hub_change_t *mine, size_t nmine,
                     hub_outbox_t *out)
{
    hub_devdom_t *d = ctx;
    const char *name = ann->intent->name;

    for (size_t i = 0; i < nmine; i++) {
        const hub_change_t *c = &mine[i];
        if (strncmp(c->path, "devices.commands.", 17) == 0 && c->native != NULL) {
            const cmd_native_t *nat = c->native;
            dev_command_t *cmd = dev__command(d, nat->id);
            if (nat->publish && cmd != NULL)
                dev__publish_command(d, cmd, out);
            if (cmd != NULL && strcmp(name, "device.command_sent") == 0)
                dev__reply_all(d, cmd);
        } else if (strncmp(c->path, "devices.alerts.", 15) == 0) {
            announce_alert(c, out);
        } else if (strncmp(c->path, "devices.registry.", 17) == 0) {
            const char *id = c->path + 17;
            dev_device_t *v = dev__device(d, id);
            if (strcmp(name, "device.discovery") == 0 && v != NULL)
                discovery_ack(d, v, out);
            else if (strcmp(name, "device.delete") == 0 && v == NULL &&
                     hub_uuid_valid(id, strlen(id)))
                clear_retained(d, id, 1, out);
            else if (strcmp(name, "device.clear_service_failed") == 0 && v != NULL)
                clear_retained(d, id, 0, out);
        }
    }
    hub_metric_set(d->m_alerts, (double)d->alerts.n);
    hub_metric_set(d->m_outage, d->outage);
    /* Group assignment and removal change retained topics. */
    if (strcmp(name, "device.update") == 0 || strcmp(name, "device.group") == 0 ||
        strcmp(name, "device.discovery") == 0) {
        for (size_t i = 0; i < nmine; i++) {
            if (strncmp(mine[i].path, "devices.registry.", 17) != 0)
                continue;
            dev_device_t *v = dev__device(d, mine[i].path + 17);
            if (v != NULL && (v->has_group || strcmp(name, "device.discovery") != 0))
                publish_group(d, v, out);
        }
    }
    hub_metric_set(d->m_devices, (double)d->devices.n);
}

void dev__orphan_replies(hub_devdom_t *d, dev_command_t *c)
{
    while (c->replies != NULL) {
        dev_reply_t *r = c->replies;
        c->replies = r->next;
        r->next = d->orphans;
        d->orphans = r;
    }
}

static void announced(void *ctx)
{
    hub_devdom_t *d = ctx;
    static const char nf[] = "{\"error\":\"Client nicht gefunden\"}";
    while (d->orphans != NULL) {
        dev_reply_t *r = d->orphans;
        d->orphans = r->next;
        hub_reply_send(r->reply, 404, nf, sizeof(nf) - 1);
        hub_free(r);
    }
}

static const hub_intent_def_t intents[] = {
    {"device.discovery", dev__apply_discovery, NULL},
    {"device.heartbeat", dev__apply_heartbeat, NULL},
    {"device.health", dev__apply_health, NULL},
    {"device.log", dev__apply_log, NULL},
    {"device.service_failed", dev__apply_service_failed, NULL},
    {"device.presence", dev__apply_presence, NULL},
    {"device.ack", dev__apply_ack, NULL},
    {"device.update", dev__apply_update, NULL},
    {"device.group", dev__apply_group, NULL},
    {"device.delete", dev__apply_delete, NULL},
    {"device.clear_service_failed", dev__apply_clear_sf, NULL},
    {"device.command", dev__apply_command, dev__prepare_command},
    {"device.command_sent", dev__apply_sent, NULL},
    {"devices.sweep", dev__apply_sweep, NULL},
    {"devices.liveness", dev__apply_liveness, NULL},
    {NULL, NULL, NULL},
};

static const char *const roots[] = {"devices", NULL};
static const char *const sub_rooms[] = {"commands", "devices.commands", NULL};

static double count_alive(void *ud)
{
    hub_devdom_t *d = ud;
    size_t n, alive = 0;
    void **all = dev_map_values(&d->devices, &n);
    for (size_t i = 0; i < n; i++)
        alive += ((dev_device_t *)all[i])->alive != 0;
    hub_free(all);
    return (double)alive;
}

static void register_metrics(hub_devdom_t *d)
{
    char labels[96];
    static const double lat_bounds[] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                                        0.25,  0.5,    1,     2.5,  5,     10,   30,
                                        60,    90,     120,   180,  240,   360};

    for (int i = 0; i < DEV_REJ_COUNT; i++) {
        snprintf(labels, sizeof(labels), "reason=\"%s\"", dev_reject_names[i]);
        d->m_rejected[i] = hub_metrics_counter_labeled(
            d->metrics, "fleet_ingest_rejected_total",
            "Fleet MQTT messages refused (logged with their topic), by reason", labels);
    }
    static const char *const ign[] = {"terminal", "backwards", "unknown_command", "wrong_device"};
    for (int i = 0; i < 4; i++) {
        snprintf(labels, sizeof(labels), "reason=\"%s\"", ign[i]);
        d->m_acks_ignored[i] = hub_metrics_counter_labeled(
            d->metrics, "fleet_command_acks_ignored_total",
            "Command ACKs that changed nothing (duplicates, late, terminal), by reason", labels);
    }
    for (int a = 0; a < DEV_ACT_COUNT; a++)
        for (int s = 0; s < DEV_ST_COUNT; s++) {
            snprintf(labels, sizeof(labels), "action=\"%s\",status=\"%s\"",
                     dev_action_name((dev_action_t)a), dev_status_name((dev_status_t)s));
            d->m_commands[a][s] = hub_metrics_counter_labeled(
                d->metrics, "fleet_commands_total",
                "Device commands that entered a status, by action and status", labels);
        }
    d->m_accept_lat = hub_metrics_histogram(
        d->metrics, "fleet_command_accept_seconds",
        "Device commands: published to the accepted ACK, seconds", lat_bounds, 20);
    d->m_complete_lat = hub_metrics_histogram(
        d->metrics, "fleet_command_complete_seconds",
        "Device commands: published to the completed ACK, seconds", lat_bounds, 20);
    d->m_devices = hub_metrics_gauge(d->metrics, "fleet_devices", "Devices in the registry");
    d->m_alive = hub_metrics_gauge_fn(d->metrics, "fleet_devices_alive",
                                      "Active devices with a recent heartbeat", count_alive, d);
    d->m_alerts = hub_metrics_gauge(d->metrics, "fleet_alerts_active", "Fleet alerts raised now");
    d->m_outage = hub_metrics_gauge(d->metrics, "fleet_broker_outage_suspected",
                                    "1 while most devices went silent together");
    d->m_logs = hub_metrics_counter(d->metrics, "fleet_logs_total", "Device log entries stored");
}

int hub_devdom_bind(hub_devdom_t **out, hub_engine_t *e, uv_loop_t *loop, hub_metrics_t *metrics,
                    const hub_devdom_cfg_t *cfg, const hub_db_reader_t *reader)
{
    hub_devdom_t *d = hub_calloc(1, sizeof(*d));
    int rc;

    d->engine = e;
    d->loop = loop;
    d->metrics = metrics;
    d->cfg = *cfg;
    if (d->cfg.max_devices <= 0)
        d->cfg.max_devices = 50000;
    if (reader != NULL)
        d->reader = *reader;
    snprintf(d->root, sizeof(d->root), "%s", cfg->topic_root ? cfg->topic_root : "infoscreen");
    d->cfg.topic_root = d->root;
    d->next_token = 1;
    dev__topics_init(d);
    /* Its own copy: the topic filters live in d (they name FLEET_TOPIC_ROOT). */
    d->def = (hub_domain_def_t){
        .name = "devices",
        .roots = roots,
        .intents = intents,
        .migrations = dev__migrations,
        .nmigrations = dev__nmigrations,
        .load = dev__load,
        .entities = entities,
        .announce = announce,
        .announced = announced,
        .publish_all = publish_all,
        .sub_rooms = sub_rooms,
        .routes = dev__routes,
        .topics = d->topics,
    };
    rc = hub_engine_register(e, &d->def, d);
    if (rc != 0) {
        hub_free(d);
        return rc;
    }
    register_metrics(d); /* after: a refused bind leaves no gauge reading a freed d */
    if (loop != NULL) {
        uv_timer_init(loop, &d->poll_timer);
        uv_timer_init(loop, &d->retry_timer);
        d->poll_timer.data = d->retry_timer.data = d;
        d->timers_open = 1;
    }
    *out = d;
    return 0;
}

static void on_poll(uv_timer_t *t)
{
    dev__poll(t->data);
}

void hub_devdom_start(hub_devdom_t *d)
{
    if (d == NULL)
        return;
    hub_metric_set(d->m_devices, (double)d->devices.n);
    hub_metric_set(d->m_alerts, (double)d->alerts.n);
    d->watch_since = hub_wall_ms();
    if (!d->timers_open)
        return;
    uint64_t ms = (uint64_t)d->cfg.poll_s * 1000u;
    /* A first pass soon after start-up: expire what waited through a restart. */
    uv_timer_start(&d->poll_timer, on_poll, ms < 1000 ? ms : 1000, ms);
}

void hub_devdom_stop(hub_devdom_t *d)
{
    if (d == NULL || d->stopping)
        return;
    d->stopping = 1;
    if (d->timers_open) {
        uv_timer_stop(&d->poll_timer);
        uv_timer_stop(&d->retry_timer);
        uv_close((uv_handle_t *)&d->poll_timer, NULL);
        uv_close((uv_handle_t *)&d->retry_timer, NULL);
        d->timers_open = 0;
    }
    while (d->sent_head != NULL) {
        dev_sent_t *s = d->sent_head;
        d->sent_head = s->next;
        hub_free(s);
    }
    d->sent_tail = NULL;
    announced(d); /* requests of deleted commands */
    /* Requests still waiting for a publish outcome: answered now, while the
     * network threads run. */
    size_t n;
    void **all = dev_map_values(&d->commands, &n);
    for (size_t i = 0; i < n; i++)
        dev__reply_drop(all[i]);
    hub_free(all);
}

void hub_devdom_groups(const hub_devdom_t *d, void (*fn)(void *ud, int64_t group_id), void *ud)
{
    size_t n;
    if (d == NULL)
        return;
    void **all = dev_map_values(&d->devices, &n);
    for (size_t i = 0; i < n; i++) {
        const dev_device_t *v = all[i];
        if (v->has_group)
            fn(ud, v->group_id);
    }
    hub_free(all);
}

void hub_devdom_free(hub_devdom_t *d)
{
    size_t n;
    void **all;

    if (d == NULL)
        return;
    all = dev_map_values(&d->devices, &n);
    for (size_t i = 0; i < n; i++)
        dev__device_free(all[i]);
    hub_free(all);
    all = dev_map_values(&d->commands, &n);
    for (size_t i = 0; i < n; i++)
        dev__command_free(all[i]);
    hub_free(all);
    all = dev_map_values(&d->alerts, &n);
    for (size_t i = 0; i < n; i++)
        hub_free(all[i]);
    hub_free(all);
    dev_map_free(&d->devices);
    dev_map_free(&d->commands);
    dev_map_free(&d->alerts);
    while (d->sent_head != NULL) {
        dev_sent_t *s = d->sent_head;
        d->sent_head = s->next;
        hub_free(s);
    }
    hub_free(d);
}
