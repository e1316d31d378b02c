/* domains/show/render.c - programs rendered, cursors and reference counts.
 *
 * A program is a handful of flat arrays (the "layout", render_int.h),
 * built by render_compile.c.
 *
 * A render zeroes the universe, evaluates each track at t, then lays the
 * active effects over it in file order (a later one wins). Without a cursor
 * each track is a binary search. A cursor keeps per track the keyframe
 * count, the value and the time until which that value holds (the next
 * keyframe once a fade is done, t + 1 during one), so a forward render of
 * a settled channel reads one 16-byte entry. A render earlier than the
 * universe's previous one re-derives every track from the keyframes, so
 * the bytes never depend on the cursor.
 *
 * Threading: compile on any thread; a program is immutable afterwards and
 * shared by an atomic reference count. A cursor is one thread's.
 */
#include "domains/show/render.h"

#include <math.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "core/mem.h"
#include "domains/dmx/roles.h"
#include "domains/show/render_int.h"

#define TWO_PI       6.283185307179586476925
#define LINEAR_STEPS 4 /* cursor steps tried before a binary search */

typedef struct cur_track {
    int64_t until_us; /* val holds from the last render's t up to here */
    uint32_t idx;     /* keyframes with t_us <= the last render's t */
    uint16_t slot;
    uint8_t val;
} cur_track_t;

struct hub_show_cursor {
    const hub_show_prog_t *prog;
    cur_track_t *tracks;
    int64_t *last_us; /* per universe: t of its last render */
};

/* ---- values ------------------------------------------------------------------------ */

static uint8_t round_byte(double v)
{
    v = floor(v + 0.5);
    if (!(v >= 0)) /* also NaN */
        return 0;
    return v > 255 ? 255 : (uint8_t)v;
}

double hub_show_curve(int curve, double x)
{
    if (curve == HUB_CURVE_STEP)
        return 1;
    if (!(x >= 0))
        x = 0;
    else if (x > 1)
        x = 1;
    if (curve == HUB_CURVE_EASE_IN_OUT)
        return 3 * x * x - 2 * x * x * x;
    return x; /* linear, and what an unknown curve falls back to */
}

static int kf_settled(const kf_t *k, int64_t t)
{
    return k->curve == HUB_CURVE_STEP || t - k->t_us >= (int64_t)k->fade_ms * 1000;
}

/* The value of a channel at t >= k->t_us while k is its last keyframe. */
uint8_t render__kf_eval(const kf_t *k, int64_t t)
{
    double x, v;

    if (kf_settled(k, t))
        return k->to;
    x = (double)(t - k->t_us) / ((double)k->fade_ms * 1000.0);
    v = k->from + (k->to - k->from) * hub_show_curve(k->curve, x);
    return round_byte(v);
}

/* How many of k[0..n) have t_us <= t. */
static uint32_t kf_count(const kf_t *k, uint32_t n, int64_t t)
{
    uint32_t lo = 0, hi = n;

    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (k[mid].t_us <= t)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static int fx_drives(const hub_show_effect_t *e, int role)
{
    if (e->effect == HUB_FX_RAINBOW)
        return role == HUB_ROLE_RED || role == HUB_ROLE_GREEN || role == HUB_ROLE_BLUE;
    return e->effect >= 0 && e->effect < HUB_FX_COUNT && role == e->params.role;
}

static double frac(double x)
{
    return x - floor(x);
}

/* HSV(h, 1, 1): the component of role, 0..1. */
static double hue_component(double h, int role)
{
    double h6 = h * 6, f;
    int sector = (int)h6;
    double rgb[3];

    if (sector < 0)
        sector = 0;
    else if (sector > 5)
        sector = 5;
    f = h6 - sector;
    switch (sector) {
    case 0: rgb[0] = 1, rgb[1] = f, rgb[2] = 0; break;
    case 1: rgb[0] = 1 - f, rgb[1] = 1, rgb[2] = 0; break;
    case 2: rgb[0] = 0, rgb[1] = 1, rgb[2] = f; break;
    case 3: rgb[0] = 0, rgb[1] = 1 - f, rgb[2] = 1; break;
    case 4: rgb[0] = f, rgb[1] = 0, rgb[2] = 1; break;
    default: rgb[0] = 1, rgb[1] = 0, rgb[2] = 1 - f; break;
    }
    return rgb[role == HUB_ROLE_RED ? 0 : role == HUB_ROLE_GREEN ? 1 : 2];
}

/* The formulas of render.h; role is one e drives. */
static uint8_t fx_value(const hub_show_effect_t *e, double tau_ms, size_t i, size_t n, int role)
{
    const hub_show_params_t *pp = &e->params;
    double cycles = tau_ms / (double)(pp->period_ms > 0 ? pp->period_ms : 1);
    double ph = frac(cycles + (n > 0 ? (double)i * pp->spread / (double)n : 0));
    int64_t step, nn = n > 0 ? (int64_t)n : 1;

    switch (e->effect) {
    case HUB_FX_PULSE: return round_byte(pp->max - (double)(pp->max - pp->min) * ph);
    case HUB_FX_CHASE:
        step = (int64_t)floor(cycles) % nn;
        if (step < 0)
            step += nn;
        return (uint8_t)(step == (int64_t)i ? pp->max : pp->min);
    case HUB_FX_RAINBOW: return round_byte(hue_component(ph, role) * pp->max);
    case HUB_FX_STROBE: return (uint8_t)(frac(cycles) < pp->duty ? pp->max : pp->min);
    default: /* sine */
        return round_byte(pp->min + (double)(pp->max - pp->min) * (1 - cos(TWO_PI * ph)) / 2);
    }
}

int hub_show_effect_value(const hub_show_effect_t *e, double tau_ms, size_t i, size_t n, int role)
{
    if (!fx_drives(e, role))
        return -1;
    return fx_value(e, tau_ms, i, n, role);
}

/* ---- programs -------------------------------------------------------------------- */

static int cmp_int(const void *a, const void *b)
{
    int x = *(const int *)a, y = *(const int *)b;
    return (x > y) - (x < y);
}

long render__uni_index(const int *universes, size_t n, int universe)
{
    const int *hit = bsearch(&universe, universes, n, sizeof(*universes), cmp_int);
    return hit ? (long)(hit - universes) : -1;
}
static void layout_free(layout_t *l)
{
    hub_free(l->universes);
    hub_free(l->unis);
    hub_free(l->tracks);
    hub_free(l->kfs);
    hub_free(l->fxs);
    hub_free(l->runs);
    hub_free(l->ents);
}

hub_show_prog_t *hub_show_prog_ref(hub_show_prog_t *p)
{
    atomic_fetch_add_explicit(&p->refs, 1, memory_order_relaxed);
    return p;
}

void hub_show_prog_unref(hub_show_prog_t *p)
{
    if (p == NULL || atomic_fetch_sub_explicit(&p->refs, 1, memory_order_acq_rel) != 1)
        return;
    layout_free(&p->l);
    hub_free(p);
}

int64_t hub_show_prog_duration_us(const hub_show_prog_t *p)
{
    return p->duration_us;
}

const int *hub_show_prog_universes(const hub_show_prog_t *p, size_t *n)
{
    *n = p->l.nunis;
    return p->l.universes;
}

size_t hub_show_prog_keyframes(const hub_show_prog_t *p)
{
    return p->l.nkfs + p->l.nents;
}

/* ---- rendering --------------------------------------------------------------------- */

static uint8_t track_value(const layout_t *l, const track_t *tk, int64_t t)
{
    const kf_t *k = l->kfs + tk->kf_off;
    uint32_t c = kf_count(k, tk->nkf, t);

    return c ? render__kf_eval(&k[c - 1], t) : 0;
}

/* Re-derive ct at t from the keyframes (any direction), and what holds. */
static void cursor_step(const layout_t *l, const track_t *tk, cur_track_t *ct, int64_t t)
{
    const kf_t *k = l->kfs + tk->kf_off;
    uint32_t idx = ct->idx, n = tk->nkf;

    if (idx > n || (idx > 0 && k[idx - 1].t_us > t)) {
        idx = kf_count(k, n, t);
    } else {
        for (int steps = 0; idx < n && k[idx].t_us <= t; steps++) {
            if (steps == LINEAR_STEPS) {
                idx += kf_count(k + idx, n - idx, t);
                break;
            }
            idx++;
        }
    }
    ct->idx = idx;
    ct->until_us = idx < n ? k[idx].t_us : INT64_MAX;
    if (idx == 0) {
        ct->val = 0;
        return;
    }
    ct->val = render__kf_eval(&k[idx - 1], t);
    if (!kf_settled(&k[idx - 1], t))
        ct->until_us = t + 1; /* fading: good for this t only */
}

static void render_tracks(const layout_t *l, const uni_t *u, int64_t t, uint8_t *out)
{
    const track_t *tk = l->tracks + u->track_off;

    for (uint32_t j = 0; j < u->ntracks; j++)
        out[tk[j].slot] = track_value(l, &tk[j], t);
}

static void render_tracks_cursor(const layout_t *l, hub_show_cursor_t *c, size_t ui, int64_t t,
                                 uint8_t *out)
{
    const uni_t *u = &l->unis[ui];
    const track_t *tk = l->tracks + u->track_off;
    cur_track_t *ct = c->tracks + u->track_off;
    /* A held value is known good from its render's t onwards only. */
    int back = t < c->last_us[ui];

    c->last_us[ui] = t;
    for (uint32_t j = 0; j < u->ntracks; j++) {
        if (back || t >= ct[j].until_us)
            cursor_step(l, &tk[j], &ct[j], t);
        out[ct[j].slot] = ct[j].val;
    }
}

/* Lay the effects active at t over out (set too when not NULL); 1 if any. */
static int render_effects(const layout_t *l, const uni_t *u, int64_t t, uint8_t *out, uint8_t *set)
{
    const fx_run_t *run = l->runs + u->run_off;
    int any = 0;

    for (uint32_t r = 0; r < u->nruns; r++) {
        const fx_t *x = &l->fxs[run[r].fx];
        const fx_ent_t *e = l->ents + run[r].off;
        double tau_ms;

        if (t < x->start_us || t >= x->end_us)
            continue;
        tau_ms = (double)(t - x->start_us) / 1000.0;
        for (uint32_t j = 0; j < run[r].n; j++) {
            out[e[j].slot] = fx_value(&x->def, tau_ms, e[j].i, x->def.nfixtures, e[j].role);
            if (set)
                set[e[j].slot] = 1;
        }
        any = 1;
    }
    return any;
}

int hub_show_render_universe(const hub_show_prog_t *p, hub_show_cursor_t *cursor, int universe,
                             int64_t t_us, uint8_t out[HUB_SHOW_SLOTS], uint8_t set[HUB_SHOW_SLOTS])
{
    const layout_t *l = &p->l;
    long ui = render__uni_index(l->universes, l->nunis, universe);

    memset(out, 0, HUB_SHOW_SLOTS);
    if (ui < 0) {
        memset(set, 0, HUB_SHOW_SLOTS);
        return 0;
    }
    if (t_us > p->duration_us)
        t_us = p->duration_us;
    if (t_us < 0)
        t_us = 0;
    memcpy(set, l->unis[ui].set, HUB_SHOW_SLOTS);
    if (cursor != NULL && cursor->prog == p)
        render_tracks_cursor(l, cursor, (size_t)ui, t_us, out);
    else
        render_tracks(l, &l->unis[ui], t_us, out);
    render_effects(l, &l->unis[ui], t_us, out, NULL);
    return 1;
}

hub_show_cursor_t *hub_show_cursor_new(const hub_show_prog_t *p)
{
    hub_show_cursor_t *c = hub_calloc(1, sizeof(*c));

    c->prog = p;
    c->tracks = hub_calloc(p->l.ntracks + 1, sizeof(*c->tracks));
    c->last_us = hub_malloc((p->l.nunis + 1) * sizeof(*c->last_us));
    for (size_t j = 0; j < p->l.ntracks; j++) {
        c->tracks[j].until_us = INT64_MIN; /* nothing known yet */
        c->tracks[j].slot = p->l.tracks[j].slot;
    }
    for (size_t j = 0; j < p->l.nunis; j++)
        c->last_us[j] = INT64_MIN;
    return c;
}

void hub_show_cursor_free(hub_show_cursor_t *c)
{
    if (c == NULL)
        return;
    hub_free(c->tracks);
    hub_free(c->last_us);
    hub_free(c);
}

/* ---- previews ---------------------------------------------------------------------- */

hub_show_previews_t *hub_show_previews_ref(hub_show_previews_t *pv)
{
    atomic_fetch_add_explicit(&pv->refs, 1, memory_order_relaxed);
    return pv;
}

void hub_show_previews_unref(hub_show_previews_t *pv)
{
    if (pv == NULL || atomic_fetch_sub_explicit(&pv->refs, 1, memory_order_acq_rel) != 1)
        return;
    layout_free(&pv->l);
    hub_free(pv);
}

int hub_show_previews_render(const hub_show_previews_t *pv, int universe, uint64_t now_us,
                             uint8_t out[HUB_SHOW_SLOTS], uint8_t set[HUB_SHOW_SLOTS])
{
    const layout_t *l = &pv->l;
    long ui = render__uni_index(l->universes, l->nunis, universe);
    int64_t now = now_us > INT64_MAX ? INT64_MAX : (int64_t)now_us;

    memset(out, 0, HUB_SHOW_SLOTS);
    memset(set, 0, HUB_SHOW_SLOTS);
    if (ui < 0)
        return 0;
    return render_effects(l, &l->unis[ui], now, out, set);
}
