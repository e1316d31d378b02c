/* tests/unit/test_config.c - core/config: defaults, bad values, booleans, origins. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/config.h"
#include "core/err.h"
#include "core/log.h"

/* The fake environment read by fake_get: up to 8 NAME=value pairs. The getter
 * has no user-data argument, so a file-scope table is the only seam. */
static struct {
    const char *name;
    const char *value;
} env[8];
static size_t nenv;

static const char *fake_get(const char *name)
{
    for (size_t i = 0; i < nenv; i++)
        if (strcmp(env[i].name, name) == 0)
            return env[i].value;
    return NULL;
}

static void env_reset(void)
{
    nenv = 0;
}

static void env_set(const char *name, const char *value)
{
    assert_true(nenv < sizeof(env) / sizeof(env[0]));
    env[nenv].name = name;
    env[nenv].value = value;
    nenv++;
}

static int setup(void **state)
{
    env_reset();
    return 0;
}

/* Load with the fake environment; returns rc, err holds the message. */
static int load(hub_config_t *cfg, char *err, size_t errlen)
{
    memset(err, 0, errlen);
    return hub_config_load(cfg, fake_get, err, errlen);
}

static void test_defaults(void **state)
{
    hub_config_t cfg;
    char err[256];

    assert_int_equal(load(&cfg, err, sizeof(err)), 0);
    assert_string_equal(cfg.mqtt_host, "localhost");
    assert_int_equal(cfg.mqtt_port, 1883);
    assert_null(cfg.mqtt_username);
    assert_null(cfg.mqtt_password);
    assert_string_equal(cfg.mqtt_client_id, "showhub");
    assert_true(cfg.mqtt_enabled);
    assert_int_equal(cfg.queue_size, 10000);
    assert_int_equal(cfg.dedupe_ttl_s, 900);
    assert_int_equal(cfg.dedupe_capacity, 4096);
    assert_string_equal(cfg.allow_origins, "*");
    assert_false(cfg.ola_enabled);
    assert_string_equal(cfg.ola_url, "http://localhost:9090/set_dmx");
    assert_int_equal(cfg.ola_universe, 1);
    assert_int_equal(cfg.ola_fps, 44);
    assert_string_equal(cfg.http_host, "0.0.0.0");
    assert_int_equal(cfg.http_port, 8080);
    assert_string_equal(cfg.data_dir, "./data");
    assert_null(cfg.api_key);
    assert_int_equal(cfg.log_level, HUB_LOG_INFO);
    assert_non_null(cfg.web_dir);
    assert_int_equal(cfg.ws_slow_ms, 200);     /* the seed's 200 ms */
    assert_false(cfg.store_sync_full);         /* WAL + NORMAL: survives kill -9 */
    assert_int_equal(cfg.max_body, 16 * 1024); /* issue: 16 KiB bodies and frames */
    assert_true(cfg.queue_size > 0 && cfg.journal_retention > 0 && cfg.ws_backlog > 0);
    hub_config_close(&cfg);
    /* close leaves no dangling pointers behind. */
    assert_null(cfg.mqtt_host);
    assert_null(cfg.data_dir);
}

static void test_values_parsed(void **state)
{
    hub_config_t cfg;
    char err[256];

    env_set("DMX_HTTP_PORT", "65535");
    env_set("DMX_QUEUE_SIZE", "1");
    env_set("DMX_MQTT_USERNAME", "alice");
    env_set("DMX_MQTT_PASSWORD", "s3cret");
    env_set("DMX_API_KEY", "k-123");
    env_set("DMX_LOG_LEVEL", "warn");
    env_set("DMX_OLA_UNIVERSE", "7");
    env_set("DMX_DATA_DIR", "/tmp/x y");
    assert_int_equal(load(&cfg, err, sizeof(err)), 0);
    assert_int_equal(cfg.http_port, 65535);
    assert_int_equal(cfg.queue_size, 1);
    assert_string_equal(cfg.mqtt_username, "alice");
    assert_string_equal(cfg.mqtt_password, "s3cret");
    assert_string_equal(cfg.api_key, "k-123");
    assert_int_equal(cfg.log_level, HUB_LOG_WARN);
    assert_int_equal(cfg.ola_universe, 7);
    assert_string_equal(cfg.data_dir, "/tmp/x y");
    /* Untouched variables keep their defaults. */
    assert_int_equal(cfg.mqtt_port, 1883);
    hub_config_close(&cfg);
}

static void test_log_levels(void **state)
{
    static const struct {
        const char *v;
        int level;
    } cases[] = {
        {"debug", HUB_LOG_DEBUG}, {"info", HUB_LOG_INFO}, {"warn", HUB_LOG_WARN},
        {"error", HUB_LOG_ERROR}, {"off", HUB_LOG_OFF},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        hub_config_t cfg;
        char err[256];
        env_reset();
        env_set("DMX_LOG_LEVEL", cases[i].v);
        assert_int_equal(load(&cfg, err, sizeof(err)), 0);
        assert_int_equal(cfg.log_level, cases[i].level);
        hub_config_close(&cfg);
    }
}

/* One bad value: HUB_EINVAL, one line naming the variable and, when given,
 * a word of what it accepts. */
static void expect_bad(const char *name, const char *value, const char *accepts)
{
    hub_config_t cfg;
    char err[256];

    env_reset();
    env_set(name, value);
    int rc = load(&cfg, err, sizeof(err));
    if (rc != HUB_EINVAL)
        fail_msg("%s=\"%s\": rc %d, want HUB_EINVAL", name, value, rc);
    if (strstr(err, name) == NULL)
        fail_msg("%s=\"%s\": error \"%s\" does not name the variable", name, value, err);
    if (accepts != NULL && strstr(err, accepts) == NULL)
        fail_msg("%s=\"%s\": error \"%s\" does not say it accepts %s", name, value, err, accepts);
    assert_null(strchr(err, '\n'));
    hub_config_close(&cfg);
}

static void test_invalid_values(void **state)
{
    expect_bad("DMX_HTTP_PORT", "0", "65535");
    expect_bad("DMX_HTTP_PORT", "65536", "65535");
    expect_bad("DMX_HTTP_PORT", "abc", "65535");
    expect_bad("DMX_HTTP_PORT", "", "65535");
    expect_bad("DMX_HTTP_PORT", "80x", NULL);
    expect_bad("DMX_HTTP_PORT", "8080 ", NULL);
    expect_bad("DMX_HTTP_PORT", "-1", NULL);
    expect_bad("DMX_MQTT_PORT", "0", NULL);
    expect_bad("DMX_MQTT_PORT", "99999", NULL);
    expect_bad("DMX_QUEUE_SIZE", "-1", NULL);
    expect_bad("DMX_QUEUE_SIZE", "0", NULL);
    expect_bad("DMX_QUEUE_SIZE", "99999999999999999999", NULL);
    expect_bad("DMX_QUEUE_SIZE", "1.5", NULL);
    expect_bad("DMX_CMD_DEDUPE_TTL_SECONDS", "-5", NULL);
    expect_bad("DMX_CMD_DEDUPE_CAPACITY", "-1", NULL);
    expect_bad("DMX_OLA_FPS", "0", NULL);
    expect_bad("DMX_OLA_UNIVERSE", "-1", NULL);
    expect_bad("DMX_OLA_ENABLED", "maybe", "true");
    expect_bad("DMX_OLA_ENABLED", "", "false");
    expect_bad("DMX_OLA_ENABLED", "2", NULL);
    expect_bad("DMX_MQTT_ENABLED", "yess", NULL);
    expect_bad("DMX_LOG_LEVEL", "loud", "debug");
    expect_bad("DMX_LOG_LEVEL", "", NULL);
    expect_bad("DMX_STORE_SYNC", "x", "full");
    expect_bad("DMX_STORE_SYNC", "x", "normal");
}

/* The DMX output settings: defaults, ranges, and the checks across them. */
static void test_output_settings(void **state)
{
    hub_config_t cfg;
    char err[256];

    assert_int_equal(load(&cfg, err, sizeof(err)), 0);
    assert_int_equal(cfg.output_fps, 44);
    assert_int_equal(cfg.output_keepalive_ms, 1000);
    assert_int_equal(cfg.ws_frame_hz, 30);
    assert_string_equal(cfg.output_test, "off");
    assert_string_equal(cfg.artnet_targets, "255.255.255.255");
    hub_config_close(&cfg);

    expect_bad("DMX_OUTPUT_FPS", "0", "100");
    expect_bad("DMX_OUTPUT_FPS", "101", "100");
    expect_bad("DMX_OUTPUT_TEST_PATTERN", "blink", "chase");
    expect_bad("DMX_ARTNET_TARGETS", "host:0", NULL);
    expect_bad("DMX_SACN_PRIORITY", "201", NULL);
    expect_bad("DMX_WS_FRAME_HZ", "0", NULL);

    /* A keep-alive longer than sACN receivers wait is refused, with sACN on only. */
    env_reset();
    env_set("DMX_OUTPUT_KEEPALIVE_MS", "3000");
    assert_int_equal(load(&cfg, err, sizeof(err)), 0);
    hub_config_close(&cfg);
    env_set("DMX_SACN_ENABLED", "true");
    assert_int_equal(load(&cfg, err, sizeof(err)), HUB_EINVAL);
    assert_non_null(strstr(err, "DMX_OUTPUT_KEEPALIVE_MS"));
    assert_non_null(strstr(err, "2000"));
    hub_config_close(&cfg);
    env_reset();
    env_set("DMX_OUTPUT_KEEPALIVE_MS", "2000");
    env_set("DMX_SACN_ENABLED", "true");
    assert_int_equal(load(&cfg, err, sizeof(err)), 0);
    hub_config_close(&cfg);

    /* Art-Net on needs a target; an empty sACN list means multicast. */
    env_reset();
    env_set("DMX_ARTNET_ENABLED", "true");
    env_set("DMX_ARTNET_TARGETS", "");
    assert_int_equal(load(&cfg, err, sizeof(err)), HUB_EINVAL);
    assert_non_null(strstr(err, "DMX_ARTNET_TARGETS"));
    hub_config_close(&cfg);
    env_reset();
    env_set("DMX_SACN_ENABLED", "true");
    env_set("DMX_SACN_TARGETS", "");
    assert_int_equal(load(&cfg, err, sizeof(err)), 0);
    hub_config_close(&cfg);
}

/* The show settings: defaults, bounds, and the show-name rule of
 * DMX_DEFAULT_SHOW (the file <DMX_SHOWS_DIR>/<name>.cue.json). */
static void test_show_settings(void **state)
{
    hub_config_t cfg;
    char err[256];

    assert_int_equal(load(&cfg, err, sizeof(err)), 0);
    assert_null(cfg.shows_dir);
    assert_null(cfg.default_show);
    assert_int_equal(cfg.playback_fps, 60);
    assert_int_equal(cfg.show_max_bytes, 4 * 1024 * 1024);
    assert_int_equal(cfg.output_priority, 0);
    hub_config_close(&cfg);

    env_reset();
    env_set("DMX_SHOWS_DIR", "/srv/shows");
    env_set("DMX_DEFAULT_SHOW", "Act_1.part-2");
    env_set("DMX_PLAYBACK_FPS", "240");
    env_set("DMX_SHOW_MAX_BYTES", "1024");
    env_set("DMX_OUTPUT_PRIORITY", "99");
    assert_int_equal(load(&cfg, err, sizeof(err)), 0);
    assert_string_equal(cfg.shows_dir, "/srv/shows");
    assert_string_equal(cfg.default_show, "Act_1.part-2");
    assert_int_equal(cfg.playback_fps, 240);
    assert_int_equal(cfg.show_max_bytes, 1024);
    assert_int_equal(cfg.output_priority, 99);
    hub_config_close(&cfg);

    expect_bad("DMX_PLAYBACK_FPS", "0", "240");
    expect_bad("DMX_PLAYBACK_FPS", "241", "240");
    expect_bad("DMX_SHOW_MAX_BYTES", "1023", NULL);
    expect_bad("DMX_OUTPUT_PRIORITY", "100", "99");
    expect_bad("DMX_OUTPUT_PRIORITY", "-1", NULL);
    expect_bad("DMX_SHOWS_DIR", "", "<DMX_DATA_DIR>/shows");
    expect_bad("DMX_DEFAULT_SHOW", "../etc/passwd", "[A-Za-z0-9_.-]{1,64}");
    expect_bad("DMX_DEFAULT_SHOW", ".hidden", "not starting with");
    expect_bad("DMX_DEFAULT_SHOW", "", NULL);
    expect_bad("DMX_DEFAULT_SHOW", "a b", NULL);
    expect_bad("DMX_DEFAULT_SHOW",
               "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa" /* 65 */, NULL);
}

static void test_bad_value_among_good_ones(void **state)
{
    hub_config_t cfg;
    char err[256];

    env_set("DMX_MQTT_HOST", "broker.local");
    env_set("DMX_HTTP_PORT", "70000");
    env_set("DMX_API_KEY", "k");
    assert_int_equal(load(&cfg, err, sizeof(err)), HUB_EINVAL);
    assert_non_null(strstr(err, "DMX_HTTP_PORT"));
    assert_null(strstr(err, "DMX_MQTT_HOST"));
    hub_config_close(&cfg); /* must free what was parsed (ASan checks) */
}

static void test_bool_synonyms(void **state)
{
    static const char *const yes[] = {"true", "TRUE", "True", "1", "yes", "YES", "on", "On"};
    static const char *const no[] = {"false", "FALSE", "0", "no", "No", "off", "OFF"};
    hub_config_t cfg;
    char err[256];

    for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
        env_reset();
        env_set("DMX_OLA_ENABLED", yes[i]);
        assert_int_equal(load(&cfg, err, sizeof(err)), 0);
        if (!cfg.ola_enabled)
            fail_msg("DMX_OLA_ENABLED=%s read as false", yes[i]);
        hub_config_close(&cfg);
    }
    for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++) {
        env_reset();
        env_set("DMX_MQTT_ENABLED", no[i]);
        assert_int_equal(load(&cfg, err, sizeof(err)), 0);
        if (cfg.mqtt_enabled)
            fail_msg("DMX_MQTT_ENABLED=%s read as true", no[i]);
        hub_config_close(&cfg);
    }
}

static void test_store_sync(void **state)
{
    hub_config_t cfg;
    char err[256];

    env_set("DMX_STORE_SYNC", "normal");
    assert_int_equal(load(&cfg, err, sizeof(err)), 0);
    assert_false(cfg.store_sync_full);
    hub_config_close(&cfg);
    env_reset();
    env_set("DMX_STORE_SYNC", "full");
    assert_int_equal(load(&cfg, err, sizeof(err)), 0);
    assert_true(cfg.store_sync_full);
    hub_config_close(&cfg);
}

static void load_origins(hub_config_t *cfg, const char *origins)
{
    char err[256];
    env_reset();
    env_set("DMX_ALLOW_ORIGINS", origins);
    assert_int_equal(load(cfg, err, sizeof(err)), 0);
    assert_string_equal(cfg->allow_origins, origins);
}

static void test_origin_star(void **state)
{
    hub_config_t cfg;

    load_origins(&cfg, "*");
    assert_int_equal(hub_config_origin_allowed(&cfg, "http://a.com"), 1);
    assert_int_equal(hub_config_origin_allowed(&cfg, "https://evil.example:8443"), 1);
    assert_int_equal(hub_config_origin_allowed(&cfg, NULL), 1);
    hub_config_close(&cfg);
}

static void test_origin_list(void **state)
{
    hub_config_t cfg;

    load_origins(&cfg, "http://a.com, https://b.org:8443 ,\thttp://c.net");
    assert_int_equal(hub_config_origin_allowed(&cfg, "http://a.com"), 1);
    assert_int_equal(hub_config_origin_allowed(&cfg, "https://b.org:8443"), 1);
    assert_int_equal(hub_config_origin_allowed(&cfg, "http://c.net"), 1);
    /* Scheme and host compare case-insensitively. */
    assert_int_equal(hub_config_origin_allowed(&cfg, "HTTP://A.COM"), 1);
    assert_int_equal(hub_config_origin_allowed(&cfg, "https://B.org:8443"), 1);
    /* No prefix, suffix or partial matches. */
    assert_int_equal(hub_config_origin_allowed(&cfg, "http://a.com.evil"), 0);
    assert_int_equal(hub_config_origin_allowed(&cfg, "http://a.co"), 0);
    assert_int_equal(hub_config_origin_allowed(&cfg, "http://evil.a.com"), 0);
    assert_int_equal(hub_config_origin_allowed(&cfg, "https://a.com"), 0);
    assert_int_equal(hub_config_origin_allowed(&cfg, "https://b.org"), 0);
    assert_int_equal(hub_config_origin_allowed(&cfg, "https://b.org:84"), 0);
    assert_int_equal(hub_config_origin_allowed(&cfg, "http://a.com, https://b.org:8443"), 0);
    assert_int_equal(hub_config_origin_allowed(&cfg, ""), 0);
    assert_int_equal(hub_config_origin_allowed(&cfg, "null"), 0);
    assert_int_equal(hub_config_origin_allowed(&cfg, "*"), 0);
    /* No Origin header at all (curl, MQTT bridges): allowed. */
    assert_int_equal(hub_config_origin_allowed(&cfg, NULL), 1);
    hub_config_close(&cfg);
}

static void test_origin_single(void **state)
{
    hub_config_t cfg;

    load_origins(&cfg, "http://a.com");
    assert_int_equal(hub_config_origin_allowed(&cfg, "http://a.com"), 1);
    assert_int_equal(hub_config_origin_allowed(&cfg, "http://a.com.evil"), 0);
    assert_int_equal(hub_config_origin_allowed(&cfg, "http://a.comm"), 0);
    hub_config_close(&cfg);
}

static void test_help_lists_every_variable(void **state)
{
    static const char *const names[] = {
        "DMX_MQTT_HOST",
        "DMX_MQTT_PORT",
        "DMX_MQTT_USERNAME",
        "DMX_MQTT_PASSWORD",
        "DMX_MQTT_CLIENT_ID",
        "DMX_QUEUE_SIZE",
        "DMX_CMD_DEDUPE_TTL_SECONDS",
        "DMX_CMD_DEDUPE_CAPACITY",
        "DMX_ALLOW_ORIGINS",
        "DMX_OLA_ENABLED",
        "DMX_OLA_URL",
        "DMX_OLA_UNIVERSE",
        "DMX_OLA_FPS",
        "DMX_HTTP_HOST",
        "DMX_HTTP_PORT",
        "DMX_DATA_DIR",
        "DMX_API_KEY",
        "DMX_LOG_LEVEL",
    };
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);

    assert_non_null(f);
    hub_config_print_help(f);
    fclose(f);
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (strstr(buf, names[i]) == NULL)
            fail_msg("--help does not list %s", names[i]);
    /* Defaults appear next to their variables. */
    assert_non_null(strstr(buf, "10000"));
    assert_non_null(strstr(buf, "http://localhost:9090/set_dmx"));
    free(buf);
}

/* ---- the device fleet (seed 004's variable names) ---------------------------------- */

static void test_fleet_defaults(void **state)
{
    hub_config_t cfg;
    char err[256];

    assert_int_equal(load(&cfg, err, sizeof(err)), 0);
    assert_string_equal(cfg.fleet_topic_root, "infoscreen");
    assert_int_equal(cfg.heartbeat_grace_s, 170);
    assert_int_equal(cfg.poll_interval_s, 30);
    assert_int_equal(cfg.command_expiry_s, 240);
    assert_false(cfg.crash_recovery);
    assert_int_equal(cfg.crash_recovery_grace_s, 180);
    assert_int_equal(cfg.crash_recovery_lockout_min, 15);
    assert_int_equal(cfg.crash_recovery_expiry_s, 240);
    assert_true(cfg.fleet_outage_fraction == 0.8);
    assert_true(cfg.fleet_compat_topics);
    assert_int_equal(cfg.fleet_log_retention, 1000);
    assert_int_equal(cfg.fleet_log_retention_days, 30);
    assert_int_equal(cfg.fleet_max_devices, 50000);
    hub_config_close(&cfg);
    assert_null(cfg.fleet_topic_root);
}

static void test_fleet_values_parsed(void **state)
{
    hub_config_t cfg;
    char err[256];

    env_set("FLEET_TOPIC_ROOT", "screens");
    env_set("HEARTBEAT_GRACE_SECONDS", "10");
    env_set("POLL_INTERVAL_SECONDS", "1");
    env_set("COMMAND_EXPIRY_SECONDS", "180");
    env_set("CRASH_RECOVERY_ENABLED", "yes");
    env_set("CRASH_RECOVERY_GRACE_SECONDS", "86400");
    env_set("CRASH_RECOVERY_LOCKOUT_MINUTES", "1440");
    env_set("CRASH_RECOVERY_COMMAND_EXPIRY_SECONDS", "360");
    assert_int_equal(load(&cfg, err, sizeof(err)), 0);
    assert_string_equal(cfg.fleet_topic_root, "screens");
    assert_int_equal(cfg.heartbeat_grace_s, 10);
    assert_int_equal(cfg.poll_interval_s, 1);
    assert_int_equal(cfg.command_expiry_s, 180);
    assert_true(cfg.crash_recovery);
    assert_int_equal(cfg.crash_recovery_grace_s, 86400);
    assert_int_equal(cfg.crash_recovery_lockout_min, 1440);
    assert_int_equal(cfg.crash_recovery_expiry_s, 360);
    hub_config_close(&cfg);

    env_reset();
    env_set("FLEET_OUTAGE_FRACTION", "1");
    env_set("FLEET_COMPAT_TOPICS", "off");
    env_set("FLEET_LOG_RETENTION", "10");
    env_set("FLEET_LOG_RETENTION_DAYS", "3650");
    env_set("HEARTBEAT_GRACE_SECONDS", "86400");
    env_set("POLL_INTERVAL_SECONDS", "3600");
    env_set("COMMAND_EXPIRY_SECONDS", "360");
    env_set("CRASH_RECOVERY_COMMAND_EXPIRY_SECONDS", "180");
    assert_int_equal(load(&cfg, err, sizeof(err)), 0);
    assert_true(cfg.fleet_outage_fraction == 1.0);
    assert_false(cfg.fleet_compat_topics);
    assert_int_equal(cfg.fleet_log_retention, 10);
    assert_int_equal(cfg.fleet_log_retention_days, 3650);
    assert_int_equal(cfg.heartbeat_grace_s, 86400);
    assert_int_equal(cfg.poll_interval_s, 3600);
    assert_int_equal(cfg.command_expiry_s, 360);
    assert_int_equal(cfg.crash_recovery_expiry_s, 180);
    hub_config_close(&cfg);

    static const struct {
        const char *v;
        double want;
    } fr[] = {{"0.8", 0.8}, {"0.25", 0.25}, {"1.0", 1.0}, {"0.001", 0.001}, {"1e-3", 0.001}};
    for (size_t i = 0; i < sizeof(fr) / sizeof(fr[0]); i++) {
        env_reset();
        env_set("FLEET_OUTAGE_FRACTION", fr[i].v);
        if (load(&cfg, err, sizeof(err)) != 0)
            fail_msg("FLEET_OUTAGE_FRACTION=%s refused: %s", fr[i].v, err);
        assert_true(cfg.fleet_outage_fraction == fr[i].want);
        hub_config_close(&cfg);
    }
}

static void test_fleet_invalid_values(void **state)
{
    expect_bad("FLEET_TOPIC_ROOT", "", "must not be empty");
    expect_bad("HEARTBEAT_GRACE_SECONDS", "9", "from 10 to 86400");
    expect_bad("HEARTBEAT_GRACE_SECONDS", "86401", "86400");
    expect_bad("HEARTBEAT_GRACE_SECONDS", "abc", "integer");
    expect_bad("HEARTBEAT_GRACE_SECONDS", "", NULL);
    expect_bad("POLL_INTERVAL_SECONDS", "0", "from 1 to 3600");
    expect_bad("POLL_INTERVAL_SECONDS", "3601", NULL);
    expect_bad("POLL_INTERVAL_SECONDS", "1.5", NULL);
    /* seed 004's bounds: 180..360, refused outside (never clamped) */
    expect_bad("COMMAND_EXPIRY_SECONDS", "179", "from 180 to 360");
    expect_bad("COMMAND_EXPIRY_SECONDS", "361", "from 180 to 360");
    expect_bad("COMMAND_EXPIRY_SECONDS", "0", NULL);
    expect_bad("COMMAND_EXPIRY_SECONDS", "-240", NULL);
    expect_bad("COMMAND_EXPIRY_SECONDS", "240s", NULL);
    expect_bad("CRASH_RECOVERY_ENABLED", "maybe", "true or false");
    expect_bad("CRASH_RECOVERY_ENABLED", "", NULL);
    expect_bad("CRASH_RECOVERY_GRACE_SECONDS", "9", "from 10 to 86400");
    expect_bad("CRASH_RECOVERY_GRACE_SECONDS", "86401", NULL);
    expect_bad("CRASH_RECOVERY_LOCKOUT_MINUTES", "0", "from 1 to 1440");
    expect_bad("CRASH_RECOVERY_LOCKOUT_MINUTES", "1441", NULL);
    expect_bad("CRASH_RECOVERY_COMMAND_EXPIRY_SECONDS", "179", "from 180 to 360");
    expect_bad("CRASH_RECOVERY_COMMAND_EXPIRY_SECONDS", "361", NULL);
    /* 0 < x <= 1 */
    expect_bad("FLEET_OUTAGE_FRACTION", "0", "fraction above 0, at most 1");
    expect_bad("FLEET_OUTAGE_FRACTION", "0.0", NULL);
    expect_bad("FLEET_OUTAGE_FRACTION", "1.5", "at most 1");
    expect_bad("FLEET_OUTAGE_FRACTION", "1.0000001", NULL);
    expect_bad("FLEET_OUTAGE_FRACTION", "abc", "0.8");
    expect_bad("FLEET_OUTAGE_FRACTION", "", NULL);
    expect_bad("FLEET_OUTAGE_FRACTION", "-0.5", NULL);
    expect_bad("FLEET_OUTAGE_FRACTION", "0.5x", NULL);
    expect_bad("FLEET_OUTAGE_FRACTION", "nan", NULL);
    expect_bad("FLEET_OUTAGE_FRACTION", "inf", NULL);
    expect_bad("FLEET_OUTAGE_FRACTION", "1e999", NULL);
    expect_bad("FLEET_COMPAT_TOPICS", "sometimes", "true or false");
    expect_bad("FLEET_LOG_RETENTION", "9", "from 10 to 1000000");
    expect_bad("FLEET_LOG_RETENTION", "1000001", NULL);
    expect_bad("FLEET_LOG_RETENTION", "-1", NULL);
    expect_bad("FLEET_LOG_RETENTION_DAYS", "0", "from 1 to 3650");
    expect_bad("FLEET_LOG_RETENTION_DAYS", "3651", NULL);
    expect_bad("FLEET_MAX_DEVICES", "0", "from 1 to 1000000");
    expect_bad("FLEET_MAX_DEVICES", "many", NULL);
}

/* A bad fleet value among good ones is the one named; what was parsed is
 * freed (ASan checks). */
static void test_fleet_bad_value_among_good_ones(void **state)
{
    hub_config_t cfg;
    char err[256];

    env_set("FLEET_TOPIC_ROOT", "screens");
    env_set("COMMAND_EXPIRY_SECONDS", "400");
    env_set("DMX_MQTT_HOST", "broker");
    assert_int_equal(load(&cfg, err, sizeof(err)), HUB_EINVAL);
    assert_non_null(strstr(err, "COMMAND_EXPIRY_SECONDS"));
    assert_null(strstr(err, "FLEET_TOPIC_ROOT"));
    assert_null(strchr(err, '\n'));
    hub_config_close(&cfg);
}

/* FLEET_TOPIC_ROOT is the fleet's first topic level (docs/fleet.md: "first
 * topic level of the fleet"): the hub subscribes to <root>/+/heartbeat and
 * reads the device's UUID from the second level. A root with '/' in it puts
 * every device topic's UUID one level further down, so every message is
 * refused as bad_uuid; '+' and '#' are MQTT wildcards (a publish to
 * <root>/<uuid>/commands is then invalid). Such a root must be refused at
 * start-up, naming the variable. */
static void test_fleet_topic_root_is_one_level(void **state)
{
    static const char *const bad[] = {"site1/infoscreen", "info+", "#", "infoscreen/"};
    char why[512] = "";
    size_t n = 0;

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        hub_config_t cfg;
        char err[256];
        env_reset();
        env_set("FLEET_TOPIC_ROOT", bad[i]);
        int rc = load(&cfg, err, sizeof(err));
        hub_config_close(&cfg);
        if (rc != HUB_EINVAL || strstr(err, "FLEET_TOPIC_ROOT") == NULL)
            n += (size_t)snprintf(why + n, sizeof(why) - n, " \"%s\" (rc %d)", bad[i], rc);
    }
    if (why[0] != '\0')
        fail_msg("FLEET_TOPIC_ROOT accepted:%s", why);
    /* one level of the usual characters is fine */
    hub_config_t cfg;
    char err[256];
    env_reset();
    env_set("FLEET_TOPIC_ROOT", "signage-2_b");
    assert_int_equal(load(&cfg, err, sizeof(err)), 0);
    hub_config_close(&cfg);
}

static void test_help_lists_fleet_variables(void **state)
{
    static const char *const names[] = {
        "FLEET_TOPIC_ROOT",
        "HEARTBEAT_GRACE_SECONDS",
        "POLL_INTERVAL_SECONDS",
        "COMMAND_EXPIRY_SECONDS",
        "CRASH_RECOVERY_ENABLED",
        "CRASH_RECOVERY_GRACE_SECONDS",
        "CRASH_RECOVERY_LOCKOUT_MINUTES",
        "CRASH_RECOVERY_COMMAND_EXPIRY_SECONDS",
        "FLEET_OUTAGE_FRACTION",
        "FLEET_COMPAT_TOPICS",
        "FLEET_LOG_RETENTION",
        "FLEET_LOG_RETENTION_DAYS",
        "FLEET_MAX_DEVICES",
    };
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);

    assert_non_null(f);
    hub_config_print_help(f);
    fclose(f);
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (strstr(buf, names[i]) == NULL)
            fail_msg("--help does not list %s", names[i]);
    assert_non_null(strstr(buf, "[infoscreen]"));
    assert_non_null(strstr(buf, "[0.8]"));
    free(buf);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_defaults, setup),
        cmocka_unit_test_setup(test_values_parsed, setup),
        cmocka_unit_test_setup(test_log_levels, setup),
        cmocka_unit_test_setup(test_invalid_values, setup),
        cmocka_unit_test_setup(test_output_settings, setup),
        cmocka_unit_test_setup(test_show_settings, setup),
        cmocka_unit_test_setup(test_bad_value_among_good_ones, setup),
        cmocka_unit_test_setup(test_bool_synonyms, setup),
        cmocka_unit_test_setup(test_store_sync, setup),
        cmocka_unit_test_setup(test_origin_star, setup),
        cmocka_unit_test_setup(test_origin_list, setup),
        cmocka_unit_test_setup(test_origin_single, setup),
        cmocka_unit_test_setup(test_help_lists_every_variable, setup),
        cmocka_unit_test_setup(test_fleet_defaults, setup),
        cmocka_unit_test_setup(test_fleet_values_parsed, setup),
        cmocka_unit_test_setup(test_fleet_invalid_values, setup),
        cmocka_unit_test_setup(test_fleet_bad_value_among_good_ones, setup),
        cmocka_unit_test_setup(test_fleet_topic_root_is_one_level, setup),
        cmocka_unit_test_setup(test_help_lists_fleet_variables, setup),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
