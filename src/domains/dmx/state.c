/* domains/dmx/state.c - the dmx state and the one way each entity changes.
 *
 * Used for both copies of the state (work and pub, see dmx_int.h). Fixture
 * lookups by name go through an open-addressing index; which fixture owns
 * each slot is a table rebuilt whenever the patch moves.
 */
#include <string.h>

#include "core/mem.h"
#include "core/str.h"
#include "domains/dmx/dmx_int.h"

static void reindex(dmx__state_t *st)
{
    size_t cap = 16;
    while (cap < st->nfixtures * 2 + 2)
        cap *= 2;
    hub_free(st->fidx);
    st->fidx = hub_calloc(cap, sizeof(*st->fidx));
    st->fidxcap = cap;
    for (size_t i = 0; i < st->nfixtures; i++) {
        size_t j = hub_hash_str(st->fixtures[i].def.name) & (cap - 1);
        while (st->fidx[j] != 0)
            j = (j + 1) & (cap - 1);
        st->fidx[j] = i + 1;
    }
}

long dmx__state_universe_index(const dmx__state_t *st, int universe)
{
    size_t lo = 0, hi = st->nuniverses;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (st->universes[mid] == universe)
            return (long)mid;
        if (st->universes[mid] < universe)
            lo = mid + 1;
        else
            hi = mid;
    }
    return -1;
}

static void rebuild_owner(dmx__state_t *st)
{
    hub_free(st->owner);
    st->owner = hub_calloc(st->nuniverses ? st->nuniverses * HUB_DMX_SLOTS : 1, sizeof(*st->owner));
    for (size_t i = 0; i < st->nfixtures; i++) {
        const hub_patch_fixture_t *f = &st->fixtures[i].def;
        long ui = dmx__state_universe_index(st, f->universe);
        if (ui < 0)
            continue;
        for (int c = 0; c < f->nch && f->address - 1 + c < HUB_DMX_SLOTS; c++)
            st->owner[(size_t)ui * HUB_DMX_SLOTS + (size_t)(f->address - 1 + c)] =
                (uint16_t)(i + 1);
    }
}

static void mark_universe(dmx__state_t *st, int universe)
{
    long ui = dmx__state_universe_index(st, universe);
    if (ui >= 0)
        st->dirty[ui] = 1;
}

void dmx__state_dirty_all(dmx__state_t *st)
{
    if (st->nuniverses > 0)
        memset(st->dirty, 1, st->nuniverses);
}

void dmx__state_init(dmx__state_t *st)
{
    memset(st, 0, sizeof(*st));
    reindex(st);
    rebuild_owner(st);
    st->dirty = hub_calloc(1, 1);
}

void dmx__state_free(dmx__state_t *st)
{
    hub_free(st->universes);
    hub_free(st->fixtures);
    hub_free(st->fidx);
    hub_free(st->chans);
    hub_free(st->pois);
    hub_free(st->owner);
    hub_free(st->dirty);
    memset(st, 0, sizeof(*st));
}

dmx__fixture_t *dmx__state_fixture(const dmx__state_t *st, const char *name)
{
    size_t j = hub_hash_str(name) & (st->fidxcap - 1);
    while (st->fidx[j] != 0) {
        dmx__fixture_t *f = &st->fixtures[st->fidx[j] - 1];
        if (strcmp(f->def.name, name) == 0)
            return f;
        j = (j + 1) & (st->fidxcap - 1);
    }
    return NULL;
}

const dmx__fixture_t *dmx__state_owner(const dmx__state_t *st, size_t ui, int ch)
{
    uint16_t o;
    if (ui >= st->nuniverses || ch < 1 || ch > HUB_DMX_SLOTS)
        return NULL;
    o = st->owner[ui * HUB_DMX_SLOTS + (size_t)(ch - 1)];
    return o ? &st->fixtures[o - 1] : NULL;
}

/* New universe list; raw channels follow their universe, new ones start
 * empty. */
void dmx__state_put_universes(dmx__state_t *st, const int *u, size_t n)
{
    dmx__channels_t *chans = hub_calloc(n ? n : 1, sizeof(*chans));
    for (size_t i = 0; i < n; i++) {
        long old = dmx__state_universe_index(st, u[i]);
        if (old >= 0)
            chans[i] = st->chans[old];
        chans[i].universe = u[i];
    }
    hub_free(st->chans);
    st->chans = chans;
    hub_free(st->universes);
    st->universes = hub_malloc((n ? n : 1) * sizeof(int));
    memcpy(st->universes, u, n * sizeof(int));
    st->nuniverses = n;
    hub_free(st->dirty);
    st->dirty = hub_calloc(n ? n : 1, 1);
    dmx__state_dirty_all(st);
    rebuild_owner(st);
}

void dmx__state_put_fixture(dmx__state_t *st, const dmx__fixture_t *f)
{
    dmx__fixture_t *cur = dmx__state_fixture(st, f->def.name);
    int moved = 1;

    if (cur != NULL) {
        moved = cur->def.universe != f->def.universe || cur->def.address != f->def.address ||
                cur->def.nch != f->def.nch;
        mark_universe(st, cur->def.universe);
        *cur = *f;
    } else {
        if (st->nfixtures == st->capfixtures) {
            st->capfixtures = st->capfixtures ? st->capfixtures * 2 : 8;
            st->fixtures = hub_realloc(st->fixtures, st->capfixtures * sizeof(*st->fixtures));
        }
        st->fixtures[st->nfixtures++] = *f;
        reindex(st);
    }
    mark_universe(st, f->def.universe);
    if (moved)
        rebuild_owner(st);
}

void dmx__state_del_fixture(dmx__state_t *st, const char *name)
{
    dmx__fixture_t *f = dmx__state_fixture(st, name);
    if (f == NULL)
        return;
    size_t i = (size_t)(f - st->fixtures);
    mark_universe(st, f->def.universe);
    memmove(&st->fixtures[i], &st->fixtures[i + 1],
            (st->nfixtures - i - 1) * sizeof(*st->fixtures));
    st->nfixtures--;
    reindex(st);
    rebuild_owner(st);
}

void dmx__state_put_channels(dmx__state_t *st, const dmx__channels_t *c)
{
    long ui = dmx__state_universe_index(st, c->universe);
    if (ui < 0)
        return;
    st->chans[ui] = *c;
    st->dirty[ui] = 1;
}

void dmx__state_put_pois(dmx__state_t *st, const hub_patch_poi_t *p, size_t n)
{
    hub_free(st->pois);
    st->pois = n ? hub_malloc(n * sizeof(*p)) : NULL;
    if (n)
        memcpy(st->pois, p, n * sizeof(*p));
    st->npois = n;
}

void dmx__state_put_blackout(dmx__state_t *st, int on)
{
    if (st->blackout != on)
        dmx__state_dirty_all(st);
    st->blackout = on;
}

void dmx__state_set_patch(dmx__state_t *st, const hub_patch_t *p)
{
    dmx__fixture_t *nf = hub_calloc(p->nfixtures ? p->nfixtures : 1, sizeof(*nf));

    for (size_t i = 0; i < p->nfixtures; i++) {
        const hub_patch_fixture_t *def = &p->fixtures[i];
        const dmx__fixture_t *old = dmx__state_fixture(st, def->name);
        nf[i].def = *def;
        nf[i].armed = 1; /* seed 001: fixtures are armed at start-up */
        if (old == NULL)
            continue;
        nf[i].armed = old->armed;
        nf[i].seq = old->seq;
        nf[i].ts_ms = old->ts_ms;
        for (int c = 0; c < def->nch; c++) {
            int oc = hub_patch_role_channel(&old->def, def->roles[c]);
            if (oc >= 0 && old->set[oc]) {
                nf[i].val[c] = old->val[oc];
                nf[i].set[c] = 1;
            }
        }
    }
    hub_free(st->fixtures);
    st->fixtures = nf;
    st->nfixtures = st->capfixtures = p->nfixtures;
    reindex(st);
    dmx__state_put_universes(st, p->universes, p->nuniverses);
    dmx__state_put_pois(st, p->pois, p->npois);
    /* Raw channels are for unpatched slots only. */
    for (size_t ui = 0; ui < st->nuniverses; ui++)
        for (int s = 0; s < HUB_DMX_SLOTS; s++)
            if (st->owner[ui * HUB_DMX_SLOTS + (size_t)s] != 0)
                st->chans[ui].set[s] = st->chans[ui].val[s] = 0;
}

void dmx__state_layers(const dmx__state_t *st, size_t ui, hub_dmx_layers_t *out)
{
    int u = st->universes[ui];

    memset(out->off, st->blackout ? 1 : 0, sizeof(out->off));
    memset(out->manual, 0, sizeof(out->manual));
    memset(out->manual_set, 0, sizeof(out->manual_set));
    for (size_t i = 0; i < st->nfixtures; i++) {
        const dmx__fixture_t *f = &st->fixtures[i];
        if (f->def.universe != u)
            continue;
        for (int c = 0; c < f->def.nch; c++) {
            int s = f->def.address - 1 + c;
            if (s < 0 || s >= HUB_DMX_SLOTS)
                continue;
            if (!f->armed)
                out->off[s] = 1;
            if (f->set[c]) {
                out->manual[s] = f->val[c];
                out->manual_set[s] = 1;
            }
        }
    }
    const dmx__channels_t *ch = &st->chans[ui];
    for (int s = 0; s < HUB_DMX_SLOTS; s++)
        if (ch->set[s] && st->owner[ui * HUB_DMX_SLOTS + (size_t)s] == 0) {
            out->manual[s] = ch->val[s];
            out->manual_set[s] = 1;
        }
}

void dmx__state_copy(dmx__state_t *dst, const dmx__state_t *src)
{
    dmx__state_free(dst);
    dmx__state_init(dst);
    dst->fixtures = hub_malloc((src->nfixtures ? src->nfixtures : 1) * sizeof(*src->fixtures));
    memcpy(dst->fixtures, src->fixtures, src->nfixtures * sizeof(*src->fixtures));
    dst->nfixtures = dst->capfixtures = src->nfixtures;
    reindex(dst);
    dmx__state_put_universes(dst, src->universes, src->nuniverses);
    memcpy(dst->chans, src->chans, src->nuniverses * sizeof(*src->chans));
    dmx__state_put_pois(dst, src->pois, src->npois);
    dst->blackout = src->blackout;
    dmx__state_dirty_all(dst);
}
