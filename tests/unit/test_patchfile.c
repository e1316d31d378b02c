/* tests/unit/test_patchfile.c - domains/dmx/patchfile: parsing, every refusal, hostile input.
 *
 * Refusals are table-driven (one named cmocka test per bad-file kind). Each
 * asserts HUB_EINVAL, that *out was zeroed (it is pre-filled with junk), that
 * the message is one printable-ASCII line starting with the path, and that it
 * holds the listed substrings (entity, field, bad value, what is accepted).
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
#include "domains/dmx/patchfile.h"
#include "domains/dmx/roles.h"

#define PATH   "/etc/showhub/fixtures.json"
#define DEMO_U 7
#define ERRLEN 1024

/* ---- helpers ---- */

static void parse_ok_len(const char *text, size_t len, int demo_u, hub_patch_t *p)
{
    char err[ERRLEN] = "";
    int rc = hub_patch_parse(text, len, PATH, demo_u, p, err, sizeof(err));
    if (rc != 0)
        fail_msg("refused: %s", err);
}

static void parse_ok(const char *text, hub_patch_t *p)
{
    parse_ok_len(text, strlen(text), DEMO_U, p);
}

static int is_zero(const hub_patch_t *p)
{
    static const hub_patch_t zero;
    return memcmp(p, &zero, sizeof(zero)) == 0;
}

/* The message contract: path first, one line, printable ASCII only. */
static void assert_one_safe_line(const char *err)
{
    assert_true(strncmp(err, PATH ": ", strlen(PATH ": ")) == 0);
    for (const char *c = err; *c; c++)
        if ((unsigned char)*c < 0x20 || (unsigned char)*c > 0x7e)
            fail_msg("byte 0x%02x at %zu in: %s", (unsigned char)*c, (size_t)(c - err), err);
}

/* Parse text expecting a refusal; returns the message in err. */
static void refuse_len(const char *text, size_t len, int demo_u, char *err, size_t errlen)
{
    hub_patch_t p;
    memset(&p, 0xa5, sizeof(p));
    assert_int_equal(hub_patch_parse(text, len, PATH, demo_u, &p, err, errlen), HUB_EINVAL);
    assert_true(is_zero(&p));
    assert_one_safe_line(err);
}

/* ---- valid files ---- */

static const char full_file[] =
    "{\"universes\":[5,1],\n"
    " \"fixtures\":[\n"
    "  {\"name\":\"par1\",\"universe\":2,\"address\":1,\"channels\":[\"red\",\"green\",\"blue\","
    "\"dimmer\"]},\n"
    "  {\"address\":509,\"channels\":[\"pan\",\"pan_fine\",\"tilt\",\"tilt_fine\"],"
    "\"universe\":1,\"name\":\"Mover_A-2\"},\n"
    "  {\"name\":\"strip\",\"universe\":2,\"address\":5,\"channels\":[\"generic\"]}],\n"
    " \"pois\":[{\"name\":\"stage_center\",\"pan\":128,\"tilt\":60},\n"
    "          {\"name\":\"door\",\"pan\":0,\"tilt\":255,\"pan_fine\":1,\"tilt_fine\":255}]}";

static void test_valid_full(void **state)
{
    hub_patch_t p;
    const hub_patch_fixture_t *f;

    parse_ok(full_file, &p);

    /* Declared {5,1} ∪ fixtures' {2,1} ∪ implicit demo's {7}, sorted. */
    assert_int_equal(p.nuniverses, 4);
    assert_int_equal(p.universes[0], 1);
    assert_int_equal(p.universes[1], 2);
    assert_int_equal(p.universes[2], 5);
    assert_int_equal(p.universes[3], 7);

    assert_int_equal(p.nfixtures, 4);
    f = &p.fixtures[0];
    assert_string_equal(f->name, "par1");
    assert_int_equal(f->universe, 2);
    assert_int_equal(f->address, 1);
    assert_int_equal(f->nch, 4);
    assert_int_equal(f->roles[0], HUB_ROLE_RED);
    assert_int_equal(f->roles[1], HUB_ROLE_GREEN);
    assert_int_equal(f->roles[2], HUB_ROLE_BLUE);
    assert_int_equal(f->roles[3], HUB_ROLE_DIMMER);
    assert_int_equal(f->implicit, 0);

    f = &p.fixtures[1];
    assert_string_equal(f->name, "Mover_A-2");
    assert_int_equal(f->universe, 1);
    assert_int_equal(f->address, 509); /* 509..512: exactly fits */
    assert_int_equal(f->nch, 4);
    assert_int_equal(f->roles[0], HUB_ROLE_PAN);
    assert_int_equal(f->roles[1], HUB_ROLE_PAN_FINE);
    assert_int_equal(f->roles[2], HUB_ROLE_TILT);
    assert_int_equal(f->roles[3], HUB_ROLE_TILT_FINE);
    assert_int_equal(f->implicit, 0);

    f = &p.fixtures[2];
    assert_string_equal(f->name, "strip");
    assert_int_equal(f->universe, 2);
    assert_int_equal(f->address, 5); /* right after par1's 1..4: touching is fine */
    assert_int_equal(f->nch, 1);
    assert_int_equal(f->roles[0], HUB_ROLE_GENERIC);

    f = &p.fixtures[3];
    assert_string_equal(f->name, "demo");
    assert_int_equal(f->universe, DEMO_U);
    assert_int_equal(f->address, 1);
    assert_int_equal(f->nch, 3);
    assert_int_equal(f->roles[0], HUB_ROLE_RED);
    assert_int_equal(f->roles[1], HUB_ROLE_GREEN);
    assert_int_equal(f->roles[2], HUB_ROLE_BLUE);
    assert_int_equal(f->implicit, 1);

    assert_int_equal(p.npois, 2);
    assert_string_equal(p.pois[0].name, "stage_center");
    assert_int_equal(p.pois[0].pan, 128);
    assert_int_equal(p.pois[0].tilt, 60);
    assert_int_equal(p.pois[0].pan_fine, 0);
    assert_int_equal(p.pois[0].tilt_fine, 0);
    assert_string_equal(p.pois[1].name, "door");
    assert_int_equal(p.pois[1].pan, 0);
    assert_int_equal(p.pois[1].tilt, 255);
    assert_int_equal(p.pois[1].pan_fine, 1);
    assert_int_equal(p.pois[1].tilt_fine, 255);

    hub_patch_free(&p);
    assert_true(is_zero(&p));
}

static void test_lookups(void **state)
{
    hub_patch_t p;
    const hub_patch_fixture_t *f;

    parse_ok(full_file, &p);
    f = hub_patch_fixture(&p, "Mover_A-2");
    assert_ptr_equal(f, &p.fixtures[1]);
    assert_ptr_equal(hub_patch_fixture(&p, "demo"), &p.fixtures[3]);
    assert_null(hub_patch_fixture(&p, "mover_a-2")); /* case-sensitive */
    assert_null(hub_patch_fixture(&p, "nope"));
    assert_null(hub_patch_fixture(NULL, "demo"));
    assert_null(hub_patch_fixture(&p, NULL));

    assert_int_equal(hub_patch_role_channel(f, HUB_ROLE_PAN), 0);
    assert_int_equal(hub_patch_role_channel(f, HUB_ROLE_TILT_FINE), 3);
    assert_int_equal(hub_patch_role_channel(f, HUB_ROLE_RED), -1);
    assert_int_equal(hub_patch_role_channel(&p.fixtures[0], HUB_ROLE_DIMMER), 3);
    assert_int_equal(hub_patch_role_channel(NULL, HUB_ROLE_RED), -1);
    hub_patch_free(&p);
}

static void test_absent_keys(void **state)
{
    static const char *const files[] = {"{}", "{\"fixtures\":[]}", " { \"universes\" : [ ] } ",
                                        "{\"pois\":[]}"};

    for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
        hub_patch_t p;
        parse_ok(files[i], &p);
        assert_int_equal(p.nuniverses, 1);
        assert_int_equal(p.universes[0], DEMO_U);
        assert_int_equal(p.nfixtures, 1);
        assert_string_equal(p.fixtures[0].name, "demo");
        assert_int_equal(p.fixtures[0].implicit, 1);
        assert_int_equal(p.npois, 0);
        assert_null(p.pois);
        hub_patch_free(&p);
    }
}

static void test_file_defined_demo(void **state)
{
    /* A file "demo" replaces the implicit one, so universe 7 channel 1 is free
     * for another fixture and universe 7 is not added to the union. */
    hub_patch_t p;
    parse_ok("{\"fixtures\":["
             "{\"name\":\"demo\",\"universe\":2,\"address\":10,"
             "\"channels\":[\"dimmer\",\"blue\",\"green\",\"red\"]},"
             "{\"name\":\"par7\",\"universe\":3,\"address\":1,\"channels\":[\"red\"]}]}",
             &p);
    assert_int_equal(p.nfixtures, 2);
    assert_string_equal(p.fixtures[0].name, "demo");
    assert_int_equal(p.fixtures[0].implicit, 0);
    assert_int_equal(p.fixtures[0].universe, 2);
    assert_int_equal(p.fixtures[0].address, 10);
    assert_int_equal(hub_patch_role_channel(&p.fixtures[0], HUB_ROLE_RED), 3);
    assert_int_equal(p.fixtures[1].implicit, 0);
    assert_int_equal(p.nuniverses, 2);
    assert_int_equal(p.universes[0], 2);
    assert_int_equal(p.universes[1], 3);
    hub_patch_free(&p);

    /* Without a file demo, channel 1 of the demo universe is taken... */
    char err[ERRLEN];
    const char *f = "{\"fixtures\":[{\"name\":\"par7\",\"universe\":7,\"address\":1,"
                    "\"channels\":[\"red\"]}]}";
    refuse_len(f, strlen(f), DEMO_U, err, sizeof(err));
    /* ...and channel 4 is not. */
    parse_ok("{\"fixtures\":[{\"name\":\"par7\",\"universe\":7,\"address\":4,"
             "\"channels\":[\"red\"]}]}",
             &p);
    assert_int_equal(p.nfixtures, 2);
    assert_int_equal(p.fixtures[1].implicit, 1);
    assert_int_equal(p.nuniverses, 1);
    hub_patch_free(&p);
}

static void test_default(void **state)
{
    hub_patch_t p;

    memset(&p, 0xa5, sizeof(p));
    hub_patch_default(DEMO_U, &p);
    assert_int_equal(p.nuniverses, 1);
    assert_int_equal(p.universes[0], DEMO_U);
    assert_int_equal(p.nfixtures, 1);
    assert_string_equal(p.fixtures[0].name, "demo");
    assert_int_equal(p.fixtures[0].universe, DEMO_U);
    assert_int_equal(p.fixtures[0].address, 1);
    assert_int_equal(p.fixtures[0].nch, 3);
    assert_int_equal(p.fixtures[0].roles[0], HUB_ROLE_RED);
    assert_int_equal(p.fixtures[0].roles[1], HUB_ROLE_GREEN);
    assert_int_equal(p.fixtures[0].roles[2], HUB_ROLE_BLUE);
    assert_int_equal(p.fixtures[0].implicit, 1);
    assert_int_equal(p.npois, 0);
    assert_null(p.pois);
    assert_ptr_equal(hub_patch_fixture(&p, "demo"), &p.fixtures[0]);
    hub_patch_free(&p);
    assert_true(is_zero(&p));
    hub_patch_free(&p); /* freeing a zeroed patch is fine */
    hub_patch_free(NULL);
}

static void test_demo_universe_outside_range(void **state)
{
    /* DMX_OLA_UNIVERSE may be 0 (OLA numbers from 0): it sorts into the list. */
    static const char f[] = "{\"universes\":[3],\"fixtures\":[{\"name\":\"a\",\"universe\":1,"
                            "\"address\":1,\"channels\":[\"red\"]}]}";
    hub_patch_t p;

    parse_ok_len(f, strlen(f), 0, &p);
    assert_int_equal(p.nuniverses, 3);
    assert_int_equal(p.universes[0], 0);
    assert_int_equal(p.universes[1], 1);
    assert_int_equal(p.universes[2], 3);
    assert_int_equal(p.fixtures[1].universe, 0);
    assert_int_equal(p.fixtures[1].implicit, 1);
    hub_patch_free(&p);

    parse_ok_len(f, strlen(f), 64000, &p);
    assert_int_equal(p.nuniverses, 3);
    assert_int_equal(p.universes[0], 1);
    assert_int_equal(p.universes[2], 64000);
    hub_patch_free(&p);
}

static void test_len_is_respected(void **state)
{
    /* Not NUL-terminated: bytes after len must not be read as part of the file. */
    static const char buf[] = "{\"universes\":[2]}GARBAGE";
    hub_patch_t p;

    parse_ok_len(buf, strlen("{\"universes\":[2]}"), DEMO_U, &p);
    assert_int_equal(p.nuniverses, 2);
    assert_int_equal(p.universes[0], 2);
    hub_patch_free(&p);
}

static void test_from_json_matches_parse(void **state)
{
    json_error_t je;
    json_t *root = json_loads(full_file, 0, &je);
    hub_patch_t a, b;
    char err[ERRLEN];

    assert_non_null(root);
    parse_ok(full_file, &a);
    assert_int_equal(hub_patch_from_json(root, PATH, DEMO_U, &b, err, sizeof(err)), 0);
    assert_int_equal(a.nuniverses, b.nuniverses);
    assert_memory_equal(a.universes, b.universes, a.nuniverses * sizeof(int));
    assert_int_equal(a.nfixtures, b.nfixtures);
    assert_memory_equal(a.fixtures, b.fixtures, a.nfixtures * sizeof(hub_patch_fixture_t));
    assert_int_equal(a.npois, b.npois);
    assert_memory_equal(a.pois, b.pois, a.npois * sizeof(hub_patch_poi_t));
    /* root is only read. */
    assert_int_equal(json_array_size(json_object_get(root, "fixtures")), 3);
    hub_patch_free(&a);
    hub_patch_free(&b);
    json_decref(root);
}

static void test_from_json_refusals(void **state)
{
    char err[ERRLEN];
    hub_patch_t p;
    json_t *root;

    /* NULL root (no payload in the reload intent). */
    memset(&p, 0xa5, sizeof(p));
    assert_int_equal(hub_patch_from_json(NULL, PATH, DEMO_U, &p, err, sizeof(err)), HUB_EINVAL);
    assert_true(is_zero(&p));
    assert_one_safe_line(err);

    /* A NUL byte inside a name cannot come through json_loadb, but can come
     * through a JSON value built in memory. */
    root = json_pack("{s:[{s:s%,s:i,s:i,s:[s]}]}", "fixtures", "name", "ab\0cd", (size_t)5,
                     "universe", 1, "address", 1, "channels", "red");
    assert_non_null(root);
    memset(&p, 0xa5, sizeof(p));
    assert_int_equal(hub_patch_from_json(root, PATH, DEMO_U, &p, err, sizeof(err)), HUB_EINVAL);
    assert_true(is_zero(&p));
    assert_one_safe_line(err);
    assert_has(err, (const char *const[]){"fixtures[0]: name \"ab\\x00cd\"",
                                          "'\\x00' at position 3", NULL});
    json_decref(root);

    /* ...and inside a role, where it must not match "red". */
    root = json_pack("{s:[{s:s,s:i,s:i,s:[s%]}]}", "fixtures", "name", "a", "universe", 1,
                     "address", 1, "channels", "red\0x", (size_t)5);
    assert_non_null(root);
    assert_int_equal(hub_patch_from_json(root, PATH, DEMO_U, &p, err, sizeof(err)), HUB_EINVAL);
    assert_one_safe_line(err);
    assert_has(err, (const char *const[]){"channels[0] \"red\\x00x\" is not a known role", NULL});
    json_decref(root);

    /* ...and inside a key, where it must not match "name". */
    root = json_object();
    json_object_setn_new(root, "pois\0x", 6, json_array());
    assert_int_equal(hub_patch_from_json(root, PATH, DEMO_U, &p, err, sizeof(err)), HUB_EINVAL);
    assert_has(err, (const char *const[]){"unknown key \"pois\\x00x\"", NULL});
    json_decref(root);
}

static void test_err_buffer_edges(void **state)
{
    static const char bad[] = "{\"universes\":[0]}";
    char err[32];
    hub_patch_t p;

    /* Truncated, NUL-terminated, no write past errlen. */
    memset(err, 'Z', sizeof(err));
    assert_int_equal(hub_patch_parse(bad, strlen(bad), PATH, DEMO_U, &p, err, 16), HUB_EINVAL);
    assert_int_equal(strlen(err), 15);
    assert_memory_equal(err, PATH, 15);
    for (size_t i = 16; i < sizeof(err); i++)
        assert_int_equal(err[i], 'Z');
    /* No buffer at all. */
    assert_int_equal(hub_patch_parse(bad, strlen(bad), PATH, DEMO_U, &p, NULL, 0), HUB_EINVAL);
    assert_true(is_zero(&p));
    /* NULL path: still a message. */
    char big[ERRLEN];
    assert_int_equal(hub_patch_parse(bad, strlen(bad), NULL, DEMO_U, &p, big, sizeof(big)),
                     HUB_EINVAL);
    assert_non_null(strstr(big, "universes[0] must be an integer 1..63999, got 0"));
    /* A path with a newline in it stays one line. */
    assert_int_equal(
        hub_patch_parse(bad, strlen(bad), "/tmp/a\nb.json", DEMO_U, &p, big, sizeof(big)),
        HUB_EINVAL);
    assert_null(strchr(big, '\n'));
    assert_non_null(strstr(big, "/tmp/a\\x0ab.json: "));
}

/* 4096 fixtures, four per universe on 1024 universes (the demo universe among
 * them): the limits exactly. Builds, parses and checks; no timing assertion,
 * but an O(n^2) overlap or name check would show here first. */
static char *big_file(int overlap_last)
{
    sb_t b = {0};

    sb_add(&b, "{\"fixtures\":[");
    for (int i = 0; i < HUB_DMX_MAX_FIXTURES; i++) {
        int u = i % HUB_DMX_MAX_UNIVERSES + 1;
        int addr = 10 + (i / HUB_DMX_MAX_UNIVERSES) * 100;
        if (overlap_last && i == HUB_DMX_MAX_FIXTURES - 1)
            addr = 10 + 2; /* universe 1024, into fixture 1023's 10..14 */
        sb_add(&b,
               "%s{\"name\":\"fx%04d\",\"universe\":%d,\"address\":%d,"
               "\"channels\":[\"red\",\"green\",\"blue\",\"white\",\"dimmer\"]}",
               i ? "," : "", i, u, addr);
    }
    sb_add(&b, "],\"pois\":[");
    for (int i = 0; i < HUB_DMX_MAX_POIS; i++)
        sb_add(&b, "%s{\"name\":\"p%d\",\"pan\":%d,\"tilt\":%d}", i ? "," : "", i, i % 256,
               255 - i % 256);
    sb_add(&b, "]}");
    return b.s;
}

static void test_big_valid_file(void **state)
{
    char *text = big_file(0);
    hub_patch_t p;

    parse_ok(text, &p);
    assert_int_equal(p.nfixtures, HUB_DMX_MAX_FIXTURES + 1);
    assert_int_equal(p.nuniverses, HUB_DMX_MAX_UNIVERSES);
    for (size_t i = 0; i < p.nuniverses; i++)
        assert_int_equal(p.universes[i], (int)i + 1);
    assert_string_equal(p.fixtures[4095].name, "fx4095");
    assert_int_equal(p.fixtures[4095].universe, 1024);
    assert_int_equal(p.fixtures[4095].address, 310);
    assert_int_equal(p.fixtures[4096].implicit, 1);
    assert_int_equal(p.npois, HUB_DMX_MAX_POIS);
    assert_int_equal(p.pois[1023].pan, 255);
    assert_ptr_equal(hub_patch_fixture(&p, "fx2048"), &p.fixtures[2048]);
    hub_patch_free(&p);
    free(text);
}

static void test_big_file_overlap_found(void **state)
{
    char *text = big_file(1);
    char err[ERRLEN];

    refuse_len(text, strlen(text), DEMO_U, err, sizeof(err));
    assert_has(
        err, (const char *const[]){"fixture \"fx4095\" (fixtures[4095]): uses channels "
                                   "12-16 on universe 1024, overlapping channels 10-14 of fixture "
                                   "\"fx1023\" (fixtures[1023]); both use channels 12-14",
                                   NULL});
    free(text);
}

/* ---- refusals, one per kind ---- */

typedef struct bad_case {
    const char *name;
    const char *json;          /* or NULL and make() */
    char *(*make)(void);       /* malloc'd text */
    const char *const want[6]; /* substrings of the message */
} bad_case_t;

#define FX(body) "{\"fixtures\":[" body "]}"
#define OK_FX(name, u, a)                                                                          \
    "{\"name\":\"" name "\",\"universe\":" #u ",\"address\":" #a ",\"channels\":[\"red\"]}"
#define POI(body) "{\"pois\":[" body "]}"
#define ROLES                                                                                      \
    "accepted: red green blue white amber uv dimmer strobe pan pan_fine tilt tilt_fine zoom "      \
    "focus gobo color_wheel generic"

static char *make_universes(int n, int start)
{
    sb_t b = {0};
    sb_add(&b, "{\"universes\":[");
    for (int i = 0; i < n; i++)
        sb_add(&b, "%s%d", i ? "," : "", start + i);
    sb_add(&b, "]");
    return b.s;
}

static char *make_universes_1025(void)
{
    char *s = make_universes(1025, 1);
    s = realloc(s, strlen(s) + 2);
    strcat(s, "}");
    return s;
}

/* 1024 declared (8..1031) plus the implicit demo's 7. */
static char *make_union_over_demo(void)
{
    char *s = make_universes(1024, 8);
    s = realloc(s, strlen(s) + 2);
    strcat(s, "}");
    return s;
}

/* 1024 declared (1..1024, demo included) plus a fixture on 2000. */
static char *make_union_over_fixture(void)
{
    sb_t b = {0};
    char *u = make_universes(1024, 1);
    sb_add(&b, "%s,\"fixtures\":[" OK_FX("far", 2000, 1) "]}", u);
    free(u);
    return b.s;
}

static char *make_fixtures_4097(void)
{
    sb_t b = {0};
    sb_add(&b, "{\"fixtures\":[");
    for (int i = 0; i < 4097; i++)
        sb_add(&b, "%s{}", i ? "," : "");
    sb_add(&b, "]}");
    return b.s;
}

static char *make_pois_1025(void)
{
    sb_t b = {0};
    sb_add(&b, "{\"pois\":[");
    for (int i = 0; i < 1025; i++)
        sb_add(&b, "%s{}", i ? "," : "");
    sb_add(&b, "]}");
    return b.s;
}

static char *make_channels_65(void)
{
    sb_t b = {0};
    sb_add(&b, "{\"fixtures\":[{\"name\":\"wide\",\"universe\":1,\"address\":1,\"channels\":[");
    for (int i = 0; i < 65; i++)
        sb_add(&b, "%s\"generic\"", i ? "," : "");
    sb_add(&b, "]}]}");
    return b.s;
}

static char *make_name_65(void)
{
    char *n = repeat('n', 65);
    sb_t b = {0};
    sb_add(&b, FX("{\"name\":\"%s\",\"universe\":1,\"address\":1,\"channels\":[\"red\"]}"), n);
    free(n);
    return b.s;
}

/* Hostile: a 100000-character name must not be echoed in full. */
static char *make_name_100k(void)
{
    char *n = repeat('x', 100000);
    sb_t b = {0};
    sb_add(&b, FX("{\"name\":\"%s\",\"universe\":1,\"address\":1,\"channels\":[\"red\"]}"), n);
    free(n);
    return b.s;
}

static char *make_key_10k(void)
{
    char *k = repeat('k', 10000);
    sb_t b = {0};
    sb_add(&b, "{\"%s\":1}", k);
    free(k);
    return b.s;
}

static char *make_deep_nesting(void)
{
    sb_t b = {0};
    sb_add(&b, "{\"universes\":");
    for (int i = 0; i < 100000; i++)
        sb_add(&b, "[");
    for (int i = 0; i < 100000; i++)
        sb_add(&b, "]");
    sb_add(&b, "}");
    return b.s;
}

static char *make_huge_array(void)
{
    sb_t b = {0};
    sb_add(&b, "{\"universes\":[");
    for (int i = 0; i < 200000; i++)
        sb_add(&b, "%s1", i ? "," : "");
    sb_add(&b, "]}");
    return b.s;
}

static char *make_huge_channels(void)
{
    sb_t b = {0};
    sb_add(&b, "{\"fixtures\":[{\"name\":\"x\",\"universe\":1,\"address\":1,\"channels\":[");
    for (int i = 0; i < 200000; i++)
        sb_add(&b, "%s\"red\"", i ? "," : "");
    sb_add(&b, "]}]}");
    return b.s;
}

static const bad_case_t bad_cases[] = {
    /* JSON and top level */
    {"syntax error",
     "{\"fixtures\": [}",
     NULL,
     {PATH ": not valid JSON at line 1 column 15: ", NULL}},
    {"syntax error line number",
     "{\n \"universes\": [1,\n 2,\n}",
     NULL,
     {"not valid JSON at line 4 column 1: ", NULL}},
    {"duplicate key",
     "{\"pois\":[],\"pois\":[]}",
     NULL,
     {"not valid JSON at line 1", "duplicate object key", NULL}},
    {"duplicate key in fixture",
     FX("{\"name\":\"a\",\"name\":\"b\",\"universe\":1,\"address\":1,\"channels\":[\"red\"]}"),
     NULL,
     {"not valid JSON", "duplicate object key", NULL}},
    {"empty file", "", NULL, {PATH ": the file is empty", NULL}},
    {"trailing garbage", "{} x", NULL, {"not valid JSON at line 1", NULL}},
    {"top level array",
     "[{\"universes\":[1]}]",
     NULL,
     {"the top level must be an object with the keys universes, fixtures, pois, got an array",
      NULL}},
    {"top level number", "3", NULL, {"the top level must be an object", "got 3", NULL}},
    {"top level string",
     "\"fixtures\"",
     NULL,
     {"the top level must be an object", "got \"fixtures\"", NULL}},
    {"unknown top-level key",
     "{\"universes\":[1],\"fixture\":[]}",
     NULL,
     {PATH ": top level: unknown key \"fixture\" (accepted keys: universes, fixtures, pois)",
      NULL}},

    /* universes */
    {"universes not array",
     "{\"universes\":1}",
     NULL,
     {"universes must be an array of universe numbers 1..63999, got 1", NULL}},
    {"universe real 1.0",
     "{\"universes\":[1.0]}",
     NULL,
     {"universes[0] must be an integer 1..63999, got 1.0", NULL}},
    {"universe real 1.5",
     "{\"universes\":[2,1.5]}",
     NULL,
     {"universes[1] must be an integer 1..63999, got 1.5", NULL}},
    {"universe string",
     "{\"universes\":[\"1\"]}",
     NULL,
     {"universes[0] must be an integer 1..63999, got \"1\"", NULL}},
    {"universe boolean",
     "{\"universes\":[true]}",
     NULL,
     {"universes[0] must be an integer 1..63999, got true", NULL}},
    {"universe null", "{\"universes\":[null]}", NULL, {"universes[0]", "got null", NULL}},
    {"universe 0",
     "{\"universes\":[0]}",
     NULL,
     {"universes[0] must be an integer 1..63999, got 0", NULL}},
    {"universe 64000",
     "{\"universes\":[64000]}",
     NULL,
     {"universes[0] must be an integer 1..63999, got 64000", NULL}},
    {"universe negative", "{\"universes\":[-1]}", NULL, {"got -1", NULL}},
    {"universe duplicate",
     "{\"universes\":[1,2,3,2]}",
     NULL,
     {PATH ": universes[3]: 2 is listed twice (also universes[1])", NULL}},
    {"universes over limit",
     NULL,
     make_universes_1025,
     {"universes has 1025 entries; at most 1024 universes are accepted", NULL}},
    {"universe union over limit by demo",
     NULL,
     make_union_over_demo,
     {"1025 universes are in use", "at most 1024 universes are accepted", NULL}},
    {"universe union over limit by fixture",
     NULL,
     make_union_over_fixture,
     {"1025 universes are in use", "at most 1024", NULL}},

    /* fixtures: shape */
    {"fixtures not array",
     "{\"fixtures\":{}}",
     NULL,
     {"fixtures must be an array of fixture objects, got an object", NULL}},
    {"fixture not object",
     FX(OK_FX("a", 1, 1) ",3"),
     NULL,
     {PATH ": fixtures[1]: must be an object", "got 3", NULL}},
    {"fixtures over limit",
     NULL,
     make_fixtures_4097,
     {"fixtures has 4097 entries; at most 4096 fixtures are accepted", NULL}},
    {"fixture unknown key",
     FX("{\"name\":\"par1\",\"universe\":1,\"adress\":1,\"channels\":[\"red\"]}"),
     NULL,
     {PATH ": fixture \"par1\" (fixtures[0]): unknown key \"adress\"",
      "(accepted keys: name, universe, address, channels)", NULL}},
    {"fixture missing name",
     FX("{\"universe\":1,\"address\":1,\"channels\":[\"red\"]}"),
     NULL,
     {"fixtures[0]: missing key \"name\" (required keys: name, universe, address, channels)",
      NULL}},
    {"fixture missing universe",
     FX("{\"name\":\"p\",\"address\":1,\"channels\":[\"red\"]}"),
     NULL,
     {"fixture \"p\" (fixtures[0]): missing key \"universe\"", NULL}},
    {"fixture missing address",
     FX("{\"name\":\"p\",\"universe\":1,\"channels\":[\"red\"]}"),
     NULL,
     {"fixture \"p\" (fixtures[0]): missing key \"address\"", NULL}},
    {"fixture missing channels",
     FX("{\"name\":\"p\",\"universe\":1,\"address\":1}"),
     NULL,
     {"fixture \"p\" (fixtures[0]): missing key \"channels\"", NULL}},

    /* fixtures: name */
    {"fixture name not string",
     FX("{\"name\":5,\"universe\":1,\"address\":1,\"channels\":[\"red\"]}"),
     NULL,
     {"fixtures[0]: name must be a string of 1-64 characters from A-Z a-z 0-9 _ -, got 5", NULL}},
    {"fixture name empty",
     FX("{\"name\":\"\",\"universe\":1,\"address\":1,\"channels\":[\"red\"]}"),
     NULL,
     {"fixtures[0]: name is empty; use 1-64 characters from A-Z a-z 0-9 _ -", NULL}},
    {"fixture name space",
     FX("{\"name\":\"par 1\",\"universe\":1,\"address\":1,\"channels\":[\"red\"]}"),
     NULL,
     {"fixtures[0]: name \"par 1\" has the character ' ' at position 4; use 1-64 characters",
      NULL}},
    {"fixture name unicode",
     FX("{\"name\":\"B\\u00fchne\",\"universe\":1,\"address\":1,\"channels\":[\"red\"]}"),
     NULL,
     {"name \"B\\xc3\\xbchne\" has the character '\\xc3' at position 2", NULL}},
    {"fixture name quote",
     FX("{\"name\":\"a\\\"b\",\"universe\":1,\"address\":1,\"channels\":[\"red\"]}"),
     NULL,
     {"name \"a\\\"b\" has the character '\"' at position 2", NULL}},
    {"fixture name escape sequence",
     FX("{\"name\":\"\\u001b[31mred\",\"universe\":1,\"address\":1,\"channels\":[\"red\"]}"),
     NULL,
     {"name \"\\x1b[31mred\" has the character '\\x1b' at position 1", NULL}},
    {"fixture name 65 chars",
     NULL,
     make_name_65,
     {"fixtures[0]: name \"nnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnn...\" is 65 characters long",
      NULL}},

    /* fixtures: universe, address */
    {"fixture universe 0",
     FX(OK_FX("par1", 0, 1)),
     NULL,
     {"fixture \"par1\" (fixtures[0]): universe must be an integer 1..63999, got 0", NULL}},
    {"fixture universe 64000",
     FX(OK_FX("par1", 64000, 1)),
     NULL,
     {"universe must be an integer 1..63999, got 64000", NULL}},
    {"fixture universe real",
     FX(OK_FX("par1", 1.0, 1)),
     NULL,
     {"universe must be an integer 1..63999, got 1.0", NULL}},
    {"fixture universe string",
     FX(OK_FX("par1", "1", 1)),
     NULL,
     {"universe must be an integer 1..63999, got \"1\"", NULL}},
    {"fixture address 0",
     FX(OK_FX("par1", 1, 0)),
     NULL,
     {"fixture \"par1\" (fixtures[0]): address must be an integer 1..512, got 0", NULL}},
    {"fixture address 513",
     FX(OK_FX("par1", 1, 513)),
     NULL,
     {"address must be an integer 1..512, got 513", NULL}},
    {"fixture address false",
     FX(OK_FX("par1", 1, false)),
     NULL,
     {"address must be an integer 1..512, got false", NULL}},
    {"fixture does not fit",
     FX(OK_FX("a", 2, 1) "," OK_FX("b", 2, 2) "," OK_FX(
         "c", 2, 3) ","
                    "{\"name\":\"par1\",\"universe\":1,\"address\":510,"
                    "\"channels\":[\"red\",\"green\",\"blue\",\"dimmer\"]}"),
     NULL,
     {PATH ": fixture \"par1\" (fixtures[3]): address 510 with 4 channels does not fit in 512 "
           "slots (channels 510-513)",
      NULL}},

    /* fixtures: channels */
    {"channels not array",
     FX("{\"name\":\"p\",\"universe\":1,\"address\":1,\"channels\":\"red\"}"),
     NULL,
     {"fixture \"p\" (fixtures[0]): channels must be an array of role names", "got \"red\"", NULL}},
    {"channels empty",
     FX("{\"name\":\"p\",\"universe\":1,\"address\":1,\"channels\":[]}"),
     NULL,
     {"fixture \"p\" (fixtures[0]): channels is empty; list 1 to 64 role names", NULL}},
    {"channels over limit",
     NULL,
     make_channels_65,
     {"fixture \"wide\" (fixtures[0]): channels has 65 entries; at most 64 channels", NULL}},
    {"channel not string",
     FX("{\"name\":\"p\",\"universe\":1,\"address\":1,\"channels\":[\"red\",3]}"),
     NULL,
     {"fixture \"p\" (fixtures[0]): channels[1] must be a role name, got 3", ROLES, NULL}},
    {"channel unknown role",
     FX("{\"name\":\"p\",\"universe\":1,\"address\":1,\"channels\":[\"red\",\"reed\"]}"),
     NULL,
     {"fixture \"p\" (fixtures[0]): channels[1] \"reed\" is not a known role; " ROLES, NULL}},
    {"channel role case",
     FX("{\"name\":\"p\",\"universe\":1,\"address\":1,\"channels\":[\"Red\"]}"),
     NULL,
     {"channels[0] \"Red\" is not a known role", NULL}},
    {"channel role twice",
     FX("{\"name\":\"p\",\"universe\":1,\"address\":1,\"channels\":[\"red\",\"blue\",\"red\"]}"),
     NULL,
     {"fixture \"p\" (fixtures[0]): channels[2] \"red\" is listed twice (also channels[0])", NULL}},

    /* fixtures: across fixtures */
    {"fixture duplicate name",
     FX(OK_FX("a", 1, 1) "," OK_FX("b", 1, 2) "," OK_FX("a", 2, 1)),
     NULL,
     {PATH ": fixture \"a\" (fixtures[2]): name \"a\" is already used by fixtures[0]", NULL}},
    {"fixture overlap",
     FX("{\"name\":\"a\",\"universe\":1,\"address\":1,\"channels\":[\"red\",\"green\",\"blue\","
        "\"dimmer\"]}," OK_FX("x", 2, 3) ","
                                         "{\"name\":\"b\",\"universe\":1,\"address\":3,"
                                         "\"channels\":[\"red\",\"green\",\"blue\","
                                         "\"dimmer\"]}"),
     NULL,
     {PATH
      ": fixture \"b\" (fixtures[2]): uses channels 3-6 on universe 1, overlapping channels 1-4 of "
      "fixture \"a\" (fixtures[0]); both use channels 3-4",
      NULL}},
    {"fixture overlap later one lower",
     FX("{\"name\":\"a\",\"universe\":1,\"address\":5,\"channels\":[\"red\",\"green\"]},"
        "{\"name\":\"b\",\"universe\":1,\"address\":1,\"channels\":[\"red\",\"green\",\"blue\","
        "\"white\",\"amber\",\"uv\",\"dimmer\",\"strobe\",\"pan\"]}"),
     NULL,
     {"fixture \"b\" (fixtures[1]): uses channels 1-9 on universe 1, overlapping channels 5-6 of "
      "fixture \"a\" (fixtures[0]); both use channels 5-6",
      NULL}},
    {"fixture overlap same address",
     FX(OK_FX("a", 9, 100) "," OK_FX("b", 9, 100)),
     NULL,
     {"fixture \"b\" (fixtures[1]): uses channel 100 on universe 9, overlapping channel 100 of "
      "fixture \"a\" (fixtures[0]); both use channel 100",
      NULL}},
    {"fixture overlaps implicit demo",
     FX(OK_FX("a", 1, 1) "," OK_FX("par1", 7, 3)),
     NULL,
     {PATH ": fixture \"par1\" (fixtures[1]): uses channel 3 on universe 7, overlapping the "
           "implicit demo fixture",
      "the implicit demo fixture occupies channels 1-3 of universe 7",
      "define a fixture named \"demo\" elsewhere or move this fixture", NULL}},
    {"file demo without green",
     FX("{\"name\":\"demo\",\"universe\":1,\"address\":1,\"channels\":[\"red\",\"blue\"]}"),
     NULL,
     {PATH ": fixture \"demo\" (fixtures[0]): has no \"green\" channel",
      "backs /rgb and needs the roles red, green and blue", NULL}},
    {"file demo without red",
     FX("{\"name\":\"demo\",\"universe\":1,\"address\":1,\"channels\":[\"dimmer\"]}"),
     NULL,
     {"fixture \"demo\" (fixtures[0]): has no \"red\" channel", NULL}},

    /* pois */
    {"pois not array", "{\"pois\":5}", NULL, {"pois must be an array of POI objects, got 5", NULL}},
    {"poi not object",
     POI("[]"),
     NULL,
     {PATH ": pois[0]: must be an object", "got an array", NULL}},
    {"pois over limit",
     NULL,
     make_pois_1025,
     {"pois has 1025 entries; at most 1024 POIs are accepted", NULL}},
    {"poi unknown key",
     POI("{\"name\":\"door\",\"pan\":1,\"tilt\":2,\"zoom\":3}"),
     NULL,
     {PATH ": poi \"door\" (pois[0]): unknown key \"zoom\"",
      "accepted keys: name, pan, tilt, pan_fine, tilt_fine", NULL}},
    {"poi missing tilt",
     POI("{\"name\":\"door\",\"pan\":1}"),
     NULL,
     {"poi \"door\" (pois[0]): missing key \"tilt\" (required keys: name, pan, tilt)", NULL}},
    {"poi missing name",
     POI("{\"pan\":1,\"tilt\":1}"),
     NULL,
     {"pois[0]: missing key \"name\"", NULL}},
    {"poi bad name",
     POI("{\"name\":\"stage.center\",\"pan\":1,\"tilt\":1}"),
     NULL,
     {"pois[0]: name \"stage.center\" has the character '.' at position 6", NULL}},
    {"poi pan 256",
     POI("{\"name\":\"door\",\"pan\":256,\"tilt\":1}"),
     NULL,
     {"poi \"door\" (pois[0]): pan must be an integer 0..255, got 256", NULL}},
    {"poi tilt real",
     POI("{\"name\":\"door\",\"pan\":1,\"tilt\":1.5}"),
     NULL,
     {"poi \"door\" (pois[0]): tilt must be an integer 0..255, got 1.5", NULL}},
    {"poi pan_fine negative",
     POI("{\"name\":\"door\",\"pan\":1,\"tilt\":1,\"pan_fine\":-1}"),
     NULL,
     {"poi \"door\" (pois[0]): pan_fine must be an integer 0..255, got -1", NULL}},
    {"poi tilt_fine null",
     POI("{\"name\":\"door\",\"pan\":1,\"tilt\":1,\"tilt_fine\":null}"),
     NULL,
     {"poi \"door\" (pois[0]): tilt_fine must be an integer 0..255, got null", NULL}},
    {"poi duplicate name",
     POI("{\"name\":\"door\",\"pan\":1,\"tilt\":1},{\"name\":\"door\",\"pan\":2,\"tilt\":2}"),
     NULL,
     {PATH ": poi \"door\" (pois[1]): name \"door\" is already used by pois[0]", NULL}},

    /* hostile input */
    {"hostile deep nesting",
     NULL,
     make_deep_nesting,
     {"not valid JSON at line 1", "maximum parsing depth reached", NULL}},
    {"hostile huge array",
     NULL,
     make_huge_array,
     {"universes has 200000 entries; at most 1024 universes are accepted", NULL}},
    {"hostile huge channels", NULL, make_huge_channels, {"channels has 200000 entries", NULL}},
    {"hostile 1e300",
     "{\"universes\":[1e300]}",
     NULL,
     {"universes[0] must be an integer 1..63999, got 1e+300", NULL}},
    {"hostile 1e400", "{\"universes\":[1e400]}", NULL, {"not valid JSON", "overflow", NULL}},
    {"hostile minus zero",
     "{\"universes\":[-0]}",
     NULL,
     {"universes[0] must be an integer 1..63999, got 0", NULL}},
    {"hostile minus zero real",
     "{\"universes\":[-0.0]}",
     NULL,
     {"universes[0] must be an integer 1..63999, got -0.0", NULL}},
    {"hostile 2^63",
     "{\"universes\":[9223372036854775808]}",
     NULL,
     {"not valid JSON at line 1", "too big integer", NULL}},
    {"hostile -2^63-1",
     "{\"universes\":[-9223372036854775809]}",
     NULL,
     {"not valid JSON", "too big negative integer", NULL}},
    {"hostile int64 max",
     "{\"universes\":[9223372036854775807]}",
     NULL,
     {"got 9223372036854775807", NULL}},
    {"hostile 2^32+1 address",
     FX(OK_FX("par1", 1, 4294967297)),
     NULL,
     {"address must be an integer 1..512, got 4294967297", NULL}},
    {"hostile 100k name",
     NULL,
     make_name_100k,
     {"name \"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx...\" is 100000 characters long", NULL}},
    {"hostile 10k key",
     NULL,
     make_key_10k,
     {"top level: unknown key \"kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk...\"", NULL}},
    {"hostile NUL escape",
     FX("{\"name\":\"a\\u0000b\",\"universe\":1,\"address\":1,"
        "\"channels\":[\"red\"]}"),
     NULL,
     {"not valid JSON at line 1", "\\u0000 is not allowed", NULL}},
    {"hostile raw NUL byte", NULL, NULL, {"not valid JSON", NULL}}, /* built in run_bad */
    {"hostile non-UTF-8",
     FX("{\"name\":\"a\xff\xfe\",\"universe\":1,\"address\":1,"
        "\"channels\":[\"red\"]}"),
     NULL,
     {"not valid JSON at line 1", NULL}},
    {"hostile overlong UTF-8",
     FX("{\"name\":\"\xc0\xaf\",\"universe\":1,\"address\":1,"
        "\"channels\":[\"red\"]}"),
     NULL,
     {"not valid JSON", NULL}},
    {"hostile raw control char",
     "{\"fixtures\":[{\"name\":\"a\x1b[2Jb\"}]}",
     NULL,
     {"not valid JSON", NULL}},
    {"hostile raw newline in string",
     "{\"pois\":[{\"name\":\"a\nb\"}]}",
     NULL,
     {"not valid JSON at line 1", NULL}},
};

static void run_bad(void **state)
{
    const bad_case_t *bc = *state;
    char err[ERRLEN];
    char *text;
    size_t len;

    if (bc->make) {
        text = bc->make();
        len = strlen(text);
    } else if (bc->json) {
        text = strdup(bc->json);
        len = strlen(text);
    } else { /* raw NUL byte inside a string: only expressible with a length */
        static const char raw[] = "{\"pois\":[{\"name\":\"a\0b\",\"pan\":1,\"tilt\":1}]}";
        len = sizeof(raw) - 1;
        text = malloc(len);
        memcpy(text, raw, len);
    }
    memset(err, 'Z', sizeof(err));
    refuse_len(text, len, DEMO_U, err, sizeof(err));
    assert_has(err, bc->want);
    /* Echoed input is bounded: no message grows with the input. */
    assert_true(strlen(err) < 600);
    free(text);
}

int main(void)
{
    static const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid_full),
        cmocka_unit_test(test_lookups),
        cmocka_unit_test(test_absent_keys),
        cmocka_unit_test(test_file_defined_demo),
        cmocka_unit_test(test_default),
        cmocka_unit_test(test_demo_universe_outside_range),
        cmocka_unit_test(test_len_is_respected),
        cmocka_unit_test(test_from_json_matches_parse),
        cmocka_unit_test(test_from_json_refusals),
        cmocka_unit_test(test_err_buffer_edges),
        cmocka_unit_test(test_big_valid_file),
        cmocka_unit_test(test_big_file_overlap_found),
    };
    size_t nbad = sizeof(bad_cases) / sizeof(bad_cases[0]);
    struct CMUnitTest *bad = calloc(nbad, sizeof(*bad));
    int failed;

    for (size_t i = 0; i < nbad; i++) {
        bad[i].name = bad_cases[i].name;
        bad[i].test_func = run_bad;
        bad[i].initial_state = (void *)&bad_cases[i];
    }
    failed = cmocka_run_group_tests_name("patchfile", tests, NULL, NULL);
    failed += _cmocka_run_group_tests("patchfile refusals", bad, nbad, NULL, NULL);
    free(bad);
    return failed;
}
