/* test_mqtt_devices.c - the MQTT bridge's pure logic: UTF-8 checks, presence
 * payloads, device topics and the presence table (proto/mqtt_devices.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "core/err.h"
#include "core/mem.h"
#include "proto/mqtt_devices.h"

static int utf8(const char *s, size_t len, size_t *bad)
{
    return hub__mqtt_utf8_valid(s, len, bad);
}

static void test_utf8_accepts_valid(void **st)
{
    static const char ok[] = "plain \xC3\xA9 \xE2\x82\xAC \xF0\x9F\x92\xA1 \xED\x9F\xBF "
                             "\xEE\x80\x80 \xF4\x8F\xBF\xBF";
    (void)st;
    assert_true(utf8(ok, sizeof(ok) - 1, NULL));
    assert_true(utf8("", 0, NULL));
    assert_true(utf8("a\0b", 3, NULL)); /* NUL is valid UTF-8; JSON rejects it later */
}

static void test_utf8_rejects_invalid(void **st)
{
    static const struct {
        const char *s;
        size_t len, bad_at;
    } cases[] = {
        {"ab\x80", 3, 2},           /* stray continuation */
        {"\xC0\xAF", 2, 0},         /* overlong '/' */
        {"\xC1\xBF", 2, 0},         /* overlong */
        {"x\xE0\x80\xAF", 4, 1},    /* overlong 3-byte */
        {"\xE0\x9F\xBF", 3, 0},     /* overlong 3-byte, top edge */
        {"\xED\xA0\x80", 3, 0},     /* surrogate U+D800 */
        {"\xED\xBF\xBF", 3, 0},     /* surrogate U+DFFF */
        {"\xF0\x80\x80\xAF", 4, 0}, /* overlong 4-byte */
        {"\xF0\x8F\xBF\xBF", 4, 0}, /* overlong 4-byte, top edge */
        {"\xF4\x90\x80\x80", 4, 0}, /* U+110000 */
        {"\xF5\x80\x80\x80", 4, 0}, /* lead byte beyond Unicode */
        {"\xFF", 1, 0},
        {"ok\xC3", 3, 2},       /* truncated 2-byte */
        {"ok\xE2\x82", 4, 2},   /* truncated 3-byte */
        {"\xF0\x9F\x92", 3, 0}, /* truncated 4-byte */
        {"\xC3\x28", 2, 0},     /* bad continuation */
        {"\xE2\x28\xA1", 3, 0},
        {"\xF0\x9F\x28\xA1", 4, 0},
    };
    (void)st;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        size_t bad = 999;
        assert_false(utf8(cases[i].s, cases[i].len, &bad));
        assert_int_equal(bad, cases[i].bad_at);
    }
}

static int presence(const char *s)
{
    return hub__mqtt_presence_parse(s, strlen(s));
}

static void test_presence_forms(void **st)
{
    (void)st;
    assert_int_equal(presence("online"), HUB__PRESENCE_ONLINE);
    assert_int_equal(presence("offline"), HUB__PRESENCE_OFFLINE);
    assert_int_equal(presence("{\"state\":\"online\",\"fw\":\"1.2\"}"), HUB__PRESENCE_ONLINE);
    assert_int_equal(presence(" {\"ip\":\"10.0.0.7\", \"state\":\"offline\"}\n"),
                     HUB__PRESENCE_OFFLINE);
    assert_int_equal(presence(""), HUB__PRESENCE_CLEAR);

    assert_int_equal(presence("Online"), HUB__PRESENCE_INVALID);
    assert_int_equal(presence("online\n"), HUB__PRESENCE_INVALID);
    assert_int_equal(presence("onlinex"), HUB__PRESENCE_INVALID);
    assert_int_equal(presence("1"), HUB__PRESENCE_INVALID);
    assert_int_equal(presence("\"online\""), HUB__PRESENCE_INVALID);
    assert_int_equal(presence("{\"state\":\"sleeping\"}"), HUB__PRESENCE_INVALID);
    assert_int_equal(presence("{\"state\":1}"), HUB__PRESENCE_INVALID);
    assert_int_equal(presence("{\"status\":\"online\"}"), HUB__PRESENCE_INVALID);
    assert_int_equal(presence("{\"state\":\"online\""), HUB__PRESENCE_INVALID);
    assert_int_equal(presence("{\"state\":\"online\",\"state\":\"offline\"}"),
                     HUB__PRESENCE_INVALID);
    assert_int_equal(presence("[\"online\"]"), HUB__PRESENCE_INVALID);
    /* Bytes after the word must not be ignored. */
    assert_int_equal(hub__mqtt_presence_parse("online\0x", 8), HUB__PRESENCE_INVALID);
}

static void test_device_topic(void **st)
{
    const char *id = NULL;
    size_t n = 0;
    char topic[128];
    (void)st;

    assert_true(hub__mqtt_device_topic_id("v1/devices/esp-12/state", &id, &n));
    assert_int_equal(n, 6);
    assert_memory_equal(id, "esp-12", 6);
    assert_true(hub__mqtt_device_topic_id("v1/devices/x/state", &id, &n));
    assert_int_equal(n, 1);

    assert_false(hub__mqtt_device_topic_id("v1/devices//state", &id, &n));
    assert_false(hub__mqtt_device_topic_id("v1/devices/a/b/state", &id, &n));
    assert_false(hub__mqtt_device_topic_id("v1/devices/a+/state", &id, &n));
    assert_false(hub__mqtt_device_topic_id("v1/devices/#/state", &id, &n));
    assert_false(hub__mqtt_device_topic_id("v1/devices/a/status", &id, &n));
    assert_false(hub__mqtt_device_topic_id("v2/devices/a/state", &id, &n));
    assert_false(hub__mqtt_device_topic_id("v1/devices/state", &id, &n));
    assert_false(hub__mqtt_device_topic_id("v1/demo/rgb/cmd", &id, &n));
    assert_false(hub__mqtt_device_topic_id("v1/devices/\xC0\xAF/state", &id, &n));

    /* 64 characters is the limit. */
    memset(topic, 0, sizeof(topic));
    strcpy(topic, "v1/devices/");
    memset(topic + 11, 'a', 64);
    strcat(topic, "/state");
    assert_true(hub__mqtt_device_topic_id(topic, &id, &n));
    assert_int_equal(n, 64);
    memset(topic, 0, sizeof(topic));
    strcpy(topic, "v1/devices/");
    memset(topic + 11, 'a', 65);
    strcat(topic, "/state");
    assert_false(hub__mqtt_device_topic_id(topic, &id, &n));
}

static json_t *devices_json(hub__mqtt_devices_t *d)
{
    size_t len = 0;
    char *s = hub__mqtt_devices_json(d, &len);
    json_t *j;

    assert_int_equal(strlen(s), len);
    j = json_loadb(s, len, 0, NULL);
    assert_non_null(j);
    assert_true(json_is_array(j));
    hub_free(s);
    return j;
}

static int update(hub__mqtt_devices_t *d, const char *id, int p, uint64_t now)
{
    return hub__mqtt_devices_update(d, id, strlen(id), p, now);
}

static void test_table_sorted_since_and_clear(void **st)
{
    hub__mqtt_devices_t *d = hub__mqtt_devices_new(100);
    json_t *j, *o;
    (void)st;

    j = devices_json(d);
    assert_int_equal(json_array_size(j), 0);
    json_decref(j);

    assert_int_equal(update(d, "pi-2", HUB__PRESENCE_ONLINE, 1000), 0);
    assert_int_equal(update(d, "esp10", HUB__PRESENCE_OFFLINE, 1001), 0);
    assert_int_equal(update(d, "esp1", HUB__PRESENCE_ONLINE, 1002), 0);
    assert_int_equal(update(d, "esp", HUB__PRESENCE_ONLINE, 1003), 0);
    assert_int_equal(hub__mqtt_devices_count(d), 4);

    /* Same state again: lastSeen moves, since stays. Change: both move. */
    assert_int_equal(update(d, "esp1", HUB__PRESENCE_ONLINE, 2000), 0);
    assert_int_equal(update(d, "esp10", HUB__PRESENCE_ONLINE, 3000), 0);

    j = devices_json(d);
    assert_int_equal(json_array_size(j), 4);
    static const char *const order[] = {"esp", "esp1", "esp10", "pi-2"};
    for (size_t i = 0; i < 4; i++)
        assert_string_equal(json_string_value(json_object_get(json_array_get(j, i), "id")),
                            order[i]);
    o = json_array_get(j, 1); /* esp1 */
    assert_string_equal(json_string_value(json_object_get(o, "state")), "online");
    assert_int_equal(json_integer_value(json_object_get(o, "since")), 1002);
    assert_int_equal(json_integer_value(json_object_get(o, "lastSeen")), 2000);
    o = json_array_get(j, 2); /* esp10 */
    assert_string_equal(json_string_value(json_object_get(o, "state")), "online");
    assert_int_equal(json_integer_value(json_object_get(o, "since")), 3000);
    json_decref(j);

    /* An empty retained payload removes the device; removing twice is fine. */
    assert_int_equal(update(d, "esp1", HUB__PRESENCE_CLEAR, 4000), 0);
    assert_int_equal(update(d, "esp1", HUB__PRESENCE_CLEAR, 4001), 0);
    assert_int_equal(update(d, "nobody", HUB__PRESENCE_CLEAR, 4002), 0);
    j = devices_json(d);
    assert_int_equal(json_array_size(j), 3);
    assert_string_equal(json_string_value(json_object_get(json_array_get(j, 1), "id")), "esp10");
    json_decref(j);

    assert_int_equal(update(d, "x", HUB__PRESENCE_INVALID, 1), HUB_EINVAL);
    assert_int_equal(update(d, "", HUB__PRESENCE_ONLINE, 1), HUB_EINVAL);
    assert_int_equal(hub__mqtt_devices_count(d), 3);
    hub__mqtt_devices_free(d);
}

static void test_table_cap(void **st)
{
    hub__mqtt_devices_t *d = hub__mqtt_devices_new(50);
    char id[16];
    json_t *j;
    (void)st;

    /* Insert in descending order so every insert shifts the array. */
    for (int i = 49; i >= 0; i--) {
        snprintf(id, sizeof(id), "dev%03d", i);
        assert_int_equal(update(d, id, HUB__PRESENCE_ONLINE, (uint64_t)i), 0);
    }
    assert_int_equal(update(d, "dev999", HUB__PRESENCE_ONLINE, 1), HUB_EOVERLOAD);
    /* Known devices still update when full; freeing a slot admits a new one. */
    assert_int_equal(update(d, "dev007", HUB__PRESENCE_OFFLINE, 99), 0);
    assert_int_equal(update(d, "dev000", HUB__PRESENCE_CLEAR, 99), 0);
    assert_int_equal(update(d, "dev999", HUB__PRESENCE_ONLINE, 99), 0);
    assert_int_equal(hub__mqtt_devices_count(d), 50);

    j = devices_json(d);
    assert_int_equal(json_array_size(j), 50);
    for (size_t i = 0; i + 1 < json_array_size(j); i++)
        assert_true(strcmp(json_string_value(json_object_get(json_array_get(j, i), "id")),
                           json_string_value(json_object_get(json_array_get(j, i + 1), "id"))) < 0);
    assert_string_equal(json_string_value(json_object_get(json_array_get(j, 0), "id")), "dev001");
    assert_string_equal(json_string_value(json_object_get(json_array_get(j, 49), "id")), "dev999");
    json_decref(j);
    hub__mqtt_devices_free(d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_utf8_accepts_valid),
        cmocka_unit_test(test_utf8_rejects_invalid),
        cmocka_unit_test(test_presence_forms),
        cmocka_unit_test(test_device_topic),
        cmocka_unit_test(test_table_sorted_since_and_clear),
        cmocka_unit_test(test_table_cap),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
