/* tests/unit/test_devices.c - the devices domain on a real engine without a
 * store (persist NULL: every batch completes at once), on a real uv loop,
 * with the fake wall clock of dev_rig.h (times are exact; expiry, liveness
 * and the lockout window move with dev_clock_advance, not by waiting).
 *
 * Intents are submitted as the ingest (src "mqtt") and the REST routes make
 * them; the MQTT topics are driven through the domain's topic definitions
 * (hub_engine_topics_foreach), hostile payloads included. Checked: the
 * registry (discovery, heartbeat, health, logs, presence, operators' edits,
 * delete), the patches and MQTT messages each transition produces, seed
 * 004's command lifecycle (publish outcome, ACK rules, lockout, expiry),
 * alerts, liveness and the outage rule, crash recovery, the REST answers,
 * the rooms devices/commands, and the rejection metrics. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <jansson.h>
#include <uv.h>

#include "core/log.h"
#include "core/uuid.h"
#include "dev_rig.h"

static dev_rig_t R;

#define ROOT "infoscreen"

static int setup_with(int track, int answer, size_t queue_size)
{
    hub_devdom_cfg_t c = dev_rig_cfg();
    memset(&R, 0, sizeof(R));
    dev_clock_set(DEV_T0);
    R.track = track;
    R.answer = answer;
    R.queue_size = queue_size;
    dev_rig_init(&R, &c);
    dev_rig_bind(&R, NULL);
    dev_rig_go(&R, NULL, NULL);
    return 0;
}

static int setup(void **state)
{
    (void)state;
    return setup_with(0, 0, 0);
}

/* With a subscriber that reports the fate of tracked publishes. */
static int setup_tracked(void **state)
{
    (void)state;
    return setup_with(1, 0, 0);
}

/* Tracked, with an engine queue of 4 intents. */
static int setup_small_queue(void **state)
{
    (void)state;
    return setup_with(1, 0, 4);
}

/* Tracked, and device.command answered as the REST route does. */
static int setup_rest(void **state)
{
    (void)state;
    return setup_with(1, 1, 0);
}

static int teardown(void **state)
{
    (void)state;
    hub_devdom_stop(R.d);
    hub_engine_free(R.e);
    uv_run(&R.loop, UV_RUN_DEFAULT);
    int rc = uv_loop_close(&R.loop);
    hub_devdom_free(R.d);
    hub_metrics_free(R.metrics);
    dev_rig_free_anns(&R);
    dev_rig_free_replies(&R);
    hub_jbuf_free(&R.events);
    assert_int_equal(rc, 0);
    return 0;
}

/* ---- helpers ------------------------------------------------------------------------ */

static void ok(const char *src, const char *name, const char *payload)
{
    if (dev_rig_run(&R, src, name, payload) != HUB_INTENT_APPLIED)
        fail_msg("%s %s: outcome %d %s/%s (%s)", name, payload, R.outcome,
                 hub_errcode_name(R.err.code), R.err.field, R.err.msg);
}

/* Refused with code and field (and msg containing want_msg when given);
 * nothing announced. */
static void refused(const char *src, const char *name, const char *payload, hub_errcode_t code,
                    const char *field, const char *want_msg)
{
    size_t n = R.nanns;
    int rc = dev_rig_run(&R, src, name, payload);
    if (rc != HUB_INTENT_REJECTED || R.err.code != code || strcmp(R.err.field, field) != 0 ||
        (want_msg != NULL && strstr(R.err.msg, want_msg) == NULL))
        fail_msg("%s %s: outcome %d %s/%s (%s), want %s/%s (%s)", name, payload, rc,
                 hub_errcode_name(R.err.code), R.err.field, R.err.msg, hub_errcode_name(code),
                 field, want_msg ? want_msg : "");
    assert_int_equal(R.nanns, n);
}

static uint64_t room_bit(const char *name)
{
    int b = hub_engine_room_bit(R.e, name, strlen(name));
    assert_true(b >= 0);
    return 1ull << b;
}

static void heartbeat(const char *id, const char *extra)
{
    char p[512];
    snprintf(p, sizeof(p), "{'uuid':'%s','topic':'" ROOT "/%s/heartbeat'%s%s}", id, id,
             extra[0] ? "," : "", extra);
    ok("mqtt", "device.heartbeat", p);
}

/* Issue a command with a known command_id; the outcome. */
static int command(const char *src, const char *id, const char *action, const char *cid,
                   const char *extra)
{
    char p[600];
    snprintf(p, sizeof(p), "{'device':'%s','action':'%s','command_id':'%s'%s%s}", id, action, cid,
             extra[0] ? "," : "", extra);
    return dev_rig_run(&R, src, "device.command", p);
}

static void ack(const char *topic_uuid, const char *cid, const char *status, const char *code,
                const char *msg)
{
    char p[600];
    snprintf(p, sizeof(p),
             "{'uuid':'%s','topic':'" ROOT "/%s/commands/ack','command_id':'%s','status':'%s',"
             "'error_code':%s%s%s,'error_message':%s%s%s}",
             topic_uuid, topic_uuid, cid, status, code ? "'" : "", code ? code : "null",
             code ? "'" : "", msg ? "'" : "", msg ? msg : "null", msg ? "'" : "");
    dev_rig_run(&R, "mqtt", "device.ack", p);
}

/* The tracked canonical publish of the last device.command announcement. */
static dev_msg_t *canonical(const char *id)
{
    char topic[128];
    snprintf(topic, sizeof(topic), ROOT "/%s/commands", id);
    dev_msg_t *m = dev_rig_msg(dev_rig_ann(&R, "device.command"), HUB_OUT_MQTT, topic);
    assert_non_null(m);
    return m;
}

static double commands_total(const char *action, const char *status)
{
    char s[128];
    snprintf(s, sizeof(s), "fleet_commands_total{action=\"%s\",status=\"%s\"}", action, status);
    return dev_rig_metric(&R, s);
}

static double acks_ignored(const char *reason)
{
    char s[128];
    snprintf(s, sizeof(s), "fleet_command_acks_ignored_total{reason=\"%s\"}", reason);
    return dev_rig_metric(&R, s);
}

static void assert_patches(const dev_ann_t *a, const char *want)
{
    if (strcmp(a->patches, want) != 0)
        fail_msg("%s patches:\n got  %s\n want %s", a->name, a->patches, want);
}

/* ---- the registry --------------------------------------------------------------------- */

#define DEVICE_T0                                                                                  \
    "{\"id\":\"" U1 "\",\"kind\":\"infoscreen\",\"group_id\":null,\"description\":null,"           \
    "\"hostname\":\"pi-foyer\",\"ip\":\"10.0.0.21\",\"first_seen\":\"2026-04-03T12:48:10.000Z\","  \
    "\"last_seen\":\"2026-04-03T12:48:10.000Z\",\"presence\":\"online\",\"is_active\":true,"       \
    "\"alive\":false,\"last_alive\":null,\"current_process\":null,\"process_pid\":null,"           \
    "\"process_status\":null,\"current_event_id\":null,\"screen_health_status\":\"UNKNOWN\","      \
    "\"mqtt_reconnect_count\":null,\"mqtt_last_disconnect_at\":null,\"service_failed_at\":null,"   \
    "\"service_failed_unit\":null,\"health\":null,\"health_at\":null}"

static void test_discovery_registers_and_acks(void **state)
{
    (void)state;
    ok("mqtt", "device.discovery",
       "{'uuid':'" U1 "','hostname':'pi-foyer','ip':'10.0.0.21','info':{'uuid':'" U1
       "','hostname':'pi-foyer','version':'2.1'}}");
    dev_ann_t *a = dev_rig_last(&R);
    assert_string_equal(a->name, "device.discovery");
    assert_string_equal(a->src, "mqtt");
    assert_patches(a, "[{\"path\":\"devices.registry." U1 "\",\"value\":" DEVICE_T0 "}]");
    assert_true(a->rooms == room_bit("devices"));
    assert_true(a->ts_ms == DEV_T0);
    /* the discovery_ack, and nothing else */
    assert_int_equal(a->nmsgs, 1);
    dev_msg_t *m = dev_rig_msg(a, HUB_OUT_MQTT, ROOT "/" U1 "/discovery_ack");
    assert_non_null(m);
    assert_string_equal(m->payload, "{\"status\":\"ok\",\"uuid\":\"" U1 "\",\"group_id\":null}");
    assert_int_equal(m->qos, 1);
    assert_int_equal(m->retain, 0);
    assert_int_equal(m->tracked, 0);
    assert_true(dev_rig_metric(&R, "fleet_devices") == 1);
    assert_string_equal(dev_rig_events(&R), "");
    /* info is kept (not published in the state) */
    assert_string_equal(dev__device(R.d, U1)->info,
                        "{\"uuid\":\"" U1 "\",\"hostname\":\"pi-foyer\",\"version\":\"2.1\"}");

    /* Again, 5 s later, without an ip: the same device, updated. */
    dev_clock_advance(5000);
    ok("mqtt", "device.discovery", "{'uuid':'" U1 "','hostname':'pi-foyer-2'}");
    assert_string_equal(DEV(&R, U1, "hostname"), "pi-foyer-2");
    assert_string_equal(DEV(&R, U1, "ip"), "10.0.0.21");
    assert_string_equal(DEV(&R, U1, "first_seen"), "2026-04-03T12:48:10.000Z");
    assert_string_equal(DEV(&R, U1, "last_seen"), "2026-04-03T12:48:15.000Z");
    assert_true(dev_rig_metric(&R, "fleet_devices") == 1);

    /* With a group the ack carries it, and the retained group_id goes out again. */
    ok("api", "device.update", "{'id':'" U1 "','group_id':3}");
    ok("mqtt", "device.discovery", "{'uuid':'" U1 "'}");
    a = dev_rig_last(&R);
    m = dev_rig_msg(a, HUB_OUT_MQTT, ROOT "/" U1 "/discovery_ack");
    assert_non_null(m);
    assert_string_equal(m->payload, "{\"status\":\"ok\",\"uuid\":\"" U1 "\",\"group_id\":3}");
    m = dev_rig_msg(a, HUB_OUT_MQTT, ROOT "/" U1 "/group_id");
    assert_non_null(m);
    assert_string_equal(m->payload, "3");
    assert_int_equal(m->retain, 1);

    /* Refused: no id, not an id. */
    refused("mqtt", "device.discovery", "{'hostname':'x'}", HUB_ERR_INVALID, "uuid", NULL);
    refused("mqtt", "device.discovery", "{'uuid':'a.b'}", HUB_ERR_INVALID, "uuid", NULL);
    refused("mqtt", "device.discovery", "{'uuid':5}", HUB_ERR_INVALID, "uuid", NULL);
}

static void test_heartbeat_telemetry(void **state)
{
    (void)state;
    dev_rig_discover(&R, U1);
    dev_clock_advance(2000);
    heartbeat(U1, "'current_process':'display_manager','process_pid':1234,"
                  "'process_status':'running','current_event_id':42");
    dev_ann_t *a = dev_rig_last(&R);
    assert_int_equal(a->nchanges, 1); /* the device; no alert */
    assert_int_equal(a->nmsgs, 0);
    assert_true(a->rooms == room_bit("devices"));
    assert_string_equal(DEV(&R, U1, "alive"), "true");
    assert_string_equal(DEV(&R, U1, "last_alive"), "2026-04-03T12:48:12.000Z");
    assert_string_equal(DEV(&R, U1, "last_seen"), "2026-04-03T12:48:12.000Z");
    assert_string_equal(DEV(&R, U1, "presence"), "online");
    assert_string_equal(DEV(&R, U1, "current_process"), "display_manager");
    assert_string_equal(DEV(&R, U1, "process_pid"), "1234");
    assert_string_equal(DEV(&R, U1, "process_status"), "running");
    assert_string_equal(DEV(&R, U1, "current_event_id"), "42");
    assert_true(dev_rig_metric(&R, "fleet_devices_alive") == 1);

    /* A plain heartbeat keeps the fields and moves last_alive. */
    dev_clock_advance(1000);
    heartbeat(U1, "");
    assert_string_equal(DEV(&R, U1, "last_alive"), "2026-04-03T12:48:13.000Z");
    assert_string_equal(DEV(&R, U1, "current_process"), "display_manager");

    /* An unknown device: refused and counted, nothing announced. */
    double before = dev_rig_rejected(&R, "unknown_device");
    refused("mqtt", "device.heartbeat", "{'uuid':'" U2 "','topic':'" ROOT "/" U2 "/heartbeat'}",
            HUB_ERR_NOT_FOUND, "uuid", "unknown device");
    assert_true(dev_rig_rejected(&R, "unknown_device") == before + 1);
    assert_string_equal(DEV(&R, U2, "id"), "<absent>");

    /* An inactive device is never alive, heartbeat or not. */
    ok("api", "device.update", "{'id':'" U1 "','is_active':false}");
    assert_string_equal(DEV(&R, U1, "alive"), "false");
    heartbeat(U1, "");
    assert_string_equal(DEV(&R, U1, "alive"), "false");
    assert_string_equal(DEV(&R, U1, "is_active"), "false");
    assert_true(dev_rig_metric(&R, "fleet_devices_alive") == 0);
    ok("api", "device.update", "{'id':'" U1 "','is_active':true}");
    assert_string_equal(DEV(&R, U1, "alive"), "true"); /* its heartbeat is recent */
}

static void test_health_and_logs(void **state)
{
    (void)state;
    dev_rig_discover(&R, U1);
    dev_clock_advance(3000);
    ok("mqtt", "device.health",
       "{'uuid':'" U1 "','topic':'" ROOT "/" U1 "/health','health':{'actual_state':{'process':"
       "'dm','pid':7,'status':'starting'},'expected_state':{'event_id':5}},"
       "'current_process':'dm','process_pid':7,'process_status':'starting',"
       "'current_event_id':5,'screen_health_status':'BLACK','mqtt_reconnect_count':2,"
       "'mqtt_last_disconnect_at':1775210000000}");
    assert_string_equal(DEV(&R, U1, "health"),
                        "{\"actual_state\":{\"process\":\"dm\",\"pid\":7,\"status\":\"starting\"},"
                        "\"expected_state\":{\"event_id\":5}}");
    assert_string_equal(DEV(&R, U1, "health_at"), "2026-04-03T12:48:13.000Z");
    assert_string_equal(DEV(&R, U1, "current_process"), "dm");
    assert_string_equal(DEV(&R, U1, "process_status"), "starting");
    assert_string_equal(DEV(&R, U1, "screen_health_status"), "BLACK");
    assert_string_equal(DEV(&R, U1, "mqtt_reconnect_count"), "2");
    assert_string_equal(DEV(&R, U1, "mqtt_last_disconnect_at"), dev_time(1775210000000ull));
    /* health is not a heartbeat */
    assert_string_equal(DEV(&R, U1, "alive"), "false");
    assert_string_equal(DEV(&R, U1, "last_alive"), "null");

    /* Logs: rows only (no store here), counted; nothing in the state. */
    uint64_t seq = hub_engine_seq(R.e);
    ok("mqtt", "device.log",
       "{'uuid':'" U1 "','topic':'" ROOT "/" U1 "/logs/error','level':'ERROR','message':'HDMI "
       "lost','timestamp':1775220000000,'context':'{\\'port\\':1}'}");
    assert_true(hub_engine_seq(R.e) == seq + 1);
    assert_int_equal(dev_rig_last(&R)->nchanges, 0);
    assert_true(dev_rig_metric(&R, "fleet_logs_total") == 1);
    ok("mqtt", "device.log", "{'uuid':'" U1 "','topic':'t','level':'INFO','message':'m'}");
    assert_true(dev_rig_metric(&R, "fleet_logs_total") == 2);
    refused("mqtt", "device.log", "{'uuid':'" U1 "','topic':'t','level':'INFO'}", HUB_ERR_INVALID,
            "", "level and message");
    refused("mqtt", "device.log", "{'uuid':'" U2 "','topic':'t','level':'INFO','message':'m'}",
            HUB_ERR_NOT_FOUND, "uuid", NULL);
    refused("mqtt", "device.health", "{'uuid':'" U2 "','topic':'t','health':{}}", HUB_ERR_NOT_FOUND,
            "uuid", NULL);
    assert_true(dev_rig_metric(&R, "fleet_logs_total") == 2);
    assert_true(dev_rig_rejected(&R, "unknown_device") == 2);
}

/* ESP32 and v1 devices: presence is their liveness; a repeated status
 * changes nothing; they take no fleet commands. */
static void test_presence(void **state)
{
    (void)state;
    ok("mqtt", "device.presence",
       "{'id':'esp32_01','kind':'esp32','presence':'online','topic':'devices/esp32_01/status'}");
    assert_string_equal(DEV(&R, "esp32_01", "kind"), "esp32");
    assert_string_equal(DEV(&R, "esp32_01", "presence"), "online");
    assert_string_equal(DEV(&R, "esp32_01", "alive"), "true");
    assert_string_equal(DEV(&R, "esp32_01", "last_alive"), "2026-04-03T12:48:10.000Z");
    assert_string_equal(DEV(&R, "esp32_01", "screen_health_status"), "UNKNOWN");
    assert_int_equal(dev_rig_last(&R)->nmsgs, 0); /* no discovery_ack */
    refused(
        "mqtt", "device.presence",
        "{'id':'esp32_01','kind':'esp32','presence':'online','topic':'devices/esp32_01/status'}",
        HUB_ERR_CONFLICT, "presence", "unchanged");
    dev_clock_advance(1000);
    ok("mqtt", "device.presence",
       "{'id':'esp32_01','kind':'esp32','presence':'offline','topic':'devices/esp32_01/status'}");
    assert_string_equal(DEV(&R, "esp32_01", "presence"), "offline");
    assert_string_equal(DEV(&R, "esp32_01", "alive"), "false");
    assert_string_equal(DEV(&R, "esp32_01", "last_alive"), "2026-04-03T12:48:10.000Z");
    assert_string_equal(DEV(&R, "esp32_01", "last_seen"), "2026-04-03T12:48:11.000Z");
    ok("mqtt", "device.presence",
       "{'id':'lamp1','kind':'v1','presence':'online','topic':'v1/devices/lamp1/state'}");
    assert_string_equal(DEV(&R, "lamp1", "kind"), "v1");
    refused("mqtt", "device.presence", "{'id':'a/b','kind':'v1','presence':'online','topic':'t'}",
            HUB_ERR_INVALID, "", NULL);
    refused("mqtt", "device.presence", "{'id':'x','presence':'online','topic':'t'}",
            HUB_ERR_INVALID, "", NULL);
    /* commands are for infoscreens */
    assert_int_equal(command("api", "esp32_01", "reboot_host", CMD1, ""), HUB_INTENT_REJECTED);
    assert_int_equal(R.err.code, HUB_ERR_NOT_FOUND);
    assert_string_equal(R.err.msg, "Client nicht gefunden");
    /* a group on an ESP32 publishes no group_id topic */
    ok("api", "device.update", "{'id':'esp32_01','group_id':4}");
    assert_string_equal(DEV(&R, "esp32_01", "group_id"), "4");
    assert_int_equal(dev_rig_nmsgs(dev_rig_last(&R), HUB_OUT_MQTT), 0);
    assert_true(dev_rig_metric(&R, "fleet_devices") == 2);
}

static void test_update_group_and_retained_topics(void **state)
{
    (void)state;
    dev_rig_discover(&R, U1);
    dev_rig_discover(&R, U2);
    ok("api", "device.update", "{'id':'" U1 "','group_id':3,'description':'Foyer left'}");
    dev_ann_t *a = dev_rig_last(&R);
    assert_string_equal(DEV(&R, U1, "group_id"), "3");
    assert_string_equal(DEV(&R, U1, "description"), "Foyer left");
    dev_msg_t *m = dev_rig_msg(a, HUB_OUT_MQTT, ROOT "/" U1 "/group_id");
    assert_non_null(m);
    assert_string_equal(m->payload, "3");
    assert_int_equal(m->qos, 1);
    assert_int_equal(m->retain, 1);
    assert_int_equal(m->flags, HUB_OUT_CONFLATE);
    /* the retained topic is the engine's current one */
    assert_int_equal(dev_rig_nmsgs(a, HUB_OUT_MQTT), 1);

    /* null: unassigned, an empty retained payload */
    ok("api", "device.update", "{'id':'" U1 "','group_id':null,'description':null}");
    assert_string_equal(DEV(&R, U1, "group_id"), "null");
    assert_string_equal(DEV(&R, U1, "description"), "null");
    m = dev_rig_msg(dev_rig_last(&R), HUB_OUT_MQTT, ROOT "/" U1 "/group_id");
    assert_non_null(m);
    assert_int_equal(m->len, 0);
    assert_int_equal(m->retain, 1);

    /* refusals change nothing */
    refused("api", "device.update", "{'id':'" U1 "','group':3}", HUB_ERR_INVALID, "group", NULL);
    refused("api", "device.update", "{'id':'" U1 "','group_id':-1}", HUB_ERR_INVALID, "group_id",
            NULL);
    refused("api", "device.update", "{'id':'" U1 "','group_id':'3'}", HUB_ERR_INVALID, "group_id",
            NULL);
    refused("api", "device.update", "{'id':'" U1 "','is_active':'yes'}", HUB_ERR_INVALID,
            "is_active", NULL);
    refused("api", "device.update", "{'id':'" U1 "','description':5}", HUB_ERR_INVALID,
            "description", NULL);
    char p[512], d257[258];
    memset(d257, 'd', 257);
    d257[257] = '\0';
    snprintf(p, sizeof(p), "{'id':'" U1 "','description':'%s'}", d257);
    refused("api", "device.update", p, HUB_ERR_INVALID, "description", NULL);
    refused("api", "device.update", "{'id':'" U3 "','group_id':1}", HUB_ERR_NOT_FOUND, "id",
            "Client nicht gefunden");
    refused("api", "device.update", "{'group_id':1}", HUB_ERR_INVALID, "id", NULL);

    /* the bulk form: all or nothing */
    refused("api", "device.group", "{'ids':['" U1 "','" U3 "'],'group_id':5}", HUB_ERR_NOT_FOUND,
            "ids[1]", NULL);
    assert_string_equal(DEV(&R, U1, "group_id"), "null");
    refused("api", "device.group", "{'ids':[],'group_id':5}", HUB_ERR_INVALID, "ids", NULL);
    refused("api", "device.group", "{'ids':['" U1 "',5],'group_id':5}", HUB_ERR_INVALID, "ids[1]",
            NULL);
    refused("api", "device.group", "{'ids':['" U1 "']}", HUB_ERR_INVALID, "group_id", NULL);
    ok("api", "device.group", "{'ids':['" U1 "','" U2 "'],'group_id':5}");
    a = dev_rig_last(&R);
    assert_int_equal(a->nchanges, 2);
    assert_string_equal(DEV(&R, U1, "group_id"), "5");
    assert_string_equal(DEV(&R, U2, "group_id"), "5");
    assert_string_equal(dev_rig_msg(a, HUB_OUT_MQTT, ROOT "/" U1 "/group_id")->payload, "5");
    assert_string_equal(dev_rig_msg(a, HUB_OUT_MQTT, ROOT "/" U2 "/group_id")->payload, "5");
}

/* Delete: the device, its commands and alerts leave the state in one
 * announcement (rooms devices and commands); its retained group_id and
 * service_failed topics are cleared. */
static void test_delete(void **state)
{
    (void)state;
    dev_rig_discover(&R, U1);
    dev_rig_discover(&R, U2);
    heartbeat(U1, "'process_status':'crashed'");
    assert_int_equal(command("api", U1, "shutdown_host", CMD1, ""), HUB_INTENT_APPLIED);
    assert_int_equal(command("api", U2, "shutdown_host", CMD2, ""), HUB_INTENT_APPLIED);
    assert_string_equal(ALERT(&R, "process_crashed:" U1, "kind"), "process_crashed");

    ok("api", "device.delete", "{'id':'" U1 "'}");
    dev_ann_t *a = dev_rig_last(&R);
    assert_patches(a, "[{\"path\":\"devices.commands." CMD1 "\",\"value\":null},"
                      "{\"path\":\"devices.alerts.process_crashed:" U1 "\",\"value\":null},"
                      "{\"path\":\"devices.registry." U1 "\",\"value\":null}]");
    assert_true(a->rooms == (room_bit("devices") | room_bit("commands")));
    dev_msg_t *m = dev_rig_msg(a, HUB_OUT_MQTT, ROOT "/" U1 "/group_id");
    assert_non_null(m);
    assert_int_equal(m->len, 0);
    assert_int_equal(m->retain, 1);
    m = dev_rig_msg(a, HUB_OUT_MQTT, ROOT "/" U1 "/service_failed");
    assert_non_null(m);
    assert_int_equal(m->len, 0);
    assert_int_equal(m->retain, 1);
    assert_int_equal(m->tracked, 1);
    assert_non_null(strstr(dev_rig_events(&R), "info devices: alert cleared: process_crashed:" U1));
    assert_string_equal(DEV(&R, U1, "id"), "<absent>");
    assert_string_equal(CMD(&R, CMD1, "status"), "<absent>");
    assert_string_equal(CMD(&R, CMD2, "status"), "failed"); /* the other device's stays */
    assert_true(dev_rig_metric(&R, "fleet_devices") == 1);
    assert_true(dev_rig_metric(&R, "fleet_alerts_active") == 0);
    /* gone: its telemetry is an unknown device's, its ACKs an unknown command's */
    refused("mqtt", "device.heartbeat", "{'uuid':'" U1 "','topic':'t'}", HUB_ERR_NOT_FOUND, "uuid",
            NULL);
    refused("api", "device.delete", "{'id':'" U1 "'}", HUB_ERR_NOT_FOUND, "id", NULL);
    refused("api", "device.delete", "{'id':'" U2 "','x':1}", HUB_ERR_INVALID, "x", NULL);
    /* a device that is not an infoscreen has no retained topics to clear */
    ok("mqtt", "device.presence", "{'id':'esp1','kind':'esp32','presence':'online','topic':'t'}");
    ok("api", "device.delete", "{'id':'esp1'}");
    assert_int_equal(dev_rig_nmsgs(dev_rig_last(&R), HUB_OUT_MQTT), 0);
}

/* ---- alerts --------------------------------------------------------------------------- */

static void test_alert_process_crashed(void **state)
{
    (void)state;
    dev_rig_discover(&R, U1);
    dev_clock_advance(1000);
    heartbeat(U1, "'process_status':'crashed'");
    dev_ann_t *a = dev_rig_last(&R);
    assert_int_equal(a->nchanges, 2);
    assert_non_null(strstr(
        a->patches, ",{\"path\":\"devices.alerts.process_crashed:" U1 "\",\"value\":{\"id\":"
                    "\"process_crashed:" U1 "\",\"kind\":\"process_crashed\",\"device\":\"" U1
                    "\",\"since\":\"2026-04-03T12:48:11.000Z\",\"message\":\"" U1
                    " reports its display process crashed\"}}]"));
    assert_true(a->rooms == room_bit("devices"));
    /* the event in room system */
    assert_int_equal(dev_rig_nmsgs(a, HUB_OUT_EVENT), 1);
    assert_string_equal(ALERT(&R, "process_crashed:" U1, "kind"), "process_crashed");
    assert_string_equal(ALERT(&R, "process_crashed:" U1, "device"), U1);
    assert_string_equal(ALERT(&R, "process_crashed:" U1, "since"), "2026-04-03T12:48:11.000Z");
    assert_string_equal(ALERT(&R, "process_crashed:" U1, "message"),
                        U1 " reports its display process crashed");
    assert_string_equal(dev_rig_events(&R), "warning devices: alert process_crashed:" U1 ": " U1
                                            " reports its display process crashed\n");
    assert_true(dev_rig_metric(&R, "fleet_alerts_active") == 1);
    /* still crashed: the alert stays as it was (one change: the device) */
    dev_clock_advance(1000);
    heartbeat(U1, "'process_status':'crashed'");
    assert_int_equal(dev_rig_last(&R)->nchanges, 1);
    assert_string_equal(ALERT(&R, "process_crashed:" U1, "since"), "2026-04-03T12:48:11.000Z");
    /* running again: cleared */
    heartbeat(U1, "'process_status':'running'");
    a = dev_rig_last(&R);
    assert_int_equal(a->nchanges, 2);
    assert_non_null(
        strstr(a->patches, "{\"path\":\"devices.alerts.process_crashed:" U1 "\",\"value\":null}"));
    assert_string_equal(ALERT(&R, "process_crashed:" U1, "kind"), "<absent>");
    assert_non_null(strstr(dev_rig_events(&R), "info devices: alert cleared: process_crashed:" U1));
    assert_true(dev_rig_metric(&R, "fleet_alerts_active") == 0);
    /* crashed again, then deactivated: an inactive device raises nothing */
    heartbeat(U1, "'process_status':'crashed'");
    assert_string_equal(ALERT(&R, "process_crashed:" U1, "kind"), "process_crashed");
    ok("api", "device.update", "{'id':'" U1 "','is_active':false,'description':'Foyer'}");
    assert_string_equal(ALERT(&R, "process_crashed:" U1, "kind"), "<absent>");
    ok("api", "device.update", "{'id':'" U1 "','is_active':true}");
    assert_string_equal(ALERT(&R, "process_crashed:" U1, "message"),
                        "Foyer reports its display process crashed");
    /* health says crashed too */
    heartbeat(U1, "'process_status':'running'");
    ok("mqtt", "device.health",
       "{'uuid':'" U1 "','topic':'t','health':{},'process_status':'crashed'}");
    assert_string_equal(ALERT(&R, "process_crashed:" U1, "kind"), "process_crashed");
}

static void test_alert_service_failed_and_clear(void **state)
{
    (void)state;
    dev_rig_discover(&R, U1);
    refused("api", "device.clear_service_failed", "{'id':'" U1 "'}", HUB_ERR_CONFLICT,
            "service_failed", "Kein service_failed Flag gesetzt.");
    ok("mqtt", "device.service_failed",
       "{'uuid':'" U1 "','topic':'" ROOT "/" U1 "/service_failed','unit':'infoscreen.service',"
       "'failed_at':1775220400000}");
    assert_string_equal(DEV(&R, U1, "service_failed_at"), dev_time(1775220400000ull));
    assert_string_equal(DEV(&R, U1, "service_failed_unit"), "infoscreen.service");
    assert_string_equal(ALERT(&R, "service_failed:" U1, "message"),
                        U1 ": systemd gave up restarting infoscreen.service; acknowledge once "
                           "fixed");
    assert_string_equal(ALERT(&R, "service_failed:" U1, "since"), dev_time(DEV_T0));
    /* without failed_at or unit: now, and "its service" */
    dev_rig_discover(&R, U2);
    ok("mqtt", "device.service_failed", "{'uuid':'" U2 "','topic':'t'}");
    assert_string_equal(DEV(&R, U2, "service_failed_at"), dev_time(DEV_T0));
    assert_string_equal(DEV(&R, U2, "service_failed_unit"), "null");
    assert_non_null(strstr(ALERT(&R, "service_failed:" U2, "message"), "restarting its service"));
    assert_true(dev_rig_metric(&R, "fleet_alerts_active") == 2);

    dev_clock_advance(60000);
    ok("api", "device.clear_service_failed", "{'id':'" U1 "'}");
    dev_ann_t *a = dev_rig_last(&R);
    assert_true(a->rooms == room_bit("devices"));
    assert_string_equal(DEV(&R, U1, "service_failed_at"), "null");
    assert_string_equal(DEV(&R, U1, "service_failed_unit"), "null");
    assert_string_equal(ALERT(&R, "service_failed:" U1, "kind"), "<absent>");
    /* the broker forgets the retained message: an empty retained publish, tracked */
    dev_msg_t *m = dev_rig_msg(a, HUB_OUT_MQTT, ROOT "/" U1 "/service_failed");
    assert_non_null(m);
    assert_int_equal(m->len, 0);
    assert_int_equal(m->retain, 1);
    assert_int_equal(m->qos, 1);
    assert_int_equal(m->tracked, 1);
    assert_int_equal(dev_rig_nmsgs(a, HUB_OUT_MQTT), 1); /* no group_id: that stays */
    /* its failed publish (no MQTT here) is only a warning: the flag stays cleared */
    assert_string_equal(DEV(&R, U1, "service_failed_at"), "null");
    assert_true(hub_engine_idle(R.e));
    refused("api", "device.clear_service_failed", "{'id':'" U1 "'}", HUB_ERR_CONFLICT,
            "service_failed", NULL);
    refused("api", "device.clear_service_failed", "{'id':'" U3 "'}", HUB_ERR_NOT_FOUND, "id",
            "Client nicht gefunden");
    assert_true(dev_rig_metric(&R, "fleet_alerts_active") == 1);
}

/* ---- commands ---------------------------------------------------------------------------- */

#define CMD1_T0                                                                                    \
    "{\"command_id\":\"" CMD1 "\",\"client_uuid\":\"" U1 "\",\"action\":\"reboot_host\","          \
    "\"status\":\"publish_in_progress\",\"reason\":\"operator_request\",\"requested_by\":1,"       \
    "\"issued_at\":\"2026-04-03T12:48:10.000Z\",\"expires_at\":\"2026-04-03T12:52:10.000Z\","      \
    "\"published_at\":null,\"acked_at\":null,\"execution_started_at\":null,"                       \
    "\"completed_at\":null,\"failed_at\":null,\"error_code\":null,\"error_message\":null,"         \
    "\"created_at\":\"2026-04-03T12:48:10.000Z\",\"updated_at\":\"2026-04-03T12:48:10.000Z\"}"
#define CMD1_PAYLOAD                                                                               \
    "{\"schema_version\":\"1.0\",\"command_id\":\"" CMD1 "\",\"client_uuid\":\"" U1                \
    "\",\"action\":\"reboot_host\",\"issued_at\":\"2026-04-03T12:48:10Z\",\"expires_at\":\"2026-"  \
    "04-03T12:52:10Z\",\"requested_by\":1,\"reason\":\"operator_request\"}"

/* Issue: publish_in_progress in room commands, and the tracked publish of
 * seed 004's v1 payload to <root>/<uuid>/commands, with the alias (and the
 * legacy restart) untracked; the PUBACK makes it published. */
static void test_command_issue_and_publish(void **state)
{
    (void)state;
    dev_rig_discover(&R, U1);
    assert_int_equal(command("api", U1, "reboot_host", CMD1,
                             "'reason':'  operator_request \\n','requested_by':1"),
                     HUB_INTENT_APPLIED);
    dev_ann_t *a = dev_rig_last(&R);
    assert_string_equal(a->name, "device.command");
    assert_patches(a, "[{\"path\":\"devices.commands." CMD1 "\",\"value\":" CMD1_T0 "}]");
    assert_true(a->rooms == room_bit("commands"));
    assert_int_equal(dev_rig_nmsgs(a, HUB_OUT_MQTT), 2);
    dev_msg_t *m = canonical(U1);
    assert_string_equal(m->payload, CMD1_PAYLOAD);
    assert_int_equal(m->qos, 1);
    assert_int_equal(m->retain, 0);
    assert_int_equal(m->tracked, 1);
    dev_msg_t *alias = dev_rig_msg(a, HUB_OUT_MQTT, ROOT "/" U1 "/command");
    assert_non_null(alias);
    assert_string_equal(alias->payload, CMD1_PAYLOAD);
    assert_int_equal(alias->qos, 1);
    assert_int_equal(alias->retain, 0);
    assert_int_equal(alias->tracked, 0);
    assert_null(dev_rig_msg(a, HUB_OUT_MQTT, "clients/" U1 "/restart"));
    assert_true(commands_total("reboot_host", "queued") == 1);
    assert_true(commands_total("reboot_host", "publish_in_progress") == 1);
    assert_true(commands_total("reboot_host", "published") == 0);

    /* the broker's PUBACK, a second later */
    dev_clock_advance(1000);
    size_t n = R.nanns;
    dev_rig_puback(&R, m, 1, NULL);
    assert_int_equal(R.nanns, n + 1);
    a = dev_rig_last(&R);
    assert_string_equal(a->name, "device.command_sent");
    assert_string_equal(a->src, "mqtt");
    assert_true(a->rooms == room_bit("commands"));
    assert_int_equal(dev_rig_nmsgs(a, HUB_OUT_MQTT), 0); /* not published again */
    assert_string_equal(CMD(&R, CMD1, "status"), "published");
    assert_string_equal(CMD(&R, CMD1, "published_at"), "2026-04-03T12:48:11.000Z");
    assert_string_equal(CMD(&R, CMD1, "updated_at"), "2026-04-03T12:48:11.000Z");
    assert_string_equal(CMD(&R, CMD1, "error_code"), "null");
    assert_true(commands_total("reboot_host", "published") == 1);

    /* the legacy restart (POST /api/clients/<uuid>/restart) and an empty reason */
    assert_int_equal(command("api", U1, "reboot_host", CMD2, "'legacy':true,'reason':'   '"),
                     HUB_INTENT_APPLIED);
    a = dev_rig_last(&R);
    assert_int_equal(dev_rig_nmsgs(a, HUB_OUT_MQTT), 3);
    m = dev_rig_msg(a, HUB_OUT_MQTT, "clients/" U1 "/restart");
    assert_non_null(m);
    assert_string_equal(m->payload, "{\"action\":\"restart\"}");
    assert_int_equal(m->qos, 1);
    assert_int_equal(m->tracked, 0);
    assert_string_equal(CMD(&R, CMD2, "reason"), "null");
    assert_string_equal(CMD(&R, CMD2, "requested_by"), "null");
    assert_non_null(strstr(canonical(U1)->payload, "\"requested_by\":null,\"reason\":null}"));
    /* legacy is for reboots only; a reason that is a number is its text */
    assert_int_equal(command("api", U1, "shutdown_host", CMD3, "'legacy':true,'reason':42"),
                     HUB_INTENT_APPLIED);
    assert_null(dev_rig_msg(dev_rig_last(&R), HUB_OUT_MQTT, "clients/" U1 "/restart"));
    assert_string_equal(CMD(&R, CMD3, "reason"), "42");

    /* FLEET_COMPAT_TOPICS=false: the canonical topic only */
    R.d->cfg.compat_topics = 0;
    ok("api", "device.command", "{'device':'" U1 "','action':'restart_app','legacy':true}");
    a = dev_rig_last(&R);
    assert_int_equal(dev_rig_nmsgs(a, HUB_OUT_MQTT), 1);
    assert_non_null(canonical(U1));
    /* prepare made the command_id: a UUID, in the journal's payload too */
    assert_true(hub_uuid_valid(R.cmd_id, strlen(R.cmd_id)));
    assert_string_equal(CMD(&R, R.cmd_id, "action"), "restart_app");
    assert_string_equal(CMD(&R, R.cmd_id, "status"), "publish_in_progress");
}

/* No subscriber reports publishes (MQTT disabled): the command fails at
 * once with mqtt_publish_failed; a broker's failure does the same with its
 * reason; an empty reason reads "Unknown publish error". */
static void test_command_publish_failures(void **state)
{
    (void)state;
    dev_rig_discover(&R, U1);
    assert_int_equal(command("api", U1, "shutdown_host", CMD1, ""), HUB_INTENT_APPLIED);
    assert_string_equal(CMD(&R, CMD1, "status"), "failed");
    assert_string_equal(CMD(&R, CMD1, "error_code"), "mqtt_publish_failed");
    assert_string_equal(CMD(&R, CMD1, "error_message"),
                        "MQTT is disabled (DMX_MQTT_ENABLED=false)");
    assert_string_equal(CMD(&R, CMD1, "failed_at"), dev_time(DEV_T0));
    assert_string_equal(CMD(&R, CMD1, "published_at"), "null");
    dev_ann_t *a = dev_rig_last(&R);
    assert_string_equal(a->name, "device.command_sent");
    assert_string_equal(a->src, "mqtt");
    assert_true(commands_total("shutdown_host", "failed") == 1);
    /* the outcome of an unknown command: refused */
    refused("mqtt", "device.command_sent", "{'command_id':'" CMD3 "','ok':true}", HUB_ERR_NOT_FOUND,
            "command_id", NULL);
    /* a second outcome for a failed command changes nothing */
    refused("mqtt", "device.command_sent", "{'command_id':'" CMD1 "','ok':false,'error':'x'}",
            HUB_ERR_CONFLICT, "", NULL);
}

static void test_command_publish_outcomes_tracked(void **state)
{
    (void)state;
    dev_rig_discover(&R, U1);
    assert_int_equal(command("api", U1, "shutdown_host", CMD1, ""), HUB_INTENT_APPLIED);
    dev_clock_advance(500);
    dev_rig_puback(&R, canonical(U1), 0, "no PUBACK from the MQTT broker within 5 s");
    assert_string_equal(CMD(&R, CMD1, "status"), "failed");
    assert_string_equal(CMD(&R, CMD1, "error_code"), "mqtt_publish_failed");
    assert_string_equal(CMD(&R, CMD1, "error_message"),
                        "no PUBACK from the MQTT broker within 5 s");
    assert_string_equal(CMD(&R, CMD1, "failed_at"), dev_time(DEV_T0 + 500));
    assert_int_equal(command("api", U1, "shutdown_host", CMD2, ""), HUB_INTENT_APPLIED);
    dev_rig_puback(&R, canonical(U1), 0, "");
    assert_string_equal(CMD(&R, CMD2, "error_message"), "Unknown publish error");
    assert_int_equal(command("api", U1, "shutdown_host", CMD3, ""), HUB_INTENT_APPLIED);
    dev_rig_puback(&R, canonical(U1), 0, NULL);
    assert_string_equal(CMD(&R, CMD3, "error_message"), "Unknown publish error");
    assert_true(commands_total("shutdown_host", "failed") == 3);

    /* the publish race: the ACK comes before the PUBACK; the PUBACK then
     * sets published_at and never moves the command back */
    const char *c4 = "8a4cbe7e-a1b8-47ce-b26b-6c8080d815b7";
    assert_int_equal(command("api", U1, "shutdown_host", c4, ""), HUB_INTENT_APPLIED);
    dev_msg_t keep = *canonical(U1);
    dev_clock_advance(100);
    ack(U1, c4, "accepted", NULL, NULL);
    assert_int_equal(R.outcome, HUB_INTENT_APPLIED);
    assert_string_equal(CMD(&R, c4, "status"), "ack_received");
    assert_string_equal(CMD(&R, c4, "published_at"), "null");
    dev_clock_advance(100);
    dev_rig_puback(&R, &keep, 1, NULL);
    assert_string_equal(CMD(&R, c4, "status"), "ack_received");
    assert_string_equal(CMD(&R, c4, "published_at"), dev_time(DEV_T0 + 700));
    /* a publish failure after the ACK: refused, nothing moves */
    char p[200];
    snprintf(p, sizeof(p), "{'command_id':'%s','ok':false,'error':'late'}", c4);
    refused("mqtt", "device.command_sent", p, HUB_ERR_CONFLICT, "", "moved on");
    assert_string_equal(CMD(&R, c4, "status"), "ack_received");
    assert_string_equal(CMD(&R, c4, "error_code"), "null");
    /* an ok outcome once published_at is set: nothing to do */
    snprintf(p, sizeof(p), "{'command_id':'%s','ok':true}", c4);
    refused("mqtt", "device.command_sent", p, HUB_ERR_CONFLICT, "", NULL);
}

static void test_command_refusals(void **state)
{
    (void)state;
    dev_rig_discover(&R, U1);
    refused("api", "device.command", "{'device':'" U2 "','action':'reboot_host'}",
            HUB_ERR_NOT_FOUND, "device", "Client nicht gefunden");
    refused("api", "device.command", "{'device':'" U1 "','action':'reboot'}", HUB_ERR_INVALID,
            "action", "Unsupported action 'reboot'");
    refused("api", "device.command", "{'device':'" U1 "'}", HUB_ERR_INVALID, "action", NULL);
    refused("api", "device.command", "{'action':'reboot_host'}", HUB_ERR_INVALID, "device", NULL);
    refused("api", "device.command", "{'device':'" U1 "','action':'reboot_host','requested_by':0}",
            HUB_ERR_INVALID, "requested_by", NULL);
    refused("api", "device.command",
            "{'device':'" U1 "','action':'reboot_host','requested_by':'me'}", HUB_ERR_INVALID,
            "requested_by", NULL);
    refused("api", "device.command", "{'device':'" U1 "','action':'reboot_host','why':'x'}",
            HUB_ERR_INVALID, "why", NULL);
    refused("api", "device.command", "{'device':'" U1 "','action':'reboot_host','reason':{}}",
            HUB_ERR_INVALID, "reason", NULL);
    /* prepare: a command_id given must be a UUID */
    refused("api", "device.command",
            "{'device':'" U1 "','action':'reboot_host','command_id':'nope'}", HUB_ERR_INVALID,
            "command_id", NULL);
    /* at most 2000 characters of reason (characters, not bytes) */
    char *p = hub_malloc(6000);
    int n = snprintf(p, 6000, "{'device':'" U1 "','action':'shutdown_host','reason':'");
    for (int i = 0; i < 2000; i++)
        n += snprintf(p + n, (size_t)(6000 - n), "\xc3\xa9");
    snprintf(p + n, (size_t)(6000 - n), "'}");
    ok("api", "device.command", p);
    n = snprintf(p, 6000, "{'device':'" U1 "','action':'shutdown_host','reason':'");
    for (int i = 0; i < 2001; i++)
        p[n++] = 'x';
    snprintf(p + n, (size_t)(6000 - n), "'}");
    refused("api", "device.command", p, HUB_ERR_INVALID, "reason", "2000");
    hub_free(p);
    /* one command_id once */
    assert_int_equal(command("api", U1, "shutdown_host", CMD1, ""), HUB_INTENT_APPLIED);
    refused("api", "device.command",
            "{'device':'" U1 "','action':'shutdown_host','command_id':'" CMD1 "'}",
            HUB_ERR_CONFLICT, "command_id", NULL);
}

/* ---- ACKs ---------------------------------------------------------------------------------- */

static void test_ack_lifecycle(void **state)
{
    (void)state;
    dev_rig_discover(&R, U1);
    dev_rig_discover(&R, U2);
    assert_int_equal(command("api", U1, "reboot_host", CMD1, ""), HUB_INTENT_APPLIED);
    dev_clock_advance(1000);
    dev_rig_puback(&R, canonical(U1), 1, NULL);
    dev_clock_advance(2000);
    ack(U1, CMD1, "accepted", NULL, NULL);
    assert_int_equal(R.outcome, HUB_INTENT_APPLIED);
    dev_ann_t *a = dev_rig_last(&R);
    assert_string_equal(a->name, "device.ack");
    assert_true(a->rooms == room_bit("commands"));
    assert_patches(
        a, "[{\"path\":\"devices.commands." CMD1 "\",\"value\":{\"command_id\":\"" CMD1
           "\",\"client_uuid\":\"" U1 "\",\"action\":\"reboot_host\",\"status\":\"ack_received\","
           "\"reason\":null,\"requested_by\":null,\"issued_at\":\"2026-04-03T12:48:10.000Z\","
           "\"expires_at\":\"2026-04-03T12:52:10.000Z\",\"published_at\":\"2026-04-03T12:48:11."
           "000Z\",\"acked_at\":\"2026-04-03T12:48:13.000Z\",\"execution_started_at\":null,"
           "\"completed_at\":null,\"failed_at\":null,\"error_code\":null,\"error_message\":null,"
           "\"created_at\":\"2026-04-03T12:48:10.000Z\",\"updated_at\":\"2026-04-03T12:48:13."
           "000Z\"}}]");
    assert_int_equal(dev_rig_nmsgs(a, HUB_OUT_MQTT), 0);
    assert_string_equal(CMD(&R, CMD1, "status"), "ack_received");
    assert_string_equal(CMD(&R, CMD1, "acked_at"), dev_time(DEV_T0 + 3000));
    assert_true(dev_rig_metric(&R, "fleet_command_accept_seconds_count") == 1);
    assert_true(dev_rig_metric(&R, "fleet_command_accept_seconds_sum") == 2.0);

    /* another device's topic: refused, counted, nothing moves */
    ack(U2, CMD1, "completed", NULL, NULL);
    assert_int_equal(R.outcome, HUB_INTENT_REJECTED);
    assert_int_equal(R.err.code, HUB_ERR_CONFLICT);
    assert_string_equal(R.err.field, "uuid");
    assert_true(acks_ignored("wrong_device") == 1);
    assert_string_equal(CMD(&R, CMD1, "status"), "ack_received");

    dev_clock_advance(1000);
    ack(U1, CMD1, "execution_started", NULL, NULL);
    assert_string_equal(CMD(&R, CMD1, "status"), "execution_started");
    assert_string_equal(CMD(&R, CMD1, "execution_started_at"), dev_time(DEV_T0 + 4000));
    /* behind: a late accepted, or the same status again */
    ack(U1, CMD1, "accepted", NULL, NULL);
    assert_int_equal(R.outcome, HUB_INTENT_REJECTED);
    assert_int_equal(R.err.code, HUB_ERR_CONFLICT);
    ack(U1, CMD1, "execution_started", NULL, NULL);
    assert_int_equal(R.outcome, HUB_INTENT_REJECTED);
    assert_true(acks_ignored("backwards") == 2);
    assert_string_equal(CMD(&R, CMD1, "status"), "execution_started");
    assert_string_equal(CMD(&R, CMD1, "acked_at"), dev_time(DEV_T0 + 3000));

    dev_clock_advance(60000);
    ack(U1, CMD1, "completed", NULL, NULL);
    assert_string_equal(CMD(&R, CMD1, "status"), "completed");
    assert_string_equal(CMD(&R, CMD1, "completed_at"), dev_time(DEV_T0 + 64000));
    assert_true(dev_rig_metric(&R, "fleet_command_complete_seconds_count") == 1);
    assert_true(dev_rig_metric(&R, "fleet_command_complete_seconds_sum") == 63.0);
    assert_true(commands_total("reboot_host", "completed") == 1);
    /* terminal: every later ACK is ignored (the seed's rule) */
    ack(U1, CMD1, "failed", "x", "y");
    assert_int_equal(R.outcome, HUB_INTENT_REJECTED);
    ack(U1, CMD1, "completed", NULL, NULL);
    assert_int_equal(R.outcome, HUB_INTENT_REJECTED);
    assert_true(acks_ignored("terminal") == 2);
    assert_string_equal(CMD(&R, CMD1, "status"), "completed");
    assert_string_equal(CMD(&R, CMD1, "error_code"), "null");
    /* an unknown command */
    ack(U1, CMD3, "accepted", NULL, NULL);
    assert_int_equal(R.outcome, HUB_INTENT_REJECTED);
    assert_int_equal(R.err.code, HUB_ERR_NOT_FOUND);
    assert_true(acks_ignored("unknown_command") == 1);
    refused("mqtt", "device.ack", "{'uuid':'" U1 "','command_id':'" CMD1 "'}", HUB_ERR_INVALID, "",
            NULL);

    /* failed: from any non-terminal status, with the device's error fields */
    assert_int_equal(command("api", U1, "restart_app", CMD2, ""), HUB_INTENT_APPLIED);
    dev_clock_advance(10);
    ack(U1, CMD2, "failed", "display_error", "the display manager did not come back");
    assert_int_equal(R.outcome, HUB_INTENT_APPLIED);
    assert_string_equal(CMD(&R, CMD2, "status"), "failed");
    assert_string_equal(CMD(&R, CMD2, "error_code"), "display_error");
    assert_string_equal(CMD(&R, CMD2, "error_message"), "the display manager did not come back");
    assert_string_equal(CMD(&R, CMD2, "failed_at"), dev_time(DEV_T0 + 64010));
    assert_true(commands_total("restart_app", "failed") == 1);
    /* the PUBACK that comes after: the failed command stays failed */
    dev_rig_puback(&R, canonical(U1), 1, NULL);
    assert_string_equal(CMD(&R, CMD2, "status"), "failed");
    assert_string_equal(CMD(&R, CMD2, "error_code"), "display_error");
}

/* A publish outcome that finds the engine's queue full is kept and
 * submitted again from the retry timer (100 ms), not lost: the command
 * still becomes published. */
static void test_publish_outcome_retried_when_queue_full(void **state)
{
    (void)state;
    dev_rig_discover(&R, U1);
    assert_int_equal(command("api", U1, "shutdown_host", CMD1, ""), HUB_INTENT_APPLIED);
    dev_msg_t m = *canonical(U1);
    for (int i = 0; i < 4; i++) {
        char p[200];
        snprintf(p, sizeof(p), "{'uuid':'%s','topic':'t'}", U1);
        hub_intent_t *in = hub_intent_new("", "mqtt", "device.heartbeat");
        snprintf(in->req_id, sizeof(in->req_id), "fill-%d", i);
        in->internal = 1; /* telemetry, as the MQTT ingest makes it */
        hub_intent_set_payload(in, dev_json(p));
        assert_int_equal(hub_engine_submit(R.e, in), 0);
    }
    assert_int_equal(hub_engine_room(R.e), 0);
    m.sent(m.ctx, m.token, 1, NULL); /* the PUBACK: its intent does not fit */
    dev_rig_settle(&R);
    assert_string_equal(CMD(&R, CMD1, "status"), "publish_in_progress");
    uint64_t t0 = hub_mono_us();
    for (int i = 0; i < 2000 && strcmp(CMD(&R, CMD1, "status"), "published") != 0; i++) {
        uv_run(&R.loop, UV_RUN_NOWAIT);
        hub_engine_drain_now(R.e);
        dev_rig_sleep_ms(1);
    }
    assert_string_equal(CMD(&R, CMD1, "status"), "published");
    assert_true(hub_mono_us() - t0 >= 50000);
    dev_ann_t *a = dev_rig_last(&R);
    assert_string_equal(a->name, "device.command_sent");
}

/* ---- the safety lockout ------------------------------------------------------------------ */

static void test_lockout(void **state)
{
    static const char *const ids[] = {
        "00000000-0000-4000-8000-000000000001", "00000000-0000-4000-8000-000000000002",
        "00000000-0000-4000-8000-000000000003", "00000000-0000-4000-8000-000000000004",
        "00000000-0000-4000-8000-000000000005", "00000000-0000-4000-8000-000000000006",
        "00000000-0000-4000-8000-000000000007", "00000000-0000-4000-8000-000000000008",
        "00000000-0000-4000-8000-000000000009", "00000000-0000-4000-8000-00000000000a",
        "00000000-0000-4000-8000-00000000000b", "00000000-0000-4000-8000-00000000000c",
    };
    (void)state;
    dev_rig_discover(&R, U1);
    dev_rig_discover(&R, U2);
    /* three that count (failed ones too: every row counts) */
    assert_int_equal(command("api", U1, "reboot_host", ids[0], ""), HUB_INTENT_APPLIED);
    dev_clock_advance(60000);
    assert_int_equal(command("api", U1, "restart_app", ids[1], ""), HUB_INTENT_APPLIED);
    dev_clock_advance(60000);
    assert_int_equal(command("api", U1, "reboot_host", ids[2], ""), HUB_INTENT_APPLIED);
    /* shutdown_host never counts and is never locked out */
    assert_int_equal(command("api", U1, "shutdown_host", ids[3], ""), HUB_INTENT_APPLIED);
    assert_string_equal(CMD(&R, ids[3], "status"), "failed"); /* published (and failed: no MQTT) */
    /* the 4th: blocked_safety, terminal at once, not published */
    dev_clock_advance(60000);
    size_t n = R.nanns;
    assert_int_equal(command("api", U1, "reboot_host", ids[4], ""), HUB_INTENT_APPLIED);
    assert_int_equal(R.nanns, n + 1); /* no publish outcome follows */
    dev_ann_t *a = dev_rig_last(&R);
    assert_string_equal(a->name, "device.command");
    assert_int_equal(dev_rig_nmsgs(a, HUB_OUT_MQTT), 0);
    assert_string_equal(CMD(&R, ids[4], "status"), "blocked_safety");
    assert_string_equal(CMD(&R, ids[4], "error_code"), "lockout_threshold");
    assert_string_equal(CMD(&R, ids[4], "error_message"), "Reboot lockout active for this client");
    assert_string_equal(CMD(&R, ids[4], "failed_at"), dev_time(DEV_T0 + 180000));
    assert_string_equal(CMD(&R, ids[4], "published_at"), "null");
    assert_true(commands_total("reboot_host", "blocked_safety") == 1);
    assert_true(commands_total("reboot_host", "queued") == 3);
    assert_int_equal(command("api", U1, "restart_app", ids[5], ""), HUB_INTENT_APPLIED);
    assert_string_equal(CMD(&R, ids[5], "status"), "blocked_safety");
    assert_int_equal(command("api", U1, "shutdown_host", ids[6], ""), HUB_INTENT_APPLIED);
    assert_string_equal(CMD(&R, ids[6], "status"), "failed");
    /* another device is not affected */
    assert_int_equal(command("api", U2, "reboot_host", ids[7], ""), HUB_INTENT_APPLIED);
    assert_string_equal(CMD(&R, ids[7], "status"), "failed");
    /* crash recovery (src scheduler, recovery:true) is not locked out; its expiry is its own */
    assert_int_equal(command("scheduler", U1, "reboot_host", ids[8],
                             "'recovery':true,'reason':'process_crashed'"),
                     HUB_INTENT_APPLIED);
    assert_string_equal(CMD(&R, ids[8], "status"), "failed"); /* published (no MQTT) */
    assert_string_equal(CMD(&R, ids[8], "expires_at"), dev_time(DEV_T0 + 180000 + 300000));
    /* recovery:true from anyone else, or the scheduler without it: locked out */
    assert_int_equal(command("api", U1, "reboot_host", ids[9], "'recovery':true"),
                     HUB_INTENT_APPLIED);
    assert_string_equal(CMD(&R, ids[9], "status"), "blocked_safety");
    assert_string_equal(CMD(&R, ids[9], "expires_at"), dev_time(DEV_T0 + 180000 + 240000));
    assert_int_equal(command("scheduler", U1, "reboot_host", ids[10], ""), HUB_INTENT_APPLIED);
    assert_string_equal(CMD(&R, ids[10], "status"), "blocked_safety");
    /* 15 minutes after the last of them: free again */
    dev_clock_advance(15 * 60000 + 1);
    assert_int_equal(command("api", U1, "reboot_host", ids[11], ""), HUB_INTENT_APPLIED);
    assert_string_equal(CMD(&R, ids[11], "status"), "failed"); /* published */
}

/* Blocked rows count: hammering keeps the device locked (seed 004). */
static void test_lockout_blocked_rows_count(void **state)
{
    static const char *const ids[] = {
        "10000000-0000-4000-8000-000000000001", "10000000-0000-4000-8000-000000000002",
        "10000000-0000-4000-8000-000000000003", "10000000-0000-4000-8000-000000000004",
        "10000000-0000-4000-8000-000000000005", "10000000-0000-4000-8000-000000000006",
    };
    (void)state;
    dev_rig_discover(&R, U1);
    assert_int_equal(command("api", U1, "reboot_host", ids[0], ""), HUB_INTENT_APPLIED); /* 0 */
    dev_clock_advance(5 * 60000);
    assert_int_equal(command("api", U1, "reboot_host", ids[1], ""), HUB_INTENT_APPLIED); /* 5 */
    dev_clock_advance(5 * 60000);
    assert_int_equal(command("api", U1, "reboot_host", ids[2], ""), HUB_INTENT_APPLIED); /* 10 */
    dev_clock_advance(60000);
    assert_int_equal(command("api", U1, "reboot_host", ids[3], ""), HUB_INTENT_APPLIED); /* 11 */
    assert_string_equal(CMD(&R, ids[3], "status"), "blocked_safety");
    /* at 16 min the first left the window; 5, 10 and the blocked 11 are in it */
    dev_clock_advance(5 * 60000);
    assert_int_equal(command("api", U1, "reboot_host", ids[4], ""), HUB_INTENT_APPLIED); /* 16 */
    assert_string_equal(CMD(&R, ids[4], "status"), "blocked_safety");
    /* at 26 min 1 ms: only 16 is within the window (11 just left it) */
    dev_clock_advance(10 * 60000 + 1);
    assert_int_equal(command("api", U1, "reboot_host", ids[5], ""), HUB_INTENT_APPLIED);
    assert_string_equal(CMD(&R, ids[5], "status"), "failed"); /* published */
}

/* ---- expiry and the sweep ------------------------------------------------------------------ */

/* Non-terminal commands past expires_at are expired by devices.sweep (not
 * a millisecond before); terminal ones leave the state 10 minutes after
 * their last change. */
static void test_expiry_sweep(void **state)
{
    (void)state;
    dev_rig_discover(&R, U1);
    assert_int_equal(command("api", U1, "shutdown_host", CMD1, ""), HUB_INTENT_APPLIED);
    assert_int_equal(command("api", U1, "shutdown_host", CMD2, ""), HUB_INTENT_APPLIED);
    dev_rig_puback(&R, canonical(U1), 1, NULL); /* CMD2 published */
    assert_int_equal(command("api", U1, "shutdown_host", CMD3, ""), HUB_INTENT_APPLIED);
    ack(U1, CMD3, "accepted", NULL, NULL); /* CMD3 ack_received, CMD1 publish_in_progress */
    assert_string_equal(CMD(&R, CMD1, "expires_at"), dev_time(DEV_T0 + 240000));

    /* nothing yet at expires_at itself */
    dev_clock_set(DEV_T0 + 240000);
    refused("timer", "devices.sweep", "{}", HUB_ERR_CONFLICT, "", "nothing to sweep");
    dev_clock_set(DEV_T0 + 240001);
    ok("timer", "devices.sweep", "{}");
    dev_ann_t *a = dev_rig_last(&R);
    assert_int_equal(a->nchanges, 3);
    assert_true(a->rooms == room_bit("commands"));
    static const char *const ids[] = {CMD1, CMD2, CMD3};
    for (int i = 0; i < 3; i++) {
        assert_string_equal(CMD(&R, ids[i], "status"), "expired");
        assert_string_equal(CMD(&R, ids[i], "error_code"), "expired");
        assert_string_equal(CMD(&R, ids[i], "error_message"),
                            "Command expired before terminal state was reached.");
        assert_string_equal(CMD(&R, ids[i], "failed_at"), dev_time(DEV_T0 + 240001));
        assert_string_equal(CMD(&R, ids[i], "updated_at"), dev_time(DEV_T0 + 240001));
    }
    assert_string_equal(CMD(&R, CMD2, "published_at"), dev_time(DEV_T0));
    assert_string_equal(CMD(&R, CMD3, "acked_at"), dev_time(DEV_T0));
    assert_true(commands_total("shutdown_host", "expired") == 3);
    /* a late ACK for an expired command is ignored */
    ack(U1, CMD3, "completed", NULL, NULL);
    assert_int_equal(R.outcome, HUB_INTENT_REJECTED);
    assert_string_equal(CMD(&R, CMD3, "status"), "expired");

    /* a command completed later leaves on its own schedule */
    const char *c4 = "8a4cbe7e-a1b8-47ce-b26b-6c8080d815b7";
    dev_clock_set(DEV_T0 + 300000);
    assert_int_equal(command("api", U1, "shutdown_host", c4, ""), HUB_INTENT_APPLIED);
    ack(U1, c4, "completed", NULL, NULL);
    assert_string_equal(CMD(&R, c4, "status"), "completed");

    /* 10 minutes after the expiry: still there; a millisecond later gone */
    dev_clock_set(DEV_T0 + 240001 + 600000);
    refused("timer", "devices.sweep", "{}", HUB_ERR_CONFLICT, "", NULL);
    dev_clock_advance(1);
    ok("timer", "devices.sweep", "{}");
    a = dev_rig_last(&R);
    assert_int_equal(a->nchanges, 3); /* in order of their last change: here one time */
    for (int i = 0; i < 3; i++) {
        char want[128];
        snprintf(want, sizeof(want), "{\"path\":\"devices.commands.%s\",\"value\":null}", ids[i]);
        assert_non_null(strstr(a->patches, want));
        assert_string_equal(CMD(&R, ids[i], "status"), "<absent>");
    }
    assert_string_equal(CMD(&R, c4, "status"), "completed");
    dev_clock_set(DEV_T0 + 300000 + 600001);
    ok("timer", "devices.sweep", "{}");
    assert_patches(dev_rig_last(&R),
                   "[{\"path\":\"devices.commands.8a4cbe7e-a1b8-47ce-b26b-6c8080d815b7\","
                   "\"value\":null}]");
    refused("timer", "devices.sweep", "{}", HUB_ERR_CONFLICT, "", NULL);
    /* log retention alone is something to do (rows only) */
    ok("timer", "devices.sweep", "{'logs_before':1770000000000}");
    assert_int_equal(dev_rig_last(&R)->nchanges, 0);
}

/* The poll timer's pass (dev__poll): the sweep and liveness only when
 * they have something to do, so an idle fleet writes nothing (takes no
 * seq). Without a reader (no store) there are no logs to prune;
 * test_devices_store covers that pass. */
static void test_poll_pass(void **state)
{
    (void)state;
    dev_rig_discover(&R, U1);
    heartbeat(U1, "");
    uint64_t seq = hub_engine_seq(R.e);
    dev__poll(R.d);
    dev_rig_settle(&R);
    assert_true(hub_engine_seq(R.e) == seq);
    /* the heartbeat is too old: liveness, from the timer */
    dev_clock_advance(10001);
    dev__poll(R.d);
    dev_rig_settle(&R);
    dev_ann_t *a = dev_rig_last(&R);
    assert_string_equal(a->name, "devices.liveness");
    assert_string_equal(a->src, "timer");
    assert_string_equal(a->payload, "{}");
    assert_string_equal(DEV(&R, U1, "alive"), "false");
    /* its own stale alert half a grace period later */
    dev_clock_advance(5000);
    dev__poll(R.d);
    dev_rig_settle(&R);
    assert_string_equal(dev_rig_last(&R)->name, "devices.liveness");
    assert_string_equal(ALERT(&R, "heartbeat_stale:" U1, "kind"), "heartbeat_stale");
    seq = hub_engine_seq(R.e);
    dev__poll(R.d);
    dev_rig_settle(&R);
    assert_true(hub_engine_seq(R.e) == seq);
    /* a finished command leaves the state 10 minutes on: the sweep */
    ok("api", "device.command", "{'device':'" U1 "','action':'shutdown_host'}");
    char cid[40];
    snprintf(cid, sizeof(cid), "%s", R.cmd_id);
    assert_string_equal(CMD(&R, cid, "status"), "failed"); /* no MQTT: terminal at once */
    dev_clock_set(DEV_T0 + 15001 + 600000);
    seq = hub_engine_seq(R.e);
    dev__poll(R.d);
    dev_rig_settle(&R);
    assert_true(hub_engine_seq(R.e) == seq);
    dev_clock_advance(1);
    dev__poll(R.d);
    dev_rig_settle(&R);
    a = dev_rig_last(&R);
    assert_string_equal(a->name, "devices.sweep");
    assert_string_equal(a->src, "timer");
    assert_string_equal(a->payload, "{}");
    assert_string_equal(CMD(&R, cid, "status"), "<absent>");
    /* a command past its expiry: the sweep */
    assert_int_equal(command("api", U1, "shutdown_host", CMD1, ""), HUB_INTENT_APPLIED);
    dev__command(R.d, CMD1)->status = DEV_ST_PUBLISHED; /* as if its PUBACK had come */
    dev_clock_advance(240001);
    dev__poll(R.d);
    dev_rig_settle(&R);
    assert_string_equal(dev_rig_last(&R)->name, "devices.sweep");
    assert_string_equal(CMD(&R, CMD1, "status"), "expired");
    /* stopping: the pass does nothing */
    hub_devdom_stop(R.d);
    dev_clock_advance(3600000);
    seq = hub_engine_seq(R.e);
    dev__poll(R.d);
    dev_rig_settle(&R);
    assert_true(hub_engine_seq(R.e) == seq);
}

/* hub_devdom_start runs the pass on the loop: first about a second after
 * start (then every POLL_INTERVAL_SECONDS); stop closes the timers. */
static void test_poll_timer_runs(void **state)
{
    (void)state;
    dev_rig_discover(&R, U1);
    heartbeat(U1, "");
    dev_clock_advance(10001); /* something to do: liveness */
    size_t n = R.nanns;
    hub_devdom_start(R.d);
    uint64_t t0 = hub_mono_us();
    for (int i = 0; i < 3000 && R.nanns == n; i++) {
        uv_run(&R.loop, UV_RUN_NOWAIT);
        hub_engine_drain_now(R.e);
        if (R.nanns == n)
            dev_rig_sleep_ms(1);
    }
    assert_int_equal(R.nanns, n + 1);
    assert_string_equal(dev_rig_last(&R)->name, "devices.liveness");
    assert_true(hub_mono_us() - t0 >= 900000);
    hub_devdom_stop(R.d);
    hub_devdom_stop(R.d); /* twice: harmless */
}

/* ---- liveness and the outage rule ---------------------------------------------------------- */

static void test_liveness_and_stale_alert(void **state)
{
    (void)state;
    dev_rig_discover(&R, U1);
    dev_rig_discover(&R, U2); /* never sends a heartbeat: never stale */
    heartbeat(U1, "");
    assert_true(dev_rig_metric(&R, "fleet_devices_alive") == 1);
    /* alive while last_alive >= now - grace (10 s) */
    dev_clock_advance(10000);
    refused("timer", "devices.liveness", "{}", HUB_ERR_CONFLICT, "", "nothing changed");
    dev_clock_advance(1);
    ok("timer", "devices.liveness", "{}");
    dev_ann_t *a = dev_rig_last(&R);
    assert_int_equal(a->nchanges, 1); /* not alive; its alert waits half a grace period */
    assert_string_equal(DEV(&R, U1, "alive"), "false");
    assert_string_equal(DEV(&R, U1, "last_alive"), dev_time(DEV_T0));
    assert_string_equal(ALERT(&R, "heartbeat_stale:" U1, "kind"), "<absent>");
    dev_clock_advance(4999); /* stale for 1.5 x grace exactly: not yet */
    refused("timer", "devices.liveness", "{}", HUB_ERR_CONFLICT, "", "nothing changed");
    dev_clock_advance(1);
    ok("timer", "devices.liveness", "{}");
    a = dev_rig_last(&R);
    assert_int_equal(a->nchanges, 1);
    assert_true(a->rooms == room_bit("devices"));
    assert_string_equal(ALERT(&R, "heartbeat_stale:" U1, "kind"), "heartbeat_stale");
    assert_string_equal(ALERT(&R, "heartbeat_stale:" U1, "device"), U1);
    assert_string_equal(ALERT(&R, "heartbeat_stale:" U1, "since"), dev_time(DEV_T0 + 15001));
    assert_string_equal(ALERT(&R, "heartbeat_stale:" U1, "message"),
                        U1 " sent no heartbeat for over 10 s");
    assert_non_null(strstr(dev_rig_events(&R), "warning devices: alert heartbeat_stale:" U1 ": " U1
                                               " sent no heartbeat for over 10 s\n"));
    assert_string_equal(ALERT(&R, "heartbeat_stale:" U2, "kind"), "<absent>");
    assert_string_equal(ALERT(&R, "broker_outage_suspected", "kind"), "<absent>");
    assert_true(dev_rig_metric(&R, "fleet_devices_alive") == 0);
    assert_true(dev_rig_metric(&R, "fleet_alerts_active") == 1);
    refused("timer", "devices.liveness", "{}", HUB_ERR_CONFLICT, "", NULL);
    /* its next heartbeat clears it, in the heartbeat's own announcement */
    dev_clock_advance(5000);
    heartbeat(U1, "");
    a = dev_rig_last(&R);
    assert_non_null(
        strstr(a->patches, "{\"path\":\"devices.alerts.heartbeat_stale:" U1 "\",\"value\":null}"));
    assert_string_equal(DEV(&R, U1, "alive"), "true");
    assert_non_null(strstr(dev_rig_events(&R), "info devices: alert cleared: heartbeat_stale:" U1));
    /* silent again, but deactivated meanwhile: no alert */
    ok("api", "device.update", "{'id':'" U1 "','is_active':false}");
    dev_clock_advance(60000);
    refused("timer", "devices.liveness", "{}", HUB_ERR_CONFLICT, "", NULL);
    assert_string_equal(ALERT(&R, "heartbeat_stale:" U1, "kind"), "<absent>");
}

/* Most devices silent together: one broker_outage_suspected alert instead
 * of one per device; it clears once they are back. */
static void test_outage_alert(void **state)
{
    (void)state;
    dev_rig_discover(&R, U1);
    dev_rig_discover(&R, U2);
    dev_rig_discover(&R, U3);
    heartbeat(U1, "");
    heartbeat(U2, "");
    heartbeat(U3, "");
    dev_clock_advance(11000);
    ok("timer", "devices.liveness", "{}");
    assert_string_equal(DEV(&R, U1, "alive"), "false");
    assert_string_equal(DEV(&R, U3, "alive"), "false");
    assert_string_equal(ALERT(&R, "broker_outage_suspected", "kind"), "broker_outage_suspected");
    assert_string_equal(ALERT(&R, "broker_outage_suspected", "device"), "null");
    assert_non_null(strstr(ALERT(&R, "broker_outage_suspected", "message"),
                           "3 of 3 devices went silent together"));
    assert_string_equal(ALERT(&R, "heartbeat_stale:" U1, "kind"), "<absent>");
    assert_string_equal(ALERT(&R, "heartbeat_stale:" U2, "kind"), "<absent>");
    assert_true(dev_rig_metric(&R, "fleet_broker_outage_suspected") == 1);
    assert_true(dev_rig_metric(&R, "fleet_alerts_active") == 1);
    /* back: heartbeats make them alive; the next liveness pass clears the outage */
    heartbeat(U1, "");
    heartbeat(U2, "");
    heartbeat(U3, "");
    ok("timer", "devices.liveness", "{}");
    assert_string_equal(ALERT(&R, "broker_outage_suspected", "kind"), "<absent>");
    assert_non_null(
        strstr(dev_rig_events(&R), "info devices: alert cleared: broker_outage_suspected"));
    assert_true(dev_rig_metric(&R, "fleet_broker_outage_suspected") == 0);
    /* one of three silent: its own alert, no outage */
    dev_clock_advance(8000);
    heartbeat(U2, "");
    heartbeat(U3, "");
    dev_clock_advance(3000);
    ok("timer", "devices.liveness", "{}"); /* U1 not alive */
    assert_string_equal(ALERT(&R, "heartbeat_stale:" U1, "kind"), "<absent>");
    dev_clock_advance(5000);
    ok("timer", "devices.liveness", "{}");
    assert_string_equal(ALERT(&R, "heartbeat_stale:" U1, "kind"), "heartbeat_stale");
    assert_string_equal(ALERT(&R, "broker_outage_suspected", "kind"), "<absent>");
}

/* ---- crash recovery ------------------------------------------------------------------------- */

static void test_crash_recovery(void **state)
{
    (void)state;
    R.d->cfg.recovery = 1; /* CRASH_RECOVERY_ENABLED */
    dev_rig_discover(&R, U1);
    dev_rig_discover(&R, U2);
    dev_rig_discover(&R, U3); /* never seen alive: no candidate */
    heartbeat(U1, "'process_status':'crashed'");
    heartbeat(U2, "");
    dev__poll(R.d);
    dev_rig_settle(&R);
    dev_ann_t *a = dev_rig_ann(&R, "device.command");
    assert_non_null(a);
    assert_string_equal(a->src, "scheduler");
    json_t *pl = json_loads(a->payload, 0, NULL);
    char cid[40];
    snprintf(cid, sizeof(cid), "%s", json_string_value(json_object_get(pl, "command_id")));
    assert_true(json_is_true(json_object_get(pl, "recovery")));
    json_decref(pl);
    assert_true(hub_uuid_valid(cid, strlen(cid)));
    assert_string_equal(CMD(&R, cid, "client_uuid"), U1);
    assert_string_equal(CMD(&R, cid, "action"), "reboot_host");
    assert_string_equal(CMD(&R, cid, "reason"), "process_crashed");
    assert_string_equal(CMD(&R, cid, "requested_by"), "null");
    assert_string_equal(CMD(&R, cid, "status"), "publish_in_progress");
    assert_string_equal(CMD(&R, cid, "expires_at"), dev_time(DEV_T0 + 300000));
    dev_msg_t *m = canonical(U1);
    assert_non_null(strstr(m->payload, "\"requested_by\":null,\"reason\":\"process_crashed\""));
    /* the alias, but no legacy restart topic */
    assert_int_equal(dev_rig_nmsgs(a, HUB_OUT_MQTT), 2);
    assert_null(dev_rig_msg(a, HUB_OUT_MQTT, "clients/" U1 "/restart"));
    dev_rig_puback(&R, m, 1, NULL);
    assert_string_equal(CMD(&R, cid, "status"), "published");

    /* within CRASH_RECOVERY_LOCKOUT_MINUTES of that command: skipped */
    size_t n = R.nanns;
    dev_clock_advance(15 * 60000);
    heartbeat(U2, "");
    n = R.nanns;
    dev__poll(R.d);
    dev_rig_settle(&R);
    for (size_t i = n; i < R.nanns; i++)
        assert_string_not_equal(R.anns[i].name, "device.command");
    /* then again; U2, silent longer than CRASH_RECOVERY_GRACE_SECONDS, too */
    dev_clock_advance(180001);
    n = R.nanns;
    dev__poll(R.d);
    dev_rig_settle(&R);
    int u1 = 0, u2 = 0;
    for (size_t i = n; i < R.nanns; i++) {
        if (strcmp(R.anns[i].name, "device.command") != 0)
            continue;
        if (strstr(R.anns[i].patches, "\"client_uuid\":\"" U1 "\"") != NULL) {
            u1++;
            assert_non_null(strstr(R.anns[i].patches, "\"reason\":\"process_crashed\""));
        }
        if (strstr(R.anns[i].patches, "\"client_uuid\":\"" U2 "\"") != NULL) {
            u2++;
            assert_non_null(strstr(R.anns[i].patches, "\"reason\":\"heartbeat_stale\""));
        }
        assert_string_equal(R.anns[i].src, "scheduler");
    }
    assert_int_equal(u1, 1);
    assert_int_equal(u2, 1);
    /* an operator's recent restart_app keeps a device out of it too */
    heartbeat(U3, "'process_status':'crashed'");
    assert_int_equal(command("api", U3, "restart_app", CMD3, ""), HUB_INTENT_APPLIED);
    dev_clock_advance(60000);
    n = R.nanns;
    dev__poll(R.d);
    dev_rig_settle(&R);
    for (size_t i = n; i < R.nanns; i++)
        assert_string_not_equal(R.anns[i].name, "device.command");
}

/* ---- MQTT ingest: the domain's topics ---------------------------------------------------------
 */

typedef struct topic_find {
    const char *filter;
    const hub_topic_def_t *t;
    void *ctx;
    char all[1024]; /* every devices filter, space separated */
} topic_find_t;

static void find_topic(void *ud, const hub_topic_def_t *t, void *ctx)
{
    topic_find_t *f = ud;
    size_t n = strlen(f->all);
    snprintf(f->all + n, sizeof(f->all) - n, "%s%s", n ? " " : "", t->filter);
    if (f->filter != NULL && strcmp(t->filter, f->filter) == 0) {
        f->t = t;
        f->ctx = ctx;
    }
}

/* Hand payload (len bytes, copied to a buffer of exactly len bytes: no
 * terminator to lean on) to the to_intent of filter, as the MQTT adapter
 * does with a raw topic. */
static int feed(const char *filter, const char *topic, const char *payload, size_t len,
                hub_intent_t **out)
{
    topic_find_t f;
    hub_error_t err;
    memset(&f, 0, sizeof(f));
    f.filter = filter;
    hub_engine_topics_foreach(R.e, find_topic, &f);
    if (f.t == NULL)
        fail_msg("no topic %s", filter);
    assert_int_equal(f.t->raw, 1);
    char *buf = hub_malloc(len ? len : 1);
    memcpy(buf, payload, len);
    memset(&err, 0, sizeof(err));
    *out = NULL;
    int rc = f.t->to_intent(f.ctx, topic, len ? buf : "", len, out, &err);
    hub_free(buf);
    return rc;
}

static char *intent_text(const hub_intent_t *in)
{
    return hub_strndup(in->payload_text, in->payload_len);
}

/* One message, expecting an intent of name with payload text want. */
static void feed_ok(const char *filter, const char *topic, const char *payload, const char *name,
                    const char *want)
{
    hub_intent_t *in;
    int rc = feed(filter, topic, payload, strlen(payload), &in);
    if (rc != 0 || in == NULL)
        fail_msg("%s %s: no intent (rc %d)", topic, payload, rc);
    char *got = intent_text(in);
    int good = strcmp(in->name, name) == 0 && strcmp(in->src, "mqtt") == 0 &&
               (want == NULL || strcmp(got, want) == 0);
    if (!good) {
        char msg[2048];
        snprintf(msg, sizeof(msg), "%s %s:\n got  %s %s %s\n want %s %s", topic, payload, in->name,
                 in->src, got, name, want ? want : "");
        hub_free(got);
        hub_intent_free(in);
        fail_msg("%s", msg);
    }
    hub_free(got);
    /* and the engine applies it */
    in->done = dev_rig_on_done;
    in->ud = &R;
    snprintf(in->req_id, sizeof(in->req_id), "ingest-%llu", (unsigned long long)hub_mono_us());
    R.outcome = -999;
    assert_int_equal(hub_engine_submit(R.e, in), 0);
    dev_rig_settle(&R);
}

static double rejected_total(void)
{
    double sum = 0;
    for (int i = 0; i < DEV_REJ_COUNT; i++)
        sum += dev_rig_rejected(&R, dev_reject_names[i]);
    return sum;
}

/* One hostile message: no intent, and exactly one rejection of reason
 * (NULL: none at all, the message is ignored). */
static void feed_bad(const char *filter, const char *topic, const char *payload, size_t len,
                     const char *reason)
{
    hub_intent_t *in;
    double before = reason ? dev_rig_rejected(&R, reason) : 0, total = rejected_total();
    int rc = feed(filter, topic, payload, len, &in);
    if (in != NULL) {
        hub_intent_free(in);
        fail_msg("%s (%zu bytes %.40s): an intent was made", topic, len, payload);
    }
    assert_int_equal(rc, 0);
    if (reason == NULL) {
        if (rejected_total() != total)
            fail_msg("%s (%.40s): counted as rejected", topic, payload);
        return;
    }
    double after = dev_rig_rejected(&R, reason);
    if (after != before + 1 || rejected_total() != total + 1) {
        char counts[512] = "";
        size_t n = 0;
        for (int i = 0; i < DEV_REJ_COUNT; i++)
            n += (size_t)snprintf(counts + n, sizeof(counts) - n, " %s=%g", dev_reject_names[i],
                                  dev_rig_rejected(&R, dev_reject_names[i]));
        fail_msg("%s (%zu bytes %.40s): want one %s rejection, counts now%s", topic, len, payload,
                 reason, counts);
    }
}

#define FEED_BAD(filter, topic, payload, reason)                                                   \
    feed_bad((filter), (topic), (payload), sizeof(payload) - 1, (reason))

#define HB  ROOT "/+/heartbeat"
#define HL  ROOT "/+/health"
#define LE  ROOT "/+/logs/error"
#define LW  ROOT "/+/logs/warn"
#define SF  ROOT "/+/service_failed"
#define ACK ROOT "/+/commands/ack"
#define DIS ROOT "/discovery"
#define ESP "devices/+/status"
#define V1  "v1/devices/+/state"

static void test_ingest_topics(void **state)
{
    topic_find_t f;
    (void)state;
    memset(&f, 0, sizeof(f));
    hub_engine_topics_foreach(R.e, find_topic, &f);
    assert_string_equal(f.all, DIS " " HB " " HL " " LE " " LW " " ROOT "/+/logs/info " SF " " ACK
                                   " " ROOT "/+/command/ack " ESP " " V1);

    /* discovery: the uuid lower-cased, hostname and ip when they are short
     * strings, the whole payload as info */
    feed_ok(DIS, DIS,
            "{\"uuid\":\"9B8D1856-FF34-4864-A726-12DE072D0F77\",\"hostname\":\"pi\",\"ip\":7}",
            "device.discovery",
            "{\"uuid\":\"" U1 "\",\"topic\":\"" DIS "\",\"hostname\":\"pi\",\"info\":{\"uuid\":"
            "\"9B8D1856-FF34-4864-A726-12DE072D0F77\",\"hostname\":\"pi\",\"ip\":7}}");
    assert_int_equal(R.outcome, HUB_INTENT_APPLIED);
    assert_string_equal(DEV(&R, U1, "hostname"), "pi");
    assert_string_equal(DEV(&R, U1, "ip"), "null");
    /* heartbeat: empty is a plain one; fields mapped, a bad value left out */
    feed_ok(HB, ROOT "/" U1 "/heartbeat", "", "device.heartbeat",
            "{\"uuid\":\"" U1 "\",\"topic\":\"" ROOT "/" U1 "/heartbeat\"}");
    assert_int_equal(R.outcome, HUB_INTENT_APPLIED);
    feed_ok(HB, ROOT "/9B8D1856-FF34-4864-A726-12DE072D0F77/heartbeat",
            "{\"current_process\":\"dm\",\"process_pid\":12,\"process_status\":\"zombie\","
            "\"current_event_id\":3,\"other\":1}",
            "device.heartbeat",
            "{\"uuid\":\"" U1 "\",\"topic\":\"" ROOT "/9B8D1856-FF34-4864-A726-12DE072D0F77/"
            "heartbeat\",\"current_process\":\"dm\",\"process_pid\":12,\"current_event_id\":3}");
    assert_int_equal(R.outcome, HUB_INTENT_APPLIED);
    assert_string_equal(DEV(&R, U1, "process_pid"), "12");
    /* health: seed 004's mapping, the whole payload kept */
    feed_ok(HL, ROOT "/" U1 "/health",
            "{\"actual_state\":{\"process\":\"dm\",\"pid\":9,\"status\":\"crashed\"},"
            "\"health_metrics\":{\"screen_health_status\":\"FROZEN\"},"
            "\"broker_connection\":{\"reconnect_count\":\"4\",\"last_disconnect_at\":"
            "\"2026-04-03T12:00:00Z\"}}",
            "device.health", NULL);
    assert_int_equal(R.outcome, HUB_INTENT_APPLIED);
    assert_string_equal(DEV(&R, U1, "process_status"), "crashed");
    assert_string_equal(DEV(&R, U1, "screen_health_status"), "FROZEN");
    assert_string_equal(DEV(&R, U1, "mqtt_reconnect_count"), "4");
    assert_string_equal(DEV(&R, U1, "mqtt_last_disconnect_at"), "2026-04-03T12:00:00.000Z");
    assert_string_equal(ALERT(&R, "process_crashed:" U1, "kind"), "process_crashed");
    /* logs: the level from the topic, the time parsed, the context as text */
    feed_ok(
        LW, ROOT "/" U1 "/logs/warn",
        "{\"timestamp\":\"2026-04-03T12:00:00.5Z\",\"message\":\"low disk\",\"context\":{\"free"
        "\":3}}",
        "device.log",
        "{\"uuid\":\"" U1 "\",\"topic\":\"" ROOT "/" U1 "/logs/warn\",\"level\":\"WARN\","
        "\"message\":\"low disk\",\"timestamp\":1775217600500,\"context\":\"{\\\"free\\\":3}\"}");
    assert_int_equal(R.outcome, HUB_INTENT_APPLIED);
    feed_ok(LE, ROOT "/" U1 "/logs/error", "{\"message\":\"x\",\"timestamp\":\"yesterday\"}",
            "device.log",
            "{\"uuid\":\"" U1 "\",\"topic\":\"" ROOT "/" U1 "/logs/error\",\"level\":\"ERROR\","
            "\"message\":\"x\"}");
    /* service_failed: the unit cut to 128 characters, failed_at parsed */
    char unit[200];
    memset(unit, 'u', 150);
    unit[150] = '\0';
    char p[400];
    snprintf(p, sizeof(p), "{\"unit\":\"%s\",\"failed_at\":\"2026-04-03T12:48:00Z\"}", unit);
    unit[128] = '\0';
    char want[600];
    snprintf(want, sizeof(want),
             "{\"uuid\":\"" U1 "\",\"topic\":\"" ROOT "/" U1 "/service_failed\",\"unit\":\"%s\","
             "\"failed_at\":1775220480000}",
             unit);
    feed_ok(SF, ROOT "/" U1 "/service_failed", p, "device.service_failed", want);
    assert_int_equal(R.outcome, HUB_INTENT_APPLIED);
    /* an empty service_failed is the cleared retained message: ignored */
    feed_bad(SF, ROOT "/" U1 "/service_failed", "", 0, NULL);
    /* ACKs: the status trimmed and lower-cased, extra keys ignored */
    feed_ok(ACK, ROOT "/" U1 "/commands/ack",
            "{\"command_id\":\"" CMD1 "\",\"status\":\" Accepted \",\"extra\":1}", "device.ack",
            "{\"uuid\":\"" U1 "\",\"topic\":\"" ROOT "/" U1 "/commands/ack\",\"command_id\":\"" CMD1
            "\",\"status\":\"accepted\",\"error_code\":null,\"error_message\":null}");
    assert_int_equal(R.outcome, HUB_INTENT_REJECTED); /* no such command */
    feed_ok(ROOT "/+/command/ack", ROOT "/" U1 "/command/ack",
            "{\"command_id\":\"" CMD1 "\",\"status\":\"failed\",\"error_code\":\"e\","
            "\"error_message\":\"m\"}",
            "device.ack",
            "{\"uuid\":\"" U1 "\",\"topic\":\"" ROOT "/" U1 "/command/ack\",\"command_id\":\"" CMD1
            "\",\"status\":\"failed\",\"error_code\":\"e\",\"error_message\":\"m\"}");
    /* presence */
    feed_ok(ESP, "devices/esp32_01/status", "online", "device.presence",
            "{\"id\":\"esp32_01\",\"kind\":\"esp32\",\"presence\":\"online\",\"topic\":"
            "\"devices/esp32_01/status\"}");
    assert_int_equal(R.outcome, HUB_INTENT_APPLIED);
    feed_bad(ESP, "devices/esp32_01/status", "OK", 2, NULL); /* scene feedback */
    feed_bad(ESP, "devices/esp32_01/status", "ERROR", 5, NULL);
    feed_ok(V1, "v1/devices/lamp1/state", "{\"state\":\"offline\"}", "device.presence",
            "{\"id\":\"lamp1\",\"kind\":\"v1\",\"presence\":\"offline\",\"topic\":"
            "\"v1/devices/lamp1/state\"}");
    feed_ok(V1, "v1/devices/lamp1/state", "online", "device.presence", NULL);
    /* a cleared retained status: nothing known any more (not malformed) */
    feed_ok(ESP, "devices/esp32_01/status", "", "device.presence",
            "{\"id\":\"esp32_01\",\"kind\":\"esp32\",\"presence\":\"unknown\",\"topic\":"
            "\"devices/esp32_01/status\"}");
    assert_int_equal(R.outcome, HUB_INTENT_APPLIED);
    feed_ok(V1, "v1/devices/lamp1/state", "", "device.presence",
            "{\"id\":\"lamp1\",\"kind\":\"v1\",\"presence\":\"unknown\",\"topic\":"
            "\"v1/devices/lamp1/state\"}");
    feed_ok(V1, "v1/devices/never_seen/state", "", "device.presence", NULL);
    assert_int_equal(R.outcome, HUB_INTENT_REJECTED); /* nothing to forget */
    assert_true(rejected_total() == 0);
}

/* Hostile messages: refused before any intent, each counted once under
 * its reason; nothing in the state moves. */
static void test_ingest_hostile(void **state)
{
    (void)state;
    dev_rig_discover(&R, U1);
    char *before = dev_rig_text(&R, "registry", U1);
    uint64_t seq = hub_engine_seq(R.e);
    const char *hb = ROOT "/" U1 "/heartbeat";

    /* 70 KB: over the 64 KiB limit, valid JSON otherwise */
    size_t big_len = 70 * 1024;
    char *big = hub_malloc(big_len);
    memset(big, ' ', big_len);
    memcpy(big, "{\"message\":\"", 12);
    memset(big + 12, 'a', big_len - 14);
    memcpy(big + big_len - 2, "\"}", 2);
    /* 9000 bytes: over the health limit (8 KiB) */
    size_t mid_len = 9000;
    char *mid = hub_malloc(mid_len);
    memcpy(mid, "{\"x\":\"", 6);
    memset(mid + 6, 'b', mid_len - 8);
    memcpy(mid + mid_len - 2, "\"}", 2);

    FEED_BAD(HB, hb, "not json", "not_json");
    FEED_BAD(HB, hb, "{\"a\":", "not_json");
    FEED_BAD(HB, hb, "[1,2]", "not_json");
    FEED_BAD(HB, hb, "\"text\"", "not_json");
    FEED_BAD(HB, hb, "null", "not_json");
    FEED_BAD(HB, hb, "{\"a\":1,\"a\":2}", "not_json");
    FEED_BAD(HB, hb, "{\"a\":\"\\u0000\"}", "not_json");
    FEED_BAD(HB, hb, "\xff\xfe", "not_utf8");
    FEED_BAD(HB, hb, "{\"current_process\":\"\xc3\x28\"}", "not_utf8");
    FEED_BAD(HB, hb, "{\"a\":\"\xed\xa0\x80\"}", "not_utf8"); /* a UTF-16 surrogate */
    feed_bad(HB, hb, big, big_len, "too_large");
    feed_bad(HB, hb, "{}\0{}", 5, "not_json"); /* a NUL inside */
    FEED_BAD(HB, ROOT "/not-a-uuid/heartbeat", "{}", "bad_uuid");
    FEED_BAD(HB, ROOT "/" U1 "x/heartbeat", "{}", "bad_uuid");
    FEED_BAD(HB, ROOT "//heartbeat", "", "bad_uuid");
    FEED_BAD(HB, ROOT "/{" U1 "}/heartbeat", "", "bad_uuid");

    FEED_BAD(HL, ROOT "/" U1 "/health", "", "not_json");
    FEED_BAD(HL, ROOT "/" U1 "/health", "[]", "not_json");
    FEED_BAD(HL, ROOT "/" U1 "/health", "{\"a\":\"\xc3\x28\"}", "not_utf8");
    feed_bad(HL, ROOT "/" U1 "/health", mid, mid_len, "too_large");
    feed_bad(HL, ROOT "/" U1 "/health", big, big_len, "too_large");
    FEED_BAD(HL, ROOT "/nope/health", "{}", "bad_uuid");

    FEED_BAD(LE, ROOT "/" U1 "/logs/error", "", "not_json");
    FEED_BAD(LE, ROOT "/" U1 "/logs/error", "{\"message\":5}", "bad_field");
    FEED_BAD(LE, ROOT "/" U1 "/logs/error", "{\"timestamp\":\"2026-04-03T12:00:00Z\"}",
             "bad_field");
    char longmsg[9000];
    memcpy(longmsg, "{\"message\":\"", 12);
    memset(longmsg + 12, 'm', 8200);
    memcpy(longmsg + 12 + 8200, "\"}", 3);
    feed_bad(LE, ROOT "/" U1 "/logs/error", longmsg, strlen(longmsg), "bad_field");
    feed_bad(LE, ROOT "/" U1 "/logs/error", big, big_len, "too_large");

    FEED_BAD(SF, ROOT "/" U1 "/service_failed", "x", "not_json");
    FEED_BAD(SF, ROOT "/" U1 "/service_failed", "[\"unit\"]", "not_json");

    FEED_BAD(DIS, DIS, "", "not_json");
    FEED_BAD(DIS, DIS, "{}", "bad_uuid");
    FEED_BAD(DIS, DIS, "{\"uuid\":\"nope\"}", "bad_uuid");
    FEED_BAD(DIS, DIS, "{\"uuid\":5}", "bad_uuid");
    FEED_BAD(DIS, DIS, "{\"uuid\":\"" U1 " \"}", "bad_uuid");
    FEED_BAD(DIS, DIS, "\xff", "not_utf8");
    FEED_BAD(DIS, DIS, "[{\"uuid\":\"" U1 "\"}]", "not_json");
    feed_bad(DIS, DIS, big, big_len, "too_large");

    FEED_BAD(ACK, ROOT "/" U1 "/commands/ack", "", "not_json");
    FEED_BAD(ACK, ROOT "/" U1 "/commands/ack", "nope", "not_json");
    FEED_BAD(ACK, ROOT "/" U1 "/commands/ack", "[1]", "bad_ack");
    FEED_BAD(ACK, ROOT "/" U1 "/commands/ack", "{\"status\":\"accepted\"}", "bad_ack");
    FEED_BAD(ACK, ROOT "/" U1 "/commands/ack", "{\"command_id\":\"x\",\"status\":\"accepted\"}",
             "bad_ack");
    FEED_BAD(ACK, ROOT "/" U1 "/commands/ack", "{\"command_id\":\"" CMD1 "\",\"status\":\"done\"}",
             "bad_ack");
    FEED_BAD(ACK, ROOT "/" U1 "/commands/ack",
             "{\"command_id\":\"" CMD1 "\",\"status\":\"failed\"}", "bad_ack");
    FEED_BAD(ACK, ROOT "/" U1 "/commands/ack",
             "{\"command_id\":\"" CMD1 "\",\"status\":\"failed\",\"error_code\":\"\","
             "\"error_message\":\"m\"}",
             "bad_ack");
    feed_bad(ACK, ROOT "/" U1 "/commands/ack", big, big_len, "too_large");
    FEED_BAD(ACK, ROOT "/x/commands/ack", "{\"command_id\":\"" CMD1 "\",\"status\":\"accepted\"}",
             "bad_uuid");

    FEED_BAD(ESP, "devices/esp32_01/status", "maybe", "bad_payload");
    FEED_BAD(ESP, "devices/esp32_01/status", "online ", "bad_payload");
    FEED_BAD(ESP, "devices/esp.32/status", "online", "bad_field");
    FEED_BAD(ESP, "devices//status", "online", "bad_field");
    FEED_BAD(V1, "v1/devices/lamp1/state", "{\"state\":\"dim\"}", "bad_payload");
    FEED_BAD(V1, "v1/devices/lamp1/state", "garbage", "bad_payload");
    FEED_BAD(V1, "v1/devices/lamp1/state", "\xff", "bad_payload");
    FEED_BAD(V1, "v1/devices/a#b/state", "online", "bad_field");
    /* presence is a word: anything else, however long, is a bad payload */
    feed_bad(ESP, "devices/esp32_01/status", big, big_len, "bad_payload");
    feed_bad(V1, "v1/devices/lamp1/state", big, big_len, "bad_payload");

    hub_free(big);
    hub_free(mid);
    dev_rig_settle(&R);
    assert_true(hub_engine_seq(R.e) == seq);
    char *after = dev_rig_text(&R, "registry", U1);
    assert_string_equal(before, after);
    hub_free(before);
    hub_free(after);
}

/* An ACK that is not UTF-8 is counted as not_utf8, as on every other fleet
 * topic (docs/fleet.md lists not_utf8 among the reasons). */
static void test_ingest_ack_not_utf8_reason(void **state)
{
    (void)state;
    FEED_BAD(ACK, ROOT "/" U1 "/commands/ack",
             "{\"command_id\":\"" CMD1 "\",\"status\":\"accepted\",\"x\":\"\xc3\x28\"}",
             "not_utf8");
}

/* ---- the REST answer (route answer hook) --------------------------------------------------- */

static void test_rest_answers(void **state)
{
    (void)state;
    dev_rig_discover(&R, U1);
    /* the request waits for the publish outcome */
    assert_int_equal(command("api", U1, "reboot_host", CMD1, "'reason':'r'"), HUB_INTENT_APPLIED);
    assert_int_equal(R.nreplies, 0);
    dev_rig_puback(&R, canonical(U1), 1, NULL);
    assert_int_equal(R.nreplies, 1);
    assert_int_equal(R.replies[0].status, 202);
    json_t *b = json_loads(R.replies[0].body, 0, NULL);
    assert_non_null(b);
    assert_true(json_is_true(json_object_get(b, "success")));
    assert_string_equal(json_string_value(json_object_get(b, "message")),
                        "Command published for client " U1);
    json_t *c = json_object_get(b, "command");
    assert_string_equal(json_string_value(json_object_get(c, "commandId")), CMD1);
    assert_string_equal(json_string_value(json_object_get(c, "clientUuid")), U1);
    assert_string_equal(json_string_value(json_object_get(c, "status")), "published");
    assert_string_equal(json_string_value(json_object_get(c, "issuedAt")),
                        "2026-04-03T12:48:10+00:00");
    assert_string_equal(json_string_value(json_object_get(c, "reason")), "r");
    assert_true(json_is_null(json_object_get(c, "requestedBy")));
    assert_int_equal(json_object_size(c), 17);
    json_decref(b);

    /* the broker refuses: 500 with the reason */
    assert_int_equal(command("api", U1, "restart_app", CMD2, ""), HUB_INTENT_APPLIED);
    dev_rig_puback(&R, canonical(U1), 0, "the MQTT broker is not connected (down)");
    assert_int_equal(R.nreplies, 2);
    assert_int_equal(R.replies[1].status, 500);
    assert_non_null(strstr(R.replies[1].body,
                           "\"success\":false,\"error\":\"Failed to publish command: the MQTT "
                           "broker is not connected (down)\""));
    /* blocked: 429 at once */
    assert_int_equal(command("api", U1, "reboot_host", CMD3, ""), HUB_INTENT_APPLIED);
    dev_rig_puback(&R, canonical(U1), 1, NULL);
    assert_int_equal(R.nreplies, 3);
    assert_int_equal(command("api", U1, "reboot_host", "9a4cbe7e-a1b8-47ce-b26b-6c8080d815b7", ""),
                     HUB_INTENT_APPLIED);
    assert_int_equal(R.nreplies, 4);
    assert_int_equal(R.replies[3].status, 429);
    assert_non_null(strstr(R.replies[3].body,
                           "{\"success\":false,\"message\":\"Neustart voruebergehend blockiert "
                           "(Sicherheits-Lockout)\",\"command\":{"));
    assert_non_null(strstr(R.replies[3].body, "\"status\":\"blocked_safety\""));
    /* refusals: their HTTP status and the seed's {"error":…} */
    assert_int_equal(command("api", U2, "reboot_host", CMD1, ""), HUB_INTENT_REJECTED);
    assert_int_equal(R.replies[4].status, 404);
    assert_string_equal(R.replies[4].body, "{\"error\":\"Client nicht gefunden\"}");
    assert_int_equal(command("api", U1, "fly", "ab4cbe7e-a1b8-47ce-b26b-6c8080d815b7", ""),
                     HUB_INTENT_REJECTED);
    assert_int_equal(R.replies[5].status, 400);
    assert_string_equal(R.replies[5].body, "{\"error\":\"Unsupported action 'fly'\"}");
    /* the same request again (its Idempotency-Key): the first command, no second reboot */
    int nr = R.nreplies;
    assert_int_equal(dev_rig_submit(&R, "idem-1", "api", "device.command",
                                    dev_json("{'device':'" U1 "','action':'shutdown_host'}")),
                     0);
    dev_rig_settle(&R);
    char first[40];
    snprintf(first, sizeof(first), "%s", R.cmd_id);
    assert_int_equal(R.nreplies, nr); /* waits for its PUBACK */
    dev_rig_puback(&R, canonical(U1), 1, NULL);
    assert_int_equal(R.nreplies, nr + 1);
    assert_int_equal(dev_rig_submit(&R, "idem-1", "api", "device.command",
                                    dev_json("{'device':'" U1 "','action':'shutdown_host'}")),
                     0);
    dev_rig_settle(&R);
    assert_int_equal(R.outcome, HUB_INTENT_DUPLICATE);
    assert_int_equal(R.nreplies, nr + 2);
    assert_int_equal(R.replies[nr + 1].status, 202);
    assert_non_null(strstr(R.replies[nr + 1].body, first));
    /* a request still waiting when the hub stops: 503 */
    assert_int_equal(
        command("api", U1, "shutdown_host", "bb4cbe7e-a1b8-47ce-b26b-6c8080d815b7", ""),
        HUB_INTENT_APPLIED);
    nr = R.nreplies;
    hub_devdom_stop(R.d);
    assert_int_equal(R.nreplies, nr + 1);
    assert_int_equal(R.replies[nr].status, 503);
    assert_string_equal(R.replies[nr].body, "{\"error\":\"the hub is shutting down: ask again\"}");
}

/* ---- rooms ----------------------------------------------------------------------------- */

/* Room devices: the registry and alerts; room commands: the commands. A
 * snapshot of commands alone is {"devices":{"commands":…}}. */
static void test_rooms_devices_and_commands(void **state)
{
    (void)state;
    dev_rig_discover(&R, U1);
    heartbeat(U1, "'process_status':'crashed'");
    assert_int_equal(command("api", U1, "shutdown_host", CMD1, ""), HUB_INTENT_APPLIED);
    uint64_t dev = room_bit("devices"), cmd = room_bit("commands");
    assert_true((hub_engine_state_rooms(R.e) & (dev | cmd)) == (dev | cmd));
    json_t *j = dev_rig_render(&R, dev);
    json_t *d = json_object_get(json_object_get(j, "state"), "devices");
    assert_non_null(json_object_get(d, "registry"));
    assert_non_null(json_object_get(d, "alerts"));
    assert_null(json_object_get(d, "commands"));
    json_decref(j);
    j = dev_rig_render(&R, cmd);
    json_t *st = json_object_get(j, "state");
    assert_int_equal(json_object_size(st), 1);
    d = json_object_get(st, "devices");
    assert_int_equal(json_object_size(d), 1);
    assert_non_null(json_object_get(json_object_get(d, "commands"), CMD1));
    json_decref(j);
    j = dev_rig_render(&R, dev | cmd);
    d = json_object_get(json_object_get(j, "state"), "devices");
    assert_int_equal(json_object_size(d), 3);
    json_decref(j);
}

/* Bound without a loop (no timers): the domain works; start and stop are
 * no-ops for the timers. */
static void test_bind_without_loop(void **state)
{
    (void)state;
    uv_loop_t loop;
    hub_engine_cfg_t ec = {.queue_size = 10, .dedupe_capacity = 10, .dedupe_ttl_ms = 1000};
    hub_metrics_t *m = hub_metrics_new();
    hub_devdom_cfg_t c = dev_rig_cfg();
    hub_devdom_t *d = NULL;
    hub_engine_t *e = NULL;
    hub_error_t err;

    assert_int_equal(uv_loop_init(&loop), 0);
    assert_int_equal(hub_engine_new(&e, &loop, &ec, m), 0);
    assert_int_equal(hub_devdom_bind(&d, e, NULL, m, &c, NULL), 0);
    assert_int_equal(hub_engine_start(e, NULL, NULL), 0);
    hub_devdom_start(d);
    hub_intent_t *in = hub_intent_new("b1", "mqtt", "device.discovery");
    in->internal = 1;
    hub_intent_set_payload(in, dev_json("{'uuid':'" U1 "'}"));
    assert_int_equal(hub_engine_prepare(e, in, &err), 0);
    assert_int_equal(hub_engine_submit(e, in), 0);
    for (int i = 0; i < 100 && !hub_engine_idle(e); i++)
        hub_engine_drain_now(e);
    assert_non_null(dev__device(d, U1));
    assert_true(hub_engine_seq(e) == 1);
    hub_devdom_stop(d);
    hub_engine_free(e);
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&loop), 0);
    hub_devdom_free(d);
    hub_metrics_free(m);
}

/* ---- a refused bind ------------------------------------------------------------------------ */

/* Run fn in a child process; its exit status (128 + signal when killed). */
static int in_child(void (*fn)(void))
{
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        fn();
        _exit(0);
    }
    int st = 0;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static hub_metrics_t *second_metrics;
static hub_engine_t *bind_engine;

static void render_second_metrics(void)
{
    size_t len;
    char *t = hub_metrics_render(second_metrics, &len);
    /* a refused bind leaves no fleet metrics behind */
    int left = strstr(t, "fleet_devices_alive") != NULL;
    free(t);
    _exit(left ? 3 : 0);
}

static void list_topics(void)
{
    topic_find_t f;
    memset(&f, 0, sizeof(f));
    hub_engine_topics_foreach(bind_engine, find_topic, &f);
    _exit(strncmp(f.all, ROOT "/discovery ", strlen(ROOT "/discovery ")) == 0 ? 0 : 4);
}

/* A second bind on the same engine is refused (root "devices" is taken).
 * It must leave the registered domain and the metrics as they were: no
 * gauge whose callback holds the refused (freed) domain, and the first
 * domain's topic table intact (hub_devdom_bind's definition is one static
 * struct that every bind writes its topics into). Each check runs in a
 * child: under ASan a use after free aborts the child, not this test. */
static void test_refused_bind_leaves_nothing(void **state)
{
    (void)state;
    uv_loop_t loop;
    hub_engine_cfg_t ec = {.queue_size = 10, .dedupe_capacity = 10, .dedupe_ttl_ms = 1000};
    hub_metrics_t *m = hub_metrics_new();
    hub_devdom_cfg_t c = dev_rig_cfg();
    hub_devdom_t *d1 = NULL, *d2 = NULL;

    assert_int_equal(uv_loop_init(&loop), 0);
    assert_int_equal(hub_engine_new(&bind_engine, &loop, &ec, m), 0);
    assert_int_equal(hub_devdom_bind(&d1, bind_engine, &loop, m, &c, NULL), 0);
    c.topic_root = "other";
    second_metrics = hub_metrics_new();
    assert_int_equal(hub_devdom_bind(&d2, bind_engine, &loop, second_metrics, &c, NULL),
                     HUB_EINVAL);
    assert_null(d2);
    assert_int_equal(hub_engine_ndomains(bind_engine), 1);
    int metrics_rc = in_child(render_second_metrics);
    int topics_rc = in_child(list_topics);
    hub_devdom_stop(d1);
    hub_engine_free(bind_engine);
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&loop), 0);
    hub_devdom_free(d1);
    hub_metrics_free(second_metrics);
    hub_metrics_free(m);
    if (metrics_rc != 0 || topics_rc != 0)
        fail_msg("after a refused hub_devdom_bind: rendering its metrics %s (child status %d); "
                 "the first domain's topics %s (child status %d)",
                 metrics_rc == 0   ? "is fine"
                 : metrics_rc == 3 ? "shows its fleet_* metrics (fleet_devices_alive's callback "
                                     "holds the freed domain)"
                                   : "crashed (fleet_devices_alive's callback reads the freed "
                                     "domain)",
                 metrics_rc,
                 topics_rc == 0   ? "are intact"
                 : topics_rc == 4 ? "are another's (the shared definition's topics were replaced)"
                                  : "crash (they point into the freed domain)",
                 topics_rc);
}

/* The registry is bounded (FLEET_MAX_DEVICES): one more is refused as
 * registry_full and nothing changes; known devices still report. */
static void test_registry_full(void **state)
{
    (void)state;
    R.d->cfg.max_devices = 2;
    dev_rig_discover(&R, U1);
    ok("mqtt", "device.presence",
       "{'id':'esp32_01','kind':'esp32','presence':'online','topic':'t'}");
    double before = dev_rig_rejected(&R, "registry_full");
    refused("mqtt", "device.discovery", "{'uuid':'" U2 "','topic':'" ROOT "/discovery'}",
            HUB_ERR_CONFLICT, "", "registry is full");
    refused("mqtt", "device.presence",
            "{'id':'esp32_02','kind':'esp32','presence':'online',"
            "'topic':'devices/esp32_02/status'}",
            HUB_ERR_CONFLICT, "", "registry is full");
    assert_true(dev_rig_rejected(&R, "registry_full") == before + 2);
    assert_string_equal(DEV(&R, U2, "id"), "<absent>");
    heartbeat(U1, "");                                   /* the known still report */
    ok("mqtt", "device.discovery", "{'uuid':'" U1 "'}"); /* and re-announce */
    ok("api", "device.delete", "{'id':'esp32_01'}");
    ok("mqtt", "device.discovery", "{'uuid':'" U2 "'}"); /* room again */
}

/* What the hub makes itself cannot come from a client: telemetry, publish
 * outcomes, the timers' intents; and a client saying src "scheduler" does
 * not get crash recovery's pass through the lockout. Internal intents are
 * not deduped (they would push clients' ids out of the cache). */
static void test_internal_intents_are_the_hubs(void **state)
{
    (void)state;
    dev_rig_discover(&R, U1);
    static const char *const own[][2] = {
        {"device.discovery", "{'uuid':'" U2 "'}"},
        {"device.heartbeat", "{'uuid':'" U1 "','topic':'t'}"},
        {"device.health", "{'uuid':'" U1 "','topic':'t','health':{}}"},
        {"device.log", "{'uuid':'" U1 "','topic':'t','level':'ERROR','message':'m'}"},
        {"device.service_failed", "{'uuid':'" U1 "','topic':'t'}"},
        {"device.presence", "{'id':'e1','kind':'esp32','presence':'online','topic':'t'}"},
        {"device.ack", "{'uuid':'" U1 "','topic':'t','command_id':'" CMD1 "','status':'accepted',"
                       "'error_code':null,'error_message':null}"},
        {"device.command_sent", "{'command_id':'" CMD1 "','ok':true}"},
        {"devices.sweep", "{}"},
        {"devices.liveness", "{}"},
    };
    for (size_t i = 0; i < sizeof(own) / sizeof(own[0]); i++) {
        refused("api", own[i][0], own[i][1], HUB_ERR_INVALID, "name", "made by the hub itself");
        refused("ws", own[i][0], own[i][1], HUB_ERR_INVALID, "name", "made by the hub itself");
    }
    assert_string_equal(DEV(&R, U2, "id"), "<absent>");
    /* the lockout holds for a client that calls itself the scheduler */
    for (int i = 0; i < 3; i++)
        ok("api", "device.command", "{'device':'" U1 "','action':'restart_app'}");
    int n = dev_rig_run(&R, "api", "device.command",
                        "{'device':'" U1 "','action':'reboot_host','recovery':true}");
    assert_int_equal(n, HUB_INTENT_APPLIED);
    assert_string_equal(CMD(&R, R.cmd_id, "status"), "blocked_safety");
    hub_intent_t *in = hub_intent_new("spoof-1", "scheduler", "device.command");
    hub_intent_set_payload(in, dev_json("{'device':'" U1 "','action':'reboot_host',"
                                        "'recovery':true}"));
    hub_error_t err;
    assert_int_equal(hub_engine_prepare(R.e, in, &err), 0);
    in->done = dev_rig_on_done;
    in->ud = &R;
    assert_int_equal(hub_engine_submit(R.e, in), 0);
    dev_rig_settle(&R);
    assert_string_equal(CMD(&R, R.cmd_id, "status"), "blocked_safety");
    /* internal ids are never deduped: the same id twice applies twice */
    for (int i = 0; i < 2; i++) {
        hub_intent_t *h = hub_intent_new("~same", "mqtt", "device.heartbeat");
        h->internal = 1;
        hub_intent_set_payload(h, dev_json("{'uuid':'" U1 "','topic':'t'}"));
        h->done = dev_rig_on_done;
        h->ud = &R;
        assert_int_equal(hub_engine_submit(R.e, h), 0);
        dev_rig_settle(&R);
        assert_int_equal(R.outcome, HUB_INTENT_APPLIED);
    }
}

int main(void)
{
    hub_log_set_level(getenv("DEV_LOG") ? HUB_LOG_DEBUG : HUB_LOG_OFF);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_discovery_registers_and_acks, setup, teardown),
        cmocka_unit_test_setup_teardown(test_heartbeat_telemetry, setup, teardown),
        cmocka_unit_test_setup_teardown(test_health_and_logs, setup, teardown),
        cmocka_unit_test_setup_teardown(test_presence, setup, teardown),
        cmocka_unit_test_setup_teardown(test_update_group_and_retained_topics, setup, teardown),
        cmocka_unit_test_setup_teardown(test_delete, setup, teardown),
        cmocka_unit_test_setup_teardown(test_alert_process_crashed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_alert_service_failed_and_clear, setup, teardown),
        cmocka_unit_test_setup_teardown(test_command_issue_and_publish, setup_tracked, teardown),
        cmocka_unit_test_setup_teardown(test_command_publish_failures, setup, teardown),
        cmocka_unit_test_setup_teardown(test_command_publish_outcomes_tracked, setup_tracked,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_command_refusals, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ack_lifecycle, setup_tracked, teardown),
        cmocka_unit_test_setup_teardown(test_publish_outcome_retried_when_queue_full,
                                        setup_small_queue, teardown),
        cmocka_unit_test_setup_teardown(test_lockout, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lockout_blocked_rows_count, setup, teardown),
        cmocka_unit_test_setup_teardown(test_expiry_sweep, setup_tracked, teardown),
        cmocka_unit_test_setup_teardown(test_poll_pass, setup, teardown),
        cmocka_unit_test_setup_teardown(test_poll_timer_runs, setup, teardown),
        cmocka_unit_test_setup_teardown(test_liveness_and_stale_alert, setup, teardown),
        cmocka_unit_test_setup_teardown(test_outage_alert, setup, teardown),
        cmocka_unit_test_setup_teardown(test_crash_recovery, setup_tracked, teardown),
        cmocka_unit_test_setup_teardown(test_ingest_topics, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ingest_hostile, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ingest_ack_not_utf8_reason, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rest_answers, setup_rest, teardown),
        cmocka_unit_test_setup_teardown(test_rooms_devices_and_commands, setup, teardown),
        cmocka_unit_test_setup_teardown(test_internal_intents_are_the_hubs, setup, teardown),
        cmocka_unit_test_setup_teardown(test_registry_full, setup, teardown),
        cmocka_unit_test(test_bind_without_loop),
        cmocka_unit_test(test_refused_bind_leaves_nothing),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
