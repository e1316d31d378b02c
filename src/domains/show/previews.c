/* domains/show/previews.c - preview effects: the top layer, never written
 * to a show file, ended by fixture.preview_stop or their own timer. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "core/clock.h"
#include "core/err.h"
#include "core/mem.h"
#include "domains/show/show_int.h"

/* ---- preview effects
 * ------------------------------------------------------------------------------ */

int show__apply_preview(void *ctx, hub_apply_t *ap, const json_t *p)
{
    static const char *const keys[] = {"fixtures", "effect", "params", "dur_ms", NULL};
    hub_showdom_t *d = ctx;
    const json_t *dur = json_object_get(p, "dur_ms");
    double ms = dur ? json_number_value(dur) : SHOW__PREVIEW_DEFAULT_MS;
    hub_show_effect_t e;

    if (hub_apply_check_keys(ap, p, keys) != 0)
        return HUB_EINVAL;
    if ((dur != NULL && !json_is_number(dur)) || isnan(ms) || ms != floor(ms) || ms < 1 ||
        ms > SHOW__PREVIEW_MAX_MS)
        return hub_apply_fail(ap, HUB_ERR_INVALID, "dur_ms",
                              "dur_ms must be a whole number of milliseconds from 1 to %d",
                              SHOW__PREVIEW_MAX_MS);
    if (d->npv >= SHOW__MAX_PREVIEWS)
        return hub_apply_fail(ap, HUB_ERR_CONFLICT, "",
                              "%d previews are running: stop some with fixture.preview_stop",
                              SHOW__MAX_PREVIEWS);
    /* The preview is an effect of its own: id, t_ms 0, its duration. */
    json_t *o = json_deep_copy(p);
    char id[24];
    snprintf(id, sizeof(id), "p%llu", (unsigned long long)hub_apply_seq(ap));
    json_object_set_new(o, "id", json_string(id));
    json_object_set_new(o, "t_ms", json_integer(0));
    json_object_set_new(o, "dur_ms", json_integer((json_int_t)ms));
    int rc = show__parse_effect(d, ap, o, "", NULL, (int64_t)ms, &e);
    json_decref(o);
    if (rc != 0)
        return HUB_EINVAL;
    d->pv = hub_realloc(d->pv, (d->npv + 1) * sizeof(*d->pv));
    show__preview_t *pv = &d->pv[d->npv++];
    memset(pv, 0, sizeof(*pv));
    snprintf(pv->id, sizeof(pv->id), "%s", id);
    pv->fx = e;
    pv->started_at = hub_apply_ts_ms(ap);
    pv->until = pv->started_at + (uint64_t)ms;
    pv->start_mono_us = hub_mono_us();
    show__emit_previews(d, ap);
    return 0;
}

static int touches(const show__preview_t *pv, const json_t *fixtures)
{
    size_t i;
    json_t *v;
    if (fixtures == NULL)
        return 1;
    json_array_foreach(fixtures, i, v) for (size_t k = 0; k < pv->fx.nfixtures;
                                            k++) if (json_is_string(v) &&
                                                     strcmp(json_string_value(v),
                                                            pv->fx.fixtures[k]) == 0) return 1;
    return 0;
}

static void drop_previews(hub_showdom_t *d, const json_t *fixtures, uint64_t expired_by)
{
    size_t keep = 0;
    for (size_t i = 0; i < d->npv; i++) {
        show__preview_t *pv = &d->pv[i];
        int drop = expired_by ? pv->start_mono_us + (uint64_t)pv->fx.dur_ms * 1000 <= expired_by
                              : touches(pv, fixtures);
        if (drop)
            hub_show_effect_free(&pv->fx);
        else
            d->pv[keep++] = *pv;
    }
    d->npv = keep;
}

int show__apply_preview_stop(void *ctx, hub_apply_t *ap, const json_t *p)
{
    static const char *const keys[] = {"fixtures", NULL};
    hub_showdom_t *d = ctx;
    const json_t *fx = json_object_get(p, "fixtures");
    size_t i;
    json_t *v;

    if (hub_apply_check_keys(ap, p, keys) != 0)
        return HUB_EINVAL;
    if (fx != NULL && !json_is_array(fx))
        return hub_apply_fail(ap, HUB_ERR_INVALID, "fixtures",
                              "fixtures must be a list of fixture names (absent: all previews)");
    json_array_foreach(fx, i, v) if (!json_is_string(v)) return hub_apply_fail(
        ap, HUB_ERR_INVALID, "fixtures", "fixtures must be a list of fixture names");
    size_t before = d->npv;
    drop_previews(d, fx, 0);
    if (d->npv != before)
        show__emit_previews(d, ap);
    return 0;
}

int show__apply_preview_expire(void *ctx, hub_apply_t *ap, const json_t *p)
{
    hub_showdom_t *d = ctx;
    size_t before = d->npv;
    (void)p;
    drop_previews(d, NULL, hub_mono_us() + 1000); /* within the timer's millisecond */
    if (d->npv == before)
        return hub_apply_fail(ap, HUB_ERR_CONFLICT, "", "no preview has ended");
    show__emit_previews(d, ap);
    return 0;
}
