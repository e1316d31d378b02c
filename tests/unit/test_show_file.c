/* tests/unit/test_show_file.c - domains/show/showfile: parsing, every refusal, references,
 * rendering, copies.
 *
 * Refusals are table-driven (one named cmocka test per bad-file kind). Each
 * parses the text with hub_show_parse and, when it is JSON, the tree with
 * hub_show_from_json; both must refuse with the same one printable-ASCII
 * line starting with the file name, holding the listed substrings (item,
 * field, bad value, what is accepted), leave *out zeroed and give the listed
 * JSON path as the field.
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
#include "domains/dmx/roles.h"
#include "domains/show/showfile.h"
#include "engine/intent.h"

#define FILE_NAME "opening.cue.json"
#define ERRLEN    1024
#define FIELDLEN  (HUB_FIELD_MAX + 1)

/* ---- helpers ---- */

static void parse_ok_len(const char *text, size_t len, hub_show_t *s)
{
    char err[ERRLEN] = "";
    if (hub_show_parse(text, len, FILE_NAME, s, err, sizeof(err)) != 0)
        fail_msg("refused: %s", err);
}

static void parse_ok(const char *text, hub_show_t *s)
{
    parse_ok_len(text, strlen(text), s);
}

static int is_zero(const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++)
        if (b[i])
            return 0;
    return 1;
}

/* The message contract: prefix first, one line, printable ASCII only. */
static void assert_one_safe_line(const char *err, const char *prefix)
{
    if (strncmp(err, prefix, strlen(prefix)) != 0)
        fail_msg("message does not start with \"%s\": %s", prefix, err);
    for (const char *c = err; *c; c++)
        if ((unsigned char)*c < 0x20 || (unsigned char)*c > 0x7e)
            fail_msg("byte 0x%02x at %zu in: %s", (unsigned char)*c, (size_t)(c - err), err);
}

static json_t *load(const char *text)
{
    json_error_t je;
    json_t *root = json_loadb(text, strlen(text), HUB_JSON_FLAGS, &je);
    if (root == NULL)
        fail_msg("bad test JSON: %s: %s", je.text, text);
    return root;
}

static void assert_cue_equal(const hub_show_cue_t *a, const hub_show_cue_t *b)
{
    assert_string_equal(a->id, b->id);
    assert_int_equal(a->t_ms, b->t_ms);
    assert_int_equal(a->fade_ms, b->fade_ms);
    assert_int_equal(a->curve, b->curve);
    assert_int_equal(a->nfixtures, b->nfixtures);
    for (size_t i = 0; i < a->nfixtures; i++)
        assert_string_equal(a->fixtures[i], b->fixtures[i]);
    assert_int_equal(a->nvalues, b->nvalues);
    for (size_t i = 0; i < a->nvalues; i++) {
        assert_int_equal(a->values[i].role, b->values[i].role);
        assert_int_equal(a->values[i].value, b->values[i].value);
    }
    assert_string_equal(a->poi, b->poi);
}

static void assert_effect_equal(const hub_show_effect_t *a, const hub_show_effect_t *b)
{
    assert_string_equal(a->id, b->id);
    assert_int_equal(a->t_ms, b->t_ms);
    assert_int_equal(a->dur_ms, b->dur_ms);
    assert_int_equal(a->nfixtures, b->nfixtures);
    for (size_t i = 0; i < a->nfixtures; i++)
        assert_string_equal(a->fixtures[i], b->fixtures[i]);
    assert_int_equal(a->effect, b->effect);
    assert_int_equal(a->params.period_ms, b->params.period_ms);
    assert_int_equal(a->params.role, b->params.role);
    assert_int_equal(a->params.min, b->params.min);
    assert_int_equal(a->params.max, b->params.max);
    /* Bit for bit: a round trip must not move a double by one ulp. */
    assert_memory_equal(&a->params.duty, &b->params.duty, sizeof(double));
    assert_memory_equal(&a->params.spread, &b->params.spread, sizeof(double));
}

static void assert_show_equal(const hub_show_t *a, const hub_show_t *b)
{
    assert_string_equal(a->name, b->name);
    assert_int_equal(a->duration_ms, b->duration_ms);
    assert_string_equal(a->audio, b->audio);
    assert_int_equal(a->ncues, b->ncues);
    for (size_t i = 0; i < a->ncues; i++)
        assert_cue_equal(&a->cues[i], &b->cues[i]);
    assert_int_equal(a->neffects, b->neffects);
    for (size_t i = 0; i < a->neffects; i++)
        assert_effect_equal(&a->effects[i], &b->effects[i]);
}

/* ---- valid files ---- */

static const char example[] =
    "{\"name\": \"opening\", \"duration_ms\": 180000, \"audio\": \"opening.mp3\",\n"
    " \"cues\": [{\"id\": \"c1\", \"t_ms\": 0, \"fixtures\": [\"par1\", \"par2\"],\n"
    "            \"values\": {\"red\": 255, \"dimmer\": 255}, \"fade_ms\": 2000,\n"
    "            \"curve\": \"linear\"},\n"
    "           {\"id\": \"c2\", \"t_ms\": 5000, \"fixtures\": [\"mover1\"],\n"
    "            \"poi\": \"stage_center\", \"fade_ms\": 500}],\n"
    " \"effects\": [{\"id\": \"e1\", \"t_ms\": 10000, \"dur_ms\": 8000,\n"
    "              \"fixtures\": [\"par1\", \"par2\"], \"effect\": \"chase\",\n"
    "              \"params\": {\"period_ms\": 500, \"role\": \"dimmer\"}}]}";

static const char example_canonical[] =
    "{\"name\":\"opening\",\"duration_ms\":180000,\"audio\":\"opening.mp3\",\"cues\":["
    "{\"id\":\"c1\",\"t_ms\":0,\"fixtures\":[\"par1\",\"par2\"],"
    "\"values\":{\"red\":255,\"dimmer\":255},\"fade_ms\":2000,\"curve\":\"linear\"},"
    "{\"id\":\"c2\",\"t_ms\":5000,\"fixtures\":[\"mover1\"],\"poi\":\"stage_center\","
    "\"fade_ms\":500,\"curve\":\"linear\"}],\"effects\":["
    "{\"id\":\"e1\",\"t_ms\":10000,\"dur_ms\":8000,\"fixtures\":[\"par1\",\"par2\"],"
    "\"effect\":\"chase\",\"params\":{\"period_ms\":500,\"role\":\"dimmer\",\"min\":0,"
    "\"max\":255}}]}";

static void test_example(void **state)
{
    hub_show_t s;
    const hub_show_cue_t *c;
    const hub_show_effect_t *e;

    parse_ok(example, &s);
    assert_string_equal(s.name, "opening");
    assert_int_equal(s.duration_ms, 180000);
    assert_string_equal(s.audio, "opening.mp3");
    assert_int_equal(s.ncues, 2);
    assert_int_equal(s.neffects, 1);

    c = &s.cues[0];
    assert_string_equal(c->id, "c1");
    assert_int_equal(c->t_ms, 0);
    assert_int_equal(c->nfixtures, 2);
    assert_string_equal(c->fixtures[0], "par1");
    assert_string_equal(c->fixtures[1], "par2");
    assert_int_equal(c->nvalues, 2);
    assert_int_equal(c->values[0].role, HUB_ROLE_RED); /* file order */
    assert_int_equal(c->values[0].value, 255);
    assert_int_equal(c->values[1].role, HUB_ROLE_DIMMER);
    assert_int_equal(c->values[1].value, 255);
    assert_int_equal(c->fade_ms, 2000);
    assert_int_equal(c->curve, HUB_CURVE_LINEAR);
    assert_string_equal(c->poi, "");

    c = &s.cues[1];
    assert_string_equal(c->id, "c2");
    assert_int_equal(c->t_ms, 5000);
    assert_int_equal(c->nfixtures, 1);
    assert_string_equal(c->fixtures[0], "mover1");
    assert_int_equal(c->nvalues, 0);
    assert_null(c->values);
    assert_string_equal(c->poi, "stage_center");
    assert_int_equal(c->fade_ms, 500);
    assert_int_equal(c->curve, HUB_CURVE_LINEAR); /* default */

    e = &s.effects[0];
    assert_string_equal(e->id, "e1");
    assert_int_equal(e->t_ms, 10000);
    assert_int_equal(e->dur_ms, 8000);
    assert_int_equal(e->nfixtures, 2);
    assert_string_equal(e->fixtures[1], "par2");
    assert_int_equal(e->effect, HUB_FX_CHASE);
    assert_int_equal(e->params.period_ms, 500);
    assert_int_equal(e->params.role, HUB_ROLE_DIMMER);
    assert_int_equal(e->params.min, 0);
    assert_int_equal(e->params.max, 255);
    assert_true(e->params.duty == 0);
    assert_true(e->params.spread == 0);

    hub_show_free(&s);
    assert_true(is_zero(&s, sizeof(s)));
    hub_show_free(&s); /* zeroed: fine */
    hub_show_free(NULL);
}

static void test_minimal_and_defaults(void **state)
{
    hub_show_t s;

    parse_ok("{\"name\":\"a\",\"duration_ms\":1}", &s);
    assert_string_equal(s.name, "a");
    assert_int_equal(s.duration_ms, 1);
    assert_string_equal(s.audio, "");
    assert_int_equal(s.ncues, 0);
    assert_null(s.cues);
    assert_int_equal(s.neffects, 0);
    assert_null(s.effects);
    hub_show_free(&s);

    parse_ok("{\"name\":\"a\",\"duration_ms\":86400000,\"audio\":null,\"cues\":[],\"effects\":[]}",
             &s);
    assert_int_equal(s.duration_ms, HUB_SHOW_DURATION_MAX);
    assert_string_equal(s.audio, "");
    assert_int_equal(s.ncues + s.neffects, 0);
    hub_show_free(&s);

    /* Cue defaults: fade 0, linear, no poi; the bounds are inclusive. */
    parse_ok("{\"name\":\"a\",\"duration_ms\":100,\"cues\":[{\"id\":\"x\",\"t_ms\":100,"
             "\"fixtures\":[\"f\"],\"values\":{\"generic\":0},\"curve\":\"step\"},"
             "{\"id\":\"y\",\"t_ms\":0,\"fixtures\":[\"f\"],\"values\":{\"red\":1},"
             "\"fade_ms\":100,\"curve\":\"ease_in_out\"}]}",
             &s);
    assert_int_equal(s.cues[0].t_ms, 100);
    assert_int_equal(s.cues[0].fade_ms, 0);
    assert_int_equal(s.cues[0].curve, HUB_CURVE_STEP);
    assert_int_equal(s.cues[0].values[0].role, HUB_ROLE_GENERIC);
    assert_int_equal(s.cues[0].values[0].value, 0);
    assert_string_equal(s.cues[0].poi, "");
    assert_int_equal(s.cues[1].fade_ms, 100);
    assert_int_equal(s.cues[1].curve, HUB_CURVE_EASE_IN_OUT);
    hub_show_free(&s);
}

static void test_params_defaults(void **state)
{
    static const struct {
        const char *name;
        int fx;
        hub_show_params_t want;
    } table[] = {
        {"pulse", HUB_FX_PULSE, {1000, HUB_ROLE_DIMMER, 0, 255, 0, 0}},
        {"chase", HUB_FX_CHASE, {500, HUB_ROLE_DIMMER, 0, 255, 0, 0}},
        {"rainbow", HUB_FX_RAINBOW, {3000, -1, 0, 255, 0, 1}},
        {"strobe", HUB_FX_STROBE, {100, HUB_ROLE_DIMMER, 0, 255, 0.5, 0}},
        {"sine", HUB_FX_SINE, {2000, HUB_ROLE_DIMMER, 0, 255, 0, 0}},
    };
    char text[512];

    for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++) {
        hub_show_params_t p;
        hub_show_t s;
        memset(&p, 0xa5, sizeof(p));
        hub_show_params_default(table[i].fx, &p);
        assert_int_equal(p.period_ms, table[i].want.period_ms);
        assert_int_equal(p.role, table[i].want.role);
        assert_int_equal(p.min, table[i].want.min);
        assert_int_equal(p.max, table[i].want.max);
        assert_true(p.duty == table[i].want.duty);
        assert_true(p.spread == table[i].want.spread);
        assert_int_equal(hub_show_effect_parse(table[i].name), table[i].fx);
        assert_string_equal(hub_show_effect_name(table[i].fx), table[i].name);

        /* No params (and an empty params object) give the same. */
        for (int empty = 0; empty < 2; empty++) {
            snprintf(text, sizeof(text),
                     "{\"name\":\"a\",\"duration_ms\":10,\"effects\":[{\"id\":\"e\",\"t_ms\":0,"
                     "\"dur_ms\":10,\"fixtures\":[\"f\"],\"effect\":\"%s\"%s}]}",
                     table[i].name, empty ? ",\"params\":{}" : "");
            parse_ok(text, &s);
            assert_int_equal(s.effects[0].effect, table[i].fx);
            assert_memory_equal(&s.effects[0].params, &p, sizeof(p));
            hub_show_free(&s);
        }
    }
    {
        hub_show_params_t p;
        hub_show_params_default(HUB_FX_COUNT, &p); /* not an effect: zeros, no role */
        assert_int_equal(p.period_ms, 0);
        assert_int_equal(p.role, -1);
        assert_int_equal(p.max, 0);
    }
}

static void test_params_given(void **state)
{
    hub_show_t s;
    const hub_show_params_t *p;

    parse_ok("{\"name\":\"a\",\"duration_ms\":10000,\"effects\":["
             "{\"id\":\"p\",\"t_ms\":0,\"dur_ms\":1,\"fixtures\":[\"f\"],\"effect\":\"pulse\","
             "\"params\":{\"spread\":0.25,\"period_ms\":1,\"role\":\"uv\",\"min\":7,\"max\":7}},"
             "{\"id\":\"r\",\"t_ms\":1,\"dur_ms\":9999,\"fixtures\":[\"f\"],\"effect\":\"rainbow\","
             "\"params\":{\"period_ms\":3600000,\"max\":0,\"spread\":0}},"
             "{\"id\":\"s\",\"t_ms\":0,\"dur_ms\":10000,\"fixtures\":[\"f\"],\"effect\":\"strobe\","
             "\"params\":{\"duty\":1,\"min\":0,\"max\":255}},"
             "{\"id\":\"n\",\"t_ms\":0,\"dur_ms\":5,\"fixtures\":[\"f\"],\"effect\":\"sine\","
             "\"params\":{\"spread\":1,\"role\":\"color_wheel\"}}]}",
             &s);
    p = &s.effects[0].params;
    assert_int_equal(p->period_ms, 1);
    assert_int_equal(p->role, HUB_ROLE_UV);
    assert_int_equal(p->min, 7);
    assert_int_equal(p->max, 7); /* min == max is fine */
    assert_true(p->spread == 0.25);
    assert_true(p->duty == 0); /* does not apply: the type's default */
    p = &s.effects[1].params;
    assert_int_equal(p->period_ms, 3600000);
    assert_int_equal(p->role, -1);
    assert_int_equal(p->min, 0);
    assert_int_equal(p->max, 0);
    assert_true(p->spread == 0);
    assert_int_equal(s.effects[1].t_ms + s.effects[1].dur_ms, 10000); /* ends exactly at the end */
    p = &s.effects[2].params;
    assert_true(p->duty == 1);
    p = &s.effects[3].params;
    assert_int_equal(p->role, HUB_ROLE_COLOR_WHEEL);
    assert_int_equal(p->period_ms, 2000);
    assert_true(p->spread == 1);
    hub_show_free(&s);
}

/* Integers built in memory (json_pack "i", intents after normalizing) are
 * numbers as good as the reals the parser makes. */
static void test_integers_in_memory(void **state)
{
    char err[ERRLEN], field[FIELDLEN];
    json_t *root = json_pack("{s:s,s:I,s:[{s:s,s:i,s:[s],s:{s:i},s:i}]}", "name", "x",
                             "duration_ms", (json_int_t)1000, "cues", "id", "c", "t_ms", 10,
                             "fixtures", "f", "values", "red", 200, "fade_ms", 5);
    hub_show_t s;

    assert_non_null(root);
    assert_int_equal(
        hub_show_from_json(root, FILE_NAME, &s, err, sizeof(err), field, sizeof(field)), 0);
    assert_int_equal(s.duration_ms, 1000);
    assert_int_equal(s.cues[0].t_ms, 10);
    assert_int_equal(s.cues[0].values[0].value, 200);
    assert_int_equal(s.cues[0].fade_ms, 5);
    hub_show_free(&s);
    json_decref(root);

    root = json_pack("{s:s,s:I}", "name", "x", "duration_ms", (json_int_t)INT64_MAX);
    assert_int_equal(
        hub_show_from_json(root, FILE_NAME, &s, err, sizeof(err), field, sizeof(field)),
        HUB_EINVAL);
    assert_has(err, (const char *const[]){"\"duration_ms\" 9223372036854775807 is out of range "
                                          "1..86400000",
                                          NULL});
    assert_string_equal(field, "duration_ms");
    json_decref(root);
}

static void test_len_is_respected(void **state)
{
    static const char buf[] = "{\"name\":\"a\",\"duration_ms\":5}GARBAGE";
    hub_show_t s;

    parse_ok_len(buf, strlen("{\"name\":\"a\",\"duration_ms\":5}"), &s);
    assert_int_equal(s.duration_ms, 5);
    hub_show_free(&s);
}

/* 50000 cues + 50000 effects: the item limit exactly; ids are checked with
 * a hash, so this is linear. */
static char *big_show(size_t ncues, size_t neffects)
{
    sb_t b = {0};

    sb_add(&b, "{\"name\":\"big\",\"duration_ms\":86400000,\"cues\":[");
    for (size_t i = 0; i < ncues; i++)
        sb_add(&b, "%s{\"id\":\"c%zu\",\"t_ms\":%zu,\"fixtures\":[\"f\"],\"values\":{\"red\":1}}",
               i ? "," : "", i, i);
    sb_add(&b, "],\"effects\":[");
    for (size_t i = 0; i < neffects; i++)
        sb_add(&b,
               "%s{\"id\":\"e%zu\",\"t_ms\":%zu,\"dur_ms\":1,\"fixtures\":[\"f\"],"
               "\"effect\":\"sine\"}",
               i ? "," : "", i, i);
    sb_add(&b, "]}");
    return b.s;
}

static void test_big_show(void **state)
{
    char *text = big_show(HUB_SHOW_MAX_ITEMS / 2, HUB_SHOW_MAX_ITEMS / 2);
    hub_show_t s;

    parse_ok(text, &s);
    assert_int_equal(s.ncues + s.neffects, HUB_SHOW_MAX_ITEMS);
    assert_string_equal(s.cues[49999].id, "c49999");
    assert_string_equal(s.effects[49999].id, "e49999");
    assert_true(hub_show_id_taken(&s, "e12345", -1, -1));
    hub_show_free(&s);
    free(text);
}

/* ---- names ---- */

static void test_names(void **state)
{
    char *n64 = repeat('a', 64), *n65 = repeat('a', 65);

    assert_true(hub_show_name_valid("opening", 7));
    assert_true(hub_show_name_valid("Act_1.part-2", 12));
    assert_false(hub_show_name_valid("...", 3)); /* a hidden file: never listed */
    assert_false(hub_show_name_valid(".x", 2));
    assert_true(hub_show_name_valid("x.", 2));
    assert_true(hub_show_name_valid(n64, 64));
    assert_false(hub_show_name_valid(n65, 65));
    assert_false(hub_show_name_valid(".", 1));
    assert_false(hub_show_name_valid("..", 2));
    assert_false(hub_show_name_valid("", 0));
    assert_false(hub_show_name_valid("a/b", 3));
    assert_false(hub_show_name_valid("a b", 3));
    assert_false(hub_show_name_valid("a\0b", 3)); /* len, not strlen */
    assert_false(hub_show_name_valid("caf\xc3\xa9", 5));
    assert_false(hub_show_name_valid(NULL, 0));
    assert_true(hub_show_name_valid("ab/", 2)); /* only len bytes are read */

    assert_true(hub_show_id_valid("c1", 2));
    assert_true(hub_show_id_valid(".", 1)); /* ids are not file names */
    assert_true(hub_show_id_valid("..", 2));
    assert_true(hub_show_id_valid(n64, 64));
    assert_false(hub_show_id_valid(n65, 65));
    assert_false(hub_show_id_valid("", 0));
    assert_false(hub_show_id_valid("a:b", 3));
    free(n64);
    free(n65);

    assert_int_equal(hub_show_curve_parse("step"), HUB_CURVE_STEP);
    assert_int_equal(hub_show_curve_parse("linear"), HUB_CURVE_LINEAR);
    assert_int_equal(hub_show_curve_parse("ease_in_out"), HUB_CURVE_EASE_IN_OUT);
    assert_int_equal(hub_show_curve_parse("Linear"), -1);
    assert_int_equal(hub_show_curve_parse(""), -1);
    assert_int_equal(hub_show_curve_parse(NULL), -1);
    assert_string_equal(hub_show_curve_name(HUB_CURVE_EASE_IN_OUT), "ease_in_out");
    assert_null(hub_show_curve_name(HUB_CURVE_COUNT));
    assert_null(hub_show_curve_name(-1));
    assert_int_equal(hub_show_effect_parse("wave"), -1);
    assert_int_equal(hub_show_effect_parse(NULL), -1);
    assert_null(hub_show_effect_name(HUB_FX_COUNT));
    assert_null(hub_show_effect_name(-1));
}

/* ---- refusals, one per kind ---- */

typedef struct bad_case {
    const char *name;
    const char *json;          /* or NULL and make() */
    char *(*make)(void);       /* malloc'd text */
    const char *const want[5]; /* substrings of the message */
    const char *field;         /* the JSON path; NULL when the text is not JSON */
} bad_case_t;

#define P          FILE_NAME ": "
#define SHOW(m)    "{\"name\":\"opening\",\"duration_ms\":180000" m "}"
#define CUES(b)    SHOW(",\"cues\":[" b "]")
#define EFFECTS(b) SHOW(",\"effects\":[" b "]")
#define CUE_OK(id) "{\"id\":\"" id "\",\"t_ms\":0,\"fixtures\":[\"par1\"],\"values\":{\"red\":1}}"
#define FX_OK(id)                                                                                  \
    "{\"id\":\"" id "\",\"t_ms\":0,\"dur_ms\":10,\"fixtures\":[\"par1\"],\"effect\":\"pulse\"}"
/* The third cue, "c3", with members m after id, t_ms, fixtures. */
#define CUE3(m)                                                                                    \
    CUES(CUE_OK("c1") "," CUE_OK("c2") ",{\"id\":\"c3\",\"t_ms\":0,\"fixtures\":[\"par1\"]" m "}")
#define CUE3V(m) CUE3(",\"values\":{\"red\":1}" m)
/* The second effect, "e1", of kind k with members m after the required ones. */
#define FX1(k, m)                                                                                  \
    EFFECTS(FX_OK("e0") ",{\"id\":\"e1\",\"t_ms\":0,\"dur_ms\":1000,\"fixtures\":[\"par1\"],"      \
                        "\"effect\":\"" k "\"" m "}")
#define C3 P "cue \"c3\" (cues[2]): "
#define E1 P "effect \"e1\" (effects[1]): "
#define ROLES                                                                                      \
    "accepted: red green blue white amber uv dimmer strobe pan pan_fine tilt tilt_fine zoom "      \
    "focus gobo color_wheel generic"

static char *make_audio_256(void)
{
    char *a = repeat('a', 256);
    sb_t b = {0};
    sb_add(&b, SHOW(",\"audio\":\"%s\""), a);
    free(a);
    return b.s;
}

static char *make_items_over(void)
{
    sb_t b = {0};
    sb_add(&b, "{\"name\":\"opening\",\"duration_ms\":180000,\"cues\":[");
    for (int i = 0; i < 50001; i++)
        sb_add(&b, "%s{}", i ? "," : "");
    sb_add(&b, "],\"effects\":[");
    for (int i = 0; i < 50000; i++)
        sb_add(&b, "%s{}", i ? "," : "");
    sb_add(&b, "]}");
    return b.s;
}

static char *make_fixtures(int n, int dup_at, int dup_of)
{
    sb_t b = {0};
    sb_add(&b, "{\"name\":\"opening\",\"duration_ms\":180000,\"cues\":["
               "{\"id\":\"c1\",\"t_ms\":0,\"values\":{\"red\":1},\"fixtures\":[");
    for (int i = 0; i < n; i++)
        sb_add(&b, "%s\"f%d\"", i ? "," : "", i == dup_at ? dup_of : i);
    sb_add(&b, "]}]}");
    return b.s;
}

static char *make_dup_fixture_long(void)
{
    return make_fixtures(20, 15, 3);
}

static char *make_fixtures_4097(void)
{
    return make_fixtures(HUB_SHOW_MAX_FIXTURES + 1, -1, 0);
}

static char *make_id_10k(void)
{
    char *id = repeat('x', 10000);
    sb_t b = {0};
    sb_add(&b, CUES("{\"id\":\"%s\",\"t_ms\":0,\"fixtures\":[\"par1\"],\"values\":{\"red\":1}}"),
           id);
    free(id);
    return b.s;
}

static char *make_key_10k(void)
{
    char *k = repeat('k', 10000);
    sb_t b = {0};
    sb_add(&b, SHOW(",\"%s\":1"), k);
    free(k);
    return b.s;
}

static char *make_fixture_100k(void)
{
    char *n = repeat('y', 100000);
    sb_t b = {0};
    sb_add(&b, CUES("{\"id\":\"c1\",\"t_ms\":0,\"fixtures\":[\"%s\"],\"values\":{\"red\":1}}"), n);
    free(n);
    return b.s;
}

static char *make_curve_10k(void)
{
    char *n = repeat('z', 10000);
    sb_t b = {0};
    sb_add(&b,
           CUES(CUE_OK("c1") ",{\"id\":\"c2\",\"t_ms\":0,\"fixtures\":[\"par1\"],"
                             "\"values\":{\"red\":1},\"curve\":\"%s\"}"),
           n);
    free(n);
    return b.s;
}

static char *make_deep_nesting(void)
{
    sb_t b = {0};
    sb_add(&b, "{\"name\":\"a\",\"duration_ms\":1,\"effects\":");
    for (int i = 0; i < 100000; i++)
        sb_add(&b, "[");
    for (int i = 0; i < 100000; i++)
        sb_add(&b, "]");
    sb_add(&b, "}");
    return b.s;
}

static const bad_case_t bad_cases[] = {
    /* JSON and the root */
    {"not JSON", "{\"name\":", NULL, {P "not valid JSON at line 1", NULL}, NULL},
    {"empty file", "", NULL, {P "the file is empty", NULL}, NULL},
    {"trailing garbage", SHOW("") " x", NULL, {P "not valid JSON at line 1", NULL}, NULL},
    {"duplicate key",
     "{\"name\":\"a\",\"name\":\"b\",\"duration_ms\":1}",
     NULL,
     {"not valid JSON", "duplicate object key", NULL},
     NULL},
    {"top level array",
     "[1,2]",
     NULL,
     {P "the top level must be an object with name and duration_ms, got an array", NULL},
     ""},
    {"top level number", "3", NULL, {P "the top level must be an object", "got 3", NULL}, ""},
    {"missing name",
     "{\"duration_ms\":1000}",
     NULL,
     {P "\"name\" is missing (required: name, duration_ms)", NULL},
     "name"},
    {"name not a string",
     "{\"name\":5,\"duration_ms\":1}",
     NULL,
     {P "\"name\" must be a string of 1-64 characters from A-Z a-z 0-9 _ . -, got 5", NULL},
     "name"},
    {"name with slash",
     "{\"name\":\"a/b\",\"duration_ms\":1}",
     NULL,
     {P "\"name\" \"a/b\" has the character '/' at position 2; a show name is", NULL},
     "name"},
    {"name dotdot",
     "{\"name\":\"..\",\"duration_ms\":1}",
     NULL,
     {P "\"name\" \"..\" is not a name", "not starting with \".\"", NULL},
     "name"},
    {"name empty",
     "{\"name\":\"\",\"duration_ms\":1}",
     NULL,
     {"\"name\" \"\" is empty", NULL},
     "name"},
    {"missing duration",
     "{\"name\":\"a\"}",
     NULL,
     {P "\"duration_ms\" is missing (required: name, duration_ms)", NULL},
     "duration_ms"},
    {"duration zero",
     "{\"name\":\"a\",\"duration_ms\":0}",
     NULL,
     {P "\"duration_ms\" 0 is out of range 1..86400000", NULL},
     "duration_ms"},
    {"duration too big",
     "{\"name\":\"a\",\"duration_ms\":86400001}",
     NULL,
     {P "\"duration_ms\" 86400001 is out of range 1..86400000", NULL},
     "duration_ms"},
    {"duration 1.5",
     "{\"name\":\"a\",\"duration_ms\":1.5}",
     NULL,
     {P "\"duration_ms\" 1.5 is not an integer; accepted: 1..86400000", NULL},
     "duration_ms"},
    {"duration string",
     "{\"name\":\"a\",\"duration_ms\":\"1000\"}",
     NULL,
     {P "\"duration_ms\" must be an integer 1..86400000, got \"1000\"", NULL},
     "duration_ms"},
    {"duration 1e300",
     "{\"name\":\"a\",\"duration_ms\":1e300}",
     NULL,
     {P "\"duration_ms\" 1e+300 is out of range 1..86400000", NULL},
     "duration_ms"},
    {"duration 1e400",
     "{\"name\":\"a\",\"duration_ms\":1e400}",
     NULL,
     {"not valid JSON", NULL},
     NULL},
    {"unknown root member",
     SHOW(",\"loop\":true"),
     NULL,
     {P "unknown member \"loop\" (accepted: name, duration_ms, audio, cues, effects)", NULL},
     "loop"},
    {"audio with slash",
     SHOW(",\"audio\":\"music/a.mp3\""),
     NULL,
     {P "\"audio\" \"music/a.mp3\" has a '/' at position 6; use a plain file name", NULL},
     "audio"},
    {"audio hidden",
     SHOW(",\"audio\":\".a.mp3\""),
     NULL,
     {P "\"audio\" \".a.mp3\" starts with '.'", NULL},
     "audio"},
    {"audio dotdot",
     SHOW(",\"audio\":\"..\""),
     NULL,
     {"\"audio\" \"..\" starts with '.'", NULL},
     "audio"},
    {"audio empty", SHOW(",\"audio\":\"\""), NULL, {"\"audio\" \"\" is empty", NULL}, "audio"},
    {"audio control character",
     SHOW(",\"audio\":\"a\\u001bb.mp3\""),
     NULL,
     {"\"audio\" \"a\\x1bb.mp3\" has a control character at position 2", NULL},
     "audio"},
    {"audio number",
     SHOW(",\"audio\":5"),
     NULL,
     {P "\"audio\" must be null or a plain file name", "got 5", NULL},
     "audio"},
    {"audio 256 bytes",
     NULL,
     make_audio_256,
     {"\"audio\" \"aaaa", "is 256 bytes long", NULL},
     "audio"},
    {"cues not an array",
     SHOW(",\"cues\":{}"),
     NULL,
     {P "\"cues\" must be an array of cue objects, got an object", NULL},
     "cues"},
    {"effects not an array",
     SHOW(",\"effects\":null"),
     NULL,
     {P "\"effects\" must be an array of effect objects, got null", NULL},
     "effects"},
    {"too many items",
     NULL,
     make_items_over,
     {P "\"cues\" and \"effects\" hold 100001 items; at most 100000 are accepted", NULL},
     "cues"},

    /* cues: shape and ids */
    {"cue not an object",
     CUES(CUE_OK("c1") "," CUE_OK("c2") ",5"),
     NULL,
     {P "cues[2]: a cue must be an object, got 5", NULL},
     "cues[2]"},
    {"unknown cue member",
     CUE3V(",\"fade\":100"),
     NULL,
     {C3 "unknown member \"fade\" (accepted: id, t_ms, fixtures, values, poi, fade_ms, curve)",
      NULL},
     "cues[2].fade"},
    {"missing id",
     CUES(CUE_OK("c1") ",{\"t_ms\":0,\"fixtures\":[\"par1\"],\"values\":{\"red\":1}}"),
     NULL,
     {P "cues[1]: \"id\" is missing (required: id, t_ms, fixtures)", NULL},
     "cues[1].id"},
    {"missing t_ms",
     CUES("{\"id\":\"c1\",\"fixtures\":[\"par1\"],\"values\":{\"red\":1}}"),
     NULL,
     {P "cue \"c1\" (cues[0]): \"t_ms\" is missing (required: id, t_ms, fixtures)", NULL},
     "cues[0].t_ms"},
    {"missing fixtures",
     CUES("{\"id\":\"c1\",\"t_ms\":0,\"values\":{\"red\":1}}"),
     NULL,
     {"cue \"c1\" (cues[0]): \"fixtures\" is missing", NULL},
     "cues[0].fixtures"},
    {"bad id",
     CUES("{\"id\":\"c 1\",\"t_ms\":0,\"fixtures\":[\"par1\"],\"values\":{\"red\":1}}"),
     NULL,
     {P "cues[0]: \"id\" \"c 1\" has the character ' ' at position 2; an id is 1-64 characters "
        "from A-Z a-z 0-9 _ . -",
      NULL},
     "cues[0].id"},
    {"id not a string",
     CUES("{\"id\":7,\"t_ms\":0,\"fixtures\":[\"par1\"],\"values\":{\"red\":1}}"),
     NULL,
     {P "cues[0]: \"id\" must be a string of 1-64 characters", "got 7", NULL},
     "cues[0].id"},
    {"duplicate id cue/cue",
     CUES(CUE_OK("c1") "," CUE_OK("c2") "," CUE_OK("c1")),
     NULL,
     {P "cue \"c1\" (cues[2]): \"id\" \"c1\" is already used by cues[0]; ids are unique across "
        "cues and effects",
      NULL},
     "cues[2].id"},
    {"duplicate id cue/effect",
     SHOW(",\"cues\":[" CUE_OK("c1") "," CUE_OK("x") "],\"effects\":[" FX_OK("e0") "," FX_OK(
         "x") "]"),
     NULL,
     {P "effect \"x\" (effects[1]): \"id\" \"x\" is already used by cues[1]", NULL},
     "effects[1].id"},
    {"duplicate id effect/effect",
     EFFECTS(FX_OK("e0") "," FX_OK("e0")),
     NULL,
     {P "effect \"e0\" (effects[1]): \"id\" \"e0\" is already used by effects[0]", NULL},
     "effects[1].id"},

    /* cues: times */
    {"t_ms past duration",
     CUES("{\"id\":\"c1\",\"t_ms\":180001,\"fixtures\":[\"par1\"],\"values\":{\"red\":1}}"),
     NULL,
     {P "cue \"c1\" (cues[0]): \"t_ms\" 180001 is out of range 0..180000", NULL},
     "cues[0].t_ms"},
    {"t_ms negative",
     CUES("{\"id\":\"c1\",\"t_ms\":-1,\"fixtures\":[\"par1\"],\"values\":{\"red\":1}}"),
     NULL,
     {"cue \"c1\" (cues[0]): \"t_ms\" -1 is out of range 0..180000", NULL},
     "cues[0].t_ms"},
    {"t_ms 0.5",
     CUES("{\"id\":\"c1\",\"t_ms\":0.5,\"fixtures\":[\"par1\"],\"values\":{\"red\":1}}"),
     NULL,
     {"\"t_ms\" 0.5 is not an integer; accepted: 0..180000", NULL},
     "cues[0].t_ms"},
    {"fade_ms negative",
     CUE3V(",\"fade_ms\":-5"),
     NULL,
     {C3 "\"fade_ms\" -5 is out of range 0..180000", NULL},
     "cues[2].fade_ms"},
    {"fade_ms past duration",
     CUE3V(",\"fade_ms\":180001"),
     NULL,
     {C3 "\"fade_ms\" 180001 is out of range 0..180000", NULL},
     "cues[2].fade_ms"},
    {"fade_ms string",
     CUE3V(",\"fade_ms\":\"2s\""),
     NULL,
     {C3 "\"fade_ms\" must be an integer 0..180000, got \"2s\"", NULL},
     "cues[2].fade_ms"},
    {"fade_ms true",
     CUE3V(",\"fade_ms\":true"),
     NULL,
     {C3 "\"fade_ms\"", "got true", NULL},
     "cues[2].fade_ms"},
    {"bad curve",
     CUE3V(",\"curve\":\"smooth\""),
     NULL,
     {C3 "\"curve\" \"smooth\" is not a curve; accepted: step linear ease_in_out", NULL},
     "cues[2].curve"},
    {"curve number",
     CUE3V(",\"curve\":1"),
     NULL,
     {C3 "\"curve\" 1 is not a curve; accepted: step linear ease_in_out", NULL},
     "cues[2].curve"},

    /* cues: fixtures */
    {"empty fixtures",
     CUES("{\"id\":\"c1\",\"t_ms\":0,\"fixtures\":[],\"values\":{\"red\":1}}"),
     NULL,
     {P "cue \"c1\" (cues[0]): \"fixtures\" is empty; name 1 to 4096 fixtures", NULL},
     "cues[0].fixtures"},
    {"fixtures not an array",
     CUES("{\"id\":\"c1\",\"t_ms\":0,\"fixtures\":\"par1\",\"values\":{\"red\":1}}"),
     NULL,
     {"\"fixtures\" must be an array of fixture names, got \"par1\"", NULL},
     "cues[0].fixtures"},
    {"duplicate fixture",
     CUES("{\"id\":\"c1\",\"t_ms\":0,\"fixtures\":[\"par1\",\"par2\",\"par1\"],"
          "\"values\":{\"red\":1}}"),
     NULL,
     {P "cue \"c1\" (cues[0]): \"fixtures[2]\" \"par1\" is listed twice (also fixtures[0])", NULL},
     "cues[0].fixtures[2]"},
    {"duplicate fixture in a long list",
     NULL,
     make_dup_fixture_long,
     {"cue \"c1\" (cues[0]): \"fixtures[15]\" \"f3\" is listed twice (also fixtures[3])", NULL},
     "cues[0].fixtures[15]"},
    {"too many fixtures",
     NULL,
     make_fixtures_4097,
     {"cue \"c1\" (cues[0]): \"fixtures\" has 4097 entries; at most 4096 are accepted", NULL},
     "cues[0].fixtures"},
    {"duplicate key in a cue",
     CUE3(",\"values\":{\"red\":1},\"fixtures\":[\"par1\"]"),
     NULL,
     {"not valid JSON", "duplicate object key", NULL},
     NULL},
    {"fixture name with space",
     CUES("{\"id\":\"c1\",\"t_ms\":0,\"fixtures\":[\"par1\",\"par 2\"],\"values\":{\"red\":1}}"),
     NULL,
     {P "cue \"c1\" (cues[0]): \"fixtures[1]\" \"par 2\" has the character ' ' at position 4; a "
        "fixture name is 1-64 characters from A-Z a-z 0-9 _ -",
      NULL},
     "cues[0].fixtures[1]"},
    {"fixture name with dot",
     CUES("{\"id\":\"c1\",\"t_ms\":0,\"fixtures\":[\"par.1\"],\"values\":{\"red\":1}}"),
     NULL,
     {"\"fixtures[0]\" \"par.1\" has the character '.' at position 4", NULL},
     "cues[0].fixtures[0]"},
    {"fixture not a string",
     CUES("{\"id\":\"c1\",\"t_ms\":0,\"fixtures\":[{}],\"values\":{\"red\":1}}"),
     NULL,
     {"\"fixtures[0]\" must be a fixture name (1-64 characters from A-Z a-z 0-9 _ -), got an "
      "object",
      NULL},
     "cues[0].fixtures[0]"},

    /* cues: values and poi */
    {"unknown role",
     CUE3(",\"values\":{\"red\":1,\"redd\":2}"),
     NULL,
     {C3 "\"values\" has \"redd\", which is not a role; " ROLES, NULL},
     "cues[2].values.redd"},
    {"value 256",
     CUE3(",\"values\":{\"red\":256}"),
     NULL,
     {C3 "\"values.red\" 256 is out of range 0..255", NULL},
     "cues[2].values.red"},
    {"value -1",
     CUE3(",\"values\":{\"dimmer\":-1}"),
     NULL,
     {C3 "\"values.dimmer\" -1 is out of range 0..255", NULL},
     "cues[2].values.dimmer"},
    {"value x",
     CUE3(",\"values\":{\"red\":\"x\"}"),
     NULL,
     {C3 "\"values.red\" must be an integer 0..255, got \"x\"", NULL},
     "cues[2].values.red"},
    {"value 1.5",
     CUE3(",\"values\":{\"red\":1.5}"),
     NULL,
     {C3 "\"values.red\" 1.5 is not an integer; accepted: 0..255", NULL},
     "cues[2].values.red"},
    {"values not an object",
     CUE3(",\"values\":[255]"),
     NULL,
     {C3 "\"values\" must be an object of role: 0..255, got an array", NULL},
     "cues[2].values"},
    {"poi with pan",
     CUE3(",\"values\":{\"red\":1,\"pan\":3},\"poi\":\"stage_center\""),
     NULL,
     {C3 "\"values.pan\" cannot be set with \"poi\": the POI gives pan, pan_fine, tilt and "
         "tilt_fine",
      NULL},
     "cues[2].values.pan"},
    {"poi with tilt_fine",
     CUE3(",\"poi\":\"stage_center\",\"values\":{\"tilt_fine\":3}"),
     NULL,
     {C3 "\"values.tilt_fine\" cannot be set with \"poi\"", NULL},
     "cues[2].values.tilt_fine"},
    {"no values and no poi",
     CUE3(",\"fade_ms\":10"),
     NULL,
     {C3 "sets nothing; a cue needs \"values\" (role: 0..255), \"poi\" or both", NULL},
     "cues[2].values"},
    {"empty values and no poi",
     CUE3(",\"values\":{}"),
     NULL,
     {C3 "sets nothing", NULL},
     "cues[2].values"},
    {"bad poi name",
     CUE3(",\"poi\":\"stage center\""),
     NULL,
     {C3 "\"poi\" \"stage center\" has the character ' ' at position 6; a POI name is", NULL},
     "cues[2].poi"},
    {"poi null",
     CUE3(",\"poi\":null"),
     NULL,
     {C3 "\"poi\" must be a POI name", "got null", NULL},
     "cues[2].poi"},

    /* effects */
    {"effect not an object",
     EFFECTS(FX_OK("e0") ",[]"),
     NULL,
     {P "effects[1]: an effect must be an object, got an array", NULL},
     "effects[1]"},
    {"unknown effect member",
     FX1("chase", ",\"speed\":2"),
     NULL,
     {E1 "unknown member \"speed\" (accepted: id, t_ms, dur_ms, fixtures, effect, params)", NULL},
     "effects[1].speed"},
    {"missing effect",
     EFFECTS("{\"id\":\"e1\",\"t_ms\":0,\"dur_ms\":1,\"fixtures\":[\"par1\"]}"),
     NULL,
     {P "effect \"e1\" (effects[0]): \"effect\" is missing (required: id, t_ms, dur_ms, "
        "fixtures, effect)",
      NULL},
     "effects[0].effect"},
    {"missing dur_ms",
     EFFECTS("{\"id\":\"e1\",\"t_ms\":0,\"effect\":\"sine\",\"fixtures\":[\"par1\"]}"),
     NULL,
     {"effect \"e1\" (effects[0]): \"dur_ms\" is missing", NULL},
     "effects[0].dur_ms"},
    {"unknown effect",
     FX1("wave", ""),
     NULL,
     {E1 "\"effect\" \"wave\" is not an effect; accepted: pulse chase rainbow strobe sine", NULL},
     "effects[1].effect"},
    {"dur_ms 0",
     EFFECTS("{\"id\":\"e1\",\"t_ms\":0,\"dur_ms\":0,\"fixtures\":[\"par1\"],\"effect\":\"sine\"}"),
     NULL,
     {"effect \"e1\" (effects[0]): \"dur_ms\" 0 is out of range 1..180000", NULL},
     "effects[0].dur_ms"},
    {"effect past the end",
     EFFECTS("{\"id\":\"e1\",\"t_ms\":175000,\"dur_ms\":8000,\"fixtures\":[\"par1\"],"
             "\"effect\":\"sine\"}"),
     NULL,
     {"effect \"e1\" (effects[0]): \"dur_ms\" 8000 runs past the end of the show: t_ms 175000 + "
      "dur_ms 8000 = 183000 > duration_ms 180000",
      NULL},
     "effects[0].dur_ms"},
    {"effect t_ms negative",
     EFFECTS("{\"id\":\"e1\",\"t_ms\":-10,\"dur_ms\":8000,\"fixtures\":[\"par1\"],"
             "\"effect\":\"sine\"}"),
     NULL,
     {"\"t_ms\" -10 is out of range 0..180000", NULL},
     "effects[0].t_ms"},
    {"effect empty fixtures",
     EFFECTS("{\"id\":\"e1\",\"t_ms\":0,\"dur_ms\":8,\"fixtures\":[],\"effect\":\"sine\"}"),
     NULL,
     {"effect \"e1\" (effects[0]): \"fixtures\" is empty", NULL},
     "effects[0].fixtures"},
    {"params not an object",
     FX1("chase", ",\"params\":[]"),
     NULL,
     {E1 "\"params\" must be an object, got an array", NULL},
     "effects[1].params"},
    {"unknown param",
     FX1("chase", ",\"params\":{\"speed\":1}"),
     NULL,
     {E1 "\"params\" has \"speed\", which is not a parameter of chase; accepted for chase: "
         "period_ms, role, min, max",
      NULL},
     "effects[1].params.speed"},
    {"duty on chase",
     FX1("chase", ",\"params\":{\"period_ms\":100,\"duty\":0.5}"),
     NULL,
     {E1 "\"params\" has \"duty\", which does not apply to chase; accepted for chase: "
         "period_ms, role, min, max",
      NULL},
     "effects[1].params.duty"},
    {"role on rainbow",
     FX1("rainbow", ",\"params\":{\"role\":\"red\"}"),
     NULL,
     {E1 "\"params\" has \"role\", which does not apply to rainbow; accepted for rainbow: "
         "period_ms, max, spread",
      NULL},
     "effects[1].params.role"},
    {"min on rainbow",
     FX1("rainbow", ",\"params\":{\"min\":0}"),
     NULL,
     {E1 "\"params\" has \"min\", which does not apply to rainbow", NULL},
     "effects[1].params.min"},
    {"spread on strobe",
     FX1("strobe", ",\"params\":{\"spread\":0}"),
     NULL,
     {E1 "\"params\" has \"spread\", which does not apply to strobe; accepted for strobe: "
         "period_ms, role, min, max, duty",
      NULL},
     "effects[1].params.spread"},
    {"duty on pulse",
     FX1("pulse", ",\"params\":{\"duty\":0}"),
     NULL,
     {"does not apply to pulse; accepted for pulse: period_ms, role, min, max, spread", NULL},
     "effects[1].params.duty"},
    {"min above max",
     FX1("sine", ",\"params\":{\"min\":200,\"max\":100}"),
     NULL,
     {E1 "\"params.min\" 200 is above \"params.max\" 100; min must be <= max", NULL},
     "effects[1].params.min"},
    {"duty 1.5",
     FX1("strobe", ",\"params\":{\"duty\":1.5}"),
     NULL,
     {E1 "\"params.duty\" 1.5 is out of range 0..1", NULL},
     "effects[1].params.duty"},
    {"duty string",
     FX1("strobe", ",\"params\":{\"duty\":\"half\"}"),
     NULL,
     {E1 "\"params.duty\" must be a number 0..1, got \"half\"", NULL},
     "effects[1].params.duty"},
    {"spread negative",
     FX1("pulse", ",\"params\":{\"spread\":-0.1}"),
     NULL,
     {E1 "\"params.spread\" -0.1 is out of range 0..1", NULL},
     "effects[1].params.spread"},
    {"period 0",
     FX1("pulse", ",\"params\":{\"period_ms\":0}"),
     NULL,
     {E1 "\"params.period_ms\" 0 is out of range 1..3600000", NULL},
     "effects[1].params.period_ms"},
    {"period too long",
     FX1("pulse", ",\"params\":{\"period_ms\":3600001}"),
     NULL,
     {E1 "\"params.period_ms\" 3600001 is out of range 1..3600000", NULL},
     "effects[1].params.period_ms"},
    {"unknown param role",
     FX1("chase", ",\"params\":{\"role\":\"brightness\"}"),
     NULL,
     {E1 "\"params.role\" \"brightness\" is not a role; " ROLES, NULL},
     "effects[1].params.role"},
    {"param max 256",
     FX1("chase", ",\"params\":{\"max\":256}"),
     NULL,
     {E1 "\"params.max\" 256 is out of range 0..255", NULL},
     "effects[1].params.max"},

    /* hostile */
    {"deeply nested garbage", NULL, make_deep_nesting, {P "not valid JSON", "depth", NULL}, NULL},
    {"nested garbage in a value",
     FX1("pulse", ",\"params\":{\"period_ms\":[[[[{\"a\":[[]]}]]]]}"),
     NULL,
     {E1 "\"params.period_ms\" must be an integer 1..3600000, got an array", NULL},
     "effects[1].params.period_ms"},
    {"10 KB id",
     NULL,
     make_id_10k,
     {P "cues[0]: \"id\" \"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx...\" is 10000 characters long",
      NULL},
     "cues[0].id"},
    {"10 KB key",
     NULL,
     make_key_10k,
     {P "unknown member \"kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk...\"", NULL},
     NULL /* checked in run_bad: the field is the echoed key, cut to fit */},
    {"100 KB fixture name",
     NULL,
     make_fixture_100k,
     {"\"fixtures[0]\" \"yyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyy...\" is 100000 characters long",
      NULL},
     "cues[0].fixtures[0]"},
    {"10 KB curve",
     NULL,
     make_curve_10k,
     {"cue \"c2\" (cues[1]): \"curve\" \"zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz...\" is not a "
      "curve",
      NULL},
     "cues[1].curve"},
    {"NUL escape in an id",
     CUES("{\"id\":\"c\\u0000\",\"t_ms\":0,\"fixtures\":[\"par1\"],\"values\":{\"red\":1}}"),
     NULL,
     {P "not valid JSON", "\\u0000 is not allowed", NULL},
     NULL},
    {"non-UTF-8", SHOW(",\"audio\":\"a\xff.mp3\""), NULL, {P "not valid JSON", NULL}, NULL},
    {"raw escape sequence in a string",
     SHOW(",\"audio\":\"a\x1b[2Jb\""),
     NULL,
     {P "not valid JSON", NULL},
     NULL},
};

static void run_bad(void **state)
{
    const bad_case_t *bc = *state;
    char err[ERRLEN], err2[ERRLEN], field[FIELDLEN];
    hub_show_t s;
    json_t *root;
    char *text;

    if (bc->json == NULL && bc->make == NULL)
        skip();
    text = bc->make ? bc->make() : strdup(bc->json);
    memset(&s, 0xa5, sizeof(s));
    memset(err, 'Z', sizeof(err));
    assert_int_equal(hub_show_parse(text, strlen(text), FILE_NAME, &s, err, sizeof(err)),
                     HUB_EINVAL);
    assert_true(is_zero(&s, sizeof(s)));
    assert_one_safe_line(err, P);
    assert_has(err, bc->want);
    /* Echoed input is bounded: no message grows with the input. */
    assert_true(strlen(err) < 600);

    /* The same refusal from the tree, with the field. */
    root = json_loadb(text, strlen(text), HUB_JSON_FLAGS | JSON_DECODE_ANY, NULL);
    if (root != NULL) {
        memset(&s, 0xa5, sizeof(s));
        memset(field, 'Z', sizeof(field));
        assert_int_equal(
            hub_show_from_json(root, FILE_NAME, &s, err2, sizeof(err2), field, sizeof(field)),
            HUB_EINVAL);
        assert_true(is_zero(&s, sizeof(s)));
        assert_string_equal(err2, err);
        assert_true(strlen(field) <= HUB_FIELD_MAX);
        if (bc->field)
            assert_string_equal(field, bc->field);
        else
            assert_true(strncmp(field, "kkkk", 4) == 0);
        json_decref(root);
    } else {
        assert_null(bc->field);
    }
    free(text);
}

/* Replace the first '@' of every string in v by a NUL (same length). */
static void at_to_nul(json_t *v)
{
    const char *key;
    json_t *child;
    size_t i;
    void *tmp;

    if (json_is_string(v) && strchr(json_string_value(v), '@')) {
        char buf[128];
        size_t n = json_string_length(v);
        assert_true(n < sizeof(buf));
        memcpy(buf, json_string_value(v), n);
        buf[strchr(buf, '@') - buf] = '\0';
        json_string_setn(v, buf, n);
    } else if (json_is_object(v)) {
        json_object_foreach_safe(v, tmp, key, child) at_to_nul(child);
    } else if (json_is_array(v)) {
        json_array_foreach(v, i, child) at_to_nul(child);
    }
}

/* Strings holding NUL bytes cannot come through the parser, but can come
 * through a tree built in memory: each is refused, the NUL shown as \x00. */
static void test_nul_bytes_in_memory(void **state)
{
    static const struct {
        const char *json; /* "@" is replaced by a NUL in the string it sits in */
        const char *want;
        const char *field;
    } cases[] = {
        {"{\"name\":\"a@b\",\"duration_ms\":1}",
         "\"name\" \"a\\x00b\" has the character '\\x00' "
         "at position 2",
         "name"},
        {"{\"name\":\"a\",\"duration_ms\":1,\"audio\":\"a@.mp3\"}",
         "\"audio\" \"a\\x00.mp3\" has a control character at position 2", "audio"},
        {"{\"name\":\"a\",\"duration_ms\":1,\"cues\":[{\"id\":\"c@\",\"t_ms\":0,"
         "\"fixtures\":[\"p\"],\"values\":{\"red\":1}}]}",
         "cues[0]: \"id\" \"c\\x00\" has the character '\\x00' at position 2", "cues[0].id"},
        {"{\"name\":\"a\",\"duration_ms\":1,\"cues\":[{\"id\":\"c\",\"t_ms\":0,"
         "\"fixtures\":[\"p@q\"],\"values\":{\"red\":1}}]}",
         "\"fixtures[0]\" \"p\\x00q\" has the character '\\x00'", "cues[0].fixtures[0]"},
        {"{\"name\":\"a\",\"duration_ms\":1,\"cues\":[{\"id\":\"c\",\"t_ms\":0,"
         "\"fixtures\":[\"p\"],\"values\":{\"red\":1},\"curve\":\"linear@\"}]}",
         "\"curve\" \"linear\\x00\" is not a curve", "cues[0].curve"},
        {"{\"name\":\"a\",\"duration_ms\":1,\"effects\":[{\"id\":\"e\",\"t_ms\":0,\"dur_ms\":1,"
         "\"fixtures\":[\"p\"],\"effect\":\"sine@\"}]}",
         "\"effect\" \"sine\\x00\" is not an effect", "effects[0].effect"},
        {"{\"name\":\"a\",\"duration_ms\":1,\"effects\":[{\"id\":\"e\",\"t_ms\":0,\"dur_ms\":1,"
         "\"fixtures\":[\"p\"],\"effect\":\"sine\",\"params\":{\"role\":\"red@\"}}]}",
         "\"params.role\" \"red\\x00\" is not a role", "effects[0].params.role"},
    };
    char err[ERRLEN], field[FIELDLEN];

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        json_t *root = load(cases[i].json);
        hub_show_t s;
        at_to_nul(root);
        memset(&s, 0xa5, sizeof(s));
        assert_int_equal(
            hub_show_from_json(root, FILE_NAME, &s, err, sizeof(err), field, sizeof(field)),
            HUB_EINVAL);
        assert_true(is_zero(&s, sizeof(s)));
        assert_one_safe_line(err, P);
        assert_has(err, (const char *const[]){cases[i].want, NULL});
        assert_string_equal(field, cases[i].field);
        json_decref(root);
    }
}

/* Keys holding NUL bytes, and non-UTF-8 audio built without jansson's check. */
static void test_hostile_keys_in_memory(void **state)
{
    char err[ERRLEN], field[FIELDLEN];
    hub_show_t s;
    json_t *root = load(SHOW(""));

    json_object_setn_new(root, "name\0x", 6, json_string("b"));
    assert_int_equal(
        hub_show_from_json(root, FILE_NAME, &s, err, sizeof(err), field, sizeof(field)),
        HUB_EINVAL);
    assert_has(err, (const char *const[]){P "unknown member \"name\\x00x\"", NULL});
    assert_string_equal(field, "name\\x00x");
    json_decref(root);

    root = load(CUES("{\"id\":\"c1\",\"t_ms\":0,\"fixtures\":[\"p\"],\"values\":{}}"));
    json_object_setn_new(
        json_object_get(json_array_get(json_object_get(root, "cues"), 0), "values"), "red\0", 4,
        json_integer(1));
    assert_int_equal(
        hub_show_from_json(root, FILE_NAME, &s, err, sizeof(err), field, sizeof(field)),
        HUB_EINVAL);
    assert_has(err,
               (const char *const[]){"\"values\" has \"red\\x00\", which is not a role", NULL});
    assert_string_equal(field, "cues[0].values.red\\x00");
    json_decref(root);

    root = load(SHOW(""));
    json_object_set_new(root, "audio", json_stringn_nocheck("a\xc0\xafz.mp3", 8));
    assert_int_equal(
        hub_show_from_json(root, FILE_NAME, &s, err, sizeof(err), field, sizeof(field)),
        HUB_EINVAL);
    assert_has(err,
               (const char *const[]){"\"audio\" \"a\\xc0\\xafz.mp3\" is not valid UTF-8", NULL});
    json_decref(root);

    /* ...while well-formed UTF-8 is a fine audio name. */
    parse_ok(SHOW(",\"audio\":\"Caf\xc3\xa9 \xe2\x99\xab (live) 1.mp3\""), &s);
    assert_string_equal(s.audio, "Caf\xc3\xa9 \xe2\x99\xab (live) 1.mp3");
    hub_show_free(&s);
}

static void test_err_buffer_edges(void **state)
{
    static const char bad[] = "{\"name\":\"a\",\"duration_ms\":0}";
    char err[32], field[8], big[ERRLEN];
    hub_show_t s;
    json_t *root = load(bad);

    /* Truncated, NUL-terminated, no write past errlen or fieldlen. */
    memset(err, 'Z', sizeof(err));
    memset(field, 'Z', sizeof(field));
    assert_int_equal(hub_show_from_json(root, FILE_NAME, &s, err, 16, field, 4), HUB_EINVAL);
    assert_int_equal(strlen(err), 15);
    assert_memory_equal(err, FILE_NAME, 15);
    for (size_t i = 16; i < sizeof(err); i++)
        assert_int_equal(err[i], 'Z');
    assert_string_equal(field, "dur");
    for (size_t i = 4; i < sizeof(field); i++)
        assert_int_equal(field[i], 'Z');
    /* No buffers at all. */
    assert_int_equal(hub_show_from_json(root, FILE_NAME, &s, NULL, 0, NULL, 0), HUB_EINVAL);
    assert_int_equal(hub_show_parse(bad, strlen(bad), FILE_NAME, &s, NULL, 0), HUB_EINVAL);
    assert_true(is_zero(&s, sizeof(s)));
    /* No file name: "show: ". */
    assert_int_equal(hub_show_from_json(root, "", &s, big, sizeof(big), NULL, 0), HUB_EINVAL);
    assert_string_equal(big, "show: \"duration_ms\" 0 is out of range 1..86400000");
    assert_int_equal(hub_show_from_json(root, NULL, &s, big, sizeof(big), NULL, 0), HUB_EINVAL);
    assert_true(strncmp(big, "show: ", 6) == 0);
    /* A file name with a newline stays one line. */
    assert_int_equal(hub_show_parse(bad, strlen(bad), "/tmp/a\nb.cue.json", &s, big, sizeof(big)),
                     HUB_EINVAL);
    assert_null(strchr(big, '\n'));
    assert_true(strncmp(big, "/tmp/a\\x0ab.cue.json: ", 22) == 0);
    /* No JSON value at all. */
    assert_int_equal(
        hub_show_from_json(NULL, FILE_NAME, &s, big, sizeof(big), field, sizeof(field)),
        HUB_EINVAL);
    assert_one_safe_line(big, P "no JSON value");
    assert_string_equal(field, "");
    assert_int_equal(hub_show_parse(NULL, 0, FILE_NAME, &s, big, sizeof(big)), HUB_EINVAL);
    assert_one_safe_line(big, P "the file is empty");
    json_decref(root);
}

/* ---- one cue or effect ---- */

static void test_cue_from_json(void **state)
{
    char err[ERRLEN], field[FIELDLEN];
    hub_show_cue_t c;
    json_t *o = load("{\"id\":\"c3\",\"t_ms\":100,\"fixtures\":[\"par1\"],\"values\":{\"red\":9},"
                     "\"curve\":\"step\"}");

    assert_int_equal(hub_show_cue_from_json(o, 100, &c, err, sizeof(err), field, sizeof(field)), 0);
    assert_string_equal(c.id, "c3");
    assert_int_equal(c.t_ms, 100);
    assert_int_equal(c.curve, HUB_CURVE_STEP);
    assert_int_equal(c.values[0].value, 9);
    hub_show_cue_free(&c);
    assert_true(is_zero(&c, sizeof(c)));
    hub_show_cue_free(NULL);

    /* duration_ms bounds t_ms. */
    memset(&c, 0xa5, sizeof(c));
    assert_int_equal(hub_show_cue_from_json(o, 99, &c, err, sizeof(err), field, sizeof(field)),
                     HUB_EINVAL);
    assert_true(is_zero(&c, sizeof(c)));
    assert_string_equal(err, "cue \"c3\": \"t_ms\" 100 is out of range 0..99");
    assert_string_equal(field, "t_ms");
    json_decref(o);

    /* No uniqueness here (the caller has hub_show_id_taken); relative fields. */
    o = load("{\"id\":\"c3\",\"t_ms\":0,\"fixtures\":[\"par1\"],\"values\":{\"red\":1},"
             "\"fade_ms\":-5}");
    assert_int_equal(hub_show_cue_from_json(o, 180000, &c, err, sizeof(err), field, sizeof(field)),
                     HUB_EINVAL);
    assert_string_equal(err, "cue \"c3\": \"fade_ms\" -5 is out of range 0..180000");
    assert_string_equal(field, "fade_ms");
    json_decref(o);

    o = load("{\"id\":\"c 3\",\"t_ms\":0,\"fixtures\":[\"par1\"],\"values\":{\"red\":1}}");
    assert_int_equal(hub_show_cue_from_json(o, 10, &c, err, sizeof(err), NULL, 0), HUB_EINVAL);
    assert_one_safe_line(err, "cue: \"id\" \"c 3\" has the character ' '");
    json_decref(o);

    o = load("[1]");
    assert_int_equal(hub_show_cue_from_json(o, 10, &c, err, sizeof(err), field, sizeof(field)),
                     HUB_EINVAL);
    assert_string_equal(err, "cue: a cue must be an object, got an array");
    assert_string_equal(field, "");
    json_decref(o);

    /* A partly built cue (fixtures and values allocated) is freed on failure. */
    o = load("{\"id\":\"c\",\"t_ms\":0,\"fixtures\":[\"a\",\"b\"],\"values\":{\"red\":1},"
             "\"curve\":\"fast\"}");
    memset(&c, 0xa5, sizeof(c));
    assert_int_equal(hub_show_cue_from_json(o, 10, &c, err, sizeof(err), field, sizeof(field)),
                     HUB_EINVAL);
    assert_true(is_zero(&c, sizeof(c)));
    assert_string_equal(field, "curve");
    json_decref(o);
}

static void test_effect_from_json(void **state)
{
    char err[ERRLEN], field[FIELDLEN];
    hub_show_effect_t e;
    json_t *o = load("{\"id\":\"e9\",\"t_ms\":10,\"dur_ms\":90,\"fixtures\":[\"par1\",\"par2\"],"
                     "\"effect\":\"strobe\",\"params\":{\"duty\":0.25}}");

    assert_int_equal(hub_show_effect_from_json(o, 100, &e, err, sizeof(err), field, sizeof(field)),
                     0);
    assert_string_equal(e.id, "e9");
    assert_int_equal(e.effect, HUB_FX_STROBE);
    assert_true(e.params.duty == 0.25);
    assert_int_equal(e.params.period_ms, 100);
    hub_show_effect_free(&e);
    assert_true(is_zero(&e, sizeof(e)));
    hub_show_effect_free(NULL);

    memset(&e, 0xa5, sizeof(e));
    assert_int_equal(hub_show_effect_from_json(o, 99, &e, err, sizeof(err), field, sizeof(field)),
                     HUB_EINVAL);
    assert_true(is_zero(&e, sizeof(e)));
    assert_string_equal(err, "effect \"e9\": \"dur_ms\" 90 runs past the end of the show: t_ms 10 "
                             "+ dur_ms 90 = 100 > duration_ms 99");
    assert_string_equal(field, "dur_ms");
    json_decref(o);

    o = load("{\"id\":\"e9\",\"t_ms\":0,\"dur_ms\":1,\"fixtures\":[\"a\"],\"effect\":\"chase\","
             "\"params\":{\"spread\":1}}");
    assert_int_equal(hub_show_effect_from_json(o, 100, &e, err, sizeof(err), field, sizeof(field)),
                     HUB_EINVAL);
    assert_one_safe_line(err, "effect \"e9\": \"params\" has \"spread\", which does not apply to "
                              "chase");
    assert_string_equal(field, "params.spread");
    json_decref(o);

    /* A caller's absurd duration is clamped to what a show can have. */
    o = load("{\"id\":\"e\",\"t_ms\":86400000,\"dur_ms\":1,\"fixtures\":[\"a\"],"
             "\"effect\":\"sine\"}");
    assert_int_equal(
        hub_show_effect_from_json(o, INT64_MAX, &e, err, sizeof(err), field, sizeof(field)),
        HUB_EINVAL);
    assert_string_equal(field, "dur_ms");
    json_decref(o);
}

/* ---- references ---- */

static const hub_patch_fixture_t fake_fixtures[] = {
    {.name = "par1",
     .universe = 1,
     .address = 1,
     .nch = 4,
     .roles = {HUB_ROLE_RED, HUB_ROLE_GREEN, HUB_ROLE_BLUE, HUB_ROLE_DIMMER}},
    {.name = "mover1",
     .universe = 1,
     .address = 10,
     .nch = 3,
     .roles = {HUB_ROLE_PAN, HUB_ROLE_TILT, HUB_ROLE_DIMMER}},
};
/* Any name starting with 'g': a one-channel white fixture (for long lists). */
static const hub_patch_fixture_t fake_generic = {
    .name = "g", .universe = 2, .address = 1, .nch = 1, .roles = {HUB_ROLE_WHITE}};
static const hub_patch_poi_t fake_poi = {"stage_center", 128, 0, 60, 0};

static const hub_patch_fixture_t *fake_fixture(void *ud, const char *name)
{
    int *calls = ud;
    ++*calls;
    for (size_t i = 0; i < sizeof(fake_fixtures) / sizeof(fake_fixtures[0]); i++)
        if (strcmp(fake_fixtures[i].name, name) == 0)
            return &fake_fixtures[i];
    return name[0] == 'g' ? &fake_generic : NULL;
}

static const hub_patch_poi_t *fake_poi_lookup(void *ud, const char *name)
{
    return strcmp(name, fake_poi.name) == 0 ? &fake_poi : NULL;
}

/* Check the show made of cues and effects; 0 or the message in err. */
static int check_items(const char *cues, const char *effects, char *err, char *field)
{
    int calls = 0;
    hub_show_patch_t patch = {fake_fixture, fake_poi_lookup, &calls};
    char text[2048];
    hub_show_t s;
    int rc;

    snprintf(text, sizeof(text),
             "{\"name\":\"opening\",\"duration_ms\":180000,\"cues\":[%s],\"effects\":[%s]}", cues,
             effects);
    parse_ok(text, &s);
    memset(field, 'Z', FIELDLEN);
    rc = hub_show_check(&s, FILE_NAME, &patch, err, ERRLEN, field, FIELDLEN);
    if (rc)
        assert_one_safe_line(err, P);
    else
        assert_string_equal(err, "");
    hub_show_free(&s);
    return rc;
}

static void check_refused(const char *cues, const char *effects, const char *want,
                          const char *want_field)
{
    char err[ERRLEN], field[FIELDLEN];

    assert_int_equal(check_items(cues, effects, err, field), HUB_EINVAL);
    assert_has(err, (const char *const[]){want, NULL});
    assert_string_equal(field, want_field);
}

static void check_passes(const char *cues, const char *effects)
{
    char err[ERRLEN], field[FIELDLEN];

    if (check_items(cues, effects, err, field) != 0)
        fail_msg("refused: %s", err);
}

#define CUE_FV(id, fx, v) "{\"id\":\"" id "\",\"t_ms\":0,\"fixtures\":[" fx "],\"values\":{" v "}}"
#define CUE_POI(id, fx, poi)                                                                       \
    "{\"id\":\"" id "\",\"t_ms\":0,\"fixtures\":[" fx "],\"poi\":\"" poi "\"}"
#define FX_P(id, fx, k, p)                                                                         \
    "{\"id\":\"" id "\",\"t_ms\":0,\"dur_ms\":10,\"fixtures\":[" fx "],\"effect\":\"" k "\""       \
    ",\"params\":{" p "}}"

static void test_check(void **state)
{
    /* Everything resolves. */
    check_passes(
        CUE_FV("c1", "\"par1\",\"mover1\"", "\"red\":1,\"pan\":5,\"dimmer\":9") "," CUE_POI(
            "c2", "\"mover1\",\"par1\"", "stage_center"),
        FX_P("e1", "\"par1\",\"mover1\"", "chase", "\"role\":\"tilt\"") "," FX_P(
            "e2", "\"mover1\",\"par1\"", "rainbow", "") "," FX_P("e3", "\"par1\"", "pulse", ""));
    check_passes("", "");

    /* Unknown fixture, in a cue and in an effect. */
    check_refused(
        CUE_FV("c1", "\"par1\"", "\"red\":1") "," CUE_FV("c2", "\"par1\",\"par9\"", "\"red\":1"),
        "", P "cue \"c2\" (cues[1]): \"fixtures[1]\" \"par9\" is not a fixture of the patch",
        "cues[1].fixtures[1]");
    check_refused("", FX_P("e1", "\"nope\"", "sine", ""),
                  P "effect \"e1\" (effects[0]): \"fixtures[0]\" \"nope\" is not a fixture of the "
                    "patch",
                  "effects[0].fixtures[0]");

    /* A role none of the cue's fixtures has; one having it is enough. */
    check_refused(CUE_FV("c1", "\"mover1\"", "\"dimmer\":1,\"red\":1"), "",
                  P "cue \"c1\" (cues[0]): \"values.red\": none of its fixtures (mover1) has a "
                    "red channel",
                  "cues[0].values.red");
    check_passes(CUE_FV("c1", "\"mover1\",\"par1\"", "\"red\":1,\"tilt\":2"), "");
    check_refused(CUE_FV("c1", "\"g1\",\"g2\",\"g3\",\"g4\",\"g5\"", "\"white\":1,\"red\":1"), "",
                  "\"values.red\": none of its fixtures (g1, g2, g3 and 2 more) has a red channel",
                  "cues[0].values.red");

    /* An effect's role; rainbow's red, green or blue. */
    check_refused("", FX_P("e1", "\"par1\"", "chase", "\"role\":\"pan\""),
                  P "effect \"e1\" (effects[0]): \"params.role\" pan: none of its fixtures (par1) "
                    "has a pan channel",
                  "effects[0].params.role");
    check_refused("", FX_P("e1", "\"mover1\",\"g1\"", "strobe", "\"role\":\"strobe\""),
                  "\"params.role\" strobe: none of its fixtures (mover1, g1) has a strobe channel",
                  "effects[0].params.role");
    check_refused("",
                  FX_P("e1", "\"par1\"", "pulse", "") "," FX_P("e2", "\"mover1\"", "rainbow", ""),
                  P "effect \"e2\" (effects[1]): rainbow needs a red, green or blue channel, and "
                    "none of its fixtures (mover1) has one",
                  "effects[1].fixtures");
    check_refused("", FX_P("e1", "\"g1\"", "pulse", ""),
                  "\"params.role\" dimmer: none of its fixtures (g1) has a dimmer channel",
                  "effects[0].params.role");

    /* POIs: unknown; on fixtures without pan or tilt. */
    check_refused(CUE_POI("c1", "\"mover1\"", "nowhere"), "",
                  P "cue \"c1\" (cues[0]): \"poi\" \"nowhere\" is not a POI of the patch",
                  "cues[0].poi");
    check_refused(CUE_POI("c1", "\"par1\",\"g7\"", "stage_center"), "",
                  P "cue \"c1\" (cues[0]): \"poi\" \"stage_center\" needs pan or tilt, and none of "
                    "its fixtures (par1, g7) has either",
                  "cues[0].poi");

    /* Cues are checked before effects, each in file order. */
    check_refused(CUE_FV("c1", "\"x\"", "\"red\":1"), FX_P("e1", "\"y\"", "pulse", ""),
                  "cue \"c1\" (cues[0])", "cues[0].fixtures[0]");
}

static void test_check_edges(void **state)
{
    int calls = 0;
    hub_show_patch_t patch = {fake_fixture, NULL, &calls};
    hub_show_patch_t nothing = {NULL, NULL, NULL};
    char err[ERRLEN], field[FIELDLEN];
    hub_show_t s;

    parse_ok(CUES(CUE_POI("c1", "\"mover1\"", "stage_center")), &s);
    /* No POI callback: no POIs. */
    assert_int_equal(hub_show_check(&s, "", &patch, err, sizeof(err), field, sizeof(field)),
                     HUB_EINVAL);
    assert_string_equal(err, "show: cue \"c1\" (cues[0]): \"poi\" \"stage_center\" is not a POI "
                             "of the patch");
    assert_int_equal(calls, 1); /* each fixture looked up once */
    /* No fixture callback: no fixtures. No buffers: still refused. */
    assert_int_equal(hub_show_check(&s, FILE_NAME, &nothing, NULL, 0, NULL, 0), HUB_EINVAL);
    hub_show_free(&s);

    /* A show with nothing in it needs nothing of the patch. */
    memset(&s, 0, sizeof(s));
    assert_int_equal(
        hub_show_check(&s, FILE_NAME, &nothing, err, sizeof(err), field, sizeof(field)), 0);
}

/* ---- rendering ---- */

static char *render(const hub_show_t *s)
{
    hub_jbuf_t b;
    hub_jbuf_init(&b);
    hub_show_render(&b, s);
    return hub_jbuf_take(&b, NULL);
}

/* render -> parse -> the same show, and rendering that gives the same text. */
static void round_trip(const hub_show_t *s)
{
    char *text = render(s), *again;
    hub_show_t back;

    parse_ok(text, &back);
    assert_show_equal(s, &back);
    again = render(&back);
    assert_string_equal(again, text);
    hub_free(again);
    hub_free(text);
    hub_show_free(&back);
}

static void test_render_example(void **state)
{
    hub_show_t s;
    char *text;

    parse_ok(example, &s);
    text = render(&s);
    assert_string_equal(text, example_canonical);
    hub_free(text);
    round_trip(&s);
    hub_show_free(&s);

    /* No audio: null; no items: empty arrays. */
    parse_ok("{\"effects\":[],\"duration_ms\":7,\"name\":\"q\"}", &s);
    text = render(&s);
    assert_string_equal(
        text, "{\"name\":\"q\",\"duration_ms\":7,\"audio\":null,\"cues\":[],\"effects\":[]}");
    hub_free(text);
    hub_show_free(&s);
}

static void test_render_every_effect(void **state)
{
    static const char text[] =
        "{\"name\":\"fx\",\"duration_ms\":100000,\"audio\":\"a b.ogg\",\"cues\":["
        "{\"id\":\"q1\",\"t_ms\":100000,\"fixtures\":[\"a\"],\"values\":{\"gobo\":3,\"red\":0},"
        "\"poi\":\"p\",\"fade_ms\":100000,\"curve\":\"ease_in_out\"}],\"effects\":["
        "{\"id\":\"p\",\"t_ms\":0,\"dur_ms\":1,\"fixtures\":[\"a\",\"b\"],\"effect\":\"pulse\","
        "\"params\":{\"spread\":0.1}},"
        "{\"id\":\"r\",\"t_ms\":0,\"dur_ms\":1,\"fixtures\":[\"a\"],\"effect\":\"rainbow\","
        "\"params\":{\"spread\":0.3333333333333333,\"max\":17}},"
        "{\"id\":\"s\",\"t_ms\":0,\"dur_ms\":1,\"fixtures\":[\"a\"],\"effect\":\"strobe\","
        "\"params\":{\"duty\":0.7,\"role\":\"white\",\"min\":3}},"
        "{\"id\":\"n\",\"t_ms\":0,\"dur_ms\":1,\"fixtures\":[\"a\"],\"effect\":\"sine\","
        "\"params\":{\"spread\":1e-7}},"
        "{\"id\":\"c\",\"t_ms\":0,\"dur_ms\":1,\"fixtures\":[\"a\"],\"effect\":\"chase\"}]}";
    hub_show_t s;
    hub_jbuf_t b;

    parse_ok(text, &s);
    round_trip(&s);

    /* Only the parameters that apply, every one of them. */
    hub_jbuf_init(&b);
    hub_show_render_effect(&b, &s.effects[1]);
    assert_string_equal(b.p, "{\"id\":\"r\",\"t_ms\":0,\"dur_ms\":1,\"fixtures\":[\"a\"],"
                             "\"effect\":\"rainbow\",\"params\":{\"period_ms\":3000,\"max\":17,"
                             "\"spread\":0.3333333333333333}}");
    hub_jbuf_reset(&b);
    hub_show_render_effect(&b, &s.effects[2]);
    assert_string_equal(b.p, "{\"id\":\"s\",\"t_ms\":0,\"dur_ms\":1,\"fixtures\":[\"a\"],"
                             "\"effect\":\"strobe\",\"params\":{\"period_ms\":100,"
                             "\"role\":\"white\",\"min\":3,\"max\":255,\"duty\":0.7}}");
    hub_jbuf_reset(&b);
    hub_show_render_effect(&b, &s.effects[0]);
    assert_non_null(strstr(b.p, "\"params\":{\"period_ms\":1000,\"role\":\"dimmer\",\"min\":0,"
                                "\"max\":255,\"spread\":0.1}"));
    hub_jbuf_reset(&b);
    hub_show_render_cue(&b, &s.cues[0]);
    assert_string_equal(b.p, "{\"id\":\"q1\",\"t_ms\":100000,\"fixtures\":[\"a\"],"
                             "\"values\":{\"gobo\":3,\"red\":0},\"poi\":\"p\",\"fade_ms\":100000,"
                             "\"curve\":\"ease_in_out\"}");
    /* Items rendered one after another get commas between them. */
    hub_jbuf_reset(&b);
    hub_jbuf_open(&b, '[');
    hub_show_render_effect(&b, &s.effects[4]);
    hub_show_render_cue(&b, &s.cues[0]);
    hub_jbuf_close(&b, ']');
    json_t *arr = load(b.p);
    assert_int_equal(json_array_size(arr), 2);
    json_decref(arr);
    hub_jbuf_free(&b);
    hub_show_free(&s);
}

/* Doubles that print badly with too few digits survive exactly. */
static void test_render_doubles(void **state)
{
    static const double hard[] = {
        0.1, 0.2, 1.0 / 3, 2.0 / 3, 0.7, 1e-300, 5e-324, 0.30000000000000004, 0.9999999999999999,
        1,   0};
    hub_show_t s;

    parse_ok("{\"name\":\"d\",\"duration_ms\":10,\"effects\":[{\"id\":\"e\",\"t_ms\":0,"
             "\"dur_ms\":1,\"fixtures\":[\"a\"],\"effect\":\"strobe\"},{\"id\":\"f\",\"t_ms\":0,"
             "\"dur_ms\":1,\"fixtures\":[\"a\"],\"effect\":\"sine\"}]}",
             &s);
    for (size_t i = 0; i < sizeof(hard) / sizeof(hard[0]); i++) {
        s.effects[0].params.duty = hard[i];
        s.effects[1].params.spread = hard[i];
        round_trip(&s);
    }
    hub_show_free(&s);
}

/* ---- ids, copies ---- */

static void test_id_taken(void **state)
{
    hub_show_t s;

    parse_ok(example, &s);
    assert_true(hub_show_id_taken(&s, "c1", -1, -1));
    assert_true(hub_show_id_taken(&s, "c2", -1, -1));
    assert_true(hub_show_id_taken(&s, "e1", -1, -1));
    assert_false(hub_show_id_taken(&s, "c3", -1, -1));
    assert_false(hub_show_id_taken(&s, "C1", -1, -1)); /* case-sensitive */
    assert_false(hub_show_id_taken(&s, "", -1, -1));
    assert_false(hub_show_id_taken(&s, NULL, -1, -1));
    /* Updating cue 0 under its own id is fine; under cue 1's or e1's it is not. */
    assert_false(hub_show_id_taken(&s, "c1", 0, 0));
    assert_true(hub_show_id_taken(&s, "c2", 0, 0));
    assert_true(hub_show_id_taken(&s, "e1", 0, 0));
    assert_true(hub_show_id_taken(&s, "c1", 0, 1));
    /* Effect 0 is skipped only as an effect, not cue 0. */
    assert_false(hub_show_id_taken(&s, "e1", 1, 0));
    assert_true(hub_show_id_taken(&s, "c1", 1, 0));
    hub_show_free(&s);

    memset(&s, 0, sizeof(s));
    assert_false(hub_show_id_taken(&s, "c1", -1, -1));
}

static void test_copy(void **state)
{
    hub_show_t s, d, empty = {0}, d2;
    hub_show_cue_t c;
    hub_show_effect_t e;

    parse_ok(example, &s);
    hub_show_copy(&d, &s);
    assert_ptr_not_equal(d.cues, s.cues);
    assert_ptr_not_equal(d.cues[0].fixtures, s.cues[0].fixtures);
    assert_ptr_not_equal(d.cues[0].values, s.cues[0].values);
    assert_ptr_not_equal(d.effects[0].fixtures, s.effects[0].fixtures);
    assert_show_equal(&d, &s);

    hub_show_cue_copy(&c, &s.cues[0]);
    hub_show_effect_copy(&e, &s.effects[0]);
    hub_show_free(&s); /* the copies own their memory (ASan would see otherwise) */
    assert_string_equal(d.cues[0].fixtures[1], "par2");
    assert_int_equal(d.cues[0].values[1].role, HUB_ROLE_DIMMER);
    assert_string_equal(c.fixtures[1], "par2");
    assert_int_equal(c.values[0].value, 255);
    assert_string_equal(e.fixtures[0], "par1");
    assert_null(d.cues[1].values); /* nothing to copy: NULL */
    hub_show_cue_free(&c);
    hub_show_effect_free(&e);
    round_trip(&d);
    hub_show_free(&d);

    hub_show_copy(&d2, &empty);
    assert_true(is_zero(&d2, sizeof(d2)));
    hub_show_free(&d2);
}

int main(void)
{
    static const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_example),
        cmocka_unit_test(test_minimal_and_defaults),
        cmocka_unit_test(test_params_defaults),
        cmocka_unit_test(test_params_given),
        cmocka_unit_test(test_integers_in_memory),
        cmocka_unit_test(test_len_is_respected),
        cmocka_unit_test(test_big_show),
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_nul_bytes_in_memory),
        cmocka_unit_test(test_hostile_keys_in_memory),
        cmocka_unit_test(test_err_buffer_edges),
        cmocka_unit_test(test_cue_from_json),
        cmocka_unit_test(test_effect_from_json),
        cmocka_unit_test(test_check),
        cmocka_unit_test(test_check_edges),
        cmocka_unit_test(test_render_example),
        cmocka_unit_test(test_render_every_effect),
        cmocka_unit_test(test_render_doubles),
        cmocka_unit_test(test_id_taken),
        cmocka_unit_test(test_copy),
    };
    size_t nbad = sizeof(bad_cases) / sizeof(bad_cases[0]);
    struct CMUnitTest *bad = calloc(nbad, sizeof(*bad));
    int failed;

    for (size_t i = 0; i < nbad; i++) {
        bad[i].name = bad_cases[i].name;
        bad[i].test_func = run_bad;
        bad[i].initial_state = (void *)&bad_cases[i];
    }
    failed = cmocka_run_group_tests_name("show file", tests, NULL, NULL);
    failed += _cmocka_run_group_tests("show file refusals", bad, nbad, NULL, NULL);
    free(bad);
    return failed;
}
