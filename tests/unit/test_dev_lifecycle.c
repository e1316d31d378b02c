/* tests/unit/test_dev_lifecycle.c - domains/devices model: times, the
 * command lifecycle and seed 004's frozen command and ACK payloads. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "core/jbuf.h"
#include "domains/devices/model.h"

#define CMD_ID  "5d1f8b4b-7e85-44fb-8f38-3f5d5da5e2e4"
#define CLIENT  "9b8d1856-ff34-4864-a726-12de072d0f77"
#define ISSUED  1775220490000ull /* 2026-04-03T12:48:10Z */
#define EXPIRES 1775220730000ull /* 2026-04-03T12:52:10Z */
#define SEED_CMD                                                                                   \
    "{\"schema_version\":\"1.0\",\"command_id\":\"" CMD_ID "\",\"client_uuid\":\"" CLIENT          \
    "\",\"action\":\"reboot_host\",\"issued_at\":\"2026-04-03T12:48:10Z\",\"expires_at\":\"2026-"  \
    "04-03T12:52:10Z\",\"requested_by\":1,\"reason\":\"operator_request\"}"

/* ---- times ---------------------------------------------------------------------- */

static int parse(const char *s, uint64_t *ms)
{
    return dev_time_parse(s, strlen(s), ms);
}

static void test_time_format(void **state)
{
    char t[DEV_TIME_MAX];

    assert_int_equal(dev_time_format(0, 0, t), 20);
    assert_string_equal(t, "1970-01-01T00:00:00Z");
    assert_int_equal(dev_time_format(0, 1, t), 24);
    assert_string_equal(t, "1970-01-01T00:00:00.000Z");
    dev_time_format(ISSUED, 0, t);
    assert_string_equal(t, "2026-04-03T12:48:10Z");
    /* Without ms the milliseconds are dropped, not rounded. */
    dev_time_format(951868799999ull, 0, t);
    assert_string_equal(t, "2000-02-29T23:59:59Z");
    dev_time_format(951868799999ull, 1, t);
    assert_string_equal(t, "2000-02-29T23:59:59.999Z");
    dev_time_format(253402300799999ull, 1, t);
    assert_string_equal(t, "9999-12-31T23:59:59.999Z");
    dev_time_format(1709164800000ull + 7, 1, t);
    assert_string_equal(t, "2024-02-29T00:00:00.007Z");
    /* The largest input still fits the buffer. */
    size_t n = dev_time_format(UINT64_MAX, 1, t);
    assert_true(n < DEV_TIME_MAX);
    assert_int_equal(strlen(t), n);
}

/* Format and parse agree with gmtime_r over the whole 1970..9999 range. */
static void test_time_against_libc(void **state)
{
    char t[DEV_TIME_MAX], want[80];
    const uint64_t end = 253402300799999ull;

    for (uint64_t ms = 0; ms <= end; ms += 86400000ull * 13 + 3600123ull) {
        time_t secs = (time_t)(ms / 1000);
        struct tm tm;
        gmtime_r(&secs, &tm);
        snprintf(want, sizeof(want), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(ms % 1000));
        dev_time_format(ms, 1, t);
        if (strcmp(t, want) != 0)
            fail_msg("%llu: %s != %s", (unsigned long long)ms, t, want);
        uint64_t back = 0;
        if (parse(t, &back) != 0 || back != ms)
            fail_msg("round trip %s -> %llu", t, (unsigned long long)back);
    }
}

static void test_time_parse_accepts(void **state)
{
    static const struct {
        const char *s;
        uint64_t ms;
    } ok[] = {
        {"2026-04-05T08:00:00Z", 1775376000000ull},
        {"2026-04-05T08:00:00.000000+00:00", 1775376000000ull},
        {"2026-04-05T08:00:00+00:00", 1775376000000ull},
        {"2026-04-05T08:00:00-00:00", 1775376000000ull},
        {"2026-04-04T10:30:00+02:00", 1775291400000ull},
        {"2026-04-04T06:00:00-02:30", 1775291400000ull},
        {"2026-04-05T08:00:00", 1775376000000ull}, /* naive = UTC */
        {"2026-04-05 08:00:00", 1775376000000ull},
        {"2026-04-05 08:00:00Z", 1775376000000ull},
        {"2026-04-05T08:00:00.1Z", 1775376000100ull},
        {"2026-04-05T08:00:00.12Z", 1775376000120ull},
        {"2026-04-05T08:00:00.123Z", 1775376000123ull},
        {"2026-04-05T08:00:00.1239Z", 1775376000123ull}, /* truncated, not rounded */
        {"2026-04-05T08:00:00.999999999", 1775376000999ull},
        {"2026-04-05T08:00:00.5+01:00", 1775372400500ull},
        {"2024-02-29T00:00:00Z", 1709164800000ull},
        {"2000-02-29T23:59:59.999Z", 951868799999ull},
        {"1970-01-01T00:00:00Z", 0},
        {"1970-01-01T01:00:00+01:00", 0},
        {"1969-12-31T23:00:00-01:00", 0},
        {"9999-12-31T23:59:59.999Z", 253402300799999ull},
        {"2026-04-05T23:59:59+23:59", 1775347259000ull},
    };
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        uint64_t ms = 1;
        if (parse(ok[i].s, &ms) != 0)
            fail_msg("rejected %s", ok[i].s);
        if (ms != ok[i].ms)
            fail_msg("%s: %llu != %llu", ok[i].s, (unsigned long long)ms,
                     (unsigned long long)ok[i].ms);
    }
    /* Only len bytes are read. */
    uint64_t ms;
    assert_int_equal(dev_time_parse("2026-04-05T08:00:00Zjunk", 20, &ms), 0);
    assert_int_equal(ms, 1775376000000ull);
}

static void test_time_parse_rejects(void **state)
{
    static const char *bad[] = {
        "",
        "garbage",
        "2026-04-05",
        "2026-04-05T08:00",
        "2026-04-05T08:00:00ZZ",
        "2026-04-05T08:00:00Z ",
        " 2026-04-05T08:00:00Z",
        "2026-04-05T08:00:00 ",
        "2026-04-05T08:00:00x",
        "2026-04-05T08:00:00+00:00junk",
        "2026-04-05T08:00:00+0000",
        "2026-04-05T08:00:00+00",
        "2026-04-05T08:00:00+24:00",
        "2026-04-05T08:00:00+01:60",
        "2026-04-05T08:00:00z",
        "2026-04-05t08:00:00Z",
        "2026-04-05X08:00:00Z",
        "2026-04-05T08:00:00.Z",
        "2026-04-05T08:00:00.",
        "2026-04-05T08:00:00.1234567890Z", /* 10 digits */
        "2026-02-30T00:00:00Z",
        "2025-02-29T00:00:00Z",
        "1900-02-29T00:00:00Z",
        "2026-13-01T00:00:00Z",
        "2026-00-01T00:00:00Z",
        "2026-04-00T00:00:00Z",
        "2026-04-31T00:00:00Z",
        "2026-04-05T24:00:00Z",
        "2026-04-05T08:60:00Z",
        "2026-04-05T08:00:60Z",
        "2026-4-05T08:00:00Z",
        "+026-04-05T08:00:00Z",
        "2026-04-05T08:00:0aZ",
        "2026-04-05T-8:00:00Z",
        "0000-01-01T00:00:00Z",
        "1969-12-31T23:59:59Z",
        "1969-12-31T23:59:59.999Z",
        "1970-01-01T00:00:00+00:01",
        "1970-01-01T00:59:59+01:00",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        uint64_t ms = 42;
        if (parse(bad[i], &ms) != -1)
            fail_msg("accepted [%s]", bad[i]);
        assert_int_equal(ms, 42);
    }
    uint64_t ms;
    assert_int_equal(dev_time_parse(NULL, 0, &ms), -1);
    /* A NUL inside the length. */
    assert_int_equal(dev_time_parse("2026-04-05T08:00:00\0", 21, &ms), -1);
    assert_int_equal(dev_time_parse("2026-04-05T08:00:00Z", 19, &ms), 0);
    assert_int_equal(dev_time_parse("2026-04-05T08:00:00Z", 18, &ms), -1);
}

/* ---- statuses, actions, bounds -------------------------------------------------- */

static void test_status_names(void **state)
{
    static const char *names[DEV_ST_COUNT] = {
        "queued",
        "publish_in_progress",
        "published",
        "ack_received",
        "execution_started",
        "completed",
        "failed",
        "expired",
        "canceled",
        "blocked_safety",
    };
    for (int i = 0; i < DEV_ST_COUNT; i++) {
        dev_status_t s = DEV_ST_COUNT;
        assert_string_equal(dev_status_name((dev_status_t)i), names[i]);
        assert_int_equal(dev_status_parse(names[i], &s), 0);
        assert_int_equal(s, i);
    }
    dev_status_t s = DEV_ST_QUEUED;
    assert_int_equal(dev_status_parse("Queued", &s), -1);
    assert_int_equal(dev_status_parse("queued ", &s), -1);
    assert_int_equal(dev_status_parse("", &s), -1);
    assert_int_equal(dev_status_parse("unknown", &s), -1);
    assert_int_equal(dev_status_parse(NULL, &s), -1);
    assert_string_equal(dev_status_name(DEV_ST_COUNT), "unknown");

    int terminal[DEV_ST_COUNT] = {0};
    terminal[DEV_ST_COMPLETED] = terminal[DEV_ST_FAILED] = terminal[DEV_ST_EXPIRED] = 1;
    terminal[DEV_ST_CANCELED] = terminal[DEV_ST_BLOCKED_SAFETY] = 1;
    for (int i = 0; i < DEV_ST_COUNT; i++)
        assert_int_equal(dev_status_terminal((dev_status_t)i), terminal[i]);
}

static void test_action_names(void **state)
{
    static const char *names[DEV_ACT_COUNT] = {"reboot_host", "shutdown_host", "restart_app"};
    for (int i = 0; i < DEV_ACT_COUNT; i++) {
        dev_action_t a = DEV_ACT_COUNT;
        assert_string_equal(dev_action_name((dev_action_t)i), names[i]);
        assert_int_equal(dev_action_parse(names[i], &a), 0);
        assert_int_equal(a, i);
    }
    dev_action_t a;
    assert_int_equal(dev_action_parse("restart_service", &a), -1);
    assert_int_equal(dev_action_parse("restart", &a), -1);
    assert_int_equal(dev_action_parse("REBOOT_HOST", &a), -1);
    assert_int_equal(dev_action_parse(NULL, &a), -1);
    assert_int_equal(dev_action_locks(DEV_ACT_REBOOT_HOST), 1);
    assert_int_equal(dev_action_locks(DEV_ACT_RESTART_APP), 1);
    assert_int_equal(dev_action_locks(DEV_ACT_SHUTDOWN_HOST), 0);
}

static void test_expiry_clamp(void **state)
{
    assert_int_equal(dev_expiry_clamp(-5), 180);
    assert_int_equal(dev_expiry_clamp(0), 180);
    assert_int_equal(dev_expiry_clamp(179), 180);
    assert_int_equal(dev_expiry_clamp(180), 180);
    assert_int_equal(dev_expiry_clamp(DEV_EXPIRY_DEFAULT_S), 240);
    assert_int_equal(dev_expiry_clamp(360), 360);
    assert_int_equal(dev_expiry_clamp(361), 360);
    assert_int_equal(dev_expiry_clamp(1 << 30), 360);
}

static void test_lockout(void **state)
{
    const uint64_t now = 10000000, w = DEV_LOCKOUT_WINDOW_MS;
    const uint64_t edge = now - w;

    assert_int_equal(w, 900000);
    assert_int_equal(dev_lockout_hit(NULL, 0, now, w), 0);
    /* Three inside (any order), including one exactly at the edge. */
    uint64_t a[] = {now - 1, edge, now - 5000};
    assert_int_equal(dev_lockout_hit(a, 3, now, w), 1);
    /* Two are not enough. */
    assert_int_equal(dev_lockout_hit(a, 2, now, w), 0);
    /* 1 ms outside the window does not count. */
    uint64_t b[] = {now - 1, edge - 1, now - 5000};
    assert_int_equal(dev_lockout_hit(b, 3, now, w), 0);
    uint64_t c[] = {edge - 1, edge, edge + 1, edge - 100000, now};
    assert_int_equal(dev_lockout_hit(c, 5, now, w), 1);
    uint64_t d[] = {edge - 1, edge, edge - 2, edge - 100000, now};
    assert_int_equal(dev_lockout_hit(d, 5, now, w), 0);
    /* Entries from the future (clock skew) count. */
    uint64_t e[] = {now + 5, now + 6, now};
    assert_int_equal(dev_lockout_hit(e, 3, now, w), 1);
    /* A window reaching before the epoch: everything counts, no underflow. */
    uint64_t f[] = {0, 1, 2};
    assert_int_equal(dev_lockout_hit(f, 3, 1000, w), 1);
}

static void test_command_expired(void **state)
{
    for (int i = 0; i < DEV_ST_COUNT; i++) {
        dev_status_t s = (dev_status_t)i;
        int live = !dev_status_terminal(s);
        assert_int_equal(dev_command_expired(s, 1000, 1001), live);
        assert_int_equal(dev_command_expired(s, 1000, 1000), 0); /* equal: not yet */
        assert_int_equal(dev_command_expired(s, 1000, 999), 0);
    }
    assert_int_equal(dev_command_expired(DEV_ST_PUBLISHED, EXPIRES, EXPIRES + 1), 1);
}

/* ---- the command payload -------------------------------------------------------- */

static json_t *load(const char *text)
{
    json_error_t err;
    json_t *j = json_loads(text, JSON_DECODE_ANY | JSON_ALLOW_NUL, &err);
    if (j == NULL)
        fail_msg("bad test JSON (%s): %s", err.text, text);
    return j;
}

static void test_payload_seed_example(void **state)
{
    hub_jbuf_t b;

    hub_jbuf_init(&b);
    dev_command_payload(&b, CMD_ID, CLIENT, DEV_ACT_REBOOT_HOST, ISSUED, EXPIRES, 1,
                        "operator_request");
    assert_string_equal(b.p, SEED_CMD);
    assert_int_equal(b.len, strlen(SEED_CMD));

    /* What it builds validates. */
    json_t *j = load(b.p);
    const char *code = NULL;
    char why[128] = "";
    assert_int_equal(dev_command_validate(j, &code, why, sizeof(why)), 0);
    json_decref(j);
    hub_jbuf_free(&b);
}

static void test_payload_nulls_and_escapes(void **state)
{
    hub_jbuf_t b;
    const char *code;
    char why[128];

    hub_jbuf_init(&b);
    /* Milliseconds are dropped; requested_by <= 0 and a NULL reason are null. */
    dev_command_payload(&b, CMD_ID, CLIENT, DEV_ACT_RESTART_APP, ISSUED + 999, EXPIRES + 1, 0,
                        NULL);
    assert_string_equal(b.p, "{\"schema_version\":\"1.0\",\"command_id\":\"" CMD_ID
                             "\",\"client_uuid\":\"" CLIENT
                             "\",\"action\":\"restart_app\",\"issued_at\":\"2026-04-03T12:48:"
                             "10Z\",\"expires_at\":\"2026-04-03T12:52:10Z\",\"requested_by\":"
                             "null,\"reason\":null}");
    json_t *j = load(b.p);
    assert_int_equal(dev_command_validate(j, &code, why, sizeof(why)), 0);
    json_decref(j);

    hub_jbuf_reset(&b);
    dev_command_payload(&b, CMD_ID, CLIENT, DEV_ACT_SHUTDOWN_HOST, 0, 240000, -7,
                        "say \"hi\"\n\xc3\xa9");
    assert_string_equal(b.p, "{\"schema_version\":\"1.0\",\"command_id\":\"" CMD_ID
                             "\",\"client_uuid\":\"" CLIENT
                             "\",\"action\":\"shutdown_host\",\"issued_at\":\"1970-01-01T00:00:"
                             "00Z\",\"expires_at\":\"1970-01-01T00:04:00Z\",\"requested_by\":"
                             "null,\"reason\":\"say \\\"hi\\\"\\n\xc3\xa9\"}");
    j = load(b.p);
    assert_int_equal(dev_command_validate(j, &code, why, sizeof(why)), 0);
    assert_string_equal(json_string_value(json_object_get(j, "reason")), "say \"hi\"\n\xc3\xa9");
    json_decref(j);

    /* Large requested_by and a payload written after a key in an outer object. */
    hub_jbuf_reset(&b);
    hub_jbuf_open(&b, '{');
    hub_jbuf_key(&b, "cmd");
    dev_command_payload(&b, CMD_ID, CLIENT, DEV_ACT_REBOOT_HOST, ISSUED, EXPIRES, INT64_MAX, "");
    hub_jbuf_key(&b, "n");
    hub_jbuf_int(&b, 1);
    hub_jbuf_close(&b, '}');
    j = load(b.p);
    json_t *cmd = json_object_get(j, "cmd");
    assert_int_equal(json_integer_value(json_object_get(cmd, "requested_by")), INT64_MAX);
    assert_string_equal(json_string_value(json_object_get(cmd, "reason")), "");
    assert_int_equal(json_integer_value(json_object_get(j, "n")), 1);
    assert_int_equal(dev_command_validate(cmd, &code, why, sizeof(why)), 0);
    json_decref(j);
    hub_jbuf_free(&b);
}

/* The seed example with one key replaced by a raw JSON value (NULL: removed). */
static int validate_with(const char *key, const char *raw, const char **code)
{
    json_t *j = load(SEED_CMD);
    char why[160] = "";
    if (raw == NULL) {
        json_object_del(j, key);
    } else {
        json_t *v = load(raw);
        json_object_set_new(j, key, v);
    }
    int rc = dev_command_validate(j, code, why, sizeof(why));
    if (rc != 0 && why[0] == '\0')
        fail_msg("no message for %s", key);
    json_decref(j);
    return rc;
}

static void expect_invalid(const char *key, const char *raw)
{
    const char *code = NULL;
    if (validate_with(key, raw, &code) != -1)
        fail_msg("accepted %s=%s", key, raw);
    if (strcmp(code, "invalid_schema") != 0)
        fail_msg("%s=%s: code %s", key, raw, code);
}

static void expect_valid(const char *key, const char *raw)
{
    const char *code = NULL;
    if (validate_with(key, raw, &code) != 0)
        fail_msg("rejected %s=%s", key, raw);
}

static char *repeat(const char *unit, size_t n, int quoted)
{
    size_t u = strlen(unit);
    char *s = malloc(u * n + 3), *w = s;
    if (quoted)
        *w++ = '"';
    for (size_t i = 0; i < n; i++, w += u)
        memcpy(w, unit, u);
    if (quoted)
        *w++ = '"';
    *w = '\0';
    return s;
}

static void test_validate_rules(void **state)
{
    const char *code = NULL;
    char why[128];
    static const char *keys[] = {"schema_version", "command_id", "client_uuid",  "action",
                                 "issued_at",      "expires_at", "requested_by", "reason"};

    /* Not an object. */
    static const char *roots[] = {"[]", "null", "1", "\"x\"", "true"};
    for (size_t i = 0; i < sizeof(roots) / sizeof(roots[0]); i++) {
        json_t *j = load(roots[i]);
        assert_int_equal(dev_command_validate(j, &code, why, sizeof(why)), -1);
        assert_string_equal(code, "invalid_schema");
        json_decref(j);
    }
    assert_int_equal(dev_command_validate(NULL, &code, NULL, 0), -1);
    assert_string_equal(code, "invalid_schema");
    json_t *empty = load("{}");
    assert_int_equal(dev_command_validate(empty, &code, NULL, 0), -1);
    assert_string_equal(code, "missing_field");
    json_decref(empty);

    /* Each of the eight is required; null is present, not missing. */
    for (size_t i = 0; i < 8; i++) {
        code = NULL;
        assert_int_equal(validate_with(keys[i], NULL, &code), -1);
        assert_string_equal(code, "missing_field");
    }
    for (size_t i = 0; i < 6; i++)
        expect_invalid(keys[i], "null");

    /* additionalProperties: false. */
    expect_invalid("extra", "1");
    expect_invalid("Reason", "null");

    expect_invalid("schema_version", "\"1\"");
    expect_invalid("schema_version", "\"1.0 \"");
    expect_invalid("schema_version", "\"v1\"");
    expect_invalid("schema_version", "1.0");
    expect_invalid("schema_version", "\"1.0\\u0000\"");

    expect_invalid("command_id", "\"\"");
    expect_invalid("command_id", "\"5d1f8b4b-7e85-44fb-8f38-3f5d5da5e2e\"");
    expect_invalid("command_id", "\"5d1f8b4b7e8544fb8f383f5d5da5e2e4\"");
    expect_invalid("command_id", "\"{5d1f8b4b-7e85-44fb-8f38-3f5d5da5e2e4}\"");
    expect_invalid("command_id", "1");
    expect_valid("command_id", "\"5D1F8B4B-7E85-44FB-8F38-3F5D5DA5E2E4\"");
    expect_invalid("client_uuid", "\"not-a-uuid\"");
    expect_invalid("client_uuid", "[]");

    expect_valid("action", "\"shutdown_host\"");
    expect_valid("action", "\"restart_app\"");
    expect_invalid("action", "\"restart_service\"");
    expect_invalid("action", "\"Reboot_host\"");
    expect_invalid("action", "\"reboot_host\\u0000\"");
    expect_invalid("action", "0");

    expect_valid("issued_at", "\"2026-04-03T12:48:10.123456Z\"");
    expect_valid("issued_at", "\"2026-04-03T14:48:10+02:00\"");
    expect_valid("expires_at", "\"2026-04-03T12:52:10-05:30\"");
    expect_invalid("issued_at", "\"2026-04-03T12:48:10\""); /* naive: no offset */
    expect_invalid("issued_at", "\"2026-04-03T12:48:10.5\"");
    expect_invalid("issued_at", "\"2026-04-03 12:48:10Z\"");
    expect_invalid("issued_at", "\"2026-02-30T12:48:10Z\"");
    expect_invalid("issued_at", "\"yesterday\"");
    expect_invalid("issued_at", "1775220490");
    expect_invalid("expires_at", "\"2026-04-03T12:52:10Zx\"");
    expect_invalid("expires_at", "\"\"");

    expect_valid("requested_by", "null");
    expect_valid("requested_by", "1");
    expect_valid("requested_by", "9223372036854775807");
    expect_valid("requested_by", "2.0"); /* JSON Schema: a whole number is an integer */
    expect_invalid("requested_by", "0");
    expect_invalid("requested_by", "-1");
    expect_invalid("requested_by", "1.5");
    expect_invalid("requested_by", "0.0");
    expect_invalid("requested_by", "\"1\"");
    expect_invalid("requested_by", "true");

    expect_valid("reason", "null");
    expect_valid("reason", "\"\"");
    expect_invalid("reason", "1");
    expect_invalid("reason", "{}");
    /* maxLength counts code points: 2000 two-byte characters pass, 2001 fail. */
    char *s = repeat("\xc3\xa9", 2000, 1);
    expect_valid("reason", s);
    free(s);
    s = repeat("\xc3\xa9", 2001, 1);
    expect_invalid("reason", s);
    free(s);
    s = repeat("a", 2001, 1);
    expect_invalid("reason", s);
    free(s);
    s = repeat("\xf0\x9f\x92\xa1", 2000, 1); /* 4-byte characters */
    expect_valid("reason", s);
    free(s);

    /* A NULL why is allowed; a short one is truncated, not overrun. */
    json_t *j = load(SEED_CMD);
    json_object_set_new(j, "action", json_string("nope"));
    assert_int_equal(dev_command_validate(j, &code, NULL, 0), -1);
    char tiny[8];
    memset(tiny, 'x', sizeof(tiny));
    assert_int_equal(dev_command_validate(j, &code, tiny, 4), -1);
    assert_int_equal(strlen(tiny), 3);
    assert_int_equal(tiny[4], 'x');
    json_decref(j);
}

/* ---- ACKs ----------------------------------------------------------------------- */

static int ack_text(const char *text, dev_ack_t *ack, const char **reason)
{
    json_t *j = text != NULL ? load(text) : NULL;
    char why[160] = "";
    *reason = NULL;
    int rc = dev_ack_parse(j, ack, reason, why, sizeof(why));
    if (rc != 0 && why[0] == '\0')
        fail_msg("no message for %s", text);
    json_decref(j);
    return rc;
}

static void expect_ack_reason(const char *text, const char *want)
{
    dev_ack_t ack;
    const char *reason;
    memset(&ack, 0x5a, sizeof(ack));
    dev_ack_t keep = ack;
    if (ack_text(text, &ack, &reason) != -1)
        fail_msg("accepted %s", text);
    if (strcmp(reason, want) != 0)
        fail_msg("%s: %s, want %s", text, reason, want);
    /* out is written only on success. */
    assert_memory_equal(&ack, &keep, sizeof(ack));
}

static void test_ack_parse_ok(void **state)
{
    static const struct {
        const char *status;
        dev_ack_status_t want;
    } st[] = {
        {"accepted", DEV_ACK_ACCEPTED},
        {"execution_started", DEV_ACK_EXECUTION_STARTED},
        {"completed", DEV_ACK_COMPLETED},
        {"  Accepted ", DEV_ACK_ACCEPTED},
        {"COMPLETED", DEV_ACK_COMPLETED},
        {"\\t\\nExecution_Started\\r\\n", DEV_ACK_EXECUTION_STARTED},
        {"\\u00a0accepted\\u3000", DEV_ACK_ACCEPTED}, /* Unicode spaces, as str.strip() */
        {"\\u2028completed\\u0085", DEV_ACK_COMPLETED},
        {"\\u001faccepted\\u001c", DEV_ACK_ACCEPTED},
    };
    char text[256];
    dev_ack_t ack;
    const char *reason;

    for (size_t i = 0; i < sizeof(st) / sizeof(st[0]); i++) {
        snprintf(text, sizeof(text), "{\"command_id\":\"%s\",\"status\":\"%s\"}", CMD_ID,
                 st[i].status);
        if (ack_text(text, &ack, &reason) != 0)
            fail_msg("rejected %s (%s)", text, reason);
        assert_int_equal(ack.status, st[i].want);
        assert_string_equal(ack.command_id, CMD_ID);
        assert_null(ack.error_code);
        assert_null(ack.error_message);
    }

    /* The seed's example, and extra keys ignored. */
    json_t *j = load("{\"command_id\":\"" CMD_ID "\",\"status\":\"execution_started\","
                     "\"error_code\":null,\"error_message\":null,\"extra\":[1,2]}");
    char why[64];
    assert_int_equal(dev_ack_parse(j, &ack, &reason, why, sizeof(why)), 0);
    assert_int_equal(ack.status, DEV_ACK_EXECUTION_STARTED);
    assert_null(ack.error_code);
    json_decref(j);

    /* A failed ACK with both; the strings point into the JSON. */
    j = load("{\"command_id\":\"" CMD_ID "\",\"status\":\"failed\","
             "\"error_code\":\"execution_failed\",\"error_message\":\"helper exited 1\"}");
    assert_int_equal(dev_ack_parse(j, &ack, &reason, NULL, 0), 0);
    assert_int_equal(ack.status, DEV_ACK_FAILED);
    assert_string_equal(ack.error_code, "execution_failed");
    assert_string_equal(ack.error_message, "helper exited 1");
    assert_ptr_equal(ack.error_code, json_string_value(json_object_get(j, "error_code")));
    json_decref(j);

    /* Non-failed ACKs may carry error fields; upper-case UUIDs are kept as sent. */
    j = load("{\"command_id\":\"5D1F8B4B-7E85-44FB-8F38-3F5D5DA5E2E4\",\"status\":\"completed\","
             "\"error_code\":\"\",\"error_message\":\"note\"}");
    assert_int_equal(dev_ack_parse(j, &ack, &reason, NULL, 0), 0);
    assert_string_equal(ack.command_id, "5D1F8B4B-7E85-44FB-8F38-3F5D5DA5E2E4");
    assert_string_equal(ack.error_code, "");
    assert_string_equal(ack.error_message, "note");
    json_decref(j);
}

static void test_ack_parse_rejects(void **state)
{
    char *big;
    size_t cap = 20000;
    char *text = malloc(cap);

    expect_ack_reason(NULL, "not_json");
    expect_ack_reason("[]", "not_object");
    expect_ack_reason("\"x\"", "not_object");
    expect_ack_reason("null", "not_object");
    expect_ack_reason("{\"status\":\"accepted\"}", "missing_command_id");
    expect_ack_reason("{\"command_id\":null,\"status\":\"accepted\"}", "missing_command_id");
    expect_ack_reason("{\"command_id\":\"\",\"status\":\"accepted\"}", "missing_command_id");
    expect_ack_reason("{\"command_id\":0,\"status\":\"accepted\"}", "missing_command_id");
    expect_ack_reason("{\"command_id\":false,\"status\":\"accepted\"}", "missing_command_id");
    expect_ack_reason("{\"command_id\":\"abc\",\"status\":\"accepted\"}", "bad_command_id");
    expect_ack_reason("{\"command_id\":123,\"status\":\"accepted\"}", "bad_command_id");
    expect_ack_reason("{\"command_id\":[1],\"status\":\"accepted\"}", "bad_command_id");
    expect_ack_reason("{\"command_id\":\" " CMD_ID "\",\"status\":\"accepted\"}", "bad_command_id");
    /* Status: missing, not a string, unknown, or letters inside changed. */
    static const char *bad_status[] = {
        "",
        ",\"status\":null",
        ",\"status\":1",
        ",\"status\":\"\"",
        ",\"status\":\"   \"",
        ",\"status\":\"ack\"",
        ",\"status\":\"accepted.\"",
        ",\"status\":\"acc epted\"",
        ",\"status\":[\"accepted\"]",
        ",\"status\":\"ack_received\"",
        ",\"status\":\"accepted\\u0000\"",
        ",\"status\":\"\\u200baccepted\"", /* zero-width space is not whitespace */
    };
    for (size_t i = 0; i < sizeof(bad_status) / sizeof(bad_status[0]); i++) {
        snprintf(text, cap, "{\"command_id\":\"" CMD_ID "\"%s}", bad_status[i]);
        expect_ack_reason(text, "unknown_status");
    }

    /* error_code: a string <= 128 code points or null. */
    static const char *bad_code[] = {"1", "true", "{}", "[\"x\"]"};
    for (size_t i = 0; i < 4; i++) {
        snprintf(text, cap,
                 "{\"command_id\":\"" CMD_ID "\",\"status\":\"accepted\",\"error_code\":%s}",
                 bad_code[i]);
        expect_ack_reason(text, "bad_error_code");
        snprintf(text, cap,
                 "{\"command_id\":\"" CMD_ID "\",\"status\":\"accepted\",\"error_message\":%s}",
                 bad_code[i]);
        expect_ack_reason(text, "bad_error_message");
    }
    dev_ack_t ack;
    const char *reason;
    big = repeat("\xc3\xa9", DEV_ERROR_CODE_MAX, 1);
    snprintf(text, cap,
             "{\"command_id\":\"" CMD_ID "\",\"status\":\"failed\",\"error_code\":%s,"
             "\"error_message\":\"m\"}",
             big);
    assert_int_equal(ack_text(text, &ack, &reason), 0);
    free(big);
    big = repeat("e", DEV_ERROR_CODE_MAX + 1, 1);
    snprintf(text, cap,
             "{\"command_id\":\"" CMD_ID "\",\"status\":\"failed\",\"error_code\":%s,"
             "\"error_message\":\"m\"}",
             big);
    expect_ack_reason(text, "bad_error_code");
    free(big);
    big = repeat("\xc3\xa9", DEV_ERROR_MESSAGE_MAX, 1);
    snprintf(text, cap,
             "{\"command_id\":\"" CMD_ID "\",\"status\":\"failed\",\"error_code\":"
             "\"c\",\"error_message\":%s}",
             big);
    assert_int_equal(ack_text(text, &ack, &reason), 0);
    free(big);
    big = repeat("m", DEV_ERROR_MESSAGE_MAX + 1, 1);
    snprintf(text, cap,
             "{\"command_id\":\"" CMD_ID "\",\"status\":\"completed\","
             "\"error_message\":%s}",
             big);
    expect_ack_reason(text, "bad_error_message");
    free(big);

    /* failed needs both, non-empty. */
    static const char *failed_bad[] = {
        "",
        ",\"error_code\":\"c\"",
        ",\"error_message\":\"m\"",
        ",\"error_code\":null,\"error_message\":\"m\"",
        ",\"error_code\":\"c\",\"error_message\":null",
        ",\"error_code\":\"\",\"error_message\":\"m\"",
        ",\"error_code\":\"c\",\"error_message\":\"\"",
    };
    for (size_t i = 0; i < sizeof(failed_bad) / sizeof(failed_bad[0]); i++) {
        snprintf(text, cap, "{\"command_id\":\"" CMD_ID "\",\"status\":\" FAILED\"%s}",
                 failed_bad[i]);
        expect_ack_reason(text, "failed_without_error");
    }
    free(text);
}

static void test_ack_apply_table(void **state)
{
    /* Expected verdict and next status for every (status, ACK); N = ignored
     * as backwards, T = ignored as terminal. */
    enum { T = -1, N = -2 };
    static const int want[DEV_ST_COUNT][4] = {
        /* columns: accepted, execution_started, completed, failed */
        [DEV_ST_QUEUED] = {DEV_ST_ACK_RECEIVED, DEV_ST_EXECUTION_STARTED, DEV_ST_COMPLETED,
                           DEV_ST_FAILED},
        [DEV_ST_PUBLISH_IN_PROGRESS] = {DEV_ST_ACK_RECEIVED, DEV_ST_EXECUTION_STARTED,
                                        DEV_ST_COMPLETED, DEV_ST_FAILED},
        [DEV_ST_PUBLISHED] = {DEV_ST_ACK_RECEIVED, DEV_ST_EXECUTION_STARTED, DEV_ST_COMPLETED,
                              DEV_ST_FAILED},
        [DEV_ST_ACK_RECEIVED] = {N, DEV_ST_EXECUTION_STARTED, DEV_ST_COMPLETED, DEV_ST_FAILED},
        [DEV_ST_EXECUTION_STARTED] = {N, N, DEV_ST_COMPLETED, DEV_ST_FAILED},
        [DEV_ST_COMPLETED] = {T, T, T, T},
        [DEV_ST_FAILED] = {T, T, T, T},
        [DEV_ST_EXPIRED] = {T, T, T, T},
        [DEV_ST_CANCELED] = {T, T, T, T},
        [DEV_ST_BLOCKED_SAFETY] = {T, T, T, T},
    };
    for (int s = 0; s < DEV_ST_COUNT; s++) {
        for (int a = 0; a < 4; a++) {
            dev_status_t next = DEV_ST_COUNT;
            dev_ack_verdict_t v = dev_ack_apply((dev_status_t)s, (dev_ack_status_t)a, &next);
            int w = want[s][a];
            if (w == T) {
                if (v != DEV_ACK_IGNORE_TERMINAL || next != (dev_status_t)s)
                    fail_msg("%s + ack %d: verdict %d", dev_status_name((dev_status_t)s), a, v);
            } else if (w == N) {
                if (v != DEV_ACK_IGNORE_BACKWARDS || next != (dev_status_t)s)
                    fail_msg("%s + ack %d: verdict %d", dev_status_name((dev_status_t)s), a, v);
            } else if (v != DEV_ACK_APPLY || next != (dev_status_t)w) {
                fail_msg("%s + ack %d: verdict %d next %s", dev_status_name((dev_status_t)s), a, v,
                         dev_status_name(next));
            }
        }
    }
}

static void test_publish_outcome(void **state)
{
    for (int s = 0; s < DEV_ST_COUNT; s++) {
        int from_pub = s == DEV_ST_QUEUED || s == DEV_ST_PUBLISH_IN_PROGRESS;
        dev_status_t next = DEV_ST_COUNT;
        assert_int_equal(dev_publish_outcome((dev_status_t)s, 1, &next), from_pub);
        assert_int_equal(next, from_pub ? DEV_ST_PUBLISHED : DEV_ST_COUNT);
        next = DEV_ST_COUNT;
        assert_int_equal(dev_publish_outcome((dev_status_t)s, 0, &next), from_pub);
        assert_int_equal(next, from_pub ? DEV_ST_FAILED : DEV_ST_COUNT);
    }
    /* The publish race: the ACK landed first and the publish confirm must not undo it. */
    dev_status_t cur = DEV_ST_PUBLISH_IN_PROGRESS, next;
    assert_int_equal(dev_ack_apply(cur, DEV_ACK_ACCEPTED, &next), DEV_ACK_APPLY);
    cur = next;
    assert_int_equal(dev_publish_outcome(cur, 1, &next), 0);
    assert_int_equal(dev_publish_outcome(cur, 0, &next), 0);
    assert_int_equal(cur, DEV_ST_ACK_RECEIVED);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_time_format),
        cmocka_unit_test(test_time_against_libc),
        cmocka_unit_test(test_time_parse_accepts),
        cmocka_unit_test(test_time_parse_rejects),
        cmocka_unit_test(test_status_names),
        cmocka_unit_test(test_action_names),
        cmocka_unit_test(test_expiry_clamp),
        cmocka_unit_test(test_lockout),
        cmocka_unit_test(test_command_expired),
        cmocka_unit_test(test_payload_seed_example),
        cmocka_unit_test(test_payload_nulls_and_escapes),
        cmocka_unit_test(test_validate_rules),
        cmocka_unit_test(test_ack_parse_ok),
        cmocka_unit_test(test_ack_parse_rejects),
        cmocka_unit_test(test_ack_apply_table),
        cmocka_unit_test(test_publish_outcome),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
