/* domains/show/transport.c - the transport intents: play, pause, stop,
 * jump, and the end of a show (rules in docs/shows.md#playback). */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "core/clock.h"
#include "core/err.h"
#include "core/mem.h"
#include "domains/show/show_int.h"

static int parse_rate(hub_apply_t *ap, const json_t *v, int *rate_pm)
{
    if (v == NULL)
        return 0;
    double r = json_number_value(v);
    if (!json_is_number(v) || isnan(r) || r < 0.25 || r > 4.0)
        return hub_apply_fail(ap, HUB_ERR_INVALID, "rate",
                              "rate must be a number from 0.25 to 4 (1: normal speed)");
    *rate_pm = (int)lround(r * HUB_RATE_ONE);
    return 0;
}

int show__apply_play(void *ctx, hub_apply_t *ap, const json_t *p)
{
    static const char *const keys[] = {"rate", NULL};
    hub_showdom_t *d = ctx;
    int rate = d->tr.rate_pm;

    if (hub_apply_check_keys(ap, p, keys) != 0 || show__need_loaded(d, ap) != 0 ||
        parse_rate(ap, json_object_get(p, "rate"), &rate) != 0)
        return HUB_EINVAL;
    if (d->tr.state == HUB_TRANSPORT_PLAYING && rate == d->tr.rate_pm)
        return 0; /* already playing: nothing moves */
    int64_t t = show__position_us(d);
    if (d->tr.state != HUB_TRANSPORT_PLAYING && t >= show__duration_us(d))
        t = 0; /* play at the end starts the show again */
    show__set_transport(d, ap, HUB_TRANSPORT_PLAYING, t, rate);
    return 0;
}

int show__apply_pause(void *ctx, hub_apply_t *ap, const json_t *p)
{
    static const char *const keys[] = {NULL};
    hub_showdom_t *d = ctx;

    if (hub_apply_check_keys(ap, p, keys) != 0 || show__need_loaded(d, ap) != 0)
        return HUB_EINVAL;
    if (d->tr.state != HUB_TRANSPORT_PLAYING) {
        /* The shutdown's own pause has nothing to do: no seq for it. */
        if (strcmp(hub_apply_intent(ap)->src, "shutdown") == 0)
            return hub_apply_fail(ap, HUB_ERR_CONFLICT, "", "not playing");
        return 0;
    }
    show__set_transport(d, ap, HUB_TRANSPORT_PAUSED, show__position_us(d), d->tr.rate_pm);
    return 0;
}

int show__apply_stop(void *ctx, hub_apply_t *ap, const json_t *p)
{
    static const char *const keys[] = {NULL};
    hub_showdom_t *d = ctx;

    if (hub_apply_check_keys(ap, p, keys) != 0 || show__need_loaded(d, ap) != 0)
        return HUB_EINVAL;
    if (d->tr.state == HUB_TRANSPORT_STOPPED && d->tr.t_us == 0)
        return 0;
    show__set_transport(d, ap, HUB_TRANSPORT_STOPPED, 0, d->tr.rate_pm);
    return 0;
}

int show__apply_jump(void *ctx, hub_apply_t *ap, const json_t *p)
{
    static const char *const keys[] = {"t_ms", NULL};
    hub_showdom_t *d = ctx;
    const json_t *v = json_object_get(p, "t_ms");

    if (hub_apply_check_keys(ap, p, keys) != 0 || show__need_loaded(d, ap) != 0)
        return HUB_EINVAL;
    double t = json_number_value(v);
    if (!json_is_number(v) || isnan(t) || t != floor(t) || t < 0 || t > (double)d->show.duration_ms)
        return hub_apply_fail(ap, HUB_ERR_INVALID, "t_ms",
                              "t_ms must be a whole number of milliseconds from 0 to %lld (the "
                              "show's duration_ms)",
                              (long long)d->show.duration_ms);
    int state = d->tr.state == HUB_TRANSPORT_PLAYING ? HUB_TRANSPORT_PLAYING : HUB_TRANSPORT_PAUSED;
    show__set_transport(d, ap, state, (int64_t)t * 1000, d->tr.rate_pm);
    return 0;
}

/* The timer's: a playing show reached its end and holds its last look. */
int show__apply_end(void *ctx, hub_apply_t *ap, const json_t *p)
{
    hub_showdom_t *d = ctx;
    (void)p;
    if (!d->loaded || d->tr.state != HUB_TRANSPORT_PLAYING)
        return hub_apply_fail(ap, HUB_ERR_CONFLICT, "", "the show is not playing");
    int64_t dur = show__duration_us(d);
    if (hub_transport_time_at(&d->tr, hub_mono_us(), dur) < dur)
        return hub_apply_fail(ap, HUB_ERR_CONFLICT, "", "the show has not reached its end");
    show__set_transport(d, ap, HUB_TRANSPORT_PAUSED, dur, d->tr.rate_pm);
    return 0;
}
