/* tests/unit/test_scene_model.c - domains/scenes model: scene files, action
 * lists, firing order, canonical JSON and the media command's argv.
 *
 * Refusals are table-driven, one named cmocka test per bad input. Each must
 * give HUB_ERR_INVALID, the listed err->field, a message that is one
 * printable-ASCII line starting with the file label, naming the field and
 * holding the listed substrings, and leave *out zeroed. Test JSON is written
 * with ' for " (swapped before parsing) so the tables stay readable.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "text_rig.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "core/err.h"
#include "core/jbuf.h"
#include "core/mem.h"
#include "domains/scenes/model.h"
#include "engine/intent.h"

#define FILE_LABEL     "room1_intro.scene.json"
#define FILE_NAME      "room1_intro"
#define SCENE(actions) "{'name':'room1_intro','room':'room1','actions':[" actions "]}"
#define EXAMPLE                                                                                    \
    "{'name':'room1_intro','room':'room1','actions':["                                             \
    "{'t_ms':0,'topic':'room1/light','message':'ON'},"                                             \
    "{'t_ms':2500,'topic':'room1/audio','message':'bg.mp3'},"                                      \
    "{'t_ms':5000,'topic':'room1/steam','message':'ON','device':'esp32_01'},"                      \
    "{'t_ms':6000,'intent':{'name':'transport.play','payload':{}}},"                               \
    "{'t_ms':10000,'command':{'device':'5d1f8b4b-7e85-44fb-8f38-3f5d5da5e2e4',"                    \
    "'action':'restart_app'}}]}"

/* ---- helpers ---- */

/* text with ' as " (the tables' quoting), parsed as every adapter does;
 * plus any root and NUL in strings, which trees built in memory may hold. */
static json_t *load(const char *text)
{
    char *s = strdup(text);
    json_error_t je;
    json_t *root;

    assert_non_null(s);
    for (char *p = s; *p; p++)
        if (*p == '\'')
            *p = '"';
    root = json_loads(s, HUB_JSON_FLAGS | JSON_DECODE_ANY | JSON_ALLOW_NUL, &je);
    free(s);
    if (root == NULL)
        fail_msg("bad test JSON: %s: %s", je.text, text);
    return root;
}

static void parse_ok(const char *text, const char *name, scn_scene_t *s)
{
    hub_error_t err = {0};
    json_t *root = load(text);

    if (scn_parse(root, name, FILE_LABEL, s, &err) != 0)
        fail_msg("refused: %s (field %s)", err.msg, err.field);
    json_decref(root);
}

static int is_zero(const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++)
        if (b[i])
            return 0;
    return 1;
}

/* The message contract: prefix first, one line, printable ASCII, the field
 * named, every want present. */
static void assert_refusal(int rc, const hub_error_t *err, const char *prefix, const char *field,
                           const char *const *want)
{
    assert_int_equal(rc, HUB_EINVAL);
    assert_int_equal(err->code, HUB_ERR_INVALID);
    if (strcmp(err->field, field) != 0)
        fail_msg("field \"%s\", want \"%s\" (message: %s)", err->field, field, err->msg);
    if (strncmp(err->msg, prefix, strlen(prefix)) != 0)
        fail_msg("message does not start with \"%s\": %s", prefix, err->msg);
    for (const char *c = err->msg; *c; c++)
        if ((unsigned char)*c < 0x20 || (unsigned char)*c > 0x7e)
            fail_msg("byte 0x%02x at %zu in: %s", (unsigned char)*c, (size_t)(c - err->msg),
                     err->msg);
    if (*field && strstr(err->msg, field) == NULL)
        fail_msg("message does not name %s: %s", field, err->msg);
    if (want)
        assert_has(err->msg, want);
}

static void parse_bad_tree(const json_t *root, const char *name, const char *field,
                           const char *const *want)
{
    hub_error_t err = {0};
    scn_scene_t s;
    int rc;

    memset(&s, 0xa5, sizeof(s));
    rc = scn_parse(root, name, FILE_LABEL, &s, &err);
    assert_refusal(rc, &err, FILE_LABEL ": ", field, want);
    assert_true(is_zero(&s, sizeof(s)));
    scn_scene_free(&s);
}

static void parse_bad(const char *text, const char *field, const char *const *want)
{
    json_t *root = load(text);
    parse_bad_tree(root, FILE_NAME, field, want);
    json_decref(root);
}

static char *render(const scn_scene_t *s)
{
    hub_jbuf_t b;

    hub_jbuf_init(&b);
    scn_render(&b, s);
    return hub_jbuf_take(&b, NULL);
}

static void assert_str_or_null(const char *a, const char *b)
{
    if (a == NULL || b == NULL)
        assert_ptr_equal(a, b);
    else
        assert_string_equal(a, b);
}

static void assert_scene_equal(const scn_scene_t *a, const scn_scene_t *b)
{
    assert_string_equal(a->name, b->name);
    assert_string_equal(a->room, b->room);
    assert_str_or_null(a->description, b->description);
    assert_int_equal(a->n, b->n);
    assert_int_equal(a->duration_ms, b->duration_ms);
    for (size_t i = 0; i < a->n; i++) {
        const scn_action_t *x = &a->actions[i], *y = &b->actions[i];
        assert_int_equal(x->index, y->index);
        assert_int_equal(x->kind, y->kind);
        assert_int_equal(x->t_ms, y->t_ms);
        assert_str_or_null(x->topic, y->topic);
        assert_str_or_null(x->message, y->message);
        assert_string_equal(x->room, y->room);
        assert_str_or_null(x->device, y->device);
        assert_str_or_null(x->intent, y->intent);
        assert_true((x->payload == NULL) == (y->payload == NULL));
        if (x->payload)
            assert_true(json_equal(x->payload, y->payload));
        assert_str_or_null(x->cmd_device, y->cmd_device);
        assert_str_or_null(x->cmd_action, y->cmd_action);
    }
}

/* parse(render(s)) == s, and rendering that again gives the same text. */
static void assert_round_trip(const scn_scene_t *s, const char *name)
{
    char *text = render(s), *again;
    hub_error_t err = {0};
    scn_scene_t t;
    json_error_t je;
    json_t *root = json_loads(text, HUB_JSON_FLAGS, &je);

    if (root == NULL)
        fail_msg("render is not JSON: %s: %s", je.text, text);
    if (s->room[0]) {
        if (scn_parse(root, name, FILE_LABEL, &t, &err) != 0)
            fail_msg("render refused: %s: %s", err.msg, text);
    } else {
        if (scn_parse_actions(json_object_get(root, "actions"), "on_start", &t, &err) != 0)
            fail_msg("render refused: %s: %s", err.msg, text);
    }
    assert_scene_equal(s, &t);
    again = render(&t);
    assert_string_equal(text, again);
    scn_scene_free(&t);
    json_decref(root);
    hub_free(text);
    hub_free(again);
}

/* ---- good files ---- */

static void test_example(void **state)
{
    scn_scene_t s;

    parse_ok(EXAMPLE, FILE_NAME, &s);
    assert_string_equal(s.name, "room1_intro");
    assert_string_equal(s.room, "room1");
    assert_null(s.description);
    assert_int_equal(s.n, 5);
    assert_int_equal(s.duration_ms, 10000);

    assert_int_equal(s.actions[0].kind, SCN_MQTT);
    assert_string_equal(s.actions[0].topic, "room1/light");
    assert_string_equal(s.actions[0].message, "ON");
    assert_string_equal(s.actions[0].room, "room1");
    assert_null(s.actions[0].device);

    assert_int_equal(s.actions[1].kind, SCN_LOCAL);
    assert_int_equal(s.actions[1].t_ms, 2500);
    assert_string_equal(s.actions[1].message, "bg.mp3");

    assert_int_equal(s.actions[2].kind, SCN_MQTT);
    assert_string_equal(s.actions[2].device, "esp32_01");

    assert_int_equal(s.actions[3].kind, SCN_INTENT);
    assert_string_equal(s.actions[3].intent, "transport.play");
    assert_true(json_is_object(s.actions[3].payload));
    assert_int_equal(json_object_size(s.actions[3].payload), 0);

    assert_int_equal(s.actions[4].kind, SCN_COMMAND);
    assert_string_equal(s.actions[4].cmd_device, "5d1f8b4b-7e85-44fb-8f38-3f5d5da5e2e4");
    assert_string_equal(s.actions[4].cmd_action, "restart_app");
    for (size_t i = 0; i < s.n; i++)
        assert_int_equal(s.actions[i].index, (int)i);
    scn_scene_free(&s);
    assert_true(is_zero(&s, sizeof(s)));
}

static void test_firing_order_is_stable(void **state)
{
    static const int want[] = {1, 4, 3, 0, 2};
    scn_scene_t s;

    parse_ok(SCENE("{'t_ms':500,'topic':'a/x','message':'0'},"
                   "{'t_ms':0,'topic':'a/x','message':'1'},"
                   "{'t_ms':500,'topic':'a/x','message':'2'},"
                   "{'t_ms':100,'topic':'a/x','message':'3'},"
                   "{'t_ms':0,'topic':'a/x','message':'4'}"),
             FILE_NAME, &s);
    assert_int_equal(s.n, 5);
    for (size_t i = 0; i < s.n; i++)
        assert_int_equal(s.actions[i].index, want[i]);
    assert_int_equal(s.duration_ms, 500);
    scn_scene_free(&s);
}

static void test_numbers(void **state)
{
    hub_error_t err = {0};
    scn_scene_t s;
    /* Built in memory: integers, and a whole real. */
    json_t *root = json_pack("{s:s,s:[{s:I,s:s,s:s},{s:f,s:s,s:s}]}", "room", "r", "actions",
                             "t_ms", (json_int_t)SCN_T_MS_MAX, "topic", "r/a", "message", "x",
                             "t_ms", 2500.0, "topic", "r/b", "message", "y");

    assert_non_null(root);
    assert_int_equal(scn_parse(root, NULL, NULL, &s, &err), 0);
    assert_int_equal(s.actions[0].t_ms, 2500);
    assert_int_equal(s.actions[1].t_ms, SCN_T_MS_MAX);
    assert_int_equal(s.duration_ms, SCN_T_MS_MAX);
    assert_string_equal(s.name, ""); /* no name given anywhere */
    scn_scene_free(&s);
    json_decref(root);

    parse_ok(
        SCENE("{'t_ms':1e3,'topic':'a/x','message':''},{'t_ms':-0,'topic':'a/x','message':''}"),
        FILE_NAME, &s);
    assert_int_equal(s.actions[0].t_ms, 0);
    assert_int_equal(s.actions[1].t_ms, 1000);
    assert_string_equal(s.actions[1].message, ""); /* an empty MQTT payload is a payload */
    scn_scene_free(&s);
}

static void test_name_from_file(void **state)
{
    scn_scene_t s;

    parse_ok("{'room':'room1','actions':[]}", FILE_NAME, &s);
    assert_string_equal(s.name, FILE_NAME);
    assert_int_equal(s.n, 0);
    assert_null(s.actions);
    assert_int_equal(s.duration_ms, 0);
    scn_scene_free(&s);

    parse_ok("{'name':'any-Name_1','room':'room1','actions':[]}", NULL, &s);
    assert_string_equal(s.name, "any-Name_1");
    scn_scene_free(&s);
}

static void test_topic_rooms(void **state)
{
    char *room = repeat('r', 64), *text = NULL;
    sb_t b = {0};
    scn_scene_t s;

    sb_add(&b,
           SCENE("{'t_ms':0,'topic':'museum-hall/a/b','message':'x'},"
                 "{'t_ms':0,'topic':'room.1/light','message':'x'},"
                 "{'t_ms':0,'topic':'%s/light','message':'x'},"
                 "{'t_ms':0,'topic':'r\\u00e4um/video','message':'caf\\u00e9 (1).mp4'}"),
           room);
    text = b.s;
    parse_ok(text, FILE_NAME, &s);
    assert_string_equal(s.actions[0].room, "museum-hall");
    assert_string_equal(s.actions[1].room, "room.1");
    assert_string_equal(s.actions[2].room, room);
    assert_string_equal(s.actions[3].room, "r\xc3\xa4um");
    assert_int_equal(s.actions[3].kind, SCN_LOCAL);
    assert_string_equal(s.actions[3].message, "caf\xc3\xa9 (1).mp4");
    scn_scene_free(&s);
    free(room);
    free(text);
}

static void test_description_kept(void **state)
{
    scn_scene_t s;
    char *text;

    parse_ok("{'room':'room1','description':'Intro:\\n\\u00e9t\\u00e9 \\'x\\'','actions':[]}",
             FILE_NAME, &s);
    assert_string_equal(s.description, "Intro:\n\xc3\xa9t\xc3\xa9 \"x\"");
    text = render(&s);
    assert_string_equal(text, "{\"name\":\"room1_intro\",\"room\":\"room1\",\"description\":"
                              "\"Intro:\\n\xc3\xa9t\xc3\xa9 \\\"x\\\"\",\"actions\":[]}");
    assert_round_trip(&s, FILE_NAME);
    hub_free(text);
    scn_scene_free(&s);
}

static void test_render_example(void **state)
{
    scn_scene_t s;
    char *text;

    /* File order differs from firing order; keys in any order. */
    parse_ok("{'actions':[{'message':'B','topic':'room1/b','t_ms':900,'device':'d1'},"
             "{'command':{'action':'reboot_host','device':'dev:1'},'t_ms':0},"
             "{'intent':{'payload':{'z':1,'a':[1.5,2,{'k':null}]},'name':'scene.run'},'t_ms':5}],"
             "'room':'room1','name':'room1_intro','description':'d'}",
             FILE_NAME, &s);
    text = render(&s);
    assert_string_equal(
        text, "{\"name\":\"room1_intro\",\"room\":\"room1\",\"description\":\"d\",\"actions\":["
              "{\"t_ms\":900,\"topic\":\"room1/b\",\"message\":\"B\",\"device\":\"d1\"},"
              "{\"t_ms\":0,\"command\":{\"device\":\"dev:1\",\"action\":\"reboot_host\"}},"
              "{\"t_ms\":5,\"intent\":{\"name\":\"scene.run\",\"payload\":"
              "{\"z\":1,\"a\":[1.5,2,{\"k\":null}]}}}]}");
    assert_round_trip(&s, FILE_NAME);
    hub_free(text);
    scn_scene_free(&s);
}

static void test_round_trip_example(void **state)
{
    scn_scene_t s;

    parse_ok(EXAMPLE, FILE_NAME, &s);
    assert_round_trip(&s, FILE_NAME);
    scn_scene_free(&s);
}

/* A payload is opaque: depth is the parser's business, not ours. */
static void test_deep_payload(void **state)
{
    enum { DEPTH = 1000 };
    sb_t b = {0};
    scn_scene_t s;

    sb_add(&b, "{'room':'r','actions':[{'t_ms':1,'intent':{'name':'x.y','payload':{'p':");
    for (int i = 0; i < DEPTH; i++)
        sb_add(&b, "[");
    sb_add(&b, "{'deep':1}");
    for (int i = 0; i < DEPTH; i++)
        sb_add(&b, "]");
    sb_add(&b, "}}}]}");
    parse_ok(b.s, NULL, &s);
    assert_int_equal(s.actions[0].kind, SCN_INTENT);
    assert_round_trip(&s, NULL);
    scn_scene_free(&s);
    free(b.s);
}

/* The payload is a copy: the caller's tree may go away or change. */
static void test_payload_owned(void **state)
{
    json_t *root = load(SCENE("{'t_ms':0,'intent':{'name':'a.b','payload':{'n':3}}}"));
    hub_error_t err = {0};
    scn_scene_t s;

    assert_int_equal(scn_parse(root, FILE_NAME, FILE_LABEL, &s, &err), 0);
    json_decref(root);
    assert_true(json_is_integer(json_object_get(s.actions[0].payload, "n")));
    assert_int_equal(json_integer_value(json_object_get(s.actions[0].payload, "n")), 3);
    scn_scene_free(&s);
}

static void test_max_actions(void **state)
{
    json_t *root = json_pack("{s:s,s:[]}", "room", "r", "actions");
    json_t *arr = json_object_get(root, "actions");
    hub_error_t err = {0};
    scn_scene_t s;

    for (int i = 0; i < SCN_ACTIONS_MAX; i++)
        json_array_append_new(arr, json_pack("{s:i,s:s,s:s}", "t_ms", SCN_ACTIONS_MAX - i, "topic",
                                             "r/x", "message", "m"));
    assert_int_equal(scn_parse(root, NULL, NULL, &s, &err), 0);
    assert_int_equal(s.n, SCN_ACTIONS_MAX);
    assert_int_equal(s.actions[0].index, SCN_ACTIONS_MAX - 1);
    assert_int_equal(s.duration_ms, SCN_ACTIONS_MAX);
    assert_round_trip(&s, NULL);
    scn_scene_free(&s);

    json_array_append_new(arr,
                          json_pack("{s:i,s:s,s:s}", "t_ms", 0, "topic", "r/x", "message", "m"));
    parse_bad_tree(root, NULL, "actions",
                   (const char *const[]){"actions has 1001 actions; at most 1000", NULL});
    json_decref(root);
}

static void test_sizes_at_the_limit(void **state)
{
    char *topic = repeat('t', SCN_TOPIC_MAX), *msg = repeat('m', SCN_MESSAGE_MAX);
    char *desc = repeat('d', SCN_DESCRIPTION_MAX);
    sb_t b = {0};
    scn_scene_t s;

    topic[4] = '/';
    sb_add(&b, "{'room':'r','description':'%s','actions':[{'t_ms':0,'topic':'%s','message':'%s'}]}",
           desc, topic, msg);
    parse_ok(b.s, NULL, &s);
    assert_int_equal(strlen(s.actions[0].topic), SCN_TOPIC_MAX);
    assert_int_equal(strlen(s.actions[0].message), SCN_MESSAGE_MAX);
    assert_int_equal(strlen(s.description), SCN_DESCRIPTION_MAX);
    scn_scene_free(&s);
    free(b.s);
    b = (sb_t){0};

    topic[SCN_TOPIC_MAX - 1] = '\0';
    sb_add(&b, SCENE("{'t_ms':0,'topic':'%sxx','message':'m'}"), topic);
    parse_bad(b.s, "actions[0].topic",
              (const char *const[]){"is 257 bytes long; at most 256", NULL});
    free(b.s);
    b = (sb_t){0};

    sb_add(&b, SCENE("{'t_ms':0,'topic':'a/b','message':'%sm'}"), msg);
    parse_bad(b.s, "actions[0].message",
              (const char *const[]){"is 4097 bytes long; at most 4096", NULL});
    free(b.s);
    b = (sb_t){0};

    sb_add(&b, "{'room':'r','description':'%sd','actions':[]}", desc);
    parse_bad(b.s, "description", (const char *const[]){"1025 bytes long; at most 1024", NULL});
    free(b.s);
    b = (sb_t){0};

    /* The room of a topic: its first level, 1-64 bytes. */
    memset(topic, 'r', 65);
    topic[65] = '\0';
    sb_add(&b, SCENE("{'t_ms':0,'topic':'%s/x','message':'m'}"), topic);
    parse_bad(b.s, "actions[0].topic", (const char *const[]){"first level", "65 bytes", NULL});
    free(b.s);
    free(topic);
    free(msg);
    free(desc);
}

/* ---- action lists (schedules' on_start / on_end) ---- */

static void test_action_list(void **state)
{
    json_t *arr = load("[{'topic':'room2/light','message':'OFF'},"
                       "{'intent':{'name':'scene.run','payload':{'name':'closing'}}},"
                       "{'t_ms':10,'command':{'device':'esp32_01','action':'shutdown_host'}}]");
    hub_error_t err = {0};
    scn_scene_t s;
    char *text;

    assert_int_equal(scn_parse_actions(arr, "on_end", &s, &err), 0);
    assert_string_equal(s.name, "");
    assert_string_equal(s.room, "");
    assert_int_equal(s.n, 3);
    assert_int_equal(s.actions[0].t_ms, 0);
    assert_int_equal(s.actions[2].t_ms, 10);
    assert_int_equal(s.duration_ms, 10);
    text = render(&s);
    assert_string_equal(text, "{\"actions\":["
                              "{\"t_ms\":0,\"topic\":\"room2/light\",\"message\":\"OFF\"},"
                              "{\"t_ms\":0,\"intent\":{\"name\":\"scene.run\",\"payload\":"
                              "{\"name\":\"closing\"}}},"
                              "{\"t_ms\":10,\"command\":{\"device\":\"esp32_01\","
                              "\"action\":\"shutdown_host\"}}]}");
    assert_round_trip(&s, NULL);
    hub_free(text);
    scn_scene_free(&s);
    json_decref(arr);
}

static void test_action_list_refusals(void **state)
{
    json_t *arr = load("[{'topic':'a/b','message':'x'},{'topic':'a/+','message':'x'}]");
    json_t *obj = load("{}");
    hub_error_t err = {0};
    scn_scene_t s;

    memset(&s, 0xa5, sizeof(s));
    /* No file label: the message starts with the field. */
    assert_refusal(scn_parse_actions(arr, "on_start", &s, &err), &err, "on_start[1].topic",
                   "on_start[1].topic", (const char *const[]){"'+'", NULL});
    assert_true(is_zero(&s, sizeof(s)));
    assert_refusal(scn_parse_actions(arr, NULL, &s, &err), &err, "actions[1].topic",
                   "actions[1].topic", NULL);
    assert_refusal(scn_parse_actions(obj, "on_end", &s, &err), &err, "on_end", "on_end",
                   (const char *const[]){"must be an array", "got an object", NULL});
    assert_refusal(scn_parse_actions(NULL, "on_end", &s, &err), &err, "on_end", "on_end", NULL);
    /* err may be NULL. */
    assert_int_equal(scn_parse_actions(arr, "on_start", &s, NULL), HUB_EINVAL);
    assert_int_equal(scn_parse(obj, NULL, NULL, &s, NULL), HUB_EINVAL);
    json_decref(arr);
    json_decref(obj);
}

/* ---- refusals, one test each ---- */

typedef struct bad {
    const char *name;
    const char *json;
    const char *field;
    const char *want[4];
} bad_t;

static const bad_t bads[] = {
    /* The root. */
    {"root_array", "[]", "", {"a scene must be a JSON object", "got an array"}},
    {"root_string", "'room1'", "", {"got \"room1\""}},
    {"root_null", "null", "", {"got null"}},
    {"missing_room", "{'actions':[]}", "room", {"room is missing"}},
    {"missing_actions", "{'room':'room1'}", "actions", {"actions is missing"}},
    {"unknown_root_key",
     "{'rom':'room1','room':'room1','actions':[]}",
     "rom",
     {"unknown field rom", "did you mean room?", "accepted: room, actions, name, description"}},
    {"unknown_key_escaped",
     "{'x\\u001b[2Jy':1,'room':'room1','actions':[]}",
     "x\\x1b[2Jy",
     {"unknown field"}},
    {"name_mismatch",
     "{'name':'other','room':'room1','actions':[]}",
     "name",
     {"\"other\"", "\"room1_intro\"", "does not match"}},
    {"name_bad_chars",
     "{'name':'room1 intro','room':'room1','actions':[]}",
     "name",
     {"\"room1 intro\"", "' ' at position 6", "1-64 characters"}},
    {"name_not_string", "{'name':5,'room':'room1','actions':[]}", "name", {"got 5"}},
    {"room_bad_chars", "{'room':'room/1','actions':[]}", "room", {"'/' at position 5"}},
    {"room_control_char", "{'room':'ro\\u0007m','actions':[]}", "room", {"\"ro\\x07m\""}},
    {"room_utf8", "{'room':'r\\u00e4um','actions':[]}", "room", {"\"r\\xc3\\xa4um\""}},
    {"room_empty", "{'room':'','actions':[]}", "room", {"is empty"}},
    {"room_too_long",
     "{'room':'r1234567890123456789012345678901234567890123456789012345678901234','actions':[]}",
     "room",
     {"65 bytes long", "...\""}},
    {"room_not_string", "{'room':['room1'],'actions':[]}", "room", {"got an array"}},
    {"description_not_string",
     "{'room':'r','description':{},'actions':[]}",
     "description",
     {"must be a string of at most 1024 bytes", "got an object"}},
    {"description_nul",
     "{'room':'r','description':'a\\u0000b','actions':[]}",
     "description",
     {"NUL"}},
    {"actions_object",
     "{'room':'room1','actions':{}}",
     "actions",
     {"must be an array of at most 1000 actions", "got an object"}},
    {"actions_string", "{'room':'room1','actions':'go'}", "actions", {"got \"go\""}},
    /* An action. */
    {"action_not_object", SCENE("5"), "actions[0]", {"must be an object", "got 5"}},
    {"action_error_index",
     SCENE("{'t_ms':0,'topic':'a/b','message':'x'},{'t_ms':1,'topic':'a/b','message':'x'},"
           "{'t_ms':2,'topic':'a/b','message':'x'},{'t_ms':-5,'topic':'a/b','message':'x'}"),
     "actions[3].t_ms",
     {FILE_LABEL ": actions[3].t_ms must be an integer 0..86400000, got -5"}},
    {"t_ms_string",
     SCENE("{'t_ms':'5','topic':'a/b','message':'x'}"),
     "actions[0].t_ms",
     {"got \"5\""}},
    {"t_ms_float",
     SCENE("{'t_ms':1.5,'topic':'a/b','message':'x'}"),
     "actions[0].t_ms",
     {"must be an integer 0..86400000, got 1.5"}},
    {"t_ms_negative",
     SCENE("{'t_ms':-1,'topic':'a/b','message':'x'}"),
     "actions[0].t_ms",
     {"got -1"}},
    {"t_ms_over_max",
     SCENE("{'t_ms':86400001,'topic':'a/b','message':'x'}"),
     "actions[0].t_ms",
     {"got 86400001"}},
    {"t_ms_huge",
     SCENE("{'t_ms':1e300,'topic':'a/b','message':'x'}"),
     "actions[0].t_ms",
     {"got 1e+300"}},
    {"t_ms_bool",
     SCENE("{'t_ms':true,'topic':'a/b','message':'x'}"),
     "actions[0].t_ms",
     {"got true"}},
    {"t_ms_missing", SCENE("{'topic':'a/b','message':'x'}"), "actions[0].t_ms", {"is missing"}},
    {"no_kind",
     SCENE("{'t_ms':0,'message':'x'}"),
     "actions[0]",
     {"needs one of topic, intent, command"}},
    {"two_kinds",
     SCENE("{'t_ms':0,'topic':'a/b','message':'x','intent':{'name':'a.b'}}"),
     "actions[0]",
     {"has both topic and intent", "exactly one"}},
    {"two_kinds_intent_command",
     SCENE("{'t_ms':0,'command':{'device':'d','action':'reboot_host'},'intent':{'name':'a.b'}}"),
     "actions[0]",
     {"both intent and command"}},
    {"unknown_action_key",
     SCENE("{'t_ms':0,'topic':'a/b','message':'x','foo':1}"),
     "actions[0].foo",
     {"unknown field actions[0].foo", "accepted: t_ms, topic, message, device, intent, command"}},
    {"action_key_typo",
     SCENE("{'t_ms':0,'topic':'a/b','mesage':'x'}"),
     "actions[0].mesage",
     {"did you mean message?"}},
    /* Topics. */
    {"topic_plus",
     SCENE("{'t_ms':0,'topic':'room1/+','message':'x'}"),
     "actions[0].topic",
     {"\"room1/+\"", "wildcard '+' at position 7"}},
    {"topic_hash",
     SCENE("{'t_ms':0,'topic':'room1/#','message':'x'}"),
     "actions[0].topic",
     {"wildcard '#'"}},
    {"topic_dollar",
     SCENE("{'t_ms':0,'topic':'$SYS/x','message':'x'}"),
     "actions[0].topic",
     {"starts with '$'"}},
    {"topic_slash",
     SCENE("{'t_ms':0,'topic':'/room1/light','message':'x'}"),
     "actions[0].topic",
     {"starts with '/'"}},
    {"topic_one_level",
     SCENE("{'t_ms':0,'topic':'room1','message':'x'}"),
     "actions[0].topic",
     {"one level"}},
    {"topic_status",
     SCENE("{'t_ms':0,'topic':'room1/status','message':'OK'}"),
     "actions[0].topic",
     {"ends in /status", "feedback"}},
    {"topic_device_status",
     SCENE("{'t_ms':0,'topic':'devices/esp32_01/status','message':'OK'}"),
     "actions[0].topic",
     {"ends in /status"}},
    {"topic_empty", SCENE("{'t_ms':0,'topic':'','message':'x'}"), "actions[0].topic", {"is empty"}},
    {"topic_nul",
     SCENE("{'t_ms':0,'topic':'room1/a\\u0000b','message':'x'}"),
     "actions[0].topic",
     {"\"room1/a\\x00b\"", "NUL"}},
    {"topic_not_string",
     SCENE("{'t_ms':0,'topic':1,'message':'x'}"),
     "actions[0].topic",
     {"must be a string", "got 1"}},
    /* Messages. */
    {"message_missing",
     SCENE("{'t_ms':0,'topic':'room1/light'}"),
     "actions[0].message",
     {"is missing"}},
    {"message_not_string",
     SCENE("{'t_ms':0,'topic':'room1/light','message':1}"),
     "actions[0].message",
     {"must be a string", "got 1"}},
    {"message_object",
     SCENE("{'t_ms':0,'topic':'room1/light','message':{'on':true}}"),
     "actions[0].message",
     {"got an object"}},
    {"message_nul",
     SCENE("{'t_ms':0,'topic':'room1/light','message':'O\\u0000N'}"),
     "actions[0].message",
     {"NUL"}},
    {"message_on_intent",
     SCENE("{'t_ms':0,'intent':{'name':'a.b'},'message':'x'}"),
     "actions[0].message",
     {"only for topic actions"}},
    {"message_on_command",
     SCENE("{'t_ms':0,'command':{'device':'d','action':'reboot_host'},'message':'x'}"),
     "actions[0].message",
     {"only for topic actions"}},
    /* Local media. */
    {"media_parent",
     SCENE("{'t_ms':0,'topic':'room1/audio','message':'../x'}"),
     "actions[0].message",
     {"\"../x\"", "not a media file", "plain file name"}},
    {"media_absolute",
     SCENE("{'t_ms':0,'topic':'room1/video','message':'/etc/passwd'}"),
     "actions[0].message",
     {"\"/etc/passwd\""}},
    {"media_hidden",
     SCENE("{'t_ms':0,'topic':'room1/audio','message':'.hidden'}"),
     "actions[0].message",
     {"\".hidden\""}},
    {"media_subdir",
     SCENE("{'t_ms':0,'topic':'room1/audio','message':'a/b'}"),
     "actions[0].message",
     {"\"a/b\""}},
    {"media_empty",
     SCENE("{'t_ms':0,'topic':'room1/audio','message':''}"),
     "actions[0].message",
     {"not a media file"}},
    {"media_newline",
     SCENE("{'t_ms':0,'topic':'room1/audio','message':'a\\nb'}"),
     "actions[0].message",
     {"\"a\\x0ab\""}},
    {"device_on_local",
     SCENE("{'t_ms':0,'topic':'room1/audio','message':'a.mp3','device':'d1'}"),
     "actions[0].device",
     {"local"}},
    /* Devices. */
    {"device_bad",
     SCENE("{'t_ms':0,'topic':'room1/light','message':'ON','device':'esp 32'}"),
     "actions[0].device",
     {"device id", "got \"esp 32\""}},
    {"device_not_string",
     SCENE("{'t_ms':0,'topic':'room1/light','message':'ON','device':1}"),
     "actions[0].device",
     {"got 1"}},
    {"device_on_intent",
     SCENE("{'t_ms':0,'intent':{'name':'a.b'},'device':'d1'}"),
     "actions[0].device",
     {"only for topic actions", "command.device"}},
    /* Intents. */
    {"intent_not_object",
     SCENE("{'t_ms':0,'intent':'transport.play'}"),
     "actions[0].intent",
     {"must be an object {name, payload?}", "got \"transport.play\""}},
    {"intent_no_dot",
     SCENE("{'t_ms':0,'intent':{'name':'play'}}"),
     "actions[0].intent.name",
     {"\"play\"", "no '.'"}},
    {"intent_upper",
     SCENE("{'t_ms':0,'intent':{'name':'Transport.play'}}"),
     "actions[0].intent.name",
     {"'T' at position 1"}},
    {"intent_name_missing",
     SCENE("{'t_ms':0,'intent':{'payload':{}}}"),
     "actions[0].intent.name",
     {"is missing"}},
    {"intent_name_long",
     SCENE("{'t_ms':0,'intent':{'name':'a.234567890123456789012345678901234567890123456789012345678"
           "901234'}}"),
     "actions[0].intent.name",
     {"65 bytes long"}},
    {"intent_payload_array",
     SCENE("{'t_ms':0,'intent':{'name':'a.b','payload':[1]}}"),
     "actions[0].intent.payload",
     {"must be an object", "got an array"}},
    {"intent_unknown_key",
     SCENE("{'t_ms':0,'intent':{'name':'a.b','args':{}}}"),
     "actions[0].intent.args",
     {"unknown field actions[0].intent.args", "accepted: name, payload"}},
    /* Commands. */
    {"command_bad_action",
     SCENE("{'t_ms':0,'command':{'device':'d1','action':'explode'}}"),
     "actions[0].command.action",
     {"must be one of reboot_host, shutdown_host, restart_app", "got \"explode\""}},
    {"command_action_nul",
     SCENE("{'t_ms':0,'command':{'device':'d1','action':'reboot_host\\u0000x'}}"),
     "actions[0].command.action",
     {"\"reboot_host\\x00x\""}},
    {"command_action_missing",
     SCENE("{'t_ms':0,'command':{'device':'d1'}}"),
     "actions[0].command.action",
     {"is missing"}},
    {"command_bad_device",
     SCENE("{'t_ms':0,'command':{'device':'../d','action':'reboot_host'}}"),
     "actions[0].command.device",
     {"got \"../d\""}},
    {"command_unknown_key",
     SCENE("{'t_ms':0,'command':{'device':'d1','action':'reboot_host','why':'x'}}"),
     "actions[0].command.why",
     {"accepted: device, action"}},
    {"command_not_object",
     SCENE("{'t_ms':0,'command':['d1','reboot_host']}"),
     "actions[0].command",
     {"got an array"}},
};

static void run_bad(void **state)
{
    const bad_t *b = *state;

    parse_bad(b->json, b->field, b->want);
}

/* ---- small functions ---- */

static void test_name_valid(void **state)
{
    char *n64 = repeat('a', 64);

    assert_true(scn_name_valid("room1", 5));
    assert_true(scn_name_valid("Room_1-b", 8));
    assert_true(scn_name_valid(n64, 64));
    assert_false(scn_name_valid("", 0));
    assert_false(scn_name_valid(NULL, 0));
    assert_false(scn_name_valid("a.b", 3));
    assert_false(scn_name_valid("a b", 3));
    assert_false(scn_name_valid("a\0b", 3));
    assert_false(scn_name_valid("r\xc3\xa4", 3));
    free(n64);
    n64 = repeat('a', 65);
    assert_false(scn_name_valid(n64, 65));
    free(n64);
}

static void test_is_local(void **state)
{
    assert_true(scn_is_local("room1/audio"));
    assert_true(scn_is_local("room1/video"));
    assert_true(scn_is_local("a/b/audio"));
    assert_false(scn_is_local("room1/audio2"));
    assert_false(scn_is_local("room1/Audio"));
    assert_false(scn_is_local("audio"));
    assert_false(scn_is_local("room1/light"));
    assert_false(scn_is_local(""));
    assert_false(scn_is_local(NULL));
}

static void test_media_file_valid(void **state)
{
    char *n = repeat('a', 256);

    assert_true(scn_media_file_valid("bg.mp3"));
    assert_true(scn_media_file_valid("a b;rm -rf ~ $(x).mp3"));
    assert_true(scn_media_file_valid("caf\xc3\xa9.mp4"));
    assert_true(scn_media_file_valid("a..b"));
    assert_false(scn_media_file_valid(n));
    n[255] = '\0';
    assert_true(scn_media_file_valid(n));
    assert_false(scn_media_file_valid("../x"));
    assert_false(scn_media_file_valid("/etc/passwd"));
    assert_false(scn_media_file_valid(".hidden"));
    assert_false(scn_media_file_valid("."));
    assert_false(scn_media_file_valid(".."));
    assert_false(scn_media_file_valid("a/b"));
    assert_false(scn_media_file_valid(""));
    assert_false(scn_media_file_valid(NULL));
    assert_false(scn_media_file_valid("a\nb"));
    assert_false(scn_media_file_valid("a\x1b[2Jb"));
    assert_false(scn_media_file_valid("a\x7f"));
    free(n);
}

/* ---- the media command ---- */

/* argv of tmpl for dir/file, checked against want (NULL-terminated). */
static void argv_is(const char *tmpl, const char *dir, const char *file, const char *const *want)
{
    hub_error_t err = {0};
    char **argv = NULL;
    size_t i;

    if (scn_media_argv(tmpl, dir, file, &argv, &err) != 0)
        fail_msg("refused %s: %s", tmpl, err.msg);
    for (i = 0; want[i]; i++) {
        if (argv[i] == NULL)
            fail_msg("%s: argv has %zu words, want more", tmpl, i);
        assert_string_equal(argv[i], want[i]);
    }
    assert_null(argv[i]);
    scn_argv_free(argv);
}

static void argv_bad(const char *tmpl, const char *file, const char *field, const char *want)
{
    hub_error_t err = {0};
    char **argv = (char **)&err; /* must stay untouched */

    assert_refusal(scn_media_argv(tmpl, "/srv/media", file, &argv, &err), &err, "", field,
                   (const char *const[]){want, NULL});
    assert_ptr_equal(argv, (char **)&err);
}

static void test_media_argv(void **state)
{
    argv_is("mpv --no-video {file}", "/srv/media", "bg.mp3",
            (const char *const[]){"mpv", "--no-video", "/srv/media/bg.mp3", NULL});
    argv_is("cvlc --play-and-exit \"{file}\"", "/srv/media", "a b.mp3",
            (const char *const[]){"cvlc", "--play-and-exit", "/srv/media/a b.mp3", NULL});
    argv_is("sh -c 'x {file}'", "/srv/media", "v.mp4",
            (const char *const[]){"sh", "-c", "x /srv/media/v.mp4", NULL});
    /* No {file}: the path goes last. */
    argv_is("  aplay\t-q  ", "/srv/media", "s.wav",
            (const char *const[]){"aplay", "-q", "/srv/media/s.wav", NULL});
    argv_is("play", "/srv/media/", "s.wav",
            (const char *const[]){"play", "/srv/media/s.wav", NULL});
    argv_is("play", NULL, "s.wav", (const char *const[]){"play", "s.wav", NULL});
    /* {file} anywhere in a word, as often as it appears. */
    argv_is("mpv --title={file}:{file}", "/m", "x.mp3",
            (const char *const[]){"mpv", "--title=/m/x.mp3:/m/x.mp3", NULL});
    /* Quotes: escapes only \" and \\ inside "…"; '…' takes all literally;
     * adjacent parts join; "" is a word. */
    argv_is("p \"a\\\"b\\\\c\\d\" 'e\\f\"g' --x=\"h i\"'j'k \"\" {file}", "/m", "f",
            (const char *const[]){"p", "a\"b\\c\\d", "e\\f\"g", "--x=h ijk", "", "/m/f", NULL});
    /* Outside quotes a backslash is an ordinary character. */
    argv_is("p a\\ b", "/m", "f", (const char *const[]){"p", "a\\", "b", "/m/f", NULL});
    /* A hostile name is one argument, never split or expanded. */
    argv_is("mpv {file}", "/m", "x; rm -rf ~ $(id) `id` *.mp3",
            (const char *const[]){"mpv", "/m/x; rm -rf ~ $(id) `id` *.mp3", NULL});
    /* A {file} in the file name is not substituted again. */
    argv_is("mpv {file}", "/m", "{file}.mp3", (const char *const[]){"mpv", "/m/{file}.mp3", NULL});
}

static void test_media_argv_refusals(void **state)
{
    hub_error_t err = {0};
    char **argv = NULL;

    argv_bad("", "a.mp3", "SCENE_MEDIA_COMMAND", "is empty");
    argv_bad(" \t\n", "a.mp3", "SCENE_MEDIA_COMMAND", "is empty");
    argv_bad(NULL, "a.mp3", "SCENE_MEDIA_COMMAND", "is empty");
    argv_bad("mpv \"{file}", "a.mp3", "SCENE_MEDIA_COMMAND", "\" quote at position 5");
    argv_bad("sh -c 'x {file}", "a.mp3", "SCENE_MEDIA_COMMAND", "' quote at position 7");
    argv_bad("mpv \"a\\\"", "a.mp3", "SCENE_MEDIA_COMMAND", "not closed");
    argv_bad("mpv {file}", "../x", "file", "plain file name");
    argv_bad("mpv {file}", "/etc/passwd", "file", "plain file name");
    argv_bad("mpv {file}", ".hidden", "file", "plain file name");
    argv_bad("mpv {file}", "a/b", "file", "plain file name");
    argv_bad("mpv {file}", "", "file", "plain file name");
    argv_bad("mpv {file}", "a\nb", "file", "plain file name");
    argv_bad("mpv {file}", NULL, "file", "plain file name");
    /* err may be NULL. */
    assert_int_equal(scn_media_argv("mpv '", "/m", "a", &argv, NULL), HUB_EINVAL);
    assert_int_equal(scn_media_argv("mpv", "/m", "../a", &argv, NULL), HUB_EINVAL);
    assert_null(argv);
    (void)err;
    scn_argv_free(NULL);
}

int main(void)
{
    static const struct CMUnitTest fixed[] = {
        cmocka_unit_test(test_example),
        cmocka_unit_test(test_firing_order_is_stable),
        cmocka_unit_test(test_numbers),
        cmocka_unit_test(test_name_from_file),
        cmocka_unit_test(test_topic_rooms),
        cmocka_unit_test(test_description_kept),
        cmocka_unit_test(test_render_example),
        cmocka_unit_test(test_round_trip_example),
        cmocka_unit_test(test_deep_payload),
        cmocka_unit_test(test_payload_owned),
        cmocka_unit_test(test_max_actions),
        cmocka_unit_test(test_sizes_at_the_limit),
        cmocka_unit_test(test_action_list),
        cmocka_unit_test(test_action_list_refusals),
        cmocka_unit_test(test_name_valid),
        cmocka_unit_test(test_is_local),
        cmocka_unit_test(test_media_file_valid),
        cmocka_unit_test(test_media_argv),
        cmocka_unit_test(test_media_argv_refusals),
    };
    size_t nfixed = sizeof(fixed) / sizeof(fixed[0]), nbad = sizeof(bads) / sizeof(bads[0]);
    struct CMUnitTest *tests = calloc(nfixed + nbad, sizeof(*tests));
    int rc;

    assert_non_null(tests);
    memcpy(tests, fixed, sizeof(fixed));
    for (size_t i = 0; i < nbad; i++) {
        tests[nfixed + i].name = bads[i].name;
        tests[nfixed + i].test_func = run_bad;
        tests[nfixed + i].initial_state = (void *)&bads[i];
    }
    rc = _cmocka_run_group_tests("test_scene_model", tests, nfixed + nbad, NULL, NULL);
    free(tests);
    return rc;
}
