/* domains/show/render_compile.c - shows and previews compiled to programs.
 *
 * The layout a program holds is described in render_int.h; rendering is in
 * render.c.
 */
#include "domains/show/render.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "core/mem.h"
#include "domains/dmx/roles.h"
#include "domains/show/render_int.h"

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
            idx = render__uni_index(l->universes, l->nunis, last = b->kfs[j].uni);
        b->kfs[j].uni = (int)idx;
    }
    idx = -1;
    for (size_t j = 0; j < b->nents; j++) {
        if (idx < 0 || b->ents[j].uni != last)
            idx = render__uni_index(l->universes, l->nunis, last = b->ents[j].uni);
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
        k->from = tk->nkf ? render__kf_eval(k - 1, k->t_us) : 0;
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
