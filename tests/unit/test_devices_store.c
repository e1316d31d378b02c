/* tests/unit/test_devices_store.c - the devices domain on the real SQLite
 * store (a temp data dir), with the fake wall clock of dev_rig.h.
 *
 * The hub is put together as src/app.c does (the domain bound with the
 * store's reader for its reads, the store attached and loaded, batches
 * through the real persist ops and back through a hub_inbox on a uv loop)
 * and taken apart the same way; a "restart" is a second hub on the same
 * data dir. Checked: a registry row round trip (every column), commands
 * reloaded as they were (unfinished ones go on), the safety lockout
 * window reloaded, device delete removing its rows (read with sqlite3
 * directly), the journal's rooms, log retention (per device and in age,
 * through the reader), and a log read answered from the reader thread.
 * Every wait is bounded. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>
#include <sqlite3.h>
#include <uv.h>

#include "core/inbox.h"
#include "core/log.h"
#include "dev_rig.h"
#include "store/store.h"

#define ROOT    "infoscreen"
#define WAIT_MS 10000

static dev_rig_t R;
static hub_inbox_t *inbox;
static hub_store_t *store;
static char dir[64], data[128], db_path[192];
static int log_retention = 1000;

/* ---- the hub ---------------------------------------------------------------------- */

/* The domain's reads on the store's reader (src/app.c's read_job). */
static void read_job(void *rctx, void (*fn)(void *ud, hub_db_t *db), void (*done)(void *ud, int rc),
                     void *ud)
{
    (void)rctx;
    if (store == NULL) {
        done(ud, HUB_ESHUTDOWN);
        return;
    }
    hub_store_read_job(store, fn, done, ud);
}

static void hub_open(int track)
{
    char err[512];
    hub_restore_t r;
    hub_devdom_cfg_t c = dev_rig_cfg();

    c.log_retention = log_retention;
    memset(&R, 0, sizeof(R));
    R.track = track;
    R.slow = 1;
    dev_rig_init(&R, &c);
    assert_int_equal(hub_inbox_new(&inbox, &R.loop, NULL), 0);
    hub_db_reader_t reader = {.run = read_job, .rctx = NULL};
    dev_rig_bind(&R, &reader);
    hub_store_cfg_t stc = {.data_dir = data,
                           .journal_retention = 10000,
                           .dedupe_capacity = 100,
                           .dedupe_ttl_ms = 60000};
    if (hub_store_open(&store, &stc, R.metrics, err, sizeof(err)) != 0)
        fail_msg("%s", err);
    for (size_t i = 0; i < hub_engine_ndomains(R.e); i++) {
        void *ctx;
        const hub_domain_def_t *def = hub_engine_domain_at(R.e, i, &ctx);
        if (hub_store_attach(store, def, ctx, err, sizeof(err)) != 0)
            fail_msg("%s", err);
    }
    if (hub_store_load(store, &r, err, sizeof(err)) != 0)
        fail_msg("%s", err);
    dev_rig_go(&R, &r, hub_store_persist_ops(store));
    hub_restore_free(&r);
    assert_int_equal(hub_store_start(store, inbox), 0);
}

static void hub_close(void)
{
    dev_rig_settle(&R);
    hub_devdom_stop(R.d);
    hub_engine_unsubscribe_all(R.e);
    hub_engine_close_store(R.e);
    hub_store_close(store);
    store = NULL;
    hub_inbox_drain(inbox);
    hub_engine_free(R.e);
    hub_inbox_close(inbox);
    uv_run(&R.loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&R.loop), 0);
    hub_devdom_free(R.d);
    hub_metrics_free(R.metrics);
    dev_rig_free_anns(&R);
    dev_rig_free_replies(&R);
    hub_jbuf_free(&R.events);
    memset(&R, 0, sizeof(R));
}

static void hub_restart(int track)
{
    hub_close();
    hub_open(track);
}

static int setup(void **state)
{
    (void)state;
    dev_clock_set(DEV_T0);
    log_retention = 1000;
    snprintf(dir, sizeof(dir), "/tmp/test_devices_store.XXXXXX");
    assert_non_null(mkdtemp(dir));
    snprintf(data, sizeof(data), "%s/data", dir);
    snprintf(db_path, sizeof(db_path), "%s/showhub.db", data);
    return 0;
}

static int teardown(void **state)
{
    char cmd[160];
    (void)state;
    if (R.e != NULL)
        hub_close();
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
    return 0;
}

static void ok(const char *src, const char *name, const char *payload)
{
    if (dev_rig_run(&R, src, name, payload) != HUB_INTENT_APPLIED)
        fail_msg("%s %s: outcome %d %s/%s (%s)", name, payload, R.outcome,
                 hub_errcode_name(R.err.code), R.err.field, R.err.msg);
}

static int command(const char *id, const char *action, const char *cid)
{
    char p[300];
    snprintf(p, sizeof(p), "{'device':'%s','action':'%s','command_id':'%s'}", id, action, cid);
    return dev_rig_run(&R, "api", "device.command", p);
}

static dev_msg_t *canonical(const char *id)
{
    char topic[128];
    snprintf(topic, sizeof(topic), ROOT "/%s/commands", id);
    dev_msg_t *m = dev_rig_msg(dev_rig_ann(&R, "device.command"), HUB_OUT_MQTT, topic);
    assert_non_null(m);
    return m;
}

static void log_line(const char *id, const char *level, const char *msg)
{
    char p[400];
    snprintf(p, sizeof(p), "{'uuid':'%s','topic':'t','level':'%s','message':'%s'}", id, level, msg);
    ok("mqtt", "device.log", p);
}

/* ---- sqlite3, directly -------------------------------------------------------------- */

static sqlite3 *sql_open(void)
{
    sqlite3 *db;
    assert_int_equal(sqlite3_open_v2(db_path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    sqlite3_busy_timeout(db, 5000);
    return db;
}

static int64_t sql_int(const char *sql, const char *arg)
{
    sqlite3 *db = sql_open();
    sqlite3_stmt *st;
    int64_t v = -1;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
        fail_msg("%s: %s", sql, sqlite3_errmsg(db));
    if (arg != NULL)
        sqlite3_bind_text(st, 1, arg, -1, SQLITE_TRANSIENT);
    if (sqlite3_step(st) == SQLITE_ROW)
        v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
    return v;
}

/* The first column of the first row as text ("<null>", "" for no row). */
static const char *sql_text(const char *sql, const char *arg)
{
    static char buf[4][1024];
    static int k;
    k = (k + 1) % 4;
    sqlite3 *db = sql_open();
    sqlite3_stmt *st;
    buf[k][0] = '\0';
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
        fail_msg("%s: %s", sql, sqlite3_errmsg(db));
    if (arg != NULL)
        sqlite3_bind_text(st, 1, arg, -1, SQLITE_TRANSIENT);
    if (sqlite3_step(st) == SQLITE_ROW) {
        const unsigned char *t = sqlite3_column_text(st, 0);
        snprintf(buf[k], sizeof(buf[k]), "%s", t ? (const char *)t : "<null>");
    }
    sqlite3_finalize(st);
    sqlite3_close(db);
    return buf[k];
}

/* ---- the registry ------------------------------------------------------------------- */

/* Every field of a device set, written, and read back by the next hub as
 * it was: the published entity byte for byte, info and alive too, and in
 * SQLite all 24 columns filled. */
static void test_registry_roundtrip(void **state)
{
    (void)state;
    hub_open(0);
    ok("mqtt", "device.discovery",
       "{'uuid':'" U1 "','hostname':'pi-foyer','ip':'10.0.0.21','info':{'uuid':'" U1
       "','version':'2.1'}}");
    ok("api", "device.update", "{'id':'" U1 "','group_id':7,'description':'Foyer \\u00e9'}");
    dev_clock_advance(1000);
    ok("mqtt", "device.health",
       "{'uuid':'" U1 "','topic':'t','health':{'actual_state':{'pid':7}},'screen_health_status':"
       "'FROZEN','mqtt_reconnect_count':3,'mqtt_last_disconnect_at':1775210000000}");
    dev_clock_advance(1000);
    ok("mqtt", "device.heartbeat",
       "{'uuid':'" U1 "','topic':'t','current_process':'dm','process_pid':1234,"
       "'process_status':'running','current_event_id':42}");
    ok("mqtt", "device.service_failed",
       "{'uuid':'" U1 "','topic':'t','unit':'infoscreen.service','failed_at':1775220400000}");
    ok("mqtt", "device.presence",
       "{'id':'esp32_01','kind':'esp32','presence':'online','topic':'t'}");
    char *before = dev_rig_text(&R, "registry", U1);
    char *esp_before = dev_rig_text(&R, "registry", "esp32_01");
    assert_non_null(strstr(before, "\"alive\":true"));
    dev_rig_settle(&R);

    /* every column of the row has a value */
    sqlite3 *db = sql_open();
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_prepare_v2(db, "SELECT * FROM devices WHERE id = ?1", -1, &st, NULL),
                     SQLITE_OK);
    sqlite3_bind_text(st, 1, U1, -1, SQLITE_STATIC);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_int_equal(sqlite3_column_count(st), 24);
    for (int i = 0; i < 24; i++)
        if (sqlite3_column_type(st, i) == SQLITE_NULL)
            fail_msg("devices.%s is NULL", sqlite3_column_name(st, i));
    sqlite3_finalize(st);
    sqlite3_close(db);
    assert_string_equal(sql_text("SELECT info FROM devices WHERE id = ?1", U1),
                        "{\"uuid\":\"" U1 "\",\"version\":\"2.1\"}");
    assert_int_equal(sql_int("SELECT alive FROM devices WHERE id = ?1", U1), 1);
    assert_int_equal(sql_int("SELECT first_seen FROM devices WHERE id = ?1", U1), DEV_T0);
    assert_string_equal(sql_text("SELECT presence FROM devices WHERE id = ?1", U1), "online");
    assert_string_equal(sql_text("SELECT kind FROM devices WHERE id = ?1", "esp32_01"), "esp32");

    dev_clock_advance(5000);
    hub_restart(0);
    char *after = dev_rig_text(&R, "registry", U1);
    char *esp_after = dev_rig_text(&R, "registry", "esp32_01");
    assert_string_equal(before, after);
    assert_string_equal(esp_before, esp_after);
    assert_string_equal(dev__device(R.d, U1)->info, "{\"uuid\":\"" U1 "\",\"version\":\"2.1\"}");
    hub_free(before);
    hub_free(after);
    hub_free(esp_before);
    hub_free(esp_after);
    /* and it goes on from there */
    ok("mqtt", "device.heartbeat", "{'uuid':'" U1 "','topic':'t'}");
    assert_string_equal(DEV(&R, U1, "current_process"), "dm");
    assert_string_equal(DEV(&R, U1, "group_id"), "7");
    assert_string_equal(DEV(&R, U1, "last_alive"), dev_time(DEV_T0 + 7000));
    assert_string_equal(DEV(&R, U1, "first_seen"), dev_time(DEV_T0));
}

/* ---- commands ---------------------------------------------------------------------- */

/* Every command comes back as it was: unfinished ones go on (a late ACK
 * resolves one, the sweep expires another), finished ones stay readable. */
static void test_commands_reloaded(void **state)
{
    static const char *const ids[] = {
        "20000000-0000-4000-8000-000000000001", "20000000-0000-4000-8000-000000000002",
        "20000000-0000-4000-8000-000000000003", "20000000-0000-4000-8000-000000000004",
        "20000000-0000-4000-8000-000000000005", "20000000-0000-4000-8000-000000000006",
        "20000000-0000-4000-8000-000000000007",
    };
    enum { N = 7 };
    char *before[N];
    (void)state;
    hub_open(1);
    dev_rig_discover(&R, U1);
    /* 0: publish_in_progress (no PUBACK yet) */
    assert_int_equal(command(U1, "shutdown_host", ids[0]), HUB_INTENT_APPLIED);
    /* 1: published, then accepted */
    assert_int_equal(command(U1, "shutdown_host", ids[1]), HUB_INTENT_APPLIED);
    dev_rig_puback(&R, canonical(U1), 1, NULL);
    dev_rig_run(&R, "mqtt", "device.ack",
                "{'uuid':'" U1 "','topic':'t','command_id':'20000000-0000-4000-8000-000000000002',"
                "'status':'accepted','error_code':null,'error_message':null}");
    /* 2: completed */
    assert_int_equal(command(U1, "shutdown_host", ids[2]), HUB_INTENT_APPLIED);
    dev_rig_puback(&R, canonical(U1), 1, NULL);
    dev_rig_run(&R, "mqtt", "device.ack",
                "{'uuid':'" U1 "','topic':'t','command_id':'20000000-0000-4000-8000-000000000003',"
                "'status':'completed','error_code':null,'error_message':null}");
    /* 3: the publish failed */
    assert_int_equal(command(U1, "reboot_host", ids[3]), HUB_INTENT_APPLIED);
    dev_rig_puback(&R, canonical(U1), 0, "broker gone");
    /* 4, 5: locking ones, published; 6: blocked */
    assert_int_equal(command(U1, "restart_app", ids[4]), HUB_INTENT_APPLIED);
    dev_rig_puback(&R, canonical(U1), 1, NULL);
    assert_int_equal(command(U1, "reboot_host", ids[5]), HUB_INTENT_APPLIED);
    dev_rig_puback(&R, canonical(U1), 1, NULL);
    assert_int_equal(command(U1, "reboot_host", ids[6]), HUB_INTENT_APPLIED);
    static const char *const want[] = {
        "publish_in_progress", "ack_received", "completed",     "failed",
        "published",           "published",    "blocked_safety"};
    for (int i = 0; i < N; i++) {
        assert_string_equal(CMD(&R, ids[i], "status"), want[i]);
        before[i] = dev_rig_text(&R, "commands", ids[i]);
    }
    char req0[HUB_REQ_ID_MAX + 1];
    snprintf(req0, sizeof(req0), "%s", dev__command(R.d, ids[0])->req_id);
    assert_true(req0[0] != '\0');
    dev_rig_settle(&R);
    assert_int_equal(sql_int("SELECT count(*) FROM device_commands WHERE client_uuid = ?1", U1), N);
    assert_string_equal(
        sql_text("SELECT status FROM device_commands WHERE command_id = ?1", ids[1]),
        "ack_received");
    assert_string_equal(
        sql_text("SELECT error_message FROM device_commands WHERE command_id = ?1", ids[3]),
        "broker gone");

    dev_clock_advance(2000);
    hub_restart(1);
    for (int i = 0; i < N; i++) {
        char *after = dev_rig_text(&R, "commands", ids[i]);
        if (strcmp(before[i], after) != 0)
            fail_msg("command %d after the restart:\n got  %s\n want %s", i, after, before[i]);
        hub_free(after);
        hub_free(before[i]);
    }
    assert_string_equal(dev__command(R.d, ids[0])->req_id, req0);
    /* a late ACK still resolves an unfinished command */
    dev_rig_run(&R, "mqtt", "device.ack",
                "{'uuid':'" U1 "','topic':'t','command_id':'20000000-0000-4000-8000-000000000002',"
                "'status':'completed','error_code':null,'error_message':null}");
    assert_int_equal(R.outcome, HUB_INTENT_APPLIED);
    assert_string_equal(CMD(&R, ids[1], "status"), "completed");
    /* and the sweep expires the one whose PUBACK never came */
    dev_clock_set(DEV_T0 + 240001);
    ok("timer", "devices.sweep", "{}");
    assert_string_equal(CMD(&R, ids[0], "status"), "expired");
    dev_rig_settle(&R);
    assert_string_equal(
        sql_text("SELECT status FROM device_commands WHERE command_id = ?1", ids[0]), "expired");
}

/* The lockout counts the rows in SQLite across a restart: three reboots,
 * a restart, the 4th is blocked; once the window has passed, allowed. */
static void test_lockout_reloaded(void **state)
{
    (void)state;
    hub_open(0);
    dev_rig_discover(&R, U1);
    assert_int_equal(command(U1, "reboot_host", "30000000-0000-4000-8000-000000000001"),
                     HUB_INTENT_APPLIED);
    dev_clock_advance(60000);
    assert_int_equal(command(U1, "restart_app", "30000000-0000-4000-8000-000000000002"),
                     HUB_INTENT_APPLIED);
    dev_clock_advance(60000);
    assert_int_equal(command(U1, "reboot_host", "30000000-0000-4000-8000-000000000003"),
                     HUB_INTENT_APPLIED);
    dev_clock_advance(60000);
    hub_restart(0);
    assert_int_equal(command(U1, "reboot_host", "30000000-0000-4000-8000-000000000004"),
                     HUB_INTENT_APPLIED);
    assert_string_equal(CMD(&R, "30000000-0000-4000-8000-000000000004", "status"),
                        "blocked_safety");
    assert_string_equal(CMD(&R, "30000000-0000-4000-8000-000000000004", "error_code"),
                        "lockout_threshold");
    /* a second restart: the blocked row counts too (at +4 min: 1, 2, 3 min
     * and the blocked one are all in the window) */
    dev_clock_advance(60000);
    hub_restart(0);
    assert_int_equal(command(U1, "restart_app", "30000000-0000-4000-8000-000000000005"),
                     HUB_INTENT_APPLIED);
    assert_string_equal(CMD(&R, "30000000-0000-4000-8000-000000000005", "status"),
                        "blocked_safety");
    /* shutdown_host is never locked out */
    assert_int_equal(command(U1, "shutdown_host", "30000000-0000-4000-8000-000000000006"),
                     HUB_INTENT_APPLIED);
    assert_string_equal(CMD(&R, "30000000-0000-4000-8000-000000000006", "error_code"),
                        "mqtt_publish_failed"); /* published (no MQTT here) */
    /* 15 minutes after the last locking row (the blocked one at +4 min) */
    dev_clock_set(DEV_T0 + 4 * 60000 + 15 * 60000 + 1);
    hub_restart(0);
    assert_int_equal(command(U1, "reboot_host", "30000000-0000-4000-8000-000000000007"),
                     HUB_INTENT_APPLIED);
    assert_string_equal(CMD(&R, "30000000-0000-4000-8000-000000000007", "error_code"),
                        "mqtt_publish_failed");
}

/* ---- delete, journal, logs ---------------------------------------------------------- */

static void test_delete_removes_rows(void **state)
{
    (void)state;
    hub_open(0);
    dev_rig_discover(&R, U1);
    dev_rig_discover(&R, U2);
    assert_int_equal(command(U1, "shutdown_host", CMD1), HUB_INTENT_APPLIED);
    assert_int_equal(command(U1, "reboot_host", CMD2), HUB_INTENT_APPLIED);
    assert_int_equal(command(U2, "reboot_host", CMD3), HUB_INTENT_APPLIED);
    log_line(U1, "ERROR", "one");
    log_line(U1, "INFO", "two");
    log_line(U1, "WARN", "three");
    log_line(U2, "INFO", "other");
    dev_rig_settle(&R);
    assert_int_equal(sql_int("SELECT count(*) FROM devices WHERE id = ?1", U1), 1);
    assert_int_equal(sql_int("SELECT count(*) FROM device_commands WHERE client_uuid = ?1", U1), 2);
    assert_int_equal(sql_int("SELECT count(*) FROM device_logs WHERE client_uuid = ?1", U1), 3);
    assert_string_equal(
        sql_text("SELECT message FROM device_logs WHERE client_uuid = ?1 AND level = 'WARN'", U1),
        "three");

    ok("api", "device.delete", "{'id':'" U1 "'}");
    dev_rig_settle(&R);
    assert_int_equal(sql_int("SELECT count(*) FROM devices WHERE id = ?1", U1), 0);
    assert_int_equal(sql_int("SELECT count(*) FROM device_commands WHERE client_uuid = ?1", U1), 0);
    assert_int_equal(sql_int("SELECT count(*) FROM device_logs WHERE client_uuid = ?1", U1), 0);
    /* the other device keeps its rows */
    assert_int_equal(sql_int("SELECT count(*) FROM devices WHERE id = ?1", U2), 1);
    assert_int_equal(sql_int("SELECT count(*) FROM device_commands WHERE client_uuid = ?1", U2), 1);
    assert_int_equal(sql_int("SELECT count(*) FROM device_logs WHERE client_uuid = ?1", U2), 1);
    /* the journal has it, with both rooms */
    assert_string_equal(
        sql_text("SELECT rooms FROM journal WHERE name = 'device.delete' ORDER BY seq DESC", NULL),
        "commands,devices");
    hub_restart(0);
    assert_string_equal(DEV(&R, U1, "id"), "<absent>");
    assert_string_equal(CMD(&R, CMD1, "status"), "<absent>");
    assert_string_equal(CMD(&R, CMD3, "status"), "failed");
    assert_string_equal(DEV(&R, U2, "id"), U2);
}

/* The journal's rooms text: commands under devices.commands go to room
 * commands, the rest of devices to room devices. */
static void test_journal_rooms(void **state)
{
    (void)state;
    hub_open(0);
    dev_rig_discover(&R, U1);
    assert_int_equal(command(U1, "shutdown_host", CMD1), HUB_INTENT_APPLIED);
    ok("mqtt", "device.heartbeat", "{'uuid':'" U1 "','topic':'t','process_status':'crashed'}");
    dev_rig_settle(&R);
    assert_string_equal(sql_text("SELECT rooms FROM journal WHERE name = 'device.discovery'", NULL),
                        "devices");
    assert_string_equal(sql_text("SELECT rooms FROM journal WHERE name = 'device.command'", NULL),
                        "commands");
    assert_string_equal(
        sql_text("SELECT rooms FROM journal WHERE name = 'device.command_sent'", NULL), "commands");
    assert_string_equal(sql_text("SELECT rooms FROM journal WHERE name = 'device.heartbeat'", NULL),
                        "devices");
    /* the command_id prepare made is in the journal's payload */
    assert_non_null(
        strstr(sql_text("SELECT payload FROM journal WHERE name = 'device.command'", NULL),
               "\"command_id\":\"" CMD1 "\""));
    assert_string_equal(
        sql_text("SELECT src FROM journal WHERE name = 'device.command_sent'", NULL), "mqtt");
}

/* Per device, at most FLEET_LOG_RETENTION entries (the oldest go); in age,
 * the poll asks the reader for entries older than FLEET_LOG_RETENTION_DAYS
 * and only then submits the sweep that removes them. */
static void test_log_retention(void **state)
{
    char msg[32];
    (void)state;
    log_retention = 10;
    hub_open(0);
    dev_rig_discover(&R, U1);
    dev_rig_discover(&R, U2);
    for (int i = 0; i < 25; i++) {
        snprintf(msg, sizeof(msg), "m%02d", i);
        log_line(U1, "INFO", msg);
    }
    log_line(U2, "INFO", "u2");
    dev_rig_settle(&R);
    int64_t n = sql_int("SELECT count(*) FROM device_logs WHERE client_uuid = ?1", U1);
    assert_true(n >= 9 && n <= 10 + 10 / 10 + 1);
    assert_string_equal(sql_text("SELECT max(message) FROM device_logs WHERE client_uuid = ?1", U1),
                        "m24");
    assert_int_equal(
        sql_int("SELECT count(*) FROM device_logs WHERE client_uuid = ?1 AND message = 'm00'", U1),
        0);
    assert_int_equal(sql_int("SELECT count(*) FROM device_logs WHERE client_uuid = ?1", U2), 1);

    /* nothing older than 30 days: the poll writes nothing */
    uint64_t seq = hub_engine_seq(R.e);
    dev__poll(R.d);
    for (int i = 0; i < 300; i++) { /* the reader's answer comes through the inbox */
        uv_run(&R.loop, UV_RUN_NOWAIT);
        dev_rig_sleep_ms(1);
    }
    dev_rig_settle(&R);
    assert_true(hub_engine_seq(R.e) == seq);

    /* 31 days on, after one more line: the old ones go, the new one stays */
    dev_clock_advance(31ull * 86400000ull);
    log_line(U1, "ERROR", "fresh");
    dev_clock_advance(3600000); /* the next retention pass is due */
    size_t nanns = R.nanns;
    dev__poll(R.d);
    for (int i = 0; i < WAIT_MS && dev_rig_ann(&R, "devices.sweep") == NULL; i++) {
        uv_run(&R.loop, UV_RUN_NOWAIT);
        hub_engine_drain_now(R.e);
        dev_rig_sleep_ms(1);
    }
    dev_rig_settle(&R);
    assert_true(R.nanns > nanns);
    dev_ann_t *a = dev_rig_ann(&R, "devices.sweep");
    assert_non_null(a);
    assert_string_equal(a->src, "timer");
    assert_non_null(strstr(a->payload, "logs_before"));
    assert_int_equal(sql_int("SELECT count(*) FROM device_logs", NULL), 1);
    assert_string_equal(sql_text("SELECT message FROM device_logs", NULL), "fresh");
}

/* A log read (GET /api/client-logs/<uuid>/logs) runs on the store's reader
 * and is answered later, newest first. */
static void test_logs_read_on_the_reader(void **state)
{
    (void)state;
    hub_open(0);
    dev_rig_discover(&R, U1);
    log_line(U1, "INFO", "first");
    dev_clock_advance(1000);
    log_line(U1, "ERROR", "second");
    dev_rig_settle(&R);

    hub_route_req_t rq;
    void *ctx = NULL;
    unsigned allow = 0;
    memset(&rq, 0, sizeof(rq));
    const hub_route_def_t *r =
        hub_engine_route(R.e, HUB_HTTP_GET, "/api/client-logs/" U1 "/logs", &rq, &ctx, &allow);
    assert_non_null(r);
    assert_non_null(r->read_async);
    rq.query = "limit=10";
    dev_fake_reply_t *f = hub_calloc(1, sizeof(*f));
    f->base.send = dev_fake_reply_send;
    f->R = &R;
    hub_error_t err;
    memset(&err, 0, sizeof(err));
    assert_int_equal(r->read_async(ctx, &rq, &f->base, &err), 0);
    for (int i = 0; i < WAIT_MS && R.nreplies == 0; i++) {
        uv_run(&R.loop, UV_RUN_NOWAIT);
        dev_rig_sleep_ms(1);
    }
    assert_int_equal(R.nreplies, 1);
    assert_int_equal(R.replies[0].status, 200);
    json_t *b = json_loads(R.replies[0].body, 0, NULL);
    assert_non_null(b);
    assert_string_equal(json_string_value(json_object_get(b, "client_uuid")), U1);
    assert_int_equal(json_integer_value(json_object_get(b, "count")), 2);
    json_t *logs = json_object_get(b, "logs");
    assert_string_equal(json_string_value(json_object_get(json_array_get(logs, 0), "message")),
                        "second");
    assert_string_equal(json_string_value(json_object_get(json_array_get(logs, 0), "level")),
                        "ERROR");
    assert_string_equal(json_string_value(json_object_get(json_array_get(logs, 1), "message")),
                        "first");
    json_decref(b);
}

/* A repeated Idempotency-Key for a command that has left memory (10 minutes
 * after it finished) is answered with that command, read back from SQLite,
 * not with a second one. */
static void test_duplicate_answered_from_sqlite(void **state)
{
    (void)state;
    hub_open(0);
    R.answer = 1;
    dev_rig_discover(&R, U1);
    assert_int_equal(dev_rig_submit(&R, "idem-1", "api", "device.command",
                                    dev_json("{'device':'" U1 "','action':'restart_app'}")),
                     0);
    dev_rig_settle(&R);
    char first[40];
    snprintf(first, sizeof(first), "%s", R.cmd_id);
    assert_int_equal(R.nreplies, 1); /* no MQTT here: failed at once, 500 */
    assert_int_equal(R.replies[0].status, 500);
    dev_clock_advance(600001 + 1000); /* finished 10 minutes ago: the sweep drops it */
    ok("timer", "devices.sweep", "{}");
    char *gone = dev_rig_text(&R, "commands", first);
    assert_string_equal(gone, "<absent>");
    hub_free(gone);
    assert_int_equal(dev_rig_submit(&R, "idem-1", "api", "device.command",
                                    dev_json("{'device':'" U1 "','action':'restart_app'}")),
                     0);
    dev_rig_settle(&R);
    assert_int_equal(R.outcome, HUB_INTENT_DUPLICATE);
    for (int i = 0; i < WAIT_MS && R.nreplies < 2; i++) {
        uv_run(&R.loop, UV_RUN_NOWAIT);
        dev_rig_sleep_ms(1);
    }
    assert_int_equal(R.nreplies, 2);
    assert_int_equal(R.replies[1].status, 500);
    json_t *b = json_loads(R.replies[1].body, 0, NULL);
    assert_non_null(b);
    json_t *c = json_object_get(b, "command");
    assert_string_equal(json_string_value(json_object_get(c, "commandId")), first);
    assert_string_equal(json_string_value(json_object_get(c, "status")), "failed");
    assert_string_equal(json_string_value(json_object_get(c, "errorCode")), "mqtt_publish_failed");
    json_decref(b);
}

/* After a restart the fleet's gauges say what was loaded (fleet_devices is
 * "Devices in the registry"), before any device speaks again: a fleet that
 * is all switched off must not read 0 devices. */
static void test_gauges_after_restart(void **state)
{
    (void)state;
    hub_open(0);
    dev_rig_discover(&R, U1);
    dev_rig_discover(&R, U2);
    ok("mqtt", "device.service_failed", "{'uuid':'" U1 "','topic':'t','unit':'x.service'}");
    assert_true(dev_rig_metric(&R, "fleet_devices") == 2);
    assert_true(dev_rig_metric(&R, "fleet_alerts_active") == 1);
    hub_restart(0);
    double devices = dev_rig_metric(&R, "fleet_devices");
    if (devices != 2)
        fail_msg("fleet_devices is %g after a restart with 2 devices loaded (it is set only when "
                 "a devices change is announced)",
                 devices);
}

/* After a restart the alerts that follow from the loaded registry are
 * there (in the snapshot, /api/v1/alerts and fleet_alerts_active): a
 * device loaded with service_failed_at set has its service_failed alert,
 * a crashed one its process_crashed alert, without waiting for its next
 * message. */
static void test_alerts_after_restart(void **state)
{
    (void)state;
    hub_open(0);
    dev_rig_discover(&R, U1);
    dev_rig_discover(&R, U2);
    ok("mqtt", "device.service_failed", "{'uuid':'" U1 "','topic':'t','unit':'x.service'}");
    ok("mqtt", "device.heartbeat", "{'uuid':'" U2 "','topic':'t','process_status':'crashed'}");
    char *sf = dev_rig_text(&R, "alerts", "service_failed:" U1);
    char *pc = dev_rig_text(&R, "alerts", "process_crashed:" U2);
    assert_string_not_equal(sf, "<absent>");
    assert_string_not_equal(pc, "<absent>");
    hub_restart(0);
    char *sf2 = dev_rig_text(&R, "alerts", "service_failed:" U1);
    char *pc2 = dev_rig_text(&R, "alerts", "process_crashed:" U2);
    double n = dev_rig_metric(&R, "fleet_alerts_active");
    int good = strcmp(sf2, "<absent>") != 0 && strcmp(pc2, "<absent>") != 0 && n == 2;
    char msg[600];
    snprintf(msg, sizeof(msg),
             "after a restart: service_failed:U1 %s, process_crashed:U2 %s, fleet_alerts_active %g "
             "(want both alerts, 2)",
             sf2, pc2, n);
    hub_free(sf);
    hub_free(pc);
    hub_free(sf2);
    hub_free(pc2);
    if (!good)
        fail_msg("%s", msg);
}

int main(void)
{
    hub_log_set_level(getenv("DEV_LOG") ? HUB_LOG_DEBUG : HUB_LOG_OFF);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_registry_roundtrip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_commands_reloaded, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lockout_reloaded, setup, teardown),
        cmocka_unit_test_setup_teardown(test_delete_removes_rows, setup, teardown),
        cmocka_unit_test_setup_teardown(test_journal_rooms, setup, teardown),
        cmocka_unit_test_setup_teardown(test_log_retention, setup, teardown),
        cmocka_unit_test_setup_teardown(test_logs_read_on_the_reader, setup, teardown),
        cmocka_unit_test_setup_teardown(test_duplicate_answered_from_sqlite, setup, teardown),
        cmocka_unit_test_setup_teardown(test_gauges_after_restart, setup, teardown),
        cmocka_unit_test_setup_teardown(test_alerts_after_restart, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
