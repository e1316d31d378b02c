/* domains/schedules/cycle.c - one scheduler cycle (schedules.poll), in
 * seed 004's order, and schedules.republish.
 *
 *   1. the events active now per group (start <= now < end): the state
 *      schedules.active.<group_id> changes only when the list changed (its
 *      announce publishes the retained <root>/events/<group_id>, [] once when
 *      it became empty); refresh: true (REFRESH_SECONDS, start-up) has the
 *      announce publish every group's list even unchanged
 *   2. hooks: a recorded occurrence that has ended (or no longer exists)
 *      gets its end recorded and its on_end run; then an active occurrence
 *      whose start is not recorded gets its record (a row of this commit)
 *      and its on_start runs once the commit is durable (so at a boundary
 *      the previous on_end runs before the next on_start). Records that
 *      ended longer than a window ago are pruned.
 *   3. power intents (seed 004 phase 1, model_power.c): every group with
 *      events, a cached intent or devices; the state schedules.power.<gid>
 *      changes on a transition, an update, or a heartbeat (heartbeats only
 *      while publishing is enabled: a hub that does not publish writes
 *      nothing when nothing changes).
 *
 * Wall time decides what is active (the intent's ts, or "now" in the
 * payload); the fired records make a clock stepped backwards harmless.
 * Occurrences come from each event's cache (the expansion over
 * [now - lookback, now + EVENTS_WINDOW_DAYS)).
 *
 * Cost. A group's covering occurrences and power basis are a function of
 * its events' caches and now that changes only at an occurrence's start or
 * end, so each group keeps them with next_at, the earliest such instant
 * after the now they were computed for (or an event cache's refresh), and
 * is computed again only then, when an event of it changed (dirty), or when
 * the clock went back: a cycle in which nothing starts or ends looks at no
 * event, and costs a comparison and a power intent per group.
 *
 * A cycle is cut in slices (schedules.poll {now, cursor}: the groups from
 * cursor on, all at the first slice's now) of at most SCH_SLICE_UNITS groups
 * with something to change or publish, so one intent never holds the loop
 * thread for a thousand power intents: each slice's announcement submits
 * the next, and the network, the other intents and the output run between
 * them. 2's ends and pruning run in the first slice; 1, 2's starts and 3
 * per slice, for its groups.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/uuid.h"
#include "domains/schedules/schedules_int.h"

#define CACHE_MAX     4096    /* occurrences cached per event */
#define RETRY_MS      3600000 /* a failed expansion is tried again after an hour */
#define HOOKS_OCC_MAX 16      /* occurrences of one event covering now that are looked at */

void sch__new_intent_id(void *ud, char out[37])
{
    uint8_t raw[16];
    (void)ud;
    hub_uuid_v4(raw);
    hub_uuid_format(raw, out);
}

/* ---- each event's occurrences around now ------------------------------------------------ */

typedef struct starts {
    int64_t *v;
    size_t n, cap;
} starts_t;

static void emit_start(void *ud, int64_t s, int64_t e)
{
    starts_t *st = ud;
    (void)e;
    if (st->n == st->cap) {
        st->cap = st->cap ? st->cap * 2 : 16;
        st->v = hub_realloc(st->v, st->cap * sizeof(*st->v));
    }
    st->v[st->n++] = s;
}

/* Spread the recomputations of many events over a quarter window, so they
 * do not all fall on the same cycle. */
static int64_t jitter(int64_t id, int64_t span)
{
    uint64_t h = (uint64_t)id * 0x9E3779B97F4A7C15ull;
    return span > 0 ? (int64_t)((h >> 16) % (uint64_t)span) : 0;
}

static void cache_fill(hub_schdom_t *d, sch_event_t *ev, int64_t now, int64_t lookback)
{
    int64_t w = (int64_t)d->cfg.window_days * SCH_DAY_MS;
    int64_t dur = ev->end - ev->start;
    sch_series_t s = sch__series(ev);
    starts_t st = {0};
    char err[200];

    ev->c_at = now;
    ev->c_look = lookback;
    for (int pass = 0; pass < 2; pass++) {
        int64_t from = now - (pass == 0 ? lookback : dur);
        st.n = 0;
        long n = sch_expand(&s, from, now + w, CACHE_MAX, emit_start, &st, err, sizeof(err));
        if (n < 0) {
            if (!ev->warned)
                hub_log(HUB_LOG_WARN, "schedule_expand_failed", "{s:I,s:s,s:s}", "event_id",
                        (json_int_t)ev->id, "error", err, "hint",
                        "the event is treated as not occurring; edit its rrule");
            ev->warned = 1;
            ev->c_ok = -1;
            ev->nocc = 0;
            ev->c_from = from;
            ev->c_to = from;
            ev->c_refresh = now + RETRY_MS;
            hub_free(st.v);
            return;
        }
        ev->c_from = from;
        if (n < CACHE_MAX) {
            ev->c_to = now + w;
            ev->c_refresh = now + w / 2 - jitter(ev->id, w / 4);
            break;
        }
        /* Truncated: complete up to the last start. A lookback that used
         * the whole budget in the past tries again from now - duration. */
        ev->c_to = st.v[st.n - 1] + 1;
        ev->c_refresh = now + (ev->c_to - now) / 2;
        if (ev->c_to > now + 1 || pass == 1)
            break;
    }
    hub_free(ev->occ);
    ev->occ = st.v;
    ev->nocc = st.n;
    ev->c_ok = 1;
}

/* The event's cached occurrences, valid for now and lookback: refilled when
 * the event changed, at c_refresh, when the clock stepped back past the
 * fill, or when its group needs more of the past (a longer event joined). */
static void cache_ensure(hub_schdom_t *d, sch_event_t *ev, int64_t now, int64_t lookback)
{
    if (ev->c_ok == 0 || now >= ev->c_refresh || now < ev->c_at || lookback > ev->c_look)
        cache_fill(d, ev, now, lookback);
}

/* ---- what a group's events give at now ---------------------------------------------------- */

typedef struct occs {
    sch_occ_t *v;
    size_t n, cap;
} occs_t;

static int by_cover(const void *a, const void *b)
{
    const sch_cover_t *x = a, *y = b;
    if (x->s != y->s)
        return x->s < y->s ? -1 : 1;
    return x->ev->id < y->ev->id ? -1 : x->ev->id > y->ev->id;
}

static void cover_add(sch_group_t *g, sch_event_t *ev, int64_t s)
{
    if (g->ncov == g->capcov) {
        g->capcov = g->capcov ? g->capcov * 2 : 4;
        g->cov = hub_realloc(g->cov, g->capcov * sizeof(*g->cov));
    }
    g->cov[g->ncov++] = (sch_cover_t){ev, s, s + (ev->end - ev->start)};
}

/* Occurrences of ev covering now: starts in (now - duration, now], the
 * latest HOOKS_OCC_MAX. *next becomes the earliest instant after now at
 * which that can change, if sooner: the next start, or the end of the
 * earliest of them (an older one ending changes neither them nor the power
 * basis: the event still covers now, so the window holding now is the
 * same). */
static void covering(sch_group_t *g, sch_event_t *ev, int64_t now, int64_t *next)
{
    int64_t dur = ev->end - ev->start;
    size_t lo = 0, hi = ev->nocc;
    while (lo < hi) { /* the first start > now */
        size_t mid = lo + (hi - lo) / 2;
        if (ev->occ[mid] <= now)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo < ev->nocc && ev->occ[lo] < *next)
        *next = ev->occ[lo];
    size_t first = lo;
    while (first > 0 && lo - first < HOOKS_OCC_MAX && ev->occ[first - 1] + dur > now)
        first--;
    if (first < lo && ev->occ[first] + dur < *next)
        *next = ev->occ[first] + dur;
    for (size_t i = first; i < lo; i++)
        cover_add(g, ev, ev->occ[i]);
}

/* The longest duration of the group's events (capped at the window): the
 * lookback of their caches, so a window chained to an occurrence that
 * ended is seen whole. */
static int64_t group_lookback(const hub_schdom_t *d, sch_event_t *const *ev, size_t n)
{
    int64_t w = (int64_t)d->cfg.window_days * SCH_DAY_MS, l = 0;
    for (size_t i = 0; i < n; i++)
        if (ev[i]->end - ev[i]->start > l)
            l = ev[i]->end - ev[i]->start;
    return l < w ? l : w;
}

/* Whether g must be computed again at now: an event of it changed, the
 * instant something could change has come, or the clock went back. */
static int group_stale(const sch_group_t *g, int64_t now)
{
    return g->dirty || now >= g->next_at || now < g->at;
}

/* g at now: its events' caches, the occurrences covering now (start, id
 * order), the power basis over every cached occurrence, and next_at. */
static void group_compute(hub_schdom_t *d, sch_group_t *g, int64_t now, occs_t *o)
{
    sch_event_t *const *ev = g->evs;
    int64_t lookback = group_lookback(d, ev, g->nev), next = INT64_MAX;

    g->ncov = 0;
    for (size_t i = 0; i < g->nev; i++) {
        cache_ensure(d, ev[i], now, lookback);
        covering(g, ev[i], now, &next);
        if (ev[i]->c_refresh < next)
            next = ev[i]->c_refresh;
    }
    if (g->ncov > 1)
        qsort(g->cov, g->ncov, sizeof(*g->cov), by_cover);
    sch_basis_free(&g->basis);
    o->n = 0;
    for (size_t i = 0; g->ncov > 0 && g->id != SCH_HUB && i < g->nev; i++) {
        int64_t dur = ev[i]->end - ev[i]->start;
        for (size_t k = 0; k < ev[i]->nocc; k++) {
            if (o->n == o->cap) {
                o->cap = o->cap ? o->cap * 2 : 64;
                o->v = hub_realloc(o->v, o->cap * sizeof(*o->v));
            }
            o->v[o->n++] = (sch_occ_t){ev[i]->occ[k], ev[i]->occ[k] + dur, ev[i]->id};
        }
    }
    sch_power_basis(o->v, o->n, now, &g->basis); /* none covering: off */
    g->at = now;
    g->next_at = next;
    g->dirty = 0;
}

/* ---- a slice -------------------------------------------------------------------------------- */

/* What one group of the slice will change. */
typedef struct pend {
    sch_group_t *g;
    int list_changed; /* its active list: list (NULL: now empty) */
    char *list;
    int kind; /* its power intent: SCH_PUB_*, next */
    sch_intent_t next;
} pend_t;

typedef struct cycle {
    hub_schdom_t *d;
    hub_apply_t *ap;
    int64_t now;
    int first; /* the cycle's first slice: end hooks, pruning, the fleet's groups */
    pend_t *pend;
    size_t npend, cappend;
    int changes;
} cycle_t;

static void add_fleet_group(void *ud, int64_t gid)
{
    if (gid >= 0 && gid <= SCH_GROUP_MAX)
        sch__group(ud, gid, 1);
}

/* Take groups from d->groups[gi] on while the slice has room: compute the
 * stale ones, render their lists, make every group's next power intent.
 * Returns the index of the first group left for the next slice. */
static size_t slice_take(cycle_t *c, size_t gi, int refresh, uint64_t t0)
{
    hub_schdom_t *d = c->d;
    sch_power_cfg_t pc = {.poll_s = d->cfg.poll_s,
                          .multiplier = d->cfg.power_multiplier,
                          .min_expiry_s = d->cfg.power_min_expiry_s,
                          /* seed 004: publish at start-up before the first wait,
                           * heartbeats or not (a stored intent may be stale) */
                          .heartbeat = (d->cfg.power_heartbeat || !d->started_cycle) &&
                                       d->cfg.power_publish};
    occs_t o = {0};
    hub_jbuf_t b;
    size_t units = 0;

    hub_jbuf_init(&b);
    for (; gi < d->ngroups; gi++) {
        if (units > 0 && (units >= SCH_SLICE_UNITS || hub_mono_us() - t0 >= SCH_SLICE_US))
            break;
        sch_group_t *g = d->groups[gi];
        int fresh = group_stale(g, c->now);
        if (fresh)
            group_compute(d, g, c->now, &o);
        if (c->npend == c->cappend) {
            c->cappend = c->cappend ? c->cappend * 2 : 64;
            c->pend = hub_realloc(c->pend, c->cappend * sizeof(*c->pend));
        }
        pend_t *pe = &c->pend[c->npend++];
        memset(pe, 0, sizeof(*pe));
        pe->g = g;
        /* Its active list can only have changed if it was computed again. */
        if (fresh) {
            hub_jbuf_reset(&b);
            for (size_t k = 0; k < g->ncov; k++) {
                if (k == 0)
                    hub_jbuf_open(&b, '[');
                sch__render_active(&b, g->cov[k].ev, g->cov[k].s, g->cov[k].e);
            }
            if (g->ncov > 0)
                hub_jbuf_close(&b, ']');
            const char *now = g->ncov > 0 ? b.p : NULL;
            if ((now == NULL) != (g->active == NULL) ||
                (now != NULL && strcmp(now, g->active) != 0)) {
                pe->list_changed = 1;
                pe->list = now ? hub_strndup(b.p, b.len) : NULL;
            }
        }
        if (g->id != SCH_HUB) {
            pe->kind = sch_power_next(g->has_intent ? &g->intent : NULL, &g->basis, g->id, c->now,
                                      g->edited, &pc, sch__new_intent_id, d, &pe->next);
            if (pe->kind == SCH_PUB_NONE)
                sch_intent_free(&pe->next);
        }
        units += (size_t)pe->list_changed + (pe->kind != SCH_PUB_NONE) +
                 (size_t)(refresh && g->id != SCH_HUB && (g->nev > 0 || g->pub_active != NULL));
    }
    hub_jbuf_free(&b);
    hub_free(o.v);
    return gi;
}

/* ---- 1. active lists ---------------------------------------------------------------------- */

static void active_lists(cycle_t *c)
{
    char path[64];

    for (size_t i = 0; i < c->npend; i++) {
        pend_t *pe = &c->pend[i];
        sch_group_t *g = pe->g;
        if (!pe->list_changed)
            continue;
        hub_free(g->active);
        g->active = pe->list;
        pe->list = NULL;
        sch__active_path(path, sizeof(path), g->id);
        hub_apply_change(c->ap, path, g->active ? g->active : "null",
                         g->active ? strlen(g->active) : 4, NULL, 0);
        sch__row_active(c->ap, g->id, g->active);
        c->changes++;
    }
}

/* ---- 2. hooks ---------------------------------------------------------------------------- */

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

static void emit_find(void *ud, int64_t s, int64_t e)
{
    int64_t *f = ud; /* {occ, found end} */
    if (s == f[0] && f[1] == 0)
        f[1] = e;
}

static void hooks(cycle_t *c)
{
    hub_schdom_t *d = c->d;
    uint64_t seq = hub_apply_seq(c->ap);
    int64_t now = c->now;

    /* Started ones that ended (or no longer exist): record the end, run
     * on_end. One that exists and has not ended waits, whatever the clock
     * did meanwhile. (A cache not refreshed yet in this cycle still holds
     * the event's occurrences over its span; an edited one is not used.) */
    for (size_t i = 0; c->first && i < d->nfired;) {
        sch_fired_t *f = &d->fired[i];
        if (f->start_at == 0 || f->end_at != 0) {
            i++;
            continue;
        }
        sch_event_t *ev = sch__event(d, f->event_id);
        if (ev == NULL) { /* cannot happen: a delete takes its records */
            sch__row_fired_delete(c->ap, f->event_id, f->occ);
            sch__fired_remove(d, i);
            c->changes++;
            continue;
        }
        int64_t found[2] = {f->occ, 0};
        if (ev->c_ok == 1 && f->occ >= ev->c_from && f->occ < ev->c_to) {
            /* the cache is complete there: a binary search says */
            if (ev->nocc > 0 && bsearch(&f->occ, ev->occ, ev->nocc, sizeof(int64_t), cmp_i64))
                found[1] = f->occ + (ev->end - ev->start);
        } else {
            sch_series_t s = sch__series(ev);
            char err[128];
            if (sch_expand(&s, f->occ, f->occ + 1, 4, emit_find, found, err, sizeof(err)) < 0) {
                i++; /* cannot tell: it waits */
                continue;
            }
        }
        if (found[1] != 0 && found[1] > now) {
            i++;
            continue;
        }
        f->end_at = now;
        sch__row_fired(c->ap, ev->id, f->occ, 1, now);
        sch__hook_queue(d, seq, ev, f->occ, 1);
        c->changes++;
        i++;
    }
    /* Active occurrences of the slice's groups: record the start (once),
     * run on_start. */
    for (size_t j = 0; j < c->npend; j++) {
        const sch_group_t *g = c->pend[j].g;
        for (size_t i = 0; i < g->ncov; i++) {
            sch_event_t *ev = g->cov[i].ev;
            if (ev->on_start == NULL && ev->on_end == NULL)
                continue;
            sch_fired_t *f = sch__fired(d, ev->id, g->cov[i].s, 1);
            if (f->start_at != 0)
                continue;
            f->start_at = now;
            sch__row_fired(c->ap, ev->id, g->cov[i].s, 0, now);
            sch__hook_queue(d, seq, ev, g->cov[i].s, 0);
            c->changes++;
        }
    }
    /* Prune what ended longer than a window ago. */
    int64_t cutoff = now - (int64_t)d->cfg.window_days * SCH_DAY_MS;
    for (size_t i = 0; c->first && i < d->nfired;) {
        sch_fired_t *f = &d->fired[i];
        if (f->end_at == 0 || f->end_at >= cutoff || f->end_at > now) {
            i++;
            continue;
        }
        sch__row_fired_delete(c->ap, f->event_id, f->occ);
        sch__fired_remove(d, i);
        c->changes++;
    }
}

/* ---- 3. power intents -------------------------------------------------------------------- */

static void power(cycle_t *c)
{
    char path[64];

    for (size_t i = 0; i < c->npend; i++) {
        pend_t *pe = &c->pend[i];
        sch_group_t *g = pe->g;
        if (pe->kind == SCH_PUB_NONE)
            continue;
        g->edited = 0;
        if (g->has_intent)
            sch_intent_free(&g->intent);
        g->intent = pe->next;
        memset(&pe->next, 0, sizeof(pe->next));
        g->has_intent = 1;
        hub_jbuf_t *b = hub_apply_scratch(c->ap);
        sch_intent_render(b, &g->intent);
        sch__row_power(c->ap, g->id, b->p, b->len);
        sch_power_native_t nat = {g->id, pe->kind, g->intent.issued_at, g->intent.expires_at};
        snprintf(path, sizeof(path), "schedules.power.%" PRId64, g->id);
        hub_apply_change(c->ap, path, b->p, b->len, &nat, sizeof(nat));
        c->changes++;
    }
}

/* ---- the intents ------------------------------------------------------------------------- */

static void pend_free(cycle_t *c)
{
    for (size_t i = 0; i < c->npend; i++) {
        hub_free(c->pend[i].list);
        sch_intent_free(&c->pend[i].next);
    }
    hub_free(c->pend);
}

/* One slice of a cycle. A cycle starts with a poll without cursor (the
 * timer's, an edit's); while groups are left, the slice's announcement
 * submits the next ({now, cursor[, refresh]}: the same now), so other
 * intents and the network run between slices. A slice ends once it has
 * SCH_SLICE_UNITS groups to change (or publish, on a refresh) or SCH_SLICE_US of
 * work with at least one; one with nothing to change always takes every
 * group left, so a cycle that changes nothing is one refused slice and
 * spends no seq. */
int sch__apply_poll(void *ctx, hub_apply_t *ap, const json_t *p)
{
    static const char *const keys[] = {"now", "refresh", "cursor", NULL};
    hub_schdom_t *d = ctx;
    const json_t *jnow = json_object_get(p, "now"), *jcur = json_object_get(p, "cursor");
    int refresh = json_is_true(json_object_get(p, "refresh"));
    uint64_t t0 = hub_mono_us();
    cycle_t c = {.d = d, .ap = ap, .now = (int64_t)hub_apply_ts_ms(ap)};

    if (sch__own_only(ap) != 0 || hub_apply_check_keys(ap, p, keys) != 0)
        return HUB_EINVAL;
    if (jnow != NULL) {
        if (!json_is_integer(jnow) || json_integer_value(jnow) < 0)
            return hub_apply_fail(ap, HUB_ERR_INVALID, "now", "now must be epoch ms");
        c.now = json_integer_value(jnow);
    }
    if (jcur != NULL && !json_is_integer(jcur))
        return hub_apply_fail(ap, HUB_ERR_INVALID, "cursor", "cursor must be a group id");
    if (jcur != NULL && (!d->cyc.active || json_integer_value(jcur) != d->cyc.cursor ||
                         c.now != d->cyc.now || refresh != d->cyc.refresh))
        return hub_apply_fail(ap, HUB_ERR_CONFLICT, "cursor", "a slice of a cycle that is over");
    if (jcur == NULL) {
        memset(&d->cyc, 0, sizeof(d->cyc));
        d->cyc.active = 1;
        d->cyc.now = c.now;
        d->cyc.refresh = refresh;
        d->cyc.cursor = INT64_MIN;
        c.first = 1;
    }

    if (c.first && d->cfg.groups != NULL)
        d->cfg.groups(d->cfg.groups_ctx, add_fleet_group, d);
    size_t lo = 0, hi = d->ngroups;
    while (lo < hi) { /* the first group >= cursor */
        size_t mid = lo + (hi - lo) / 2;
        if (d->groups[mid]->id < d->cyc.cursor)
            lo = mid + 1;
        else
            hi = mid;
    }
    size_t gi = slice_take(&c, lo, refresh, t0);

    active_lists(&c);
    hooks(&c);
    power(&c);

    int work = c.changes > 0;
    for (size_t i = 0; i < c.npend && !work; i++)
        work = refresh && c.pend[i].g->id != SCH_HUB &&
               (c.pend[i].g->nev > 0 || c.pend[i].g->pub_active != NULL);
    if (work)
        for (size_t i = 0; i < c.npend; i++)
            c.pend[i].g->slice_seq = hub_apply_seq(ap); /* announce: refresh these */
    pend_free(&c);

    uint64_t us = hub_mono_us() - t0;
    hub_metric_observe(d->m_slice, (double)us / 1e6);
    d->cyc.apply_us += us;
    d->cyc.slices++;
    d->cyc.applied += work;
    if (gi < d->ngroups) { /* work is set: the announcement submits the next */
        d->cyc.cursor = d->groups[gi]->id;
        d->cyc.seq = hub_apply_seq(ap);
    } else {
        d->cyc.active = 0;
        hub_metric_observe(d->m_cycle, (double)d->cyc.apply_us / 1e6);
        if (d->cyc.applied > 0)
            d->started_cycle = 1;
    }
    /* A refresh with no group to publish changes nothing either: an idle hub
     * spends no seq on it (start-up included). */
    if (!work)
        return hub_apply_fail(ap, HUB_ERR_CONFLICT, "", "nothing changed");
    return 0;
}

int sch__apply_republish(void *ctx, hub_apply_t *ap, const json_t *p)
{
    hub_schdom_t *d = ctx;
    int64_t now = (int64_t)hub_apply_ts_ms(ap);
    size_t n = 0;

    (void)p;
    if (sch__own_only(ap) != 0)
        return HUB_EINVAL;
    for (size_t i = 0; i < d->ngroups; i++)
        n += d->groups[i]->pub_body != NULL && now < d->groups[i]->pub_expires;
    if (!d->cfg.power_publish || n == 0)
        return hub_apply_fail(ap, HUB_ERR_CONFLICT, "",
                              "no power intent to republish (none cached, all expired, or "
                              "POWER_INTENT_PUBLISH_ENABLED is false)");
    return 0;
}
