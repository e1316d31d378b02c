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
 * [now - lookback, now + EVENTS_WINDOW_DAYS)), so a cycle over 50,000
 * events is a binary search each.
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

/* ---- the cycle's working set ------------------------------------------------------------ */

typedef struct cover {
    sch_event_t *ev;
    int64_t s, e;
} cover_t;

typedef struct cycle {
    hub_schdom_t *d;
    hub_apply_t *ap;
    int64_t now;
    sch_event_t **by_group; /* events, by (group, id) */
    cover_t *cov;           /* occurrences covering now, by (group, start, id) */
    size_t ncov, capcov;
    int changes;
} cycle_t;

static int by_group(const void *a, const void *b)
{
    const sch_event_t *x = *(sch_event_t *const *)a, *y = *(sch_event_t *const *)b;
    if (x->group != y->group)
        return x->group < y->group ? -1 : 1;
    return x->id < y->id ? -1 : x->id > y->id;
}

static int by_cover(const void *a, const void *b)
{
    const cover_t *x = a, *y = b;
    if (x->ev->group != y->ev->group)
        return x->ev->group < y->ev->group ? -1 : 1;
    if (x->s != y->s)
        return x->s < y->s ? -1 : 1;
    return x->ev->id < y->ev->id ? -1 : x->ev->id > y->ev->id;
}

static void cover_add(cycle_t *c, sch_event_t *ev, int64_t s)
{
    if (c->ncov == c->capcov) {
        c->capcov = c->capcov ? c->capcov * 2 : 64;
        c->cov = hub_realloc(c->cov, c->capcov * sizeof(*c->cov));
    }
    c->cov[c->ncov++] = (cover_t){ev, s, s + (ev->end - ev->start)};
}

/* Occurrences of ev covering now: starts in (now - duration, now]. */
static void covering(cycle_t *c, sch_event_t *ev)
{
    int64_t dur = ev->end - ev->start;
    size_t lo = 0, hi = ev->nocc;
    while (lo < hi) { /* the first start > now */
        size_t mid = lo + (hi - lo) / 2;
        if (ev->occ[mid] <= c->now)
            lo = mid + 1;
        else
            hi = mid;
    }
    size_t first = lo;
    while (first > 0 && lo - first < HOOKS_OCC_MAX && ev->occ[first - 1] + dur > c->now)
        first--;
    for (size_t i = first; i < lo; i++)
        cover_add(c, ev, ev->occ[i]);
}

/* The longest duration of each group's events (capped at the window): the
 * lookback of its events' caches, so a window chained to an occurrence
 * that ended is seen whole. by_group is sorted. */
static int64_t group_lookback(cycle_t *c, size_t i0, size_t i1)
{
    int64_t w = (int64_t)c->d->cfg.window_days * SCH_DAY_MS, l = 0;
    for (size_t i = i0; i < i1; i++)
        if (c->by_group[i]->end - c->by_group[i]->start > l)
            l = c->by_group[i]->end - c->by_group[i]->start;
    return l < w ? l : w;
}

/* ---- 1. active lists ---------------------------------------------------------------------- */

static void active_lists(cycle_t *c)
{
    hub_schdom_t *d = c->d;
    hub_jbuf_t b;
    char path[64];
    size_t k = 0;

    for (size_t i = 0; i < c->ncov; i++)
        sch__group(d, c->cov[i].ev->group, 1);
    hub_jbuf_init(&b);
    for (size_t gi = 0; gi < d->ngroups; gi++) {
        sch_group_t *g = d->groups[gi];
        while (k < c->ncov && c->cov[k].ev->group < g->id)
            k++;
        hub_jbuf_reset(&b);
        size_t n = 0;
        for (; k < c->ncov && c->cov[k].ev->group == g->id; k++, n++) {
            if (n == 0)
                hub_jbuf_open(&b, '[');
            sch__render_active(&b, c->cov[k].ev, c->cov[k].s, c->cov[k].e);
        }
        if (n > 0)
            hub_jbuf_close(&b, ']');
        const char *now = n > 0 ? b.p : NULL;
        if ((now == NULL && g->active == NULL) ||
            (now != NULL && g->active != NULL && strcmp(now, g->active) == 0))
            continue;
        hub_free(g->active);
        g->active = now ? hub_strndup(b.p, b.len) : NULL;
        sch__active_path(path, sizeof(path), g->id);
        hub_apply_change(c->ap, path, now ? b.p : "null", now ? b.len : 4, NULL, 0);
        sch__row_active(c->ap, g->id, g->active);
        c->changes++;
    }
    hub_jbuf_free(&b);
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
     * did meanwhile. */
    for (size_t i = 0; i < d->nfired;) {
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
    /* Active occurrences: record the start (once), run on_start. */
    for (size_t i = 0; i < c->ncov; i++) {
        sch_event_t *ev = c->cov[i].ev;
        if (ev->on_start == NULL && ev->on_end == NULL)
            continue;
        sch_fired_t *f = sch__fired(d, ev->id, c->cov[i].s, 1);
        if (f->start_at != 0)
            continue;
        f->start_at = now;
        sch__row_fired(c->ap, ev->id, c->cov[i].s, 0, now);
        sch__hook_queue(d, seq, ev, c->cov[i].s, 0);
        c->changes++;
    }
    /* Prune what ended longer than a window ago. */
    int64_t cutoff = now - (int64_t)d->cfg.window_days * SCH_DAY_MS;
    for (size_t i = 0; i < d->nfired;) {
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

static void add_fleet_group(void *ud, int64_t gid)
{
    if (gid >= 0 && gid <= SCH_GROUP_MAX)
        sch__group(ud, gid, 1);
}

typedef struct occs {
    sch_occ_t *v;
    size_t n, cap;
} occs_t;

static void basis_of(cycle_t *c, size_t i0, size_t i1, int on, sch_basis_t *b, occs_t *o)
{
    o->n = 0;
    if (!on) {
        sch_power_basis(NULL, 0, c->now, b);
        return;
    }
    for (size_t i = i0; i < i1; i++) {
        sch_event_t *ev = c->by_group[i];
        int64_t dur = ev->end - ev->start;
        for (size_t k = 0; k < ev->nocc; k++) {
            if (o->n == o->cap) {
                o->cap = o->cap ? o->cap * 2 : 64;
                o->v = hub_realloc(o->v, o->cap * sizeof(*o->v));
            }
            o->v[o->n++] = (sch_occ_t){ev->occ[k], ev->occ[k] + dur, ev->id};
        }
    }
    sch_power_basis(o->v, o->n, c->now, b);
}

static void power(cycle_t *c)
{
    hub_schdom_t *d = c->d;
    sch_power_cfg_t pc = {.poll_s = d->cfg.poll_s,
                          .multiplier = d->cfg.power_multiplier,
                          .min_expiry_s = d->cfg.power_min_expiry_s,
                          .heartbeat = d->cfg.power_heartbeat && d->cfg.power_publish};
    occs_t o = {0};
    size_t ei = 0, ci = 0;
    char path[64];

    if (d->cfg.groups != NULL)
        d->cfg.groups(d->cfg.groups_ctx, add_fleet_group, d);
    for (size_t gi = 0; gi < d->ngroups; gi++) {
        sch_group_t *g = d->groups[gi];
        while (ei < d->nev && c->by_group[ei]->group < g->id)
            ei++;
        size_t e0 = ei;
        while (ei < d->nev && c->by_group[ei]->group == g->id)
            ei++;
        while (ci < c->ncov && c->cov[ci].ev->group < g->id)
            ci++;
        int on = ci < c->ncov && c->cov[ci].ev->group == g->id;
        if (g->id == SCH_HUB)
            continue;
        sch_basis_t basis;
        sch_intent_t next;
        basis_of(c, e0, ei, on, &basis, &o);
        int kind = sch_power_next(g->has_intent ? &g->intent : NULL, &basis, g->id, c->now,
                                  g->edited, &pc, sch__new_intent_id, d, &next);
        sch_basis_free(&basis);
        if (kind == SCH_PUB_NONE) {
            sch_intent_free(&next);
            continue;
        }
        g->edited = 0;
        if (g->has_intent)
            sch_intent_free(&g->intent);
        g->intent = next;
        g->has_intent = 1;
        hub_jbuf_t *b = hub_apply_scratch(c->ap);
        sch_intent_render(b, &g->intent);
        sch__row_power(c->ap, g->id, b->p, b->len);
        sch_power_native_t nat = {g->id, kind, g->intent.issued_at, g->intent.expires_at};
        snprintf(path, sizeof(path), "schedules.power.%" PRId64, g->id);
        hub_apply_change(c->ap, path, b->p, b->len, &nat, sizeof(nat));
        c->changes++;
    }
    hub_free(o.v);
}

/* ---- the intents ------------------------------------------------------------------------- */

/* Whether a refresh would publish anything: a group's list (not the hub's). */
static int refresh_work(const hub_schdom_t *d)
{
    for (size_t i = 0; i < d->nev; i++)
        if (d->ev[i]->group != SCH_HUB)
            return 1;
    for (size_t i = 0; i < d->ngroups; i++)
        if (d->groups[i]->pub_active != NULL && d->groups[i]->id != SCH_HUB)
            return 1;
    return 0;
}

int sch__apply_poll(void *ctx, hub_apply_t *ap, const json_t *p)
{
    static const char *const keys[] = {"now", "refresh", NULL};
    hub_schdom_t *d = ctx;
    const json_t *jnow = json_object_get(p, "now");
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

    c.by_group = hub_malloc((d->nev ? d->nev : 1) * sizeof(*c.by_group));
    if (d->nev > 0) {
        memcpy(c.by_group, d->ev, d->nev * sizeof(*c.by_group));
        qsort(c.by_group, d->nev, sizeof(*c.by_group), by_group);
    }
    for (size_t i0 = 0, i1; i0 < d->nev; i0 = i1) {
        for (i1 = i0; i1 < d->nev && c.by_group[i1]->group == c.by_group[i0]->group; i1++)
            ;
        int64_t lookback = group_lookback(&c, i0, i1);
        sch__group(d, c.by_group[i0]->group, 1);
        for (size_t i = i0; i < i1; i++) {
            cache_ensure(d, c.by_group[i], c.now, lookback);
            covering(&c, c.by_group[i]);
        }
    }
    if (c.ncov > 1)
        qsort(c.cov, c.ncov, sizeof(*c.cov), by_cover);

    active_lists(&c);
    hooks(&c);
    power(&c);

    hub_free(c.by_group);
    hub_free(c.cov);
    hub_metric_observe(d->m_cycle, (double)(hub_mono_us() - t0) / 1e6);
    /* A refresh with no group to publish changes nothing either: an idle hub
     * spends no seq on it (start-up included). */
    if (c.changes == 0 && (!refresh || !refresh_work(d)))
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
