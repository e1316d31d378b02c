/* tests/unit/test_show_player.c - playback ticks (domains/show/player.h):
 * tick due times and show times, paused shows rendered once, no layer when
 * stopped, skipped ticks; and two property tests over random shows: the
 * player's layers after every tick it renders equal a pure render of that
 * tick's show time (tick number worked out here from the fake clock), and
 * cursor renders equal pure renders over random forward and backward
 * times. Seeded, bounded. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "domains/dmx/roles.h"
#include "domains/show/player.h"

#define FPS 60

/* ---- a fixed show ------------------------------------------------------------------------ */

static const hub_patch_fixture_t PAR = {
    .name = "par", .universe = 1, .address = 1, .nch = 2, .roles = {HUB_ROLE_RED, HUB_ROLE_DIMMER}};

static const hub_patch_fixture_t *par_lookup(void *ud, const char *name)
{
    return strcmp(name, "par") == 0 ? &PAR : NULL;
}

static const hub_show_patch_t PAR_PATCH = {.fixture = par_lookup};

/* par red 0 -> 250 linear over the whole 10 s: red = 25 per second. */
static hub_show_prog_t *ramp_prog(int target)
{
    static hub_show_ident_t fx[] = {"par"};
    hub_show_value_t v = {.role = HUB_ROLE_RED, .value = target};
    hub_show_cue_t c = {.t_ms = 0,
                        .fade_ms = 10000,
                        .curve = HUB_CURVE_LINEAR,
                        .fixtures = fx,
                        .nfixtures = 1,
                        .values = &v,
                        .nvalues = 1};
    hub_show_t s = {.duration_ms = 10000, .cues = &c, .ncues = 1};

    return hub_show_compile(&s, &PAR_PATCH, NULL);
}

static hub_transport_t transport(int state, int64_t t_us, uint64_t mono_us, int rate_pm)
{
    hub_transport_t tr = {.state = state, .t_us = t_us, .mono_us = mono_us, .rate_pm = rate_pm};
    return tr;
}

static int layer_red(const hub_player_t *pl)
{
    const uint8_t *vals, *set;

    if (!hub_player_layer(pl, 1, &vals, &set))
        return -1;
    assert_int_equal(set[0], 1);
    return vals[0];
}

static void test_tick_timing(void **state)
{
    hub_transport_t tr = transport(HUB_TRANSPORT_PLAYING, 0, 1000000, HUB_RATE_ONE);
    int64_t dur = 3600000000; /* an hour */

    assert_int_equal(hub_transport_tick_mono(&tr, 0, FPS), 1000000);
    assert_int_equal(hub_transport_tick_mono(&tr, 1, FPS), 1016666); /* 1e6 / 60 = 16666.67 */
    assert_int_equal(hub_transport_tick_mono(&tr, 2, FPS), 1033333);
    assert_int_equal(hub_transport_tick_mono(&tr, 60, FPS), 2000000);
    assert_int_equal(hub_transport_tick_time(&tr, 0, FPS, dur), 0);
    assert_int_equal(hub_transport_tick_time(&tr, 1, FPS, dur), 16666);
    assert_int_equal(hub_transport_tick_time(&tr, 60, FPS, dur), 1000000);
    tr.rate_pm = 500; /* half: 8333.33 */
    assert_int_equal(hub_transport_tick_time(&tr, 1, FPS, dur), 8333);
    assert_int_equal(hub_transport_tick_time(&tr, 60, FPS, dur), 500000);
    tr.rate_pm = 1500;
    assert_int_equal(hub_transport_tick_time(&tr, 1, FPS, dur), 25000);
    /* from t 2 s, clamped to a 2.01 s show */
    tr.t_us = 2000000;
    assert_int_equal(hub_transport_tick_time(&tr, 1, FPS, 2010000), 2010000);
    /* 10 days of ticks at 4x: no overflow (51840000 * 1e6 * 4000 > 2^63) */
    tr.t_us = 0;
    tr.rate_pm = 4000;
    assert_int_equal(hub_transport_tick_time(&tr, 51840000, FPS, INT64_MAX), 3456000000000);
    assert_int_equal(hub_transport_tick_time(&tr, UINT64_MAX, FPS, dur), dur);
    assert_int_equal(hub_transport_tick_mono(&tr, UINT64_MAX, FPS), UINT64_MAX);
    /* a negative t clamps to 0 */
    tr.t_us = -1000000;
    tr.rate_pm = 1000;
    assert_int_equal(hub_transport_tick_time(&tr, 1, FPS, dur), 0);

    /* Continuous time. */
    tr = transport(HUB_TRANSPORT_PLAYING, 1000000, 5000000, 1500);
    assert_int_equal(hub_transport_time_at(&tr, 5500000, dur), 1750000);
    assert_int_equal(hub_transport_time_at(&tr, 4000000, dur), 0); /* 1 s - 1.5 s */
    assert_int_equal(hub_transport_time_at(&tr, 4800000, dur), 700000);
    assert_int_equal(hub_transport_time_at(&tr, 9000000, 2000000), 2000000);
    tr.state = HUB_TRANSPORT_PAUSED;
    assert_int_equal(hub_transport_time_at(&tr, 9000000, dur), 1000000);
}

static void test_playing_ticks(void **state)
{
    hub_player_t *pl = hub_player_new(FPS);
    hub_transport_t tr = transport(HUB_TRANSPORT_PLAYING, 0, 1000000, HUB_RATE_ONE);
    uint64_t late = 99, skipped = 99;

    hub_player_set_prog(pl, ramp_prog(250));
    hub_player_set_transport(pl, &tr);
    assert_int_equal(hub_player_next_us(pl), 1000000); /* tick 0 */
    assert_int_equal(hub_player_tick(pl, 999999, &late, &skipped), 0);
    assert_int_equal(layer_red(pl), -1); /* nothing rendered yet */
    assert_int_equal(hub_player_tick(pl, 1000000, &late, &skipped), 1);
    assert_int_equal(late, 0);
    assert_int_equal(skipped, 0);
    assert_int_equal(hub_player_last_time(pl), 0);
    assert_int_equal(layer_red(pl), 0);
    assert_int_equal(hub_player_next_us(pl), 1016666);
    assert_int_equal(hub_player_tick(pl, 1016665, &late, &skipped), 0);
    assert_int_equal(hub_player_tick(pl, 1016700, &late, &skipped), 1);
    assert_int_equal(late, 34);
    assert_int_equal(skipped, 0);
    assert_int_equal(hub_player_last_time(pl), 16666);
    assert_int_equal(hub_player_tick(pl, 1016701, &late, &skipped), 0); /* tick 1 is done */
    /* Exactly at tick 2's due time (33333 * 60 / 1e6 = 1.99998 rounds below it). */
    assert_int_equal(hub_player_tick(pl, 1033333, &late, &skipped), 1);
    assert_int_equal(late, 0);
    assert_int_equal(hub_player_last_time(pl), 33333);

    /* Ahead by 4 periods: tick 6 (due 1.1 s), 3..5 skipped. */
    assert_int_equal(hub_player_tick(pl, 1100000, &late, &skipped), 1);
    assert_int_equal(late, 0);
    assert_int_equal(skipped, 3);
    assert_int_equal(hub_player_last_time(pl), 100000);
    assert_int_equal(hub_player_ticks(pl), 4);
    /* 250 * 0.1 s / 10 s = 2.5 -> 3 */
    assert_int_equal(layer_red(pl), 3);

    /* A new program with the transport running: the same tick at once. */
    hub_player_set_prog(pl, ramp_prog(0));
    assert_int_equal(layer_red(pl), -1);
    assert_int_equal(hub_player_next_us(pl), 0);
    assert_int_equal(hub_player_tick(pl, 1100001, &late, &skipped), 1);
    assert_int_equal(late, 1);
    assert_int_equal(skipped, 0);
    assert_int_equal(hub_player_last_time(pl), 100000);
    assert_int_equal(hub_player_ticks(pl), 5);
    assert_int_equal(layer_red(pl), 0);

    /* A transport handed over late starts at the newest due tick, none skipped. */
    tr = transport(HUB_TRANSPORT_PLAYING, 5000000, 2000000, 2000);
    hub_player_set_transport(pl, &tr);
    assert_int_equal(hub_player_ticks(pl), 0);
    assert_int_equal(hub_player_last_time(pl), -1);
    assert_int_equal(hub_player_next_us(pl), 2000000);
    assert_int_equal(hub_player_tick(pl, 2060000, &late, &skipped), 1);
    assert_int_equal(late, 10000); /* tick 3 was due at 2.05 s */
    assert_int_equal(skipped, 0);
    assert_int_equal(hub_player_last_time(pl), 5100000); /* 3 * 16666.67 * 2 */

    /* A transport that starts later waits for it. */
    tr = transport(HUB_TRANSPORT_PLAYING, 0, 3000000, 1000);
    hub_player_set_transport(pl, &tr);
    assert_int_equal(hub_player_next_us(pl), 3000000);
    assert_int_equal(hub_player_tick(pl, 2900000, &late, &skipped), 0);
    hub_player_free(pl);
}

static void test_paused_once(void **state)
{
    hub_player_t *pl = hub_player_new(FPS);
    hub_transport_t tr = transport(HUB_TRANSPORT_PAUSED, 4000000, 0, HUB_RATE_ONE);
    uint64_t late = 99, skipped = 99;

    hub_player_set_prog(pl, ramp_prog(250));
    hub_player_set_transport(pl, &tr);
    assert_int_equal(hub_player_next_us(pl), 0);
    assert_int_equal(hub_player_tick(pl, 123456789, &late, &skipped), 1);
    assert_int_equal(late, 0);
    assert_int_equal(skipped, 0);
    assert_int_equal(hub_player_last_time(pl), 4000000);
    assert_int_equal(layer_red(pl), 100); /* 250 * .4 */
    assert_int_equal(hub_player_next_us(pl), UINT64_MAX);
    assert_int_equal(hub_player_tick(pl, 223456789, &late, &skipped), 0);
    assert_int_equal(hub_player_ticks(pl), 1);
    assert_int_equal(layer_red(pl), 100); /* held */

    /* A new program: rendered once more. */
    hub_player_set_prog(pl, ramp_prog(0));
    assert_int_equal(hub_player_next_us(pl), 0);
    assert_int_equal(hub_player_tick(pl, 223456790, &late, &skipped), 1);
    assert_int_equal(layer_red(pl), 0);
    assert_int_equal(hub_player_tick(pl, 223456791, &late, &skipped), 0);

    /* Paused past the end: the end. */
    hub_player_set_prog(pl, ramp_prog(250));
    tr.t_us = 99000000;
    hub_player_set_transport(pl, &tr);
    assert_int_equal(hub_player_tick(pl, 0, NULL, NULL), 1);
    assert_int_equal(hub_player_last_time(pl), 10000000);
    assert_int_equal(layer_red(pl), 250);
    hub_player_free(pl);
}

static void test_stopped_no_layer(void **state)
{
    hub_player_t *pl = hub_player_new(FPS);
    hub_transport_t tr = transport(HUB_TRANSPORT_PLAYING, 0, 0, HUB_RATE_ONE);
    const uint8_t *vals, *set;
    uint64_t late, skipped;

    /* Nothing at all. */
    assert_int_equal(hub_player_next_us(pl), UINT64_MAX);
    assert_int_equal(hub_player_tick(pl, 1000, &late, &skipped), 0);
    assert_int_equal(hub_player_layer(pl, 1, &vals, &set), 0);
    /* Playing without a program. */
    hub_player_set_transport(pl, &tr);
    assert_int_equal(hub_player_next_us(pl), UINT64_MAX);
    assert_int_equal(hub_player_tick(pl, 1000, &late, &skipped), 0);
    assert_int_equal(hub_player_layer(pl, 1, &vals, &set), 0);
    /* A program: a layer, on its universes only. */
    hub_player_set_prog(pl, ramp_prog(250));
    assert_int_equal(hub_player_tick(pl, 1000, &late, &skipped), 1);
    assert_int_equal(hub_player_layer(pl, 1, &vals, &set), 1);
    assert_int_equal(hub_player_layer(pl, 2, &vals, &set), 0);
    /* Stopped: none, and no ticks. */
    tr.state = HUB_TRANSPORT_STOPPED;
    hub_player_set_transport(pl, &tr);
    assert_int_equal(hub_player_layer(pl, 1, &vals, &set), 0);
    assert_int_equal(hub_player_next_us(pl), UINT64_MAX);
    assert_int_equal(hub_player_tick(pl, 100000, &late, &skipped), 0);
    /* Playing again; then the program taken away. */
    tr.state = HUB_TRANSPORT_PLAYING;
    hub_player_set_transport(pl, &tr);
    assert_int_equal(hub_player_tick(pl, 100000, &late, &skipped), 1);
    assert_int_equal(hub_player_layer(pl, 1, &vals, &set), 1);
    hub_player_set_prog(pl, NULL);
    assert_int_equal(hub_player_layer(pl, 1, &vals, &set), 0);
    assert_int_equal(hub_player_tick(pl, 200000, &late, &skipped), 0);
    hub_player_free(pl);
    hub_player_free(NULL);
}

/* ---- random shows ------------------------------------------------------------------------ */

static uint64_t rng_state;

static uint64_t rnd(void)
{
    uint64_t z = (rng_state += 0x9e3779b97f4a7c15u); /* splitmix64 */
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
    return z ^ (z >> 31);
}

static int64_t rnd_in(int64_t lo, int64_t hi) /* inclusive */
{
    return lo + (int64_t)(rnd() % (uint64_t)(hi - lo + 1));
}

static double rnd_unit(void)
{
    return (double)(rnd() >> 11) / 9007199254740992.0;
}

#define R_FIX    30
#define R_CUES   50
#define R_FX     10
#define R_NAMES  8
#define R_VALUES 5

typedef struct rshow {
    hub_patch_fixture_t fix[R_FIX];
    size_t nfix;
    hub_patch_poi_t poi;
    hub_show_t s;
    hub_show_cue_t cues[R_CUES];
    hub_show_value_t values[R_CUES][R_VALUES];
    hub_show_ident_t cue_names[R_CUES][R_NAMES];
    hub_show_effect_t fx[R_FX];
    hub_show_ident_t fx_names[R_FX][R_NAMES];
} rshow_t;

static const int UNIVERSES[] = {1, 2, 7, 300};

static const hub_patch_fixture_t *r_fixture(void *ud, const char *name)
{
    rshow_t *r = ud;

    for (size_t i = 0; i < r->nfix; i++)
        if (strcmp(r->fix[i].name, name) == 0)
            return &r->fix[i];
    return NULL;
}

static const hub_patch_poi_t *r_poi(void *ud, const char *name)
{
    rshow_t *r = ud;
    return strcmp(name, r->poi.name) == 0 ? &r->poi : NULL;
}

static void r_patch(rshow_t *r)
{
    int nuni = (int)rnd_in(1, 3);

    r->nfix = (size_t)rnd_in(1, R_FIX);
    for (size_t i = 0; i < r->nfix; i++) {
        hub_patch_fixture_t *f = &r->fix[i];
        int roles[HUB_ROLE_COUNT];

        for (int j = 0; j < HUB_ROLE_COUNT; j++)
            roles[j] = j;
        for (int j = HUB_ROLE_COUNT - 1; j > 0; j--) { /* shuffle: distinct roles */
            int k = (int)rnd_in(0, j), tmp = roles[j];
            roles[j] = roles[k];
            roles[k] = tmp;
        }
        snprintf(f->name, sizeof(f->name), "f%zu", i);
        f->universe = UNIVERSES[rnd_in(0, nuni - 1)];
        f->nch = (int)rnd_in(1, 16);
        /* Fixtures may overlap: the renders must agree all the same. */
        f->address = (int)rnd_in(1, 512 - f->nch + 1);
        for (int j = 0; j < f->nch; j++)
            f->roles[j] = (unsigned char)roles[j];
    }
    strcpy(r->poi.name, "spot");
    r->poi.pan = (int)rnd_in(0, 255);
    r->poi.pan_fine = (int)rnd_in(0, 255);
    r->poi.tilt = (int)rnd_in(0, 255);
    r->poi.tilt_fine = (int)rnd_in(0, 255);
}

/* Names of random fixtures, now and then one the patch lacks. */
static size_t r_names(rshow_t *r, hub_show_ident_t *names)
{
    size_t n = (size_t)rnd_in(1, R_NAMES);

    for (size_t i = 0; i < n; i++) {
        if (rnd() % 12 == 0)
            strcpy(names[i], "ghost");
        else
            snprintf(names[i], sizeof(names[i]), "f%d", (int)rnd_in(0, (int64_t)r->nfix - 1));
    }
    return n;
}

static void r_cue(rshow_t *r, size_t i)
{
    hub_show_cue_t *c = &r->cues[i];

    memset(c, 0, sizeof(*c));
    /* Now and then at the same t as the cue before it. */
    c->t_ms = i > 0 && rnd() % 5 == 0 ? r->cues[i - 1].t_ms : rnd_in(0, r->s.duration_ms);
    c->fade_ms = rnd() % 4 == 0 ? 0 : rnd_in(1, r->s.duration_ms);
    c->curve = (int)rnd_in(0, HUB_CURVE_COUNT - 1);
    c->fixtures = r->cue_names[i];
    c->nfixtures = r_names(r, r->cue_names[i]);
    c->values = r->values[i];
    c->nvalues = (size_t)rnd_in(rnd() % 6 == 0 ? 0 : 1, R_VALUES);
    for (size_t v = 0; v < c->nvalues; v++) {
        c->values[v].role = (int)rnd_in(0, HUB_ROLE_COUNT - 1);
        c->values[v].value = (int)rnd_in(0, 255);
    }
    if (c->nvalues == 0 || rnd() % 8 == 0)
        strcpy(c->poi, rnd() % 6 ? "spot" : "lost");
}

static void r_effect(rshow_t *r, size_t i)
{
    hub_show_effect_t *e = &r->fx[i];
    hub_show_params_t *p = &e->params;

    memset(e, 0, sizeof(*e));
    e->effect = (int)rnd_in(0, HUB_FX_COUNT - 1);
    e->t_ms = rnd_in(0, r->s.duration_ms);
    e->dur_ms = rnd_in(1, r->s.duration_ms);
    e->fixtures = r->fx_names[i];
    e->nfixtures = r_names(r, r->fx_names[i]);
    p->period_ms = rnd() % 3 == 0 ? rnd_in(1, 40) : rnd_in(40, 4000);
    p->role = (int)rnd_in(0, HUB_ROLE_COUNT - 1);
    p->min = (int)rnd_in(0, 255);
    p->max = (int)rnd_in(p->min, 255);
    p->duty = rnd_unit();
    p->spread = rnd_unit();
}

static hub_show_prog_t *r_compile(rshow_t *r)
{
    hub_show_patch_t patch = {.fixture = r_fixture, .poi = r_poi, .ud = r};

    memset(&r->s, 0, sizeof(r->s));
    r->s.duration_ms = rnd_in(200, 20000);
    r->s.cues = r->cues;
    r->s.effects = r->fx;
    r->s.ncues = (size_t)rnd_in(0, R_CUES);
    r->s.neffects = (size_t)rnd_in(0, R_FX);
    r_patch(r);
    for (size_t i = 0; i < r->s.ncues; i++)
        r_cue(r, i);
    for (size_t i = 0; i < r->s.neffects; i++)
        r_effect(r, i);
    return hub_show_compile(&r->s, &patch, NULL);
}

/* A universe no program touches, and every one that may be touched. */
static const int CHECK_UNIVERSES[] = {1, 2, 7, 300, 4};

/* ---- cursor = pure -------------------------------------------------------------------------- */

static void check_cursor_prog(hub_show_prog_t *p)
{
    uint8_t a[HUB_SHOW_SLOTS], as[HUB_SHOW_SLOTS], b[HUB_SHOW_SLOTS], bs[HUB_SHOW_SLOTS];
    hub_show_cursor_t *c = hub_show_cursor_new(p);
    int64_t dur = hub_show_prog_duration_us(p), t = 0;

    for (int step = 0; step < 150; step++) {
        switch (rnd() % 9) {
        case 0: t = rnd_in(-1000, dur + 1000); break; /* anywhere, past both ends */
        case 1: t -= rnd_in(0, 100000); break;        /* back a little */
        case 2: t += rnd_in(100000, 2000000); break;  /* far ahead */
        case 3: t += rnd_in(0, 3); break;             /* a µs or so: mid-fade holds */
        default: t += rnd_in(0, 40000); break;        /* a frame or so */
        }
        for (size_t u = 0; u < sizeof(CHECK_UNIVERSES) / sizeof(CHECK_UNIVERSES[0]); u++) {
            int ra = hub_show_render_universe(p, c, CHECK_UNIVERSES[u], t, a, as);
            int rb = hub_show_render_universe(p, NULL, CHECK_UNIVERSES[u], t, b, bs);
            assert_int_equal(ra, rb);
            assert_memory_equal(a, b, sizeof(a));
            assert_memory_equal(as, bs, sizeof(as));
        }
    }
    hub_show_cursor_free(c);
}

static rshow_t RS[2];

static void test_cursor_equals_pure(void **state)
{
    for (uint64_t seed = 1; seed <= 200; seed++) {
        hub_show_prog_t *p;

        rng_state = seed * 7919;
        p = r_compile(&RS[0]);
        check_cursor_prog(p);
        hub_show_prog_unref(p);
    }
}

/* ---- the player = pure renders of its ticks ---------------------------------------------------
 */

typedef struct model {
    hub_show_prog_t *prog; /* the test's own reference to the player's program */
    hub_transport_t tr;
    int dirty, have_last;
    uint64_t last_k;
} model_t;

static uint64_t due(const hub_transport_t *tr, uint64_t k)
{
    return tr->mono_us + k * 1000000 / FPS;
}

/* The newest k with due(k) <= now, by bisection (the player estimates). */
static uint64_t model_k(const hub_transport_t *tr, uint64_t now)
{
    uint64_t lo = 0, hi = 1000000000; /* due(lo) <= now < due(hi) */

    while (hi - lo > 1) {
        uint64_t mid = lo + (hi - lo) / 2;
        if (due(tr, mid) <= now)
            lo = mid;
        else
            hi = mid;
    }
    return lo;
}

/* t_us + k * 1e6 * rate / (1000 fps), 128-bit, clamped. */
static int64_t model_time(const hub_transport_t *tr, uint64_t k, int64_t dur)
{
    __int128 t = (__int128)tr->t_us + (__int128)k * 1000000 * tr->rate_pm / (1000 * FPS);
    return t < 0 ? 0 : t > dur ? dur : (int64_t)t;
}

static void check_layers(hub_player_t *pl, hub_show_prog_t *prog, int64_t t)
{
    uint8_t want[HUB_SHOW_SLOTS], want_set[HUB_SHOW_SLOTS];

    for (size_t u = 0; u < sizeof(CHECK_UNIVERSES) / sizeof(CHECK_UNIVERSES[0]); u++) {
        const uint8_t *vals = NULL, *set = NULL;
        int has = hub_show_render_universe(prog, NULL, CHECK_UNIVERSES[u], t, want, want_set);

        assert_int_equal(hub_player_layer(pl, CHECK_UNIVERSES[u], &vals, &set), has);
        if (has) {
            assert_memory_equal(vals, want, sizeof(want));
            assert_memory_equal(set, want_set, sizeof(want_set));
        }
    }
}

/* One hub_player_tick at now, against what the model says it must do. */
static void check_tick(hub_player_t *pl, model_t *m, uint64_t now)
{
    uint64_t late = 77, skipped = 77, k = 0;
    int want = 0, got;
    int64_t t = 0;

    if (m->prog != NULL && m->tr.state == HUB_TRANSPORT_PAUSED && m->dirty) {
        want = 1;
        t = m->tr.t_us < 0 ? 0 : m->tr.t_us;
        if (t > hub_show_prog_duration_us(m->prog))
            t = hub_show_prog_duration_us(m->prog);
    } else if (m->prog != NULL && m->tr.state == HUB_TRANSPORT_PLAYING && now >= m->tr.mono_us) {
        k = model_k(&m->tr, now);
        want = !m->have_last || k > m->last_k || (k == m->last_k && m->dirty);
        t = model_time(&m->tr, k, hub_show_prog_duration_us(m->prog));
        if (want)
            assert_int_equal(
                hub_transport_tick_time(&m->tr, k, FPS, hub_show_prog_duration_us(m->prog)), t);
    }
    got = hub_player_tick(pl, now, &late, &skipped);
    assert_int_equal(got, want);
    if (m->prog == NULL || m->tr.state == HUB_TRANSPORT_STOPPED) {
        const uint8_t *vals, *set;
        for (size_t u = 0; u < sizeof(CHECK_UNIVERSES) / sizeof(CHECK_UNIVERSES[0]); u++)
            assert_int_equal(hub_player_layer(pl, CHECK_UNIVERSES[u], &vals, &set), 0);
        assert_int_equal(hub_player_next_us(pl), UINT64_MAX);
    }
    if (!got)
        return;
    assert_int_equal(hub_player_last_time(pl), t);
    if (m->tr.state == HUB_TRANSPORT_PLAYING) {
        assert_int_equal(late, now - due(&m->tr, k));
        assert_int_equal(skipped, m->have_last && k > m->last_k ? k - m->last_k - 1 : 0);
        m->have_last = 1;
        m->last_k = k;
        /* The next deadline is the next tick's. */
        assert_int_equal(hub_player_next_us(pl), due(&m->tr, k + 1));
    } else {
        assert_int_equal(late, 0);
        assert_int_equal(skipped, 0);
        assert_int_equal(hub_player_next_us(pl), UINT64_MAX);
    }
    m->dirty = 0;
    check_layers(pl, m->prog, t);
}

static void model_transport(hub_player_t *pl, model_t *m, const hub_transport_t *tr)
{
    hub_player_set_transport(pl, tr);
    m->tr = *tr;
    m->dirty = 1;
    m->have_last = 0;
}

static void model_prog(hub_player_t *pl, model_t *m, hub_show_prog_t *prog)
{
    hub_show_prog_unref(m->prog);
    m->prog = prog;
    m->dirty = 1;
    hub_player_set_prog(pl, prog ? hub_show_prog_ref(prog) : NULL);
}

static const int RATES[] = {500, 1000, 1500, 2000};

/* A random transport step; t_us anywhere in (or a little beyond) the show. */
static void random_transport(hub_player_t *pl, model_t *m, uint64_t now)
{
    int64_t dur = m->prog ? hub_show_prog_duration_us(m->prog) : 10000000;
    hub_transport_t tr = {.rate_pm = RATES[rnd() % 4]};
    uint64_t r = rnd() % 10;

    tr.t_us = rnd_in(-50000, dur + 50000);
    if (r < 6) { /* play (or jump): handed over late, on time or for later */
        tr.state = HUB_TRANSPORT_PLAYING;
        tr.mono_us = r < 4 ? now - (uint64_t)rnd_in(0, 100000) : now + (uint64_t)rnd_in(0, 50000);
    } else if (r < 9) { /* pause, here or anywhere */
        tr.state = HUB_TRANSPORT_PAUSED;
        if (r == 6)
            tr.t_us = hub_transport_time_at(&m->tr, now, dur);
    } else {
        tr.state = HUB_TRANSPORT_STOPPED;
    }
    model_transport(pl, m, &tr);
}

static uint64_t random_step(void)
{
    switch (rnd() % 6) {
    case 0: return (uint64_t)rnd_in(0, 8000);          /* within a period */
    case 1: return (uint64_t)rnd_in(16000, 17500);     /* about one */
    case 2: return (uint64_t)rnd_in(2, 10) * 16667;    /* several */
    case 3: return (uint64_t)rnd_in(1000000, 3000000); /* seconds */
    default: return (uint64_t)rnd_in(0, 20000);
    }
}

static void test_player_property(void **state)
{
    for (uint64_t seed = 1; seed <= 200; seed++) {
        hub_player_t *pl = hub_player_new(FPS);
        hub_show_prog_t *progs[2];
        model_t m = {0};
        uint64_t now = 1000000000 + seed * 12345;

        rng_state = seed;
        progs[0] = r_compile(&RS[0]);
        progs[1] = r_compile(&RS[1]);
        m.tr.state = HUB_TRANSPORT_STOPPED;
        m.tr.rate_pm = HUB_RATE_ONE;
        model_prog(pl, &m, hub_show_prog_ref(progs[0]));
        for (int step = 0; step < 80; step++) {
            uint64_t r = rnd() % 100;

            if (r < 15)
                random_transport(pl, &m, now);
            else if (r < 22) /* program swap, now and then to none */
                model_prog(pl, &m, rnd() % 5 ? hub_show_prog_ref(progs[rnd() % 2]) : NULL);
            else if (r < 30 && m.tr.state == HUB_TRANSPORT_PLAYING && now >= m.tr.mono_us)
                now = due(&m.tr, model_k(&m.tr, now) + 1); /* exactly on the next tick */
            else
                now += random_step();
            check_tick(pl, &m, now);
        }
        hub_player_free(pl);
        hub_show_prog_unref(m.prog);
        hub_show_prog_unref(progs[0]);
        hub_show_prog_unref(progs[1]);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tick_timing),        cmocka_unit_test(test_playing_ticks),
        cmocka_unit_test(test_paused_once),        cmocka_unit_test(test_stopped_no_layer),
        cmocka_unit_test(test_cursor_equals_pure), cmocka_unit_test(test_player_property),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
