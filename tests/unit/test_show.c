/* tests/unit/test_show.c - the show domain on a real engine without a store
 * (persist NULL: every batch completes at once, so file rows are not
 * written; tests/unit/test_show_store.c covers the files).
 *
 * A dmx domain with a patch on universe 2 (the implicit "demo" holds
 * channels 1-3 of universe 1) and the show domain over a temp shows
 * directory: show.load (its prepare reads the file), refusals that change
 * nothing, the transport rules of docs/shows.md, what the sink gets and in
 * which order, cue and effect edits, previews, the directory list, a patch
 * reload, shutdown and the end of a show. Payloads are written with single
 * quotes (turned into double quotes) and parsed with HUB_JSON_FLAGS, as
 * the adapters do. Every wait is bounded. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <uv.h>

#include "core/clock.h"
#include "core/err.h"
#include "core/log.h"
#include "core/metrics.h"
#include "domains/dmx/dmx.h"
#include "domains/show/show.h"
#include "domains/show/show_int.h"
#include "engine/engine.h"
#include "engine/intent.h"

/* PATCH (show_rig.h) without mover1. */
static const char *const PATCH_NO_MOVER =
    "{'universes':[2],'fixtures':["
    "{'name':'par1','universe':2,'address':1,'channels':['red','green','blue','dimmer']},"
    "{'name':'par2','universe':2,'address':5,'channels':['red','green','blue','dimmer']}],"
    "'pois':[{'name':'stage_center','pan':128,'tilt':60}]}";

/* docs/shows.md's example. */
static const char *const OPENING =
    "{'name':'opening','duration_ms':180000,'audio':'opening.mp3','cues':["
    "{'id':'c1','t_ms':0,'fixtures':['par1','par2'],'values':{'red':255,'dimmer':255},"
    "'fade_ms':2000,'curve':'linear'},"
    "{'id':'c2','t_ms':5000,'fixtures':['mover1'],'poi':'stage_center','fade_ms':500},"
    "{'id':'c3','t_ms':20000,'fixtures':['par1','par2'],'values':{'red':0,'blue':255},"
    "'fade_ms':3000,'curve':'ease_in_out'},"
    "{'id':'c4','t_ms':60000,'fixtures':['par1','par2','mover1'],'values':{'dimmer':0},"
    "'curve':'step'}],"
    "'effects':[{'id':'e1','t_ms':10000,'dur_ms':8000,'fixtures':['par1','par2'],"
    "'effect':'chase','params':{'period_ms':500,'role':'dimmer'}},"
    "{'id':'e2','t_ms':30000,'dur_ms':10000,'fixtures':['par1','par2'],'effect':'rainbow',"
    "'params':{'period_ms':4000,'spread':0.5}}]}";

static const char *const OTHER = "{'name':'other','duration_ms':10000,'cues':["
                                 "{'id':'a','t_ms':0,'fixtures':['par2'],'values':{'green':90}}]}";

static const char *const MOVERONLY =
    "{'name':'moveronly','duration_ms':5000,'cues':["
    "{'id':'m','t_ms':0,'fixtures':['mover1'],'values':{'dimmer':10}}]}";

typedef struct tctx {
    uv_loop_t loop;
    hub_metrics_t *metrics;
    hub_engine_t *e;
    hub_dmx_t *dmx;
    hub_showdom_t *d;
    char dir[64], patch[128], shows[128];
    /* the sink */
    char log[2048]; /* "P " prog, "p " NULL prog, "T<state> " transport, "V "/"v " previews */
    int nprog, ntr, npv;
    hub_show_prog_t *prog;
    hub_transport_t tr;
    hub_show_previews_t *pv;
    /* applied intents, "name(src) " */
    char seen[4096];
    int outcome;
    uint64_t seq;
    hub_error_t err;
} tctx_t;

static tctx_t T;

static void logs(const char *s)
{
    size_t n = strlen(T.log);
    snprintf(T.log + n, sizeof(T.log) - n, "%s ", s);
}

#define SHOW_RIG             T
#define SHOW_RIG_SHOWS       T.shows
#define SHOW_RIG_HEARD(what) logs(what)
#include "show_rig.h"

/* ---- helpers ------------------------------------------------------------------ */

static void remove_show(const char *name)
{
    char p[256];
    show_file(name, p, sizeof(p));
    assert_int_equal(unlink(p), 0);
}

static void sink_previews(void *ud, hub_show_previews_t *pv)
{
    (void)ud;
    hub_show_previews_unref(T.pv);
    T.pv = pv;
    T.npv++;
    logs(pv ? "V" : "v");
}

static void settle(void)
{
    for (int i = 0; i < 100 && !hub_engine_idle(T.e); i++)
        hub_engine_drain_now(T.e);
    assert_true(hub_engine_idle(T.e));
}

static int setup(void **state)
{
    char err[512];
    (void)state;
    memset(&T, 0, sizeof(T));
    snprintf(T.dir, sizeof(T.dir), "/tmp/test_show.XXXXXX");
    assert_non_null(mkdtemp(T.dir));
    snprintf(T.patch, sizeof(T.patch), "%s/fixtures.json", T.dir);
    snprintf(T.shows, sizeof(T.shows), "%s/shows/nested", T.dir); /* created by the domain */
    write_path(T.patch, PATCH);
    uv_loop_init(&T.loop);
    T.metrics = hub_metrics_new();
    hub_dmx_cfg_t dc = {.fixtures_file = T.patch, .file_explicit = 1, .demo_universe = 1};
    if (hub_dmx_new(&T.dmx, &dc, err, sizeof(err)) != 0)
        fail_msg("%s", err);
    hub_showdom_cfg_t sc = {
        .shows_dir = T.shows, .default_show = NULL, .max_bytes = 1 << 20, .dmx = T.dmx};
    if (hub_showdom_new(&T.d, &sc, err, sizeof(err)) != 0)
        fail_msg("%s", err);
    hub_engine_cfg_t ec = {.queue_size = 1000, .dedupe_capacity = 100, .dedupe_ttl_ms = 60000};
    assert_int_equal(hub_engine_new(&T.e, &T.loop, &ec, T.metrics), 0);
    assert_int_equal(hub_engine_register(T.e, hub_dmx_domain(), T.dmx), 0);
    assert_int_equal(hub_engine_register(T.e, hub_showdom_domain(), T.d), 0);
    assert_int_equal(hub_engine_start(T.e, NULL, NULL), 0);
    hub_subscriber_t sub = {.on_state = on_state};
    hub_engine_subscribe(T.e, &sub);
    hub_show_sink_t sink = {sink_playback, sink_previews, NULL};
    hub_showdom_set_sink(T.d, &sink);
    hub_showdom_start(T.d, T.e, &T.loop);
    /* start hands over what there is: no program, the stopped transport */
    assert_string_equal(T.log, "T0 ");
    T.log[0] = '\0';
    write_show("opening", OPENING);
    write_show("other", OTHER);
    return 0;
}

static int teardown(void **state)
{
    char cmd[160];
    (void)state;
    settle();
    hub_showdom_stop(T.d);
    hub_engine_free(T.e);
    uv_run(&T.loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&T.loop), 0);
    hub_showdom_free(T.d);
    hub_dmx_free(T.dmx);
    hub_metrics_free(T.metrics);
    hub_show_prog_unref(T.prog);
    hub_show_previews_unref(T.pv);
    snprintf(cmd, sizeof(cmd), "rm -rf %s", T.dir);
    assert_int_equal(system(cmd), 0);
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

/* Prepare and submit name with payload (single-quoted JSON); the caller
 * drains. Returns 0, or -1 when prepare refused it (T.err says why). */
static int submit(const char *name, const char *payload)
{
    static int n;
    char id[32];
    snprintf(id, sizeof(id), "t-%d", ++n);
    return submit_intent(id, name, payload, on_done);
}

static int run(const char *name, const char *payload)
{
    if (submit(name, payload) == 0)
        settle();
    assert_int_not_equal(T.outcome, -999);
    return T.outcome;
}

static void refused(const char *name, const char *payload, hub_errcode_t code, const char *field)
{
    if (run(name, payload) != HUB_INTENT_REJECTED || T.err.code != code ||
        strcmp(T.err.field, field) != 0)
        fail_msg("%s %s: got outcome %d %s/%s (%s), want %s/%s", name, payload, T.outcome,
                 hub_errcode_name(T.err.code), T.err.field, T.err.msg, hub_errcode_name(code),
                 field);
}

/* The published state (every room, without the seq an applied intent
 * moves even when it changed nothing). */
static char *state_text(void)
{
    json_t *j = published();
    char *s = json_dumps(json_object_get(j, "state"), JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(j);
    assert_non_null(s);
    return s;
}

/* The published state is still before (what state_text() said earlier),
 * which this frees. */
static void assert_state_unchanged(char *before)
{
    char *after = state_text();
    assert_string_equal(before, after);
    free(before);
    free(after);
}

/* The published transport's rate as text ("1", "0.25"). */
static void tr_rate(char *out, size_t n)
{
    json_t *s = show_state();
    char *r = json_dumps(json_object_get(json_object_get(s, "transport"), "rate"), JSON_ENCODE_ANY);
    snprintf(out, n, "%s", r);
    free(r);
    json_decref(s);
}

/* The sink's transport is the domain's, field by field, and so is the
 * published one. */
static void check_sink_transport(void)
{
    static const char *const names[] = {"stopped", "playing", "paused"};
    assert_int_equal(T.tr.state, T.d->tr.state);
    assert_int_equal(T.tr.t_us, T.d->tr.t_us);
    assert_int_equal(T.tr.mono_us, T.d->tr.mono_us);
    assert_int_equal(T.tr.rate_pm, T.d->tr.rate_pm);
    assert_string_equal(tr_state(), names[T.tr.state]);
    assert_int_equal(tr_t_ms(), T.tr.t_us / 1000);
}

/* Channel slot (0-based) of universe 2 in the sink's program at t_ms; -1
 * when the program does not set it. */
static int chan(int64_t t_ms, int slot)
{
    uint8_t out[HUB_SHOW_SLOTS], set[HUB_SHOW_SLOTS];
    assert_non_null(T.prog);
    hub_show_render_universe(T.prog, NULL, 2, t_ms * 1000, out, set);
    return set[slot] ? out[slot] : -1;
}

/* Channel slot of universe 2 in the sink's previews now; -1 when unset. */
static int pv_chan(int slot)
{
    uint8_t out[HUB_SHOW_SLOTS], set[HUB_SHOW_SLOTS];
    if (T.pv == NULL)
        return -1;
    hub_show_previews_render(T.pv, 2, hub_mono_us(), out, set);
    return set[slot] ? out[slot] : -1;
}

static size_t list_size(void)
{
    json_t *s = show_state();
    size_t n = json_array_size(json_object_get(s, "list"));
    json_decref(s);
    return n;
}

static json_t *loaded_cue(const char *id)
{
    json_t *s = show_state(), *found = NULL;
    size_t i;
    json_t *v;
    json_array_foreach(json_object_get(json_object_get(s, "loaded"), "cues"), i, v)
    {
        if (strcmp(json_string_value(json_object_get(v, "id")), id) == 0)
            found = json_incref(v);
    }
    json_decref(s);
    return found;
}

static void load_opening(void)
{
    ok("show.load", "{'name':'opening'}");
    T.log[0] = '\0';
}

/* ---- show.load ---------------------------------------------------------------- */

static void test_load_publishes_and_hands_over(void **state)
{
    (void)state;
    ok("show.load", "{'name':'opening'}");
    /* the program, then the transport, in the order apply made them */
    assert_string_equal(T.log, "P T0 ");
    assert_int_equal(T.nprog, 1);
    check_sink_transport();
    json_t *s = show_state();
    json_t *l = json_object_get(s, "loaded");
    assert_string_equal(json_string_value(json_object_get(l, "name")), "opening");
    assert_int_equal(json_integer_value(json_object_get(l, "duration_ms")), 180000);
    assert_string_equal(json_string_value(json_object_get(l, "audio")), "opening.mp3");
    assert_int_equal(json_array_size(json_object_get(l, "cues")), 4);
    assert_int_equal(json_array_size(json_object_get(l, "effects")), 2);
    json_t *tr = json_object_get(s, "transport");
    assert_string_equal(json_string_value(json_object_get(tr, "state")), "stopped");
    assert_int_equal(json_integer_value(json_object_get(tr, "t_ms")), 0);
    assert_int_equal(json_integer_value(json_object_get(tr, "rate")), 1);
    assert_true(json_integer_value(json_object_get(tr, "at")) > 1600000000000LL);
    json_decref(s);
    json_t *e = list_entry("opening");
    assert_non_null(e);
    assert_int_equal(json_integer_value(json_object_get(e, "cues")), 4);
    assert_int_equal(json_integer_value(json_object_get(e, "effects")), 2);
    assert_null(json_object_get(e, "error"));
    json_decref(e);
    assert_non_null(strstr(T.seen, "show.load(test)"));

    /* The program the sink got renders docs/shows.md's worked examples. */
    size_t nu;
    const int *u = hub_show_prog_universes(T.prog, &nu);
    assert_int_equal(nu, 1);
    assert_int_equal(u[0], 2);
    assert_int_equal(chan(0, 0), 0);       /* c1 starts from 0 */
    assert_int_equal(chan(1000, 0), 128);  /* 127.5 */
    assert_int_equal(chan(20750, 0), 215); /* c3, ease_in_out, x = 0.25 */
    assert_int_equal(chan(10250, 3), 255); /* e1 chase: par1 on the first step */
    assert_int_equal(chan(10250, 7), 0);
    assert_int_equal(chan(5250, 19), 64);  /* c2: pan 0 -> 128 halfway */
    assert_int_equal(chan(5500, 19), 128); /* mover1 pan at the POI */
    assert_int_equal(chan(5500, 20), 60);
    assert_int_equal(chan(1000, 1), 0);   /* par1 green: e2 (rainbow) sets it from t = 0 */
    assert_int_equal(chan(1000, 99), -1); /* unpatched: nothing touches it */

    /* Another show (stopped: allowed) replaces it. */
    ok("show.load", "{'name':'other'}");
    assert_int_equal(chan(0, 5), 90);
    assert_int_equal(chan(0, 0), -1);
    /* unload: no program, stopped */
    ok("show.unload", "{}");
    assert_null(T.prog);
    json_t *s2 = show_state();
    json_t *none = json_object_get(s2, "loaded"); /* null: gone from the tree */
    assert_true(none == NULL || json_is_null(none));
    json_decref(s2);
    assert_string_equal(tr_state(), "stopped");
    ok("show.unload", "{}"); /* nothing loaded: nothing to do */
}

static void test_load_refusals_change_nothing(void **state)
{
    char path[256];
    (void)state;
    write_show("badjson", "{'name':'badjson',");
    write_show("badfade",
               "{'name':'badfade','duration_ms':1000,'cues':["
               "{'id':'a','t_ms':0,'fixtures':['par1'],'values':{'red':1}},"
               "{'id':'b','t_ms':0,'fixtures':['par1'],'values':{'red':1}},"
               "{'id':'c3','t_ms':0,'fixtures':['par1'],'values':{'red':1},'fade_ms':-5}]}");
    write_show("badfix", "{'name':'badfix','duration_ms':1000,'cues':["
                         "{'id':'a','t_ms':0,'fixtures':['par9'],'values':{'red':1}}]}");
    write_show("badname", "{'name':'someother','duration_ms':1000}");
    write_show("badmember", "{'name':'badmember','duration_ms':1000,'fade':1}");
    show_file("isdir", path, sizeof(path));
    assert_int_equal(mkdir(path, 0755), 0);
    load_opening();
    ok("transport.jump_to_time", "{'t_ms':1234}");
    T.log[0] = '\0';
    char *before = state_text();
    int nprog = T.nprog, ntr = T.ntr;
    hub_show_prog_t *prog = T.prog;

    refused("show.load", "{'name':'nope'}", HUB_ERR_NOT_FOUND, "name");
    assert_non_null(strstr(T.err.msg, "nope.cue.json"));
    refused("show.load", "{'name':'badjson'}", HUB_ERR_INVALID, "name");
    assert_non_null(strstr(T.err.msg, "badjson.cue.json"));
    refused("show.load", "{'name':'badfade'}", HUB_ERR_INVALID, "cues[2].fade_ms");
    assert_non_null(strstr(T.err.msg, "badfade.cue.json"));
    assert_non_null(strstr(T.err.msg, "c3"));
    refused("show.load", "{'name':'badfix'}", HUB_ERR_INVALID, "cues[0].fixtures[0]");
    assert_non_null(strstr(T.err.msg, "par9"));
    refused("show.load", "{'name':'badname'}", HUB_ERR_INVALID, "name");
    refused("show.load", "{'name':'badmember'}", HUB_ERR_INVALID, "fade");
    refused("show.load", "{'name':'isdir'}", HUB_ERR_INVALID, "name");
    refused("show.load", "{'name':'opening','show':{}}", HUB_ERR_INVALID, "show");
    refused("show.load", "{'name':'../opening'}", HUB_ERR_INVALID, "name");
    refused("show.load", "{'name':''}", HUB_ERR_INVALID, "name");
    refused("show.load", "{}", HUB_ERR_INVALID, "name");
    refused("show.load", "{'name':'other','extra':1}", HUB_ERR_INVALID, "extra");

    assert_state_unchanged(before);
    assert_int_equal(T.nprog, nprog);
    assert_int_equal(T.ntr, ntr);
    assert_ptr_equal(T.prog, prog);
    assert_string_equal(T.log, "");
    assert_int_equal(T.d->tr.state, HUB_TRANSPORT_PAUSED);
    assert_int_equal(T.d->tr.t_us, 1234000);

    /* Playing: loading another show (or unloading) is a conflict. */
    ok("transport.play", "{}");
    before = state_text();
    nprog = T.nprog;
    ntr = T.ntr;
    refused("show.load", "{'name':'other'}", HUB_ERR_CONFLICT, "");
    refused("show.unload", "{}", HUB_ERR_CONFLICT, "");
    assert_state_unchanged(before);
    assert_int_equal(T.nprog, nprog);
    assert_int_equal(T.ntr, ntr);
    assert_string_equal(T.d->show.name, "opening");
}

/* ---- the transport --------------------------------------------------------------- */

static void test_transport_needs_a_show(void **state)
{
    (void)state;
    int ntr = T.ntr;
    char *before = state_text();
    refused("transport.play", "{}", HUB_ERR_CONFLICT, "");
    refused("transport.pause", "{}", HUB_ERR_CONFLICT, "");
    refused("transport.stop", "{}", HUB_ERR_CONFLICT, "");
    refused("transport.jump_to_time", "{'t_ms':0}", HUB_ERR_CONFLICT, "");
    refused("transport.end", "{}", HUB_ERR_CONFLICT, "");
    assert_state_unchanged(before);
    assert_int_equal(T.ntr, ntr);
}

static void test_transport_semantics(void **state)
{
    char rate[32];
    (void)state;
    load_opening();
    int ntr = T.ntr;

    /* stopped -> jump: paused there */
    ok("transport.jump_to_time", "{'t_ms':42000}");
    assert_string_equal(tr_state(), "paused");
    assert_int_equal(tr_t_ms(), 42000);
    check_sink_transport();
    /* paused -> jump: stays paused */
    ok("transport.jump_to_time", "{'t_ms':1000}");
    assert_string_equal(tr_state(), "paused");
    assert_int_equal(tr_t_ms(), 1000);
    check_sink_transport();
    /* play from the held position */
    uint64_t t0 = hub_mono_us();
    ok("transport.play", "{}");
    assert_string_equal(tr_state(), "playing");
    assert_int_equal(tr_t_ms(), 1000);
    check_sink_transport();
    assert_true(T.tr.mono_us >= t0 && T.tr.mono_us <= hub_mono_us());
    /* playing -> jump: keeps playing from there */
    ok("transport.jump_to_time", "{'t_ms':100000}");
    assert_string_equal(tr_state(), "playing");
    assert_int_equal(tr_t_ms(), 100000);
    check_sink_transport();
    /* play while playing at the same rate: nothing moves */
    int n = T.ntr;
    char *before = state_text();
    ok("transport.play", "{}");
    assert_int_equal(T.ntr, n);
    assert_state_unchanged(before);
    /* pause: where it is, to the millisecond below */
    sleep_ms(30);
    uint64_t played_at = T.tr.mono_us;
    ok("transport.pause", "{}");
    int64_t upto = (int64_t)(hub_mono_us() - played_at);
    assert_string_equal(tr_state(), "paused");
    check_sink_transport();
    assert_int_equal(T.d->tr.t_us % 1000, 0);
    assert_true(T.d->tr.t_us >= 100030000);
    assert_true(T.d->tr.t_us <= 100000000 + upto);
    /* pause while paused: nothing */
    n = T.ntr;
    ok("transport.pause", "{}");
    assert_int_equal(T.ntr, n);

    /* out of range, not whole, not a number: invalid, never clamped */
    before = state_text();
    n = T.ntr;
    refused("transport.jump_to_time", "{'t_ms':-1}", HUB_ERR_INVALID, "t_ms");
    refused("transport.jump_to_time", "{'t_ms':180001}", HUB_ERR_INVALID, "t_ms");
    refused("transport.jump_to_time", "{'t_ms':1.5}", HUB_ERR_INVALID, "t_ms");
    refused("transport.jump_to_time", "{'t_ms':'5'}", HUB_ERR_INVALID, "t_ms");
    refused("transport.jump_to_time", "{}", HUB_ERR_INVALID, "t_ms");
    refused("transport.jump_to_time", "{'t_ms':5,'x':1}", HUB_ERR_INVALID, "x");
    refused("transport.play", "{'rate':0.2}", HUB_ERR_INVALID, "rate");
    refused("transport.play", "{'rate':4.01}", HUB_ERR_INVALID, "rate");
    refused("transport.play", "{'rate':0}", HUB_ERR_INVALID, "rate");
    refused("transport.play", "{'rate':-1}", HUB_ERR_INVALID, "rate");
    refused("transport.play", "{'rate':'2'}", HUB_ERR_INVALID, "rate");
    refused("transport.play", "{'rate':null}", HUB_ERR_INVALID, "rate");
    refused("transport.play", "{'speed':2}", HUB_ERR_INVALID, "speed");
    refused("transport.pause", "{'now':true}", HUB_ERR_INVALID, "now");
    refused("transport.stop", "{'now':true}", HUB_ERR_INVALID, "now");
    assert_state_unchanged(before);
    assert_int_equal(T.ntr, n);

    /* the end is in range; play at the end starts again at 0 */
    ok("transport.jump_to_time", "{'t_ms':180000}");
    assert_string_equal(tr_state(), "paused");
    assert_int_equal(tr_t_ms(), 180000);
    ok("transport.play", "{}");
    assert_string_equal(tr_state(), "playing");
    assert_int_equal(tr_t_ms(), 0);
    check_sink_transport();

    /* rates: 0.25 and 4 are the bounds; a playing show changes speed where it is */
    ok("transport.stop", "{}");
    ok("transport.play", "{'rate':0.25}");
    tr_rate(rate, sizeof(rate));
    assert_string_equal(rate, "0.25");
    assert_int_equal(T.tr.rate_pm, 250);
    sleep_ms(20);
    ok("transport.play", "{'rate':4}");
    assert_string_equal(tr_state(), "playing");
    tr_rate(rate, sizeof(rate));
    assert_string_equal(rate, "4");
    assert_int_equal(T.tr.rate_pm, 4000);
    assert_true(T.tr.t_us >= 5000); /* 20 ms at a quarter */
    check_sink_transport();
    ok("transport.play", "{'rate':1.5}");
    tr_rate(rate, sizeof(rate));
    assert_string_equal(rate, "1.5");
    /* the rate is kept through pause and play */
    ok("transport.pause", "{}");
    ok("transport.play", "{}");
    assert_int_equal(T.tr.rate_pm, 1500);

    /* stop: back to 0; stop again: nothing */
    ok("transport.stop", "{}");
    assert_string_equal(tr_state(), "stopped");
    assert_int_equal(tr_t_ms(), 0);
    check_sink_transport();
    n = T.ntr;
    ok("transport.stop", "{}");
    assert_int_equal(T.ntr, n);
    /* every change went to the sink, once */
    assert_true(T.ntr > ntr);
    assert_int_equal(T.nprog, 1); /* the transport never hands over the program */
}

/* Several intents in one batch: the sink hears them in seq order, each
 * transport as it was when its intent applied. */
static void test_sink_in_announce_order(void **state)
{
    (void)state;
    load_opening();
    assert_int_equal(submit("transport.play", "{}"), 0);
    assert_int_equal(submit("transport.jump_to_time", "{'t_ms':1000}"), 0);
    assert_int_equal(submit("transport.pause", "{}"), 0);
    assert_int_equal(submit("fixture.preview_effect", "{'fixtures':['par1'],'effect':'pulse',"
                                                      "'params':{'min':77,'max':77}}"),
                     0);
    assert_int_equal(submit("cue.delete", "{'id':'c4'}"), 0);
    assert_int_equal(submit("transport.jump_to_time", "{'t_ms':2000}"), 0);
    assert_int_equal(hub_engine_queue_depth(T.e), 6);
    assert_string_equal(T.log, "");
    settle();
    assert_string_equal(T.log, "T1 T1 T2 V P T2 ");
    assert_int_equal(T.tr.t_us, 2000000);
    assert_non_null(strstr(T.seen, "transport.play(test) transport.jump_to_time(test) "
                                   "transport.pause(test) fixture.preview_effect(test) "
                                   "cue.delete(test) transport.jump_to_time(test) "));
}

/* ---- cue and effect edits ------------------------------------------------------------ */

static void test_edits_refused_while_playing(void **state)
{
    (void)state;
    refused("cue.add", "{'cue':{'id':'x','t_ms':0,'fixtures':['par1'],'values':{'red':1}}}",
            HUB_ERR_CONFLICT, "");
    load_opening();
    ok("transport.play", "{}");
    char *before = state_text();
    int nprog = T.nprog;
    refused("cue.add", "{'cue':{'id':'x','t_ms':0,'fixtures':['par1'],'values':{'red':1}}}",
            HUB_ERR_CONFLICT, "");
    assert_non_null(strstr(T.err.msg, "playing"));
    refused("cue.update", "{'id':'c1','cue':{'t_ms':0,'fixtures':['par1'],'values':{'red':1}}}",
            HUB_ERR_CONFLICT, "");
    refused("cue.delete", "{'id':'c1'}", HUB_ERR_CONFLICT, "");
    refused("effect.add",
            "{'effect':{'id':'x','t_ms':0,'dur_ms':10,'fixtures':['par1'],'effect':'sine'}}",
            HUB_ERR_CONFLICT, "");
    refused("effect.update",
            "{'id':'e1','effect':{'t_ms':0,'dur_ms':10,'fixtures':['par1'],"
            "'effect':'sine'}}",
            HUB_ERR_CONFLICT, "");
    refused("effect.delete", "{'id':'e1'}", HUB_ERR_CONFLICT, "");
    assert_state_unchanged(before);
    assert_int_equal(T.nprog, nprog);
}

static void test_edits_applied_while_paused(void **state)
{
    (void)state;
    load_opening();
    ok("transport.play", "{}");
    ok("transport.pause", "{}");
    int nprog = T.nprog;
    assert_int_equal(chan(1000, 0), 128);

    /* cue.update: show.loaded changes, the sink gets a program that renders it */
    T.log[0] = '\0';
    ok("cue.update", "{'id':'c1','cue':{'t_ms':0,'fixtures':['par1'],'values':{'red':200}}}");
    assert_string_equal(T.log, "P ");
    assert_int_equal(T.nprog, nprog + 1);
    assert_int_equal(chan(1000, 0), 200); /* fade_ms 0 now: the target at once */
    assert_int_equal(chan(1000, 4), 0);   /* par2 left the cue (c3 still sets its red) */
    json_t *c = loaded_cue("c1");
    assert_non_null(c);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(c, "values"), "red")), 200);
    assert_int_equal(json_integer_value(json_object_get(c, "fade_ms")), 0);
    json_decref(c);
    assert_string_equal(tr_state(), "paused"); /* an edit does not move the transport */

    /* cue.add, a duplicate id (of a cue, of an effect), then delete */
    ok("cue.add", "{'cue':{'id':'c9','t_ms':500,'fixtures':['par2'],'values':{'green':33}}}");
    assert_int_equal(chan(600, 5), 33);
    json_t *e = list_entry("opening");
    assert_int_equal(json_integer_value(json_object_get(e, "cues")), 5);
    json_decref(e);
    char *before = state_text();
    nprog = T.nprog;
    refused("cue.add", "{'cue':{'id':'c9','t_ms':0,'fixtures':['par2'],'values':{'green':1}}}",
            HUB_ERR_CONFLICT, "id");
    refused("cue.add", "{'cue':{'id':'e1','t_ms':0,'fixtures':['par2'],'values':{'green':1}}}",
            HUB_ERR_CONFLICT, "id");
    refused("cue.update",
            "{'id':'c9','cue':{'id':'c1','t_ms':0,'fixtures':['par2'],"
            "'values':{'green':1}}}",
            HUB_ERR_CONFLICT, "id");
    refused("cue.update", "{'id':'nope','cue':{'t_ms':0,'fixtures':['par2'],'values':{'green':1}}}",
            HUB_ERR_NOT_FOUND, "id");
    refused("cue.delete", "{'id':'nope'}", HUB_ERR_NOT_FOUND, "id");
    refused("cue.add", "{'cue':{'id':'x','t_ms':0,'fixtures':['par2'],'values':{'green':1}},'y':1}",
            HUB_ERR_INVALID, "y");
    refused("cue.add",
            "{'cue':{'id':'x','t_ms':0,'fixtures':['par2'],'values':{'green':1},'fade':5}}",
            HUB_ERR_INVALID, "cue.fade");
    refused("cue.add", "{'cue':{'id':'x','t_ms':180001,'fixtures':['par2'],'values':{'red':1}}}",
            HUB_ERR_INVALID, "cue.t_ms");
    refused("cue.add", "{'cue':{'id':'x','t_ms':0,'fixtures':['par9'],'values':{'red':1}}}",
            HUB_ERR_INVALID, "cue.fixtures[0]");
    refused("cue.add", "{'cue':{'id':'x','t_ms':0,'fixtures':['mover1'],'values':{'red':1}}}",
            HUB_ERR_INVALID, "cue.values.red");
    refused("cue.add", "{}", HUB_ERR_INVALID, "cue");
    refused("cue.update", "{'id':'c1'}", HUB_ERR_INVALID, "cue");
    refused("effect.add",
            "{'effect':{'id':'x','t_ms':179990,'dur_ms':20,'fixtures':['par1'],"
            "'effect':'sine'}}",
            HUB_ERR_INVALID, "effect.dur_ms");
    refused("effect.add",
            "{'effect':{'id':'c9','t_ms':0,'dur_ms':20,'fixtures':['par1'],"
            "'effect':'sine'}}",
            HUB_ERR_CONFLICT, "id");
    refused("effect.update",
            "{'id':'nope','effect':{'t_ms':0,'dur_ms':20,'fixtures':['par1'],"
            "'effect':'sine'}}",
            HUB_ERR_NOT_FOUND, "id");
    refused("effect.delete", "{'id':'c1'}", HUB_ERR_NOT_FOUND, "id"); /* a cue, not an effect */
    refused("effect.delete", "{'id':'e1','x':0}", HUB_ERR_INVALID, "x");
    assert_state_unchanged(before);
    assert_int_equal(T.nprog, nprog);
    ok("cue.delete", "{'id':'c9'}");
    assert_int_equal(chan(600, 5), 0); /* e2 (rainbow) still sets par2 green */
    assert_null(loaded_cue("c9"));

    /* effects: add, update (the id stays when the object has none), delete */
    ok("effect.add", "{'effect':{'id':'e3','t_ms':1000,'dur_ms':1000,'fixtures':['par2'],"
                     "'effect':'pulse','params':{'role':'green','min':40,'max':40}}}");
    assert_int_equal(chan(1500, 5), 40);
    assert_int_equal(chan(500, 5), 0);  /* an effect's channel is set from t = 0, */
    assert_int_equal(chan(2500, 5), 0); /* 0 outside the effect */
    ok("effect.update", "{'id':'e3','effect':{'t_ms':1000,'dur_ms':1000,'fixtures':['par2'],"
                        "'effect':'pulse','params':{'role':'green','min':41,'max':41}}}");
    assert_int_equal(chan(1500, 5), 41);
    ok("effect.update", "{'id':'e3','effect':{'id':'e4','t_ms':1000,'dur_ms':1000,"
                        "'fixtures':['par2'],'effect':'pulse','params':{'role':'green',"
                        "'min':42,'max':42}}}");
    assert_int_equal(chan(1500, 5), 42);
    refused("effect.delete", "{'id':'e3'}", HUB_ERR_NOT_FOUND, "id"); /* renamed */
    ok("effect.delete", "{'id':'e4'}");
    assert_int_equal(chan(1500, 5), 0);    /* e2 (from 30 s) still sets it */
    assert_int_equal(chan(10250, 3), 255); /* e1 (chase): par1 on its first step */
    ok("effect.delete", "{'id':'e1'}");
    assert_int_equal(chan(10250, 3), 0); /* c1 no longer sets a dimmer: c4's channel, 0 */

    /* stopped: edits are allowed too */
    ok("transport.stop", "{}");
    ok("cue.delete", "{'id':'c2'}");
    assert_int_equal(chan(5500, 19), -1);
    e = list_entry("opening");
    assert_int_equal(json_integer_value(json_object_get(e, "cues")), 3);
    assert_int_equal(json_integer_value(json_object_get(e, "effects")), 1);
    json_decref(e);
}

/* ---- previews --------------------------------------------------------------------- */

static void test_previews(void **state)
{
    (void)state;
    /* no show needed */
    ok("fixture.preview_effect", "{'fixtures':['par1'],'effect':'pulse','params':"
                                 "{'role':'red','min':77,'max':77},'dur_ms':60000}");
    assert_string_equal(T.log, "V ");
    assert_int_equal(pv_chan(0), 77);
    assert_int_equal(pv_chan(4), -1);
    json_t *s = show_state();
    json_t *p = json_array_get(json_object_get(s, "previews"), 0);
    assert_non_null(p);
    char id[24];
    snprintf(id, sizeof(id), "p%llu", (unsigned long long)T.seq);
    assert_string_equal(json_string_value(json_object_get(p, "id")), id);
    assert_int_equal(json_integer_value(json_object_get(p, "t_ms")), 0);
    assert_int_equal(json_integer_value(json_object_get(p, "dur_ms")), 60000);
    assert_int_equal(json_integer_value(json_object_get(p, "until")) -
                         json_integer_value(json_object_get(p, "started_at")),
                     60000);
    json_decref(s);
    /* a second, on par2, default duration; the later one wins a shared channel */
    ok("fixture.preview_effect", "{'fixtures':['par2'],'effect':'strobe'}");
    ok("fixture.preview_effect", "{'fixtures':['par1'],'effect':'pulse','params':"
                                 "{'role':'red','min':78,'max':78}}");
    assert_int_equal(pv_chan(0), 78);
    assert_true(pv_chan(7) == 0 || pv_chan(7) == 255);
    s = show_state();
    p = json_array_get(json_object_get(s, "previews"), 1);
    assert_int_equal(json_integer_value(json_object_get(p, "dur_ms")), 10000);
    json_decref(s);

    char *before = state_text();
    int npv = T.npv;
    refused("fixture.preview_effect", "{'fixtures':['par1'],'effect':'pulse','dur_ms':0}",
            HUB_ERR_INVALID, "dur_ms");
    refused("fixture.preview_effect", "{'fixtures':['par1'],'effect':'pulse','dur_ms':3600001}",
            HUB_ERR_INVALID, "dur_ms");
    refused("fixture.preview_effect", "{'fixtures':['par1'],'effect':'pulse','dur_ms':1.5}",
            HUB_ERR_INVALID, "dur_ms");
    refused("fixture.preview_effect", "{'fixtures':['par9'],'effect':'pulse'}", HUB_ERR_INVALID,
            "fixtures[0]");
    refused("fixture.preview_effect", "{'fixtures':['par1'],'effect':'wobble'}", HUB_ERR_INVALID,
            "effect");
    refused("fixture.preview_effect", "{'fixtures':['par1'],'effect':'pulse','t_ms':5}",
            HUB_ERR_INVALID, "t_ms");
    refused("fixture.preview_stop", "{'fixtures':'par1'}", HUB_ERR_INVALID, "fixtures");
    refused("fixture.preview_stop", "{'fixtures':[1]}", HUB_ERR_INVALID, "fixtures");
    refused("fixture.preview_stop", "{'all':true}", HUB_ERR_INVALID, "all");
    /* a fixture no preview touches: applied, nothing changes */
    ok("fixture.preview_stop", "{'fixtures':['mover1']}");
    assert_state_unchanged(before);
    assert_int_equal(T.npv, npv);

    /* stop those touching par1: par2's stays */
    ok("fixture.preview_stop", "{'fixtures':['par1']}");
    assert_int_equal(pv_chan(0), -1);
    assert_true(pv_chan(7) >= 0);
    s = show_state();
    assert_int_equal(json_array_size(json_object_get(s, "previews")), 1);
    json_decref(s);
    /* all */
    T.log[0] = '\0';
    ok("fixture.preview_stop", "{}");
    assert_string_equal(T.log, "v ");
    assert_null(T.pv);
    s = show_state();
    assert_int_equal(json_array_size(json_object_get(s, "previews")), 0);
    json_decref(s);
}

static void test_preview_limit(void **state)
{
    (void)state;
    for (int i = 0; i < SHOW__MAX_PREVIEWS; i++)
        ok("fixture.preview_effect", "{'fixtures':['par1'],'effect':'sine'}");
    refused("fixture.preview_effect", "{'fixtures':['par1'],'effect':'sine'}", HUB_ERR_CONFLICT,
            "");
    ok("fixture.preview_stop", "{}");
    ok("fixture.preview_effect", "{'fixtures':['par1'],'effect':'sine'}");
}

/* preview_expire removes only previews that have ended; the timer submits
 * it by itself. */
static void test_preview_expire(void **state)
{
    (void)state;
    ok("fixture.preview_effect", "{'fixtures':['par1'],'effect':'sine','dur_ms':300}");
    ok("fixture.preview_effect", "{'fixtures':['par2'],'effect':'sine','dur_ms':60000}");
    char *before = state_text();
    refused("fixture.preview_expire", "{}", HUB_ERR_CONFLICT, ""); /* nothing ended yet */
    assert_state_unchanged(before);
    sleep_ms(350); /* the loop does not run: the timer cannot fire */
    T.log[0] = '\0';
    ok("fixture.preview_expire", "{}");
    assert_string_equal(T.log, "V ");
    assert_int_equal(T.d->npv, 1);
    assert_string_equal(T.d->pv[0].fx.fixtures[0], "par2");
    assert_int_equal(pv_chan(3), -1);                              /* par1 dimmer */
    assert_true(pv_chan(7) >= 0);                                  /* par2 dimmer */
    refused("fixture.preview_expire", "{}", HUB_ERR_CONFLICT, ""); /* the fresh one stays */
    assert_int_equal(T.d->npv, 1);

    /* The timer: a 40 ms preview goes away by itself when the loop runs. */
    ok("fixture.preview_stop", "{}");
    ok("fixture.preview_effect", "{'fixtures':['par1'],'effect':'sine','dur_ms':40}");
    T.log[0] = '\0';
    T.seen[0] = '\0';
    uint64_t t0 = hub_mono_us();
    for (int i = 0; i < 2000 && T.d->npv > 0; i++) {
        uv_run(&T.loop, UV_RUN_NOWAIT);
        hub_engine_drain_now(T.e);
        if (T.d->npv > 0)
            sleep_ms(1);
    }
    assert_int_equal(T.d->npv, 0);
    assert_true(hub_mono_us() - t0 >= 40000);
    assert_string_equal(T.log, "v ");
    assert_string_equal(T.seen, "fixture.preview_expire(timer) ");
}

/* ---- the directory ------------------------------------------------------------------- */

static void test_rescan_and_list(void **state)
{
    char path[256];
    (void)state;
    /* Without a store nothing scanned the directory yet. */
    assert_int_equal(list_size(), 0);
    write_show("broken", "{'name':'broken','duration_ms':");
    write_show("badfix", "{'name':'badfix','duration_ms':1000,'cues':["
                         "{'id':'a','t_ms':0,'fixtures':['par9'],'values':{'red':1}}]}");
    write_show("renamed", "{'name':'something','duration_ms':1000}");
    snprintf(path, sizeof(path), "%s/readme.txt", T.shows);
    write_path(path, "not a show");
    snprintf(path, sizeof(path), "%s/.hidden.cue.json", T.shows);
    write_path(path, OTHER);
    snprintf(path, sizeof(path), "%s/.other.cue.json.tmp", T.shows);
    write_path(path, "{'torn");
    ok("show.rescan", "{}");
    /* A rescan may run while the store writes a save's temp file: only the
     * start-up scan removes stale ones (test_show_store). */
    assert_int_equal(access(path, F_OK), 0);
    json_t *s = show_state();
    json_t *list = json_object_get(s, "list");
    assert_int_equal(json_array_size(list), 5);
    static const char *const names[] = {"badfix", "broken", "opening", "other", "renamed"};
    for (size_t i = 0; i < 5; i++)
        assert_string_equal(json_string_value(json_object_get(json_array_get(list, i), "name")),
                            names[i]);
    json_decref(s);
    json_t *e = list_entry("broken");
    assert_non_null(strstr(json_string_value(json_object_get(e, "error")), "broken.cue.json"));
    assert_null(json_object_get(e, "duration_ms"));
    json_decref(e);
    e = list_entry("badfix");
    assert_non_null(strstr(json_string_value(json_object_get(e, "error")), "par9"));
    json_decref(e);
    e = list_entry("renamed");
    assert_non_null(strstr(json_string_value(json_object_get(e, "error")), "something"));
    json_decref(e);
    e = list_entry("other");
    assert_null(json_object_get(e, "error"));
    assert_int_equal(json_integer_value(json_object_get(e, "duration_ms")), 10000);
    assert_int_equal(json_integer_value(json_object_get(e, "cues")), 1);
    assert_int_equal(json_integer_value(json_object_get(e, "effects")), 0);
    assert_true(json_is_null(json_object_get(e, "audio")));
    json_decref(e);
    e = list_entry("opening");
    assert_string_equal(json_string_value(json_object_get(e, "audio")), "opening.mp3");
    json_decref(e);

    /* added and removed files; the loaded show stays listed from memory */
    load_opening();
    write_show("added", OTHER);
    remove_show("broken");
    remove_show("opening");
    T.seen[0] = '\0';
    hub_showdom_rescan(T.d); /* SIGHUP */
    settle();
    assert_string_equal(T.seen, "show.rescan(signal) ");
    e = list_entry("added");
    assert_non_null(e);
    /* "added" holds other's content: its name does not match the file */
    assert_non_null(json_object_get(e, "error"));
    json_decref(e);
    assert_null(list_entry("broken"));
    e = list_entry("opening");
    assert_non_null(e);
    assert_null(json_object_get(e, "error"));
    json_decref(e);
    assert_int_equal(list_size(), 5);
    /* nothing new: refused, no seq, nothing published */
    char *before = state_text();
    refused("show.rescan", "{}", HUB_ERR_CONFLICT, "");
    assert_state_unchanged(before);
}

static void test_delete_and_save_list(void **state)
{
    (void)state;
    ok("show.rescan", "{}");
    load_opening();
    refused("show.delete", "{'name':'opening'}", HUB_ERR_CONFLICT, "name");
    refused("show.delete", "{'name':'nope'}", HUB_ERR_NOT_FOUND, "name");
    refused("show.delete", "{'name':'../x'}", HUB_ERR_INVALID, "name");
    ok("show.delete", "{'name':'other'}");
    assert_null(list_entry("other"));
    /* save: a new show joins the list; an invalid one is refused */
    ok("show.save", "{'name':'fresh','show':{'name':'fresh','duration_ms':5000}}");
    json_t *e = list_entry("fresh");
    assert_int_equal(json_integer_value(json_object_get(e, "duration_ms")), 5000);
    json_decref(e);
    refused("show.save", "{'name':'fresh','show':{'name':'fresh','duration_ms':0}}",
            HUB_ERR_INVALID, "duration_ms");
    refused("show.save", "{'name':'fresh','show':{'name':'other','duration_ms':10}}",
            HUB_ERR_INVALID, "name");
    refused("show.save", "{'name':'fresh'}", HUB_ERR_INVALID, "show");
    /* saving the loaded show replaces it (paused: allowed), a shorter one clamps the position */
    ok("transport.jump_to_time", "{'t_ms':9000}");
    T.log[0] = '\0';
    ok("show.save", "{'name':'opening','show':{'name':'opening','duration_ms':8000,'cues':["
                    "{'id':'z','t_ms':0,'fixtures':['par1'],'values':{'red':9}}]}}");
    assert_string_equal(T.log, "P T2 ");
    assert_int_equal(chan(0, 0), 9);
    assert_int_equal(tr_t_ms(), 8000);
    ok("transport.play", "{}");
    refused("show.save", "{'name':'opening','show':{'name':'opening','duration_ms':8000}}",
            HUB_ERR_CONFLICT, "");
}

/* ---- the patch ------------------------------------------------------------------------ */

/* moveronly (mover1 alone) in the directory, rescanned: listed without an error. */
static void list_moveronly(void)
{
    write_show("moveronly", MOVERONLY);
    ok("show.rescan", "{}");
    json_t *e = list_entry("moveronly");
    assert_null(json_object_get(e, "error"));
    json_decref(e);
}

/* The patch file without mover1, reloaded and drained; T.seen holds only
 * what that applied. */
static void reload_without_mover(void)
{
    write_path(T.patch, PATCH_NO_MOVER);
    T.seen[0] = '\0';
    ok("dmx.reload_fixtures", "{}");
    settle();
}

/* A reload of the patch that drops a fixture the loaded show uses: the
 * show is compiled again (the sink gets the new program) and the directory
 * read again (its verdicts depend on the patch). */
static void test_patch_reload_recompiles_and_rescans(void **state)
{
    (void)state;
    list_moveronly();
    load_opening();
    assert_int_equal(chan(5500, 19), 128);
    int nprog = T.nprog;
    hub_show_prog_t *old = T.prog;

    reload_without_mover();
    assert_int_equal(T.nprog, nprog + 1);
    assert_ptr_not_equal(T.prog, old);
    assert_string_equal(T.log, "P ");
    assert_int_equal(chan(5500, 19), -1); /* mover1 is gone from the program */
    assert_int_equal(chan(1000, 0), 128); /* the rest plays on */
    assert_string_equal(T.seen, "dmx.reload_fixtures(test) show.rescan(patch) ");
    json_t *e = list_entry("moveronly");
    assert_non_null(e);
    assert_non_null(strstr(json_string_value(json_object_get(e, "error")), "mover1"));
    json_decref(e);
    /* the loaded show stays loaded (what memory holds) */
    assert_string_equal(T.d->show.name, "opening");
    e = list_entry("opening");
    assert_null(json_object_get(e, "error"));
    json_decref(e);
    /* an edit naming mover1 is refused now */
    refused("cue.add", "{'cue':{'id':'x','t_ms':0,'fixtures':['mover1'],'values':{'dimmer':1}}}",
            HUB_ERR_INVALID, "cue.fixtures[0]");
}

/* With no show loaded a patch reload still changes the list's verdicts. */
static void test_patch_reload_rescans_without_a_loaded_show(void **state)
{
    (void)state;
    list_moveronly();
    reload_without_mover();
    assert_string_equal(T.log, ""); /* no program to hand over */
    assert_string_equal(T.seen, "dmx.reload_fixtures(test) show.rescan(patch) ");
    json_t *e = list_entry("moveronly");
    assert_non_null(e);
    assert_non_null(json_object_get(e, "error"));
    json_decref(e);
}

/* ---- shutdown and the end ------------------------------------------------------------- */

static void test_shutdown_pauses_a_playing_show(void **state)
{
    (void)state;
    hub_showdom_shutdown(T.d); /* nothing loaded: nothing submitted */
    assert_int_equal(hub_engine_queue_depth(T.e), 0);
    load_opening();
    /* Loaded, the pause is always submitted (a play still queued applies
     * first); not playing, it is refused and costs no seq. */
    uint64_t seq = hub_engine_seq(T.e);
    hub_showdom_shutdown(T.d); /* stopped */
    assert_int_equal(hub_engine_queue_depth(T.e), 1);
    settle();
    assert_int_equal(hub_engine_seq(T.e), seq);
    assert_string_equal(tr_state(), "stopped");
    ok("transport.jump_to_time", "{'t_ms':3000}");
    seq = hub_engine_seq(T.e);
    hub_showdom_shutdown(T.d); /* paused */
    settle();
    assert_int_equal(hub_engine_seq(T.e), seq);
    assert_string_equal(tr_state(), "paused");
    ok("transport.play", "{}");
    T.seen[0] = '\0';
    sleep_ms(20);
    hub_showdom_shutdown(T.d);
    assert_int_equal(hub_engine_queue_depth(T.e), 1);
    settle();
    assert_string_equal(T.seen, "transport.pause(shutdown) ");
    assert_string_equal(tr_state(), "paused");
    assert_true(tr_t_ms() >= 3020);
    check_sink_transport();
}

/* transport.end acts only on a playing show at its end; the timer submits it. */
static void test_transport_end(void **state)
{
    (void)state;
    write_show("short", "{'name':'short','duration_ms':1000,'cues':["
                        "{'id':'a','t_ms':0,'fixtures':['par1'],'values':{'red':255},"
                        "'fade_ms':1000}]}");
    ok("show.load", "{'name':'short'}");
    refused("transport.end", "{}", HUB_ERR_CONFLICT, ""); /* stopped */
    ok("transport.jump_to_time", "{'t_ms':1000}");
    refused("transport.end", "{}", HUB_ERR_CONFLICT, ""); /* paused, even at the end */
    ok("transport.jump_to_time", "{'t_ms':0}");
    ok("transport.play", "{}");
    char *before = state_text();
    refused("transport.end", "{}", HUB_ERR_CONFLICT, ""); /* not at the end yet */
    assert_non_null(strstr(T.err.msg, "not reached"));
    assert_state_unchanged(before);
    /* at rate 4 from 900 ms the end is 25 ms away; the loop is not run */
    ok("transport.jump_to_time", "{'t_ms':900}");
    ok("transport.play", "{'rate':4}");
    sleep_ms(60);
    ok("transport.end", "{}");
    assert_string_equal(tr_state(), "paused");
    assert_int_equal(tr_t_ms(), 1000);
    check_sink_transport();

    /* the timer: from 850 at rate 1, about 150 ms */
    ok("transport.jump_to_time", "{'t_ms':850}");
    ok("transport.play", "{'rate':1}");
    T.seen[0] = '\0';
    uint64_t t0 = hub_mono_us();
    for (int i = 0; i < 3000 && T.d->tr.state == HUB_TRANSPORT_PLAYING; i++) {
        uv_run(&T.loop, UV_RUN_NOWAIT);
        hub_engine_drain_now(T.e);
        if (T.d->tr.state == HUB_TRANSPORT_PLAYING)
            sleep_ms(1);
    }
    assert_true(hub_mono_us() - t0 >= 140000);
    assert_string_equal(T.seen, "transport.end(timer) ");
    assert_string_equal(tr_state(), "paused");
    assert_int_equal(tr_t_ms(), 1000);
    check_sink_transport();
    /* play at the end: from 0 */
    ok("transport.play", "{}");
    assert_int_equal(tr_t_ms(), 0);
}

int main(void)
{
    hub_log_set_level(HUB_LOG_OFF);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_load_publishes_and_hands_over, setup, teardown),
        cmocka_unit_test_setup_teardown(test_load_refusals_change_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_transport_needs_a_show, setup, teardown),
        cmocka_unit_test_setup_teardown(test_transport_semantics, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sink_in_announce_order, setup, teardown),
        cmocka_unit_test_setup_teardown(test_edits_refused_while_playing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_edits_applied_while_paused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_previews, setup, teardown),
        cmocka_unit_test_setup_teardown(test_preview_limit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_preview_expire, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rescan_and_list, setup, teardown),
        cmocka_unit_test_setup_teardown(test_delete_and_save_list, setup, teardown),
        cmocka_unit_test_setup_teardown(test_patch_reload_recompiles_and_rescans, setup, teardown),
        cmocka_unit_test_setup_teardown(test_patch_reload_rescans_without_a_loaded_show, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_shutdown_pauses_a_playing_show, setup, teardown),
        cmocka_unit_test_setup_teardown(test_transport_end, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
