/* domains/schedules/state.c - the domain's collections: events (ascending
 * id), groups (ascending group_id, the hub's own first as -1), the fired
 * records (ascending event, occurrence) and the hooks waiting for their
 * intent to be durable. Sorted arrays with binary search: lookups are the
 * hot part (every cycle), inserts are rare (an operator's edit, a hook). */
#include <string.h>

#include "core/mem.h"
#include "domains/schedules/schedules_int.h"

/* ---- events ---------------------------------------------------------------------------- */

/* A group's own list of its events (ascending id), for the cycle. */
static size_t group_ev_pos(const sch_group_t *g, int64_t id)
{
    size_t lo = 0, hi = g->nev;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (g->evs[mid]->id < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static void group_add(sch_group_t *g, sch_event_t *ev)
{
    size_t i = group_ev_pos(g, ev->id);
    if (g->nev == g->capevs) {
        g->capevs = g->capevs ? g->capevs * 2 : 8;
        g->evs = hub_realloc(g->evs, g->capevs * sizeof(*g->evs));
    }
    memmove(&g->evs[i + 1], &g->evs[i], (g->nev - i) * sizeof(*g->evs));
    g->evs[i] = ev;
    g->nev++;
}

static void group_drop(sch_group_t *g, const sch_event_t *ev)
{
    size_t i = group_ev_pos(g, ev->id);
    if (i < g->nev && g->evs[i] == ev) {
        memmove(&g->evs[i], &g->evs[i + 1], (g->nev - i - 1) * sizeof(*g->evs));
        g->nev--;
    }
}

static size_t event_pos(const hub_schdom_t *d, int64_t id)
{
    size_t lo = 0, hi = d->nev;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (d->ev[mid]->id < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

sch_event_t *sch__event(const hub_schdom_t *d, int64_t id)
{
    size_t i = event_pos(d, id);
    return i < d->nev && d->ev[i]->id == id ? d->ev[i] : NULL;
}

void sch__event_insert(hub_schdom_t *d, sch_event_t *ev)
{
    size_t i = event_pos(d, ev->id);
    if (d->nev == d->capev) {
        d->capev = d->capev ? d->capev * 2 : 64;
        d->ev = hub_realloc(d->ev, d->capev * sizeof(*d->ev));
    }
    memmove(&d->ev[i + 1], &d->ev[i], (d->nev - i) * sizeof(*d->ev));
    d->ev[i] = ev;
    d->nev++;
    group_add(sch__group(d, ev->group, 1), ev);
}

sch_event_t *sch__event_remove(hub_schdom_t *d, int64_t id)
{
    size_t i = event_pos(d, id);
    if (i >= d->nev || d->ev[i]->id != id)
        return NULL;
    sch_event_t *ev = d->ev[i];
    memmove(&d->ev[i], &d->ev[i + 1], (d->nev - i - 1) * sizeof(*d->ev));
    d->nev--;
    group_drop(sch__group(d, ev->group, 1), ev);
    return ev;
}

void sch__event_regroup(hub_schdom_t *d, sch_event_t *ev, int64_t from)
{
    if (from == ev->group)
        return;
    group_drop(sch__group(d, from, 1), ev);
    group_add(sch__group(d, ev->group, 1), ev);
}

void sch__event_free(sch_event_t *ev)
{
    if (ev == NULL)
        return;
    hub_free(ev->title);
    hub_free(ev->rrule);
    hub_free(ev->exdates);
    hub_free(ev->content);
    hub_free(ev->members);
    hub_free(ev->on_start);
    hub_free(ev->on_end);
    hub_free(ev->occ);
    hub_free(ev);
}

sch_series_t sch__series(const sch_event_t *ev)
{
    sch_series_t s = {.start = ev->start,
                      .end = ev->end,
                      .rrule = ev->rrule,
                      .exdates = ev->exdates,
                      .nexdates = ev->nexdates};
    return s;
}

/* ---- groups ---------------------------------------------------------------------------- */

static size_t group_pos(const hub_schdom_t *d, int64_t id)
{
    size_t lo = 0, hi = d->ngroups;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (d->groups[mid]->id < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

sch_group_t *sch__group(hub_schdom_t *d, int64_t id, int create)
{
    size_t i = group_pos(d, id);
    if (i < d->ngroups && d->groups[i]->id == id)
        return d->groups[i];
    if (!create)
        return NULL;
    if (d->ngroups == d->capgroups) {
        d->capgroups = d->capgroups ? d->capgroups * 2 : 32;
        d->groups = hub_realloc(d->groups, d->capgroups * sizeof(*d->groups));
    }
    sch_group_t *g = hub_calloc(1, sizeof(*g));
    g->id = id;
    memmove(&d->groups[i + 1], &d->groups[i], (d->ngroups - i) * sizeof(*d->groups));
    d->groups[i] = g;
    d->ngroups++;
    return g;
}

/* Every change of an event calls this for its group (before and after):
 * the cycle computes the group again (dirty); its next power intent gets a
 * new id (edited). */
void sch__group_edited(hub_schdom_t *d, int64_t id)
{
    sch_group_t *g = sch__group(d, id, 1);
    g->dirty = 1;
    if (id != SCH_HUB)
        g->edited = 1;
}

/* ---- fired records ---------------------------------------------------------------------- */

static size_t fired_pos(const hub_schdom_t *d, int64_t event_id, int64_t occ)
{
    size_t lo = 0, hi = d->nfired;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const sch_fired_t *f = &d->fired[mid];
        if (f->event_id < event_id || (f->event_id == event_id && f->occ < occ))
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

sch_fired_t *sch__fired(hub_schdom_t *d, int64_t event_id, int64_t occ, int create)
{
    size_t i = fired_pos(d, event_id, occ);
    if (i < d->nfired && d->fired[i].event_id == event_id && d->fired[i].occ == occ)
        return &d->fired[i];
    if (!create)
        return NULL;
    if (d->nfired == d->capfired) {
        d->capfired = d->capfired ? d->capfired * 2 : 64;
        d->fired = hub_realloc(d->fired, d->capfired * sizeof(*d->fired));
    }
    memmove(&d->fired[i + 1], &d->fired[i], (d->nfired - i) * sizeof(*d->fired));
    memset(&d->fired[i], 0, sizeof(d->fired[i]));
    d->fired[i].event_id = event_id;
    d->fired[i].occ = occ;
    d->nfired++;
    return &d->fired[i];
}

void sch__fired_remove(hub_schdom_t *d, size_t i)
{
    memmove(&d->fired[i], &d->fired[i + 1], (d->nfired - i - 1) * sizeof(*d->fired));
    d->nfired--;
}

/* ---- hooks ------------------------------------------------------------------------------ */

void sch__hook_queue(hub_schdom_t *d, uint64_t seq, const sch_event_t *ev, int64_t occ, int end)
{
    const char *actions = end ? ev->on_end : ev->on_start;
    if (actions == NULL)
        return;
    sch_hook_t *h = hub_calloc(1, sizeof(*h));
    h->seq = seq;
    h->event_id = ev->id;
    h->occ = occ;
    h->end = end;
    h->actions = hub_strdup(actions);
    if (d->hooks_tail != NULL)
        d->hooks_tail->next = h;
    else
        d->hooks = h;
    d->hooks_tail = h;
}
