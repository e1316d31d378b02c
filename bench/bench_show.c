/* bench/bench_show.c - the show model's costs, in process (the show issue's
 * performance section), and the show files the hub scenarios play.
 *
 *   bench_show [render] [--quick] [--seed N] [--limit S]
 *   bench_show gen --patch FILE --show FILE [--name NAME] [--universes N]
 *                  [--first-universe U] [--fixtures N] [--duration-s S]
 *                  [--cues N] [--effects N] [--seed N]
 *   bench_show hash --patch FILE --show FILE --ticks N [--fps F] [--first-tick K | --all]
 *
 * render (the default) builds everything in memory from a seeded PRNG:
 *
 * - a patch of 64 universes x 32 fixtures x 16 channels (every slot used;
 *   roles red green blue white amber uv dimmer strobe pan pan_fine tilt
 *   tilt_fine zoom focus gobo generic) and 8 POIs;
 * - a 10-minute show of 2,000 cues (random fixture groups and values,
 *   fades 0..5 s, step / linear / ease_in_out, one in ten with a POI) and
 *   200 effects (the five kinds in turn, 2..60 s, random parameters);
 * - hub_show_compile of it, timed (median and max of several);
 * - playback: the output thread's path, hub_player at 60 fps on a fake
 *   clock, one hub_player_tick per tick (all 64 universes rendered with the
 *   player's cursor) over 60 s of show time from 4:30 (quick: 10 s); every
 *   60th tick is compared with a cursor-less render (must be equal);
 * - random access: as many frames at random show times, each universe
 *   rendered without a cursor (a binary search per channel: jumps, the
 *   frame API);
 * - load: a 3-minute show over 16 universes (600 cues, 60 effects) as JSON
 *   text, hub_show_parse + hub_show_check (hashed fixture lookup, like the
 *   hub's patch) + hub_show_compile, timed end to end and per step;
 * - memory: a 10-minute show over 16 universes (2,000 cues, 200 effects):
 *   heap bytes in use (mallinfo2) before/after parsing it, compiling it and
 *   giving the program to a player (cursor + render buffers).
 * Per-frame times are exact percentiles (every frame kept, sorted).
 *
 * gen writes a patch file (DMX_FIXTURES_FILE form) and a show file
 * (canonical form, hub_show_render) with the same generator, for the hub
 * scenarios; fixtures start at --first-universe, and universe 1 is left to
 * the implicit demo fixture; both files are parsed back and checked.
 *
 * hash prints the show_playback_stream_hash the hub should report after
 * --ticks playback ticks of a transport started at show time 0, rate 1,
 * with the first rendered tick --first-tick (the hub's fold, replicated:
 * output/frameclock.c stream_fold), for the determinism scenario; --all
 * lists it after every tick count, for first ticks 0, 1 and 2.
 *
 * Each command prints one JSON object on stdout.
 */
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "cli.h"
#include "core/jbuf.h"
#include "core/mem.h"
#include "core/str.h"
#include "domains/dmx/patchfile.h"
#include "domains/dmx/roles.h"
#include "domains/show/player.h"
#include "domains/show/render.h"
#include "domains/show/showfile.h"

#define FIX_CH 16
#define NPOIS  8

static const int fix_roles[FIX_CH] = {
    HUB_ROLE_RED,   HUB_ROLE_GREEN,    HUB_ROLE_BLUE,   HUB_ROLE_WHITE,
    HUB_ROLE_AMBER, HUB_ROLE_UV,       HUB_ROLE_DIMMER, HUB_ROLE_STROBE,
    HUB_ROLE_PAN,   HUB_ROLE_PAN_FINE, HUB_ROLE_TILT,   HUB_ROLE_TILT_FINE,
    HUB_ROLE_ZOOM,  HUB_ROLE_FOCUS,    HUB_ROLE_GOBO,   HUB_ROLE_GENERIC};

/* ---- PRNG (splitmix64: seeded, the same show on every machine) ---------------- */

static uint64_t rng_state;

static uint64_t rnd(void)
{
    uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static int64_t rnd_in(int64_t lo, int64_t hi) /* lo..hi inclusive */
{
    return lo + (int64_t)(rnd() % (uint64_t)(hi - lo + 1));
}

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* ---- the patch ------------------------------------------------------------------ */

typedef struct patch {
    hub_patch_fixture_t *fx;
    size_t nfx;
    int first, nuni, per_uni;
    hub_patch_poi_t pois[NPOIS];
    const hub_patch_fixture_t **idx; /* open addressing by name */
    size_t idxcap;
} patch_t;

static void patch_build(patch_t *p, int first, int nuni, int per_uni)
{
    memset(p, 0, sizeof(*p));
    p->first = first;
    p->nuni = nuni;
    p->per_uni = per_uni;
    p->nfx = (size_t)nuni * (size_t)per_uni;
    p->fx = hub_calloc(p->nfx, sizeof(*p->fx));
    for (int u = 0; u < nuni; u++)
        for (int i = 0; i < per_uni; i++) {
            hub_patch_fixture_t *f = &p->fx[(size_t)u * (size_t)per_uni + (size_t)i];
            snprintf(f->name, sizeof(f->name), "u%d_f%d", first + u, i);
            f->universe = first + u;
            f->address = 1 + i * FIX_CH;
            f->nch = FIX_CH;
            for (int c = 0; c < FIX_CH; c++)
                f->roles[c] = (unsigned char)fix_roles[c];
        }
    for (int i = 0; i < NPOIS; i++) {
        snprintf(p->pois[i].name, sizeof(p->pois[i].name), "poi%d", i);
        p->pois[i].pan = (int)rnd_in(0, 255);
        p->pois[i].pan_fine = (int)rnd_in(0, 255);
        p->pois[i].tilt = (int)rnd_in(0, 255);
        p->pois[i].tilt_fine = 0;
    }
    for (p->idxcap = 64; p->idxcap < 2 * p->nfx; p->idxcap *= 2)
        ;
    p->idx = hub_calloc(p->idxcap, sizeof(*p->idx));
    for (size_t j = 0; j < p->nfx; j++) {
        size_t h = hub_hash_str(p->fx[j].name) & (p->idxcap - 1);
        while (p->idx[h])
            h = (h + 1) & (p->idxcap - 1);
        p->idx[h] = &p->fx[j];
    }
}

static void patch_free(patch_t *p)
{
    hub_free(p->fx);
    hub_free(p->idx);
}

static const hub_patch_fixture_t *patch_fixture(void *ud, const char *name)
{
    const patch_t *p = ud;
    size_t h = hub_hash_str(name) & (p->idxcap - 1);
    for (; p->idx[h]; h = (h + 1) & (p->idxcap - 1))
        if (strcmp(p->idx[h]->name, name) == 0)
            return p->idx[h];
    return NULL;
}

static const hub_patch_poi_t *patch_poi(void *ud, const char *name)
{
    const patch_t *p = ud;
    for (int i = 0; i < NPOIS; i++)
        if (strcmp(p->pois[i].name, name) == 0)
            return &p->pois[i];
    return NULL;
}

static hub_show_patch_t show_patch(patch_t *p)
{
    hub_show_patch_t sp = {patch_fixture, patch_poi, p};
    return sp;
}

/* The patch file's JSON; universes 1..first+nuni-1 (1 holds the demo). */
static void patch_json(const patch_t *p, hub_jbuf_t *b)
{
    hub_jbuf_open(b, '{');
    hub_jbuf_key(b, "universes");
    hub_jbuf_open(b, '[');
    for (int u = p->first < 1 ? p->first : 1; u < p->first + p->nuni; u++)
        hub_jbuf_int(b, u);
    hub_jbuf_close(b, ']');
    hub_jbuf_key(b, "fixtures");
    hub_jbuf_open(b, '[');
    for (size_t j = 0; j < p->nfx; j++) {
        const hub_patch_fixture_t *f = &p->fx[j];
        hub_jbuf_open(b, '{');
        hub_jbuf_key(b, "name");
        hub_jbuf_str(b, f->name);
        hub_jbuf_key(b, "universe");
        hub_jbuf_int(b, f->universe);
        hub_jbuf_key(b, "address");
        hub_jbuf_int(b, f->address);
        hub_jbuf_key(b, "channels");
        hub_jbuf_open(b, '[');
        for (int c = 0; c < f->nch; c++)
            hub_jbuf_str(b, hub_dmx_role_name(f->roles[c]));
        hub_jbuf_close(b, ']');
        hub_jbuf_close(b, '}');
    }
    hub_jbuf_close(b, ']');
    hub_jbuf_key(b, "pois");
    hub_jbuf_open(b, '[');
    for (int i = 0; i < NPOIS; i++) {
        hub_jbuf_open(b, '{');
        hub_jbuf_key(b, "name");
        hub_jbuf_str(b, p->pois[i].name);
        hub_jbuf_key(b, "pan");
        hub_jbuf_int(b, p->pois[i].pan);
        hub_jbuf_key(b, "pan_fine");
        hub_jbuf_int(b, p->pois[i].pan_fine);
        hub_jbuf_key(b, "tilt");
        hub_jbuf_int(b, p->pois[i].tilt);
        hub_jbuf_close(b, '}');
    }
    hub_jbuf_close(b, ']');
    hub_jbuf_close(b, '}');
}

/* ---- the show ------------------------------------------------------------------- */

typedef struct gen_cfg {
    int64_t duration_ms;
    size_t ncues, neffects;
} gen_cfg_t;

/* k distinct fixtures: half the time a run of one universe's fixtures (a
 * group, as a designer patches them), else picked across the patch. */
static hub_show_ident_t *pick_fixtures(const patch_t *p, size_t k, size_t *n)
{
    hub_show_ident_t *out;
    if (k > p->nfx)
        k = p->nfx;
    out = hub_calloc(k, sizeof(*out));
    if (rnd() & 1) {
        if (k > (size_t)p->per_uni)
            k = (size_t)p->per_uni;
        int u = (int)rnd_in(0, p->nuni - 1);
        size_t start = (size_t)rnd_in(0, p->per_uni - (int64_t)k);
        for (size_t j = 0; j < k; j++)
            strcpy(out[j], p->fx[(size_t)u * (size_t)p->per_uni + start + j].name);
    } else {
        /* Floyd's sample of k distinct indexes */
        size_t *chosen = hub_calloc(k, sizeof(*chosen)), m = 0;
        for (size_t j = p->nfx - k; j < p->nfx; j++) {
            size_t t = (size_t)rnd_in(0, (int64_t)j), dup = 0;
            for (size_t q = 0; q < m; q++)
                if (chosen[q] == t)
                    dup = 1;
            chosen[m++] = dup ? j : t;
        }
        for (size_t j = 0; j < k; j++)
            strcpy(out[j], p->fx[chosen[j]].name);
        hub_free(chosen);
    }
    *n = k;
    return out;
}

static int is_pan_tilt(int role)
{
    return role == HUB_ROLE_PAN || role == HUB_ROLE_PAN_FINE || role == HUB_ROLE_TILT ||
           role == HUB_ROLE_TILT_FINE;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

static void gen_show(hub_show_t *s, const char *name, const patch_t *p, const gen_cfg_t *g)
{
    int64_t *ts = hub_calloc(g->ncues + 1, sizeof(*ts));

    memset(s, 0, sizeof(*s));
    snprintf(s->name, sizeof(s->name), "%s", name);
    s->duration_ms = g->duration_ms;
    s->ncues = g->ncues;
    s->cues = hub_calloc(g->ncues + 1, sizeof(*s->cues));
    for (size_t j = 0; j < g->ncues; j++)
        ts[j] = rnd_in(0, g->duration_ms);
    qsort(ts, g->ncues, sizeof(*ts), cmp_i64); /* a cue sheet runs in time order */
    for (size_t j = 0; j < g->ncues; j++) {
        hub_show_cue_t *c = &s->cues[j];
        int poi = rnd_in(0, 9) == 0;
        size_t k = rnd_in(0, 3) == 0 ? (size_t)rnd_in(16, 64) : (size_t)rnd_in(1, 12);
        snprintf(c->id, sizeof(c->id), "c%zu", j);
        c->t_ms = ts[j];
        c->fixtures = pick_fixtures(p, k, &c->nfixtures);
        c->curve = (int)rnd_in(0, HUB_CURVE_COUNT - 1);
        c->fade_ms = rnd_in(0, 4) == 0 ? 0 : rnd_in(0, 5000);
        if (c->fade_ms > g->duration_ms)
            c->fade_ms = g->duration_ms;
        if (poi)
            snprintf(c->poi, sizeof(c->poi), "%s", p->pois[rnd_in(0, NPOIS - 1)].name);
        /* 1..6 distinct roles (0..3 with a POI, none of pan/tilt) */
        int want = poi ? (int)rnd_in(0, 3) : (int)rnd_in(1, 6), used[FIX_CH] = {0};
        c->values = hub_calloc((size_t)want + 1, sizeof(*c->values));
        for (int v = 0; v < want; v++) {
            int r;
            do
                r = (int)rnd_in(0, FIX_CH - 1);
            while (used[r] || (poi && is_pan_tilt(fix_roles[r])));
            used[r] = 1;
            c->values[c->nvalues].role = fix_roles[r];
            c->values[c->nvalues].value = (int)rnd_in(0, 255);
            c->nvalues++;
        }
    }
    hub_free(ts);
    s->neffects = g->neffects;
    s->effects = hub_calloc(g->neffects + 1, sizeof(*s->effects));
    for (size_t j = 0; j < g->neffects; j++) {
        hub_show_effect_t *e = &s->effects[j];
        static const int fx_roles[] = {HUB_ROLE_DIMMER, HUB_ROLE_RED,  HUB_ROLE_WHITE,
                                       HUB_ROLE_STROBE, HUB_ROLE_ZOOM, HUB_ROLE_UV,
                                       HUB_ROLE_AMBER,  HUB_ROLE_PAN,  HUB_ROLE_TILT};
        snprintf(e->id, sizeof(e->id), "e%zu", j);
        e->effect = (int)(j % HUB_FX_COUNT);
        e->dur_ms = rnd_in(2000, 60000);
        if (e->dur_ms > g->duration_ms)
            e->dur_ms = g->duration_ms;
        e->t_ms = rnd_in(0, g->duration_ms - e->dur_ms);
        e->fixtures = pick_fixtures(p, (size_t)rnd_in(4, 48), &e->nfixtures);
        hub_show_params_default(e->effect, &e->params);
        e->params.period_ms = rnd_in(100, 4000);
        e->params.max = (int)rnd_in(128, 255);
        if (e->effect != HUB_FX_RAINBOW) {
            e->params.role = fx_roles[rnd_in(0, sizeof(fx_roles) / sizeof(fx_roles[0]) - 1)];
            e->params.min = (int)rnd_in(0, 64);
        }
        if (e->effect == HUB_FX_STROBE)
            e->params.duty = (double)rnd_in(1, 9) / 10.0;
        if (e->effect == HUB_FX_PULSE || e->effect == HUB_FX_RAINBOW || e->effect == HUB_FX_SINE)
            e->params.spread = (double)rnd_in(0, 4) / 4.0;
    }
}

static char *show_text(const hub_show_t *s, size_t *len)
{
    hub_jbuf_t b;
    hub_jbuf_init(&b);
    hub_show_render(&b, s);
    return hub_jbuf_take(&b, len);
}

/* ---- statistics ----------------------------------------------------------------- */

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

/* Exact percentiles (nearest rank) of ns samples, in µs. */
static json_t *pct_json(uint64_t *v, size_t n)
{
    double sum = 0;
    qsort(v, n, sizeof(*v), cmp_u64);
    for (size_t i = 0; i < n; i++)
        sum += (double)v[i];
#define PCT(q) ((double)v[(size_t)((q) * (double)(n - 1) + 0.5)] / 1000.0)
    return json_pack("{s:I,s:f,s:f,s:f,s:f,s:f,s:f}", "n", (json_int_t)n, "mean_us",
                     sum / (double)n / 1000.0, "p50_us", PCT(0.5), "p99_us", PCT(0.99), "p999_us",
                     PCT(0.999), "max_us", (double)v[n - 1] / 1000.0, "min_us",
                     (double)v[0] / 1000.0);
#undef PCT
}

static double median_ms(uint64_t *v, size_t n)
{
    qsort(v, n, sizeof(*v), cmp_u64);
    return (double)v[n / 2] / 1e6;
}

static size_t heap_used(void)
{
    struct mallinfo2 mi = mallinfo2();
    return mi.uordblks + mi.hblkhd;
}

/* ---- render --------------------------------------------------------------------- */

static int cmd_render(int argc, char **argv)
{
    int quick = 0;
    double seed = 1, limit = 0;
    for (int i = 0; i < argc; i++) {
        if (!strcmp(argv[i], "--quick"))
            quick = 1;
        else if (!strcmp(argv[i], "--seed") && i + 1 < argc &&
                 !bench_parse_num(argv[++i], 0, 1e15, &seed))
            ;
        else if (!strcmp(argv[i], "--limit") && i + 1 < argc &&
                 !bench_parse_num(argv[++i], 1, 86400, &limit))
            ;
        else {
            fprintf(stderr, "usage: bench_show [render] [--quick] [--seed N] [--limit S]\n");
            return 2;
        }
    }
    if (limit > 0)
        bench_wall_limit("bench_show", limit);
    rng_state = (uint64_t)seed;

    const int fps = 60, nuni = 64, per_uni = 32;
    const double window_s = quick ? 10 : 60, from_s = 270;
    const int compile_runs = quick ? 3 : 7, load_runs = quick ? 5 : 21;
    json_t *out = json_object();
    patch_t P;
    hub_show_t S;
    patch_build(&P, 1, nuni, per_uni);
    hub_show_patch_t sp = show_patch(&P);
    gen_cfg_t g = {600000, 2000, 200};
    gen_show(&S, "bench", &P, &g);
    size_t textlen;
    hub_free(show_text(&S, &textlen));

    /* compile */
    uint64_t ct[16];
    hub_show_prog_t *prog = NULL;
    size_t skipped = 0;
    for (int r = 0; r < compile_runs; r++) {
        uint64_t t0 = now_ns();
        hub_show_prog_t *pr = hub_show_compile(&S, &sp, &skipped);
        ct[r] = now_ns() - t0;
        hub_show_prog_unref(prog);
        prog = pr;
    }
    double c_max = 0;
    for (int r = 0; r < compile_runs; r++)
        c_max = (double)ct[r] / 1e6 > c_max ? (double)ct[r] / 1e6 : c_max;
    size_t nprog_unis;
    hub_show_prog_universes(prog, &nprog_unis);
    json_object_set_new(out, "patch",
                        json_pack("{s:i,s:I,s:i}", "universes", nuni, "fixtures", (json_int_t)P.nfx,
                                  "channels", nuni * per_uni * FIX_CH));
    json_object_set_new(
        out, "show",
        json_pack("{s:I,s:I,s:I,s:I,s:I,s:I,s:I}", "duration_ms", (json_int_t)S.duration_ms, "cues",
                  (json_int_t)S.ncues, "effects", (json_int_t)S.neffects, "json_bytes",
                  (json_int_t)textlen, "keyframes", (json_int_t)hub_show_prog_keyframes(prog),
                  "universes", (json_int_t)nprog_unis, "skipped", (json_int_t)skipped));
    json_object_set_new(out, "compile",
                        json_pack("{s:i,s:f,s:f}", "runs", compile_runs, "median_ms",
                                  median_ms(ct, (size_t)compile_runs), "max_ms", c_max));

    /* playback: the player's tick on a fake clock */
    size_t nframes = (size_t)(window_s * fps);
    uint64_t *ft = hub_calloc(nframes, sizeof(*ft));
    uint8_t ref[HUB_SHOW_SLOTS], refset[HUB_SHOW_SLOTS];
    uint64_t mism = 0, checked = 0, sum = 0;
    hub_player_t *pl = hub_player_new(fps);
    hub_player_set_prog(pl, hub_show_prog_ref(prog));
    hub_transport_t tr = {HUB_TRANSPORT_PLAYING, (int64_t)(from_s * 1e6), 1000000, HUB_RATE_ONE};
    hub_player_set_transport(pl, &tr);
    for (size_t k = 0; k < nframes; k++) {
        uint64_t now = hub_transport_tick_mono(&tr, k, fps), late, sk;
        uint64_t t0 = now_ns();
        int did = hub_player_tick(pl, now, &late, &sk);
        ft[k] = now_ns() - t0;
        if (!did || sk) {
            fprintf(stderr, "bench_show: tick %zu not rendered\n", k);
            mism++;
        }
        if (k % 60 == 0) {
            int64_t t = hub_transport_tick_time(&tr, k, fps, hub_show_prog_duration_us(prog));
            for (int u = 1; u <= nuni; u++) {
                const uint8_t *vals, *set;
                hub_show_render_universe(prog, NULL, u, t, ref, refset);
                if (!hub_player_layer(pl, u, &vals, &set) || memcmp(vals, ref, sizeof(ref)) ||
                    memcmp(set, refset, sizeof(refset)))
                    mism++;
                checked++;
            }
        }
    }
    uint64_t first_ns = ft[0]; /* the jump: every track's cursor starts cold */
    json_t *pb = pct_json(ft, nframes);
    json_object_set_new(pb, "first_us", json_real((double)first_ns / 1000.0));
    json_object_set_new(pb, "from_s", json_real(from_s));
    json_object_set_new(pb, "window_s", json_real(window_s));
    json_object_set_new(pb, "fps", json_integer(fps));
    json_object_set_new(pb, "universes", json_integer(nuni));
    json_object_set_new(pb, "checked_universes", json_integer((json_int_t)checked));
    json_object_set_new(pb, "mismatches", json_integer((json_int_t)mism));
    json_object_set_new(out, "playback", pb);
    hub_player_free(pl);

    /* random access: no cursor */
    uint8_t o[HUB_SHOW_SLOTS], st[HUB_SHOW_SLOTS];
    for (size_t k = 0; k < nframes; k++) {
        int64_t t = rnd_in(0, hub_show_prog_duration_us(prog));
        uint64_t t0 = now_ns();
        for (int u = 1; u <= nuni; u++) {
            hub_show_render_universe(prog, NULL, u, t, o, st);
            sum += o[(k + (size_t)u) % HUB_SHOW_SLOTS];
        }
        ft[k] = now_ns() - t0;
    }
    json_t *ra = pct_json(ft, nframes);
    json_object_set_new(ra, "universes", json_integer(nuni));
    json_object_set_new(out, "random", ra);
    hub_free(ft);
    hub_show_prog_unref(prog);
    hub_show_free(&S);
    patch_free(&P);

    /* load: a 3-minute show over 16 universes, from its JSON text */
    patch_build(&P, 1, 16, per_uni);
    sp = show_patch(&P);
    gen_cfg_t g3 = {180000, 600, 60};
    gen_show(&S, "three_minutes", &P, &g3);
    char *text = show_text(&S, &textlen);
    hub_show_free(&S);
    uint64_t lt[64], lp[64], lc[64], lk[64];
    char err[512];
    for (int r = 0; r < load_runs; r++) {
        hub_show_t s3;
        uint64_t t0 = now_ns();
        if (hub_show_parse(text, textlen, "three_minutes.cue.json", &s3, err, sizeof(err)) != 0) {
            fprintf(stderr, "bench_show: parse: %s\n", err);
            return 1;
        }
        uint64_t t1 = now_ns();
        if (hub_show_check(&s3, "three_minutes.cue.json", &sp, err, sizeof(err), NULL, 0) != 0) {
            fprintf(stderr, "bench_show: check: %s\n", err);
            return 1;
        }
        uint64_t t2 = now_ns();
        hub_show_prog_t *pr = hub_show_compile(&s3, &sp, NULL);
        uint64_t t3 = now_ns();
        lt[r] = t3 - t0;
        lp[r] = t1 - t0;
        lk[r] = t2 - t1;
        lc[r] = t3 - t2;
        hub_show_prog_unref(pr);
        hub_show_free(&s3);
    }
    double l_max = 0;
    for (int r = 0; r < load_runs; r++)
        l_max = (double)lt[r] / 1e6 > l_max ? (double)lt[r] / 1e6 : l_max;
    json_object_set_new(out, "load_3min",
                        json_pack("{s:I,s:I,s:I,s:i,s:i,s:f,s:f,s:f,s:f,s:f}", "json_bytes",
                                  (json_int_t)textlen, "cues", (json_int_t)g3.ncues, "effects",
                                  (json_int_t)g3.neffects, "universes", 16, "runs", load_runs,
                                  "median_ms", median_ms(lt, (size_t)load_runs), "max_ms", l_max,
                                  "parse_ms", median_ms(lp, (size_t)load_runs), "check_ms",
                                  median_ms(lk, (size_t)load_runs), "compile_ms",
                                  median_ms(lc, (size_t)load_runs)));
    hub_free(text);

    /* memory: a 10-minute show over the same 16 universes */
    gen_show(&S, "ten_minutes", &P, &g);
    text = show_text(&S, &textlen);
    hub_show_free(&S);
    malloc_trim(0);
    size_t m0 = heap_used();
    hub_show_t s10;
    if (hub_show_parse(text, textlen, "ten_minutes.cue.json", &s10, err, sizeof(err)) != 0) {
        fprintf(stderr, "bench_show: parse: %s\n", err);
        return 1;
    }
    size_t m1 = heap_used();
    prog = hub_show_compile(&s10, &sp, NULL);
    size_t m2 = heap_used();
    pl = hub_player_new(fps);
    hub_player_set_prog(pl, hub_show_prog_ref(prog));
    size_t m3 = heap_used();
    json_object_set_new(
        out, "memory_10min_16u",
        json_pack("{s:I,s:I,s:I,s:I,s:f,s:f,s:f,s:f}", "json_bytes", (json_int_t)textlen, "cues",
                  (json_int_t)s10.ncues, "effects", (json_int_t)s10.neffects, "keyframes",
                  (json_int_t)hub_show_prog_keyframes(prog), "show_kb", (double)(m1 - m0) / 1024.0,
                  "program_kb", (double)(m2 - m1) / 1024.0, "player_kb", (double)(m3 - m2) / 1024.0,
                  "total_kb", (double)(m3 - m0) / 1024.0));
    json_object_set_new(out, "memory_method", json_string("mallinfo2 uordblks+hblkhd deltas"));
    hub_player_free(pl);
    hub_show_prog_unref(prog);
    hub_show_free(&s10);
    hub_free(text);
    patch_free(&P);

    json_object_set_new(out, "seed", json_integer((json_int_t)seed));
    json_object_set_new(out, "quick", json_boolean(quick));
    json_object_set_new(out, "checksum", json_integer((json_int_t)(sum & 0xffff)));
    json_object_set_new(out, "ok", json_boolean(mism == 0));
    char *s = json_dumps(out, JSON_COMPACT);
    printf("%s\n", s);
    free(s);
    json_decref(out);
    return mism == 0 ? 0 : 1;
}

/* ---- gen ------------------------------------------------------------------------ */

static int write_file(const char *path, const char *text, size_t len)
{
    FILE *f = fopen(path, "w");
    if (!f || fwrite(text, 1, len, f) != len || fputc('\n', f) == EOF || fclose(f) != 0) {
        fprintf(stderr, "bench_show: cannot write %s\n", path);
        return -1;
    }
    return 0;
}

static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "r");
    char *buf;
    long n;
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    n = ftell(f);
    fseek(f, 0, SEEK_SET);
    buf = hub_malloc((size_t)n + 1);
    *len = fread(buf, 1, (size_t)n, f);
    buf[*len] = 0;
    fclose(f);
    return buf;
}

typedef struct file_patch {
    hub_patch_t p;
} file_patch_t;

static const hub_patch_fixture_t *fp_fixture(void *ud, const char *name)
{
    return hub_patch_fixture(&((file_patch_t *)ud)->p, name);
}

static const hub_patch_poi_t *fp_poi(void *ud, const char *name)
{
    const hub_patch_t *p = &((file_patch_t *)ud)->p;
    for (size_t i = 0; i < p->npois; i++)
        if (strcmp(p->pois[i].name, name) == 0)
            return &p->pois[i];
    return NULL;
}

/* Both files parsed back as the hub would (demo_universe 1). */
static int load_pair(const char *patch_path, const char *show_path, file_patch_t *fp, hub_show_t *s)
{
    char err[512];
    size_t len;
    char *t = read_file(patch_path, &len);
    if (!t || hub_patch_parse(t, len, patch_path, 1, &fp->p, err, sizeof(err)) != 0) {
        fprintf(stderr, "bench_show: patch %s: %s\n", patch_path, t ? err : "unreadable");
        hub_free(t);
        return -1;
    }
    hub_free(t);
    t = read_file(show_path, &len);
    if (!t || hub_show_parse(t, len, show_path, s, err, sizeof(err)) != 0) {
        fprintf(stderr, "bench_show: show %s: %s\n", show_path, t ? err : "unreadable");
        hub_free(t);
        return -1;
    }
    hub_free(t);
    hub_show_patch_t sp = {fp_fixture, fp_poi, fp};
    if (hub_show_check(s, show_path, &sp, err, sizeof(err), NULL, 0) != 0) {
        fprintf(stderr, "bench_show: check: %s\n", err);
        return -1;
    }
    return 0;
}

static int cmd_gen(int argc, char **argv)
{
    const char *patch_path = NULL, *show_path = NULL, *name = "bench";
    double nuni = 15, first = 2, per = 32, dur = 600, cues = 2000, effects = 200, seed = 1;
    for (int i = 0; i < argc; i++) {
        static const struct {
            const char *flag;
            double lo, hi;
        } nums[] = {{"--universes", 1, 1000}, {"--first-universe", 1, 60000},
                    {"--fixtures", 1, 32},    {"--duration-s", 1, 86400},
                    {"--cues", 0, 90000},     {"--effects", 0, 9000},
                    {"--seed", 0, 1e15}};
        double *dst[] = {&nuni, &first, &per, &dur, &cues, &effects, &seed};
        int ok = 0;
        if (i + 1 < argc && !strcmp(argv[i], "--patch"))
            patch_path = argv[++i], ok = 1;
        else if (i + 1 < argc && !strcmp(argv[i], "--show"))
            show_path = argv[++i], ok = 1;
        else if (i + 1 < argc && !strcmp(argv[i], "--name"))
            name = argv[++i], ok = 1;
        for (size_t j = 0; !ok && j < sizeof(nums) / sizeof(nums[0]); j++)
            if (!strcmp(argv[i], nums[j].flag) && i + 1 < argc)
                ok = bench_parse_num(argv[++i], nums[j].lo, nums[j].hi, dst[j]) == 0;
        if (!ok) {
            fprintf(stderr, "bench_show gen: bad argument %s\n", argv[i]);
            return 2;
        }
    }
    if (!patch_path || !show_path) {
        fprintf(stderr, "usage: bench_show gen --patch FILE --show FILE [--name NAME] "
                        "[--universes N] [--first-universe U] [--fixtures N] [--duration-s S] "
                        "[--cues N] [--effects N] [--seed N]\n");
        return 2;
    }
    rng_state = (uint64_t)seed;
    patch_t P;
    hub_show_t S;
    patch_build(&P, (int)first, (int)nuni, (int)per);
    gen_cfg_t g = {(int64_t)(dur * 1000), (size_t)cues, (size_t)effects};
    gen_show(&S, name, &P, &g);
    hub_jbuf_t b;
    hub_jbuf_init(&b);
    patch_json(&P, &b);
    size_t plen = b.len, slen;
    int rc = write_file(patch_path, b.p, b.len);
    hub_jbuf_free(&b);
    char *text = show_text(&S, &slen);
    if (rc == 0)
        rc = write_file(show_path, text, slen);
    hub_free(text);
    hub_show_free(&S);
    patch_free(&P);
    if (rc != 0)
        return 1;
    file_patch_t fp = {0};
    hub_show_t back;
    if (load_pair(patch_path, show_path, &fp, &back) != 0)
        return 1;
    printf("{\"ok\":true,\"patch_bytes\":%zu,\"show_bytes\":%zu,\"fixtures\":%zu,"
           "\"universes\":%zu,\"cues\":%zu,\"effects\":%zu,\"duration_ms\":%lld}\n",
           plen, slen, fp.p.nfixtures, fp.p.nuniverses, back.ncues, back.neffects,
           (long long)back.duration_ms);
    hub_show_free(&back);
    hub_patch_free(&fp.p);
    return 0;
}

/* ---- hash ----------------------------------------------------------------------- */

/* What output/frameclock.c's stream_fold computes over a playback from
 * show time 0 at rate 1: per tick the show time (int64), then per patch
 * universe in ascending order that the program touches, its 512 values and
 * 512 set flags; hub_hash_seeded chained from 0; 52 bits. With --all, the
 * hash after every tick count 1..--ticks for streams whose first rendered
 * tick is 0, 1 and 2 (a hand-over later than a period starts at a later
 * tick); else the hash after --ticks ticks from --first-tick. */
static int cmd_hash(int argc, char **argv)
{
    const char *patch_path = NULL, *show_path = NULL;
    double ticks = -1, fps = 60, first = 0;
    int all = 0;
    for (int i = 0; i < argc; i++) {
        if (!strcmp(argv[i], "--patch") && i + 1 < argc)
            patch_path = argv[++i];
        else if (!strcmp(argv[i], "--show") && i + 1 < argc)
            show_path = argv[++i];
        else if (!strcmp(argv[i], "--all"))
            all = 1;
        else if (!strcmp(argv[i], "--ticks") && i + 1 < argc &&
                 !bench_parse_num(argv[++i], 1, 1e7, &ticks))
            ;
        else if (!strcmp(argv[i], "--fps") && i + 1 < argc &&
                 !bench_parse_num(argv[++i], 1, 240, &fps))
            ;
        else if (!strcmp(argv[i], "--first-tick") && i + 1 < argc &&
                 !bench_parse_num(argv[++i], 0, 1e7, &first))
            ;
        else {
            fprintf(stderr, "usage: bench_show hash --patch FILE --show FILE --ticks N "
                            "[--fps F] [--first-tick K | --all]\n");
            return 2;
        }
    }
    if (!patch_path || !show_path || ticks < 1) {
        fprintf(stderr, "bench_show hash: --patch, --show and --ticks are required\n");
        return 2;
    }
    file_patch_t fp = {0};
    hub_show_t s;
    if (load_pair(patch_path, show_path, &fp, &s) != 0)
        return 1;
    hub_show_patch_t sp = {fp_fixture, fp_poi, &fp};
    hub_show_prog_t *prog = hub_show_compile(&s, &sp, NULL);
    hub_transport_t tr = {HUB_TRANSPORT_PLAYING, 0, 0, HUB_RATE_ONE};
    int64_t dur = hub_show_prog_duration_us(prog);
    uint8_t buf[2 * HUB_SHOW_SLOTS];
    const uint64_t mask = (1ULL << 52) - 1;
    int nchains = all ? 3 : 1;
    uint64_t h[3] = {0, 0, 0}, start[3] = {0, 1, 2};
    json_t *out = json_object(), *lists[3];
    if (!all)
        start[0] = (uint64_t)first;
    /* the tick that first shows the end */
    uint64_t end_k = 0;
    while (hub_transport_tick_time(&tr, end_k, (int)fps, dur) < dur)
        end_k++;
    for (int c = 0; c < nchains; c++)
        lists[c] = json_array();
    for (uint64_t k = start[0]; k < start[nchains - 1] + (uint64_t)ticks; k++) {
        int64_t t = hub_transport_tick_time(&tr, k, (int)fps, dur);
        uint64_t fold[3];
        for (int c = 0; c < nchains; c++)
            fold[c] = hub_hash_seeded(h[c], &t, sizeof(t));
        for (size_t u = 0; u < fp.p.nuniverses; u++) {
            if (!hub_show_render_universe(prog, NULL, fp.p.universes[u], t, buf,
                                          buf + HUB_SHOW_SLOTS))
                continue;
            for (int c = 0; c < nchains; c++)
                fold[c] = hub_hash_seeded(fold[c], buf, sizeof(buf));
        }
        for (int c = 0; c < nchains; c++)
            if (k >= start[c] && k < start[c] + (uint64_t)ticks) {
                h[c] = fold[c];
                json_array_append_new(lists[c], json_integer((json_int_t)(h[c] & mask)));
            }
    }
    json_object_set_new(out, "ok", json_true());
    json_object_set_new(out, "fps", json_integer((json_int_t)fps));
    json_object_set_new(out, "end_tick", json_integer((json_int_t)end_k));
    json_object_set_new(out, "ticks", json_integer((json_int_t)ticks));
    if (all) {
        json_t *a = json_object();
        for (int c = 0; c < nchains; c++) {
            char key[8];
            snprintf(key, sizeof(key), "%d", (int)start[c]);
            json_object_set_new(a, key, lists[c]);
        }
        json_object_set_new(out, "all", a);
    } else {
        json_object_set_new(out, "first_tick", json_integer((json_int_t)first));
        json_object_set_new(out, "hash", json_integer((json_int_t)(h[0] & mask)));
        json_decref(lists[0]);
    }
    char *txt = json_dumps(out, JSON_COMPACT);
    printf("%s\n", txt);
    free(txt);
    json_decref(out);
    hub_show_prog_unref(prog);
    hub_show_free(&s);
    hub_patch_free(&fp.p);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc >= 2 && !strcmp(argv[1], "gen"))
        return cmd_gen(argc - 2, argv + 2);
    if (argc >= 2 && !strcmp(argv[1], "hash"))
        return cmd_hash(argc - 2, argv + 2);
    if (argc >= 2 && !strcmp(argv[1], "render"))
        return cmd_render(argc - 2, argv + 2);
    return cmd_render(argc - 1, argv + 1);
}
