/* tests/unit/test_show_render.c - shows compiled and rendered, rule by rule
 * (domains/show/render.h): curves, fades chained from mid-fade values, the
 * last cue at one t, POIs, references the patch lacks, every effect at
 * hand-computed times, effects over cues, the clamp, untouched channels,
 * previews, reference counts. Shows are built as structs (no parser). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "domains/dmx/roles.h"
#include "domains/show/render.h"

/* ---- the patch ------------------------------------------------------------------------ */

/* par1 1/1-4, par2 1/5-8 (red green blue dimmer), dimonly 1/20, mover 2/10-14. */
static const hub_patch_fixture_t FIXTURES[] = {
    {.name = "par1",
     .universe = 1,
     .address = 1,
     .nch = 4,
     .roles = {HUB_ROLE_RED, HUB_ROLE_GREEN, HUB_ROLE_BLUE, HUB_ROLE_DIMMER}},
    {.name = "par2",
     .universe = 1,
     .address = 5,
     .nch = 4,
     .roles = {HUB_ROLE_RED, HUB_ROLE_GREEN, HUB_ROLE_BLUE, HUB_ROLE_DIMMER}},
    {.name = "dimonly", .universe = 1, .address = 20, .nch = 1, .roles = {HUB_ROLE_DIMMER}},
    {.name = "mover",
     .universe = 2,
     .address = 10,
     .nch = 5,
     .roles = {HUB_ROLE_PAN, HUB_ROLE_PAN_FINE, HUB_ROLE_TILT, HUB_ROLE_TILT_FINE,
               HUB_ROLE_DIMMER}},
};
static const hub_patch_poi_t POIS[] = {
    {.name = "center", .pan = 128, .pan_fine = 7, .tilt = 60, .tilt_fine = 0},
};

enum { P1_RED = 0, P1_GREEN = 1, P1_BLUE = 2, P1_DIM = 3, P2_RED = 4, P2_GREEN = 5, P2_BLUE = 6 };
enum { P2_DIM = 7, DIMONLY = 19, MV_PAN = 9, MV_PAN_FINE = 10, MV_TILT = 11, MV_TILT_FINE = 12 };
enum { MV_DIM = 13 };

static const hub_patch_fixture_t *fixture(void *ud, const char *name)
{
    for (size_t i = 0; i < sizeof(FIXTURES) / sizeof(FIXTURES[0]); i++)
        if (strcmp(FIXTURES[i].name, name) == 0)
            return &FIXTURES[i];
    return NULL;
}

static const hub_patch_poi_t *poi(void *ud, const char *name)
{
    for (size_t i = 0; i < sizeof(POIS) / sizeof(POIS[0]); i++)
        if (strcmp(POIS[i].name, name) == 0)
            return &POIS[i];
    return NULL;
}

static const hub_show_patch_t PATCH = {.fixture = fixture, .poi = poi, .ud = NULL};

static hub_show_ident_t PAR1[] = {"par1"};
static hub_show_ident_t PARS[] = {"par1", "par2"};
static hub_show_ident_t MOVER[] = {"mover"};
static hub_show_ident_t MOVER_PAR1[] = {"mover", "par1"};
#define N(a) (sizeof(a) / sizeof((a)[0]))

/* ---- building shows ------------------------------------------------------------------- */

#define MAX_ITEMS  16
#define MAX_VALUES 8

typedef struct tshow {
    hub_show_t s;
    hub_show_cue_t cues[MAX_ITEMS];
    hub_show_value_t values[MAX_ITEMS][MAX_VALUES];
    hub_show_effect_t fx[MAX_ITEMS];
} tshow_t;

static tshow_t T;
static uint8_t OUT[HUB_SHOW_SLOTS], SET[HUB_SHOW_SLOTS];

static int setup(void **state)
{
    memset(&T, 0, sizeof(T));
    T.s.duration_ms = 10000;
    T.s.cues = T.cues;
    T.s.effects = T.fx;
    return 0;
}

static hub_show_cue_t *cue(int64_t t_ms, int64_t fade_ms, int curve, hub_show_ident_t *fx,
                           size_t nfx)
{
    hub_show_cue_t *c = &T.cues[T.s.ncues];

    assert_true(T.s.ncues < MAX_ITEMS);
    c->t_ms = t_ms;
    c->fade_ms = fade_ms;
    c->curve = curve;
    c->fixtures = fx;
    c->nfixtures = nfx;
    c->values = T.values[T.s.ncues++];
    return c;
}

static void val(hub_show_cue_t *c, int role, int value)
{
    assert_true(c->nvalues < MAX_VALUES);
    c->values[c->nvalues].role = role;
    c->values[c->nvalues++].value = value;
}

static hub_show_params_t params(int role, int64_t period_ms, int min, int max, double duty,
                                double spread)
{
    hub_show_params_t p = {.period_ms = period_ms,
                           .role = role,
                           .min = min,
                           .max = max,
                           .duty = duty,
                           .spread = spread};
    return p;
}

static hub_show_effect_t *effect(int kind, int64_t t_ms, int64_t dur_ms, hub_show_ident_t *fx,
                                 size_t nfx, hub_show_params_t p)
{
    hub_show_effect_t *e = &T.fx[T.s.neffects++];

    e->effect = kind;
    e->t_ms = t_ms;
    e->dur_ms = dur_ms;
    e->fixtures = fx;
    e->nfixtures = nfx;
    e->params = p;
    return e;
}

static hub_show_prog_t *compile(size_t *skipped)
{
    return hub_show_compile(&T.s, &PATCH, skipped);
}

/* The value of slot at t_us; the slot must be set. */
static int at_us(hub_show_prog_t *p, int universe, int64_t t_us, int slot)
{
    assert_int_equal(hub_show_render_universe(p, NULL, universe, t_us, OUT, SET), 1);
    assert_int_equal(SET[slot], 1);
    return OUT[slot];
}

static int at(hub_show_prog_t *p, int universe, int64_t t_ms, int slot)
{
    return at_us(p, universe, t_ms * 1000, slot);
}

/* ---- the pieces ----------------------------------------------------------------------- */

static void test_curve_fn(void **state)
{
    assert_true(hub_show_curve(HUB_CURVE_STEP, 0.3) == 1.0);
    assert_true(hub_show_curve(HUB_CURVE_LINEAR, 0.25) == 0.25);
    /* 3 * 0.0625 - 2 * 0.015625 = 0.15625 */
    assert_true(hub_show_curve(HUB_CURVE_EASE_IN_OUT, 0.25) == 0.15625);
    assert_true(hub_show_curve(HUB_CURVE_EASE_IN_OUT, 0.5) == 0.5);
    assert_true(hub_show_curve(HUB_CURVE_EASE_IN_OUT, 0) == 0);
    assert_true(hub_show_curve(HUB_CURVE_EASE_IN_OUT, 1) == 1);
}

static void test_effect_value_fn(void **state)
{
    hub_show_effect_t e = {.effect = HUB_FX_PULSE,
                           .dur_ms = 10000,
                           .params = params(HUB_ROLE_DIMMER, 1000, 0, 255, 0, 0)};

    /* pulse: ph = frac(250 / 1000) = .25; 255 - 255 * .25 = 191.25 -> 191 */
    assert_int_equal(hub_show_effect_value(&e, 250, 0, 1, HUB_ROLE_DIMMER), 191);
    /* spread .5, i 1 of 2: ph = .25 + .25 = .5; 255 - 127.5 = 127.5 -> 128 */
    e.params.spread = 0.5;
    assert_int_equal(hub_show_effect_value(&e, 250, 1, 2, HUB_ROLE_DIMMER), 128);
    /* pulse min 100: tau 0 -> max; ph .75 -> 255 - 155 * .75 = 138.75 -> 139 */
    e.params = params(HUB_ROLE_DIMMER, 1000, 100, 255, 0, 0);
    assert_int_equal(hub_show_effect_value(&e, 0, 0, 1, HUB_ROLE_DIMMER), 255);
    assert_int_equal(hub_show_effect_value(&e, 750, 0, 1, HUB_ROLE_DIMMER), 139);
    assert_int_equal(hub_show_effect_value(&e, 750, 0, 1, HUB_ROLE_RED), -1);

    /* chase, period 500, 3 fixtures: floor(tau / 500) mod 3 picks the one at max */
    e.effect = HUB_FX_CHASE;
    e.params = params(HUB_ROLE_DIMMER, 500, 10, 200, 0, 0);
    assert_int_equal(hub_show_effect_value(&e, 0, 0, 3, HUB_ROLE_DIMMER), 200);
    assert_int_equal(hub_show_effect_value(&e, 0, 1, 3, HUB_ROLE_DIMMER), 10);
    /* 600 / 500 = 1.2 -> step 1 */
    assert_int_equal(hub_show_effect_value(&e, 600, 0, 3, HUB_ROLE_DIMMER), 10);
    assert_int_equal(hub_show_effect_value(&e, 600, 1, 3, HUB_ROLE_DIMMER), 200);
    /* 1600 / 500 = 3.2 -> step 3 mod 3 = 0 */
    assert_int_equal(hub_show_effect_value(&e, 1600, 0, 3, HUB_ROLE_DIMMER), 200);
    assert_int_equal(hub_show_effect_value(&e, 1600, 2, 3, HUB_ROLE_DIMMER), 10);

    /* rainbow, period 4000, max 255, spread 1 */
    e.effect = HUB_FX_RAINBOW;
    e.params = params(0, 4000, 0, 255, 0, 1);
    /* tau 500: h = .125, h6 = .75, sector 0, f .75: (1, .75, 0) -> 255, 191.25 -> 191, 0 */
    assert_int_equal(hub_show_effect_value(&e, 500, 0, 2, HUB_ROLE_RED), 255);
    assert_int_equal(hub_show_effect_value(&e, 500, 0, 2, HUB_ROLE_GREEN), 191);
    assert_int_equal(hub_show_effect_value(&e, 500, 0, 2, HUB_ROLE_BLUE), 0);
    /* i 1 of 2: h = .125 + .5 = .625, h6 3.75, sector 3, f .75: (0, .25, 1) -> 0, 63.75 -> 64,
     * 255 */
    assert_int_equal(hub_show_effect_value(&e, 500, 1, 2, HUB_ROLE_RED), 0);
    assert_int_equal(hub_show_effect_value(&e, 500, 1, 2, HUB_ROLE_GREEN), 64);
    assert_int_equal(hub_show_effect_value(&e, 500, 1, 2, HUB_ROLE_BLUE), 255);
    /* tau 3000: h .75, h6 4.5, sector 4, f .5: (.5, 0, 1) -> 127.5 -> 128, 0, 255 */
    assert_int_equal(hub_show_effect_value(&e, 3000, 0, 2, HUB_ROLE_RED), 128);
    assert_int_equal(hub_show_effect_value(&e, 3000, 0, 2, HUB_ROLE_GREEN), 0);
    assert_int_equal(hub_show_effect_value(&e, 3000, 0, 2, HUB_ROLE_BLUE), 255);
    /* max 100 at tau 2000: h .5, sector 3, f 0: (0, 1, 1) * 100 */
    e.params.max = 100;
    assert_int_equal(hub_show_effect_value(&e, 2000, 0, 2, HUB_ROLE_RED), 0);
    assert_int_equal(hub_show_effect_value(&e, 2000, 0, 2, HUB_ROLE_GREEN), 100);
    assert_int_equal(hub_show_effect_value(&e, 2000, 0, 2, HUB_ROLE_BLUE), 100);
    assert_int_equal(hub_show_effect_value(&e, 2000, 0, 2, HUB_ROLE_DIMMER), -1);

    /* strobe, period 100, duty .5: frac(tau / 100) < .5 -> max */
    e.effect = HUB_FX_STROBE;
    e.params = params(HUB_ROLE_STROBE, 100, 5, 250, 0.5, 0);
    assert_int_equal(hub_show_effect_value(&e, 20, 0, 1, HUB_ROLE_STROBE), 250);   /* .2 */
    assert_int_equal(hub_show_effect_value(&e, 70, 0, 1, HUB_ROLE_STROBE), 5);     /* .7 */
    assert_int_equal(hub_show_effect_value(&e, 150, 0, 1, HUB_ROLE_STROBE), 5);    /* .5 */
    assert_int_equal(hub_show_effect_value(&e, 1210, 0, 1, HUB_ROLE_STROBE), 250); /* .1 */

    /* sine, period 3000, 0..255: min + (max - min) * (1 - cos(2 pi ph)) / 2 */
    e.effect = HUB_FX_SINE;
    e.params = params(HUB_ROLE_DIMMER, 3000, 0, 255, 0, 0);
    assert_int_equal(hub_show_effect_value(&e, 0, 0, 1, HUB_ROLE_DIMMER), 0); /* cos 0 = 1 */
    /* ph 1/3: cos(2 pi / 3) = -.5 -> .75 * 255 = 191.25 -> 191 */
    assert_int_equal(hub_show_effect_value(&e, 1000, 0, 1, HUB_ROLE_DIMMER), 191);
    /* ph .5: cos(pi) = -1 -> 255 */
    assert_int_equal(hub_show_effect_value(&e, 1500, 0, 1, HUB_ROLE_DIMMER), 255);
    /* 50..150 at ph 1/3: 50 + 100 * .75 = 125 */
    e.params = params(HUB_ROLE_DIMMER, 3000, 50, 150, 0, 0);
    assert_int_equal(hub_show_effect_value(&e, 1000, 0, 1, HUB_ROLE_DIMMER), 125);
    /* 0..100, period 2000, ph .25: (1 - ~0) / 2 * 100 = 50 (49.99.. + .5 floors to 50) */
    e.params = params(HUB_ROLE_DIMMER, 2000, 0, 100, 0, 0);
    assert_int_equal(hub_show_effect_value(&e, 500, 0, 1, HUB_ROLE_DIMMER), 50);
    /* spread 1, i 1 of 4: ph = 0 + 1/4 -> the same 50 */
    e.params.spread = 1;
    assert_int_equal(hub_show_effect_value(&e, 0, 1, 4, HUB_ROLE_DIMMER), 50);
}

/* ---- cues ------------------------------------------------------------------------------ */

static void test_linear(void **state)
{
    hub_show_prog_t *p;

    val(cue(0, 1000, HUB_CURVE_LINEAR, PAR1, 1), HUB_ROLE_RED, 255);
    p = compile(NULL);
    assert_int_equal(at(p, 1, 0, P1_RED), 0);      /* x 0 */
    assert_int_equal(at(p, 1, 250, P1_RED), 64);   /* 63.75 */
    assert_int_equal(at(p, 1, 500, P1_RED), 128);  /* 127.5 */
    assert_int_equal(at(p, 1, 999, P1_RED), 255);  /* 254.745 */
    assert_int_equal(at(p, 1, 1000, P1_RED), 255); /* x 1: the target */
    assert_int_equal(at(p, 1, 9000, P1_RED), 255);
    assert_int_equal(hub_show_prog_keyframes(p), 1);
    hub_show_prog_unref(p);
}

static void test_ease_in_out(void **state)
{
    hub_show_prog_t *p;

    val(cue(1000, 1000, HUB_CURVE_EASE_IN_OUT, PAR1, 1), HUB_ROLE_RED, 255);
    p = compile(NULL);
    assert_int_equal(at_us(p, 1, 999999, P1_RED), 0); /* before its cue: set, 0 */
    assert_int_equal(at(p, 1, 1250, P1_RED), 40);     /* .15625 * 255 = 39.84 */
    assert_int_equal(at(p, 1, 1500, P1_RED), 128);    /* .5 * 255 = 127.5 */
    assert_int_equal(at(p, 1, 1750, P1_RED), 215);    /* .84375 * 255 = 215.16 */
    assert_int_equal(at(p, 1, 2000, P1_RED), 255);
    hub_show_prog_unref(p);
}

static void test_step_ignores_fade(void **state)
{
    hub_show_prog_t *p;

    val(cue(1000, 1000, HUB_CURVE_STEP, PAR1, 1), HUB_ROLE_RED, 200);
    p = compile(NULL);
    assert_int_equal(at_us(p, 1, 999999, P1_RED), 0);
    assert_int_equal(at(p, 1, 1000, P1_RED), 200);
    assert_int_equal(at(p, 1, 1500, P1_RED), 200);
    hub_show_prog_unref(p);
}

/* A cue starting mid-fade fades from the value the channel has then. */
static void test_from_chains(void **state)
{
    hub_show_prog_t *p;

    val(cue(0, 1000, HUB_CURVE_LINEAR, PAR1, 1), HUB_ROLE_RED, 255);
    val(cue(500, 1000, HUB_CURVE_LINEAR, PAR1, 1), HUB_ROLE_RED, 0);
    val(cue(3000, 1000, HUB_CURVE_LINEAR, PAR1, 1), HUB_ROLE_RED, 55);
    p = compile(NULL);
    /* cue 1 at 500: 127.5 -> 128: the from of cue 2 */
    assert_int_equal(at(p, 1, 499, P1_RED), 127); /* 127.245 */
    assert_int_equal(at(p, 1, 500, P1_RED), 128); /* x 0 */
    assert_int_equal(at(p, 1, 750, P1_RED), 96);  /* 128 - 128 * .25 */
    assert_int_equal(at(p, 1, 1250, P1_RED), 32); /* 128 - 128 * .75 */
    assert_int_equal(at(p, 1, 1500, P1_RED), 0);  /* done */
    assert_int_equal(at(p, 1, 3500, P1_RED), 28); /* 0 + 55 * .5 = 27.5 */
    assert_int_equal(at(p, 1, 4000, P1_RED), 55);
    hub_show_prog_unref(p);

    /* Cue 2 after cue 1 is done fades from cue 1's target. */
    setup(NULL);
    val(cue(0, 0, HUB_CURVE_LINEAR, PAR1, 1), HUB_ROLE_RED, 255);
    val(cue(3000, 1000, HUB_CURVE_LINEAR, PAR1, 1), HUB_ROLE_RED, 55);
    p = compile(NULL);
    assert_int_equal(at(p, 1, 3500, P1_RED), 155); /* 255 - 200 * .5 */
    hub_show_prog_unref(p);
}

/* Of several cues at one t on one channel only the last in file order counts;
 * it fades from what the channel had before that t. */
static void test_same_t_last_wins(void **state)
{
    hub_show_prog_t *p;
    hub_show_cue_t *a;

    val(cue(0, 0, HUB_CURVE_STEP, PAR1, 1), HUB_ROLE_RED, 100);
    a = cue(1000, 0, HUB_CURVE_LINEAR, PAR1, 1);
    val(a, HUB_ROLE_RED, 200);
    val(a, HUB_ROLE_GREEN, 30);
    val(cue(1000, 1000, HUB_CURVE_LINEAR, PAR1, 1), HUB_ROLE_RED, 0);
    p = compile(NULL);
    assert_int_equal(at(p, 1, 1000, P1_GREEN), 30); /* the first cue's other role stays */
    assert_int_equal(at(p, 1, 1000, P1_RED), 100);  /* from 100 (not 200), x 0 */
    assert_int_equal(at(p, 1, 1500, P1_RED), 50);   /* 100 - 100 * .5 */
    assert_int_equal(at(p, 1, 2000, P1_RED), 0);
    assert_int_equal(hub_show_prog_keyframes(p), 3); /* red 0, red 1000, green 1000 */
    hub_show_prog_unref(p);
}

static void test_poi(void **state)
{
    hub_show_prog_t *p;
    size_t skipped = 99, n;
    const int *unis;

    cue(0, 0, HUB_CURVE_LINEAR, MOVER_PAR1, 2)->nvalues = 0;
    strcpy(T.cues[0].poi, "center");
    p = compile(&skipped);
    assert_int_equal(skipped, 0); /* par1 has no pan or tilt: left alone, not a loss */
    assert_int_equal(at(p, 2, 0, MV_PAN), 128);
    assert_int_equal(at(p, 2, 0, MV_PAN_FINE), 7);
    assert_int_equal(at(p, 2, 0, MV_TILT), 60);
    assert_int_equal(at(p, 2, 0, MV_TILT_FINE), 0);
    assert_int_equal(SET[MV_DIM], 0);
    unis = hub_show_prog_universes(p, &n);
    assert_int_equal(n, 1); /* universe 1 gets nothing */
    assert_int_equal(unis[0], 2);
    hub_show_prog_unref(p);

    /* A POI the patch lacks; one no fixture of the cue can take. */
    strcpy(T.cues[0].poi, "nowhere");
    p = compile(&skipped);
    assert_int_equal(skipped, 1);
    assert_int_equal(hub_show_render_universe(p, NULL, 2, 0, OUT, SET), 0);
    hub_show_prog_unref(p);
    strcpy(T.cues[0].poi, "center");
    T.cues[0].fixtures = PAR1;
    T.cues[0].nfixtures = 1;
    p = compile(&skipped);
    assert_int_equal(skipped, 1);
    hub_show_prog_unref(p);
}

/* Fixtures the patch lacks are skipped and counted; a fixture lacking a role
 * others of the cue have is left alone; a role none has is counted. */
static void test_missing_refs(void **state)
{
    static hub_show_ident_t with_ghost[] = {"par1", "dimonly", "ghost"};
    static hub_show_ident_t dimonly[] = {"dimonly"};
    static hub_show_ident_t ghost_par2[] = {"ghost", "par2"};
    hub_show_prog_t *p;
    size_t skipped = 0;

    val(cue(0, 0, HUB_CURVE_LINEAR, with_ghost, 3), HUB_ROLE_RED, 200); /* ghost: 1 */
    val(cue(0, 0, HUB_CURVE_LINEAR, dimonly, 1), HUB_ROLE_RED, 50);     /* red on none: 1 */
    /* ghost: 1; par2 keeps its position 1 of 2 */
    effect(HUB_FX_CHASE, 0, 5000, ghost_par2, 2, params(HUB_ROLE_DIMMER, 500, 0, 255, 0, 0));
    effect(HUB_FX_RAINBOW, 0, 5000, dimonly, 1, params(0, 3000, 0, 255, 0, 1)); /* no rgb: 1 */
    p = compile(&skipped);
    assert_int_equal(skipped, 4);
    assert_int_equal(at(p, 1, 0, P1_RED), 200);
    assert_int_equal(SET[DIMONLY], 0);
    assert_int_equal(OUT[DIMONLY], 0);
    assert_int_equal(at(p, 1, 0, P2_DIM), 0);     /* step 0: the ghost's turn */
    assert_int_equal(at(p, 1, 500, P2_DIM), 255); /* step 1: par2's */
    hub_show_prog_unref(p);

    /* No patch callbacks at all: everything skipped, nothing set. */
    hub_show_patch_t none = {0};
    p = hub_show_compile(&T.s, &none, &skipped);
    assert_int_equal(skipped, 7); /* all 7 fixture references; roles need a fixture */
    assert_int_equal(hub_show_render_universe(p, NULL, 1, 0, OUT, SET), 0);
    assert_int_equal(hub_show_prog_keyframes(p), 0);
    hub_show_prog_unref(p);
}

/* ---- effects --------------------------------------------------------------------------- */

/* Effects over cues, a later effect over an earlier one, the window. */
static void test_effects_over_cues(void **state)
{
    hub_show_prog_t *p;
    hub_show_cue_t *c;

    c = cue(0, 0, HUB_CURVE_LINEAR, PARS, 2);
    val(c, HUB_ROLE_DIMMER, 100);
    effect(HUB_FX_PULSE, 1000, 2000, PARS, 2, params(HUB_ROLE_DIMMER, 1000, 0, 255, 0, 0.5));
    effect(HUB_FX_STROBE, 1000, 500, PAR1, 1, params(HUB_ROLE_DIMMER, 100, 0, 255, 0.5, 0));
    p = compile(NULL);
    assert_int_equal(at(p, 1, 999, P1_DIM), 100);
    assert_int_equal(at(p, 1, 999, P2_DIM), 100);
    /* 1220: strobe tau 220, frac(2.2) = .2 < .5 -> 255 wins over the pulse */
    assert_int_equal(at(p, 1, 1220, P1_DIM), 255);
    /* pulse tau 220, par2 ph = .22 + .5 * 1 / 2 = .47: 255 - 119.85 = 135.15 */
    assert_int_equal(at(p, 1, 1220, P2_DIM), 135);
    /* 1250: strobe frac(2.5) = .5 -> min 0; par2 ph .5 -> 127.5 -> 128 */
    assert_int_equal(at(p, 1, 1250, P1_DIM), 0);
    assert_int_equal(at(p, 1, 1250, P2_DIM), 128);
    /* 1600: strobe over (1500); pulse par1 ph .6: 255 - 153 = 102; par2 ph .85: 38.25 */
    assert_int_equal(at(p, 1, 1600, P1_DIM), 102);
    assert_int_equal(at(p, 1, 1600, P2_DIM), 38);
    /* 2999.999: ph ~ .999999 -> ~0 */
    assert_int_equal(at_us(p, 1, 2999999, P1_DIM), 0);
    /* inactive at t_ms + dur_ms: the cue again */
    assert_int_equal(at(p, 1, 3000, P1_DIM), 100);
    assert_int_equal(at(p, 1, 3000, P2_DIM), 100);
    assert_int_equal(SET[P1_RED], 0);
    hub_show_prog_unref(p);
}

/* Each effect through the render path; channels only effects touch are set. */
static void test_effects_render(void **state)
{
    hub_show_prog_t *p;

    effect(HUB_FX_RAINBOW, 0, 10000, PARS, 2, params(0, 4000, 0, 255, 0, 1));
    effect(HUB_FX_SINE, 0, 10000, MOVER, 1, params(HUB_ROLE_DIMMER, 3000, 0, 255, 0, 0));
    effect(HUB_FX_CHASE, 2000, 1000, PARS, 2, params(HUB_ROLE_DIMMER, 500, 0, 255, 0, 0));
    p = compile(NULL);
    /* rainbow at 500: par1 h .125 -> (255, 191, 0); par2 h .625 -> (0, 64, 255) */
    assert_int_equal(at(p, 1, 500, P1_RED), 255);
    assert_int_equal(at(p, 1, 500, P1_GREEN), 191);
    assert_int_equal(at(p, 1, 500, P1_BLUE), 0);
    assert_int_equal(at(p, 1, 500, P2_RED), 0);
    assert_int_equal(at(p, 1, 500, P2_GREEN), 64);
    assert_int_equal(at(p, 1, 500, P2_BLUE), 255);
    /* dimmers: set (the chase touches them) and 0 outside its window */
    assert_int_equal(at(p, 1, 500, P1_DIM), 0);
    /* chase at 2600: tau 600 -> step 1: par2 */
    assert_int_equal(at(p, 1, 2600, P1_DIM), 0);
    assert_int_equal(at(p, 1, 2600, P2_DIM), 255);
    assert_int_equal(at(p, 1, 2100, P1_DIM), 255);
    /* sine at 1000 and 1500 (above) */
    assert_int_equal(at(p, 2, 1000, MV_DIM), 191);
    assert_int_equal(at(p, 2, 1500, MV_DIM), 255);
    assert_int_equal(SET[MV_PAN], 0);
    /* channels: 6 rgb + 2 dimmers (chase) + 1 (sine) */
    assert_int_equal(hub_show_prog_keyframes(p), 9);
    hub_show_prog_unref(p);
}

/* ---- time, sets, universes ------------------------------------------------------------- */

static void test_clamp(void **state)
{
    hub_show_prog_t *p;

    T.s.duration_ms = 2000;
    val(cue(0, 4000, HUB_CURVE_LINEAR, PAR1, 1), HUB_ROLE_RED, 200);
    p = compile(NULL);
    assert_int_equal(hub_show_prog_duration_us(p), 2000000);
    assert_int_equal(at(p, 1, 1000, P1_RED), 50);  /* 200 * .25 */
    assert_int_equal(at(p, 1, 2000, P1_RED), 100); /* 200 * .5 */
    assert_int_equal(at(p, 1, 10000, P1_RED), 100);
    assert_int_equal(at_us(p, 1, INT64_MAX, P1_RED), 100);
    assert_int_equal(at(p, 1, -5000, P1_RED), 0);
    assert_int_equal(at_us(p, 1, INT64_MIN, P1_RED), 0);
    hub_show_prog_unref(p);
}

static void test_untouched(void **state)
{
    hub_show_prog_t *p;
    size_t n;
    const int *unis;

    val(cue(0, 0, HUB_CURVE_LINEAR, MOVER, 1), HUB_ROLE_DIMMER, 9);
    val(cue(0, 0, HUB_CURVE_LINEAR, PAR1, 1), HUB_ROLE_BLUE, 7);
    p = compile(NULL);
    unis = hub_show_prog_universes(p, &n);
    assert_int_equal(n, 2);
    assert_int_equal(unis[0], 1);
    assert_int_equal(unis[1], 2);
    memset(OUT, 0xee, sizeof(OUT));
    memset(SET, 0xee, sizeof(SET));
    assert_int_equal(hub_show_render_universe(p, NULL, 1, 0, OUT, SET), 1);
    for (int i = 0; i < HUB_SHOW_SLOTS; i++) {
        assert_int_equal(SET[i], i == P1_BLUE);
        assert_int_equal(OUT[i], i == P1_BLUE ? 7 : 0);
    }
    /* a universe the show does not touch: 0, zeroed */
    memset(OUT, 0xee, sizeof(OUT));
    memset(SET, 0xee, sizeof(SET));
    assert_int_equal(hub_show_render_universe(p, NULL, 3, 0, OUT, SET), 0);
    for (int i = 0; i < HUB_SHOW_SLOTS; i++)
        assert_int_equal(OUT[i] | SET[i], 0);
    hub_show_prog_unref(p);

    /* An empty show. */
    setup(NULL);
    p = compile(NULL);
    hub_show_prog_universes(p, &n);
    assert_int_equal(n, 0);
    assert_int_equal(hub_show_render_universe(p, NULL, 1, 0, OUT, SET), 0);
    hub_show_prog_unref(p);
}

/* The same bytes with a cursor, forward, held, backward, past the end. */
static void test_cursor(void **state)
{
    static const int64_t times_ms[] = {0,    100,  250,  250, 499,  500,  750,  1000,  1250,
                                       3600, 3500, 2000, 0,   9000, 1249, 1250, 20000, 3000};
    uint8_t out2[HUB_SHOW_SLOTS], set2[HUB_SHOW_SLOTS];
    hub_show_prog_t *p;
    hub_show_cursor_t *c;

    val(cue(0, 1000, HUB_CURVE_LINEAR, PAR1, 1), HUB_ROLE_RED, 255);
    val(cue(500, 1000, HUB_CURVE_EASE_IN_OUT, PAR1, 1), HUB_ROLE_RED, 0);
    val(cue(1000, 1000, HUB_CURVE_STEP, PARS, 2), HUB_ROLE_GREEN, 40);
    val(cue(3000, 1000, HUB_CURVE_LINEAR, PARS, 2), HUB_ROLE_GREEN, 240);
    effect(HUB_FX_PULSE, 1000, 2000, PARS, 2, params(HUB_ROLE_DIMMER, 1000, 0, 255, 0, 0.5));
    p = compile(NULL);
    c = hub_show_cursor_new(p);
    for (size_t i = 0; i < N(times_ms); i++)
        for (int u = 0; u <= 3; u++) {
            int a = hub_show_render_universe(p, c, u, times_ms[i] * 1000, OUT, SET);
            int b = hub_show_render_universe(p, NULL, u, times_ms[i] * 1000, out2, set2);
            assert_int_equal(a, b);
            assert_memory_equal(OUT, out2, sizeof(OUT));
            assert_memory_equal(SET, set2, sizeof(SET));
        }
    hub_show_cursor_free(c);
    hub_show_cursor_free(NULL);
    hub_show_prog_unref(p);
}

/* Every µs across short fades: a held mid-fade value is never reused. */
static void test_cursor_every_us(void **state)
{
    uint8_t out2[HUB_SHOW_SLOTS], set2[HUB_SHOW_SLOTS];
    hub_show_prog_t *p;
    hub_show_cursor_t *c;

    val(cue(0, 10, HUB_CURVE_LINEAR, PAR1, 1), HUB_ROLE_RED, 255);
    val(cue(5, 10, HUB_CURVE_EASE_IN_OUT, PAR1, 1), HUB_ROLE_RED, 0);
    val(cue(8, 1, HUB_CURVE_LINEAR, PAR1, 1), HUB_ROLE_GREEN, 250);
    p = compile(NULL);
    c = hub_show_cursor_new(p);
    for (int64_t t = 0; t <= 20000; t++) {
        hub_show_render_universe(p, c, 1, t, OUT, SET);
        hub_show_render_universe(p, NULL, 1, t, out2, set2);
        assert_memory_equal(OUT, out2, 8);
    }
    hub_show_cursor_free(c);
    hub_show_prog_unref(p);
}

/* ---- previews, reference counts -------------------------------------------------------- */

static void test_previews(void **state)
{
    hub_show_effect_t chase = {.effect = HUB_FX_CHASE,
                               .t_ms = 5000, /* ignored */
                               .dur_ms = 1000,
                               .fixtures = PARS,
                               .nfixtures = 2,
                               .params = params(HUB_ROLE_DIMMER, 500, 0, 255, 0, 0)};
    hub_show_effect_t strobe = {.effect = HUB_FX_STROBE,
                                .dur_ms = 1000,
                                .fixtures = PAR1,
                                .nfixtures = 1,
                                .params = params(HUB_ROLE_DIMMER, 100, 0, 255, 0.5, 0)};
    hub_show_preview_def_t defs[] = {{&chase, 1000000}, {&strobe, 1500000}};
    hub_show_previews_t *pv = hub_show_previews_compile(defs, 2, &PATCH);

    memset(OUT, 0xee, sizeof(OUT));
    memset(SET, 0xee, sizeof(SET));
    assert_int_equal(hub_show_previews_render(pv, 1, 999999, OUT, SET), 0); /* not yet */
    for (int i = 0; i < HUB_SHOW_SLOTS; i++)
        assert_int_equal(OUT[i] | SET[i], 0);
    /* chase tau 0: par1's turn */
    assert_int_equal(hub_show_previews_render(pv, 1, 1000000, OUT, SET), 1);
    assert_int_equal(OUT[P1_DIM], 255);
    assert_int_equal(OUT[P2_DIM], 0);
    assert_int_equal(SET[P1_DIM], 1);
    assert_int_equal(SET[P2_DIM], 1);
    assert_int_equal(SET[P1_RED], 0);
    /* 1.4 s: chase tau 400, step 0; the strobe has not started */
    assert_int_equal(hub_show_previews_render(pv, 1, 1400000, OUT, SET), 1);
    assert_int_equal(OUT[P1_DIM], 255);
    /* 1.6 s: chase tau 600 -> par2; strobe tau 100, frac 0 < .5 -> 255 on par1 (later wins) */
    assert_int_equal(hub_show_previews_render(pv, 1, 1600000, OUT, SET), 1);
    assert_int_equal(OUT[P1_DIM], 255);
    assert_int_equal(OUT[P2_DIM], 255);
    /* 1.65 s: strobe frac .5 -> 0 over the chase's 0 */
    assert_int_equal(hub_show_previews_render(pv, 1, 1650000, OUT, SET), 1);
    assert_int_equal(OUT[P1_DIM], 0);
    /* 2 s: the chase expired, the strobe alone (frac(5) = 0 -> 255) */
    assert_int_equal(hub_show_previews_render(pv, 1, 2000000, OUT, SET), 1);
    assert_int_equal(OUT[P1_DIM], 255);
    assert_int_equal(SET[P2_DIM], 0);
    /* 2.5 s: both expired */
    assert_int_equal(hub_show_previews_render(pv, 1, 2500000, OUT, SET), 0);
    assert_int_equal(SET[P1_DIM], 0);
    assert_int_equal(hub_show_previews_render(pv, 2, 1600000, OUT, SET), 0);

    assert_ptr_equal(hub_show_previews_ref(pv), pv);
    hub_show_previews_unref(pv);
    assert_int_equal(hub_show_previews_render(pv, 1, 1000000, OUT, SET), 1); /* still held */
    hub_show_previews_unref(pv);
    hub_show_previews_unref(NULL);

    pv = hub_show_previews_compile(NULL, 0, &PATCH);
    assert_int_equal(hub_show_previews_render(pv, 1, 0, OUT, SET), 0);
    hub_show_previews_unref(pv);
}

static void test_refcount(void **state)
{
    hub_show_prog_t *p;

    val(cue(0, 0, HUB_CURVE_LINEAR, PAR1, 1), HUB_ROLE_RED, 1);
    p = compile(NULL);
    assert_ptr_equal(hub_show_prog_ref(p), p);
    assert_ptr_equal(hub_show_prog_ref(p), p);
    hub_show_prog_unref(p);
    hub_show_prog_unref(p);
    assert_int_equal(at(p, 1, 0, P1_RED), 1); /* still the caller's */
    hub_show_prog_unref(p);                   /* freed: ASan would catch a use or a leak */
    hub_show_prog_unref(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_curve_fn),
        cmocka_unit_test(test_effect_value_fn),
        cmocka_unit_test_setup(test_linear, setup),
        cmocka_unit_test_setup(test_ease_in_out, setup),
        cmocka_unit_test_setup(test_step_ignores_fade, setup),
        cmocka_unit_test_setup(test_from_chains, setup),
        cmocka_unit_test_setup(test_same_t_last_wins, setup),
        cmocka_unit_test_setup(test_poi, setup),
        cmocka_unit_test_setup(test_missing_refs, setup),
        cmocka_unit_test_setup(test_effects_over_cues, setup),
        cmocka_unit_test_setup(test_effects_render, setup),
        cmocka_unit_test_setup(test_clamp, setup),
        cmocka_unit_test_setup(test_untouched, setup),
        cmocka_unit_test_setup(test_cursor, setup),
        cmocka_unit_test_setup(test_cursor_every_us, setup),
        cmocka_unit_test(test_previews),
        cmocka_unit_test_setup(test_refcount, setup),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
