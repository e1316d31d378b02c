/* tests/unit/test_intent.c - engine/intent: the seed-000 command as an
 * intent (parsing, defaults, hostile input, clamping), intent envelopes,
 * req_id rules, error codes. */
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

#include "core/err.h"
#include "engine/intent.h"

/* The seed-000 command's parse error, as the old API had it. */
typedef struct hub_parse_err {
    char msg[HUB_ERRMSG_MAX + 1];
    char field[HUB_FIELD_MAX + 1];
    char cmd_id[HUB_REQ_ID_MAX + 1];
} hub_parse_err_t;

typedef hub_intent_t hub_cmd_t;

static void copy_err(hub_parse_err_t *err, const hub_error_t *e)
{
    memcpy(err->msg, e->msg, sizeof(err->msg));
    memcpy(err->field, e->field, sizeof(err->field));
}

static int hub_cmd_parse(const char *text, size_t len, const char *src, hub_cmd_t **out,
                         hub_parse_err_t *err)
{
    hub_error_t e;
    int rc = hub_intent_parse_rgb(text, len, src, out, &e, err->cmd_id);
    copy_err(err, &e);
    return rc;
}

static int hub_cmd_from_json(const json_t *obj, const char *src, hub_cmd_t **out,
                             hub_parse_err_t *err)
{
    hub_error_t e;
    int rc = hub_intent_from_rgb(obj, src, out, &e, err->cmd_id);
    copy_err(err, &e);
    return rc;
}

/* Channel i (r, g, b) of the command: carried natively (in->rgb, no payload
 * tree), and the same in the journal's payload text, values.red/green/blue. */
static int rgb_of(const hub_intent_t *c, int i)
{
    static const char *const roles[3] = {"red", "green", "blue"};
    json_t *p = json_loadb(c->payload_text, c->payload_len, 0, NULL);
    const json_t *v = json_object_get(json_object_get(p, "values"), roles[i]);

    assert_true(c->legacy);
    assert_null(c->payload);
    assert_true(json_is_integer(v));
    assert_int_equal(json_integer_value(v), c->rgb[i]);
    assert_string_equal(json_string_value(json_object_get(p, "fixture")), "demo");
    assert_int_equal(json_object_size(p), 2);
    json_decref(p);
    return c->rgb[i];
}

#define hub_cmd_free  hub_intent_free
#define hub_cmd_clamp hub_clamp_byte

#define ID       "01HZX3YJ9YJ3M5QAZ3GZ8K3QFF"
#define ID_LOWER "01hzx3yj9yj3m5qaz3gz8k3qff"

static int parse(const char *text, hub_cmd_t **out, hub_parse_err_t *err)
{
    *out = NULL;
    memset(err, 0x5a, sizeof(*err)); /* garbage: the parser must fill every field */
    return hub_cmd_parse(text, strlen(text), "api", out, err);
}

/* Parse text expecting success; returns the command (caller frees). */
static hub_cmd_t *parse_ok(const char *text)
{
    hub_cmd_t *c = NULL;
    hub_parse_err_t err;
    int rc = parse(text, &c, &err);
    if (rc != 0)
        fail_msg("%s: rc %d, field \"%.32s\": %.192s", text, rc, err.field, err.msg);
    assert_non_null(c);
    return c;
}

/* Parse text expecting HUB_EINVAL naming field; cmd_id is the expected
 * err.cmd_id ("" for none) or NULL to not check it. */
static void parse_bad(const char *text, size_t len, const char *field, const char *cmd_id)
{
    hub_cmd_t *c = (hub_cmd_t *)(uintptr_t)1;
    hub_parse_err_t err;

    memset(&err, 0x5a, sizeof(err));
    int rc = hub_cmd_parse(text, len, "api", &c, &err);
    if (rc != HUB_EINVAL)
        fail_msg("%.*s: rc %d, want HUB_EINVAL", (int)(len > 200 ? 200 : len), text, rc);
    /* Out-parameters are written only on success. */
    assert_true(c == (hub_cmd_t *)(uintptr_t)1);
    assert_non_null(memchr(err.msg, '\0', sizeof(err.msg)));
    assert_non_null(memchr(err.field, '\0', sizeof(err.field)));
    assert_non_null(memchr(err.cmd_id, '\0', sizeof(err.cmd_id)));
    assert_true(strlen(err.msg) > 0);
    if (field != NULL && strcmp(err.field, field) != 0)
        fail_msg("%.*s: field \"%s\", want \"%s\" (%s)", (int)(len > 200 ? 200 : len), text,
                 err.field, field, err.msg);
    if (cmd_id != NULL && strcmp(err.cmd_id, cmd_id) != 0)
        fail_msg("%.*s: err.cmd_id \"%s\", want \"%s\"", (int)(len > 200 ? 200 : len), text,
                 err.cmd_id, cmd_id);
}

static void bad(const char *text, const char *field, const char *cmd_id)
{
    parse_bad(text, strlen(text), field, cmd_id);
}

static void test_valid(void **state)
{
    hub_cmd_t *c = parse_ok("{\"cmdId\":\"" ID "\",\"src\":\"ui\",\"r\":64,\"g\":32,\"b\":128}");
    assert_string_equal(c->req_id, ID);
    assert_string_equal(c->src, "ui");
    assert_int_equal(rgb_of(c, 0), 64);
    assert_int_equal(rgb_of(c, 1), 32);
    assert_int_equal(rgb_of(c, 2), 128);
    assert_int_equal(c->is_ui, 1);
    assert_null(c->done);
    hub_cmd_free(c);

    c = parse_ok("{\"schema\":\"demo.rgb.cmd.v1\",\"cmdId\":\"" ID "\",\"src\":\"mqtt\","
                 "\"r\":0,\"g\":255,\"b\":1.0,\"extra\":{\"ignored\":[1,2,3]}}");
    assert_string_equal(c->src, "mqtt");
    assert_int_equal(c->is_ui, 0);
    assert_int_equal(rgb_of(c, 0), 0);
    assert_int_equal(rgb_of(c, 1), 255);
    assert_int_equal(rgb_of(c, 2), 1);
    hub_cmd_free(c);

    /* Whitespace and key order do not matter. */
    c = parse_ok(" \n{ \"b\" : 3 , \"g\" : 2 , \"r\" : 1 , \"cmdId\" : \"" ID "\" }\n ");
    assert_int_equal(rgb_of(c, 0), 1);
    assert_int_equal(rgb_of(c, 1), 2);
    assert_int_equal(rgb_of(c, 2), 3);
    hub_cmd_free(c);
}

static void test_defaults(void **state)
{
    hub_cmd_t *c = NULL;
    hub_parse_err_t err;
    const char *body = "{\"cmdId\":\"" ID "\",\"r\":1,\"g\":2,\"b\":3}";

    c = parse_ok(body);
    assert_string_equal(c->src, "api"); /* default_src */
    assert_int_equal(c->is_ui, 0);
    hub_cmd_free(c);

    assert_int_equal(hub_cmd_parse(body, strlen(body), "mqtt", &c, &err), 0);
    assert_string_equal(c->src, "mqtt");
    hub_cmd_free(c);
}

static void test_canonical_upper_id(void **state)
{
    hub_cmd_t *c = parse_ok("{\"cmdId\":\"" ID_LOWER "\",\"r\":1,\"g\":2,\"b\":3}");
    assert_string_equal(c->req_id, ID);
    hub_cmd_free(c);
    c = parse_ok("{\"cmdId\":\"01hZx3yJ9yJ3m5qAz3gZ8k3qFf\",\"r\":1,\"g\":2,\"b\":3}");
    assert_string_equal(c->req_id, ID);
    hub_cmd_free(c);
}

static void test_length_bounds_text(void **state)
{
    /* Only len bytes are parsed; what follows is not looked at. */
    const char text[] = "{\"cmdId\":\"" ID "\",\"r\":9,\"g\":8,\"b\":7}GARBAGE";
    size_t len = strlen(text) - strlen("GARBAGE");
    hub_cmd_t *c = NULL;
    hub_parse_err_t err;

    assert_int_equal(hub_cmd_parse(text, len, "api", &c, &err), 0);
    assert_int_equal(rgb_of(c, 0), 9);
    hub_cmd_free(c);
    /* One byte short is truncated JSON. */
    parse_bad(text, len - 1, "", "");
    /* Whole buffer including the garbage is not JSON. */
    parse_bad(text, strlen(text), "", NULL);
}

static void test_not_an_object(void **state)
{
    bad("hello", "", "");
    bad("{\"cmdId\":\"01H", "", "");
    bad("{\"cmdId\":\"" ID "\",\"r\":1,\"g\":2,\"b\":3", "", "");
    bad("[1,2,3]", "", "");
    bad("[{\"cmdId\":\"" ID "\",\"r\":1,\"g\":2,\"b\":3}]", "", "");
    bad("\"a string\"", "", "");
    bad("42", "", "");
    bad("null", "", "");
    bad("true", "", "");
    bad("", "", "");
    bad("   ", "", "");
    bad("{", "", "");
    bad("{}}", "", "");
    bad("{\"cmdId\":NaN}", "", "");
    bad("{'cmdId':'" ID "'}", "", "");
    parse_bad("{\"a\":1}\0{\"b\":2}", 15, "", "");
}

static void test_not_an_object_from_json(void **state)
{
    hub_cmd_t *c = NULL;
    hub_parse_err_t err;
    json_t *v = json_pack("[i,i]", 1, 2);

    assert_int_equal(hub_cmd_from_json(v, "api", &c, &err), HUB_EINVAL);
    assert_string_equal(err.field, "");
    assert_null(c);
    json_decref(v);
    assert_int_equal(hub_cmd_from_json(NULL, "api", &c, &err), HUB_EINVAL);
    assert_null(c);
}

static void test_from_json(void **state)
{
    hub_cmd_t *c = NULL;
    hub_parse_err_t err;
    json_t *v = json_pack("{s:s,s:I,s:f,s:f}", "cmdId", ID_LOWER, "r", (json_int_t)300, "g", 12.5,
                          "b", -7.0);

    assert_int_equal(hub_cmd_from_json(v, "ws", &c, &err), 0);
    assert_string_equal(c->req_id, ID);
    assert_string_equal(c->src, "ws");
    assert_int_equal(rgb_of(c, 0), 255);
    assert_int_equal(rgb_of(c, 1), 13);
    assert_int_equal(rgb_of(c, 2), 0);
    hub_cmd_free(c);
    json_decref(v);
}

static void test_nested_huge(void **state)
{
    /* Far deeper than any parser should recurse. */
    size_t depth = 100000;
    char *text = malloc(depth * 2 + 1);

    assert_non_null(text);
    memset(text, '[', depth);
    memset(text + depth, ']', depth);
    text[depth * 2] = '\0';
    parse_bad(text, depth * 2, "", "");

    /* The same depth inside an otherwise valid command. */
    char *obj = malloc(depth * 2 + 128);
    assert_non_null(obj);
    int n = snprintf(obj, 128, "{\"cmdId\":\"" ID "\",\"r\":1,\"g\":2,\"b\":3,\"x\":");
    memcpy(obj + n, text, depth * 2);
    memcpy(obj + n + depth * 2, "}", 2);
    parse_bad(obj, strlen(obj), NULL, NULL);
    free(obj);
    free(text);
}

static void test_cmd_id(void **state)
{
    bad("{\"r\":1,\"g\":2,\"b\":3}", "cmdId", "");
    bad("{\"cmdId\":12345,\"r\":1,\"g\":2,\"b\":3}", "cmdId", "");
    bad("{\"cmdId\":null,\"r\":1,\"g\":2,\"b\":3}", "cmdId", "");
    bad("{\"cmdId\":[\"" ID "\"],\"r\":1,\"g\":2,\"b\":3}", "cmdId", "");
    bad("{\"cmdId\":\"\",\"r\":1,\"g\":2,\"b\":3}", "cmdId", "");
    bad("{\"cmdId\":\"01HZX3YJ9YJ3M5QAZ3GZ8K3QF\",\"r\":1,\"g\":2,\"b\":3}", "cmdId", NULL);
    bad("{\"cmdId\":\"01HZX3YJ9YJ3M5QAZ3GZ8K3QFFF\",\"r\":1,\"g\":2,\"b\":3}", "cmdId", NULL);
    bad("{\"cmdId\":\"01HZX3YJ9YJ3M5QAZ3GZ8K3QFU\",\"r\":1,\"g\":2,\"b\":3}", "cmdId", NULL);
    bad("{\"cmdId\":\"81HZX3YJ9YJ3M5QAZ3GZ8K3QFF\",\"r\":1,\"g\":2,\"b\":3}", "cmdId", NULL);
    bad("{\"cmdId\":\"01HZX3YJ9YJ3M5QAZ3GZ8K3Q-F\",\"r\":1,\"g\":2,\"b\":3}", "cmdId", NULL);
    bad("{\"cmdId\":\"not-a-ulid\",\"r\":1,\"g\":2,\"b\":3}", "cmdId", NULL);
}

static void test_rgb_types(void **state)
{
    /* cmdId was readable: the error carries it (canonical) for the answer. */
    bad("{\"cmdId\":\"" ID "\",\"r\":\"12\",\"g\":2,\"b\":3}", "r", ID);
    bad("{\"cmdId\":\"" ID "\",\"r\":true,\"g\":2,\"b\":3}", "r", ID);
    bad("{\"cmdId\":\"" ID "\",\"r\":false,\"g\":2,\"b\":3}", "r", ID);
    bad("{\"cmdId\":\"" ID "\",\"r\":null,\"g\":2,\"b\":3}", "r", ID);
    bad("{\"cmdId\":\"" ID "\",\"g\":2,\"b\":3}", "r", ID);
    bad("{\"cmdId\":\"" ID "\",\"r\":[1],\"g\":2,\"b\":3}", "r", ID);
    bad("{\"cmdId\":\"" ID "\",\"r\":{},\"g\":2,\"b\":3}", "r", ID);
    bad("{\"cmdId\":\"" ID "\",\"r\":1,\"b\":3}", "g", ID);
    bad("{\"cmdId\":\"" ID "\",\"r\":1,\"g\":\"x\",\"b\":3}", "g", ID);
    bad("{\"cmdId\":\"" ID "\",\"r\":1,\"g\":2}", "b", ID);
    bad("{\"cmdId\":\"" ID "\",\"r\":1,\"g\":2,\"b\":\"3\"}", "b", ID);
    bad("{\"cmdId\":\"" ID_LOWER "\",\"r\":\"x\",\"g\":2,\"b\":3}", "r", ID);
    /* NaN-ish values are strings in JSON, or not JSON at all. */
    bad("{\"cmdId\":\"" ID "\",\"r\":\"NaN\",\"g\":2,\"b\":3}", "r", ID);
    bad("{\"cmdId\":\"" ID "\",\"r\":\"Infinity\",\"g\":2,\"b\":3}", "r", ID);
    bad("{\"cmdId\":\"" ID "\",\"r\":\"-inf\",\"g\":2,\"b\":3}", "r", ID);
    bad("{\"cmdId\":\"" ID "\",\"r\":NaN,\"g\":2,\"b\":3}", "", NULL);
    bad("{\"cmdId\":\"" ID "\",\"r\":Infinity,\"g\":2,\"b\":3}", "", NULL);
    bad("{\"cmdId\":\"" ID "\",\"r\":0x10,\"g\":2,\"b\":3}", "", NULL);
    bad("{\"cmdId\":\"" ID "\",\"r\":+1,\"g\":2,\"b\":3}", "", NULL);
}

static void test_src(void **state)
{
    char body[256];
    char src64[65], src65[66];

    memset(src64, 'a', 64);
    src64[64] = '\0';
    memset(src65, 'a', 65);
    src65[65] = '\0';

    bad("{\"cmdId\":\"" ID "\",\"src\":5,\"r\":1,\"g\":2,\"b\":3}", "src", ID);
    bad("{\"cmdId\":\"" ID "\",\"src\":null,\"r\":1,\"g\":2,\"b\":3}", "src", ID);
    bad("{\"cmdId\":\"" ID "\",\"src\":[\"ui\"],\"r\":1,\"g\":2,\"b\":3}", "src", ID);
    bad("{\"cmdId\":\"" ID "\",\"src\":\"\",\"r\":1,\"g\":2,\"b\":3}", "src", ID);
    bad("{\"cmdId\":\"" ID "\",\"src\":\"a\\nb\",\"r\":1,\"g\":2,\"b\":3}", "src", ID);
    bad("{\"cmdId\":\"" ID "\",\"src\":\"a\\u0001\",\"r\":1,\"g\":2,\"b\":3}", "src", ID);
    bad("{\"cmdId\":\"" ID "\",\"src\":\"\\t\",\"r\":1,\"g\":2,\"b\":3}", "src", ID);
    bad("{\"cmdId\":\"" ID "\",\"src\":\"a\\u007f\",\"r\":1,\"g\":2,\"b\":3}", "src", ID);
    bad("{\"cmdId\":\"" ID "\",\"src\":\"a\\u001b[31m\",\"r\":1,\"g\":2,\"b\":3}", "src", ID);
    /* An embedded NUL: rejected, whether by the JSON parser or by src. */
    bad("{\"cmdId\":\"" ID "\",\"src\":\"ui\\u0000x\",\"r\":1,\"g\":2,\"b\":3}", NULL, NULL);

    snprintf(body, sizeof(body), "{\"cmdId\":\"" ID "\",\"src\":\"%s\",\"r\":1,\"g\":2,\"b\":3}",
             src65);
    bad(body, "src", ID);
    snprintf(body, sizeof(body), "{\"cmdId\":\"" ID "\",\"src\":\"%s\",\"r\":1,\"g\":2,\"b\":3}",
             src64);
    hub_cmd_t *c = parse_ok(body);
    assert_string_equal(c->src, src64);
    hub_cmd_free(c);

    c = parse_ok("{\"cmdId\":\"" ID "\",\"src\":\"sensor/1 @hall#2\",\"r\":1,\"g\":2,\"b\":3}");
    assert_string_equal(c->src, "sensor/1 @hall#2");
    assert_int_equal(c->is_ui, 0);
    hub_cmd_free(c);
}

static void test_schema(void **state)
{
    bad("{\"schema\":\"demo.rgb.cmd.v2\",\"cmdId\":\"" ID "\",\"r\":1,\"g\":2,\"b\":3}", "schema",
        ID);
    bad("{\"schema\":\"\",\"cmdId\":\"" ID "\",\"r\":1,\"g\":2,\"b\":3}", "schema", ID);
    bad("{\"schema\":1,\"cmdId\":\"" ID "\",\"r\":1,\"g\":2,\"b\":3}", "schema", ID);
    bad("{\"schema\":\"DEMO.RGB.CMD.V1\",\"cmdId\":\"" ID "\",\"r\":1,\"g\":2,\"b\":3}", "schema",
        ID);
    bad("{\"schema\":\"demo.rgb.state.v1\",\"cmdId\":\"" ID "\",\"r\":1,\"g\":2,\"b\":3}", "schema",
        ID);
}

static uint8_t parse_r(const char *r)
{
    char body[512];
    snprintf(body, sizeof(body), "{\"cmdId\":\"" ID "\",\"r\":%s,\"g\":0,\"b\":0}", r);
    hub_cmd_t *c = parse_ok(body);
    uint8_t v = rgb_of(c, 0);
    hub_cmd_free(c);
    return v;
}

static void test_values_round_and_clamp(void **state)
{
    assert_int_equal(parse_r("12.5"), 13);
    assert_int_equal(parse_r("12.49"), 12);
    assert_int_equal(parse_r("-0.4"), 0);
    assert_int_equal(parse_r("-0"), 0);
    assert_int_equal(parse_r("254.5"), 255);
    assert_int_equal(parse_r("255.4"), 255);
    assert_int_equal(parse_r("256"), 255);
    assert_int_equal(parse_r("-1"), 0);
    assert_int_equal(parse_r("1e300"), 255);
    assert_int_equal(parse_r("-1e300"), 0);
    assert_int_equal(parse_r("1E2"), 100);
    assert_int_equal(parse_r("2.55e2"), 255);
    assert_int_equal(parse_r("0.5"), 1);
    assert_int_equal(parse_r("1e-300"), 0);
    assert_int_equal(parse_r("127.50000"), 128);
}

/* Integers beyond 64 bits are still JSON numbers (RFC 8259 sets no range):
 * they clamp like 1e300 instead of failing the parse. */
static void test_huge_integer_literal(void **state)
{
    assert_int_equal(parse_r("99999999999999999999"), 255);
    assert_int_equal(parse_r("-99999999999999999999"), 0);
    assert_int_equal(parse_r("9223372036854775807"), 255);
    assert_int_equal(parse_r("-9223372036854775808"), 0);
}

static void test_clamp(void **state)
{
    assert_int_equal(hub_cmd_clamp(12.5), 13);
    assert_int_equal(hub_cmd_clamp(12.49), 12);
    assert_int_equal(hub_cmd_clamp(-0.4), 0);
    assert_int_equal(hub_cmd_clamp(-0.5), 0);
    assert_int_equal(hub_cmd_clamp(254.5), 255);
    assert_int_equal(hub_cmd_clamp(254.49), 254);
    assert_int_equal(hub_cmd_clamp(0.5), 1); /* half away from zero, not to even */
    assert_int_equal(hub_cmd_clamp(1.5), 2);
    assert_int_equal(hub_cmd_clamp(2.5), 3);
    assert_int_equal(hub_cmd_clamp(0.49999999999999994), 0);
    assert_int_equal(hub_cmd_clamp(0), 0);
    assert_int_equal(hub_cmd_clamp(255), 255);
    assert_int_equal(hub_cmd_clamp(255.49), 255);
    assert_int_equal(hub_cmd_clamp(255.5), 255);
    assert_int_equal(hub_cmd_clamp(1e300), 255);
    assert_int_equal(hub_cmd_clamp(-1e300), 0);
    assert_int_equal(hub_cmd_clamp(INFINITY), 255);
    assert_int_equal(hub_cmd_clamp(-INFINITY), 0);
    for (int i = 0; i <= 255; i++)
        assert_int_equal(hub_cmd_clamp(i), i);
}

static void test_intent_new(void **state)
{
    hub_intent_t *c = hub_intent_new(ID, "ui", "fixture.set_values");

    assert_string_equal(c->req_id, ID);
    assert_string_equal(c->src, "ui");
    assert_string_equal(c->name, "fixture.set_values");
    assert_true(json_is_object(c->payload));
    assert_string_equal(c->payload_text, "{}");
    assert_int_equal(c->is_ui, 1);
    assert_int_equal(c->legacy, 0);
    assert_null(c->done);
    assert_null(c->next);
    assert_null(c->ui_next);
    hub_intent_set_payload(c, json_pack("{s:i}", "a", 1));
    assert_string_equal(c->payload_text, "{\"a\":1}");
    assert_int_equal(c->payload_len, 7);
    hub_intent_free(c);

    c = hub_intent_new(ID, "uix", "x");
    assert_int_equal(c->is_ui, 0);
    hub_intent_free(c);
}

/* The seed-000 command is fixture.set_values on "demo", flagged legacy. */
static void test_rgb_is_set_values(void **state)
{
    hub_cmd_t *c = parse_ok("{\"cmdId\":\"" ID_LOWER "\",\"r\":1.5,\"g\":-3,\"b\":1e20}");
    assert_int_equal(c->legacy, 1);
    assert_string_equal(c->name, "fixture.set_values");
    assert_string_equal(c->payload_text,
                        "{\"fixture\":\"demo\",\"values\":{\"red\":2,\"green\":0,\"blue\":255}}");
    hub_cmd_free(c);
}

static hub_intent_t *env_ok(const char *text, int require)
{
    json_t *obj = json_loads(text, HUB_JSON_FLAGS, NULL);
    hub_intent_t *in = NULL;
    hub_error_t err;
    char id[HUB_REQ_ID_MAX + 1];

    assert_non_null(obj);
    if (hub_intent_from_envelope(obj, "ui", require, &in, &err, id) != 0)
        fail_msg("%s: %s (%s)", text, err.msg, err.field);
    json_decref(obj);
    return in;
}

static void env_bad(const char *text, int require, const char *field, const char *want_id)
{
    json_t *obj = json_loads(text, HUB_JSON_FLAGS | JSON_DECODE_ANY, NULL);
    hub_intent_t *in = (hub_intent_t *)(uintptr_t)1;
    hub_error_t err;
    char id[HUB_REQ_ID_MAX + 1];

    memset(id, 'x', sizeof(id));
    assert_int_equal(hub_intent_from_envelope(obj, "ui", require, &in, &err, id), HUB_EINVAL);
    assert_true(in == (hub_intent_t *)(uintptr_t)1);
    assert_int_equal(err.code, HUB_ERR_INVALID);
    assert_true(strlen(err.msg) > 0);
    if (strcmp(err.field, field) != 0)
        fail_msg("%s: field \"%s\", want \"%s\" (%s)", text, err.field, field, err.msg);
    assert_string_equal(id, want_id);
    json_decref(obj);
}

static void test_envelope(void **state)
{
    hub_intent_t *in = env_ok("{\"type\":\"intent\",\"req_id\":\"r-1\",\"name\":\"dmx.blackout\","
                              "\"payload\":{\"on\":true,\"n\":5.0,\"x\":[1.0,2.5]}}",
                              1);
    assert_string_equal(in->req_id, "r-1");
    assert_string_equal(in->name, "dmx.blackout");
    assert_string_equal(in->src, "ui"); /* the adapter's default */
    assert_int_equal(in->is_ui, 1);
    /* Integral numbers are integers again in the journal's text. */
    assert_string_equal(in->payload_text, "{\"on\":true,\"n\":5,\"x\":[1,2.5]}");
    hub_intent_free(in);

    in = env_ok("{\"name\":\"a.b\",\"src\":\"console-2\"}", 0);
    assert_string_equal(in->req_id, ""); /* REST fills it (Idempotency-Key or a ULID) */
    assert_string_equal(in->src, "console-2");
    assert_string_equal(in->payload_text, "{}");
    hub_intent_free(in);
}

static void test_envelope_refusals(void **state)
{
    char long_id[100];

    env_bad("[1]", 0, "", "");
    env_bad("{\"name\":\"a\"}", 1, "req_id", "");
    env_bad("{\"req_id\":\"\",\"name\":\"a\"}", 0, "req_id", "");
    env_bad("{\"req_id\":7,\"name\":\"a\"}", 0, "req_id", "");
    env_bad("{\"req_id\":\"tab\\there\",\"name\":\"a\"}", 0, "req_id", "");
    env_bad("{\"req_id\":\"caf\u00e9\",\"name\":\"a\"}", 0, "req_id", "");
    snprintf(long_id, sizeof(long_id), "{\"req_id\":\"%065d\",\"name\":\"a\"}", 1);
    env_bad(long_id, 0, "req_id", "");
    /* Once the req_id is known it comes back with the refusal. */
    env_bad("{\"req_id\":\"r1\"}", 1, "name", "r1");
    env_bad("{\"req_id\":\"r1\",\"name\":\"\"}", 1, "name", "r1");
    env_bad("{\"req_id\":\"r1\",\"name\":5}", 1, "name", "r1");
    env_bad("{\"req_id\":\"r1\",\"name\":\"a\",\"payload\":[]}", 1, "payload", "r1");
    env_bad("{\"req_id\":\"r1\",\"name\":\"a\",\"payload\":\"x\"}", 1, "payload", "r1");
    env_bad("{\"req_id\":\"r1\",\"name\":\"a\",\"src\":\"\"}", 1, "src", "r1");
}

static void test_req_id_rules(void **state)
{
    char id[65];
    memset(id, 'a', 64);
    id[64] = '\0';
    assert_true(hub_req_id_valid(id, 64));
    assert_false(hub_req_id_valid(id, 65));
    assert_false(hub_req_id_valid("", 0));
    assert_true(hub_req_id_valid("~ !", 3)); /* printable ASCII includes space */
    assert_false(hub_req_id_valid("a\x7f", 2));
    assert_false(hub_req_id_valid("a\n", 2));
    assert_false(hub_req_id_valid("\xc3\xa9", 2));
}

static void test_error_codes(void **state)
{
    static const struct {
        hub_errcode_t code;
        const char *name;
        int http;
    } want[] = {
        {HUB_ERR_INVALID, "invalid", 400},
        {HUB_ERR_UNKNOWN_INTENT, "unknown_intent", 400},
        {HUB_ERR_NOT_FOUND, "not_found", 404},
        {HUB_ERR_CONFLICT, "conflict", 409},
        {HUB_ERR_OVERLOADED, "overloaded", 503},
        {HUB_ERR_DROPPED, "dropped", 503},
        {HUB_ERR_UNAUTHORIZED, "unauthorized", 401},
        {HUB_ERR_STORE_FAILED, "store_failed", 500},
    };
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
        assert_string_equal(hub_errcode_name(want[i].code), want[i].name);
        assert_int_equal(hub_errcode_http(want[i].code), want[i].http);
    }
}

static void test_reply_to(void **state)
{
    hub_intent_t *in = hub_intent_new("r", "mqtt", "a");
    hub_error_t err;
    json_t *ok = json_string("clients/7/results"), *wild = json_string("clients/+/x"),
           *empty = json_string(""), *num = json_integer(3);

    assert_int_equal(hub_intent_set_reply_to(in, NULL, &err), 0);
    assert_null(in->reply_to);
    assert_int_equal(hub_intent_set_reply_to(in, ok, &err), 0);
    assert_string_equal(in->reply_to, "clients/7/results");
    assert_int_equal(hub_intent_set_reply_to(in, wild, &err), HUB_EINVAL);
    assert_string_equal(err.field, "reply_to");
    assert_int_equal(hub_intent_set_reply_to(in, empty, &err), HUB_EINVAL);
    assert_int_equal(hub_intent_set_reply_to(in, num, &err), HUB_EINVAL);
    json_decref(ok);
    json_decref(wild);
    json_decref(empty);
    json_decref(num);
    hub_intent_free(in);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid),
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_canonical_upper_id),
        cmocka_unit_test(test_length_bounds_text),
        cmocka_unit_test(test_not_an_object),
        cmocka_unit_test(test_not_an_object_from_json),
        cmocka_unit_test(test_from_json),
        cmocka_unit_test(test_nested_huge),
        cmocka_unit_test(test_cmd_id),
        cmocka_unit_test(test_rgb_types),
        cmocka_unit_test(test_src),
        cmocka_unit_test(test_schema),
        cmocka_unit_test(test_values_round_and_clamp),
        cmocka_unit_test(test_huge_integer_literal),
        cmocka_unit_test(test_clamp),
        cmocka_unit_test(test_intent_new),
        cmocka_unit_test(test_rgb_is_set_values),
        cmocka_unit_test(test_envelope),
        cmocka_unit_test(test_envelope_refusals),
        cmocka_unit_test(test_req_id_rules),
        cmocka_unit_test(test_error_codes),
        cmocka_unit_test(test_reply_to),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
