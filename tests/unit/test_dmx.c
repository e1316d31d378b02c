/* tests/unit/test_dmx.c - the dmx domain on a real engine without a store:
 * every intent, refusals that change nothing, the published state and the
 * output layers following only the announced changes, reloads, the seed-000
 * views, and a random stream checking that what the patches say (pub) is
 * always what the domain has (work). */
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
#include <uv.h>

#include "core/err.h"
#include "core/metrics.h"
#include "domains/dmx/dmx.h"
#include "domains/dmx/dmx_int.h"
#include "engine/engine.h"
#include "engine/intent.h"

static const char *const PATCH =
    "{\"universes\":[1,2],\"fixtures\":["
    "{\"name\":\"demo\",\"universe\":1,\"address\":1,\"channels\":[\"red\",\"green\",\"blue\"]},"
    "{\"name\":\"par1\",\"universe\":1,\"address\":10,\"channels\":[\"red\",\"green\",\"blue\","
    "\"dimmer\"]},"
    "{\"name\":\"mover\",\"universe\":2,\"address\":1,\"channels\":[\"pan\",\"pan_fine\",\"tilt\","
    "\"tilt_fine\"]}],"
    "\"pois\":[{\"name\":\"center\",\"pan\":128,\"tilt\":60,\"pan_fine\":3}]}";

typedef struct tctx {
    uv_loop_t loop;
    hub_metrics_t *metrics;
    hub_engine_t *e;
    hub_dmx_t *d;
    char dir[64], file[128];
    hub_dmx_layers_t layers[4]; /* by universe 1..3 */
    int sunk[4];                /* sink calls per universe; -1 after a NULL */
    int outcome;
    uint64_t seq;
    hub_error_t err;
} tctx_t;

static tctx_t T;

static void write_file(const char *text)
{
    FILE *f = fopen(T.file, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static void sink(void *ud, int universe, const hub_dmx_layers_t *layers)
{
    (void)ud;
    assert_true(universe >= 1 && universe <= 3);
    if (layers == NULL) {
        T.sunk[universe] = -1;
        return;
    }
    T.layers[universe] = *layers;
    T.sunk[universe]++;
}

static int setup(void **state)
{
    char err[512];
    memset(&T, 0, sizeof(T));
    snprintf(T.dir, sizeof(T.dir), "/tmp/test_dmx.XXXXXX");
    assert_non_null(mkdtemp(T.dir));
    snprintf(T.file, sizeof(T.file), "%s/fixtures.json", T.dir);
    write_file(PATCH);
    uv_loop_init(&T.loop);
    T.metrics = hub_metrics_new();
    hub_dmx_cfg_t dc = {.fixtures_file = T.file, .file_explicit = 1, .demo_universe = 1};
    if (hub_dmx_new(&T.d, &dc, err, sizeof(err)) != 0)
        fail_msg("%s", err);
    hub_engine_cfg_t ec = {.queue_size = 1000, .dedupe_capacity = 100, .dedupe_ttl_ms = 60000};
    assert_int_equal(hub_engine_new(&T.e, &T.loop, &ec, T.metrics), 0);
    assert_int_equal(hub_engine_register(T.e, hub_dmx_domain(), T.d), 0);
    assert_int_equal(hub_engine_start(T.e, NULL, NULL), 0);
    hub_dmx_set_sink(T.d, sink, NULL);
    hub_dmx_sink_all(T.d);
    return 0;
}

static int teardown(void **state)
{
    hub_engine_free(T.e);
    uv_run(&T.loop, UV_RUN_DEFAULT);
    uv_loop_close(&T.loop);
    hub_dmx_free(T.d);
    hub_metrics_free(T.metrics);
    unlink(T.file);
    rmdir(T.dir);
    return 0;
}

static void on_done(hub_intent_t *in, const hub_announce_t *ann, void *ud)
{
    (void)ann;
    (void)ud;
    T.outcome = in->outcome;
    T.seq = in->seq;
    T.err = in->err;
}

/* Submit name with payload (JSON text), run it, return its outcome. */
static int run(const char *name, const char *payload)
{
    static int n;
    char id[32];
    hub_error_t err;
    json_t *p = json_loads(payload, 0, NULL);
    assert_non_null(p);
    snprintf(id, sizeof(id), "t-%d", ++n);
    hub_intent_t *in = hub_intent_new(id, "test", name);
    hub_intent_set_payload(in, p);
    in->done = on_done;
    T.outcome = -999;
    if (hub_engine_prepare(T.e, in, &err) != 0) {
        T.outcome = HUB_INTENT_REJECTED;
        T.err = err;
        hub_intent_free(in);
        return T.outcome;
    }
    assert_int_equal(hub_engine_submit(T.e, in), 0);
    hub_engine_drain_now(T.e);
    assert_int_not_equal(T.outcome, -999);
    return T.outcome;
}

static void ok(const char *name, const char *payload)
{
    if (run(name, payload) != HUB_INTENT_APPLIED)
        fail_msg("%s %s: %s (%s: %s)", name, payload, hub_errcode_name(T.err.code), T.err.field,
                 T.err.msg);
}

static void refused(const char *name, const char *payload, hub_errcode_t code, const char *field)
{
    assert_int_equal(run(name, payload), HUB_INTENT_REJECTED);
    if (T.err.code != code || strcmp(T.err.field, field) != 0)
        fail_msg("%s %s: got %s/%s (%s), want %s/%s", name, payload, hub_errcode_name(T.err.code),
                 T.err.field, T.err.msg, hub_errcode_name(code), field);
}

static char *state_text(void)
{
    hub_jbuf_t b;
    hub_jbuf_init(&b);
    hub_engine_render_state(T.e, hub_engine_state_rooms(T.e), &b);
    return hub_jbuf_take(&b, NULL);
}

static uint8_t out_of(int universe, int channel)
{
    uint8_t out[512];
    hub_dmx_merge_layers(&T.layers[universe], out);
    return out[channel - 1];
}

/* ---- tests ---------------------------------------------------------------- */

static void test_initial_snapshot(void **state)
{
    char *s = state_text();
    json_t *j = json_loads(s, 0, NULL);
    assert_non_null(j);
    json_t *dmx = json_object_get(json_object_get(j, "state"), "dmx");
    assert_true(json_is_false(json_object_get(dmx, "blackout")));
    assert_int_equal(json_array_size(json_object_get(dmx, "universes")), 2);
    assert_int_equal(json_object_size(json_object_get(dmx, "fixtures")), 3);
    assert_int_equal(json_object_size(json_object_get(dmx, "channels")), 0);
    json_t *c = json_object_get(json_object_get(dmx, "pois"), "center");
    assert_int_equal(json_integer_value(json_object_get(c, "pan_fine")), 3);
    assert_int_equal(json_integer_value(json_object_get(c, "tilt_fine")), 0);
    assert_int_equal(T.sunk[1], 1);
    assert_int_equal(T.sunk[2], 1);
    json_decref(j);
    free(s);
}

static void test_set_values_and_layers(void **state)
{
    ok("fixture.set_values", "{\"fixture\":\"par1\",\"values\":{\"red\":300,\"dimmer\":127.5}}");
    assert_int_equal(T.seq, 1);
    assert_int_equal(out_of(1, 10), 255);
    assert_int_equal(out_of(1, 13), 128);
    assert_int_equal(out_of(1, 11), 0); /* released: nothing */
    assert_int_equal(T.sunk[1], 2);     /* universe 1 moved */
    assert_int_equal(T.sunk[2], 1);     /* universe 2 did not */
    ok("fixture.set_values", "{\"fixture\":\"par1\",\"values\":{\"red\":null}}");
    assert_int_equal(out_of(1, 10), 0);
}

static void test_refusals_change_nothing(void **state)
{
    ok("fixture.set_values", "{\"fixture\":\"par1\",\"values\":{\"red\":1}}");
    char *before = state_text();
    int sunk = T.sunk[1];
    /* The first role is fine, the second is not: nothing of it applies. */
    refused("fixture.set_values", "{\"fixture\":\"par1\",\"values\":{\"red\":9,\"tilt\":1}}",
            HUB_ERR_INVALID, "values.tilt");
    refused("fixture.set_values", "{\"fixture\":\"nope\",\"values\":{}}", HUB_ERR_NOT_FOUND,
            "fixture");
    refused("fixture.set_arm", "{\"fixture\":\"par1\",\"armed\":1}", HUB_ERR_INVALID, "armed");
    refused("fixture.release", "{\"fixture\":\"par1\",\"roles\":[\"red\",\"pan\"]}",
            HUB_ERR_INVALID, "roles[1]");
    refused("fixture.go_to_poi", "{\"fixture\":\"par1\",\"poi\":\"center\"}", HUB_ERR_INVALID,
            "fixture");
    refused("fixture.go_to_poi", "{\"fixture\":\"mover\",\"poi\":\"x\"}", HUB_ERR_NOT_FOUND, "poi");
    refused("dmx.set_channels", "{\"universe\":1,\"channels\":{\"20\":1,\"10\":5}}",
            HUB_ERR_INVALID, "channels.10");
    refused("dmx.set_channels", "{\"universe\":1,\"channels\":{\"513\":1}}", HUB_ERR_INVALID,
            "channels.513");
    refused("dmx.set_channels", "{\"universe\":7,\"channels\":{}}", HUB_ERR_NOT_FOUND, "universe");
    refused("dmx.blackout", "{\"on\":\"yes\"}", HUB_ERR_INVALID, "on");
    refused("dmx.blackout", "{\"on\":true,\"extra\":1}", HUB_ERR_INVALID, "extra");
    refused("nope.nope", "{}", HUB_ERR_UNKNOWN_INTENT, "name");
    char *after = state_text();
    assert_string_equal(before, after);
    assert_int_equal(T.sunk[1], sunk);
    free(before);
    free(after);
}

static void test_arm_blackout_channels(void **state)
{
    ok("fixture.set_values", "{\"fixture\":\"par1\",\"values\":{\"red\":5}}");
    ok("dmx.set_channels", "{\"universe\":1,\"channels\":{\"20\":20,\"512\":2}}");
    assert_int_equal(out_of(1, 20), 20);
    assert_int_equal(out_of(1, 512), 2);
    ok("fixture.set_arm", "{\"fixture\":\"par1\",\"armed\":false}");
    assert_int_equal(out_of(1, 10), 0);
    assert_int_equal(out_of(1, 20), 20); /* only par1's slots */
    ok("dmx.blackout", "{\"on\":true}");
    for (int ch = 1; ch <= 512; ch++)
        assert_int_equal(out_of(1, ch), 0);
    assert_int_equal(out_of(2, 1), 0);
    ok("dmx.blackout", "{\"on\":false}");
    ok("fixture.set_arm", "{\"fixture\":\"par1\",\"armed\":true}");
    assert_int_equal(out_of(1, 10), 5);
    ok("dmx.set_channels", "{\"universe\":1,\"channels\":{\"20\":null}}");
    assert_int_equal(out_of(1, 20), 0);
}

static void test_go_to_poi_and_release(void **state)
{
    ok("fixture.go_to_poi", "{\"fixture\":\"mover\",\"poi\":\"center\"}");
    assert_int_equal(out_of(2, 1), 128);
    assert_int_equal(out_of(2, 2), 3);
    assert_int_equal(out_of(2, 3), 60);
    assert_int_equal(out_of(2, 4), 0);
    ok("fixture.release", "{\"fixture\":\"mover\",\"roles\":[\"tilt\"]}");
    assert_int_equal(out_of(2, 3), 0);
    assert_int_equal(out_of(2, 1), 128);
    ok("fixture.release", "{\"fixture\":\"mover\"}");
    assert_int_equal(out_of(2, 1), 0);
}

static void test_rgb_views(void **state)
{
    size_t n;
    char want[256];

    /* Before any change: zeros, seq 0, ts 0, byte for byte (seed 000). */
    const char *rgb = hub_engine_view(T.e, "rgb", &n);
    assert_non_null(rgb);
    assert_string_equal(rgb, "{\"schema\":\"demo.rgb.state.v1\",\"r\":0,\"g\":0,\"b\":0,"
                             "\"seq\":0,\"ts\":0}");
    assert_int_equal(n, strlen(rgb));
    ok("fixture.set_values",
       "{\"fixture\":\"demo\",\"values\":{\"red\":1,\"green\":2,\"blue\":3}}");
    unsigned long long ts = (unsigned long long)hub_engine_ts_ms(T.e);
    rgb = hub_engine_view(T.e, "rgb", &n);
    snprintf(want, sizeof(want),
             "{\"schema\":\"demo.rgb.state.v1\",\"r\":1,\"g\":2,\"b\":3,\"seq\":1,\"ts\":%llu}",
             ts);
    assert_string_equal(rgb, want);
    assert_int_equal(n, strlen(want));
    const char *ws = hub_engine_view(T.e, "ws_state", &n);
    snprintf(want, sizeof(want),
             "{\"type\":\"state\",\"r\":1,\"g\":2,\"b\":3,\"seq\":1,\"ts\":%llu}", ts);
    assert_string_equal(ws, want);
    assert_int_equal(n, strlen(want));
    /* another fixture: the demo view keeps its seq */
    ok("fixture.set_values", "{\"fixture\":\"par1\",\"values\":{\"red\":1}}");
    rgb = hub_engine_view(T.e, "rgb", &n);
    assert_non_null(strstr(rgb, "\"seq\":1,"));
}

/* The seed-000 texts of the demo fixture, byte for byte, at the edges:
 * released roles read 0, the largest seq, a 13-digit ts. */
static void test_rgb_render_bytes(void **state)
{
    hub_jbuf_t b;
    dmx__fixture_t f;
    (void)state;

    memset(&f, 0, sizeof(f));
    snprintf(f.def.name, sizeof(f.def.name), "demo");
    f.def.nch = 3;
    f.def.roles[0] = HUB_ROLE_RED;
    f.def.roles[1] = HUB_ROLE_GREEN;
    f.def.roles[2] = HUB_ROLE_BLUE;
    f.val[0] = 64, f.val[1] = 32, f.val[2] = 128;
    f.set[0] = f.set[1] = f.set[2] = 1;
    f.seq = 1;
    f.ts_ms = 1732363200000ULL;
    hub_jbuf_init(&b);
    dmx__render_rgb(&b, &f, 0);
    assert_string_equal(b.p, "{\"schema\":\"demo.rgb.state.v1\",\"r\":64,\"g\":32,\"b\":128,"
                             "\"seq\":1,\"ts\":1732363200000}");
    f.val[0] = 255, f.val[1] = 0, f.val[2] = 7;
    f.seq = 18446744073709551615ULL;
    f.ts_ms = 123456;
    hub_jbuf_reset(&b);
    dmx__render_rgb(&b, &f, 1);
    assert_string_equal(b.p, "{\"type\":\"state\",\"r\":255,\"g\":0,\"b\":7,"
                             "\"seq\":18446744073709551615,\"ts\":123456}");
    f.set[1] = 0; /* released: 0 on the seed-000 wire */
    f.val[1] = 99;
    hub_jbuf_reset(&b);
    dmx__render_rgb(&b, &f, 1);
    assert_non_null(strstr(b.p, "\"g\":0,"));
    hub_jbuf_reset(&b);
    dmx__render_rgb(&b, NULL, 0); /* no demo at all: zeros */
    assert_string_equal(b.p, "{\"schema\":\"demo.rgb.state.v1\",\"r\":0,\"g\":0,\"b\":0,"
                             "\"seq\":0,\"ts\":0}");
    hub_jbuf_free(&b);
}

static void test_reload(void **state)
{
    ok("fixture.set_values", "{\"fixture\":\"par1\",\"values\":{\"red\":77,\"dimmer\":1}}");
    ok("dmx.set_channels", "{\"universe\":2,\"channels\":{\"100\":9}}");
    write_file(
        "{\"universes\":[1,3],\"fixtures\":["
        "{\"name\":\"par1\",\"universe\":1,\"address\":10,\"channels\":[\"dimmer\",\"red\"]},"
        "{\"name\":\"wash\",\"universe\":3,\"address\":1,\"channels\":[\"dimmer\"]}]}");
    ok("dmx.reload_fixtures", "{}");
    assert_int_equal(T.sunk[2], -1); /* universe 2 left the patch */
    assert_true(T.sunk[3] >= 1);
    assert_int_equal(out_of(1, 10), 1); /* re-patched: values follow the roles */
    assert_int_equal(out_of(1, 11), 77);
    char *s = state_text();
    assert_non_null(strstr(s, "\"universes\":[1,3]"));
    assert_non_null(strstr(s, "\"wash\""));
    assert_null(strstr(s, "\"mover\""));
    assert_null(strstr(s, "\"100\"")); /* raw channels of the gone universe */
    free(s);
    /* A bad file is refused as a whole. */
    write_file(
        "{\"fixtures\":[{\"name\":\"x\",\"universe\":1,\"address\":1,\"channels\":[\"red\"]}]}");
    refused("dmx.reload_fixtures", "{}", HUB_ERR_INVALID, "patch");
    assert_non_null(strstr(T.err.msg, "demo"));
    write_file("{nope");
    refused("dmx.reload_fixtures", "{}", HUB_ERR_INVALID, "file");
    unlink(T.file);
    refused("dmx.reload_fixtures", "{}", HUB_ERR_INVALID, "file"); /* explicit: must exist */
}

/* A seed-000 command (no payload tree: engine/intent.h) and the same
 * change as JSON give the same state, patches and outputs. */
static int run_rgb(const char *body)
{
    hub_intent_t *in;
    hub_error_t err;
    char cmd_id[HUB_REQ_ID_MAX + 1];
    assert_int_equal(hub_intent_parse_rgb(body, strlen(body), "api", &in, &err, cmd_id), 0);
    assert_null(in->payload);
    in->done = on_done;
    T.outcome = -999;
    assert_int_equal(hub_engine_prepare(T.e, in, &err), 0);
    assert_int_equal(hub_engine_submit(T.e, in), 0);
    hub_engine_drain_now(T.e);
    return T.outcome;
}

static void test_legacy_rgb_same_as_json(void **state)
{
    (void)state;
    assert_int_equal(run_rgb("{\"cmdId\":\"01HZX3YJ9YJ3M5QAZ3GZ8K3QFF\",\"r\":300,\"g\":2.4,"
                             "\"b\":0}"),
                     HUB_INTENT_APPLIED);
    char *a = state_text();
    assert_int_equal(out_of(1, 1), 255);
    assert_int_equal(out_of(1, 2), 2);
    assert_int_equal(out_of(1, 3), 0);
    ok("fixture.set_values", "{\"fixture\":\"demo\",\"values\":{\"red\":9}}");
    ok("fixture.set_values",
       "{\"fixture\":\"demo\",\"values\":{\"red\":255,\"green\":2,\"blue\":0}}");
    char *b = state_text();
    /* Same demo object (the seqs differ: 1 and 3). */
    const char *fa = strstr(a, "\"demo\":"), *fb = strstr(b, "\"demo\":");
    assert_non_null(fa);
    assert_non_null(fb);
    const char *ea = strstr(fa, "}}"), *eb = strstr(fb, "}}");
    assert_int_equal(ea - fa, eb - fb);
    assert_memory_equal(fa, fb, (size_t)(ea - fa));
    free(a);
    free(b);
    /* A duplicate cmdId changes nothing. */
    assert_int_equal(run_rgb("{\"cmdId\":\"01HZX3YJ9YJ3M5QAZ3GZ8K3QFF\",\"r\":1,\"g\":1,\"b\":1}"),
                     HUB_INTENT_DUPLICATE);
    assert_int_equal(out_of(1, 1), 255);
}

/* pub is moved only by the announced changes; it must always equal work. */
static void check_pub_equals_work(void)
{
    dmx__state_t *w = &T.d->work, *p = &T.d->pub;
    assert_int_equal(w->nuniverses, p->nuniverses);
    assert_memory_equal(w->universes, p->universes, w->nuniverses * sizeof(int));
    assert_int_equal(w->blackout, p->blackout);
    assert_int_equal(w->nfixtures, p->nfixtures);
    for (size_t i = 0; i < w->nfixtures; i++) {
        const dmx__fixture_t *a = &w->fixtures[i], *b = dmx__state_fixture(p, a->def.name);
        assert_non_null(b);
        assert_int_equal(a->armed, b->armed);
        assert_memory_equal(a->set, b->set, sizeof(a->set));
        assert_memory_equal(a->val, b->val, sizeof(a->val));
        assert_int_equal(a->seq, b->seq);
    }
    for (size_t u = 0; u < w->nuniverses; u++) {
        assert_memory_equal(w->chans[u].set, p->chans[u].set, 512);
        hub_dmx_layers_t lw, lp;
        dmx__state_layers(w, u, &lw);
        dmx__state_layers(p, u, &lp);
        assert_memory_equal(&lw, &lp, sizeof(lw));
        assert_memory_equal(&lp, &T.layers[w->universes[u]], sizeof(lp)); /* what the sink has */
    }
}

static void test_random_stream_pub_follows_work(void **state)
{
    static const char *const fixtures[] = {"demo", "par1", "mover", "ghost"};
    static const char *const roles[] = {"red", "green", "blue", "dimmer", "pan", "tilt", "uv"};
    uint64_t seed = 0x9e3779b97f4a7c15ull;
    char p[256];

    for (int i = 0; i < 3000; i++) {
        seed = seed * 6364136223846793005ull + 1442695040888963407ull;
        unsigned r = (unsigned)(seed >> 33);
        const char *f = fixtures[r % 4], *role = roles[(r >> 3) % 7];
        switch ((r >> 8) % 6) {
        case 0:
            snprintf(p, sizeof(p), "{\"fixture\":\"%s\",\"values\":{\"%s\":%u}}", f, role,
                     (r >> 12) % 300);
            run("fixture.set_values", p);
            break;
        case 1:
            snprintf(p, sizeof(p), "{\"fixture\":\"%s\",\"armed\":%s}", f,
                     (r >> 12) & 1 ? "true" : "false");
            run("fixture.set_arm", p);
            break;
        case 2:
            snprintf(p, sizeof(p), "{\"fixture\":\"%s\",\"roles\":[\"%s\"]}", f, role);
            run("fixture.release", p);
            break;
        case 3:
            snprintf(p, sizeof(p), "{\"universe\":%u,\"channels\":{\"%u\":%u}}", 1 + (r >> 12) % 3,
                     1 + (r >> 14) % 520, (r >> 24) % 256);
            run("dmx.set_channels", p);
            break;
        case 4:
            snprintf(p, sizeof(p), "{\"on\":%s}", (r >> 12) % 4 == 0 ? "true" : "false");
            run("dmx.blackout", p);
            break;
        default:
            snprintf(p, sizeof(p), "{\"fixture\":\"%s\",\"poi\":\"center\"}", f);
            run("fixture.go_to_poi", p);
            break;
        }
        check_pub_equals_work();
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_initial_snapshot, setup, teardown),
        cmocka_unit_test_setup_teardown(test_set_values_and_layers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refusals_change_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_arm_blackout_channels, setup, teardown),
        cmocka_unit_test_setup_teardown(test_go_to_poi_and_release, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rgb_views, setup, teardown),
        cmocka_unit_test(test_rgb_render_bytes),
        cmocka_unit_test_setup_teardown(test_reload, setup, teardown),
        cmocka_unit_test_setup_teardown(test_legacy_rgb_same_as_json, setup, teardown),
        cmocka_unit_test_setup_teardown(test_random_stream_pub_follows_work, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
