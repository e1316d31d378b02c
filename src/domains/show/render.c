/* domains/show/render.c - shows compiled to programs, programs rendered.
 *
 * A program is a handful of flat arrays (the "layout"):
 *   universes[], unis[]  per universe, ascending: its tracks, its effect
 *                        runs and which slots the show sets;
 *   tracks[]             per touched channel, by universe then slot: a
 *                        range of kfs[];
 *   kfs[]                keyframes of a track by t, each with the value
 *                        it fades from worked out at compile time;
 *   fxs[]                effects in file order: window and parameters;
 *   runs[], ents[]       per universe, per effect that has channels there
 *                        (file order): (slot, role, position in its list).
 * Memory is linear in the channels cues and effects name; no canvas, and
 * nothing is allocated per frame. Previews use the same layout with no
 * tracks.
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

#define TWO_PI       6.283185307179586476925
#define LINEAR_STEPS 4 /* cursor steps tried before a binary search */

typedef struct kf {
    int64_t t_us;
    uint32_t fade_ms;
    uint8_t from, to, curve;
} kf_t;

typedef struct track {
    size_t kf_off;
    uint32_t nkf;
    uint16_t slot;
} track_t;

typedef struct fx {
    int64_t start_us, end_us; /* active while start_us <= t < end_us */
    hub_show_effect_t def;    /* parameters; fixtures NULL, nfixtures the list's length */
} fx_t;

typedef struct fx_ent {
    uint16_t slot;
    uint8_t role;
    uint32_t i; /* position in the effect's list */
} fx_ent_t;

typedef struct fx_run {
    uint32_t fx;
    uint32_t n;
    size_t off;
} fx_run_t;

typedef struct uni {
    size_t track_off, run_off;
    uint32_t ntracks, nruns;
    uint8_t set[HUB_SHOW_SLOTS];
} uni_t;

typedef struct layout {
    int *universes;
    uni_t *unis;
    size_t nunis;
    track_t *tracks;
    size_t ntracks;
    kf_t *kfs;
    size_t nkfs;
    fx_t *fxs;
    size_t nfxs;
    fx_run_t *runs;
    size_t nruns;
    fx_ent_t *ents;
    size_t nents;
} layout_t;

struct hub_show_prog {
    atomic_int refs;
    int64_t duration_us;
    layout_t l;
};

struct hub_show_previews {
    atomic_int refs;
    layout_t l;
};

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
static uint8_t kf_eval(const kf_t *k, int64_t t)
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

/* ---- compiling --------------------------------------------------------------------- */

/* Raw keyframes and effect channels in file order; uni is the universe,
 * then its index in the layout. */
typedef struct raw_kf {
    int64_t t_us;
    uint32_t fade_ms;
    uint32_t seq; /* file order */
    int uni;
    uint16_t slot;
    uint8_t to, curve;
} raw_kf_t;

typedef struct raw_ent {
    int uni;
    uint16_t slot;
    uint8_t role;
    uint32_t fx, i;
} raw_ent_t;

typedef struct builder {
    const hub_show_patch_t *patch;
    /* Fixture lookups by name, memoised: the patch's own may be linear. */
    const char **names;
    const hub_patch_fixture_t **fixtures;
    size_t cap, used;
    raw_kf_t *kfs;
    size_t nkfs, capkfs;
    raw_ent_t *ents;
    size_t nents, capents;
    fx_t *fxs;
    size_t nfxs, capfxs;
    int *unis; /* the universes entries name: ascending, unique */
    size_t nunis, capunis;
    int last_uni; /* the one noted last (when nunis > 0) */
    size_t skipped;
} builder_t;

static void *grow(void *p, size_t *cap, size_t need, size_t size)
{
    if (need <= *cap)
        return p;
    *cap = *cap ? *cap * 2 : 64;
    if (*cap < need)
        *cap = need;
    return hub_realloc(p, *cap * size);
}

static size_t name_hash(const char *s)
{
    uint64_t h = 14695981039346656037u; /* FNV-1a */

    while (*s)
        h = (h ^ (unsigned char)*s++) * 1099511628211u;
    return (size_t)(h ^ (h >> 29));
}

static void memo_grow(builder_t *b)
{
    size_t cap = b->cap ? b->cap * 2 : 64;
    const char **names = hub_calloc(cap, sizeof(*names));
    const hub_patch_fixture_t **fixtures = hub_calloc(cap, sizeof(*fixtures));

    for (size_t j = 0; j < b->cap; j++) {
        size_t h;
        if (b->names[j] == NULL)
            continue;
        for (h = name_hash(b->names[j]) & (cap - 1); names[h]; h = (h + 1) & (cap - 1))
            ;
        names[h] = b->names[j];
        fixtures[h] = b->fixtures[j];
    }
    hub_free(b->names);
    hub_free(b->fixtures);
    b->names = names;
    b->fixtures = fixtures;
    b->cap = cap;
}

/* The fixture named name, or NULL. name must outlive the compile. */
static const hub_patch_fixture_t *find_fixture(builder_t *b, const char *name)
{
    size_t h;

    if (2 * (b->used + 1) > b->cap)
        memo_grow(b);
    for (h = name_hash(name) & (b->cap - 1); b->names[h]; h = (h + 1) & (b->cap - 1))
        if (strcmp(b->names[h], name) == 0)
            return b->fixtures[h];
    b->names[h] = name;
    b->fixtures[h] = b->patch && b->patch->fixture ? b->patch->fixture(b->patch->ud, name) : NULL;
    b->used++;
    return b->fixtures[h];
}

static const hub_patch_poi_t *find_poi(builder_t *b, const char *name)
{
    return b->patch && b->patch->poi ? b->patch->poi(b->patch->ud, name) : NULL;
}

/* The 0-based slot of role on f, or -1. */
static int fixture_slot(const hub_patch_fixture_t *f, int role)
{
    int ch = hub_patch_role_channel(f, role);
    long slot;

    if (ch < 0)
        return -1;
    slot = (long)f->address - 1 + ch;
    return slot >= 0 && slot < HUB_SHOW_SLOTS ? (int)slot : -1;
}

static int cmp_int(const void *a, const void *b)
{
    int x = *(const int *)a, y = *(const int *)b;
    return (x > y) - (x < y);
}

static long uni_index(const int *universes, size_t n, int universe)
{
    const int *hit = bsearch(&universe, universes, n, sizeof(*universes), cmp_int);
    return hit ? (long)(hit - universes) : -1;
}

/* A handful of universes against a million entries: a sorted set, and the
 * last one checked first (entries come a fixture at a time). */
static void note_universe(builder_t *b, int uni)
{
    size_t lo = 0, hi = b->nunis;

    if (b->nunis > 0 && b->last_uni == uni)
        return;
    b->last_uni = uni;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (b->unis[mid] < uni)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo < b->nunis && b->unis[lo] == uni)
        return;
    b->unis = grow(b->unis, &b->capunis, b->nunis + 1, sizeof(*b->unis));
    memmove(b->unis + lo + 1, b->unis + lo, (b->nunis - lo) * sizeof(*b->unis));
    b->unis[lo] = uni;
    b->nunis++;
}

static uint8_t clamp_byte(int v)
{
    return (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
}

static void push_kf(builder_t *b, const raw_kf_t *proto, int uni, int slot, int value)
{
    raw_kf_t *r;

    if (b->nkfs == UINT32_MAX) /* seq is 32 bits; memory runs out long before */
        hub_oom(b->nkfs * sizeof(*r));
    b->kfs = grow(b->kfs, &b->capkfs, b->nkfs + 1, sizeof(*b->kfs));
    r = &b->kfs[b->nkfs];
    *r = *proto;
    r->uni = uni;
    r->slot = (uint16_t)slot;
    r->to = clamp_byte(value);
    r->seq = (uint32_t)b->nkfs++;
    note_universe(b, uni);
}

/* Push f's channel for role at the cue's time; 1 if f has it. */
static int cue_channel(builder_t *b, const raw_kf_t *proto, const hub_patch_fixture_t *f, int role,
                       int value)
{
    int slot = fixture_slot(f, role);

    if (slot < 0)
        return 0;
    push_kf(b, proto, f->universe, slot, value);
    return 1;
}

/* A POI on f: pan, pan_fine, tilt, tilt_fine where f has them; 1 if f has
 * pan or tilt (what makes the POI apply, as hub_show_check has it). */
static int cue_poi(builder_t *b, const raw_kf_t *proto, const hub_patch_fixture_t *f,
                   const hub_patch_poi_t *poi)
{
    int hit = cue_channel(b, proto, f, HUB_ROLE_PAN, poi->pan);

    cue_channel(b, proto, f, HUB_ROLE_PAN_FINE, poi->pan_fine);
    hit |= cue_channel(b, proto, f, HUB_ROLE_TILT, poi->tilt);
    cue_channel(b, proto, f, HUB_ROLE_TILT_FINE, poi->tilt_fine);
    return hit;
}

/* Skipped: each fixture the patch lacks, each value role and the POI when
 * none of the cue's fixtures that exist has them (a fixture without a role
 * among others with it is the rule, not a loss), a POI the patch lacks. */
static void add_cue(builder_t *b, const hub_show_cue_t *c)
{
    raw_kf_t proto = {0};
    const hub_patch_poi_t *poi = NULL;
    uint64_t found = 0;
    int anyfix = 0, poi_hit = 0;

    proto.t_us = c->t_ms * 1000;
    proto.fade_ms = (uint32_t)(c->fade_ms < 0            ? 0
                               : c->fade_ms > UINT32_MAX ? UINT32_MAX
                                                         : c->fade_ms);
    proto.curve =
        (uint8_t)(c->curve >= 0 && c->curve < HUB_CURVE_COUNT ? c->curve : HUB_CURVE_LINEAR);
    if (c->poi[0] != '\0' && (poi = find_poi(b, c->poi)) == NULL)
        b->skipped++;
    for (size_t j = 0; j < c->nfixtures; j++) {
        const hub_patch_fixture_t *f = find_fixture(b, c->fixtures[j]);
        if (f == NULL) {
            b->skipped++;
            continue;
        }
        anyfix = 1;
        for (size_t v = 0; v < c->nvalues; v++)
            if (cue_channel(b, &proto, f, c->values[v].role, c->values[v].value))
                found |= (uint64_t)1 << (c->values[v].role & 63);
        if (poi != NULL)
            poi_hit |= cue_poi(b, &proto, f, poi);
    }
    if (!anyfix)
        return;
    for (size_t v = 0; v < c->nvalues; v++)
        if (!(found & ((uint64_t)1 << (c->values[v].role & 63))))
            b->skipped++;
    if (poi != NULL && !poi_hit)
        b->skipped++;
}

static int fx_roles(const hub_show_effect_t *e, int roles[3])
{
    if (e->effect == HUB_FX_RAINBOW) {
        roles[0] = HUB_ROLE_RED, roles[1] = HUB_ROLE_GREEN, roles[2] = HUB_ROLE_BLUE;
        return 3;
    }
    roles[0] = e->params.role;
    return 1;
}

static void push_ent(builder_t *b, int uni, int slot, int role, uint32_t fx, size_t i)
{
    raw_ent_t *r;

    b->ents = grow(b->ents, &b->capents, b->nents + 1, sizeof(*b->ents));
    r = &b->ents[b->nents];
    r->uni = uni;
    r->slot = (uint16_t)slot;
    r->role = (uint8_t)role;
    r->fx = fx;
    r->i = (uint32_t)i;
    b->nents++;
    note_universe(b, uni);
}

/* Skipped: each fixture the patch lacks; the role when none of the
 * fixtures that exist has it (rainbow: none of red, green, blue). */
static void add_effect(builder_t *b, const hub_show_effect_t *e, int64_t start_us)
{
    uint32_t fxi = (uint32_t)b->nfxs;
    int roles[3], nroles = fx_roles(e, roles), anyfix = 0, found = 0;
    fx_t *x;

    b->fxs = grow(b->fxs, &b->capfxs, b->nfxs + 1, sizeof(*b->fxs));
    x = &b->fxs[b->nfxs++];
    x->def = *e;
    x->def.fixtures = NULL;
    x->start_us = start_us;
    x->end_us = start_us + (e->dur_ms > 0 ? e->dur_ms * 1000 : 0);
    if (e->effect < 0 || e->effect >= HUB_FX_COUNT)
        nroles = 0;
    for (size_t j = 0; j < e->nfixtures; j++) {
        const hub_patch_fixture_t *f = find_fixture(b, e->fixtures[j]);
        if (f == NULL) {
            b->skipped++;
            continue;
        }
        anyfix = 1;
        for (int r = 0; r < nroles; r++) {
            int slot = fixture_slot(f, roles[r]);
            if (slot >= 0) {
                push_ent(b, f->universe, slot, roles[r], fxi, j);
                found = 1;
            }
        }
    }
    if (anyfix && !found)
        b->skipped++;
}

static int cmp_t_seq(const void *a, const void *b)
{
    const raw_kf_t *x = a, *y = b;

    if (x->t_us != y->t_us)
        return x->t_us < y->t_us ? -1 : 1;
    return (x->seq > y->seq) - (x->seq < y->seq);
}

/* The builder's universes become the layout's; entries get their index. */
static void layout_universes(layout_t *l, builder_t *b)
{
    int last = 0;
    long idx = -1;

    l->universes = b->unis;
    l->nunis = b->nunis;
    b->unis = NULL;
    if (l->universes == NULL)
        l->universes = hub_calloc(1, sizeof(*l->universes));
    l->unis = hub_calloc(l->nunis + 1, sizeof(*l->unis));
    for (size_t j = 0; j < b->nkfs; j++) {
        if (idx < 0 || b->kfs[j].uni != last)
            idx = uni_index(l->universes, l->nunis, last = b->kfs[j].uni);
        b->kfs[j].uni = (int)idx;
    }
    idx = -1;
    for (size_t j = 0; j < b->nents; j++) {
        if (idx < 0 || b->ents[j].uni != last)
            idx = uni_index(l->universes, l->nunis, last = b->ents[j].uni);
        b->ents[j].uni = (int)idx;
    }
}

/* Raw keyframes by channel (universe index * 512 + slot), file order kept
 * within a channel: a counting sort, linear where a comparison sort of a
 * million entries is the bulk of a compile. start[c] is channel c's first. */
static raw_kf_t *kfs_by_channel(const layout_t *l, const builder_t *b, size_t *start)
{
    size_t nch = l->nunis * HUB_SHOW_SLOTS;
    raw_kf_t *out = hub_malloc((b->nkfs + 1) * sizeof(*out));

    for (size_t j = 0; j < b->nkfs; j++)
        start[(size_t)b->kfs[j].uni * HUB_SHOW_SLOTS + b->kfs[j].slot + 1]++;
    for (size_t c = 0; c < nch; c++)
        start[c + 1] += start[c];
    for (size_t j = 0; j < b->nkfs; j++)
        out[start[(size_t)b->kfs[j].uni * HUB_SHOW_SLOTS + b->kfs[j].slot]++] = b->kfs[j];
    for (size_t c = nch; c > 0; c--) /* back from "one past" to "first" */
        start[c] = start[c - 1];
    start[0] = 0;
    return out;
}

/* One channel's raw keyframes (file order) to a track: by t, of equal t the
 * last in file order; `from` is the earlier keyframes' value at the new
 * one's t. */
static void layout_track(layout_t *l, size_t ui, int slot, raw_kf_t *r, size_t n)
{
    uni_t *u = &l->unis[ui];
    track_t *tk = &l->tracks[l->ntracks++];

    for (size_t j = 1; j < n; j++)
        if (r[j].t_us < r[j - 1].t_us) { /* files list cues by time, mostly */
            qsort(r, n, sizeof(*r), cmp_t_seq);
            break;
        }
    if (u->ntracks++ == 0)
        u->track_off = l->ntracks - 1;
    u->set[slot] = 1;
    tk->kf_off = l->nkfs;
    tk->nkf = 0;
    tk->slot = (uint16_t)slot;
    for (size_t j = 0; j < n; j++) {
        kf_t *k = &l->kfs[l->nkfs];

        if (j + 1 < n && r[j + 1].t_us == r[j].t_us)
            continue; /* a later cue at the same t wins */
        k->t_us = r[j].t_us;
        k->fade_ms = r[j].fade_ms;
        k->to = r[j].to;
        k->curve = r[j].curve;
        k->from = tk->nkf ? kf_eval(k - 1, k->t_us) : 0;
        tk->nkf++;
        l->nkfs++;
    }
}

static void layout_tracks(layout_t *l, builder_t *b)
{
    size_t nch = l->nunis * HUB_SHOW_SLOTS;
    size_t *start = hub_calloc(nch + 1, sizeof(*start));
    raw_kf_t *sorted = kfs_by_channel(l, b, start);

    hub_free(b->kfs); /* the sorted copy replaces it */
    b->kfs = NULL;
    l->kfs = hub_malloc((b->nkfs + 1) * sizeof(*l->kfs));
    l->tracks = hub_malloc((b->nkfs + 1) * sizeof(*l->tracks));
    for (size_t c = 0; c < nch; c++)
        if (start[c + 1] > start[c])
            layout_track(l, c / HUB_SHOW_SLOTS, (int)(c % HUB_SHOW_SLOTS), sorted + start[c],
                         start[c + 1] - start[c]);
    hub_free(sorted);
    hub_free(start);
    l->kfs = hub_realloc(l->kfs, (l->nkfs + 1) * sizeof(*l->kfs));
    l->tracks = hub_realloc(l->tracks, (l->ntracks + 1) * sizeof(*l->tracks));
}

/* Effect channels by universe (a stable counting sort), each universe's in
 * file order: effect, fixture, role; a run per (universe, effect). */
static void layout_effects(layout_t *l, builder_t *b)
{
    size_t *start = hub_calloc(l->nunis + 1, sizeof(*start));
    raw_ent_t *sorted = hub_malloc((b->nents + 1) * sizeof(*sorted));

    for (size_t j = 0; j < b->nents; j++)
        start[b->ents[j].uni + 1]++;
    for (size_t u = 0; u < l->nunis; u++)
        start[u + 1] += start[u];
    for (size_t j = 0; j < b->nents; j++)
        sorted[start[b->ents[j].uni]++] = b->ents[j];
    hub_free(start);
    l->ents = hub_malloc((b->nents + 1) * sizeof(*l->ents));
    l->runs = hub_malloc((b->nents + 1) * sizeof(*l->runs));
    for (size_t j = 0; j < b->nents; j++) {
        const raw_ent_t *r = &sorted[j];
        uni_t *u = &l->unis[r->uni];
        fx_ent_t *e = &l->ents[l->nents];

        if (j == 0 || sorted[j - 1].uni != r->uni || sorted[j - 1].fx != r->fx) {
            if (u->nruns == 0)
                u->run_off = l->nruns;
            u->nruns++;
            l->runs[l->nruns].fx = r->fx;
            l->runs[l->nruns].n = 0;
            l->runs[l->nruns].off = l->nents;
            l->nruns++;
        }
        e->slot = r->slot;
        e->role = r->role;
        e->i = r->i;
        u->set[r->slot] = 1;
        l->runs[l->nruns - 1].n++;
        l->nents++;
    }
    hub_free(sorted);
    l->runs = hub_realloc(l->runs, (l->nruns + 1) * sizeof(*l->runs));
    l->fxs = b->fxs;
    l->nfxs = b->nfxs;
    b->fxs = NULL;
}

/* Builds l from b and frees b. */
static void layout_build(layout_t *l, builder_t *b)
{
    memset(l, 0, sizeof(*l));
    layout_universes(l, b);
    layout_tracks(l, b);
    layout_effects(l, b);
    hub_free(b->names);
    hub_free(b->fixtures);
    hub_free(b->kfs);
    hub_free(b->ents);
    hub_free(b->fxs);
    hub_free(b->unis);
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

hub_show_prog_t *hub_show_compile(const hub_show_t *s, const hub_show_patch_t *patch,
                                  size_t *skipped)
{
    builder_t b = {.patch = patch};
    hub_show_prog_t *p = hub_calloc(1, sizeof(*p));

    for (size_t j = 0; j < s->ncues; j++)
        add_cue(&b, &s->cues[j]);
    for (size_t j = 0; j < s->neffects; j++)
        add_effect(&b, &s->effects[j], s->effects[j].t_ms * 1000);
    if (skipped)
        *skipped = b.skipped;
    layout_build(&p->l, &b);
    p->duration_us = s->duration_ms > 0 ? s->duration_ms * 1000 : 0;
    atomic_init(&p->refs, 1);
    return p;
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

    return c ? kf_eval(&k[c - 1], t) : 0;
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
    ct->val = kf_eval(&k[idx - 1], t);
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
    long ui = uni_index(l->universes, l->nunis, universe);

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

hub_show_previews_t *hub_show_previews_compile(const hub_show_preview_def_t *defs, size_t n,
                                               const hub_show_patch_t *patch)
{
    builder_t b = {.patch = patch};
    hub_show_previews_t *pv = hub_calloc(1, sizeof(*pv));

    for (size_t j = 0; j < n; j++) {
        uint64_t start = defs[j].start_mono_us;
        /* Monotonic µs fit int64 for 292,000 years; the clamp keeps end_us sane. */
        add_effect(&b, defs[j].effect, start > INT64_MAX / 2 ? INT64_MAX / 2 : (int64_t)start);
    }
    layout_build(&pv->l, &b);
    atomic_init(&pv->refs, 1);
    return pv;
}

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
    long ui = uni_index(l->universes, l->nunis, universe);
    int64_t now = now_us > INT64_MAX ? INT64_MAX : (int64_t)now_us;

    memset(out, 0, HUB_SHOW_SLOTS);
    memset(set, 0, HUB_SHOW_SLOTS);
    if (ui < 0)
        return 0;
    return render_effects(l, &l->unis[ui], now, out, set);
}
