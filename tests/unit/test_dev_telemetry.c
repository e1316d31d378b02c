/* tests/unit/test_dev_telemetry.c - domains/devices model: heartbeat and
 * health mapping, liveness, the broker-outage rule and device ids. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "domains/devices/model.h"

static json_t *load(const char *text)
{
    json_error_t err;
    json_t *j = json_loads(text, JSON_DECODE_ANY | JSON_ALLOW_NUL, &err);
    if (j == NULL)
        fail_msg("bad test JSON (%s): %s", err.text, text);
    return j;
}

static int health(const char *text, dev_telemetry_t *t)
{
    json_t *j = load(text);
    int rc = dev_health_map(j, t);
    json_decref(j);
    return rc;
}

static int heartbeat(const char *text, dev_telemetry_t *t)
{
    json_t *j = load(text);
    int rc = dev_heartbeat_map(j, t);
    json_decref(j);
    return rc;
}

/* 1 if name is in t->ignored (the names are static strings: safe after decref). */
static int was_ignored(const dev_telemetry_t *t, const char *name)
{
    for (int i = 0; i < t->nignored; i++)
        if (strcmp(t->ignored[i], name) == 0)
            return 1;
    return 0;
}

static int nset(const dev_telemetry_t *t)
{
    return t->has_process + t->has_pid + t->has_status + t->has_event + t->has_screen +
           t->has_reconnects + t->has_disconnect;
}

/* ---- enums ---------------------------------------------------------------------- */

static void test_enums(void **state)
{
    static const char *procs[] = {"running", "crashed", "starting", "stopped"};
    static const char *screens[] = {"OK", "BLACK", "FROZEN", "UNKNOWN"};

    for (int i = 0; i < DEV_PROC_COUNT; i++) {
        dev_proc_t p = DEV_PROC_COUNT;
        assert_string_equal(dev_proc_name((dev_proc_t)i), procs[i]);
        assert_int_equal(dev_proc_parse(procs[i], &p), 0);
        assert_int_equal(p, i);
    }
    for (int i = 0; i < DEV_SCREEN_COUNT; i++) {
        dev_screen_t s = DEV_SCREEN_COUNT;
        assert_string_equal(dev_screen_name((dev_screen_t)i), screens[i]);
        assert_int_equal(dev_screen_parse(screens[i], &s), 0);
        assert_int_equal(s, i);
    }
    dev_proc_t p;
    dev_screen_t s;
    assert_int_equal(dev_proc_parse("Running", &p), -1);
    assert_int_equal(dev_proc_parse("RUNNING", &p), -1);
    assert_int_equal(dev_proc_parse(" running", &p), -1);
    assert_int_equal(dev_proc_parse("", &p), -1);
    assert_int_equal(dev_proc_parse(NULL, &p), -1);
    assert_int_equal(dev_screen_parse("ok", &s), -1);
    assert_int_equal(dev_screen_parse("Black", &s), -1);
    assert_int_equal(dev_screen_parse("OK ", &s), -1);
    assert_int_equal(dev_screen_parse(NULL, &s), -1);
}

/* ---- health --------------------------------------------------------------------- */

static void test_health_seed_example(void **state)
{
    dev_telemetry_t t;

    assert_int_equal(health("{\"timestamp\":\"2026-04-05T08:00:00.000000+00:00\","
                            "\"expected_state\":{\"event_id\":42},"
                            "\"actual_state\":{\"process\":\"display_manager\",\"pid\":1234,"
                            "\"status\":\"running\"},"
                            "\"health_metrics\":{\"screen_health_status\":\"BLACK\","
                            "\"last_frame_update\":\"2026-04-05T07:59:58Z\"},"
                            "\"broker_connection\":{\"broker_reachable\":true,"
                            "\"reconnect_count\":2,"
                            "\"last_disconnect_at\":\"2026-04-04T10:30:00Z\"}}",
                            &t),
                     0);
    assert_int_equal(nset(&t), 7);
    assert_int_equal(t.nignored, 0);
    assert_string_equal(t.process, "display_manager");
    assert_int_equal(t.pid, 1234);
    assert_int_equal(t.status, DEV_PROC_RUNNING);
    assert_int_equal(t.event_id, 42);
    assert_int_equal(t.screen, DEV_SCREEN_BLACK);
    assert_int_equal(t.reconnects, 2);
    assert_int_equal(t.disconnect_ms, 1775298600000ull);
}

static void test_health_roots(void **state)
{
    dev_telemetry_t t;

    memset(&t, 0x5a, sizeof(t));
    assert_int_equal(dev_health_map(NULL, &t), -1);
    assert_int_equal(nset(&t), 0);
    assert_int_equal(health("[]", &t), -1);
    assert_int_equal(health("\"x\"", &t), -1);
    assert_int_equal(health("null", &t), -1);
    assert_int_equal(health("3", &t), -1);
    /* An empty object sets nothing. */
    memset(&t, 0x5a, sizeof(t));
    assert_int_equal(health("{}", &t), 0);
    assert_int_equal(nset(&t), 0);
    assert_int_equal(t.nignored, 0);
    /* Nulls are absent, not invalid. */
    assert_int_equal(health("{\"actual_state\":{\"process\":null,\"pid\":null,\"status\":null},"
                            "\"expected_state\":{\"event_id\":null},"
                            "\"health_metrics\":{\"screen_health_status\":null},"
                            "\"screen_health_status\":null,"
                            "\"broker_connection\":{\"reconnect_count\":null,"
                            "\"last_disconnect_at\":null}}",
                            &t),
                     0);
    assert_int_equal(nset(&t), 0);
    assert_int_equal(t.nignored, 0);
    assert_int_equal(health("{\"actual_state\":null,\"expected_state\":null,"
                            "\"health_metrics\":null,\"broker_connection\":null}",
                            &t),
                     0);
    assert_int_equal(nset(&t), 0);
    assert_int_equal(t.nignored, 0);
}

static void test_health_sub_objects(void **state)
{
    dev_telemetry_t t;

    /* Sub-objects that are not objects are skipped (and named); the rest still maps. */
    assert_int_equal(health("{\"actual_state\":[\"running\"],\"expected_state\":42,"
                            "\"health_metrics\":\"OK\",\"screen_health_status\":\"FROZEN\","
                            "\"broker_connection\":{\"reconnect_count\":5}}",
                            &t),
                     0);
    assert_int_equal(t.has_process + t.has_pid + t.has_status + t.has_event, 0);
    assert_int_equal(t.has_screen, 1);
    assert_int_equal(t.screen, DEV_SCREEN_FROZEN);
    assert_int_equal(t.has_reconnects, 1);
    assert_int_equal(t.reconnects, 5);
    assert_int_equal(t.nignored, 3);
    assert_true(was_ignored(&t, "actual_state"));
    assert_true(was_ignored(&t, "expected_state"));
    assert_true(was_ignored(&t, "health_metrics"));

    assert_int_equal(health("{\"broker_connection\":true,\"actual_state\":{\"pid\":7}}", &t), 0);
    assert_int_equal(nset(&t), 1);
    assert_int_equal(t.pid, 7);
    assert_true(was_ignored(&t, "broker_connection"));
    /* Only the named sub-objects are read: a top-level pid is not a pid. */
    assert_int_equal(health("{\"pid\":1,\"process\":\"x\",\"status\":\"running\","
                            "\"event_id\":1,\"reconnect_count\":1}",
                            &t),
                     0);
    assert_int_equal(nset(&t), 0);
}

static void test_health_all_invalid(void **state)
{
    dev_telemetry_t t;

    assert_int_equal(health("{\"actual_state\":{\"process\":5,\"pid\":\"1234\","
                            "\"status\":\"Running\"},"
                            "\"expected_state\":{\"event_id\":\"forty-two\"},"
                            "\"health_metrics\":{\"screen_health_status\":\"ok\"},"
                            "\"screen_health_status\":\"GREEN\","
                            "\"broker_connection\":{\"reconnect_count\":\"2.5\","
                            "\"last_disconnect_at\":\"yesterday\"}}",
                            &t),
                     0);
    assert_int_equal(nset(&t), 0);
    assert_int_equal(t.nignored, 8);
    static const char *names[] = {
        "actual_state.process",
        "actual_state.pid",
        "actual_state.status",
        "expected_state.event_id",
        "health_metrics.screen_health_status",
        "screen_health_status",
        "broker_connection.reconnect_count",
        "broker_connection.last_disconnect_at",
    };
    for (size_t i = 0; i < 8; i++)
        if (!was_ignored(&t, names[i]))
            fail_msg("%s not in ignored", names[i]);
}

static void test_health_process(void **state)
{
    dev_telemetry_t t;
    char text[512], name[200];

    assert_int_equal(health("{\"actual_state\":{\"process\":\"\"}}", &t), 0);
    assert_int_equal(t.has_process, 1);
    assert_string_equal(t.process, "");

    /* Exactly 128 bytes are kept whole; 129 are cut to 128. */
    memset(name, 'a', 128);
    name[128] = '\0';
    snprintf(text, sizeof(text), "{\"actual_state\":{\"process\":\"%s\"}}", name);
    assert_int_equal(health(text, &t), 0);
    assert_string_equal(t.process, name);
    memset(name, 'b', 129);
    name[129] = '\0';
    snprintf(text, sizeof(text), "{\"actual_state\":{\"process\":\"%s\"}}", name);
    assert_int_equal(health(text, &t), 0);
    assert_int_equal(strlen(t.process), 128);
    assert_memory_equal(t.process, name, 128);

    /* A two-byte character straddling byte 128 goes whole. */
    memset(name, 'c', 127);
    memcpy(name + 127, "\xc3\xa9z", 4);
    snprintf(text, sizeof(text), "{\"actual_state\":{\"process\":\"%s\"}}", name);
    assert_int_equal(health(text, &t), 0);
    assert_int_equal(strlen(t.process), 127);
    assert_memory_equal(t.process, name, 127);
    /* ... and one ending exactly at 128 stays. */
    memset(name, 'd', 126);
    memcpy(name + 126, "\xc3\xa9z", 4);
    snprintf(text, sizeof(text), "{\"actual_state\":{\"process\":\"%s\"}}", name);
    assert_int_equal(health(text, &t), 0);
    assert_int_equal(strlen(t.process), 128);
    assert_memory_equal(t.process, name, 128);
    /* A four-byte character at 126..129 goes whole. */
    memset(name, 'e', 126);
    memcpy(name + 126, "\xf0\x9f\x92\xa1", 5);
    snprintf(text, sizeof(text), "{\"actual_state\":{\"process\":\"%s\"}}", name);
    assert_int_equal(health(text, &t), 0);
    assert_int_equal(strlen(t.process), 126);

    /* Non-strings and strings with a NUL inside are ignored. */
    static const char *bad[] = {"1", "true", "[]", "{}", "\"a\\u0000b\""};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        snprintf(text, sizeof(text), "{\"actual_state\":{\"process\":%s}}", bad[i]);
        assert_int_equal(health(text, &t), 0);
        assert_int_equal(t.has_process, 0);
        assert_true(was_ignored(&t, "actual_state.process"));
    }
}

/* One field under a sub-object set to raw; returns the mapped telemetry. */
static void map_one(const char *sub, const char *key, const char *raw, dev_telemetry_t *t)
{
    char text[512];
    if (sub != NULL)
        snprintf(text, sizeof(text), "{\"%s\":{\"%s\":%s}}", sub, key, raw);
    else
        snprintf(text, sizeof(text), "{\"%s\":%s}", key, raw);
    assert_int_equal(health(text, t), 0);
}

static void test_health_numbers(void **state)
{
    dev_telemetry_t t;

    /* pid: an integer or a whole real. */
    static const struct {
        const char *raw;
        int ok;
        int64_t v;
    } pid[] = {
        {"1234", 1, 1234},
        {"1234.0", 1, 1234},
        {"0", 1, 0},
        {"-1", 1, -1},
        {"1e3", 1, 1000},
        {"1234.5", 0, 0},
        {"\"1234\"", 0, 0},
        {"true", 0, 0},
        {"[1]", 0, 0},
        {"1e30", 0, 0},
        {"9223372036854775807", 1, INT64_MAX},
    };
    for (size_t i = 0; i < sizeof(pid) / sizeof(pid[0]); i++) {
        map_one("actual_state", "pid", pid[i].raw, &t);
        if (t.has_pid != pid[i].ok || (pid[i].ok && t.pid != pid[i].v))
            fail_msg("pid %s: has %d value %lld", pid[i].raw, t.has_pid, (long long)t.pid);
        assert_int_equal(was_ignored(&t, "actual_state.pid"), !pid[i].ok);
    }

    /* event_id: integer, whole real, or a decimal string. */
    static const struct {
        const char *raw;
        int ok;
        int64_t v;
    } ev[] = {
        {"42", 1, 42},     {"42.0", 1, 42},    {"\"42\"", 1, 42}, {"\" 42 \"", 1, 42},
        {"\"-3\"", 1, -3}, {"\"+7\"", 1, 7},   {"42.5", 0, 0},    {"\"42.0\"", 0, 0},
        {"\"\"", 0, 0},    {"\"x\"", 0, 0},    {"false", 0, 0},   {"{}", 0, 0},
        {"1e300", 0, 0},   {"\"0x10\"", 0, 0},
    };
    for (size_t i = 0; i < sizeof(ev) / sizeof(ev[0]); i++) {
        map_one("expected_state", "event_id", ev[i].raw, &t);
        if (t.has_event != ev[i].ok || (ev[i].ok && t.event_id != ev[i].v))
            fail_msg("event_id %s: has %d value %lld", ev[i].raw, t.has_event,
                     (long long)t.event_id);
        assert_int_equal(was_ignored(&t, "expected_state.event_id"), !ev[i].ok);
    }

    /* reconnect_count: as Python's int(). */
    static const struct {
        const char *raw;
        int ok;
        int64_t v;
    } rc[] = {
        {"2", 1, 2},
        {"-4", 1, -4},
        {"2.0", 1, 2},
        {"2.9", 1, 2}, /* int(2.9) truncates */
        {"-2.9", 1, -2},
        {"0.5", 1, 0},
        {"\"3\"", 1, 3},
        {"\" +7 \\n\"", 1, 7},
        {"\"\\t-12\\r\"", 1, -12},
        {"\"-0\"", 1, 0},
        {"\"007\"", 1, 7},
        {"\"1_000\"", 1, 1000},
        {"\"9223372036854775807\"", 1, INT64_MAX},
        {"\"-9223372036854775808\"", 1, INT64_MIN},
        {"\"9223372036854775808\"", 0, 0},
        {"\"99999999999999999999999\"", 0, 0},
        {"\"1.5\"", 0, 0},
        {"\"\"", 0, 0},
        {"\"  \"", 0, 0},
        {"\"+\"", 0, 0},
        {"\"- 1\"", 0, 0},
        {"\"1 2\"", 0, 0},
        {"\"_1\"", 0, 0},
        {"\"1_\"", 0, 0},
        {"\"1__0\"", 0, 0},
        {"\"abc\"", 0, 0},
        {"\"1\\u00002\"", 0, 0},
        {"true", 0, 0},
        {"[]", 0, 0},
        {"{}", 0, 0},
        {"1e19", 0, 0},
        {"-1e19", 0, 0},
        {"9223372036854775808.0", 0, 0}, /* 2^63: just out of range */
        {"-9223372036854775808.0", 1, INT64_MIN},
    };
    for (size_t i = 0; i < sizeof(rc) / sizeof(rc[0]); i++) {
        map_one("broker_connection", "reconnect_count", rc[i].raw, &t);
        if (t.has_reconnects != rc[i].ok || (rc[i].ok && t.reconnects != rc[i].v))
            fail_msg("reconnect_count %s: has %d value %lld", rc[i].raw, t.has_reconnects,
                     (long long)t.reconnects);
        assert_int_equal(was_ignored(&t, "broker_connection.reconnect_count"), !rc[i].ok);
    }
}

static void test_health_status_screen(void **state)
{
    dev_telemetry_t t;
    static const char *procs[] = {"running", "crashed", "starting", "stopped"};
    char raw[32];

    for (int i = 0; i < DEV_PROC_COUNT; i++) {
        snprintf(raw, sizeof(raw), "\"%s\"", procs[i]);
        map_one("actual_state", "status", raw, &t);
        assert_int_equal(t.has_status, 1);
        assert_int_equal(t.status, i);
    }
    static const char *bad[] = {"\"Running\"", "\"crashing\"", "\"\"", "1", "null"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        map_one("actual_state", "status", bad[i], &t);
        assert_int_equal(t.has_status, 0);
        /* null is absent; the rest are invalid. */
        assert_int_equal(was_ignored(&t, "actual_state.status"), strcmp(bad[i], "null") != 0);
    }

    /* The nested screen status wins over the top-level one. */
    assert_int_equal(health("{\"health_metrics\":{\"screen_health_status\":\"OK\"},"
                            "\"screen_health_status\":\"BLACK\"}",
                            &t),
                     0);
    assert_int_equal(t.screen, DEV_SCREEN_OK);
    assert_int_equal(t.nignored, 0);
    /* Top level alone, or as the fallback for a missing or invalid nested one. */
    map_one(NULL, "screen_health_status", "\"UNKNOWN\"", &t);
    assert_int_equal(t.has_screen, 1);
    assert_int_equal(t.screen, DEV_SCREEN_UNKNOWN);
    assert_int_equal(health("{\"health_metrics\":{\"last_frame_update\":null},"
                            "\"screen_health_status\":\"FROZEN\"}",
                            &t),
                     0);
    assert_int_equal(t.screen, DEV_SCREEN_FROZEN);
    assert_int_equal(health("{\"health_metrics\":{\"screen_health_status\":\"frozen\"},"
                            "\"screen_health_status\":\"BLACK\"}",
                            &t),
                     0);
    assert_int_equal(t.has_screen, 1);
    assert_int_equal(t.screen, DEV_SCREEN_BLACK);
    assert_int_equal(t.nignored, 1);
    assert_true(was_ignored(&t, "health_metrics.screen_health_status"));
}

static void test_health_disconnect(void **state)
{
    dev_telemetry_t t;
    static const struct {
        const char *raw;
        int ok;
        uint64_t ms;
    } dc[] = {
        {"\"2026-04-04T10:30:00Z\"", 1, 1775298600000ull},
        {"\"2026-04-04T12:30:00+02:00\"", 1, 1775298600000ull},
        {"\"2026-04-04T10:30:00\"", 1, 1775298600000ull}, /* naive = UTC */
        {"\"2026-04-04 10:30:00.250000+00:00\"", 1, 1775298600250ull},
        {"\"yesterday\"", 0, 0},
        {"\"2026-04-04\"", 0, 0},
        {"\"1969-12-31T23:59:59Z\"", 0, 0},
        {"\"2026-02-30T10:30:00Z\"", 0, 0},
        {"5", 0, 0},
        {"true", 0, 0},
        {"{}", 0, 0},
    };
    for (size_t i = 0; i < sizeof(dc) / sizeof(dc[0]); i++) {
        map_one("broker_connection", "last_disconnect_at", dc[i].raw, &t);
        if (t.has_disconnect != dc[i].ok || (dc[i].ok && t.disconnect_ms != dc[i].ms))
            fail_msg("last_disconnect_at %s: has %d", dc[i].raw, t.has_disconnect);
        assert_int_equal(was_ignored(&t, "broker_connection.last_disconnect_at"), !dc[i].ok);
    }
    /* An empty string is skipped like null ("if last_disconnect_str:"). */
    map_one("broker_connection", "last_disconnect_at", "\"\"", &t);
    assert_int_equal(t.has_disconnect, 0);
    assert_int_equal(t.nignored, 0);
}

/* ---- heartbeat ------------------------------------------------------------------ */

static void test_heartbeat(void **state)
{
    dev_telemetry_t t;

    /* An empty payload: a plain heartbeat. */
    memset(&t, 0x5a, sizeof(t));
    assert_int_equal(dev_heartbeat_map(NULL, &t), 0);
    assert_int_equal(nset(&t), 0);
    assert_int_equal(t.nignored, 0);
    assert_int_equal(heartbeat("[]", &t), -1);
    assert_int_equal(heartbeat("\"alive\"", &t), -1);
    assert_int_equal(heartbeat("null", &t), -1);
    assert_int_equal(heartbeat("{}", &t), 0);
    assert_int_equal(nset(&t), 0);

    assert_int_equal(heartbeat("{\"current_process\":\"chromium\",\"process_pid\":99.0,"
                               "\"process_status\":\"crashed\",\"current_event_id\":\"17\","
                               "\"uuid\":\"ignored\"}",
                               &t),
                     0);
    assert_int_equal(nset(&t), 4);
    assert_string_equal(t.process, "chromium");
    assert_int_equal(t.pid, 99);
    assert_int_equal(t.status, DEV_PROC_CRASHED);
    assert_int_equal(t.event_id, 17);
    assert_int_equal(t.nignored, 0);

    assert_int_equal(heartbeat("{\"current_process\":[],\"process_pid\":\"99\","
                               "\"process_status\":\"dead\",\"current_event_id\":1.5}",
                               &t),
                     0);
    assert_int_equal(nset(&t), 0);
    assert_int_equal(t.nignored, 4);
    assert_true(was_ignored(&t, "current_process"));
    assert_true(was_ignored(&t, "process_pid"));
    assert_true(was_ignored(&t, "process_status"));
    assert_true(was_ignored(&t, "current_event_id"));

    /* Health's nested names mean nothing in a heartbeat. */
    assert_int_equal(
        heartbeat("{\"actual_state\":{\"pid\":1},\"screen_health_status\":\"OK\"}", &t), 0);
    assert_int_equal(nset(&t), 0);
}

/* ---- liveness ------------------------------------------------------------------- */

static void test_alive(void **state)
{
    const uint64_t g = 170000, now = 1775376000000ull;

    assert_int_equal(dev_alive(1, now, now, g), 1);
    assert_int_equal(dev_alive(1, now - g, now, g), 1); /* at the edge */
    assert_int_equal(dev_alive(1, now - g - 1, now, g), 0);
    assert_int_equal(dev_alive(1, now + 5000, now, g), 1); /* skew */
    assert_int_equal(dev_alive(0, now, now, g), 0);
    assert_int_equal(dev_alive(1, 0, now, g), 0); /* never seen */
    /* now < grace: no underflow; anything seen counts, never-seen does not. */
    assert_int_equal(dev_alive(1, 1, 1000, g), 1);
    assert_int_equal(dev_alive(1, 0, 1000, g), 0);
    assert_int_equal(dev_alive(1, 5, 0, 0), 1);
}

static void test_outage(void **state)
{
    const uint64_t g = 170000, now = 1775376000000ull;
    uint64_t la[10];
    size_t ns = 99;

    /* Ten devices all stale, silent within a minute of each other. */
    for (int i = 0; i < 10; i++)
        la[i] = now - 600000 - (uint64_t)i * 6000;
    assert_int_equal(dev_outage_suspected(la, 10, now, g, 0.8, &ns), 1);
    assert_int_equal(ns, 10);

    /* One of ten stale: a device problem. */
    for (int i = 0; i < 10; i++)
        la[i] = now - 1000;
    la[3] = now - 600000;
    assert_int_equal(dev_outage_suspected(la, 10, now, g, 0.8, &ns), 0);
    assert_int_equal(ns, 1);
    /* Even with a fraction that one device would satisfy. */
    assert_int_equal(dev_outage_suspected(la, 10, now, g, 0.1, &ns), 0);

    /* Eight of ten stale but spread over three grace periods. */
    for (int i = 0; i < 10; i++)
        la[i] = now - 1000;
    for (int i = 0; i < 8; i++)
        la[i] = now - g - 1 - (uint64_t)i * (3 * g / 7);
    assert_int_equal(dev_outage_suspected(la, 10, now, g, 0.8, &ns), 0);
    assert_int_equal(ns, 8);

    /* The fraction edge: exactly 8 of 10 together is 0.8 * n; 7 is not. */
    for (int i = 0; i < 10; i++)
        la[i] = i < 8 ? now - 400000 - (uint64_t)i : now - 10;
    assert_int_equal(dev_outage_suspected(la, 10, now, g, 0.8, &ns), 1);
    assert_int_equal(ns, 8);
    la[7] = now - 10;
    assert_int_equal(dev_outage_suspected(la, 10, now, g, 0.8, &ns), 0);
    assert_int_equal(ns, 7);
    assert_int_equal(dev_outage_suspected(la, 10, now, g, 0.7, &ns), 1);
    /* 0.1 * 7 is 0.7000000000000001 in doubles; the per-mille compare still says 0.7. */
    assert_int_equal(dev_outage_suspected(la, 10, now, g, 0.1 * 7, &ns), 1);

    /* "Within one grace period of the newest stale" is inclusive. */
    uint64_t edge[4] = {now - 300000, now - 300000 - g, now - 1, now - 2};
    assert_int_equal(dev_outage_suspected(edge, 4, now, g, 0.5, &ns), 1);
    assert_int_equal(ns, 2);
    edge[1] -= 1;
    assert_int_equal(dev_outage_suspected(edge, 4, now, g, 0.5, &ns), 0);
    assert_int_equal(ns, 2);

    /* Stale means last_alive < now - grace: exactly at the edge is alive. */
    uint64_t two[2] = {now - g, now - g};
    assert_int_equal(dev_outage_suspected(two, 2, now, g, 0.8, &ns), 0);
    assert_int_equal(ns, 0);
    two[0] = two[1] = now - g - 1;
    assert_int_equal(dev_outage_suspected(two, 2, now, g, 0.8, &ns), 1);
    assert_int_equal(ns, 2);

    /* n < 2 never suspects; nstale is still reported (and may be NULL). */
    assert_int_equal(dev_outage_suspected(two, 1, now, g, 0.8, &ns), 0);
    assert_int_equal(ns, 1);
    assert_int_equal(dev_outage_suspected(NULL, 0, now, g, 0.8, &ns), 0);
    assert_int_equal(ns, 0);
    assert_int_equal(dev_outage_suspected(two, 2, now, g, 0.8, NULL), 1);

    /* now < grace: nothing can be stale, and nothing underflows. */
    uint64_t early[3] = {0, 1, 2};
    assert_int_equal(dev_outage_suspected(early, 3, 1000, g, 0.5, &ns), 0);
    assert_int_equal(ns, 0);
    /* Newest stale within the first grace period: the window starts at 0. */
    uint64_t young[3] = {1, 2, 300000};
    assert_int_equal(dev_outage_suspected(young, 3, 300000, g, 0.6, &ns), 1);
    assert_int_equal(ns, 2);

    /* Fractions outside 0..1: above 1 needs all, zero or NaN needs two together. */
    for (int i = 0; i < 10; i++)
        la[i] = now - 400000;
    assert_int_equal(dev_outage_suspected(la, 10, now, g, 1.5, &ns), 1);
    la[0] = now;
    assert_int_equal(dev_outage_suspected(la, 10, now, g, 1.5, &ns), 0);
    assert_int_equal(dev_outage_suspected(la, 10, now, g, 1.0, &ns), 0);
    assert_int_equal(dev_outage_suspected(la, 10, now, g, 0.9, &ns), 1);
    assert_int_equal(dev_outage_suspected(la, 10, now, g, 0.0, &ns), 1);
    assert_int_equal(dev_outage_suspected(la, 10, now, g, NAN, &ns), 1);
    assert_int_equal(dev_outage_suspected(la, 10, now, g, -1.0, &ns), 1);
}

/* ---- ids ------------------------------------------------------------------------ */

static void test_id_valid(void **state)
{
    static const char *ok[] = {
        "a",
        "Z",
        "0",
        "-",
        "_",
        ":",
        "screen-01",
        "lobby:left_2",
        "9b8d1856-ff34-4864-a726-12de072d0f77",
        "0123456789012345678901234567890123456789012345678901234567890123", /* 64 */
    };
    static const char *bad[] = {
        "",       "a.b",
        "a/b",    "a+b",
        "a#b",    "a b",
        "a\tb",   "caf\xc3\xa9",
        "a\\b",   "a$",
        "../etc", "a\"b",
        "a?b",    "01234567890123456789012345678901234567890123456789012345678901234", /* 65 */
    };
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
        if (!dev_id_valid(ok[i], strlen(ok[i])))
            fail_msg("rejected [%s]", ok[i]);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        if (dev_id_valid(bad[i], strlen(bad[i])))
            fail_msg("accepted [%s]", bad[i]);
    assert_int_equal(dev_id_valid(NULL, 0), 0);
    assert_int_equal(dev_id_valid(NULL, 3), 0);
    /* Only len bytes count; a NUL inside them is not an id character. */
    assert_int_equal(dev_id_valid("abc/def", 3), 1);
    assert_int_equal(dev_id_valid("ab\0c", 4), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_enums),
        cmocka_unit_test(test_health_seed_example),
        cmocka_unit_test(test_health_roots),
        cmocka_unit_test(test_health_sub_objects),
        cmocka_unit_test(test_health_all_invalid),
        cmocka_unit_test(test_health_process),
        cmocka_unit_test(test_health_numbers),
        cmocka_unit_test(test_health_status_screen),
        cmocka_unit_test(test_health_disconnect),
        cmocka_unit_test(test_heartbeat),
        cmocka_unit_test(test_alive),
        cmocka_unit_test(test_outage),
        cmocka_unit_test(test_id_valid),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
